//! The bodies the API reads and answers, typed: the handlers build these, and the OpenAPI
//! document (`crate::openapi`) takes its schemas from the same types.
//!
//! A configuration (`config` of a bot or a version) is described by the per-type schemas of
//! `sniperforge_protocol::config::schema` (components `BotConfig` and `Config_<type>`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sniperforge_protocol::fleet::DesiredState;

use crate::store::{AlertRow, BotRow, ConfigVersion, NodeRow, ReportRow};

/// `$ref` to the `BotConfig` component (one of the per-type configuration schemas).
pub fn bot_config_ref(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"$ref": "#/components/schemas/BotConfig"})
}

/// Any JSON value (a bot's counters as it wrote them, audit details).
pub fn any_value(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!(true)
}

// ---------------------------------------------------------------------------------------------
// Requests

/// `POST /api/v1/bots`: a configuration, or the id of a stored one, and the node to run on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["config"]}, {"required": ["config_id"]}]))]
pub struct CreateBot {
    /// The bot's configuration (stored as a new version); give this or `config_id`.
    #[serde(default)]
    #[schemars(schema_with = "bot_config_ref")]
    pub config: Option<Value>,
    /// The id of a configuration stored with `POST /api/v1/configs`, run as it is.
    #[serde(default)]
    #[schemars(with = "String", pattern(r"^[A-Za-z0-9_-]{1,64}$"))]
    pub config_id: Option<String>,
    /// The node to run on (default `local`), or `auto`: the gateway places it on a live node
    /// serving its environment that carries `labels` and has `cores` free (a bot no node can
    /// take yet waits, pending, with the reason).
    #[serde(default = "default_node")]
    #[schemars(pattern(r"^[A-Za-z0-9_.-]{1,64}$"))]
    pub node_id: String,
    /// Labels its node must carry (`{"region": "ny"}`; at most 32).
    #[serde(default)]
    #[schemars(
        extend("maxProperties" = 32),
        extend("propertyNames" = {"pattern": "^[A-Za-z0-9_.-]{1,64}$"}),
        extend("additionalProperties" = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"})
    )]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Free cores the gateway chooses on its node (0 to 64; its configuration's
    /// `resources.cores` must then be empty).
    #[serde(default)]
    #[schemars(range(max = 64))]
    pub cores: u32,
    /// Placed again on another node when its node is lost (default: true for a paper bot,
    /// false for one trading live).
    #[serde(default)]
    pub failover: Option<bool>,
    /// Instances to run, each on another node (1 to 16, default 1); more than one only for
    /// `ml_analytics`, `portfolio_manager` and `real_time_dashboard` (a trading bot stays
    /// single-writer). The further instances are bots `<bot_id>-r1`, … that the gateway
    /// places; `PUT /api/v1/bots/{bot_id}/replicas` changes the count.
    #[serde(default = "one_replica")]
    #[schemars(range(min = 1, max = 16))]
    pub replicas: u32,
}

fn one_replica() -> u32 {
    1
}

/// `PUT /api/v1/bots/{bot_id}/replicas`: how many instances the bot runs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleBody {
    /// 1 (the bot alone) to 16.
    #[schemars(range(min = 1, max = 16))]
    pub replicas: u32,
}

/// `PUT /api/v1/bots/{bot_id}/replicas`: the bot's instances after the change.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Scaled {
    /// The bot.
    pub bot_id: String,
    /// Its instances now.
    pub replicas: u32,
    /// Replicas created (waiting for placement, or placed already).
    pub added: Vec<String>,
    /// Replicas deleted.
    pub removed: Vec<String>,
    /// The bot and its replicas as stored, the bot first.
    pub instances: Vec<BotRow>,
}

fn default_node() -> String {
    "local".into()
}

/// `POST /api/v1/configs` and `PUT /api/v1/bots/{bot_id}`: a configuration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigBody {
    /// The configuration.
    #[schemars(schema_with = "bot_config_ref")]
    pub config: Value,
}

