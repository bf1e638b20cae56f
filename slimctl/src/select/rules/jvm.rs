//! Coverage rule jvm-natives: the JDK's native libraries of the Java modules the app's classes
//! use, and the libraries its code loads by name (`System.loadLibrary("x")`), with their ELF
//! closure. The JVM loads them by name only when a class first needs them (drawing an image
//! loads libawt, libmlib_image, liblcms...), so a probe that never reached that code leaves them
//! out of the trace. The app's classes are read from its jars and class files while the image
//! is indexed: the packages they reference name the modules.

use super::Rule;
use crate::image::index::entry::{join, parent};
use crate::image::index::facts::ContentReader;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;

const NAME: &str = "jvm-natives";

/// Archives larger than this are not read (the whole file is in memory while it is read).
const READ_LIMIT: u64 = 64 << 20;

/// The JDK's native libraries (in its `lib/`), by the packages whose classes load them.
const NATIVES: &[(&[&str], &[&str])] = &[
    (
        &["java/awt/", "javax/imageio/", "javax/swing/", "javax/print/", "sun/awt/", "sun/java2d/"],
        &["libawt", "libawt_headless", "libmlib_image", "libjavajpeg", "liblcms", "libfontmanager"],
    ),
    (&["javax/sound/"], &["libjsound"]),
    (&["java/util/prefs/"], &["libprefs"]),
    (&["java/lang/management/", "javax/management/", "com/sun/management/"], &["libmanagement", "libmanagement_ext"]),
    (&["java/net/", "java/nio/", "javax/net/"], &["libnet", "libnio"]),
    (&["java/util/zip/", "java/util/jar/"], &["libzip"]),
    (&["org/ietf/jgss/", "javax/security/auth/kerberos/"], &["libj2gss"]),
    (&["javax/smartcardio/"], &["libj2pcsc"]),
    (&["sun/security/pkcs11/"], &["libj2pkcs11"]),
    (&["java/lang/instrument/"], &["libinstrument"]),
    (&["jdk/net/"], &["libextnet"]),
    (&["com/sun/security/auth/"], &["libjaas"]),
    (&["java/rmi/"], &["librmi"]),
    (&["com/sun/nio/sctp/"], &["libsctp"]),
    // Not libraries, but data the same way: java.time's zone rules.
    (&["java/time/"], &["tzdb.dat"]),
];

pub struct JvmNatives;

struct Reader;

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, head: &[u8]) -> bool {
        let archive = (path.ends_with(".jar") || path.ends_with(".war")) && head.starts_with(b"PK");
        let class = path.ends_with(".class") && head.starts_with(&[0xCA, 0xFE, 0xBA, 0xBE]);
        (archive || class) && size <= READ_LIMIT
    }
    fn read(&self, path: &str, content: &[u8]) -> Vec<String> {
        let mut found = Found::default();
        if path.ends_with(".class") {
            found.class(content);
        } else {
            found.archive(content, 0);
        }
        found.facts()
    }
}

/// What the classes reference: packages, and the names given to `loadLibrary`.
#[derive(Default)]
struct Found {
    packages: BTreeSet<String>,
    libraries: BTreeSet<String>,
}

impl Found {
    fn facts(self) -> Vec<String> {
        let natives: BTreeSet<&str> = self
            .packages
            .iter()
            .flat_map(|p| NATIVES.iter().filter(move |(pkgs, _)| pkgs.iter().any(|q| p.starts_with(q))))
            .flat_map(|(_, libs)| libs.iter().copied())
            .collect();
        natives
            .into_iter()
            .map(|l| format!("jdk:{l}"))
            .chain(self.libraries.into_iter().map(|l| format!("lib:{l}")))
            .collect()
    }

    /// The classes of a jar (and of the jars it nests, as a Spring Boot jar does).
    fn archive(&mut self, bytes: &[u8], depth: u8) {
        let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else { return };
        for i in 0..zip.len() {
            let Ok(mut f) = zip.by_index(i) else { continue };
            let name = f.name().to_owned();
            let nested = name.ends_with(".jar") && depth < 2;
            if !(name.ends_with(".class") || nested) || f.size() > READ_LIMIT {
                continue;
            }
            let mut buf = Vec::with_capacity(f.size() as usize);
            if f.read_to_end(&mut buf).is_err() {
                continue;
            }
            if nested {
                self.archive(&buf, depth + 1);
            } else {
                self.class(&buf);
            }
        }
    }

