//! MLAnalytics: features from the account update stream, three models trained and run here — a
//! ridge linear baseline, a random forest and an LSTM, all written in this module — combined with
//! the configured ensemble weights; volatility regimes; and an honest walk-forward evaluation
//! against naive baselines.
//!
//! Time is the market's: a sample is taken every 60 s of slot time (150 slots of 400 ms). For
//! each configured pair the sample holds the median mid price over the pair's pools, the
//! order-flow imbalance of the minute (signed mid moves of its pools over their total) and the
//! spread across venues. Features at a sample: log returns over each `return_windows_s`, the
//! realised volatility over the longest window, the imbalance and the spread. The target is the
//! log return over the next `prediction_horizon_minutes` samples.

use serde_json::{Value, json};
use sniperforge_engine::market::{AccountUpdate, Market, PoolIndex};
use sniperforge_engine::quote::Amm;
use sniperforge_engine::sim::{Simulator, Token};

use crate::bot::{BotError, apply_update, pair_tokens};
use crate::config::ValidatedConfig;
use crate::dashboard::mid_and_depth;

/// Slots per sample: 60 s of 400 ms slots.
pub const SLOTS_PER_SAMPLE: u64 = 150;
/// Samples an LSTM input sequence spans.
const SEQ: usize = 8;
/// Fewest training rows before a model is fitted.
pub const MIN_TRAIN: usize = 120;

