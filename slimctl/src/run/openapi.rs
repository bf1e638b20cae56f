//! HTTP probes from an OpenAPI description (Swagger 2.0, OpenAPI 3.0 and 3.1; JSON or YAML):
//! for an API service the spec names every endpoint, which the default probe (`GET /` and the
//! crawl) never reaches. Every path and method becomes a request, each parameter filled with
//! its example, else each of its enum values in turn, else a value made from its schema; a
//! body likewise. The spec is read as plain JSON values: no single crate models all three
//! versions, and only the few fields a request needs are read.

use super::http::HttpProbe;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Why a document is not a spec slimctl can probe from, with where (a line, or a JSON pointer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

/// Most requests one spec gives (a spec of a thousand operations probes the first thousand).
const MAX_REQUESTS: usize = 1000;
/// Enum values tried per parameter.
const MAX_ENUM: usize = 8;
/// How deep `$ref`s and nested schemas are followed.
const MAX_DEPTH: usize = 12;

/// Parses `text` (JSON or YAML) as a spec: its version is checked, nothing else yet.
pub fn parse(text: &str) -> Result<Value, SpecError> {
    let v: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text)
            .map_err(|e| SpecError(format!("line {}, column {}: not JSON: {e}", e.line(), e.column())))?
    } else {
        let y: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
            let at = e.location().map(|l| format!("line {}, column {}: ", l.line(), l.column())).unwrap_or_default();
            SpecError(format!("{at}not YAML: {e}"))
        })?;
        serde_json::to_value(y).map_err(|e| SpecError(format!("not a JSON-like document: {e}")))?
    };
    let version = v.get("openapi").or_else(|| v.get("swagger")).and_then(Value::as_str);
    match version {
        Some(s) if s == "2.0" || s.starts_with("3.0") || s.starts_with("3.1") => {}
        Some(s) => return Err(SpecError(format!("/openapi: version {s:?} (slimctl reads 2.0, 3.0 and 3.1)"))),
        None => return Err(SpecError("/: no `openapi` or `swagger` version field: not an OpenAPI document".into())),
    }
    if !v.get("paths").is_none_or(Value::is_object) {
        return Err(SpecError("/paths: expected an object of paths".into()));
    }
    Ok(v)
}

/// The spec's requests, in its order: paths, then methods in the order OpenAPI lists them.
pub fn requests(spec: &Value) -> Result<Vec<HttpProbe>, SpecError> {
    let base = base_path(spec);
    let mut out = Vec::new();
    let Some(paths) = spec.get("paths").and_then(Value::as_object) else { return Ok(out) };
    for (path, item) in paths {
        let item = resolve(spec, item, 0);
        let shared: Vec<Value> = params_of(spec, item.get("parameters"));
        for method in METHODS {
            let Some(op) = item.get(*method) else { continue };
            let op = resolve(spec, op, 0);
            // An operation's parameters override the path item's of the same name and place.
            let mut params: Vec<Value> = params_of(spec, op.get("parameters"));
            for p in &shared {
                if !params.iter().any(|q| q["name"] == p["name"] && q["in"] == p["in"]) {
                    params.push(p.clone());
                }
            }
            let body = body_of(spec, op, &params);
            for values in variants(spec, &params) {
                if out.len() >= MAX_REQUESTS {
                    return Ok(out);
                }
                out.push(request(&base, path, method, &params, &values, body.clone())?);
            }
        }
    }
    Ok(out)
}

/// The path every request starts with: 2.0's `basePath`; 3.x's first server URL's path.
fn base_path(spec: &Value) -> String {
    let raw = if let Some(b) = spec.get("basePath").and_then(Value::as_str) {
        b.to_owned()
    } else {
        let url = spec.pointer("/servers/0/url").and_then(Value::as_str).unwrap_or("");
        // `https://host/v1` → `/v1`; `/v1` stays; server variables are not known: dropped.
        let path = match url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
            None => url,
        };
        if path.contains('{') {
            String::new()
        } else {
            path.to_owned()
        }
    };
    raw.trim_end_matches('/').to_owned()
}

/// `value` with `$ref` followed (local refs only), as deep as `MAX_DEPTH`.
fn resolve<'a>(spec: &'a Value, value: &'a Value, depth: usize) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(pointer) if depth < MAX_DEPTH => match spec.pointer(pointer) {
            Some(target) => resolve(spec, target, depth + 1),
            None => value,
        },
        _ => value,
    }
}

fn params_of(spec: &Value, list: Option<&Value>) -> Vec<Value> {
    list.and_then(Value::as_array).map(|a| a.iter().map(|p| resolve(spec, p, 0).clone()).collect()).unwrap_or_default()
}

/// A parameter's schema: 3.x's `schema`; 2.0 puts the type on the parameter itself.
fn param_schema(p: &Value) -> Value {
    p.get("schema").cloned().unwrap_or_else(|| p.clone())
}

