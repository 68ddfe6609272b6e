//! Bots and their configurations: list, create, read, update (a new version), delete, actions
//! (start, stop, restart, pause, resume), configuration versions and rollback, templates and
//! schemas, the emergency stop and the audit trail.

use super::*;

pub(super) async fn list_bots(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Query(q): Query<EnvQuery>,
) -> ApiResult {
    let envs = caller(&ext).env_filter(q.env.as_deref())?;
    if envs != crate::store::EnvFilter::ALL {
        // A scoped caller's or a filtered list: an indexed query, not the shared cache.
        let mut bots = state.store.bots_in(&envs).await?;
        if caller(&ext).environments.is_some() {
            for b in &mut bots {
                b.pending = b.pending.as_deref().map(crate::placement::hide_holders);
            }
        }
        return Ok(axum::Json(BotList { bots }).into_response());
    }
    let index = *state.index.borrow();
    let cached = state.bots_body.lock().ok().and_then(|c| {
        c.as_ref()
            .filter(|(at, _)| *at == index)
            .map(|(_, body)| body.clone())
    });
    let body = match cached {
        Some(body) => body,
        None => {
            let body = axum::body::Bytes::from(
                serde_json::to_vec(&BotList {
                    bots: state.store.bots().await?,
                })
                .map_err(|e| {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "encode", e.to_string())
                })?,
            );
            if let Ok(mut c) = state.bots_body.lock() {
                *c = Some((index, body.clone()));
            }
            body
        }
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// `POST /api/v1/configs`: stores a validated configuration as version 1 under its `bot_id`,
/// with no bot yet (`POST /api/v1/bots` with `config_id` starts one on it; `PUT` versions it).
/// `POST /api/v1/configs/validate`: checks a configuration (an imported file, a form) and
/// stores nothing: 200 with what it is, or 400 `invalid_config` with each error at its field.
pub(super) async fn validate_config(body: String) -> ApiResult {
    let req: ConfigBody = parse_body(&body)?;
    let valid = validate(&req.config).await?;
    Ok(axum::Json(ConfigChecked {
        valid: true,
        bot_id: valid.config.bot_id,
        bot_type: valid.config.bot_type,
        environment: valid.config.environment,
    })
    .into_response())
}

pub(super) async fn create_config(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let req: ConfigBody = parse_body(&body)?;
    let valid = validate(&req.config).await?;
    let id = valid.config.bot_id.clone();
    let who = caller(&ext);
    who.may_write(valid.config.environment)?;
    not_replica_shaped(&id)?;
    // A bot row without a configuration of its own is a replica: its id is not free.
    if state.store.bot(&id).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            format!("bot {id} already exists"),
        ));
    }
    let bot_type = valid.config.bot_type.as_str();
    if !state
        .store
        .create_config(
            &id,
            bot_type,
            valid.config.environment,
            &req.config,
            &who.name,
        )
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            format!("config {id} already exists (PUT /api/v1/configs/{id} adds a version)"),
        ));
    }
    state
        .store
        .audit(
            &who.name,
            "config.create",
            &id,
            &json!({"bot_type": bot_type, "environment": valid.config.environment}),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ConfigCreated {
            config_id: id,
            version: 1,
            bot_type: bot_type.to_string(),
        }),
    )
        .into_response())
}

/// A JSON body read as a `T`; the error names the field where reading stopped
/// (`request body: bots[0].status: invalid type: …`).
pub(super) fn parse_body<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message);
    // Every body is an object (serde would read a struct from an array, by position).
    if !body.trim_start().starts_with('{') {
        return Err(bad("request body: expected a JSON object".into()));
    }
    let mut de = serde_json::Deserializer::from_str(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let inner = bounded(&e.inner().to_string(), 300);
        match shown_path(e.path()) {
            Some(at) => bad(format!("request body: {at}: {inner}")),
            None => bad(format!("request body: {inner}")),
        }
    })?;
    de.end().map_err(|e| bad(format!("request body: {e}")))?;
    Ok(value)
}

