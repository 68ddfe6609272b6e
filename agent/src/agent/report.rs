//! The report: every running bot's control endpoint scraped (status, metrics, interval
//! histograms), pause and resume applied, new log lines, and the node's report built from them.

use serde_json::Value;
use sniperforge_protocol::BotId;
use sniperforge_protocol::control::{HdrBody, REPORT_STAGES, StatusSummary};
use sniperforge_protocol::fleet::{BotReport, NodeBotStatus, REPORT_OBJECT_MAX, Report};

use super::*;

impl Agent {
    /// Scrapes every bot's control endpoint, applies pause/resume, and builds the report.
    pub async fn report(&mut self) -> Report {
        let mut scrapes = tokio::task::JoinSet::new();
        // Only running bots are asked: the secret never goes to a port whose bot is down (a
        // local process could hold it meanwhile).
        let mut running = std::collections::HashSet::new();
        for id in self.managed.keys() {
            if matches!(
                self.backend.instance(id).await,
                Some(Instance {
                    state: UnitState::Running,
                    ..
                })
            ) {
                running.insert(id.clone());
            }
        }
        for (id, m) in &self.managed {
            if !running.contains(id) {
                continue;
            }
            let id = id.clone();
            let port = m.record.spec.control_port;
            let secret = m.record.spec.control_token().map(str::to_string);
            scrapes.spawn(async move {
                let ep = Endpoint::loopback(port);
                let secret = secret.as_deref();
                let status = ep
                    .request("GET", "/status", secret, None, SCRAPE_DEADLINE)
                    .await;
                let hdr = ep
                    .request("GET", "/hdr", secret, None, SCRAPE_DEADLINE)
                    .await;
                fn ok<T: serde::de::DeserializeOwned>(
                    r: Result<crate::http::Response, crate::http::HttpError>,
                ) -> Result<T, String> {
                    match r {
                        Ok(r) if r.status == 200 => r.json_as(),
                        Ok(r) => Err(format!("HTTP {}: {}", r.status, r.error_message())),
                        Err(e) => Err(e.to_string()),
                    }
                }
                (id, ok::<StatusSummary>(status), ok::<HdrBody>(hdr).ok())
            });
        }
        let mut scraped = HashMap::new();
        while let Some(Ok((id, status, hdr))) = scrapes.join_next().await {
            scraped.insert(id, (status, hdr));
        }
        let mut bots = Vec::new();
        let ids: Vec<String> = self.managed.keys().cloned().collect();
        for id in ids {
            let instance = self.backend.instance(&id).await;
            let Some(m) = self.managed.get_mut(&id) else {
                continue;
            };
            let (status_json, hdr) = scraped
                .remove(&id)
                .unwrap_or((Err("not scraped".into()), None));
            let mut status: NodeBotStatus;
            let mut metrics = Value::Null;
            let mut scraped_pid = None;
            match (&instance, status_json) {
                (
                    Some(Instance {
                        state: UnitState::Running,
                        ..
                    }),
                    Ok(s),
                ) => {
                    status = NodeBotStatus::state(
                        s.status.state.as_deref().unwrap_or_default(),
                        s.status.reason,
                    );
                    // What the bot publishes (a dashboard's market view) travels in its status.
                    status.outputs = Some(s.outputs).filter(|o| !o.is_null());
                    scraped_pid = s.pid;
                    if s.uptime_seconds >= HEALTHY_AFTER_S {
                        m.failures = 0;
                    }
                    metrics = s.metrics;
                    let state = status.state.clone().unwrap_or_default();
                    let want = m.record.desired_state.as_str();
                    let action = match (want, state.as_str()) {
                        ("paused", "running") => Some("/pause"),
                        ("running", "paused") => Some("/resume"),
                        _ => None,
                    };
                    if let Some(path) = action {
                        let ep = Endpoint::loopback(m.record.spec.control_port);
                        let secret = m.record.spec.control_token();
                        match ep
                            .request("POST", path, secret, None, SCRAPE_DEADLINE)
                            .await
                        {
                            Ok(r) if r.status == 200 => {
                                tracing::info!(bot_id = %id, action = path, "applied")
                            }
                            Ok(r) => {
                                tracing::error!(bot_id = %id, action = path, status = r.status, error = %r.error_message(), "refused")
                            }
                            Err(e) => {
                                tracing::error!(bot_id = %id, action = path, error = %e, "failed")
                            }
                        }
                    }
                }
                (
                    Some(Instance {
                        state: UnitState::Running,
                        ..
                    }),
                    Err(e),
                ) => {
                    status =
                        NodeBotStatus::state("starting", Some(format!("control endpoint: {e}")));
                }
                (
                    Some(Instance {
                        state:
                            UnitState::Restarting {
                                last_exit,
                                failures,
                                delay_ms,
                            },
                        ..
                    }),
                    _,
                ) => {
                    status = NodeBotStatus::state(
                        "error",
                        Some(format!(
                            "{last_exit}; restart in {delay_ms} ms ({failures} consecutive failure{})",
                            if *failures == 1 { "" } else { "s" }
                        )),
                    );
                }
                (
                    Some(Instance {
                        state: UnitState::Exited { last_exit },
                        ..
                    }),
                    _,
                ) => {
                    let wait = m.retry_at.map_or(0, |at| {
                        at.saturating_duration_since(std::time::Instant::now())
                            .as_millis() as u64
                    });
                    status = NodeBotStatus::state(
                        "error",
                        Some(format!(
                            "{last_exit}; started again in {wait} ms ({} time{} in a row)",
                            m.failures,
                            if m.failures == 1 { "" } else { "s" }
                        )),
                    );
                }
                (
                    Some(Instance {
                        state: UnitState::Stopped,
                        ..
                    }),
                    _,
                ) => {
                    status = NodeBotStatus::state("stopped", None);
                }
                (None, _) => {
                    status = NodeBotStatus::state("stopped", Some("not started".into()));
                }
            }
            if let Some(why) = self.problems.get(&id) {
                status = NodeBotStatus::state("error", Some(why.clone()));
            }
            status.backend = Some(self.backend.name().to_string());
            status.config_version = Some(m.record.config_version);
            status.control_port = Some(m.record.spec.control_port);
            if let Some(i) = &instance {
                status.pid = i.pid.or(scraped_pid);
                status.restarts = Some(i.restarts);
            }
            // Ids come from the gateway's desired state and name files here: one that is not
            // a bot id was never launched, and is not reported.
            let Ok(bot_id) = BotId::new(id) else {
                continue;
            };
            let mut report = BotReport {
                bot_id,
                status,
                metrics,
                hdr: hdr.map(|h| h.stages).unwrap_or_default(),
                logs: m.log.read(),
            };
            within_limits(&mut report);
            bots.push(report);
        }
        let backend = || Some(self.backend.name().to_string());
        for id in self.stopped.drain(..) {
            let status = NodeBotStatus {
                backend: backend(),
                ..NodeBotStatus::state("stopped", None)
            };
            if let Ok(id) = BotId::new(id) {
                bots.push(BotReport::of(id, status));
            }
        }
        // Wanted bots that could not even be launched.
        for (id, why) in &self.problems {
            if let (false, Ok(id)) = (self.managed.contains_key(id), BotId::new(id.clone())) {
                let status = NodeBotStatus {
                    backend: backend(),
                    ..NodeBotStatus::state("error", Some(cut(why.clone(), REASON_MAX)))
                };
                bots.push(BotReport::of(id, status));
            }
        }
        Report {
            node_id: self.opts.node.node_id.clone(),
            bots,
        }
    }
}

