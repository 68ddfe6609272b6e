//! What crosses SniperForge's process boundaries, typed once for every side: ids, bot types and
//! lifecycle states, the bot's control-endpoint bodies (`/status`, `/health`, `/hdr`), the node
//! agents' protocol with the gateway and its limits, latency snapshots (HdrHistogram V2), CPU
//! lists, and the configuration specs with their validation, templates and JSON Schemas.
//!
//! Serde, serde_json and hdrhistogram only: no I/O, so the agent and the gateway build it without
//! the engine, the Solana edge or the bots.

#![warn(missing_docs)]

pub mod backtests;
pub mod config;
pub mod control;
pub mod cpus;
pub mod fleet;
pub mod ids;
pub mod params;
pub mod spec;
pub mod strict;
pub mod telemetry;
#[cfg(test)]
mod typescript;
pub mod wire;

pub use config::{
    Change, ConfigError, ValidatedConfig, changes, markdown_reference, parse, schema, template,
    validate,
};
pub use ids::{BotId, IdError, NodeId};
pub use params::Params;
pub use wire::{
    BotConfig, BotMetrics, BotStatus, BotType, Environment, HealthPolicy, Resources, StageLatency,
    TransitionError,
};
