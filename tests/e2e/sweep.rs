//! The sweep: what the coverage rules found by reading code, loaded for real in the original
//! under the sensor. The example's lazily loaded paths need files that no Python source names:
//! a module its C extension imports when it loads, and a style module its error renderer picks
//! by a computed name. The rules keep the modules; only a load shows what those need. Nothing
//! here (nor in any rule) names those modules: the sweep finds them by running the loads.
use e2e::*;
use serde_json::Value;
use std::process::Output;

const TABLES: &str = "/usr/local/lib/python3.11/dist-packages/fastcalc_tables.py";
const STYLE: &str = "/usr/local/lib/python3.11/dist-packages/errkit/styles_plain.py";

fn build(image: &str, tag: &str, extra: &[&str]) -> (ImageGuard, Value, Output) {
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let slim = ImageGuard(tag.to_owned());
    let mut args = vec!["build", image, "--tag", tag, "--report", rep.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = slimctl(&args);
    let report = std::fs::read(&rep).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
    (slim, report, out)
}

/// The status line and body of each path, asked of one fresh container of `image`; a handler
/// that fails may close the connection, and that is an answer too.
fn answers(image: &str, paths: &[&str]) -> Vec<(String, String)> {
    let (_c, port) = run_published(image, 8080);
    http_get(port, "/");
    paths
        .iter()
        .map(|p| {
            let raw = http_try(port, p).unwrap_or_else(|e| format!("no answer: {e}"));
            let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
            (head.lines().next().unwrap_or("").to_owned(), body.to_owned())
        })
        .collect()
}

fn kept_for(r: &Value, path: &str) -> Value {
    r["kept"][path]["reasons"][0].clone()
}

#[test]
fn what_loading_a_module_pulls_in_is_kept_and_without_the_sweep_it_is_not() {
    let _turn = topic(module_path!());
    // A tag of its own: the tests of a topic run at once, and each removes its image.
    let image = build_example("python-lazy", "slimctl-e2e/python-lazy:sweep");
    let paths = ["/total", "/parse?n=x", "/audit", "/export"];
    let original = answers(&image.0, &paths);
    assert!(original[0].0.contains(" 200") && original[0].1.contains("10.5"), "{original:?}");
    assert!(original[1].0.contains(" 400") && original[1].1.contains("ValueError"), "{original:?}");
    assert!(original[2].0.contains(" 200") && original[2].1.contains("\"audit\": 1"), "{original:?}");
    assert!(original[3].0.contains(" 200") && original[3].1.contains("report.csv"), "{original:?}");

    let (with, r, out) = build(&image.0, "slimctl-e2e/python-lazy.slim:sweep", &[]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let sweep = &r["sweep"][0];
    assert_eq!(sweep["runtime"], "python", "{sweep}");
    assert_eq!(sweep["complete"], true, "{sweep}");
    assert!(sweep["loaded"].as_u64().unwrap() > 0, "{sweep}");
    let tables = kept_for(&r, TABLES);
    assert_eq!((&tables["kind"], &tables["what"]), (&"sweep".into(), &"import fastcalc".into()), "{tables}");
    let style = kept_for(&r, STYLE);
    assert_eq!((&style["kind"], &style["what"]), (&"sweep".into(), &"import errkit.render".into()), "{style}");
    assert!(r["bytes_by_reason"]["sweep"].as_u64().unwrap() > 0);
    // /audit's handler class is named only in a logging configuration's string.
    let trail = kept_for(&r, "/usr/local/lib/python3.11/dist-packages/auditkit/handlers.py");
    assert_eq!(trail["rule"], "python-imports", "{trail}");
    assert!(trail["what"].as_str().unwrap().contains("named in a string"), "{trail}");
    // /export's tarfile, imported in the handler, imports gzip inside the function that opens
    // a compressed archive: a lazy import of a module the app's code imports.
    let gzip = &r["kept"]["/usr/lib/python3.11/gzip.py"]["reasons"];
    assert!(
        gzip.as_array()
            .unwrap()
            .iter()
            .any(|g| g["rule"] == "python-imports" && g["of"] == "/usr/lib/python3.11/tarfile.py"),
        "{gzip}"
    );
    let checks = r["verify"]["rounds"][0]["checks"].as_array().unwrap();
    let swept = checks.iter().find(|c| c["what"] == "sweep: Python modules").expect("verify swept the slim image");
    assert_eq!(swept["verdict"], "match", "{swept}");
    assert_eq!(answers(&with.0, &paths), original, "the slim image answers like the original");

    let (without, r, out) = build(&image.0, "slimctl-e2e/python-lazy.slim:nosweep", &["--no-sweep"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(r["sweep"].is_null(), "{}", r["sweep"]);
    assert!(r["kept"][TABLES].is_null() && r["kept"][STYLE].is_null());
    let broken = answers(&without.0, &paths);
    assert!(!broken[0].0.contains(" 200") && !broken[1].0.contains(" 400"), "{broken:?}");
    let (no_rule, _, out) =
        build(&image.0, "slimctl-e2e/python-lazy.slim:norule", &["--no-python-imports", "--no-verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let broken = answers(&no_rule.0, &["/audit", "/export"]);
    assert!(!broken[0].0.contains(" 200"), "without python-imports the handler's module is gone: {broken:?}");
    assert!(!broken[1].0.contains(" 200"), "without python-imports tarfile's gzip is gone: {broken:?}");
    // `slimctl verify` on its own sweeps too: the probes alone cannot tell this image is broken.
    let out = slimctl(&["verify", &image.0, &without.0]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{}\n{stdout}", text(&out.stderr));
    assert!(stdout.contains("sweep: import fastcalc") && stdout.contains(TABLES), "{stdout}");
    let out = slimctl(&["verify", &image.0, &without.0, "--no-sweep"]);
    assert_eq!(out.status.code(), Some(0), "probes alone see no difference: {}", text(&out.stdout));
    assert!(slimctl_containers(&image.0).is_empty(), "the sweep's containers are removed");
}

#[test]
fn verify_loads_the_swept_modules_in_the_slim_image_and_healing_keeps_what_they_need() {
    let _turn = topic(module_path!());
    let image = build_example("python-lazy", "slimctl-e2e/python-lazy:verify");
    let (_slim, r, out) = build(&image.0, "slimctl-e2e/python-lazy.slim:excluded", &["--exclude", TABLES, "--no-fix"]);
    let stdout = text(&out.stdout);
    // What the rules kept of the package and what the sweep planned: why, should it not fail.
    let fastcalc: Vec<String> = r["kept"]
        .as_object()
        .map(|k| {
            k.iter().filter(|(p, _)| p.contains("fastcalc")).map(|(p, v)| format!("{p}: {}", v["reasons"])).collect()
        })
        .unwrap_or_default();
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}\n{stdout}\nsweep: {}\nkept: {fastcalc:#?}",
        text(&out.stderr),
        r["sweep"]
    );
    assert!(stdout.contains("sweep: import fastcalc") && stdout.contains("MISMATCH"), "{stdout}");
    assert!(stdout.contains("No module named 'fastcalc_tables'"), "the load's own error: {stdout}");
    assert!(stdout.contains(TABLES), "the file, named: {stdout}");
    assert!(!stdout.contains("behaves like"), "{stdout}");
    assert!(r["kept"][TABLES].is_null());

    let (healed, r, out) = build(&image.0, "slimctl-e2e/python-lazy.slim:healed", &["--exclude", TABLES]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    assert!(text(&out.stderr).contains(&format!("keeping {TABLES} although --exclude")), "{}", text(&out.stderr));
    assert_eq!(kept_for(&r, TABLES)["kind"], "healed");
    let total = &answers(&healed.0, &["/total"])[0];
    assert!(total.0.contains(" 200"), "{total:?}");
}

/// Node: the handler requires an installed package on its error path only, and the package
/// loads its theme by a computed name. The rule keeps the package; requiring it in the sweep
/// shows the theme.
#[test]
fn node_what_requiring_a_package_pulls_in_is_kept_and_without_the_sweep_it_is_not() {
    let _turn = topic(module_path!());
    const INDEX: &str = "/app/node_modules/errfmt/index.js";
    const THEME: &str = "/app/node_modules/errfmt/themes/plain.js";
    let image = build_example("node-lazy", "slimctl-e2e/node-lazy:sweep");
    let answers = |image: &str| {
        let (_c, port) = run_published(image, 8083);
        http_get(port, "/");
        let raw = http_try(port, "/parse?n=x").unwrap_or_else(|e| format!("no answer: {e}"));
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        (head.lines().next().unwrap_or("").to_owned(), body.to_owned())
    };
    let original = answers(&image.0);
    assert!(original.0.contains(" 400") && original.1.contains("RangeError: not a number"), "{original:?}");

    let (with, r, out) = build(&image.0, "slimctl-e2e/node-lazy.slim:sweep", &[]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let sweep = r["sweep"].as_array().unwrap().iter().find(|s| s["runtime"] == "node").cloned().unwrap_or_default();
    assert_eq!(sweep["complete"], true, "{}", r["sweep"]);
    let theme = kept_for(&r, THEME);
    assert_eq!((&theme["kind"], &theme["what"]), (&"sweep".into(), &format!("require {INDEX}").into()), "{theme}");
    let checks = r["verify"]["rounds"][0]["checks"].as_array().unwrap();
    let swept = checks.iter().find(|c| c["what"] == "sweep: Node modules").expect("verify swept the slim image");
    assert_eq!(swept["verdict"], "match", "{swept}");
    assert_eq!(answers(&with.0), original, "the slim image answers like the original");

    let (without, r, out) = build(&image.0, "slimctl-e2e/node-lazy.slim:nosweep", &["--no-sweep"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(r["kept"][THEME].is_null() && !r["kept"][INDEX].is_null(), "the rule keeps the package, not its theme");
    let broken = answers(&without.0);
    assert!(!broken.0.contains(" 400"), "{broken:?}");
    assert!(slimctl_containers(&image.0).is_empty(), "the sweep's containers are removed");
}
