//! End-to-end tests of `sniperforge bench latency`, `bench baseline` and `bench gateway`: the files they write
//! and the shape of the report.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sniperforge"))
}

#[test]
fn latency_writes_the_report_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "bench",
            "latency",
            "--rate",
            "20000",
            "--duration",
            "1",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "report.md",
        "report.json",
        "decoded.hgrm",
        "detected.hgrm",
        "decided.hgrm",
        "executed.hgrm",
        "latency.svg",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    for stage in ["decoded", "detected", "decided", "executed"] {
        for key in ["count", "p50", "p90", "p99", "p999", "p9999", "max"] {
            assert!(
                json["stages"][stage][key].is_u64(),
                "stages.{stage}.{key}: {json}"
            );
        }
    }
    assert!(
        json["stages"]["decided"]["count"].as_u64().unwrap() >= 19_000,
        "{json}"
    );
    assert!(json["throughput_per_s"].as_f64().unwrap() > 10_000.0);
    assert!(json["updates_coalesced"].is_u64());
    assert!(
        json["detection_per_update_ns"]["indexed_cycles"]
            .as_u64()
            .unwrap()
            >= 10_000
    );
    let hgrm = std::fs::read_to_string(dir.path().join("decided.hgrm")).unwrap();
    assert!(hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
    assert!(
        std::fs::read_to_string(dir.path().join("latency.svg"))
            .unwrap()
            .contains("<polyline")
    );
}

#[test]
fn baseline_writes_its_comparison_and_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["bench", "baseline", "--updates", "150", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("baseline.json")).unwrap()).unwrap();
    assert_eq!(json["updates"], 150);
    assert_eq!(json["missed"], 0);
    assert!(json["baseline_found"].as_u64().unwrap() > 0, "{json}");
    // The engine orders what it finds, sized at least as well as the baseline's ladder.
    assert!(json["ordered_compared"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(json["ordered_below"], 0, "{json}");
}

#[test]
fn bad_bench_arguments_are_refused_with_a_message() {
    let out = bin()
        .args(["bench", "latency", "--duration", "0", "--out", "/tmp/x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--duration"));
    let out = bin()
        .args(["bench", "latency", "--rate", "fast", "--out", "/tmp/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_recording_replays_through_the_latency_bench() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sim.sfrec");
    let out = bin()
        .args(["record", "--updates", "5000", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = dir.path().join("report");
    let out = bin()
        .args([
            "bench",
            "latency",
            "--rate",
            "0",
            "--duration",
            "20",
            "--replay",
        ])
        .arg(&file)
        .arg("--out")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["updates_produced"], 5000);
    assert_eq!(
        json["updates_processed"].as_u64().unwrap() + json["updates_coalesced"].as_u64().unwrap(),
        5000
    );
    // A file that is not a recording is refused with a message.
    std::fs::write(dir.path().join("junk"), b"junk junk junk junk").unwrap();
    let out = bin()
        .args([
            "bench",
            "latency",
            "--rate",
            "0",
            "--duration",
            "1",
            "--replay",
        ])
        .arg(dir.path().join("junk"))
        .arg("--out")
        .arg(dir.path().join("r2"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a SniperForge recording"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn handover_restarts_bots_both_ways_on_one_market_and_reports_the_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["bench", "handover", "--bots", "2", "--rounds", "2", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    for way in [&report, &report["stop_then_start"]] {
        assert_eq!(way["restarts"], 4, "{report}");
        assert_eq!(way["double_trading"], 0, "{report}");
        let gap = &way["gap_ns"];
        for k in ["p50", "p99", "max"] {
            assert!(gap[k].as_i64().unwrap() > 0, "{report}");
        }
        assert!(gap["p50"].as_i64() <= gap["max"].as_i64(), "{report}");
        // Per bot too.
        let per_bot = way["per_bot"].as_object().unwrap();
        assert_eq!(per_bot.len(), 2, "{report}");
        for b in per_bot.values() {
            assert_eq!(b["gap_ns"]["n"], 2, "{report}");
        }
        assert!(
            way["missed_updates"]["total"].as_u64().is_some(),
            "{report}"
        );
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("| warm handover | 4 |") && md.contains("| stop then start | 4 |"),
        "{md}"
    );
    // No bot of either run is left behind (the agents stop theirs as they stop).
    let needle = dir.path().as_os_str().as_encoded_bytes().to_vec();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| c.windows(needle.len()).any(|w| w == needle.as_slice()))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let out = bin()
        .args(["bench", "handover", "--bots", "0", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn gateway_load_runs_a_real_gateway_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "bench",
            "gateway",
            "--bots",
            "3",
            "--rate",
            "20",
            "--duration",
            "1",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("gateway-load.json")).unwrap())
            .unwrap();
    assert_eq!(report["get_bots"]["requests"], 20, "{report}");
    assert_eq!(report["get_bots"]["errors"], 0, "{report}");
    assert_eq!(report["ingest"]["requests"], 1, "{report}");
    assert!(report["get_bots"]["latency_us"]["p99"].as_f64().unwrap() > 0.0);
    assert!(
        std::fs::read_to_string(dir.path().join("gateway-load.md"))
            .unwrap()
            .contains("GET /api/v1/bots")
    );
    // Zero is refused with a message, not a panic.
    let out = bin()
        .args(["bench", "gateway", "--rate", "0", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 1"));
}

#[test]
fn bench_bot_measures_a_real_bot_process_and_writes_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "bench",
            "bot",
            "--type",
            "triangular_arbitrage",
            "--rate",
            "5000",
            "--duration",
            "2",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "report.md",
        "report.json",
        "decoded.hgrm",
        "detected.hgrm",
        "decided.hgrm",
        "latency.svg",
        "bot.json",
        "bot.log",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    for stage in ["decoded", "detected", "decided"] {
        for key in ["count", "p50", "p90", "p99", "p999", "p9999", "max"] {
            assert!(
                json["stages"][stage][key].is_u64(),
                "stages.{stage}.{key}: {json}"
            );
        }
    }
    // Two seconds at 5,000 updates/s, read from the bot's own /hdr.
    let count = json["stages"]["decided"]["count"].as_u64().unwrap();
    assert!((7_000..=11_000).contains(&count), "{json}");
    assert!(json["runtime"].as_str().unwrap().contains("core"), "{json}");
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("Runtime:") && md.contains("chosen for this machine"),
        "{md}"
    );
}

#[test]
fn bench_bot_refuses_an_unknown_type_and_a_zero_rate() {
    let out = bin()
        .args(["bench", "bot", "--type", "hft_magic", "--out", "/tmp/x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--type \"hft_magic\""));
    let out = bin()
        .args([
            "bench",
            "bot",
            "--type",
            "triangular_arbitrage",
            "--rate",
            "0",
            "--out",
            "/tmp/x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rate"));
}
