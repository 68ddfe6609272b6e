//! Raydium AMM v4: the `AmmInfo` layout, its two vaults, and the program's swap arithmetic.

use crate::bytes::FieldReader;
use crate::error::{AccountKind, Check, DecodeError, ProgramError, QuoteError};
use crate::mint::Mint;
use crate::pubkey::{Pubkey, programs};
use crate::quote::{AccountData, Amm, DexKind, Quote, QuoteRequest, Side, SwapMode, Updated};
use crate::token_account::{TokenAccount, Vault};

/// `AmmInfo` is a packed 752-byte struct without discriminator.
pub const AMM_INFO_LEN: usize = 752;

/// `AmmStatus` values (state.rs L222-235). Only `SwapOnly` swaps, and `WaitingTrade` once its
/// open time has come; `Initialized` and `OrderBookOnly` carry the order-book permission, which
/// the program's swaps now refuse.
const STATUS_UNINITIALIZED: u64 = 0;
const STATUS_INITIALIZED: u64 = 1;
const STATUS_ORDER_BOOK_ONLY: u64 = 5;
const STATUS_SWAP_ONLY: u64 = 6;
const STATUS_WAITING_TRADE: u64 = 7;

mod offset {
    pub const STATUS: usize = 0;
    pub const COIN_DECIMALS: usize = 32;
    pub const PC_DECIMALS: usize = 40;
    pub const TRADE_FEE_NUMERATOR: usize = 144;
    pub const TRADE_FEE_DENOMINATOR: usize = 152;
    pub const SWAP_FEE_NUMERATOR: usize = 176;
    pub const SWAP_FEE_DENOMINATOR: usize = 184;
    pub const NEED_TAKE_PNL_COIN: usize = 192;
    pub const NEED_TAKE_PNL_PC: usize = 200;
    pub const POOL_OPEN_TIME: usize = 224;
    pub const ORDERBOOK_TO_INIT_TIME: usize = 248;
    pub const COIN_VAULT: usize = 336;
    pub const PC_VAULT: usize = 368;
    pub const COIN_VAULT_MINT: usize = 400;
    pub const PC_VAULT_MINT: usize = 432;
    pub const LP_MINT: usize = 464;
    pub const OPEN_ORDERS: usize = 496;
    pub const MARKET: usize = 528;
}

/// The fields of `AmmInfo` the engine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AmmInfo {
    /// Pool status (1 initialized, 6 swap only, 7 waiting for open time, others: no swaps).
    pub status: u64,
    /// Decimals of the coin mint.
    pub coin_decimals: u64,
    /// Decimals of the pc mint.
    pub pc_decimals: u64,
    /// Trade fee numerator (order-book side; not what a swap charges).
    pub trade_fee_numerator: u64,
    /// Trade fee denominator.
    pub trade_fee_denominator: u64,
    /// Swap fee numerator: what a swap charges.
    pub swap_fee_numerator: u64,
    /// Swap fee denominator.
    pub swap_fee_denominator: u64,
    /// Coin owed to the pnl owner, still inside the coin vault.
    pub need_take_pnl_coin: u64,
    /// Pc owed to the pnl owner, still inside the pc vault.
    pub need_take_pnl_pc: u64,
    /// Unix time from which a status-7 pool trades.
    pub pool_open_time: u64,
    /// Unix time from which an order-book-only pool (status 5) would turn initialized.
    pub orderbook_to_init_time: u64,
    /// Coin vault (token account).
    pub coin_vault: Pubkey,
    /// Pc vault (token account).
    pub pc_vault: Pubkey,
    /// Coin mint.
    pub coin_vault_mint: Pubkey,
    /// Pc mint.
    pub pc_vault_mint: Pubkey,
    /// LP mint.
    pub lp_mint: Pubkey,
    /// OpenBook open orders account.
    pub open_orders: Pubkey,
    /// OpenBook market.
    pub market: Pubkey,
}

