//! The Yellowstone gRPC (Geyser) stream of a Solana feed.
//!
//! Client: the snapshot and discovery stay on the node's JSON-RPC (`crate::solana`); updates come
//! over one `Subscribe` stream with three kinds of filter: the accounts by pubkey, each
//! Whirlpool's tick arrays by owner and content (a fixed array names its pool at byte 9956, a
//! dynamic one at byte 12: arrays created after the start arrive too), and slots at the feed's
//! commitment. A ping sent after the subscription comes back as a pong only once the server
//! has taken the filters, so the snapshot is taken after the stream is live (what arrives
//! meanwhile waits behind it). Server pings are answered (load balancers drop silent
//! clients). A broken stream is reported at once, then resubscribed from the last slot seen
//! (`from_slot`; without it when the server cannot replay that far) and re-snapshotted. The
//! reader never waits on the strategy: it hands updates to the same coalescing outbox as the
//! websocket reader, so a server that drops lagging clients never sees one here.
//!
//! The Geyser service the tests and `rpc-sim --grpc-listen` serve is `sniperforge-sim`'s.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sniperforge_engine::market::AccountUpdate;
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::strategy::Clock as _;
use sniperforge_engine::whirlpool::state::{
    DYNAMIC_TICK_ARRAY_DISCRIMINATOR, FIXED_TICK_ARRAY_LEN,
};
use tonic::Status;
use yellowstone_grpc_client::{ClientTlsConfig, GeyserGrpcClient, GeyserGrpcClientError};
use yellowstone_grpc_proto::geyser::subscribe_request_filter_accounts_filter::Filter as AccountsFilter;
use yellowstone_grpc_proto::geyser::subscribe_request_filter_accounts_filter_memcmp::Data as MemcmpData;
use yellowstone_grpc_proto::geyser::subscribe_update::UpdateOneof;
use yellowstone_grpc_proto::geyser::{
    CommitmentLevel, SlotStatus, SubscribeRequest, SubscribeRequestFilterAccounts,
    SubscribeRequestFilterAccountsFilter, SubscribeRequestFilterAccountsFilterMemcmp,
    SubscribeRequestFilterSlots, SubscribeRequestPing, SubscribeUpdate,
};

use crate::SolanaError;
use crate::{
    FeedShared, GrpcOptions, Reader, SILENCE, Secret, To, next_within_silence, snapshot_behind,
};
use sniperforge_engine::feed::FeedEvent;

/// Every filter this feed names starts so (an update for no filter of ours is malformed).
const FILTER_PREFIX: &str = "sniperforge-";
/// The name of the feed's accounts filter.
pub const ACCOUNTS_FILTER: &str = "sniperforge-accounts";
const SLOTS_FILTER: &str = "sniperforge-slots";
/// The id of the ping whose pong says the subscription's filters are in force.
const CONFIRM_PING: i32 = 1;
/// The id of pings that answer the server's.
const ANSWER_PING: i32 = 2;
/// Byte offset of the pool in a fixed (9988-byte) tick array, and in a dynamic one.
const FIXED_TICK_ARRAY_WHIRLPOOL_AT: u64 = 9_956;
const DYNAMIC_TICK_ARRAY_WHIRLPOOL_AT: u64 = 12;

/// A checked Geyser endpoint.
#[derive(Clone)]
pub(crate) struct Endpoint {
    url: String,
    x_token: Option<Secret>,
    tls: Option<ClientTlsConfig>,
}

impl Endpoint {
    /// The endpoint `grpc` names; https:// trusts the system's CAs and those in `ca`.
    pub(crate) fn new(grpc: &GrpcOptions, ca: Option<&Path>) -> Result<Self, SolanaError> {
        let tls = if grpc.url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(ca) = ca {
                let pem = std::fs::read(ca)
                    .map_err(|e| SolanaError::Config(format!("--rpc-ca {}: {e}", ca.display())))?;
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            Some(tls)
        } else {
            None
        };
        Ok(Self {
            url: grpc.url.clone(),
            x_token: grpc.x_token.clone(),
            tls,
        })
    }

