//! A market bot's side of a warm handover: the trading lease (see [`crate::lease`]), the standby
//! that waits for it, and the drain that settles the orders in flight and persists the state
//! before it is let go.
//!
//! An instance starts in standby (market loaded, feed connected, `/health` served, the gate
//! closed) and a thread of its own waits for the lease; when it has it, it reads the books (daily
//! PnL and counters) the previous holder persisted and opens the gate. `POST /handover` closes the gate, waits for
//! the strategy thread to have no order in flight and for the executor to book and persist what
//! is left, then lets the lease go: the waiting instance takes it within the kernel's wake-up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;
use crate::lease::LeaseFile;

/// How long a stop waits for the orders in flight to settle before it stops anyway: well within
/// the supervisors' grace before SIGKILL (10 s), so the state is persisted first.
pub(super) const STOP_DRAIN: Duration = Duration::from_secs(5);

/// The lease of one bot instance.
#[derive(Debug, Default)]
pub(super) struct LeaseCell {
    file: Mutex<Option<Arc<LeaseFile>>>,
    state: Mutex<Lease>,
    /// Bumped when the bot stops: a waiter from before lets a lease it gets go at once.
    epoch: AtomicU64,
}

impl LeaseCell {
    /// Opens the lease file in `state_dir` (once per instance).
    pub(super) fn open(&self, state_dir: &std::path::Path) -> std::io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if file.is_none() {
            *file = Some(Arc::new(LeaseFile::open(state_dir)?));
        }
        Ok(())
    }

    fn file(&self) -> Option<Arc<LeaseFile>> {
        self.file.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn state(&self) -> MutexGuard<'_, Lease> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn role(&self) -> Role {
        self.state().role
    }

    pub(super) fn set_role(&self, role: Role) {
        self.state().role = role;
    }

    /// A waiter that gets the lease from now on lets it go at once (under the state's lock:
    /// a waiter taking the lease either sees this or is trading before it).
    pub(super) fn cancel_waiters(&self) {
        let _state = self.state();
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Moves the role from `from` to `to` if it is `from`, in one step; whether it did.
    pub(super) fn transition(&self, from: Role, to: Role) -> bool {
        let mut state = self.state();
        if state.role == from {
            state.role = to;
            true
        } else {
            false
        }
    }

    /// The lease with the strategy thread's decision times.
    pub(super) fn snapshot(&self, h: &crate::runtime::strategy::Handover) -> Lease {
        let mut lease = *self.state();
        lease.first_decision_ns = h.first_decision_ns.load(Ordering::Relaxed);
        lease.last_decision_ns = h.last_decision_ns.load(Ordering::Relaxed);
        lease.decided = h.decided.load(Ordering::Relaxed);
        lease
    }
}

impl MarketBot {
    /// Takes the lease if no other instance holds it, before the runtime starts: the books
    /// the previous holder persisted, then the gate open (the start checks the loss limits).
    /// `Ok(false)`: another instance holds it (this one starts in standby).
    pub(super) fn take_lease_now(&self) -> std::io::Result<bool> {
        let Some(file) = self.lease.file() else {
            return Ok(false);
        };
        if !file.try_take()? {
            return Ok(false);
        }
        match load_books(&self.options.state_dir) {
            Ok(books) => books.apply(&mut self.shared()),
            Err(e) => {
                let _ = file.release();
                return Err(std::io::Error::other(e.to_string()));
            }
        }
        let h = &self.gate.handover;
        h.leased.store(true, Ordering::SeqCst);
        h.first_decision_ns.store(0, Ordering::Relaxed);
        let taken_ns = sniperforge_host::clock::monotonic_ns();
        {
            let mut state = self.lease.state();
            state.role = Role::Trading;
            state.taken_ns = taken_ns;
        }
        self.gate.standby.store(false, Ordering::SeqCst);
        tracing::info!(bot_id = %self.id, pid = std::process::id(), waited_ms = 0u64, taken_ns, "trading lease taken: this instance trades");
        Ok(true)
    }

