//! One container of the target image, driven through the Engine API (1.41 features only).
use super::cleanup;
use super::error::{RunError, SetupError};
use crate::engine::EngineError;
use crate::image::config::ImageConfig;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{CreateContainerOptions, KillContainerOptions, LogsOptions};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

/// How to run the target: the image's config, and what the user overrides.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub image_id: String,
    pub run_id: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `docker run -v` syntax: SRC:DST[:OPTS].
    pub mounts: Vec<String>,
    pub network: Option<String>,
    /// TCP ports to publish besides the image's EXPOSE'd ones.
    pub expose: Vec<u16>,
    /// Security options as the Engine API takes them (`seccomp=<profile JSON>`).
    pub security_opt: Vec<String>,
    /// Networks to join (a stack's), with the names the container answers to there: the first
    /// at creation, the others before it starts. Overrides `network`.
    pub networks: Vec<NetworkAttach>,
    /// Anonymous volumes (mount points): created with the container, removed with it.
    pub volumes: Vec<String>,
    /// tmpfs mount points.
    pub tmpfs: Vec<String>,
    /// A healthcheck replacing the image's (a Compose service's); an empty test keeps the
    /// image's test with these timings.
    pub healthcheck: Option<crate::compose::Healthcheck>,
    /// Publish no ports: a stack's neighbours and the probe container are reached on the
    /// stack's network or the target's namespace, never from the host.
    pub no_publish: bool,
    /// The stack the target needs: started before it, removed after it (a Compose file).
    pub stack: Option<std::sync::Arc<crate::compose::Stack>>,
    /// Input for the container's stdin, written once known; without it stdin is closed.
    pub stdin: Option<super::stdin::StdinFeed>,
    /// The container settings the image needs beyond its config (labels, names, capabilities).
    pub host: HostSettings,
}

/// Settings of the container an image needs to run that its config cannot carry: as
/// `docker run` takes them (`--label`, `--hostname`, `--add-host`, `--dns`, `-p`, `--cap-add`,
/// `--shm-size`). Never `--privileged`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSettings {
    /// KEY=VALUE (never slimctl's own keys).
    pub labels: Vec<String>,
    pub hostname: Option<String>,
    /// HOST:IP.
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    /// `[IP:]HOST_PORT:CONTAINER_PORT` bindings besides slimctl's own: the traced run's only
    /// (verify runs two containers, which cannot share a host port).
    pub publish: Vec<String>,
    pub cap_add: Vec<String>,
    pub shm_size: Option<i64>,
}

impl HostSettings {
    /// Extra bindings by container port (`8000/tcp`).
    fn bindings(&self) -> Vec<(String, PortBinding)> {
        self.publish
            .iter()
            .filter_map(|p| {
                let parts: Vec<&str> = p.rsplitn(3, ':').collect();
                let (cport, hport, ip) = match parts.as_slice() {
                    [c, h] => (*c, *h, "127.0.0.1"),
                    [c, h, ip] => (*c, *h, *ip),
                    _ => return None,
                };
                let key = if cport.contains('/') { cport.to_owned() } else { format!("{cport}/tcp") };
                Some((key, PortBinding { host_ip: Some(ip.to_owned()), host_port: Some(hport.to_owned()) }))
            })
            .collect()
    }
}

/// One network a container joins, and its names there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAttach {
    pub network: String,
    pub aliases: Vec<String>,
}

impl RunSpec {
    /// The argv the container will run: overrides first, then the image's.
    pub fn argv(&self, config: &ImageConfig) -> Vec<String> {
        let mut v = self.entrypoint.clone().unwrap_or_else(|| config.entrypoint());
        // Docker drops the image's CMD when the entrypoint is overridden.
        let cmd = match (&self.cmd, &self.entrypoint) {
            (Some(c), _) => c.clone(),
            (None, Some(_)) => Vec::new(),
            (None, None) => config.cmd(),
        };
        v.extend(cmd);
        v
    }

