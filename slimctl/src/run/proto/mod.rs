//! Protocol probes: talking to a service in its own protocol, from the host, with no client in
//! the image (so probing keeps nothing extra in the slim image). Each protocol is a short
//! conversation of steps (connect and authenticate, a few commands); every step's answer is
//! recorded and compared by verify.
//!
//! Wire formats come from well-kept crates where one exists without dragging in much: `redis`
//! (RESP), `postgres` (startup, trust/cleartext/md5/SCRAM auth, simple queries), `mysql`
//! (handshake, native and caching_sha2 auth). memcached's text protocol and the generic line
//! probe are a few lines over a TCP socket.

mod line;
mod memcached;
mod mysql;
mod postgres;
mod redis;

pub use line::TcpProbe;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// A protocol slimctl speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Redis,
    Postgres,
    Mysql,
    Memcached,
}

pub const KNOWN: &[(Proto, &str, u16)] = &[
    (Proto::Redis, "redis", 6379),
    (Proto::Postgres, "postgres", 5432),
    (Proto::Mysql, "mysql", 3306),
    (Proto::Memcached, "memcached", 11211),
];

impl Proto {
    pub fn name(self) -> &'static str {
        KNOWN.iter().find(|(p, _, _)| *p == self).map(|(_, n, _)| *n).expect("every protocol is listed")
    }

    /// The protocol a port number is known for.
    pub fn well_known(port: u16) -> Option<Proto> {
        KNOWN.iter().find(|(_, _, p)| *p == port).map(|(proto, _, _)| *proto)
    }

    /// What the probe does, for messages.
    pub fn steps(self) -> &'static str {
        match self {
            Proto::Redis => "PING, SET/GET/DEL of a key of slimctl's own, INFO",
            Proto::Postgres => "startup and authentication, SELECT 1, catalog queries",
            Proto::Mysql => "handshake and authentication, SELECT 1, catalog queries",
            Proto::Memcached => "version, set/get/delete of a key of slimctl's own",
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Proto {
    type Err = String;
    fn from_str(s: &str) -> Result<Proto, String> {
        let s = s.to_ascii_lowercase();
        let alias = match s.as_str() {
            "postgresql" | "pg" => "postgres",
            "mariadb" => "mysql",
            other => other,
        };
        KNOWN.iter().find(|(_, n, _)| *n == alias).map(|(p, _, _)| *p).ok_or_else(|| {
            let names: Vec<&str> = KNOWN.iter().map(|(_, n, _)| *n).collect();
            format!("unknown protocol {s:?}; known: {} (or --tcp-probe for a line protocol)", names.join(", "))
        })
    }
}

/// `--probe-proto PORT:NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtoProbe {
    pub port: u16,
    pub proto: Proto,
}

impl std::str::FromStr for ProtoProbe {
    type Err = String;
    fn from_str(s: &str) -> Result<ProtoProbe, String> {
        let (port, name) = s.split_once(':').ok_or_else(|| format!("--probe-proto {s:?}: use PORT:NAME"))?;
        let port = port.parse().map_err(|_| format!("--probe-proto {s:?}: {port:?} is not a port number"))?;
        let proto = name.parse().map_err(|e| format!("--probe-proto {s:?}: {e}"))?;
        Ok(ProtoProbe { port, proto })
    }
}

/// Who a protocol probe logs in as: the user's flags, else the variables the image's own
/// entrypoint reads (the official images' POSTGRES_*, MYSQL_*/MARIADB_*, REDIS_PASSWORD).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
    /// Nobody named this login: no flag, nothing in the image's environment; slimctl tried the
    /// server's default. A refusal of it is the server's answer, not the user's mistake.
    pub guessed: bool,
}

