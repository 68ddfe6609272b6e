//! Raydium CP-Swap (CPMM): `PoolState`, `AmmConfig`, vaults, and the program's swap arithmetic.

use crate::error::{AccountKind, Check, DecodeError, ProgramError, QuoteError};
use crate::mint::{FeeError, Mint};
use crate::pubkey::{Pubkey, programs};
use crate::quote::{AccountData, Amm, DexKind, Quote, QuoteRequest, Side, SwapMode, Updated};
use crate::token_account::{TokenAccount, Vault};

/// `PoolState` length including the Anchor discriminator.
mod math;
mod state;

pub use math::*;
use math::{panic, rejected};
use state::STATUS_SWAP_DISABLED_BIT;
pub use state::*;

/// A CP-Swap pool: `PoolState`, its `AmmConfig`, both vault balances and, for Token-2022
/// tokens, the mints (their transfer fees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaydiumCpPool {
    key: Pubkey,
    state: PoolState,
    config: Option<AmmConfig>,
    /// The token 0 and token 1 vaults as last received.
    vaults: [Option<Vault>; 2],
    mints: [Option<Mint>; 2],
    /// [`Self::reserves`], recomputed whenever the pool account or a vault changes (quotes
    /// outnumber updates).
    net_reserves: Result<(u64, u64), QuoteError>,
}

impl RaydiumCpPool {
    /// A pool from its `PoolState` account; config, vaults and mints arrive through
    /// [`Amm::update`].
    pub fn from_account(account: AccountData<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            key: *account.pubkey,
            state: PoolState::decode(account.pubkey, account.owner, account.data)?,
            config: None,
            vaults: [None, None],
            mints: [None, None],
            net_reserves: Err(QuoteError::MissingAccount {
                pool: *account.pubkey,
                missing: "token 0 vault",
            }),
        })
    }

    /// The decoded pool account.
    pub fn state(&self) -> &PoolState {
        &self.state
    }

    /// Token 0 and token 1 reserves net of protocol, fund and creator fees owed, as
    /// `PoolState::vault_amount_without_fee` computes them (states/pool.rs L200-216).
    pub fn reserves(&self) -> Result<(u64, u64), QuoteError> {
        self.net_reserves.clone()
    }

    fn compute_reserves(&self) -> Result<(u64, u64), QuoteError> {
        let missing = |what| QuoteError::MissingAccount {
            pool: self.key,
            missing: what,
        };
        let v0 = self.vaults[0]
            .ok_or_else(|| missing("token 0 vault"))?
            .amount;
        let v1 = self.vaults[1]
            .ok_or_else(|| missing("token 1 vault"))?
            .amount;
        let s = &self.state;
        // `checked_add(..).ok_or(ErrorCode::MathOverflow)`.
        let owed = |p: u64, f: u64, c: u64, side| {
            p.checked_add(f)
                .and_then(|x| x.checked_add(c))
                .ok_or_else(|| {
                    rejected(
                        ProgramError::CpMathOverflow,
                        Check::Overflow { stage: side },
                    )
                })
        };
        let owed_0 = owed(
            s.protocol_fees_token_0,
            s.fund_fees_token_0,
            s.creator_fees_token_0,
            "fees owed in token 0",
        )?;
        let owed_1 = owed(
            s.protocol_fees_token_1,
            s.fund_fees_token_1,
            s.creator_fees_token_1,
            "fees owed in token 1",
        )?;
        // `vault.checked_sub(fees).ok_or(ErrorCode::InsufficientVault)`.
        let net = |vault: u64, owed: u64, side| {
            vault.checked_sub(owed).ok_or_else(|| {
                rejected(
                    ProgramError::CpInsufficientVault,
                    Check::OwedExceedsVault { side, vault, owed },
                )
            })
        };
        Ok((net(v0, owed_0, "token 0")?, net(v1, owed_1, "token 1")?))
    }

    /// The mint of token `index` when it can charge a transfer fee (a Token-2022 mint); `None`
    /// for SPL Token, whose mints have no extensions.
    #[inline]
    fn fee_mint(&self, index: usize) -> Result<Option<&Mint>, QuoteError> {
        let program = [&self.state.token_0_program, &self.state.token_1_program][index];
        if *program != programs::SPL_TOKEN_2022 {
            return Ok(None);
        }
        Mint::required(
            self.mints[index].as_ref(),
            self.key,
            ["token 0 mint", "token 1 mint"][index],
        )
        .map(Some)
    }

    /// What the instruction does after the arithmetic: `PoolState::update_fees` (states/pool.rs
    /// L326) books the protocol and fund shares of the trade fee on the input side and the
    /// creator fee on its side, each with `checked_add(..).unwrap()`; then the transfers
    /// through the vaults fail on a frozen one with the token program's `AccountFrozen`.
    #[inline(always)]
    fn check_after_swap(
        &self,
        side: Side,
        result: &CpSwap,
        config: &AmmConfig,
    ) -> Result<(), QuoteError> {
        let s = &self.state;
        let input = if side == Side::AToB { 0 } else { 1 };
        let creator_side = if result.creator_fee_on_input {
            input
        } else {
            1 - input
        };
        let (protocol, fund) = if input == 0 {
            (s.protocol_fees_token_0, s.fund_fees_token_0)
        } else {
            (s.protocol_fees_token_1, s.fund_fees_token_1)
        };
        let creator = if creator_side == 0 {
            s.creator_fees_token_0
        } else {
            s.creator_fees_token_1
        };
        // The shares are at most the trade fee: books a trade fee short of u64::MAX fit.
        let books_fit = protocol.max(fund) <= u64::MAX - result.trade_fee
            && creator <= u64::MAX - result.creator_fee;
        let frozen = self.vaults.iter().flatten().any(|v| v.is_frozen);
        if books_fit && !frozen {
            return Ok(());
        }
        self.refuse_after_swap(protocol, fund, creator, result, config)
    }

    /// The exact verdict of [`Self::check_after_swap`] once its quick test fails.
    #[cold]
    fn refuse_after_swap(
        &self,
        protocol: u64,
        fund: u64,
        creator: u64,
        result: &CpSwap,
        config: &AmmConfig,
    ) -> Result<(), QuoteError> {
        let (protocol_fee, fund_fee) = fee_shares(result.trade_fee, config);
        if protocol.checked_add(protocol_fee).is_none()
            || fund.checked_add(fund_fee).is_none()
            || creator.checked_add(result.creator_fee).is_none()
        {
            return Err(panic(Check::Overflow {
                stage: "the pool's fee books (update_fees)",
            }));
        }
        match (0..2).find(|&i| self.vaults[i].is_some_and(|v| v.is_frozen)) {
            Some(i) => Err(rejected(
                ProgramError::TokenAccountFrozen,
                Check::Frozen {
                    account: self.state.sides()[i].0,
                },
            )),
            None => Ok(()),
        }
    }

    fn fees(&self, config: &AmmConfig, side: Side) -> CpFees {
        let s = &self.state;
        CpFees {
            trade_fee_rate: config.trade_fee_rate,
            // `adjust_creator_fee_rate` (states/pool.rs L318): 0 unless enabled.
            creator_fee_rate: if s.enable_creator_fee {
                config.creator_fee_rate
            } else {
                0
            },
            creator_fee_on_input: s.creator_fee_on.on_input(side),
        }
    }
}

