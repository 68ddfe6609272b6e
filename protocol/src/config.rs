//! Bot configuration files: validation that reports every error at once with its dotted path,
//! templates and JSON Schemas, all derived from [`crate::spec`], and the hot/cold split of a change.

use serde_json::{Map, Value, json};

use crate::params::Params;
use crate::spec::{Field, Kind, Section, sections};
use crate::wire::{BotConfig, BotType};

/// One problem in a configuration, located by its dotted path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// Dotted path (`risk_management.stop_loss_bps`; envelope fields by their own name).
    pub path: String,
    /// What is wrong, with the value found.
    pub message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}

/// A configuration that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedConfig {
    /// The envelope and its (validated) parameters.
    pub config: BotConfig,
    /// The same parameters, typed.
    pub params: Params,
}

/// A field's value by the spec's names (for walks over the spec; code reads [`Params`]).
fn field_value<'a>(cfg: &'a ValidatedConfig, section: &str, field: &str) -> &'a Value {
    cfg.config
        .parameters
        .get(section)
        .and_then(|s| s.get(field))
        .unwrap_or(&Value::Null)
}

/// Parses JSON text and validates it.
pub fn parse(text: &str) -> Result<ValidatedConfig, Vec<ConfigError>> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        vec![err(
            "(file)",
            format!(
                "not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )]
    })?;
    validate(&value)
}

/// Most items a list field may hold (symbol lists, core lists): validation stays linear and
/// an oversized list is an error, not work.
pub const MAX_LIST: usize = 1_024;

/// A value as an error message shows it: its JSON, cut at 60 characters (never inside one).
fn describe(v: &Value) -> String {
    // Large values are cut before they are written out whole.
    let text = match v {
        Value::Array(items) if items.len() > 8 => format!("[… {} items]", items.len()),
        Value::Object(map) if map.len() > 8 => format!("{{… {} fields}}", map.len()),
        Value::String(s) if s.len() > 240 => {
            let head: String = s.chars().take(60).collect();
            format!("{head:?}")
        }
        _ => v.to_string(),
    };
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn check_field(field: &Field, v: &Value) -> Option<String> {
    let got = describe(v);
    if let Some(items) = v.as_array().filter(|items| items.len() > MAX_LIST) {
        return Some(format!("holds {} items; at most {MAX_LIST}", items.len()));
    }
    match field.kind {
        Kind::Int { min, max } => match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => None,
            Some(_) => Some(format!("must be between {min} and {max}, got {got}")),
            None => Some(format!(
                "must be an integer between {min} and {max}, got {got}"
            )),
        },
        Kind::Float { min, max } => match v.as_f64() {
            Some(x) if x.is_finite() && x >= min && x <= max => None,
            _ => Some(format!(
                "must be a number between {min} and {max}, got {got}"
            )),
        },
        Kind::Bool => (!v.is_boolean()).then(|| format!("must be true or false, got {got}")),
        Kind::Text => (!v.is_string()).then(|| format!("must be a string, got {got}")),
        Kind::OneOf(options) => match v.as_str() {
            Some(s) if options.contains(&s) => None,
            _ => Some(format!("must be one of {}, got {got}", options.join(", "))),
        },
        Kind::SubsetOf(options) => match v.as_array() {
            Some(items) if !items.is_empty() => {
                let mut seen = Vec::new();
                for item in items {
                    match item.as_str() {
                        Some(s) if options.contains(&s) && !seen.contains(&s) => seen.push(s),
                        Some(s) if seen.contains(&s) => return Some(format!("lists {s:?} twice")),
                        _ => {
                            return Some(format!(
                                "may only hold {}, got {}",
                                options.join(", "),
                                describe(item)
                            ));
                        }
                    }
                }
                None
            }
            _ => Some(format!(
                "must be a non-empty list of {}, got {got}",
                options.join(", ")
            )),
        },
        Kind::Symbols => match v.as_array() {
            Some(items) if !items.is_empty() => {
                let mut seen = std::collections::HashSet::new();
                for item in items {
                    let ok = item.as_str().is_some_and(|s| {
                        !s.is_empty()
                            && s.len() <= 64
                            && s.split('/').count() <= 2
                            && s.split('/').all(|p| {
                                !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric())
                            })
                    });
                    if !ok {
                        return Some(format!(
                            "holds {}: a symbol is letters and digits, a pair two of them joined by '/'",
                            describe(item)
                        ));
                    }
                    if !seen.insert(item.as_str()) {
                        return Some(format!("lists {} twice", describe(item)));
                    }
                }
                None
            }
            _ => Some(format!(
                "must be a non-empty list of symbols or pairs, got {got}"
            )),
        },
        Kind::IntList { min, max } => match v.as_array() {
            Some(items) if !items.is_empty() => items
                .iter()
                .find(|i| !i.as_i64().is_some_and(|n| (min..=max).contains(&n)))
                .map(|bad| {
                    format!(
                        "elements must be integers between {min} and {max}, got {}",
                        describe(bad)
                    )
                }),
            _ => Some(format!("must be a non-empty list of integers, got {got}")),
        },
        Kind::Weights { len } => match v.as_array() {
            Some(items) if items.len() == len => {
                let weights: Option<Vec<f64>> = items
                    .iter()
                    .map(|i| i.as_f64().filter(|w| (0.0..=1.0).contains(w)))
                    .collect();
                match weights {
                    None => Some(format!("must be {len} numbers between 0 and 1, got {got}")),
                    Some(w) if (w.iter().sum::<f64>() - 1.0).abs() > 1e-9 => Some(format!(
                        "must sum to 1, got {got} (sum {})",
                        w.iter().sum::<f64>()
                    )),
                    Some(_) => None,
                }
            }
            _ => Some(format!("must be a list of {len} weights, got {got}")),
        },
        Kind::WeightMap => match v.as_object() {
            Some(map) if !map.is_empty() => {
                if let Some((k, bad)) = map
                    .iter()
                    .find(|(_, w)| !w.as_f64().is_some_and(|w| (0.0..=1.0).contains(&w)))
                {
                    return Some(format!(
                        "weight of {k:?} must be between 0 and 1, got {}",
                        describe(bad)
                    ));
                }
                let sum: f64 = map.values().filter_map(Value::as_f64).sum();
                (sum > 1.0 + 1e-9).then(|| format!("weights must sum to at most 1, got {sum}"))
            }
            _ => Some(format!("must be an object of symbol → weight, got {got}")),
        },
        Kind::AmountMap => match v.as_object() {
            Some(map) if !map.is_empty() => map
                .iter()
                .find(|(k, a)| {
                    k.is_empty()
                        || !k.chars().all(|c| c.is_ascii_alphanumeric())
                        || !a.as_f64().is_some_and(|a| a.is_finite() && a >= 0.0)
                })
                .map(|(k, a)| {
                    format!(
                        "{k:?}: {}; expected a symbol and an amount ≥ 0",
                        describe(a)
                    )
                }),
            _ => Some(format!("must be an object of symbol → amount, got {got}")),
        },
    }
}

