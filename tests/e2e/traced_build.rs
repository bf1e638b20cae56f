//! `slimctl build` with tracing, on the real engine and the real sensor: the examples slim by
//! what they use and still answer, and every failure is clear and leaves nothing behind.
use e2e::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `image` published on loopback; GETs each path; returns the bodies (headers stripped).
fn answers(image: &str, port: u16, paths: &[&str]) -> Vec<String> {
    let (_c, host_port) = run_published(image, port);
    paths
        .iter()
        .map(|p| {
            let raw = http_get(host_port, p);
            raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or(raw)
        })
        .collect()
}

fn report(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("report written")).expect("report is JSON")
}

#[test]
fn python_http_example_slims_by_tracing_and_still_answers() {
    let _turn = topic(module_path!());
    let image = build_example("python-http", "slimctl-e2e/python-http:traced");
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let slim = ImageGuard("slimctl-e2e/python-http.slim:traced".into());
    let out = slimctl(&["build", &image.0, "--tag", &slim.0, "--report", rep.to_str().unwrap()]);
    assert!(out.status.success(), "slimctl build failed: {}", text(&out.stderr));
    assert!(slimctl_containers(&image.0).is_empty(), "slimctl left containers: {:?}", slimctl_containers(&image.0));

    let r = report(&rep);
    let ratio = r["ratio"].as_f64().unwrap();
    assert!(ratio >= 5.0, "only {ratio:.1}x smaller");
    let t = &r["trace"];
    assert_eq!(t["http"][0]["status"], 200, "{t:#}");
    assert_eq!(t["counters"]["ring_full"], 0);
    // Every answer matched the traced run's: verify ran the slim image and nothing else.
    assert_eq!(r["verify"]["original_runs"], 0, "{:#}", r["verify"]);
    assert!(t["syscalls"].as_array().unwrap().iter().any(|s| s == "accept4" || s == "accept"), "{}", t["syscalls"]);
    // Why a file is there: the interpreter's stdlib module was opened by python3.
    let kept = r["kept"].as_object().unwrap();
    let json_init = kept.get("/usr/lib/python3.11/json/__init__.py").expect("json module kept");
    assert_eq!(json_init["reasons"][0]["kind"], "traced", "{json_init}");
    assert!(!kept.contains_key("/usr/lib/python3.11/tkinter/__init__.py"), "unused module kept");

    let paths = ["/", "/health", "/missing"];
    assert_eq!(answers(&slim.0, 8080, &paths), answers(&image.0, 8080, &paths), "slim and original answer alike");
}

