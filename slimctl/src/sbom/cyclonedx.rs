//! CycloneDX 1.5 JSON. The image is `metadata.component` (a container, its original as
//! pedigree ancestor); the distribution is an operating-system component; each package is a
//! library (or an application for OS packages) with its files nested as file components with
//! SHA-1 and SHA-256; files no package owns are top-level file components.

use super::{license, Component, Sbom, Subject};
use serde_json::{json, Value};

fn hashes(d: &super::FileDigest) -> Value {
    json!([{ "alg": "SHA-1", "content": d.sha1_hex() }, { "alg": "SHA-256", "content": d.sha256_hex() }])
}

fn image(bom_ref: &str, s: &Subject) -> Value {
    json!({
        "type": "container",
        "bom-ref": bom_ref,
        "name": s.name,
        "version": s.id,
        "purl": s.purl(),
        "hashes": [{ "alg": "SHA-256", "content": s.id.trim_start_matches("sha256:") }],
    })
}

fn licenses(names: &[String]) -> Value {
    names
        .iter()
        .map(|n| match license::spdx_id(n) {
            Some(id) => json!({ "license": { "id": id } }),
            None => json!({ "license": { "name": n } }),
        })
        .collect()
}

fn package(i: usize, c: &Component, sbom: &Sbom) -> Value {
    let files: Vec<Value> = c
        .files
        .iter()
        .enumerate()
        .filter_map(|(j, f)| {
            let d = sbom.files.get(f)?;
            Some(json!({ "type": "file", "bom-ref": format!("pkg-{i}-file-{j}"), "name": f, "hashes": hashes(d) }))
        })
        .collect();
    let mut v = json!({
        "type": "library",
        "bom-ref": format!("pkg-{i}"),
        "name": c.name,
        "version": c.version,
        "purl": c.purl,
        "properties": [{ "name": "slimctl:package:type", "value": c.kind }],
    });
    if !c.licenses.is_empty() {
        v["licenses"] = licenses(&c.licenses);
    }
    if !files.is_empty() {
        v["components"] = json!(files);
    }
    v
}

pub fn document(sbom: &Sbom) -> Value {
    let mut root = image("image", &sbom.subject);
    if let Some(a) = &sbom.ancestor {
        root["pedigree"] = json!({ "ancestors": [image("original", a)] });
    }
    let mut components: Vec<Value> = Vec::new();
    if let Some(d) = &sbom.distro {
        components.push(json!({
            "type": "operating-system", "bom-ref": "os", "name": d.id, "version": d.version_id, "description": d.name,
        }));
    }
    components.extend(sbom.components.iter().enumerate().map(|(i, c)| package(i, c, sbom)));
    components.extend(sbom.unowned_files().enumerate().map(
        |(i, (path, d))| json!({ "type": "file", "bom-ref": format!("file-{i}"), "name": path, "hashes": hashes(d) }),
    ));
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", super::uuid_from(&format!("{}{}", sbom.subject.id, sbom.created))),
        "version": 1,
        "metadata": {
            "timestamp": sbom.created,
            "tools": { "components": [{ "type": "application", "name": "slimctl", "version": env!("CARGO_PKG_VERSION") }] },
            "component": root,
        },
        "components": components,
    })
}
