//! A Compose stack around the target, through the Engine API: networks and named volumes of
//! slimctl's own, the target's dependencies started in order with the conditions they declare
//! waited for, then everything removed. Every run gets a fresh stack (fresh volumes: a database
//! starts empty each time), so the runs verify compares start from the same state. Nothing here
//! is traced: the sensor follows the target's container only.
use super::cleanup::{self, Created};
use super::container::{Container, NetworkAttach, RunSpec};
use super::describe_exit;
use super::error::{ProbeError, ProbeFailure, RunError, SetupError};
use crate::compose::{Condition, Dependency, MountKind, ServiceRun, Stack};
use crate::engine::EngineError;
use crate::image::source::engine::EngineImage;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How often a dependency's state is asked while waiting for it.
const POLL: Duration = Duration::from_millis(100);

/// How often slimctl runs a starting dependency's healthcheck command itself.
const OWN_CHECK: Duration = Duration::from_millis(250);

/// What starting and removing the stack took.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StackReport {
    pub project: String,
    pub services: Vec<ServiceReport>,
    /// From the first network created to the target's dependencies met.
    pub up_seconds: f64,
    pub down_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceReport {
    pub name: String,
    pub image: String,
    /// When it started, from the start of the stack.
    pub started_ms: u64,
}

/// A started dependency.
struct Started {
    name: String,
    container: Container,
    /// Its healthcheck's command (the Compose file's, else the image's), for slimctl's own checks.
    health_test: Option<Vec<String>>,
    health_timeout: Duration,
}

/// A running stack.
pub struct StackUp {
    docker: bollard::Docker,
    stack: std::sync::Arc<Stack>,
    networks: BTreeMap<String, String>,
    volumes: BTreeMap<String, String>,
    containers: Vec<Started>,
    created: Vec<Created>,
    started: Instant,
    pub report: StackReport,
}

impl StackUp {
    /// Creates the networks and volumes, and starts the dependencies of the target (and of the
    /// probe service) in order, each once the services it depends on meet their condition.
    /// Whatever was created is removed again if this fails.
    pub async fn up(
        docker: &bollard::Docker,
        stack: std::sync::Arc<Stack>,
        run_id: &str,
        timeout: Duration,
    ) -> Result<StackUp, RunError> {
        let mut up = StackUp {
            docker: docker.clone(),
            stack: stack.clone(),
            networks: BTreeMap::new(),
            volumes: BTreeMap::new(),
            containers: Vec::new(),
            created: Vec::new(),
            started: Instant::now(),
            report: StackReport { project: stack.project.clone(), ..Default::default() },
        };
        match up.start_all(run_id, timeout).await {
            Ok(()) => Ok(up),
            Err(e) => {
                up.down().await;
                Err(e)
            }
        }
    }

    async fn start_all(&mut self, run_id: &str, timeout: Duration) -> Result<(), RunError> {
        let labels = cleanup::labels(run_id);
        let stack = self.stack.clone();
        for n in &stack.networks {
            let name = match &n.external {
                Some(name) => name.clone(),
                None => {
                    let name = format!("slimctl-{run_id}-{}", n.key);
                    let req = bollard::models::NetworkCreateRequest {
                        name: name.clone(),
                        driver: Some("bridge".into()),
                        labels: Some(labels.clone()),
                        ..Default::default()
                    };
                    self.register(Created::Network(name.clone()));
                    self.docker
                        .create_network(req)
                        .await
                        .map_err(|e| engine(&format!("creating network {name}"), e))?;
                    name
                }
            };
            self.networks.insert(n.key.clone(), name);
        }
        for v in &stack.volumes {
            let name = match &v.external {
                Some(name) => name.clone(),
                None => {
                    let name = format!("slimctl-{run_id}-{}", v.key);
                    let req = bollard::models::VolumeCreateRequest {
                        name: Some(name.clone()),
                        labels: Some(labels.clone()),
                        ..Default::default()
                    };
                    self.register(Created::Volume(name.clone()));
                    self.docker.create_volume(req).await.map_err(|e| engine(&format!("creating volume {name}"), e))?;
                    name
                }
            };
            self.volumes.insert(v.key.clone(), name);
        }
        for s in &stack.services {
            self.wait_for(&s.depends, &s.name, timeout).await?;
            let bar = crate::progress::spinner(&format!("stack: starting {}", s.name));
            let started = self.start_service(&s.name, &s.run, run_id).await;
            bar.finish_and_clear();
            self.containers.push(started?);
            self.report.services.push(ServiceReport {
                name: s.name.clone(),
                image: s.run.image.clone(),
                started_ms: self.started.elapsed().as_millis() as u64,
            });
        }
        self.wait_for(&stack.target_depends, &stack.target, timeout).await?;
        self.report.up_seconds = self.started.elapsed().as_secs_f64();
        Ok(())
    }

