//! The commands a shell script may run, found statically: words in command position or
//! anywhere a program name could appear (`$(...)`, after `|`, `&&`, `xargs`, ...). An
//! over-approximation by design: the closure keeps a word only when it names an executable
//! the image has on its PATH, so a stray English word costs nothing.

const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac", "in", "function",
    "select", "time", "return", "exit", "break", "continue", "local", "export", "readonly", "declare", "typeset",
    "set", "unset", "shift", "eval", "exec", "source", "trap", "wait", "read", "cd", "echo", "printf", "true", "false",
    "test", "let", "alias", "umask", "getopts", "type", "command", "builtin", "hash", "jobs", "kill", "pwd",
];

/// Is `sh`-family: the interpreter of a `#!` line is a shell whose scripts this reads.
pub fn is_shell(shebang: &str) -> bool {
    let mut words = shebang.split_whitespace();
    let Some(first) = words.next() else { return false };
    let prog = if first.ends_with("/env") { words.find(|w| !w.starts_with('-')).unwrap_or("") } else { first };
    matches!(prog.rsplit('/').next().unwrap_or(""), "sh" | "bash" | "dash" | "ash" | "ksh" | "mksh" | "zsh")
}

pub fn parse(src: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in src.lines().skip(1) {
        let line = match line.find('#') {
            // a comment starts at a '#' after whitespace (not "$#" or "${#x}")
            Some(i) if i == 0 || line[..i].ends_with(char::is_whitespace) => &line[..i],
            _ => line,
        };
        let tokens = line.split(|c: char| c.is_whitespace() || ";|&()<>{}`\"'$".contains(c));
        for t in tokens {
            let t = t.trim_matches(|c: char| c == '\\' || c == '!');
            let word_ok = !t.is_empty()
                && !t.starts_with('-')
                && !t.contains('=')
                && t.chars().all(|c| c.is_ascii_alphanumeric() || "_.+-/".contains(c))
                && t.chars().any(|c| c.is_ascii_alphabetic());
            if word_ok && !KEYWORDS.contains(&t) && !out.iter().any(|w| w == t) {
                out.push(t.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shells_are_recognized() {
        assert!(is_shell("/bin/sh -e"));
        assert!(is_shell("/usr/bin/env bash"));
        assert!(!is_shell("/usr/bin/python3"));
        assert!(!is_shell("/usr/bin/env -S node --harmony"));
    }

    #[test]
    fn commands_on_every_branch_are_found() {
        let src = "#!/bin/sh\nset -eu\nif [ \"$1\" = --json ]; then\n  jq . \"$2\" | sort -u\nelse\n  total=$(wc -l < \"$2\")  # count\n  /usr/bin/awk '{print}' x\nfi\necho done\n";
        let words = parse(src);
        for w in ["jq", "sort", "wc", "/usr/bin/awk"] {
            assert!(words.iter().any(|x| x == w), "{w} in {words:?}");
        }
        for not in ["set", "if", "fi", "echo", "-u", "total=", "count"] {
            assert!(!words.iter().any(|x| x == not), "{not} in {words:?}");
        }
    }
}
