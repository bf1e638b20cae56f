//! Coverage rule program-paths: the files a compiled program (C, C++, Rust, Go) names by
//! absolute path in its own string data, for the programs the run started. A data file the
//! program opens on a path no probe took (`fopen("/usr/share/app/greeting.txt")`) is a literal
//! in the binary. Only programs: a library's strings are its own business, and a library the
//! run did not load names nothing. Go's strings have no terminator, so a path is the longest
//! run of path bytes; a run that names nothing in the image costs nothing. Directories are not
//! followed (a shell's default PATH names `/usr/sbin`), nor executables by path.
//!
//! Programs it runs by name: when the binary itself searches PATH for a program (`execvp`,
//! `execvpe`, `execlp` or `posix_spawnp` among its own imported symbols, not merely linked in
//! libc; a Go program using `os/exec`), each word of its read-only data that names a program on
//! the image's PATH is kept with its closure (`posix_spawnp(&pid, "gzip", ...)`,
//! `exec.Command("gzip")`). Go's words are the string constants its code loads (address and
//! length), as its strings have no terminator. Language interpreters are not read so:
//! their data is their runtime's vocabulary (`join`, `stat`, `sort`), and what their programs
//! run is the other rules' business.

use super::Rule;
use crate::image::index::facts::ContentReader;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use crate::select::packages::Package;
use std::sync::Arc;

const NAME: &str = "program-paths";

/// Programs larger than this are not read.
const READ_LIMIT: u64 = 512 << 20;
/// At most this many paths from one program.
const MAX_PATHS: usize = 4000;

/// The fact prefix of a program a binary may run by name (a path always starts with `/`).
const RUN: &str = "run:";

/// What a program imports to run another by name, searching PATH.
const PATH_EXECS: [&str; 4] = ["execvp", "execvpe", "execlp", "posix_spawnp"];

pub struct ProgramPaths;

struct Reader;

fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'+' | b'@' | b'=')
}

/// Absolute paths among a program's bytes: runs of path bytes from a `/`, with at least two
/// components and no `//`, `/./` or `/../`.
fn paths(content: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut i = 0;
    while i < content.len() && out.len() < MAX_PATHS {
        if content[i] != b'/' || (i > 0 && is_path_byte(content[i - 1])) {
            i += 1;
            continue;
        }
        let end = content[i..].iter().position(|b| !is_path_byte(*b)).map_or(content.len(), |n| i + n);
        let run = &content[i..end];
        i = end;
        let Ok(path) = std::str::from_utf8(run) else { continue };
        let path = path.trim_end_matches('/');
        let ok = path.len() >= 4
            && path.matches('/').count() >= 2
            && !path.contains("//")
            && !path.split('/').any(|c| c == "." || c == "..");
        if ok && seen.insert(path.to_owned()) {
            out.push(path.to_owned());
        }
    }
    out
}

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, head: &[u8]) -> bool {
        let file = path.rsplit('/').next().unwrap_or("");
        head.starts_with(b"\x7fELF") && !file.contains(".so") && size <= READ_LIMIT
    }
    fn read(&self, path: &str, content: &[u8]) -> Vec<String> {
        let mut facts = paths(content);
        let file = path.rsplit('/').next().unwrap_or("");
        if !is_interpreter(file) {
            facts.extend(run_names(content).into_iter().map(|n| format!("{RUN}{n}")));
        }
        facts
    }
    fn lazy(&self) -> bool {
        true
    }
}

/// Interpreters and shells, by their file name (`python3.11`, `perl5.36.0`, `ruby3.1`, `node`).
fn is_interpreter(file: &str) -> bool {
    let stem = file.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    matches!(stem, "python" | "perl" | "ruby" | "node" | "nodejs" | "php" | "java" | "lua" | "tclsh" | "wish")
        || super::shell::is_shell_name(file)
}

