//! Coverage rule time-zones: the time-zone database once kept code resolves zone *names*, even
//! if the traced run opened no zone file (a page that shows a time in the customer's zone, a
//! report for another office). Code that only reads `/etc/localtime` (every libc's local time)
//! is no reason: the name has to come from the app.
//!
//! What resolves names: Python's `zoneinfo` (and its backport), `pytz`, `dateutil.tz`,
//! `tzlocal`; Ruby's `tzinfo`; a Go program the run started that calls `time.LoadLocation`
//! (Go keeps every function's name in the binary, stripped or not); PHP code that names a zone
//! (`date_default_timezone_set`, `DateTimeZone`, `timezone_open`) or a PHP configuration that
//! sets `date.timezone`. Kept with them: the system's database, and the copies Python packages
//! carry (`tzdata`, pytz's and dateutil's own).

use super::Rule;
use crate::image::index::entry::parent;
use crate::image::index::facts::ContentReader;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use std::sync::Arc;

const NAME: &str = "time-zones";

/// PHP sources and configuration larger than this are not read.
const PHP_READ_LIMIT: u64 = 2 << 20;
/// Programs larger than this are not searched.
const PROGRAM_READ_LIMIT: u64 = 512 << 20;

/// Library modules that resolve zone names, by the end of their path.
const RESOLVERS: [&str; 7] = [
    "/zoneinfo/__init__.py",
    "/pytz/__init__.py",
    "/dateutil/tz/tz.py",
    "/tzlocal/__init__.py",
    "/tzinfo.rb",
    "/tzinfo/data_source.rb",
    "/tzinfo/timezone.rb",
];

/// Zone data Python packages carry, beside the module that reads it.
const BUNDLED: [(&str, &str); 2] = [("/pytz/__init__.py", "zoneinfo"), ("/dateutil/tz/tz.py", "../zoneinfo")];

pub struct TimeZones;

/// Finds the name resolvers in programs and PHP code: `tz` when the file has one.
struct Reader;

fn is_php(path: &str) -> bool {
    path.ends_with(".php") || (path.ends_with(".ini") && path.contains("/php"))
}

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, head: &[u8]) -> bool {
        let file = path.rsplit('/').next().unwrap_or("");
        let program = head.starts_with(b"\x7fELF") && !file.contains(".so") && size <= PROGRAM_READ_LIMIT;
        program || (is_php(path) && size <= PHP_READ_LIMIT)
    }
    fn read(&self, path: &str, content: &[u8]) -> Vec<String> {
        let found = if content.starts_with(b"\x7fELF") {
            contains(content, b"time.LoadLocation")
        } else if path.ends_with(".ini") {
            String::from_utf8_lossy(content).lines().any(|l| {
                let l = l.trim_start();
                l.strip_prefix("date.timezone").is_some_and(|v| v.trim_start().starts_with('=')) && !l.starts_with(';')
            })
        } else {
            ["date_default_timezone_set", "DateTimeZone", "timezone_open"]
                .iter()
                .any(|n| contains(content, n.as_bytes()))
        };
        if found {
            vec!["tz".to_owned()]
        } else {
            Vec::new()
        }
    }
    fn lazy(&self) -> bool {
        true
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

impl Rule for TimeZones {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the time-zone database once kept code resolves zone names (zoneinfo, pytz, tzinfo, Go's \
         time.LoadLocation, PHP's zone functions)"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_complete(&mut self, cx: &mut Cx<'_>) {
        let Some(resolver) = resolver(cx) else { return };
        let mut wanted: Vec<(String, bool)> = vec![
            ("/usr/share/zoneinfo".into(), true),
            ("/etc/localtime".into(), false),
            ("/etc/timezone".into(), false),
        ];
        for (module, data) in BUNDLED {
            for kept in cx.keep().paths.keys().filter(|p| p.ends_with(module)) {
                wanted.push((normalize(&format!("{}/{data}", parent(kept))), true));
            }
        }
        // Python's zoneinfo reads the tzdata package where the system has no database.
        let tzdata = cx.index().iter().filter(|(p, e)| {
            e.is_dir() && (p.ends_with("-packages/tzdata")) && cx.index().get(&format!("{p}/__init__.py")).is_some()
        });
        wanted.extend(tzdata.map(|(p, _)| (p.to_owned(), true)).collect::<Vec<_>>());
        for (path, subtree) in wanted {
            if subtree || !cx.keep().contains(&path) {
                let reason =
                    Reason::Rule { rule: NAME, what: "time-zone database".into(), of: resolver.clone().into() };
                cx.want_if_present(path, reason, subtree);
            }
        }
    }
}

/// The first kept file that resolves zone names, if any.
fn resolver(cx: &Cx<'_>) -> Option<String> {
    let keep = cx.keep();
    if let Some(p) = keep.paths.keys().find(|p| RESOLVERS.iter().any(|r| p.ends_with(r))) {
        return Some(p.clone());
    }
    // Programs the run started, and kept PHP code: what they say of themselves.
    keep.paths
        .iter()
        .filter(|(p, k)| is_php(p) || k.traced("exec"))
        .find(|(p, _)| cx.facts_at(p, NAME).is_some_and(|f| f.iter().any(|f| f == "tz")))
        .map(|(p, _)| p.clone())
}

