//! Input for a container's stdin that is known only after the container started: the sweep's
//! driver starts while the closure that names its items is still being computed, and reads
//! them once they come. The input is written once, then stdin is closed (the program sees EOF).

use super::error::RunError;
use super::Container;
use futures_util::future::{FutureExt, Shared};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

/// The receiving end, carried in a [`super::RunSpec`]; every run of the spec gets the input (a
/// trace that lost events runs again).
#[derive(Clone)]
pub struct StdinFeed(Shared<oneshot::Receiver<Vec<u8>>>);

impl std::fmt::Debug for StdinFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StdinFeed")
    }
}

impl StdinFeed {
    /// A feed and its sender. A sender dropped unsent closes stdin with nothing written.
    pub fn new() -> (oneshot::Sender<Vec<u8>>, StdinFeed) {
        let (tx, rx) = oneshot::channel();
        (tx, StdinFeed(rx.shared()))
    }

    /// Attaches to `c`'s stdin (before it starts, so nothing is missed) and writes the input
    /// once it is sent. The writer ends by itself: after the input, or when the container is
    /// gone.
    pub async fn attach(&self, c: &Container) -> Result<(), RunError> {
        let input_ready = self.0.clone();
        // stdin only: an attached output nobody reads could hold the container's writes back.
        let opts = bollard::query_parameters::AttachContainerOptions {
            stdin: true,
            stream: true,
            stdout: false,
            stderr: false,
            logs: false,
            detach_keys: None,
        };
        let attached = c
            .docker()
            .attach_container(&c.id, Some(opts))
            .await
            .map_err(|e| super::container::engine("attaching to the container's stdin", e))?;
        let mut input = attached.input;
        tokio::spawn(async move {
            if let Ok(bytes) = input_ready.await {
                let _ = input.write_all(&bytes).await;
            }
            let _ = input.shutdown().await;
        });
        Ok(())
    }
}
