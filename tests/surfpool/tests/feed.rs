//! Opt-in tier: the `sniperforge` binary's Solana feed against surfpool-core, a real
//! implementation of Solana's JSON-RPC and websocket pubsub (LiteSVM underneath), offline and on
//! loopback only. The simulator's accounts (a recording of `rpc-sim` in the real layouts) are
//! set on surfpool with `surfnet_setAccount`; a bot snapshots them from surfpool and subscribes
//! to every one (healthy), and `record --feed solana` on surfpool, while changes are set, records
//! a snapshot and updates each byte-identical to a state that was set for that account. Run with
//! `SNIPERFORGE_BIN=path/to/sniperforge cargo test --manifest-path tests/surfpool/Cargo.toml`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use surfpool_core::surfnet::svm::{SurfnetSvm, SurfnetSvmConfig};
use surfpool_types::{RpcConfig, SimnetCommand, SimnetConfig, SimnetEvent, SurfpoolConfig};

/// The binary under test: `SNIPERFORGE_BIN`, else the workspace's debug build.
fn binary() -> PathBuf {
    let candidates = [
        std::env::var_os("SNIPERFORGE_BIN").map(PathBuf::from),
        std::env::var_os("CARGO_TARGET_DIR").map(|d| PathBuf::from(d).join("debug/sniperforge")),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/sniperforge")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .expect("no sniperforge binary: build the workspace (cargo build) or set SNIPERFORGE_BIN")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits for `f` to give a value, at most `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.1 request to a loopback server; the status and the body.
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// An account of a recording: pubkey, owner, data.
struct Account {
    pubkey: [u8; 32],
    owner: [u8; 32],
    data: Vec<u8>,
}

/// The records of a SniperForge recording (format in engine/src/record.rs) and how many lead
/// as its snapshot.
fn read_recording(path: &Path) -> (Vec<Account>, usize) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..6], b"SFREC\0");
    let snapshot = u64::from_le_bytes(bytes[10..18].try_into().unwrap()) as usize;
    let mut at = 18;
    let mut out = Vec::new();
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let r = &bytes[at + 4..at + 4 + len];
        let pubkey = r[24..56].try_into().unwrap();
        let owner = r[56..88].try_into().unwrap();
        let data_len = u32::from_le_bytes(r[88..92].try_into().unwrap()) as usize;
        out.push(Account {
            pubkey,
            owner,
            data: r[92..92 + data_len].to_vec(),
        });
        at += 4 + len;
    }
    (out, snapshot)
}

