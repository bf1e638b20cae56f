//! One traced run of the target: arm the sensor, create and start the container, exercise it
//! (HTTP probes, exec probes, or its own run to completion), stop it, and return what it
//! touched. The container is removed on every way out.
use super::container::{Container, RunError, RunSpec};
use super::exec::{self, ExecProbe, ExecResult};
use super::http::{self, HttpProbe, ProbeResult};
use crate::image::config::ImageConfig;
use crate::run::touched::{Touched, TraceStats};
use sensor::{Counters, Sensor, SensorError, SensorOptions, Session, Target};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// When tracing ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContinueAfter {
    /// Once the probes are done (the default when there are probes).
    Probe,
    /// When the container exits by itself (the default for images without probes: CLI/batch).
    Exit,
    /// This long after the probes (or the start, without probes).
    Timeout(Duration),
    /// When slimctl receives SIGUSR1.
    Signal,
}

impl std::str::FromStr for ContinueAfter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "probe" => Ok(ContinueAfter::Probe),
            "exit" => Ok(ContinueAfter::Exit),
            "signal" => Ok(ContinueAfter::Signal),
            _ => match s.strip_prefix("timeout:").map(|n| n.trim_end_matches('s').parse::<u64>()) {
                Some(Ok(n)) => Ok(ContinueAfter::Timeout(Duration::from_secs(n))),
                _ => Err(format!("--continue-after {s:?}: use probe, exit, timeout:SECONDS or signal")),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProbePlan {
    /// The user's HTTP probes; empty: GET / on every published port (unless `http` is false).
    pub http_probes: Vec<HttpProbe>,
    pub http: bool,
    pub crawl: bool,
    pub crawl_limit: usize,
    pub exec: Vec<ExecProbe>,
    pub healthcheck: bool,
    /// How long to wait for the first answer on each port.
    pub probe_timeout: Duration,
    /// Time limit of each request and each exec probe.
    pub request_timeout: Duration,
    /// None: probe if there is anything to probe, else wait for exit.
    pub continue_after: Option<ContinueAfter>,
    /// Upper bound for `exit`: a CLI image that never ends.
    pub run_timeout: Duration,
    pub stop_timeout: Duration,
    pub show_logs: bool,
    pub ring_size: u32,
    /// A run that fails under the probes still returns its trace, with `failure` set (verify:
    /// a slim image that crashes is a mismatch to explain, not an error to stop at).
    pub lenient: bool,
}

impl Default for ProbePlan {
    fn default() -> Self {
        ProbePlan {
            http_probes: Vec::new(),
            http: true,
            crawl: false,
            crawl_limit: 100,
            exec: Vec::new(),
            healthcheck: true,
            probe_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            continue_after: None,
            run_timeout: Duration::from_secs(600),
            stop_timeout: Duration::from_secs(10),
            show_logs: false,
            ring_size: sensor::sensor::DEFAULT_RING_SIZE,
            lenient: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{0}")]
    Sensor(#[from] SensorError),
    #[error(transparent)]
    Run(#[from] RunError),
    /// The target did not behave under probes: never answered, exited early, a probe could not run.
    #[error("{0}")]
    Probe(String),
}

impl ProbePlan {
    /// The same probes again, exactly: the requests `report`'s run sent (crawled pages included,
    /// as plain GETs) without crawling, and the commands it ran, as they ran. Verify runs the
    /// original and the slim image with it.
    pub fn replay(&self, report: &TraceReport) -> ProbePlan {
        let http_probes = report
            .http
            .iter()
            .map(|r| {
                let asked = self
                    .http_probes
                    .iter()
                    .find(|p| p.method == r.method && p.path == r.path && p.port.is_none_or(|q| q == r.port));
                let mut p = asked.cloned().unwrap_or_else(|| HttpProbe::get(&r.path));
                p.method = r.method.clone();
                p.port = Some(r.port);
                p
            })
            .collect();
        let exec =
            report.exec.iter().filter(|e| e.source == "exec").map(|e| ExecProbe::Argv(e.command.clone())).collect();
        ProbePlan { http_probes, exec, crawl: false, continue_after: self.continue_after.clone(), ..self.clone() }
    }
}

/// The report of a traced run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TraceReport {
    pub argv: Vec<String>,
    pub stats: TraceStats,
    pub counters: Counters,
    pub syscalls: BTreeSet<String>,
    pub http: Vec<ProbeResult>,
    pub exec: Vec<ExecResult>,
    /// The container's exit code (after our stop signal, for services).
    pub exit_code: Option<i64>,
    /// Whether the container exited by itself (CLI/batch images) rather than being stopped.
    pub exited_by_itself: bool,
    /// Last lines of the container's output.
    pub logs_tail: String,
    /// Standard output of a run to completion (up to 64 KiB), compared by verify.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    pub commands: Vec<Vec<String>>,
    /// Why the run failed under the probes (lenient runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub run_seconds: f64,
    /// From the container's start to the end of the exercise (probes, or its run to completion).
    pub probe_seconds: f64,
    /// Stopping the container and collecting the last events.
    pub stop_seconds: f64,
    /// The sensor loaded for an earlier run of this process served this one too.
    pub sensor_reused: bool,
}

/// The loaded sensor between runs: loading and verifying the eBPF programs takes a few hundred
/// milliseconds, so every run of one slimctl process (verify's runs, several targets) shares one.
static SENSOR: std::sync::Mutex<Option<(u32, Sensor)>> = std::sync::Mutex::new(None);

fn take_sensor(ring_size: u32) -> Result<(Sensor, bool), SensorError> {
    let pooled = SENSOR.lock().unwrap_or_else(|p| p.into_inner()).take();
    match pooled {
        Some((size, mut s)) if size == ring_size => {
            s.arm()?;
            Ok((s, true))
        }
        _ => Ok((Sensor::load(&SensorOptions { ring_size })?, false)),
    }
}

fn give_back(ring_size: u32, sensor: Sensor) {
    *SENSOR.lock().unwrap_or_else(|p| p.into_inner()) = Some((ring_size, sensor));
}

/// Drops the pooled sensor (detaching its programs) -- for the interrupt path.
pub fn release_sensor() {
    SENSOR.lock().unwrap_or_else(|p| p.into_inner()).take();
}

pub struct TracedRun {
    pub touched: Touched,
    pub report: TraceReport,
}

fn tail_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Arms the sensor, runs the container under the plan, and returns what it touched.
pub async fn trace_run(
    docker: &bollard::Docker,
    config: &ImageConfig,
    spec: &RunSpec,
    plan: &ProbePlan,
    has_shell: bool,
) -> Result<TracedRun, TraceError> {
    let ports = spec.tcp_ports(config);
    for p in plan.http_probes.iter().filter_map(|p| p.port) {
        if !ports.contains(&p) {
            let exposed: Vec<String> = ports.iter().map(|p| format!("{p}/tcp")).collect();
            return Err(RunError::Input(format!(
                "probe port {p} is not exposed by the image (exposed: {}); add --expose {p}",
                if exposed.is_empty() { "none".into() } else { exposed.join(", ") }
            ))
            .into());
        }
    }
    // Armed before the container exists: nothing it does can precede the sensor.
    let (sensor, reused) = take_sensor(plan.ring_size)?;
    let container = Container::create(docker, spec, config).await?;
    let result = drive(&container, sensor, config, spec, plan, &ports, has_shell).await;
    container.remove().await;
    result.map(|(mut run, sensor)| {
        run.report.sensor_reused = reused;
        if let Some(sensor) = sensor {
            give_back(plan.ring_size, sensor);
        }
        run
    })
}

async fn drive(
    c: &Container,
    sensor: Sensor,
    config: &ImageConfig,
    spec: &RunSpec,
    plan: &ProbePlan,
    ports: &[u16],
    has_shell: bool,
) -> Result<(TracedRun, Option<Sensor>), TraceError> {
    let started = Instant::now();
    let mut session = Session::new(sensor, Target::Container(c.id.clone()))?;
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The sensor's reader runs beside the probes; it ends once told and the target's last
    // process is gone (or a grace period passed).
    let collector = tokio::spawn(async move {
        let mut touched = Touched::default();
        let mut stopping: Option<Instant> = None;
        loop {
            tokio::select! {
                evs = session.next_events() => {
                    for ev in evs? { touched.add(&ev); }
                }
                _ = &mut stop_rx, if stopping.is_none() => { stopping = Some(Instant::now()); }
            }
            if let Some(t) = stopping {
                if (session.is_bound() && session.live() == 0) || t.elapsed() > Duration::from_secs(3) {
                    break;
                }
            }
        }
        for ev in session.poll_events()? {
            touched.add(&ev);
        }
        let counters = session.finish()?;
        let syscalls = session.syscalls()?;
        let bound = session.is_bound();
        // Reset for the next run; a sensor that cannot be reset is simply dropped.
        let sensor = session.into_sensor().ok();
        Ok::<_, SensorError>((touched, counters, syscalls, bound, sensor))
    });

    let logs_task = plan.show_logs.then(|| {
        let docker = c.docker().clone();
        let id = c.id.clone();
        tokio::spawn(async move {
            use futures_util::StreamExt;
            let opts = bollard::query_parameters::LogsOptions {
                follow: true,
                stdout: true,
                stderr: true,
                ..Default::default()
            };
            let mut s = docker.logs(&id, Some(opts));
            while let Some(Ok(chunk)) = s.next().await {
                for line in String::from_utf8_lossy(&chunk.into_bytes()).lines() {
                    eprintln!("  | {line}");
                }
            }
        })
    });

    let outcome = exercise(c, config, spec, plan, ports, has_shell).await;
    // Whatever happened, stop the container and collect the trace before reporting.
    let stopping = Instant::now();
    let stop_code = c.stop(&config.stop_signal(), plan.stop_timeout).await;
    let _ = stop_tx.send(());
    let collected = collector.await.map_err(|e| TraceError::Probe(format!("the sensor's reader failed: {e}")))?;
    if let Some(t) = logs_task {
        t.abort();
    }
    let stop_seconds = stopping.elapsed().as_secs_f64();
    let logs_tail = tail_lines(&c.logs(40).await, 40);
    let stdout = if matches!(&outcome, Ok((_, _, _, true))) { c.stdout(64 << 10).await } else { String::new() };
    let mut failure = None;
    let (http, exec, probe_seconds, exited_by_itself) = match outcome {
        Ok(o) => o,
        Err(TraceError::Probe(msg)) if plan.lenient => {
            failure = Some(msg);
            (Vec::new(), Vec::new(), 0.0, false)
        }
        Err(TraceError::Probe(msg)) => {
            let logs = tail_lines(&logs_tail, 10);
            let logs = if logs.trim().is_empty() { String::new() } else { format!("; its last output:\n{logs}") };
            return Err(TraceError::Probe(format!("{msg}{logs}")));
        }
        Err(e) => return Err(e),
    };
    let (touched, counters, syscalls, bound, sensor) = collected?;
    if !bound {
        return Err(TraceError::Probe(
            "the sensor never saw the container's processes start; is the engine on this machine (DOCKER_HOST must be local)?".into(),
        ));
    }
    let exit_code = stop_code?;
    let commands = touched.commands.clone();
    Ok((
        TracedRun {
            report: TraceReport {
                argv: spec.argv(config),
                stats: touched.stats(),
                counters,
                syscalls,
                http,
                exec,
                exit_code,
                exited_by_itself,
                logs_tail,
                stdout,
                commands,
                failure,
                run_seconds: started.elapsed().as_secs_f64(),
                probe_seconds,
                stop_seconds,
                sensor_reused: false,
            },
            touched,
        },
        sensor,
    ))
}

type Exercised = (Vec<ProbeResult>, Vec<ExecResult>, f64, bool);

async fn exercise(
    c: &Container,
    config: &ImageConfig,
    _spec: &RunSpec,
    plan: &ProbePlan,
    ports: &[u16],
    has_shell: bool,
) -> Result<Exercised, TraceError> {
    // Under verify, a slim image that cannot even start is a finding, not an error.
    c.start().await.map_err(|e| if plan.lenient { TraceError::Probe(e.to_string()) } else { e.into() })?;
    let probe_start = Instant::now();
    let http_ports: Vec<u16> = if plan.http { ports.to_vec() } else { Vec::new() };
    let mut http_results = Vec::new();
    let mut exec_results = Vec::new();

    let mut host_ports = BTreeMap::new();
    for &p in &http_ports {
        match c.host_port(p).await? {
            Some(hp) => {
                host_ports.insert(p, hp);
            }
            None => {
                if let Some(code) = c.exit_code().await? {
                    return Err(TraceError::Probe(format!(
                        "the container exited with code {code} before answering on port {p} (right after starting)"
                    )));
                }
                return Err(TraceError::Probe(format!("port {p} was not published by the engine")));
            }
        }
    }
    let probing = !host_ports.is_empty() || !plan.exec.is_empty();
    let bar = crate::progress::spinner("waiting for the container to answer");
    for (&port, &hp) in &host_ports {
        let probes: Vec<HttpProbe> = if plan.http_probes.is_empty() {
            vec![HttpProbe::get("/")]
        } else {
            plan.http_probes.iter().filter(|p| p.port.is_none_or(|q| q == port)).cloned().collect()
        };
        let Some(first) = probes.first().cloned() else { continue };
        // Ready when anything answers the first probe; that answer counts as its result.
        let deadline = Instant::now() + plan.probe_timeout;
        let ready = loop {
            let (f, to) = (first.clone(), plan.request_timeout);
            let r = tokio::task::spawn_blocking(move || http::call(&f, port, hp, to))
                .await
                .map_err(|e| TraceError::Probe(e.to_string()))?;
            if r.answered() {
                break r;
            }
            if let Some(code) = c.exit_code().await? {
                return Err(TraceError::Probe(format!(
                    "the container exited with code {code} before answering {} {} on port {port}",
                    first.method, first.path
                )));
            }
            if Instant::now() >= deadline {
                return Err(TraceError::Probe(format!(
                    "no answer to {} {} on port {port} within {} s (last error: {}); the app may listen on another \
                     port or need longer to start (--probe-timeout)",
                    first.method,
                    first.path,
                    plan.probe_timeout.as_secs(),
                    r.error.unwrap_or_default()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        bar.set_message(format!("probing port {port}"));
        let mut results = vec![ready];
        for p in probes.into_iter().skip(1) {
            let to = plan.request_timeout;
            results.push(
                tokio::task::spawn_blocking(move || http::call(&p, port, hp, to))
                    .await
                    .map_err(|e| TraceError::Probe(e.to_string()))?,
            );
        }
        http_results.extend(results);
    }
    if plan.crawl && !http_results.is_empty() {
        bar.set_message("crawling links");
        let (start, hp, limit, to) = (http_results.clone(), host_ports.clone(), plan.crawl_limit, plan.request_timeout);
        let crawled = tokio::task::spawn_blocking(move || http::crawl(&start, &hp, limit, to))
            .await
            .map_err(|e| TraceError::Probe(e.to_string()))?;
        http_results.extend(crawled);
    }
    for probe in &plan.exec {
        bar.set_message(format!("exec: {probe}"));
        exec_results.push(exec::run(c, probe.argv(has_shell), "exec", plan.request_timeout).await?);
    }
    if plan.healthcheck && (probing || plan.continue_after.is_some()) {
        if let Some(test) = config.healthcheck() {
            bar.set_message("healthcheck");
            exec_results.push(exec::run(c, exec::healthcheck_argv(&test), "healthcheck", plan.request_timeout).await?);
        }
    }
    let after = plan.continue_after.clone().unwrap_or(if probing { ContinueAfter::Probe } else { ContinueAfter::Exit });
    let mut exited = false;
    match after {
        ContinueAfter::Probe => {}
        ContinueAfter::Exit => {
            bar.set_message("running to completion");
            match c.wait(plan.run_timeout).await? {
                Some(_) => exited = true,
                None => {
                    return Err(TraceError::Probe(format!(
                        "the container was still running after {} s; for a service, expose its port or give probes \
                         (--http-probe-cmd, --exec); else raise --run-timeout",
                        plan.run_timeout.as_secs()
                    )))
                }
            }
        }
        ContinueAfter::Timeout(d) => {
            bar.set_message(format!("tracing for {} s more", d.as_secs()));
            exited = c.wait(d).await?.is_some();
        }
        ContinueAfter::Signal => {
            bar.set_message("tracing until SIGUSR1");
            let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
                .map_err(|e| TraceError::Probe(format!("cannot wait for SIGUSR1: {e}")))?;
            tokio::select! {
                _ = usr1.recv() => {}
                code = c.wait(Duration::from_secs(u64::MAX / 4)) => { exited = code?.is_some(); }
            }
        }
    }
    bar.finish_and_clear();
    let probe_seconds = probe_start.elapsed().as_secs_f64();
    Ok((http_results, exec_results, probe_seconds, exited))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_after_parses() {
        assert_eq!("probe".parse::<ContinueAfter>().unwrap(), ContinueAfter::Probe);
        assert_eq!("timeout:30".parse::<ContinueAfter>().unwrap(), ContinueAfter::Timeout(Duration::from_secs(30)));
        assert_eq!("timeout:5s".parse::<ContinueAfter>().unwrap(), ContinueAfter::Timeout(Duration::from_secs(5)));
        assert!("later".parse::<ContinueAfter>().unwrap_err().contains("timeout:SECONDS"));
    }
}