/// The words of the read-only data of an ELF program that searches PATH itself (none
/// otherwise): a C program importing one of [`PATH_EXECS`] (NUL-terminated words), or a Go
/// program using `os/exec` (its strings packed, see [`go_words`]).
fn run_names(content: &[u8]) -> Vec<String> {
    let Ok(elf) = goblin::elf::Elf::parse(content) else { return Vec::new() };
    let imports_exec = elf
        .dynsyms
        .iter()
        .any(|sym| sym.st_shndx == 0 && elf.dynstrtab.get_at(sym.st_name).is_some_and(|n| PATH_EXECS.contains(&n)));
    // Go keeps every function's name in the binary, stripped or not; os/exec's Start runs
    // every command, by name through its LookPath.
    let go_exec = !imports_exec && memchr::memmem::find(content, GO_EXEC).is_some();
    if !imports_exec && !go_exec {
        return Vec::new();
    }
    let Some(rodata) = elf.section_headers.iter().find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".rodata"))
    else {
        return Vec::new();
    };
    let Some(bytes) = usize::try_from(rodata.sh_offset)
        .ok()
        .zip(usize::try_from(rodata.sh_size).ok())
        .and_then(|(at, len)| content.get(at..at.checked_add(len)?))
    else {
        return Vec::new();
    };
    if go_exec {
        return go_words(&elf, content, rodata);
    }
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for word in bytes.split(|b| *b == 0) {
        if (2..=32).contains(&word.len()) && is_name(word) && out.len() < MAX_PATHS && seen.insert(word) {
            out.push(String::from_utf8_lossy(word).into_owned());
        }
    }
    out
}

/// The function every `os/exec` command goes through, as Go names it in the binary.
const GO_EXEC: &[u8] = b"os/exec.(*Cmd).Start";

/// Shaped like a program's name: lowercase first, then lowercase, digits, `._+-`.
fn is_name(word: &[u8]) -> bool {
    word.first().is_some_and(u8::is_ascii_lowercase)
        && word.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._+-".contains(b))
}

/// The name-shaped strings a Go program's code refers to. Go lays its string literals end to
/// end in `.rodata`, no terminator (`...funcgziphosthour...`), so where one ends is in the code
/// that uses it: a string constant is loaded as `LEA reg, [rip+disp]` (its address) with its
/// length as an immediate `MOV r32, imm32` just after (Go's register ABI passes a string as
/// address and length). Every such pair whose bytes are name-shaped is one word.
fn go_words(elf: &goblin::elf::Elf<'_>, content: &[u8], rodata: &goblin::elf::SectionHeader) -> Vec<String> {
    let Some(text) = elf.section_headers.iter().find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".text")) else {
        return Vec::new();
    };
    let section = |sh: &goblin::elf::SectionHeader| {
        let at = usize::try_from(sh.sh_offset).ok()?;
        content.get(at..at.checked_add(usize::try_from(sh.sh_size).ok()?)?)
    };
    let (Some(code), Some(data)) = (section(text), section(rodata)) else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..code.len().saturating_sub(7) {
        // LEA r64, [rip+disp32]: REX.W (48, or 4C for r8-r15), 8D, ModRM mod=00 rm=101.
        if !matches!(code[i], 0x48 | 0x4C) || code[i + 1] != 0x8D || code[i + 2] & 0xC7 != 0x05 {
            continue;
        }
        let disp = i32::from_le_bytes([code[i + 3], code[i + 4], code[i + 5], code[i + 6]]);
        let next = text.sh_addr.wrapping_add(i as u64 + 7);
        let target = next.wrapping_add_signed(i64::from(disp));
        let Some(at) = target.checked_sub(rodata.sh_addr).and_then(|o| usize::try_from(o).ok()) else { continue };
        let Some(len) = length_after(&code[i + 7..]) else { continue };
        let Some(word) = data.get(at..at + len) else { continue };
        if (2..=32).contains(&len) && is_name(word) && out.len() < MAX_PATHS && seen.insert(word) {
            out.push(String::from_utf8_lossy(word).into_owned());
        }
    }
    out
}

/// The immediate of the first `MOV r32, imm32` (B8+r, or 41 B8+r) in the next few bytes of code,
/// if it is a plausible string length.
fn length_after(code: &[u8]) -> Option<usize> {
    let window = &code[..code.len().min(16)];
    (0..window.len()).find_map(|j| {
        let at = match window[j] {
            0xB8..=0xBF => j + 1,
            0x41 if window.get(j + 1).is_some_and(|b| (0xB8..=0xBF).contains(b)) => j + 2,
            _ => return None,
        };
        let imm = window.get(at..at + 4)?;
        let n = u32::from_le_bytes([imm[0], imm[1], imm[2], imm[3]]);
        (1..=64).contains(&n).then_some(n as usize)
    })
}

