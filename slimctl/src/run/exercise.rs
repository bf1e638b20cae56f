//! Exercising the running target, step by step: start it, wait until it is ready (listening on
//! every exposed port, each port's protocol known), probe each port in its protocol, run the
//! commands, then either stop (a service) or wait for it to finish (a batch job).

use super::container::{Container, RunSpec};
use super::error::{ProbeFailure, RunError};
use super::exec::{self, ExecResult};
use super::http::{self, HttpProbe, ProbeResult};
use super::listening::Listening;
use super::plan::{ContinueAfter, ProbePlan};
use super::probe_container::{self, TestResult};
use super::proto::{self, Credentials, ProtoResult};
use super::ready::{sniff_http, PortKind, PortReady, Sniffed};
use super::stack::StackUp;
use super::traced::Traced;
use crate::image::config::ImageConfig;
use crate::run::describe_exit;
use indicatif::ProgressBar;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a port that accepted a connection may stay silent after GET / before slimctl
/// decides it does not speak HTTP.
const HTTP_SILENCE: Duration = Duration::from_secs(10);

/// How long, at least, the other exposed ports get once one port listens.
const PORT_GRACE: Duration = Duration::from_secs(5);

/// Runs a blocking probe (sockets, client crates) off the async runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, RunError> {
    tokio::task::spawn_blocking(f).await.map_err(|source| RunError::Worker { what: "a probe's worker", source })
}

/// What the exercise got.
#[derive(Debug, Default)]
pub struct Exercised {
    pub ready: Vec<PortReady>,
    pub http: Vec<ProbeResult>,
    pub proto: Vec<ProtoResult>,
    pub exec: Vec<ExecResult>,
    pub tests: Vec<TestResult>,
    pub probe_seconds: f64,
    /// The container ended by itself (a run to completion).
    pub exited: bool,
    /// For a service: whether it was still running once probed ("running", or how it ended).
    pub after_probes: Option<String>,
}

/// One port, published and ready.
struct Port {
    port: u16,
    host_port: u16,
    kind: PortKind,
}

