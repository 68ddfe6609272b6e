//! Swap instructions in each program's documented layout (accounts in order with their signer
//! and writable flags, and the instruction data bytes), the compute-budget instructions and a
//! system transfer (a Jito tip). The engine's own types: turning these into a signed
//! transaction is the executor's job, at the I/O edge.
//!
//! - Raydium AMM v4 `SwapBaseInV2` (tag 16; the order-book-free swap, 8 accounts):
//!   token program, amm (w), amm authority (PDA `"amm authority"`), coin vault (w), pc vault (w),
//!   user source (w), user destination (w), user owner (signer); data
//!   `[16, amount_in u64, minimum_amount_out u64]`.
//! - Raydium CP-Swap `swap_base_input` (Anchor): payer (signer), authority (PDA
//!   `"vault_and_lp_mint_auth_seed"`), amm config, pool state (w), input token account (w),
//!   output token account (w), input vault (w), output vault (w), input token program, output
//!   token program, input mint, output mint, observation state (w, PDA `"observation"` + pool);
//!   data `sha256("global:swap_base_input")[..8] ++ amount_in u64 ++ minimum_amount_out u64`.
//! - Orca Whirlpool `swap` (Anchor): token program, token authority (signer), whirlpool (w),
//!   owner account A (w), vault A (w), owner account B (w), vault B (w), three tick arrays in
//!   the swap's direction (w), oracle (w, PDA `"oracle"` + whirlpool); data
//!   `sha256("global:swap")[..8] ++ amount u64 ++ other_amount_threshold u64 ++
//!   sqrt_price_limit u128 ++ amount_specified_is_input bool ++ a_to_b bool`.
//!
//! The user's token accounts are their associated token accounts.

use sha2::{Digest, Sha256};

use crate::market::Pool;
use crate::pda::{find_program_address, whirlpool_tick_array};
use crate::pubkey::{Pubkey, programs};
use crate::quote::{Amm, Side};
use crate::whirlpool::math::{MAX_SQRT_PRICE, MIN_SQRT_PRICE, TICK_ARRAY_SIZE};

/// The associated token account program.
pub const ASSOCIATED_TOKEN_PROGRAM: Pubkey =
    Pubkey::from_str_const("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL");
/// The compute budget program.
pub const COMPUTE_BUDGET_PROGRAM: Pubkey =
    Pubkey::from_str_const("ComputeBudget111111111111111111111111111111");
/// The system program.
pub const SYSTEM_PROGRAM: Pubkey = Pubkey::from_str_const("11111111111111111111111111111111");

/// An account an instruction reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountMeta {
    /// Address.
    pub pubkey: Pubkey,
    /// Must sign the transaction.
    pub is_signer: bool,
    /// Written by the instruction.
    pub is_writable: bool,
}

impl AccountMeta {
    fn writable(pubkey: Pubkey) -> Self {
        Self {
            pubkey,
            is_signer: false,
            is_writable: true,
        }
    }

    fn readonly(pubkey: Pubkey) -> Self {
        Self {
            pubkey,
            is_signer: false,
            is_writable: false,
        }
    }

    fn signer(pubkey: Pubkey) -> Self {
        Self {
            pubkey,
            is_signer: true,
            is_writable: true,
        }
    }
}

/// One instruction: the program, its accounts in order, its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Program called.
    pub program_id: Pubkey,
    /// Accounts, in the program's order.
    pub accounts: Vec<AccountMeta>,
    /// Instruction data.
    pub data: Vec<u8>,
}

/// Why a swap instruction cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwapIxError {
    /// A derived address does not exist (no bump gives an off-curve point).
    #[error("no program address for {0}")]
    NoAddress(&'static str),
    /// The pool's tick arrays around its price are out of the tick range.
    #[error("whirlpool {0}: no tick array in the swap's direction")]
    NoTickArray(Pubkey),
    /// A Whirlpool with a Token-2022 mint needs `swap_v2`, which this module does not build.
    #[error("whirlpool {0}: a Token-2022 mint needs swap_v2, which is not built; not sent")]
    Token2022Whirlpool(Pubkey),
}

