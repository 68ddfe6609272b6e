//! Nodes (registration, heartbeats) and the bots' last reports.

use super::*;

/// A build column (JSON, NULL for agents before it; a row it cannot read reads as none).
fn build_column(
    r: &sqlx::any::AnyRow,
    column: &'static str,
) -> Result<Option<sniperforge_protocol::fleet::Build>, StoreError> {
    Ok(r.try_get::<Option<String>, _>(column)
        .map_err(db(format!("reading node column {column}")))?
        .and_then(|t| serde_json::from_str(&t).ok()))
}

const NODE_SELECT: &str = "SELECT node_id, hostname, cores, isolated_cores, memory_mb, backend, \
     registered_at, last_heartbeat, agent_build, installed_build, environments, labels, fences, \
     failover_after_ms, window_floor_ms, window_floor_until FROM nodes";

fn node_row(r: &sqlx::any::AnyRow) -> Result<NodeRow, StoreError> {
    let col = |c: &'static str| db(format!("reading node column {c}"));
    Ok(NodeRow {
        node_id: r.try_get("node_id").map_err(col("node_id"))?,
        hostname: r.try_get("hostname").map_err(col("hostname"))?,
        cores: r.try_get("cores").map_err(col("cores"))?,
        isolated_cores: serde_json::from_str(
            &r.try_get::<String, _>("isolated_cores")
                .map_err(col("isolated_cores"))?,
        )
        .unwrap_or_default(),
        memory_mb: r.try_get("memory_mb").map_err(col("memory_mb"))?,
        backend: r.try_get("backend").map_err(col("backend"))?,
        registered_at: r.try_get("registered_at").map_err(col("registered_at"))?,
        last_heartbeat: r.try_get("last_heartbeat").map_err(col("last_heartbeat"))?,
        agent: build_column(r, "agent_build")?,
        installed: build_column(r, "installed_build")?,
        environments: env_list_column(r, "environments")?,
        labels: json_column(r, "labels")?.unwrap_or_default(),
        fences: r
            .try_get::<Option<i64>, _>("fences")
            .map_err(col("fences"))?
            .is_some_and(|f| f == 1),
        failover_after_ms: r
            .try_get("failover_after_ms")
            .map_err(col("failover_after_ms"))?,
        window_floor: r
            .try_get::<Option<i64>, _>("window_floor_ms")
            .map_err(col("window_floor_ms"))?
            .zip(
                r.try_get::<Option<i64>, _>("window_floor_until")
                    .map_err(col("window_floor_until"))?,
            )
            .map(|(window_ms, until)| WindowFloor { window_ms, until }),
    })
}

impl Store {
    /// Registers (or re-registers) a node; `default_window_ms` is the gateway's failover
    /// window, for a node that names none. A node re-registering with a shorter window than
    /// it had keeps the old one until a whole old window has passed: its agent's bots may
    /// still hold leases of the old length.
    pub async fn register_node(
        &self,
        node: &NodeInfo,
        default_window_ms: i64,
    ) -> Result<(), StoreError> {
        let now = self.now_ms();
        // The window in force for it from now: its own, else the gateway's now (kept, so a
        // gateway restarted with a shorter default never shortens it under leases given).
        let own = node
            .failover_after_s
            .map_or(default_window_ms, |s| i64::from(s) * 1000);
        let floor = self
            .node(node.node_id.as_str())
            .await?
            .map(|old| old.failover_window(default_window_ms, now))
            .filter(|old| *old > own)
            .map(|old| (old, now + old));
        let cores = serde_json::to_string(&node.isolated_cores).unwrap_or_else(|_| "[]".into());
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        // What its agent listed stays (an agent that registers again, as after an upgrade,
        // lists them again only when they change or a minute on).
        let recordings: Option<String> =
            sqlx::query("SELECT recordings FROM nodes WHERE node_id = $1")
                .bind(node.node_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(format!("reading node {}", node.node_id)))?
                .map(|r| r.try_get("recordings"))
                .transpose()
                .map_err(db(format!("reading node {}'s recordings", node.node_id)))?
                .flatten();
        sqlx::query("DELETE FROM nodes WHERE node_id = $1")
            .bind(node.node_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db(format!("replacing node {}", node.node_id)))?;
        let build = |b: &Option<sniperforge_protocol::fleet::Build>| {
            b.as_ref().and_then(|b| serde_json::to_string(b).ok())
        };
        sqlx::query("INSERT INTO nodes (node_id, hostname, cores, isolated_cores, memory_mb, backend, registered_at, last_heartbeat, agent_build, installed_build, environments, labels, fences, failover_after_ms, window_floor_ms, window_floor_until, recordings) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)")
            .bind(node.node_id.as_str())
            .bind(&node.hostname)
            .bind(node.cores as i64)
            .bind(cores)
            .bind(node.memory_mb as i64)
            .bind(&node.backend)
            .bind(now)
            .bind(build(&node.agent))
            .bind(build(&node.installed))
            .bind(node.environments.as_deref().map(Environment::join))
            .bind(serde_json::to_string(&node.labels).unwrap_or_else(|_| "{}".into()))
            .bind(i64::from(node.fences))
            .bind(own)
            .bind(floor.map(|f| f.0))
            .bind(floor.map(|f| f.1))
            .bind(recordings)
            .execute(&mut *tx)
            .await
            .map_err(db(format!("registering node {}", node.node_id)))?;
        tx.commit()
            .await
            .map_err(db(format!("committing node {}", node.node_id)))
    }

