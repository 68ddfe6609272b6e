//! Bots, their versioned configurations and desired state, and the desired-state index.

use super::*;

impl Store {
    /// Creates a bot and version 1 of its configuration, atomically; `false` when the id exists.
    pub async fn create_bot(
        &self,
        bot: &NewBot<'_>,
        body: Option<&serde_json::Value>,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let NewBot {
            bot_id,
            bot_type,
            environment,
            node_id,
            ..
        } = *bot;
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
        let now = self.now_ms();
        sqlx::query("INSERT INTO bots (bot_id, bot_type, environment, node_id, desired_state, created_at, updated_at, placement, cores, pending_reason, replica_of) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10)")
            .bind(bot_id)
            .bind(bot_type)
            .bind(environment.as_str())
            .bind(node_id)
            .bind(bot.desired_state.as_str())
            .bind(now)
            .bind(serde_json::to_string(bot.placement).unwrap_or_default())
            .bind(serde_json::to_string(bot.cores).unwrap_or_default())
            .bind(bot.pending)
            .bind(bot.replica_of)
            .execute(&mut *tx)
            .await
            .map_err(db(format!("creating bot {bot_id}")))?;
        // `None`: the bot runs the configuration already stored under its id.
        if let Some(body) = body {
            Self::insert_next_version(&mut tx, bot_id, bot_type, environment, body, actor, now)
                .await?;
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
        environment: Environment,
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
        Self::insert_next_version(
            &mut tx,
            config_id,
            bot_type,
            environment,
            body,
            actor,
            self.now_ms(),
        )
        .await?;
        tx.commit()
            .await
            .map_err(db(format!("committing config {config_id}")))?;
        Ok(true)
    }

    async fn insert_next_version(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        config_id: &str,
        bot_type: &str,
        environment: Environment,
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
        sqlx::query("INSERT INTO config_versions (config_id, version, bot_type, environment, body, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(config_id)
            .bind(next)
            .bind(bot_type)
            .bind(environment.as_str())
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
        environment: Environment,
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
            .bind(self.now_ms())
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
        sqlx::query("INSERT INTO config_versions (config_id, version, bot_type, environment, body, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(config_id)
            .bind(next)
            .bind(bot_type)
            .bind(environment.as_str())
            .bind(body.to_string())
            .bind(self.now_ms())
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
            Some(v) => sqlx::query("SELECT config_id, version, bot_type, environment, body, created_at, created_by FROM config_versions WHERE config_id = $1 AND version = $2")
                .bind(config_id)
                .bind(v)
                .fetch_optional(&self.pool)
                .await,
            None => sqlx::query("SELECT config_id, version, bot_type, environment, body, created_at, created_by FROM config_versions WHERE config_id = $1 ORDER BY version DESC LIMIT 1")
                .bind(config_id)
                .fetch_optional(&self.pool)
                .await,
        }
        .map_err(db(format!("reading config {config_id}")))?;
        row.map(|r| config_row(&r)).transpose()
    }

    /// Every configuration's latest version, in the environments `env` reaches.
    pub async fn configs(&self, env: &EnvFilter) -> Result<Vec<ConfigVersion>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT c.config_id, c.version, c.bot_type, c.environment, c.body, c.created_at, c.created_by FROM config_versions c \
             WHERE {} AND c.version = (SELECT MAX(version) FROM config_versions d WHERE d.config_id = c.config_id) ORDER BY c.config_id",
            env.sql("c.environment")
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing configs"))?;
        rows.iter().map(config_row).collect()
    }

    /// All bots with their latest configuration version.
    pub async fn bots(&self) -> Result<Vec<BotRow>, StoreError> {
        self.bots_in(&EnvFilter::ALL).await
    }

    /// The bots in the environments `env` reaches (an indexed filter).
    pub async fn bots_in(&self, env: &EnvFilter) -> Result<Vec<BotRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "{BOT_SELECT} WHERE {} ORDER BY b.bot_id",
            env.sql("b.environment")
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing bots"))?;
        // A row edited by hand into something unreadable is left out, named in the log: the
        // rest of the fleet is still listed and served.
        rows.iter()
            .filter_map(|r| match bot_row(r) {
                Err(StoreError::Corrupt(why)) => {
                    tracing::error!(%why, "a stored bot row is unreadable: left out");
                    None
                }
                other => Some(other),
            })
            .collect()
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

    /// A bot and its replicas (indexed lookups), the bot first.
    pub async fn instances(&self, bot_id: &str) -> Result<Vec<BotRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "{BOT_SELECT} WHERE b.bot_id = $1 OR b.replica_of = $1 ORDER BY b.bot_id"
        ))
        .bind(bot_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("reading bot {bot_id}'s instances")))?;
        let mut all = rows.iter().map(bot_row).collect::<Result<Vec<_>, _>>()?;
        all.sort_by_key(|r| r.replica_of.is_some());
        Ok(all)
    }

    /// Records where a bot runs: its node (empty: none), the cores it holds there and why it
    /// waits (`None`: placed); `false` when the bot does not exist.
    pub async fn set_placement(
        &self,
        bot_id: &str,
        node_id: &str,
        cores: &[u32],
        pending: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE bots SET node_id = $1, cores = $2, pending_reason = $3, updated_at = $4 WHERE bot_id = $5",
        )
        .bind(node_id)
        .bind(serde_json::to_string(cores).unwrap_or_default())
        .bind(pending)
        .bind(self.now_ms())
        .bind(bot_id)
        .execute(&self.pool)
        .await
        .map_err(db(format!("placing bot {bot_id}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Records how a bot asks to be placed; `false` when the bot does not exist.
    pub async fn set_placement_kind(
        &self,
        bot_id: &str,
        placement: &crate::placement::Placement,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE bots SET placement = $1, updated_at = $2 WHERE bot_id = $3")
            .bind(serde_json::to_string(placement).unwrap_or_default())
            .bind(self.now_ms())
            .bind(bot_id)
            .execute(&self.pool)
            .await
            .map_err(db(format!("recording bot {bot_id}'s placement")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets a bot's desired state; `false` when the bot does not exist.
    pub async fn set_desired_state(
        &self,
        bot_id: &str,
        state: sniperforge_protocol::fleet::DesiredState,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE bots SET desired_state = $1, updated_at = $2 WHERE bot_id = $3")
                .bind(state.as_str())
                .bind(self.now_ms())
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
        .bind(self.now_ms())
        .bind(bot_id)
        .execute(&self.pool)
        .await
        .map_err(db(format!("restarting bot {bot_id}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// A rollout's restart: the restart generation bumped, only for a bot that runs (desired
    /// running or paused), its desired state left as it is (a rollout never starts a bot an
    /// operator or the emergency stop stopped, nor resumes a paused one); the new generation,
    /// `None` when the bot does not run (or does not exist).
    pub async fn request_rollout_restart(&self, bot_id: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "UPDATE bots SET restarts = restarts + 1, updated_at = $1 WHERE bot_id = $2 AND desired_state IN ('running', 'paused') RETURNING restarts",
        )
        .bind(self.now_ms())
        .bind(bot_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db(format!("restarting bot {bot_id}")))?;
        row.map(|r| r.try_get::<i64, _>("restarts"))
            .transpose()
            .map_err(db(format!("reading bot {bot_id}'s restart generation")))
    }

    /// Deletes a bot with its replicas (its configuration history stays); `false` when it did
    /// not exist.
    pub async fn delete_bot(&self, bot_id: &str) -> Result<bool, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        sqlx::query(
            "DELETE FROM bot_reports WHERE bot_id = $1 OR bot_id IN (SELECT bot_id FROM bots WHERE replica_of = $1)",
        )
        .bind(bot_id)
        .execute(&mut *tx)
        .await
        .map_err(db(format!("deleting bot {bot_id}'s last reports")))?;
        let done = sqlx::query("DELETE FROM bots WHERE bot_id = $1 OR replica_of = $1")
            .bind(bot_id)
            .execute(&mut *tx)
            .await
            .map_err(db(format!("deleting bot {bot_id}")))?;
        tx.commit()
            .await
            .map_err(db(format!("committing the deletion of bot {bot_id}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets every bot's desired state to stopped; returns how many changed.
    pub async fn stop_all(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE bots SET desired_state = 'stopped', updated_at = $1 WHERE desired_state <> 'stopped'")
            .bind(self.now_ms())
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

    /// Fills in the environment of rows stored before environments were (from each
    /// configuration's body; a body without a readable one counts as `dev`, the default).
    pub(super) async fn fill_in_environments(&self) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "SELECT config_id, version, body FROM config_versions WHERE environment IS NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading configurations without an environment"))?;
        for r in &rows {
            let id: String = r.try_get("config_id").map_err(db("reading config_id"))?;
            let version: i64 = r.try_get("version").map_err(db("reading version"))?;
            let body: String = r.try_get("body").map_err(db("reading body"))?;
            let env = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|b| b["environment"].as_str()?.parse::<Environment>().ok())
                .unwrap_or_default();
            sqlx::query(
                "UPDATE config_versions SET environment = $1 WHERE config_id = $2 AND version = $3",
            )
            .bind(env.as_str())
            .bind(&id)
            .bind(version)
            .execute(&self.pool)
            .await
            .map_err(db(format!(
                "filling in config {id} v{version}'s environment"
            )))?;
        }
        sqlx::query(
            "UPDATE bots SET environment = COALESCE((SELECT c.environment FROM config_versions c WHERE c.config_id = bots.bot_id \
             ORDER BY c.version DESC LIMIT 1), 'dev') WHERE environment IS NULL",
        )
        .execute(&self.pool)
        .await
        .map_err(db("filling in bots' environments"))?;
        // The cores bots from before placement hold: their configuration's (the ledger's start).
        let rows = sqlx::query("SELECT bot_id FROM bots WHERE cores IS NULL")
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading bots without cores"))?;
        for r in &rows {
            let id: String = r.try_get("bot_id").map_err(db("reading bot_id"))?;
            let cores: Vec<u32> = self
                .config(&id, None)
                .await?
                .map(|c| crate::placement::pinned_of(&c.body))
                .unwrap_or_default();
            sqlx::query("UPDATE bots SET cores = $1 WHERE bot_id = $2")
                .bind(serde_json::to_string(&cores).unwrap_or_default())
                .bind(&id)
                .execute(&self.pool)
                .await
                .map_err(db(format!("filling in bot {id}'s cores")))?;
        }
        Ok(())
    }
}