/// The first 8 bytes of `sha256("global:<name>")`: an Anchor instruction's discriminator.
pub fn anchor_discriminator(name: &str) -> [u8; 8] {
    let hash = Sha256::digest(format!("global:{name}").as_bytes());
    let mut d = [0u8; 8];
    d.copy_from_slice(&hash[..8]);
    d
}

fn pda(seeds: &[&[u8]], program: &Pubkey, what: &'static str) -> Result<Pubkey, SwapIxError> {
    find_program_address(seeds, program)
        .map(|(k, _)| k)
        .ok_or(SwapIxError::NoAddress(what))
}

/// The associated token account of `owner` for `mint` under `token_program`.
pub fn associated_token_address(
    owner: &Pubkey,
    mint: &Pubkey,
    token_program: &Pubkey,
) -> Result<Pubkey, SwapIxError> {
    pda(
        &[&owner.0, &token_program.0, &mint.0],
        &ASSOCIATED_TOKEN_PROGRAM,
        "an associated token account",
    )
}

/// Raydium AMM v4's authority over every pool's vaults.
pub fn raydium_v4_authority() -> Result<Pubkey, SwapIxError> {
    pda(
        &[b"amm authority"],
        &programs::RAYDIUM_AMM_V4,
        "the Raydium AMM v4 authority",
    )
}

/// Raydium CP-Swap's vault and LP mint authority.
pub fn raydium_cp_authority() -> Result<Pubkey, SwapIxError> {
    pda(
        &[b"vault_and_lp_mint_auth_seed"],
        &programs::RAYDIUM_CP_SWAP,
        "the Raydium CP-Swap authority",
    )
}

