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

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::thread;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::socket::{self as nixsock, AddressFamily, SockFlag, SockProtocol, SockType};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::SysError;

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

// ---------------------------------------------------------------------------------------
// The options
// ---------------------------------------------------------------------------------------

/// Every option `sockdoc sockopt` sets and reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opt {
    ReuseAddr,
    ReusePort,
    RcvBuf,
    SndBuf,
    KeepAlive,
    Linger,
    RecvTimeout,
    SendTimeout,
    Broadcast,
    Nonblocking,
    Cloexec,
    Ttl,
    V6Only,
    NoDelay,
    Cork,
    QuickAck,
    MaxSeg,
    Congestion,
    UserTimeout,
    KeepIdle,
    KeepInterval,
    KeepCount,
}

/// The shape of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// on / off
    Bool,
    /// A size in bytes (K/M/G suffixes accepted)
    Bytes,
    /// A duration, or `none` (0 means "no timeout" to the kernel)
    Timeout,
    /// SO_LINGER: `off`, or a duration in whole seconds
    Linger,
    /// A duration the kernel keeps in whole seconds
    Seconds,
    /// A plain number
    Count,
    /// A name, such as a congestion-control algorithm
    Text,
}

/// Which sockets an option exists on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    Any,
    /// IPPROTO_TCP options; a UDP socket has none of them (ENOPROTOOPT).
    Tcp,
    /// Meaningful for datagram sockets only (SO_BROADCAST, socket(7)).
    Udp,
    /// IPv6 sockets only (IPV6_V6ONLY, ipv6(7)).
    Ipv6,
}

/// What sockdoc knows about one option.
#[derive(Debug, Clone, Copy)]
pub struct OptInfo {
    /// sockdoc's name, as typed after `--set`.
    pub name: &'static str,
    /// The kernel's name, for IPv4 sockets.
    pub kernel: &'static str,
    /// The kernel's name on IPv6 sockets, when it differs.
    pub kernel_v6: Option<&'static str>,
    pub kind: Kind,
    pub applies: Applies,
    /// The man page that documents it.
    pub man: &'static str,
}

const fn info(
    name: &'static str,
    kernel: &'static str,
    kind: Kind,
    applies: Applies,
    man: &'static str,
) -> OptInfo {
    OptInfo {
        name,
        kernel,
        kernel_v6: None,
        kind,
        applies,
        man,
    }
}

/// What sockdoc knows about each option, in `Opt` order.
#[rustfmt::skip]
const INFO: [OptInfo; Opt::ALL.len()] = [
    info("reuseaddr", "SO_REUSEADDR", Kind::Bool, Applies::Any, "socket(7)"),
    info("reuseport", "SO_REUSEPORT", Kind::Bool, Applies::Any, "socket(7)"),
    info("rcvbuf", "SO_RCVBUF", Kind::Bytes, Applies::Any, "socket(7)"),
    info("sndbuf", "SO_SNDBUF", Kind::Bytes, Applies::Any, "socket(7)"),
    info("keepalive", "SO_KEEPALIVE", Kind::Bool, Applies::Any, "socket(7)"),
    info("linger", "SO_LINGER", Kind::Linger, Applies::Any, "socket(7)"),
    info("recv-timeout", "SO_RCVTIMEO", Kind::Timeout, Applies::Any, "socket(7)"),
    info("send-timeout", "SO_SNDTIMEO", Kind::Timeout, Applies::Any, "socket(7)"),
    info("broadcast", "SO_BROADCAST", Kind::Bool, Applies::Udp, "socket(7)"),
    info("nonblocking", "O_NONBLOCK", Kind::Bool, Applies::Any, "fcntl(2)"),
    info("cloexec", "FD_CLOEXEC", Kind::Bool, Applies::Any, "fcntl(2)"),
    OptInfo {
        kernel_v6: Some("IPV6_UNICAST_HOPS"),
        ..info("ttl", "IP_TTL", Kind::Count, Applies::Any, "ip(7), ipv6(7)")
    },
    info("v6only", "IPV6_V6ONLY", Kind::Bool, Applies::Ipv6, "ipv6(7)"),
    info("nodelay", "TCP_NODELAY", Kind::Bool, Applies::Tcp, "tcp(7)"),
    info("cork", "TCP_CORK", Kind::Bool, Applies::Tcp, "tcp(7)"),
    info("quickack", "TCP_QUICKACK", Kind::Bool, Applies::Tcp, "tcp(7)"),
    info("mss", "TCP_MAXSEG", Kind::Count, Applies::Tcp, "tcp(7)"),
    info("congestion", "TCP_CONGESTION", Kind::Text, Applies::Tcp, "tcp(7)"),
    info("user-timeout", "TCP_USER_TIMEOUT", Kind::Timeout, Applies::Tcp, "tcp(7)"),
    info("keepalive-idle", "TCP_KEEPIDLE", Kind::Seconds, Applies::Tcp, "tcp(7)"),
    info("keepalive-interval", "TCP_KEEPINTVL", Kind::Seconds, Applies::Tcp, "tcp(7)"),
    info("keepalive-count", "TCP_KEEPCNT", Kind::Count, Applies::Tcp, "tcp(7)"),
];

