//! Package inventory: which packages an image holds (Debian's dpkg database, Alpine's apk
//! database, Python dist-info and egg-info, Node packages, Ruby gemspecs) and their files, so a
//! diff can say which packages a slim image dropped entirely and which it keeps in part, the
//! package metadata of a slim image can be kept true, and an SBOM can list them.
use crate::image::index::resolve::resolve;
use crate::image::index::FileIndex;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Package {
    /// "dpkg", "apk", "python", "node" or "gem".
    pub manager: &'static str,
    pub name: String,
    pub version: String,
    /// The architecture its metadata names (dpkg's Architecture, apk's A:), if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub arch: String,
    /// The licenses its metadata states, as it names them (Debian's short names, a Python
    /// License field, a package.json `license`); none when it states none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    /// Where its record is: the dpkg status file (or status.d entry), a dist-info or egg-info
    /// path, a package.json, a gemspec.
    #[serde(skip)]
    pub record: String,
    /// Its files (not directories), canonical paths in the image.
    pub files: Vec<String>,
    /// The packages it declares it needs or recommends (dpkg's Depends, Pre-Depends and
    /// Recommends, every alternative), by name.
    #[serde(skip)]
    pub requires: Vec<String>,
    /// Always installed (dpkg's Essential, or Priority: required): nothing declares a need of it.
    #[serde(skip)]
    pub essential: bool,
}

impl Package {
    /// Whether `path` (canonical) is one of its files.
    pub fn owns(&self, path: &str) -> bool {
        self.files.binary_search_by(|f| f.as_str().cmp(path)).is_ok()
    }
}

/// The package names of a dpkg relation field: `a (>= 1), b | c:any` → a, b, c.
fn relation_names(field: &str) -> impl Iterator<Item = String> + '_ {
    field.split([',', '|']).filter_map(|alt| {
        let name = alt.trim().split([' ', '(', ':']).next()?;
        (!name.is_empty()).then(|| name.to_owned())
    })
}

fn captured(index: &FileIndex, path: &str) -> Option<String> {
    index.get(path).and_then(|e| e.captured()).map(|b| String::from_utf8_lossy(b).into_owned())
}

/// A listed path as the image really has it (through merged-/usr links), if it is a file.
fn canonical_file(index: &FileIndex, path: &str) -> Option<String> {
    // Followed to the end: a listed directory reached through a link (merged /usr) is no file.
    let r = resolve(index, path, "/", true).ok()?;
    let e = index.get(&r.path)?;
    (!e.is_dir()).then_some(r.path)
}

fn files_of(index: &FileIndex, listed: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = listed.filter_map(|p| canonical_file(index, &p)).collect();
    v.sort();
    v.dedup();
    v
}

/// Debian: the status file's installed packages, their files from info/<pkg>[:arch].list;
/// distroless' status.d/ entries too (their files from status.d/<pkg>.md5sums).
fn dpkg(index: &FileIndex, out: &mut Vec<Package>) {
    let mut paragraphs: Vec<(String, String)> = Vec::new();
    if let Some(status) = captured(index, DPKG_STATUS) {
        paragraphs.extend(status.split("\n\n").map(|p| (DPKG_STATUS.to_owned(), p.to_owned())));
    }
    for (p, e) in index.with_prefix("/var/lib/dpkg/status.d/") {
        if let Some(c) = e.captured().filter(|_| !p.ends_with(".md5sums")) {
            paragraphs.push((p.to_owned(), String::from_utf8_lossy(c).into_owned()));
        }
    }
    for (record, para) in paragraphs {
        let field = |name: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(|v| v.trim().to_owned()))
        };
        let (Some(name), Some(version)) = (field("Package"), field("Version")) else { continue };
        if field("Status").is_some_and(|s| !s.ends_with("installed")) {
            continue;
        }
        let arch = field("Architecture").unwrap_or_default();
        let files = if record == DPKG_STATUS {
            let list = captured(index, &format!("{DPKG_INFO}{name}.list"))
                .or_else(|| captured(index, &format!("{DPKG_INFO}{name}:{arch}.list")))
                .unwrap_or_default();
            files_of(index, list.lines().map(str::to_owned))
        } else {
            let sums = captured(index, &format!("{record}.md5sums")).unwrap_or_default();
            files_of(index, md5sums_paths(&sums).map(|p| format!("/{p}")))
        };
        let requires = ["Pre-Depends", "Depends", "Recommends"]
            .iter()
            .filter_map(|f| field(f))
            .flat_map(|v| relation_names(&v).collect::<Vec<_>>());
        let requires = requires.collect();
        let essential =
            field("Essential").as_deref() == Some("yes") || field("Priority").as_deref() == Some("required");
        // Its licenses are in its copyright file, which only an SBOM reads ([`crate::sbom`]).
        out.push(Package {
            manager: "dpkg",
            name,
            version,
            arch,
            record,
            files,
            requires,
            essential,
            ..Package::default()
        });
    }
}

pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";
pub const DPKG_INFO: &str = "/var/lib/dpkg/info/";

/// The paths of an md5sums file (`HASH  usr/bin/ls`), relative to `/`.
pub fn md5sums_paths(sums: &str) -> impl Iterator<Item = &str> {
    sums.lines().filter_map(|l| l.split_once("  ").map(|(_, p)| p.trim_start_matches('/')))
}

/// Alpine: P:name, V:version, F:dir, R:file blocks.
fn apk(index: &FileIndex, out: &mut Vec<Package>) {
    let Some(record) = canonical_file(index, APK_INSTALLED) else { return };
    let Some(db) = captured(index, &record) else { return };
    for block in db.split("\n\n") {
        let (mut name, mut version, mut dir, mut listed) = (String::new(), String::new(), String::new(), Vec::new());
        let (mut arch, mut licenses) = (String::new(), Vec::new());
        for l in block.lines() {
            match l.split_once(':') {
                Some(("P", v)) => name = v.to_owned(),
                Some(("V", v)) => version = v.to_owned(),
                Some(("A", v)) => arch = v.to_owned(),
                Some(("L", v)) => licenses = v.split_whitespace().map(str::to_owned).collect(),
                Some(("F", v)) => dir = v.to_owned(),
                Some(("R", v)) => listed.push(format!("/{dir}/{v}")),
                _ => {}
            }
        }
        if !name.is_empty() {
            let files = files_of(index, listed.into_iter());
            let record = record.clone();
            out.push(Package { manager: "apk", name, version, arch, licenses, record, files, ..Package::default() });
        }
    }
}

pub const APK_INSTALLED: &str = "/lib/apk/db/installed";

