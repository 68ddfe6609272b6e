//! Rolling upgrades and restarts of the fleet: `POST /api/v1/rollouts {"target", "scope",
//! "max_unavailable", "pause_on_failure"}` plans one step per bot in scope, node by node (nodes
//! in id order, bots in id order), and the driver ([`drive`], every 250 ms) walks them: on the
//! first node with steps left, at most `max_unavailable` bots at a time get a restart request,
//! which their agent runs as a warm handover onto the build installed on the node; a step is
//! done when the bot reports that handover completed (on the target version), failed when it
//! reports it rolled back, or when nothing is reported within [`STEP_DEADLINE_MS`]. The first
//! failure pauses the rollout (`pause_on_failure`, the default) or is passed over. A version
//! target needs that version installed on the node (`installed` in its registration); a bot
//! already on the node's installed build is skipped. Pause, resume (failed steps are tried
//! again) and abort are operator actions; every step's restart is audited. Rollouts run side by
//! side when they touch nothing in common (no bot in common, no node one of them upgrades).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sniperforge_protocol::fleet::{Build, HandoverOutcome, HandoverTrigger};

use crate::store::StoreError;

/// How long a step waits for its bot's handover to be reported.
pub const STEP_DEADLINE_MS: i64 = 300_000;
/// Most steps (bots) one rollout may plan.
pub const STEPS_MAX: usize = 4_096;
/// Rollouts `GET /api/v1/rollouts` and the `rollouts` topic list, newest first.
pub const LISTED: i64 = 20;
/// Rollouts kept in the store (the newest; a running or paused one is never dropped).
pub const KEPT: i64 = 200;

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// Walking its steps.
    Running,
    /// Stopped by an operator or at a failed step; resumable.
    Paused,
    /// Stopped for good by an operator.
    Aborted,
    /// Every step done or skipped.
    Completed,
    /// Every step ended, some failed (with `pause_on_failure: false`).
    Failed,
}

impl RolloutState {
    /// Running or paused: a rollout that still holds its bots.
    pub fn active(self) -> bool {
        matches!(self, Self::Running | Self::Paused)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Aborted => "aborted",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// Where one bot's step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Not started.
    Pending,
    /// Its restart was requested; waiting for the handover's report.
    InProgress,
    /// Handed over (onto the target).
    Done,
    /// Rolled back, refused, or not reported in time.
    Failed,
    /// Nothing to do (not running, already on the target, deleted, aborted).
    Skipped,
}

/// What a step replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A bot: a warm handover onto the node's installed build.
    #[default]
    Bot,
    /// The node's agent (a version target, before its bots): it executes the installed build,
    /// its bots running on.
    Agent,
}

/// How long a node's agent has to come back on the installed build.
pub const AGENT_DEADLINE_MS: i64 = 120_000;

/// One step: a bot, or a node's agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RolloutStep {
    /// A bot or the node's agent.
    #[serde(default)]
    pub kind: StepKind,
    /// The node.
    pub node_id: String,
    /// The bot (empty for the agent's step).
    pub bot_id: String,
    /// Where it is.
    pub state: StepState,
    /// What happened, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When its restart was requested, unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// When it ended, unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    /// The build the bot ran before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Build>,
    /// The build it runs after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Build>,
    /// Its process before (to see a restart that reports no handover: `--cold-restarts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_pid: Option<u32>,
    /// When its last handover before the step ended (its node's clock, unix ms): a handover
    /// reported with another time is the step's, whatever the skew between the clocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_handover_at: Option<i64>,
    /// The restart generation the step asked for: only what the node did once it applied that
    /// one is the step's (not a crash restart, nor a handover for another reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The build a version step must end on (the node's installed one when it started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_build: Option<Build>,
}

/// A rollout and its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Rollout {
    /// Id.
    pub rollout_id: String,
    /// `restart`, or the version every bot in scope ends up running.
    pub target: String,
    /// `fleet`, `node:<id>`, `type:<bot_type>` or `env:<environment>`.
    pub scope: String,
    /// Bots of one node restarted at once.
    pub max_unavailable: u32,
    /// Whether the first failed step pauses it.
    pub pause_on_failure: bool,
    /// Where it is.
    pub state: RolloutState,
    /// Why it paused or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who started it.
    pub created_by: String,
    /// Started, unix ms.
    pub created_at: i64,
    /// Last changed, unix ms.
    pub updated_at: i64,
    /// One per bot, in the order they are walked.
    pub steps: Vec<RolloutStep>,
}

