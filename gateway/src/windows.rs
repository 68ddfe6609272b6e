//! Latency over time: every reported interval snapshot is merged, per stage, into the windows of
//! five scopes — its bot (`bot:<id>`), its bot type (`type:<t>`), its environment
//! (`env:<e>`), its node (`node:<id>`) and the fleet (`fleet`) — at two resolutions: 1 s windows kept in memory (an hour by default) and
//! 1 min windows written to the store (kept 7 days by default). A range query merges the windows
//! of each step and answers p50/p90/p99/p99.9/max per point and over the whole range.
//!
//! A window holds only its non-empty buckets, sparse: values are quantised to 8 significant bits
//! (under 0.8 % above the recorded value, reported as the bucket's highest value, as HdrHistogram
//! reports its own), and a closed window is packed as varint (value delta, count) pairs: a few
//! hundred bytes for a busy second. Memory: scopes × stages × seconds kept × packed size.

use std::collections::{BTreeMap, HashMap, VecDeque};

/// Values below this are kept exactly; above, the top [`KEPT_BITS`] bits.
const KEPT_BITS: u32 = 8;

/// Lowest value of `v`'s bucket.
fn bucket(v: u64) -> u64 {
    let bits = 64 - v.leading_zeros();
    if bits <= KEPT_BITS {
        v
    } else {
        let shift = bits - KEPT_BITS;
        (v >> shift) << shift
    }
}

/// Highest value of the bucket whose lowest value is `low`.
fn bucket_high(low: u64) -> u64 {
    let bits = 64 - low.leading_zeros();
    if bits <= KEPT_BITS {
        low
    } else {
        low | ((1u64 << (bits - KEPT_BITS)) - 1)
    }
}

/// Sparse counts: bucket's lowest value → count.
pub type Counts = BTreeMap<u64, u64>;

