//! What a traced run touched, boiled down from the sensor's events to the paths that seed the
//! keep-set: every path used successfully (opened, executed, stat'ed, listed, read as a link,
//! changed, removed), and every directory something was created in. Failed lookups seed
//! nothing: what was absent stays absent in the slim image.
use sensor::event::{Event, FileAccess, FileOp, Proc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    pub how: &'static str,
    pub by: String,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct TraceStats {
    pub events: u64,
    pub file_events: u64,
    /// File syscalls that failed (mostly lookups of absent files).
    pub failed: u64,
    pub execs: u64,
    pub processes: usize,
    /// Events whose absolute path could not be determined (reported, not guessed).
    pub incomplete: u64,
    /// Distinct paths used successfully.
    pub paths: usize,
    /// Distinct directories the run created files in.
    pub written_in: usize,
}

#[derive(Debug, Default)]
pub struct Touched {
    /// First use of each path.
    pub paths: BTreeMap<String, Touch>,
    /// Directories files were created in (their new entries are runtime products).
    pub written_in: BTreeMap<String, Touch>,
    /// Paths looked up and not found (ENOENT/ENOTDIR): what a slim image may be missing.
    pub missing: BTreeMap<String, Touch>,
    /// Paths that could not be created because their directory was not there (ENOENT): the
    /// directory is what a slim image may be missing.
    pub create_failed: BTreeMap<String, Touch>,
    /// Commands executed, in order: argv.
    pub commands: Vec<Vec<String>>,
    /// Paths used during a numbered step ([`MARK_PREFIX`]) and not before any, with the first
    /// step in step order that used them: what a driver that marks each of its steps used for
    /// each. Steps may run in several processes at once; the first in order is the one a
    /// single process taking them in order would have charged (a later step finds the path's
    /// module loaded already).
    pub marked: BTreeMap<String, u32>,
    /// Each process's step under way: the mark it last looked up, until its next. A child
    /// starts in its parent's step (what an item's load runs is the item's).
    marks: HashMap<u32, u32>,
    pids: BTreeSet<u32>,
    stats: TraceStats,
}

fn parent(path: &str) -> &str {
    crate::image::index::entry::parent(path.trim_end_matches('/'))
}

/// A program under the sensor marks the start of a step by looking up
/// `/.slimctl-mark/STEP`, a path no image has (the sweep's driver does, before each item).
pub const MARK_PREFIX: &str = "/.slimctl-mark/";

/// Records the first use of `path`. The "comm[pid]" label is only formatted then: most events
/// touch a path already recorded.
fn first_use(map: &mut BTreeMap<String, Touch>, path: &str, how: &'static str, p: &Proc) {
    if !map.contains_key(path) {
        map.insert(path.to_owned(), Touch { how, by: format!("{}[{}]", p.comm, p.pid) });
    }
}

fn op_name(op: FileOp) -> &'static str {
    match op {
        FileOp::Open => "open",
        FileOp::ExecAttempt => "exec",
        FileOp::Stat => "stat",
        FileOp::Access => "access",
        FileOp::Readlink => "readlink",
        FileOp::List => "list",
        FileOp::Chdir => "chdir",
        FileOp::Mkdir => "mkdir",
        FileOp::Rename => "rename",
        FileOp::Link => "link",
        FileOp::Symlink => "symlink",
        FileOp::Unlink => "unlink",
        FileOp::Rmdir => "rmdir",
        FileOp::Mknod => "mknod",
        FileOp::Setattr => "setattr",
    }
}

impl Touched {
    pub fn add(&mut self, ev: &Event) {
        self.stats.events += 1;
        let p = ev.proc();
        self.pids.insert(p.pid);
        match ev {
            Event::File(f) => self.add_file(f),
            Event::Exec(x) => {
                self.stats.execs += 1;
                if x.incomplete {
                    self.stats.incomplete += 1;
                }
                self.commands.push(x.args.clone());
                for path in [x.abs.as_deref(), x.exe.as_deref(), Some(x.interp.as_str()).filter(|i| i.starts_with('/'))]
                    .into_iter()
                    .flatten()
                {
                    self.use_path(path, "exec", p);
                }
            }
            Event::Fork(f) => {
                if let Some(step) = self.marks.get(&f.ppid).copied() {
                    self.marks.insert(p.pid, step);
                }
            }
            // Pids are reused: a process's step ends with it (its main thread's exit).
            Event::Exit(_) if p.tid == p.pid => {
                self.marks.remove(&p.pid);
            }
            Event::Exit(_) => {}
        }
    }

    /// The first use of an image path, marked with the step under way.
    fn use_path(&mut self, path: &str, how: &'static str, p: &Proc) {
        if let Some(&step) = self.marks.get(&p.pid) {
            match self.marked.get_mut(path) {
                Some(first) => *first = (*first).min(step),
                None if !self.paths.contains_key(path) => {
                    self.marked.insert(path.to_owned(), step);
                }
                None => {}
            }
        }
        first_use(&mut self.paths, path, how, p);
    }

