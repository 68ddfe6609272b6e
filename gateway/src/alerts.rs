//! Alert rules, their evaluation against what agents report, and webhook delivery (JSON that
//! Slack-, Discord- and Telegram-style receivers accept, retried with backoff).

use sniperforge_protocol::fleet::DesiredState;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::Row;

use crate::store::{EnvFilter, Environment, Store, StoreError, db};

/// A bot and stage's p99 in ns: merged since start (`None`), or the lowest interval p99 over
/// the last N seconds (`Some(N)`, `None` unless reports cover them).
pub type P99Source<'a> = dyn Fn(&str, &str, Option<u64>) -> Option<u64> + Sync + 'a;

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// A bot meant to run has not reported for `after_s` seconds.
    BotDown {
        /// Silence that counts as down.
        after_s: u64,
    },
    /// A bot reports status `error`. (A struct variant, not a unit one, so that
    /// `deny_unknown_fields` refuses extra fields for it as for every other kind.)
    BotError {},
    /// A bot's `/health` fails (its agent counts the checks failed in a row), or its agent
    /// replaced it for failing them within the last `within_s` seconds.
    BotUnhealthy {
        /// How long a replacement for failed health checks keeps the alert up.
        #[schemars(range(min = 1, max = 86_400))]
        within_s: u64,
    },
    /// A node has not sent a heartbeat for `after_s` seconds.
    NodeLost {
        /// Silence that counts as lost.
        after_s: u64,
    },
    /// A bot hit its daily loss limit (it reports `error` with "daily loss limit reached"), or
    /// its reported `daily_pnl_usd` is at or below `-limit_usd` when a limit is given.
    DailyLoss {
        /// Loss in USD that fires the alert without waiting for the bot's own limit.
        #[serde(default)]
        limit_usd: Option<f64>,
    },
    /// A running bot's newest market update is older than `after_ms` (its reported
    /// `feed_age_ms`).
    FeedStale {
        /// Age that counts as stale.
        after_ms: u64,
    },
    /// A trade event: the fills of the bots in scope (as their agents' reports bring them,
    /// once), posted to the webhook, no alert kept. A rule's fills go out together, one
    /// message at most every [`trade::TRADE_MESSAGE_GAP`] (the first
    /// [`trade::TRADES_PER_MESSAGE`] listed, the rest counted).
    Trade {
        /// Only fills whose PnL is at least this in magnitude, USD.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 0.0, max = 1e15))]
        min_abs_pnl_usd: Option<f64>,
        /// Only routes that failed at fill time.
        #[serde(default)]
        failures_only: bool,
    },
    /// A bot's p99 of `stage` is above `budget_ns`: the p99 merged since start, or with
    /// `for_s`, every reported interval's p99 over the last `for_s` seconds.
    P99Above {
        /// Stage name (decoded, detected, decided).
        stage: String,
        /// Budget in ns.
        budget_ns: u64,
        /// Seconds the p99 must stay above the budget (1 to 900: the p99s kept).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1, max = 900))]
        for_s: Option<u64>,
    },
}

/// A rule as the API takes it.
/// Unknown fields are refused by [`RuleKind`], which receives every field but these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rule {
    /// Id.
    pub rule_id: String,
    /// What it watches.
    #[serde(flatten)]
    pub kind: RuleKind,
    /// Webhook URL (`http://host:port/path` or `https://…`), or empty for none.
    #[serde(default)]
    pub webhook: String,
    /// What it watches: `fleet` (the default), `env:<environment>`, `type:<bot_type>` or
    /// `bot:<bot_id>`.
    #[serde(default = "fleet")]
    #[schemars(schema_with = "rule_scope_schema")]
    pub scope: String,
    /// How its webhook bodies are shaped.
    #[serde(default)]
    pub format: WebhookFormat,
    /// The chat a `telegram` rule's messages go to (its bot API's `chat_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 64),
        pattern(r"^(-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32})$")
    )]
    pub chat_id: Option<String>,
}

