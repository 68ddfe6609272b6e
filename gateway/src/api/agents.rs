//! The node agents' protocol: register, heartbeat, the blocking desired-state query and the
//! reports (checked against their limits before anything is kept).

use sniperforge_protocol::fleet::{
    Desired, DesiredBot, DesiredQuery, NodeAck, NodeInfo, NodeRef, Report, ReportAck,
};

use super::*;

pub(super) async fn register(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    // The node id was checked as the body was read (NodeId).
    let mut node: NodeInfo = parse_body(&body)?;
    let who = caller(&ext);
    who.for_node(&node.node_id)?;
    // An agent token scoped to environments bounds what its node may serve: a node that says
    // nothing serves those; one that claims another is refused.
    if who.role == Role::Agent
        && let Some(allowed) = &who.environments
    {
        match &node.environments {
            None => node.environments = Some(allowed.clone()),
            Some(claimed) if claimed.iter().all(|e| allowed.contains(e)) => {}
            Some(claimed) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "environment_forbidden",
                    format!(
                        "node {} claims {}; its token allows {}",
                        node.node_id,
                        crate::store::Environment::join(claimed),
                        crate::store::Environment::join(allowed)
                    ),
                )
                .details(json!([{"path": "environments"}])));
            }
        }
    }
    node.check().map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
            .details(json!([{"path": e.field}]))
    })?;
    state
        .store
        .register_node(&node, state.failover_after_ms)
        .await?;
    state
        .store
        .audit(
            &caller(&ext).name,
            "node.register",
            &node.node_id,
            &json!({"backend": node.backend, "cores": node.cores,
                "environments": node.environments, "labels": node.labels, "fences": node.fences,
                "failover_after_s": node.failover_after_s}),
        )
        .await?;
    Ok(axum::Json(NodeAck {
        desired_index: *state.index.borrow(),
        node_id: node.node_id,
    })
    .into_response())
}

pub(super) async fn heartbeat(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let node: NodeRef = parse_body(&body)?;
    caller(&ext).for_node(&node.node_id)?;
    if !state.store.heartbeat(&node.node_id).await? {
        return Err(ApiError::not_found(format!(
            "node {} (register first)",
            node.node_id
        )));
    }
    Ok(axum::Json(NodeAck {
        desired_index: *state.index.borrow(),
        node_id: node.node_id,
    })
    .into_response())
}

