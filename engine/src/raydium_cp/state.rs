//! The CP-Swap accounts: `PoolState` and `AmmConfig`, their layouts, decoders and encoders.

use crate::bytes::FieldReader;
use crate::error::{AccountKind, DecodeError};
use crate::pubkey::{Pubkey, programs};
use crate::quote::Side;

/// `PoolState` length including the Anchor discriminator.
pub const POOL_STATE_LEN: usize = 637;
/// `AmmConfig` length including the Anchor discriminator.
pub const AMM_CONFIG_LEN: usize = 236;
/// Anchor discriminator of `PoolState` (sha256("account:PoolState")[..8]).
pub const POOL_STATE_DISCRIMINATOR: [u8; 8] = [247, 237, 227, 245, 215, 195, 222, 70];
/// Anchor discriminator of `AmmConfig` (sha256("account:AmmConfig")[..8]).
pub const AMM_CONFIG_DISCRIMINATOR: [u8; 8] = [218, 244, 33, 104, 203, 203, 43, 111];
/// Fee rates are parts per million.
pub const FEE_RATE_DENOMINATOR: u64 = 1_000_000;
/// Status bit that, when set, disables swaps.
pub(super) const STATUS_SWAP_DISABLED_BIT: u8 = 1 << 2;

mod pool_offset {
    pub const AMM_CONFIG: usize = 8;
    pub const POOL_CREATOR: usize = 40;
    pub const TOKEN_0_VAULT: usize = 72;
    pub const TOKEN_1_VAULT: usize = 104;
    pub const LP_MINT: usize = 136;
    pub const TOKEN_0_MINT: usize = 168;
    pub const TOKEN_1_MINT: usize = 200;
    pub const TOKEN_0_PROGRAM: usize = 232;
    pub const TOKEN_1_PROGRAM: usize = 264;
    pub const OBSERVATION_KEY: usize = 296;
    pub const STATUS: usize = 329;
    pub const MINT_0_DECIMALS: usize = 331;
    pub const MINT_1_DECIMALS: usize = 332;
    pub const PROTOCOL_FEES_TOKEN_0: usize = 341;
    pub const PROTOCOL_FEES_TOKEN_1: usize = 349;
    pub const FUND_FEES_TOKEN_0: usize = 357;
    pub const FUND_FEES_TOKEN_1: usize = 365;
    pub const OPEN_TIME: usize = 373;
    pub const CREATOR_FEE_ON: usize = 389;
    pub const ENABLE_CREATOR_FEE: usize = 390;
    pub const CREATOR_FEES_TOKEN_0: usize = 397;
    pub const CREATOR_FEES_TOKEN_1: usize = 405;
}

mod config_offset {
    pub const TRADE_FEE_RATE: usize = 12;
    pub const PROTOCOL_FEE_RATE: usize = 20;
    pub const FUND_FEE_RATE: usize = 28;
    pub const CREATOR_FEE_RATE: usize = 108;
}

/// Which token a pool's creator fee is taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CreatorFeeOn {
    /// Always the input token.
    #[default]
    BothTokens,
    /// Token 0 only: on the input when token 0 goes in, else on the output.
    OnlyToken0,
    /// Token 1 only: on the input when token 1 goes in, else on the output.
    OnlyToken1,
}

impl CreatorFeeOn {
    pub(super) fn on_input(self, side: Side) -> bool {
        match self {
            Self::BothTokens => true,
            Self::OnlyToken0 => side == Side::AToB,
            Self::OnlyToken1 => side == Side::BToA,
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            Self::BothTokens => 0,
            Self::OnlyToken0 => 1,
            Self::OnlyToken1 => 2,
        }
    }
}

/// The fields of `PoolState` the engine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolState {
    /// The `AmmConfig` holding the fee rates.
    pub amm_config: Pubkey,
    /// The pool's creator (receives the creator fee).
    pub pool_creator: Pubkey,
    /// Vault of token 0.
    pub token_0_vault: Pubkey,
    /// Vault of token 1.
    pub token_1_vault: Pubkey,
    /// LP mint.
    pub lp_mint: Pubkey,
    /// Mint of token 0.
    pub token_0_mint: Pubkey,
    /// Mint of token 1.
    pub token_1_mint: Pubkey,
    /// Token program of token 0.
    pub token_0_program: Pubkey,
    /// Token program of token 1.
    pub token_1_program: Pubkey,
    /// The pool's price observation account (not read by quotes).
    pub observation_key: Pubkey,
    /// Status bits (bit 2 set: swaps disabled).
    pub status: u8,
    /// Decimals of mint 0.
    pub mint_0_decimals: u8,
    /// Decimals of mint 1.
    pub mint_1_decimals: u8,
    /// Protocol fees owed in token 0.
    pub protocol_fees_token_0: u64,
    /// Protocol fees owed in token 1.
    pub protocol_fees_token_1: u64,
    /// Fund fees owed in token 0.
    pub fund_fees_token_0: u64,
    /// Fund fees owed in token 1.
    pub fund_fees_token_1: u64,
    /// Unix time from which the pool trades.
    pub open_time: u64,
    /// Which token the creator fee is taken in.
    pub creator_fee_on: CreatorFeeOn,
    /// Whether the creator fee is charged at all.
    pub enable_creator_fee: bool,
    /// Creator fees owed in token 0.
    pub creator_fees_token_0: u64,
    /// Creator fees owed in token 1.
    pub creator_fees_token_1: u64,
}

