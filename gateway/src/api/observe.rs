//! What the operator reads: bot logs, nodes, status, metrics, latency (recent and over time),
//! system metrics and the Prometheus exposition.

use super::*;

/// A bot's recent log lines (newest last), as its agent reported them.
pub(super) async fn bot_logs(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
    ext: axum::http::Extensions,
) -> ApiResult {
    state.bot_or_404(&id, &caller(&ext).envs()).await?;
    let tail = q.tail.unwrap_or(200).min(LOG_LINES_KEPT);
    let lines: Vec<Arc<LogLine>> = state
        .logs
        .lock()
        .map(|logs| {
            let Some(kept) = logs.get(&id) else {
                return Vec::new();
            };
            let matching: Vec<&Arc<LogLine>> = kept
                .iter()
                .filter(|l| q.filter.as_deref().is_none_or(|f| l.line.contains(f)))
                .collect();
            matching[matching.len().saturating_sub(tail)..]
                .iter()
                .map(|l| Arc::clone(l))
                .collect()
        })
        .unwrap_or_default();
    Ok(axum::Json(BotLogs { bot_id: id, lines }).into_response())
}

/// Nodes; with a scoped token or `?env=`, those serving one of the environments reached.
pub(super) async fn nodes(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Query(q): Query<EnvQuery>,
) -> ApiResult {
    let envs = caller(&ext).env_filter(q.env.as_deref())?;
    let mut nodes = state.store.nodes().await?;
    if let Some(list) = envs.list() {
        nodes.retain(|n| list.iter().any(|e| n.serves(*e)));
    }
    let mut recordings = state.store.recordings().await?;
    let nodes = nodes
        .into_iter()
        .map(|node| ListedNode {
            recordings: recordings.remove(&node.node_id),
            node,
        })
        .collect();
    Ok(axum::Json(NodeList { nodes }).into_response())
}

pub(super) async fn bot_status(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let bot = state.bot_or_404(&id, &caller(&ext).envs()).await?;
    let report = state.store.bot_report(&id).await?;
    Ok(axum::Json(BotStatusBody {
        bot_id: id,
        desired_state: bot.desired_state,
        reported: report,
    })
    .into_response())
}

/// A bot's last reported metrics (trades, profit, …) and when they were reported; `null`
/// metrics until its agent first reports.
pub(super) async fn bot_metrics(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
) -> ApiResult {
    state.bot_or_404(&id, &caller(&ext).envs()).await?;
    let report = state.store.bot_report(&id).await?;
    Ok(axum::Json(BotMetricsBody {
        bot_id: id,
        reported_at: report.as_ref().map(|r| r.reported_at),
        node_id: report.as_ref().map(|r| r.node_id.clone()),
        metrics: report.map_or(Value::Null, |r| r.metrics),
    })
    .into_response())
}

pub(super) fn percentiles(h: &hdrhistogram::Histogram<u64>) -> Percentiles {
    let p = sniperforge_protocol::telemetry::Percentiles::of(h);
    Percentiles {
        count: p.count,
        p50: p.p50,
        p90: p.p90,
        p99: p.p99,
        p999: p.p999,
        max: p.max,
    }
}

