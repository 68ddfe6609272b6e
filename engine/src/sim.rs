//! The market simulator: a seeded, deterministic market of 12 tokens and 40 pools across
//! Raydium v4, CP-Swap and Whirlpool. Reference prices follow a random walk with jumps, noise
//! swaps push pools off reference, and competing arbitrageurs close gaps after their own
//! latency. Every change is emitted as account updates in the programs' real byte layouts.

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::market::{AccountUpdate, Market, Pool};
use crate::pda;
use crate::pubkey::{Pubkey, programs};
use crate::quote::{AccountData, Amm, QuoteRequest, Side, SwapMode};
use crate::raydium_cp::{AmmConfig, CreatorFeeOn, PoolState};
use crate::raydium_v4::AmmInfo;
use crate::strategy::{BaseMint, MintInfo};
use crate::token_account::TokenAccount;
use crate::whirlpool::math::{TICK_ARRAY_SIZE, tick_index_from_sqrt_price};
use crate::whirlpool::swap::{SwapParams, SwapStart, swap};
use crate::whirlpool::{TickArray, TickImage, Whirlpool};

/// Token symbols, decimals and starting USD prices.
pub const TOKENS: [(&str, u8, f64); 12] = [
    ("SOL", 9, 150.0),
    ("USDC", 6, 1.0),
    ("USDT", 6, 1.0),
    ("JUP", 6, 0.9),
    ("BONK", 5, 0.000_02),
    ("RAY", 6, 2.5),
    ("ORCA", 6, 3.0),
    ("mSOL", 9, 185.0),
    ("jitoSOL", 9, 180.0),
    ("WIF", 6, 2.2),
    ("PYTH", 6, 0.35),
    ("JTO", 9, 2.8),
];

/// Pairs (token indices) the pools trade; each appears under `pools_per_pair` pool kinds.
const PAIRS: [(usize, usize); 20] = [
    (0, 1),
    (0, 2),
    (1, 2),
    (3, 0),
    (3, 1),
    (4, 0),
    (4, 1),
    (5, 0),
    (5, 1),
    (6, 0),
    (6, 1),
    (7, 0),
    (8, 0),
    (7, 1),
    (8, 1),
    (9, 0),
    (9, 1),
    (10, 1),
    (11, 0),
    (11, 1),
];

/// Simulator settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed: the same seed gives the same updates.
    pub seed: u64,
    /// Account updates per slot.
    pub updates_per_slot: u64,
    /// Probability per step that a token's reference price moves.
    pub price_move_probability: f64,
    /// Standard deviation of a reference move (fraction).
    pub price_volatility: f64,
    /// Probability per step of a jump of 2–5%.
    pub jump_probability: f64,
    /// Whether competing arbitrageurs close gaps.
    pub competitors: bool,
    /// Their latency, in simulator steps.
    pub competitor_latency_steps: u64,
    /// Pools per token pair (2 gives the standard 40 pools; more for larger benches).
    pub pools_per_pair: usize,
    /// Multiplier on noise swap sizes (1: swaps of 0.00003% to 0.016% of a reserve).
    pub noise_scale: f64,
    /// Adds pools the programs refuse to trade through, priced far off the market: drained
    /// to a few units, with an empty side (everything owed), with more owed than the vault
    /// holds, disabled, and in a status the program refuses. Off by default.
    pub edge_pools: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            updates_per_slot: 2_000,
            price_move_probability: 0.02,
            price_volatility: 0.000_5,
            jump_probability: 0.000_2,
            competitors: true,
            competitor_latency_steps: 10,
            pools_per_pair: 2,
            noise_scale: 1.0,
            edge_pools: false,
        }
    }
}

/// Mint decimals and reference prices of `tokens`, for the strategy's USD accounting.
pub fn mint_infos(tokens: &[Token]) -> Vec<MintInfo> {
    tokens
        .iter()
        .map(|t| MintInfo {
            mint: t.mint,
            decimals: t.decimals,
            usd_price: t.usd,
        })
        .collect()
}

/// A token: the simulator's, or one a markets file names.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Symbol.
    pub symbol: &'static str,
    /// Mint address (deterministic, synthetic).
    pub mint: Pubkey,
    /// Decimals.
    pub decimals: u8,
    /// Reference USD price.
    pub usd: f64,
}

