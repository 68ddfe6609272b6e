//! Warm handovers: a restart, a cold configuration change or an unhealthy bot gets a new
//! instance beside the running one. The new instance loads its market and waits in standby
//! (deciding nothing: the running one holds the bot's trading lease); once its `/health` passes,
//! the running one is asked to hand over (no new decision, orders in flight settled, state
//! persisted, lease let go), the new one takes the lease and trades, and the old one is
//! stopped. A new instance that is not healthy in time is stopped and the old one trades on
//! (rolled back, and the bot's status says why).

use sniperforge_protocol::control::{HandedOver, Health, Lease, Role, StatusSummary};
use sniperforge_protocol::fleet::{HANDOVER_TEXT_MAX, Handover, HandoverOutcome, HandoverTrigger};

use super::*;

/// How long a new instance has to load and pass `/health` in standby, by default.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long the old instance has to settle its orders in flight.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(5);
/// How long the new instance has to take the lease once it is let go.
const TAKE_DEADLINE: Duration = Duration::from_secs(5);
/// Between two `/health` polls of a new instance getting ready.
const READY_POLL: Duration = Duration::from_millis(50);
/// Between two polls of a new instance taking the lease.
const TAKE_POLL: Duration = Duration::from_millis(2);
/// How long to wait for the new instance's first decision (for the gap in the status).
const FIRST_DECISION_WAIT: Duration = Duration::from_secs(1);
/// A control request's deadline.
const ASK: Duration = Duration::from_millis(800);

/// What a handover does to the old instance when it cannot hand over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Old {
    /// It trades on: the handover is rolled back.
    Keep,
    /// It is stopped anyway (it is unhealthy: the kernel lets its lease go when it ends).
    Replace,
}

/// Unix ms now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `text` within [`HANDOVER_TEXT_MAX`] characters.
pub(super) fn bounded(text: String) -> String {
    if text.chars().count() <= HANDOVER_TEXT_MAX {
        return text;
    }
    let mut cut: String = text.chars().take(HANDOVER_TEXT_MAX - 1).collect();
    cut.push('…');
    cut
}

/// One instance's control endpoint.
pub(super) struct Control<'a>(pub(super) &'a BotSpec);

impl Control<'_> {
    async fn ask(&self, method: &str, path: &str) -> Result<crate::http::Response, String> {
        Endpoint::loopback(self.0.control_port)
            .request(method, path, self.0.control_token(), None, ASK)
            .await
            .map_err(|e| e.to_string())
    }

    /// `/health` (asked without the secret: it needs none, and whatever answers on the port
    /// before the instance does never sees it): `Ok` with the role when healthy, else why not.
    async fn health(&self) -> Result<Option<Role>, String> {
        let r = Endpoint::loopback(self.0.control_port)
            .request("GET", "/health", None, None, ASK)
            .await
            .map_err(|e| e.to_string())?;
        let h: Health = r.json_as().map_err(|e| format!("/health: {e}"))?;
        if r.status == 200 && h.healthy || h.role.is_none() {
            // Healthy, or a build without the lease (healthy or not: it says no role).
            Ok(h.role)
        } else {
            Err(bounded(if h.reasons.is_empty() {
                format!("/health answered HTTP {}", r.status)
            } else {
                h.reasons.join("; ")
            }))
        }
    }

    /// Asks a released instance to take the lease back: at once when it has let it go, after
    /// its drain when it is still draining (its answer to the agent may have been lost), nothing
    /// when it trades or waits for the lease.
    async fn take_back(&self) {
        let until = tokio::time::Instant::now() + DRAIN_DEADLINE + ASK;
        loop {
            match self.lease().await.map(|l| l.role) {
                Some(Role::Released) => {
                    if let Err(e) = self.ask("POST", "/takeover").await {
                        tracing::error!(bot_id = %self.0.bot_id, error = %e, "asking the old instance to take the trading lease back");
                    }
                    return;
                }
                Some(Role::Draining) if tokio::time::Instant::now() < until => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Some(Role::Draining) => {
                    tracing::error!(bot_id = %self.0.bot_id, "the old instance is still draining: it trades again only when asked");
                    return;
                }
                _ => return,
            }
        }
    }

    /// The configuration the instance runs (what its `/status` says), as file text.
    pub(super) async fn running_config(&self) -> Option<String> {
        let r = self.ask("GET", "/status").await.ok()?;
        let v: serde_json::Value = (r.status == 200).then(|| r.json().ok()).flatten()?;
        let config = v.get("config")?;
        sniperforge_protocol::config::validate(config).ok()?;
        serde_json::to_string_pretty(config).ok()
    }

    async fn lease(&self) -> Option<Lease> {
        let r = self.ask("GET", "/status").await.ok()?;
        (r.status == 200)
            .then(|| r.json_as::<StatusSummary>().ok()?.lease)
            .flatten()
    }

    async fn hand_over(&self) -> Result<HandedOver, String> {
        let path = format!("/handover?drain_ms={}", DRAIN_DEADLINE.as_millis());
        let r = Endpoint::loopback(self.0.control_port)
            .request(
                "POST",
                &path,
                self.0.control_token(),
                None,
                DRAIN_DEADLINE + ASK,
            )
            .await
            .map_err(|e| e.to_string())?;
        if r.status == 200 {
            r.json_as().map_err(|e| format!("/handover: {e}"))
        } else {
            Err(format!("HTTP {}: {}", r.status, r.error_message()))
        }
    }
}

