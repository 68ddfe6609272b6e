//! The models, written here: a ridge linear baseline, a random forest and an LSTM, and their
//! ensemble with the configured weights.

use super::*;

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

/// A one-layer LSTM over the last `SEQ` standardised feature rows, a linear read-out of its
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

    /// Prediction from the last `SEQ` raw feature rows (`None` with fewer).
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
    /// From an ml_analytics configuration's models section (validation holds the weights to
    /// exactly three).
    pub fn of(models: &sniperforge_protocol::params::Models) -> Self {
        let w = |i: usize| models.ensemble_weights.get(i).copied().unwrap_or(0.0);
        Self {
            lstm: models.lstm_enabled,
            forest: models.random_forest_enabled,
            weights: [w(0), w(1), w(2)],
            confidence_threshold: models.confidence_threshold,
            regimes: models.market_regime_detection,
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

    /// Predicts at the last row of `rows` (the LSTM reads the last `SEQ`).
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
}
