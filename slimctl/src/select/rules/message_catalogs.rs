//! Coverage rule message-catalogs: translations the app switches to per request or per session,
//! which the traced run (in one language) never opened.
//!
//! - gettext catalogs (`<dir>/<lang>/LC_MESSAGES/<domain>.mo`) that a package the app uses
//!   carries (Django's, WTForms', humanize's), for the languages the app names: in its own code
//!   and settings (`LANGUAGE_CODE = "de"`, `activate("fr_FR")`, a `LANGUAGES` list) or in the
//!   image's `LANG`/`LANGUAGE`/`LC_ALL`/`LC_MESSAGES`. Python's gettext needs no system locale,
//!   so a catalog is all a language takes. A bare two-letter code counts only near a word that
//!   speaks of languages (`"id"` is a JSON key far more often than Indonesian).
//! - A server's message files, one per language in directories named for the language
//!   (MySQL's and MariaDB's `<lang>/errmsg.sys`), once the run opened one: a client chooses its
//!   session's language (`SET lc_messages`), and the server reads that file then.
//!
//! Not kept: the system's own catalogs (`/usr/share/locale`) for languages only a client could
//! choose; a program that prints in the image's `LANG` opened its catalog in the traced run.

use super::Rule;
use crate::image::index::entry::parent;
use crate::image::index::facts::ContentReader;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const NAME: &str = "message-catalogs";

/// Sources and settings larger than this are not read for language names.
const READ_LIMIT: u64 = 1 << 20;

/// What app code and settings are written in.
const SOURCES: &[&str] = &[
    "py",
    "rb",
    "js",
    "mjs",
    "cjs",
    "ts",
    "php",
    "pl",
    "pm",
    "yml",
    "yaml",
    "json",
    "toml",
    "ini",
    "cfg",
    "conf",
    "env",
    "properties",
];

/// Directories of installed dependencies: their code names languages for their own reasons.
const LIBRARY_DIRS: &[&str] = &["/site-packages/", "/dist-packages/", "/node_modules/", "/gems/", "/vendor/"];

/// The system's catalog directories: per program, not per package the app uses.
const SYSTEM_CATALOGS: &[&str] = &["/usr/share/locale", "/usr/local/share/locale", "/usr/share/locale-langpack"];

/// Words that put a bare language code in context, lowercased.
const LANGUAGE_WORDS: &[&str] = &["lang", "locale", "i18n", "l10n", "gettext", "translat", "activate"];

/// How many lines after such a word a bare code still counts (a multi-line `LANGUAGES` list).
const CONTEXT_LINES: usize = 8;

/// Directory names of servers' per-language message files (MySQL, MariaDB).
const LANGUAGE_NAMES: &[&str] = &[
    "bulgarian",
    "chinese",
    "czech",
    "danish",
    "dutch",
    "english",
    "estonian",
    "french",
    "georgian",
    "german",
    "greek",
    "hindi",
    "hungarian",
    "italian",
    "japanese",
    "korean",
    "norwegian",
    "norwegian-ny",
    "polish",
    "portuguese",
    "romanian",
    "russian",
    "serbian",
    "slovak",
    "spanish",
    "swedish",
    "ukrainian",
];

pub struct MessageCatalogs;

/// Finds language tags in string literals: `lang TAG` facts.
struct Reader;

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, _head: &[u8]) -> bool {
        let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
        size <= READ_LIMIT && SOURCES.contains(&ext) && !LIBRARY_DIRS.iter().any(|d| path.contains(d))
    }
    fn read(&self, _path: &str, content: &[u8]) -> Vec<String> {
        language_tags(&String::from_utf8_lossy(content)).into_iter().map(|t| format!("lang {t}")).collect()
    }
    fn lazy(&self) -> bool {
        true
    }
}

/// Language tags quoted in `src`: with a region or script (`de_DE`, `pt-br`, `zh-Hans`)
/// anywhere; a bare code (`de`) only within [`CONTEXT_LINES`] of a language word.
fn language_tags(src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut since_word = usize::MAX;
    for line in src.lines() {
        let lower = line.to_ascii_lowercase();
        if LANGUAGE_WORDS.iter().any(|w| lower.contains(w)) {
            since_word = 0;
        } else {
            since_word = since_word.saturating_add(1);
        }
        let mut rest = line;
        while let Some(i) = rest.find(['"', '\'']) {
            let q = rest.as_bytes()[i] as char;
            let body = &rest[i + 1..];
            let Some(end) = body.find(q) else { break };
            let lit = &body[..end];
            rest = &body[end + 1..];
            if let Some(tag) = tag(lit) {
                if tag.contains('_') || since_word <= CONTEXT_LINES {
                    out.insert(tag);
                }
            }
        }
    }
    out
}

