//! The honest walk-forward evaluation against naive baselines.

use super::*;

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
