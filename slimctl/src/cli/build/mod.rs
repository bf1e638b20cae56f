//! `slimctl build`: one image (or several, one after the other) through the pipeline. The
//! request is made in [`job`]; what is printed at the end in [`summary`].

mod fat;
mod job;
mod slimconfig;
mod summary;

use super::runargs::{ProbeArgs, RunArgs};
use super::{exit, table, Failure, WorkDir};
use slimctl::error::ErrorClass;
use slimctl::pipeline::types::Output;
use slimctl::pipeline::{Prepared, Profile};
use slimctl::units::human_bytes;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct BuildArgs {
    /// The image(s): NAME[:TAG] or ID in the engine, docker-archive:FILE, oci:DIR, or docker://HOST/REPO:TAG. Several are
    /// processed one after the other, sharing one sensor, with a combined summary.
    #[arg(required_unless_present_any = ["images_from", "compose_files", "target", "dockerfile"])]
    pub images: Vec<String>,
    /// The image, as mint and SlimToolkit name it (`--target IMAGE`).
    #[arg(long = "target", value_name = "IMAGE", hide = true)]
    pub target: Vec<String>,
    /// Read more images from FILE, one per line (# comments allowed).
    #[arg(long, value_name = "FILE")]
    pub images_from: Option<PathBuf>,
    /// The image being built (set per image).
    #[arg(skip)]
    pub image: String,
    /// No summary on stdout (one image of several under --json).
    #[arg(skip)]
    pub quiet: bool,
    /// Keep this path (a directory: with everything under it) and what it needs (a program: its
    /// interpreter and libraries).
    #[arg(
        long = "include",
        value_name = "PATH",
        visible_alias = "include-path",
        alias = "include-bin",
        alias = "preserve-path"
    )]
    pub includes: Vec<String>,
    /// Keep the paths FILE lists, one a line (# comments).
    #[arg(
        long = "include-from",
        value_name = "FILE",
        alias = "include-path-file",
        alias = "include-bin-file",
        alias = "preserve-path-file"
    )]
    pub include_from: Vec<PathBuf>,
    /// Keep a program by name, found through the image's PATH, with what it needs.
    #[arg(long = "include-program", value_name = "NAME", alias = "include-exe")]
    pub programs: Vec<String>,
    /// Keep the programs FILE names, one a line.
    #[arg(long = "include-program-from", value_name = "FILE", alias = "include-exe-file")]
    pub programs_from: Vec<PathBuf>,
    /// Never keep this path or anything under it (parents of kept paths excepted).
    #[arg(long = "exclude", value_name = "PATH")]
    pub excludes: Vec<String>,
    /// Never keep the paths this glob matches (`*` within a directory, `**` across them),
    /// applied after every rule; the report names it as their reason.
    #[arg(long = "exclude-glob", value_name = "GLOB", alias = "exclude-pattern")]
    pub exclude_globs: Vec<String>,
    /// Keep the whole time-zone database (the time-zones rule keeps it when code resolves zone
    /// names; this is for a use no run or rule shows).
    #[arg(long)]
    pub include_zoneinfo: bool,
    /// Keep every CA certificate bundle and directory of the image.
    #[arg(long = "include-certs", alias = "include-cert-all")]
    pub include_certs: bool,
    /// Keep the image's working directory whole (not when it is /).
    #[arg(long)]
    pub include_workdir: bool,
    /// Give PATH this mode (octal) and owner in the slim image (it is kept): PATH:MODE[#UID#GID];
    /// repeatable. Every other path keeps the original's.
    #[arg(long = "path-perms", value_name = "PATH:MODE[#UID#GID]")]
    pub path_perms: Vec<String>,
    /// --path-perms lines from FILE.
    #[arg(long = "path-perms-file", value_name = "FILE")]
    pub path_perms_from: Vec<PathBuf>,
    /// mint's `--keep-perms` (on by default there, always here: the slim image has the
    /// original's modes and owners). `false` is refused.
    #[arg(long = "keep-perms", hide = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub keep_perms: Option<bool>,
    /// Do not run and trace the container: keep only the entrypoint, the includes and their closure.
    #[arg(long)]
    pub no_trace: bool,
    /// Also keep a shell and basic tools (sh, ls, cat, ...) for debugging the slim image.
    #[arg(long)]
    pub include_shell: bool,
    #[command(flatten)]
    pub rules: super::ruleargs::RuleArgs,
    /// Do not sweep: by default the modules the coverage rules found by reading code (not seen
    /// loaded by the run) are loaded in the original under the sensor, and what they touch is
    /// kept; verify then loads them in the slim image too.
    #[arg(long)]
    pub no_sweep: bool,
    /// Do not keep package metadata true for scanners (default: the release file is kept, and
    /// the package databases list the packages the slim image keeps files of, with those files).
    #[arg(long)]
    pub no_package_metadata: bool,
    /// Write the slim image's SBOM (its packages and files) to FILE.
    #[arg(long, value_name = "FILE")]
    pub sbom: Option<PathBuf>,
    /// The SBOM's format.
    #[arg(long, value_enum, default_value_t = slimctl::sbom::Format::SpdxJson)]
    pub sbom_format: slimctl::sbom::Format,
    /// A vulnerability report of the original (Trivy JSON, Grype JSON or CycloneDX): the summary
    /// counts what the slim image no longer holds, and --vex writes the statements.
    #[arg(long, value_name = "REPORT")]
    pub vex_from: Option<PathBuf>,
    /// Write VEX statements for the slim image from --vex-from's report to FILE.
    #[arg(long, value_name = "FILE", requires = "vex_from")]
    pub vex: Option<PathBuf>,
    /// The VEX document's format.
    #[arg(long, value_enum, default_value_t = slimctl::vex::Format::Openvex)]
    pub vex_format: slimctl::vex::Format,

    #[command(flatten)]
    pub fat: fat::FatArgs,
    #[command(flatten)]
    pub slim_config: slimconfig::SlimConfigArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// Where the slim image goes: docker (load into the engine), oci:DIR, docker-archive:FILE, or docker://HOST[:PORT]/REPO[:TAG] (pushed).
    #[arg(long, default_value = "docker", value_name = "TARGET")]
    pub output: Output,
    /// Tag of the slim image (default: <repo>.slim:<tag>).
    #[arg(long)]
    pub tag: Option<String>,
    /// Print the report as JSON on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report (every kept path and why) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Do not verify: by default the original and the slim image are run with the same probes and
    /// their answers compared (needs --output docker).
    #[arg(long)]
    pub no_verify: bool,
    /// Do not heal: by default files the slim image looked for and the original has are added,
    /// and the image rebuilt, until verify passes or nothing new is missing.
    #[arg(long)]
    pub no_fix: bool,
    /// Write a seccomp profile (Docker/OCI JSON: default deny, allow the syscalls the traced runs
    /// made plus the runtime's start-up set) to FILE; verify then runs the slim image under it.
    #[arg(long, value_name = "FILE")]
    pub seccomp_profile: Option<PathBuf>,
    /// CI gate: exit 5 when the slim image is larger than SIZE (e.g. 50MB).
    #[arg(long, value_name = "SIZE", value_parser = slimctl::units::parse_bytes)]
    pub fail_if_larger_than: Option<u64>,
    /// CI gate: exit 5 when original/slim is below this ratio (e.g. 3).
    #[arg(long, value_name = "X")]
    pub min_ratio: Option<f64>,
    /// Build from saved profiles (`slimctl profile`) instead of running the image; several merge
    /// as a union. Verify (on by default) replays the profiles' probes.
    #[arg(long = "from-profile", value_name = "FILE")]
    pub from_profile: Vec<PathBuf>,
    /// Also save the traced run as a profile, for later `--from-profile` builds.
    #[arg(long, value_name = "FILE")]
    pub save_profile: Option<PathBuf>,
    /// Exit 6 when a probe fails on the original (by default a probe error is reported and
    /// proves nothing either way).
    #[arg(long)]
    pub strict_probes: bool,
    /// Most self-healing rounds.
    #[arg(long, default_value_t = 3)]
    pub max_rounds: u32,
    /// An extra HTTP probe for verify only (same forms as --http-probe-cmd): a smoke test richer
    /// than the traced probes; repeatable.
    #[arg(long = "verify-http-probe-cmd", value_name = "METHOD:PATH")]
    pub verify_http_probes: Vec<String>,
}