fn check_sections(sections: &[Section], params: &Value, errors: &mut Vec<ConfigError>) {
    let Some(obj) = params.as_object() else {
        errors.push(err(
            "parameters",
            format!("must be an object, got {}", describe(params)),
        ));
        return;
    };
    for key in obj.keys() {
        if !sections.iter().any(|s| s.name == key) {
            let known: Vec<_> = sections.iter().map(|s| s.name).collect();
            errors.push(err(
                key.clone(),
                format!("unknown section; expected {}", known.join(", ")),
            ));
        }
    }
    for section in sections {
        let Some(values) = obj.get(section.name) else {
            errors.push(err(section.name, "missing section"));
            continue;
        };
        let Some(values) = values.as_object() else {
            errors.push(err(
                section.name,
                format!("must be an object, got {}", describe(values)),
            ));
            continue;
        };
        for key in values.keys() {
            if !section.fields.iter().any(|f| f.name == key) {
                errors.push(err(format!("{}.{key}", section.name), "unknown field"));
            }
        }
        for field in section.fields {
            let path = format!("{}.{}", section.name, field.name);
            match values.get(field.name) {
                None => errors.push(err(path, "missing field")),
                Some(v) => {
                    if let Some(message) = check_field(field, v) {
                        errors.push(err(path, message));
                    }
                }
            }
        }
    }
    // Live trading needs an explicit keypair path (simulation is the default everywhere).
    if let Some(exec) = obj.get("execution").and_then(Value::as_object)
        && exec.get("simulation_mode") == Some(&Value::Bool(false))
    {
        if exec
            .get("keypair_path")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errors.push(err(
                "execution.keypair_path",
                "required when execution.simulation_mode is false",
            ));
        }
        if exec.get("auto_execute") != Some(&Value::Bool(true)) {
            errors.push(err(
                "execution.auto_execute",
                "must be true for live trading (execution.simulation_mode is false)",
            ));
        }
    }
}

