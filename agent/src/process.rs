//! The `process` backend (the embedded default): each bot is a child process in its own process
//! group (a Ctrl-C meant for the agent does not reach it, and it outlives the agent), its output
//! appended to its log file, restarted after a failure with exponential backoff like systemd's
//! `Restart=on-failure`. A restarted agent adopts the bots it finds alive by pid and watches them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rustix::process::{Pid, Signal};
use tokio::sync::watch;

use crate::backend::{Backend, BackendError, BotSpec, Instance, UnitState};

/// Grace period between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// A run shorter than this counts towards a crash loop.
const SHORT_RUN: Duration = Duration::from_secs(30);
/// First and longest restart delay.
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Restart delay after `failures` consecutive short runs (1 → 250 ms, doubling, at most 30 s).
pub fn backoff(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    (BACKOFF_MIN * (1u32 << shift)).min(BACKOFF_MAX)
}

#[derive(Debug)]
struct Unit {
    info: Arc<Mutex<Instance>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Child-process supervisor.
#[derive(Debug, Default)]
pub struct ProcessBackend {
    units: tokio::sync::Mutex<HashMap<String, Unit>>,
}

impl ProcessBackend {
    /// An empty supervisor.
    pub fn new() -> Self {
        Self::default()
    }

    fn err(bot_id: &str, message: impl Into<String>) -> BackendError {
        BackendError {
            backend: "process",
            bot_id: bot_id.to_string(),
            message: message.into(),
        }
    }

    /// Beside the bot's log, where the agent, not the bot, writes (one per instance).
    fn pid_file(spec: &BotSpec) -> std::path::PathBuf {
        spec.log_path
            .with_file_name(format!("{}.pid", spec.unit_key()))
    }

    async fn supervise(&self, spec: &BotSpec, adopted: Option<u32>) {
        let info = Arc::new(Mutex::new(Instance {
            state: UnitState::Running,
            pid: adopted,
            restarts: 0,
        }));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run_unit(spec.clone(), adopted, Arc::clone(&info), stop_rx));
        let mut units = self.units.lock().await;
        if let Some(old) = units.insert(spec.unit_key(), Unit { info, stop, task }) {
            old.task.abort();
        }
    }
}

fn set(info: &Mutex<Instance>, f: impl FnOnce(&mut Instance)) {
    if let Ok(mut i) = info.lock() {
        f(&mut i);
    }
}

/// Whether `pid` is a live (not zombie) `sniperforge bot` process reading `config`.
pub fn is_bot_process(pid: u32, config: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let config = config.as_os_str().as_encoded_bytes();
    let ours = args
        .windows(2)
        .any(|w| w[0] == b"--config" && w[1] == config)
        && args.iter().any(|a| *a == b"bot");
    ours && !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(true)
}

fn signal(pid: u32, sig: Signal) -> std::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| std::io::Error::other(format!("bad pid {pid}")))?;
    rustix::process::kill_process(pid, sig).map_err(std::io::Error::from)
}

/// Starts the bot's process within its limits; the child, and the resident memory past which
/// the agent kills it (bytes; 0: none, or a cgroup holds it).
fn spawn(spec: &BotSpec) -> std::io::Result<(tokio::process::Child, u64)> {
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = spec.log_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    spec.prepare_state_dir()?;
    // The bot may own the directory: a symlink planted as its log is not followed.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(&spec.log_path)?;
    if !log.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: not a regular file", spec.log_path.display()),
        ));
    }
    let mut cmd = tokio::process::Command::new(&spec.exe);
    cmd.args(spec.args())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .kill_on_drop(false);
    if let Some(user) = &spec.user {
        // std drops the supplementary groups when it changes the uid.
        cmd.uid(user.uid).gid(user.gid);
    }
    let mut limits = crate::limits::prepare(spec);
    let mut child = cmd.spawn()?;
    if let Some(pid) = child.id()
        && let Err(e) = limits.join(pid, spec.memory_mb.saturating_mul(1 << 20))
    {
        tracing::warn!(bot_id = %spec.bot_id, error = %e, "moving the bot into its cgroup: the agent guards its memory");
    }
    if let Some(pid) = child.id() {
        let path = ProcessBackend::pid_file(spec);
        let written = sniperforge_host::files::create_private(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{pid}\n").as_bytes()));
        if let Err(e) = written {
            // A bot this agent cannot find again after a restart must not run untracked.
            let _ = child.start_kill();
            return Err(e);
        }
    }
    Ok((child, limits.rss_limit))
}

