//! Step heal: what a round's slim image looked for and the original has goes into the next
//! round's seeds (with its closure), while rounds are left and it does not behave.

use crate::select::closure::covering_exclude;
use crate::select::{Reason, Seed};
use crate::verify::{outcome, Outcome, Round};
use std::collections::HashSet;

/// The paths the next round adds: what the slim image missed and no round healed yet (a path
/// seeded otherwise may have been dropped by an exclude, which healing overrides); none when it
/// behaves, or no round is left (healing off, or the last round).
pub fn additions(round: &Round, seeds: &[Seed], rounds_left: bool) -> Vec<String> {
    if !rounds_left || outcome(&round.checks, &round.missing) != Outcome::Differs {
        return Vec::new();
    }
    let seeded: HashSet<&str> =
        seeds.iter().filter(|s| matches!(s.reason, Reason::Healed { .. })).map(|s| s.path.as_str()).collect();
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

/// The healed seeds an exclude would drop, with that exclude: healing keeps them anyway (a
/// round proved the slim image needs them), and says so.
pub fn over_excludes<'a>(healed: &'a [Seed], excludes: &'a [String]) -> Vec<(&'a str, &'a str)> {
    healed.iter().filter_map(|s| covering_exclude(&s.path, excludes).map(|ex| (s.path.as_str(), ex.as_str()))).collect()
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
        let healed = Reason::Healed { by: "app[1]".into(), round: 1 };
        let seeded = [
            Seed { path: "/app/a".into(), reason: healed, optional: true },
            Seed { path: "/app/b".into(), reason: Reason::WorkingDir, optional: true },
        ];
        let mut r = round(Verdict::Mismatch, &["/app/a", "/app/b"]);
        r.added = additions(&r, &seeded, true);
        assert_eq!(r.added, ["/app/b"], "a path seeded but not kept (excluded) may still be healed");
        let next = seeds(&r, 1);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].reason, Reason::Healed { by: "app[1]".into(), round: 1 });
        assert!(additions(&r, &seeded, false).is_empty(), "no round left");
        assert!(additions(&round(Verdict::Match, &[]), &seeded, true).is_empty(), "it behaves");
        let excludes = ["/app/".to_owned(), "/srv".to_owned()];
        assert_eq!(over_excludes(&next, &excludes), [("/app/b", "/app/")]);
        assert!(over_excludes(&next, &["/ap".to_owned()]).is_empty(), "a prefix of a name is no parent");
    }
}