/// Exact-in swap of `amount_in` through `pool` in direction `side`, paying out at least
/// `min_out`, from and to `owner`'s associated token accounts.
pub fn swap_exact_in(
    pool: &Pool,
    side: Side,
    owner: &Pubkey,
    amount_in: u64,
    min_out: u64,
) -> Result<Instruction, SwapIxError> {
    let a_to_b = side == Side::AToB;
    match pool {
        Pool::RaydiumV4(p) => {
            let info = p.info();
            let (src_mint, dst_mint) = if a_to_b {
                (info.coin_vault_mint, info.pc_vault_mint)
            } else {
                (info.pc_vault_mint, info.coin_vault_mint)
            };
            let token = programs::SPL_TOKEN;
            let mut data = Vec::with_capacity(17);
            data.push(16);
            data.extend_from_slice(&amount_in.to_le_bytes());
            data.extend_from_slice(&min_out.to_le_bytes());
            Ok(Instruction {
                program_id: programs::RAYDIUM_AMM_V4,
                accounts: vec![
                    AccountMeta::readonly(token),
                    AccountMeta::writable(p.key()),
                    AccountMeta::readonly(raydium_v4_authority()?),
                    AccountMeta::writable(info.coin_vault),
                    AccountMeta::writable(info.pc_vault),
                    AccountMeta::writable(associated_token_address(owner, &src_mint, &token)?),
                    AccountMeta::writable(associated_token_address(owner, &dst_mint, &token)?),
                    AccountMeta::signer(*owner),
                ],
                data,
            })
        }
        Pool::RaydiumCp(p) => {
            let s = p.state();
            let key = p.key();
            let t0 = (s.token_0_mint, s.token_0_vault, s.token_0_program);
            let t1 = (s.token_1_mint, s.token_1_vault, s.token_1_program);
            let (input, output) = if a_to_b { (t0, t1) } else { (t1, t0) };
            let mut data = Vec::with_capacity(24);
            data.extend_from_slice(&anchor_discriminator("swap_base_input"));
            data.extend_from_slice(&amount_in.to_le_bytes());
            data.extend_from_slice(&min_out.to_le_bytes());
            Ok(Instruction {
                program_id: programs::RAYDIUM_CP_SWAP,
                accounts: vec![
                    AccountMeta::signer(*owner),
                    AccountMeta::readonly(raydium_cp_authority()?),
                    AccountMeta::readonly(s.amm_config),
                    AccountMeta::writable(key),
                    AccountMeta::writable(associated_token_address(owner, &input.0, &input.2)?),
                    AccountMeta::writable(associated_token_address(owner, &output.0, &output.2)?),
                    AccountMeta::writable(input.1),
                    AccountMeta::writable(output.1),
                    AccountMeta::readonly(input.2),
                    AccountMeta::readonly(output.2),
                    AccountMeta::readonly(input.0),
                    AccountMeta::readonly(output.0),
                    AccountMeta::writable(pda(
                        &[b"observation", &key.0],
                        &programs::RAYDIUM_CP_SWAP,
                        "the CP-Swap observation state",
                    )?),
                ],
                data,
            })
        }
        Pool::Whirlpool(p) => {
            let s = p.state();
            let key = p.key();
            // The v1 `swap` takes the SPL Token program only.
            if p.known_mints()
                .iter()
                .any(|m| m.is_none_or(|m| m.is_token_2022))
            {
                return Err(SwapIxError::Token2022Whirlpool(key));
            }
            let token = programs::SPL_TOKEN;
            let arrays =
                whirlpool_swap_tick_arrays(&key, s.tick_current_index, s.tick_spacing, a_to_b)?;
            let limit = if a_to_b {
                MIN_SQRT_PRICE
            } else {
                MAX_SQRT_PRICE
            };
            let mut data = Vec::with_capacity(42);
            data.extend_from_slice(&anchor_discriminator("swap"));
            data.extend_from_slice(&amount_in.to_le_bytes());
            data.extend_from_slice(&min_out.to_le_bytes());
            data.extend_from_slice(&limit.to_le_bytes());
            data.push(1); // amount_specified_is_input
            data.push(u8::from(a_to_b));
            Ok(Instruction {
                program_id: programs::ORCA_WHIRLPOOL,
                accounts: vec![
                    AccountMeta::readonly(token),
                    AccountMeta::signer(*owner),
                    AccountMeta::writable(key),
                    AccountMeta::writable(associated_token_address(
                        owner,
                        &s.token_mint_a,
                        &token,
                    )?),
                    AccountMeta::writable(s.token_vault_a),
                    AccountMeta::writable(associated_token_address(
                        owner,
                        &s.token_mint_b,
                        &token,
                    )?),
                    AccountMeta::writable(s.token_vault_b),
                    AccountMeta::writable(arrays[0]),
                    AccountMeta::writable(arrays[1]),
                    AccountMeta::writable(arrays[2]),
                    AccountMeta::writable(pda(
                        &[b"oracle", &key.0],
                        &programs::ORCA_WHIRLPOOL,
                        "the Whirlpool oracle",
                    )?),
                ],
                data,
            })
        }
    }
}

/// The three tick arrays a Whirlpool swap walks from the current tick: the one holding it, then
/// the next two in the swap's direction (a B→A swap starts from the array holding the tick one
/// spacing up, as the program does); past the tick range the last valid array repeats.
pub fn whirlpool_swap_tick_arrays(
    whirlpool: &Pubkey,
    tick_current_index: i32,
    tick_spacing: u16,
    a_to_b: bool,
) -> Result<[Pubkey; 3], SwapIxError> {
    use crate::whirlpool::math::{MAX_TICK_INDEX, MIN_TICK_INDEX};
    let per = TICK_ARRAY_SIZE * i32::from(tick_spacing.max(1));
    let from = if a_to_b {
        tick_current_index
    } else {
        tick_current_index.saturating_add(i32::from(tick_spacing))
    };
    let first = from.div_euclid(per) * per;
    let step = if a_to_b { -per } else { per };
    let mut keys = Vec::with_capacity(3);
    for k in 0..3 {
        let start = first + k * step;
        if start + per > MIN_TICK_INDEX
            && start <= MAX_TICK_INDEX
            && let Some(key) = whirlpool_tick_array(whirlpool, start)
        {
            keys.push(key);
        } else if let Some(&last) = keys.last() {
            keys.push(last);
        }
    }
    match keys.as_slice() {
        [a, b, c] => Ok([*a, *b, *c]),
        _ => Err(SwapIxError::NoTickArray(*whirlpool)),
    }
}