/// `get_transfer_inverse_fee` (utils/token.rs L170-200): the fee to add so that `net` arrives;
/// its `unwrap`s panic and a fee that does not verify forward is `TransferFeeCalculateNotMatch`.
fn inverse_transfer_fee(mint: Option<&Mint>, net: u64, epoch: u64) -> Result<u64, QuoteError> {
    let Some(mint) = mint else { return Ok(0) };
    let check = Check::TransferFee {
        mint: mint.key,
        amount: net,
    };
    match mint.gross_for(net, epoch) {
        Ok(transfer) => Ok(transfer.fee),
        Err(FeeError::Overflow) => Err(panic(check)),
        Err(FeeError::Mismatch) => Err(rejected(
            ProgramError::CpTransferFeeCalculateNotMatch,
            check,
        )),
    }
}

impl Amm for RaydiumCpPool {
    fn dex(&self) -> DexKind {
        DexKind::RaydiumCp
    }

    fn key(&self) -> Pubkey {
        self.key
    }

    fn mints(&self) -> [Pubkey; 2] {
        [self.state.token_0_mint, self.state.token_1_mint]
    }

    fn accounts(&self) -> Vec<Pubkey> {
        let s = &self.state;
        let mut keys = vec![self.key, s.amm_config, s.token_0_vault, s.token_1_vault];
        for (mint, program) in [
            (s.token_0_mint, s.token_0_program),
            (s.token_1_mint, s.token_1_program),
        ] {
            if program == programs::SPL_TOKEN_2022 {
                keys.push(mint);
            }
        }
        keys
    }

    fn references(&self, key: &Pubkey) -> bool {
        let s = &self.state;
        [
            self.key,
            s.amm_config,
            s.pool_creator,
            s.token_0_vault,
            s.token_1_vault,
            s.lp_mint,
            s.token_0_mint,
            s.token_1_mint,
            s.observation_key,
        ]
        .contains(key)
    }

