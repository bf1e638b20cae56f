//! Which traced processes belong to the target: pure bookkeeping over the event stream, kept
//! apart from the kernel so it can be tested with fixtures.
//!
//! Before the target's mount namespace is known every event is held back; once bound, held
//! events are replayed in order. A process belongs to the target when it execs in a bound
//! namespace, is a child of a process that belongs, or was adopted (it already ran there).
use crate::event::Event;
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Default)]
pub struct Router {
    container: Option<String>,
    bound: HashSet<u32>,
    accepted: HashSet<u32>,
    /// In a bound namespace but not the app's until they exec (see the module's note).
    setup: HashSet<u32>,
    pending: Vec<Event>,
    exited: BTreeMap<u32, i32>,
    /// Every process of the target has exited: its namespace is gone, and the kernel may give
    /// its number to the next container's (another build, a `docker run` beside): no new
    /// process is taken by namespace any more.
    ended: bool,
    /// Events stamped earlier (CLOCK_MONOTONIC ns) are another process's: see [`Router::ignore_before`].
    not_before: u64,
}

/// What routing one event asks of the caller.
#[derive(Debug, Default, PartialEq)]
pub struct Routed {
    /// Events of the target, in order.
    pub events: Vec<Event>,
    /// A namespace to bind in the kernel: this event revealed the target's.
    pub bind: Option<u32>,
}

impl Router {
    /// A router for a container known by id: it binds on the first exec whose cgroup names it.
    pub fn for_container(id: &str) -> Router {
        Router { container: Some(id.to_string()), ..Default::default() }
    }

    pub fn is_bound(&self) -> bool {
        !self.bound.is_empty()
    }

