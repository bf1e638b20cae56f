// SPDX-License-Identifier: GPL-2.0
/* slimctl's file-access tracer.
 *
 * Hooks (all BTF-typed raw tracepoints: no kprobes, fentry or LSM are needed, and no tracefs):
 *   sched_process_exec  starts tracking a process that execs inside a target mount namespace
 *                       (so a runtime's own set-up before the exec is never recorded);
 *   sched_process_fork  tracks the children of tracked processes;
 *   sched_process_exit  reports exits and stops tracking;
 *   sys_exit            records path syscalls of tracked processes with their result, and the
 *                       set of syscall numbers used. At sys_exit the saved user registers
 *                       still hold the arguments, so one hook sees both the call and result.
 * Relative paths get the absolute directory they are relative to (the dirfd's or the cwd's),
 * walked in the kernel at the time of the call, up to the process's root. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "kernel.h"
#include "events.h"

char LICENSE[] SEC("license") = "GPL";

#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_REMOVEDIR 0x200
#define AT_EMPTY_PATH 0x1000
#define O_CREAT_WRONLY_TRUNC 01101
#define NO_DIRFD (-1000) /* path2 of symlink: link content, not resolved */

/* User-memory layout of openat2's struct open_how (UAPI, stable) */
struct open_how_user {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* userspace sets the real size at load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tracer_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct tracked);
} tracked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct syscall_set);
} syscalls SEC(".maps");

/* Room for the largest record: the fixed part, then up to four strings. */
#define DATA_CAP (2 * PATH_CAP + 2 * WALK_CAP + NAME_CAP)
struct scratch {
	/* The walk's write offset lives here, not on the stack: a value loaded from a map is
	 * unknown to the verifier, so the states of bpf_loop iterations match and get pruned. */
	__u32 walk_off;
	__u32 _pad;
	/* Each record ends where data begins, so record + strings are one contiguous output. */
	union {
		struct file_event file;
		struct {
			char _gap[sizeof(struct file_event) - sizeof(struct exec_event)];
			struct exec_event exec;
		};
	};
	char data[DATA_CAP];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* Keep the ABI types in the object's BTF so the layout test can read them. */
struct fork_event _fork_event_btf __attribute__((unused));
struct exit_event _exit_event_btf __attribute__((unused));
struct file_event _file_event_btf __attribute__((unused));
struct exec_event _exec_event_btf __attribute__((unused));

static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &slot);
	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

static __always_inline __u32 task_mnt_ns(struct task_struct *task)
{
	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

static __always_inline void fill_header(struct event_header *h, __u32 kind, __u32 pid, __u32 tid, __u32 ns)
{
	h->ts_ns = bpf_ktime_get_ns();
	h->kind = kind;
	h->pid = pid;
	h->tid = tid;
	h->mnt_ns = ns;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

static __always_inline int output(void *rec, __u64 size, __u32 data_len)
{
	if (data_len > DATA_CAP)
		return 0;
	size += data_len;
	/* Waking the reader for every record costs the traced process more than recording it
	 * (an irq_work and a cross-CPU wake-up each time). Wake it only when the ring is filling
	 * up; it also polls on a short timer, so quiet periods cost no latency beyond that. */
	__u32 zero = 0;
	struct tracer_config *cfg = bpf_map_lookup_elem(&config, &zero);
	__u64 wake = BPF_RB_NO_WAKEUP;
	if (!cfg || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg->wakeup_bytes)
		wake = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, rec, size, wake)) {
		count(CNT_RING_FULL);
		return -1;
	}
	count(CNT_EMITTED);
	return 0;
}

struct walk_ctx {
	struct scratch *s;
	char *data;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u64 mnt_off;
	__u32 start;
	int truncated;
	int done;
};

/* One step of a walk: emits one component or crosses one mount point. Run by bpf_loop so
 * the verifier checks it once instead of once per possible depth. */
static long walk_step(__u64 index, void *arg)
{
	struct walk_ctx *c = arg;
	struct dentry *dentry = c->dentry;
	if (!dentry || (dentry == c->root_dentry && c->vfsmnt == c->root_mnt)) {
		c->done = 1;
		return 1;
	}
	/* locals: BPF_CORE_READ on c->field would relocate walk_ctx too */
	struct vfsmount *vfsmnt = c->vfsmnt;
	struct mount *mnt = c->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
		if (dentry != mnt_root || mnt_parent == mnt) {
			c->done = 1; /* the global root: the task's root is not above this path */
			return 1;
		}
		c->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		c->mnt = mnt_parent;
		c->vfsmnt = (struct vfsmount *)((char *)mnt_parent + c->mnt_off);
		return 0;
	}
	struct scratch *s = c->s;
	__u32 off = s->walk_off;
	if (off > DATA_CAP - NAME_CAP || off - c->start > WALK_CAP - NAME_CAP)
		return 1;
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	long n = bpf_probe_read_kernel_str(s->data + off, NAME_CAP, name);
	if (n <= 0)
		return 1;
	s->walk_off = off + n;
	c->dentry = parent;
	return 0;
}

