//! A runtime's driver: the program that loads each item, and what it says of them.

use crate::select::{Reached, Runtime};
use std::collections::BTreeMap;

/// Python's driver (see the file: it imports nothing itself, so every file seen after a mark
/// is the item's).
const PYTHON: &str = include_str!("python_driver.py");

/// Node's driver (requires only the built-in fs).
const NODE: &str = include_str!("node_driver.js");

/// Perl's driver (loads no module itself).
const PERL: &str = include_str!("perl_driver.pl");

/// Ruby's driver (loads nothing itself; leaves with exit!, past any at_exit hook).
const RUBY: &str = include_str!("ruby_driver.rb");

/// The line prefix of the driver's reports on stdout (whatever else the loads print is not).
const REPORT: &str = "\u{1e}slimctl-sweep ";

#[derive(Debug, Clone)]
pub struct Driver {
    pub runtime: Runtime,
    /// The interpreter as the traced run executed it.
    pub interpreter: String,
    pub items: Vec<Reached>,
}

/// What the driver said: which items failed, and whether it got through all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Its first report is in the output kept (the output's start was not cut off).
    pub started: bool,
    /// It reported on every item.
    pub done: bool,
    /// Item position → the error its load raised.
    pub failed: BTreeMap<usize, String>,
}

impl Outcome {
    /// Whether item `i` loaded; None when the driver did not get that far or its report is lost.
    pub fn loaded(&self, i: usize) -> Option<bool> {
        (self.started && self.done).then(|| !self.failed.contains_key(&i))
    }
}

impl Driver {
    /// The container's entrypoint: the interpreter running the driver of `runtime`, which reads
    /// its items on stdin (so the container can start before they are known).
    pub fn entrypoint(runtime: Runtime, interpreter: &str) -> Vec<String> {
        match runtime {
            Runtime::Python => vec![interpreter.to_owned(), "-c".into(), PYTHON.into()],
            Runtime::Node => vec![interpreter.to_owned(), "-e".into(), NODE.into()],
            Runtime::Perl => vec![interpreter.to_owned(), "-e".into(), PERL.into()],
            Runtime::Ruby => vec![interpreter.to_owned(), "-e".into(), RUBY.into()],
        }
    }

    /// What the driver reads on stdin: one item a line.
    pub fn input(&self) -> Vec<u8> {
        self.items.iter().flat_map(|i| [i.name.as_bytes(), b"\n"]).flatten().copied().collect()
    }

