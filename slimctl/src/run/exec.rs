//! Commands run inside the target container while it is traced: the user's --exec probes and
//! the image's HEALTHCHECK.
use super::container::Container;
use super::error::RunError;
use crate::engine::EngineError;
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

/// A command run inside the container as a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecProbe {
    /// The user's `--exec` string: through `/bin/sh -c` when the image has a shell, else split
    /// into words as a shell would.
    Shell(String),
    /// An exact argv: what an earlier run ran, replayed as it was.
    Argv(Vec<String>),
}

impl ExecProbe {
    /// The argv to run in an image that has (or lacks) `/bin/sh`.
    pub fn argv(&self, has_shell: bool) -> Vec<String> {
        match self {
            ExecProbe::Argv(argv) => argv.clone(),
            ExecProbe::Shell(cmd) if has_shell => vec!["/bin/sh".into(), "-c".into(), cmd.clone()],
            // Checked when the probe was given (`crate::argv`): it splits.
            ExecProbe::Shell(cmd) => crate::argv::shell_words(cmd).unwrap_or_else(|_| vec![cmd.clone()]),
        }
    }
}

/// Whether the image has `/bin/sh`, which decides how `--exec` strings run. It comes from the
/// image's index, which may still be being read while the run starts: exec probes wait for it.
#[derive(Clone)]
pub struct HasShell(futures_util::future::Shared<futures_util::future::BoxFuture<'static, bool>>);

impl HasShell {
    pub fn known(has: bool) -> HasShell {
        HasShell(futures_util::FutureExt::shared(Box::pin(std::future::ready(has))))
    }

    /// Known once `rx` gets it; false if the sender is dropped (reading the image failed,
    /// and the run's result is discarded then anyway).
    pub fn later(rx: tokio::sync::oneshot::Receiver<bool>) -> HasShell {
        HasShell(futures_util::FutureExt::shared(Box::pin(async move { rx.await.unwrap_or(false) })))
    }

    pub async fn get(&self) -> bool {
        self.0.clone().await
    }
}

impl std::fmt::Display for ExecProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecProbe::Shell(cmd) => f.write_str(cmd),
            ExecProbe::Argv(argv) => f.write_str(&display_argv(argv)),
        }
    }
}

/// An argv as a shell line a user could paste: words with spaces or quotes are single-quoted.
pub fn display_argv(argv: &[String]) -> String {
    let word = |w: &String| {
        let plain = !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
        if plain {
            w.clone()
        } else {
            format!("'{}'", w.replace('\'', "'\\''"))
        }
    };
    argv.iter().map(word).collect::<Vec<_>>().join(" ")
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
    let action = format!("running `{}` in the container", display_argv(&argv));
    let engine = |source: bollard::errors::Error| RunError::from(EngineError::failed(action.clone(), source));
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
    Ok(ExecResult {
        command: argv,
        source,
        exit_code: info.exit_code,
        output: output_tail(&String::from_utf8_lossy(&output)),
        ms: started.elapsed().as_millis() as u64,
    })
}

/// A probe's output as kept: its last 4 KiB, cut at a character boundary.
pub fn output_tail(text: &str) -> String {
    let mut start = text.len().saturating_sub(4096);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

/// Runs `attempt` until its command succeeds, the probe timeout passes or the container ends
/// (the service may still be warming up); the last attempt is what counts.
pub async fn until_success<F, Fut>(
    c: &Container,
    probe_timeout: Duration,
    mut attempt: F,
) -> Result<ExecResult, RunError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<ExecResult, RunError>>,
{
    let deadline = Instant::now() + probe_timeout;
    loop {
        let r = attempt().await?;
        if r.exit_code == Some(0) || Instant::now() >= deadline || c.exit_code().await?.is_some() {
            return Ok(r);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
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
    fn output_is_cut_to_its_last_4_kib_at_a_character_boundary() {
        assert_eq!(output_tail("short"), "short");
        let cut = output_tail(&"é".repeat(3000));
        assert_eq!(cut.len(), 4096);
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn argvs_display_as_shell_lines() {
        let argv: Vec<String> = ["/bin/sh", "-c", "ls -l /", "it's"].map(String::from).to_vec();
        assert_eq!(display_argv(&argv), r"/bin/sh -c 'ls -l /' 'it'\''s'");
    }

    #[test]
    fn exec_strings_use_the_shell_when_there_is_one_and_argvs_run_as_they_are() {
        assert_eq!(ExecProbe::Shell("ls -l /".into()).argv(true), vec!["/bin/sh", "-c", "ls -l /"]);
        assert_eq!(ExecProbe::Shell("/app --check".into()).argv(false), vec!["/app", "--check"]);
        let quoted = ExecProbe::Shell(r#"/app/cli --say "hello world""#.into());
        assert_eq!(quoted.argv(false), vec!["/app/cli", "--say", "hello world"], "split as a shell would");
        let argv: Vec<String> = ["/bin/sh", "-c", "ls -l /"].map(String::from).to_vec();
        assert_eq!(ExecProbe::Argv(argv.clone()).argv(true), argv);
        assert_eq!(ExecProbe::Argv(argv.clone()).argv(false), argv);
    }
}
