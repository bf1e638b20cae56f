//! Does the slim image behave like the original? Compares what the same probes got from both,
//! and finds the files the slim run looked for that the original image has.
//!
//! Answers that vary between two runs of the original (a timestamp, a counter, a random id)
//! are compared after normalization; answers that vary even then are compared by status only.
use crate::image::index::resolve::resolve;
use crate::image::index::FileIndex;
use crate::image::ImageConfig;
use crate::run::describe_exit;
use crate::run::exec::HasShell;
use crate::run::proto::ProtoResult;
use crate::run::ready::PortKind;
use crate::run::touched::Touched;
use crate::run::{trace_run, ProbeFailure, ProbePlan, RunError, RunSpec, TraceReport, Traced, TracedRun};
use crate::select::KeepSet;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Match,
    /// Equal once run-dependent parts (digits, long hex ids) are masked: the original's own
    /// answer varied between two runs.
    MatchNormalized,
    /// Only the status (or exit code) was comparable: the original's answer varies even masked.
    MatchStatus,
    Mismatch,
    /// The probe failed on the original itself (an error, a 5xx, a non-zero exit): nothing to
    /// compare, so it proves nothing either way.
    ProbeError,
}

impl Verdict {
    /// Not a mismatch.
    pub fn ok(self) -> bool {
        self != Verdict::Mismatch
    }
    /// A real comparison that came out equal.
    pub fn matched(self) -> bool {
        matches!(self, Verdict::Match | Verdict::MatchNormalized | Verdict::MatchStatus)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Match => "match",
            Verdict::MatchNormalized => "match (run-dependent parts masked)",
            Verdict::MatchStatus => "match (status only)",
            Verdict::Mismatch => "MISMATCH",
            Verdict::ProbeError => "probe error (failed on the original)",
        })
    }
}

/// How verify runs the images, the same for `build`'s verify and `slimctl verify`.
pub struct Runner<'a> {
    pub docker: &'a bollard::Docker,
    /// The original's config: the slim image carries the same, so both start alike.
    pub config: &'a ImageConfig,
    /// Whether the original has /bin/sh: exec strings become one argv, run in both images.
    pub has_shell: bool,
    /// The seccomp profile (JSON) the slim image runs under, if any.
    pub seccomp: Option<String>,
}

impl Runner<'_> {
    /// A run of the original image under `plan`, with `label` as its progress line.
    pub async fn original(&self, spec: &RunSpec, plan: &ProbePlan, label: &str) -> Result<TracedRun, RunError> {
        let bar = crate::progress::spinner(label);
        let run = trace_run(self.traced(spec, plan, &HasShell::known(self.has_shell))).await;
        bar.finish_and_clear();
        run
    }

    fn traced<'a>(&'a self, spec: &'a RunSpec, plan: &'a ProbePlan, has_shell: &'a HasShell) -> Traced<'a> {
        Traced { docker: self.docker, config: self.config, spec, plan, has_shell }
    }

    /// A run of the slim image `spec.image_id` under `plan` (and the seccomp profile).
    pub async fn slim(&self, mut spec: RunSpec, plan: &ProbePlan) -> Result<TracedRun, RunError> {
        if let Some(json) = &self.seccomp {
            spec.security_opt.push(format!("seccomp={json}"));
        }
        let bar = crate::progress::spinner("verify: running the slim image");
        let run = trace_run(self.traced(&spec, plan, &HasShell::known(self.has_shell))).await;
        bar.finish_and_clear();
        run
    }
}

impl Runner<'_> {
    /// Compares the slim run with the original's first run. The original runs a second time
    /// (once: `second` keeps it) only when an answer differs, to tell an answer that varies by
    /// itself (a timestamp, an id) from a real difference.
    pub async fn checks(
        &self,
        spec: RunSpec,
        plan: &ProbePlan,
        first: &TraceReport,
        second: &mut Option<TraceReport>,
        slim: &TraceReport,
    ) -> Result<Vec<Check>, RunError> {
        let checks = compare(first, second.as_ref(), slim);
        if second.is_some() || checks.iter().all(|c| c.verdict != Verdict::Mismatch) {
            return Ok(checks);
        }
        let label = "verify: an answer differs; running the original again";
        let again = self.original(&spec, plan, label).await?.report;
        if let Some(f) = &again.failure {
            return Err(ProbeFailure::OriginalFailed(f.clone()).into());
        }
        let checks = compare(first, Some(&again), slim);
        *second = Some(again);
        Ok(checks)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was compared: "GET / :8080", "exec [..]", "exit code", "stdout".
    pub what: String,
    pub original: String,
    pub slim: String,
    pub verdict: Verdict,
}