/// Resolves once a stop is requested (or the backend is gone).
async fn stop_requested(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// How one run ended.
enum Ended {
    Exit(String, bool),
    StopRequested,
}

/// Waits for the process to end or for a stop request (then stops it).
async fn watch_run(
    child: Option<tokio::process::Child>,
    pid: u32,
    rss_limit: u64,
    config: &Path,
    stop_rx: &mut watch::Receiver<bool>,
) -> Ended {
    let wait = async {
        match child {
            Some(mut c) => match c.wait().await {
                Ok(st) => (format!("exited with {st}"), st.success()),
                Err(e) => (format!("lost: {e}"), false),
            },
            None => {
                // Adopted: not our child (or the child of this process before it executed a
                // new build of the agent), so poll for it to go.
                while std::fs::metadata(format!("/proc/{pid}")).is_ok() && !is_zombie(pid) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // Reaped where it is this process's child (a no-op otherwise).
                if let Some(p) = i32::try_from(pid)
                    .ok()
                    .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::NOHANG);
                }
                (
                    "exited (adopted process: status unknown)".to_string(),
                    false,
                )
            }
        }
    };
    tokio::pin!(wait);
    // The memory limit the agent holds when no cgroup does: past it, killed (and restarted
    // with backoff), as the OOM killer would.
    let over_memory = async {
        if rss_limit == 0 {
            return std::future::pending().await;
        }
        loop {
            tokio::time::sleep(crate::limits::RSS_CHECK).await;
            // Still the bot (an adopted one's pid could have been reused since it went).
            if let Some(rss) = crate::limits::rss_bytes(pid).filter(|r| *r > rss_limit)
                && is_bot_process(pid, config)
            {
                return rss;
            }
        }
    };
    tokio::select! {
        (how, clean) = &mut wait => Ended::Exit(how, clean),
        rss = over_memory => {
            let _ = signal(pid, Signal::KILL);
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut wait).await;
            Ended::Exit(
                format!(
                    "killed: resident memory {} MiB over its limit of {} MiB (resources.memory_mb)",
                    rss >> 20,
                    rss_limit >> 20
                ),
                false,
            )
        }
        _ = stop_requested(stop_rx) => {
            let _ = signal(pid, Signal::TERM);
            if tokio::time::timeout(STOP_GRACE, &mut wait).await.is_err() {
                let _ = signal(pid, Signal::KILL);
                let _ = tokio::time::timeout(Duration::from_secs(5), &mut wait).await;
            }
            Ended::StopRequested
        }
    }
}

async fn run_unit(
    spec: BotSpec,
    adopted: Option<u32>,
    info: Arc<Mutex<Instance>>,
    mut stop_rx: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    let mut next_adopted = adopted;
    loop {
        let started = Instant::now();
        let (child, pid, rss_limit) = match next_adopted.take() {
            // An adopted bot: the limits of the spec it was started with.
            Some(pid) => (None, pid, crate::limits::prepare(&spec).rss_limit),
            // A bot that fails over is not started past its fencing lease (it would exit at
            // once): it waits for its agent to start it again.
            None if spec
                .fence_file
                .as_deref()
                .is_some_and(crate::agent::fence::lapsed) =>
            {
                set(&info, |i| {
                    i.state = UnitState::Exited {
                        last_exit: "fenced: its lease lapsed; not restarted".into(),
                    };
                    i.pid = None;
                });
                return;
            }
            None => match spawn(&spec) {
                Ok((c, rss_limit)) => {
                    let pid = c.id().unwrap_or(0);
                    (Some(c), pid, rss_limit)
                }
                Err(e) => {
                    failures += 1;
                    let last_exit = format!("could not start {}: {e}", spec.exe.display());
                    tracing::error!(bot_id = %spec.bot_id, error = %last_exit, "bot start failed");
                    if !restart_after_backoff(&info, &mut stop_rx, last_exit, failures).await {
                        return;
                    }
                    continue;
                }
            },
        };
        set(&info, |i| {
            i.state = UnitState::Running;
            i.pid = Some(pid);
        });
        match watch_run(child, pid, rss_limit, &spec.config_path, &mut stop_rx).await {
            Ended::StopRequested => {
                let _ = std::fs::remove_file(ProcessBackend::pid_file(&spec));
                set(&info, |i| {
                    i.state = UnitState::Stopped;
                    i.pid = None;
                });
                return;
            }
            Ended::Exit(last_exit, true) => {
                tracing::warn!(bot_id = %spec.bot_id, %last_exit, "bot exited cleanly; not restarted");
                set(&info, |i| {
                    i.state = UnitState::Exited { last_exit };
                    i.pid = None;
                });
                return;
            }
            Ended::Exit(last_exit, false) => {
                failures = if started.elapsed() < SHORT_RUN {
                    failures + 1
                } else {
                    1
                };
                tracing::error!(bot_id = %spec.bot_id, %last_exit, failures, "bot failed; restarting after a backoff");
                set(&info, |i| i.restarts += 1);
                if !restart_after_backoff(&info, &mut stop_rx, last_exit, failures).await {
                    return;
                }
            }
        }
    }
}