pub use crate::ids::{valid_bot_id, valid_node_id};

/// Validates a whole configuration file; returns every error found, each with its path.
pub fn validate(value: &Value) -> Result<ValidatedConfig, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let Some(obj) = value.as_object() else {
        return Err(vec![err(
            "(file)",
            format!("must be a JSON object, got {}", describe(value)),
        )]);
    };
    const TOP: [&str; 6] = [
        "bot_id",
        "bot_type",
        "parameters",
        "environment",
        "resources",
        "health",
    ];
    for key in obj.keys() {
        if !TOP.contains(&key.as_str()) {
            errors.push(err(
                key.clone(),
                format!("unknown field; expected {}", TOP.join(", ")),
            ));
        }
    }
    match obj.get("bot_id") {
        Some(Value::String(id)) if valid_bot_id(id) => {}
        Some(v) => errors.push(err(
            "bot_id",
            format!(
                "must be 1 to 64 letters, digits, '-' or '_', got {}",
                describe(v)
            ),
        )),
        None => errors.push(err("bot_id", "missing field")),
    }
    let bot_type = match obj.get("bot_type") {
        Some(Value::String(s)) => match s.parse::<BotType>() {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(err("bot_type", e.to_string()));
                None
            }
        },
        Some(v) => {
            errors.push(err(
                "bot_type",
                format!("must be a string, got {}", describe(v)),
            ));
            None
        }
        None => {
            errors.push(err("bot_type", "missing field"));
            None
        }
    };
    match obj.get("environment").and_then(Value::as_str) {
        Some(env @ ("dev" | "test")) => {
            // Only prod trades live: a dev or test bot is paper, whatever else it says.
            if obj
                .get("parameters")
                .and_then(|p| p.get("execution"))
                .and_then(|e| e.get("simulation_mode"))
                == Some(&Value::Bool(false))
            {
                errors.push(err(
                    "execution.simulation_mode",
                    format!("may be false only in the prod environment (environment is {env})"),
                ));
            }
        }
        Some("prod") => {}
        _ => errors.push(err(
            "environment",
            format!(
                "must be one of dev, test, prod, got {}",
                obj.get("environment").map_or("nothing".into(), describe)
            ),
        )),
    }
    match obj.get("resources").and_then(Value::as_object) {
        Some(res) => {
            for key in res.keys() {
                if !["cores", "memory_mb", "cpu_quota_percent"].contains(&key.as_str()) {
                    errors.push(err(format!("resources.{key}"), "unknown field"));
                }
            }
            match res.get("cores").and_then(Value::as_array) {
                Some(cores) if cores.len() > MAX_LIST => errors.push(err(
                    "resources.cores",
                    format!("holds {} items; at most {MAX_LIST}", cores.len()),
                )),
                Some(cores) => {
                    let ids: Vec<Option<u64>> = cores
                        .iter()
                        .map(|c| c.as_u64().filter(|n| *n < 1024))
                        .collect();
                    let mut seen = [false; 1024];
                    if let Some(bad) = cores.iter().zip(&ids).find(|(_, id)| id.is_none()) {
                        errors.push(err(
                            "resources.cores",
                            format!("must be core numbers 0 to 1023, got {}", describe(bad.0)),
                        ));
                    } else if ids
                        .iter()
                        .flatten()
                        .any(|&c| std::mem::replace(&mut seen[c as usize], true))
                    {
                        errors.push(err("resources.cores", "lists a core twice"));
                    }
                }
                None => errors.push(err("resources.cores", "must be a list of core numbers")),
            }
            match res.get("memory_mb").and_then(Value::as_u64) {
                Some(m) if (16..=1_048_576).contains(&m) => {}
                _ => errors.push(err(
                    "resources.memory_mb",
                    format!(
                        "must be between 16 and 1048576, got {}",
                        res.get("memory_mb").map_or("nothing".into(), describe)
                    ),
                )),
            }
        }
        None => errors.push(err("resources", "missing object { cores, memory_mb }")),
    }
    if let Some(q) = obj
        .get("resources")
        .and_then(|r| r.get("cpu_quota_percent"))
        .filter(|q| !q.as_u64().is_some_and(|q| (1..=102_400).contains(&q)))
    {
        errors.push(err(
            "resources.cpu_quota_percent",
            format!(
                "must be between 1 and 102400 (100: one core), got {}",
                describe(q)
            ),
        ));
    }
    match obj.get("health") {
        None => {}
        Some(Value::Object(h)) => {
            use crate::wire::HealthPolicy as H;
            for key in h.keys() {
                if key != "failures" && key != "interval_ms" {
                    errors.push(err(format!("health.{key}"), "unknown field"));
                }
            }
            for (key, range) in [("failures", H::FAILURES), ("interval_ms", H::INTERVAL_MS)] {
                match h.get(key) {
                    Some(v) if v.as_u64().is_some_and(|n| range.contains(&n)) => {}
                    other => errors.push(err(
                        format!("health.{key}"),
                        format!(
                            "must be between {} and {}, got {}",
                            range.start(),
                            range.end(),
                            other.map_or("nothing".into(), describe)
                        ),
                    )),
                }
            }
        }
        Some(v) => errors.push(err(
            "health",
            format!(
                "must be an object {{ failures, interval_ms }}, got {}",
                describe(v)
            ),
        )),
    }
    match (bot_type, obj.get("parameters")) {
        (Some(t), Some(params)) => check_sections(sections(t), params, &mut errors),
        (_, None) => errors.push(err("parameters", "missing field")),
        (None, Some(_)) => {}
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let config = serde_json::from_value::<BotConfig>(value.clone())
        .map_err(|e| vec![err("(file)", e.to_string())])?;
    let params = Params::read(config.bot_type, &config.parameters)
        .map_err(|e| vec![err("parameters", e.to_string())])?;
    Ok(ValidatedConfig { config, params })
}

