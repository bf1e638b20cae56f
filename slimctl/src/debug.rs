//! `slimctl debug`: a side-car container beside a slim one that has no shell. It runs a tools
//! image (by default the original the slim image was made from: it has the shell and the tools,
//! its libraries match, and it is on the host already) in the target's PID and network
//! namespaces, and its IPC namespace where the engine allows it, with CAP_SYS_PTRACE so that
//! `/proc/1/root` (the target's root filesystem) is readable whatever user the target runs as.
//! The side-car is labelled like every container slimctl creates, and removed on any way out.

use crate::engine::EngineError;
use crate::run::cleanup;
use bollard::container::AttachContainerResults;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{AttachContainerOptions, ResizeContainerTTYOptions, WaitContainerOptions};
use bollard::Docker;
use futures_util::StreamExt;

pub use crate::write::manifest::ORIGINAL_LABEL;

/// Where the target's files are, in the side-car.
pub const TARGET_ROOT: &str = "/proc/1/root";

/// What to debug.
#[derive(Debug, Clone)]
pub enum Target {
    /// A running container, by name or id.
    Running(String),
    /// An image to start first (with `docker run`'s defaults), removed at the end.
    Run(String),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub target: Target,
    /// The tools image; default: the original named by the target image's label.
    pub tools: Option<String>,
    /// The side-car's user (default root: with CAP_SYS_PTRACE it reads any target's files).
    pub user: Option<String>,
    /// What to run; empty: the tools image's shell (bash where it has one, else sh).
    pub cmd: Vec<String>,
    /// A terminal of this size (rows, columns): interactive.
    pub tty: Option<(u16, u16)>,
}

#[derive(Debug, thiserror::Error)]
pub enum DebugError {
    #[error("no container {0:?} in the engine; pass a running container's name or id (`docker ps`), or --run IMAGE")]
    NoSuchContainer(String),
    #[error(
        "container {name:?} is not running ({status}); start it, or pass --run IMAGE to start one for the session"
    )]
    NotRunning { name: String, status: String },
    #[error("{image}: exited at once (exit code {code}) when started for the session: nothing to attach to; its output: {output}")]
    ExitedAtOnce { image: String, code: i64, output: String },
    #[error(
        "no tools image known for {target}: its image carries no {ORIGINAL_LABEL} label (it was not made by \
         slimctl build); pass --image TOOLS (an image with a shell, e.g. the original)"
    )]
    NoTools { target: String },
    #[error("tools image {0:?} is not in the engine (slimctl never pulls); build or load it, or pass another --image")]
    ToolsMissing(String),
    #[error("image {0:?} is not in the engine (slimctl never pulls); check the name with `docker images`")]
    ImageMissing(String),
    #[error("the engine refused the side-car: {0}")]
    Refused(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl DebugError {
    pub fn class(&self) -> crate::error::ErrorClass {
        use crate::error::ErrorClass;
        match self {
            DebugError::NoTools { .. } => ErrorClass::Usage,
            DebugError::Engine(_) => ErrorClass::Environment,
            _ => ErrorClass::Input,
        }
    }
}

fn engine(action: &str) -> impl FnOnce(bollard::errors::Error) -> DebugError + '_ {
    move |e| DebugError::Engine(EngineError::failed(action, e))
}

