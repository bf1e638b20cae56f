//! `slimctl vex ORIGINAL SLIM --report R` and `build --vex-from R`: the statements a scan of
//! the original allows about the slim image.

use super::error::PipelineError;
use crate::image::{Image, ImageSource};
use crate::sbom::content::{self, Want};
use crate::sbom::Subject;
use crate::select::packages::inventory;
use crate::vex::report::{self, Report};
use crate::vex::{artifact_mismatch, decide, Packages, Statement};

/// The decisions, and a warning when the report seems to be about another image.
pub struct Vex {
    pub report: Report,
    pub statements: Vec<Statement>,
    pub mismatch: Option<String>,
}

/// Reads the report (first: a bad one costs nothing).
pub fn read_report(path: &std::path::Path) -> Result<Report, PipelineError> {
    report::read(path).map_err(PipelineError::Report)
}

/// Decides each finding of `report` for the slim image (`slim_index` of it), from the
/// original (`original`, read from `source`, named `original_name` and `tags`).
pub fn decide_for(
    report: Report,
    source: &dyn ImageSource,
    original: &Image,
    original_name: &str,
    tags: &[String],
    slim: &Image,
) -> Result<Vex, PipelineError> {
    // The original's jars are read again only when a finding may be in one: a Maven purl, or
    // no purl at all (then a name may match an artifact).
    let java = report.findings.iter().any(|f| f.package.purl.as_deref().is_none_or(|p| p.starts_with("pkg:maven/")));
    let maven = if java { content::read(source, &original.index, Want::JavaArchives)?.maven } else { Vec::new() };
    let distro = crate::sbom::distro(original);
    let (orig_inv, slim_inv) = (inventory(&original.index), inventory(&slim.index));
    let o = Packages { index: &original.index, inventory: &orig_inv, maven: &maven, distro: distro.as_ref() };
    let s = Packages { index: &slim.index, inventory: &slim_inv, maven: &[], distro: distro.as_ref() };
    let statements = decide(&report, &o, &s);
    let subject =
        Subject { name: original_name.to_owned(), id: original.config.digest.to_string(), manifest_digest: None };
    let mismatch = artifact_mismatch(&report, &subject, tags);
    Ok(Vex { report, statements, mismatch })
}

/// `slimctl vex ORIGINAL SLIM --report R`: both images read (their indexes; the original's
/// Java archives too).
pub async fn of_references(original: &str, slim: &str, report: Report) -> Result<(Vex, Subject), PipelineError> {
    let o = super::inspect::open(original, None).await?;
    let s = super::inspect::open(slim, None).await?;
    let (original, slim, tags) = (original.to_owned(), slim.to_owned(), o.repo_tags.clone());
    tokio::task::spawn_blocking(move || -> Result<(Vex, Subject), PipelineError> {
        let oi = Image::open(o.source.as_ref(), false, &[])?;
        let si = Image::open(s.source.as_ref(), false, &[])?;
        let vex = decide_for(report, o.source.as_ref(), &oi, &original, &tags, &si)?;
        let product = Subject { name: slim, id: si.config.digest.to_string(), manifest_digest: None };
        Ok((vex, product))
    })
    .await
    .map_err(|source| PipelineError::Worker { what: "reading the images for VEX", source })?
}
