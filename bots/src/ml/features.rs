//! Features: the per-minute samples of each pair (median mid, order-flow imbalance, spread)
//! and the feature vectors built from them.

use super::*;

/// One sample of a pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Slot it was taken at.
    pub slot: u64,
    /// Median mid over the pair's pools (quote per base).
    pub mid: f64,
    /// Order-flow imbalance over the sample, in [-1, 1].
    pub ofi: f64,
    /// Spread across the pools, bps.
    pub spread_bps: f64,
}

/// Samples a pair from account updates.
#[derive(Debug)]
pub struct Sampler {
    market: Market,
    base: Token,
    quote: Token,
    pools: Vec<(PoolIndex, bool)>,
    mids: Vec<Option<f64>>,
    up: f64,
    down: f64,
    next_slot: Option<u64>,
    changed: Vec<PoolIndex>,
    /// Samples taken, oldest first.
    pub samples: Vec<Sample>,
}

impl Sampler {
    /// A sampler of `pair` (`BASE/QUOTE`) over the simulator's pools.
    pub fn new(sim: &crate::feed::Universe, pair: &str) -> Result<Self, BotError> {
        let (base, quote) = pair_tokens(sim, pair, "features.pairs")?;
        let market = sim.market_where(|_, x, y| {
            (x.symbol == base.symbol && y.symbol == quote.symbol)
                || (x.symbol == quote.symbol && y.symbol == base.symbol)
        });
        let pools: Vec<(PoolIndex, bool)> = (0..market.pool_count())
            .filter_map(|i| {
                let p = market.pool(PoolIndex(i as u32))?;
                Some((PoolIndex(i as u32), p.mints()[0] == base.mint))
            })
            .collect();
        if pools.is_empty() {
            return Err(BotError::Config(format!(
                "features.pairs: no pool trades {pair}"
            )));
        }
        let mut s = Self {
            mids: vec![None; pools.len()],
            market,
            base,
            quote,
            pools,
            up: 0.0,
            down: 0.0,
            next_slot: None,
            changed: Vec::new(),
            samples: Vec::new(),
        };
        for k in 0..s.pools.len() {
            s.mids[k] = s.mid_of(k);
        }
        Ok(s)
    }

    fn mid_of(&self, k: usize) -> Option<f64> {
        let (i, base_is_a) = self.pools[k];
        let pool = self.market.pool(i)?;
        mid_and_depth(
            pool,
            base_is_a,
            &self.base,
            &self.quote,
            self.market.epoch(),
        )
        .map(|m| m.0)
    }

    /// Applies one update; a sample is taken each time the slot passes a sample boundary.
    pub fn apply(&mut self, update: &AccountUpdate) -> Result<(), BotError> {
        let mut changed = std::mem::take(&mut self.changed);
        let r = apply_update(&mut self.market, &mut changed, update);
        for &index in &changed {
            if let Some(k) = self.pools.iter().position(|(i, _)| *i == index) {
                let new = self.mid_of(k);
                if let (Some(old), Some(new)) = (self.mids[k], new) {
                    let d = (new / old).ln();
                    if d > 0.0 {
                        self.up += d;
                    } else {
                        self.down -= d;
                    }
                }
                self.mids[k] = new;
            }
        }
        self.changed = changed;
        r?;
        let next = *self
            .next_slot
            .get_or_insert(update.slot - update.slot % SLOTS_PER_SAMPLE + SLOTS_PER_SAMPLE);
        if update.slot >= next {
            let mut mids: Vec<f64> = self.mids.iter().flatten().copied().collect();
            mids.sort_by(f64::total_cmp);
            if let (Some(&lo), Some(&hi)) = (mids.first(), mids.last()) {
                let flow = self.up + self.down;
                self.samples.push(Sample {
                    slot: update.slot,
                    mid: mids[mids.len() / 2],
                    ofi: if flow > 0.0 {
                        (self.up - self.down) / flow
                    } else {
                        0.0
                    },
                    spread_bps: (hi - lo) / lo * 10_000.0,
                });
            }
            self.up = 0.0;
            self.down = 0.0;
            self.next_slot = Some(next + SLOTS_PER_SAMPLE);
        }
        Ok(())
    }
}

/// Feature layout from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    /// Return windows, in samples (minutes).
    pub windows: Vec<usize>,
    /// Samples ahead the target looks.
    pub horizon: usize,
}

impl FeatureSpec {
    /// From an ml_analytics configuration's sections.
    pub fn of(
        features: &sniperforge_protocol::params::Features,
        models: &sniperforge_protocol::params::Models,
    ) -> Self {
        let windows = features
            .return_windows_s
            .iter()
            .map(|&s| (s as usize).div_ceil(60).max(1))
            .collect();
        Self {
            windows,
            horizon: models.prediction_horizon_minutes.max(1) as usize,
        }
    }

    /// Features: a log return per window, realised volatility over the longest, imbalance,
    /// spread (bps / 100). `None` before the longest window has passed.
    pub fn features(&self, s: &[Sample], t: usize) -> Option<Vec<f64>> {
        let longest = *self.windows.iter().max()?;
        if t < longest || t >= s.len() {
            return None;
        }
        let mut f: Vec<f64> = self
            .windows
            .iter()
            .map(|&w| (s[t].mid / s[t - w].mid).ln())
            .collect();
        let var = (t + 1 - longest..=t)
            .map(|i| (s[i].mid / s[i - 1].mid).ln().powi(2))
            .sum::<f64>()
            / longest as f64;
        f.push(var.sqrt());
        f.push(s[t].ofi);
        f.push(s[t].spread_bps / 100.0);
        Some(f)
    }

    /// The target at `t`: the log return over the next `horizon` samples.
    pub fn target(&self, s: &[Sample], t: usize) -> Option<f64> {
        Some((s.get(t + self.horizon)?.mid / s[t].mid).ln())
    }
}