    async fn connect(&self) -> Result<GeyserGrpcClient, String> {
        let fail = |e: &dyn std::fmt::Display| format!("yellowstone {}: {e}", self.url);
        let mut builder = GeyserGrpcClient::build_from_shared(self.url.clone())
            .map_err(|e| fail(&e))?
            .x_token(self.x_token.as_ref().map(|t| t.0.clone()))
            .map_err(|e| fail(&e))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .max_decoding_message_size(64 << 20);
        if let Some(tls) = &self.tls {
            builder = builder.tls_config(tls.clone()).map_err(|e| fail(&e))?;
        }
        builder.connect().await.map_err(|e| fail(&e))
    }
}

/// The commitment and the slot status that stands for it.
fn commitment(name: &str) -> (CommitmentLevel, SlotStatus) {
    match name {
        "processed" => (CommitmentLevel::Processed, SlotStatus::SlotProcessed),
        "finalized" => (CommitmentLevel::Finalized, SlotStatus::SlotFinalized),
        _ => (CommitmentLevel::Confirmed, SlotStatus::SlotConfirmed),
    }
}

fn memcmp(offset: u64, bytes: &[u8]) -> SubscribeRequestFilterAccountsFilter {
    SubscribeRequestFilterAccountsFilter {
        filter: Some(AccountsFilter::Memcmp(
            SubscribeRequestFilterAccountsFilterMemcmp {
                offset,
                data: Some(MemcmpData::Bytes(bytes.to_vec())),
            },
        )),
    }
}

/// The feed's subscription: `keys` by pubkey, the tick arrays of `whirlpools` by owner and
/// content, slots at `level`, replayed from `from_slot` when given.
pub fn subscription(
    keys: &[Pubkey],
    whirlpools: &[Pubkey],
    level: CommitmentLevel,
    from_slot: Option<u64>,
) -> SubscribeRequest {
    let mut accounts = HashMap::new();
    accounts.insert(
        ACCOUNTS_FILTER.to_string(),
        SubscribeRequestFilterAccounts {
            account: keys.iter().map(ToString::to_string).collect(),
            ..Default::default()
        },
    );
    let whirlpool = programs::ORCA_WHIRLPOOL.to_string();
    for (i, pool) in whirlpools.iter().enumerate() {
        accounts.insert(
            format!("{FILTER_PREFIX}ticks-{i}"),
            SubscribeRequestFilterAccounts {
                owner: vec![whirlpool.clone()],
                filters: vec![
                    SubscribeRequestFilterAccountsFilter {
                        filter: Some(AccountsFilter::Datasize(FIXED_TICK_ARRAY_LEN as u64)),
                    },
                    memcmp(FIXED_TICK_ARRAY_WHIRLPOOL_AT, &pool.0),
                ],
                ..Default::default()
            },
        );
        accounts.insert(
            format!("{FILTER_PREFIX}dynamic-ticks-{i}"),
            SubscribeRequestFilterAccounts {
                owner: vec![whirlpool.clone()],
                filters: vec![
                    memcmp(0, &DYNAMIC_TICK_ARRAY_DISCRIMINATOR),
                    memcmp(DYNAMIC_TICK_ARRAY_WHIRLPOOL_AT, &pool.0),
                ],
                ..Default::default()
            },
        );
    }
    let mut slots = HashMap::new();
    slots.insert(
        SLOTS_FILTER.to_string(),
        SubscribeRequestFilterSlots {
            filter_by_commitment: Some(true),
            interslot_updates: Some(false),
        },
    );
    SubscribeRequest {
        accounts,
        slots,
        commitment: Some(level as i32),
        from_slot,
        ..Default::default()
    }
}

