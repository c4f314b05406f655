//! Socket listing through `NETLINK_SOCK_DIAG` (`sock_diag(7)`), hand-rolled because the
//! `netlink-packet-sock-diag` crate drops `idiag_expires` for `TIME_WAIT` sockets, and the
//! remaining `TIME_WAIT` time is exactly what sockdoc reports. Falls back to /proc/net/tcp{,6}
//! (see `procfs`) when netlink is unavailable.
//!
//! Kernel interface: `sock_diag(7)` <https://man7.org/linux/man-pages/man7/sock_diag.7.html>
//! and `include/uapi/linux/inet_diag.h`. The fixed-size `inet_diag_msg` is read, and of the
//! attributes after it INET_DIAG_INFO (requested with `Query::with_info`), INET_DIAG_SKV6ONLY
//! and INET_DIAG_SHUTDOWN (which marks a full socket, see `SocketRecord::uid`); any others
//! are skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use nix::errno::Errno;
use serde::Serialize;

mod codec;
mod netlink;

pub use codec::parse_messages;
use codec::{
    INET_DIAG_INFO_EXT, INET_DIAG_NOCOOKIE, INET_DIAG_SKMEMINFO_EXT, SockId, ip_bytes, request,
};
use netlink::DiagSocket;

use super::error::{SysError, os_text};
use super::fs::Root;
use super::procfs;
use super::record::{Proto, SocketRecord, TcpState};

/// Where a listing came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    SockDiag,
    ProcNet,
}

/// What to list: one protocol, one or both address families, a set of states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub proto: Proto,
    /// List `AF_INET` sockets.
    pub ipv4: bool,
    /// List `AF_INET6` sockets, including IPv4 peers of dual-stack sockets (v4-mapped addresses).
    pub ipv6: bool,
    /// `idiag_states`: the `TcpState::mask()` bits of the states to list.
    pub states: u32,
    /// Only sockets bound to this local port.
    pub local_port: Option<u16>,
    /// Skip netlink and read /proc/net/{tcp,udp}{,6} (tests, and a user flag).
    pub force_proc: bool,
    /// Ask sock_diag for each TCP socket's tcp_info (INET_DIAG_INFO); /proc has none.
    pub with_info: bool,
    /// Ask sock_diag for each socket's memory accounting (INET_DIAG_SKMEMINFO); /proc has none.
    pub with_memory: bool,
}

impl Query {
    /// Every state the kernel reports.
    pub const ALL_STATES: u32 = {
        let mut mask = 0;
        let mut i = 0;
        while i < TcpState::ALL.len() {
            mask |= TcpState::ALL[i].mask();
            i += 1;
        }
        mask
    };

    /// All TCP sockets of both families.
    pub fn tcp() -> Self {
        Self::all(Proto::Tcp)
    }

    /// All UDP sockets of both families.
    pub fn udp() -> Self {
        Self::all(Proto::Udp)
    }

    /// All sockets of `proto`, both families, every state.
    pub fn all(proto: Proto) -> Self {
        Self {
            proto,
            ipv4: true,
            ipv6: true,
            states: Self::ALL_STATES,
            local_port: None,
            force_proc: false,
            with_info: false,
            with_memory: false,
        }
    }

    fn keeps(&self, record: &SocketRecord) -> bool {
        self.states & record.state.mask() != 0
            && self
                .local_port
                .is_none_or(|port| record.local.port() == port)
    }

    fn proc_files(&self) -> String {
        let name = match self.proto {
            Proto::Tcp => "/proc/net/tcp",
            Proto::Udp => "/proc/net/udp",
        };
        match (self.ipv4, self.ipv6) {
            (true, true) => format!("{name} and {name}6"),
            (false, true) => format!("{name}6"),
            _ => name.to_owned(),
        }
    }
}