/// Merged latency per stage of one bot (ns from ingress).
pub(super) async fn bot_latency(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
) -> ApiResult {
    state.bot_or_404(&id, &caller(&ext).envs()).await?;
    let stages: std::collections::BTreeMap<String, Percentiles> = state
        .latency
        .lock()
        .map(|l| {
            l.get(&id)
                .map(|s| s.iter().map(|(k, h)| (k.clone(), percentiles(h))).collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    Ok(axum::Json(BotLatency {
        bot_id: id,
        unit: "ns",
        stages,
    })
    .into_response())
}

/// Closed 1 min windows written to the store per flush (per second).
pub const MINUTES_PER_FLUSH: usize = 400;

/// `a / b` rounded up, for `a >= 0`, `b > 0`.
pub(super) fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

/// Most points a latency query may answer per stage.
pub const LATENCY_MAX_POINTS: i64 = 3_600;

/// Latency over a range: per stage, a point per step and the whole range merged.
pub(super) async fn latency_range(
    State(state): State<Arc<AppState>>,
    Query(q): Query<RangeQuery>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let bad = |msg: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", msg);
    let scope = q.scope.unwrap_or_else(|| "fleet".into());
    let env = scope
        .strip_prefix("env:")
        .and_then(|e| e.parse::<crate::store::Environment>().ok());
    let valid = scope == "fleet"
        || env.is_some()
        || ["bot:", "node:"]
            .iter()
            .any(|p| scope.strip_prefix(p).is_some_and(|id| !id.is_empty()))
        || scope
            .strip_prefix("type:")
            .is_some_and(|t| t.parse::<BotType>().is_ok());
    if !valid {
        return Err(bad(format!(
            "scope {scope:?}: expected fleet, bot:<bot_id>, type:<bot_type>, env:<environment> or node:<node_id>"
        )));
    }
    // A scoped caller reads its own environments and bots: not windows that merge others'.
    let who = caller(&ext);
    if who.environments.is_none() {
        // Every window, a deleted bot's history included.
    } else if let Some(id) = scope.strip_prefix("bot:") {
        state.bot_or_404(id, &who.envs()).await?;
    } else if !env.is_some_and(|e| who.sees(e)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "environment_forbidden",
            format!(
                "scope {scope}: token {} reaches {} only; read env:<environment> or bot:<bot_id>",
                who.name,
                crate::store::Environment::join(who.environments.as_deref().unwrap_or_default())
            ),
        ));
    }
    let now = state.store.now_ms();
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to - 300_000);
    const LATEST: i64 = 1 << 50; // unix ms, year 37 648: keeps the arithmetic below in range
    if !(0..LATEST).contains(&from) || !(0..LATEST).contains(&to) {
        return Err(bad(format!(
            "from {from} / to {to}: unix milliseconds between 0 and {LATEST}"
        )));
    }
    if from >= to {
        return Err(bad(format!("from {from} is not before to {to}")));
    }
    // A range reaching a few seconds past the 1 s windows' reach (a "last N minutes" query at N
    // = the retention, sent a moment ago) still reads seconds; its oldest points are empty.
    let kept = state
        .windows
        .lock()
        .map_or(0, |w| w.seconds_kept_ms(&scope));
    let reach = now - kept - 10_000;
    let resolution = if from >= reach && q.step_ms.is_none_or(|s| s % 60_000 != 0) {
        1_000
    } else {
        60_000
    };
    let from = from - from.rem_euclid(resolution);
    let step = match q.step_ms {
        Some(s) if s <= 0 || s % resolution != 0 => {
            return Err(bad(format!(
                "step_ms {s}: must be a positive multiple of {resolution} for this range ({})",
                if resolution == 1_000 {
                    "1 s windows"
                } else {
                    "1 min windows: older than the 1 s windows reach, or a step of whole minutes"
                }
            )));
        }
        Some(s) => s,
        None => {
            let s = ceil_div(to - from, 300);
            (ceil_div(s, resolution) * resolution).max(resolution)
        }
    };
    let points = ceil_div(to - from, step);
    if points > LATENCY_MAX_POINTS {
        return Err(bad(format!(
            "{points} points of {step} ms: at most {LATENCY_MAX_POINTS}; use a larger step_ms"
        )));
    }
    let mut stages: std::collections::BTreeSet<String> = state
        .windows
        .lock()
        .map(|w| w.stages(&scope).into_iter().collect())
        .unwrap_or_default();
    let mut stored = std::collections::BTreeMap::new();
    if resolution == 60_000 {
        stages.extend(state.store.latency_stages(&scope).await?);
        for stage in &stages {
            stored.insert(
                stage.clone(),
                state.store.latency_minutes(&scope, stage, from, to).await?,
            );
        }
    }
    let mut out = std::collections::BTreeMap::new();
    let windows = state.windows.lock().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "poisoned",
            "latency windows",
        )
    })?;
    for stage in stages {
        let mut buckets = vec![crate::windows::Counts::new(); points as usize];
        if resolution == 1_000 {
            windows.seconds_into(&scope, &stage, from, to, step, &mut buckets);
        } else {
            for (start, data) in stored.get(&stage).into_iter().flatten() {
                if let Some(b) = buckets.get_mut(((start - from) / step) as usize) {
                    crate::windows::unpack_into(data, b).map_err(|e| {
                        ApiError::from(StoreError::Corrupt(format!(
                            "latency window {scope}/{stage} at {start}: {e}"
                        )))
                    })?;
                }
            }
            for (start, counts) in windows.open_minutes(&scope, &stage) {
                if start >= from
                    && start < to
                    && let Some(b) = buckets.get_mut(((start - from) / step) as usize)
                {
                    for (v, c) in counts {
                        crate::windows::add(b, v, c);
                    }
                }
            }
        }
        let mut total = crate::windows::Counts::new();
        let points: Vec<LatencyPoint> = buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                for (&v, &c) in b {
                    crate::windows::add(&mut total, v, c);
                }
                LatencyPoint {
                    t: from + i as i64 * step,
                    percentiles: crate::windows::percentiles(b),
                }
            })
            .collect();
        out.insert(
            stage,
            StageSeries {
                points,
                total: crate::windows::percentiles(&total),
            },
        );
    }
    Ok(axum::Json(LatencyRange {
        scope,
        from,
        to,
        step_ms: step,
        resolution_ms: resolution,
        unit: "ns",
        stages: out,
    })
    .into_response())
}