    /// TCP ports to publish: the image's EXPOSE'd ones plus --expose.
    pub fn tcp_ports(&self, config: &ImageConfig) -> Vec<u16> {
        let mut v: Vec<u16> = config.exposed_ports().into_iter().filter(|(_, p)| p == "tcp").map(|(n, _)| n).collect();
        v.extend(&self.expose);
        v.sort();
        v.dedup();
        v
    }
}

pub struct Container {
    docker: Docker,
    pub id: String,
    name: String,
}

fn endpoint(n: &NetworkAttach) -> bollard::models::EndpointSettings {
    bollard::models::EndpointSettings {
        aliases: (!n.aliases.is_empty()).then(|| n.aliases.clone()),
        ..Default::default()
    }
}

/// slimctl's bindings (loopback, a port the engine picks: what the probes use), then the user's.
fn port_bindings(spec: &RunSpec, ports: &[u16]) -> HashMap<String, Option<Vec<PortBinding>>> {
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = ports
        .iter()
        .map(|p| {
            let ours = PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) };
            (format!("{p}/tcp"), Some(vec![ours]))
        })
        .collect();
    for (key, b) in spec.host.bindings() {
        bindings.entry(key).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(b);
    }
    bindings
}

/// slimctl's clean-up labels, and the user's (which never replace them).
fn labels(spec: &RunSpec) -> HashMap<String, String> {
    let mut labels = cleanup::labels(&spec.run_id);
    for kv in &spec.host.labels {
        if let Some((k, v)) = kv.split_once('=') {
            labels.entry(k.to_owned()).or_insert_with(|| v.to_owned());
        }
    }
    labels
}

pub(super) fn engine(action: &str, source: bollard::errors::Error) -> RunError {
    EngineError::failed(action, source).into()
}

impl Container {
    /// Creates (does not start) the container; it is registered for clean-up at once.
    pub async fn create(docker: &Docker, spec: &RunSpec, config: &ImageConfig) -> Result<Container, RunError> {
        if spec.argv(config).is_empty() {
            return Err(SetupError::NothingToRun.into());
        }
        let ports = if spec.no_publish { Vec::new() } else { spec.tcp_ports(config) };
        let bindings = port_bindings(spec, &ports);
        let labels = labels(spec);
        let host_config = HostConfig {
            privileged: Some(false),
            port_bindings: Some(bindings),
            binds: (!spec.mounts.is_empty()).then(|| spec.mounts.clone()),
            network_mode: spec.networks.first().map(|n| n.network.clone()).or_else(|| spec.network.clone()),
            security_opt: (!spec.security_opt.is_empty()).then(|| spec.security_opt.clone()),
            tmpfs: (!spec.tmpfs.is_empty()).then(|| spec.tmpfs.iter().map(|t| (t.clone(), String::new())).collect()),
            extra_hosts: (!spec.host.extra_hosts.is_empty()).then(|| spec.host.extra_hosts.clone()),
            dns: (!spec.host.dns.is_empty()).then(|| spec.host.dns.clone()),
            cap_add: (!spec.host.cap_add.is_empty()).then(|| spec.host.cap_add.clone()),
            shm_size: spec.host.shm_size,
            ..Default::default()
        };
        let networking_config = spec.networks.first().map(|n| bollard::models::NetworkingConfig {
            endpoints_config: Some(HashMap::from([(n.network.clone(), endpoint(n))])),
        });
        let healthcheck = spec.healthcheck.as_ref().map(|h| bollard::models::HealthConfig {
            test: (!h.test.is_empty()).then(|| h.test.clone()),
            interval: Some(h.interval_ns),
            timeout: Some(h.timeout_ns),
            retries: Some(h.retries),
            start_period: Some(h.start_period_ns),
            start_interval: None,
        });
        let body = ContainerCreateBody {
            image: Some(spec.image_id.clone()),
            entrypoint: spec.entrypoint.clone(),
            cmd: match (&spec.cmd, &spec.entrypoint) {
                (Some(c), _) => Some(c.clone()),
                (None, Some(_)) => Some(Vec::new()),
                (None, None) => None,
            },
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            working_dir: spec.workdir.clone(),
            user: spec.user.clone(),
            exposed_ports: Some(ports.iter().map(|p| format!("{p}/tcp")).collect()),
            labels: Some(labels),
            hostname: spec.host.hostname.clone(),
            host_config: Some(host_config),
            networking_config,
            healthcheck,
            volumes: (!spec.volumes.is_empty()).then(|| spec.volumes.clone()),
            open_stdin: spec.stdin.is_some().then_some(true),
            stdin_once: spec.stdin.is_some().then_some(true),
            attach_stdin: spec.stdin.is_some().then_some(true),
            ..Default::default()
        };
        let name = format!("slimctl-{}", spec.run_id);
        // Registered by name before the request: an interrupt while it is in flight still
        // finds and removes the container.
        cleanup::register(docker, &name);
        let opts = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
        let created = match docker.create_container(Some(opts), body).await {
            Ok(c) => c,
            Err(e) => {
                cleanup::remove(docker, &name).await;
                return Err(engine("creating the container", e));
            }
        };
        let c = Container { docker: docker.clone(), id: created.id, name };
        for n in spec.networks.iter().skip(1) {
            let req =
                bollard::models::NetworkConnectRequest { container: c.id.clone(), endpoint_config: Some(endpoint(n)) };
            if let Err(e) = docker.connect_network(&n.network, req).await {
                c.remove().await;
                return Err(engine(&format!("connecting the container to network {}", n.network), e));
            }
        }
        Ok(c)
    }