#[derive(Debug, Clone)]
enum Kind {
    RaydiumV4 {
        info: AmmInfo,
        coin: u64,
        pc: u64,
    },
    RaydiumCp {
        state: PoolState,
        config: AmmConfig,
        config_key: Pubkey,
        vault_0: u64,
        vault_1: u64,
    },
    Whirlpool {
        state: Whirlpool,
        positions: Vec<(i32, i32, u128)>,
        arrays: Vec<TickArray>,
        images: Vec<(i32, Pubkey, [TickImage; 88])>,
    },
}

#[derive(Debug, Clone)]
struct SimPool {
    key: Pubkey,
    tokens: (usize, usize),
    kind: Kind,
    /// The engine-side view, kept in step to quote the simulator's own swaps exactly.
    view: Pool,
}

/// The deterministic market simulator.
#[derive(Debug)]
pub struct Simulator {
    config: SimConfig,
    rng: ChaCha8Rng,
    tokens: Vec<Token>,
    pools: Vec<SimPool>,
    outbox: VecDeque<AccountUpdate>,
    competitor_queue: VecDeque<(u64, usize)>,
    step: u64,
    emitted: u64,
    slot: u64,
    write_version: u64,
}

/// Serial numbers of edge pools start here, past any regular pool's, so their addresses never
/// meet one.
const EDGE_POOL_SERIAL: u64 = 1 << 62;

/// Owner of every simulated vault (a fixed address: computing one per update would cost a hash).
const VAULT_AUTHORITY: Pubkey = Pubkey([0x5a; 32]);

fn synthetic_key(tag: &str, n: u64) -> Pubkey {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"sniperforge-sim");
    h.update(tag.as_bytes());
    h.update(n.to_le_bytes());
    Pubkey(h.finalize().into())
}

/// Moves a swap's amounts through two vault balances (A and B); false when either would leave
/// the u64 range (the swap is then not applied).
fn move_reserves(a: &mut u64, b: &mut u64, side: Side, amount_in: u64, amount_out: u64) -> bool {
    let (into, from) = if side == Side::AToB { (a, b) } else { (b, a) };
    match (into.checked_add(amount_in), from.checked_sub(amount_out)) {
        (Some(new_in), Some(new_out)) => {
            *into = new_in;
            *from = new_out;
            true
        }
        _ => false,
    }
}

/// Price of token A in token B, in base units (B base units per A base unit).
fn base_price(a: &Token, b: &Token) -> f64 {
    a.usd / b.usd * 10f64.powi(i32::from(b.decimals) - i32::from(a.decimals))
}

impl Simulator {
    /// Builds the market for `config.seed`.
    pub fn new(config: SimConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let tokens: Vec<Token> = TOKENS
            .iter()
            .enumerate()
            .map(|(i, (symbol, decimals, usd))| Token {
                symbol,
                mint: synthetic_key("mint", i as u64),
                decimals: *decimals,
                usd: *usd,
            })
            .collect();
        let per_pair = config.pools_per_pair.max(1);
        let mut pools = Vec::with_capacity(PAIRS.len() * per_pair);
        for (i, &(a, b)) in PAIRS.iter().enumerate() {
            for k in 0..per_pair {
                let n = (i * per_pair + k) as u64;
                let kind = (i + k) % 3;
                // Deep pools for majors, thinner ones for the rest: $0.3M to $20M.
                let tvl = if a <= 2 && b <= 2 {
                    20e6
                } else {
                    rng.gen_range(0.3e6..6e6)
                };
                let pool = match kind {
                    0 => Self::make_v4(&tokens, (a, b), n, tvl),
                    1 => Self::make_cp(&tokens, (a, b), n, tvl),
                    _ => Self::make_whirlpool(&tokens, (a, b), n, tvl, &mut rng),
                };
                pools.push(pool);
            }
        }
        if config.edge_pools {
            pools.extend(Self::make_edge_pools(&tokens));
        }
        Self {
            config,
            rng,
            tokens,
            pools,
            outbox: VecDeque::new(),
            competitor_queue: VecDeque::new(),
            step: 0,
            emitted: 0,
            slot: 1,
            write_version: 0,
        }
    }

