//! What a strategy is configured with: base mints, mint prices, risk limits.

use crate::pubkey::Pubkey;

/// A mint routes may start and end in, with its size limits in base units.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseMint {
    /// Mint address.
    pub mint: Pubkey,
    /// Largest input per trade.
    pub max_trade: u64,
    /// Smallest absolute profit worth a trade.
    pub min_profit: u64,
}

/// A mint's decimals and reference USD price, for PnL in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct MintInfo {
    /// Mint address.
    pub mint: Pubkey,
    /// Decimals.
    pub decimals: u8,
    /// Reference price in USD per whole token.
    pub usd_price: f64,
}

/// Risk gates applied before anything executes.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskLimits {
    /// Smallest profit relative to the input, in basis points.
    pub min_profit_bps: u32,
    /// Oldest pool state (in slots behind the newest slot seen) a route may trade on.
    pub max_state_age_slots: u64,
    /// Orders in flight at once.
    pub max_concurrent_trades: usize,
    /// Smallest confidence a trade needs, 0 to 1 (0: no confidence gate). Confidence is the
    /// product of state freshness (1 − age / (max age + 1)), depth (1 − the largest price impact
    /// of a hop) and quote stability (exact profit over the closed-form estimate, at most 1).
    pub min_confidence: f64,
}

/// Strategy configuration (validated by the bot config layer).
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyConfig {
    /// Mints routes start and end in.
    pub base_mints: Vec<BaseMint>,
    /// Longest route, 2 to 4 pools.
    pub max_hops: usize,
    /// Risk gates.
    pub risk: RiskLimits,
    /// Paper executor: time from decision to fill.
    pub paper_latency_ns: u64,
    /// Minimum-out below the expected output, in basis points.
    pub slippage_bps: u32,
    /// A cost charged on every route's input, in basis points (a flash loan's fee); profits
    /// are net of it.
    pub route_fee_bps: u32,
    /// Decimals and USD prices of the mints.
    pub mints: Vec<MintInfo>,
}