impl Opt {
    pub const ALL: [Opt; 22] = [
        Opt::ReuseAddr,
        Opt::ReusePort,
        Opt::RcvBuf,
        Opt::SndBuf,
        Opt::KeepAlive,
        Opt::Linger,
        Opt::RecvTimeout,
        Opt::SendTimeout,
        Opt::Broadcast,
        Opt::Nonblocking,
        Opt::Cloexec,
        Opt::Ttl,
        Opt::V6Only,
        Opt::NoDelay,
        Opt::Cork,
        Opt::QuickAck,
        Opt::MaxSeg,
        Opt::Congestion,
        Opt::UserTimeout,
        Opt::KeepIdle,
        Opt::KeepInterval,
        Opt::KeepCount,
    ];

    pub fn info(self) -> OptInfo {
        INFO[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The kernel's name of the option on a socket of this family.
    pub fn kernel_name(self, ipv6: bool) -> &'static str {
        let info = self.info();
        match info.kernel_v6 {
            Some(name) if ipv6 => name,
            _ => info.kernel,
        }
    }

    /// Whether the option exists on (or means anything for) this kind of socket.
    pub fn applies_to(self, kind: SocketKind) -> bool {
        match self.info().applies {
            Applies::Any => true,
            Applies::Tcp => !kind.udp,
            Applies::Udp => kind.udp,
            Applies::Ipv6 => kind.ipv6,
        }
    }
}

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

    fn domain(self) -> Domain {
        if self.ipv6 {
            Domain::IPV6
        } else {
            Domain::IPV4
        }
    }

    fn type_and_protocol(self) -> (Type, Protocol) {
        if self.udp {
            (Type::DGRAM, Protocol::UDP)
        } else {
            (Type::STREAM, Protocol::TCP)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Making sockets
// ---------------------------------------------------------------------------------------

/// A socket made by socket2's `Socket::new`, which passes SOCK_CLOEXEC and sets nothing else.
pub fn new_socket(kind: SocketKind) -> Result<Socket, SysError> {
    let (ty, protocol) = kind.type_and_protocol();
    Socket::new(kind.domain(), ty, Some(protocol)).map_err(|error| {
        SysError::Socket {
            what: kind.label(),
            error,
        }
        .diagnosed()
    })
}

/// A socket made by a bare socket(2) with no flags at all, as C code makes it (through nix,
/// which adds nothing).
pub fn plain_socket(kind: SocketKind) -> Result<OwnedFd, SysError> {
    let family = if kind.ipv6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let (ty, protocol) = if kind.udp {
        (SockType::Datagram, SockProtocol::Udp)
    } else {
        (SockType::Stream, SockProtocol::Tcp)
    };
    nixsock::socket(family, ty, SockFlag::empty(), protocol).map_err(|errno| {
        SysError::Socket {
            what: kind.label(),
            error: errno.into(),
        }
        .diagnosed()
    })
}

/// Connects `socket` to `addr` within `timeout`, leaving its O_NONBLOCK flag as it was.
/// socket2's `connect_timeout` (a non-blocking connect(2) and a poll(2)) hands the socket
/// back in blocking mode, and O_NONBLOCK is one of the options read back, so it is put back
/// the way the caller set it. Nothing else about the socket changes.
pub fn connect_bounded(
    socket: &Socket,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(), SysError> {
    let was_nonblocking = socket.nonblocking().map_err(|error| SysError::GetOption {
        option: "O_NONBLOCK",
        error,
    })?;
    let connected = socket
        .connect_timeout(&addr.into(), timeout)
        .map_err(|error| {
            if error.kind() == io::ErrorKind::TimedOut {
                SysError::Timeout {
                    step: format!("connecting to {addr}"),
                    timeout,
                }
            } else {
                SysError::Connect { addr, error }.diagnosed()
            }
        });
    let restored = socket
        .set_nonblocking(was_nonblocking)
        .map_err(|error| SysError::SetOption {
            option: "O_NONBLOCK",
            error,
        });
    connected.and(restored)
}

/// How often a bounded accept looks again: loopback handshakes finish within microseconds,
/// so the first look almost always finds the connection.
const ACCEPT_RETRY: Duration = Duration::from_millis(1);

/// Accepts one connection within `timeout` without setting SO_RCVTIMEO on the listener
/// (accepted sockets inherit it, and it is one of the options read back): the listener is
/// made non-blocking, which accept(2) does not pass on to the new socket.
pub fn accept_bounded(
    listener: &impl AsFd,
    timeout: Duration,
    step: &str,
) -> Result<Socket, SysError> {
    let listener = SockRef::from(listener);
    listener
        .set_nonblocking(true)
        .map_err(|error| SysError::SetOption {
            option: "O_NONBLOCK",
            error,
        })?;
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((socket, _)) => return Ok(socket),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(SysError::Timeout {
                        step: step.into(),
                        timeout,
                    });
                }
                thread::sleep(ACCEPT_RETRY);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                return Err(SysError::Io {
                    step: step.into(),
                    error,
                });
            }
        }
    }
}

