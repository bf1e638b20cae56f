//! From a Compose file to the stack of one target: which service is the target, which services
//! it needs (transitively, through `depends_on`) and in what order, and each one's settings in
//! slimctl's model. Services neither the target nor the probe service needs are not started.
use super::load::{read_env_file, Loaded};
use super::model::*;
use super::ComposeError;
use docker_compose_types as dc;
use std::collections::BTreeSet;
use std::path::Path;

/// The target's stack, and the probe service's settings when one is named.
#[derive(Debug)]
pub struct Resolved {
    pub stack: Stack,
    pub probe: Option<ServiceRun>,
}

/// Resolves the stack of `target` (else the one service nothing else depends on).
pub fn resolve(l: &Loaded, target: Option<&str>, probe: Option<&str>) -> Result<Resolved, ComposeError> {
    let names: Vec<String> = l.compose.services.0.keys().cloned().collect();
    let unknown = |name: &str, what: &str| ComposeError::UnknownService {
        name: name.to_owned(),
        what: what.to_owned(),
        services: names.clone(),
    };
    if let Some(p) = probe {
        if !names.iter().any(|n| n == p) {
            return Err(unknown(p, "probe service"));
        }
    }
    let target = match target {
        Some(t) if names.iter().any(|n| n == t) => t.to_owned(),
        Some(t) => return Err(unknown(t, "target service")),
        None => infer_target(l, probe)?,
    };
    if probe == Some(target.as_str()) {
        return Err(ComposeError::Invalid(format!("{target} cannot be both the target and the probe service")));
    }
    let service = |name: &str| -> Result<dc::Service, ComposeError> {
        Ok(l.compose.services.0.get(name).cloned().flatten().unwrap_or_default())
    };
    // Start order: dependencies first (depth first), the target itself never among them.
    let mut order: Vec<String> = Vec::new();
    let mut visiting = Vec::new();
    let roots = std::iter::once(target.as_str()).chain(probe);
    for root in roots {
        for dep in depends(&service(root)?, root)? {
            visit(l, &dep.service, &target, &mut order, &mut visiting)?;
        }
    }
    let mut services = Vec::new();
    for name in &order {
        let s = service(name)?;
        let depends = depends(&s, name)?.into_iter().filter(|d| d.service != target).collect();
        services.push(Service { name: name.clone(), run: run_of(l, name, &s)?, depends });
    }
    let t = service(&target)?;
    let target_run = run_of(l, &target, &t)?;
    let target_depends = depends(&t, &target)?;
    let probe_run = probe.map(|p| run_of(l, p, &service(p).expect("checked above"))).transpose()?;
    // Only the networks and volumes the started services use.
    let all_runs = || services.iter().map(|s| &s.run).chain([&target_run]).chain(probe_run.as_ref());
    let used_nets: BTreeSet<String> = all_runs().flat_map(|r| r.networks.iter().map(|a| a.network.clone())).collect();
    let used_vols: BTreeSet<String> = all_runs()
        .flat_map(|r| r.mounts.iter().filter(|m| m.kind == MountKind::Volume).filter_map(|m| m.source.clone()))
        .collect();
    let networks = used_nets.into_iter().map(|k| network(l, k)).collect();
    let volumes = used_vols.into_iter().map(|k| volume(l, k)).collect();
    let stack = Stack { project: l.project.clone(), target, target_run, target_depends, services, networks, volumes };
    Ok(Resolved { stack, probe: probe_run })
}

