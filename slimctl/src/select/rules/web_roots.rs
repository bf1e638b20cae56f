//! Coverage rule web-roots: the directories a web server serves from, read from the
//! configuration it actually loaded (nginx `root`/`alias`, Apache httpd `DocumentRoot`/`Alias`/
//! `ScriptAlias`, lighttpd `server.document-root`/`alias.url`, Caddy `root`), kept whole: a
//! crawl finds only the pages that are linked, and no probe asks for the error pages.

use super::Rule;
use crate::image::index::facts::ContentReader;
use crate::select::closure::Cx;
use crate::select::keep::Reason;
use std::sync::Arc;

const NAME: &str = "web-roots";

/// Config files larger than this are not read.
const READ_LIMIT: u64 = 256 << 10;

/// Where web servers keep their configuration.
const CONFIG_DIRS: &[&str] = &[
    "/etc/nginx/",
    "/usr/local/nginx/conf/",
    "/usr/local/openresty/nginx/conf/",
    "/etc/apache2/",
    "/etc/httpd/",
    "/usr/local/apache2/conf/",
    "/etc/lighttpd/",
    "/etc/caddy/",
];

/// Roots that are whole system directories: a misconfiguration, never a site to keep whole.
const TOO_WIDE: &[&str] =
    &["/", "/usr", "/etc", "/var", "/lib", "/bin", "/sbin", "/opt", "/srv", "/home", "/root", "/tmp"];

pub struct WebRoots;

struct Reader;

impl ContentReader for Reader {
    fn name(&self) -> &'static str {
        NAME
    }
    fn wants(&self, path: &str, size: u64, head: &[u8]) -> bool {
        if size > READ_LIMIT {
            return false;
        }
        if CONFIG_DIRS.iter().any(|d| path.starts_with(d)) || path.ends_with("/Caddyfile") {
            return true;
        }
        // A config elsewhere (`nginx -c /app/nginx.conf`): known by its first lines.
        let conf = path.ends_with(".conf") || path.ends_with(".template");
        let head = String::from_utf8_lossy(head);
        conf && ["server {", "http {", "DocumentRoot", "<VirtualHost", "server.document-root"]
            .iter()
            .any(|k| head.contains(k))
    }
    fn read(&self, _path: &str, content: &[u8]) -> Vec<String> {
        roots(&String::from_utf8_lossy(content))
    }
}