/// How a listing was obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub source: Source,
    /// Why netlink was not used, as a sentence for the user; `None` when netlink answered or
    /// the caller asked for /proc (`Query::force_proc`).
    pub fallback_reason: Option<String>,
}

/// Whether a netlink reply ended the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseStatus {
    /// More messages follow (a dump in progress, or a single-message answer).
    Continue,
    /// `NLMSG_DONE` (end of a dump) or an acknowledgement.
    Done,
}

/// Streams the sockets matching `query` to `visit` as they are parsed, holding one receive
/// buffer however many sockets there are.
///
/// Dumps with a `SOCK_DIAG_BY_FAMILY` request per family (`sock_diag(7)`). If netlink fails
/// before any socket was delivered (no `NETLINK_SOCK_DIAG` in a sandbox, an old kernel, a
/// refused dump), the same sockets are read from /proc/net/{tcp,udp}{,6} (`proc_net(5)`) and
/// `Listing::fallback_reason` says why; after a socket was delivered, falling back would
/// list sockets twice, so the error is returned. If /proc fails too, the netlink error is
/// returned, since it is the primary source.
pub fn for_each(query: &Query, mut visit: impl FnMut(SocketRecord)) -> Result<Listing, SysError> {
    if query.force_proc {
        read_proc(query, &mut visit)?;
        return Ok(Listing {
            source: Source::ProcNet,
            fallback_reason: None,
        });
    }
    let mut delivered = false;
    let netlink = if netlink_disabled() {
        Err(disabled_error())
    } else {
        dump(query, |record| {
            delivered = true;
            visit(record);
        })
    };
    match netlink {
        Ok(()) => Ok(Listing {
            source: Source::SockDiag,
            fallback_reason: None,
        }),
        Err(error) if !delivered => {
            let why = match &error {
                SysError::Diag { error } => os_text(error),
                other => other.to_string(),
            };
            read_proc(query, &mut visit).map_err(|_| error)?;
            Ok(Listing {
                source: Source::ProcNet,
                fallback_reason: Some(format!(
                    "NETLINK_SOCK_DIAG unavailable ({why}): read {} instead",
                    query.proc_files()
                )),
            })
        }
        Err(error) => Err(error),
    }
}

/// `for_each`, collected: for callers that need all matching sockets at once.
pub fn list(query: &Query) -> Result<(Vec<SocketRecord>, Listing), SysError> {
    let mut records = Vec::new();
    let listing = for_each(query, |record| records.push(record))?;
    Ok((records, listing))
}