/// A small deterministic generator (xorshift64*), for bootstraps, feature draws and weights.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

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
    /// From an ml_analytics configuration.
    pub fn of(cfg: &ValidatedConfig) -> Self {
        let windows = cfg
            .param("features", "return_windows_s")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_u64)
                    .map(|s| (s as usize).div_ceil(60).max(1))
                    .collect()
            })
            .unwrap_or_else(|| vec![1, 5, 15]);
        Self {
            windows,
            horizon: cfg
                .param("models", "prediction_horizon_minutes")
                .as_u64()
                .unwrap_or(45)
                .max(1) as usize,
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

/// Column means and standard deviations, for standardising.
#[derive(Debug, Clone, Default)]
struct Scaler {
    mean: Vec<f64>,
    sd: Vec<f64>,
}

impl Scaler {
    fn fit(x: &[Vec<f64>]) -> Self {
        let d = x.first().map_or(0, Vec::len);
        let n = x.len().max(1) as f64;
        let mean: Vec<f64> = (0..d)
            .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let sd = (0..d)
            .map(|j| {
                let v = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n;
                if v > 1e-24 { v.sqrt() } else { 1.0 }
            })
            .collect();
        Self { mean, sd }
    }
    fn apply(&self, r: &[f64]) -> Vec<f64> {
        r.iter()
            .zip(self.mean.iter().zip(&self.sd))
            .map(|(v, (m, s))| (v - m) / s)
            .collect()
    }
}

/// Ridge regression on standardised features (the linear baseline).
#[derive(Debug, Clone, Default)]
pub struct Ridge {
    scaler: Scaler,
    w: Vec<f64>,
    b: f64,
}

impl Ridge {
    /// Fits `(XᵀX + λI) w = Xᵀy` by Gaussian elimination.
    pub fn fit(x: &[Vec<f64>], y: &[f64], lambda: f64) -> Self {
        let scaler = Scaler::fit(x);
        let xs: Vec<Vec<f64>> = x.iter().map(|r| scaler.apply(r)).collect();
        let d = scaler.mean.len();
        let ym = y.iter().sum::<f64>() / y.len().max(1) as f64;
        let mut a = vec![vec![0.0; d + 1]; d];
        for (r, &t) in xs.iter().zip(y) {
            for i in 0..d {
                for j in 0..d {
                    a[i][j] += r[i] * r[j];
                }
                a[i][d] += r[i] * (t - ym);
            }
        }
        for (i, row) in a.iter_mut().enumerate() {
            row[i] += lambda * xs.len() as f64;
        }
        // Elimination with partial pivoting; the ridge term keeps it well posed.
        for c in 0..d {
            let p = (c..d)
                .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
                .unwrap_or(c);
            a.swap(c, p);
            let piv = a[c][c];
            if piv.abs() < 1e-18 {
                continue;
            }
            let pivot_row = a[c].clone();
            for (i, row) in a.iter_mut().enumerate() {
                if i != c {
                    let f = row[c] / piv;
                    for (x, p) in row[c..].iter_mut().zip(&pivot_row[c..]) {
                        *x -= f * p;
                    }
                }
            }
        }
        let w = (0..d)
            .map(|i| {
                if a[i][i].abs() < 1e-18 {
                    0.0
                } else {
                    a[i][d] / a[i][i]
                }
            })
            .collect();
        Self { scaler, w, b: ym }
    }

    /// Prediction for one row.
    pub fn predict(&self, r: &[f64]) -> f64 {
        self.b
            + self
                .scaler
                .apply(r)
                .iter()
                .zip(&self.w)
                .map(|(a, b)| a * b)
                .sum::<f64>()
    }
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(f64),
    Split {
        feature: usize,
        at: f64,
        left: Box<Node>,
        right: Box<Node>,
    },
}

impl Node {
    fn predict(&self, r: &[f64]) -> f64 {
        match self {
            Self::Leaf(v) => *v,
            Self::Split {
                feature,
                at,
                left,
                right,
            } => {
                if r[*feature] <= *at {
                    left.predict(r)
                } else {
                    right.predict(r)
                }
            }
        }
    }
}

/// A random forest of CART regression trees (bootstrap rows, √d features per split).
#[derive(Debug, Clone, Default)]
pub struct Forest {
    trees: Vec<Node>,
}

fn grow(x: &[Vec<f64>], y: &[f64], idx: &mut [usize], depth: usize, rng: &mut Rng) -> Node {
    const MAX_DEPTH: usize = 6;
    const MIN_LEAF: usize = 8;
    let n = idx.len();
    let mean = idx.iter().map(|&i| y[i]).sum::<f64>() / n.max(1) as f64;
    if depth >= MAX_DEPTH || n < 2 * MIN_LEAF {
        return Node::Leaf(mean);
    }
    let d = x[0].len();
    let tries = ((d as f64).sqrt().ceil() as usize).max(1);
    let total: f64 = idx.iter().map(|&i| y[i]).sum();
    let mut best: Option<(f64, usize, f64)> = None;
    for _ in 0..tries {
        let f = rng.below(d);
        idx.sort_by(|&a, &b| x[a][f].total_cmp(&x[b][f]));
        let mut left = 0.0;
        for k in 0..n - 1 {
            left += y[idx[k]];
            let nl = (k + 1) as f64;
            let nr = (n - k - 1) as f64;
            if k + 1 < MIN_LEAF || n - k - 1 < MIN_LEAF || x[idx[k]][f] == x[idx[k + 1]][f] {
                continue;
            }
            // Maximising Σ² / n on both sides minimises the squared error.
            let gain = left * left / nl + (total - left).powi(2) / nr;
            if best.is_none_or(|(g, _, _)| gain > g) {
                best = Some((gain, f, (x[idx[k]][f] + x[idx[k + 1]][f]) / 2.0));
            }
        }
    }
    let Some((_, feature, at)) = best else {
        return Node::Leaf(mean);
    };
    let (mut l, mut r): (Vec<usize>, Vec<usize>) = idx.iter().partition(|&&i| x[i][feature] <= at);
    Node::Split {
        feature,
        at,
        left: Box::new(grow(x, y, &mut l, depth + 1, rng)),
        right: Box::new(grow(x, y, &mut r, depth + 1, rng)),
    }
}

impl Forest {
    /// Fits `trees` trees.
    pub fn fit(x: &[Vec<f64>], y: &[f64], trees: usize, seed: u64) -> Self {
        let mut rng = Rng(seed | 1);
        let trees = (0..trees)
            .map(|_| {
                let mut idx: Vec<usize> = (0..x.len()).map(|_| rng.below(x.len())).collect();
                grow(x, y, &mut idx, 0, &mut rng)
            })
            .collect();
        Self { trees }
    }

    /// The trees' mean prediction.
    pub fn predict(&self, r: &[f64]) -> f64 {
        self.trees.iter().map(|t| t.predict(r)).sum::<f64>() / self.trees.len().max(1) as f64
    }
}

/// A one-layer LSTM over the last [`SEQ`] standardised feature rows, a linear read-out of its
/// last hidden state; trained by backpropagation through time with Adam on the squared error.
#[derive(Debug, Clone, Default)]
pub struct Lstm {
    scaler: Scaler,
    y_scale: f64,
    input: usize,
    hidden: usize,
    /// Gate weights, 4H × (I + H), gates in the order i, f, o, g; then their biases.
    w: Vec<f64>,
    b: Vec<f64>,
    wy: Vec<f64>,
    by: f64,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Activations of one forward pass, kept for the backward pass.
struct Trace {
    xh: Vec<Vec<f64>>,
    gates: Vec<[Vec<f64>; 4]>,
    c: Vec<Vec<f64>>,
    h: Vec<Vec<f64>>,
}

impl Lstm {
    fn new(input: usize, hidden: usize, seed: u64) -> Self {
        let mut rng = Rng(seed | 1);
        let k = input + hidden;
        let scale = 1.0 / (k as f64).sqrt();
        let mut b = vec![0.0; 4 * hidden];
        // Forget gates start open.
        for v in &mut b[hidden..2 * hidden] {
            *v = 1.0;
        }
        Self {
            scaler: Scaler::default(),
            y_scale: 1.0,
            input,
            hidden,
            w: (0..4 * hidden * k)
                .map(|_| (rng.unit() * 2.0 - 1.0) * scale)
                .collect(),
            b,
            wy: (0..hidden)
                .map(|_| (rng.unit() * 2.0 - 1.0) * scale)
                .collect(),
            by: 0.0,
        }
    }

    fn forward(&self, seq: &[Vec<f64>]) -> (f64, Trace) {
        let (hn, k) = (self.hidden, self.input + self.hidden);
        let mut h = vec![0.0; hn];
        let mut c = vec![0.0; hn];
        let mut tr = Trace {
            xh: Vec::new(),
            gates: Vec::new(),
            c: vec![c.clone()],
            h: vec![h.clone()],
        };
        for x in seq {
            let xh: Vec<f64> = x.iter().chain(h.iter()).copied().collect();
            let z: Vec<f64> = (0..4 * hn)
                .map(|r| self.b[r] + (0..k).map(|j| self.w[r * k + j] * xh[j]).sum::<f64>())
                .collect();
            let i: Vec<f64> = z[..hn].iter().map(|&v| sigmoid(v)).collect();
            let f: Vec<f64> = z[hn..2 * hn].iter().map(|&v| sigmoid(v)).collect();
            let o: Vec<f64> = z[2 * hn..3 * hn].iter().map(|&v| sigmoid(v)).collect();
            let g: Vec<f64> = z[3 * hn..].iter().map(|&v| v.tanh()).collect();
            c = (0..hn).map(|u| f[u] * c[u] + i[u] * g[u]).collect();
            h = (0..hn).map(|u| o[u] * c[u].tanh()).collect();
            tr.xh.push(xh);
            tr.gates.push([i, f, o, g]);
            tr.c.push(c.clone());
            tr.h.push(h.clone());
        }
        let y = self.by + h.iter().zip(&self.wy).map(|(a, b)| a * b).sum::<f64>();
        (y, tr)
    }

    /// Gradients of ½(y − target)² for one sequence: (dW, db, dWy, dby).
    fn backward(&self, tr: &Trace, y: f64, target: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>, f64) {
        let (hn, k) = (self.hidden, self.input + self.hidden);
        let dy = y - target;
        let t_len = tr.gates.len();
        let mut dw = vec![0.0; self.w.len()];
        let mut db = vec![0.0; self.b.len()];
        let dwy: Vec<f64> = tr.h[t_len].iter().map(|h| dy * h).collect();
        let mut dh: Vec<f64> = self.wy.iter().map(|w| dy * w).collect();
        let mut dc = vec![0.0; hn];
        for t in (0..t_len).rev() {
            let [i, f, o, g] = &tr.gates[t];
            let (c, c_prev) = (&tr.c[t + 1], &tr.c[t]);
            let mut dz = vec![0.0; 4 * hn];
            for u in 0..hn {
                let tc = c[u].tanh();
                let d_o = dh[u] * tc;
                dc[u] += dh[u] * o[u] * (1.0 - tc * tc);
                dz[u] = dc[u] * g[u] * i[u] * (1.0 - i[u]);
                dz[hn + u] = dc[u] * c_prev[u] * f[u] * (1.0 - f[u]);
                dz[2 * hn + u] = d_o * o[u] * (1.0 - o[u]);
                dz[3 * hn + u] = dc[u] * i[u] * (1.0 - g[u] * g[u]);
                dc[u] *= f[u];
            }
            let mut dxh = vec![0.0; k];
            for r in 0..4 * hn {
                db[r] += dz[r];
                for j in 0..k {
                    dw[r * k + j] += dz[r] * tr.xh[t][j];
                    dxh[j] += self.w[r * k + j] * dz[r];
                }
            }
            dh = dxh[self.input..].to_vec();
        }
        (dw, db, dwy, dy)
    }

    /// Trains on `(sequence, target)` pairs: `epochs` passes of Adam in shuffled minibatches.
    pub fn fit(rows: &[Vec<f64>], y: &[f64], hidden: usize, epochs: usize, seed: u64) -> Self {
        let scaler = Scaler::fit(rows);
        let xs: Vec<Vec<f64>> = rows.iter().map(|r| scaler.apply(r)).collect();
        let y_scale = (y.iter().map(|v| v * v).sum::<f64>() / y.len().max(1) as f64)
            .sqrt()
            .max(1e-12);
        let mut m = Self::new(xs.first().map_or(1, Vec::len), hidden, seed);
        m.scaler = scaler;
        m.y_scale = y_scale;
        let samples: Vec<usize> = (SEQ - 1..xs.len()).collect();
        let n_params = m.w.len() + m.b.len() + m.wy.len() + 1;
        let (mut mom, mut vel) = (vec![0.0; n_params], vec![0.0; n_params]);
        let (lr, b1, b2) = (0.01, 0.9, 0.999);
        let mut step = 0;
        let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut order = samples.clone();
        for _ in 0..epochs {
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
            for batch in order.chunks(16) {
                let mut grad = vec![0.0; n_params];
                for &t in batch {
                    let seq = &xs[t + 1 - SEQ..=t];
                    let (out, tr) = m.forward(seq);
                    let (dw, db, dwy, dby) = m.backward(&tr, out, y[t] / y_scale);
                    for (g, d) in grad
                        .iter_mut()
                        .zip(dw.iter().chain(&db).chain(&dwy).chain([&dby]))
                    {
                        *g += d / batch.len() as f64;
                    }
                }
                step += 1;
                let params =
                    m.w.iter_mut()
                        .chain(m.b.iter_mut())
                        .chain(m.wy.iter_mut())
                        .chain(std::iter::once(&mut m.by));
                for (p, ((g, mo), ve)) in
                    params.zip(grad.iter().zip(mom.iter_mut()).zip(vel.iter_mut()))
                {
                    *mo = b1 * *mo + (1.0 - b1) * g;
                    *ve = b2 * *ve + (1.0 - b2) * g * g;
                    let mh = *mo / (1.0 - b1.powi(step));
                    let vh = *ve / (1.0 - b2.powi(step));
                    *p -= lr * mh / (vh.sqrt() + 1e-8);
                }
            }
        }
        m
    }

    /// Prediction from the last [`SEQ`] raw feature rows (`None` with fewer).
    pub fn predict(&self, rows: &[Vec<f64>]) -> Option<f64> {
        let seq: Vec<Vec<f64>> = rows
            .get(rows.len().checked_sub(SEQ)?..)?
            .iter()
            .map(|r| self.scaler.apply(r))
            .collect();
        Some(self.forward(&seq).0 * self.y_scale)
    }
}

/// Which models run and how they combine.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// LSTM on.
    pub lstm: bool,
    /// Random forest on.
    pub forest: bool,
    /// Weights of LSTM, forest, linear.
    pub weights: [f64; 3],
    /// Agreement needed to publish a signal.
    pub confidence_threshold: f64,
    /// Volatility regimes on.
    pub regimes: bool,
}

impl ModelSpec {
    /// From an ml_analytics configuration.
    pub fn of(cfg: &ValidatedConfig) -> Self {
        let w: Vec<f64> = cfg
            .param("models", "ensemble_weights")
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let on = |f: &str| cfg.param("models", f).as_bool().unwrap_or(true);
        Self {
            lstm: on("lstm_enabled"),
            forest: on("random_forest_enabled"),
            weights: [
                w.first().copied().unwrap_or(0.4),
                w.get(1).copied().unwrap_or(0.3),
                w.get(2).copied().unwrap_or(0.3),
            ],
            confidence_threshold: cfg
                .param("models", "confidence_threshold")
                .as_f64()
                .unwrap_or(0.8),
            regimes: on("market_regime_detection"),
        }
    }
}

/// The three models fitted on one training set.
#[derive(Debug, Clone)]
pub struct Models {
    ridge: Ridge,
    forest: Option<Forest>,
    lstm: Option<Lstm>,
    /// Volatility terciles of the training set (regime bounds).
    vol_bounds: (f64, f64),
}

/// One prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Per model (LSTM, forest, linear); `None` when off.
    pub each: [Option<f64>; 3],
    /// Weighted over the models that ran.
    pub ensemble: f64,
    /// Weight share of the models agreeing with the ensemble's sign.
    pub confidence: f64,
}