/// The directories a config serves files from, as written (maybe with `${VAR}`s).
fn roots(conf: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in statements(conf) {
        let line = line.trim();
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == ';' || c == '(' || c == ')' || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        let unquote = |w: &str| w.trim_matches('"').trim_matches('\'').to_owned();
        let found: Vec<String> = match words.as_slice() {
            // Caddy: `root * /srv` (or `root /srv`, as nginx writes it)
            ["root", "*", path, ..] => vec![unquote(path)],
            // nginx
            ["root" | "alias", path, ..] => vec![unquote(path)],
            // Apache httpd
            [d, path, ..] if d.eq_ignore_ascii_case("DocumentRoot") => vec![unquote(path)],
            [d, _url, path, ..] if d.eq_ignore_ascii_case("Alias") || d.eq_ignore_ascii_case("ScriptAlias") => {
                vec![unquote(path)]
            }
            // lighttpd: server.document-root = "/var/www"; alias.url = ( "/x" => "/path" )
            ["server.document-root", "=", path, ..] => vec![unquote(path)],
            ["alias.url", "+=" | "=", rest @ ..] => {
                rest.windows(2).filter(|w| w[0] == "=>").map(|w| unquote(w[1])).collect()
            }
            _ => Vec::new(),
        };
        for p in found {
            let p = p.trim_end_matches('/').to_owned();
            if (p.starts_with('/') || p.starts_with("${")) && !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// Directives one by one: a line each, and nginx puts several on a line (`location /x { alias
/// /y; }`), so `;`, `{` and `}` end one too -- but not the braces of a `${VAR}`.
fn statements(conf: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in conf.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut cur = String::new();
        let mut in_var = false;
        let mut prev = ' ';
        for c in line.chars() {
            match c {
                '{' if prev == '$' => {
                    in_var = true;
                    cur.push(c);
                }
                '}' if in_var => {
                    in_var = false;
                    cur.push(c);
                }
                ';' | '{' | '}' => out.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
            prev = c;
        }
        out.push(cur);
    }
    out
}

/// `${VAR}` and `$VAR` replaced from the container's environment; None when one is unknown
/// (an nginx variable such as `$document_root` is not a path to keep).
fn substitute(path: &str, env: &[String]) -> Option<String> {
    let var = |k: &str| env.iter().rev().find_map(|kv| kv.strip_prefix(k).and_then(|r| r.strip_prefix('=')));
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let (name, after) = match rest.strip_prefix('{') {
            Some(r) => {
                let end = r.find('}')?;
                (&r[..end], &r[end + 1..])
            }
            None => {
                let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        out.push_str(var(name)?);
        rest = after;
    }
    out.push_str(rest);
    Some(out)
}

impl Rule for WebRoots {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "the whole directories a web server's loaded configuration serves (root, alias, DocumentRoot)"
    }
    fn reader(&self) -> Option<Arc<dyn ContentReader>> {
        Some(Arc::new(Reader))
    }
    fn on_complete(&mut self, cx: &mut Cx<'_>) {
        let env = cx.config().env();
        let mut wanted: Vec<(String, String)> = Vec::new();
        for (path, kept) in &cx.keep().paths {
            // Only a configuration the server loaded: one it opened while traced.
            if !kept.reasons.iter().any(|r| matches!(r, Reason::Traced { .. })) {
                continue;
            }
            let Some(roots) = cx.index().get(path).and_then(|e| e.facts_from(NAME)) else { continue };
            for root in roots.iter().filter_map(|r| substitute(r, &env)) {
                let root = root.trim_end_matches('/').to_owned();
                if root.starts_with('/') && !TOO_WIDE.contains(&root.as_str()) {
                    wanted.push((root, path.clone()));
                }
            }
        }
        for (root, config) in wanted {
            let reason = Reason::Rule { rule: NAME, what: format!("web root {root}").into(), of: config.into() };
            cx.want_if_present(root, reason, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{config, files_index, traced};
    use super::{roots, substitute};
    use crate::select::closure::ClosureBuilder;
    use crate::select::rules::all_except;

    #[test]
    fn roots_of_every_server_kind() {
        let nginx = "server {\n  listen 80;\n  root /srv/site;  # the site\n  location /docs/ { alias \"/usr/share/doc/app/\"; }\n  location ~ \\.php$ { root $document_root; }\n}\n";
        assert_eq!(roots(nginx), ["/srv/site", "/usr/share/doc/app"]);
        let apache = "<VirtualHost *:80>\n  DocumentRoot \"/var/www/html\"\n  Alias /static /opt/app/static\n  ScriptAlias /cgi-bin/ /usr/lib/cgi-bin/\n</VirtualHost>\n";
        assert_eq!(roots(apache), ["/var/www/html", "/opt/app/static", "/usr/lib/cgi-bin"]);
        assert_eq!(
            roots("server.document-root = \"/var/www/site\"\nalias.url += ( \"/x\" => \"/srv/x/\" )\n"),
            ["/var/www/site", "/srv/x"]
        );
        assert_eq!(roots("example.com {\n  root * /srv/www\n  file_server\n}\n"), ["/srv/www"]);
        assert_eq!(roots("DocumentRoot ${APACHE_DOCUMENT_ROOT}\n"), ["${APACHE_DOCUMENT_ROOT}"]);
        let env = ["APACHE_DOCUMENT_ROOT=/var/www/public".to_string()];
        assert_eq!(substitute("${APACHE_DOCUMENT_ROOT}/", &env).as_deref(), Some("/var/www/public/"));
        assert_eq!(substitute("$document_root", &env), None);
    }

    #[test]
    fn a_served_root_stays_whole_but_only_from_a_config_the_server_loaded() {
        let idx = files_index(&[
            ("etc/nginx/nginx.conf", "http { server { root /srv/site; error_page 404 /404.html; } }\n"),
            ("etc/nginx/unused.conf", "server { root /srv/other; }\n"),
            ("srv/site/index.html", "<a href=/about.html>about</a>"),
            ("srv/site/404.html", "not found"),
            ("srv/other/secret.html", "not served"),
        ]);
        let cfg = config("nginx");
        let seeds = [traced("/etc/nginx/nginx.conf"), traced("/srv/site/index.html")];
        let off = |rules: &[&str]| all_except(&rules.iter().map(|r| r.to_string()).collect::<Vec<_>>());
        let c = ClosureBuilder::new(&idx, &cfg).rules(off(&["app-tree"])).seeds(seeds.clone()).build();
        assert!(c.keep.contains("/srv/site/404.html"), "the error page no probe asks for");
        assert!(!c.keep.contains("/srv/other/secret.html"), "a config the server never loaded serves nothing");
        let c = ClosureBuilder::new(&idx, &cfg).rules(off(&["app-tree", "web-roots"])).seeds(seeds).build();
        assert!(!c.keep.contains("/srv/site/404.html"));
    }
}
