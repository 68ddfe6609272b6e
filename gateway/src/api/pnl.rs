//! `GET /api/v1/pnl`: profit over time from the stored trades, for the fleet, an environment
//! or one bot: per interval and cumulative, with win rate, trade count, volume, fees and
//! drawdown.

use super::*;
use crate::store::PnlSums;

/// PnL sums running at once (the rest wait their turn).
static PNL_QUERIES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Longest interval list one answer holds.
pub const PNL_INTERVALS_MAX: i64 = 2000;
/// The range when the query names none: the last day.
const DEFAULT_RANGE_MS: i64 = 86_400_000;
/// Steps a query naming none picks from: the smallest giving at most 200 intervals.
const STEPS_MS: [i64; 9] = [
    1_000,
    10_000,
    60_000,
    300_000,
    900_000,
    3_600_000,
    14_400_000,
    86_400_000,
    604_800_000,
];

/// `GET /api/v1/pnl`: which trades, over which range, in which steps.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
pub struct PnlQuery {
    /// `fleet` (every environment the caller reaches; the default), `env:<dev|test|prod>` or
    /// `bot:<bot id>`.
    #[schemars(pattern(r"^(fleet|env:(dev|test|prod)|bot:[A-Za-z0-9_-]{1,64})$"))]
    pub scope: Option<String>,
    /// From, unix ms (default: a day before `to`).
    pub from: Option<i64>,
    /// To (exclusive), unix ms (default: now).
    pub to: Option<i64>,
    /// Interval: seconds (`3600`) or with a unit (`30s`, `5m`, `1h`, `1d`); default: the
    /// smallest of 1 s, 10 s, 1 min, 5 min, 15 min, 1 h, 4 h, 1 d and 7 d giving at most 200
    /// intervals. At most 2,000 intervals.
    #[schemars(pattern(r"^[0-9]{1,9}[smhd]?$"))]
    pub step: Option<String>,
}

/// One interval of a PnL answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PnlPoint {
    /// Start, unix ms (it runs for `step_ms`, the last one to `to`).
    pub start_ms: i64,
    /// PnL from `from` to this interval's end, USD.
    pub cumulative_pnl_usd: f64,
    /// This interval's sums.
    #[serde(flatten)]
    pub sums: PnlSums,
}

/// `GET /api/v1/pnl`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PnlReport {
    /// The scope, as asked (`fleet`, `env:<env>` or `bot:<id>`).
    pub scope: String,
    /// From, unix ms.
    pub from: i64,
    /// To (exclusive), unix ms.
    pub to: i64,
    /// Interval length, ms.
    pub step_ms: i64,
    /// The whole range (`drawdown_usd`: the maximum drawdown).
    pub totals: PnlSums,
    /// Every interval from `from`, oldest first, empty ones too.
    pub intervals: Vec<PnlPoint>,
}

/// `a / b` rounded up, for positive `a` and `b`.
fn ceil_div(a: i64, b: i64) -> i64 {
    (a - 1) / b + 1
}

/// `30s`, `5m`, `1h`, `1d` or plain seconds, in ms.
fn parse_step(s: &str) -> Option<i64> {
    let (digits, unit) = match s.char_indices().last()? {
        (i, 's') => (&s[..i], 1_000),
        (i, 'm') => (&s[..i], 60_000),
        (i, 'h') => (&s[..i], 3_600_000),
        (i, 'd') => (&s[..i], 86_400_000),
        _ => (s, 1_000),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok()?.checked_mul(unit)
}

/// `GET /api/v1/pnl`: PnL over the trades the caller's environments reach.
pub(super) async fn pnl(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Query(q): Query<PnlQuery>,
) -> ApiResult {
    let bad = |field: &str, message: String| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_query", message)
            .details(json!([{"path": field}]))
    };
    let scope = q.scope.clone().unwrap_or_else(|| "fleet".into());
    let (env, bot) = match scope.split_once(':') {
        None if scope == "fleet" => (caller(&ext).env_filter(None)?, None),
        Some(("env", e)) if e.parse::<crate::store::Environment>().is_ok() => {
            (caller(&ext).env_filter(Some(e))?, None)
        }
        Some(("bot", b)) if config::valid_bot_id(b) => {
            (caller(&ext).env_filter(None)?, Some(b.to_string()))
        }
        _ => {
            return Err(bad(
                "scope",
                format!("scope: fleet, env:<dev|test|prod> or bot:<bot id> (got {scope:?})"),
            ));
        }
    };
    let to = q.to.unwrap_or_else(|| state.store.now_ms());
    let from = match q.from {
        Some(f) => f,
        None => to
            .checked_sub(DEFAULT_RANGE_MS)
            .ok_or_else(|| bad("to", "to: too early".into()))?,
    };
    let range = to
        .checked_sub(from)
        .filter(|r| *r > 0)
        .ok_or_else(|| bad("from", format!("from ({from}) must be before to ({to})")))?;
    let step_ms = match &q.step {
        Some(s) => parse_step(s).filter(|s| *s > 0).ok_or_else(|| {
            bad(
                "step",
                format!("step: seconds, or a number with s, m, h or d (got {s:?})"),
            )
        })?,
        None => STEPS_MS
            .iter()
            .copied()
            .find(|s| ceil_div(range, *s) <= 200)
            .unwrap_or_else(|| ceil_div(range, 200)),
    };
    let count = ceil_div(range, step_ms);
    // Nothing is kept from before the trades' retention: the database reads from there.
    let read_from = from.max(state.store.now_ms().saturating_sub(state.trades_kept_ms));
    if count > PNL_INTERVALS_MAX {
        return Err(bad(
            "step",
            format!(
                "{count} intervals of {step_ms} ms from {from} to {to}: at most {PNL_INTERVALS_MAX} (a longer step or a shorter range)"
            ),
        ));
    }
    // A few sums at a time: each is a pass over its range's trades.
    let _turn = PNL_QUERIES.acquire().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "PnL queries are closed",
        )
    })?;
    let found = state
        .store
        .pnl_intervals(&env, bot.as_deref(), from, read_from.min(to), to, step_ms)
        .await?;
    let mut totals = PnlSums::default();
    let mut intervals = Vec::with_capacity(count as usize);
    let mut found = found.iter().peekable();
    for index in 0..count {
        let sums = match found.next_if(|(i, _)| *i == index) {
            Some((_, sums)) => sums.clone(),
            None => PnlSums::default(),
        };
        totals.add(&sums);
        intervals.push(PnlPoint {
            start_ms: from + index * step_ms,
            cumulative_pnl_usd: totals.pnl_usd,
            sums,
        });
    }
    Ok(axum::Json(PnlReport {
        scope,
        from,
        to,
        step_ms,
        totals,
        intervals,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_with_and_without_units() {
        assert_eq!(parse_step("30"), Some(30_000));
        assert_eq!(parse_step("30s"), Some(30_000));
        assert_eq!(parse_step("5m"), Some(300_000));
        assert_eq!(parse_step("1h"), Some(3_600_000));
        assert_eq!(parse_step("2d"), Some(172_800_000));
        for bad in ["", "h", "1.5h", "-1", "1w", "1 h", "9999999999", "１h"] {
            assert_eq!(parse_step(bad), None, "{bad:?}");
        }
    }
}