/// `std::net::TcpListener::bind`, exactly as an application calls it (std sets SO_REUSEADDR
/// itself on Unix). Unlike `socket::std_listener`, nothing is added for sockdoc's own use,
/// because this listener's options are what gets read back.
pub fn std_listener_as_is(addr: SocketAddr) -> Result<TcpListener, SysError> {
    TcpListener::bind(addr).map_err(|error| SysError::Bind { addr, error }.diagnosed())
}

/// `std::net::TcpStream::connect_timeout`, exactly as an application calls it (std leaves
/// the stream blocking, with no timeouts set).
pub fn std_stream_as_is(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, SysError> {
    TcpStream::connect_timeout(&addr, timeout).map_err(|error| {
        if error.kind() == io::ErrorKind::TimedOut {
            SysError::Timeout {
                step: format!("connecting to {addr}"),
                timeout,
            }
        } else {
            SysError::Connect { addr, error }.diagnosed()
        }
    })
}

// ---------------------------------------------------------------------------------------
// Set and get
// ---------------------------------------------------------------------------------------

/// Sets `opt` to `value` on `socket` (an IPv6 socket when `ipv6`). The value's shape must
/// match the option's `Kind`; sockdoc's parser guarantees it.
pub fn set(socket: &impl AsFd, opt: Opt, value: &Value, ipv6: bool) -> Result<(), SysError> {
    let sock = SockRef::from(socket);
    let result = match (opt, value) {
        (Opt::ReuseAddr, Value::Bool(on)) => sock.set_reuse_address(*on),
        (Opt::ReusePort, Value::Bool(on)) => sock.set_reuse_port(*on),
        (Opt::RcvBuf, Value::Bytes(size)) => sock.set_recv_buffer_size(c_int_size(*size)),
        (Opt::SndBuf, Value::Bytes(size)) => sock.set_send_buffer_size(c_int_size(*size)),
        (Opt::KeepAlive, Value::Bool(on)) => sock.set_keepalive(*on),
        // socket2 sends whole seconds (struct linger's l_linger is an int).
        (Opt::Linger, Value::Duration(linger)) => sock.set_linger(*linger),
        // A timeval: whole seconds plus microseconds; zero means "no timeout".
        (Opt::RecvTimeout, Value::Duration(timeout)) => sock.set_read_timeout(*timeout),
        (Opt::SendTimeout, Value::Duration(timeout)) => sock.set_write_timeout(*timeout),
        (Opt::Broadcast, Value::Bool(on)) => sock.set_broadcast(*on),
        (Opt::Nonblocking, Value::Bool(on)) => sock.set_nonblocking(*on),
        (Opt::Cloexec, Value::Bool(on)) => {
            let flags = if *on {
                FdFlag::FD_CLOEXEC
            } else {
                FdFlag::empty()
            };
            fcntl(socket.as_fd(), FcntlArg::F_SETFD(flags))
                .map(drop)
                .map_err(Into::into)
        }
        (Opt::Ttl, Value::Count(ttl)) => {
            let ttl = u32::try_from(*ttl).unwrap_or(u32::MAX);
            if ipv6 {
                sock.set_unicast_hops_v6(ttl)
            } else {
                sock.set_ttl_v4(ttl)
            }
        }
        (Opt::V6Only, Value::Bool(on)) => sock.set_only_v6(*on),
        (Opt::NoDelay, Value::Bool(on)) => sock.set_tcp_nodelay(*on),
        (Opt::Cork, Value::Bool(on)) => sock.set_tcp_cork(*on),
        (Opt::QuickAck, Value::Bool(on)) => sock.set_tcp_quickack(*on),
        (Opt::MaxSeg, Value::Count(mss)) => {
            sock.set_tcp_mss(u32::try_from(*mss).unwrap_or(u32::MAX))
        }
        (Opt::Congestion, Value::Text(name)) => sock.set_tcp_congestion(name.as_bytes()),
        // Milliseconds as an unsigned int; 0 restores the default (tcp(7)).
        (Opt::UserTimeout, Value::Duration(timeout)) => sock.set_tcp_user_timeout(*timeout),
        (Opt::KeepIdle, Value::Duration(idle)) => {
            nix_set(socket, nixsock::sockopt::TcpKeepIdle, seconds(*idle))
        }
        (Opt::KeepInterval, Value::Duration(interval)) => nix_set(
            socket,
            nixsock::sockopt::TcpKeepInterval,
            seconds(*interval),
        ),
        (Opt::KeepCount, Value::Count(count)) => nix_set(
            socket,
            nixsock::sockopt::TcpKeepCount,
            u32::try_from(*count).unwrap_or(u32::MAX),
        ),
        (opt, value) => unreachable!("{} takes no {value:?}", opt.name()),
    };
    result.map_err(|error| SysError::SetOption {
        option: opt.kernel_name(ipv6),
        error,
    })
}

/// Reads `opt` back from the kernel.
pub fn get(socket: &impl AsFd, opt: Opt, ipv6: bool) -> Result<Value, SysError> {
    let sock = SockRef::from(socket);
    let result = match opt {
        Opt::ReuseAddr => sock.reuse_address().map(Value::Bool),
        Opt::ReusePort => sock.reuse_port().map(Value::Bool),
        Opt::RcvBuf => sock.recv_buffer_size().map(|n| Value::Bytes(n as u64)),
        Opt::SndBuf => sock.send_buffer_size().map(|n| Value::Bytes(n as u64)),
        Opt::KeepAlive => sock.keepalive().map(Value::Bool),
        Opt::Linger => sock.linger().map(Value::Duration),
        Opt::RecvTimeout => sock.read_timeout().map(Value::Duration),
        Opt::SendTimeout => sock.write_timeout().map(Value::Duration),
        Opt::Broadcast => sock.broadcast().map(Value::Bool),
        Opt::Nonblocking => sock.nonblocking().map(Value::Bool),
        Opt::Cloexec => fcntl(socket.as_fd(), FcntlArg::F_GETFD)
            .map(|flags| {
                Value::Bool(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC))
            })
            .map_err(Into::into),
        Opt::Ttl => if ipv6 {
            sock.unicast_hops_v6()
        } else {
            sock.ttl_v4()
        }
        .map(|ttl| Value::Count(i64::from(ttl))),
        Opt::V6Only => sock.only_v6().map(Value::Bool),
        Opt::NoDelay => sock.tcp_nodelay().map(Value::Bool),
        Opt::Cork => sock.tcp_cork().map(Value::Bool),
        Opt::QuickAck => sock.tcp_quickack().map(Value::Bool),
        Opt::MaxSeg => sock.tcp_mss().map(|mss| Value::Count(i64::from(mss))),
        Opt::Congestion => sock.tcp_congestion().map(|name| {
            // Padded with NULs up to TCP_CA_NAME_MAX.
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            Value::Text(String::from_utf8_lossy(&name[..end]).into_owned())
        }),
        Opt::UserTimeout => sock.tcp_user_timeout().map(Value::Duration),
        Opt::KeepIdle => sock.tcp_keepalive_time().map(|d| Value::Duration(Some(d))),
        Opt::KeepInterval => sock
            .tcp_keepalive_interval()
            .map(|d| Value::Duration(Some(d))),
        Opt::KeepCount => sock
            .tcp_keepalive_retries()
            .map(|n| Value::Count(i64::from(n))),
    };
    result.map_err(|error| SysError::GetOption {
        option: opt.kernel_name(ipv6),
        error,
    })
}