/// The blocking query agents hold: answers at once when the desired-state index is past the
/// one the agent holds, else when it moves or after `wait_ms` (at most 60 s).
pub(super) async fn desired(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Query(q): Query<DesiredQuery>,
) -> ApiResult {
    caller(&ext).for_node(&q.node_id)?;
    let node_id = sniperforge_protocol::NodeId::new(q.node_id.clone()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("node_id: {e}"),
        )
    })?;
    let mut rx = state.index.subscribe();
    let wait = std::time::Duration::from_millis(
        q.wait_ms
            .min(sniperforge_protocol::fleet::DESIRED_WAIT_MAX_MS),
    );
    if *rx.borrow_and_update() <= q.index && !wait.is_zero() {
        let waiting = Arc::clone(&state.desired_waiters)
            .try_acquire_owned()
            .ok()
            .zip(NodeWaiter::take(&state.desired_by_node, &q.node_id));
        let Some(_waiting) = waiting else {
            let mut resp = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!(
                    "too many desired-state queries waiting (at most {DESIRED_WAITERS_PER_NODE} for a node, {DESIRED_WAITERS} in all); retry in 1 s"
                ),
            )
            .into_response();
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
            return Ok(resp);
        };
        let _ = tokio::time::timeout(wait, rx.wait_for(|i| *i > q.index)).await;
    }
    let index = *state.index.borrow();
    let mut bots = Vec::new();
    // The environments the node serves (all until it registers them).
    let registered = state.store.node(&q.node_id).await?;
    // Its lease: half its own failover window (the gateway's for a node not registered yet).
    let fence_ms = registered
        .as_ref()
        .map_or_else(|| state.fence_ms(), |n| n.fence_ms(state.failover_after_ms));
    let serves = match registered {
        Some(node) => crate::store::EnvFilter::only(node.environments),
        None => crate::store::EnvFilter::ALL,
    };
    for b in state
        .store
        .bots_in(&serves)
        .await?
        .into_iter()
        // A bot waiting for placement runs nowhere yet.
        .filter(|b| b.node_id == q.node_id && b.pending.is_none())
    {
        // A stored id that is not one (a row edited by hand) is left out, named in the log:
        // the node's other bots still converge.
        let Ok(bot_id) = sniperforge_protocol::BotId::new(b.bot_id.clone()) else {
            tracing::error!(
                bot_id = %b.bot_id.escape_debug(),
                node = %q.node_id,
                "a stored bot id is not a valid id: left out of the node's desired state"
            );
            continue;
        };
        // A replica runs its bot's configuration, under its own id.
        let group = b.replica_of.as_deref().unwrap_or(&b.bot_id);
        let config = state.store.config(group, None).await?;
        // The cores the gateway chose stand in the configuration the node gets.
        let config = config.map(|c| {
            let mut body = c.body;
            if b.replica_of.is_some()
                && let Some(obj) = body.as_object_mut()
            {
                obj.insert("bot_id".into(), json!(b.bot_id));
            }
            if b.placement.cores > 0
                && let Some(res) = body.get_mut("resources").and_then(Value::as_object_mut)
            {
                res.insert("cores".into(), json!(b.cores));
            }
            body
        });
        bots.push(DesiredBot {
            bot_id,
            bot_type: b.bot_type,
            desired_state: b.desired_state,
            restarts: b.restarts,
            config_version: b.config_version,
            config,
            failover: b.placement.failover,
        });
    }
    // A rollout upgrading this node's agent names the build.
    let upgrade = state
        .store
        .active_rollouts()
        .await?
        .into_iter()
        // A paused rollout withholds it: an operator who paused on a bad build stops it here.
        .filter(|r| r.state == crate::rollouts::RolloutState::Running)
        .flat_map(|r| r.steps)
        .find(|s| {
            s.kind == crate::rollouts::StepKind::Agent
                && s.node_id == q.node_id
                && s.state == crate::rollouts::StepState::InProgress
        })
        .and_then(|s| s.to);
    let backtests = state.store.node_backtests(&q.node_id).await?;
    Ok(axum::Json(Desired {
        node_id,
        index,
        bots,
        upgrade,
        fence_ms,
        backtests,
    })
    .into_response())
}

