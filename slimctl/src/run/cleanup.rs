//! Every container a run creates is registered here the moment it exists, so that any way out
//! of the run (success, error, SIGINT/SIGTERM at any stage) removes it.
use bollard::Docker;
use std::sync::Mutex;

static CREATED: Mutex<Vec<(Docker, String)>> = Mutex::new(Vec::new());

pub fn register(docker: &Docker, id: &str) {
    CREATED.lock().unwrap_or_else(|p| p.into_inner()).push((docker.clone(), id.to_owned()));
}

/// Removes one container (force: it may still run) and forgets it.
pub async fn remove(docker: &Docker, id: &str) {
    let opts = bollard::query_parameters::RemoveContainerOptions { force: true, v: true, ..Default::default() };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), docker.remove_container(id, Some(opts))).await;
    CREATED.lock().unwrap_or_else(|p| p.into_inner()).retain(|(_, c)| c != id);
}

/// Removes everything still registered. Returns how many containers it removed.
pub async fn remove_all() -> usize {
    let all: Vec<(Docker, String)> = std::mem::take(&mut *CREATED.lock().unwrap_or_else(|p| p.into_inner()));
    let n = all.len();
    for (docker, id) in all {
        remove(&docker, &id).await;
    }
    n
}
