//! The reconcile loop: the gateway's desired state for this node in, running bots out, and every
//! second a report of each bot's state, metrics, interval histograms and new log lines.
//!
//! Files under the data directory: `bots/<id>/config.json` (what the bot reads),
//! `bots/<id>/bot.log` (its output), `bots/<id>/control.secret` (its control endpoint's
//! secret), `agent/bots/<id>.json` (what this agent applied: spec, config version, restart
//! generation; written before the bot is started, so a bot never runs without its record) and
//! `agent/desired.json` (the last desired state, so a restarted agent with the gateway down keeps
//! the fleet as it was). Records live in a directory of their own: no bot id collides with the
//! agent's other files (a bot named `desired` once shared its record with the desired state).

use std::collections::HashMap;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use sniperforge_protocol::fleet::HandoverTrigger;

use crate::backend::{Backend, BotSpec, Instance, UnitState};
use crate::files::{LogTail, read_config_file, write_atomic};
use crate::gateway::{Desired, DesiredBot, GatewayClient, NodeInfo};
use crate::http::Endpoint;

mod deploy;
pub(crate) mod fence;
mod follow;
mod node;
pub use follow::installed_build;
pub use node::{local_node, parse_cpu_list};
mod handover;
mod health;
mod managed;
mod report;

use managed::Managed;

pub use handover::{DRAIN_DEADLINE, READY_DEADLINE};

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Gateway client (URL and token).
    pub gateway: GatewayClient,
    /// This node.
    pub node: NodeInfo,
    /// Root of `bots/` and `agent/`.
    pub data_dir: PathBuf,
    /// The `sniperforge` binary bots run as.
    pub exe: PathBuf,
    /// Feed arguments every bot gets (`--feed sim`, `--feed replay:FILE`, `--feed solana
    /// --rpc-url … --markets …`).
    pub feed_args: Vec<String>,
    /// Simulator seed.
    pub seed: u64,
    /// Between reports (1 s).
    pub report_interval: Duration,
    /// Between heartbeats (5 s).
    pub heartbeat_interval: Duration,
    /// Stop every bot when the agent stops (`sniperforge up`); otherwise they keep running and
    /// the next agent adopts them.
    pub stop_bots_on_exit: bool,
    /// The account bots run as (`None`: the agent's own).
    pub bot_user: Option<crate::backend::BotUser>,
    /// How long a handover's new instance has to load and pass `/health` in standby before
    /// it is stopped and the old one trades on ([`READY_DEADLINE`] by default).
    pub handover_ready: Duration,
    /// Restarts and cold changes stop the running instance before starting the new one
    /// (what `--cold-restarts` asks for: the baseline `bench handover` compares with), rather
    /// than hand over warm.
    pub cold_restarts: bool,
}

/// How often the agent looks for health checks that are due.
const HEALTH_TICK: Duration = Duration::from_millis(100);

/// How long the blocking query waits at the gateway.
const DESIRED_WAIT: Duration = Duration::from_secs(30);
/// Report period right after a desired-state change, and for how long.
const FAST_REPORT: Duration = Duration::from_millis(50);
const FAST_REPORT_WINDOW: Duration = Duration::from_secs(3);
/// Control-endpoint scrape deadline.
const SCRAPE_DEADLINE: Duration = Duration::from_millis(800);

/// What this agent applied to one bot; persisted so a restarted agent adopts it as it is.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Record {
    spec: BotSpec,
    config_version: i64,
    restarts: i64,
    desired_state: sniperforge_protocol::fleet::DesiredState,
    /// A new instance started for a handover that has not finished (a restarted agent
    /// finishes or undoes it).
    #[serde(default)]
    standby: Option<BotSpec>,
    /// How the last handover ended (reported in the bot's status; one this build cannot read
    /// is left out, never the whole record).
    #[serde(default, deserialize_with = "lenient")]
    handover: Option<sniperforge_protocol::fleet::Handover>,
}

/// A value that does not read as `T` reads as `None`.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = <serde_json::Value as serde::Deserialize>::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

/// A bot running this long counts as healthy again (its failure count resets).
const HEALTHY_AFTER_S: u64 = 30;