    fn register(&mut self, what: Created) {
        cleanup::register_resource(&self.docker, what.clone());
        self.created.push(what);
    }

    async fn start_service(&self, name: &str, run: &ServiceRun, run_id: &str) -> Result<Started, RunError> {
        let (mut spec, config) =
            neighbour_spec(&self.docker, run, format!("{run_id}-{name}"), &format!("stack service {name}")).await?;
        self.apply(&mut spec, name, run);
        let c = Container::create(&self.docker, &spec, &config).await?;
        c.start().await.map_err(|e| match e {
            RunError::Setup(source) => {
                SetupError::Neighbour { what: format!("stack service {name}"), hint: "", source: Box::new(source) }
                    .into()
            }
            e => e,
        })?;
        let compose_test = run.healthcheck.as_ref().map(|h| h.test.clone()).filter(|t| !t.is_empty());
        let test = compose_test.or_else(|| config.healthcheck()).filter(|t| t.first().is_some_and(|w| w != "NONE"));
        let timeout = run.healthcheck.as_ref().map_or(0, |h| h.timeout_ns);
        Ok(Started {
            name: name.to_owned(),
            container: c,
            health_test: test.map(|t| super::exec::healthcheck_argv(&t)),
            health_timeout: if timeout > 0 { Duration::from_nanos(timeout as u64) } else { Duration::from_secs(30) },
        })
    }

    /// Puts a service's networks (reachable by its name and aliases), volumes, tmpfs and
    /// healthcheck into its run spec.
    pub fn apply(&self, spec: &mut RunSpec, name: &str, run: &ServiceRun) {
        spec.networks = run
            .networks
            .iter()
            .filter_map(|a| {
                let network = self.networks.get(&a.network)?.clone();
                // A name that is no host name (an image reference) is no alias.
                let aliases = std::iter::once(name.to_owned())
                    .chain(a.aliases.iter().cloned())
                    .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                    .collect();
                Some(NetworkAttach { network, aliases })
            })
            .collect();
        for m in &run.mounts {
            let mode = if m.read_only { ":ro" } else { "" };
            match (m.kind, &m.source) {
                (MountKind::Bind, Some(src)) => spec.mounts.push(format!("{src}:{}{mode}", m.target)),
                (MountKind::Volume, Some(key)) => {
                    if let Some(v) = self.volumes.get(key) {
                        spec.mounts.push(format!("{v}:{}{mode}", m.target));
                    }
                }
                (MountKind::Tmpfs, _) => spec.tmpfs.push(m.target.clone()),
                _ => spec.volumes.push(m.target.clone()),
            }
        }
        if run.healthcheck.is_some() {
            spec.healthcheck = run.healthcheck.clone();
        }
    }

    /// Waits until each dependency meets its condition (`who` is the service that waits).
    pub async fn wait_for(&self, deps: &[Dependency], who: &str, timeout: Duration) -> Result<(), RunError> {
        for d in deps {
            let Some(c) = self.containers.iter().find(|s| s.name == d.service) else { continue };
            let bar = crate::progress::spinner(&format!("stack: waiting for {} to be {}", d.service, d.condition));
            let r = self.wait_one(c, d, who, timeout).await;
            bar.finish_and_clear();
            r?;
        }
        Ok(())
    }

