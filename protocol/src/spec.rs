//! The one description of every bot type's parameters: sections, fields, ranges, defaults and
//! whether a change applies hot. Templates, JSON Schemas and validation are derived from it.

use crate::wire::BotType;

/// What a field holds and its bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Integer in `[min, max]`.
    Int {
        /// Smallest.
        min: i64,
        /// Largest.
        max: i64,
    },
    /// Number in `[min, max]`.
    Float {
        /// Smallest.
        min: f64,
        /// Largest.
        max: f64,
    },
    /// true / false.
    Bool,
    /// Free text (paths, URLs, names).
    Text,
    /// One of a set of names.
    OneOf(&'static [&'static str]),
    /// A non-empty list of distinct names from a set.
    SubsetOf(&'static [&'static str]),
    /// A non-empty list of distinct symbols or pairs (`SOL`, `SOL/USDC`).
    Symbols,
    /// A non-empty list of integers in `[min, max]`.
    IntList {
        /// Smallest element.
        min: i64,
        /// Largest element.
        max: i64,
    },
    /// Exactly `len` weights in [0, 1] that sum to 1.
    Weights {
        /// Number of weights.
        len: usize,
    },
    /// Symbol → weight in [0, 1]; the weights sum to at most 1.
    WeightMap,
    /// Symbol → amount ≥ 0 (token units).
    AmountMap,
}

/// One parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    /// Name (units in the name: `_bps`, `_usd`, `_ms`).
    pub name: &'static str,
    /// Type and bounds.
    pub kind: Kind,
    /// Default, as JSON text.
    pub default: &'static str,
    /// Whether a running bot applies a change without a restart.
    pub hot: bool,
    /// One line for humans.
    pub description: &'static str,
}

/// A group of parameters (`trading`, `risk_management`, …).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Section {
    /// Name.
    pub name: &'static str,
    /// Fields.
    pub fields: &'static [Field],
}

const fn f(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    hot: bool,
    description: &'static str,
) -> Field {
    Field {
        name,
        kind,
        default,
        hot,
        description,
    }
}

const DEXS: &[&str] = &["Jupiter", "Orca", "Raydium"];
const FLASH_PROVIDERS: &[&str] = &["marginfi", "solend", "kamino"];

const RISK: Section = Section {
    name: "risk_management",
    fields: &[
        f(
            "stop_loss_bps",
            Kind::Int { min: 10, max: 1000 },
            "200",
            true,
            "Loss on one trade, relative to its input, that stops the bot",
        ),
        f(
            "max_daily_loss_usd",
            Kind::Float {
                min: 100.0,
                max: 10_000.0,
            },
            "1000.0",
            true,
            "Daily loss (UTC day) that triggers the emergency stop",
        ),
        f(
            "emergency_stop_enabled",
            Kind::Bool,
            "true",
            true,
            "Whether reaching a loss limit stops trading",
        ),
        f(
            "max_state_age_slots",
            Kind::Int { min: 1, max: 150 },
            "20",
            true,
            "Oldest pool state a trade may use, in slots",
        ),
    ],
};

const EXECUTION: Section = Section {
    name: "execution",
    fields: &[
        f(
            "auto_execute",
            Kind::Bool,
            "false",
            false,
            "Send transactions without confirmation (live mode only)",
        ),
        f(
            "simulation_mode",
            Kind::Bool,
            "true",
            false,
            "Paper trading on the exact quotes; false means live trading",
        ),
        f(
            "dexs",
            Kind::SubsetOf(DEXS),
            r#"["Jupiter", "Orca", "Raydium"]"#,
            false,
            "Venues routes may use",
        ),
        f(
            "keypair_path",
            Kind::Text,
            r#""""#,
            false,
            "Signing keypair file (live mode); referenced, never stored",
        ),
        f(
            "slippage_bps",
            Kind::Int { min: 1, max: 1000 },
            "30",
            true,
            "Minimum-out below the expected output",
        ),
        f(
            "priority_fee_micro_lamports",
            Kind::Int {
                min: 0,
                max: 10_000_000,
            },
            "10000",
            true,
            "Compute-unit price",
        ),
        f(
            "paper_latency_us",
            Kind::Int {
                min: 0,
                max: 1_000_000,
            },
            "400",
            true,
            "Paper executor: decision to fill",
        ),
        f(
            "spin",
            Kind::Bool,
            "false",
            false,
            "Strategy (and feed) threads busy-poll their reserved cores instead of parking",
        ),
    ],
};

