//! The `slimctl` command line: parses arguments, runs one command, maps failures to one clear line
//! and an exit code. The work itself lives in the library.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
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
