//! The gateway's store over SQLite (default) or PostgreSQL, through one set of portable queries:
//! bots and their desired state, versioned configurations, API tokens and the audit trail. By
//! table: `auth` (tokens, sessions, users, audit), `bots` (bots, configurations, desired state),
//! `nodes` (registration, heartbeats, reports) and `latency` (per-minute histograms).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock::{Clock, SystemClock};
use sha2::{Digest, Sha256};
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyPoolOptions;

mod auth;
mod backtests;
mod bots;
mod latency;
mod nodes;
mod rollouts;
mod trades;

pub use backtests::{BACKTESTS_LISTED, BacktestRow};
pub use trades::{PnlSums, TradeFilter, TradeRow};

/// A store failure, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database answered with an error.
    #[error("{context}: {source}")]
    Db {
        /// What the store was doing.
        context: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A write named the version it was based on and another write got there first.
    #[error("config {config_id} is at version {current}, the change was based on {expected}")]
    VersionConflict {
        /// The configuration.
        config_id: String,
        /// Its version now.
        current: i64,
        /// The version the writer read.
        expected: i64,
    },
    /// A stored row that cannot be read back (damaged outside the gateway).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Db { context, source }
}

/// Access level of a token.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An agent: the agent routes only, for the one node its token is bound to. Below every
    /// other role, so it never passes a `role >= needed` check outside them.
    Agent,
    /// Reads.
    Viewer,
    /// Reads and drives bots.
    Operator,
    /// Everything, including tokens and the emergency stop.
    Admin,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Self::Agent),
            "viewer" => Some(Self::Viewer),
            "operator" => Some(Self::Operator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// Who a presented token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's (or session's) name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The node an agent token is bound to.
    pub node_id: Option<String>,
    /// The environments it reaches (`None`: all of them).
    pub environments: Option<Vec<Environment>>,
}

pub use sniperforge_protocol::Environment;
pub use sniperforge_protocol::fleet::NodeInfo;

/// Which environments a read or a write reaches: all of them, or some (a scoped token's, a
/// `?env=` filter, or both).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFilter(Option<Vec<Environment>>);

impl EnvFilter {
    /// Every environment.
    pub const ALL: EnvFilter = EnvFilter(None);

    /// Only `envs` (`None`: all).
    pub fn only(envs: Option<Vec<Environment>>) -> Self {
        Self(envs)
    }

    /// The environments both reach.
    pub fn and(&self, other: &EnvFilter) -> EnvFilter {
        match (&self.0, &other.0) {
            (None, o) => EnvFilter(o.clone()),
            (s, None) => EnvFilter(s.clone()),
            (Some(a), Some(b)) => {
                EnvFilter(Some(a.iter().filter(|e| b.contains(e)).copied().collect()))
            }
        }
    }

    /// Whether `env` is reached.
    pub fn allows(&self, env: Environment) -> bool {
        self.0.as_ref().is_none_or(|l| l.contains(&env))
    }

    /// The environments reached (`None`: all).
    pub fn list(&self) -> Option<&[Environment]> {
        self.0.as_deref()
    }

