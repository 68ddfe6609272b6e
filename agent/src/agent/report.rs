//! The report: every running bot's control endpoint scraped (status, metrics, interval
//! histograms), pause and resume applied, new log lines, and the node's report built from them.

use serde_json::Value;
use sniperforge_protocol::BotId;
use sniperforge_protocol::control::{HdrBody, REPORT_STAGES, StatusSummary};
use sniperforge_protocol::fleet::{
    BODY_MAX, BotReport, NodeBotStatus, REPORT_DEPTH_MAX, REPORT_OBJECT_MAX, Report,
};

use super::*;

impl Agent {
    /// Scrapes every bot's control endpoint, applies pause/resume, and builds the report.
    pub async fn report(&mut self) -> Report {
        let mut scrapes = tokio::task::JoinSet::new();
        // Only running bots are asked: the secret never goes to a port whose bot is down (a
        // local process could hold it meanwhile).
        let mut running = std::collections::HashSet::new();
        for (id, m) in &self.managed {
            if matches!(
                self.backend.instance(&m.record.spec.unit_key()).await,
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
                        Ok(r) if r.status == 200 => r.json_as().map_err(|e| e.to_string()),
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
        // Fills the whole report may carry (the rest go in the next, a second later); what an
        // earlier report read and did not get through is read again.
        let mut fills_left = crate::files::FILLS_PER_NODE_REPORT;
        let mut fill_bytes_left = crate::files::FILL_BYTES_PER_NODE_REPORT;
        for m in self.managed.values_mut() {
            m.fills.reset();
        }
        for tail in self.draining.values_mut() {
            tail.reset();
        }
        let ids: Vec<String> = self.managed.keys().cloned().collect();
        for id in ids {
            let Some(key) = self.managed.get(&id).map(|m| m.record.spec.unit_key()) else {
                continue;
            };
            let instance = self.backend.instance(&key).await;
            let Some(m) = self.managed.get_mut(&id) else {
                continue;
            };
            // Another process (its supervisor started it again): loading anew, counted afresh.
            let pid = instance.as_ref().map(|i| (i.pid, i.restarts));
            if pid != m.health_pid {
                m.health_pid = pid;
                m.seen_healthy = false;
                m.unhealthy = 0;
            }
            let (status_json, hdr) = scraped
                .remove(&id)
                .unwrap_or((Err("not scraped".into()), None));
            let mut status: NodeBotStatus;
            let mut metrics = Value::Null;
            let mut scraped_pid = None;
            let mut build = None;
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
                    build = s.build.filter(sniperforge_protocol::fleet::Build::valid);
                    // Its control endpoint says it has started: past loading, a failed health
                    // check counts.
                    m.last_state = status.state.clone().unwrap_or_default();
                    if m.last_state != "starting" {
                        m.seen_healthy = true;
                    }
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
            status.build = build;
            status.handover = m.record.handover.clone();
            status.health_failures = (m.unhealthy > 0).then_some(m.unhealthy);
            if let (Some(held), None) = (m.held_version, &status.reason) {
                status.reason = Some(format!(
                    "configuration version {held} not applied: its handover was rolled back: {}",
                    m.held_reason
                ));
            }
            if m.unhealthy > 0 && status.reason.is_none() {
                status.reason = Some(format!(
                    "unhealthy ({} check{} in a row): {}",
                    m.unhealthy,
                    if m.unhealthy == 1 { "" } else { "s" },
                    m.health_reason
                ));
            }
            status.config_version = Some(m.record.config_version);
            // A restart's deployment under way reports the generation before it.
            status.restart_generation = Some(
                m.deploying
                    .as_ref()
                    .and_then(|d| d.generation)
                    .unwrap_or(m.record.restarts),
            );
            status.control_port = Some(m.record.spec.control_port).filter(|p| *p != 0);
            if let Some(i) = &instance {
                status.pid = i.pid.or(scraped_pid);
                status.restarts = Some(i.restarts);
            }
            // CPU and memory as the kernel counts them for its process, over the last
            // report's interval (the bot's own figures are since its start).
            match (status.pid, metrics.as_object_mut()) {
                (Some(pid), Some(fields)) => {
                    if let Some(usage) = measure(pid, &mut m.cpu_sample) {
                        if let Some(cpu) = usage.cpu_percent {
                            fields.insert("cpu_usage".into(), Value::from(cpu));
                        }
                        fields.insert("memory_usage".into(), Value::from(usage.rss_bytes));
                    }
                }
                _ => m.cpu_sample = None,
            }
            // Ids come from the gateway's desired state and name files here: one that is not
            // a bot id was never launched, and is not reported.
            let Ok(bot_id) = BotId::new(id) else {
                continue;
            };
            let (fills, bytes) = m.fills.read(
                fills_left.min(sniperforge_protocol::fleet::FILLS_PER_REPORT),
                fill_bytes_left,
            );
            fills_left -= fills.len();
            fill_bytes_left -= bytes;
            let mut report = BotReport {
                bot_id,
                status,
                metrics,
                hdr: hdr.map(|h| h.stages).unwrap_or_default(),
                logs: m.log.read(),
                fills,
            };
            within_limits(&mut report);
            bots.push(report);
        }
        let backend = || Some(self.backend.name().to_string());
        let stopped: Vec<String> = self.stopped.drain(..).collect();
        // A bot stopped here: reported once as stopped, and with the fills it wrote before it
        // stopped until the gateway has them all.
        let mut draining: Vec<&String> = if self.reconciled {
            self.draining.keys().collect()
        } else {
            Vec::new()
        };
        draining.extend(stopped.iter().filter(|id| !self.draining.contains_key(*id)));
        let mut reported = std::collections::HashSet::new();
        let mut stopped_reports = Vec::new();
        for id in draining {
            // Stopped and started again within one interval: it is reported as it is now.
            if self.managed.contains_key(id)
                || self.problems.contains_key(id)
                || !reported.insert(id.clone())
            {
                continue;
            }
            stopped_reports.push(id.clone());
        }
        for id in stopped_reports {
            let fills = match self.draining.get_mut(&id) {
                Some(tail) => {
                    let (f, bytes) = tail.read(
                        fills_left.min(sniperforge_protocol::fleet::FILLS_PER_REPORT),
                        fill_bytes_left,
                    );
                    fills_left -= f.len();
                    fill_bytes_left -= bytes;
                    f
                }
                None => Vec::new(),
            };
            if fills.is_empty() && !stopped.contains(&id) {
                continue;
            }
            let status = NodeBotStatus {
                backend: backend(),
                ..NodeBotStatus::state("stopped", None)
            };
            if let Ok(bot_id) = BotId::new(id) {
                let mut report = BotReport::of(bot_id, status);
                report.fills = fills;
                bots.push(report);
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
        let mut report = Report {
            node_id: self.opts.node.node_id.clone(),
            bots,
            recordings: self.recordings.due(),
        };
        within_body(&mut report);
        report
    }
}

/// The lifecycle states a report names; anything else a bot says is reported as an error.
const STATES: [&str; 6] = [
    "starting", "running", "paused", "stopping", "stopped", "error",
];

/// Whether `v` nests deeper than `max` levels (stops looking at `max`).
fn deeper_than(v: &Value, max: usize) -> bool {
    match v {
        Value::Array(a) => max == 0 || a.iter().any(|x| deeper_than(x, max - 1)),
        Value::Object(o) => max == 0 || o.values().any(|x| deeper_than(x, max - 1)),
        _ => false,
    }
}

/// The report within the gateway's body limit, with room to spare: log lines are left out, a
/// whole bot's at a time in report order, until it fits (each such bot says how many).
fn within_body(r: &mut Report) {
    let budget = BODY_MAX - BODY_MAX / 8;
    let mut size = json_len(r);
    if size <= budget {
        return;
    }
    for b in r.bots.iter_mut() {
        if size <= budget {
            break;
        }
        let before = json_len(&b.logs);
        let dropped = b.logs.len();
        b.logs.clear();
        if dropped > 0 {
            b.logs.push(format!(
                "({dropped} log lines left out: the report passed {budget} bytes)"
            ));
        }
        size = size + json_len(&b.logs) - before;
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
    if let Some(state) = b.status.state.take() {
        if STATES.contains(&state.as_str()) {
            b.status.state = Some(state);
        } else {
            b.status.state = Some("error".into());
            b.status.reason = Some(format!(
                "the control endpoint answered an unknown state {:?}",
                cut(state, 64)
            ));
        }
    }
    if deeper_than(&b.metrics, REPORT_DEPTH_MAX) {
        b.metrics = Value::Null;
    }
    if b.status
        .outputs
        .as_ref()
        .is_some_and(|o| deeper_than(o, REPORT_DEPTH_MAX))
    {
        b.status.outputs = None;
        b.status.reason = Some(format!(
            "published outputs left out: nested past {REPORT_DEPTH_MAX} levels"
        ));
    }
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
    b.status.replace_control_chars();
    // Only snapshots the gateway will take: a known stage, base64 of a V2 histogram within
    // the latency bounds (one bad snapshot would have the gateway refuse the report).
    let max = sniperforge_protocol::telemetry::latency_histogram().high();
    b.hdr.retain(|stage, snapshot| {
        use base64::Engine as _;
        REPORT_STAGES.contains(&stage.as_str())
            && snapshot.len() <= REPORT_OBJECT_MAX
            && base64::engine::general_purpose::STANDARD
                .decode(snapshot.as_bytes())
                .ok()
                .is_some_and(|bytes| sniperforge_protocol::telemetry::pairs_v2(&bytes, max).is_ok())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    #[test]
    fn states_reasons_and_nesting_are_what_the_gateway_takes() {
        let mut b = BotReport::of(
            BotId::new("b1").unwrap(),
            NodeBotStatus::state(&"s".repeat(70_000), None),
        );
        within_limits(&mut b);
        assert_eq!(b.status.state.as_deref(), Some("error"));
        assert!(json_len(&b.status) < 1_000);
        let mut b = BotReport::of(
            BotId::new("b1").unwrap(),
            NodeBotStatus::state("error", Some("rpc\u{0}dead\u{1b}[2J".into())),
        );
        let mut deep = json!(1);
        for _ in 0..100 {
            deep = json!([deep]);
        }
        b.metrics = json!({"custom_metrics": {}, "x": deep.clone()});
        b.status.outputs = Some(deep);
        within_limits(&mut b);
        assert!(
            !b.status
                .reason
                .as_deref()
                .unwrap()
                .chars()
                .any(char::is_control)
        );
        assert!(b.metrics.is_null() && b.status.outputs.is_none());
    }

    #[test]
    fn a_report_stays_under_the_body_limit_by_dropping_the_oldest_logs() {
        let noisy = |id: &str| {
            let mut b = BotReport::of(
                BotId::new(id).unwrap(),
                NodeBotStatus::state("running", None),
            );
            b.logs = vec!["\u{1}".repeat(8 * 1024); 1_000];
            b
        };
        let mut r = Report {
            node_id: sniperforge_protocol::NodeId::new("n1").unwrap(),
            bots: vec![noisy("a"), noisy("b"), noisy("c")],
            recordings: None,
        };
        within_body(&mut r);
        assert!(json_len(&r) <= BODY_MAX, "{} bytes", json_len(&r));
        assert!(r.bots[0].logs[0].contains("log lines left out"));
    }

    #[test]
    fn one_bot_cannot_push_the_report_past_the_gateway_limits() {
        let mut status = NodeBotStatus::state("starting", Some("é".repeat(100_000)));
        status.outputs = Some(json!({"view": "x".repeat(REPORT_OBJECT_MAX)}));
        let mut b = BotReport::of(BotId::new("b1").unwrap(), status);
        b.metrics = json!({"custom_metrics": {"k": "y".repeat(REPORT_OBJECT_MAX)}});
        let mut h = sniperforge_protocol::telemetry::latency_histogram();
        h.record(1_000).unwrap();
        let good = base64::engine::general_purpose::STANDARD
            .encode(sniperforge_protocol::telemetry::encode_v2(&h).unwrap());
        b.hdr.insert("decided".into(), good.clone());
        b.hdr.insert("detected".into(), "AAAA".into());
        b.hdr.insert("../x".into(), good);
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

/// The kernel's clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`: 100 on Linux, whatever
/// the kernel's own tick).
const USER_HZ: f64 = 100.0;

/// A process's CPU time at an instant, for the next report's difference.
#[derive(Debug, Clone, Copy)]
pub(super) struct CpuSample {
    pid: u32,
    ticks: u64,
    at: std::time::Instant,
}

/// What [`measure`] read.
pub(super) struct Usage {
    /// Percent of one core since the previous sample of the same process (`None` at the first).
    pub(super) cpu_percent: Option<f64>,
    /// Resident memory, bytes.
    pub(super) rss_bytes: u64,
}

/// CPU (user + system time, `/proc/<pid>/stat`) and resident memory (`VmRSS`,
/// `/proc/<pid>/status`) of process `pid`; `previous` becomes this sample.
pub(super) fn measure(pid: u32, previous: &mut Option<CpuSample>) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name's closing parenthesis: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let now = CpuSample {
        pid,
        ticks: utime + stime,
        at: std::time::Instant::now(),
    };
    let cpu_percent = previous.filter(|p| p.pid == pid).and_then(|p| {
        let secs = now.at.duration_since(p.at).as_secs_f64();
        (secs > 0.05).then(|| (now.ticks.saturating_sub(p.ticks) as f64 / USER_HZ) / secs * 100.0)
    });
    *previous = Some(now);
    Some(Usage {
        cpu_percent: cpu_percent.map(|c| (c * 10.0).round() / 10.0),
        rss_bytes: rss_kb * 1024,
    })
}
