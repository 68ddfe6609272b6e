//! The rollout state machine, pure: plans, steps, pauses and the agent first.
use super::*;
use crate::store::{BotRow, NodeRow, ReportRow};
use sniperforge_protocol::fleet::{DesiredState, Handover, NodeBotStatus};

fn build(v: &str, id: &str) -> Build {
    Build {
        version: v.into(),
        build_id: id.into(),
    }
}

fn bot(id: &str, node: &str) -> (BotRow, Option<String>) {
    let row = BotRow {
        bot_id: id.into(),
        bot_type: "enhanced_arbitrage".into(),
        environment: crate::store::Environment::Dev,
        node_id: node.into(),
        placement: Default::default(),
        cores: Vec::new(),
        pending: None,
        replica_of: None,
        desired_state: DesiredState::Running,
        config_version: 1,
        restarts: 0,
        created_at: 0,
        updated_at: 0,
    };
    (row, Some("dev".into()))
}

fn node(id: &str, agent: &Build, installed: &Build) -> NodeRow {
    NodeRow {
        node_id: id.into(),
        hostname: id.into(),
        cores: 2,
        isolated_cores: Vec::new(),
        memory_mb: 1,
        backend: "process".into(),
        registered_at: 0,
        last_heartbeat: 0,
        agent: Some(agent.clone()),
        installed: Some(installed.clone()),
        environments: None,
        labels: Default::default(),
        fences: false,
        failover_after_ms: None,
        window_floor: None,
    }
}

fn report(pid: u32, b: &Build, handover: Option<(HandoverOutcome, i64)>) -> ReportRow {
    let mut status = NodeBotStatus::state("running", None);
    status.pid = Some(pid);
    status.build = Some(b.clone());
    status.handover = handover.map(|(outcome, at_ms)| Handover {
        outcome,
        trigger: HandoverTrigger::Restart,
        cause: "restart requested".into(),
        reason: Some("not healthy within 1 ms".into()),
        at_ms,
        gap_ns: None,
        drain_ns: None,
        pid: None,
    });
    ReportRow {
        node_id: String::new(),
        status,
        metrics: serde_json::Value::Null,
        reported_at: 0,
    }
}

fn rollout(target: &str, scope: &Scope, bots: &[(BotRow, Option<String>)], max: u32) -> Rollout {
    Rollout {
        rollout_id: "r".into(),
        target: target.into(),
        scope: "fleet".into(),
        max_unavailable: max,
        pause_on_failure: true,
        state: RolloutState::Running,
        reason: None,
        created_by: "ops".into(),
        created_at: 0,
        updated_at: 0,
        steps: plan(target, scope, bots).unwrap_or_default(),
    }
}

fn states(r: &Rollout) -> Vec<(&str, StepState)> {
    r.steps
        .iter()
        .map(|s| (s.bot_id.as_str(), s.state))
        .collect()
}

#[test]
fn node_by_node_at_most_max_unavailable_and_paused_at_the_first_failure() {
    let old = build("0.1.0", "aa");
    let bots = [bot("b", "n1"), bot("a", "n1"), bot("c", "n2")];
    let mut r = rollout("restart", &Scope::Fleet, &bots, 1);
    let mut fleet = Fleet {
        bots: bots
            .iter()
            .map(|(b, _)| (b.bot_id.clone(), b.clone()))
            .collect(),
        reports: [("a", 1), ("b", 2), ("c", 3)]
            .iter()
            .map(|(id, pid)| (id.to_string(), report(*pid, &old, None)))
            .collect(),
        nodes: Default::default(),
    };
    let (_, e) = r.advance(&fleet, 10);
    assert_eq!(e.restart, ["a"], "one at a time, in id order");
    // a hands over: b starts; c (the next node) waits for n1.
    fleet.reports.insert(
        "a".into(),
        report(11, &old, Some((HandoverOutcome::Completed, 20))),
    );
    let (_, e) = r.advance(&fleet, 30);
    assert_eq!(e.restart, ["b"]);
    assert_eq!(r.steps[0].state, StepState::Done);
    // b rolls back: paused, c untouched.
    fleet.reports.insert(
        "b".into(),
        report(2, &old, Some((HandoverOutcome::RolledBack, 40))),
    );
    let (_, e) = r.advance(&fleet, 50);
    assert!(e.restart.is_empty());
    assert_eq!(r.state, RolloutState::Paused);
    assert!(
        r.reason
            .as_deref()
            .is_some_and(|t| t.contains("bot b on node n1")),
        "{r:?}"
    );
    assert_eq!(
        states(&r),
        [
            ("a", StepState::Done),
            ("b", StepState::Failed),
            ("c", StepState::Pending)
        ]
    );
    // Resumed: b is tried again (its old rolled-back handover is before the new start).
    r.act("resume", 60).unwrap();
    let (_, e) = r.advance(&fleet, 70);
    assert_eq!(e.restart, ["b"]);
    assert!(r.act("resume", 71).is_err(), "not paused");
    r.act("abort", 80).unwrap();
    assert_eq!(
        states(&r),
        [
            ("a", StepState::Done),
            ("b", StepState::Skipped),
            ("c", StepState::Skipped)
        ]
    );
    assert!(r.act("pause", 81).is_err());
}

