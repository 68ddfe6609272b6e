//! Alerts and alert rules (webhook receivers validated), and evaluation on demand.

use super::*;

/// Alerts; a scoped token (or `?env=`) gets those of its environments.
pub(super) async fn list_alerts(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Query(q): Query<EnvQuery>,
) -> ApiResult {
    let envs = caller(&ext).env_filter(q.env.as_deref())?;
    Ok(axum::Json(AlertList {
        alerts: state.store.alerts(&envs).await?,
    })
    .into_response())
}

/// Alert rules; below admin, webhook URLs (which often carry a secret in their path or
/// query) show as their scheme and host only.
pub(super) async fn list_rules(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let mut rules = state.store.rules().await?;
    // A scoped caller sees the rules of its environments and its bots only.
    let who = caller(&ext);
    if who.environments.is_some() {
        let mut kept = Vec::new();
        for rule in rules {
            let visible = match crate::alerts::RuleScope::parse(&rule.scope) {
                Ok(crate::alerts::RuleScope::Env(e)) => who.sees(e),
                Ok(crate::alerts::RuleScope::Bot(id)) => {
                    state.bot_or_404(&id, &who.envs()).await.is_ok()
                }
                _ => false,
            };
            if visible {
                kept.push(rule);
            }
        }
        rules = kept;
    }
    if who.role < Role::Admin {
        for rule in &mut rules {
            if !rule.webhook.is_empty() {
                rule.webhook = format!("{}/…", webhook_origin(&rule.webhook));
            }
        }
    }
    Ok(axum::Json(RuleList { rules }).into_response())
}

/// A webhook URL's scheme and host (and port), without user info, path or query: what is
/// shown to non-admins and kept in the audit trail.
pub(super) fn webhook_origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}")
}

/// Longest webhook URL accepted.
pub(super) const WEBHOOK_URL_MAX: usize = 2_048;

pub(super) async fn put_rule(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    if !valid_name(&id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_rule",
            "rule_id: 1-64 characters of A-Z a-z 0-9 - _ . @",
        )
        .details(json!([{"path": "rule_id"}])));
    }
    let kinds = || json!({"kinds": ["bot_down {after_s}", "bot_error", "bot_unhealthy {within_s}", "node_lost {after_s}", "p99_above {stage, budget_ns, for_s?}", "daily_loss {limit_usd?}", "feed_stale {after_ms}", "trade {min_abs_pnl_usd?, failures_only?}"]});
    let value: Value = parse_body(&body)?;
    // serde would take a variant's index for the tag.
    if !value["kind"].is_string() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_rule",
            format!("rule {id}: kind: expected one of the names below"),
        )
        .details(kinds()));
    }
    let body: RuleBody = serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_rule",
            format!("rule {id}: {}", bounded(&e.to_string(), 300)),
        )
        .details(kinds())
    })?;
    let scope = body.scope;
    crate::alerts::RuleScope::parse(&scope).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_rule",
            format!("rule {id}: {e}"),
        )
        .details(json!([{"path": "scope"}]))
    })?;
    let rule = crate::alerts::Rule {
        rule_id: id.clone(),
        kind: body.kind,
        webhook: body.webhook,
        scope,
        format: body.format,
        chat_id: body.chat_id,
    };
    let refuse = |path: &str, why: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_rule",
            format!("rule {id}: {why}"),
        )
        .details(json!([{ "path": path }]))
    };
    match (&rule.format, &rule.chat_id) {
        (crate::alerts::WebhookFormat::Telegram, None) => {
            return Err(refuse(
                "chat_id",
                "chat_id: the format telegram posts to a chat; name it".into(),
            ));
        }
        (crate::alerts::WebhookFormat::Telegram, Some(c)) if !crate::alerts::valid_chat_id(c) => {
            return Err(refuse(
                "chat_id",
                "chat_id: a chat number (negative for groups) or @channelname".into(),
            ));
        }
        (crate::alerts::WebhookFormat::Telegram, _) | (_, None) => {}
        (_, Some(_)) => {
            return Err(refuse(
                "chat_id",
                "chat_id: only the format telegram posts to a chat".into(),
            ));
        }
    }
    if let crate::alerts::RuleKind::Trade {
        min_abs_pnl_usd: Some(min),
        ..
    } = rule.kind
        && !(min.is_finite() && (0.0..=1e15).contains(&min))
    {
        return Err(refuse(
            "min_abs_pnl_usd",
            format!("min_abs_pnl_usd {min}: 0 to 1e15 USD"),
        ));
    }
    if let crate::alerts::RuleKind::P99Above {
        for_s: Some(for_s), ..
    } = rule.kind
        && (for_s == 0 || (for_s as i64) * 1000 > RECENT_P99_MS)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_rule",
            format!(
                "rule {id}: for_s {for_s}: 1 to {} seconds",
                RECENT_P99_MS / 1000
            ),
        )
        .details(json!([{"path": "for_s"}])));
    }
    if let crate::alerts::RuleKind::BotUnhealthy { within_s } = rule.kind
        && !(1..=86_400).contains(&within_s)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_rule",
            format!("rule {id}: within_s {within_s}: 1 to 86400 seconds"),
        )
        .details(json!([{"path": "within_s"}])));
    }
    if !rule.webhook.is_empty() {
        let bad = |why: String| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_rule",
                format!("rule {id}: webhook {why}"),
            )
            .details(json!([{"path": "webhook"}]))
        };
        if rule.webhook.len() > WEBHOOK_URL_MAX {
            return Err(bad(format!("is longer than {WEBHOOK_URL_MAX} bytes")));
        }
        // Control characters (CR/LF would inject headers), spaces and non-ASCII never reach
        // a request line.
        if rule.webhook.chars().any(|c| !c.is_ascii_graphic()) {
            return Err(bad(
                "may hold printable ASCII only (no spaces, control characters or CR/LF)".into(),
            ));
        }
        sniperforge_host::net::Url::parse(&rule.webhook, &[("http", false), ("https", true)])
            .map_err(|e| bad(format!("must be an http:// or https:// URL: {e}")))?;
    }
    state.store.put_rule(&rule).await?;
    let mut audited = serde_json::to_value(&rule).unwrap_or_default();
    if !rule.webhook.is_empty() {
        audited["webhook"] = Value::String(webhook_origin(&rule.webhook));
    }
    state
        .store
        .audit(&caller(&ext).name, "alert_rule.put", &id, &audited)
        .await?;
    Ok(axum::Json(rule).into_response())
}

/// Evaluates the rules now; a scoped caller is answered the alerts of its environments.
pub(super) async fn evaluate_alerts(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let mut done = state.evaluate_alerts().await?;
    let who = caller(&ext);
    if who.environments.is_some() {
        let mine: std::collections::HashSet<String> = state
            .store
            .alerts(&who.envs())
            .await?
            .into_iter()
            .map(|a| a.alert_id)
            .collect();
        done.raised.retain(|a| mine.contains(a));
        done.resolved.retain(|a| mine.contains(a));
        done.delivery_failures.clear();
    }
    Ok(axum::Json(done).into_response())
}