    fn reserves_for(tokens: &[Token], (a, b): (usize, usize), tvl: f64) -> (u64, u64) {
        let side = tvl / 2.0;
        let ra = side / tokens[a].usd * 10f64.powi(i32::from(tokens[a].decimals));
        let rb = side / tokens[b].usd * 10f64.powi(i32::from(tokens[b].decimals));
        (ra as u64, rb as u64)
    }

    fn make_v4(tokens: &[Token], pair: (usize, usize), n: u64, tvl: f64) -> SimPool {
        let key = synthetic_key("v4", n);
        let info = AmmInfo {
            status: 6,
            coin_decimals: u64::from(tokens[pair.0].decimals),
            pc_decimals: u64::from(tokens[pair.1].decimals),
            trade_fee_numerator: 25,
            trade_fee_denominator: 10_000,
            swap_fee_numerator: 25,
            swap_fee_denominator: 10_000,
            coin_vault: synthetic_key("v4-coin", n),
            pc_vault: synthetic_key("v4-pc", n),
            coin_vault_mint: tokens[pair.0].mint,
            pc_vault_mint: tokens[pair.1].mint,
            lp_mint: synthetic_key("v4-lp", n),
            open_orders: synthetic_key("v4-oo", n),
            market: synthetic_key("v4-market", n),
            ..Default::default()
        };
        let (coin, pc) = Self::reserves_for(tokens, pair, tvl);
        let view = Self::view_of(&key, &programs::RAYDIUM_AMM_V4, &info.encode());
        let mut pool = SimPool {
            key,
            tokens: pair,
            kind: Kind::RaydiumV4 { info, coin, pc },
            view,
        };
        for u in Self::accounts_of(&pool, 0, &mut 0) {
            Self::feed_view(&mut pool, &u);
        }
        pool
    }

    /// Pools on SOL/USDC that quote a free lunch under naive math but fail every swap (or pay
    /// nothing) on chain; see [`SimConfig::edge_pools`]. The last two have a sizing curve (their
    /// state looks tradeable) and only the exact quote refuses them: they open at the end of
    /// time.
    fn make_edge_pools(tokens: &[Token]) -> Vec<SimPool> {
        let pair = (0, 1);
        let v4 = |n: u64, status: u64, coin: u64, pc: u64, pnl: (u64, u64), open_time: u64| {
            let mut pool = Self::make_v4(tokens, pair, EDGE_POOL_SERIAL + n, 1.0);
            if let Kind::RaydiumV4 {
                info,
                coin: c,
                pc: p,
            } = &mut pool.kind
            {
                info.status = status;
                info.pool_open_time = open_time;
                (info.need_take_pnl_coin, info.need_take_pnl_pc) = pnl;
                (*c, *p) = (coin, pc);
            }
            Self::refeed(&mut pool);
            pool
        };
        let cp = |n: u64, status: u8, v0: u64, v1: u64, owed_0: u64, open_time: u64| {
            let mut pool = Self::make_cp(tokens, pair, EDGE_POOL_SERIAL + n, 1.0);
            if let Kind::RaydiumCp {
                state,
                vault_0,
                vault_1,
                ..
            } = &mut pool.kind
            {
                state.status = status;
                state.protocol_fees_token_0 = owed_0;
                state.open_time = open_time;
                (*vault_0, *vault_1) = (v0, v1);
            }
            Self::refeed(&mut pool);
            pool
        };
        vec![
            // Drained to one unit a side: every swap pays 0 out (InvalidInput).
            v4(0, 6, 1, 1, (0, 0), 0),
            // Empty coin side: the whole vault is pnl owed.
            v4(
                1,
                6,
                1_000_000_000,
                1_000_000_000_000,
                (1_000_000_000, 0),
                0,
            ),
            // More pnl owed than the pc vault holds.
            v4(
                2,
                6,
                1_000_000,
                9_000_000_000_000,
                (0, 9_000_000_000_001),
                0,
            ),
            // Initialized (1): the program's swaps refuse the order-book permission.
            v4(3, 1, 1_000_000_000, 9_000_000_000_000, (0, 0), 0),
            // Swaps disabled by the status bit.
            cp(4, 1 << 2, 1_000_000_000, 9_000_000_000_000, 0, 0),
            // Empty token 0 side: everything in it is protocol fees owed.
            cp(5, 0, 1_000_000_000, 9_000_000_000_000, 1_000_000_000, 0),
            // Waiting for an open time that never comes, SOL at $9,000.
            v4(6, 7, 1_000_000_000, 9_000_000_000_000, (0, 0), u64::MAX),
            cp(7, 0, 1_000_000_000, 9_000_000_000_000, 0, u64::MAX),
        ]
    }

