//! The HTTP JSON-RPC client: `getMultipleAccounts` snapshots (at most 100 keys a call,
//! base64) and the other calls the feed and live execution make, with 429 retries.

use super::*;

/// A JSON-RPC failure.
#[derive(Debug)]
enum RpcError {
    /// HTTP 429, with the server's Retry-After.
    RateLimited(Option<Duration>),
    /// Anything else, in words.
    Other(String),
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RateLimited(_) => write!(f, "rate limited (HTTP 429)"),
            Self::Other(e) => f.write_str(e),
        }
    }
}

/// A JSON-RPC client over one kept-alive HTTP/1.1 connection (reopened after an error).
pub(crate) struct Rpc {
    pub(super) url: Url,
    pub(super) tls: Arc<rustls::ClientConfig>,
    pub(super) sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    pub(super) next_id: u64,
}

#[derive(Deserialize)]
pub(super) struct UiAccount<'a> {
    #[serde(borrow)]
    pub(super) data: (Cow<'a, str>, Cow<'a, str>),
    #[serde(borrow)]
    pub(super) owner: Cow<'a, str>,
}

#[derive(Deserialize)]
pub(super) struct Context {
    pub(super) slot: u64,
}

#[derive(Deserialize)]
pub(super) struct RpcErrorBody {
    pub(super) code: i64,
    pub(super) message: String,
}

#[derive(Deserialize)]
struct MultipleAccounts<'a> {
    context: Context,
    #[serde(borrow)]
    value: Vec<Option<UiAccount<'a>>>,
}

#[derive(Deserialize)]
struct RpcResponse<'a> {
    #[serde(borrow, default)]
    result: Option<MultipleAccounts<'a>>,
    #[serde(default)]
    error: Option<RpcErrorBody>,
}

/// An account in the RPC's base64 encoding, as an update (the caller sets the write version).
fn decode_account(
    pubkey: Pubkey,
    account: &UiAccount<'_>,
    slot: u64,
) -> Result<AccountUpdate, String> {
    decode_account_into(pubkey, account, slot, Vec::new())
}

/// [`decode_account`] into `data` (an empty buffer, a pooled one on the hot path).
pub(super) fn decode_account_into(
    pubkey: Pubkey,
    account: &UiAccount<'_>,
    slot: u64,
    mut data: Vec<u8>,
) -> Result<AccountUpdate, String> {
    use base64::Engine as _;
    if account.data.1 != "base64" {
        return Err(format!(
            "{pubkey}: data encoded {:?}, asked base64",
            account.data.1
        ));
    }
    base64::engine::general_purpose::STANDARD
        .decode_vec(account.data.0.as_bytes(), &mut data)
        .map_err(|e| format!("{pubkey}: data is not base64: {e}"))?;
    let owner = account
        .owner
        .parse()
        .map_err(|e| format!("{pubkey}: owner {:?}: {e}", account.owner))?;
    Ok(AccountUpdate {
        pubkey,
        owner,
        slot,
        write_version: 0,
        data,
        received_at: 0,
    })
}

