//! The agent's two loops with the gateway: the desired state (held query, cached on disk) and
//! the heartbeat.

use super::*;

/// Registers, then holds the blocking desired-state query; each new state goes to `tx` and to
/// the cache file. Backs off (0.5 s doubling to 30 s) while the gateway is unreachable.
pub(super) async fn follow(opts: AgentOptions, cache: PathBuf, tx: watch::Sender<Option<Desired>>) {
    let mut registered = false;
    let mut index = 0i64;
    let mut delay = Duration::from_millis(500);
    let mut last_error = String::new();
    loop {
        let step = async {
            if !registered {
                opts.gateway.register(&opts.node).await?;
                registered = true;
                tracing::info!(node_id = %opts.node.node_id, "registered with the gateway");
            }
            opts.gateway
                .desired(&opts.node.node_id, index, DESIRED_WAIT)
                .await
        };
        match step.await {
            Ok(d) => {
                delay = Duration::from_millis(500);
                last_error.clear();
                if d.index != index || tx.borrow().as_ref() != Some(&d) {
                    index = d.index;
                    if let Ok(bytes) = serde_json::to_vec(&d)
                        && let Err(e) = write_atomic(&cache, &bytes, None)
                    {
                        tracing::error!(path = %cache.display(), error = %e, "caching the desired state");
                    }
                    tx.send_replace(Some(d));
                }
            }
            Err(e) => {
                if e.is_unknown_node() {
                    registered = false;
                }
                let text = e.to_string();
                if text != last_error {
                    tracing::warn!(error = %text, retry_in_ms = delay.as_millis() as u64, "gateway unreachable; keeping the last desired state");
                    last_error = text;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

pub(super) async fn heartbeat(opts: AgentOptions) {
    let mut tick = tokio::time::interval(opts.heartbeat_interval);
    loop {
        tick.tick().await;
        if let Err(e) = opts.gateway.heartbeat(&opts.node.node_id).await
            && e.is_unknown_node()
            && let Err(e) = opts.gateway.register(&opts.node).await
        {
            tracing::warn!(error = %e, "re-registering");
        }
    }
}
