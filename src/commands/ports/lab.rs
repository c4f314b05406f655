//! The lab child's experiment for `ports` (inside the throwaway namespace, whose
//! ip_local_port_range is the small range the parent asked for): each case opens connections
//! until the kernel refuses one, holds every connection open (ESTABLISHED, so its port stays
//! taken), records which call failed and its errno, then aborts them all (SO_LINGER 0: an
//! RST, no TIME_WAIT) so the next case starts from an empty range. Bounded: each case stops
//! after a fixed number of attempts past what the range allows.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use socket2::{Domain, Socket, Type};

use crate::sys::client_ports;
use crate::sys::error::errno_name;
use crate::sys::sockopt::accept_bounded;

/// The two servers: outside every range `ports` sets (40000 and up), on two loopback
/// addresses (all of 127.0.0.0/8 is local once `lo` is up), so their 4-tuples differ.
pub const DESTINATIONS: [SocketAddr; 2] = [
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5000),
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 5000),
];

/// The address the bind-before-connect cases bind to (port 0).
pub const BIND_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Attempts a case makes past what the range allows before it stops on its own.
const SPARE_ATTEMPTS: u32 = 4;

/// Which call refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Call {
    Bind,
    Connect,
}

/// What one case measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Connections established (and held) before the first refusal.
    pub connections: u32,
    /// Of those, per destination, in `destinations`' order.
    pub per_destination: Vec<u32>,
    /// The call that failed (null: none did within the attempts allowed).
    pub failed_call: Option<Call>,
    /// Its errno's name.
    pub errno: Option<String>,
    /// Distinct local ports the held connections used, and their extremes.
    pub ports_used: u32,
    pub lowest_port: Option<u16>,
    pub highest_port: Option<u16>,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} connections", self.connections)?;
        if self.per_destination.len() > 1 {
            let split: Vec<String> = self.per_destination.iter().map(u32::to_string).collect();
            write!(f, " ({} per destination)", split.join(" + "))?;
        }
        if let (Some(low), Some(high)) = (self.lowest_port, self.highest_port) {
            write!(f, " on {} ports {low}-{high}", self.ports_used)?;
        }
        match (self.failed_call, &self.errno) {
            (Some(call), Some(errno)) => write!(f, ", then {call}() failed: {errno}"),
            _ => write!(f, ", and no call failed"),
        }
    }
}

/// How a case makes each client socket.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plan {
    /// bind(BIND_ADDRESS, 0) before connect().
    pub bind: bool,
    /// IP_BIND_ADDRESS_NO_PORT before that bind.
    pub no_port: bool,
    /// SO_REUSEADDR before that bind.
    pub reuseaddr: bool,
    /// IP_LOCAL_PORT_RANGE (low, high) on the socket.
    pub local_range: Option<(u16, u16)>,
}

/// The servers, one listener per destination, accepting each connection as it comes.
pub struct Servers {
    listeners: Vec<Socket>,
}

impl Servers {
    pub fn start() -> Result<Self, String> {
        let listeners = DESTINATIONS
            .iter()
            .map(|addr| {
                let socket = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(text)?;
                socket
                    .bind(&(*addr).into())
                    .map_err(|e| format!("binding the server {addr}: {e}"))?;
                socket.listen(1024).map_err(text)?;
                Ok(socket)
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { listeners })
    }
}

/// One held connection: the client and the server's accepted end.
struct Held {
    client: Socket,
    _server: Socket,
}

/// Connections a case holds open until it is released.
pub struct Holding(Vec<Held>);

impl Holding {
    /// Aborts every held connection: SO_LINGER 0 makes close() send RST and free the
    /// client's port at once (no TIME_WAIT), so the next case finds the range empty.
    pub fn release(self) -> Result<(), String> {
        for connection in &self.0 {
            connection
                .client
                .set_linger(Some(Duration::ZERO))
                .map_err(|e| format!("SO_LINGER 0: {e}"))?;
        }
        drop(self);
        Ok(())
    }
}

/// `fill`, then release what it held.
pub fn exhaust(
    servers: &Servers,
    destinations: &[usize],
    plan: Plan,
    limit: u32,
    timeout: Duration,
) -> Result<Case, String> {
    let (case, holding) = fill(servers, destinations, plan, limit, timeout)?;
    holding.release()?;
    Ok(case)
}

/// Connects to `destinations` (their indexes in DESTINATIONS, taken in turn) as `plan` says,
/// until a call fails or `limit` + SPARE_ATTEMPTS attempts were made, holding every
/// connection open.
pub fn fill(
    servers: &Servers,
    destinations: &[usize],
    plan: Plan,
    limit: u32,
    timeout: Duration,
) -> Result<(Case, Holding), String> {
    let mut held: Vec<Held> = Vec::new();
    let mut per_destination = vec![0_u32; destinations.len()];
    let mut ports = BTreeSet::new();
    let mut failure = None;
    for attempt in 0..limit + SPARE_ATTEMPTS {
        let slot = attempt as usize % destinations.len();
        let index = destinations[slot];
        let client = client_socket(plan)?;
        if plan.bind
            && let Err(error) = client.bind(&SocketAddr::new(BIND_ADDRESS, 0).into())
        {
            failure = Some((Call::Bind, error));
            break;
        }
        if let Err(error) = client.connect_timeout(&DESTINATIONS[index].into(), timeout) {
            failure = Some((Call::Connect, error));
            break;
        }
        let server = accept_bounded(&servers.listeners[index], timeout, "accepting")
            .map_err(|e| e.to_string())?;
        let port = client
            .local_addr()
            .map_err(text)?
            .as_socket()
            .map(|addr| addr.port())
            .ok_or("a client without an address")?;
        ports.insert(port);
        per_destination[slot] += 1;
        held.push(Held {
            client,
            _server: server,
        });
    }
    let case = Case {
        connections: held.len() as u32,
        per_destination,
        failed_call: failure.as_ref().map(|(call, _)| *call),
        errno: failure.as_ref().map(|(_, error)| errno(error)),
        ports_used: ports.len() as u32,
        lowest_port: ports.first().copied(),
        highest_port: ports.last().copied(),
    };
    Ok((case, Holding(held)))
}

/// Whether this kernel has IP_LOCAL_PORT_RANGE: Ok(None) when it does, the errno's name when
/// setting it on a fresh socket is refused with ENOPROTOOPT (kernels before 6.3).
pub fn local_port_range_refusal(low: u16, high: u16) -> Result<Option<String>, String> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(text)?;
    match client_ports::set_local_port_range(&socket, low, high) {
        Ok(()) => Ok(None),
        Err(error) if error.raw_os_error() == Some(libc::ENOPROTOOPT) => Ok(Some(errno(&error))),
        Err(error) => Err(format!("setting IP_LOCAL_PORT_RANGE: {error}")),
    }
}

fn client_socket(plan: Plan) -> Result<Socket, String> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(text)?;
    if plan.reuseaddr {
        socket
            .set_reuse_address(true)
            .map_err(|e| format!("SO_REUSEADDR: {e}"))?;
    }
    if plan.no_port {
        client_ports::set_bind_address_no_port(&socket, true)
            .map_err(|e| format!("IP_BIND_ADDRESS_NO_PORT: {e}"))?;
    }
    if let Some((low, high)) = plan.local_range {
        client_ports::set_local_port_range(&socket, low, high)
            .map_err(|e| format!("IP_LOCAL_PORT_RANGE: {e}"))?;
    }
    Ok(socket)
}

fn errno(error: &io::Error) -> String {
    errno_name(error).unwrap_or_else(|| error.to_string())
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}