/// How a webhook body is shaped (see [`format::body`]).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"text", "content", …}` with the event's fields: Slack's and Discord's incoming
    /// webhooks both read it, and any JSON receiver can.
    #[default]
    Generic,
    /// A Slack incoming webhook: `text` and a `blocks` section (mrkdwn, escaped).
    Slack,
    /// A Discord webhook: `content` and an embed, mentions disabled.
    Discord,
    /// Telegram's bot API `sendMessage` (`https://api.telegram.org/bot<token>/sendMessage`):
    /// `chat_id` and plain `text`.
    Telegram,
}

impl WebhookFormat {
    /// Its name, as rules and the store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Telegram => "telegram",
        }
    }
}

/// Whether `id` is a Telegram chat: a number (negative for groups) or `@channelname`.
pub fn valid_chat_id(id: &str) -> bool {
    match id.strip_prefix('@') {
        Some(name) => {
            (5..=32).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        None => {
            let digits = id.strip_prefix('-').unwrap_or(id);
            (1..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        }
    }
}

fn fleet() -> String {
    "fleet".into()
}

fn rule_scope_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let types: Vec<&str> = sniperforge_protocol::BotType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    let pattern = format!(
        "^(fleet|env:(dev|test|prod)|type:({})|bot:[A-Za-z0-9_-]{{1,64}})$",
        types.join("|")
    );
    schemars::json_schema!({"type": "string", "pattern": pattern, "default": "fleet"})
}

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleScope {
    /// Every bot and node.
    Fleet,
    /// The bots of one environment, and the nodes serving it.
    Env(Environment),
    /// The bots of one type, and the nodes running them.
    Type(sniperforge_protocol::BotType),
    /// One bot with its replicas, and the nodes running them.
    Bot(String),
}

impl RuleScope {
    /// Parses `fleet`, `env:<e>`, `type:<t>` or `bot:<id>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let wrong = || {
            format!(
                "scope {:?}: expected fleet, env:<environment>, type:<bot_type> or bot:<bot_id>",
                s.chars().take(80).collect::<String>()
            )
        };
        match s.split_once(':') {
            None if s == "fleet" => Ok(Self::Fleet),
            Some(("env", e)) => e.parse().map(Self::Env).map_err(|_| wrong()),
            Some(("type", t)) => t.parse().map(Self::Type).map_err(|_| wrong()),
            Some(("bot", b)) if sniperforge_protocol::config::valid_bot_id(b) => {
                Ok(Self::Bot(b.into()))
            }
            _ => Err(wrong()),
        }
    }

    /// Whether it watches `bot`.
    pub fn watches(&self, bot: &crate::store::BotRow) -> bool {
        match self {
            Self::Bot(id) => bot.bot_id == *id || bot.replica_of.as_deref() == Some(id),
            _ => self.names(&bot.bot_id, &bot.bot_type, bot.environment),
        }
    }

    /// Whether it watches bot `bot_id` of type `bot_type` in `env` (replicas aside).
    pub fn names(&self, bot_id: &str, bot_type: &str, env: Environment) -> bool {
        match self {
            Self::Fleet => true,
            Self::Env(e) => env == *e,
            Self::Type(t) => bot_type == t.as_str(),
            Self::Bot(id) => bot_id == id,
        }
    }

    /// The environment its alerts belong to, when it names one.
    pub fn environment(&self) -> Option<Environment> {
        match self {
            Self::Env(e) => Some(*e),
            _ => None,
        }
    }
}

impl Store {
    /// Adds or replaces a rule.
    pub async fn put_rule(&self, rule: &Rule) -> Result<(), StoreError> {
        let params = serde_json::to_string(&rule.kind).unwrap_or_default();
        let kind = serde_json::to_value(&rule.kind)
            .ok()
            .and_then(|v| v["kind"].as_str().map(String::from))
            .unwrap_or_default();
        // One statement (SQLite and PostgreSQL): a reader never sees the rule missing, and two
        // writers of one id do not collide.
        sqlx::query(
            "INSERT INTO alert_rules (rule_id, kind, params, webhook, created_at, scope, format, chat_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (rule_id) DO UPDATE SET kind = excluded.kind, params = excluded.params, \
             webhook = excluded.webhook, created_at = excluded.created_at, scope = excluded.scope, \
             format = excluded.format, chat_id = excluded.chat_id",
        )
        .bind(&rule.rule_id)
        .bind(kind)
        .bind(params)
        .bind(&rule.webhook)
        .bind(self.now_ms())
        .bind(&rule.scope)
        .bind(rule.format.as_str())
        .bind(rule.chat_id.as_deref())
        .execute(self.pool())
        .await
        .map_err(db("storing a rule"))?;
        Ok(())
    }

