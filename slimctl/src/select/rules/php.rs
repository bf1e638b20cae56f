//! Coverage rule php-includes: the PHP files kept PHP code names by literal path --
//! `include`/`require` (`'lib/x.php'`, `__DIR__ . '/x.php'`), and the class maps autoloaders
//! hold (`'/src/Mailer.php'` required from the map's directory, composer's
//! `$vendorDir . '/pkg/src/X.php'`) -- found as PHP finds them: next to the file, up its
//! directories, on the include path.

use super::Rule;
use crate::image::index::entry::{join, parent};
use crate::image::index::facts::ContentReader;
use crate::image::Entry;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use std::sync::Arc;

const NAME: &str = "php-includes";

/// PHP sources larger than this are not read.
const READ_LIMIT: u64 = 2 << 20;

/// PHP's include path as Debian and the official images set it.
const INCLUDE_PATH: &[&str] = &["/usr/share/php", "/usr/share/pear", "/usr/local/lib/php"];

pub struct PhpIncludes;

struct Reader;

fn is_php(path: &str) -> bool {
    [".php", ".phtml", ".inc"].iter().any(|e| path.ends_with(e))
}

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, _head: &[u8]) -> bool {
        is_php(path) && size <= READ_LIMIT
    }
    fn lazy(&self) -> bool {
        true
    }
    fn read(&self, _path: &str, content: &[u8]) -> Vec<String> {
        literal_paths(&String::from_utf8_lossy(content))
    }
}

/// String literals that name PHP files.
fn literal_paths(src: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let q = bytes[i];
        if q != b'\'' && q != b'"' {
            i += 1;
            continue;
        }
        let Some(len) = src[i + 1..].find(q as char) else { break };
        let lit = &src[i + 1..i + 1 + len];
        i += len + 2;
        let plain = !lit.contains('$') && !lit.contains('\n') && !lit.contains(' ') && !lit.contains("://");
        if plain && is_php(lit) && !out.iter().any(|o| o == lit) {
            out.push(lit.to_owned());
        }
    }
    out
}

impl Rule for PhpIncludes {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the PHP files that kept PHP code includes or maps by literal path (include/require, autoload class maps)"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_file(&mut self, cx: &mut Cx<'_>, path: &str, entry: &Entry) {
        let Some(literals) = cx.facts(path, entry, NAME) else { return };
        let dir = parent(path).to_owned();
        for lit in literals.iter() {
            let Some(found) = locate(cx, lit, &dir) else { continue };
            cx.want(
                found,
                Reason::Rule { rule: NAME, what: format!("PHP file {lit}").into(), of: path.to_owned().into() },
            );
        }
    }
}

/// Where PHP finds `lit` from a file in `dir`: an absolute path; appended to the file's
/// directory or one of its parents (`__DIR__ . '/x.php'`, `dirname(__DIR__) . '/x.php'`); or,
/// relative, on the include path, then next to the file.
fn locate(cx: &Cx<'_>, lit: &str, dir: &str) -> Option<String> {
    let mut candidates = Vec::new();
    if let Some(rel) = lit.strip_prefix('/') {
        candidates.push(lit.to_owned());
        let mut d = dir.to_owned();
        for _ in 0..3 {
            candidates.push(join(&d, rel));
            if d == "/" {
                break;
            }
            d = parent(&d).to_owned();
        }
    } else {
        let rel = lit.trim_start_matches("./");
        candidates.extend(INCLUDE_PATH.iter().map(|p| join(p, rel)));
        candidates.push(join(dir, rel));
    }
    candidates.into_iter().find(|c| cx.is_file(c))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, files_index, traced};
    use super::literal_paths;
    use crate::select::closure::ClosureBuilder;
    use crate::select::rules::all_except;

    #[test]
    fn literal_php_paths() {
        let src = r#"<?php require_once 'libphp-phpmailer/autoload.php';
include __DIR__ . "/parts/header.php";
$classes = array('x\\mailer' => '/src/Mailer.php');
require "$dir/computed.php"; echo "see index.php"; $u = 'https://x/y.php';"#;
        assert_eq!(literal_paths(src), ["libphp-phpmailer/autoload.php", "/parts/header.php", "/src/Mailer.php"]);
    }

    #[test]
    fn includes_on_the_include_path_and_class_maps_are_followed() {
        let idx = files_index(&[
            ("var/www/site/contact.php", "<?php require_once 'libphp-phpmailer/autoload.php';\n"),
            (
                "usr/share/php/libphp-phpmailer/autoload.php",
                "<?php $c = array('m' => '/src/PHPMailer.php'); require __DIR__ . $c[$k];\n",
            ),
            ("usr/share/php/libphp-phpmailer/src/PHPMailer.php", "<?php class PHPMailer {}\n"),
            ("usr/share/php/libphp-phpmailer/src/Unmapped.php", "<?php class Unmapped {}\n"),
        ]);
        let cfg = config("apache2");
        let seeds = [traced("/var/www/site/contact.php")];
        let c = ClosureBuilder::new(&idx, &cfg).seeds(seeds.clone()).build();
        assert!(c.keep.contains("/usr/share/php/libphp-phpmailer/src/PHPMailer.php"), "{:?}", c.keep.paths.keys());
        assert!(!c.keep.contains("/usr/share/php/libphp-phpmailer/src/Unmapped.php"));
        let c = ClosureBuilder::new(&idx, &cfg).rules(all_except(&["php-includes".into()])).seeds(seeds).build();
        assert!(!c.keep.contains("/usr/share/php/libphp-phpmailer/autoload.php"));
    }
}