/// `POST /api/v1/configs/validate`: a valid configuration.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigChecked {
    /// Always `true` (an invalid one is a 400).
    pub valid: bool,
    /// Its bot id.
    pub bot_id: String,
    /// Its type.
    pub bot_type: sniperforge_protocol::BotType,
    /// Its environment.
    pub environment: crate::store::Environment,
}

/// `POST /api/v1/auth/tokens`: an `agent` token names its node, no other does.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend(
    "if" = {"properties": {"role": {"const": "agent"}}},
    "then" = {"required": ["node_id"], "properties": {"node_id": {"type": "string"}}},
    "else" = {"properties": {"node_id": {"type": "null"}}},
))]
pub struct NewToken {
    /// 1-64 characters of `A-Z a-z 0-9 - _ . @`.
    #[schemars(pattern(r"^[A-Za-z0-9_.@-]{1,64}$"))]
    pub name: String,
    /// `agent`, `viewer`, `operator` or `admin`.
    #[schemars(extend("enum" = ["agent", "viewer", "operator", "admin"]))]
    pub role: String,
    /// The node an `agent` token is bound to (required for agents, refused for other roles).
    #[serde(default)]
    #[schemars(pattern(r"^[A-Za-z0-9_.-]{1,64}$"))]
    pub node_id: Option<String>,
    /// The environments a `viewer` or `operator` token reaches (left out: all). Bots, configs
    /// and alerts of others answer 404 to it, as if absent.
    #[serde(default)]
    #[schemars(length(min = 1, max = 3), extend("uniqueItems" = true))]
    pub environments: Option<Vec<crate::store::Environment>>,
}

/// `PUT /api/v1/auth/users/{name}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutUser {
    /// 12 to 1,024 characters.
    #[schemars(length(min = 12, max = 1024))]
    pub password: String,
    /// `viewer`, `operator` or `admin`.
    #[schemars(extend("enum" = ["viewer", "operator", "admin"]))]
    pub role: String,
    /// The environments a `viewer` or `operator` reaches (left out: all); their sessions
    /// carry it.
    #[serde(default)]
    #[schemars(length(min = 1, max = 3), extend("uniqueItems" = true))]
    pub environments: Option<Vec<crate::store::Environment>>,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// User name.
    pub name: String,
    /// Password.
    pub password: String,
}

/// `PUT /api/v1/alerts/rules/{rule_id}`: a rule's kind with its fields, and a webhook (the
/// path names the rule). Its schema is [`crate::alerts::RuleKind`]'s, each kind also taking
/// `webhook`.
#[derive(Debug, Deserialize)]
pub struct RuleBody {
    /// What it watches.
    #[serde(flatten)]
    pub kind: crate::alerts::RuleKind,
    /// Webhook URL (`http://…` or `https://…`, at most 2,048 bytes), or empty for none.
    #[serde(default)]
    pub webhook: String,
    /// What it watches: `fleet` (the default), `env:<environment>`, `type:<bot_type>` or
    /// `bot:<bot_id>`.
    #[serde(default = "fleet_scope")]
    pub scope: String,
    /// How webhook bodies are shaped: `generic` (default), `slack`, `discord` or `telegram`.
    #[serde(default)]
    pub format: crate::alerts::WebhookFormat,
    /// The chat a `telegram` rule posts to (required with it, refused without).
    #[serde(default)]
    pub chat_id: Option<String>,
}

fn fleet_scope() -> String {
    "fleet".into()
}

