//! Errno into diagnosis: what an errno from a socket call means on this host, read now (a
//! full port range, lo down, IPv6 disabled, the fd limit, a firewall rule), with the
//! figures that show it and the fix.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use nix::errno::Errno;

use crate::sys::SysError;
use crate::sys::diag::{self, Query};
use crate::sys::fs::Root;
use crate::sys::ports::{self, Budget, PortSettings};
use crate::sys::record::{Proto, SocketRecord, TcpState};
use crate::sys::sysctl;

impl SysError {
    /// This error with [`diagnose()`]'s reading of its errno for the operation it names (a
    /// bind, a connect, a socket), when there is one.
    #[must_use]
    pub fn diagnosed(self) -> Self {
        let op = match &self {
            Self::Socket { .. } => Op::Socket,
            Self::Bind { addr, .. } => Op::Bind(*addr),
            Self::Listen { addr, .. } => Op::Listen(*addr),
            Self::Connect { addr, .. } => Op::Connect(*addr),
            _ => Op::Other,
        };
        self.diagnosed_as(op)
    }

    /// This error with [`diagnose()`]'s reading of its errno for `op`, when there is one.
    #[must_use]
    pub fn diagnosed_as(self, op: Op) -> Self {
        let diagnosis = match &self {
            Self::Diagnosed { .. } => None,
            // No errno, but one cause sockdoc can read: lo is down.
            Self::Timeout { .. } => {
                (loopback_up() == Some(false)).then(|| LO_DOWN_DROPS.to_owned())
            }
            other => other.errno().and_then(|errno| diagnose(op, errno)),
        };
        match diagnosis {
            Some(diagnosis) => Self::Diagnosed {
                error: Box::new(self),
                diagnosis,
            },
            None => self,
        }
    }
}

/// The socket operation whose errno [`diagnose`] explains, with the address it named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// socket(2).
    Socket,
    Bind(SocketAddr),
    Listen(SocketAddr),
    Connect(SocketAddr),
    /// connect(2) to a listener this process opened for the run and still holds open:
    /// nothing on the far side can refuse it, so a refusal came from a rule on this host.
    ConnectOwn(SocketAddr),
    /// sendto(2) of a datagram to this address.
    Send(SocketAddr),
    /// Any other call (accept, read, write): only errnos that mean the same everywhere
    /// (EMFILE, ENFILE) are explained.
    Other,
}

/// What `errno` from `op` means on this host, read now: the cause in a sentence with the
/// figures that show it, and the fix. `None` when sockdoc has nothing to add to the errno.
///
/// The one place that turns (operation, errno, address) into a diagnosis, for every command.
pub fn diagnose(op: Op, errno: Errno) -> Option<String> {
    let root = &Root::live();
    match (errno, op) {
        (Errno::EPERM, Op::Send(_)) => return Some(output_drop_text()),
        (Errno::EPERM, Op::Connect(_) | Op::ConnectOwn(_)) => {
            return Some(CONNECT_DENIED.to_owned());
        }
        (Errno::ECONNREFUSED, Op::ConnectOwn(_)) => return Some(own_listener_reset_text()),
        _ => {}
    }
    // Everything else reads the same whoever owns the listener.
    let op = match op {
        Op::ConnectOwn(addr) => Op::Connect(addr),
        other => other,
    };
    match (errno, op) {
        (Errno::EMFILE, _) => Some(fd_limit_text(open_files_limit())),
        (Errno::ENFILE, _) => Some(system_file_limit_text(
            sysctl::read_knob(root, "fs.file-max").value(),
        )),
        (Errno::EAFNOSUPPORT, _) if !ipv6_in_kernel(root) => Some(NO_IPV6_IN_KERNEL.to_owned()),
        (Errno::ENETUNREACH, Op::Connect(addr) | Op::Send(addr)) if addr.ip().is_loopback() => {
            Some(unreachable_loopback_text(addr, loopback_up()))
        }
        (Errno::EADDRNOTAVAIL, Op::Bind(addr) | Op::Connect(addr) | Op::Send(addr))
            if is_ipv6(addr) =>
        {
            ipv6_unavailable(root, addr).or_else(|| match op {
                Op::Connect(addr) => Some(ports_exhausted_on_connect(root, addr)),
                _ => None,
            })
        }
        (Errno::EADDRNOTAVAIL, Op::Connect(addr)) => Some(ports_exhausted_on_connect(root, addr)),
        (Errno::EADDRNOTAVAIL, Op::Bind(addr)) => Some(format!(
            "{} is not an address of this host (bind(2): \"the requested address was not \
             local\"; see `ip addr`): use 127.0.0.1, ::1 or an address `ip addr` lists",
            addr.ip()
        )),
        (Errno::EADDRINUSE, Op::Bind(addr)) if addr.port() == 0 => {
            Some(ports_exhausted_on_bind(root))
        }
        _ => None,
    }
}