/// Longest reason a report carries, bytes (a bot's own reason, or what was wrong with its
/// answer: never the whole of what a hostile process on its port wrote).
const REASON_MAX: usize = 1_024;

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn json_len<T: serde::Serialize>(v: &T) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

/// Keeps one bot's entry within what the gateway takes, so one bot (or whatever answers on
/// its port) can never get the node's whole report refused: a long reason is cut, counters
/// or published outputs past the limit are left out and the status says so, and only the
/// known latency stages travel.
fn within_limits(b: &mut BotReport) {
    b.status.reason = b.status.reason.take().map(|r| cut(r, REASON_MAX));
    if !(b.metrics.is_object() || b.metrics.is_null()) || json_len(&b.metrics) > REPORT_OBJECT_MAX {
        b.metrics = Value::Null;
        b.status.reason = Some(format!(
            "counters left out: not an object of at most {REPORT_OBJECT_MAX} bytes"
        ));
    }
    if json_len(&b.status) > REPORT_OBJECT_MAX {
        b.status.outputs = None;
        b.status.reason = Some(format!(
            "published outputs left out: the status passed {REPORT_OBJECT_MAX} bytes"
        ));
    }
    b.hdr.retain(|stage, snapshot| {
        REPORT_STAGES.contains(&stage.as_str()) && snapshot.len() <= REPORT_OBJECT_MAX
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_bot_cannot_push_the_report_past_the_gateway_limits() {
        let mut status = NodeBotStatus::state("starting", Some("é".repeat(100_000)));
        status.outputs = Some(json!({"view": "x".repeat(REPORT_OBJECT_MAX)}));
        let mut b = BotReport::of(BotId::new("b1").unwrap(), status);
        b.metrics = json!({"custom_metrics": {"k": "y".repeat(REPORT_OBJECT_MAX)}});
        b.hdr.insert("decided".into(), "AAAA".into());
        b.hdr.insert("../x".into(), "AAAA".into());
        within_limits(&mut b);
        assert!(json_len(&b.status) <= REPORT_OBJECT_MAX);
        assert!(b.status.outputs.is_none());
        assert!(b.metrics.is_null());
        assert!(b.status.reason.unwrap().contains("outputs left out"));
        assert_eq!(b.hdr.keys().collect::<Vec<_>>(), vec!["decided"]);
        let long = cut("é".repeat(1_000), REASON_MAX);
        assert!(long.len() <= REASON_MAX + '…'.len_utf8() && long.ends_with('…'));
    }
}
