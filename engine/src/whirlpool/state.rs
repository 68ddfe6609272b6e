//! Whirlpool account layouts: the pool and its tick arrays (fixed and dynamic).

use crate::bytes::FieldReader;
use crate::error::{AccountKind, DecodeError};
use crate::pubkey::{Pubkey, programs};

use super::math::{
    MAX_SQRT_PRICE, MAX_TICK_INDEX, MIN_SQRT_PRICE, MIN_TICK_INDEX, TICK_ARRAY_SIZE,
};

/// `Whirlpool` length including the discriminator.
pub const WHIRLPOOL_LEN: usize = 653;
/// Fixed `TickArray` length.
pub const FIXED_TICK_ARRAY_LEN: usize = 9988;
/// Smallest `DynamicTickArray` (no tick initialized).
pub const DYNAMIC_TICK_ARRAY_MIN_LEN: usize = 148;
/// Largest `DynamicTickArray` (every tick initialized).
pub const DYNAMIC_TICK_ARRAY_MAX_LEN: usize = 10004;
/// sha256("account:Whirlpool")[..8].
pub const WHIRLPOOL_DISCRIMINATOR: [u8; 8] = [63, 149, 209, 12, 225, 128, 99, 9];
/// sha256("account:TickArray")[..8].
pub const FIXED_TICK_ARRAY_DISCRIMINATOR: [u8; 8] = [69, 97, 189, 190, 110, 7, 66, 187];
/// sha256("account:DynamicTickArray")[..8].
pub const DYNAMIC_TICK_ARRAY_DISCRIMINATOR: [u8; 8] = [17, 216, 246, 142, 225, 199, 218, 56];
/// Largest fee rate the program accepts (per million).
pub const MAX_FEE_RATE: u16 = 60_000;

const FIXED_TICK_LEN: usize = 113;
const DYNAMIC_TICK_DATA_LEN: usize = 112;

mod offset {
    pub const TICK_SPACING: usize = 41;
    pub const FEE_TIER_INDEX_SEED: usize = 43;
    pub const FEE_RATE: usize = 45;
    pub const PROTOCOL_FEE_RATE: usize = 47;
    pub const LIQUIDITY: usize = 49;
    pub const SQRT_PRICE: usize = 65;
    pub const TICK_CURRENT_INDEX: usize = 81;
    pub const TOKEN_MINT_A: usize = 101;
    pub const TOKEN_VAULT_A: usize = 133;
    pub const TOKEN_MINT_B: usize = 181;
    pub const TOKEN_VAULT_B: usize = 213;
}

/// The fields of a `Whirlpool` account the engine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Whirlpool {
    /// Tick spacing.
    pub tick_spacing: u16,
    /// Fee tier index seed; differs from `tick_spacing` on adaptive-fee pools.
    pub fee_tier_index_seed: u16,
    /// Swap fee (per million).
    pub fee_rate: u16,
    /// Protocol share of the fee (per 10,000).
    pub protocol_fee_rate: u16,
    /// Liquidity in range.
    pub liquidity: u128,
    /// Current sqrt price, Q64.64.
    pub sqrt_price: u128,
    /// Current tick index.
    pub tick_current_index: i32,
    /// Mint of token A.
    pub token_mint_a: Pubkey,
    /// Vault of token A.
    pub token_vault_a: Pubkey,
    /// Mint of token B.
    pub token_mint_b: Pubkey,
    /// Vault of token B.
    pub token_vault_b: Pubkey,
}