    pub fn namespaces(&self) -> &HashSet<u32> {
        &self.bound
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn live(&self) -> usize {
        self.accepted.len()
    }

    pub fn exited(&self) -> &BTreeMap<u32, i32> {
        &self.exited
    }

    /// Binds a namespace; returns the held-back events that belong to the target. False-y
    /// (empty) when it was bound already.
    pub fn bind(&mut self, ns: u32) -> Vec<Event> {
        if !self.bound.insert(ns) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for ev in std::mem::take(&mut self.pending) {
            self.accept(ev, &mut out);
        }
        out
    }

    pub fn adopt(&mut self, pid: u32) {
        self.accepted.insert(pid);
        self.ended = false;
    }

    /// Whether a process in `ns` belongs by its namespace alone.
    fn in_target(&self, ns: u32) -> bool {
        !self.ended && self.bound.contains(&ns)
    }

    /// Drops every event stamped before `ts_ns`. A namespace's number is given again as soon as
    /// it is freed: events of a namespace that ended before the target's was made, still in the
    /// ring, carry the same number and are not the target's.
    pub fn ignore_before(&mut self, ts_ns: u64) {
        self.not_before = ts_ns;
    }

    pub fn route(&mut self, ev: Event) -> Routed {
        let mut r = Routed::default();
        if ev.proc().ts_ns < self.not_before {
            return r;
        }
        if !self.is_bound() {
            let reveals = match (&ev, &self.container) {
                (Event::Exec(x), Some(id)) if !id.is_empty() && x.cgroup.contains(id.as_str()) => Some(x.proc.mnt_ns),
                _ => None,
            };
            self.pending.push(ev);
            if let Some(ns) = reveals {
                r.events = self.bind(ns);
                r.bind = Some(ns);
            }
            return r;
        }
        self.accept(ev, &mut r.events);
        r
    }

    fn accept(&mut self, ev: Event, out: &mut Vec<Event>) {
        let pid = ev.proc().pid;
        let ns = ev.proc().mnt_ns;
        match &ev {
            Event::Exec(x) => {
                // An exec names its cgroup: one in another container's is not the target's,
                // whatever its namespace's number (numbers are given again once freed, and
                // held-back events from before the bind may be another container's).
                let theirs = self
                    .container
                    .as_deref()
                    .is_some_and(|id| !id.is_empty() && !x.cgroup.is_empty() && !x.cgroup.contains(id));
                if theirs {
                    self.setup.remove(&pid);
                    return;
                }
                let was_setup = self.setup.remove(&pid);
                if !(was_setup || self.accepted.contains(&pid) || self.in_target(ns)) {
                    return;
                }
                self.accepted.insert(pid);
            }
            Event::Fork(f) => {
                if self.accepted.contains(&f.ppid) {
                    self.accepted.insert(pid);
                } else if self.setup.contains(&f.ppid) || self.in_target(ns) {
                    self.setup.insert(pid);
                    return;
                } else {
                    return;
                }
            }
            Event::Exit(x) => {
                self.setup.remove(&pid);
                if !self.accepted.remove(&pid) {
                    return;
                }
                self.ended = self.accepted.is_empty();
                self.exited.insert(pid, x.code());
            }
            Event::File(_) => {
                if !self.accepted.contains(&pid) {
                    return;
                }
            }
        }
        out.push(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Exec, Exit, FileAccess, FileOp, Fork, Proc};

    const TARGET: u32 = 4026532001;
    const OTHER: u32 = 4026532002;

    fn proc(pid: u32, ns: u32) -> Proc {
        Proc { pid, tid: pid, comm: "x".into(), mnt_ns: ns, ts_ns: 0 }
    }

    fn exec(pid: u32, ns: u32, cgroup: &str) -> Event {
        Event::Exec(Exec {
            proc: proc(pid, ns),
            ppid: 1,
            filename: "/bin/x".into(),
            abs: Some("/bin/x".into()),
            interp: "/bin/x".into(),
            exe: Some("/bin/x".into()),
            args: vec![],
            cgroup: cgroup.into(),
            incomplete: false,
        })
    }

    fn open(pid: u32, ns: u32, path: &str) -> Event {
        Event::File(FileAccess::absolute(proc(pid, ns), FileOp::Open, path, 0, 3))
    }

    fn fork(child: u32, parent: u32, ns: u32) -> Event {
        Event::Fork(Fork { proc: proc(child, ns), ppid: parent })
    }

    fn exit(pid: u32, ns: u32, code: i32) -> Event {
        Event::Exit(Exit { proc: proc(pid, ns), status: code << 8 })
    }

    fn paths(evs: &[Event]) -> Vec<String> {
        evs.iter()
            .filter_map(|e| match e {
                Event::File(f) => f.abs.clone(),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn events_from_before_the_namespace_was_made_are_not_the_targets_though_its_number_matches() {
        let mut r = Router::default();
        r.ignore_before(100);
        r.bind(TARGET);
        let stamped = |mut ev: Event, ts: u64| {
            match &mut ev {
                Event::Exec(x) => x.proc.ts_ns = ts,
                Event::File(f) => f.proc.ts_ns = ts,
                Event::Fork(f) => f.proc.ts_ns = ts,
                Event::Exit(x) => x.proc.ts_ns = ts,
            }
            ev
        };
        // A process of an earlier namespace with the same number, then the target's own.
        let mut out = r.route(stamped(exec(7, TARGET, ""), 50)).events;
        out.extend(r.route(stamped(open(7, TARGET, "/earlier"), 60)).events);
        r.adopt(8);
        out.extend(r.route(stamped(exec(8, TARGET, ""), 150)).events);
        out.extend(r.route(stamped(open(8, TARGET, "/mine"), 160)).events);
        assert_eq!(paths(&out), ["/mine"]);
        assert_eq!(out.iter().map(|e| e.proc().pid).collect::<Vec<_>>(), [8, 8]);
    }

    #[test]
    fn events_before_binding_are_held_then_released_in_order_for_the_target_only() {
        let mut r = Router::for_container("abc123");
        // the neighbour starts first
        assert_eq!(r.route(exec(20, OTHER, "def456")), Routed::default());
        assert_eq!(r.route(open(20, OTHER, "/neighbour")), Routed::default());
        assert_eq!(r.pending(), 2);
        let routed = r.route(exec(10, TARGET, "abc123"));
        assert_eq!(routed.bind, Some(TARGET));
        assert_eq!(routed.events.len(), 1, "the target's exec, nothing of the neighbour");
        let routed = r.route(open(10, TARGET, "/etc/app.conf"));
        assert_eq!(paths(&routed.events), vec!["/etc/app.conf"]);
        assert!(r.route(open(20, OTHER, "/neighbour2")).events.is_empty());
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn a_cgroup_that_does_not_name_the_container_never_binds() {
        let mut r = Router::for_container("abc123");
        assert_eq!(r.route(exec(20, OTHER, "def456")).bind, None);
        assert!(!r.is_bound());
    }

    #[test]
    fn children_follow_their_parent_even_into_another_namespace() {
        let mut r = Router::default();
        r.bind(TARGET);
        r.route(exec(10, TARGET, ""));
        let routed = r.route(fork(11, 10, OTHER)); // the app unshared a namespace for a child
        assert_eq!(routed.events.len(), 1);
        assert_eq!(paths(&r.route(open(11, OTHER, "/data")).events), vec!["/data"]);
        assert_eq!(r.live(), 2);
    }

    #[test]
    fn exits_are_recorded_and_a_reused_pid_is_not_the_target() {
        let mut r = Router::default();
        r.bind(TARGET);
        r.route(exec(10, TARGET, ""));
        assert_eq!(r.route(exit(10, TARGET, 3)).events.len(), 1);
        assert_eq!(r.exited().get(&10), Some(&3));
        assert_eq!(r.live(), 0);
        // pid 10 reused by a host process that was never exec'd in the namespace
        assert!(r.route(open(10, OTHER, "/host")).events.is_empty());
    }

    /// Once the target's last process is gone, its namespace number may be the next
    /// container's: a process that execs there later is someone else's (a build beside, a
    /// `docker run` of another image).
    #[test]
    fn a_namespace_number_given_again_after_the_target_ended_is_not_the_targets() {
        let mut r = Router::for_container("abc123");
        assert!(r.route(exec(10, TARGET, "abc123")).bind.is_some());
        assert_eq!(r.route(fork(11, 10, TARGET)).events.len(), 1);
        assert_eq!(r.route(exit(11, TARGET, 0)).events.len(), 1);
        assert_eq!(r.route(exit(10, TARGET, 0)).events.len(), 1);
        assert_eq!(r.live(), 0);
        assert!(r.route(exec(20, TARGET, "other")).events.is_empty(), "another container's process");
        assert!(r.route(fork(21, 20, TARGET)).events.is_empty());
        assert!(r.route(open(20, TARGET, "/usr/bin/gzip")).events.is_empty());
        assert_eq!(r.exited().len(), 2);
    }

    /// Events held back before the bind may come from a container that had the namespace's
    /// number before the target got it: its execs name another cgroup.
    #[test]
    fn a_held_back_exec_of_another_container_is_not_the_targets() {
        let mut r = Router::for_container("abc123");
        assert!(r.route(exec(5, TARGET, "/docker/other999")).events.is_empty());
        assert!(r.route(open(5, TARGET, "/usr/bin/gzip")).events.is_empty());
        let routed = r.route(exec(10, TARGET, "/docker/abc123"));
        assert!(routed.bind.is_some());
        assert_eq!(routed.events.len(), 1, "only the target's exec: {:?}", routed.events);
        assert!(r.route(open(5, TARGET, "/usr/bin/gzip")).events.is_empty());
        assert_eq!(r.live(), 1);
    }

    #[test]
    fn adopted_processes_belong_and_their_forks_too() {
        let mut r = Router::default();
        r.bind(TARGET);
        r.adopt(30);
        assert_eq!(paths(&r.route(open(30, TARGET, "/a")).events), vec!["/a"]);
        assert_eq!(r.route(fork(31, 30, TARGET)).events.len(), 1);
        assert_eq!(paths(&r.route(open(31, TARGET, "/b")).events), vec!["/b"]);
    }

    #[test]
    fn file_events_of_unknown_processes_in_the_namespace_are_not_taken() {
        // A process of the namespace that never exec'd under the sensor (the runtime's set-up
        // before the entrypoint's exec) is not the app.
        let mut r = Router::default();
        r.bind(TARGET);
        assert!(r.route(open(40, TARGET, "/proc/self/fd/5")).events.is_empty());
    }

    #[test]
    fn the_runtime_setting_up_in_the_namespace_belongs_only_from_its_exec() {
        // runc's init (of the container or of a `docker exec`) forks into the bound namespace
        // from a parent that is not the target's, reads the user database, then execs.
        let mut r = Router::for_container("abc123");
        assert!(r.route(exec(10, TARGET, "abc123")).bind.is_some());
        assert!(r.route(fork(50, 49, TARGET)).events.is_empty());
        assert!(r.route(open(50, TARGET, "/etc/passwd")).events.is_empty());
        assert!(r.route(fork(51, 50, TARGET)).events.is_empty(), "a child of the set-up is set-up too");
        assert!(r.route(open(51, TARGET, "/etc/group")).events.is_empty());
        assert_eq!(r.live(), 1);
        assert_eq!(r.route(exec(50, TARGET, "abc123")).events.len(), 1, "from its exec it is the target's");
        assert_eq!(paths(&r.route(open(50, TARGET, "/usr/bin/redis-cli")).events), vec!["/usr/bin/redis-cli"]);
        assert!(r.route(exit(51, TARGET, 0)).events.is_empty(), "the set-up's exit is not the target's");
        assert!(!r.exited().contains_key(&51));
        assert_eq!(r.route(exit(50, TARGET, 0)).events.len(), 1);
    }

    #[test]
    fn set_up_held_before_binding_is_dropped_on_replay() {
        let mut r = Router::for_container("abc123");
        r.route(fork(10, 9, TARGET));
        r.route(open(10, TARGET, "/etc/passwd"));
        let routed = r.route(exec(10, TARGET, "abc123"));
        assert_eq!(routed.events.len(), 1, "only the exec: {:?}", routed.events);
        assert_eq!(paths(&r.route(open(10, TARGET, "/app/main.py")).events), vec!["/app/main.py"]);
    }
}
