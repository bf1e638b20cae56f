//! The CI post-build step: seccomp profiles, profiles for re-slimming without a run, gates.
use e2e::*;
use serde_json::Value;

#[test]
fn the_generated_seccomp_profile_is_enforced_and_sufficient() {
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
    let names: Vec<String> = p["syscalls"][0]["names"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert!(names.contains(&"accept4".to_owned()), "the server's accept4 was seen: {names:?}");
    assert!(!names.contains(&"ptrace".to_owned()) && !names.contains(&"mount".to_owned()), "{names:?}");

    // Without a syscall the app needs, the slim image no longer answers: the profile is enforced.
    let mut broken = p.clone();
    broken["syscalls"][0]["names"] = Value::from(names.iter().filter(|n| *n != "accept4").cloned().collect::<Vec<_>>());
    let broken_path = dir.path().join("broken.json");
    std::fs::write(&broken_path, serde_json::to_vec(&broken).unwrap()).unwrap();
    let out = slimctl(&["verify", &image.0, &slim.0, "--seccomp", broken_path.to_str().unwrap(), "--probe-timeout", "5"]);
    assert_eq!(out.status.code(), Some(7), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let out = slimctl(&["verify", &image.0, &slim.0, "--seccomp", profile.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    assert!(slimctl_containers(&image.0).is_empty() && slimctl_containers(&slim.0).is_empty());
}