    /// The driver's reports in the container's stdout.
    pub fn parse(&self, stdout: &str) -> Outcome {
        let mut out = Outcome::default();
        for line in stdout.lines() {
            let Some(rest) = line.strip_prefix(REPORT) else { continue };
            let mut words = rest.splitn(3, ' ');
            match (words.next(), words.next().and_then(|n| n.parse::<usize>().ok()), words.next()) {
                (Some("start"), Some(n), _) => out.started = n == self.items.len(),
                (Some("done"), Some(n), _) => out.done = n == self.items.len(),
                (Some("failed"), Some(i), error) if i < self.items.len() => {
                    out.failed.insert(i, error.unwrap_or("").to_owned());
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_runs_on_the_items_and_its_reports_are_read_back() {
        let d = Driver {
            runtime: Runtime::Python,
            interpreter: "/usr/bin/python3".into(),
            items: vec![Reached::python("decimal"), Reached::python("nosuch"), Reached::python("json.loads")],
        };
        let entrypoint = Driver::entrypoint(d.runtime, &d.interpreter);
        assert_eq!(entrypoint[..2], ["/usr/bin/python3", "-c"]);
        assert_eq!(d.input(), b"decimal\nnosuch\njson.loads\n");
        let stdout = "noise a module printed\n\u{1e}slimctl-sweep start 3\n\
                      \u{1e}slimctl-sweep failed 1 ModuleNotFoundError: No module named 'nosuch'\n\
                      \u{1e}slimctl-sweep done 3\n";
        let o = d.parse(stdout);
        assert_eq!((o.loaded(0), o.loaded(1), o.loaded(2)), (Some(true), Some(false), Some(true)));
        assert_eq!(o.failed[&1], "ModuleNotFoundError: No module named 'nosuch'");
        let cut = d.parse("\u{1e}slimctl-sweep start 3\n");
        assert_eq!(cut.loaded(0), None, "a driver that never finished proves nothing");
    }

    /// The real driver, on the host's Python: what it reports of a module, a missing module, an
    /// attribute and a missing attribute.
    #[test]
    fn the_python_driver_reports_what_failed() {
        let d = Driver {
            runtime: Runtime::Python,
            interpreter: "python3".into(),
            items: ["json", "nosuch_module_xyz", "json.loads", "json.no_such_name"]
                .into_iter()
                .map(Reached::python)
                .collect(),
        };
        let out = run_on_host(&d, &[]);
        let o = d.parse(&String::from_utf8_lossy(&out.stdout));
        assert!(o.started && o.done, "{o:?}");
        assert_eq!(o.failed.keys().copied().collect::<Vec<_>>(), [1, 3], "{o:?}");
        assert!(o.failed[&3].starts_with("AttributeError"), "{o:?}");
    }

    /// The driver of `d` run by its interpreter on the host, with `env` added, fed `d`'s items.
    fn run_on_host(d: &Driver, env: &[(&str, &std::path::Path)]) -> std::process::Output {
        use std::io::Write;
        let mut child = std::process::Command::new(&d.interpreter)
            .args(&Driver::entrypoint(d.runtime, &d.interpreter)[1..])
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the interpreter on the host (every machine this builds on has python3 and perl)");
        child.stdin.take().expect("stdin").write_all(&d.input()).expect("the driver reads its items");
        child.wait_with_output().expect("the driver ends")
    }

    /// The real Perl driver, on the host's perl (Debian's base system has it): a module, a
    /// missing one, and a module that calls exit while it loads.
    #[test]
    fn the_perl_driver_reports_what_failed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Quits.pm"), "package Quits; exit 3; 1;\n").unwrap();
        let d = Driver {
            runtime: Runtime::Perl,
            interpreter: "perl".into(),
            items: ["List::Util", "No::Such::Module", "Quits"].into_iter().map(Reached::perl).collect(),
        };
        let out = run_on_host(&d, &[("PERL5LIB", dir.path())]);
        let o = d.parse(&String::from_utf8_lossy(&out.stdout));
        assert!(o.started && o.done, "{o:?}");
        assert_eq!(o.failed.keys().copied().collect::<Vec<_>>(), [1, 2], "{o:?}");
        assert!(o.failed[&2].contains("called exit"), "{o:?}");
    }

    /// Items are shared among workers (one per CPU), every failure is reported once, whichever
    /// worker met it, and an empty input is a run over nothing.
    #[test]
    fn the_python_driver_reports_each_item_once_whatever_worker_loads_it() {
        let names: Vec<String> =
            (0..40).map(|i| if i % 3 == 0 { format!("no_such_{i}") } else { "json".into() }).collect();
        let d = Driver {
            runtime: Runtime::Python,
            interpreter: "python3".into(),
            items: names.iter().map(|n| Reached::python(n.as_str())).collect(),
        };
        let out = run_on_host(&d, &[]);
        let o = d.parse(&String::from_utf8_lossy(&out.stdout));
        assert!(o.started && o.done, "{o:?}");
        assert_eq!(o.failed.keys().copied().collect::<Vec<_>>(), (0..40).step_by(3).collect::<Vec<_>>());
        let none = Driver { items: Vec::new(), ..d };
        let o = none.parse(&String::from_utf8_lossy(&run_on_host(&none, &[]).stdout));
        assert!(o.started && o.done, "{o:?}");
    }
}
