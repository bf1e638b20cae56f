//! Services that do not speak HTTP: a cache and a database from Debian's packages, slimmed with
//! no probe flags at all (readiness, then their own protocol), checked with real clients run
//! from the original image inside the slim container's network namespace.
use e2e::*;
use serde_json::Value;
use std::process::Command;

fn report(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `client ARGS` run from `image` (whose entrypoint is replaced by `entrypoint`) in the network
/// namespace of container `target`: what a neighbour container would see.
fn client(image: &str, target: &str, entrypoint: &str, env: &[&str], args: &[&str]) -> String {
    let net = format!("container:{target}");
    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "--network", &net, "--entrypoint", entrypoint]);
    for e in env {
        cmd.args(["-e", e]);
    }
    let out = run(cmd.arg(image).args(args));
    format!("{}{}", text(&out.stdout), text(&out.stderr)).trim().to_owned()
}

/// Retries `f` until it gives `want` (the server may still be starting), at most 30 s.
fn eventually(want: &str, f: impl Fn() -> String) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got = f();
        if got == want || std::time::Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

fn start(image: &str) -> ContainerGuard {
    ContainerGuard(docker(&["run", "-d", image]).trim().to_owned())
}

#[test]
fn redis_slims_with_no_probe_flags_and_answers_a_real_client() {
    let _turn = topic(module_path!());
    let image = build_example("redis", "slimctl-e2e/redis:1");
    let slim = ImageGuard("slimctl-e2e/redis.slim:1".into());
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    let out = slimctl(&["build", &image.0, "--tag", &slim.0, "--report", rep.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    assert!(text(&out.stdout).contains("behaves like the original"), "{}", text(&out.stdout));
    let r = report(&rep);
    assert_eq!(r["trace"]["ready"][0]["port"], 6379, "{}", r["trace"]["ready"]);
    assert_eq!(r["trace"]["ready"][0]["kind"], "redis");
    assert_eq!(r["trace"]["http"].as_array().unwrap().len(), 0, "no GET / on a port that does not speak HTTP");
    let steps = r["trace"]["proto"][0]["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["ok"] == true) && steps.len() >= 5, "{steps:?}");
    assert!(r["ratio"].as_f64().unwrap() > 5.0, "{}", r["ratio"]);

    // A real client, from the original image, against each: same answers.
    let answers = |target: &str| {
        let cli = |args: &[&str]| client(&image.0, target, "redis-cli", &[], &[&["-h", "127.0.0.1"], args].concat());
        let pong = eventually("PONG", || cli(&["PING"]));
        vec![pong, cli(&["SET", "greeting", "hello"]), cli(&["GET", "greeting"]), cli(&["INCRBY", "n", "41"])]
    };
    let original = start(&image.0);
    let slim_c = start(&slim.0);
    let want = answers(&original.0);
    assert_eq!(want, ["PONG", "OK", "hello", "41"]);
    assert_eq!(answers(&slim_c.0), want);
    assert!(slimctl_containers(&image.0).is_empty() && slimctl_containers(&slim.0).is_empty());
}

#[test]
fn postgres_slims_with_no_probe_flags_and_the_slim_image_initializes_and_answers() {
    let _turn = topic(module_path!());
    let image = build_example("postgres", "slimctl-e2e/postgres:1");
    let slim = ImageGuard("slimctl-e2e/postgres.slim:1".into());
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    let out = slimctl(&["build", &image.0, "--tag", &slim.0, "--report", rep.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let r = report(&rep);
    assert_eq!(r["verify"]["outcome"], "behaves", "{}", r["verify"]);
    assert_eq!(r["trace"]["ready"][0]["kind"], "postgres");
    // The socket directory the server locks at start stays, with its owner and mode.
    let kept = cid_listing(&slim.0);
    assert!(
        kept.iter().any(|l| l.starts_with("drwxrwsr-x postgres/postgres") && l.ends_with(" run/postgresql/")),
        "{kept:?}"
    );

    // A fresh container of each runs initdb on its empty data dir, then answers psql.
    let sql = |target: &str, q: &str| {
        let env = ["PGPASSWORD=example-only-password"];
        client(&image.0, target, "psql", &env, &["-h", "127.0.0.1", "-U", "postgres", "-tA", "-c", q])
    };
    let answers = |target: &str| {
        let first = eventually("42", || sql(target, "select 40+2"));
        let ddl = sql(target, "create table t (id int primary key, name text); insert into t values (1, 'slim')");
        vec![first, ddl, sql(target, "select name from t where id = 1"), sql(target, "select count(*) from pg_class")]
    };
    let original = start(&image.0);
    let slim_c = start(&slim.0);
    let want = answers(&original.0);
    assert_eq!(want[0], "42");
    assert_eq!(want[2], "slim");
    assert_eq!(answers(&slim_c.0), want);
}

/// A database whose login only its own entrypoint knows (nothing in the image's environment):
/// slimctl guesses the server's default login, the server refuses it, and the build goes on with
/// a warning, readiness and the handshake as its probe. The slim image then initializes and
/// takes the right login.
#[test]
fn a_guessed_login_the_server_refuses_builds_with_a_warning_and_the_slim_image_takes_the_right_one() {
    let _turn = topic(module_path!());
    let base = build_example("postgres", "slimctl-e2e/postgres:5");
    let wrapper = "#!/bin/sh\nexport POSTGRES_USER=owner POSTGRES_PASSWORD=only-the-entrypoint-knows\nexec pg-entrypoint \"$@\"\n";
    let image = build_image(
        "slimctl-e2e/postgres-own-login:1",
        &format!(
            "FROM {}\nUSER root\nCOPY own-login /usr/local/bin/own-login\nRUN chmod 755 /usr/local/bin/own-login\n\
             USER postgres\nENV POSTGRES_USER= POSTGRES_PASSWORD=\nENTRYPOINT [\"own-login\"]\n",
            base.0
        ),
        &[("own-login", wrapper)],
    );
    let slim = ImageGuard("slimctl-e2e/postgres-own-login.slim:1".into());
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    let out = slimctl(&["build", &image.0, "--tag", &slim.0, "--report", rep.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{}", text(&out.stdout));
    assert_eq!(stderr.matches("the login slimctl guessed").count(), 1, "one warning: {stderr}");
    assert!(stderr.contains("--probe-user"), "{stderr}");
    let r = report(&rep);
    let probe = &r["trace"]["proto"][0];
    assert_eq!(probe["guessed_login_refused"], true, "{probe}");
    assert!(probe["steps"][0]["answer"].as_str().unwrap().contains("refused"), "{probe}");
    assert_eq!(r["verify"]["outcome"], "behaves", "{}", r["verify"]);

    let sql = |target: &str, q: &str| {
        let env = ["PGPASSWORD=only-the-entrypoint-knows"];
        client(&base.0, target, "psql", &env, &["-h", "127.0.0.1", "-U", "owner", "-d", "postgres", "-tA", "-c", q])
    };
    let slim_c = start(&slim.0);
    assert_eq!(eventually("42", || sql(&slim_c.0, "select 40+2")), "42");
    assert_eq!(sql(&slim_c.0, "select current_user"), "owner");
    assert!(slimctl_containers(&image.0).is_empty());
}

/// `tar -tv` of an image's filesystem.
fn cid_listing(image: &str) -> Vec<String> {
    let cid = docker(&["create", image]).trim().to_owned();
    let _guard = ContainerGuard(cid.clone());
    let out = run(Command::new("sh").arg("-c").arg(format!("docker export {cid} | tar -tvf -")));
    text(&out.stdout).lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
}

#[test]
fn verify_fails_loudly_when_a_directory_the_server_needs_is_gone() {
    let _turn = topic(module_path!());
    let image = build_example("postgres", "slimctl-e2e/postgres:2");
    let slim = ImageGuard("slimctl-e2e/postgres.slim:2".into());
    // Healing would keep what verify proved needed, excludes or not: --no-fix keeps the exclude.
    let out = slimctl(&[
        "build",
        &image.0,
        "--tag",
        &slim.0,
        "--exclude",
        "/run/postgresql",
        "--no-fix",
        "--probe-timeout",
        "30",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{}\n{stdout}", text(&out.stderr));
    assert!(stdout.contains("could not create lock file"), "the server's own words: {stdout}");
    assert!(stdout.contains("missed /var/run/postgresql"), "the directory, named: {stdout}");
    assert!(stdout.contains("verify: MISMATCH") && !stdout.contains("behaves like"), "{stdout}");
}

#[test]
fn a_probe_that_fails_on_the_original_is_a_probe_error_not_a_match() {
    let _turn = topic(module_path!());
    let image = build_example("redis", "slimctl-e2e/redis:2");
    let slim = ImageGuard("slimctl-e2e/redis.slim:2".into());
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    let failing = ["--exec", "redis-cli -p 6390 PING", "--probe-timeout", "3"];
    let out =
        slimctl(&[&["build", &image.0, "--tag", &slim.0, "--report", rep.to_str().unwrap()], &failing[..]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("probe error (failed on the original"), "{}", text(&out.stderr));
    let checks = report(&rep)["verify"]["rounds"][0]["checks"].as_array().unwrap().clone();
    let exec = checks.iter().find(|c| c["what"].as_str().unwrap().starts_with("exec ")).unwrap();
    assert_eq!(exec["verdict"], "probe_error", "{exec}");
    assert!(checks.iter().any(|c| c["verdict"] == "match"), "the redis probe still compares: {checks:?}");

    let out = slimctl(&[&["build", &image.0, "--tag", &slim.0, "--strict-probes"], &failing[..]].concat());
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--strict-probes"), "{}", text(&out.stderr));
}

#[test]
fn a_port_that_does_not_speak_http_is_recognised_and_takes_a_line_probe() {
    let _turn = topic(module_path!());
    let image = build_example("redis", "slimctl-e2e/redis:3");
    let slim = ImageGuard("slimctl-e2e/redis.slim:3".into());
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    let started = std::time::Instant::now();
    let out = slimctl(&[
        "build",
        &image.0,
        "--tag",
        &slim.0,
        "--cmd",
        r#"["redis-server", "/etc/redis/cache.conf", "--port", "7777"]"#,
        "--expose",
        "7777",
        "--tcp-probe",
        "7777:PING\\r\\n:+PONG",
        "--report",
        rep.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}\n{}", text(&out.stdout));
    assert!(err.contains("port 7777 accepts connections but does not speak HTTP"), "{err}");
    assert!(err.contains("port 6379 is exposed but nothing listened on it"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(50), "a service that is up is no 60 s wait");
    let r = report(&rep);
    let tcp = &r["trace"]["proto"][0];
    assert_eq!((tcp["proto"].as_str(), tcp["port"].as_u64()), (Some("tcp"), Some(7777)), "{tcp}");
    assert_eq!(tcp["steps"][0]["ok"], true, "{tcp}");
}

#[test]
fn bad_probe_input_gets_clear_errors() {
    let _turn = topic(module_path!());
    let image = build_example("postgres", "slimctl-e2e/postgres:3");
    // A wrong password: the server's own words, at once (no retry until the timeout).
    let started = std::time::Instant::now();
    let out = slimctl(&["build", &image.0, "--probe-password", "wrong", "--no-verify"]);
    assert_error_mentions(&out, 6, &["postgres probe on port 5432", "password authentication failed"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(40), "no wait for a refused login");

    // A service that never listens: exit 6 naming the port and its last output.
    let never = build_image(
        "slimctl-e2e/never-ready:1",
        &format!("FROM {}\nEXPOSE 9999\nCMD [\"sh\", \"-c\", \"echo still warming up; sleep 300\"]\n", base_image()),
        &[],
    );
    let out = slimctl(&["build", &never.0, "--probe-timeout", "3", "--no-verify"]);
    assert_error_mentions(&out, 6, &["never listened on port 9999", "still warming up"]);
    assert!(slimctl_containers(&never.0).is_empty());
}

#[test]
fn an_extension_a_query_creates_works_thanks_to_server_plugins() {
    let _turn = topic(module_path!());
    let image = build_example("postgres", "slimctl-e2e/postgres:4");
    let with = ImageGuard("slimctl-e2e/postgres.slim:4".into());
    let out = slimctl(&["build", &image.0, "--tag", &with.0]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let without = ImageGuard("slimctl-e2e/postgres.slim:4-off".into());
    let out = slimctl(&["build", &image.0, "--tag", &without.0, "--no-server-plugins", "--no-verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // No probe created an extension; a query of the app does.
    let query = "create extension hstore; select 'fruit=>apple'::hstore -> 'fruit'";
    let answer = |img: &str| {
        let c = start(img);
        let env = ["PGPASSWORD=example-only-password"];
        let sql =
            |q: &str| client(&image.0, &c.0, "psql", &env, &["-h", "127.0.0.1", "-U", "postgres", "-tA", "-c", q]);
        eventually("1", || sql("select 1"));
        sql(query)
    };
    let original = answer(&image.0);
    assert!(original.ends_with("apple"), "{original}");
    assert_eq!(answer(&with.0), original);
    assert!(!answer(&without.0).ends_with("apple"), "without the rule the extension's files are gone");
}

/// A database whose error messages come in the language each session picks: the traced run
/// speaks English, built into the server (no message file opened); `SET lc_messages` reads that
/// language's file from the server's package. message-catalogs keeps every language's.
#[test]
fn mariadb_answers_in_the_language_a_session_picks_thanks_to_message_catalogs() {
    let _turn = topic(module_path!());
    const GERMAN: &str = "/usr/share/mysql/german/errmsg.sys";
    let image = build_example("mariadb", "slimctl-e2e/mariadb:1");
    let slim = ImageGuard("slimctl-e2e/mariadb.slim:1".into());
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("r.json");
    let out = slimctl(&["build", &image.0, "--tag", &slim.0, "--report", rep.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let r = report(&rep);
    assert_eq!(r["verify"]["outcome"], "behaves", "{}", r["verify"]);
    assert_eq!(r["trace"]["ready"][0]["kind"], "mysql");
    let german = &r["kept"][GERMAN]["reasons"][0];
    assert_eq!((&german["kind"], &german["rule"]), (&"rule".into(), &"message-catalogs".into()), "{german}");

    let sql = |target: &str, q: &str| {
        let args = ["-h127.0.0.1", "-uroot", "-pexample-only-password", "-N", "-e", q];
        client(&image.0, target, "mariadb", &[], &args)
    };
    const QUERY: &str = "SET lc_messages = 'de_DE'; SELECT * FROM nosuchdb.t";
    let original = start(&image.0);
    eventually("1", || sql(&original.0, "SELECT 1"));
    let want = sql(&original.0, QUERY);
    assert!(want.contains("Tabelle 'nosuchdb.t' existiert nicht"), "{want}");
    let slim_c = start(&slim.0);
    eventually("1", || sql(&slim_c.0, "SELECT 1"));
    assert_eq!(sql(&slim_c.0, QUERY), want);

    let off = ImageGuard("slimctl-e2e/mariadb.slim:off".into());
    let out = slimctl(&["build", &image.0, "--tag", &off.0, "--no-message-catalogs", "--no-verify"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let off_c = start(&off.0);
    eventually("1", || sql(&off_c.0, "SELECT 1"));
    let got = sql(&off_c.0, QUERY);
    assert!(got.contains("lc_messages") && !got.contains("existiert"), "without the rule: {got}");
}
