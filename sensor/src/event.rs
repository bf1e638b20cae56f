//! Typed events decoded from the tracer's ring-buffer records.
use crate::error::SensorError;
use serde::Serialize;
use tracer_ebpf::abi::{self, read_record, EventHeader, ExecEvent, ExitEvent, FileEvent, ForkEvent};

/// The process an event came from.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    pub mnt_ns: u32,
    pub ts_ns: u64,
}

/// What a file syscall did with its path(s).
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum FileOp {
    Open,
    ExecAttempt,
    Stat,
    Access,
    Readlink,
    List,
    Chdir,
    Mkdir,
    Rename,
    Link,
    Symlink,
    Unlink,
    Rmdir,
    Mknod,
    Setattr,
}

impl FileOp {
    fn from_raw(op: u16) -> Option<FileOp> {
        Some(match op {
            abi::OP_OPEN => FileOp::Open,
            abi::OP_EXEC_ATTEMPT => FileOp::ExecAttempt,
            abi::OP_STAT => FileOp::Stat,
            abi::OP_ACCESS => FileOp::Access,
            abi::OP_READLINK => FileOp::Readlink,
            abi::OP_LIST => FileOp::List,
            abi::OP_CHDIR => FileOp::Chdir,
            abi::OP_MKDIR => FileOp::Mkdir,
            abi::OP_RENAME => FileOp::Rename,
            abi::OP_LINK => FileOp::Link,
            abi::OP_SYMLINK => FileOp::Symlink,
            abi::OP_UNLINK => FileOp::Unlink,
            abi::OP_RMDIR => FileOp::Rmdir,
            abi::OP_MKNOD => FileOp::Mknod,
            abi::OP_SETATTR => FileOp::Setattr,
            _ => return None,
        })
    }
}

/// A path syscall, with its result.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FileAccess {
    #[serde(flatten)]
    pub proc: Proc,
    pub op: FileOp,
    pub syscall: &'static str,
    /// The path as the process passed it (None for fd-only calls such as getdents64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The absolute path inside the process's root: `path` if absolute, else joined to the
    /// dirfd's or cwd's directory. None when the directory could not be determined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abs: Option<String>,
    /// Second path: the new name of rename/link, the content of a symlink.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abs2: Option<String>,
    pub dirfd: i32,
    pub flags: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub mode: u32,
    /// The syscall's result: an fd or 0 on success, -errno on failure.
    pub result: i64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl FileAccess {
    /// An access to an absolute path, as the tracer reports one (the path as passed and its
    /// absolute form are the same, no second path): for tests and for replaying recorded
    /// accesses.
    pub fn absolute(proc: Proc, op: FileOp, path: &str, flags: u64, result: i64) -> FileAccess {
        FileAccess {
            proc,
            op,
            syscall: "openat",
            path: Some(path.into()),
            abs: Some(path.into()),
            path2: None,
            abs2: None,
            dirfd: -100,
            flags,
            mode: 0,
            result,
            incomplete: false,
        }
    }

    pub fn ok(&self) -> bool {
        self.result >= 0
    }

    /// Whether an open could have created the file (O_CREAT).
    pub fn creates(&self) -> bool {
        self.op == FileOp::Open && self.flags & libc::O_CREAT as u64 != 0
    }
}

