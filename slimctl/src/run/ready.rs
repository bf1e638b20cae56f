//! Readiness: a service is probed only once it listens on every exposed port, and each port is
//! probed in the protocol it speaks. Listening is read from the kernel's socket table of the
//! container's network namespace ([`super::listening`]): a connection through the engine's
//! port proxy is accepted even while nothing listens behind it, so connecting proves nothing.

use super::proto::Proto;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// What a port speaks, as far as the probes are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortKind {
    Http,
    Redis,
    Postgres,
    Mysql,
    Memcached,
    /// Listening, in a protocol slimctl does not speak: readiness (and --tcp-probe) only.
    Other,
}

impl PortKind {
    pub fn proto(self) -> Option<Proto> {
        match self {
            PortKind::Redis => Some(Proto::Redis),
            PortKind::Postgres => Some(Proto::Postgres),
            PortKind::Mysql => Some(Proto::Mysql),
            PortKind::Memcached => Some(Proto::Memcached),
            PortKind::Http | PortKind::Other => None,
        }
    }
}

impl From<Proto> for PortKind {
    fn from(p: Proto) -> PortKind {
        match p {
            Proto::Redis => PortKind::Redis,
            Proto::Postgres => PortKind::Postgres,
            Proto::Mysql => PortKind::Mysql,
            Proto::Memcached => PortKind::Memcached,
        }
    }
}

/// A port once ready: what it speaks and how long it took to listen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortReady {
    pub port: u16,
    pub kind: PortKind,
    /// From the container's start until the port listened.
    pub ms: u64,
}

/// The TCP ports in LISTEN state in the network namespace of process `pid` (IPv4 and IPv6).
pub fn listening_ports(pid: u32) -> std::io::Result<BTreeSet<u16>> {
    let mut ports = BTreeSet::new();
    let mut read_any = false;
    for table in ["tcp", "tcp6"] {
        match std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) {
            Ok(text) => {
                read_any = true;
                ports.extend(parse_listening(&text));
            }
            // A kernel without IPv6 has no tcp6 table.
            Err(e) if table == "tcp6" && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if !read_any {
        return Err(std::io::Error::other("no TCP socket table"));
    }
    Ok(ports)
}

/// Ports of the sockets in LISTEN state (`st` 0A) of a /proc/net/tcp table.
fn parse_listening(table: &str) -> impl Iterator<Item = u16> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1)?;
        let state = fields.nth(1)?;
        let port = local.rsplit(':').next()?;
        (state == "0A").then(|| u16::from_str_radix(port, 16).ok()).flatten()
    })
}

/// Whether a listening port speaks HTTP: a GET / must be answered with an HTTP status line. A
/// peer that closes, answers other bytes, or stays silent for `silence` does not.
pub enum Sniffed {
    Http,
    NotHttp(String),
}

pub fn sniff_http(host_port: u16, silence: Duration) -> Sniffed {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, host_port));
    let attempt = || -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect_timeout(&addr, silence)?;
        s.set_read_timeout(Some(silence))?;
        s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: slimctl\r\n\r\n")?;
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < 5 {
            match s.read(&mut buf)? {
                0 => break,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        // Read the answer to its end before closing: closing with unread bytes sends a reset,
        // which an app reached without a proxy in between (podman, Docker without its
        // userland proxy) sees as an error while it writes -- Python's http.server prints a
        // traceback then, and the trace would hold modules only this probe made it load.
        if got.starts_with(b"HTTP/") {
            drain(&mut s);
        }
        Ok(got)
    };
    match attempt() {
        Ok(got) if got.starts_with(b"HTTP/") => Sniffed::Http,
        Ok(got) if got.is_empty() => Sniffed::NotHttp("it closed the connection on GET /".into()),
        Ok(got) => Sniffed::NotHttp(format!(
            "it answered GET / with {:?}, not an HTTP status line",
            String::from_utf8_lossy(&got[..got.len().min(24)])
        )),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            Sniffed::NotHttp(format!("it sent nothing back to GET / within {} s", silence.as_secs()))
        }
        Err(e) => Sniffed::NotHttp(format!("GET / failed: {e}")),
    }
}

/// Reads what the peer still sends until it closes, for a bounded time and size.
fn drain(s: &mut TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8192];
    let mut left: usize = 4 << 20;
    while left > 0 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn listening_sockets_are_read_from_the_kernels_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:A2C4 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
";
        assert_eq!(parse_listening(table).collect::<Vec<_>>(), [6379], "port 8080 is a connection, not a listener");
        // This very process: a socket it listens on is in its own table.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(listening_ports(std::process::id()).unwrap().contains(&port));
    }

    #[test]
    fn the_http_sniff_reads_the_answer_to_its_end_and_resets_nothing() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        // An app that sends its status line, then its body in pieces, as http.server does.
        let app = std::thread::spawn(move || -> std::io::Result<()> {
            let (mut c, _) = l.accept()?;
            let mut buf = [0u8; 256];
            let _ = c.read(&mut buf)?;
            c.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")?;
            for _ in 0..16 {
                std::thread::sleep(Duration::from_millis(10));
                c.write_all(&[b'x'; 4096])?;
            }
            Ok(())
        });
        assert!(matches!(sniff_http(port, Duration::from_secs(5)), Sniffed::Http));
        app.join().unwrap().expect("the app's writes all went through: no reset from the sniff");
    }

    #[test]
    fn http_is_told_from_other_protocols() {
        let serve = |answer: &'static [u8]| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            std::thread::spawn(move || {
                let (mut c, _) = l.accept().unwrap();
                let mut buf = [0u8; 256];
                let _ = c.read(&mut buf);
                if !answer.is_empty() {
                    let _ = c.write_all(answer);
                }
            });
            port
        };
        let silence = Duration::from_secs(2);
        assert!(matches!(sniff_http(serve(b"HTTP/1.0 200 OK\r\n\r\n"), silence), Sniffed::Http));
        let Sniffed::NotHttp(why) = sniff_http(serve(b"-ERR wrong\r\n"), silence) else { panic!("RESP is no HTTP") };
        assert!(why.contains("-ERR"), "{why}");
        let Sniffed::NotHttp(why) = sniff_http(serve(b""), silence) else { panic!("a close is no HTTP") };
        assert!(why.contains("closed"), "{why}");
    }
}