    /// Feeds a pool's current accounts to its engine-side view.
    fn refeed(pool: &mut SimPool) {
        for u in Self::accounts_of(pool, 0, &mut 0) {
            Self::feed_view(pool, &u);
        }
    }

    fn make_cp(tokens: &[Token], pair: (usize, usize), n: u64, tvl: f64) -> SimPool {
        let key = synthetic_key("cp", n);
        let config_key = synthetic_key("cp-config", n % 2);
        let config = AmmConfig {
            trade_fee_rate: if n.is_multiple_of(2) { 2_500 } else { 10_000 },
            protocol_fee_rate: 120_000,
            fund_fee_rate: 40_000,
            creator_fee_rate: 0,
        };
        let state = PoolState {
            amm_config: config_key,
            token_0_vault: synthetic_key("cp-vault-0", n),
            token_1_vault: synthetic_key("cp-vault-1", n),
            lp_mint: synthetic_key("cp-lp", n),
            token_0_mint: tokens[pair.0].mint,
            token_1_mint: tokens[pair.1].mint,
            token_0_program: programs::SPL_TOKEN,
            token_1_program: programs::SPL_TOKEN,
            mint_0_decimals: tokens[pair.0].decimals,
            mint_1_decimals: tokens[pair.1].decimals,
            creator_fee_on: CreatorFeeOn::BothTokens,
            ..Default::default()
        };
        let (vault_0, vault_1) = Self::reserves_for(tokens, pair, tvl);
        let view = Self::view_of(&key, &programs::RAYDIUM_CP_SWAP, &state.encode());
        let mut pool = SimPool {
            key,
            tokens: pair,
            kind: Kind::RaydiumCp {
                state,
                config,
                config_key,
                vault_0,
                vault_1,
            },
            view,
        };
        for u in Self::accounts_of(&pool, 0, &mut 0) {
            Self::feed_view(&mut pool, &u);
        }
        pool
    }

    fn make_whirlpool(
        tokens: &[Token],
        pair: (usize, usize),
        n: u64,
        tvl: f64,
        rng: &mut ChaCha8Rng,
    ) -> SimPool {
        let key = synthetic_key("whirlpool", n);
        let stable = pair.0 <= 2 && pair.1 <= 2;
        let (spacing, fee_rate): (u16, u16) = if stable {
            (1, 100)
        } else if n.is_multiple_of(2) {
            (4, 400)
        } else {
            (64, 3_000)
        };
        let price = base_price(&tokens[pair.0], &tokens[pair.1]);
        let sqrt_price = ((price.sqrt() * 18_446_744_073_709_551_616.0) as u128).clamp(
            crate::whirlpool::math::MIN_SQRT_PRICE,
            crate::whirlpool::math::MAX_SQRT_PRICE,
        );
        let tick = tick_index_from_sqrt_price(sqrt_price);
        let ts = i32::from(spacing);
        let per = TICK_ARRAY_SIZE * ts;
        let center = tick.div_euclid(per) * per;
        // Liquidity: a wide base position (its ticks lie outside the arrays) plus concentrated
        // positions near the price, whose ticks the swaps cross.
        let (ra, _) = Self::reserves_for(tokens, pair, tvl);
        let sp = sqrt_price as f64 / 18_446_744_073_709_551_616.0;
        let base_liquidity = (ra as f64 * sp * 0.6) as u128;
        let mut positions = Vec::new();
        for _ in 0..12 {
            let lo = tick + rng.gen_range(-3 * per..per / 2);
            let hi = lo + rng.gen_range(ts * 4..3 * per);
            let lower = lo.div_euclid(ts) * ts;
            let upper = hi.div_euclid(ts) * ts;
            if lower < upper {
                positions.push((
                    lower,
                    upper,
                    (base_liquidity as f64 * rng.gen_range(0.02..0.15)) as u128,
                ));
            }
        }
        let liquidity = base_liquidity
            + positions
                .iter()
                .filter(|(lo, up, _)| *lo <= tick && tick < *up)
                .map(|(_, _, l)| *l)
                .sum::<u128>();
        let state = Whirlpool {
            tick_spacing: spacing,
            fee_tier_index_seed: spacing,
            fee_rate,
            protocol_fee_rate: 1_300,
            liquidity,
            sqrt_price,
            tick_current_index: tick,
            token_mint_a: tokens[pair.0].mint,
            token_vault_a: synthetic_key("wp-vault-a", n),
            token_mint_b: tokens[pair.1].mint,
            token_vault_b: synthetic_key("wp-vault-b", n),
        };
        let (arrays, images) = Self::tick_window(&key, &positions, center, ts, &[]);
        let view = Self::view_of(&key, &programs::ORCA_WHIRLPOOL, &state.encode());
        let mut pool = SimPool {
            key,
            tokens: pair,
            kind: Kind::Whirlpool {
                state,
                positions,
                arrays,
                images,
            },
            view,
        };
        for u in Self::accounts_of(&pool, 0, &mut 0) {
            Self::feed_view(&mut pool, &u);
        }
        for token in [&tokens[pair.0], &tokens[pair.1]] {
            Self::feed_view(&mut pool, &Self::mint_update(token, 0, &mut 0));
        }
        pool
    }

