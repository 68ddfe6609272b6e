//! `GeyserSim`: the Geyser service over rpc-sim (accounts and slots filters with memcmp and
//! datasize, commitment, `from_slot` replay from a bounded history, pings both ways, `x-token`,
//! and the rpc-sim faults).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::Stream;
use sniperforge_engine::pubkey::Pubkey;
use tonic::{Request, Response, Status, Streaming};
use yellowstone_grpc_proto::geyser::geyser_server::{Geyser, GeyserServer};
use yellowstone_grpc_proto::geyser::subscribe_request_filter_accounts_filter::Filter as AccountsFilter;
use yellowstone_grpc_proto::geyser::subscribe_request_filter_accounts_filter_memcmp::Data as MemcmpData;
use yellowstone_grpc_proto::geyser::subscribe_update::UpdateOneof;
use yellowstone_grpc_proto::geyser::{
    CommitmentLevel, GetBlockHeightRequest, GetBlockHeightResponse, GetLatestBlockhashRequest,
    GetLatestBlockhashResponse, GetSlotRequest, GetSlotResponse, GetVersionRequest,
    GetVersionResponse, IsBlockhashValidRequest, IsBlockhashValidResponse, PingRequest,
    PongResponse, SlotStatus, SubscribeDeshredRequest, SubscribeGossipRequest,
    SubscribeReplayInfoRequest, SubscribeReplayInfoResponse, SubscribeRequest, SubscribeUpdate,
    SubscribeUpdateAccount, SubscribeUpdateAccountInfo, SubscribeUpdateDeshred,
    SubscribeUpdateGossip, SubscribeUpdatePing, SubscribeUpdatePong, SubscribeUpdateSlot,
};

use crate::rpc_sim::{Change, Published, RpcSim};

/// Changes kept for subscribers that resume `from_slot`.
pub const HISTORY: usize = 200_000;
/// How often the server pings each stream.
const SERVER_PING: Duration = Duration::from_secs(2);

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A Geyser service serving an [`RpcSim`]'s accounts and slots.
#[derive(Debug, Clone)]
pub struct GeyserSim {
    sim: Arc<RpcSim>,
    x_token: Option<String>,
}

impl GeyserSim {
    /// A service over `sim` (which keeps its last [`HISTORY`] changes for `from_slot`); requests must
    /// carry `x_token` when one is given.
    pub fn new(sim: Arc<RpcSim>, x_token: Option<String>) -> Self {
        sim.keep_history(HISTORY);
        Self { sim, x_token }
    }

    fn authorise<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let Some(want) = &self.x_token else {
            return Ok(());
        };
        match request.metadata().get("x-token").map(|v| v.to_str()) {
            Some(Ok(got)) if got == want => Ok(()),
            Some(_) => Err(Status::unauthenticated("x-token: not a valid token")),
            None => Err(Status::unauthenticated("x-token: missing")),
        }
    }
}

/// Serves `sim` as a Geyser service on `listener` until the runtime ends.
pub async fn serve(
    sim: Arc<RpcSim>,
    listener: tokio::net::TcpListener,
    x_token: Option<String>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(
            GeyserServer::new(GeyserSim::new(sim, x_token)).max_decoding_message_size(64 << 20),
        )
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
        .await
}

/// Serves `sim` as a Geyser service on a free loopback port (a task on the current runtime);
/// its URL.
pub async fn serve_loopback(sim: Arc<RpcSim>, x_token: Option<String>) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(serve(sim, listener, x_token));
    Ok(url)
}

/// One named accounts filter, parsed.
#[derive(Debug)]
struct AccountsRule {
    name: String,
    accounts: Vec<Pubkey>,
    owners: Vec<Pubkey>,
    datasize: Option<u64>,
    memcmp: Vec<(usize, Vec<u8>)>,
}

impl AccountsRule {
    fn matches(&self, a: &Published) -> bool {
        (self.accounts.is_empty() || self.accounts.contains(&a.pubkey))
            && (self.owners.is_empty() || self.owners.contains(&a.owner))
            && self.datasize.is_none_or(|n| a.data.len() as u64 == n)
            && self
                .memcmp
                .iter()
                .all(|(at, bytes)| a.data.get(*at..at + bytes.len()) == Some(bytes.as_slice()))
    }
}

