//! The scratch directory of one slimctl run (in TMPDIR; a traced build keeps a copy of the
//! image there), and the removal of those a killed run left behind. Each work dir holds a lock
//! file that its run keeps locked while it lives: the kernel drops the lock when the process
//! dies however it dies (SIGKILL, the OOM killer), so a lock anyone can take marks a dead run.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

const PREFIX: &str = "slimctl-";
/// The owner's lock, named for what it holds (the pid, for a human looking at TMPDIR).
const LOCK: &str = "owner.pid";

pub struct WorkDir {
    dir: PathBuf,
    /// Held for the run's life.
    _lock: Flock<File>,
}

impl WorkDir {
    /// A new work dir in TMPDIR, locked by this process.
    pub fn create() -> std::io::Result<WorkDir> {
        Self::create_in(&std::env::temp_dir())
    }

    pub fn create_in(tmp: &Path) -> std::io::Result<WorkDir> {
        let dir = tempfile::Builder::new().prefix(PREFIX).tempdir_in(tmp)?;
        // Locked under another name, then renamed: a sweep never sees the lock file unlocked.
        let staging = dir.path().join(format!(".{LOCK}"));
        let mut file = File::create(&staging)?;
        writeln!(file, "{}", std::process::id())?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| std::io::Error::from(e))?;
        std::fs::rename(&staging, dir.path().join(LOCK))?;
        Ok(WorkDir { dir: dir.keep(), _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for WorkDir {
    /// A reader that failed or was interrupted may still be writing into the dir from a thread
    /// that cannot be stopped (it waits on the engine). Removing the dir in place races with it:
    /// a file it creates between the listing and the rmdir keeps the dir alive. So the dir is
    /// first renamed away -- any later create under the old path fails -- then removed. Should
    /// even that fail, the name still starts with the prefix and the lock goes with this
    /// process, so the next run's sweep takes it.
    fn drop(&mut self) {
        let doomed = self.dir.with_file_name(format!(
            "{}.removing",
            self.dir.file_name().and_then(|n| n.to_str()).unwrap_or("slimctl-work")
        ));
        let target = if std::fs::rename(&self.dir, &doomed).is_ok() { doomed } else { self.dir.clone() };
        for _ in 0..5 {
            if std::fs::remove_dir_all(&target).is_ok() || !target.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// What a sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub dirs: Vec<PathBuf>,
    pub bytes: u64,
}

/// Removes the work dirs in `tmp` whose run is gone. A dir without a lock file (another
/// program's, or one being created this instant) is left alone.
pub fn sweep(tmp: &Path) -> Swept {
    let mut swept = Swept::default();
    let Ok(entries) = std::fs::read_dir(tmp) else { return swept };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry.file_name().to_str().is_some_and(|n| n.starts_with(PREFIX));
        if !ours || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(file) = File::open(path.join(LOCK)) else { continue };
        // Taken: its owner is gone. Held while removing, so no second sweep races this one.
        let Ok(_lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) else { continue };
        let bytes = disk_bytes(&path);
        if std::fs::remove_dir_all(&path).is_ok() {
            swept.bytes += bytes;
            swept.dirs.push(path);
        }
    }
    swept
}

fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_runs_dir_is_removed_and_a_live_ones_is_not() {
        let tmp = tempfile::tempdir().unwrap();
        let live = WorkDir::create_in(tmp.path()).unwrap();
        std::fs::write(live.path().join("image.tar"), vec![0u8; 4096]).unwrap();
        // A dead run: its lock file is there, nobody holds it.
        let dead = tmp.path().join("slimctl-dead");
        std::fs::create_dir_all(dead.join("sub")).unwrap();
        std::fs::write(dead.join(LOCK), "4242\n").unwrap();
        std::fs::write(dead.join("sub/image.tar"), vec![0u8; 10_000]).unwrap();
        // Not ours to judge: no lock file, or not a slimctl dir.
        let unknown = tmp.path().join("slimctl-old-version");
        std::fs::create_dir(&unknown).unwrap();
        let other = tmp.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join(LOCK), "1\n").unwrap();

        let swept = sweep(tmp.path());
        assert_eq!(swept.dirs, std::slice::from_ref(&dead));
        assert_eq!(swept.bytes, 10_000 + 5);
        assert!(!dead.exists());
        assert!(live.path().join("image.tar").exists() && unknown.exists() && other.exists());
        let pid = std::fs::read_to_string(live.path().join(LOCK)).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());

        let path = live.path().to_owned();
        drop(live);
        assert!(!path.exists(), "a run removes its own dir when it ends");
        assert_eq!(sweep(tmp.path()), Swept::default());
    }

    #[test]
    fn a_thread_still_writing_into_the_dir_does_not_keep_it_alive() {
        let tmp = tempfile::tempdir().unwrap();
        for _ in 0..20 {
            let work = WorkDir::create_in(tmp.path()).unwrap();
            let path = work.path().to_owned();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (p, s) = (path.clone(), stop.clone());
            // A reader that cannot be stopped, creating files as fast as it can.
            let writer = std::thread::spawn(move || {
                let mut i = 0u64;
                while !s.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::fs::write(p.join(format!("chunk-{i}")), b"x");
                    i += 1;
                }
            });
            std::thread::sleep(std::time::Duration::from_millis(2));
            drop(work);
            std::thread::sleep(std::time::Duration::from_millis(5));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            writer.join().unwrap();
            assert!(!path.exists(), "the work dir outlived its run");
        }
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
