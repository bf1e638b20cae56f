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
fn build_without_no_trace_says_what_to_do() {
    let out = slimctl(&["build", "some-image"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--no-trace") && err.contains("--include"), "{err}");
}

#[test]
fn help_lists_commands() {
    let out = slimctl(&["--help"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("build") && s.contains("xray"), "{s}");
}