const ENHANCED: &[Section] = &[
    Section {
        name: "trading",
        fields: &[
            f(
                "min_profit_bps",
                Kind::Int { min: 1, max: 1000 },
                "50",
                true,
                "Smallest profit worth a trade, relative to its input",
            ),
            f(
                "max_trade_sol",
                Kind::Float {
                    min: 0.01,
                    max: 1000.0,
                },
                "100.0",
                true,
                "Largest input per trade, in SOL",
            ),
            f(
                "confidence_threshold",
                Kind::Float { min: 0.0, max: 1.0 },
                "0.85",
                true,
                "Minimum confidence (freshness, depth, quote stability)",
            ),
            f(
                "max_concurrent_trades",
                Kind::Int { min: 1, max: 64 },
                "3",
                true,
                "Orders in flight at once",
            ),
            f(
                "pairs",
                Kind::Symbols,
                r#"["SOL/USDC", "SOL/USDT", "JUP/USDC"]"#,
                false,
                "Pairs traded across pools",
            ),
        ],
    },
    RISK,
    EXECUTION,
];

const TRIANGULAR: &[Section] = &[
    Section {
        name: "trading",
        fields: &[
            f(
                "min_profit_bps",
                Kind::Int { min: 1, max: 1000 },
                "30",
                true,
                "Smallest profit worth a trade, relative to its input",
            ),
            f(
                "max_trade_sol",
                Kind::Float {
                    min: 0.01,
                    max: 1000.0,
                },
                "50.0",
                true,
                "Largest input per trade, in SOL",
            ),
            f(
                "max_concurrent_trades",
                Kind::Int { min: 1, max: 64 },
                "3",
                true,
                "Orders in flight at once",
            ),
            f(
                "base_mints",
                Kind::Symbols,
                r#"["SOL", "USDC"]"#,
                false,
                "Tokens routes start and end in",
            ),
            f(
                "max_hops",
                Kind::Int { min: 3, max: 4 },
                "3",
                false,
                "Pools per route",
            ),
        ],
    },
    RISK,
    EXECUTION,
];

const FLASH_LOAN: &[Section] = &[
    Section {
        name: "trading",
        fields: &[
            f(
                "min_profit_bps",
                Kind::Int { min: 1, max: 1000 },
                "20",
                true,
                "Smallest profit after the loan fee, relative to the input",
            ),
            f(
                "max_borrow_sol",
                Kind::Float {
                    min: 1.0,
                    max: 100_000.0,
                },
                "10000.0",
                true,
                "Largest loan per trade, in SOL",
            ),
            f(
                "max_concurrent_trades",
                Kind::Int { min: 1, max: 64 },
                "2",
                true,
                "Orders in flight at once",
            ),
            f(
                "base_mints",
                Kind::Symbols,
                r#"["SOL", "USDC"]"#,
                false,
                "Tokens borrowed and repaid",
            ),
            f(
                "max_hops",
                Kind::Int { min: 2, max: 4 },
                "3",
                false,
                "Pools per route",
            ),
        ],
    },
    Section {
        name: "flash_loan",
        fields: &[
            f(
                "provider",
                Kind::OneOf(FLASH_PROVIDERS),
                r#""marginfi""#,
                false,
                "Lending program whose flash loan wraps the route",
            ),
            f(
                "fee_bps",
                Kind::Int { min: 0, max: 100 },
                "9",
                true,
                "Loan fee, booked on every trade",
            ),
        ],
    },
    RISK,
    EXECUTION,
];

const CROSS_CHAIN: &[Section] = &[
    Section {
        name: "trading",
        fields: &[
            f(
                "min_gap_bps",
                Kind::Int { min: 1, max: 5000 },
                "80",
                true,
                "Smallest price gap after fees and amortised bridge cost",
            ),
            f(
                "max_trade_usd",
                Kind::Float {
                    min: 10.0,
                    max: 1_000_000.0,
                },
                "25000.0",
                true,
                "Largest trade, in USD",
            ),
            f(
                "pairs",
                Kind::Symbols,
                r#"["SOL/USDC"]"#,
                false,
                "Pairs watched on both sides",
            ),
            f(
                "venue_url",
                Kind::Text,
                r#""ws://127.0.0.1:9443/ticker""#,
                false,
                "External venue price stream (JSON over WebSocket; `sniperforge venue-sim` serves one)",
            ),
            f(
                "venue_fee_bps",
                Kind::Int { min: 0, max: 100 },
                "10",
                true,
                "Taker fee on the external venue",
            ),
            f(
                "inventory_usd",
                Kind::Float {
                    min: 100.0,
                    max: 100_000_000.0,
                },
                "50000.0",
                false,
                "Paper inventory at start, split evenly: base and quote on each side",
            ),
        ],
    },
    Section {
        name: "bridge",
        fields: &[
            f(
                "fee_bps",
                Kind::Int { min: 0, max: 500 },
                "10",
                true,
                "Modelled bridge fee",
            ),
            f(
                "delay_seconds",
                Kind::Int {
                    min: 1,
                    max: 86_400,
                },
                "900",
                true,
                "Modelled transfer time",
            ),
            f(
                "rebalance_threshold_pct",
                Kind::Float {
                    min: 1.0,
                    max: 100.0,
                },
                "20.0",
                true,
                "Inventory drift that triggers a rebalancing transfer",
            ),
        ],
    },
    RISK,
    EXECUTION,
];

