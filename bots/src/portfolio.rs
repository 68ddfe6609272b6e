//! PortfolioManager: a paper wallet and every bot's fills on this node, marked to USD at live
//! pool prices; realised and unrealised PnL; exposure alerts per token; and a rebalancing plan
//! toward the target weights through the best routes (direct or via USDC / SOL, priced by the
//! programs' exact quotes).
//!
//! Fills reach it through journals: each arbitrage bot appends its fills to `fills.jsonl` in its
//! state directory (one JSON object a line); the manager reads the journals of its sibling
//! directories (the agent gives every bot `DATA/bots/<bot_id>/`) from where it left off.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sniperforge_engine::cycles::Hop;
use sniperforge_engine::market::{AccountUpdate, Market, PoolIndex};
use sniperforge_engine::pubkey::Pubkey;
use sniperforge_engine::quote::{Amm, Side};
use sniperforge_engine::sim::Token;

use crate::bot::{BotError, apply_update};
use crate::dashboard::{mid_and_depth, venue};
use sniperforge_protocol::config::ValidatedConfig;

/// A bot's fill journal, in its state directory.
pub const FILLS: &str = sniperforge_protocol::fleet::FILLS_JOURNAL;

/// One booked fill, as journals hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillRecord {
    /// Booked at, unix ms.
    pub at_ms: i64,
    /// Bot that traded.
    pub bot_id: String,
    /// Token the round trip started and ended in.
    pub token: String,
    /// Input, token units.
    pub amount_in: f64,
    /// Output, token units (`None`: the route failed at fill time).
    pub amount_out: Option<f64>,
    /// Profit, token units.
    pub pnl: f64,
    /// Profit, USD at the fill's reference prices.
    pub pnl_usd: f64,
    /// The route (the strategy's cycle number).
    #[serde(default)]
    pub cycle: u32,
    /// Output the programs quoted at decision time, token units.
    #[serde(default)]
    pub expected_out: f64,
    /// Newest slot among the route's pool states at decision time.
    #[serde(default)]
    pub slot: u64,
    /// Decision to fill, µs.
    #[serde(default)]
    pub latency_us: u64,
    /// The bot's sequence number of the fill, from 1, never reused: what the gateway stores it
    /// once by (0: a line journaled before fills were numbered, not shipped).
    #[serde(default)]
    pub seq: u64,
    /// The route cost booked against the profit (a flash loan's fee; pool fees are inside the
    /// amounts), token units.
    #[serde(default)]
    pub fee: f64,
    /// [`FillRecord::fee`] in USD.
    #[serde(default)]
    pub fee_usd: f64,
    /// The input in USD (the trade's volume; 0 for a route that failed).
    #[serde(default)]
    pub volume_usd: f64,
    /// The route's name (`SOL>USDC>SOL via raydium-v4,whirlpool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The live transaction's signature, base58 (`None`: a paper fill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The bot's clock at the fill, ns: since the recording's first update when it replays one
    /// (the same on every replay), since its start otherwise.
    #[serde(default)]
    pub clock_ns: u64,
    /// Ingress of the update that triggered it to the decision, µs, on that clock (0 on a
    /// recording's: the strategy's own time is measured apart, not modelled).
    #[serde(default)]
    pub ingress_us: u64,
}

/// The longest tail of a journal read for its last sequence number.
const TAIL_MAX: u64 = 64 * 1024;

