//! A saved trace: what a run of an image touched, with the probes that made it do so. Written by
//! `slimctl profile` (and `build --save-profile`), read by `slimctl build --from-profile` to
//! re-slim a new build of the same app in seconds, without running it. Profiles merge as a union.
use crate::compose::Stack;
use crate::run::touched::{Touch, Touched};
use crate::run::{ProbePlan, Replay, TracedRun};
use crate::select::{Reason, Seed};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileImage {
    pub name: String,
    /// The image id (config digest) the profile was recorded against.
    pub id: crate::digest::Digest,
}

/// One path a run used: how, and by which process.
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
    /// The probes the run made, exactly as made: verify replays them.
    #[serde(flatten)]
    pub replay: Replay,
    /// What each of the HTTP requests got while the profile was recorded.
    #[serde(default)]
    pub probe_results: Vec<ProbeOutcome>,
    pub exit_code: Option<i64>,
    /// The Compose stack the run started around the target (images by id, environment as the
    /// file gave it): a replay starts it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Stack>,
    /// What the build's sweep added (the files a load of a reached module touched that the
    /// rules did not keep): a re-slim from the profile keeps them without an engine to sweep in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub swept: Vec<SweptPath>,
}

/// A file the sweep kept, with the load that touched it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SweptPath {
    pub path: String,
    /// `import decimal`
    pub what: String,
}

/// A profile that cannot be used, named with its file.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read profile {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not a slimctl profile: {source}", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("{}: profile version {version} is not supported (this slimctl reads version {VERSION})", path.display())]
    Version { path: PathBuf, version: u32 },
    #[error("cannot write profile {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// What a run used, as accesses: path, how, by whom.
pub fn accesses(m: &BTreeMap<String, Touch>) -> Vec<Access> {
    m.iter().map(|(p, t)| Access { path: p.clone(), how: t.how.to_owned(), by: t.by.clone() }).collect()
}

/// Seeds for the closure from what a run used and the directories it wrote into, as a trace or
/// a profile gives them. All optional: a traced path may be no image file at all.
pub fn seeds(used: &[Access], written_in: &[Access]) -> Vec<Seed> {
    let used = used.iter().map(|a| Seed {
        path: a.path.clone(),
        reason: Reason::Traced { how: a.how.clone().into(), by: a.by.clone().into() },
        optional: true,
    });
    let dirs = written_in.iter().map(|a| Seed {
        path: a.path.clone(),
        reason: Reason::WrittenIn { by: a.by.clone().into() },
        optional: true,
    });
    used.chain(dirs).collect()
}

/// The seeds of a traced run.
pub fn traced_seeds(t: &Touched) -> Vec<Seed> {
    seeds(&accesses(&t.paths), &accesses(&t.written_in))
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
            replay: Replay::of(plan, r),
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
            exit_code: r.exit_code.filter(|_| r.exited_by_itself),
            stack: stack.cloned(),
            swept: Vec::new(),
        }
    }

    pub fn read(path: &Path) -> Result<Profile, ProfileError> {
        let bytes = std::fs::read(path).map_err(|source| ProfileError::Read { path: path.to_owned(), source })?;
        let p: Profile =
            serde_json::from_slice(&bytes).map_err(|source| ProfileError::Parse { path: path.to_owned(), source })?;
        if p.version != VERSION {
            return Err(ProfileError::Version { path: path.to_owned(), version: p.version });
        }
        Ok(p)
    }

    pub fn write(&self, path: &Path) -> Result<(), ProfileError> {
        let json = serde_json::to_vec_pretty(self).expect("a profile is plain data");
        std::fs::write(path, json).map_err(|source| ProfileError::Write { path: path.to_owned(), source })
    }

    /// Seeds for the closure, as the traced run's (and its sweep's) would be.
    pub fn seeds(&self) -> Vec<Seed> {
        let mut out = seeds(&self.touched, &self.written_in);
        out.extend(self.swept.iter().map(|s| Seed {
            path: s.path.clone(),
            reason: Reason::Sweep { what: s.what.clone().into() },
            optional: true,
        }));
        out
    }

    /// Records what the build's sweep added (its seeds) and the system calls its loads made.
    pub fn add_sweep(&mut self, added: &[Seed], syscalls: &BTreeSet<String>) {
        for s in added {
            if let Reason::Sweep { what } = &s.reason {
                self.swept.push(SweptPath { path: s.path.clone(), what: what.to_string() });
            }
        }
        self.syscalls.extend(syscalls.iter().cloned());
    }
}