/// A subscription's filters, as the server applies them.
#[derive(Debug, Default)]
pub(super) struct Subscription {
    accounts: Vec<AccountsRule>,
    slots: Vec<(String, bool)>,
    commitment: i32,
}

impl Subscription {
    pub(super) fn new(request: &SubscribeRequest) -> Result<Self, Status> {
        let bad = |m: String| Status::invalid_argument(format!("failed to create filter: {m}"));
        if !(request.transactions.is_empty()
            && request.transactions_status.is_empty()
            && request.blocks.is_empty()
            && request.blocks_meta.is_empty()
            && request.entry.is_empty()
            && request.block_footer.is_empty())
        {
            return Err(bad("rpc-sim serves accounts and slots only".into()));
        }
        let commitment = request
            .commitment
            .unwrap_or(CommitmentLevel::Processed as i32);
        if CommitmentLevel::try_from(commitment).is_err() {
            return Err(bad(format!(
                "commitment {commitment} is not a commitment level"
            )));
        }
        let key = |k: &String| {
            k.parse::<Pubkey>()
                .map_err(|e| bad(format!("invalid pubkey {k:?}: {e}")))
        };
        let mut accounts = Vec::new();
        for (name, f) in &request.accounts {
            let mut rule = AccountsRule {
                name: name.clone(),
                accounts: f.account.iter().map(key).collect::<Result<_, _>>()?,
                owners: f.owner.iter().map(key).collect::<Result<_, _>>()?,
                datasize: None,
                memcmp: Vec::new(),
            };
            for filter in &f.filters {
                match &filter.filter {
                    Some(AccountsFilter::Datasize(n)) => rule.datasize = Some(*n),
                    Some(AccountsFilter::Memcmp(m)) => {
                        let bytes = match &m.data {
                            Some(MemcmpData::Bytes(b)) => b.clone(),
                            Some(MemcmpData::Base58(s)) => bs58::decode(s)
                                .into_vec()
                                .map_err(|e| bad(format!("memcmp base58 {s:?}: {e}")))?,
                            Some(MemcmpData::Base64(s)) => {
                                use base64::Engine as _;
                                base64::engine::general_purpose::STANDARD
                                    .decode(s)
                                    .map_err(|e| bad(format!("memcmp base64 {s:?}: {e}")))?
                            }
                            None => return Err(bad("memcmp without data".into())),
                        };
                        rule.memcmp.push((m.offset as usize, bytes));
                    }
                    _ => {
                        return Err(bad(format!(
                            "{name}: rpc-sim filters by memcmp and datasize only"
                        )));
                    }
                }
            }
            accounts.push(rule);
        }
        let slots = request
            .slots
            .iter()
            .map(|(name, f)| (name.clone(), f.filter_by_commitment.unwrap_or(false)))
            .collect();
        Ok(Self {
            accounts,
            slots,
            commitment,
        })
    }

    /// What `change` sends this subscriber.
    pub(super) fn updates(&self, change: &Change) -> Vec<SubscribeUpdate> {
        match change {
            Change::Account(a) => {
                let filters: Vec<String> = self
                    .accounts
                    .iter()
                    .filter(|r| r.matches(a))
                    .map(|r| r.name.clone())
                    .collect();
                if filters.is_empty() {
                    return Vec::new();
                }
                vec![SubscribeUpdate {
                    filters,
                    update_oneof: Some(UpdateOneof::Account(SubscribeUpdateAccount {
                        account: Some(SubscribeUpdateAccountInfo {
                            pubkey: a.pubkey.0.to_vec(),
                            lamports: 6_960 * (128 + a.data.len() as u64),
                            owner: a.owner.0.to_vec(),
                            executable: false,
                            rent_epoch: u64::MAX,
                            data: a.data.clone(),
                            write_version: a.write_version,
                            txn_signature: None,
                        }),
                        slot: a.slot,
                        is_startup: false,
                        bank_id: None,
                    })),
                    created_at: None,
                }]
            }
            // The simulator's slots are final at once: each passes every status.
            Change::Slot(slot) => {
                let mut out = Vec::new();
                for (name, by_commitment) in &self.slots {
                    for status in [
                        SlotStatus::SlotProcessed,
                        SlotStatus::SlotConfirmed,
                        SlotStatus::SlotFinalized,
                    ] {
                        if *by_commitment && status as i32 != self.commitment {
                            continue;
                        }
                        out.push(SubscribeUpdate {
                            filters: vec![name.clone()],
                            update_oneof: Some(UpdateOneof::Slot(SubscribeUpdateSlot {
                                slot: *slot,
                                parent: slot.checked_sub(1),
                                status: status as i32,
                                dead_error: None,
                                bank_id: None,
                            })),
                            created_at: None,
                        });
                    }
                }
                out
            }
        }
    }
}

