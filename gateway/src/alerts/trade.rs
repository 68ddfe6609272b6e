//! Trade events: rules of kind `trade` post the fills of the bots in their scope as the agents'
//! reports bring them (stored once, so posted once), filtered by |PnL| and failures. A rule's
//! fills go out together, one message at most every [`TRADE_MESSAGE_GAP`] (within Slack's,
//! Discord's and Telegram's per-channel limits): fills arriving sooner wait for the next
//! message, which the evaluation loop sends once the gap has passed. A rule changed or
//! deleted meanwhile drops what waited (it never goes to an old webhook).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::json;
use sniperforge_protocol::fleet::TradeFill;

use super::{Rule, RuleKind, RuleScope, WebhookQueue, format};
use crate::store::Environment;

/// Fills listed in one message (the rest are counted).
pub const TRADES_PER_MESSAGE: usize = 10;
/// Least time between two messages of one rule.
pub const TRADE_MESSAGE_GAP: Duration = Duration::from_secs(3);

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

/// A bot's fill, as a message lists it.
#[derive(Debug, Clone)]
struct Listed {
    bot: String,
    environment: Environment,
    node: String,
    fill: TradeFill,
}

/// A rule's fills waiting for their message.
#[derive(Debug, Default)]
struct Pending {
    listed: Vec<Listed>,
    count: usize,
    pnl_usd: f64,
    failed: usize,
    bots: BTreeSet<String>,
}

/// A trade rule's last message, the rule as it stands, and its fills waiting.
type Held = (Option<Instant>, Rule, Pending);

/// Each trade rule's pace and the fills waiting for its next message.
#[derive(Debug, Default)]
pub struct TradeBatches {
    rules: std::sync::Mutex<HashMap<String, Held>>,
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

/// A message's text, and whether it is good news.
fn text(p: &Pending) -> (String, bool) {
    let many_bots = p.bots.len() > 1;
    let who = |l: &Listed| format!("{} ({}, node {})", l.bot, l.environment, l.node);
    let failed = if p.failed > 0 {
        format!(", {} failed", p.failed)
    } else {
        String::new()
    };
    let head = match (&p.listed[..], many_bots) {
        ([one], false) if p.count == 1 && one.fill.amount_out.is_none() => {
            format!("TRADE FAILED {}", who(one))
        }
        ([one], false) if p.count == 1 => format!("TRADE {}: {}", who(one), signed(p.pnl_usd)),
        (listed, false) => format!(
            "TRADES {}: {} fills, {}{failed}",
            listed.first().map(who).unwrap_or_default(),
            p.count,
            signed(p.pnl_usd)
        ),
        (_, true) => format!(
            "TRADES {} fills from {} bots, {}{failed}",
            p.count,
            p.bots.len(),
            signed(p.pnl_usd)
        ),
    };
    let mut text = head;
    for l in &p.listed {
        text.push('\n');
        if many_bots {
            text.push_str(&format!("{} ", l.bot));
        }
        text.push_str(&line(&l.fill));
    }
    if p.count > p.listed.len() {
        text.push_str(&format!("\n… and {} more", p.count - p.listed.len()));
    }
    (text, p.pnl_usd > 0.0 && p.failed == 0)
}

impl TradeBatches {
    /// Adds the fills of a report (each bot with its new fills) that each trade rule with a
    /// webhook watches and lets through, and sends each rule's message whose gap has passed.
    pub fn add(
        &self,
        rules: &[Rule],
        webhooks: &WebhookQueue,
        report: &[(Booked<'_>, Vec<&TradeFill>)],
    ) {
        let Ok(mut held) = self.rules.lock() else {
            return;
        };
        for rule in rules {
            if rule.webhook.is_empty() {
                held.remove(&rule.rule_id);
                continue;
            }
            let RuleKind::Trade {
                min_abs_pnl_usd,
                failures_only,
            } = rule.kind
            else {
                continue;
            };
            let Ok(scope) = RuleScope::parse(&rule.scope) else {
                continue;
            };
            let entry = held
                .entry(rule.rule_id.clone())
                .or_insert_with(|| (None, rule.clone(), Pending::default()));
            // The rule as it stands now: one changed drops what waited under its old form.
            if entry.1 != *rule {
                entry.1 = rule.clone();
                entry.2 = Pending::default();
            }
            for (bot, fills) in report {
                if !scope.names(bot.bot_id, bot.bot_type, bot.environment) {
                    continue;
                }
                for f in fills
                    .iter()
                    .filter(|f| passes(min_abs_pnl_usd, failures_only, f))
                {
                    let p = &mut entry.2;
                    p.count += 1;
                    p.pnl_usd += f.pnl_usd;
                    p.failed += usize::from(f.amount_out.is_none());
                    p.bots.insert(bot.bot_id.to_string());
                    if p.listed.len() < TRADES_PER_MESSAGE {
                        p.listed.push(Listed {
                            bot: bot.bot_id.to_string(),
                            environment: bot.environment,
                            node: bot.node_id.to_string(),
                            fill: (*f).clone(),
                        });
                    }
                }
            }
        }
        send_due(&mut held, webhooks);
    }

    /// Sends each rule's waiting fills whose gap has passed (the evaluation loop calls it every
    /// second); forgets rules that no longer exist.
    pub fn flush(&self, rules: &[Rule], webhooks: &WebhookQueue) {
        let Ok(mut held) = self.rules.lock() else {
            return;
        };
        // A rule deleted, no longer a trade rule or without a webhook holds nothing; one changed
        // (webhook, format, chat, scope or filters) drops what waited under its old form.
        held.retain(|id, entry| {
            let Some(now) = rules.iter().find(|r| &r.rule_id == id) else {
                return false;
            };
            if !matches!(now.kind, RuleKind::Trade { .. }) || now.webhook.is_empty() {
                return false;
            }
            if *now != entry.1 {
                entry.1 = now.clone();
                entry.2 = Pending::default();
            }
            true
        });
        send_due(&mut held, webhooks);
    }

    /// Fills waiting for rule `rule_id`'s next message.
    pub fn waiting(&self, rule_id: &str) -> usize {
        self.rules
            .lock()
            .map(|h| h.get(rule_id).map_or(0, |e| e.2.count))
            .unwrap_or(0)
    }
}

fn send_due(held: &mut HashMap<String, Held>, webhooks: &WebhookQueue) {
    for (last, rule, pending) in held.values_mut() {
        if pending.count == 0 || last.is_some_and(|t| t.elapsed() < TRADE_MESSAGE_GAP) {
            continue;
        }
        let p = std::mem::take(pending);
        *last = Some(Instant::now());
        let first = &p.listed[0];
        let id = format!("trade:{}:{}:{}", rule.rule_id, first.bot, first.fill.seq);
        let (text, good) = text(&p);
        let fields = json!({
            "event": "trade",
            "bot_id": (p.bots.len() == 1).then(|| first.bot.clone()),
            "bots": p.bots,
            "count": p.count,
            "pnl_usd": p.pnl_usd,
            "trades": p.listed.iter().map(|l| json!({"bot_id": l.bot, "environment": l.environment, "node_id": l.node, "fill": l.fill})).collect::<Vec<_>>(),
        });
        if let Err(e) =
            webhooks.enqueue(&id, &rule.webhook, format::body(rule, &text, good, fields))
        {
            tracing::error!(rule = %rule.rule_id, error = %e, "trade event not queued");
        }
    }
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
            route: Some("SOL>USDC>SOL via raydium-v4,whirlpool".into()),
            signature: None,
        }
    }