/// The values to try for a parameter: its example (3.x `example`/`examples`, 2.0's
/// `x-example`), else each enum value, else one made from its schema.
fn values_of(spec: &Value, p: &Value) -> Vec<Value> {
    let schema = param_schema(p);
    let schema = resolve(spec, &schema, 0);
    let example = p
        .get("example")
        .or_else(|| p.get("x-example"))
        .or_else(|| {
            p.get("examples").and_then(Value::as_object).and_then(|m| m.values().next()).and_then(|e| e.get("value"))
        })
        .or_else(|| schema.get("example"))
        .or_else(|| schema.get("examples").and_then(Value::as_array).and_then(|a| a.first()));
    if let Some(e) = example {
        return vec![e.clone()];
    }
    let enumerated = schema
        .get("enum")
        .or_else(|| schema.pointer("/items/enum"))
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    if let Some(values) = enumerated {
        return values.iter().take(MAX_ENUM).cloned().collect();
    }
    vec![sample(spec, schema, 0)]
}

/// One request per value a parameter has beyond its first (the others at their first): each
/// enum value is tried without multiplying the requests.
fn variants(spec: &Value, params: &[Value]) -> Vec<Vec<Value>> {
    let per: Vec<Vec<Value>> = params.iter().map(|p| values_of(spec, p)).collect();
    let first: Vec<Value> = per.iter().map(|v| v[0].clone()).collect();
    let mut out = vec![first.clone()];
    for (i, values) in per.iter().enumerate() {
        for v in values.iter().skip(1) {
            let mut each = first.clone();
            each[i] = v.clone();
            out.push(each);
        }
    }
    out
}

/// A value that fits `schema`: its default or example first, else one by type and format.
fn sample(spec: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(spec, schema, depth);
    if depth >= MAX_DEPTH {
        return Value::Null;
    }
    for key in ["example", "default", "const"] {
        if let Some(v) = schema.get(key) {
            return v.clone();
        }
    }
    if let Some(v) = schema.get("enum").and_then(Value::as_array).and_then(|a| a.first()) {
        return v.clone();
    }
    for key in ["allOf"] {
        if let Some(parts) = schema.get(key).and_then(Value::as_array) {
            let mut merged = Map::new();
            for part in parts {
                if let Value::Object(o) = sample(spec, part, depth + 1) {
                    merged.extend(o);
                }
            }
            return Value::Object(merged);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = schema.get(key).and_then(Value::as_array).and_then(|a| a.first()) {
            return sample(spec, first, depth + 1);
        }
    }
    // 3.1 allows a list of types: the first that is not null.
    let kind = match schema.get("type") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("string"),
        Some(Value::String(s)) => s.as_str(),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match kind {
        "integer" => json!(schema.get("minimum").and_then(Value::as_i64).unwrap_or(1).max(1)),
        "number" => json!(schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.5)),
        "boolean" => json!(true),
        "array" => json!([sample(spec, schema.get("items").unwrap_or(&Value::Null), depth + 1)]),
        "object" => {
            let mut o = Map::new();
            for (k, v) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
                o.insert(k.clone(), sample(spec, v, depth + 1));
            }
            Value::Object(o)
        }
        _ => json!(match schema.get("format").and_then(Value::as_str) {
            Some("date") => "2024-01-01",
            Some("date-time") => "2024-01-01T00:00:00Z",
            Some("uuid") => "00000000-0000-4000-8000-000000000000",
            Some("email") => "user@example.com",
            Some("uri" | "url") => "http://example.com/",
            Some("ipv4") => "127.0.0.1",
            _ => "string",
        }),
    }
}

/// A body for the operation: 3.x's `requestBody` (JSON first), 2.0's `in: body` parameter.
fn body_of(spec: &Value, op: &Value, params: &[Value]) -> Option<(String, String)> {
    if let Some(rb) = op.get("requestBody") {
        let rb = resolve(spec, rb, 0);
        let content = rb.get("content").and_then(Value::as_object)?;
        let (media, m) = content
            .iter()
            .find(|(k, _)| k.starts_with("application/json") || k.ends_with("+json"))
            .or_else(|| content.iter().next())?;
        let value = m
            .get("example")
            .cloned()
            .or_else(|| {
                m.get("examples")
                    .and_then(Value::as_object)
                    .and_then(|x| x.values().next())
                    .and_then(|e| e.get("value"))
                    .cloned()
            })
            .unwrap_or_else(|| sample(spec, m.get("schema").unwrap_or(&Value::Null), 0));
        return Some((media.clone(), encode_body(media, &value)));
    }
    let p = params.iter().find(|p| p["in"] == "body")?;
    let value = p.get("x-example").cloned().unwrap_or_else(|| sample(spec, p.get("schema").unwrap_or(&Value::Null), 0));
    Some(("application/json".into(), value.to_string()))
}

