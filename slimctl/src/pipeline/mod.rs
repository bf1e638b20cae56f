//! The pipeline, one step per stage, each a function with typed input and output:
//!
//! inspect ([`inspect`]) → run+trace ([`trace`], or saved profiles: [`profile`]) → select →
//! sweep ([`sweep`]) → write ([`slim`]) → output ([`output`]) → verify round ([`verify`]) → heal ([`heal`]),
//! strung together for `slimctl build` by [`build`]; [`verify::verify_images`] is
//! `slimctl verify`. The stages themselves live below ([`crate::image`], [`crate::run`],
//! [`crate::select`], [`crate::write`], [`crate::verify`]); the command line talks to this
//! module alone, which names the types it takes and gives.

pub mod build;
pub mod documents;
pub mod error;
pub mod heal;
pub mod inspect;
pub mod output;
pub mod profile;
pub mod report;
pub mod sbom;
pub mod slim;
pub mod stack;
pub mod sweep;
pub mod trace;
pub mod verify;
pub mod vex;

pub use build::{build, BuildRequest, VerifyPlan};

/// Builds the fat image a Dockerfile describes, in the engine (before it is slimmed); returns
/// its id. `show` prints the builder's steps as they come.
pub async fn build_fat(req: &types::FatBuild, show: bool) -> Result<String, PipelineError> {
    Ok(crate::fatbuild::build(req, show).await?)
}
pub use error::PipelineError;
pub use profile::Profile;
pub use report::BuildReport;
pub use stack::{prepare as prepare_stack, Prepared, StackRequest};
pub use verify::{verify_images, VerifyRequest};

/// The types the steps take and give, for the command line.
pub mod types {
    pub use crate::fatbuild::FatBuild;
    pub use crate::image::source::registry::{Platform, RegistryOptions};
    pub use crate::image::Image;
    pub use crate::run::container::{HostSettings, StopKind, Stopped};
    pub use crate::run::exec::ExecProbe;
    pub use crate::run::http::{load_probe_file, HttpProbe};
    pub use crate::run::openapi::load as load_api_spec;
    pub use crate::run::probe_container::ProbeContainer;
    pub use crate::run::proto::{Credentials, ProtoProbe, TcpProbe};
    pub use crate::run::stack::StackReport;
    pub use crate::run::{describe_exit, ContinueAfter, ProbePlan, RunTemplate, TraceReport};
    pub use crate::select::kinds::Kind as IncludeKind;
    pub use crate::select::rules::{all as coverage_rules, Rule};
    pub use crate::select::{Reason, SelectPlan};
    pub use crate::verify::{probe_errors, Outcome, Round, Verdict, VerifyReport};
    pub use crate::write::edits::ConfigEdits;
    pub use crate::write::perms::{parse as parse_path_perm, PathPerms};
    pub use crate::write::Output;
}

/// Settings for the whole process, from the command line's global flags.
pub mod settings {
    pub use crate::engine::{check_address, use_engine};
    pub use crate::image::source::engine::read_in_storage;
    pub use crate::image::source::registry::configure as configure_registries;
    pub use crate::run::cleanup::remove_all;
    pub use crate::run::traced::release_sensor;
}
