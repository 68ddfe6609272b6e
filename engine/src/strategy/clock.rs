//! Time sources: the monotonic clock a bot runs on and the manual one of tests and benches.

use std::cell::Cell;
use std::time::Instant;

/// Time source of the engine, in nanoseconds from an arbitrary origin.
pub trait Clock {
    /// Now, in ns.
    fn now_ns(&self) -> u64;
}

/// The live clock: monotonic ns since construction.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// The instant that reads as `ns`.
    pub fn origin(&self) -> Instant {
        self.origin
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
}

/// A clock tests and replay advance by hand.
#[derive(Debug, Default)]
pub struct ManualClock(Cell<u64>);

impl ManualClock {
    /// A clock reading `ns`.
    pub fn new(ns: u64) -> Self {
        Self(Cell::new(ns))
    }

    /// Sets the time.
    pub fn set(&self, ns: u64) {
        self.0.set(ns);
    }

    /// Moves the time forward.
    pub fn advance(&self, ns: u64) {
        self.0.set(self.0.get() + ns);
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.0.get()
    }
}
