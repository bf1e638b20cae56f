//! The CI post-build step: seccomp profiles, profiles for re-slimming without a run, gates.
use e2e::*;
use serde_json::Value;
use std::process::Command;

#[test]
fn the_generated_seccomp_profile_is_enforced_and_sufficient() {
    let _turn = topic(module_path!());
    let image = build_example("python-http", "slimctl-e2e/seccomp:1");
    let slim = ImageGuard("slimctl-e2e/seccomp.slim:1".into());
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("seccomp.json");
    // verify runs the slim image under the profile: passing means it is sufficient
    let out = slimctl(&["build", &image.0, "--tag", &slim.0, "--seccomp-profile", profile.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    assert!(text(&out.stdout).contains("behaves like the original"), "{}", text(&out.stdout));
    let p: Value = serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
    assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
    let names: Vec<String> =
        p["syscalls"][0]["names"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert!(names.contains(&"accept4".to_owned()), "the server's accept4 was seen: {names:?}");
    assert!(!names.contains(&"ptrace".to_owned()) && !names.contains(&"mount".to_owned()), "{names:?}");

    // Without a syscall the app needs, the slim image no longer answers: the profile is enforced.
    let mut broken = p.clone();
    broken["syscalls"][0]["names"] = Value::from(names.iter().filter(|n| *n != "accept4").cloned().collect::<Vec<_>>());
    let broken_path = dir.path().join("broken.json");
    std::fs::write(&broken_path, serde_json::to_vec(&broken).unwrap()).unwrap();
    let out =
        slimctl(&["verify", &image.0, &slim.0, "--seccomp", broken_path.to_str().unwrap(), "--probe-timeout", "5"]);
    assert_eq!(out.status.code(), Some(7), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let out = slimctl(&["verify", &image.0, &slim.0, "--seccomp", profile.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    assert!(slimctl_containers(&image.0).is_empty() && slimctl_containers(&slim.0).is_empty());
}

#[test]
fn a_build_from_the_saved_profile_alone_has_the_traced_builds_digest() {
    let _turn = topic(module_path!());
    let image = build_example("cli-batch", "slimctl-e2e/profile:1");
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.json");
    let out = slimctl(&["profile", &image.0, "--output", profile.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let p: Value = serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
    assert_eq!(p["version"], 1);
    assert_eq!(p["image"]["id"].as_str().unwrap(), image_id(&image.0));
    assert!(p["touched"].as_array().unwrap().iter().any(|t| t["path"] == "/app/data/sales.csv"), "{p:#}");
    assert!(p["syscalls"].as_array().unwrap().iter().any(|s| s == "execve"));
    assert_eq!(p["exit_code"], 0, "the batch job's result is part of the profile");

    let traced = ImageGuard("slimctl-e2e/profile.slim:traced".into());
    let traced_rep = dir.path().join("traced.json");
    let out = slimctl(&["build", &image.0, "--tag", &traced.0, "--report", traced_rep.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let from = ImageGuard("slimctl-e2e/profile.slim:from".into());
    let from_rep = dir.path().join("from.json");
    let out = slimctl(&[
        "build",
        &image.0,
        "--tag",
        &from.0,
        "--from-profile",
        profile.to_str().unwrap(),
        "--report",
        from_rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    if image_id(&from.0) != image_id(&traced.0) {
        // Say exactly how they differ before failing.
        let keys = |p: &std::path::Path| -> std::collections::BTreeSet<String> {
            let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            v["kept"].as_object().unwrap().keys().cloned().collect()
        };
        let (a, b) = (keys(&traced_rep), keys(&from_rep));
        panic!(
            "digests differ; only traced: {:?}; only from-profile: {:?}; traced verify: {}; from-profile verify: {}",
            a.difference(&b).collect::<Vec<_>>(),
            b.difference(&a).collect::<Vec<_>>(),
            serde_json::from_slice::<Value>(&std::fs::read(&traced_rep).unwrap()).unwrap()["verify"],
            serde_json::from_slice::<Value>(&std::fs::read(&from_rep).unwrap()).unwrap()["verify"],
        );
    }
    assert!(!text(&out.stderr).contains("recorded against"), "same image: no warning");

    // A profile from another image is used, with a warning.
    let other = build_image("slimctl-e2e/profile:2", &format!("FROM {}\nLABEL rebuilt=yes\n", image.0), &[]);
    let again = ImageGuard("slimctl-e2e/profile.slim:other".into());
    let out =
        slimctl(&["build", &other.0, "--tag", &again.0, "--from-profile", profile.to_str().unwrap(), "--no-verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("was recorded against"), "{}", text(&out.stderr));
}

#[test]
fn ci_gates_and_dive_ci_thresholds_exit_5() {
    let _turn = topic(module_path!());
    let image = build_example("c-http", "slimctl-e2e/gates:1");
    let slim = ImageGuard("slimctl-e2e/gates.slim:1".into());
    let out = slimctl(&[
        "build",
        &image.0,
        "--tag",
        &slim.0,
        "--http-probe-cmd",
        "GET:/",
        "--no-verify",
        "--fail-if-larger-than",
        "1MB",
        "--min-ratio",
        "1000",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("--fail-if-larger-than") && err.contains("--min-ratio 1000"), "{err}");
    let out = slimctl(&[
        "build",
        &image.0,
        "--tag",
        &slim.0,
        "--http-probe-cmd",
        "GET:/",
        "--no-verify",
        "--fail-if-larger-than",
        "50MB",
        "--min-ratio",
        "5",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // An image wasting 1 MB: a file added, then deleted by a later layer.
    let blob = "x".repeat(1 << 20);
    let wasteful = build_image(
        "slimctl-e2e/gates:waste",
        &format!("FROM {}\nCOPY blob /opt/blob\nRUN rm /opt/blob\n", base_image()),
        &[("blob", blob.as_str())],
    );
    let dir = tempfile::tempdir().unwrap();
    let strict = dir.path().join("strict.dive-ci");
    std::fs::write(
        &strict,
        "rules:\n  lowestEfficiency: disabled\n  highestWastedBytes: 100KB\n  highestUserWastedPercent: disabled\n",
    )
    .unwrap();
    let out = slimctl(&["xray", &wasteful.0, "--ci", "--ci-config", strict.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("FAIL"), "{}", text(&out.stdout));
    let lax = dir.path().join("lax.dive-ci");
    std::fs::write(
        &lax,
        "rules:\n  lowestEfficiency: 0.5\n  highestWastedBytes: 1GB\n  highestUserWastedPercent: disabled\n",
    )
    .unwrap();
    let out = slimctl(&["xray", &wasteful.0, "--ci", "--ci-config", lax.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn diff_lists_the_packages_the_slim_image_dropped_as_dpkg_knows_them() {
    let _turn = topic(module_path!());
    let image = build_example("cli-batch", "slimctl-e2e/diff:1");
    let slim = ImageGuard("slimctl-e2e/diff.slim:1".into());
    let out = slimctl(&["build", &image.0, "--tag", &slim.0, "--no-verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = slimctl(&["diff", &image.0, &slim.0, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkgs = d["packages"].as_array().unwrap();
    // The image's own dpkg database, asked with dpkg itself.
    let q = docker(&["run", "--rm", "--entrypoint", "dpkg-query", &image.0, "-W", "-f", "${Package}\\n"]);
    let installed: std::collections::BTreeSet<&str> = q.lines().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
    let ours: std::collections::BTreeSet<&str> = pkgs.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(
        ours.is_subset(&installed),
        "not installed per dpkg: {:?}",
        ours.difference(&installed).collect::<Vec<_>>()
    );
    assert!(ours.len() + 5 >= installed.len(), "inventory misses packages: {} of {}", ours.len(), installed.len());
    let status = |name: &str| pkgs.iter().find(|p| p["name"] == name).map(|p| p["status"].as_str().unwrap().to_owned());
    assert_eq!(status("perl-base").as_deref(), Some("removed"), "nothing in the job runs perl");
    assert_eq!(status("python3.11-minimal").as_deref(), Some("removed"));
    assert_eq!(status("mawk").as_deref(), Some("partial"), "the awk binary stays, its docs go");
    assert!(d["removed"].as_array().unwrap().iter().any(|f| f["path"] == "/usr/bin/perl"));
    // The slim image's own dpkg database lists exactly the packages it keeps files of.
    let cid = docker(&["create", &slim.0]).trim().to_owned();
    let _c = ContainerGuard(cid.clone());
    let out = run(Command::new("docker").args(["cp", &format!("{cid}:/var/lib/dpkg/status"), "-"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut ar = tar::Archive::new(&out.stdout[..]);
    let mut status = String::new();
    std::io::Read::read_to_string(&mut ar.entries().unwrap().next().unwrap().unwrap(), &mut status).unwrap();
    let listed: std::collections::BTreeSet<&str> = status.lines().filter_map(|l| l.strip_prefix("Package: ")).collect();
    let kept: std::collections::BTreeSet<&str> = pkgs
        .iter()
        .filter(|p| p["manager"] == "dpkg" && p["status"] != "removed")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, kept, "the slim image's dpkg status");
    assert!(listed.contains("coreutils") && !listed.contains("perl-base"));
    // The build report carries the same summary.
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    let out = slimctl(&["build", &image.0, "--tag", &slim.0, "--no-verify", "--report", rep.to_str().unwrap()]);
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    assert!(r["packages"]["removed"].as_array().unwrap().iter().any(|p| p == "perl-base"));
}

#[test]
fn several_images_in_one_run_share_the_sensor_and_get_a_combined_summary() {
    let _turn = topic(module_path!());
    let a = build_example("c-http", "slimctl-e2e/multi:c");
    let b = build_example("cli-batch", "slimctl-e2e/multi:cli");
    let _slims = (ImageGuard("slimctl-e2e/multi.slim:c".into()), ImageGuard("slimctl-e2e/multi.slim:cli".into()));
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(&list, format!("# the batch job too\n{}\n", b.0)).unwrap();
    let rep = dir.path().join("reports.json");
    let out = slimctl(&[
        "build",
        &a.0,
        "--images-from",
        list.to_str().unwrap(),
        "--http-probe-cmd",
        "GET:/",
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("slimctl-e2e/multi:c ") && stdout.contains("slimctl-e2e/multi:cli "), "{stdout}");
    let r: Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    let reports = r.as_array().unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["trace"]["sensor_reused"], false);
    assert_eq!(reports[1]["trace"]["sensor_reused"], true, "one sensor load for the batch");
    assert!(reports.iter().all(|r| r["verify"]["ok"] == true));
    // one image failing does not stop the others; the worst exit code wins
    let out = slimctl(&["build", "slimctl-e2e/no-such:1", &a.0, "--http-probe-cmd", "GET:/", "--no-verify"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("slimctl-e2e/multi:c ") && text(&out.stdout).contains("ok"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn exec_probes_replayed_from_a_profile_run_the_traced_commands() {
    let _turn = topic(module_path!());
    let image = build_example("c-http", "slimctl-e2e/profile-exec:1");
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.json");
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let traced = ImageGuard("slimctl-e2e/profile-exec.slim:traced".into());
    let out = slimctl(&[
        "build",
        &image.0,
        "--tag",
        &traced.0,
        "--http-probe-cmd",
        "GET:/",
        "--exec",
        "ls -l /usr/local/bin",
        "--save-profile",
        profile.to_str().unwrap(),
        "--report",
        &path("traced.json"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let from = ImageGuard("slimctl-e2e/profile-exec.slim:from".into());
    let from_args = ["build", &image.0, "--tag", &from.0, "--from-profile", profile.to_str().unwrap()];
    let out = slimctl(&[&from_args[..], &["--report", &path("from.json")]].concat());
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    // What verify ran as exec probes, and how it judged them, in each build.
    let exec_checks = |name: &str| -> Vec<(String, String)> {
        let r: Value = serde_json::from_slice(&std::fs::read(dir.path().join(name)).unwrap()).unwrap();
        r["verify"]["rounds"][0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["what"].as_str().unwrap().starts_with("exec "))
            .map(|c| (c["what"].as_str().unwrap().to_owned(), c["verdict"].as_str().unwrap().to_owned()))
            .collect()
    };
    let traced_checks = exec_checks("traced.json");
    assert_eq!(traced_checks, [("exec /bin/sh -c 'ls -l /usr/local/bin'".to_owned(), "match".to_owned())]);
    assert_eq!(exec_checks("from.json"), traced_checks, "the replay runs the very command the trace ran");
}

const ECHO_APP: &str = r#"import http.server, json

class Echo(http.server.BaseHTTPRequestHandler):
    def answer(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer(200, {"ok": True})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        token = self.headers.get("X-Token")
        if not body or not token:
            self.answer(400, {"error": "a body and an X-Token header, please"})
        else:
            self.answer(200, {"got": body, "token": token})

http.server.HTTPServer(("", 8080), Echo).serve_forever()
"#;

/// A POST probe with a body and a header, saved in a profile, is replayed exactly: the
/// original answers the re-slim's verify as it answered the traced run (a probe that lost its
/// body would get a 400 from both images, and match).
#[test]
fn a_post_probe_keeps_its_body_and_headers_through_a_profile() {
    let _turn = topic(module_path!());
    let image = build_image(
        "slimctl-e2e/post-echo:1",
        &format!("FROM {BASE_IMAGE}\nCOPY app.py /app/app.py\nEXPOSE 8080\nCMD [\"python3\", \"/app/app.py\"]\n"),
        &[("app.py", ECHO_APP)],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    let post = r#"{"method": "POST", "path": "/items", "body": "{\"n\": 42}", "headers": {"X-Token": "t0k3n"}}"#;
    let traced = ImageGuard("slimctl-e2e/post-echo.slim:traced".into());
    let out = slimctl(&[
        "build",
        &image.0,
        "--tag",
        &traced.0,
        "--http-probe-cmd",
        post,
        "--save-profile",
        &path("p.json"),
        "--report",
        &path("traced.json"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let from = ImageGuard("slimctl-e2e/post-echo.slim:from".into());
    let out = slimctl(&[
        "build",
        &image.0,
        "--tag",
        &from.0,
        "--from-profile",
        &path("p.json"),
        "--report",
        &path("from.json"),
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let post_check = |name: &str| -> Value {
        let r: Value = serde_json::from_slice(&std::fs::read(dir.path().join(name)).unwrap()).unwrap();
        let checks = r["verify"]["rounds"][0]["checks"].as_array().unwrap().clone();
        checks.into_iter().find(|c| c["what"] == "POST /items :8080").unwrap_or_else(|| panic!("{r:#}"))
    };
    for name in ["traced.json", "from.json"] {
        let c = post_check(name);
        assert_eq!(c["verdict"], "match", "{name}: {c:#}");
        let original = c["original"].as_str().unwrap();
        assert!(original.starts_with("200 ") && original.contains("t0k3n") && original.contains("42"), "{name}: {c:#}");
    }
    let saved: Value = serde_json::from_slice(&std::fs::read(dir.path().join("p.json")).unwrap()).unwrap();
    let probe = &saved["http_probes"][0];
    assert_eq!(probe["body"], "{\"n\": 42}", "{saved:#}");
    assert_eq!(probe["headers"]["X-Token"], "t0k3n", "{saved:#}");
}
