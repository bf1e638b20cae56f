//! Flags shared by the commands that run the target (build, verify, profile): how it runs, the
//! stack around it, and how it is exercised.
use super::Failure;
use slimctl::pipeline::types::{
    load_api_spec, load_probe_file, ContinueAfter, Credentials, ExecProbe, HostSettings, HttpProbe, ProbePlan,
    ProtoProbe, RunTemplate, TcpProbe,
};
use slimctl::pipeline::{Prepared, StackRequest};
use std::path::PathBuf;
use std::time::Duration;

/// How the container runs (defaults: the image's own config). Never privileged.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Set an environment variable in the traced container (KEY=VALUE); repeatable.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", help_heading = "Run")]
    pub env: Vec<String>,
    /// Override ENTRYPOINT: a JSON array, or words split as a shell would.
    #[arg(long, value_name = "CMD", help_heading = "Run")]
    pub entrypoint: Option<String>,
    /// Override CMD: a JSON array, or words split as a shell would.
    #[arg(long, value_name = "CMD", help_heading = "Run")]
    pub cmd: Option<String>,
    #[arg(long, help_heading = "Run")]
    pub workdir: Option<String>,
    #[arg(long, help_heading = "Run")]
    pub user: Option<String>,
    /// Bind mount for the traced container, as docker run -v: SRC:DST[:ro]; repeatable.
    #[arg(long = "mount", alias = "volume", value_name = "SRC:DST[:OPTS]", help_heading = "Run")]
    pub mounts: Vec<String>,
    /// Environment variables from FILE (docker's env-file: KEY=VALUE lines, # comments, a bare
    /// KEY takes this shell's value).
    #[arg(long, value_name = "FILE", help_heading = "Run")]
    pub env_file: Vec<PathBuf>,
    /// A label on the containers slimctl runs (not the slim image: --set-label); repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE", help_heading = "Run")]
    pub labels: Vec<String>,
    #[arg(long, help_heading = "Run")]
    pub hostname: Option<String>,
    /// HOST:IP in the container's /etc/hosts, as docker run --add-host; repeatable.
    #[arg(long = "add-host", alias = "etc-hosts-map", value_name = "HOST:IP", help_heading = "Run")]
    pub add_hosts: Vec<String>,
    /// A DNS server for the container; repeatable.
    #[arg(long = "dns", alias = "container-dns", value_name = "IP", help_heading = "Run")]
    pub dns: Vec<String>,
    /// Also publish a port of the traced container: [IP:]HOST_PORT:CONTAINER_PORT (loopback
    /// when no IP is given); repeatable.
    #[arg(long = "publish", alias = "publish-port", value_name = "[IP:]HOST:CONTAINER", help_heading = "Run")]
    pub publish: Vec<String>,
    /// A capability the app needs (never --privileged); repeatable.
    #[arg(long = "cap-add", value_name = "CAP", help_heading = "Run")]
    pub cap_add: Vec<String>,
    /// Size of /dev/shm (e.g. 256MB).
    #[arg(long, value_name = "SIZE", value_parser = slimctl::units::parse_bytes, help_heading = "Run")]
    pub shm_size: Option<u64>,
    /// Network of the traced container (default: the engine's default bridge).
    #[arg(long, conflicts_with = "compose_files", help_heading = "Run")]
    pub network: Option<String>,
    /// Publish and probe this TCP port too; repeatable.
    #[arg(long, value_name = "PORT", help_heading = "Run")]
    pub expose: Vec<u16>,
    /// Print the container's output while it runs.
    #[arg(long, alias = "show-clogs", help_heading = "Run")]
    pub show_logs: bool,
    /// A Compose file: the target runs in its stack, its dependencies (depends_on, with their
    /// conditions) started first on networks of slimctl's own; repeat for override files.
    #[arg(long = "compose-file", short = 'f', value_name = "FILE", help_heading = "Stack")]
    pub compose_files: Vec<PathBuf>,
    /// The Compose service to slim (default: the one no other service depends on).
    #[arg(long, value_name = "NAME", requires = "compose_files", help_heading = "Stack")]
    pub target_service: Option<String>,
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
    /// Probe every endpoint of the app's OpenAPI spec (2.0, 3.0, 3.1; JSON or YAML) in this file.
    #[arg(long, value_name = "FILE", alias = "http-probe-apispec-file", help_heading = "Probes")]
    pub api_spec: Option<PathBuf>,
    /// Probe every endpoint of the OpenAPI spec the app serves at PATH (e.g. /api/openapi.json).
    #[arg(long, value_name = "PATH", alias = "http-probe-apispec", help_heading = "Probes")]
    pub api_spec_path: Vec<String>,
    /// Send HTTP probes to these ports only (default: every exposed port that speaks HTTP); each
    /// is published and taken as HTTP even when the image does not expose it. Comma-separated or
    /// repeated.
    #[arg(
        long = "http-port",
        alias = "http-probe-ports",
        value_name = "PORT",
        value_delimiter = ',',
        help_heading = "Probes"
    )]
    pub http_ports: Vec<u16>,
    /// Count an HTTP answer of this class to one of the probes asked for (the given ones, or
    /// GET /; not crawled pages nor a spec's requests) as a failed probe: exit 6. `4xx`, `5xx`;
    /// repeatable.
    #[arg(long = "http-fail-on", value_name = "CLASS", value_parser = parse_status_class, help_heading = "Probes")]
    pub http_fail_on: Vec<u16>,
    /// mint's `--http-probe-fail-on-status-4xx`: `--http-fail-on 4xx`.
    #[arg(long = "http-probe-fail-on-status-4xx", hide = true)]
    pub fail_on_4xx: bool,
    /// mint's `--http-probe-fail-on-status-5xx`: `--http-fail-on 5xx`.
    #[arg(long = "http-probe-fail-on-status-5xx", hide = true)]
    pub fail_on_5xx: bool,
    /// mint's `--http-probe-exit-on-failure` (on by default there, as here: a build whose every
    /// probe fails on the original exits 6). `false` is refused: it would slim an app no probe
    /// reached.
    #[arg(long = "http-probe-exit-on-failure", hide = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub exit_on_failure: Option<bool>,
    /// Do not ask the app for its spec at the well-known paths (/openapi.json, /swagger.json,
    /// /v3/api-docs, /swagger/v1/swagger.json), which is done when it answers HTTP and no spec is named.
    #[arg(long, help_heading = "Probes")]
    pub no_api_spec_discovery: bool,
    /// No HTTP probes (exposed ports are still waited for, and probed in their protocol when it is
    /// known).
    #[arg(long = "no-http-probe", alias = "http-probe-off", help_heading = "Probes")]
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
    pub proto_probes: Vec<ProtoProbe>,
    /// A line-protocol probe: send SEND to PORT and expect EXPECT in the answer
    /// ('PORT:SEND:EXPECT', escapes \r \n \t \: \xHH; empty SEND waits for a greeting); repeatable.
    #[arg(long = "tcp-probe", value_name = "PORT:SEND:EXPECT", help_heading = "Probes")]
    pub tcp_probes: Vec<TcpProbe>,
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
    /// Run a shell command on this host as a probe once the app is ready; it finds the app at
    /// $SLIMCTL_HOST:$SLIMCTL_PORT (or $SLIMCTL_PORT_<container port>); repeatable. Verify runs
    /// it against each image and compares exit code and output.
    #[arg(long = "host-exec", value_name = "CMD", help_heading = "Probes")]
    pub host_exec: Vec<String>,
    /// The user's tests as the probe: a container of IMAGE, run once the target is ready, in the
    /// target's network namespace (the app on localhost) or, with a Compose file, on the
    /// stack's network (the app by its service name). Its exit code and output are compared.
    #[arg(long, value_name = "IMAGE", conflicts_with = "probe_service", help_heading = "Probes")]
    pub probe_container: Option<String>,
    /// The command of the probe container (a JSON array, or words split as a shell would).
    #[arg(long, value_name = "CMD", help_heading = "Probes")]
    pub probe_cmd: Option<String>,
    /// A service of the Compose file as the probe container (its own settings and dependencies).
    #[arg(long, value_name = "NAME", requires = "compose_files", help_heading = "Probes")]
    pub probe_service: Option<String>,
    /// Do not run the image's HEALTHCHECK command as a probe.
    #[arg(long, help_heading = "Probes")]
    pub no_healthcheck: bool,
    /// Seconds to wait for the app to be ready (every exposed port listening) and for each probe
    /// to succeed.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", help_heading = "Probes")]
    pub probe_timeout: u64,
    /// When tracing ends: probe, exit, timeout:SECONDS, signal (SIGUSR1), enter (after the probes
    /// the app's addresses are printed, to exercise it by hand until Enter; needs a terminal).
    /// Default: probe when there is anything to probe, else exit.
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