    /// A SQL condition on `column` (the names are this crate's literals, never the caller's).
    pub(crate) fn sql(&self, column: &str) -> String {
        match &self.0 {
            None => "1 = 1".into(),
            Some(l) if l.is_empty() => "1 = 0".into(),
            Some(l) => format!(
                "{column} IN ({})",
                l.iter()
                    .map(|e| format!("'{}'", e.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// A stored environment column (a row written before environments were stored, and not yet
/// filled in, reads as corrupt: the gateway fills them in at start).
pub(crate) fn env_column(r: &sqlx::any::AnyRow, column: &str) -> Result<Environment, StoreError> {
    let text: Option<String> = r
        .try_get(column)
        .map_err(db(format!("reading column {column}")))?;
    text.as_deref()
        .unwrap_or("")
        .parse()
        .map_err(|e: String| StoreError::Corrupt(format!("column {column}: {e}")))
}

/// A JSON column (`NULL`: `None`; text that does not read is a corrupt row).
pub(crate) fn json_column<T: serde::de::DeserializeOwned>(
    r: &sqlx::any::AnyRow,
    column: &str,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = r
        .try_get(column)
        .map_err(db(format!("reading column {column}")))?;
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

/// A stored list of environments (`NULL`: all).
pub(crate) fn env_list_column(
    r: &sqlx::any::AnyRow,
    column: &str,
) -> Result<Option<Vec<Environment>>, StoreError> {
    let text: Option<String> = r
        .try_get(column)
        .map_err(db(format!("reading column {column}")))?;
    text.map(|t| Environment::parse_list(&t))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("column {column}: {e}")))
}

/// One bot row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct BotRow {
    /// Id.
    pub bot_id: String,
    /// Type name.
    pub bot_type: String,
    /// Its environment (from its configuration; never changes).
    pub environment: Environment,
    /// Node it runs on (empty while pending with no node chosen).
    pub node_id: String,
    /// How it asked to be placed.
    pub placement: crate::placement::Placement,
    /// The cores it holds on its node: its configuration's `resources.cores`, or those the
    /// gateway chose for `placement.cores`.
    pub cores: Vec<u32>,
    /// Why no node runs it yet (`null`: placed).
    pub pending: Option<String>,
    /// The bot this instance replicates (`null`: a bot of its own): it runs that bot's
    /// configuration, on another node than the bot's other instances.
    pub replica_of: Option<String>,
    /// What the agents converge to.
    pub desired_state: sniperforge_protocol::fleet::DesiredState,
    /// Latest configuration version.
    pub config_version: i64,
    /// Restart generation: bumped by each restart request.
    pub restarts: i64,
    /// Created, unix ms.
    pub created_at: i64,
    /// Last changed, unix ms.
    pub updated_at: i64,
}

/// A bot's latest report as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ReportRow {
    /// The node that reported it.
    pub node_id: String,
    /// Its status as the node saw it.
    pub status: sniperforge_protocol::fleet::NodeBotStatus,
    /// Its counters as the bot wrote them (`null` when it did not answer).
    #[schemars(schema_with = "crate::api::bodies::any_value")]
    pub metrics: serde_json::Value,
    /// When, unix ms.
    pub reported_at: i64,
}

fn report_row(r: &sqlx::any::AnyRow) -> Result<ReportRow, StoreError> {
    let text = |c: &str| {
        r.try_get::<String, _>(c)
            .map_err(db(format!("reading report column {c}")))
    };
    Ok(ReportRow {
        node_id: text("node_id")?,
        // Written by this gateway from a typed status: a row it cannot read is an old one.
        status: serde_json::from_str(&text("status")?).unwrap_or_default(),
        metrics: serde_json::from_str(&text("metrics")?).unwrap_or_default(),
        reported_at: r
            .try_get("reported_at")
            .map_err(db("reading report column reported_at"))?,
    })
}

/// A node as registered, with its last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct NodeRow {
    /// Node id.
    pub node_id: String,
    /// Host name.
    pub hostname: String,
    /// CPU cores.
    pub cores: i64,
    /// Cores isolated for bots.
    pub isolated_cores: Vec<u32>,
    /// Memory, MiB.
    pub memory_mb: i64,
    /// Supervisor backend.
    pub backend: String,
    /// First registered, unix ms.
    pub registered_at: i64,
    /// Last heartbeat, unix ms.
    pub last_heartbeat: i64,
    /// The build its agent runs (`null` for agents before it).
    pub agent: Option<sniperforge_protocol::fleet::Build>,
    /// The build installed where its agent starts bots from (`null` for agents before it).
    pub installed: Option<sniperforge_protocol::fleet::Build>,
    /// The environments its agent serves (`null`: all).
    pub environments: Option<Vec<Environment>>,
    /// Its labels (`--labels`), what placement constraints match.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Whether its agent fences the bots that fail over (only then are they failed over).
    pub fences: bool,
    /// Its failover window, ms: the one its agent asked for (`agent --failover-after-s`), else
    /// the gateway's when it registered (`null` only for a row from before windows were kept,
    /// until the gateway starts: the gateway's).
    pub failover_after_ms: Option<i64>,
    /// A longer window it had before registering again with a shorter one, in force until the
    /// leases its agent held under the old one have lapsed.
    pub window_floor: Option<WindowFloor>,
}

/// A longer failover window a node keeps for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct WindowFloor {
    /// The window, ms.
    pub window_ms: i64,
    /// Until when, unix ms.
    pub until: i64,
}

impl NodeRow {
    /// How long it may be silent before it counts as lost at `now`, ms: its own window (or
    /// `default_ms`, the gateway's), or a longer one it had before while that still holds.
    pub fn failover_window(&self, default_ms: i64, now: i64) -> i64 {
        let own = self.failover_after_ms.unwrap_or(default_ms);
        match self.window_floor {
            Some(f) if now < f.until => own.max(f.window_ms),
            _ => own,
        }
    }