pub async fn run(args: &BuildArgs, work: &WorkDir) -> Result<u8, Failure> {
    args.probes.check()?;
    let mut args = args.clone();
    fat::build_first(&mut args).await?;
    let mut prepared = slimctl::pipeline::prepare_stack(&args.run.stack_request(&args.probes)?).await?;
    let targets = std::mem::take(&mut args.target);
    args.images.extend(targets);
    if args.images.is_empty() && args.images_from.is_none() {
        args.images.extend(prepared.target_image.clone());
    }
    let profiles: Vec<(PathBuf, Profile)> = args
        .from_profile
        .iter()
        .map(|f| Profile::read(f).map(|p| (f.clone(), p)))
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::of(ErrorClass::Input, &e))?;
    // A re-slim without the Compose file starts the stack the profiles recorded.
    if prepared.stack.is_none() {
        let recorded: Vec<Profile> = profiles.iter().map(|(_, p)| p.clone()).collect();
        prepared.stack = slimctl::pipeline::profile::merged_stack(&recorded).map(std::sync::Arc::new);
    }
    let args = &args;
    let images = target_images(args)?;
    if let [image] = &images[..] {
        let one = BuildArgs { image: image.clone(), ..args.clone() };
        return job::run_one(&one, &prepared, &profiles, work).await;
    }
    if args.tag.is_some()
        || args.save_profile.is_some()
        || args.seccomp_profile.is_some()
        || !matches!(args.output, Output::Engine)
    {
        return Err(Failure::usage(
            "with several images, --tag, --save-profile, --seccomp-profile and --output other than docker name one \
             image each: run them one by one",
        ));
    }
    several(args, &images, &prepared, &profiles, work).await
}

