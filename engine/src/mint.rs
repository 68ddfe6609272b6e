//! SPL Token and Token-2022 mint accounts: decimals, the `TransferFeeConfig` extension and the
//! extensions that make a pool's amounts unknowable, with the token program's fee arithmetic.
//!
//! Layout (spl-token-2022 `extension/mod.rs`): the 82-byte base mint, zero padding up to 165,
//! the account-type byte at 165 (1 = mint), then type-length-value entries (`u16` type, `u16`
//! length, value) in any order until the data ends or a type 0 entry starts; a Token-2022 mint
//! without extensions is the bare 82 bytes.

use crate::bytes::FieldReader;
use crate::error::{AccountKind, DecodeError, QuoteError};
use crate::pubkey::{Pubkey, programs};
use crate::token_account::{TOKEN_ACCOUNT_LEN, for_each_extension};

/// Length of a mint without extensions.
pub const MINT_LEN: usize = 82;
/// Where Token-2022 writes the account-type byte (after padding to a token account's length).
const ACCOUNT_TYPE_OFFSET: usize = TOKEN_ACCOUNT_LEN;
/// Account-type byte of a mint.
const ACCOUNT_TYPE_MINT: u8 = 1;
/// The token program's `MAX_FEE_BASIS_POINTS`.
pub const MAX_FEE_BASIS_POINTS: u16 = 10_000;
/// Slots per epoch on mainnet-beta, testnet and devnet (no warm-up): the epoch a transfer fee
/// set takes effect in is counted in these.
pub const SLOTS_PER_EPOCH: u64 = 432_000;

/// The epoch a slot belongs to on the public clusters.
pub fn epoch_of_slot(slot: u64) -> u64 {
    slot / SLOTS_PER_EPOCH
}

/// Token-2022 extension types (`ExtensionType`, `#[repr(u16)]`) the decoder names.
mod extension {
    pub const TRANSFER_FEE_CONFIG: u16 = 1;
    pub const CONFIDENTIAL_TRANSFER_MINT: u16 = 4;
    pub const NON_TRANSFERABLE: u16 = 9;
    pub const TRANSFER_HOOK: u16 = 14;
    pub const CONFIDENTIAL_TRANSFER_FEE_CONFIG: u16 = 16;
    pub const CONFIDENTIAL_MINT_BURN: u16 = 24;
    pub const PAUSABLE: u16 = 26;
    /// The newest type the token program defines (`PausableAccount`).
    pub const LAST_KNOWN: u16 = 27;
    /// Types that only token accounts carry; a mint holding one is malformed.
    pub const ACCOUNT_ONLY: [u16; 9] = [2, 5, 7, 8, 11, 13, 15, 17, 27];
    /// Length of the `TransferFeeConfig` value.
    pub const TRANSFER_FEE_CONFIG_LEN: usize = 108;
}

/// One transfer fee set (`TransferFee`): from `epoch` on, `basis_points` of each transfer,
/// rounded up, at most `maximum_fee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransferFee {
    /// First epoch in which this set applies.
    pub epoch: u64,
    /// Cap on the fee of one transfer, in base units.
    pub maximum_fee: u64,
    /// Fee rate in basis points (at most 10,000).
    pub basis_points: u16,
}

impl TransferFee {
    /// `calculate_fee`: `min(ceil(amount·bps/10,000), maximum_fee)`, 0 for a zero rate or amount.
    pub fn fee(&self, amount: u64) -> u64 {
        // Decoding refuses more than 10,000; a hand-built value is held to it too.
        let bps = self.basis_points.min(MAX_FEE_BASIS_POINTS);
        if bps == 0 || amount == 0 {
            return 0;
        }
        let raw = (u128::from(amount) * u128::from(bps)).div_ceil(u128::from(MAX_FEE_BASIS_POINTS));
        // raw ≤ amount because bps ≤ 10,000.
        (raw as u64).min(self.maximum_fee)
    }

