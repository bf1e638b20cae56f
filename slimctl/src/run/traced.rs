//! One traced run of the target: arm the sensor, create and start the container, exercise it
//! ([`super::exercise`]: readiness, protocol, HTTP and exec probes, or its own run to
//! completion), stop it, and return what it touched. The container is removed on every way out.
use super::container::{Container, RunSpec, Stopped};
use super::error::{ProbeError, ProbeFailure, RunError, SetupError};
use super::exec::HasShell;
use super::exercise::{exercise, Exercised};
use super::plan::ProbePlan;
use super::report::TraceReport;
use super::stack::StackUp;
use super::touched::Touched;
use crate::image::config::ImageConfig;
use sensor::{Counters, Sensor, SensorError, SensorOptions, Session, Target};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One run to trace: the image's config (the engine's description is enough), how it runs, how
/// it is exercised, and whether the image has a shell (for `--exec` strings; it may be known
/// only once the image is read).
#[derive(Clone, Copy)]
pub struct Traced<'a> {
    pub docker: &'a bollard::Docker,
    pub config: &'a ImageConfig,
    pub spec: &'a RunSpec,
    pub plan: &'a ProbePlan,
    pub has_shell: &'a HasShell,
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
pub async fn trace_run(run: Traced<'_>) -> Result<TracedRun, RunError> {
    let mut ring_size = run.plan.ring_size;
    loop {
        match trace_once(run, ring_size).await {
            Err(RunError::Sensor(SensorError::LostEvents { detail })) if ring_size < MAX_RETRY_RING => {
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

/// Every port a probe names must be one the container publishes.
fn check_probe_ports(run: Traced<'_>) -> Result<(), SetupError> {
    let ports = run.spec.tcp_ports(run.config);
    let plan = run.plan;
    let named = plan.http_probes.iter().filter_map(|p| p.port);
    let named = named.chain(plan.proto_probes.iter().map(|p| p.port)).chain(plan.tcp_probes.iter().map(|p| p.port));
    match named.collect::<BTreeSet<u16>>().into_iter().find(|p| !ports.contains(p)) {
        Some(port) => Err(SetupError::PortNotExposed { port, exposed: ports }),
        None => Ok(()),
    }
}

async fn trace_once(run: Traced<'_>, ring_size: u32) -> Result<TracedRun, RunError> {
    check_probe_ports(run)?;
    // The neighbours first, untraced: the sensor is armed for the target alone.
    let stack = match &run.spec.stack {
        Some(s) => Some(StackUp::up(run.docker, s.clone(), &run.spec.run_id, run.plan.probe_timeout).await?),
        None => None,
    };
    let mut spec = run.spec.clone();
    if let Some(up) = &stack {
        let s = up.stack();
        up.apply(&mut spec, &s.target, &s.target_run);
    }
    let result = trace_target(Traced { spec: &spec, ..run }, ring_size, stack.as_ref()).await;
    let stack_report = match stack {
        Some(up) => {
            let mut report = up.report.clone();
            report.down_seconds = up.down().await;
            Some(report)
        }
        None => None,
    };
    result.map(|mut traced| {
        traced.report.stack = stack_report;
        traced
    })
}

async fn trace_target(run: Traced<'_>, ring_size: u32, stack: Option<&StackUp>) -> Result<TracedRun, RunError> {
    // Armed before the container exists: nothing it does can precede the sensor.
    let (sensor, reused) = take_sensor(ring_size)?;
    let container = Container::create(run.docker, run.spec, run.config).await?;
    let result = drive(&container, sensor, run, stack).await;
    container.remove().await;
    result.map(|(mut traced, sensor)| {
        traced.report.sensor_reused = reused;
        if let Some(sensor) = sensor {
            give_back(ring_size, sensor);
        }
        traced
    })
}

/// What the sensor's reader collected once the run ended.
struct Collected {
    touched: Touched,
    counters: Counters,
    syscalls: BTreeSet<String>,
    /// Whether the sensor ever saw the container's processes.
    bound: bool,
    /// The sensor, reset for the next run (none when it could not be).
    sensor: Option<Sensor>,
}

/// The sensor's reader, beside the probes: it ends once told and the target's last process is
/// gone (or a grace period passed).
struct Collector {
    task: tokio::task::JoinHandle<Result<Collected, SensorError>>,
    stop: tokio::sync::oneshot::Sender<()>,
    /// When the reader last got events, in milliseconds from the start: stopping waits while
    /// the app still works.
    last_events: Arc<AtomicU64>,
    started: Instant,
}

impl Collector {
    fn start(mut session: Session, started: Instant) -> Collector {
        let (stop, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let last_events = Arc::new(AtomicU64::new(0));
        let last_seen = last_events.clone();
        let task = tokio::spawn(async move {
            let mut touched = Touched::default();
            let mut stopping: Option<Instant> = None;
            loop {
                tokio::select! {
                    evs = session.next_events() => {
                        let evs = evs?;
                        if !evs.is_empty() {
                            last_seen.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
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
            Ok(Collected { touched, counters, syscalls, bound, sensor })
        });
        Collector { task, stop, last_events, started }
    }

    /// How long the app has gone without touching a file.
    fn quiet(&self) -> Duration {
        let last = Duration::from_millis(self.last_events.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    async fn finish(self) -> Result<Result<Collected, SensorError>, RunError> {
        let _ = self.stop.send(());
        self.task.await.map_err(|source| RunError::Worker { what: "the sensor's reader", source })
    }
}

/// Prints the container's output while it runs (`--show-logs`).
fn follow_logs(c: &Container) -> tokio::task::JoinHandle<()> {
    let docker = c.docker().clone();
    let id = c.id.clone();
    tokio::spawn(async move {
        use futures_util::StreamExt;
        let opts =
            bollard::query_parameters::LogsOptions { follow: true, stdout: true, stderr: true, ..Default::default() };
        let mut s = docker.logs(&id, Some(opts));
        while let Some(Ok(chunk)) = s.next().await {
            for line in String::from_utf8_lossy(&chunk.into_bytes()).lines() {
                eprintln!("  | {line}");
            }
        }
    })
}

async fn drive(
    c: &Container,
    sensor: Sensor,
    run: Traced<'_>,
    stack: Option<&StackUp>,
) -> Result<(TracedRun, Option<Sensor>), RunError> {
    let started = Instant::now();
    let session = Session::new(sensor, Target::Container(c.id.clone()))?;
    let collector = Collector::start(session, started);
    let logs_task = run.plan.show_logs.then(|| follow_logs(c));
    let ports = run.spec.tcp_ports(run.config);
    let outcome = exercise(c, run, &ports, stack).await;
    // Whatever happened, stop the container and collect the trace before reporting.
    let stopping = Instant::now();
    let stopped = c.stop(&run.config.stop_signal(), run.plan.stop_grace, &|| collector.quiet()).await;
    let collected = collector.finish().await?;
    if let Some(t) = logs_task {
        t.abort();
    }
    let stop_seconds = stopping.elapsed().as_secs_f64();
    let logs_tail = tail_lines(&c.logs(40).await, 40);
    let stdout = if matches!(&outcome, Ok(o) if o.exited) { c.stdout(64 << 10).await } else { String::new() };
    let (done, failure) = judge(outcome, run.plan.lenient, &logs_tail)?;
    let Collected { touched, counters, syscalls, bound, sensor } = collected?;
    if !bound {
        return Err(ProbeFailure::NeverSeen.into());
    }
    let stopped = stopped?;
    let report = TraceReport {
        argv: run.spec.argv(run.config),
        stats: touched.stats(),
        counters,
        syscalls,
        exit_code: stopped.exit_code,
        logs_tail,
        stdout,
        commands: touched.commands.clone(),
        failure,
        run_seconds: started.elapsed().as_secs_f64(),
        stop_seconds,
        ..from_exercise(done, stopped)
    };
    Ok((TracedRun { report, touched }, sensor))
}

/// A probe failure under a lenient plan (verify) is the run's finding, with the run's trace;
/// otherwise it ends the run, with the container's last output.
fn judge(
    outcome: Result<Exercised, RunError>,
    lenient: bool,
    logs_tail: &str,
) -> Result<(Exercised, Option<String>), RunError> {
    match outcome {
        Ok(o) => Ok((o, None)),
        Err(RunError::Probe(e)) if lenient => Ok((Exercised::default(), Some(e.to_string()))),
        Err(RunError::Probe(ProbeError { failure, logs })) if logs.is_empty() => {
            Err(ProbeError { failure, logs: tail_lines(logs_tail, 10) }.into())
        }
        Err(e) => Err(e),
    }
}

/// The parts of the report the exercise gave.
fn from_exercise(done: Exercised, stopped: Stopped) -> TraceReport {
    TraceReport {
        ready: done.ready,
        http: done.http,
        proto: done.proto,
        exec: done.exec,
        tests: done.tests,
        after_probes: done.after_probes,
        exited_by_itself: done.exited,
        probe_seconds: done.probe_seconds,
        stopped,
        ..Default::default()
    }
}
