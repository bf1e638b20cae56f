//! Coverage rule runtime-data: data a kept library or a used data set reads by name at run
//! time, kept whole when its user is kept: CA certificates and OpenSSL's config with a TLS
//! library, all of zoneinfo once the app opened a zone itself, the locale archive once a locale
//! was read, gconv's module lists with iconv, the NSS modules nsswitch.conf names with NSS,
//! fontconfig's configuration and the font directories it names with fontconfig, and the
//! mechanism plugins of SASL with libsasl2.

use super::Rule;
use crate::image::index::facts::ContentReader;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use std::sync::Arc;

const NAME: &str = "runtime-data";
const NSSWITCH: &str = "/etc/nsswitch.conf";
const FONTS_CONF: &str = "/etc/fonts/";

pub struct RuntimeData;

/// Reads the NSS services /etc/nsswitch.conf names.
struct Reader;

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, _head: &[u8]) -> bool {
        (path == NSSWITCH || (path.starts_with(FONTS_CONF) && path.ends_with(".conf"))) && size <= 64 << 10
    }
    fn read(&self, path: &str, content: &[u8]) -> Vec<String> {
        let conf = String::from_utf8_lossy(content);
        if path.starts_with(FONTS_CONF) {
            return font_dirs(&conf);
        }
        let mut services: Vec<String> = conf
            .lines()
            .filter_map(|l| l.split('#').next())
            .filter_map(|l| l.split_once(':').map(|(_, v)| v))
            .flat_map(|v| v.split_whitespace())
            .filter(|w| !w.starts_with('[') && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .map(str::to_owned)
            .collect();
        services.sort();
        services.dedup();
        services
    }
}

/// The `<dir>` elements of a fontconfig file: where it looks for fonts.
fn font_dirs(conf: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = conf;
    while let Some(i) = rest.find("<dir") {
        rest = &rest[i + 4..];
        let Some(open_end) = rest.find('>') else { break };
        let Some(close) = rest.find("</dir>") else { break };
        if open_end < close {
            let dir = rest[open_end + 1..close].trim();
            if dir.starts_with('/') {
                out.push(dir.to_owned());
            }
        }
        rest = &rest[close..];
    }
    out
}

impl Rule for RuntimeData {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "run-time data: CA certificates with a TLS library, all of zoneinfo once a zone was read, the \
         locale archive, gconv lists, NSS modules"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_complete(&mut self, cx: &mut Cx<'_>) {
        for (path, what, because, subtree) in wanted(cx) {
            let reason = Reason::Rule { rule: NAME, what: what.to_owned().into(), of: because.into() };
            cx.want_if_present(path, reason, subtree);
        }
    }
}

/// (path, what it is, the kept path that needs it, whether to take its subtree).
type Want = (String, &'static str, String, bool);

fn wanted(cx: &Cx<'_>) -> Vec<Want> {
    let keep = cx.keep();
    let mut out = Vec::new();
    let mut add = |path: &str, what: &'static str, because: &str, subtree: bool| {
        // A directory kept as a parent still needs its subtree taken.
        if cx.resolve(path).is_some() && (subtree || !keep.contains(path)) {
            out.push((path.to_owned(), what, because.to_owned(), subtree));
        }
    };
    for kind in [tls, zoneinfo, locales, gconv, fonts, sasl, nss] {
        kind(cx, &mut add);
    }
    out
}

/// Adds a path the rule wants: (path, what it is, the kept path that needs it, subtree).
type Add<'a> = dyn FnMut(&str, &'static str, &str, bool) + 'a;

/// The first kept path `pred` accepts.
fn kept_where(cx: &Cx<'_>, pred: &dyn Fn(&str) -> bool) -> Option<String> {
    cx.keep().paths.keys().find(|p| pred(p)).cloned()
}

fn file_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or("")
}

