//! RealTimeDashboard's market view: the configured pairs' pools, kept current from the account
//! feed, as live mid prices per DEX, spreads, in-range liquidity, price series, the top
//! two-pool opportunities (sized in closed form, priced by the programs' exact quotes) and
//! market alerts (spread above a threshold).

use std::collections::{HashMap, VecDeque};

use serde_json::{Value, json};
use sniperforge_engine::curve::Chain;
use sniperforge_engine::cycles::Hop;
use sniperforge_engine::market::{AccountUpdate, Market, PoolIndex};
use sniperforge_engine::quote::{Amm, DexKind, Side};
use sniperforge_engine::sim::Token;

use crate::bot::{BotError, apply_update, dex_allowed, pair_tokens};
use sniperforge_protocol::config::ValidatedConfig;

/// A configured pair and the pools that trade it.
#[derive(Debug)]
struct PairView {
    name: String,
    base: Token,
    quote: Token,
    /// Pool, venue label, whether the pool's token A is the base.
    pools: Vec<(PoolIndex, String, bool)>,
    /// (unix ms, median mid price) samples, oldest first.
    series: VecDeque<(i64, f64)>,
    /// Since when (unix ms) the spread has been above the alert threshold.
    alert_since: Option<i64>,
}

/// Settings that apply without a restart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewSettings {
    /// Opportunities listed.
    pub top: usize,
    /// Spread (bps) above which a pair is in alert.
    pub alert_spread_bps: f64,
    /// Price samples kept per pair.
    pub series_points: usize,
}

impl ViewSettings {
    /// From a dashboard configuration's view.
    pub fn of(view: &sniperforge_protocol::params::View) -> Self {
        Self {
            top: view.top_opportunities as usize,
            alert_spread_bps: view.alert_spread_bps as f64,
            series_points: view.series_points as usize,
        }
    }
}

/// The market view.
#[derive(Debug)]
pub struct MarketView {
    market: Market,
    pairs: Vec<PairView>,
    /// Pool → (pair, position in the pair's pools).
    owner: HashMap<PoolIndex, (usize, usize)>,
    /// Mid price (quote per base) and in-range liquidity (USD) per pool, pair by pair.
    mids: Vec<Vec<Option<(f64, f64)>>>,
    settings: ViewSettings,
    updates: u64,
    changed: Vec<PoolIndex>,
}

/// A venue's name.
pub fn venue(kind: DexKind) -> &'static str {
    match kind {
        DexKind::Whirlpool => "Orca Whirlpool",
        DexKind::RaydiumV4 => "Raydium AMM v4",
        DexKind::RaydiumCp => "Raydium CP",
    }
}

/// A pool's marginal price of `base` in `quote` (fee excluded) and its in-range liquidity in USD
/// at the base's reference price; `None` when it cannot trade.
pub fn mid_and_depth(
    pool: &sniperforge_engine::market::Pool,
    base_is_a: bool,
    base: &Token,
    quote: &Token,
    epoch: u64,
) -> Option<(f64, f64)> {
    let side = if base_is_a { Side::AToB } else { Side::BToA };
    let c = pool.curve(side, epoch)?;
    if c.reserve_in <= 0.0 || c.reserve_out <= 0.0 {
        return None;
    }
    let scale = 10f64.powi(i32::from(base.decimals) - i32::from(quote.decimals));
    let price = c.reserve_out / c.reserve_in * scale;
    let liquidity = 2.0 * c.reserve_in / 10f64.powi(i32::from(base.decimals)) * base.usd;
    Some((price, liquidity))
}