fn default_scope() -> String {
    "fleet".into()
}

fn default_unavailable() -> u32 {
    1
}

fn default_true() -> bool {
    true
}

/// `POST /api/v1/rollouts`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRollout {
    /// `restart` (a warm handover of every bot in scope), or a version (each node must have
    /// it installed; bots already on the node's installed build are skipped).
    #[schemars(length(min = 1, max = 64), pattern(r"^[0-9A-Za-z.+-]+$"))]
    pub target: String,
    /// `fleet` (the default), `node:<id>`, `type:<bot_type>` or `env:<environment>`.
    #[serde(default = "default_scope")]
    #[schemars(
        length(min = 1, max = 80),
        pattern(r"^(fleet|(node|type|env):[A-Za-z0-9_.-]{1,64})$")
    )]
    pub scope: String,
    /// Bots of one node restarted at once (1 to 64; default 1).
    #[serde(default = "default_unavailable")]
    #[schemars(range(min = 1, max = 64))]
    pub max_unavailable: u32,
    /// Whether the first failed step pauses the rollout (default true); otherwise it goes on.
    #[serde(default = "default_true")]
    pub pause_on_failure: bool,
}

/// A scope as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every bot.
    Fleet,
    /// The bots of one node.
    Node(String),
    /// The bots of one type.
    Type(String),
    /// The bots whose configuration names this environment.
    Env(String),
}

impl Scope {
    /// Parses `fleet`, `node:<id>`, `type:<t>`, `env:<e>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.len() <= 64
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        match s.split_once(':') {
            None if s == "fleet" => Ok(Self::Fleet),
            Some(("node", n)) if name_ok(n) => Ok(Self::Node(n.into())),
            Some(("type", n)) if name_ok(n) => Ok(Self::Type(n.into())),
            Some(("env", n)) if name_ok(n) => Ok(Self::Env(n.into())),
            _ => Err(format!(
                "scope {s:?}: expected \"fleet\", \"node:<id>\", \"type:<bot_type>\" or \"env:<environment>\""
            )),
        }
    }
}

impl NewRollout {
    /// Checks what the types do not.
    pub fn check(&self) -> Result<Scope, (&'static str, String)> {
        let target_ok = !self.target.is_empty()
            && self.target.len() <= 64
            && self
                .target
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'));
        if !target_ok {
            return Err((
                "target",
                "\"restart\" or a version: 1 to 64 letters, digits, '.', '+', '-'".into(),
            ));
        }
        if !(1..=64).contains(&self.max_unavailable) {
            return Err(("max_unavailable", "1 to 64".into()));
        }
        Scope::parse(&self.scope).map_err(|e| ("scope", e))
    }
}

/// What drives one tick: the fleet as the store has it now.
pub(crate) struct Fleet {
    pub(crate) bots: std::collections::HashMap<String, crate::store::BotRow>,
    pub(crate) reports: std::collections::HashMap<String, crate::store::ReportRow>,
    pub(crate) nodes: std::collections::HashMap<String, crate::store::NodeRow>,
}

/// What a tick asks of the store besides saving the rollout: restart these bots.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub(crate) restart: Vec<String>,
    /// Nodes whose agent step started (their desired state names the build).
    pub(crate) agents: Vec<String>,
}