impl Credentials {
    /// The login for `proto`: `given` (flags) first, then the container's environment `env`
    /// (`KEY=VALUE`, later entries win).
    pub fn resolve(proto: Proto, given: &Credentials, env: &[String]) -> Credentials {
        let var = |k: &str| {
            env.iter().rev().find_map(|kv| kv.strip_prefix(k).and_then(|r| r.strip_prefix('=')).map(str::to_owned))
        };
        let first = |keys: &[&str]| keys.iter().find_map(|k| var(k).filter(|v| !v.is_empty()));
        let flags = given.user.is_some() || given.password.is_some() || given.database.is_some();
        let named_in_env = match proto {
            Proto::Postgres => first(&["POSTGRES_USER", "POSTGRES_PASSWORD"]).is_some(),
            Proto::Mysql => first(&[
                "MYSQL_USER",
                "MARIADB_USER",
                "MYSQL_PASSWORD",
                "MARIADB_PASSWORD",
                "MYSQL_ROOT_PASSWORD",
                "MARIADB_ROOT_PASSWORD",
            ])
            .is_some(),
            Proto::Redis => first(&["REDIS_PASSWORD"]).is_some(),
            Proto::Memcached => true,
        };
        let (user, password, database) = match proto {
            Proto::Postgres => {
                let user =
                    given.user.clone().or_else(|| first(&["POSTGRES_USER"])).unwrap_or_else(|| "postgres".into());
                let db = given.database.clone().or_else(|| first(&["POSTGRES_DB"])).unwrap_or_else(|| user.clone());
                (Some(user), given.password.clone().or_else(|| first(&["POSTGRES_PASSWORD"])), Some(db))
            }
            Proto::Mysql => {
                let app_user = first(&["MYSQL_USER", "MARIADB_USER"]);
                let (user, password) = match (&given.user, app_user) {
                    (Some(u), _) => (u.clone(), given.password.clone()),
                    (None, Some(u)) => {
                        (u, given.password.clone().or_else(|| first(&["MYSQL_PASSWORD", "MARIADB_PASSWORD"])))
                    }
                    (None, None) => (
                        "root".into(),
                        given.password.clone().or_else(|| first(&["MYSQL_ROOT_PASSWORD", "MARIADB_ROOT_PASSWORD"])),
                    ),
                };
                let db = given.database.clone().or_else(|| first(&["MYSQL_DATABASE", "MARIADB_DATABASE"]));
                (Some(user), password, db)
            }
            Proto::Redis => (given.user.clone(), given.password.clone().or_else(|| first(&["REDIS_PASSWORD"])), None),
            Proto::Memcached => (None, None, None),
        };
        Credentials { user, password, database, guessed: !flags && !named_in_env }
    }
}

/// One exchange of a conversation: what was asked and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub ask: String,
    pub answer: String,
    /// The server answered as a working server does (an error reply is not ok).
    pub ok: bool,
}

impl Step {
    fn ok(ask: impl Into<String>, answer: impl Into<String>) -> Step {
        Step { ask: ask.into(), answer: answer.into(), ok: true }
    }
    fn failed(ask: impl Into<String>, answer: impl Into<String>) -> Step {
        Step { ask: ask.into(), answer: answer.into(), ok: false }
    }
}

/// What one protocol probe got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtoResult {
    /// The protocol's name, or "tcp" for a line probe.
    pub proto: String,
    pub port: u16,
    pub steps: Vec<Step>,
    /// Why the conversation could not take place (refused, authentication failed, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The server refused a login slimctl guessed: the refusal is the one step, an answer to
    /// compare (the handshake and authentication ran), not a failure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guessed_login_refused: bool,
    pub ms: u64,
}

impl ProtoResult {
    /// The service answered every step as a working server does.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.steps.iter().all(|s| s.ok)
    }
}

/// Why a conversation stopped short.
#[derive(Debug)]
pub enum Stop {
    /// Not ready yet (refused, reset, "starting up"): worth another try.
    NotReady(String),
    /// The server refused us for good (wrong password, unknown user): its own words.
    Refused(String),
}

