//! The sensor against real containers on the real engine: bound to one container from before
//! its start (as `slimctl build` uses it), and `sensor container` on a running one.
use e2e::*;
use sensor::event::{Event, FileOp};
use sensor::{Sensor, SensorOptions, Session, Target};
use std::process::Command;
use std::time::{Duration, Instant};

fn create(image: &str, cmd: &[&str]) -> ContainerGuard {
    let mut args = vec!["create", "--label", "slimctl-sensor-test=1", image];
    args.extend_from_slice(cmd);
    ContainerGuard(docker(&args).trim().to_owned())
}

#[test]
fn traces_one_container_from_its_first_instruction_and_not_its_neighbour() {
    let _turn = topic(module_path!());
    let image = base_image();
    let target = create(image, &["cat", "/etc/os-release"]);
    let other = create(image, &["cat", "/etc/debian_version"]);

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let events = rt.block_on(async {
        let sensor = Sensor::load(&SensorOptions::default()).expect("load the sensor (needs root)");
        let mut session = Session::new(sensor, Target::Container(target.0.clone())).unwrap();
        // Both start at the same time; the sensor was armed before either.
        let a = Command::new("docker").args(["start", &target.0]).stdout(std::process::Stdio::null()).spawn().unwrap();
        let b = Command::new("docker").args(["start", &other.0]).stdout(std::process::Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut events: Vec<Event> = Vec::new();
        loop {
            assert!(Instant::now() < deadline, "the target's trace did not end; got {events:#?}");
            events.extend(session.next_events().await.expect("trace without loss"));
            if session.is_bound() && !events.is_empty() && session.live() == 0 {
                break;
            }
        }
        events.extend(session.poll_events().unwrap());
        session.finish().expect("no lost events");
        for mut c in [a, b] {
            assert!(c.wait().unwrap().success());
        }
        events
    });

    // The trace starts at the entrypoint's exec: nothing of the runtime's set-up before it.
    let Event::Exec(first) = &events[0] else { panic!("first event is not the exec: {:#?}", events[0]) };
    assert_eq!(first.args, vec!["cat", "/etc/os-release"]);
    assert!(first.cgroup.contains(&target.0), "bound by the container's cgroup: {}", first.cgroup);
    let ns = first.proc.mnt_ns;
    // The very first file the entrypoint opens (cat is dynamically linked: the loader's cache).
    let opens: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::File(f) if f.op == FileOp::Open => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(opens[0].abs.as_deref(), Some("/etc/ld.so.cache"), "first open: {:#?}", opens[0]);
    assert!(opens.iter().any(|f| f.abs.as_deref() == Some("/etc/os-release") && f.ok()), "{opens:#?}");
    for e in &events {
        assert_eq!(e.proc().mnt_ns, ns, "an event from outside the target: {e:#?}");
        if let Event::File(f) = e {
            let p = f.abs.as_deref().unwrap_or("");
            assert!(!p.contains("debian_version"), "the neighbour container leaked in: {f:#?}");
            assert!(!p.starts_with("/var/lib/docker"), "runtime set-up leaked in: {f:#?}");
        }
    }
    let Some(Event::Exit(exit)) = events.last() else { panic!("last event is not the exit") };
    assert_eq!(exit.code(), 0);
}

#[test]
fn sensor_container_traces_a_running_container_until_it_stops() {
    let _turn = topic(module_path!());
    let image = base_image();
    let c = ContainerGuard(
        docker(&[
            "run",
            "-d",
            "--label",
            "slimctl-sensor-test=1",
            image,
            "sh",
            "-c",
            "while true; do cat /etc/os-release >/dev/null; sleep 0.1; done",
        ])
        .trim()
        .to_owned(),
    );
    let dir = tempfile::tempdir().unwrap();
    let events_file = dir.path().join("events.jsonl");
    let summary_file = dir.path().join("summary.json");
    let sensor_bin = sensor_bin();
    let mut child = Command::new(&sensor_bin)
        .args(["container", &c.0, "--output"])
        .arg(&events_file)
        .arg("--summary-json")
        .arg(&summary_file)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    docker(&["stop", "-t", "1", &c.0]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sensor container did not end after the container stopped");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "sensor container failed: {err}");
    let text = std::fs::read_to_string(&events_file).unwrap();
    let events: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cats = events.iter().filter(|e| e["event"] == "exec" && e["comm"] == "cat").count();
    let reads = events.iter().filter(|e| e["event"] == "file" && e["abs"] == "/etc/os-release").count();
    assert!(cats >= 5 && reads >= 5, "expected the loop's cats in 2 s: {cats} execs, {reads} opens; {err}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary_file).unwrap()).unwrap();
    assert_eq!(summary["counters"]["ring_full"], 0);
}

#[test]
fn sensor_container_on_a_stopped_container_is_a_clear_error() {
    let _turn = topic(module_path!());
    let image = base_image();
    let c = create(image, &["true"]);
    let out = run(Command::new(sensor_bin()).args(["container", &c.0]));
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(err.contains("is not running") && !err.contains("panicked"), "{err}");
    let out = run(Command::new(sensor_bin()).args(["container", "no-such-container-xyz"]));
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("no such container"), "{}", text(&out.stderr));
}
