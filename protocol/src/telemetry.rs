//! Latency histograms for the control plane: interval snapshots serialised as HdrHistogram V2
//! (the format agents ship and the gateway merges), and percentile summaries.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

/// Error from encoding or decoding a histogram snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The V2 encoder failed.
    #[error("encoding HdrHistogram V2: {0}")]
    Encode(String),
    /// The bytes are not a V2 histogram.
    #[error("decoding HdrHistogram V2: {0}")]
    Decode(String),
}

/// A latency histogram in ns: 1 ns to 60 s at 3 significant digits (the unit every stage,
/// bot and gateway merge uses).
pub fn latency_histogram() -> Histogram<u64> {
    // Constant, valid bounds: construction cannot fail.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Serialises a histogram as HdrHistogram V2 bytes.
pub fn encode_v2(histogram: &Histogram<u64>) -> Result<Vec<u8>, SnapshotError> {
    let mut out = Vec::new();
    V2Serializer::new()
        .serialize(histogram, &mut out)
        .map_err(|e| SnapshotError::Encode(format!("{e:?}")))?;
    Ok(out)
}

/// Reads a V2 snapshot back.
pub fn decode_v2(bytes: &[u8]) -> Result<Histogram<u64>, SnapshotError> {
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| SnapshotError::Decode(format!("{e:?}")))
}

/// `HdrHistogram` V2 cookie (uncompressed, 8-byte counts word size flag as the crate writes it).
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const V2_HEADER: usize = 40;

fn decode_err(what: impl Into<String>) -> SnapshotError {
    SnapshotError::Decode(what.into())
}

/// Calls `f(value, count)` for every non-zero bucket of a V2 snapshot, lowest first, without
/// building a histogram (a full one at this resolution is ~200 KB of zeroed counts). Every
/// malformation is an error, never a panic.
pub fn for_each_count_v2(
    bytes: &[u8],
    mut f: impl FnMut(u64, u64) -> Result<(), SnapshotError>,
) -> Result<(), SnapshotError> {
    let be32 = |at: usize| -> Result<u32, SnapshotError> {
        bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| {
                decode_err(format!(
                    "{} bytes: shorter than the 40-byte header",
                    bytes.len()
                ))
            })
    };
    let be64 = |at: usize| -> Result<u64, SnapshotError> {
        bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| {
                decode_err(format!(
                    "{} bytes: shorter than the 40-byte header",
                    bytes.len()
                ))
            })
    };
    let cookie = be32(0)?;
    if cookie != V2_COOKIE {
        return Err(decode_err(format!(
            "cookie {cookie:#x}: not an uncompressed V2 histogram"
        )));
    }
    let payload_len = be32(4)? as usize;
    if be32(8)? != 0 {
        return Err(decode_err("normalizing index offset is not supported"));
    }
    let digits = be32(12)?;
    let low = be64(16)?;
    let high = be64(24)?;
    if f64::from_bits(be64(32)?) != 1.0 {
        return Err(decode_err("integer-to-double ratio is not supported"));
    }
    if digits > 5 || low == 0 || high < low.saturating_mul(2) {
        return Err(decode_err(format!(
            "bounds {low}..{high} at {digits} digits are not a valid histogram"
        )));
    }
    let payload = bytes
        .get(V2_HEADER..V2_HEADER + payload_len)
        .ok_or_else(|| decode_err(format!("payload of {payload_len} bytes is cut short")))?;
    // The bucket layout, computed as the crate does.
    let largest = 2 * 10u32.pow(digits);
    let unit_magnitude = (low as f64).log2().floor() as u32;
    let half_magnitude = (f64::from(largest)).log2().ceil() as u32 - 1;
    let half_count = 1u64 << half_magnitude;
    let value_at = |index: u64| -> Option<u64> {
        let bucket = (index >> half_magnitude) as i64 - 1;
        let mut sub = (index & (half_count - 1)) + half_count;
        let bucket = if bucket < 0 {
            sub -= half_count;
            0
        } else {
            bucket as u32
        };
        let shift = bucket.checked_add(unit_magnitude)?;
        let value = sub.checked_shl(shift)?;
        (value >> shift == sub).then_some(value)
    };
    let mut pos = 0usize;
    let mut index = 0u64;
    while pos < payload.len() {
        // LEB128 of up to 9 bytes (the 9th carries 8 bits), zig-zag coded.
        let mut raw = 0u64;
        let mut shift = 0u32;
        let mut i = 0usize;
        loop {
            let b = *payload
                .get(pos + i)
                .ok_or_else(|| decode_err("a count runs past the payload"))?;
            if i == 8 {
                raw |= u64::from(b) << 56;
                i += 1;
                break;
            }
            raw |= u64::from(b & 0x7f) << shift;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        pos += i;
        let n = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
        if n < 0 {
            index = index
                .checked_add(n.unsigned_abs())
                .ok_or_else(|| decode_err("zero run overflows"))?;
            continue;
        }
        if n > 0 {
            let value = value_at(index)
                .filter(|v| *v <= high.saturating_mul(2))
                .ok_or_else(|| decode_err(format!("bucket {index} is beyond the histogram")))?;
            f(value, n as u64)?;
        }
        index += 1;
    }
    Ok(())
}