fn encode_body(media: &str, value: &Value) -> String {
    match value {
        Value::String(s) if !media.contains("json") => s.clone(),
        v => v.to_string(),
    }
}

/// A parameter value as text in a URL.
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(as_text).collect::<Vec<_>>().join(","),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn pct(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

fn request(
    base: &str,
    path: &str,
    method: &str,
    params: &[Value],
    values: &[Value],
    body: Option<(String, String)>,
) -> Result<HttpProbe, SpecError> {
    let mut p = path.to_owned();
    let mut query: Vec<(String, String)> = Vec::new();
    let mut headers = BTreeMap::new();
    for (param, value) in params.iter().zip(values) {
        let name = param["name"].as_str().unwrap_or_default();
        match param["in"].as_str() {
            Some("path") => p = p.replace(&format!("{{{name}}}"), &pct(&as_text(value))),
            Some("query") => query.push((name.to_owned(), as_text(value))),
            Some("header") => {
                headers.insert(name.to_owned(), as_text(value));
            }
            _ => {}
        }
    }
    if p.contains('{') {
        return Err(SpecError(format!(
            "/paths/{}: a path parameter the operation does not describe",
            path.replace('/', "~1")
        )));
    }
    let mut full = format!("{base}{p}");
    if !full.starts_with('/') {
        full.insert(0, '/');
    }
    if !query.is_empty() {
        let q: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", pct(k), pct(v))).collect();
        full.push('?');
        full.push_str(&q.join("&"));
    }
    let body = body.map(|(media, text)| {
        headers.insert("Content-Type".into(), media);
        text
    });
    Ok(HttpProbe { method: method.to_ascii_uppercase(), path: full, body, headers, port: None })
}

/// The requests of the spec in the file at `path` (`--api-spec`): what cannot be read or is no
/// spec is the user's error, said with the file and where in it.
pub fn load(path: &std::path::Path) -> Result<Vec<HttpProbe>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
    let spec = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    requests(&spec).map_err(|e| format!("{}: {e}", path.display()))
}

/// The paths an app is asked for its spec at when no spec is named.
pub const WELL_KNOWN: &[&str] = &["/openapi.json", "/swagger.json", "/v3/api-docs", "/swagger/v1/swagger.json"];

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(spec: &str) -> Vec<String> {
        let v = parse(spec).unwrap();
        requests(&v)
            .unwrap()
            .iter()
            .map(|p| format!("{} {}{}", p.method, p.path, p.body.as_ref().map(|b| format!(" {b}")).unwrap_or_default()))
            .collect()
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/openapi/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn petstore_in_every_version_and_form() {
        let v2 = ["GET /v1/pets?limit=1", "POST /v1/pets", "GET /v1/pets/string"];
        assert_eq!(lines(&fixture("petstore-2.0.json")), v2);
        assert_eq!(lines(&fixture("petstore-2.0.yaml")), v2);
        let v3 =
            ["GET /v1/pets?limit=1", r#"POST /v1/pets {"id":1,"name":"string","tag":"string"}"#, "GET /v1/pets/string"];
        assert_eq!(lines(&fixture("petstore-3.0.yaml")), v3);
        assert_eq!(lines(&fixture("petstore-3.0.json")), v3);
        assert_eq!(lines(&fixture("petstore-3.1.yaml")), v3);
        assert_eq!(lines(&fixture("petstore-3.1.json")), v3);
    }

    #[test]
    fn examples_then_each_enum_value_then_the_schema() {
        let spec = r##"{"openapi": "3.0.3", "servers": [{"url": "http://api.example.com/api/"}], "paths": {
            "/items/{id}": {"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}, "example": 42}],
              "get": {"parameters": [{"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["name", "price"]}},
                                      {"name": "since", "in": "query", "schema": {"type": "string", "format": "date"}}]}},
            "/search": {"get": {"parameters": [{"$ref": "#/components/parameters/Q"}]}}},
          "components": {"parameters": {"Q": {"name": "q", "in": "query", "schema": {"type": "string"}, "examples": {"a": {"value": "red shoes"}}}}}}"##;
        assert_eq!(
            lines(spec),
            [
                "GET /api/items/42?sort=name&since=2024-01-01",
                "GET /api/items/42?sort=price&since=2024-01-01",
                "GET /api/search?q=red%20shoes",
            ]
        );
    }

    #[test]
    fn what_is_not_a_spec_says_where() {
        assert!(parse("{\"hello\": 1}").unwrap_err().0.contains("not an OpenAPI document"));
        assert!(parse("openapi: 3.0.0\npaths: [1, 2]\n").unwrap_err().0.contains("/paths"));
        assert!(parse("openapi: 3.0.0\npaths:\n  /a: {get: {}\n").unwrap_err().0.contains("line"));
        assert!(parse("{\"openapi\": \"3.0.0\",").unwrap_err().0.contains("line 1"));
        assert!(parse("swagger: \"1.2\"\n").unwrap_err().0.contains("1.2"));
    }
}
