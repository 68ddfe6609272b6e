//! Writes the account fixtures under `fixtures/` (one directory per pool) in the JSON shape of
//! `solana account PUBKEY --output json`. Pool states are synthetic but realistic; bytes follow
//! the programs' layouts exactly. Run: `cargo run --example write_fixtures`.

use std::fs;
use std::path::Path;

use base64::Engine as _;
use sniperforge_engine::Pubkey;
use sniperforge_engine::pda;
use sniperforge_engine::pubkey::programs;
use sniperforge_engine::raydium_cp::{AmmConfig, CreatorFeeOn, PoolState};
use sniperforge_engine::raydium_v4::AmmInfo;
use sniperforge_engine::token_account::TokenAccount;
use sniperforge_engine::whirlpool::math::{TICK_ARRAY_SIZE, sqrt_price_from_tick_index};
use sniperforge_engine::whirlpool::{TickArray, TickImage, Whirlpool};

const SOL: &str = "So11111111111111111111111111111111111111112";
const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

/// A stable, distinct address for fixture accounts without a real one.
fn addr(tag: u8) -> Pubkey {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = tag.wrapping_mul(31).wrapping_add(i as u8 * 7) ^ 0x5a;
    }
    Pubkey(bytes)
}

fn key(s: &str) -> Pubkey {
    s.parse().expect("fixture address literal")
}

fn write(dir: &Path, name: &str, pubkey: &Pubkey, owner: &Pubkey, data: &[u8]) {
    let json = serde_json::json!({
        "pubkey": pubkey.to_string(),
        "account": {
            "lamports": 2_039_280u64 + data.len() as u64 * 6_960,
            "data": [base64::engine::general_purpose::STANDARD.encode(data), "base64"],
            "owner": owner.to_string(),
            "executable": false,
            "rentEpoch": 18_446_744_073_709_551_615u64,
            "space": data.len(),
        }
    });
    let text = serde_json::to_string_pretty(&json).expect("json");
    fs::write(dir.join(format!("{name}.json")), text + "\n").expect("write fixture");
}

fn vault(dir: &Path, name: &str, key: &Pubkey, mint: Pubkey, authority: Pubkey, amount: u64) {
    let acc = TokenAccount {
        mint,
        owner: authority,
        amount,
        is_token_2022: false,
        is_frozen: false,
    };
    write(dir, name, key, &programs::SPL_TOKEN, &acc.encode());
}

fn raydium_v4(root: &Path) {
    let dir = root.join("raydium-v4-sol-usdc");
    fs::create_dir_all(&dir).expect("mkdir");
    let pool = key("58oQChx4yWmvKdwLLZzBi4ChoCc2fqCUWBkwMihLYQo2");
    let info = AmmInfo {
        status: 6,
        coin_decimals: 9,
        pc_decimals: 6,
        trade_fee_numerator: 25,
        trade_fee_denominator: 10_000,
        swap_fee_numerator: 25,
        swap_fee_denominator: 10_000,
        need_take_pnl_coin: 1_234_567_891,
        need_take_pnl_pc: 987_654_321,
        pool_open_time: 1_681_000_000,
        orderbook_to_init_time: 0,
        coin_vault: addr(1),
        pc_vault: addr(2),
        coin_vault_mint: key(SOL),
        pc_vault_mint: key(USDC),
        lp_mint: addr(3),
        open_orders: addr(4),
        market: addr(5),
    };
    write(
        &dir,
        "pool",
        &pool,
        &programs::RAYDIUM_AMM_V4,
        &info.encode(),
    );
    vault(
        &dir,
        "coin-vault",
        &info.coin_vault,
        info.coin_vault_mint,
        addr(6),
        85_013_402_117_335,
    );
    vault(
        &dir,
        "pc-vault",
        &info.pc_vault,
        info.pc_vault_mint,
        addr(6),
        12_752_011_093_114,
    );
}