impl Rollout {
    /// Advances the rollout by what `fleet` shows at `now`; whether anything changed, and the
    /// bots to restart.
    pub(crate) fn advance(&mut self, fleet: &Fleet, now: i64) -> (bool, Effects) {
        let mut changed = false;
        let mut effects = Effects::default();
        let mut failed_now: Option<String> = None;
        for step in &mut self.steps {
            if step.state != StepState::InProgress {
                continue;
            }
            let started = step.started_at.unwrap_or(now);
            if step.kind == StepKind::Agent {
                let runs = fleet.nodes.get(&step.node_id).and_then(|n| n.agent.clone());
                if runs.is_some() && runs == step.to {
                    end(
                        step,
                        StepState::Done,
                        "the agent runs the installed build",
                        now,
                    );
                    changed = true;
                } else if now - started > AGENT_DEADLINE_MS {
                    let text = format!(
                        "the agent did not come back on the installed build within {} s",
                        AGENT_DEADLINE_MS / 1000
                    );
                    end(step, StepState::Failed, &text, now);
                    failed_now.get_or_insert(describe(step));
                    changed = true;
                }
                continue;
            }
            let Some(bot) = fleet.bots.get(&step.bot_id) else {
                end(
                    step,
                    StepState::Skipped,
                    "deleted while its handover ran",
                    now,
                );
                changed = true;
                continue;
            };
            if !bot.desired_state.has_process() {
                end(
                    step,
                    StepState::Skipped,
                    "stopped while its restart ran",
                    now,
                );
                changed = true;
                continue;
            }
            // The generation asked (set at the step's start, the store's answer after).
            let asked = *step.generation.get_or_insert(bot.restarts + 1);
            let report = fleet.reports.get(&step.bot_id);
            let status = report.map(|r| &r.status);
            // The node took the step's restart (agents before the field: taken as done).
            let applied = status
                .and_then(|s| s.restart_generation)
                .is_none_or(|g| g >= asked);
            let handover = status.and_then(|s| s.handover.as_ref()).filter(|h| {
                applied
                    && Some(h.at_ms) != step.from_handover_at
                    && h.trigger == HandoverTrigger::Restart
            });
            let build = status.and_then(|s| s.build.clone());
            // A cold restart (no handover reported): its process changed and it runs again.
            let cold_done = applied
                && handover.is_none()
                && report.is_some_and(|r| {
                    r.reported_at > started
                        && r.status.state.as_deref() == Some("running")
                        && r.status.pid.is_some()
                        && r.status.pid != step.from_pid
                });
            match handover.map(|h| h.outcome) {
                Some(HandoverOutcome::RolledBack) => {
                    let why = handover
                        .and_then(|h| h.reason.clone())
                        .unwrap_or_else(|| "rolled back".into());
                    end(
                        step,
                        StepState::Failed,
                        &format!("handover rolled back: {why}"),
                        now,
                    );
                    failed_now.get_or_insert(describe(step));
                    changed = true;
                }
                Some(HandoverOutcome::Completed) | None if handover.is_some() || cold_done => {
                    step.to.clone_from(&build);
                    let on_target = match &step.target_build {
                        _ if self.target == "restart" => true,
                        Some(want) => build.as_ref() == Some(want),
                        None => build.as_ref().is_some_and(|b| b.version == self.target),
                    };
                    if on_target {
                        let how = if handover.is_some() {
                            "handed over"
                        } else {
                            "restarted"
                        };
                        end(step, StepState::Done, how, now);
                    } else {
                        let runs =
                            build.map_or_else(|| "an unknown build".into(), |b| b.to_string());
                        end(
                            step,
                            StepState::Failed,
                            &format!("runs {runs} after its restart, not {}", self.target),
                            now,
                        );
                        failed_now.get_or_insert(describe(step));
                    }
                    changed = true;
                }
                _ if now - started > STEP_DEADLINE_MS => {
                    end(
                        step,
                        StepState::Failed,
                        &format!("no handover reported within {} s", STEP_DEADLINE_MS / 1000),
                        now,
                    );
                    failed_now.get_or_insert(describe(step));
                    changed = true;
                }
                _ => {}
            }
        }
        if self.state == RolloutState::Running {
            // The first node with steps left; at most max_unavailable of its bots at once.
            let stop = failed_now.is_some() && self.pause_on_failure;
            // A node whose agent was not upgraded, where failures do not pause: its bots are
            // not restarted onto a build their agent does not run (a pause keeps them pending,
            // for a resume to try the agent again).
            let agent_failed: Vec<String> = self
                .steps
                .iter()
                .filter(|s| s.kind == StepKind::Agent && s.state == StepState::Failed)
                .map(|s| s.node_id.clone())
                .collect();
            for step in &mut self.steps {
                if !self.pause_on_failure
                    && step.state == StepState::Pending
                    && agent_failed.contains(&step.node_id)
                {
                    end(
                        step,
                        StepState::Skipped,
                        "its node's agent was not upgraded",
                        now,
                    );
                    changed = true;
                }
            }
            let node = if stop {
                None
            } else {
                self.steps
                    .iter()
                    .find(|s| matches!(s.state, StepState::Pending | StepState::InProgress))
                    .map(|s| s.node_id.clone())
            };
            if let (Some(node), false) = (node, stop) {
                let mut busy = self
                    .steps
                    .iter()
                    .filter(|s| s.node_id == node && s.state == StepState::InProgress)
                    .count();
                let installed = fleet.nodes.get(&node).and_then(|n| n.installed.clone());
                let agent = fleet.nodes.get(&node).and_then(|n| n.agent.clone());
                // The agent first: the node's bots wait for its step.
                let agent_busy = self.steps.iter().any(|s| {
                    s.node_id == node
                        && s.kind == StepKind::Agent
                        && s.state == StepState::InProgress
                });
                for step in &mut self.steps {
                    if agent_busy || step.node_id != node || step.state != StepState::Pending {
                        continue;
                    }
                    if busy >= self.max_unavailable as usize {
                        break;
                    }
                    changed = true;
                    if step.kind == StepKind::Agent {
                        step.from.clone_from(&agent);
                        match &installed {
                            Some(i) if i.version == self.target && agent.as_ref() == Some(i) => {
                                let text = format!("the agent already runs {i}");
                                end(step, StepState::Skipped, &text, now);
                            }
                            Some(i) if i.version == self.target => {
                                step.state = StepState::InProgress;
                                step.started_at = Some(now);
                                step.to = Some(i.clone());
                                step.message = Some(format!("the agent is to execute {i}"));
                                effects.agents.push(node.clone());
                                // Its bots wait until it is back.
                                break;
                            }
                            other => {
                                let text = not_installed(&node, other.as_ref(), &self.target);
                                end(step, StepState::Failed, &text, now);
                                failed_now.get_or_insert(describe(step));
                                break;
                            }
                        }
                        continue;
                    }
                    let Some(bot) = fleet.bots.get(&step.bot_id) else {
                        end(step, StepState::Skipped, "deleted", now);
                        continue;
                    };
                    if !bot.desired_state.has_process() {
                        end(step, StepState::Skipped, "not running", now);
                        continue;
                    }
                    let status = fleet.reports.get(&step.bot_id).map(|r| &r.status);
                    step.from = status.and_then(|s| s.build.clone());
                    step.from_pid = status.and_then(|s| s.pid);
                    step.from_handover_at =
                        status.and_then(|s| s.handover.as_ref().map(|h| h.at_ms));
                    if self.target != "restart" {
                        match &installed {
                            Some(i) if i.version == self.target => {
                                step.target_build = Some(i.clone());
                                if step.from.as_ref() == Some(i) {
                                    let text = format!("already runs {i}");
                                    end(step, StepState::Skipped, &text, now);
                                    continue;
                                }
                            }
                            other => {
                                let text = not_installed(&node, other.as_ref(), &self.target);
                                end(step, StepState::Failed, &text, now);
                                failed_now.get_or_insert(describe(step));
                                if self.pause_on_failure {
                                    break;
                                }
                                continue;
                            }
                        }
                    }
                    step.state = StepState::InProgress;
                    step.started_at = Some(now);
                    // The generation the request makes (the store's answer replaces it): a
                    // request that never ran is never taken for done.
                    step.generation = Some(bot.restarts + 1);
                    step.message = Some("restart requested: a warm handover on its node".into());
                    effects.restart.push(step.bot_id.clone());
                    busy += 1;
                }
            }
            if let Some(first) = failed_now.filter(|_| self.pause_on_failure) {
                self.state = RolloutState::Paused;
                self.reason = Some(format!("stopped at the first failed step: {first}"));
                changed = true;
            } else if self
                .steps
                .iter()
                .all(|s| !matches!(s.state, StepState::Pending | StepState::InProgress))
            {
                let failed = self
                    .steps
                    .iter()
                    .filter(|s| s.state == StepState::Failed)
                    .count();
                self.state = if failed > 0 {
                    RolloutState::Failed
                } else {
                    RolloutState::Completed
                };
                if failed > 0 {
                    self.reason = Some(format!("{failed} step(s) failed"));
                }
                changed = true;
            }
        }
        if changed {
            self.updated_at = now;
        }
        (changed, effects)
    }