/// Before a bot is (re)started: a new control secret where `renew` (a secret an earlier
/// instance held, or a process squatting its port while it was down could have seen, dies with
/// that instance; a scheduler's deployment keeps it: the running allocation answers with it
/// until promoted, and again when reverted), the agent's binary and bot account as they are
/// now, the record written first, then the secret file. Returns the spec to start.
fn prepare_start(
    record: &mut Record,
    opts: &AgentOptions,
    records: &Path,
    (shared_cores, renew): (Vec<usize>, bool),
) -> Result<BotSpec, String> {
    if renew || record.spec.control_secret.is_empty() {
        record.spec.control_secret = sniperforge_host::files::new_control_secret()
            .map_err(|e| format!("no randomness for the control secret: {e}"))?;
    }
    record.spec.shared_cores = shared_cores;
    record.spec.exe = opts.exe.clone();
    record.spec.user = opts.bot_user.clone();
    let path = records.join(format!("{}.json", record.spec.bot_id));
    let bytes = serde_json::to_vec_pretty(record).map_err(|e| e.to_string())?;
    write_atomic(&path, &bytes, None)
        .map_err(|e| format!("writing its record {}: {e}", path.display()))?;
    let spec = record.spec.clone();
    spec.write_control_secret().map_err(|e| {
        format!(
            "writing the control secret {}: {e}",
            spec.control_secret_path().display()
        )
    })?;
    if spec.user.is_some() {
        // What an earlier agent (or the bot, when it ran as root) left in its directory
        // becomes its account's: its config, daily PnL, fills journal.
        if let Ok(entries) = std::fs::read_dir(&spec.state_dir) {
            for entry in entries.flatten() {
                // Only regular files, never through a link (give() refuses the rest).
                let _ = spec.give(&entry.path());
            }
        }
    }
    Ok(spec)
}

/// A free loopback port for a control endpoint.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The agent's state: what it manages and through which backend.
#[derive(Debug)]
pub struct Agent {
    opts: AgentOptions,
    backend: Arc<dyn Backend>,
    managed: HashMap<String, Managed>,
    /// Bots the gateway wants that cannot run (invalid config…): why.
    problems: HashMap<String, String>,
    /// Bots stopped since the last report (reported once as stopped).
    stopped: Vec<String>,
    /// The fills journals of bots stopped here (still this node's), until the gateway has
    /// taken the fills they wrote before they stopped.
    draining: HashMap<String, crate::files::FillsTail>,
    /// Whether a desired state has been reconciled yet (until then, draining waits: a bot
    /// stopped here before may be another node's now).
    reconciled: bool,
    /// Bots whose launch failed: failures in a row, when to try again (backoff) and the config
    /// version that failed (a new version is tried at once).
    launch_retry: HashMap<String, (u32, std::time::Instant, i64)>,
    /// The fencing lease of bots that fail over: the last exchange with the gateway (unix ms,
    /// shared with the tasks that talk to it) and the lease's length the gateway gave.
    fence: fence::Lease,
    /// What the gateway has of the node's recordings.
    recordings: crate::backtests::Recordings,
}

impl Agent {
    /// An agent over `backend`; nothing runs until [`Agent::run`].
    pub fn new(opts: AgentOptions, backend: Arc<dyn Backend>) -> Self {
        Self {
            opts,
            backend,
            managed: HashMap::new(),
            problems: HashMap::new(),
            stopped: Vec::new(),
            draining: HashMap::new(),
            reconciled: false,
            launch_retry: HashMap::new(),
            fence: fence::Lease::default(),
            recordings: Default::default(),
        }
    }

    fn agent_dir(&self) -> PathBuf {
        self.opts.data_dir.join("agent")
    }

    fn records_dir(&self) -> PathBuf {
        self.agent_dir().join("bots")
    }

    /// Where the cursor of a bot's fills journal is kept.
    fn fills_cursor(&self, bot_id: &str) -> PathBuf {
        self.agent_dir().join("fills").join(bot_id)
    }

    fn record_path(&self, bot_id: &str) -> PathBuf {
        self.records_dir().join(format!("{bot_id}.json"))
    }

    /// Moves records an earlier agent kept beside `desired.json` into `agent/bots/`.
    fn migrate_records(&self) {
        let Ok(entries) = std::fs::read_dir(self.agent_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let is_record = name
                .strip_suffix(".json")
                .is_some_and(sniperforge_protocol::config::valid_bot_id);
            if name == "desired.json" || !is_record || !path.is_file() {
                continue;
            }
            let _ = std::fs::create_dir_all(self.records_dir());
            let to = self.records_dir().join(&name);
            if let Err(e) = std::fs::rename(&path, &to) {
                tracing::error!(from = %path.display(), to = %to.display(), error = %e, "moving a bot record");
            }
        }
    }