    /// Every rule.
    pub async fn rules(&self) -> Result<Vec<Rule>, StoreError> {
        let rows =
            sqlx::query("SELECT rule_id, params, webhook, scope, format, chat_id FROM alert_rules ORDER BY rule_id")
                .fetch_all(self.pool())
                .await
                .map_err(db("listing rules"))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let kind: RuleKind =
                    serde_json::from_str(&r.try_get::<String, _>("params").ok()?).ok()?;
                Some(Rule {
                    rule_id: r.try_get("rule_id").ok()?,
                    kind,
                    webhook: r.try_get("webhook").ok()?,
                    scope: r
                        .try_get::<Option<String>, _>("scope")
                        .ok()?
                        .unwrap_or_else(fleet),
                    format: r
                        .try_get::<Option<String>, _>("format")
                        .ok()?
                        .map_or(Some(WebhookFormat::Generic), |f| {
                            serde_json::from_value(Value::String(f)).ok()
                        })?,
                    chat_id: r.try_get("chat_id").ok()?,
                })
            })
            .collect())
    }

    /// Alerts in the environments `envs` reaches, active first then the most recent resolved
    /// ones (an alert of no one environment, such as a node's serving several, only reaches a
    /// caller reaching all of them).
    pub async fn alerts(
        &self,
        envs: &EnvFilter,
    ) -> Result<Vec<crate::store::AlertRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT alert_id, rule_id, target, environment, message, state, started_at, resolved_at FROM alerts \
             WHERE {} ORDER BY state, started_at DESC LIMIT 500",
            envs.sql("environment")
        ))
            .fetch_all(self.pool())
            .await
            .map_err(db("listing alerts"))?;
        rows.iter()
            .map(|r| {
                let col = |c: &'static str| db(format!("reading alert column {c}"));
                Ok(crate::store::AlertRow {
                    alert_id: r.try_get("alert_id").map_err(col("alert_id"))?,
                    rule_id: r.try_get("rule_id").map_err(col("rule_id"))?,
                    target: r.try_get("target").map_err(col("target"))?,
                    environment: r
                        .try_get::<Option<String>, _>("environment")
                        .map_err(col("environment"))?
                        .and_then(|e| e.parse().ok()),
                    message: r.try_get("message").map_err(col("message"))?,
                    state: r.try_get("state").map_err(col("state"))?,
                    started_at: r.try_get("started_at").map_err(col("started_at"))?,
                    resolved_at: r.try_get("resolved_at").map_err(col("resolved_at"))?,
                })
            })
            .collect()
    }

    async fn set_alert(
        &self,
        id: &str,
        rule: &str,
        target: &str,
        environment: Option<Environment>,
        message: &str,
        active: bool,
    ) -> Result<bool, StoreError> {
        // Each change is one conditional statement, so two evaluations at once (the loop and
        // `POST /api/v1/alerts/evaluate`) raise or resolve an alert once between them: the one
        // whose statement changed a row reports it (and delivers its webhook).
        let now = self.now_ms();
        let changed = |r: sqlx::any::AnyQueryResult| r.rows_affected() > 0;
        if !active {
            let r = sqlx::query(
                "UPDATE alerts SET state = 'resolved', resolved_at = $1 WHERE alert_id = $2 AND state = 'active'",
            )
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(db("resolving an alert"))?;
            return Ok(changed(r));
        }
        // Raised, or raised again (a resolved row becomes active with this firing's details);
        // nothing changes while it is active.
        let r = sqlx::query(
            "INSERT INTO alerts (alert_id, rule_id, target, message, state, started_at, resolved_at, environment) \
             VALUES ($1, $2, $3, $4, 'active', $5, 0, $6) \
             ON CONFLICT (alert_id) DO UPDATE SET rule_id = excluded.rule_id, target = excluded.target, \
             message = excluded.message, state = 'active', started_at = excluded.started_at, resolved_at = 0, \
             environment = excluded.environment \
             WHERE alerts.state <> 'active'",
        )
        .bind(id)
        .bind(rule)
        .bind(target)
        .bind(message)
        .bind(now)
        .bind(environment.map(Environment::as_str))
        .execute(self.pool())
        .await
        .map_err(db("raising an alert"))?;
        Ok(changed(r))
    }
}

