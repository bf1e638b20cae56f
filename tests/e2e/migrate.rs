//! Coming from SlimToolkit or mint: the slim image's config changed by flags, things kept and
//! dropped by kind, and a mint-style command line that builds unchanged.

use e2e::*;
use serde_json::Value;
use std::process::Command;

/// A web app with docs beside it, exposing a port it never opens.
const APP: &str = "FROM slimctl-examples/debian-python:bookworm\n\
RUN mkdir -p /usr/share/app-docs && echo doc > /usr/share/app-docs/README.md && echo guide > /usr/share/app-docs/guide.txt\n\
EXPOSE 8000 9000\nCMD [\"python3\", \"-m\", \"http.server\", \"8000\"]\n";

fn inspect(image: &str) -> Value {
    let v: Value = serde_json::from_str(&docker(&["image", "inspect", image])).unwrap();
    v[0]["Config"].clone()
}

/// `ls`-like listing of a directory in the slim image (which has no shell), through its python.
fn listing(image: &str, dir: &str) -> String {
    let script = format!("import os; print(sorted(os.listdir({dir:?})))");
    text(&run(Command::new("docker").args(["run", "--rm", "--entrypoint", "python3", image, "-c", &script])).stdout)
}

/// `PROGRAM --version` in the slim image: whether it runs.
fn runs(image: &str, program: &str) -> bool {
    run(Command::new("docker").args(["run", "--rm", "--entrypoint", program, image, "--version"])).status.success()
}

