//! The gateway's store over SQLite (default) or PostgreSQL, through one set of portable queries:
//! bots and their desired state, versioned configurations, API tokens and the audit trail.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyPoolOptions;

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
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
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
}

/// What an agent says about its node when it registers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInfo {
    /// Node id.
    pub node_id: String,
    /// Host name.
    pub hostname: String,
    /// CPU cores.
    pub cores: u32,
    /// Cores isolated for bots.
    #[serde(default)]
    pub isolated_cores: Vec<u32>,
    /// Memory, MiB.
    pub memory_mb: u64,
    /// Supervisor backend: systemd, nomad or process.
    pub backend: String,
}

/// One bot row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BotRow {
    /// Id.
    pub bot_id: String,
    /// Type name.
    pub bot_type: String,
    /// Node it runs on.
    pub node_id: String,
    /// What the agents converge to: running, paused or stopped.
    pub desired_state: String,
    /// Latest configuration version.
    pub config_version: i64,
    /// Restart generation: bumped by each restart request.
    pub restarts: i64,
    /// Created, unix ms.
    pub created_at: i64,
    /// Last changed, unix ms.
    pub updated_at: i64,
}

/// A row as JSON: text columns, then integer columns (`null` when NULL).
fn json_row(r: &sqlx::any::AnyRow, text: &[&str], ints: &[&str]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for c in text {
        out.insert(
            (*c).to_string(),
            r.try_get::<String, _>(*c).unwrap_or_default().into(),
        );
    }
    for c in ints {
        out.insert(
            (*c).to_string(),
            r.try_get::<Option<i64>, _>(*c).ok().flatten().into(),
        );
    }
    serde_json::Value::Object(out)
}

/// A `bot_reports` row as the API shows it.
fn report_json(r: &sqlx::any::AnyRow) -> serde_json::Value {
    let parse = |c: &str| {
        serde_json::from_str::<serde_json::Value>(&r.try_get::<String, _>(c).unwrap_or_default())
            .unwrap_or_default()
    };
    serde_json::json!({
        "node_id": r.try_get::<String, _>("node_id").unwrap_or_default(),
        "status": parse("status"),
        "metrics": parse("metrics"),
        "reported_at": r.try_get::<i64, _>("reported_at").unwrap_or(0),
    })
}

/// The columns of a [`BotRow`], with the bot's latest config version.
const BOT_SELECT: &str = "SELECT b.bot_id, b.bot_type, b.node_id, b.desired_state, b.restarts, b.created_at, \
     b.updated_at, (SELECT MAX(version) FROM config_versions c WHERE c.config_id = b.bot_id) AS v \
     FROM bots b";

/// One configuration version.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConfigVersion {
    /// Configuration id (the bot id).
    pub config_id: String,
    /// Version, from 1.
    pub version: i64,
    /// Bot type.
    pub bot_type: String,
    /// The configuration.
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
}

