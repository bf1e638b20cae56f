//! The keep-set and its vocabulary: which paths the slim image holds, and why each is there.

use crate::image::index::entry::parent;
use serde::Serialize;
use smallvec::SmallVec;
use std::collections::BTreeMap;

/// Text in a reason: shared, since one reason is often recorded for many paths (every file of an
/// included tree, every module an import statement reaches) and cloned for each.
pub type Text = std::sync::Arc<str>;

/// Why a path is in the slim image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Asked for with `--include`.
    Included {
        path: Text,
    },
    /// Inside a directory that was asked for.
    InIncludedDir {
        dir: Text,
    },
    /// ENTRYPOINT/CMD program, found through the image's PATH.
    Entrypoint {
        argv0: Text,
    },
    /// The config's USER needs the user and group databases.
    UserDatabase {
        user: Text,
    },
    WorkingDir,
    Volume,
    /// A symlink followed while resolving another kept path.
    SymlinkOnPath {
        to: Text,
    },
    /// Where a kept symlink points.
    SymlinkTarget {
        of: Text,
    },
    Parent {
        of: Text,
    },
    /// PT_INTERP of a kept ELF file.
    ElfInterpreter {
        of: Text,
    },
    /// DT_NEEDED of a kept ELF file.
    ElfNeeded {
        of: Text,
        soname: Text,
    },
    /// The `#!` interpreter of a kept script.
    ScriptInterpreter {
        of: Text,
    },
    /// Used by the traced container: `how` is the access (open, exec, stat, list, ...), `by`
    /// the process (`comm[pid]`).
    Traced {
        how: Text,
        by: Text,
    },
    /// A directory the traced container created files in (what it created is not copied).
    WrittenIn {
        by: Text,
    },
    /// Looked up and not found by the slim image in verify round `round`, present in the original.
    Healed {
        by: Text,
        round: u32,
    },
    /// A coverage rule's prediction: `what` (a module, a command, a data set) is reachable from
    /// the kept path `of` although no probe reached it.
    Rule {
        rule: &'static str,
        what: Text,
        of: Text,
    },
    /// Touched while the sweep loaded `what` (`import decimal`) in the original image: a
    /// coverage rule reached it, and loading it showed what it needs.
    Sweep {
        what: Text,
    },
    /// Package metadata kept true for scanners: the release file, and the records of the
    /// packages that keep files, their file lists trimmed to the files kept.
    PackageMetadata,
}

impl Reason {
    /// Which part of the keep-set the reason belongs to, for the size accounting: what the run
    /// used, what that needs (closure), what each coverage rule added, what the user asked for.
    pub fn category(&self) -> std::borrow::Cow<'static, str> {
        let fixed = match self {
            Reason::Rule { rule, .. } => return format!("coverage:{rule}").into(),
            Reason::Traced { .. } | Reason::WrittenIn { .. } => "traced",
            Reason::Healed { .. } => "healed",
            Reason::Sweep { .. } => "sweep",
            Reason::PackageMetadata => "package-metadata",
            Reason::Included { .. } | Reason::InIncludedDir { .. } => "included",
            Reason::Entrypoint { .. } | Reason::UserDatabase { .. } | Reason::WorkingDir | Reason::Volume => "config",
            Reason::SymlinkOnPath { .. }
            | Reason::SymlinkTarget { .. }
            | Reason::Parent { .. }
            | Reason::ElfInterpreter { .. }
            | Reason::ElfNeeded { .. }
            | Reason::ScriptInterpreter { .. } => "closure",
        };
        fixed.into()
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Included { path } => write!(f, "--include {path}"),
            Reason::InIncludedDir { dir } => write!(f, "inside included {dir}"),
            Reason::Entrypoint { argv0 } => write!(f, "entrypoint {argv0}"),
            Reason::UserDatabase { user } => write!(f, "user database for USER {user}"),
            Reason::WorkingDir => write!(f, "working directory"),
            Reason::Volume => write!(f, "volume"),
            Reason::SymlinkOnPath { to } => write!(f, "symlink on the way to {to}"),
            Reason::SymlinkTarget { of } => write!(f, "target of symlink {of}"),
            Reason::Parent { of } => write!(f, "parent of {of}"),
            Reason::ElfInterpreter { of } => write!(f, "ELF interpreter of {of}"),
            Reason::ElfNeeded { of, soname } => write!(f, "{soname} needed by {of}"),
            Reason::ScriptInterpreter { of } => write!(f, "#! interpreter of {of}"),
            Reason::Traced { how, by } => write!(f, "{how} by {by}"),
            Reason::WrittenIn { by } => write!(f, "written into by {by}"),
            Reason::Healed { by, round } => write!(f, "missing in the slim image for {by} (added in round {round})"),
            Reason::Rule { rule, what, of } => write!(f, "{what}, reachable from {of} (rule {rule})"),
            Reason::Sweep { what } => write!(f, "loaded by the sweep's {what}"),
            Reason::PackageMetadata => write!(f, "package metadata of the kept packages, for scanners"),
        }
    }
}

