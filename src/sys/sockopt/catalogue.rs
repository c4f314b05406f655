//! The option catalogue: one row per option `sockdoc sockopt` sets and reads back, carrying
//! everything the rules and the parser need to know about it — its kernel name and level,
//! the shape of its value, what `--set` accepts, what the kernel refuses (and where the
//! kernel says so), whether its value depends on the socket's stage, and how socket(2),
//! socket2 and std are documented to leave it. Rules read these typed fields; nothing
//! re-derives them from rendered text.

use strum::{EnumCount, IntoStaticStr, VariantArray};

use super::{C_INT_MAX, TCP_CA_NAME_MAX};

/// Every option `sockdoc sockopt` sets and reads back. The strum name is sockdoc's name, as
/// typed after `--set`; the variant order is the order of the report's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, VariantArray, EnumCount)]
#[strum(serialize_all = "lowercase")]
pub enum Opt {
    ReuseAddr,
    ReusePort,
    RcvBuf,
    SndBuf,
    KeepAlive,
    Linger,
    #[strum(serialize = "recv-timeout")]
    RecvTimeout,
    #[strum(serialize = "send-timeout")]
    SendTimeout,
    Broadcast,
    Nonblocking,
    Cloexec,
    Ttl,
    V6Only,
    NoDelay,
    Cork,
    QuickAck,
    #[strum(serialize = "mss")]
    MaxSeg,
    Congestion,
    #[strum(serialize = "user-timeout")]
    UserTimeout,
    #[strum(serialize = "keepalive-idle")]
    KeepIdle,
    #[strum(serialize = "keepalive-interval")]
    KeepInterval,
    #[strum(serialize = "keepalive-count")]
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

/// Where the kernel keeps the option: the setsockopt(2) level, or the fd's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// SOL_SOCKET (net/core/sock.c)
    Socket,
    /// IPPROTO_IP on IPv4 sockets, IPPROTO_IPV6 on IPv6 ones (ip(7), ipv6(7))
    Ip,
    /// IPPROTO_IPV6 (net/ipv6/ipv6_sockglue.c)
    Ipv6,
    /// IPPROTO_TCP (net/ipv4/tcp.c)
    Tcp,
    /// fcntl(2): F_GETFL / F_GETFD flags of the file descriptor, not a socket option
    Fd,
}

/// A value the kernel refuses although `--set` passes it on (so the refusal is shown, not
/// hidden behind a usage error): the errno, and what the kernel accepts instead.
#[derive(Debug, Clone, Copy)]
pub struct Refusal {
    pub errno: i32,
    /// The hint holds for IPv4 sockets only (IPV6_UNICAST_HOPS accepts what IP_TTL refuses).
    pub ipv4_only: bool,
    /// What the kernel accepts; `{}` stands for the value of `sysctl`, read live.
    pub hint: &'static str,
    pub sysctl: Option<&'static str>,
    /// Where the kernel decides (function and file).
    pub source: &'static str,
}

/// How the ways of making a socket are documented to leave the option (the design doc's
/// "Kernel facts"): `None` means the same as a bare socket(2).
#[derive(Debug, Clone, Copy)]
pub struct MadeBy {
    /// socket2's `Socket::new` (it passes SOCK_CLOEXEC and sets nothing else).
    pub socket2: Option<bool>,
    /// std's `TcpListener::bind` (it sets SO_REUSEADDR on Unix).
    pub std_listener: Option<bool>,
    /// Why the --defaults columns may differ for this option.
    pub why: Option<&'static str>,
}

