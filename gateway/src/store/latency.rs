//! Latency per minute: merged HDR histograms by scope and stage, and their pruning.

use super::*;

impl Store {
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
}
