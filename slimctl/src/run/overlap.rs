//! The traced run beside the reading of the image: they meet only at select, so the container
//! starts, gets probed and stops while the image streams out of the engine and is indexed.
//! The run needs only the image's config (the engine describes it before any byte is read) and,
//! for `--exec` strings, whether the image has a shell -- which it waits for, if it gets there.
use super::exec::HasShell;
use super::traced::{trace_run, ProbePlan, TraceError, TracedRun};
use super::RunSpec;
use crate::error::ImageError;
use crate::image::config::ImageConfig;
use crate::image::{facts, Image, ImageSource};
use crate::select::resolve::resolve;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum OverlapError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("reading the image stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// An image being read and indexed on a blocking thread.
pub struct Reading {
    task: JoinHandle<Result<(Image, Duration), ImageError>>,
    pub has_shell: HasShell,
}

impl Reading {
    pub fn start(source: Arc<dyn ImageSource>, readers: Vec<Arc<dyn facts::ContentReader>>) -> Reading {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let image = Image::open(source.as_ref(), false, &readers)?;
            let _ = tx.send(resolve(&image.index, "/bin/sh", "/", true).is_ok());
            Ok((image, started.elapsed()))
        });
        Reading { task, has_shell: HasShell::later(rx) }
    }

    /// The image, and how long reading it took.
    pub async fn finish(self) -> Result<(Image, Duration), OverlapError> {
        Ok(self.task.await??)
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
/// [`super::cleanup::remove_all`]).
pub async fn trace_while_reading(
    docker: &bollard::Docker,
    run_config: &ImageConfig,
    spec: &RunSpec,
    plan: &ProbePlan,
    reading: Reading,
) -> Result<Overlapped, OverlapError> {
    let has_shell = reading.has_shell.clone();
    let started = Instant::now();
    let traced = async {
        let run = trace_run(docker, run_config, spec, plan, &has_shell).await;
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
                super::cleanup::remove_all().await;
                return Err(e);
            }
        },
    };
    // The engine's description and the stored config are the same image: a mismatch would
    // mean the tag moved while slimctl read it.
    if image.config.digest != run_config.digest {
        return Err(OverlapError::Image(ImageError::EngineAnswer {
            action: format!("reading {}", image.name),
            detail: format!(
                "the engine ran {} but streamed {}: was the tag moved meanwhile? Run again",
                run_config.digest, image.config.digest
            ),
        }));
    }
    Ok(Overlapped { run, image, read: read_time, trace })
}