/// Masks what changes from run to run: every run of digits becomes one 0 (numbers change
/// length too: 9.5 and 10.25), and runs of 8+ hex characters that contain a digit (ids,
/// hashes: digits and letters mixed) become "x".
pub fn normalize(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
            i += 1;
        }
        let run = &bytes[start..i];
        if run.len() >= 8 && run.iter().any(u8::is_ascii_digit) && run.iter().any(|b| b.is_ascii_alphabetic()) {
            out.push('x');
            continue;
        }
        let mut prev_digit = false;
        for &b in &bytes[start..i] {
            let digit = b.is_ascii_digit();
            if !(digit && prev_digit) {
                out.push(if digit { '0' } else { b as char });
            }
            prev_digit = digit;
        }
        if i < bytes.len() {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Compares one answer: `a` and `b` from two runs of the original, `s` from the slim image.
fn judge(a: &str, b: Option<&str>, s: &str) -> Verdict {
    if a == s && b.is_none_or(|b| b == a) {
        return Verdict::Match;
    }
    match b {
        Some(b) if b != a => {
            let (na, nb) = (normalize(a), normalize(b));
            if na == nb {
                if normalize(s) == na {
                    Verdict::MatchNormalized
                } else {
                    Verdict::Mismatch
                }
            } else {
                Verdict::MatchStatus
            }
        }
        _ => Verdict::Mismatch,
    }
}

fn short(body: &[u8]) -> String {
    let t = String::from_utf8_lossy(body);
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() > 80 {
        format!("{}…", t.chars().take(80).collect::<String>())
    } else {
        t.to_owned()
    }
}

/// Compares the slim run `s` with the original's run `a` (and a second run `b`, when there
/// was one, to tell run-dependent answers from real differences). A probe that failed on the
/// original proves nothing either way: it is a probe error, not a match.
pub fn compare(a: &TraceReport, b: Option<&TraceReport>, s: &TraceReport) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(f) = &s.failure {
        checks.push(Check {
            what: "run".into(),
            original: "ran under the probes".into(),
            slim: f.clone(),
            verdict: Verdict::Mismatch,
        });
    }
    compare_ready(a, s, &mut checks);
    compare_http(a, b, s, &mut checks);
    compare_proto(a, b, s, &mut checks);
    compare_exec(a, b, s, &mut checks);
    compare_tests(a, b, s, &mut checks);
    compare_end(a, b, s, &mut checks);
    checks
}

/// Every port the original listened on, listening in the slim image, speaking the same.
fn compare_ready(a: &TraceReport, s: &TraceReport, checks: &mut Vec<Check>) {
    for ra in &a.ready {
        let rs = s.ready.iter().find(|r| r.port == ra.port);
        let kind = |k: PortKind| serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_owned));
        let listening = |k| format!("listening ({})", kind(k).unwrap_or_default());
        checks.push(Check {
            what: format!("port {} ready", ra.port),
            original: listening(ra.kind),
            slim: rs.map(|r| listening(r.kind)).unwrap_or_else(|| "not listening".into()),
            verdict: if rs.is_some_and(|r| r.kind == ra.kind) { Verdict::Match } else { Verdict::Mismatch },
        });
    }
}

