//! Trade events: rules of kind `trade` post each fill a bot in their scope booked, as the
//! agent's report brings it (stored once, so posted once), filtered by |PnL| and failures. One
//! message a rule, bot and report: a bot trading many times a second does not flood a channel.

use serde_json::json;
use sniperforge_protocol::fleet::TradeFill;

use super::{Rule, RuleKind, RuleScope, WebhookQueue, format};
use crate::store::Environment;

/// Fills listed in one message (the rest are counted).
pub const TRADES_PER_MESSAGE: usize = 10;

/// Whether `fill` passes a trade rule's filters.
pub fn passes(min_abs_pnl_usd: Option<f64>, failures_only: bool, fill: &TradeFill) -> bool {
    (!failures_only || fill.amount_out.is_none())
        && min_abs_pnl_usd.is_none_or(|min| fill.pnl_usd.abs() >= min)
}

/// The bot a report's fills belong to.
#[derive(Debug, Clone, Copy)]
pub struct Booked<'a> {
    /// The bot.
    pub bot_id: &'a str,
    /// Its type.
    pub bot_type: &'a str,
    /// Its environment.
    pub environment: Environment,
    /// The node that reported them.
    pub node_id: &'a str,
}

fn signed(usd: f64) -> String {
    format!("{}{usd:.2} USD", if usd >= 0.0 { "+" } else { "" })
}

/// One fill on one line.
fn line(f: &TradeFill) -> String {
    let route = f
        .route
        .as_deref()
        .map_or_else(|| format!("route {}", f.cycle), String::from);
    let mut s = match f.amount_out {
        Some(out) => format!(
            "#{} {} {route}: {} {} in, {out} out (expected {}), fee {}, {} µs after the decision",
            f.seq,
            signed(f.pnl_usd),
            f.amount_in,
            f.token,
            f.expected_out,
            f.fee,
            f.latency_us
        ),
        None => format!(
            "#{} FAILED {route}: {} {} in, the route would have failed at fill time",
            f.seq, f.amount_in, f.token
        ),
    };
    if let Some(sig) = &f.signature {
        s.push_str(&format!(", tx {sig}"));
    }
    s
}

/// The text of `fills` (one or more) of `bot`, and whether it is good news.
pub fn text(bot: Booked<'_>, fills: &[&TradeFill]) -> (String, bool) {
    let pnl: f64 = fills.iter().map(|f| f.pnl_usd).sum();
    let failed = fills.iter().filter(|f| f.amount_out.is_none()).count();
    let who = format!("{} ({}, node {})", bot.bot_id, bot.environment, bot.node_id);
    let head = match fills {
        [one] if one.amount_out.is_none() => format!("TRADE FAILED {who}"),
        [_] => format!("TRADE {who}: {}", signed(pnl)),
        _ => format!(
            "TRADES {who}: {} fills, {}{}",
            fills.len(),
            signed(pnl),
            if failed > 0 {
                format!(", {failed} failed")
            } else {
                String::new()
            }
        ),
    };
    let mut text = head;
    for f in fills.iter().take(TRADES_PER_MESSAGE) {
        text.push('\n');
        text.push_str(&line(f));
    }
    if fills.len() > TRADES_PER_MESSAGE {
        text.push_str(&format!(
            "\n… and {} more",
            fills.len() - TRADES_PER_MESSAGE
        ));
    }
    (text, pnl > 0.0 && failed == 0)
}

/// Queues, for each trade rule watching `bot` with a webhook, one message with the fills of
/// `fills` that pass its filters. Deliveries not queued are answered (`rule: why`).
pub fn notify(
    rules: &[Rule],
    webhooks: &WebhookQueue,
    bot: Booked<'_>,
    fills: &[&TradeFill],
) -> Vec<String> {
    let mut failures = Vec::new();
    for rule in rules.iter().filter(|r| !r.webhook.is_empty()) {
        let RuleKind::Trade {
            min_abs_pnl_usd,
            failures_only,
        } = rule.kind
        else {
            continue;
        };
        let watched = RuleScope::parse(&rule.scope)
            .is_ok_and(|s| s.names(bot.bot_id, bot.bot_type, bot.environment));
        if !watched {
            continue;
        }
        let chosen: Vec<&TradeFill> = fills
            .iter()
            .copied()
            .filter(|f| passes(min_abs_pnl_usd, failures_only, f))
            .collect();
        let Some(first) = chosen.first() else {
            continue;
        };
        let id = format!("trade:{}:{}:{}", rule.rule_id, bot.bot_id, first.seq);
        let (text, good) = text(bot, &chosen);
        let fields = json!({
            "event": "trade",
            "bot_id": bot.bot_id,
            "environment": bot.environment,
            "node_id": bot.node_id,
            "count": chosen.len(),
            "pnl_usd": chosen.iter().map(|f| f.pnl_usd).sum::<f64>(),
            "trades": chosen.iter().take(TRADES_PER_MESSAGE).collect::<Vec<_>>(),
        });
        if let Err(e) =
            webhooks.enqueue(&id, &rule.webhook, format::body(rule, &text, good, fields))
        {
            tracing::error!(rule = %rule.rule_id, bot = %bot.bot_id, error = %e, "trade event not queued");
            failures.push(format!("{id}: {e}"));
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(seq: u64, pnl_usd: f64, failed: bool) -> TradeFill {
        TradeFill {
            seq,
            at_ms: 1,
            token: "SOL".into(),
            cycle: 2,
            amount_in: 1.5,
            amount_out: (!failed).then_some(1.51),
            expected_out: 1.52,
            pnl: pnl_usd / 100.0,
            pnl_usd,
            slot: 9,
            latency_us: 120,
            fee: 0.0,
            fee_usd: 0.0,
            volume_usd: 150.0,
            route: Some("SOL>USDC>SOL via raydium_v4,whirlpool".into()),
            signature: None,
        }
    }

    #[test]
    fn filters_and_texts() {
        let (win, loss, fail) = (
            fill(1, 2.0, false),
            fill(2, -0.5, false),
            fill(3, 0.0, true),
        );
        assert!(passes(None, false, &win) && passes(None, false, &fail));
        assert!(!passes(Some(1.0), false, &loss) && passes(Some(0.5), false, &loss));
        assert!(passes(None, true, &fail) && !passes(None, true, &win));
        let bot = Booked {
            bot_id: "arb",
            bot_type: "enhanced_arbitrage",
            environment: Environment::Prod,
            node_id: "n1",
        };
        let (t, good) = text(bot, &[&win]);
        assert!(good);
        assert!(
            t.starts_with("TRADE arb (prod, node n1): +2.00 USD\n#1 +2.00 USD SOL>USDC>SOL"),
            "{t}"
        );
        let (t, good) = text(bot, &[&fail]);
        assert!(!good && t.starts_with("TRADE FAILED arb"), "{t}");
        let many: Vec<TradeFill> = (1..=12).map(|s| fill(s, 1.0, false)).collect();
        let refs: Vec<&TradeFill> = many.iter().collect();
        let (t, _) = text(bot, &refs);
        assert!(
            t.starts_with("TRADES arb (prod, node n1): 12 fills, +12.00 USD\n"),
            "{t}"
        );
        assert!(t.ends_with("… and 2 more"), "{t}");
        assert_eq!(t.lines().count(), 1 + TRADES_PER_MESSAGE + 1);
    }
}