/// `SetComputeUnitLimit(units)`: tag 2, u32.
pub fn compute_unit_limit(units: u32) -> Instruction {
    let mut data = vec![2];
    data.extend_from_slice(&units.to_le_bytes());
    Instruction {
        program_id: COMPUTE_BUDGET_PROGRAM,
        accounts: Vec::new(),
        data,
    }
}

/// `SetComputeUnitPrice(micro_lamports)`: tag 3, u64 (the priority fee per compute unit).
pub fn compute_unit_price(micro_lamports: u64) -> Instruction {
    let mut data = vec![3];
    data.extend_from_slice(&micro_lamports.to_le_bytes());
    Instruction {
        program_id: COMPUTE_BUDGET_PROGRAM,
        accounts: Vec::new(),
        data,
    }
}

/// The system program's `Transfer` (tag 2 as u32, lamports u64): a Jito tip.
pub fn system_transfer(from: &Pubkey, to: &Pubkey, lamports: u64) -> Instruction {
    let mut data = 2u32.to_le_bytes().to_vec();
    data.extend_from_slice(&lamports.to_le_bytes());
    Instruction {
        program_id: SYSTEM_PROGRAM,
        accounts: vec![AccountMeta::signer(*from), AccountMeta::writable(*to)],
        data,
    }
}

/// Solend (Save): flash loans are instructions 19 and 20 of this program.
pub const SOLEND_PROGRAM: Pubkey =
    Pubkey::from_str_const("So1endDq2YkqhipRh3WViPa8hdiSpxWy6z3Z6tMCpAo");
/// Kamino Lending (Anchor).
pub const KAMINO_LENDING_PROGRAM: Pubkey =
    Pubkey::from_str_const("KLend2g3cP87fffoy8q1mQqGKjrxjC8boSyAYavgmjD");
/// The instructions sysvar (flash loans find their repay through it).
pub const SYSVAR_INSTRUCTIONS: Pubkey =
    Pubkey::from_str_const("Sysvar1nstructions1111111111111111111111111");

/// A lending program whose flash loan can wrap a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashProvider {
    /// Solend / Save: `FlashBorrowReserveLiquidity` (tag 19: `[19, amount u64]`, accounts:
    /// reserve supply (w), user token account (w), reserve (w), lending market, market
    /// authority (PDA `[lending_market]`), instructions sysvar, token program) and
    /// `FlashRepayReserveLiquidity` (tag 20: `[20, amount u64, borrow index u8]`, accounts: user
    /// token account (w), reserve supply (w), fee receiver (w), host fee receiver (w), reserve
    /// (w), lending market, user (signer), instructions sysvar, token program).
    Solend,
    /// Kamino Lending (Anchor): `flash_borrow_reserve_liquidity(amount u64)` and
    /// `flash_repay_reserve_liquidity(amount u64, borrow index u8)`, accounts: user (signer),
    /// market authority (PDA `["lma", lending_market]`), lending market, reserve (w), liquidity
    /// mint, reserve supply (w), user token account (w), fee receiver (w), referrer token state
    /// and referrer account (none: the program id), instructions sysvar, token program.
    Kamino,
}

/// The reserve a flash loan borrows from (the operator names its accounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashReserve {
    /// Lending program.
    pub provider: FlashProvider,
    /// The lending market.
    pub lending_market: Pubkey,
    /// The reserve.
    pub reserve: Pubkey,
    /// The borrowed mint.
    pub mint: Pubkey,
    /// The reserve's liquidity supply (token account).
    pub liquidity_supply: Pubkey,
    /// The reserve's fee receiver (token account).
    pub fee_receiver: Pubkey,
    /// Token program of the mint.
    pub token_program: Pubkey,
}

impl FlashReserve {
    fn program(&self) -> Pubkey {
        match self.provider {
            FlashProvider::Solend => SOLEND_PROGRAM,
            FlashProvider::Kamino => KAMINO_LENDING_PROGRAM,
        }
    }

