//! Rust mirror of `bpf/events.h`. Keep in step with the header: the layout test fails otherwise.

pub const TASK_COMM_LEN: usize = 16;
pub const AT_FDCWD: i32 = -100;
/// dirfd2 of a symlink event: path2 is the link's content, not a path to resolve.
pub const NO_DIRFD: i32 = -1000;

pub const EV_FILE: u32 = 1;
pub const EV_EXEC: u32 = 2;
pub const EV_FORK: u32 = 3;
pub const EV_EXIT: u32 = 4;

pub const OP_OPEN: u16 = 1;
pub const OP_EXEC_ATTEMPT: u16 = 2;
pub const OP_STAT: u16 = 3;
pub const OP_ACCESS: u16 = 4;
pub const OP_READLINK: u16 = 5;
pub const OP_LIST: u16 = 6;
pub const OP_CHDIR: u16 = 7;
pub const OP_MKDIR: u16 = 8;
pub const OP_RENAME: u16 = 9;
pub const OP_LINK: u16 = 10;
pub const OP_SYMLINK: u16 = 11;
pub const OP_UNLINK: u16 = 12;
pub const OP_RMDIR: u16 = 13;
pub const OP_MKNOD: u16 = 14;
pub const OP_SETATTR: u16 = 15;

pub const EVF_BASE_TRUNCATED: u8 = 1;
pub const EVF_BASE2_TRUNCATED: u8 = 2;
pub const EVF_PATH_FAULT: u8 = 4;
pub const EVF_EXE_TRUNCATED: u8 = 8;

pub const CNT_RING_FULL: u32 = 0;
pub const CNT_TABLE_FULL: u32 = 1;
pub const CNT_TRUNCATED: u32 = 2;
pub const CNT_EMITTED: u32 = 3;
pub const CNT_SYSCALL_TABLE_FULL: u32 = 4;
pub const CNT_MAX: u32 = 5;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EventHeader {
    pub ts_ns: u64,
    pub kind: u32,
    pub pid: u32,
    pub tid: u32,
    pub mnt_ns: u32,
    pub comm: [u8; TASK_COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FileEvent {
    pub h: EventHeader,
    pub ret: i64,
    pub flags: u64,
    pub dirfd: i32,
    pub dirfd2: i32,
    pub mode: u32,
    pub nr: u16,
    pub op: u16,
    pub path_len: u16,
    pub path2_len: u16,
    pub base_len: u16,
    pub base2_len: u16,
    pub flags_ex: u8,
    pub _pad: [u8; 7],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ExecEvent {
    pub h: EventHeader,
    pub ppid: u32,
    pub old_tid: u32,
    pub filename_len: u16,
    pub interp_len: u16,
    pub base_len: u16,
    pub exe_len: u16,
    pub args_len: u16,
    pub cgroup_len: u16,
    pub flags_ex: u8,
    pub _pad: [u8; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ForkEvent {
    pub h: EventHeader,
    pub ppid: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ExitEvent {
    pub h: EventHeader,
    pub exit_code: i32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TracerConfig {
    pub host_mnt_ns: u32,
    pub bound: u32,
    pub wakeup_bytes: u64,
}

pub const SYSCALL_WORDS: usize = 8;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Tracked {
    pub mnt_ns: u32,
    pub _pad: u32,
    pub seen: [u64; SYSCALL_WORDS],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallSet {
    pub seen: [u64; SYSCALL_WORDS],
}

impl SyscallSet {
    pub fn union(&mut self, other: &[u64; SYSCALL_WORDS]) {
        for (a, b) in self.seen.iter_mut().zip(other) {
            *a |= b;
        }
    }

    /// The syscall numbers in the set, ascending.
    pub fn numbers(&self) -> impl Iterator<Item = u32> + '_ {
        (0..(SYSCALL_WORDS * 64) as u32).filter(|n| self.seen[*n as usize / 64] & (1 << (n % 64)) != 0)
    }
}

/// Reads a `#[repr(C)]` record from the front of a byte slice (ring-buffer records are only
/// byte-aligned as far as Rust knows).
pub fn read_record<T: Record>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: T is a plain-old-data repr(C) struct (sealed by `Record`), every bit pattern is
    // valid for it, and the length was checked; read_unaligned copes with any alignment.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// Marker for the ABI structs: plain old data, valid for every bit pattern.
pub trait Record: Copy + sealed::Sealed {}
mod sealed {
    pub trait Sealed {}
}
macro_rules! records {
    ($($t:ty),*) => { $(impl sealed::Sealed for $t {} impl Record for $t {})* };
}
records!(EventHeader, FileEvent, ExecEvent, ForkEvent, ExitEvent, TracerConfig, Tracked, SyscallSet);

// SAFETY: the map key/value types are repr(C) plain old data with explicit padding.
unsafe impl aya::Pod for TracerConfig {}
// SAFETY: as above.
unsafe impl aya::Pod for Tracked {}
// SAFETY: as above.
unsafe impl aya::Pod for SyscallSet {}