/// `text` cut to at most `max` bytes at a character boundary, control characters escaped
/// (an error may quote what the caller sent).
pub(super) fn bounded(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let piece: String = if c.is_control() {
            c.escape_default().collect()
        } else {
            c.to_string()
        };
        if out.len() + piece.len() > max {
            out.push('…');
            break;
        }
        out.push_str(&piece);
    }
    out
}

/// Where reading stopped, as `bots[0].status.pid` (map keys quoted and cut: they are the
/// caller's text); `None` at the top.
fn shown_path(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut at = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => at.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !at.is_empty() {
                    at.push('.');
                }
                let plain = !key.is_empty()
                    && key.len() <= 64
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if plain {
                    at.push_str(key);
                } else {
                    at.push_str(&format!("{:?}", bounded(key, 64)));
                }
            }
            Segment::Enum { variant } => {
                at.push_str(&format!("::{}", bounded(variant, 64)));
            }
            Segment::Unknown => at.push_str(".?"),
        }
    }
    (!at.is_empty()).then_some(at)
}

pub(super) async fn create_bot(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let req: CreateBot = parse_body(&body)?;
    let bad = |path: &str, message: String| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
            .details(json!([{"path": path}]))
    };
    crate::placement::check_labels(&req.labels)
        .map_err(|e| bad("labels", format!("labels: {e}")))?;
    if req.cores > crate::placement::CORES_MAX {
        return Err(bad(
            "cores",
            format!("cores: at most {}", crate::placement::CORES_MAX),
        ));
    }
    if !sniperforge_protocol::config::valid_node_id(&req.node_id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "node_id: must be 1 to 64 letters, digits, '-', '_' or '.'",
        )
        .details(json!([{"path": "node_id"}])));
    }
    let (body, valid) = match (&req.config, &req.config_id) {
        (Some(config), None) => (Some(config), validate(config).await?),
        (None, Some(config_id)) => {
            let stored = state
                .store
                .config(config_id, None)
                .await?
                .filter(|c| caller(&ext).sees(c.environment))
                .ok_or_else(|| ApiError::not_found(format!("config {config_id}")))?;
            (None, validate(&stored.body).await?)
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "request body: give either config (a configuration) or config_id (a stored one)",
            ));
        }
    };
    let id = valid.config.bot_id.clone();
    let who = caller(&ext);
    let environment = valid.config.environment;
    who.may_write(environment)?;
    not_replica_shaped(&id)?;
    // A configuration stored under the id in another environment is not this bot's to take.
    if body.is_some()
        && state
            .store
            .config(&id, None)
            .await?
            .is_some_and(|c| c.environment != environment)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            format!("bot {id} already exists"),
        ));
    }
    let pinned: Vec<u32> = valid
        .config
        .resources
        .cores
        .iter()
        .filter_map(|c| u32::try_from(*c).ok())
        .collect();
    if req.cores > 0 && !pinned.is_empty() {
        return Err(bad(
            "cores",
            format!(
                "cores: {} asked of the gateway, and resources.cores pins {pinned:?}: give one or the other",
                req.cores
            ),
        ));
    }
    check_replicas(&id, valid.config.bot_type.as_str(), req.replicas, &pinned)?;
    let placement = crate::placement::Placement {
        replicas: req.replicas,
        auto: req.node_id == "auto",
        labels: req.labels.clone(),
        cores: req.cores,
        // Paper bots fail over by default; a live one only when asked.
        failover: req
            .failover
            .unwrap_or(!super::placing::trades_live(&valid.config.parameters)),
        failover_set: req.failover.is_some(),
    };
    // The ledger is read and the bot written under one lock: two creates never take a core.
    let _placing = state.placement_lock.lock().await;
    let placed = state
        .place_new(&id, environment, &req.node_id, &placement, &pinned)
        .await
        .map_err(|e| e.hiding_holders(who.environments.is_some()))?;
    let new = crate::store::NewBot {
        bot_id: &id,
        bot_type: valid.config.bot_type.as_str(),
        environment,
        node_id: &placed.node_id,
        placement: &placement,
        cores: &placed.cores,
        pending: placed.pending.as_deref(),
        replica_of: None,
        desired_state: sniperforge_protocol::fleet::DesiredState::Stopped,
    };
    // Too few replica ids free refuses the whole creation, before anything.
    free_replica_ids(&state, &id, &[], req.replicas.saturating_sub(1) as usize).await?;
    if !state.store.create_bot(&new, body, &who.name).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            format!("bot {id} already exists"),
        ));
    }
    let mut replicas = Vec::new();
    if req.replicas > 1
        && let Some(row) = state.store.bot(&id).await?
    {
        replicas = state.set_replicas(&row, req.replicas).await?.0;
    }
    drop(_placing);
    state
        .store
        .audit(
            &who.name,
            "bot.create",
            &id,
            &json!({"bot_type": valid.config.bot_type, "environment": environment,
                "node_id": placed.node_id, "cores": placed.cores, "pending": placed.pending,
                "placement": placement, "replicas": replicas}),
        )
        .await?;
    if !replicas.is_empty() {
        // Its replicas placed now, not at the next pass.
        state.place_and_fail_over().await?;
    }
    state.changed().await?;
    let mut bot = state.store.bot(&id).await?;
    if let Some(b) = bot.as_mut().filter(|_| who.environments.is_some()) {
        b.pending = b.pending.as_deref().map(crate::placement::hide_holders);
    }
    Ok((StatusCode::CREATED, axum::Json(BotCreated { bot })).into_response())
}