fn default_of(field: &Field) -> Value {
    // Defaults are literals of this crate; a test parses every one of them.
    serde_json::from_str(field.default).unwrap_or(Value::Null)
}

/// A complete, valid configuration of `bot_type` with every default.
pub fn template(bot_type: BotType) -> Value {
    let mut params = Map::new();
    for section in sections(bot_type) {
        let fields: Map<String, Value> = section
            .fields
            .iter()
            .map(|f| (f.name.to_string(), default_of(f)))
            .collect();
        params.insert(section.name.to_string(), Value::Object(fields));
    }
    json!({
        "bot_id": format!("{}-1", bot_type.as_str().replace('_', "-")),
        "bot_type": bot_type.as_str(),
        "environment": "dev",
        "resources": { "cores": [], "memory_mb": 512 },
        "parameters": params,
    })
}

fn field_schema(field: &Field) -> Value {
    let mut s = match field.kind {
        Kind::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        Kind::Float { min, max } => json!({"type": "number", "minimum": min, "maximum": max}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Text => json!({"type": "string"}),
        Kind::OneOf(options) => json!({"type": "string", "enum": options}),
        Kind::SubsetOf(options) => {
            json!({"type": "array", "minItems": 1, "uniqueItems": true, "items": {"type": "string", "enum": options}})
        }
        Kind::Symbols => json!({"type": "array", "minItems": 1, "uniqueItems": true,
            "items": {"type": "string", "pattern": "^[A-Za-z0-9]+(/[A-Za-z0-9]+)?$"}}),
        Kind::IntList { min, max } => {
            json!({"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": min, "maximum": max}})
        }
        Kind::Weights { len } => json!({"type": "array", "minItems": len, "maxItems": len,
            "items": {"type": "number", "minimum": 0, "maximum": 1}, "description": "sums to 1"}),
        Kind::WeightMap => json!({"type": "object", "minProperties": 1,
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}}),
        Kind::AmountMap => json!({"type": "object", "minProperties": 1,
            "propertyNames": {"pattern": "^[A-Za-z0-9]+$"},
            "additionalProperties": {"type": "number", "minimum": 0}}),
    };
    if let Some(obj) = s.as_object_mut() {
        obj.insert("default".into(), default_of(field));
        obj.insert("x-hot-reload".into(), Value::Bool(field.hot));
        let note = if field.hot {
            "applies without a restart"
        } else {
            "needs a restart"
        };
        obj.insert(
            "description".into(),
            Value::String(format!("{} ({note})", field.description)),
        );
    }
    s
}

