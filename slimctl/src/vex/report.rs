//! Vulnerability reports of an image, as scanners write them: Trivy's JSON (`Results[]
//! .Vulnerabilities[]`), Grype's JSON (`matches[]`), or CycloneDX with `vulnerabilities`. Each
//! comes down to the image it is about and (vulnerability, package) findings.

use serde_json::Value;

/// A package a finding names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRef {
    pub name: String,
    pub version: String,
    /// Its purl, when the report gives one.
    pub purl: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// CVE-…, GHSA-…, DLA-…
    pub id: String,
    pub package: PackageRef,
}

/// What the report says it scanned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Artifact {
    pub name: Option<String>,
    /// Image id (config digest) or manifest digests.
    pub digests: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// "Trivy", "Grype" or "CycloneDX".
    pub format: &'static str,
    pub artifact: Artifact,
    pub findings: Vec<Finding>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not JSON ({source}); pass a report in Trivy's JSON (`trivy image -f json`), Grype's JSON (`grype -o json`) or CycloneDX with vulnerabilities")]
    NotJson {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: {detail}; pass a report in Trivy's JSON (`trivy image -f json`), Grype's JSON (`grype -o json`) or CycloneDX with vulnerabilities")]
    Unknown { path: String, detail: String },
}

impl ReportError {
    pub fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Input
    }
}

pub fn read(path: &std::path::Path) -> Result<Report, ReportError> {
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ReportError::Read { path: p.clone(), source })?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|source| ReportError::NotJson { path: p.clone(), source })?;
    parse(&v).map_err(|detail| ReportError::Unknown { path: p, detail })
}

fn s(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The report `v` is, by its shape.
pub fn parse(v: &Value) -> Result<Report, String> {
    if v.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        cyclonedx(v)
    } else if v.get("matches").is_some() {
        grype(v)
    } else if v.get("SchemaVersion").is_some() || v.get("Results").is_some() || v.get("ArtifactName").is_some() {
        trivy(v)
    } else {
        Err("not a vulnerability report slimctl knows (no `Results`, `matches` or `bomFormat`)".into())
    }
}

fn trivy(v: &Value) -> Result<Report, String> {
    let meta = &v["Metadata"];
    let mut digests: Vec<String> = s(&meta["ImageID"]).into_iter().collect();
    for d in meta["RepoDigests"].as_array().into_iter().flatten().filter_map(|d| d.as_str()) {
        digests.extend(d.rsplit_once('@').map(|(_, h)| h.to_owned()));
    }
    let artifact = Artifact { name: s(&v["ArtifactName"]), digests };
    let mut findings = Vec::new();
    for result in v["Results"].as_array().into_iter().flatten() {
        for vuln in result["Vulnerabilities"].as_array().into_iter().flatten() {
            let (Some(id), Some(name)) = (s(&vuln["VulnerabilityID"]), s(&vuln["PkgName"])) else {
                return Err("a vulnerability without VulnerabilityID or PkgName".into());
            };
            let purl = s(&vuln["PkgIdentifier"]["PURL"]);
            let version = s(&vuln["InstalledVersion"]).unwrap_or_default();
            findings.push(Finding { id, package: PackageRef { name, version, purl } });
        }
    }
    Ok(Report { format: "Trivy", artifact, findings })
}

fn grype(v: &Value) -> Result<Report, String> {
    let target = &v["source"]["target"];
    let mut digests: Vec<String> =
        [s(&target["imageID"]), s(&target["manifestDigest"])].into_iter().flatten().collect();
    for d in target["repoDigests"].as_array().into_iter().flatten().filter_map(|d| d.as_str()) {
        digests.extend(d.rsplit_once('@').map(|(_, h)| h.to_owned()));
    }
    let name = s(&target["userInput"]).or_else(|| target["tags"].get(0).and_then(s));
    let mut findings = Vec::new();
    for m in v["matches"].as_array().ok_or("`matches` is not a list")? {
        let (Some(id), Some(name)) = (s(&m["vulnerability"]["id"]), s(&m["artifact"]["name"])) else {
            return Err("a match without vulnerability.id or artifact.name".into());
        };
        let version = s(&m["artifact"]["version"]).unwrap_or_default();
        findings.push(Finding { id, package: PackageRef { name, version, purl: s(&m["artifact"]["purl"]) } });
    }
    Ok(Report { format: "Grype", artifact: Artifact { name, digests }, findings })
}

fn cyclonedx(v: &Value) -> Result<Report, String> {
    let vulns = v["vulnerabilities"].as_array().ok_or("a CycloneDX document without `vulnerabilities`")?;
    let mut by_ref: std::collections::HashMap<String, PackageRef> = std::collections::HashMap::new();
    let mut stack: Vec<&Value> = v["components"].as_array().into_iter().flatten().collect();
    while let Some(c) = stack.pop() {
        if let (Some(r), Some(name)) = (s(&c["bom-ref"]), s(&c["name"])) {
            let version = s(&c["version"]).unwrap_or_default();
            by_ref.insert(r, PackageRef { name, version, purl: s(&c["purl"]) });
        }
        stack.extend(c["components"].as_array().into_iter().flatten());
    }
    let root = &v["metadata"]["component"];
    let mut digests = Vec::new();
    for p in root["properties"].as_array().into_iter().flatten() {
        if let (Some(n), Some(val)) = (p["name"].as_str(), s(&p["value"])) {
            if n.ends_with("ImageID") || n.ends_with("RepoDigest") {
                digests.push(val.rsplit_once('@').map_or(val.clone(), |(_, h)| h.to_owned()));
            }
        }
    }
    let artifact = Artifact { name: s(&root["name"]), digests };
    let mut findings = Vec::new();
    for vuln in vulns {
        let Some(id) = s(&vuln["id"]) else { return Err("a vulnerability without `id`".into()) };
        for a in vuln["affects"].as_array().into_iter().flatten() {
            let r = s(&a["ref"]).unwrap_or_default();
            // A ref is a bom-ref of this document, or else a purl.
            let package = by_ref.get(&r).cloned().or_else(|| {
                r.starts_with("pkg:").then(|| PackageRef {
                    name: String::new(),
                    version: String::new(),
                    purl: Some(r.clone()),
                })
            });
            match package {
                Some(package) => findings.push(Finding { id: id.clone(), package }),
                None => return Err(format!("{id} affects {r:?}, which no component of the document is")),
            }
        }
    }
    Ok(Report { format: "CycloneDX", artifact, findings })
}
