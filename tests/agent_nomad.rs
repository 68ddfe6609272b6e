//! The agent's Nomad backend against an in-process server speaking Nomad's HTTP API (exact wire
//! format; it runs each job's raw_exec task as a real `sniperforge bot` process with the group's
//! restart policy), a real gateway and the real binary: the registered job matches
//! nomad/bot.nomad.hcl field by field; start, hot reload (same process), restart, crash then
//! restart by the task's restart policy seen through the event stream, agent restart adopting
//! the job, stop (deregister with purge). A second tier runs the same against a real
//! `nomad agent -dev` when `nomad` is on PATH.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

mod common;

use std::time::Duration;

use common::nomad::FakeNomad;
use common::{
    Gateway, Reap, T, alive, assert_one_holder_at_a_time, free_port, pid_of, start_agent, template,
    until, venue_sim, wait_for,
};
use serde_json::{Value, json};

/// nomad/bot.nomad.hcl evaluated with these variables, as JSON.
fn hcl_job(vars: &Value) -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/nomad/bot.nomad.hcl"))
        .unwrap();
    let mut ctx = hcl::eval::Context::new();
    let var: hcl::Value = hcl::to_value(vars).unwrap();
    ctx.declare_var("var", var);
    // Runtime interpolations Nomad resolves on the client stay literal.
    ctx.declare_var(
        "node",
        hcl::to_value(json!({"unique": {"name": "${node.unique.name}"}})).unwrap(),
    );
    ctx.declare_var("NOMAD_PORT_control", "${NOMAD_PORT_control}");
    ctx.declare_var("string", "string");
    ctx.declare_var("bool", "bool");
    ctx.declare_var("number", "number");
    ctx.declare_func(
        "list",
        hcl::eval::FuncDef::builder()
            .param(hcl::eval::ParamType::Any)
            .build(|_| Ok(hcl::Value::from("list"))),
    );
    // Nomad's concat(list, ...): the lists joined.
    ctx.declare_func(
        "concat",
        hcl::eval::FuncDef::builder()
            .variadic_param(hcl::eval::ParamType::Any)
            .build(|args| {
                let mut all = Vec::new();
                for a in args.iter() {
                    all.extend(a.as_array().ok_or("concat takes lists")?.iter().cloned());
                }
                Ok(hcl::Value::Array(all))
            }),
    );
    let body: hcl::Value = hcl::eval::from_str(&text, &ctx).unwrap();
    serde_json::to_value(body).unwrap()
}

fn duration_ns(s: &Value) -> i64 {
    let s = s.as_str().unwrap();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap());
    let n: i64 = n.parse().unwrap();
    n * match unit {
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        other => panic!("unit {other}"),
    }
}

