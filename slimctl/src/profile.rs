//! A saved trace: what a run of an image touched, with the probes that made it do so. Written by
//! `slimctl profile`, read by `slimctl build --from-profile` to re-slim a new build of the same
//! app in seconds, without running it. Profiles merge as a union.
use crate::compose::Stack;
use crate::run::exec::ExecProbe;
use crate::run::http::HttpProbe;
use crate::run::probe_container::ProbeContainer;
use crate::run::proto::{ProtoProbe, TcpProbe};
use crate::run::ready::PortReady;
use crate::run::touched::Touch;
use crate::run::traced::{ProbePlan, TracedRun};
use crate::select::{Reason, Seed};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileImage {
    pub name: String,
    /// The image id (config digest) the profile was recorded against.
    pub id: crate::digest::Digest,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Access {
    pub path: String,
    pub how: String,
    pub by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub method: String,
    pub path: String,
    pub port: u16,
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub version: u32,
    pub image: ProfileImage,
    pub argv: Vec<String>,
    /// Paths used successfully, sorted.
    pub touched: Vec<Access>,
    /// Directories the run created files in.
    pub written_in: Vec<Access>,
    pub commands: Vec<Vec<String>>,
    pub syscalls: BTreeSet<String>,
    /// The requests the run answered (crawled ones included): verify replays them.
    pub http_probes: Vec<HttpProbe>,
    /// What each of those requests got while the profile was recorded.
    #[serde(default)]
    pub probe_results: Vec<ProbeOutcome>,
    pub exec_probes: Vec<Vec<String>>,
    pub exit_code: Option<i64>,
    /// The exposed ports as the run found them, and what each speaks.
    #[serde(default)]
    pub ports: Vec<PortReady>,
    /// The protocol probes the run made (port and protocol; the login comes from the flags or
    /// the image's environment again, never from the profile).
    #[serde(default)]
    pub proto_probes: Vec<ProtoProbe>,
    #[serde(default)]
    pub tcp_probes: Vec<TcpProbe>,
    /// The Compose stack the run started around the target (images by id, environment as the
    /// file gave it): a replay starts it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Stack>,
    /// The user's test container (image by id), replayed by verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_container: Option<ProbeContainer>,
}

fn accesses(m: &BTreeMap<String, Touch>) -> Vec<Access> {
    m.iter().map(|(p, t)| Access { path: p.clone(), how: t.how.to_owned(), by: t.by.clone() }).collect()
}

impl Profile {
    /// The profile of `run`, made under `plan` (in `stack`, when it had one).
    pub fn from_run(
        image_name: &str,
        image_id: &crate::digest::Digest,
        run: &TracedRun,
        plan: &ProbePlan,
        stack: Option<&Stack>,
    ) -> Profile {
        let r = &run.report;
        Profile {
            version: VERSION,
            image: ProfileImage { name: image_name.to_owned(), id: image_id.clone() },
            argv: r.argv.clone(),
            touched: accesses(&run.touched.paths),
            written_in: accesses(&run.touched.written_in),
            commands: run.touched.commands.clone(),
            syscalls: r.syscalls.clone(),
            http_probes: r
                .http
                .iter()
                .map(|p| HttpProbe {
                    port: Some(p.port),
                    ..HttpProbe::parse(&format!("{}:{}", p.method, p.path)).unwrap_or_else(|_| HttpProbe::get(&p.path))
                })
                .collect(),
            probe_results: r
                .http
                .iter()
                .map(|p| ProbeOutcome {
                    method: p.method.clone(),
                    path: p.path.clone(),
                    port: p.port,
                    status: p.status,
                    error: p.error.clone(),
                })
                .collect(),
            exec_probes: r.exec.iter().filter(|e| e.source == "exec").map(|e| e.command.clone()).collect(),
            exit_code: r.exit_code.filter(|_| r.exited_by_itself),
            ports: r.ready.clone(),
            proto_probes: r
                .proto
                .iter()
                .filter_map(|p| Some(ProtoProbe { port: p.port, proto: p.proto.parse().ok()? }))
                .collect(),
            tcp_probes: plan.tcp_probes.clone(),
            stack: stack.cloned(),
            probe_container: plan.test_container.clone(),
        }
    }

    pub fn read(path: &std::path::Path) -> Result<Profile, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read profile {}: {e}", path.display()))?;
        let p: Profile =
            serde_json::from_slice(&bytes).map_err(|e| format!("{} is not a slimctl profile: {e}", path.display()))?;
        if p.version != VERSION {
            return Err(format!(
                "{}: profile version {} is not supported (this slimctl reads version {VERSION})",
                path.display(),
                p.version
            ));
        }
        Ok(p)
    }

    /// Seeds for the closure, as the traced run's would be.
    pub fn seeds(&self) -> Vec<Seed> {
        let used = self.touched.iter().map(|a| Seed {
            path: a.path.clone(),
            reason: Reason::Traced { how: a.how.clone(), by: a.by.clone() },
            optional: true,
        });
        let dirs = self.written_in.iter().map(|a| Seed {
            path: a.path.clone(),
            reason: Reason::WrittenIn { by: a.by.clone() },
            optional: true,
        });
        used.chain(dirs).collect()
    }
}