impl AmmInfo {
    /// Decodes and validates an `AmmInfo` account.
    pub fn decode(pubkey: &Pubkey, owner: &Pubkey, data: &[u8]) -> Result<Self, DecodeError> {
        let r = FieldReader::new(AccountKind::RaydiumAmmInfo, *pubkey, data);
        r.expect_owner(owner, &programs::RAYDIUM_AMM_V4)?;
        r.expect_len(AMM_INFO_LEN, "752")?;
        let info = Self {
            status: r.u64(offset::STATUS, "status")?,
            coin_decimals: r.u64(offset::COIN_DECIMALS, "coin_decimals")?,
            pc_decimals: r.u64(offset::PC_DECIMALS, "pc_decimals")?,
            trade_fee_numerator: r.u64(offset::TRADE_FEE_NUMERATOR, "fees.trade_fee_numerator")?,
            trade_fee_denominator: r
                .u64(offset::TRADE_FEE_DENOMINATOR, "fees.trade_fee_denominator")?,
            swap_fee_numerator: r.u64(offset::SWAP_FEE_NUMERATOR, "fees.swap_fee_numerator")?,
            swap_fee_denominator: r
                .u64(offset::SWAP_FEE_DENOMINATOR, "fees.swap_fee_denominator")?,
            need_take_pnl_coin: r
                .u64(offset::NEED_TAKE_PNL_COIN, "state_data.need_take_pnl_coin")?,
            need_take_pnl_pc: r.u64(offset::NEED_TAKE_PNL_PC, "state_data.need_take_pnl_pc")?,
            pool_open_time: r.u64(offset::POOL_OPEN_TIME, "state_data.pool_open_time")?,
            orderbook_to_init_time: r.u64(
                offset::ORDERBOOK_TO_INIT_TIME,
                "state_data.orderbook_to_init_time",
            )?,
            coin_vault: r.pubkey_at(offset::COIN_VAULT, "coin_vault")?,
            pc_vault: r.pubkey_at(offset::PC_VAULT, "pc_vault")?,
            coin_vault_mint: r.pubkey_at(offset::COIN_VAULT_MINT, "coin_vault_mint")?,
            pc_vault_mint: r.pubkey_at(offset::PC_VAULT_MINT, "pc_vault_mint")?,
            lp_mint: r.pubkey_at(offset::LP_MINT, "lp_mint")?,
            open_orders: r.pubkey_at(offset::OPEN_ORDERS, "open_orders")?,
            market: r.pubkey_at(offset::MARKET, "market")?,
        };
        if info.swap_fee_denominator == 0 {
            return Err(r.invalid("fees.swap_fee_denominator", 0, "is zero"));
        }
        if info.swap_fee_numerator >= info.swap_fee_denominator {
            return Err(r.invalid(
                "fees.swap_fee_numerator",
                info.swap_fee_numerator.into(),
                "is not below swap_fee_denominator",
            ));
        }
        for (field, value) in [
            ("coin_decimals", info.coin_decimals),
            ("pc_decimals", info.pc_decimals),
        ] {
            if value > u8::MAX as u64 {
                return Err(r.invalid(field, value.into(), "exceeds a mint's u8 decimals"));
            }
        }
        if info.coin_vault == info.pc_vault {
            return Err(r.invalid("pc_vault", 0, "equals coin_vault"));
        }
        Ok(info)
    }

