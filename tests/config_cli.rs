//! End-to-end tests of `sniperforge config template|schema|validate`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sniperforge"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_template_validates_and_every_schema_marks_hot_fields() {
    let dir = tempfile::tempdir().unwrap();
    for t in [
        "enhanced_arbitrage",
        "triangular_arbitrage",
        "flash_loan_arbitrage",
        "cross_chain_arbitrage",
        "ml_analytics",
        "portfolio_manager",
        "real_time_dashboard",
    ] {
        let out = run(&["config", "template", t]);
        assert!(out.status.success());
        let path = dir.path().join(format!("{t}.json"));
        std::fs::write(&path, &out.stdout).unwrap();
        let v = run(&["config", "validate", path.to_str().unwrap()]);
        assert!(
            v.status.success(),
            "{t}: {}",
            String::from_utf8_lossy(&v.stderr)
        );
        let schema: serde_json::Value =
            serde_json::from_slice(&run(&["config", "schema", t]).stdout).unwrap();
        let sections = schema["properties"]["parameters"]["properties"]
            .as_object()
            .unwrap();
        for (name, section) in sections {
            for (field, spec) in section["properties"].as_object().unwrap() {
                assert!(
                    spec["x-hot-reload"].is_boolean(),
                    "{t} {name}.{field} lacks x-hot-reload"
                );
            }
        }
    }
}

#[test]
fn validate_lists_every_error_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut v: serde_json::Value =
        serde_json::from_slice(&run(&["config", "template", "flash_loan_arbitrage"]).stdout)
            .unwrap();
    v["parameters"]["flash_loan"]["provider"] = "acme".into();
    v["parameters"]["risk_management"]["max_daily_loss_usd"] = 50.into();
    v["parameters"]["trading"]["unknown_knob"] = true.into();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let out = run(&["config", "validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3 error(s)"), "{err}");
    assert!(
        err.contains("flash_loan.provider: must be one of marginfi, solend, kamino, got \"acme\""),
        "{err}"
    );
    assert!(
        err.contains(
            "risk_management.max_daily_loss_usd: must be a number between 100 and 10000, got 50"
        ),
        "{err}"
    );
    assert!(err.contains("trading.unknown_knob: unknown field"), "{err}");
    let missing = run(&["config", "validate", "/nonexistent.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        run(&["config", "schema", "arbitrage"]).status.code(),
        Some(2)
    );
}