/// Where to look for the rules that drop or reject packets on this host.
const FIREWALL_RULES: &str = "`nft list ruleset`, `iptables -S`, `ip6tables -S`";

/// A datagram refused with EPERM. A netfilter hook that drops a packet returns EPERM to
/// whoever sent it (`nf_hook_slow()`, net/netfilter/core.c: NF_DROP without an error of its
/// own becomes -EPERM), and UDP hands that error back to sendto(2). Measured on 6.18 with nft
/// `drop` and `reject` rules and iptables `-j DROP` in the OUTPUT chain, for IPv4 and IPv6.
/// A cgroup BPF program on sendmsg() that denies the call gives EPERM as well
/// (`__cgroup_bpf_run_filter_sock_addr()`, kernel/bpf/cgroup.c).
fn output_drop_text() -> String {
    format!(
        "a firewall rule in the OUTPUT path dropped the datagram: a netfilter drop \
         fails sendto() with EPERM (NF_DROP → -EPERM in nf_hook_slow(), net/netfilter/core.c); \
         see {FIREWALL_RULES}. A cgroup BPF program on sendmsg() that denies the call fails it \
         with EPERM too (__cgroup_bpf_run_filter_sock_addr(), kernel/bpf/cgroup.c; `bpftool \
         cgroup tree`)"
    )
}

/// A TCP connect() refused with EPERM. Not a netfilter drop of the SYN: `tcp_connect()`
/// (net/ipv4/tcp_output.c) passes on only ECONNREFUSED from sending the SYN and retries it
/// otherwise, so a dropped SYN shows as a connect() that times out (measured on 6.18 with
/// nft and iptables OUTPUT drops: no EPERM). EPERM comes from a cgroup BPF program attached
/// to connect() that denies it (`__cgroup_bpf_run_filter_sock_addr()`, kernel/bpf/cgroup.c).
const CONNECT_DENIED: &str = "a policy on this host denied the connection: a cgroup BPF \
     program on connect() that denies it fails the call with EPERM \
     (__cgroup_bpf_run_filter_sock_addr(), kernel/bpf/cgroup.c; `bpftool cgroup tree`). A \
     firewall that drops the SYN does not give EPERM: tcp_connect() (net/ipv4/tcp_output.c) \
     passes on only ECONNREFUSED from sending it and retries otherwise, until the connect \
     times out";

/// ECONNREFUSED from a listener sockdoc opened and still holds. connect() fails with
/// ECONNREFUSED when a reset answers its SYN (`tcp_reset()`, net/ipv4/tcp_input.c: a RST in
/// SYN_SENT sets ECONNREFUSED); the listener was there, so a rule that rejects sent it.
/// Measured on 6.18: nft `tcp flags syn reject with tcp reset` in the input or output hook,
/// and iptables `-j REJECT --reject-with tcp-reset` in OUTPUT, make connect() fail with
/// ECONNREFUSED at once; a plain `reject` (ICMP port unreachable) does not.
fn own_listener_reset_text() -> String {
    format!(
        "that listener is sockdoc's own, opened for this run and still listening, yet a \
         reset answered the SYN (connect() fails with ECONNREFUSED when a RST answers its SYN: \
         tcp_reset(), net/ipv4/tcp_input.c): a firewall rule sent it, such as nft `reject with \
         tcp reset` or iptables `-j REJECT --reject-with tcp-reset` in the INPUT or OUTPUT \
         path; see {FIREWALL_RULES}"
    )
}

/// An IPv6 address that is not IPv4-mapped (those go through IPv4).
fn is_ipv6(addr: SocketAddr) -> bool {
    matches!(addr.ip(), IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none())
}

/// The soft and hard RLIMIT_NOFILE of this process (getrlimit(2)).
fn open_files_limit() -> Option<(u64, u64)> {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).ok()
}

