//! Apps that need their neighbours: the notes example (a Python web app that exits at start
//! without its PostgreSQL database) slimmed from its Compose file, with its own integration
//! tests as the probe. The slim app must pass the test container exactly like the original
//! (checked again by hand with the docker CLI), a file the tests need missing must fail verify
//! by name, profiles must replay the stack, and nothing of the stack may be left behind after
//! success, failure and SIGINT.
use e2e::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The stack tests share the images and check the engine for leftovers by label: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const DB: &str = "slimctl-e2e/notes-db:1";
const WEB: &str = "slimctl-e2e/notes-web:1";
const TESTS: &str = "slimctl-e2e/notes-tests:1";

struct Images(#[allow(dead_code)] Vec<ImageGuard>);

/// The three images of the example, under test tags.
fn images() -> Images {
    Images(vec![
        build_example("postgres", DB),
        build_example("notes-stack/web", WEB),
        build_example("notes-stack/tests", TESTS),
    ])
}

fn compose_file() -> PathBuf {
    repo_root().join("examples/notes-stack/compose.yaml")
}

/// slimctl with the test tags in the environment the Compose file interpolates.
fn slimctl_stack(args: &[&str]) -> std::process::Output {
    run(Command::new(slimctl_bin()).args(args).env("DB_IMAGE", DB).env("WEB_IMAGE", WEB).env("TESTS_IMAGE", TESTS))
}

fn report(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Containers, networks and volumes slimctl labelled that still exist.
fn leftovers() -> Vec<String> {
    let mut left = Vec::new();
    for what in [&["ps", "-aq"][..], &["network", "ls", "-q"], &["volume", "ls", "-q"]] {
        let mut args = what.to_vec();
        args.extend(["--filter", "label=slimctl"]);
        left.extend(docker(&args).split_whitespace().map(|s| format!("{} {s}", what[0])));
    }
    left
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The example's tests against `web_image`, run by hand with the docker CLI: a network, the
/// database (waited for with pg_isready), the app, then the test container. Its exit code and
/// output.
fn tests_by_hand(web_image: &str) -> (i32, String) {
    let net = format!("e2e-notes-{}", std::process::id());
    docker(&["network", "create", &net]);
    struct Net(String);
    impl Drop for Net {
        fn drop(&mut self) {
            let _ = Command::new("docker").args(["network", "rm", &self.0]).output();
        }
    }
    let _net = Net(net.clone());
    let pw = "POSTGRES_PASSWORD=by-hand";
    let db =
        ContainerGuard(docker(&["run", "-d", "--network", &net, "--network-alias", "db", "-e", pw, DB]).trim().into());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !run(Command::new("docker").args(["exec", &db.0, "pg_isready", "--host=127.0.0.1"])).status.success() {
        assert!(Instant::now() < deadline, "the database never became ready");
        std::thread::sleep(Duration::from_millis(300));
    }
    let web = ContainerGuard(
        docker(&[
            "run",
            "-d",
            "--network",
            &net,
            "--network-alias",
            "web",
            "-e",
            "DATABASE_HOST=db",
            "-e",
            "DATABASE_PASSWORD=by-hand",
            web_image,
        ])
        .trim()
        .into(),
    );
    // The tests expect a listening app: wait for the port from inside the network.
    let probe = "import socket,time\nfor _ in range(100):\n  try:\n    socket.create_connection(('web',8000),1); break\n  except OSError: time.sleep(0.2)";
    run(Command::new("docker").args(["run", "--rm", "--network", &net, TESTS, "python3", "-c", probe]));
    let out = run(Command::new("docker").args(["run", "--rm", "--network", &net, TESTS]));
    drop(web);
    (out.status.code().unwrap_or(-1), format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

#[test]
fn a_web_app_that_needs_postgres_slims_and_passes_its_own_tests_like_the_original() {
    let _turn = topic(module_path!());
    let _serial = lock();
    let _images = images();
    let slim = ImageGuard("slimctl-e2e/notes-web.slim:1".into());
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    let f = compose_file();
    let out = slimctl_stack(&[
        "build",
        "-f",
        f.to_str().unwrap(),
        "--probe-service",
        "tests",
        "--tag",
        &slim.0,
        "--report",
        rep.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(stdout.contains("behaves like the original"), "{stdout}");
    assert!(stderr.contains("stack notes: target web; started first: db"), "{stderr}");
    let r = report(&rep);
    // The traced run: the database came first, the tests passed against the original.
    assert_eq!(r["trace"]["stack"]["services"][0]["name"], "db", "{}", r["trace"]["stack"]);
    let t = &r["trace"]["tests"][0];
    assert_eq!((t["name"].as_str(), t["exit_code"].as_i64()), (Some("tests"), Some(0)), "{t}");
    assert!(t["output"].as_str().unwrap().contains("Ran 5 tests"), "{t}");
    // Verify ran the same tests against the slim image, in a fresh stack, and they matched.
    let checks = r["verify"]["rounds"].as_array().unwrap().last().unwrap()["checks"].as_array().unwrap().clone();
    let test_check = checks.iter().find(|c| c["what"] == "probe container tests").expect("a check of the tests");
    assert!(test_check["verdict"].as_str().unwrap().starts_with("match"), "{test_check}");
    assert!(r["ratio"].as_f64().unwrap() > 2.0, "{}", r["ratio"]);
    assert!(leftovers().is_empty(), "left behind: {:?}", leftovers());

    // By hand, with the docker CLI: the same tests, the same result, against either image.
    let (code, output) = tests_by_hand(WEB);
    assert_eq!(code, 0, "the original fails its own tests by hand:\n{output}");
    let (slim_code, slim_output) = tests_by_hand(&slim.0);
    assert_eq!(slim_code, 0, "the slim image fails the tests by hand:\n{slim_output}");
    let oks = |s: &str| s.lines().filter(|l| l.ends_with("... ok")).count();
    assert_eq!((oks(&output), oks(&slim_output)), (5, 5), "{slim_output}");
}

#[test]
fn a_file_only_the_tests_need_missing_fails_verify_by_name() {
    let _turn = topic(module_path!());
    let _serial = lock();
    let _images = images();
    let slim = ImageGuard("slimctl-e2e/notes-web.broken:1".into());
    let f = compose_file();
    // stats.py is imported only when GET /stats is asked: the tests ask it, nothing else does.
    let out = slimctl_stack(&[
        "build",
        "-f",
        f.to_str().unwrap(),
        "--probe-service",
        "tests",
        "--tag",
        &slim.0,
        "--exclude",
        "/app/stats.py",
        "--no-fix",
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(7), "verify must fail:\n{stderr}\n{stdout}");
    assert!(stdout.contains("probe container tests") && stdout.contains("MISMATCH"), "{stdout}");
    assert!(stdout.contains("slim image missed /app/stats.py"), "the missing file is named:\n{stdout}");
    assert!(stdout.contains("test_5_stats_count_the_words") || stdout.contains("FAILED"), "{stdout}");
    assert!(leftovers().is_empty(), "left behind after a failed verify: {:?}", leftovers());
}

#[test]
fn a_profile_records_the_stack_and_the_tests_and_a_re_slim_replays_them() {
    let _turn = topic(module_path!());
    let _serial = lock();
    let _images = images();
    let dir = tempfile::tempdir().unwrap();
    let prof = dir.path().join("notes.json");
    let f = compose_file();
    let out = slimctl_stack(&[
        "profile",
        "-f",
        f.to_str().unwrap(),
        "--probe-service",
        "tests",
        "-o",
        prof.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let p = report(&prof);
    assert_eq!(p["stack"]["services"][0]["name"], "db");
    assert_eq!(p["stack"]["services"][0]["run"]["image_id"], image_id(DB), "the dependency by image id");
    assert_eq!(p["probe_container"]["run"]["image_id"], image_id(TESTS), "the tests by image id");
    // Only the target was traced: nothing of the tests' or the database's files.
    let touched: Vec<&str> = p["touched"].as_array().unwrap().iter().map(|a| a["path"].as_str().unwrap()).collect();
    assert!(touched.contains(&"/app/app.py") && touched.contains(&"/app/stats.py"), "{touched:?}");
    let foreign = touched.iter().find(|t| t.starts_with("/tests") || t.contains("postgresql/15/bin"));
    assert!(foreign.is_none(), "a neighbour's file in the target's trace: {foreign:?}");

    // No Compose file now: the profile brings the stack and the tests, and verify replays them.
    let slim = ImageGuard("slimctl-e2e/notes-web.from-profile:1".into());
    let rep = dir.path().join("r.json");
    let out = slimctl(&[
        "build",
        WEB,
        "--from-profile",
        prof.to_str().unwrap(),
        "--tag",
        &slim.0,
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let r = report(&rep);
    let checks = r["verify"]["rounds"].as_array().unwrap().last().unwrap()["checks"].as_array().unwrap().clone();
    let t = checks.iter().find(|c| c["what"] == "probe container tests").expect("the tests ran in verify");
    assert!(t["verdict"].as_str().unwrap().starts_with("match"), "{t}");
    assert!(leftovers().is_empty(), "left behind: {:?}", leftovers());
}

#[test]
fn sigint_while_the_stack_runs_removes_all_of_it() {
    let _turn = topic(module_path!());
    let _serial = lock();
    let _images = images();
    let f = compose_file();
    let child = Command::new(slimctl_bin())
        .args([
            "build",
            "-f",
            f.to_str().unwrap(),
            "--probe-service",
            "tests",
            "--tag",
            "slimctl-e2e/notes-web.sigint:1",
        ])
        .env("DB_IMAGE", DB)
        .env("WEB_IMAGE", WEB)
        .env("TESTS_IMAGE", TESTS)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted once the target runs beside its database: the stack is complete.
    let deadline = Instant::now() + Duration::from_secs(90);
    let web_running = || {
        !docker(&["ps", "-q", "--filter", "label=slimctl", "--filter", &format!("ancestor={WEB}")]).trim().is_empty()
    };
    while !web_running() {
        assert!(Instant::now() < deadline, "the target never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !docker(&["network", "ls", "-q", "--filter", "label=slimctl"]).trim().is_empty(),
        "the stack has its network"
    );
    assert!(!docker(&["volume", "ls", "-q", "--filter", "label=slimctl"]).trim().is_empty(), "and its volume");
    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    assert!(leftovers().is_empty(), "left behind after SIGINT: {:?}", leftovers());
    let _ = Command::new("docker").args(["rmi", "slimctl-e2e/notes-web.sigint:1"]).output();
}

#[test]
fn what_a_build_killed_outright_left_is_removed_by_the_next_run() {
    let _turn = topic(module_path!());
    let _serial = lock();
    let _images = images();
    let f = compose_file();
    // Its own TMPDIR: the work dir the kill leaves is this test's to see removed, not another's.
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(slimctl_bin())
        .args(["build", "-f", f.to_str().unwrap(), "--probe-service", "tests", "--tag", "slimctl-e2e/notes-web.kill:1"])
        .env("TMPDIR", tmp.path())
        .env("DB_IMAGE", DB)
        .env("WEB_IMAGE", WEB)
        .env("TESTS_IMAGE", TESTS)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the target runs beside its database: nothing of slimctl's runs to clean up.
    let deadline = Instant::now() + Duration::from_secs(90);
    let web_running = || {
        !docker(&["ps", "-q", "--filter", "label=slimctl", "--filter", &format!("ancestor={WEB}")]).trim().is_empty()
    };
    while !web_running() {
        assert!(Instant::now() < deadline, "the target never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left = leftovers();
    for kind in ["ps", "network", "volume"] {
        assert!(left.iter().any(|l| l.starts_with(kind)), "SIGKILL leaves its {kind} behind: {left:?}");
    }
    // The next run, whatever it does with the engine, removes them and its work dir, and says so.
    let out = run(Command::new(slimctl_bin()).args(["xray", WEB]).env("TMPDIR", tmp.path()));
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("that killed runs left in the engine"), "{err}");
    assert!(err.contains("network(s)") && err.contains("volume(s)"), "{err}");
    assert!(err.contains("removed 1 work dir(s) that killed runs left"), "{err}");
    assert!(leftovers().is_empty(), "left behind after the next run: {:?}", leftovers());
    assert_tmp_empty(tmp.path(), &["xray after a killed stack build"]);
}

/// A small stack of the base image alone: `web` serves HTTP with python's http.server, `db`
/// is whatever the test needs.
fn small_stack(dir: &std::path::Path, db: &str) -> PathBuf {
    let base = base_image();
    let f = dir.join("compose.yaml");
    let text = format!(
        "services:\n  db:\n    image: {base}\n{db}\n  web:\n    image: {base}\n    command: [python3, -m, http.server, \"8000\"]\n    ports: [\"8000\"]\n    depends_on:\n      db: {{condition: service_healthy}}\n"
    );
    std::fs::write(&f, text).unwrap();
    f
}

#[test]
fn bad_compose_input_gets_clear_errors() {
    let _turn = topic(module_path!());
    let _serial = lock();
    let base = base_image();
    let dir = tempfile::tempdir().unwrap();

    // Does not parse: exit 3 with file, line and column.
    let f = dir.path().join("broken.yaml");
    std::fs::write(&f, "services:\n  web:\n    image: [unclosed\n").unwrap();
    let out = slimctl(&["build", "-f", f.to_str().unwrap()]);
    assert_clear_error(&out, 3, &["broken.yaml:4:"]);

    // A target service the file does not have: exit 3, listing the services.
    let healthy = "    command: [sleep, \"600\"]\n    healthcheck: {test: [CMD, \"true\"], interval: 200ms}";
    let f = small_stack(dir.path(), healthy);
    let out = slimctl(&["build", "-f", f.to_str().unwrap(), "--target-service", "api"]);
    assert_clear_error(&out, 3, &["target service \"api\"", "services: db, web"]);

    // An image the engine does not have: exit 3, naming it; nothing is pulled.
    let missing = dir.path().join("missing.yaml");
    let yaml = std::fs::read_to_string(&f).unwrap().replacen(
        &format!("image: {base}"),
        "image: slimctl-e2e/no-such-db:404",
        1,
    );
    std::fs::write(&missing, yaml).unwrap();
    let out = slimctl(&["build", "-f", missing.to_str().unwrap()]);
    assert_clear_error(&out, 3, &["service db", "slimctl-e2e/no-such-db:404", "never pulls"]);

    // A dependency that never becomes healthy: exit 6, naming it with its last lines of output.
    let sick = dir.path().join("sick");
    std::fs::create_dir(&sick).unwrap();
    let unhealthy = "    command: [sh, -c, \"echo db-starting; echo disk-is-broken >&2; sleep 600\"]\n    healthcheck: {test: [CMD, \"false\"], interval: 200ms, retries: 2}";
    let f = small_stack(&sick, unhealthy);
    let out = slimctl(&["build", "-f", f.to_str().unwrap(), "--tag", "slimctl-e2e/never-built:1"]);
    assert_error_mentions(&out, 6, &["db is unhealthy", "disk-is-broken"]);
    assert!(leftovers().is_empty(), "left behind after a failed stack: {:?}", leftovers());

    // A probe container the engine does not have.
    let out = slimctl(&["build", base, "--no-trace", "--probe-container", "slimctl-e2e/no-such-tests:1"]);
    assert_clear_error(&out, 3, &["probe container", "no-such-tests"]);
    let out = slimctl(&["build", base, "--probe-cmd", "true"]);
    assert_eq!(out.status.code(), Some(2), "--probe-cmd alone is a usage error: {}", text(&out.stderr));
}

#[test]
fn a_probe_container_without_compose_runs_in_the_target_s_network_namespace() {
    let _turn = topic(module_path!());
    let _serial = lock();
    let image = build_example("python-http", "slimctl-e2e/python-http-probe:1");
    let slim = ImageGuard("slimctl-e2e/python-http-probe.slim:1".into());
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    // The app answers on localhost:8080 from inside its namespace, where the tests run.
    let check = "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8080/').status)\"";
    let cmd = format!("[\"sh\", \"-c\", {}]", serde_json::to_string(check).unwrap());
    let out = slimctl(&[
        "build",
        &image.0,
        "--probe-container",
        base_image(),
        "--probe-cmd",
        &cmd,
        "--tag",
        &slim.0,
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let r = report(&rep);
    let t = &r["trace"]["tests"][0];
    assert_eq!(t["exit_code"], 0, "{t}");
    assert_eq!(t["output"].as_str().unwrap().trim(), "200", "{t}");
    assert!(leftovers().is_empty(), "left behind: {:?}", leftovers());
}

#[test]
fn a_dependency_that_must_complete_runs_to_its_end_first_and_its_failure_is_named() {
    let _turn = topic(module_path!());
    let _serial = lock();
    let base = base_image();
    let dir = tempfile::tempdir().unwrap();
    // An override file adds the migration's outcome; the web app starts only after it.
    let compose = dir.path().join("compose.yaml");
    let yaml = format!(
        "services:\n  migrate:\n    image: {base}\n    command: [sh, -c, \"sleep 1; echo migrated\"]\n  web:\n    image: {base}\n    command: [python3, -m, http.server, \"8000\"]\n    ports: [\"8000\"]\n    depends_on:\n      migrate: {{condition: service_completed_successfully}}\n"
    );
    std::fs::write(&compose, yaml).unwrap();
    let failing = dir.path().join("failing.yaml");
    std::fs::write(&failing, "services:\n  migrate:\n    command: [sh, -c, \"echo no such table >&2; exit 3\"]\n")
        .unwrap();
    let rep = dir.path().join("r.json");
    let slim = ImageGuard("slimctl-e2e/migrated-web.slim:1".into());
    let out = slimctl(&[
        "build",
        "-f",
        compose.to_str().unwrap(),
        "--tag",
        &slim.0,
        "--no-http-probe-crawl",
        "--no-verify",
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r = report(&rep);
    assert!(
        r["trace"]["stack"]["up_seconds"].as_f64().unwrap() >= 1.0,
        "the app waited for the migration: {}",
        r["trace"]["stack"]
    );
    let out = slimctl(&["build", "-f", compose.to_str().unwrap(), "-f", failing.to_str().unwrap(), "--no-verify"]);
    assert_error_mentions(
        &out,
        6,
        &["migrate ended with exit 3", "web needs it to complete successfully", "no such table"],
    );
    assert!(leftovers().is_empty(), "left behind: {:?}", leftovers());
}
