//! The image config: a typed view (oci-spec) for what slimctl reads, plus the raw JSON so that
//! Docker's extensions to the OCI config (Healthcheck, Shell, OnBuild) survive a rebuild.

use crate::error::ImageError;
use oci_spec::image::ImageConfiguration;
use serde_json::Value;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone)]
pub struct ImageConfig {
    pub typed: ImageConfiguration,
    pub raw: Value,
    /// Of the config as stored: the image id.
    pub digest: crate::digest::Digest,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8], what: &str) -> Result<ImageConfig, ImageError> {
        let raw: Value =
            serde_json::from_slice(bytes).map_err(|e| ImageError::corrupt(what, format!("image config: {e}")))?;
        let typed: ImageConfiguration =
            serde_json::from_slice(bytes).map_err(|e| ImageError::corrupt(what, format!("image config: {e}")))?;
        Ok(ImageConfig { typed, raw, digest: crate::digest::sha256_digest(bytes) })
    }

    /// A config from its JSON value and the digest the image is known by (the engine's id for
    /// a config it describes rather than stores).
    pub fn from_value(raw: Value, digest: crate::digest::Digest, what: &str) -> Result<ImageConfig, ImageError> {
        let typed: ImageConfiguration =
            serde_json::from_value(raw.clone()).map_err(|e| ImageError::corrupt(what, format!("image config: {e}")))?;
        Ok(ImageConfig { typed, raw, digest })
    }

    fn cfg(&self) -> Option<&oci_spec::image::Config> {
        self.typed.config().as_ref()
    }

    /// The platform the image is for, as an OCI index names it.
    pub fn platform(&self) -> oci_spec::image::Platform {
        let mut p = oci_spec::image::PlatformBuilder::default()
            .architecture(self.typed.architecture().clone())
            .os(self.typed.os().clone());
        if let Some(v) = self.typed.variant() {
            p = p.variant(v.clone());
        }
        p.build().expect("architecture and os are set")
    }

    pub fn entrypoint(&self) -> Vec<String> {
        self.cfg().and_then(|c| c.entrypoint().clone()).unwrap_or_default()
    }

    pub fn cmd(&self) -> Vec<String> {
        self.cfg().and_then(|c| c.cmd().clone()).unwrap_or_default()
    }

    /// The argv the container starts with: ENTRYPOINT followed by CMD.
    pub fn argv(&self) -> Vec<String> {
        let mut v = self.entrypoint();
        v.extend(self.cmd());
        v
    }

    pub fn env(&self) -> Vec<String> {
        self.cfg().and_then(|c| c.env().clone()).unwrap_or_default()
    }

    pub fn env_var(&self, name: &str) -> Option<String> {
        self.env().iter().rev().find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.to_owned()))
    }

    /// PATH as the runtime sets it: the image's, or Docker's default when the image sets none.
    pub fn path_dirs(&self) -> Vec<String> {
        let path = self.env_var("PATH").unwrap_or_else(|| DEFAULT_PATH.to_owned());
        path.split(':').filter(|d| !d.is_empty()).map(str::to_owned).collect()
    }

    pub fn user(&self) -> Option<String> {
        self.cfg().and_then(|c| c.user().clone()).filter(|u| !u.is_empty())
    }

    pub fn workdir(&self) -> String {
        self.cfg().and_then(|c| c.working_dir().clone()).filter(|w| !w.is_empty()).unwrap_or_else(|| "/".to_owned())
    }

    pub fn volumes(&self) -> Vec<String> {
        let mut v = self.cfg().and_then(|c| c.volumes().clone()).unwrap_or_default();
        v.sort();
        v
    }

    /// EXPOSE'd ports as (port, protocol), sorted.
    pub fn exposed_ports(&self) -> Vec<(u16, String)> {
        let mut v: Vec<(u16, String)> = self.raw["config"]["ExposedPorts"]
            .as_object()
            .map(|m| {
                m.keys()
                    .filter_map(|k| {
                        let (port, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
                        Some((port.parse().ok()?, proto.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// STOPSIGNAL, or SIGTERM as the runtime uses by default.
    pub fn stop_signal(&self) -> String {
        self.raw["config"]["StopSignal"].as_str().filter(|s| !s.is_empty()).unwrap_or("SIGTERM").to_owned()
    }

    /// HEALTHCHECK's test as Docker stores it (["CMD", ...] or ["CMD-SHELL", "..."]); None
    /// when there is none or it is disabled (["NONE"]).
    pub fn healthcheck(&self) -> Option<Vec<String>> {
        let test: Vec<String> = self.raw["config"]["Healthcheck"]["Test"]
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        match test.first().map(String::as_str) {
            Some("CMD") | Some("CMD-SHELL") if test.len() > 1 => Some(test),
            _ => None,
        }
    }

    /// History entries that created layers, aligned with the layers (empty_layer entries skipped).
    pub fn layer_history(&self) -> Vec<Option<String>> {
        self.typed
            .history()
            .as_ref()
            .map(|h| h.iter().filter(|e| !e.empty_layer().unwrap_or(false)).map(|e| e.created_by().clone()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_CONFIG: &str = r#"{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
      "config":{"Env":["PATH=/opt/bin:/usr/bin","LANG=C"],"Entrypoint":["/app/run"],"Cmd":null,"User":"app",
        "WorkingDir":"/srv","ExposedPorts":{"8080/tcp":{}},"Healthcheck":{"Test":["CMD","true"]}},
      "rootfs":{"type":"layers","diff_ids":["sha256:aa","sha256:bb"]},
      "history":[{"created_by":"ADD x"},{"created_by":"ENV y","empty_layer":true},{"created_by":"RUN z"}]}"#;

    #[test]
    fn reads_docker_config() {
        let c = ImageConfig::parse(DOCKER_CONFIG.as_bytes(), "t").unwrap();
        assert_eq!(c.argv(), ["/app/run"]);
        assert_eq!(c.path_dirs(), ["/opt/bin", "/usr/bin"]);
        assert_eq!(c.user().as_deref(), Some("app"));
        assert_eq!(c.workdir(), "/srv");
        assert_eq!(c.layer_history(), [Some("ADD x".to_owned()), Some("RUN z".to_owned())]);
        assert!(c.raw["config"]["Healthcheck"].is_object());
        assert_eq!(c.exposed_ports(), [(8080, "tcp".to_owned())]);
        assert_eq!(c.stop_signal(), "SIGTERM");
        assert_eq!(c.healthcheck(), Some(vec!["CMD".to_owned(), "true".to_owned()]));
    }

    #[test]
    fn default_path_when_unset() {
        let c = ImageConfig::parse(
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
            "t",
        )
        .unwrap();
        assert_eq!(c.path_dirs().len(), 6);
        assert_eq!(c.workdir(), "/");
    }
}
