//! The process backend's resource limits. Cores: the bot pins each of its threads itself
//! (`sched_setaffinity`): its hot threads to its reserved cores, the rest to the node's shared
//! ones, which the agent passes (`--shared-cores`). Its memory (`resources.memory_mb`) and CPU
//! quota (`resources.cpu_quota_percent`) go to a cgroup v2 child of the agent's own cgroup when
//! the host delegates one (`memory.max`, `cpu.max`; the agent moves the process there as soon
//! as it is spawned). Otherwise the agent holds the memory limit itself: it reads the bot's resident
//! memory (`VmRSS` in `/proc/<pid>/status`) every [`RSS_CHECK`] and kills a bot past it, as the
//! kernel's OOM killer would in a cgroup, which then restarts with backoff. (`RLIMIT_AS` or
//! `RLIMIT_DATA` would count address space reserved, not used: a bot resident in 47 MiB
//! reserves about 1 GiB of it, so those limits would stop bots that are well within theirs.)
//! A CPU quota needs the cgroup: without one it is not applied, and the agent logs so.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::backend::BotSpec;

/// How often the agent reads a bot's resident memory when no cgroup holds the limit.
pub const RSS_CHECK: Duration = Duration::from_millis(250);

/// What a bot's process gets: the cgroup it joins, and the memory limit the agent enforces
/// itself (bytes; 0: none, or the cgroup's).
#[derive(Debug, Default)]
pub struct Limits {
    /// Its cgroup's `cgroup.procs`.
    pub cgroup_procs: Option<PathBuf>,
    /// Resident memory past which the agent kills it (bytes; 0: none).
    pub rss_limit: u64,
}

/// The limits of `spec`'s process: a cgroup of its own when the host delegates one, the
/// agent's guard otherwise.
pub fn prepare(spec: &BotSpec) -> Limits {
    let mut limits = Limits::default();
    let memory = spec.memory_mb.saturating_mul(1 << 20);
    if memory == 0 && spec.cpu_quota_percent.is_none() {
        return limits;
    }
    match v2_root().map(|root| bot_cgroup(root, spec)) {
        Some(Ok(procs)) => limits.cgroup_procs = Some(procs),
        Some(Err(e)) => {
            tracing::warn!(bot_id = %spec.bot_id, error = %e, "no cgroup for the bot: the agent guards its memory");
            limits.rss_limit = memory;
        }
        None => limits.rss_limit = memory,
    }
    if limits.cgroup_procs.is_none() && spec.cpu_quota_percent.is_some() {
        tracing::warn!(bot_id = %spec.bot_id, "resources.cpu_quota_percent needs a cgroup v2 the agent may manage: not applied");
    }
    limits
}

impl Limits {
    /// Moves process `pid` into its cgroup (right after its spawn); an error leaves it where
    /// it is, and the agent then guards its memory itself.
    pub fn join(&mut self, pid: u32, memory_bytes: u64) -> std::io::Result<()> {
        let Some(procs) = &self.cgroup_procs else {
            return Ok(());
        };
        let moved = std::fs::write(procs, pid.to_string());
        if moved.is_err() {
            self.cgroup_procs = None;
            self.rss_limit = memory_bytes;
        }
        moved
    }
}

/// A process's resident memory, bytes (`None` once it is gone).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// The cgroup under which the agent makes its bots' cgroups: its own, on a pure cgroup v2 host
/// whose memory controller it may enable for its children (moving itself into a leaf,
/// `sniperforge-agent`, as cgroup v2 wants no process in a cgroup with children). `None` on
/// cgroup v1 or hybrid hosts, or without the rights (no `Delegate=yes`).
fn v2_root() -> Option<&'static Path> {
    static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        // Pure v2: one line, `0::/path`.
        let path = match own.lines().collect::<Vec<_>>()[..] {
            [line] => line.strip_prefix("0::")?.trim().to_string(),
            _ => return None,
        };
        let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
        let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).ok()?;
        if !controllers.split_whitespace().any(|c| c == "memory") {
            return None;
        }
        let enable = |what: &str| std::fs::write(dir.join("cgroup.subtree_control"), what);
        if enable("+memory").is_err() {
            let leaf = dir.join("sniperforge-agent");
            std::fs::create_dir_all(&leaf).ok()?;
            std::fs::write(leaf.join("cgroup.procs"), "0").ok()?;
            enable("+memory").ok()?;
        }
        if controllers.split_whitespace().any(|c| c == "cpu") {
            let _ = enable("+cpu");
        }
        tracing::info!(cgroup = %dir.display(), "bots get cgroup v2 children of the agent's cgroup");
        Some(dir)
    })
    .as_deref()
}

/// The bot's cgroup under `root` with its limits written; its `cgroup.procs`.
fn bot_cgroup(root: &Path, spec: &BotSpec) -> std::io::Result<PathBuf> {
    let dir = root.join(format!("sniperforge-bot-{}", spec.unit_key()));
    std::fs::create_dir_all(&dir)?;
    let memory = spec.memory_mb.saturating_mul(1 << 20);
    std::fs::write(
        dir.join("memory.max"),
        if memory == 0 {
            "max".to_string()
        } else {
            memory.to_string()
        },
    )?;
    if let Some(q) = spec.cpu_quota_percent {
        // Quota and period, µs: q% of one core.
        std::fs::write(
            dir.join("cpu.max"),
            format!("{} 100000", u64::from(q) * 1_000),
        )?;
    }
    Ok(dir.join("cgroup.procs"))
}