/// Latency merged per stage across a group of bots: the fleet, a bot type or a node.
pub(crate) fn merged(
    state: &AppState,
    bots: &[crate::store::BotRow],
    keep: impl Fn(&crate::store::BotRow) -> bool,
) -> std::collections::BTreeMap<String, Percentiles> {
    let mut out: std::collections::BTreeMap<String, hdrhistogram::Histogram<u64>> =
        Default::default();
    if let Ok(l) = state.latency.lock() {
        for b in bots.iter().filter(|b| keep(b)) {
            for (stage, h) in l.get(&b.bot_id).into_iter().flatten() {
                let _ = out
                    .entry(stage.clone())
                    .or_insert_with(sniperforge_protocol::telemetry::latency_histogram)
                    .add(h);
            }
        }
    }
    out.iter()
        .map(|(k, h)| (k.clone(), percentiles(h)))
        .collect()
}

/// Fleet metrics: bots by desired state, nodes, and latency merged over the fleet (or one
/// bot type / node with `?bot_type=` / `?node_id=`).
pub(super) async fn system_metrics(
    State(state): State<Arc<AppState>>,
    Query(q): Query<FleetQuery>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let envs = caller(&ext).env_filter(q.env.as_deref())?;
    let bots = state.store.bots_in(&envs).await?;
    let mut by_state = std::collections::BTreeMap::new();
    for b in &bots {
        *by_state.entry(b.desired_state.to_string()).or_insert(0) += 1;
    }
    let latency = merged(&state, &bots, |b| {
        q.bot_type.as_ref().is_none_or(|t| &b.bot_type == t)
            && q.node_id.as_ref().is_none_or(|n| &b.node_id == n)
    });
    Ok(axum::Json(FleetMetrics {
        bots: bots.len(),
        bots_by_desired_state: by_state,
        nodes: state
            .store
            .nodes()
            .await?
            .iter()
            .filter(|n| envs.list().is_none_or(|l| l.iter().any(|e| n.serves(*e))))
            .count(),
        desired_index: *state.index.borrow(),
        latency_ns: latency,
    })
    .into_response())
}

