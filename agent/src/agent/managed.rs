//! What the agent keeps of each bot it manages: its record, the tails of its log and fills
//! journal, and the counters of its restarts, health checks and handovers.

use super::*;

#[derive(Debug)]
pub(super) struct Managed {
    pub(super) record: Record,
    pub(super) log: LogTail,
    /// Its fills journal, from the cursor the gateway has taken up to.
    pub(super) fills: crate::files::FillsTail,
    /// Times it ended by itself in a row (its supervisor gave up or it exited cleanly); the
    /// agent starts it again after [`crate::process::backoff`] of this.
    pub(super) failures: u32,
    /// When the agent may start it again.
    pub(super) retry_at: Option<std::time::Instant>,
    /// Health checks failed in a row (counted once it has been healthy since it started).
    pub(super) unhealthy: u32,
    /// Whether `/health` has passed since the instance started.
    pub(super) seen_healthy: bool,
    /// What the last failed health check said.
    pub(super) health_reason: String,
    /// Unhealthy handovers rolled back in a row, and when the next may be tried.
    pub(super) heal_failures: u32,
    pub(super) heal_at: Option<std::time::Instant>,
    /// A configuration version whose handover was rolled back: not tried again until the
    /// gateway wants another version (or a restart).
    pub(super) held_version: Option<i64>,
    /// Its configuration's health policy (checks, interval).
    pub(super) health: sniperforge_protocol::HealthPolicy,
    /// When its next health check is due.
    pub(super) next_check: std::time::Instant,
    /// The process the health counters are about (its pid, and its supervisor's restarts).
    pub(super) health_pid: Option<(Option<u32>, u32)>,
    /// Its lifecycle state as its control endpoint last said.
    pub(super) last_state: String,
    /// Why the handover of [`Managed::held_version`] was rolled back.
    pub(super) held_reason: String,
    /// The scheduler's deployment of a new version, while the agent follows it (Nomad).
    pub(super) deploying: Option<deploy::Deploying>,
    /// Its process's CPU time at the last report (`cpu_usage` is the difference).
    pub(super) cpu_sample: Option<report::CpuSample>,
}

impl Managed {
    /// `fills_cursor`: where the cursor of its fills journal is kept.
    pub(super) fn new(record: Record, log: LogTail, fills_cursor: &Path) -> Self {
        let fills = crate::files::FillsTail::open(
            &record
                .spec
                .state_dir
                .join(sniperforge_protocol::fleet::FILLS_JOURNAL),
            fills_cursor,
        );
        Self {
            record,
            log,
            fills,
            failures: 0,
            retry_at: None,
            unhealthy: 0,
            seen_healthy: false,
            health_reason: String::new(),
            heal_failures: 0,
            heal_at: None,
            held_version: None,
            health: sniperforge_protocol::HealthPolicy::DEFAULT,
            next_check: std::time::Instant::now(),
            health_pid: None,
            last_state: String::new(),
            held_reason: String::new(),
            deploying: None,
            cpu_sample: None,
        }
    }

    /// The managed bot with `health` as its policy.
    pub(super) fn with_health(mut self, health: sniperforge_protocol::HealthPolicy) -> Self {
        self.health = health;
        self
    }
}