pub(super) async fn get_bot(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let mut bot = state.bot_or_404(&id, &caller(&ext).envs()).await?;
    if caller(&ext).environments.is_some() {
        bot.pending = bot.pending.as_deref().map(crate::placement::hide_holders);
    }
    // A replica runs its bot's configuration.
    let config = state
        .store
        .config(bot.replica_of.as_deref().unwrap_or(&id), None)
        .await?;
    Ok(axum::Json(BotWithConfig { bot, config }).into_response())
}

/// Stores a new version of `id`'s configuration; answers which changes apply hot.
/// The version a write is based on: `If-Match: <version>` (quotes allowed, as an ETag).
pub(super) fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|s| {
            let s = s.trim();
            let s = s.strip_prefix('"').unwrap_or(s);
            s.strip_suffix('"').unwrap_or(s)
        })
        .filter(|s| (1..=18).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "If-Match: expected the config version the change is based on, e.g. If-Match: 3",
            )
        })
}

pub(super) async fn new_version(
    state: &AppState,
    id: &str,
    body: &Value,
    who: &Caller,
    expected: Option<i64>,
) -> ApiResult {
    let valid = validate(body).await?;
    if valid.config.bot_id != id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "id_mismatch",
            format!("bot_id is {}, the path names {id}", valid.config.bot_id),
        ));
    }
    let previous = state
        .store
        .config(id, None)
        .await?
        .filter(|c| who.sees(c.environment))
        .ok_or_else(|| ApiError::not_found(format!("config {id}")))?;
    // The bot of that id, if any, is the one this changes: never another environment's (a
    // configuration history left under a replica's id), never a replica.
    if let Some(bot) = state.store.bot(id).await? {
        if bot.environment != previous.environment || !who.sees(bot.environment) {
            return Err(ApiError::not_found(format!("config {id}")));
        }
        not_a_replica(&bot, "configure")?;
    }
    if previous.environment != valid.config.environment {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "environment_change",
            format!(
                "bot {id} is {}; an environment never changes: create a new bot in {}",
                previous.environment, valid.config.environment
            ),
        )
        .details(json!([{"path": "environment"}])));
    }
    if previous.bot_type != valid.config.bot_type.as_str() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "type_change",
            format!(
                "bot {id} is {}; create a new bot to change type",
                previous.bot_type
            ),
        ));
    }
    let old = config::validate(&previous.body).map_err(|_| {
        ApiError::new(
            StatusCode::CONFLICT,
            "stored_config_invalid",
            "the stored configuration no longer validates",
        )
    })?;
    let diff = changes(&old, &valid);
    // New pinned cores go through the ledger of the bot's node (and the lock with it).
    let _placing = state.placement_lock.lock().await;
    let repin = repinned(state, id, &previous.body, body)
        .await
        .map_err(|e| e.hiding_holders(who.environments.is_some()))?;
    let version = state
        .store
        .add_config_version(
            id,
            valid.config.bot_type.as_str(),
            valid.config.environment,
            body,
            &who.name,
            expected,
        )
        .await?;
    if let Some((node_id, cores)) = repin {
        state
            .store
            .set_placement(id, &node_id, &cores, None)
            .await?;
    }
    // A bot that turns live trading on stops failing over by default (and one that turns it
    // off starts), unless failover was asked for.
    if let Some(bot) = state.store.bot(id).await?
        && !bot.placement.failover_set
        && bot.placement.failover == super::placing::trades_live(&valid.config.parameters)
    {
        let placement = crate::placement::Placement {
            failover: !bot.placement.failover,
            ..bot.placement
        };
        state.store.set_placement_kind(id, &placement).await?;
    }
    drop(_placing);
    let (hot, cold): (Vec<_>, Vec<_>) = diff.into_iter().partition(|c| c.hot);
    let hot: Vec<String> = hot.into_iter().map(|c| c.path).collect();
    let cold: Vec<String> = cold.into_iter().map(|c| c.path).collect();
    state
        .store
        .audit(
            &who.name,
            "config.update",
            id,
            &json!({"version": version, "hot": hot, "restart_required": cold}),
        )
        .await?;
    state.changed().await?;
    Ok(axum::Json(ConfigUpdated {
        config_id: id.to_string(),
        version,
        needs_restart: !cold.is_empty(),
        applied_hot: hot,
        restart_required: cold,
    })
    .into_response())
}

