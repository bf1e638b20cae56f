//! What `slimctl build` tells the user: warnings while it runs, the before/after summary (or
//! the JSON report) at the end, and the CI gates' verdict.

use super::BuildArgs;
use crate::cli::{exit, table, Failure};
use slimctl::pipeline::types::{
    describe_exit, probe_errors, Reason, StackReport, StopKind, Stopped, TraceReport, Verdict, VerifyReport,
};
use slimctl::pipeline::BuildReport;

use slimctl::units::human_bytes;

/// Prints the report (summary or JSON) and applies the CI gates. Returns the exit code.
pub fn finish(args: &BuildArgs, report: &BuildReport, code: u8) -> Result<u8, Failure> {
    for g in &report.unmatched_globs {
        eprintln!("warning: --exclude-glob {g} matches no path of the image");
    }
    if args.quiet {
    } else if args.json {
        println!("{}", serde_json::to_string_pretty(report).map_err(Failure::internal)?);
    } else {
        print_summary(report);
    }
    let mut code = code;
    if let Some(limit) = args.fail_if_larger_than {
        if report.slim.bytes > limit {
            eprintln!(
                "slimctl: error: CI gate: the slim image is {} (--fail-if-larger-than {})",
                human_bytes(report.slim.bytes),
                human_bytes(limit)
            );
            code = code.max(exit::CI_GATE);
        }
    }
    if let Some(min) = args.min_ratio {
        if report.ratio < min {
            eprintln!(
                "slimctl: error: CI gate: the slim image is only {:.1}x smaller (--min-ratio {min})",
                report.ratio
            );
            code = code.max(exit::CI_GATE);
        }
    }
    // Verify's judgement when there is one (the same probes, replayed), else the traced run's.
    let failed_probes = match report.verify.as_ref().and_then(|v| v.rounds.last()) {
        Some(round) => round.checks.iter().filter(|c| c.verdict == Verdict::ProbeError).count(),
        None => report.trace.as_ref().map(probe_errors).unwrap_or_default().len(),
    };
    let refused = answers_refused(report, &args.probes.fail_on_classes());
    if !refused.is_empty() {
        eprintln!(
            "slimctl: error: {} probe(s) answered with a status --http-fail-on counts as failure: {}",
            refused.len(),
            refused.join("; ")
        );
        code = code.max(exit::PROBE);
    }
    if args.strict_probes && failed_probes > 0 {
        eprintln!("slimctl: error: {failed_probes} probe(s) failed on the original (--strict-probes)");
        code = code.max(exit::PROBE);
    }
    if code == exit::VERIFY {
        eprintln!(
            "slimctl: error: the slim image does not behave like the original (see the verify table{}); \
             add what it needs with --include, or more probes",
            if args.no_fix { "; --fix was off" } else { "" }
        );
        // The slim image is in the engine (verify ran there): a shell beside it shows what it lacks.
        if let Some(tag) = &report.slim.tag {
            eprintln!("slimctl: to look inside it: slimctl debug --run {tag}   (a shell from the original, in its namespaces)");
        }
    }
    Ok(code)
}

/// The traced run's answers to the probes asked for (not crawled pages, not a spec's requests)
/// whose status is in one of `classes` (hundreds: 4, 5).
fn answers_refused(report: &BuildReport, classes: &[u16]) -> Vec<String> {
    let answers = report.trace.iter().flat_map(|t| &t.http).filter(|r| !r.crawled && r.sent.is_none());
    answers
        .filter_map(|r| {
            let status = r.status.filter(|s| classes.contains(&(s / 100)))?;
            Some(format!("{} {} on port {} answered {status}", r.method, r.path, r.port))
        })
        .collect()
}

fn print_summary(r: &BuildReport) {
    let rows = vec![
        vec![
            "original".into(),
            r.original.name.clone(),
            human_bytes(r.original.stored_bytes),
            r.original.paths.to_string(),
        ],
        vec!["slim".into(), r.slim.output.clone(), human_bytes(r.slim.bytes), r.slim.paths.to_string()],
    ];
    print!("{}", table::render(&["", "image", "size", "paths"], &rows));
    println!(
        "{:.1}x smaller; {} paths removed; slim id {}",
        r.ratio,
        r.original.paths.saturating_sub(r.slim.paths as usize),
        r.slim.id
    );
    if let Some(t) = &r.trace {
        if let Some(st) = &t.stack {
            println!("{}", stack_line(st));
        }
        println!("{}", trace_line(t));
    }
    if let Some(v) = &r.verify {
        print_verify(v);
    }
    println!(
        "packages: {} kept, {} partly kept, {} removed entirely (details: --report)",
        r.packages.kept,
        r.packages.partial.len(),
        r.packages.removed.len()
    );
    if let Some(d) = &r.documents {
        println!("{}", documents_line(d));
    }
    if !r.excluded.is_empty() {
        println!("excluded by --exclude-glob: {} paths (listed under `excluded` in --report)", r.excluded.len());
    }
    let parts: Vec<String> = r.bytes_by_reason.iter().map(|(k, v)| format!("{k} {}", human_bytes(*v))).collect();
    println!("slim bytes by reason: {}", parts.join(", "));
    let stages: Vec<String> = r.stages.iter().map(|s| format!("{} {:.2}s", s.name, s.seconds)).collect();
    println!("time: {}", stages.join(", "));
    let libs: Vec<_> = r.unresolved.iter().filter(|u| !matches!(u.wanted_by, Reason::Included { .. })).collect();
    for u in libs.iter().take(10) {
        eprintln!("warning: {} (wanted as {})", u.error, u.wanted_by);
    }
}

