//! Where the scheduler replaces instances its own way (Nomad: a canary beside the running
//! allocation, promoted once its health check has passed, reverted when it does not in time),
//! the agent registers the new version and follows the deployment: its outcome becomes the
//! bot's handover status, a failed one puts the running version's configuration file back and
//! holds the version, as a rolled-back warm handover does. The control port is the one the
//! scheduler gave the allocation that stands for the bot.

use sniperforge_protocol::fleet::{Handover, HandoverOutcome, HandoverTrigger};

use super::*;
use crate::backend::DeployState;

/// Between two polls of a deployment.
const POLL: Duration = Duration::from_millis(500);
/// Past the scheduler's own deadlines (healthy, then progress), how long the agent follows a
/// deployment that says nothing before it gives up following.
const FOLLOW_SLACK: Duration = Duration::from_secs(120);

/// A deployment the agent started and follows.
#[derive(Debug, Clone)]
pub(super) struct Deploying {
    pub(super) trigger: HandoverTrigger,
    pub(super) cause: String,
    pub(super) since: std::time::Instant,
    next_poll: std::time::Instant,
    /// The configuration the running instance runs, and its version: put back when the
    /// deployment fails.
    pub(super) old_text: Option<String>,
    pub(super) old_version: i64,
    /// The version deployed (held when it fails, for a configuration change).
    pub(super) version: i64,
    /// What the running version runs with (its spec, its health policy): back when it fails.
    pub(super) old_spec: Option<BotSpec>,
    pub(super) old_health: Option<sniperforge_protocol::HealthPolicy>,
    /// The restart generation reported while it runs (the one before a restart's: a rollout
    /// counts a restart once its deployment has ended, not once it was registered).
    pub(super) generation: Option<i64>,
}

impl Deploying {
    pub(super) fn new(
        trigger: HandoverTrigger,
        cause: String,
        old_text: Option<String>,
        old_version: i64,
        version: i64,
    ) -> Self {
        let now = std::time::Instant::now();
        Self {
            trigger,
            cause,
            since: now,
            next_poll: now,
            old_text,
            old_version,
            version,
            old_spec: None,
            old_health: None,
            generation: None,
        }
    }

    /// The same, reporting `generation` as the bot's restart generation until it ends.
    pub(super) fn reporting_generation(mut self, generation: i64) -> Self {
        self.generation = Some(generation);
        self
    }

    /// The same, putting back `spec` and `health` should it fail.
    pub(super) fn restoring(
        mut self,
        spec: BotSpec,
        health: Option<sniperforge_protocol::HealthPolicy>,
    ) -> Self {
        self.old_spec = Some(spec);
        self.old_health = health;
        self
    }
}

impl Agent {
    /// Takes the control port the scheduler gave each bot's current allocation (Nomad's
    /// dynamic ports); the record keeps it for an agent that restarts.
    pub(super) async fn sync_ports(&mut self) {
        let mut changed = Vec::new();
        for m in self.managed.values_mut() {
            if let Some(port) = self.backend.control_port(&m.record.spec.unit_key())
                && port != m.record.spec.control_port
            {
                m.record.spec.control_port = port;
                changed.push(m.record.clone());
            }
        }
        for record in changed {
            self.persist(&record);
        }
    }

    /// Polls the deployments the agent follows; a finished one becomes the bot's handover.
    pub(super) async fn follow_deployments(&mut self) {
        let now = std::time::Instant::now();
        let due: Vec<(String, String)> = self
            .managed
            .iter()
            .filter(|(_, m)| m.deploying.as_ref().is_some_and(|d| now >= d.next_poll))
            .map(|(id, m)| (id.clone(), m.record.spec.unit_key()))
            .collect();
        let give_up = self.opts.handover_ready * 2 + FOLLOW_SLACK;
        for (id, unit) in due {
            let state = self.backend.deployment(&unit).await;
            let instance = self.backend.instance(&unit).await;
            let Some(m) = self.managed.get_mut(&id) else {
                continue;
            };
            let Some(d) = m.deploying.as_mut() else {
                continue;
            };
            d.next_poll = std::time::Instant::now() + POLL;
            let (outcome, reason) = match state {
                Some(DeployState::Successful) => (HandoverOutcome::Completed, None),
                Some(DeployState::Failed(why)) => (HandoverOutcome::RolledBack, Some(why)),
                Some(DeployState::Running) | None if d.since.elapsed() < give_up => continue,
                Some(DeployState::Running) | None => {
                    tracing::warn!(bot_id = %id, "the scheduler's deployment said nothing in time; no longer followed");
                    m.deploying = None;
                    continue;
                }
            };
            let Some(d) = m.deploying.take() else {
                continue;
            };
            if outcome == HandoverOutcome::RolledBack {
                // The running version's file again, and the deployed version held.
                if let Some(text) = &d.old_text {
                    let spec = &m.record.spec;
                    if let Err(e) =
                        write_atomic(&spec.config_path, text.as_bytes(), spec.user.as_ref())
                    {
                        tracing::error!(bot_id = %id, error = %e, "restoring the running configuration");
                    }
                }
                if d.trigger == HandoverTrigger::Config {
                    // The running version's spec (cores, memory) and health policy: the next
                    // restart runs it as it is.
                    if let Some(mut spec) = d.old_spec.clone() {
                        spec.control_port = m.record.spec.control_port;
                        m.record.spec = spec;
                    }
                    if let Some(h) = d.old_health {
                        m.health = h;
                    }
                    m.record.config_version = d.old_version;
                    m.held_version = Some(d.version);
                    m.held_reason = reason.clone().unwrap_or_default();
                }
                tracing::warn!(bot_id = %id, reason = ?reason, "deployment failed; the scheduler reverted to the running version");
            } else {
                tracing::info!(bot_id = %id, cause = %d.cause, "deployment promoted");
            }
            m.record.handover = Some(Handover {
                outcome,
                trigger: d.trigger,
                cause: handover::bounded(d.cause),
                reason: reason.map(handover::bounded),
                at_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |t| t.as_millis() as i64),
                gap_ns: None,
                drain_ns: None,
                pid: instance.and_then(|i| i.pid),
            });
            // A new allocation: its health is counted afresh.
            m.seen_healthy = false;
            m.unhealthy = 0;
            let record = m.record.clone();
            self.persist(&record);
        }
    }
}