/// What sockdoc knows about one option.
#[derive(Debug, Clone, Copy)]
pub struct OptInfo {
    /// The kernel's name, for IPv4 sockets.
    pub kernel: &'static str,
    /// The kernel's name on IPv6 sockets, when it differs.
    pub kernel_v6: Option<&'static str>,
    pub level: Level,
    pub kind: Kind,
    pub applies: Applies,
    /// The man page that documents it.
    pub man: &'static str,
    /// The largest value `--set` takes, in the kind's unit (bytes; count; whole seconds for
    /// linger and keepalive times; milliseconds for user-timeout; characters for a name):
    /// what the C type the kernel reads can carry. Narrower kernel ranges are `refusals`.
    pub max: u64,
    /// How the `--set` help shows the values.
    pub form: &'static str,
    /// What a malformed `--set` is told the option takes.
    pub takes: &'static str,
    /// A value `--set` accepts, as the help would write it.
    pub example: &'static str,
    pub refusals: &'static [Refusal],
    /// The value read back changes with the socket's stage (listening, connected), so the
    /// --defaults columns may differ for that reason alone.
    pub depends_on_stage: bool,
    pub made_by: MadeBy,
}

const SAME_EVERYWHERE: MadeBy = MadeBy {
    socket2: None,
    std_listener: None,
    why: None,
};

/// A row with the defaults of its kind; the table overrides what differs.
const fn row(
    kernel: &'static str,
    level: Level,
    kind: Kind,
    applies: Applies,
    man: &'static str,
) -> OptInfo {
    let (max, form, takes, example) = match kind {
        Kind::Bool => (
            1,
            "on|off",
            "on or off (also true/false, yes/no, 1/0)",
            "on",
        ),
        Kind::Bytes => (
            C_INT_MAX,
            "size: 256K, 8M (at most 2G - 1)",
            "a size in bytes such as 65536, 256K or 8M (at most 2147483647, a C int)",
            "256K",
        ),
        Kind::Timeout => (
            u64::MAX,
            "duration: 2s, 500ms; none = no timeout",
            "a duration such as 2s or 500ms, or none (0s also means no timeout)",
            "2s",
        ),
        Kind::Linger => (
            C_INT_MAX,
            "off, or whole seconds: 0s = close with RST",
            "off, or a duration in whole seconds such as 0s (close with RST) or 5s (at most \
             2147483647s)",
            "0s",
        ),
        Kind::Seconds => (
            C_INT_MAX,
            "whole seconds: 1s to 32767s",
            "a duration in whole seconds such as 60s or 2m (1s..32767s)",
            "60s",
        ),
        Kind::Count => (C_INT_MAX, "a whole number", "a whole number", "1"),
        Kind::Text => (
            TCP_CA_NAME_MAX as u64 - 1,
            "name: see tcp_available_congestion_control",
            "a congestion-control algorithm name of at most 15 characters, such as cubic or \
             bbr (see net.ipv4.tcp_available_congestion_control)",
            "reno",
        ),
    };
    OptInfo {
        kernel,
        kernel_v6: None,
        level,
        kind,
        applies,
        man,
        max,
        form,
        takes,
        example,
        refusals: &[],
        depends_on_stage: false,
        made_by: SAME_EVERYWHERE,
    }
}

const fn einval(hint: &'static str, source: &'static str) -> Refusal {
    Refusal {
        errno: libc::EINVAL,
        ipv4_only: false,
        hint,
        sysctl: None,
        source,
    }
}

const KEEPALIVE_TIME_REFUSED: &[Refusal] = &[einval(
    "it accepts 1..32767 whole seconds",
    "MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL, include/net/tcp.h; do_tcp_setsockopt, net/ipv4/tcp.c",
)];

const BUFFER_WHY: &str = "TCP sizes a socket's buffers from net.ipv4.tcp_rmem / tcp_wmem and \
    grows them once connected (autotuning), unless SO_RCVBUF / SO_SNDBUF locked them";

