//! Step run+trace: the traced run beside the reading of the image. They meet only at select, so
//! the container starts, gets probed and stops while the image streams out of the engine and is
//! indexed. The run needs only the image's config (the engine describes it before any byte is
//! read) and, for `--exec` strings, whether the image has a shell -- which it waits for, if it
//! gets there.
use super::error::PipelineError;
use crate::engine::EngineError;
use crate::image::index::facts::ContentReader;
use crate::image::{Image, ImageConfig, ImageSource};
use crate::run::exec::HasShell;
use crate::run::{trace_run, ProbePlan, RunSpec, Traced, TracedRun};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// An image being read and indexed on a blocking thread.
pub struct Reading {
    task: JoinHandle<Result<(Image, Duration), crate::error::ImageError>>,
    pub has_shell: HasShell,
}

impl Reading {
    pub fn start(source: Arc<dyn ImageSource>, readers: Vec<Arc<dyn ContentReader>>) -> Reading {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let image = Image::open(source.as_ref(), false, &readers)?;
            let _ = tx.send(image.has_shell());
            Ok((image, started.elapsed()))
        });
        Reading { task, has_shell: HasShell::later(rx) }
    }

    /// The image, and how long reading it took.
    pub async fn finish(self) -> Result<(Image, Duration), PipelineError> {
        let read = self.task.await.map_err(|source| PipelineError::Worker { what: "reading the image", source })?;
        Ok(read?)
    }
}

/// A traced run and the image it ran, read meanwhile.
pub struct Overlapped {
    pub run: TracedRun,
    pub image: Image,
    /// How long reading the image took, and the run (from arming the sensor to the last event).
    pub read: Duration,
    pub trace: Duration,
}

/// The traced run of the image `reading` reads, as `run_config` describes it. Returns the run and
/// the image; a failure of either ends both (a run cut short leaves its container to
/// [`crate::run::cleanup::remove_all`]).
pub async fn trace_while_reading(
    docker: &bollard::Docker,
    run_config: &ImageConfig,
    spec: &RunSpec,
    plan: &ProbePlan,
    reading: Reading,
) -> Result<Overlapped, PipelineError> {
    let has_shell = reading.has_shell.clone();
    let started = Instant::now();
    let traced = async {
        let run = trace_run(Traced { docker, config: run_config, spec, plan, has_shell: &has_shell }).await;
        (run, started.elapsed())
    };
    tokio::pin!(traced);
    let read = reading.finish();
    tokio::pin!(read);
    let ((run, trace), (image, read_time)) = tokio::select! {
        (run, took) = &mut traced => {
            let run = run?;
            ((run, took), read.await?)
        }
        image = &mut read => match image {
            Ok(image) => {
                let (run, took) = traced.await;
                ((run?, took), image)
            }
            Err(e) => {
                crate::run::cleanup::remove_all().await;
                return Err(e);
            }
        },
    };
    // The engine's description and the stored config are the same image: a mismatch would
    // mean the tag moved while slimctl read it.
    if image.config.digest != run_config.digest {
        return Err(EngineError::Answer {
            action: format!("reading {}", image.name),
            detail: format!(
                "the engine ran {} but streamed {}: was the tag moved meanwhile? Run again",
                run_config.digest, image.config.digest
            ),
        }
        .into());
    }
    Ok(Overlapped { run, image, read: read_time, trace })
}