/// `a/b/../c` → `a/c`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            ".." => {
                parts.pop();
            }
            "." => {}
            _ => parts.push(part),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, files_index, traced};
    use super::Reader;
    use crate::image::index::facts::ContentReader;
    use crate::select::closure::ClosureBuilder;
    use crate::select::keep::Reason;
    use crate::select::rules::all_except;
    use crate::select::Seed;

    const ZONES: [(&str, &str); 3] = [
        ("usr/share/zoneinfo/Europe/Paris", "tz"),
        ("usr/share/zoneinfo/Asia/Tokyo", "tz"),
        ("etc/timezone", "Etc/UTC\n"),
    ];

    fn exec(path: &str) -> Seed {
        Seed { path: path.into(), reason: Reason::Traced { how: "exec".into(), by: "app[1]".into() }, optional: true }
    }

    /// Whether every zone is kept, `seeds` used by the run (`/app/NAME` without a dot: a program
    /// it started).
    fn kept_zones(files: &[(&str, &str)], seeds: &[&str], off: &[&str]) -> bool {
        let mut all = ZONES.to_vec();
        all.extend_from_slice(files);
        let idx = files_index(&all);
        let off: Vec<String> = off.iter().map(|s| s.to_string()).collect();
        let c = ClosureBuilder::new(&idx, &config("app"))
            .rules(all_except(&off))
            .seeds(seeds.iter().map(|s| if s.starts_with("/app/") && !s.contains('.') { exec(s) } else { traced(s) }))
            .build();
        c.keep.contains("/usr/share/zoneinfo/Asia/Tokyo")
    }

    #[test]
    fn a_python_app_that_resolves_zone_names_keeps_the_database() {
        let app = ("app/app.py", "def hours(tz):\n    from zoneinfo import ZoneInfo\n    return ZoneInfo(tz)\n");
        let zoneinfo = ("usr/lib/python3.11/zoneinfo/__init__.py", "from zoneinfo._common import x\n");
        let datetime = ("usr/lib/python3.11/datetime.py", "import time\n");
        assert!(kept_zones(&[app, zoneinfo, datetime], &["/app/app.py"], &[]), "zoneinfo is imported: all zones");
        assert!(!kept_zones(&[app, zoneinfo, datetime], &["/app/app.py"], &["time-zones"]), "the rule off");
        // datetime with the local time alone names no zone.
        let local = ("app/app.py", "import datetime\nprint(datetime.datetime.now())\n");
        assert!(!kept_zones(&[local, zoneinfo, datetime], &["/app/app.py", "/usr/lib/python3.11/datetime.py"], &[]));
    }

    #[test]
    fn pythons_tzdata_and_pytz_data_come_along() {
        let idx = files_index(&[
            ("usr/lib/python3/dist-packages/pytz/__init__.py", "x"),
            ("usr/lib/python3/dist-packages/pytz/zoneinfo/Europe/Paris", "tz"),
            ("usr/local/lib/python3.11/dist-packages/tzdata/__init__.py", ""),
            ("usr/local/lib/python3.11/dist-packages/tzdata/zoneinfo/Asia/Tokyo", "tz"),
            ("usr/lib/python3/dist-packages/other/data.bin", "x"),
        ]);
        let c = ClosureBuilder::new(&idx, &config("app"))
            .seeds([traced("/usr/lib/python3/dist-packages/pytz/__init__.py")])
            .build();
        assert!(c.keep.contains("/usr/lib/python3/dist-packages/pytz/zoneinfo/Europe/Paris"));
        assert!(c.keep.contains("/usr/local/lib/python3.11/dist-packages/tzdata/zoneinfo/Asia/Tokyo"));
        assert!(!c.keep.contains("/usr/lib/python3/dist-packages/other/data.bin"));
    }

    #[test]
    fn go_programs_and_php_code_say_whether_they_resolve_names() {
        let elf = |body: &str| format!("\x7fELF\x02\x01\x01{body}");
        assert_eq!(Reader.read("/app/server", elf("..main.main..time.LoadLocation..").as_bytes()), ["tz"]);
        assert!(Reader.read("/app/zonefree", elf("..main.main..time.Now..time.loadLocation..").as_bytes()).is_empty());
        assert!(!Reader.wants("/usr/lib/x86_64-linux-gnu/libc.so.6", 10, b"\x7fELF"), "a library is no program");
        assert_eq!(Reader.read("/var/www/a.php", b"<?php $z = new DateTimeZone($_GET['tz']);"), ["tz"]);
        assert!(Reader.read("/var/www/b.php", b"<?php echo date('Y');").is_empty());
        assert_eq!(Reader.read("/etc/php/8.2/apache2/php.ini", b"[Date]\ndate.timezone = Europe/Paris\n"), ["tz"]);
        assert!(Reader.read("/etc/php/8.2/apache2/php.ini", b"[Date]\n;date.timezone =\n").is_empty());

        let go = elf("time.LoadLocation");
        let zonefree = elf("time.Now");
        assert!(kept_zones(&[("app/server", &go)], &["/app/server"], &[]), "a Go server that loads zones by name");
        assert!(!kept_zones(&[("app/tool", &zonefree)], &["/app/tool"], &[]), "a program that names no zone");
        assert!(!kept_zones(&[("app/server", &go)], &["/etc/timezone"], &[]), "a Go program the run never started");
    }
}
