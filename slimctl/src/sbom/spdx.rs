//! SPDX 2.3 JSON. The image is the described package; each OS or language package is a package
//! with its files (SHA-1 and SHA-256), `filesAnalyzed` with the verification code SPDX asks for;
//! files no package owns are contained by the image. A slim image is DESCENDANT_OF its original.

use super::{license, Component, Sbom, Subject};
use serde_json::{json, Value};
use sha1::Digest as _;
use std::collections::BTreeMap;

/// SPDX ids allow letters, digits, `.` and `-`.
fn id_part(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect()
}

/// The verification code of a package's files: SHA-1 over their SHA-1s, sorted.
fn verification_code(sha1s: &mut [String]) -> String {
    sha1s.sort();
    let mut h = sha1::Sha1::new();
    for s in sha1s.iter() {
        h.update(s.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Declared licenses as one expression: SPDX ids where the list has them, `LicenseRef-` for
/// the rest (each defined once in the document).
fn declared(names: &[String], refs: &mut BTreeMap<String, String>) -> String {
    if names.is_empty() {
        return "NOASSERTION".into();
    }
    let mut parts: Vec<String> = names
        .iter()
        .map(|n| {
            license::spdx_id(n).unwrap_or_else(|| {
                let id = format!("LicenseRef-{}", id_part(n));
                refs.entry(id.clone()).or_insert_with(|| n.clone());
                id
            })
        })
        .collect();
    parts.dedup();
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        format!("({})", parts.join(" AND "))
    }
}

fn image_package(spdx_id: &str, s: &Subject) -> Value {
    let hex = s.id.strip_prefix("sha256:").unwrap_or(&s.id);
    json!({
        "SPDXID": spdx_id,
        "name": s.name,
        "versionInfo": s.id,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{ "algorithm": "SHA256", "checksumValue": hex }],
        "externalRefs": [{ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": s.purl() }],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
    })
}

fn package(spdx_id: &str, c: &Component, file_ids: &[&str], sbom: &Sbom, refs: &mut BTreeMap<String, String>) -> Value {
    let mut p = json!({
        "SPDXID": spdx_id,
        "name": c.name,
        "versionInfo": c.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": !file_ids.is_empty(),
        "externalRefs": [{ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": c.purl }],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": declared(&c.licenses, refs),
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": if c.kind == "deb" || c.kind == "apk" { "OPERATING-SYSTEM" } else { "LIBRARY" },
    });
    if !file_ids.is_empty() {
        let mut sha1s: Vec<String> = c.files.iter().filter_map(|f| sbom.files.get(f)).map(|d| d.sha1_hex()).collect();
        p["packageVerificationCode"] = json!({ "packageVerificationCodeValue": verification_code(&mut sha1s) });
        p["hasFiles"] = json!(file_ids);
    }
    p
}

/// The file elements, and each path's SPDX id.
fn files(sbom: &Sbom) -> (Vec<Value>, BTreeMap<&str, String>) {
    let file_ids: BTreeMap<&str, String> =
        sbom.files.keys().enumerate().map(|(i, p)| (p.as_str(), format!("SPDXRef-File-{i}"))).collect();
    let files = sbom
        .files
        .iter()
        .map(|(path, d)| {
            json!({
                "SPDXID": file_ids[path.as_str()],
                // SPDX file names are relative to the package root.
                "fileName": format!(".{path}"),
                "checksums": [
                    { "algorithm": "SHA1", "checksumValue": d.sha1_hex() },
                    { "algorithm": "SHA256", "checksumValue": d.sha256_hex() },
                ],
                "licenseConcluded": "NOASSERTION",
                "copyrightText": "NOASSERTION",
            })
        })
        .collect();
    (files, file_ids)
}

/// The license names no SPDX id stands for, defined for the `LicenseRef-`s that name them.
fn extracted(refs: BTreeMap<String, String>) -> Value {
    refs.into_iter()
        .map(|(id, name)| {
            json!({
                "licenseId": id,
                "name": name,
                "extractedText": format!("The license its package metadata names \"{name}\"; no SPDX identifier stands for it."),
            })
        })
        .collect()
}

pub fn document(sbom: &Sbom) -> Value {
    let image_id = "SPDXRef-Image";
    let mut refs: BTreeMap<String, String> = BTreeMap::new();
    let mut root = image_package(image_id, &sbom.subject);
    // The image contains its files (the app's own directly): SPDX asks a package that contains
    // files for the code that verifies them.
    let mut all: Vec<String> = sbom.files.values().map(|d| d.sha1_hex()).collect();
    if !all.is_empty() {
        root["filesAnalyzed"] = json!(true);
        root["packageVerificationCode"] = json!({ "packageVerificationCodeValue": verification_code(&mut all) });
    }
    let mut packages = vec![root];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": image_id,
    })];
    if let Some(a) = &sbom.ancestor {
        packages.push(image_package("SPDXRef-Original", a));
        relationships.push(json!({
            "spdxElementId": image_id, "relationshipType": "DESCENDANT_OF", "relatedSpdxElement": "SPDXRef-Original",
        }));
    }
    // Files first: a file listed by two packages is one file element.
    let (files, file_ids) = files(sbom);
    for (i, c) in sbom.components.iter().enumerate() {
        let id = format!("SPDXRef-Package-{}-{}-{i}", c.kind, id_part(&c.name));
        let ids: Vec<&str> = c.files.iter().filter_map(|f| file_ids.get(f.as_str()).map(String::as_str)).collect();
        packages.push(package(&id, c, &ids, sbom, &mut refs));
        relationships
            .push(json!({ "spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": id }));
    }
    for (path, _) in sbom.unowned_files() {
        relationships.push(json!({
            "spdxElementId": image_id, "relationshipType": "CONTAINS", "relatedSpdxElement": file_ids[path.as_str()],
        }));
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": sbom.subject.name,
        "documentNamespace": format!(
            "https://slimctl.dev/spdx/{}-{}",
            id_part(&sbom.subject.name),
            sbom.subject.id.trim_start_matches("sha256:")
        ),
        "creationInfo": {
            "created": sbom.created,
            "creators": [format!("Tool: {}", sbom.tool)],
        },
        "packages": packages,
        "files": files,
        "relationships": relationships,
    });
    if let Some(d) = &sbom.distro {
        doc["comment"] = json!(format!("distribution: {} {} ({})", d.id, d.version_id, d.name));
    }
    if !refs.is_empty() {
        doc["hasExtractedLicensingInfos"] = extracted(refs);
    }
    doc
}