const ML: &[Section] = &[
    Section {
        name: "models",
        fields: &[
            f("lstm_enabled", Kind::Bool, "true", false, "Run the LSTM"),
            f(
                "random_forest_enabled",
                Kind::Bool,
                "true",
                false,
                "Run the random forest",
            ),
            f(
                "ensemble_weights",
                Kind::Weights { len: 3 },
                "[0.4, 0.3, 0.3]",
                true,
                "LSTM, random forest, linear baseline; sum 1",
            ),
            f(
                "prediction_horizon_minutes",
                Kind::Int { min: 1, max: 1440 },
                "45",
                false,
                "Horizon of the predicted return",
            ),
            f(
                "confidence_threshold",
                Kind::Float { min: 0.0, max: 1.0 },
                "0.8",
                true,
                "Smallest confidence a signal is published with",
            ),
            f(
                "market_regime_detection",
                Kind::Bool,
                "true",
                true,
                "Classify volatility regimes",
            ),
        ],
    },
    Section {
        name: "features",
        fields: &[
            f(
                "pairs",
                Kind::Symbols,
                r#"["SOL/USDC"]"#,
                false,
                "Pairs modelled (each its own features and models)",
            ),
            f(
                "return_windows_s",
                Kind::IntList {
                    min: 1,
                    max: 86_400,
                },
                "[60, 300, 900]",
                false,
                "Windows of the return and volatility features",
            ),
            f(
                "retrain_interval_minutes",
                Kind::Int { min: 5, max: 1440 },
                "60",
                true,
                "Walk-forward retraining period",
            ),
        ],
    },
];

const PORTFOLIO: &[Section] = &[
    Section {
        name: "portfolio",
        fields: &[
            f(
                "target_weights",
                Kind::WeightMap,
                r#"{"SOL": 0.5, "USDC": 0.5}"#,
                true,
                "Target share of value per token",
            ),
            f(
                "initial_balances",
                Kind::AmountMap,
                r#"{"SOL": 100.0, "USDC": 15000.0, "JUP": 10000.0}"#,
                false,
                "Paper wallet at start, token units (live mode reads token accounts)",
            ),
            f(
                "base_currency",
                Kind::OneOf(&["USD", "SOL"]),
                r#""USD""#,
                true,
                "Currency values are marked in",
            ),
        ],
    },
    Section {
        name: "rebalance",
        fields: &[
            f(
                "threshold_pct",
                Kind::Float {
                    min: 0.5,
                    max: 50.0,
                },
                "5.0",
                true,
                "Drift from target that triggers a plan",
            ),
            f(
                "min_trade_usd",
                Kind::Float {
                    min: 1.0,
                    max: 100_000.0,
                },
                "50.0",
                true,
                "Smallest rebalancing trade",
            ),
            f(
                "interval_minutes",
                Kind::Int { min: 1, max: 1440 },
                "60",
                true,
                "Planning period",
            ),
        ],
    },
    Section {
        name: "risk_management",
        fields: &[
            f(
                "max_exposure_pct_per_token",
                Kind::Float {
                    min: 1.0,
                    max: 100.0,
                },
                "60.0",
                true,
                "Exposure above which an alert fires",
            ),
            f(
                "max_daily_loss_usd",
                Kind::Float {
                    min: 100.0,
                    max: 10_000.0,
                },
                "1000.0",
                true,
                "Daily loss that raises an alert",
            ),
        ],
    },
];

const DASHBOARD: &[Section] = &[Section {
    name: "view",
    fields: &[
        f(
            "pairs",
            Kind::Symbols,
            r#"["SOL/USDC", "SOL/USDT", "JUP/USDC", "BONK/SOL"]"#,
            false,
            "Pairs shown",
        ),
        f(
            "dexs",
            Kind::SubsetOf(DEXS),
            r#"["Orca", "Raydium"]"#,
            false,
            "Venues compared",
        ),
        f(
            "top_opportunities",
            Kind::Int { min: 1, max: 100 },
            "10",
            true,
            "Opportunities listed",
        ),
        f(
            "refresh_ms",
            Kind::Int {
                min: 100,
                max: 60_000,
            },
            "1000",
            true,
            "Publication period",
        ),
        f(
            "alert_spread_bps",
            Kind::Int {
                min: 1,
                max: 10_000,
            },
            "40",
            true,
            "A pair whose spread across venues is above this is in alert",
        ),
        f(
            "series_points",
            Kind::Int {
                min: 10,
                max: 3_600,
            },
            "120",
            true,
            "Price samples kept per pair (one per publication)",
        ),
    ],
}];

/// The parameter sections of a bot type.
pub fn sections(bot_type: BotType) -> &'static [Section] {
    match bot_type {
        BotType::EnhancedArbitrage => ENHANCED,
        BotType::TriangularArbitrage => TRIANGULAR,
        BotType::FlashLoanArbitrage => FLASH_LOAN,
        BotType::CrossChainArbitrage => CROSS_CHAIN,
        BotType::MlAnalytics => ML,
        BotType::PortfolioManager => PORTFOLIO,
        BotType::RealTimeDashboard => DASHBOARD,
    }
}