impl MarketView {
    /// The view of `cfg`'s pairs on `cfg`'s venues, from the simulator's snapshot.
    pub fn new(sim: &crate::feed::Universe, cfg: &ValidatedConfig) -> Result<Self, BotError> {
        let v = cfg.params.view().ok_or_else(|| {
            BotError::Config(format!(
                "{} has no view section: the market view is the dashboard's",
                cfg.config.bot_type
            ))
        })?;
        let dexs = &v.dexs;
        let mut wanted = Vec::new();
        for name in v.pairs.iter().cloned() {
            let (base, quote) = pair_tokens(sim, &name, "view.pairs")?;
            wanted.push((name, base, quote));
        }
        let market = sim.market_where(|kind, a, b| {
            dex_allowed(dexs, kind)
                && wanted.iter().any(|(_, x, y)| {
                    (x.symbol == a.symbol && y.symbol == b.symbol)
                        || (x.symbol == b.symbol && y.symbol == a.symbol)
                })
        });
        let mut pairs: Vec<PairView> = wanted
            .into_iter()
            .map(|(name, base, quote)| PairView {
                name,
                base,
                quote,
                pools: Vec::new(),
                series: VecDeque::new(),
                alert_since: None,
            })
            .collect();
        let mut owner = HashMap::new();
        for i in 0..market.pool_count() {
            let index = PoolIndex(i as u32);
            let Some(pool) = market.pool(index) else {
                continue;
            };
            let [a, b] = pool.mints();
            for (p, pair) in pairs.iter_mut().enumerate() {
                let base_is_a = a == pair.base.mint && b == pair.quote.mint;
                if base_is_a || (b == pair.base.mint && a == pair.quote.mint) {
                    let mut label = venue(pool.dex()).to_string();
                    let same = pair.pools.iter().filter(|(_, l, _)| l.starts_with(&label));
                    let n = same.count();
                    if n > 0 {
                        label = format!("{label} #{}", n + 1);
                    }
                    owner.insert(index, (p, pair.pools.len()));
                    pair.pools.push((index, label, base_is_a));
                }
            }
        }
        let mids = pairs.iter().map(|p| vec![None; p.pools.len()]).collect();
        let mut view = Self {
            market,
            pairs,
            owner,
            mids,
            settings: ViewSettings::of(v),
            updates: 0,
            changed: Vec::new(),
        };
        for i in 0..view.market.pool_count() {
            view.reprice(PoolIndex(i as u32));
        }
        Ok(view)
    }

    /// Applies hot settings.
    pub fn set(&mut self, settings: ViewSettings) {
        self.settings = settings;
    }

    /// Applies one account update; returns whether a shown pool changed. A malformed or stale
    /// update changes nothing.
    pub fn apply(&mut self, update: &AccountUpdate) -> Result<bool, BotError> {
        let mut changed = std::mem::take(&mut self.changed);
        let applied = apply_update(&mut self.market, &mut changed, update);
        let mut any = false;
        if let Ok(true) = applied {
            self.updates += 1;
            for &index in &changed {
                any |= self.reprice(index);
            }
        }
        self.changed = changed;
        applied.map(|_| any)
    }

    /// Recomputes a pool's mid price and liquidity from its current curve.
    fn reprice(&mut self, index: PoolIndex) -> bool {
        let Some(&(p, k)) = self.owner.get(&index) else {
            return false;
        };
        let pair = &self.pairs[p];
        let base_is_a = pair.pools[k].2;
        let mid = self.market.pool(index).and_then(|pool| {
            mid_and_depth(
                pool,
                base_is_a,
                &pair.base,
                &pair.quote,
                self.market.epoch(),
            )
        });
        self.mids[p][k] = mid;
        true
    }

    /// Spread of a pair across its pools, in bps of the lowest mid.
    fn spread_bps(&self, p: usize) -> Option<f64> {
        let prices: Vec<f64> = self.mids[p].iter().flatten().map(|m| m.0).collect();
        let lo = prices.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = prices.iter().copied().fold(0.0, f64::max);
        (prices.len() >= 2 && lo > 0.0).then(|| (hi - lo) / lo * 10_000.0)
    }

    /// The largest spread over the pairs (bps), 0 when none has two pools priced.
    pub fn max_spread_bps(&self) -> f64 {
        (0..self.pairs.len())
            .filter_map(|p| self.spread_bps(p))
            .fold(0.0, f64::max)
    }

