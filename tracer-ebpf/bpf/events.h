/* The ABI between the eBPF tracer and userspace (sensor). Mirrored in Rust by
 * tracer-ebpf/src/abi.rs; a test compares the layouts against this object's BTF.
 * Every record starts with struct event_header; variable-length strings follow the
 * fixed part, in the order the *_len fields are declared, each NUL-terminated. */
#ifndef SLIMCTL_EVENTS_H
#define SLIMCTL_EVENTS_H

#define TASK_COMM_LEN 16
/* Longest string copied from user memory (PATH_MAX) */
#define PATH_CAP 4096
/* Longest dentry name (NAME_MAX + NUL) */
#define NAME_CAP 256
/* Budget for one directory walk (components, leaf first, NUL-separated) */
#define WALK_CAP 4096
/* Directory walk depth limit; deeper paths are flagged truncated */
#define WALK_DEPTH 64
#define ARGS_CAP 1024
#define CGROUP_CAP 128

enum event_kind {
	EV_FILE = 1,
	EV_EXEC = 2,
	EV_FORK = 3,
	EV_EXIT = 4,
};

/* What a file event did to its path(s). */
enum file_op {
	OP_OPEN = 1,
	OP_EXEC_ATTEMPT = 2, /* execve that failed (a PATH search, a missing interpreter) */
	OP_STAT = 3,         /* stat/lstat/statx/newfstatat, statfs, getxattr, listxattr, inotify */
	OP_ACCESS = 4,       /* access/faccessat/faccessat2 */
	OP_READLINK = 5,
	OP_LIST = 6,         /* getdents/getdents64 on a directory fd */
	OP_CHDIR = 7,        /* chdir/fchdir; base is the cwd after the call */
	OP_MKDIR = 8,
	OP_RENAME = 9,       /* path -> path2 */
	OP_LINK = 10,        /* path -> path2 */
	OP_SYMLINK = 11,     /* path is the new link, path2 its content */
	OP_UNLINK = 12,
	OP_RMDIR = 13,
	OP_MKNOD = 14,
	OP_SETATTR = 15,     /* chmod/chown/utime(s)/truncate/setxattr/removexattr */
};

/* Flags in file_event.flags_ex / exec_event.flags_ex */
#define EVF_BASE_TRUNCATED 1  /* base walk hit WALK_DEPTH or WALK_CAP */
#define EVF_BASE2_TRUNCATED 2
#define EVF_PATH_FAULT 4      /* the path pointer could not be read */
#define EVF_EXE_TRUNCATED 8

/* Slots of the per-CPU counters map */
enum counter {
	CNT_RING_FULL = 0,   /* ring buffer reserve/output failures: lost events */
	CNT_TABLE_FULL = 1,  /* tracked-process table full: a process went untraced */
	CNT_TRUNCATED = 2,   /* events whose directory walk was cut short */
	CNT_EMITTED = 3,
	CNT_SYSCALL_TABLE_FULL = 4,
	CNT_MAX = 5,
};

struct event_header {
	__u64 ts_ns;      /* bpf_ktime_get_ns */
	__u32 kind;       /* enum event_kind */
	__u32 pid;        /* tgid (host pid namespace) */
	__u32 tid;
	__u32 mnt_ns;     /* mount namespace inode */
	char comm[TASK_COMM_LEN];
};

/* A syscall on a path, recorded at its exit with the result. The strings follow:
 * path (as passed), path2 (second path of rename/link/symlink), base and base2: the
 * absolute directory a relative path/path2 is relative to (the dirfd's or cwd's),
 * as components leaf first, each NUL-terminated; an empty walk is "/". */
struct file_event {
	struct event_header h;
	__s64 ret;        /* result: fd, 0 or -errno */
	__u64 flags;      /* open flags (O_*), AT_* flags, or access mode */
	__s32 dirfd;      /* dirfd of path (AT_FDCWD = -100), or the fd of fd-only ops */
	__s32 dirfd2;
	__u32 mode;
	__u16 nr;         /* syscall number */
	__u16 op;         /* enum file_op */
	__u16 path_len;   /* bytes including the NUL, 0 if absent */
	__u16 path2_len;
	__u16 base_len;
	__u16 base2_len;
	__u8 flags_ex;    /* EVF_* */
	__u8 _pad[7];
};

/* sched_process_exec: filename as passed to execve, the last interpreter (#! or
 * the file itself), base (cwd walk when filename is relative), exe (walk of the file
 * the kernel actually runs: the final interpreter, leaf first), argv (NUL-separated),
 * cgroup (leaf name of the task's pids cgroup: the container id under Docker). */
struct exec_event {
	struct event_header h;
	__u32 ppid;
	__u32 old_tid;
	__u16 filename_len;
	__u16 interp_len;
	__u16 base_len;
	__u16 exe_len;
	__u16 args_len;
	__u16 cgroup_len;
	__u8 flags_ex;
	__u8 _pad[3];
};

/* sched_process_fork of a new process (threads are not reported): the header is the child's. */
struct fork_event {
	struct event_header h;
	__u32 ppid;
	__u32 _pad;
};

/* sched_process_exit of a thread-group leader. */
struct exit_event {
	struct event_header h;
	__s32 exit_code;  /* wait status: (code << 8) | signal */
	__u32 _pad;
};

/* Userspace-written configuration (array map, one entry). */
struct tracer_config {
	__u32 host_mnt_ns; /* never traced */
	__u32 bound;       /* 1: only namespaces in the targets map start tracking */
	__u64 wakeup_bytes; /* wake the reader once this much is waiting in the ring */
};

#define SYSCALL_WORDS 8 /* bitmap of syscall numbers 0..511 */

/* Value of the tracked-process map, keyed by tgid: the process's namespace and the syscalls
 * it made (a per-process bitmap costs one load per syscall; it is merged into the
 * namespace's set when the process exits). */
struct tracked {
	__u32 mnt_ns;
	__u32 _pad;
	__u64 seen[SYSCALL_WORDS];
};

/* Value of the syscalls map, keyed by mount namespace: syscalls of exited processes. */
struct syscall_set {
	__u64 seen[SYSCALL_WORDS];
};

#endif
