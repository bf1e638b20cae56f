//! The documents a build writes beside the slim image: its SBOM (`--sbom`) and VEX from a scan
//! of the original (`--vex-from`, `--vex`).

use super::error::PipelineError;
use super::sbom::{of_built, Written as WrittenSource};
use super::slim::Built;
use crate::image::{Image, ImageSource};
use crate::sbom::{self, Subject};
use crate::vex::{self, report::Report, Status};
use serde::Serialize;
use std::path::PathBuf;

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Documents {
    pub sbom: Option<(PathBuf, sbom::Format)>,
    pub vex: Option<VexRequest>,
}

#[derive(Debug, Clone)]
pub struct VexRequest {
    /// The original's vulnerability report, read before the build started.
    pub report: Report,
    pub report_path: PathBuf,
    pub output: Option<PathBuf>,
    pub format: vex::Format,
}

/// The slim image just built, and what names it.
pub struct Slim<'a> {
    pub built: &'a Built,
    pub source: &'a dyn ImageSource,
    pub original_name: &'a str,
    pub tag: &'a str,
    pub pushed: bool,
    pub source_date_epoch: Option<u64>,
}

/// What was written, for the report and the summary.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// Packages of the slim image.
    pub packages: usize,
    /// Packages of the original no file of which is left.
    pub removed_entirely: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vex: Option<VexWritten>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VexWritten {
    pub report: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    pub findings: usize,
    /// Findings in packages the slim image dropped: `not_affected`.
    pub no_longer_present: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

fn write(path: &std::path::Path, bytes: &[u8], what: &'static str) -> Result<(), PipelineError> {
    std::fs::write(path, bytes).map_err(|source| PipelineError::Write { what, path: path.to_owned(), source })
}

impl Documents {
    pub fn any(&self) -> bool {
        self.sbom.is_some() || self.vex.is_some()
    }

    /// Writes what was asked for `slim`; none when nothing was.
    pub fn write(&self, slim: &Slim<'_>) -> Result<Option<Written>, PipelineError> {
        if !self.any() {
            return Ok(None);
        }
        let built = slim.built;
        let image = Image::open(&WrittenSource { built }, false, &[])?;
        let created = sbom::created_now(slim.source_date_epoch);
        let manifest_digest = slim.pushed.then(|| built.slim.manifest_digest.to_string());
        let product = Subject { name: slim.tag.to_owned(), id: built.slim.config_digest.to_string(), manifest_digest };
        let mut out = Written {
            packages: crate::select::packages::inventory(&image.index).len(),
            removed_entirely: built.closure.packages.iter().filter(|p| p.status == "removed").count(),
            sbom: None,
            vex: None,
        };
        if let Some((path, format)) = &self.sbom {
            let bom = of_built(
                built,
                &image,
                slim.tag,
                slim.original_name,
                product.manifest_digest.clone(),
                slim.source_date_epoch,
            )?;
            out.packages = bom.components.len();
            write(path, &sbom::render(&bom, *format), "the SBOM")?;
            out.sbom = Some(path.clone());
        }
        if let Some(v) = &self.vex {
            let decided = super::vex::decide_for(
                v.report.clone(),
                slim.source,
                &built.original,
                slim.original_name,
                &built.original.repo_tags,
                &image,
            )?;
            if let Some(path) = &v.output {
                write(path, &vex::render(&decided.statements, &product, &created, v.format), "the VEX document")?;
            }
            out.vex = Some(VexWritten {
                report: v.report_path.clone(),
                path: v.output.clone(),
                findings: decided.statements.len(),
                no_longer_present: decided.statements.iter().filter(|s| s.status == Status::NotAffected).count(),
                warning: decided.mismatch,
            });
        }
        Ok(Some(out))
    }
}
