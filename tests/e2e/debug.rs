//! `slimctl debug`: a side-car with the original's shell beside a slim container that has none,
//! on Docker and on podman's API service; a session driven through a real pseudo-terminal
//! (tmux), and interrupted; nothing labelled slimctl left behind.

use e2e::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A web app run as a non-root user, whose slim image has no shell.
const APP: &str = "FROM slimctl-examples/debian-python:bookworm\nRUN useradd --uid 10010 app\nUSER app\n\
                   WORKDIR /srv\nEXPOSE 8000\nCMD [\"python3\", \"-m\", \"http.server\", \"8000\"]\n";

/// Inspects the target from the side-car: its files, its PID 1, its listening socket.
const LOOK: &str = "ls /proc/1/root/usr/bin/python3.11 && echo comm=$(cat /proc/1/comm) && cat /proc/net/tcp \
                    && echo root=$TARGET_ROOT && id -u";

/// The original and its slim image (built with verify, so it behaves), and the slim image has no shell.
fn slim_app(tag: &str) -> (ImageGuard, ImageGuard) {
    let original = build_image(&format!("slimctl-e2e/{tag}:1"), APP, &[]);
    let slim = ImageGuard(format!("slimctl-e2e/{tag}.slim:1"));
    let out = slimctl(&["build", &original.0, "--tag", &slim.0]);
    assert!(out.status.success(), "{}\n{}", text(&out.stderr), text(&out.stdout));
    let sh = run(Command::new("docker").args(["run", "--rm", "--entrypoint", "/bin/sh", &slim.0, "-c", "true"]));
    assert!(!sh.status.success(), "the slim image should have no shell");
    (original, slim)
}

