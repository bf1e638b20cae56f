//! Every container, network and volume a run creates is registered here the moment it exists,
//! so that any way out of the run (success, error, SIGINT/SIGTERM at any stage) removes it. Each
//! is labelled with its owner (this process, on this host); what a process killed outright left
//! (SIGKILL, the OOM killer) the next run finds by that label and removes ([`sweep_orphans`]).
use bollard::Docker;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The label every container, network and volume slimctl creates carries; its value is the run
/// id.
pub const LABEL: &str = "slimctl";
/// The label naming the process that created it: `BOOT_ID/PID_NAMESPACE/PID/START_TIME`.
pub const OWNER_LABEL: &str = "slimctl.owner";

/// The labels of what the run `run_id` creates.
pub fn labels(run_id: &str) -> HashMap<String, String> {
    let mut l = HashMap::from([(LABEL.to_owned(), run_id.to_owned())]);
    if let Some(me) = Owner::me() {
        l.insert(OWNER_LABEL.to_owned(), me.to_string());
    }
    l
}

/// A process, named so that a later process on the same host can tell whether it still lives:
/// the boot (pids are reused across boots), the pid namespace (a pid means something only in
/// its own), the pid, and its start time (pids are reused within a boot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    boot: String,
    pid_ns: String,
    pid: u32,
    start: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> Option<Owner> {
        let pid = std::process::id();
        Some(Owner { boot: boot_id()?, pid_ns: pid_namespace()?, pid, start: start_time(pid)? })
    }

    pub fn parse(s: &str) -> Option<Owner> {
        let mut parts = s.split('/');
        let o = Owner {
            boot: parts.next()?.to_owned(),
            pid_ns: parts.next()?.to_owned(),
            pid: parts.next()?.parse().ok()?,
            start: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(o)
    }

    /// Whether this process is gone: judged only for processes of this boot and pid namespace
    /// (another host's, or another container's, are never judged gone).
    pub fn gone(&self, me: &Owner) -> bool {
        self.boot == me.boot && self.pid_ns == me.pid_ns && start_time(self.pid) != Some(self.start)
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}/{}", self.boot, self.pid_ns, self.pid, self.start)
    }
}

fn boot_id() -> Option<String> {
    Some(std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?.trim().to_owned())
}

fn pid_namespace() -> Option<String> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let s = link.to_string_lossy();
    Some(s.trim_start_matches("pid:[").trim_end_matches(']').to_owned())
}

/// A process's start time (clock ticks since boot, field 22 of its stat), while it lives.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command's closing parenthesis start at field 3.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// What slimctl created in the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Container(String),
    Network(String),
    Volume(String),
}

impl Created {
    /// Removal order: containers first, a network or a volume in use cannot go.
    pub fn removal_order(&self) -> u8 {
        match self {
            Created::Container(_) => 0,
            Created::Network(_) => 1,
            Created::Volume(_) => 2,
        }
    }
}

static CREATED: Mutex<Vec<(Docker, Created)>> = Mutex::new(Vec::new());

fn created() -> std::sync::MutexGuard<'static, Vec<(Docker, Created)>> {
    CREATED.lock().unwrap_or_else(|p| p.into_inner())
}

/// What [`sweep_orphans`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Orphans {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
}

impl Orphans {
    pub fn any(&self) -> bool {
        self.containers + self.networks + self.volumes > 0
    }
}

impl std::fmt::Display for Orphans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} container(s), {} network(s), {} volume(s)", self.containers, self.networks, self.volumes)
    }
}