/// Prometheus text: bots by desired state, nodes, each bot's reported trades and profit, and
/// fleet latency quantiles per stage.
pub(super) async fn prometheus(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
) -> ApiResult {
    use std::fmt::Write as _;
    let envs = caller(&ext).envs();
    let bots = state.store.bots_in(&envs).await?;
    let mut nodes = state.store.nodes().await?;
    if let Some(list) = envs.list() {
        nodes.retain(|n| list.iter().any(|e| n.serves(*e)));
    }
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# HELP sniperforge_bots Bots by desired state.\n# TYPE sniperforge_bots gauge"
    );
    for desired in sniperforge_protocol::fleet::DesiredState::ALL {
        let n = bots.iter().filter(|b| b.desired_state == desired).count();
        let _ = writeln!(text, "sniperforge_bots{{desired_state=\"{desired}\"}} {n}");
    }
    let _ = writeln!(
        text,
        "# HELP sniperforge_nodes Registered nodes.\n# TYPE sniperforge_nodes gauge\nsniperforge_nodes {}",
        nodes.len()
    );
    let _ = writeln!(
        text,
        "# HELP sniperforge_bot_trades_executed_total Trades a bot reported.\n# TYPE sniperforge_bot_trades_executed_total counter"
    );
    let mut profit = String::new();
    let reports = state.store.bot_reports().await?;
    for b in &bots {
        if let Some(report) = reports.get(&b.bot_id) {
            let m = &report.metrics;
            // `replica_of` groups a bot's instances (empty for a bot of its own).
            let labels = format!(
                "bot_id=\"{}\",bot_type=\"{}\",environment=\"{}\",node_id=\"{}\",replica_of=\"{}\"",
                prometheus_label(&b.bot_id),
                prometheus_label(&b.bot_type),
                b.environment,
                prometheus_label(&b.node_id),
                prometheus_label(b.replica_of.as_deref().unwrap_or_default())
            );
            let _ = writeln!(
                text,
                "sniperforge_bot_trades_executed_total{{{labels}}} {}",
                m["trades_executed"].as_u64().unwrap_or(0)
            );
            let _ = writeln!(
                profit,
                "sniperforge_bot_profit_usd{{{labels}}} {}",
                m["profit_usd"].as_f64().unwrap_or(0.0)
            );
        }
    }
    let _ = writeln!(
        text,
        "# HELP sniperforge_bot_profit_usd Profit a bot reported, USD.\n# TYPE sniperforge_bot_profit_usd gauge"
    );
    text.push_str(&profit);
    let _ = writeln!(
        text,
        "# HELP sniperforge_stage_latency_ns Fleet latency from ingress per stage.\n# TYPE sniperforge_stage_latency_ns gauge"
    );
    for (stage, p) in merged(&state, &bots, |_| true) {
        for (q, value) in [
            ("0.5", p.p50),
            ("0.9", p.p90),
            ("0.99", p.p99),
            ("0.999", p.p999),
            ("1", p.max),
        ] {
            let _ = writeln!(
                text,
                "sniperforge_stage_latency_ns{{stage=\"{}\",quantile=\"{q}\"}} {}",
                prometheus_label(&stage),
                value
            );
        }
    }
    Ok(([("content-type", "text/plain; version=0.0.4")], text).into_response())
}

/// A label value as the Prometheus text format escapes it (`\\`, `\"`, `\n`): whatever a
/// store holds, it stays one label of one series.
pub(super) fn prometheus_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `GET /api/v1/trades`: the trades the caller's environments reach, newest first, a page at a
/// time (`next_cursor` names the next).
pub(super) async fn list_trades(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Query(q): Query<TradeQuery>,
) -> ApiResult {
    let bad = |field: &str, message: String| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
            .details(json!([{"path": field}]))
    };
    let env = caller(&ext).env_filter(q.env.as_deref())?;
    if let Some(b) = &q.bot
        && !sniperforge_protocol::config::valid_bot_id(b)
    {
        return Err(bad("bot", "bot: not a bot id".into()));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad("limit", format!("limit: 1 to 1000 (got {limit})")));
    }
    // `<at_ms>:<seq>:<node_id>:<bot_id>`, as the previous page gave it.
    let after = match &q.cursor {
        None => None,
        Some(c) => {
            let mut parts = c.splitn(4, ':');
            let parsed = (|| {
                let at = parts.next()?.parse::<i64>().ok()?;
                let seq = parts.next()?.parse::<i64>().ok()?;
                let node = parts.next()?;
                let bot = parts.next()?;
                (sniperforge_protocol::config::valid_bot_id(bot)
                    && sniperforge_protocol::config::valid_node_id(node))
                .then(|| (at, bot.to_string(), node.to_string(), seq))
            })();
            Some(parsed.ok_or_else(|| bad("cursor", "cursor: not one this listing gave".into()))?)
        }
    };
    let filter = crate::store::TradeFilter {
        bot_id: q.bot.clone(),
        env,
        from_ms: q.from,
        to_ms: q.to,
        after,
        limit: i64::from(limit),
    };
    let trades = state.store.trades(&filter).await?;
    let next_cursor = (trades.len() == limit as usize)
        .then(|| {
            trades
                .last()
                .map(|t| format!("{}:{}:{}:{}", t.at_ms, t.seq, t.node_id, t.bot_id))
        })
        .flatten();
    Ok(axum::Json(TradeList {
        trades,
        next_cursor,
    })
    .into_response())
}