    /// A thread that waits for the lease and opens the gate once it holds it.
    pub(super) fn wait_for_lease(&self) -> Result<(), BotError> {
        let file = self
            .lease
            .file()
            .ok_or_else(|| BotError::State("the trading lease file is not open".into()))?;
        let (cell, gate, shared) = (
            Arc::clone(&self.lease),
            Arc::clone(&self.gate),
            Arc::clone(&self.shared),
        );
        let (id, state_dir) = (self.id.clone(), self.options.state_dir.clone());
        let epoch = cell.epoch.load(Ordering::SeqCst);
        std::thread::Builder::new()
            .name(format!("lease-{id}"))
            .spawn(move || {
                let waited = std::time::Instant::now();
                match file.try_take() {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(bot_id = %id, lease = %file.path().display(), "standby: another instance of this bot holds the trading lease; waiting for it");
                        if let Err(e) = file.take() {
                            tracing::error!(bot_id = %id, error = %e, "waiting for the trading lease");
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::error!(bot_id = %id, error = %e, "taking the trading lease");
                        return;
                    }
                }
                take(&cell, epoch, &file, &gate, &shared, &state_dir, &id, waited.elapsed());
            })
            .map(|_| ())
            .map_err(|e| BotError::State(format!("spawning the lease thread: {e}")))
    }

