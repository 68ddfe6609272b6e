//! Backtests on nodes: `POST /api/v1/backtests` queues one for a node's agent (a
//! configuration over a recording the node holds), the agent posts its result, and the
//! listing and each backtest show where it stands and its report.

use super::*;
use sniperforge_protocol::backtests::{
    BACKTEST_TYPES, BacktestJob, BacktestResult, BacktestState, LATENCY_US_MAX, SWEEP_AXES_MAX,
    backtest_runs, valid_recording_name, valid_sweep,
};

/// Most backtests queued or running on one node.
pub const QUEUED_PER_NODE: i64 = 16;
/// A running backtest that has posted nothing for this long has failed (the node kills one at
/// an hour).
pub const SILENT_MS: i64 = 70 * 60_000;
/// Largest configuration a backtest takes (JSON bytes): a node's desired state carries its
/// queued jobs whole.
pub const CONFIG_MAX: usize = 64 * 1024;

/// `POST /api/v1/backtests`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBacktest {
    /// The node that runs it (it serves the configuration's environment).
    #[schemars(pattern(r"^[A-Za-z0-9_.-]{1,64}$"))]
    pub node_id: String,
    /// A recording in the node's `DATA/recordings/` (a file name ending in `.sfrec`).
    #[schemars(pattern(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,121}\.sfrec$"))]
    pub recording: String,
    /// The bot configuration to run (an arbitrage type's).
    pub config: Value,
    /// The modelled decision-to-fill latency, µs (default: the configuration's).
    #[serde(default)]
    #[schemars(range(max = 1_000_000))]
    pub latency_us: Option<u64>,
    /// `section.field=v1,v2,…` grids (at most 4).
    #[serde(default)]
    #[schemars(length(max = 4), inner(length(max = 256)))]
    pub sweep: Vec<String>,
}

/// `GET /api/v1/backtests`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct BacktestList {
    /// The newest (at most 200): each report's totals and the configuration's id, type and
    /// environment, no timing, Markdown or chart.
    pub backtests: Vec<crate::store::BacktestRow>,
}

/// `POST /api/v1/agent/backtests/{id}`: what the gateway took.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct BacktestTaken {
    /// The backtest.
    pub backtest_id: String,
    /// Where it stands now.
    pub state: BacktestState,
}

/// `DELETE /api/v1/backtests/{id}`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct BacktestRemoved {
    /// The backtest.
    pub backtest_id: String,
    /// `cancelled` (it was queued or running) or `deleted` (it had finished).
    pub done: String,
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_field",
        format!("{field}: {message}"),
    )
    .details(json!([{"path": field}]))
}

/// Queues a backtest on a node.
pub(super) async fn create_backtest(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let new: NewBacktest = parse_body(&body)?;
    if !valid_recording_name(&new.recording) {
        return Err(invalid(
            "recording",
            "a file name in the node's recordings directory: letters, digits, . _ -, ending in .sfrec".into(),
        ));
    }
    if new.latency_us.is_some_and(|l| l > LATENCY_US_MAX) {
        return Err(invalid("latency_us", format!("0 to {LATENCY_US_MAX} µs")));
    }
    if new.config.to_string().len() > CONFIG_MAX {
        return Err(invalid(
            "config",
            format!("at most {CONFIG_MAX} bytes of JSON"),
        ));
    }
    if new.sweep.len() > SWEEP_AXES_MAX {
        return Err(invalid(
            "sweep",
            format!("at most {SWEEP_AXES_MAX} parameters"),
        ));
    }
    if let Some(bad) = new.sweep.iter().position(|s| !valid_sweep(s)) {
        return Err(invalid(
            &format!("sweep[{bad}]"),
            "section.field=v1,v2,… (printable, at most 256 bytes)".into(),
        ));
    }
    let valid = validate(&new.config).await?;
    let bot_type = valid.config.bot_type;
    if !BACKTEST_TYPES.contains(&bot_type) {
        return Err(invalid(
            "config.bot_type",
            format!(
                "{bot_type}: a backtest runs {}",
                BACKTEST_TYPES.map(|t| t.as_str()).join(", ")
            ),
        ));
    }
    let env = valid.config.environment;
    let who = caller(&ext);
    who.may_write(env)?;
    let Some(node) = state.store.node(&new.node_id).await? else {
        return Err(invalid(
            "node_id",
            format!("no node {} has registered", new.node_id),
        ));
    };
    if !node.serves(env) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "node_environment",
            format!(
                "node {} does not serve {env}: a {env} backtest runs on a node that does",
                node.node_id
            ),
        )
        .details(json!([{"path": "node_id"}])));
    }
    // Every run of the grid, as the node will run it (counted first: at most 64).
    let (config, latency, sweep) = (new.config.clone(), new.latency_us, new.sweep.clone());
    tokio::task::spawn_blocking(move || backtest_runs(&config, latency, &sweep).map(|_| ()))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "validation",
                format!("checking the runs: {e}"),
            )
        })?
        .map_err(|e| {
            invalid(
                if new.sweep.is_empty() {
                    "config"
                } else {
                    "sweep"
                },
                e,
            )
        })?;
    let job = BacktestJob {
        id: format!("bt-{}", hex16()),
        config: new.config,
        recording: new.recording,
        latency_us: new.latency_us,
        sweep: new.sweep,
    };
    if !state
        .store
        .add_backtest(&job, &node.node_id, env, &who.name, QUEUED_PER_NODE)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "backtests_queued",
            format!(
                "node {} has {QUEUED_PER_NODE} backtests queued or running already: wait for some to finish",
                node.node_id
            ),
        ));
    }
    state
        .store
        .audit(
            &who.name,
            "backtest.create",
            &job.id,
            &json!({"node_id": node.node_id, "bot_id": valid.config.bot_id, "recording": job.recording, "sweep": job.sweep}),
        )
        .await?;
    state.bump_index().await?;
    let row = state.store.backtest(&job.id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(row)).into_response())
}

