//! `slimctl verify ORIGINAL SLIM`: run both with the same probes and compare.
use super::runargs::{ProbeArgs, RunArgs};
use super::{exit, Failure};
use slimctl::pipeline::types::{Outcome, Round, Verdict};
use slimctl::pipeline::verify::Verified;
use slimctl::pipeline::VerifyRequest;

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
    /// Do not load, in both images, the modules the coverage rules reach from the files the
    /// original's run used (the sweep): only the probes are compared.
    #[arg(long)]
    pub no_sweep: bool,
}

pub async fn run(args: &VerifyArgs, work: &super::WorkDir) -> Result<u8, Failure> {
    let prepared = slimctl::pipeline::prepare_stack(&args.run.stack_request(&args.probes)?).await?;
    let req = VerifyRequest {
        original: args.original.clone(),
        slim: args.slim.clone(),
        run: args.run.template(&args.probes, &prepared)?,
        probes: args.probes.plan(args.run.show_logs, &prepared)?,
        seccomp: args.seccomp.as_deref().map(read_seccomp).transpose()?,
        sweep: !args.no_sweep,
    };
    let Verified { report, probe_errors } = slimctl::pipeline::verify_images(&req, work.path()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(Failure::internal)?);
    } else {
        print_report(&report.rounds[0]);
    }
    for e in &probe_errors {
        eprintln!("warning: probe error (failed on the original): {e}");
    }
    let code = exit::of_outcome(report.outcome);
    match report.outcome {
        Outcome::Behaves if args.strict_probes && !probe_errors.is_empty() => {
            eprintln!("slimctl: error: probes failed on the original (--strict-probes)");
            return Ok(exit::PROBE);
        }
        Outcome::Behaves => {}
        Outcome::Differs => {
            eprintln!("slimctl: error: {} does not behave like {}", args.slim, args.original);
            eprintln!(
                "slimctl: to look inside it: slimctl debug --run {} --image {}   (a shell from the original, in its namespaces)",
                args.slim, args.original
            );
        }
        Outcome::ComparedNothing => eprintln!("slimctl: error: {}", report.verdict_line()),
    }
    Ok(code)
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