/// The probes of several profiles' runs, replayed exactly (each request once, each command with
/// the argv it ran with), on top of `base`'s settings: what verify runs without a new trace.
pub fn replay_plan(profiles: &[Profile], base: &ProbePlan) -> ProbePlan {
    Replay::merge(profiles.iter().map(|p| &p.replay)).plan(base)
}

/// The stack the profiles' runs had (the first that had one).
pub fn merged_stack(profiles: &[Profile]) -> Option<Stack> {
    profiles.iter().find_map(|p| p.stack.clone())
}

/// The syscalls any of the profiles' runs made.
pub fn merged_syscalls(profiles: &[Profile]) -> BTreeSet<String> {
    profiles.iter().flat_map(|p| p.syscalls.iter().cloned()).collect()
}

/// What any of the profiles' runs used, first access per path.
pub fn merged_used(profiles: &[Profile]) -> Vec<Access> {
    let mut used: BTreeMap<&str, &Access> = BTreeMap::new();
    for a in profiles.iter().flat_map(|p| &p.touched) {
        used.entry(&a.path).or_insert(a);
    }
    used.into_values().cloned().collect()
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

/// `slimctl profile`: a traced run of `image` (in the engine) under `plan`, while it is read,
/// saved as a profile.
pub async fn record(
    image: &str,
    run: &crate::run::RunTemplate,
    plan: &ProbePlan,
) -> Result<Profile, super::PipelineError> {
    super::inspect::require_in_engine(image, "profiling")?;
    let opened = super::inspect::open(image, None).await?;
    let (docker, config) = opened.runnable("profiling")?;
    let reading = opened.start_reading(Vec::new());
    let spec = run.traced_spec(&config.digest);
    let traced = super::trace::trace_while_reading(&docker, &config, &spec, plan, reading).await?;
    Ok(Profile::from_run(image, &traced.image.config.digest, &traced.run, plan, run.stack.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::proto::ProtoProbe;
    use crate::run::ready::PortReady;

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
            replay: Replay::default(),
            probe_results: vec![],
            exit_code: None,
            stack: None,
            swept: vec![],
        }
    }

    #[test]
    fn what_the_sweep_added_is_saved_and_seeds_a_re_slim() {
        let mut p = profile(&["/usr/bin/python3"], &[]);
        let added = [Seed {
            path: "/usr/lib/python3.11/numbers.py".into(),
            reason: Reason::Sweep { what: "import decimal".into() },
            optional: true,
        }];
        p.add_sweep(&added, &BTreeSet::from(["setitimer".to_owned()]));
        let back: Profile = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        let seeds = back.seeds();
        assert_eq!(seeds[1].path, "/usr/lib/python3.11/numbers.py");
        assert_eq!(seeds[1].reason, Reason::Sweep { what: "import decimal".into() });
        assert!(back.syscalls.contains("setitimer"));
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
        p.replay.exec_probes = vec![ran.clone()];
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
        p.replay.ports = vec![PortReady { port: 5432, kind: PortKind::Postgres, ms: 900 }];
        p.replay.proto_probes = vec![ProtoProbe { port: 5432, proto: Proto::Postgres }];
        p.replay.tcp_probes = vec!["7000:PING\\r\\n:PONG".parse().unwrap()];
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
        assert!(Profile::read(&f).unwrap_err().to_string().contains("version 99"));
        std::fs::write(&f, b"{not json").unwrap();
        assert!(Profile::read(&f).unwrap_err().to_string().contains("not a slimctl profile"));
        p.version = VERSION;
        std::fs::write(&f, serde_json::to_vec(&p).unwrap()).unwrap();
        assert_eq!(Profile::read(&f).unwrap().touched.len(), 1);
    }
}
