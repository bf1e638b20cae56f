//! What a protocol probe costs over a plain TCP connect, against real services: run through
//! `bench/protocol_probes.py`, which starts the Redis and PostgreSQL examples and passes their
//! published ports as SLIMCTL_BENCH_<PROTO>_PORT (and the login as the images' environment).
//! Prints a table: median of 3 runs of each.
use slimctl::run::proto::{probe, Credentials, Proto};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn main() {
    let timeout = Duration::from_secs(5);
    println!("| protocol | TCP connect ms | protocol probe ms | probe − connect ms |");
    println!("|---|---:|---:|---:|");
    for proto in [Proto::Redis, Proto::Postgres, Proto::Mysql, Proto::Memcached] {
        let var = format!("SLIMCTL_BENCH_{}_PORT", proto.name().to_ascii_uppercase());
        let Some(port) = std::env::var(&var).ok().and_then(|p| p.parse::<u16>().ok()) else { continue };
        let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
        let creds = Credentials::resolve(proto, &Credentials::default(), &env);
        let connect = median(
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), timeout)
                        .expect("connect");
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        );
        let probed = median(
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    let r = probe(proto, port, port, &creds, timeout, Instant::now() + timeout);
                    assert!(r.ok(), "{proto} probe failed: {r:?}");
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        );
        println!("| {proto} | {connect:.2} | {probed:.2} | {:.2} |", probed - connect);
    }
}