    /// Waits for one dependency's condition. For `service_healthy` the engine's verdict counts,
    /// and slimctl also runs the healthcheck's command itself every [`OWN_CHECK`] until it passes
    /// (what Compose's `start_interval` does, which API 1.41 lacks): a database is used as soon
    /// as it answers, not at the engine's next interval, and an engine that runs no healthchecks
    /// (podman without systemd) still gets its dependencies checked.
    async fn wait_one(&self, s: &Started, d: &Dependency, who: &str, timeout: Duration) -> Result<(), RunError> {
        let c = &s.container;
        let deadline = Instant::now() + timeout;
        let name = &d.service;
        let mut last_check = String::new();
        let mut own_check = Instant::now();
        loop {
            let exited = c.exit_code().await?;
            let mut health = if d.condition == Condition::ServiceHealthy { c.health().await? } else { None };
            if let (Condition::ServiceHealthy, None, Some(test)) = (d.condition, exited, &s.health_test) {
                if health.as_ref().is_none_or(|(st, _)| st == "starting") && own_check.elapsed() >= OWN_CHECK {
                    own_check = Instant::now();
                    if let Ok(r) = super::exec::run(c, test.clone(), "healthcheck", s.health_timeout).await {
                        if r.exit_code == Some(0) {
                            return Ok(());
                        }
                        health = Some(("starting".into(), r.output.trim().to_owned()));
                    }
                }
            }
            let failure = match (d.condition, exited, health) {
                (Condition::ServiceStarted, _, _) | (Condition::ServiceCompletedSuccessfully, Some(0), _) => {
                    return Ok(())
                }
                (Condition::ServiceCompletedSuccessfully, Some(code), _) => Some(format!(
                    "{name} ended with {} ({who} needs it to complete successfully)",
                    describe_exit(Some(code))
                )),
                (Condition::ServiceHealthy, Some(code), _) => Some(format!(
                    "{name} ended ({}) before it was healthy ({who} waits for it)",
                    describe_exit(Some(code))
                )),
                (Condition::ServiceHealthy, None, None) => {
                    return Err(SetupError::NoHealthcheck { who: who.to_owned(), name: name.to_owned() }.into())
                }
                (Condition::ServiceHealthy, None, Some((status, _))) if status == "healthy" => return Ok(()),
                (Condition::ServiceHealthy, None, Some((status, out))) if status == "unhealthy" => Some(format!(
                    "{name} is unhealthy (its healthcheck said: {}); {who} waits for it to be healthy",
                    or_nothing(&out)
                )),
                (_, _, health) => {
                    last_check = health.map(|(_, out)| out).unwrap_or_default();
                    None
                }
            };
            if let Some(what) = failure {
                return Err(self.failed(c, &what).await);
            }
            if Instant::now() >= deadline {
                let what = if d.condition == Condition::ServiceHealthy {
                    format!(
                        "{name} never became healthy within {} s (last healthcheck output: {})",
                        timeout.as_secs(),
                        or_nothing(&last_check)
                    )
                } else {
                    format!("{name} did not complete within {} s", timeout.as_secs())
                };
                return Err(self.failed(c, &format!("{what}; {who} waits for it (--probe-timeout)")).await);
            }
            tokio::time::sleep(POLL).await;
        }
    }
    /// A dependency that failed its condition: the message, with its last lines of output.
    async fn failed(&self, c: &Container, what: &str) -> RunError {
        let logs = c.logs(10).await;
        let logs = logs.trim();
        let what = if logs.is_empty() { format!("{what}; it printed nothing") } else { what.to_owned() };
        ProbeError { failure: ProbeFailure::Dependency { what }, logs: logs.to_owned() }.into()
    }

    /// Removes the containers, then the networks and volumes slimctl created.
    pub async fn down(mut self) -> f64 {
        let started = Instant::now();
        for s in self.containers.drain(..).rev() {
            s.container.remove().await;
        }
        self.created.sort_by_key(Created::removal_order);
        for what in &self.created {
            cleanup::remove_resource(&self.docker, what).await;
        }
        started.elapsed().as_secs_f64()
    }

    pub fn stack(&self) -> &Stack {
        &self.stack
    }
}

/// How a container that is not the target (a dependency, the test container) runs: its image's
/// config (looked up by id; `what` names it in an error) and its service's settings, no ports
/// published. Its networks and mounts come after, from the stack or the target.
pub(super) async fn neighbour_spec(
    docker: &bollard::Docker,
    run: &ServiceRun,
    run_id: String,
    what: &str,
) -> Result<(RunSpec, crate::image::ImageConfig), RunError> {
    let config = EngineImage::inspect(docker, &run.image_id)
        .await
        .map_err(|source| RunError::Image { what: what.to_owned(), source: Box::new(source) })?
        .run_config;
    let spec = RunSpec {
        image_id: run.image_id.clone(),
        run_id,
        entrypoint: run.entrypoint.clone(),
        cmd: run.command.clone(),
        env: run.env.clone(),
        workdir: run.workdir.clone(),
        user: run.user.clone(),
        no_publish: true,
        ..Default::default()
    };
    Ok((spec, config))
}

fn or_nothing(s: &str) -> &str {
    if s.trim().is_empty() {
        "nothing"
    } else {
        s.trim()
    }
}

fn engine(action: &str, e: bollard::errors::Error) -> RunError {
    EngineError::failed(action, e).into()
}
