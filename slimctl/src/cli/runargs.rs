//! Flags shared by the commands that run the target (build, verify): how it runs and how it is
//! exercised.
use super::Failure;
use slimctl::compose::{ServiceRun, Stack};
use slimctl::run::http::{load_probe_file, HttpProbe};
use slimctl::run::probe_container::ProbeContainer;
use slimctl::run::traced::{ContinueAfter, ProbePlan};
use slimctl::run::RunSpec;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How the container runs (defaults: the image's own config). Never privileged.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Set an environment variable in the traced container (KEY=VALUE); repeatable.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", help_heading = "Run")]
    pub env: Vec<String>,
    /// Override ENTRYPOINT: a JSON array, or words split on spaces.
    #[arg(long, value_name = "CMD", help_heading = "Run")]
    pub entrypoint: Option<String>,
    /// Override CMD: a JSON array, or words split on spaces.
    #[arg(long, value_name = "CMD", help_heading = "Run")]
    pub cmd: Option<String>,
    #[arg(long, help_heading = "Run")]
    pub workdir: Option<String>,
    #[arg(long, help_heading = "Run")]
    pub user: Option<String>,
    /// Bind mount for the traced container, as docker run -v: SRC:DST[:ro]; repeatable.
    #[arg(long = "mount", value_name = "SRC:DST[:OPTS]", help_heading = "Run")]
    pub mounts: Vec<String>,
    /// Network of the traced container (default: the engine's default bridge).
    #[arg(long, conflicts_with = "compose_files", help_heading = "Run")]
    pub network: Option<String>,
    /// Publish and probe this TCP port too; repeatable.
    #[arg(long, value_name = "PORT", help_heading = "Run")]
    pub expose: Vec<u16>,
    /// Print the container's output while it runs.
    #[arg(long, help_heading = "Run")]
    pub show_logs: bool,
    /// A Compose file: the target runs in its stack, its dependencies (depends_on, with their
    /// conditions) started first on networks of slimctl's own; repeat for override files.
    #[arg(long = "compose-file", short = 'f', value_name = "FILE", help_heading = "Stack")]
    pub compose_files: Vec<PathBuf>,
    /// The Compose service to slim (default: the one no other service depends on).
    #[arg(long, value_name = "NAME", requires = "compose_files", help_heading = "Stack")]
    pub target_service: Option<String>,
    /// The resolved stack (from the Compose file, or a profile).
    #[arg(skip)]
    pub stack: Option<Arc<Stack>>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ProbeArgs {
    /// An HTTP probe: METHOD:/path, METHOD:PORT:/path, or JSON {"method", "path", "body", "headers",
    /// "port"}; repeatable (default: GET / on every exposed port).
    #[arg(long = "http-probe-cmd", value_name = "METHOD:PATH", help_heading = "Probes")]
    pub http_probes: Vec<String>,
    /// HTTP probes from a JSON or YAML file ({"probes": [{"method", "path", "body", "headers", "port"}]}).
    #[arg(long = "http-probe-file", value_name = "FILE", help_heading = "Probes")]
    pub http_probe_file: Option<PathBuf>,
    /// No HTTP probes (exposed ports are still waited for, and probed in their protocol when it is
    /// known).
    #[arg(long = "no-http-probe", help_heading = "Probes")]
    pub no_http_probe: bool,
    /// Follow same-site links and assets of HTML answers, and the pages robots.txt and
    /// sitemap.xml list (up to --crawl-limit requests). On by default.
    #[arg(long = "http-probe-crawl", hide = true, help_heading = "Probes")]
    pub crawl: bool,
    /// Do not crawl: only the HTTP probes given (or GET /).
    #[arg(long = "no-http-probe-crawl", conflicts_with = "crawl", help_heading = "Probes")]
    pub no_crawl: bool,
    #[arg(long, default_value_t = 100, help_heading = "Probes")]
    pub crawl_limit: usize,
    /// The protocol of a port that is not on its well-known number (redis 6379, postgres 5432,
    /// mysql 3306, memcached 11211): PORT:NAME; repeatable.
    #[arg(long = "probe-proto", value_name = "PORT:NAME", help_heading = "Probes")]
    pub proto_probes: Vec<slimctl::run::proto::ProtoProbe>,
    /// A line-protocol probe: send SEND to PORT and expect EXPECT in the answer
    /// ('PORT:SEND:EXPECT', escapes \r \n \t \: \xHH; empty SEND waits for a greeting); repeatable.
    #[arg(long = "tcp-probe", value_name = "PORT:SEND:EXPECT", help_heading = "Probes")]
    pub tcp_probes: Vec<slimctl::run::proto::TcpProbe>,
    /// User for protocol probes (default: the image's POSTGRES_USER, MYSQL_USER..., else the
    /// protocol's usual admin).
    #[arg(long, value_name = "NAME", help_heading = "Probes")]
    pub probe_user: Option<String>,
    /// Password for protocol probes (default: the image's POSTGRES_PASSWORD, MYSQL_ROOT_PASSWORD,
    /// REDIS_PASSWORD...).
    #[arg(
        long,
        value_name = "SECRET",
        env = "SLIMCTL_PROBE_PASSWORD",
        hide_env_values = true,
        help_heading = "Probes"
    )]
    pub probe_password: Option<String>,
    /// Database for protocol probes (default: the image's POSTGRES_DB, MYSQL_DATABASE...).
    #[arg(long, value_name = "NAME", help_heading = "Probes")]
    pub probe_database: Option<String>,
    /// Run a command inside the container while it is traced (through /bin/sh when the image has one); repeatable.
    #[arg(long = "exec", value_name = "CMD", help_heading = "Probes")]
    pub exec: Vec<String>,
    /// The user's tests as the probe: a container of IMAGE, run once the target is ready, in the
    /// target's network namespace (the app on localhost) or, with a Compose file, on the
    /// stack's network (the app by its service name). Its exit code and output are compared.
    #[arg(long, value_name = "IMAGE", conflicts_with = "probe_service", help_heading = "Probes")]
    pub probe_container: Option<String>,
    /// The command of the probe container (a JSON array, or words).
    #[arg(long, value_name = "CMD", help_heading = "Probes")]
    pub probe_cmd: Option<String>,
    /// A service of the Compose file as the probe container (its own settings and dependencies).
    #[arg(long, value_name = "NAME", requires = "compose_files", help_heading = "Probes")]
    pub probe_service: Option<String>,
    /// The resolved probe container.
    #[arg(skip)]
    pub test_container: Option<ProbeContainer>,
    /// Do not run the image's HEALTHCHECK command as a probe.
    #[arg(long, help_heading = "Probes")]
    pub no_healthcheck: bool,
    /// Seconds to wait for the app to be ready (every exposed port listening) and for each probe
    /// to succeed.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", help_heading = "Probes")]
    pub probe_timeout: u64,
    /// When tracing ends: probe, exit, timeout:SECONDS, signal (SIGUSR1). Default: probe when there
    /// is anything to probe, else exit.
    #[arg(long, value_name = "WHEN", help_heading = "Probes")]
    pub continue_after: Option<ContinueAfter>,
    /// Longest run to completion (continue-after exit) before giving up, in seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS", help_heading = "Probes")]
    pub run_timeout: u64,
    /// Seconds from the stop signal to SIGKILL, tracing all along (a shutdown that reads files
    /// is recorded); an app that exits on the signal ends at once, one whose init ignores it is
    /// killed at once.
    #[arg(long, alias = "stop-timeout", default_value = "1", value_name = "SECONDS", value_parser = parse_grace, help_heading = "Probes")]
    pub stop_grace: Duration,
    /// Sensor ring buffer in bytes (power of two); a trace that overflows it fails.
    #[arg(long, default_value_t = sensor::sensor::DEFAULT_RING_SIZE, help_heading = "Probes")]
    pub ring_size: u32,
}

