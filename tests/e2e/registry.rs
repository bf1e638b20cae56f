//! Registries as sources and outputs, against a real registry (Debian's docker-registry, started
//! by the test): `docker://` images read over the distribution API, slim images pushed, the
//! daemonless re-slim a CI pod runs (no engine reachable), and credentials from --creds or the
//! Docker client's config.
use e2e::*;
use serde_json::Value;
use std::process::Command;

/// slimctl with no engine reachable (what a CI pod on Kubernetes has).
fn slimctl_without_engine(args: &[&str], extra_env: &[(&str, &str)]) -> std::process::Output {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(slimctl_bin());
    cmd.args(args)
        .env("DOCKER_HOST", "unix:///nonexistent/slimctl-no-engine.sock")
        .env_remove("CONTAINER_HOST")
        .env("TMPDIR", tmp.path());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    assert_tmp_empty(tmp.path(), args);
    out
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= c.len() { A[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

#[test]
fn a_daemonless_re_slim_reads_and_pushes_through_the_registry() {
    let _turn = topic(module_path!());
    let registry = Registry::start(None);
    let img = build_example("python-http", "slimctl-e2e/registry-python:1");
    registry.push_from_docker(&img.0, "apps/python:1");
    let src = registry.image("apps/python:1");
    let dst = registry.image("apps/python-slim:1");

    // A traced build on the engine saves the profile a CI pod re-slims from.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.json");
    let local_slim = ImageGuard("slimctl-e2e/registry-python.slim:1".into());
    let out = slimctl(&["build", &img.0, "--tag", &local_slim.0, "--save-profile", profile.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // xray reads the registry image: the same image (config digest) as in the engine.
    let out = slimctl_without_engine(&["xray", &src, "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let x: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(x.to_string().contains(&image_id(&img.0)), "xray names the image id: {x}");

    // No engine: read from the registry, select from the profile, push; verify says why it is skipped.
    let out = slimctl_without_engine(
        &["build", &src, "--from-profile", profile.to_str().unwrap(), "--output", &dst, "--json"],
        &[],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{}", text(&out.stdout));
    assert!(stderr.contains("verify skipped") && stderr.contains(&dst), "{stderr}");
    assert!(stderr.contains(&format!("pushed {dst}@sha256:")), "{stderr}");

    // Pulled back into the engine, it is the very image the engine build made, and it answers
    // like the original.
    let pulled = registry.pull_into_docker("apps/python-slim:1", "slimctl-e2e/registry-pulled:1");
    assert_eq!(image_id(&pulled.0), image_id(&local_slim.0));
    let (_o, op) = run_published(&img.0, 8080);
    let (_s, sp) = run_published(&pulled.0, 8080);
    let body = |raw: String| raw.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    assert_eq!(body(http_get(sp, "/")), body(http_get(op, "/")));

    // With an engine that has the original, the same re-slim loads the result there and verifies it.
    let engine_out = ImageGuard("slimctl-e2e/registry-engine-out:1".into());
    let rep = dir.path().join("report.json");
    let out = slimctl(&[
        "build",
        &src,
        "--from-profile",
        profile.to_str().unwrap(),
        "--tag",
        &engine_out.0,
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    assert_eq!(r["verify"]["ok"], true, "{:#}", r["verify"]);
    assert_eq!(image_id(&engine_out.0), image_id(&local_slim.0));

    // diff reads registry images too.
    let out = slimctl_without_engine(&["diff", &src, &dst, "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn registry_credentials_come_from_creds_or_the_docker_config() {
    let _turn = topic(module_path!());
    let registry = Registry::start(Some(("alice", "s3cret")));
    let img = build_example("c-http", "slimctl-e2e/registry-auth:1");
    registry.push_from_docker(&img.0, "c/http:1");
    let src = registry.image("c/http:1");

    let out = slimctl_without_engine(&["xray", &src], &[]);
    assert_clear_error(&out, 3, &["fetching the manifest", "--creds USER:PASS"]);
    let out = slimctl_without_engine(&["--creds", "alice:wrong", "xray", &src], &[]);
    assert_clear_error(&out, 3, &["refused the credentials"]);
    let out = slimctl_without_engine(&["--creds", "alice:s3cret", "xray", &src], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // `docker login`'s file: auths keyed by HOST:PORT.
    let config = tempfile::tempdir().unwrap();
    let auth = base64(b"alice:s3cret");
    std::fs::write(
        config.path().join("config.json"),
        format!(r#"{{"auths": {{"127.0.0.1:{}": {{"auth": "{auth}"}}}}}}"#, registry.port),
    )
    .unwrap();
    let docker_config = config.path().to_str().unwrap();
    let out = slimctl_without_engine(&["xray", &src], &[("DOCKER_CONFIG", docker_config)]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // And a push behind auth, with the same file.
    let out = slimctl_without_engine(
        &["build", &src, "--no-trace", "--include", "/usr/local/bin", "--output", &registry.image("c/http-slim:1")],
        &[("DOCKER_CONFIG", docker_config)],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = slimctl_without_engine(&["xray", &registry.image("c/http-slim:1")], &[("DOCKER_CONFIG", docker_config)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("/usr/local/bin/c-http"), "{}", text(&out.stdout));
    // A valid image for other clients too: skopeo takes it into the engine.
    let pulled = registry.pull_into_docker("c/http-slim:1", "slimctl-e2e/registry-auth-pulled:1");
    assert!(image_id(&pulled.0).starts_with("sha256:"));
}

#[test]
fn bad_registry_references_are_clear_errors() {
    let _turn = topic(module_path!());
    let out = slimctl_without_engine(&["xray", "docker://Not/A/Valid:ref:x"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not a registry image reference"), "{}", text(&out.stderr));
    let registry = Registry::start(None);
    let out = slimctl_without_engine(&["xray", &registry.image("no/such:1")], &[]);
    assert_clear_error(&out, 3, &["no/such", "check the repository and tag"]);
    let out = slimctl_without_engine(
        &["build", &registry.image("no/such:1"), "--output", "docker://127.0.0.1:1/x@sha256:00"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = slimctl_without_engine(&["--platform", "linux", "xray", &registry.image("no/such:1")], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
