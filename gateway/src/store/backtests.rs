//! Backtests: one row each, queued for a node's agent, then its result.

use super::*;
use serde_json::Value;
use sniperforge_protocol::backtests::{BacktestJob, BacktestResult, BacktestState};

/// Most backtests listed.
pub const BACKTESTS_LISTED: i64 = 200;

/// A backtest as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct BacktestRow {
    /// Id.
    pub backtest_id: String,
    /// The node that runs it.
    pub node_id: String,
    /// The configuration's environment.
    pub environment: Environment,
    /// Where it stands.
    pub state: BacktestState,
    /// The job as asked (configuration, recording, latency, sweep).
    pub request: BacktestJob,
    /// `report.json` (one run) or `sweep.json` (a sweep), when done.
    pub report: Option<Value>,
    /// The Markdown report, when done (left out of listings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_md: Option<String>,
    /// The cumulative-PnL chart (SVG), when done with one run (left out of listings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pnl_svg: Option<String>,
    /// What the run measured (wall time, throughput).
    pub timing: Option<Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Who asked for it.
    pub created_by: String,
    /// Asked at, unix ms.
    pub created_at: i64,
    /// Last changed at, unix ms.
    pub updated_at: i64,
}

fn json_column(r: &sqlx::any::AnyRow, c: &'static str) -> Result<Option<Value>, StoreError> {
    let text: Option<String> = r
        .try_get(c)
        .map_err(db(format!("reading backtest column {c}")))?;
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("backtest {c}: {e}")))
    })
    .transpose()
}

/// How much of a backtest a read takes.
#[derive(Clone, Copy, PartialEq)]
enum Read {
    /// Everything.
    Whole,
    /// A listing's: the report's totals (its `summary` column), the configuration's id, type
    /// and environment only, no timing, Markdown or chart.
    Listed,
}

fn backtest_row(r: &sqlx::any::AnyRow, read: Read) -> Result<BacktestRow, StoreError> {
    let col = |c: &'static str| db(format!("reading backtest column {c}"));
    let state: String = r.try_get("state").map_err(col("state"))?;
    let request: String = r.try_get("request").map_err(col("request"))?;
    let mut request: BacktestJob = serde_json::from_str(&request)
        .map_err(|e| StoreError::Corrupt(format!("backtest request: {e}")))?;
    let whole = read == Read::Whole;
    if !whole {
        let keep = |k: &str| request.config.get(k).cloned().unwrap_or(Value::Null);
        request.config = serde_json::json!({"bot_id": keep("bot_id"), "bot_type": keep("bot_type"), "environment": keep("environment")});
    }
    Ok(BacktestRow {
        backtest_id: r.try_get("backtest_id").map_err(col("backtest_id"))?,
        node_id: r.try_get("node_id").map_err(col("node_id"))?,
        environment: env_column(r, "environment")?,
        state: serde_json::from_value(Value::String(state.clone()))
            .map_err(|_| StoreError::Corrupt(format!("backtest state {state:?}")))?,
        request,
        report: json_column(r, if whole { "report" } else { "summary" })?,
        report_md: if whole {
            r.try_get("report_md").map_err(col("report_md"))?
        } else {
            None
        },
        pnl_svg: if whole {
            r.try_get("pnl_svg").map_err(col("pnl_svg"))?
        } else {
            None
        },
        timing: if whole {
            json_column(r, "timing")?
        } else {
            None
        },
        error: r.try_get("error").map_err(col("error"))?,
        created_by: r.try_get("created_by").map_err(col("created_by"))?,
        created_at: r.try_get("created_at").map_err(col("created_at"))?,
        updated_at: r.try_get("updated_at").map_err(col("updated_at"))?,
    })
}