/* Appends the components of a path, leaf first, each NUL-terminated, from (dentry, mnt)
 * up to the task's root, crossing mount points. Returns the new offset; sets *truncated
 * when the walk did not reach the root within its budget. */
static __always_inline __u32 walk(struct scratch *s, __u32 off, struct dentry *dentry, struct vfsmount *vfsmnt,
				  struct task_struct *task, int *truncated)
{
	struct walk_ctx c = {
		.s = s,
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.root_dentry = BPF_CORE_READ(task, fs, root.dentry),
		.root_mnt = BPF_CORE_READ(task, fs, root.mnt),
		.mnt_off = bpf_core_field_offset(struct mount, mnt),
		.start = off,
	};
	s->walk_off = off;
	c.mnt = (struct mount *)((char *)vfsmnt - c.mnt_off);
	bpf_loop(WALK_DEPTH, walk_step, &c, 0);
	if (!c.done)
		*truncated = 1;
	return s->walk_off;
}

/* The directory a path given with dirfd is relative to: the cwd for AT_FDCWD, else the fd's file. */
static __always_inline __u32 walk_dirfd(struct scratch *s, __u32 off, int dirfd, struct task_struct *task, int *truncated)
{
	struct dentry *dentry;
	struct vfsmount *mnt;

	if (dirfd == AT_FDCWD) {
		dentry = BPF_CORE_READ(task, fs, pwd.dentry);
		mnt = BPF_CORE_READ(task, fs, pwd.mnt);
	} else {
		/* No directory to walk (a bad fd: the call failed with EBADF). An empty walk would
		 * read as "/", so flag it instead. */
		if (dirfd < 0) {
			*truncated = 1;
			return off;
		}
		struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
		unsigned int max = BPF_CORE_READ(fdt, max_fds);
		if ((unsigned int)dirfd >= max) {
			*truncated = 1;
			return off;
		}
		struct file **fds = BPF_CORE_READ(fdt, fd);
		struct file *f = NULL;
		bpf_core_read(&f, sizeof(f), &fds[dirfd]);
		if (!f) {
			*truncated = 1;
			return off;
		}
		dentry = BPF_CORE_READ(f, f_path.dentry);
		mnt = BPF_CORE_READ(f, f_path.mnt);
	}
	return walk(s, off, dentry, mnt, task, truncated);
}

/* Merges an exiting process's syscalls into its namespace's set. */
static __always_inline void merge_syscalls(struct tracked *t)
{
	__u32 ns = t->mnt_ns;
	struct syscall_set *set = bpf_map_lookup_elem(&syscalls, &ns);
	if (!set) {
		struct syscall_set empty = {};
		if (bpf_map_update_elem(&syscalls, &ns, &empty, BPF_NOEXIST) == -7 /* E2BIG */) {
			count(CNT_SYSCALL_TABLE_FULL);
			return;
		}
		set = bpf_map_lookup_elem(&syscalls, &ns);
		if (!set)
			return;
	}
	for (int i = 0; i < SYSCALL_WORDS; i++) {
		__u64 w = t->seen[i];
		if (w)
			__sync_fetch_and_or(&set->seen[i], w);
	}
}

static __always_inline int track(__u32 tgid, __u32 ns)
{
	struct tracked v = { .mnt_ns = ns };
	/* the exec that made it wanted, seen from inside */
	v.seen[59 >> 6] = 1ULL << (59 & 63);
	long err = bpf_map_update_elem(&tracked, &tgid, &v, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST */) {
		count(CNT_TABLE_FULL);
		return -1;
	}
	return 0;
}

