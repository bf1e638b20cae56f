//! How the target runs before its image is known: the user's overrides over its Compose
//! service's settings over the image's own config. Each run (traced, verify's, healing's) makes
//! its [`RunSpec`] from it for the image it runs.

use super::container::RunSpec;
use crate::compose::{ServiceRun, Stack};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct RunTemplate {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// KEY=VALUE, after the Compose service's.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `docker run -v` syntax: SRC:DST[:OPTS].
    pub mounts: Vec<String>,
    pub network: Option<String>,
    /// TCP ports to publish and probe besides the image's EXPOSE'd ones.
    pub expose: Vec<u16>,
    /// The stack the target runs in (from a Compose file, or a profile).
    pub stack: Option<Arc<Stack>>,
    /// Container settings beyond the config (`--label`, `--hostname`, `--cap-add`...).
    pub host: super::container::HostSettings,
}

impl RunTemplate {
    /// How `image` runs: the overrides over the Compose service's settings over the image's.
    pub fn spec(&self, image: &crate::digest::Digest) -> RunSpec {
        let service = self.stack.as_ref().map(|s| &s.target_run);
        let from_service = |f: fn(&ServiceRun) -> Option<Vec<String>>| service.and_then(f);
        let mut env: Vec<String> = service.map(|s| s.env.clone()).unwrap_or_default();
        env.extend(self.env.iter().cloned());
        let mut expose = self.expose.clone();
        expose.extend(service.iter().flat_map(|s| s.ports.iter().copied()));
        RunSpec {
            image_id: image.to_string(),
            run_id: super::run_id(),
            entrypoint: self.entrypoint.clone().or_else(|| from_service(|s| s.entrypoint.clone())),
            cmd: self.cmd.clone().or_else(|| from_service(|s| s.command.clone())),
            env,
            workdir: self.workdir.clone().or_else(|| service.and_then(|s| s.workdir.clone())),
            user: self.user.clone().or_else(|| service.and_then(|s| s.user.clone())),
            mounts: self.mounts.clone(),
            network: self.network.clone(),
            expose,
            stack: self.stack.clone(),
            // Host ports are the traced run's alone ([`RunTemplate::traced_spec`]).
            host: super::container::HostSettings { publish: Vec::new(), ..self.host.clone() },
            ..Default::default()
        }
    }

    /// The traced run's spec: with the host ports the user publishes (`--publish-port`).
    pub fn traced_spec(&self, image: &crate::digest::Digest) -> RunSpec {
        let mut spec = self.spec(image);
        spec.host.publish = self.host.publish.clone();
        spec
    }
}