    /// Writes the fields the engine reads into a zeroed 752-byte image (simulator, tests).
    pub fn encode(&self) -> Vec<u8> {
        let mut d = vec![0u8; AMM_INFO_LEN];
        let mut put = |at: usize, bytes: &[u8]| d[at..at + bytes.len()].copy_from_slice(bytes);
        put(offset::STATUS, &self.status.to_le_bytes());
        put(offset::COIN_DECIMALS, &self.coin_decimals.to_le_bytes());
        put(offset::PC_DECIMALS, &self.pc_decimals.to_le_bytes());
        put(
            offset::TRADE_FEE_NUMERATOR,
            &self.trade_fee_numerator.to_le_bytes(),
        );
        put(
            offset::TRADE_FEE_DENOMINATOR,
            &self.trade_fee_denominator.to_le_bytes(),
        );
        put(
            offset::SWAP_FEE_NUMERATOR,
            &self.swap_fee_numerator.to_le_bytes(),
        );
        put(
            offset::SWAP_FEE_DENOMINATOR,
            &self.swap_fee_denominator.to_le_bytes(),
        );
        put(
            offset::NEED_TAKE_PNL_COIN,
            &self.need_take_pnl_coin.to_le_bytes(),
        );
        put(
            offset::NEED_TAKE_PNL_PC,
            &self.need_take_pnl_pc.to_le_bytes(),
        );
        put(offset::POOL_OPEN_TIME, &self.pool_open_time.to_le_bytes());
        put(
            offset::ORDERBOOK_TO_INIT_TIME,
            &self.orderbook_to_init_time.to_le_bytes(),
        );
        put(offset::COIN_VAULT, &self.coin_vault.0);
        put(offset::PC_VAULT, &self.pc_vault.0);
        put(offset::COIN_VAULT_MINT, &self.coin_vault_mint.0);
        put(offset::PC_VAULT_MINT, &self.pc_vault_mint.0);
        put(offset::LP_MINT, &self.lp_mint.0);
        put(offset::OPEN_ORDERS, &self.open_orders.0);
        put(offset::MARKET, &self.market.0);
        d
    }
}

/// A Raydium v4 pool: `AmmInfo` plus the balances of its coin and pc vaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaydiumV4Pool {
    key: Pubkey,
    info: AmmInfo,
    /// The coin and pc vaults as last received.
    vaults: [Option<Vault>; 2],
    /// Whether the coin and pc mints, when received (the quote CLI), belong to Token-2022.
    mint_is_token_2022: [bool; 2],
}

fn rejected(error: ProgramError, check: Check) -> QuoteError {
    QuoteError::Rejected { error, check }
}