/// Adds a value and its count.
pub fn add(counts: &mut Counts, value: u64, count: u64) {
    let slot = counts.entry(bucket(value)).or_insert(0);
    *slot = slot.saturating_add(count);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Packs counts as varint (value delta, count) pairs.
pub fn pack(counts: &Counts) -> Vec<u8> {
    pack_sorted(counts.iter().map(|(&v, &c)| (v, c)))
}

/// Packs `(value, count)` pairs given in increasing value order.
fn pack_sorted(pairs: impl Iterator<Item = (u64, u64)>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut last = 0;
    for (v, c) in pairs {
        put_varint(&mut out, v - last);
        put_varint(&mut out, c);
        last = v;
    }
    out
}

/// Buckets of values up to 2^40 ns (18 min; the merged histograms stop at 60 s): 256 exact
/// values, then 128 per power of two. Larger values count in the last bucket.
const DENSE_BUCKETS: usize = 256 + 32 * 128;

fn dense_index(low: u64) -> usize {
    let bits = 64 - low.leading_zeros();
    if bits <= KEPT_BITS {
        return low as usize;
    }
    let shift = (bits - KEPT_BITS) as usize;
    (256 + (shift - 1) * 128 + ((low >> shift) as usize - 128)).min(DENSE_BUCKETS - 1)
}

fn dense_low(index: usize) -> u64 {
    if index < 256 {
        return index as u64;
    }
    let shift = (index - 256) / 128 + 1;
    ((128 + (index - 256) % 128) as u64) << shift
}

/// An open window's counts. A bot's windows take one snapshot a second or so: sorted distinct
/// pairs, merged in linear time (sparse). A group's (type, node, fleet) take every bot's: a fixed
/// array indexed by bucket (dense, 34 KB), so each pair is one add.
#[derive(Debug)]
enum Acc {
    /// Sorted by value, distinct.
    Sparse(Vec<(u64, u64)>),
    Dense(Box<[u64]>),
}

/// Merges two runs sorted by value (counts of equal values added).
fn merge_sorted(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if x.0 < y.0 {
            out.push(x);
            i += 1;
        } else if y.0 < x.0 {
            out.push(y);
            j += 1;
        } else {
            out.push((x.0, x.1.saturating_add(y.1)));
            i += 1;
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

impl Acc {
    fn new(dense: bool) -> Self {
        if dense {
            Self::Dense(vec![0; DENSE_BUCKETS].into_boxed_slice())
        } else {
            Self::Sparse(Vec::new())
        }
    }

    /// Adds pairs of bucket lows sorted by value and distinct; `index` holds their dense
    /// indices (computed once for every scope a snapshot goes to).
    fn add_indexed(&mut self, pairs: &[(u64, u64)], index: &[usize]) {
        match self {
            Self::Dense(a) => {
                for (&(_, c), &i) in pairs.iter().zip(index) {
                    let slot = &mut a[i];
                    *slot = slot.saturating_add(c);
                }
            }
            sparse => sparse.add(pairs),
        }
    }

    /// Adds pairs of bucket lows sorted by value and distinct.
    fn add(&mut self, pairs: &[(u64, u64)]) {
        match self {
            Self::Dense(a) => {
                for &(v, c) in pairs {
                    let slot = &mut a[dense_index(v)];
                    *slot = slot.saturating_add(c);
                }
            }
            Self::Sparse(p) if p.is_empty() => p.extend_from_slice(pairs),
            Self::Sparse(p) => *p = merge_sorted(p, pairs),
        }
    }

    /// Adds another window's counts.
    fn add_acc(&mut self, other: &Acc) {
        match (self, other) {
            (Self::Dense(a), Self::Dense(b)) => {
                for (x, &y) in a.iter_mut().zip(b.iter()) {
                    *x = x.saturating_add(y);
                }
            }
            (me, Self::Sparse(b)) => me.add(b),
            (me, other) => {
                let mut pairs = Vec::new();
                other.for_each(|v, c| pairs.push((v, c)));
                me.add(&pairs);
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::Dense(a) => a.iter().all(|&c| c == 0),
            Self::Sparse(p) => p.is_empty(),
        }
    }

    /// Calls `f(value, count)` for every non-empty bucket, lowest first.
    fn for_each(&self, mut f: impl FnMut(u64, u64)) {
        match self {
            Self::Dense(a) => {
                for (i, &c) in a.iter().enumerate().filter(|(_, c)| **c > 0) {
                    f(dense_low(i), c);
                }
            }
            Self::Sparse(p) => p.iter().for_each(|&(v, c)| f(v, c)),
        }
    }

    /// Packed ([`pack`]'s format).
    fn pack(&self) -> Vec<u8> {
        let mut pairs = Vec::new();
        self.for_each(|v, c| pairs.push((v, c)));
        pack_sorted(pairs.into_iter())
    }
}

/// Packed counts that do not unpack (a store row damaged by hand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnpackError {
    /// A varint runs past the end.
    #[error("truncated varint at byte {at} of {len}")]
    Truncated {
        /// Where reading stopped.
        at: usize,
        /// The packed length.
        len: usize,
    },
    /// A value past `u64::MAX`.
    #[error("value overflows at byte {at}")]
    Overflow {
        /// Where.
        at: usize,
    },
}

/// Adds packed counts into `into`; `Err` names what is wrong.
pub fn unpack_into(bytes: &[u8], into: &mut Counts) -> Result<(), UnpackError> {
    let (mut at, mut value) = (0, 0u64);
    while at < bytes.len() {
        let (Some(delta), Some(count)) = (get_varint(bytes, &mut at), get_varint(bytes, &mut at))
        else {
            return Err(UnpackError::Truncated {
                at,
                len: bytes.len(),
            });
        };
        value = value
            .checked_add(delta)
            .ok_or(UnpackError::Overflow { at })?;
        let slot = into.entry(value).or_insert(0);
        *slot = slot.saturating_add(count);
    }
    Ok(())
}

/// Percentiles of sparse counts (ns): `{count, p50, p90, p99, p999, max}`.
pub fn percentiles(counts: &Counts) -> crate::api::bodies::Percentiles {
    let total: u64 = counts.values().fold(0u64, |a, &c| a.saturating_add(c));
    let quantiles = [0.5, 0.9, 0.99, 0.999];
    let mut at = [0u64; 4];
    let (mut seen, mut next) = (0u64, 0);
    for (&v, &c) in counts {
        seen = seen.saturating_add(c);
        while next < quantiles.len()
            && seen >= ((quantiles[next] * total as f64).ceil() as u64).max(1)
        {
            at[next] = bucket_high(v);
            next += 1;
        }
    }
    let max = counts.keys().next_back().map_or(0, |&v| bucket_high(v));
    crate::api::bodies::Percentiles {
        count: total,
        p50: at[0],
        p90: at[1],
        p99: at[2],
        p999: at[3],
        max,
    }
}

/// One open window.
#[derive(Debug)]
struct Open {
    start_ms: i64,
    acc: Acc,
}

/// One scope and stage: the open second and minute, and the closed seconds.
#[derive(Debug, Default)]
struct Series {
    second: Option<Open>,
    minute: Option<Open>,
    seconds: VecDeque<(i64, Box<[u8]>)>,
}

/// A closed minute window, to be written to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteWindow {
    /// `fleet`, `bot:<id>`, `type:<t>` or `node:<id>`.
    pub scope: String,
    /// Pipeline stage.
    pub stage: String,
    /// Window start, unix ms (a multiple of 60 000).
    pub start_ms: i64,
    /// Packed counts ([`pack`]).
    pub data: Vec<u8>,
}

/// The windows of every scope and stage.
#[derive(Debug)]
pub struct Windows {
    series: HashMap<(String, String), Series>,
    /// How long closed 1 s windows are kept (ms).
    seconds_kept_ms: i64,
    bot_seconds_kept_ms: i64,
    /// Closed minutes not yet written to the store.
    pending: Vec<MinuteWindow>,
}

/// Closed minutes held for the store at most (while it fails); beyond, the oldest are dropped.
pub const PENDING_MAX: usize = 200_000;

/// 1 s windows are kept this long unless configured.
pub const SECONDS_KEPT_MS: i64 = 3_600_000;
/// A bot's own 1 s windows are kept this long unless configured.
pub const BOT_SECONDS_KEPT_MS: i64 = 360_000;
/// 1 min windows are kept this long unless configured.
pub const MINUTES_KEPT_MS: i64 = 7 * 24 * 3_600_000;

/// How long each resolution is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// 1 s windows of the fleet, bot types and nodes, in memory (ms).
    pub seconds_ms: i64,
    /// 1 s windows of each bot, in memory (ms): shorter, since there are as many as bots × stages
    /// (a busy stage's second packs to 1–3 KB: 1,000 bots × 3 stages × 6 min ≈ 1–3.5 GB).
    pub bot_seconds_ms: i64,
    /// 1 min windows, in the store (ms).
    pub minutes_ms: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            seconds_ms: SECONDS_KEPT_MS,
            bot_seconds_ms: BOT_SECONDS_KEPT_MS,
            minutes_ms: MINUTES_KEPT_MS,
        }
    }
}