fn parse_grace(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.0..=600.0).contains(&secs) {
        return Err(format!("{s} s: give 0 to 600 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn argv_arg(flag: &str, s: &str) -> Result<Vec<String>, Failure> {
    if s.trim_start().starts_with('[') {
        serde_json::from_str(s).map_err(|e| Failure::usage(format!("{flag} {s:?}: not a JSON array of strings: {e}")))
    } else {
        Ok(s.split_whitespace().map(str::to_owned).collect())
    }
}

impl RunArgs {
    /// How the target runs: the flags over its Compose service's settings over the image's.
    pub fn spec(&self, image: &slimctl::digest::Digest) -> Result<RunSpec, Failure> {
        let service = self.stack.as_ref().map(|s| &s.target_run);
        let from_service = |f: fn(&ServiceRun) -> Option<Vec<String>>| service.and_then(f);
        let mut env: Vec<String> = service.map(|s| s.env.clone()).unwrap_or_default();
        env.extend(self.env.iter().cloned());
        let mut expose = self.expose.clone();
        expose.extend(service.iter().flat_map(|s| s.ports.iter().copied()));
        Ok(RunSpec {
            image_id: image.to_string(),
            run_id: slimctl::run::run_id(),
            entrypoint: match &self.entrypoint {
                Some(s) => Some(argv_arg("--entrypoint", s)?),
                None => from_service(|s| s.entrypoint.clone()),
            },
            cmd: match &self.cmd {
                Some(s) => Some(argv_arg("--cmd", s)?),
                None => from_service(|s| s.command.clone()),
            },
            env,
            workdir: self.workdir.clone().or_else(|| service.and_then(|s| s.workdir.clone())),
            user: self.user.clone().or_else(|| service.and_then(|s| s.user.clone())),
            mounts: self.mounts.clone(),
            network: self.network.clone(),
            expose,
            stack: self.stack.clone(),
            ..Default::default()
        })
    }
}

impl ProbeArgs {
    pub fn plan(&self, show_logs: bool) -> Result<ProbePlan, Failure> {
        let mut http_probes = Vec::new();
        for p in &self.http_probes {
            http_probes.push(HttpProbe::parse(p).map_err(Failure::usage)?);
        }
        if let Some(f) = &self.http_probe_file {
            http_probes.extend(load_probe_file(f).map_err(Failure::input)?);
        }
        Ok(ProbePlan {
            http_probes,
            http: !self.no_http_probe,
            crawl: self.crawl || !self.no_crawl,
            crawl_limit: self.crawl_limit,
            exec: self.exec.iter().cloned().map(slimctl::run::exec::ExecProbe::Shell).collect(),
            test_container: self.test_container.clone(),
            proto_probes: self.proto_probes.clone(),
            tcp_probes: self.tcp_probes.clone(),
            credentials: slimctl::run::proto::Credentials {
                user: self.probe_user.clone(),
                password: self.probe_password.clone(),
                database: self.probe_database.clone(),
            },
            healthcheck: !self.no_healthcheck,
            probe_timeout: Duration::from_secs(self.probe_timeout),
            continue_after: self.continue_after.clone(),
            run_timeout: Duration::from_secs(self.run_timeout),
            stop_grace: self.stop_grace,
            show_logs,
            ring_size: self.ring_size,
            ..Default::default()
        })
    }
}