/// Python: `*.dist-info` with METADATA (Name, Version) and RECORD (paths from the site dir);
/// `*.egg-info` (a directory with PKG-INFO and installed-files.txt, or a single file) as
/// setuptools and Debian's packages leave them.
fn python(index: &FileIndex, out: &mut Vec<Package>) {
    for (path, e) in index.iter() {
        let (record, listing) = if let Some(dir) = path.strip_suffix("/METADATA").filter(|d| d.ends_with(".dist-info"))
        {
            (dir, "RECORD")
        } else if let Some(dir) = path.strip_suffix("/PKG-INFO").filter(|d| d.ends_with(".egg-info")) {
            (dir, "installed-files.txt")
        } else if path.ends_with(".egg-info") && !e.is_dir() {
            (path, "")
        } else {
            continue;
        };
        let Some(meta) = e.captured().map(|b| String::from_utf8_lossy(b).into_owned()) else { continue };
        // The header ends at the first empty line; the long description follows.
        let header = meta.split("\n\n").next().unwrap_or_default();
        let field = |n: &str| header.lines().find_map(|l| l.strip_prefix(n).map(|v| v.trim().to_owned()));
        let (Some(name), Some(version)) = (field("Name:"), field("Version:")) else { continue };
        let site = &record[..record.rfind('/').unwrap_or(0)];
        let listed: Vec<String> = match listing {
            "RECORD" => captured(index, &format!("{record}/RECORD"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split(',').next())
                .map(|rel| normal_join(site, rel))
                .collect(),
            "" => Vec::new(),
            _ => captured(index, &format!("{record}/{listing}"))
                .unwrap_or_default()
                .lines()
                .map(|rel| normal_join(record, rel))
                .collect(),
        };
        let files = files_of(index, listed.into_iter());
        let licenses = python_licenses(header);
        out.push(Package {
            manager: "python",
            name,
            version,
            licenses,
            record: record.to_owned(),
            files,
            ..Package::default()
        });
    }
}

/// `dir` joined with a relative path that may climb (`../../bin/tool`), lexically.
pub fn normal_join(dir: &str, rel: &str) -> String {
    if rel.starts_with('/') {
        return rel.to_owned();
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A Python package's license: License-Expression (PEP 639), else a one-line License field,
/// else the last part of its license classifiers.
fn python_licenses(header: &str) -> Vec<String> {
    let field = |n: &str| header.lines().find_map(|l| l.strip_prefix(n).map(str::trim)).filter(|v| !v.is_empty());
    if let Some(e) = field("License-Expression:") {
        return vec![e.to_owned()];
    }
    if let Some(l) = field("License:").filter(|l| l.len() <= 64 && *l != "UNKNOWN") {
        return vec![l.to_owned()];
    }
    header
        .lines()
        .filter_map(|l| l.strip_prefix("Classifier: License ::"))
        .filter_map(|c| c.rsplit("::").next().map(|n| n.trim().to_owned()))
        .filter(|n| !n.is_empty() && n != "OSI Approved")
        .collect()
}

/// Node: every node_modules/<pkg>/package.json, with the package directory's files (nested
/// node_modules belong to their own packages).
fn node(index: &FileIndex, out: &mut Vec<Package>) {
    for (path, e) in index.iter() {
        if !path.ends_with("/package.json") || !path.contains("/node_modules/") {
            continue;
        }
        let dir = &path[..path.len() - "/package.json".len()];
        let tail = &dir[dir.rfind("/node_modules/").unwrap() + "/node_modules/".len()..];
        if tail.contains('/') && !tail.starts_with('@') {
            continue; // a package.json deeper inside a package (test fixtures, sub-exports)
        }
        let Some(json) = e.captured().and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok()) else {
            continue;
        };
        let (Some(name), Some(version)) = (json["name"].as_str(), json["version"].as_str()) else { continue };
        let prefix = format!("{dir}/");
        let files = index
            .with_prefix(&prefix)
            .filter(|(p, e)| !e.is_dir() && !p[prefix.len()..].contains("node_modules/"))
            .map(|(p, _)| p.to_owned())
            .collect();
        let (name, version) = (name.to_owned(), version.to_owned());
        let licenses = match &json["license"] {
            serde_json::Value::String(l) => vec![l.clone()],
            serde_json::Value::Object(o) => {
                o.get("type").and_then(|t| t.as_str()).map(str::to_owned).into_iter().collect()
            }
            _ => Vec::new(),
        };
        let record = path.to_owned();
        out.push(Package { manager: "node", name, version, licenses, record, files, ..Package::default() });
    }
}

/// Ruby: installed gems' `specifications/NAME-VERSION.gemspec` (the Ruby that RubyGems writes:
/// `s.name = "rack".freeze`), with the files of `gems/NAME-VERSION/` beside it.
fn gems(index: &FileIndex, out: &mut Vec<Package>) {
    for (path, e) in index.iter() {
        let Some(home) = path.strip_suffix(".gemspec").and_then(|p| p.rsplit_once("/specifications/")) else {
            continue;
        };
        let Some(spec) = e.captured().map(|b| String::from_utf8_lossy(b).into_owned()) else { continue };
        let (Some(name), Some(version)) = (gemspec_value(&spec, "name"), gemspec_value(&spec, "version")) else {
            continue;
        };
        let prefix = format!("{}/gems/{}/", home.0, home.1);
        let files = index.with_prefix(&prefix).filter(|(_, e)| !e.is_dir()).map(|(p, _)| p.to_owned()).collect();
        let licenses =
            gemspec_strings(&spec, "licenses").or_else(|| gemspec_strings(&spec, "license")).unwrap_or_default();
        let record = path.to_owned();
        out.push(Package { manager: "gem", name, version, licenses, record, files, ..Package::default() });
    }
}

/// The first string of a gemspec assignment `s.KEY = "v".freeze` or `s.KEY = ["a", "b"]`.
fn gemspec_value(spec: &str, key: &str) -> Option<String> {
    gemspec_strings(spec, key)?.into_iter().next()
}

fn gemspec_strings(spec: &str, key: &str) -> Option<Vec<String>> {
    spec.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix("s.")?.strip_prefix(key)?.trim_start().strip_prefix('=')?;
        let strings: Vec<String> = rest.split('"').skip(1).step_by(2).map(str::to_owned).collect();
        (!strings.is_empty()).then_some(strings)
    })
}