/// Now, unix ms.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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
        Ok(Self {
            pool,
            seq: std::sync::Arc::new(AtomicU64::new(0)),
        })
    }

    /// Adds a token with a role.
    pub async fn add_token(&self, token: &str, name: &str, role: Role) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, name, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash(token))
        .bind(name)
        .bind(role.as_str())
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(db(format!("adding token {name}")))?;
        Ok(())
    }

    /// Adds an agent token bound to `node_id`.
    pub async fn add_agent_token(
        &self,
        token: &str,
        name: &str,
        node_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, name, role, created_at, node_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(token))
        .bind(name)
        .bind(Role::Agent.as_str())
        .bind(now_ms())
        .bind(node_id)
        .execute(&self.pool)
        .await
        .map_err(db(format!("adding agent token {name}")))?;
        Ok(())
    }

    /// Every token's name, role, node (agent tokens) and creation time (never the token or
    /// its hash).
    pub async fn tokens(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, role, node_id, created_at, expires_at FROM tokens ORDER BY name, created_at",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing tokens"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let mut row = json_row(r, &["name", "role"], &["created_at", "expires_at"]);
                if let Ok(Some(node)) = r.try_get::<Option<String>, _>("node_id") {
                    row["node_id"] = node.into();
                }
                row
            })
            .collect())
    }

    /// A login session: a token named `session:<user>` that stops working at `expires_at` (ms).
    pub async fn add_session(
        &self,
        token: &str,
        user: &str,
        role: Role,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= $1")
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(db("dropping expired sessions"))?;
        sqlx::query(
            "INSERT INTO tokens (token_hash, name, role, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(token))
        .bind(format!("session:{user}"))
        .bind(role.as_str())
        .bind(now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(db(format!("opening a session for {user}")))?;
        Ok(())
    }

    /// Creates or replaces a user (`password_hash`: an argon2 PHC string); `true` if new.
    pub async fn put_user(
        &self,
        name: &str,
        password_hash: &str,
        role: Role,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let updated = sqlx::query(
            "UPDATE users SET password_hash = $1, role = $2, updated_at = $3 WHERE name = $4",
        )
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(db(format!("updating user {name}")))?;
        if updated.rows_affected() > 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO users (name, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(name)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db(format!("adding user {name}")))?;
        Ok(true)
    }

    /// A user's password hash and role.
    pub async fn user(&self, name: &str) -> Result<Option<(String, Role)>, StoreError> {
        let row = sqlx::query("SELECT password_hash, role FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db(format!("looking up user {name}")))?;
        Ok(row.and_then(|r| {
            let hash: String = r.try_get("password_hash").ok()?;
            let role: String = r.try_get("role").ok()?;
            Role::parse(&role).map(|role| (hash, role))
        }))
    }

    /// Users (names, roles, times; never hashes).
    pub async fn users(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows =
            sqlx::query("SELECT name, role, created_at, updated_at FROM users ORDER BY name")
                .fetch_all(&self.pool)
                .await
                .map_err(db("listing users"))?;
        Ok(rows
            .iter()
            .map(|r| json_row(r, &["name", "role"], &["created_at", "updated_at"]))
            .collect())
    }

    /// Deletes a user and ends their sessions; `false` if there was none.
    pub async fn delete_user(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db(format!("deleting user {name}")))?;
        self.revoke_tokens(&format!("session:{name}")).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes every token named `name`; how many went.
    pub async fn revoke_tokens(&self, name: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM tokens WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db(format!("revoking tokens of {name}")))?;
        Ok(done.rows_affected())
    }

    /// Whether any admin token exists.
    pub async fn has_admin(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM tokens WHERE role = 'admin'")
            .fetch_one(&self.pool)
            .await
            .map_err(db("counting admin tokens"))?;
        Ok(row
            .try_get::<i64, _>("n")
            .map_err(db("counting admin tokens"))?
            > 0)
    }

    /// The name, role and (agent tokens) node of a presented token.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Identity>, StoreError> {
        let row = sqlx::query(
            "SELECT name, role, node_id FROM tokens WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token_hash(token))
        .bind(now_ms())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("looking up a token"))?;
        Ok(row.and_then(|r| {
            let name: String = r.try_get("name").ok()?;
            let role: String = r.try_get("role").ok()?;
            let node_id: Option<String> = r.try_get("node_id").ok()?;
            let role = Role::parse(&role)?;
            // An agent token without its node reaches nothing.
            if role == Role::Agent && node_id.is_none() {
                return None;
            }
            Some(Identity {
                name,
                role,
                node_id,
            })
        }))
    }

    /// Appends to the audit trail.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        details: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit (at, seq, actor, action, target, details) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(now_ms())
            .bind(self.seq.fetch_add(1, Ordering::Relaxed) as i64)
            .bind(actor)
            .bind(action)
            .bind(target)
            .bind(details.to_string())
            .execute(&self.pool)
            .await
            .map_err(db(format!("auditing {action} {target}")))?;
        Ok(())
    }

    /// The audit trail, newest first.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows = sqlx::query("SELECT at, actor, action, target, details FROM audit ORDER BY at DESC, seq DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading the audit trail"))?;
        Ok(rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "at": r.try_get::<i64, _>("at").unwrap_or(0),
                    "actor": r.try_get::<String, _>("actor").unwrap_or_default(),
                    "action": r.try_get::<String, _>("action").unwrap_or_default(),
                    "target": r.try_get::<String, _>("target").unwrap_or_default(),
                    "details": serde_json::from_str::<serde_json::Value>(&r.try_get::<String, _>("details").unwrap_or_default()).unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Creates a bot and version 1 of its configuration, atomically; `false` when the id exists.
    pub async fn create_bot(
        &self,
        bot_id: &str,
        bot_type: &str,
        node_id: &str,
        body: Option<&serde_json::Value>,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let exists = sqlx::query("SELECT bot_id FROM bots WHERE bot_id = $1")
            .bind(bot_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(format!("reading bot {bot_id}")))?;
        if exists.is_some() {
            return Ok(false);
        }
        let now = now_ms();
        sqlx::query("INSERT INTO bots (bot_id, bot_type, node_id, desired_state, created_at, updated_at) VALUES ($1, $2, $3, 'stopped', $4, $4)")
            .bind(bot_id)
            .bind(bot_type)
            .bind(node_id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db(format!("creating bot {bot_id}")))?;
        // `None`: the bot runs the configuration already stored under its id.
        if let Some(body) = body {
            Self::insert_next_version(&mut tx, bot_id, bot_type, body, actor, now).await?;
        }
        tx.commit()
            .await
            .map_err(db(format!("committing bot {bot_id}")))?;
        Ok(true)
    }

    /// Stores version 1 of a configuration that no bot runs yet; `false` when the id has one.
    pub async fn create_config(
        &self,
        config_id: &str,
        bot_type: &str,
        body: &serde_json::Value,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let exists = sqlx::query("SELECT version FROM config_versions WHERE config_id = $1")
            .bind(config_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(format!("reading config {config_id}")))?;
        if exists.is_some() {
            return Ok(false);
        }
        Self::insert_next_version(&mut tx, config_id, bot_type, body, actor, now_ms()).await?;
        tx.commit()
            .await
            .map_err(db(format!("committing config {config_id}")))?;
        Ok(true)
    }

    async fn insert_next_version(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        config_id: &str,
        bot_type: &str,
        body: &serde_json::Value,
        actor: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let next: i64 = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) + 1 AS v FROM config_versions WHERE config_id = $1",
        )
        .bind(config_id)
        .fetch_one(&mut **tx)
        .await
        .and_then(|r| r.try_get("v"))
        .map_err(db(format!("numbering config {config_id}")))?;
        sqlx::query("INSERT INTO config_versions (config_id, version, bot_type, body, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(config_id)
            .bind(next)
            .bind(bot_type)
            .bind(body.to_string())
            .bind(now)
            .bind(actor)
            .execute(&mut **tx)
            .await
            .map_err(db(format!("storing config {config_id}")))?;
        Ok(())
    }

    /// Appends a configuration version; returns its number.
    pub async fn add_config_version(
        &self,
        config_id: &str,
        bot_type: &str,
        body: &serde_json::Value,
        actor: &str,
        expected: Option<i64>,
    ) -> Result<i64, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        // Write first: it takes the write lock (SQLite) / the bot's row lock (PostgreSQL) before
        // the numbering read, so concurrent writers of one config queue instead of racing.
        sqlx::query("UPDATE bots SET updated_at = $1 WHERE bot_id = $2")
            .bind(now_ms())
            .bind(config_id)
            .execute(&mut *tx)
            .await
            .map_err(db(format!("touching bot {config_id}")))?;
        let next: i64 = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) + 1 AS v FROM config_versions WHERE config_id = $1",
        )
        .bind(config_id)
        .fetch_one(&mut *tx)
        .await
        .and_then(|r| r.try_get("v"))
        .map_err(db(format!("numbering config {config_id}")))?;
        let conflict = |current: i64, expected: i64| StoreError::VersionConflict {
            config_id: config_id.to_string(),
            current,
            expected,
        };
        if let Some(expected) = expected.filter(|&e| e != next - 1) {
            return Err(conflict(next - 1, expected));
        }
        sqlx::query("INSERT INTO config_versions (config_id, version, bot_type, body, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(config_id)
            .bind(next)
            .bind(bot_type)
            .bind(body.to_string())
            .bind(now_ms())
            .bind(actor)
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                // Two writers numbered the same version: the later one lost the race.
                sqlx::Error::Database(d) if d.is_unique_violation() => {
                    conflict(next, expected.unwrap_or(next - 1))
                }
                _ => db(format!("storing config {config_id} v{next}"))(e),
            })?;
        tx.commit()
            .await
            .map_err(db(format!("committing config {config_id}")))?;
        Ok(next)
    }

    /// A configuration version (the latest when `version` is `None`).
    pub async fn config(
        &self,
        config_id: &str,
        version: Option<i64>,
    ) -> Result<Option<ConfigVersion>, StoreError> {
        let row = match version {
            Some(v) => sqlx::query("SELECT config_id, version, bot_type, body, created_at, created_by FROM config_versions WHERE config_id = $1 AND version = $2")
                .bind(config_id)
                .bind(v)
                .fetch_optional(&self.pool)
                .await,
            None => sqlx::query("SELECT config_id, version, bot_type, body, created_at, created_by FROM config_versions WHERE config_id = $1 ORDER BY version DESC LIMIT 1")
                .bind(config_id)
                .fetch_optional(&self.pool)
                .await,
        }
        .map_err(db(format!("reading config {config_id}")))?;
        row.map(|r| config_row(&r)).transpose()
    }

    /// Every configuration's latest version.
    pub async fn configs(&self) -> Result<Vec<ConfigVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.config_id, c.version, c.bot_type, c.body, c.created_at, c.created_by FROM config_versions c \
             WHERE c.version = (SELECT MAX(version) FROM config_versions d WHERE d.config_id = c.config_id) ORDER BY c.config_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing configs"))?;
        rows.iter().map(config_row).collect()
    }

    /// All bots with their latest configuration version.
    pub async fn bots(&self) -> Result<Vec<BotRow>, StoreError> {
        let rows = sqlx::query(&format!("{BOT_SELECT} ORDER BY b.bot_id"))
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing bots"))?;
        rows.iter().map(bot_row).collect()
    }

    /// One bot (an indexed lookup, not a scan of all bots).
    pub async fn bot(&self, bot_id: &str) -> Result<Option<BotRow>, StoreError> {
        sqlx::query(&format!("{BOT_SELECT} WHERE b.bot_id = $1"))
            .bind(bot_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db(format!("reading bot {bot_id}")))?
            .as_ref()
            .map(bot_row)
            .transpose()
    }

    /// Sets a bot's desired state; `false` when the bot does not exist.
    pub async fn set_desired_state(&self, bot_id: &str, state: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE bots SET desired_state = $1, updated_at = $2 WHERE bot_id = $3")
                .bind(state)
                .bind(now_ms())
                .bind(bot_id)
                .execute(&self.pool)
                .await
                .map_err(db(format!("setting bot {bot_id} to {state}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Asks for a restart: desired state running, restart generation bumped; `false` when the
    /// bot does not exist.
    pub async fn request_restart(&self, bot_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE bots SET desired_state = 'running', restarts = restarts + 1, updated_at = $1 WHERE bot_id = $2",
        )
        .bind(now_ms())
        .bind(bot_id)
        .execute(&self.pool)
        .await
        .map_err(db(format!("restarting bot {bot_id}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a bot (its configuration history stays); `false` when it did not exist.
    pub async fn delete_bot(&self, bot_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM bots WHERE bot_id = $1")
            .bind(bot_id)
            .execute(&self.pool)
            .await
            .map_err(db(format!("deleting bot {bot_id}")))?;
        sqlx::query("DELETE FROM bot_reports WHERE bot_id = $1")
            .bind(bot_id)
            .execute(&self.pool)
            .await
            .map_err(db(format!("deleting bot {bot_id}'s last report")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets every bot's desired state to stopped; returns how many changed.
    pub async fn stop_all(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE bots SET desired_state = 'stopped', updated_at = $1 WHERE desired_state <> 'stopped'")
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(db("stopping every bot"))?;
        Ok(done.rows_affected())
    }

    /// The desired-state index: it grows on every change agents must converge to.
    pub async fn desired_index(&self) -> Result<i64, StoreError> {
        sqlx::query("SELECT value FROM meta WHERE name = 'desired_index'")
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get("value"))
            .map_err(db("reading the desired-state index"))
    }

    /// Moves the desired-state index on; returns the new value.
    pub async fn bump_desired_index(&self) -> Result<i64, StoreError> {
        sqlx::query("UPDATE meta SET value = value + 1 WHERE name = 'desired_index'")
            .execute(&self.pool)
            .await
            .map_err(db("moving the desired-state index"))?;
        self.desired_index().await
    }

    /// Registers (or re-registers) a node.
    pub async fn register_node(&self, node: &NodeInfo) -> Result<(), StoreError> {
        let now = now_ms();
        let cores = serde_json::to_string(&node.isolated_cores).unwrap_or_else(|_| "[]".into());
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        sqlx::query("DELETE FROM nodes WHERE node_id = $1")
            .bind(&node.node_id)
            .execute(&mut *tx)
            .await
            .map_err(db(format!("replacing node {}", node.node_id)))?;
        sqlx::query("INSERT INTO nodes (node_id, hostname, cores, isolated_cores, memory_mb, backend, registered_at, last_heartbeat) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)")
            .bind(&node.node_id)
            .bind(&node.hostname)
            .bind(node.cores as i64)
            .bind(cores)
            .bind(node.memory_mb as i64)
            .bind(&node.backend)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db(format!("registering node {}", node.node_id)))?;
        tx.commit()
            .await
            .map_err(db(format!("committing node {}", node.node_id)))
    }

    /// Records a heartbeat; `false` for an unknown node.
    pub async fn heartbeat(&self, node_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE nodes SET last_heartbeat = $1 WHERE node_id = $2")
            .bind(now_ms())
            .bind(node_id)
            .execute(&self.pool)
            .await
            .map_err(db(format!("heartbeat of node {node_id}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Writes closed 1 min latency windows (one transaction).
    pub async fn put_latency_minutes(
        &self,
        windows: &[crate::windows::MinuteWindow],
    ) -> Result<(), StoreError> {
        use base64::Engine as _;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        // One multi-row INSERT per chunk: a minute boundary closes a window per bot, type, node
        // and stage at once, and SQLite has one connection that reports wait behind.
        for chunk in windows.chunks(200) {
            let mut sql =
                String::from("INSERT INTO latency_minutes (scope, stage, start_ms, data) VALUES ");
            for i in 0..chunk.len() {
                let b = i * 4;
                sql.push_str(&format!(
                    "{}(${}, ${}, ${}, ${})",
                    if i == 0 { "" } else { ", " },
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4
                ));
            }
            let mut q = sqlx::query(&sql);
            for w in chunk {
                q = q
                    .bind(&w.scope)
                    .bind(&w.stage)
                    .bind(w.start_ms)
                    .bind(base64::engine::general_purpose::STANDARD.encode(&w.data));
            }
            q.execute(&mut *tx)
                .await
                .map_err(db(format!("writing {} latency windows", chunk.len())))?;
        }
        tx.commit().await.map_err(db("committing latency windows"))
    }

    /// The stored 1 min windows of `scope`/`stage` starting in `[from_ms, to_ms)`: (start,
    /// packed counts).
    pub async fn latency_minutes(
        &self,
        scope: &str,
        stage: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        use base64::Engine as _;
        let rows = sqlx::query(
            "SELECT start_ms, data FROM latency_minutes WHERE scope = $1 AND stage = $2 AND start_ms >= $3 AND start_ms < $4 ORDER BY start_ms",
        )
        .bind(scope)
        .bind(stage)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("reading latency windows of {scope}/{stage}")))?;
        rows.iter()
            .map(|r| {
                let start: i64 = r.try_get("start_ms").map_err(db("reading start_ms"))?;
                let data: String = r.try_get("data").map_err(db("reading data"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .map_err(|e| {
                        StoreError::Corrupt(format!(
                            "latency window {scope}/{stage} at {start}: {e}"
                        ))
                    })?;
                Ok((start, bytes))
            })
            .collect()
    }

    /// The stages `scope` has stored minutes for.
    pub async fn latency_stages(&self, scope: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT stage FROM latency_minutes WHERE scope = $1")
            .bind(scope)
            .fetch_all(&self.pool)
            .await
            .map_err(db(format!("listing latency stages of {scope}")))?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>("stage").ok())
            .collect())
    }

    /// Deletes 1 min windows that started before `before_ms`; returns how many.
    pub async fn prune_latency_minutes(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM latency_minutes WHERE start_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .map_err(db("pruning latency windows"))?;
        Ok(done.rows_affected())
    }

    /// Every node with its last heartbeat.
    pub async fn nodes(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows = sqlx::query("SELECT node_id, hostname, cores, isolated_cores, memory_mb, backend, registered_at, last_heartbeat FROM nodes ORDER BY node_id")
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing nodes"))?;
        Ok(rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "node_id": r.try_get::<String, _>("node_id").unwrap_or_default(),
                    "hostname": r.try_get::<String, _>("hostname").unwrap_or_default(),
                    "cores": r.try_get::<i64, _>("cores").unwrap_or(0),
                    "isolated_cores": serde_json::from_str::<serde_json::Value>(&r.try_get::<String, _>("isolated_cores").unwrap_or_default()).unwrap_or_default(),
                    "memory_mb": r.try_get::<i64, _>("memory_mb").unwrap_or(0),
                    "backend": r.try_get::<String, _>("backend").unwrap_or_default(),
                    "registered_at": r.try_get::<i64, _>("registered_at").unwrap_or(0),
                    "last_heartbeat": r.try_get::<i64, _>("last_heartbeat").unwrap_or(0),
                })
            })
            .collect())
    }

    /// Stores the latest report of each bot in `reports` (bot id, status, metrics as the agent
    /// scraped them) in one transaction: all land or none.
    pub async fn report_bots(
        &self,
        node_id: &str,
        reports: &[(&str, &serde_json::Value, &serde_json::Value)],
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let now = now_ms();
        // One upsert statement per chunk (the last report of a bot in a batch wins; a bot twice
        // in one statement would be an error on PostgreSQL).
        let mut last: Vec<&(&str, &serde_json::Value, &serde_json::Value)> = Vec::new();
        for r in reports.iter().rev() {
            if !last.iter().any(|l| l.0 == r.0) {
                last.push(r);
            }
        }
        for chunk in last.chunks(200) {
            let mut sql = String::from(
                "INSERT INTO bot_reports (bot_id, node_id, status, metrics, reported_at) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 5;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                ));
            }
            sql.push_str(
                " ON CONFLICT (bot_id) DO UPDATE SET node_id = excluded.node_id, status = excluded.status, \
                 metrics = excluded.metrics, reported_at = excluded.reported_at",
            );
            let mut q = sqlx::query(&sql);
            for (bot_id, status, metrics) in chunk.iter().copied() {
                q = q
                    .bind(*bot_id)
                    .bind(node_id)
                    .bind(status.to_string())
                    .bind(metrics.to_string())
                    .bind(now);
            }
            q.execute(&mut *tx).await.map_err(db(format!(
                "storing {} reports from {node_id}",
                chunk.len()
            )))?;
        }
        tx.commit().await.map_err(db(format!(
            "committing {} reports from {node_id}",
            reports.len()
        )))
    }

    /// The latest report of a bot: (node, status, metrics, unix ms).
    pub async fn bot_report(&self, bot_id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let row = sqlx::query(
            "SELECT bot_id, node_id, status, metrics, reported_at FROM bot_reports WHERE bot_id = $1",
        )
        .bind(bot_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db(format!("reading report of {bot_id}")))?;
        Ok(row.as_ref().map(report_json))
    }

    /// Every bot's latest report, by bot id, in one query (for fleet-wide passes).
    pub async fn bot_reports(
        &self,
    ) -> Result<std::collections::HashMap<String, serde_json::Value>, StoreError> {
        let rows =
            sqlx::query("SELECT bot_id, node_id, status, metrics, reported_at FROM bot_reports")
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading bot reports"))?;
        Ok(rows
            .iter()
            .map(|r| (r.try_get("bot_id").unwrap_or_default(), report_json(r)))
            .collect())
    }

    /// The connection pool (for the store's other modules).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
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
        node_id: get("node_id")?,
        desired_state: get("desired_state")?,
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