impl Whirlpool {
    /// Decodes and validates a `Whirlpool` account.
    pub fn decode(pubkey: &Pubkey, owner: &Pubkey, data: &[u8]) -> Result<Self, DecodeError> {
        let r = FieldReader::new(AccountKind::Whirlpool, *pubkey, data);
        r.expect_owner(owner, &programs::ORCA_WHIRLPOOL)?;
        r.expect_len(WHIRLPOOL_LEN, "653")?;
        r.expect_discriminator(&WHIRLPOOL_DISCRIMINATOR)?;
        let w = Self {
            tick_spacing: r.u16(offset::TICK_SPACING, "tick_spacing")?,
            fee_tier_index_seed: r.u16(offset::FEE_TIER_INDEX_SEED, "fee_tier_index_seed")?,
            fee_rate: r.u16(offset::FEE_RATE, "fee_rate")?,
            protocol_fee_rate: r.u16(offset::PROTOCOL_FEE_RATE, "protocol_fee_rate")?,
            liquidity: r.u128(offset::LIQUIDITY, "liquidity")?,
            sqrt_price: r.u128(offset::SQRT_PRICE, "sqrt_price")?,
            tick_current_index: r.i32(offset::TICK_CURRENT_INDEX, "tick_current_index")?,
            token_mint_a: r.pubkey_at(offset::TOKEN_MINT_A, "token_mint_a")?,
            token_vault_a: r.pubkey_at(offset::TOKEN_VAULT_A, "token_vault_a")?,
            token_mint_b: r.pubkey_at(offset::TOKEN_MINT_B, "token_mint_b")?,
            token_vault_b: r.pubkey_at(offset::TOKEN_VAULT_B, "token_vault_b")?,
        };
        if w.tick_spacing == 0 {
            return Err(r.invalid("tick_spacing", 0, "is zero"));
        }
        if w.fee_rate > MAX_FEE_RATE {
            return Err(r.invalid(
                "fee_rate",
                w.fee_rate.into(),
                "exceeds the program's maximum 60,000",
            ));
        }
        if !(MIN_SQRT_PRICE..=MAX_SQRT_PRICE).contains(&w.sqrt_price) {
            return Err(r.invalid(
                "sqrt_price",
                w.sqrt_price as i128,
                "lies outside [MIN_SQRT_PRICE, MAX_SQRT_PRICE]",
            ));
        }
        // After crossing the lowest tick downward the program stores MIN_TICK_INDEX − 1.
        if !(MIN_TICK_INDEX - 1..=MAX_TICK_INDEX).contains(&w.tick_current_index) {
            return Err(r.invalid(
                "tick_current_index",
                w.tick_current_index.into(),
                "lies outside [-443637, 443636]",
            ));
        }
        Ok(w)
    }

    /// Every account a `Whirlpool` account names: its config, both mints and vaults, and the
    /// three reward mints and vaults (all zeros where unused). `data` must have decoded.
    pub fn referenced_accounts(data: &[u8]) -> [Pubkey; 11] {
        const AT: [usize; 11] = [8, 101, 133, 181, 213, 269, 301, 397, 429, 525, 557];
        AT.map(|at| {
            Pubkey(
                data.get(at..at + 32)
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .unwrap_or([0; 32]),
            )
        })
    }

    /// Whether the pool charges adaptive fees (an Oracle account the engine does not model).
    pub fn is_adaptive_fee(&self) -> bool {
        self.fee_tier_index_seed != self.tick_spacing
    }

    /// Writes the fields the engine reads into a 653-byte image (simulator, tests).
    pub fn encode(&self) -> Vec<u8> {
        let mut d = vec![0u8; WHIRLPOOL_LEN];
        let mut put = |at: usize, bytes: &[u8]| d[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &WHIRLPOOL_DISCRIMINATOR);
        put(offset::TICK_SPACING, &self.tick_spacing.to_le_bytes());
        put(
            offset::FEE_TIER_INDEX_SEED,
            &self.fee_tier_index_seed.to_le_bytes(),
        );
        put(offset::FEE_RATE, &self.fee_rate.to_le_bytes());
        put(
            offset::PROTOCOL_FEE_RATE,
            &self.protocol_fee_rate.to_le_bytes(),
        );
        put(offset::LIQUIDITY, &self.liquidity.to_le_bytes());
        put(offset::SQRT_PRICE, &self.sqrt_price.to_le_bytes());
        put(
            offset::TICK_CURRENT_INDEX,
            &self.tick_current_index.to_le_bytes(),
        );
        put(offset::TOKEN_MINT_A, &self.token_mint_a.0);
        put(offset::TOKEN_VAULT_A, &self.token_vault_a.0);
        put(offset::TOKEN_MINT_B, &self.token_mint_b.0);
        put(offset::TOKEN_VAULT_B, &self.token_vault_b.0);
        d
    }
}