/// Removes the containers, networks and volumes whose owner (by [`OWNER_LABEL`]) was a slimctl
/// process of this host that is gone: a run killed outright cannot remove them itself. What a
/// live run, another host or another container owns is left alone; so is what the engine
/// refuses to list or remove (the sweep never fails a run).
pub async fn sweep_orphans(docker: &Docker) -> Orphans {
    let Some(me) = Owner::me() else { return Orphans::default() };
    let orphaned = |labels: Option<&HashMap<String, String>>| {
        labels.and_then(|l| l.get(OWNER_LABEL)).and_then(|o| Owner::parse(o)).is_some_and(|o| o.gone(&me))
    };
    let filter = HashMap::from([("label".to_owned(), vec![OWNER_LABEL.to_owned()])]);
    let mut doomed: Vec<Created> = Vec::new();
    let opts = bollard::query_parameters::ListContainersOptions {
        all: true,
        filters: Some(filter.clone()),
        ..Default::default()
    };
    if let Ok(list) = docker.list_containers(Some(opts)).await {
        doomed.extend(
            list.into_iter().filter(|c| orphaned(c.labels.as_ref())).filter_map(|c| c.id).map(Created::Container),
        );
    }
    let opts = bollard::query_parameters::ListNetworksOptions { filters: Some(filter.clone()) };
    if let Ok(list) = docker.list_networks(Some(opts)).await {
        doomed.extend(
            list.into_iter().filter(|n| orphaned(n.labels.as_ref())).filter_map(|n| n.name).map(Created::Network),
        );
    }
    let opts = bollard::query_parameters::ListVolumesOptions { filters: Some(filter) };
    if let Ok(list) = docker.list_volumes(Some(opts)).await {
        let volumes = list.volumes.unwrap_or_default();
        doomed.extend(volumes.into_iter().filter(|v| orphaned(Some(&v.labels))).map(|v| Created::Volume(v.name)));
    }
    doomed.sort_by_key(Created::removal_order);
    let mut out = Orphans::default();
    for what in &doomed {
        remove_resource(docker, what).await;
        match what {
            Created::Container(_) => out.containers += 1,
            Created::Network(_) => out.networks += 1,
            Created::Volume(_) => out.volumes += 1,
        }
    }
    out
}

pub fn register(docker: &Docker, id: &str) {
    register_resource(docker, Created::Container(id.to_owned()));
}

pub fn register_resource(docker: &Docker, what: Created) {
    created().push((docker.clone(), what));
}

/// Removes one container (force: it may still run; with its anonymous volumes) and forgets it.
pub async fn remove(docker: &Docker, id: &str) {
    remove_resource(docker, &Created::Container(id.to_owned())).await;
}

/// Removes one thing slimctl created and forgets it.
pub async fn remove_resource(docker: &Docker, what: &Created) {
    let limit = Duration::from_secs(30);
    match what {
        Created::Container(id) => {
            let opts = bollard::query_parameters::RemoveContainerOptions { force: true, v: true, ..Default::default() };
            let _ = tokio::time::timeout(limit, docker.remove_container(id, Some(opts))).await;
        }
        Created::Network(name) => {
            let _ = tokio::time::timeout(limit, docker.remove_network(name)).await;
        }
        Created::Volume(name) => {
            let opts = bollard::query_parameters::RemoveVolumeOptions { force: true };
            let _ = tokio::time::timeout(limit, docker.remove_volume(name, Some(opts))).await;
        }
    }
    created().retain(|(_, c)| c != what);
}

/// Removes everything still registered: containers first (a network or a volume in use cannot
/// go). Returns how many things it removed.
pub async fn remove_all() -> usize {
    let mut all: Vec<(Docker, Created)> = std::mem::take(&mut *created());
    all.sort_by_key(|(_, c)| c.removal_order());
    let n = all.len();
    for (docker, what) in all {
        remove_resource(&docker, &what).await;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_gone_once_its_process_is_and_never_on_another_host_or_namespace() {
        let me = Owner::me().expect("this process has a boot id, a pid namespace and a start time");
        assert_eq!(Owner::parse(&me.to_string()), Some(me.clone()));
        assert!(!me.gone(&me), "this process lives");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let start = start_time(child.id());
        child.wait().unwrap();
        let dead = Owner { pid: child.id(), start: start.unwrap_or(1), ..me.clone() };
        assert!(dead.gone(&me), "a reaped process is gone");
        // Same pid, another start: the pid was reused by another process.
        let reused = Owner { start: me.start + 1, ..me.clone() };
        assert!(reused.gone(&me));
        let elsewhere = Owner { boot: "another-host".into(), ..dead.clone() };
        assert!(!elsewhere.gone(&me), "another boot's processes are not ours to judge");
        let in_container = Owner { pid_ns: "4026530000".into(), ..dead };
        assert!(!in_container.gone(&me), "another pid namespace's processes are not ours to judge");
        assert_eq!(Owner::parse("x/y/notanumber/1"), None);
        assert_eq!(Owner::parse("x/y/1/2/3"), None);
    }
}
