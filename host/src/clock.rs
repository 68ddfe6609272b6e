//! The node's monotonic clock in nanoseconds: one clock for every process of a node, so times two
//! processes stamp (an old and a new instance of a bot in a handover) compare.

use std::time::Instant;

/// `CLOCK_MONOTONIC` now, ns.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

/// `at` on `CLOCK_MONOTONIC`, ns (what [`Instant`] reads on Linux; converted through now, so
/// within a microsecond).
pub fn instant_ns(at: Instant) -> u64 {
    let now = Instant::now();
    let mono = monotonic_ns();
    if at <= now {
        mono.saturating_sub(now.duration_since(at).as_nanos() as u64)
    } else {
        mono.saturating_add(at.duration_since(now).as_nanos() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_and_the_clock_agree() {
        let before = monotonic_ns();
        let at = Instant::now();
        let after = monotonic_ns();
        let ns = instant_ns(at);
        assert!(
            ns + 1_000_000 >= before && ns <= after + 1_000_000,
            "{before} {ns} {after}"
        );
        assert!(monotonic_ns() >= after);
    }
}
