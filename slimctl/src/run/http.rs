//! HTTP probes: requests sent to the target's published ports while it is traced, so that the
//! code paths serving them are exercised and their files recorded.
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpProbe {
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Container port; None: every published port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

fn default_method() -> String {
    "GET".into()
}

impl HttpProbe {
    pub fn get(path: &str) -> HttpProbe {
        HttpProbe { method: "GET".into(), path: path.into(), body: None, headers: BTreeMap::new(), port: None }
    }

    /// `METHOD:PATH`, `PATH`, `METHOD:PORT:PATH`, or a JSON object with method, path, body,
    /// headers and port (as `--http-probe-cmd` takes them).
    pub fn parse(s: &str) -> Result<HttpProbe, String> {
        if s.trim_start().starts_with('{') {
            let p: HttpProbe =
                serde_json::from_str(s).map_err(|e| format!("probe {s:?} is not a valid JSON probe: {e}"))?;
            let spec = match p.port {
                Some(port) => format!("{}:{port}:{}", p.method, p.path),
                None => format!("{}:{}", p.method, p.path),
            };
            HttpProbe::parse(&spec)?;
            return Ok(HttpProbe { method: p.method.to_ascii_uppercase(), ..p });
        }
        let parts: Vec<&str> = s.splitn(3, ':').collect();
        let (method, port, path) = match parts.as_slice() {
            [path] => ("GET", None, *path),
            [m, path] => (*m, None, *path),
            [m, port, path] => {
                (*m, Some(port.parse::<u16>().map_err(|_| format!("bad port {port:?} in probe {s:?}"))?), *path)
            }
            _ => unreachable!(),
        };
        let method = method.to_ascii_uppercase();
        if !["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"].contains(&method.as_str()) {
            return Err(format!(
                "unknown HTTP method {method:?} in probe {s:?} (use METHOD:/path, e.g. POST:/api/items)"
            ));
        }
        if !path.starts_with('/') {
            return Err(format!("probe path {path:?} must start with / (use METHOD:/path)"));
        }
        Ok(HttpProbe { method, path: path.into(), body: None, headers: BTreeMap::new(), port })
    }
}

#[derive(Deserialize)]
struct ProbeFile {
    #[serde(default)]
    probes: Vec<HttpProbe>,
}

/// A probe file: JSON or YAML, `{"probes": [{"method": "POST", "path": "/x", "body": "...",
/// "headers": {...}, "port": 8080}, ...]}`.
pub fn load_probe_file(path: &std::path::Path) -> Result<Vec<HttpProbe>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read probe file {}: {e}", path.display()))?;
    let parsed: Result<ProbeFile, String> = if text.trim_start().starts_with('{') {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        serde_yaml::from_str(&text).map_err(|e| e.to_string())
    };
    let f = parsed.map_err(|e| format!("probe file {} is not valid: {e}", path.display()))?;
    for p in &f.probes {
        HttpProbe::parse(&format!("{}:{}", p.method, p.path))
            .map_err(|e| format!("probe file {}: {e}", path.display()))?;
    }
    Ok(f.probes)
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub method: String,
    pub path: String,
    pub port: u16,
    pub status: Option<u16>,
    pub bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub ms: u64,
    /// Found by crawling a page, not asked for.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub crawled: bool,
    #[serde(skip)]
    pub body: Vec<u8>,
    #[serde(skip)]
    pub content_type: String,
    /// The request as sent, when the plan did not name it (an OpenAPI spec's): what a replay
    /// sends again, body and headers included.
    #[serde(skip)]
    pub sent: Option<HttpProbe>,
}

