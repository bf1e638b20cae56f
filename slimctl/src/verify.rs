//! Does the slim image behave like the original? Compares what the same probes got from both,
//! and finds the files the slim run looked for that the original image has.
//!
//! Answers that vary between two runs of the original (a timestamp, a counter, a random id)
//! are compared after normalization; answers that vary even then are compared by status only.
use crate::image::index::FileIndex;
use crate::image::ImageConfig;
use crate::run::describe_exit;
use crate::run::touched::Touched;
use crate::run::traced::{trace_run, ProbePlan, TraceError, TraceReport, TracedRun};
use crate::run::RunSpec;
use crate::select::resolve::resolve;
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
}

impl Verdict {
    pub fn ok(self) -> bool {
        self != Verdict::Mismatch
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Match => "match",
            Verdict::MatchNormalized => "match (run-dependent parts masked)",
            Verdict::MatchStatus => "match (status only)",
            Verdict::Mismatch => "MISMATCH",
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
    pub async fn original(&self, spec: &RunSpec, plan: &ProbePlan, label: &str) -> Result<TracedRun, TraceError> {
        let bar = crate::progress::spinner(label);
        let run = trace_run(self.docker, self.config, spec, plan, self.has_shell).await;
        bar.finish_and_clear();
        run
    }

    /// A run of the slim image `spec.image_id` under `plan` (and the seccomp profile).
    pub async fn slim(&self, mut spec: RunSpec, plan: &ProbePlan) -> Result<TracedRun, TraceError> {
        if let Some(json) = &self.seccomp {
            spec.security_opt.push(format!("seccomp={json}"));
        }
        let bar = crate::progress::spinner("verify: running the slim image");
        let run = trace_run(self.docker, self.config, &spec, plan, self.has_shell).await;
        bar.finish_and_clear();
        run
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
/// was one, to tell run-dependent answers from real differences).
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
    for (i, pa) in a.http.iter().enumerate() {
        let key = |p: &crate::run::http::ProbeResult| (p.port, p.method.clone(), p.path.clone());
        let what = format!("{} {} :{}", pa.method, pa.path, pa.port);
        let pb = b.and_then(|b| b.http.iter().find(|p| key(p) == key(pa)));
        let ps = s.http.get(i).filter(|p| key(p) == key(pa)).or_else(|| s.http.iter().find(|p| key(p) == key(pa)));
        let Some(ps) = ps else {
            checks.push(Check { what, original: status_of(pa), slim: "not probed".into(), verdict: Verdict::Mismatch });
            continue;
        };
        let verdict = if pa.status != ps.status {
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
    for (i, ea) in a.exec.iter().enumerate() {
        let what = format!("{} {}", ea.source, crate::run::exec::display_argv(&ea.command));
        let Some(es) = s.exec.get(i) else {
            checks.push(Check {
                what,
                original: describe_exit(ea.exit_code),
                slim: "not run".into(),
                verdict: Verdict::Mismatch,
            });
            continue;
        };
        let eb = b.and_then(|b| b.exec.get(i));
        let verdict = if ea.exit_code != es.exit_code {
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
    checks
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
pub fn missing_files(slim_run: &Touched, original: &FileIndex, slim_keep: &KeepSet) -> Vec<Missing> {
    slim_run
        .missing
        .iter()
        .filter_map(|(path, t)| {
            let r = resolve(original, path, "/", true).ok()?;
            (!slim_keep.contains(&r.path)).then(|| Missing {
                path: path.clone(),
                resolved: r.path,
                how: t.how.to_owned(),
                by: t.by.clone(),
            })
        })
        .collect()
}

/// One verify round: what the slim image of that round did, and what the next round adds.
#[derive(Debug, Serialize)]
pub struct Round {
    pub round: u32,
    pub slim_bytes: u64,
    pub checks: Vec<Check>,
    pub missing: Vec<Missing>,
    pub added: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub rounds: Vec<Round>,
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
    fn an_answer_that_varies_even_masked_is_judged_by_status() {
        assert_eq!(
            judge("quote: carpe diem", Some("quote: memento mori"), "quote: alea iacta est"),
            Verdict::MatchStatus
        );
    }
}