impl Default for Windows {
    fn default() -> Self {
        Self::new(SECONDS_KEPT_MS, BOT_SECONDS_KEPT_MS)
    }
}

impl Windows {
    /// Windows keeping 1 s resolution for `seconds_kept_ms` (a bot's own: `bot_seconds_kept_ms`).
    pub fn new(seconds_kept_ms: i64, bot_seconds_kept_ms: i64) -> Self {
        Self {
            series: HashMap::new(),
            seconds_kept_ms: seconds_kept_ms.max(1_000),
            bot_seconds_kept_ms: bot_seconds_kept_ms.max(1_000),
            pending: Vec::new(),
        }
    }

    /// How far back `scope`'s 1 s windows reach.
    pub fn seconds_kept_ms(&self, scope: &str) -> i64 {
        if scope.starts_with("bot:") {
            self.bot_seconds_kept_ms
        } else {
            self.seconds_kept_ms
        }
    }

    /// Merges one snapshot's `(value, count)` pairs, received at `now_ms`, into `scopes`' windows
    /// of `stage`.
    pub fn record(&mut self, scopes: &[String], stage: &str, now_ms: i64, pairs: &[(u64, u64)]) {
        // Bucketed once for every scope; V2 gives values in increasing order, so equal buckets
        // are neighbours.
        let mut bucketed: Vec<(u64, u64)> = Vec::with_capacity(pairs.len());
        for &(v, c) in pairs {
            let b = bucket(v);
            match bucketed.last_mut() {
                Some(last) if last.0 == b => last.1 = last.1.saturating_add(c),
                _ => bucketed.push((b, c)),
            }
        }
        let index: Vec<usize> = bucketed.iter().map(|&(v, _)| dense_index(v)).collect();
        for scope in scopes {
            let kept = self.seconds_kept_ms(scope);
            let key = (scope.clone(), stage.to_string());
            let series = self.series.entry(key).or_default();
            Self::roll(series, scope, stage, now_ms, kept, &mut self.pending);
            // Into the second only: a second is added into its minute when it closes.
            if let Some(open) = series.second.as_mut() {
                open.acc.add_indexed(&bucketed, &index);
            }
        }
    }

