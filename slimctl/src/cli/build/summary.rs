//! What `slimctl build` tells the user: warnings while it runs, the before/after summary (or
//! the JSON report) at the end, and the CI gates' verdict.

use super::BuildArgs;
use crate::cli::{table, Failure, EXIT_CI_GATE, EXIT_VERIFY};
use slimctl::build::BuildReport;
use slimctl::run::describe_exit;
use slimctl::run::exec::display_argv;
use slimctl::run::traced::TraceReport;
use slimctl::select::Reason;
use slimctl::units::human_bytes;
use slimctl::verify::VerifyReport;

/// Probes that failed while traced: the trace may then miss what a working answer needs.
pub fn warn_probes(r: &TraceReport) {
    for p in r.http.iter().filter(|p| p.status.is_some_and(|s| s >= 500) || p.error.is_some()) {
        match (p.status, &p.error) {
            (Some(st), _) => {
                eprintln!("warning: {} {} on port {} answered {st} while traced", p.method, p.path, p.port)
            }
            (None, Some(e)) => {
                eprintln!("warning: {} {} on port {} failed while traced: {e}", p.method, p.path, p.port)
            }
            _ => {}
        }
    }
    for e in r.exec.iter().filter(|e| e.exit_code != Some(0)) {
        let (what, how) = (display_argv(&e.command), describe_exit(e.exit_code));
        eprintln!("warning: {} probe `{what}` ended with {how} while traced", e.source);
    }
}

/// Prints the report (summary or JSON) and applies the CI gates. Returns the exit code.
pub fn finish(args: &BuildArgs, report: &BuildReport, code: u8) -> Result<u8, Failure> {
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
            code = code.max(EXIT_CI_GATE);
        }
    }
    if let Some(min) = args.min_ratio {
        if report.ratio < min {
            eprintln!(
                "slimctl: error: CI gate: the slim image is only {:.1}x smaller (--min-ratio {min})",
                report.ratio
            );
            code = code.max(EXIT_CI_GATE);
        }
    }
    if code == EXIT_VERIFY {
        eprintln!(
            "slimctl: error: the slim image does not behave like the original (see the verify table{}); \
             add what it needs with --include, or more probes",
            if args.no_fix { "; --fix was off" } else { "" }
        );
    }
    Ok(code)
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
    let parts: Vec<String> = r.bytes_by_reason.iter().map(|(k, v)| format!("{k} {}", human_bytes(*v))).collect();
    println!("slim bytes by reason: {}", parts.join(", "));
    let stages: Vec<String> = r.stages.iter().map(|s| format!("{} {:.2}s", s.name, s.seconds)).collect();
    println!("time: {}", stages.join(", "));
    let libs: Vec<_> = r.unresolved.iter().filter(|u| !matches!(u.wanted_by, Reason::Included { .. })).collect();
    for u in libs.iter().take(10) {
        eprintln!("warning: {} (wanted as {})", u.error, u.wanted_by);
    }
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
    if !t.exec.is_empty() {
        let ok = t.exec.iter().filter(|e| e.exit_code == Some(0)).count();
        line.push_str(&format!("; exec probes ok {ok}/{}", t.exec.len()));
    }
    if t.exited_by_itself {
        line.push_str(&format!("; ended with {}", describe_exit(t.exit_code)));
    }
    line
}

/// The last round's checks as a table, and what each round found missing and added.
fn print_verify(v: &VerifyReport) {
    if let Some(last) = v.rounds.last() {
        let rows: Vec<Vec<String>> = last
            .checks
            .iter()
            .map(|c| vec![c.what.clone(), c.original.clone(), c.slim.clone(), c.verdict.to_string()])
            .collect();
        if !rows.is_empty() {
            print!("{}", table::render(&["verify", "original", "slim", "verdict"], &rows));
        }
    }
    for round in &v.rounds {
        for m in &round.missing {
            println!("round {}: slim image missed {} ({} by {})", round.round, m.path, m.how, m.by);
        }
        if !round.added.is_empty() {
            println!("round {}: added {} path(s) and rebuilt", round.round, round.added.len());
        }
    }
    println!("verify: {}", if v.ok { "the slim image behaves like the original" } else { "MISMATCH" });
}