/// One tick array reduced to what quoting needs: a bitmap of initialized ticks and
/// their `liquidity_net`.
#[derive(Clone, PartialEq, Eq)]
pub struct TickArray {
    /// The pool the array belongs to.
    pub whirlpool: Pubkey,
    /// Tick index of slot 0.
    pub start_tick_index: i32,
    /// Bit i set: slot i is initialized.
    pub initialized: u128,
    /// `liquidity_net` of each slot (0 where uninitialized).
    pub liquidity_net: [i128; TICK_ARRAY_SIZE as usize],
    /// Whether the account uses the dynamic layout.
    pub dynamic: bool,
}

impl std::fmt::Debug for TickArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TickArray")
            .field("whirlpool", &self.whirlpool)
            .field("start_tick_index", &self.start_tick_index)
            .field("initialized", &format_args!("{:#x}", self.initialized))
            .field("dynamic", &self.dynamic)
            .finish_non_exhaustive()
    }
}

/// One tick as the encoder writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TickImage {
    /// Whether the tick is initialized.
    pub initialized: bool,
    /// Net liquidity change when crossed upward.
    pub liquidity_net: i128,
    /// Gross liquidity referencing the tick.
    pub liquidity_gross: u128,
}

impl TickArray {
    /// An empty array (no initialized ticks).
    pub fn empty(whirlpool: Pubkey, start_tick_index: i32) -> Self {
        Self {
            whirlpool,
            start_tick_index,
            initialized: 0,
            liquidity_net: [0; TICK_ARRAY_SIZE as usize],
            dynamic: false,
        }
    }

    /// Decodes either tick array layout, telling them apart by discriminator.
    pub fn decode(pubkey: &Pubkey, owner: &Pubkey, data: &[u8]) -> Result<Self, DecodeError> {
        let kind = if data.get(..8) == Some(&DYNAMIC_TICK_ARRAY_DISCRIMINATOR[..]) {
            AccountKind::WhirlpoolDynamicTickArray
        } else {
            AccountKind::WhirlpoolTickArray
        };
        let r = FieldReader::new(kind, *pubkey, data);
        r.expect_owner(owner, &programs::ORCA_WHIRLPOOL)?;
        let array = if kind == AccountKind::WhirlpoolDynamicTickArray {
            Self::decode_dynamic(&r, data)?
        } else {
            Self::decode_fixed(&r)?
        };
        if array.start_tick_index < MIN_TICK_INDEX - TICK_ARRAY_SIZE * i32::from(u16::MAX)
            || array.start_tick_index > MAX_TICK_INDEX
        {
            return Err(r.invalid(
                "start_tick_index",
                array.start_tick_index.into(),
                "lies outside the tick range",
            ));
        }
        Ok(array)
    }

    fn decode_fixed(r: &FieldReader<'_>) -> Result<Self, DecodeError> {
        r.expect_len(FIXED_TICK_ARRAY_LEN, "9988")?;
        r.expect_discriminator(&FIXED_TICK_ARRAY_DISCRIMINATOR)?;
        let mut array = Self::empty(
            r.pubkey_at(12 + 88 * FIXED_TICK_LEN, "whirlpool")?,
            r.i32(8, "start_tick_index")?,
        );
        for slot in 0..TICK_ARRAY_SIZE as usize {
            let at = 12 + slot * FIXED_TICK_LEN;
            if r.bool(at, "ticks[].initialized")? {
                array.initialized |= 1 << slot;
                array.liquidity_net[slot] = r.i128(at + 1, "ticks[].liquidity_net")?;
            }
        }
        Ok(array)
    }

