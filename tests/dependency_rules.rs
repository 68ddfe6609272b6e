//! The crate layout's dependency rules, checked over `cargo metadata`:
//!
//! - `protocol` (wire types, no I/O) and `host` (TLS, private files, the CPU mask) depend on no
//!   other crate of the workspace; the engine on none either.
//! - engine ← solana ← bots ← the binary; protocol ← bots, agent, gateway; the simulators
//!   (`sim`) serve the binary and tests only.
//! - The agent and the gateway never depend, even transitively, on the engine, the Solana edge,
//!   the simulators, the bots, a Solana SDK crate or tonic.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Workspace crate → the workspace crates it may depend on (normal, build and dev edges).
const ALLOWED: &[(&str, &[&str])] = &[
    ("sniperforge-protocol", &[]),
    ("sniperforge-host", &[]),
    ("sniperforge-engine", &[]),
    (
        "sniperforge-solana",
        &[
            "sniperforge-engine",
            "sniperforge-protocol",
            "sniperforge-host",
        ],
    ),
    (
        "sniperforge-sim",
        &[
            "sniperforge-engine",
            "sniperforge-solana",
            "sniperforge-protocol",
            "sniperforge-host",
        ],
    ),
    (
        "sniperforge-bots",
        &[
            "sniperforge-engine",
            "sniperforge-solana",
            "sniperforge-protocol",
            "sniperforge-host",
            // Tests only (checked below): the bots' Solana and live tests run against the
            // simulated exchange.
            "sniperforge-sim",
        ],
    ),
    (
        "sniperforge-agent",
        &["sniperforge-protocol", "sniperforge-host"],
    ),
    (
        "sniperforge-gateway",
        &[
            "sniperforge-protocol",
            "sniperforge-host",
            // Tests only (checked below).
            "sniperforge-testkit",
        ],
    ),
    ("sniperforge-testkit", &[]),
    (
        "sniperforge",
        &[
            "sniperforge-protocol",
            "sniperforge-host",
            "sniperforge-engine",
            "sniperforge-solana",
            "sniperforge-sim",
            "sniperforge-bots",
            "sniperforge-agent",
            "sniperforge-gateway",
            "sniperforge-bench",
            // Tests only (checked below).
            "sniperforge-testkit",
        ],
    ),
    (
        "sniperforge-bench",
        &[
            "sniperforge-engine",
            "sniperforge-protocol",
            "sniperforge-bots",
        ],
    ),
];

/// Edges allowed only as dev-dependencies (tests), never in what the crate itself builds.
const TESTS_ONLY: &[(&str, &str)] = &[
    ("sniperforge-bots", "sniperforge-sim"),
    ("sniperforge-gateway", "sniperforge-testkit"),
    ("sniperforge", "sniperforge-testkit"),
];

/// Crates the control plane must not pull in: these names, and every name that starts with
/// one of them followed by `-`.
const NOT_IN_CONTROL_PLANE: &[&str] = &[
    "sniperforge-engine",
    "sniperforge-solana",
    "sniperforge-sim",
    "sniperforge-bots",
    "solana",
    "tonic",
    "yellowstone",
    "prost",
];

/// What the protocol crate may build on besides the standard library: it holds no I/O.
/// (`schemars` is optional, behind its `schema` feature: the gateway's OpenAPI document.)
const PROTOCOL_MAY_USE: &[&str] = &[
    "serde",
    "serde_json",
    "thiserror",
    "hdrhistogram",
    "schemars",
];

