//! Commands run inside the target container while it is traced: the user's --exec probes and
//! the image's HEALTHCHECK.
use super::container::{Container, RunError};
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize)]
pub struct ExecResult {
    pub command: Vec<String>,
    /// Where it came from: "exec" (--exec) or "healthcheck".
    pub source: &'static str,
    pub exit_code: Option<i64>,
    /// Output (stdout and stderr), cut to its last 4 KiB.
    pub output: String,
    pub ms: u64,
}

/// The argv for a user's --exec string: through /bin/sh when the image has one.
pub fn shell_argv(cmd: &str, has_shell: bool) -> Vec<String> {
    if has_shell {
        vec!["/bin/sh".into(), "-c".into(), cmd.into()]
    } else {
        cmd.split_whitespace().map(str::to_owned).collect()
    }
}

/// The argv of a HEALTHCHECK test (["CMD", ...] or ["CMD-SHELL", "..."]).
pub fn healthcheck_argv(test: &[String]) -> Vec<String> {
    match test.first().map(String::as_str) {
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
        _ => test[1..].to_vec(),
    }
}

pub async fn run(
    c: &Container,
    argv: Vec<String>,
    source: &'static str,
    timeout: Duration,
) -> Result<ExecResult, RunError> {
    let started = Instant::now();
    let engine = |e: bollard::errors::Error| RunError::Engine(format!("running {argv:?} in the container: {e}"));
    let exec = c
        .docker()
        .create_exec(
            &c.id,
            CreateExecOptions {
                cmd: Some(argv.clone()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(engine)?;
    let mut output = Vec::new();
    if let StartExecResults::Attached { output: mut stream, .. } =
        c.docker().start_exec(&exec.id, None).await.map_err(engine)?
    {
        let read = async {
            while let Some(Ok(chunk)) = stream.next().await {
                output.extend_from_slice(&chunk.into_bytes());
                if output.len() > 1 << 20 {
                    output.drain(..output.len() - (64 << 10));
                }
            }
        };
        if tokio::time::timeout(timeout, read).await.is_err() {
            return Ok(ExecResult {
                command: argv,
                source,
                exit_code: None,
                output: format!("(still running after {} s)", timeout.as_secs()),
                ms: started.elapsed().as_millis() as u64,
            });
        }
    }
    let info = c.docker().inspect_exec(&exec.id).await.map_err(engine)?;
    let text = String::from_utf8_lossy(&output);
    let tail: String = if text.len() > 4096 {
        let mut start = text.len() - 4096;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_owned()
    } else {
        text.into_owned()
    };
    Ok(ExecResult {
        command: argv,
        source,
        exit_code: info.exit_code,
        output: tail,
        ms: started.elapsed().as_millis() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthcheck_forms() {
        let cmd = vec!["CMD".to_owned(), "/app/check".to_owned(), "--quick".to_owned()];
        assert_eq!(healthcheck_argv(&cmd), vec!["/app/check", "--quick"]);
        let sh = vec!["CMD-SHELL".to_owned(), "curl -f localhost || exit 1".to_owned()];
        assert_eq!(healthcheck_argv(&sh), vec!["/bin/sh", "-c", "curl -f localhost || exit 1"]);
    }

    #[test]
    fn exec_strings_use_the_shell_when_there_is_one() {
        assert_eq!(shell_argv("ls -l /", true), vec!["/bin/sh", "-c", "ls -l /"]);
        assert_eq!(shell_argv("/app --check", false), vec!["/app", "--check"]);
    }
}