/// 16 random hex digits.
fn hex16() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The newest backtests the caller's environments reach.
pub(super) async fn list_backtests(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Query(q): Query<EnvQuery>,
) -> ApiResult {
    let envs = caller(&ext).env_filter(q.env.as_deref())?;
    Ok(axum::Json(BacktestList {
        backtests: state.store.backtests(&envs).await?,
    })
    .into_response())
}

/// Backtest `id`, 404 when there is none or it is outside `who`'s environments (the same
/// answer: a scoped caller cannot tell them apart).
async fn visible(
    state: &AppState,
    who: &Caller,
    id: &str,
) -> Result<crate::store::BacktestRow, ApiError> {
    state
        .store
        .backtest(id)
        .await?
        .filter(|b| who.sees(b.environment))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no backtest {id}"),
            )
        })
}

/// One backtest with its report (404 outside the caller's environments).
pub(super) async fn get_backtest(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> ApiResult {
    let row = visible(&state, &caller(&ext), &id).await?;
    Ok(axum::Json(row).into_response())
}

/// An agent's news of a backtest of its node: started, done with its report, or failed.
pub(super) async fn backtest_result(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    body: String,
) -> ApiResult {
    let result: BacktestResult = parse_body(&body)?;
    caller(&ext).for_node(result.node_id.as_str())?;
    result
        .check()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e))?;
    if result.state == BacktestState::Queued {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "state: running, done or failed",
        ));
    }
    if !state
        .store
        .backtest_result(&id, result.node_id.as_str(), &result)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "backtest_closed",
            format!(
                "backtest {id} is not queued or running on node {}",
                result.node_id
            ),
        ));
    }
    if result.state != BacktestState::Running {
        state.bump_index().await?;
    }
    Ok(axum::Json(BacktestTaken {
        backtest_id: id,
        state: result.state,
    })
    .into_response())
}

/// Cancels a queued or running backtest (it is then `failed`, "cancelled by …"; the node, no
/// longer seeing it in its desired state, kills the run), or deletes a finished one.
pub(super) async fn delete_backtest(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> ApiResult {
    let who = caller(&ext);
    // (Seen is written: `visible` answers 404 outside the caller's environments.)
    let row = visible(&state, &who, &id).await?;
    let what = if matches!(row.state, BacktestState::Queued | BacktestState::Running) {
        let cancelled = BacktestResult {
            node_id: sniperforge_protocol::NodeId::new(row.node_id.clone()).map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "corrupt",
                    format!("backtest {id}: node_id: {e}"),
                )
            })?,
            state: BacktestState::Failed,
            error: Some(format!("cancelled by {}", who.name)),
            report: None,
            report_md: None,
            pnl_svg: None,
            timing: None,
        };
        if !state
            .store
            .backtest_result(&id, &row.node_id, &cancelled)
            .await?
        {
            // Its node's result came first.
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "backtest_closed",
                format!("backtest {id} finished meanwhile: read it again"),
            ));
        }
        state.bump_index().await?;
        "cancelled"
    } else {
        state.store.delete_backtest(&id).await?;
        "deleted"
    };
    state
        .store
        .audit(
            &who.name,
            &format!(
                "backtest.{}",
                if what == "cancelled" {
                    "cancel"
                } else {
                    "delete"
                }
            ),
            &id,
            &json!({"node_id": row.node_id}),
        )
        .await?;
    Ok(axum::Json(BacktestRemoved {
        backtest_id: id,
        done: what.into(),
    })
    .into_response())
}
