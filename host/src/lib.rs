//! What every SniperForge process needs from its host, with no Solana, engine or bot code:
//! outbound connections (URLs, rustls on the system's CA store, one stream type for TCP and
//! TLS), files only their owner reads (and the bots' control secrets in them), and the CPU mask.

#![warn(missing_docs)]

pub mod build;
pub mod clock;
pub mod cpus;
pub mod fence;
pub mod files;
pub mod net;
pub mod notify;
