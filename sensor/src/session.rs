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
use crate::route::Router;
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
    router: Router,
    last_check: Instant,
}

impl Session {
    pub fn new(sensor: Sensor, target: Target) -> Result<Session> {
        let router = match &target {
            Target::Container(id) => Router::for_container(id),
            Target::Namespace(_) => Router::default(),
        };
        let mut s = Session { sensor, router, last_check: Instant::now() };
        if let Target::Namespace(ns) = target {
            s.bind(ns)?;
        }
        Ok(s)
    }

    pub fn sensor(&self) -> &Sensor {
        &self.sensor
    }

    pub fn is_bound(&self) -> bool {
        self.router.is_bound()
    }

    pub fn namespaces(&self) -> &HashSet<u32> {
        self.router.namespaces()
    }

    /// Binds the target's mount namespace; returns held-back events that now belong to it.
    pub fn bind(&mut self, ns: u32) -> Result<Vec<Event>> {
        self.check_ns(ns)?;
        self.sensor.bind(ns)?;
        Ok(self.router.bind(ns))
    }

    fn check_ns(&self, ns: u32) -> Result<()> {
        if ns == self.sensor.host_ns() {
            return Err(SensorError::Target(
                "the target shares the sensor's own mount namespace; the sensor only traces processes in \
                 another mount namespace (a container, or `sensor trace`)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Drops events stamped before `ts_ns` (CLOCK_MONOTONIC, as the kernel stamps them): for a
    /// namespace made at that moment, earlier events are of another that had its number.
    pub fn ignore_before(&mut self, ts_ns: u64) {
        self.router.ignore_before(ts_ns);
    }

    /// Adopts a process that already runs in the target (it exec'd before the sensor attached).
    pub fn adopt(&mut self, pid: u32, ns: u32) -> Result<()> {
        self.sensor.track(pid, ns)?;
        self.router.adopt(pid);
        Ok(())
    }

    /// Processes of the target still alive, as far as the trace shows.
    pub fn live(&self) -> usize {
        self.router.live()
    }

    pub fn exited(&self) -> &BTreeMap<u32, i32> {
        self.router.exited()
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
            let routed = self.router.route(ev);
            if let Some(ns) = routed.bind {
                self.check_ns(ns)?;
                self.sensor.bind(ns)?;
            }
            out.extend(routed.events);
            if self.router.pending() >= PENDING_LIMIT {
                return Err(SensorError::Target(format!(
                    "{PENDING_LIMIT} events arrived before the target's namespace was known; giving up"
                )));
            }
        }
        Ok(out)
    }

    /// Final check after the last drain: losses anywhere in the run fail the trace.
    pub fn finish(&mut self) -> Result<Counters> {
        let c = self.sensor.counters()?;
        c.check()?;
        Ok(c)
    }

    /// Ends the session and hands the sensor back, reset for another target.
    pub fn into_sensor(self) -> Result<Sensor> {
        let mut sensor = self.sensor;
        sensor.reset()?;
        Ok(sensor)
    }

    pub fn syscalls(&self) -> Result<std::collections::BTreeSet<String>> {
        self.sensor.syscalls(self.router.namespaces())
    }
}