fn solana_pubkey(bytes: &[u8; 32]) -> String {
    // Base58 by hand (no extra crate): big-number division by 58.
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut digits: Vec<u8> = Vec::new();
    for &b in bytes {
        let mut carry = u32::from(b);
        for d in &mut digits {
            carry += u32::from(*d) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    std::iter::repeat_n(b'1', zeros)
        .chain(digits.iter().rev().map(|d| ALPHABET[*d as usize]))
        .map(char::from)
        .collect()
}

/// Sets `a` on surfpool (`surfnet_setAccount`, data in hex).
fn set_account(rpc: u16, a: &Account) {
    let hex: String = a.data.iter().map(|b| format!("{b:02x}")).collect();
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "surfnet_setAccount",
        "params": [solana_pubkey(&a.pubkey), {
            "lamports": 6_960u64 * (128 + a.data.len() as u64),
            "data": hex,
            "owner": solana_pubkey(&a.owner),
            "executable": false,
        }],
    })
    .to_string();
    let (status, answer) = http(rpc, "POST", "/", &body);
    assert!(
        status == 200 && !answer.contains("\"error\""),
        "surfnet_setAccount {}: {status} {answer}",
        solana_pubkey(&a.pubkey)
    );
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_bot_snapshots_and_follows_accounts_set_on_surfpool() {
    let bin = binary();
    let dir = std::env::temp_dir().join(format!("sf-surfpool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // The simulator's accounts in their real layouts: a recording of rpc-sim (snapshot and
    // 300 changes), and its markets file.
    let (sim_rpc, sim_ws) = (free_port(), free_port());
    let markets = dir.join("markets.json");
    let sim = Proc(
        Command::new(&bin)
            .args(["rpc-sim", "--listen", &format!("127.0.0.1:{sim_rpc}")])
            .args([
                "--ws-listen",
                &format!("127.0.0.1:{sim_ws}"),
                "--markets-out",
            ])
            .arg(&markets)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("rpc-sim", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", sim_ws))
            .ok()
            .filter(|_| markets.exists())
    });
    let recording = dir.join("sim.sfrec");
    let out = Command::new(&bin)
        .args(["record", "--feed", "solana", "--updates", "300", "--out"])
        .arg(&recording)
        .args(["--rpc-url", &format!("http://127.0.0.1:{sim_rpc}")])
        .args(["--ws-url", &format!("ws://127.0.0.1:{sim_ws}"), "--markets"])
        .arg(&markets)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(sim);
    let (accounts, snapshot) = read_recording(&recording);
    assert!(snapshot > 10 && accounts.len() == snapshot + 300);

    // surfpool, offline (no datasource: nothing leaves the machine), on loopback.
    let (rpc, ws) = (free_port(), free_port());
    let config = SurfpoolConfig {
        simnets: vec![SimnetConfig {
            offline_mode: true,
            remote_rpc_url: None,
            slot_time: 100,
            ..SimnetConfig::default()
        }],
        rpc: RpcConfig {
            bind_host: "127.0.0.1".into(),
            bind_port: rpc,
            ws_port: ws,
            ..RpcConfig::default()
        },
        ..SurfpoolConfig::default()
    };
    let (svm, events, geyser) = SurfnetSvm::new(SurfnetSvmConfig::default()).unwrap();
    let (commands_tx, commands_rx) = crossbeam_channel::unbounded();
    let stop = commands_tx.clone();
    let runloop = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _ = runtime.block_on(surfpool_core::start_local_surfnet(
            svm,
            config,
            commands_tx,
            commands_rx,
            geyser,
        ));
    });
    wait_for("surfpool to start", Duration::from_secs(60), || {
        while let Ok(e) = events.try_recv() {
            if matches!(e, SimnetEvent::CoreStarted(_)) {
                return Some(());
            }
        }
        None
    });
    for a in &accounts[..snapshot] {
        set_account(rpc, a);
    }

    // A bot on surfpool's RPC and pubsub.
    let mut cfg: serde_json::Value = serde_json::from_slice(
        &Command::new(&bin)
            .args(["config", "template", "triangular_arbitrage"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    cfg["bot_id"] = "surfpool".into();
    let cfg_path = dir.join("bot.json");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let control = free_port();
    let _bot = Proc(
        Command::new(&bin)
            .args(["bot", "--config"])
            .arg(&cfg_path)
            .args([
                "--control-addr",
                &format!("127.0.0.1:{control}"),
                "--state-dir",
            ])
            .arg(dir.join("state"))
            .args([
                "--feed",
                "solana",
                "--rpc-url",
                &format!("http://127.0.0.1:{rpc}"),
            ])
            .args(["--ws-url", &format!("ws://127.0.0.1:{ws}"), "--markets"])
            .arg(&markets)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let metric = |name: &str| {
        let (_, body) = http(control, "GET", "/status", "");
        serde_json::from_str::<serde_json::Value>(&body).ok()?["metrics"]["custom_metrics"][name]
            .as_f64()
    };
    wait_for(
        "the bot healthy on surfpool",
        Duration::from_secs(60),
        || (http(control, "GET", "/health", "").0 == 200).then_some(()),
    );

    // A recorder on surfpool takes its first session's snapshot and 200 streamed updates while
    // the changes are set, round and round.
    let on_surfpool = dir.join("surfpool.sfrec");
    let updates = (snapshot + 200).to_string();
    let mut recorder = Proc(
        Command::new(&bin)
            .args([
                "record",
                "--feed",
                "solana",
                "--updates",
                &updates,
                "--max-seconds",
                "120",
            ])
            .arg("--out")
            .arg(&on_surfpool)
            .args(["--rpc-url", &format!("http://127.0.0.1:{rpc}")])
            .args(["--ws-url", &format!("ws://127.0.0.1:{ws}"), "--markets"])
            .arg(&markets)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let changes = &accounts[snapshot..];
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut set = 0;
    let status = loop {
        if let Some(status) = recorder.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the recorder never got 200 updates"
        );
        set_account(rpc, &changes[set % changes.len()]);
        set += 1;
    };
    let mut stderr = String::new();
    if let Some(mut e) = recorder.0.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(status.success(), "record on surfpool: {stderr}");
    let (recorded, recorded_snapshot) = read_recording(&on_surfpool);
    // The snapshot section (the discovery: the pools' accounts as of when it ran, so a moved
    // Whirlpool may read another tick array than at the start), then exactly the updates asked
    // for: the first session's snapshot (at most one record per account) and the stream.
    assert!(
        recorded_snapshot > snapshot / 2,
        "{recorded_snapshot} of {snapshot}"
    );
    assert_eq!(recorded.len(), recorded_snapshot + snapshot + 200);
    // Every record, snapshot or update, is byte for byte a state that was set for that account.
    for a in &recorded {
        assert!(
            accounts
                .iter()
                .any(|s| s.pubkey == a.pubkey && s.data == a.data && s.owner == a.owner),
            "a record of {} that was never set",
            solana_pubkey(&a.pubkey)
        );
    }
    let seen = metric("feed_notifications").unwrap_or(0.0);
    assert!(seen > 0.0);
    assert_eq!(metric("feed_malformed"), Some(0.0));
    assert_eq!(metric("feed_reconnects"), Some(0.0));
    eprintln!(
        "surfpool tier: {snapshot} accounts set, {set} changes set; the recorder's snapshot {recorded_snapshot}, then {} updates; the bot saw {seen} notifications",
        snapshot + 200
    );
    let _ = stop.send(SimnetCommand::Terminate(None));
    let _ = runloop.join();
    let _ = std::fs::remove_dir_all(&dir);
}
