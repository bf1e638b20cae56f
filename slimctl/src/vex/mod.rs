//! VEX for a slim image: which vulnerabilities a scan of the original reported that the slim
//! image no longer holds. A finding whose package the slim image dropped entirely (no file of
//! it left, no record of it in a package database) is `not_affected` with the justification
//! `component_not_present`; a finding whose package is still there, even in part, stays
//! `under_investigation`: that its vulnerable code is gone would need evidence slimctl does
//! not have. Written as OpenVEX or as CycloneDX with `vulnerabilities[].analysis`.

pub mod report;

use crate::image::FileIndex;
use crate::sbom::content::MavenCoordinates;
use crate::sbom::{purl, Distro, Subject};
use crate::select::packages::Package;
use report::{Finding, Report};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    NotAffected,
    UnderInvestigation,
}

#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    pub vulnerability: String,
    pub package: String,
    pub version: String,
    /// The package's purl: the report's, else the one slimctl gives the original's package.
    pub purl: String,
    pub status: Status,
    /// Why, in a sentence.
    pub note: String,
}

/// One image's packages for the decision: its package databases and its Java archives.
pub struct Packages<'a> {
    pub index: &'a FileIndex,
    pub inventory: &'a [Package],
    pub maven: &'a [MavenCoordinates],
    pub distro: Option<&'a Distro>,
}

/// The purl type of a manager.
fn purl_type(manager: &str) -> &str {
    match manager {
        "dpkg" => "deb",
        "python" => "pypi",
        "node" => "npm",
        other => other,
    }
}

/// (type, name) of a purl: `pkg:deb/debian/libc6@2.36?arch=amd64` → ("deb", "libc6");
/// npm scopes and Maven groups stay out of the name, as the inventory names packages.
fn purl_type_name(p: &str) -> Option<(String, String)> {
    let rest = p.strip_prefix("pkg:")?;
    let rest = rest.split(['?', '#']).next()?;
    let rest = rest.split('@').next()?;
    let (kind, path) = rest.split_once('/')?;
    let name = path.rsplit('/').next()?;
    let name = percent_decode(name);
    let name = match (kind, path.split('/').next()) {
        ("npm", Some(scope)) if path.contains('/') => format!("{}/{name}", percent_decode(scope)),
        _ => name,
    };
    Some((kind.to_ascii_lowercase(), name))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn same_name(kind: &str, a: &str, b: &str) -> bool {
    if kind == "pypi" {
        purl::pypi_name(a) == purl::pypi_name(b)
    } else {
        a == b
    }
}

/// What the original holds of a finding's package: its inventory entries (or Java archives),
/// and the purl to name it by.
struct Located<'a> {
    packages: Vec<&'a Package>,
    archives: Vec<&'a MavenCoordinates>,
    purl: Option<String>,
}

fn locate<'a>(f: &Finding, original: &Packages<'a>) -> Located<'a> {
    let wanted = f.package.purl.as_deref().and_then(purl_type_name);
    let matches = |kind: &str, name: &str| match &wanted {
        Some((k, n)) => k == kind && same_name(kind, n, name),
        None => same_name(kind, &f.package.name, name),
    };
    let mut packages: Vec<&Package> =
        original.inventory.iter().filter(|p| matches(purl_type(p.manager), &p.name)).collect();
    // Several of one name (a package in two virtualenvs): the version the report names.
    if packages.len() > 1 && packages.iter().any(|p| p.version == f.package.version) {
        packages.retain(|p| p.version == f.package.version);
    }
    let archives: Vec<&MavenCoordinates> = original.maven.iter().filter(|m| matches("maven", &m.artifact)).collect();
    let purl = f.package.purl.clone().or_else(|| {
        packages
            .first()
            .map(|p| purl::of_package(p, original.distro))
            .or_else(|| archives.first().map(|m| purl::maven(&m.group, &m.artifact, &m.version)))
    });
    Located { packages, archives, purl }
}

/// The statement for each finding of `report`: is its package in `slim`?
pub fn decide(report: &Report, original: &Packages<'_>, slim: &Packages<'_>) -> Vec<Statement> {
    let mut out: Vec<Statement> = Vec::new();
    for f in &report.findings {
        let found = locate(f, original);
        let (status, note) = if found.packages.is_empty() && found.archives.is_empty() {
            (Status::UnderInvestigation, "the original's package databases do not list this package".to_owned())
        } else {
            let files: Vec<&str> = found
                .packages
                .iter()
                .flat_map(|p| p.files.iter().map(String::as_str))
                .chain(found.archives.iter().map(|m| m.archive.as_str()))
                .collect();
            let kept = files.iter().filter(|p| slim.index.get(p).is_some()).count();
            let recorded = found
                .packages
                .iter()
                .any(|p| slim.inventory.iter().any(|s| s.manager == p.manager && s.name == p.name));
            if kept == 0 && !recorded {
                let note = format!(
                    "removed by slimctl: the slim image holds none of its {} files and no record of it",
                    files.len()
                );
                (Status::NotAffected, note)
            } else {
                let how = if kept > 0 {
                    format!("{kept} of its {} files are in the slim image", files.len())
                } else {
                    "the slim image's package metadata still lists it".to_owned()
                };
                (Status::UnderInvestigation, format!("still present: {how}; slimctl has no evidence about its code"))
            }
        };
        let st = Statement {
            vulnerability: f.id.clone(),
            package: f.package.name.clone(),
            version: f.package.version.clone(),
            purl: found.purl.unwrap_or_else(|| purl::format("generic", None, &f.package.name, &f.package.version, &[])),
            status,
            note,
        };
        if !out.iter().any(|o| o.vulnerability == st.vulnerability && o.purl == st.purl) {
            out.push(st);
        }
    }
    out
}

