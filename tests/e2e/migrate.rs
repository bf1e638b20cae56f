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

/// `--dockerfile`: the CI post-build step in one command. The example's own Dockerfile is built
/// in the engine, named after its directory, slimmed and verified; a step that fails is a clear
/// error with the builder's words, and leaves no container behind.
#[test]
fn a_dockerfile_is_built_then_slimmed_in_one_command() {
    let _turn = topic(module_path!());
    base_image();
    let fat = ImageGuard("python-http.fat:latest".into());
    let slim = ImageGuard("python-http.slim:latest".into());
    let dockerfile = repo_root().join("examples/python-http/Dockerfile");
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let out = slimctl(&["build", "--dockerfile", dockerfile.to_str().unwrap(), "--report", rep.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    assert!(text(&out.stderr).contains("Step 1/"), "the builder's steps are shown: {}", text(&out.stderr));
    let r: Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    assert_eq!(r["verify"]["ok"], true, "{:#}", r["verify"]);
    assert_eq!(inspect(&fat.0)["User"], "app", "the fat image is the Dockerfile's");
    assert_eq!(inspect(&slim.0)["Cmd"], serde_json::json!(["python3", "/app/app.py"]));
    let fat_bytes: u64 = docker(&["image", "inspect", "-f", "{{.Size}}", &fat.0]).trim().parse().unwrap();
    let slim_bytes: u64 = docker(&["image", "inspect", "-f", "{{.Size}}", &slim.0]).trim().parse().unwrap();
    assert!(slim_bytes * 3 < fat_bytes, "slimmed: {slim_bytes} of {fat_bytes}");

    // A failing step: exit 3, the step's own error, no intermediate container left.
    let ctx = tempfile::tempdir().unwrap();
    let df = ctx.path().join("Dockerfile");
    std::fs::write(&df, format!("FROM {}\nRUN echo about to fail && false\n", base_image())).unwrap();
    let out = slimctl(&["build", "--dockerfile", df.to_str().unwrap(), "--tag-fat", "slimctl-e2e/never-built:1"]);
    assert_error_mentions(&out, 3, &["building", "Dockerfile failed", "returned a non-zero code: 1"]);
    assert!(text(&out.stderr).contains("about to fail"), "the builder's last lines: {}", text(&out.stderr));
    // Other tests of this topic run containers meanwhile: the builder's are told by their command.
    let builders = docker(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"]);
    assert!(!builders.contains("about to fail"), "the builder's containers are removed: {builders}");
    let out = slimctl(&["build", "--dockerfile", "/nonexistent/Dockerfile"]);
    assert_clear_error(&out, 3, &["--dockerfile /nonexistent/Dockerfile", "cannot read it"]);
    let out = slimctl(&["build", "python-http.fat:latest", "--dockerfile", dockerfile.to_str().unwrap()]);
    assert_clear_error(&out, 2, &["--dockerfile builds the image to slim"]);
}

/// `--continue-after enter`: after the probes the app stays up, its address printed, and what
/// the user asks by hand is traced (a page no probe reaches keeps its file) until Enter. In a
/// script (no terminal) it is a usage error.
#[test]
fn continue_after_enter_traces_what_is_done_by_hand_until_enter() {
    let _turn = topic(module_path!());
    let app = "FROM slimctl-examples/debian-python:bookworm\n\
        RUN mkdir -p /srv/site/hidden && echo front > /srv/site/index.html && echo by-hand > /srv/site/hidden/page.txt\n\
        WORKDIR /srv/site\nEXPOSE 8000\nCMD [\"python3\", \"-m\", \"http.server\", \"8000\"]\n";
    let original = build_image("slimctl-e2e/by-hand:1", app, &[]);
    let slim = ImageGuard("slimctl-e2e/by-hand.slim:1".into());

    let out = slimctl(&["build", &original.0, "--continue-after", "enter"]);
    assert_clear_error(&out, 2, &["--continue-after enter", "not one"]);

    let dir = tempfile::tempdir().unwrap();
    let (session, done, rep) = ("slimctl-e2e-enter", dir.path().join("exit"), dir.path().join("report.json"));
    let line = format!(
        "TMPDIR={} {} --no-progress build {} --tag {} --no-http-probe-crawl --continue-after enter --report {}",
        dir.path().display(),
        slimctl_bin().display(),
        original.0,
        slim.0,
        rep.display()
    );
    terminal::start(session, &line, &done);
    let pane = terminal::wait_for(session, "then press Enter");
    let port: u16 = pane
        .lines()
        .find_map(|l| l.trim().strip_prefix("port 8000: 127.0.0.1:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("the app's address is printed:\n{pane}"));
    assert!(http_get(port, "/hidden/page.txt").contains("by-hand"));
    terminal::send(session, &["Enter"]);
    assert_eq!(terminal::exit_code(&done), "0", "{}", terminal::wait_for(session, ""));
    let r: Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    let reasons = r["kept"]["/srv/site/hidden/page.txt"]["reasons"].as_array().cloned().unwrap_or_default();
    assert!(reasons.iter().any(|x| x["kind"] == "traced"), "the page asked by hand is kept as traced: {reasons:?}");
    assert_eq!(r["verify"]["ok"], true, "{:#}", r["verify"]);
    let _ = run(Command::new("tmux").args(["kill-session", "-t", session]));
    assert_no_containers_of(&[&original.0, &slim.0]);
}

/// mint's probe policy flags: `--http-probe-ports` probes a port the image does not expose,
/// `--host-exec` runs a client on the host against the app (what it asks is kept, and verify
/// runs it again), `--http-probe-fail-on-status-4xx` turns a 404 into exit 6.
#[test]
fn probe_ports_host_commands_and_status_policy() {
    let _turn = topic(module_path!());
    let app = "FROM slimctl-examples/debian-python:bookworm\n\
        RUN mkdir -p /srv/site/deep && echo front > /srv/site/index.html && echo from-host > /srv/site/deep/by-host.txt\n\
        WORKDIR /srv/site\nCMD [\"python3\", \"-m\", \"http.server\", \"8000\"]\n";
    let original = build_image("slimctl-e2e/policy:1", app, &[]);
    let slim = ImageGuard("slimctl-e2e/policy.slim:1".into());
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let out = slimctl(&[
        "build",
        &original.0,
        "--tag",
        &slim.0,
        "--http-probe-ports",
        "8000",
        "--host-exec",
        "curl -fsS http://$SLIMCTL_HOST:$SLIMCTL_PORT_8000/deep/by-host.txt",
        "--http-probe-exit-on-failure",
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let r: Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    let http = r["trace"]["http"].as_array().unwrap();
    assert!(http.iter().any(|h| h["port"] == 8000 && h["status"] == 200), "port 8000 probed: {http:?}");
    let host = r["trace"]["exec"].as_array().unwrap().iter().find(|e| e["source"] == "host-exec").cloned();
    let host = host.unwrap_or_else(|| panic!("the host command ran: {:#}", r["trace"]["exec"]));
    assert_eq!(host["exit_code"], 0, "{host}");
    assert!(host["output"].as_str().unwrap().contains("from-host"), "{host}");
    let reasons = r["kept"]["/srv/site/deep/by-host.txt"]["reasons"].as_array().cloned().unwrap_or_default();
    assert!(reasons.iter().any(|x| x["kind"] == "traced"), "what the host command asked is kept: {reasons:?}");
    let checks = r["verify"]["rounds"][0]["checks"].as_array().unwrap();
    assert!(
        checks.iter().any(|c| c["what"].as_str().unwrap_or("").starts_with("host-exec") && c["verdict"] == "match"),
        "verify ran the host command against the slim image: {checks:?}"
    );
    assert_eq!(r["verify"]["ok"], true);

    let missing =
        ["build", &original.0, "--http-probe-ports", "8000", "--http-probe-cmd", "GET:/missing", "--no-verify"];
    let out = slimctl(&[&missing[..], &["--output", "docker-archive:/dev/null"]].concat());
    assert!(out.status.success(), "a 404 is an answer by default: {}", text(&out.stderr));
    let out =
        slimctl(&[&missing[..], &["--output", "docker-archive:/dev/null", "--http-probe-fail-on-status-4xx"]].concat());
    assert_error_mentions(&out, 6, &["GET /missing on port 8000 answered 404", "--http-fail-on"]);
    let out = slimctl(&[&missing[..], &["--output", "docker-archive:/dev/null", "--http-fail-on", "5xx"]].concat());
    assert!(out.status.success(), "a 404 is not a 5xx: {}", text(&out.stderr));
    let out = slimctl(&["build", &original.0, "--http-probe-exit-on-failure=false"]);
    assert_clear_error(&out, 2, &["--http-probe-exit-on-failure=false"]);
    assert_no_containers_of(&[&original.0, &slim.0]);
}

/// `--path-perms` (and its file) sets a path's mode and owner in the slim image and keeps it;
/// mint's `--preserve-path` keeps a path as the original has it; `--keep-perms` is the default;
/// `--include-zoneinfo`, `--include-cert-all` and `--include-workdir` keep their kind whole (a
/// `--no-trace` build keeps none of them otherwise).
#[test]
fn path_perms_set_mode_and_owner_and_preserve_path_keeps() {
    let _turn = topic(module_path!());
    let app = "FROM slimctl-examples/debian-python:bookworm\n\
        RUN mkdir -p /app /srv/w && echo 'echo hi' > /app/tool.sh && chmod 644 /app/tool.sh && echo keep > /app/notes.txt \
            && echo data > /srv/w/data.txt\n\
        WORKDIR /srv/w\nCMD [\"python3\", \"-c\", \"print('ok')\"]\n";
    let original = build_image("slimctl-e2e/perms:1", app, &[]);
    let slim = ImageGuard("slimctl-e2e/perms.slim:1".into());
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("perms.txt");
    std::fs::write(&list, "# mode and owner\n/app/notes.txt:600#1000#1000\n").unwrap();
    let out = slimctl(&[
        "build",
        &original.0,
        "--no-trace",
        "--tag",
        &slim.0,
        "--path-perms",
        "/app/tool.sh:4750#0#50",
        "--path-perms-file",
        list.to_str().unwrap(),
        "--preserve-path",
        "/etc/issue",
        "--keep-perms",
        "--include-zoneinfo",
        "--include-cert-all",
        "--include-workdir",
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let cid = docker(&["create", &slim.0]).trim().to_owned();
    let _c = ContainerGuard(cid.clone());
    let listing = |path: &str| {
        let out =
            run(Command::new("sh").arg("-c").arg(format!("docker cp {cid}:{path} - | tar -tvf - --numeric-owner")));
        assert!(out.status.success(), "docker cp {path}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    assert!(listing("/app/tool.sh").starts_with("-rwsr-x--- 0/50 "), "{}", listing("/app/tool.sh"));
    assert!(listing("/app/notes.txt").starts_with("-rw------- 1000/1000 "), "{}", listing("/app/notes.txt"));
    assert!(listing("/etc/issue").contains("issue"), "--preserve-path keeps it");
    // Kept by kind: the zone database, the CA certificates, the working directory.
    assert!(listing("/usr/share/zoneinfo/Europe/Paris").contains("Paris"));
    assert!(listing("/etc/ssl/certs").lines().count() > 100, "{}", listing("/etc/ssl/certs"));
    assert!(listing("/srv/w/data.txt").contains("data.txt"));
    let out = slimctl(&["build", &original.0, "--no-trace", "--path-perms", "app:755"]);
    assert_clear_error(&out, 2, &["--path-perms app:755", "absolute"]);
    let out = slimctl(&["build", &original.0, "--no-trace", "--keep-perms=false"]);
    assert_clear_error(&out, 2, &["--keep-perms=false"]);
}
