//! One traced run of the target: arm the sensor, create and start the container, exercise it
//! ([`super::exercise`]: readiness, protocol, HTTP and exec probes, or its own run to
//! completion), stop it, and return what it touched. The container is removed on every way out.
use super::container::{Container, RunError, RunSpec, Stopped};
use super::exec::{ExecResult, HasShell};
use super::exercise::{exercise, Exercised};
use super::http::ProbeResult;
pub use super::plan::{ContinueAfter, ProbePlan};
use super::probe_container::TestResult;
use super::proto::ProtoResult;
use super::ready::PortReady;
use super::stack::{StackReport, StackUp};
use crate::image::config::ImageConfig;
use crate::run::touched::{Touched, TraceStats};
use sensor::{Counters, Sensor, SensorError, SensorOptions, Session, Target};
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

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

/// The report of a traced run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TraceReport {
    pub argv: Vec<String>,
    pub stats: TraceStats,
    pub counters: Counters,
    pub syscalls: BTreeSet<String>,
    /// The exposed ports, once they listened, and what each speaks.
    pub ready: Vec<PortReady>,
    pub http: Vec<ProbeResult>,
    /// Protocol and line probes.
    pub proto: Vec<ProtoResult>,
    pub exec: Vec<ExecResult>,
    /// The user's test container against the target.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestResult>,
    /// The Compose stack the target ran in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<StackReport>,
    /// A service's state once probed: "running", or how it ended (verify compares it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_probes: Option<String>,
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
    /// How the run ended when stopped: by itself, on the signal, or killed.
    pub stopped: Stopped,
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

/// The largest ring buffer a run that lost events is retried with.
const MAX_RETRY_RING: u32 = 128 << 20;

/// Arms the sensor, runs the container under the plan, and returns what it touched. A run
/// whose events overflowed the ring buffer is run again with a ring four times larger: an
/// incomplete trace is never used.
pub async fn trace_run(
    docker: &bollard::Docker,
    config: &ImageConfig,
    spec: &RunSpec,
    plan: &ProbePlan,
    has_shell: &HasShell,
) -> Result<TracedRun, TraceError> {
    let mut ring_size = plan.ring_size;
    loop {
        match trace_once(docker, config, spec, plan, ring_size, has_shell).await {
            Err(TraceError::Sensor(SensorError::LostEvents { detail })) if ring_size < MAX_RETRY_RING => {
                let bigger = ring_size.saturating_mul(4).min(MAX_RETRY_RING);
                eprintln!(
                    "warning: the trace lost events ({detail}) with a {} ring buffer; running it again with {} \
                     (--ring-size sets it)",
                    crate::units::human_bytes(u64::from(ring_size)),
                    crate::units::human_bytes(u64::from(bigger))
                );
                ring_size = bigger;
            }
            r => return r,
        }
    }
}

async fn trace_once(
    docker: &bollard::Docker,
    config: &ImageConfig,
    spec: &RunSpec,
    plan: &ProbePlan,
    ring_size: u32,
    has_shell: &HasShell,
) -> Result<TracedRun, TraceError> {
    let ports = spec.tcp_ports(config);
    let probe_ports = plan.http_probes.iter().filter_map(|p| p.port);
    let probe_ports =
        probe_ports.chain(plan.proto_probes.iter().map(|p| p.port)).chain(plan.tcp_probes.iter().map(|p| p.port));
    for p in probe_ports.collect::<BTreeSet<u16>>() {
        if !ports.contains(&p) {
            let exposed: Vec<String> = ports.iter().map(|p| format!("{p}/tcp")).collect();
            return Err(RunError::Input(format!(
                "probe port {p} is not exposed by the image (exposed: {}); add --expose {p}",
                if exposed.is_empty() { "none".into() } else { exposed.join(", ") }
            ))
            .into());
        }
    }
    // The neighbours first, untraced: the sensor is armed for the target alone.
    let stack = match &spec.stack {
        Some(s) => Some(StackUp::up(docker, s.clone(), &spec.run_id, plan.probe_timeout).await?),
        None => None,
    };
    let mut spec = spec.clone();
    if let Some(up) = &stack {
        let s = up.stack();
        up.apply(&mut spec, &s.target, &s.target_run);
    }
    let result = trace_target(docker, config, &spec, plan, ring_size, has_shell, stack.as_ref()).await;
    let stack_report = match stack {
        Some(up) => {
            let mut report = up.report.clone();
            report.down_seconds = up.down().await;
            Some(report)
        }
        None => None,
    };
    result.map(|mut run| {
        run.report.stack = stack_report;
        run
    })
}