#[test]
fn config_edits_show_in_the_image_and_kinds_are_kept_and_dropped() {
    let _turn = topic(module_path!());
    let original = build_image("slimctl-e2e/migrate:1", APP, &[]);
    let slim = ImageGuard("slimctl-e2e/migrate.slim:1".into());
    assert!(!runs(&original.0, "curl"), "the base has no curl: tar stands for a tool the app never runs");
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let out = slimctl(&[
        "build",
        &original.0,
        "--tag",
        &slim.0,
        "--set-cmd",
        "python3 -m http.server 8000 --bind 0.0.0.0",
        "--set-env",
        "MODE=prod",
        "--unset-expose",
        "9000",
        "--set-label",
        "team=web",
        "--include-program",
        "tar",
        "--include",
        "/usr/share/app-docs",
        "--exclude-glob",
        "/usr/share/**/*.md",
        "--exclude-glob",
        "/nothing/**",
        "--report",
        rep.to_str().unwrap(),
    ]);
    // Verify ran with the new config (the slim image's own) and the original as traced.
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    assert!(text(&out.stdout).contains("behaves like the original"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("warning: --exclude-glob /nothing/** matches no path"), "{}", text(&out.stderr));
    let cfg = inspect(&slim.0);
    assert!(cfg["Env"].as_array().unwrap().iter().any(|e| e == "MODE=prod"), "{cfg}");
    let ports: Vec<&String> = cfg["ExposedPorts"].as_object().unwrap().keys().collect();
    assert_eq!(ports, ["8000/tcp"], "{cfg}");
    assert_eq!(cfg["Cmd"][5], "0.0.0.0", "{cfg}");
    assert_eq!(cfg["Labels"]["team"], "web");
    assert_eq!(cfg["Labels"]["io.slimctl.original.id"], image_id(&original.0).as_str());
    // The original is untouched.
    assert!(inspect(&original.0)["Labels"].is_null() || inspect(&original.0)["Labels"]["team"].is_null());

    // tar, never run by the app, runs with its libraries; the glob dropped the docs' .md only.
    assert!(runs(&slim.0, "tar"), "tar --version in the slim image");
    assert_eq!(listing(&slim.0, "/usr/share/app-docs").trim(), "['guide.txt']");
    let report: Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    assert_eq!(report["excluded"]["/usr/share/app-docs/README.md"], "--exclude-glob /usr/share/**/*.md");
    assert!(slimctl_containers(&original.0).is_empty());
}

/// A command line written for mint runs unchanged, and each of its flags has its effect.
#[test]
fn a_mint_command_line_builds_unchanged() {
    let _turn = topic(module_path!());
    let original = build_image("slimctl-e2e/migrate-mint:1", APP, &[]);
    let slim = ImageGuard("slimctl-e2e/migrate-mint.slim:1".into());
    let out = slimctl(&[
        "build",
        "--target",
        &original.0,
        "--tag",
        &slim.0,
        "--http-probe-cmd",
        "crawl:http:GET:/",
        "--include-path",
        "/usr/share/app-docs/guide.txt",
        "--include-exe",
        "tar",
        "--new-env",
        "MODE=prod",
        "--remove-expose",
        "9000",
        "--exclude-pattern",
        "/usr/share/**/*.md",
        "--continue-after",
        "probe",
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let cfg = inspect(&slim.0);
    assert!(cfg["Env"].as_array().unwrap().iter().any(|e| e == "MODE=prod"), "{cfg}");
    assert!(cfg["ExposedPorts"].get("9000/tcp").is_none(), "{cfg}");
    assert!(runs(&slim.0, "tar"));
    assert_eq!(listing(&slim.0, "/usr/share/app-docs").trim(), "['guide.txt']");
    // mint's value grammars: an https probe is refused with a reason, a bare number is seconds.
    let out = slimctl(&["build", "--target", &original.0, "--http-probe-cmd", "https:GET:/"]);
    assert_clear_error(&out, 2, &["https:"]);
    let out = slimctl(&["build", "--target", &original.0, "--new-label", "io.slimctl.original.id=x"]);
    assert_clear_error(&out, 2, &["io.slimctl"]);
}

/// The run settings an image needs reach the traced container (seen while it runs), and the
/// host port the user publishes is the traced run's alone (verify's two containers would clash).
#[test]
fn run_settings_reach_the_traced_container() {
    let _turn = topic(module_path!());
    let original = build_image("slimctl-e2e/migrate-run:1", APP, &[]);
    let slim = ImageGuard("slimctl-e2e/migrate-run.slim:1".into());
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("app.env");
    std::fs::write(&env_file, "# settings\nFROM_FILE=yes\n").unwrap();
    let check = "test \"$FROM_FILE\" = yes && test \"$(cat /etc/hostname)\" = app-host && grep -q db.internal /etc/hosts && sleep 4";
    let child = Command::new(slimctl_bin())
        .args(["--no-progress", "build", &original.0, "--tag", &slim.0, "--probe-timeout", "20"])
        .args(["--env-file", env_file.to_str().unwrap(), "--label", "team=qa", "--hostname", "app-host"])
        .args(["--etc-hosts-map", "db.internal:10.1.2.3", "--container-dns", "10.1.2.53", "--cap-add", "SYS_NICE"])
        .args(["--shm-size", "128MB", "--publish-port", "127.0.0.1:18765:8000", "--exec", check])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The traced container, while the exec probe sleeps.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let id = loop {
        let found = docker(&["ps", "-q", "--filter", "label=team=qa", "--filter", "label=slimctl"]);
        if let Some(id) = found.split_whitespace().next() {
            break id.to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "no container labelled team=qa appeared");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let info: Value = serde_json::from_str(&docker(&["inspect", &id])).unwrap();
    let host = &info[0]["HostConfig"];
    assert_eq!(info[0]["Config"]["Hostname"], "app-host");
    assert!(host["ExtraHosts"].as_array().unwrap().iter().any(|h| h == "db.internal:10.1.2.3"), "{host}");
    assert!(host["Dns"].as_array().unwrap().iter().any(|h| h == "10.1.2.53"), "{host}");
    assert!(host["CapAdd"].as_array().unwrap().iter().any(|c| c.as_str().unwrap().contains("SYS_NICE")), "{host}");
    assert_eq!(host["ShmSize"], 128_000_000, "{host}");
    assert_eq!(host["Privileged"], false);
    let bindings = host["PortBindings"]["8000/tcp"].as_array().unwrap();
    assert!(bindings.iter().any(|b| b["HostPort"] == "18765" && b["HostIp"] == "127.0.0.1"), "{bindings:?}");
    let out = child.wait_with_output().unwrap();
    // The exec probe passed (env-file, hostname, hosts), and verify ran without the fixed port.
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    assert!(text(&out.stdout).contains("behaves like the original"), "{}", text(&out.stdout));
    assert_clear_error(&slimctl(&["build", &original.0, "--label", "slimctl=mine"]), 2, &["slimctl"]);
    assert!(slimctl_containers(&original.0).is_empty());
}