fn fd_limit_text(limit: Option<(u64, u64)>) -> String {
    const MEANING: &str = "every socket is a file descriptor, and EMFILE means \"the \
         per-process limit on the number of open file descriptors has been reached\" \
         (socket(2))";
    let Some((soft, hard)) = limit else {
        return format!(
            "this process reached its open-file limit (RLIMIT_NOFILE, `ulimit -n`): {MEANING}"
        );
    };
    let raise = if soft < hard {
        format!(
            "raise the soft limit toward the hard one, e.g. `ulimit -n {hard}` before running sockdoc"
        )
    } else {
        "the soft limit is already the hard one: raise both as root (`prlimit`, \
         /etc/security/limits.conf, LimitNOFILE= in a systemd unit)"
            .to_owned()
    };
    format!(
        "this process reached its open-file limit, RLIMIT_NOFILE = {soft} (hard limit {hard}; \
         `ulimit -n`): {MEANING}; {raise}"
    )
}

fn system_file_limit_text(file_max: Option<&str>) -> String {
    let max = file_max.map_or_else(String::new, |max| format!(" = {max}"));
    format!(
        "the whole system has as many files open as fs.file-max{max} allows (socket(2), \
         ENFILE); /proc/sys/fs/file-nr shows how many are allocated: find the process that \
         holds them (`lsof`, /proc/*/fd) or raise fs.file-max"
    )
}

/// Whether this kernel has IPv6 at all: /proc/sys/net/ipv6 exists only then.
fn ipv6_in_kernel(root: &Root) -> bool {
    root.join("proc/sys/net/ipv6").is_dir()
}

const NO_IPV6_IN_KERNEL: &str = "this kernel has no IPv6 (/proc/sys/net/ipv6 is absent: \
     booted with ipv6.disable=1, or built without IPv6): use --addr 127.0.0.1";

/// Whether `lo` is up (IFF_UP), read through getifaddrs(3), which asks the kernel over
/// netlink and so sees this process's network namespace (/sys/class/net may show another).
/// `None` when the interface list cannot be read or has no lo.
fn loopback_up() -> Option<bool> {
    use nix::net::if_::InterfaceFlags;
    nix::ifaddrs::getifaddrs()
        .ok()?
        .find(|entry| entry.interface_name == "lo")
        .map(|entry| entry.flags.contains(InterfaceFlags::IFF_UP))
}

/// lo's routes, 127.0.0.0/8 among them, are added when lo comes up (`fib_netdev_event()`,
/// NETDEV_UP → `fib_add_ifaddr()`, net/ipv4/fib_frontend.c): a network namespace whose lo
/// never came up has no route to it. (Taking lo down later leaves those routes in place,
/// measured on 6.18: connect() then waits for an answer that never comes, see
/// [`LO_DOWN_DROPS`].)
fn unreachable_loopback_text(addr: SocketAddr, lo_up: Option<bool>) -> String {
    match lo_up {
        Some(false) => format!(
            "the loopback interface lo is down (its IFF_UP flag is clear, read now), and lo's \
             routes, {} among them, are added only when it comes up (fib_netdev_event() → \
             fib_add_ifaddr(), net/ipv4/fib_frontend.c): run `ip link set lo up` in this network \
             namespace (a new one, e.g. from `unshare --net`, starts with lo down)",
            addr.ip()
        ),
        Some(true) => format!(
            "lo is up, yet the kernel has no route to {}: see `ip route get {}` and `ip route \
             show table local` (a deleted local route, or a policy rule: `ip rule`)",
            addr.ip(),
            addr.ip()
        ),
        None => format!(
            "the kernel has no route to {}: is lo down? (`ip link show lo`; `ip link set lo up` \
             brings it back)",
            addr.ip()
        ),
    }
}

/// Why an answer never came when lo is down: a down interface transmits nothing.
const LO_DOWN_DROPS: &str = "the loopback interface lo is down (its IFF_UP flag is clear, read \
     now), and a down interface transmits nothing: run `ip link set lo up` in this network \
     namespace";

/// The three disable_ipv6 knobs that decide whether lo has ::1.
struct Ipv6Knobs {
    lo: Option<String>,
    all: Option<String>,
    default: Option<String>,
}