fn ping(id: i32) -> SubscribeRequest {
    SubscribeRequest {
        ping: Some(SubscribeRequestPing { id }),
        ..Default::default()
    }
}

type Updates = yellowstone_grpc_client::GeyserStream;

/// The next update (`None`: stopping), or why the stream is dead.
async fn next_update(
    stream: &mut Updates,
    stop: &std::sync::atomic::AtomicBool,
    ingress: Option<&mut sniperforge_engine::ingress::Ingress>,
) -> Result<Option<SubscribeUpdate>, String> {
    match next_within_silence(stream, stop, ingress).await? {
        None => Ok(None),
        Some(Err(status)) => Err(status_words(&status)),
        Some(Ok(update)) => Ok(Some(update)),
    }
}

fn status_words(status: &Status) -> String {
    format!("gRPC {:?}: {}", status.code(), status.message())
}

/// What an update asks of the session beyond the outbox.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Nothing,
    /// The server pinged: answer it.
    Ping,
    /// A pong to our ping `id`.
    Pong(i32),
}

/// Applies one update, stamped on arrival: an account becomes an event (or waits in `held`
/// until the snapshot is in), a slot at the feed's commitment confirms the pools (dropped
/// while held), a malformed update is counted and skipped.
fn handle_update(
    shared: &FeedShared,
    received_at: u64,
    status: SlotStatus,
    update: SubscribeUpdate,
    to: To<'_>,
) -> Got {
    match update.update_oneof {
        Some(UpdateOneof::Account(account)) => {
            if !update.filters.iter().any(|f| f.starts_with(FILTER_PREFIX)) {
                shared.malformed(format!(
                    "an account update for filters {:?}, none of ours",
                    update.filters
                ));
                return Got::Nothing;
            }
            let slot = account.slot;
            let Some(info) = account.account else {
                shared.malformed(format!(
                    "an account update of slot {slot} without its account"
                ));
                return Got::Nothing;
            };
            let key = |bytes: &[u8], what: &str| {
                <[u8; 32]>::try_from(bytes).map(Pubkey).map_err(|_| {
                    format!(
                        "an account update whose {what} has {} bytes, not 32",
                        bytes.len()
                    )
                })
            };
            let (pubkey, owner) = match (key(&info.pubkey, "pubkey"), key(&info.owner, "owner")) {
                (Ok(p), Ok(o)) => (p, o),
                (Err(e), _) | (_, Err(e)) => {
                    shared.malformed(e);
                    return Got::Nothing;
                }
            };
            let u = shared.stamp(
                AccountUpdate {
                    pubkey,
                    owner,
                    slot,
                    write_version: 0,
                    data: info.data,
                    received_at: 0,
                },
                received_at,
            );
            shared.notifications.fetch_add(1, Ordering::Relaxed);
            // The newest slot seen is where a broken stream resumes.
            shared.slot.fetch_max(slot, Ordering::Relaxed);
            match to {
                To::Held(held) => held.push(u),
                To::Ingress(ingress) => ingress.push(FeedEvent::Account(u)),
            }
            Got::Nothing
        }
        Some(UpdateOneof::Slot(s)) => {
            if s.status == status as i32 {
                shared.slot.fetch_max(s.slot, Ordering::Relaxed);
                if let To::Ingress(ingress) = to {
                    ingress.push(FeedEvent::Slot(s.slot));
                }
            }
            Got::Nothing
        }
        Some(UpdateOneof::Ping(_)) => Got::Ping,
        Some(UpdateOneof::Pong(p)) => Got::Pong(p.id),
        Some(other) => {
            let kind = match other {
                UpdateOneof::Transaction(_) => "transaction",
                UpdateOneof::TransactionStatus(_) => "transaction status",
                UpdateOneof::Block(_) => "block",
                UpdateOneof::BlockMeta(_) => "block meta",
                UpdateOneof::Entry(_) => "entry",
                UpdateOneof::BlockFooter(_) => "block footer",
                UpdateOneof::EntryUpdateParent(_) => "entry parent",
                _ => "unknown",
            };
            shared.malformed(format!(
                "a {kind} update, which this feed never subscribes to"
            ));
            Got::Nothing
        }
        None => {
            shared.malformed("an update with nothing in it".into());
            Got::Nothing
        }
    }
}

