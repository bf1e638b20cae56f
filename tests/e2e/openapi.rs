//! Probes from an OpenAPI spec: an API whose endpoints no link leads to is probed from the spec
//! it serves at a well-known path, with no flags; verify replays the spec's requests; with
//! discovery off, an endpoint fails in the slim image.

use e2e::*;
use serde_json::Value;

/// One HTTP request over a plain socket: the status line and the body.
fn request(port: u16, method: &str, path: &str, body: Option<&str>) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    (head.lines().next().unwrap_or("no answer").to_owned(), body.to_owned())
}

/// The spec's requests, as the test knows them from the example's spec.
const CALLS: &[(&str, &str, Option<&str>)] = &[
    ("GET", "/api/items", None),
    ("POST", "/api/items", Some(r#"{"name":"Teekanne","price":12.0}"#)),
    ("GET", "/api/items/2", None),
    ("GET", "/api/export.csv?encoding=utf-8", None),
    ("GET", "/api/export.csv?encoding=cp1252", None),
    ("GET", "/api/export.csv?encoding=latin-1", None),
];

fn answers(image: &str) -> Vec<(String, String)> {
    let (_c, port) = run_published(image, 8000);
    http_get(port, "/");
    CALLS.iter().map(|(m, p, b)| request(port, m, p, *b)).collect()
}

#[test]
fn an_api_is_probed_from_the_spec_it_serves_and_every_endpoint_answers_in_the_slim_image() {
    let _turn = topic(module_path!());
    let image = build_example("openapi-api", "slimctl-e2e/openapi:1");
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let slim = ImageGuard("slimctl-e2e/openapi.slim:1".into());
    let out = slimctl(&["build", &image.0, "--tag", &slim.0, "--report", rep.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    assert!(text(&out.stderr).contains("the OpenAPI spec at /openapi.json names 6 requests"), "{}", text(&out.stderr));
    // Verify replayed the spec's requests, the POST with its body, and compared them.
    for check in ["POST /api/items", "GET /api/export.csv?encoding=cp1252"] {
        assert!(stdout.lines().any(|l| l.starts_with(check) && l.ends_with("match")), "{check}:\n{stdout}");
    }
    let report: Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    assert!(report["kept"].as_object().unwrap().keys().any(|k| k.ends_with("/encodings/cp1252.py")));

    // Every endpoint answers in the slim image as in the original.
    let original = answers(&image.0);
    assert!(original.iter().all(|(status, _)| status.contains(" 200 ") || status.contains(" 201 ")), "{original:?}");
    assert!(original[4].1.contains("Kaffeem"), "{original:?}");
    assert_eq!(answers(&slim.0), original);

    // With discovery off nothing reaches the export: in cp1252 it fails in the slim image.
    let blind = ImageGuard("slimctl-e2e/openapi.slim:blind".into());
    let out = slimctl(&["build", &image.0, "--tag", &blind.0, "--no-api-spec-discovery"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = answers(&blind.0);
    assert_ne!(got[4], original[4], "cp1252 export should fail without the spec's probes: {got:?}");

    // A spec the user names that is not one: exit 3, the file and where.
    let bad = dir.path().join("spec.yaml");
    std::fs::write(&bad, "openapi: 3.0.0\npaths:\n  /a: {get: {}\n").unwrap();
    let out = slimctl(&["build", &image.0, "--api-spec", bad.to_str().unwrap()]);
    assert_clear_error(&out, 3, &["spec.yaml", "line"]);
    assert!(slimctl_containers(&image.0).is_empty());
}
