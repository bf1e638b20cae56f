//! memcached's text protocol: `version`, then set/get/delete of a key of slimctl's own.

use super::line::Line;
use super::{Step, Stop};
use std::time::Duration;

const KEY: &str = "slimctl:probe";

pub fn converse(host_port: u16, timeout: Duration) -> Result<Vec<Step>, Stop> {
    let mut line = Line::connect(host_port, timeout).map_err(|e| Stop::NotReady(e.to_string()))?;
    let not_ready = |e: std::io::Error| Stop::NotReady(e.to_string());
    let version = line.ask("version\r\n", &["\r\n"]).map_err(not_ready)?;
    let mut steps = vec![step("version", version, |a| a.starts_with("VERSION "))];
    let exchanges: [(&str, String, &[&str], &str); 3] = [
        ("set", format!("set {KEY} 0 60 7\r\nslimctl\r\n"), &["\r\n"], "STORED"),
        ("get", format!("get {KEY}\r\n"), &["END\r\n", "ERROR\r\n"], "VALUE"),
        ("delete", format!("delete {KEY}\r\n"), &["\r\n"], "DELETED"),
    ];
    for (what, send, ends, good) in exchanges {
        let answer = line.ask(&send, ends).map_err(not_ready)?;
        steps.push(step(&format!("{what} {KEY}"), answer, |a| a.starts_with(good)));
    }
    Ok(steps)
}

fn step(ask: &str, answer: String, good: impl Fn(&str) -> bool) -> Step {
    let answer = answer.trim_end().replace("\r\n", " / ");
    if good(&answer) {
        Step::ok(ask, answer)
    } else {
        Step::failed(ask, answer)
    }
}
