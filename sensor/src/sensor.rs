//! Loads the tracer into the kernel, attaches it, and gives access to its maps and ring buffer.
//! Dropping a [`Sensor`] detaches every program and frees every map (nothing is pinned).
use crate::error::{Result, SensorError};
use crate::preflight;
use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf, EbpfLoader};
use std::collections::{BTreeSet, HashSet};
use tokio::io::unix::AsyncFd;
use tracer_ebpf::abi::{self, SyscallSet, TracerConfig, Tracked};
use tracer_ebpf::maps;

/// Ring-buffer size used when none is given: room for ~50k typical events, 8x what a burst of
/// 15k events a second (`find /` piped to `cat`) needed while the reader kept up. The kernel
/// maps the data area twice, so this costs twice its size in the loader's resident memory.
pub const DEFAULT_RING_SIZE: u32 = 8 << 20;

#[derive(Clone, Debug)]
pub struct SensorOptions {
    /// Bytes; a power of two, at least one page.
    pub ring_size: u32,
}

impl Default for SensorOptions {
    fn default() -> Self {
        SensorOptions { ring_size: DEFAULT_RING_SIZE }
    }
}

/// Kernel-side counters, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, PartialEq, Eq)]
pub struct Counters {
    /// Events dropped because the ring buffer was full.
    pub ring_full: u64,
    /// Processes that could not be tracked because the table was full.
    pub table_full: u64,
    /// Events whose directory walk was cut short (path reported as incomplete).
    pub truncated: u64,
    pub emitted: u64,
    pub syscall_table_full: u64,
}

impl Counters {
    /// Anything here means the trace is not the whole truth.
    pub fn check(&self) -> Result<()> {
        let mut parts = Vec::new();
        if self.ring_full > 0 {
            parts.push(format!("{} events dropped: ring buffer full", self.ring_full));
        }
        if self.table_full > 0 {
            parts.push(format!("{} processes untracked: process table full", self.table_full));
        }
        if self.syscall_table_full > 0 {
            parts.push(format!("{} syscall records dropped: table full", self.syscall_table_full));
        }
        if parts.is_empty() {
            Ok(())
        } else {
            Err(SensorError::LostEvents { detail: parts.join("; ") })
        }
    }
}

pub struct Sensor {
    ebpf: Ebpf,
    ring: AsyncFd<RingBuf<MapData>>,
    host_ns: u32,
    wakeup_bytes: u64,
}

/// How long the reader sleeps at most between drains: the kernel wakes it only once the
/// ring is a quarter full, so this bounds the latency of a quiet trace.
pub const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

impl Sensor {
    /// Loads and attaches the tracer. Nothing is traced until a process execs in a mount
    /// namespace other than this process's own (or, once bound, one of the bound namespaces).
    /// Needs a tokio runtime (the ring buffer is polled through it).
    pub fn load(opts: &SensorOptions) -> Result<Sensor> {
        preflight::check()?;
        let page = 4096u32;
        if !opts.ring_size.is_power_of_two() || opts.ring_size < page {
            return Err(SensorError::Target(format!(
                "ring size {} is not a power of two of at least {page} bytes",
                opts.ring_size
            )));
        }
        let wakeup_bytes = u64::from(opts.ring_size / 4);
        let host_ns = preflight::mnt_ns_of("self").map_err(|e| SensorError::io("reading /proc/self/ns/mnt", e))?;
        let btf =
            Btf::from_sys_fs().map_err(|e| SensorError::Kernel(format!("reading {}: {e}", preflight::KERNEL_BTF)))?;
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .map_max_entries(maps::EVENTS, opts.ring_size)
            .load(tracer_ebpf::OBJECT)
            .map_err(|e| load_error(&e))?;

        {
            let mut config: Array<_, TracerConfig> =
                Array::try_from(map_mut(&mut ebpf, maps::CONFIG)?).map_err(SensorError::map("opening a map"))?;
            config
                .set(0, TracerConfig { host_mnt_ns: host_ns, bound: 0, wakeup_bytes }, 0)
                .map_err(SensorError::map("writing the config map"))?;
        }

        // sched_process_exec starts tracking, so it goes last: every other hook is live by then.
        let order = ["on_sys_exit", "on_fork", "on_exit", "on_exec"];
        for name in order {
            let tp = tracer_ebpf::PROGRAMS.iter().find(|(p, _)| *p == name).map(|(_, tp)| *tp).unwrap_or(name);
            let prog: &mut BtfTracePoint = ebpf
                .program_mut(name)
                .ok_or_else(|| SensorError::Load(format!("program {name} missing from the object")))?
                .try_into()
                .map_err(|source| SensorError::Program { name: name.to_owned(), source })?;
            prog.load(tp, &btf).map_err(|e| load_error(&e))?;
            prog.attach().map_err(|source| SensorError::Attach { tracepoint: tp.to_string(), source })?;
        }

        let ring = RingBuf::try_from(
            ebpf.take_map(maps::EVENTS).ok_or_else(|| SensorError::Load("ring buffer map missing".into()))?,
        )
        .map_err(SensorError::map("opening a map"))?;
        // SAFETY: the RingBuf owns its map fd for its whole life and always returns that fd;
        // the AsyncFd owns the RingBuf.
        let ring = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
            .map_err(|e| SensorError::io("polling the ring buffer", e.into()))?;
        Ok(Sensor { ebpf, ring, host_ns, wakeup_bytes })
    }