pub async fn exercise(
    c: &Container,
    run: Traced<'_>,
    ports: &[u16],
    stack: Option<&StackUp>,
) -> Result<Exercised, RunError> {
    let (config, spec, plan, has_shell) = (run.config, run.spec, run.plan, run.has_shell);
    if let Some(feed) = &spec.stdin {
        feed.attach(c).await?;
    }
    // Under verify, a slim image that cannot even start is a finding, not an error.
    c.start().await.map_err(|e| if plan.lenient { ProbeFailure::NotStarted(Box::new(e)).into() } else { e })?;
    let started = Instant::now();
    let bar = crate::progress::spinner("waiting for the container to be ready");
    let after = plan.after(ports);
    let mut out = Exercised::default();
    let shell_probes = plan.exec.iter().any(|p| matches!(p, exec::ExecProbe::Shell(_)));
    let has_shell = shell_probes && has_shell.get().await;
    if after != ContinueAfter::Exit {
        let (ready, report) = wait_ready(c, plan, ports, started, &bar).await?;
        out.ready = report;
        out.http = http_probes(c, plan, &ready, &bar).await?;
        out.proto = proto_probes(plan, &ready, &env(config, spec), &bar).await?;
        out.exec = exec_probes(c, plan, has_shell, &bar).await?;
        let published: Vec<(u16, u16)> = ready.iter().map(|p| (p.port, p.host_port)).collect();
        out.exec.extend(super::host_exec::run_all(c, plan, &published, &bar).await?);
        if let Some(p) = &plan.test_container {
            bar.set_message(format!("probe container {}: running", p.name));
            out.tests.push(probe_container::run(c.docker(), p, c, &spec.run_id, stack, plan.run_timeout).await?);
        }
    } else {
        for probe in &plan.exec {
            out.exec.push(exec::run(c, probe.argv(has_shell), "exec", plan.request_timeout).await?);
        }
    }
    if plan.healthcheck && (after != ContinueAfter::Exit || plan.continue_after.is_some()) {
        if let Some(test) = config.healthcheck() {
            bar.set_message("healthcheck");
            out.exec.push(exec::run(c, exec::healthcheck_argv(&test), "healthcheck", plan.request_timeout).await?);
        }
    }
    if after != ContinueAfter::Exit {
        out.after_probes = Some(match c.exit_code().await? {
            None => "running".into(),
            Some(code) => describe_exit(Some(code)),
        });
    }
    out.exited = continue_after(c, plan, after, ports, &bar).await?;
    bar.finish_and_clear();
    out.probe_seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

/// The environment the container runs with: the image's, then the run's overrides.
fn env(config: &ImageConfig, spec: &RunSpec) -> Vec<String> {
    config.env().into_iter().chain(spec.env.iter().cloned()).collect()
}

/// How often readiness is checked: reading the socket table costs microseconds, and every
/// period of waiting is paid by each run.
const READY_POLL: Duration = Duration::from_millis(20);

/// Waits until every exposed port listens (or the container exits, or the probe timeout
/// passes), then learns what each speaks.
async fn wait_ready(
    c: &Container,
    plan: &ProbePlan,
    ports: &[u16],
    started: Instant,
    bar: &ProgressBar,
) -> Result<(Vec<Port>, Vec<PortReady>), RunError> {
    let deadline = started + plan.probe_timeout;
    // A replay waits for the ports the original listened on, not for the ones it never opened.
    let known: Vec<u16> = ports.iter().copied().filter(|p| plan.port_kinds.contains_key(p)).collect();
    let ports = if plan.port_kinds.is_empty() { ports } else { &known[..] };
    let mut host_ports = BTreeMap::new();
    for &p in ports {
        match c.host_port(p).await? {
            Some(hp) => host_ports.insert(p, hp),
            None => {
                if let Some(code) = c.exit_code().await? {
                    let before = format!("listening on port {p} (right after starting)");
                    return Err(ProbeFailure::Ended { code, before }.into());
                }
                return Err(ProbeFailure::NotPublished { port: p }.into());
            }
        };
    }
    let mut listening_at: BTreeMap<u16, u64> = BTreeMap::new();
    // The init process is fixed for the container's life; its /proc entry tells it still runs
    // without asking the engine on every poll.
    let pid = c.init_pid().await?;
    let watch = pid.map(Listening::of);
    while listening_at.len() < ports.len() {
        let listening = watch.as_ref().and_then(|w| w.ports().ok()).unwrap_or_default();
        for &p in ports.iter().filter(|p| listening.contains(p)) {
            listening_at.entry(p).or_insert(started.elapsed().as_millis() as u64);
        }
        if listening_at.len() == ports.len() {
            break;
        }
        let waiting: Vec<String> = ports.iter().filter(|p| !listening_at.contains_key(p)).map(u16::to_string).collect();
        let gone = pid.is_none_or(|p| !std::path::Path::new(&format!("/proc/{p}")).exists());
        if let Some(code) = if gone { c.exit_code().await? } else { None } {
            return Err(
                ProbeFailure::Ended { code, before: format!("listening on port {}", waiting.join(", ")) }.into()
            );
        }
        // An image may expose a port its app never opens (inherited from a base image): once one
        // port listens, the others get as long again as it took (5 s at least), not the whole
        // probe timeout.
        if let Some(first) = listening_at.values().min() {
            let grace = Duration::from_millis(*first).max(PORT_GRACE);
            if started.elapsed() >= Duration::from_millis(*first) + grace {
                if !plan.lenient {
                    eprintln!(
                        "slimctl: port {} is exposed but nothing listened on it ({} s after the first port); probing \
                         the ports that listen",
                        waiting.join(", "),
                        grace.as_secs()
                    );
                }
                break;
            }
        }
        if Instant::now() >= deadline {
            let ports = ports.iter().copied().filter(|p| !listening_at.contains_key(p)).collect();
            return Err(ProbeFailure::NeverListened { ports, seconds: plan.probe_timeout.as_secs() }.into());
        }
        bar.set_message(format!("waiting for port {} to listen", waiting.join(", ")));
        tokio::time::sleep(READY_POLL).await;
    }
    host_ports.retain(|p, _| listening_at.contains_key(p));
    let (mut ready, mut report) = (Vec::new(), Vec::new());
    for (port, host_port) in host_ports {
        let kind = port_kind(plan, port, host_port, bar).await?;
        ready.push(Port { port, host_port, kind });
        report.push(PortReady { port, kind, ms: listening_at[&port] });
    }
    Ok((ready, report))
}

/// What a listening port speaks: as known beforehand (a replay), as the user said, by its
/// well-known number, or by what it answers to GET /.
async fn port_kind(plan: &ProbePlan, port: u16, host_port: u16, bar: &ProgressBar) -> Result<PortKind, RunError> {
    if let Some(kind) = plan.port_kinds.get(&port) {
        return Ok(*kind);
    }
    if let Some(p) = plan.proto_probes.iter().find(|p| p.port == port) {
        return Ok(p.proto.into());
    }
    if plan.http_probes.iter().any(|p| p.port == Some(port)) || plan.http_ports.contains(&port) {
        return Ok(PortKind::Http);
    }
    if let Some(p) = proto::Proto::well_known(port) {
        if !plan.lenient {
            eprintln!("slimctl: port {port}: {p} (its well-known port); probing with {}", p.steps());
        }
        return Ok(p.into());
    }
    if !plan.http {
        return Ok(PortKind::Other);
    }
    bar.set_message(format!("port {port}: does it speak HTTP?"));
    let sniffed = blocking(move || sniff_http(host_port, HTTP_SILENCE)).await?;
    Ok(match sniffed {
        Sniffed::Http => PortKind::Http,
        Sniffed::NotHttp(why) => {
            if !plan.lenient {
                let how =
                    if plan.tcp_probes.iter().any(|t| t.port == port) { "its --tcp-probe" } else { "readiness alone" };
                eprintln!(
                    "slimctl: port {port} accepts connections but does not speak HTTP ({why}); probing it with {how} \
                     (name its protocol with --probe-proto {port}:NAME)"
                );
            }
            PortKind::Other
        }
    })
}

/// HTTP probes on the ports that speak HTTP: the first is retried until the app answers (it may
/// listen before it serves), then the rest, then the crawl.
async fn http_probes(
    c: &Container,
    plan: &ProbePlan,
    ports: &[Port],
    bar: &ProgressBar,
) -> Result<Vec<ProbeResult>, RunError> {
    let mut results = Vec::new();
    let mut host_ports = BTreeMap::new();
    let chosen = |p: &&Port| plan.http_ports.is_empty() || plan.http_ports.contains(&p.port);
    for p in ports.iter().filter(|p| p.kind == PortKind::Http).filter(chosen) {
        host_ports.insert(p.port, p.host_port);
        let (port, hp) = (p.port, p.host_port);
        // The user's probes for this port and those for any HTTP port, in their order.
        let mut probes: Vec<HttpProbe> =
            plan.http_probes.iter().filter(|h| h.port.is_none_or(|q| q == port)).cloned().collect();
        if probes.is_empty() {
            probes.push(HttpProbe::get("/"));
        }
        let Some(first) = probes.first().cloned() else { continue };
        bar.set_message(format!("waiting for port {port} to answer {} {}", first.method, first.path));
        let deadline = Instant::now() + plan.probe_timeout;
        let answered = loop {
            let (f, to) = (first.clone(), plan.request_timeout);
            let r = blocking(move || http::call(&f, port, hp, to)).await?;
            if r.answered() {
                break r;
            }
            if let Some(code) = c.exit_code().await? {
                let before = format!("answering {} {} on port {port}", first.method, first.path);
                return Err(ProbeFailure::Ended { code, before }.into());
            }
            // Under verify, the slim image's failure to answer is a finding to compare.
            if Instant::now() >= deadline && plan.lenient {
                break r;
            }
            if Instant::now() >= deadline {
                return Err(ProbeFailure::NoAnswer {
                    method: first.method.clone(),
                    path: first.path.clone(),
                    port,
                    seconds: plan.probe_timeout.as_secs(),
                    last_error: r.error.unwrap_or_default(),
                }
                .into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        bar.set_message(format!("probing port {port}"));
        results.push(answered);
        for p in probes.into_iter().skip(1) {
            let to = plan.request_timeout;
            let r = blocking(move || http::call(&p, port, hp, to)).await?;
            results.push(r);
        }
        results.extend(api_spec_probes(plan, port, hp, bar).await?);
    }
    if plan.crawl && !results.is_empty() {
        bar.set_message("crawling links");
        let (start, limit, to) = (results.clone(), plan.crawl_limit, plan.request_timeout);
        let crawled = blocking(move || http::crawl(&start, &host_ports, limit, to)).await?;
        results.extend(crawled);
    }
    Ok(results)
}

/// The requests of the app's OpenAPI spec on `port`: the file the user gave, else the spec at
/// the paths the user named, else the first found at a well-known path. What the app serves at
/// a well-known path that is no spec is a note; at a path the user named, a failure.
async fn api_spec_probes(
    plan: &ProbePlan,
    port: u16,
    hp: u16,
    bar: &ProgressBar,
) -> Result<Vec<ProbeResult>, RunError> {
    let mut results = Vec::new();
    let mut requests = plan.api_spec_requests.clone();
    let (named, paths): (bool, Vec<String>) = if !plan.api_spec_paths.is_empty() {
        (true, plan.api_spec_paths.clone())
    } else if plan.api_discovery && requests.is_empty() {
        (false, super::openapi::WELL_KNOWN.iter().map(|p| (*p).to_owned()).collect())
    } else {
        (false, Vec::new())
    };
    for path in paths {
        let (get, to) = (HttpProbe::get(&path), plan.request_timeout);
        let r = blocking(move || http::call(&get, port, hp, to)).await?;
        let found = match r.status {
            Some(200) => String::from_utf8(r.body.clone())
                .map_err(|_| super::openapi::SpecError("not UTF-8 text".into()))
                .and_then(|t| super::openapi::parse(&t))
                .and_then(|v| super::openapi::requests(&v)),
            Some(s) => Err(super::openapi::SpecError(format!("answered {s}"))),
            None => Err(super::openapi::SpecError(r.error.clone().unwrap_or_default())),
        };
        match found {
            Ok(reqs) => {
                eprintln!(
                    "slimctl: port {port}: the OpenAPI spec at {path} names {} requests; probing them",
                    reqs.len()
                );
                results.push(r);
                requests.extend(reqs);
                break;
            }
            Err(e) if named => return Err(ProbeFailure::ApiSpec { path, port, why: e.0 }.into()),
            Err(e) if r.status == Some(200) => {
                eprintln!("note: port {port}: {path} answers, but not with an OpenAPI spec ({e}); not probed from it")
            }
            Err(_) => {}
        }
    }
    if !requests.is_empty() {
        bar.set_message(format!("probing port {port} from its OpenAPI spec"));
    }
    for mut p in requests {
        p.port = Some(port);
        let to = plan.request_timeout;
        let sent = p.clone();
        let mut r = blocking(move || http::call(&p, port, hp, to)).await?;
        r.sent = Some(sent);
        results.push(r);
    }
    Ok(results)
}

/// Protocol probes (built-in protocols by port) and line probes; a server that refuses the
/// probe's login fails the run with its own words (it will not change its mind).
async fn proto_probes(
    plan: &ProbePlan,
    ports: &[Port],
    env: &[String],
    bar: &ProgressBar,
) -> Result<Vec<ProtoResult>, RunError> {
    let mut results = Vec::new();
    for p in ports {
        let Some(protocol) = p.kind.proto() else { continue };
        bar.set_message(format!("probing port {} ({protocol})", p.port));
        let creds = Credentials::resolve(protocol, &plan.credentials, env);
        let (port, hp, to, deadline) = (p.port, p.host_port, plan.request_timeout, Instant::now() + plan.probe_timeout);
        let r = blocking(move || proto::probe(protocol, port, hp, &creds, to, deadline)).await?;
        if r.guessed_login_refused && !plan.lenient {
            let answer = r.steps.first().map_or("", |s| s.answer.as_str());
            eprintln!(
                "warning: port {port} ({protocol}): the login slimctl guessed (no --probe-user, none in the image's \
                 environment) was {answer}; the probe is readiness and the handshake only (give the login with \
                 --probe-user/--probe-password to exercise queries)"
            );
        }
        if let (Some(why), false) = (&r.error, plan.lenient) {
            return Err(ProbeFailure::Protocol { proto: protocol.to_string(), port, why: why.clone() }.into());
        }
        results.push(r);
    }
    for t in &plan.tcp_probes {
        let Some(p) = ports.iter().find(|p| p.port == t.port) else { continue };
        bar.set_message(format!("probing port {} (tcp)", t.port));
        let (t, hp, to, deadline) = (t.clone(), p.host_port, plan.request_timeout, Instant::now() + plan.probe_timeout);
        let r = blocking(move || t.run(hp, to, deadline)).await?;
        results.push(r);
    }
    Ok(results)
}

/// Commands inside the container, each retried as [`exec::until_success`] says.
async fn exec_probes(
    c: &Container,
    plan: &ProbePlan,
    has_shell: bool,
    bar: &ProgressBar,
) -> Result<Vec<ExecResult>, RunError> {
    let mut results = Vec::new();
    for probe in &plan.exec {
        bar.set_message(format!("exec: {probe}"));
        let attempt = || exec::run(c, probe.argv(has_shell), "exec", plan.request_timeout);
        results.push(exec::until_success(c, plan.probe_timeout, attempt).await?);
    }
    Ok(results)
}

/// Waits as --continue-after says. Returns whether the container ended by itself.
async fn continue_after(
    c: &Container,
    plan: &ProbePlan,
    after: ContinueAfter,
    ports: &[u16],
    bar: &ProgressBar,
) -> Result<bool, RunError> {
    Ok(match after {
        ContinueAfter::Probe => false,
        ContinueAfter::Exit => {
            bar.set_message("running to completion");
            if c.wait(plan.run_timeout).await?.is_none() {
                return Err(ProbeFailure::StillRunning { seconds: plan.run_timeout.as_secs() }.into());
            }
            true
        }
        ContinueAfter::Timeout(d) => {
            bar.set_message(format!("tracing for {} s more", d.as_secs()));
            c.wait(d).await?.is_some()
        }
        ContinueAfter::Enter => until_enter(c, ports, bar).await?,
        ContinueAfter::Signal => {
            bar.set_message("tracing until SIGUSR1");
            until_usr1_or(c, std::future::pending()).await?
        }
    })
}

/// `--continue-after enter`: the app's published addresses printed, then tracing goes on while
/// the user exercises it by hand, until Enter, SIGUSR1 or the container's own end. Returns
/// whether the container ended by itself.
async fn until_enter(c: &Container, ports: &[u16], bar: &ProgressBar) -> Result<bool, RunError> {
    let mut lines = Vec::new();
    for &p in ports {
        if let Some(hp) = c.host_port(p).await? {
            lines.push(format!("  port {p}: 127.0.0.1:{hp}"));
        }
    }
    bar.suspend(|| {
        eprintln!("the app is traced; exercise it by hand{}", if lines.is_empty() { "" } else { " at:" });
        for l in &lines {
            eprintln!("{l}");
        }
        eprintln!("then press Enter (or send SIGUSR1) to end tracing");
    });
    bar.set_message("tracing until Enter");
    // A thread of its own: a read of the terminal cannot be cancelled, and tokio's stdin would
    // hold the runtime's shutdown until a line came.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        let _ = tx.send(());
    });
    until_usr1_or(c, async {
        let _ = rx.await;
    })
    .await
}

/// Waits for SIGUSR1, `other` or the container's own end; returns whether the container ended.
async fn until_usr1_or(c: &Container, other: impl std::future::Future<Output = ()>) -> Result<bool, RunError> {
    let mut usr1 =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()).map_err(ProbeFailure::Signal)?;
    Ok(tokio::select! {
        _ = other => false,
        _ = usr1.recv() => false,
        code = c.wait(Duration::from_secs(u64::MAX / 4)) => code?.is_some(),
    })
}
