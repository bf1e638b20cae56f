//! Starts a command in a fresh mount namespace, held before its exec until the sensor is
//! bound to that namespace: the command's first instruction is traced.
use crate::error::{Result, SensorError};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{fork, ForkResult, Pid};
use std::ffi::CString;
use std::os::fd::OwnedFd;

pub struct HeldChild {
    pub pid: Pid,
    go: Option<OwnedFd>,
}

/// Forks a child that enters a new mount namespace and waits; `release` lets it exec `argv`.
/// The child exits 127 when the exec fails, 126 when the namespace cannot
/// be created.
pub fn spawn_held(argv: &[String]) -> Result<HeldChild> {
    let exec = ExecArgs::new(argv)?;
    // The child may not allocate (another thread may hold the allocator's lock at the fork):
    // every pointer it passes to execve is made here.
    let argv_ptrs = null_terminated(&exec.args);
    let env_ptrs = null_terminated(&exec.env);
    let (ready_r, ready_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SensorError::io("creating a pipe", e.into()))?;
    let (go_r, go_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SensorError::io("creating a pipe", e.into()))?;

    // SAFETY: between fork and exec the child only makes async-signal-safe calls (unshare,
    // mount, read, write, execve, _exit) on data prepared before the fork, and allocates nothing.
    match unsafe { fork() }.map_err(|e| SensorError::io("fork", e.into()))? {
        ForkResult::Child => {
            drop(ready_r);
            drop(go_w);
            held_child(&ready_w, &go_r, &exec.program, &argv_ptrs, &env_ptrs)
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            drop(go_r);
            let mut b = [0u8; 1];
            let n =
                nix::unistd::read(&ready_r, &mut b).map_err(|e| SensorError::io("waiting for the child", e.into()))?;
            if n != 1 || b[0] != 0 {
                let _ = nix::sys::wait::waitpid(child, None);
                return Err(SensorError::Target(
                    "could not create a mount namespace for the command (unshare(CLONE_NEWNS) needs CAP_SYS_ADMIN)"
                        .into(),
                ));
            }
            Ok(HeldChild { pid: child, go: Some(go_w) })
        }
    }
}

/// What execve takes, made before the fork.
struct ExecArgs {
    program: CString,
    args: Vec<CString>,
    env: Vec<CString>,
}

impl ExecArgs {
    fn new(argv: &[String]) -> Result<ExecArgs> {
        if argv.is_empty() {
            return Err(SensorError::Target("no command given".into()));
        }
        // Resolved here, not by execvp in the child: the trace then starts at the command's exec
        // instead of with our own PATH search.
        let program = resolve_program(&argv[0])?;
        let program = CString::new(program.as_os_str().as_encoded_bytes())
            .map_err(|_| SensorError::Target("the command path contains a NUL byte".into()))?;
        let args = c_strings(argv.iter().map(|a| a.as_bytes().to_vec()))
            .ok_or_else(|| SensorError::Target("a command argument contains a NUL byte".into()))?;
        // The environment is passed as it is now; an entry with a NUL byte cannot exist in it.
        let env = c_strings(std::env::vars_os().map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend_from_slice(v.as_encoded_bytes());
            kv
        }))
        .ok_or_else(|| SensorError::Target("an environment variable contains a NUL byte".into()))?;
        Ok(ExecArgs { program, args, env })
    }
}

/// The forked child: enters its own mount namespace, says so on `ready`, waits for `go`, then
/// execs. Allocates nothing and makes only async-signal-safe calls.
fn held_child(
    ready: &OwnedFd,
    go: &OwnedFd,
    program: &CString,
    argv: &[*const libc::c_char],
    env: &[*const libc::c_char],
) -> ! {
    let status: u8 = if unshare(CloneFlags::CLONE_NEWNS).is_err() {
        1
    } else {
        // Keep mounts made inside from propagating back to the host.
        let _ = nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
            None::<&str>,
        );
        0
    };
    let _ = nix::unistd::write(ready, &[status]);
    if status != 0 {
        // SAFETY: _exit is async-signal-safe and ends the child without running the
        // parent's atexit handlers or flushing its copied stdio buffers.
        unsafe { libc::_exit(126) };
    }
    let mut b = [0u8; 1];
    let code = match nix::unistd::read(go, &mut b) {
        Ok(1) => {
            // SAFETY: the pointers come from CStrings and arrays built before the fork,
            // still alive in this copy of the address space, each array ending in null.
            unsafe { libc::execve(program.as_ptr(), argv.as_ptr(), env.as_ptr()) };
            127
        }
        _ => 125, // the sensor went away: do not run untraced
    };
    // SAFETY: as above; reached only when execve failed or the sensor went away.
    unsafe { libc::_exit(code) }
}

fn c_strings(items: impl Iterator<Item = Vec<u8>>) -> Option<Vec<CString>> {
    items.map(|b| CString::new(b).ok()).collect()
}

/// The `char *const[]` execve takes: pointers into `strings`, then a null.
fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
}

/// `name` as execvp would find it: a path if it has a slash, else the first executable match in PATH.
fn resolve_program(name: &str) -> Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &std::path::Path| {
        std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    };
    if name.contains('/') {
        let p = std::path::PathBuf::from(name);
        return if is_exec(&p) {
            Ok(p)
        } else {
            Err(SensorError::Target(format!("cannot execute {name}: not an executable file")))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_exec(p))
        .ok_or_else(|| SensorError::Target(format!("command not found: {name} (searched PATH)")))
}

impl HeldChild {
    /// Lets the child exec its command.
    pub fn release(&mut self) -> Result<()> {
        if let Some(go) = self.go.take() {
            nix::unistd::write(&go, &[1]).map_err(|e| SensorError::io("releasing the child", e.into()))?;
        }
        Ok(())
    }
}

impl Drop for HeldChild {
    fn drop(&mut self) {
        // Never released (an error in between): closing the pipe makes the child exit 125
        // without running the command; reap it.
        if self.go.take().is_some() {
            let _ = nix::sys::wait::waitpid(self.pid, None);
        }
    }
}