/// Shows the unit as restarting and waits out the backoff of `failures`; `false` (the unit
/// then stopped) when a stop is requested meanwhile.
async fn restart_after_backoff(
    info: &Mutex<Instance>,
    stop_rx: &mut watch::Receiver<bool>,
    last_exit: String,
    failures: u32,
) -> bool {
    let delay = backoff(failures);
    set(info, |i| {
        i.state = UnitState::Restarting {
            last_exit,
            failures,
            delay_ms: delay.as_millis() as u64,
        };
        i.pid = None;
    });
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = stop_requested(stop_rx) => {
            set(info, |i| i.state = UnitState::Stopped);
            false
        }
    }
}

#[async_trait]
impl Backend for ProcessBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    async fn adopt(&self, spec: &BotSpec) -> Result<bool, BackendError> {
        let pid = crate::files::read_small_file(&Self::pid_file(spec), 64)
            .and_then(|s| s.trim().parse::<u32>().ok());
        match pid {
            Some(pid) if is_bot_process(pid, &spec.config_path) => {
                self.supervise(spec, Some(pid)).await;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn start(&self, spec: &BotSpec) -> Result<(), BackendError> {
        if let Some(i) = self.instance(&spec.unit_key()).await
            && !matches!(i.state, UnitState::Stopped | UnitState::Exited { .. })
        {
            return Err(Self::err(&spec.bot_id, "already running"));
        }
        self.supervise(spec, None).await;
        Ok(())
    }

    async fn stop(&self, key: &str) -> Result<(), BackendError> {
        let unit = self.units.lock().await.remove(key);
        let Some(unit) = unit else {
            return Ok(());
        };
        let _ = unit.stop.send(true);
        unit.task
            .await
            .map_err(|e| Self::err(key, format!("supervisor task: {e}")))
    }

    async fn kill(&self, key: &str) -> Result<(), BackendError> {
        if let Some(pid) = self.instance(key).await.and_then(|i| i.pid) {
            // Its supervisor sees it end and, asked to stop at once, does not start it again.
            let _ = signal(pid, Signal::KILL);
        }
        self.stop(key).await
    }

    async fn reload(&self, key: &str) -> Result<(), BackendError> {
        let pid = self
            .instance(key)
            .await
            .and_then(|i| i.pid)
            .ok_or_else(|| Self::err(key, "not running: nothing to reload"))?;
        signal(pid, Signal::HUP).map_err(|e| Self::err(key, format!("SIGHUP to {pid}: {e}")))
    }

    async fn restart(&self, spec: &BotSpec) -> Result<(), BackendError> {
        self.stop(&spec.unit_key()).await?;
        self.supervise(spec, None).await;
        Ok(())
    }

    async fn instance(&self, key: &str) -> Option<Instance> {
        crate::backend::snapshot(&self.units.lock().await.get(key)?.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(5), Duration::from_secs(4));
        assert_eq!(backoff(9), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn a_foreign_or_missing_pid_is_not_adopted() {
        let me = std::process::id();
        assert!(!is_bot_process(me, Path::new("/nonexistent/config.json")));
        assert!(!is_bot_process(u32::MAX - 1, Path::new("/x")));
    }
}
