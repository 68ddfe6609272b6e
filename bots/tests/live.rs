//! Live execution: the swap instructions of each program and the signed transaction, byte by
//! byte against the layouts; then signing, sending (sendTransaction and a Jito bundle),
//! confirmation and booking against the loopback Solana node, failures included.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sniperforge_bots::feed::Universe;
use sniperforge_engine::market::{Market, Pool, PoolIndex};
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::quote::{Amm, DexKind, Side};
use sniperforge_engine::swap_ix::{self, associated_token_address};
use sniperforge_sim::rpc_sim::{self, RpcSim};
use sniperforge_solana::live::{
    self, Executor, LiveOrder, LiveResult, SendSettings, engine_pubkey, load_keypair,
};
use solana_keypair::Keypair;
use solana_signer::Signer;

fn market() -> Market {
    Universe::from_sim(&mut rpc_sim::simulator(7, false)).market()
}

fn pool_of(market: &Market, kind: DexKind) -> (PoolIndex, &Pool) {
    (0..market.pool_count())
        .map(|i| PoolIndex(i as u32))
        .map(|i| (i, market.pool(i).unwrap()))
        .find(|(_, p)| p.dex() == kind)
        .unwrap()
}

/// Writes `contents` to `path`, readable by its owner only (as keypair files must be).
fn write_private(path: &std::path::Path, contents: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn keypair_file(dir: &std::path::Path) -> (std::path::PathBuf, Keypair) {
    let kp = Keypair::new();
    let path = dir.join("id.json");
    write_private(
        &path,
        &serde_json::to_string(&kp.to_bytes().to_vec()).unwrap(),
    );
    (path, kp)
}

#[test]
fn each_programs_swap_instruction_is_byte_exact() {
    let m = market();
    let owner = Pubkey([9; 32]);
    let ata = |mint: &Pubkey| associated_token_address(&owner, mint, &programs::SPL_TOKEN).unwrap();

    let (_, v4) = pool_of(&m, DexKind::RaydiumV4);
    let Pool::RaydiumV4(p) = v4 else {
        unreachable!()
    };
    let ix = swap_ix::swap_exact_in(v4, Side::BToA, &owner, 1_000, 990).unwrap();
    assert_eq!(ix.program_id, programs::RAYDIUM_AMM_V4);
    let mut data = vec![16];
    data.extend(1_000u64.to_le_bytes());
    data.extend(990u64.to_le_bytes());
    assert_eq!(ix.data, data);
    let keys: Vec<Pubkey> = ix.accounts.iter().map(|a| a.pubkey).collect();
    let info = p.info();
    assert_eq!(
        keys,
        [
            programs::SPL_TOKEN,
            v4.key(),
            swap_ix::raydium_v4_authority().unwrap(),
            info.coin_vault,
            info.pc_vault,
            ata(&info.pc_vault_mint),
            ata(&info.coin_vault_mint),
            owner,
        ]
    );
    let flags: Vec<(bool, bool)> = ix
        .accounts
        .iter()
        .map(|a| (a.is_signer, a.is_writable))
        .collect();
    let (r, w, s) = ((false, false), (false, true), (true, true));
    assert_eq!(flags, [r, w, r, w, w, w, w, s]);

    let (_, cp) = pool_of(&m, DexKind::RaydiumCp);
    let Pool::RaydiumCp(p) = cp else {
        unreachable!()
    };
    let ix = swap_ix::swap_exact_in(cp, Side::AToB, &owner, 5, 4).unwrap();
    let st = p.state();
    let mut data = vec![143, 190, 90, 218, 196, 30, 51, 222];
    data.extend(5u64.to_le_bytes());
    data.extend(4u64.to_le_bytes());
    assert_eq!(
        (ix.program_id, ix.data.clone()),
        (programs::RAYDIUM_CP_SWAP, data)
    );
    let keys: Vec<Pubkey> = ix.accounts.iter().map(|a| a.pubkey).collect();
    assert_eq!(keys.len(), 13);
    assert_eq!(keys[0], owner);
    assert_eq!(
        keys[1].to_string(),
        "GpMZbSM2GgvTKHJirzeGfMFoaZ8UR2X7F4v8vHTvxFbL"
    );
    assert_eq!(
        keys[2..12],
        [
            st.amm_config,
            cp.key(),
            ata(&st.token_0_mint),
            ata(&st.token_1_mint),
            st.token_0_vault,
            st.token_1_vault,
            st.token_0_program,
            st.token_1_program,
            st.token_0_mint,
            st.token_1_mint,
        ]
    );
    let observation = sniperforge_engine::pda::find_program_address(
        &[b"observation", &cp.key().0],
        &programs::RAYDIUM_CP_SWAP,
    )
    .unwrap()
    .0;
    assert_eq!(keys[12], observation);
    let flags: Vec<(bool, bool)> = ix
        .accounts
        .iter()
        .map(|a| (a.is_signer, a.is_writable))
        .collect();
    assert_eq!(flags, [s, r, r, w, w, w, w, w, r, r, r, r, w]);

    let (_, wp) = pool_of(&m, DexKind::Whirlpool);
    let Pool::Whirlpool(p) = wp else {
        unreachable!()
    };
    let ix = swap_ix::swap_exact_in(wp, Side::AToB, &owner, 7, 6).unwrap();
    let st = p.state();
    let mut data = vec![248, 198, 158, 145, 225, 117, 135, 200];
    data.extend(7u64.to_le_bytes());
    data.extend(6u64.to_le_bytes());
    data.extend(4_295_048_016u128.to_le_bytes());
    data.extend([1, 1]);
    assert_eq!(
        (ix.program_id, ix.data.clone()),
        (programs::ORCA_WHIRLPOOL, data)
    );
    let arrays = swap_ix::whirlpool_swap_tick_arrays(
        &wp.key(),
        st.tick_current_index,
        st.tick_spacing,
        true,
    )
    .unwrap();
    let oracle = sniperforge_engine::pda::find_program_address(
        &[b"oracle", &wp.key().0],
        &programs::ORCA_WHIRLPOOL,
    )
    .unwrap()
    .0;
    let keys: Vec<Pubkey> = ix.accounts.iter().map(|a| a.pubkey).collect();
    assert_eq!(
        keys,
        [
            programs::SPL_TOKEN,
            owner,
            wp.key(),
            ata(&st.token_mint_a),
            st.token_vault_a,
            ata(&st.token_mint_b),
            st.token_vault_b,
            arrays[0],
            arrays[1],
            arrays[2],
            oracle,
        ]
    );
    // The B→A swap asks for the upper price bound and says so in its last byte.
    let ix = swap_ix::swap_exact_in(wp, Side::BToA, &owner, 7, 6).unwrap();
    assert_eq!(
        ix.data[24..40],
        sniperforge_engine::whirlpool::math::MAX_SQRT_PRICE.to_le_bytes()
    );
    assert_eq!(ix.data[41], 0);
}

#[test]
fn the_signed_transaction_carries_the_instructions_and_verifies() {
    let m = market();
    let kp = Keypair::new();
    let owner = engine_pubkey(&kp.pubkey());
    let (_, v4) = pool_of(&m, DexKind::RaydiumV4);
    let (_, wp) = pool_of(&m, DexKind::Whirlpool);
    let swaps = vec![
        swap_ix::swap_exact_in(v4, Side::AToB, &owner, 1_000_000, 1).unwrap(),
        swap_ix::swap_exact_in(wp, Side::BToA, &owner, 1, 1).unwrap(),
    ];
    let tip = Pubkey([42; 32]);
    let settings = SendSettings {
        compute_unit_limit: 300_000,
        priority_fee_micro_lamports: 25_000,
        jito_url: None,
        jito_tip: Some((tip, 10_000)),
    };
    let (tx, wire) = live::build_transaction(&swaps, &kp, [5; 32], &settings).unwrap();
    assert!(
        wire.len() <= live::MAX_TRANSACTION_BYTES,
        "{} bytes",
        wire.len()
    );
    let back: solana_transaction::Transaction = bincode::deserialize(&wire).unwrap();
    assert_eq!(back, tx);
    back.verify().unwrap();
    // Legacy wire format: one signature (compact-u16 1), then the message header.
    assert_eq!(wire[0], 1);
    assert_eq!(&wire[1..65], tx.signatures[0].as_ref());
    let msg = &back.message;
    assert_eq!(msg.header.num_required_signatures, 1);
    assert_eq!(engine_pubkey(&msg.account_keys[0]), owner);
    assert_eq!(msg.recent_blockhash.to_bytes(), [5; 32]);
    assert_eq!(msg.instructions.len(), 5);
    let program = |i: usize| {
        engine_pubkey(&msg.account_keys[usize::from(msg.instructions[i].program_id_index)])
    };
    assert_eq!(program(0), swap_ix::COMPUTE_BUDGET_PROGRAM);
    assert_eq!(msg.instructions[0].data, [2, 0xe0, 0x93, 0x04, 0]);
    assert_eq!(msg.instructions[1].data, [3, 0xa8, 0x61, 0, 0, 0, 0, 0, 0]);
    // Each swap compiles to its own accounts, flags and data.
    for (k, swap) in swaps.iter().enumerate() {
        let compiled = &msg.instructions[2 + k];
        assert_eq!(program(2 + k), swap.program_id);
        assert_eq!(compiled.data, swap.data);
        assert_eq!(compiled.accounts.len(), swap.accounts.len());
        for (&index, meta) in compiled.accounts.iter().zip(&swap.accounts) {
            let index = usize::from(index);
            assert_eq!(engine_pubkey(&msg.account_keys[index]), meta.pubkey);
            assert_eq!(msg.is_signer(index), meta.is_signer, "{}", meta.pubkey);
            // Writability from the header: writable signers first, then writable non-signers.
            let h = &msg.header;
            let signers = usize::from(h.num_required_signatures);
            let writable = if index < signers {
                index < signers - usize::from(h.num_readonly_signed_accounts)
            } else {
                index < msg.account_keys.len() - usize::from(h.num_readonly_unsigned_accounts)
            };
            assert!(!meta.is_writable || writable, "{}", meta.pubkey);
        }
    }
    assert_eq!(program(4), swap_ix::SYSTEM_PROGRAM);
    let mut transfer = 2u32.to_le_bytes().to_vec();
    transfer.extend(10_000u64.to_le_bytes());
    assert_eq!(msg.instructions[4].data, transfer);
    // A tampered byte breaks the signature.
    let mut bad = wire.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let bad: solana_transaction::Transaction = bincode::deserialize(&bad).unwrap();
    assert!(bad.verify().is_err());
}

#[test]
fn keypair_files_are_checked_and_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let (path, kp) = keypair_file(dir.path());
    assert_eq!(load_keypair(&path).unwrap().pubkey(), kp.pubkey());
    let e = load_keypair(&dir.path().join("none.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("none.json"), "{e}");
    // Readable by others: refused before it is read.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = load_keypair(&path).unwrap_err().to_string();
    assert!(e.contains("0644") && e.contains("chmod 600"), "{e}");
    write_private(&dir.path().join("short.json"), "[1,2,3]");
    let e = load_keypair(&dir.path().join("short.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 bytes, a keypair has 64"), "{e}");
    let mut bytes = kp.to_bytes().to_vec();
    bytes[40] ^= 1;
    write_private(
        &dir.path().join("mixed.json"),
        &serde_json::to_string(&bytes).unwrap(),
    );
    let e = load_keypair(&dir.path().join("mixed.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not match"), "{e}");
    assert!(!e.contains(&bytes[0].to_string()) || bytes[0] < 10);
    write_private(&dir.path().join("text.json"), "secret words here");
    let e = load_keypair(&dir.path().join("text.json"))
        .unwrap_err()
        .to_string();
    assert!(!e.contains("secret"), "{e}");
}

async fn loopback() -> (Arc<RpcSim>, String) {
    let server = RpcSim::start(rpc_sim::simulator(7, false), 500, 100);
    let (url, _) = rpc_sim::serve_loopback(Arc::clone(&server)).await.unwrap();
    (server, url)
}

fn wait_result(executor: &Executor) -> LiveResult {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(r) = executor.results().pop() {
            return r;
        }
        assert!(Instant::now() < deadline, "no result");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_signed_sent_confirmed_and_booked_at_what_landed() {
    let (server, url) = loopback().await;
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = keypair_file(dir.path());
    let kp = load_keypair(&path).unwrap();
    let owner = engine_pubkey(&kp.pubkey());
    let m = market();
    let (_, a) = pool_of(&m, DexKind::RaydiumV4);
    let [mint_a, mint_b] = a.mints();
    // Any pool back from B to A closes the route.
    let back = (0..m.pool_count())
        .map(|i| m.pool(PoolIndex(i as u32)).unwrap())
        .find(|p| p.key() != a.key() && p.mints().contains(&mint_a) && p.mints().contains(&mint_b))
        .unwrap();
    let back_side = if back.mints()[0] == mint_b {
        Side::AToB
    } else {
        Side::BToA
    };
    let order = |id: u64, min_out: u64| LiveOrder {
        order_id: id,
        swaps: vec![
            swap_ix::swap_exact_in(a, Side::AToB, &owner, 1_000_000, 10).unwrap(),
            swap_ix::swap_exact_in(back, back_side, &owner, 10, min_out).unwrap(),
        ],
        amount_in: 1_000_000,
        start_account: associated_token_address(&owner, &mint_a, &programs::SPL_TOKEN).unwrap(),
        compute_unit_limit: 400_000,
        priority_fee_micro_lamports: 1_000,
        loan_fee: 0,
    };
    let tls = sniperforge_host::net::tls_client(None, "ca").unwrap();
    let settings = SendSettings {
        compute_unit_limit: 400_000,
        priority_fee_micro_lamports: 1_000,
        jito_url: None,
        jito_tip: None,
    };
    let executor = tokio::task::spawn_blocking({
        let (url, tls, settings) = (url.clone(), Arc::clone(&tls), settings.clone());
        move || Executor::start(&url, tls, kp, settings)
    })
    .await
    .unwrap()
    .unwrap();
    // Over sendTransaction: landed, verified by the node, booked at what it paid.
    assert!(executor.send(order(1, 1_000_150)));
    let r = tokio::task::spawn_blocking({
        let e = Arc::new(executor);
        let e2 = Arc::clone(&e);
        move || (wait_result(&e2), e)
    })
    .await
    .unwrap();
    let (r, executor) = r;
    assert_eq!(r.error, None);
    assert_eq!((r.order_id, r.realised_out), (1, Some(1_000_150)));
    let sig = r.signature.unwrap();
    assert!(server.transactions.lock().unwrap().contains_key(&sig));
    assert_eq!(server.calls("sendTransaction"), 1);
    // A route that fails on chain is booked as failed, with the program's error.
    server
        .faults
        .fail_next_transactions
        .store(1, Ordering::Relaxed);
    assert!(executor.send(order(2, 1_000_150)));
    let r = tokio::task::spawn_blocking(move || wait_result(&executor))
        .await
        .unwrap();
    assert_eq!((r.order_id, r.realised_out), (2, None));
    assert!(r.error.unwrap().contains("InstructionError"));

    // As a Jito bundle with a tip.
    let kp = load_keypair(&path).unwrap();
    let jito = SendSettings {
        jito_url: Some(url.clone()),
        jito_tip: Some((Pubkey([7; 32]), 10_000)),
        ..settings
    };
    let executor = tokio::task::spawn_blocking(move || Executor::start(&url, tls, kp, jito))
        .await
        .unwrap()
        .unwrap();
    assert!(executor.send(order(3, 1_000_001)));
    let r = tokio::task::spawn_blocking(move || wait_result(&executor))
        .await
        .unwrap();
    assert_eq!(
        (r.order_id, r.realised_out, r.error),
        (3, Some(1_000_001), None)
    );
    assert_eq!(server.calls("sendBundle"), 1);
    let sent = server.transactions.lock().unwrap()[&r.signature.unwrap()].clone();
    let tip = sent.tx.message.instructions.last().unwrap();
    let to = sent.tx.message.account_keys[usize::from(tip.accounts[1])];
    assert_eq!(engine_pubkey(&to), Pubkey([7; 32]));
}

#[test]
fn routes_pay_their_minimum_forward_and_refuse_a_loss() {
    let m = market();
    let owner = Pubkey([9; 32]);
    let (ia, a) = pool_of(&m, DexKind::RaydiumV4);
    let [mint_a, mint_b] = a.mints();
    let ib = (0..m.pool_count())
        .map(|i| PoolIndex(i as u32))
        .find(|&i| {
            let p = m.pool(i).unwrap();
            i != ia && p.mints().contains(&mint_a) && p.mints().contains(&mint_b)
        })
        .unwrap();
    let back_side = if m.pool(ib).unwrap().mints()[0] == mint_b {
        Side::AToB
    } else {
        Side::BToA
    };
    let hops = [
        sniperforge_engine::cycles::Hop {
            pool: ia,
            side: Side::AToB,
        },
        sniperforge_engine::cycles::Hop {
            pool: ib,
            side: back_side,
        },
    ];
    // A balanced market: a round trip loses its fees, so the route is refused.
    let e = live::route_instructions(&m, &hops, 1_000_000_000, 30, &owner, 0, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no profit left"), "{e}");
    // With no slippage allowance the second hop swaps exactly the first hop's quote.
    let first = a
        .quote(&sniperforge_engine::QuoteRequest {
            amount: 1_000_000_000,
            side: Side::AToB,
            mode: sniperforge_engine::SwapMode::ExactIn,
            unix_timestamp: 0,
            epoch: 0,
        })
        .unwrap()
        .amount_out;
    let ix = swap_ix::swap_exact_in(a, Side::AToB, &owner, 1_000_000_000, first).unwrap();
    assert_eq!(ix.data[9..17], first.to_le_bytes());
}

fn live_config(
    keypair: &std::path::Path,
    bot_type: sniperforge_bots::BotType,
) -> serde_json::Value {
    let mut c = sniperforge_bots::template(bot_type);
    c["bot_id"] = "live-arb".into();
    c["environment"] = "prod".into();
    let e = &mut c["parameters"]["execution"];
    e["simulation_mode"] = false.into();
    e["auto_execute"] = true.into();
    e["keypair_path"] = keypair.display().to_string().into();
    e["slippage_bps"] = 1.into();
    c["parameters"]["trading"]["min_profit_bps"] = 20.into();
    if bot_type == sniperforge_bots::BotType::EnhancedArbitrage {
        c["parameters"]["trading"]["confidence_threshold"] = 0.0.into();
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_bot_signs_sends_and_books_what_landed() {
    use sniperforge_bots::bot::{BotFactory, BotOptions};
    use sniperforge_solana::SolanaOptions;
    let server = RpcSim::start(rpc_sim::simulator(7, false), 2_000, 100);
    let (rpc_url, ws_url) = rpc_sim::serve_loopback(Arc::clone(&server)).await.unwrap();
    // With the feature, the same node's Geyser stream feeds a second live bot below.
    #[cfg(feature = "yellowstone")]
    let grpc_url = Some(
        sniperforge_sim::geyser::serve_loopback(Arc::clone(&server), None)
            .await
            .unwrap(),
    );
    #[cfg(not(feature = "yellowstone"))]
    let grpc_url: Option<String> = None;
    let dir = tempfile::tempdir().unwrap();
    let (path, kp) = keypair_file(dir.path());
    let options = |feed: &str| BotOptions {
        state_dir: dir.path().join("state"),
        feed: feed.into(),
        replay_max_speed: false,
        solana: Some(SolanaOptions {
            rpc_url: rpc_url.clone(),
            ws_url: Some(ws_url.clone()),
            commitment: "confirmed".into(),
            markets: Some(
                serde_json::from_value(rpc_sim::markets(&mut rpc_sim::simulator(7, false)))
                    .unwrap(),
            ),
            ca: None,
            jito: None,
            grpc: grpc_url
                .clone()
                .map(|url| sniperforge_solana::GrpcOptions { url, x_token: None }),
        }),
        seed: 7,
        sim_rate: None,
    };
    let config = sniperforge_bots::validate(&live_config(
        &path,
        sniperforge_bots::BotType::EnhancedArbitrage,
    ))
    .unwrap();
    // Live mode needs the node: on the simulator it is refused, as is a live flash loan.
    let e = BotFactory::create_bot(config.clone(), options("sim"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("needs --feed solana"), "{e}");
    // A flash-loan bot needs a reserve of its provider in the markets file.
    let flash = sniperforge_bots::validate(&live_config(
        &path,
        sniperforge_bots::BotType::FlashLoanArbitrage,
    ))
    .unwrap();
    let bot = BotFactory::create_bot(flash, options("solana")).unwrap();
    let e = bot.start().await.unwrap_err().to_string();
    assert!(e.contains("names no marginfi reserve"), "{e}");

    let bot = BotFactory::create_bot(config.clone(), options("solana")).unwrap();
    bot.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let live = loop {
        let out = bot.outputs().await;
        let m = bot.metrics().await;
        if out["live"]["landed"].as_u64().unwrap_or(0) > 0 && m.profit_usd != 0.0 {
            break out["live"].clone();
        }
        assert!(Instant::now() < deadline, "nothing landed: {out} {m:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(live["payer"], kp.pubkey().to_string());
    // Every landed transaction was signed by the configured key, and its route paid forward.
    let sent = server.transactions.lock().unwrap().clone();
    assert!(!sent.is_empty());
    for t in sent.values() {
        t.tx.verify().unwrap();
        assert_eq!(t.tx.message.account_keys[0], kp.pubkey());
        let (_, _, amount_in) = t.source.unwrap();
        assert!(t.min_out > amount_in, "a route that loses was sent");
    }
    let recent = &live["recent"][0];
    assert!(
        recent["signature"]
            .as_str()
            .is_some_and(|s| sent.contains_key(s))
            || recent["error"].is_string(),
        "{recent}"
    );
    bot.stop().await.unwrap();
    // The journal names each landed fill's transaction, as the node signed and sent it.
    let journal = std::fs::read_to_string(dir.path().join("state/fills.jsonl")).unwrap();
    let signed: Vec<String> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|f| !f["amount_out"].is_null())
        .map(|f| f["signature"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(!signed.is_empty(), "{journal}");
    for s in &signed {
        assert!(sent.contains_key(s), "{s:?} was not sent: {journal}");
    }

    // On the Geyser stream, the same live path: orders go to the node's RPC and land.
    #[cfg(feature = "yellowstone")]
    {
        let before = server.transactions.lock().unwrap().len();
        let bot = BotFactory::create_bot(config, options("yellowstone")).unwrap();
        bot.start().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = bot.outputs().await;
            if out["live"]["landed"].as_u64().unwrap_or(0) > 0
                && server.transactions.lock().unwrap().len() > before
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "nothing landed on the Geyser feed: {out}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bot.stop().await.unwrap();
    }
    #[cfg(not(feature = "yellowstone"))]
    drop(config);
}

#[test]
fn flash_loans_wrap_the_route_byte_by_byte() {
    use swap_ix::{FlashProvider, FlashReserve};
    let user = Pubkey([9; 32]);
    let token = Pubkey([8; 32]);
    let mut r = FlashReserve {
        provider: FlashProvider::Solend,
        lending_market: Pubkey([1; 32]),
        reserve: Pubkey([2; 32]),
        mint: Pubkey([3; 32]),
        liquidity_supply: Pubkey([4; 32]),
        fee_receiver: Pubkey([5; 32]),
        token_program: programs::SPL_TOKEN,
    };
    let solend_authority = sniperforge_engine::pda::find_program_address(
        &[&r.lending_market.0],
        &swap_ix::SOLEND_PROGRAM,
    )
    .unwrap()
    .0;
    let borrow = r.borrow(&user, &token, 5_000).unwrap();
    let mut data = vec![19];
    data.extend(5_000u64.to_le_bytes());
    assert_eq!(
        (borrow.program_id, borrow.data.clone()),
        (swap_ix::SOLEND_PROGRAM, data)
    );
    let keys: Vec<Pubkey> = borrow.accounts.iter().map(|a| a.pubkey).collect();
    assert_eq!(
        keys,
        [
            r.liquidity_supply,
            token,
            r.reserve,
            r.lending_market,
            solend_authority,
            swap_ix::SYSVAR_INSTRUCTIONS,
            programs::SPL_TOKEN
        ]
    );
    let repay = r.repay(&user, &token, 5_000, 2).unwrap();
    let mut data = vec![20];
    data.extend(5_000u64.to_le_bytes());
    data.push(2);
    assert_eq!(repay.data, data);
    assert_eq!(
        repay.accounts[4].pubkey, r.reserve,
        "the program checks the reserve at 4"
    );
    assert!(repay.accounts[6].is_signer && repay.accounts[6].pubkey == user);

    r.provider = FlashProvider::Kamino;
    let borrow = r.borrow(&user, &token, 7).unwrap();
    let mut data = vec![135, 231, 52, 167, 7, 52, 212, 193];
    data.extend(7u64.to_le_bytes());
    assert_eq!(
        (borrow.program_id, borrow.data.clone()),
        (swap_ix::KAMINO_LENDING_PROGRAM, data)
    );
    let keys: Vec<Pubkey> = borrow.accounts.iter().map(|a| a.pubkey).collect();
    assert_eq!(keys.len(), 12);
    assert_eq!(
        [
            keys[0], keys[2], keys[3], keys[4], keys[5], keys[6], keys[7], keys[10], keys[11]
        ],
        [
            user,
            r.lending_market,
            r.reserve,
            r.mint,
            r.liquidity_supply,
            token,
            r.fee_receiver,
            swap_ix::SYSVAR_INSTRUCTIONS,
            programs::SPL_TOKEN
        ]
    );
    // No referrer: Anchor's "none" is the program's own id.
    assert_eq!([keys[8], keys[9]], [swap_ix::KAMINO_LENDING_PROGRAM; 2]);
    let repay = r.repay(&user, &token, 7, 2).unwrap();
    assert_eq!(repay.data[..8], [185, 117, 0, 203, 96, 245, 180, 186]);
    assert_eq!(repay.data[8..], [7, 0, 0, 0, 0, 0, 0, 0, 2]);
    assert_eq!(live::FIRST_ROUTE_INSTRUCTION, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_flash_loan_bot_borrows_swaps_and_repays_in_one_transaction() {
    use sniperforge_bots::bot::{BotFactory, BotOptions};
    use sniperforge_solana::SolanaOptions;
    let server = RpcSim::start(rpc_sim::simulator(7, false), 2_000, 100);
    server.faults.flash_fee_bps.store(9, Ordering::Relaxed);
    let (rpc_url, ws_url) = rpc_sim::serve_loopback(Arc::clone(&server)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, kp) = keypair_file(dir.path());
    let mut markets = rpc_sim::markets(&mut rpc_sim::simulator(7, false));
    let reserves: Vec<serde_json::Value> = markets["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let k = |n: u8| {
                Pubkey([
                    n, i as u8, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                    18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
                ])
                .to_string()
            };
            serde_json::json!({"provider": "solend", "mint": t["mint"], "lending_market": k(1),
                "reserve": k(2), "liquidity_supply": k(3), "fee_receiver": k(4)})
        })
        .collect();
    markets["flash_loans"] = reserves.into();
    let mut config = live_config(&path, sniperforge_bots::BotType::FlashLoanArbitrage);
    config["parameters"]["flash_loan"]["provider"] = "solend".into();
    config["parameters"]["flash_loan"]["fee_bps"] = 9.into();
    let bot = BotFactory::create_bot(
        sniperforge_bots::validate(&config).unwrap(),
        BotOptions {
            state_dir: dir.path().join("state"),
            feed: "solana".into(),
            replay_max_speed: false,
            solana: Some(SolanaOptions {
                rpc_url,
                ws_url: Some(ws_url),
                commitment: "confirmed".into(),
                markets: Some(serde_json::from_value(markets).unwrap()),
                ca: None,
                jito: None,
                grpc: None,
            }),
            seed: 7,
            sim_rate: None,
        },
    )
    .unwrap();
    bot.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = bot.outputs().await;
        if out["live"]["landed"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing landed: {out}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let m = bot.metrics().await;
    assert!(m.profit_usd > 0.0, "{m:?}");
    let sent = server.transactions.lock().unwrap().clone();
    for t in sent.values() {
        let msg = &t.tx.message;
        let program = |i: usize| {
            engine_pubkey(&msg.account_keys[usize::from(msg.instructions[i].program_id_index)])
        };
        let last = msg.instructions.len() - 1;
        assert_eq!(program(2), swap_ix::SOLEND_PROGRAM);
        assert_eq!(msg.instructions[2].data[0], 19);
        assert_eq!(program(last), swap_ix::SOLEND_PROGRAM);
        assert_eq!(msg.instructions[last].data[0], 20);
        assert_eq!(
            msg.instructions[last].data[9], 2,
            "the repay names the borrow"
        );
        assert_eq!(
            msg.instructions[2].data[1..9],
            msg.instructions[last].data[1..9]
        );
        assert!(t.loan_fee > 0);
        assert_eq!(t.tx.message.account_keys[0], kp.pubkey());
    }
    bot.stop().await.unwrap();
}
