//! `--path-perms PATH:MODE[#UID#GID]` (mint's and SlimToolkit's format): the mode, and the
//! owner, a path gets in the slim layer, whatever it had in the original.

use std::collections::BTreeMap;

/// What one path gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathPerm {
    /// Permission bits (setuid, setgid and sticky included).
    pub mode: u32,
    /// uid and gid, when given.
    pub owner: Option<(u64, u64)>,
}

/// By absolute path.
pub type PathPerms = BTreeMap<String, PathPerm>;

/// Parses `PATH:MODE[#UID#GID]`, MODE in octal.
pub fn parse(s: &str) -> Result<(String, PathPerm), String> {
    let bad = |why: &str| {
        format!("--path-perms {s}: {why} (expected PATH:MODE[#UID#GID], MODE in octal, e.g. /app/run:755#1000#1000)")
    };
    let (path, rest) = s.rsplit_once(':').ok_or_else(|| bad("no MODE"))?;
    if !path.starts_with('/') {
        return Err(bad("the path must be absolute"));
    }
    let mut parts = rest.split('#');
    let mode = parts.next().unwrap_or_default();
    let mode = u32::from_str_radix(mode, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| bad("MODE is not octal up to 7777"))?;
    let owner = match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => None,
        (Some(u), Some(g), None) => Some((
            u.parse().map_err(|_| bad("UID is not a number"))?,
            g.parse().map_err(|_| bad("GID is not a number"))?,
        )),
        _ => return Err(bad("give both UID and GID, or neither")),
    };
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    Ok((path.to_owned(), PathPerm { mode, owner }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mints_format_parses() {
        assert_eq!(parse("/app/run.sh:755").unwrap(), ("/app/run.sh".into(), PathPerm { mode: 0o755, owner: None }));
        assert_eq!(
            parse("/data/:4770#1000#50").unwrap(),
            ("/data".into(), PathPerm { mode: 0o4770, owner: Some((1000, 50)) })
        );
        for bad in ["app:755", "/app:9", "/app:755#1", "/app:755#a#1", "/app"] {
            assert!(parse(bad).unwrap_err().contains("--path-perms"), "{bad}");
        }
    }
}