/// When a new configuration pins other cores, where its bot then stands: its node and the new
/// cores (409 when another bot holds one, or when the gateway chooses its cores); `None` when
/// nothing moves (same cores, no bot, or a bot that waits: placement checks them).
async fn repinned(
    state: &AppState,
    id: &str,
    old: &Value,
    new: &Value,
) -> Result<Option<(String, Vec<u32>)>, ApiError> {
    let pinned = crate::placement::pinned_of(new);
    if pinned == crate::placement::pinned_of(old) {
        return Ok(None);
    }
    let Some(bot) = state.store.bot(id).await? else {
        return Ok(None);
    };
    if bot.placement.cores > 0 && !pinned.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cores_reserved",
            format!(
                "bot {id} asked the gateway for {} cores (it holds {:?}): resources.cores stays empty",
                bot.placement.cores, bot.cores
            ),
        )
        .details(json!([{"path": "resources.cores"}])));
    }
    if bot.placement.replicas > 1 && !pinned.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cores_reserved",
            format!(
                "bot {id} runs {} instances on different nodes, which pin no cores by name: resources.cores stays empty",
                bot.placement.replicas
            ),
        )
        .details(json!([{"path": "resources.cores"}])));
    }
    if bot.pending.is_some() || bot.placement.cores > 0 {
        return Ok(None);
    }
    let fixed = crate::placement::Placement {
        auto: false,
        ..bot.placement.clone()
    };
    let placed = state
        .place_new(id, bot.environment, &bot.node_id, &fixed, &pinned)
        .await?;
    Ok(placed
        .pending
        .is_none()
        .then_some((placed.node_id, placed.cores)))
}

pub(super) async fn update_bot(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    body: String,
) -> ApiResult {
    let expected = if_match(&headers)?;
    let req: ConfigBody = parse_body(&body)?;
    let bot = state.bot_or_404(&id, &caller(&ext).envs()).await?;
    not_a_replica(&bot, "configure")?;
    new_version(&state, &id, &req.config, &caller(&ext), expected).await
}

