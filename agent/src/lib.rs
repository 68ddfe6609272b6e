//! Node agent: registers its node with the gateway, holds a blocking query for the node's desired
//! state, and reconciles bots through a supervisor backend — child processes (the embedded
//! default), systemd units over D-Bus, or Nomad jobs — reporting states, interval histograms and
//! log lines every second.

#![warn(missing_docs)]

pub mod agent;
pub mod backend;
pub mod backtests;
pub mod files;
pub mod gateway;
pub mod http;
pub mod limits;
pub mod nomad;
pub mod process;
pub mod systemd;

pub use agent::{Agent, AgentOptions, DRAIN_DEADLINE, READY_DEADLINE, installed_build, local_node};
pub use backend::{Backend, BackendError, BotSpec, Instance, UnitState};
pub use gateway::GatewayClient;
pub use nomad::NomadBackend;
pub use process::ProcessBackend;
pub use systemd::SystemdBackend;
