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
use crate::dashboard::mid_and_depth;
use sniperforge_protocol::config::ValidatedConfig;

mod eval;
mod features;
mod models;

pub use eval::*;
pub use features::*;
pub use models::*;

/// Slots per sample: 60 s of 400 ms slots.
pub const SLOTS_PER_SAMPLE: u64 = 150;
/// Samples an LSTM input sequence spans.
const SEQ: usize = 8;
/// Fewest training rows before a model is fitted.
pub const MIN_TRAIN: usize = 120;

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
        let (models, features) = cfg.params.ml().ok_or_else(|| {
            BotError::Config(format!("{} is not ml_analytics", cfg.config.bot_type))
        })?;
        let names: Vec<String> = features.pairs.clone();
        let pairs = names
            .into_iter()
            .map(|n| Ok((n.clone(), Sampler::new(sim, &n)?)))
            .collect::<Result<Vec<_>, BotError>>()?;
        let n = pairs.len();
        Ok(Self {
            pairs,
            features: FeatureSpec::of(features, models),
            spec: ModelSpec::of(models),
            retrain: features.retrain_interval_minutes as usize,
            models: vec![None; n],
            evaluation: vec![None; n],
            seed,
        })
    }

    /// Applies hot settings (models, thresholds, retraining period).
    pub fn set(&mut self, cfg: &ValidatedConfig) {
        if let Some((models, features)) = cfg.params.ml() {
            self.spec = ModelSpec::of(models);
            self.retrain = features.retrain_interval_minutes as usize;
        }
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