/// The probes of several profiles' runs, replayed exactly (each request once, each command with
/// the argv it ran with), on top of `base`'s settings: what verify runs without a new trace.
pub fn replay_plan(profiles: &[Profile], base: &ProbePlan) -> ProbePlan {
    let mut http_probes: Vec<HttpProbe> = Vec::new();
    for p in profiles.iter().flat_map(|p| p.http_probes.iter()) {
        if !http_probes.contains(p) {
            http_probes.push(p.clone());
        }
    }
    let exec = profiles.iter().flat_map(|p| p.exec_probes.iter()).map(|argv| ExecProbe::Argv(argv.clone())).collect();
    let port_kinds = profiles.iter().flat_map(|p| p.ports.iter()).map(|r| (r.port, r.kind)).collect();
    let mut proto_probes: Vec<ProtoProbe> = Vec::new();
    let mut tcp_probes: Vec<TcpProbe> = Vec::new();
    for p in profiles {
        proto_probes.extend(p.proto_probes.iter().filter(|x| !proto_probes.contains(x)).copied().collect::<Vec<_>>());
        tcp_probes.extend(p.tcp_probes.iter().filter(|x| !tcp_probes.contains(x)).cloned().collect::<Vec<_>>());
    }
    let test_container =
        base.test_container.clone().or_else(|| profiles.iter().find_map(|p| p.probe_container.clone()));
    ProbePlan {
        http_probes,
        exec,
        port_kinds,
        proto_probes,
        tcp_probes,
        test_container,
        crawl: false,
        lenient: true,
        ..base.clone()
    }
}

/// The stack the profiles' runs had (the first that had one).
pub fn merged_stack(profiles: &[Profile]) -> Option<Stack> {
    profiles.iter().find_map(|p| p.stack.clone())
}

/// The syscalls any of the profiles' runs made.
pub fn merged_syscalls(profiles: &[Profile]) -> BTreeSet<String> {
    profiles.iter().flat_map(|p| p.syscalls.iter().cloned()).collect()
}