    /// The fencing lease its agent holds for the bots that fail over, ms: half its own window
    /// (a longer window it keeps for a while never lengthens the lease).
    pub fn fence_ms(&self, default_ms: i64) -> u64 {
        u64::try_from(self.failover_after_ms.unwrap_or(default_ms) / 2).unwrap_or(0)
    }

    /// Whether its agent serves `env`.
    pub fn serves(&self, env: Environment) -> bool {
        self.environments.as_ref().is_none_or(|l| l.contains(&env))
    }

    /// The environments it serves, for messages (`dev,test`, or `every environment`).
    pub fn environments_text(&self) -> String {
        self.environments
            .as_deref()
            .map_or_else(|| "every environment".into(), Environment::join)
    }
}

/// An alert, active or resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct AlertRow {
    /// `<rule>:<target>`.
    pub alert_id: String,
    /// The rule.
    pub rule_id: String,
    /// The bot or node.
    pub target: String,
    /// The environment it belongs to (`null`: a node's serving several, or a fleet rule's).
    pub environment: Option<Environment>,
    /// What fired.
    pub message: String,
    /// `active` or `resolved`.
    pub state: String,
    /// Raised, unix ms.
    pub started_at: i64,
    /// Resolved, unix ms (0 while active).
    pub resolved_at: i64,
}

/// A token as listed (never the token or its hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct TokenRow {
    /// Name (`session:<user>` for a login session).
    pub name: String,
    /// Role.
    pub role: Role,
    /// The node an agent token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// The environments it reaches (`null`: all).
    pub environments: Option<Vec<Environment>>,
    /// Created, unix ms.
    pub created_at: i64,
    /// When it stops working, unix ms (`null`: never).
    pub expires_at: Option<i64>,
}

/// A user as listed (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct UserRow {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The environments the user reaches (`null`: all).
    pub environments: Option<Vec<Environment>>,
    /// Created, unix ms.
    pub created_at: i64,
    /// Last changed, unix ms.
    pub updated_at: i64,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct AuditRow {
    /// When, unix ms.
    pub at: i64,
    /// Token or user name (or `anonymous`).
    pub actor: String,
    /// What, e.g. `bot.create`.
    pub action: String,
    /// Which bot, token, user or rule.
    pub target: String,
    /// What the action recorded.
    #[schemars(schema_with = "crate::api::bodies::any_value")]
    pub details: serde_json::Value,
}

/// The columns of a [`BotRow`], with the bot's latest config version.
const BOT_SELECT: &str = "SELECT b.bot_id, b.bot_type, b.environment, b.node_id, b.placement, b.cores, b.pending_reason, b.replica_of, b.desired_state, b.restarts, b.created_at, \
     b.updated_at, (SELECT MAX(version) FROM config_versions c WHERE c.config_id = COALESCE(b.replica_of, b.bot_id)) AS v \
     FROM bots b";

/// A bot to create.
#[derive(Debug, Clone, Copy)]
pub struct NewBot<'a> {
    /// Id.
    pub bot_id: &'a str,
    /// Type name.
    pub bot_type: &'a str,
    /// Environment.
    pub environment: Environment,
    /// Its node (empty while pending with none chosen).
    pub node_id: &'a str,
    /// How it asked to be placed.
    pub placement: &'a crate::placement::Placement,
    /// The cores it holds on its node.
    pub cores: &'a [u32],
    /// Why no node runs it yet.
    pub pending: Option<&'a str>,
    /// The bot it replicates (`None`: a bot of its own, with a configuration).
    pub replica_of: Option<&'a str>,
    /// What the agents converge to (a new bot is stopped; a new replica as its bot).
    pub desired_state: sniperforge_protocol::fleet::DesiredState,
}