    /// The container's name in the engine.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The health status the engine reports ("starting", "healthy", "unhealthy"; None without
    /// a healthcheck), with the last check's output.
    pub async fn health(&self) -> Result<Option<(String, String)>, RunError> {
        let info = self.inspect().await?;
        let Some(h) = info.state.and_then(|s| s.health) else { return Ok(None) };
        let status = h.status.map(|s| s.to_string()).filter(|s| !s.is_empty() && s != "none");
        let last = h.log.and_then(|l| l.last().and_then(|r| r.output.clone())).unwrap_or_default();
        Ok(status.map(|s| (s, last.trim().to_owned())))
    }

    pub async fn start(&self) -> Result<(), RunError> {
        self.docker.start_container(&self.id, None).await.map_err(|e| match e {
            bollard::errors::Error::DockerResponseServerError { message, .. } => {
                SetupError::CannotStart { message }.into()
            }
            e => engine("starting the container", e),
        })
    }

    /// The engine's description of the container. podman's compatible API says "stopped" for a
    /// moment between the exit and its clean-up, a state Docker's API (and bollard) does not
    /// know: asked again until it says "exited".
    async fn inspect(&self) -> Result<bollard::models::ContainerInspectResponse, RunError> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match self.docker.inspect_container(&self.id, None).await {
                Err(e)
                    if e.to_string().contains("unknown variant `stopped`") && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(STOP_POLL).await
                }
                r => return r.map_err(|e| engine("inspecting the container", e)),
            }
        }
    }

    /// The host port (on 127.0.0.1) published for a container port.
    pub async fn host_port(&self, port: u16) -> Result<Option<u16>, RunError> {
        let info = self.inspect().await?;
        let ports = info.network_settings.and_then(|n| n.ports).unwrap_or_default();
        Ok(ports
            .get(&format!("{port}/tcp"))
            .and_then(|b| b.as_ref())
            .and_then(|b| b.iter().find_map(|b| b.host_port.as_deref().and_then(|p| p.parse().ok()))))
    }

    /// None while running, else the exit code.
    pub async fn exit_code(&self) -> Result<Option<i64>, RunError> {
        let info = self.inspect().await?;
        let st = info.state.unwrap_or_default();
        Ok(if st.running == Some(true) { None } else { Some(st.exit_code.unwrap_or(0)) })
    }

    /// Waits until the container exits or `timeout` passes; the exit code if it exited.
    pub async fn wait(&self, timeout: Duration) -> Result<Option<i64>, RunError> {
        let wait = async { self.wait_exit(self.init_pid().await?).await };
        match tokio::time::timeout(timeout, wait).await {
            Ok(code) => code,
            Err(_) => Ok(None),
        }
    }

    /// Stops the container: the image's stop signal (sent by kill: the engine's stop endpoint
    /// takes a signal only from API 1.42), up to `grace` for it to exit, then SIGKILL. An app
    /// that exits on the signal ends at once; one whose init does not catch the signal (or
    /// stops catching it: a handler that resets itself and re-raises) is killed without
    /// waiting out the grace, since as PID 1 of its namespace it ignores the signal.
    ///
    /// `quiet` tells how long the app has gone without touching a file (the sensor's view): a
    /// handler that reset itself may still be shutting down, and is waited for while it works.
    pub async fn stop(
        &self,
        signal: &str,
        grace: Duration,
        quiet: &(dyn Fn() -> Duration + Sync),
    ) -> Result<Stopped, RunError> {
        let started = std::time::Instant::now();
        if let Some(code) = self.exit_code().await? {
            return Ok(Stopped { how: StopKind::Exited, exit_code: Some(code), seconds: 0.0 });
        }
        let pid = self.init_pid().await?;
        // No handler: the signal would be dropped, so there is nothing to wait for.
        let how = if pid.and_then(|p| init_catches(p, signal)) == Some(false) {
            StopKind::SignalIgnored
        } else {
            let _ =
                self.docker.kill_container(&self.id, Some(KillContainerOptions { signal: signal.to_owned() })).await;
            match self.await_exit(pid, signal, grace, quiet).await {
                Ok(code) => return Ok(Stopped { how: StopKind::Signal, exit_code: code, seconds: secs(started) }),
                Err(how) => how,
            }
        };
        let _ = self.docker.kill_container(&self.id, Some(KillContainerOptions { signal: "SIGKILL".into() })).await;
        let exit_code = self.wait(Duration::from_secs(10)).await?;
        Ok(Stopped { how, exit_code, seconds: secs(started) })
    }

    /// Waits for the exit after the stop signal: its exit code when it exited within `grace`,
    /// else why it must be killed (the grace ran out, or init does not catch the signal).
    async fn await_exit(
        &self,
        pid: Option<u32>,
        signal: &str,
        grace: Duration,
        quiet: &(dyn Fn() -> Duration + Sync),
    ) -> Result<Option<i64>, StopKind> {
        let exited = self.wait_exit(pid);
        tokio::pin!(exited);
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                code = &mut exited => return Ok(code.ok().flatten()),
                _ = &mut deadline => return Err(StopKind::GraceRanOut),
                _ = tokio::time::sleep(STOP_POLL) => {
                    // The handler is gone and nothing is being read or written: the re-raised
                    // signal was dropped, and the app went back to waiting.
                    let ignoring = pid.and_then(|p| init_catches(p, signal)) == Some(false);
                    if ignoring && quiet() >= QUIET_FOR {
                        return Err(StopKind::SignalIgnored);
                    }
                }
            }
        }
    }

    /// Resolves once the container has exited, with its exit code. Docker's wait answers the
    /// moment it happens; podman's polls (up to a second late), so the init process is watched
    /// too: once it is gone, the engine's state is asked until it says so.
    /// `pid` is the init's, when the caller already asked for it.
    async fn wait_exit(&self, pid: Option<u32>) -> Result<Option<i64>, RunError> {
        let engine_wait = async {
            let mut s = self.docker.wait_container(&self.id, None::<bollard::query_parameters::WaitContainerOptions>);
            match s.next().await {
                Some(Ok(r)) => Some(r.status_code),
                // The engine reports a non-zero exit as an error carrying the code.
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Some(code),
                // The wait request itself failed: the watch below ends it.
                _ => std::future::pending().await,
            }
        };
        let watch = async {
            loop {
                match pid {
                    Some(p) if process_lives(p) => tokio::time::sleep(STOP_POLL).await,
                    _ => {
                        if let Some(code) = self.exit_code().await? {
                            return Ok(Some(code));
                        }
                        tokio::time::sleep(if pid.is_some() { STOP_POLL } else { Duration::from_millis(100) }).await;
                    }
                }
            }
        };
        tokio::select! {
            code = engine_wait => Ok(code),
            r = watch => r,
        }
    }

    /// The host pid of the container's init process, while it runs.
    pub async fn init_pid(&self) -> Result<Option<u32>, RunError> {
        let info = self.inspect().await?;
        Ok(info.state.and_then(|s| s.pid).filter(|p| *p > 0).and_then(|p| u32::try_from(p).ok()))
    }

    pub async fn remove(&self) {
        cleanup::remove(&self.docker, &self.name).await;
    }

    /// The container's output so far (stdout and stderr interleaved), at most the last `tail` lines.
    pub async fn logs(&self, tail: usize) -> String {
        logs_of(&self.docker, &self.id, tail).await
    }

    /// The container's standard output alone, at most `limit` bytes (the end is kept).
    pub async fn stdout(&self, limit: usize) -> String {
        let opts = LogsOptions { stdout: true, stderr: false, tail: "all".into(), ..Default::default() };
        let mut s = self.docker.logs(&self.id, Some(opts));
        let mut out = Vec::new();
        while let Some(Ok(chunk)) = s.next().await {
            out.extend_from_slice(&chunk.into_bytes());
            if out.len() > 2 * limit {
                out.drain(..out.len() - limit);
            }
        }
        if out.len() > limit {
            out.drain(..out.len() - limit);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }
}

