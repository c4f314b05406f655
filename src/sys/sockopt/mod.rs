//! Socket options, set and read back from the kernel, one function pair for every option
//! `sockdoc sockopt` knows, plus the kernel quirks that make a read differ from a write
//! (SO_RCVBUF doubled and capped, floors, timeouts in jiffies, SO_LINGER in seconds).
//!
//! Options and their documented behaviour: socket(7)
//! <https://man7.org/linux/man-pages/man7/socket.7.html>, tcp(7)
//! <https://man7.org/linux/man-pages/man7/tcp.7.html>, ip(7)
//! <https://man7.org/linux/man-pages/man7/ip.7.html>, ipv6(7)
//! <https://man7.org/linux/man-pages/man7/ipv6.7.html>, fcntl(2) for O_NONBLOCK and FD_CLOEXEC.
//! The kernel side is `sk_setsockopt` / `sk_getsockopt` in net/core/sock.c and
//! `do_tcp_setsockopt` / `do_tcp_getsockopt` in net/ipv4/tcp.c.
//!
//! socket2 does most of the work; nix covers what socket2 cannot do without side effects
//! (socket2's `set_tcp_keepalive` also turns SO_KEEPALIVE on) and the fd flags.

mod access;
mod catalogue;
mod sockets;

use std::time::Duration;

use socket2::{Domain, Protocol, Type};

pub use access::{get, set};
pub use catalogue::{Applies, Kind, Level, MadeBy, Opt, OptInfo, Refusal};
pub use sockets::{
    accept_bounded, connect_bounded, measure_buffer_floors, measure_jiffy, new_socket,
    plain_socket, std_listener_as_is, std_stream_as_is,
};

// ---------------------------------------------------------------------------------------
// Kernel quirks, as named constants with their sources
// ---------------------------------------------------------------------------------------

/// SO_RCVBUF / SO_SNDBUF: the kernel doubles the value on the way in "to allow space for
/// bookkeeping overhead" and getsockopt returns the doubled value (socket(7);
/// `__sock_set_rcvbuf` in net/core/sock.c).
pub const BUFFER_DOUBLING: u64 = 2;

/// The kernel clamps a buffer request to INT_MAX / 2 before doubling so the doubled value
/// still fits an int (net/core/sock.c).
pub const BUFFER_CLAMP: u64 = i32::MAX as u64 / 2;

/// The largest value a C int option (SO_RCVBUF, SO_LINGER's seconds, …) can carry.
pub const C_INT_MAX: u64 = i32::MAX as u64;

/// TCP_MAXSEG accepts 0 or `TCP_MIN_MSS` (88, include/net/tcp.h) up to `MAX_TCP_WINDOW`
/// (32767); anything else is EINVAL (net/ipv4/tcp.c).
pub const TCP_MIN_MSS: u64 = 88;
pub const MAX_TCP_WINDOW: u64 = 32_767;

/// TCP_KEEPIDLE and TCP_KEEPINTVL accept 1..=32767 seconds, TCP_KEEPCNT 1..=127 probes
/// (`MAX_TCP_KEEPIDLE`, `MAX_TCP_KEEPINTVL`, `MAX_TCP_KEEPCNT` in include/net/tcp.h; tcp(7)).
pub const MAX_TCP_KEEPIDLE: u64 = 32_767;
pub const MAX_TCP_KEEPCNT: u64 = 127;

/// The longest congestion-control name the kernel keeps (`TCP_CA_NAME_MAX`,
/// include/net/tcp.h); getsockopt pads the name with NULs to this length.
pub const TCP_CA_NAME_MAX: usize = 16;

/// A value as set, or as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bool(bool),
    Bytes(u64),
    /// A timeout (None: no timeout), SO_LINGER (None: off), or seconds/milliseconds.
    Duration(Option<Duration>),
    Count(i64),
    Text(String),
}

/// TCP or UDP, IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketKind {
    pub udp: bool,
    pub ipv6: bool,
}

impl SocketKind {
    /// "TCP/IPv4", as errors and reports name it.
    pub fn label(self) -> &'static str {
        match (self.udp, self.ipv6) {
            (false, false) => "TCP/IPv4",
            (false, true) => "TCP/IPv6",
            (true, false) => "UDP/IPv4",
            (true, true) => "UDP/IPv6",
        }
    }

    pub(super) fn domain(self) -> Domain {
        if self.ipv6 {
            Domain::IPV6
        } else {
            Domain::IPV4
        }
    }

    pub(super) fn type_and_protocol(self) -> (Type, Protocol) {
        if self.udp {
            (Type::DGRAM, Protocol::UDP)
        } else {
            (Type::STREAM, Protocol::TCP)
        }
    }
}