/// Field-by-field: the job the agent registered against the HCL file.
fn assert_matches_hcl(job: &Value, vars: &Value) {
    let hcl = hcl_job(vars);
    let spec = &hcl["job"]["sniperforge-bot"];
    assert_eq!(
        job["ID"],
        format!("sniperforge-bot-{}", vars["bot_id"].as_str().unwrap())
    );
    assert_eq!(job["Type"], spec["type"]);
    assert_eq!(job["Namespace"], spec["namespace"]);
    assert_eq!(job["Datacenters"], spec["datacenters"]);
    assert_eq!(job["Priority"], spec["priority"]);
    let c = &job["Constraints"][0];
    assert_eq!(c["LTarget"], spec["constraint"]["attribute"]);
    assert_eq!(c["RTarget"], spec["constraint"]["value"]);
    assert_eq!(c["Operand"], "=");
    let u = &spec["update"];
    assert_eq!(job["Update"]["MaxParallel"], u["max_parallel"]);
    assert_eq!(job["Update"]["HealthCheck"], u["health_check"]);
    assert_eq!(
        job["Update"]["MinHealthyTime"],
        duration_ns(&u["min_healthy_time"])
    );
    assert_eq!(
        job["Update"]["HealthyDeadline"],
        duration_ns(&u["healthy_deadline"])
    );
    assert_eq!(
        job["Update"]["ProgressDeadline"],
        duration_ns(&u["progress_deadline"])
    );
    assert_eq!(job["Update"]["AutoRevert"], u["auto_revert"]);
    assert_eq!(job["Update"]["Canary"], u["canary"]);
    assert_eq!(job["Update"]["AutoPromote"], u["auto_promote"]);
    let g = &spec["group"]["bot"];
    let tg = &job["TaskGroups"][0];
    assert_eq!(tg["Name"], "bot");
    assert_eq!(tg["Count"], g["count"]);
    let r = &g["restart"];
    assert_eq!(tg["RestartPolicy"]["Attempts"], r["attempts"]);
    assert_eq!(tg["RestartPolicy"]["Interval"], duration_ns(&r["interval"]));
    assert_eq!(tg["RestartPolicy"]["Delay"], duration_ns(&r["delay"]));
    assert_eq!(tg["RestartPolicy"]["Mode"], r["mode"]);
    // A dynamic port: no value, Nomad picks one per allocation.
    let port = &tg["Networks"][0]["DynamicPorts"][0];
    assert_eq!(port["Label"], "control");
    assert!(port.get("Value").is_none(), "{port}");
    assert_eq!(g["network"]["port"]["control"], json!({}));
    assert!(tg["Networks"][0].get("ReservedPorts").is_none());
    let svc = &tg["Services"][0];
    assert_eq!(svc["Name"], g["service"]["name"]);
    assert_eq!(svc["Provider"], g["service"]["provider"]);
    assert_eq!(svc["PortLabel"], g["service"]["port"]);
    assert_eq!(svc["Address"], g["service"]["address"]);
    // Two checks: ready (/health, no restart) and live (/live, check_restart).
    let checks = g["service"]["check"].as_array().expect("two check blocks");
    assert_eq!(checks.len(), 2);
    assert_eq!(svc["Checks"].as_array().map(Vec::len), Some(2));
    for (i, check) in checks.iter().enumerate() {
        let c = &svc["Checks"][i];
        assert_eq!(c["Name"], check["name"]);
        assert_eq!(c["Type"], check["type"]);
        assert_eq!(c["Path"], check["path"]);
        assert_eq!(c["Interval"], duration_ns(&check["interval"]));
        assert_eq!(c["Timeout"], duration_ns(&check["timeout"]));
        match check.get("check_restart") {
            None => assert!(c.get("CheckRestart").is_none(), "{c}"),
            Some(r) => {
                assert_eq!(c["CheckRestart"]["Limit"], r["limit"]);
                assert_eq!(c["CheckRestart"]["Grace"], duration_ns(&r["grace"]));
                assert_eq!(c["CheckRestart"]["IgnoreWarnings"], r["ignore_warnings"]);
            }
        }
    }
    assert_eq!(checks[0]["path"], "/health");
    assert_eq!(checks[1]["path"], "/live");
    assert!(checks[0].get("check_restart").is_none());
    let t = &g["task"]["bot"];
    let task = &tg["Tasks"][0];
    assert_eq!(task["Name"], "bot");
    assert_eq!(task["Driver"], t["driver"]);
    // No user (the agent's own account): the job omits it, the file's default is empty.
    assert_eq!(task["User"].as_str().unwrap_or(""), t["user"]);
    assert_eq!(task["Config"]["command"], t["config"]["command"]);
    assert_eq!(task["Config"]["args"], t["config"]["args"]);
    assert_eq!(task["Env"], t["env"]);
    assert_eq!(task["Meta"], t["meta"]);
    assert_eq!(task["KillSignal"], t["kill_signal"]);
    assert_eq!(task["KillTimeout"], duration_ns(&t["kill_timeout"]));
    assert_eq!(task["Resources"]["Cores"], t["resources"]["cores"]);
    assert_eq!(task["Resources"]["MemoryMB"], t["resources"]["memory"]);
}