fn compare_http(a: &TraceReport, b: Option<&TraceReport>, s: &TraceReport, checks: &mut Vec<Check>) {
    for (i, pa) in a.http.iter().enumerate() {
        let key = |p: &crate::run::http::ProbeResult| (p.port, p.method.clone(), p.path.clone());
        let what = format!("{} {} :{}", pa.method, pa.path, pa.port);
        let pb = b.and_then(|b| b.http.iter().find(|p| key(p) == key(pa)));
        let ps = s.http.get(i).filter(|p| key(p) == key(pa)).or_else(|| s.http.iter().find(|p| key(p) == key(pa)));
        let Some(ps) = ps else {
            let verdict = if http_failed(pa) { Verdict::ProbeError } else { Verdict::Mismatch };
            checks.push(Check { what, original: status_of(pa), slim: "not probed".into(), verdict });
            continue;
        };
        let verdict = if http_failed(pa) {
            Verdict::ProbeError
        } else if pa.status != ps.status {
            Verdict::Mismatch
        } else {
            let body_a = String::from_utf8_lossy(&pa.body);
            let body_b = pb.map(|p| String::from_utf8_lossy(&p.body).into_owned());
            judge(&body_a, body_b.as_deref(), &String::from_utf8_lossy(&ps.body))
        };
        checks.push(Check {
            what,
            original: format!("{} {}", status_of(pa), short(&pa.body)),
            slim: format!("{} {}", status_of(ps), short(&ps.body)),
            verdict,
        });
    }
}

fn http_failed(p: &crate::run::http::ProbeResult) -> bool {
    p.status.is_none_or(|s| s >= 500)
}

/// Each step of each protocol conversation.
fn compare_proto(a: &TraceReport, b: Option<&TraceReport>, s: &TraceReport, checks: &mut Vec<Check>) {
    for ra in &a.proto {
        let same = |r: &&ProtoResult| r.port == ra.port && r.proto == ra.proto;
        let (rb, rs) = (b.and_then(|b| b.proto.iter().find(same)), s.proto.iter().find(same));
        let name = format!("{} :{}", ra.proto, ra.port);
        if let Some(e) = &ra.error {
            let slim = rs.map(describe_proto).unwrap_or_else(|| "not probed".into());
            checks.push(Check { what: name, original: format!("error: {e}"), slim, verdict: Verdict::ProbeError });
            continue;
        }
        for (i, step) in ra.steps.iter().enumerate() {
            let what = format!("{name} {}", step.ask);
            let find = |r: &ProtoResult| r.steps.get(i).filter(|x| x.ask == step.ask).cloned();
            let (sb, ss) = (rb.and_then(find), rs.and_then(find));
            let slim = match (&ss, rs) {
                (Some(x), _) => x.answer.clone(),
                (None, Some(r)) => describe_proto(r),
                (None, None) => "not probed".into(),
            };
            let verdict = match &ss {
                _ if !step.ok => Verdict::ProbeError,
                None => Verdict::Mismatch,
                Some(x) if x.ok != step.ok => Verdict::Mismatch,
                Some(x) => judge(&step.answer, sb.as_ref().map(|y| y.answer.as_str()), &x.answer),
            };
            checks.push(Check { what, original: step.answer.clone(), slim, verdict });
        }
    }
}

fn describe_proto(r: &ProtoResult) -> String {
    match &r.error {
        Some(e) => format!("error: {e}"),
        None => "no such step".into(),
    }
}

fn compare_exec(a: &TraceReport, b: Option<&TraceReport>, s: &TraceReport, checks: &mut Vec<Check>) {
    for (i, ea) in a.exec.iter().enumerate() {
        let what = format!("{} {}", ea.source, crate::run::exec::display_argv(&ea.command));
        let failed = ea.exit_code != Some(0);
        let Some(es) = s.exec.get(i) else {
            let verdict = if failed { Verdict::ProbeError } else { Verdict::Mismatch };
            checks.push(Check { what, original: describe_exit(ea.exit_code), slim: "not run".into(), verdict });
            continue;
        };
        let eb = b.and_then(|b| b.exec.get(i));
        let verdict = if failed {
            Verdict::ProbeError
        } else if ea.exit_code != es.exit_code {
            Verdict::Mismatch
        } else {
            judge(&ea.output, eb.map(|e| e.output.as_str()), &es.output)
        };
        checks.push(Check {
            what,
            original: format!("{}: {}", describe_exit(ea.exit_code), short(ea.output.as_bytes())),
            slim: format!("{}: {}", describe_exit(es.exit_code), short(es.output.as_bytes())),
            verdict,
        });
    }
}