pub(super) async fn report(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let mut r: Report = parse_body(&body)?;
    caller(&ext).for_node(&r.node_id)?;
    check_report(&r)?;
    // A handover time more than a year back or a day ahead (a forged or broken clock) is left
    // out of what is kept: it would keep a bot_unhealthy alert up, or write the audit trail at
    // every report. The rest of the report stands.
    let now = state.store.now_ms();
    const YEAR_MS: i64 = 365 * 86_400_000;
    for b in &mut r.bots {
        b.status.replace_control_chars();
        if b.status.handover.as_ref().is_some_and(|h| {
            !(now.saturating_sub(YEAR_MS)..=now.saturating_add(86_400_000)).contains(&h.at_ms)
        }) {
            tracing::warn!(bot_id = %b.bot_id, node = %r.node_id, "a reported handover time is not within a year of now: left out");
            b.status.handover = None;
        }
    }
    // Only the node's own bots are taken: a bot of another node is refused (the report whole);
    // one the gateway does not know (deleted since, or never created) is left out and named in
    // the answer, so nothing is kept for ids no configuration holds.
    // Each bot's node and environment, read once: the fills below go with what this read.
    let owners: std::collections::HashMap<String, (String, crate::store::Environment)> = state
        .store
        .bots()
        .await?
        .into_iter()
        .map(|b| (b.bot_id, (b.node_id, b.environment)))
        .collect();
    if let Some(b) = r.bots.iter().find(|b| {
        owners
            .get(b.bot_id.as_str())
            .is_some_and(|(n, _)| n.as_str() != r.node_id.as_str())
    }) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "bot {} belongs to node {}, not {}",
                b.bot_id,
                owners[b.bot_id.as_str()].0,
                r.node_id
            ),
        ));
    }
    let unknown: Vec<String> = r
        .bots
        .iter()
        .filter(|b| !owners.contains_key(b.bot_id.as_str()))
        .map(|b| b.bot_id.to_string())
        .collect();
    r.bots.retain(|b| owners.contains_key(b.bot_id.as_str()));
    if !state.store.heartbeat(&r.node_id).await? {
        return Err(ApiError::not_found(format!(
            "node {} (register first)",
            r.node_id
        )));
    }
    // Check every snapshot before storing anything: a malformed one rejects the report whole.
    let mut decoded = Vec::new();
    for b in &r.bots {
        for (stage, b64) in &b.hdr {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_hdr",
                        format!("bots[{}].hdr.{stage}: not base64: {e}", b.bot_id),
                    )
                })?;
            // Checked whole here (nothing is stored unless every snapshot is good), in the one
            // walk over its bytes whose pairs feed the windows and the merged histogram below.
            let (pairs, total) = sniperforge_protocol::telemetry::pairs_v2(&bytes, *LATENCY_MAX_NS)
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_hdr",
                        format!("bots[{}].hdr.{stage}: {e}", b.bot_id),
                    )
                })?;
            decoded.push((b.bot_id.clone(), stage.clone(), pairs, total));
        }
    }
    let values: Vec<(Value, Value)> = r
        .bots
        .iter()
        .map(|b| (json!(b.status), b.metrics.clone()))
        .collect();
    let rows: Vec<(&str, &Value, &Value)> = r
        .bots
        .iter()
        .zip(&values)
        .map(|(b, (status, metrics))| (b.bot_id.as_str(), status, metrics))
        .collect();
    audit_handovers(&state, &r).await?;
    state.store.report_bots(&r.node_id, &rows).await?;
    if let Some(list) = &r.recordings {
        state.store.set_recordings(&r.node_id, list).await?;
    }
    // Fills, each stored once by the bot's sequence number: a report repeated after a lost
    // answer, or an agent that restarted before moving its cursor on, doubles nothing.
    // A fill booked more than a year back or a day ahead (a forged or broken clock) is left
    // out, named in the log: never pruned, or never reached by a listing's pages, it would
    // stand at the top of every one. The rest of the report stands.
    let mut booked: Vec<(
        &str,
        crate::store::Environment,
        Vec<sniperforge_protocol::fleet::TradeFill>,
    )> = Vec::new();
    for b in r.bots.iter().filter(|b| !b.fills.is_empty()) {
        let Some((_, env)) = owners.get(b.bot_id.as_str()) else {
            continue;
        };
        let window = now.saturating_sub(YEAR_MS)..=now.saturating_add(86_400_000);
        let (kept, out): (Vec<_>, Vec<_>) = b
            .fills
            .iter()
            .cloned()
            .partition(|f| window.contains(&f.at_ms));
        if !out.is_empty() {
            tracing::warn!(bot_id = %b.bot_id, node = %r.node_id, left_out = out.len(), "fills booked more than a year back or a day ahead: left out");
        }
        let added = state
            .store
            .add_trades(b.bot_id.as_str(), *env, r.node_id.as_str(), &kept)
            .await?;
        if !added.is_empty() {
            booked.push((
                b.bot_id.as_str(),
                *env,
                added.into_iter().map(|i| kept[i].clone()).collect(),
            ));
        }
    }
    // Trade events for what was new (a fill stored before was posted then).
    if !booked.is_empty() {
        let rules: Vec<crate::alerts::Rule> = state
            .store
            .rules()
            .await?
            .into_iter()
            .filter(|r| matches!(r.kind, crate::alerts::RuleKind::Trade { .. }))
            .collect();
        if !rules.is_empty() {
            let types = state.bot_types().await?;
            let report: Vec<(
                crate::alerts::trade::Booked<'_>,
                Vec<&sniperforge_protocol::fleet::TradeFill>,
            )> = booked
                .iter()
                .map(|(bot_id, environment, fills)| {
                    (
                        crate::alerts::trade::Booked {
                            bot_id,
                            bot_type: types.get(*bot_id).map_or("", |(t, _)| t.as_str()),
                            environment: *environment,
                            node_id: &r.node_id,
                        },
                        fills.iter().collect(),
                    )
                })
                .collect();
            state.webhooks.trades.add(&rules, &state.webhooks, &report);
        }
    }
    // Each snapshot's pairs: into the latency windows, and merged into the bot's histogram with
    // its own p99 kept for the "p99 above a budget for N s" rules.
    let at = state.store.now_ms();
    // The windows' scopes of each bot: itself, its type, its environment, its node, the fleet.
    let types = state.bot_types().await?;
    let scopes: std::collections::HashMap<&str, Vec<String>> = r
        .bots
        .iter()
        .map(|b| {
            let mut s = vec![
                "fleet".to_string(),
                format!("node:{}", r.node_id),
                format!("bot:{}", b.bot_id),
            ];
            if let Some((t, env)) = types.get(b.bot_id.as_str()) {
                s.push(format!("type:{t}"));
                s.push(format!("env:{env}"));
            }
            (b.bot_id.as_str(), s)
        })
        .collect();
    if let Ok(mut windows) = state.windows.lock() {
        for (bot, stage, pairs, _) in &decoded {
            if let Some(s) = scopes.get(bot.as_str()) {
                windows.record(s, stage, at, pairs);
            }
        }
    }
    if let (Ok(mut latency), Ok(mut recent)) = (state.latency.lock(), state.recent_p99.lock()) {
        for (bot, stage, pairs, total) in decoded {
            let slot = latency
                .entry(bot.to_string())
                .or_default()
                .entry(stage.clone())
                .or_insert_with(sniperforge_protocol::telemetry::latency_histogram);
            // Checked above against the same bounds: cannot fail.
            let p99 = sniperforge_protocol::telemetry::record_pairs(slot, &pairs, total, 0.99);
            if let Ok(Some(p)) = p99 {
                let samples = recent.entry((bot.into(), stage)).or_default();
                while samples
                    .front()
                    .is_some_and(|(t, _)| *t < at - RECENT_P99_MS)
                {
                    samples.pop_front();
                }
                samples.push_back((at, p));
                // However often a node reports, a stage keeps a bounded history.
                while samples.len() > RECENT_P99_SAMPLES {
                    samples.pop_front();
                }
            }
        }
    }
    if let Ok(mut logs) = state.logs.lock() {
        for b in &r.bots {
            if b.logs.is_empty() {
                continue;
            }
            let kept = logs.entry(b.bot_id.to_string()).or_default();
            for line in &b.logs {
                let line = Arc::new(LogLine {
                    bot_id: b.bot_id.to_string(),
                    node_id: r.node_id.to_string(),
                    at,
                    line: line.clone(),
                });
                if kept.len() == LOG_LINES_KEPT {
                    kept.pop_front();
                }
                kept.push_back(Arc::clone(&line));
                // No subscriber is not an error.
                let _ = state.log_lines.send(line);
            }
        }
    }
    Ok(axum::Json(ReportAck {
        accepted: r.bots.len(),
        unknown,
    })
    .into_response())
}