    fn add_file(&mut self, f: &FileAccess) {
        let p = &f.proc;
        self.stats.file_events += 1;
        if f.incomplete {
            self.stats.incomplete += 1;
        }
        const EINVAL: i64 = 22;
        // readlink of something that is no link fails with EINVAL, but the path is there, and
        // the app asked for it (a realpath walks every component so): it is used.
        if f.op == FileOp::Readlink && f.result == -EINVAL {
            if let Some(abs) = f.abs.as_deref() {
                self.use_path(abs, "readlink", &f.proc);
            }
            return;
        }
        if let Some(step) = f.abs.as_deref().and_then(|a| a.strip_prefix(MARK_PREFIX)) {
            // `/.slimctl-mark/` alone (or anything but a step number) ends the step.
            match step.parse::<u32>() {
                Ok(step) => self.marks.insert(p.pid, step),
                Err(_) => self.marks.remove(&p.pid),
            };
            return;
        }
        if !f.ok() {
            self.stats.failed += 1;
            const ENOENT: i64 = 2;
            const ENOTDIR: i64 = 20;
            let lookup = matches!(
                f.op,
                FileOp::Open | FileOp::ExecAttempt | FileOp::Stat | FileOp::Access | FileOp::Readlink | FileOp::Chdir
            );
            let creation = matches!(f.op, FileOp::Mkdir | FileOp::Mknod | FileOp::Symlink)
                || (f.op == FileOp::Open && f.creates());
            if let Some(abs) = f.abs.as_deref() {
                if creation && f.result == -ENOENT {
                    first_use(&mut self.create_failed, abs, op_name(f.op), p);
                } else if lookup && (f.result == -ENOENT || f.result == -ENOTDIR) {
                    first_use(&mut self.missing, abs, op_name(f.op), p);
                }
            }
            return;
        }
        let how = op_name(f.op);
        let Some(abs) = f.abs.as_deref() else { return };
        match f.op {
            // The new name does not exist in the image; its directory must.
            FileOp::Mkdir | FileOp::Mknod | FileOp::Symlink => first_use(&mut self.written_in, parent(abs), how, p),
            FileOp::Rename | FileOp::Link => {
                self.use_path(abs, how, p);
                if let Some(to) = f.abs2.as_deref() {
                    // an existing file replaced by a rename was in use too
                    self.use_path(to, how, p);
                    first_use(&mut self.written_in, parent(to), how, p);
                }
            }
            FileOp::Open if f.creates() => {
                // O_CREAT: maybe an image file opened for writing, maybe a new one.
                self.use_path(abs, how, p);
                first_use(&mut self.written_in, parent(abs), how, p);
            }
            _ => self.use_path(abs, how, p),
        }
    }

