//! The bots: the runtime (pinned threads, the strategy loop), the control endpoint and the bot
//! process, the seven bot types and the feed sources. The types that cross process boundaries
//! live in `sniperforge-protocol` (the common ones are re-exported here), the Solana edge and
//! live execution in `sniperforge-solana`, the simulated exchange in `sniperforge-sim`.

#![warn(missing_docs)]

pub mod backtest;
pub mod bot;
pub mod cross_chain;
pub mod dashboard;
pub mod feed;
pub mod lease;
pub mod ml;
pub mod portfolio;
pub mod process;
pub mod runtime;

pub use sniperforge_protocol::config::{
    Change, ConfigError, ValidatedConfig, changes, markdown_reference, parse, schema, template,
    validate,
};
pub use sniperforge_protocol::wire::{
    BotConfig, BotMetrics, BotStatus, BotType, Environment, Resources, StageLatency,
    TransitionError,
};
