//! The probes a run made, exactly as made: what verify runs again on the original and the slim
//! image, and what a profile keeps so that a later build replays them without a new trace. One
//! shape for both, so that nothing a probe carries (a POST's body, its headers) is lost on the
//! way through a profile.

use super::exec::ExecProbe;
use super::http::HttpProbe;
use super::plan::{ContinueAfter, ProbePlan};
use super::probe_container::ProbeContainer;
use super::proto::{ProtoProbe, TcpProbe};
use super::ready::PortReady;
use super::report::TraceReport;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    /// Each request the run answered, as sent (crawled pages as plain GETs), with its port.
    pub http_probes: Vec<HttpProbe>,
    /// Each command the run ran (`--exec`), as the argv it ran with.
    pub exec_probes: Vec<Vec<String>>,
    /// Each command the run ran on the host (`--host-exec`), as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_exec: Vec<String>,
    /// The exposed ports as the run found them, and what each speaks.
    #[serde(default)]
    pub ports: Vec<PortReady>,
    /// The protocol probes the run made (port and protocol; the login comes from the flags or
    /// the image's environment again, never from here).
    #[serde(default)]
    pub proto_probes: Vec<ProtoProbe>,
    #[serde(default)]
    pub tcp_probes: Vec<TcpProbe>,
    /// The user's test container (image by id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_container: Option<ProbeContainer>,
}

impl Replay {
    /// What the run that `report` describes did under `plan`.
    pub fn of(plan: &ProbePlan, report: &TraceReport) -> Replay {
        let http_probes = report
            .http
            .iter()
            .map(|r| {
                let asked = plan
                    .http_probes
                    .iter()
                    .find(|p| p.method == r.method && p.path == r.path && p.port.is_none_or(|q| q == r.port));
                let mut p = asked.or(r.sent.as_ref()).cloned().unwrap_or_else(|| HttpProbe::get(&r.path));
                p.method = r.method.clone();
                p.port = Some(r.port);
                p
            })
            .collect();
        Replay {
            http_probes,
            exec_probes: report.exec.iter().filter(|e| e.source == "exec").map(|e| e.command.clone()).collect(),
            host_exec: report
                .exec
                .iter()
                .filter(|e| e.source == super::host_exec::SOURCE)
                .filter_map(|e| e.command.first().cloned())
                .collect(),
            ports: report.ready.clone(),
            proto_probes: report
                .proto
                .iter()
                .filter_map(|r| Some(ProtoProbe { port: r.port, proto: r.proto.parse().ok()? }))
                .collect(),
            tcp_probes: plan.tcp_probes.clone(),
            probe_container: plan.test_container.clone(),
        }
    }

    /// Several runs' probes as one: each request and each protocol probe once, every command of
    /// every run, the first run's probe container.
    pub fn merge<'a>(all: impl IntoIterator<Item = &'a Replay>) -> Replay {
        let mut out = Replay::default();
        for r in all {
            for p in &r.http_probes {
                if !out.http_probes.contains(p) {
                    out.http_probes.push(p.clone());
                }
            }
            out.exec_probes.extend(r.exec_probes.iter().cloned());
            out.host_exec.extend(r.host_exec.iter().cloned());
            out.ports.extend(r.ports.iter().cloned());
            for p in &r.proto_probes {
                if !out.proto_probes.contains(p) {
                    out.proto_probes.push(*p);
                }
            }
            for t in &r.tcp_probes {
                if !out.tcp_probes.contains(t) {
                    out.tcp_probes.push(t.clone());
                }
            }
            if out.probe_container.is_none() {
                out.probe_container = r.probe_container.clone();
            }
        }
        out
    }

    /// The plan that runs these probes again exactly, on top of `base`'s settings (timeouts,
    /// login, healthcheck): what each port speaks is known, nothing is crawled, and a failure is
    /// a finding to compare, not an error (verify).
    pub fn plan(&self, base: &ProbePlan) -> ProbePlan {
        ProbePlan {
            http_probes: self.http_probes.clone(),
            exec: self.exec_probes.iter().map(|argv| ExecProbe::Argv(argv.clone())).collect(),
            host_exec: self.host_exec.clone(),
            port_kinds: self.ports.iter().map(|r| (r.port, r.kind)).collect(),
            proto_probes: self.proto_probes.clone(),
            tcp_probes: self.tcp_probes.clone(),
            test_container: base.test_container.clone().or_else(|| self.probe_container.clone()),
            crawl: false,
            // The spec's requests are among the probes already, as sent.
            api_spec_requests: Vec::new(),
            api_spec_paths: Vec::new(),
            api_discovery: false,
            lenient: true,
            // What the user did by hand is not replayed: the replay runs its probes and ends.
            continue_after: match base.continue_after {
                Some(ContinueAfter::Signal | ContinueAfter::Enter) => None,
                ref other => other.clone(),
            },
            ..base.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::http::ProbeResult;

    fn answered(method: &str, path: &str, port: u16, crawled: bool) -> ProbeResult {
        ProbeResult {
            method: method.into(),
            path: path.into(),
            port,
            status: Some(200),
            bytes: 2,
            error: None,
            ms: 1,
            crawled,
            body: b"ok".to_vec(),
            content_type: "text/plain".into(),
            sent: None,
        }
    }

    /// A POST with a body and headers goes through a profile (JSON) and comes back as it was
    /// sent; a crawled page comes back as a plain GET on its port.
    #[test]
    fn a_post_probe_keeps_its_body_and_headers_through_a_profile() {
        let post = HttpProbe::parse(
            r#"{"method": "post", "path": "/api/items", "body": "{\"n\": 1}", "headers": {"Content-Type": "application/json", "X-Token": "t"}}"#,
        )
        .unwrap();
        let plan = ProbePlan { http_probes: vec![post.clone()], ..Default::default() };
        let report = TraceReport {
            http: vec![answered("POST", "/api/items", 8080, false), answered("GET", "/about", 8080, true)],
            ..Default::default()
        };
        let replay = Replay::of(&plan, &report);
        let json = serde_json::to_string(&replay).unwrap();
        let back: Replay = serde_json::from_str(&json).unwrap();
        let replayed = back.plan(&ProbePlan::default()).http_probes;
        assert_eq!(replayed.len(), 2);
        assert_eq!(replayed[0], HttpProbe { port: Some(8080), ..post });
        assert_eq!(replayed[0].body.as_deref(), Some("{\"n\": 1}"));
        assert_eq!(replayed[0].headers.get("X-Token").map(String::as_str), Some("t"));
        assert_eq!(replayed[1], HttpProbe { port: Some(8080), ..HttpProbe::get("/about") });
    }

    #[test]
    fn merged_runs_replay_each_request_once_and_every_command() {
        let a = Replay {
            http_probes: vec![HttpProbe { port: Some(80), ..HttpProbe::get("/") }],
            exec_probes: vec![vec!["true".into()]],
            ..Default::default()
        };
        let merged = Replay::merge([&a, &a]);
        assert_eq!(merged.http_probes.len(), 1);
        assert_eq!(merged.exec_probes.len(), 2, "each run's command runs");
        let plan = merged.plan(&ProbePlan { crawl: true, api_discovery: true, ..Default::default() });
        assert!(plan.lenient && !plan.crawl && !plan.api_discovery);
    }
}
