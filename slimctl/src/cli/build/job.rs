//! One image through the pipeline: the flags become a request, the pipeline builds, the report
//! is written and printed, the CI gates applied.

use super::summary::finish;
use super::BuildArgs;
use crate::cli::{exit, Failure, WorkDir};
use slimctl::naming::output_tag;
use slimctl::pipeline::documents::{Documents, VexRequest};
use slimctl::pipeline::types::{HttpProbe, IncludeKind, ProbePlan, SelectPlan};
use slimctl::pipeline::{BuildRequest, Prepared, Profile, VerifyPlan};
use std::path::PathBuf;

pub async fn run_one(
    args: &BuildArgs,
    prepared: &Prepared,
    profiles: &[(PathBuf, Profile)],
    work: &WorkDir,
) -> Result<u8, Failure> {
    let req = request(args, prepared, profiles)?;
    let report = slimctl::pipeline::build(&req, work.path()).await?;
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&report).map_err(Failure::internal)?;
        std::fs::write(path, json).map_err(|e| {
            Failure::new(
                slimctl::error::ErrorClass::Environment,
                format!("cannot write report {}: {e}", path.display()),
            )
        })?;
    }
    let code = report.verify.as_ref().map_or(exit::OK, |v| exit::of_outcome(v.outcome));
    finish(args, &report, code)
}

/// The build the flags ask for; what cannot mean anything is refused before anything runs.
fn request(args: &BuildArgs, prepared: &Prepared, profiles: &[(PathBuf, Profile)]) -> Result<BuildRequest, Failure> {
    let tag = args.tag.as_deref().map(output_tag).transpose().map_err(Failure::usage)?;
    if args.no_trace && !args.from_profile.is_empty() {
        return Err(Failure::usage("--from-profile builds without running the image already; drop --no-trace"));
    }
    let mut includes = args.includes.clone();
    for f in &args.include_from {
        includes.extend(lines_of(f, "--include-from")?);
    }
    let mut perm_lines = args.path_perms.clone();
    for f in &args.path_perms_from {
        perm_lines.extend(lines_of(f, "--path-perms-file")?);
    }
    if args.keep_perms == Some(false) {
        return Err(Failure::usage(
            "--keep-perms=false: slimctl always keeps the original's modes and owners; change one with --path-perms",
        ));
    }
    let mut perms = slimctl::pipeline::types::PathPerms::new();
    for line in &perm_lines {
        let (path, perm) = slimctl::pipeline::types::parse_path_perm(line).map_err(Failure::usage)?;
        // A path whose mode the user sets is one they want in the image.
        includes.push(path.clone());
        perms.insert(path, perm);
    }
    let mut programs = args.programs.clone();
    for f in &args.programs_from {
        programs.extend(lines_of(f, "--include-program-from")?);
    }
    let select = SelectPlan {
        includes,
        excludes: args.excludes.clone(),
        seeds: Vec::new(),
        rules_off: args.rules.off.clone(),
        package_metadata: !args.no_package_metadata,
        programs,
        exclude_globs: args.exclude_globs.clone(),
        kinds: [
            (args.include_zoneinfo, IncludeKind::Zoneinfo),
            (args.include_certs, IncludeKind::Certs),
            (args.include_workdir, IncludeKind::Workdir),
        ]
        .into_iter()
        .filter_map(|(on, k)| on.then_some(k))
        .collect(),
    };
    let extra_http = args
        .verify_http_probes
        .iter()
        .map(|p| HttpProbe::parse(p).map_err(Failure::usage))
        .collect::<Result<_, _>>()?;
    Ok(BuildRequest {
        image: args.image.clone(),
        select,
        include_shell: args.include_shell,
        sweep: !args.no_sweep,
        source_date_epoch: source_date_epoch()?,
        run: args.run.template(&args.probes, prepared)?,
        probes: probe_plan(args, prepared)?,
        profiles: profiles.to_vec(),
        save_profile: args.save_profile.clone(),
        seccomp_profile: args.seccomp_profile.clone(),
        output: args.output.clone(),
        tag,
        verify: VerifyPlan { on: !args.no_verify, heal: !args.no_fix, max_rounds: args.max_rounds, extra_http },
        documents: documents(args)?,
        edits: args.slim_config.edits()?,
        perms,
    })
}

/// The entries of a list file: one a line, blank lines and `#` comments skipped.
fn lines_of(path: &std::path::Path, flag: &str) -> Result<Vec<String>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("{flag} {}: cannot read it: {e}", path.display())))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect())
}

/// The SBOM and VEX asked for; the report is read now, so a bad one fails before any run.
fn documents(args: &BuildArgs) -> Result<Documents, Failure> {
    let vex = match &args.vex_from {
        Some(path) => Some(VexRequest {
            report: slimctl::pipeline::vex::read_report(path)?,
            report_path: path.clone(),
            output: args.vex.clone(),
            format: args.vex_format,
        }),
        None => None,
    };
    Ok(Documents { sbom: args.sbom.clone().map(|p| (p, args.sbom_format)), vex })
}

/// The probes of the traced run; none with --no-trace.
fn probe_plan(args: &BuildArgs, prepared: &Prepared) -> Result<Option<ProbePlan>, Failure> {
    if args.no_trace {
        return Ok(None);
    }
    let mut plan = args.probes.plan(args.run.show_logs, prepared)?;
    plan.lenient = false;
    Ok(Some(plan))
}

fn source_date_epoch() -> Result<Option<u64>, Failure> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Failure::input(format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds"))),
        _ => Ok(None),
    }
}
