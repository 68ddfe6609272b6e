//! Bot types, configs (templates, JSON Schemas, validation with dotted paths) and the wire types
//! the agent and the gateway share.

pub mod bot;
pub mod config;
pub mod cross_chain;
pub mod dashboard;
pub mod feed;
pub mod live;
pub mod ml;
pub mod net;
pub mod portfolio;
pub mod process;
pub mod rpc_sim;
pub mod runtime;
pub mod solana;
pub mod spec;
pub mod wire;
#[cfg(feature = "yellowstone")]
pub mod yellowstone;

pub use config::{
    Change, ConfigError, ValidatedConfig, changes, markdown_reference, parse, schema, template,
    validate,
};
pub use wire::{
    BotConfig, BotMetrics, BotStatus, BotType, Environment, Resources, StageLatency,
    TransitionError,
};
