//! Rollouts: one row each, the rollout with its steps as JSON.

use super::*;
use crate::rollouts::{LISTED, Rollout};

fn rollout_row(r: &sqlx::any::AnyRow) -> Result<Rollout, StoreError> {
    let body: String = r
        .try_get("body")
        .map_err(db("reading rollout column body"))?;
    serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(format!("rollout body: {e}")))
}

impl Store {
    /// Inserts or replaces a rollout.
    pub async fn save_rollout(&self, rollout: &Rollout) -> Result<(), StoreError> {
        let body = serde_json::to_string(rollout)
            .map_err(|e| StoreError::Corrupt(format!("rollout body: {e}")))?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        sqlx::query("DELETE FROM rollouts WHERE rollout_id = $1")
            .bind(&rollout.rollout_id)
            .execute(&mut *tx)
            .await
            .map_err(db(format!("replacing rollout {}", rollout.rollout_id)))?;
        sqlx::query("INSERT INTO rollouts (rollout_id, state, body, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&rollout.rollout_id)
            .bind(rollout.state.as_str())
            .bind(body)
            .bind(rollout.created_at)
            .bind(rollout.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(db(format!("writing rollout {}", rollout.rollout_id)))?;
        tx.commit()
            .await
            .map_err(db(format!("committing rollout {}", rollout.rollout_id)))
    }

    /// One rollout.
    pub async fn rollout(&self, rollout_id: &str) -> Result<Option<Rollout>, StoreError> {
        sqlx::query("SELECT body FROM rollouts WHERE rollout_id = $1")
            .bind(rollout_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db(format!("reading rollout {rollout_id}")))?
            .map(|r| rollout_row(&r))
            .transpose()
    }

    /// The latest [`LISTED`] rollouts, newest first.
    pub async fn rollouts(&self) -> Result<Vec<Rollout>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM rollouts ORDER BY created_at DESC, rollout_id DESC LIMIT $1",
        )
        .bind(LISTED)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing rollouts"))?;
        rows.iter().map(rollout_row).collect()
    }

    /// Drops the rollouts past the newest `keep` (never a running or paused one).
    pub async fn prune_rollouts(&self, keep: i64) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM rollouts WHERE state NOT IN ('running', 'paused') AND rollout_id NOT IN \
             (SELECT rollout_id FROM rollouts ORDER BY created_at DESC, rollout_id DESC LIMIT $1)",
        )
        .bind(keep)
        .execute(&self.pool)
        .await
        .map_err(db("pruning rollouts"))?;
        Ok(())
    }

    /// The rollouts running or paused, oldest first.
    pub async fn active_rollouts(&self) -> Result<Vec<Rollout>, StoreError> {
        let rows = sqlx::query(
            "SELECT body FROM rollouts WHERE state IN ('running', 'paused') ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing active rollouts"))?;
        rows.iter().map(rollout_row).collect()
    }
}