/// The last sequence number `dir`'s journal holds (0: none), from its last complete lines:
/// the next fill takes the one after, so a number is never reused, whatever instance wrote it.
pub fn last_seq(dir: &Path) -> Result<u64, BotError> {
    let path = dir.join(FILLS);
    let fail = |e: &dyn std::fmt::Display| BotError::State(format!("{}: {e}", path.display()));
    let mut file = match sniperforge_host::files::open_regular(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        // Not a regular file: the error names the path already.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            return Err(BotError::State(e.to_string()));
        }
        Err(e) => return Err(fail(&e)),
    };
    let meta = file.metadata().map_err(|e| fail(&e))?;
    let from = meta.len().saturating_sub(TAIL_MAX);
    file.seek(SeekFrom::Start(from)).map_err(|e| fail(&e))?;
    let mut tail = Vec::new();
    file.take(TAIL_MAX)
        .read_to_end(&mut tail)
        .map_err(|e| fail(&e))?;
    // Whole lines only: the first may be cut by the seek, the last by a crash mid-write.
    let text = String::from_utf8_lossy(&tail);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if from > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    // A number past what a fill may carry (a hostile or broken line) is passed over: it would
    // stop every later fill from being numbered or shipped.
    Ok(lines
        .iter()
        .filter_map(|l| serde_json::from_str::<FillRecord>(l).ok())
        .map(|f| f.seq)
        .filter(|s| i64::try_from(*s).is_ok())
        .max()
        .unwrap_or(0))
}

/// Appends fills to `dir`'s journal (whole lines; a reader skips a half-written last one).
/// Not synced to disk: see [`sync_fills`].
pub fn append_fills(dir: &Path, fills: &[FillRecord]) -> Result<(), BotError> {
    if fills.is_empty() {
        return Ok(());
    }
    let path = dir.join(FILLS);
    let mut text = String::new();
    for f in fills {
        // A record of plain fields always serialises.
        text.push_str(&serde_json::to_string(f).unwrap_or_default());
        text.push('\n');
    }
    std::fs::create_dir_all(dir)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
        })
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| BotError::State(format!("{}: {e}", path.display())))
}

/// Syncs `dir`'s journal to disk (the bot calls it at most once a second and when it stops, so
/// a power loss costs at most a second of fills); nothing when there is no journal.
pub fn sync_fills(dir: &Path) -> Result<(), BotError> {
    let path = dir.join(FILLS);
    match std::fs::OpenOptions::new().append(true).open(&path) {
        Ok(f) => f
            .sync_data()
            .map_err(|e| BotError::State(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BotError::State(format!("{}: {e}", path.display()))),
    }
}

/// What one bot's fills added up to.
#[derive(Debug, Default, Clone, Serialize)]
struct BotBook {
    fills: u64,
    failed: u64,
    realised_usd: f64,
    /// Token → net quantity change.
    positions: BTreeMap<String, f64>,
}

/// Settings that apply without a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct PortfolioSettings {
    targets: BTreeMap<String, f64>,
    threshold_pct: f64,
    min_trade_usd: f64,
    interval_ms: i64,
    max_exposure_pct: f64,
    max_daily_loss_usd: f64,
}

impl PortfolioSettings {
    /// From a portfolio_manager configuration's sections.
    pub fn of(
        portfolio: &sniperforge_protocol::params::Portfolio,
        rebalance: &sniperforge_protocol::params::Rebalance,
        risk: &sniperforge_protocol::params::PortfolioRisk,
    ) -> Self {
        Self {
            targets: portfolio
                .target_weights
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            threshold_pct: rebalance.threshold_pct,
            min_trade_usd: rebalance.min_trade_usd,
            interval_ms: (rebalance.interval_minutes as f64 * 60_000.0) as i64,
            max_exposure_pct: risk.max_exposure_pct_per_token,
            max_daily_loss_usd: risk.max_daily_loss_usd,
        }
    }
}

/// The portfolio.
#[derive(Debug)]
pub struct Portfolio {
    market: Market,
    tokens: Vec<Token>,
    /// Pools by their two mints (either order).
    pools: HashMap<(Pubkey, Pubkey), Vec<PoolIndex>>,
    own_dir: PathBuf,
    offsets: HashMap<PathBuf, u64>,
    balances: BTreeMap<String, f64>,
    books: BTreeMap<String, BotBook>,
    realised_usd: f64,
    realised_today_usd: f64,
    day: i64,
    /// Value of the starting wallet at the first marks (the cost basis of what it held).
    start_value_usd: Option<f64>,
    settings: PortfolioSettings,
    plan: Vec<Value>,
    plan_at: Option<i64>,
    malformed_lines: u64,
    changed: Vec<PoolIndex>,
}