pub fn inventory(index: &FileIndex) -> Vec<Package> {
    let mut out = Vec::new();
    dpkg(index, &mut out);
    apk(index, &mut out);
    python(index, &mut out);
    node(index, &mut out);
    gems(index, &mut out);
    out.sort_by(|a, b| (a.manager, &a.name).cmp(&(b.manager, &b.name)));
    out
}

/// The dpkg status database of `index`, keeping only the paragraphs of packages for which
/// `keep_pkg` says yes (other paragraphs -- not installed, or gone -- are dropped), and in each
/// `Conffiles:` field only the files `holds` says the image has (scanners list them as the
/// package's files). None when the image has no dpkg database.
pub fn rewrite_dpkg_status(
    index: &FileIndex,
    keep_pkg: impl Fn(&str) -> bool,
    holds: impl Fn(&str) -> bool,
) -> Option<Vec<u8>> {
    let status = captured(index, DPKG_STATUS)?;
    let kept: Vec<String> = status
        .split("\n\n")
        .map(|p| p.trim_matches('\n'))
        .filter(|p| !p.is_empty())
        .filter(|para| para.lines().find_map(|l| l.strip_prefix("Package:").map(str::trim)).is_some_and(&keep_pkg))
        .map(|para| {
            let mut out = Vec::new();
            let mut in_conffiles = false;
            for line in para.lines() {
                if !line.starts_with([' ', '\t']) {
                    in_conffiles = line.starts_with("Conffiles:");
                } else if in_conffiles && line.split_whitespace().next().is_some_and(|p| !holds(p)) {
                    continue;
                }
                out.push(line);
            }
            // A Conffiles field left with no file goes too.
            let empty = |i: usize| {
                out[i].trim_end() == "Conffiles:" && out.get(i + 1).is_none_or(|n| !n.starts_with([' ', '\t']))
            };
            let lines: Vec<&str> = (0..out.len()).filter(|i| !empty(*i)).map(|i| out[i]).collect();
            lines.join("\n")
        })
        .collect();
    let mut out = kept.join("\n\n");
    if !out.is_empty() {
        out.push('\n');
    }
    Some(out.into_bytes())
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageChange {
    pub manager: &'static str,
    pub name: String,
    pub version: String,
    pub files: usize,
    pub kept_files: usize,
    /// "kept" (every file), "partial", or "removed" (no file left).
    pub status: &'static str,
}

/// How much of each package of `original` the other image (`has`: does it hold this path?) keeps.
pub fn compare(original: &[Package], has: impl Fn(&str) -> bool) -> Vec<PackageChange> {
    original
        .iter()
        .filter(|p| !p.files.is_empty())
        .map(|p| {
            let kept = p.files.iter().filter(|f| has(f)).count();
            let status = if kept == 0 {
                "removed"
            } else if kept == p.files.len() {
                "kept"
            } else {
                "partial"
            };
            PackageChange {
                manager: p.manager,
                name: p.name.clone(),
                version: p.version.clone(),
                files: p.files.len(),
                kept_files: kept,
                status,
            }
        })
        .collect()
}

/// Counts per status, for summaries.
pub fn tally(changes: &[PackageChange]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for c in changes {
        *m.entry(c.status).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::image::index::tar::scan_layer;

    /// An index of one layer holding `files` (path, content) and `links` (path, target).
    pub(crate) fn index(files: &[(&str, &str)], links: &[(&str, &str)]) -> FileIndex {
        let items: Vec<(&str, char, &str)> = links
            .iter()
            .map(|(at, to)| (*at, 'l', *to))
            .chain(files.iter().map(|(at, data)| (*at, 'f', *data)))
            .collect();
        let tar = crate::image::index::tar::tests::layer_tar(&items);
        let mut idx = FileIndex::new();
        idx.apply_layer(scan_layer(&tar[..], 0, "t", &[]).unwrap(), None);
        idx
    }

    #[test]
    fn dpkg_packages_with_merged_usr_and_their_fate() {
        let status = "Package: coreutils\nStatus: install ok installed\nArchitecture: amd64\nVersion: 9.1-1\n\n\
                      Package: gawk\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2\n\n\
                      Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n";
        let idx = index(
            &[
                ("var/lib/dpkg/status", status),
                ("var/lib/dpkg/info/coreutils.list", "/.\n/bin\n/bin/ls\n/bin/cat\n"),
                ("var/lib/dpkg/info/gawk:amd64.list", "/usr/bin/gawk\n"),
                ("usr/bin/ls", "x"),
                ("usr/bin/cat", "x"),
                ("usr/bin/gawk", "x"),
            ],
            &[("bin", "usr/bin")],
        );
        let inv = inventory(&idx);
        let names: Vec<&str> = inv.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["coreutils", "gawk"], "deinstalled packages are not inventory");
        assert_eq!(inv[0].files, vec!["/usr/bin/cat", "/usr/bin/ls"], "listed through /bin -> usr/bin");
        let slim_has = |p: &str| p == "/usr/bin/ls";
        let changes = compare(&inv, slim_has);
        assert_eq!((changes[0].status, changes[0].kept_files), ("partial", 1));
        assert_eq!(changes[1].status, "removed");
        assert_eq!(tally(&changes).get("removed"), Some(&1));
    }

    #[test]
    fn dpkg_status_is_rewritten_to_the_kept_packages() {
        let status = "Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: install ok installed\nVersion: 2\n";
        let idx = index(&[("var/lib/dpkg/status", status)], &[]);
        let out = String::from_utf8(rewrite_dpkg_status(&idx, |p| p == "b", |_| true).unwrap()).unwrap();
        assert_eq!(out, "Package: b\nStatus: install ok installed\nVersion: 2\n");
        assert!(rewrite_dpkg_status(&index(&[], &[]), |_| true, |_| true).is_none());
    }

    #[test]
    fn python_and_node_packages() {
        let idx = index(
            &[
                (
                    "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
                    "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n",
                ),
                (
                    "usr/lib/python3/dist-packages/six-1.16.0.dist-info/RECORD",
                    "six.py,sha256=x,1\nsix-1.16.0.dist-info/METADATA,,\n",
                ),
                ("usr/lib/python3/dist-packages/six.py", "x"),
                ("app/node_modules/left-pad/package.json", r#"{"name":"left-pad","version":"1.3.0"}"#),
                ("app/node_modules/left-pad/index.js", "x"),
            ],
            &[],
        );
        let inv = inventory(&idx);
        let py = inv.iter().find(|p| p.manager == "python").unwrap();
        assert_eq!((py.name.as_str(), py.files.len()), ("six", 2));
        let js = inv.iter().find(|p| p.manager == "node").unwrap();
        assert_eq!((js.name.as_str(), js.version.as_str(), js.files.len()), ("left-pad", "1.3.0", 2));
    }
}