fn raydium_cp(root: &Path) {
    let dir = root.join("raydium-cp-sol-usdc");
    fs::create_dir_all(&dir).expect("mkdir");
    let pool = addr(20);
    let state = PoolState {
        amm_config: addr(21),
        pool_creator: Pubkey([0; 32]),
        token_0_vault: addr(22),
        token_1_vault: addr(23),
        lp_mint: addr(24),
        token_0_mint: key(SOL),
        token_1_mint: key(USDC),
        token_0_program: programs::SPL_TOKEN,
        token_1_program: programs::SPL_TOKEN,
        observation_key: Pubkey([0; 32]),
        status: 0,
        mint_0_decimals: 9,
        mint_1_decimals: 6,
        protocol_fees_token_0: 41_200_000,
        protocol_fees_token_1: 6_150_000,
        fund_fees_token_0: 13_700_000,
        fund_fees_token_1: 2_050_000,
        open_time: 1_700_000_000,
        creator_fee_on: CreatorFeeOn::BothTokens,
        enable_creator_fee: false,
        creator_fees_token_0: 0,
        creator_fees_token_1: 0,
    };
    let config = AmmConfig {
        trade_fee_rate: 2_500,
        protocol_fee_rate: 120_000,
        fund_fee_rate: 40_000,
        creator_fee_rate: 0,
    };
    write(
        &dir,
        "pool",
        &pool,
        &programs::RAYDIUM_CP_SWAP,
        &state.encode(),
    );
    write(
        &dir,
        "amm-config",
        &state.amm_config,
        &programs::RAYDIUM_CP_SWAP,
        &config.encode(),
    );
    vault(
        &dir,
        "token-0-vault",
        &state.token_0_vault,
        state.token_0_mint,
        addr(25),
        3_402_551_000_000,
    );
    vault(
        &dir,
        "token-1-vault",
        &state.token_1_vault,
        state.token_1_mint,
        addr(25),
        510_120_447_000,
    );
}

fn whirlpool(root: &Path) {
    let dir = root.join("whirlpool-sol-usdc");
    fs::create_dir_all(&dir).expect("mkdir");
    let pool_key = key("Czfq3xZZDmsdGdUyrNLtRhGc47cXcZtLG4crryfu44zE");
    let spacing: i32 = 4;
    let per = TICK_ARRAY_SIZE * spacing;
    let tick: i32 = -18_970; // price ≈ 150 USDC per SOL in base units
    let sqrt_price = sqrt_price_from_tick_index(tick) + 1_234_567_890_123;
    let center = tick.div_euclid(per) * per;
    // Positions around the price: (lower, upper, liquidity).
    let positions: Vec<(i32, i32, u128)> = (0..40)
        .map(|i| {
            let width = 8 + (i % 7) * 24;
            let lower = (tick - 600 + i * 28).div_euclid(spacing) * spacing;
            (
                lower,
                lower + width * spacing,
                2_000_000_000 + (i as u128 * 7_919_000_000) % 90_000_000_000,
            )
        })
        .collect();
    let liquidity: u128 = positions
        .iter()
        .filter(|(lo, up, _)| *lo <= tick && tick < *up)
        .map(|(_, _, l)| *l)
        .sum();
    let state = Whirlpool {
        tick_spacing: spacing as u16,
        fee_tier_index_seed: spacing as u16,
        fee_rate: 400,
        protocol_fee_rate: 1_300,
        liquidity,
        sqrt_price,
        tick_current_index: tick,
        token_mint_a: key(SOL),
        token_vault_a: addr(30),
        token_mint_b: key(USDC),
        token_vault_b: addr(31),
    };
    write(
        &dir,
        "pool",
        &pool_key,
        &programs::ORCA_WHIRLPOOL,
        &state.encode(),
    );
    // A Whirlpool quote reads both mints (a Token-2022 mint may charge a transfer fee).
    for (name, mint, decimals) in [("mint-a", key(SOL), 9), ("mint-b", key(USDC), 6)] {
        let bytes = sniperforge_engine::mint::Mint::plain(mint, decimals).encode();
        write(&dir, name, &mint, &programs::SPL_TOKEN, &bytes);
    }
    for k in -3..=3 {
        let start = center + k * per;
        let mut ticks = [TickImage::default(); 88];
        for (lo, up, l) in &positions {
            for (t, net) in [(*lo, *l as i128), (*up, -(*l as i128))] {
                if t >= start && t < start + per {
                    let slot = ((t - start) / spacing) as usize;
                    ticks[slot].initialized = true;
                    ticks[slot].liquidity_net += net;
                    ticks[slot].liquidity_gross += *l;
                }
            }
        }
        let bytes = if k % 2 == 0 {
            TickArray::encode_fixed(&pool_key, start, &ticks)
        } else {
            TickArray::encode_dynamic(&pool_key, start, &ticks)
        };
        let array_key = pda::whirlpool_tick_array(&pool_key, start).expect("tick array address");
        write(
            &dir,
            &format!("tick-array-{start}"),
            &array_key,
            &programs::ORCA_WHIRLPOOL,
            &bytes,
        );
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    raydium_v4(&root);
    raydium_cp(&root);
    whirlpool(&root);
    println!("wrote fixtures under {}", root.display());
}