    /// Closes the windows that `now_ms` has passed (seconds into the ring, minutes into the
    /// pending list) and opens the current ones.
    fn roll(
        series: &mut Series,
        scope: &str,
        stage: &str,
        now_ms: i64,
        kept_ms: i64,
        pending: &mut Vec<MinuteWindow>,
    ) {
        let second = now_ms - now_ms.rem_euclid(1_000);
        let minute = now_ms - now_ms.rem_euclid(60_000);
        let dense = !scope.starts_with("bot:");
        if series.second.as_ref().is_none_or(|o| o.start_ms != second) {
            if let Some(o) = series.second.take().filter(|o| !o.acc.is_empty()) {
                let its_minute = o.start_ms - o.start_ms.rem_euclid(60_000);
                if series
                    .minute
                    .as_ref()
                    .is_none_or(|m| m.start_ms != its_minute)
                {
                    Self::close_minute(series, scope, stage, pending);
                    series.minute = Some(Open {
                        start_ms: its_minute,
                        acc: Acc::new(dense),
                    });
                }
                if let Some(m) = series.minute.as_mut() {
                    m.acc.add_acc(&o.acc);
                }
                series.seconds.push_back((o.start_ms, o.acc.pack().into()));
            }
            series.second = Some(Open {
                start_ms: second,
                acc: Acc::new(dense),
            });
        }
        while series
            .seconds
            .front()
            .is_some_and(|(t, _)| *t < now_ms - kept_ms)
        {
            series.seconds.pop_front();
        }
        if series.minute.as_ref().is_some_and(|o| o.start_ms != minute) {
            Self::close_minute(series, scope, stage, pending);
        }
    }

    /// Moves the open minute, if it holds anything, to the pending list.
    fn close_minute(
        series: &mut Series,
        scope: &str,
        stage: &str,
        pending: &mut Vec<MinuteWindow>,
    ) {
        if let Some(o) = series.minute.take().filter(|o| !o.acc.is_empty()) {
            pending.push(MinuteWindow {
                scope: scope.to_string(),
                stage: stage.to_string(),
                start_ms: o.start_ms,
                data: o.acc.pack(),
            });
        }
    }

    /// Closes what `now_ms` has passed in the series idle for 2 s (bots that stopped reporting;
    /// the others close their windows as they report) and drops series with nothing left;
    /// closed minutes wait in the pending list.
    pub fn tick(&mut self, now_ms: i64) {
        let (group_kept, bot_kept) = (self.seconds_kept_ms, self.bot_seconds_kept_ms);
        let pending = &mut self.pending;
        self.series.retain(|(scope, stage), series| {
            let kept = if scope.starts_with("bot:") {
                bot_kept
            } else {
                group_kept
            };
            // A series still reporting is rolled by its own next snapshot: closing thousands of
            // bot seconds here at once would hold the lock reports wait on.
            let idle = series
                .second
                .as_ref()
                .is_none_or(|o| o.start_ms < now_ms - 2_000);
            if idle {
                Self::roll(series, scope, stage, now_ms, kept, pending);
            }
            !series.seconds.is_empty()
                || series.minute.is_some()
                || series.second.as_ref().is_some_and(|o| !o.acc.is_empty())
        });
    }