/// What a listing shows of a report: one run's totals (no routes), or a sweep's rows' totals.
fn summary(report: &Value) -> Value {
    const KEPT: [&str; 10] = [
        "bot_id",
        "trades",
        "wins",
        "losses",
        "failed",
        "win_rate",
        "pnl_usd",
        "max_drawdown_usd",
        "params",
        "halted",
    ];
    let pick = |v: &Value| -> Value {
        match v.as_object() {
            Some(o) => Value::Object(
                o.iter()
                    .filter(|(k, _)| KEPT.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            None => Value::Null,
        }
    };
    match report {
        Value::Array(rows) => Value::Array(
            rows.iter()
                .take(sniperforge_protocol::backtests::SWEEP_RUNS_MAX)
                .map(pick)
                .collect(),
        ),
        other => pick(other),
    }
}

const COLUMNS: &str =
    "backtest_id, node_id, environment, state, request, error, created_by, created_at, updated_at";

impl Store {
    /// Queues `job` on `node_id`, unless the node has `max_queued` waiting already (`false`).
    pub async fn add_backtest(
        &self,
        job: &BacktestJob,
        node_id: &str,
        environment: Environment,
        created_by: &str,
        max_queued: i64,
    ) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let request = serde_json::to_string(job)
            .map_err(|e| StoreError::Corrupt(format!("backtest request: {e}")))?;
        // One statement: two requests at once never queue past the limit together.
        let done = sqlx::query(
            "INSERT INTO backtests (backtest_id, node_id, environment, state, request, created_by, created_at, updated_at) \
             SELECT $1, $2, $3, 'queued', $4, $5, $6, $6 \
             WHERE (SELECT COUNT(*) FROM backtests WHERE node_id = $2 AND state IN ('queued', 'running')) < $7",
        )
        .bind(&job.id)
        .bind(node_id)
        .bind(environment.as_str())
        .bind(request)
        .bind(created_by)
        .bind(now)
        .bind(max_queued)
        .execute(&self.pool)
        .await
        .map_err(db(format!("queueing backtest {}", job.id)))?;
        Ok(done.rows_affected() == 1)
    }

    /// One backtest, whole.
    pub async fn backtest(&self, id: &str) -> Result<Option<BacktestRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS}, report, timing, report_md, pnl_svg FROM backtests WHERE backtest_id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db(format!("reading backtest {id}")))?
        .map(|r| backtest_row(&r, Read::Whole))
        .transpose()
    }

    /// The newest backtests in `envs`: each report's totals, the configuration's id, type and
    /// environment (no timing, Markdown or chart).
    pub async fn backtests(&self, envs: &EnvFilter) -> Result<Vec<BacktestRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, summary FROM backtests WHERE {} ORDER BY created_at DESC, backtest_id DESC LIMIT $1",
            envs.sql("environment")
        ))
        .bind(BACKTESTS_LISTED)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing backtests"))?;
        rows.iter().map(|r| backtest_row(r, Read::Listed)).collect()
    }

    /// The jobs `node_id` is to run: queued or running, oldest first.
    pub async fn node_backtests(&self, node_id: &str) -> Result<Vec<BacktestJob>, StoreError> {
        let rows = sqlx::query(
            "SELECT request FROM backtests WHERE node_id = $1 AND state IN ('queued', 'running') ORDER BY created_at, backtest_id",
        )
        .bind(node_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("listing node {node_id}'s backtests")))?;
        rows.iter()
            .map(|r| {
                let text: String = r
                    .try_get("request")
                    .map_err(db("reading backtest column request"))?;
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("backtest request: {e}")))
            })
            .collect()
    }

    /// Records what `node_id` has of backtest `id`: only while it is queued or running, and
    /// only on its own node. Whether it changed.
    pub async fn backtest_result(
        &self,
        id: &str,
        node_id: &str,
        result: &BacktestResult,
    ) -> Result<bool, StoreError> {
        let text = |v: &Option<Value>| v.as_ref().map(Value::to_string);
        let done = sqlx::query(
            "UPDATE backtests SET state = $1, report = $2, report_md = $3, pnl_svg = $4, timing = $5, error = $6, updated_at = $7, summary = $10 \
             WHERE backtest_id = $8 AND node_id = $9 AND state IN ('queued', 'running')",
        )
        .bind(result.state.as_str())
        .bind(text(&result.report))
        .bind(result.report_md.as_deref())
        .bind(result.pnl_svg.as_deref())
        .bind(text(&result.timing))
        .bind(result.error.as_deref())
        .bind(self.now_ms())
        .bind(id)
        .bind(node_id)
        .bind(result.report.as_ref().map(|r| summary(r).to_string()))
        .execute(&self.pool)
        .await
        .map_err(db(format!("recording backtest {id}'s result")))?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes backtest `id`.
    pub async fn delete_backtest(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM backtests WHERE backtest_id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db(format!("deleting backtest {id}")))?;
        Ok(())
    }

    /// Deletes the finished backtests last changed before `before_ms`, and fails the running
    /// ones silent since `silent_since_ms`.
    pub async fn prune_backtests(
        &self,
        before_ms: i64,
        silent_since_ms: i64,
    ) -> Result<u64, StoreError> {
        sqlx::query(
            "UPDATE backtests SET state = 'failed', error = 'no result from its node in time', updated_at = $1 \
             WHERE state = 'running' AND updated_at < $2",
        )
        .bind(self.now_ms())
        .bind(silent_since_ms)
        .execute(&self.pool)
        .await
        .map_err(db("failing silent backtests"))?;
        let done = sqlx::query(
            "DELETE FROM backtests WHERE state IN ('done', 'failed') AND updated_at < $1",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await
        .map_err(db("deleting old backtests"))?;
        Ok(done.rows_affected())
    }
}
