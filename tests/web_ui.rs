//! The web UI: its type check and component tests (tsc, vitest in jsdom), and its end-to-end
//! test in headless Chromium (web/e2e/run.mjs, playwright-core driving Debian's chromium)
//! against `sniperforge up` — a real gateway, agent and bots on loopback. Screenshots of each
//! page land in `$SNIPERFORGE_E2E_ARTIFACTS` (default: target/tmp/web-e2e).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{free_port, up};
use serde_json::{Value, json};

/// The two tests take turns: tsc and vitest on every core would starve the browser run, whose
/// steps wait on the page with timeouts (a 30 s wait once ran out that way).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
}

/// npm in web/ (its node_modules were installed by the gateway's build script).
fn npm(args: &[&str], envs: &[(&str, String)]) -> (bool, String) {
    let out = Command::new("npm")
        .args(args)
        .current_dir(web_dir())
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("npm runs (the gateway's build script needed it too)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn have_node_modules() -> bool {
    if web_dir().join("node_modules/.package-lock.json").exists() {
        return true;
    }
    common::skip_unless_ci(
        "web UI tests",
        "web/node_modules missing (the UI was embedded from SNIPERFORGE_WEB_DIST)",
    );
    false
}

#[test]
fn web_typecheck_and_component_tests_pass() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !have_node_modules() {
        return;
    }
    let (ok, out) = npm(&["exec", "--", "tsc", "--noEmit"], &[]);
    assert!(ok, "tsc --noEmit:\n{out}");
    let (ok, out) = npm(&["exec", "--", "vitest", "run"], &[]);
    println!("{out}");
    assert!(ok, "vitest run failed:\n{out}");
}

#[test]
fn web_ui_drives_the_fleet_in_headless_chromium() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        common::skip_unless_ci(
            "web_ui_drives_the_fleet_in_headless_chromium",
            &format!("no {chromium} (apt-get install chromium)"),
        );
        return;
    }
    if !have_node_modules() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_up, gw) = up(&dir.path().join("data"), free_port());
    for (name, role) in [("olga", "operator"), ("victor", "viewer")] {
        gw.ok(
            "PUT",
            &format!("/api/v1/auth/users/{name}"),
            &json!({"password": format!("{name}-password-123"), "role": role}),
        );
    }
    let artifacts = std::env::var("SNIPERFORGE_E2E_ARTIFACTS")
        .unwrap_or_else(|_| format!("{}/web-e2e", env!("CARGO_TARGET_TMPDIR")));
    let _ = std::fs::remove_dir_all(&artifacts);
    let (ok, out) = npm(
        &["run", "--silent", "e2e"],
        &[
            ("SF_URL", gw.url()),
            ("SF_OPERATOR", "olga:olga-password-123".into()),
            ("SF_VIEWER", "victor:victor-password-123".into()),
            ("SF_ADMIN_TOKEN", gw.token.clone()),
            ("SF_ARTIFACTS", artifacts.clone()),
            ("SF_CORES", "0".into()),
            ("CHROMIUM", chromium),
        ],
    );
    println!("{out}");
    assert!(
        ok,
        "the browser test failed (screenshots in {artifacts}):\n{out}"
    );
    // What the browser did, as the gateway saw it.
    let bot = gw.ok("GET", "/api/v1/bots/ui-triangular", &Value::Null);
    assert_eq!(bot["config"]["version"], 2, "{bot}");
    assert_eq!(
        bot["config"]["body"]["parameters"]["trading"]["min_profit_bps"],
        45
    );
    let bots = gw.ok("GET", "/api/v1/bots", &Value::Null);
    assert!(
        bots["bots"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["desired_state"] == "stopped"),
        "the emergency stop stopped every bot: {bots}"
    );
    for page in [
        "01-login",
        "02-fleet",
        "04-bot-detail",
        "07-market",
        "08-alerts",
        "09-viewer-bot",
    ] {
        assert!(
            Path::new(&artifacts).join(format!("{page}.png")).exists(),
            "screenshot {page}"
        );
    }
}
