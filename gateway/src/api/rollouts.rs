//! `POST /api/v1/rollouts`, `GET /api/v1/rollouts[/{rollout_id}]` and
//! `POST /api/v1/rollouts/{rollout_id}/{pause,resume,abort}` (the driver is
//! [`crate::rollouts`]).

use super::*;
use crate::rollouts::{NewRollout, Rollout, RolloutState, plan};

/// `GET /api/v1/rollouts`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct RolloutList {
    /// The latest rollouts, newest first (at most 20; the store keeps the newest 200).
    pub rollouts: Vec<Rollout>,
}

pub(super) async fn create_rollout(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let new: NewRollout = parse_body(&body)?;
    let scope = new.check().map_err(|(field, why)| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            format!("{field}: {why}"),
        )
        .details(json!({"field": field}))
    })?;
    if let crate::rollouts::Scope::Node(n) = &scope
        && !state.store.nodes().await?.iter().any(|x| x.node_id == *n)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            format!("scope: no node {n} has registered"),
        )
        .details(json!({"field": "scope"})));
    }
    // A scoped operator restarts its own environment's bots: nothing that reaches others (an
    // upgrade replaces agents every environment shares).
    let who = caller(&ext);
    if who.environments.is_some() {
        let own = matches!(&scope, crate::rollouts::Scope::Env(e)
            if e.parse::<crate::store::Environment>().is_ok_and(|e| who.sees(e)));
        if !own || new.target != "restart" {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "environment_forbidden",
                format!(
                    "token {} reaches {} only: it may start a restart rollout of env:<environment> of its own",
                    who.name,
                    crate::store::Environment::join(
                        who.environments.as_deref().unwrap_or_default()
                    )
                ),
            ));
        }
    }
    let _guard = state.rollouts_lock.lock().await;
    let bots: Vec<_> = state
        .store
        .bots()
        .await?
        .into_iter()
        .map(|b| {
            let env = Some(b.environment.to_string());
            (b, env)
        })
        .collect();
    let steps = plan(&new.target, &scope, &bots)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", e))?;
    // Rollouts run side by side when they touch nothing in common (a dev restart never waits
    // for a prod one); one holding a bot or an upgraded node of this one refuses it.
    for active in state.store.active_rollouts().await? {
        let Some(what) = crate::rollouts::overlap(&active.steps, &steps) else {
            continue;
        };
        // A rollout of another environment is not named to a scoped caller.
        if !sees_rollout(&who, &active) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "rollout_active",
                "another rollout holds some of these bots or nodes; try again once it ends",
            ));
        }
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "rollout_active",
            format!(
                "rollout {} is {} and holds {what}: abort it or let it finish first",
                active.rollout_id,
                active.state.as_str()
            ),
        )
        .details(json!({"rollout_id": active.rollout_id})));
    }
    let now = state.store.now_ms();
    let rollout = Rollout {
        rollout_id: format!("r-{now}-{}", &crate::store::new_token()[..6]),
        target: new.target,
        scope: new.scope,
        max_unavailable: new.max_unavailable,
        pause_on_failure: new.pause_on_failure,
        state: RolloutState::Running,
        reason: None,
        created_by: caller(&ext).name,
        created_at: now,
        updated_at: now,
        steps,
    };
    state.store.save_rollout(&rollout).await?;
    state.store.prune_rollouts(crate::rollouts::KEPT).await?;
    state
        .store
        .audit(
            &rollout.created_by,
            "rollout.create",
            &rollout.rollout_id,
            &json!({"target": rollout.target, "scope": rollout.scope, "bots": rollout.steps.len(),
                "max_unavailable": rollout.max_unavailable, "pause_on_failure": rollout.pause_on_failure}),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(rollout)).into_response())
}

/// Whether `caller` sees `rollout`: every caller reaching all environments; a scoped one,
/// the rollouts of an environment of its own.
fn sees_rollout(who: &Caller, rollout: &Rollout) -> bool {
    who.environments.is_none()
        || rollout
            .scope
            .strip_prefix("env:")
            .and_then(|e| e.parse::<crate::store::Environment>().ok())
            .is_some_and(|e| who.sees(e))
}

pub(super) async fn list_rollouts(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let who = caller(&ext);
    let mut rollouts = state.store.rollouts().await?;
    rollouts.retain(|r| sees_rollout(&who, r));
    Ok(axum::Json(RolloutList { rollouts }).into_response())
}

pub(super) async fn get_rollout(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let rollout = state
        .store
        .rollout(&id)
        .await?
        .filter(|r| sees_rollout(&caller(&ext), r))
        .ok_or_else(|| ApiError::not_found(format!("rollout {id}")))?;
    Ok(axum::Json(rollout).into_response())
}

async fn act(state: &AppState, ext: &axum::http::Extensions, id: &str, action: &str) -> ApiResult {
    let _guard = state.rollouts_lock.lock().await;
    let mut rollout = state
        .store
        .rollout(id)
        .await?
        .filter(|r| sees_rollout(&caller(ext), r))
        .ok_or_else(|| ApiError::not_found(format!("rollout {id}")))?;
    rollout
        .act(action, state.store.now_ms())
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "illegal_transition", e))?;
    state.store.save_rollout(&rollout).await?;
    // Agents see at once whether an agent upgrade is still asked for.
    state.bump_index().await?;
    state
        .store
        .audit(
            &caller(ext).name,
            &format!("rollout.{action}"),
            id,
            &json!({"state": rollout.state}),
        )
        .await?;
    Ok(axum::Json(rollout).into_response())
}

pub(super) async fn pause_rollout(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> ApiResult {
    act(&state, &ext, &id, "pause").await
}

pub(super) async fn resume_rollout(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> ApiResult {
    act(&state, &ext, &id, "resume").await
}

pub(super) async fn abort_rollout(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> ApiResult {
    act(&state, &ext, &id, "abort").await
}
