//! `web/src/generated/protocol.ts`: the protocol's types as TypeScript (ts-rs, derived under
//! `cfg(test)` so the crate itself builds on serde alone), with the constants the UI would
//! otherwise copy: the bot types, the desired states, the actions and which action each state
//! allows. The test fails when the file is not what the code generates;
//! `UPDATE_TS=1 cargo test -p sniperforge-protocol typescript` rewrites it.

use ts_rs::TS;

use crate::control::{Health, Role};
use crate::fleet::{
    BotAction, Build, DesiredState, Handover, HandoverOutcome, HandoverTrigger, NodeBotStatus,
};
use crate::wire::{
    BotConfig, BotMetrics, BotStatus, BotType, Environment, HealthPolicy, Resources, StageLatency,
};

fn generated() -> String {
    let mut out = String::from(
        "// Generated from protocol/ by `UPDATE_TS=1 cargo test -p sniperforge-protocol typescript`;\n// do not edit (a test fails when it is out of date).\n\n",
    );
    let decls = [
        BotType::decl(),
        Environment::decl(),
        Resources::decl(),
        HealthPolicy::decl(),
        BotConfig::decl(),
        BotStatus::decl(),
        StageLatency::decl(),
        BotMetrics::decl(),
        DesiredState::decl(),
        BotAction::decl(),
        HandoverOutcome::decl(),
        HandoverTrigger::decl(),
        Handover::decl(),
        Build::decl(),
        NodeBotStatus::decl(),
        Role::decl(),
        Health::decl(),
    ];
    for d in decls {
        out.push_str("export ");
        out.push_str(&d);
        out.push_str("\n\n");
    }
    let list = |names: Vec<String>| {
        names
            .iter()
            .map(|n| format!("'{n}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str(&format!(
        "/** Every bot type, in the order the gateway lists them. */\nexport const BOT_TYPES: readonly BotType[] = [{}] as const\n\n",
        list(BotType::ALL.iter().map(|t| t.to_string()).collect())
    ));
    out.push_str(&format!(
        "/** Every desired state. */\nexport const DESIRED_STATES: readonly DesiredState[] = [{}] as const\n\n",
        list(DesiredState::ALL.iter().map(|d| d.to_string()).collect())
    ));
    out.push_str(
        "/** The actions the gateway accepts from each desired state (`restart` from any). */\nexport const ACTIONS_FROM: Record<DesiredState, readonly BotAction[]> = {\n",
    );
    for d in DesiredState::ALL {
        let allowed: Vec<String> = BotAction::ALL
            .iter()
            .filter(|a| d.after(**a).is_ok())
            .map(|a| a.to_string())
            .collect();
        out.push_str(&format!("  {d}: [{}],\n", list(allowed)));
    }
    out.push_str("}\n");
    out
}

#[test]
fn typescript_types_are_current() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../web/src/generated/protocol.ts"
    );
    let want = generated();
    if std::env::var_os("UPDATE_TS").is_some() {
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/../web/src/generated"))
            .unwrap();
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "web/src/generated/protocol.ts is out of date: run UPDATE_TS=1 cargo test -p sniperforge-protocol typescript"
    );
}
