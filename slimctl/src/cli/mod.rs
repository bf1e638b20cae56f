//! The commands: each parses its flags into a request, calls the pipeline and prints. Exit codes
//! are [`exit`]'s.

mod build;
mod checks;
mod debug;
mod diff;
pub mod exit;
mod profile;
mod ruleargs;
mod runargs;
mod sbom;
mod table;
mod verify;
mod vex;
mod xray;

use clap::{Parser, Subcommand};
use slimctl::error::ErrorClass;
use slimctl::pipeline::settings;

#[derive(Parser, Debug)]
#[command(name = "slimctl", version, about = "Make container images small by keeping only what the application uses")]
pub struct Cli {
    /// No progress bars (they are off anyway when stderr is not a terminal).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// The engine: unix:///PATH.sock (Docker's, or podman's `podman system service`), a socket
    /// path, or tcp://HOST:PORT. Default: DOCKER_HOST, then CONTAINER_HOST, then Docker's socket.
    #[arg(long, global = true, value_name = "URL", value_parser = settings::check_address)]
    pub engine: Option<String>,
    /// Registry credentials for docker:// images (default: ~/.docker/config.json, else none).
    #[arg(long, global = true, value_name = "USER:PASS", value_parser = parse_creds)]
    pub creds: Option<(String, String)>,
    /// Speak plain HTTP to this registry (HOST or HOST:PORT; localhost and 127.0.0.1 always are).
    #[arg(long, global = true, value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,
    /// The platform to take from a docker:// image index (default: this host's).
    #[arg(long, global = true, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<slimctl::pipeline::types::Platform>,
    /// How engine images are read: `auto` reads their layers in place in the engine's storage
    /// when it is on this host and readable (root; overlay2 or fuse-overlayfs), else streams them
    /// as `docker save` does; `stream` always streams.
    #[arg(long, global = true, value_enum, default_value_t = ImageRead::Auto)]
    pub image_read: ImageRead,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageRead {
    Auto,
    Stream,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build a slim image from IMAGE.
    Build(build::BuildArgs),
    /// Show an image's layers, largest files and wasted space.
    Xray(xray::XrayArgs),
    /// Run ORIGINAL and SLIM with the same probes and compare their answers.
    Verify(verify::VerifyArgs),
    /// Trace IMAGE under probes and save what it touched (for build --from-profile).
    Profile(profile::ProfileArgs),
    /// Files added/removed/changed between two images, and which packages of A are gone.
    Diff(diff::DiffArgs),
    /// An SBOM (SPDX 2.3 or CycloneDX 1.5 JSON) of IMAGE: its packages and files.
    Sbom(sbom::SbomArgs),
    /// VEX (OpenVEX or CycloneDX) for SLIM from a vulnerability report of ORIGINAL: what the slimming removed.
    Vex(vex::VexArgs),
    /// A shell (or CMD) in a side-car beside a slim container: the original's tools, the target's namespaces.
    Debug(debug::DebugArgs),
}

impl Command {
    /// Whether the command's output is JSON (--json).
    fn json(&self) -> bool {
        match self {
            Command::Build(a) => a.json,
            Command::Xray(a) => a.json,
            Command::Verify(a) => a.json,
            Command::Diff(a) => a.json,
            Command::Profile(_) | Command::Sbom(_) | Command::Vex(_) | Command::Debug(_) => false,
        }
    }

    /// What the arguments alone refute, checked before anything runs (even the sweep of what
    /// killed runs left), so a typo costs nothing and prints one line.
    fn check(&self) -> Result<(), Failure> {
        match self {
            Command::Build(a) => {
                a.tag.as_deref().map(slimctl::naming::output_tag).transpose().map(drop).map_err(Failure::usage)
            }
            _ => Ok(()),
        }
    }
}

/// A failure with the exit code it deserves.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    /// The error's causes, outermost first (for --json).
    pub causes: Vec<String>,
}