#[test]
fn nomad_backend_registers_the_job_spec_and_follows_allocations() {
    let dir = tempfile::tempdir().unwrap();
    let nomad = FakeNomad::start();
    let gw = Gateway::start(dir.path());
    let node_dir = dir.path().join("node");
    let url = nomad.url();
    let args = [
        "--backend",
        "nomad",
        "--nomad-addr",
        url.as_str(),
        "--nomad-node",
        "edge-7",
    ];
    let mut agent = start_agent(&gw, &node_dir, "nd1", &args);

    let mut cfg = template("flash_loan_arbitrage");
    cfg["bot_id"] = json!("fl-1");
    cfg["resources"]["cores"] = json!([0, 1]);
    cfg["resources"]["memory_mb"] = json!(768);
    gw.ok(
        "POST",
        "/api/v1/bots",
        &json!({"node_id": "nd1", "config": cfg}),
    );
    gw.ok("POST", "/api/v1/bots/fl-1/start", &Value::Null);
    let s = until(&gw, "fl-1", "running", |s| {
        s["state"] == "running" && pid_of(s) > 0
    });
    assert_eq!(s["backend"], "nomad");
    let pid = pid_of(&s);
    assert_eq!(
        nomad.pid("sniperforge-bot-fl-1"),
        Some(pid as u32),
        "Nomad's task is the bot"
    );

    let job = nomad.registered().last().cloned().unwrap();
    let vars = json!({
        "bot_id": "fl-1",
        "node": "edge-7",
        "generation": "1",
        "healthy_deadline_s": 30,
        "cores": 2,
        "memory_mb": 768,
        "data_dir": node_dir.display().to_string(),
        "binary": common::EXE,
        "feed": "sim",
        "feed_args": [],
        "seed": "7",
        "user": "",
        "environment": "dev",
        "failover": true,
    });
    assert_matches_hcl(&job, &vars);
    // The job is in its environment's namespace, which the agent created.
    assert_eq!(
        nomad.namespace("sniperforge-bot-fl-1").as_deref(),
        Some("dev")
    );
    assert_eq!(nomad.namespaces(), ["dev"]);

    // Logs reach the gateway through --log-file.
    wait_for("log lines at the gateway", T, || {
        let l = gw.ok("GET", "/api/v1/system/logs/fl-1", &Value::Null);
        (!l["lines"].as_array()?.is_empty()).then_some(())
    });

    // Hot change: PUT /config on the control endpoint; same process, no new job version.
    let registered = nomad.registered().len();
    cfg["parameters"]["trading"]["min_profit_bps"] = json!(11);
    gw.ok("PUT", "/api/v1/configs/fl-1", &cfg);
    until(&gw, "fl-1", "config v2", |s| s["config_version"] == 2);
    wait_for("the bot to apply min_profit_bps 11", T, || {
        let secret = std::fs::read_to_string(node_dir.join("bots/fl-1/control.secret")).ok()?;
        let st = common::http(
            &format!("127.0.0.1:{}", s["control_port"]),
            "GET",
            "/status",
            Some(&secret),
            "",
        )
        .1;
        let v: Value = serde_json::from_str(&st).ok()?;
        (v["config"]["parameters"]["trading"]["min_profit_bps"] == 11).then_some(())
    });
    assert_eq!(pid_of(&gw.reported("fl-1")), pid);
    assert_eq!(
        nomad.registered().len(),
        registered,
        "a hot change registers nothing"
    );

    // Restart request: a new job version (the task's generation), deployed as a canary.
    gw.ok("POST", "/api/v1/bots/fl-1/restart", &Value::Null);
    let s = until(&gw, "fl-1", "restarted", |s| {
        s["state"] == "running"
            && pid_of(s) != pid
            && pid_of(s) != 0
            && s["handover"]["outcome"] == "completed"
    });
    assert_eq!(s["handover"]["trigger"], "restart", "{s}");
    let pid = pid_of(&s);

    // Crash: the group's restart policy restarts the task; the event stream tells the agent.
    common::signal(pid as u32, "KILL");
    let s = until(&gw, "fl-1", "restarted after a crash", |s| {
        s["state"] == "running"
            && pid_of(s) != pid
            && pid_of(s) != 0
            && s["restarts"].as_u64() >= Some(1)
    });
    let pid = pid_of(&s);

    // Agent restart: adopts the job, the task keeps running.
    agent.kill();
    let mut agent = start_agent(&gw, &node_dir, "nd1", &args);
    std::thread::sleep(Duration::from_secs(3));
    let s = until(&gw, "fl-1", "adopted", |s| s["state"] == "running");
    assert_eq!(pid_of(&s), pid, "adopted, not restarted");
    assert!(alive(pid as u32));

    // Stop: deregistered and purged, the process ends.
    gw.ok("POST", "/api/v1/bots/fl-1/stop", &Value::Null);
    until(&gw, "fl-1", "stopped", |s| s["state"] == "stopped");
    wait_for("the job to be purged", T, || {
        nomad.jobs().is_empty().then_some(())
    });
    wait_for("the process to end", T, || {
        (!alive(pid as u32)).then_some(())
    });
    agent.terminate(Duration::from_secs(10));
}

