//! The pipeline on podman's Docker-compatible service (`--engine unix:///…/podman.sock`): a
//! traced build with verify gives the same slim image as on Docker; nothing is left behind after
//! success, failure and SIGINT; and the sensor binds podman's container (conmon + runc, libpod
//! cgroups), not a Docker container running alongside.
use e2e::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One test at a time: each starts its own podman service, and the digest comparison wants the
/// apps undisturbed. (A difference it once caught was slimctl's: the HTTP sniff closed its
/// connection with the answer unread, and the reset reached podman's container directly -- no
/// proxy in between as on Docker -- so Python's http.server printed a traceback and the trace
/// held the traceback modules. run/ready.rs now reads the answer to its end.)
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// podman images removed when dropped (the service's storage is podman's own).
struct PodmanImages(Vec<String>);

impl Drop for PodmanImages {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = Command::new("podman").args(["rmi", "-f", image]).output();
        }
    }
}

fn report(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Builds `image` with slimctl on the engine at `engine` (None: Docker) and returns the report.
fn build(engine: Option<&str>, image: &str, tag: &str, flags: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let mut args: Vec<&str> = Vec::new();
    if let Some(url) = engine {
        args.extend(["--engine", url]);
    }
    args.extend(["build", image, "--tag", tag, "--report", rep.to_str().unwrap()]);
    args.extend(flags);
    let out = slimctl(&args);
    assert!(out.status.success(), "slimctl {args:?} failed:\n{}\n{}", text(&out.stderr), text(&out.stdout));
    report(&rep)
}

fn bare(id: &str) -> &str {
    id.trim().trim_start_matches("sha256:")
}

#[test]
fn traced_builds_on_podman_verify_and_match_docker() {
    let _turn = topic(module_path!());
    let _one = serial();
    let podman = Podman::start();
    let examples: [(&str, &[&str]); 2] =
        [("c-http", &["--http-probe-cmd", "GET:/", "--http-probe-cmd", "GET:/greeting"]), ("python-http", &[])];
    for (name, flags) in examples {
        let img = build_example(name, &format!("slimctl-e2e/podman-{name}:1"));
        let slim = format!("slimctl-e2e/podman-{name}.slim:1");
        podman.load_from_docker(&img.0);
        let _in_podman = PodmanImages(vec![img.0.clone(), slim.clone()]);

        let on_docker_report = build(None, &img.0, &slim, flags);
        let on_docker = ImageGuard(slim.clone());
        let docker_id = image_id(&on_docker.0);

        let r = build(Some(&podman.url()), &img.0, &slim, flags);
        assert_eq!(r["verify"]["ok"], true, "{name}: verify on podman: {:#}", r["verify"]);
        // Both engines' storage is on this host: each image is read in place, in its own layout.
        for (engine, rep) in [("Docker", &on_docker_report), ("podman", &r)] {
            assert_eq!(rep["original"]["read_in_place"], true, "{name} on {engine}: {}", rep["original"]);
        }
        let checks = r["verify"]["rounds"][0]["checks"].as_array().unwrap();
        assert!(checks.len() >= 2, "{name}: verify compared something: {checks:?}");
        assert!(
            r["trace"]["stats"]["events"].as_u64().unwrap_or(0) > 0,
            "{name}: the sensor saw podman's container: {}",
            r["trace"]
        );
        let kept =
            |r: &Value| r["kept"].as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
        let (d, p) = (kept(&on_docker_report), kept(&r));
        assert_eq!(
            bare(&podman.image_id(&slim)),
            bare(&docker_id),
            "{name}: the same slim image as on Docker; kept only on Docker: {:?}; only on podman: {:?}",
            d.difference(&p).collect::<Vec<_>>(),
            p.difference(&d).map(|k| (k, &r["kept"][k])).collect::<Vec<_>>()
        );
        assert!(podman.leftover_containers(&img.0).is_empty(), "{name}: left {:?}", podman.leftover_containers(&img.0));
        // The slim image in podman runs and answers like the original: verify ran it; and the
        // stop is as fast as on Docker (podman's wait API answers late: the init is watched).
        let stopped = &r["trace"]["stopped"];
        assert!(stopped["seconds"].as_f64().unwrap() < 1.5, "{name}: {stopped}");
    }
}

#[test]
fn a_failure_and_an_interrupt_on_podman_leave_nothing_behind() {
    let _turn = topic(module_path!());
    let _one = serial();
    let podman = Podman::start();
    let exits = build_image(
        "slimctl-e2e/podman-exits:1",
        &format!("FROM {}\nEXPOSE 8080\nCMD [\"sh\", \"-c\", \"echo giving up >&2; exit 3\"]\n", base_image()),
        &[],
    );
    let sleeps = build_image(
        "slimctl-e2e/podman-sleeps:1",
        &format!("FROM {}\nEXPOSE 8080\nCMD [\"sleep\", \"300\"]\n", base_image()),
        &[],
    );
    podman.load_from_docker(&exits.0);
    podman.load_from_docker(&sleeps.0);
    let _in_podman = PodmanImages(vec![exits.0.clone(), sleeps.0.clone()]);

    // A container that exits at once: a clear error naming it, exit 6, nothing left.
    let out = slimctl(&["--engine", &podman.url(), "build", &exits.0, "--probe-timeout", "20"]);
    assert_error_mentions(&out, 6, &["ended (exit 3) before listening on port 8080", "giving up"]);
    assert!(podman.leftover_containers(&exits.0).is_empty(), "left {:?}", podman.leftover_containers(&exits.0));

    // SIGINT while probing: exit 130, the container and the temp files removed.
    let tmp = tempfile::tempdir().unwrap();
    let child = Command::new(slimctl_bin())
        .args(["--engine", &podman.url(), "build", &sleeps.0, "--probe-timeout", "120"])
        .env("TMPDIR", tmp.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while podman.containers_of(&sleeps.0, false).is_empty() {
        assert!(Instant::now() < deadline, "the traced container never started on podman");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(podman.leftover_containers(&sleeps.0).is_empty(), "left {:?}", podman.leftover_containers(&sleeps.0));
    assert_tmp_empty(tmp.path(), &["build on podman (interrupted)"]);
}

#[test]
fn a_docker_container_alongside_is_not_recorded() {
    let _turn = topic(module_path!());
    let _one = serial();
    let podman = Podman::start();
    let img = build_example("c-http", "slimctl-e2e/podman-alongside:1");
    let slim = "slimctl-e2e/podman-alongside.slim:1";
    podman.load_from_docker(&img.0);
    let _in_podman = PodmanImages(vec![img.0.clone(), slim.to_owned()]);
    // The same image on Docker, reading files and running programs the app never uses, all along.
    let neighbour = docker(&[
        "run",
        "-d",
        "--entrypoint",
        "sh",
        &img.0,
        "-c",
        "while :; do cat /etc/issue.net /etc/issue >/dev/null; ls /usr/share/doc >/dev/null; sleep 0.05; done",
    ]);
    let _neighbour = ContainerGuard(neighbour.trim().to_owned());

    let r =
        build(Some(&podman.url()), &img.0, slim, &["--http-probe-cmd", "GET:/", "--http-probe-cmd", "GET:/greeting"]);
    let kept = r["kept"].as_object().unwrap();
    // (Not /etc/debian_version: the release files are kept for scanners whatever ran.)
    for path in ["/etc/issue.net", "/etc/issue", "/usr/bin/cat", "/usr/bin/ls", "/usr/share/doc"] {
        assert!(
            !kept.contains_key(path),
            "{path} was kept: the Docker container's activity was recorded ({:?})",
            kept[path]
        );
    }
    // And the podman container's own files are: the app binary itself.
    assert!(kept.keys().any(|p| p.ends_with("/c-http")), "kept: {:?}", kept.keys().collect::<Vec<_>>());
}

#[test]
fn a_compose_stack_runs_on_podman_which_runs_no_healthchecks_itself() {
    let _turn = topic(module_path!());
    let _one = serial();
    let podman = Podman::start();
    let base = base_image();
    podman.load_from_docker(base);
    // podman without systemd never runs a healthcheck (the status stays "starting"): slimctl
    // runs the dependency's healthcheck command itself.
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("compose.yaml");
    let yaml = format!(
        "services:\n  db:\n    image: {base}\n    command: [sh, -c, \"sleep 1; touch /tmp/ready; exec sleep 600\"]\n    healthcheck: {{test: [CMD, test, -f, /tmp/ready], interval: 1s}}\n    volumes: [data:/data]\n  web:\n    image: {base}\n    command: [python3, -m, http.server, \"8000\"]\n    ports: [\"8000\"]\n    depends_on:\n      db: {{condition: service_healthy}}\nvolumes:\n  data:\n"
    );
    std::fs::write(&compose, yaml).unwrap();
    let rep = dir.path().join("report.json");
    let tag = "localhost/slimctl-e2e/podman-stack.slim:1";
    let _slim = PodmanImages(vec![tag.to_owned()]);
    let out = slimctl(&[
        "--engine",
        &podman.url(),
        "build",
        "-f",
        compose.to_str().unwrap(),
        "--tag",
        tag,
        "--no-http-probe-crawl",
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let r = report(&rep);
    assert_eq!(r["trace"]["stack"]["services"][0]["name"], "db", "{}", r["trace"]["stack"]);
    assert!(r["trace"]["stack"]["up_seconds"].as_f64().unwrap() >= 1.0, "waited for the file the check wants");
    assert_eq!(r["verify"]["ok"], true, "{}", r["verify"]);
    for what in [&["ps", "-aq"][..], &["network", "ls", "-q"], &["volume", "ls", "-q"]] {
        let mut args = what.to_vec();
        args.extend(["--filter", "label=slimctl"]);
        assert!(podman.cli(&args).trim().is_empty(), "podman {what:?} left behind");
    }
}

/// `--dockerfile` on podman's API service (Buildah behind it), with mint's spellings: the build
/// argument reaches the image, `.dockerignore` keeps a file out of the context, and the slim
/// image is verified.
#[test]
fn a_dockerfile_is_built_and_slimmed_on_podman() {
    let _turn = topic(module_path!());
    let _one = serial();
    let podman = Podman::start();
    podman.load_from_docker(base_image());
    let (fat, slim) = ("slimctl-e2e/podman-fat:1", "slimctl-e2e/podman-fat.slim:1");
    let _in_podman = PodmanImages(vec![fat.into(), slim.into()]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(repo_root().join("examples/python-http/app.py"), ctx.path().join("app.py")).unwrap();
    std::fs::write(ctx.path().join("secret.txt"), "never in the image").unwrap();
    std::fs::write(ctx.path().join(".dockerignore"), "*.txt\n").unwrap();
    let df = ctx.path().join("Dockerfile");
    std::fs::write(
        &df,
        format!(
            "FROM {}\nARG FLAVOUR=plain\nENV FLAVOUR=$FLAVOUR\nCOPY . /app/\nEXPOSE 8080\nENV PORT=8080\n\
             CMD [\"python3\", \"/app/app.py\"]\n",
            base_image()
        ),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let url = podman.url();
    let out = slimctl(&[
        "--engine",
        &url,
        "build",
        "--dockerfile",
        df.to_str().unwrap(),
        "--tag-fat",
        fat,
        "--cbo-build-arg",
        "FLAVOUR=mint",
        "--tag",
        slim,
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let r = report(&rep);
    assert_eq!(r["verify"]["ok"], true, "{:#}", r["verify"]);
    let env = podman.cli(&["image", "inspect", "--format", "{{json .Config.Env}}", slim]);
    assert!(env.contains("FLAVOUR=mint"), "the build argument reached the image: {env}");
    let files = podman.cli(&["run", "--rm", fat, "ls", "/app"]);
    assert!(files.contains("app.py") && !files.contains("secret.txt"), ".dockerignore applied: {files}");
    assert!(podman.leftover_containers(fat).is_empty(), "left {:?}", podman.leftover_containers(fat));
}