    /// The 13 tick arrays centred on the array starting at `center`, from the positions.
    #[allow(clippy::type_complexity)]
    fn tick_window(
        key: &Pubkey,
        positions: &[(i32, i32, u128)],
        center: i32,
        ts: i32,
        known: &[(i32, Pubkey, [TickImage; 88])],
    ) -> (Vec<TickArray>, Vec<(i32, Pubkey, [TickImage; 88])>) {
        let per = TICK_ARRAY_SIZE * ts;
        let mut images = Vec::new();
        let mut arrays = Vec::new();
        for k in -6..=6 {
            let start = center + k * per;
            let mut ticks = [TickImage::default(); 88];
            for (lo, up, l) in positions {
                for (t, net) in [(*lo, *l as i128), (*up, -(*l as i128))] {
                    if t >= start && t < start + per {
                        let slot = ((t - start) / ts) as usize;
                        ticks[slot].initialized = true;
                        ticks[slot].liquidity_net += net;
                        ticks[slot].liquidity_gross += *l;
                    }
                }
            }
            // Addresses already derived are reused: a derivation costs tens of µs.
            let array_key = known
                .iter()
                .find(|(s, _, _)| *s == start)
                .map(|(_, k, _)| *k)
                .or_else(|| pda::whirlpool_tick_array(key, start))
                .unwrap_or_else(|| synthetic_key("ta", start as u64));
            let bytes = TickArray::encode_fixed(key, start, &ticks);
            if let Ok(decoded) = TickArray::decode(&array_key, &programs::ORCA_WHIRLPOOL, &bytes) {
                arrays.push(decoded);
            }
            images.push((start, array_key, ticks));
        }
        (arrays, images)
    }

    fn view_of(key: &Pubkey, owner: &Pubkey, data: &[u8]) -> Pool {
        // Encoded by this module from valid values: decoding cannot fail.
        Pool::from_account(AccountData {
            pubkey: key,
            owner,
            data,
        })
        .expect("simulator pool bytes decode")
    }

    fn feed_view(pool: &mut SimPool, update: &AccountUpdate) {
        let _ = pool.view.update(AccountData {
            pubkey: &update.pubkey,
            owner: &update.owner,
            data: &update.data,
        });
    }

    fn update(
        pubkey: Pubkey,
        owner: Pubkey,
        data: Vec<u8>,
        slot: u64,
        write_version: &mut u64,
    ) -> AccountUpdate {
        *write_version += 1;
        AccountUpdate {
            pubkey,
            owner,
            slot,
            write_version: *write_version,
            data,
            received_at: 0,
        }
    }

    fn vault_update(
        key: Pubkey,
        mint: Pubkey,
        amount: u64,
        slot: u64,
        wv: &mut u64,
    ) -> AccountUpdate {
        let data = TokenAccount {
            mint,
            owner: VAULT_AUTHORITY,
            amount,
            is_token_2022: false,
            is_frozen: false,
        }
        .encode();
        Self::update(key, programs::SPL_TOKEN, data, slot, wv)
    }

