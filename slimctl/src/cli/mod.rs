//! Commands and their exit codes.

mod build;
mod checks;
mod diff;
mod profile;
mod ruleargs;
mod runargs;
mod stack;
mod table;
mod verify;
mod xray;

use clap::{Parser, Subcommand};
use slimctl::error::ErrorClass;

pub const EXIT_OK: u8 = 0;
pub const EXIT_INTERNAL: u8 = 1;
pub const EXIT_INPUT: u8 = 3;
pub const EXIT_ENVIRONMENT: u8 = 4;
pub const EXIT_CI_GATE: u8 = 5;
/// The traced target failed under its probes: never answered, exited early, a probe errored.
pub const EXIT_PROBE: u8 = 6;
pub const EXIT_USAGE: u8 = 2;
/// Verify found the slim image behaving differently from the original.
pub const EXIT_VERIFY: u8 = 7;
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser, Debug)]
#[command(name = "slimctl", version, about = "Make container images small by keeping only what the application uses")]
pub struct Cli {
    /// No progress bars (they are off anyway when stderr is not a terminal).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// The engine: unix:///PATH.sock (Docker's, or podman's `podman system service`), a socket
    /// path, or tcp://HOST:PORT. Default: DOCKER_HOST, then CONTAINER_HOST, then Docker's socket.
    #[arg(long, global = true, value_name = "URL", value_parser = slimctl::image::engine::check_address)]
    pub engine: Option<String>,
    /// Registry credentials for docker:// images (default: ~/.docker/config.json, else none).
    #[arg(long, global = true, value_name = "USER:PASS", value_parser = parse_creds)]
    pub creds: Option<(String, String)>,
    /// Speak plain HTTP to this registry (HOST or HOST:PORT; localhost and 127.0.0.1 always are).
    #[arg(long, global = true, value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,
    /// The platform to take from a docker:// image index (default: this host's).
    #[arg(long, global = true, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<slimctl::image::registry::Platform>,
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
}

impl Command {
    /// Whether the command's output is JSON (--json).
    fn json(&self) -> bool {
        match self {
            Command::Build(a) => a.json,
            Command::Xray(a) => a.json,
            Command::Verify(a) => a.json,
            Command::Diff(a) => a.json,
            Command::Profile(_) => false,
        }
    }
}

/// A failure with the exit code it deserves.
pub struct Failure {
    pub code: u8,
    pub message: String,
    /// The error's causes, outermost first (for --json).
    pub causes: Vec<String>,
}

fn class_code(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Input => EXIT_INPUT,
        ErrorClass::Environment => EXIT_ENVIRONMENT,
    }
}