    /// Applies an operator's `pause`, `resume` or `abort`; why not when the state forbids it.
    pub fn act(&mut self, action: &str, now: i64) -> Result<(), String> {
        match (action, self.state) {
            ("pause", RolloutState::Running) => self.state = RolloutState::Paused,
            ("resume", RolloutState::Paused) => {
                // Failed steps are tried again.
                for step in &mut self.steps {
                    if step.state == StepState::Failed {
                        step.state = StepState::Pending;
                        step.message = Some("tried again on resume".into());
                        step.started_at = None;
                        step.finished_at = None;
                    }
                }
                self.state = RolloutState::Running;
                self.reason = None;
            }
            ("abort", RolloutState::Running | RolloutState::Paused) => {
                for step in &mut self.steps {
                    match step.state {
                        StepState::Pending => end(step, StepState::Skipped, "aborted", now),
                        StepState::InProgress => end(
                            step,
                            StepState::Skipped,
                            "aborted while its handover ran (it ends on its node)",
                            now,
                        ),
                        _ => {}
                    }
                }
                self.state = RolloutState::Aborted;
            }
            (_, state) => {
                return Err(format!(
                    "cannot {action} rollout {}: it is {}",
                    self.rollout_id,
                    state.as_str()
                ));
            }
        }
        self.updated_at = now;
        Ok(())
    }
}