/// Why a report may not be about the original: its image id (or name) is another's.
pub fn artifact_mismatch(report: &Report, original: &Subject, original_tags: &[String]) -> Option<String> {
    let a = &report.artifact;
    let id = &original.id;
    if !a.digests.is_empty() {
        if a.digests.iter().any(|d| d == id) {
            return None;
        }
        return Some(format!(
            "the {} report is about {} ({}), not the original {} ({id})",
            report.format,
            a.name.as_deref().unwrap_or("an image"),
            a.digests.join(", "),
            original.name
        ));
    }
    let name = a.name.as_deref()?;
    let norm = |n: &str| n.strip_prefix("docker.io/library/").unwrap_or(n).to_owned();
    let known: Vec<String> =
        std::iter::once(original.name.clone()).chain(original_tags.iter().cloned()).map(|n| norm(&n)).collect();
    let same = known
        .iter()
        .any(|k| *k == norm(name) || format!("{k}:latest") == norm(name) || *k == format!("{}:latest", norm(name)));
    (!same).then(|| format!("the {} report is about {name}, not the original {}", report.format, original.name))
}

/// An OpenVEX 0.2.0 document about `product` (the slim image).
pub fn openvex(statements: &[Statement], product: &Subject, timestamp: &str) -> Value {
    let product_id = product.purl();
    let stmts: Vec<Value> = statements
        .iter()
        .map(|s| {
            let mut v = json!({
                "vulnerability": { "name": s.vulnerability },
                "products": [{ "@id": product_id, "subcomponents": [{ "@id": s.purl }] }],
                "status": s.status,
                "status_notes": s.note,
            });
            if s.status == Status::NotAffected {
                v["justification"] = json!("component_not_present");
            }
            v
        })
        .collect();
    let seed = format!("{}{}{timestamp}", product.id, statements.len());
    json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": format!("https://slimctl.dev/vex/{}", crate::sbom::uuid_from(&seed)),
        "author": "slimctl",
        "role": "image slimmer",
        "timestamp": timestamp,
        "version": 1,
        "tooling": crate::sbom::TOOL,
        "statements": stmts,
    })
}

/// A CycloneDX 1.5 VEX document: the slim image as the subject, one component per package,
/// one vulnerability per finding with its analysis.
pub fn cyclonedx(statements: &[Statement], product: &Subject, timestamp: &str) -> Value {
    let mut purls: Vec<&str> = statements.iter().map(|s| s.purl.as_str()).collect();
    purls.sort();
    purls.dedup();
    let components: Vec<Value> = purls
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let s = statements.iter().find(|s| s.purl == *p).expect("a statement names it");
            json!({ "type": "library", "bom-ref": format!("pkg-{i}"), "name": s.package, "version": s.version, "purl": p })
        })
        .collect();
    let vulns: Vec<Value> = statements
        .iter()
        .map(|s| {
            let i = purls.iter().position(|p| *p == s.purl).unwrap_or(0);
            let analysis = match s.status {
                Status::NotAffected => {
                    json!({ "state": "not_affected", "justification": "code_not_present", "detail": s.note })
                }
                Status::UnderInvestigation => json!({ "state": "in_triage", "detail": s.note }),
            };
            json!({ "id": s.vulnerability, "analysis": analysis, "affects": [{ "ref": format!("pkg-{i}") }] })
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", crate::sbom::uuid_from(&format!("vex{}{timestamp}", product.id))),
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": { "components": [{ "type": "application", "name": "slimctl", "version": env!("CARGO_PKG_VERSION") }] },
            "component": { "type": "container", "bom-ref": "image", "name": product.name, "version": product.id, "purl": product.purl() },
        },
        "components": components,
        "vulnerabilities": vulns,
    })
}

/// The VEX document formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Openvex,
    Cyclonedx,
}

