//! The rules' evaluation, pure: inputs in, firing targets out.

use super::*;
use crate::store::{BotRow, NodeRow, ReportRow};
use sniperforge_protocol::fleet::DesiredState;
use sniperforge_protocol::fleet::NodeBotStatus;

const NOW: i64 = 1_800_000_000_000;

fn bot(id: &str, desired: DesiredState) -> BotRow {
    BotRow {
        bot_id: id.into(),
        bot_type: "triangular_arbitrage".into(),
        environment: crate::store::Environment::Dev,
        node_id: "ny-1".into(),
        placement: Default::default(),
        cores: Vec::new(),
        pending: None,
        replica_of: None,
        desired_state: desired,
        config_version: 1,
        restarts: 0,
        created_at: 0,
        updated_at: 0,
    }
}

/// A report: `{"status": {…}, "metrics": {…}, "reported_at": ms}` read as the store's row.
fn report(v: Value) -> ReportRow {
    ReportRow {
        node_id: "ny-1".into(),
        // A typo in a test's status fails here rather than reading as no state.
        status: match &v["status"] {
            Value::Null => NodeBotStatus::default(),
            s => serde_json::from_value(s.clone()).unwrap(),
        },
        metrics: v["metrics"].clone(),
        reported_at: v["reported_at"].as_i64().unwrap_or(0),
    }
}

fn node(id: &str, last_heartbeat: i64) -> NodeRow {
    NodeRow {
        node_id: id.into(),
        hostname: id.into(),
        cores: 2,
        isolated_cores: Vec::new(),
        memory_mb: 1024,
        backend: "process".into(),
        registered_at: 0,
        last_heartbeat,
        agent: None,
        installed: None,
        environments: None,
        labels: Default::default(),
        fences: false,
        failover_after_ms: None,
        window_floor: None,
    }
}