/// The user's test container: the same exit code and, run-dependent parts (timings) aside, the
/// same output. Tests that fail on the original prove nothing either way.
fn compare_tests(a: &TraceReport, b: Option<&TraceReport>, s: &TraceReport, checks: &mut Vec<Check>) {
    for ta in &a.tests {
        let what = format!("probe container {}", ta.name);
        let describe = |t: &crate::run::probe_container::TestResult| {
            let last = t.output.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            format!("{}: {}", describe_exit(t.exit_code), short(last.as_bytes()))
        };
        let Some(ts) = s.tests.iter().find(|t| t.name == ta.name) else {
            let verdict = if ta.passed() { Verdict::Mismatch } else { Verdict::ProbeError };
            checks.push(Check { what, original: describe(ta), slim: "not run".into(), verdict });
            continue;
        };
        let tb = b.and_then(|b| b.tests.iter().find(|t| t.name == ta.name));
        let verdict = if !ta.passed() {
            Verdict::ProbeError
        } else if ta.exit_code != ts.exit_code {
            Verdict::Mismatch
        } else if ta.output != ts.output && normalize(&ta.output) == normalize(&ts.output) {
            // A test run's numbers are its timings ("Ran 5 tests in 0.031s"): two runs of the
            // original may print the same by chance, so masked is always the comparison; what a
            // test checks shows in its exit code and its words.
            Verdict::MatchNormalized
        } else {
            judge(&ta.output, tb.map(|t| t.output.as_str()), &ts.output)
        };
        checks.push(Check { what, original: describe(ta), slim: describe(ts), verdict });
    }
}

/// How the run ended: a service still running once probed; a batch job's exit code and output.
fn compare_end(a: &TraceReport, b: Option<&TraceReport>, s: &TraceReport, checks: &mut Vec<Check>) {
    if let Some(state) = &a.after_probes {
        let slim = s.after_probes.clone().unwrap_or_else(|| "did not get that far".into());
        let verdict = if slim == *state { Verdict::Match } else { Verdict::Mismatch };
        checks.push(Check { what: "after the probes".into(), original: state.clone(), slim, verdict });
    }
    if a.exited_by_itself {
        let code = |r: &TraceReport| describe_exit(r.exit_code);
        checks.push(Check {
            what: "exit code".into(),
            original: code(a),
            slim: if s.exited_by_itself { code(s) } else { "still running".into() },
            verdict: if s.exited_by_itself && a.exit_code == s.exit_code { Verdict::Match } else { Verdict::Mismatch },
        });
        checks.push(Check {
            what: "stdout".into(),
            original: short(a.stdout.as_bytes()),
            slim: short(s.stdout.as_bytes()),
            verdict: judge(&a.stdout, b.map(|b| b.stdout.as_str()), &s.stdout),
        });
    }
}

/// The probes that failed on a run: what a verify cannot judge by.
pub fn probe_errors(r: &TraceReport) -> Vec<String> {
    let mut out = Vec::new();
    for p in r.http.iter().filter(|p| http_failed(p)) {
        out.push(format!("{} {} on port {}: {}", p.method, p.path, p.port, status_of(p)));
    }
    for p in &r.proto {
        if let Some(e) = &p.error {
            out.push(format!("{} on port {}: {e}", p.proto, p.port));
        }
        for step in p.steps.iter().filter(|s| !s.ok) {
            out.push(format!("{} on port {}: {} answered {}", p.proto, p.port, step.ask, step.answer));
        }
    }
    for e in r.exec.iter().filter(|e| e.exit_code != Some(0)) {
        let (what, how) = (crate::run::exec::display_argv(&e.command), describe_exit(e.exit_code));
        out.push(format!("{} `{what}`: {how}: {}", e.source, short(e.output.as_bytes())));
    }
    for t in r.tests.iter().filter(|t| !t.passed()) {
        let last = t.output.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        out.push(format!("probe container {}: {}: {}", t.name, describe_exit(t.exit_code), short(last.as_bytes())));
    }
    out
}

fn status_of(p: &crate::run::http::ProbeResult) -> String {
    match (p.status, &p.error) {
        (Some(st), _) => st.to_string(),
        (None, Some(e)) => format!("error: {e}"),
        (None, None) => "no answer".into(),
    }
}

/// A file the slim run looked for and did not find, which the original image has.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Missing {
    /// The path as looked up.
    pub path: String,
    /// Where it leads in the original image.
    pub resolved: String,
    pub how: String,
    pub by: String,
}

