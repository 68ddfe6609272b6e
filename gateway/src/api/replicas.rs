//! Replicas: an observer bot (analytics, portfolio, dashboard) run as several instances, each
//! on another node. The further instances are bot rows of their own, `<bot>-r1` and on, that
//! name the bot they replicate: they run its configuration under their own id, report, alert
//! and fail over on their own, and follow its actions (start, stop, restart) and its
//! configuration changes. `POST /api/v1/bots {"replicas": N}` creates them and
//! `PUT /api/v1/bots/{bot_id}/replicas {"replicas": N}` changes the count.

use super::*;
use crate::placement::{self, REPLICAS_MAX};
use crate::store::{BotRow, NewBot};

/// Whether bot `bot_id` of type `bot_type` may run `n` instances: 400 naming the field
/// otherwise (a trading type, a count out of range, ids too long, or cores its configuration
/// pins, which no two nodes are asked to hold alike).
pub(super) fn check_replicas(
    bot_id: &str,
    bot_type: &str,
    n: u32,
    pinned: &[u32],
) -> Result<(), ApiError> {
    let bad = |path: &str, message: String| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_replicas", message)
            .details(json!([{"path": path}]))
    };
    if !(1..=REPLICAS_MAX).contains(&n) {
        return Err(bad(
            "replicas",
            format!("replicas: 1 to {REPLICAS_MAX} (got {n})"),
        ));
    }
    if n == 1 {
        return Ok(());
    }
    if !placement::replicable(bot_type) {
        return Err(bad(
            "replicas",
            format!(
                "replicas: a {bot_type} bot trades and stays single-writer (one instance); \
                 ml_analytics, portfolio_manager and real_time_dashboard bots may run several"
            ),
        ));
    }
    let last = placement::replica_id(bot_id, n - 1);
    if !sniperforge_protocol::config::valid_bot_id(&last) {
        return Err(bad(
            "replicas",
            format!(
                "replicas: replica ids such as {}… would pass 64 characters: use a shorter bot id",
                &last[..last.len().min(24)]
            ),
        ));
    }
    if !pinned.is_empty() {
        return Err(bad(
            "resources.cores",
            format!(
                "resources.cores: bot {bot_id} runs {n} instances on different nodes, which pin \
                 no cores by name (pinned {pinned:?}): ask for cores instead (\"cores\": {}), \
                 the gateway chooses them on each node",
                pinned.len()
            ),
        ));
    }
    Ok(())
}

/// 400 for a new bot or configuration whose id has a replica's shape (`<bot>-r<k>`): those ids
/// are the gateway's to give, so no caller can take one ahead of a bot of another environment.
pub(super) fn not_replica_shaped(id: &str) -> Result<(), ApiError> {
    if placement::replica_shaped(id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_config",
            format!("bot_id: {id} has a replica's shape: ids ending in -r<number> are kept for the replicas the gateway creates"),
        )
        .details(json!([{"path": "bot_id", "message": "ids ending in -r<number> are kept for replicas"}])));
    }
    Ok(())
}

/// The `count` lowest replica ids of bot `bot_id` (`-r1` and on, at most `-r15`) that are not
/// in `kept` and that nothing else holds: no bot of its own, no configuration history (one from
/// before replica ids were kept). 409 when fewer are free.
pub(super) async fn free_replica_ids(
    state: &AppState,
    bot_id: &str,
    kept: &[String],
    count: usize,
) -> Result<Vec<String>, ApiError> {
    let mut free = Vec::new();
    let mut taken = Vec::new();
    for k in 1..REPLICAS_MAX {
        if free.len() == count {
            break;
        }
        let rid = placement::replica_id(bot_id, k);
        if kept.contains(&rid) || !sniperforge_protocol::config::valid_bot_id(&rid) {
            continue;
        }
        let held = match state.store.bot(&rid).await? {
            Some(row) => row.replica_of.as_deref() != Some(bot_id),
            None => state.store.config(&rid, None).await?.is_some(),
        };
        if held {
            taken.push(rid);
        } else {
            free.push(rid);
        }
    }
    if free.len() < count {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            format!(
                "bot {bot_id} has no replica id left for {count} more: {} taken (a bot or a configuration of its own)",
                taken.join(", ")
            ),
        )
        .details(json!([{"path": "replicas"}])));
    }
    Ok(free)
}

