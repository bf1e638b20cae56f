//! Changes to the slim image's config the user asks for (`--set-cmd`, `--set-env`,
//! `--unset-expose`…; mint's `--new-*`/`--remove-*`): applied to the slim image only, never to
//! the run that traced the original.

use oci_spec::image::Config;
use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigEdits {
    pub cmd: Option<Vec<String>>,
    /// As in a Dockerfile, a new ENTRYPOINT drops the CMD it inherited (unless `cmd` is set).
    pub entrypoint: Option<Vec<String>>,
    pub workdir: Option<String>,
    /// KEY=VALUE, replacing a variable of the same name.
    pub env: Vec<String>,
    pub unset_env: Vec<String>,
    /// PORT[/PROTO] (tcp when no protocol is given).
    pub expose: Vec<String>,
    pub unexpose: Vec<String>,
    /// KEY=VALUE.
    pub labels: Vec<String>,
    pub unlabel: Vec<String>,
    pub volumes: Vec<String>,
    pub unvolume: Vec<String>,
}

/// `8080` → `8080/tcp`.
fn port_key(p: &str) -> String {
    if p.contains('/') {
        p.to_owned()
    } else {
        format!("{p}/tcp")
    }
}

impl ConfigEdits {
    pub fn is_empty(&self) -> bool {
        *self == ConfigEdits::default()
    }

    /// Checks the values (before anything runs): what does not parse is the user's error.
    pub fn check(&self) -> Result<(), String> {
        for kv in self.env.iter().chain(&self.labels) {
            if !kv.contains('=') || kv.starts_with('=') {
                return Err(format!("{kv:?}: expected KEY=VALUE"));
            }
        }
        for p in self.expose.iter().chain(&self.unexpose) {
            let (num, proto) =
                port_key(p).split_once('/').map(|(a, b)| (a.to_owned(), b.to_owned())).unwrap_or_default();
            if num.parse::<u16>().map_or(true, |n| n == 0) || !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
                return Err(format!("{p:?}: expected PORT or PORT/tcp|udp|sctp"));
            }
        }
        if let Some(w) = &self.workdir {
            if !w.starts_with('/') {
                return Err(format!("{w:?}: the working directory must be an absolute path"));
            }
        }
        Ok(())
    }

    pub fn apply(&self, cfg: &mut Config) {
        if let Some(e) = &self.entrypoint {
            cfg.set_entrypoint(Some(e.clone()));
            if self.cmd.is_none() {
                cfg.set_cmd(None);
            }
        }
        if let Some(c) = &self.cmd {
            cfg.set_cmd(Some(c.clone()));
        }
        if let Some(w) = &self.workdir {
            cfg.set_working_dir(Some(w.clone()));
        }
        let mut env: Vec<String> = cfg.env().clone().unwrap_or_default();
        let name = |kv: &str| kv.split_once('=').map_or(kv, |(k, _)| k).to_owned();
        for kv in &self.env {
            env.retain(|e| name(e) != name(kv));
            env.push(kv.clone());
        }
        env.retain(|e| !self.unset_env.contains(&name(e)));
        cfg.set_env((!env.is_empty()).then_some(env));
        let mut ports: Vec<String> = cfg.exposed_ports().clone().unwrap_or_default();
        ports.extend(self.expose.iter().map(|p| port_key(p)));
        let gone: Vec<String> = self.unexpose.iter().map(|p| port_key(p)).collect();
        ports.retain(|p| !gone.contains(p));
        ports.sort();
        ports.dedup();
        cfg.set_exposed_ports((!ports.is_empty()).then_some(ports));
        let mut labels: HashMap<String, String> = cfg.labels().clone().unwrap_or_default();
        for kv in &self.labels {
            if let Some((k, v)) = kv.split_once('=') {
                labels.insert(k.to_owned(), v.to_owned());
            }
        }
        labels.retain(|k, _| !self.unlabel.contains(k));
        cfg.set_labels((!labels.is_empty()).then_some(labels));
        let mut volumes: Vec<String> = cfg.volumes().clone().unwrap_or_default();
        volumes.extend(self.volumes.iter().cloned());
        volumes.retain(|v| !self.unvolume.contains(v));
        volumes.sort();
        volumes.dedup();
        cfg.set_volumes((!volumes.is_empty()).then_some(volumes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_change_what_they_name_and_keep_the_rest() {
        let mut cfg = Config::default();
        cfg.set_cmd(Some(vec!["serve".into()]));
        cfg.set_entrypoint(Some(vec!["/app".into()]));
        cfg.set_env(Some(vec!["PATH=/bin".into(), "DEBUG=1".into(), "MODE=dev".into()]));
        cfg.set_exposed_ports(Some(vec!["8080/tcp".into(), "9090/tcp".into()]));
        let edits = ConfigEdits {
            env: vec!["MODE=prod".into()],
            unset_env: vec!["DEBUG".into()],
            unexpose: vec!["9090".into()],
            expose: vec!["53/udp".into()],
            labels: vec!["team=web".into()],
            cmd: Some(vec!["serve".into(), "--fast".into()]),
            ..ConfigEdits::default()
        };
        edits.check().unwrap();
        edits.apply(&mut cfg);
        assert_eq!(cfg.env().clone().unwrap(), ["PATH=/bin", "MODE=prod"]);
        assert_eq!(cfg.exposed_ports().clone().unwrap(), ["53/udp", "8080/tcp"]);
        assert_eq!(cfg.cmd().clone().unwrap(), ["serve", "--fast"]);
        assert_eq!(cfg.entrypoint().clone().unwrap(), ["/app"]);
        assert_eq!(cfg.labels().clone().unwrap()["team"], "web");

        // A new entrypoint drops the inherited CMD, as a Dockerfile's ENTRYPOINT does.
        ConfigEdits { entrypoint: Some(vec!["/other".into()]), ..ConfigEdits::default() }.apply(&mut cfg);
        assert_eq!(cfg.cmd(), &None);
        for bad in [
            ConfigEdits { env: vec!["NOVALUE".into()], ..ConfigEdits::default() },
            ConfigEdits { expose: vec!["http".into()], ..ConfigEdits::default() },
            ConfigEdits { workdir: Some("rel".into()), ..ConfigEdits::default() },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