    fn decode_dynamic(r: &FieldReader<'_>, data: &[u8]) -> Result<Self, DecodeError> {
        if !(DYNAMIC_TICK_ARRAY_MIN_LEN..=DYNAMIC_TICK_ARRAY_MAX_LEN).contains(&data.len()) {
            return Err(r.wrong_length("148 to 10004"));
        }
        let bitmap = r.u128(44, "tick_bitmap")?;
        if bitmap >> TICK_ARRAY_SIZE != 0 {
            return Err(r.invalid(
                "tick_bitmap",
                (bitmap >> 88) as i128,
                "has bits above slot 87",
            ));
        }
        let mut array = Self::empty(r.pubkey_at(12, "whirlpool")?, r.i32(8, "start_tick_index")?);
        array.dynamic = true;
        array.initialized = bitmap;
        let mut at = 60;
        for slot in 0..TICK_ARRAY_SIZE as usize {
            let tag = r.u8(at, "ticks[].tag")?;
            let marked = bitmap & (1 << slot) != 0;
            match (tag, marked) {
                (0, false) => at += 1,
                (1, true) => {
                    array.liquidity_net[slot] = r.i128(at + 1, "ticks[].liquidity_net")?;
                    at += 1 + DYNAMIC_TICK_DATA_LEN;
                }
                (0 | 1, _) => {
                    return Err(r.invalid(
                        "tick_bitmap",
                        slot as i128,
                        "disagrees with the tick's tag at this slot",
                    ));
                }
                (t, _) => return Err(r.invalid("ticks[].tag", t.into(), "is not 0 or 1")),
            }
        }
        if at != data.len() {
            return Err(r.invalid(
                "ticks",
                at as i128,
                "end before the data does (trailing bytes)",
            ));
        }
        Ok(array)
    }

    /// Writes a fixed-layout (9988-byte) image.
    pub fn encode_fixed(
        whirlpool: &Pubkey,
        start_tick_index: i32,
        ticks: &[TickImage; 88],
    ) -> Vec<u8> {
        let mut d = vec![0u8; FIXED_TICK_ARRAY_LEN];
        d[0..8].copy_from_slice(&FIXED_TICK_ARRAY_DISCRIMINATOR);
        d[8..12].copy_from_slice(&start_tick_index.to_le_bytes());
        for (slot, tick) in ticks.iter().enumerate() {
            let at = 12 + slot * FIXED_TICK_LEN;
            d[at] = u8::from(tick.initialized);
            d[at + 1..at + 17].copy_from_slice(&tick.liquidity_net.to_le_bytes());
            d[at + 17..at + 33].copy_from_slice(&tick.liquidity_gross.to_le_bytes());
        }
        d[FIXED_TICK_ARRAY_LEN - 32..].copy_from_slice(&whirlpool.0);
        d
    }

    /// Writes a dynamic-layout image (148 to 10004 bytes).
    pub fn encode_dynamic(
        whirlpool: &Pubkey,
        start_tick_index: i32,
        ticks: &[TickImage; 88],
    ) -> Vec<u8> {
        let mut d = Vec::with_capacity(DYNAMIC_TICK_ARRAY_MAX_LEN);
        d.extend_from_slice(&DYNAMIC_TICK_ARRAY_DISCRIMINATOR);
        d.extend_from_slice(&start_tick_index.to_le_bytes());
        d.extend_from_slice(&whirlpool.0);
        let bitmap = ticks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.initialized)
            .fold(0u128, |acc, (i, _)| acc | 1 << i);
        d.extend_from_slice(&bitmap.to_le_bytes());
        for tick in ticks {
            if tick.initialized {
                d.push(1);
                d.extend_from_slice(&tick.liquidity_net.to_le_bytes());
                d.extend_from_slice(&tick.liquidity_gross.to_le_bytes());
                d.extend_from_slice(&[0u8; 80]);
            } else {
                d.push(0);
            }
        }
        d
    }
}
