//! The hand-off from a feed to the strategy thread: a bounded lock-free SPSC ring of
//! [`FeedEvent`]s, a second ring that returns the emptied account-data buffers to the feed
//! (so steady state allocates nothing), and a backlog for what the ring has no room for, where
//! the newest state of an account replaces an older one still waiting (counted). The strategy
//! thread is woken only when it parks; a spinning one is never unparked.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::thread::Thread;

use crate::feed::FeedEvent;
use crate::pubkey::Pubkey;
use crate::ring::{Consumer, Producer, ring};

/// Capacity of a small buffer: pools, vaults and mints (a Raydium AMM v4 pool is 752 bytes).
pub const SMALL: usize = 2_048;
/// Capacity of a large buffer: Whirlpool tick arrays (9,988 bytes fixed). Larger buffers are
/// neither pooled nor kept (a hostile endpoint's 50 MB account must not stay pinned).
pub const LARGE: usize = 16_384;
/// Buffers of each class allocated up front (1 MiB small, 2 MiB large): a burst of this many
/// updates in flight (5 ms at 100,000/s) allocates nothing even the first time.
pub const PREFILL: [usize; 2] = [512, 128];
/// Events the backlog holds at most; past it, new events are dropped and the feed told to
/// resynchronise ([`Ingress::take_overflow`]). Accounts coalesce, so only a flood of distinct
/// accounts or of stream breaks reaches it.
pub const MAX_BACKLOG: usize = 65_536;

/// What both halves share besides the rings.
#[derive(Debug, Default)]
pub struct IngressStats {
    /// Updates replaced by a newer state of the same account while the ring was full.
    pub coalesced: AtomicU64,
    /// Events the feed handed over.
    pub produced: AtomicU64,
    /// Events dropped because the backlog was full (the feed resynchronises).
    pub overflowed: AtomicU64,
    parked: AtomicBool,
    waker: std::sync::OnceLock<Thread>,
}

/// The feed's half.
#[derive(Debug)]
pub struct Ingress {
    ring: Producer<FeedEvent>,
    free: [Consumer<Vec<u8>>; 2],
    backlog: Backlog,
    stats: Arc<IngressStats>,
    produced: u64,
    overflow: bool,
}

/// The strategy thread's half.
#[derive(Debug)]
pub struct Egress {
    ring: Consumer<FeedEvent>,
    free: [Producer<Vec<u8>>; 2],
    stats: Arc<IngressStats>,
}

/// A ring of at least `capacity` events and its buffer pool.
pub fn channel(capacity: usize) -> (Ingress, Egress) {
    let (p, c) = ring(capacity);
    // As many of each class as the ring holds: every buffer a full ring gives back is kept,
    // and the pool never holds more than were in flight at the peak.
    let (mut small_p, small_c) = ring(capacity.max(PREFILL[0]));
    let (mut large_p, large_c) = ring(capacity.max(PREFILL[1]));
    for _ in 0..PREFILL[0] {
        let _ = small_p.push(Vec::with_capacity(SMALL));
    }
    for _ in 0..PREFILL[1] {
        let _ = large_p.push(Vec::with_capacity(LARGE));
    }
    let stats = Arc::new(IngressStats::default());
    (
        Ingress {
            ring: p,
            free: [small_c, large_c],
            backlog: Backlog::default(),
            stats: Arc::clone(&stats),
            produced: 0,
            overflow: false,
        },
        Egress {
            ring: c,
            free: [small_p, large_p],
            stats,
        },
    )
}

