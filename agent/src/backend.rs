//! What a supervisor backend does for the agent: start, stop, reload, restart and report one bot
//! per unit, and re-adopt the bots a previous agent left running.

use std::path::PathBuf;

use async_trait::async_trait;

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
    /// Memory limit, MiB (0: none).
    pub memory_mb: u64,
    /// Feed arguments (`--feed sim`, or `--feed solana --rpc-url … --markets …`).
    pub feed_args: Vec<String>,
    /// Simulator seed.
    pub seed: u64,
    /// The control endpoint's secret (the agent makes one per launch; it is written to
    /// [`BotSpec::control_secret_path`] for the bot and kept in the agent's own record, never
    /// on a command line). Empty for records of agents before it: such bots are asked without.
    #[serde(default)]
    pub control_secret: String,
}

impl BotSpec {
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
        args
    }

    /// Where the bot reads its control secret: in its state directory.
    pub fn control_secret_path(&self) -> PathBuf {
        self.state_dir
            .join(sniperforge_bots::process::CONTROL_SECRET_FILE)
    }

    /// Writes the control secret for the bot to read (0600, replacing whatever is there, a
    /// planted symlink included); nothing when the spec has none.
    pub fn write_control_secret(&self) -> std::io::Result<()> {
        if self.control_secret.is_empty() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.state_dir)?;
        sniperforge_bots::process::write_control_secret(
            &self.control_secret_path(),
            &self.control_secret,
        )
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
    /// Stops a bot gracefully (SIGTERM, then SIGKILL after a grace period).
    async fn stop(&self, bot_id: &str) -> Result<(), BackendError>;
    /// Asks a running bot to re-read its configuration file (SIGHUP).
    async fn reload(&self, bot_id: &str) -> Result<(), BackendError>;
    /// Stops and starts a bot with `spec`.
    async fn restart(&self, spec: &BotSpec) -> Result<(), BackendError>;
    /// The unit's state; `None` when the backend does not know the bot.
    async fn instance(&self, bot_id: &str) -> Option<Instance>;
}