impl Models {
    /// Fits the models on rows `[0, end)` of `x`/`y`.
    pub fn fit(x: &[Vec<f64>], y: &[f64], spec: &ModelSpec, seed: u64) -> Self {
        let vol_col = x.first().map_or(0, |r| r.len().saturating_sub(3));
        let mut vols: Vec<f64> = x.iter().map(|r| r[vol_col]).collect();
        vols.sort_by(f64::total_cmp);
        let q = |f: f64| {
            vols.get(((vols.len() as f64 - 1.0) * f) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        Self {
            ridge: Ridge::fit(x, y, 0.1),
            forest: spec.forest.then(|| Forest::fit(x, y, 25, seed)),
            lstm: spec.lstm.then(|| Lstm::fit(x, y, 8, 12, seed)),
            vol_bounds: (q(1.0 / 3.0), q(2.0 / 3.0)),
        }
    }

    /// Predicts at the last row of `rows` (the LSTM reads the last [`SEQ`]).
    pub fn predict(&self, rows: &[Vec<f64>], spec: &ModelSpec) -> Option<Prediction> {
        let last = rows.last()?;
        let each = [
            self.lstm.as_ref().and_then(|m| m.predict(rows)),
            self.forest.as_ref().map(|m| m.predict(last)),
            Some(self.ridge.predict(last)),
        ];
        let (mut sum, mut wsum) = (0.0, 0.0);
        for (p, w) in each.iter().zip(spec.weights) {
            if let Some(p) = p {
                sum += p * w;
                wsum += w;
            }
        }
        let ensemble = if wsum > 0.0 { sum / wsum } else { 0.0 };
        let agree: f64 = each
            .iter()
            .zip(spec.weights)
            .filter(|(p, _)| p.is_some_and(|p| p.signum() == ensemble.signum()))
            .map(|(_, w)| w)
            .sum();
        Some(Prediction {
            each,
            ensemble,
            confidence: if wsum > 0.0 { agree / wsum } else { 0.0 },
        })
    }

    /// The volatility regime of a feature row: calm, normal or volatile.
    pub fn regime(&self, row: &[f64]) -> &'static str {
        let v = row[row.len().saturating_sub(3)];
        if v <= self.vol_bounds.0 {
            "calm"
        } else if v <= self.vol_bounds.1 {
            "normal"
        } else {
            "volatile"
        }
    }
}

/// Error counts of one predictor over a walk-forward evaluation.
#[derive(Debug, Clone, Default)]
struct Score {
    n: usize,
    se: f64,
    hits: usize,
}

impl Score {
    fn add(&mut self, pred: f64, actual: f64) {
        self.n += 1;
        self.se += (pred - actual).powi(2);
        if pred.signum() == actual.signum() {
            self.hits += 1;
        }
    }
    fn json(&self) -> Value {
        json!({"n": self.n, "rmse_bps": (self.se / self.n.max(1) as f64).sqrt() * 10_000.0,
            "direction_hit_rate": self.hits as f64 / self.n.max(1) as f64})
    }
}

/// Walk-forward evaluation over `samples`: fit on everything up to `horizon` before a block,
/// predict the block (`horizon` samples), step forward; the first fit uses `initial` of the
/// rows. Scores each model, the ensemble, the ensemble's confident calls, and two naive
/// forecasts: zero return (a random walk) and the last `horizon` samples' return continuing.
pub fn walk_forward(
    samples: &[Sample],
    features: &FeatureSpec,
    spec: &ModelSpec,
    initial: f64,
    seed: u64,
) -> Value {
    let rows: Vec<(usize, Vec<f64>, f64)> = (0..samples.len())
        .filter_map(|t| {
            Some((
                t,
                features.features(samples, t)?,
                features.target(samples, t)?,
            ))
        })
        .collect();
    let h = features.horizon;
    let mut scores: [Score; 7] = Default::default();
    let mut start = ((rows.len() as f64 * initial) as usize).max(MIN_TRAIN + h);
    let mut folds = 0;
    while start < rows.len() {
        let end = (start + h).min(rows.len());
        let train = start.saturating_sub(h);
        let x: Vec<Vec<f64>> = rows[..train].iter().map(|r| r.1.clone()).collect();
        let y: Vec<f64> = rows[..train].iter().map(|r| r.2).collect();
        let models = Models::fit(&x, &y, spec, seed + folds);
        folds += 1;
        for k in start..end {
            let window: Vec<Vec<f64>> = rows[k.saturating_sub(SEQ - 1)..=k]
                .iter()
                .map(|r| r.1.clone())
                .collect();
            let Some(p) = models.predict(&window, spec) else {
                continue;
            };
            let actual = rows[k].2;
            for (s, v) in scores.iter_mut().zip(p.each) {
                if let Some(v) = v {
                    s.add(v, actual);
                }
            }
            scores[3].add(p.ensemble, actual);
            if p.confidence >= spec.confidence_threshold {
                scores[4].add(p.ensemble, actual);
            }
            scores[5].add(0.0, actual);
            let t = rows[k].0;
            let past = if t >= h {
                (samples[t].mid / samples[t - h].mid).ln()
            } else {
                0.0
            };
            scores[6].add(past, actual);
        }
        start = end;
    }
    // A zero forecast has no direction: its hit rate is that of always calling "up".
    let mut naive_zero = scores[5].json();
    let ups = rows[rows
        .len()
        .min(((rows.len() as f64 * initial) as usize).max(MIN_TRAIN + h))..]
        .iter()
        .filter(|r| r.2 > 0.0)
        .count();
    naive_zero["direction_hit_rate"] = json!(ups as f64 / scores[5].n.max(1) as f64);
    json!({
        "samples": samples.len(), "rows": rows.len(), "folds": folds, "horizon_minutes": h,
        "lstm": scores[0].json(), "random_forest": scores[1].json(), "linear": scores[2].json(),
        "ensemble": scores[3].json(), "ensemble_confident": scores[4].json(),
        "naive_zero_return": naive_zero, "naive_momentum": scores[6].json(),
    })
}

/// The simulator the ML bot and its evaluation run on: a market clock of 20 updates a slot, so
/// that minutes of slot time pass in a fraction of a second of updates.
pub fn ml_sim(seed: u64) -> Simulator {
    Simulator::new(sniperforge_engine::sim::SimConfig {
        seed,
        updates_per_slot: 20,
        noise_scale: 10.0,
        ..Default::default()
    })
}

/// The running analytics of an ml_analytics bot: samples, models retrained every
/// `retrain_interval_minutes` samples, the latest prediction and regime per pair.
#[derive(Debug)]
pub struct Analytics {
    pairs: Vec<(String, Sampler)>,
    features: FeatureSpec,
    spec: ModelSpec,
    retrain: usize,
    models: Vec<Option<(Models, usize)>>,
    evaluation: Vec<Option<Value>>,
    seed: u64,
}

impl Analytics {
    /// Analytics of `cfg`'s pairs.
    pub fn new(
        sim: &crate::feed::Universe,
        cfg: &ValidatedConfig,
        seed: u64,
    ) -> Result<Self, BotError> {
        let names: Vec<String> = cfg
            .param("features", "pairs")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_else(|| vec!["SOL/USDC".into()]);
        let pairs = names
            .into_iter()
            .map(|n| Ok((n.clone(), Sampler::new(sim, &n)?)))
            .collect::<Result<Vec<_>, BotError>>()?;
        let n = pairs.len();
        Ok(Self {
            pairs,
            features: FeatureSpec::of(cfg),
            spec: ModelSpec::of(cfg),
            retrain: cfg
                .param("features", "retrain_interval_minutes")
                .as_u64()
                .unwrap_or(60) as usize,
            models: vec![None; n],
            evaluation: vec![None; n],
            seed,
        })
    }