    /// A token's mint account (SPL Token, no extensions), as an update.
    fn mint_update(token: &Token, slot: u64, wv: &mut u64) -> AccountUpdate {
        let data = crate::mint::Mint::plain(token.mint, token.decimals).encode();
        Self::update(token.mint, programs::SPL_TOKEN, data, slot, wv)
    }

    /// Every account of a pool, as updates.
    fn accounts_of(pool: &SimPool, slot: u64, wv: &mut u64) -> Vec<AccountUpdate> {
        match &pool.kind {
            Kind::RaydiumV4 { info, coin, pc } => vec![
                Self::update(pool.key, programs::RAYDIUM_AMM_V4, info.encode(), slot, wv),
                Self::vault_update(info.coin_vault, info.coin_vault_mint, *coin, slot, wv),
                Self::vault_update(info.pc_vault, info.pc_vault_mint, *pc, slot, wv),
            ],
            Kind::RaydiumCp {
                state,
                config,
                config_key,
                vault_0,
                vault_1,
            } => vec![
                Self::update(
                    pool.key,
                    programs::RAYDIUM_CP_SWAP,
                    state.encode(),
                    slot,
                    wv,
                ),
                Self::update(
                    *config_key,
                    programs::RAYDIUM_CP_SWAP,
                    config.encode(),
                    slot,
                    wv,
                ),
                Self::vault_update(state.token_0_vault, state.token_0_mint, *vault_0, slot, wv),
                Self::vault_update(state.token_1_vault, state.token_1_mint, *vault_1, slot, wv),
            ],
            Kind::Whirlpool { state, images, .. } => {
                let mut v = vec![Self::update(
                    pool.key,
                    programs::ORCA_WHIRLPOOL,
                    state.encode(),
                    slot,
                    wv,
                )];
                for (start, key, ticks) in images {
                    v.push(Self::update(
                        *key,
                        programs::ORCA_WHIRLPOOL,
                        TickArray::encode_fixed(&pool.key, *start, ticks),
                        slot,
                        wv,
                    ));
                }
                v
            }
        }
    }

    /// The tokens and their current reference prices.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// Number of pools.
    pub fn pool_count(&self) -> usize {
        self.pools.len()
    }

    /// Account updates emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Current slot.
    pub fn slot(&self) -> u64 {
        self.slot
    }

    /// A snapshot of every account, as updates at the current slot.
    pub fn snapshot(&mut self) -> Vec<AccountUpdate> {
        let mut wv = self.write_version;
        let mut all: Vec<AccountUpdate> = self
            .pools
            .iter()
            .flat_map(|p| Self::accounts_of(p, self.slot, &mut wv))
            .collect();
        // The mints, which Whirlpool quotes read (transfer fees).
        for token in &self.tokens {
            all.push(Self::mint_update(token, self.slot, &mut wv));
        }
        self.write_version = wv;
        all
    }

    /// A market holding every pool, built from a snapshot's bytes (what a live feed's
    /// getMultipleAccounts gives the engine).
    pub fn market(&mut self) -> Market {
        crate::record::market_from_snapshot(&self.snapshot())
    }

    /// A token by symbol.
    pub fn token(&self, symbol: &str) -> Option<&Token> {
        self.tokens.iter().find(|t| t.symbol == symbol)
    }

    /// Mint decimals and reference prices for the strategy's USD accounting.
    pub fn mint_infos(&self) -> Vec<MintInfo> {
        mint_infos(&self.tokens)
    }

    /// SOL and USDC as base mints, with sizes worth $50k max per trade and $0.05 min profit.
    pub fn default_base_mints(&self) -> Vec<BaseMint> {
        [0usize, 1]
            .iter()
            .map(|&i| {
                let t = &self.tokens[i];
                let unit = 10f64.powi(i32::from(t.decimals)) / t.usd;
                BaseMint {
                    mint: t.mint,
                    max_trade: (50_000.0 * unit) as u64,
                    min_profit: (0.05 * unit) as u64,
                }
            })
            .collect()
    }