#[test]
fn a_version_upgrades_the_agent_first_then_skips_bots_already_on_the_installed_build() {
    let (old, new) = (build("0.2.0", "aa"), build("0.2.0", "bb"));
    let bots = [bot("a", "n1"), bot("b", "n1")];
    let mut r = rollout("0.2.0", &Scope::Fleet, &bots, 2);
    assert_eq!(r.steps[0].kind, StepKind::Agent);
    let mut fleet = Fleet {
        bots: bots
            .iter()
            .map(|(b, _)| (b.bot_id.clone(), b.clone()))
            .collect(),
        reports: [("a", report(1, &old, None)), ("b", report(2, &new, None))]
            .into_iter()
            .map(|(id, r)| (id.to_string(), r))
            .collect(),
        nodes: [("n1".to_string(), node("n1", &old, &new))].into(),
    };
    let (_, e) = r.advance(&fleet, 10);
    assert!(
        e.agents == ["n1"] && e.restart.is_empty(),
        "the agent first, alone"
    );
    assert_eq!(r.steps[0].to.as_ref(), Some(&new));
    // Back on the new build: a restarts, b is already on it.
    fleet.nodes.insert("n1".into(), node("n1", &new, &new));
    let (_, e) = r.advance(&fleet, 20);
    assert_eq!(e.restart, ["a"]);
    assert_eq!(r.steps[2].state, StepState::Skipped);
    // A crash restart before the node took the step's generation is not the step's.
    r.steps[1].generation = Some(5);
    let mut crashed = report(8, &new, None);
    crashed.reported_at = 25;
    crashed.status.restart_generation = Some(4);
    fleet.reports.insert("a".into(), crashed);
    r.advance(&fleet, 26);
    assert_eq!(r.steps[1].state, StepState::InProgress, "{r:?}");
    // A cold restart (no handover reported) once taken: a new pid on the installed build.
    let mut done = report(9, &new, None);
    done.reported_at = 30;
    done.status.restart_generation = Some(5);
    fleet.reports.insert("a".into(), done);
    r.advance(&fleet, 31);
    assert_eq!(r.steps[1].state, StepState::Done, "{r:?}");
    assert_eq!(r.state, RolloutState::Completed);
    // A version not installed: the agent's step fails and nothing restarts.
    let mut r = rollout("9.9.9", &Scope::Node("n1".into()), &bots, 1);
    let (_, e) = r.advance(&fleet, 40);
    assert!(e.restart.is_empty() && e.agents.is_empty());
    assert_eq!(r.state, RolloutState::Paused);
    assert!(
        r.steps[0]
            .message
            .as_deref()
            .is_some_and(|m| m.ends_with("not 9.9.9: install it first")),
        "{r:?}"
    );
}

#[test]
fn scopes_parse_and_select() {
    assert_eq!(Scope::parse("fleet"), Ok(Scope::Fleet));
    assert_eq!(Scope::parse("env:prod"), Ok(Scope::Env("prod".into())));
    for bad in ["", "node:", "rack:1", "node:a b", "fleet:x"] {
        assert!(Scope::parse(bad).is_err(), "{bad}");
    }
    let bots = [bot("a", "n1"), bot("b", "n2")];
    let steps = plan("restart", &Scope::Node("n2".into()), &bots).unwrap_or_default();
    assert_eq!(steps.len(), 1);
    assert!(
        plan("restart", &Scope::Env("prod".into()), &bots)
            .unwrap_or_default()
            .is_empty()
    );
}

#[test]
fn rollouts_touching_nothing_in_common_run_side_by_side() {
    let bots = [
        bot("a-1", "n1"),
        bot("a-2", "n1"),
        bot("b-1", "n2"),
        bot("c-1", "n3"),
    ];
    let steps =
        |target: &str, scope: &str| plan(target, &Scope::parse(scope).unwrap(), &bots).unwrap();
    let restart_n1 = steps("restart", "node:n1");
    // Other bots, even on the same node: side by side.
    assert_eq!(overlap(&restart_n1, &steps("restart", "node:n2")), None);
    // A bot both would restart.
    assert_eq!(
        overlap(&restart_n1, &steps("restart", "fleet")),
        Some("bot a-1".into())
    );
    // An upgrade replaces n2's agent: a restart there waits, one elsewhere does not.
    let upgrade_n2 = steps("0.2.0", "node:n2");
    assert_eq!(
        overlap(&upgrade_n2, &steps("restart", "node:n2")),
        Some("bot b-1".into())
    );
    let only_agent = plan("0.2.0", &Scope::Node("n3".into()), &[]).unwrap();
    assert_eq!(
        overlap(&only_agent, &steps("restart", "node:n3")),
        Some("node n3".into())
    );
    assert_eq!(overlap(&upgrade_n2, &restart_n1), None);
    assert_eq!(overlap(&only_agent, &upgrade_n2), None);
}