    /// A class file's constant pool: the classes it names (also inside type descriptors), and
    /// the string constants of a class that calls `loadLibrary`.
    fn class(&mut self, b: &[u8]) {
        let Some(pool) = constant_pool(b) else { return };
        let utf8 = |i: usize| match pool.get(i) {
            Some(Const::Utf8(s)) => Some(s.as_str()),
            _ => None,
        };
        let mut loads_libraries = false;
        let mut strings = Vec::new();
        for c in &pool {
            match c {
                Const::Class(n) => {
                    if let Some(name) = utf8(*n) {
                        self.add_type(name.trim_start_matches('[').trim_start_matches('L').trim_end_matches(';'));
                    }
                }
                Const::Utf8(s) => {
                    if s == "loadLibrary" {
                        loads_libraries = true;
                    }
                    // Descriptors: `(Ljava/awt/Image;I)V`, `Ljavax/imageio/ImageIO;`.
                    let mut rest = s.as_str();
                    while let Some(i) = rest.find('L') {
                        let Some(end) = rest[i..].find(';') else { break };
                        let ty = &rest[i + 1..i + end];
                        if ty.contains('/') && !ty.contains(' ') {
                            self.add_type(ty);
                        }
                        rest = &rest[i + end..];
                    }
                }
                Const::String(n) => strings.extend(utf8(*n)),
                Const::Other => {}
            }
        }
        if loads_libraries {
            let lib_name = |s: &&&str| {
                !s.is_empty() && s.len() < 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            };
            self.libraries.extend(strings.iter().filter(lib_name).map(|s| s.to_string()));
        }
    }

    fn add_type(&mut self, internal: &str) {
        if let Some((pkg, _)) = internal.rsplit_once('/') {
            self.packages.insert(format!("{pkg}/"));
        }
    }
}

enum Const {
    Utf8(String),
    Class(usize),
    String(usize),
    Other,
}

/// The constant pool of a class file (index 0 unused, as in the format), None if malformed.
fn constant_pool(b: &[u8]) -> Option<Vec<Const>> {
    let u2 = |at: usize| b.get(at..at + 2).map(|s| u16::from_be_bytes([s[0], s[1]]) as usize);
    if b.get(..4)? != [0xCA, 0xFE, 0xBA, 0xBE] {
        return None;
    }
    let count = u2(8)?;
    let mut pool = Vec::with_capacity(count);
    pool.push(Const::Other);
    let mut at = 10;
    while pool.len() < count {
        let tag = *b.get(at)?;
        let (c, size, slots) = match tag {
            1 => {
                let len = u2(at + 1)?;
                let s = String::from_utf8_lossy(b.get(at + 3..at + 3 + len)?).into_owned();
                (Const::Utf8(s), 3 + len, 1)
            }
            7 => (Const::Class(u2(at + 1)?), 3, 1),
            8 => (Const::String(u2(at + 1)?), 3, 1),
            3 | 4 => (Const::Other, 5, 1),
            5 | 6 => (Const::Other, 9, 2),
            9..=12 | 17 | 18 => (Const::Other, 5, 1),
            15 => (Const::Other, 4, 1),
            16 | 19 | 20 => (Const::Other, 3, 1),
            _ => return None,
        };
        pool.push(c);
        if slots == 2 {
            pool.push(Const::Other);
        }
        at += size;
    }
    Some(pool)
}