#[test]
fn nginx_static_site_slims_by_crawling_and_serves_every_page() {
    let _turn = topic(module_path!());
    let image = build_example("nginx-static", "slimctl-e2e/nginx-static:traced");
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let slim = ImageGuard("slimctl-e2e/nginx-static.slim:traced".into());
    // The crawl finds the pages, style sheet and image; the 404 probe exercises the error page.
    let out = slimctl(&[
        "build",
        &image.0,
        "--tag",
        &slim.0,
        "--http-probe-crawl",
        "--http-probe-cmd",
        "GET:/",
        "--http-probe-cmd",
        "GET:/no-such-page",
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "slimctl build failed: {}", text(&out.stderr));
    assert!(slimctl_containers(&image.0).is_empty());
    let r = report(&rep);
    assert!(r["ratio"].as_f64().unwrap() >= 5.0, "ratio {}", r["ratio"]);
    let crawled: Vec<&str> = r["trace"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["crawled"] == true)
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    for want in ["/about.html", "/css/site.css", "/img/logo.svg"] {
        assert!(crawled.contains(&want), "{want} not crawled: {crawled:?}");
    }
    let paths = ["/", "/about.html", "/css/site.css", "/img/logo.svg", "/no-such-page"];
    assert_eq!(answers(&slim.0, 8080, &paths), answers(&image.0, 8080, &paths));
}

#[test]
fn cli_batch_job_runs_to_completion_and_the_slim_image_gives_the_same_output_and_exit_codes() {
    let _turn = topic(module_path!());
    let image = build_example("cli-batch", "slimctl-e2e/cli-batch:traced");
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let slim = ImageGuard("slimctl-e2e/cli-batch.slim:traced".into());
    let out = slimctl(&["build", &image.0, "--tag", &slim.0, "--report", rep.to_str().unwrap()]);
    assert!(out.status.success(), "slimctl build failed: {}", text(&out.stderr));
    let r = report(&rep);
    assert!(r["ratio"].as_f64().unwrap() >= 5.0, "ratio {}", r["ratio"]);
    assert_eq!(r["trace"]["exit_code"], 0);
    assert_eq!(r["trace"]["exited_by_itself"], true);
    assert!(r["trace"]["logs_tail"].as_str().unwrap().contains("rows: 8"), "{}", r["trace"]["logs_tail"]);
    for args in [vec![], vec!["/no/such.csv"]] {
        let run_it = |img: &str| {
            let mut a = vec!["run", "--rm", img];
            a.extend(args.iter().copied());
            let o = run(Command::new("docker").args(&a));
            (o.status.code(), text(&o.stdout), text(&o.stderr))
        };
        let (orig, slimmed) = (run_it(&image.0), run_it(&slim.0));
        assert_eq!(slimmed, orig, "args {args:?}");
    }
}

#[test]
fn c_http_native_binary_slims_to_its_libraries() {
    let _turn = topic(module_path!());
    let image = build_example("c-http", "slimctl-e2e/c-http:traced");
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let slim = ImageGuard("slimctl-e2e/c-http.slim:traced".into());
    let out = slimctl(&[
        "build",
        &image.0,
        "--tag",
        &slim.0,
        "--http-probe-cmd",
        "GET:/",
        "--http-probe-cmd",
        "GET:/greeting",
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "slimctl build failed: {}", text(&out.stderr));
    let r = report(&rep);
    assert!(r["ratio"].as_f64().unwrap() >= 5.0, "ratio {}", r["ratio"]);
    let kept = r["kept"].as_object().unwrap();
    assert!(kept.keys().any(|k| k.contains("libc.so.6")), "libc kept");
    assert!(kept.contains_key("/usr/share/c-http/greeting.txt"), "the data file read per request");
    let paths = ["/", "/greeting", "/health"];
    assert_eq!(answers(&slim.0, 8081, &paths), answers(&image.0, 8081, &paths));
}

/// A tiny image from the base: its Dockerfile lines after FROM.
fn image_from_base(tag: &str, lines: &str) -> ImageGuard {
    let base = base_image();
    build_image(tag, &format!("FROM {base}\n{lines}\n"), &[])
}

#[test]
fn a_service_that_never_listens_is_a_clear_error() {
    let _turn = topic(module_path!());
    let img = image_from_base("slimctl-e2e/silent:1", "EXPOSE 8080\nCMD [\"sleep\", \"300\"]");
    let started = Instant::now();
    let out = slimctl(&["build", &img.0, "--probe-timeout", "3", "--stop-timeout", "1"]);
    assert_error_mentions(&out, 6, &["never listened on port 8080 within 3 s", "--probe-timeout"]);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(slimctl_containers(&img.0).is_empty(), "left: {:?}", slimctl_containers(&img.0));
}

#[test]
fn an_entrypoint_that_exits_at_once_is_a_clear_error_with_its_output() {
    let _turn = topic(module_path!());
    let img = image_from_base(
        "slimctl-e2e/crash:1",
        "EXPOSE 8080\nCMD [\"sh\", \"-c\", \"echo config missing >&2; exit 3\"]",
    );
    let out = slimctl(&["build", &img.0]);
    assert_error_mentions(&out, 6, &["ended (exit 3) before listening on port 8080", "config missing"]);
    assert!(slimctl_containers(&img.0).is_empty(), "left: {:?}", slimctl_containers(&img.0));
}

#[test]
fn a_probe_port_that_is_not_exposed_is_a_clear_error() {
    let _turn = topic(module_path!());
    let img = image_from_base("slimctl-e2e/port:1", "EXPOSE 8080\nCMD [\"sleep\", \"300\"]");
    let out = slimctl(&["build", &img.0, "--http-probe-cmd", "GET:9999:/"]);
    assert_clear_error(&out, 3, &["port 9999 is not exposed", "8080/tcp", "--expose 9999"]);
    assert!(slimctl_containers(&img.0).is_empty());
}

#[test]
fn an_image_without_entrypoint_or_cmd_is_a_clear_error() {
    let _turn = topic(module_path!());
    let img = image_from_base("slimctl-e2e/nocmd:1", "ENTRYPOINT []\nCMD []");
    let out = slimctl(&["build", &img.0]);
    assert_clear_error(&out, 3, &["no ENTRYPOINT or CMD", "--cmd"]);
    assert!(slimctl_containers(&img.0).is_empty());
}

#[test]
fn missing_ebpf_privileges_are_named() {
    let _turn = topic(module_path!());
    let img = image_from_base("slimctl-e2e/noprivs:1", "CMD [\"true\"]");
    // Root's uid (so the engine's socket opens) without any capability.
    let tmp = tempfile::tempdir().unwrap();
    let out = run(Command::new("setpriv")
        .args(["--inh-caps=-all", "--bounding-set=-all", "--"])
        .arg(slimctl_bin())
        .args(["build", &img.0])
        .env("TMPDIR", tmp.path()));
    assert_clear_error(&out, 4, &["CAP_BPF", "CAP_PERFMON", "root"]);
    assert_tmp_empty(tmp.path(), &["build"]);
    assert!(slimctl_containers(&img.0).is_empty());
}

#[test]
fn sigint_during_the_probe_leaves_nothing_behind() {
    let _turn = topic(module_path!());
    let img = image_from_base("slimctl-e2e/sigint:1", "EXPOSE 8080\nCMD [\"sleep\", \"300\"]");
    let tmp = tempfile::tempdir().unwrap();
    let child = Command::new(slimctl_bin())
        .args(["build", &img.0, "--probe-timeout", "120"])
        .env("TMPDIR", tmp.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the container exists and runs: slimctl is then probing it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = docker(&["ps", "-q", "--filter", "label=slimctl", "--filter", &format!("ancestor={}", img.0)]);
        if !running.trim().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the traced container never started");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    nix_kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("container(s)/network(s)/volume(s) and temporary files removed"),
        "{}",
        text(&out.stderr)
    );
    assert!(slimctl_containers(&img.0).is_empty(), "left: {:?}", slimctl_containers(&img.0));
    assert_tmp_empty(tmp.path(), &["build (interrupted)"]);
}

fn nix_kill(pid: u32, sig: &str) {
    let st = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap();
    assert!(st.success());
}

/// How a traced run ends once slimctl stops it: a shutdown that reads a file within the grace
/// is traced (the file is kept); an app that catches the signal and goes on is killed when the
/// grace runs out, and the summary says so; an init with no handler is killed at once.
#[test]
fn the_stop_grace_traces_a_shutdown_and_kills_what_does_not_stop() {
    let _turn = topic(module_path!());
    let script = |on_term: &str| {
        format!(
            "RUN printf 'bye\\n' > /etc/farewell && printf '#!/bin/sh\\ntrap \"{on_term}\" TERM\\nwhile :; do sleep 0.2 & \
             wait $!; done\\n' > /run.sh\nCMD [\"sh\", \"/run.sh\"]"
        )
    };
    let build = |img: &str, extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let rep = dir.path().join("report.json");
        let mut args =
            vec!["build", img, "--continue-after", "timeout:1", "--no-verify", "--tag", "slimctl-e2e/stop.slim:1"];
        args.extend(extra);
        args.extend(["--report", rep.to_str().unwrap()]);
        let out = slimctl(&args);
        let _slim = ImageGuard("slimctl-e2e/stop.slim:1".into());
        assert!(out.status.success(), "slimctl build failed: {}", text(&out.stderr));
        assert!(slimctl_containers(img).is_empty(), "left: {:?}", slimctl_containers(img));
        (report(&rep), text(&out.stdout))
    };

    let clean = image_from_base("slimctl-e2e/stop-clean:1", &script("cat /etc/farewell; exit 0"));
    let (r, _) = build(&clean.0, &[]);
    assert_eq!(r["trace"]["stopped"]["how"], "signal", "{:#}", r["trace"]["stopped"]);
    assert_eq!(r["trace"]["exit_code"], 0);
    assert_eq!(r["kept"]["/etc/farewell"]["reasons"][0]["kind"], "traced", "read during the shutdown, so kept");

    let stubborn = image_from_base("slimctl-e2e/stop-stubborn:1", &script("echo ignoring"));
    let (r, summary) = build(&stubborn.0, &["--stop-grace", "0.5"]);
    let stopped = &r["trace"]["stopped"];
    assert_eq!(stopped["how"], "grace_ran_out", "{stopped:#}");
    assert_eq!(r["trace"]["exit_code"], 137, "killed");
    let took = stopped["seconds"].as_f64().unwrap();
    assert!((0.5..5.0).contains(&took), "the grace was 0.5 s, the stop took {took} s");
    assert!(summary.contains("--stop-grace"), "the summary says the grace ran out: {summary}");

    let deaf = image_from_base("slimctl-e2e/stop-deaf:1", "CMD [\"sleep\", \"300\"]");
    let (r, _) = build(&deaf.0, &[]);
    let stopped = &r["trace"]["stopped"];
    assert_eq!(stopped["how"], "signal_ignored", "{stopped:#}");
    assert!(stopped["seconds"].as_f64().unwrap() < 0.9, "no grace waited for an init without a handler: {stopped:#}");
}

/// A run whose events overflow the ring buffer is never used: it runs again with a larger one.
#[test]
fn a_trace_that_loses_events_runs_again_with_a_larger_ring() {
    let _turn = topic(module_path!());
    let img = image_from_base(
        "slimctl-e2e/burst:1",
        // One process opening a file 100,000 times with no fork between (a shell builtin's
        // redirect): hundreds of thousands of events a second, far more than a 4 KiB ring holds
        // between two wake-ups of the reader, however quickly it is scheduled.
        "CMD [\"sh\", \"-c\", \"i=0; while [ $i -lt 100000 ]; do read x < /etc/hostname; i=$((i+1)); done; cat /etc/hostname\"]",
    );
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let slim = ImageGuard("slimctl-e2e/burst.slim:1".into());
    let out = slimctl(&[
        "build",
        &img.0,
        "--ring-size",
        "4096",
        "--no-verify",
        "--tag",
        &slim.0,
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "slimctl build failed: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("lost events") && text(&out.stderr).contains("running it again"),
        "{}",
        text(&out.stderr)
    );
    let r = report(&rep);
    assert_eq!(r["trace"]["counters"]["ring_full"], 0, "the trace used is complete");
    assert!(slimctl_containers(&img.0).is_empty());
}

/// Command strings split as a shell would: `--cmd 'bash -c "echo hello world"'` runs bash with
/// the script `echo hello world`, and an `--exec` string in an image without a shell runs
/// with its quoted words whole.
#[test]
fn command_strings_split_as_a_shell_would() {
    let _turn = topic(module_path!());
    let base = base_image();
    let dir = tempfile::tempdir().unwrap();
    let rep = dir.path().join("report.json");
    let archive = format!("docker-archive:{}", dir.path().join("slim.tar").display());
    let out = slimctl(&[
        "build",
        base,
        "--cmd",
        r#"bash -c "echo hello world""#,
        "--no-verify",
        "--output",
        &archive,
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = &report(&rep)["trace"];
    assert_eq!(t["argv"], serde_json::json!(["bash", "-c", "echo hello world"]), "{t:#}");
    assert_eq!(t["stdout"], "hello world\n", "{t:#}");
    assert_eq!(t["exit_code"], 0);

    // An image of one static program and nothing else: no /bin/sh to run the string.
    let image = static_args_image(dir.path(), "slimctl-e2e/args-no-shell:1");
    let out = slimctl(&[
        "build",
        &image.0,
        "--exec",
        r#"/args "hello world" 'it''s' plain"#,
        "--no-verify",
        "--output",
        &archive,
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exec = &report(&rep)["trace"]["exec"][0];
    assert_eq!(exec["command"], serde_json::json!(["/args", "hello world", "its", "plain"]), "{exec:#}");
    assert_eq!(exec["exit_code"], 0, "{exec:#}");
    assert_eq!(exec["output"].as_str().unwrap().trim(), "hello world|its|plain", "{exec:#}");
}

/// An image holding only `/args`, a static program that waits forever without arguments and
/// prints its arguments joined by `|` with them.
fn static_args_image(dir: &std::path::Path, tag: &str) -> ImageGuard {
    let src = dir.join("args.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <unistd.h>\nint main(int c, char **v) {\n  if (c < 2) for (;;) pause();\n  \
         for (int i = 1; i < c; i++) printf(\"%s%s\", i > 1 ? \"|\" : \"\", v[i]);\n  printf(\"\\n\");\n  return 0;\n}\n",
    )
    .unwrap();
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let out = run(Command::new("gcc").args(["-static", "-O2", "-o"]).arg(root.join("args")).arg(&src));
    assert!(out.status.success(), "gcc -static failed: {}", text(&out.stderr));
    let tar = dir.join("root.tar");
    let out = run(Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg("."));
    assert!(out.status.success(), "{}", text(&out.stderr));
    docker(&["import", "--change", r#"CMD ["/args"]"#, tar.to_str().unwrap(), tag]);
    ImageGuard(tag.to_owned())
}