/// What one evaluation changed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Evaluation {
    /// Alerts that started firing.
    pub raised: Vec<String>,
    /// Alerts that stopped.
    pub resolved: Vec<String>,
    /// Webhook deliveries that failed after every retry.
    pub delivery_failures: Vec<String>,
}

/// What the rules read: the time, the bots, the nodes, the bots' last reports and their
/// recent p99s.
pub struct Inputs<'a> {
    /// Now, unix ms.
    pub now_ms: i64,
    /// Every bot.
    pub bots: &'a [crate::store::BotRow],
    /// Every node.
    pub nodes: &'a [crate::store::NodeRow],
    /// Bot id → its last report.
    pub reports: &'a std::collections::HashMap<String, crate::store::ReportRow>,
    /// Bot, stage, window → the p99 the rule compares.
    pub p99: &'a P99Source<'a>,
}

impl std::fmt::Debug for Inputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("now_ms", &self.now_ms)
            .field("bots", &self.bots.len())
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

/// One rule over `input`, with no I/O and no clock of its own: the targets it watches and,
/// among them, those firing with their message.
pub fn firing(kind: &RuleKind, input: &Inputs<'_>) -> (Vec<String>, Vec<(String, String)>) {
    let (now, bots, nodes, reports, p99) = (
        input.now_ms,
        input.bots,
        input.nodes,
        input.reports,
        input.p99,
    );
    let mut firing: Vec<(String, String)> = Vec::new(); // (target, message)
    let mut watched: Vec<String> = Vec::new();
    match kind {
        RuleKind::BotDown { after_s } => {
            for b in bots
                .iter()
                .filter(|b| b.desired_state == DesiredState::Running)
            {
                watched.push(b.bot_id.clone());
                let last = reports.get(&b.bot_id).map_or(0, |r| r.reported_at);
                if now - last > (*after_s as i64) * 1000 {
                    // One that no node runs says why (a replica waiting for a node of its own).
                    let message = match &b.pending {
                        Some(why) => format!(
                            "bot {} has not reported for over {after_s} s: it waits for a node ({})",
                            b.bot_id,
                            crate::placement::hide_holders(why)
                        ),
                        None => format!("bot {} has not reported for over {after_s} s", b.bot_id),
                    };
                    firing.push((b.bot_id.clone(), message));
                }
            }
        }
        RuleKind::BotError {} => {
            for b in bots {
                watched.push(b.bot_id.clone());
                if let Some(r) = reports.get(&b.bot_id)
                    && r.status.state.as_deref() == Some("error")
                {
                    let reason = r.status.reason.as_deref().unwrap_or("no reason given");
                    firing.push((
                        b.bot_id.clone(),
                        format!("bot {} is in error: {reason}", b.bot_id),
                    ));
                }
            }
        }
        RuleKind::BotUnhealthy { within_s } => {
            for b in bots {
                watched.push(b.bot_id.clone());
                let Some(r) = reports.get(&b.bot_id) else {
                    continue;
                };
                if let Some(n) = r.status.health_failures.filter(|n| *n > 0) {
                    let why = r.status.reason.as_deref().unwrap_or("no reason given");
                    firing.push((
                        b.bot_id.clone(),
                        format!(
                            "bot {} fails its health checks ({n} in a row): {why}",
                            b.bot_id
                        ),
                    ));
                } else if let Some(h) = &r.status.handover
                    && h.trigger == sniperforge_protocol::fleet::HandoverTrigger::Unhealthy
                    && now.saturating_sub(h.at_ms) <= (*within_s as i64).saturating_mul(1000)
                {
                    let how = match h.outcome {
                        sniperforge_protocol::fleet::HandoverOutcome::Completed => {
                            "was replaced".to_string()
                        }
                        sniperforge_protocol::fleet::HandoverOutcome::RolledBack => format!(
                            "could not be replaced ({})",
                            h.reason.as_deref().unwrap_or("no reason given")
                        ),
                    };
                    firing.push((
                        b.bot_id.clone(),
                        format!("bot {} {how}: {}", b.bot_id, h.cause),
                    ));
                }
            }
        }
        RuleKind::NodeLost { after_s } => {
            for n in nodes {
                let id = n.node_id.clone();
                watched.push(id.clone());
                if now - n.last_heartbeat > (*after_s as i64) * 1000 {
                    firing.push((
                        id.clone(),
                        format!("node {id} lost: no heartbeat for over {after_s} s"),
                    ));
                }
            }
        }
        RuleKind::DailyLoss { limit_usd } => {
            for b in bots {
                watched.push(b.bot_id.clone());
                let Some(r) = reports.get(&b.bot_id) else {
                    continue;
                };
                let pnl = r.metrics["custom_metrics"]["daily_pnl_usd"].as_f64();
                let reason = r.status.reason.as_deref().unwrap_or_default();
                if r.status.state.as_deref() == Some("error") && reason.contains("daily loss limit")
                {
                    firing.push((b.bot_id.clone(), format!("bot {}: {reason}", b.bot_id)));
                } else if let (Some(limit), Some(pnl)) = (limit_usd, pnl)
                    && pnl <= -limit
                {
                    firing.push((
                        b.bot_id.clone(),
                        format!(
                            "bot {} lost {:.2} USD today (alert at {limit:.2})",
                            b.bot_id, -pnl
                        ),
                    ));
                }
            }
        }
        RuleKind::FeedStale { after_ms } => {
            for b in bots
                .iter()
                .filter(|b| b.desired_state == DesiredState::Running)
            {
                watched.push(b.bot_id.clone());
                let age = reports
                    .get(&b.bot_id)
                    .and_then(|r| r.metrics["custom_metrics"]["feed_age_ms"].as_f64());
                if let Some(age) = age.filter(|a| *a > *after_ms as f64) {
                    firing.push((
                        b.bot_id.clone(),
                        format!(
                            "bot {}: feed stale, newest update {age:.0} ms old (limit {after_ms} ms)",
                            b.bot_id
                        ),
                    ));
                }
            }
        }
        // Events, not states: delivered as reports bring trades (`trade::TradeBatches`).
        RuleKind::Trade { .. } => {}
        RuleKind::P99Above {
            stage,
            budget_ns,
            for_s,
        } => {
            for b in bots {
                watched.push(b.bot_id.clone());
                if let Some(p) = p99(&b.bot_id, stage, *for_s).filter(|p| p > budget_ns) {
                    let how_long = for_s.map_or(String::new(), |s| {
                        format!(" for over {s} s (lowest interval p99 {p} ns)")
                    });
                    firing.push((
                        b.bot_id.clone(),
                        format!(
                            "bot {}: p99 of {stage} is {p} ns, budget {budget_ns} ns{how_long}",
                            b.bot_id
                        ),
                    ));
                }
            }
        }
    }
    (watched, firing)
}

