//! `web/src/generated/api.ts`: every schema of the OpenAPI document (`GET /api/v1/openapi.json`)
//! as a TypeScript type, so the UI reads and sends what the gateway's handlers read and write.
//! The test fails when the file is not what the document gives;
//! `UPDATE_TS=1 cargo test -p sniperforge-gateway --test typescript` rewrites it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use serde_json::Value;

/// A component name as a TypeScript identifier (`Config_enhanced_arbitrage` stays as it is).
fn ident(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn quoted_key(key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        key.to_string()
    } else {
        serde_json::to_string(key).unwrap()
    }
}

fn comment(schema: &Value, indent: &str) -> String {
    match schema.get("description").and_then(Value::as_str) {
        Some(d) => format!(
            "{indent}/** {} */\n",
            d.replace("*/", "* /").replace('\n', " ")
        ),
        None => String::new(),
    }
}

/// `schema` as a TypeScript type (the subset of JSON Schema the document uses).
fn ts(schema: &Value, indent: &str) -> String {
    let Some(obj) = schema.as_object() else {
        // `true` (anything) or `false` (nothing).
        return if schema == &Value::Bool(false) {
            "never".into()
        } else {
            "unknown".into()
        };
    };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        return ident(r.rsplit('/').next().unwrap());
    }
    if let Some(c) = obj.get("const") {
        return c.to_string();
    }
    if let Some(e) = obj.get("enum").and_then(Value::as_array) {
        return e
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(" | ");
    }
    let mut parts = Vec::new();
    for key in ["oneOf", "anyOf"] {
        if let Some(variants) = obj.get(key).and_then(Value::as_array) {
            // A variant that only lists required fields narrows the object beside it.
            let typed: Vec<String> = variants
                .iter()
                .filter(|v| {
                    v.as_object()
                        .is_some_and(|o| o.keys().any(|k| k != "required" && k != "description"))
                })
                .map(|v| ts(v, indent))
                .collect();
            if !typed.is_empty() {
                parts.push(format!("({})", typed.join(" | ")));
            }
        }
    }
    if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
        parts.extend(all.iter().map(|v| ts(v, indent)));
    }
    let types: Vec<&str> = match obj.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut alternatives = Vec::new();
    for t in &types {
        alternatives.push(match *t {
            "string" => "string".to_string(),
            "integer" | "number" => "number".to_string(),
            "boolean" => "boolean".to_string(),
            "null" => "null".to_string(),
            "array" => {
                let item = obj.get("items").map_or("unknown".into(), |i| ts(i, indent));
                if item.contains(' ') {
                    format!("Array<{item}>")
                } else {
                    format!("{item}[]")
                }
            }
            "object" => object(obj, indent),
            other => panic!("type {other} has no TypeScript mapping"),
        });
    }
    if types.is_empty() && obj.contains_key("properties") {
        alternatives.push(object(obj, indent));
    }
    if !alternatives.is_empty() {
        parts.push(if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            format!("({})", alternatives.join(" | "))
        });
    }
    if parts.is_empty() {
        "unknown".into()
    } else {
        parts.join(" & ")
    }
}

fn object(obj: &serde_json::Map<String, Value>, indent: &str) -> String {
    let required: Vec<&str> = obj
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let inner = format!("{indent}  ");
    let mut out = String::from("{\n");
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            out.push_str(&comment(prop, &inner));
            let optional = if required.contains(&name.as_str()) {
                ""
            } else {
                "?"
            };
            out.push_str(&format!(
                "{inner}{}{optional}: {}\n",
                quoted_key(name),
                ts(prop, &inner)
            ));
        }
    }
    match obj.get("additionalProperties") {
        Some(Value::Bool(false)) => {}
        Some(extra) if extra.is_object() => {
            // Keys are strings; named ones (an enum) narrow them.
            let keys = obj
                .get("propertyNames")
                .filter(|k| k.get("enum").is_some() || k.get("const").is_some())
                .map_or("string".into(), |k| ts(k, &inner));
            if obj.get("properties").is_none() {
                return format!("Partial<Record<{keys}, {}>>", ts(extra, indent));
            }
            out.push_str(&format!("{inner}[key: string]: {}\n", ts(extra, &inner)));
        }
        _ if obj.get("properties").is_none() => return "Record<string, unknown>".into(),
        _ => {}
    }
    out.push_str(indent);
    out.push('}');
    out
}

fn generated() -> String {
    let doc = sniperforge_gateway::openapi::document();
    let mut out = String::from(
        "// Generated from the gateway's OpenAPI document by\n// `UPDATE_TS=1 cargo test -p sniperforge-gateway --test typescript`; do not edit (a test fails\n// when it is out of date).\n\n",
    );
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        out.push_str(&comment(schema, ""));
        out.push_str(&format!(
            "export type {} = {}\n\n",
            ident(name),
            ts(schema, "")
        ));
    }
    out.push_str(&routes(&doc));
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// `Routes`: each REST route (`"GET /api/v1/bots/{bot_id}"`) with its path parameters, query,
/// body and answer, for a typed `api()` call.
fn routes(doc: &Value) -> String {
    let mut out = String::from(
        "/** Every REST route: its path parameters, query string, request body and answer. */\nexport interface Routes {\n",
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            if responses.contains_key("101") {
                continue; // WebSockets: `stream()`.
            }
            let json_answer = responses.iter().any(|(status, r)| {
                status.starts_with('2')
                    && r.get("content")
                        .is_none_or(|c| c.get("application/json").is_some())
            });
            if !json_answer {
                continue; // Prometheus text: not for `call()`, which reads JSON.
            }
            let (mut params, mut query) = (Vec::new(), Vec::new());
            for p in op["parameters"].as_array().unwrap() {
                let name = p["name"].as_str().unwrap();
                let ty = ts(&p["schema"], "    ");
                match p["in"].as_str().unwrap() {
                    "path" => params.push(format!("{}: {ty}", quoted_key(name))),
                    "query" => query.push(format!(
                        "{}{}: {ty}",
                        quoted_key(name),
                        if p["required"] == true { "" } else { "?" }
                    )),
                    _ => {}
                }
            }
            let body = op["requestBody"]["content"]["application/json"]
                .get("schema")
                .map_or("never".into(), |s| ts(s, "    "));
            let answer = responses
                .iter()
                .find(|(status, _)| status.starts_with('2'))
                .map_or("never".into(), |(status, r)| {
                    match r.get("content").and_then(Value::as_object) {
                        None if status == "204" => "null".to_string(),
                        None => "never".to_string(),
                        Some(c) => match c.get("application/json") {
                            Some(j) => ts(&j["schema"], "    "),
                            None => "string".to_string(),
                        },
                    }
                });
            let obj = |fields: &[String]| {
                if fields.is_empty() {
                    "Record<string, never>".to_string()
                } else {
                    format!("{{ {} }}", fields.join("; "))
                }
            };
            out.push_str(&format!(
                "  '{} {path}': {{\n    params: {}\n    query: {}\n    body: {body}\n    answer: {answer}\n  }}\n",
                method.to_ascii_uppercase(),
                obj(&params),
                obj(&query),
            ));
        }
    }
    out.push_str("}\n");
    out
}

#[test]
fn typescript_api_types_are_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/src/generated/api.ts");
    let want = generated();
    if std::env::var_os("UPDATE_TS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "{path} is out of date: UPDATE_TS=1 cargo test -p sniperforge-gateway --test typescript"
    );
}
