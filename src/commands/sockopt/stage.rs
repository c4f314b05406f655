//! Taking the socket to the stage asked for before its options are read back: left as
//! made, bound and listening on loopback, or connected (to ADDR, or to a loopback peer
//! sockdoc opens), and what closing it leaves behind.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use socket2::Socket;

use super::request::Request;
use super::{Context, Stage};
use crate::commands::args::SockoptArgs;
use crate::exit::UsageError;
use crate::sys::SysError;
use crate::sys::socket::{self as sock, ReuseFlags};
use crate::sys::sockopt::{self as opts, Opt, SocketKind, Value};

/// Where `--connect` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// A loopback socket sockdoc opens.
    Itself,
    Addr(SocketAddr),
}

/// TCP or UDP from the flags; IPv6 with -6 or when the --connect address is IPv6.
pub(super) fn socket_kind(args: &SockoptArgs) -> Result<(SocketKind, Option<Target>), UsageError> {
    let target = args.connect.as_deref().map(parse_target).transpose()?;
    if args.ipv6
        && let Some(Target::Addr(addr @ SocketAddr::V4(_))) = target
    {
        return Err(UsageError(format!(
            "--connect {addr}: an IPv4 address for an IPv6 socket (-6); drop -6, or write it \
             as [::ffff:{}]:{}",
            addr.ip(),
            addr.port()
        )));
    }
    let ipv6 = args.ipv6 || matches!(target, Some(Target::Addr(SocketAddr::V6(_))));
    Ok((
        SocketKind {
            udp: args.udp,
            ipv6,
        },
        target,
    ))
}

fn parse_target(text: &str) -> Result<Target, UsageError> {
    if text == "self" {
        return Ok(Target::Itself);
    }
    text.parse().map(Target::Addr).map_err(|_| {
        UsageError(format!(
            "--connect {text}: expected IP:PORT such as 127.0.0.1:8080 or [::1]:8080, or no \
             value to connect to a loopback listener sockdoc opens"
        ))
    })
}

/// Takes the socket as far as asked: bound and listening on loopback, connected, or left
/// as it is. Returns the stage reached and the peer sockdoc opened, if any.
pub(super) fn advance(
    socket: &Socket,
    kind: SocketKind,
    listen: bool,
    target: Option<Target>,
    ctx: &Context,
    notes: &mut Vec<String>,
) -> anyhow::Result<(Stage, Option<Socket>)> {
    let loopback = if kind.ipv6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    if listen {
        let addr = SocketAddr::new(loopback, 0);
        sock::bind(socket, addr)?;
        if kind.udp {
            notes.push(
                "UDP has no listen(2): --listen bound the socket to loopback and stopped there."
                    .into(),
            );
            return Ok((Stage::Bound, None));
        }
        sock::listen(socket, addr)?;
        return Ok((Stage::Listening, None));
    }
    let Some(target) = target else {
        return Ok((Stage::Unbound, None));
    };
    let (peer, own_peer) = match target {
        Target::Addr(addr) => (addr, None),
        Target::Itself => {
            let (peer_socket, addr) = open_peer(kind, loopback, ctx.timeout)?;
            (addr, Some(peer_socket))
        }
    };
    opts::connect_bounded(socket, peer, ctx.timeout)?;
    Ok((Stage::Connected, own_peer))
}

/// The loopback peer for `--connect` without ADDR: a TCP listener, or a bound UDP socket.
fn open_peer(
    kind: SocketKind,
    loopback: IpAddr,
    timeout: Duration,
) -> anyhow::Result<(Socket, SocketAddr)> {
    let addr = SocketAddr::new(loopback, 0);
    let peer = if kind.udp {
        let socket = opts::new_socket(kind)?;
        sock::bind(&socket, addr)?;
        socket
    } else {
        sock::listener(addr, ReuseFlags::NONE, timeout)?
    };
    let bound = sock::local_addr(&peer)?;
    Ok((peer, bound))
}

pub(super) fn peer_addr(socket: &Socket) -> Result<String, SysError> {
    socket
        .peer_addr()
        .map_err(|error| SysError::GetOption {
            option: "the peer address (getpeername)",
            error,
        })
        .map(|addr| {
            addr.as_socket()
                .map_or_else(|| "unknown".to_string(), |a| a.to_string())
        })
}

/// What closing a connection to a real server left behind.
pub(super) fn closing_note(
    target: Option<Target>,
    kind: SocketKind,
    requests: &[Request],
) -> Option<String> {
    let Some(Target::Addr(addr)) = target else {
        return None;
    };
    if kind.udp {
        return None;
    }
    let linger_zero = requests
        .iter()
        .any(|r| r.opt == Opt::Linger && r.value == Value::Duration(Some(Duration::ZERO)));
    Some(if linger_zero {
        format!(
            "The connection to {addr} was closed with linger 0: close() aborts it with RST and \
             keeps no TIME_WAIT (__tcp_close(), net/ipv4/tcp.c)."
        )
    } else {
        format!(
            "The connection to {addr} was closed normally, sockdoc's side first: Linux keeps the \
             side that closes first in FIN_WAIT2 until the server closes too, then in TIME_WAIT \
             for TCP_TIMEWAIT_LEN (60 s, plus timer rounding); `sockdoc sockets --port {}` shows \
             where it is.",
            addr.port()
        )
    })
}