fn nix_set<O: nixsock::SetSockOpt<Val = u32>>(
    socket: &impl AsFd,
    opt: O,
    value: u32,
) -> std::io::Result<()> {
    nixsock::setsockopt(socket, opt, &value).map_err(Into::into)
}

/// Whole seconds, as TCP_KEEPIDLE / TCP_KEEPINTVL take them.
fn seconds(duration: Option<Duration>) -> u32 {
    duration.map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// Buffer sizes are C ints; the parser keeps requests at or below `C_INT_MAX`.
fn c_int_size(size: u64) -> usize {
    usize::try_from(size.min(C_INT_MAX)).unwrap_or(usize::MAX)
}

// ---------------------------------------------------------------------------------------
// Measured kernel constants
// ---------------------------------------------------------------------------------------

/// `SOCK_MIN_RCVBUF` and `SOCK_MIN_SNDBUF` (include/net/sock.h): the floors a buffer request
/// is raised to. They are built from `sizeof(struct sk_buff)`, which depends on the kernel
/// build (2304 and 4608 bytes on a typical x86-64 kernel), so they are measured: a request of
/// 0 reads back as the floor.
pub fn measure_buffer_floors(kind: SocketKind) -> Result<(u64, u64), SysError> {
    let probe = new_socket(kind)?;
    set(&probe, Opt::RcvBuf, &Value::Bytes(0), kind.ipv6)?;
    set(&probe, Opt::SndBuf, &Value::Bytes(0), kind.ipv6)?;
    let read = |opt| match get(&probe, opt, kind.ipv6)? {
        Value::Bytes(n) => Ok(n),
        other => unreachable!("a buffer size reads as bytes, not {other:?}"),
    };
    Ok((read(Opt::RcvBuf)?, read(Opt::SndBuf)?))
}

/// One jiffy (1/HZ s): SO_RCVTIMEO and SO_SNDTIMEO are stored in jiffies, rounded up
/// (`sock_set_timeout` in net/core/sock.c), and HZ is a build option userspace cannot ask
/// for, so it is measured: a 1 µs timeout reads back as one jiffy.
pub fn measure_jiffy(kind: SocketKind) -> Result<Duration, SysError> {
    let probe = new_socket(kind)?;
    set(
        &probe,
        Opt::RecvTimeout,
        &Value::Duration(Some(Duration::from_micros(1))),
        kind.ipv6,
    )?;
    match get(&probe, Opt::RecvTimeout, kind.ipv6)? {
        Value::Duration(Some(jiffy)) => Ok(jiffy),
        other => Err(SysError::Parse {
            what: "the SO_RCVTIMEO probe".into(),
            detail: format!("a 1µs timeout read back as {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP4: SocketKind = SocketKind {
        udp: false,
        ipv6: false,
    };
    const UDP4: SocketKind = SocketKind {
        udp: true,
        ipv6: false,
    };

    #[test]
    fn the_info_table_follows_the_enum() {
        for (i, opt) in Opt::ALL.into_iter().enumerate() {
            assert_eq!(opt as usize, i, "{opt:?} is out of order in Opt::ALL");
        }
        assert_eq!(Opt::NoDelay.info().kernel, "TCP_NODELAY");
        assert_eq!(Opt::Ttl.kernel_name(true), "IPV6_UNICAST_HOPS");
    }

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut names: Vec<_> = Opt::ALL.iter().map(|o| o.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Opt::ALL.len());
        assert!(names.iter().all(|n| *n == n.to_lowercase()));
    }

    #[test]
    fn every_option_reads_back_on_a_fresh_socket_of_its_kind() {
        for kind in [TCP4, UDP4] {
            let socket = new_socket(kind).unwrap();
            for opt in Opt::ALL.into_iter().filter(|o| o.applies_to(kind)) {
                get(&socket, opt, false)
                    .unwrap_or_else(|e| panic!("{} on {}: {e}", opt.name(), kind.label()));
            }
        }
    }

    #[test]
    fn a_plain_socket_lacks_cloexec_and_socket2_sets_it() {
        let plain = plain_socket(TCP4).unwrap();
        assert_eq!(
            get(&plain, Opt::Cloexec, false).unwrap(),
            Value::Bool(false)
        );
        let socket2 = new_socket(TCP4).unwrap();
        assert_eq!(
            get(&socket2, Opt::Cloexec, false).unwrap(),
            Value::Bool(true)
        );
    }

    #[test]
    fn floors_and_jiffy_are_plausible() {
        let (rcv, snd) = measure_buffer_floors(TCP4).unwrap();
        assert!(rcv >= 2048 && snd >= rcv, "floors {rcv} {snd}");
        let jiffy = measure_jiffy(TCP4).unwrap();
        // CONFIG_HZ is 100..=1000 on every Linux build.
        assert!(jiffy >= Duration::from_millis(1) && jiffy <= Duration::from_millis(10));
    }

    #[test]
    fn tcp_options_are_refused_on_udp_with_an_errno() {
        let udp = new_socket(UDP4).unwrap();
        let error = set(&udp, Opt::NoDelay, &Value::Bool(true), false).unwrap_err();
        assert!(error.errno().is_some(), "{error}");
        assert!(error.to_string().contains("TCP_NODELAY"), "{error}");
    }
}
