//! `GET /api/v1/openapi.json`: OpenAPI 3.1 for every route, built from one table that also
//! records the role each route needs and the types of its query, body and answer. The auth
//! middleware reads the roles from this table; the handlers read and answer the same types
//! (`crate::api::bodies` and the protocol crate's), whose JSON Schemas come from `schemars`; a
//! test checks that every entry is routed, and a contract test (`tests/contract.rs`, schemathesis)
//! checks that the live gateway answers what the document says.

use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};
use sniperforge_protocol::fleet as wire;
use sniperforge_protocol::{BotType, config};

use crate::api::bodies as b;

/// A type's schema (a `$ref` to a component once the type has a name).
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn s<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// What a route answers on success.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// A JSON body of this type with this status.
    Json(u16, SchemaFn),
    /// `200` or `201` (created) with the same JSON body.
    JsonOkOrCreated(SchemaFn),
    /// `204`, no body.
    NoContent,
    /// `200` Prometheus text.
    Text,
    /// `101`: the connection becomes a WebSocket; what the client sends, what the server sends
    /// (`x-client-message`, `x-server-message` on the answer).
    WebSocket(SchemaFn, SchemaFn),
    /// `200`, any JSON (the documents that describe themselves: this one, a JSON Schema).
    AnyJson,
}

/// One route: method, path (axum syntax), least role (`none` for open routes), summary, query
/// string, request body and answer.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path with `{parameters}`.
    pub path: &'static str,
    /// Least role: `none`, `agent`, `viewer`, `operator` or `admin`.
    pub role: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// The query string's type.
    pub query: Option<SchemaFn>,
    /// The request body's type.
    pub body: Option<SchemaFn>,
    /// The answer.
    pub answer: Answer,
    /// Whether it reads `If-Match: <config version>`.
    pub if_match: bool,
}

const fn r(
    method: &'static str,
    path: &'static str,
    role: &'static str,
    summary: &'static str,
    answer: Answer,
) -> Route {
    Route {
        method,
        path,
        role,
        summary,
        query: None,
        body: None,
        answer,
        if_match: false,
    }
}

impl Route {
    const fn query(mut self, query: SchemaFn) -> Self {
        self.query = Some(query);
        self
    }

    const fn body(mut self, body: SchemaFn) -> Self {
        self.body = Some(body);
        self
    }

    const fn if_match(mut self) -> Self {
        self.if_match = true;
        self
    }
}

use Answer::{AnyJson, Json, JsonOkOrCreated, NoContent, Text, WebSocket};