/// Evaluates every rule against the store's reports and `p99` (bot → stage → p99 ns), raises
/// and resolves alerts, and notifies webhooks.
pub async fn evaluate(
    store: &Store,
    p99: &P99Source<'_>,
    webhooks: &WebhookQueue,
) -> Result<Evaluation, StoreError> {
    let now = store.now_ms();
    let bots = store.bots().await?;
    let nodes = store.nodes().await?;
    let reports = store.bot_reports().await?;
    let input = Inputs {
        now_ms: now,
        bots: &bots,
        nodes: &nodes,
        reports: &reports,
        p99,
    };
    let mut out = Evaluation::default();
    let rules = store.rules().await?;
    webhooks.trades.flush(&rules, webhooks);
    let env_of: std::collections::HashMap<&str, Environment> = bots
        .iter()
        .map(|b| (b.bot_id.as_str(), b.environment))
        .collect();
    for rule in rules {
        let scope = match RuleScope::parse(&rule.scope) {
            Ok(scope) => scope,
            Err(e) => {
                tracing::error!(rule = %rule.rule_id, error = %e, "alert rule skipped");
                continue;
            }
        };
        // The rule's bots, and the nodes serving its environment or running its bots (the
        // fleet's as they are: no copy).
        let (in_scope, scoped_nodes): (
            std::borrow::Cow<'_, [crate::store::BotRow]>,
            std::borrow::Cow<'_, [crate::store::NodeRow]>,
        ) = if scope == RuleScope::Fleet {
            (bots.as_slice().into(), nodes.as_slice().into())
        } else {
            let in_scope: Vec<crate::store::BotRow> =
                bots.iter().filter(|b| scope.watches(b)).cloned().collect();
            let scoped_nodes: Vec<crate::store::NodeRow> = nodes
                .iter()
                .filter(|n| match &scope {
                    RuleScope::Env(e) => n.serves(*e),
                    _ => in_scope.iter().any(|b| b.node_id == n.node_id),
                })
                .cloned()
                .collect();
            (in_scope.into(), scoped_nodes.into())
        };
        let scoped = Inputs {
            bots: &in_scope,
            nodes: &scoped_nodes,
            ..input
        };
        let (watched, firing) = firing(&rule.kind, &scoped);
        for target in &watched {
            // A bot's alert is its environment's; a node's, the rule's or the one environment
            // the node serves.
            let environment = env_of
                .get(target.as_str())
                .copied()
                .filter(|_| !matches!(rule.kind, RuleKind::NodeLost { .. }))
                .or_else(|| scope.environment())
                .or_else(|| {
                    scoped_nodes
                        .iter()
                        .find(|n| n.node_id == *target)
                        .and_then(|n| n.environments.as_deref())
                        .filter(|l| l.len() == 1)
                        .map(|l| l[0])
                });
            let id = format!("{}:{target}", rule.rule_id);
            let message = firing
                .iter()
                .find(|(t, _)| t == target)
                .map(|(_, m)| m.clone());
            let changed = store
                .set_alert(
                    &id,
                    &rule.rule_id,
                    target,
                    environment,
                    message.as_deref().unwrap_or(""),
                    message.is_some(),
                )
                .await?;
            if !changed {
                continue;
            }
            let text = match &message {
                Some(m) => {
                    out.raised.push(id.clone());
                    format!("ALERT {m}")
                }
                None => {
                    out.resolved.push(id.clone());
                    format!("RESOLVED {} on {target}", rule.rule_id)
                }
            };
            let fields = json!({"alert_id": id, "firing": message.is_some()});
            if !rule.webhook.is_empty()
                && let Err(e) = webhooks.enqueue(
                    &id,
                    &rule.webhook,
                    format::body(&rule, &text, message.is_some(), fields),
                )
            {
                tracing::error!(alert = %id, error = %e, "webhook delivery not queued");
                out.delivery_failures.push(format!("{id}: {e}"));
            }
        }
    }
    out.delivery_failures.extend(webhooks.take_failures());
    Ok(out)
}

