//! Redis (RESP, through the `redis` crate): PING, SET/GET/DEL of slimctl's own key, and the
//! server section of INFO (which reads the system's facts the way a monitoring tool makes it).

use super::{Credentials, Step, Stop};
use redis::{ConnectionAddr, ErrorKind, IntoConnectionInfo, RedisConnectionInfo, RedisError};
use std::time::Duration;

/// slimctl's own key, removed again by the probe.
const KEY: &str = "slimctl:probe";

fn stop(e: RedisError) -> Stop {
    let auth =
        e.kind() == ErrorKind::AuthenticationFailed || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"));
    if auth {
        Stop::Refused(e.to_string())
    } else {
        // Refused or reset connections, LOADING (the dataset is still being read): not ready yet.
        Stop::NotReady(e.to_string())
    }
}

pub fn converse(host_port: u16, creds: &Credentials, timeout: Duration) -> Result<Vec<Step>, Stop> {
    let mut settings = RedisConnectionInfo::default().set_skip_set_lib_name();
    if let Some(u) = &creds.user {
        settings = settings.set_username(u);
    }
    if let Some(p) = &creds.password {
        settings = settings.set_password(p);
    }
    let info = ConnectionAddr::Tcp("127.0.0.1".into(), host_port)
        .into_connection_info()
        .map_err(stop)?
        .set_redis_settings(settings);
    let client = redis::Client::open(info).map_err(stop)?;
    let mut con = client.get_connection_with_timeout(timeout).map_err(stop)?;
    con.set_read_timeout(Some(timeout)).map_err(stop)?;
    con.set_write_timeout(Some(timeout)).map_err(stop)?;
    // The first command shows whether the server is ready (LOADING) or wants a password (NOAUTH).
    let pong: String = redis::cmd("PING").query(&mut con).map_err(stop)?;
    let mut steps = vec![Step::ok("PING", pong)];
    let mut run = |ask: &str, cmd: &mut redis::Cmd| {
        steps.push(match cmd.query::<redis::Value>(&mut con) {
            Ok(v) => Step::ok(ask, text(&v)),
            Err(e) => Step::failed(ask, e.to_string()),
        })
    };
    run(&format!("SET {KEY}"), redis::cmd("SET").arg(KEY).arg("slimctl"));
    run(&format!("GET {KEY}"), redis::cmd("GET").arg(KEY));
    run(&format!("DEL {KEY}"), redis::cmd("DEL").arg(KEY));
    let info: Result<String, _> = redis::cmd("INFO").arg("server").query(&mut con);
    steps.push(match info {
        Ok(text) => Step::ok("INFO server", server_facts(&text)),
        Err(e) => Step::failed("INFO server", e.to_string()),
    });
    Ok(steps)
}

fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::Nil => "(nil)".into(),
        redis::Value::Int(n) => n.to_string(),
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Okay => "OK".into(),
        other => format!("{other:?}"),
    }
}

/// The facts of INFO's server section that do not change from run to run (uptime, pids and
/// ports do): what verify compares.
fn server_facts(info: &str) -> String {
    let wanted = ["redis_version", "redis_mode", "arch_bits", "multiplexing_api"];
    let mut facts: Vec<&str> =
        info.lines().map(str::trim).filter(|l| wanted.iter().any(|w| l.split(':').next() == Some(w))).collect();
    facts.sort();
    facts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_keeps_the_facts_that_do_not_vary() {
        let info = "# Server\r\nredis_version:7.0.15\r\nprocess_id:1\r\nredis_mode:standalone\r\nuptime_in_seconds:3\r\narch_bits:64\r\n";
        assert_eq!(server_facts(info), "arch_bits:64 redis_mode:standalone redis_version:7.0.15");
    }
}