impl Ipv6Knobs {
    fn read(root: &Root) -> Self {
        let read = |key: &str| sysctl::read_knob(root, key).value().map(str::to_owned);
        Self {
            lo: read("net.ipv6.conf.lo.disable_ipv6"),
            all: read("net.ipv6.conf.all.disable_ipv6"),
            default: read("net.ipv6.conf.default.disable_ipv6"),
        }
    }
}

/// Why an IPv6 loopback address is not there, when that is why: no IPv6 in the kernel, lo
/// down, or IPv6 disabled on lo.
fn ipv6_unavailable(root: &Root, addr: SocketAddr) -> Option<String> {
    if !addr.ip().is_loopback() {
        return None;
    }
    if !ipv6_in_kernel(root) {
        return Some(NO_IPV6_IN_KERNEL.to_owned());
    }
    ipv6_loopback_text(addr, loopback_up(), &Ipv6Knobs::read(root))
}

/// ::1 lives on lo: it is there only while lo is up and IPv6 is enabled on lo.
fn ipv6_loopback_text(addr: SocketAddr, lo_up: Option<bool>, knobs: &Ipv6Knobs) -> Option<String> {
    if lo_up == Some(false) {
        return Some(format!(
            "the loopback interface lo is down (its IFF_UP flag is clear, read now), and {} \
             lives on lo: run `ip link set lo up` in this network namespace",
            addr.ip()
        ));
    }
    if knobs.lo.as_deref() != Some("1") {
        return None;
    }
    let shown = |value: &Option<String>| value.clone().unwrap_or_else(|| "unreadable".into());
    let (knobs_text, fix) = if knobs.all.as_deref() == Some("1") {
        (
            "net.ipv6.conf.lo.disable_ipv6 = 1 and net.ipv6.conf.all.disable_ipv6 = 1; writing \
             `all` sets every interface's value, lo's included (addrconf_disable_ipv6())"
                .to_owned(),
            "set both back to 0 (sysctl -w net.ipv6.conf.all.disable_ipv6=0 \
             net.ipv6.conf.lo.disable_ipv6=0)",
        )
    } else {
        (
            format!(
                "net.ipv6.conf.lo.disable_ipv6 = 1 (all = {}, default = {})",
                shown(&knobs.all),
                shown(&knobs.default)
            ),
            "set it back to 0 (sysctl -w net.ipv6.conf.lo.disable_ipv6=0)",
        )
    };
    Some(format!(
        "IPv6 is disabled on lo, {knobs_text}, and disabling it removes lo's IPv6 addresses, {} \
         among them (dev_disable_change() → addrconf_ifdown(), net/ipv6/addrconf.c): {fix} and \
         look for the setting in /etc/sysctl.conf and /etc/sysctl.d, or use --addr 127.0.0.1",
        addr.ip()
    ))
}

/// The port range and the sockets holding ports in it, as read now.
struct PortUse {
    budget: Option<Budget>,
    range_text: Option<String>,
    /// The sockets of the protocol read whose local port lies in the range; `None` when they
    /// could not be listed.
    holders: Option<Vec<SocketRecord>>,
}

impl PortUse {
    fn read(root: &Root, proto: Proto) -> Self {
        let [range, reserved, reuse, timestamps] =
            ports::KNOBS.map(|key| sysctl::read_knob(root, key));
        let settings = PortSettings::from_knobs(
            range.value(),
            reserved.value(),
            reuse.value(),
            timestamps.value(),
        )
        .ok();
        let budget = settings.as_ref().map(PortSettings::budget);
        let holders = settings.and_then(|settings| {
            let (records, _) = diag::list(&Query::all(proto)).ok()?;
            Some(
                records
                    .into_iter()
                    .filter(|r| settings.range.contains(r.local.port()))
                    .collect(),
            )
        });
        Self {
            budget,
            range_text: range.value().map(str::to_owned),
            holders,
        }
    }
}

fn range_sentence(budget: &Budget, range_text: &str) -> String {
    let reserved = if budget.reserved_in_range > 0 {
        format!(
            ", {} of them reserved by net.ipv4.ip_local_reserved_ports",
            budget.reserved_in_range
        )
    } else {
        String::new()
    };
    format!(
        "net.ipv4.ip_local_port_range = {range_text} gives {} ports{reserved}",
        budget.ports
    )
}

