//! `--host-exec`: the user's own commands, run on this host (not in the container) once the
//! app is ready, as a probe: a client the image does not hold, a script of requests. Each runs
//! through `sh -c` and learns where the app is from its environment:
//! `SLIMCTL_HOST` (127.0.0.1), `SLIMCTL_PORT` (the first published port's host port),
//! `SLIMCTL_PORT_<container port>` for each, and `SLIMCTL_CONTAINER` (the container's id).
//! Like `--exec`, a command is retried until it succeeds or the probe timeout passes; its exit
//! code and output are compared by verify, which runs it again against each image.

use super::container::Container;
use super::error::{ProbeFailure, RunError};
use super::exec::{output_tail, ExecResult};
use super::plan::ProbePlan;
use indicatif::ProgressBar;
use std::time::{Duration, Instant};

/// How results of host commands are told apart from `--exec`'s.
pub const SOURCE: &str = "host-exec";

/// Runs every `--host-exec` command of `plan`; `published` pairs container and host ports.
pub async fn run_all(
    c: &Container,
    plan: &ProbePlan,
    published: &[(u16, u16)],
    bar: &ProgressBar,
) -> Result<Vec<ExecResult>, RunError> {
    let mut results = Vec::new();
    for command in &plan.host_exec {
        bar.set_message(format!("host-exec: {command}"));
        let attempt = || run_one(c, command, published, plan.request_timeout);
        results.push(super::exec::until_success(c, plan.probe_timeout, attempt).await?);
    }
    Ok(results)
}

/// The environment that tells a command where the app is.
pub fn environment(container: &str, published: &[(u16, u16)]) -> Vec<(String, String)> {
    let mut env =
        vec![("SLIMCTL_HOST".to_owned(), "127.0.0.1".to_owned()), ("SLIMCTL_CONTAINER".into(), container.into())];
    if let Some((_, hp)) = published.first() {
        env.push(("SLIMCTL_PORT".into(), hp.to_string()));
    }
    env.extend(published.iter().map(|(p, hp)| (format!("SLIMCTL_PORT_{p}"), hp.to_string())));
    env
}

async fn run_one(
    c: &Container,
    command: &str,
    published: &[(u16, u16)],
    timeout: Duration,
) -> Result<ExecResult, RunError> {
    let started = Instant::now();
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(environment(&c.id, published))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RunError::from(ProbeFailure::HostExec { command: command.to_owned(), source }))?;
    let (exit_code, output) = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (out.status.code().map(i64::from), output_tail(&text))
        }
        Ok(Err(source)) => return Err(ProbeFailure::HostExec { command: command.to_owned(), source }.into()),
        Err(_) => (None, format!("(still running after {} s)", timeout.as_secs())),
    };
    Ok(ExecResult {
        command: vec![command.to_owned()],
        source: SOURCE,
        exit_code,
        output,
        ms: started.elapsed().as_millis() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_learns_where_the_app_is() {
        let env = environment("abc", &[(8080, 49153), (9000, 49154)]);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("SLIMCTL_HOST"), Some("127.0.0.1"));
        assert_eq!(get("SLIMCTL_PORT"), Some("49153"));
        assert_eq!(get("SLIMCTL_PORT_9000"), Some("49154"));
        assert_eq!(get("SLIMCTL_CONTAINER"), Some("abc"));
    }
}