async fn trace_target(
    docker: &bollard::Docker,
    config: &ImageConfig,
    spec: &RunSpec,
    plan: &ProbePlan,
    ring_size: u32,
    has_shell: &HasShell,
    stack: Option<&StackUp>,
) -> Result<TracedRun, TraceError> {
    let ports = spec.tcp_ports(config);
    // Armed before the container exists: nothing it does can precede the sensor.
    let (sensor, reused) = take_sensor(ring_size)?;
    let container = Container::create(docker, spec, config).await?;
    let result = drive(&container, sensor, config, spec, plan, &ports, has_shell, stack).await;
    container.remove().await;
    result.map(|(mut run, sensor)| {
        run.report.sensor_reused = reused;
        if let Some(sensor) = sensor {
            give_back(ring_size, sensor);
        }
        run
    })
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    c: &Container,
    sensor: Sensor,
    config: &ImageConfig,
    spec: &RunSpec,
    plan: &ProbePlan,
    ports: &[u16],
    has_shell: &HasShell,
    stack: Option<&StackUp>,
) -> Result<(TracedRun, Option<Sensor>), TraceError> {
    let started = Instant::now();
    let mut session = Session::new(sensor, Target::Container(c.id.clone()))?;
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    // When the reader last got events, in milliseconds from `started`: stopping waits while the
    // app still works.
    let last_events = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let last_seen = last_events.clone();
    // The sensor's reader runs beside the probes; it ends once told and the target's last
    // process is gone (or a grace period passed).
    let collector = tokio::spawn(async move {
        let mut touched = Touched::default();
        let mut stopping: Option<Instant> = None;
        loop {
            tokio::select! {
                evs = session.next_events() => {
                    let evs = evs?;
                    if !evs.is_empty() {
                        last_seen.store(started.elapsed().as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                    for ev in evs { touched.add(&ev); }
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

    let outcome = exercise(c, config, spec, plan, ports, has_shell, stack).await;
    // Whatever happened, stop the container and collect the trace before reporting.
    let stopping = Instant::now();
    let quiet = || {
        let last = Duration::from_millis(last_events.load(std::sync::atomic::Ordering::Relaxed));
        started.elapsed().saturating_sub(last)
    };
    let stopped = c.stop(&config.stop_signal(), plan.stop_grace, &quiet).await;
    let _ = stop_tx.send(());
    let collected = collector.await.map_err(|e| TraceError::Probe(format!("the sensor's reader failed: {e}")))?;
    if let Some(t) = logs_task {
        t.abort();
    }
    let stop_seconds = stopping.elapsed().as_secs_f64();
    let logs_tail = tail_lines(&c.logs(40).await, 40);
    let stdout = if matches!(&outcome, Ok(o) if o.exited) { c.stdout(64 << 10).await } else { String::new() };
    let mut failure = None;
    let done = match outcome {
        Ok(o) => o,
        Err(TraceError::Probe(msg)) if plan.lenient => {
            failure = Some(msg);
            Exercised::default()
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
    let stopped = stopped?;
    let exit_code = stopped.exit_code;
    let commands = touched.commands.clone();
    Ok((
        TracedRun {
            report: TraceReport {
                argv: spec.argv(config),
                stats: touched.stats(),
                counters,
                syscalls,
                ready: done.ready,
                http: done.http,
                proto: done.proto,
                exec: done.exec,
                tests: done.tests,
                stack: None,
                after_probes: done.after_probes,
                exit_code,
                exited_by_itself: done.exited,
                logs_tail,
                stdout,
                commands,
                failure,
                run_seconds: started.elapsed().as_secs_f64(),
                probe_seconds: done.probe_seconds,
                stop_seconds,
                stopped,
                sensor_reused: false,
            },
            touched,
        },
        sensor,
    ))
}
