//! The build context as `docker build` sends it: the context directory as a tar, less what its
//! `.dockerignore` excludes, owned by root, links kept as links (never followed: the context is
//! the user's directory, and a link out of it must not carry host files into the image).
//!
//! `.dockerignore` follows Docker's rules: one pattern a line, `#` comments, `!` re-includes,
//! `*` and `?` within a path component, `**` across them; a pattern that matches a directory
//! matches what is under it; the last pattern that matches decides. The Dockerfile and the
//! `.dockerignore` itself are always sent, as Docker's CLI does.

use globset::{Glob, GlobMatcher};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Why the context could not be read or sent.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{}: line {line}: {reason}", path.display())]
    Ignore { path: PathBuf, line: usize, reason: String },
    #[error("cannot read the build context at {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `.dockerignore`'s patterns, in order.
#[derive(Debug, Default)]
pub struct Ignore {
    patterns: Vec<(GlobMatcher, bool)>,
}

impl Ignore {
    /// The patterns of `text` (the file at `path`, named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Ignore, ContextError> {
        let mut patterns = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negated, pat) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(pat);
            if cleaned.is_empty() {
                continue;
            }
            let glob = globset::GlobBuilder::new(&cleaned).literal_separator(true).backslash_escape(true).build();
            let glob = glob.map_err(|e| ContextError::Ignore {
                path: path.to_owned(),
                line: n + 1,
                reason: format!("{pat:?} is not a pattern: {}", e.kind()),
            })?;
            patterns.push((Glob::compile_matcher(&glob), negated));
        }
        Ok(Ignore { patterns })
    }

    /// Whether `rel` (relative to the context, `/`-separated) is left out: the last pattern that
    /// matches it or one of its parents decides.
    pub fn excludes(&self, rel: &str) -> bool {
        let mut excluded = false;
        for (glob, negated) in &self.patterns {
            let hit = glob.is_match(rel) || parents(rel).any(|p| glob.is_match(p));
            if hit {
                excluded = !negated;
            }
        }
        excluded
    }

    /// Whether a directory left out may still hold something a `!` pattern takes back: then its
    /// contents are looked at one by one.
    fn may_reinclude(&self) -> bool {
        self.patterns.iter().any(|(_, negated)| *negated)
    }
}

/// A pattern as Docker cleans it: no leading `/` or `./`, no trailing `/`, `.` and `..` folded.
fn clean(pat: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pat.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The directories above `rel`, nearest last: `a/b/c` gives `a`, `a/b`.
fn parents(rel: &str) -> impl Iterator<Item = &str> {
    rel.match_indices('/').map(move |(i, _)| &rel[..i])
}

/// What goes into the tar.
pub struct Context {
    pub dir: PathBuf,
    /// The Dockerfile's name inside the tar (as the engine is told it).
    pub dockerfile_name: String,
    /// The Dockerfile itself, when it lives outside the context directory.
    pub outside_dockerfile: Option<PathBuf>,
    ignore: Ignore,
}

impl Context {
    /// The context at `dir` for `dockerfile`, with the directory's `.dockerignore`.
    pub fn new(dir: &Path, dockerfile: &Path) -> Result<Context, ContextError> {
        let read = |path: &Path, source| ContextError::Read { path: path.to_owned(), source };
        let dir = dir.canonicalize().map_err(|e| read(dir, e))?;
        let dockerfile = dockerfile.canonicalize().map_err(|e| read(dockerfile, e))?;
        let ignore_file = dir.join(".dockerignore");
        let ignore = match std::fs::read_to_string(&ignore_file) {
            Ok(text) => Ignore::parse(&text, &ignore_file)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::default(),
            Err(e) => return Err(read(&ignore_file, e)),
        };
        let (dockerfile_name, outside_dockerfile) = match dockerfile.strip_prefix(&dir) {
            Ok(rel) => (slash_path(rel), None),
            Err(_) => (".slimctl.Dockerfile".to_owned(), Some(dockerfile)),
        };
        Ok(Context { dir, dockerfile_name, outside_dockerfile, ignore })
    }

    /// Writes the context as a tar to `out`; returns how many entries it holds.
    pub fn write<W: Write>(&self, out: W) -> Result<usize, ContextError> {
        let read = |path: &Path, source| ContextError::Read { path: path.to_owned(), source };
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        let mut entries = 0;
        let mut walk = walkdir::WalkDir::new(&self.dir).follow_links(false).sort_by_file_name().into_iter();
        while let Some(entry) = walk.next() {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(&self.dir).to_owned();
                read(&path, e.into_io_error().unwrap_or_else(|| std::io::Error::other("a link loops")))
            })?;
            let Ok(rel) = entry.path().strip_prefix(&self.dir) else { continue };
            if rel.as_os_str().is_empty() {
                continue;
            }
            let name = slash_path(rel);
            let always = name == self.dockerfile_name || name == ".dockerignore";
            if !always && self.ignore.excludes(&name) {
                if entry.file_type().is_dir() && !self.ignore.may_reinclude() {
                    walk.skip_current_dir();
                }
                continue;
            }
            self.append(&mut tar, entry.path(), &name).map_err(|e| read(entry.path(), e))?;
            entries += 1;
        }
        if let Some(file) = &self.outside_dockerfile {
            self.append(&mut tar, file, &self.dockerfile_name).map_err(|e| read(file, e))?;
            entries += 1;
        }
        tar.into_inner().and_then(|mut w| w.flush()).map_err(|e| read(&self.dir, e))?;
        Ok(entries)
    }

    /// One entry, owned by root as Docker's CLI sends it.
    fn append<W: Write>(&self, tar: &mut tar::Builder<W>, path: &Path, name: &str) -> std::io::Result<()> {
        let meta = std::fs::symlink_metadata(path)?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&meta);
        header.set_uid(0);
        header.set_gid(0);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(path)?;
            header.set_size(0);
            tar.append_link(&mut header, name, target)
        } else if meta.is_file() {
            tar.append_data(&mut header, name, std::fs::File::open(path)?)
        } else if meta.is_dir() {
            header.set_size(0);
            tar.append_data(&mut header, name, std::io::empty())
        } else {
            // Sockets, fifos and devices have no place in a build context.
            Ok(())
        }
    }
}

