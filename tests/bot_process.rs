//! End-to-end tests of `sniperforge bot`: the three arbitrage types book trades on the
//! simulator, hot and cold config changes, loss limit, illegal transitions, SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::template;
use serde_json::{Value, json};

struct Bot {
    child: Child,
    addr: String,
    /// The control secret the bot made in its state directory.
    secret: String,
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bot process on `dir/bot.json`, state in `dir/state`.
fn spawn(config: &Value, dir: &Path) -> Bot {
    spawn_at(config, &dir.join("bot.json"), &dir.join("state"))
}

/// A bot process on `dir/<bot_id>.json` with its state in `state`.
fn spawn_with_state(config: &Value, dir: &Path, state: &Path) -> Bot {
    let name = format!("{}.json", config["bot_id"].as_str().unwrap_or("bot"));
    spawn_at(config, &dir.join(name), state)
}

fn spawn_at(config: &Value, path: &Path, state: &Path) -> Bot {
    spawn_how(config, path, state, |c| c)
}

/// A bot process as `spawn_at`, its command adjusted by `how` (more flags, environment).
fn spawn_how(
    config: &Value,
    path: &Path,
    state: &Path,
    how: impl FnOnce(&mut Command) -> &mut Command,
) -> Bot {
    std::fs::write(path, config.to_string()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_sniperforge"));
    command
        .args(["bot", "--config"])
        .arg(path)
        .arg("--state-dir")
        .arg(state);
    let mut child = how(&mut command)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = common::logged_control_addr(&mut child);
    let secret = std::fs::read_to_string(state.join("control.secret")).unwrap();
    Bot {
        child,
        addr,
        secret,
    }
}

/// A request to the bot's control endpoint with its secret.
fn http(bot: &Bot, method: &str, path: &str, body: &str) -> (u16, String) {
    common::http(&bot.addr, method, path, Some(&bot.secret), body)
}

fn status(bot: &Bot) -> Value {
    serde_json::from_str(&http(bot, "GET", "/status", "").1).unwrap()
}

/// [`common::wait_for`] on a condition.
fn wait_for(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    common::wait_for(what, deadline, || check().then_some(()));
}

fn sigterm_exits_zero_quickly(mut bot: Bot) {
    let pid = bot.child.id().to_string();
    let start = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    loop {
        if let Some(code) = bot.child.try_wait().unwrap() {
            assert_eq!(code.code(), Some(0), "exit status {code:?}");
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "took {:?}",
                start.elapsed()
            );
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "still running after 2 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn each_arbitrage_type_books_trades_and_stops_on_sigterm() {
    for bot_type in [
        "enhanced_arbitrage",
        "triangular_arbitrage",
        "flash_loan_arbitrage",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = template(bot_type);
        cfg["parameters"]["trading"]["min_profit_bps"] = json!(1);
        cfg["parameters"]["risk_management"]["emergency_stop_enabled"] = json!(false);
        let bot = spawn(&cfg, dir.path());
        wait_for(
            &format!("{bot_type} to book trades"),
            Duration::from_secs(30),
            || {
                status(&bot)["metrics"]["trades_executed"]
                    .as_u64()
                    .unwrap_or(0)
                    > 0
            },
        );
        let (code, health) = http(&bot, "GET", "/health", "");
        assert_eq!(code, 200, "{health}");
        let (code, metrics) = http(&bot, "GET", "/metrics", "");
        assert_eq!(code, 200);
        assert!(
            metrics.contains("sniperforge_trades_executed_total{"),
            "{metrics}"
        );
        let (code, hdr) = http(&bot, "GET", "/hdr", "");
        assert_eq!(code, 200);
        assert!(serde_json::from_str::<Value>(&hdr).unwrap()["stages"]["decided"].is_string());
        sigterm_exits_zero_quickly(bot);
        assert!(
            dir.path().join("state/daily_pnl.json").is_file(),
            "daily PnL persisted"
        );
    }
}

#[test]
fn the_books_carry_on_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = template("enhanced_arbitrage");
    cfg["parameters"]["trading"]["min_profit_bps"] = json!(1);
    cfg["parameters"]["risk_management"]["emergency_stop_enabled"] = json!(false);
    let bot = spawn(&cfg, dir.path());
    wait_for("trades booked", Duration::from_secs(30), || {
        status(&bot)["metrics"]["trades_executed"]
            .as_u64()
            .unwrap_or(0)
            >= 3
    });
    sigterm_exits_zero_quickly(bot);
    let books: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state/daily_pnl.json")).unwrap(),
    )
    .unwrap();
    let trades = books["trades"].as_u64().unwrap();
    assert!(trades >= 3, "{books}");
    // The next start carries on from them: its first status already counts them.
    let bot = spawn(&cfg, dir.path());
    let m = &status(&bot)["metrics"];
    assert!(
        m["trades_executed"].as_u64().unwrap() >= trades,
        "{m} vs {books}"
    );
    assert_eq!(
        m["profit_usd"].as_f64().unwrap() != 0.0,
        books["profit_usd"].as_f64().unwrap() != 0.0,
        "{m} vs {books}"
    );
    let journaled = |dir: &Path| -> Vec<u64> {
        std::fs::read_to_string(dir.join("state/fills.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    let before = journaled(dir.path()).len();
    wait_for("fills after the restart", Duration::from_secs(30), || {
        journaled(dir.path()).len() > before
    });
    sigterm_exits_zero_quickly(bot);
    // Fills numbered on from the first run's: 1, 2, … with none reused; the books keep the
    // highest.
    let seqs = journaled(dir.path());
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    // Each names its route (tokens and venues) and what it moved.
    for line in std::fs::read_to_string(dir.path().join("state/fills.jsonl"))
        .unwrap()
        .lines()
    {
        let f: Value = serde_json::from_str(line).unwrap();
        let route = f["route"].as_str().unwrap_or_default();
        assert!(
            route.starts_with(f["token"].as_str().unwrap()) && route.contains(" via "),
            "{f}"
        );
        // What it moved: its input in USD, none for a route that failed at fill time.
        assert_eq!(
            f["volume_usd"].as_f64().unwrap() > 0.0,
            !f["amount_out"].is_null(),
            "{f}"
        );
        assert!(f["fee"].as_f64().unwrap() >= 0.0, "{f}");
        assert!(
            f.get("signature").is_none(),
            "a paper fill has no signature: {f}"
        );
    }
    let books: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state/daily_pnl.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        books["last_seq"].as_u64(),
        Some(seqs.len() as u64),
        "{books}"
    );
    // A counter of the wrong kind is refused, not read as 0.
    let mut bad = books.clone();
    bad["trades"] = json!("many");
    std::fs::write(dir.path().join("state/daily_pnl.json"), bad.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sniperforge"))
        .args(["bot", "--config"])
        .arg(dir.path().join("bot.json"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("trades: not a count"), "{said}");
}

#[test]
fn a_hot_field_applies_in_place_and_a_cold_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = template("triangular_arbitrage");
    let bot = spawn(&cfg, dir.path());
    let pid = status(&bot)["pid"].clone();
    let mut hot = cfg.clone();
    hot["parameters"]["trading"]["min_profit_bps"] = json!(44);
    let (code, body) = http(&bot, "PUT", "/config", &hot.to_string());
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["applied_hot"], json!(["trading.min_profit_bps"]));
    assert_eq!(v["restart_required"], json!([]));
    assert_eq!(status(&bot)["pid"], pid, "same process");
    let mut cold = hot.clone();
    cold["parameters"]["trading"]["max_hops"] = json!(4);
    let v: Value =
        serde_json::from_str(&http(&bot, "PUT", "/config", &cold.to_string()).1).unwrap();
    assert_eq!(v["restart_required"], json!(["trading.max_hops"]));
    let mut bad = cold.clone();
    bad["parameters"]["trading"]["min_profit_bps"] = json!(0);
    bad["parameters"]["trading"]["nope"] = json!(1);
    let (code, body) = http(&bot, "PUT", "/config", &bad.to_string());
    assert_eq!(code, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "invalid_config");
    assert_eq!(v["error"]["details"].as_array().unwrap().len(), 2, "{v}");
    sigterm_exits_zero_quickly(bot);
}

#[test]
fn sighup_rereads_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = template("triangular_arbitrage");
    let bot = spawn(&cfg, dir.path());
    assert_eq!(
        status(&bot)["config"]["parameters"]["trading"]["min_profit_bps"],
        30
    );
    cfg["parameters"]["trading"]["min_profit_bps"] = json!(77);
    std::fs::write(dir.path().join("bot.json"), cfg.to_string()).unwrap();
    let pid = bot.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_for("the reloaded config", Duration::from_secs(5), || {
        status(&bot)["config"]["parameters"]["trading"]["min_profit_bps"] == 77
    });
    assert_eq!(
        status(&bot)["pid"].as_u64(),
        Some(u64::from(bot.child.id()))
    );
    sigterm_exits_zero_quickly(bot);
}

#[test]
fn the_daily_loss_limit_stops_trading_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400;
    std::fs::write(
        dir.path().join("state/daily_pnl.json"),
        json!({"day": today, "pnl_usd": -1500.0}).to_string(),
    )
    .unwrap();
    let mut cfg = template("enhanced_arbitrage");
    cfg["parameters"]["trading"]["min_profit_bps"] = json!(1);
    let bot = spawn(&cfg, dir.path());
    let s = status(&bot);
    assert_eq!(s["status"]["state"], "error", "{s}");
    assert!(
        s["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("daily loss limit"),
        "{s}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status(&bot)["metrics"]["trades_executed"], 0);
    let (code, body) = http(&bot, "GET", "/health", "");
    assert_eq!(code, 503);
    assert!(body.contains("daily loss limit"), "{body}");
    // Not ready, yet alive: a supervisor's restart would not mend a loss limit (`/live` needs
    // no secret, as `/health`).
    let (code, body) = common::http(&bot.addr, "GET", "/live", None, "");
    assert_eq!((code, body.as_str()), (200, r#"{"live":true}"#));
    // An errored bot does not resume: illegal transition.
    let (code, body) = http(&bot, "POST", "/resume", "");
    assert_eq!(code, 409, "{body}");
    sigterm_exits_zero_quickly(bot);
}

#[test]
fn the_control_endpoint_refuses_requests_without_its_secret_or_from_a_foreign_host() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let bot = spawn(&template("triangular_arbitrage"), dir.path());
    // The secret the bot made is its owner's alone.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("state/control.secret"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // No secret, a wrong one: 401 for every route but /health, nothing applied.
    let mut loose = template("triangular_arbitrage");
    loose["parameters"]["trading"]["max_trade_sol"] = json!(1000);
    for token in [None, Some("wrong-wrong-wrong-wrong")] {
        for (method, path, body) in [
            ("GET", "/status", String::new()),
            ("GET", "/hdr", String::new()),
            ("GET", "/metrics", String::new()),
            ("PUT", "/config", loose.to_string()),
            ("POST", "/pause", String::new()),
            ("POST", "/stop", String::new()),
        ] {
            let (code, answer) = common::http(&bot.addr, method, path, token, &body);
            assert_eq!(code, 401, "{method} {path} with {token:?}: {answer}");
        }
        assert_eq!(common::http(&bot.addr, "GET", "/health", token, "").0, 200);
    }
    let s = status(&bot);
    assert_eq!(s["status"]["state"], "running", "{s}");
    assert_ne!(
        s["config"]["parameters"]["trading"]["max_trade_sol"],
        json!(1000),
        "{s}"
    );
    // A page that rebinds its own name to 127.0.0.1 sends that name: 403, even with the secret.
    let mut c = std::net::TcpStream::connect(&bot.addr).unwrap();
    write!(
        c,
        "POST /pause HTTP/1.1\r\nHost: attacker.example:80\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        bot.secret
    )
    .unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert_eq!(status(&bot)["status"]["state"], "running");
    sigterm_exits_zero_quickly(bot);
}

#[test]
fn illegal_transitions_are_refused_and_pause_resume_work() {
    let dir = tempfile::tempdir().unwrap();
    let bot = spawn(&template("triangular_arbitrage"), dir.path());
    let (code, body) = http(&bot, "POST", "/resume", "");
    assert_eq!(code, 409);
    assert!(
        body.contains("illegal status transition running -> running"),
        "{body}"
    );
    assert_eq!(http(&bot, "POST", "/pause", "").0, 200);
    assert_eq!(status(&bot)["status"]["state"], "paused");
    assert_eq!(http(&bot, "POST", "/pause", "").0, 409);
    assert_eq!(http(&bot, "POST", "/resume", "").0, 200);
    assert_eq!(http(&bot, "POST", "/stop", "").0, 202);
    let mut child = bot;
    let start = Instant::now();
    loop {
        if let Some(code) = child.child.try_wait().unwrap() {
            assert_eq!(code.code(), Some(0));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `sniperforge bot` on `cfg`: it must exit 2 listing exactly the errors at `paths`.
fn refused_with_errors(cfg: &Value, paths: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sniperforge"))
        .args(["bot", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{} error(s)", paths.len())), "{err}");
    for path in paths {
        assert!(err.contains(path), "{path}: {err}");
    }
}

#[test]
fn an_invalid_config_is_refused_with_all_its_errors() {
    let mut cfg = template("flash_loan_arbitrage");
    cfg["parameters"]["flash_loan"]["fee_bps"] = json!(500);
    cfg["parameters"]["execution"]["simulation_mode"] = json!(false);
    refused_with_errors(
        &cfg,
        &[
            "flash_loan.fee_bps",
            "execution.keypair_path",
            "execution.auto_execute",
            "execution.simulation_mode",
        ],
    );
}

#[test]
fn a_solana_feed_without_its_endpoint_and_live_mode_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let run = |cfg: &Value, extra: &[&str]| {
        let path = dir.path().join("cfg.json");
        std::fs::write(&path, cfg.to_string()).unwrap();
        Command::new(env!("CARGO_BIN_EXE_sniperforge"))
            .args(["bot", "--config"])
            .arg(&path)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&template("triangular_arbitrage"), &["--feed", "solana"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--feed solana"));
    let mut live = template("triangular_arbitrage");
    live["environment"] = json!("prod");
    live["parameters"]["execution"]["simulation_mode"] = json!(false);
    live["parameters"]["execution"]["auto_execute"] = json!(true);
    live["parameters"]["execution"]["keypair_path"] = json!("/etc/keys/bot.json");
    let out = run(&live, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("live execution needs --feed solana"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_dashboard_publishes_spreads_opportunities_and_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = template("real_time_dashboard");
    cfg["parameters"]["view"]["refresh_ms"] = json!(200);
    cfg["parameters"]["view"]["alert_spread_bps"] = json!(1);
    let bot = spawn(&cfg, dir.path());
    let mut s = Value::Null;
    wait_for("two publications", Duration::from_secs(30), || {
        s = status(&bot);
        s["outputs"]["market"]["pairs"][0]["series"]
            .as_array()
            .is_some_and(|a| a.len() >= 2)
    });
    let market = &s["outputs"]["market"];
    let pairs = market["pairs"].as_array().unwrap();
    let names: Vec<&str> = pairs.iter().map(|p| p["pair"].as_str().unwrap()).collect();
    assert_eq!(names, ["SOL/USDC", "SOL/USDT", "JUP/USDC", "BONK/SOL"]);
    for p in pairs {
        assert!(
            p["quotes"].as_object().unwrap().len() >= 2,
            "two venues per pair: {p}"
        );
        assert!(p["liquidity_usd"].as_f64().unwrap() > 0.0, "{p}");
    }
    assert!(market["updates"].as_u64().unwrap() > 0);
    // At a 1 bps threshold some pair is in alert, and the metrics say so.
    assert!(!market["alerts"].as_array().unwrap().is_empty(), "{market}");
    let custom = &s["metrics"]["custom_metrics"];
    assert!(custom["market_alerts"].as_f64().unwrap() >= 1.0, "{custom}");
    assert!(custom["max_spread_bps"].as_f64().unwrap() > 0.0);
    assert!(custom["feed_age_ms"].as_f64().is_some());
    let (code, hdr) = http(&bot, "GET", "/hdr", "");
    assert_eq!(code, 200);
    assert!(serde_json::from_str::<Value>(&hdr).unwrap()["stages"]["decoded"].is_string());
    // A hot change: a high threshold clears the alerts without a restart.
    let mut calm = cfg.clone();
    calm["parameters"]["view"]["alert_spread_bps"] = json!(10_000);
    let (code, body) = http(&bot, "PUT", "/config", &calm.to_string());
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("view.alert_spread_bps"), "{body}");
    wait_for("the alerts to clear", Duration::from_secs(10), || {
        status(&bot)["outputs"]["market"]["alerts"]
            .as_array()
            .is_some_and(Vec::is_empty)
    });
    sigterm_exits_zero_quickly(bot);
}

#[test]
fn an_invalid_dashboard_config_is_refused_with_all_its_errors() {
    let mut cfg = template("real_time_dashboard");
    cfg["parameters"]["view"]["top_opportunities"] = json!(0);
    cfg["parameters"]["view"]["alert_spread_bps"] = json!(-5);
    cfg["parameters"]["view"]["colour"] = json!("red");
    refused_with_errors(
        &cfg,
        &[
            "view.top_opportunities",
            "view.alert_spread_bps",
            "view.colour",
        ],
    );
}

#[test]
fn the_portfolio_manager_books_other_bots_fills_and_plans_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    // Siblings, as the agent lays bots out: DATA/bots/<bot_id>/.
    let bots = dir.path().join("bots");
    let mut arb = template("triangular_arbitrage");
    arb["bot_id"] = json!("arb");
    arb["parameters"]["trading"]["min_profit_bps"] = json!(1);
    arb["parameters"]["risk_management"]["emergency_stop_enabled"] = json!(false);
    let arb_bot = spawn_with_state(&arb, dir.path(), &bots.join("arb"));
    let mut pm = template("portfolio_manager");
    pm["bot_id"] = json!("pm");
    pm["parameters"]["portfolio"]["initial_balances"] = json!({"SOL": 100.0, "USDC": 1000.0});
    let pm_bot = spawn_with_state(&pm, dir.path(), &bots.join("pm"));
    let mut s = Value::Null;
    wait_for(
        "the arbitrage bot's fills in the books",
        Duration::from_secs(30),
        || {
            s = status(&pm_bot);
            s["outputs"]["portfolio"]["bots"]["arb"]["fills"]
                .as_u64()
                .unwrap_or(0)
                > 0
        },
    );
    let book = &s["outputs"]["portfolio"];
    assert!(
        book["total_value_usd"].as_f64().unwrap() > 10_000.0,
        "{book}"
    );
    assert!(book["realised_pnl_usd"].as_f64().is_some());
    assert!(book["unrealised_pnl_usd"].as_f64().is_some());
    // 100 SOL against 1,000 USDC is far from 50/50: an exposure alert and a plan selling SOL.
    assert!(
        book["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["token"] == "SOL"),
        "{book}"
    );
    let plan = book["plan"].as_array().unwrap();
    assert_eq!(plan[0]["sell"], "SOL", "{book}");
    assert_eq!(plan[0]["buy"], "USDC");
    assert!(plan[0]["expected_out"].as_f64().unwrap() > 0.0);
    assert!(
        s["metrics"]["custom_metrics"]["plan_trades"]
            .as_f64()
            .unwrap()
            >= 1.0,
        "{s}"
    );
    sigterm_exits_zero_quickly(pm_bot);
    sigterm_exits_zero_quickly(arb_bot);
    let journal = std::fs::read_to_string(bots.join("arb/fills.jsonl")).unwrap();
    assert!(journal.lines().count() > 0);
}

#[test]
fn cross_chain_trades_a_venue_premium_rebalances_and_survives_a_venue_outage() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut venue = common::venue_sim(port, 300.0);
    let mut cfg = template("cross_chain_arbitrage");
    cfg["parameters"]["trading"]["venue_url"] = json!(format!("ws://127.0.0.1:{port}/ticker"));
    cfg["parameters"]["trading"]["min_gap_bps"] = json!(20);
    cfg["parameters"]["trading"]["max_trade_usd"] = json!(2_000.0);
    cfg["parameters"]["bridge"]["delay_seconds"] = json!(1);
    cfg["parameters"]["bridge"]["rebalance_threshold_pct"] = json!(10.0);
    let bot = spawn(&cfg, dir.path());
    let mut s = Value::Null;
    wait_for(
        "trades and a bridge transfer",
        Duration::from_secs(30),
        || {
            s = status(&bot);
            s["outputs"]["cross_chain"]["trade_count"]
                .as_u64()
                .unwrap_or(0)
                >= 2
                && s["outputs"]["cross_chain"]["transfers"]
                    .as_array()
                    .is_some_and(|t| !t.is_empty())
        },
    );
    let book = &s["outputs"]["cross_chain"];
    // A 3% premium: buy on Solana, sell on the venue.
    assert_eq!(
        book["trades"][0]["way"], "buy on Solana, sell on the venue",
        "{book}"
    );
    assert!(
        book["trades"][0]["gap_bps"].as_f64().unwrap() >= 30.0,
        "{book}"
    );
    assert!(book["realised_usd"].as_f64().unwrap() > 0.0);
    assert!(book["pairs"][0]["venue"]["bid"].as_f64().unwrap() > 0.0);
    assert!(s["metrics"]["trades_executed"].as_u64().unwrap() >= 2);
    assert_eq!(http(&bot, "GET", "/health", "").0, 200);
    // The venue goes away: health says so and nothing trades on the last quote.
    venue.kill();
    wait_for(
        "the stale venue in /health",
        Duration::from_secs(10),
        || {
            let (code, body) = http(&bot, "GET", "/health", "");
            code == 503 && body.contains("venue stream")
        },
    );
    let trades = status(&bot)["outputs"]["cross_chain"]["trade_count"].clone();
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(
        status(&bot)["outputs"]["cross_chain"]["trade_count"],
        trades
    );
    // It comes back on the same port: the reader reconnects and the bot is healthy again.
    let venue = common::venue_sim(port, 300.0);
    wait_for("the reconnection", Duration::from_secs(15), || {
        http(&bot, "GET", "/health", "").0 == 200
    });
    assert!(
        status(&bot)["metrics"]["custom_metrics"]["venue_connects"]
            .as_f64()
            .unwrap()
            >= 2.0
    );
    sigterm_exits_zero_quickly(bot);
    drop(venue);
}

#[test]
fn ml_analytics_trains_predicts_and_evaluates_against_naive_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = template("ml_analytics");
    cfg["parameters"]["features"]["return_windows_s"] = json!([60, 300]);
    cfg["parameters"]["models"]["prediction_horizon_minutes"] = json!(5);
    cfg["parameters"]["features"]["retrain_interval_minutes"] = json!(60);
    let bot = spawn(&cfg, dir.path());
    let mut s = Value::Null;
    wait_for(
        "a prediction and a walk-forward evaluation",
        Duration::from_secs(120),
        || {
            s = status(&bot);
            s["outputs"]["ml"]["pairs"][0]["evaluation"].is_object()
        },
    );
    let pair = &s["outputs"]["ml"]["pairs"][0];
    assert_eq!(pair["pair"], "SOL/USDC");
    let p = &pair["prediction"];
    for k in [
        "return_bps",
        "lstm_bps",
        "random_forest_bps",
        "linear_bps",
        "confidence",
    ] {
        assert!(p[k].as_f64().is_some_and(f64::is_finite), "{k}: {pair}");
    }
    assert!(["up", "down", "none"].contains(&p["signal"].as_str().unwrap()));
    assert!(
        ["calm", "normal", "volatile"].contains(&pair["regime"].as_str().unwrap()),
        "{pair}"
    );
    let e = &pair["evaluation"];
    for k in [
        "lstm",
        "random_forest",
        "linear",
        "ensemble",
        "naive_zero_return",
        "naive_momentum",
    ] {
        assert!(e[k]["n"].as_u64().unwrap() > 0, "{k}: {e}");
    }
    let custom = &s["metrics"]["custom_metrics"];
    assert!(
        custom["eval_naive_rmse_bps"].as_f64().unwrap() > 0.0,
        "{custom}"
    );
    assert!(custom["regime"].as_f64().is_some());
    // A hot change: the LSTM off — the next prediction has none from it.
    let mut no_lstm = cfg.clone();
    no_lstm["parameters"]["models"]["lstm_enabled"] = json!(false);
    let (code, body) = http(&bot, "PUT", "/config", &no_lstm.to_string());
    assert_eq!(code, 200, "{body}");
    sigterm_exits_zero_quickly(bot);
}

#[test]
fn an_invalid_ml_config_is_refused_with_all_its_errors() {
    let mut cfg = template("ml_analytics");
    cfg["parameters"]["models"]["ensemble_weights"] = json!([0.9, 0.3, 0.3]);
    cfg["parameters"]["models"]["confidence_threshold"] = json!(2);
    cfg["parameters"]["features"]["return_windows_s"] = json!([]);
    refused_with_errors(
        &cfg,
        &[
            "models.ensemble_weights",
            "models.confidence_threshold",
            "features.return_windows_s",
        ],
    );
}

use common::threads_of;

/// A `Cpus_allowed_list` (`0-3,6`) as core numbers.
fn parse_list(list: &str) -> Vec<usize> {
    sniperforge_protocol::cpus::parse_cpu_list(list).unwrap()
}

/// The cores this test may use, from its own mask.
fn my_cores() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    parse_list(
        status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap(),
    )
}

#[test]
fn the_bot_pins_its_strategy_and_feed_threads_and_keeps_the_rest_off_them() {
    let cores = my_cores();
    assert!(cores.len() >= 2, "this test needs two cores: {cores:?}");
    let (feed, strategy) = (cores[cores.len() - 2], cores[cores.len() - 1]);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = template("triangular_arbitrage");
    cfg["bot_id"] = json!("pin");
    cfg["resources"]["cores"] = json!([feed, strategy]);
    cfg["parameters"]["execution"]["spin"] = json!(false);
    let bot = spawn(&cfg, dir.path());
    wait_for(
        "the bot to process updates",
        Duration::from_secs(30),
        || http(&bot, "GET", "/health", "").0 == 200,
    );
    let threads = threads_of(bot.child.id());
    let find = |name: &str| {
        threads
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no thread {name}: {threads:?}"))
            .1
            .clone()
    };
    assert_eq!(find("strategy-pin"), vec![strategy], "{threads:?}");
    assert_eq!(find("feed-pin"), vec![feed], "{threads:?}");
    // Everything else (executor, control endpoint, the main thread) stays off the strategy's
    // core: on the unreserved cores, or where none is left, the feed's.
    for (name, allowed) in &threads {
        if name == "strategy-pin" {
            continue;
        }
        assert!(
            !allowed.contains(&strategy),
            "{name} may run on the strategy's core {strategy}: {threads:?}"
        );
    }
    let (_, health) = http(&bot, "GET", "/health", "");
    let health: Value = serde_json::from_str(&health).unwrap();
    let details = health["details"].to_string();
    assert!(
        details.contains(&format!("strategy on core {strategy}")),
        "{health}"
    );
    sigterm_exits_zero_quickly(bot);
}

#[test]
fn in_a_nomad_allocation_the_reserved_cores_are_the_ones_nomad_chose() {
    // Nomad picks the cores of `resources { cores = N }` itself and says which in
    // NOMAD_CPU_CORES; the configured ones (here a core the machine lacks) take their place, in
    // order, and the other threads keep to the node's shared cores.
    let cores = my_cores();
    assert!(cores.len() >= 2, "this test needs two cores: {cores:?}");
    let (shared, reserved) = (cores[0], cores[cores.len() - 1]);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = template("triangular_arbitrage");
    cfg["bot_id"] = json!("nomad");
    cfg["resources"]["cores"] = json!([1000]);
    let bot = spawn_how(
        &cfg,
        &dir.path().join("bot.json"),
        &dir.path().join("state"),
        |c| {
            c.env("NOMAD_CPU_CORES", reserved.to_string())
                .args(["--shared-cores", &shared.to_string()])
        },
    );
    wait_for(
        "the bot to process updates",
        Duration::from_secs(30),
        || http(&bot, "GET", "/health", "").0 == 200,
    );
    let threads = threads_of(bot.child.id());
    for (name, allowed) in &threads {
        let want = if name == "strategy-nomad" {
            reserved
        } else {
            shared
        };
        assert_eq!(allowed, &vec![want], "{name}: {threads:?}");
    }
    let (_, health) = http(&bot, "GET", "/health", "");
    let details = serde_json::from_str::<Value>(&health).unwrap()["details"].to_string();
    assert!(
        details.contains("NOMAD_CPU_CORES") && details.contains(&format!("core {reserved}")),
        "{health}"
    );
    sigterm_exits_zero_quickly(bot);
}

#[test]
fn a_core_the_machine_lacks_is_a_warning_and_the_bot_runs_unpinned() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = template("triangular_arbitrage");
    cfg["bot_id"] = json!("nopin");
    cfg["resources"]["cores"] = json!([1000, 1001]);
    cfg["parameters"]["trading"]["min_profit_bps"] = json!(1);
    let bot = spawn(&cfg, dir.path());
    wait_for("the bot to trade", Duration::from_secs(30), || {
        status(&bot)["metrics"]["trades_executed"]
            .as_u64()
            .unwrap_or(0)
            > 0
    });
    let (code, health) = http(&bot, "GET", "/health", "");
    assert_eq!(code, 200, "healthy, with a warning: {health}");
    let health: Value = serde_json::from_str(&health).unwrap();
    let details = health["details"].to_string();
    assert!(
        details.contains("[1000, 1001]") && details.contains("unpinned"),
        "{health}"
    );
    let mine = my_cores().len();
    let strategy = threads_of(bot.child.id())
        .into_iter()
        .find(|(n, _)| n == "strategy-nopin")
        .unwrap();
    assert!(
        mine == 1 || strategy.1.len() == mine,
        "unpinned: {strategy:?}"
    );
    sigterm_exits_zero_quickly(bot);
}
