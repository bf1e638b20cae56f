//! Step heal: what a round's slim image looked for and the original has goes into the next
//! round's seeds (with its closure), while rounds are left and it does not behave.

use crate::select::{Reason, Seed};
use crate::verify::{outcome, Outcome, Round};
use std::collections::HashSet;

/// The paths the next round adds: what the slim image missed and no seed names yet; none when
/// it behaves, or no round is left (healing off, or the last round).
pub fn additions(round: &Round, seeds: &[Seed], rounds_left: bool) -> Vec<String> {
    if !rounds_left || outcome(&round.checks, &round.missing) != Outcome::Differs {
        return Vec::new();
    }
    let seeded: HashSet<&str> = seeds.iter().map(|s| s.path.as_str()).collect();
    round.missing.iter().map(|m| m.path.clone()).filter(|p| !seeded.contains(p.as_str())).collect()
}

/// The seeds for `round`'s additions, named as healed in round `next`.
pub fn seeds(round: &Round, next: u32) -> Vec<Seed> {
    round
        .missing
        .iter()
        .filter(|m| round.added.contains(&m.path))
        .map(|m| Seed {
            path: m.path.clone(),
            reason: Reason::Healed { by: m.by.clone().into(), round: next },
            optional: true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{Check, Missing, Verdict};

    fn round(verdict: Verdict, missing: &[&str]) -> Round {
        Round {
            round: 0,
            slim_bytes: 1,
            checks: vec![Check { what: "GET /".into(), original: "200".into(), slim: "500".into(), verdict }],
            missing: missing
                .iter()
                .map(|p| Missing {
                    path: p.to_string(),
                    resolved: p.to_string(),
                    how: "open".into(),
                    by: "app[1]".into(),
                })
                .collect(),
            added: Vec::new(),
            slim_logs: String::new(),
        }
    }

    #[test]
    fn a_round_that_differs_adds_what_is_missing_and_not_seeded() {
        let seeded = [Seed { path: "/app/a".into(), reason: Reason::WorkingDir, optional: true }];
        let mut r = round(Verdict::Mismatch, &["/app/a", "/app/b"]);
        r.added = additions(&r, &seeded, true);
        assert_eq!(r.added, ["/app/b"]);
        let next = seeds(&r, 1);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].reason, Reason::Healed { by: "app[1]".into(), round: 1 });
        assert!(additions(&r, &seeded, false).is_empty(), "no round left");
        assert!(additions(&round(Verdict::Match, &[]), &seeded, true).is_empty(), "it behaves");
    }
}
