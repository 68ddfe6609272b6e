//! Bounds-checked little-endian field reads from account bytes, with errors naming the field.

use crate::error::{AccountKind, DecodeError};
use crate::pubkey::Pubkey;

/// Reads fields of one account; every read is checked against the data length.
#[derive(Debug, Clone, Copy)]
pub struct FieldReader<'a> {
    kind: AccountKind,
    pubkey: Pubkey,
    data: &'a [u8],
}

impl<'a> FieldReader<'a> {
    /// A reader over `data` of the account `pubkey` decoded as `kind`.
    pub fn new(kind: AccountKind, pubkey: Pubkey, data: &'a [u8]) -> Self {
        Self { kind, pubkey, data }
    }

    /// The account's kind.
    pub fn kind(&self) -> AccountKind {
        self.kind
    }

    /// The account's address.
    pub fn pubkey(&self) -> Pubkey {
        self.pubkey
    }

    /// Fails unless the owner is `expected`.
    pub fn expect_owner(&self, owner: &Pubkey, expected: &Pubkey) -> Result<(), DecodeError> {
        if owner == expected {
            Ok(())
        } else {
            Err(self.wrong_owner(owner, expected))
        }
    }

    /// The error for an account owned by another program than `expected`.
    pub fn wrong_owner(&self, owner: &Pubkey, expected: &Pubkey) -> DecodeError {
        DecodeError::WrongOwner {
            kind: self.kind,
            pubkey: self.pubkey,
            expected: *expected,
            found: *owner,
        }
    }

    /// Fails unless the data is exactly `len` bytes.
    pub fn expect_len(&self, len: usize, words: &'static str) -> Result<(), DecodeError> {
        if self.data.len() == len {
            Ok(())
        } else {
            Err(self.wrong_length(words))
        }
    }

    /// The error for a length outside the layout's.
    pub fn wrong_length(&self, words: &'static str) -> DecodeError {
        DecodeError::WrongLength {
            kind: self.kind,
            pubkey: self.pubkey,
            expected: words,
            found: self.data.len(),
        }
    }

    /// Fails unless the first 8 bytes are `expected`.
    pub fn expect_discriminator(&self, expected: &[u8; 8]) -> Result<(), DecodeError> {
        let found = self.array::<8>(0, "discriminator")?;
        if &found == expected {
            Ok(())
        } else {
            Err(DecodeError::WrongDiscriminator {
                kind: self.kind,
                pubkey: self.pubkey,
                expected: *expected,
                found,
            })
        }
    }

    /// The error for an impossible field value.
    pub fn invalid(&self, field: &'static str, value: i128, problem: &'static str) -> DecodeError {
        DecodeError::InvalidField {
            kind: self.kind,
            pubkey: self.pubkey,
            field,
            value,
            problem,
        }
    }

    /// `N` bytes at `offset`.
    pub fn array<const N: usize>(
        &self,
        offset: usize,
        field: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        offset
            .checked_add(N)
            .and_then(|end| self.data.get(offset..end))
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or(DecodeError::InvalidField {
                kind: self.kind,
                pubkey: self.pubkey,
                field,
                value: self.data.len() as i128,
                problem: "lies past the end of the data",
            })
    }

    /// A `u8` at `offset`.
    pub fn u8(&self, offset: usize, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(offset, field)?[0])
    }

    /// A `bool` at `offset`; bytes other than 0 and 1 are invalid.
    pub fn bool(&self, offset: usize, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(offset, field)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(self.invalid(field, v.into(), "is not a bool (0 or 1)")),
        }
    }

    /// A little-endian `u16` at `offset`.
    pub fn u16(&self, offset: usize, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(offset, field)?))
    }

    /// A little-endian `i32` at `offset`.
    pub fn i32(&self, offset: usize, field: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.array(offset, field)?))
    }

    /// A little-endian `u64` at `offset`.
    pub fn u64(&self, offset: usize, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(offset, field)?))
    }

    /// A little-endian `u128` at `offset`.
    pub fn u128(&self, offset: usize, field: &'static str) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.array(offset, field)?))
    }

    /// A little-endian `i128` at `offset`.
    pub fn i128(&self, offset: usize, field: &'static str) -> Result<i128, DecodeError> {
        Ok(i128::from_le_bytes(self.array(offset, field)?))
    }

    /// An address at `offset`.
    pub fn pubkey_at(&self, offset: usize, field: &'static str) -> Result<Pubkey, DecodeError> {
        Ok(Pubkey(self.array(offset, field)?))
    }
}
