//! Coverage rule fonts: the fonts fontconfig can choose, once kept code renders text through
//! it. Which font files a renderer opens depends on the text (a CJK name, a bold heading), so
//! the traced run's few are no measure: a report job, a chart, a PDF of another customer needs
//! others. Kept: fontconfig's configuration (`/etc/fonts`), its cache, and the font
//! directories its configuration names (`<dir>`).
//!
//! Who renders through fontconfig: a kept program or library that links `libfontconfig`
//! (cairo, ImageMagick, wkhtmltopdf...), and the JDK once its font manager (`libfontmanager`,
//! kept with AWT) is: the JDK loads `libfontconfig.so.1` by name, so that library is kept too.

use super::Rule;
use crate::image::index::facts::ContentReader;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use std::sync::Arc;

const NAME: &str = "fonts";

/// Configuration files larger than this are not read.
const READ_LIMIT: u64 = 1 << 20;

/// Where fontconfig's configuration lives (conf.d links into conf.avail).
const CONFIG_DIRS: [&str; 2] = ["/etc/fonts", "/usr/share/fontconfig"];

/// Font directories when the configuration names none (fontconfig's built-in defaults).
const DEFAULT_DIRS: [&str; 2] = ["/usr/share/fonts", "/usr/local/share/fonts"];

/// Caches fontconfig reads before it scans the directories.
const CACHES: [&str; 1] = ["/var/cache/fontconfig"];

/// The library the JDK loads by name for its fonts.
const FONTCONFIG: &str = "libfontconfig.so.1";

pub struct Fonts;

/// Reads fontconfig's configuration: `dir PATH` for each absolute `<dir>`.
struct Reader;

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, _head: &[u8]) -> bool {
        size <= READ_LIMIT && path.ends_with(".conf") && CONFIG_DIRS.iter().any(|d| path.starts_with(&format!("{d}/")))
    }
    fn read(&self, _path: &str, content: &[u8]) -> Vec<String> {
        font_dirs(&String::from_utf8_lossy(content)).into_iter().map(|d| format!("dir {d}")).collect()
    }
}

/// The absolute paths in `<dir>` elements (attributes allowed; `~` and relative ones are a
/// user's or the config's own, not the image's fonts).
fn font_dirs(conf: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = conf;
    while let Some(i) = rest.find("<dir") {
        rest = &rest[i + 4..];
        // `<dir>` or `<dir attr=...>`, not `<dirs>` or `<directory>`.
        if !rest.starts_with(['>', ' ', '\t', '\n']) {
            continue;
        }
        let Some(open_end) = rest.find('>') else { break };
        let body = &rest[open_end + 1..];
        let Some(close) = body.find("</dir>") else { break };
        let dir = body[..close].trim();
        if dir.starts_with('/') && !out.iter().any(|o| o == dir) {
            out.push(dir.trim_end_matches('/').to_owned());
        }
        rest = &body[close..];
    }
    out
}

impl Rule for Fonts {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "fontconfig's configuration and the font directories it names, once kept code renders \
         text through fontconfig (a program linking libfontconfig, the JDK's font manager)"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_complete(&mut self, cx: &mut Cx<'_>) {
        let keep = cx.keep();
        let linked = keep.paths.keys().find(|p| file_name(p).starts_with("libfontconfig.so"));
        let jdk = keep.paths.keys().find(|p| file_name(p) == "libfontmanager.so");
        let Some(by) = linked.or(jdk).cloned() else { return };
        let reason = |what: &str| Reason::Rule { rule: NAME, what: what.to_owned().into(), of: by.clone().into() };
        if linked.is_none() {
            // By the name the JDK asks for: the soname's link, then what it leads to.
            if let Some(lib) = cx.find_library(FONTCONFIG, &by) {
                let soname = lib.symlinks.iter().rfind(|l| file_name(l) == FONTCONFIG).cloned();
                let named = soname.unwrap_or(lib.path);
                cx.want(named, reason("the fontconfig library the JDK loads by name"));
            }
        }
        let mut dirs: Vec<String> = Vec::new();
        for d in CONFIG_DIRS {
            for (path, _) in cx.index().with_prefix(&format!("{d}/")).filter(|(p, _)| p.ends_with(".conf")) {
                let facts = cx.facts_at(path, NAME).unwrap_or_default();
                dirs.extend(facts.iter().filter_map(|f| f.strip_prefix("dir ")).map(str::to_owned));
            }
        }
        if dirs.is_empty() {
            dirs.extend(DEFAULT_DIRS.iter().map(|d| d.to_string()));
        }
        dirs.sort();
        dirs.dedup();
        for d in CONFIG_DIRS.iter().chain(CACHES.iter()) {
            cx.want_if_present(d.to_string(), reason("fontconfig's configuration and cache"), true);
        }
        for d in dirs {
            cx.want_if_present(d, reason("a font directory fontconfig's configuration names"), true);
        }
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::closure::ClosureBuilder;
    use crate::select::rules::all_except;
    use crate::select::rules::tests::{config, files_index, traced};

    #[test]
    fn dirs_are_the_absolute_dir_elements() {
        let conf = "<fontconfig>\n<dir>/usr/share/fonts</dir>\n<dir prefix=\"xdg\">fonts</dir>\n\
                    <dir>~/.fonts</dir>\n<dirs>x</dirs>\n<dir> /opt/fonts/ </dir>\n<cachedir>/var/cache/fontconfig</cachedir>\n</fontconfig>";
        assert_eq!(font_dirs(conf), ["/usr/share/fonts", "/opt/fonts"]);
    }

    fn index() -> crate::image::FileIndex {
        files_index(&[
            ("usr/lib/jvm/java-17/lib/libfontmanager.so", "\x7fELF"),
            ("usr/lib/x86_64-linux-gnu/libfontconfig.so.1", "\x7fELF"),
            ("etc/fonts/fonts.conf", "<fontconfig><dir>/usr/share/fonts</dir><dir>/opt/brand-fonts</dir></fontconfig>"),
            ("usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "font"),
            ("opt/brand-fonts/Brand.otf", "font"),
            ("usr/share/other/readme", "x"),
        ])
    }

    #[test]
    fn the_jdks_font_manager_brings_fontconfig_and_the_fonts_it_names() {
        let idx = index();
        let cfg = config("/usr/bin/java");
        let seeds = || [traced("/usr/lib/jvm/java-17/lib/libfontmanager.so")];
        let c = ClosureBuilder::new(&idx, &cfg).seeds(seeds()).build();
        for kept in
            ["/etc/fonts/fonts.conf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/opt/brand-fonts/Brand.otf"]
        {
            assert!(c.keep.contains(kept), "{kept}");
        }
        assert!(!c.keep.contains("/usr/share/other/readme"));
        let off = ClosureBuilder::new(&idx, &cfg).rules(all_except(&[NAME.into()])).seeds(seeds()).build();
        assert!(!off.keep.contains("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"));
    }

    #[test]
    fn nothing_without_a_renderer() {
        let idx = index();
        let cfg = config("/usr/bin/java");
        let c = ClosureBuilder::new(&idx, &cfg).seeds([traced("/usr/share/other/readme")]).build();
        assert!(!c.keep.contains("/etc/fonts/fonts.conf"));
    }
}
