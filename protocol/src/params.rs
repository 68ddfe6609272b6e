//! Every bot type's parameters as typed structs, read once from a validated configuration: a
//! misspelt field is a compile error, not a silent default. Each struct holds exactly its
//! section's fields in the spec ([`crate::spec`]); a test reads every template through them and
//! writes it back unchanged, so the two cannot drift.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::wire::BotType;

/// `risk_management` of the arbitrage types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    /// Halt when one trade loses more than this (bps of its input).
    pub stop_loss_bps: u64,
    /// Halt when today's losses reach this (USD).
    pub max_daily_loss_usd: f64,
    /// Whether the loss limits halt the bot.
    pub emergency_stop_enabled: bool,
    /// Oldest pool state a decision may rest on, in slots.
    pub max_state_age_slots: u64,
}

/// `execution` of the arbitrage types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    /// Send orders without a confirmation step.
    pub auto_execute: bool,
    /// Paper fills instead of transactions.
    pub simulation_mode: bool,
    /// Venues the routes may use.
    pub dexs: Vec<String>,
    /// The signing key (live mode).
    pub keypair_path: String,
    /// Slippage allowed on each hop, bps.
    pub slippage_bps: u64,
    /// Priority fee, micro-lamports per compute unit.
    pub priority_fee_micro_lamports: u64,
    /// Modelled paper-fill latency, µs.
    pub paper_latency_us: u64,
    /// Busy-poll the strategy thread.
    pub spin: bool,
}

/// `trading` of `enhanced_arbitrage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnhancedTrading {
    /// Least profit worth an order, bps.
    pub min_profit_bps: u64,
    /// Largest input per trade, SOL.
    pub max_trade_sol: f64,
    /// Least confidence a route needs.
    pub confidence_threshold: f64,
    /// Orders in flight at most.
    pub max_concurrent_trades: u64,
    /// Pairs watched.
    pub pairs: Vec<String>,
}

/// `trading` of `triangular_arbitrage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriangularTrading {
    /// Least profit worth an order, bps.
    pub min_profit_bps: u64,
    /// Largest input per trade, SOL.
    pub max_trade_sol: f64,
    /// Orders in flight at most.
    pub max_concurrent_trades: u64,
    /// Mints routes start and end in.
    pub base_mints: Vec<String>,
    /// Longest route.
    pub max_hops: u64,
}

/// `trading` of `flash_loan_arbitrage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlashTrading {
    /// Least profit worth an order, bps.
    pub min_profit_bps: u64,
    /// Largest loan per trade, SOL.
    pub max_borrow_sol: f64,
    /// Orders in flight at most.
    pub max_concurrent_trades: u64,
    /// Mints routes start and end in.
    pub base_mints: Vec<String>,
    /// Longest route.
    pub max_hops: u64,
}

/// `flash_loan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlashLoan {
    /// Lending program.
    pub provider: String,
    /// Loan fee, bps.
    pub fee_bps: u64,
}

/// `trading` of `cross_chain_arbitrage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossChainTrading {
    /// Least price gap worth a trade, bps.
    pub min_gap_bps: u64,
    /// Largest trade, USD.
    pub max_trade_usd: f64,
    /// Pairs watched.
    pub pairs: Vec<String>,
    /// The other venue's quote endpoint.
    pub venue_url: String,
    /// The other venue's fee, bps.
    pub venue_fee_bps: u64,
    /// Inventory held on each side, USD.
    pub inventory_usd: f64,
}

/// `bridge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    /// Bridge fee, bps.
    pub fee_bps: u64,
    /// Transfer time, s.
    pub delay_seconds: u64,
    /// Rebalance when one side's share moves this far, %.
    pub rebalance_threshold_pct: f64,
}

/// `models` of `ml_analytics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Models {
    /// The LSTM model takes part.
    pub lstm_enabled: bool,
    /// The random forest takes part.
    pub random_forest_enabled: bool,
    /// Ensemble weights.
    pub ensemble_weights: Vec<f64>,
    /// How far ahead predictions look, minutes.
    pub prediction_horizon_minutes: u64,
    /// Least confidence a signal needs.
    pub confidence_threshold: f64,
    /// Detect the market regime.
    pub market_regime_detection: bool,
}

/// `features` of `ml_analytics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    /// Pairs watched.
    pub pairs: Vec<String>,
    /// Return windows, s.
    pub return_windows_s: Vec<u64>,
    /// Retrain every, minutes.
    pub retrain_interval_minutes: u64,
}