fn trades(gw: &Gateway, id: &str) -> u64 {
    let m = gw.ok("GET", &format!("/api/v1/bots/{id}/metrics"), &Value::Null);
    m["metrics"]["trades_executed"].as_u64().unwrap_or(0)
}

/// A cold change under Nomad: the new version runs as a canary beside the trading allocation,
/// in standby, and is promoted once its check has passed; the old allocation drains and the
/// canary takes the lease (one holder at a time). A version that never gets healthy is reverted
/// and the old allocation trades on; a hung bot is restarted by `check_restart`.
#[test]
fn nomad_deploys_cold_changes_as_canaries_reverts_unhealthy_ones_and_restarts_hung_bots() {
    let venue = free_port();
    let _venue = venue_sim(venue, 300.0);
    let dir = tempfile::tempdir().unwrap();
    let nomad = FakeNomad::start();
    let gw = Gateway::start(dir.path());
    let node_dir = dir.path().join("node");
    let _reap = Reap(node_dir.clone());
    let url = nomad.url();
    let args = [
        "--backend",
        "nomad",
        "--nomad-addr",
        url.as_str(),
        "--nomad-node",
        "edge-7",
        "--handover-ready-ms",
        "6000",
    ];
    let mut agent = start_agent(&gw, &node_dir, "nd1", &args);
    let job = "sniperforge-bot-xc-1";
    let mut cfg = template("cross_chain_arbitrage");
    cfg["bot_id"] = json!("xc-1");
    cfg["resources"]["cores"] = json!([]);
    cfg["parameters"]["trading"]["venue_url"] = json!(format!("ws://127.0.0.1:{venue}/ticker"));
    cfg["parameters"]["trading"]["min_gap_bps"] = json!(20);
    cfg["parameters"]["trading"]["max_trade_usd"] = json!(2_000.0);
    gw.ok(
        "POST",
        "/api/v1/bots",
        &json!({"node_id": "nd1", "config": cfg}),
    );
    gw.ok("POST", "/api/v1/bots/xc-1/start", &Value::Null);
    let s = until(&gw, "xc-1", "running", |s| {
        s["state"] == "running" && pid_of(s) > 0
    });
    let first = pid_of(&s);
    wait_for("trades", T, || (trades(&gw, "xc-1") > 0).then_some(()));
    let allocs = nomad.allocs(job);
    assert_eq!(allocs.len(), 1);
    assert_eq!(s["control_port"], allocs[0].port, "the port Nomad gave it");
    wait_for("the first deployment to succeed", T, || {
        (nomad.deployments(job).last()?.status == "successful").then_some(())
    });

    // A cold change: a canary beside the running allocation, which trades on meanwhile.
    cfg["resources"]["memory_mb"] = json!(1024);
    gw.ok("PUT", "/api/v1/configs/xc-1", &cfg);
    let canary = wait_for("a canary beside the running allocation", T, || {
        let allocs = nomad.allocs(job);
        let canary = allocs.iter().find(|a| a.canary && a.pid.is_some())?.clone();
        (allocs[0].pid == Some(first as u32) && allocs[0].desired == "run").then_some(canary)
    });
    assert_ne!(canary.port, allocs[0].port, "a port of its own");
    let s = until(&gw, "xc-1", "promoted for v2", |s| {
        s["config_version"] == 2
            && s["handover"]["outcome"] == "completed"
            && pid_of(s) != first
            && s["state"] == "running"
    });
    let second = pid_of(&s);
    assert_eq!(second, u64::from(canary.pid.unwrap()), "the canary trades");
    assert_eq!(s["control_port"], canary.port, "{s}");
    assert_eq!(s["handover"]["trigger"], "config", "{s}");
    assert!(
        s["handover"]["cause"]
            .as_str()
            .unwrap()
            .contains("configuration version 2 changes resources"),
        "{s}"
    );
    let d = nomad.deployments(job).last().cloned().unwrap();
    assert_eq!(
        (d.status.as_str(), d.canaries, d.promoted),
        ("successful", 1, true),
        "{d:?}"
    );
    assert_eq!(
        nomad.registered().last().unwrap()["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMB"],
        1024
    );
    wait_for("the old allocation to end", T, || {
        (!alive(first as u32)).then_some(())
    });
    let before = trades(&gw, "xc-1");
    wait_for("the canary trading", T, || {
        (trades(&gw, "xc-1") > before).then_some(())
    });

    // A version that never gets healthy (its venue is where nothing listens): the canary is
    // stopped at the healthy deadline and the job reverted; the running allocation trades on.
    let version = nomad.version(job).unwrap();
    let dead = free_port();
    cfg["parameters"]["trading"]["venue_url"] = json!(format!("ws://127.0.0.1:{dead}/ticker"));
    gw.ok("PUT", "/api/v1/configs/xc-1", &cfg);
    let s = until(&gw, "xc-1", "reverted", |s| {
        s["handover"]["outcome"] == "rolled_back"
    });
    let reason = s["handover"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("Failed due to unhealthy allocations - rolling back to job version"),
        "{s}"
    );
    assert_eq!(pid_of(&s), second, "the running allocation trades on: {s}");
    assert_eq!(s["config_version"], 2, "{s}");
    assert!(
        s["reason"]
            .as_str()
            .unwrap()
            .starts_with("configuration version 3 not applied"),
        "{s}"
    );
    assert_eq!(
        nomad.version(job),
        Some(version + 2),
        "the failed version, then the revert"
    );
    let file = std::fs::read_to_string(node_dir.join("bots/xc-1/config.json")).unwrap();
    assert!(file.contains(&format!("127.0.0.1:{venue}/")), "{file}");
    // Not tried again by itself.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(nomad.version(job), Some(version + 2));

    // One holder at a time, the canary that never got healthy never held it, and the
    // promotion left no trading instance for long: the canary took the lease as soon as the
    // old allocation let it go.
    let held = assert_one_holder_at_a_time(&node_dir.join("bots/xc-1/bot.log"));
    let pids: Vec<u64> = held.iter().map(|h| h.2).collect();
    assert_eq!(pids, [first, second], "{held:?}");
    assert_eq!(
        held[1].1,
        u64::MAX,
        "the running allocation holds it still: {held:?}"
    );
    assert!(
        held[1].0 - held[0].1 < 1_000_000_000,
        "no trading instance for {} ns: {held:?}",
        held[1].0 - held[0].1
    );

    // Hung: its checks fail, check_restart restarts the task (SIGTERM, then SIGKILL).
    common::signal(second as u32, "STOP");
    let s = until(&gw, "xc-1", "restarted by check_restart", |s| {
        s["state"] == "running" && pid_of(s) != second && pid_of(s) != 0
    });
    assert!(
        nomad.allocs(job).iter().any(|a| a.check_restarts >= 1),
        "{:?}",
        nomad.allocs(job)
    );
    assert!(!alive(second as u32));
    let third = pid_of(&s);
    let log = node_dir.join("bots/xc-1/bot.log");
    wait_for("the restarted task to take the lease", T, || {
        let held = sniperforge_bots::lease::LeaseLog::parse(&std::fs::read_to_string(&log).ok()?);
        held.held.contains_key(&third).then_some(())
    });

    gw.ok("POST", "/api/v1/bots/xc-1/stop", &Value::Null);
    until(&gw, "xc-1", "stopped", |s| s["state"] == "stopped");
    wait_for("the last task to end", T, || {
        (!alive(third as u32)).then_some(())
    });
    agent.terminate(Duration::from_secs(10));
}

