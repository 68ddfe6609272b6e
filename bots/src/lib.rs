//! The bots: the runtime (ingress, pinned threads, the strategy loop), the control endpoint
//! and the bot process, the seven bot types, the feeds, live execution, the Solana edge and
//! the simulators. The types that cross process boundaries live in `sniperforge-protocol`;
//! the common ones are re-exported here.

pub mod bot;
pub mod cross_chain;
pub mod dashboard;
pub mod feed;
pub mod live;
pub mod ml;
pub mod portfolio;
pub mod process;
pub mod rpc_sim;
pub mod runtime;
pub mod solana;
#[cfg(feature = "yellowstone")]
pub mod yellowstone;

pub use sniperforge_protocol::config::{
    Change, ConfigError, ValidatedConfig, changes, markdown_reference, parse, schema, template,
    validate,
};
pub use sniperforge_protocol::wire::{
    BotConfig, BotMetrics, BotStatus, BotType, Environment, Resources, StageLatency,
    TransitionError,
};