/// What sockdoc knows about each option, in `Opt` order.
#[rustfmt::skip]
const TABLE: [OptInfo; Opt::COUNT] = {
    use Applies::{Any, Ipv6, Tcp, Udp};
    [
    OptInfo {
        made_by: MadeBy {
            socket2: None,
            std_listener: Some(true),
            why: Some("std's TcpListener::bind sets SO_REUSEADDR before bind on Unix so a \
                restarted server can bind over TIME_WAIT; accepted sockets inherit it from the \
                listener; socket2 and socket(2) leave it off"),
        },
        ..row("SO_REUSEADDR", Level::Socket, Kind::Bool, Any, "socket(7)")
    },
    row("SO_REUSEPORT", Level::Socket, Kind::Bool, Any, "socket(7)"),
    OptInfo {
        depends_on_stage: true,
        made_by: MadeBy { why: Some(BUFFER_WHY), ..SAME_EVERYWHERE },
        ..row("SO_RCVBUF", Level::Socket, Kind::Bytes, Any, "socket(7)")
    },
    OptInfo {
        depends_on_stage: true,
        made_by: MadeBy { why: Some(BUFFER_WHY), ..SAME_EVERYWHERE },
        ..row("SO_SNDBUF", Level::Socket, Kind::Bytes, Any, "socket(7)")
    },
    row("SO_KEEPALIVE", Level::Socket, Kind::Bool, Any, "socket(7)"),
    row("SO_LINGER", Level::Socket, Kind::Linger, Any, "socket(7)"),
    row("SO_RCVTIMEO", Level::Socket, Kind::Timeout, Any, "socket(7)"),
    row("SO_SNDTIMEO", Level::Socket, Kind::Timeout, Any, "socket(7)"),
    row("SO_BROADCAST", Level::Socket, Kind::Bool, Udp, "socket(7)"),
    row("O_NONBLOCK", Level::Fd, Kind::Bool, Any, "fcntl(2)"),
    OptInfo {
        made_by: MadeBy {
            socket2: Some(true),
            std_listener: None,
            why: Some("socket2 and std pass SOCK_CLOEXEC (and accept4 SOCK_CLOEXEC); a bare \
                socket(2) leaves the fd open across exec()"),
        },
        ..row("FD_CLOEXEC", Level::Fd, Kind::Bool, Any, "fcntl(2)")
    },
    // do_ip_setsockopt (net/ipv4/ip_sockglue.c) takes 1..=255, do_ipv6_setsockopt
    // (net/ipv6/ipv6_sockglue.c) 0..=255; 0 still parses, to show the refusal.
    OptInfo {
        kernel_v6: Some("IPV6_UNICAST_HOPS"),
        max: 255,
        form: "hops: 1 to 255; -6: IPV6_UNICAST_HOPS, 0 to 255",
        takes: "a hop count from 0 to 255, e.g. 64",
        example: "64",
        refusals: &[Refusal {
            ipv4_only: true,
            ..einval("IP_TTL accepts 1..255 (ip(7))", "do_ip_setsockopt, net/ipv4/ip_sockglue.c")
        }],
        ..row("IP_TTL", Level::Ip, Kind::Count, Any, "ip(7), ipv6(7)")
    },
    row("IPV6_V6ONLY", Level::Ipv6, Kind::Bool, Ipv6, "ipv6(7)"),
    row("TCP_NODELAY", Level::Tcp, Kind::Bool, Tcp, "tcp(7)"),
    row("TCP_CORK", Level::Tcp, Kind::Bool, Tcp, "tcp(7)"),
    OptInfo {
        depends_on_stage: true,
        made_by: MadeBy {
            why: Some("TCP_QUICKACK reads the current quick-ACK mode, which the kernel \
                switches on its own (tcp(7))"),
            ..SAME_EVERYWHERE
        },
        ..row("TCP_QUICKACK", Level::Tcp, Kind::Bool, Tcp, "tcp(7)")
    },
    OptInfo {
        form: "bytes: 88 to 32767",
        takes: "a segment size in bytes, 88..32767, e.g. 1400",
        example: "1400",
        refusals: &[einval(
            "TCP_MAXSEG accepts 0 or 88..32767 (TCP_MIN_MSS..MAX_TCP_WINDOW)",
            "do_tcp_setsockopt, net/ipv4/tcp.c",
        )],
        depends_on_stage: true,
        made_by: MadeBy {
            why: Some("before connect TCP_MAXSEG reads the default MSS (536, TCP_MSS_DEFAULT); \
                once connected it reads the MSS in use: the route's MTU less headers and TCP \
                options, and at most half the largest window the peer offered \
                (tcp_bound_to_half_wnd)"),
            ..SAME_EVERYWHERE
        },
        ..row("TCP_MAXSEG", Level::Tcp, Kind::Count, Tcp, "tcp(7)")
    },
    OptInfo {
        refusals: &[
            Refusal {
                errno: libc::ENOENT,
                ipv4_only: false,
                hint: "no such algorithm: net.ipv4.tcp_available_congestion_control = {} (a \
                    module may need loading)",
                sysctl: Some("net.ipv4.tcp_available_congestion_control"),
                source: "tcp_set_congestion_control, net/ipv4/tcp_cong.c",
            },
            Refusal {
                errno: libc::EPERM,
                ipv4_only: false,
                hint: "without CAP_NET_ADMIN only net.ipv4.tcp_allowed_congestion_control = {} \
                    may be set",
                sysctl: Some("net.ipv4.tcp_allowed_congestion_control"),
                source: "tcp_set_congestion_control, net/ipv4/tcp_cong.c",
            },
        ],
        ..row("TCP_CONGESTION", Level::Tcp, Kind::Text, Tcp, "tcp(7)")
    },
    OptInfo {
        max: u32::MAX as u64,
        form: "duration in ms: 30s, 500ms; off = default",
        takes: "a duration such as 30s or 500ms (whole milliseconds), or off",
        example: "30s",
        refusals: &[einval(
            "TCP_USER_TIMEOUT takes milliseconds that fit a C int (about 24.8 days)",
            "do_tcp_setsockopt, net/ipv4/tcp.c",
        )],
        ..row("TCP_USER_TIMEOUT", Level::Tcp, Kind::Timeout, Tcp, "tcp(7)")
    },
    OptInfo {
        refusals: KEEPALIVE_TIME_REFUSED,
        ..row("TCP_KEEPIDLE", Level::Tcp, Kind::Seconds, Tcp, "tcp(7)")
    },
    OptInfo {
        refusals: KEEPALIVE_TIME_REFUSED,
        ..row("TCP_KEEPINTVL", Level::Tcp, Kind::Seconds, Tcp, "tcp(7)")
    },
    OptInfo {
        form: "probes: 1 to 127",
        takes: "a number of probes, 1..127, e.g. 5",
        example: "5",
        refusals: &[einval(
            "TCP_KEEPCNT accepts 1..127 probes",
            "MAX_TCP_KEEPCNT, include/net/tcp.h; do_tcp_setsockopt, net/ipv4/tcp.c",
        )],
        ..row("TCP_KEEPCNT", Level::Tcp, Kind::Count, Tcp, "tcp(7)")
    },
    ]
};

