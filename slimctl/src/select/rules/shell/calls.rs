//! Programs that code in other languages starts with literal commands: Python's `subprocess`
//! and `os.system`, Node's `child_process`, Ruby's `system`/backticks/`spawn`, PHP's `exec`/
//! `shell_exec`/`system`, Perl's `system`/`qx`. A command given as one string runs through
//! `/bin/sh` (its words are the shell's to find); a command given as a list names its program.

/// A command found in source code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// A command line for `/bin/sh -c`.
    Shell(String),
    /// A program run directly.
    Program(String),
}

/// The facts' encoding: `sh:LINE` or `cmd:PROGRAM` (shell words never hold a colon).
pub fn encode(call: &Call) -> String {
    match call {
        Call::Shell(s) => format!("sh:{s}"),
        Call::Program(p) => format!("cmd:{p}"),
    }
}

pub fn decode(fact: &str) -> Option<Call> {
    if let Some(s) = fact.strip_prefix("sh:") {
        return Some(Call::Shell(s.to_owned()));
    }
    fact.strip_prefix("cmd:").map(|p| Call::Program(p.to_owned()))
}

/// The languages whose calls are known, by file name.
pub fn language(path: &str) -> Option<Lang> {
    let ext = path.rsplit('/').next()?.rsplit_once('.')?.1;
    Some(match ext {
        "py" => Lang::Python,
        "js" | "mjs" | "cjs" | "ts" => Lang::Node,
        "rb" => Lang::Ruby,
        "php" | "phtml" | "inc" => Lang::Php,
        "pl" | "pm" | "cgi" => Lang::Perl,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    Node,
    Ruby,
    Php,
    Perl,
}

/// Calls whose string argument always goes through the shell.
fn shell_calls(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Python => &["os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"],
        Lang::Node => &["exec", "execSync"],
        Lang::Ruby => &["%x"],
        Lang::Php => &["exec", "shell_exec", "system", "passthru", "popen", "proc_open"],
        Lang::Perl => &["qx"],
    }
}

/// Calls that take a program (first list element, or a string without spaces) or, given one
/// string with spaces, a command line for the shell.
fn program_calls(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Python => &[
            "subprocess.run",
            "subprocess.call",
            "subprocess.check_call",
            "subprocess.check_output",
            "subprocess.Popen",
            "Popen",
            "os.execv",
            "os.execvp",
            "os.execl",
            "os.execlp",
            "os.spawnv",
            "os.spawnvp",
            "shutil.which",
        ],
        Lang::Node => &["spawn", "spawnSync", "execFile", "execFileSync"],
        Lang::Ruby => &["system", "exec", "spawn", "IO.popen", "Open3.capture2", "Open3.capture3", "Open3.popen3"],
        Lang::Php => &[],
        Lang::Perl => &["system", "exec"],
    }
}

/// The code of a source file without its comments and documentation (docstrings, POD), where
/// example commands are written that never run.
fn code(src: &str, lang: Lang) -> String {
    let mut out = String::with_capacity(src.len());
    let mut in_block: Option<&str> = None;
    for line in src.lines() {
        let mut rest = line;
        let mut kept = String::new();
        loop {
            if let Some(end) = in_block {
                match rest.find(end) {
                    Some(i) => {
                        rest = &rest[i + end.len()..];
                        in_block = None;
                    }
                    None => break,
                }
                continue;
            }
            let opens: &[(&str, &str)] = match lang {
                Lang::Python => &[("\"\"\"", "\"\"\""), ("'''", "'''")],
                Lang::Node | Lang::Php => &[("/*", "*/")],
                Lang::Ruby | Lang::Perl => &[],
            };
            let line_comment: &[&str] = match lang {
                Lang::Python | Lang::Ruby | Lang::Perl => &["#"],
                Lang::Node => &["//"],
                Lang::Php => &["//", "#"],
            };
            let first_open = opens.iter().filter_map(|(o, e)| rest.find(o).map(|i| (i, *o, *e))).min_by_key(|x| x.0);
            let first_comment = line_comment.iter().filter_map(|c| rest.find(c)).min();
            match (first_open, first_comment) {
                (Some((i, o, e)), c) if c.is_none_or(|c| i < c) => {
                    kept.push_str(&rest[..i]);
                    rest = &rest[i + o.len()..];
                    in_block = Some(e);
                }
                (_, Some(c)) => {
                    kept.push_str(&rest[..c]);
                    break;
                }
                _ => {
                    kept.push_str(rest);
                    break;
                }
            }
        }
        // Perl's POD and Ruby's =begin/=end run from a line starting with `=` to `=cut`/`=end`.
        out.push_str(&kept);
        out.push('\n');
    }
    if matches!(lang, Lang::Perl | Lang::Ruby) {
        let mut filtered = String::new();
        let mut doc = false;
        for line in out.lines() {
            if line.starts_with("=cut") || line.starts_with("=end") {
                doc = false;
                continue;
            }
            if line.starts_with('=') && line.len() > 1 && line.as_bytes()[1].is_ascii_alphabetic() {
                doc = true;
            }
            if !doc {
                filtered.push_str(line);
                filtered.push('\n');
            }
        }
        return filtered;
    }
    out
}