    /// `calculate_pre_fee_amount`: the least amount whose transfer delivers `post` (`None` where
    /// the token program's checked arithmetic fails).
    pub fn pre_fee_amount(&self, post: u64) -> Option<u64> {
        let basis_points = self.basis_points.min(MAX_FEE_BASIS_POINTS);
        let bps = u128::from(basis_points);
        let one = u128::from(MAX_FEE_BASIS_POINTS);
        match (basis_points, post) {
            (0, _) => Some(post),
            (_, 0) => Some(0),
            (MAX_FEE_BASIS_POINTS, _) => self.maximum_fee.checked_add(post),
            _ => {
                let raw = (u128::from(post) * one).div_ceil(one - bps);
                if raw - u128::from(post) >= u128::from(self.maximum_fee) {
                    post.checked_add(self.maximum_fee)
                } else {
                    u64::try_from(raw).ok()
                }
            }
        }
    }

    /// `calculate_inverse_fee`: the fee on [`Self::pre_fee_amount`].
    pub fn inverse_fee(&self, post: u64) -> Option<u64> {
        self.pre_fee_amount(post).map(|pre| self.fee(pre))
    }
}

/// The `TransferFeeConfig` extension: two fee sets switched at `newer.epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransferFeeConfig {
    /// The set in force before `newer.epoch`.
    pub older: TransferFee,
    /// The set in force from `newer.epoch` on.
    pub newer: TransferFee,
}

impl TransferFeeConfig {
    /// No fee before `epoch`, then `basis_points` capped at `maximum_fee` (a fee set once).
    pub fn from_epoch(epoch: u64, basis_points: u16, maximum_fee: u64) -> Self {
        Self {
            older: TransferFee::default(),
            newer: TransferFee {
                epoch,
                maximum_fee,
                basis_points,
            },
        }
    }

    /// `get_epoch_fee`: the newer set once `epoch >= newer.epoch`, else the older one.
    pub fn epoch_fee(&self, epoch: u64) -> &TransferFee {
        if epoch >= self.newer.epoch {
            &self.newer
        } else {
            &self.older
        }
    }
}

/// The parts of a mint a quote needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mint {
    /// The mint's address.
    pub key: Pubkey,
    /// Decimals.
    pub decimals: u8,
    /// Whether the owning program is Token-2022.
    pub is_token_2022: bool,
    /// Transfer fees, when the mint charges them.
    pub transfer_fee: Option<TransferFeeConfig>,
    /// An extension whose effect on transfers the engine does not model (a transfer hook, a
    /// confidential-transfer mint, a paused or non-transferable mint, an unknown type): no quote.
    pub unsupported: Option<&'static str>,
}

/// Why the gross amount for a wanted net transfer cannot be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeError {
    /// The token program's checked arithmetic fails (the amount is too large).
    Overflow,
    /// The inverse fee does not give back the same fee when charged forward.
    Mismatch,
}

/// A fee transfer's two amounts: what the sender gives and what the receiver gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transfer {
    /// Amount that leaves the sender (fee included).
    pub gross: u64,
    /// Fee withheld by the token program.
    pub fee: u64,
}

impl Mint {
    /// A plain SPL Token mint (no extensions) with these decimals; for the simulator and tests.
    pub fn plain(key: Pubkey, decimals: u8) -> Self {
        Self {
            key,
            decimals,
            is_token_2022: false,
            transfer_fee: None,
            unsupported: None,
        }
    }

    /// A Token-2022 mint with these decimals, charging `transfer_fee` when given; for the
    /// simulator and tests.
    pub fn token_2022(key: Pubkey, decimals: u8, transfer_fee: Option<TransferFeeConfig>) -> Self {
        Self {
            is_token_2022: true,
            transfer_fee,
            ..Self::plain(key, decimals)
        }
    }

