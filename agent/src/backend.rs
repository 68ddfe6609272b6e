//! What a supervisor backend does for the agent: start, stop, reload, restart and report one bot
//! per unit, and re-adopt the bots a previous agent left running.

use std::path::PathBuf;

use async_trait::async_trait;

/// The unprivileged account bots run as.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BotUser {
    /// User name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
    /// That group's name (its number when `/etc/group` does not name it).
    pub group: String,
}

impl BotUser {
    /// The account `name` as `/etc/passwd` lists it.
    pub fn lookup(name: &str) -> Option<Self> {
        let mut user = Self::from_passwd(&std::fs::read_to_string("/etc/passwd").ok()?, name)?;
        if let Some(group) = std::fs::read_to_string("/etc/group")
            .ok()
            .and_then(|groups| group_name(&groups, user.gid))
        {
            user.group = group;
        }
        Some(user)
    }

    /// The account `name` in a passwd file's text.
    pub fn from_passwd(passwd: &str, name: &str) -> Option<Self> {
        passwd.lines().find_map(|line| {
            let mut fields = line.split(':');
            (fields.next()? == name).then_some(())?;
            let _password = fields.next()?;
            let uid = fields.next()?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some(Self {
                name: name.to_string(),
                uid,
                gid,
                group: gid.to_string(),
            })
        })
    }

    /// Gives `path` to this user (the agent writes a bot's files as itself).
    pub fn own(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid))
    }
}

pub use sniperforge_host::files::open_regular;

/// This process's effective uid (0: root).
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The name `/etc/group`'s text gives `gid`.
fn group_name(groups: &str, gid: u32) -> Option<String> {
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        (fields.next()?.parse::<u32>().ok()? == gid).then(|| name.to_string())
    })
}

/// Everything a backend needs to run one bot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BotSpec {
    /// Bot id (letters, digits, '-' and '_': safe in unit and job names).
    pub bot_id: String,
    /// The `sniperforge` binary.
    pub exe: PathBuf,
    /// Configuration file the bot reads at start and on SIGHUP.
    pub config_path: PathBuf,
    /// Persisted state (daily PnL).
    pub state_dir: PathBuf,
    /// Where its stdout and stderr go (appended).
    pub log_path: PathBuf,
    /// Control endpoint port on 127.0.0.1.
    pub control_port: u16,
    /// Cores it is pinned to (empty: any).
    pub cores: Vec<usize>,
    /// The node's cores that no bot reserves (nor the kernel isolates), as of its start: where
    /// its threads off the hot path run (`--shared-cores`; systemd's `CPUAffinity` is its
    /// reserved cores and these). Empty: not pinned, or none left.
    #[serde(default)]
    pub shared_cores: Vec<usize>,
    /// Memory limit, MiB (0: none).
    pub memory_mb: u64,
    /// CPU quota, percent of one core (`None`: none).
    #[serde(default)]
    pub cpu_quota_percent: Option<u32>,
    /// Feed arguments (`--feed sim`, or `--feed solana --rpc-url … --markets …`).
    pub feed_args: Vec<String>,
    /// Simulator seed.
    pub seed: u64,
    /// The control endpoint's secret (the agent makes one per launch; it is written to
    /// [`BotSpec::control_secret_path`] for the bot and kept in the agent's own record, never
    /// on a command line). Empty for records of agents before it: such bots are asked without.
    #[serde(default)]
    pub control_secret: String,
    /// The account the bot runs as (`None`: the agent's own).
    #[serde(default)]
    pub user: Option<BotUser>,
    /// Which instance of the bot this is: 0 for the first, then one more for each instance a
    /// warm handover starts beside the running one (they run side by side for a moment).
    #[serde(default)]
    pub instance: u32,
    /// Its environment (`None` in records of agents before it): the Nomad namespace its job
    /// goes to.
    #[serde(default)]
    pub environment: Option<sniperforge_protocol::Environment>,
    /// Where the bot reads its fencing lease's end (a bot that fails over; `--fence-file`):
    /// it stops once that time has passed, or when the file is gone.
    #[serde(default)]
    pub fence_file: Option<PathBuf>,
}