/* Should a process that is not tracked yet, in namespace ns, start being tracked? */
static __always_inline int wanted_ns(__u32 ns)
{
	__u32 zero = 0;
	struct tracer_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || ns == cfg->host_mnt_ns || ns == 0)
		return 0;
	if (!cfg->bound)
		return 1;
	return bpf_map_lookup_elem(&targets, &ns) != NULL;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, int old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	__u32 ns = task_mnt_ns(p);
	if (!bpf_map_lookup_elem(&tracked, &tgid)) {
		if (!wanted_ns(ns) || track(tgid, ns))
			return 0;
	}

	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	struct exec_event *e = &s->exec;
	fill_header(&e->h, EV_EXEC, tgid, BPF_CORE_READ(p, pid), ns);
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->old_tid = old_pid;
	e->flags_ex = 0;
	e->filename_len = e->interp_len = e->base_len = e->exe_len = e->args_len = e->cgroup_len = 0;

	char *data = s->data;
	__u32 off = 0;
	long n;
	const char *filename = BPF_CORE_READ(bprm, filename);
	n = bpf_probe_read_kernel_str(data, PATH_CAP, filename);
	if (n > 0) {
		e->filename_len = n;
		off = n;
	}
	const char *interp = BPF_CORE_READ(bprm, interp);
	if (off <= PATH_CAP) {
		n = bpf_probe_read_kernel_str(data + off, PATH_CAP, interp);
		if (n > 0) {
			e->interp_len = n;
			off += n;
		}
	}
	int truncated = 0;
	if (e->filename_len > 1 && data[0] != '/') {
		__u32 before = off;
		off = walk_dirfd(s, off, AT_FDCWD, p, &truncated);
		e->base_len = off - before;
		if (truncated)
			e->flags_ex |= EVF_BASE_TRUNCATED;
	}
	{
		__u32 before = off;
		truncated = 0;
		off = walk(s, off, BPF_CORE_READ(bprm, file, f_path.dentry), BPF_CORE_READ(bprm, file, f_path.mnt), p,
			   &truncated);
		e->exe_len = off - before;
		if (truncated)
			e->flags_ex |= EVF_EXE_TRUNCATED;
	}
	if (truncated || (e->flags_ex & EVF_BASE_TRUNCATED))
		count(CNT_TRUNCATED);

	unsigned long arg_start = BPF_CORE_READ(p, mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(p, mm, arg_end);
	unsigned long args = arg_end - arg_start;
	if (args > ARGS_CAP)
		args = ARGS_CAP;
	if (off <= DATA_CAP - ARGS_CAP - CGROUP_CAP && args > 0) {
		if (bpf_probe_read_user(data + off, args & (ARGS_CAP * 2 - 1), (void *)arg_start) == 0) {
			e->args_len = args;
			off += args;
		}
	}

	struct css_set *css = BPF_CORE_READ(p, cgroups);
	struct cgroup *cg;
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, pids_cgrp_id)) {
		int idx = bpf_core_enum_value(enum cgroup_subsys_id, pids_cgrp_id);
		struct cgroup_subsys_state *st = NULL;
		if (idx >= 0 && idx < 64)
			bpf_core_read(&st, sizeof(st), &css->subsys[idx]);
		cg = BPF_CORE_READ(st, cgroup);
	} else {
		cg = BPF_CORE_READ(css, dfl_cgrp);
	}
	const char *cg_name = BPF_CORE_READ(cg, kn, name);
	if (off <= DATA_CAP - CGROUP_CAP) {
		n = bpf_probe_read_kernel_str(data + off, CGROUP_CAP, cg_name);
		if (n > 0) {
			e->cgroup_len = n;
			off += n;
		}
	}
	return output(e, sizeof(*e), off);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 pid = BPF_CORE_READ(child, pid);
	__u32 tgid = BPF_CORE_READ(child, tgid);
	if (pid != tgid)
		return 0; /* a thread: tracking is per process */
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ns = task_mnt_ns(child);
	if (!bpf_map_lookup_elem(&tracked, &ptgid)) {
		/* A process already in a bound target namespace but not tracked yet: one that
		 * existed before the sensor attached (`sensor container`) forking. */
		__u32 zero = 0;
		struct tracer_config *cfg = bpf_map_lookup_elem(&config, &zero);
		if (!cfg || !cfg->bound || !bpf_map_lookup_elem(&targets, &ns))
			return 0;
	}
	if (track(tgid, ns))
		return 0;
	struct fork_event e = {};
	fill_header(&e.h, EV_FORK, tgid, pid, ns);
	e.ppid = ptgid;
	return output(&e, sizeof(e), 0);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	__u32 pid = BPF_CORE_READ(p, pid);
	__u32 tgid = BPF_CORE_READ(p, tgid);
	if (pid != tgid)
		return 0;
	struct tracked *t = bpf_map_lookup_elem(&tracked, &tgid);
	if (!t)
		return 0;
	/* exit_group never returns, so sys_exit cannot see it */
	__sync_fetch_and_or(&t->seen[231 >> 6], 1ULL << (231 & 63));
	merge_syscalls(t);
	struct exit_event e = {};
	fill_header(&e.h, EV_EXIT, tgid, pid, t->mnt_ns);
	e.exit_code = BPF_CORE_READ(p, exit_code);
	output(&e, sizeof(e), 0);
	bpf_map_delete_elem(&tracked, &tgid);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct tracked *t = bpf_map_lookup_elem(&tracked, &tgid);
	if (!t)
		return 0;
	__u32 ns = t->mnt_ns;
	/* regs is a BTF-typed argument: direct loads, no helper calls */
	long nr = regs->orig_ax;
	if (nr < 0 || nr >= SYSCALL_WORDS * 64)
		return 0;
	__u64 bit = 1ULL << (nr & 63);
	__u64 *word = &t->seen[(nr >> 6) & (SYSCALL_WORDS - 1)];
	if (!(*word & bit))
		__sync_fetch_and_or(word, bit);

	unsigned long a0 = regs->di;
	unsigned long a1 = regs->si;
	unsigned long a2 = regs->dx;
	unsigned long a3 = regs->r10;
	unsigned long a4 = regs->r8;

	__u16 op;
	int dirfd = AT_FDCWD, dirfd2 = NO_DIRFD;
	const char *path = NULL, *path2 = NULL;
	__u64 flags = 0;
	__u32 mode = 0;

	switch (nr) {
	case 2: /* open */
		op = OP_OPEN; path = (const char *)a0; flags = a1; mode = a2; break;
	case 257: /* openat */
		op = OP_OPEN; dirfd = a0; path = (const char *)a1; flags = a2; mode = a3; break;
	case 437: { /* openat2 */
		struct open_how_user how = {};
		bpf_probe_read_user(&how, sizeof(how), (void *)a2);
		op = OP_OPEN; dirfd = a0; path = (const char *)a1; flags = how.flags; mode = how.mode; break;
	}
	case 85: /* creat */
		op = OP_OPEN; path = (const char *)a0; flags = O_CREAT_WRONLY_TRUNC; mode = a1; break;
	case 59: /* execve: success is reported by sched_process_exec */
		if (ret == 0)
			return 0;
		op = OP_EXEC_ATTEMPT; path = (const char *)a0; break;
	case 322: /* execveat */
		if (ret == 0)
			return 0;
		op = OP_EXEC_ATTEMPT; dirfd = a0; path = (const char *)a1; flags = a4; break;
	case 4: /* stat */
		op = OP_STAT; path = (const char *)a0; break;
	case 6: /* lstat */
		op = OP_STAT; path = (const char *)a0; flags = AT_SYMLINK_NOFOLLOW; break;
	case 262: /* newfstatat */
		op = OP_STAT; dirfd = a0; path = (const char *)a1; flags = a3; break;
	case 332: /* statx */
		op = OP_STAT; dirfd = a0; path = (const char *)a1; flags = a2; break;
	case 137: /* statfs */
	case 191: /* getxattr */
	case 194: /* listxattr */
		op = OP_STAT; path = (const char *)a0; break;
	case 192: /* lgetxattr */
	case 195: /* llistxattr */
		op = OP_STAT; path = (const char *)a0; flags = AT_SYMLINK_NOFOLLOW; break;
	case 254: /* inotify_add_watch */
		op = OP_STAT; path = (const char *)a1; break;
	case 21: /* access */
		op = OP_ACCESS; path = (const char *)a0; mode = a1; break;
	case 269: /* faccessat */
		op = OP_ACCESS; dirfd = a0; path = (const char *)a1; mode = a2; break;
	case 439: /* faccessat2 */
		op = OP_ACCESS; dirfd = a0; path = (const char *)a1; mode = a2; flags = a3; break;
	case 89: /* readlink */
		op = OP_READLINK; path = (const char *)a0; break;
	case 267: /* readlinkat */
		op = OP_READLINK; dirfd = a0; path = (const char *)a1; break;
	case 78:  /* getdents */
	case 217: /* getdents64 */
		op = OP_LIST; dirfd = a0; break;
	case 80: /* chdir */
		op = OP_CHDIR; path = (const char *)a0; break;
	case 81: /* fchdir */
		op = OP_CHDIR; dirfd = a0; break;
	case 83: /* mkdir */
		op = OP_MKDIR; path = (const char *)a0; mode = a1; break;
	case 258: /* mkdirat */
		op = OP_MKDIR; dirfd = a0; path = (const char *)a1; mode = a2; break;
	case 82: /* rename */
		op = OP_RENAME; path = (const char *)a0; dirfd2 = AT_FDCWD; path2 = (const char *)a1; break;
	case 264: /* renameat */
	case 316: /* renameat2 */
		op = OP_RENAME; dirfd = a0; path = (const char *)a1; dirfd2 = a2; path2 = (const char *)a3;
		if (nr == 316)
			flags = a4;
		break;
	case 86: /* link */
		op = OP_LINK; path = (const char *)a0; dirfd2 = AT_FDCWD; path2 = (const char *)a1; break;
	case 265: /* linkat */
		op = OP_LINK; dirfd = a0; path = (const char *)a1; dirfd2 = a2; path2 = (const char *)a3; flags = a4;
		break;
	case 88: /* symlink(target, linkpath) */
		op = OP_SYMLINK; path = (const char *)a1; path2 = (const char *)a0; break;
	case 266: /* symlinkat(target, newdirfd, linkpath) */
		op = OP_SYMLINK; dirfd = a1; path = (const char *)a2; path2 = (const char *)a0; break;
	case 87: /* unlink */
		op = OP_UNLINK; path = (const char *)a0; break;
	case 263: /* unlinkat */
		op = (a2 & AT_REMOVEDIR) ? OP_RMDIR : OP_UNLINK; dirfd = a0; path = (const char *)a1; flags = a2;
		break;
	case 84: /* rmdir */
		op = OP_RMDIR; path = (const char *)a0; break;
	case 133: /* mknod */
		op = OP_MKNOD; path = (const char *)a0; mode = a1; break;
	case 259: /* mknodat */
		op = OP_MKNOD; dirfd = a0; path = (const char *)a1; mode = a2; break;
	case 90:  /* chmod */
	case 92:  /* chown */
	case 94:  /* lchown */
	case 76:  /* truncate */
	case 132: /* utime */
	case 235: /* utimes */
	case 188: /* setxattr */
	case 189: /* lsetxattr */
	case 197: /* removexattr */
	case 198: /* lremovexattr */
		op = OP_SETATTR; path = (const char *)a0; break;
	case 268: /* fchmodat */
	case 452: /* fchmodat2 */
	case 260: /* fchownat */
	case 261: /* futimesat */
	case 280: /* utimensat */
		if (!a1)
			return 0; /* utimensat(fd, NULL, ...): an fd, already recorded when opened */
		op = OP_SETATTR; dirfd = a0; path = (const char *)a1; break;
	default:
		return 0;
	}

	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	struct file_event *e = &s->file;
	char *data = s->data;
	__u32 off = 0;
	long n;

	e->path_len = e->path2_len = e->base_len = e->base2_len = 0;
	e->flags_ex = 0;
	if (path) {
		n = bpf_probe_read_user_str(data, PATH_CAP, path);
		if (n > 0) {
			e->path_len = n;
			off = n;
		} else {
			e->flags_ex |= EVF_PATH_FAULT;
		}
		/* fstatat(fd, "", AT_EMPTY_PATH) is how glibc implements fstat: the fd's file was
		 * recorded when it was opened. */
		if (n == 1 && (flags & AT_EMPTY_PATH) && op == OP_STAT)
			return 0;
	}
	if (path2 && off <= PATH_CAP) {
		n = bpf_probe_read_user_str(data + off, PATH_CAP, path2);
		if (n > 0) {
			e->path2_len = n;
			off += n;
		}
	}

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	int truncated = 0;
	/* A base is needed for a relative path, for fd-only ops, and for chdir (the new cwd). */
	int need_base = op == OP_CHDIR || !path || (e->path_len > 1 && data[0] != '/') || (e->path_len == 1);
	if (need_base) {
		__u32 before = off;
		off = walk_dirfd(s, off, (op == OP_CHDIR && ret == 0) ? AT_FDCWD : dirfd, task, &truncated);
		e->base_len = off - before;
		if (truncated)
			e->flags_ex |= EVF_BASE_TRUNCATED;
	}
	if (e->path2_len > 1 && dirfd2 != NO_DIRFD && e->path_len < PATH_CAP && off < DATA_CAP) {
		__u32 p2 = e->path_len & (PATH_CAP - 1);
		if (data[p2] != '/') {
			int t2 = 0;
			__u32 before = off;
			off = walk_dirfd(s, off, dirfd2, task, &t2);
			e->base2_len = off - before;
			if (t2) {
				e->flags_ex |= EVF_BASE2_TRUNCATED;
				truncated = 1;
			}
		}
	}
	if (truncated)
		count(CNT_TRUNCATED);

	fill_header(&e->h, EV_FILE, tgid, (__u32)id, ns);
	e->ret = ret;
	e->flags = flags;
	e->dirfd = dirfd;
	e->dirfd2 = dirfd2;
	e->mode = mode;
	e->nr = nr;
	e->op = op;
	return output(e, sizeof(*e), off);
}