/// A report's shape, before anything in it is looked up or kept (ids were checked as they
/// were read): each bot once, known stage names, bounded sizes and log lines (every bot's,
/// known to the gateway or not).
/// Writes each bot's handover to the audit trail once (a report repeats the last one): the
/// agent's restarts, rollbacks and replacements of unhealthy bots are on the record with why.
async fn audit_handovers(state: &AppState, r: &Report) -> Result<(), ApiError> {
    for b in &r.bots {
        let Some(h) = &b.status.handover else {
            continue;
        };
        let id = b.bot_id.as_str();
        let known = state
            .handovers_audited
            .lock()
            .ok()
            .and_then(|m| m.get(id).copied());
        let last = match known {
            Some(at) => Some(at),
            // First sight since this gateway started: the stored report says what was seen.
            None => state
                .store
                .bot_report(id)
                .await?
                .and_then(|row| row.status.handover.map(|h| h.at_ms)),
        };
        if last != Some(h.at_ms) {
            state
                .store
                .audit(
                    &format!("agent:{}", r.node_id),
                    "bot.handover",
                    id,
                    &json!({
                        "outcome": h.outcome,
                        "trigger": h.trigger,
                        "cause": h.cause,
                        "reason": h.reason,
                        "gap_ns": h.gap_ns,
                        "drain_ns": h.drain_ns,
                        "pid": h.pid,
                    }),
                )
                .await?;
        }
        if let Ok(mut m) = state.handovers_audited.lock() {
            m.insert(id.to_string(), h.at_ms);
        }
    }
    Ok(())
}

