//! Step output: the slim image placed where `--output` says: loaded into the engine under its
//! tag, an OCI layout, a docker-archive file, or pushed to a registry.

use super::error::PipelineError;
use super::slim::Built;
use crate::write::output::{load_into_engine, write_docker_archive, write_oci_dir};
use crate::write::Output;

/// Where the slim image went, as the report names it.
pub fn describe(output: &Output, tag: &str) -> String {
    match output {
        Output::Engine => format!("docker:{tag}"),
        Output::OciDir(dir) => format!("oci:{}", dir.display()),
        Output::DockerArchive(file) => format!("docker-archive:{}", file.display()),
        Output::Registry(r) => r.to_string(),
    }
}

/// Places `built` as `output` says. `docker`: the engine, for `--output docker`.
pub async fn place(
    built: &Built,
    output: &Output,
    tag: &str,
    docker: Option<&bollard::Docker>,
) -> Result<(), PipelineError> {
    match output {
        Output::Engine => {
            let docker = docker.ok_or_else(|| PipelineError::Contradiction("no engine to load into".into()))?;
            let bar = crate::progress::spinner(&format!("loading {tag} into the engine"));
            let id = load_into_engine(docker, &built.slim, &built.layer_file, tag).await;
            bar.finish_and_clear();
            let id = id?;
            if id != built.slim.config_digest.as_ref() {
                return Err(PipelineError::Contradiction(format!(
                    "the engine gave the slim image id {id}, expected {}",
                    built.slim.config_digest
                )));
            }
        }
        Output::OciDir(dir) => {
            let platform = built.original.config.platform();
            write_oci_dir(&built.slim, platform, &built.layer_file, Some(tag), dir)?
        }
        Output::DockerArchive(file) => {
            let werr = |source| PipelineError::Write { what: "the slim image", path: file.clone(), source };
            let f = std::fs::File::create(file).map_err(werr)?;
            let w = write_docker_archive(&built.slim, &built.layer_file, Some(tag), std::io::BufWriter::new(f))
                .map_err(werr)?;
            w.into_inner().map_err(|e| werr(e.into_error()))?;
        }
        Output::Registry(dest) => {
            let bar = crate::progress::spinner(&format!("pushing to {dest}"));
            let digest = crate::write::push::push(&built.slim, &built.layer_file, dest).await;
            bar.finish_and_clear();
            eprintln!("pushed {dest}@{}", digest?);
        }
    }
    Ok(())
}
