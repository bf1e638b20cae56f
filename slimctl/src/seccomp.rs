//! A seccomp profile from the syscalls the traced runs made: Docker/OCI `LinuxSeccomp` JSON
//! (what Docker's `--security-opt seccomp=FILE`, containerd and Kubernetes Localhost profiles
//! take), default deny, allowing what was seen plus what the runtime itself needs.
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompBuilder, LinuxSyscallBuilder};
use std::collections::BTreeSet;

/// Syscalls the container runtime makes after it installs the filter and before (or while) the
/// entrypoint's exec, and that every process needs to start and end: the filter is loaded by
/// runc's init right before `execve`, so these run under it although no traced run shows them.
pub const RUNTIME_BASE: &[&str] = &[
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "rt_sigreturn",
    "rt_sigaction",
    "rt_sigprocmask",
    "futex",
    "close",
    "read",
    "write",
    "fstat",
    "newfstatat",
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    "getpid",
    "getppid",
    "capget",
    "capset",
    "prctl",
    "setgroups",
    "setuid",
    "setgid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "fchdir",
    "chdir",
    "openat",
    "fcntl",
    "nanosleep",
    "clock_nanosleep",
    "sched_yield",
    "tgkill",
    "getrandom",
    // runc's init (Go) between loading the filter and the exec: it checks /proc/self/fd is
    // procfs and marks inherited fds close-on-exec, while Go's runtime keeps running.
    "fstatfs",
    "statfs",
    "getdents64",
    "close_range",
    "madvise",
    "sigaltstack",
    "gettid",
    "epoll_pwait",
    "epoll_wait",
    "epoll_ctl",
    "epoll_create1",
    "pipe2",
    "dup3",
    "readlinkat",
    "mincore",
    "clone",
    "clone3",
    "wait4",
    "waitid",
    "kill",
    "getcwd",
    "uname",
    "sysinfo",
    "access",
    "faccessat",
    "faccessat2",
    "stat",
    "lstat",
    "statx",
    // The kernel's own restart of a sleep (nanosleep, futex or poll with a timeout) that a
    // signal interrupted: whether it happens depends on timing (Go's preemption signals in runc,
    // SIGCHLD in a shell), so a traced run may not show it while the next run needs it.
    "restart_syscall",
];

/// The profile allowing `seen` (names) and, with `runtime_base`, the runtime's start-up set:
/// default deny with EPERM, so a missing syscall fails visibly, not silently.
pub fn profile(seen: &BTreeSet<String>, runtime_base: bool) -> LinuxSeccomp {
    let mut names: BTreeSet<String> = seen.iter().filter(|n| !n.starts_with("syscall_")).cloned().collect();
    if runtime_base {
        names.extend(RUNTIME_BASE.iter().map(|s| s.to_string()));
    }
    let allow = LinuxSyscallBuilder::default()
        .names(names.into_iter().collect::<Vec<_>>())
        .action(LinuxSeccompAction::ScmpActAllow)
        .build()
        .expect("names and action are set");
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(1u32)
        .architectures(vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32])
        .syscalls(vec![allow])
        .build()
        .expect("all fields are set")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_allows_seen_and_base_and_denies_the_rest() {
        let seen: BTreeSet<String> =
            ["accept4", "socket", "bind", "syscall_999"].iter().map(|s| s.to_string()).collect();
        let p = profile(&seen, true);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["defaultErrnoRet"], 1);
        assert_eq!(json["architectures"], serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]));
        assert_eq!(json["syscalls"][0]["action"], "SCMP_ACT_ALLOW");
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["architectures", "defaultAction", "defaultErrnoRet", "syscalls"], "what Docker reads");
        let names: Vec<&str> =
            json["syscalls"][0]["names"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(names.contains(&"accept4") && names.contains(&"execve") && names.contains(&"exit_group"));
        assert!(!names.contains(&"syscall_999"), "unknown numbers have no name to allow");
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "stable output");
        let bare = profile(&seen, false);
        assert!(!bare.syscalls().as_ref().unwrap()[0].names().contains(&"execve".to_string()));
    }
}