impl JsonSchema for RuleBody {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RuleBody".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut kinds = crate::alerts::RuleKind::json_schema(generator);
        let webhook = serde_json::json!({
            "type": "string",
            "maxLength": crate::api::WEBHOOK_URL_MAX,
            "pattern": "^(|https?://[!-~]+)$",
            "description": "Webhook URL (`http://…` or `https://…`, printable ASCII), or empty for none.",
        });
        let rule = crate::alerts::Rule::json_schema(generator);
        let field = |name: &str| {
            rule.get("properties")
                .and_then(|p| p.get(name))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let (scope, format, chat_id) = (field("scope"), field("format"), field("chat_id"));
        if let Some(Value::Array(variants)) = kinds.get_mut("oneOf") {
            for v in variants {
                if let Some(Value::Object(props)) = v.get_mut("properties") {
                    props.insert("webhook".into(), webhook.clone());
                    props.insert("scope".into(), scope.clone());
                    props.insert("format".into(), format.clone());
                    props.insert("chat_id".into(), chat_id.clone());
                }
            }
        }
        kinds
    }
}

// ---------------------------------------------------------------------------------------------
// Query strings

/// `?version=N`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct VersionQuery {
    /// A configuration version (from 1; the latest when absent).
    pub version: Option<i64>,
}

/// `?version=N`, required: the version to roll back to.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RollbackQuery {
    /// A configuration version (from 1).
    pub version: i64,
}

/// `GET /api/v1/system/logs/{bot_id}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// Most lines to answer (the newest), default 200, at most 2,000.
    #[serde(default)]
    pub tail: Option<usize>,
    /// Only lines containing this text.
    #[serde(default)]
    pub filter: Option<String>,
}

/// `GET /api/v1/latency`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    /// `fleet` (default), `bot:<id>`, `type:<bot_type>`, `env:<environment>` or `node:<id>`.
    /// A token scoped to environments reads `env:<e>` of its own and `bot:<id>` of its bots.
    #[serde(default)]
    #[schemars(schema_with = "scope_schema")]
    pub scope: Option<String>,
    /// Range start, unix ms (default: 5 min before `to`).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1_125_899_906_842_623_i64))]
    pub from: Option<i64>,
    /// Range end, unix ms, exclusive (default: now); after `from`.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1_125_899_906_842_623_i64))]
    pub to: Option<i64>,
    /// Width of a point (ms): a multiple of the resolution, 1 s within the 1 s windows' reach,
    /// 1 min beyond it (default: the range in about 300 points).
    #[serde(default)]
    #[schemars(extend("multipleOf" = 1000, "minimum" = 1000))]
    pub step_ms: Option<i64>,
}

/// A latency scope: `fleet`, `bot:<id>`, `type:<bot_type>` or `node:<id>`.
fn scope_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let types: Vec<&str> = sniperforge_protocol::BotType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    let pattern = format!(
        "^(fleet|bot:[\\s\\S]+|node:[\\s\\S]+|env:(dev|test|prod)|type:({}))$",
        types.join("|")
    );
    schemars::json_schema!({"type": "string", "pattern": pattern})
}

/// `GET /api/v1/system/metrics`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct FleetQuery {
    /// Merge the latency of this bot type only.
    pub bot_type: Option<String>,
    /// Merge the latency of this node's bots only.
    pub node_id: Option<String>,
    /// Only these environments (`dev`, or `dev,test`); a scoped token's are always applied.
    #[schemars(pattern(r"^(dev|test|prod)(,(dev|test|prod)){0,2}$"))]
    pub env: Option<String>,
}

/// `?env=`: lists of bots, configurations, alerts and nodes in these environments only.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct EnvQuery {
    /// `dev`, `test`, `prod` or several joined with commas (`dev,test`); a token scoped to
    /// environments only ever gets its own.
    #[schemars(pattern(r"^(dev|test|prod)(,(dev|test|prod)){0,2}$"))]
    pub env: Option<String>,
}

/// `GET /api/v1/trades`: which trades, newest first.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct TradeQuery {
    /// One bot's.
    #[schemars(pattern(r"^[A-Za-z0-9_-]{1,64}$"))]
    pub bot: Option<String>,
    /// `dev`, `test`, `prod` or several joined with commas.
    #[schemars(pattern(r"^(dev|test|prod)(,(dev|test|prod)){0,2}$"))]
    pub env: Option<String>,
    /// Booked at or after, unix ms.
    pub from: Option<i64>,
    /// Booked before, unix ms.
    pub to: Option<i64>,
    /// The previous page's `next_cursor`.
    #[schemars(length(max = 128))]
    pub cursor: Option<String>,
    /// At most this many (default 100, at most 1,000).
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// Answers