impl ProbeResult {
    pub fn answered(&self) -> bool {
        self.status.is_some()
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .build()
        .into()
}

const BODY_LIMIT: u64 = 16 << 20;

/// Sends one probe to 127.0.0.1:`host_port` (the container's `port`). Blocking.
pub fn call(probe: &HttpProbe, port: u16, host_port: u16, timeout: Duration) -> ProbeResult {
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{host_port}{}", probe.path);
    let agent = agent(timeout);
    let mut result = ProbeResult {
        method: probe.method.clone(),
        path: probe.path.clone(),
        port,
        status: None,
        bytes: 0,
        error: None,
        ms: 0,
        crawled: false,
        body: Vec::new(),
        content_type: String::new(),
        sent: None,
    };
    let mut req = ureq::http::Request::builder().method(probe.method.as_str()).uri(&url);
    for (k, v) in &probe.headers {
        req = req.header(k, v);
    }
    let sent = match &probe.body {
        Some(b) => req
            .body(b.clone().into_bytes())
            .map_err(|e| e.to_string())
            .and_then(|r| agent.run(r).map_err(|e| e.to_string())),
        None => req.body(()).map_err(|e| e.to_string()).and_then(|r| agent.run(r).map_err(|e| e.to_string())),
    };
    match sent {
        Ok(mut resp) => {
            result.status = Some(resp.status().as_u16());
            result.content_type =
                resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            match resp.body_mut().with_config().limit(BODY_LIMIT).read_to_vec() {
                Ok(b) => {
                    result.bytes = b.len();
                    result.body = b;
                }
                Err(e) => result.error = Some(format!("reading the body: {e}")),
            }
        }
        Err(e) => result.error = Some(e),
    }
    result.ms = started.elapsed().as_millis() as u64;
    result
}

/// `raw` (an href, a src, a sitemap's loc) resolved against the page at `base`: its path when
/// it stays on the same server (the same host and port), without query or fragment.
fn same_site(base: &url::Url, raw: &str, host_port: u16) -> Option<String> {
    let raw = raw.trim();
    // A fragment of this page is this page.
    if raw.is_empty() || raw.starts_with('#') {
        return None;
    }
    let url = base.join(raw).ok()?;
    let same_server = matches!(url.scheme(), "http" | "https")
        && matches!(url.host_str(), Some("127.0.0.1" | "localhost"))
        && url.port_or_known_default() == Some(host_port);
    same_server.then(|| url.path().to_owned())
}

fn page_url(base_path: &str, host_port: u16) -> Option<url::Url> {
    url::Url::parse(&format!("http://127.0.0.1:{host_port}")).and_then(|u| u.join(base_path)).ok()
}

/// Links of an HTML page that stay on the same server: href/src attributes resolved against
/// the page's URL (relative, root-relative, or absolute to the same host and port), as paths
/// without query or fragment.
pub fn same_site_links(html: &str, base_path: &str, host_port: u16) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(base) = page_url(base_path, host_port) else { return out };
    let lower = html.to_ascii_lowercase();
    for attr in ["href=", "src="] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(attr) {
            let start = from + i + attr.len();
            from = start;
            let rest = &html[start..];
            let (quote, rest) = match rest.chars().next() {
                Some(q @ ('"' | '\'')) => (Some(q), &rest[1..]),
                _ => (None, rest),
            };
            let end = match quote {
                Some(q) => rest.find(q),
                None => rest.find(|c: char| c.is_whitespace() || c == '>'),
            }
            .unwrap_or(rest.len());
            out.extend(same_site(&base, &rest[..end], host_port));
        }
    }
    out
}

/// The same-site pages a sitemap (`<loc>` elements) or a robots.txt (`Sitemap:` lines) names.
pub fn listed_pages(body: &str, base_path: &str, host_port: u16) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(base) = page_url(base_path, host_port) else { return out };
    for line in body.lines() {
        let t = line.trim();
        if let Some(url) = t.strip_prefix("Sitemap:").or_else(|| t.strip_prefix("sitemap:")) {
            out.extend(same_site(&base, url, host_port));
        }
    }
    let mut rest = body;
    while let Some(i) = rest.find("<loc>") {
        rest = &rest[i + 5..];
        let Some(end) = rest.find("</loc>") else { break };
        out.extend(same_site(&base, &rest[..end], host_port));
        rest = &rest[end..];
    }
    out
}

