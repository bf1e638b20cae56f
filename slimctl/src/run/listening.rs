//! Which TCP ports a container listens on, asked many times a second while it starts.
//!
//! The kernel's sock_diag netlink interface answers from the listening hash alone when asked
//! for LISTEN sockets only; `/proc/PID/net/tcp` walks the whole established hash on every
//! read (262144 buckets on this machine kind: 10 ms of CPU per poll, taken from the image
//! being read beside the run). A netlink socket belongs to the network namespace it was
//! created in, so one is made once per run, on a short-lived thread that enters the
//! container's namespace; `/proc` remains the fallback.
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};
use std::collections::BTreeSet;

/// Asks one container's network namespace for its listening TCP ports.
pub struct Listening {
    source: Source,
}

enum Source {
    Diag(Socket),
    Proc(u32),
}

impl Listening {
    /// For the network namespace of process `pid` (the container's init).
    pub fn of(pid: u32) -> Listening {
        match diag_socket_in(pid) {
            Ok(socket) => Listening { source: Source::Diag(socket) },
            Err(_) => Listening { source: Source::Proc(pid) },
        }
    }

    /// The TCP ports in LISTEN state (IPv4 and IPv6).
    pub fn ports(&self) -> std::io::Result<BTreeSet<u16>> {
        match &self.source {
            Source::Diag(socket) => {
                let mut ports = dump(socket, AF_INET)?;
                ports.extend(dump(socket, AF_INET6)?);
                Ok(ports)
            }
            Source::Proc(pid) => super::ready::listening_ports(*pid),
        }
    }
}

/// A sock_diag socket created inside the network namespace of `pid`.
fn diag_socket_in(pid: u32) -> std::io::Result<Socket> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    // setns changes only the calling thread's namespace: a thread of its own makes the socket
    // and ends, so no thread of the runtime ever leaves the host's network.
    std::thread::spawn(move || -> std::io::Result<Socket> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
        let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(socket)
    })
    .join()
    .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
}

/// One dump of the LISTEN sockets of one address family.
fn dump(socket: &Socket, family: u8) -> std::io::Result<BTreeSet<u16>> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
    let request = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::LISTEN,
        socket_id,
    });
    let mut packet = NetlinkMessage::new(header, request.into());
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf[..]);
    socket.send(&buf, 0)?;

    let mut ports = BTreeSet::new();
    let mut rx = vec![0u8; 32 << 10];
    loop {
        let size = socket.recv(&mut &mut rx[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let msg = <NetlinkMessage<SockDiagMessage>>::deserialize(&rx[offset..size])
                .map_err(|e| std::io::Error::other(format!("sock_diag answer: {e}")))?;
            match msg.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    ports.insert(r.header.socket_id.source_port);
                }
                NetlinkPayload::Done(_) => return Ok(ports),
                NetlinkPayload::Error(e) => return Err(std::io::Error::other(format!("sock_diag: {e}"))),
                _ => {}
            }
            let len = msg.header.length as usize;
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's own namespace, through the same path: a port this test listens on is seen.
    #[test]
    fn a_listening_port_is_seen_through_sock_diag() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let watch = Listening::of(std::process::id());
        assert!(matches!(watch.source, Source::Diag(_)), "sock_diag is available to root here");
        assert!(watch.ports().unwrap().contains(&port));
        drop(l);
        assert!(!watch.ports().unwrap().contains(&port));
    }
}