impl PoolState {
    /// Decodes and validates a `PoolState` account.
    pub fn decode(pubkey: &Pubkey, owner: &Pubkey, data: &[u8]) -> Result<Self, DecodeError> {
        use pool_offset as o;
        let r = FieldReader::new(AccountKind::RaydiumCpPoolState, *pubkey, data);
        r.expect_owner(owner, &programs::RAYDIUM_CP_SWAP)?;
        r.expect_len(POOL_STATE_LEN, "637")?;
        r.expect_discriminator(&POOL_STATE_DISCRIMINATOR)?;
        let creator_fee_on = match r.u8(o::CREATOR_FEE_ON, "creator_fee_on")? {
            0 => CreatorFeeOn::BothTokens,
            1 => CreatorFeeOn::OnlyToken0,
            2 => CreatorFeeOn::OnlyToken1,
            v => {
                return Err(r.invalid(
                    "creator_fee_on",
                    v.into(),
                    "is not 0 (both), 1 (token 0) or 2 (token 1)",
                ));
            }
        };
        let state = Self {
            amm_config: r.pubkey_at(o::AMM_CONFIG, "amm_config")?,
            pool_creator: r.pubkey_at(o::POOL_CREATOR, "pool_creator")?,
            token_0_vault: r.pubkey_at(o::TOKEN_0_VAULT, "token_0_vault")?,
            token_1_vault: r.pubkey_at(o::TOKEN_1_VAULT, "token_1_vault")?,
            lp_mint: r.pubkey_at(o::LP_MINT, "lp_mint")?,
            token_0_mint: r.pubkey_at(o::TOKEN_0_MINT, "token_0_mint")?,
            token_1_mint: r.pubkey_at(o::TOKEN_1_MINT, "token_1_mint")?,
            token_0_program: r.pubkey_at(o::TOKEN_0_PROGRAM, "token_0_program")?,
            token_1_program: r.pubkey_at(o::TOKEN_1_PROGRAM, "token_1_program")?,
            observation_key: r.pubkey_at(o::OBSERVATION_KEY, "observation_key")?,
            status: r.u8(o::STATUS, "status")?,
            mint_0_decimals: r.u8(o::MINT_0_DECIMALS, "mint_0_decimals")?,
            mint_1_decimals: r.u8(o::MINT_1_DECIMALS, "mint_1_decimals")?,
            protocol_fees_token_0: r.u64(o::PROTOCOL_FEES_TOKEN_0, "protocol_fees_token_0")?,
            protocol_fees_token_1: r.u64(o::PROTOCOL_FEES_TOKEN_1, "protocol_fees_token_1")?,
            fund_fees_token_0: r.u64(o::FUND_FEES_TOKEN_0, "fund_fees_token_0")?,
            fund_fees_token_1: r.u64(o::FUND_FEES_TOKEN_1, "fund_fees_token_1")?,
            open_time: r.u64(o::OPEN_TIME, "open_time")?,
            creator_fee_on,
            enable_creator_fee: r.bool(o::ENABLE_CREATOR_FEE, "enable_creator_fee")?,
            creator_fees_token_0: r.u64(o::CREATOR_FEES_TOKEN_0, "creator_fees_token_0")?,
            creator_fees_token_1: r.u64(o::CREATOR_FEES_TOKEN_1, "creator_fees_token_1")?,
        };
        for (field, program) in [
            ("token_0_program", state.token_0_program),
            ("token_1_program", state.token_1_program),
        ] {
            if program != programs::SPL_TOKEN && program != programs::SPL_TOKEN_2022 {
                return Err(r.invalid(field, 0, "is neither SPL Token nor Token-2022"));
            }
        }
        if state.token_0_vault == state.token_1_vault {
            return Err(r.invalid("token_1_vault", 0, "equals token_0_vault"));
        }
        Ok(state)
    }

    /// (vault, mint, token program) of token 0 and token 1.
    pub fn sides(&self) -> [(Pubkey, Pubkey, Pubkey); 2] {
        [
            (self.token_0_vault, self.token_0_mint, self.token_0_program),
            (self.token_1_vault, self.token_1_mint, self.token_1_program),
        ]
    }