/// `GET /api/v1/trades`: a page of trades, newest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TradeList {
    /// The trades.
    pub trades: Vec<crate::store::TradeRow>,
    /// The next page's `cursor` (`null`: this was the last).
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/system/health`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HealthBody {
    /// `ok`.
    pub status: &'static str,
    /// `reachable`.
    pub database: &'static str,
}

/// `GET /api/v1/bots`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BotList {
    /// Every bot.
    pub bots: Vec<BotRow>,
}

/// `POST /api/v1/bots`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BotCreated {
    /// The bot as stored.
    pub bot: Option<BotRow>,
}

/// `GET /api/v1/bots/{bot_id}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BotWithConfig {
    /// The bot.
    pub bot: BotRow,
    /// Its latest configuration version.
    pub config: Option<ConfigVersion>,
}

/// A configuration version stored: which of its changes apply hot.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigUpdated {
    /// Configuration (bot) id.
    pub config_id: String,
    /// The new version.
    pub version: i64,
    /// Changed fields that apply without a restart.
    pub applied_hot: Vec<String>,
    /// Changed fields that apply at the next restart.
    pub restart_required: Vec<String>,
    /// Whether `restart_required` is not empty.
    pub needs_restart: bool,
}

/// `POST /api/v1/configs`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigCreated {
    /// Configuration id (the configuration's `bot_id`).
    pub config_id: String,
    /// 1.
    pub version: i64,
    /// Its bot type.
    pub bot_type: String,
}

/// `GET /api/v1/configs`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConfigList {
    /// Each configuration at its latest version.
    pub configs: Vec<ConfigVersion>,
}

/// `POST /api/v1/bots/{bot_id}/{action}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActionDone {
    /// Bot id.
    pub bot_id: String,
    /// Its desired state now.
    pub desired_state: DesiredState,
    /// Whether a restart was asked for.
    pub restart: bool,
}

/// `POST /api/v1/system/emergency-stop`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EmergencyStop {
    /// Bots whose desired state became `stopped`.
    pub bots_stopped: u64,
}

/// `GET /api/v1/system/audit`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditList {
    /// The newest 200 entries, newest first.
    pub audit: Vec<crate::store::AuditRow>,
}

/// `GET /api/v1/bots/{bot_id}/status`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BotStatusBody {
    /// Bot id.
    pub bot_id: String,
    /// What the gateway wants of it.
    pub desired_state: DesiredState,
    /// Its last report (`null` until its agent reports).
    pub reported: Option<ReportRow>,
}

/// `GET /api/v1/bots/{bot_id}/metrics`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BotMetricsBody {
    /// Bot id.
    pub bot_id: String,
    /// Its counters as it wrote them (`null` until its agent reports).
    #[schemars(schema_with = "any_value")]
    pub metrics: Value,
    /// When they were reported, unix ms.
    pub reported_at: Option<i64>,
    /// The node that reported them.
    pub node_id: Option<String>,
}

/// Latency percentiles of a histogram, ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

/// `GET /api/v1/bots/{bot_id}/latency`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BotLatency {
    /// Bot id.
    pub bot_id: String,
    /// `ns`.
    pub unit: &'static str,
    /// Stage → merged percentiles.
    pub stages: std::collections::BTreeMap<String, Percentiles>,
}

/// One point of a latency series.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LatencyPoint {
    /// Start of the point, unix ms.
    pub t: i64,
    /// Its percentiles.
    #[serde(flatten)]
    pub percentiles: Percentiles,
}

/// One stage over a range.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StageSeries {
    /// A point per step.
    pub points: Vec<LatencyPoint>,
    /// The whole range merged.
    pub total: Percentiles,
}