use sniperforge_solana::yellowstone::{bare_update as bare, malformed_update};

/// One subscriber's stream: requests in order (a ping is answered without touching the
/// filters; a new filter set replaces the old, replaying from its `from_slot`), changes
/// through the filters, a ping every 2 s, faults.
async fn stream_updates(
    sim: Arc<RpcSim>,
    mut requests: Streaming<SubscribeRequest>,
    tx: tokio::sync::mpsc::Sender<Result<SubscribeUpdate, Status>>,
) {
    sim.geyser.streams.fetch_add(1, Ordering::Relaxed);
    let epoch = sim.faults.drop_epoch.load(Ordering::Relaxed);
    let mut changes = sim.changes.subscribe();
    let mut filters: Option<Subscription> = None;
    // Changes a replay already sent, not to be sent again from the live queue.
    let mut replayed_to: (u64, u64) = (0, 0);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut last_ping = Instant::now();
    loop {
        let out: Vec<Result<SubscribeUpdate, Status>> = tokio::select! {
            request = requests.message() => match request {
                Ok(Some(request)) => {
                    if let Some(p) = request.ping {
                        sim.geyser.client_pings.fetch_add(1, Ordering::Relaxed);
                        vec![Ok(bare(UpdateOneof::Pong(SubscribeUpdatePong { id: p.id })))]
                    } else {
                        match Subscription::new(&request) {
                            Err(status) => vec![Err(status)],
                            Ok(s) => {
                                if let Ok(mut f) = sim.geyser.from_slots.lock() {
                                    f.push(request.from_slot);
                                }
                                let mut out = Vec::new();
                                if let Some(from) = request.from_slot {
                                    match replay(&sim, &s, from) {
                                        Ok((updates, to)) => {
                                            out.extend(updates.into_iter().map(Ok));
                                            replayed_to = to;
                                        }
                                        Err(status) => out.push(Err(status)),
                                    }
                                }
                                filters = Some(s);
                                out
                            }
                        }
                    }
                }
                Ok(None) | Err(_) => return,
            },
            change = changes.recv() => match change {
                Ok(change) => {
                    let seen = match &change {
                        Change::Account(a) => a.write_version <= replayed_to.0,
                        Change::Slot(s) => *s <= replayed_to.1,
                    };
                    match (&filters, seen) {
                        (Some(f), false) => f.updates(&change).into_iter().map(Ok).collect(),
                        _ => continue,
                    }
                }
                // A client too slow for the stream is cut off, as the Geyser plugin does.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    vec![Err(Status::internal(format!("lagged: {n} updates dropped")))]
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                if sim.faults.drop_epoch.load(Ordering::Relaxed) != epoch {
                    let _ = tx.send(Err(Status::unavailable("rpc-sim: connection dropped"))).await;
                    return;
                }
                let mut out = Vec::new();
                if last_ping.elapsed() >= SERVER_PING {
                    last_ping = Instant::now();
                    out.push(Ok(bare(UpdateOneof::Ping(SubscribeUpdatePing {}))));
                }
                let first = filters
                    .as_ref()
                    .and_then(|f| f.accounts.first())
                    .map_or("", |r| r.name.as_str());
                let mut n = 0;
                while sim.faults.malformed_next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| k.checked_sub(1)).is_ok() {
                    out.push(Ok(malformed_update(n, first)));
                    n += 1;
                }
                out
            }
        };
        let ends = out.iter().any(Result::is_err);
        for item in out {
            if tx.send(item).await.is_err() {
                return;
            }
        }
        if ends {
            // The status goes out with the response's end; the client's requests still in
            // flight are read (for up to 1 s) so the stream is not reset under it.
            drop(tx);
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while let Ok(Some(_)) = requests.message().await {}
            })
            .await;
            return;
        }
    }
}

