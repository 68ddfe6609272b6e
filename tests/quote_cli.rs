//! End-to-end tests of `sniperforge quote` on account files: the numbers, and a clear message
//! naming the file with exit code 2 for every kind of unreadable or inconsistent input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sniperforge"))
}

fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn quote(dex: &str, dir: &Path, amount: &str, side: &str, extra: &[&str]) -> Output {
    bin()
        .args(["quote", "--dex", dex, "--accounts"])
        .arg(dir)
        .args([
            "--amount",
            amount,
            "--side",
            side,
            "--unix-time",
            "1750000000",
        ])
        .args(extra)
        .output()
        .expect("run sniperforge")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn quotes_raydium_v4_fixture_with_the_programs_arithmetic() {
    let out = quote(
        "raydium-v4",
        &fixtures("raydium-v4-sol-usdc"),
        "1000000000",
        "a-to-b",
        &[],
    );
    let v = json(&out);
    // Reserves are the vaults net of need_take_pnl; 25/10000 swap fee rounded up.
    let coin: u128 = 85_013_402_117_335 - 1_234_567_891;
    let pc: u128 = 12_752_011_093_114 - 987_654_321;
    let fee = (1_000_000_000u128 * 25).div_ceil(10_000);
    let net = 1_000_000_000 - fee;
    let expected_out = pc * net / (coin + net);
    assert_eq!(v["dex"], "raydium-v4");
    assert_eq!(v["side"], "a-to-b");
    assert_eq!(v["mode"], "exact-in");
    assert_eq!(v["amount_in"], 1_000_000_000u64);
    assert_eq!(v["amount_out"].as_u64().unwrap() as u128, expected_out);
    assert_eq!(v["fee_amount"].as_u64().unwrap() as u128, fee);

    let back = json(&quote(
        "raydium-v4",
        &fixtures("raydium-v4-sol-usdc"),
        &expected_out.to_string(),
        "a-to-b",
        &["--exact-out"],
    ));
    assert_eq!(back["mode"], "exact-out");
    assert_eq!(back["amount_out"].as_u64().unwrap() as u128, expected_out);
    assert!(back["amount_in"].as_u64().unwrap() <= 1_000_000_000);
}

#[test]
fn quotes_every_fixture_both_ways() {
    for (dex, dir) in [
        ("raydium-v4", "raydium-v4-sol-usdc"),
        ("raydium-cp", "raydium-cp-sol-usdc"),
        ("whirlpool", "whirlpool-sol-usdc"),
    ] {
        for side in ["a-to-b", "b-to-a"] {
            let v = json(&quote(dex, &fixtures(dir), "1000000", side, &[]));
            assert_eq!(v["dex"], dex);
            assert!(v["amount_out"].as_u64().unwrap() > 0, "{dex} {side}: {v}");
            let x = json(&quote(
                dex,
                &fixtures(dir),
                "1000000",
                side,
                &["--exact-out"],
            ));
            assert_eq!(x["amount_out"], 1_000_000u64);
        }
    }
}

#[test]
fn a_swap_the_program_rejects_exits_1_with_the_reason() {
    let out = quote(
        "raydium-v4",
        &fixtures("raydium-v4-sol-usdc"),
        "18446744073709551615",
        "a-to-b",
        &["--exact-out"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("raydium-v4 fails the swap with a panic")
            && stderr(&out).contains("reaches the output reserve"),
        "{}",
        stderr(&out)
    );
}

/// Rewrites the token amount (bytes 64..72) of a token account file.
fn set_token_amount(path: &Path, amount: u64) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut v: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let mut data = b64
        .decode(v["account"]["data"][0].as_str().unwrap())
        .unwrap();
    data[64..72].copy_from_slice(&amount.to_le_bytes());
    v["account"]["data"][0] = b64.encode(&data).into();
    fs::write(path, v.to_string()).unwrap();
}

#[test]
fn a_drained_pool_exits_1_naming_the_programs_error() {
    // The coin vault holds exactly the pnl owed out of it: an empty coin side. Selling coin
    // into it would "buy" the whole pc reserve; the program fails with InsufficientFunds.
    let d = scratch("raydium-v4-sol-usdc");
    set_token_amount(&d.path().join("coin-vault.json"), 1_234_567_891);
    let out = quote("raydium-v4", d.path(), "1000000", "a-to-b", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("AmmError::InsufficientFunds"),
        "{}",
        stderr(&out)
    );
    // Buying coin from it pays nothing: InvalidInput.
    let out = quote("raydium-v4", d.path(), "1000000", "b-to-a", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("AmmError::InvalidInput"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_directory_with_the_pools_whole_account_set_quotes_the_same() {
    // Whirlpool: its two vaults (token accounts at the addresses the pool names) beside the
    // mints already there.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let d = scratch("whirlpool-sol-usdc");
    let pool: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(d.path().join("pool.json")).unwrap()).unwrap();
    let pool_data = b64
        .decode(pool["account"]["data"][0].as_str().unwrap())
        .unwrap();
    let vault_json: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(fixtures("raydium-cp-sol-usdc").join("token-0-vault.json")).unwrap(),
    )
    .unwrap();
    for (name, at) in [("vault-a", 133), ("vault-b", 213)] {
        let key: [u8; 32] = pool_data[at..at + 32].try_into().unwrap();
        let mut v = vault_json.clone();
        v["pubkey"] = sniperforge_engine::Pubkey(key).to_string().into();
        fs::write(d.path().join(format!("{name}.json")), v.to_string()).unwrap();
    }
    let base = json(&quote(
        "whirlpool",
        &fixtures("whirlpool-sol-usdc"),
        "1000000000",
        "a-to-b",
        &[],
    ));
    let full = json(&quote("whirlpool", d.path(), "1000000000", "a-to-b", &[]));
    assert_eq!(base, full);
    // Raydium: the SOL and USDC mints beside the pool (the Whirlpool fixture holds them).
    for (dex, fixture) in [
        ("raydium-v4", "raydium-v4-sol-usdc"),
        ("raydium-cp", "raydium-cp-sol-usdc"),
    ] {
        let d = scratch(fixture);
        for mint in ["mint-a.json", "mint-b.json"] {
            fs::copy(
                fixtures("whirlpool-sol-usdc").join(mint),
                d.path().join(mint),
            )
            .unwrap();
        }
        let plain = json(&quote(dex, &fixtures(fixture), "1000000000", "a-to-b", &[]));
        let full = json(&quote(dex, d.path(), "1000000000", "a-to-b", &[]));
        assert_eq!(plain, full, "{dex}");
        assert_eq!(full["transfer_fee_in"], 0);
    }
    // Without its mints a Whirlpool cannot be quoted: a Token-2022 mint may charge a fee.
    let d = scratch("whirlpool-sol-usdc");
    fs::remove_file(d.path().join("mint-b.json")).unwrap();
    expect_bad_input(
        &quote("whirlpool", d.path(), "1000000000", "a-to-b", &[]),
        &["no token B mint"],
    );
}

/// Copies a fixture directory into a temporary one the test may break.
fn scratch(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(fixtures(name)).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    dir
}

fn expect_bad_input(out: &Output, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(out));
    let msg = stderr(out);
    for n in needles {
        assert!(msg.contains(n), "{n:?} not in: {msg}");
    }
}

#[test]
fn unreadable_and_inconsistent_files_exit_2_naming_the_file() {
    // Missing directory.
    let out = quote(
        "whirlpool",
        Path::new("/nonexistent/sniperforge"),
        "1",
        "a-to-b",
        &[],
    );
    expect_bad_input(&out, &["/nonexistent/sniperforge"]);

    // Not JSON.
    let d = scratch("raydium-v4-sol-usdc");
    fs::write(d.path().join("coin-vault.json"), "{ nope").unwrap();
    expect_bad_input(
        &quote("raydium-v4", d.path(), "1", "a-to-b", &[]),
        &["coin-vault.json", "parsing solana account JSON"],
    );

    // Bad base64.
    let d = scratch("raydium-v4-sol-usdc");
    let p = d.path().join("pc-vault.json");
    let mut v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
    v["account"]["data"][0] = "!!!not base64!!!".into();
    fs::write(&p, v.to_string()).unwrap();
    expect_bad_input(
        &quote("raydium-v4", d.path(), "1", "a-to-b", &[]),
        &["pc-vault.json", "base64"],
    );

    // Truncated pool account.
    let d = scratch("raydium-v4-sol-usdc");
    let p = d.path().join("pool.json");
    let mut v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
    v["account"]["data"][0] = "AAAA".into();
    fs::write(&p, v.to_string()).unwrap();
    expect_bad_input(
        &quote("raydium-v4", d.path(), "1", "a-to-b", &[]),
        &["pool.json", "data is 3 bytes, expected 752"],
    );

    // A vault of another pool.
    let d = scratch("raydium-v4-sol-usdc");
    fs::copy(
        fixtures("raydium-cp-sol-usdc").join("token-0-vault.json"),
        d.path().join("stray.json"),
    )
    .unwrap();
    expect_bad_input(
        &quote("raydium-v4", d.path(), "1", "a-to-b", &[]),
        &["stray.json", "is not one of pool"],
    );

    // A missing vault.
    let d = scratch("raydium-v4-sol-usdc");
    fs::remove_file(d.path().join("pc-vault.json")).unwrap();
    expect_bad_input(
        &quote("raydium-v4", d.path(), "1", "a-to-b", &[]),
        &["no pc vault"],
    );

    // Wrong dex for the directory.
    expect_bad_input(
        &quote(
            "raydium-cp",
            &fixtures("whirlpool-sol-usdc"),
            "1",
            "a-to-b",
            &[],
        ),
        &["no raydium-cp pool account"],
    );

    // Two pools in one directory.
    let d = scratch("whirlpool-sol-usdc");
    let text = fs::read_to_string(d.path().join("pool.json"))
        .unwrap()
        .replace(
            "Czfq3xZZDmsdGdUyrNLtRhGc47cXcZtLG4crryfu44zE",
            "11111111111111111111111111111112",
        );
    fs::write(d.path().join("pool-2.json"), text).unwrap();
    expect_bad_input(
        &quote("whirlpool", d.path(), "1", "a-to-b", &[]),
        &["2 whirlpool pool accounts"],
    );

    // An owner that is not an address.
    let d = scratch("whirlpool-sol-usdc");
    let p = d.path().join("pool.json");
    let mut v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
    v["account"]["owner"] = "0xdeadbeef".into();
    fs::write(&p, v.to_string()).unwrap();
    expect_bad_input(
        &quote("whirlpool", d.path(), "1", "a-to-b", &[]),
        &["pool.json", "account.owner"],
    );
}

/// Writes `data` as `solana account --output json` does.
fn write_account(dir: &Path, name: &str, pubkey: &Pubkey, owner: &Pubkey, data: &[u8]) {
    use base64::Engine as _;
    let json = serde_json::json!({
        "pubkey": pubkey.to_string(),
        "account": {
            "lamports": 1_000_000,
            "data": [base64::engine::general_purpose::STANDARD.encode(data), "base64"],
            "owner": owner.to_string(),
            "executable": false,
            "rentEpoch": 0,
        },
    });
    fs::write(dir.join(format!("{name}.json")), json.to_string()).unwrap();
}

use sniperforge_engine::Pubkey;
use sniperforge_engine::mint::{Mint, TransferFeeConfig};
use sniperforge_engine::pubkey::programs;
use sniperforge_engine::raydium_cp::{AmmConfig, PoolState};
use sniperforge_engine::token_account::TokenAccount;

/// A CP-Swap pool of two Token-2022 tokens with transfer fees from epoch 10 (the engine's
/// hand-computed vectors in engine/tests/raydium_quotes.rs), with its whole account set: the
/// LP mint and the observation account besides what a quote reads.
fn token_2022_cp_pool(dir: &Path) {
    let key = |b: u8| Pubkey([b; 32]);
    let state = PoolState {
        amm_config: key(21),
        token_0_vault: key(22),
        token_1_vault: key(23),
        token_0_mint: key(24),
        token_1_mint: key(25),
        lp_mint: key(26),
        observation_key: key(27),
        token_0_program: programs::SPL_TOKEN_2022,
        token_1_program: programs::SPL_TOKEN_2022,
        ..Default::default()
    };
    write_account(
        dir,
        "pool",
        &key(20),
        &programs::RAYDIUM_CP_SWAP,
        &state.encode(),
    );
    let config = AmmConfig {
        trade_fee_rate: 2_500,
        ..Default::default()
    };
    write_account(
        dir,
        "config",
        &state.amm_config,
        &programs::RAYDIUM_CP_SWAP,
        &config.encode(),
    );
    for (i, (vault, mint, amount, bps, max)) in [
        (
            state.token_0_vault,
            state.token_0_mint,
            1_000_000_000,
            100,
            1_000_000,
        ),
        (
            state.token_1_vault,
            state.token_1_mint,
            2_000_000_000,
            50,
            30,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let vault_bytes = TokenAccount {
            mint,
            owner: key(9),
            amount,
            is_token_2022: true,
            is_frozen: false,
        }
        .encode();
        write_account(
            dir,
            &format!("vault-{i}"),
            &vault,
            &programs::SPL_TOKEN_2022,
            &vault_bytes,
        );
        let m = Mint::token_2022(mint, 6, Some(TransferFeeConfig::from_epoch(10, bps, max)));
        write_account(
            dir,
            &format!("mint-{i}"),
            &mint,
            &programs::SPL_TOKEN_2022,
            &m.encode(),
        );
    }
    write_account(
        dir,
        "lp-mint",
        &state.lp_mint,
        &programs::SPL_TOKEN,
        &Mint::plain(state.lp_mint, 9).encode(),
    );
    write_account(
        dir,
        "observation",
        &state.observation_key,
        &programs::RAYDIUM_CP_SWAP,
        &[7u8; 4075],
    );
}

#[test]
fn transfer_fees_are_reported_apart_and_the_epoch_chooses_the_set() {
    let d = tempfile::tempdir().unwrap();
    token_2022_cp_pool(d.path());
    let fields = |v: &serde_json::Value| {
        [
            "amount_in",
            "amount_out",
            "fee_amount",
            "transfer_fee_in",
            "transfer_fee_out",
        ]
        .map(|f| v[f].as_u64().unwrap())
    };
    // The newer set by default and from epoch 10: 1% in (10,000), capped 30 out.
    for extra in [&[][..], &["--epoch", "10"][..]] {
        let v = json(&quote("raydium-cp", d.path(), "1000000", "a-to-b", extra));
        assert_eq!(
            fields(&v),
            [1_000_000, 1_973_071, 2_475, 10_000, 30],
            "{extra:?}"
        );
    }
    let v = json(&quote(
        "raydium-cp",
        d.path(),
        "500000",
        "b-to-a",
        &["--exact-out", "--epoch", "10"],
    ));
    assert_eq!(fields(&v), [1_013_176, 500_000, 2_533, 30, 5_051]);
    // Epoch 9: the older set, no fee.
    let v = json(&quote(
        "raydium-cp",
        d.path(),
        "1000000",
        "a-to-b",
        &["--epoch", "9"],
    ));
    assert_eq!(fields(&v)[3..], [0, 0]);
    // Without a Token-2022 token's mint there is no quote: its fee is unknown.
    fs::remove_file(d.path().join("mint-1.json")).unwrap();
    expect_bad_input(
        &quote("raydium-cp", d.path(), "1000000", "a-to-b", &[]),
        &["no token 1 mint"],
    );
}