impl Rule for ProgramPaths {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the files a program the run started names by absolute path in its own string data"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_complete(&mut self, cx: &mut Cx<'_>) {
        let programs: Vec<String> =
            cx.keep().paths.iter().filter(|(_, k)| k.traced("exec")).map(|(p, _)| p.clone()).collect();
        for program in programs {
            let Some(named) = cx.facts_at(&program, NAME) else { continue };
            // The kernel's and the engine's files are not the image's to keep.
            let ours = |p: &&String| !["/dev/", "/proc/", "/sys/"].iter().any(|k| p.starts_with(k));
            for name in named.iter().filter_map(|f| f.strip_prefix(RUN)) {
                let Some(found) = cx.find_program(name, "/") else { continue };
                // Packages list a program by its real path, not by the link it was named by.
                let real = cx.resolve(&found).map_or_else(|| found.clone(), |r| r.path);
                if !cx.keep().contains(&found) && assured(cx.packages(), &program, &real) {
                    let reason =
                        Reason::Rule { rule: NAME, what: format!("runs {name}").into(), of: program.clone().into() };
                    cx.want(found, reason);
                }
            }
            for path in named.iter().filter(|f| f.starts_with('/')).filter(ours) {
                let Some(found) = cx.resolve(path) else { continue };
                let Some(entry) = cx.index().get(&found.path) else { continue };
                if entry.is_dir() || entry.mode & 0o111 != 0 || cx.keep().contains(&found.path) {
                    continue;
                }
                let reason =
                    Reason::Rule { rule: NAME, what: format!("path {path}").into(), of: program.clone().into() };
                cx.want_if_present(path.clone(), reason, false);
            }
        }
    }
}