    /// Closes the gate and waits (at most `deadline`) until the strategy thread has no order in
    /// flight and the executor has booked and persisted everything; `Err(open orders)` when the
    /// deadline passes first (the gate stays closed).
    pub(super) async fn drain(&self, deadline: Duration) -> Result<(), usize> {
        let h = &self.gate.handover;
        self.gate.standby.store(true, Ordering::SeqCst);
        let req = h.requested.fetch_add(1, Ordering::SeqCst) + 1;
        if !self.shared().runner_alive {
            // No runtime thread: nothing in flight, nothing more to book.
            h.drained.store(req, Ordering::SeqCst);
            h.flushed.store(req, Ordering::SeqCst);
            return Ok(());
        }
        let gate = Arc::clone(&self.gate);
        let stopping = Arc::clone(&self.stop);
        let settled = tokio::task::spawn_blocking(move || {
            let until = std::time::Instant::now() + deadline;
            loop {
                // Settled, or the runtime is stopping (its finish books and persists what is
                // left while the lease is still held).
                if gate.handover.flushed.load(Ordering::Acquire) >= req
                    || stopping.load(Ordering::Relaxed)
                {
                    return true;
                }
                if std::time::Instant::now() >= until {
                    return false;
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        })
        .await
        .unwrap_or(false);
        if settled {
            Ok(())
        } else {
            Err(self.open_orders())
        }
    }

    /// Orders in flight as last published (the strategy thread's count is its own).
    fn open_orders(&self) -> usize {
        self.shared()
            .custom
            .get("open_orders")
            .map_or(0, |v| *v as usize)
    }

    pub(super) async fn hand_over_within(
        &self,
        deadline: Duration,
    ) -> Result<HandedOver, BotError> {
        let started = sniperforge_host::clock::monotonic_ns();
        if !self.lease.transition(Role::Trading, Role::Draining) {
            let role = self.lease.role();
            if role == Role::Released {
                return Ok(HandedOver {
                    lease: self.lease.snapshot(&self.gate.handover),
                    drain_ns: 0,
                });
            }
            return Err(BotError::Handover(format!(
                "this instance is {}: it holds no trading lease to hand over",
                role.as_str()
            )));
        }
        if self.stop.load(Ordering::Relaxed) {
            // Stopping meanwhile: the stop lets the lease go.
            return Err(BotError::Handover("the bot is stopping".into()));
        }
        if let Err(open) = self.drain(deadline).await {
            // Not settled: this instance trades on (the handover is off), unless it stopped.
            if self.lease.transition(Role::Draining, Role::Trading) {
                self.gate.standby.store(false, Ordering::SeqCst);
            }
            return Err(BotError::Handover(format!(
                "{open} order(s) still in flight after {} ms: not handed over, still trading",
                deadline.as_millis()
            )));
        }
        self.release_lease();
        let lease = self.lease.snapshot(&self.gate.handover);
        let drain_ns = lease.released_ns.saturating_sub(started);
        tracing::info!(bot_id = %self.id, pid = std::process::id(), drain_us = drain_ns / 1_000, decided = lease.decided, released_ns = lease.released_ns, last_decision_ns = lease.last_decision_ns, "handed over: the trading lease is let go");
        Ok(HandedOver { lease, drain_ns })
    }

    /// Lets the lease go (after a drain, or at the stop): the state files stop being ours.
    /// The release is stamped before the lock goes, so every decision of this instance (none
    /// after the drain) precedes the stamp and the stamp precedes the next holder's.
    pub(super) fn release_lease(&self) {
        let h = &self.gate.handover;
        self.gate.standby.store(true, Ordering::SeqCst);
        let held = h.leased.swap(false, Ordering::SeqCst);
        let released_ns = sniperforge_host::clock::monotonic_ns();
        if let Some(file) = self.lease.file()
            && held
            && let Err(e) = file.release()
        {
            tracing::error!(bot_id = %self.id, error = %e, "letting the trading lease go");
        }
        let last_decision_ns = h.last_decision_ns.load(Ordering::Relaxed);
        let decided = h.decided.load(Ordering::Relaxed);
        let mut state = self.lease.state();
        if held {
            state.released_ns = released_ns;
            tracing::info!(bot_id = %self.id, pid = std::process::id(), released_ns, last_decision_ns, decided, "trading lease released");
        }
        state.role = Role::Released;
    }
}

/// The lease is ours: the previous holder's books, then the gate opens (unless the bot
/// stopped meanwhile: then it is let go at once).
#[allow(clippy::too_many_arguments)]
fn take(
    cell: &LeaseCell,
    epoch: u64,
    file: &LeaseFile,
    gate: &crate::runtime::strategy::Gate,
    shared: &Mutex<Shared>,
    state_dir: &std::path::Path,
    id: &str,
    waited: Duration,
) {
    // Read before any lock is held (a slow or hostile file holds up no other thread).
    let books = load_books(state_dir);
    let halted = {
        let mut g = lock(shared);
        let reason = match books {
            Ok(books) => {
                books.apply(&mut g);
                loss_limit_reason(&g, None)
            }
            // Trading on a daily PnL that may be stale could pass the loss limit: halted.
            Err(e) => Some(format!(
                "the books (daily PnL) the previous holder left are unreadable: {e}"
            )),
        };
        match reason {
            Some(reason) => {
                tracing::error!(bot_id = %id, %reason, "not trading");
                let _ = g.status.transition(BotStatus::Error(reason));
                true
            }
            None => false,
        }
    };
    if halted {
        gate.halted.store(true, Ordering::Relaxed);
    }
    let taken_ns = {
        let mut state = cell.state();
        if cell.epoch.load(Ordering::SeqCst) != epoch {
            // The bot stopped (or was asked to) while this thread waited.
            drop(state);
            let _ = file.release();
            return;
        }
        gate.handover.leased.store(true, Ordering::SeqCst);
        gate.handover.first_decision_ns.store(0, Ordering::Relaxed);
        // The strategy thread's loss guard starts from the daily PnL above before it decides.
        gate.handover.resumed.fetch_add(1, Ordering::SeqCst);
        let taken_ns = sniperforge_host::clock::monotonic_ns();
        state.role = Role::Trading;
        state.taken_ns = taken_ns;
        gate.standby.store(false, Ordering::SeqCst);
        taken_ns
    };
    tracing::info!(bot_id = %id, pid = std::process::id(), waited_ms = waited.as_millis() as u64, taken_ns, "trading lease taken: this instance trades");
}