/// Why a node cannot take a version: what it has installed.
fn not_installed(node: &str, installed: Option<&Build>, target: &str) -> String {
    let has = installed.map_or_else(|| "no build reported".into(), |b| format!("{b} installed"));
    format!("node {node} has {has}, not {target}: install it first")
}

fn end(step: &mut RolloutStep, state: StepState, message: &str, now: i64) {
    step.state = state;
    step.message = Some(message.to_string());
    step.finished_at = Some(now);
}

fn describe(step: &RolloutStep) -> String {
    let what = match step.kind {
        StepKind::Agent => "the agent".to_string(),
        StepKind::Bot => format!("bot {}", step.bot_id),
    };
    format!(
        "{what} on node {}: {}",
        step.node_id,
        step.message.as_deref().unwrap_or("failed")
    )
}

/// The steps of a new rollout over `bots` (with each one's latest configuration's
/// `environment`) in `scope`: node by node, bot by bot; for a version target, each node's agent
/// before its bots (and a node in a `node:` scope without bots still gets its agent's step).
pub(crate) fn plan(
    target: &str,
    scope: &Scope,
    bots: &[(crate::store::BotRow, Option<String>)],
) -> Result<Vec<RolloutStep>, String> {
    let mut steps: Vec<RolloutStep> = bots
        .iter()
        .filter(|(b, env)| match scope {
            Scope::Fleet => true,
            Scope::Node(n) => b.node_id == *n,
            Scope::Type(t) => b.bot_type == *t,
            Scope::Env(e) => env.as_deref() == Some(e.as_str()),
        })
        .map(|(b, _)| RolloutStep {
            kind: StepKind::Bot,
            node_id: b.node_id.clone(),
            bot_id: b.bot_id.clone(),
            state: StepState::Pending,
            message: None,
            started_at: None,
            finished_at: None,
            from: None,
            to: None,
            from_pid: None,
            from_handover_at: None,
            generation: None,
            target_build: None,
        })
        .collect();
    if steps.len() > STEPS_MAX {
        return Err(format!(
            "{} bots in scope: at most {STEPS_MAX} per rollout",
            steps.len()
        ));
    }
    if target != "restart" {
        let mut nodes: Vec<String> = steps.iter().map(|s| s.node_id.clone()).collect();
        if let Scope::Node(n) = scope {
            nodes.push(n.clone());
        }
        nodes.sort();
        nodes.dedup();
        for node_id in nodes {
            steps.push(RolloutStep {
                kind: StepKind::Agent,
                node_id,
                bot_id: String::new(),
                state: StepState::Pending,
                message: None,
                started_at: None,
                finished_at: None,
                from: None,
                to: None,
                from_pid: None,
                from_handover_at: None,
                generation: None,
                target_build: None,
            });
        }
    }
    // Node by node; on each, the agent (empty bot id) first.
    steps.sort_by(|a, b| (&a.node_id, &a.bot_id).cmp(&(&b.node_id, &b.bot_id)));
    Ok(steps)
}

