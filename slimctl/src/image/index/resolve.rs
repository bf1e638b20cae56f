//! Path resolution inside an image's index, never on the host: each component is looked up in the
//! index, symlinks are followed with the image root as `/` (absolute targets re-rooted, `..` at the
//! root stays there), and 40 hops end in ELOOP like the kernel. This is the boundary between
//! untrusted names from images or traces and everything else: its output is always a normalized
//! absolute path that exists in the index.

use crate::image::{Entry, FileIndex, Kind};
use std::collections::VecDeque;

/// The kernel's limit (MAXSYMLINKS).
pub const MAX_HOPS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The canonical path: every component a real directory except maybe the last.
    pub path: String,
    /// Every symlink followed on the way, as canonical paths of the links themselves, in order.
    pub symlinks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{path}: no such file or directory in the image (missing: {missing})")]
    NotFound { path: String, missing: String, symlinks: Vec<String> },
    #[error("{path}: {at} is not a directory")]
    NotADirectory { path: String, at: String },
    #[error("{path}: too many levels of symbolic links")]
    Loop { path: String },
}

impl ResolveError {
    /// Symlinks followed before the failure (still worth keeping: the app walked through them).
    pub fn symlinks(&self) -> &[String] {
        match self {
            ResolveError::NotFound { symlinks, .. } => symlinks,
            _ => &[],
        }
    }
}

/// Queues `path`'s components in front of those already queued.
fn push_components(queue: &mut VecDeque<String>, path: &str) {
    for c in path.split('/').rev() {
        if !c.is_empty() && c != "." {
            queue.push_front(c.to_owned());
        }
    }
}

fn canonical(stack: &[String]) -> String {
    if stack.is_empty() {
        "/".to_owned()
    } else {
        let mut s = String::new();
        for c in stack {
            s.push('/');
            s.push_str(c);
        }
        s
    }
}

