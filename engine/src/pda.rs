//! Program-derived addresses: `find_program_address` without the Solana SDK, and the
//! Whirlpool tick-array addresses derived from it.

use curve25519_dalek::edwards::CompressedEdwardsY;
use sha2::{Digest, Sha256};

use crate::pubkey::{Pubkey, programs};

const PDA_MARKER: &[u8] = b"ProgramDerivedAddress";

/// The address for `seeds` with `bump`, or `None` when it lies on the ed25519 curve.
pub fn create_program_address(seeds: &[&[u8]], bump: u8, program: &Pubkey) -> Option<Pubkey> {
    let mut hasher = Sha256::new();
    for seed in seeds {
        hasher.update(seed);
    }
    hasher.update([bump]);
    hasher.update(program.0);
    hasher.update(PDA_MARKER);
    let hash: [u8; 32] = hasher.finalize().into();
    if CompressedEdwardsY(hash).decompress().is_some() {
        None
    } else {
        Some(Pubkey(hash))
    }
}

/// The canonical (highest-bump) program address for `seeds`.
pub fn find_program_address(seeds: &[&[u8]], program: &Pubkey) -> Option<(Pubkey, u8)> {
    (0..=u8::MAX)
        .rev()
        .find_map(|bump| create_program_address(seeds, bump, program).map(|key| (key, bump)))
}

/// Address of the Whirlpool tick array of `whirlpool` starting at `start_tick_index`.
pub fn whirlpool_tick_array(whirlpool: &Pubkey, start_tick_index: i32) -> Option<Pubkey> {
    // The seed is the index in decimal, written on the stack (the hot path allocates nothing).
    let mut digits = [0u8; 11];
    let mut at = digits.len();
    let mut n = start_tick_index.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if start_tick_index < 0 {
        at -= 1;
        digits[at] = b'-';
    }
    find_program_address(
        &[b"tick_array", &whirlpool.0, &digits[at..]],
        &programs::ORCA_WHIRLPOOL,
    )
    .map(|(key, _)| key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_the_published_tick_array_address() {
        // Vector from Orca's client crate: pool 2kJm…taeS, start tick 0.
        let pool: Pubkey = "2kJmUjxWBwL2NGPBV2PiA5hWtmLCqcKY6reQgkrPtaeS"
            .parse()
            .unwrap();
        assert_eq!(
            whirlpool_tick_array(&pool, 0).unwrap().to_string(),
            "8PhPzk7n4wU98Z6XCbVtPai2LtXSxYnfjkmgWuoAU8Zy"
        );
    }

    #[test]
    fn the_seed_is_the_start_index_in_decimal() {
        let pool = Pubkey([7; 32]);
        for start in [0, 5, -5, 88, -88, 443_608, -443_636, i32::MAX, i32::MIN] {
            let seed = start.to_string();
            let expected = find_program_address(
                &[b"tick_array", &pool.0, seed.as_bytes()],
                &programs::ORCA_WHIRLPOOL,
            )
            .map(|(k, _)| k);
            assert_eq!(whirlpool_tick_array(&pool, start), expected, "{start}");
        }
    }

    #[test]
    fn every_derived_address_is_off_curve() {
        let pool = Pubkey([3; 32]);
        for start in [-443_520, -5632, 0, 704, 443_520] {
            let key = whirlpool_tick_array(&pool, start).unwrap();
            assert!(CompressedEdwardsY(key.0).decompress().is_none());
        }
    }
}
