//! License names as package metadata states them, turned into SPDX identifiers where the SPDX
//! license list (the `spdx` crate's copy) has one; Debian's short names (`GPL-2+`, `Expat`) map
//! to theirs. What has no identifier stays a name, never a guess.

/// The SPDX identifier `name` stands for, if any (never a deprecated one).
pub fn spdx_id(name: &str) -> Option<String> {
    let name = name.trim();
    let valid = |id: &str| spdx::license_id(id).filter(|l| !l.is_deprecated()).map(|l| l.name.to_owned());
    if let Some(id) = valid(name) {
        return Some(id);
    }
    // Debian's copyright-format names: `GPL-2+`, `LGPL-2.1`, `Expat`, `BSD-3-clause`.
    let (base, later) = match name.strip_suffix('+') {
        Some(b) => (b, true),
        None => (name, false),
    };
    if let Some(v) = ["GPL-", "LGPL-", "AGPL-", "GFDL-"].iter().find(|p| base.starts_with(**p)) {
        let family = &v[..v.len() - 1];
        let mut version = base[v.len()..].to_owned();
        if !version.contains('.') {
            version.push_str(".0");
        }
        let id = format!("{family}-{version}-{}", if later { "or-later" } else { "only" });
        return valid(&id);
    }
    match name.to_ascii_lowercase().as_str() {
        "expat" => return valid("MIT"),
        "public-domain" | "public domain" => return None,
        _ => {}
    }
    // Same identifier, other case (`BSD-3-clause`, `apache-2.0`).
    spdx::identifiers::LICENSES.iter().find(|l| l.name.eq_ignore_ascii_case(name)).and_then(|l| valid(l.name))
}

/// The licenses a machine-readable Debian copyright file names (each paragraph's `License:`
/// short name, in order of first appearance); none for a free-form one.
pub fn debian_copyright_licenses(copyright: &str) -> Vec<String> {
    if !copyright.starts_with("Format:") {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for l in copyright.lines() {
        let Some(v) = l.strip_prefix("License:").map(str::trim).filter(|v| !v.is_empty()) else { continue };
        // `GPL-2+ or Artistic`: each name of an alternative, as the file spells it.
        for name in v.split(" or ").flat_map(|a| a.split(" and ")).map(str::trim) {
            if !name.is_empty() && !out.iter().any(|o| o == name) {
                out.push(name.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_and_common_names() {
        for (name, id) in [
            ("GPL-2+", Some("GPL-2.0-or-later")),
            ("GPL-3", Some("GPL-3.0-only")),
            ("LGPL-2.1+", Some("LGPL-2.1-or-later")),
            ("Expat", Some("MIT")),
            ("BSD-3-clause", Some("BSD-3-Clause")),
            ("Apache-2.0", Some("Apache-2.0")),
            ("MIT", Some("MIT")),
            ("public-domain", None),
            ("Zope Public License", None),
        ] {
            assert_eq!(spdx_id(name).as_deref(), id, "{name}");
        }
    }

    #[test]
    fn a_machine_readable_copyright_names_each_license_once() {
        let c = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
                 Files: *\nLicense: GPL-2+ or Artistic\n\nFiles: lib/*\nLicense: GPL-2+\n";
        assert_eq!(debian_copyright_licenses(c), ["GPL-2+", "Artistic"]);
        assert!(debian_copyright_licenses("This package is free software.\nLicense: GPL\n").is_empty());
    }
}