/// Every route.
#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    r("GET", "/api/v1/system/health", "none", "Liveness and database reachability", Json(200, s::<b::HealthBody>)),
    r("GET", "/api/v1/system/audit", "viewer", "The audit trail: who changed what, when", Json(200, s::<b::AuditList>)),
    r("POST", "/api/v1/system/emergency-stop", "admin", "Fleet-wide kill switch: every bot's desired state becomes stopped", Json(200, s::<b::EmergencyStop>)),
    r("GET", "/api/v1/system/metrics", "viewer", "Fleet counts and merged latency (?bot_type=, ?node_id=)", Json(200, s::<b::FleetMetrics>)).query(s::<b::FleetQuery>),
    r("GET", "/api/v1/openapi.json", "viewer", "This document", AnyJson),
    r("GET", "/metrics", "viewer", "Prometheus text: fleet counters and latency quantiles", Text),
    r("GET", "/api/v1/bots", "viewer", "Every bot the token reaches (?env= for some environments)", Json(200, s::<b::BotList>)).query(s::<b::EnvQuery>),
    r("POST", "/api/v1/bots", "operator", "Create a bot from a validated configuration", Json(201, s::<b::BotCreated>)).body(s::<b::CreateBot>),
    r("GET", "/api/v1/bots/{bot_id}", "viewer", "One bot", Json(200, s::<b::BotWithConfig>)),
    r("PUT", "/api/v1/bots/{bot_id}", "operator", "Replace a bot's configuration (answers hot or restart; If-Match: <version>)", Json(200, s::<b::ConfigUpdated>)).body(s::<b::ConfigBody>).if_match(),
    r("DELETE", "/api/v1/bots/{bot_id}", "operator", "Delete a stopped bot", NoContent),
    r("GET", "/api/v1/bots/{bot_id}/status", "viewer", "Desired state and last reported status", Json(200, s::<b::BotStatusBody>)),
    r("GET", "/api/v1/bots/{bot_id}/metrics", "viewer", "Last reported metrics", Json(200, s::<b::BotMetricsBody>)),
    r("GET", "/api/v1/bots/{bot_id}/latency", "viewer", "Merged per-stage latency percentiles", Json(200, s::<b::BotLatency>)),
    r("GET", "/api/v1/latency", "viewer", "Latency over time: ?scope=fleet|bot:<id>|type:<t>|node:<id>&from=&to=&step_ms= (ms); p50/p90/p99/p99.9/max per point and over the range", Json(200, s::<b::LatencyRange>)).query(s::<b::RangeQuery>),
    r("PUT", "/api/v1/bots/{bot_id}/replicas", "operator", "Run an observer bot as N instances on different nodes (replicas <bot_id>-r1 and on; 1 for the bot alone)", Json(200, s::<b::Scaled>)).body(s::<b::ScaleBody>),
    r("GET", "/api/v1/trades", "viewer", "Trades (each fill a bot booked, stored once), newest first, a page at a time: ?bot=&env=&from=&to= (unix ms)&cursor=&limit=", Json(200, s::<b::TradeList>)).query(s::<b::TradeQuery>),
    r("GET", "/api/v1/pnl", "viewer", "PnL over time from the stored trades (fleet, an environment or a bot): per interval and cumulative, win rate, count, volume, fees, drawdown: ?scope=fleet|env:<env>|bot:<id>&from=&to= (unix ms)&step=1h", Json(200, s::<crate::api::pnl::PnlReport>)).query(s::<crate::api::pnl::PnlQuery>),
    r("POST", "/api/v1/backtests", "operator", "Queue a backtest on a node: a configuration (an arbitrage type, in an environment the node serves) over a recording in the node's DATA/recordings/, with an optional modelled latency and sweep (409 when the node has 16 queued)", Json(202, s::<crate::store::BacktestRow>)).body(s::<crate::api::backtests::NewBacktest>),
    r("GET", "/api/v1/backtests", "viewer", "The newest backtests (at most 200; ?env=): each report's totals only (no routes, timing, Markdown or chart)", Json(200, s::<crate::api::backtests::BacktestList>)).query(s::<b::EnvQuery>),
    r("GET", "/api/v1/backtests/{backtest_id}", "viewer", "One backtest: the request, where it stands, its report (JSON and Markdown), PnL chart (SVG) and timing", Json(200, s::<crate::store::BacktestRow>)),
    r("DELETE", "/api/v1/backtests/{backtest_id}", "operator", "Cancel a queued or running backtest (it fails, cancelled by the caller), or delete a finished one", Json(200, s::<crate::api::backtests::BacktestRemoved>)),
    r("POST", "/api/v1/bots/{bot_id}/{action}", "operator", "start, stop, pause, resume or restart (409 on an illegal move)", Json(200, s::<b::ActionDone>)),
    r("GET", "/api/v1/configs", "viewer", "Every configuration the token reaches with its latest version (?env=)", Json(200, s::<b::ConfigList>)).query(s::<b::EnvQuery>),
    r("POST", "/api/v1/configs", "operator", "Store a validated configuration (version 1) for a bot to be created from (POST /api/v1/bots with config_id)", Json(201, s::<b::ConfigCreated>)).body(s::<b::ConfigBody>),
    r("POST", "/api/v1/configs/validate", "viewer", "Check a configuration and store nothing: 200 with its id, type and environment, or 400 invalid_config with each error at its field (an import is checked before it is saved)", Json(200, s::<b::ConfigChecked>)).body(s::<b::ConfigBody>),
    r("GET", "/api/v1/configs/{config_id}", "viewer", "A configuration (?version=N for an old one)", Json(200, s::<crate::store::ConfigVersion>)).query(s::<b::VersionQuery>),
    r("PUT", "/api/v1/configs/{config_id}", "operator", "A new version of a configuration (If-Match: <version>)", Json(200, s::<b::ConfigUpdated>)).body(b::bot_config_ref).if_match(),
    r("POST", "/api/v1/configs/{config_id}/rollback", "operator", "Make an old version current (?version=N)", Json(200, s::<b::ConfigUpdated>)).query(s::<b::RollbackQuery>).if_match(),
    r("GET", "/api/v1/configs/templates/{bot_type}", "viewer", "Default configuration of a bot type", Json(200, b::bot_config_ref)),
    r("GET", "/api/v1/configs/schemas/{bot_type}", "viewer", "JSON Schema of a bot type", AnyJson),
    r("GET", "/api/v1/nodes", "viewer", "Nodes, the environments they serve, their builds, their last heartbeat and the recordings they hold (?env=: nodes serving one of these)", Json(200, s::<b::NodeList>)).query(s::<b::EnvQuery>),
    r("POST", "/api/v1/rollouts", "operator", "Start a rolling restart or upgrade: node by node, max_unavailable bots at a time, warm handovers, paused at the first failure (409 while another holds one of its bots or upgrades one of its nodes)", Json(201, s::<crate::rollouts::Rollout>)).body(s::<crate::rollouts::NewRollout>),
    r("GET", "/api/v1/rollouts", "viewer", "The latest rollouts, newest first", Json(200, s::<crate::api::RolloutList>)),
    r("GET", "/api/v1/rollouts/{rollout_id}", "viewer", "One rollout with its progress per bot", Json(200, s::<crate::rollouts::Rollout>)),
    r("POST", "/api/v1/rollouts/{rollout_id}/pause", "operator", "Pause a running rollout (steps under way finish)", Json(200, s::<crate::rollouts::Rollout>)),
    r("POST", "/api/v1/rollouts/{rollout_id}/resume", "operator", "Resume a paused rollout (failed steps are tried again)", Json(200, s::<crate::rollouts::Rollout>)),
    r("POST", "/api/v1/rollouts/{rollout_id}/abort", "operator", "Abort a rollout: its steps left are skipped", Json(200, s::<crate::rollouts::Rollout>)),
    r("POST", "/api/v1/agent/register", "agent", "An agent registers its node", Json(200, s::<wire::NodeAck>)).body(s::<wire::NodeInfo>),
    r("POST", "/api/v1/agent/heartbeat", "agent", "An agent's heartbeat", Json(200, s::<wire::NodeAck>)).body(s::<wire::NodeRef>),
    r("GET", "/api/v1/agent/desired", "agent", "Blocking query: the node's desired state once its index passes ?index= (or after ?wait_ms=, at most 60,000)", Json(200, s::<wire::Desired>)).query(s::<wire::DesiredQuery>),
    r("POST", "/api/v1/agent/report", "agent", "Bot states, metrics, HDR V2 interval snapshots and log lines", Json(200, s::<wire::ReportAck>)).body(s::<wire::Report>),
    r("POST", "/api/v1/agent/backtests/{backtest_id}", "agent", "A backtest of the agent's node: started (running), done with its report, or failed with the error", Json(200, s::<crate::api::backtests::BacktestTaken>)).body(s::<sniperforge_protocol::backtests::BacktestResult>),
    r("GET", "/api/v1/alerts", "viewer", "Active and past alerts of the environments the token reaches (?env=)", Json(200, s::<b::AlertList>)).query(s::<b::EnvQuery>),
    r("GET", "/api/v1/alerts/rules", "viewer", "Alert rules", Json(200, s::<b::RuleList>)),
    r("PUT", "/api/v1/alerts/rules/{rule_id}", "admin", "Create or replace an alert rule and its webhook", Json(200, s::<crate::alerts::Rule>)).body(s::<b::RuleBody>),
    r("POST", "/api/v1/alerts/evaluate", "operator", "Evaluate the rules now", Json(200, s::<crate::alerts::Evaluation>)),
    r("POST", "/api/v1/auth/login", "none", "Password login: a 12 h session token for the user's role (429 after 5 failures a minute from a client or 10 for a user, counted before verifying)", Json(200, s::<b::Session>)).body(s::<b::Login>),
    r("GET", "/api/v1/auth/me", "viewer", "The caller's name and role", Json(200, s::<b::NameRole>)),
    r("GET", "/api/v1/auth/users", "admin", "Users who log in with a password (names and roles)", Json(200, s::<b::UserList>)),
    r("PUT", "/api/v1/auth/users/{name}", "admin", "Create (201) or replace (200) a user (argon2id; ends their sessions)", JsonOkOrCreated(s::<b::NameRole>)).body(s::<b::PutUser>),
    r("DELETE", "/api/v1/auth/users/{name}", "admin", "Delete a user and end their sessions", NoContent),
    r("GET", "/api/v1/auth/tokens", "admin", "Token names and roles", Json(200, s::<b::TokenList>)),
    r("POST", "/api/v1/auth/tokens", "admin", "Make a token (shown once)", Json(201, s::<b::TokenCreated>)).body(s::<b::NewToken>),
    r("DELETE", "/api/v1/auth/tokens/{name}", "admin", "Revoke a name's tokens", Json(200, s::<b::TokensRevoked>)),
    r("GET", "/api/v1/ws/metrics", "viewer", "WebSocket: subscribe to fleet, bot:<id>, node:<id> metrics and rollouts (1 Hz)", WebSocket(s::<b::StreamCommand>, s::<b::MetricsMessage>)),
    r("GET", "/api/v1/ws/logs", "viewer", "WebSocket: subscribe to fleet, bot:<id>, node:<id> log lines as agents report them", WebSocket(s::<b::StreamCommand>, s::<b::LogMessage>)),
    r("GET", "/api/v1/system/logs/{bot_id}", "viewer", "A bot's recent log lines (?tail=N, ?filter=TEXT)", Json(200, s::<b::BotLogs>)).query(s::<b::LogsQuery>),
];