/// The history's changes from slot `from` on through `filters`, and the newest write version
/// and slot they reach; refused when the history no longer holds that slot whole.
fn replay(
    sim: &RpcSim,
    filters: &Subscription,
    from: u64,
) -> Result<(Vec<SubscribeUpdate>, (u64, u64)), Status> {
    let history = sim
        .history
        .lock()
        .map_err(|_| Status::internal("history lock"))?;
    if history.capacity == 0 {
        return Err(Status::invalid_argument(
            "from_slot is not supported: this server keeps no history",
        ));
    }
    if from < history.complete_from {
        return Err(Status::invalid_argument(format!(
            "broadcast from {from} is not available, last available: {}",
            history.complete_from
        )));
    }
    let (mut out, mut to) = (Vec::new(), (0, 0));
    for change in &history.changes {
        match change {
            Change::Account(a) => {
                to.0 = to.0.max(a.write_version);
                if a.slot < from {
                    continue;
                }
            }
            Change::Slot(s) => {
                to.1 = to.1.max(*s);
                if *s < from {
                    continue;
                }
            }
        }
        out.extend(filters.updates(change));
    }
    Ok((out, to))
}

fn unserved<T>(what: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "rpc-sim does not serve {what}"
    )))
}

#[tonic::async_trait]
impl Geyser for GeyserSim {
    type SubscribeStream = Boxed<SubscribeUpdate>;
    type SubscribeDeshredStream = Boxed<SubscribeUpdateDeshred>;
    type SubscribeGossipStream = Boxed<SubscribeUpdateGossip>;