/// `rel` with `/` between its components, whatever the platform.
fn slash_path(rel: &Path) -> String {
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> Ignore {
        Ignore::parse(text, Path::new(".dockerignore")).unwrap()
    }

    #[test]
    fn patterns_match_as_dockers_do() {
        let i = ignore("# build output\n/target\n*.md\n!README.md\n**/*.pyc\nsecrets/\n./docs/../notes\n");
        assert!(i.excludes("target"));
        assert!(i.excludes("target/debug/app"), "a directory's pattern covers what is under it");
        assert!(i.excludes("CHANGES.md"));
        assert!(!i.excludes("src/CHANGES.md"), "`*` stays within one component");
        assert!(!i.excludes("README.md"), "a later `!` takes it back");
        assert!(i.excludes("app/mod/x.pyc") && i.excludes("x.pyc"));
        assert!(i.excludes("secrets/key"));
        assert!(i.excludes("notes/a"));
        assert!(!i.excludes("src/main.py"));
    }

    #[test]
    fn the_last_matching_pattern_decides() {
        let i = ignore("!keep.txt\n*.txt\n");
        assert!(i.excludes("keep.txt"), "the exception came first, so the exclusion wins");
        let i = ignore("logs\n!logs/important.log\n");
        assert!(i.excludes("logs/debug.log"));
        assert!(!i.excludes("logs/important.log"));
    }

    #[test]
    fn a_bad_pattern_names_the_file_and_line() {
        let err = Ignore::parse("ok\n[unclosed\n", Path::new("/ctx/.dockerignore")).unwrap_err().to_string();
        assert!(err.contains("/ctx/.dockerignore: line 2") && err.contains("[unclosed"), "{err}");
    }

    fn names(tar_bytes: &[u8]) -> Vec<(String, u64, u64)> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), e.header().uid().unwrap(), e.header().gid().unwrap())
            })
            .collect()
    }

    #[test]
    fn the_tar_leaves_out_what_is_ignored_keeps_links_and_always_has_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(d.join(".dockerignore"), "Dockerfile\nnode_modules\n*.log\n!keep.log\n").unwrap();
        std::fs::create_dir_all(d.join("node_modules/x")).unwrap();
        std::fs::write(d.join("node_modules/x/index.js"), "x").unwrap();
        std::fs::write(d.join("app.py"), "print()").unwrap();
        std::fs::write(d.join("debug.log"), "").unwrap();
        std::fs::write(d.join("keep.log"), "").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("host-link")).unwrap();
        let ctx = Context::new(d, &d.join("Dockerfile")).unwrap();
        let mut out = Vec::new();
        let n = ctx.write(&mut out).unwrap();
        let got = names(&out);
        let paths: Vec<&str> = got.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, [".dockerignore", "Dockerfile", "app.py", "host-link", "keep.log"]);
        assert_eq!(n, 5);
        assert!(got.iter().all(|(_, u, g)| *u == 0 && *g == 0), "owned by root: {got:?}");
        let mut archive = tar::Archive::new(&out[..]);
        let link = archive.entries().unwrap().map(|e| e.unwrap()).find(|e| e.path().unwrap().ends_with("host-link"));
        let link = link.unwrap();
        assert!(link.header().entry_type().is_symlink(), "a link stays a link, never the host file it names");
        assert_eq!(link.size(), 0);
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_sent_under_a_name_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let ctx_dir = dir.path().join("ctx");
        std::fs::create_dir(&ctx_dir).unwrap();
        std::fs::write(ctx_dir.join("app.py"), "").unwrap();
        std::fs::write(dir.path().join("Build.dockerfile"), "FROM scratch\n").unwrap();
        let ctx = Context::new(&ctx_dir, &dir.path().join("Build.dockerfile")).unwrap();
        assert_eq!(ctx.dockerfile_name, ".slimctl.Dockerfile");
        let mut out = Vec::new();
        ctx.write(&mut out).unwrap();
        let paths: Vec<String> = names(&out).into_iter().map(|(p, _, _)| p).collect();
        assert_eq!(paths, ["app.py", ".slimctl.Dockerfile"]);
    }
}