/// The component name of a bot type's configuration schema.
fn config_component(t: BotType) -> String {
    format!("Config_{}", t.as_str())
}

/// A path parameter's schema.
fn path_parameter(name: &str, generator: &mut SchemaGenerator) -> Value {
    match name {
        "action" => generator.subschema_for::<wire::BotAction>().to_value(),
        "bot_type" => generator.subschema_for::<BotType>().to_value(),
        "bot_id" | "config_id" => json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
        "backtest_id" => json!({"type": "string", "pattern": "^bt-[0-9a-f]{16}$"}),
        // Token, user and rule names.
        _ => json!({"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,64}$"}),
    }
}

/// `schema`'s properties as query parameters (a `$ref` is looked up in `defs`).
fn query_parameters(schema: &Schema, defs: &Map<String, Value>) -> Vec<Value> {
    let mut schema = schema.as_value();
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        && let Some(def) = defs.get(name)
    {
        schema = def;
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(name, prop)| {
                    let mut prop = prop.clone();
                    // A query string has no null: an optional parameter is one left out.
                    if let Some(Value::Array(types)) = prop.get_mut("type") {
                        types.retain(|t| t != "null");
                        if types.len() == 1 {
                            let only = types.remove(0);
                            prop["type"] = only;
                        }
                    }
                    let description = prop
                        .as_object_mut()
                        .and_then(|p| p.remove("description"))
                        .unwrap_or(Value::Null);
                    let mut param = json!({"name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": prop});
                    if !description.is_null() {
                        param["description"] = description;
                    }
                    param
                })
                .collect()
        })
        .unwrap_or_default()
}