impl Rpc {
    /// A client of `url` (http:// or https://).
    pub(crate) fn new(
        url: &str,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<Self, sniperforge_host::net::UrlError> {
        Ok(Self {
            url: Url::parse(url, HTTP)?,
            tls,
            sender: None,
            next_id: 0,
        })
    }

    /// Calls `method` with `params`: its `result`, or the RPC error, the HTTP failure (429s are
    /// retried after their Retry-After, three times) or an unreadable answer, in words.
    pub(crate) async fn call(
        &mut self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        self.next_id += 1;
        let body =
            json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
                .to_string();
        let bytes = self.post_retrying(method, body, None).await?;
        let mut answer: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{method}: unreadable answer: {e}"))?;
        if let Some(e) = answer.get("error").filter(|e| !e.is_null()) {
            return Err(format!(
                "{method}: RPC error {}: {}",
                e["code"],
                e["message"].as_str().unwrap_or_default()
            ));
        }
        match answer.get_mut("result") {
            Some(r) => Ok(r.take()),
            None => Err(format!("{method}: answer without result or error")),
        }
    }

    /// Posts `body`, retrying an HTTP 429 up to five times after its Retry-After (or 100 ms
    /// doubling to 5 s), each counted in `rate_limited`.
    async fn post_retrying(
        &mut self,
        method: &str,
        body: String,
        rate_limited: Option<&AtomicU64>,
    ) -> Result<Bytes, String> {
        let mut backoff = Duration::from_millis(100);
        let mut attempts = 0;
        loop {
            match self.post(body.clone()).await {
                Ok(b) => return Ok(b),
                Err(RpcError::RateLimited(after)) if attempts < 5 => {
                    attempts += 1;
                    if let Some(n) = rate_limited {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    // A server's Retry-After is honoured up to 10 s (a hostile one could park the
                    // reader for ever).
                    tokio::time::sleep(after.unwrap_or(backoff).min(Duration::from_secs(10))).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(format!("{method}: {e}")),
            }
        }
    }

    async fn post(&mut self, body: String) -> Result<Bytes, RpcError> {
        let other = |e: String| RpcError::Other(format!("rpc {}: {e}", self.url.authority));
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let io = self
                .url
                .connect(Some(&self.tls), Duration::from_secs(5))
                .await
                .map_err(|e| RpcError::Other(format!("rpc {e}")))?;
            let (sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                    .await
                    .map_err(|e| other(e.to_string()))?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err(other("no connection".into()));
        };
        let request = hyper::Request::post(self.url.path.as_str())
            .header("host", self.url.authority.as_str())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| other(e.to_string()))?;
        let exchange = async {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, retry_after, body))
        };
        let (status, retry_after, body) =
            match tokio::time::timeout(Duration::from_secs(10), exchange).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    self.sender = None;
                    return Err(other(e.to_string()));
                }
                Err(_) => {
                    self.sender = None;
                    return Err(other("no answer within 10 s".into()));
                }
            };
        if status.as_u16() == 429 {
            return Err(RpcError::RateLimited(retry_after));
        }
        if !status.is_success() {
            return Err(other(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )));
        }
        Ok(body)
    }

    /// `getMultipleAccounts` over `keys` (batches of 100, each retried on 429 up to 5 times):
    /// the accounts that exist, stamped with their batch's context slot.
    pub(crate) async fn accounts(
        &mut self,
        keys: &[Pubkey],
        commitment: &str,
        shared: &FeedShared,
    ) -> Result<Vec<AccountUpdate>, String> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_KEYS_PER_CALL) {
            self.next_id += 1;
            let names: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            let body = json!({
                "jsonrpc": "2.0", "id": self.next_id, "method": "getMultipleAccounts",
                "params": [names, {"encoding": "base64", "commitment": commitment}],
            })
            .to_string();
            let bytes = self
                .post_retrying("getMultipleAccounts", body, Some(&shared.rate_limited))
                .await?;
            let response: RpcResponse<'_> = serde_json::from_slice(&bytes)
                .map_err(|e| format!("getMultipleAccounts: unreadable answer: {e}"))?;
            if let Some(e) = response.error {
                return Err(format!(
                    "getMultipleAccounts: RPC error {}: {}",
                    e.code, e.message
                ));
            }
            let result = response
                .result
                .ok_or("getMultipleAccounts: answer without result or error")?;
            if result.value.len() != chunk.len() {
                return Err(format!(
                    "getMultipleAccounts: {} accounts for {} keys",
                    result.value.len(),
                    chunk.len()
                ));
            }
            for (key, account) in chunk.iter().zip(&result.value) {
                if let Some(a) = account {
                    out.push(
                        decode_account(*key, a, result.context.slot)
                            .map_err(|e| format!("getMultipleAccounts: {e}"))?,
                    );
                }
            }
        }
        Ok(out)
    }
}