    pub fn stats(&self) -> TraceStats {
        TraceStats {
            processes: self.pids.len(),
            paths: self.paths.len(),
            written_in: self.written_in.len(),
            ..self.stats.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sensor::event::{Exec, Proc};

    fn proc(pid: u32) -> Proc {
        Proc { pid, tid: pid, comm: "app".into(), mnt_ns: 1, ts_ns: 0 }
    }

    fn file(op: FileOp, abs: &str, result: i64, flags: u64) -> Event {
        Event::File(FileAccess::absolute(proc(7), op, abs, flags, result))
    }

    #[test]
    fn successful_uses_are_used_and_failed_lookups_are_missing() {
        let mut t = Touched::default();
        t.add(&file(FileOp::Open, "/etc/app.conf", 3, 0));
        t.add(&file(FileOp::Stat, "/usr/lib/python3/foo.so", -2, 0));
        t.add(&file(FileOp::List, "/srv/static", 3, 0));
        t.add(&file(FileOp::Open, "/etc/app.conf", 4, 0)); // again: one use
        let paths: Vec<_> = t.paths.keys().map(String::as_str).collect();
        assert_eq!(paths, vec!["/etc/app.conf", "/srv/static"]);
        assert_eq!(t.paths["/etc/app.conf"], Touch { how: "open", by: "app[7]".into() });
        assert_eq!(t.stats().failed, 1);
        assert_eq!(t.missing.keys().collect::<Vec<_>>(), vec!["/usr/lib/python3/foo.so"]);
    }

    #[test]
    fn paths_first_used_after_a_mark_carry_it_and_the_mark_is_no_path() {
        let mut t = Touched::default();
        t.add(&file(FileOp::Open, "/usr/lib/python3.11/os.py", 3, 0));
        t.add(&file(FileOp::Stat, "/.slimctl-mark/0", -2, 0));
        t.add(&file(FileOp::Open, "/usr/lib/python3.11/decimal.py", 3, 0));
        t.add(&file(FileOp::Open, "/usr/lib/python3.11/os.py", 3, 0)); // used before: not the step's
        t.add(&file(FileOp::Stat, "/.slimctl-mark/1", -2, 0));
        t.add(&file(FileOp::Open, "/usr/lib/python3.11/numbers.py", 3, 0));
        t.add(&file(FileOp::Stat, "/.slimctl-mark/", -2, 0)); // the end: no step under way
        t.add(&file(FileOp::Open, "/etc/at-exit", 3, 0));
        let marked: Vec<(&str, u32)> = t.marked.iter().map(|(p, m)| (p.as_str(), *m)).collect();
        assert_eq!(marked, [("/usr/lib/python3.11/decimal.py", 0), ("/usr/lib/python3.11/numbers.py", 1)]);
        assert!(t.missing.is_empty(), "marks are no missing files: {:?}", t.missing);
        assert_eq!(t.paths.len(), 4);
    }

    fn by(pid: u32, op: FileOp, abs: &str) -> Event {
        Event::File(FileAccess::absolute(proc(pid), op, abs, 0, if abs.contains("mark") { -2 } else { 3 }))
    }

    #[test]
    fn each_process_has_its_own_step_and_a_child_starts_in_its_parents() {
        let mut t = Touched::default();
        t.add(&by(9, FileOp::Open, "/lib/startup.py"));
        t.add(&by(10, FileOp::Stat, "/.slimctl-mark/2"));
        t.add(&by(11, FileOp::Stat, "/.slimctl-mark/1"));
        t.add(&by(10, FileOp::Open, "/lib/a.py"));
        t.add(&by(10, FileOp::Open, "/lib/shared.py"));
        t.add(&by(11, FileOp::Open, "/lib/b.py"));
        t.add(&by(11, FileOp::Open, "/lib/startup.py")); // used before any step: no step's
        t.add(&Event::Fork(sensor::event::Fork { proc: proc(12), ppid: 11 }));
        t.add(&by(12, FileOp::Open, "/bin/helper"));
        t.add(&by(12, FileOp::Open, "/lib/shared.py")); // step 1 used it too: first in order
        t.add(&by(10, FileOp::Stat, "/.slimctl-mark/"));
        t.add(&by(10, FileOp::Open, "/lib/after.py"));
        t.add(&by(11, FileOp::Open, "/lib/c.py"));
        let marked: Vec<(&str, u32)> = t.marked.iter().map(|(p, m)| (p.as_str(), *m)).collect();
        let want = [("/bin/helper", 1), ("/lib/a.py", 2), ("/lib/b.py", 1), ("/lib/c.py", 1), ("/lib/shared.py", 1)];
        assert_eq!(marked, want);
    }

    #[test]
    fn a_readlink_of_what_is_no_link_still_uses_the_path() {
        let mut t = Touched::default();
        t.add(&file(FileOp::Readlink, "/usr/local", -22, 0));
        t.add(&file(FileOp::Readlink, "/usr/nope", -2, 0));
        assert_eq!(t.paths.keys().collect::<Vec<_>>(), ["/usr/local"]);
        assert_eq!(t.missing.keys().collect::<Vec<_>>(), ["/usr/nope"]);
    }

    #[test]
    fn creations_keep_their_directory_not_themselves() {
        let mut t = Touched::default();
        t.add(&file(FileOp::Open, "/var/log/app/run.log", 3, libc_o_creat()));
        t.add(&file(FileOp::Mkdir, "/var/cache/app/tmp", 0, 0));
        let dirs: Vec<_> = t.written_in.keys().map(String::as_str).collect();
        assert_eq!(dirs, vec!["/var/cache/app", "/var/log/app"]);
        // the O_CREAT path is seeded too (it may be an image file opened for writing); the
        // closure skips it quietly when it is not in the image
        assert!(t.paths.contains_key("/var/log/app/run.log"));
        assert!(!t.paths.contains_key("/var/cache/app/tmp"));
    }

    #[test]
    fn exec_keeps_the_name_used_the_resolved_file_and_the_interpreter() {
        let mut t = Touched::default();
        t.add(&Event::Exec(Exec {
            proc: proc(8),
            ppid: 1,
            filename: "/usr/local/bin/run".into(),
            abs: Some("/usr/local/bin/run".into()),
            interp: "/bin/sh".into(),
            exe: Some("/usr/bin/dash".into()),
            args: vec!["run".into()],
            cgroup: String::new(),
            incomplete: false,
        }));
        let paths: Vec<_> = t.paths.keys().map(String::as_str).collect();
        assert_eq!(paths, vec!["/bin/sh", "/usr/bin/dash", "/usr/local/bin/run"]);
        assert_eq!(t.commands, vec![vec!["run".to_string()]]);
    }

    #[test]
    fn parent_of_top_level_paths_is_root() {
        assert_eq!(parent("/x"), "/");
        assert_eq!(parent("/a/b/"), "/a");
    }

    fn libc_o_creat() -> u64 {
        0o100
    }
}