    /// The mount namespace the sensor itself runs in: never traced.
    pub fn host_ns(&self) -> u32 {
        self.host_ns
    }

    /// From now on only processes exec'ing (or forking) in one of the bound namespaces start
    /// being tracked; processes of other namespaces tracked so far are dropped.
    pub fn bind(&mut self, ns: u32) -> Result<()> {
        {
            let mut targets: BpfHashMap<_, u32, u8> = BpfHashMap::try_from(map_mut(&mut self.ebpf, maps::TARGETS)?)
                .map_err(SensorError::map("opening a map"))?;
            targets.insert(ns, 1, 0).map_err(SensorError::map(format!("binding namespace {ns}")))?;
        }
        {
            let mut config: Array<_, TracerConfig> =
                Array::try_from(map_mut(&mut self.ebpf, maps::CONFIG)?).map_err(SensorError::map("opening a map"))?;
            config
                .set(0, TracerConfig { host_mnt_ns: self.host_ns, bound: 1, wakeup_bytes: self.wakeup_bytes }, 0)
                .map_err(SensorError::map("opening a map"))?;
        }
        let bound = self.bound_namespaces()?;
        let mut tracked: BpfHashMap<_, u32, Tracked> =
            BpfHashMap::try_from(map_mut(&mut self.ebpf, maps::TRACKED)?).map_err(SensorError::map("opening a map"))?;
        let strangers: Vec<u32> = tracked
            .iter()
            .filter_map(|r| r.ok())
            .filter(|(_, t)| !bound.contains(&t.mnt_ns))
            .map(|(pid, _)| pid)
            .collect();
        for pid in strangers {
            let _ = tracked.remove(&pid); // it may have exited meanwhile
        }
        Ok(())
    }

    /// Idle: bound to no namespace, so nothing new is tracked, and nothing tracked, recorded or
    /// counted is left from the last target. `arm` makes it ready for the next one. Reusing a
    /// loaded sensor skips loading and verifying the programs again.
    pub fn reset(&mut self) -> Result<()> {
        self.set_bound(1)?;
        self.clear()
    }

    /// Ready for a new target, as right after `load`: records every non-host namespace's execs
    /// until `bind`. Clears what an idle period may have left.
    pub fn arm(&mut self) -> Result<()> {
        self.clear()?;
        self.set_bound(0)
    }

    fn set_bound(&mut self, bound: u32) -> Result<()> {
        let mut config: Array<_, TracerConfig> =
            Array::try_from(map_mut(&mut self.ebpf, maps::CONFIG)?).map_err(SensorError::map("opening a map"))?;
        config
            .set(0, TracerConfig { host_mnt_ns: self.host_ns, bound, wakeup_bytes: self.wakeup_bytes }, 0)
            .map_err(SensorError::map("configuring the sensor"))
    }

    fn clear(&mut self) -> Result<()> {
        let e = || SensorError::map("resetting the sensor");
        clear_hash::<u8>(&mut self.ebpf, maps::TARGETS)?;
        clear_hash::<Tracked>(&mut self.ebpf, maps::TRACKED)?;
        clear_hash::<SyscallSet>(&mut self.ebpf, maps::SYSCALLS)?;
        {
            let mut counters: PerCpuArray<_, u64> =
                PerCpuArray::try_from(map_mut(&mut self.ebpf, maps::COUNTERS)?).map_err(e())?;
            let cpus = aya::util::nr_cpus().map_err(|(_, err)| SensorError::io("counting CPUs", err))?;
            for slot in 0..abi::CNT_MAX {
                counters
                    .set(
                        slot,
                        aya::maps::PerCpuValues::try_from(vec![0u64; cpus])
                            .map_err(|err| SensorError::io("zeroing counters", err))?,
                        0,
                    )
                    .map_err(e())?;
            }
        }
        self.drain(|_| {});
        Ok(())
    }

    fn bound_namespaces(&self) -> Result<HashSet<u32>> {
        let targets: BpfHashMap<_, u32, u8> =
            BpfHashMap::try_from(map(&self.ebpf, maps::TARGETS)?).map_err(SensorError::map("opening a map"))?;
        Ok(targets.keys().filter_map(|k| k.ok()).collect())
    }