/// Deliveries waiting at most; past it a new one fails at once (reported, logged).
pub const WEBHOOK_QUEUE: usize = 1_024;
/// Deliveries in flight at once (one receiver that never answers holds one of them, for at
/// most its attempts' deadlines).
pub const WEBHOOK_CONCURRENCY: usize = 16;
/// Failed deliveries kept for the next evaluation's answer.
const FAILURES_KEPT: usize = 256;

/// Alert webhooks delivered off the evaluation loop: a bounded queue, a worker that runs up to
/// [`WEBHOOK_CONCURRENCY`] deliveries at once (each retried, each attempt bounded in time), and
/// the failures, logged and kept for the next evaluation's `delivery_failures`.
#[derive(Debug)]
pub struct WebhookQueue {
    tx: tokio::sync::mpsc::Sender<(String, String, Value)>,
    failures: Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
    /// Trade rules' fills waiting for their next message.
    pub trades: trade::TradeBatches,
}

impl WebhookQueue {
    /// Starts the worker (on the current tokio runtime) delivering through `webhooks`.
    pub fn start(webhooks: Webhooks) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, String, Value)>(WEBHOOK_QUEUE);
        let failures: Arc<std::sync::Mutex<std::collections::VecDeque<String>>> = Arc::default();
        let kept = Arc::clone(&failures);
        let webhooks = Arc::new(webhooks);
        tokio::spawn(async move {
            let slots = Arc::new(tokio::sync::Semaphore::new(WEBHOOK_CONCURRENCY));
            while let Some((id, url, body)) = rx.recv().await {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let (webhooks, kept) = (Arc::clone(&webhooks), Arc::clone(&kept));
                tokio::spawn(async move {
                    let _slot = slot;
                    if let Err(e) = webhooks.deliver(&url, &body).await {
                        tracing::error!(alert = %id, error = %e, "webhook delivery failed");
                        if let Ok(mut k) = kept.lock() {
                            if k.len() == FAILURES_KEPT {
                                k.pop_front();
                            }
                            k.push_back(format!("{id}: {e}"));
                        }
                    }
                });
            }
        });
        Self {
            tx,
            failures,
            trades: trade::TradeBatches::default(),
        }
    }

    /// Queues a delivery; `Err` when the queue is full (or its worker gone).
    pub fn enqueue(&self, id: &str, url: &str, body: Value) -> Result<(), EnqueueError> {
        self.tx
            .try_send((id.to_string(), url.to_string(), body))
            .map_err(|e| match e {
                tokio::sync::mpsc::error::TrySendError::Full(_) => EnqueueError::Full,
                tokio::sync::mpsc::error::TrySendError::Closed(_) => EnqueueError::Stopped,
            })
    }

    /// Deliveries that failed since the last call.
    pub fn take_failures(&self) -> Vec<String> {
        self.failures
            .lock()
            .map(|mut f| f.drain(..).collect())
            .unwrap_or_default()
    }
}