/// The union of several profiles' seeds, first reason per path kept, in the order a single
/// trace gives them (used paths, then written-into directories): merging one profile gives
/// exactly that profile's seeds.
pub fn merged_seeds(profiles: &[Profile]) -> Vec<Seed> {
    let mut used: BTreeMap<String, Seed> = BTreeMap::new();
    let mut dirs: BTreeMap<String, Seed> = BTreeMap::new();
    for p in profiles {
        for s in p.seeds() {
            let map = if matches!(s.reason, Reason::WrittenIn { .. }) { &mut dirs } else { &mut used };
            map.entry(s.path.clone()).or_insert(s);
        }
    }
    used.into_values().chain(dirs.into_values()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(paths: &[&str], dirs: &[&str]) -> Profile {
        let acc = |p: &&str| Access { path: p.to_string(), how: "open".into(), by: "app[1]".into() };
        Profile {
            version: VERSION,
            image: ProfileImage { name: "app".into(), id: crate::digest::sha256_digest(b"app") },
            argv: vec!["app".into()],
            touched: paths.iter().map(acc).collect(),
            written_in: dirs.iter().map(acc).collect(),
            commands: vec![],
            syscalls: BTreeSet::new(),
            http_probes: vec![],
            probe_results: vec![],
            exec_probes: vec![],
            exit_code: None,
            ports: vec![],
            proto_probes: vec![],
            tcp_probes: vec![],
            stack: None,
            probe_container: None,
        }
    }

    #[test]
    fn profiles_merge_as_a_union() {
        let a = profile(&["/etc/a", "/usr/bin/app"], &["/tmp"]);
        let b = profile(&["/etc/b", "/usr/bin/app"], &["/var/log"]);
        let seeds = merged_seeds(&[a, b]);
        let paths: Vec<&str> = seeds.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, vec!["/etc/a", "/etc/b", "/usr/bin/app", "/tmp", "/var/log"]);
        assert!(matches!(seeds[3].reason, Reason::WrittenIn { .. }));
    }

    #[test]
    fn a_replayed_exec_probe_runs_the_argv_that_ran() {
        let mut p = profile(&["/x"], &[]);
        let ran: Vec<String> = ["/bin/sh", "-c", "ls -l /"].map(String::from).to_vec();
        p.exec_probes = vec![ran.clone()];
        let plan = replay_plan(&[p.clone(), p], &ProbePlan::default());
        assert_eq!(plan.exec.len(), 2, "each profile's command runs");
        for has_shell in [true, false] {
            assert_eq!(plan.exec[0].argv(has_shell), ran, "not wrapped in another sh -c, not re-split");
        }
        assert!(plan.lenient && !plan.crawl);
    }

    #[test]
    fn ports_and_protocol_probes_are_replayed() {
        use crate::run::proto::Proto;
        use crate::run::ready::PortKind;
        let mut p = profile(&["/x"], &[]);
        p.ports = vec![PortReady { port: 5432, kind: PortKind::Postgres, ms: 900 }];
        p.proto_probes = vec![ProtoProbe { port: 5432, proto: Proto::Postgres }];
        p.tcp_probes = vec!["7000:PING\\r\\n:PONG".parse().unwrap()];
        let json = serde_json::to_string(&p).unwrap();
        assert!(!json.contains("password"), "no login in a profile: {json}");
        let back: Profile = serde_json::from_str(&json).unwrap();
        let plan = replay_plan(&[back.clone(), back], &ProbePlan::default());
        assert_eq!(plan.port_kinds.get(&5432), Some(&PortKind::Postgres));
        assert_eq!(plan.proto_probes, [ProtoProbe { port: 5432, proto: Proto::Postgres }], "once, not per profile");
        assert_eq!(plan.tcp_probes.len(), 1);
    }

    #[test]
    fn versions_are_checked_and_garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.json");
        let mut p = profile(&["/x"], &[]);
        p.version = 99;
        std::fs::write(&f, serde_json::to_vec(&p).unwrap()).unwrap();
        assert!(Profile::read(&f).unwrap_err().contains("version 99"));
        std::fs::write(&f, b"{not json").unwrap();
        assert!(Profile::read(&f).unwrap_err().contains("not a slimctl profile"));
        p.version = VERSION;
        std::fs::write(&f, serde_json::to_vec(&p).unwrap()).unwrap();
        assert_eq!(Profile::read(&f).unwrap().touched.len(), 1);
    }
}
