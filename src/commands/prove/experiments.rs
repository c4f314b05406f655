//! The experiments `prove` runs inside a throwaway network namespace (the lab child): each
//! sets up loopback sockets, measures with sock_diag and the namespace's own counters, and
//! returns typed figures. Bounded: connects and accepts take `timeout`, polls at most 2 s.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use socket2::{Domain, Socket, Type};

use crate::sys::diag::{self, Query};
use crate::sys::fs::Root;
use crate::sys::procfs;
use crate::sys::record::{Proto, TcpState};
use crate::sys::sockopt::{accept_bounded, connect_bounded};
use crate::units::millis;

/// One experiment and its parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Experiment {
    /// listen(LISTEN_BACKLOG), `clients` connects, no accept: the queue the kernel allowed.
    AcceptQueue { clients: u32 },
    /// `connections` the server closes first: how many TIME_WAIT sockets exist.
    TimeWait { connections: u32 },
    /// An orphaned FIN_WAIT2 and a TIME_WAIT: their timers.
    FinTimeout,
    /// The client closes `connections` to one destination, each holding one port of a range of
    /// that size in TIME_WAIT; then one more connect(), retried until it succeeds or 3 s pass.
    TwReuse { connections: u32 },
    /// connect() to one destination until EADDRNOTAVAIL, at most `limit` times.
    PortRange { limit: u32 },
    /// `writes` writes of `size` bytes back to back with TCP_NODELAY: the data segments sent
    /// and the autocorked writes.
    Burst { writes: u32, size: u32 },
}

/// What an experiment measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Figures {
    /// listen()'s backlog as the kernel kept it (sk_max_ack_backlog).
    pub backlog: Option<u32>,
    /// Connections waiting for accept().
    pub queued: Option<u32>,
    pub time_wait: Option<u64>,
    /// TcpExt.TCPTimeWaitOverflow's rise.
    pub time_wait_overflow: Option<u64>,
    /// Time left on an orphaned FIN_WAIT2 socket's timer, and on a fresh TIME_WAIT's.
    pub fin_wait2_timer_ms: Option<u64>,
    pub time_wait_timer_ms: Option<u64>,
    /// The extra connect(): how long until it succeeded (null: it never did), its first
    /// error, and TcpExt.TWRecycled's rise.
    pub reuse_after_ms: Option<u64>,
    pub first_error: Option<String>,
    pub tw_recycled: Option<u64>,
    /// net.ipv4.tcp_tw_reuse_delay in the namespace (null on kernels without the knob).
    pub reuse_delay_ms: Option<u64>,
    /// Connections made to one destination before EADDRNOTAVAIL.
    pub connections: Option<u32>,
    /// The burst: data segments the sender sent (tcpi_data_segs_out) and TcpExt.TCPAutoCorking's
    /// rise.
    pub data_segments: Option<u32>,
    pub autocorked: Option<u64>,
}

/// The backlog the accept-queue experiment asks for: larger than any somaxconn it compares.
pub const LISTEN_BACKLOG: i32 = 65535;

pub fn run(experiment: &Experiment, timeout: Duration) -> Result<Figures, String> {
    match experiment {
        Experiment::AcceptQueue { clients } => accept_queue(*clients, timeout),
        Experiment::TimeWait { connections } => time_wait(*connections, timeout),
        Experiment::FinTimeout => fin_timeout(timeout),
        Experiment::TwReuse { connections } => tw_reuse(*connections, timeout),
        Experiment::PortRange { limit } => port_range(*limit, timeout),
        Experiment::Burst { writes, size } => burst(*writes, *size, timeout),
    }
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// The experiments' server port: fixed and outside every range the proofs set, so the
/// listener takes no port the clients count on (the namespace is new: nothing else is there).
const SERVER: &str = "127.0.0.1:5000";

fn listener(backlog: i32) -> Result<(Socket, SocketAddr), String> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(text)?;
    socket.set_reuse_address(true).map_err(text)?;
    let any: SocketAddr = SERVER.parse().expect("an address");
    socket.bind(&any.into()).map_err(text)?;
    socket.listen(backlog).map_err(text)?;
    let addr = socket
        .local_addr()
        .map_err(text)?
        .as_socket()
        .ok_or("the listener has no address")?;
    Ok((socket, addr))
}