/// Talks `proto` to 127.0.0.1:`host_port` (blocking), retrying while the service is not ready
/// until `deadline`. `timeout` bounds each attempt's connect and reads.
pub fn probe(
    proto: Proto,
    port: u16,
    host_port: u16,
    creds: &Credentials,
    timeout: Duration,
    deadline: Instant,
) -> ProtoResult {
    let started = Instant::now();
    let finish = |steps: Vec<Step>, error: Option<String>| ProtoResult {
        proto: proto.name().to_owned(),
        port,
        steps,
        error,
        guessed_login_refused: false,
        ms: started.elapsed().as_millis() as u64,
    };
    loop {
        let attempt = match proto {
            Proto::Redis => redis::converse(host_port, creds, timeout),
            Proto::Postgres => postgres::converse(host_port, creds, timeout),
            Proto::Mysql => mysql::converse(host_port, creds, timeout),
            Proto::Memcached => memcached::converse(host_port, timeout),
        };
        match attempt {
            Ok(steps) => return finish(steps, None),
            Err(Stop::Refused(why)) if creds.guessed => {
                let who = creds.user.as_deref().unwrap_or("the default user");
                let step = Step::ok(format!("login as {who} (guessed)"), format!("refused: {why}"));
                return ProtoResult { guessed_login_refused: true, ..finish(vec![step], None) };
            }
            Err(Stop::Refused(why)) => return finish(Vec::new(), Some(why)),
            Err(Stop::NotReady(why)) if Instant::now() >= deadline => {
                return finish(Vec::new(), Some(format!("not ready: {why}")))
            }
            Err(Stop::NotReady(_)) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_by_name_and_port() {
        assert_eq!("PostgreSQL".parse::<Proto>().unwrap(), Proto::Postgres);
        assert_eq!("mariadb".parse::<Proto>().unwrap(), Proto::Mysql);
        let err = "nosuch".parse::<Proto>().unwrap_err();
        assert!(err.contains("redis, postgres, mysql, memcached"), "{err}");
        assert_eq!(Proto::well_known(6379), Some(Proto::Redis));
        assert_eq!(Proto::well_known(8080), None);
        let p: ProtoProbe = "15432:postgres".parse().unwrap();
        assert_eq!(p, ProtoProbe { port: 15432, proto: Proto::Postgres });
        assert!("5432:nosuch".parse::<ProtoProbe>().unwrap_err().contains("known: redis"));
        assert!("x:redis".parse::<ProtoProbe>().unwrap_err().contains("not a port"));
    }

    #[test]
    fn credentials_come_from_flags_then_the_images_environment() {
        let env: Vec<String> =
            ["POSTGRES_PASSWORD=a", "POSTGRES_USER=app", "POSTGRES_PASSWORD=b"].iter().map(|s| s.to_string()).collect();
        let none = Credentials::default();
        let pg = Credentials::resolve(Proto::Postgres, &none, &env);
        assert_eq!(
            pg,
            Credentials {
                user: Some("app".into()),
                password: Some("b".into()),
                database: Some("app".into()),
                guessed: false
            }
        );
        let flags = Credentials { password: Some("flag".into()), ..Default::default() };
        assert_eq!(Credentials::resolve(Proto::Postgres, &flags, &env).password.as_deref(), Some("flag"));
        let my = Credentials::resolve(Proto::Mysql, &none, &["MARIADB_ROOT_PASSWORD=r".to_string()]);
        assert_eq!((my.user.as_deref(), my.password.as_deref()), (Some("root"), Some("r")));
        let pg = Credentials::resolve(Proto::Postgres, &none, &[]);
        assert_eq!(
            (pg.user.as_deref(), pg.password, pg.database.as_deref(), pg.guessed),
            (Some("postgres"), None, Some("postgres"), true)
        );
        assert!(!Credentials::resolve(Proto::Postgres, &flags, &[]).guessed, "a flag names the login");
        let only_password = ["POSTGRES_PASSWORD=p".to_string()];
        assert!(!Credentials::resolve(Proto::Postgres, &none, &only_password).guessed, "so does the image");
        assert!(Credentials::resolve(Proto::Mysql, &none, &["MYSQL_DATABASE=d".to_string()]).guessed);
    }
}