/// One Geyser session: subscribe (from the last slot seen, after a break), wait for the
/// pong that says the filters are in force, snapshot behind the stream, stream. `Ok` only when
/// stopped.
pub(crate) async fn session(r: &mut Reader, at: &Endpoint) -> Result<(), String> {
    let mut client = at.connect().await?;
    let (level, status) = commitment(&r.commitment);
    let mut from_slot = Some(r.shared.slot.load(Ordering::Relaxed)).filter(|s| *s > 0);
    let mut held = Vec::new();
    // Subscribe and wait for the confirming pong; a server that cannot replay from the slot
    // asked is asked again without it (the snapshot covers the gap).
    let (mut sink, mut stream) = loop {
        let (mut sink, mut stream) = client
            .subscribe_with_request(Some(subscription(&r.keys, &r.whirlpools, level, from_slot)))
            .await
            .map_err(|e| match e {
                GeyserGrpcClientError::TonicStatus(s) => format!("subscribe: {}", status_words(&s)),
                other => format!("subscribe: {other}"),
            })?;
        sink.send(ping(CONFIRM_PING))
            .await
            .map_err(|e| format!("subscribe: sending the confirming ping: {e}"))?;
        let confirmed = loop {
            let next = tokio::time::timeout(SILENCE, stream.next()).await;
            let update = match next {
                Err(_) => {
                    break Err(format!("subscribe: no pong within {} s", SILENCE.as_secs()));
                }
                Ok(None) => break Err("subscribe: the server ended the stream".into()),
                // The snapshot that follows covers any gap, so a subscription that resumed from a
                // slot and failed before its pong (typically InvalidArgument: the server keeps
                // no history that far back) is tried once more without it.
                Ok(Some(Err(s))) if from_slot.is_some() => {
                    tracing::warn!(code = ?s.code(), error = %s.message(), "yellowstone: resuming from slot refused; resubscribing without from_slot");
                    break Ok(false);
                }
                Ok(Some(Err(s))) => break Err(format!("subscribe: {}", status_words(&s))),
                Ok(Some(Ok(u))) => u,
            };
            let now = r.clock.now_ns();
            if handle_update(&r.shared, now, status, update, To::Held(&mut held))
                == Got::Pong(CONFIRM_PING)
            {
                break Ok(true);
            }
        };
        match confirmed? {
            true => break (sink, stream),
            false => {
                from_slot = None;
                held.clear();
            }
        }
    };
    let (shared, keys, stop, clock) = (&r.shared, &r.keys, &r.stop, r.clock);
    let mut answers = Vec::new();
    snapshot_behind(
        &mut r.rpc,
        keys,
        &r.commitment,
        shared,
        &mut r.ingress,
        clock,
        held,
        async |held| {
            let Some(update) = next_update(&mut stream, stop, None).await? else {
                // Stopping: the snapshot call ends soon; no spinning meanwhile.
                tokio::time::sleep(Duration::from_millis(20)).await;
                return Ok(());
            };
            if handle_update(shared, clock.now_ns(), status, update, To::Held(held)) == Got::Ping {
                answers.push(ping(ANSWER_PING));
            }
            Ok(())
        },
    )
    .await?;
    for answer in answers {
        sink.send(answer)
            .await
            .map_err(|e| format!("answering a ping: {e}"))?;
    }
    loop {
        let Some(update) = next_update(&mut stream, &r.stop, Some(&mut r.ingress)).await? else {
            return Ok(());
        };
        let now = r.clock.now_ns();
        let got = handle_update(&r.shared, now, status, update, To::Ingress(&mut r.ingress));
        if r.ingress.take_overflow() {
            return Err(crate::overflowed());
        }
        if got == Got::Ping {
            sink.send(ping(ANSWER_PING))
                .await
                .map_err(|e| format!("answering a ping: {e}"))?;
        }
    }
}