    fn market_authority(&self) -> Result<Pubkey, SwapIxError> {
        match self.provider {
            FlashProvider::Solend => pda(
                &[&self.lending_market.0],
                &SOLEND_PROGRAM,
                "the Solend lending market authority",
            ),
            FlashProvider::Kamino => pda(
                &[b"lma", &self.lending_market.0],
                &KAMINO_LENDING_PROGRAM,
                "the Kamino lending market authority",
            ),
        }
    }

    /// Borrows `amount` into `user_token` (owned by `user`).
    pub fn borrow(
        &self,
        user: &Pubkey,
        user_token: &Pubkey,
        amount: u64,
    ) -> Result<Instruction, SwapIxError> {
        let authority = self.market_authority()?;
        Ok(match self.provider {
            FlashProvider::Solend => {
                let mut data = vec![19];
                data.extend_from_slice(&amount.to_le_bytes());
                Instruction {
                    program_id: SOLEND_PROGRAM,
                    accounts: vec![
                        AccountMeta::writable(self.liquidity_supply),
                        AccountMeta::writable(*user_token),
                        AccountMeta::writable(self.reserve),
                        AccountMeta::readonly(self.lending_market),
                        AccountMeta::readonly(authority),
                        AccountMeta::readonly(SYSVAR_INSTRUCTIONS),
                        AccountMeta::readonly(self.token_program),
                    ],
                    data,
                }
            }
            FlashProvider::Kamino => {
                let mut data = anchor_discriminator("flash_borrow_reserve_liquidity").to_vec();
                data.extend_from_slice(&amount.to_le_bytes());
                Instruction {
                    program_id: KAMINO_LENDING_PROGRAM,
                    accounts: self.kamino_accounts(user, authority, *user_token),
                    data,
                }
            }
        })
    }

    /// Repays `amount` (the program adds its fee) from `user_token`; `borrow_index` is the
    /// borrow's position among the transaction's instructions.
    pub fn repay(
        &self,
        user: &Pubkey,
        user_token: &Pubkey,
        amount: u64,
        borrow_index: u8,
    ) -> Result<Instruction, SwapIxError> {
        let authority = self.market_authority()?;
        Ok(match self.provider {
            FlashProvider::Solend => {
                let mut data = vec![20];
                data.extend_from_slice(&amount.to_le_bytes());
                data.push(borrow_index);
                Instruction {
                    program_id: SOLEND_PROGRAM,
                    accounts: vec![
                        AccountMeta::writable(*user_token),
                        AccountMeta::writable(self.liquidity_supply),
                        AccountMeta::writable(self.fee_receiver),
                        // No host: the fee receiver takes the host's share too.
                        AccountMeta::writable(self.fee_receiver),
                        AccountMeta::writable(self.reserve),
                        AccountMeta::readonly(self.lending_market),
                        AccountMeta::signer(*user),
                        AccountMeta::readonly(SYSVAR_INSTRUCTIONS),
                        AccountMeta::readonly(self.token_program),
                    ],
                    data,
                }
            }
            FlashProvider::Kamino => {
                let mut data = anchor_discriminator("flash_repay_reserve_liquidity").to_vec();
                data.extend_from_slice(&amount.to_le_bytes());
                data.push(borrow_index);
                Instruction {
                    program_id: KAMINO_LENDING_PROGRAM,
                    accounts: self.kamino_accounts(user, authority, *user_token),
                    data,
                }
            }
        })
    }