/// `lit` as a gettext locale name if it is a language tag: `de`, `de_DE`, `pt-br` → `pt_BR`,
/// `zh-hans` → `zh_Hans`, `de_DE.UTF-8@euro` → `de_DE`.
fn tag(lit: &str) -> Option<String> {
    let lit = lit.split(['.', '@']).next()?;
    let (lang, region) = match lit.split_once(['_', '-']) {
        Some((l, r)) => (l, Some(r)),
        None => (lit, None),
    };
    let lang_ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
    if !lang_ok {
        return None;
    }
    match region {
        None => Some(lang.to_owned()),
        Some(r) if r.len() == 2 && r.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(format!("{lang}_{}", r.to_ascii_uppercase()))
        }
        Some(r) if r.len() == 4 && r.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(format!("{lang}_{}{}", r[..1].to_ascii_uppercase(), r[1..].to_ascii_lowercase()))
        }
        Some(_) => None,
    }
}

/// What gettext looks for when asked for `tag`: the tag, then its language alone.
fn lookups(tag: &str) -> Vec<String> {
    let mut out = vec![tag.to_owned()];
    if let Some((lang, _)) = tag.split_once('_') {
        out.push(lang.to_owned());
    }
    out
}

impl Rule for MessageCatalogs {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the gettext catalogs of used packages for the languages the app names, and a server's \
         message files for every language a client may choose"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_complete(&mut self, cx: &mut Cx<'_>) {
        let named = named_languages(cx);
        if !named.is_empty() {
            package_catalogs(cx, &named);
        }
        server_messages(cx);
    }
}

/// Each language tag the app names, with where it is named.
fn named_languages(cx: &Cx<'_>) -> BTreeMap<String, String> {
    let mut named = BTreeMap::new();
    for var in ["LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"] {
        for value in cx.config().env_var(var).unwrap_or_default().split(':') {
            if let Some(t) = tag(value).filter(|t| t != "C" && !value.starts_with("C.")) {
                named.entry(t).or_insert_with(|| format!("the image's {var}"));
            }
        }
    }
    let owned: BTreeSet<&str> = cx.packages().iter().flat_map(|p| p.files.iter().map(String::as_str)).collect();
    let keep = cx.keep();
    let app_files = keep.paths.keys().filter(|p| !owned.contains(p.as_str()) && cx.is_file(p));
    for path in app_files {
        for fact in cx.facts_at(path, NAME).iter().flat_map(|f| f.iter()) {
            if let Some(t) = fact.strip_prefix("lang ") {
                named.entry(t.to_owned()).or_insert_with(|| path.clone());
            }
        }
    }
    named
}

/// The catalogs of packages with a kept file, for the named languages: `.mo` files only (the
/// `.po` sources beside them are never read).
fn package_catalogs(cx: &mut Cx<'_>, named: &BTreeMap<String, String>) {
    let mut wanted: Vec<(String, Reason)> = Vec::new();
    let index = cx.index();
    let mut trees: BTreeMap<&str, bool> = BTreeMap::new();
    for (path, entry) in index.iter() {
        if entry.is_dir() || !path.ends_with(".mo") {
            continue;
        }
        let Some((lang_dir, _)) = path.split_once("/LC_MESSAGES/") else { continue };
        let tree = parent(lang_dir);
        let lang = &lang_dir[tree.len() + 1..];
        if SYSTEM_CATALOGS.contains(&tree) {
            continue;
        }
        let used = *trees.entry(tree).or_insert_with(|| package_used(cx, tree));
        if !used {
            continue;
        }
        let by = named.iter().find(|(t, _)| lookups(t).iter().any(|l| l.eq_ignore_ascii_case(lang)));
        if let Some((t, source)) = by {
            let what = format!("{t} catalog of {}", parent(tree));
            wanted.push((path.to_owned(), Reason::Rule { rule: NAME, what: what.into(), of: source.clone().into() }));
        }
    }
    for (path, reason) in wanted {
        cx.want(path, reason);
    }
}

/// Whether a file of the package holding catalog tree `tree` is kept (not counting the tree).
fn package_used(cx: &Cx<'_>, tree: &str) -> bool {
    let package = format!("{}/", parent(tree));
    let own = format!("{tree}/");
    cx.keep()
        .paths
        .range(package.clone()..)
        .take_while(|(p, _)| p.starts_with(&package))
        .any(|(p, _)| !p.starts_with(&own) && cx.is_file(p))
}