impl RaydiumV4Pool {
    /// A pool from its `AmmInfo` account; the vaults arrive through [`Amm::update`].
    pub fn from_account(account: AccountData<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            key: *account.pubkey,
            info: AmmInfo::decode(account.pubkey, account.owner, account.data)?,
            vaults: [None, None],
            mint_is_token_2022: [false, false],
        })
    }

    /// The decoded pool account.
    pub fn info(&self) -> &AmmInfo {
        &self.info
    }

    /// Coin and pc reserves net of pnl owed, as `calc_total_without_take_pnl_no_orderbook`
    /// computes them (math.rs L323-335: `checked_sub(..).ok_or(CheckedSubOverflow)`, pc first).
    pub fn reserves(&self) -> Result<(u64, u64), QuoteError> {
        let [coin, pc] = &self.vaults;
        let coin = coin.ok_or_else(|| QuoteError::MissingAccount {
            pool: self.key,
            missing: "coin vault",
        })?;
        let pc = pc.ok_or_else(|| QuoteError::MissingAccount {
            pool: self.key,
            missing: "pc vault",
        })?;
        let net = |vault: u64, owed: u64, side| {
            vault.checked_sub(owed).ok_or_else(|| {
                rejected(
                    ProgramError::AmmCheckedSubOverflow,
                    Check::OwedExceedsVault { side, vault, owed },
                )
            })
        };
        let pc = net(pc.amount, self.info.need_take_pnl_pc, "pc")?;
        let coin = net(coin.amount, self.info.need_take_pnl_coin, "coin")?;
        Ok((coin, pc))
    }

    /// Whether a vault or mint belongs to Token-2022 (the flags alone: the hot path's check).
    fn touches_token_2022(&self) -> bool {
        self.mint_is_token_2022[0]
            || self.mint_is_token_2022[1]
            || self.vaults.iter().flatten().any(|v| v.is_token_2022)
    }

    /// A vault or mint that belongs to Token-2022, which the program refuses.
    fn token_2022_account(&self) -> Option<Pubkey> {
        let i = &self.info;
        [(i.coin_vault, 0), (i.pc_vault, 1)]
            .into_iter()
            .find(|(_, side)| self.vaults[*side].is_some_and(|v| v.is_token_2022))
            .or_else(|| {
                [(i.coin_vault_mint, 0), (i.pc_vault_mint, 1)]
                    .into_iter()
                    .find(|(_, side)| self.mint_is_token_2022[*side])
            })
            .map(|(key, _)| key)
    }

    /// The status gates the program applies on loading the pool (processor.rs L1789-1791),
    /// before it looks at the token accounts.
    fn check_loaded_status(&self) -> Result<(), QuoteError> {
        let status = self.info.status;
        let error = match status {
            // `load_mut_checked` (state.rs L681-693) refuses an uninitialized pool; L1790:
            // `if AmmStatus::from_u64(amm.status).orderbook_permission()` → InvalidStatus.
            STATUS_UNINITIALIZED | STATUS_INITIALIZED | STATUS_ORDER_BOOK_ONLY => {
                ProgramError::AmmInvalidStatus
            }
            // `AmmStatus::from_u64` (state.rs L247): `_ => unreachable!()`, a panic.
            s if s > STATUS_WAITING_TRADE => ProgramError::AmmPanic,
            _ => return Ok(()),
        };
        Err(rejected(error, Check::Status { status }))
    }

    /// The swap permission and open time (processor.rs L1849-1868), after the token accounts.
    fn check_swap_permission(&self, now: i64) -> Result<(), QuoteError> {
        match self.info.status {
            STATUS_SWAP_ONLY => Ok(()),
            // L1860-1863: `(clock.unix_timestamp as u64) < pool_open_time` → InvalidStatus.
            STATUS_WAITING_TRADE if (now as u64) < self.info.pool_open_time => Err(rejected(
                ProgramError::AmmInvalidStatus,
                Check::NotOpenYet {
                    open_time: self.info.pool_open_time,
                    now,
                },
            )),
            STATUS_WAITING_TRADE => Ok(()),
            // Disabled, WithdrawOnly, LiquidityOnly: L1849 `!swap_permission()` → InvalidStatus.
            status => Err(rejected(
                ProgramError::AmmInvalidStatus,
                Check::Status { status },
            )),
        }
    }
}

/// `ceil(a / b)` of the program's `CheckedCeilDiv` for U128 (math.rs); `None` when `b` is 0.
fn ceil_div(a: u128, b: u128) -> Option<u128> {
    (b != 0).then(|| a.div_ceil(b))
}