    fn pending(fills: &[(&str, TradeFill)]) -> Pending {
        let mut p = Pending::default();
        for (bot, f) in fills {
            p.count += 1;
            p.pnl_usd += f.pnl_usd;
            p.failed += usize::from(f.amount_out.is_none());
            p.bots.insert(bot.to_string());
            if p.listed.len() < TRADES_PER_MESSAGE {
                p.listed.push(Listed {
                    bot: bot.to_string(),
                    environment: Environment::Prod,
                    node: "n1".into(),
                    fill: f.clone(),
                });
            }
        }
        p
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
        let (t, good) = text(&pending(&[("arb", win.clone())]));
        assert!(good);
        assert!(
            t.starts_with("TRADE arb (prod, node n1): +2.00 USD\n#1 +2.00 USD SOL>USDC>SOL"),
            "{t}"
        );
        let (t, good) = text(&pending(&[("arb", fail.clone())]));
        assert!(!good && t.starts_with("TRADE FAILED arb"), "{t}");
        let many: Vec<(&str, TradeFill)> = (1..=12).map(|s| ("arb", fill(s, 1.0, false))).collect();
        let (t, _) = text(&pending(&many));
        assert!(
            t.starts_with("TRADES arb (prod, node n1): 12 fills, +12.00 USD\n"),
            "{t}"
        );
        assert!(t.ends_with("… and 2 more"), "{t}");
        assert_eq!(t.lines().count(), 1 + TRADES_PER_MESSAGE + 1);
        let (t, _) = text(&pending(&[("a", win), ("b", loss), ("b", fail)]));
        assert!(
            t.starts_with("TRADES 3 fills from 2 bots, +1.50 USD, 1 failed\na #1 +2.00 USD"),
            "{t}"
        );
    }

    #[tokio::test]
    async fn a_changed_rule_drops_what_waited_under_its_old_form() {
        let queue = WebhookQueue::start(super::super::Webhooks::default());
        let rule = Rule {
            rule_id: "t".into(),
            kind: RuleKind::Trade {
                min_abs_pnl_usd: None,
                failures_only: false,
            },
            webhook: "http://192.0.2.1:9/hook".into(),
            scope: "fleet".into(),
            format: super::super::WebhookFormat::Generic,
            chat_id: None,
        };
        let bot = Booked {
            bot_id: "a",
            bot_type: "triangular_arbitrage",
            environment: Environment::Dev,
            node_id: "n1",
        };
        let (one, two) = (fill(1, 1.0, false), fill(2, 1.0, false));
        queue
            .trades
            .add(std::slice::from_ref(&rule), &queue, &[(bot, vec![&one])]);
        assert_eq!(
            queue.trades.waiting("t"),
            0,
            "the first message goes at once"
        );
        queue
            .trades
            .add(std::slice::from_ref(&rule), &queue, &[(bot, vec![&two])]);
        assert_eq!(queue.trades.waiting("t"), 1, "the next waits out the gap");
        let moved = Rule {
            webhook: "http://192.0.2.2:9/other".into(),
            ..rule.clone()
        };
        queue.trades.flush(std::slice::from_ref(&moved), &queue);
        assert_eq!(
            queue.trades.waiting("t"),
            0,
            "never sent to the new webhook"
        );
        queue
            .trades
            .add(std::slice::from_ref(&moved), &queue, &[(bot, vec![&two])]);
        assert_eq!(queue.trades.waiting("t"), 1);
        let cleared = Rule {
            webhook: String::new(),
            ..moved
        };
        queue
            .trades
            .add(std::slice::from_ref(&cleared), &queue, &[]);
        assert_eq!(
            queue.trades.waiting("t"),
            0,
            "a webhook cleared holds nothing"
        );
    }
}