/// The socket with exactly this local and remote address, or `None`.
///
/// One non-dump `SOCK_DIAG_BY_FAMILY` request carrying the 4-tuple and
/// `INET_DIAG_NOCOOKIE` (`sock_diag(7)`): the kernel looks the tuple up in its hash tables,
/// `TIME_WAIT` sockets included, and answers with one `inet_diag_msg` or ENOENT. Cheap enough
/// to poll one connection. The kernel's lookup falls back to a listener on the local port
/// when no connection matches, so the answer is checked against the tuple. A listener is
/// found with the unspecified remote address (`0.0.0.0:0` or `[::]:0`), and so is an
/// unconnected UDP socket; a tuple mixing families names no socket.
pub fn lookup(
    proto: Proto,
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<Option<SocketRecord>, SysError> {
    if netlink_disabled() {
        return lookup_in_proc(proto, local, remote);
    }
    match lookup_by_netlink(proto, local, remote) {
        // No sock_diag here (a sandbox, an old kernel): scan /proc for the tuple instead.
        Err(SysError::Diag { error }) if error.raw_os_error() != Some(libc::ETIMEDOUT) => {
            lookup_in_proc(proto, local, remote)
        }
        other => other,
    }
}

/// The remote end sock_diag reports for a listener (and an unconnected socket): the
/// unspecified address of its family, port 0. `lookup(proto, local, listener_peer(local))`
/// finds the listener on `local`.
pub fn listener_peer(local: SocketAddr) -> SocketAddr {
    let ip = match local {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// The /proc fallback of `lookup`: a scan of the local port's sockets, far slower than the
/// netlink lookup but available everywhere.
fn lookup_in_proc(
    proto: Proto,
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<Option<SocketRecord>, SysError> {
    let query = Query {
        local_port: Some(local.port()),
        ipv4: local.is_ipv4(),
        ipv6: local.is_ipv6(),
        force_proc: true,
        ..Query::all(proto)
    };
    let mut found = None;
    for_each(&query, |record| {
        if record.local == local && record.remote == remote {
            found = Some(record);
        }
    })?;
    Ok(found)
}

/// `SOCKDOC_NO_SOCK_DIAG=1` makes sockdoc read /proc/net as if NETLINK_SOCK_DIAG were
/// missing: for hosts where netlink misbehaves, and to test the fallback.
pub const NO_SOCK_DIAG_ENV: &str = "SOCKDOC_NO_SOCK_DIAG";

fn netlink_disabled() -> bool {
    std::env::var_os(NO_SOCK_DIAG_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

fn disabled_error() -> SysError {
    SysError::Diag {
        error: std::io::Error::other(format!("disabled by {NO_SOCK_DIAG_ENV}")),
    }
}

fn lookup_by_netlink(
    proto: Proto,
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<Option<SocketRecord>, SysError> {
    let family = match (local, remote) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => libc::AF_INET,
        (SocketAddr::V6(_), SocketAddr::V6(_)) => libc::AF_INET6,
        _ => return Ok(None),
    };
    let ifindex = match local {
        SocketAddr::V6(v6) => v6.scope_id(),
        SocketAddr::V4(_) => 0,
    };
    // udp_dump_one (net/ipv4/udp_diag.c) reads the tuple as a packet's source and
    // destination, so for UDP the remote end goes first; TCP takes the socket's view.
    let (src, dst) = match proto {
        Proto::Tcp => (local, remote),
        Proto::Udp => (remote, local),
    };
    let id = SockId {
        sport: src.port(),
        dport: dst.port(),
        src: ip_bytes(src),
        dst: ip_bytes(dst),
        ifindex,
        cookie: [INET_DIAG_NOCOOKIE; 2],
    };
    let mut socket = DiagSocket::open()?;
    socket.send(&request(
        family as u8,
        proto,
        Query::ALL_STATES,
        libc::NLM_F_REQUEST as u16,
        &id,
    ))?;
    let mut found = None;
    match parse_messages(socket.receive()?, proto, |record| found = Some(record)) {
        Ok(_) => {}
        Err(error) if error.errno() == Some(Errno::ENOENT) => return Ok(None),
        Err(error) => return Err(error),
    }
    let same = |a: SocketAddr, b: SocketAddr| a.ip() == b.ip() && a.port() == b.port();
    Ok(found.filter(|record| same(record.local, local) && same(record.remote, remote)))
}

fn dump(query: &Query, mut visit: impl FnMut(SocketRecord)) -> Result<(), SysError> {
    let mut socket = DiagSocket::open()?;
    // A non-zero sport makes the kernel skip other ports itself (`inet_diag_dump_icsk`,
    // `udp_dump`); `keeps` still checks, as it must for /proc.
    let id = SockId {
        sport: query.local_port.unwrap_or(0),
        dport: 0,
        src: [0; 16],
        dst: [0; 16],
        ifindex: 0,
        cookie: [0; 2],
    };
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    for (wanted, family) in [(query.ipv4, libc::AF_INET), (query.ipv6, libc::AF_INET6)] {
        if !wanted {
            continue;
        }
        let mut request = request(family as u8, query.proto, query.states, flags, &id);
        if query.with_info && query.proto == Proto::Tcp {
            request[18] |= INET_DIAG_INFO_EXT;
        }
        if query.with_memory {
            request[18] |= INET_DIAG_SKMEMINFO_EXT;
        }
        socket.send(&request)?;
        while parse_messages(socket.receive()?, query.proto, |record| {
            if query.keeps(&record) {
                visit(record);
            }
        })? == ParseStatus::Continue
        {}
    }
    Ok(())
}

fn read_proc(query: &Query, visit: &mut impl FnMut(SocketRecord)) -> Result<(), SysError> {
    let root = &Root::live();
    for (wanted, ipv6) in [(query.ipv4, false), (query.ipv6, true)] {
        if wanted {
            procfs::read_proc_net(root, query.proto, ipv6, |record| {
                if query.keeps(&record) {
                    visit(record);
                }
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::io::{Read, Write};
    use std::net::{SocketAddrV6, TcpListener, TcpStream, UdpSocket};
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::codec::{INET_DIAG_MSG_LEN, NLMSG_HDRLEN, SOCK_DIAG_BY_FAMILY, nlmsg_align};
    use super::*;
    use crate::sys::record::{Shutdown, Timer};

    /// Calls `probe` every millisecond until it yields, for at most 2 s: loopback state
    /// changes land within microseconds, the bound only turns a bug into a failure.
    fn poll<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if let Some(found) = probe() {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not appear within 2 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A connection the server closes first, so the server's side enters `TIME_WAIT`.
    /// Returns the listener (kept open so the port stays ours), the server side's local
    /// address and the client's address.
    fn server_closes_first(bind: &str) -> (TcpListener, SocketAddr, SocketAddr) {
        let listener = TcpListener::bind(bind).unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let (mut server, client_addr) = listener.accept().unwrap();
        client.write_all(b"ping").unwrap();
        server.read_exact(&mut [0; 4]).unwrap();
        let server_addr = server.local_addr().unwrap();
        drop(server);
        assert_eq!(client.read(&mut [0; 1]).unwrap(), 0, "the client sees EOF");
        drop(client);
        (listener, server_addr, client_addr)
    }

    fn on_port(port: u16, state: TcpState) -> Query {
        Query {
            states: state.mask(),
            local_port: Some(port),
            ..Query::tcp()
        }
    }

    #[test]
    fn full_sockets_carry_their_flags_shutdown_and_memory() {
        use nix::sys::socket::{setsockopt, sockopt::IpFreebind};
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        setsockopt(&socket, IpFreebind, &true).unwrap();
        socket
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        socket.listen(3).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        let query = Query {
            with_memory: true,
            ..on_port(port, TcpState::Listen)
        };
        let (records, _) = list(&query).unwrap();
        let record = &records[0];
        // INET_DIAG_SOCKOPT (5.10+): the flag set above, and only it.
        let flags = record.flags.expect("this kernel sends INET_DIAG_SOCKOPT");
        assert!(flags.freebind && !flags.transparent && !flags.bind_address_no_port);
        assert_eq!(
            record.shutdown,
            Some(crate::sys::record::Shutdown::default())
        );
        let memory = record.memory.expect("SKMEMINFO was asked for");
        assert!(memory.rcvbuf > 0 && memory.sndbuf > 0, "{memory:?}");
        // The backlog travels in idiag_wqueue.
        assert_eq!(record.send_q, 3);
    }

    fn time_wait_record(query: &Query, remote: SocketAddr) -> Option<(SocketRecord, Listing)> {
        let (records, listing) = list(query).unwrap();
        let record = records.into_iter().find(|r| r.remote == remote)?;
        Some((record, listing))
    }

    fn assert_fresh_time_wait(record: &SocketRecord) {
        assert_eq!(record.state, TcpState::TimeWait);
        assert_eq!(record.timer, Some(Timer::TimeWait));
        let expires = record.expires.expect("a TIME_WAIT socket has a timer");
        // TCP_TIMEWAIT_LEN is 60 s and the socket is milliseconds old.
        assert!(
            (Duration::from_secs(50)..=Duration::from_secs(60)).contains(&expires),
            "{expires:?}"
        );
        assert_eq!(
            record.inode, 0,
            "no file descriptor owns a TIME_WAIT socket"
        );
        assert_eq!(
            record.uid, None,
            "the kernel reports no owner for TIME_WAIT"
        );
    }

    fn listener_is_listed_with_owner(bind: &str) {
        let listener = TcpListener::bind(bind).unwrap();
        let addr = listener.local_addr().unwrap();
        let (records, listing) = list(&on_port(addr.port(), TcpState::Listen)).unwrap();
        assert_eq!(listing.source, Source::SockDiag, "{listing:?}");
        let [record] = records.as_slice() else {
            panic!("one listener expected: {records:?}");
        };
        assert_eq!((record.proto, record.state), (Proto::Tcp, TcpState::Listen));
        assert_eq!(record.local, addr);
        assert_eq!(record.uid, Some(nix::unistd::getuid().as_raw()));
        assert_ne!(record.inode, 0);
        let owners = procfs::socket_owners_for(&Root::live(), &HashSet::from([record.inode]));
        assert_eq!(owners[&record.inode].pid, std::process::id());
    }

    #[test]
    fn ipv4_listener_is_listed_with_its_owner() {
        listener_is_listed_with_owner("127.0.0.1:0");
    }

    #[test]
    fn ipv6_listener_is_listed_with_its_owner() {
        listener_is_listed_with_owner("[::1]:0");
    }

    #[test]
    fn time_wait_via_netlink_carries_its_expiry() {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let (_listener, server, client) = server_closes_first(bind);
            let query = on_port(server.port(), TcpState::TimeWait);
            let (record, listing) = poll("TIME_WAIT", || time_wait_record(&query, client));
            assert_eq!(listing.source, Source::SockDiag);
            assert_eq!(record.local, server);
            assert_fresh_time_wait(&record);
        }
    }

    #[test]
    fn time_wait_via_proc_carries_its_expiry() {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let (_listener, server, client) = server_closes_first(bind);
            let query = Query {
                force_proc: true,
                ..on_port(server.port(), TcpState::TimeWait)
            };
            let (record, listing) = poll("TIME_WAIT", || time_wait_record(&query, client));
            assert_eq!(
                listing,
                Listing {
                    source: Source::ProcNet,
                    fallback_reason: None
                }
            );
            assert_eq!(record.local, server);
            assert_fresh_time_wait(&record);
        }
    }

    #[test]
    fn lookup_finds_time_wait_by_exact_tuple() {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let (_listener, server, client) = server_closes_first(bind);
            let record = poll("TIME_WAIT", || {
                lookup(Proto::Tcp, server, client)
                    .unwrap()
                    .filter(|r| r.state == TcpState::TimeWait)
            });
            assert_eq!((record.local, record.remote), (server, client));
            assert_fresh_time_wait(&record);
        }
    }

    #[test]
    fn lookup_of_an_unknown_tuple_is_none_even_beside_a_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let local = listener.local_addr().unwrap();
        // The kernel's lookup would answer with the listener; `lookup` must not.
        let stranger: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(lookup(Proto::Tcp, local, stranger).unwrap(), None);
        let unspecified: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let found = lookup(Proto::Tcp, local, unspecified).unwrap().unwrap();
        assert_eq!((found.state, found.local), (TcpState::Listen, local));
        drop(listener);
        assert_eq!(lookup(Proto::Tcp, local, unspecified).unwrap(), None);
    }

    #[test]
    fn udp_sockets_are_listed() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = socket.local_addr().unwrap();
        for force_proc in [false, true] {
            let query = Query {
                local_port: Some(local.port()),
                force_proc,
                ..Query::udp()
            };
            let (records, _) = list(&query).unwrap();
            let [record] = records.as_slice() else {
                panic!("one socket expected: {records:?}");
            };
            // Unconnected UDP sockets report TCP_CLOSE.
            assert_eq!((record.proto, record.state), (Proto::Udp, TcpState::Close));
            assert_eq!(record.local, local);
        }
    }

    #[test]
    fn lookup_finds_udp_sockets_despite_the_reversed_tuple() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        a.connect(b_addr).unwrap();
        let connected = lookup(Proto::Udp, a_addr, b_addr).unwrap().unwrap();
        assert_eq!(connected.state, TcpState::Established);
        assert_eq!((connected.local, connected.remote), (a_addr, b_addr));
        let unspecified: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let unconnected = lookup(Proto::Udp, b_addr, unspecified).unwrap().unwrap();
        assert_eq!(
            (unconnected.state, unconnected.local),
            (TcpState::Close, b_addr)
        );
        assert_eq!(lookup(Proto::Udp, b_addr, a_addr).unwrap(), None);
    }

    #[test]
    fn request_follows_the_inet_diag_req_v2_layout() {
        let id = SockId {
            sport: 0x1234,
            dport: 80,
            src: ip_bytes("127.0.0.1:0".parse().unwrap()),
            dst: [0; 16],
            ifindex: 7,
            cookie: [INET_DIAG_NOCOOKIE; 2],
        };
        let states = TcpState::TimeWait.mask();
        let msg = request(2, Proto::Tcp, states, 0x301, &id);
        assert_eq!(msg[0..4], 72u32.to_ne_bytes());
        assert_eq!(msg[4..6], 20u16.to_ne_bytes());
        assert_eq!(msg[6..8], 0x301u16.to_ne_bytes());
        assert_eq!(msg[16..20], [2, 6, 0, 0]);
        assert_eq!(msg[20..24], (1u32 << 6).to_ne_bytes());
        assert_eq!(msg[24..28], [0x12, 0x34, 0, 80]);
        assert_eq!(msg[28..32], [127, 0, 0, 1]);
        assert_eq!(msg[60..64], 7u32.to_ne_bytes());
        assert_eq!(msg[64..72], [0xff; 8]);
    }

    fn timer_code(timer: Option<Timer>) -> u8 {
        match timer {
            None => 0,
            Some(Timer::Retransmit) => 1,
            Some(Timer::KeepAlive) => 2,
            Some(Timer::TimeWait) => 3,
            Some(Timer::ZeroWindowProbe) => 4,
        }
    }

    fn header(len: usize, kind: i32) -> Vec<u8> {
        let mut bytes = (len as u32).to_ne_bytes().to_vec();
        bytes.extend((kind as u16).to_ne_bytes());
        bytes.extend([0; 10]);
        bytes
    }

    /// `INET_DIAG_SHUTDOWN` with both directions shut: 5 bytes, type 8, one payload byte.
    const SHUTDOWN_ATTRIBUTE: [u8; 5] = [5, 0, 8, 0, 3];

    /// `record` as the parser returns it from `encode`: a full socket carries
    /// SHUTDOWN_ATTRIBUTE's bits (3: both directions shut).
    fn as_parsed(record: &SocketRecord) -> SocketRecord {
        SocketRecord {
            shutdown: record.uid.map(|_| Shutdown::from_kernel(3)),
            ..record.clone()
        }
    }

    /// The length of `encode(record)` before padding.
    fn encoded_len(record: &SocketRecord) -> usize {
        let attribute = if record.uid.is_some() {
            SHUTDOWN_ATTRIBUTE.len()
        } else {
            0
        };
        NLMSG_HDRLEN + INET_DIAG_MSG_LEN + attribute
    }

    /// The kernel's encoding of `record` and the padding to the next message. A record with
    /// an owner is a full socket, which the kernel follows with `INET_DIAG_SHUTDOWN`; one
    /// without (TIME_WAIT, a request socket) has uid 0 and no attribute, as the kernel sends it.
    fn encode(record: &SocketRecord, ifindex: u32) -> Vec<u8> {
        let len = encoded_len(record);
        let mut msg = header(len, SOCK_DIAG_BY_FAMILY);
        let family = if record.local.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let expires = record.expires.map_or(0, |d| d.as_millis() as u32);
        msg.extend([
            family as u8,
            record.state as u8,
            timer_code(record.timer),
            record.retransmits,
        ]);
        msg.extend(record.local.port().to_be_bytes());
        msg.extend(record.remote.port().to_be_bytes());
        msg.extend(ip_bytes(record.local));
        msg.extend(ip_bytes(record.remote));
        msg.extend(ifindex.to_ne_bytes());
        msg.extend([0xab; 8]); // cookie
        for value in [
            expires,
            record.recv_q,
            record.send_q,
            record.uid.unwrap_or(0),
            record.inode as u32,
        ] {
            msg.extend(value.to_ne_bytes());
        }
        if record.uid.is_some() {
            msg.extend(SHUTDOWN_ATTRIBUTE);
        }
        msg.resize(nlmsg_align(len), 0);
        msg
    }

    fn done(errno: i32) -> Vec<u8> {
        let mut msg = header(NLMSG_HDRLEN + 4, libc::NLMSG_DONE);
        msg.extend(errno.to_ne_bytes());
        msg
    }

    fn parse_all(buf: &[u8]) -> (Result<ParseStatus, SysError>, Vec<SocketRecord>) {
        let mut records = Vec::new();
        let status = parse_messages(buf, Proto::Tcp, |r| records.push(r));
        (status, records)
    }

    fn time_wait_v4() -> SocketRecord {
        SocketRecord {
            proto: Proto::Tcp,
            state: TcpState::TimeWait,
            local: "127.0.0.1:8080".parse().unwrap(),
            remote: "127.0.0.1:51000".parse().unwrap(),
            recv_q: 0,
            send_q: 0,
            timer: Some(Timer::TimeWait),
            expires: Some(Duration::from_millis(58_448)),
            retransmits: 0,
            uid: None,
            inode: 0,
            info: None,
            v6only: None,
            shutdown: None,
            memory: None,
            flags: None,
        }
    }

    #[test]
    fn hand_built_messages_round_trip() {
        let established_v6 = SocketRecord {
            state: TcpState::Established,
            local: SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 443, 0, 3)),
            remote: SocketAddr::V6(SocketAddrV6::new("fe80::2".parse().unwrap(), 50_123, 0, 3)),
            recv_q: 100,
            send_q: 7,
            timer: Some(Timer::KeepAlive),
            expires: Some(Duration::from_secs(7199)),
            retransmits: 2,
            uid: Some(1000),
            inode: 424_242,
            ..time_wait_v4()
        };
        let listen_mapped = SocketRecord {
            state: TcpState::Listen,
            // v4-mapped addresses stay as the kernel gives them; only link-local takes a scope.
            local: "[::ffff:127.0.0.1]:22".parse().unwrap(),
            remote: "[::]:0".parse().unwrap(),
            timer: None,
            expires: None,
            uid: Some(0),
            inode: 1,
            ..time_wait_v4()
        };
        let mut buf = encode(&time_wait_v4(), 0);
        buf.extend(encode(&established_v6, 3));
        buf.extend(encode(&listen_mapped, 3));
        let (status, records) = parse_all(&buf);
        assert_eq!(status.unwrap(), ParseStatus::Continue);
        let expected = [time_wait_v4(), established_v6, listen_mapped].map(|r| as_parsed(&r));
        assert_eq!(records, expected);

        buf.extend(done(0));
        assert_eq!(parse_all(&buf).0.unwrap(), ParseStatus::Done);
    }

    #[test]
    fn uid_is_known_only_for_full_sockets() {
        // The same uid field, 0, means root beside INET_DIAG_SHUTDOWN and "not reported"
        // without it (inet_twsk_diag_fill, inet_req_diag_fill).
        let root_listener = SocketRecord {
            state: TcpState::Listen,
            timer: None,
            expires: None,
            uid: Some(0),
            ..time_wait_v4()
        };
        let request = SocketRecord {
            state: TcpState::SynRecv,
            timer: Some(Timer::Retransmit),
            ..time_wait_v4()
        };
        for record in [root_listener, time_wait_v4(), request] {
            let bytes = encode(&record, 0);
            assert_eq!(bytes[NLMSG_HDRLEN + 64..NLMSG_HDRLEN + 68], [0; 4]);
            let (_, parsed) = parse_all(&bytes);
            assert_eq!(parsed[0].uid, record.uid, "{:?}", record.state);
        }
    }

    #[test]
    fn kernel_errors_carry_their_errno() {
        let mut error = header(NLMSG_HDRLEN + 4 + NLMSG_HDRLEN, libc::NLMSG_ERROR);
        error.extend((-libc::ENOENT).to_ne_bytes());
        error.extend(header(72, SOCK_DIAG_BY_FAMILY));
        let (status, _) = parse_all(&error);
        assert_eq!(status.unwrap_err().errno(), Some(Errno::ENOENT));

        let mut failed_dump = encode(&time_wait_v4(), 0);
        failed_dump.extend(done(-libc::EINTR));
        let (status, records) = parse_all(&failed_dump);
        assert_eq!(status.unwrap_err().errno(), Some(Errno::EINTR));
        assert_eq!(records.len(), 1);
    }

    fn any_record() -> impl Strategy<Value = SocketRecord> {
        let addr = prop_oneof![
            any::<([u8; 4], u16)>().prop_map(|(ip, port)| SocketAddr::from((ip, port))),
            any::<([u8; 16], u16)>().prop_map(|(ip, port)| {
                let ip = Ipv6Addr::from(ip);
                let scope = if ip.is_unicast_link_local() { 9 } else { 0 };
                SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope))
            }),
        ];
        (
            addr,
            any::<u16>(),
            proptest::sample::select(TcpState::ALL.to_vec()),
            0u8..=4,
            any::<(u32, u32, u32, Option<u32>, u32, u8)>(),
        )
            .prop_map(
                |(local, remote_port, state, timer, (exp, rq, sq, uid, inode, rt))| {
                    let mut remote = local;
                    remote.set_port(remote_port);
                    let timer = Timer::from_kernel(timer);
                    SocketRecord {
                        proto: Proto::Tcp,
                        state,
                        local,
                        remote,
                        recv_q: rq,
                        send_q: sq,
                        timer,
                        expires: timer.map(|_| Duration::from_millis(u64::from(exp))),
                        retransmits: rt,
                        uid,
                        inode: u64::from(inode),
                        info: None,
                        v6only: None,
                        shutdown: None,
                        memory: None,
                        flags: None,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_all(&bytes);
        }

        #[test]
        fn truncated_messages_are_errors(record in any_record()) {
            let ifindex = match record.local { SocketAddr::V6(v6) => v6.scope_id(), SocketAddr::V4(_) => 0 };
            let bytes = encode(&record, ifindex);
            let len = encoded_len(&record);
            let (status, records) = parse_all(&bytes);
            prop_assert_eq!(status.unwrap(), ParseStatus::Continue);
            prop_assert_eq!(records, vec![as_parsed(&record)]);
            for cut in 1..len {
                let (status, records) = parse_all(&bytes[..cut]);
                prop_assert!(status.is_err(), "cut at {}", cut);
                prop_assert!(records.is_empty());
            }
            // The last message may lack its padding.
            for cut in len..bytes.len() {
                prop_assert_eq!(parse_all(&bytes[..cut]).1.len(), 1);
            }
        }
    }
}
