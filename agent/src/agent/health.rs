//! Self-healing: each running bot's `/health` on its configuration's timer, and the
//! replacement (a warm handover) of one that fails it `health.failures` times in a row.

use super::*;

impl Agent {
    /// Asks every running bot whose check is due for its `/health` (at its configuration's
    /// interval) and counts the failures in a row; a failure counts once the instance has been
    /// healthy since it started (loading is not a failure: a start that never gets healthy is
    /// the crash loop's business).
    pub(super) async fn check_health(&mut self) {
        let now = std::time::Instant::now();
        let mut checks = tokio::task::JoinSet::new();
        for (id, m) in &self.managed {
            // A scheduler's deployment under way: the scheduler checks the new allocation.
            if m.next_check > now || !m.record.desired_state.has_process() || m.deploying.is_some()
            {
                continue;
            }
            let instance = self.backend.instance(&m.record.spec.unit_key()).await;
            let Some(
                i @ Instance {
                    state: UnitState::Running,
                    ..
                },
            ) = instance
            else {
                continue;
            };
            let (id, port) = (id.clone(), m.record.spec.control_port);
            let process = (i.pid, i.restarts);
            let deadline = Duration::from_millis(m.health.interval_ms).min(SCRAPE_DEADLINE);
            checks.spawn(async move {
                // No secret: /health needs none.
                let answer = Endpoint::loopback(port)
                    .request("GET", "/health", None, None, deadline)
                    .await;
                use sniperforge_protocol::control::Role;
                let verdict = match answer {
                    Ok(r) => match r.json_as::<sniperforge_protocol::control::Health>() {
                        // Healthy and trading (or a build without the lease): fine. Healthy
                        // but not holding its lease outside a handover: another process holds
                        // it, and this bot trades nothing.
                        Ok(h) if r.status == 200 && h.healthy => match h.role {
                            None | Some(Role::Trading) => Ok(()),
                            Some(role) => Err(format!(
                                "not trading: {} (another process holds its trading lease)",
                                role.as_str()
                            )),
                        },
                        Ok(h) if !h.reasons.is_empty() => Err(h.reasons.join("; ")),
                        Ok(_) => Err(format!("/health answered HTTP {}", r.status)),
                        Err(e) => Err(format!("/health: {e}")),
                    },
                    Err(e) => Err(e.to_string()),
                };
                (id, verdict, process)
            });
        }
        while let Some(Ok((id, verdict, process))) = checks.join_next().await {
            let Some(m) = self.managed.get_mut(&id) else {
                continue;
            };
            // Another process (its supervisor started it again): loading anew, counted afresh.
            if m.health_pid != Some(process) {
                m.health_pid = Some(process);
                m.seen_healthy = false;
                m.unhealthy = 0;
            }
            m.next_check = std::time::Instant::now() + Duration::from_millis(m.health.interval_ms);
            match verdict {
                Ok(()) => {
                    m.seen_healthy = true;
                    m.unhealthy = 0;
                }
                // A bot in `error` by its own decision (a loss limit, a refused configuration)
                // is not replaced: a new instance would stop there too (bot_error alerts it).
                Err(_) if m.last_state == "error" => m.unhealthy = 0,
                Err(why) if m.seen_healthy => {
                    m.unhealthy += 1;
                    m.health_reason = handover::bounded(why);
                }
                Err(_) => {}
            }
        }
    }

    /// Replaces the bots whose `/health` failed their configuration's `health.failures` times in
    /// a row, through a warm handover (the unhealthy instance is stopped even when it cannot hand
    /// over); a replacement that rolls back is tried again after a backoff.
    pub(super) async fn heal(&mut self) {
        // Where the scheduler runs the instances its own way (Nomad), its health check restarts
        // an unhealthy task: the agent does not as well.
        if !self.backend.side_by_side() {
            return;
        }
        let now = std::time::Instant::now();
        let due: Vec<(String, String, u32)> = self
            .managed
            .iter()
            .filter(|(_, m)| m.health.failures > 0 && m.unhealthy >= m.health.failures)
            .filter(|(_, m)| m.heal_at.is_none_or(|at| now >= at))
            .filter(|(_, m)| m.record.desired_state.has_process())
            .map(|(id, m)| (id.clone(), m.health_reason.clone(), m.unhealthy))
            .collect();
        for (id, reason, count) in due {
            let cause = format!("unhealthy: {reason} ({count} failed health checks in a row)");
            tracing::warn!(bot_id = %id, %cause, "replacing an unhealthy bot");
            let Some(current) = self.managed.get(&id).map(|m| m.record.spec.clone()) else {
                continue;
            };
            let rolled_back = if self.warm() {
                let shared = self.shared_cores(&id, &current.cores);
                let result = match self.next_instance(&current, shared) {
                    Ok(next) => {
                        self.hand_over(
                            &id,
                            next,
                            sniperforge_protocol::fleet::HandoverTrigger::Unhealthy,
                            &cause,
                            handover::Old::Replace,
                        )
                        .await
                    }
                    Err(e) => Err(e),
                };
                match result {
                    Ok(h) => h.outcome == sniperforge_protocol::fleet::HandoverOutcome::RolledBack,
                    Err(e) => {
                        tracing::error!(bot_id = %id, error = %e, "replacing an unhealthy bot");
                        true
                    }
                }
            } else {
                let result = self.backend.restart(&current).await;
                if let Some(m) = self.managed.get_mut(&id) {
                    m.record.handover = Some(sniperforge_protocol::fleet::Handover {
                        trigger: sniperforge_protocol::fleet::HandoverTrigger::Unhealthy,
                        outcome: match &result {
                            Ok(()) => sniperforge_protocol::fleet::HandoverOutcome::Completed,
                            Err(_) => sniperforge_protocol::fleet::HandoverOutcome::RolledBack,
                        },
                        cause: handover::bounded(cause.clone()),
                        reason: result
                            .as_ref()
                            .err()
                            .map(|e| handover::bounded(e.to_string())),
                        at_ms: std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis() as i64),
                        gap_ns: None,
                        drain_ns: None,
                        pid: None,
                    });
                    let record = m.record.clone();
                    self.persist(&record);
                }
                result.is_err()
            };
            if let Some(m) = self.managed.get_mut(&id) {
                m.unhealthy = 0;
                if rolled_back {
                    m.heal_failures += 1;
                    m.heal_at =
                        Some(std::time::Instant::now() + crate::process::backoff(m.heal_failures));
                } else {
                    m.heal_failures = 0;
                    m.heal_at = None;
                    m.seen_healthy = false;
                }
            }
        }
    }
}