    /// Drops every series of `scope` (a deleted bot's) at once; its closed minutes still go to
    /// the store.
    pub fn forget(&mut self, scope: &str) {
        self.series.retain(|(s, _), _| s != scope);
    }

    /// Up to `max` closed minutes for the store, oldest first.
    pub fn take_pending(&mut self, max: usize) -> Vec<MinuteWindow> {
        let n = max.min(self.pending.len());
        self.pending.drain(..n).collect()
    }

    /// Puts back minutes a store write failed on (first in line); beyond
    /// [`PENDING_MAX`] the oldest are dropped. Returns how many were dropped.
    pub fn requeue(&mut self, mut minutes: Vec<MinuteWindow>) -> usize {
        minutes.append(&mut self.pending);
        let dropped = minutes.len().saturating_sub(PENDING_MAX);
        minutes.drain(..dropped);
        self.pending = minutes;
        dropped
    }

    /// The stages `scope` has windows for.
    pub fn stages(&self, scope: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .series
            .keys()
            .filter(|(s, _)| s == scope)
            .map(|(_, st)| st.clone())
            .collect();
        out.sort();
        out
    }

    /// Adds the 1 s windows of `scope`/`stage` starting in `[from_ms, to_ms)` into `buckets`:
    /// each window goes to the bucket `(start - from) / step_ms`.
    pub fn seconds_into(
        &self,
        scope: &str,
        stage: &str,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
        buckets: &mut [Counts],
    ) {
        let Some(series) = self.series.get(&(scope.to_string(), stage.to_string())) else {
            return;
        };
        let mut put = |start: i64, f: &mut dyn FnMut(&mut Counts)| {
            if start >= from_ms
                && start < to_ms
                && let Some(b) = buckets.get_mut(((start - from_ms) / step_ms) as usize)
            {
                f(b);
            }
        };
        for (start, data) in &series.seconds {
            put(*start, &mut |b| {
                // Packed by this process: cannot be malformed.
                let _ = unpack_into(data, b);
            });
        }
        if let Some(o) = &series.second {
            put(o.start_ms, &mut |b| o.acc.for_each(|v, c| add(b, v, c)));
        }
    }