    /// The next account update.
    pub fn next_update(&mut self) -> AccountUpdate {
        loop {
            if let Some(update) = self.outbox.pop_front() {
                self.emitted += 1;
                if self
                    .emitted
                    .is_multiple_of(self.config.updates_per_slot.max(1))
                {
                    self.slot += 1;
                }
                return update;
            }
            self.advance();
        }
    }

    fn advance(&mut self) {
        self.step += 1;
        let cfg = self.config.clone();
        // Reference prices: random walk and rare jumps (USDC, the numeraire, and USDT stay put).
        if self.rng.gen_bool(cfg.price_move_probability) {
            let t = self.rng.gen_range(0..self.tokens.len());
            if t > 2 {
                let z: f64 = self.rng.gen_range(-1.0..1.0) * cfg.price_volatility * 1.7;
                self.tokens[t].usd *= 1.0 + z;
            }
        }
        if self.rng.gen_bool(cfg.jump_probability) {
            let t = self.rng.gen_range(0..self.tokens.len());
            if t > 2 {
                let size = self.rng.gen_range(0.02..0.05)
                    * if self.rng.gen_bool(0.5) { 1.0 } else { -1.0 };
                self.tokens[t].usd *= 1.0 + size;
                for (i, p) in self.pools.iter().enumerate() {
                    if (p.tokens.0 == t || p.tokens.1 == t) && cfg.competitors {
                        self.competitor_queue
                            .push_back((self.step + cfg.competitor_latency_steps, i));
                    }
                }
            }
        }
        // Competing arbitrageurs whose latency has passed pull their pool back to reference.
        while let Some(&(due, pool)) = self.competitor_queue.front() {
            if due > self.step {
                break;
            }
            self.competitor_queue.pop_front();
            self.trade_toward_reference(pool, 1.0);
        }
        // A noise swap: a random pool, a random size, mean-reverting direction.
        let pool = self.rng.gen_range(0..self.pools.len());
        let deviation = self.deviation(pool);
        // Selling A lowers A's price: mostly toward the reference, sometimes away from it.
        let revert = if deviation > 0.0 {
            Side::AToB
        } else {
            Side::BToA
        };
        let side = if self.rng.gen_bool(0.6) {
            revert
        } else {
            revert.reverse()
        };
        let fraction = 10f64.powf(self.rng.gen_range(-6.5..-3.8)) * cfg.noise_scale;
        self.noise_swap(pool, side, fraction);
        if cfg.competitors && self.deviation(pool).abs() > 0.002 {
            self.competitor_queue
                .push_back((self.step + cfg.competitor_latency_steps, pool));
        }
    }

    /// Pool price over reference price, minus one (positive: A is dear in the pool).
    fn deviation(&self, pool: usize) -> f64 {
        let p = &self.pools[pool];
        let reference = base_price(&self.tokens[p.tokens.0], &self.tokens[p.tokens.1]);
        match p
            .view
            .curve(Side::AToB, crate::mint::epoch_of_slot(self.slot))
        {
            Some(c) if c.reserve_in > 0.0 => (c.reserve_out / c.reserve_in) / reference - 1.0,
            _ => 0.0,
        }
    }

    fn noise_swap(&mut self, pool: usize, side: Side, fraction: f64) {
        let Some(curve) = self.pools[pool]
            .view
            .curve(side, crate::mint::epoch_of_slot(self.slot))
        else {
            return;
        };
        let amount = (curve.reserve_in * fraction).max(1.0) as u64;
        self.execute(pool, side, amount);
    }

    /// Trades `pool` so its price returns (by `share`) to the reference price.
    fn trade_toward_reference(&mut self, pool: usize, share: f64) {
        let deviation = self.deviation(pool);
        if deviation.abs() < 0.000_5 {
            return;
        }
        // Pool price too high (A dear): sell A into it.
        let side = if deviation > 0.0 {
            Side::AToB
        } else {
            Side::BToA
        };
        let Some(curve) = self.pools[pool]
            .view
            .curve(side, crate::mint::epoch_of_slot(self.slot))
        else {
            return;
        };
        let k = curve.reserve_in * curve.reserve_out;
        // The out/in price on this side must move by this factor: A's price in B falls by
        // 1/(1+dev) when selling A; B's price in A falls by (1+dev) when buying A.
        let target_ratio = match side {
            Side::AToB => 1.0 / (1.0 + deviation * share),
            Side::BToA => 1.0 + deviation * share,
        };
        let current = curve.reserve_out / curve.reserve_in;
        let target_in = (k / (current * target_ratio)).sqrt();
        let amount = (target_in - curve.reserve_in) / curve.gamma;
        if amount >= 1.0 {
            self.execute(pool, side, amount as u64);
        }
    }

