//! The report: every running bot's control endpoint scraped (status, metrics, interval
//! histograms), pause and resume applied, new log lines, and the node's report built from them.

use super::*;

impl Agent {
    /// Scrapes every bot's control endpoint, applies pause/resume, and builds the report.
    pub async fn report(&mut self) -> Value {
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
                let ok = |r: Result<crate::http::Response, crate::http::HttpError>| match r {
                    Ok(r) if r.status == 200 => r.json(),
                    Ok(r) => Err(format!("HTTP {}: {}", r.status, r.error_message())),
                    Err(e) => Err(e.to_string()),
                };
                (id, ok(status), ok(hdr).ok())
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
            let mut status = json!({});
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
                    status = s["status"].clone();
                    metrics = s["metrics"].clone();
                    // What the bot publishes (a dashboard's market view) travels in its status.
                    if let (Some(obj), Some(outputs)) = (
                        status.as_object_mut(),
                        s.get("outputs").filter(|o| !o.is_null()),
                    ) {
                        obj.insert("outputs".into(), outputs.clone());
                    }
                    scraped_pid = s["pid"].as_u64();
                    if s["uptime_seconds"].as_u64().unwrap_or(0) >= HEALTHY_AFTER_S {
                        m.failures = 0;
                    }
                    let state = status["state"].as_str().unwrap_or_default().to_string();
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
                        json!({"state": "starting", "reason": format!("control endpoint: {e}")});
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
                    status = json!({"state": "error", "reason": format!(
                        "{last_exit}; restart in {delay_ms} ms ({failures} consecutive failure{})",
                        if *failures == 1 { "" } else { "s" })});
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
                    status = json!({"state": "error", "reason": format!(
                        "{last_exit}; started again in {wait} ms ({} time{} in a row)",
                        m.failures, if m.failures == 1 { "" } else { "s" })});
                }
                (
                    Some(Instance {
                        state: UnitState::Stopped,
                        ..
                    }),
                    _,
                ) => {
                    status = json!({"state": "stopped"});
                }
                (None, _) => {
                    status = json!({"state": "stopped", "reason": "not started"});
                }
            }
            if let Some(why) = self.problems.get(&id) {
                status = json!({"state": "error", "reason": why});
            }
            if let Some(obj) = status.as_object_mut() {
                obj.insert("backend".into(), json!(self.backend.name()));
                obj.insert("config_version".into(), json!(m.record.config_version));
                obj.insert("control_port".into(), json!(m.record.spec.control_port));
                if let Some(i) = &instance {
                    obj.insert("pid".into(), json!(i.pid.map(u64::from).or(scraped_pid)));
                    obj.insert("restarts".into(), json!(i.restarts));
                }
            }
            let hdr = hdr
                .map(|h| h["stages"].clone())
                .filter(Value::is_object)
                .unwrap_or(json!({}));
            bots.push(json!({
                "bot_id": id,
                "status": status,
                "metrics": metrics,
                "hdr": hdr,
                "logs": m.log.read(),
            }));
        }
        for id in self.stopped.drain(..) {
            bots.push(json!({"bot_id": id, "status": {"state": "stopped", "backend": self.backend.name()}}));
        }
        // Wanted bots that could not even be launched.
        for (id, why) in &self.problems {
            if !self.managed.contains_key(id) {
                bots.push(json!({"bot_id": id, "status": {"state": "error", "reason": why, "backend": self.backend.name()}}));
            }
        }
        json!({"node_id": self.opts.node.node_id, "bots": bots})
    }
}
