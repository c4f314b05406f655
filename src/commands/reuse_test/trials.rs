//! The bind-rule matrix as a table: each trial's holder, new socket, the outcome Linux
//! documents for it, the rule, the fix and the source that documents it.

use std::net::IpAddr;

use super::report::{Api, BindOutcome, HolderState};
use crate::sys::socket::ReuseFlags;

/// What exists on the port before the new socket tries it.
#[derive(Debug, Clone, Copy)]
pub(super) enum HolderSpec {
    /// A server (made through `api` with `flags` on its listener) that closed first.
    TimeWait { flags: ReuseFlags, api: Api },
    /// A live listener with `flags`, on the wildcard address when `wildcard`.
    Listen { flags: ReuseFlags, wildcard: bool },
    /// The client closed first, so TIME_WAIT lands on the client's port.
    ClientClosesFirst,
    /// The server closed with SO_LINGER {on, 0 s}: an RST, no TIME_WAIT.
    LingerZero,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct NewSocket {
    pub(super) flags: ReuseFlags,
    pub(super) api: Api,
}

impl HolderSpec {
    /// What sock_diag should find on the port once the holder is built.
    pub(super) fn expected_state(self) -> HolderState {
        match self {
            Self::TimeWait { .. } => HolderState::TimeWait,
            Self::Listen { .. } => HolderState::Listen,
            Self::ClientClosesFirst | Self::LingerZero => HolderState::None,
        }
    }
}

pub(super) struct TrialSpec {
    name: &'static str,
    /// The name under an IPv6 `--addr`, where it differs.
    ipv6_name: Option<&'static str>,
    pub(super) holder: HolderSpec,
    pub(super) new: NewSocket,
    /// What Linux documents for bind() and listen() of the new socket.
    pub(super) expected: BindOutcome,
    pub(super) rule: &'static str,
    pub(super) fix: &'static str,
    pub(super) source: &'static str,
}

pub(super) const FIX_REUSEADDR: &str = "Set SO_REUSEADDR on the listening socket before bind(), in every version of the server \
     (socket2: set_reuse_address(true); C: setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, …)).";

impl TrialSpec {
    pub(super) fn name(&self, addr: IpAddr) -> &'static str {
        match self.ipv6_name {
            Some(name) if addr.is_ipv6() => name,
            _ => self.name,
        }
    }
}

/// A new raw socket2 socket with `flags`.
const fn socket2(flags: ReuseFlags) -> NewSocket {
    NewSocket {
        flags,
        api: Api::Socket2,
    }
}

/// A raw socket2 server with `flags` on its listener, closed first.
const fn tw(flags: ReuseFlags) -> HolderSpec {
    HolderSpec::TimeWait {
        flags,
        api: Api::Socket2,
    }
}

const IN_USE: BindOutcome = BindOutcome::ADDR_IN_USE;
const OK: BindOutcome = BindOutcome::Ok;