    /// Applies an exact-in swap to the simulated accounts and emits the changed ones.
    fn execute(&mut self, index: usize, side: Side, amount: u64) {
        let slot = self.slot;
        let mut wv = self.write_version;
        let pool = &mut self.pools[index];
        let request = QuoteRequest {
            amount,
            side,
            mode: SwapMode::ExactIn,
            unix_timestamp: 0,
            epoch: crate::mint::epoch_of_slot(slot),
        };
        let mut updates = Vec::with_capacity(2);
        match &mut pool.kind {
            Kind::RaydiumV4 { info, coin, pc } => {
                let Ok(q) = pool.view.quote(&request) else {
                    return;
                };
                if !move_reserves(coin, pc, side, q.amount_in, q.amount_out) {
                    return;
                }
                updates.push(Self::vault_update(
                    info.coin_vault,
                    info.coin_vault_mint,
                    *coin,
                    slot,
                    &mut wv,
                ));
                updates.push(Self::vault_update(
                    info.pc_vault,
                    info.pc_vault_mint,
                    *pc,
                    slot,
                    &mut wv,
                ));
            }
            Kind::RaydiumCp {
                state,
                vault_0,
                vault_1,
                ..
            } => {
                let Ok(q) = pool.view.quote(&request) else {
                    return;
                };
                if !move_reserves(vault_0, vault_1, side, q.amount_in, q.amount_out) {
                    return;
                }
                updates.push(Self::vault_update(
                    state.token_0_vault,
                    state.token_0_mint,
                    *vault_0,
                    slot,
                    &mut wv,
                ));
                updates.push(Self::vault_update(
                    state.token_1_vault,
                    state.token_1_mint,
                    *vault_1,
                    slot,
                    &mut wv,
                ));
            }
            Kind::Whirlpool {
                state,
                positions,
                arrays,
                images,
            } => {
                let start = SwapStart {
                    tick_spacing: state.tick_spacing,
                    fee_rate: state.fee_rate,
                    liquidity: state.liquidity,
                    sqrt_price: state.sqrt_price,
                    tick_current_index: state.tick_current_index,
                };
                let params = SwapParams {
                    amount,
                    a_to_b: side == Side::AToB,
                    exact_in: true,
                    sqrt_price_limit: 0,
                };
                let Ok(out) = swap(&start, arrays, params) else {
                    return;
                };
                if out.amount_in == 0 {
                    return;
                }
                state.sqrt_price = out.sqrt_price;
                state.tick_current_index = out.tick_current_index;
                state.liquidity = out.liquidity;
                updates.push(Self::update(
                    pool.key,
                    programs::ORCA_WHIRLPOOL,
                    state.encode(),
                    slot,
                    &mut wv,
                ));
                // Near the edge of the simulated arrays: recentre them (as liquidity providers
                // initialise arrays where the price goes) and publish the new ones.
                let ts = i32::from(state.tick_spacing);
                let per = TICK_ARRAY_SIZE * ts;
                let lowest = arrays.first().map_or(0, |a| a.start_tick_index);
                let highest = arrays.last().map_or(0, |a| a.start_tick_index) + per;
                if out.tick_current_index < lowest + 3 * per
                    || out.tick_current_index >= highest - 3 * per
                {
                    let center = out.tick_current_index.div_euclid(per) * per;
                    let (new_arrays, new_images) =
                        Self::tick_window(&pool.key, positions, center, ts, images);
                    *arrays = new_arrays;
                    *images = new_images;
                    for (start, key, ticks) in images.iter() {
                        let data = TickArray::encode_fixed(&pool.key, *start, ticks);
                        updates.push(Self::update(
                            *key,
                            programs::ORCA_WHIRLPOOL,
                            data,
                            slot,
                            &mut wv,
                        ));
                    }
                }
            }
        }
        for u in &updates {
            Self::feed_view(pool, u);
        }
        self.write_version = wv;
        self.outbox.extend(updates);
    }
}