/// A server's message files of every language, one file per language-named directory: those
/// of a set the run opened a file of, and those the package of a program the run started ships
/// (MariaDB opens none at start, its English is built in, and reads `german/errmsg.sys` when a
/// session sets `lc_messages`).
fn server_messages(cx: &mut Cx<'_>) {
    let keep = cx.keep();
    let traced =
        |how: &str| keep.paths.iter().filter(|(_, k)| k.traced(how)).map(|(p, _)| p.clone()).collect::<Vec<String>>();
    let (opened, started) = (traced("open"), traced("exec"));
    // (root, rest) → the files of the set, and what the set was found by.
    let mut sets: BTreeMap<(String, String), (Vec<String>, String)> = BTreeMap::new();
    for path in &opened {
        if let Some(key) = language_split(path) {
            let files: Vec<String> =
                LANGUAGE_NAMES.iter().map(|l| format!("{}/{l}/{}", key.0, key.1)).filter(|p| cx.is_file(p)).collect();
            sets.entry(key).or_insert_with(|| (files, path.clone()));
        }
    }
    for program in &started {
        for package in cx.packages().iter().filter(|p| p.owns(program)) {
            for file in &package.files {
                if let Some(key) = language_split(file) {
                    let set = sets.entry(key).or_insert_with(|| (Vec::new(), program.clone()));
                    if !set.0.contains(file) {
                        set.0.push(file.clone());
                    }
                }
            }
        }
    }
    let mut wanted: Vec<(String, Reason)> = Vec::new();
    for ((_, rest), (files, by)) in sets {
        // One or two such files could be a coincidence of names; a server ships many.
        if files.len() < 3 {
            continue;
        }
        for f in files {
            let what = format!("message file of each language a client may choose ({rest})");
            wanted.push((f, Reason::Rule { rule: NAME, what: what.into(), of: by.clone().into() }));
        }
    }
    for (path, reason) in wanted {
        if !cx.keep().contains(&path) {
            cx.want(path, reason);
        }
    }
}

