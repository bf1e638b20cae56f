//! Decides which traced processes belong to the target, turning the kernel's stream (which,
//! before binding, holds every process that exec'd outside the host's mount namespace) into
//! the target's events only.
//!
//! A target is bound to mount namespaces. A container's namespace only exists once the runtime
//! creates it, so the sensor starts unbound, events are held back, and the session binds as
//! soon as it learns the namespace: from the caller (a known pid) or from an exec event whose
//! cgroup names the container. Held-back events of the bound namespace are then released in
//! order; others are dropped.
use crate::error::{Result, SensorError};
use crate::event::{decode, Event};
use crate::sensor::{Counters, Sensor};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// Events held back before binding; past this the target is not coming and memory is not free.
const PENDING_LIMIT: usize = 2_000_000;
/// How often the kernel's loss counters are read while streaming.
const COUNTER_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Clone, Debug)]
pub enum Target {
    /// A mount namespace already known (bound at once).
    Namespace(u32),
    /// A container by full id: bound when one of its processes execs (its cgroup names it).
    Container(String),
}

pub struct Session {
    sensor: Sensor,
    container: Option<String>,
    bound: HashSet<u32>,
    accepted: HashSet<u32>,
    pending: Vec<Event>,
    last_check: Instant,
    /// Accepted processes that exited, and their exit codes.
    exited: BTreeMap<u32, i32>,
}

impl Session {
    pub fn new(sensor: Sensor, target: Target) -> Result<Session> {
        let mut s = Session {
            sensor,
            container: None,
            bound: HashSet::new(),
            accepted: HashSet::new(),
            pending: Vec::new(),
            last_check: Instant::now(),
            exited: BTreeMap::new(),
        };
        match target {
            Target::Namespace(ns) => {
                s.bind(ns)?;
            }
            Target::Container(id) => s.container = Some(id),
        }
        Ok(s)
    }

    pub fn sensor(&self) -> &Sensor {
        &self.sensor
    }

    pub fn is_bound(&self) -> bool {
        !self.bound.is_empty()
    }

    pub fn namespaces(&self) -> &HashSet<u32> {
        &self.bound
    }

    /// Binds the target's mount namespace; returns held-back events that now belong to it.
    pub fn bind(&mut self, ns: u32) -> Result<Vec<Event>> {
        if ns == self.sensor.host_ns() {
            return Err(SensorError::Target(
                "the target shares the sensor's own mount namespace; the sensor only traces processes in \
                 another mount namespace (a container, or `sensor trace`)"
                    .into(),
            ));
        }
        if !self.bound.insert(ns) {
            return Ok(Vec::new());
        }
        self.sensor.bind(ns)?;
        let pending = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        for ev in pending {
            self.accept(ev, &mut out);
        }
        Ok(out)
    }

    /// Adopts a process that already runs in the target (it exec'd before the sensor attached).
    pub fn adopt(&mut self, pid: u32, ns: u32) -> Result<()> {
        self.sensor.track(pid, ns)?;
        self.accepted.insert(pid);
        Ok(())
    }

    /// Processes of the target still alive, as far as the trace shows.
    pub fn live(&self) -> usize {
        self.accepted.len()
    }

    pub fn exited(&self) -> &BTreeMap<u32, i32> {
        &self.exited
    }

    /// Waits for records (or the poll interval) and returns the target's events among them,
    /// maybe none. Fails as soon as the kernel reports a loss.
    pub async fn next_events(&mut self) -> Result<Vec<Event>> {
        self.sensor.readable().await?;
        self.poll_events()
    }

    /// Returns the target's events among the records already in the ring (maybe none).
    pub fn poll_events(&mut self) -> Result<Vec<Event>> {
        let mut raw = Vec::new();
        let mut err = None;
        self.sensor.drain(|rec| match decode(rec) {
            Ok(ev) => raw.push(ev),
            Err(e) => err = err.take().or(Some(e)),
        });
        if let Some(e) = err {
            return Err(e);
        }
        if self.last_check.elapsed() >= COUNTER_INTERVAL {
            self.last_check = Instant::now();
            self.sensor.counters()?.check()?;
        }
        let mut out = Vec::new();
        for ev in raw {
            self.route(ev, &mut out)?;
        }
        Ok(out)
    }

    /// Final check after the last drain: losses anywhere in the run fail the trace.
    pub fn finish(&mut self) -> Result<Counters> {
        let c = self.sensor.counters()?;
        c.check()?;
        Ok(c)
    }

    pub fn syscalls(&self) -> Result<std::collections::BTreeSet<String>> {
        self.sensor.syscalls(&self.bound)
    }

    fn route(&mut self, ev: Event, out: &mut Vec<Event>) -> Result<()> {
        if !self.is_bound() {
            if let (Event::Exec(x), Some(id)) = (&ev, &self.container) {
                if !id.is_empty() && x.cgroup.contains(id.as_str()) {
                    let ns = x.proc.mnt_ns;
                    self.pending.push(ev);
                    out.extend(self.bind(ns)?);
                    return Ok(());
                }
            }
            if self.pending.len() >= PENDING_LIMIT {
                return Err(SensorError::Target(format!(
                    "{PENDING_LIMIT} events arrived before the target's namespace was known; giving up"
                )));
            }
            self.pending.push(ev);
            return Ok(());
        }
        self.accept(ev, out);
        Ok(())
    }

    fn accept(&mut self, ev: Event, out: &mut Vec<Event>) {
        let pid = ev.proc().pid;
        let ns = ev.proc().mnt_ns;
        let take = match &ev {
            Event::Exec(_) => self.accepted.contains(&pid) || self.bound.contains(&ns),
            // A child of the target, wherever it runs; or a process of the namespace that
            // predates the sensor forking.
            Event::Fork(f) => self.accepted.contains(&f.ppid) || self.bound.contains(&ns),
            Event::File(_) | Event::Exit(_) => self.accepted.contains(&pid),
        };
        if !take {
            return;
        }
        match &ev {
            Event::Exec(_) | Event::Fork(_) => {
                self.accepted.insert(pid);
            }
            Event::Exit(x) => {
                self.accepted.remove(&pid);
                self.exited.insert(pid, x.code());
            }
            Event::File(_) => {}
        }
        out.push(ev);
    }
}
