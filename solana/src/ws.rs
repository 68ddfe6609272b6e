//! The websocket pubsub reader: `accountSubscribe` and `slotSubscribe`, notifications parsed
//! and handed to the outbox, reconnection with backoff, and the shared helpers the Yellowstone
//! reader uses too.

use super::*;

/// A websocket message: a subscription's confirmation or error, or a notification.
#[derive(Deserialize)]
struct WsMessage<'a> {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<RpcErrorBody>,
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    params: Option<NotificationParams<'a>>,
}

#[derive(Deserialize)]
struct NotificationParams<'a> {
    subscription: u64,
    #[serde(borrow)]
    result: NotificationResult<'a>,
}

#[derive(Deserialize)]
struct NotificationResult<'a> {
    #[serde(default)]
    context: Option<Context>,
    #[serde(default, borrow)]
    value: Option<UiAccount<'a>>,
    #[serde(default)]
    slot: Option<u64>,
}

type Ws = tokio_tungstenite::WebSocketStream<Box<dyn sniperforge_host::net::Io>>;

/// The stream a reader follows.
pub(super) enum Stream {
    Websocket(Url),
    #[cfg(feature = "yellowstone")]
    Yellowstone(crate::yellowstone::Endpoint),
}

impl Stream {
    #[cfg(feature = "yellowstone")]
    pub(super) fn grpc(grpc: &GrpcOptions, ca: Option<&Path>) -> Result<Self, SolanaError> {
        crate::yellowstone::Endpoint::new(grpc, ca).map(Self::Yellowstone)
    }

    #[cfg(not(feature = "yellowstone"))]
    pub(super) fn grpc(_: &GrpcOptions, _: Option<&Path>) -> Result<Self, SolanaError> {
        Err(SolanaError::Unsupported(
            "--feed yellowstone: this build has no Yellowstone gRPC client (build with `--features yellowstone`)".into(),
        ))
    }
}

pub(crate) struct Reader {
    pub(crate) shared: Arc<FeedShared>,
    pub(crate) rpc: Rpc,
    pub(super) stream: Stream,
    pub(super) tls: Arc<rustls::ClientConfig>,
    pub(crate) keys: Vec<Pubkey>,
    /// The Whirlpools among the pools (a Geyser stream also follows tick arrays that name
    /// them, by owner and content, so arrays created later arrive too).
    #[cfg_attr(not(feature = "yellowstone"), allow(dead_code))]
    pub(crate) whirlpools: Vec<Pubkey>,
    pub(crate) commitment: String,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) clock: MonotonicClock,
    pub(crate) ingress: Ingress,
}

/// A session's subscriptions: subscription id → account index (`None`: the slot stream).
#[derive(Default)]
struct Subscriptions {
    by_id: HashMap<u64, Option<usize>>,
    confirmed: usize,
}