/// "SBOM: N packages (M removed entirely: K known vulnerabilities no longer present)".
fn documents_line(d: &slimctl::pipeline::documents::Written) -> String {
    let mut line = format!("SBOM: {} packages ({} removed entirely", d.packages, d.removed_entirely);
    if let Some(v) = &d.vex {
        line.push_str(&format!(": {} known vulnerabilities no longer present", v.no_longer_present));
    }
    line.push(')');
    let mut written: Vec<String> = d.sbom.iter().map(|p| p.display().to_string()).collect();
    if let Some(v) = &d.vex {
        if let Some(w) = &v.warning {
            eprintln!("warning: {w}; the VEX statements may not hold");
        }
        written.extend(v.path.iter().map(|p| p.display().to_string()));
    }
    if !written.is_empty() {
        line.push_str(&format!("; written: {}", written.join(", ")));
    }
    line
}

fn trace_line(t: &TraceReport) -> String {
    let mut line = format!(
        "traced: {} events from {} processes, {} paths used, {} directories written into",
        t.stats.events, t.stats.processes, t.stats.paths, t.stats.written_in
    );
    if !t.http.is_empty() {
        let answered = t.http.iter().filter(|p| p.answered()).count();
        line.push_str(&format!("; HTTP probes answered {answered}/{}", t.http.len()));
    }
    if !t.ready.is_empty() {
        let ports: Vec<String> =
            t.ready.iter().map(|r| format!("{} after {:.1} s", r.port, r.ms as f64 / 1000.0)).collect();
        line.push_str(&format!("; listening on {}", ports.join(", ")));
    }
    if !t.proto.is_empty() {
        let ok = t.proto.iter().filter(|p| p.ok()).count();
        line.push_str(&format!("; protocol probes ok {ok}/{}", t.proto.len()));
    }
    if !t.exec.is_empty() {
        let ok = t.exec.iter().filter(|e| e.exit_code == Some(0)).count();
        line.push_str(&format!("; exec probes ok {ok}/{}", t.exec.len()));
    }
    for test in &t.tests {
        line.push_str(&format!(
            "; probe container {}: {} in {:.1} s",
            test.name,
            describe_exit(test.exit_code),
            test.seconds
        ));
    }
    if t.exited_by_itself {
        line.push_str(&format!("; ended with {}", describe_exit(t.exit_code)));
    }
    line.push_str(&format!("; {}", stop_phrase(&t.stopped)));
    line
}

/// The stack around the traced run: what started, how long until the target could start, and
/// the clean-up.
fn stack_line(s: &StackReport) -> String {
    let started: Vec<String> =
        s.services.iter().map(|x| format!("{} at {:.1} s", x.name, x.started_ms as f64 / 1000.0)).collect();
    format!(
        "stack {}: started {}; dependencies met after {:.1} s; removed in {:.1} s (not traced, not slimmed)",
        s.project,
        if started.is_empty() { "nothing".into() } else { started.join(", ") },
        s.up_seconds,
        s.down_seconds
    )
}

/// How the traced run was stopped, said so a user can tell a clean shutdown from a kill.
fn stop_phrase(s: &Stopped) -> String {
    match s.how {
        StopKind::Exited => "it exited by itself".into(),
        StopKind::Signal => format!("it stopped on its stop signal in {:.1} s", s.seconds),
        StopKind::SignalIgnored => "its init ignores the stop signal (PID 1 with no handler left): killed".into(),
        StopKind::GraceRanOut => {
            format!(
                "still running {:.1} s after its stop signal (--stop-grace), killed: a longer shutdown was not traced",
                s.seconds
            )
        }
    }
}

/// The last round's checks as a table, and what each round found missing and added.
fn print_verify(v: &VerifyReport) {
    if let Some(last) = v.rounds.last() {
        crate::cli::checks::print_round(last);
    }
    for round in &v.rounds {
        for m in &round.missing {
            println!("round {}: slim image missed {} ({} by {})", round.round, m.path, m.how, m.by);
        }
        if !round.added.is_empty() {
            println!("round {}: added {} path(s) and rebuilt", round.round, round.added.len());
        }
    }
    let errors = v.rounds.last().map(|r| r.checks.iter().filter(|c| c.verdict == Verdict::ProbeError).count());
    match errors.unwrap_or(0) {
        0 => println!("verify: {}", v.verdict_line()),
        n => {
            println!("verify: {} ({n} probe error(s): failed on the original, so they prove nothing)", v.verdict_line())
        }
    }
}