    fn kamino_accounts(
        &self,
        user: &Pubkey,
        authority: Pubkey,
        user_token: Pubkey,
    ) -> Vec<AccountMeta> {
        let program = self.program();
        vec![
            AccountMeta::signer(*user),
            AccountMeta::readonly(authority),
            AccountMeta::readonly(self.lending_market),
            AccountMeta::writable(self.reserve),
            AccountMeta::readonly(self.mint),
            AccountMeta::writable(self.liquidity_supply),
            AccountMeta::writable(user_token),
            AccountMeta::writable(self.fee_receiver),
            AccountMeta::readonly(program),
            AccountMeta::readonly(program),
            AccountMeta::readonly(SYSVAR_INSTRUCTIONS),
            AccountMeta::readonly(self.token_program),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_program_addresses_derive() {
        assert_eq!(
            raydium_v4_authority().map(|k| k.to_string()),
            Ok("5Q544fKrFoe6tsEbD7S8EmxGTJYAKtTVhAW5Q5pge4j1".to_string())
        );
        assert_eq!(
            raydium_cp_authority().map(|k| k.to_string()),
            Ok("GpMZbSM2GgvTKHJirzeGfMFoaZ8UR2X7F4v8vHTvxFbL".to_string())
        );
    }

    #[test]
    fn the_kamino_market_authority_derives() {
        let r = FlashReserve {
            provider: FlashProvider::Kamino,
            lending_market: Pubkey::from_str_const("H6rHXmXoCQvq8Ue81MqNh7ow5ysPa1dSozwW3PU1dDH6"),
            reserve: Pubkey([1; 32]),
            mint: Pubkey([2; 32]),
            liquidity_supply: Pubkey([3; 32]),
            fee_receiver: Pubkey([4; 32]),
            token_program: programs::SPL_TOKEN,
        };
        assert_eq!(
            r.market_authority().map(|k| k.to_string()),
            Ok("Dx8iy2o46sK1DzWbEcznqSKeLbLVeu7otkibA3WohGAj".to_string())
        );
    }

    #[test]
    fn kamino_flash_loan_discriminators_are_the_published_bytes() {
        assert_eq!(
            anchor_discriminator("flash_borrow_reserve_liquidity"),
            [135, 231, 52, 167, 7, 52, 212, 193]
        );
        assert_eq!(
            anchor_discriminator("flash_repay_reserve_liquidity"),
            [185, 117, 0, 203, 96, 245, 180, 186]
        );
    }

    #[test]
    fn anchor_discriminators_are_the_programs_published_bytes() {
        assert_eq!(
            anchor_discriminator("swap"),
            [248, 198, 158, 145, 225, 117, 135, 200]
        );
        assert_eq!(
            anchor_discriminator("swap_base_input"),
            [143, 190, 90, 218, 196, 30, 51, 222]
        );
    }

    #[test]
    fn compute_budget_and_transfer_data_are_byte_exact() {
        assert_eq!(compute_unit_limit(200_000).data, [2, 0x40, 0x0d, 0x03, 0]);
        assert_eq!(
            compute_unit_price(10_000).data,
            [3, 0x10, 0x27, 0, 0, 0, 0, 0, 0]
        );
        let t = system_transfer(&Pubkey([1; 32]), &Pubkey([2; 32]), 1_000);
        assert_eq!(t.data, [2, 0, 0, 0, 0xe8, 0x03, 0, 0, 0, 0, 0, 0]);
        assert!(t.accounts[0].is_signer && t.accounts[1].is_writable && !t.accounts[1].is_signer);
    }

    #[test]
    fn whirlpool_tick_arrays_follow_the_swap_direction() {
        let pool = Pubkey([7; 32]);
        let per = 88 * 64;
        let down = whirlpool_swap_tick_arrays(&pool, 100, 64, true).unwrap();
        let want = |s: i32| whirlpool_tick_array(&pool, s).unwrap();
        assert_eq!(down, [want(0), want(-per), want(-2 * per)]);
        let up = whirlpool_swap_tick_arrays(&pool, 100, 64, false).unwrap();
        assert_eq!(up, [want(0), want(per), want(2 * per)]);
        // One spacing below an array's start, a B→A swap starts in the next array up.
        let up = whirlpool_swap_tick_arrays(&pool, per - 1, 64, false).unwrap();
        assert_eq!(up[0], want(per));
        // At the top of the range the last valid array repeats.
        let top = whirlpool_swap_tick_arrays(&pool, 443_600, 64, false).unwrap();
        assert_eq!(top[1], top[0]);
        assert_eq!(top[2], top[0]);
    }
}
