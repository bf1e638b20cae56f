//! Every container, network and volume a run creates is registered here the moment it exists,
//! so that any way out of the run (success, error, SIGINT/SIGTERM at any stage) removes it.
use bollard::Docker;
use std::sync::Mutex;
use std::time::Duration;

/// What slimctl created in the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Container(String),
    Network(String),
    Volume(String),
}

impl Created {
    /// Removal order: containers first, a network or a volume in use cannot go.
    pub fn removal_order(&self) -> u8 {
        match self {
            Created::Container(_) => 0,
            Created::Network(_) => 1,
            Created::Volume(_) => 2,
        }
    }
}

static CREATED: Mutex<Vec<(Docker, Created)>> = Mutex::new(Vec::new());

fn created() -> std::sync::MutexGuard<'static, Vec<(Docker, Created)>> {
    CREATED.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn register(docker: &Docker, id: &str) {
    register_resource(docker, Created::Container(id.to_owned()));
}

pub fn register_resource(docker: &Docker, what: Created) {
    created().push((docker.clone(), what));
}

/// Removes one container (force: it may still run; with its anonymous volumes) and forgets it.
pub async fn remove(docker: &Docker, id: &str) {
    remove_resource(docker, &Created::Container(id.to_owned())).await;
}

/// Removes one thing slimctl created and forgets it.
pub async fn remove_resource(docker: &Docker, what: &Created) {
    let limit = Duration::from_secs(30);
    match what {
        Created::Container(id) => {
            let opts = bollard::query_parameters::RemoveContainerOptions { force: true, v: true, ..Default::default() };
            let _ = tokio::time::timeout(limit, docker.remove_container(id, Some(opts))).await;
        }
        Created::Network(name) => {
            let _ = tokio::time::timeout(limit, docker.remove_network(name)).await;
        }
        Created::Volume(name) => {
            let opts = bollard::query_parameters::RemoveVolumeOptions { force: true };
            let _ = tokio::time::timeout(limit, docker.remove_volume(name, Some(opts))).await;
        }
    }
    created().retain(|(_, c)| c != what);
}

/// Removes everything still registered: containers first (a network or a volume in use cannot
/// go). Returns how many things it removed.
pub async fn remove_all() -> usize {
    let mut all: Vec<(Docker, Created)> = std::mem::take(&mut *created());
    all.sort_by_key(|(_, c)| c.removal_order());
    let n = all.len();
    for (docker, what) in all {
        remove_resource(&docker, &what).await;
    }
    n
}