    fn update(&mut self, account: AccountData<'_>) -> Result<Updated, DecodeError> {
        let key = account.pubkey;
        if *key == self.key {
            let state = PoolState::decode(key, account.owner, account.data)?;
            let mut outcome = Updated::State;
            if state.amm_config != self.state.amm_config {
                self.config = None;
                outcome = Updated::Accounts;
            }
            let (was, now) = (self.state.sides(), state.sides());
            for side in 0..2 {
                // A vault read against another address, mint or token program is no longer
                // this side's; a mint under another address or program neither.
                if now[side] != was[side] {
                    self.vaults[side] = None;
                    outcome = Updated::Accounts;
                }
                if (now[side].1, now[side].2) != (was[side].1, was[side].2) {
                    self.mints[side] = None;
                }
            }
            self.state = state;
            self.net_reserves = self.compute_reserves();
            return Ok(outcome);
        }
        if *key == self.state.amm_config {
            self.config = Some(AmmConfig::decode(key, account.owner, account.data)?);
            return Ok(Updated::State);
        }
        let sides = self.state.sides();
        if let Some(side) = sides.iter().position(|(_, mint, _)| mint == key) {
            let mint = Mint::decode(key, account.owner, account.data)?;
            let program = sides[side].2;
            if mint.program() != program {
                return Err(DecodeError::Mismatch {
                    kind: AccountKind::Mint,
                    pubkey: *key,
                    field: "owner program",
                    expected: program,
                    found: mint.program(),
                });
            }
            // A mint rewritten without a change a quote reads (its supply moved) is no news.
            if self.mints[side] == Some(mint) {
                return Ok(Updated::Unchanged);
            }
            self.mints[side] = Some(mint);
            return Ok(Updated::State);
        }
        let Some(side) = sides.iter().position(|(vault, _, _)| vault == key) else {
            return Ok(Updated::Ignored);
        };
        let (_, mint, program) = sides[side];
        let vault = TokenAccount::decode(key, account.owner, account.data)?;
        if vault.mint != mint {
            return Err(DecodeError::Mismatch {
                kind: AccountKind::TokenAccount,
                pubkey: *key,
                field: "mint",
                expected: mint,
                found: vault.mint,
            });
        }
        if vault.program() != program {
            return Err(DecodeError::Mismatch {
                kind: AccountKind::TokenAccount,
                pubkey: *key,
                field: "owner program",
                expected: program,
                found: vault.program(),
            });
        }
        self.vaults[side] = Some(Vault::from(&vault));
        self.net_reserves = self.compute_reserves();
        Ok(Updated::State)
    }

    fn curve(&self, side: Side, epoch: u64) -> Option<crate::curve::Curve> {
        let s = &self.state;
        if s.status & STATUS_SWAP_DISABLED_BIT != 0
            || self.vaults.iter().flatten().any(|v| v.is_frozen)
        {
            return None;
        }
        let config = self.config.as_ref()?;
        let (r0, r1) = *self.net_reserves.as_ref().ok()?;
        let (r_in, r_out, mint_in, mint_out) = match side {
            Side::AToB => (r0, r1, self.fee_mint(0).ok()?, self.fee_mint(1).ok()?),
            Side::BToA => (r1, r0, self.fee_mint(1).ok()?, self.fee_mint(0).ok()?),
        };
        let fees = self.fees(config, side);
        if fees.creator_fee_on_input && fees.trade_fee_rate + fees.creator_fee_rate == 0 {
            return None;
        }
        let keep = |rate: u64| 1.0 - rate as f64 / FEE_RATE_DENOMINATOR as f64;
        let pool_gamma = if fees.creator_fee_on_input {
            keep(fees.trade_fee_rate + fees.creator_fee_rate)
        } else {
            keep(fees.trade_fee_rate) * keep(fees.creator_fee_rate)
        };
        let fee = |mint: Option<&Mint>| {
            mint.map_or((1.0, f64::INFINITY), |m| m.transfer_fee_curve(epoch))
        };
        (r_in > 0 && r_out > 0).then(|| {
            crate::curve::Curve {
                reserve_in: r_in as f64,
                reserve_out: r_out as f64,
                gamma: pool_gamma,
                exact_up_to: f64::INFINITY,
            }
            .with_transfer_fees(fee(mint_in), fee(mint_out), r_out as f64)
        })
    }