/// slimctl's containers of these images (side-cars are of the original, `--run` targets of the
/// slim image); the other test of this topic has images of its own, so its run in flight is not
/// counted.
fn slimctl_labelled(images: &[&str]) -> Vec<String> {
    images
        .iter()
        .flat_map(|i| {
            let ids = docker(&["ps", "-aq", "--filter", "label=slimctl", "--filter", &format!("ancestor={i}")]);
            ids.split_whitespace().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

/// What a look from the side-car must show: the target's python, its PID 1, port 8000 (1F40)
/// listening (state 0A), the banner's root, root's uid.
fn assert_looked(out: &std::process::Output) {
    let (o, e) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{e}\n{o}");
    assert!(o.contains("/proc/1/root/usr/bin/python3.11"), "{o}");
    assert!(o.contains("comm=python3"), "{o}");
    assert!(o.lines().any(|l| l.contains(":1F40 ") && l.split_whitespace().nth(3) == Some("0A")), "{o}");
    assert!(o.contains("root=/proc/1/root") && o.lines().any(|l| l.trim() == "0"), "{o}");
    assert!(e.contains("/proc/1/root"), "banner: {e}");
}

#[test]
fn a_side_car_shows_a_shell_less_container_its_files_pid_1_and_socket() {
    let _turn = topic(module_path!());
    let (original, slim) = slim_app("debug-app");
    let name = "slimctl-e2e-debug-target";
    let _ = run(Command::new("docker").args(["rm", "-f", name]));
    let _target = ContainerGuard(docker(&["run", "-d", "--name", name, &slim.0]).trim().to_owned());
    assert_looked(&slimctl(&["debug", name, "--", "sh", "-c", LOOK]));
    // The command's exit code is passed through.
    let out = slimctl(&["debug", name, "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    // --run starts the slim image for the session and removes it after.
    assert_looked(&slimctl(&["debug", "--run", &slim.0, "--", "sh", "-c", LOOK]));
    assert!(
        slimctl_labelled(&[&original.0, &slim.0]).is_empty(),
        "left: {:?}",
        slimctl_labelled(&[&original.0, &slim.0])
    );

    // Bad input: no tools image known, one the engine lacks, a target not running.
    let plain = ContainerGuard(docker(&["run", "-d", &original.0]).trim().to_owned());
    assert_clear_error(&slimctl(&["debug", &plain.0, "--", "true"]), 2, &["--image"]);
    assert_clear_error(
        &slimctl(&["debug", name, "--image", "slimctl-e2e/no-such-tools:1", "--", "true"]),
        3,
        &["no-such-tools"],
    );
    docker(&["stop", "-t", "1", name]);
    assert_clear_error(&slimctl(&["debug", name, "--", "true"]), 3, &[name, "not running"]);
    assert_clear_error(
        &slimctl(&["debug", "slimctl-e2e-no-such-container", "--", "true"]),
        3,
        &["slimctl-e2e-no-such-container"],
    );
    assert!(
        slimctl_labelled(&[&original.0, &slim.0]).is_empty(),
        "left: {:?}",
        slimctl_labelled(&[&original.0, &slim.0])
    );
}

/// Starts `slimctl debug NAME` in a tmux terminal; its exit code lands in `exit_file`.
fn tmux_session(session: &str, name: &str, exit_file: &Path) {
    terminal::start(session, &format!("{} debug {name}", slimctl_bin().display()), exit_file);
}

#[test]
fn an_interactive_session_runs_commands_takes_ctrl_c_and_leaves_nothing() {
    let _turn = topic(module_path!());
    let (original, slim) = slim_app("debug-tty");
    let name = "slimctl-e2e-debug-tty";
    let _ = run(Command::new("docker").args(["rm", "-f", name]));
    let _target = ContainerGuard(docker(&["run", "-d", "--name", name, &slim.0]).trim().to_owned());
    let dir = tempfile::tempdir().unwrap();

    // A command, Ctrl-C to the side-car's foreground job (raw mode: not to slimctl), exit.
    let (session, done) = ("slimctl-e2e-dbg", dir.path().join("exit1"));
    tmux_session(session, name, &done);
    terminal::wait_for(session, "$TARGET_ROOT");
    terminal::send(session, &["echo marker-$((6*7)) $(cat /proc/1/comm)", "Enter"]);
    terminal::wait_for(session, "marker-42 python3");
    terminal::send(session, &["sleep 300", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    terminal::send(session, &["C-c"]);
    terminal::send(session, &["echo still-$((2+3))", "Enter"]);
    terminal::wait_for(session, "still-5");
    terminal::send(session, &["exit", "Enter"]);
    assert_eq!(terminal::exit_code(&done), "0");
    assert!(
        slimctl_labelled(&[&original.0, &slim.0]).is_empty(),
        "left: {:?}",
        slimctl_labelled(&[&original.0, &slim.0])
    );

    // SIGINT to slimctl itself mid-session: the side-car goes, the terminal is given back.
    let (session, done) = ("slimctl-e2e-dbg2", dir.path().join("exit2"));
    tmux_session(session, name, &done);
    terminal::wait_for(session, "$TARGET_ROOT");
    // slimctl itself, not the tmux server or the shell whose command lines name it too.
    let me = format!("^{} debug {name}$", slimctl_bin().display());
    let pids = text(&run(Command::new("pgrep").args(["-f", &me])).stdout);
    let pid = pids.split_whitespace().next().unwrap_or_else(|| panic!("no slimctl debug process"));
    assert!(run(Command::new("kill").args(["-INT", pid])).status.success());
    assert_eq!(terminal::exit_code(&done), "130");
    assert!(
        slimctl_labelled(&[&original.0, &slim.0]).is_empty(),
        "left: {:?}",
        slimctl_labelled(&[&original.0, &slim.0])
    );
    let _ = run(Command::new("tmux").args(["kill-session", "-t", session]));
}

#[test]
fn a_side_car_on_podman() {
    let _turn = topic(module_path!());
    let (original, slim) = slim_app("debug-podman");
    let p = Podman::start();
    p.load_from_docker(&original.0);
    p.load_from_docker(&slim.0);
    let name = "slimctl-e2e-debug-podman";
    p.cli(&["run", "-d", "--name", name, &slim.0]);
    let url = p.url();
    let out = slimctl(&["--engine", &url, "debug", name, "--", "sh", "-c", LOOK]);
    assert_looked(&out);
    let out = slimctl(&["--engine", &url, "debug", name, "--", "sh", "-c", "exit 9"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out.stderr));
    p.cli(&["rm", "-f", name]);
    assert!(p.leftover_containers(&original.0).is_empty(), "{:?}", p.leftover_containers(&original.0));
    assert!(p.leftover_containers(&slim.0).is_empty(), "{:?}", p.leftover_containers(&slim.0));
}
