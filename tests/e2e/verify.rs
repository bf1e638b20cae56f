//! Verify and self-healing on the real engine: the slim image is run with the same probes as
//! the original, answers are compared (run-dependent parts masked), and what the slim image
//! looked for and the original has is added back.
use e2e::*;
use serde_json::Value;
use std::process::Command;

const APP: &str = r#"
import json, os, time
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    def _send(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/":
            self._send({"ok": True})
        elif self.path == "/time":
            self._send({"now": time.time(), "pid": os.getpid()})
        elif self.path == "/report":
            import hashlib  # imported only here: no probe of the traced run reaches it
            name = "r-" + hashlib.sha256(b"weekly").hexdigest()[:8] + ".txt"  # a name no rule can guess
            with open(os.path.join("/app/reports", name)) as f:
                self._send({"report": f.read().strip()})
        else:
            self._send({"path": self.path})

    def log_message(self, *a):
        pass

HTTPServer(("0.0.0.0", 8080), H).serve_forever()
"#;

fn fixture(tag: &str) -> ImageGuard {
    let base = base_image();
    // The report file's name: sha256("weekly")[:8], computed here the same way.
    let out =
        run(Command::new("python3").args(["-c", "import hashlib;print(hashlib.sha256(b'weekly').hexdigest()[:8])"]));
    let name = format!("r-{}.txt", text(&out.stdout).trim());
    let dockerfile = format!(
        "FROM {base}\nCOPY app.py /app/app.py\nCOPY report.txt /app/reports/{name}\nCOPY decoy.txt /app/reports/r-decoy.txt\n\
         EXPOSE 8080\nCMD [\"python3\", \"/app/app.py\"]\n"
    );
    build_image(
        tag,
        &dockerfile,
        &[("app.py", APP), ("report.txt", "weekly numbers\n"), ("decoy.txt", "not this one\n")],
    )
}

fn report(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn self_healing_adds_what_the_slim_image_missed_and_converges() {
    let _turn = topic(module_path!());
    let img = fixture("slimctl-e2e/heal:1");
    let slim = ImageGuard("slimctl-e2e/heal.slim:1".into());
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    // The traced run probes only GET /; verify also asks for /report, whose handler imports a
    // module lazily and opens a file under a computed name.
    let out = slimctl(&[
        "build",
        &img.0,
        "--tag",
        &slim.0,
        "--verify-http-probe-cmd",
        "GET:/report",
        // The report file is the app's own: app-tree would keep it before any healing.
        "--no-app-tree",
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "build failed: {}\n{}", text(&out.stderr), text(&out.stdout));
    let r = report(&rep);
    let v = &r["verify"];
    assert_eq!(v["ok"], true, "{v:#}");
    let rounds = v["rounds"].as_array().unwrap();
    // Round 0 misses the report file; round 1 has it: at most three rounds.
    assert!(rounds.len() >= 2 && rounds.len() <= 3, "healing took {} rounds: {v:#}", rounds.len());
    let added: Vec<&str> =
        rounds.iter().flat_map(|r| r["added"].as_array().unwrap()).map(|p| p.as_str().unwrap()).collect();
    assert!(added.iter().any(|p| p.starts_with("/app/reports/r-") && *p != "/app/reports/r-decoy.txt"), "{added:?}");
    let kept = r["kept"].as_object().unwrap();
    // The module imported only inside the handler came from the python-imports rule, not healing.
    let hashlib = &kept["/usr/lib/python3.11/hashlib.py"];
    assert_eq!(hashlib["reasons"][0]["kind"], "rule", "{hashlib}");
    assert_eq!(hashlib["reasons"][0]["rule"], "python-imports", "{hashlib}");
    assert!(r["bytes_by_reason"]["coverage:python-imports"].as_u64().unwrap() > 0, "{}", r["bytes_by_reason"]);
    assert!(!kept.contains_key("/app/reports/r-decoy.txt"), "healing adds only what was looked for");
    let healed = kept.iter().find(|(p, _)| p.starts_with("/app/reports/r-")).unwrap().1;
    assert_eq!(healed["reasons"][0]["kind"], "healed", "{healed}");
    assert_eq!(
        rounds.last().unwrap()["checks"].as_array().unwrap().iter().filter(|c| c["verdict"] == "mismatch").count(),
        0
    );

    // And the slim image really serves it.
    let (_c, port) = run_published(&slim.0, 8080);
    assert!(http_get(port, "/report").contains("weekly numbers"));
}

#[test]
fn without_fix_the_mismatch_is_reported_with_the_missing_file_and_exit_7() {
    let _turn = topic(module_path!());
    let img = fixture("slimctl-e2e/heal:2");
    let slim = ImageGuard("slimctl-e2e/heal.slim:2".into());
    let out = slimctl(&[
        "build",
        &img.0,
        "--tag",
        &slim.0,
        "--verify-http-probe-cmd",
        "GET:/report",
        "--no-fix",
        "--no-app-tree",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("MISMATCH") && stdout.contains("slim image missed /app/reports/r-"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("does not behave like the original"), "{stderr}");
    // It ends with the command that opens a side-car on the slim image; that command works, and
    // shows what the slim image lacks.
    let hint = format!("slimctl debug --run {}", slim.0);
    assert!(stderr.contains(&hint), "{stderr}");
    let out =
        slimctl(&["debug", "--run", &slim.0, "--", "sh", "-c", "ls $TARGET_ROOT/app; ls $TARGET_ROOT/app/reports"]);
    assert!(!text(&out.stdout).is_empty(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("/proc/1/root"), "{}", text(&out.stderr));
    assert!(slimctl_containers(&slim.0).is_empty());
}

#[test]
fn an_answer_with_a_timestamp_is_not_a_false_mismatch() {
    let _turn = topic(module_path!());
    let img = fixture("slimctl-e2e/heal:3");
    let slim = ImageGuard("slimctl-e2e/heal.slim:3".into());
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let out = slimctl(&[
        "build",
        &img.0,
        "--tag",
        &slim.0,
        "--http-probe-cmd",
        "GET:/time",
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let r = report(&rep);
    let checks = r["verify"]["rounds"][0]["checks"].as_array().unwrap();
    let time = checks.iter().find(|c| c["what"].as_str().unwrap().starts_with("GET /time")).unwrap();
    assert_eq!(time["verdict"], "match_normalized", "{time}");
    // The traced run gave the first answers; the differing timestamp made verify run the
    // original once more to tell a run-dependent answer from a real difference.
    assert_eq!(r["verify"]["original_runs"], 1, "{:#}", r["verify"]);

    // `slimctl verify` on its own agrees, and says so with exit 0.
    let out = slimctl(&["verify", &img.0, &slim.0, "--http-probe-cmd", "GET:/time", "--json"]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v:#}");
}