/// One configuration version.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ConfigVersion {
    /// Configuration id (the bot id).
    pub config_id: String,
    /// Version, from 1.
    pub version: i64,
    /// Bot type.
    pub bot_type: String,
    /// Its environment.
    pub environment: Environment,
    /// The configuration.
    #[schemars(schema_with = "crate::api::bodies::bot_config_ref")]
    pub body: serde_json::Value,
    /// Created, unix ms.
    pub created_at: i64,
    /// Token name that wrote it.
    pub created_by: String,
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    seq: std::sync::Arc<AtomicU64>,
    clock: std::sync::Arc<dyn Clock>,
}

/// A new random token (40 alphanumerics, ~238 bits).
pub fn new_token() -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

/// Hex sha256 of a token: tokens are stored hashed.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// Connects (`sqlite://PATH` — created if missing — or `postgres://…`) and migrates.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
        } else {
            url.to_string()
        };
        // SQLite serialises writers anyway; one connection also keeps `sqlite::memory:` whole.
        let max = if url.starts_with("sqlite:") { 1 } else { 8 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .connect(&url)
            .await
            .map_err(db(format!("connecting to {}", redact(&url))))?;
        if url.starts_with("sqlite:") {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(db("enabling WAL"))?;
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        let store = Self {
            pool,
            seq: std::sync::Arc::new(AtomicU64::new(0)),
            clock: std::sync::Arc::new(SystemClock),
        };
        store.fill_in_environments().await?;
        Ok(store)
    }

    /// The same store reading time from `clock` (a test's [`crate::clock::ManualClock`]).
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Now, unix ms, by the store's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db("pinging the database"))?;
        Ok(())
    }
}

fn config_row(r: &sqlx::any::AnyRow) -> Result<ConfigVersion, StoreError> {
    let get = |c: &str| -> Result<String, StoreError> {
        r.try_get::<String, _>(c)
            .map_err(db(format!("reading column {c}")))
    };
    Ok(ConfigVersion {
        config_id: get("config_id")?,
        version: r.try_get("version").map_err(db("reading column version"))?,
        bot_type: get("bot_type")?,
        environment: env_column(r, "environment")?,
        body: serde_json::from_str(&get("body")?).unwrap_or(serde_json::Value::Null),
        created_at: r
            .try_get("created_at")
            .map_err(db("reading column created_at"))?,
        created_by: get("created_by")?,
    })
}

fn bot_row(r: &sqlx::any::AnyRow) -> Result<BotRow, StoreError> {
    let get = |c: &str| -> Result<String, StoreError> {
        r.try_get::<String, _>(c)
            .map_err(db(format!("reading column {c}")))
    };
    Ok(BotRow {
        bot_id: get("bot_id")?,
        bot_type: get("bot_type")?,
        environment: env_column(r, "environment")?,
        node_id: get("node_id")?,
        placement: json_column(r, "placement")?.unwrap_or_default(),
        cores: json_column(r, "cores")?.unwrap_or_default(),
        pending: r
            .try_get("pending_reason")
            .map_err(db("reading column pending_reason"))?,
        replica_of: r
            .try_get("replica_of")
            .map_err(db("reading column replica_of"))?,
        desired_state: get("desired_state")?.parse().map_err(
            |e: sniperforge_protocol::fleet::UnknownName| StoreError::Db {
                context: "reading column desired_state".into(),
                source: sqlx::Error::Decode(e.into()),
            },
        )?,
        config_version: r
            .try_get::<Option<i64>, _>("v")
            .map_err(db("reading column v"))?
            .unwrap_or(0),
        restarts: r
            .try_get("restarts")
            .map_err(db("reading column restarts"))?,
        created_at: r
            .try_get("created_at")
            .map_err(db("reading column created_at"))?,
        updated_at: r
            .try_get("updated_at")
            .map_err(db("reading column updated_at"))?,
    })
}

/// A URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..s + 3 + colon], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}
