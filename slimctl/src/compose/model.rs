//! A stack as slimctl runs it: the target's settings from its Compose service, the services it
//! needs started before it (in start order, each with the conditions it waits for), and the
//! networks and volumes they share. Plain data, saved in profiles so a re-slim replays it.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    pub project: String,
    /// The target service's name: its alias on the stack's networks.
    pub target: String,
    pub target_run: ServiceRun,
    /// What the target waits for before it starts.
    pub target_depends: Vec<Dependency>,
    /// The services started before the target, in start order: its dependencies and the probe
    /// service's. Never traced, never slimmed.
    pub services: Vec<Service>,
    pub networks: Vec<Network>,
    pub volumes: Vec<Volume>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub run: ServiceRun,
    /// What it waits for before it starts.
    pub depends: Vec<Dependency>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// `service_started`: running.
    ServiceStarted,
    /// `service_healthy`: its healthcheck passed.
    ServiceHealthy,
    /// `service_completed_successfully`: exited 0 (a migration, a seed job).
    ServiceCompletedSuccessfully,
}

impl std::str::FromStr for Condition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "service_started" => Ok(Condition::ServiceStarted),
            "service_healthy" => Ok(Condition::ServiceHealthy),
            "service_completed_successfully" => Ok(Condition::ServiceCompletedSuccessfully),
            _ => {
                Err(format!("condition {s:?}: use service_started, service_healthy or service_completed_successfully"))
            }
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Condition::ServiceStarted => "started",
            Condition::ServiceHealthy => "healthy",
            Condition::ServiceCompletedSuccessfully => "completed successfully",
        })
    }
}

/// How one service's container runs, as its Compose entry says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRun {
    /// The image as the file names it.
    pub image: String,
    /// Its id in the engine, once looked up (never pulled).
    #[serde(default)]
    pub image_id: String,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    /// `env_file` then `environment`, KEY=VALUE.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub mounts: Vec<Mount>,
    /// The networks it joins (none: the project's default network).
    pub networks: Vec<Attach>,
    /// Container TCP ports it publishes or exposes (`ports`, `expose`).
    pub ports: Vec<u16>,
    pub healthcheck: Option<Healthcheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub kind: MountKind,
    /// A host path (bind, absolute), a volume key of the stack (volume); none otherwise.
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    Bind,
    Volume,
    /// A volume of its own, removed with the container.
    Anonymous,
    Tmpfs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attach {
    /// The network's key in the file.
    pub network: String,
    /// Names it is reachable by there, besides the service's name.
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub key: String,
    /// An existing network's name (`external`): joined, never created or removed.
    pub external: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub key: String,
    /// An existing volume's name (`external`): used as it is, never created or removed.
    pub external: Option<String>,
}

/// A healthcheck as the Engine API takes it (durations in nanoseconds, 0: the engine's default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]`, or `["NONE"]` (disabled).
    pub test: Vec<String>,
    pub interval_ns: i64,
    pub timeout_ns: i64,
    pub retries: i64,
    pub start_period_ns: i64,
}

impl Stack {
    /// Every service run of the stack with its name, the target's included.
    pub fn runs_mut(&mut self) -> impl Iterator<Item = (&str, &mut ServiceRun)> {
        std::iter::once((self.target.as_str(), &mut self.target_run))
            .chain(self.services.iter_mut().map(|s| (s.name.as_str(), &mut s.run)))
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}