    /// Tracks a process that already exists (and its future children).
    pub fn track(&mut self, pid: u32, ns: u32) -> Result<()> {
        let mut tracked: BpfHashMap<_, u32, Tracked> =
            BpfHashMap::try_from(map_mut(&mut self.ebpf, maps::TRACKED)?).map_err(SensorError::map("opening a map"))?;
        tracked
            .insert(pid, Tracked { mnt_ns: ns, ..Default::default() }, 0)
            .map_err(SensorError::map(format!("tracking pid {pid}")))
    }

    pub fn counters(&self) -> Result<Counters> {
        let counters: PerCpuArray<_, u64> =
            PerCpuArray::try_from(map(&self.ebpf, maps::COUNTERS)?).map_err(SensorError::map("opening a map"))?;
        let sum = |slot: u32| -> Result<u64> {
            let v = counters.get(&slot, 0).map_err(SensorError::map("reading counters"))?;
            Ok(v.iter().sum())
        };
        Ok(Counters {
            ring_full: sum(abi::CNT_RING_FULL)?,
            table_full: sum(abi::CNT_TABLE_FULL)?,
            truncated: sum(abi::CNT_TRUNCATED)?,
            emitted: sum(abi::CNT_EMITTED)?,
            syscall_table_full: sum(abi::CNT_SYSCALL_TABLE_FULL)?,
        })
    }

    /// Names of the syscalls made by the target's processes (those that exited and those
    /// still tracked) in the given namespaces.
    pub fn syscalls(&self, namespaces: &HashSet<u32>) -> Result<BTreeSet<String>> {
        let mut set = SyscallSet::default();
        let exited: BpfHashMap<_, u32, SyscallSet> =
            BpfHashMap::try_from(map(&self.ebpf, maps::SYSCALLS)?).map_err(SensorError::map("opening a map"))?;
        for (ns, s) in exited.iter().filter_map(|r| r.ok()) {
            if namespaces.contains(&ns) {
                set.union(&s.seen);
            }
        }
        let live: BpfHashMap<_, u32, Tracked> =
            BpfHashMap::try_from(map(&self.ebpf, maps::TRACKED)?).map_err(SensorError::map("opening a map"))?;
        for (_, t) in live.iter().filter_map(|r| r.ok()) {
            if namespaces.contains(&t.mnt_ns) {
                set.union(&t.seen);
            }
        }
        Ok(set
            .numbers()
            .map(|n| {
                syscalls::Sysno::new(n as usize).map(|s| s.name().to_string()).unwrap_or_else(|| format!("syscall_{n}"))
            })
            .collect())
    }

    /// Waits until the kernel signals a filling ring buffer, or [`POLL_INTERVAL`] passes.
    pub async fn readable(&mut self) -> Result<()> {
        if let Ok(guard) = tokio::time::timeout(POLL_INTERVAL, self.ring.readable_mut()).await {
            guard.map_err(|e| SensorError::io("polling the ring buffer", e))?.clear_ready();
        }
        Ok(())
    }

    /// Hands every record now in the ring buffer to `f`; returns how many.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        let ring = self.ring.get_mut();
        let mut n = 0;
        while let Some(item) = ring.next() {
            f(&item);
            n += 1;
        }
        n
    }
}

/// Empties a hash map keyed by u32 (keys that vanish meanwhile are fine).
fn clear_hash<V: aya::Pod>(ebpf: &mut Ebpf, name: &str) -> Result<()> {
    let mut m: BpfHashMap<_, u32, V> =
        BpfHashMap::try_from(map_mut(ebpf, name)?).map_err(SensorError::map("resetting the sensor"))?;
    let keys: Vec<u32> = m.keys().filter_map(|k| k.ok()).collect();
    for k in keys {
        let _ = m.remove(&k);
    }
    Ok(())
}

fn map<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a aya::maps::Map> {
    ebpf.map(name).ok_or_else(|| SensorError::Load(format!("map {name} missing from the object")))
}

fn map_mut<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut aya::maps::Map> {
    ebpf.map_mut(name).ok_or_else(|| SensorError::Load(format!("map {name} missing from the object")))
}

pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// A load failure: EPERM means privileges (preflight could not tell, e.g. a seccomp filter
/// or a lockdown); anything else is reported with the verifier's log where aya has it.
fn load_error(e: &(dyn std::error::Error + 'static)) -> SensorError {
    let msg = chain(e);
    if msg.contains("Operation not permitted") || msg.contains("EPERM") {
        let missing = preflight::effective_caps().map(preflight::missing_caps).unwrap_or_default();
        if !missing.is_empty() {
            return SensorError::Privileges { missing: missing.join(", ") };
        }
        return SensorError::Load(format!(
            "{msg} (the kernel refused although the process has CAP_BPF and CAP_PERFMON: a seccomp filter, \
             kernel lockdown, or running inside a container can forbid bpf())"
        ));
    }
    SensorError::Load(msg)
}
