//! `GET /api/v1/openapi.json`: OpenAPI 3 for every route, built from one table that also
//! records the role each route needs. The auth middleware reads the roles from this table, and a
//! test checks that every entry is routed, so the document cannot drift from what is served.

use serde_json::{Map, Value, json};

/// Method, path (axum syntax), role needed (`none` for open routes), summary.
#[rustfmt::skip]
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("GET", "/api/v1/system/health", "none", "Liveness and database reachability"),
    ("GET", "/api/v1/system/audit", "viewer", "The audit trail: who changed what, when"),
    ("POST", "/api/v1/system/emergency-stop", "admin", "Fleet-wide kill switch: every bot's desired state becomes stopped"),
    ("GET", "/api/v1/system/metrics", "viewer", "Fleet counts and merged latency (?bot_type=, ?node_id=)"),
    ("GET", "/api/v1/openapi.json", "viewer", "This document"),
    ("GET", "/metrics", "viewer", "Prometheus text: fleet counters and latency quantiles"),
    ("GET", "/api/v1/bots", "viewer", "Every bot"),
    ("POST", "/api/v1/bots", "operator", "Create a bot from a validated configuration"),
    ("GET", "/api/v1/bots/{bot_id}", "viewer", "One bot"),
    ("PUT", "/api/v1/bots/{bot_id}", "operator", "Replace a bot's configuration (answers hot or restart)"),
    ("DELETE", "/api/v1/bots/{bot_id}", "operator", "Delete a stopped bot"),
    ("GET", "/api/v1/bots/{bot_id}/status", "viewer", "Desired state and last reported status"),
    ("GET", "/api/v1/bots/{bot_id}/metrics", "viewer", "Last reported metrics"),
    ("GET", "/api/v1/bots/{bot_id}/latency", "viewer", "Merged per-stage latency percentiles"),
    ("GET", "/api/v1/latency", "viewer", "Latency over time: ?scope=fleet|bot:<id>|type:<t>|node:<id>&from=&to=&step_ms= (ms); p50/p90/p99/p99.9/max per point and over the range"),
    ("POST", "/api/v1/bots/{bot_id}/{action}", "operator", "start, stop, pause, resume or restart (409 on an illegal move)"),
    ("GET", "/api/v1/configs", "viewer", "Every configuration with its latest version"),
    ("POST", "/api/v1/configs", "operator", "Store a validated configuration (version 1) for a bot to be created from (POST /api/v1/bots with config_id)"),
    ("GET", "/api/v1/configs/{config_id}", "viewer", "A configuration (?version=N for an old one)"),
    ("PUT", "/api/v1/configs/{config_id}", "operator", "A new version of a configuration"),
    ("POST", "/api/v1/configs/{config_id}/rollback", "operator", "Make an old version current (?version=N)"),
    ("GET", "/api/v1/configs/templates/{bot_type}", "viewer", "Default configuration of a bot type"),
    ("GET", "/api/v1/configs/schemas/{bot_type}", "viewer", "JSON Schema of a bot type"),
    ("GET", "/api/v1/nodes", "viewer", "Nodes and their last heartbeat"),
    ("POST", "/api/v1/agent/register", "agent", "An agent registers its node"),
    ("POST", "/api/v1/agent/heartbeat", "agent", "An agent's heartbeat"),
    ("GET", "/api/v1/agent/desired", "agent", "Blocking query: the node's desired state once its index passes ?index= (or ?wait_ms=)"),
    ("POST", "/api/v1/agent/report", "agent", "Bot states, metrics, HDR V2 interval snapshots and log lines"),
    ("GET", "/api/v1/alerts", "viewer", "Active and past alerts"),
    ("GET", "/api/v1/alerts/rules", "viewer", "Alert rules"),
    ("PUT", "/api/v1/alerts/rules/{rule_id}", "admin", "Create or replace an alert rule and its webhook"),
    ("POST", "/api/v1/alerts/evaluate", "operator", "Evaluate the rules now"),
    ("POST", "/api/v1/auth/login", "none", "Password login: a 12 h session token for the user's role (429 after 5 failures a minute from a client or 10 for a user, counted before verifying)"),
    ("GET", "/api/v1/auth/me", "viewer", "The caller's name and role"),
    ("GET", "/api/v1/auth/users", "admin", "Users who log in with a password (names and roles)"),
    ("PUT", "/api/v1/auth/users/{name}", "admin", "Create or replace a user (argon2id; ends their sessions)"),
    ("DELETE", "/api/v1/auth/users/{name}", "admin", "Delete a user and end their sessions"),
    ("GET", "/api/v1/auth/tokens", "admin", "Token names and roles"),
    ("POST", "/api/v1/auth/tokens", "admin", "Make a token (shown once)"),
    ("DELETE", "/api/v1/auth/tokens/{name}", "admin", "Revoke a name's tokens"),
    ("GET", "/api/v1/ws/metrics", "viewer", "WebSocket: subscribe to fleet, bot:<id>, node:<id> metrics (1 Hz)"),
    ("GET", "/api/v1/ws/logs", "viewer", "WebSocket: subscribe to fleet, bot:<id>, node:<id> log lines as agents report them"),
    ("GET", "/api/v1/system/logs/{bot_id}", "viewer", "A bot's recent log lines (?tail=N, ?filter=TEXT)"),
];

/// The OpenAPI 3.0 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for &(method, path, role, summary) in ROUTES {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                let mut schema = json!({"type": "string"});
                if name == "action" {
                    schema["enum"] = json!(["start", "stop", "pause", "resume", "restart"]);
                }
                json!({"name": name, "in": "path", "required": true, "schema": schema})
            })
            .collect();
        let mut op = json!({
            "summary": summary,
            "x-role": role,
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {}}},
                "default": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        if role == "none" {
            op["security"] = json!([]);
        }
        if method == "POST" || method == "PUT" {
            op["requestBody"] = json!({"required": false, "content": {"application/json": {"schema": {"type": "object"}}}});
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method.to_ascii_lowercase()] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "SniperForge gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Fleet API. Every route but health needs `Authorization: Bearer <token>`; `x-role` is the least role (viewer < operator < admin); `agent` routes take an agent token, bound to the node it acts for, or an admin's, and an agent token reaches nothing else."
        },
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {}
                    }
                }}
            }}
        },
        "paths": paths,
    })
}