/// What an active rollout's steps hold that a new one's would take too: a bot both restart,
/// or a node whose agent either replaces (an upgrade's agent step) while the other acts on
/// it. `None`: they touch nothing in common and may run side by side.
pub(crate) fn overlap(active: &[RolloutStep], new: &[RolloutStep]) -> Option<String> {
    if let Some(s) = new.iter().find(|s| {
        s.kind == StepKind::Bot
            && active
                .iter()
                .any(|a| a.kind == StepKind::Bot && a.bot_id == s.bot_id)
    }) {
        return Some(format!("bot {}", s.bot_id));
    }
    // A node both act on, where one of them replaces the agent.
    let upgrades = |n: &str| {
        active
            .iter()
            .chain(new)
            .any(|s| s.kind == StepKind::Agent && s.node_id == n)
    };
    new.iter()
        .map(|s| s.node_id.as_str())
        .find(|n| upgrades(n) && active.iter().any(|a| a.node_id == *n))
        .map(|n| format!("node {n}"))
}

/// One tick of every active rollout (under the rollouts lock, so operator actions and the
/// driver never overwrite each other).
pub async fn tick(state: &crate::AppState) -> Result<(), StoreError> {
    let _guard = state.rollouts_lock.lock().await;
    // Only what has work to do: a paused rollout with nothing under way reads nothing.
    let active: Vec<Rollout> = state
        .store
        .active_rollouts()
        .await?
        .into_iter()
        .filter(|r| {
            r.state == RolloutState::Running
                || r.steps.iter().any(|s| s.state == StepState::InProgress)
        })
        .collect();
    if active.is_empty() {
        return Ok(());
    }
    let fleet = Fleet {
        bots: state
            .store
            .bots()
            .await?
            .into_iter()
            .map(|b| (b.bot_id.clone(), b))
            .collect(),
        reports: state.store.bot_reports().await?,
        nodes: state
            .store
            .nodes()
            .await?
            .into_iter()
            .map(|n| (n.node_id.clone(), n))
            .collect(),
    };
    let now = state.store.now_ms();
    for mut rollout in active {
        if rollout.state != RolloutState::Running
            && !rollout
                .steps
                .iter()
                .any(|s| s.state == StepState::InProgress)
        {
            continue;
        }
        let before = rollout.state;
        let (changed, effects) = rollout.advance(&fleet, now);
        // The steps first: a store failure after this never asks for a restart twice.
        if changed {
            state.store.save_rollout(&rollout).await?;
        }
        let mut dirty = false;
        let mut asked = Vec::new();
        for bot in &effects.restart {
            // Only a bot that still runs: a stop (the emergency stop included) since the
            // fleet was read wins, and the step is skipped.
            let generation = state.store.request_rollout_restart(bot).await?;
            dirty = true;
            if let Some(step) = rollout
                .steps
                .iter_mut()
                .find(|s| s.kind == StepKind::Bot && s.bot_id == *bot)
            {
                step.generation = generation;
                if generation.is_none() {
                    end(step, StepState::Skipped, "stopped meanwhile", now);
                }
            }
            if generation.is_some() {
                asked.push(bot.clone());
            }
        }
        // The agents learn of the restarts before anything else can fail.
        if !asked.is_empty() || !effects.agents.is_empty() {
            state.bump_index().await?;
        }
        for bot in &asked {
            state
                .store
                .audit(
                    &rollout.created_by,
                    "rollout.restart",
                    bot,
                    &json!({"rollout_id": rollout.rollout_id, "target": rollout.target}),
                )
                .await?;
        }
        if dirty {
            state.store.save_rollout(&rollout).await?;
        }
        if rollout.state != before {
            tracing::info!(rollout = %rollout.rollout_id, state = rollout.state.as_str(), reason = ?rollout.reason, "rollout");
            state
                .store
                .audit(
                    "gateway",
                    &format!("rollout.{}", rollout.state.as_str()),
                    &rollout.rollout_id,
                    &json!({"reason": rollout.reason}),
                )
                .await?;
        }
        for node in &effects.agents {
            state
                .store
                .audit(
                    &rollout.created_by,
                    "rollout.agent_upgrade",
                    node,
                    &json!({"rollout_id": rollout.rollout_id, "target": rollout.target}),
                )
                .await?;
        }
    }
    Ok(())
}

/// Drives the rollouts every 250 ms until the process ends.
pub async fn drive(state: crate::AppState) {
    let mut tick_every = tokio::time::interval(std::time::Duration::from_millis(250));
    tick_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick_every.tick().await;
        if let Err(e) = tick(&state).await {
            tracing::error!(error = %e, "driving rollouts");
        }
    }
}

#[cfg(test)]
mod tests;