/// A delivery not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    /// [`WEBHOOK_QUEUE`] deliveries wait already.
    #[error("{WEBHOOK_QUEUE} webhook deliveries are waiting already: dropped")]
    Full,
    /// The worker is gone.
    #[error("the webhook worker has stopped")]
    Stopped,
}

/// A delivery that failed every attempt: the last attempt's number and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attempt {attempt}: {why}")]
pub struct DeliveryError {
    /// The last attempt (from 1).
    pub attempt: usize,
    /// What went wrong with it: the HTTP status, or the URL, name, connection or TLS error.
    pub why: String,
}

/// How webhooks are reached: `http://` directly, `https://` over TLS verified against the
/// system's CA store (and a CA file when one is configured, e.g. a private receiver's).
#[derive(Clone)]
pub struct Webhooks {
    /// The TLS client, or why there is none (https:// deliveries then fail with it).
    tls: Result<Arc<rustls::ClientConfig>, String>,
    /// Whether a receiver may resolve to a loopback or link-local address (a local receiver;
    /// by default refused: a webhook must not reach the gateway's own host or a cloud
    /// metadata service).
    allow_private: bool,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Webhooks")
    }
}

impl Default for Webhooks {
    /// The system's CA store.
    fn default() -> Self {
        Self {
            tls: Self::client(None).map_err(|e| e.to_string()),
            allow_private: false,
        }
    }
}

impl Webhooks {
    /// The system's CA store plus the PEM certificates in `extra_ca`.
    pub fn new(extra_ca: &std::path::Path) -> Result<Self, sniperforge_host::net::TlsConfigError> {
        Ok(Self {
            tls: Ok(Self::client(Some(extra_ca))?),
            allow_private: false,
        })
    }

    /// The same, also delivering to receivers on loopback or link-local addresses
    /// (`gateway --webhook-allow-private`).
    pub fn allowing_private(mut self) -> Self {
        self.allow_private = true;
        self
    }

