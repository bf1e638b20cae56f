//! Line protocols over a plain TCP socket: the conversation helper memcached's probe uses, and
//! `--tcp-probe 'PORT:SEND:EXPECT'` for any other protocol (send bytes, expect a substring of
//! the answer).

use super::{ProtoResult, Step, Stop};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How much of an answer is read and kept.
const ANSWER_LIMIT: usize = 64 << 10;

pub struct Line {
    stream: TcpStream,
}

impl Line {
    pub fn connect(host_port: u16, timeout: Duration) -> std::io::Result<Line> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, host_port));
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Line { stream })
    }

    /// Sends `send` (if any) and reads until the answer ends with one of `ends`, the peer
    /// closes, or the read times out.
    pub fn ask(&mut self, send: &str, ends: &[&str]) -> std::io::Result<String> {
        self.exchange(send.as_bytes(), |got| ends.iter().any(|e| got.ends_with(e.as_bytes())))
    }

    fn exchange(&mut self, send: &[u8], done: impl Fn(&[u8]) -> bool) -> std::io::Result<String> {
        if !send.is_empty() {
            self.stream.write_all(send)?;
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < ANSWER_LIMIT && !done(&got) {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if !got.is_empty()
                        && matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    break
                }
                Err(e) => return Err(e),
            }
        }
        if got.is_empty() {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the peer closed without answering"));
        }
        Ok(String::from_utf8_lossy(&got).into_owned())
    }
}

/// `--tcp-probe 'PORT:SEND:EXPECT'`: SEND and EXPECT take `\r`, `\n`, `\t`, `\\`, `\:` and
/// `\xHH` escapes; an empty SEND waits for the server's greeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpProbe {
    pub port: u16,
    pub send: String,
    pub expect: String,
}

impl std::str::FromStr for TcpProbe {
    type Err = String;
    fn from_str(s: &str) -> Result<TcpProbe, String> {
        let bad =
            |why: &str| format!("--tcp-probe {s:?}: {why}; use 'PORT:SEND:EXPECT' (e.g. '6379:PING\\r\\n:+PONG')");
        let (port, rest) = s.split_once(':').ok_or_else(|| bad("no port"))?;
        let port = port.parse().map_err(|_| bad("the port is not a number"))?;
        let fields = split_unescaped(rest);
        let [send, expect] = &fields[..] else { return Err(bad("need SEND and EXPECT, separated by ':'")) };
        let send = unescape(send).map_err(|e| bad(&e))?;
        let expect = unescape(expect).map_err(|e| bad(&e))?;
        if expect.is_empty() {
            return Err(bad("EXPECT is empty: say what a working server answers"));
        }
        Ok(TcpProbe { port, send, expect })
    }
}

/// Splits on `:` not preceded by a backslash, keeping escapes for [`unescape`].
fn split_unescaped(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let last = out.last_mut().expect("one field at least");
                last.push('\\');
                if let Some(n) = chars.next() {
                    last.push(n);
                }
            }
            ':' => out.push(String::new()),
            c => out.last_mut().expect("one field at least").push(c),
        }
    }
    out
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(':') => out.push(':'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                let b = u8::from_str_radix(&hex, 16).map_err(|_| format!("bad escape \\x{hex}"))?;
                out.push(char::from(b));
            }
            other => return Err(format!("unknown escape \\{}", other.map(String::from).unwrap_or_default())),
        }
    }
    Ok(out)
}

/// Shows bytes as a user reads them: control characters escaped, long answers cut.
pub fn printable(s: &str) -> String {
    let mut out: String = s.escape_debug().collect();
    if out.chars().count() > 200 {
        out = out.chars().take(200).collect::<String>() + "…";
    }
    out
}

impl TcpProbe {
    /// Runs the probe (blocking), retrying until the answer holds EXPECT or `deadline` passes.
    pub fn run(&self, host_port: u16, timeout: Duration, deadline: Instant) -> ProtoResult {
        let started = Instant::now();
        let ask = if self.send.is_empty() { "(greeting)".to_owned() } else { printable(&self.send) };
        let expect = self.expect.clone();
        let attempt = || -> Result<String, Stop> {
            let mut line = Line::connect(host_port, timeout).map_err(|e| Stop::NotReady(e.to_string()))?;
            line.exchange(self.send.as_bytes(), |got| String::from_utf8_lossy(got).contains(&expect))
                .map_err(|e| Stop::NotReady(e.to_string()))
        };
        let (steps, error) = loop {
            match attempt() {
                Ok(answer) if answer.contains(&self.expect) => break (vec![Step::ok(&ask, printable(&answer))], None),
                Ok(answer) if Instant::now() >= deadline => break (vec![Step::failed(&ask, printable(&answer))], None),
                Err(Stop::NotReady(why) | Stop::Refused(why)) if Instant::now() >= deadline => {
                    break (Vec::new(), Some(why))
                }
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        };
        ProtoResult {
            proto: "tcp".into(),
            port: self.port,
            steps,
            error,
            guessed_login_refused: false,
            ms: started.elapsed().as_millis() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn tcp_probe_specs_parse_with_escapes() {
        let p: TcpProbe = "6379:PING\\r\\n:+PONG".parse().unwrap();
        assert_eq!(p, TcpProbe { port: 6379, send: "PING\r\n".into(), expect: "+PONG".into() });
        let p: TcpProbe = "25::220".parse().unwrap();
        assert_eq!((p.send.as_str(), p.expect.as_str()), ("", "220"));
        let p: TcpProbe = "9:a\\:b:c\\x41".parse().unwrap();
        assert_eq!((p.send.as_str(), p.expect.as_str()), ("a:b", "cA"));
        assert!("x:a:b".parse::<TcpProbe>().unwrap_err().contains("not a number"));
        assert!("9:a".parse::<TcpProbe>().unwrap_err().contains("SEND and EXPECT"));
        assert!("9:a:".parse::<TcpProbe>().unwrap_err().contains("EXPECT is empty"));
        assert!("9:a\\q:b".parse::<TcpProbe>().unwrap_err().contains("unknown escape"));
    }

    #[test]
    fn a_tcp_probe_talks_to_a_real_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming().take(2) {
                let mut conn = conn.unwrap();
                let mut buf = [0u8; 64];
                let n = conn.read(&mut buf).unwrap();
                let answer = if &buf[..n] == b"PING\r\n" { "+PONG\r\n" } else { "-ERR\r\n" };
                conn.write_all(answer.as_bytes()).unwrap();
            }
        });
        let timeout = Duration::from_secs(2);
        let ok: TcpProbe = format!("{port}:PING\\r\\n:+PONG").parse().unwrap();
        let r = ok.run(port, timeout, Instant::now() + timeout);
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.steps[0].answer, "+PONG\\r\\n");
        let bad: TcpProbe = format!("{port}:HELLO\\r\\n:+PONG").parse().unwrap();
        let r = bad.run(port, timeout, Instant::now());
        assert!(!r.ok() && r.steps[0].answer.starts_with("-ERR"), "{r:?}");
    }
}