impl Agent {
    /// A new instance of a managed bot: the next instance number, a free control port, a new
    /// control secret, the agent's binary and bot account as they are now.
    pub(super) fn next_instance(
        &self,
        current: &BotSpec,
        shared_cores: Vec<usize>,
    ) -> Result<BotSpec, String> {
        let mut next = current.clone();
        next.instance = current.instance.checked_add(1).unwrap_or(1);
        next.control_port = free_port().map_err(|e| format!("no free control port: {e}"))?;
        next.control_secret = sniperforge_host::files::new_control_secret()
            .map_err(|e| format!("no randomness for the control secret: {e}"))?;
        next.exe = self.opts.exe.clone();
        next.user = self.opts.bot_user.clone();
        next.shared_cores = shared_cores;
        Ok(next)
    }

    /// Replaces bot `id`'s running instance by `next` through a warm handover (see the
    /// module). Returns how it ended; `Err` only when nothing could be tried (the record
    /// unwritable). The record holds the new spec once it trades, the old one otherwise.
    pub(super) async fn hand_over(
        &mut self,
        id: &str,
        next: BotSpec,
        trigger: HandoverTrigger,
        cause: &str,
        old_policy: Old,
    ) -> Result<Handover, String> {
        let backend = Arc::clone(&self.backend);
        let Some(m) = self.managed.get_mut(id) else {
            return Err(format!("bot {id} is not managed here"));
        };
        let old = m.record.spec.clone();
        let paused = m.record.desired_state == sniperforge_protocol::fleet::DesiredState::Paused;
        // A running instance of a build without the trading lease would trade beside the new
        // one: it is stopped first instead (a cold restart).
        if matches!(Control(&old).health().await, Ok(None)) {
            tracing::warn!(bot_id = %id, "the running instance predates the trading lease: restarting cold");
            backend
                .stop(&old.unit_key())
                .await
                .map_err(|e| e.to_string())?;
            if let Some(m) = self.managed.get_mut(id) {
                m.record.spec = next.clone();
            }
            let Some(record) = self.managed.get(id).map(|m| m.record.clone()) else {
                return Err(format!("bot {id} is not managed here"));
            };
            if !self.persist(&record) {
                return Err(format!(
                    "cannot write its record {}",
                    self.record_path(id).display()
                ));
            }
            next.write_control_secret()
                .map_err(|e| format!("writing the control secret: {e}"))?;
            backend.start(&next).await.map_err(|e| e.to_string())?;
            let h = Handover {
                outcome: HandoverOutcome::Completed,
                trigger,
                cause: bounded(format!(
                    "{cause} (restarted cold: the running build has no trading lease)"
                )),
                reason: None,
                at_ms: now_ms(),
                gap_ns: None,
                drain_ns: None,
                pid: None,
            };
            if let Some(m) = self.managed.get_mut(id) {
                m.record.handover = Some(h.clone());
                let record = m.record.clone();
                self.persist(&record);
            }
            return Ok(h);
        }
        let Some(m) = self.managed.get_mut(id) else {
            return Err(format!("bot {id} is not managed here"));
        };
        // The standby in the record first: an agent that dies meanwhile finds it and cleans up.
        m.record.standby = Some(next.clone());
        let record = m.record.clone();
        if !self.persist(&record) {
            if let Some(m) = self.managed.get_mut(id) {
                m.record.standby = None;
            }
            return Err(format!(
                "cannot write its record {}",
                self.record_path(id).display()
            ));
        }
        tracing::info!(bot_id = %id, %cause, from = %old.unit_key(), to = %next.unit_key(), "handover: starting a new instance in standby");
        let outcome = self.run_handover(&old, &next, old_policy, paused).await;
        let handover = match outcome {
            Ok((handed, first, pid)) => {
                // Signed: a new first decision before the old last one would be two instances
                // trading at once, and shows as a negative gap.
                let gap_ns = match (handed.map(|h| h.lease.last_decision_ns), first) {
                    (Some(last), Some(first)) if last > 0 && first > 0 => {
                        Some(first as i64 - last as i64)
                    }
                    _ => None,
                };
                let h = Handover {
                    outcome: HandoverOutcome::Completed,
                    trigger,
                    cause: bounded(cause.to_string()),
                    reason: None,
                    at_ms: now_ms(),
                    gap_ns,
                    drain_ns: handed.map(|h| h.drain_ns),
                    pid,
                };
                tracing::info!(bot_id = %id, cause = %h.cause, gap_us = gap_ns.map(|g| g / 1_000), drain_us = h.drain_ns.map(|d| d / 1_000), "handover completed: the new instance trades");
                if old.control_secret_path() != next.control_secret_path() {
                    let _ = std::fs::remove_file(old.control_secret_path());
                }
                if let Some(m) = self.managed.get_mut(id) {
                    m.record.spec = next;
                }
                h
            }
            Err(reason) => {
                let reason = bounded(reason);
                if let Err(e) = backend.stop(&next.unit_key()).await {
                    tracing::error!(bot_id = %id, error = %e, "stopping the new instance: killing it");
                    let _ = backend.kill(&next.unit_key()).await;
                }
                if next.control_secret_path() != old.control_secret_path() {
                    let _ = std::fs::remove_file(next.control_secret_path());
                }
                // Whatever the old instance did before the error (it may have let the lease go
                // as its answer was lost), it trades again now the new one is gone.
                if crate::backend::is_running(&*backend, &old.unit_key()).await {
                    Control(&old).take_back().await;
                }
                tracing::error!(bot_id = %id, cause = %bounded(cause.to_string()), %reason, "handover rolled back: the old instance trades on");
                Handover {
                    outcome: HandoverOutcome::RolledBack,
                    trigger,
                    cause: bounded(cause.to_string()),
                    reason: Some(bounded(reason)),
                    at_ms: now_ms(),
                    gap_ns: None,
                    drain_ns: None,
                    pid: None,
                }
            }
        };
        if let Some(m) = self.managed.get_mut(id) {
            m.record.standby = None;
            m.record.handover = Some(handover.clone());
            m.unhealthy = 0;
            let record = m.record.clone();
            self.persist(&record);
        }
        Ok(handover)
    }