pub fn render(statements: &[Statement], product: &Subject, timestamp: &str, format: Format) -> Vec<u8> {
    let v = match format {
        Format::Openvex => openvex(statements, product, timestamp),
        Format::Cyclonedx => cyclonedx(statements, product, timestamp),
    };
    let mut out = serde_json::to_vec_pretty(&v).unwrap_or_default();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::report::{parse, PackageRef};
    use super::*;

    fn pkg(manager: &'static str, name: &str, files: &[&str]) -> Package {
        Package {
            manager,
            name: name.into(),
            version: "1".into(),
            files: files.iter().map(|f| f.to_string()).collect(),
            ..Package::default()
        }
    }

    fn index(paths: &[&str]) -> FileIndex {
        let files: Vec<(&str, &str)> = paths.iter().map(|p| (p.trim_start_matches('/'), "x")).collect();
        crate::select::packages::tests::index(&files, &[])
    }

    #[test]
    fn a_dropped_package_is_not_affected_and_a_kept_one_stays_under_investigation() {
        let trivy = json!({
            "SchemaVersion": 2, "ArtifactName": "app:1",
            "Metadata": { "ImageID": "sha256:aaa" },
            "Results": [{ "Target": "app:1 (debian 12.8)", "Vulnerabilities": [
                { "VulnerabilityID": "CVE-2024-1", "PkgName": "curl", "InstalledVersion": "1",
                  "PkgIdentifier": { "PURL": "pkg:deb/debian/curl@1?arch=amd64&distro=debian-12" } },
                { "VulnerabilityID": "CVE-2024-2", "PkgName": "libc6", "InstalledVersion": "1" },
                { "VulnerabilityID": "CVE-2024-3", "PkgName": "unknown-thing", "InstalledVersion": "1" }
            ]}]
        });
        let report = parse(&trivy).unwrap();
        assert_eq!(report.artifact.digests, ["sha256:aaa"]);
        let inv =
            [pkg("dpkg", "curl", &["/usr/bin/curl"]), pkg("dpkg", "libc6", &["/lib/libc.so.6", "/lib/libm.so.6"])];
        let orig_idx = index(&["/usr/bin/curl", "/lib/libc.so.6", "/lib/libm.so.6"]);
        let slim_idx = index(&["/lib/libc.so.6"]);
        let original = Packages { index: &orig_idx, inventory: &inv, maven: &[], distro: None };
        let slim = Packages { index: &slim_idx, inventory: &[], maven: &[], distro: None };
        let st = decide(&report, &original, &slim);
        let status: Vec<(&str, Status)> = st.iter().map(|s| (s.vulnerability.as_str(), s.status)).collect();
        assert_eq!(
            status,
            [
                ("CVE-2024-1", Status::NotAffected),
                ("CVE-2024-2", Status::UnderInvestigation),
                ("CVE-2024-3", Status::UnderInvestigation)
            ]
        );
        assert!(st[1].note.contains("1 of its 2 files"), "{}", st[1].note);
        let product = Subject { name: "app.slim:1".into(), id: "sha256:bbb".into(), manifest_digest: None };
        let doc = openvex(&st, &product, "2026-12-07T00:00:00Z");
        assert_eq!(doc["statements"][0]["justification"], "component_not_present");
        assert!(doc["statements"][1].get("justification").is_none(), "never a justification without evidence");
        assert_eq!(
            doc["statements"][0]["products"][0]["subcomponents"][0]["@id"],
            "pkg:deb/debian/curl@1?arch=amd64&distro=debian-12"
        );
        let other = Subject { name: "other:1".into(), id: "sha256:ccc".into(), manifest_digest: None };
        assert!(artifact_mismatch(&report, &other, &[]).unwrap().contains("sha256:aaa"));
        let orig = Subject { name: "app:1".into(), id: "sha256:aaa".into(), manifest_digest: None };
        assert!(artifact_mismatch(&report, &orig, &[]).is_none());
    }

    #[test]
    fn grype_and_cyclonedx_reports() {
        let grype = json!({
            "matches": [{ "vulnerability": { "id": "GHSA-x" }, "artifact": { "name": "Flask", "version": "2.2.2", "purl": "pkg:pypi/flask@2.2.2" } }],
            "source": { "type": "image", "target": { "userInput": "web:1", "imageID": "sha256:1" } }
        });
        let r = parse(&grype).unwrap();
        assert_eq!(
            r.findings[0].package,
            PackageRef { name: "Flask".into(), version: "2.2.2".into(), purl: Some("pkg:pypi/flask@2.2.2".into()) }
        );
        let cdx = json!({
            "bomFormat": "CycloneDX", "specVersion": "1.6",
            "components": [{ "bom-ref": "c1", "name": "left-pad", "version": "1.0", "purl": "pkg:npm/left-pad@1.0" }],
            "vulnerabilities": [{ "id": "CVE-1", "affects": [{ "ref": "c1" }] }]
        });
        let r = parse(&cdx).unwrap();
        assert_eq!(r.findings[0].package.name, "left-pad");
        assert!(parse(&json!({"hello": 1})).is_err());
        assert_eq!(purl_type_name("pkg:npm/%40types/node@20"), Some(("npm".into(), "@types/node".into())));
        assert_eq!(purl_type_name("pkg:maven/org.apache/log4j-core@2.14"), Some(("maven".into(), "log4j-core".into())));
    }
}