    fn client(
        extra_ca: Option<&std::path::Path>,
    ) -> Result<Arc<rustls::ClientConfig>, sniperforge_host::net::TlsConfigError> {
        sniperforge_host::net::tls_client(extra_ca, "webhook CA")
    }

    /// POSTs `body` to the webhook, retrying up to three times with growing backoff (each
    /// attempt: connect ≤ 3 s, send ≤ 3 s, answer ≤ 3 s and ≤ 64 KiB).
    pub async fn deliver(&self, url: &str, body: &Value) -> Result<(), DeliveryError> {
        let mut last = DeliveryError {
            attempt: 0,
            why: String::new(),
        };
        for (attempt, backoff_ms) in [0u64, 100, 400].into_iter().enumerate() {
            tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
            let why = match self.post_once(url, body).await {
                Ok(status) if (200..300).contains(&status) => return Ok(()),
                Ok(status) => format!("HTTP {status}"),
                Err(e) => e,
            };
            last = DeliveryError {
                attempt: attempt + 1,
                why,
            };
        }
        Err(last)
    }

    async fn post_once(&self, url: &str, body: &Value) -> Result<u16, String> {
        let target = sniperforge_host::net::Url::parse(url, &[("http", false), ("https", true)])
            .map_err(|e| format!("webhook {e}"))?;
        let addr = format!("{} ({}:{})", target.authority, target.host, target.port);
        let config = if target.tls {
            Some(self.tls.as_ref().map_err(|e| format!("{addr}: {e}"))?)
        } else {
            None
        };
        // Resolved once and checked; the connection goes to the address checked (a name that
        // resolves differently a moment later does not get past it).
        let resolved: Vec<std::net::SocketAddr> = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::lookup_host((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| format!("{addr}: name resolution timed out"))?
        .map_err(|e| format!("{addr}: {e}"))?
        .collect();
        if !self.allow_private
            && let Some(bad) = resolved.iter().find(|a| local_address(a.ip()))
        {
            return Err(format!(
                "{addr}: resolves to {}, a loopback, link-local or unspecified address (allowed with gateway --webhook-allow-private)",
                bad.ip()
            ));
        }
        let first = *resolved
            .first()
            .ok_or_else(|| format!("{addr}: no address"))?;
        let stream = target
            .connect_to(Some(first), config, Duration::from_secs(3))
            .await
            .map_err(|e| e.to_string())?;
        let payload = body.to_string();
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            target.path,
            target.authority,
            payload.len()
        );
        let response = exchange(stream, &addr, request.as_bytes()).await?;
        let line = String::from_utf8_lossy(&response);
        line.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{addr}: no HTTP status in the answer"))
    }
}

/// Whether a receiver's address is this host's or its link's (loopback, link-local, such as a
/// cloud metadata service, or unspecified).
fn local_address(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || v4.is_unspecified(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => local_address(std::net::IpAddr::V4(v4)),
            None => {
                v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        },
    }
}

/// Most of a webhook's answer read (its status line is all that is used).
const WEBHOOK_ANSWER_MAX: u64 = 64 * 1024;

/// Writes a request and reads the answer up to [`WEBHOOK_ANSWER_MAX`] bytes (the request says
/// `Connection: close`).
async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    addr: &str,
    request: &[u8],
) -> Result<Vec<u8>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::time::timeout(Duration::from_secs(3), stream.write_all(request))
        .await
        .map_err(|_| format!("{addr}: sending timed out"))?
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut response = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(3),
        (&mut stream)
            .take(WEBHOOK_ANSWER_MAX)
            .read_to_end(&mut response),
    )
    .await
    .map_err(|_| format!("{addr}: response timed out"))?;
    match read {
        Ok(_) => Ok(response),
        // A TLS peer that closes without close_notify after a full answer is common.
        Err(_) if !response.is_empty() => Ok(response),
        Err(e) => Err(format!("{addr}: {e}")),
    }
}

pub mod format;
#[cfg(test)]
mod tests;
pub mod trade;
