//! SPL Token and Token-2022 token accounts: the vault balances pools trade against.

use crate::bytes::FieldReader;
use crate::error::{AccountKind, DecodeError};
use crate::pubkey::{Pubkey, programs};

/// Length of a token account without extensions; Token-2022 pads a mint to it too.
pub const TOKEN_ACCOUNT_LEN: usize = 165;
/// Length of a multisig account, which Token-2022 never gives an extended account.
const MULTISIG_LEN: usize = 355;
/// Token-2022 writes this account-type byte at offset 165 when extensions follow.
const ACCOUNT_TYPE_ACCOUNT: u8 = 2;

/// Walks Token-2022 type-length-value extension entries (`tlv`: the bytes after the account-type
/// byte at 165) as the token program's `get_tlv_data_info` does: until fewer than two bytes are
/// left or a type 0 entry starts (room to grow); a cut-off length or a value running past the
/// end is malformed. Calls `entry(type, value)` for each.
pub(crate) fn for_each_extension(
    r: &FieldReader<'_>,
    tlv: &[u8],
    mut entry: impl FnMut(u16, &[u8]) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut at = 0usize;
    while tlv.len() - at >= 2 {
        let kind = u16::from_le_bytes([tlv[at], tlv[at + 1]]);
        if kind == 0 {
            break;
        }
        let Some(len_bytes) = tlv.get(at + 2..at + 4) else {
            return Err(r.invalid(
                "extension length",
                (TOKEN_ACCOUNT_LEN + 1 + at) as i128,
                "is cut off at the end of the data (offset given)",
            ));
        };
        let len = usize::from(u16::from_le_bytes([len_bytes[0], len_bytes[1]]));
        let Some(value) = tlv.get(at + 4..at + 4 + len) else {
            return Err(r.invalid(
                "extension length",
                len as i128,
                "runs past the end of the data",
            ));
        };
        entry(kind, value)?;
        at += 4 + len;
    }
    Ok(())
}

/// The parts of a token account a pool needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenAccount {
    /// Mint of the tokens held.
    pub mint: Pubkey,
    /// Authority that owns the tokens.
    pub owner: Pubkey,
    /// Balance in base units.
    pub amount: u64,
    /// Whether the owning program is Token-2022.
    pub is_token_2022: bool,
    /// Whether the account is frozen: the token program refuses every transfer from or to it.
    pub is_frozen: bool,
}

/// What a pool keeps of a vault: its balance and whether the token program would refuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vault {
    /// Balance in base units.
    pub amount: u64,
    /// Whether the vault belongs to Token-2022.
    pub is_token_2022: bool,
    /// Whether the vault is frozen.
    pub is_frozen: bool,
}

impl From<&TokenAccount> for Vault {
    fn from(account: &TokenAccount) -> Self {
        Self {
            amount: account.amount,
            is_token_2022: account.is_token_2022,
            is_frozen: account.is_frozen,
        }
    }
}

impl TokenAccount {
    /// Decodes a token account owned by SPL Token (165 bytes) or Token-2022 (165 bytes, or the
    /// account type 2 at 165 and well-formed extension entries after it).
    pub fn decode(pubkey: &Pubkey, owner: &Pubkey, data: &[u8]) -> Result<Self, DecodeError> {
        let r = FieldReader::new(AccountKind::TokenAccount, *pubkey, data);
        let is_token_2022 = if *owner == programs::SPL_TOKEN {
            r.expect_len(TOKEN_ACCOUNT_LEN, "165")?;
            false
        } else if *owner == programs::SPL_TOKEN_2022 {
            if data.len() < TOKEN_ACCOUNT_LEN || data.len() == MULTISIG_LEN {
                return Err(r.wrong_length("165, or more (not 355) with extensions"));
            }
            if data.len() > TOKEN_ACCOUNT_LEN {
                let account_type = r.u8(TOKEN_ACCOUNT_LEN, "account_type")?;
                if account_type != ACCOUNT_TYPE_ACCOUNT {
                    return Err(r.invalid(
                        "account_type",
                        account_type.into(),
                        "is not a token account (2)",
                    ));
                }
                for_each_extension(&r, &data[TOKEN_ACCOUNT_LEN + 1..], |_, _| Ok(()))?;
            }
            true
        } else {
            return Err(r.wrong_owner(owner, &programs::SPL_TOKEN));
        };
        let is_frozen = match r.u8(108, "state")? {
            1 => false,
            2 => true,
            0 => return Err(r.invalid("state", 0, "is uninitialized")),
            v => return Err(r.invalid("state", v.into(), "is not a valid account state")),
        };
        Ok(Self {
            mint: r.pubkey_at(0, "mint")?,
            owner: r.pubkey_at(32, "owner")?,
            amount: r.u64(64, "amount")?,
            is_token_2022,
            is_frozen,
        })
    }

    /// Encodes a plain (extension-free) token account; for the simulator and tests.
    pub fn encode(&self) -> Vec<u8> {
        let mut data = vec![0u8; TOKEN_ACCOUNT_LEN];
        data[0..32].copy_from_slice(&self.mint.0);
        data[32..64].copy_from_slice(&self.owner.0);
        data[64..72].copy_from_slice(&self.amount.to_le_bytes());
        data[108] = if self.is_frozen { 2 } else { 1 };
        data
    }

    /// The program that owns accounts of this kind.
    pub fn program(&self) -> Pubkey {
        programs::token_program(self.is_token_2022)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TokenAccount {
        TokenAccount {
            mint: Pubkey([0x11; 32]),
            owner: Pubkey([0x22; 32]),
            amount: 0x0102_0304_0506_0708,
            is_token_2022: false,
            is_frozen: false,
        }
    }

    #[test]
    fn round_trips_every_field_the_engine_reads() {
        let acc = sample();
        let data = acc.encode();
        let key = Pubkey([9; 32]);
        assert_eq!(
            TokenAccount::decode(&key, &programs::SPL_TOKEN, &data),
            Ok(acc)
        );
        let decoded = TokenAccount::decode(&key, &programs::SPL_TOKEN_2022, &data).unwrap();
        assert!(decoded.is_token_2022);
        assert_eq!(decoded.amount, acc.amount);
    }

    #[test]
    fn rejects_wrong_owner_length_state_and_type() {
        let key = Pubkey([9; 32]);
        let mut data = sample().encode();
        assert!(matches!(
            TokenAccount::decode(&key, &Pubkey([1; 32]), &data),
            Err(DecodeError::WrongOwner { .. })
        ));
        assert!(matches!(
            TokenAccount::decode(&key, &programs::SPL_TOKEN, &data[..100]),
            Err(DecodeError::WrongLength { found: 100, .. })
        ));
        data[108] = 3;
        let err = TokenAccount::decode(&key, &programs::SPL_TOKEN, &data).unwrap_err();
        assert!(err.to_string().contains("`state`"), "{err}");
        data[108] = 2;
        let frozen = TokenAccount::decode(&key, &programs::SPL_TOKEN, &data).unwrap();
        assert!(frozen.is_frozen);
        data[108] = 1;
        data.extend_from_slice(&[1, 0, 0]);
        assert!(matches!(
            TokenAccount::decode(&key, &programs::SPL_TOKEN_2022, &data),
            Err(DecodeError::InvalidField {
                field: "account_type",
                ..
            })
        ));
    }
}