/// A container's output so far (stdout and stderr interleaved), at most the last `tail` lines.
pub async fn logs_of(docker: &Docker, id: &str, tail: usize) -> String {
    let opts = LogsOptions { stdout: true, stderr: true, tail: tail.to_string(), ..Default::default() };
    let mut s = docker.logs(id, Some(opts));
    let mut out = String::new();
    while let Some(Ok(chunk)) = s.next().await {
        out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    out
}

/// How often a stopping container's init is looked at.
const STOP_POLL: Duration = Duration::from_millis(10);

/// How long an init without a handler left must have touched no file to be killed early.
const QUIET_FOR: Duration = Duration::from_millis(50);

/// How a run ended when slimctl stopped it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    /// It had exited by itself.
    #[default]
    Exited,
    /// It exited on the stop signal within the grace.
    Signal,
    /// Its init does not catch the signal, so as PID 1 it ignores it: killed without waiting.
    SignalIgnored,
    /// Still running when the grace ran out: killed.
    GraceRanOut,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Stopped {
    pub how: StopKind,
    pub exit_code: Option<i64>,
    pub seconds: f64,
}

fn secs(since: std::time::Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

/// Whether `pid` still runs (a zombie has exited: only its parent has not reaped it yet).
fn process_lives(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command's closing parenthesis.
        Ok(stat) => {
            stat.rsplit_once(')').is_some_and(|(_, rest)| !matches!(rest.trim_start().chars().next(), Some('Z' | 'X')))
        }
        Err(_) => false,
    }
}

/// Whether a live process has a handler for `signal` (None: unknown, or the process is gone or
/// exiting -- a zombie has no handlers left, but it is not ignoring anything).
fn init_catches(pid: u32, signal: &str) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let state = status.lines().find_map(|l| l.strip_prefix("State:"))?.trim_start();
    if state.starts_with('Z') || state.starts_with('X') {
        return None;
    }
    let caught = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?.trim();
    let mask = u64::from_str_radix(caught, 16).ok()?;
    let n = signal_number(signal)?;
    Some(mask & (1u64 << (n - 1)) != 0)
}

/// The number of a signal named like Docker's StopSignal ("SIGTERM", "TERM", "15").
pub fn signal_number(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let n = name.trim_start_matches("SIG");
    Some(match n {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "TERM" => 15,
        "WINCH" => 28,
        "PWR" => 30,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_lives_until_it_exits_and_a_zombie_does_not() {
        assert!(process_lives(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not reaped yet: a zombie once it exited.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while process_lives(pid) {
            assert!(std::time::Instant::now() < deadline, "true never exited");
            std::thread::sleep(Duration::from_millis(5));
        }
        child.wait().unwrap();
        assert!(!process_lives(pid));
    }

    #[test]
    fn stop_signal_names() {
        assert_eq!(signal_number("SIGTERM"), Some(15));
        assert_eq!(signal_number("QUIT"), Some(3));
        assert_eq!(signal_number("9"), Some(9));
        assert_eq!(signal_number("SIGNOPE"), None);
    }
}
