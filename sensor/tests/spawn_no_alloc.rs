//! `spawn_held` forks and the child execs: between the two the child may not allocate (another
//! thread of the parent may hold the allocator's lock at the fork, and the child would then
//! wait for it forever). This test binary's allocator ends any forked child that allocates with
//! exit code 99.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI32, Ordering};

/// The test process's pid once armed; 0 while not.
static PARENT: AtomicI32 = AtomicI32::new(0);

struct ChildMustNotAllocate;

// SAFETY: delegates every call to the system allocator; the only addition is a check that
// ends a forked child, which allocates nothing itself.
unsafe impl GlobalAlloc for ChildMustNotAllocate {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        trap();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        trap();
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn trap() {
    let parent = PARENT.load(Ordering::Relaxed);
    // SAFETY: getpid and _exit are async-signal-safe system calls without preconditions.
    if parent != 0 && unsafe { libc::getpid() } != parent {
        // SAFETY: as above; the child ends here, before it could take a lock.
        unsafe { libc::_exit(99) };
    }
}

#[global_allocator]
static ALLOC: ChildMustNotAllocate = ChildMustNotAllocate;

#[test]
fn the_held_child_execs_without_allocating() {
    let argv = vec!["/bin/sh".to_owned(), "-c".to_owned(), "exit 7".to_owned()];
    // SAFETY: getpid has no preconditions.
    PARENT.store(unsafe { libc::getpid() }, Ordering::Relaxed);
    let mut child = sensor::spawn::spawn_held(&argv).expect("spawn (needs root for the mount namespace)");
    child.release().expect("release");
    let status = nix::sys::wait::waitpid(child.pid, None).expect("wait");
    PARENT.store(0, Ordering::Relaxed);
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Exited(child.pid, 7),
        "exit 99 means the child allocated between fork and exec"
    );
}
