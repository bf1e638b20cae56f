//! Fixtures for the end-to-end tests: the real Docker engine, the real `slimctl` binary, images
//! made from local files. A missing engine or binary fails the test with a clear message: these
//! tests never skip silently.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const BASE_IMAGE: &str = "slimctl-examples/debian-python:bookworm";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the repo").to_owned()
}

/// A workspace binary: $`env`, or the one cargo built next to this test.
fn workspace_bin(name: &str, env: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return p.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{name} binary not found at {}: run `cargo build -p {name}` first (or set {env})",
        bin.display()
    );
    bin
}

/// The slimctl binary: $SLIMCTL_BIN, or the one cargo built next to this test.
pub fn slimctl_bin() -> PathBuf {
    workspace_bin("slimctl", "SLIMCTL_BIN")
}

/// The sensor binary: $SENSOR_BIN, or the one cargo built next to this test.
pub fn sensor_bin() -> PathBuf {
    workspace_bin("sensor", "SENSOR_BIN")
}

pub fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.output().unwrap_or_else(|e| panic!("cannot run {shown}: {e}"))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `docker ARGS`, panicking with its stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let out = run(Command::new("docker").args(args));
    assert!(out.status.success(), "docker {} failed: {}", args.join(" "), text(&out.stderr));
    text(&out.stdout)
}

/// Runs slimctl with its own empty TMPDIR, and checks afterwards that slimctl left nothing there.
pub fn slimctl(args: &[&str]) -> Output {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = run(Command::new(slimctl_bin()).args(args).env("TMPDIR", tmp.path()));
    assert_tmp_empty(tmp.path(), args);
    out
}

pub fn assert_tmp_empty(tmp: &Path, what: &[&str]) {
    let left: Vec<_> = std::fs::read_dir(tmp).expect("tmp").flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "slimctl {what:?} left temporary files behind: {left:?}");
}

/// Asserts a failure: the exit code, one line on stderr mentioning every `needle`, no panic.
pub fn assert_clear_error(out: &Output, code: i32, needles: &[&str]) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line of error, got: {err}");
    assert!(err.starts_with("slimctl: error: "), "{err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr should mention {n:?}: {err}");
    }
}

/// Asserts a failure whose message may run over several lines (a traced run appends the
/// container's last output, and notes may come before it): exit code, slimctl's error line, no
/// panic, needles.
pub fn assert_error_mentions(out: &Output, code: i32, needles: &[&str]) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {err}");
    assert!(err.lines().any(|l| l.starts_with("slimctl: error: ")), "{err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr should mention {n:?}: {err}");
    }
}

/// Builds examples/NAME into TAG (legacy builder; its base comes from `base_image`).
pub fn build_example(name: &str, tag: &str) -> ImageGuard {
    base_image();
    let dir = repo_root().join("examples").join(name);
    let prepare = dir.join("prepare.sh");
    if prepare.exists() {
        let out = run(Command::new("bash").arg(&prepare));
        assert!(out.status.success(), "examples/{name}/prepare.sh failed: {}", text(&out.stderr));
    }
    let out =
        run(Command::new("docker").args(["build", "-q", "-t", tag, "."]).env("DOCKER_BUILDKIT", "0").current_dir(&dir));
    assert!(out.status.success(), "docker build of examples/{name} failed: {}", text(&out.stderr));
    ImageGuard(tag.to_owned())
}