/// `portfolio` of `portfolio_manager`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portfolio {
    /// Symbol → target weight.
    pub target_weights: BTreeMap<String, f64>,
    /// Symbol → starting amount (token units).
    pub initial_balances: BTreeMap<String, f64>,
    /// Currency values are counted in.
    pub base_currency: String,
}

/// `rebalance` of `portfolio_manager`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rebalance {
    /// Rebalance when a weight is this far off, %.
    pub threshold_pct: f64,
    /// Smallest trade, USD.
    pub min_trade_usd: f64,
    /// Check every, minutes.
    pub interval_minutes: u64,
}

/// `risk_management` of `portfolio_manager`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortfolioRisk {
    /// Largest share of one token, %.
    pub max_exposure_pct_per_token: f64,
    /// Halt when today's losses reach this (USD).
    pub max_daily_loss_usd: f64,
}

/// `view` of `real_time_dashboard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    /// Pairs shown.
    pub pairs: Vec<String>,
    /// Venues shown.
    pub dexs: Vec<String>,
    /// Opportunities listed.
    pub top_opportunities: u64,
    /// Refresh every, ms.
    pub refresh_ms: u64,
    /// Highlight spreads above, bps.
    pub alert_spread_bps: u64,
    /// Points kept per series.
    pub series_points: u64,
}

macro_rules! params {
    ($($variant:ident { $($field:ident: $ty:ty),* $(,)? }),* $(,)?) => {
        /// A bot type's parameters, each section typed.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(missing_docs)]
        pub enum Params {
            $($variant { $($field: $ty),* }),*
        }

        impl Params {
            /// Reads `parameters` (a validated configuration's) as `bot_type`'s.
            pub fn read(bot_type: BotType, parameters: &Value) -> Result<Self, serde_json::Error> {
                match bot_type {
                    $(BotType::$variant => {
                        #[derive(Deserialize)]
                        #[serde(deny_unknown_fields)]
                        struct Sections { $($field: $ty),* }
                        let s = Sections::deserialize(parameters)?;
                        Ok(Self::$variant { $($field: s.$field),* })
                    })*
                }
            }

            /// The parameters as JSON (what [`Params::read`] read).
            pub fn to_value(&self) -> Value {
                match self {
                    $(Self::$variant { $($field),* } => {
                        let mut m = serde_json::Map::new();
                        $(m.insert(stringify!($field).into(), serde_json::to_value($field).unwrap_or(Value::Null));)*
                        Value::Object(m)
                    })*
                }
            }
        }
    };
}

params! {
    EnhancedArbitrage { trading: EnhancedTrading, risk_management: Risk, execution: Execution },
    TriangularArbitrage { trading: TriangularTrading, risk_management: Risk, execution: Execution },
    FlashLoanArbitrage {
        trading: FlashTrading,
        flash_loan: FlashLoan,
        risk_management: Risk,
        execution: Execution,
    },
    CrossChainArbitrage {
        trading: CrossChainTrading,
        bridge: Bridge,
        risk_management: Risk,
        execution: Execution,
    },
    MlAnalytics { models: Models, features: Features },
    PortfolioManager { portfolio: Portfolio, rebalance: Rebalance, risk_management: PortfolioRisk },
    RealTimeDashboard { view: View },
}

/// What the three market bots (enhanced, triangular, flash-loan arbitrage) share, read from
/// whichever of them this is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Market<'a> {
    /// Least profit worth an order, bps.
    pub min_profit_bps: u64,
    /// Largest input per trade, SOL (a flash loan's: its largest loan).
    pub max_trade_sol: f64,
    /// Orders in flight at most.
    pub max_concurrent_trades: u64,
    /// Least confidence a route needs (0 where the type has no such gate).
    pub confidence_threshold: f64,
    /// Longest route (2 where the type takes none: a pair's two pools).
    pub max_hops: u64,
    /// Mints routes start and end in, or the pairs watched.
    pub symbols: &'a [String],
    /// The loan fee, bps (0 without a flash loan).
    pub flash_fee_bps: u64,
    /// Risk limits.
    pub risk: &'a Risk,
    /// Execution settings.
    pub execution: &'a Execution,
}

