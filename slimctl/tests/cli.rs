//! The command line's contract without an engine: usage errors and messages.
//! (Also makes `cargo test` build the slimctl binary that the e2e crate runs.)

use std::process::Command;

fn slimctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_slimctl")).args(args).output().unwrap()
}

#[test]
fn usage_errors_exit_2() {
    let out = slimctl(&["build"]);
    assert_eq!(out.status.code(), Some(2));
    let out = slimctl(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = slimctl(&["xray", "img", "--highest-wasted-bytes", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a size"));
}

#[test]
fn tracing_an_archive_says_what_to_do() {
    let out = slimctl(&["build", "docker-archive:/tmp/some.tar"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("docker load") && err.contains("--no-trace"), "{err}");
}

#[test]
fn bad_probe_flags_are_usage_errors() {
    let out = slimctl(&["build", "img", "--http-probe-cmd", "FETCH:/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown HTTP method"));
    let out = slimctl(&["build", "img", "--continue-after", "later"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("timeout:SECONDS"));
}

#[test]
fn help_lists_commands() {
    let out = slimctl(&["--help"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("build") && s.contains("xray"), "{s}");
}

#[test]
fn a_bad_output_name_is_refused_before_anything_runs() {
    // No engine at that address: reaching it would be exit 4. The name is checked first.
    let out = Command::new(env!("CARGO_BIN_EXE_slimctl"))
        .args(["build", "app:1", "--tag", "Par-A"])
        .env("DOCKER_HOST", "unix:///nonexistent/slimctl-test.sock")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--tag \"Par-A\"") && err.contains("lowercase"), "{err}");
}

#[test]
fn with_json_a_failure_is_json_too_with_its_causes() {
    let out = Command::new(env!("CARGO_BIN_EXE_slimctl"))
        .args(["xray", "app:1", "--json"])
        .env("DOCKER_HOST", "unix:///nonexistent/slimctl-test.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["error"]["exit_code"], 4);
    assert!(v["error"]["message"].as_str().unwrap().contains("cannot reach the engine"), "{v}");
    let causes = v["error"]["causes"].as_array().unwrap();
    assert!(causes.iter().any(|c| c.as_str().unwrap().contains("/nonexistent/slimctl-test.sock")), "{v}");
}

#[test]
fn an_unknown_probe_protocol_is_a_usage_error_listing_the_known_ones() {
    let out = slimctl(&["build", "app:1", "--probe-proto", "5432:nosuch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown protocol \"nosuch\"") && err.contains("redis, postgres, mysql, memcached"), "{err}");
}