impl Portfolio {
    /// A portfolio over the simulator's market, reading journals beside `state_dir`.
    pub fn new(
        sim: &crate::feed::Universe,
        cfg: &ValidatedConfig,
        state_dir: &Path,
    ) -> Result<Self, BotError> {
        let (portfolio, rebalance, risk) = cfg.params.portfolio().ok_or_else(|| {
            BotError::Config(format!("{} is not portfolio_manager", cfg.config.bot_type))
        })?;
        let tokens = sim.tokens().to_vec();
        let mut balances = BTreeMap::new();
        let known = |s: &str, path: &str| {
            if tokens.iter().any(|t| t.symbol == s) {
                Ok(())
            } else {
                Err(BotError::Config(format!(
                    "{path}: {s:?} is not a token of the market"
                )))
            }
        };
        for (k, v) in &portfolio.initial_balances {
            known(k, "portfolio.initial_balances")?;
            balances.insert(k.clone(), *v);
        }
        let settings = PortfolioSettings::of(portfolio, rebalance, risk);
        for k in settings.targets.keys() {
            known(k, "portfolio.target_weights")?;
        }
        let market = sim.market();
        let mut pools: HashMap<(Pubkey, Pubkey), Vec<PoolIndex>> = HashMap::new();
        for i in 0..market.pool_count() {
            let index = PoolIndex(i as u32);
            if let Some(p) = market.pool(index) {
                let [a, b] = p.mints();
                pools.entry((a, b)).or_default().push(index);
                pools.entry((b, a)).or_default().push(index);
            }
        }
        Ok(Self {
            market,
            tokens,
            pools,
            own_dir: state_dir.to_path_buf(),
            offsets: HashMap::new(),
            balances,
            books: BTreeMap::new(),
            realised_usd: 0.0,
            realised_today_usd: 0.0,
            day: 0,
            start_value_usd: None,
            settings,
            plan: Vec::new(),
            plan_at: None,
            malformed_lines: 0,
            changed: Vec::new(),
        })
    }

    /// Applies hot settings (a new plan is made at the next publication).
    pub fn set(&mut self, settings: PortfolioSettings) {
        self.settings = settings;
        self.plan_at = None;
    }

    /// Applies one account update (stale ones are ignored; a malformed one is an error).
    pub fn apply(&mut self, update: &AccountUpdate) -> Result<(), BotError> {
        apply_update(&mut self.market, &mut self.changed, update).map(|_| ())
    }

    fn token(&self, symbol: &str) -> Option<&Token> {
        self.tokens.iter().find(|t| t.symbol == symbol)
    }

