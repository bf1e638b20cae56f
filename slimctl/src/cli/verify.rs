//! `slimctl verify ORIGINAL SLIM`: run both with the same probes and compare.
use super::runargs::{ProbeArgs, RunArgs};
use super::{open_source, Failure, EXIT_OK, EXIT_PROBE, EXIT_VERIFY};
use slimctl::image::ImageRef;
use slimctl::run::overlap::{trace_while_reading, Overlapped, Reading};
use slimctl::run::traced::ProbePlan;
use slimctl::select::resolve::resolve;
use slimctl::select::KeepSet;
use slimctl::verify::{
    failure_logs, mismatched, missing_files, probe_errors, used_but_absent, Outcome, Round, Runner, Verdict,
    VerifyReport,
};
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The original image (in the engine).
    pub original: String,
    /// The slim image (in the engine).
    pub slim: String,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// Run the slim image under this seccomp profile (Docker/OCI JSON).
    #[arg(long, value_name = "FILE")]
    pub seccomp: Option<std::path::PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 6 when a probe fails on the original (by default a probe error is reported and
    /// proves nothing either way).
    #[arg(long)]
    pub strict_probes: bool,
}

pub async fn run(args: &VerifyArgs) -> Result<u8, Failure> {
    let (mut run, mut probes) = (args.run.clone(), args.probes.clone());
    super::stack::prepare(&mut run, &mut probes).await?;
    let args = &VerifyArgs {
        run,
        probes,
        original: args.original.clone(),
        slim: args.slim.clone(),
        seccomp: args.seccomp.clone(),
        ..*args
    };
    for img in [&args.original, &args.slim] {
        if !matches!(ImageRef::parse(img), ImageRef::Engine(_)) {
            return Err(Failure::input(format!(
                "{img}: verify runs images, so both must be in the engine (docker load first)"
            )));
        }
    }
    let plan = args.probes.plan(args.run.show_logs)?;
    let seccomp = args.seccomp.as_deref().map(read_seccomp).transpose()?;
    // Both images are read while the original runs: nothing in the first run needs them.
    let opened = open_source(&args.original, None).await?;
    let docker = opened.docker.expect("engine image");
    let run_config = opened.run_config.expect("engine image");
    let original = Reading::start(Arc::from(opened.source), Vec::new());
    let slim = Reading::start(Arc::from(open_source(&args.slim, None).await?.source), Vec::new());
    let bar = slimctl::progress::spinner("verify: running the original");
    let spec = args.run.spec(&run_config.digest)?;
    let traced = trace_while_reading(&docker, &run_config, &spec, &plan, original).await;
    bar.finish_and_clear();
    let Overlapped { run: first, image: original, .. } = traced?;
    let (slim, _) = slim.finish().await?;
    let runner = Runner {
        docker: &docker,
        config: &original.config,
        has_shell: resolve(&original.index, "/bin/sh", "/", true).is_ok(),
        seccomp,
    };
    let replay = ProbePlan { lenient: true, ..plan.replay(&first.report) };
    let slim_run = runner.slim(args.run.spec(&slim.config.digest)?, &replay).await?;
    let spec = args.run.spec(&original.config.digest)?;
    let mut second = None;
    let checks = runner.checks(spec, &replay, &first.report, &mut second, &slim_run.report).await?;
    // Missing: looked up by the slim run, absent from the slim image, present in the original.
    let slim_paths = KeepSet::of_paths(slim.index.iter().map(|(p, _)| p));
    let mut missing = missing_files(&slim_run.touched, &original.index, &slim_paths);
    if mismatched(&checks) {
        let used = first.touched.paths.iter().map(|(p, t)| (p.as_str(), t.how, t.by.as_str()));
        let absent = used_but_absent(used, &original.index, &slim_paths, &missing);
        missing.extend(absent);
    }
    let slim_logs = failure_logs(&first.report, &slim_run.report);
    let slim_bytes = slim.index.visible_bytes();
    let round = Round { round: 0, slim_bytes, checks, missing, added: Vec::new(), slim_logs };
    let report = VerifyReport::new(vec![round], 1 + usize::from(second.is_some()));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(Failure::internal)?);
    } else {
        print_report(&report.rounds[0]);
    }
    for e in probe_errors(&first.report) {
        eprintln!("warning: probe error (failed on the original): {e}");
    }
    match report.outcome {
        Outcome::Behaves if args.strict_probes && !probe_errors(&first.report).is_empty() => {
            eprintln!("slimctl: error: probes failed on the original (--strict-probes)");
            Ok(EXIT_PROBE)
        }
        Outcome::Behaves => Ok(EXIT_OK),
        Outcome::Differs => {
            eprintln!("slimctl: error: {} does not behave like {}", args.slim, args.original);
            Ok(EXIT_VERIFY)
        }
        Outcome::ComparedNothing => {
            eprintln!("slimctl: error: {}", report.verdict_line());
            Ok(EXIT_PROBE)
        }
    }
}

/// A seccomp profile for the slim run: it must at least be JSON.
fn read_seccomp(f: &std::path::Path) -> Result<String, Failure> {
    let json = std::fs::read_to_string(f)
        .map_err(|e| Failure::input(format!("cannot read seccomp profile {}: {e}", f.display())))?;
    serde_json::from_str::<serde_json::Value>(&json)
        .map_err(|e| Failure::input(format!("seccomp profile {} is not JSON: {e}", f.display())))?;
    Ok(json)
}

fn print_report(round: &Round) {
    super::checks::print_round(round);
    for m in &round.missing {
        println!("missing in the slim image: {} ({} by {}; in the original as {})", m.path, m.how, m.by, m.resolved);
    }
    let matched = round.checks.iter().filter(|c| c.verdict.matched()).count();
    let errors = round.checks.iter().filter(|c| c.verdict == Verdict::ProbeError).count();
    println!(
        "{matched}/{} checks match, {errors} probe error(s); {} missing file(s)",
        round.checks.len(),
        round.missing.len()
    );
}