/// The target when none is named: the one service no other depends on (the probe service
/// aside), as `docker compose up` would leave in the foreground.
fn infer_target(l: &Loaded, probe: Option<&str>) -> Result<String, ComposeError> {
    let mut needed = BTreeSet::new();
    for (name, s) in &l.compose.services.0 {
        if Some(name.as_str()) == probe {
            continue;
        }
        for d in depends(&s.clone().unwrap_or_default(), name)? {
            needed.insert(d.service);
        }
    }
    let tops: Vec<&String> =
        l.compose.services.0.keys().filter(|n| Some(n.as_str()) != probe && !needed.contains(*n)).collect();
    match tops[..] {
        [one] => Ok(one.clone()),
        _ => Err(ComposeError::Invalid(format!(
            "which service is the target? name it with --target-service (services: {})",
            l.compose.services.0.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn visit(
    l: &Loaded,
    name: &str,
    target: &str,
    order: &mut Vec<String>,
    visiting: &mut Vec<String>,
) -> Result<(), ComposeError> {
    if name == target || order.iter().any(|o| o == name) {
        return Ok(());
    }
    if visiting.iter().any(|v| v == name) {
        visiting.push(name.to_owned());
        return Err(ComposeError::Invalid(format!("depends_on has a cycle: {}", visiting.join(" -> "))));
    }
    let Some(s) = l.compose.services.0.get(name) else {
        return Err(ComposeError::UnknownService {
            name: name.to_owned(),
            what: "dependency".into(),
            services: l.compose.services.0.keys().cloned().collect(),
        });
    };
    visiting.push(name.to_owned());
    for d in depends(&s.clone().unwrap_or_default(), name)? {
        visit(l, &d.service, target, order, visiting)?;
    }
    visiting.pop();
    order.push(name.to_owned());
    Ok(())
}

fn depends(s: &dc::Service, name: &str) -> Result<Vec<Dependency>, ComposeError> {
    Ok(match &s.depends_on {
        dc::DependsOnOptions::Simple(v) => {
            v.iter().map(|d| Dependency { service: d.clone(), condition: Condition::ServiceStarted }).collect()
        }
        dc::DependsOnOptions::Conditional(m) => m
            .iter()
            .map(|(d, c)| {
                let condition =
                    c.condition.parse().map_err(|e| ComposeError::Invalid(format!("{name}: depends_on {d}: {e}")))?;
                Ok(Dependency { service: d.clone(), condition })
            })
            .collect::<Result<_, ComposeError>>()?,
    })
}

fn network(l: &Loaded, key: String) -> Network {
    let settings = l.compose.networks.0.get(&key).cloned().and_then(Option::<dc::NetworkSettings>::from);
    let external = settings.as_ref().and_then(|n| match &n.external {
        Some(dc::ComposeNetwork::Bool(true)) => Some(n.name.clone().unwrap_or_else(|| key.clone())),
        Some(dc::ComposeNetwork::Detailed(d)) => Some(d.name.clone()),
        _ => None,
    });
    Network { key, external }
}

fn volume(l: &Loaded, key: String) -> Volume {
    let settings = l.compose.volumes.0.get(&key).cloned().and_then(Option::<dc::ComposeVolume>::from);
    let external = settings.as_ref().and_then(|v| match &v.external {
        Some(dc::ExternalVolume::Bool(true)) => Some(v.name.clone().unwrap_or_else(|| key.clone())),
        Some(dc::ExternalVolume::Name { name }) => Some(name.clone()),
        _ => None,
    });
    Volume { key, external }
}

/// One service's settings.
fn run_of(l: &Loaded, name: &str, s: &dc::Service) -> Result<ServiceRun, ComposeError> {
    let bad = |m: String| ComposeError::Invalid(format!("service {name}: {m}"));
    let image = match (&s.image, &s.build_) {
        (Some(i), _) => i.clone(),
        (None, Some(_)) => {
            return Err(bad("it has `build:` but no `image:`; build it first (docker compose build) and name the \
                            image it makes with `image:` (slimctl never builds or pulls)"
                .into()))
        }
        (None, None) => return Err(bad("no `image:`".into())),
    };
    if let Some(mode) = &s.network_mode {
        return Err(bad(format!(
            "network_mode {mode:?} is not supported in slimctl's stacks; use `networks:` (every service joins the \
             project's network by default)"
        )));
    }
    let words =
        |what: &str, c: Option<Vec<String>>, text: Option<&String>| -> Result<Option<Vec<String>>, ComposeError> {
            match (c, text) {
                (Some(v), _) => Ok(Some(v)),
                (None, Some(t)) => crate::argv::shell_words(t).map(Some).map_err(|e| bad(format!("{what} {e}"))),
                (None, None) => Ok(None),
            }
        };
    let (cmd_list, cmd_text) = match &s.command {
        Some(dc::Command::Args(v)) => (Some(v.clone()), None),
        Some(dc::Command::Simple(t)) => (None, Some(t)),
        None => (None, None),
    };
    let (ep_list, ep_text) = match &s.entrypoint {
        Some(dc::Entrypoint::List(v)) => (Some(v.clone()), None),
        Some(dc::Entrypoint::Simple(t)) => (None, Some(t)),
        None => (None, None),
    };
    Ok(ServiceRun {
        image,
        image_id: String::new(),
        entrypoint: words("entrypoint", ep_list, ep_text)?,
        command: words("command", cmd_list, cmd_text)?,
        env: environment(l, s)?,
        user: s.user.clone(),
        workdir: s.working_dir.clone(),
        mounts: mounts(l, s).map_err(bad)?,
        networks: attachments(l, s).map_err(bad)?,
        ports: ports(s).map_err(bad)?,
        healthcheck: s.healthcheck.as_ref().map(healthcheck).transpose().map_err(bad)?,
    })
}

/// `env_file` entries, then `environment` over them. A bare name takes its value from the
/// interpolation variables, and is left out when they do not have it.
fn environment(l: &Loaded, s: &dc::Service) -> Result<Vec<String>, ComposeError> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: String, v: String| match env.iter_mut().find(|(ek, _)| *ek == k) {
        Some(e) => e.1 = v,
        None => env.push((k, v)),
    };
    let files = match &s.env_file {
        Some(dc::StringOrList::Simple(f)) => vec![f.clone()],
        Some(dc::StringOrList::List(v)) => v.clone(),
        None => Vec::new(),
    };
    for f in files {
        for (k, v) in read_env_file(&l.dir.join(f))? {
            set(k, v);
        }
    }
    let from_vars = |k: &str| l.vars.get(k).cloned();
    match &s.environment {
        dc::Environment::List(items) => {
            for item in items {
                match item.split_once('=') {
                    Some((k, v)) => set(k.to_owned(), v.to_owned()),
                    None => {
                        if let Some(v) = from_vars(item) {
                            set(item.clone(), v)
                        }
                    }
                }
            }
        }
        dc::Environment::KvPair(m) => {
            for (k, v) in m {
                match v {
                    Some(v) => set(k.clone(), v.to_string()),
                    None => {
                        if let Some(v) = from_vars(k) {
                            set(k.clone(), v)
                        }
                    }
                }
            }
        }
    }
    Ok(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

fn mounts(l: &Loaded, s: &dc::Service) -> Result<Vec<Mount>, String> {
    let mut out = Vec::new();
    for v in &s.volumes {
        out.push(match v {
            dc::Volumes::Simple(text) => short_mount(l, text)?,
            dc::Volumes::Advanced(a) => {
                let kind = match a._type.as_str() {
                    "bind" => MountKind::Bind,
                    "volume" if a.source.is_some() => MountKind::Volume,
                    "volume" => MountKind::Anonymous,
                    "tmpfs" => MountKind::Tmpfs,
                    t => return Err(format!("volume type {t:?} is not supported (bind, volume, tmpfs)")),
                };
                let source = match kind {
                    MountKind::Bind => Some(host_path(l, a.source.as_deref().unwrap_or_default())),
                    MountKind::Volume => Some(volume_key(l, a.source.as_deref().unwrap_or_default())?),
                    _ => None,
                };
                Mount { kind, source, target: a.target.clone(), read_only: a.read_only }
            }
        });
    }
    if let Some(t) = &s.tmpfs {
        let list = match t {
            dc::Tmpfs::Simple(p) => vec![p.clone()],
            dc::Tmpfs::List(v) => v.clone(),
        };
        out.extend(list.into_iter().map(|target| Mount {
            kind: MountKind::Tmpfs,
            source: None,
            target,
            read_only: false,
        }));
    }
    Ok(out)
}

/// `SRC:DST[:MODE]` or `DST`.
fn short_mount(l: &Loaded, text: &str) -> Result<Mount, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (src, target, mode) = match parts[..] {
        [dst] => (None, dst, ""),
        [src, dst] => (Some(src), dst, ""),
        [src, dst, mode] => (Some(src), dst, mode),
        _ => return Err(format!("volume {text:?}: use SOURCE:TARGET[:MODE]")),
    };
    let read_only = mode.split(',').any(|m| m == "ro");
    let target = target.to_owned();
    Ok(match src {
        None => Mount { kind: MountKind::Anonymous, source: None, target, read_only },
        Some(s) if s.starts_with('/') || s.starts_with('.') || s.starts_with('~') => {
            Mount { kind: MountKind::Bind, source: Some(host_path(l, s)), target, read_only }
        }
        Some(s) => Mount { kind: MountKind::Volume, source: Some(volume_key(l, s)?), target, read_only },
    })
}

fn volume_key(l: &Loaded, key: &str) -> Result<String, String> {
    if l.compose.volumes.0.contains_key(key) {
        Ok(key.to_owned())
    } else {
        Err(format!("volume {key:?} is not declared under the top-level `volumes:`"))
    }
}

/// A bind source: `~` is the home directory, a relative path starts at the project directory.
fn host_path(l: &Loaded, p: &str) -> String {
    let path = match p.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map(|h| Path::new(&h).join(rest)).unwrap_or_else(|| p.into()),
        None => l.dir.join(p),
    };
    normalize(&path)
}

/// `a/./b/../c` as `a/c`, without touching the filesystem (the path may not exist yet).
fn normalize(p: &Path) -> String {
    let mut out = std::path::PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.to_string_lossy().into_owned()
}

fn attachments(l: &Loaded, s: &dc::Service) -> Result<Vec<Attach>, String> {
    let declared = |k: &str| {
        if k == "default" || l.compose.networks.0.contains_key(k) {
            Ok(())
        } else {
            Err(format!("network {k:?} is not declared under the top-level `networks:`"))
        }
    };
    let mut out = Vec::new();
    match &s.networks {
        dc::Networks::Simple(v) => {
            for k in v {
                declared(k)?;
                out.push(Attach { network: k.clone(), aliases: Vec::new() });
            }
        }
        dc::Networks::Advanced(m) => {
            for (k, settings) in &m.0 {
                declared(k)?;
                let aliases = Option::<dc::AdvancedNetworkSettings>::from(settings.clone())
                    .map(|a| a.aliases)
                    .unwrap_or_default();
                out.push(Attach { network: k.clone(), aliases });
            }
        }
    }
    if out.is_empty() {
        out.push(Attach { network: "default".into(), aliases: Vec::new() });
    }
    Ok(out)
}

/// The container's TCP ports among `ports` and `expose`.
fn ports(s: &dc::Service) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    let specs: Vec<String> = match &s.ports {
        dc::Ports::Short(v) => v.clone(),
        dc::Ports::Long(v) => v
            .iter()
            .filter(|p| p.protocol.as_deref().is_none_or(|x| x == "tcp"))
            .map(|p| p.target.to_string())
            .collect(),
    };
    for spec in specs.iter().chain(&s.expose) {
        let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
        if proto != "tcp" {
            continue;
        }
        // The container's side is last: [IP:][HOST:]CONTAINER.
        let container = port.rsplit(':').next().unwrap_or(port);
        let bad = || format!("port {spec:?}: not a port or a range of ports");
        let (lo, hi) = match container.split_once('-') {
            Some((a, b)) => (a.parse::<u16>().map_err(|_| bad())?, b.parse::<u16>().map_err(|_| bad())?),
            None => {
                let p = container.parse::<u16>().map_err(|_| bad())?;
                (p, p)
            }
        };
        if hi < lo || hi - lo > 1000 {
            return Err(bad());
        }
        out.extend(lo..=hi);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn healthcheck(h: &dc::Healthcheck) -> Result<Healthcheck, String> {
    let test = if h.disable {
        vec!["NONE".to_owned()]
    } else {
        match &h.test {
            Some(dc::HealthcheckTest::Single(s)) => vec!["CMD-SHELL".to_owned(), s.clone()],
            Some(dc::HealthcheckTest::Multiple(v)) => {
                if !matches!(v.first().map(String::as_str), Some("CMD" | "CMD-SHELL" | "NONE")) {
                    return Err(format!("healthcheck test {v:?}: begin it with CMD, CMD-SHELL or NONE"));
                }
                v.clone()
            }
            // The image's own test, with the file's timings.
            None => Vec::new(),
        }
    };
    let d = |what: &str, v: &Option<String>| -> Result<i64, String> {
        v.as_deref()
            .map(|s| duration_ns(s).ok_or_else(|| format!("healthcheck {what} {s:?}: not a duration (1m30s, 500ms)")))
            .transpose()
            .map(|o| o.unwrap_or(0))
    };
    Ok(Healthcheck {
        test,
        interval_ns: d("interval", &h.interval)?,
        timeout_ns: d("timeout", &h.timeout)?,
        retries: h.retries,
        start_period_ns: d("start_period", &h.start_period)?,
    })
}

/// A Compose duration (`1h2m3s`, `1.5s`, `500ms`, `10us`) in nanoseconds.
pub fn duration_ns(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::load::load;

    fn loaded(yaml: &str) -> (tempfile::TempDir, Loaded) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("compose.yaml"), yaml).unwrap();
        std::fs::write(d.path().join("web.env"), "# settings\nMODE=file\nLEVEL=debug\n").unwrap();
        let l = load(&[d.path().join("compose.yaml")]).unwrap();
        (d, l)
    }

    const STACK: &str = r#"
name: shop
services:
  db:
    image: pg:15
    volumes: [data:/var/lib/postgresql]
    healthcheck:
      test: ["CMD", "pg_isready"]
      interval: 1s
      timeout: 1m30s
      retries: 20
  cache:
    image: redis
  migrate:
    image: app:1
    command: migrate --all
    depends_on:
      db: {condition: service_healthy}
  web:
    image: app:1
    command: ["serve", "--port", "8000"]
    env_file: web.env
    environment:
      MODE: env
      DB: db
    working_dir: /srv
    user: "1000"
    ports: ["127.0.0.1:8080:8000", "9000-9001:9000-9001", "53:53/udp"]
    expose: ["7000"]
    volumes: ["./static:/srv/static:ro", "/tmp/cache"]
    networks:
      back: {aliases: [api]}
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  tests:
    image: app-tests:1
    depends_on: [web, cache]
  unrelated:
    image: other
    depends_on: [tests]
volumes:
  data:
networks:
  back:
"#;

    #[test]
    fn the_target_its_dependencies_in_order_and_its_settings() {
        let (d, l) = loaded(STACK);
        let r = resolve(&l, Some("web"), Some("tests")).unwrap();
        let s = &r.stack;
        assert_eq!(s.project, "shop");
        let names: Vec<&str> = s.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "migrate", "cache"], "dependencies first; unrelated services not started");
        assert_eq!(s.service("migrate").unwrap().depends[0].condition, Condition::ServiceHealthy);
        assert_eq!(
            s.service("migrate").unwrap().run.command.as_deref(),
            Some(&["migrate".to_owned(), "--all".to_owned()][..])
        );
        let t = &s.target_run;
        assert_eq!(t.env, ["MODE=env", "LEVEL=debug", "DB=db"]);
        assert_eq!(t.ports, [7000, 8000, 9000, 9001]);
        assert_eq!(t.workdir.as_deref(), Some("/srv"));
        assert_eq!(t.user.as_deref(), Some("1000"));
        let static_dir = std::fs::canonicalize(d.path()).unwrap().join("static");
        assert_eq!(
            t.mounts[0],
            Mount {
                kind: MountKind::Bind,
                source: Some(static_dir.to_string_lossy().into()),
                target: "/srv/static".into(),
                read_only: true
            }
        );
        assert_eq!(t.mounts[1].kind, MountKind::Anonymous);
        assert_eq!(t.networks, [Attach { network: "back".into(), aliases: vec!["api".into()] }]);
        assert_eq!(s.target_depends.len(), 2);
        let db = &s.service("db").unwrap().run;
        let h = db.healthcheck.as_ref().unwrap();
        assert_eq!((h.interval_ns, h.timeout_ns, h.retries), (1_000_000_000, 90_000_000_000, 20));
        assert_eq!(s.volumes, [Volume { key: "data".into(), external: None }]);
        let nets: Vec<&str> = s.networks.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(nets, ["back", "default"]);
        assert_eq!(r.probe.unwrap().image, "app-tests:1");
    }

    #[test]
    fn the_target_is_inferred_when_one_service_tops_the_graph() {
        let (_d, l) = loaded("services:\n  db: {image: pg}\n  web: {image: app, depends_on: [db]}\n");
        assert_eq!(resolve(&l, None, None).unwrap().stack.target, "web");
        let (_d, l) = loaded(STACK);
        assert_eq!(resolve(&l, None, None).unwrap().stack.target, "unrelated");
        assert_eq!(resolve(&l, None, Some("unrelated")).unwrap().stack.target, "tests");
        let (_d, l) = loaded("services:\n  api: {image: a}\n  worker: {image: w}\n");
        let e = resolve(&l, None, None).unwrap_err().to_string();
        assert!(e.contains("--target-service") && e.contains("api, worker"), "{e}");
    }

    #[test]
    fn unknown_services_are_named_with_the_file_s_services() {
        let (_d, l) = loaded(STACK);
        let e = resolve(&l, Some("api"), None).unwrap_err().to_string();
        assert!(e.contains("\"api\"") && e.contains("db, cache, migrate, web, tests, unrelated"), "{e}");
    }

    #[test]
    fn cycles_build_only_services_and_undeclared_volumes_are_errors() {
        let (_d, l) = loaded("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: y, depends_on: [a]}\n  c: {image: z, depends_on: [a]}\n");
        assert!(resolve(&l, Some("c"), None).unwrap_err().to_string().contains("cycle"));
        let (_d, l) = loaded("services:\n  web: {build: .}\n");
        assert!(resolve(&l, None, None).unwrap_err().to_string().contains("docker compose build"));
        let (_d, l) = loaded("services:\n  web: {image: x, volumes: [\"nope:/data\"]}\n");
        assert!(resolve(&l, None, None).unwrap_err().to_string().contains("top-level `volumes:`"));
    }

    #[test]
    fn durations_read_as_compose_writes_them() {
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_ns("500ms"), Some(500_000_000));
        assert_eq!(duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(duration_ns("2h"), Some(7_200_000_000_000));
        assert_eq!(duration_ns("5 s"), None);
        assert_eq!(duration_ns("soon"), None);
    }
}