/// The slim run's failed lookups that the original image would have satisfied.
/// A file the app failed to create (a lock file, a socket) names its directory instead: missing
/// when the original has it and the slim image does not. The runtime's own mounts (/proc,
/// /sys, /dev) are never image content.
pub fn missing_files(slim_run: &Touched, original: &FileIndex, slim_keep: &KeepSet) -> Vec<Missing> {
    let mut out: Vec<Missing> = Vec::new();
    let runtime_mount = |p: &str| ["/proc", "/sys", "/dev"].iter().any(|m| p == *m || p.starts_with(&format!("{m}/")));
    let looked_up = slim_run.missing.iter().map(|(p, t)| (p.clone(), t));
    let dirs = slim_run.create_failed.iter().map(|(p, t)| (crate::image::index::entry::parent(p).to_owned(), t));
    for (wanted, t) in looked_up.chain(dirs).filter(|(p, _)| !runtime_mount(p) && p != "/") {
        let Ok(r) = resolve(original, &wanted, "/", true) else { continue };
        if slim_keep.contains(&r.path) || out.iter().any(|m| m.path == wanted) {
            continue;
        }
        out.push(Missing { path: wanted, resolved: r.path, how: t.how.to_owned(), by: t.by.clone() });
    }
    out
}

/// What the original's run used (path, how, by whom) that the slim image lacks: an excluded
/// file, or one only verify's own probes reached. Named when an answer differs, as its likely
/// cause: the slim run may fail without ever looking for it (Python, for one, lists a
/// directory once and looks no further for a module that is not there).
pub fn used_but_absent<'a>(
    used: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
    original: &FileIndex,
    slim_keep: &KeepSet,
    already: &[Missing],
) -> Vec<Missing> {
    let mut out: Vec<Missing> = Vec::new();
    for (path, how, by) in used {
        let Ok(r) = resolve(original, path, "/", true) else { continue };
        let known = |m: &Missing| m.path == path || m.resolved == r.path;
        if slim_keep.contains(&r.path) || already.iter().any(known) || out.iter().any(known) {
            continue;
        }
        // Directories the slim image keeps part of are no cause; their files are.
        if original.get(&r.path).is_some_and(|e| e.is_dir()) {
            continue;
        }
        out.push(Missing {
            path: path.to_owned(),
            resolved: r.path,
            how: format!("{how} by the original"),
            by: by.to_owned(),
        });
    }
    out
}

/// Whether any answer differs.
pub fn mismatched(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.verdict == Verdict::Mismatch)
}

/// One verify round: what the slim image of that round did, and what the next round adds.
#[derive(Debug, Serialize)]
pub struct Round {
    pub round: u32,
    pub slim_bytes: u64,
    pub checks: Vec<Check>,
    pub missing: Vec<Missing>,
    pub added: Vec<String>,
    /// The slim container's last output, when it failed or ended while the original ran on.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub slim_logs: String,
}

/// The slim run's last output, worth showing when it failed or ended early.
pub fn failure_logs(original: &TraceReport, slim: &TraceReport) -> String {
    let last = |text: &str, n: usize| {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    };
    // A test that passed on the original and fails on the slim image says best what broke.
    let failed_tests: Vec<String> = slim
        .tests
        .iter()
        .filter(|t| !t.passed() && original.tests.iter().any(|o| o.name == t.name && o.passed()))
        .map(|t| format!("probe container {} ({}):\n{}", t.name, describe_exit(t.exit_code), last(&t.output, 15)))
        .collect();
    let ended = original.after_probes.as_deref() == Some("running") && slim.after_probes.as_deref() != Some("running");
    let mut out = failed_tests.join("\n");
    if slim.failure.is_some() || ended {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&last(&slim.logs_tail, 10));
    }
    out
}

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    /// Behaves like the original: no mismatch, nothing missing, and something was compared.
    pub ok: bool,
    pub outcome: Outcome,
    pub rounds: Vec<Round>,
    /// Runs of the original verify made itself: none when the traced run's answers served and
    /// every answer matched; one more when an answer differed, to tell run-dependent answers.
    pub original_runs: usize,
}

impl VerifyReport {
    pub fn new(rounds: Vec<Round>, original_runs: usize) -> VerifyReport {
        let outcome = rounds.last().map(|r| outcome(&r.checks, &r.missing)).unwrap_or(Outcome::ComparedNothing);
        VerifyReport { ok: outcome == Outcome::Behaves, outcome, rounds, original_runs }
    }