/// `GET /api/v1/latency`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LatencyRange {
    /// The scope asked for.
    pub scope: String,
    /// Range start, unix ms.
    pub from: i64,
    /// Range end, unix ms (exclusive).
    pub to: i64,
    /// Width of a point, ms.
    pub step_ms: i64,
    /// Resolution the points were merged from (1,000 or 60,000 ms).
    pub resolution_ms: i64,
    /// `ns`.
    pub unit: &'static str,
    /// Stage → series.
    pub stages: std::collections::BTreeMap<String, StageSeries>,
}

/// `GET /api/v1/system/metrics`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FleetMetrics {
    /// Bots.
    pub bots: usize,
    /// Desired state → bots.
    pub bots_by_desired_state: std::collections::BTreeMap<String, u64>,
    /// Nodes.
    pub nodes: usize,
    /// The desired-state index.
    pub desired_index: i64,
    /// Stage → latency merged over the bots asked for, ns.
    pub latency_ns: std::collections::BTreeMap<String, Percentiles>,
}

/// `GET /api/v1/nodes`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NodeList {
    /// Every node.
    pub nodes: Vec<ListedNode>,
}

/// A node as `GET /api/v1/nodes` lists it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListedNode {
    /// The node.
    #[serde(flatten)]
    pub node: NodeRow,
    /// The recordings its agent last listed in `DATA/recordings/`, newest first: what a
    /// backtest on it can replay (`null` until its agent lists them: an agent older than
    /// listing never does).
    pub recordings: Option<Vec<sniperforge_protocol::backtests::RecordingFile>>,
}

/// `GET /api/v1/system/logs/{bot_id}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BotLogs {
    /// Bot id.
    pub bot_id: String,
    /// Lines, oldest first.
    pub lines: Vec<std::sync::Arc<crate::api::LogLine>>,
}

/// `GET /api/v1/alerts`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AlertList {
    /// Active alerts, then the most recent resolved ones (500 at most).
    pub alerts: Vec<AlertRow>,
}

/// `GET /api/v1/alerts/rules`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RuleList {
    /// Every rule.
    pub rules: Vec<crate::alerts::Rule>,
}

/// `GET /api/v1/auth/tokens`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenList {
    /// Every token's name and role (never the token).
    pub tokens: Vec<crate::store::TokenRow>,
}

/// `POST /api/v1/auth/tokens`: the only time the token is shown.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenCreated {
    /// Name.
    pub name: String,
    /// Role.
    pub role: crate::store::Role,
    /// The node an agent token is bound to.
    pub node_id: Option<String>,
    /// The environments it reaches (`null`: all).
    pub environments: Option<Vec<crate::store::Environment>>,
    /// The token.
    pub token: String,
}

/// `DELETE /api/v1/auth/tokens/{name}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokensRevoked {
    /// Name.
    pub name: String,
    /// Tokens revoked.
    pub revoked: u64,
}

/// `GET /api/v1/auth/users`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UserList {
    /// Every user (never a hash).
    pub users: Vec<crate::store::UserRow>,
}

/// `PUT /api/v1/auth/users/{name}` and `GET /api/v1/auth/me`: a name and its role.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NameRole {
    /// Name.
    pub name: String,
    /// Role.
    pub role: crate::store::Role,
    /// The environments it reaches (`null`: all).
    pub environments: Option<Vec<crate::store::Environment>>,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Session {
    /// The session token (`Authorization: Bearer …`).
    pub token: String,
    /// User name.
    pub name: String,
    /// The user's role.
    pub role: crate::store::Role,
    /// The environments the session reaches (`null`: all).
    pub environments: Option<Vec<crate::store::Environment>>,
    /// When the token stops working, unix ms.
    pub expires_at: i64,
}

// ---------------------------------------------------------------------------------------------
// WebSocket streams (`/api/v1/ws/metrics`, `/api/v1/ws/logs`)

