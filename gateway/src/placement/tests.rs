//! Placement and the ledger: nodes, holdings and needs in, a choice or the reason out.

use super::*;
use sniperforge_protocol::fleet::DesiredState;

fn node(id: &str, cores: i64, envs: Option<&[Environment]>, labels: &[(&str, &str)]) -> NodeRow {
    NodeRow {
        node_id: id.into(),
        hostname: id.into(),
        cores,
        isolated_cores: Vec::new(),
        memory_mb: 1024,
        backend: "process".into(),
        registered_at: 0,
        last_heartbeat: 0,
        agent: None,
        installed: None,
        fences: true,
        failover_after_ms: None,
        window_floor: None,
        environments: envs.map(<[Environment]>::to_vec),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn bot(id: &str, node: &str, cores: &[u32]) -> BotRow {
    BotRow {
        bot_id: id.into(),
        bot_type: "enhanced_arbitrage".into(),
        environment: Environment::Dev,
        node_id: node.into(),
        placement: Placement::default(),
        cores: cores.to_vec(),
        pending: None,
        replica_of: None,
        desired_state: DesiredState::Running,
        config_version: 1,
        restarts: 0,
        created_at: 0,
        updated_at: 0,
    }
}

fn need<'a>(labels: &'a BTreeMap<String, String>, pinned: &'a [u32], cores: u32) -> Need<'a> {
    Need {
        bot_id: "new",
        environment: Environment::Prod,
        labels,
        pinned,
        cores,
        avoid: &[],
        apart: &[],
    }
}

fn live(nodes: &[NodeRow], bots: &[BotRow]) -> Vec<Candidate<'static>> {
    let nodes: &'static [NodeRow] = Box::leak(nodes.to_vec().into_boxed_slice());
    candidates(nodes, bots, &Ledger::of(bots), 0, 30_000)
}

#[test]
fn reservable_cores_are_the_isolated_ones_or_all_but_core_0() {
    let mut n = node("a", 8, None, &[]);
    assert_eq!(reservable(&n), (1..8).collect::<Vec<u32>>());
    n.isolated_cores = vec![4, 5];
    assert_eq!(reservable(&n), [4, 5]);
    assert_eq!(reservable(&node("one", 1, None, &[])), [0]);
}

#[test]
fn placement_follows_environment_labels_and_free_cores() {
    let prod = [Environment::Prod];
    let dev = [Environment::Dev];
    let nodes = [
        node("a-dev", 16, Some(&dev), &[("region", "ny")]),
        node("b-small", 3, Some(&prod), &[("region", "ny")]),
        node("c-big", 8, Some(&prod), &[("region", "ny")]),
        node("d-far", 16, Some(&prod), &[("region", "ams")]),
    ];
    // c-big holds 2 cores for one bot already: 5 of its 7 reservable cores are free.
    let bots = [bot("held", "c-big", &[1, 2])];
    let ny = BTreeMap::from([("region".to_string(), "ny".to_string())]);
    let choice = place(&need(&ny, &[], 2), &live(&nodes, &bots)).unwrap();
    assert_eq!(
        choice,
        Choice {
            node_id: "c-big".into(),
            cores: vec![3, 4]
        }
    );
    // Without the label, the node with the most cores left wins.
    let none = BTreeMap::new();
    assert_eq!(
        place(&need(&none, &[], 2), &live(&nodes, &bots))
            .unwrap()
            .node_id,
        "d-far"
    );
    // Nothing fits: the reason names every node.
    let why = place(&need(&ny, &[], 6), &live(&nodes, &bots)).unwrap_err();
    assert_eq!(
        why,
        "no node serving prod can take it: b-small: 2 free core(s), 6 needed; \
         c-big: 5 free core(s), 6 needed; d-far: lacks label region=ny"
    );
    assert_eq!(
        place(&need(&none, &[], 0), &[]).unwrap_err(),
        "no node has registered"
    );
    // A bot needing no cores goes to the node with the fewest bots.
    let many = [bot("x", "d-far", &[]), bot("y", "d-far", &[])];
    assert_eq!(
        place(&need(&none, &[], 0), &live(&nodes, &many))
            .unwrap()
            .node_id,
        "c-big"
    );
    let dev_only = [node("a-dev", 16, Some(&dev), &[])];
    assert_eq!(
        place(&need(&none, &[], 0), &live(&dev_only, &[])).unwrap_err(),
        "no node serves prod"
    );
}

#[test]
fn pinned_cores_must_exist_and_be_free() {
    let nodes = [node("a", 4, None, &[]), node("b", 8, None, &[])];
    let bots = [bot("x", "a", &[2]), bot("y", "b", &[2])];
    let none = BTreeMap::new();
    let why = place(&need(&none, &[2, 6], 0), &live(&nodes, &bots)).unwrap_err();
    assert_eq!(
        why,
        "no node serving prod can take it: a: has no core 6 (cores 0-3); b: core 2 is held by bot y"
    );
    let choice = place(&need(&none, &[3], 0), &live(&nodes, &bots)).unwrap();
    assert_eq!(choice.cores, [3]);
    // Its own holding is not an overlap (a bot placed again where it was).
    let mine = Need {
        bot_id: "x",
        ..need(&none, &[2], 0)
    };
    assert!(fit(&mine, &live(&nodes, &bots)[0]).is_ok());
}

#[test]
fn a_lost_node_or_the_one_left_takes_nothing() {
    let mut nodes = [node("a", 8, None, &[]), node("b", 8, None, &[])];
    nodes[0].last_heartbeat = -60_000;
    let none = BTreeMap::new();
    let avoid = ["b".to_string()];
    let n = Need {
        avoid: &avoid,
        ..need(&none, &[], 1)
    };
    let why = place(&n, &live(&nodes, &[])).unwrap_err();
    assert_eq!(
        why,
        "no node serving prod can take it: a: lost (no recent heartbeat); b: the node it leaves"
    );
}

#[test]
fn replicas_go_to_nodes_without_another_instance() {
    let nodes = [
        node("a", 8, None, &[]),
        node("b", 8, None, &[]),
        node("c", 8, None, &[]),
    ];
    let mut bots = vec![
        bot("ml", "a", &[]),
        bot("ml-r1", "b", &[]),
        bot("ml-r2", "", &[]),
        bot("other", "c", &[]),
        bot("ml-r1x", "c", &[]),
    ];
    for b in &mut bots[1..3] {
        b.replica_of = Some("ml".into());
    }
    // `ml-r1x` and `other` are bots of their own: not instances of `ml`.
    assert_eq!(siblings_nodes(&bots, &bots[2]), ["a", "b"]);
    assert_eq!(siblings_nodes(&bots, &bots[0]), ["b"]);
    let none = BTreeMap::new();
    let apart = siblings_nodes(&bots, &bots[2]);
    let n = Need {
        bot_id: "ml-r2",
        apart: &apart,
        ..need(&none, &[], 0)
    };
    let c = place(&n, &live(&nodes, &bots)).unwrap();
    assert_eq!(
        c.node_id, "c",
        "the one node without an instance, busy as it is"
    );
    let apart = ["a".to_string(), "b".into(), "c".into()];
    let n = Need { apart: &apart, ..n };
    assert_eq!(
        place(&n, &live(&nodes, &bots)).unwrap_err(),
        "no node serving prod can take it: a: runs another instance of it; b: runs another instance of it; c: runs another instance of it"
    );
    assert_eq!(replica_id("ml", 3), "ml-r3");
    for id in ["ml-r1", "a-b-r15", "x-r0"] {
        assert!(replica_shaped(id), "{id}");
    }
    for id in [
        "ml", "ml-r", "-r1", "ml-r123", "ml-rx", "ml-r1a", "mlr1", "arb-rust",
    ] {
        assert!(!replica_shaped(id), "{id}");
    }
    assert!(replicable("ml_analytics") && replicable("real_time_dashboard"));
    assert!(replicable("portfolio_manager") && !replicable("enhanced_arbitrage"));
    assert_eq!(Placement::default().replicas, 1);
    let old: Placement = serde_json::from_str(r#"{"auto": true}"#).unwrap();
    assert_eq!(
        old.replicas, 1,
        "a placement stored before replicas is one instance"
    );
}

#[test]
fn the_ledger_refuses_overlaps_whole() {
    let mut l = Ledger::default();
    l.reserve("n1", "a", &[2, 3]).unwrap();
    // Another node's cores are its own.
    l.reserve("n2", "b", &[2, 3]).unwrap();
    let e = l.reserve("n1", "c", &[4, 3]).unwrap_err();
    assert_eq!(e.to_string(), "core 3 on node n1 is held by bot a");
    // Refused whole: core 4 was not taken.
    l.reserve("n1", "d", &[4]).unwrap();
    // A bot's new reservation replaces its old one.
    l.reserve("n1", "a", &[5]).unwrap();
    l.reserve("n1", "c", &[2, 3]).unwrap();
    l.release("c");
    assert_eq!(
        l.held("n1"),
        BTreeMap::from([(4, "d".to_string()), (5, "a".to_string())])
    );
    // Pending bots hold nothing.
    let mut waiting = bot("w", "n1", &[4]);
    waiting.pending = Some("no node".into());
    let l = Ledger::of(&[bot("d", "n1", &[4]), waiting]);
    assert_eq!(l.held("n1"), BTreeMap::from([(4, "d".to_string())]));
}

#[test]
fn lost_bots_are_the_failing_over_ones_of_silent_nodes() {
    let mut nodes = [node("a", 8, None, &[]), node("b", 8, None, &[])];
    nodes[0].last_heartbeat = 1_000;
    nodes[1].last_heartbeat = 9_000;
    let mut paper = bot("paper", "a", &[]);
    paper.placement.failover = true;
    let pinned = bot("pinned", "a", &[]);
    let mut fine = bot("fine", "b", &[]);
    fine.placement.failover = true;
    let mut stopped = bot("stopped", "a", &[]);
    stopped.placement.failover = true;
    stopped.desired_state = DesiredState::Stopped;
    let bots = [paper, pinned, fine, stopped];
    let lost: Vec<&str> = lost_bots(&bots, &nodes, 10_000, 5_000, 0)
        .iter()
        .map(|b| b.bot_id.as_str())
        .collect();
    assert_eq!(lost, ["paper"]);
    // Not within a window of the gateway's start: it had no chance to hear from the node.
    assert!(lost_bots(&bots, &nodes, 10_000, 5_000, 6_000).is_empty());
    // A node's own window: a longer one keeps it, a shorter one loses the other.
    nodes[0].failover_after_ms = Some(9_500);
    assert!(lost_bots(&bots, &nodes, 10_000, 5_000, 0).is_empty());
    // Kept, but silent past the gateway's window: it takes no new bot.
    let c = candidates(&nodes, &bots, &Ledger::of(&bots), 10_000, 5_000);
    assert!(!c[0].live && c[1].live);
    nodes[0].failover_after_ms = None;
    nodes[1].failover_after_ms = Some(500);
    let lost: Vec<&str> = lost_bots(&bots, &nodes, 10_000, 5_000, 0)
        .iter()
        .map(|b| b.bot_id.as_str())
        .collect();
    assert_eq!(lost, ["paper", "fine"]);
    // A node that came back with a shorter window keeps the longer one for a while.
    nodes[1].window_floor = Some(crate::store::WindowFloor {
        window_ms: 5_000,
        until: 12_000,
    });
    assert_eq!(nodes[1].failover_window(5_000, 10_000), 5_000);
    assert_eq!(nodes[1].failover_window(5_000, 12_000), 500);
    assert_eq!(
        nodes[1].fence_ms(5_000),
        250,
        "the lease is half its own window"
    );
    let lost: Vec<&str> = lost_bots(&bots, &nodes, 10_000, 5_000, 0)
        .iter()
        .map(|b| b.bot_id.as_str())
        .collect();
    assert_eq!(lost, ["paper"]);
    // A node whose agent does not fence keeps its bots.
    nodes[0].fences = false;
    assert!(lost_bots(&bots, &nodes, 10_000, 5_000, 0).is_empty());
}

#[test]
fn holders_are_hidden_and_long_reasons_cut() {
    assert_eq!(
        hide_holders(
            "no node serving prod can take it: a: core 2 is held by bot p-1; b: core 3 is held by bot x"
        ),
        "no node serving prod can take it: a: core 2 is held by another bot; b: core 3 is held by another bot"
    );
    assert_eq!(
        hide_holders("node n1 has not registered"),
        "node n1 has not registered"
    );
    assert_eq!(
        pinned_of(&serde_json::json!({"resources": {"cores": [2, "x", 3]}})),
        [2, 3]
    );
    // Twenty full nodes: twelve named, the rest counted.
    let nodes: Vec<NodeRow> = (0..20)
        .map(|i| node(&format!("n{i:02}"), 1, None, &[]))
        .collect();
    let none = BTreeMap::new();
    let why = place(&need(&none, &[], 4), &live(&nodes, &[])).unwrap_err();
    assert!(why.ends_with("; 8 more"), "{why}");
    assert_eq!(why.matches("free core(s)").count(), REASONS_NAMED);
}
