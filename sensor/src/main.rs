//! `sensor`: slimctl's file-access tracer on its own, for debugging and for use outside slimctl.
//!
//!   sensor trace [OPTIONS] -- CMD [ARGS...]   run CMD in a fresh mount namespace, trace it and
//!                                             every descendant; exits with CMD's exit code
//!   sensor container [OPTIONS] ID            trace a running container until it stops (or Ctrl-C)
//!
//! Events go to stdout (or --output) as JSON lines, a summary to stderr. If the sensor itself
//! fails (privileges, load, lost events) it exits 125 with the reason.
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use sensor::event::Event;
use sensor::summary::Summary;
use sensor::{preflight, Sensor, SensorOptions, Session, Target};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};

/// Exit code when the sensor itself fails (as `docker run` and `env` do).
const SENSOR_FAILED: i32 = 125;

#[derive(Parser)]
#[command(name = "sensor", version, about = "eBPF file-access tracer scoped to one mount namespace")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a command in a fresh mount namespace and trace it and all its descendants.
    Trace {
        #[command(flatten)]
        out: OutputArgs,
        /// The command and its arguments.
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
    /// Trace a running container (Docker) until it stops or Ctrl-C.
    Container {
        #[command(flatten)]
        out: OutputArgs,
        /// Container id or name.
        id: String,
    },
}

#[derive(Args)]
struct OutputArgs {
    /// Write events (JSON lines) here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Do not print events, only the summary.
    #[arg(long)]
    no_events: bool,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Ring-buffer size in bytes (power of two, >= 4096).
    #[arg(long, default_value_t = sensor::sensor::DEFAULT_RING_SIZE)]
    ring_size: u32,
}

fn main() {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sensor: error: starting the runtime: {e}");
            std::process::exit(SENSOR_FAILED);
        }
    };
    let code = match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sensor: error: {e:#}");
            SENSOR_FAILED
        }
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.cmd {
        Cmd::Trace { out, command } => trace(out, command).await,
        Cmd::Container { out, id } => container(out, id).await,
    }
}

struct Sink {
    events: Option<Box<dyn Write>>,
    summary: Summary,
}