/// Containers slimctl created (its label) from `image`. Per image: tests run in parallel.
pub fn slimctl_containers(image: &str) -> Vec<String> {
    let ancestor = format!("ancestor={image}");
    docker(&["ps", "-aq", "--filter", "label=slimctl", "--filter", &ancestor])
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

pub fn image_id(image: &str) -> String {
    docker(&["image", "inspect", "-f", "{{.Id}}", image]).trim().to_owned()
}

/// GET http://127.0.0.1:PORT/PATH with a plain socket, retrying while the app starts.
pub fn http_get(port: u16, path: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match http_try(port, path) {
            Ok(b) => return b,
            Err(e) if std::time::Instant::now() > deadline => panic!("no HTTP answer on 127.0.0.1:{port}{path}: {e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}

/// One GET, no retry: the raw answer, or why there was none.
pub fn http_try(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    // One write: `write!` sends each piece of the format apart, and a server that reads its
    // request with one read (c-http does) would see "GET " alone.
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())?;
    // Binary answers (images) are read as bytes and shown lossily.
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let body = String::from_utf8_lossy(&raw).into_owned();
    if body.is_empty() {
        return Err(std::io::Error::other("empty answer"));
    }
    Ok(body)
}

/// A running container removed when dropped.
pub struct ContainerGuard(pub String);

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

/// Starts `image` detached with container port `port` published on 127.0.0.1; returns the host port.
pub fn run_published(image: &str, port: u16) -> (ContainerGuard, u16) {
    let id = docker(&["run", "-d", "-p", &format!("127.0.0.1::{port}"), image]).trim().to_owned();
    let guard = ContainerGuard(id.clone());
    let mapped = docker(&["port", &id, &format!("{port}/tcp")]);
    let host_port = mapped
        .lines()
        .find_map(|l| l.rsplit(':').next().and_then(|p| p.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no published port in {mapped:?}"));
    (guard, host_port)
}

/// Fails the test unless a Docker engine answers.
pub fn require_engine() {
    let out = Command::new("docker").args(["version", "--format", "{{.Server.APIVersion}}"]).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!("these tests need a running Docker engine; `docker version` said: {}", text(&o.stderr)),
        Err(e) => panic!("these tests need the docker CLI and a running engine: {e}"),
    }
}

/// The shared base image, built once (debootstrap + docker import) and reused across runs.
pub fn base_image() -> &'static str {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        require_engine();
        // Test binaries run one after another but tests inside one run in parallel; a file lock
        // also covers concurrent `cargo test` invocations.
        let lock = std::fs::File::create(std::env::temp_dir().join("slimctl-e2e-base.lock")).expect("lock file");
        lock.lock().expect("lock");
        let script = repo_root().join("examples/base/build.sh");
        let out = run(Command::new("bash").arg(&script));
        assert!(out.status.success(), "building the base image failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
    });
    BASE_IMAGE
}

/// An image (or tag) removed when dropped, so tests leave the engine as they found it.
pub struct ImageGuard(pub String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

/// Builds `dockerfile` (its text) with the legacy builder (no buildx here) and tags it.
pub fn build_image(tag: &str, dockerfile: &str, context_files: &[(&str, &str)]) -> ImageGuard {
    base_image();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    for (name, body) in context_files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    let out = run(Command::new("docker")
        .args(["build", "-q", "-t", tag, "."])
        .env("DOCKER_BUILDKIT", "0")
        .current_dir(dir.path()));
    assert!(out.status.success(), "docker build {tag} failed: {}", text(&out.stderr));
    ImageGuard(tag.to_owned())
}

/// Containers labelled by slimctl, or created from `image`: none may be left behind.
pub fn leftover_containers(image: &str) -> Vec<String> {
    let mut all = docker(&["ps", "-aq", "--filter", "label=slimctl"]);
    all.push_str(&docker(&["ps", "-aq", "--filter", &format!("ancestor={image}")]));
    all.split_whitespace().map(str::to_owned).collect()
}

/// Asserts that no container labelled by slimctl or made from `image` is left. The engine may
/// still be finishing a removal slimctl asked for (fuse-overlayfs unmounts take a moment under
/// load): a few seconds are allowed. A failure shows what is left, and its state.
pub fn assert_nothing_left(image: &str) {
    assert_none_within_seconds(&format!("containers left behind ({image})"), || leftover_containers(image));
}

/// Asserts that no container of these images is left (running or not), for a test that runs
/// beside others of its topic: their slimctl-labelled containers come and go meanwhile, so only
/// the test's own images are looked at. The engine gets a few seconds to finish a removal.
pub fn assert_no_containers_of(images: &[&str]) {
    assert_none_within_seconds(&format!("containers of {images:?} left behind"), || {
        images
            .iter()
            .flat_map(|i| {
                let ids = docker(&["ps", "-aq", "--filter", &format!("ancestor={i}")]);
                ids.split_whitespace().map(str::to_owned).collect::<Vec<_>>()
            })
            .collect()
    });
}

/// Polls `left` until it is empty, for 5 s; then fails with `what`, the ids and every
/// container's image, status, name and labels.
fn assert_none_within_seconds(what: &str, left: impl Fn() -> Vec<String>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let ids = left();
        if ids.is_empty() {
            return;
        }
        if std::time::Instant::now() >= deadline {
            let details = docker(&["ps", "-a", "--format", "{{.ID}} {{.Image}} {{.Status}} {{.Names}} {{.Labels}}"]);
            panic!("{what}: {ids:?}\n{details}");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// podman's Docker-compatible API service on a socket of its own, stopped when dropped. The
/// containers.conf it is given clears podman's default rlimits, which runc here refuses.
pub struct Podman {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Podman {
    pub fn start() -> Podman {
        let version = Command::new("podman").arg("--version").output();
        assert!(
            matches!(&version, Ok(o) if o.status.success()),
            "these tests need podman (apt-get install podman; scripts/setup.sh installs it)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("containers.conf"), "[containers]\ndefault_ulimits = []\n").unwrap();
        let sock = dir.path().join("podman.sock");
        let child = Command::new("podman")
            .args(["system", "service", "--time=0", &format!("unix://{}", sock.display())])
            .env("CONTAINERS_CONF", dir.path().join("containers.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting podman system service");
        let p = Podman { child, dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !p.answers() {
            assert!(std::time::Instant::now() < deadline, "podman's API service did not answer on {}", sock.display());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        p
    }

    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(self.dir.path().join("podman.sock")) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
        if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n").is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.") && answer.contains(" 200 ")
    }

    /// The address for slimctl's --engine.
    pub fn url(&self) -> String {
        format!("unix://{}", self.dir.path().join("podman.sock").display())
    }

    /// Runs `podman ARGS` (same storage as the service), panicking with its stderr on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        let out =
            run(Command::new("podman").args(args).env("CONTAINERS_CONF", self.dir.path().join("containers.conf")));
        assert!(out.status.success(), "podman {} failed: {}", args.join(" "), text(&out.stderr));
        text(&out.stdout)
    }

    /// Copies an image of the Docker engine into podman's storage (`docker save | podman load`).
    pub fn load_from_docker(&self, image: &str) {
        let dir = tempfile::tempdir().expect("tempdir");
        let tar = dir.path().join("image.tar");
        docker(&["save", "-o", tar.to_str().unwrap(), image]);
        self.cli(&["load", "-q", "-i", tar.to_str().unwrap()]);
    }

    pub fn image_id(&self, image: &str) -> String {
        self.cli(&["image", "inspect", "--format", "{{.Id}}", image]).trim().to_owned()
    }

    /// podman's containers created from `image` (running or not). podman names local images
    /// `localhost/NAME`, and its ancestor filter wants that name: compared here by hand.
    pub fn containers_of(&self, image: &str, all: bool) -> Vec<String> {
        let mut args = vec!["ps", "--format", "{{.ID}} {{.Image}}"];
        if all {
            args.push("-a");
        }
        let wanted = image.strip_prefix("localhost/").unwrap_or(image);
        self.cli(&args)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, img)| img.trim().strip_prefix("localhost/").unwrap_or(img.trim()) == wanted)
            .map(|(id, _)| id.to_owned())
            .collect()
    }

    /// podman's containers created from `image`: none may be left behind.
    pub fn leftover_containers(&self, image: &str) -> Vec<String> {
        self.containers_of(image, true)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// A real registry (Debian's docker-registry, the CNCF distribution registry 2.8) on 127.0.0.1,
/// storing in a temp dir, optionally behind htpasswd auth; stopped when dropped.
pub struct Registry {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    pub port: u16,
    pub creds: Option<(String, String)>,
}

impl Registry {
    pub fn start(creds: Option<(&str, &str)>) -> Registry {
        for tool in ["docker-registry", "skopeo", "htpasswd"] {
            let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output();
            assert!(
                matches!(&found, Ok(o) if o.status.success()),
                "these tests need {tool} (scripts/setup.sh installs docker-registry, skopeo and apache2-utils)"
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((user, pass)) = creds {
            let out = run(Command::new("htpasswd").args(["-Bbn", user, pass]));
            assert!(out.status.success(), "htpasswd failed: {}", text(&out.stderr));
            std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: slimctl-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .args(["serve", dir.path().join("config.yml").to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let r = Registry { child, _dir: dir, port, creds: creds.map(|(u, p)| (u.to_owned(), p.to_owned())) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // /v2/ answers 200, or 401 behind auth, once the registry serves.
        while !matches!(http_try(port, "/v2/"), Ok(a) if a.contains(" 200 ") || a.contains(" 401 ")) {
            assert!(std::time::Instant::now() < deadline, "the registry did not answer on 127.0.0.1:{port}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        r
    }

    /// `docker://127.0.0.1:PORT/PATH`
    pub fn image(&self, path: &str) -> String {
        format!("docker://127.0.0.1:{}/{path}", self.port)
    }

    /// Copies an image of the Docker engine into the registry (skopeo, plain HTTP).
    pub fn push_from_docker(&self, image: &str, path: &str) {
        let mut args = vec!["copy".to_owned(), "-q".into(), "--dest-tls-verify=false".into()];
        if let Some((u, p)) = &self.creds {
            args.push(format!("--dest-creds={u}:{p}"));
        }
        args.push(format!("docker-daemon:{image}"));
        args.push(self.image(path));
        let out = run(Command::new("skopeo").args(&args));
        assert!(out.status.success(), "skopeo {args:?} failed: {}", text(&out.stderr));
    }

    /// Copies a registry image into the Docker engine as `tag`.
    pub fn pull_into_docker(&self, path: &str, tag: &str) -> ImageGuard {
        let mut args = vec!["copy".to_owned(), "-q".into(), "--src-tls-verify=false".into()];
        if let Some((u, p)) = &self.creds {
            args.push(format!("--src-creds={u}:{p}"));
        }
        args.push(self.image(path));
        args.push(format!("docker-daemon:{tag}"));
        let out = run(Command::new("skopeo").args(&args));
        assert!(out.status.success(), "skopeo {args:?} failed: {}", text(&out.stderr));
        ImageGuard(tag.to_owned())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The topics' turns: tests of one topic (one module of the e2e binary) run beside each other,
/// tests of different topics never do. Each topic checks that slimctl leaves nothing behind in
/// the engine, which another topic's run in flight would contradict.
static TURN: std::sync::Mutex<(Option<&'static str>, usize)> = std::sync::Mutex::new((None, 0));
static TURN_CHANGED: std::sync::Condvar = std::sync::Condvar::new();

/// Held by a test for its life: see [`topic`].
pub struct TopicTurn(&'static str, std::time::Instant);

/// Waits until no other topic's test runs, then holds `name`'s turn (give `module_path!()`).
pub fn topic(name: &'static str) -> TopicTurn {
    let mut turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    while turn.0.is_some_and(|t| t != name) {
        turn = TURN_CHANGED.wait(turn).unwrap_or_else(|p| p.into_inner());
    }
    *turn = (Some(name), turn.1 + 1);
    TopicTurn(name, std::time::Instant::now())
}

impl Drop for TopicTurn {
    fn drop(&mut self) {
        // Straight to stderr, past the harness's capture: CI's log shows where its time goes.
        let test = std::thread::current().name().unwrap_or("?").to_owned();
        let _ = writeln!(std::io::stderr(), "e2e time: {test} {:.1} s", self.1.elapsed().as_secs_f64());
        let mut turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        turn.1 -= 1;
        if turn.1 == 0 {
            *turn = (None, 0);
            TURN_CHANGED.notify_all();
        }
        debug_assert!(turn.0.is_none() || turn.0 == Some(self.0));
    }
}

/// A terminal for the tests of interactive runs: a tmux session, driven by keys.
pub mod terminal {
    use super::{run, text};
    use std::path::Path;
    use std::process::Command;
    use std::time::{Duration, Instant};

    /// Starts `command_line` (a shell line) in a detached tmux session; its exit code lands in
    /// `exit_file`.
    pub fn start(session: &str, command_line: &str, exit_file: &Path) {
        let _ = run(Command::new("tmux").args(["kill-session", "-t", session]));
        let line = format!("{command_line}; echo $? > {}", exit_file.display());
        let out = run(Command::new("tmux").args(["new-session", "-d", "-s", session, "-x", "120", "-y", "30", &line]));
        assert!(out.status.success(), "tmux: {}", text(&out.stderr));
    }

    /// Waits until the session's pane shows `needle`; the pane's text.
    pub fn wait_for(session: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let pane = text(&run(Command::new("tmux").args(["capture-pane", "-p", "-J", "-t", session])).stdout);
            if pane.contains(needle) {
                return pane;
            }
            assert!(Instant::now() < deadline, "{needle:?} never showed in the terminal:\n{pane}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn send(session: &str, keys: &[&str]) {
        let out = run(Command::new("tmux").args(["send-keys", "-t", session]).args(keys));
        assert!(out.status.success(), "tmux send-keys: {}", text(&out.stderr));
    }

    /// The session's command's exit code, once it ended .
    pub fn exit_code(file: &Path) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::fs::read_to_string(file).unwrap_or_default().trim().is_empty() {
            assert!(Instant::now() < deadline, "the session never ended");
            std::thread::sleep(Duration::from_millis(100));
        }
        std::fs::read_to_string(file).unwrap().trim().to_owned()
    }
}