fn tls(cx: &Cx<'_>, add: &mut Add<'_>) {
    let tls = kept_where(cx, &|p: &str| {
        let n = file_name(p);
        n.starts_with("libssl.so")
            || n.starts_with("libgnutls.so")
            || n.starts_with("libmbedtls")
            || n.starts_with("libwolfssl")
            || n.starts_with("_ssl.")
    });
    let Some(lib) = tls else { return };
    for ca in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/ssl/cert.pem",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/certs/ca-bundle.crt",
        "/usr/lib/ssl/cert.pem",
        "/usr/lib/ssl/certs",
        "/etc/ssl/openssl.cnf",
        "/usr/lib/ssl/openssl.cnf",
    ] {
        add(ca, "CA certificates / TLS config", &lib, false);
    }
}

/// A zone the app opened itself (not just /etc/localtime's target, which every libc reads).
fn zoneinfo(cx: &Cx<'_>, add: &mut Add<'_>) {
    let localtime = cx.resolve("/etc/localtime").map(|r| r.path);
    let zone = cx
        .keep()
        .paths
        .iter()
        .find(|(p, k)| {
            p.starts_with("/usr/share/zoneinfo/")
                && Some(p.as_str()) != localtime.as_deref()
                && cx.index().get(p).is_some_and(|e| !e.is_dir())
                && k.reasons.iter().any(|r| matches!(r, Reason::Traced { .. }))
        })
        .map(|(p, _)| p.clone());
    if let Some(zone) = zone {
        add("/usr/share/zoneinfo", "zoneinfo", &zone, true);
        add("/etc/localtime", "zoneinfo", &zone, false);
        add("/etc/timezone", "zoneinfo", &zone, false);
    }
}

fn locales(cx: &Cx<'_>, add: &mut Add<'_>) {
    if let Some(loc) = kept_where(cx, &|p: &str| p.starts_with("/usr/lib/locale/")) {
        add("/usr/lib/locale/locale-archive", "locale archive", &loc, false);
        add("/usr/lib/locale/C.utf8", "locale archive", &loc, true);
    }
}

fn gconv(cx: &Cx<'_>, add: &mut Add<'_>) {
    if let Some(g) = kept_where(cx, &|p: &str| p.contains("/gconv/")) {
        let dir = &g[..g.find("/gconv/").expect("matched above") + "/gconv".len()];
        for f in ["gconv-modules", "gconv-modules.cache", "gconv-modules.d"] {
            add(&format!("{dir}/{f}"), "gconv module lists", &g, f.ends_with(".d"));
        }
    }
}

fn fonts(cx: &Cx<'_>, add: &mut Add<'_>) {
    let Some(fc) = kept_where(cx, &|p: &str| file_name(p).starts_with("libfontconfig.so")) else { return };
    add("/etc/fonts", "fontconfig configuration", &fc, true);
    let mut dirs: Vec<String> = Vec::new();
    for (path, e) in cx.index().subtree("/etc/fonts") {
        dirs.extend(e.facts_from(NAME).unwrap_or_default().iter().filter(|_| path.ends_with(".conf")).cloned());
    }
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        add(&d, "fonts fontconfig names", &fc, true);
    }
}

fn sasl(cx: &Cx<'_>, add: &mut Add<'_>) {
    if let Some(sasl) = kept_where(cx, &|p: &str| file_name(p).starts_with("libsasl2.so")) {
        for dir in ["/usr/lib/x86_64-linux-gnu/sasl2", "/usr/lib/sasl2", "/etc/sasl2"] {
            add(dir, "SASL mechanisms", &sasl, true);
        }
    }
}