pub(super) async fn delete_bot(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let bot = state.bot_or_404(&id, &caller(&ext).envs()).await?;
    not_a_replica(&bot, "delete")?;
    // Under the placement lock: a scale under way never leaves a replica without its bot.
    let placing = state.placement_lock.lock().await;
    let instances = state.store.instances(&id).await?;
    if !state.store.delete_bot(&id).await? {
        return Err(ApiError::not_found(format!("bot {id}")));
    }
    drop(placing);
    for b in &instances {
        state.forget_bot(&b.bot_id);
    }
    state
        .store
        .audit(
            &caller(&ext).name,
            "bot.delete",
            &id,
            &match instances.len() {
                0 | 1 => Value::Null,
                _ => json!({"replicas": instances.iter().skip(1).map(|b| &b.bot_id).collect::<Vec<_>>()}),
            },
        )
        .await?;
    state.changed().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn bot_action(
    State(state): State<Arc<AppState>>,
    Path((id, action)): Path<(String, String)>,
    ext: axum::http::Extensions,
) -> ApiResult {
    state.bot_or_404(&id, &caller(&ext).envs()).await?;
    use sniperforge_protocol::fleet::BotAction;
    let action: BotAction =
        action
            .parse()
            .map_err(|e: sniperforge_protocol::fleet::UnknownName| {
                ApiError::not_found(e.to_string())
            })?;
    // A bot's action reaches its replicas, each as its own desired state allows (a replica
    // stopped on its own is not resumed by a pause, nor started by a restart); the action is
    // refused only when it moves none of them. A replica's own reaches only it.
    // Under the placement lock: a replica a scale creates meanwhile starts from the state this
    // leaves its bot in.
    let _placing = state.placement_lock.lock().await;
    let bot = state.bot_or_404(&id, &caller(&ext).envs()).await?;
    let instances = if bot.replica_of.is_none() && bot.placement.replicas > 1 {
        state.store.instances(&id).await?
    } else {
        vec![bot.clone()]
    };
    let own = bot.desired_state.after(action);
    let moves: Vec<(String, sniperforge_protocol::fleet::DesiredState)> = instances
        .iter()
        // A restart restarts the instances meant to run; one stopped on its own stays so.
        .filter(|i| {
            !(action == BotAction::Restart
                && i.bot_id != bot.bot_id
                && i.desired_state == sniperforge_protocol::fleet::DesiredState::Stopped)
        })
        .filter_map(|i| {
            i.desired_state
                .after(action)
                .ok()
                .map(|t| (i.bot_id.clone(), t))
        })
        .collect();
    // (The bot is among its instances: none moving means its own move is illegal.)
    if moves.is_empty()
        && let Err(e) = &own
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "illegal_transition",
            format!("cannot {action} bot {id}: its desired state is {}", e.from),
        )
        .details(json!({"from": e.from, "action": action})));
    }
    for (instance, target) in &moves {
        if action == BotAction::Restart {
            state.store.request_restart(instance).await?;
        } else {
            state.store.set_desired_state(instance, *target).await?;
        }
    }
    let target = own.unwrap_or(bot.desired_state);
    let moved: Vec<&str> = moves.iter().map(|(i, _)| i.as_str()).collect();
    state
        .store
        .audit(
            &caller(&ext).name,
            &format!("bot.{action}"),
            &id,
            &if instances.len() > 1 {
                json!({"desired_state": target, "instances": moved})
            } else {
                json!({"desired_state": target})
            },
        )
        .await?;
    state.changed().await?;
    Ok(axum::Json(ActionDone {
        bot_id: id,
        desired_state: target,
        restart: action == BotAction::Restart,
    })
    .into_response())
}

pub(super) async fn list_configs(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Query(q): Query<EnvQuery>,
) -> ApiResult {
    let envs = caller(&ext).env_filter(q.env.as_deref())?;
    Ok(axum::Json(ConfigList {
        configs: state.store.configs(&envs).await?,
    })
    .into_response())
}

pub(super) async fn get_config(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let c = state
        .store
        .config(&id, q.version)
        .await?
        .filter(|c| caller(&ext).sees(c.environment))
        .ok_or_else(|| match q.version {
            Some(v) => ApiError::not_found(format!("config {id} version {v}")),
            None => ApiError::not_found(format!("config {id}")),
        })?;
    Ok(axum::Json(c).into_response())
}

pub(super) async fn put_config(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    body: String,
) -> ApiResult {
    let expected = if_match(&headers)?;
    let value: Value = parse_body(&body)?;
    new_version(&state, &id, &value, &caller(&ext), expected).await
}

