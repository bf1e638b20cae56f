//! What a build tells: the original and the slim image side by side, where the bytes went, the
//! traced run and verify's rounds, every kept path and why. Written with `--report`, printed as
//! the summary or `--json`.

use super::slim::{Built, Stage};
use crate::run::TraceReport;
use crate::select::{Kept, Unresolved};
use crate::verify::VerifyReport;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct ImageSummary {
    pub name: String,
    pub id: crate::digest::Digest,
    /// Bytes stored over all layers (what the registry and the engine hold).
    pub stored_bytes: u64,
    /// Bytes visible in the merged filesystem.
    pub visible_bytes: u64,
    pub paths: usize,
    pub layers: usize,
    /// Indexed in place in the engine's storage, not streamed (`--image-read`).
    pub read_in_place: bool,
}

#[derive(Debug, Serialize)]
pub struct SlimSummary {
    pub id: crate::digest::Digest,
    pub manifest_digest: crate::digest::Digest,
    pub bytes: u64,
    pub layer_tar_bytes: u64,
    pub paths: u64,
    pub output: String,
    pub tag: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PackagesSummary {
    pub kept: usize,
    /// name (files kept/files)
    pub partial: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct BuildReport {
    pub original: ImageSummary,
    pub slim: SlimSummary,
    /// original stored bytes / slim bytes
    pub ratio: f64,
    pub stages: Vec<Stage>,
    pub unresolved: Vec<Unresolved>,
    /// The traced run: probes, exit code, sensor counters, syscalls (absent with --no-trace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceReport>,
    /// Bytes of the slim image by why its files are there (first reason): traced, closure,
    /// coverage:RULE, healed, included, config -- the cost of each coverage rule.
    pub bytes_by_reason: BTreeMap<String, u64>,
    /// Packages of the original (dpkg, apk, Python, Node) and how much of each the slim image keeps.
    pub packages: PackagesSummary,
    /// The sweep: what the coverage rules reached, loaded in the original (one per runtime).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sweep: Vec<crate::sweep::SweepReport>,
    /// Verify rounds: checks, missing files, what each round added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyReport>,
    /// Paths `--exclude-glob` dropped, each with its reason (`--exclude-glob GLOB`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub excluded: BTreeMap<String, String>,
    /// Exclude globs that match no path of the image (a typo drops nothing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched_globs: Vec<String>,
    /// The SBOM and VEX documents written (`--sbom`, `--vex`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documents: Option<super::documents::Written>,
    pub kept: BTreeMap<String, Kept>,
}

impl BuildReport {
    /// The report of `built`: its keep-set moves into the report (every kept path and why).
    pub fn new(built: Built, output: String, tag: Option<String>, stages: Vec<Stage>) -> BuildReport {
        let o = &built.original;
        let stored = o.stored_bytes();
        let slim_bytes = built.slim.layer.content_bytes;
        let mut report = BuildReport {
            original: ImageSummary {
                name: o.name.clone(),
                id: o.config.digest.clone(),
                stored_bytes: stored,
                visible_bytes: o.index.visible_bytes(),
                paths: o.index.len(),
                layers: o.layers.len(),
                read_in_place: matches!(o.store, crate::image::Store::Dirs(_)),
            },
            slim: SlimSummary {
                id: built.slim.config_digest.clone(),
                manifest_digest: built.slim.manifest_digest.clone(),
                bytes: slim_bytes,
                layer_tar_bytes: built.slim.layer.size,
                paths: built.slim.layer.files,
                output,
                tag,
            },
            ratio: if slim_bytes == 0 { f64::INFINITY } else { stored as f64 / slim_bytes as f64 },
            stages,
            unresolved: built.closure.unresolved.clone(),
            trace: None,
            sweep: Vec::new(),
            verify: None,
            excluded: built.closure.excluded.iter().map(|(p, g)| (p.clone(), format!("--exclude-glob {g}"))).collect(),
            unmatched_globs: built.closure.unmatched_globs.clone(),
            documents: None,
            packages: {
                let changes = &built.closure.packages;
                PackagesSummary {
                    kept: changes.iter().filter(|c| c.status == "kept").count(),
                    partial: changes
                        .iter()
                        .filter(|c| c.status == "partial")
                        .map(|c| format!("{} ({}/{})", c.name, c.kept_files, c.files))
                        .collect(),
                    removed: changes.iter().filter(|c| c.status == "removed").map(|c| c.name.clone()).collect(),
                }
            },
            bytes_by_reason: {
                let mut m = BTreeMap::new();
                for (path, kept) in &built.closure.keep.paths {
                    let bytes = match built.closure.overrides.get(path) {
                        Some(data) => data.len() as u64,
                        None => o.index.get(path).map(|e| e.stored_bytes()).unwrap_or(0),
                    };
                    let cat = kept.reasons.first().map(|r| r.category()).unwrap_or("closure".into());
                    *m.entry(cat.into_owned()).or_insert(0) += bytes;
                }
                m
            },
            kept: BTreeMap::new(),
        };
        report.kept = built.closure.keep.paths;
        report
    }
}
