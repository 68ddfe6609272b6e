//! The exchange-side test doubles: [`rpc_sim`], the market simulator behind Solana's JSON-RPC
//! and websocket pubsub wire formats (with faults: 429s, dropped connections, malformed
//! notifications, a paused market), and behind the `yellowstone` feature [`geyser`], the same
//! market over the Yellowstone gRPC (Geyser) protocol. The feeds, `up`, `rpc-sim` and the tests
//! run against them.

#![warn(missing_docs)]

#[cfg(feature = "yellowstone")]
pub mod geyser;
pub mod rpc_sim;