/// A successful exec (sched_process_exec).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Exec {
    #[serde(flatten)]
    pub proc: Proc,
    pub ppid: u32,
    /// The filename passed to execve.
    pub filename: String,
    /// `filename` made absolute (against the cwd when relative).
    pub abs: Option<String>,
    /// The interpreter the kernel ran: a `#!` script's interpreter, else the file itself.
    pub interp: String,
    /// The file the kernel actually runs, fully resolved (the last interpreter for scripts).
    pub exe: Option<String>,
    pub args: Vec<String>,
    /// Leaf name of the process's cgroup: the container id under Docker.
    pub cgroup: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Fork {
    #[serde(flatten)]
    pub proc: Proc,
    pub ppid: u32,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Exit {
    #[serde(flatten)]
    pub proc: Proc,
    /// Wait status: exit code << 8, or the signal number.
    pub status: i32,
}

impl Exit {
    /// The exit code as a shell reports it (128 + signal for a killed process).
    pub fn code(&self) -> i32 {
        if self.status & 0x7f == 0 {
            (self.status >> 8) & 0xff
        } else {
            128 + (self.status & 0x7f)
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    File(FileAccess),
    Exec(Exec),
    Fork(Fork),
    Exit(Exit),
}

impl Event {
    pub fn proc(&self) -> &Proc {
        match self {
            Event::File(e) => &e.proc,
            Event::Exec(e) => &e.proc,
            Event::Fork(e) => &e.proc,
            Event::Exit(e) => &e.proc,
        }
    }
}

fn proc_of(h: &EventHeader) -> Proc {
    Proc { pid: h.pid, tid: h.tid, comm: cstr(&h.comm), mnt_ns: h.mnt_ns, ts_ns: h.ts_ns }
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Splits the variable part of a record into its strings, in declaration order.
struct Strings<'a> {
    rest: &'a [u8],
}

impl<'a> Strings<'a> {
    fn take(&mut self, len: u16) -> Result<&'a [u8], SensorError> {
        let len = len as usize;
        if len > self.rest.len() {
            return Err(SensorError::Decode(format!("string of {len} bytes past the record's end")));
        }
        let (s, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(s)
    }

    /// A NUL-terminated string field; None when absent (length 0).
    fn string(&mut self, len: u16) -> Result<Option<String>, SensorError> {
        let s = self.take(len)?;
        Ok((!s.is_empty()).then(|| cstr(s)))
    }
}

/// Turns a directory walk (components leaf first, NUL-terminated) into an absolute path.
pub fn walk_to_path(walk: &[u8]) -> String {
    let comps: Vec<&[u8]> = walk.split(|&b| b == 0).filter(|c| !c.is_empty()).collect();
    if comps.is_empty() {
        return "/".into();
    }
    let mut out = String::new();
    for c in comps.iter().rev() {
        out.push('/');
        out.push_str(&String::from_utf8_lossy(c));
    }
    out
}

/// `path` as the kernel would see it from `base`: absolute paths stand alone; relative ones
/// (including "" for the directory itself) are joined. No lexical clean-up of `..`: that is
/// only correct after symlinks are resolved, which happens against the image.
pub fn absolute(path: &str, base: Option<&str>) -> Option<String> {
    if path.starts_with('/') {
        return Some(path.to_string());
    }
    let base = base?;
    if path.is_empty() {
        return Some(base.to_string());
    }
    Some(if base == "/" { format!("/{path}") } else { format!("{base}/{path}") })
}

fn syscall_name(nr: u16) -> &'static str {
    syscalls::Sysno::new(nr as usize).map(|s| s.name()).unwrap_or("unknown")
}

/// Decodes one ring-buffer record.
pub fn decode(rec: &[u8]) -> Result<Event, SensorError> {
    let h: EventHeader = read_record(rec).ok_or_else(|| SensorError::Decode("record shorter than a header".into()))?;
    let short = || SensorError::Decode(format!("record of kind {} too short ({} bytes)", h.kind, rec.len()));
    match h.kind {
        abi::EV_FILE => decode_file(rec, &short),
        abi::EV_EXEC => decode_exec(rec, &short),
        abi::EV_FORK => {
            let e: ForkEvent = read_record(rec).ok_or_else(short)?;
            Ok(Event::Fork(Fork { proc: proc_of(&e.h), ppid: e.ppid }))
        }
        abi::EV_EXIT => {
            let e: ExitEvent = read_record(rec).ok_or_else(short)?;
            Ok(Event::Exit(Exit { proc: proc_of(&e.h), status: e.exit_code }))
        }
        k => Err(SensorError::Decode(format!("unknown event kind {k}"))),
    }
}

/// A file access: its path(s) made absolute from the walks the kernel side recorded.
fn decode_file(rec: &[u8], short: &dyn Fn() -> SensorError) -> Result<Event, SensorError> {
    let e: FileEvent = read_record(rec).ok_or_else(short)?;
    let mut s = Strings { rest: &rec[std::mem::size_of::<FileEvent>()..] };
    let path = s.string(e.path_len)?;
    let path2 = s.string(e.path2_len)?;
    let base = (e.base_len > 0 || needs_base(&e, path.as_deref())).then(|| s.take(e.base_len)).transpose()?;
    let base2 = (e.base2_len > 0).then(|| s.take(e.base2_len)).transpose()?;
    let base_incomplete = e.flags_ex & abi::EVF_BASE_TRUNCATED != 0;
    let base2_incomplete = e.flags_ex & abi::EVF_BASE2_TRUNCATED != 0;
    let base = base.filter(|_| !base_incomplete).map(walk_to_path);
    let base2 = base2.filter(|_| !base2_incomplete).map(walk_to_path);
    let op = FileOp::from_raw(e.op).ok_or_else(|| SensorError::Decode(format!("unknown file op {}", e.op)))?;

    let abs = match (&path, op) {
        // chdir: the walk is of the new cwd, already resolved; an absolute argument keeps its symlinks.
        (Some(p), FileOp::Chdir) if e.ret == 0 && !p.starts_with('/') => base.clone(),
        (Some(p), _) => absolute(p, base.as_deref()),
        (None, _) => base.clone(),
    };
    let abs2 = match (&path2, op) {
        (_, FileOp::Symlink) => None,
        (Some(p), _) => absolute(p, base2.as_deref()),
        (None, _) => None,
    };
    let incomplete = e.flags_ex & abi::EVF_PATH_FAULT != 0
        || (abs.is_none() && (path.is_some() || op == FileOp::List || op == FileOp::Chdir))
        || (path2.is_some() && op != FileOp::Symlink && abs2.is_none());
    Ok(Event::File(FileAccess {
        proc: proc_of(&e.h),
        op,
        syscall: syscall_name(e.nr),
        path,
        abs,
        path2,
        abs2,
        dirfd: e.dirfd,
        flags: e.flags,
        mode: e.mode,
        result: e.ret,
        incomplete,
    }))
}

/// An exec: the file run, its interpreter, argv.
fn decode_exec(rec: &[u8], short: &dyn Fn() -> SensorError) -> Result<Event, SensorError> {
    let e: ExecEvent = read_record(rec).ok_or_else(short)?;
    let mut s = Strings { rest: &rec[std::mem::size_of::<ExecEvent>()..] };
    let filename = s.string(e.filename_len)?.unwrap_or_default();
    let interp = s.string(e.interp_len)?.unwrap_or_default();
    let base = s.take(e.base_len)?;
    let exe = s.take(e.exe_len)?;
    let args = s.take(e.args_len)?;
    let cgroup = s.string(e.cgroup_len)?.unwrap_or_default();
    let base_ok = e.flags_ex & abi::EVF_BASE_TRUNCATED == 0;
    let base = (!filename.starts_with('/') && base_ok).then(|| walk_to_path(base));
    let exe_ok = e.flags_ex & abi::EVF_EXE_TRUNCATED == 0;
    let args = args.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>();
    // argv is NUL-terminated: the split leaves one empty tail
    let args = match args.split_last() {
        Some((last, rest)) if last.is_empty() => rest.to_vec(),
        _ => args,
    };
    Ok(Event::Exec(Exec {
        proc: proc_of(&e.h),
        ppid: e.ppid,
        abs: absolute(&filename, base.as_deref()),
        filename,
        interp,
        exe: exe_ok.then(|| walk_to_path(exe)),
        args,
        cgroup,
        incomplete: !base_ok || !exe_ok,
    }))
}

/// Whether the kernel computed a base for this event (an empty walk means "/").
fn needs_base(e: &FileEvent, path: Option<&str>) -> bool {
    e.op == abi::OP_CHDIR || path.is_none_or(|p| !p.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<T: Copy>(fixed: T, strings: &[&[u8]]) -> Vec<u8> {
        let mut v = vec![0u8; std::mem::size_of::<T>()];
        // SAFETY: T is one of the repr(C) ABI structs; copying its bytes is a plain serialization.
        unsafe { std::ptr::copy_nonoverlapping(&fixed as *const T as *const u8, v.as_mut_ptr(), v.len()) };
        for s in strings {
            v.extend_from_slice(s);
        }
        v
    }

    fn header(kind: u32) -> EventHeader {
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"test");
        EventHeader { ts_ns: 1, kind, pid: 10, tid: 11, mnt_ns: 4026532000, comm }
    }

    #[test]
    fn walk_is_reversed_into_an_absolute_path() {
        assert_eq!(walk_to_path(b"app\0srv\0"), "/srv/app");
        assert_eq!(walk_to_path(b""), "/");
    }

    #[test]
    fn absolute_joins_relative_paths_only() {
        assert_eq!(absolute("/etc/passwd", Some("/srv")).as_deref(), Some("/etc/passwd"));
        assert_eq!(absolute("data/x", Some("/srv")).as_deref(), Some("/srv/data/x"));
        assert_eq!(absolute("x", Some("/")).as_deref(), Some("/x"));
        assert_eq!(absolute("", Some("/srv")).as_deref(), Some("/srv"));
        assert_eq!(absolute("../x", Some("/srv/app")).as_deref(), Some("/srv/app/../x"));
        assert_eq!(absolute("x", None), None);
    }

    #[test]
    fn relative_open_decodes_with_its_base() {
        let e = FileEvent {
            h: header(abi::EV_FILE),
            ret: 3,
            flags: 0,
            dirfd: abi::AT_FDCWD,
            dirfd2: abi::NO_DIRFD,
            nr: 257,
            op: abi::OP_OPEN,
            path_len: 7,
            base_len: 8,
            ..Default::default()
        };
        let ev = decode(&record(e, &[b"conf/x\0", b"app\0srv\0"])).unwrap();
        let Event::File(f) = ev else { panic!("not a file event") };
        assert_eq!(f.abs.as_deref(), Some("/srv/app/conf/x"));
        assert_eq!(f.syscall, "openat");
        assert_eq!(f.proc.comm, "test");
        assert!(!f.incomplete);
    }

    #[test]
    fn truncated_base_marks_the_event_incomplete() {
        let e = FileEvent {
            h: header(abi::EV_FILE),
            op: abi::OP_STAT,
            nr: 262,
            path_len: 2,
            base_len: 4,
            flags_ex: abi::EVF_BASE_TRUNCATED,
            ..Default::default()
        };
        let Event::File(f) = decode(&record(e, &[b"x\0", b"abc\0"])).unwrap() else { panic!() };
        assert_eq!(f.abs, None);
        assert!(f.incomplete);
    }

    #[test]
    fn exec_decodes_args_and_cgroup() {
        let strings: [&[u8]; 5] = [b"run.sh\0", b"/bin/sh\0", b"dash\0bin\0", b"./run.sh\0-x\0", b"abc\0"];
        let e = ExecEvent {
            h: header(abi::EV_EXEC),
            ppid: 1,
            filename_len: strings[0].len() as u16,
            interp_len: strings[1].len() as u16,
            base_len: 0,
            exe_len: strings[2].len() as u16,
            args_len: strings[3].len() as u16,
            cgroup_len: strings[4].len() as u16,
            ..Default::default()
        };
        let Event::Exec(x) = decode(&record(e, &strings)).unwrap() else { panic!() };
        assert_eq!(x.filename, "run.sh");
        assert_eq!(x.abs.as_deref(), Some("/run.sh"), "empty cwd walk is the root");
        assert_eq!(x.interp, "/bin/sh");
        assert_eq!(x.exe.as_deref(), Some("/bin/dash"));
        assert_eq!(x.args, vec!["./run.sh", "-x"]);
        assert_eq!(x.cgroup, "abc");
    }

    #[test]
    fn lengths_past_the_end_are_an_error_not_a_panic() {
        let e = FileEvent { h: header(abi::EV_FILE), op: abi::OP_OPEN, path_len: 500, ..Default::default() };
        assert!(decode(&record(e, &[b"short\0"])).is_err());
        assert!(decode(&[1, 2, 3]).is_err());
    }

    #[test]
    fn exit_code_follows_wait_status() {
        let p = Proc { pid: 1, tid: 1, comm: String::new(), mnt_ns: 0, ts_ns: 0 };
        assert_eq!(Exit { proc: p.clone(), status: 3 << 8 }.code(), 3);
        assert_eq!(Exit { proc: p, status: 9 }.code(), 137);
    }
}