impl BotSpec {
    /// The supervisor's name for this instance: the bot id for instance 0, `<bot_id>.<n>` for
    /// instance n (no bot id has a '.', so no two collide).
    pub fn unit_key(&self) -> String {
        if self.instance == 0 {
            self.bot_id.clone()
        } else {
            format!("{}.{}", self.bot_id, self.instance)
        }
    }

    /// Arguments after the binary: `bot --config … --control-addr … --feed … --state-dir … --seed …`.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "bot".into(),
            "--config".into(),
            self.config_path.display().to_string(),
            "--control-addr".into(),
            format!("127.0.0.1:{}", self.control_port),
        ];
        args.extend(self.feed_args.iter().cloned());
        args.extend([
            "--state-dir".into(),
            self.state_dir.display().to_string(),
            "--seed".into(),
            self.seed.to_string(),
        ]);
        if !self.control_secret.is_empty() {
            args.push("--control-secret-file".into());
            args.push(self.control_secret_path().display().to_string());
        }
        if let Some(fence) = &self.fence_file {
            args.push("--fence-file".into());
            args.push(fence.display().to_string());
        }
        if !self.cores.is_empty() && !self.shared_cores.is_empty() {
            args.push("--shared-cores".into());
            let list: Vec<String> = self.shared_cores.iter().map(usize::to_string).collect();
            args.push(list.join(","));
        }
        args
    }

    /// Whether `other` runs the same way (everything but the control secret, which a start
    /// renews and which lives in a file).
    pub fn same_job(&self, other: &Self) -> bool {
        let mut a = self.clone();
        a.control_secret.clone_from(&other.control_secret);
        a == *other
    }

    /// Where the bot reads its control secret: in its state directory, one file per instance
    /// (`control.secret`, then `control.<n>.secret`: a handover's two instances each have
    /// their own, and a supervisor's restart of either reads its own again).
    pub fn control_secret_path(&self) -> PathBuf {
        if self.instance == 0 {
            self.state_dir
                .join(sniperforge_host::files::CONTROL_SECRET_FILE)
        } else {
            self.state_dir
                .join(format!("control.{}.secret", self.instance))
        }
    }

    /// Writes the control secret for the bot to read (0600, replacing whatever is there, a
    /// planted symlink included); nothing when the spec has none.
    pub fn write_control_secret(&self) -> std::io::Result<()> {
        if self.control_secret.is_empty() {
            return Ok(());
        }
        self.prepare_state_dir()?;
        sniperforge_host::files::write_control_secret_for(
            &self.control_secret_path(),
            &self.control_secret,
            self.user.as_ref().map(|u| (u.uid, u.gid)),
        )
    }

    /// Creates the bot's state directory and gives it to the bot's account (its parent stays
    /// the agent's, traversable only).
    pub fn prepare_state_dir(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.state_dir)?;
        if let Some(user) = &self.user {
            use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
            // `<data>/bots` readable (the portfolio manager lists its siblings; every bot
            // directory in it is its own account's, 0700) and `<data>` traversable when the
            // agent owns it.
            if let Some(bots) = self.state_dir.parent() {
                std::fs::set_permissions(bots, std::fs::Permissions::from_mode(0o755))?;
                if let Some(data) = bots.parent()
                    && let Ok(m) = std::fs::metadata(data)
                    && m.uid() == effective_uid()
                    && m.mode() & 0o011 != 0o011
                {
                    std::fs::set_permissions(
                        data,
                        std::fs::Permissions::from_mode((m.mode() & 0o7777) | 0o011),
                    )?;
                }
            }
            user.own(&self.state_dir)?;
        }
        Ok(())
    }

    /// Gives a file the agent wrote for the bot to the bot's account (no-op without one),
    /// through a descriptor opened without following a symlink, and only a regular file: a
    /// link the bot planted is never given away.
    pub fn give(&self, path: &std::path::Path) -> std::io::Result<()> {
        let Some(user) = &self.user else {
            return Ok(());
        };
        let file = open_regular(path)?;
        std::os::unix::fs::fchown(&file, Some(user.uid), Some(user.gid))
    }

    /// The secret to present to the bot's control endpoint (`None` for bots started without).
    pub fn control_token(&self) -> Option<&str> {
        (!self.control_secret.is_empty()).then_some(self.control_secret.as_str())
    }
}