/// Follows same-site links from the HTML answers in `start`, and the pages robots.txt and
/// sitemap.xml list when the site has them, breadth first, up to `limit` more requests.
/// Blocking.
pub fn crawl(
    start: &[ProbeResult],
    host_ports: &BTreeMap<u16, u16>,
    limit: usize,
    timeout: Duration,
) -> Vec<ProbeResult> {
    let mut visited: BTreeSet<(u16, String)> = start.iter().map(|r| (r.port, r.path.clone())).collect();
    let mut queue: VecDeque<(u16, String)> = VecDeque::new();
    let enqueue = |r: &ProbeResult, queue: &mut VecDeque<(u16, String)>, visited: &mut BTreeSet<(u16, String)>| {
        let hp = host_ports[&r.port];
        let body = String::from_utf8_lossy(&r.body);
        let links = if r.content_type.contains("html") {
            same_site_links(&body, &r.path, hp)
        } else if r.status == Some(200) && (r.path == "/robots.txt" || r.content_type.contains("xml")) {
            listed_pages(&body, &r.path, hp)
        } else {
            BTreeSet::new()
        };
        for link in links {
            if visited.insert((r.port, link.clone())) {
                queue.push_back((r.port, link));
            }
        }
    };
    for r in start {
        enqueue(r, &mut queue, &mut visited);
    }
    let mut out = Vec::new();
    // robots.txt and sitemap.xml, where a site lists what it has; kept only when present.
    for (&port, &hp) in host_ports {
        for path in ["/robots.txt", "/sitemap.xml"] {
            if out.len() >= limit || !visited.insert((port, path.to_owned())) {
                continue;
            }
            let mut r = call(&HttpProbe::get(path), port, hp, timeout);
            if r.status == Some(200) {
                r.crawled = true;
                enqueue(&r, &mut queue, &mut visited);
                out.push(r);
            }
        }
    }
    while let Some((port, path)) = queue.pop_front() {
        if out.len() >= limit {
            break;
        }
        let mut r = call(&HttpProbe::get(&path), port, host_ports[&port], timeout);
        r.crawled = true;
        enqueue(&r, &mut queue, &mut visited);
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sitemaps_and_robots_list_pages() {
        let sitemap = "<?xml version=\"1.0\"?><urlset><url><loc>http://127.0.0.1:8080/about.html</loc></url>\
                       <url><loc>https://example.com/elsewhere</loc></url><url><loc>/faq.html</loc></url></urlset>";
        let want: BTreeSet<String> = ["/about.html", "/faq.html"].iter().map(|s| s.to_string()).collect();
        assert_eq!(listed_pages(sitemap, "/sitemap.xml", 8080), want);
        let robots = "User-agent: *\nDisallow: /admin\nSitemap: http://localhost:8080/sitemap-2.xml\n";
        assert_eq!(listed_pages(robots, "/robots.txt", 8080), ["/sitemap-2.xml".to_string()].into());
    }

    #[test]
    fn probe_specs_parse() {
        assert_eq!(HttpProbe::parse("/health").unwrap(), HttpProbe::get("/health"));
        let p = HttpProbe::parse("post:/api/items").unwrap();
        assert_eq!((p.method.as_str(), p.path.as_str(), p.port), ("POST", "/api/items", None));
        let p = HttpProbe::parse("GET:9090:/metrics").unwrap();
        assert_eq!(p.port, Some(9090));
        assert!(HttpProbe::parse("FETCH:/x").unwrap_err().contains("unknown HTTP method"));
        assert!(HttpProbe::parse("GET:x").unwrap_err().contains("must start with /"));
        let p = HttpProbe::parse(
            r#"{"method":"post","path":"/api/items","body":"{\"n\":1}","headers":{"Content-Type":"application/json"}}"#,
        )
        .unwrap();
        assert_eq!((p.method.as_str(), p.body.as_deref()), ("POST", Some(r#"{"n":1}"#)));
        assert_eq!(p.headers["Content-Type"], "application/json");
        assert!(HttpProbe::parse(r#"{"path":"relative"}"#).unwrap_err().contains("must start with /"));
    }

    #[test]
    fn links_stay_on_the_site() {
        let html = r##"<a href="/about.html">a</a> <link rel=stylesheet href='css/site.css'>
            <img SRC="../img/logo.png"> <a href="https://example.com/x">ext</a> <a href="#top">t</a>
            <a href="mailto:x@y">m</a> <script src="/js/app.js?v=3"></script> <a href="http://127.0.0.1:8080/p">p</a>
            <a href="//127.0.0.1:8080/q">q</a> <a href=http://localhost:8080>home</a> <a href="./a/../b.html">b</a>
            <a href="http://127.0.0.1:9999/other-port">o</a> <a href="javascript:void(0)">j</a>"##;
        let links = same_site_links(html, "/docs/index.html", 8080);
        let want: BTreeSet<String> =
            ["/", "/about.html", "/docs/b.html", "/docs/css/site.css", "/img/logo.png", "/js/app.js", "/p", "/q"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        assert_eq!(links, want);
    }

    #[test]
    fn probe_files_are_json_or_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("p.json");
        std::fs::write(&j, r#"{"probes":[{"path":"/a"},{"method":"POST","path":"/b","body":"{}","headers":{"Content-Type":"application/json"}}]}"#).unwrap();
        let probes = load_probe_file(&j).unwrap();
        assert_eq!(probes.len(), 2);
        assert_eq!(probes[1].headers["Content-Type"], "application/json");
        let y = dir.path().join("p.yaml");
        std::fs::write(&y, "probes:\n  - path: /a\n  - method: DELETE\n    path: /b\n    port: 9000\n").unwrap();
        let probes = load_probe_file(&y).unwrap();
        assert_eq!(probes[1].method, "DELETE");
        assert_eq!(probes[1].port, Some(9000));
        std::fs::write(&y, "probes:\n  - method: GET\n    path: nope\n").unwrap();
        assert!(load_probe_file(&y).unwrap_err().contains("must start with /"));
    }
}