impl Rule for JvmNatives {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the JDK's native libraries of the Java modules the app's classes use, and the libraries its code \
         loads by name"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_complete(&mut self, cx: &mut Cx<'_>) {
        // The JDKs the run used: where their libjvm.so is kept, lib/ is two levels up.
        let jdk_libs: Vec<String> = cx
            .keep()
            .paths
            .keys()
            .filter(|p| p.ends_with("/server/libjvm.so") || p.ends_with("/client/libjvm.so"))
            .map(|p| parent(parent(p)).to_owned())
            .collect();
        if jdk_libs.is_empty() {
            return;
        }
        // The JDK's configuration (security, logging, networking defaults) is read by name the
        // first time an API needs it: small, and wanted whole.
        for lib in &jdk_libs {
            let conf = join(parent(lib), "conf");
            let reason = Reason::Rule {
                rule: NAME,
                what: "the JDK's configuration".into(),
                of: join(lib, "server/libjvm.so").into(),
            };
            cx.want_if_present(conf, reason, true);
        }
        let mut wanted: Vec<(String, String, String)> = Vec::new();
        for path in cx.keep().paths.keys() {
            let Some(facts) = cx.index().get(path).and_then(|e| e.facts_from(NAME)) else { continue };
            for fact in facts {
                let (kind, name) = fact.split_once(':').unwrap_or(("", fact));
                let file = if name.contains('.') { name.to_owned() } else { format!("{name}.so") };
                let dirs: Vec<String> = match kind {
                    "jdk" => jdk_libs.clone(),
                    // java.library.path: the JDK's lib/, Debian's JNI directories.
                    _ => jdk_libs
                        .iter()
                        .cloned()
                        .chain(["/usr/lib/jni", "/usr/lib/x86_64-linux-gnu/jni"].map(String::from))
                        .collect(),
                };
                let file = if kind == "jdk" { file } else { format!("lib{name}.so") };
                for d in dirs {
                    wanted.push((join(&d, &file), format!("the JDK's {file}"), path.clone()));
                }
            }
        }
        for (lib, what, of) in wanted {
            cx.want_if_present(lib, Reason::Rule { rule: NAME, what: what.into(), of: of.into() }, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A class file whose pool names `classes` and holds `strings`.
    fn class_file(classes: &[&str], strings: &[&str], utf8: &[&str]) -> Vec<u8> {
        let mut pool: Vec<Vec<u8>> = Vec::new();
        let push_utf8 = |pool: &mut Vec<Vec<u8>>, s: &str| {
            let mut e = vec![1u8];
            e.extend((s.len() as u16).to_be_bytes());
            e.extend(s.as_bytes());
            pool.push(e);
            pool.len() as u16
        };
        for c in classes {
            let n = push_utf8(&mut pool, c);
            let mut e = vec![7u8];
            e.extend(n.to_be_bytes());
            pool.push(e);
        }
        for s in strings {
            let n = push_utf8(&mut pool, s);
            let mut e = vec![8u8];
            e.extend(n.to_be_bytes());
            pool.push(e);
        }
        for s in utf8 {
            push_utf8(&mut pool, s);
        }
        pool.push(vec![5, 0, 0, 0, 0, 0, 0, 0, 1]); // a long: two slots
        let mut out = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 61];
        out.extend(((pool.len() + 2) as u16).to_be_bytes());
        for e in pool {
            out.extend(e);
        }
        out
    }

    #[test]
    fn classes_name_the_natives_of_their_modules_and_the_libraries_they_load() {
        let drawing = class_file(&["java/awt/image/BufferedImage"], &[], &["(Ljavax/imageio/ImageIO;)V"]);
        let facts = Reader.read("/opt/app/Chart.class", &drawing);
        assert!(
            facts.contains(&"jdk:libawt".to_string()) && facts.contains(&"jdk:libmlib_image".to_string()),
            "{facts:?}"
        );
        assert!(!facts.iter().any(|f| f == "jdk:libjsound"));
        let jni = class_file(&["java/lang/System"], &["snappyjava", "not a library name"], &["loadLibrary"]);
        assert_eq!(Reader.read("/opt/app/Native.class", &jni), ["lib:snappyjava"]);
        let plain = class_file(&["java/lang/System"], &["snappyjava"], &["println"]);
        assert!(Reader.read("/opt/app/Plain.class", &plain).is_empty(), "no loadLibrary, no library");
        assert!(constant_pool(b"\xCA\xFE\xBA\xBE\x00\x00\x00\x3d\x00\x09\x01\x00").is_none(), "truncated");
    }

    #[test]
    fn jars_are_read_with_their_nested_jars() {
        let mut inner = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        inner.start_file("com/x/Sound.class", zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut inner, &class_file(&["javax/sound/sampled/AudioSystem"], &[], &[])).unwrap();
        let inner = inner.finish().unwrap().into_inner();
        let mut outer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        outer.start_file("BOOT-INF/lib/sound.jar", zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut outer, &inner).unwrap();
        let jar = outer.finish().unwrap().into_inner();
        assert!(Reader.wants("/app/app.jar", jar.len() as u64, &jar[..4]));
        assert_eq!(Reader.read("/app/app.jar", &jar), ["jdk:libjsound"]);
    }
}