/// `<root>/<language name>/<rest>` split into root and rest.
fn language_split(path: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = path.split('/').collect();
    let i = parts.iter().position(|c| LANGUAGE_NAMES.contains(c)).filter(|i| *i >= 2 && *i + 1 < parts.len())?;
    Some((parts[..i].join("/"), parts[i + 1..].join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::closure::ClosureBuilder;
    use crate::select::rules::all_except;
    use crate::select::rules::tests::{config, files_index, traced};

    #[test]
    fn tags_are_read_as_gettext_names_and_bare_codes_need_a_language_word() {
        let src = r#"
data = {"id": 1, "name": "de"}
humanize.i18n.activate("de_DE")
LANGUAGES = [
    ("fr", "French"),
    ("pt-br", "Brazilian Portuguese"),
    ("zh-hans", "Simplified Chinese"),
]
x = 1
y = 2
z = 3
a = 4
b = 5
c = 6
d = 7
e = 8
f = 9
footer = "it"
"#;
        let got: Vec<String> = language_tags(src).into_iter().collect();
        assert_eq!(got, ["de_DE", "fr", "pt_BR", "zh_Hans"]);
        assert_eq!(tag("de_DE.UTF-8@euro").as_deref(), Some("de_DE"));
        assert_eq!(tag("README"), None);
        assert_eq!(tag("de-1996"), None);
    }

    fn humanize_index() -> crate::image::FileIndex {
        files_index(&[
            ("app/app.py", "import humanize\nhumanize.i18n.activate('de_DE')\n"),
            ("usr/lib/python3/dist-packages/humanize/__init__.py", ""),
            ("usr/lib/python3/dist-packages/humanize/locale/de_DE/LC_MESSAGES/humanize.mo", "de"),
            ("usr/lib/python3/dist-packages/humanize/locale/de_DE/LC_MESSAGES/humanize.po", "de source"),
            ("usr/lib/python3/dist-packages/humanize/locale/fr_FR/LC_MESSAGES/humanize.mo", "fr"),
            ("usr/lib/python3/dist-packages/unused/__init__.py", ""),
            ("usr/lib/python3/dist-packages/unused/locale/de_DE/LC_MESSAGES/unused.mo", "de"),
            ("usr/share/locale/de/LC_MESSAGES/coreutils.mo", "de"),
        ])
    }

    #[test]
    fn the_named_languages_catalogs_of_used_packages_are_kept() {
        let idx = humanize_index();
        let cfg = config("/app/app.py");
        let c = ClosureBuilder::new(&idx, &cfg)
            .seeds([traced("/app/app.py"), traced("/usr/lib/python3/dist-packages/humanize/__init__.py")])
            .build();
        let pkg = "/usr/lib/python3/dist-packages";
        assert!(c.keep.contains(&format!("{pkg}/humanize/locale/de_DE/LC_MESSAGES/humanize.mo")));
        for out in [
            format!("{pkg}/humanize/locale/de_DE/LC_MESSAGES/humanize.po"),
            format!("{pkg}/humanize/locale/fr_FR/LC_MESSAGES/humanize.mo"),
            format!("{pkg}/unused/locale/de_DE/LC_MESSAGES/unused.mo"),
            "/usr/share/locale/de/LC_MESSAGES/coreutils.mo".into(),
        ] {
            assert!(!c.keep.contains(&out), "{out}");
        }
        let off = ClosureBuilder::new(&idx, &cfg)
            .rules(all_except(&[NAME.into()]))
            .seeds([traced("/app/app.py"), traced("/usr/lib/python3/dist-packages/humanize/__init__.py")])
            .build();
        assert!(!off.keep.contains(&format!("{pkg}/humanize/locale/de_DE/LC_MESSAGES/humanize.mo")));
    }

    #[test]
    fn a_servers_message_files_of_every_language_are_kept_once_it_opened_one() {
        let idx = files_index(&[
            ("usr/sbin/mariadbd*", "\x7fELF"),
            ("usr/share/mariadb/english/errmsg.sys", "en"),
            ("usr/share/mariadb/german/errmsg.sys", "de"),
            ("usr/share/mariadb/french/errmsg.sys", "fr"),
            ("usr/share/mariadb/charsets/Index.xml", "x"),
            ("usr/share/doc/english/README", "a"),
            ("usr/share/doc/german/README", "b"),
        ]);
        let cfg = config("/usr/sbin/mariadbd");
        let c = ClosureBuilder::new(&idx, &cfg)
            .seeds([traced("/usr/share/mariadb/english/errmsg.sys"), traced("/usr/share/doc/english/README")])
            .build();
        assert!(c.keep.contains("/usr/share/mariadb/german/errmsg.sys"));
        assert!(c.keep.contains("/usr/share/mariadb/french/errmsg.sys"));
        assert!(!c.keep.contains("/usr/share/mariadb/charsets/Index.xml"));
        assert!(!c.keep.contains("/usr/share/doc/german/README"), "one other file is no server's set");
    }

    /// MariaDB's English is built in: the run opens no message file. The package of the server
    /// the run started ships one per language; another package's set stays out.
    #[test]
    fn the_message_files_the_started_servers_package_ships_are_kept() {
        use crate::select::keep::Seed;
        use crate::select::packages::Package;
        let files = [
            "/usr/sbin/mariadbd",
            "/usr/share/mysql/english/errmsg.sys",
            "/usr/share/mysql/german/errmsg.sys",
            "/usr/share/mysql/french/errmsg.sys",
        ];
        let mut index_files: Vec<(String, &str)> =
            files.iter().map(|f| (f.trim_start_matches('/').to_owned(), "x")).collect();
        index_files.extend(["english", "german", "french"].map(|l| (format!("usr/share/other/{l}/help.txt"), "x")));
        let refs: Vec<(&str, &str)> = index_files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
        let idx = files_index(&refs);
        let package = |name: &str, files: Vec<String>| Package {
            manager: "dpkg",
            name: name.into(),
            version: "1".into(),
            files,
            ..Package::default()
        };
        let packages = vec![
            package("mariadb-server-core", files.iter().map(|f| f.to_string()).collect()),
            package(
                "other",
                ["english", "german", "french"].map(|l| format!("/usr/share/other/{l}/help.txt")).to_vec(),
            ),
        ];
        let cfg = config("/usr/sbin/mariadbd");
        let exec = Seed {
            path: "/usr/sbin/mariadbd".into(),
            reason: Reason::Traced { how: "exec".into(), by: "mariadbd[1]".into() },
            optional: true,
        };
        let c = ClosureBuilder::new(&idx, &cfg).packages(&packages).seeds([exec]).build();
        for f in &files[1..] {
            assert!(c.keep.contains(f), "{f}");
        }
        assert!(!c.keep.contains("/usr/share/other/german/help.txt"));
    }
}