fn not_found(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

/// An open session: the side-car created (not started yet), and the target it joins.
pub struct Session {
    docker: Docker,
    pub sidecar: String,
    /// The container `--run` started, removed with the side-car.
    started: Option<String>,
    pub target: String,
    pub tools: String,
    /// Whether the side-car shares the target's IPC namespace.
    pub ipc_shared: bool,
}

/// The container the session joins: its id, image and IPC mode. `--run` starts one first.
async fn target(docker: &Docker, t: &Target, run_id: &str) -> Result<(String, Option<String>), DebugError> {
    match t {
        Target::Running(name) => Ok((name.clone(), None)),
        Target::Run(image) => {
            match docker.inspect_image(image).await {
                Err(e) if not_found(&e) => return Err(DebugError::ImageMissing(image.clone())),
                r => r.map_err(engine("inspecting the image"))?,
            };
            let body = ContainerCreateBody {
                image: Some(image.clone()),
                labels: Some(cleanup::labels(run_id)),
                host_config: Some(HostConfig { privileged: Some(false), ..Default::default() }),
                ..Default::default()
            };
            let id = docker.create_container(None, body).await.map_err(engine("creating the target"))?.id;
            cleanup::register(docker, &id);
            docker.start_container(&id, None).await.map_err(engine("starting the target"))?;
            // An app that fails at once has nothing to debug: say so with its output.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let info = docker.inspect_container(&id, None).await.map_err(engine("inspecting the target"))?;
            let state = info.state.unwrap_or_default();
            if state.running != Some(true) {
                let output = crate::run::container::logs_of(docker, &id, 20).await.trim().to_owned();
                cleanup::remove(docker, &id).await;
                return Err(DebugError::ExitedAtOnce {
                    image: image.clone(),
                    code: state.exit_code.unwrap_or(0),
                    output,
                });
            }
            Ok((id.clone(), Some(id)))
        }
    }
}

/// The shell a tools image has: bash where there is one.
const SHELL: &[&str] = &["/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"];

impl Session {
    /// Finds the target and the tools image, and creates the side-car in the target's
    /// namespaces. Everything created is registered for removal at once.
    pub async fn open(docker: &Docker, req: &Request, run_id: &str) -> Result<Session, DebugError> {
        let (name, started) = target(docker, &req.target, run_id).await?;
        let opened = Session::create(docker, req, run_id, &name).await;
        match opened {
            Ok(mut s) => {
                s.started = started;
                Ok(s)
            }
            Err(e) => {
                if let Some(id) = started {
                    cleanup::remove(docker, &id).await;
                }
                Err(e)
            }
        }
    }

    async fn create(docker: &Docker, req: &Request, run_id: &str, name: &str) -> Result<Session, DebugError> {
        let info = match docker.inspect_container(name, None).await {
            Err(e) if not_found(&e) => return Err(DebugError::NoSuchContainer(name.to_owned())),
            r => r.map_err(engine("inspecting the target"))?,
        };
        let state = info.state.clone().unwrap_or_default();
        if state.running != Some(true) {
            let status = state.status.map(|s| s.to_string()).unwrap_or_else(|| "not running".into());
            return Err(DebugError::NotRunning { name: name.to_owned(), status });
        }
        let id = info.id.clone().unwrap_or_else(|| name.to_owned());
        let tools = match &req.tools {
            Some(t) => t.clone(),
            None => original_of(docker, info.image.as_deref().unwrap_or_default())
                .await?
                .ok_or_else(|| DebugError::NoTools { target: name.to_owned() })?,
        };
        let tools_info = match docker.inspect_image(&tools).await {
            Err(e) if not_found(&e) => return Err(DebugError::ToolsMissing(tools)),
            r => r.map_err(engine("inspecting the tools image"))?,
        };
        // Named for the banner by its tag where it has one (the label names it by id).
        let tools_name = tools_info.repo_tags.and_then(|t| t.into_iter().next()).unwrap_or_else(|| tools.clone());
        // Docker gives containers a private IPC namespace unless started `--ipc shareable`.
        let ipc = info.host_config.as_ref().and_then(|h| h.ipc_mode.clone()).unwrap_or_default();
        let ipc_shared = ipc == "shareable" || ipc == "host";
        let join = format!("container:{id}");
        let cmd: Vec<String> =
            if req.cmd.is_empty() { SHELL.iter().map(|s| (*s).to_owned()).collect() } else { req.cmd.clone() };
        let body = ContainerCreateBody {
            image: Some(tools.clone()),
            entrypoint: Some(Vec::new()),
            cmd: Some(cmd),
            env: Some(vec![format!("TARGET_ROOT={TARGET_ROOT}")]),
            user: Some(req.user.clone().unwrap_or_else(|| "0".into())),
            working_dir: Some("/".into()),
            labels: Some(cleanup::labels(run_id)),
            tty: Some(req.tty.is_some()),
            open_stdin: Some(true),
            stdin_once: Some(true),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            host_config: Some(HostConfig {
                privileged: Some(false),
                pid_mode: Some(join.clone()),
                network_mode: Some(join.clone()),
                ipc_mode: ipc_shared.then(|| join.clone()),
                cap_add: Some(vec!["SYS_PTRACE".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = docker.create_container(None, body).await.map_err(|e| match e {
            bollard::errors::Error::DockerResponseServerError { message, .. } => DebugError::Refused(message),
            e => engine("creating the side-car")(e),
        })?;
        cleanup::register(docker, &created.id);
        Ok(Session {
            docker: docker.clone(),
            sidecar: created.id,
            started: None,
            target: name.to_owned(),
            tools: tools_name,
            ipc_shared,
        })
    }

    /// The side-car's streams: attach before it starts, so that nothing it says is lost.
    pub async fn attach(&self) -> Result<AttachContainerResults, DebugError> {
        let opts =
            AttachContainerOptions { stdin: true, stdout: true, stderr: true, stream: true, ..Default::default() };
        self.docker.attach_container(&self.sidecar, Some(opts)).await.map_err(engine("attaching to the side-car"))
    }

    pub async fn start(&self) -> Result<(), DebugError> {
        self.docker.start_container(&self.sidecar, None).await.map_err(|e| match e {
            bollard::errors::Error::DockerResponseServerError { message, .. } => DebugError::Refused(message),
            e => engine("starting the side-car")(e),
        })
    }

    /// Tells the side-car's terminal its new size.
    pub async fn resize(&self, rows: u16, cols: u16) {
        let opts = ResizeContainerTTYOptions { h: i32::from(rows), w: i32::from(cols) };
        let _ = self.docker.resize_container_tty(&self.sidecar, opts).await;
    }

    /// The side-car's exit code, once it has exited.
    pub async fn wait(&self) -> Result<i64, DebugError> {
        let opts = WaitContainerOptions { condition: "not-running".into() };
        let mut s = self.docker.wait_container(&self.sidecar, Some(opts));
        match s.next().await {
            Some(Ok(r)) => Ok(r.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(engine("waiting for the side-car")(e)),
            None => {
                let info = self.docker.inspect_container(&self.sidecar, None).await;
                Ok(info.ok().and_then(|i| i.state).and_then(|s| s.exit_code).unwrap_or(0))
            }
        }
    }

    /// Removes the side-car, and the target `--run` started.
    pub async fn close(self) {
        cleanup::remove(&self.docker, &self.sidecar).await;
        if let Some(id) = &self.started {
            cleanup::remove(&self.docker, id).await;
        }
    }

    /// The one-line banner a session starts with.
    pub fn banner(&self) -> String {
        let ipc = if self.ipc_shared {
            "PID, network and IPC namespaces"
        } else {
            "PID and network namespaces (its IPC namespace is private, Docker's default: start it with --ipc shareable to share that too)"
        };
        format!(
            "slimctl debug: {} beside {} in its {ipc}; the target's files are at {TARGET_ROOT} ($TARGET_ROOT)",
            self.tools, self.target
        )
    }
}

/// The original an image was made from, by the label slimctl build puts on slim images.
async fn original_of(docker: &Docker, image: &str) -> Result<Option<String>, DebugError> {
    let info = docker.inspect_image(image).await.map_err(engine("inspecting the target's image"))?;
    let labels = info.config.and_then(|c| c.labels).unwrap_or_default();
    Ok(labels.get(ORIGINAL_LABEL).cloned())
}