/// Every trial, in the order the report lists them.
pub(super) const TRIALS: &[TrialSpec] = &[
    TrialSpec {
        name: "TIME_WAIT, REUSEADDR on neither",
        ipv6_name: None,
        holder: tw(ReuseFlags::NONE),
        new: socket2(ReuseFlags::NONE),
        expected: IN_USE,
        rule: "A TIME_WAIT socket keeps its port against a bind() without SO_REUSEADDR until it expires: TCP_TIMEWAIT_LEN = 60 s plus timer-wheel rounding, re-armed by the peer's segments, ended early by a SYN that reopens the connection or (with tcp_rfc1337 = 0, the default) an RST.",
        fix: FIX_REUSEADDR,
        source: "tools/testing/selftests/net/bind_timewait.c; TCP_TIMEWAIT_LEN, include/net/tcp.h; tcp_timewait_state_process(), net/ipv4/tcp_minisocks.c; calc_index(), kernel/time/timer.c",
    },
    TrialSpec {
        name: "TIME_WAIT, REUSEADDR on new only",
        ipv6_name: None,
        holder: tw(ReuseFlags::NONE),
        new: socket2(ReuseFlags::ADDR),
        expected: IN_USE,
        rule: "Linux needs SO_REUSEADDR on both sockets: the TIME_WAIT socket inherited 'off' from the old listener, so the new socket's flag is not enough.",
        fix: "Set SO_REUSEADDR in the old server too: its TIME_WAIT sockets inherit the flag from its listener.",
        source: "inet_bind_conflict(), net/ipv4/inet_connection_sock.c (sk->sk_reuse && sk2->sk_reuse && sk2->sk_state != TCP_LISTEN)",
    },
    TrialSpec {
        name: "TIME_WAIT, REUSEADDR on old only",
        ipv6_name: None,
        holder: tw(ReuseFlags::ADDR),
        new: socket2(ReuseFlags::NONE),
        expected: IN_USE,
        rule: "The new socket did not set SO_REUSEADDR, so the TIME_WAIT socket's flag does not help.",
        fix: FIX_REUSEADDR,
        source: "inet_bind_conflict(), net/ipv4/inet_connection_sock.c (sk->sk_reuse && sk2->sk_reuse && sk2->sk_state != TCP_LISTEN)",
    },
    TrialSpec {
        name: "TIME_WAIT, REUSEADDR on both",
        ipv6_name: None,
        holder: tw(ReuseFlags::ADDR),
        new: socket2(ReuseFlags::ADDR),
        expected: OK,
        rule: "With SO_REUSEADDR on both and the old socket not listening, bind() may share the port with TIME_WAIT.",
        fix: "Nothing to fix: this is the pattern every server should use.",
        source: "inet_bind_conflict(), net/ipv4/inet_connection_sock.c (sk->sk_reuse && sk2->sk_reuse && sk2->sk_state != TCP_LISTEN)",
    },
    TrialSpec {
        name: "TIME_WAIT, REUSEPORT on both",
        ipv6_name: None,
        holder: tw(ReuseFlags::PORT),
        new: socket2(ReuseFlags::PORT),
        expected: OK,
        rule: "With SO_REUSEPORT on both, a TIME_WAIT socket never conflicts (its uid is not checked).",
        fix: "Works, but SO_REUSEADDR is the flag meant for restarts; SO_REUSEPORT also lets live listeners share the port.",
        source: "inet_bind_conflict(), net/ipv4/inet_connection_sock.c",
    },
    TrialSpec {
        name: "live LISTEN, REUSEADDR on both",
        ipv6_name: None,
        holder: HolderSpec::Listen {
            flags: ReuseFlags::ADDR,
            wildcard: false,
        },
        new: socket2(ReuseFlags::ADDR),
        expected: IN_USE,
        rule: "A listening socket conflicts with any new bind() on its address, whatever SO_REUSEADDR says.",
        fix: "Stop the old server before starting the new one, or use another port.",
        source: "socket(7) SO_REUSEADDR",
    },
    TrialSpec {
        name: "live LISTEN, REUSEPORT on both",
        ipv6_name: None,
        holder: HolderSpec::Listen {
            flags: ReuseFlags::PORT,
            wildcard: false,
        },
        new: socket2(ReuseFlags::PORT),
        expected: OK,
        rule: "SO_REUSEPORT on both (same effective uid) lets a second listener join: the kernel spreads new connections over both.",
        fix: "Use this only to run several workers on one port, not to restart a server.",
        source: "socket(7) SO_REUSEPORT",
    },
    TrialSpec {
        name: "listener on 0.0.0.0 vs bind to a specific address",
        ipv6_name: Some("listener on [::] vs bind to a specific address"),
        holder: HolderSpec::Listen {
            flags: ReuseFlags::NONE,
            wildcard: true,
        },
        new: socket2(ReuseFlags::NONE),
        expected: IN_USE,
        rule: "A listener on the wildcard address holds the port on every local address, so a specific-address bind() overlaps it.",
        fix: "Bind both to distinct specific addresses, or stop the wildcard listener.",
        source: "socket(7) SO_REUSEADDR; selftests/net/reuseaddr_conflict.c",
    },
    TrialSpec {
        name: "wildcard listener, REUSEADDR on both",
        ipv6_name: None,
        holder: HolderSpec::Listen {
            flags: ReuseFlags::ADDR,
            wildcard: true,
        },
        new: socket2(ReuseFlags::ADDR),
        expected: IN_USE,
        rule: "SO_REUSEADDR does not relax the conflict with a live wildcard listener.",
        fix: "Bind both to distinct specific addresses, or stop the wildcard listener.",
        source: "socket(7) SO_REUSEADDR",
    },
    TrialSpec {
        name: "client closed first",
        ipv6_name: None,
        holder: HolderSpec::ClientClosesFirst,
        new: socket2(ReuseFlags::NONE),
        expected: OK,
        rule: "Only the side that closes first enters TIME_WAIT; when the client closes first, the server's port is free at once.",
        fix: "Design protocols so clients close first; servers then never accumulate TIME_WAIT.",
        source: "RFC 9293 §3.3.2; Bernat, Coping with TIME-WAIT",
    },
    TrialSpec {
        name: "server closed with SO_LINGER 0",
        ipv6_name: None,
        holder: HolderSpec::LingerZero,
        new: socket2(ReuseFlags::NONE),
        expected: OK,
        rule: "SO_LINGER {on, 0 s} makes close() abort the connection with RST (TcpExtTCPAbortOnData): no TIME_WAIT, the peer gets ECONNRESET and unsent data is lost. close() with unread received data sends RST even without it (TcpExtTCPAbortOnClose), and shutdown() ignores it and sends FIN.",
        fix: "Prefer SO_REUSEADDR; use SO_LINGER 0 only where losing data and resetting the peer is acceptable.",
        source: "__tcp_close() and tcp_shutdown(), net/ipv4/tcp.c",
    },
    TrialSpec {
        name: "std TcpListener restart (std → std)",
        ipv6_name: None,
        holder: HolderSpec::TimeWait {
            flags: ReuseFlags::NONE,
            api: Api::Std,
        },
        new: NewSocket {
            flags: ReuseFlags::NONE,
            api: Api::Std,
        },
        expected: OK,
        rule: "std::net::TcpListener::bind sets SO_REUSEADDR itself on Unix, so a std server restarts over its own TIME_WAIT.",
        fix: "Nothing to fix for std; tokio and mio's TcpListener::bind do the same.",
        source: "rust-lang/rust library/std sys/net (setsockopt SO_REUSEADDR)",
    },
    TrialSpec {
        name: "socket2 old, std new",
        ipv6_name: None,
        holder: tw(ReuseFlags::NONE),
        new: NewSocket {
            flags: ReuseFlags::NONE,
            api: Api::Std,
        },
        expected: IN_USE,
        rule: "The old server was a raw socket2 socket, which sets nothing: its TIME_WAIT lacks SO_REUSEADDR, so even std's bind fails.",
        fix: "socket2 mirrors the raw syscalls: call set_reuse_address(true) before bind().",
        source: "socket2 src/socket.rs (no default options); rust-lang/socket2#489",
    },
    TrialSpec {
        name: "std old, socket2 new",
        ipv6_name: None,
        holder: HolderSpec::TimeWait {
            flags: ReuseFlags::NONE,
            api: Api::Std,
        },
        new: socket2(ReuseFlags::NONE),
        expected: IN_USE,
        rule: "The old std listener set SO_REUSEADDR, but the new raw socket2 socket did not.",
        fix: "socket2 mirrors the raw syscalls: call set_reuse_address(true) before bind().",
        source: "socket2 src/socket.rs (no default options)",
    },
];