    /// The steps; `Ok(the old instance's handover (None when it had ended), the new one's
    /// first decision, its pid)` once the new instance trades and the old one is stopped;
    /// `Err(why)` with the new instance still to stop.
    async fn run_handover(
        &self,
        old: &BotSpec,
        next: &BotSpec,
        old_policy: Old,
        paused: bool,
    ) -> Result<(Option<HandedOver>, Option<u64>, Option<u32>), String> {
        let backend = &self.backend;
        next.write_control_secret().map_err(|e| {
            format!(
                "writing the control secret {}: {e}",
                next.control_secret_path().display()
            )
        })?;
        backend
            .start(next)
            .await
            .map_err(|e| format!("starting the new instance: {e}"))?;
        // Standby and healthy, or not in time.
        let ready = self.opts.handover_ready;
        let ready_by = tokio::time::Instant::now() + ready;
        let mut last: String;
        loop {
            match Control(next).health().await {
                Ok(Some(Role::Standby | Role::Trading)) => break,
                Ok(Some(role)) => last = format!("role {}", role.as_str()),
                Ok(None) => last = "it answers without a role: not this build's bot".into(),
                Err(why) => last = why,
            }
            match backend.instance(&next.unit_key()).await {
                Some(Instance {
                    state: UnitState::Exited { last_exit } | UnitState::Restarting { last_exit, .. },
                    ..
                }) => return Err(format!("the new instance ended: {last_exit}")),
                None => return Err("the new instance is gone".into()),
                _ => {}
            }
            if tokio::time::Instant::now() >= ready_by {
                return Err(format!(
                    "the new instance was not healthy within {} ms: {last}",
                    ready.as_millis()
                ));
            }
            tokio::time::sleep(READY_POLL).await;
        }
        // A bot meant to be paused trades nothing once it holds the lease either.
        if paused {
            let r = Control(next).ask("POST", "/pause").await?;
            if r.status != 200 {
                return Err(format!(
                    "pausing the new instance: HTTP {}: {}",
                    r.status,
                    r.error_message()
                ));
            }
        }
        // The old instance lets the lease go (or is replaced anyway when unhealthy).
        let old_running = crate::backend::is_running(&**backend, &old.unit_key()).await;
        let handed = if old_running {
            match Control(old).hand_over().await {
                Ok(h) => Some(h),
                Err(why) if old_policy == Old::Replace => {
                    tracing::warn!(bot_id = %old.bot_id, error = %why, "the unhealthy instance did not hand over: killing it");
                    backend
                        .kill(&old.unit_key())
                        .await
                        .map_err(|e| format!("killing the old instance: {e}"))?;
                    None
                }
                Err(why) => {
                    return Err(format!(
                        "the old instance did not hand over: {}",
                        bounded(why)
                    ));
                }
            }
        } else {
            None
        };
        // The new instance takes the lease within the kernel's wake-up.
        let take_by = tokio::time::Instant::now() + TAKE_DEADLINE;
        loop {
            if let Ok(Some(Role::Trading)) = Control(next).health().await {
                break;
            }
            if tokio::time::Instant::now() >= take_by {
                // The caller stops the new instance and asks the old one to trade again.
                return Err(format!(
                    "the new instance did not take the trading lease within {} s",
                    TAKE_DEADLINE.as_secs()
                ));
            }
            tokio::time::sleep(TAKE_POLL).await;
        }
        // Whatever its state now (a supervisor may be starting it again after a crash), the
        // old unit goes: no instance the agent does not know of waits for the lease.
        backend
            .stop(&old.unit_key())
            .await
            .map_err(|e| format!("stopping the old instance: {e}"))?;
        let pid = backend.instance(&next.unit_key()).await.and_then(|i| i.pid);
        // Its first decision, for the gap (an observing bot decides nothing: none).
        let wait_by = tokio::time::Instant::now() + FIRST_DECISION_WAIT;
        let mut first = None;
        while tokio::time::Instant::now() < wait_by {
            if let Some(l) = Control(next).lease().await
                && l.first_decision_ns > 0
            {
                first = Some(l.first_decision_ns);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok((handed, first, pid))
    }

    /// A record left with a standby instance (an agent stopped mid-handover): the handover is
    /// finished if the standby trades, else undone.
    pub(super) async fn finish_interrupted(&mut self, id: &str) {
        let Some(m) = self.managed.get_mut(id) else {
            return;
        };
        let Some(standby) = m.record.standby.take() else {
            return;
        };
        let old = m.record.spec.clone();
        let backend = Arc::clone(&self.backend);
        let adopted = backend.adopt(&standby).await.unwrap_or(false);
        let trades = adopted
            && Control(&standby)
                .lease()
                .await
                .is_some_and(|l| l.role == Role::Trading);
        if trades {
            tracing::info!(bot_id = %id, instance = %standby.unit_key(), "an interrupted handover had completed: keeping the new instance");
            let _ = backend.stop(&old.unit_key()).await;
            if let Some(m) = self.managed.get_mut(id) {
                m.record.spec = standby;
            }
        } else {
            tracing::warn!(bot_id = %id, instance = %standby.unit_key(), "an interrupted handover: stopping its new instance");
            let _ = backend.stop(&standby.unit_key()).await;
            if standby.control_secret_path() != old.control_secret_path() {
                let _ = std::fs::remove_file(standby.control_secret_path());
            }
            if crate::backend::is_running(&*backend, &old.unit_key()).await {
                Control(&old).take_back().await;
            }
        }
        if let Some(m) = self.managed.get_mut(id) {
            let record = m.record.clone();
            self.persist(&record);
        }
    }
}