/// What a client sends on either stream: topics to add and to drop (`fleet`, `bot:<bot_id>`,
/// `node:<node_id>`; at most 64 held).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamCommand {
    /// Topics to add.
    #[serde(default)]
    pub subscribe: Vec<String>,
    /// Topics to drop.
    #[serde(default)]
    pub unsubscribe: Vec<String>,
}

/// One bot of the `fleet` topic's table.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FleetBotRow {
    /// Bot id.
    pub bot_id: String,
    /// Type name.
    pub bot_type: String,
    /// Environment.
    pub environment: crate::store::Environment,
    /// The cores it holds on its node.
    pub cores: Vec<u32>,
    /// Why no node runs it yet (`null`: placed).
    pub pending: Option<String>,
    /// The bot this instance replicates (`null`: a bot of its own).
    pub replica_of: Option<String>,
    /// Node it runs on.
    pub node_id: String,
    /// What the gateway wants of it.
    pub desired_state: DesiredState,
    /// Latest configuration version.
    pub config_version: i64,
    /// Its last reported status (`null` until its agent reports).
    pub status: Option<sniperforge_protocol::fleet::NodeBotStatus>,
    /// When it last reported, unix ms.
    pub reported_at: Option<i64>,
    /// Its reported `trades_executed` counter (`null` until it reports one that is a whole
    /// number).
    pub trades_executed: Option<u64>,
    /// Its reported `profit_usd` counter (`null` until it reports one that is a number).
    pub profit_usd: Option<f64>,
    /// Stage → its merged latency, ns.
    pub latency_ns: std::collections::BTreeMap<String, Percentiles>,
}

/// `data` of the `fleet` topic.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FleetData {
    /// Bots.
    pub bots: usize,
    /// Bots whose desired state is running.
    pub running: usize,
    /// Nodes.
    pub nodes: usize,
    /// Stage → latency merged over the fleet, ns.
    pub latency_ns: std::collections::BTreeMap<String, Percentiles>,
    /// One row per bot.
    pub bot_rows: Vec<FleetBotRow>,
}

/// `data` of a `bot:<bot_id>` topic.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BotData {
    /// What the gateway wants of it.
    pub desired_state: DesiredState,
    /// Its last report (`null` until its agent reports).
    pub reported: Option<ReportRow>,
    /// Stage → its merged latency, ns.
    pub latency_ns: std::collections::BTreeMap<String, Percentiles>,
}

/// `data` of a `node:<node_id>` topic.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NodeData {
    /// The node.
    pub node: NodeRow,
    /// Bots on it.
    pub bots: usize,
    /// Stage → latency merged over its bots, ns.
    pub latency_ns: std::collections::BTreeMap<String, Percentiles>,
}

/// A topic's data.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum TopicData {
    /// `fleet`.
    Fleet(FleetData),
    /// `bot:<bot_id>`.
    Bot(BotData),
    /// `node:<node_id>`.
    Node(NodeData),
    /// `rollouts`: the latest rollouts with their progress per bot.
    Rollouts(crate::api::RolloutList),
}

/// A topic's metrics, sent at once on subscription and then every second.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TopicMessage {
    /// The topic.
    pub topic: String,
    /// When, unix ms.
    pub at: i64,
    /// Its metrics.
    pub data: TopicData,
}

/// What went wrong on a stream (the socket stays open, except after `unauthenticated`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct StreamError {
    /// The error.
    pub error: StreamErrorBody,
}

/// [`StreamError`]'s body.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StreamErrorBody {
    /// `bad_message`, `bad_topic`, `too_many_topics`, `topic_unavailable`, `store`, `lagged`
    /// or `unauthenticated`.
    pub code: String,
    /// What, for a person.
    pub message: String,
}

/// What `/api/v1/ws/metrics` sends.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum MetricsMessage {
    /// A topic's metrics.
    Topic(Box<TopicMessage>),
    /// An error.
    Error(StreamError),
}

/// What `/api/v1/ws/logs` sends.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum LogMessage {
    /// A log line of a subscribed bot or node.
    Line(std::sync::Arc<crate::api::LogLine>),
    /// An error.
    Error(StreamError),
}