fn nss(cx: &Cx<'_>, add: &mut Add<'_>) {
    let keep = cx.keep();
    let nss_used = ["/etc/passwd", "/etc/group", "/etc/hosts", NSSWITCH, "/etc/resolv.conf"]
        .iter()
        .find(|p| keep.contains(p))
        .map(|p| p.to_string());
    let libc = kept_where(cx, &|p: &str| file_name(p).starts_with("libc.so"));
    if let (Some(used), Some(libc)) = (nss_used, libc) {
        add(NSSWITCH, "NSS configuration", &used, false);
        let services = cx.entry(NSSWITCH).and_then(|e| e.facts_from(NAME)).unwrap_or_default();
        for svc in services {
            if let Some(found) = cx.find_library(&format!("libnss_{svc}.so.2"), &libc) {
                add(&found.path, "NSS module", NSSWITCH, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, files_index, traced};
    use crate::select::closure::ClosureBuilder;
    use crate::select::keep::Reason;
    use crate::select::rules::all_except;

    #[test]
    fn runtime_data_follows_its_users() {
        let idx = files_index(&[
            ("usr/lib/x86_64-linux-gnu/libssl.so.3", "x"),
            ("etc/ssl/certs/ca-certificates.crt", "certs"),
            ("usr/share/zoneinfo/Europe/Paris", "tz"),
            ("usr/share/zoneinfo/Asia/Tokyo", "tz"),
            ("usr/lib/locale/locale-archive", "loc"),
            ("usr/share/doc/unrelated", "x"),
        ]);
        let cfg = config("app");
        let seeds = [traced("/usr/lib/x86_64-linux-gnu/libssl.so.3"), traced("/usr/share/zoneinfo/Europe/Paris")];
        let c = ClosureBuilder::new(&idx, &cfg).seeds(seeds.clone()).build();
        let ca = &c.keep.paths["/etc/ssl/certs/ca-certificates.crt"].reasons[0];
        assert!(matches!(ca, Reason::Rule { rule: "runtime-data", .. }), "{ca:?}");
        assert!(c.keep.contains("/usr/share/zoneinfo/Asia/Tokyo"), "every zone once one was read");
        let tokyo = &c.keep.paths["/usr/share/zoneinfo/Asia/Tokyo"].reasons[0];
        assert!(
            matches!(tokyo, Reason::Rule { rule: "runtime-data", .. }),
            "a rule's subtree is the rule's: {tokyo:?}"
        );
        assert!(!c.keep.contains("/usr/lib/locale/locale-archive"), "no locale was read");
        assert!(!c.keep.contains("/usr/share/doc/unrelated"));
        let c = ClosureBuilder::new(&idx, &cfg).rules(all_except(&["runtime-data".into()])).seeds(seeds).build();
        assert!(!c.keep.contains("/etc/ssl/certs/ca-certificates.crt"));
        assert!(!c.keep.contains("/usr/share/zoneinfo/Asia/Tokyo"));
    }

    #[test]
    fn fontconfig_keeps_its_config_and_the_fonts_it_names() {
        let idx = files_index(&[
            ("usr/lib/x86_64-linux-gnu/libfontconfig.so.1", "x"),
            (
                "etc/fonts/fonts.conf",
                "<fontconfig>\n  <dir>/usr/share/fonts</dir>\n  <dir prefix=\"xdg\">fonts</dir>\n</fontconfig>\n",
            ),
            ("usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "font"),
            ("usr/share/doc/fonts-note", "x"),
        ]);
        let cfg = config("java");
        let c = ClosureBuilder::new(&idx, &cfg).seeds([traced("/usr/lib/x86_64-linux-gnu/libfontconfig.so.1")]).build();
        assert!(
            c.keep.contains("/etc/fonts/fonts.conf")
                && c.keep.contains("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        );
        assert!(!c.keep.contains("/usr/share/doc/fonts-note"));
        let c = ClosureBuilder::new(&idx, &cfg).seeds([traced("/usr/share/doc/fonts-note")]).build();
        assert!(!c.keep.contains("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), "no fontconfig, no fonts");
    }

    #[test]
    fn nsswitch_services_are_read_once_and_sorted() {
        use crate::image::index::facts::ContentReader;
        let conf = b"passwd: files systemd\ngroup: files [SUCCESS=merge] systemd # comment\nhosts: files dns\n";
        assert_eq!(super::Reader.read("/etc/nsswitch.conf", conf), ["dns", "files", "systemd"]);
    }
}