/// An update with no filter names around `update`.
pub fn bare_update(update: UpdateOneof) -> SubscribeUpdate {
    SubscribeUpdate {
        filters: Vec::new(),
        update_oneof: Some(update),
        created_at: None,
    }
}

/// The malformed updates a client must survive, in turn: a short pubkey under the client's
/// first filter, an update for a filter that is not the client's, an empty update (rpc-sim's
/// malformed-notification faults send them; the client's tests feed them).
pub fn malformed_update(n: usize, first_filter: &str) -> SubscribeUpdate {
    use yellowstone_grpc_proto::geyser::{SubscribeUpdateAccount, SubscribeUpdateAccountInfo};
    let account = |pubkey: Vec<u8>| {
        UpdateOneof::Account(SubscribeUpdateAccount {
            account: Some(SubscribeUpdateAccountInfo {
                pubkey,
                owner: programs::SPL_TOKEN.0.to_vec(),
                data: vec![0; 165],
                ..Default::default()
            }),
            slot: 1,
            ..Default::default()
        })
    };
    match n % 3 {
        0 => SubscribeUpdate {
            filters: vec![first_filter.to_string()],
            update_oneof: Some(account(vec![7; 31])),
            created_at: None,
        },
        1 => SubscribeUpdate {
            filters: vec!["somebody-else".into()],
            update_oneof: Some(account(vec![7; 32])),
            created_at: None,
        },
        _ => SubscribeUpdate::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yellowstone_grpc_proto::geyser::{
        SubscribeUpdatePing, SubscribeUpdatePong, SubscribeUpdateSlot,
    };

    use super::bare_update as bare;

    #[test]
    fn malformed_updates_are_counted_and_skipped_and_pings_surface() {
        let shared = FeedShared::default();
        let (mut ingress, _egress) = sniperforge_engine::ingress::channel(16);
        let status = SlotStatus::SlotConfirmed;
        for n in 0..3 {
            assert_eq!(
                handle_update(
                    &shared,
                    1,
                    status,
                    malformed_update(n, ACCOUNTS_FILTER),
                    To::Ingress(&mut ingress)
                ),
                Got::Nothing
            );
        }
        assert_eq!(shared.malformed.load(Ordering::Relaxed), 3);
        assert_eq!(shared.notifications.load(Ordering::Relaxed), 0);
        assert_eq!(
            handle_update(
                &shared,
                1,
                status,
                bare(UpdateOneof::Ping(SubscribeUpdatePing {})),
                To::Ingress(&mut ingress)
            ),
            Got::Ping
        );
        assert_eq!(
            handle_update(
                &shared,
                1,
                status,
                bare(UpdateOneof::Pong(SubscribeUpdatePong { id: 7 })),
                To::Ingress(&mut ingress)
            ),
            Got::Pong(7)
        );
        // A processed slot does not confirm a confirmed feed; a confirmed one does.
        let slot = |status: SlotStatus| {
            bare(UpdateOneof::Slot(SubscribeUpdateSlot {
                slot: 40,
                status: status as i32,
                ..Default::default()
            }))
        };
        handle_update(
            &shared,
            1,
            status,
            slot(SlotStatus::SlotProcessed),
            To::Ingress(&mut ingress),
        );
        assert_eq!(shared.slot.load(Ordering::Relaxed), 0);
        handle_update(
            &shared,
            1,
            status,
            slot(SlotStatus::SlotConfirmed),
            To::Ingress(&mut ingress),
        );
        assert_eq!(shared.slot.load(Ordering::Relaxed), 40);
    }
}
