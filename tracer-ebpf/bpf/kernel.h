/* The few kernel types the tracer reads, declared by hand with preserve_access_index so
 * that CO-RE relocates every field access against the running kernel's BTF. Only the
 * fields used are declared; their order and the struct sizes here do not matter.
 * This keeps the build independent of the build machine's kernel (no vmlinux.h). */
#ifndef SLIMCTL_KERNEL_H
#define SLIMCTL_KERNEL_H

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

struct pt_regs {
	unsigned long r10, r9, r8, ax, dx, si, di, orig_ax;
};

struct qstr {
	const unsigned char *name;
};

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
};

struct vfsmount {
	struct dentry *mnt_root;
};

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	struct path f_path;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct fs_struct {
	struct path root;
	struct path pwd;
};

struct ns_common {
	unsigned int inum;
};

struct mnt_namespace {
	struct ns_common ns;
};

struct nsproxy {
	struct mnt_namespace *mnt_ns;
};

struct kernfs_node {
	const char *name;
};

struct cgroup {
	struct kernfs_node *kn;
};

struct cgroup_subsys_state {
	struct cgroup *cgroup;
};

struct css_set {
	struct cgroup_subsys_state *subsys[1];
	struct cgroup *dfl_cgrp;
};

enum cgroup_subsys_id {
	pids_cgrp_id = 0,
};

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
};

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	struct nsproxy *nsproxy;
	struct fs_struct *fs;
	struct files_struct *files;
	struct css_set *cgroups;
	struct mm_struct *mm;
	int exit_code;
};

struct linux_binprm {
	struct file *file;
	const char *filename;
	const char *interp;
};

#pragma clang attribute pop

#endif