    /// Decodes a mint owned by SPL Token (82 bytes) or Token-2022 (82 bytes, or padded to 165,
    /// the account type, then extensions).
    pub fn decode(pubkey: &Pubkey, owner: &Pubkey, data: &[u8]) -> Result<Self, DecodeError> {
        let r = FieldReader::new(AccountKind::Mint, *pubkey, data);
        let is_token_2022 = if *owner == programs::SPL_TOKEN {
            r.expect_len(MINT_LEN, "82")?;
            false
        } else if *owner == programs::SPL_TOKEN_2022 {
            // A multisig's length (355) is never given to an extended account.
            if (data.len() != MINT_LEN && data.len() <= ACCOUNT_TYPE_OFFSET) || data.len() == 355 {
                return Err(r.wrong_length("82, or more than 165 (not 355) with extensions"));
            }
            true
        } else {
            return Err(r.wrong_owner(owner, &programs::SPL_TOKEN));
        };
        // `COption` tags of mint_authority and freeze_authority: 0 (none) or 1 (some).
        for (at, field) in [(0, "mint_authority"), (46, "freeze_authority")] {
            let tag = u32::from_le_bytes(r.array::<4>(at, field)?);
            if tag > 1 {
                return Err(r.invalid(field, tag.into(), "has a COption tag other than 0 or 1"));
            }
        }
        if !r.bool(45, "is_initialized")? {
            return Err(r.invalid("is_initialized", 0, "is false: the mint is not initialized"));
        }
        let mut mint = Self {
            key: *pubkey,
            decimals: r.u8(44, "decimals")?,
            is_token_2022,
            transfer_fee: None,
            unsupported: None,
        };
        if data.len() > MINT_LEN {
            if data[MINT_LEN..ACCOUNT_TYPE_OFFSET].iter().any(|b| *b != 0) {
                return Err(r.invalid(
                    "padding",
                    0,
                    "bytes 82..165 are not zero (Token-2022 pads a mint to 165)",
                ));
            }
            let account_type = r.u8(ACCOUNT_TYPE_OFFSET, "account_type")?;
            if account_type != ACCOUNT_TYPE_MINT {
                return Err(r.invalid("account_type", account_type.into(), "is not a mint (1)"));
            }
            for_each_extension(&r, &data[ACCOUNT_TYPE_OFFSET + 1..], |kind, value| {
                mint.apply_extension(&r, kind, value)
            })?;
        }
        Ok(mint)
    }