    fn quote(&self, request: &QuoteRequest) -> Result<Quote, QuoteError> {
        let s = &self.state;
        let amount = request.amount;
        // swap_base_output.rs L14: `require_gt!(amount_out_received, 0)` comes first.
        if request.mode == SwapMode::ExactOut && amount == 0 {
            return Err(rejected(
                ProgramError::CpRequireGtViolated,
                Check::ZeroAmount,
            ));
        }
        // swap_base_input.rs L76-83 (swap_base_output.rs L15-22): the swap status bit, and
        // `unix_timestamp as u64 < open_time` → NotApproved.
        if s.status & STATUS_SWAP_DISABLED_BIT != 0 {
            return Err(rejected(
                ProgramError::CpNotApproved,
                Check::Status {
                    status: s.status.into(),
                },
            ));
        }
        if (request.unix_timestamp as u64) < s.open_time {
            return Err(rejected(
                ProgramError::CpNotApproved,
                Check::NotOpenYet {
                    open_time: s.open_time,
                    now: request.unix_timestamp,
                },
            ));
        }
        let config = self.config.as_ref().ok_or(QuoteError::MissingAccount {
            pool: self.key,
            missing: "amm config",
        })?;
        let (index_in, index_out) = match request.side {
            Side::AToB => (0, 1),
            Side::BToA => (1, 0),
        };
        // Pools of two SPL Token tokens (most of them) have no mint to consult.
        let (mint_in, mint_out) = if self.state.token_0_program == programs::SPL_TOKEN
            && self.state.token_1_program == programs::SPL_TOKEN
        {
            (None, None)
        } else {
            (self.fee_mint(index_in)?, self.fee_mint(index_out)?)
        };
        let fees = self.fees(config, request.side);
        let epoch = request.epoch;
        let net_reserves = |this: &Self| -> Result<(u64, u64), QuoteError> {
            let (r0, r1) = *this.net_reserves.as_ref().map_err(Clone::clone)?;
            Ok(match request.side {
                Side::AToB => (r0, r1),
                Side::BToA => (r1, r0),
            })
        };
        match request.mode {
            SwapMode::ExactIn => {
                // swap_base_input.rs L85-89: the input mint's fee first; `require_gt!` on
                // what is left.
                let transfer_fee_in = mint_in.map_or(0, |m| m.fee_on(amount, epoch));
                let actual_in = amount.saturating_sub(transfer_fee_in);
                if actual_in == 0 {
                    let check = if amount == 0 {
                        Check::ZeroAmount
                    } else {
                        Check::ZeroAfterTransferFee { amount }
                    };
                    return Err(rejected(ProgramError::CpRequireGtViolated, check));
                }
                let (reserve_in, reserve_out) = net_reserves(self)?;
                let result =
                    swap_curve(actual_in, SwapMode::ExactIn, reserve_in, reserve_out, fees)?;
                // swap_base_input.rs L141-148: the output mint's fee off what the pool sends;
                // `require_gt!(amount_received, 0)`.
                let transfer_fee_out = mint_out.map_or(0, |m| m.fee_on(result.output, epoch));
                let received = result.output - transfer_fee_out;
                if received == 0 {
                    return Err(rejected(
                        ProgramError::CpRequireGtViolated,
                        Check::ZeroOutput,
                    ));
                }
                self.check_after_swap(request.side, &result, config)?;
                Ok(Quote {
                    amount_in: amount,
                    amount_out: received,
                    fee_amount: result.fee_amount(),
                    transfer_fee_in,
                    transfer_fee_out,
                })
            }
            SwapMode::ExactOut => {
                // swap_base_output.rs L23-27: the output grossed up by its mint's inverse fee
                // (`checked_add(..).unwrap()`).
                let transfer_fee_out = inverse_transfer_fee(mint_out, amount, epoch)?;
                let pool_out = amount.checked_add(transfer_fee_out).ok_or_else(|| {
                    panic(Check::Overflow {
                        stage: "output with its transfer fee",
                    })
                })?;
                let (reserve_in, reserve_out) = net_reserves(self)?;
                let result =
                    swap_curve(pool_out, SwapMode::ExactOut, reserve_in, reserve_out, fees)?;
                // swap_base_output.rs L79-85: `require_gt!(input_amount, 0)`, then the input
                // mint's inverse fee on top (`checked_add(..).unwrap()`).
                if result.input == 0 {
                    return Err(rejected(
                        ProgramError::CpRequireGtViolated,
                        Check::ZeroInput,
                    ));
                }
                let transfer_fee_in = inverse_transfer_fee(mint_in, result.input, epoch)?;
                let amount_in = result.input.checked_add(transfer_fee_in).ok_or_else(|| {
                    panic(Check::Overflow {
                        stage: "input with its transfer fee",
                    })
                })?;
                self.check_after_swap(request.side, &result, config)?;
                Ok(Quote {
                    amount_in,
                    amount_out: amount,
                    fee_amount: result.fee_amount(),
                    transfer_fee_in,
                    transfer_fee_out,
                })
            }
        }
    }
}