    /// Account updates applied.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The best two-pool round trip of a pair, buying the base where it is cheap and selling
    /// where it is dear: closed-form size, then the programs' exact outputs.
    fn opportunities(&self, p: usize, now_s: i64, out: &mut Vec<Value>) {
        let pair = &self.pairs[p];
        for (i, (pi, li, ai)) in pair.pools.iter().enumerate() {
            for (j, (pj, lj, aj)) in pair.pools.iter().enumerate() {
                let (Some(buy), Some(sell)) = (self.mids[p][i], self.mids[p][j]) else {
                    continue;
                };
                if i == j || buy.0 >= sell.0 {
                    continue;
                }
                // Quote in on the cheap pool (quote → base), base out on the dear one.
                let hops = [
                    Hop {
                        pool: *pi,
                        side: if *ai { Side::BToA } else { Side::AToB },
                    },
                    Hop {
                        pool: *pj,
                        side: if *aj { Side::AToB } else { Side::BToA },
                    },
                ];
                let mut chain = Chain::IDENTITY;
                for h in &hops {
                    let epoch = self.market.epoch();
                    match self
                        .market
                        .pool(h.pool)
                        .and_then(|x| x.curve(h.side, epoch))
                    {
                        Some(c) => chain = chain.then(&c),
                        None => return,
                    }
                }
                let size = chain.optimal_input();
                if !(size >= 1.0 && size < u64::MAX as f64) {
                    continue;
                }
                let amount = size as u64;
                let Some(back) = self.market.route_output(&hops, amount, now_s) else {
                    continue;
                };
                if back <= amount {
                    continue;
                }
                let unit = 10f64.powi(i32::from(pair.quote.decimals));
                let profit = (back - amount) as f64 / unit;
                out.push(json!({
                    "pair": pair.name,
                    "route": format!("buy {} on {li}, sell on {lj}", pair.base.symbol),
                    "dexes": [li, lj],
                    "size": format!("{:.4} {}", amount as f64 / unit, pair.quote.symbol),
                    "profit_bps": (back - amount) as f64 * 10_000.0 / amount as f64,
                    "profit_usd": profit * pair.quote.usd,
                }));
            }
        }
    }

