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
}
