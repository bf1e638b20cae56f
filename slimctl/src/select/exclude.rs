//! What the user keeps and drops by kind rather than by path: programs by name through the
//! image's PATH (`--include-program`, mint's `--include-exe`), and globs of paths never kept
//! (`--exclude-glob`, mint's `--exclude-pattern`), applied after every rule.

use super::{Closure, SelectError};
use crate::image::index::resolve::resolve;
use crate::image::{FileIndex, Image};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// `name`'s path in the image: a path as given, else the first PATH directory holding it.
pub fn find_program(image: &Image, name: &str) -> Result<String, SelectError> {
    if name.contains('/') {
        return Ok(name.to_owned());
    }
    let dirs = image.config.path_dirs();
    for dir in &dirs {
        let candidate = format!("{}/{name}", dir.trim_end_matches('/'));
        if resolve(&image.index, &candidate, "/", true)
            .is_ok_and(|r| image.index.get(&r.path).is_some_and(|e| !e.is_dir()))
        {
            return Ok(candidate);
        }
    }
    Err(SelectError::ProgramMissing { name: name.to_owned(), path: dirs.join(":") })
}

/// The user's exclude globs, compiled once.
pub struct Globs {
    set: GlobSet,
    globs: Vec<String>,
}

impl Globs {
    pub fn new(globs: &[String]) -> Result<Globs, SelectError> {
        let mut b = GlobSetBuilder::new();
        for g in globs {
            if !g.starts_with('/') && !g.starts_with("**") {
                return Err(SelectError::BadGlob {
                    glob: g.clone(),
                    reason: "a glob of image paths starts with / or **".into(),
                });
            }
            // `*` stays within a directory; `**` crosses them.
            let glob = GlobBuilder::new(g)
                .literal_separator(true)
                .build()
                .map_err(|e| SelectError::BadGlob { glob: g.clone(), reason: e.kind().to_string() })?;
            b.add(glob);
        }
        let set = b.build().map_err(|e| SelectError::BadGlob { glob: globs.join(" "), reason: e.to_string() })?;
        Ok(Globs { set, globs: globs.to_vec() })
    }

    /// The globs no path of `index` matches (worth a warning: a typo drops nothing).
    pub fn unmatched(&self, index: &FileIndex) -> Vec<String> {
        let mut hit = vec![false; self.globs.len()];
        for (path, _) in index.iter() {
            for i in self.set.matches(path) {
                hit[i] = true;
            }
            if hit.iter().all(|h| *h) {
                break;
            }
        }
        self.globs.iter().zip(hit).filter(|(_, h)| !h).map(|(g, _)| g.clone()).collect()
    }

    /// Drops the kept paths a glob matches, and records which glob dropped each. A directory
    /// that still holds kept paths stays (as their parent).
    pub fn apply(&self, index: &FileIndex, closure: &mut Closure) {
        if self.globs.is_empty() {
            return;
        }
        // Deepest first: a directory is judged once its children are.
        let kept: Vec<String> = closure.keep.paths.keys().rev().cloned().collect();
        for path in kept {
            let Some(i) = self.set.matches(&path).first().copied() else { continue };
            let is_dir = index.get(&path).is_some_and(|e| e.is_dir());
            let prefix = format!("{path}/");
            if is_dir && closure.keep.paths.range(prefix.clone()..).next().is_some_and(|(p, _)| p.starts_with(&prefix))
            {
                continue;
            }
            closure.keep.paths.remove(&path);
            closure.overrides.remove(&path);
            closure.excluded.insert(path, self.globs[i].clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::keep::{KeepSet, Reason};

    #[test]
    fn globs_drop_what_they_name_after_everything_else() {
        let idx = crate::select::packages::tests::index(
            &[
                ("usr/share/doc/a/README.md", "x"),
                ("usr/share/doc/a/copyright", "x"),
                ("usr/share/man/x.1.gz", "x"),
                ("app/NOTES.md", "x"),
            ],
            &[],
        );
        let mut c = Closure { keep: KeepSet::default(), ..Closure::default() };
        for p in ["/usr/share/doc/a/README.md", "/usr/share/doc/a/copyright", "/usr/share/man/x.1.gz", "/app/NOTES.md"]
        {
            c.keep.keep_with_parents(p, Reason::WorkingDir);
        }
        let g = Globs::new(&["/usr/share/**/*.md".into(), "/usr/share/man/**".into(), "/nothing/**".into()]).unwrap();
        g.apply(&idx, &mut c);
        assert!(!c.keep.contains("/usr/share/doc/a/README.md"));
        assert!(c.keep.contains("/usr/share/doc/a/copyright"));
        assert!(c.keep.contains("/app/NOTES.md"), "outside /usr/share");
        assert!(!c.keep.contains("/usr/share/man/x.1.gz"));
        assert_eq!(c.excluded["/usr/share/doc/a/README.md"], "/usr/share/**/*.md");
        assert_eq!(g.unmatched(&idx), ["/nothing/**"]);
        assert!(Globs::new(&["relative/*.md".into()]).is_err());
        assert!(Globs::new(&["/a/[b".into()]).is_err());
    }
}