    async fn subscribe(
        &self,
        request: Request<Streaming<SubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        self.authorise(&request)?;
        let (tx, rx) = tokio::sync::mpsc::channel(4_096);
        tokio::spawn(stream_updates(
            Arc::clone(&self.sim),
            request.into_inner(),
            tx,
        ));
        let updates =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|u| (u, rx)) },
            );
        Ok(Response::new(Box::pin(updates)))
    }

    async fn subscribe_deshred(
        &self,
        _: Request<Streaming<SubscribeDeshredRequest>>,
    ) -> Result<Response<Self::SubscribeDeshredStream>, Status> {
        unserved("SubscribeDeshred")
    }

    async fn subscribe_gossip(
        &self,
        _: Request<SubscribeGossipRequest>,
    ) -> Result<Response<Self::SubscribeGossipStream>, Status> {
        unserved("SubscribeGossip")
    }

    async fn subscribe_replay_info(
        &self,
        request: Request<SubscribeReplayInfoRequest>,
    ) -> Result<Response<SubscribeReplayInfoResponse>, Status> {
        self.authorise(&request)?;
        let first = self.sim.history.lock().map(|h| h.complete_from).ok();
        Ok(Response::new(SubscribeReplayInfoResponse {
            first_available: first,
        }))
    }

    async fn ping(&self, request: Request<PingRequest>) -> Result<Response<PongResponse>, Status> {
        self.authorise(&request)?;
        Ok(Response::new(PongResponse {
            count: request.into_inner().count,
        }))
    }

    async fn get_latest_blockhash(
        &self,
        request: Request<GetLatestBlockhashRequest>,
    ) -> Result<Response<GetLatestBlockhashResponse>, Status> {
        self.authorise(&request)?;
        let slot = self.sim.slot();
        Ok(Response::new(GetLatestBlockhashResponse {
            slot,
            blockhash: crate::rpc_sim::blockhash(slot).to_string(),
            last_valid_block_height: slot + 150,
        }))
    }

    async fn get_block_height(
        &self,
        request: Request<GetBlockHeightRequest>,
    ) -> Result<Response<GetBlockHeightResponse>, Status> {
        self.authorise(&request)?;
        Ok(Response::new(GetBlockHeightResponse {
            block_height: self.sim.slot(),
        }))
    }

    async fn get_slot(
        &self,
        request: Request<GetSlotRequest>,
    ) -> Result<Response<GetSlotResponse>, Status> {
        self.authorise(&request)?;
        Ok(Response::new(GetSlotResponse {
            slot: self.sim.slot(),
        }))
    }

    async fn is_blockhash_valid(
        &self,
        request: Request<IsBlockhashValidRequest>,
    ) -> Result<Response<IsBlockhashValidResponse>, Status> {
        self.authorise(&request)?;
        let slot = self.sim.slot();
        let asked = request.into_inner().blockhash;
        let valid = (slot.saturating_sub(150)..=slot)
            .any(|s| crate::rpc_sim::blockhash(s).to_string() == asked);
        Ok(Response::new(IsBlockhashValidResponse { slot, valid }))
    }

    async fn get_version(
        &self,
        request: Request<GetVersionRequest>,
    ) -> Result<Response<GetVersionResponse>, Status> {
        self.authorise(&request)?;
        Ok(Response::new(GetVersionResponse {
            version: serde_json::json!({"name": "sniperforge rpc-sim", "version": env!("CARGO_PKG_VERSION")})
                .to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sniperforge_engine::pubkey::programs;
    use sniperforge_engine::whirlpool::state::{
        DYNAMIC_TICK_ARRAY_DISCRIMINATOR, FIXED_TICK_ARRAY_LEN,
    };
    use sniperforge_solana::yellowstone::{ACCOUNTS_FILTER, subscription};
    use tonic::Code;
    use yellowstone_grpc_proto::geyser::{
        SubscribeRequestFilterAccounts, SubscribeRequestFilterAccountsFilter,
    };

    fn published(pubkey: Pubkey, owner: Pubkey, data: Vec<u8>) -> Published {
        Published::new(pubkey, owner, data, 5, 1)
    }

    #[test]
    fn the_subscription_follows_keys_tick_arrays_by_content_and_slots_at_the_commitment() {
        let pool = Pubkey([4; 32]);
        let request = subscription(
            &[Pubkey([1; 32])],
            &[pool],
            CommitmentLevel::Confirmed,
            Some(9),
        );
        assert_eq!(request.from_slot, Some(9));
        assert_eq!(request.commitment, Some(CommitmentLevel::Confirmed as i32));
        let s = Subscription::new(&request).unwrap();
        let whirlpool = programs::ORCA_WHIRLPOOL;
        let mut fixed = vec![0u8; FIXED_TICK_ARRAY_LEN];
        fixed[9_956..9_988].copy_from_slice(&pool.0);
        let mut dynamic = vec![0u8; 300];
        dynamic[..8].copy_from_slice(&DYNAMIC_TICK_ARRAY_DISCRIMINATOR);
        dynamic[12..44].copy_from_slice(&pool.0);
        let names = |a: Published| -> Vec<String> {
            s.updates(&Change::Account(Arc::new(a)))
                .into_iter()
                .flat_map(|u| u.filters)
                .collect()
        };
        assert_eq!(
            names(published(
                Pubkey([1; 32]),
                programs::SPL_TOKEN,
                vec![0; 165]
            )),
            vec![ACCOUNTS_FILTER]
        );
        assert_eq!(
            names(published(Pubkey([8; 32]), whirlpool, fixed.clone())),
            vec!["sniperforge-ticks-0"]
        );
        assert_eq!(
            names(published(Pubkey([9; 32]), whirlpool, dynamic)),
            vec!["sniperforge-dynamic-ticks-0"]
        );
        // Another pool's array, or the right bytes under another owner: not ours.
        let mut other = fixed.clone();
        other[9_956] ^= 1;
        assert!(names(published(Pubkey([8; 32]), whirlpool, other)).is_empty());
        assert!(names(published(Pubkey([8; 32]), programs::SPL_TOKEN, fixed)).is_empty());
        // Slots: only the confirmed status.
        let slots = s.updates(&Change::Slot(12));
        assert_eq!(slots.len(), 1);
        assert!(matches!(
            &slots[0].update_oneof,
            Some(UpdateOneof::Slot(u)) if u.slot == 12 && u.status == SlotStatus::SlotConfirmed as i32
        ));
    }

    #[test]
    fn unsupported_filters_are_refused_with_their_name() {
        let mut request = subscription(&[], &[], CommitmentLevel::Processed, None);
        request.accounts.insert(
            "lamports".into(),
            SubscribeRequestFilterAccounts {
                filters: vec![SubscribeRequestFilterAccountsFilter {
                    filter: Some(AccountsFilter::TokenAccountState(true)),
                }],
                ..Default::default()
            },
        );
        let e = Subscription::new(&request).unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("lamports"), "{}", e.message());
        let mut bad_key = subscription(&[], &[], CommitmentLevel::Processed, None);
        bad_key.accounts.insert(
            "k".into(),
            SubscribeRequestFilterAccounts {
                account: vec!["not-a-key".into()],
                ..Default::default()
            },
        );
        assert!(
            Subscription::new(&bad_key)
                .unwrap_err()
                .message()
                .contains("not-a-key")
        );
    }
}