/// Resolves `path` (absolute, or relative to `cwd`) in `index`. With `follow_last`, a symlink in the
/// last position is followed too (stat, open); without, it is returned itself (lstat, readlink).
pub fn resolve(index: &FileIndex, path: &str, cwd: &str, follow_last: bool) -> Result<Resolved, ResolveError> {
    let mut queue = VecDeque::new();
    if !path.starts_with('/') {
        push_components(&mut queue, path);
        push_components(&mut queue, cwd);
    } else {
        push_components(&mut queue, path);
    }
    let mut stack: Vec<String> = Vec::new();
    let mut symlinks = Vec::new();
    let mut hops = 0;

    while let Some(comp) = queue.pop_front() {
        if comp == ".." {
            stack.pop();
            continue;
        }
        stack.push(comp);
        let here = canonical(&stack);
        let is_last = queue.is_empty();
        let entry: &Entry = match index.get(&here) {
            Some(e) => e,
            None => {
                return Err(ResolveError::NotFound { path: path.to_owned(), missing: here, symlinks });
            }
        };
        match &entry.kind {
            Kind::Symlink { target } if follow_last || !is_last => {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(ResolveError::Loop { path: path.to_owned() });
                }
                symlinks.push(here);
                stack.pop();
                if target.starts_with('/') {
                    stack.clear();
                }
                push_components(&mut queue, target);
            }
            Kind::Dir => {}
            _ if !is_last => {
                // Only ".." could still rescue this, and the kernel does not allow it either.
                return Err(ResolveError::NotADirectory { path: path.to_owned(), at: here });
            }
            _ => {}
        }
    }
    // Trailing ".." components may leave us on a directory; that is fine.
    Ok(Resolved { path: canonical(&stack), symlinks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Entry;
    use proptest::prelude::*;

    fn file() -> Entry {
        Entry { kind: Kind::File, ..Entry::dir(0o644, 0) }
    }
    fn link(t: &str) -> Entry {
        Entry { kind: Kind::Symlink { target: t.into() }, ..Entry::dir(0o777, 0) }
    }

    /// A Debian-like layout: merged /usr with /lib and /bin as links.
    fn debian() -> FileIndex {
        let mut i = FileIndex::new();
        i.insert_for_test("/usr/lib/x86_64-linux-gnu/libc.so.6", file());
        i.insert_for_test("/usr/bin/python3.11", file());
        i.insert_for_test("/usr/bin/python3", link("python3.11"));
        i.insert_for_test("/lib", link("usr/lib"));
        i.insert_for_test("/bin", link("/usr/bin"));
        i.insert_for_test("/lib64", link("usr/lib64"));
        i.insert_for_test("/usr/lib64/ld-linux-x86-64.so.2", link("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"));
        i.insert_for_test("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", file());
        i.insert_for_test("/etc/passwd", file());
        i.insert_for_test("/loop/a", link("b"));
        i.insert_for_test("/loop/b", link("a"));
        i.insert_for_test("/escape/up", link("../../../../etc/passwd"));
        i.insert_for_test("/escape/abs", link("/../../etc/passwd"));
        i.insert_for_test("/escape/host", link("/proc/self/root/etc/shadow"));
        i
    }

    #[test]
    fn follows_directory_symlinks_and_records_them() {
        let r = resolve(&debian(), "/lib/x86_64-linux-gnu/libc.so.6", "/", true).unwrap();
        assert_eq!(r.path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
        assert_eq!(r.symlinks, ["/lib"]);
    }

    #[test]
    fn follows_chains_of_absolute_and_relative_links() {
        let r = resolve(&debian(), "/lib64/ld-linux-x86-64.so.2", "/", true).unwrap();
        assert_eq!(r.path, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        assert_eq!(r.symlinks, ["/lib64", "/usr/lib64/ld-linux-x86-64.so.2", "/lib"]);
        let r = resolve(&debian(), "/bin/python3", "/", true).unwrap();
        assert_eq!(r.path, "/usr/bin/python3.11");
        assert_eq!(r.symlinks, ["/bin", "/usr/bin/python3"]);
    }

    #[test]
    fn last_component_link_is_kept_without_follow() {
        let r = resolve(&debian(), "/bin/python3", "/", false).unwrap();
        assert_eq!(r.path, "/usr/bin/python3");
        assert_eq!(r.symlinks, ["/bin"]);
    }

    #[test]
    fn relative_paths_use_cwd() {
        let r = resolve(&debian(), "../etc/passwd", "/usr", true).unwrap();
        assert_eq!(r.path, "/etc/passwd");
        let r = resolve(&debian(), "python3", "/bin", true).unwrap();
        assert_eq!(r.path, "/usr/bin/python3.11");
    }

    #[test]
    fn dotdot_at_root_stays_at_root() {
        assert_eq!(resolve(&debian(), "/../../../etc/passwd", "/", true).unwrap().path, "/etc/passwd");
        assert_eq!(resolve(&debian(), "/escape/up", "/", true).unwrap().path, "/etc/passwd");
        assert_eq!(resolve(&debian(), "/escape/abs", "/", true).unwrap().path, "/etc/passwd");
    }

    #[test]
    fn links_into_host_paths_stay_in_the_image() {
        // /proc is not in the image: the link does not reach the host's /proc.
        let e = resolve(&debian(), "/escape/host", "/", true).unwrap_err();
        assert!(matches!(e, ResolveError::NotFound { ref missing, .. } if missing == "/proc"), "{e:?}");
    }

    #[test]
    fn loops_end_in_eloop() {
        assert!(matches!(resolve(&debian(), "/loop/a", "/", true), Err(ResolveError::Loop { .. })));
        // Without following the last component, the loop is never entered.
        assert_eq!(resolve(&debian(), "/loop/a", "/", false).unwrap().path, "/loop/a");
    }

    #[test]
    fn missing_and_not_a_directory() {
        let e = resolve(&debian(), "/lib/nope/x", "/", true).unwrap_err();
        assert!(matches!(&e, ResolveError::NotFound { missing, .. } if missing == "/usr/lib/nope"));
        assert_eq!(e.symlinks(), ["/lib"]);
        let e = resolve(&debian(), "/etc/passwd/x", "/", true).unwrap_err();
        assert!(matches!(e, ResolveError::NotADirectory { .. }));
    }

    #[test]
    fn forty_hops_resolve_forty_one_do_not() {
        let mut i = FileIndex::new();
        i.insert_for_test("/t", file());
        for n in 0..41 {
            let target = if n == 0 { "/t".to_owned() } else { format!("/l{}", n - 1) };
            i.insert_for_test(&format!("/l{n}"), link(&target));
        }
        assert_eq!(resolve(&i, "/l39", "/", true).unwrap().path, "/t");
        assert!(matches!(resolve(&i, "/l40", "/", true), Err(ResolveError::Loop { .. })));
    }

    fn arb_component() -> impl Strategy<Value = String> {
        prop_oneof![Just("..".to_owned()), Just(".".to_owned()), Just("".to_owned()), "[a-c]{1,2}".prop_map(|s| s),]
    }

    fn arb_path() -> impl Strategy<Value = String> {
        (any::<bool>(), prop::collection::vec(arb_component(), 0..6))
            .prop_map(|(abs, comps)| format!("{}{}", if abs { "/" } else { "" }, comps.join("/")))
    }

    proptest! {
        /// Whatever links an image holds and whatever path is asked, the answer is a normalized
        /// absolute path that exists in the index, and every recorded link is an index symlink.
        #[test]
        fn resolution_never_leaves_the_index(
            links in prop::collection::vec((arb_path(), arb_path()), 0..12),
            files in prop::collection::vec(arb_path(), 0..8),
            query in arb_path(),
            cwd in arb_path(),
            follow in any::<bool>(),
        ) {
            let mut idx = FileIndex::new();
            for f in &files {
                if let Some(p) = crate::image::index::entry::normalize_member(f) {
                    if p != "/" && idx.get(&p).is_none() { idx.insert_for_test(&p, file()); }
                }
            }
            for (at, target) in &links {
                if let Some(p) = crate::image::index::entry::normalize_member(at) {
                    if p != "/" && idx.get(&p).is_none() { idx.insert_for_test(&p, link(target)); }
                }
            }
            let cwd = crate::image::index::entry::normalize_member(&cwd).unwrap_or_else(|| "/".into());
            if let Ok(r) = resolve(&idx, &query, &cwd, follow) {
                prop_assert!(r.path.starts_with('/'));
                prop_assert!(!r.path.split('/').any(|c| c == ".." || c == "."), "{}", r.path);
                prop_assert!(r.path == "/" || !r.path.ends_with('/'));
                prop_assert!(idx.get(&r.path).is_some(), "{} not in index", r.path);
                if follow { prop_assert!(!idx.get(&r.path).unwrap().is_symlink()); }
                for l in &r.symlinks {
                    prop_assert!(idx.get(l).is_some_and(Entry::is_symlink), "{l}");
                }
            }
        }
    }
}