/// The JSON Schema (2020-12) of a `bot_type` configuration file; every parameter carries
/// `x-hot-reload`.
pub fn schema(bot_type: BotType) -> Value {
    let mut params = Map::new();
    for section in sections(bot_type) {
        let props: Map<String, Value> = section
            .fields
            .iter()
            .map(|f| (f.name.to_string(), field_schema(f)))
            .collect();
        let required: Vec<&str> = section.fields.iter().map(|f| f.name).collect();
        params.insert(
            section.name.to_string(),
            json!({"type": "object", "additionalProperties": false, "required": required, "properties": props}),
        );
    }
    let required: Vec<&str> = sections(bot_type).iter().map(|s| s.name).collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("SniperForge {} bot configuration", bot_type.as_str()),
        "type": "object",
        "additionalProperties": false,
        "required": ["bot_id", "bot_type", "parameters", "environment", "resources"],
        "properties": {
            "bot_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "bot_type": {"const": bot_type.as_str()},
            "environment": {"enum": ["dev", "test", "prod"]},
            "resources": {"type": "object", "additionalProperties": false, "required": ["cores", "memory_mb"],
                "properties": {
                    "cores": {"type": "array", "uniqueItems": true, "items": {"type": "integer", "minimum": 0, "maximum": 1023}},
                    "memory_mb": {"type": "integer", "minimum": 16, "maximum": 1_048_576},
                    "cpu_quota_percent": {"type": "integer", "minimum": 1, "maximum": 102_400,
                        "description": "CPU time the bot may use, percent of one core (200: two cores); left out: no quota (systemd CPUQuota, cgroup v2 cpu.max)"}
                }},
            "health": {"type": "object", "additionalProperties": false, "required": ["failures", "interval_ms"],
                "description": "Health checks by the agent: a bot failing `failures` checks in a row, `interval_ms` apart, is replaced through a warm handover (0: never). Default 3 checks 1 s apart.",
                "properties": {
                    "failures": {"type": "integer", "minimum": *crate::wire::HealthPolicy::FAILURES.start(), "maximum": *crate::wire::HealthPolicy::FAILURES.end()},
                    "interval_ms": {"type": "integer", "minimum": *crate::wire::HealthPolicy::INTERVAL_MS.start(), "maximum": *crate::wire::HealthPolicy::INTERVAL_MS.end()}
                }},
            "parameters": {"type": "object", "additionalProperties": false, "required": required, "properties": params},
        }
    })
}

/// The configuration reference of every bot type as markdown tables (docs/config-reference.md
/// carries it; a test keeps the two identical).
pub fn markdown_reference() -> String {
    let mut out = String::new();
    for t in BotType::ALL {
        out.push_str(&format!(
            "#### `{}`\n\n| parameter | type and range | default | applies |\n|---|---|---|---|\n",
            t.as_str()
        ));
        for section in sections(t) {
            for field in section.fields {
                let range = match field.kind {
                    Kind::Int { min, max } => format!("integer {min}–{max}"),
                    Kind::Float { min, max } => format!("number {min}–{max}"),
                    Kind::Bool => "boolean".to_string(),
                    Kind::Text => "string".to_string(),
                    Kind::OneOf(o) => format!("one of {}", o.join(", ")),
                    Kind::SubsetOf(o) => format!("list of {}", o.join(", ")),
                    Kind::Symbols => "list of symbols or pairs".to_string(),
                    Kind::IntList { min, max } => format!("list of integers {min}–{max}"),
                    Kind::Weights { len } => format!("{len} weights summing to 1"),
                    Kind::WeightMap => "symbol → weight, sum ≤ 1".to_string(),
                    Kind::AmountMap => "symbol → amount ≥ 0".to_string(),
                };
                out.push_str(&format!(
                    "| `{}.{}` — {} | {range} | `{}` | {} |\n",
                    section.name,
                    field.name,
                    field.description,
                    field.default,
                    if field.hot { "hot" } else { "restart" }
                ));
            }
        }
        out.push('\n');
    }
    out
}

/// A parameter that differs between two configurations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Dotted path.
    pub path: String,
    /// Whether it applies without a restart.
    pub hot: bool,
}