    /// Applies hot settings (models, thresholds, retraining period).
    pub fn set(&mut self, cfg: &ValidatedConfig) {
        self.spec = ModelSpec::of(cfg);
        self.retrain = cfg
            .param("features", "retrain_interval_minutes")
            .as_u64()
            .unwrap_or(60) as usize;
    }

    /// Applies an update to every pair's sampler.
    pub fn apply(&mut self, update: &AccountUpdate) -> Result<(), BotError> {
        let mut result = Ok(());
        for (_, s) in &mut self.pairs {
            if let Err(e) = s.apply(update) {
                result = Err(e);
            }
        }
        result
    }

    /// Retrains where due (first once [`MIN_TRAIN`] rows have targets, then every `retrain`
    /// samples, with a walk-forward evaluation of the history each time) and answers the
    /// predictions.
    pub fn publish(&mut self) -> Value {
        let mut out = Vec::new();
        for (k, (name, sampler)) in self.pairs.iter().enumerate() {
            let s = &sampler.samples;
            let f = &self.features;
            let rows: Vec<Vec<f64>> = (0..s.len()).filter_map(|t| f.features(s, t)).collect();
            let labelled = rows.len().saturating_sub(f.horizon);
            let due = match &self.models[k] {
                None => labelled >= MIN_TRAIN,
                Some((_, at)) => s.len() >= at + self.retrain.max(1),
            };
            if due {
                let first = s.len() - rows.len();
                let y: Vec<f64> = (0..labelled)
                    .filter_map(|i| f.target(s, first + i))
                    .collect();
                let models = Models::fit(&rows[..y.len()], &y, &self.spec, self.seed);
                self.models[k] = Some((models, s.len()));
                if labelled >= 2 * MIN_TRAIN {
                    self.evaluation[k] = Some(walk_forward(s, f, &self.spec, 0.5, self.seed));
                }
            }
            let last = &rows[rows.len().saturating_sub(SEQ)..];
            let prediction = self.models[k]
                .as_ref()
                .and_then(|(m, _)| Some((m, m.predict(last, &self.spec)?)));
            let regime = prediction
                .as_ref()
                .filter(|_| self.spec.regimes)
                .and_then(|(m, _)| Some(m.regime(rows.last()?)));
            out.push(json!({
                "pair": name,
                "samples": s.len(),
                "mid": s.last().map(|x| x.mid),
                "trained_at_sample": self.models[k].as_ref().map(|(_, at)| at),
                "prediction": prediction.as_ref().map(|(_, p)| json!({
                    "horizon_minutes": f.horizon,
                    "return_bps": p.ensemble * 10_000.0,
                    "lstm_bps": p.each[0].map(|v| v * 10_000.0),
                    "random_forest_bps": p.each[1].map(|v| v * 10_000.0),
                    "linear_bps": p.each[2].map(|v| v * 10_000.0),
                    "confidence": p.confidence,
                    "signal": if p.confidence < self.spec.confidence_threshold { "none" }
                        else if p.ensemble > 0.0 { "up" } else { "down" },
                })),
                "regime": regime,
                "evaluation": self.evaluation[k],
            }));
        }
        json!({"pairs": out})
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn lstm_gradients_match_finite_differences() {
        let m = Lstm::new(3, 4, 11);
        let mut rng = Rng(5);
        let seq: Vec<Vec<f64>> = (0..5)
            .map(|_| (0..3).map(|_| rng.unit() - 0.5).collect())
            .collect();
        let target = 0.3;
        let (y, tr) = m.forward(&seq);
        let (dw, db, dwy, dby) = m.backward(&tr, y, target);
        let loss = |m: &Lstm| 0.5 * (m.forward(&seq).0 - target).powi(2);
        let eps = 1e-6;
        for i in [0, 7, 20, m.w.len() - 1] {
            let mut p = m.clone();
            p.w[i] += eps;
            let mut q = m.clone();
            q.w[i] -= eps;
            let numeric = (loss(&p) - loss(&q)) / (2.0 * eps);
            assert!(
                (numeric - dw[i]).abs() < 1e-6,
                "w[{i}]: {numeric} vs {}",
                dw[i]
            );
        }
        for i in [0, 5, m.b.len() - 1] {
            let mut p = m.clone();
            p.b[i] += eps;
            let mut q = m.clone();
            q.b[i] -= eps;
            let numeric = (loss(&p) - loss(&q)) / (2.0 * eps);
            assert!(
                (numeric - db[i]).abs() < 1e-6,
                "b[{i}]: {numeric} vs {}",
                db[i]
            );
        }
        let mut p = m.clone();
        p.wy[1] += eps;
        let mut q = m.clone();
        q.wy[1] -= eps;
        assert!(((loss(&p) - loss(&q)) / (2.0 * eps) - dwy[1]).abs() < 1e-6);
        assert!((dby - (y - target)).abs() < 1e-12);
    }

    #[test]
    fn models_learn_a_learnable_signal() {
        // y = 2·x0 − x1 + noise, and y also equals the sign of x2 (for the forest).
        let mut rng = Rng(3);
        let x: Vec<Vec<f64>> = (0..600)
            .map(|_| (0..4).map(|_| rng.unit() * 2.0 - 1.0).collect())
            .collect();
        let y: Vec<f64> = x
            .iter()
            .map(|r| 2.0 * r[0] - r[1] + (rng.unit() - 0.5) * 0.1)
            .collect();
        let (train, test) = (500, 600);
        let rmse = |f: &dyn Fn(usize) -> f64| {
            ((train..test).map(|i| (f(i) - y[i]).powi(2)).sum::<f64>() / (test - train) as f64)
                .sqrt()
        };
        let sd = rmse(&|_| 0.0);
        let ridge = Ridge::fit(&x[..train], &y[..train], 0.001);
        assert!(rmse(&|i| ridge.predict(&x[i])) < 0.1 * sd);
        let forest = Forest::fit(&x[..train], &y[..train], 25, 1);
        assert!(rmse(&|i| forest.predict(&x[i])) < 0.5 * sd);
        // The LSTM reads sequences: the target depends on the last row only.
        let lstm = Lstm::fit(&x[..train], &y[..train], 8, 30, 1);
        let lstm_rmse = rmse(&|i| lstm.predict(&x[i + 1 - SEQ..=i]).unwrap());
        assert!(lstm_rmse < 0.5 * sd, "lstm {lstm_rmse} vs sd {sd}");
    }

    #[test]
    fn walk_forward_on_the_simulator_reports_every_model_and_the_baselines() {
        let mut sim = ml_sim(7);
        let mut sampler =
            Sampler::new(&crate::feed::Universe::from_sim(&mut sim), "SOL/USDC").unwrap();
        while sampler.samples.len() < 420 {
            let _ = sampler.apply(&sim.next_update());
        }
        let s = &sampler.samples;
        assert!(
            s.windows(2)
                .all(|w| w[1].slot >= w[0].slot + SLOTS_PER_SAMPLE)
        );
        assert!(
            s.iter()
                .all(|x| x.mid > 50.0 && x.mid < 500.0 && (-1.0..=1.0).contains(&x.ofi))
        );
        let features = FeatureSpec {
            windows: vec![1, 5, 15],
            horizon: 10,
        };
        let spec = ModelSpec {
            lstm: true,
            forest: true,
            weights: [0.4, 0.3, 0.3],
            confidence_threshold: 0.8,
            regimes: true,
        };
        let e = walk_forward(s, &features, &spec, 0.5, 7);
        for k in [
            "lstm",
            "random_forest",
            "linear",
            "ensemble",
            "naive_zero_return",
            "naive_momentum",
        ] {
            assert!(e[k]["n"].as_u64().unwrap() > 100, "{k}: {e}");
            let rmse = e[k]["rmse_bps"].as_f64().unwrap();
            assert!(rmse.is_finite() && rmse > 0.0, "{k}: {e}");
        }
        assert!(e["folds"].as_u64().unwrap() > 5);
    }
}