impl Failure {
    /// From a library error, keeping its chain of causes.
    pub fn of(class: ErrorClass, e: &(dyn std::error::Error + 'static)) -> Failure {
        let mut causes = slimctl::error::chain(e);
        let message = causes.remove(0);
        Failure { code: exit::of_class(class), message, causes }
    }
    pub fn new(class: ErrorClass, message: impl std::fmt::Display) -> Failure {
        Failure { code: exit::of_class(class), message: message.to_string(), causes: Vec::new() }
    }
    pub fn input(message: impl std::fmt::Display) -> Failure {
        Failure::new(ErrorClass::Input, message)
    }
    pub fn usage(message: impl std::fmt::Display) -> Failure {
        Failure::new(ErrorClass::Usage, message)
    }
    pub fn internal(message: impl std::fmt::Display) -> Failure {
        Failure::new(ErrorClass::Internal, message)
    }
    fn json(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "message": self.message, "causes": self.causes, "exit_code": self.code } })
    }
}

impl From<slimctl::pipeline::PipelineError> for Failure {
    fn from(e: slimctl::pipeline::PipelineError) -> Failure {
        Failure::of(e.class(), &e)
    }
}

/// Scratch space for one run: removed when the command ends, fails, or is interrupted; after a
/// SIGKILL, by the next run (see [`slimctl::workdir`]).
pub use slimctl::workdir::WorkDir;

fn work_dir() -> Result<WorkDir, Failure> {
    let tmp = std::env::temp_dir();
    let swept = slimctl::workdir::sweep(&tmp);
    if !swept.dirs.is_empty() {
        eprintln!(
            "slimctl: removed {} work dir(s) that killed runs left in {} ({} freed)",
            swept.dirs.len(),
            tmp.display(),
            slimctl::units::human_bytes(swept.bytes)
        );
    }
    WorkDir::create().map_err(|e| {
        Failure::new(ErrorClass::Environment, format!("cannot create a work dir in {}: {e}", tmp.display()))
    })
}

async fn interrupted() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

pub async fn run(cli: Cli) -> u8 {
    if cli.no_progress {
        slimctl::progress::disable();
    }
    if let Some(url) = &cli.engine {
        settings::use_engine(url);
    }
    settings::read_in_storage(cli.image_read == ImageRead::Auto);
    settings::configure_registries(slimctl::pipeline::types::RegistryOptions {
        creds: cli.creds.clone(),
        insecure: cli.insecure_registry.clone(),
        platform: cli.platform.clone(),
    });
    if let Err(f) = cli.command.check() {
        return report_failure(&cli, f);
    }
    let work = match work_dir() {
        Ok(w) => w,
        Err(f) => {
            eprintln!("slimctl: error: {}", f.message);
            return f.code;
        }
    };
    let result = tokio::select! {
        r = async {
            match &cli.command {
                Command::Build(args) => build::run(args, &work).await,
                Command::Xray(args) => xray::run(args).await,
                Command::Verify(args) => verify::run(args, &work).await,
                Command::Profile(args) => profile::run(args).await,
                Command::Diff(args) => diff::run(args).await,
                Command::Sbom(args) => sbom::run(args).await,
                Command::Vex(args) => vex::run(args).await,
                Command::Debug(args) => debug::run(args).await,
            }
        } => r,
        sig = interrupted() => {
            // The command's future is gone (its sensor detached with it); remove what it created.
            let removed = settings::remove_all().await;
            settings::release_sensor();
            drop(work);
            let what = if removed > 0 {
                format!("{removed} container(s)/network(s)/volume(s) and temporary files")
            } else {
                "temporary files".into()
            };
            eprintln!("slimctl: interrupted by {sig}; {what} removed, nothing was changed");
            return exit::INTERRUPTED;
        }
    };
    drop(work);
    match result {
        Ok(code) => code,
        Err(f) => report_failure(&cli, f),
    }
}

fn report_failure(cli: &Cli, f: Failure) -> u8 {
    eprintln!("slimctl: error: {}", f.message);
    // A CI job reading --json output gets the failure in the same form.
    if cli.command.json() {
        println!("{}", serde_json::to_string_pretty(&f.json()).unwrap_or_default());
    }
    f.code
}

fn parse_creds(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((u, p)) if !u.is_empty() => Ok((u.to_owned(), p.to_owned())),
        _ => Err("expected USER:PASS".into()),
    }
}