/// A whole V2 snapshot's non-empty buckets, lowest first, checked to be at most `max`, and the
/// count they hold: one walk over the bytes for everything a receiver does with a snapshot.
pub fn pairs_v2(bytes: &[u8], max: u64) -> Result<(Vec<(u64, u64)>, u64), SnapshotError> {
    let (mut pairs, mut total) = (Vec::new(), 0u64);
    for_each_count_v2(bytes, |value, count| {
        if value > max {
            return Err(decode_err(format!(
                "value {value} is above the {max} this histogram tracks"
            )));
        }
        total = total.saturating_add(count);
        pairs.push((value, count));
        Ok(())
    })?;
    Ok((pairs, total))
}

/// Adds a V2 snapshot into `dest` (as `dest.add(&decode_v2(bytes)?)` would, without the
/// intermediate histogram); nothing is added unless the whole snapshot is valid and fits.
/// Returns the count added.
pub fn merge_v2(dest: &mut Histogram<u64>, bytes: &[u8]) -> Result<u64, SnapshotError> {
    let (pairs, total) = pairs_v2(bytes, dest.high())?;
    record_pairs(dest, &pairs, total, 1.0)?;
    Ok(total)
}

/// Records [`pairs_v2`]'s pairs (checked against `dest.high()`; `total` is their count) into
/// `dest` and returns the snapshot's own value at quantile `q` (the lowest value of its bucket;
/// `None` when empty).
pub fn record_pairs(
    dest: &mut Histogram<u64>,
    pairs: &[(u64, u64)],
    total: u64,
    q: f64,
) -> Result<Option<u64>, SnapshotError> {
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let (mut seen, mut at_rank) = (0u64, None);
    for &(value, count) in pairs {
        seen += count;
        if at_rank.is_none() && seen >= rank {
            at_rank = Some(value);
        }
        dest.record_n(value, count)
            .map_err(|e| decode_err(format!("recording {value}: {e:?}")))?;
    }
    Ok(at_rank)
}

