//! Bad input gets one clear line and a non-zero exit, never a panic; nothing of the user's changes
//! and nothing is left behind.

use e2e::*;
use std::process::{Command, Stdio};

#[test]
fn unknown_image() {
    let _turn = topic(module_path!());
    require_engine();
    let out = slimctl(&["build", "slimctl-e2e/no-such-image:404", "--no-trace"]);
    assert_clear_error(&out, 3, &["slimctl-e2e/no-such-image:404", "not in the Docker engine"]);
    let out = slimctl(&["xray", "slimctl-e2e/no-such-image:404"]);
    assert_clear_error(&out, 3, &["no-such-image"]);
}

#[test]
fn engine_not_reachable() {
    let _turn = topic(module_path!());
    let tmp = tempfile::tempdir().unwrap();
    let out = run(Command::new(slimctl_bin())
        .args(["xray", "anything:1"])
        .env("DOCKER_HOST", "unix:///nonexistent/slimctl-test.sock")
        .env("TMPDIR", tmp.path()));
    assert_clear_error(&out, 4, &["cannot reach the engine", "/nonexistent/slimctl-test.sock"]);
    // --engine wins over the environment, and the message says where the address came from.
    let out = run(Command::new(slimctl_bin())
        .args(["--engine", "unix:///nonexistent/other.sock", "xray", "anything:1"])
        .env("DOCKER_HOST", "unix:///var/run/docker.sock")
        .env("TMPDIR", tmp.path()));
    assert_clear_error(&out, 4, &["cannot reach the engine", "/nonexistent/other.sock (from --engine)"]);
    let out = run(Command::new(slimctl_bin())
        .args(["xray", "anything:1"])
        .env_remove("DOCKER_HOST")
        .env("CONTAINER_HOST", "unix:///nonexistent/podman.sock")
        .env("TMPDIR", tmp.path()));
    assert_clear_error(&out, 4, &["/nonexistent/podman.sock (from CONTAINER_HOST)"]);
    let out = run(Command::new(slimctl_bin()).args(["--engine", "ssh://host", "xray", "anything:1"]));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ssh://host") && err.contains("unix:///") && !err.contains("panicked"), "{err}");
}

#[test]
fn corrupt_and_truncated_archives() {
    let _turn = topic(module_path!());
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.tar");
    std::fs::write(&garbage, b"definitely not a tar archive\n".repeat(100)).unwrap();
    let out = slimctl(&["xray", &format!("docker-archive:{}", garbage.display())]);
    assert_clear_error(&out, 3, &["garbage.tar", "not a valid image"]);

    // A real `docker save`, cut in the middle of a layer.
    let base = base_image();
    let saved = dir.path().join("base.tar");
    docker(&["save", "-o", saved.to_str().unwrap(), base]);
    let len = std::fs::metadata(&saved).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&saved).unwrap();
    f.set_len(len / 2).unwrap();
    let out =
        slimctl(&["build", &format!("docker-archive:{}", saved.display()), "--no-trace", "--output", "oci:/tmp/never"]);
    assert_clear_error(&out, 3, &["base.tar", "truncated"]);
    assert!(!std::path::Path::new("/tmp/never").exists());

    let out = slimctl(&["xray", &format!("docker-archive:{}", dir.path().join("absent.tar").display())]);
    assert_clear_error(&out, 3, &["absent.tar"]);
}

#[test]
fn include_not_in_image_and_unwritable_output() {
    let _turn = topic(module_path!());
    let base = base_image();
    let before = image_id(base);
    let out = slimctl(&["build", base, "--no-trace", "--include", "/opt/does/not/exist"]);
    assert_clear_error(&out, 3, &["--include /opt/does/not/exist", "no such file"]);

    let out =
        slimctl(&["build", base, "--no-trace", "--include", "/etc/hostname", "--output", "oci:/proc/slimctl-out"]);
    assert_clear_error(&out, 4, &["cannot write /proc/slimctl-out"]);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious"), "user data").unwrap();
    let out = slimctl(&["build", base, "--no-trace", "--output", &format!("oci:{}", dir.path().display())]);
    assert_clear_error(&out, 4, &["not empty"]);
    assert_eq!(std::fs::read_to_string(dir.path().join("precious")).unwrap(), "user data");

    let out = slimctl(&["build", base, "--no-trace", "--output", "ftp:somewhere"]);
    assert_eq!(out.status.code(), Some(2), "usage error: {}", text(&out.stderr));

    assert_eq!(image_id(base), before, "the original image must not change");
    assert_nothing_left(base);
}

#[test]
fn interrupt_removes_temporary_files() {
    let _turn = topic(module_path!());
    let base = base_image();
    let tmp = tempfile::tempdir().unwrap();
    let child = long_build(base, tmp.path());
    // Wait until the run has made its work dir, then interrupt it mid-read.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_dir(tmp.path()).unwrap().next().is_none() {
        assert!(std::time::Instant::now() < deadline, "slimctl never created its work dir");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix_kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    assert_tmp_empty(tmp.path(), &["build (interrupted)"]);
    assert_nothing_left(base);
}

/// A build that reads the whole image (a second or two), its work dir in `tmp`; stderr piped.
/// Streamed, not read in place: the stream keeps a copy of the image in the work dir, the most a
/// run leaves behind when it is cut short, and takes long enough to be cut short.
fn long_build(image: &str, tmp: &std::path::Path) -> std::process::Child {
    Command::new(slimctl_bin())
        .args([
            "--image-read",
            "stream",
            "build",
            image,
            "--no-trace",
            "--include",
            "/usr",
            "--output",
            "docker-archive:/dev/null",
        ])
        .env("TMPDIR", tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn nix_kill(pid: u32, sig: &str) {
    let st = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().unwrap();
    assert!(st.success());
}

#[test]
fn a_killed_runs_work_dir_is_removed_by_the_next_run() {
    let _turn = topic(module_path!());
    let base = base_image();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = long_build(base, tmp.path());
    // Wait until the run keeps its copy of the image in its work dir, then kill it outright.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let copy = loop {
        let found = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|d| d.path().join("image.tar"))
            .find(|p| p.metadata().is_ok_and(|m| m.len() > 1 << 20));
        if let Some(p) = found {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "slimctl never copied the image into its work dir");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    nix_kill(child.id(), "KILL");
    child.wait().unwrap();
    assert!(copy.exists(), "SIGKILL leaves the work dir behind: {}", copy.display());

    // The next run, whatever it does, removes it and says how much it freed.
    let out = run(Command::new(slimctl_bin())
        .args(["xray", &format!("docker-archive:{}", tmp.path().join("absent.tar").display())])
        .env("TMPDIR", tmp.path()));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("removed 1 work dir(s) that killed runs left") && err.contains("MB freed"), "{err}");
    assert_tmp_empty(tmp.path(), &["xray after a killed build"]);
}

#[test]
fn an_output_name_without_a_tag_gets_latest() {
    let _turn = topic(module_path!());
    let base = base_image();
    let name = "slimctl-e2e-untagged";
    let _slim = ImageGuard(format!("{name}:latest"));
    let out = slimctl(&["build", base, "--no-trace", "--include", "/etc/hostname", "--tag", name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("docker:{name}:latest")), "{}", text(&out.stdout));
    assert!(!image_id(&format!("{name}:latest")).is_empty());
}
