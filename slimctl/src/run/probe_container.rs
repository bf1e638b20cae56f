//! The user's own tests as the probe: a container of their test image, run once the target is
//! ready, in the target's network namespace (the app is on localhost) or, for a Compose probe
//! service, on the stack's networks (the app is reachable by its service name). Its exit code
//! and output are the probe's result; it is never traced and never slimmed.
use super::container::Container;
use super::error::{RunError, SetupError};
use super::stack::{neighbour_spec, StackUp};
use crate::compose::ServiceRun;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The test container to run against the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeContainer {
    /// What it is called: the Compose service's name, or the image as given.
    pub name: String,
    /// Its image (by id), command and settings.
    pub run: ServiceRun,
    /// Joins the stack's networks (a Compose probe service) rather than the target's network
    /// namespace.
    pub on_stack: bool,
}

/// What the test container did.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    pub name: String,
    pub image_id: String,
    pub exit_code: Option<i64>,
    /// Its output (stdout and stderr), the last 16 KiB.
    pub output: String,
    pub seconds: f64,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Output kept from a test run.
const OUTPUT_LIMIT: usize = 16 << 10;

/// Runs the test container to its end (at most `timeout`) against the running `target`.
pub async fn run(
    docker: &bollard::Docker,
    probe: &ProbeContainer,
    target: &Container,
    run_id: &str,
    stack: Option<&StackUp>,
    timeout: Duration,
) -> Result<TestResult, RunError> {
    let started = Instant::now();
    let r = &probe.run;
    let what = format!("probe container {}", probe.name);
    let (mut spec, config) = neighbour_spec(docker, r, format!("{run_id}-probe"), &what).await?;
    match stack {
        Some(up) if probe.on_stack => up.apply(&mut spec, &probe.name, r),
        _ => spec.network = Some(format!("container:{}", target.id)),
    }
    let named = |e| match e {
        RunError::Setup(source) => SetupError::Neighbour {
            what: what.clone(),
            hint: " (--probe-cmd sets its command)",
            source: Box::new(source),
        }
        .into(),
        e => e,
    };
    let c = Container::create(docker, &spec, &config).await.map_err(named)?;
    let result = async {
        c.start().await?;
        let exit_code = c.wait(timeout).await?;
        let output = tail(&c.logs(10_000).await, OUTPUT_LIMIT);
        Ok::<_, RunError>(TestResult {
            name: probe.name.clone(),
            image_id: r.image_id.clone(),
            exit_code,
            output,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
    .await;
    c.remove().await;
    result
}

fn tail(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_owned();
    }
    let mut start = s.len() - limit;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_owned()
}