impl Reader {
    pub(super) async fn run(mut self) {
        let mut backoff = Duration::from_millis(100);
        while !self.stop.load(Ordering::Relaxed) && !self.ingress.is_abandoned() {
            let started = Instant::now();
            let why = match self.session().await {
                Ok(()) => return,
                Err(why) => why,
            };
            // The reason first: a health check between the two stores says why, not
            // "connecting".
            *self
                .shared
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
            self.shared.connected.store(false, Ordering::Relaxed);
            tracing::warn!(%why, "solana feed down; reconnecting");
            self.ingress.push(FeedEvent::Down(why));
            self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
            if started.elapsed() > Duration::from_secs(30) {
                backoff = Duration::from_millis(100);
            }
            let until = Instant::now() + backoff;
            while Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn connect(&self, at: &Url) -> Result<Ws, String> {
        let io = at
            .connect(Some(&self.tls), Duration::from_secs(5))
            .await
            .map_err(|e| format!("websocket {e}"))?;
        let scheme = if at.tls { "wss" } else { "ws" };
        let url = format!("{scheme}://{}{}", at.authority, at.path);
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::client_async(url.as_str(), io),
        )
        .await
        .map_err(|_| format!("websocket {url}: handshake timed out"))?
        .map_err(|e| format!("websocket {url}: {e}"))?;
        Ok(ws)
    }

    /// One connection: subscribe, snapshot, stream. `Ok` only when stopped.
    async fn session(&mut self) -> Result<(), String> {
        match &self.stream {
            Stream::Websocket(at) => {
                let at = at.clone();
                self.websocket_session(&at).await
            }
            #[cfg(feature = "yellowstone")]
            Stream::Yellowstone(at) => {
                let at = at.clone();
                crate::yellowstone::session(self, &at).await
            }
        }
    }

    /// One websocket session.
    async fn websocket_session(&mut self, at: &Url) -> Result<(), String> {
        let mut ws = self.connect(at).await?;
        let mut subs = Subscriptions::default();
        let slot_request = json!({"jsonrpc": "2.0", "id": 0, "method": "slotSubscribe"});
        ws.send(Message::Text(slot_request.to_string().into()))
            .await
            .map_err(|e| format!("slotSubscribe: {e}"))?;
        for (i, key) in self.keys.iter().enumerate() {
            let request = json!({
                "jsonrpc": "2.0", "id": i + 1, "method": "accountSubscribe",
                "params": [key.to_string(), {"encoding": "base64", "commitment": self.commitment}],
            });
            ws.send(Message::Text(request.to_string().into()))
                .await
                .map_err(|e| format!("accountSubscribe {key}: {e}"))?;
        }
        // Every subscription confirmed before the snapshot, so no change falls between them;
        // what arrives meanwhile waits behind the snapshot.
        let mut held = Vec::new();
        while subs.confirmed < self.keys.len() + 1 {
            let msg = next_message(&mut ws, &self.stop, Some(&mut self.ingress)).await?;
            handle_message(
                &self.shared,
                &self.keys,
                self.clock,
                msg,
                &mut subs,
                To::Held(&mut held),
            )?;
        }
        let (shared, keys, stop, clock) = (&self.shared, &self.keys, &self.stop, self.clock);
        snapshot_behind(
            &mut self.rpc,
            keys,
            &self.commitment,
            shared,
            &mut self.ingress,
            clock,
            held,
            async |held| {
                let msg = next_message(&mut ws, stop, None).await?;
                if msg.is_none() {
                    // Stopping: the snapshot call ends soon; no spinning meanwhile.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                handle_message(shared, keys, clock, msg, &mut subs, To::Held(held))
            },
        )
        .await?;
        loop {
            let msg = next_message(&mut ws, &self.stop, Some(&mut self.ingress)).await?;
            handle_message(
                &self.shared,
                &self.keys,
                self.clock,
                msg,
                &mut subs,
                To::Ingress(&mut self.ingress),
            )?;
            if self.ingress.take_overflow() {
                return Err(overflowed());
            }
            if self.stop.load(Ordering::Relaxed) || self.ingress.is_abandoned() {
                let _ = ws.close(None).await;
                return Ok(());
            }
        }
    }
}

/// Takes the snapshot of every key while `pump` keeps reading the stream (its account updates
/// held, after those already in `held`), then hands the runner the snapshot (`Resync`) and what
/// was held behind it, and marks the feed up. The market's version check drops a held update
/// older than the snapshot (by slot, then arrival order).
#[allow(clippy::too_many_arguments)] // the session's parts, borrowed apart
pub(crate) async fn snapshot_behind(
    rpc: &mut Rpc,
    keys: &[Pubkey],
    commitment: &str,
    shared: &FeedShared,
    ingress: &mut Ingress,
    clock: MonotonicClock,
    mut held: Vec<AccountUpdate>,
    mut pump: impl AsyncFnMut(&mut Vec<AccountUpdate>) -> Result<(), String>,
) -> Result<(), String> {
    let snapshot = {
        let fetch = rpc.accounts(keys, commitment, shared);
        tokio::pin!(fetch);
        loop {
            tokio::select! {
                done = &mut fetch => break done?,
                pumped = pump(&mut held) => pumped?,
            }
        }
    };
    let now = clock.now_ns();
    let snapshot = snapshot.into_iter().map(|u| shared.stamp(u, now)).collect();
    ingress.push(FeedEvent::Resync(snapshot));
    for u in held {
        ingress.push(FeedEvent::Account(u));
    }
    shared.connected.store(true, Ordering::Relaxed);
    *shared.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    Ok(())
}

/// Why a session ends when the runtime's backlog overflowed.
pub(crate) fn overflowed() -> String {
    format!(
        "the strategy thread fell over {} events behind: resynchronising",
        sniperforge_engine::ingress::MAX_BACKLOG
    )
}

/// The stream's next item (`None`: stopping), or why the stream is dead: it ended, or nothing
/// came for [`SILENCE`]. The stop flag is looked at every 100 ms.
pub(crate) async fn next_within_silence<S: futures_util::Stream + Unpin>(
    stream: &mut S,
    stop: &AtomicBool,
    mut ingress: Option<&mut Ingress>,
) -> Result<Option<S::Item>, String> {
    let deadline = Instant::now() + SILENCE;
    loop {
        // The strategy thread gone (its bot stopped or restarted): this reader stops too.
        if stop.load(Ordering::Relaxed) || ingress.as_ref().is_some_and(|i| i.is_abandoned()) {
            return Ok(None);
        }
        if Instant::now() >= deadline {
            return Err(format!("no message for {} s", SILENCE.as_secs()));
        }
        // What waits behind a full ring is handed over while the stream is quiet too (every
        // millisecond until it is all in).
        let waiting = ingress.as_mut().is_some_and(|i| !i.flush());
        let tick = Duration::from_millis(if waiting { 1 } else { 100 });
        match tokio::time::timeout(tick, stream.next()).await {
            Err(_) => continue,
            Ok(None) => return Err("the server closed the connection".into()),
            Ok(Some(item)) => return Ok(Some(item)),
        }
    }
}

/// The next websocket message (`None`: stopping), or why the stream is dead.
async fn next_message(
    ws: &mut Ws,
    stop: &AtomicBool,
    ingress: Option<&mut Ingress>,
) -> Result<Option<Message>, String> {
    match next_within_silence(ws, stop, ingress).await? {
        None => Ok(None),
        Some(Err(e)) => Err(format!("websocket: {e}")),
        Some(Ok(Message::Close(frame))) => Err(format!(
            "the server closed the stream{}",
            frame.map_or(String::new(), |f| format!(": {} {}", f.code, f.reason))
        )),
        Some(Ok(m)) => Ok(Some(m)),
    }
}

/// Applies one websocket message, stamped on arrival: a confirmation maps its subscription, a notification
/// becomes an event (or waits in `held` until the snapshot is in; slots are dropped then), a
/// malformed one is counted and skipped. A refused subscription ends the session.
fn handle_message(
    shared: &FeedShared,
    keys: &[Pubkey],
    clock: MonotonicClock,
    msg: Option<Message>,
    subs: &mut Subscriptions,
    mut to: To<'_>,
) -> Result<(), String> {
    // `None`: stopping.
    let Some(msg) = msg else { return Ok(()) };
    let received_at = clock.now_ns();
    let text = match msg {
        Message::Text(t) => t,
        Message::Binary(_) => {
            shared.malformed("a binary message (the pubsub speaks JSON text)".into());
            return Ok(());
        }
        _ => return Ok(()),
    };
    let parsed: WsMessage<'_> = match serde_json::from_str(text.as_str()) {
        Ok(m) => m,
        Err(e) => {
            shared.malformed(format!("unreadable message: {e}"));
            return Ok(());
        }
    };
    if let Some(id) = parsed.id {
        let target = match id {
            0 => None,
            i => Some((i - 1) as usize),
        };
        let what = target.map_or("slotSubscribe".to_string(), |i| {
            format!(
                "accountSubscribe {}",
                keys.get(i).map_or("?".into(), |k| k.to_string())
            )
        });
        if let Some(e) = parsed.error {
            return Err(format!("{what}: RPC error {}: {}", e.code, e.message));
        }
        let Some(sub) = parsed.result.as_ref().and_then(serde_json::Value::as_u64) else {
            return Err(format!("{what}: answer without a subscription id"));
        };
        if target.is_some_and(|i| i >= keys.len()) {
            shared.malformed(format!("an answer to request {id}, which was never sent"));
            return Ok(());
        }
        if subs.by_id.insert(sub, target).is_none() {
            subs.confirmed += 1;
        }
        return Ok(());
    }
    let (Some(method), Some(params)) = (parsed.method.as_deref(), parsed.params) else {
        shared.malformed("a message neither an answer nor a notification".into());
        return Ok(());
    };
    let Some(&target) = subs.by_id.get(&params.subscription) else {
        shared.malformed(format!(
            "{method} for subscription {}, which is not ours",
            params.subscription
        ));
        return Ok(());
    };
    match (method, target) {
        ("slotNotification", None) => {
            let Some(slot) = params.result.slot else {
                shared.malformed("slotNotification without a slot".into());
                return Ok(());
            };
            shared.slot.fetch_max(slot, Ordering::Relaxed);
            if let To::Ingress(ingress) = to {
                ingress.push(FeedEvent::Slot(slot));
            }
        }
        ("accountNotification", Some(i)) => {
            let (Some(context), Some(value)) = (params.result.context, params.result.value) else {
                shared.malformed("accountNotification without context.slot or value".into());
                return Ok(());
            };
            // Into a pooled buffer of the runtime's ingress (decoded size: 3/4 of the base64).
            let buffer = match &mut to {
                To::Ingress(ingress) => ingress.buffer_for(value.data.0.len() / 4 * 3),
                To::Held(_) => Vec::new(),
            };
            let update = match decode_account_into(keys[i], &value, context.slot, buffer) {
                Ok(u) => shared.stamp(u, received_at),
                Err(e) => {
                    shared.malformed(format!("accountNotification: {e}"));
                    return Ok(());
                }
            };
            shared.notifications.fetch_add(1, Ordering::Relaxed);
            match to {
                To::Held(held) => held.push(update),
                To::Ingress(ingress) => ingress.push(FeedEvent::Account(update)),
            }
        }
        (m, _) => shared.malformed(format!(
            "{m} on subscription {}, which is not a subscription of that kind",
            params.subscription
        )),
    }
    Ok(())
}
