//! Package URLs (purl spec): the identifiers scanners match vulnerabilities by.

use super::Distro;
use crate::select::packages::Package;

/// Percent-encodes what a purl component may not hold as is: all but the unreserved set, and
/// `:` (Debian's epoch), which the spec lets stand, as scanners write it.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS`, qualifiers sorted by key as the spec asks.
pub fn format(kind: &str, namespace: Option<&str>, name: &str, version: &str, qualifiers: &[(&str, String)]) -> String {
    let mut s = format!("pkg:{kind}/");
    if let Some(ns) = namespace.filter(|n| !n.is_empty()) {
        for seg in ns.split('/') {
            s.push_str(&enc(seg));
            s.push('/');
        }
    }
    s.push_str(&enc(name));
    if !version.is_empty() {
        s.push('@');
        s.push_str(&enc(version));
    }
    let mut q: Vec<&(&str, String)> = qualifiers.iter().filter(|(_, v)| !v.is_empty()).collect();
    q.sort_by_key(|(k, _)| *k);
    for (i, (k, v)) in q.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(k);
        s.push('=');
        s.push_str(&enc(v));
    }
    s
}

/// The purl of an inventoried package, with the distro for OS packages.
pub fn of_package(p: &Package, distro: Option<&Distro>) -> String {
    // A rolling release (Debian sid) has no VERSION_ID: the distro's name alone.
    let distro_q = || match distro {
        Some(d) if d.version_id.is_empty() => d.id.clone(),
        Some(d) => format!("{}-{}", d.id, d.version_id),
        None => String::new(),
    };
    match p.manager {
        "dpkg" => {
            let ns = distro.map_or("debian", |d| d.id.as_str());
            format("deb", Some(ns), &p.name, &p.version, &[("arch", p.arch.clone()), ("distro", distro_q())])
        }
        "apk" => {
            let ns = distro.map_or("alpine", |d| d.id.as_str());
            format("apk", Some(ns), &p.name, &p.version, &[("arch", p.arch.clone()), ("distro", distro_q())])
        }
        // PEP 503: names compare lowercased, with runs of `-_.` as one `-`.
        "python" => format("pypi", None, &pypi_name(&p.name), &p.version, &[]),
        "node" => match p.name.strip_prefix('@').and_then(|n| n.split_once('/')) {
            Some((scope, name)) => format("npm", Some(&format!("@{scope}")), name, &p.version, &[]),
            None => format("npm", None, &p.name, &p.version, &[]),
        },
        "gem" => format("gem", None, &p.name, &p.version, &[]),
        other => format("generic", None, &format!("{other}-{}", p.name), &p.version, &[]),
    }
}

pub fn pypi_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if "-_.".contains(c) {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

pub fn maven(group: &str, artifact: &str, version: &str) -> String {
    format("maven", Some(group), artifact, version, &[])
}

/// An image by digest: `pkg:oci/NAME@sha256%3A...?repository_url=...`.
pub fn oci(name: &str, digest: &str) -> String {
    let (repo, tagless) = match name.rsplit_once('/') {
        Some((repo, last)) => (Some(repo), last),
        None => (None, name),
    };
    let base = tagless.split([':', '@']).next().unwrap_or(tagless);
    let repo_url = repo.map(|r| format!("{r}/{base}")).unwrap_or_default();
    format("oci", None, base, digest, &[("repository_url", repo_url)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_of_each_kind() {
        let d = Distro { id: "debian".into(), version_id: "12".into(), name: "Debian".into() };
        let deb = Package {
            manager: "dpkg",
            name: "libc6".into(),
            version: "1:2.36-9+deb12u4".into(),
            arch: "amd64".into(),
            ..Package::default()
        };
        assert_eq!(of_package(&deb, Some(&d)), "pkg:deb/debian/libc6@1:2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12");
        let py = Package { manager: "python", name: "Flask_Login".into(), version: "0.6".into(), ..Package::default() };
        assert_eq!(of_package(&py, None), "pkg:pypi/flask-login@0.6");
        let npm =
            Package { manager: "node", name: "@types/node".into(), version: "20.1.0".into(), ..Package::default() };
        assert_eq!(of_package(&npm, None), "pkg:npm/%40types/node@20.1.0");
        assert_eq!(maven("org.example", "app", "1.2"), "pkg:maven/org.example/app@1.2");
        assert_eq!(
            oci("localhost:5000/team/app:1", "sha256:ab"),
            "pkg:oci/app@sha256:ab?repository_url=localhost:5000%2Fteam%2Fapp"
        );
    }
}