impl Opt {
    /// Every option, in report order: derived from the enum (strum's `VariantArray`), as an
    /// array so that iterating it yields values.
    pub const ALL: [Opt; Opt::COUNT] = {
        let mut all = [Opt::ReuseAddr; Opt::COUNT];
        let mut i = 0;
        while i < Opt::COUNT {
            all[i] = <Opt as VariantArray>::VARIANTS[i];
            i += 1;
        }
        all
    };

    pub fn info(self) -> &'static OptInfo {
        &TABLE[self as usize]
    }

    /// sockdoc's name, as typed after `--set` (derived: strum's `IntoStaticStr`).
    pub fn name(self) -> &'static str {
        self.into()
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
    pub fn applies_to(self, kind: super::SocketKind) -> bool {
        match self.info().applies {
            Applies::Any => true,
            Applies::Tcp => !kind.udp,
            Applies::Udp => kind.udp,
            Applies::Ipv6 => kind.ipv6,
        }
    }

    /// What the kernel accepts, when it refused a request with `errno` on a socket of this
    /// family; `sysctl` reads the knob a hint quotes.
    pub fn refusal(self, errno: i32, ipv6: bool) -> Option<&'static Refusal> {
        self.info()
            .refusals
            .iter()
            .find(|r| r.errno == errno && !(r.ipv4_only && ipv6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::sockopt::{MAX_TCP_KEEPCNT, MAX_TCP_KEEPIDLE, MAX_TCP_WINDOW, TCP_MIN_MSS};

    #[test]
    fn the_derived_names_are_the_names_sockdoc_always_used() {
        // The hand-written table these names replaced, in order.
        let old = [
            "reuseaddr",
            "reuseport",
            "rcvbuf",
            "sndbuf",
            "keepalive",
            "linger",
            "recv-timeout",
            "send-timeout",
            "broadcast",
            "nonblocking",
            "cloexec",
            "ttl",
            "v6only",
            "nodelay",
            "cork",
            "quickack",
            "mss",
            "congestion",
            "user-timeout",
            "keepalive-idle",
            "keepalive-interval",
            "keepalive-count",
        ];
        assert_eq!(Opt::ALL.map(Opt::name), old);
    }

    #[test]
    fn the_table_follows_the_enum() {
        for (i, opt) in Opt::ALL.into_iter().enumerate() {
            assert_eq!(opt as usize, i, "{opt:?} is out of order in Opt::ALL");
        }
        assert_eq!(Opt::NoDelay.info().kernel, "TCP_NODELAY");
        assert_eq!(Opt::Ttl.kernel_name(true), "IPV6_UNICAST_HOPS");
        for opt in Opt::ALL {
            let info = opt.info();
            let tcp_level = info.level == Level::Tcp;
            assert_eq!(tcp_level, info.applies == Applies::Tcp, "{opt:?}");
            let prefix = match info.level {
                Level::Socket => "SO_",
                Level::Ip => "IP_",
                Level::Ipv6 => "IPV6_",
                Level::Tcp => "TCP_",
                Level::Fd => "",
            };
            assert!(info.kernel.starts_with(prefix), "{opt:?}");
        }
    }

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut names: Vec<_> = Opt::ALL.iter().map(|o| o.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Opt::ALL.len());
        assert!(names.iter().all(|n| *n == n.to_lowercase()));
    }

    /// The texts spell the kernel's limits out; they must say what the constants say.
    #[test]
    fn the_texts_quote_the_named_constants() {
        let says = |text: &str, n: u64| {
            assert!(text.contains(&n.to_string()), "{text:?} lacks {n}");
        };
        says(Opt::RcvBuf.info().takes, C_INT_MAX);
        says(Opt::Linger.info().takes, C_INT_MAX);
        says(Opt::KeepIdle.info().form, MAX_TCP_KEEPIDLE);
        says(Opt::KeepIdle.info().takes, MAX_TCP_KEEPIDLE);
        says(KEEPALIVE_TIME_REFUSED[0].hint, MAX_TCP_KEEPIDLE);
        says(Opt::MaxSeg.info().form, TCP_MIN_MSS);
        says(Opt::MaxSeg.info().form, MAX_TCP_WINDOW);
        says(Opt::MaxSeg.info().takes, MAX_TCP_WINDOW);
        says(Opt::MaxSeg.info().refusals[0].hint, MAX_TCP_WINDOW);
        says(Opt::KeepCount.info().form, MAX_TCP_KEEPCNT);
        says(Opt::KeepCount.info().refusals[0].hint, MAX_TCP_KEEPCNT);
        says(Opt::Congestion.info().takes, TCP_CA_NAME_MAX as u64 - 1);
        says(Opt::Ttl.info().takes, Opt::Ttl.info().max);
    }

    #[test]
    fn hints_with_a_sysctl_quote_it() {
        for opt in Opt::ALL {
            for refusal in opt.info().refusals {
                assert_eq!(
                    refusal.sysctl.is_some(),
                    refusal.hint.contains("{}"),
                    "{opt:?}"
                );
            }
        }
        assert!(Opt::Ttl.refusal(libc::EINVAL, false).is_some());
        assert!(Opt::Ttl.refusal(libc::EINVAL, true).is_none());
    }
}
