//! Tokens, sessions, users and the audit trail.

use super::*;

impl Store {
    /// Adds a token with a role, scoped to `environments` (`None`: all).
    pub async fn add_token(
        &self,
        token: &str,
        name: &str,
        role: Role,
        environments: Option<&[Environment]>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, name, role, created_at, environments) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash(token))
        .bind(name)
        .bind(role.as_str())
        .bind(self.now_ms())
        .bind(environments.map(Environment::join))
        .execute(&self.pool)
        .await
        .map_err(db(format!("adding token {name}")))?;
        Ok(())
    }

    /// Adds an agent token bound to `node_id`, its node allowed to serve `environments` only
    /// (`None`: any).
    pub async fn add_agent_token(
        &self,
        token: &str,
        name: &str,
        node_id: &str,
        environments: Option<&[Environment]>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, name, role, created_at, node_id, environments) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash(token))
        .bind(name)
        .bind(Role::Agent.as_str())
        .bind(self.now_ms())
        .bind(node_id)
        .bind(environments.map(Environment::join))
        .execute(&self.pool)
        .await
        .map_err(db(format!("adding agent token {name}")))?;
        Ok(())
    }

    /// Every token's name, role, node (agent tokens) and creation time (never the token or
    /// its hash).
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, role, node_id, environments, created_at, expires_at FROM tokens ORDER BY name, created_at",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing tokens"))?;
        rows.iter()
            .map(|r| {
                let col = |c: &'static str| db(format!("reading token column {c}"));
                Ok(TokenRow {
                    name: r.try_get("name").map_err(col("name"))?,
                    role: role_column(r)?,
                    node_id: r.try_get("node_id").map_err(col("node_id"))?,
                    environments: env_list_column(r, "environments")?,
                    created_at: r.try_get("created_at").map_err(col("created_at"))?,
                    expires_at: r.try_get("expires_at").map_err(col("expires_at"))?,
                })
            })
            .collect()
    }

    /// A login session: a token named `session:<user>` that stops working at `expires_at` (ms).
    pub async fn add_session(
        &self,
        token: &str,
        user: &str,
        role: Role,
        environments: Option<&[Environment]>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= $1")
            .bind(self.now_ms())
            .execute(&self.pool)
            .await
            .map_err(db("dropping expired sessions"))?;
        sqlx::query(
            "INSERT INTO tokens (token_hash, name, role, created_at, expires_at, environments) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash(token))
        .bind(format!("session:{user}"))
        .bind(role.as_str())
        .bind(self.now_ms())
        .bind(expires_at)
        .bind(environments.map(Environment::join))
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
        environments: Option<&[Environment]>,
    ) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let envs = environments.map(Environment::join);
        let updated = sqlx::query(
            "UPDATE users SET password_hash = $1, role = $2, updated_at = $3, environments = $4 WHERE name = $5",
        )
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .bind(&envs)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(db(format!("updating user {name}")))?;
        if updated.rows_affected() > 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO users (name, password_hash, role, created_at, updated_at, environments) VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(name)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(now)
        .bind(&envs)
        .execute(&self.pool)
        .await
        .map_err(db(format!("adding user {name}")))?;
        Ok(true)
    }

    /// A user's password hash, role and environments (`None`: all).
    #[allow(clippy::type_complexity)]
    pub async fn user(
        &self,
        name: &str,
    ) -> Result<Option<(String, Role, Option<Vec<Environment>>)>, StoreError> {
        let row =
            sqlx::query("SELECT password_hash, role, environments FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db(format!("looking up user {name}")))?;
        Ok(row.and_then(|r| {
            let hash: String = r.try_get("password_hash").ok()?;
            let role: String = r.try_get("role").ok()?;
            let envs = env_list_column(&r, "environments").ok()?;
            Role::parse(&role).map(|role| (hash, role, envs))
        }))
    }

    /// Users (names, roles, times; never hashes).
    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, role, environments, created_at, updated_at FROM users ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing users"))?;
        rows.iter()
            .map(|r| {
                let col = |c: &'static str| db(format!("reading user column {c}"));
                Ok(UserRow {
                    name: r.try_get("name").map_err(col("name"))?,
                    role: role_column(r)?,
                    environments: env_list_column(r, "environments")?,
                    created_at: r.try_get("created_at").map_err(col("created_at"))?,
                    updated_at: r.try_get("updated_at").map_err(col("updated_at"))?,
                })
            })
            .collect()
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
            "SELECT name, role, node_id, environments FROM tokens WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(token_hash(token))
        .bind(self.now_ms())
            .fetch_optional(&self.pool)
            .await
            .map_err(db("looking up a token"))?;
        Ok(row.and_then(|r| {
            let name: String = r.try_get("name").ok()?;
            let role: String = r.try_get("role").ok()?;
            let node_id: Option<String> = r.try_get("node_id").ok()?;
            let role = Role::parse(&role)?;
            // A scope that cannot be read reaches nothing (never everything).
            let environments = env_list_column(&r, "environments").ok()?;
            // An agent token without its node reaches nothing.
            if role == Role::Agent && node_id.is_none() {
                return None;
            }
            Some(Identity {
                name,
                role,
                node_id,
                environments,
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
            .bind(self.now_ms())
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
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query("SELECT at, actor, action, target, details FROM audit ORDER BY at DESC, seq DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading the audit trail"))?;
        rows.iter()
            .map(|r| {
                let col = |c: &'static str| db(format!("reading audit column {c}"));
                let details: String = r.try_get("details").map_err(col("details"))?;
                Ok(AuditRow {
                    at: r.try_get("at").map_err(col("at"))?,
                    actor: r.try_get("actor").map_err(col("actor"))?,
                    action: r.try_get("action").map_err(col("action"))?,
                    target: r.try_get("target").map_err(col("target"))?,
                    // Written by this gateway as JSON; text that is not stays readable.
                    details: serde_json::from_str(&details)
                        .unwrap_or(serde_json::Value::String(details)),
                })
            })
            .collect()
    }
}

/// A row's `role` column.
fn role_column(r: &sqlx::any::AnyRow) -> Result<Role, StoreError> {
    let role: String = r.try_get("role").map_err(db("reading a role column"))?;
    Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))
}