    /// Publishes the view at `now_ms`: samples each pair's price, updates alerts, and answers
    /// `{pairs, opportunities, alerts, updates}` (the UI's market page reads it).
    pub fn publish(&mut self, now_ms: i64) -> Value {
        let mut pairs = Vec::new();
        let mut opportunities = Vec::new();
        let mut alerts = Vec::new();
        for p in 0..self.pairs.len() {
            let spread = self.spread_bps(p);
            let mut prices: Vec<f64> = self.mids[p].iter().flatten().map(|m| m.0).collect();
            prices.sort_by(f64::total_cmp);
            let median = prices.get(prices.len() / 2).copied();
            let keep = self.settings.series_points.max(1);
            let threshold = self.settings.alert_spread_bps;
            let pair = &mut self.pairs[p];
            if let Some(m) = median {
                pair.series.push_back((now_ms, m));
            }
            while pair.series.len() > keep {
                pair.series.pop_front();
            }
            match spread {
                Some(s) if s > threshold => {
                    let since = *pair.alert_since.get_or_insert(now_ms);
                    alerts.push(json!({
                        "pair": pair.name, "kind": "spread_above", "spread_bps": s,
                        "threshold_bps": threshold, "since": since,
                        "message": format!("{} spread {s:.1} bps above {threshold:.0} bps", pair.name),
                    }));
                }
                _ => pair.alert_since = None,
            }
            let pair = &self.pairs[p];
            let quotes: serde_json::Map<String, Value> = pair
                .pools
                .iter()
                .zip(&self.mids[p])
                .filter_map(|((_, label, _), m)| m.map(|(price, _)| (label.clone(), json!(price))))
                .collect();
            pairs.push(json!({
                "pair": pair.name,
                "quotes": quotes,
                "spread_bps": spread,
                "liquidity_usd": self.mids[p].iter().flatten().map(|m| m.1).sum::<f64>(),
                "series": pair.series.iter().map(|(t, v)| json!([t, v])).collect::<Vec<_>>(),
            }));
            self.opportunities(p, now_ms / 1000, &mut opportunities);
        }
        opportunities.sort_by(|a, b| {
            b["profit_usd"]
                .as_f64()
                .unwrap_or(0.0)
                .total_cmp(&a["profit_usd"].as_f64().unwrap_or(0.0))
        });
        opportunities.truncate(self.settings.top);
        json!({"pairs": pairs, "opportunities": opportunities, "alerts": alerts, "updates": self.updates})
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sniperforge_engine::sim::{SimConfig, Simulator};

    fn config(pairs: &[&str], alert_bps: u64) -> ValidatedConfig {
        let mut c = crate::template(crate::BotType::RealTimeDashboard);
        c["parameters"]["view"]["pairs"] = json!(pairs);
        c["parameters"]["view"]["alert_spread_bps"] = json!(alert_bps);
        sniperforge_protocol::config::validate(&c).unwrap()
    }

    #[test]
    fn spreads_opportunities_and_alerts_follow_the_feed() {
        let mut sim = Simulator::new(SimConfig {
            seed: 7,
            noise_scale: 10.0,
            ..SimConfig::default()
        });
        let cfg = config(&["SOL/USDC", "SOL/USDT", "JUP/USDC"], 1);
        let mut view = MarketView::new(&crate::feed::Universe::from_sim(&mut sim), &cfg).unwrap();
        // Accounts of pools the view does not show are ignored, not errors.
        let errors = (0..20_000)
            .filter(|_| view.apply(&sim.next_update()).is_err())
            .count();
        assert_eq!(errors, 0);
        assert!(view.updates() > 10_000);
        let v = view.publish(1_000);
        let sol = &v["pairs"][0];
        assert_eq!(sol["pair"], "SOL/USDC");
        let quotes = sol["quotes"].as_object().unwrap();
        assert!(quotes.len() >= 2, "{sol}");
        for (_, q) in quotes {
            // Near the simulator's reference price of SOL in USDC.
            let q = q.as_f64().unwrap();
            assert!((100.0..200.0).contains(&q), "{sol}");
        }
        assert!(sol["spread_bps"].as_f64().unwrap() > 0.0);
        assert!(sol["liquidity_usd"].as_f64().unwrap() > 0.0);
        assert_eq!(sol["series"].as_array().unwrap().len(), 1);
        // With a 1 bps threshold every two-pool pair with any spread is in alert.
        assert!(!v["alerts"].as_array().unwrap().is_empty(), "{v}");
        // Opportunities are exact and sorted by profit.
        let ops = v["opportunities"].as_array().unwrap();
        for w in ops.windows(2) {
            assert!(w[0]["profit_usd"].as_f64() >= w[1]["profit_usd"].as_f64());
        }
        for o in ops {
            assert!(o["profit_bps"].as_f64().unwrap() > 0.0, "{o}");
        }
        // A second publication extends the series and keeps the alert's start.
        let again = view.publish(2_000);
        assert_eq!(again["pairs"][0]["series"].as_array().unwrap().len(), 2);
        if let (Some(a), Some(b)) = (v["alerts"].get(0), again["alerts"].get(0))
            && a["pair"] == b["pair"]
        {
            assert_eq!(a["since"], b["since"]);
        }
        // A high threshold clears the alerts.
        view.set(ViewSettings {
            top: 3,
            alert_spread_bps: 10_000.0,
            series_points: 2,
        });
        let calm = view.publish(3_000);
        assert!(calm["alerts"].as_array().unwrap().is_empty());
        assert!(calm["opportunities"].as_array().unwrap().len() <= 3);
        assert_eq!(calm["pairs"][0]["series"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_malformed_update_is_an_error_and_changes_nothing() {
        let mut sim = Simulator::new(SimConfig::default());
        let cfg = config(&["SOL/USDC"], 40);
        let mut view = MarketView::new(&crate::feed::Universe::from_sim(&mut sim), &cfg).unwrap();
        let before = view.publish(0);
        let mut bad = sim.next_update();
        // Find an update for a shown pool and truncate it.
        for _ in 0..10_000 {
            if view
                .market
                .readers(&bad.pubkey)
                .iter()
                .any(|p| view.owner.contains_key(p))
            {
                break;
            }
            bad = sim.next_update();
        }
        bad.data.truncate(10);
        bad.slot += 1_000_000;
        assert!(view.apply(&bad).is_err());
        assert_eq!(
            view.publish(0)["pairs"][0]["quotes"],
            before["pairs"][0]["quotes"]
        );
    }

    #[test]
    fn unknown_tokens_are_named() {
        let mut sim = Simulator::new(SimConfig::default());
        let mut c = crate::template(crate::BotType::RealTimeDashboard);
        c["parameters"]["view"]["pairs"] = json!(["SOL/DOGE"]);
        let cfg = sniperforge_protocol::config::validate(&c).unwrap();
        let err = MarketView::new(&crate::feed::Universe::from_sim(&mut sim), &cfg)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"DOGE\""), "{err}");
    }
}
