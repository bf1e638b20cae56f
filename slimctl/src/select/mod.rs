//! The select stage: which paths of the image the slim image keeps, and why. Seeds (what the
//! traced run used, the config's entrypoint and user, the user's includes) go through the
//! closure ([`closure`]: symlinks, parents, ELF interpreter and libraries, `#!` interpreters)
//! and the coverage rules ([`rules`]); everything is resolved inside the image's index
//! ([`crate::image::index::resolve`], [`ldso`]), never against the host's files.

pub mod closure;
pub mod keep;
pub mod ldso;
pub mod packages;
pub mod reached;
pub mod rules;

pub use closure::{Closure, ClosureBuilder};
pub use keep::{KeepSet, Kept, Reason, Seed, Unresolved};
pub use reached::{Reached, Runtime};

use crate::image::Image;

/// What to select from.
#[derive(Debug, Clone, Default)]
pub struct SelectPlan {
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
    /// Seeds from a trace or profiles; empty with `--no-trace`.
    pub seeds: Vec<Seed>,
    /// Coverage rules switched off, by name (e.g. "python-imports").
    pub rules_off: Vec<String>,
    /// Rewrite the package database to the packages the slim image keeps files of.
    pub package_metadata: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("--include {path}: {source}; check the path with `slimctl xray` or `docker run --rm IMAGE ls -la DIR`")]
    IncludeMissing {
        path: String,
        #[source]
        source: crate::image::index::resolve::ResolveError,
    },
    /// The stored copy the deferred facts are read from could not be opened.
    #[error(transparent)]
    Stored(#[from] crate::error::ImageError),
}

impl SelectError {
    pub fn class(&self) -> crate::error::ErrorClass {
        match self {
            SelectError::IncludeMissing { .. } => crate::error::ErrorClass::Input,
            SelectError::Stored(e) => e.class(),
        }
    }
}

/// The keep-set for `plan`. An explicit include that is not in the image is an error: the user
/// asked for something that cannot be delivered.
pub fn select(image: &Image, plan: &SelectPlan) -> Result<Closure, SelectError> {
    let inventory = packages::inventory(&image.index);
    let mut closure = ClosureBuilder::new(&image.index, &image.config)
        .facts(image.facts()?)
        .rules(rules::all_except(&plan.rules_off))
        .packages(&inventory)
        .exclude(plan.excludes.iter().cloned())
        .config_seeds()
        .includes(plan.includes.iter().cloned())
        .seeds(plan.seeds.iter().cloned())
        .build();
    for u in closure.unresolved.iter().filter(|u| matches!(u.wanted_by, Reason::Included { .. })) {
        if let Err(source) = crate::image::index::resolve::resolve(&image.index, &u.path, "/", true) {
            return Err(SelectError::IncludeMissing { path: u.path.clone(), source });
        }
    }
    // Which packages keep files: for the rewritten database and for the report.
    closure.packages = packages::compare(&inventory, |p| closure.keep.contains(p));
    if plan.package_metadata {
        if let Some(status) = package_metadata(image, &closure.packages) {
            closure.keep.keep_with_parents(DPKG_STATUS, Reason::PackageMetadata);
            closure.overrides.insert(DPKG_STATUS.to_owned(), status);
        }
    }
    Ok(closure)
}

const DPKG_STATUS: &str = "/var/lib/dpkg/status";

/// The dpkg database for the slim image: the packages that still have files in it, so a
/// scanner reading it sees what is really inside (and not the packages that are gone).
fn package_metadata(image: &Image, changes: &[packages::PackageChange]) -> Option<Vec<u8>> {
    if image.index.get(DPKG_STATUS).is_none_or(|e| e.is_dir() || e.is_symlink()) {
        return None;
    }
    let kept: std::collections::HashSet<&str> =
        changes.iter().filter(|c| c.manager == "dpkg" && c.status != "removed").map(|c| c.name.as_str()).collect();
    packages::rewrite_dpkg_status(&image.index, |name| kept.contains(name))
}
