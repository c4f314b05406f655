//! The socket records every reader returns (sock_diag and /proc/net alike): the states,
//! timers and protocols with the kernel's numbering. Shared by `diag`, `procfs` and the
//! commands, so neither reader depends on the other for its types.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::tcp_info::TcpInfo;

/// TCP states with the kernel's numbering (`include/net/tcp_states.h`). The names (serde and
/// `name()`) are derived from the variants, so the two cannot disagree.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum TcpState {
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
    NewSynRecv = 12,
    /// Bound but neither listening nor connected (`TCP_BOUND_INACTIVE`): a request bit only.
    /// sock_diag lists such sockets since Linux 6.8 (commit 91051f003948, "tcp: Dump
    /// bound-only sockets in inet_diag.") and reports them as CLOSE; older kernels ignore the
    /// bit and do not list them.
    BoundInactive = 13,
}

impl TcpState {
    pub const ALL: [TcpState; 13] = [
        Self::Established,
        Self::SynSent,
        Self::SynRecv,
        Self::FinWait1,
        Self::FinWait2,
        Self::TimeWait,
        Self::Close,
        Self::CloseWait,
        Self::LastAck,
        Self::Listen,
        Self::Closing,
        Self::NewSynRecv,
        Self::BoundInactive,
    ];

    pub fn from_kernel(value: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u8 == value)
    }

    /// The kernel's name, upper-case, e.g. `TIME_WAIT`.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The bit for this state in `idiag_states`.
    pub const fn mask(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which timer is pending on a socket (`idiag_timer`, and the `tr` column of /proc/net/tcp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Timer {
    Retransmit,
    // The names ss prints.
    #[serde(rename = "keepalive")]
    #[strum(serialize = "keepalive")]
    KeepAlive,
    #[serde(rename = "timewait")]
    #[strum(serialize = "timewait")]
    TimeWait,
    ZeroWindowProbe,
}

impl Timer {
    /// Decodes `idiag_timer` and the `tr` column of /proc/net/tcp, which share numbering
    /// (`net/ipv4/inet_diag.c`, `net/ipv4/tcp_ipv4.c`): 0 = no timer, or one the kernel may add
    /// later, which we cannot name.
    pub fn from_kernel(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Retransmit),
            2 => Some(Self::KeepAlive),
            3 => Some(Self::TimeWait),
            4 => Some(Self::ZeroWindowProbe),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

/// One socket as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRecord {
    pub proto: Proto,
    /// For UDP the kernel reports CLOSE for unconnected and ESTABLISHED for connected sockets.
    pub state: TcpState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub recv_q: u32,
    pub send_q: u32,
    pub timer: Option<Timer>,
    /// Time left on `timer`.
    pub expires: Option<Duration>,
    pub retransmits: u8,
    /// The socket's owner, or `None` where the kernel reports 0 without meaning root: for
    /// TIME_WAIT sockets (`inet_twsk_diag_fill()`, net/ipv4/inet_diag.c, sets idiag_uid = 0;
    /// /proc/net/tcp prints 0 from `get_timewait4_sock()`, net/ipv4/tcp_ipv4.c) and for
    /// SYN_RECV request sockets in sock_diag (`inet_req_diag_fill()` sets 0; /proc prints the
    /// listener's uid instead). Only a full socket's message is filled by
    /// `inet_diag_msg_attrs_fill()`, which sets the real uid and always adds
    /// INET_DIAG_SHUTDOWN: that attribute is how sock_diag records are told apart.
    pub uid: Option<u32>,
    /// 0 for `TIME_WAIT` and request sockets, which no file descriptor owns.
    pub inode: u64,
    /// TCP_INFO of a full TCP socket, when the listing asked for it (`Query::with_info`).
    pub info: Option<TcpInfo>,
    /// IPV6_V6ONLY of an IPv6 socket (INET_DIAG_SKV6ONLY): whether a `[::]` socket stays off
    /// IPv4. `None` for IPv4 sockets and where the source does not say (/proc).
    pub v6only: Option<bool>,
    /// The shutdown(2) bits of a full socket (INET_DIAG_SHUTDOWN: `sk_shutdown`), `None`
    /// where the source does not say (/proc, TIME_WAIT and request sockets).
    pub shutdown: Option<Shutdown>,
    /// The socket's memory accounting (INET_DIAG_SKMEMINFO), when the listing asked for it
    /// (`Query::with_memory`).
    pub memory: Option<MemInfo>,
    /// Flags sock_diag reports for every full socket since Linux 5.10 (INET_DIAG_SOCKOPT).
    pub flags: Option<DiagFlags>,
}

/// `sk_shutdown`: which directions are shut (RCV_SHUTDOWN 1, SEND_SHUTDOWN 2,
/// include/net/sock.h): by shutdown(2) here, or — for receive — by the peer's FIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Shutdown {
    pub read: bool,
    pub write: bool,
}

impl Shutdown {
    pub fn from_kernel(bits: u8) -> Self {
        Self {
            read: bits & 1 != 0,
            write: bits & 2 != 0,
        }
    }
}

/// `INET_DIAG_SKMEMINFO`: the `SK_MEMINFO_*` array (include/uapi/linux/sock_diag.h), filled
/// by `sock_diag_put_meminfo()` (net/core/sock_diag.c). Bytes, except `drops` (packets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MemInfo {
    /// Bytes held by received data not yet read (`sk_rmem_alloc`).
    pub rmem_alloc: u32,
    /// The effective receive buffer (`sk_rcvbuf`: SO_RCVBUF doubled, or autotuned).
    pub rcvbuf: u32,
    /// Bytes of sent data not yet freed by the device (`sk_wmem_alloc`).
    pub wmem_alloc: u32,
    /// The effective send buffer (`sk_sndbuf`).
    pub sndbuf: u32,
    /// Bytes queued for sending, unacknowledged included (`sk_wmem_queued`).
    pub wmem_queued: u32,
    /// Packets dropped on receive (`sk_drops`): a full UDP receive buffer counts here.
    /// `None` on kernels whose array stops before it (before 4.x).
    pub drops: Option<u32>,
}

/// The socket flags of INET_DIAG_SOCKOPT (`struct inet_diag_sockopt`,
/// include/uapi/linux/inet_diag.h; added in Linux 5.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DiagFlags {
    pub freebind: bool,
    pub transparent: bool,
    pub bind_address_no_port: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_serialized_names_and_the_kernel() {
        for state in TcpState::ALL {
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                state.name(),
                "{state:?}"
            );
        }
        assert_eq!(TcpState::FinWait1.name(), "FIN_WAIT1");
        assert_eq!(TcpState::NewSynRecv.name(), "NEW_SYN_RECV");
        for timer in [1, 2, 3, 4].map(|code| Timer::from_kernel(code).unwrap()) {
            assert_eq!(serde_json::to_value(timer).unwrap(), timer.name());
        }
        assert_eq!(Timer::ZeroWindowProbe.name(), "zero-window-probe");
        assert_eq!(Timer::KeepAlive.name(), "keepalive");
        assert_eq!(Timer::TimeWait.name(), "timewait");
    }
}