    /// Writes a bot's record; `false` (logged) when it could not be written.
    fn persist(&self, record: &Record) -> bool {
        let path = self.record_path(&record.spec.bot_id);
        match serde_json::to_vec_pretty(record) {
            Ok(bytes) => match write_atomic(&path, &bytes, None) {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "writing the bot record");
                    false
                }
            },
            Err(e) => {
                tracing::error!(error = %e, "encoding the bot record");
                false
            }
        }
    }

    /// Re-adopts the bots a previous agent left running; records whose bot is gone stay, so the
    /// first reconcile starts them again if they are still wanted.
    async fn adopt(&mut self) {
        self.migrate_records();
        self.adopt_records().await;
        self.drain_left_fills();
    }

    /// The fills of bots stopped here before this agent started that the gateway has not taken
    /// yet (their cursors behind their journals): drained like those of a bot stopped now (the
    /// first reconcile keeps only those still this node's).
    fn drain_left_fills(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.agent_dir().join("fills")) else {
            return;
        };
        for entry in entries.flatten() {
            let Some(id) = entry
                .file_name()
                .to_str()
                .filter(|id| sniperforge_protocol::config::valid_bot_id(id))
                .map(str::to_string)
            else {
                continue;
            };
            if self.managed.contains_key(&id) {
                continue;
            }
            let tail = crate::files::FillsTail::open(
                &self
                    .opts
                    .data_dir
                    .join("bots")
                    .join(&id)
                    .join(sniperforge_protocol::fleet::FILLS_JOURNAL),
                &entry.path(),
            );
            if tail.behind() {
                self.draining.insert(id, tail);
            }
        }
    }

    async fn adopt_records(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.records_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let Some(id) = name
                .strip_suffix(".json")
                .filter(|id| sniperforge_protocol::config::valid_bot_id(id))
            else {
                continue;
            };
            let record: Record = match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "unreadable bot record: ignored");
                    continue;
                }
            };
            if record.spec.bot_id != id {
                tracing::error!(path = %path.display(), bot_id = %record.spec.bot_id, "a record under another bot's name: ignored");
                continue;
            }
            let id = record.spec.bot_id.clone();
            match self.backend.adopt(&record.spec).await {
                Ok(true) => {
                    tracing::info!(bot_id = %id, backend = self.backend.name(), "adopted a running bot")
                }
                Ok(false) => tracing::info!(bot_id = %id, "bot of a previous agent is not running"),
                Err(e) => tracing::error!(bot_id = %id, error = %e, "adopting"),
            }
            let log = LogTail::at_end(&record.spec.log_path);
            let interrupted = record.standby.is_some();
            let health = read_config_file(&record.spec.config_path)
                .and_then(|t| sniperforge_protocol::config::parse(&t).ok())
                .map_or(sniperforge_protocol::HealthPolicy::DEFAULT, |v| {
                    v.config.health
                });
            self.draining.remove(&id);
            self.managed.insert(
                id.clone(),
                Managed::new(record, log, &self.fills_cursor(&id)).with_health(health),
            );
            if interrupted {
                self.finish_interrupted(&id).await;
            }
        }
    }

    /// The cores this agent may use that no other managed bot reserves, `cores` (the bot's own
    /// reservation) does not list and the kernel does not isolate: where bot `bot_id` runs its
    /// threads off the hot path. Taken at each start: a bot that later reserves one of them
    /// shares it with the others' executor and control threads until they restart.
    fn shared_cores(&self, bot_id: &str, cores: &[usize]) -> Vec<usize> {
        let node = &self.opts.node;
        sniperforge_host::cpus::allowed_cores()
            .iter()
            .copied()
            .filter(|c| !cores.contains(c))
            .filter(|c| !node.isolated_cores.iter().any(|i| *i as usize == *c))
            .filter(|c| {
                !self
                    .managed
                    .iter()
                    .any(|(id, m)| id != bot_id && m.record.spec.cores.contains(c))
            })
            .collect()
    }

    fn spec_for(
        &self,
        d: &DesiredBot,
        config: &sniperforge_protocol::BotConfig,
        port: u16,
    ) -> BotSpec {
        let dir = self.opts.data_dir.join("bots").join(&config.bot_id);
        BotSpec {
            bot_id: config.bot_id.clone(),
            exe: self.opts.exe.clone(),
            config_path: dir.join("config.json"),
            state_dir: dir.clone(),
            // The bot's output goes where the bot cannot plant a symlink (systemd and the
            // process backend open it as the agent's user); a Nomad bot opens its own.
            log_path: if self.backend.name() == "nomad" {
                dir.join("bot.log")
            } else {
                self.opts
                    .data_dir
                    .join("logs")
                    .join(format!("{}.log", config.bot_id))
            },
            control_port: port,
            cores: config.resources.cores.clone(),
            shared_cores: self.shared_cores(&config.bot_id, &config.resources.cores),
            memory_mb: config.resources.memory_mb,
            cpu_quota_percent: config.resources.cpu_quota_percent,
            feed_args: self.opts.feed_args.clone(),
            seed: self.opts.seed,
            control_secret: sniperforge_host::files::new_control_secret().unwrap_or_default(),
            user: self.opts.bot_user.clone(),
            instance: 0,
            environment: Some(config.environment),
            fence_file: d
                .failover
                .then(|| fence::path(&self.opts.data_dir, &config.bot_id)),
        }
    }

    /// Checks a desired bot's configuration (and that this node has the cores it reserves);
    /// `Err` says why it cannot run.
    fn validate(&self, d: &DesiredBot) -> Result<sniperforge_protocol::ValidatedConfig, String> {
        let body = d
            .config
            .as_ref()
            .ok_or_else(|| format!("no configuration (version {})", d.config_version))?;
        let valid = sniperforge_protocol::config::validate(body).map_err(|errs| {
            format!(
                "configuration version {} is invalid: {}",
                d.config_version,
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        if valid.config.bot_id != d.bot_id {
            return Err(format!(
                "configuration version {} names bot {}",
                d.config_version, valid.config.bot_id
            ));
        }
        // The gateway sends a node only bots of the environments it serves; one that is not is
        // refused here too, whoever sent it.
        if let Some(served) = &self.opts.node.environments
            && !served.contains(&valid.config.environment)
        {
            return Err(format!(
                "bot {} is {}; this node serves {} (--environments)",
                d.bot_id,
                valid.config.environment,
                sniperforge_protocol::Environment::join(served)
            ));
        }
        let cores = self.opts.node.cores as usize;
        let missing: Vec<usize> = valid
            .config
            .resources
            .cores
            .iter()
            .copied()
            .filter(|c| *c >= cores)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "configuration version {}: resources.cores {:?}: node {} has cores 0-{}",
                d.config_version,
                missing,
                self.opts.node.node_id,
                cores.saturating_sub(1)
            ));
        }
        self.ledger_check(d.bot_id.as_str(), &valid.config.resources.cores)?;
        Ok(valid)
    }

    async fn launch(&mut self, d: &DesiredBot) -> Result<(), String> {
        let valid = self.validate(d)?;
        // Where the supervisor picks the port (Nomad's dynamic ports), none until it has.
        let port = match self.backend.control_port(d.bot_id.as_str()) {
            Some(port) => port,
            None => free_port().map_err(|e| format!("no free control port: {e}"))?,
        };
        let spec = self.spec_for(d, &valid.config, port);
        if spec.control_secret.is_empty() {
            return Err("no randomness for the bot's control secret (/dev/urandom)".into());
        }
        let body = serde_json::to_vec_pretty(&valid.config).map_err(|e| e.to_string())?;
        spec.prepare_state_dir()
            .map_err(|e| format!("preparing {}: {e}", spec.state_dir.display()))?;
        write_atomic(&spec.config_path, &body, spec.user.as_ref())
            .map_err(|e| format!("writing {}: {e}", spec.config_path.display()))?;
        spec.write_control_secret().map_err(|e| {
            format!(
                "writing the control secret {}: {e}",
                spec.control_secret_path().display()
            )
        })?;
        self.fence.arm(&spec)?;
        let log = LogTail::at_end(&spec.log_path);
        // The record first: an agent that dies right after the start finds it and adopts the
        // bot, never starting a second one.
        let record = Record {
            spec,
            config_version: d.config_version,
            restarts: d.restarts,
            desired_state: d.desired_state,
            standby: None,
            handover: None,
        };
        if !self.persist(&record) {
            return Err(format!(
                "cannot write its record {}",
                self.record_path(d.bot_id.as_str()).display()
            ));
        }
        if let Err(e) = self.backend.start(&record.spec).await {
            let _ = std::fs::remove_file(self.record_path(d.bot_id.as_str()));
            return Err(e.to_string());
        }
        tracing::info!(bot_id = %d.bot_id, port, config_version = d.config_version, "started");
        // Its new tail starts from the cursor the draining one kept.
        self.draining.remove(d.bot_id.as_str());
        self.managed.insert(
            d.bot_id.to_string(),
            Managed::new(record, log, &self.fills_cursor(d.bot_id.as_str()))
                .with_health(valid.config.health),
        );
        Ok(())
    }

    /// Writes a new configuration version and applies it: SIGHUP when every change is hot,
    /// a warm handover otherwise (a cold restart where the backend runs one instance at a
    /// time). A handover that rolls back puts the previous file back and holds the version.
    async fn apply_config(&mut self, d: &DesiredBot) -> Result<(), String> {
        let valid = self.validate(d)?;
        let shared = self.shared_cores(&d.bot_id, &valid.config.resources.cores);
        let warm = self.warm();
        let Some(m) = self.managed.get_mut(d.bot_id.as_str()) else {
            return Ok(());
        };
        // What the running instance runs (its file may hold a version it never applied, after
        // an agent stopped mid-handover), else its file.
        let is_running =
            crate::backend::is_running(&*self.backend, &m.record.spec.unit_key()).await;
        let running_config = if is_running {
            handover::Control(&m.record.spec).running_config().await
        } else {
            None
        };
        let old_text = running_config.or_else(|| read_config_file(&m.record.spec.config_path));
        let old = old_text
            .as_ref()
            .and_then(|t| sniperforge_protocol::config::parse(t).ok());
        let changes = old
            .as_ref()
            .map(|o| sniperforge_protocol::changes(o, &valid));
        let cold: Vec<String> = match &changes {
            Some(c) => c
                .iter()
                .filter(|c| !c.hot)
                .map(|c| c.path.clone())
                .collect(),
            None => vec!["(previous file unreadable)".into()],
        };
        let body = serde_json::to_vec_pretty(&valid.config).map_err(|e| e.to_string())?;
        let spec = &m.record.spec;
        write_atomic(&spec.config_path, &body, spec.user.as_ref())
            .map_err(|e| format!("writing {}: {e}", spec.config_path.display()))?;
        let mut next = m.record.spec.clone();
        next.cores = valid.config.resources.cores.clone();
        next.shared_cores = shared.clone();
        next.memory_mb = valid.config.resources.memory_mb;
        let running = is_running;
        if !running {
            // Not up: it reads the new file when it starts.
            m.record.spec = next;
        } else if cold.is_empty() {
            m.record.spec = next;
            self.backend
                .reload(&m.record.spec.unit_key())
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(bot_id = %d.bot_id, version = d.config_version, "configuration applied hot (SIGHUP)");
        } else if !warm || (old.as_ref().is_some_and(|o| o.params.live()) && !valid.params.live()) {
            // Cold where the backend runs one instance at a time, and where the change turns
            // live trading off: that one must not wait for a new instance's health (a rollback
            // would keep the live one trading).
            let live_off = old.as_ref().is_some_and(|o| o.params.live()) && !valid.params.live();
            let previous = m.record.spec.clone();
            m.record.spec = next;
            if live_off && !self.backend.side_by_side() {
                // A scheduler's canary would leave the live allocation trading until promoted,
                // and for good if reverted: stopped first, then started anew.
                let unit = m.record.spec.unit_key();
                self.backend.stop(&unit).await.map_err(|e| e.to_string())?;
                self.backend
                    .start(&m.record.spec)
                    .await
                    .map_err(|e| e.to_string())?;
            } else {
                self.backend
                    .restart(&m.record.spec)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            if !self.backend.side_by_side() && !live_off {
                let cause = format!(
                    "configuration version {} changes {}",
                    d.config_version,
                    cold.join(", ")
                );
                // Only a configuration that parses is put back should the deployment fail.
                let text = old_text.filter(|_| old.is_some());
                let running = m.record.config_version;
                let health = old.as_ref().map(|o| o.config.health);
                m.deploying = Some(
                    deploy::Deploying::new(
                        HandoverTrigger::Config,
                        cause,
                        text,
                        running,
                        d.config_version,
                    )
                    .restoring(previous, health),
                );
            }
            tracing::info!(bot_id = %d.bot_id, version = d.config_version, restart_for = ?cold, "configuration applied by restart");
        } else {
            let next = self.next_instance(&next, shared)?;
            let cause = format!(
                "configuration version {} changes {}",
                d.config_version,
                cold.join(", ")
            );
            let h = self
                .hand_over(
                    &d.bot_id,
                    next,
                    sniperforge_protocol::fleet::HandoverTrigger::Config,
                    &cause,
                    handover::Old::Keep,
                )
                .await?;
            if h.outcome == sniperforge_protocol::fleet::HandoverOutcome::RolledBack {
                let Some(m) = self.managed.get_mut(d.bot_id.as_str()) else {
                    return Ok(());
                };
                // The running instance's file again (what it re-reads on SIGHUP or a
                // supervisor's restart), and this version is not tried again by itself.
                if let (Some(text), Some(_)) = (&old_text, &old) {
                    let spec = &m.record.spec;
                    write_atomic(&spec.config_path, text.as_bytes(), spec.user.as_ref())
                        .map_err(|e| format!("restoring {}: {e}", spec.config_path.display()))?;
                }
                m.held_version = Some(d.config_version);
                m.held_reason = h.reason.unwrap_or_default();
                return Ok(());
            }
        }
        let Some(m) = self.managed.get_mut(d.bot_id.as_str()) else {
            return Ok(());
        };
        // Only once applied: a failed reload or restart is tried again at the next reconcile.
        m.record.config_version = d.config_version;
        m.health = valid.config.health;
        m.held_version = None;
        let record = m.record.clone();
        self.persist(&record);
        Ok(())
    }

    /// Converges the node to `desired`.
    pub async fn reconcile(&mut self, desired: &Desired) {
        self.fence.set_length(desired.fence_ms);
        let wanted: HashMap<&str, &DesiredBot> = desired
            .bots
            .iter()
            .filter(|b| b.desired_state.has_process())
            .map(|b| (b.bot_id.as_str(), b))
            .collect();
        self.problems
            .retain(|id, _| wanted.contains_key(id.as_str()));
        // A stopped bot no longer this node's (deleted, or placed elsewhere) is not reported
        // from here: the gateway would refuse the whole report for another node's bot.
        self.draining
            .retain(|id, _| desired.bots.iter().any(|b| b.bot_id.as_str() == id));
        self.reconciled = true;
        self.launch_retry
            .retain(|id, _| wanted.contains_key(id.as_str()));
        let extra: Vec<String> = self
            .managed
            .keys()
            .filter(|id| !wanted.contains_key(id.as_str()))
            .cloned()
            .collect();
        for id in extra {
            let key = self
                .managed
                .get(&id)
                .map_or(id.clone(), |m| m.record.spec.unit_key());
            match self.backend.stop(&key).await {
                Ok(()) => {
                    tracing::info!(bot_id = %id, "stopped (no longer desired here)");
                    let _ = std::fs::remove_file(self.record_path(&id));
                    // A bot stopped on this node ships the fills it wrote before it stopped; one
                    // gone elsewhere (or deleted) is no longer this node's to report.
                    if let Some(m) = self.managed.remove(&id)
                        && desired.bots.iter().any(|b| b.bot_id.as_str() == id)
                    {
                        self.draining.insert(id.clone(), m.fills);
                    }
                    self.stopped.push(id);
                }
                Err(e) => tracing::error!(bot_id = %id, error = %e, "stopping"),
            }
        }
        for d in wanted.values() {
            let result = match self.managed.get(d.bot_id.as_str()) {
                None => {
                    let now = std::time::Instant::now();
                    if self
                        .launch_retry
                        .get(d.bot_id.as_str())
                        .is_some_and(|(_, at, v)| now < *at && *v == d.config_version)
                    {
                        continue;
                    }
                    let r = self.launch(d).await;
                    if r.is_err() {
                        let failures =
                            self.launch_retry.get(d.bot_id.as_str()).map_or(0, |f| f.0) + 1;
                        let at = now + crate::process::backoff(failures);
                        self.launch_retry
                            .insert(d.bot_id.to_string(), (failures, at, d.config_version));
                    } else {
                        self.launch_retry.remove(d.bot_id.as_str());
                    }
                    r
                }
                Some(m) => {
                    let mut r = Ok(());
                    // A scheduler's deployment under way: the next change waits for its
                    // outcome (a revert puts the running version's file back).
                    if d.config_version != m.record.config_version
                        && m.held_version != Some(d.config_version)
                        && m.deploying.is_none()
                    {
                        r = self.apply_config(d).await;
                    }
                    if r.is_ok() {
                        r = self.converge_running(d).await;
                    }
                    r
                }
            };
            match result {
                Ok(()) => {
                    self.problems.remove(d.bot_id.as_str());
                }
                Err(why) => {
                    if self.problems.get(d.bot_id.as_str()) != Some(&why) {
                        tracing::error!(bot_id = %d.bot_id, error = %why, "cannot run bot");
                    }
                    self.problems.insert(d.bot_id.to_string(), why);
                }
            }
        }
    }

    /// Restart requests and bots that are not running although wanted.
    async fn converge_running(&mut self, d: &DesiredBot) -> Result<(), String> {
        let cores = self
            .managed
            .get(d.bot_id.as_str())
            .map(|m| m.record.spec.cores.clone())
            .unwrap_or_default();
        let shared = self.shared_cores(&d.bot_id, &cores);
        let warm = self.warm();
        let Some(m) = self.managed.get_mut(d.bot_id.as_str()) else {
            return Ok(());
        };
        m.record.desired_state = d.desired_state;
        let records = self.opts.data_dir.join("agent").join("bots");
        if d.restarts > m.record.restarts && m.deploying.is_none() {
            let before = m.record.restarts;
            m.record.restarts = d.restarts;
            m.held_version = None;
            let running =
                crate::backend::is_running(&*self.backend, &m.record.spec.unit_key()).await;
            if running && warm {
                let current = m.record.spec.clone();
                let next = self.next_instance(&current, shared)?;
                let cause = format!("restart requested (generation {})", d.restarts);
                self.hand_over(
                    &d.bot_id,
                    next,
                    sniperforge_protocol::fleet::HandoverTrigger::Restart,
                    &cause,
                    handover::Old::Keep,
                )
                .await?;
                return Ok(());
            }
            let renew = self.backend.side_by_side();
            let spec = prepare_start(&mut m.record, &self.opts, &records, (shared.clone(), renew))?;
            self.backend
                .restart(&spec)
                .await
                .map_err(|e| e.to_string())?;
            if !renew {
                let cause = format!("restart requested (generation {})", d.restarts);
                let v = m.record.config_version;
                m.deploying = Some(
                    deploy::Deploying::new(HandoverTrigger::Restart, cause, None, v, v)
                        .reporting_generation(before),
                );
            }
            tracing::info!(bot_id = %d.bot_id, generation = d.restarts, "restarted on request");
            return Ok(());
        }
        match self.backend.instance(&m.record.spec.unit_key()).await {
            None
            | Some(Instance {
                state: UnitState::Stopped,
                ..
            }) => {
                let spec =
                    prepare_start(&mut m.record, &self.opts, &records, (shared.clone(), true))?;
                self.backend.start(&spec).await.map_err(|e| e.to_string())?;
                tracing::info!(bot_id = %d.bot_id, "started (was not running)");
            }
            Some(Instance {
                state: UnitState::Exited { last_exit },
                ..
            }) => {
                let now = std::time::Instant::now();
                match m.retry_at {
                    None => {
                        m.failures += 1;
                        let delay = crate::process::backoff(m.failures);
                        m.retry_at = Some(now + delay);
                        tracing::warn!(bot_id = %d.bot_id, %last_exit, failures = m.failures, retry_in_ms = delay.as_millis() as u64, "bot ended by itself; starting it again after a backoff");
                    }
                    Some(at) if now >= at => {
                        m.retry_at = None;
                        let spec = prepare_start(
                            &mut m.record,
                            &self.opts,
                            &records,
                            (shared.clone(), true),
                        )?;
                        self.backend.start(&spec).await.map_err(|e| e.to_string())?;
                        tracing::info!(bot_id = %d.bot_id, "started again after backoff");
                    }
                    Some(_) => {}
                }
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Whether restarts hand over warm: the backend runs two instances side by side and the
    /// operator did not ask for cold restarts.
    fn warm(&self) -> bool {
        self.backend.side_by_side() && !self.opts.cold_restarts
    }

    /// Stops every managed bot (for `sniperforge up`'s shutdown).
    pub async fn stop_all(&mut self) {
        // All at once: each bot takes up to its stop grace, and they stop independently.
        let backend = &self.backend;
        let stops = self.managed.iter().map(|(id, m)| async move {
            if let Err(e) = backend.stop(&m.record.spec.unit_key()).await {
                tracing::error!(bot_id = %id, error = %e, "stopping");
            }
        });
        futures_util::future::join_all(stops).await;
    }

    /// Runs until `shutdown` resolves: adopts, then registers, follows the desired state,
    /// reconciles and reports.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        match &self.opts.bot_user {
            Some(u) => {
                tracing::info!(user = %u.name, uid = u.uid, "bots run as an unprivileged user")
            }
            None if crate::backend::effective_uid() == 0 => tracing::warn!(
                "bots run as root: no --bot-user given and no sniperforge-bot user exists"
            ),
            None => {}
        }
        let _ = std::fs::create_dir_all(self.agent_dir());
        self.adopt().await;
        let cache = self.agent_dir().join("desired.json");
        let cached: Option<Desired> = std::fs::read(&cache)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if cached.is_some() {
            tracing::info!("using the last desired state until the gateway answers");
        }
        let (tx, mut rx) = watch::channel(cached);
        let follower = tokio::spawn(follow::follow(self.opts.clone(), cache, tx));
        let beater = tokio::spawn(follow::heartbeat(self.opts.clone(), self.fence.contact()));
        let backtests = tokio::spawn(crate::backtests::run(self.opts.clone(), rx.clone()));
        let lister = self.recordings.start(&self.opts.data_dir);
        let mut tick = tokio::time::interval(self.opts.report_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut health_tick = tokio::time::interval(HEALTH_TICK);
        health_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut report_failing = false;
        // After a desired-state change, report every FAST_REPORT for a while, so the gateway sees
        // the new state in tens of milliseconds rather than at the next interval.
        let mut fast_until = tokio::time::Instant::now();
        tokio::pin!(shutdown);
        loop {
            let fast = tokio::time::Instant::now() < fast_until;
            tokio::select! {
                _ = &mut shutdown => break,
                changed = rx.changed() => {
                    if changed.is_err() { break; }
                    let desired = rx.borrow_and_update().clone();
                    if let Some(d) = desired {
                        self.reconcile(&d).await;
                        follow::upgrade_if_asked(&self.opts, &d);
                    }
                    fast_until = tokio::time::Instant::now() + FAST_REPORT_WINDOW;
                    continue;
                }
                _ = health_tick.tick() => {
                    self.renew_fences();
                    self.kill_fenced().await;
                    self.sync_ports().await;
                    self.follow_deployments().await;
                    self.check_health().await;
                    self.heal().await;
                    continue;
                }
                _ = tick.tick() => {}
                _ = tokio::time::sleep(FAST_REPORT), if fast => {}
            }
            let desired = rx.borrow().clone();
            if let Some(d) = desired {
                self.reconcile(&d).await;
            }
            let report = self.report().await;
            let sent = fence::Contact::now();
            match self.opts.gateway.report(&report).await {
                Ok(()) => {
                    if report_failing {
                        tracing::info!("reports reach the gateway again");
                    }
                    report_failing = false;
                    // The health tick renews the fences from it.
                    self.fence.touch(sent);
                    self.recordings.taken();
                    // The gateway has the fills it carried.
                    for m in self.managed.values_mut() {
                        let _ = m.fills.commit();
                    }
                    self.draining.retain(|_, tail| tail.commit());
                }
                Err(e) => {
                    self.recordings.failed(&e);
                    if !report_failing {
                        tracing::warn!(error = %e, "report failed; bots keep running, retrying every interval");
                    }
                    report_failing = true;
                }
            }
        }
        follower.abort();
        beater.abort();
        backtests.abort();
        lister.abort();
        if self.opts.stop_bots_on_exit {
            self.stop_all().await;
            tracing::info!("agent stopped with its bots");
        } else {
            tracing::info!("agent stopped; bots keep running and the next agent adopts them");
        }
    }
}

#[cfg(test)]
mod tests;