/// 409 for a replica: it follows its bot, which is what an operator changes.
pub(super) fn not_a_replica(bot: &BotRow, what: &str) -> Result<(), ApiError> {
    match &bot.replica_of {
        None => Ok(()),
        Some(of) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "replica",
            format!(
                "bot {} is a replica of bot {of}: {what} bot {of} (its replicas follow)",
                bot.bot_id
            ),
        )),
    }
}

impl AppState {
    /// Gives `bot` `n - 1` further instances, with the placement lock held: fewer deletes those
    /// waiting for a node first, then the highest numbers; more creates the lowest numbers free
    /// (`-r1` and on, passing over ids held from before), waiting for placement and desired as
    /// the bot is. Its placement records the count. 409, before anything changes, when too
    /// few ids are free. The replicas added and removed.
    pub(super) async fn set_replicas(
        &self,
        bot: &BotRow,
        n: u32,
    ) -> Result<(Vec<String>, Vec<String>), ApiError> {
        let want = (n - 1) as usize;
        let current: Vec<BotRow> = self
            .store
            .instances(&bot.bot_id)
            .await?
            .into_iter()
            .filter(|r| r.replica_of.is_some())
            .collect();
        // Fewer: those waiting for a node go first, then the highest numbers (a running
        // instance is kept over one that runs nowhere).
        let number = |r: &BotRow| {
            r.bot_id
                .rsplit_once("-r")
                .and_then(|(_, k)| k.parse::<u32>().ok())
                .unwrap_or(0)
        };
        let mut by_leaving = current.clone();
        by_leaving.sort_by_key(|r| (r.pending.is_none(), std::cmp::Reverse(number(r))));
        let extra: Vec<String> = by_leaving
            .iter()
            .take(current.len().saturating_sub(want))
            .map(|r| r.bot_id.clone())
            .collect();
        // More: the lowest numbers free, all found before anything changes.
        let kept: Vec<String> = current
            .iter()
            .map(|r| r.bot_id.clone())
            .filter(|id| !extra.contains(id))
            .collect();
        let missing =
            free_replica_ids(self, &bot.bot_id, &kept, want.saturating_sub(kept.len())).await?;
        let kind = placement::Placement {
            replicas: n,
            ..bot.placement.clone()
        };
        let replica = placement::Placement {
            // Wherever fits, apart from the bot's other instances.
            auto: true,
            replicas: 1,
            ..bot.placement.clone()
        };
        for id in &missing {
            let new = NewBot {
                bot_id: id,
                bot_type: &bot.bot_type,
                environment: bot.environment,
                node_id: "",
                placement: &replica,
                cores: &[],
                pending: Some("waiting for placement"),
                replica_of: Some(&bot.bot_id),
                desired_state: bot.desired_state,
            };
            if !self.store.create_bot(&new, None, "gateway").await? {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "exists",
                    format!("bot {id} was created meanwhile"),
                ));
            }
        }
        for id in &extra {
            self.store.delete_bot(id).await?;
            self.forget_bot(id);
        }
        self.store.set_placement_kind(&bot.bot_id, &kind).await?;
        Ok((missing, extra))
    }
}

/// `PUT /api/v1/bots/{bot_id}/replicas {"replicas": N}`.
pub(super) async fn scale_bot(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let req: ScaleBody = parse_body(&body)?;
    let who = caller(&ext);
    let bot = state.bot_or_404(&id, &who.envs()).await?;
    not_a_replica(&bot, "scale")?;
    let pinned = if bot.placement.cores > 0 {
        Vec::new()
    } else {
        state.pinned_cores(&id).await?
    };
    check_replicas(&id, &bot.bot_type, req.replicas, &pinned)?;
    let placing = state.placement_lock.lock().await;
    // Read again under the lock: a concurrent scale or delete is seen.
    let bot = state.bot_or_404(&id, &who.envs()).await?;
    let from = bot.placement.replicas.max(1);
    let (added, removed) = state.set_replicas(&bot, req.replicas).await?;
    drop(placing);
    if from != req.replicas || !added.is_empty() || !removed.is_empty() {
        state
            .store
            .audit(
                &who.name,
                "bot.scale",
                &id,
                &json!({"from": from, "to": req.replicas, "added": added, "removed": removed}),
            )
            .await?;
        state.place_and_fail_over().await?;
        state.changed().await?;
    }
    let mut instances = state.store.instances(&id).await?;
    if who.environments.is_some() {
        for b in &mut instances {
            b.pending = b.pending.as_deref().map(placement::hide_holders);
        }
    }
    Ok(axum::Json(Scaled {
        bot_id: id,
        replicas: req.replicas,
        added,
        removed,
        instances,
    })
    .into_response())
}
