//! Helpers the engine's integration tests share.

#![allow(dead_code)] // each test file uses a subset

use sniperforge_engine::AccountData;
use sniperforge_engine::market::{AccountUpdate, Market, Pool};
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::quote::{QuoteRequest, Side, SwapMode};
use sniperforge_engine::raydium_v4::AmmInfo;
use sniperforge_engine::sim::Simulator;
use sniperforge_engine::strategy::{
    BaseMint, Clock, Decision, Event, ManualClock, Opportunity, RiskLimits, Strategy as Engine,
    StrategyConfig,
};
use sniperforge_engine::token_account::TokenAccount;

/// A quote request at cluster time `now`, in epoch 0.
pub fn request(amount: u64, side: Side, mode: SwapMode, now: i64) -> QuoteRequest {
    QuoteRequest {
        amount,
        side,
        mode,
        unix_timestamp: now,
        epoch: 0,
    }
}

pub fn mint(i: usize) -> Pubkey {
    Pubkey([i as u8 + 1; 32])
}

/// A Raydium v4 pool between mints `a` and `b` with the given reserves, as account updates.
pub fn v4_pool(
    n: usize,
    a: usize,
    b: usize,
    ra: u64,
    rb: u64,
    slot: u64,
) -> (Pool, Vec<AccountUpdate>) {
    let key = Pubkey([100 + n as u8; 32]);
    let info = AmmInfo {
        status: 6,
        swap_fee_numerator: 25,
        swap_fee_denominator: 10_000,
        coin_vault: Pubkey([150 + n as u8; 32]),
        pc_vault: Pubkey([200 + n as u8; 32]),
        coin_vault_mint: mint(a),
        pc_vault_mint: mint(b),
        ..Default::default()
    };
    let pool = Pool::from_account(AccountData {
        pubkey: &key,
        owner: &programs::RAYDIUM_AMM_V4,
        data: &info.encode(),
    })
    .unwrap();
    let vault = |key: Pubkey, mint: Pubkey, amount: u64, wv: u64| AccountUpdate {
        pubkey: key,
        owner: programs::SPL_TOKEN,
        slot,
        write_version: wv,
        data: TokenAccount {
            mint,
            owner: Pubkey([9; 32]),
            amount,
            is_token_2022: false,
            is_frozen: false,
        }
        .encode(),
        received_at: 0,
    };
    let updates = vec![
        vault(info.coin_vault, mint(a), ra, 1),
        vault(info.pc_vault, mint(b), rb, 2),
    ];
    (pool, updates)
}

pub fn market_of(pools: &[(usize, usize, u64, u64)]) -> (Market, Vec<AccountUpdate>) {
    let mut market = Market::new();
    let mut all = Vec::new();
    for (n, &(a, b, ra, rb)) in pools.iter().enumerate() {
        let (pool, updates) = v4_pool(n, a, b, ra, rb, 1);
        market.add_pool(pool);
        all.extend(updates);
    }
    let mut changed = Vec::new();
    for u in &all {
        market.apply_update(u, &mut changed).unwrap();
    }
    (market, all)
}

pub fn permissive(max_trade: u64, max_hops: usize) -> StrategyConfig {
    StrategyConfig {
        base_mints: vec![BaseMint {
            mint: mint(0),
            max_trade,
            min_profit: 0,
        }],
        max_hops,
        risk: RiskLimits {
            min_profit_bps: 0,
            max_state_age_slots: u64::MAX,
            max_concurrent_trades: usize::MAX,
            min_confidence: 0.0,
        },
        paper_latency_ns: 1_000,
        slippage_bps: 0,
        route_fee_bps: 0,
        mints: vec![],
    }
}

pub fn opportunities(strategy: &mut Engine) -> Vec<Opportunity> {
    let clock = ManualClock::new(0);
    let mut out = Vec::new();
    strategy.scan_all(&clock, &mut out);
    out.iter()
        .filter_map(|d| match d {
            Decision::Execute(o) => Some(o.opportunity),
            Decision::Rejected { opportunity, .. } => Some(*opportunity),
            Decision::Filled(_) => None,
        })
        .collect()
}

/// The strategy settings the simulator tests trade with: SOL and USDC bases, 3 hops.
pub fn sim_strategy_config(sim: &Simulator) -> StrategyConfig {
    StrategyConfig {
        base_mints: sim.default_base_mints(),
        max_hops: 3,
        risk: RiskLimits {
            min_profit_bps: 1,
            max_state_age_slots: 10,
            max_concurrent_trades: 4,
            min_confidence: 0.0,
        },
        paper_latency_ns: 50_000,
        slippage_bps: 30,
        route_fee_bps: 0,
        mints: sim.mint_infos(),
    }
}

/// Feeds `n` simulator updates 10 µs apart to the strategy; decisions go to `on_decision`.
pub fn drive(
    sim: &mut Simulator,
    strategy: &mut Engine,
    n: usize,
    mut on_decision: impl FnMut(&Engine, Decision),
) {
    let clock = ManualClock::new(0);
    let mut out = Vec::new();
    for _ in 0..n {
        let mut u = sim.next_update();
        clock.advance(10_000);
        u.received_at = clock.now_ns();
        strategy
            .process(&Event::Account(u), &clock, &mut out)
            .expect("simulator bytes decode");
        for d in out.drain(..) {
            on_decision(strategy, d);
        }
    }
}
