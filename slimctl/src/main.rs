//! The `slimctl` command line: parses arguments, runs one command, maps failures to one clear line
//! and an exit code. The work itself lives in the library.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let args = <cli::Cli as clap::Parser>::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("slimctl: error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::exit::ENVIRONMENT);
        }
    };
    let code = runtime.block_on(cli::run(args));
    // Blocking readers may still be parked on an engine stream after a failure or an interrupt;
    // do not wait for them.
    runtime.shutdown_background();
    ExitCode::from(code)
}

/// glibc gives each thread that allocates an arena of its own, and the index is built by several
/// threads: their half-used arenas added a fifth to the peak of a 400k-path build (256 MB against
/// 210 MB with two arenas, measured). Two still keep the threads from queueing on one lock.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called first in main, before any thread exists; mallopt only sets a tuning value
    // of the allocator and reports failure by its return value (ignored: the default stays).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