fn banned(name: &str) -> bool {
    NOT_IN_CONTROL_PLANE.iter().any(|b| {
        name == *b
            || name
                .strip_prefix(b)
                .is_some_and(|rest| rest.starts_with('-'))
    })
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--locked",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn workspace_crates_depend_only_as_the_layout_allows() {
    let meta = metadata();
    let members: BTreeSet<String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"].is_null())
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    // The rules name every crate of the workspace, and only those (a renamed or new crate
    // is not let through unchecked).
    let named: BTreeSet<String> = ALLOWED.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        members, named,
        "the workspace's crates and the rules' differ"
    );
    let mut broken = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        if !p["source"].is_null() {
            continue;
        }
        let Some(may) = allowed.get(name) else {
            broken.push(format!("{name}: a workspace crate the rules do not name"));
            continue;
        };
        for d in p["dependencies"].as_array().unwrap() {
            let dep = d["name"].as_str().unwrap();
            let kind = d["kind"].as_str().unwrap_or("normal");
            if members.contains(dep) && !may.contains(&dep) {
                broken.push(format!("{name} depends on {dep} ({kind} edge)"));
            }
            if TESTS_ONLY.contains(&(name, dep)) && kind != "dev" {
                broken.push(format!(
                    "{name} depends on {dep} ({kind} edge): allowed for its tests only"
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "dependency rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_control_plane_builds_no_engine_solana_or_grpc_crate() {
    let meta = metadata();
    let resolve = &meta["resolve"]["nodes"];
    let name_of = |id: &str| -> String {
        meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["name"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let nodes: BTreeMap<String, &Value> = resolve
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap().to_string(), n))
        .collect();
    for root in ["sniperforge-agent", "sniperforge-gateway"] {
        let root_id = nodes
            .keys()
            .find(|id| name_of(id) == root)
            .unwrap_or_else(|| panic!("{root} is in the workspace"))
            .clone();
        // Every crate reachable over normal and build edges (what the crate's own build needs),
        // plus the crate's own dev edges (what its tests need).
        let mut seen = BTreeSet::new();
        let mut todo = vec![(root_id.clone(), true)];
        let mut path: BTreeMap<String, String> = BTreeMap::new();
        while let Some((id, is_root)) = todo.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            for d in nodes[&id]["deps"].as_array().unwrap() {
                let kinds: Vec<&str> = d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| k["kind"].as_str().unwrap_or("normal"))
                    .collect();
                if is_root || kinds.iter().any(|k| *k != "dev") {
                    let pkg = d["pkg"].as_str().unwrap().to_string();
                    path.entry(pkg.clone()).or_insert_with(|| name_of(&id));
                    todo.push((pkg, false));
                }
            }
        }
        let banned: Vec<String> = seen
            .iter()
            .map(|id| name_of(id))
            .filter(|n| banned(n))
            .collect();
        assert!(
            banned.is_empty(),
            "{root} pulls in {banned:?} (first through {:?})",
            banned
                .first()
                .and_then(|b| nodes.keys().find(|id| name_of(id) == *b))
                .and_then(|id| path.get(id))
        );
        // The check sees what it should: the control plane does build the protocol crate.
        assert!(
            seen.iter().any(|id| name_of(id) == "sniperforge-protocol"),
            "{root} should depend on sniperforge-protocol"
        );
    }
}

#[test]
fn the_protocol_crate_builds_on_serde_and_hdrhistogram_only() {
    let meta = metadata();
    let protocol = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "sniperforge-protocol")
        .expect("sniperforge-protocol is in the workspace");
    let extra: Vec<&str> = protocol["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"].is_null())
        .map(|d| d["name"].as_str().unwrap())
        .filter(|n| !PROTOCOL_MAY_USE.contains(n))
        .collect();
    assert!(
        extra.is_empty(),
        "sniperforge-protocol depends on {extra:?}"
    );
}

#[test]
fn the_ban_list_matches_names_and_their_families() {
    for name in [
        "solana-pubkey",
        "tonic",
        "tonic-build",
        "prost-types",
        "yellowstone-grpc-proto",
        "sniperforge-bots",
    ] {
        assert!(banned(name), "{name}");
    }
    for name in ["sniperforge-protocol", "tonicity", "serde", "prostate"] {
        assert!(!banned(name), "{name}");
    }
}