/// A unit's state as its supervisor sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum UnitState {
    /// Started, process alive.
    Running,
    /// Exited with a failure; the supervisor starts it again after `delay_ms`.
    Restarting {
        /// How it last ended.
        last_exit: String,
        /// Consecutive failures.
        failures: u32,
        /// Wait before the next start.
        delay_ms: u64,
    },
    /// Not running and not coming back by itself (a clean exit, or the supervisor gave up).
    Exited {
        /// How it ended.
        last_exit: String,
    },
    /// Stopped on request.
    Stopped,
}

/// One unit's state and process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Instance {
    /// State.
    #[serde(flatten)]
    pub state: UnitState,
    /// Main process id, when running.
    pub pid: Option<u32>,
    /// Restarts done by the supervisor since the agent started it.
    pub restarts: u32,
}

/// Whether `backend` runs the instance `unit` now (its process alive, as its supervisor sees it).
pub async fn is_running(backend: &dyn Backend, unit: &str) -> bool {
    matches!(
        backend.instance(unit).await,
        Some(Instance {
            state: UnitState::Running,
            ..
        })
    )
}

/// A copy of a unit's instance shared with its watcher task.
pub(crate) fn snapshot(info: &std::sync::Mutex<Instance>) -> Option<Instance> {
    info.lock().ok().map(|i| i.clone())
}

/// A backend operation failed: names the bot and what.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{backend} backend, bot {bot_id}: {message}")]
pub struct BackendError {
    /// Backend name.
    pub backend: &'static str,
    /// Bot.
    pub bot_id: String,
    /// What went wrong.
    pub message: String,
}

/// A supervisor that runs bots: child processes, systemd units, Nomad jobs.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// `process`, `systemd` or `nomad`.
    fn name(&self) -> &'static str;
    /// Takes over a bot a previous agent started, without restarting it; `false` when it is not
    /// running (the agent then starts it).
    async fn adopt(&self, spec: &BotSpec) -> Result<bool, BackendError>;
    /// Starts a bot (restarted on failure by the supervisor, with backoff).
    async fn start(&self, spec: &BotSpec) -> Result<(), BackendError>;
    /// Stops a bot instance gracefully (SIGTERM, then SIGKILL after a grace period); `unit` is
    /// its [`BotSpec::unit_key`].
    async fn stop(&self, unit: &str) -> Result<(), BackendError>;
    /// Stops a bot instance that does not answer at once (SIGKILL, no grace: a hung instance
    /// holding its trading lease keeps the new one from trading until it is gone).
    async fn kill(&self, unit: &str) -> Result<(), BackendError> {
        self.stop(unit).await
    }
    /// Asks a running bot instance to re-read its configuration file (SIGHUP).
    async fn reload(&self, unit: &str) -> Result<(), BackendError>;
    /// Stops and starts a bot with `spec` (cold: the agent hands over warm instead where the
    /// backend runs two instances side by side, [`Backend::side_by_side`]).
    async fn restart(&self, spec: &BotSpec) -> Result<(), BackendError>;
    /// The unit's state; `None` when the backend does not know the instance.
    async fn instance(&self, unit: &str) -> Option<Instance>;
    /// Whether the agent may run a second instance of a bot beside the first (a warm handover
    /// it drives itself); `false` where the scheduler replaces instances its own way (Nomad's
    /// deployments).
    fn side_by_side(&self) -> bool {
        true
    }
    /// The control port the supervisor gave the instance, where it picks one (Nomad's dynamic
    /// ports: 0 until placed); `None` where the agent picks it (the spec's port).
    fn control_port(&self, _unit: &str) -> Option<u16> {
        None
    }
    /// How the scheduler's deployment of the version a [`Backend::restart`] registered is
    /// going, where it deploys (Nomad); `None` where it does not, or before it has one.
    async fn deployment(&self, _unit: &str) -> Option<DeployState> {
        None
    }
}

/// How a scheduler's deployment of a new version is going (Nomad's canary, promoted once
/// healthy, reverted when not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployState {
    /// Placed, not yet promoted (or not yet placed).
    Running,
    /// The new version runs and the old one is stopped.
    Successful,
    /// Not healthy in time (or failed): the old version runs again; the scheduler's words.
    Failed(String),
}
