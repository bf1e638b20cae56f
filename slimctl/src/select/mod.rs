//! The select stage: which paths of the image the slim image keeps, and why. Seeds (what the
//! traced run used, the config's entrypoint and user, the user's includes) go through the
//! closure ([`closure`]: symlinks, parents, ELF interpreter and libraries, `#!` interpreters)
//! and the coverage rules ([`rules`]); everything is resolved inside the image's index
//! ([`crate::image::index::resolve`], [`ldso`]), never against the host's files.

pub mod closure;
pub mod exclude;
pub mod keep;
pub mod kinds;
pub mod ldso;
pub mod metadata;
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
    /// Programs to keep by name, found through the image's PATH (with what they need).
    pub programs: Vec<String>,
    /// Globs (`**` crosses directories) of paths never kept, applied after every rule.
    pub exclude_globs: Vec<String>,
    /// Kinds kept whole (`--include-zoneinfo`, `--include-cert-all`, `--include-workdir`).
    pub kinds: Vec<kinds::Kind>,
}

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("--include {path}: {source}; check the path with `slimctl xray` or `docker run --rm IMAGE ls -la DIR`")]
    IncludeMissing {
        path: String,
        #[source]
        source: crate::image::index::resolve::ResolveError,
    },
    #[error("--include-program {name}: no such program in the image's PATH ({path}); give its path with --include")]
    ProgramMissing { name: String, path: String },
    #[error("--exclude-glob {glob}: {reason}")]
    BadGlob { glob: String, reason: String },
    /// The stored copy the deferred facts are read from could not be opened.
    #[error(transparent)]
    Stored(#[from] crate::error::ImageError),
}

impl SelectError {
    pub fn class(&self) -> crate::error::ErrorClass {
        match self {
            SelectError::IncludeMissing { .. } | SelectError::ProgramMissing { .. } => crate::error::ErrorClass::Input,
            SelectError::BadGlob { .. } => crate::error::ErrorClass::Usage,
            SelectError::Stored(e) => e.class(),
        }
    }
}

/// The keep-set for `plan`. An explicit include that is not in the image is an error: the user
/// asked for something that cannot be delivered.
pub fn select(image: &Image, plan: &SelectPlan) -> Result<Closure, SelectError> {
    let inventory = packages::inventory(&image.index);
    let globs = exclude::Globs::new(&plan.exclude_globs)?;
    let mut includes = plan.includes.clone();
    for name in &plan.programs {
        includes.push(exclude::find_program(image, name)?);
    }
    for kind in &plan.kinds {
        includes.extend(kinds::paths(image, *kind));
    }
    let mut closure = ClosureBuilder::new(&image.index, &image.config)
        .facts(image.facts()?)
        .rules(rules::all_except(&plan.rules_off))
        .packages(&inventory)
        .exclude(plan.excludes.iter().cloned())
        .config_seeds()
        .includes(includes)
        .seeds(plan.seeds.iter().cloned())
        .build();
    for u in closure.unresolved.iter().filter(|u| matches!(u.wanted_by, Reason::Included { .. })) {
        if let Err(source) = crate::image::index::resolve::resolve(&image.index, &u.path, "/", true) {
            return Err(SelectError::IncludeMissing { path: u.path.clone(), source });
        }
    }
    if plan.package_metadata {
        // Before the packages are counted: the release file is a file of its package too.
        metadata::keep_release_files(&image.index, &mut closure.keep);
    }
    // The globs go last: nothing a rule or the closure added survives them.
    globs.apply(&image.index, &mut closure);
    closure.unmatched_globs = globs.unmatched(&image.index);
    // Which packages keep files: for the package records and for the report.
    closure.packages = packages::compare(&inventory, |p| closure.keep.contains(p));
    if plan.package_metadata {
        metadata::keep_package_records(
            &image.index,
            &inventory,
            &closure.packages,
            &mut closure.keep,
            &mut closure.overrides,
        );
        globs.apply(&image.index, &mut closure);
    }
    Ok(closure)
}