/// Polls `probe` every millisecond for at most 2 s: loopback state changes land within
/// microseconds; the bound only turns a stuck experiment into an error.
fn poll<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> Result<T, String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(found) = probe() {
            return Ok(found);
        }
        if Instant::now() > deadline {
            return Err(format!("{what} did not happen within 2 s"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn counter(name: &str) -> Option<u64> {
    procfs::read_netstat(&Root::live()).ok()?.get(name).copied()
}

fn sockets_on(port: u16, state: TcpState) -> Result<Vec<crate::sys::record::SocketRecord>, String> {
    let query = Query {
        states: state.mask(),
        local_port: Some(port),
        ..Query::all(Proto::Tcp)
    };
    Ok(diag::list(&query).map_err(text)?.0)
}

fn accept_queue(clients: u32, timeout: Duration) -> Result<Figures, String> {
    let (listener, addr) = listener(LISTEN_BACKLOG)?;
    let mut held = Vec::new();
    for _ in 0..clients {
        let client = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(text)?;
        client.set_nonblocking(true).map_err(text)?;
        let _ = client.connect(&addr.into()); // EINPROGRESS: the handshake goes on
        held.push(client);
    }
    let peer = diag::listener_peer(addr);
    let started = Instant::now();
    // Wait until the queue stops growing (every handshake the kernel will complete is done).
    let mut last = None;
    let record = loop {
        let record = diag::lookup(Proto::Tcp, addr, peer)
            .map_err(text)?
            .ok_or("the listener vanished")?;
        if last == Some(record.recv_q) && started.elapsed() > Duration::from_millis(50) {
            break record;
        }
        if started.elapsed() > timeout.min(Duration::from_secs(2)) {
            break record;
        }
        last = Some(record.recv_q);
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(held);
    drop(listener);
    Ok(Figures {
        backlog: Some(record.send_q),
        queued: Some(record.recv_q),
        ..Figures::default()
    })
}

/// A connection on `listener`, accepted: (client, server side).
fn connection(
    listener: &Socket,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(TcpStream, TcpStream), String> {
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(text)?;
    connect_bounded(&client, addr, timeout).map_err(text)?;
    let server = accept_bounded(listener, timeout, "accept").map_err(text)?;
    Ok((TcpStream::from(client), TcpStream::from(server)))
}

fn time_wait(connections: u32, timeout: Duration) -> Result<Figures, String> {
    let (listener, addr) = listener(128)?;
    let before = counter("TcpExt.TCPTimeWaitOverflow");
    for _ in 0..connections {
        let (client, server) = connection(&listener, addr, timeout)?;
        // The server closes first: its side would enter TIME_WAIT.
        drop(server);
        let mut buf = [0_u8; 1];
        let mut client = client;
        client.set_read_timeout(Some(timeout)).map_err(text)?;
        let _ = std::io::Read::read(&mut client, &mut buf);
        drop(client);
    }
    // Every close has been processed once no server-side socket is left in FIN_WAIT.
    poll("the closes", || {
        let waiting = sockets_on(addr.port(), TcpState::FinWait1).ok()?.len()
            + sockets_on(addr.port(), TcpState::FinWait2).ok()?.len()
            + sockets_on(addr.port(), TcpState::LastAck).ok()?.len();
        (waiting == 0).then_some(())
    })?;
    let time_wait = sockets_on(addr.port(), TcpState::TimeWait)?.len() as u64;
    let after = counter("TcpExt.TCPTimeWaitOverflow");
    Ok(Figures {
        time_wait: Some(time_wait),
        time_wait_overflow: after.zip(before).map(|(a, b)| a.saturating_sub(b)),
        ..Figures::default()
    })
}

fn fin_timeout(timeout: Duration) -> Result<Figures, String> {
    let (listener, addr) = listener(128)?;
    // An orphaned FIN_WAIT2: the client shuts its side, the server ACKs (and never closes),
    // then the client's descriptor is closed.
    let (client, server) = connection(&listener, addr, timeout)?;
    let orphan_addr = client.local_addr().map_err(text)?;
    client.shutdown(std::net::Shutdown::Write).map_err(text)?;
    poll("FIN_WAIT2", || {
        let record = diag::lookup(Proto::Tcp, orphan_addr, addr).ok()??;
        (record.state == TcpState::FinWait2).then_some(())
    })?;
    drop(client);
    let fin_wait2 = poll("the orphaned FIN_WAIT2's timer", || {
        let record = diag::lookup(Proto::Tcp, orphan_addr, addr).ok()??;
        (record.state == TcpState::FinWait2).then_some(record.expires)?
    })?;
    // A TIME_WAIT: the server of a second connection closes first.
    let (client2, server2) = connection(&listener, addr, timeout)?;
    let server2_addr = server2.local_addr().map_err(text)?;
    let peer_addr = client2.local_addr().map_err(text)?;
    drop(server2);
    // The client reads the end of the stream and closes too: the server's side moves from
    // FIN_WAIT2 to TIME_WAIT.
    let mut client2 = client2;
    client2.set_read_timeout(Some(timeout)).map_err(text)?;
    let _ = std::io::Read::read(&mut client2, &mut [0_u8; 1]);
    drop(client2);
    let time_wait = poll("TIME_WAIT", || {
        let record = diag::lookup(Proto::Tcp, server2_addr, peer_addr).ok()??;
        (record.state == TcpState::TimeWait).then_some(record.expires)?
    })?;
    drop((server, listener));
    Ok(Figures {
        fin_wait2_timer_ms: Some(millis(fin_wait2)),
        time_wait_timer_ms: Some(millis(time_wait)),
        ..Figures::default()
    })
}

fn tw_reuse(connections: u32, timeout: Duration) -> Result<Figures, String> {
    let listener = TcpListener::bind(SERVER).map_err(text)?;
    let addr = listener.local_addr().map_err(text)?;
    let before = counter("TcpExt.TWRecycled");
    // Each connection takes one port of the range; the client closes first, so its port
    // stays in TIME_WAIT on the client side.
    for _ in 0..connections {
        let client = TcpStream::connect_timeout(&addr, timeout).map_err(text)?;
        let (server, _) = listener.accept().map_err(text)?;
        drop(client);
        drop(server);
    }
    let started = Instant::now();
    let mut first_error = None;
    let mut reuse_after = None;
    // Bounded: 3 s, past the default tcp_tw_reuse_delay of 1 s.
    while started.elapsed() < Duration::from_secs(3) {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => {
                reuse_after = Some(millis(started.elapsed()));
                break;
            }
            Err(error) => {
                first_error.get_or_insert_with(|| crate::sys::error::os_text(&error));
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let after = counter("TcpExt.TWRecycled");
    let delay = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_tw_reuse_delay")
        .ok()
        .and_then(|text| text.trim().parse().ok());
    Ok(Figures {
        reuse_delay_ms: delay,
        reuse_after_ms: reuse_after,
        first_error,
        tw_recycled: after.zip(before).map(|(a, b)| a.saturating_sub(b)),
        ..Figures::default()
    })
}

fn port_range(limit: u32, timeout: Duration) -> Result<Figures, String> {
    let listener = TcpListener::bind(SERVER).map_err(text)?;
    let addr = listener.local_addr().map_err(text)?;
    let mut held = Vec::new();
    let mut first_error = None;
    for _ in 0..limit {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(client) => {
                let (server, _) = listener.accept().map_err(text)?;
                held.push((client, server));
            }
            Err(error) => {
                first_error = Some(crate::sys::error::os_text(&error));
                break;
            }
        }
    }
    Ok(Figures {
        connections: Some(held.len() as u32),
        first_error,
        ..Figures::default()
    })
}

/// The qdisc that holds packets on `lo` for the burst: autocorking only holds a write back
/// while an earlier packet of the socket still sits below TCP (in a qdisc or a device queue),
/// and loopback without a qdisc frees each packet at once. A token bucket (tbf) keeps them.
const SLOW_LOOPBACK: [&str; 12] = [
    "qdisc", "replace", "dev", "lo", "root", "tbf", "rate", "1mbit", "burst", "1600", "latency",
    "100ms",
];

fn burst(writes: u32, size: u32, timeout: Duration) -> Result<Figures, String> {
    use std::io::{Read, Write};
    let tc = std::process::Command::new("tc")
        .args(SLOW_LOOPBACK)
        .output()
        .map_err(|e| format!("tc (iproute2) is needed to slow loopback down: {e}"))?;
    if !tc.status.success() {
        return Err(format!(
            "tc {}: {}",
            SLOW_LOOPBACK.join(" "),
            String::from_utf8_lossy(&tc.stderr).trim()
        ));
    }
    let (listener, addr) = listener(128)?;
    let (mut client, mut server) = connection(&listener, addr, timeout)?;
    client.set_nodelay(true).map_err(text)?;
    server.set_read_timeout(Some(timeout)).map_err(text)?;
    let before_segs = crate::sys::tcp_info::tcp_info(&client)
        .map_err(text)?
        .data_segs_out;
    let before = counter("TcpExt.TCPAutoCorking");
    let piece = vec![b'x'; size as usize];
    for _ in 0..writes {
        client.write_all(&piece).map_err(text)?;
    }
    let mut received = vec![0_u8; (writes * size) as usize];
    server.read_exact(&mut received).map_err(text)?;
    let after_segs = crate::sys::tcp_info::tcp_info(&client)
        .map_err(text)?
        .data_segs_out;
    let after = counter("TcpExt.TCPAutoCorking");
    Ok(Figures {
        data_segments: after_segs.zip(before_segs).map(|(a, b)| a.wrapping_sub(b)),
        autocorked: after.zip(before).map(|(a, b)| a.saturating_sub(b)),
        ..Figures::default()
    })
}