    fn apply_extension(
        &mut self,
        r: &FieldReader<'_>,
        kind: u16,
        value: &[u8],
    ) -> Result<(), DecodeError> {
        use extension as e;
        let unsupported = |this: &mut Self, why: &'static str| {
            this.unsupported.get_or_insert(why);
        };
        match kind {
            e::TRANSFER_FEE_CONFIG => {
                if value.len() != e::TRANSFER_FEE_CONFIG_LEN {
                    return Err(r.invalid(
                        "TransferFeeConfig length",
                        value.len() as i128,
                        "is not 108",
                    ));
                }
                let fee = |at: usize| -> Result<TransferFee, DecodeError> {
                    let u64_at =
                        |o: usize| u64::from_le_bytes(value[o..o + 8].try_into().unwrap_or([0; 8]));
                    let basis_points = u16::from_le_bytes([value[at + 16], value[at + 17]]);
                    if basis_points > MAX_FEE_BASIS_POINTS {
                        return Err(r.invalid(
                            "TransferFeeConfig transfer_fee_basis_points",
                            basis_points.into(),
                            "exceeds 10,000 (100%)",
                        ));
                    }
                    Ok(TransferFee {
                        epoch: u64_at(at),
                        maximum_fee: u64_at(at + 8),
                        basis_points,
                    })
                };
                if self.transfer_fee.is_some() {
                    return Err(r.invalid("TransferFeeConfig", 1, "appears twice"));
                }
                self.transfer_fee = Some(TransferFeeConfig {
                    older: fee(72)?,
                    newer: fee(90)?,
                });
            }
            // authority (32) then program_id (32, all zeros: none).
            e::TRANSFER_HOOK if value.get(32..64).is_none_or(|p| p.iter().any(|b| *b != 0)) => {
                unsupported(
                    self,
                    "Token-2022 transfer hook (a program runs on every transfer)",
                );
            }
            e::CONFIDENTIAL_TRANSFER_MINT
            | e::CONFIDENTIAL_TRANSFER_FEE_CONFIG
            | e::CONFIDENTIAL_MINT_BURN => {
                unsupported(self, "Token-2022 confidential transfers");
            }
            e::NON_TRANSFERABLE => unsupported(self, "Token-2022 non-transferable mint"),
            // authority (32) then paused (bool).
            e::PAUSABLE if value.get(32).is_none_or(|b| *b != 0) => {
                unsupported(self, "Token-2022 mint is paused");
            }
            k if e::ACCOUNT_ONLY.contains(&k) => {
                return Err(r.invalid(
                    "extension type",
                    k.into(),
                    "belongs to token accounts, not mints",
                ));
            }
            k if k > e::LAST_KNOWN => {
                unsupported(self, "unknown Token-2022 extension type");
            }
            // Close authority, default account state, interest-bearing and scaled UI amounts
            // (display only), permanent delegate, metadata and groups: raw amounts move as asked.
            _ => {}
        }
        Ok(())
    }

    /// The fee set in force at `epoch`, when the mint charges transfer fees.
    pub fn epoch_fee(&self, epoch: u64) -> Option<&TransferFee> {
        self.transfer_fee.as_ref().map(|c| c.epoch_fee(epoch))
    }

    /// The mint a quote of `pool` needs: received (else `MissingAccount` naming it) and one
    /// whose transfers the engine models (else `UnsupportedMint`).
    pub fn required<'a>(
        mint: Option<&'a Mint>,
        pool: Pubkey,
        missing: &'static str,
    ) -> Result<&'a Mint, QuoteError> {
        let mint = mint.ok_or(QuoteError::MissingAccount { pool, missing })?;
        mint.check_supported()?;
        Ok(mint)
    }

    /// Refuses a mint whose transfers the engine cannot model.
    pub fn check_supported(&self) -> Result<(), QuoteError> {
        match self.unsupported {
            Some(reason) => Err(QuoteError::UnsupportedMint {
                mint: self.key,
                reason,
            }),
            None => Ok(()),
        }
    }

    /// The fee on sending `gross` (`get_transfer_fee`, `calculate_transfer_fee_excluded_amount`).
    pub fn fee_on(&self, gross: u64, epoch: u64) -> u64 {
        self.epoch_fee(epoch).map_or(0, |f| f.fee(gross))
    }

    /// The gross transfer that delivers `net`, as Whirlpool's
    /// `calculate_transfer_fee_included_amount` and CP-Swap's `get_transfer_inverse_fee`
    /// compute it: 0 for 0; at 100% the maximum fee is added; otherwise the token program's
    /// inverse fee, verified forward.
    pub fn gross_for(&self, net: u64, epoch: u64) -> Result<Transfer, FeeError> {
        let Some(fee) = self.epoch_fee(epoch) else {
            return Ok(Transfer { gross: net, fee: 0 });
        };
        if net == 0 {
            return Ok(Transfer { gross: 0, fee: 0 });
        }
        let charged = if fee.basis_points == MAX_FEE_BASIS_POINTS {
            fee.maximum_fee
        } else {
            fee.inverse_fee(net).ok_or(FeeError::Overflow)?
        };
        let gross = net.checked_add(charged).ok_or(FeeError::Overflow)?;
        if fee.fee(gross) != charged {
            return Err(FeeError::Mismatch);
        }
        Ok(Transfer {
            gross,
            fee: charged,
        })
    }

    /// Encodes this mint: 82 bytes for SPL Token; for Token-2022 with a transfer fee the padded
    /// base, the account type and one `TransferFeeConfig` entry. For the simulator and tests.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = vec![0u8; MINT_LEN];
        d[44] = self.decimals;
        d[45] = 1;
        if let Some(config) = &self.transfer_fee {
            d.resize(ACCOUNT_TYPE_OFFSET, 0);
            d.push(ACCOUNT_TYPE_MINT);
            d.extend_from_slice(&extension::TRANSFER_FEE_CONFIG.to_le_bytes());
            d.extend_from_slice(&(extension::TRANSFER_FEE_CONFIG_LEN as u16).to_le_bytes());
            d.extend_from_slice(&[0u8; 72]);
            for f in [config.older, config.newer] {
                d.extend_from_slice(&f.epoch.to_le_bytes());
                d.extend_from_slice(&f.maximum_fee.to_le_bytes());
                d.extend_from_slice(&f.basis_points.to_le_bytes());
            }
        }
        d
    }

    /// The transfer fee in force in `epoch` as a sizing curve takes it: the share of a
    /// transfer that arrives at its rate (1 without a fee, or at a rate or cap of 0) and the
    /// transfer at which its cap binds (∞ when it never does). Past the cap the fee stops
    /// growing: a curve at the rate then pays less than the program, so a hop whose transfers
    /// can reach the cap leaves the fee out ([`crate::curve::Curve::with_transfer_fees`]).
    pub fn transfer_fee_curve(&self, epoch: u64) -> (f64, f64) {
        let Some(c) = &self.transfer_fee else {
            return (1.0, f64::INFINITY);
        };
        let f = c.epoch_fee(epoch);
        let bps = f.basis_points.min(MAX_FEE_BASIS_POINTS);
        if bps == 0 || f.maximum_fee == 0 {
            return (1.0, f64::INFINITY);
        }
        let keep = 1.0 - f64::from(bps) / f64::from(MAX_FEE_BASIS_POINTS);
        let caps_at = f.maximum_fee as f64 * f64::from(MAX_FEE_BASIS_POINTS) / f64::from(bps);
        (keep, caps_at)
    }

    /// The program that owns this mint.
    pub fn program(&self) -> Pubkey {
        programs::token_program(self.is_token_2022)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fee(bps: u16, max: u64) -> TransferFee {
        TransferFee {
            epoch: 0,
            maximum_fee: max,
            basis_points: bps,
        }
    }

    #[test]
    fn sizing_curves_take_the_fee_in_force_with_where_its_cap_binds() {
        let mint = |older, newer| Mint {
            transfer_fee: Some(TransferFeeConfig { older, newer }),
            ..Mint::plain(Pubkey([1; 32]), 6)
        };
        assert_eq!(
            Mint::plain(Pubkey([1; 32]), 6).transfer_fee_curve(0),
            (1.0, f64::INFINITY)
        );
        // 1 % capped at 100: the cap binds at 10,000.
        let m = mint(
            fee(0, 0),
            TransferFee {
                epoch: 5,
                ..fee(100, 100)
            },
        );
        let (keep, caps_at) = m.transfer_fee_curve(5);
        assert!((keep - 0.99).abs() < 1e-12 && (caps_at - 10_000.0).abs() < 1e-6);
        // Before the newer set's epoch the older one is in force (here: no fee).
        assert_eq!(m.transfer_fee_curve(4), (1.0, f64::INFINITY));
        // A cap of 0 charges nothing.
        assert_eq!(
            mint(fee(0, 0), fee(100, 0)).transfer_fee_curve(9),
            (1.0, f64::INFINITY)
        );
    }

    #[test]
    fn fee_rounds_up_and_caps_at_the_maximum() {
        // ceil(1·1/10000) = 1; ceil(10000·1/10000) = 1; ceil(10001·1/10000) = 2.
        assert_eq!(fee(1, u64::MAX).fee(1), 1);
        assert_eq!(fee(1, u64::MAX).fee(10_000), 1);
        assert_eq!(fee(1, u64::MAX).fee(10_001), 2);
        assert_eq!(fee(250, 3).fee(1_000), 3);
        assert_eq!(fee(0, 100).fee(1_000), 0);
        assert_eq!(fee(500, 100).fee(0), 0);
        assert_eq!(fee(10_000, 7).fee(1_000), 7);
        assert_eq!(fee(10_000, u64::MAX).fee(u64::MAX), u64::MAX);
    }

    #[test]
    fn pre_fee_amount_follows_the_token_program() {
        // 1% of x ≥ 99 net: raw = ceil(99·10000/9900) = 100, fee 1 (below max) → 100.
        assert_eq!(fee(100, 1_000).pre_fee_amount(99), Some(100));
        // raw − post ≥ max: post + max.
        assert_eq!(fee(100, 1).pre_fee_amount(1_000_000), Some(1_000_001));
        assert_eq!(fee(10_000, 5).pre_fee_amount(10), Some(15));
        assert_eq!(fee(0, 5).pre_fee_amount(10), Some(10));
        assert_eq!(fee(9_999, u64::MAX).pre_fee_amount(u64::MAX), None);
        // inverse fee of 1 at 1%: pre = ceil(10000/9900) = 2, fee(2) = 1.
        assert_eq!(fee(100, u64::MAX).inverse_fee(1), Some(1));
    }

    #[test]
    fn token_2022_mint_with_fee_round_trips_and_switches_at_the_newer_epoch() {
        let key = Pubkey([7; 32]);
        let mint = Mint {
            key,
            decimals: 6,
            is_token_2022: true,
            transfer_fee: Some(TransferFeeConfig {
                older: TransferFee {
                    epoch: 10,
                    maximum_fee: 5_000,
                    basis_points: 50,
                },
                newer: TransferFee {
                    epoch: 700,
                    maximum_fee: u64::MAX,
                    basis_points: 125,
                },
            }),
            unsupported: None,
        };
        let data = mint.encode();
        assert_eq!(data.len(), 278);
        let decoded = Mint::decode(&key, &programs::SPL_TOKEN_2022, &data).unwrap();
        assert_eq!(decoded, mint);
        assert_eq!(decoded.epoch_fee(699).unwrap().basis_points, 50);
        assert_eq!(decoded.epoch_fee(700).unwrap().basis_points, 125);
        // Bare 82-byte Token-2022 mint and an SPL Token mint: no fee.
        let plain = Mint::plain(key, 9).encode();
        let t22 = Mint::decode(&key, &programs::SPL_TOKEN_2022, &plain).unwrap();
        assert!(t22.is_token_2022 && t22.transfer_fee.is_none());
        let spl = Mint::decode(&key, &programs::SPL_TOKEN, &plain).unwrap();
        assert_eq!(spl, Mint::plain(key, 9));
    }

    fn with_entries(entries: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut d = Mint::plain(Pubkey([1; 32]), 6).encode();
        d.resize(165, 0);
        d.push(1);
        for (kind, value) in entries {
            d.extend_from_slice(&kind.to_le_bytes());
            d.extend_from_slice(&(value.len() as u16).to_le_bytes());
            d.extend_from_slice(value);
        }
        d
    }

    #[test]
    fn extensions_parse_in_any_order_and_the_ones_that_change_transfers_are_flagged() {
        let key = Pubkey([1; 32]);
        let decode = |d: &[u8]| Mint::decode(&key, &programs::SPL_TOKEN_2022, d);
        // No entry at all (166 bytes), and harmless ones around a fee config.
        assert!(decode(&with_entries(&[])).unwrap().transfer_fee.is_none());
        let mut config = vec![0u8; 108];
        config[106] = 100; // newer bps = 100
        let m = decode(&with_entries(&[
            (18, vec![0; 64]),
            (1, config.clone()),
            (3, vec![0; 32]),
        ]))
        .unwrap();
        assert_eq!(m.epoch_fee(0).unwrap().basis_points, 100);
        assert!(m.check_supported().is_ok());
        // Trailing zero bytes after the entries are room to grow.
        let mut padded = with_entries(&[(1, config.clone())]);
        padded.extend_from_slice(&[0; 3]);
        assert!(decode(&padded).is_ok());
        // Transfer hook with a program, paused, confidential, non-transferable, unknown.
        let mut hook = vec![0u8; 64];
        hook[40] = 9;
        for (kind, value) in [
            (14u16, hook),
            (26, {
                let mut p = vec![0u8; 33];
                p[32] = 1;
                p
            }),
            (4, vec![0; 65]),
            (9, vec![]),
            (900, vec![1, 2]),
        ] {
            let m = decode(&with_entries(&[(kind, value)])).unwrap();
            assert!(
                matches!(m.check_supported(), Err(QuoteError::UnsupportedMint { .. })),
                "type {kind}"
            );
        }
        // A hook without a program and an unpaused mint are harmless.
        assert!(
            decode(&with_entries(&[(14, vec![0; 64]), (26, vec![0; 33])]))
                .unwrap()
                .check_supported()
                .is_ok()
        );
    }

    #[test]
    fn malformed_mints_are_errors_naming_the_problem() {
        let key = Pubkey([1; 32]);
        let decode = |d: &[u8]| Mint::decode(&key, &programs::SPL_TOKEN_2022, d);
        let mut config = vec![0u8; 108];
        config[88] = 0x11;
        config[89] = 0x27; // older bps 10001
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0u8; 100], "data is 100 bytes"),
            (with_entries(&[(1, vec![0; 10])]), "is not 108"),
            (with_entries(&[(1, config)]), "exceeds 10,000"),
            (with_entries(&[(7, vec![])]), "token accounts"),
            (
                {
                    let mut d = with_entries(&[(1, vec![0; 108])]);
                    d.truncate(200);
                    d
                },
                "runs past",
            ),
            (
                {
                    let mut d = with_entries(&[]);
                    d.extend_from_slice(&[3, 0, 1]);
                    d
                },
                "cut off",
            ),
            (
                {
                    let mut d = with_entries(&[]);
                    d[100] = 1;
                    d
                },
                "bytes 82..165",
            ),
            (
                {
                    let mut d = with_entries(&[]);
                    d[165] = 2;
                    d
                },
                "is not a mint",
            ),
            (
                {
                    let mut d = with_entries(&[]);
                    d[45] = 0;
                    d
                },
                "not initialized",
            ),
        ];
        for (data, words) in cases {
            let err = decode(&data).unwrap_err().to_string();
            assert!(err.contains(words), "{err} lacks {words:?}");
        }
        let plain = Mint::plain(key, 6).encode();
        assert!(matches!(
            Mint::decode(&key, &Pubkey([3; 32]), &plain),
            Err(DecodeError::WrongOwner { .. })
        ));
        assert!(Mint::decode(&key, &programs::SPL_TOKEN, &plain[..81]).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

        /// Hostile bytes (a valid prefix, then anything: lengths, types, truncations) decode or
        /// fail with an error; the fee arithmetic of whatever decodes never panics.
        #[test]
        fn hostile_mint_bytes_never_panic(
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            cut in 0usize..600,
        ) {
            let key = Pubkey([1; 32]);
            let mut data = Mint::plain(key, 6).encode();
            data.resize(165, 0);
            data.push(1);
            data.extend_from_slice(&tail);
            data.truncate(cut.max(1));
            for owner in [programs::SPL_TOKEN, programs::SPL_TOKEN_2022] {
                if let Ok(mint) = Mint::decode(&key, &owner, &data) {
                    for amount in [0, 1, 9_999, u64::MAX] {
                        let _ = mint.fee_on(amount, 0);
                        let _ = mint.gross_for(amount, u64::MAX);
                    }
                }
            }
        }
    }
}