/// Percentiles of one stage, in ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th.
    pub p99: u64,
    /// 99.9th.
    pub p999: u64,
    /// 99.99th.
    pub p9999: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    /// The summary of `h`.
    pub fn of(h: &Histogram<u64>) -> Self {
        Self {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_snapshots_round_trip_and_merge() {
        let mut a = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        let mut b = a.clone();
        for v in 1..10_000u64 {
            a.record(v * 13).unwrap();
            b.record(v * 7 + 1_000_000).unwrap();
        }
        let decoded_a = decode_v2(&encode_v2(&a).unwrap()).unwrap();
        assert_eq!(Percentiles::of(&decoded_a), Percentiles::of(&a));
        let mut merged = decoded_a;
        merged
            .add(decode_v2(&encode_v2(&b).unwrap()).unwrap())
            .unwrap();
        assert_eq!(merged.len(), a.len() + b.len());
        assert!(decode_v2(b"not a histogram").is_err());
    }

    /// merge_v2 equals decode + add, bucket by bucket, for histograms of other resolutions too.
    #[test]
    fn merging_without_decoding_equals_decode_then_add() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for case in 0..200 {
            let digits = (case % 4 + 1) as u8;
            let low = [1u64, 1, 3, 1000][case % 4];
            let mut src = Histogram::<u64>::new_with_bounds(low, 60_000_000_000, digits).unwrap();
            for _ in 0..rng.gen_range(0..2_000) {
                let v: u64 = rng.gen_range(low..5_000_000_000u64) >> rng.gen_range(0..30);
                src.record_n(v.max(low), rng.gen_range(1..5)).unwrap();
            }
            let bytes = encode_v2(&src).unwrap();
            let mut want = latency_histogram();
            want.add(decode_v2(&bytes).unwrap()).unwrap();
            let mut got = latency_histogram();
            got.record(12_345).unwrap();
            want.record(12_345).unwrap();
            let added = merge_v2(&mut got, &bytes).unwrap();
            assert_eq!(added, src.len(), "case {case}");
            let buckets = |h: &Histogram<u64>| -> Vec<(u64, u64)> {
                h.iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect()
            };
            assert_eq!(buckets(&got), buckets(&want), "case {case}");
            assert_eq!(
                (got.min(), got.max(), got.len()),
                (want.min(), want.max(), want.len())
            );
        }
    }

    #[test]
    fn quantiles_of_a_snapshot_match_the_histogram() {
        let mut h = latency_histogram();
        for v in 1..=10_000u64 {
            h.record(v * 100).unwrap();
        }
        let bytes = encode_v2(&h).unwrap();
        let quantile = |bytes: &[u8], q: f64| {
            let (pairs, total) = pairs_v2(bytes, u64::MAX).unwrap();
            record_pairs(&mut latency_histogram(), &pairs, total, q).unwrap()
        };
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            let got = quantile(&bytes, q).unwrap();
            let want = h.value_at_quantile(q);
            assert!(h.equivalent(got, want), "q {q}: {got} vs {want}");
        }
        assert_eq!(
            quantile(&encode_v2(&latency_histogram()).unwrap(), 0.99),
            None
        );
    }

    #[test]
    fn malformed_snapshots_are_errors_and_add_nothing() {
        let mut h = latency_histogram();
        for v in 1..1000u64 {
            h.record(v * 1000).unwrap();
        }
        let good = encode_v2(&h).unwrap();
        let mut dest = latency_histogram();
        // Every truncation and every single-byte corruption: an error or a valid merge, never a
        // panic; a failed merge leaves the destination untouched.
        for cut in 0..good.len() {
            let before = dest.len();
            if merge_v2(&mut dest, &good[..cut]).is_err() {
                assert_eq!(dest.len(), before);
            }
        }
        for at in 0..good.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[at] ^= flip;
                let before = dest.len();
                if merge_v2(&mut dest, &bad).is_err() {
                    assert_eq!(dest.len(), before, "byte {at}");
                }
            }
        }
        assert!(merge_v2(&mut dest, b"not a histogram").is_err());
        // Values beyond the destination's range are refused whole.
        let mut small = Histogram::<u64>::new_with_bounds(1, 1_000, 2).unwrap();
        let mut wide = Histogram::<u64>::new_with_bounds(1, u64::MAX / 4, 2).unwrap();
        wide.record(5).unwrap();
        wide.record(1 << 50).unwrap();
        assert!(merge_v2(&mut small, &encode_v2(&wide).unwrap()).is_err());
        assert_eq!(small.len(), 0);
    }
}
