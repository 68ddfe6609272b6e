//! A small JSON Schema check (the keywords the gateway's OpenAPI document uses), so tests can
//! hold what the gateway sends outside schemathesis's reach (the WebSocket streams) to the
//! document: `$ref`, `type`, `enum`, `const`, `properties`, `required`, `additionalProperties`,
//! `propertyNames` (its enum), `items`, `oneOf` (exactly one), `anyOf`, `allOf`, `minimum`,
//! `maximum`, `minLength`, `maxLength`. `pattern` is not checked.

use serde_json::Value;

/// Whether `value` conforms to `schema`, `$ref`s resolved in `doc`; `Err` says where not.
pub fn check(value: &Value, schema: &Value, doc: &Value) -> Result<(), String> {
    at(value, schema, doc, "$")
}

fn at(value: &Value, schema: &Value, doc: &Value, path: &str) -> Result<(), String> {
    let fail = |why: String| Err(format!("{path}: {why}"));
    let obj = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return fail("no value is allowed".into()),
        Value::Object(o) => o,
        _ => return fail(format!("schema is not a schema: {schema}")),
    };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        let target = &doc["components"]["schemas"][name];
        if target.is_null() {
            return fail(format!("{r} does not resolve"));
        }
        at(value, target, doc, path)?;
    }
    if let Some(types) = obj.get("type") {
        let names: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let is = |t: &str| match t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        };
        if !names.iter().any(|t| is(t)) {
            return fail(format!("{value} is not of type {types}"));
        }
    }
    if let Some(e) = obj.get("enum").and_then(Value::as_array)
        && !e.contains(value)
    {
        return fail(format!("{value} is not one of {}", Value::Array(e.clone())));
    }
    if let Some(c) = obj.get("const")
        && c != value
    {
        return fail(format!("{value} is not {c}"));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = obj.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return fail(format!("{n} < {min}"));
        }
        if let Some(max) = obj.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return fail(format!("{n} > {max}"));
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if obj
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
            || obj
                .get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| len > m)
        {
            return fail(format!("length {len} is out of bounds"));
        }
    }
    if let Some(map) = value.as_object() {
        let props = obj.get("properties").and_then(Value::as_object);
        for name in obj
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !map.contains_key(name) {
                return fail(format!("required field {name} is missing"));
            }
        }
        for (key, v) in map {
            if let Some(names) = obj
                .get("propertyNames")
                .and_then(|p| p.get("enum"))
                .and_then(Value::as_array)
                && !names.iter().any(|n| n == key)
            {
                return fail(format!(
                    "key {key} is not one of {}",
                    Value::Array(names.clone())
                ));
            }
            let sub = format!("{path}.{key}");
            match props.and_then(|p| p.get(key)) {
                Some(s) => at(v, s, doc, &sub)?,
                None => match obj.get("additionalProperties") {
                    Some(Value::Bool(false)) => return fail(format!("unknown field {key}")),
                    Some(extra) => at(v, extra, doc, &sub)?,
                    None => {}
                },
            }
        }
    }
    if let (Some(items), Some(list)) = (obj.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            at(v, items, doc, &format!("{path}[{i}]"))?;
        }
    }
    if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
        for s in all {
            at(value, s, doc, path)?;
        }
    }
    if let Some(any) = obj.get("anyOf").and_then(Value::as_array)
        && !any.iter().any(|s| at(value, s, doc, path).is_ok())
    {
        return fail("matches none of anyOf".into());
    }
    if let Some(one) = obj.get("oneOf").and_then(Value::as_array) {
        let matching = one
            .iter()
            .filter(|s| at(value, s, doc, path).is_ok())
            .count();
        if matching != 1 {
            let why: Vec<String> = one
                .iter()
                .filter_map(|s| at(value, s, doc, path).err())
                .collect();
            return fail(format!(
                "matches {matching} of oneOf's {} (each must match exactly one): {}",
                one.len(),
                why.join("; ")
            ));
        }
    }
    Ok(())
}