/// "2 ESTABLISHED, 1 TIME_WAIT": the states of `records`, most frequent first.
fn states_text(records: &[&SocketRecord]) -> String {
    let mut counts: Vec<(TcpState, usize)> = Vec::new();
    for record in records {
        match counts.iter_mut().find(|(state, _)| *state == record.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((record.state, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.name().cmp(b.0.name())));
    counts
        .iter()
        .map(|(state, n)| format!("{n} {}", state.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// connect() without a bound port takes one from the range that no socket to the same
/// address and port uses, skipping ports a bind() holds, and fails with EADDRNOTAVAIL when
/// none is left (`__inet_hash_connect()`, net/ipv4/inet_hashtables.c).
fn ports_exhausted_on_connect(root: &Root, dest: SocketAddr) -> String {
    let usage = PortUse::read(root, Proto::Tcp);
    connect_ports_text(dest, &usage)
}

fn connect_ports_text(dest: SocketAddr, usage: &PortUse) -> String {
    let (Some(budget), Some(range_text)) = (&usage.budget, &usage.range_text) else {
        return format!(
            "no local port was free for a connection to {dest} (net.ipv4.ip_local_port_range \
             could not be read): connect() fails with EADDRNOTAVAIL when every port of that \
             range is taken toward the same address and port (__inet_hash_connect(), \
             net/ipv4/inet_hashtables.c)"
        );
    };
    let canonical = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    let held = usage.holders.as_ref().map_or_else(
        || " (the sockets holding them could not be listed)".to_owned(),
        |records| {
            let toward: Vec<&SocketRecord> = records
                .iter()
                .filter(|r| canonical(r.remote) == canonical(dest))
                .collect();
            let bound: Vec<&SocketRecord> = records
                .iter()
                .filter(|r| r.state == TcpState::Listen)
                .collect();
            let mut text = format!(
                ", and right now {} connection(s) to {dest} hold a port from it{}",
                toward.len(),
                if toward.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", states_text(&toward))
                }
            );
            if !bound.is_empty() {
                let _ = write!(
                    text,
                    " and {} listening socket(s) hold ports inside it, which connect() skips \
                     for every destination",
                    bound.len()
                );
            }
            if toward.iter().any(|r| r.state == TcpState::TimeWait) {
                let _ = write!(
                    text,
                    "; a TIME_WAIT socket keeps its port for up to {} s (TCP_TIMEWAIT_LEN), \
                     less where net.ipv4.tcp_tw_reuse lets connect() take it over \
                     (tcp_twsk_unique(), net/ipv4/tcp_ipv4.c)",
                    crate::sys::TCP_TIMEWAIT_LEN.as_secs()
                );
            }
            text
        },
    );
    format!(
        "no local port was free for a connection to {dest}: {}{held}. connect() takes a port \
         from that range that no socket to the same address and port uses and fails with \
         EADDRNOTAVAIL when none is left (__inet_hash_connect(), net/ipv4/inet_hashtables.c). \
         Reuse connections (a pool, keep-alive) instead of opening one per request, widen the \
         range, or spread the load over more destination addresses or ports",
        range_sentence(budget, range_text)
    )
}

/// bind() to port 0 takes a free port of the range (`inet_csk_find_open_port()`,
/// net/ipv4/inet_connection_sock.c; `udp_lib_get_port()` for UDP) and fails with EADDRINUSE
/// when none is free (`__inet_bind()`, net/ipv4/af_inet.c).
fn ports_exhausted_on_bind(root: &Root) -> String {
    let tcp = PortUse::read(root, Proto::Tcp);
    let udp = PortUse::read(root, Proto::Udp);
    bind_ports_text(&tcp, &udp)
}

fn bind_ports_text(tcp: &PortUse, udp: &PortUse) -> String {
    let (Some(budget), Some(range_text)) = (&tcp.budget, &tcp.range_text) else {
        return "bind() to port 0 found no free port in net.ipv4.ip_local_port_range (which \
                could not be read)"
            .to_owned();
    };
    let tcp_held = tcp.holders.as_ref().map_or_else(
        || "TCP sockets could not be listed".to_owned(),
        |records| {
            let all: Vec<&SocketRecord> = records.iter().collect();
            if all.is_empty() {
                "no TCP socket".to_owned()
            } else {
                format!("{} TCP socket(s) ({})", all.len(), states_text(&all))
            }
        },
    );
    // UDP has no states worth naming: sock_diag reports unconnected ones as CLOSE.
    let udp_held = udp.holders.as_ref().map_or_else(
        || "UDP sockets could not be listed".to_owned(),
        |records| format!("{} UDP socket(s)", records.len()),
    );
    format!(
        "bind() to port 0 found no free port: {}, and right now {tcp_held} and {udp_held} \
         hold ports inside it. bind() to port 0 picks a port of that range that no other socket holds and fails \
         with EADDRINUSE when none is free (inet_csk_get_port() in \
         net/ipv4/inet_connection_sock.c, __inet_bind() in net/ipv4/af_inet.c). Close idle \
         sockets or widen the range",
        range_sentence(budget, range_text)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::time::Duration;

    use crate::sys::error::*;

    #[test]
    fn os_text_shows_kernel_text_and_errno_name() {
        let error = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(os_text(&error), "Address already in use (EADDRINUSE)");
        assert_eq!(errno_name(&error).as_deref(), Some("EADDRINUSE"));
    }

    #[test]
    fn would_block_becomes_a_named_timeout() {
        let error = io::Error::from_raw_os_error(libc::EAGAIN);
        let err = SysError::io_step("accepting the client", error, Duration::from_millis(250));
        assert!(
            err.to_string().starts_with(&format!(
                "accepting the client: no answer within 250ms: {NO_ANSWER_CAUSES}"
            )),
            "{err}"
        );
    }

    #[test]
    fn a_diagnosis_keeps_the_errno_and_can_be_taken_off() {
        let err = SysError::Connect {
            addr: "127.0.0.1:9".parse().unwrap(),
            error: io::Error::from_raw_os_error(libc::EMFILE),
        }
        .diagnosed();
        assert!(matches!(err, SysError::Diagnosed { .. }), "{err}");
        assert_eq!(err.errno(), Some(Errno::EMFILE));
        assert!(err.to_string().starts_with(
            "connecting to 127.0.0.1:9: Too many open files (EMFILE): this process reached its \
             open-file limit, RLIMIT_NOFILE = "
        ));
        assert!(matches!(err.undiagnosed(), SysError::Connect { .. }));
        // An errno sockdoc has nothing to add to stays as it was.
        let err = SysError::Connect {
            addr: "127.0.0.1:9".parse().unwrap(),
            error: io::Error::from_raw_os_error(libc::ECONNREFUSED),
        }
        .diagnosed();
        assert!(matches!(err, SysError::Connect { .. }));
    }

    #[test]
    fn a_refusal_is_put_on_a_firewall_only_where_nothing_else_can_refuse() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        // Somebody else's port may simply be closed; sockdoc's own listener is not.
        assert_eq!(diagnose(Op::Connect(addr), Errno::ECONNREFUSED), None);
        let own = diagnose(Op::ConnectOwn(addr), Errno::ECONNREFUSED).unwrap();
        assert!(own.contains("reject with tcp reset"), "{own}");
        let sent = diagnose(Op::Send(addr), Errno::EPERM).unwrap();
        assert!(
            sent.starts_with("a firewall rule in the OUTPUT path"),
            "{sent}"
        );
        // A dropped SYN never gives EPERM (tcp_connect() retries it), so connect()'s EPERM
        // is not put on a firewall drop.
        for op in [Op::Connect(addr), Op::ConnectOwn(addr)] {
            let denied = diagnose(op, Errno::EPERM).unwrap();
            assert!(
                denied.contains("cgroup BPF program on connect()"),
                "{denied}"
            );
        }
        // The other diagnoses read the same for sockdoc's own listener.
        assert_eq!(
            diagnose(Op::ConnectOwn(addr), Errno::EMFILE),
            diagnose(Op::Connect(addr), Errno::EMFILE)
        );
    }

    #[test]
    fn a_diagnosed_timeout_leads_with_the_cause_read_on_this_host() {
        let err = SysError::Diagnosed {
            error: Box::new(SysError::Timeout {
                step: "connecting".into(),
                timeout: Duration::from_millis(300),
            }),
            diagnosis: LO_DOWN_DROPS.into(),
        };
        assert_eq!(
            err.to_string(),
            format!("connecting: no answer within 300ms: {LO_DOWN_DROPS}")
        );
    }

    #[test]
    fn the_fd_limit_says_which_limit_to_raise() {
        let text = fd_limit_text(Some((5, 5)));
        assert!(text.contains("RLIMIT_NOFILE = 5 (hard limit 5"), "{text}");
        assert!(text.contains("raise both as root"), "{text}");
        let text = fd_limit_text(Some((64, 4096)));
        assert!(text.contains("`ulimit -n 4096`"), "{text}");
    }

    #[test]
    fn an_unreachable_loopback_names_lo_only_when_it_is_down() {
        let addr: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert!(unreachable_loopback_text(addr, Some(false)).contains("ip link set lo up"));
        let up = unreachable_loopback_text(addr, Some(true));
        assert!(
            up.starts_with("lo is up") && up.contains("ip route get 127.0.0.1"),
            "{up}"
        );
    }

    fn knobs(lo: &str, all: &str) -> Ipv6Knobs {
        Ipv6Knobs {
            lo: Some(lo.into()),
            all: Some(all.into()),
            default: Some(all.into()),
        }
    }

    #[test]
    fn ipv6_on_lo_names_the_knob_that_is_set() {
        let addr: SocketAddr = "[::1]:0".parse().unwrap();
        let lo_down = ipv6_loopback_text(addr, Some(false), &knobs("0", "0")).unwrap();
        assert!(lo_down.contains("lo is down"), "{lo_down}");
        assert_eq!(ipv6_loopback_text(addr, Some(true), &knobs("0", "0")), None);
        let only_lo = ipv6_loopback_text(addr, Some(true), &knobs("1", "0")).unwrap();
        assert!(
            only_lo.contains("net.ipv6.conf.lo.disable_ipv6 = 1 (all = 0, default = 0)"),
            "{only_lo}"
        );
        let all = ipv6_loopback_text(addr, Some(true), &knobs("1", "1")).unwrap();
        assert!(all.contains("net.ipv6.conf.all.disable_ipv6 = 1;"), "{all}");
    }

    fn record(state: TcpState, local: &str, remote: &str) -> SocketRecord {
        SocketRecord {
            proto: Proto::Tcp,
            state,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            recv_q: 0,
            send_q: 0,
            timer: None,
            expires: None,
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

    fn two_ports(holders: Vec<SocketRecord>) -> PortUse {
        let range: ports::PortRange = "40000 40001".parse().unwrap();
        PortUse {
            budget: Some(Budget::new(range, &ports::ReservedPorts::default())),
            range_text: Some("40000 40001".into()),
            holders: Some(holders),
        }
    }

    #[test]
    fn used_up_ports_are_counted_toward_the_destination() {
        let dest: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let usage = two_ports(vec![
            record(TcpState::Listen, "127.0.0.1:40001", "0.0.0.0:0"),
            record(TcpState::TimeWait, "127.0.0.1:40000", "127.0.0.1:40001"),
            // An IPv4-mapped peer of a dual-stack socket is the same destination.
            record(
                TcpState::Established,
                "[::ffff:127.0.0.1]:40000",
                "[::ffff:127.0.0.1]:40001",
            ),
            record(TcpState::Established, "127.0.0.1:40000", "127.0.0.1:5000"),
        ]);
        let text = connect_ports_text(dest, &usage);
        assert!(text.contains("40000 40001 gives 2 ports"), "{text}");
        assert!(
            text.contains("2 connection(s) to 127.0.0.1:40001 hold a port from it (1 ESTABLISHED, 1 TIME_WAIT)"),
            "{text}"
        );
        assert!(text.contains("1 listening socket(s)"), "{text}");
        assert!(text.contains("TCP_TIMEWAIT_LEN"), "{text}");
        let unlisted = PortUse {
            holders: None,
            ..two_ports(Vec::new())
        };
        assert!(connect_ports_text(dest, &unlisted).contains("could not be listed"));
    }

    #[test]
    fn a_bind_to_port_zero_counts_both_protocols() {
        let tcp = two_ports(vec![
            record(TcpState::Listen, "127.0.0.1:40000", "0.0.0.0:0"),
            record(TcpState::Established, "127.0.0.1:40001", "127.0.0.1:40000"),
        ]);
        let udp = two_ports(Vec::new());
        let text = bind_ports_text(&tcp, &udp);
        assert!(
            text.contains("2 TCP socket(s) (1 ESTABLISHED, 1 LISTEN) and 0 UDP socket(s)"),
            "{text}"
        );
    }
}