impl Failure {
    pub fn new(class: ErrorClass, message: impl std::fmt::Display) -> Failure {
        Failure { code: class_code(class), message: message.to_string(), causes: Vec::new() }
    }
    /// From a library error, keeping its chain of causes.
    pub fn of(class: ErrorClass, e: &(dyn std::error::Error + 'static)) -> Failure {
        let mut causes = slimctl::error::chain(e);
        let message = causes.remove(0);
        Failure { code: class_code(class), message, causes }
    }
    pub fn input(message: impl std::fmt::Display) -> Failure {
        Failure::new(ErrorClass::Input, message)
    }
    pub fn usage(message: impl std::fmt::Display) -> Failure {
        Failure { code: EXIT_USAGE, message: message.to_string(), causes: Vec::new() }
    }
    /// The traced target failed under its probes.
    pub fn probe(message: impl std::fmt::Display) -> Failure {
        Failure { code: EXIT_PROBE, message: message.to_string(), causes: Vec::new() }
    }
    pub fn internal(message: impl std::fmt::Display) -> Failure {
        Failure { code: EXIT_INTERNAL, message: message.to_string(), causes: Vec::new() }
    }
    fn json(&self) -> serde_json::Value {
        serde_json::json!({ "error": { "message": self.message, "causes": self.causes, "exit_code": self.code } })
    }
}

impl From<slimctl::error::ImageError> for Failure {
    fn from(e: slimctl::error::ImageError) -> Failure {
        Failure::of(e.class(), &e)
    }
}

impl From<slimctl::build::BuildError> for Failure {
    fn from(e: slimctl::build::BuildError) -> Failure {
        Failure::of(e.class(), &e)
    }
}

impl From<slimctl::run::traced::TraceError> for Failure {
    fn from(e: slimctl::run::traced::TraceError) -> Failure {
        use slimctl::run::traced::TraceError;
        use slimctl::run::RunError;
        match e {
            TraceError::Sensor(e) => Failure::of(ErrorClass::Environment, &e),
            TraceError::Run(RunError::Input(m)) => Failure::input(m),
            TraceError::Run(e @ RunError::Engine { .. }) => Failure::of(ErrorClass::Environment, &e),
            TraceError::Probe(m) => Failure::probe(m),
        }
    }
}

impl From<slimctl::run::overlap::OverlapError> for Failure {
    fn from(e: slimctl::run::overlap::OverlapError) -> Failure {
        use slimctl::run::overlap::OverlapError;
        match e {
            OverlapError::Trace(e) => e.into(),
            OverlapError::Image(e) => e.into(),
            OverlapError::Task(e) => e.into(),
        }
    }
}

impl From<tokio::task::JoinError> for Failure {
    fn from(e: tokio::task::JoinError) -> Failure {
        Failure::internal(format!("a worker thread failed: {e}"))
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
        slimctl::image::engine::use_engine(url);
    }
    slimctl::image::engine::read_in_storage(cli.image_read == ImageRead::Auto);
    slimctl::image::registry::configure(slimctl::image::registry::RegistryOptions {
        creds: cli.creds.clone(),
        insecure: cli.insecure_registry.clone(),
        platform: cli.platform.clone(),
    });
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
                Command::Verify(args) => verify::run(args).await,
                Command::Profile(args) => profile::run(args).await,
                Command::Diff(args) => diff::run(args).await,
            }
        } => r,
        sig = interrupted() => {
            // The command's future is gone (its sensor detached with it); remove what it created.
            let removed = slimctl::run::cleanup::remove_all().await;
            slimctl::run::traced::release_sensor();
            drop(work);
            let what = if removed > 0 {
                format!("{removed} container(s)/network(s)/volume(s) and temporary files")
            } else {
                "temporary files".into()
            };
            eprintln!("slimctl: interrupted by {sig}; {what} removed, nothing was changed");
            return EXIT_INTERRUPTED;
        }
    };
    drop(work);
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("slimctl: error: {}", f.message);
            // A CI job reading --json output gets the failure in the same form.
            if cli.command.json() {
                println!("{}", serde_json::to_string_pretty(&f.json()).unwrap_or_default());
            }
            f.code
        }
    }
}

fn parse_creds(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((u, p)) if !u.is_empty() => Ok((u.to_owned(), p.to_owned())),
        _ => Err("expected USER:PASS".into()),
    }
}

/// An image source opened from a command-line reference.
pub struct Opened {
    pub source: Box<dyn slimctl::image::ImageSource>,
    /// Connected when the image is in the engine.
    pub docker: Option<bollard::Docker>,
    pub repo_tags: Vec<String>,
    /// The engine's description of the image's config: enough to run it before it is read.
    pub run_config: Option<slimctl::image::ImageConfig>,
}

/// Opens an image source from a command-line reference.
/// With `local_copy`, an engine image's first read is kept there for later passes.
pub async fn open_source(reference: &str, local_copy: Option<&std::path::Path>) -> Result<Opened, Failure> {
    use slimctl::image::{docker_archive::DockerArchive, engine, oci_dir::OciDir, ImageRef};
    let file = |source: Box<dyn slimctl::image::ImageSource>| Opened {
        source,
        docker: None,
        repo_tags: Vec::new(),
        run_config: None,
    };
    match ImageRef::parse(reference) {
        ImageRef::Engine(name) => {
            let docker = engine::connect().await?;
            let mut img = engine::EngineImage::inspect(&docker, &name).await?.with_storage().await;
            if let Some(dir) = local_copy.filter(|_| !img.read_in_place()) {
                img = img.with_local_copy(dir);
            }
            let (repo_tags, run_config) = (img.repo_tags.clone(), Some(img.run_config.clone()));
            Ok(Opened { source: Box::new(img), docker: Some(docker), repo_tags, run_config })
        }
        ImageRef::DockerArchive(p) => Ok(file(Box::new(DockerArchive::open(&p)?))),
        ImageRef::OciDir(p) => Ok(file(Box::new(OciDir::open(&p)?))),
        ImageRef::Registry(r) => {
            let r = slimctl::image::registry::RegistryRef::parse(&r).map_err(Failure::usage)?;
            let mut img = slimctl::image::registry::RegistryImage::open(&r).await?;
            if let Some(dir) = local_copy {
                img = img.with_local_copy(dir);
            }
            Ok(file(Box::new(img)))
        }
    }
}