/// The program's swap arithmetic on net reserves (processor.rs `process_swap_base_in` L1900-1932,
/// `process_swap_base_out` L2144-2189; math.rs `swap_token_amount_base_in` /
/// `swap_token_amount_base_out`), with every failure the instruction raises.
pub fn swap(
    amount: u64,
    mode: SwapMode,
    reserve_in: u64,
    reserve_out: u64,
    fee_numerator: u64,
    fee_denominator: u64,
) -> Result<Quote, QuoteError> {
    let panic = |check| rejected(ProgramError::AmmPanic, check);
    let invalid_input = |check| rejected(ProgramError::AmmInvalidInput, check);
    let (r_in, r_out) = (u128::from(reserve_in), u128::from(reserve_out));
    let (num, den) = (u128::from(fee_numerator), u128::from(fee_denominator));
    match mode {
        SwapMode::ExactIn => {
            // L1900-1905: `swap_fee = ceil(amount_in·num / den)`, `.unwrap()`ped.
            let fee = ceil_div(u128::from(amount) * num, den).ok_or_else(|| {
                panic(Check::Overflow {
                    stage: "swap fee (denominator 0)",
                })
            })?;
            let net = u128::from(amount).checked_sub(fee).ok_or_else(|| {
                panic(Check::Overflow {
                    stage: "input less swap fee",
                })
            })?;
            // math.rs L388-392: `r_out·net / (r_in + net)`, `checked_div(..).unwrap()`.
            let denominator = r_in + net;
            if denominator == 0 {
                return Err(panic(Check::EmptyReserve { side: "input" }));
            }
            let out = (r_out * net / denominator) as u64;
            // L1926-1927: `swap_amount_out == 0 || swap.amount_in == 0` → InvalidInput.
            if amount == 0 {
                return Err(invalid_input(Check::ZeroAmount));
            }
            if out == 0 {
                return Err(invalid_input(Check::ZeroOutput));
            }
            // L1932 / L1972: `swap_amount_out >= total_{pc,coin}_without_take_pnl` →
            // InsufficientFunds.
            if out >= reserve_out {
                return Err(rejected(
                    ProgramError::AmmInsufficientFunds,
                    Check::OutputReachesReserve {
                        amount_out: out,
                        reserve: reserve_out,
                    },
                ));
            }
            Ok(Quote {
                amount_in: amount,
                amount_out: out,
                fee_amount: fee as u64,
                ..Quote::default()
            })
        }
        SwapMode::ExactOut => {
            // math.rs L426-430: `r_out.checked_sub(out).unwrap()` and a ceiling division by
            // `r_out − out` that fails at 0: an output at or past the reserve panics (so the
            // InsufficientFunds check at L2189 is never reached).
            if amount >= reserve_out {
                return Err(panic(Check::OutputReachesReserve {
                    amount_out: amount,
                    reserve: reserve_out,
                }));
            }
            let before = ceil_div(r_in * u128::from(amount), r_out - u128::from(amount))
                .ok_or_else(|| panic(Check::EmptyReserve { side: "output" }))?;
            // L2152-2163: `before·den` (checked_mul) ceiling-divided by `den − num`, then
            // `.as_u64()`: each overflow panics.
            let after = before
                .checked_mul(den)
                .and_then(|x| ceil_div(x, den.checked_sub(num)?))
                .and_then(|x| u64::try_from(x).ok())
                .ok_or_else(|| {
                    panic(Check::Overflow {
                        stage: "input with swap fee for exact out",
                    })
                })?;
            // L2183-2184: `swap_in_after_add_fee == 0 || swap.amount_out == 0` → InvalidInput.
            if amount == 0 {
                return Err(invalid_input(Check::ZeroAmount));
            }
            if after == 0 {
                return Err(invalid_input(Check::ZeroInput));
            }
            // after ≥ before, so `before` fits u64 too.
            Ok(Quote {
                amount_in: after,
                amount_out: amount,
                fee_amount: after - before as u64,
                ..Quote::default()
            })
        }
    }
}

impl Amm for RaydiumV4Pool {
    fn dex(&self) -> DexKind {
        DexKind::RaydiumV4
    }

    fn key(&self) -> Pubkey {
        self.key
    }

    fn mints(&self) -> [Pubkey; 2] {
        [self.info.coin_vault_mint, self.info.pc_vault_mint]
    }

    fn accounts(&self) -> Vec<Pubkey> {
        vec![self.key, self.info.coin_vault, self.info.pc_vault]
    }

    fn references(&self, key: &Pubkey) -> bool {
        let i = &self.info;
        [
            self.key,
            i.coin_vault,
            i.pc_vault,
            i.coin_vault_mint,
            i.pc_vault_mint,
            i.lp_mint,
            i.open_orders,
            i.market,
        ]
        .contains(key)
    }