/// Reasons kept per path: enough to explain it, bounded so that `/usr` does not list every file.
const MAX_REASONS: usize = 3;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Kept {
    /// Most paths have one reason: it is held inline, not in an allocation of its own (an image
    /// may keep a million paths).
    pub reasons: SmallVec<[Reason; 1]>,
    /// Reasons beyond the ones listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub more: u32,
    /// Whether the closure followed what this path needs already.
    #[serde(skip)]
    pub(crate) examined: bool,
}

impl Kept {
    /// Whether the traced run did `how` (`"exec"`, `"open"`...) on this path.
    pub fn traced(&self, how: &str) -> bool {
        self.reasons.iter().any(|r| matches!(r, Reason::Traced { how: h, .. } if &**h == how))
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct KeepSet {
    pub paths: BTreeMap<String, Kept>,
}

impl KeepSet {
    /// Every path of `paths` kept with no reason (what an existing image holds).
    pub fn of_paths<S: AsRef<str>>(paths: impl IntoIterator<Item = S>) -> KeepSet {
        KeepSet { paths: paths.into_iter().map(|p| (p.as_ref().to_owned(), Kept::default())).collect() }
    }
    pub fn contains(&self, path: &str) -> bool {
        self.paths.contains_key(path)
    }
    pub fn len(&self) -> usize {
        self.paths.len()
    }
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }
    /// Keeps `path` and its parents (they must be in the index) for `reason`. Returns whether
    /// `path` was new.
    pub fn keep_with_parents(&mut self, path: &str, reason: Reason) -> bool {
        let new = self.add(path, reason);
        if new {
            let (mut child, mut p) = (path, parent(path));
            while p != "/" {
                if !self.add(p, Reason::Parent { of: child.into() }) {
                    break;
                }
                (child, p) = (p, parent(p));
            }
        }
        new
    }

    /// Marks `path` examined by the closure; returns whether it was not yet (a path not kept
    /// counts as not examined).
    pub(crate) fn examine_once(&mut self, path: &str) -> bool {
        self.paths.get_mut(path).is_none_or(|k| !std::mem::replace(&mut k.examined, true))
    }

    /// Whether the closure followed what `path` needs already.
    pub(crate) fn examined(&self, path: &str) -> bool {
        self.paths.get(path).is_some_and(|k| k.examined)
    }

    /// Records `reason` for `path`. Returns whether the path was new.
    pub fn add(&mut self, path: &str, reason: Reason) -> bool {
        match self.paths.get_mut(path) {
            Some(k) => {
                if k.reasons.len() < MAX_REASONS && !k.reasons.contains(&reason) {
                    k.reasons.push(reason);
                } else {
                    k.more += 1;
                }
                false
            }
            None => {
                self.paths.insert(path.to_owned(), Kept { reasons: smallvec::smallvec![reason], ..Kept::default() });
                true
            }
        }
    }
}

/// A path to start from.
#[derive(Debug, Clone)]
pub struct Seed {
    pub path: String,
    pub reason: Reason,
    /// A traced path may not be an image file at all (/proc, a mounted volume, a file the app
    /// created): then it is skipped quietly instead of reported as unresolved.
    pub optional: bool,
}

/// Something the closure could not find. For explicit includes this is the user's error.
#[derive(Debug, Clone, Serialize)]
pub struct Unresolved {
    pub path: String,
    pub wanted_by: Reason,
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_kept_with_the_path_and_reasons_are_bounded() {
        let mut k = KeepSet::default();
        assert!(k.keep_with_parents("/a/b/c", Reason::WorkingDir));
        assert_eq!(k.paths.keys().collect::<Vec<_>>(), ["/a", "/a/b", "/a/b/c"]);
        assert_eq!(&k.paths["/a"].reasons[..], [Reason::Parent { of: "/a/b".into() }]);
        for i in 0..5 {
            k.add("/a/b/c", Reason::Healed { by: "x".into(), round: i });
        }
        assert_eq!(k.paths["/a/b/c"].reasons.len(), MAX_REASONS);
        assert_eq!(k.paths["/a/b/c"].more, 3);
        assert!(!k.keep_with_parents("/a/b/c", Reason::Volume), "not new");
    }

    #[test]
    fn rule_reasons_are_their_own_category() {
        let r = Reason::Rule { rule: "python-imports", what: "module json".into(), of: "/app/app.py".into() };
        assert_eq!(r.category(), "coverage:python-imports");
        assert_eq!(r.to_string(), "module json, reachable from /app/app.py (rule python-imports)");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["kind"], "rule");
        assert_eq!(json["rule"], "python-imports");
    }
}