fn run(
    kind: RuleKind,
    bots: &[BotRow],
    nodes: &[NodeRow],
    reports: &[(&str, Value)],
) -> Vec<String> {
    let reports = reports
        .iter()
        .map(|(id, r)| (id.to_string(), report(r.clone())))
        .collect();
    let p99 = |bot: &str, _: &str, _: Option<u64>| (bot == "slow").then_some(9_000);
    let input = Inputs {
        now_ms: NOW,
        bots,
        nodes,
        reports: &reports,
        p99: &p99,
    };
    firing(&kind, &input)
        .1
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

#[test]
fn time_rules_fire_past_their_limit_and_not_at_it() {
    let bots = [
        bot("fresh", DesiredState::Running),
        bot("quiet", DesiredState::Running),
        bot("stopped", DesiredState::Stopped),
    ];
    let reports = [
        ("fresh", json!({"reported_at": NOW - 5_000})),
        ("quiet", json!({"reported_at": NOW - 5_001})),
        ("stopped", json!({"reported_at": 0})),
    ];
    // A stopped bot is not expected to report.
    assert_eq!(
        run(RuleKind::BotDown { after_s: 5 }, &bots, &[], &reports),
        ["quiet"]
    );
    let nodes = [node("a", NOW - 30_000), node("b", NOW - 30_001)];
    assert_eq!(
        run(RuleKind::NodeLost { after_s: 30 }, &[], &nodes, &[]),
        ["b"]
    );
    // A bot no node runs says why, never naming another bot holding a core.
    let mut waiting = bot("ml-r1", DesiredState::Running);
    waiting.pending = Some("no node serving dev can take it: n1: core 2 is held by bot x".into());
    let reports = std::collections::HashMap::new();
    let p99 = |_: &str, _: &str, _: Option<u64>| None;
    let input = Inputs {
        now_ms: NOW,
        bots: std::slice::from_ref(&waiting),
        nodes: &[],
        reports: &reports,
        p99: &p99,
    };
    assert_eq!(
        firing(&RuleKind::BotDown { after_s: 5 }, &input).1,
        [(
            "ml-r1".to_string(),
            "bot ml-r1 has not reported for over 5 s: it waits for a node (no node serving dev \
             can take it: n1: core 2 is held by another bot)"
                .to_string()
        )]
    );
}

#[test]
fn unhealthy_fires_while_checks_fail_and_for_a_while_after_a_replacement() {
    let bots = [
        bot("fine", DesiredState::Running),
        bot("failing", DesiredState::Running),
        bot("replaced", DesiredState::Running),
        bot("long-ago", DesiredState::Running),
        bot("restarted", DesiredState::Running),
    ];
    let handover = |trigger: &str, at: i64| {
        json!({"status": {"state": "running", "handover": {"outcome": "completed", "trigger": trigger,
            "cause": "unhealthy: feed stale (3 failed health checks in a row)", "at_ms": at}}})
    };
    let reports = [
        ("fine", json!({"status": {"state": "running"}})),
        (
            "failing",
            json!({"status": {"state": "running", "health_failures": 2, "reason": "unhealthy (2 checks in a row): feed stale"}}),
        ),
        ("replaced", handover("unhealthy", NOW - 60_000)),
        ("long-ago", handover("unhealthy", NOW - 60_001)),
        ("restarted", handover("restart", NOW)),
    ];
    assert_eq!(
        run(
            RuleKind::BotUnhealthy { within_s: 60 },
            &bots,
            &[],
            &reports
        ),
        ["failing", "replaced"]
    );
}

#[test]
fn state_and_number_rules_read_the_last_report() {
    let bots = [
        bot("ok", DesiredState::Running),
        bot("broken", DesiredState::Running),
        bot("halted", DesiredState::Running),
        bot("slow", DesiredState::Running),
    ];
    let reports = [
        (
            "ok",
            json!({"status": {"state": "running"}, "metrics": {"custom_metrics": {"daily_pnl_usd": -10.0, "feed_age_ms": 200.0}}}),
        ),
        (
            "broken",
            json!({"status": {"state": "error", "reason": "rpc dead"}, "metrics": {"custom_metrics": {"feed_age_ms": 4_000.0}}}),
        ),
        (
            "halted",
            json!({"status": {"state": "error", "reason": "daily loss limit reached"}}),
        ),
        (
            "slow",
            json!({"status": {"state": "running"}, "metrics": {"custom_metrics": {"daily_pnl_usd": -600.0}}}),
        ),
    ];
    assert_eq!(
        run(RuleKind::BotError {}, &bots, &[], &reports),
        ["broken", "halted"]
    );
    assert_eq!(
        run(
            RuleKind::DailyLoss {
                limit_usd: Some(500.0)
            },
            &bots,
            &[],
            &reports
        ),
        ["halted", "slow"]
    );
    assert_eq!(
        run(
            RuleKind::DailyLoss { limit_usd: None },
            &bots,
            &[],
            &reports
        ),
        ["halted"]
    );
    assert_eq!(
        run(
            RuleKind::FeedStale { after_ms: 1_000 },
            &bots,
            &[],
            &reports
        ),
        ["broken"]
    );
    let p99 = RuleKind::P99Above {
        stage: "decided".into(),
        budget_ns: 5_000,
        for_s: None,
    };
    assert_eq!(run(p99, &bots, &[], &reports), ["slow"]);
}

#[test]
fn rule_scopes_parse_and_pick_their_bots() {
    assert_eq!(RuleScope::parse("fleet"), Ok(RuleScope::Fleet));
    assert_eq!(
        RuleScope::parse("env:prod"),
        Ok(RuleScope::Env(Environment::Prod))
    );
    assert_eq!(
        RuleScope::parse("bot:ny-1_a"),
        Ok(RuleScope::Bot("ny-1_a".into()))
    );
    for bad in [
        "",
        "env:staging",
        "type:nope",
        "bot:",
        "bot:a b",
        "node:x",
        "fleet:1",
    ] {
        assert!(RuleScope::parse(bad).is_err(), "{bad}");
    }
    let mut prod = bot("p", DesiredState::Running);
    prod.environment = Environment::Prod;
    let dev = bot("d", DesiredState::Running);
    let env = RuleScope::Env(Environment::Prod);
    assert!(env.watches(&prod) && !env.watches(&dev));
    let by_type = RuleScope::parse("type:triangular_arbitrage").unwrap();
    assert!(by_type.watches(&prod) && by_type.watches(&dev));
    let one = RuleScope::Bot("d".into());
    assert!(one.watches(&dev) && !one.watches(&prod));
    // A bot's rule watches its replicas too, not a bot whose id merely starts alike.
    let mut replica = bot("d-r1", DesiredState::Running);
    replica.replica_of = Some("d".into());
    assert!(one.watches(&replica) && !one.watches(&bot("d-r2", DesiredState::Running)));
    assert_eq!(env.environment(), Some(Environment::Prod));
    assert_eq!(RuleScope::Fleet.environment(), None);
}