/// The literal commands of a source file.
pub fn parse(src: &str, lang: Lang) -> Vec<Call> {
    let code = code(src, lang);
    let src = code.as_str();
    let mut out: Vec<Call> = Vec::new();
    let mut push = |c: Call| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    for (names, shell) in [(shell_calls(lang), true), (program_calls(lang), false)] {
        for name in names {
            for arg in call_args(src, name) {
                match arg {
                    Arg::Str(s) if shell || s.trim().contains(' ') => push(Call::Shell(s)),
                    Arg::Str(s) | Arg::ListHead(s) => push(Call::Program(s)),
                    Arg::ShellLine(s) => push(Call::Shell(s)),
                }
            }
        }
    }
    // Backticks run a shell command line in Ruby, PHP and Perl (in JavaScript they are strings).
    if matches!(lang, Lang::Ruby | Lang::Php | Lang::Perl) {
        let mut rest = src;
        while let Some(i) = rest.find('`') {
            let Some(end) = rest[i + 1..].find('`') else { break };
            let body = &rest[i + 1..i + 1 + end];
            if !body.contains('\n') && !body.trim().is_empty() {
                push(Call::Shell(body.to_owned()));
            }
            rest = &rest[i + end + 2..];
        }
    }
    out
}

enum Arg {
    Str(String),
    ListHead(String),
    /// The command line of a shell the call starts (`["sh", "-c", "LINE"]`).
    ShellLine(String),
}

/// The string literals at the start of a list's body (up to the first element that is none).
fn list_strings(mut list: &str) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(s) = string_at(list) {
        let Some(after) = list.trim_start().get(s.len() + 2..) else { break };
        out.push(s);
        match after.trim_start().strip_prefix(',') {
            Some(rest) => list = rest,
            None => break,
        }
    }
    out
}

/// What a command given as words runs: past `env`'s options and `NAME=value`s, the program,
/// and when that program is a shell given `-c` (`-c`, `-lc`, `-ec`...), its command line too.
fn command_words(words: &[String]) -> Vec<Arg> {
    let mut rest = words;
    while let Some((first, tail)) = rest.split_first() {
        if first.rsplit('/').next() != Some("env") {
            break;
        }
        rest = tail;
        while let Some((w, tail)) = rest.split_first() {
            let takes_value = matches!(w.as_str(), "-u" | "--unset" | "-C" | "--chdir" | "-S");
            if w.starts_with('-') || w.contains('=') {
                rest = if takes_value { tail.get(1..).unwrap_or_default() } else { tail };
            } else {
                break;
            }
        }
    }
    let Some((program, args)) = rest.split_first() else { return Vec::new() };
    let mut out = vec![Arg::ListHead(program.clone())];
    if super::words::is_shell(program) {
        let flag = args.iter().position(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('c'));
        if let Some(line) = flag.and_then(|i| args.get(i + 1)) {
            out.push(Arg::ShellLine(line.clone()));
        }
    }
    out
}

/// The first argument of each call of `name` that is a string literal, or a list whose first
/// element is one. `%x` and `qx` take their own delimiters.
fn call_args(src: &str, name: &str) -> Vec<Arg> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = src[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        // A whole name: not the tail of a longer identifier or of another object's method.
        let before = src[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || (c == '.' && !name.contains('.'))) {
            continue;
        }
        let rest = &src[from..];
        let (open, rest) = match rest.chars().next() {
            Some(c @ ('(' | '{' | '[')) if name == "%x" || name == "qx" => (c, &rest[1..]),
            Some('(') => ('(', &rest[1..]),
            Some(' ') if matches!(name, "system" | "exec") => (' ', rest),
            _ => continue,
        };
        if name == "%x" || name == "qx" {
            let close = match open {
                '(' => ')',
                '{' => '}',
                _ => ']',
            };
            if let Some(end) = rest.find(close) {
                out.push(Arg::Str(rest[..end].to_owned()));
            }
            continue;
        }
        let rest = rest.trim_start();
        if let Some(list) = rest.strip_prefix('[') {
            out.extend(command_words(&list_strings(list)));
        } else if let Some(s) = string_at(rest) {
            // A program and its arguments as a list after it (Node's `spawn('sh', ['-c', ...])`).
            let after = rest.get(s.len() + 2..).unwrap_or("").trim_start();
            match after.strip_prefix(',').map(str::trim_start).and_then(|a| a.strip_prefix('[')) {
                Some(list) if !s.contains(' ') => {
                    let mut words = vec![s];
                    words.extend(list_strings(list));
                    out.extend(command_words(&words));
                }
                _ => out.push(Arg::Str(s)),
            }
        }
    }
    out
}