    /// Writes the fields the engine reads into a 637-byte image (simulator, tests).
    pub fn encode(&self) -> Vec<u8> {
        use pool_offset as o;
        let mut d = vec![0u8; POOL_STATE_LEN];
        let mut put = |at: usize, bytes: &[u8]| d[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &POOL_STATE_DISCRIMINATOR);
        put(o::AMM_CONFIG, &self.amm_config.0);
        put(o::POOL_CREATOR, &self.pool_creator.0);
        put(o::TOKEN_0_VAULT, &self.token_0_vault.0);
        put(o::TOKEN_1_VAULT, &self.token_1_vault.0);
        put(o::LP_MINT, &self.lp_mint.0);
        put(o::TOKEN_0_MINT, &self.token_0_mint.0);
        put(o::TOKEN_1_MINT, &self.token_1_mint.0);
        put(o::TOKEN_0_PROGRAM, &self.token_0_program.0);
        put(o::TOKEN_1_PROGRAM, &self.token_1_program.0);
        put(o::OBSERVATION_KEY, &self.observation_key.0);
        put(o::STATUS, &[self.status]);
        put(o::MINT_0_DECIMALS, &[self.mint_0_decimals]);
        put(o::MINT_1_DECIMALS, &[self.mint_1_decimals]);
        put(
            o::PROTOCOL_FEES_TOKEN_0,
            &self.protocol_fees_token_0.to_le_bytes(),
        );
        put(
            o::PROTOCOL_FEES_TOKEN_1,
            &self.protocol_fees_token_1.to_le_bytes(),
        );
        put(o::FUND_FEES_TOKEN_0, &self.fund_fees_token_0.to_le_bytes());
        put(o::FUND_FEES_TOKEN_1, &self.fund_fees_token_1.to_le_bytes());
        put(o::OPEN_TIME, &self.open_time.to_le_bytes());
        put(o::CREATOR_FEE_ON, &[self.creator_fee_on.to_byte()]);
        put(o::ENABLE_CREATOR_FEE, &[u8::from(self.enable_creator_fee)]);
        put(
            o::CREATOR_FEES_TOKEN_0,
            &self.creator_fees_token_0.to_le_bytes(),
        );
        put(
            o::CREATOR_FEES_TOKEN_1,
            &self.creator_fees_token_1.to_le_bytes(),
        );
        d
    }
}

/// The fee rates of an `AmmConfig` (parts per million).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AmmConfig {
    /// Fee on each swap, kept by the pool.
    pub trade_fee_rate: u64,
    /// Share of the trade fee owed to the protocol.
    pub protocol_fee_rate: u64,
    /// Share of the trade fee owed to the fund.
    pub fund_fee_rate: u64,
    /// Creator fee, charged on top when the pool enables it.
    pub creator_fee_rate: u64,
}

impl AmmConfig {
    /// Decodes and validates an `AmmConfig` account.
    pub fn decode(pubkey: &Pubkey, owner: &Pubkey, data: &[u8]) -> Result<Self, DecodeError> {
        use config_offset as o;
        let r = FieldReader::new(AccountKind::RaydiumCpAmmConfig, *pubkey, data);
        r.expect_owner(owner, &programs::RAYDIUM_CP_SWAP)?;
        r.expect_len(AMM_CONFIG_LEN, "236")?;
        r.expect_discriminator(&AMM_CONFIG_DISCRIMINATOR)?;
        let config = Self {
            trade_fee_rate: r.u64(o::TRADE_FEE_RATE, "trade_fee_rate")?,
            protocol_fee_rate: r.u64(o::PROTOCOL_FEE_RATE, "protocol_fee_rate")?,
            fund_fee_rate: r.u64(o::FUND_FEE_RATE, "fund_fee_rate")?,
            creator_fee_rate: r.u64(o::CREATOR_FEE_RATE, "creator_fee_rate")?,
        };
        for (field, rate) in [
            ("trade_fee_rate", config.trade_fee_rate),
            ("protocol_fee_rate", config.protocol_fee_rate),
            ("fund_fee_rate", config.fund_fee_rate),
            ("creator_fee_rate", config.creator_fee_rate),
        ] {
            if rate > FEE_RATE_DENOMINATOR {
                return Err(r.invalid(field, rate.into(), "exceeds 1,000,000 (100%)"));
            }
        }
        // `update_amm_config` keeps trade + creator at most 100% (`create_amm_config` below).
        if config.trade_fee_rate + config.creator_fee_rate > FEE_RATE_DENOMINATOR {
            return Err(r.invalid(
                "creator_fee_rate",
                config.creator_fee_rate.into(),
                "plus trade_fee_rate exceeds 100%",
            ));
        }
        Ok(config)
    }

    /// Writes the fee rates into a 236-byte image (simulator, tests).
    pub fn encode(&self) -> Vec<u8> {
        use config_offset as o;
        let mut d = vec![0u8; AMM_CONFIG_LEN];
        d[0..8].copy_from_slice(&AMM_CONFIG_DISCRIMINATOR);
        for (at, v) in [
            (o::TRADE_FEE_RATE, self.trade_fee_rate),
            (o::PROTOCOL_FEE_RATE, self.protocol_fee_rate),
            (o::FUND_FEE_RATE, self.fund_fee_rate),
            (o::CREATOR_FEE_RATE, self.creator_fee_rate),
        ] {
            d[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        d
    }
}