impl Ingress {
    /// An empty buffer for `len` bytes of account data: a returned one of its size class when
    /// there is one, else a new one of the class's capacity (so a buffer never grows in steady
    /// state; the pool keeps at most what was in flight at the peak, and at most as many of
    /// each class as the ring holds).
    #[inline]
    pub fn buffer_for(&mut self, len: usize) -> Vec<u8> {
        let (class, capacity) = match len {
            l if l <= SMALL => (0, SMALL),
            l if l <= LARGE => (1, LARGE),
            l => return Vec::with_capacity(l),
        };
        match self.free[class].pop() {
            Some(mut b) => {
                b.reserve(len);
                b
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// Hands `event` over, or keeps it (coalescing) when the ring is full or others wait first.
    /// Never blocks.
    #[inline]
    pub fn push(&mut self, event: FeedEvent) {
        self.produced += 1;
        self.stats.produced.store(self.produced, Ordering::Relaxed);
        if self.backlog.is_empty() {
            match self.ring.push(event) {
                Ok(()) => self.wake(),
                Err(event) => self.keep(event),
            }
        } else {
            self.keep(event);
            self.flush();
        }
    }

    fn keep(&mut self, event: FeedEvent) {
        if self.backlog.queue.len() >= MAX_BACKLOG {
            self.overflow = true;
            self.stats.overflowed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.backlog.put(event, &self.stats);
        }
    }

    /// Whether events were dropped on a full backlog since the last call: the feed's state is
    /// then incomplete and it must resynchronise (a Solana reader reconnects and snapshots).
    pub fn take_overflow(&mut self) -> bool {
        std::mem::take(&mut self.overflow)
    }

    /// Hands `event` over without ever coalescing: waits (calling `wait` between tries) while
    /// the ring is full. For recordings, whose every record counts. `false`: the strategy
    /// thread is gone.
    pub fn push_lossless(&mut self, event: FeedEvent, mut wait: impl FnMut()) -> bool {
        self.produced += 1;
        self.stats.produced.store(self.produced, Ordering::Relaxed);
        let mut event = event;
        loop {
            match self.ring.push(event) {
                Ok(()) => {
                    self.wake();
                    return true;
                }
                Err(back) => {
                    if self.ring.is_abandoned() {
                        return false;
                    }
                    event = back;
                    self.wake();
                    wait();
                }
            }
        }
    }

    /// Moves waiting events into the ring; `true` when nothing waits any more.
    #[inline]
    pub fn flush(&mut self) -> bool {
        if !self.backlog.is_empty() && self.backlog.drain_into(&mut self.ring) {
            self.wake();
        }
        self.backlog.is_empty()
    }

    /// Whether the strategy thread has gone.
    pub fn is_abandoned(&self) -> bool {
        self.ring.is_abandoned()
    }

    /// The counters both halves share.
    pub fn stats(&self) -> &Arc<IngressStats> {
        &self.stats
    }

    #[inline]
    fn wake(&self) {
        // Pairs with the fence in `Egress::park`: either the consumer sees the event on its
        // last look, or this sees its flag and unparks it.
        fence(Ordering::SeqCst);
        if self.stats.parked.load(Ordering::Relaxed)
            && self.stats.parked.swap(false, Ordering::AcqRel)
            && let Some(t) = self.stats.waker.get()
        {
            t.unpark();
        }
    }
}

impl Egress {
    /// The oldest event waiting, if any.
    #[inline]
    pub fn pop(&mut self) -> Option<FeedEvent> {
        self.ring.pop()
    }

    /// Gives an account's data buffer back to the feed (dropped when its class's pool is full,
    /// or when it is smaller than a class: a buffer the feed did not take from the pool).
    #[inline]
    pub fn recycle(&mut self, mut data: Vec<u8>) {
        let class = match data.capacity() {
            c if c > LARGE => return,
            c if c >= LARGE => 1,
            c if c >= SMALL => 0,
            _ => return,
        };
        data.clear();
        let _ = self.free[class].push(data);
    }

    /// Whether the feed has gone.
    pub fn is_abandoned(&self) -> bool {
        self.ring.is_abandoned()
    }

    /// Parks the calling thread for at most `timeout`, woken by the next event.
    pub fn park(&mut self, timeout: std::time::Duration) {
        let _ = self.stats.waker.set(std::thread::current());
        self.stats.parked.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.ring.is_empty() {
            std::thread::park_timeout(timeout);
        }
        self.stats.parked.store(false, Ordering::Relaxed);
    }

    /// The counters both halves share.
    pub fn stats(&self) -> &Arc<IngressStats> {
        &self.stats
    }
}

/// Events the ring had no room for. An account's newer state replaces its older one still
/// waiting, and one slot event stands for all that wait; a `Resync` or `Down` closes the epoch
/// (nothing after it replaces anything before it). Events leave in the order they came.
#[derive(Debug, Default)]
struct Backlog {
    queue: VecDeque<FeedEvent>,
    /// Sequence number of the queue's front.
    base: u64,
    accounts: HashMap<Pubkey, u64>,
    slot_at: Option<u64>,
}

impl Backlog {
    fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    fn put(&mut self, event: FeedEvent, stats: &IngressStats) {
        let seq = self.base + self.queue.len() as u64;
        match event {
            FeedEvent::Account(u) => match self.accounts.get(&u.pubkey) {
                Some(&at) => {
                    self.queue[(at - self.base) as usize] = FeedEvent::Account(u);
                    stats.coalesced.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    self.accounts.insert(u.pubkey, seq);
                    self.queue.push_back(FeedEvent::Account(u));
                }
            },
            FeedEvent::Slot(s) => match self.slot_at {
                Some(at) => self.queue[(at - self.base) as usize] = FeedEvent::Slot(s),
                None => {
                    self.slot_at = Some(seq);
                    self.queue.push_back(FeedEvent::Slot(s));
                }
            },
            other => {
                self.accounts.clear();
                self.slot_at = None;
                self.queue.push_back(other);
            }
        }
    }

    /// Moves events into the ring until it is full or the backlog empty; whether any moved.
    fn drain_into(&mut self, ring: &mut Producer<FeedEvent>) -> bool {
        let mut moved = false;
        while let Some(event) = self.queue.pop_front() {
            let seq = self.base;
            let key = match &event {
                FeedEvent::Account(u) => Some(u.pubkey),
                _ => None,
            };
            match ring.push(event) {
                Ok(()) => {
                    moved = true;
                    self.base += 1;
                    if let Some(key) = key
                        && self.accounts.get(&key) == Some(&seq)
                    {
                        self.accounts.remove(&key);
                    }
                    if self.slot_at == Some(seq) {
                        self.slot_at = None;
                    }
                }
                Err(event) => {
                    self.queue.push_front(event);
                    break;
                }
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::AccountUpdate;

    fn update(key: u8, version: u64) -> FeedEvent {
        FeedEvent::Account(AccountUpdate {
            pubkey: Pubkey([key; 32]),
            owner: Pubkey([0; 32]),
            slot: 1,
            write_version: version,
            data: vec![key],
            received_at: version,
        })
    }

    fn drain(e: &mut Egress) -> Vec<FeedEvent> {
        std::iter::from_fn(|| e.pop()).collect()
    }

    #[test]
    fn a_burst_larger_than_the_ring_coalesces_and_the_newest_state_arrives() {
        let (mut i, mut e) = channel(4);
        // 4 fit; then 100 states of 3 accounts, a slot storm and a resync boundary.
        for v in 0..100u64 {
            i.push(update((v % 3) as u8, v + 10));
            i.push(FeedEvent::Slot(v));
        }
        assert!(!i.flush());
        let mut got = drain(&mut e);
        while !i.flush() {
            got.extend(drain(&mut e));
        }
        got.extend(drain(&mut e));
        let newest: Vec<u64> = (0..3u8)
            .map(|k| {
                got.iter()
                    .filter_map(|ev| match ev {
                        FeedEvent::Account(u) if u.pubkey.0[0] == k => Some(u.write_version),
                        _ => None,
                    })
                    .max()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            newest,
            vec![109, 107, 108],
            "every account's newest state arrives"
        );
        let slots = got.iter().filter_map(|ev| match ev {
            FeedEvent::Slot(s) => Some(*s),
            _ => None,
        });
        assert_eq!(slots.max(), Some(99), "the newest slot arrives");
        assert!(
            got.len() < 20,
            "the backlog coalesced: {} events",
            got.len()
        );
        let coalesced = i.stats().coalesced.load(Ordering::Relaxed);
        assert!(coalesced > 90, "{coalesced}");
    }

    #[test]
    fn a_resync_closes_the_epoch() {
        let (mut i, mut e) = channel(2);
        i.push(update(9, 1));
        i.push(update(9, 2));
        i.push(update(1, 1));
        i.push(FeedEvent::Down("x".into()));
        i.push(update(1, 2));
        i.push(update(1, 3));
        let mut got = drain(&mut e);
        while !i.flush() {
            got.extend(drain(&mut e));
        }
        got.extend(drain(&mut e));
        let versions: Vec<String> = got
            .iter()
            .map(|ev| match ev {
                FeedEvent::Account(u) => format!("{}@{}", u.pubkey.0[0], u.write_version),
                FeedEvent::Down(_) => "down".into(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(versions, ["9@1", "9@2", "1@1", "down", "1@3"]);
    }

    #[test]
    fn buffers_come_back_to_the_feed() {
        let (mut i, mut e) = channel(4);
        // Take every prefilled buffer, then one more.
        let prefilled: Vec<Vec<u8>> = (0..PREFILL[0]).map(|_| i.buffer_for(600)).collect();
        assert!(prefilled.iter().all(|b| b.capacity() == SMALL));
        let mut data = i.buffer_for(600);
        assert_eq!(data.capacity(), SMALL);
        data.extend_from_slice(&[1; 600]);
        let at = data.as_ptr();
        e.recycle(data);
        let again = i.buffer_for(700);
        assert!(
            again.is_empty() && again.as_ptr() == at,
            "the same allocation comes back"
        );
        let large = i.buffer_for(10_000);
        assert_eq!(large.capacity(), LARGE);
        e.recycle(large);
        assert_eq!(i.buffer_for(9_988).capacity(), LARGE);
        // A buffer the pool did not hand out (a decoder's own) is dropped, not kept; so is a
        // huge one.
        e.recycle(vec![0; 165]);
        assert_eq!(i.buffer_for(165).capacity(), SMALL);
        e.recycle(vec![0; 50_000_000]);
        assert_eq!(i.buffer_for(10_000).capacity(), LARGE);
    }

    #[test]
    fn a_flood_of_distinct_accounts_is_bounded_and_asks_for_a_resync() {
        let (mut i, _e) = channel(4);
        for k in 0..(MAX_BACKLOG as u64 + 100) {
            i.push(FeedEvent::Account(AccountUpdate {
                pubkey: Pubkey({
                    let mut b = [0u8; 32];
                    b[..8].copy_from_slice(&k.to_le_bytes());
                    b
                }),
                owner: Pubkey([0; 32]),
                slot: 1,
                write_version: k,
                data: Vec::new(),
                received_at: k,
            }));
        }
        assert!(i.backlog.queue.len() <= MAX_BACKLOG);
        assert!(i.take_overflow());
        assert!(!i.take_overflow(), "reported once");
        assert_eq!(i.stats().overflowed.load(Ordering::Relaxed), 96);
    }
}