/// Opt-in: `cargo test --test agent_nomad -- --ignored` where a `nomad` binary is on PATH.
#[test]
#[ignore = "needs a real `nomad` agent binary, which these machines cannot install"]
fn real_nomad_tier_runs_when_nomad_is_installed() {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("nomad").is_file()))
        .unwrap_or(false);
    assert!(found, "no `nomad` on PATH: this opt-in tier needs one");
    // With a real agent: `nomad agent -dev` on loopback, then the same lifecycle.
    let dir = tempfile::tempdir().unwrap();
    let mut dev = std::process::Command::new("nomad")
        .args(["agent", "-dev", "-bind", "127.0.0.1", "-data-dir"])
        .arg(dir.path().join("nomad"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = wait_for("nomad -dev", T, || {
        let (status, body) = std::panic::catch_unwind(|| {
            common::http("127.0.0.1:4646", "GET", "/v1/nodes", None, "")
        })
        .ok()?;
        (status == 200 && body.contains("\"Status\":\"ready\"")).then_some(body)
    });
    let node: Value = serde_json::from_str(&ready).unwrap();
    let node_name = node[0]["Name"].as_str().unwrap().to_string();
    let gw = Gateway::start(dir.path());
    let node_dir = dir.path().join("node");
    let args = [
        "--backend",
        "nomad",
        "--nomad-addr",
        "http://127.0.0.1:4646",
        "--nomad-node",
        node_name.as_str(),
    ];
    let mut agent = start_agent(&gw, &node_dir, "real1", &args);
    let mut cfg = template("enhanced_arbitrage");
    cfg["bot_id"] = json!("real-1");
    gw.ok(
        "POST",
        "/api/v1/bots",
        &json!({"node_id": "real1", "config": cfg}),
    );
    gw.ok("POST", "/api/v1/bots/real-1/start", &Value::Null);
    until(&gw, "real-1", "running under nomad -dev", |s| {
        s["state"] == "running" && pid_of(s) > 0
    });
    gw.ok("POST", "/api/v1/bots/real-1/stop", &Value::Null);
    until(&gw, "real-1", "stopped", |s| s["state"] == "stopped");
    agent.terminate(Duration::from_secs(10));
    let _ = dev.kill();
    let _ = dev.wait();
}

/// The gateway and agent job files parse, and say what the docs say they do.
#[test]
fn gateway_and_agent_job_files_parse() {
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(format!("{}/nomad/{name}", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
        let body: hcl::Body = hcl::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        serde_json::to_value(hcl::from_body::<hcl::Value>(body).unwrap()).unwrap()
    };
    let gw = read("gateway.nomad.hcl");
    let job = &gw["job"]["sniperforge-gateway"];
    assert_eq!(job["type"], "service");
    let group = &job["group"]["gateway"];
    assert_eq!(group["service"]["check"]["path"], "/api/v1/system/health");
    assert_eq!(group["task"]["gateway"]["config"]["args"][0], "gateway");
    let agent = read("agent.nomad.hcl");
    let job = &agent["job"]["sniperforge-agent"];
    assert_eq!(job["type"], "system", "one agent per node");
    let args = job["group"]["agent"]["task"]["agent"]["config"]["args"].to_string();
    for needle in [
        "\"agent\"",
        "\"--backend\",\"nomad\"",
        "--token-file",
        "--node-id",
    ] {
        assert!(args.contains(needle), "{needle} in {args}");
    }
    let bot = read("bot.nomad.hcl");
    assert_eq!(bot["job"]["sniperforge-bot"]["type"], "service");
}