/// The string literal at the start of `s` (single, double or back quotes; no interpolation).
fn string_at(s: &str) -> Option<String> {
    let s = s.trim_start();
    let q = s.chars().next().filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let end = s[1..].find(q)?;
    let lit = &s[1..1 + end];
    let interpolated =
        lit.contains("${") || lit.contains("#{") || (q == '"' && lit.contains('$') && !lit.contains("$("));
    (!lit.is_empty() && !lit.contains('\n') && !interpolated).then(|| lit.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_calls() {
        let src = r#"import subprocess, os
out = subprocess.run(["convert", "in.png", "out.jpg"], check=True)
os.system("gzip -9 /tmp/report.csv")
subprocess.check_output("lsof")
subprocess.run(cmd)
tool = shutil.which('git')
x = mysubprocess.run(["nope"])
"#;
        assert_eq!(
            parse(src, Lang::Python),
            [
                Call::Shell("gzip -9 /tmp/report.csv".into()),
                Call::Program("convert".into()),
                Call::Program("lsof".into()),
                Call::Program("git".into()),
            ]
        );
    }

    #[test]
    fn node_ruby_php_perl_calls() {
        let node = "const { execSync, spawn } = require('child_process');\nexecSync('tar czf /tmp/a.tgz /data');\nspawn('ffmpeg', ['-i', f]);\n/re/.exec(s);\n";
        assert_eq!(
            parse(node, Lang::Node),
            [Call::Shell("tar czf /tmp/a.tgz /data".into()), Call::Program("ffmpeg".into())]
        );
        let ruby = "def thumb\n  system(\"convert x.png y.png\")\n  `git rev-parse HEAD`\n  spawn('sleep', '1')\n  %x(uptime)\nend\n";
        let got = parse(ruby, Lang::Ruby);
        assert!(got.contains(&Call::Shell("convert x.png y.png".into())), "{got:?}");
        assert!(got.contains(&Call::Shell("git rev-parse HEAD".into())) && got.contains(&Call::Shell("uptime".into())));
        assert!(got.contains(&Call::Program("sleep".into())), "{got:?}");
        let php = "<?php $v = shell_exec('pdftotext a.pdf -'); $n = `wc -l data.txt`; ?>";
        assert_eq!(
            parse(php, Lang::Php),
            [Call::Shell("pdftotext a.pdf -".into()), Call::Shell("wc -l data.txt".into())]
        );
        let perl = "my $d = qx(date +%s);\nsystem \"rsync -a src/ dst/\";\n";
        let got = parse(perl, Lang::Perl);
        assert!(
            got.contains(&Call::Shell("date +%s".into())) && got.contains(&Call::Shell("rsync -a src/ dst/".into())),
            "{got:?}"
        );
    }

    #[test]
    fn comments_and_documentation_run_nothing() {
        let py = "def check_output(*a):\n    \"\"\"Example:\n    >>> check_output([\"ls\", \"-l\"])\n    \"\"\"\n    # os.system(\"rm -rf /\")\n    return run(['true'])\n";
        assert!(parse(py, Lang::Python).is_empty(), "{:?}", parse(py, Lang::Python));
        let js = "/* execSync('make') */\n// spawn('ls')\nexecSync('date'); // spawn('x')\n";
        assert_eq!(parse(js, Lang::Node), [Call::Shell("date".into())]);
        let perl = "=pod\n\n  system('ls');\n\n=cut\nsystem('pwd');\n";
        assert_eq!(parse(perl, Lang::Perl), [Call::Program("pwd".into())]);
    }

    /// A shell given a command line (`sh -c`, `bash -lc`), and `env` in front of a program: what
    /// runs is inside.
    #[test]
    fn commands_inside_command_words() {
        let py = "subprocess.run([\"sh\", \"-c\", \"cut -d, -f1 /data.csv | sort -u\"], check=True)\n\
                  subprocess.run(['env', '-u', 'HOME', 'LANG=C', 'bash', '-lc', 'uniq -c'])\n\
                  subprocess.run(['/usr/bin/env', 'jq', '.x'])\nsubprocess.run(['sh', script])\n";
        assert_eq!(
            parse(py, Lang::Python),
            [
                Call::Program("sh".into()),
                Call::Shell("cut -d, -f1 /data.csv | sort -u".into()),
                Call::Program("bash".into()),
                Call::Shell("uniq -c".into()),
                Call::Program("jq".into()),
            ]
        );
        let node = "spawn('bash', ['-c', 'tar xzf a.tgz']);\nexecFile('env', ['TZ=UTC', 'date']);\n";
        assert_eq!(
            parse(node, Lang::Node),
            [Call::Program("bash".into()), Call::Shell("tar xzf a.tgz".into()), Call::Program("date".into()),]
        );
    }

    #[test]
    fn interpolated_strings_name_nothing() {
        assert!(parse("os.system(f\"rm {path}\")\nos.system(\"rm ${x}\")", Lang::Python).is_empty());
        assert!(parse("execSync(`ls ${dir}`)", Lang::Node).is_empty());
    }
}