    /// Gives the nodes registered before failover windows were kept (a NULL window) `window_ms`,
    /// kept with them from now on: a gateway restarted later with another default changes none.
    pub async fn fill_in_node_windows(&self, window_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE nodes SET failover_after_ms = $1 WHERE failover_after_ms IS NULL")
            .bind(window_ms)
            .execute(&self.pool)
            .await
            .map_err(db("filling in the nodes' failover windows"))?;
        Ok(())
    }

    /// Records a heartbeat; `false` for an unknown node.
    pub async fn heartbeat(&self, node_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE nodes SET last_heartbeat = $1 WHERE node_id = $2")
            .bind(self.now_ms())
            .bind(node_id)
            .execute(&self.pool)
            .await
            .map_err(db(format!("heartbeat of node {node_id}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Keeps the recordings `node_id`'s agent listed (written only when they changed).
    pub async fn set_recordings(
        &self,
        node_id: &str,
        list: &[sniperforge_protocol::backtests::RecordingFile],
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(list).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "UPDATE nodes SET recordings = $1 WHERE node_id = $2 \
             AND (recordings IS NULL OR recordings <> $1)",
        )
        .bind(text)
        .bind(node_id)
        .execute(&self.pool)
        .await
        .map_err(db(format!("the recordings of node {node_id}")))?;
        Ok(())
    }

    /// The recordings each node's agent last listed, by node; a node whose agent has listed
    /// none yet is absent (only `GET /api/v1/nodes` reads them: never the nodes every stream,
    /// placement and alert reads). A stored list that cannot be read (written by another
    /// version) is absent too, with a warning.
    pub async fn recordings(
        &self,
    ) -> Result<
        std::collections::HashMap<String, Vec<sniperforge_protocol::backtests::RecordingFile>>,
        StoreError,
    > {
        let rows =
            sqlx::query("SELECT node_id, recordings FROM nodes WHERE recordings IS NOT NULL")
                .fetch_all(&self.pool)
                .await
                .map_err(db("listing the nodes' recordings"))?;
        let mut out = std::collections::HashMap::new();
        for r in &rows {
            let node: String = r.try_get("node_id").map_err(db("reading node_id"))?;
            match json_column(r, "recordings") {
                Ok(Some(list)) => {
                    out.insert(node, list);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(node = %node, error = %e, "the stored recordings of a node cannot be read: left out until it lists them again");
                }
            }
        }
        Ok(out)
    }

    /// Every node with its last heartbeat.
    pub async fn nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        let rows = sqlx::query(&format!("{NODE_SELECT} ORDER BY node_id"))
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing nodes"))?;
        rows.iter().map(node_row).collect()
    }

    /// One node (`None` until it registers).
    pub async fn node(&self, node_id: &str) -> Result<Option<NodeRow>, StoreError> {
        sqlx::query(&format!("{NODE_SELECT} WHERE node_id = $1"))
            .bind(node_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db(format!("reading node {node_id}")))?
            .as_ref()
            .map(node_row)
            .transpose()
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
        let now = self.now_ms();
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
    pub async fn bot_report(&self, bot_id: &str) -> Result<Option<ReportRow>, StoreError> {
        let row = sqlx::query(
            "SELECT bot_id, node_id, status, metrics, reported_at FROM bot_reports WHERE bot_id = $1",
        )
        .bind(bot_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db(format!("reading report of {bot_id}")))?;
        row.as_ref().map(report_row).transpose()
    }

    /// Every bot's latest report, by bot id, in one query (for fleet-wide passes).
    pub async fn bot_reports(
        &self,
    ) -> Result<std::collections::HashMap<String, ReportRow>, StoreError> {
        let rows =
            sqlx::query("SELECT bot_id, node_id, status, metrics, reported_at FROM bot_reports")
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading bot reports"))?;
        rows.iter()
            .map(|r| {
                let id: String = r
                    .try_get("bot_id")
                    .map_err(db("reading report column bot_id"))?;
                Ok((id, report_row(r)?))
            })
            .collect()
    }

    /// The connection pool (for the store's other modules).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}