/// Every changed field of `new` against `old` (same type), marked hot or cold; a change of
/// type, environment or resources is cold.
pub fn changes(old: &ValidatedConfig, new: &ValidatedConfig) -> Vec<Change> {
    let mut out = Vec::new();
    let (o, n) = (&old.config, &new.config);
    if o.bot_type != n.bot_type {
        out.push(Change {
            path: "bot_type".into(),
            hot: false,
        });
        return out;
    }
    if o.environment != n.environment {
        out.push(Change {
            path: "environment".into(),
            hot: false,
        });
    }
    if o.resources != n.resources {
        out.push(Change {
            path: "resources".into(),
            hot: false,
        });
    }
    if o.health != n.health {
        // The agent's: it applies at once, the bot is not restarted.
        out.push(Change {
            path: "health".into(),
            hot: true,
        });
    }
    for section in sections(n.bot_type) {
        for field in section.fields {
            if field_value(old, section.name, field.name)
                != field_value(new, section.name, field.name)
            {
                out.push(Change {
                    path: format!("{}.{}", section.name, field.name),
                    hot: field.hot,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_valid_and_every_default_parses() {
        for t in BotType::ALL {
            for section in sections(t) {
                for field in section.fields {
                    let v: Value = serde_json::from_str(field.default)
                        .unwrap_or_else(|e| panic!("{t} {}.{}: {e}", section.name, field.name));
                    assert_eq!(
                        check_field(field, &v),
                        None,
                        "{t} default of {}.{}",
                        section.name,
                        field.name
                    );
                }
            }
            let template = template(t);
            assert!(
                validate(&template).is_ok(),
                "{t}: {:?}",
                validate(&template).err()
            );
            assert_eq!(schema(t)["properties"]["bot_type"]["const"], t.as_str());
        }
    }

    #[test]
    fn enhanced_arbitrage_template_has_the_documented_defaults() {
        let t = template(BotType::EnhancedArbitrage);
        let p = &t["parameters"];
        assert_eq!(p["trading"]["min_profit_bps"], 50);
        assert_eq!(p["trading"]["max_trade_sol"], 100.0);
        assert_eq!(p["trading"]["confidence_threshold"], 0.85);
        assert_eq!(p["trading"]["max_concurrent_trades"], 3);
        assert_eq!(p["risk_management"]["stop_loss_bps"], 200);
        assert_eq!(p["risk_management"]["max_daily_loss_usd"], 1000.0);
        assert_eq!(p["risk_management"]["emergency_stop_enabled"], true);
        assert_eq!(p["execution"]["auto_execute"], false);
        assert_eq!(p["execution"]["simulation_mode"], true);
        assert_eq!(
            p["execution"]["dexs"],
            json!(["Jupiter", "Orca", "Raydium"])
        );
        let s = schema(BotType::EnhancedArbitrage);
        let stop = &s["properties"]["parameters"]["properties"]["risk_management"]["properties"]["stop_loss_bps"];
        assert_eq!(
            (
                stop["minimum"].clone(),
                stop["maximum"].clone(),
                stop["x-hot-reload"].clone()
            ),
            (json!(10), json!(1000), json!(true))
        );
        let ml = template(BotType::MlAnalytics);
        assert_eq!(
            ml["parameters"]["models"]["ensemble_weights"],
            json!([0.4, 0.3, 0.3])
        );
        assert_eq!(ml["parameters"]["models"]["prediction_horizon_minutes"], 45);
    }

    #[test]
    fn every_error_is_reported_at_once_with_its_path() {
        let mut v = template(BotType::EnhancedArbitrage);
        v["parameters"]["risk_management"]["stop_loss_bps"] = json!(5);
        v["parameters"]["trading"]["min_profit_bps"] = json!(0);
        v["parameters"]["trading"]["confidence_threshold"] = json!(1.5);
        v["parameters"]["trading"]["surprise"] = json!(1);
        v["parameters"]["execution"]["dexs"] = json!(["Orca", "Uniswap"]);
        v["parameters"]["execution"]["simulation_mode"] = json!(false);
        v["bot_id"] = json!("bad id!");
        v["colour"] = json!("red");
        let errors = validate(&v).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for expected in [
            "risk_management.stop_loss_bps: must be between 10 and 1000, got 5",
            "trading.min_profit_bps: must be between 1 and 1000, got 0",
            "trading.confidence_threshold: must be a number between 0 and 1, got 1.5",
            "trading.surprise: unknown field",
            "execution.dexs: may only hold Jupiter, Orca, Raydium, got \"Uniswap\"",
            "execution.keypair_path: required when execution.simulation_mode is false",
            "execution.auto_execute: must be true for live trading (execution.simulation_mode is false)",
            "execution.simulation_mode: may be false only in the prod environment (environment is dev)",
            "colour: unknown field; expected bot_id, bot_type, parameters, environment, resources, health",
        ] {
            assert!(
                text.iter().any(|t| t == expected),
                "missing {expected:?} in {text:#?}"
            );
        }
        assert!(text.iter().any(|t| t.starts_with("bot_id:")));
        assert_eq!(errors.len(), 10, "{text:#?}");
    }

    #[test]
    fn only_prod_trades_live() {
        let mut v = template(BotType::EnhancedArbitrage);
        v["parameters"]["execution"]["simulation_mode"] = json!(false);
        v["parameters"]["execution"]["auto_execute"] = json!(true);
        v["parameters"]["execution"]["keypair_path"] = json!("/etc/sniperforge/key.json");
        for env in ["dev", "test"] {
            v["environment"] = json!(env);
            let errors = validate(&v).unwrap_err();
            let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
            assert_eq!(
                text,
                [format!(
                    "execution.simulation_mode: may be false only in the prod environment (environment is {env})"
                )]
            );
        }
        v["environment"] = json!("prod");
        assert!(validate(&v).unwrap().params.live());
    }

    #[test]
    fn changes_are_split_into_hot_and_cold() {
        let old = validate(&template(BotType::TriangularArbitrage)).unwrap();
        let mut v = template(BotType::TriangularArbitrage);
        v["parameters"]["trading"]["min_profit_bps"] = json!(45);
        v["parameters"]["trading"]["max_hops"] = json!(4);
        let new = validate(&v).unwrap();
        assert_eq!(
            changes(&old, &new),
            vec![
                Change {
                    path: "trading.min_profit_bps".into(),
                    hot: true
                },
                Change {
                    path: "trading.max_hops".into(),
                    hot: false
                },
            ]
        );
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let e = parse("{\n  \"bot_id\": ,\n}").unwrap_err();
        assert!(e[0].to_string().contains("line 2"), "{e:?}");
    }

    /// Every string field of every template, and the top-level ids, set to strings with
    /// multi-byte characters around the 60-character cut: errors, never a panic.
    #[test]
    fn hostile_strings_and_huge_lists_are_errors_not_panics() {
        let nasty = [
            "é".repeat(30),
            "é".repeat(31),
            format!("a{}", "€".repeat(40)),
            format!("{}😀", "x".repeat(59)),
            "\u{0}\u{7f}\u{202e}".repeat(50),
            "😀".repeat(5_000),
        ];
        for t in BotType::ALL {
            let base = template(t);
            for s in &nasty {
                let mut v = base.clone();
                v["bot_id"] = json!(s);
                v["environment"] = json!(s);
                v["resources"]["cores"] = json!([s]);
                if let Some(params) = v["parameters"].as_object_mut() {
                    for section in params.values_mut() {
                        if let Some(fields) = section.as_object_mut() {
                            for field in fields.values_mut() {
                                *field = json!(s);
                            }
                        }
                    }
                }
                let errors = validate(&v).unwrap_err();
                assert!(errors.iter().any(|e| e.path == "bot_id"), "{errors:?}");
                for e in &errors {
                    assert!(e.message.chars().count() < 400, "{e:?}");
                }
            }
        }
        // Lists past the cap are refused by their length, unread.
        let mut v = template(BotType::EnhancedArbitrage);
        let many: Vec<String> = (0..40_000).map(|i| format!("T{i}/U{i}")).collect();
        v["parameters"]["trading"]["pairs"] = json!(many);
        v["resources"]["cores"] = json!(vec![1; 40_000]);
        let errors = validate(&v).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.contains("40000 items; at most 1024")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with("resources.cores")),
            "{text:?}"
        );
        // At the cap, distinct symbols pass and a repeat is named.
        let mut few: Vec<String> = (0..MAX_LIST).map(|i| format!("T{i}/USDC")).collect();
        v = template(BotType::EnhancedArbitrage);
        v["parameters"]["trading"]["pairs"] = json!(few);
        assert!(validate(&v).is_ok());
        few[MAX_LIST - 1] = "T0/USDC".into();
        v["parameters"]["trading"]["pairs"] = json!(few);
        let errors = validate(&v).unwrap_err();
        assert!(errors[0].message.contains("twice"), "{errors:?}");
    }
}