    /// The counts not in the store yet of `scope`/`stage` by minute: the open minute and the
    /// open second (which joins its minute when it closes).
    pub fn open_minutes(&self, scope: &str, stage: &str) -> Vec<(i64, Counts)> {
        let Some(series) = self.series.get(&(scope.to_string(), stage.to_string())) else {
            return Vec::new();
        };
        let mut out: Vec<(i64, Counts)> = Vec::new();
        for o in [series.minute.as_ref(), series.second.as_ref()]
            .into_iter()
            .flatten()
        {
            let minute = o.start_ms - o.start_ms.rem_euclid(60_000);
            if out.last().is_none_or(|(m, _)| *m != minute) {
                out.push((minute, Counts::new()));
            }
            if let Some((_, counts)) = out.last_mut() {
                o.acc.for_each(|v, c| add(counts, v, c));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_within_one_percent_and_exact_below_256() {
        for v in [
            0u64,
            1,
            200,
            255,
            256,
            257,
            1_000,
            43_210,
            999_999_999,
            u64::MAX,
        ] {
            let low = bucket(v);
            let high = bucket_high(low);
            assert!(low <= v && v <= high, "{v}: {low}..{high}");
            assert!(
                (high - low) as f64 <= v as f64 * 0.008,
                "{v}: {low}..{high}"
            );
        }
        assert_eq!(bucket(200), 200);
    }

    #[test]
    fn dense_buckets_map_one_to_one_onto_bucket_lows() {
        for v in [
            0u64,
            1,
            255,
            256,
            257,
            300,
            1_000,
            43_210,
            60_000_000_000,
            1 << 39,
        ] {
            let low = bucket(v);
            assert_eq!(dense_low(dense_index(low)), low, "{v}");
        }
        let mut last = 0;
        for i in 1..DENSE_BUCKETS {
            assert!(dense_low(i) > last, "bucket {i} is above bucket {}", i - 1);
            last = dense_low(i);
        }
        assert_eq!(dense_index(u64::MAX), DENSE_BUCKETS - 1, "clamped");
    }

    #[test]
    fn sparse_and_dense_windows_pack_the_same() {
        let pairs: Vec<(u64, u64)> = (0..5_000u64)
            .map(|i| (bucket(i * 37 + 5), i % 3 + 1))
            .collect();
        let (mut sparse, mut dense) = (Acc::new(false), Acc::new(true));
        for chunk in pairs.chunks(700) {
            // Each chunk as a snapshot gives it: sorted, distinct.
            let mut run: Counts = Counts::new();
            for &(v, c) in chunk {
                add(&mut run, v, c);
            }
            let run: Vec<(u64, u64)> = run.into_iter().collect();
            sparse.add(&run);
            dense.add(&run);
        }
        assert_eq!(sparse.pack(), dense.pack());
        let mut merged = Acc::new(true);
        merged.add_acc(&sparse);
        merged.add_acc(&dense);
        let mut twice = Acc::new(false);
        twice.add_acc(&dense);
        twice.add_acc(&sparse);
        assert_eq!(merged.pack(), twice.pack());
    }

    #[test]
    fn pack_round_trips_and_rejects_truncation() {
        let mut c = Counts::new();
        for v in [5u64, 1_000, 1_001, 70_000, 60_000_000_000] {
            add(&mut c, v, v % 7 + 1);
        }
        let packed = pack(&c);
        let mut back = Counts::new();
        unpack_into(&packed, &mut back).unwrap();
        assert_eq!(back, c);
        let err = unpack_into(&packed[..packed.len() - 1], &mut Counts::new()).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn percentiles_follow_the_ranks() {
        let mut c = Counts::new();
        // 990 values at 100 ns, 9 at 10 µs, 1 at 1 ms.
        add(&mut c, 100, 990);
        add(&mut c, 10_000, 9);
        add(&mut c, 1_000_000, 1);
        let p = percentiles(&c);
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50, 100);
        assert_eq!(p.p99, 100);
        assert_eq!(p.p999, bucket_high(bucket(10_000)));
        assert_eq!(p.max, bucket_high(bucket(1_000_000)));
        assert_eq!(percentiles(&Counts::new()).count, 0);
    }

    #[test]
    fn seconds_roll_into_the_ring_and_minutes_into_pending() {
        let mut w = Windows::new(10_000, 10_000);
        let scopes = vec!["fleet".to_string(), "bot:a".to_string()];
        let t0 = 1_700_000_040_000; // a minute boundary minus 20 s… any start works
        w.record(&scopes, "decided", t0, &[(1_000, 3)]);
        w.record(&scopes, "decided", t0 + 400, &[(2_000, 1)]);
        w.record(&scopes, "decided", t0 + 1_000, &[(4_000, 1)]);
        let mut buckets = vec![Counts::new(); 2];
        w.seconds_into("fleet", "decided", t0, t0 + 2_000, 1_000, &mut buckets);
        assert_eq!(percentiles(&buckets[0]).count, 4);
        assert_eq!(percentiles(&buckets[1]).count, 1, "the open second counts");
        // 70 s later: the minute(s) closed, seconds older than 10 s dropped.
        w.tick(t0 + 70_000);
        let minutes = w.take_pending(usize::MAX);
        assert!(!minutes.is_empty());
        let total: u64 = minutes
            .iter()
            .filter(|m| m.scope == "bot:a")
            .map(|m| {
                let mut c = Counts::new();
                unpack_into(&m.data, &mut c).unwrap();
                c.values().sum::<u64>()
            })
            .sum();
        assert_eq!(total, 5);
        let mut buckets = vec![Counts::new(); 1];
        w.seconds_into("fleet", "decided", t0, t0 + 1_000, 1_000, &mut buckets);
        assert!(buckets[0].is_empty(), "past the 10 s kept");
        // Nothing left: the series is dropped.
        w.tick(t0 + 200_000);
        assert!(w.take_pending(usize::MAX).is_empty());
        assert_eq!(w.requeue(minutes.clone()), 0);
        assert_eq!(
            w.take_pending(1),
            minutes[..1].to_vec(),
            "requeued first in line"
        );
        assert!(w.stages("fleet").is_empty());
    }
}