pub(super) async fn rollback(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
) -> ApiResult {
    let expected = if_match(&headers)?;
    // Documented as `RollbackQuery` (required); read leniently to say what is missing.
    let v = q.version.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "?version=N names the version to roll back to",
        )
    })?;
    let old = state
        .store
        .config(&id, Some(v))
        .await?
        .filter(|c| caller(&ext).sees(c.environment))
        .ok_or_else(|| ApiError::not_found(format!("config {id} version {v}")))?;
    new_version(&state, &id, &old.body, &caller(&ext), expected).await
}

pub(super) async fn template(Path(t): Path<String>) -> ApiResult {
    Ok(axum::Json(config::template(bot_type(&t)?)).into_response())
}

pub(super) async fn schema(Path(t): Path<String>) -> ApiResult {
    Ok(axum::Json(config::schema(bot_type(&t)?)).into_response())
}

pub(super) async fn emergency_stop(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
) -> ApiResult {
    // The bots first, whatever else fails (a rollout never restarts a stopped bot).
    let stopped = state.store.stop_all().await?;
    abort_rollouts(&state, &caller(&ext).name).await;
    state
        .store
        .audit(
            &caller(&ext).name,
            "system.emergency_stop",
            "fleet",
            &json!({"bots_stopped": stopped}),
        )
        .await?;
    state.changed().await?;
    Ok(axum::Json(EmergencyStop {
        bots_stopped: stopped,
    })
    .into_response())
}

/// Aborts the active rollouts after an emergency stop (failures logged: the stop stands).
async fn abort_rollouts(state: &AppState, actor: &str) {
    let _guard = state.rollouts_lock.lock().await;
    let now = state.store.now_ms();
    let active = match state.store.active_rollouts().await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "emergency stop: reading the rollouts to abort");
            return;
        }
    };
    for mut rollout in active {
        if rollout.act("abort", now).is_err() {
            continue;
        }
        rollout.reason = Some("aborted by the emergency stop".into());
        let done = async {
            state.store.save_rollout(&rollout).await?;
            let details = json!({"by": "system.emergency_stop"});
            state
                .store
                .audit(actor, "rollout.abort", &rollout.rollout_id, &details)
                .await
        };
        if let Err(e) = done.await {
            tracing::error!(rollout = %rollout.rollout_id, error = %e, "emergency stop: aborting a rollout");
        }
    }
}

/// The audit trail; below admin, webhook URLs (entries older releases wrote whole) show as
/// their origin, and failed logins without the name tried (often a mistyped password).
pub(super) async fn audit(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let mut entries = state.store.audit_log(200).await?;
    let who = caller(&ext);
    // A scoped caller reads what was done to the bots and configurations it sees, and its own
    // actions: nothing of other environments.
    if who.environments.is_some() {
        // Its bots (replicas hold no configuration of their own) and its configurations, but
        // for an id a bot of another environment holds (a history left under a replica's id).
        let (own, others): (Vec<_>, Vec<_>) = state
            .store
            .bots()
            .await?
            .into_iter()
            .partition(|b| who.sees(b.environment));
        let others: std::collections::HashSet<String> =
            others.into_iter().map(|b| b.bot_id).collect();
        let mut mine: std::collections::HashSet<String> = state
            .store
            .configs(&who.envs())
            .await?
            .into_iter()
            .map(|c| c.config_id)
            .filter(|id| !others.contains(id))
            .collect();
        mine.extend(own.into_iter().map(|b| b.bot_id));
        entries.retain(|e| {
            (e.action.starts_with("bot.") || e.action.starts_with("config."))
                && mine.contains(&e.target)
        });
        // Why a bot waited may name the bot of another environment holding a core.
        for e in &mut entries {
            if let Some(why) = e.details["pending"].as_str() {
                e.details["pending"] = Value::String(crate::placement::hide_holders(why));
            }
        }
    }
    if who.role < Role::Admin {
        for e in &mut entries {
            if let Some(url) = e.details["webhook"].as_str().map(str::to_string)
                && url.contains("://")
                && !url.ends_with("/…")
            {
                e.details["webhook"] = Value::String(webhook_origin(&url));
            }
            if e.action == "auth.login_failed" {
                e.target = "(hidden)".into();
            }
        }
    }
    Ok(axum::Json(AuditList { audit: entries }).into_response())
}