/// The images named on the command line and in --images-from.
fn target_images(args: &BuildArgs) -> Result<Vec<String>, Failure> {
    let mut images = args.images.clone();
    if let Some(f) = &args.images_from {
        let text =
            std::fs::read_to_string(f).map_err(|e| Failure::input(format!("cannot read {}: {e}", f.display())))?;
        images.extend(
            text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()).map(str::to_owned),
        );
    }
    if images.is_empty() {
        return Err(Failure::usage("no image given"));
    }
    Ok(images)
}

/// Several images one after the other (the sensor loaded for the first serves the rest), with a
/// combined summary; the exit code is the worst of them.
async fn several(
    args: &BuildArgs,
    images: &[String],
    prepared: &Prepared,
    profiles: &[(PathBuf, Profile)],
    work: &WorkDir,
) -> Result<u8, Failure> {
    let mut rows = Vec::new();
    let mut reports = Vec::new();
    let mut worst = exit::OK;
    for (i, image) in images.iter().enumerate() {
        if !args.json {
            println!("== [{}/{}] {image}", i + 1, images.len());
        }
        let report_path = work.path().join(format!("report-{i}.json"));
        let one = BuildArgs {
            image: image.clone(),
            report: Some(report_path.clone()),
            json: false,
            quiet: args.json,
            ..args.clone()
        };
        let (code, summary) = match job::run_one(&one, prepared, profiles, work).await {
            Ok(code) => {
                let r: serde_json::Value =
                    std::fs::read(&report_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
                let size = |v: &serde_json::Value| human_bytes(v.as_u64().unwrap_or(0));
                let line = format!(
                    "{} -> {} ({:.1}x)",
                    size(&r["original"]["stored_bytes"]),
                    size(&r["slim"]["bytes"]),
                    r["ratio"].as_f64().unwrap_or(0.0)
                );
                reports.push(r);
                (code, line)
            }
            Err(f) => {
                eprintln!("slimctl: error: {image}: {}", f.message);
                (f.code, f.message.lines().next().unwrap_or("").to_owned())
            }
        };
        worst = worst.max(code);
        let result = if code == exit::OK { "ok".into() } else { format!("exit {code}") };
        rows.push(vec![image.clone(), result, summary]);
    }
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&reports).map_err(Failure::internal)?).map_err(|e| {
            Failure::new(ErrorClass::Environment, format!("cannot write report {}: {e}", path.display()))
        })?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports).map_err(Failure::internal)?);
    } else {
        println!();
        print!("{}", table::render(&["image", "result", "size"], &rows));
    }
    Ok(worst)
}