    fn update(&mut self, account: AccountData<'_>) -> Result<Updated, DecodeError> {
        let key = account.pubkey;
        if *key == self.key {
            let info = AmmInfo::decode(key, account.owner, account.data)?;
            let old = &self.info;
            let was = [
                (old.coin_vault, old.coin_vault_mint),
                (old.pc_vault, old.pc_vault_mint),
            ];
            let now = [
                (info.coin_vault, info.coin_vault_mint),
                (info.pc_vault, info.pc_vault_mint),
            ];
            let mut outcome = Updated::State;
            for side in 0..2 {
                // A vault read against another address or mint is no longer this side's.
                if now[side] != was[side] {
                    self.vaults[side] = None;
                    outcome = Updated::Accounts;
                }
                if now[side].1 != was[side].1 {
                    self.mint_is_token_2022[side] = false;
                }
            }
            self.info = info;
            return Ok(outcome);
        }
        let mints = [self.info.coin_vault_mint, self.info.pc_vault_mint];
        if let Some(side) = mints.iter().position(|m| m == key) {
            // Not read by quotes; a Token-2022 mint makes the pool one the program refuses.
            let is_2022 = Mint::decode(key, account.owner, account.data)?.is_token_2022;
            let before = std::mem::replace(&mut self.mint_is_token_2022[side], is_2022);
            return Ok(if before == is_2022 {
                Updated::Unchanged
            } else {
                Updated::State
            });
        }
        let side = if *key == self.info.coin_vault {
            0
        } else if *key == self.info.pc_vault {
            1
        } else {
            return Ok(Updated::Ignored);
        };
        let vault = TokenAccount::decode(key, account.owner, account.data)?;
        if vault.mint != mints[side] {
            return Err(DecodeError::Mismatch {
                kind: AccountKind::TokenAccount,
                pubkey: *key,
                field: "mint",
                expected: mints[side],
                found: vault.mint,
            });
        }
        self.vaults[side] = Some(Vault::from(&vault));
        Ok(Updated::State)
    }

    fn curve(&self, side: Side, _epoch: u64) -> Option<crate::curve::Curve> {
        if !matches!(self.info.status, STATUS_SWAP_ONLY | STATUS_WAITING_TRADE)
            || self.touches_token_2022()
            || self.vaults.iter().flatten().any(|v| v.is_frozen)
        {
            return None;
        }
        let (coin, pc) = self.reserves().ok()?;
        let (r_in, r_out) = match side {
            Side::AToB => (coin, pc),
            Side::BToA => (pc, coin),
        };
        (r_in > 0 && r_out > 0).then(|| crate::curve::Curve {
            reserve_in: r_in as f64,
            reserve_out: r_out as f64,
            gamma: 1.0
                - self.info.swap_fee_numerator as f64 / self.info.swap_fee_denominator as f64,
            exact_up_to: f64::INFINITY,
        })
    }

    fn quote(&self, request: &QuoteRequest) -> Result<Quote, QuoteError> {
        // In the program's order: the status on load, the token program and vaults (L1807-1812,
        // L1841-1847: not SPL Token's → InvalidSplTokenProgram), the swap permission, then the
        // reserves (L1870) and the arithmetic.
        self.check_loaded_status()?;
        if self.touches_token_2022()
            && let Some(account) = self.token_2022_account()
        {
            return Err(rejected(
                ProgramError::AmmInvalidSplTokenProgram,
                Check::Token2022 { account },
            ));
        }
        self.check_swap_permission(request.unix_timestamp)?;
        let (coin, pc) = self.reserves()?;
        let (reserve_in, reserve_out) = match request.side {
            Side::AToB => (coin, pc),
            Side::BToA => (pc, coin),
        };
        let quote = swap(
            request.amount,
            request.mode,
            reserve_in,
            reserve_out,
            self.info.swap_fee_numerator,
            self.info.swap_fee_denominator,
        )?;
        // The transfers in and out of the vaults (after every check above) fail on a frozen one.
        let i = &self.info;
        for (vault, key) in self.vaults.iter().zip([&i.coin_vault, &i.pc_vault]) {
            if vault.is_some_and(|v| v.is_frozen) {
                let key = *key;
                return Err(rejected(
                    ProgramError::TokenAccountFrozen,
                    Check::Frozen { account: key },
                ));
            }
        }
        Ok(quote)
    }
}
