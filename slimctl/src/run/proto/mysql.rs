//! MySQL and MariaDB (through the `mysql` crate: handshake, native and caching_sha2
//! authentication): a trivial query, then catalog queries.

use super::{Credentials, Step, Stop};
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder, Row};
use std::time::Duration;

const QUERIES: &[&str] = &[
    "SELECT 1",
    "SELECT VERSION()",
    "SELECT @@character_set_server",
    "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1",
];

/// Access denied (for the user, for the database), unknown database: the server's final word.
const REFUSALS: &[u16] = &[1044, 1045, 1049, 1698];

fn stop(e: mysql::Error) -> Stop {
    match &e {
        mysql::Error::MySqlError(m) if REFUSALS.contains(&m.code) => Stop::Refused(m.to_string()),
        _ => Stop::NotReady(e.to_string()),
    }
}

pub fn converse(host_port: u16, creds: &Credentials, timeout: Duration) -> Result<Vec<Step>, Stop> {
    let opts = OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(host_port)
        .prefer_socket(false)
        .user(creds.user.clone())
        .pass(creds.password.clone())
        .db_name(creds.database.clone())
        .tcp_connect_timeout(Some(timeout))
        .read_timeout(Some(timeout));
    let mut conn = Conn::new(opts).map_err(stop)?;
    let login = format!("login as {}", creds.user.as_deref().unwrap_or("(default user)"));
    let mut steps = vec![Step::ok(login, "authenticated")];
    for q in QUERIES {
        steps.push(match conn.query::<Row, _>(*q) {
            Ok(rows) => Step::ok(*q, text(&rows)),
            Err(e) => Step::failed(*q, e.to_string()),
        });
    }
    Ok(steps)
}

/// Rows as text: cells joined with `|`, rows with `; `.
fn text(rows: &[Row]) -> String {
    let row = |r: &Row| {
        (0..r.len())
            .map(|i| r.get::<Option<String>, _>(i).flatten().unwrap_or_else(|| "NULL".into()))
            .collect::<Vec<_>>()
    };
    rows.iter().map(|r| row(r).join("|")).collect::<Vec<_>>().join("; ")
}