/// Whether the packages say `program` can count on `found`: a program a packaged binary runs
/// by name is in its own package, in one its package depends on or recommends, or in one every
/// system has (Essential). A word of a large binary's data that names some other package's
/// program is its vocabulary (MariaDB's server names `mariadb-dump`, `rsync`, `ps`): 26 MB of
/// programs and their interpreters, otherwise. Unpackaged binaries (the app's own) and programs
/// are taken at their word.
fn assured(packages: &[Package], program: &str, found: &str) -> bool {
    let owner = |f: &str| packages.iter().find(|p| p.manager == "dpkg" && p.owns(f));
    let (Some(runner), Some(provider)) = (owner(program), owner(found)) else { return true };
    runner.name == provider.name || provider.essential || runner.requires.contains(&provider.name)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, files_index, traced};
    use super::paths;
    use crate::select::closure::ClosureBuilder;
    use crate::select::keep::Reason;
    use crate::select::rules::all_except;
    use crate::select::Seed;

    #[test]
    fn absolute_paths_in_a_programs_bytes() {
        let c = b"\x7fELF\0\0r\0/usr/share/app/greeting.txt\0/proc/%d/stat\0GET /x\0/etc/app//x\0usr/lib/rel\0";
        assert_eq!(paths(c), ["/usr/share/app/greeting.txt"], "no format, no relative path, no doubled slash");
        // Go: strings packed without terminators.
        let go = b"\x01/etc/app/conf.d\x01\x01bad/../path\x00/usr/lib/../x";
        assert_eq!(paths(go), ["/etc/app/conf.d"]);
    }

    /// A C program compiled by the host's gcc (every machine this builds on has it).
    fn compiled(src: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let (c, out) = (dir.path().join("p.c"), dir.path().join("p"));
        std::fs::write(&c, src).unwrap();
        let ok = std::process::Command::new("gcc").arg("-O1").arg("-o").arg(&out).arg(&c).status();
        assert!(ok.is_ok_and(|s| s.success()), "gcc");
        std::fs::read(out).unwrap()
    }

    /// A Go program built by the host's Go toolchain (scripts/setup.sh installs golang-go).
    fn go_compiled(src: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.go"), src).unwrap();
        std::fs::write(dir.path().join("go.mod"), "module example.com/p\ngo 1.19\n").unwrap();
        let ok = std::process::Command::new("go")
            .args(["build", "-trimpath", "-ldflags=-s -w", "-o", "p", "."])
            .env("CGO_ENABLED", "0")
            .env("GOCACHE", dir.path().join("cache"))
            .env("GOFLAGS", "-mod=mod")
            .current_dir(dir.path())
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "go build (apt-get install golang-go)");
        std::fs::read(dir.path().join("p")).unwrap()
    }

    /// Go packs its strings; the sorted neighbours tell where one ends.
    #[test]
    fn a_go_program_run_by_name_through_os_exec() {
        let runs = go_compiled(
            "package main\nimport (\"fmt\"; \"os\"; \"os/exec\")\nfunc main() {\n\
             if len(os.Args) > 1 { out, _ := exec.Command(\"gzip\", \"-c\").Output(); fmt.Println(len(out)) }\n\
             if len(os.Args) > 2 { exec.Command(\"pg_dump\", \"--version\").Run() }\n}\n",
        );
        let names = super::run_names(&runs);
        assert!(names.contains(&"gzip".to_owned()) && names.contains(&"pg_dump".to_owned()), "{names:?}");
        assert!(!names.contains(&"exec".to_owned()), "a package's name in Go's tables is no string: {names:?}");
        let prints = go_compiled("package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"gzip\") }\n");
        assert!(super::run_names(&prints).is_empty(), "a Go program without os/exec runs nothing");
    }

    /// Names are read only from a program that searches PATH itself, and only from its data.
    #[test]
    fn programs_run_by_name() {
        let spawns = compiled(
            "#include <unistd.h>\nint main(int n, char **v) { char *a[] = {\"gzip\", \"-c\", 0};\n\
             if (n > 1) execvp(\"gzip\", a); return 0; }\n",
        );
        let names = super::run_names(&spawns);
        assert!(names.contains(&"gzip".to_owned()) && !names.contains(&"execvp".to_owned()), "{names:?}");
        let prints = compiled("#include <stdio.h>\nint main(void) { puts(\"gzip\"); return 0; }\n");
        assert!(super::run_names(&prints).is_empty(), "a program that runs nothing");
        assert!(
            super::is_interpreter("python3.11") && super::is_interpreter("dash") && !super::is_interpreter("c-http")
        );
    }

    /// A packaged server's data names programs of packages it never asked for: vocabulary.
    #[test]
    fn a_packaged_binary_runs_what_its_packages_assure() {
        use crate::select::packages::Package;
        let package = |name: &str, files: &[&str], requires: &[&str], essential: bool| Package {
            manager: "dpkg",
            name: name.into(),
            version: "1".into(),
            files: files.iter().map(|f| f.to_string()).collect(),
            requires: requires.iter().map(|r| r.to_string()).collect(),
            essential,
            ..Package::default()
        };
        let packages = [
            package("db-server", &["/usr/bin/db-helper", "/usr/sbin/dbd"], &["libc6", "db-tools"], false),
            package("db-tools", &["/usr/bin/db-dump"], &[], false),
            package("gzip", &["/usr/bin/gzip"], &[], true),
            package("rsync", &["/usr/bin/rsync"], &[], false),
        ];
        let assured = |found: &str| super::assured(&packages, "/usr/sbin/dbd", found);
        assert!(assured("/usr/bin/db-helper") && assured("/usr/bin/db-dump") && assured("/usr/bin/gzip"));
        assert!(!assured("/usr/bin/rsync"), "a package the server never asked for");
        assert!(assured("/usr/local/bin/own-tool") && super::assured(&packages, "/app/bin/app", "/usr/bin/rsync"));
    }

    fn exec(path: &str) -> Seed {
        Seed { path: path.into(), reason: Reason::Traced { how: "exec".into(), by: "app[1]".into() }, optional: true }
    }

    #[test]
    fn the_files_a_started_program_names_are_kept() {
        let program =
            "\x7fELF\x02\x01\x01\0/usr/share/app/greeting.txt\0/etc/app\0/usr/local/bin:/usr/bin\0/usr/bin/tool\0";
        let idx = files_index(&[
            ("usr/local/bin/app*", program),
            ("usr/local/bin/other*", "\x7fELF\x02\x01\x01\0/usr/share/app/other.txt\0"),
            ("usr/share/app/greeting.txt", "hello"),
            ("usr/share/app/other.txt", "x"),
            ("etc/app/conf.d/a.conf", "x"),
            ("usr/bin/tool*", "#!/bin/sh\n"),
            ("usr/bin/other-tool*", "#!/bin/sh\n"),
        ]);
        let cfg = config("/usr/local/bin/app");
        let build = |off: &[&str]| {
            let off: Vec<String> = off.iter().map(|s| s.to_string()).collect();
            ClosureBuilder::new(&idx, &cfg).rules(all_except(&off)).seeds([exec("/usr/local/bin/app")]).build()
        };
        let c = build(&[]);
        assert!(c.keep.contains("/usr/share/app/greeting.txt"));
        assert!(!c.keep.contains("/usr/share/app/other.txt"), "named by a program the run never started");
        assert!(!c.keep.contains("/etc/app/conf.d/a.conf"), "a directory is not followed");
        assert!(!c.keep.contains("/usr/bin/other-tool"), "a PATH names directories, no files");
        assert!(!c.keep.contains("/usr/bin/tool"), "a program named is no program run");
        let c = build(&["program-paths"]);
        assert!(!c.keep.contains("/usr/share/app/greeting.txt"));
        let read_only = ClosureBuilder::new(&idx, &cfg).seeds([traced("/usr/local/bin/app")]).build();
        assert!(!read_only.keep.contains("/usr/share/app/greeting.txt"), "a program only read is not started");
    }
}
