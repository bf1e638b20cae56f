//! PostgreSQL (through the `postgres` crate: startup message; trust, cleartext, md5 and SCRAM
//! authentication): a trivial query, then catalog queries, which read the cluster's files the
//! way an application's first queries do.

use super::{Credentials, Step, Stop};
use postgres::error::SqlState;
use postgres::{Client, NoTls, SimpleQueryMessage};
use std::time::Duration;

const QUERIES: &[&str] = &[
    "SELECT 1",
    "SELECT version()",
    "SHOW server_encoding",
    "SELECT datname FROM pg_catalog.pg_database ORDER BY 1",
    "SELECT count(*) FROM pg_catalog.pg_class",
];

fn stop(e: postgres::Error) -> Stop {
    let refused = [
        SqlState::INVALID_PASSWORD,
        SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        SqlState::INVALID_CATALOG_NAME,
        SqlState::INSUFFICIENT_PRIVILEGE,
    ];
    match (e.as_db_error(), e.code()) {
        (Some(db), Some(code)) if refused.contains(code) => {
            Stop::Refused(format!("{}: {}", db.severity(), db.message()))
        }
        // The client's own "invalid configuration" carries the reason in its source.
        (_, _) if crate::error::chain(&e).iter().any(|m| m.contains("password missing")) => {
            Stop::Refused("the server asks for a password; give it with --probe-password".into())
        }
        // "the database system is starting up", refused or reset connections: try again.
        _ => Stop::NotReady(e.to_string()),
    }
}

pub fn converse(host_port: u16, creds: &Credentials, timeout: Duration) -> Result<Vec<Step>, Stop> {
    let mut cfg = postgres::Config::new();
    cfg.host("127.0.0.1").port(host_port).connect_timeout(timeout).application_name("slimctl");
    if let Some(u) = &creds.user {
        cfg.user(u);
    }
    if let Some(p) = &creds.password {
        cfg.password(p);
    }
    if let Some(d) = &creds.database {
        cfg.dbname(d);
    }
    let mut client = cfg.connect(NoTls).map_err(stop)?;
    let login = format!("login as {}", creds.user.as_deref().unwrap_or("(default user)"));
    let mut steps = vec![Step::ok(login, "authenticated")];
    for q in QUERIES {
        steps.push(match rows(&mut client, q) {
            Ok(text) => Step::ok(*q, text),
            Err(e) => Step::failed(*q, e.as_db_error().map(|d| d.message().to_owned()).unwrap_or(e.to_string())),
        });
    }
    Ok(steps)
}

/// The rows of a query as text: cells joined with `|`, rows with `; `.
fn rows(client: &mut Client, sql: &str) -> Result<String, postgres::Error> {
    let rows: Vec<String> = client
        .simple_query(sql)?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).unwrap_or("NULL")).collect::<Vec<_>>().join("|"))
            }
            _ => None,
        })
        .collect();
    Ok(rows.join("; "))
}
