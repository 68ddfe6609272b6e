//! The node's core ledger, and the fencing lease of bots that fail over. The gateway places such a bot on another node
//! once its node has been silent for its failover window; before that, the bot must have
//! stopped. So each one reads its lease's end from a file in its state directory
//! (`--fence-file`), which the agent moves on after every report or heartbeat the gateway
//! took — the two exchanges the gateway counts as the node's sign of life — to the time that
//! request was *sent* plus the lease the gateway gave (half its failover window). The lease so
//! ends before the gateway's own count (from when it took the request) runs out, however long
//! the answer took to come back. A desired-state answer renews nothing: the gateway does not
//! count it, and a long poll's answer says nothing of when it was asked. A bot past it, or without the file, stops; an agent that lost
//! the gateway, or was killed, stops renewing, and its bots stop on their own. A failover bot
//! is not started while the lease has lapsed.

use std::sync::atomic::{AtomicI64, Ordering};

use sniperforge_host::fence::{now_ms, read, write};

use super::*;

/// A bot's fence file: `<data_dir>/fences/<bot_id>`, in a directory of the agent's that the
/// bot's account can read but not write (it cannot move its own lease on).
pub(crate) fn path(data_dir: &Path, bot_id: &str) -> PathBuf {
    data_dir.join("fences").join(bot_id)
}

/// The last exchange with the gateway (the node's monotonic clock, ms; 0: none yet), shared with the tasks that talk
/// to it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Contact(Arc<AtomicI64>);

impl Contact {
    /// The node's monotonic clock now, ms: when a request to the gateway is sent.
    pub(crate) fn now() -> i64 {
        now_ms()
    }

    /// A request sent at `sent_ms` ([`Contact::now`]) succeeded.
    pub(crate) fn touch(&self, sent_ms: i64) {
        self.0.fetch_max(sent_ms, Ordering::Relaxed);
    }

    fn at(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The lease: the last exchange, the length the gateway gave, and the end last written.
#[derive(Debug, Default)]
pub(crate) struct Lease {
    contact: Contact,
    length_ms: u64,
    written_until: i64,
}

impl Lease {
    /// The shared last-exchange time, for the tasks that talk to the gateway.
    pub(crate) fn contact(&self) -> Contact {
        self.contact.clone()
    }

    /// A request sent at `sent_ms` succeeded.
    pub(crate) fn touch(&self, sent_ms: i64) {
        self.contact.touch(sent_ms);
    }

    /// The lease's length, as the gateway's desired state gives it.
    pub(crate) fn set_length(&mut self, ms: u64) {
        self.length_ms = ms;
    }

    /// The lease's end (monotonic ms), or why it has lapsed: never in contact, no length given, or
    /// the last exchange too long ago.
    pub(crate) fn end(&self) -> Result<i64, String> {
        let at = self.contact.at();
        if at == 0 || self.length_ms == 0 {
            return Err("fenced: no exchange with the gateway yet".into());
        }
        let end = at.saturating_add(i64::try_from(self.length_ms).unwrap_or(i64::MAX));
        let now = now_ms();
        if end <= now {
            return Err(format!(
                "fenced: no exchange with the gateway for {} ms (lease {} ms); it may run elsewhere",
                now - at,
                self.length_ms
            ));
        }
        Ok(end)
    }

    /// Before a bot that fails over starts: its fence file holds the lease's end (Err, and no
    /// start, when the lease has lapsed). Other bots: nothing.
    pub(crate) fn arm(&self, spec: &BotSpec) -> Result<(), String> {
        let Some(file) = &spec.fence_file else {
            return Ok(());
        };
        let end = self.end()?;
        write(file, end, self.grace_ms())
            .map_err(|e| format!("writing the fence {}: {e}", file.display()))
    }

    /// How long a fenced bot gets to stop (settle what is in flight) before it exits anyway,
    /// ms: a quarter of the lease. The agent kills one still alive at twice that, and the
    /// gateway places it elsewhere no sooner than a whole lease after the lease's end.
    fn grace_ms(&self) -> u64 {
        self.length_ms / 4
    }
}

/// Whether the fence in `file` has lapsed (or is gone): a supervisor does not start its bot.
pub(crate) fn lapsed(file: &Path) -> bool {
    sniperforge_host::fence::lapsed(file).is_some()
}

impl Agent {
    /// The node's core ledger: `Err` naming the holder when another bot this agent runs holds
    /// one of `cores` (the gateway's ledger refuses that first; this holds whoever sent it).
    pub(super) fn ledger_check(&self, bot_id: &str, cores: &[usize]) -> Result<(), String> {
        for (id, m) in &self.managed {
            if id == bot_id {
                continue;
            }
            if let Some(c) = cores.iter().find(|c| m.record.spec.cores.contains(c)) {
                return Err(format!(
                    "resources.cores: core {c} on node {} is held by bot {id}",
                    self.opts.node.node_id
                ));
            }
        }
        Ok(())
    }

    /// Moves every failing-over bot's fence on to the lease's end (after an exchange; at most
    /// every 200 ms). Nothing is written once the lease has lapsed: the bots stop.
    pub(super) fn renew_fences(&mut self) {
        let Ok(end) = self.fence.end() else {
            return;
        };
        if end < self.fence.written_until + 200 {
            return;
        }
        let grace = self.fence.grace_ms();
        for m in self.managed.values() {
            let spec = &m.record.spec;
            if let Some(file) = &spec.fence_file
                && let Err(e) = write(file, end, grace)
            {
                tracing::error!(bot_id = %spec.bot_id, error = %e, "renewing the bot's fence");
            }
        }
        self.fence.written_until = end;
    }

    /// The backstop: a failing-over bot still alive past its lease's end and twice its grace
    /// (it should have stopped on its own within one) is killed; its supervisor does not start
    /// it again while the lease has lapsed.
    pub(super) async fn kill_fenced(&self) {
        let now = now_ms();
        for m in self.managed.values() {
            let spec = &m.record.spec;
            let Some((end, grace)) = spec.fence_file.as_deref().and_then(read) else {
                continue;
            };
            if now <= end.saturating_add(i64::try_from(grace.saturating_mul(2)).unwrap_or(i64::MAX))
            {
                continue;
            }
            let pid = self
                .backend
                .instance(&spec.unit_key())
                .await
                .and_then(|i| i.pid)
                .and_then(|p| i32::try_from(p).ok())
                .and_then(rustix::process::Pid::from_raw);
            if let Some(pid) = pid {
                tracing::error!(bot_id = %spec.bot_id, "fenced bot still running past its lease and grace: killed");
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}