/// `4xx` or `5xx`: the hundreds of the status class.
fn parse_status_class(s: &str) -> Result<u16, String> {
    match s.to_ascii_lowercase().as_str() {
        "4xx" => Ok(4),
        "5xx" => Ok(5),
        _ => Err(format!("{s:?}: give 4xx or 5xx")),
    }
}

fn parse_grace(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.0..=600.0).contains(&secs) {
        return Err(format!("{s} s: give 0 to 600 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// mint's and SlimToolkit's probe grammar, `[crawl:][PROTO:][METHOD:]PATH`, as ours with what
/// its prefixes ask: the probe, and whether to crawl from its answer.
fn mint_probe(s: &str) -> Result<(&str, bool), Failure> {
    if s.trim_start().starts_with('{') {
        return Ok((s, false));
    }
    let (s, crawl) = match s.strip_prefix("crawl:") {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    for proto in ["https:", "h2:"] {
        if s.starts_with(proto) {
            return Err(Failure::usage(format!(
                "--http-probe-cmd {s}: probes speak plain HTTP (the app's port, inside the run); drop {proto}"
            )));
        }
    }
    let s = s.strip_prefix("http:").or_else(|| s.strip_prefix("h2c:")).unwrap_or(s);
    Ok((s, crawl))
}

/// docker's env-file: KEY=VALUE lines; `#` comments and blank lines skipped; a bare KEY takes
/// the value this process has (and is skipped when it has none).
fn env_file(path: &std::path::Path) -> Result<Vec<String>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("--env-file {}: cannot read it: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, _)) if !k.is_empty() && !k.contains(char::is_whitespace) => out.push(line.to_owned()),
            Some(_) => {
                return Err(Failure::input(format!(
                    "--env-file {}: line {}: expected KEY=VALUE",
                    path.display(),
                    n + 1
                )))
            }
            None => out.extend(std::env::var(line.trim()).ok().map(|v| format!("{}={v}", line.trim()))),
        }
    }
    Ok(out)
}

/// A command flag's value: a JSON array, or words split as a shell would.
pub fn argv_arg(flag: &str, s: &str) -> Result<Vec<String>, Failure> {
    slimctl::argv::command(s).map_err(|e| Failure::usage(format!("{flag} {e}")))
}

impl RunArgs {
    /// How the target runs (before its image is known), in the stack `prepared` resolved.
    pub fn template(&self, probes: &ProbeArgs, prepared: &Prepared) -> Result<RunTemplate, Failure> {
        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(env_file(f)?);
        }
        env.extend(self.env.iter().cloned());
        Ok(RunTemplate {
            entrypoint: self.entrypoint.as_deref().map(|s| argv_arg("--entrypoint", s)).transpose()?,
            cmd: self.cmd.as_deref().map(|s| argv_arg("--cmd", s)).transpose()?,
            env,
            host: self.host_settings()?,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            mounts: self.mounts.clone(),
            network: self.network.clone(),
            expose: self.expose.iter().chain(&probes.http_ports).copied().collect(),
            stack: prepared.stack.clone(),
        })
    }

    /// The container settings beyond the config; what cannot mean anything is refused now.
    fn host_settings(&self) -> Result<HostSettings, Failure> {
        for l in &self.labels {
            let key = l
                .split_once('=')
                .map(|(k, _)| k)
                .ok_or_else(|| Failure::usage(format!("--label {l}: expected KEY=VALUE")))?;
            if key == "slimctl" || key.starts_with("slimctl.") {
                return Err(Failure::usage(format!(
                    "--label {l}: `{key}` is the label slimctl finds its own containers by (to remove them); choose another key"
                )));
            }
        }
        for h in &self.add_hosts {
            if !h.contains(':') {
                return Err(Failure::usage(format!("--add-host {h}: expected HOST:IP")));
            }
        }
        for p in &self.publish {
            let parts: Vec<&str> = p.rsplitn(3, ':').collect();
            let ok = parts.len() >= 2
                && parts[..2].iter().all(|n| n.split('/').next().is_some_and(|n| n.parse::<u16>().is_ok()));
            if !ok {
                return Err(Failure::usage(format!("--publish {p}: expected [IP:]HOST_PORT:CONTAINER_PORT")));
            }
        }
        Ok(HostSettings {
            labels: self.labels.clone(),
            hostname: self.hostname.clone(),
            extra_hosts: self.add_hosts.clone(),
            dns: self.dns.clone(),
            publish: self.publish.clone(),
            cap_add: self.cap_add.clone(),
            shm_size: self.shm_size.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
        })
    }

    /// The stack and probe container these flags and `probes` name.
    pub fn stack_request(&self, probes: &ProbeArgs) -> Result<StackRequest, Failure> {
        if probes.probe_cmd.is_some() && probes.probe_container.is_none() && probes.probe_service.is_none() {
            return Err(Failure::usage("--probe-cmd is the command of --probe-container or --probe-service: give one"));
        }
        Ok(StackRequest {
            compose_files: self.compose_files.clone(),
            target_service: self.target_service.clone(),
            probe_service: probes.probe_service.clone(),
            probe_container: probes.probe_container.clone(),
            probe_cmd: probes.probe_cmd.as_deref().map(|c| argv_arg("--probe-cmd", c)).transpose()?,
        })
    }
}

impl ProbeArgs {
    /// The status classes (4, 5) whose answers count as failed probes.
    pub fn fail_on_classes(&self) -> Vec<u16> {
        let mut v = self.http_fail_on.clone();
        v.extend(self.fail_on_4xx.then_some(4));
        v.extend(self.fail_on_5xx.then_some(5));
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Refuses what these flags cannot mean here, before anything is built or run.
    pub fn check(&self) -> Result<(), Failure> {
        use std::io::IsTerminal;
        if self.exit_on_failure == Some(false) {
            return Err(Failure::usage(
                "--http-probe-exit-on-failure=false: slimctl does not slim an app none of whose probes answered \
                 (nothing would show what it needs); fix the probes, or use --no-http-probe and another probe",
            ));
        }
        if self.continue_after == Some(ContinueAfter::Enter) && !std::io::stdin().is_terminal() {
            return Err(Failure::usage(
                "--continue-after enter waits for Enter on a terminal, and stdin is not one: in a script use \
                 --continue-after signal (then `kill -USR1` slimctl) or timeout:SECONDS",
            ));
        }
        Ok(())
    }

    /// The probes, with the probe container `prepared` resolved.
    pub fn plan(&self, show_logs: bool, prepared: &Prepared) -> Result<ProbePlan, Failure> {
        self.check()?;
        let mut http_probes = Vec::new();
        let mut crawl_asked = false;
        for p in &self.http_probes {
            let (p, crawl) = mint_probe(p)?;
            crawl_asked |= crawl;
            http_probes.push(HttpProbe::parse(p).map_err(Failure::usage)?);
        }
        if let Some(f) = &self.http_probe_file {
            http_probes.extend(load_probe_file(f).map_err(Failure::input)?);
        }
        for e in &self.exec {
            // Split as a shell would where the image has no shell: it must split.
            slimctl::argv::shell_words(e).map_err(|e| Failure::usage(format!("--exec {e}")))?;
        }
        let api_spec_requests = match &self.api_spec {
            Some(f) => load_api_spec(f).map_err(Failure::input)?,
            None => Vec::new(),
        };
        if let Some(p) = self.api_spec_path.iter().find(|p| !p.starts_with('/')) {
            return Err(Failure::usage(format!("--api-spec-path {p}: a path on the app starts with /")));
        }
        Ok(ProbePlan {
            http_probes,
            http: !self.no_http_probe,
            api_spec_requests,
            api_spec_paths: self.api_spec_path.clone(),
            api_discovery: !self.no_api_spec_discovery,
            crawl: self.crawl || crawl_asked || !self.no_crawl,
            crawl_limit: self.crawl_limit,
            exec: self.exec.iter().cloned().map(ExecProbe::Shell).collect(),
            http_ports: self.http_ports.clone(),
            host_exec: self.host_exec.clone(),
            test_container: prepared.test_container.clone(),
            proto_probes: self.proto_probes.clone(),
            tcp_probes: self.tcp_probes.clone(),
            credentials: Credentials {
                user: self.probe_user.clone(),
                password: self.probe_password.clone(),
                database: self.probe_database.clone(),
                guessed: false,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `--cmd 'bash -c "echo hello world"'` runs bash with the script `echo hello world`, as a
    /// shell would have split it; `--entrypoint` and `--probe-cmd` split the same way.
    #[test]
    fn command_flags_split_as_a_shell_would() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            run: RunArgs,
            #[command(flatten)]
            probes: ProbeArgs,
        }
        let f = Flags::try_parse_from([
            "t",
            "--cmd",
            r#"bash -c "echo hello world""#,
            "--entrypoint",
            "/usr/bin/env 'A B=1'",
            "--probe-container",
            "tests:1",
            "--probe-cmd",
            r#"pytest -k "not slow""#,
        ])
        .unwrap();
        let t = f.run.template(&f.probes, &Prepared::default()).unwrap();
        assert_eq!(t.cmd.unwrap(), ["bash", "-c", "echo hello world"]);
        assert_eq!(t.entrypoint.unwrap(), ["/usr/bin/env", "A B=1"]);
        let req = f.run.stack_request(&f.probes).unwrap();
        assert_eq!(req.probe_cmd.unwrap(), ["pytest", "-k", "not slow"]);
        assert_eq!(mint_probe("crawl:http:GET:/api").unwrap(), ("GET:/api", true));
        assert_eq!(mint_probe("POST:/x").unwrap(), ("POST:/x", false));
        assert!(mint_probe("https:GET:/").is_err());
        let bad = Flags::try_parse_from(["t", "--cmd", r#"bash -c "echo"#]).unwrap();
        let err = bad.run.template(&bad.probes, &Prepared::default()).unwrap_err();
        assert!(err.message.contains("--cmd") && err.message.contains("unbalanced quotes"), "{}", err.message);
    }
}