pub(super) fn check_report(r: &Report) -> Result<(), ApiError> {
    let bad =
        |code: &'static str, message: String| ApiError::new(StatusCode::BAD_REQUEST, code, message);
    if r.bots.len() > REPORT_BOTS_MAX {
        return Err(bad(
            "bad_report",
            format!(
                "bots: {} entries; at most {REPORT_BOTS_MAX} per report",
                r.bots.len()
            ),
        ));
    }
    if let Some(Err(why)) = r
        .recordings
        .as_deref()
        .map(sniperforge_protocol::backtests::check_recordings)
    {
        return Err(bad("bad_report", format!("recordings{why}")));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, b) in r.bots.iter().enumerate() {
        if !seen.insert(b.bot_id.as_str()) {
            return Err(bad(
                "bad_report",
                format!("bots[{i}].bot_id: {} is listed twice", b.bot_id),
            ));
        }
        if !(b.metrics.is_object() || b.metrics.is_null()) {
            return Err(bad(
                "bad_report",
                format!("bots[{i}].metrics: must be an object"),
            ));
        }
        if b.status.build.as_ref().is_some_and(|x| !x.valid()) {
            return Err(bad(
                "bad_report",
                format!(
                    "bots[{i}].status.build: version 1 to {} of letters, digits, '.', '+', '-'; build_id 1 to {} of lowercase letters, digits, '-'",
                    sniperforge_protocol::fleet::BUILD_VERSION_MAX,
                    sniperforge_protocol::fleet::BUILD_ID_MAX
                ),
            ));
        }
        let sizes = [
            ("status", serde_json::to_vec(&b.status)),
            ("metrics", serde_json::to_vec(&b.metrics)),
        ];
        for (field, bytes) in sizes {
            let size = bytes.map_or(usize::MAX, |v| v.len());
            if size > REPORT_OBJECT_MAX {
                return Err(bad(
                    "bad_report",
                    format!("bots[{i}].{field}: {size} bytes; at most {REPORT_OBJECT_MAX}"),
                ));
            }
        }
        if let Some(h) = &b.status.handover {
            let max = sniperforge_protocol::fleet::HANDOVER_TEXT_MAX;
            for (field, text) in [("cause", Some(&h.cause)), ("reason", h.reason.as_ref())] {
                if text.is_some_and(|t| t.chars().count() > max) {
                    return Err(bad(
                        "bad_report",
                        format!("bots[{i}].status.handover.{field}: longer than {max} characters"),
                    ));
                }
            }
        }
        if b.fills.len() > sniperforge_protocol::fleet::FILLS_PER_REPORT {
            return Err(bad(
                "bad_report",
                format!(
                    "bots[{i}].fills: {} fills; at most {} per report",
                    b.fills.len(),
                    sniperforge_protocol::fleet::FILLS_PER_REPORT
                ),
            ));
        }
        if let Some((j, why)) = b
            .fills
            .iter()
            .enumerate()
            .find_map(|(j, f)| f.check().err().map(|e| (j, e)))
        {
            return Err(bad("bad_report", format!("bots[{i}].fills[{j}].{why}")));
        }
        if b.logs.len() > LOG_LINES_PER_REPORT {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_logs",
                format!(
                    "bots[{}].logs: {} lines; at most {LOG_LINES_PER_REPORT} per report",
                    b.bot_id,
                    b.logs.len()
                ),
            ));
        }
        if let Some(line) = b.logs.iter().position(|l| l.len() > LOG_LINE_MAX) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_logs",
                format!(
                    "bots[{}].logs[{line}]: longer than {LOG_LINE_MAX} bytes",
                    b.bot_id
                ),
            ));
        }
        if let Some(stage) = b.hdr.keys().find(|k| !REPORT_STAGES.contains(&k.as_str())) {
            let shown: String = stage.chars().take(64).collect();
            return Err(bad(
                "bad_hdr",
                format!(
                    "bots[{i}].hdr: unknown stage {shown:?}; expected one of {}",
                    REPORT_STAGES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
