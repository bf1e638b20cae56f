//! Totals of a trace, for the end-of-run summary.
use crate::event::{Event, FileOp};
use crate::sensor::Counters;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub events: u64,
    pub file_events: u64,
    pub execs: u64,
    pub forks: u64,
    pub exits: u64,
    /// Distinct absolute paths touched, successfully or not.
    pub paths: usize,
    /// Distinct absolute paths looked up that did not exist (ENOENT).
    pub missing: usize,
    /// Events whose absolute path could not be determined.
    pub incomplete: u64,
    pub processes: usize,
    pub by_op: BTreeMap<FileOp, u64>,
    pub syscalls: BTreeSet<String>,
    pub counters: Counters,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip)]
    path_set: BTreeSet<String>,
    #[serde(skip)]
    missing_set: BTreeSet<String>,
    #[serde(skip)]
    pids: BTreeSet<u32>,
}

const ENOENT: i64 = 2;

impl Summary {
    pub fn add(&mut self, ev: &Event) {
        self.events += 1;
        self.pids.insert(ev.proc().pid);
        match ev {
            Event::File(f) => {
                self.file_events += 1;
                *self.by_op.entry(f.op).or_insert(0) += 1;
                if f.incomplete {
                    self.incomplete += 1;
                }
                if let Some(a) = &f.abs {
                    if f.result == -ENOENT {
                        self.missing_set.insert(a.clone());
                    } else {
                        self.path_set.insert(a.clone());
                    }
                }
            }
            Event::Exec(x) => {
                self.execs += 1;
                if let Some(a) = &x.abs {
                    self.path_set.insert(a.clone());
                }
            }
            Event::Fork(_) => self.forks += 1,
            Event::Exit(_) => self.exits += 1,
        }
        self.paths = self.path_set.len();
        self.missing = self.missing_set.len();
        self.processes = self.pids.len();
    }

    pub fn human(&self) -> String {
        format!(
            "sensor: {} events ({} file, {} exec, {} fork, {} exit) from {} processes; {} paths touched, {} looked up \
             and missing; {} syscalls used; lost {}; {} ms",
            self.events,
            self.file_events,
            self.execs,
            self.forks,
            self.exits,
            self.processes,
            self.paths,
            self.missing,
            self.syscalls.len(),
            self.counters.ring_full + self.counters.table_full,
            self.duration_ms
        )
    }
}