impl Params {
    /// The arbitrage types' risk limits.
    pub fn risk(&self) -> Option<&Risk> {
        match self {
            Self::EnhancedArbitrage {
                risk_management, ..
            }
            | Self::TriangularArbitrage {
                risk_management, ..
            }
            | Self::FlashLoanArbitrage {
                risk_management, ..
            }
            | Self::CrossChainArbitrage {
                risk_management, ..
            } => Some(risk_management),
            _ => None,
        }
    }

    /// The arbitrage types' execution settings.
    pub fn execution(&self) -> Option<&Execution> {
        match self {
            Self::EnhancedArbitrage { execution, .. }
            | Self::TriangularArbitrage { execution, .. }
            | Self::FlashLoanArbitrage { execution, .. }
            | Self::CrossChainArbitrage { execution, .. } => Some(execution),
            _ => None,
        }
    }

    /// `cross_chain_arbitrage`'s trading and bridge sections.
    pub fn cross_chain(&self) -> Option<(&CrossChainTrading, &Bridge)> {
        match self {
            Self::CrossChainArbitrage {
                trading, bridge, ..
            } => Some((trading, bridge)),
            _ => None,
        }
    }

    /// `ml_analytics`'s models and features.
    pub fn ml(&self) -> Option<(&Models, &Features)> {
        match self {
            Self::MlAnalytics { models, features } => Some((models, features)),
            _ => None,
        }
    }

    /// `portfolio_manager`'s sections.
    pub fn portfolio(&self) -> Option<(&Portfolio, &Rebalance, &PortfolioRisk)> {
        match self {
            Self::PortfolioManager {
                portfolio,
                rebalance,
                risk_management,
            } => Some((portfolio, rebalance, risk_management)),
            _ => None,
        }
    }

    /// `real_time_dashboard`'s view.
    pub fn view(&self) -> Option<&View> {
        match self {
            Self::RealTimeDashboard { view } => Some(view),
            _ => None,
        }
    }

    /// Whether the configuration trades live (`execution.simulation_mode: false`).
    pub fn live(&self) -> bool {
        self.execution().is_some_and(|e| !e.simulation_mode)
    }

    /// The market bots' shared parameters; `None` for the other types.
    pub fn market(&self) -> Option<Market<'_>> {
        match self {
            Self::EnhancedArbitrage {
                trading,
                risk_management,
                execution,
            } => Some(Market {
                min_profit_bps: trading.min_profit_bps,
                max_trade_sol: trading.max_trade_sol,
                max_concurrent_trades: trading.max_concurrent_trades,
                confidence_threshold: trading.confidence_threshold,
                max_hops: 2,
                symbols: &trading.pairs,
                flash_fee_bps: 0,
                risk: risk_management,
                execution,
            }),
            Self::TriangularArbitrage {
                trading,
                risk_management,
                execution,
            } => Some(Market {
                min_profit_bps: trading.min_profit_bps,
                max_trade_sol: trading.max_trade_sol,
                max_concurrent_trades: trading.max_concurrent_trades,
                confidence_threshold: 0.0,
                max_hops: trading.max_hops,
                symbols: &trading.base_mints,
                flash_fee_bps: 0,
                risk: risk_management,
                execution,
            }),
            Self::FlashLoanArbitrage {
                trading,
                flash_loan,
                risk_management,
                execution,
            } => Some(Market {
                min_profit_bps: trading.min_profit_bps,
                max_trade_sol: trading.max_borrow_sol,
                max_concurrent_trades: trading.max_concurrent_trades,
                confidence_threshold: 0.0,
                max_hops: trading.max_hops,
                symbols: &trading.base_mints,
                flash_fee_bps: flash_loan.fee_bps,
                risk: risk_management,
                execution,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_reads_through_the_typed_sections_and_back_unchanged() {
        for t in BotType::ALL {
            let template = crate::config::template(t);
            let params = Params::read(t, &template["parameters"])
                .unwrap_or_else(|e| panic!("{t}: the typed sections and the spec differ: {e}"));
            assert_eq!(params.to_value(), template["parameters"], "{t}");
        }
    }

    #[test]
    fn a_field_the_spec_does_not_have_is_refused() {
        let mut p = crate::config::template(BotType::EnhancedArbitrage)["parameters"].clone();
        p["trading"]["min_proft_bps"] = serde_json::json!(5);
        let e = Params::read(BotType::EnhancedArbitrage, &p).unwrap_err();
        assert!(e.to_string().contains("min_proft_bps"), "{e}");
    }
}
