//! A 32-byte account address with base58 text form, free of the Solana SDK.

use std::fmt;
use std::str::FromStr;

/// A Solana account address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pubkey(pub [u8; 32]);

impl Pubkey {
    /// Builds an address from its bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses a base58 address at compile time or start-up; panics on a malformed constant.
    /// Only for literals written in this crate: outside input goes through [`FromStr`].
    pub const fn from_str_const(s: &str) -> Self {
        Self(decode_base58_const(s.as_bytes()))
    }

    /// The raw bytes.
    pub const fn to_bytes(&self) -> [u8; 32] {
        self.0
    }
}

/// Error from parsing a base58 address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParsePubkeyError {
    /// Not valid base58.
    #[error("not a base58 string: {0}")]
    Base58(String),
    /// Decoded to a length other than 32 bytes.
    #[error("decodes to {0} bytes, an address has 32")]
    Length(usize),
}

impl FromStr for Pubkey {
    type Err = ParsePubkeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > 44 {
            return Err(ParsePubkeyError::Length(s.len()));
        }
        let bytes = bs58::decode(s)
            .into_vec()
            .map_err(|e| ParsePubkeyError::Base58(e.to_string()))?;
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| ParsePubkeyError::Length(bytes.len()))?;
        Ok(Self(array))
    }
}

impl fmt::Display for Pubkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).into_string())
    }
}

impl fmt::Debug for Pubkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

const fn decode_base58_const(input: &[u8]) -> [u8; 32] {
    const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < input.len() {
        let mut digit = 0usize;
        let mut found = false;
        while digit < 58 {
            if ALPHABET[digit] == input[i] {
                found = true;
                break;
            }
            digit += 1;
        }
        assert!(found, "invalid base58 character in a constant address");
        // out = out * 58 + digit, big-endian
        let mut carry = digit as u32;
        let mut j = 32;
        while j > 0 {
            j -= 1;
            let v = out[j] as u32 * 58 + carry;
            out[j] = (v & 0xff) as u8;
            carry = v >> 8;
        }
        assert!(carry == 0, "constant address overflows 32 bytes");
        i += 1;
    }
    out
}

/// Program and token-program addresses the engine recognises.
pub mod programs {
    use super::Pubkey;

    /// Raydium AMM v4 (the legacy constant-product AMM).
    pub const RAYDIUM_AMM_V4: Pubkey =
        Pubkey::from_str_const("675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8");
    /// Raydium CP-Swap (CPMM).
    pub const RAYDIUM_CP_SWAP: Pubkey =
        Pubkey::from_str_const("CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C");
    /// Orca Whirlpool (CLMM).
    pub const ORCA_WHIRLPOOL: Pubkey =
        Pubkey::from_str_const("whirLbMiicVdio4qvUfM5KAg6Ct8VwpYzGff3uctyCc");
    /// SPL Token.
    pub const SPL_TOKEN: Pubkey =
        Pubkey::from_str_const("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
    /// SPL Token-2022.
    pub const SPL_TOKEN_2022: Pubkey =
        Pubkey::from_str_const("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");

    /// The token program owning a mint or token account: Token-2022 or SPL Token.
    pub fn token_program(is_token_2022: bool) -> Pubkey {
        if is_token_2022 {
            SPL_TOKEN_2022
        } else {
            SPL_TOKEN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn const_decoder_matches_bs58() {
        for s in [
            "675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8",
            "whirLbMiicVdio4qvUfM5KAg6Ct8VwpYzGff3uctyCc",
            "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
            "11111111111111111111111111111111",
        ] {
            let parsed: Pubkey = s.parse().expect("valid literal");
            assert_eq!(parsed, Pubkey::from_str_const(s));
            assert_eq!(parsed.to_string(), s);
        }
    }

    #[test]
    fn malformed_text_is_an_error_not_a_panic() {
        assert!("0OIl".parse::<Pubkey>().is_err());
        assert!("abc".parse::<Pubkey>().is_err());
        assert!("1".repeat(100).parse::<Pubkey>().is_err());
    }
}