    /// The USD price of a token from the deepest pool against USDC (or SOL, then SOL's).
    pub fn price_usd(&self, symbol: &str) -> Option<f64> {
        if symbol == "USDC" {
            return Some(1.0);
        }
        let t = self.token(symbol)?;
        let mid_in = |quote: &str| -> Option<f64> {
            let q = self.token(quote)?;
            self.pools
                .get(&(t.mint, q.mint))?
                .iter()
                .filter_map(|&i| {
                    let pool = self.market.pool(i)?;
                    mid_and_depth(pool, pool.mints()[0] == t.mint, t, q, self.market.epoch())
                })
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(price, _)| price)
        };
        mid_in("USDC").or_else(|| Some(mid_in("SOL")? * self.price_usd("SOL")?))
    }

    /// Reads what the sibling journals gained since the last call. Lines that are not fill
    /// records are counted and skipped; a half-written last line waits for its end.
    pub fn read_journals(&mut self, now_ms: i64) {
        let Some(parent) = self.own_dir.parent() else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(parent) else {
            return;
        };
        let day = now_ms.div_euclid(86_400_000);
        if day != self.day {
            self.day = day;
            self.realised_today_usd = 0.0;
        }
        for entry in entries.flatten() {
            let dir = entry.path();
            if dir == self.own_dir {
                continue;
            }
            let path = dir.join(FILLS);
            let Ok(mut file) = std::fs::File::open(&path) else {
                continue;
            };
            let offset = self.offsets.get(&path).copied().unwrap_or(0);
            let mut text = String::new();
            if file.seek(SeekFrom::Start(offset)).is_err()
                || file.read_to_string(&mut text).is_err()
            {
                continue;
            }
            let complete = text.rfind('\n').map_or(0, |i| i + 1);
            for line in text[..complete].lines().filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str::<FillRecord>(line) {
                    Ok(f) => self.book(&f, day),
                    Err(_) => self.malformed_lines += 1,
                }
            }
            self.offsets.insert(path, offset + complete as u64);
        }
    }

    fn book(&mut self, f: &FillRecord, day: i64) {
        let b = self.books.entry(f.bot_id.clone()).or_default();
        b.fills += 1;
        if f.amount_out.is_none() {
            b.failed += 1;
        }
        b.realised_usd += f.pnl_usd;
        *b.positions.entry(f.token.clone()).or_default() += f.pnl;
        *self.balances.entry(f.token.clone()).or_default() += f.pnl;
        self.realised_usd += f.pnl_usd;
        if f.at_ms.div_euclid(86_400_000) == day {
            self.realised_today_usd += f.pnl_usd;
        }
    }

    /// The best route for `amount` base units of `from` into `to`: direct pools, or two hops
    /// through USDC or SOL; the programs' exact output decides. (hops, out, venues)
    fn best_route(
        &self,
        from: &Token,
        to: &Token,
        amount: u64,
        now_ms: i64,
    ) -> Option<(u64, Vec<String>)> {
        let side = |pool: PoolIndex, input: &Pubkey| {
            let a = self.market.pool(pool).map(|p| p.mints()[0]);
            if a.as_ref() == Some(input) {
                Side::AToB
            } else {
                Side::BToA
            }
        };
        let mut routes: Vec<Vec<Hop>> = Vec::new();
        for &p in self.pools.get(&(from.mint, to.mint)).into_iter().flatten() {
            routes.push(vec![Hop {
                pool: p,
                side: side(p, &from.mint),
            }]);
        }
        for mid in ["USDC", "SOL"] {
            let Some(m) = self.token(mid) else { continue };
            if m.mint == from.mint || m.mint == to.mint {
                continue;
            }
            for &p in self.pools.get(&(from.mint, m.mint)).into_iter().flatten() {
                for &q in self.pools.get(&(m.mint, to.mint)).into_iter().flatten() {
                    routes.push(vec![
                        Hop {
                            pool: p,
                            side: side(p, &from.mint),
                        },
                        Hop {
                            pool: q,
                            side: side(q, &m.mint),
                        },
                    ]);
                }
            }
        }
        routes
            .into_iter()
            .filter_map(|hops| {
                // Quoted at the cluster time: pools that open later are refused.
                let out = self
                    .market
                    .route_output(&hops, amount, now_ms.div_euclid(1_000))?;
                let venues = hops
                    .iter()
                    .filter_map(|h| self.market.pool(h.pool).map(|p| venue(p.dex()).to_string()))
                    .collect();
                (out > 0).then_some((out, venues))
            })
            .max_by_key(|(out, _)| *out)
    }

    /// Trades that bring the weights back to their targets, largest drifts first.
    fn make_plan(&self, values: &BTreeMap<String, f64>, total: f64, now_ms: i64) -> Vec<Value> {
        let s = &self.settings;
        let mut drift: Vec<(String, f64)> = values
            .keys()
            .chain(s.targets.keys())
            .map(|k| {
                let w = values.get(k).copied().unwrap_or(0.0) / total;
                (k.clone(), s.targets.get(k).copied().unwrap_or(0.0) - w)
            })
            .collect();
        drift.sort_by(|a, b| a.0.cmp(&b.0));
        drift.dedup_by(|a, b| a.0 == b.0);
        let needs = drift.iter().any(|(_, d)| d.abs() * 100.0 > s.threshold_pct);
        if !needs || total <= 0.0 {
            return Vec::new();
        }
        let mut sells: Vec<(String, f64)> = drift
            .iter()
            .filter(|(_, d)| *d < 0.0)
            .map(|(k, d)| (k.clone(), -d * total))
            .collect();
        let mut buys: Vec<(String, f64)> = drift
            .iter()
            .filter(|(_, d)| *d > 0.0)
            .map(|(k, d)| (k.clone(), d * total))
            .collect();
        sells.sort_by(|a, b| b.1.total_cmp(&a.1));
        buys.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut plan = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < sells.len() && j < buys.len() {
            let usd = sells[i].1.min(buys[j].1);
            if usd >= s.min_trade_usd
                && let (Some(from), Some(to), Some(price)) = (
                    self.token(&sells[i].0),
                    self.token(&buys[j].0),
                    self.price_usd(&sells[i].0),
                )
                && price > 0.0
            {
                let units = usd / price;
                let amount = (units * 10f64.powi(i32::from(from.decimals))) as u64;
                match self.best_route(from, to, amount, now_ms) {
                    Some((out, venues)) => plan.push(json!({
                        "sell": from.symbol, "buy": to.symbol, "amount": units,
                        "value_usd": usd, "route": venues,
                        "expected_out": out as f64 / 10f64.powi(i32::from(to.decimals)),
                    })),
                    None => plan.push(json!({
                        "sell": from.symbol, "buy": to.symbol, "amount": units,
                        "value_usd": usd, "route": null, "error": "no route fills this size",
                    })),
                }
            }
            sells[i].1 -= usd;
            buys[j].1 -= usd;
            if sells[i].1 <= 1e-9 {
                i += 1;
            }
            if buys[j].1 <= 1e-9 {
                j += 1;
            }
        }
        plan
    }

    /// Reads the journals, marks everything and answers `{balances, bots, totals, alerts, plan}`.
    pub fn publish(&mut self, now_ms: i64) -> Value {
        self.read_journals(now_ms);
        let prices: BTreeMap<String, Option<f64>> = self
            .balances
            .keys()
            .chain(self.settings.targets.keys())
            .map(|k| (k.clone(), self.price_usd(k)))
            .collect();
        let values: BTreeMap<String, f64> = self
            .balances
            .iter()
            .map(|(k, q)| {
                (
                    k.clone(),
                    q * prices.get(k).copied().flatten().unwrap_or(0.0),
                )
            })
            .collect();
        let total: f64 = values.values().sum();
        // The cost basis of the starting wallet is its value at the first marks; since then,
        // value changes that fills do not explain are unrealised.
        let start = *self
            .start_value_usd
            .get_or_insert(total - self.realised_usd);
        let unrealised = total - start - self.realised_usd;
        let s = self.settings.clone();
        let mut alerts = Vec::new();
        let balances: Vec<Value> = self
            .balances
            .iter()
            .map(|(k, q)| {
                let value = values.get(k).copied().unwrap_or(0.0);
                let weight = if total > 0.0 { value / total } else { 0.0 };
                if weight * 100.0 > s.max_exposure_pct {
                    alerts.push(json!({
                        "kind": "exposure", "token": k, "weight_pct": weight * 100.0,
                        "message": format!("{k} is {:.1}% of the portfolio, limit {:.1}%", weight * 100.0, s.max_exposure_pct),
                    }));
                }
                json!({
                    "token": k, "quantity": q, "price_usd": prices.get(k).copied().flatten(),
                    "value_usd": value, "weight": weight,
                    "target": s.targets.get(k).copied().unwrap_or(0.0),
                })
            })
            .collect();
        if self.realised_today_usd <= -s.max_daily_loss_usd {
            alerts.push(json!({
                "kind": "daily_loss", "realised_today_usd": self.realised_today_usd,
                "message": format!("{:.2} USD lost today, limit {:.2}", -self.realised_today_usd, s.max_daily_loss_usd),
            }));
        }
        if self
            .plan_at
            .is_none_or(|t| now_ms - t >= s.interval_ms.max(1_000))
        {
            self.plan = self.make_plan(&values, total, now_ms);
            self.plan_at = Some(now_ms);
        }
        json!({
            "base_currency": "USD",
            "total_value_usd": total,
            "realised_pnl_usd": self.realised_usd,
            "realised_today_usd": self.realised_today_usd,
            "unrealised_pnl_usd": unrealised,
            "balances": balances,
            "bots": self.books,
            "alerts": alerts,
            "plan": self.plan,
            "plan_at": self.plan_at,
            "malformed_journal_lines": self.malformed_lines,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sniperforge_engine::sim::{SimConfig, Simulator};

    fn config(edit: impl FnOnce(&mut Value)) -> ValidatedConfig {
        let mut c = crate::template(crate::BotType::PortfolioManager);
        edit(&mut c["parameters"]);
        sniperforge_protocol::config::validate(&c).unwrap()
    }

    fn fill(bot: &str, token: &str, pnl: f64, pnl_usd: f64) -> FillRecord {
        FillRecord {
            at_ms: 1_000,
            bot_id: bot.into(),
            token: token.into(),
            amount_in: 10.0,
            amount_out: Some(10.0 + pnl),
            pnl,
            pnl_usd,
            seq: 0,
            cycle: 0,
            expected_out: 0.0,
            slot: 0,
            latency_us: 0,
            fee: 0.0,
            fee_usd: 0.0,
            volume_usd: 0.0,
            route: None,
            signature: None,
            clock_ns: 0,
            ingress_us: 0,
        }
    }

    #[test]
    fn the_last_sequence_number_is_read_from_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(last_seq(dir.path()).unwrap(), 0, "no journal");
        // A line from before fills were numbered, two numbered ones, a half-written one.
        let mut text = r#"{"at_ms":1,"bot_id":"a","token":"SOL","amount_in":1.0,"amount_out":1.0,"pnl":0.0,"pnl_usd":0.0}"#.to_string();
        text.push('\n');
        for seq in [7, 8] {
            let f = FillRecord {
                seq,
                ..fill("a", "SOL", 0.1, 1.0)
            };
            text.push_str(&serde_json::to_string(&f).unwrap());
            text.push('\n');
        }
        // A number past 2^63 - 1 (a hostile line) is passed over.
        let huge = FillRecord {
            seq: u64::MAX,
            ..fill("a", "SOL", 0.1, 1.0)
        };
        text.push_str(&serde_json::to_string(&huge).unwrap());
        text.push('\n');
        text.push_str(r#"{"seq":99,"at_ms":1,"bot_id""#);
        std::fs::write(dir.path().join(FILLS), &text).unwrap();
        assert_eq!(last_seq(dir.path()).unwrap(), 8);
        // A long journal: only its tail is read, and a line the seek cut is passed over.
        let mut long = String::new();
        let mut seq = 1;
        while long.len() < 3 * TAIL_MAX as usize {
            let f = FillRecord {
                seq,
                ..fill("a", "SOL", 0.1, 1.0)
            };
            long.push_str(&serde_json::to_string(&f).unwrap());
            long.push('\n');
            seq += 1;
        }
        std::fs::write(dir.path().join(FILLS), &long).unwrap();
        assert_eq!(last_seq(dir.path()).unwrap(), seq - 1);
        // A symlink is not followed.
        std::fs::remove_file(dir.path().join(FILLS)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join(FILLS)).unwrap();
        assert!(last_seq(dir.path()).is_err());
    }

    #[test]
    fn fills_marks_pnl_exposure_and_a_plan() {
        let root = tempfile::tempdir().unwrap();
        let own = root.path().join("pm");
        let mut sim = Simulator::new(SimConfig::default());
        let cfg = config(|p| {
            p["portfolio"]["initial_balances"] =
                json!({"SOL": 100.0, "USDC": 1000.0, "JUP": 1000.0});
            p["portfolio"]["target_weights"] = json!({"SOL": 0.5, "USDC": 0.5});
            p["risk_management"]["max_exposure_pct_per_token"] = json!(60.0);
        });
        let mut pm =
            Portfolio::new(&crate::feed::Universe::from_sim(&mut sim), &cfg, &own).unwrap();
        append_fills(
            &root.path().join("arb-1"),
            &[
                fill("arb-1", "SOL", 0.5, 75.0),
                fill("arb-1", "USDC", -2.0, -2.0),
            ],
        )
        .unwrap();
        // A damaged line and a half-written one.
        let journal = root.path().join("arb-2").join(FILLS);
        std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
        std::fs::write(&journal, "not json\n{\"at_ms\": 1").unwrap();
        let v = pm.publish(1_000);
        assert_eq!(v["bots"]["arb-1"]["fills"], 2);
        assert_eq!(v["realised_pnl_usd"], 73.0);
        assert_eq!(v["malformed_journal_lines"], 1);
        let sol = v["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["token"] == "SOL")
            .unwrap();
        assert_eq!(sol["quantity"], 100.5);
        let price = sol["price_usd"].as_f64().unwrap();
        assert!((100.0..200.0).contains(&price), "{price}");
        // SOL is ~90% of the value: over the 60% limit, and the plan sells SOL for USDC and
        // JUP for USDC, routed through real pools with exact outputs.
        assert!(
            v["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["token"] == "SOL"),
            "{v}"
        );
        let plan = v["plan"].as_array().unwrap();
        assert!(!plan.is_empty(), "{v}");
        for leg in plan {
            assert_eq!(leg["buy"], "USDC", "{leg}");
            assert!(leg["expected_out"].as_f64().unwrap() > 0.0, "{leg}");
            assert!(!leg["route"].as_array().unwrap().is_empty(), "{leg}");
        }
        let sold: f64 = plan.iter().map(|l| l["value_usd"].as_f64().unwrap()).sum();
        let total = v["total_value_usd"].as_f64().unwrap();
        assert!(
            sold > 0.2 * total && sold < 0.5 * total,
            "sold {sold} of {total}"
        );
        // The half-written line completes: it is read once, now.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap();
        let rest = serde_json::to_string(&fill("arb-2", "USDC", 1.0, 1.0)).unwrap();
        writeln!(f, "{}", &rest[r#"{"at_ms":1"#.len()..]).unwrap();
        let v = pm.publish(2_000);
        assert_eq!(v["bots"]["arb-2"]["fills"], 1, "{v}");
        assert_eq!(v["realised_pnl_usd"], 74.0);
        assert_eq!(pm.publish(3_000)["realised_pnl_usd"], 74.0, "read once");
    }

    #[test]
    fn balanced_portfolios_need_no_plan_and_unknown_tokens_are_named() {
        let root = tempfile::tempdir().unwrap();
        let mut sim = Simulator::new(SimConfig::default());
        let cfg = config(|p| {
            p["portfolio"]["initial_balances"] = json!({"USDC": 1000.0});
            p["portfolio"]["target_weights"] = json!({"USDC": 1.0});
        });
        let mut pm = Portfolio::new(
            &crate::feed::Universe::from_sim(&mut sim),
            &cfg,
            &root.path().join("pm"),
        )
        .unwrap();
        let v = pm.publish(0);
        assert!(v["plan"].as_array().unwrap().is_empty(), "{v}");
        assert_eq!(v["total_value_usd"], 1000.0);
        let cfg = config(|p| p["portfolio"]["initial_balances"] = json!({"DOGE": 1.0}));
        let err = Portfolio::new(
            &crate::feed::Universe::from_sim(&mut sim),
            &cfg,
            root.path(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("portfolio.initial_balances: \"DOGE\""),
            "{err}"
        );
    }
}