impl Sink {
    fn new(args: &OutputArgs) -> anyhow::Result<Sink> {
        let events: Option<Box<dyn Write>> = if args.no_events {
            None
        } else if let Some(p) = &args.output {
            let f = std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            Some(Box::new(std::io::BufWriter::with_capacity(1 << 16, f)))
        } else {
            Some(Box::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout())))
        };
        Ok(Sink { events, summary: Summary::default() })
    }

    fn put(&mut self, evs: &[Event]) -> anyhow::Result<()> {
        for ev in evs {
            self.summary.add(ev);
            if let Some(w) = &mut self.events {
                serde_json::to_writer(&mut *w, ev)?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn close(mut self, args: &OutputArgs, session: &mut Session, started: Instant) -> anyhow::Result<Summary> {
        if let Some(w) = &mut self.events {
            w.flush().context("writing events")?;
        }
        self.summary.counters = session.finish()?;
        self.summary.syscalls = session.syscalls()?;
        self.summary.duration_ms = started.elapsed().as_millis() as u64;
        if let Some(p) = &args.summary_json {
            std::fs::write(p, serde_json::to_vec_pretty(&self.summary)?)
                .with_context(|| format!("writing {}", p.display()))?;
        }
        eprintln!("{}", self.summary.human());
        Ok(self.summary)
    }
}

async fn trace(args: OutputArgs, command: Vec<String>) -> anyhow::Result<i32> {
    let started = Instant::now();
    let sensor = Sensor::load(&SensorOptions { ring_size: args.ring_size })?;
    let mut sink = Sink::new(&args)?;
    let mut child = sensor::spawn::spawn_held(&command)?;
    // The child's namespace exists now and the child has done nothing traced yet: what the ring
    // holds of the same namespace number from before is of one freed earlier (another trace's).
    let born = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).context("reading the clock")?;
    let pid = child.pid;
    let ns = preflight::mnt_ns_of(&pid.to_string()).context("reading the command's mount namespace")?;
    let mut session = Session::new(sensor, Target::Namespace(ns))?;
    session.ignore_before(born.tv_sec() as u64 * 1_000_000_000 + born.tv_nsec() as u64);
    session.adopt(pid.as_raw() as u32, ns)?;
    child.release()?;

    let mut waiter = tokio::task::spawn_blocking(move || waitpid(pid, None));
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut status: Option<i32> = None;
    let mut interrupts = 0;
    let mut told_waiting = false;

    loop {
        tokio::select! {
            evs = session.next_events() => sink.put(&evs?)?,
            res = &mut waiter, if status.is_none() => {
                status = Some(match res? {
                    Ok(WaitStatus::Exited(_, c)) => c,
                    Ok(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
                    Ok(_) => 0,
                    Err(e) => anyhow::bail!("waiting for the command: {e}"),
                });
            }
            _ = sigint.recv() => { interrupts += 1; let _ = kill(pid, Signal::SIGINT); }
            _ = sigterm.recv() => { interrupts += 1; let _ = kill(pid, Signal::SIGTERM); }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        if status.is_some() {
            // The command's exit event was emitted before its parent could reap it; once
            // drained, only descendants it left running keep the trace open.
            sink.put(&session.poll_events()?)?;
            if session.live() == 0 || interrupts >= 2 {
                break;
            }
            if !told_waiting {
                eprintln!(
                    "sensor: the command exited; still tracing {} process(es) it left running (Ctrl-C twice to stop)",
                    session.live()
                );
                told_waiting = true;
            }
        }
    }
    sink.put(&session.poll_events()?)?;
    let code = status.unwrap_or(0);
    if code == 127 && sink.summary.execs == 0 {
        eprintln!("sensor: could not execute {:?}", command[0]);
    }
    let mut summary = sink.close(&args, &mut session, started)?;
    summary.exit_code = Some(code);
    Ok(code)
}

async fn container(args: OutputArgs, id: String) -> anyhow::Result<i32> {
    let started = Instant::now();
    let docker = bollard::Docker::connect_with_defaults().context("connecting to the Docker engine")?;
    let docker = tokio::time::timeout(Duration::from_secs(15), docker.negotiate_version())
        .await
        .map_err(|_| anyhow::anyhow!("the Docker engine did not answer within 15 s (is dockerd running?)"))?
        .context("the Docker engine is not reachable (is dockerd running? is DOCKER_HOST right?)")?;
    let info = match docker.inspect_container(&id, None).await {
        Ok(i) => i,
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
            anyhow::bail!("no such container: {id} (see `docker ps`)")
        }
        Err(e) => return Err(e).context(format!("inspecting container {id}")),
    };
    let state = info.state.unwrap_or_default();
    let init = match (state.running, state.pid) {
        (Some(true), Some(p)) if p > 0 => p as u32,
        _ => anyhow::bail!(
            "container {id} is not running; start it first, or use `slimctl build` to trace from its start"
        ),
    };
    let sensor = Sensor::load(&SensorOptions { ring_size: args.ring_size })?;
    let mut sink = Sink::new(&args)?;
    let ns = preflight::mnt_ns_of(&init.to_string()).with_context(|| format!("reading /proc/{init}/ns/mnt"))?;
    let mut session = Session::new(sensor, Target::Namespace(ns))?;
    // Bound first, then adopt what already runs: a process forked in between is caught by the
    // kernel's namespace check on fork; the second scan catches one that exec'd.
    for _ in 0..2 {
        for pid in pids_in_namespace(ns) {
            session.adopt(pid, ns)?;
        }
    }
    eprintln!("sensor: tracing container {id} ({} processes); Ctrl-C to stop", session.live());

    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            evs = session.next_events() => sink.put(&evs?)?,
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        if session.exited().contains_key(&init) {
            break;
        }
    }
    sink.put(&session.poll_events()?)?;
    sink.close(&args, &mut session, started)?;
    Ok(0)
}

fn pids_in_namespace(ns: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| preflight::mnt_ns_of(&pid.to_string()).ok() == Some(ns))
        .collect()
}
