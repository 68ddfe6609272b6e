//! What goes into a strategy and what comes out: events, opportunities, orders, fills,
//! decisions, stage stamps and counters.

use crate::cycles::CycleId;
use crate::market::AccountUpdate;
use crate::pubkey::Pubkey;

/// A profitable route, sized and confirmed with exact quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opportunity {
    /// The route.
    pub cycle: CycleId,
    /// Input, in base units of the start mint.
    pub amount_in: u64,
    /// Exact output the programs would pay.
    pub expected_out: u64,
    /// `expected_out − amount_in`.
    pub profit: u64,
    /// Profit relative to the input.
    pub profit_bps: u32,
    /// Newest slot among the route's pool states.
    pub slot: u64,
    /// When it was found (ns).
    pub detected_at: u64,
}

/// An order sent to the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// Sequence number.
    pub id: u64,
    /// What was found.
    pub opportunity: Opportunity,
    /// Output below which the route fails.
    pub min_out: u64,
    /// Ingress time of the update that triggered it.
    pub received_at: u64,
    /// When the risk gates passed it.
    pub decided_at: u64,
    /// When the paper executor fills it.
    pub due_at: u64,
}

/// The paper executor's result for an order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    /// The order.
    pub order: Order,
    /// Output at fill time (re-quoted exactly), or `None` when the route would fail.
    pub realised_out: Option<u64>,
    /// Profit in the start mint's base units (0 when failed).
    pub pnl: i128,
    /// Profit in USD at reference prices.
    pub pnl_usd: f64,
    /// The route cost booked against the profit (`route_fee_bps` of the input, rounded up: a
    /// flash loan's fee), start-mint base units (0 when failed: nothing was charged). Pool fees
    /// are inside the quoted amounts; the network's are not modelled.
    pub fee: u64,
    /// [`Fill::fee`] in USD at reference prices.
    pub fee_usd: f64,
    /// The input in USD at reference prices (the trade's volume; 0 when failed).
    pub volume_usd: f64,
    /// The live transaction's signature (`None` for a paper fill or one that was never signed).
    pub signature: Option<[u8; 64]>,
    /// When it was booked.
    pub executed_at: u64,
}

/// Why a confirmed opportunity did not execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Below `min_profit_bps`.
    ProfitBps,
    /// Below the base mint's `min_profit`.
    ProfitAbsolute,
    /// A pool state older than `max_state_age_slots`.
    StaleState,
    /// `max_concurrent_trades` orders already in flight.
    Concurrency,
    /// Confidence (freshness × depth × quote stability) below `min_confidence`.
    Confidence,
}

impl Rejection {
    /// Every gate, in the order the strategy checks them.
    pub const ALL: [Rejection; 5] = [
        Rejection::StaleState,
        Rejection::Concurrency,
        Rejection::ProfitBps,
        Rejection::ProfitAbsolute,
        Rejection::Confidence,
    ];

    /// The gate's name in metrics and reports.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::ProfitBps => "profit_bps",
            Rejection::ProfitAbsolute => "profit_absolute",
            Rejection::StaleState => "stale_state",
            Rejection::Concurrency => "concurrency",
            Rejection::Confidence => "confidence",
        }
    }

    /// The custom metric that counts it (`rejected_<name>`).
    pub fn metric(self) -> &'static str {
        match self {
            Rejection::ProfitBps => "rejected_profit_bps",
            Rejection::ProfitAbsolute => "rejected_profit_absolute",
            Rejection::StaleState => "rejected_stale_state",
            Rejection::Concurrency => "rejected_concurrency",
            Rejection::Confidence => "rejected_confidence",
        }
    }
}

/// What the strategy decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send this order.
    Execute(Order),
    /// A confirmed opportunity the risk gates stopped.
    Rejected {
        /// What was found.
        opportunity: Opportunity,
        /// Which gate.
        reason: Rejection,
    },
    /// The paper executor booked (or failed) an order.
    Filled(Fill),
}

/// Input to the strategy.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An account changed.
    Account(AccountUpdate),
    /// The cluster reached a slot (with its unix time).
    Slot {
        /// Slot.
        slot: u64,
        /// Cluster unix time.
        unix_timestamp: i64,
    },
    /// A reference USD price moved.
    Price {
        /// Mint.
        mint: Pubkey,
        /// USD per whole token.
        usd: f64,
    },
    /// Time passed (settles due paper fills).
    Tick,
}

/// Times of the stages of the last account update processed (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamps {
    /// Ingress.
    pub received_at: u64,
    /// Decoded and applied.
    pub decoded_at: u64,
    /// Detection and sizing done.
    pub detected_at: u64,
    /// Risk gates done (equal to `detected_at` when nothing was found).
    pub decided_at: u64,
}

/// Counters of the strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Account updates received.
    pub updates: u64,
    /// Updates ignored as stale or out of order.
    pub stale: u64,
    /// Updates that failed to decode.
    pub decode_errors: u64,
    /// Cycles evaluated.
    pub cycles_evaluated: u64,
    /// Cycles whose composed curve was profitable.
    pub candidates: u64,
    /// Candidates the exact quotes confirmed.
    pub opportunities: u64,
    /// Opportunities the risk gates stopped.
    pub rejected: u64,
    /// Orders sent.
    pub executed: u64,
    /// Orders filled.
    pub filled: u64,
    /// Orders whose route failed its minimum-out.
    pub failed: u64,
    /// Candidates through a changed pool left unsized because a better-ranked route through
    /// that pool was ordered on the same update (it trades the same dislocation), or stopped
    /// by the orders-in-flight gate that stops every route alike.
    pub overlapping: u64,
    /// Exact sizings that took the closed form's optimum (every hop follows its curve up to it).
    pub sized_at_optimum: u64,
    /// Exact sizings by Brent's search (a hop leaves its curve before the optimum).
    pub sized_by_search: u64,
    /// Exact sizings that scanned every size of a small bracket (at most 2,049).
    pub sized_by_scan: u64,
    /// Exact route passes (exact-in quotes, and the exact-out pass of the trim of rounding)
    /// of the sizings at the optimum, by search and by scan, with the cap's halvings.
    pub quotes_at_optimum: u64,
    /// See `quotes_at_optimum`.
    pub quotes_by_search: u64,
    /// See `quotes_at_optimum`.
    pub quotes_by_scan: u64,
}