fn settings() -> SchemaSettings {
    SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    })
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    // Bodies read are described as read (a field with a default is optional), answers as
    // written: one generator each; a name both use must mean the same schema.
    let mut reads = settings().for_deserialize().into_generator();
    let mut writes = settings().for_serialize().into_generator();
    let mut paths = Map::new();
    let mut operations = Vec::new();
    for route in ROUTES {
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": path_parameter(name, &mut reads)})
            })
            .collect();
        let query = route.query.map(|q| q(&mut reads));
        let body = route.body.map(|b| b(&mut reads));
        let json_content = |schema: Value| json!({"application/json": {"schema": schema}});
        let mut responses = Map::new();
        match route.answer {
            Json(status, answer) => {
                responses.insert(
                    status.to_string(),
                    json!({"description": "OK", "content": json_content(answer(&mut writes).to_value())}),
                );
            }
            JsonOkOrCreated(answer) => {
                let content = json_content(answer(&mut writes).to_value());
                responses.insert(
                    "200".into(),
                    json!({"description": "Replaced", "content": content}),
                );
                responses.insert(
                    "201".into(),
                    json!({"description": "Created", "content": content}),
                );
            }
            NoContent => {
                responses.insert("204".into(), json!({"description": "Done"}));
            }
            Text => {
                responses.insert(
                    "200".into(),
                    json!({"description": "Prometheus text exposition 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}),
                );
            }
            WebSocket(client, server) => {
                responses.insert(
                    "101".into(),
                    json!({
                        "description": "Switching to a WebSocket (a request without the upgrade headers answers 4xx); text frames, one JSON message each",
                        "x-client-message": client(&mut reads).to_value(),
                        "x-server-message": server(&mut writes).to_value(),
                    }),
                );
            }
            AnyJson => {
                responses.insert(
                    "200".into(),
                    json!({"description": "OK", "content": json_content(json!({"type": "object"}))}),
                );
            }
        }
        responses.insert(
            "default".into(),
            json!({"description": "Error", "content": json_content(json!({"$ref": "#/components/schemas/Error"}))}),
        );
        operations.push((route, params, query, body, responses));
    }
    let mut schemas = reads.take_definitions(true);
    for (name, schema) in writes.take_definitions(true) {
        match schemas.get(&name) {
            Some(read) if *read != schema => {
                // Caught by a test; kept apart rather than wrong.
                schemas.insert(format!("{name}_written"), schema);
            }
            _ => {
                schemas.insert(name, schema);
            }
        }
    }
    for (route, mut params, query, body, responses) in operations {
        if let Some(query) = query {
            params.extend(query_parameters(&query, &schemas));
        }
        if route.if_match {
            params.push(json!({
                "name": "If-Match",
                "in": "header",
                "required": false,
                "description": "The configuration version the change is based on (quotes allowed, as an ETag); 409 version_conflict when another change came first",
                "schema": {"type": "string", "pattern": "^\\s*\"?[0-9]{1,18}\"?\\s*$"},
            }));
        }
        let mut op = json!({
            "operationId": format!("{} {}", route.method, route.path),
            "summary": route.summary,
            "x-role": route.role,
            "parameters": params,
            "responses": responses,
        });
        if route.role == "none" {
            op["security"] = json!([]);
        }
        if let Some(body) = body {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": body.to_value()}}});
        }
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = op;
    }
    let mut variants = Vec::new();
    let mut mapping = Map::new();
    for t in BotType::ALL {
        let mut schema = config::schema(t);
        if let Some(o) = schema.as_object_mut() {
            o.remove("$schema");
        }
        let name = config_component(t);
        let reference = format!("#/components/schemas/{name}");
        mapping.insert(t.as_str().into(), Value::String(reference.clone()));
        variants.push(json!({"$ref": reference}));
        schemas.insert(name, schema);
    }
    schemas.insert(
        "BotConfig".into(),
        json!({
            "description": "A bot's configuration: the schema of its `bot_type`.",
            "oneOf": variants,
            "discriminator": {"propertyName": "bot_type", "mapping": mapping},
        }),
    );
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "description": "Stable, machine-readable: not_found, invalid_config, …"},
                    "message": {"type": "string"},
                    "details": {"description": "For invalid configurations: [{path, message}]; else what the code names, or null"}
                }
            }}
        }),
    );
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "SniperForge gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Fleet API. Every route but health and login needs `Authorization: Bearer <token>`; `x-role` is the least role (viewer < operator < admin); `agent` routes take an agent token, bound to the node it acts for, or an admin's, and an agent token reaches nothing else."
        },
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    });
    bound_integers(&mut document);
    document
}

/// Gives each integer schema with a Rust width (`format: uint32`, `int64`, …) the bounds of
/// that width: the format alone is only an annotation, and a client (or a fuzzer) reading the
/// document should know that a `u32` field refuses 2^32.
fn bound_integers(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let bounds: Option<(Value, Value)> = match map.get("format").and_then(Value::as_str) {
                Some("uint8") => Some((json!(0), json!(u8::MAX))),
                Some("uint16") => Some((json!(0), json!(u16::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                Some("uint64" | "uint") => Some((json!(0), json!(u64::MAX))),
                Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
                Some("int64" | "int") => Some((json!(i64::MIN), json!(i64::MAX))),
                _ => None,
            };
            if let Some((min, max)) = bounds {
                map.entry("minimum").or_insert(min);
                map.entry("maximum").or_insert(max);
            }
            map.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}