    /// The one line that sums it up.
    pub fn verdict_line(&self) -> &'static str {
        match self.outcome {
            Outcome::Behaves => "the slim image behaves like the original",
            Outcome::Differs => "MISMATCH",
            Outcome::ComparedNothing => {
                "NOTHING COMPARED: every probe failed on the original, so nothing shows the slim image works"
            }
        }
    }
}

/// How a round's checks came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Something was compared, all of it matched, nothing is missing.
    Behaves,
    Differs,
    /// Every check was a probe error: nothing was compared.
    ComparedNothing,
}

pub fn outcome(checks: &[Check], missing: &[Missing]) -> Outcome {
    if checks.iter().any(|c| !c.verdict.ok()) || !missing.is_empty() {
        Outcome::Differs
    } else if checks.iter().any(|c| c.verdict.matched()) {
        Outcome::Behaves
    } else {
        Outcome::ComparedNothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_masks_digits_and_ids() {
        assert_eq!(normalize("at 12:03:59, id 3f2a9c1b7e"), "at 0:0:0, id x");
        assert_eq!(normalize("now 1795678880.7977319"), normalize("now 1795678884.917044"));
        assert_eq!(normalize("now 1795678933.677686"), normalize("now 1795678938.1633408"));
        assert_eq!(normalize("deadbeef is not masked without a digit"), "deadbeef is not masked without a digit");
        assert_eq!(normalize("ünïcode 42"), "ünïcode 0");
    }

    #[test]
    fn a_stable_original_must_match_exactly() {
        assert_eq!(judge("ok 1", Some("ok 1"), "ok 1"), Verdict::Match);
        assert_eq!(judge("ok 1", Some("ok 1"), "ok 2"), Verdict::Mismatch);
        assert_eq!(judge("ok", None, "ko"), Verdict::Mismatch);
    }

    #[test]
    fn a_timestamp_in_the_original_is_not_a_mismatch() {
        let a = r#"{"time": "2026-11-26T07:01:02Z"}"#;
        let b = r#"{"time": "2026-11-26T07:01:09Z"}"#;
        let s = r#"{"time": "2026-11-26T07:02:13Z"}"#;
        assert_eq!(judge(a, Some(b), s), Verdict::MatchNormalized);
        assert_eq!(judge(a, Some(b), r#"{"error": "no module"}"#), Verdict::Mismatch);
    }

    #[test]
    fn exec_checks_read_exit_codes_as_words() {
        use crate::run::exec::ExecResult;
        let ran = |code| TraceReport {
            exec: vec![ExecResult {
                command: ["/bin/sh", "-c", "ls -l /"].map(String::from).to_vec(),
                source: "exec",
                exit_code: code,
                output: "x".into(),
                ms: 1,
            }],
            ..Default::default()
        };
        let checks = compare(&ran(Some(0)), None, &ran(None));
        assert_eq!(checks[0].what, "exec /bin/sh -c 'ls -l /'");
        assert_eq!(checks[0].original, "exit 0: x");
        assert_eq!(checks[0].slim, "still running: x");
        assert_eq!(checks[0].verdict, Verdict::Mismatch);
        let checks = compare(&ran(Some(137)), None, &ran(Some(137)));
        assert_eq!(checks[0].original, "killed by signal 9: x");
        assert_eq!(Verdict::MatchNormalized.to_string(), "match (run-dependent parts masked)");
    }

    #[test]
    fn a_missing_directory_is_named_by_the_file_the_app_wanted_in_it() {
        use crate::image::index::tar::{scan_layer, tests::layer_tar};
        use sensor::event::{Event, FileAccess, FileOp, Proc};
        let tar = layer_tar(&[("run/postgresql/", 'd', ""), ("var/run", 'l', "/run"), ("proc/", 'd', "")]);
        let mut original = FileIndex::new();
        original.apply_layer(scan_layer(&tar[..], 0, "t", &[]).unwrap(), None);
        let mut slim_run = Touched::default();
        let lookups = [("/var/run/postgresql/.s.PGSQL.5432.lock", 0o100), ("/proc/nonexistent", 0o100)];
        let lookups = lookups.into_iter().chain([("/nowhere/x", 0o100), ("/run/postgresql/x.conf", 0)]);
        for (path, flags) in lookups {
            let proc = Proc { pid: 1, tid: 1, comm: "postgres".into(), mnt_ns: 1, ts_ns: 0 };
            slim_run.add(&Event::File(FileAccess::absolute(proc, FileOp::Open, path, flags, -2)));
        }
        let slim_keep = KeepSet::of_paths(&["/var/run".to_owned()]);
        let missing = missing_files(&slim_run, &original, &slim_keep);
        let found: Vec<(&str, &str)> = missing.iter().map(|m| (m.path.as_str(), m.resolved.as_str())).collect();
        assert_eq!(found, [("/var/run/postgresql", "/run/postgresql")], "a plain lookup names no directory");
    }

    #[test]
    fn test_containers_compare_by_exit_code_and_masked_output() {
        use crate::run::probe_container::TestResult;
        let ran = |code: Option<i64>, out: &str| TraceReport {
            tests: vec![TestResult {
                name: "tests".into(),
                image_id: "sha256:t".into(),
                exit_code: code,
                output: out.into(),
                seconds: 1.0,
            }],
            ..Default::default()
        };
        let (a, b) = (ran(Some(0), "Ran 5 tests in 0.031s\nOK\n"), ran(Some(0), "Ran 5 tests in 0.044s\nOK\n"));
        let same = compare(&a, Some(&b), &ran(Some(0), "Ran 5 tests in 0.027s\nOK\n"));
        assert_eq!((same[0].what.as_str(), same[0].verdict), ("probe container tests", Verdict::MatchNormalized));
        assert_eq!(same[0].original, "exit 0: OK");
        // The original printed the same timing twice; the slim image another: still a match.
        let lucky = compare(&a, Some(&a.clone()), &ran(Some(0), "Ran 5 tests in 0.027s\nOK\n"));
        assert_eq!(lucky[0].verdict, Verdict::MatchNormalized);
        let other_words = compare(&a, Some(&a.clone()), &ran(Some(0), "Ran 4 tests in 0.031s\nOK (skipped=1)\n"));
        assert_eq!(other_words[0].verdict, Verdict::Mismatch);
        let failed = compare(&a, None, &ran(Some(1), "Ran 5 tests\nFAILED (errors=1)\n"));
        assert_eq!((failed[0].slim.as_str(), failed[0].verdict), ("exit 1: FAILED (errors=1)", Verdict::Mismatch));
        assert!(failure_logs(&a, &ran(Some(1), "FAILED (errors=1)")).contains("probe container tests (exit 1)"));
        // Tests that fail on the original prove nothing, and are named as a probe error.
        let broken = ran(Some(1), "FAILED");
        assert_eq!(compare(&broken, None, &a)[0].verdict, Verdict::ProbeError);
        assert_eq!(probe_errors(&broken), ["probe container tests: exit 1: FAILED"]);
        assert_eq!(compare(&a, None, &TraceReport::default())[0].slim, "not run");
    }

    #[test]
    fn what_the_original_used_and_the_slim_image_lacks_is_named() {
        use crate::image::index::tar::{scan_layer, tests::layer_tar};
        let tar =
            layer_tar(&[("app/", 'd', ""), ("app/stats.py", 'f', "x"), ("app/app.py", 'f', "y"), ("lib", 'l', "app")]);
        let mut original = FileIndex::new();
        original.apply_layer(scan_layer(&tar[..], 0, "t", &[]).unwrap(), None);
        let keep = KeepSet::of_paths(&["/app".to_owned(), "/app/app.py".to_owned()]);
        let used = [
            ("/app/app.py", "exec", "python3[1]"),
            ("/lib/stats.py", "open", "python3[1]"),
            ("/app/stats.py", "open", "python3[1]"),
            ("/app", "list", "python3[1]"),
            ("/gone", "stat", "python3[1]"),
        ];
        let absent = used_but_absent(used.into_iter(), &original, &keep, &[]);
        let found: Vec<(&str, &str, &str)> =
            absent.iter().map(|m| (m.path.as_str(), m.resolved.as_str(), m.how.as_str())).collect();
        assert_eq!(found, [("/lib/stats.py", "/app/stats.py", "open by the original")], "once, by its first name");
    }

    #[test]
    fn an_answer_that_varies_even_masked_is_judged_by_status() {
        assert_eq!(
            judge("quote: carpe diem", Some("quote: memento mori"), "quote: alea iacta est"),
            Verdict::MatchStatus
        );
    }
}
