//! Command-line types (clap derive), their value parsers and nothing else, so the whole
//! interface reads in one file. One exception: the `sockopt --set` option list in the help is
//! generated from the option table (`commands::sockopt::set_help`), so the help cannot drift
//! from what `--set` accepts.
//!
//! Every duration flag goes through [`parse_duration_in`] and every byte count through
//! [`parse_size`], so all flags share one grammar and one kind of error message.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The shortest socket timeout accepted (`--timeout`, `--recv-timeout`, `--connect-timeout`).
/// Shorter values cannot be honoured: poll(2) takes whole milliseconds (nix's
/// `PollTimeout::try_from(Duration)` truncates, so 999µs polls for 0 ms and gives up at once),
/// and socket2 hands SO_RCVTIMEO / SO_SNDTIMEO a timeval truncated to microseconds, where
/// {0, 0} means *no timeout at all* (`sock_set_timeout`, net/core/sock.c): `--timeout 999ns`
/// used to block forever on a peer that never answered.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// The longest timeout accepted; anything longer is almost certainly a typo (`5m` for `5ms`).
/// The kernel's own ceiling is far above: `sock_set_timeout` (net/core/sock.c) treats
/// MAX_SCHEDULE_TIMEOUT / HZ - 1 seconds or more as no timeout, and MAX_SCHEDULE_TIMEOUT is
/// LONG_MAX jiffies (include/linux/sched.h), about 24 days even with a 32-bit long at HZ=1000.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// The smallest `--max-p99`: round trips are measured, and compared, in whole microseconds.
pub const MIN_P99_LIMIT: Duration = Duration::from_micros(1);

/// One duration flag's accepted range, and why its minimum is what it is (for the message).
#[derive(Debug, Clone, Copy)]
pub struct DurationRange {
    pub min: Duration,
    pub max: Duration,
    pub why_min: &'static str,
}

/// `--timeout`, `--recv-timeout`, `--connect-timeout`: socket timeouts.
pub const SOCKET_TIMEOUT: DurationRange = DurationRange {
    min: MIN_TIMEOUT,
    max: MAX_TIMEOUT,
    why_min: "poll(2) waits whole milliseconds, and a timeval of {0, 0} in SO_RCVTIMEO means \
              no timeout at all (sock_set_timeout, net/core/sock.c)",
};

/// `--max-p99`: a latency limit.
pub const P99_LIMIT: DurationRange = DurationRange {
    min: MIN_P99_LIMIT,
    max: MAX_TIMEOUT,
    why_min: "round trips are measured in whole microseconds",
};

#[derive(Debug, Parser)]
#[command(
    name = "sockdoc",
    version,
    about = "A doctor for Linux sockets: reproduce the problem on this kernel, name the mechanism, give the fix",
    long_about = "A doctor for Linux sockets.\n\n\
        sockdoc reproduces socket problems with real sockets on this machine's kernel, \
        attributes them to the mechanism that caused them, with evidence, and gives the fix.\n\n\
        Exit codes: 0 ran and found nothing that needs action; 1 found something that needs \
        action (or the kernel disagreed with its documented behaviour); 2 bad usage; \
        3 could not run as asked (port held by a live socket, permission, feature missing).\n\n\
        Output width: COLUMNS when set, else the terminal's width, else 100 columns when piped; \
        --color and NO_COLOR change colour only.",
    arg_required_else_help = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print exactly one JSON document on stdout instead of tables
    #[arg(long, global = true)]
    pub json: bool,

    /// When to colour the output: auto (a terminal, and NO_COLOR unset), always, never
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,

    /// Upper bound for every blocking socket operation (connect, accept, read, write, waits
    /// for a state change), e.g. 500ms, 2s; 1ms to 10m
    #[arg(long, global = true, allow_hyphen_values = true, default_value = "2s", value_parser = parse_timeout, value_name = "DURATION")]
    pub timeout: Duration,

    /// Read /proc and /etc under DIR instead of / (fixture trees, offline analysis); sockets
    /// are always the live kernel's
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: std::path::PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// Colour when stdout is a terminal and NO_COLOR is not set
    Auto,
    /// Always colour, even into a pipe
    Always,
    /// Never colour
    Never,
}

#[derive(Debug, Subcommand, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum Command {
    /// Who holds a port, why bind() fails with "Address already in use", and the fix
    #[command(
        long_about = "Who holds PORT, why bind() fails with \"Address already in use\" (EADDRINUSE), and the fix.\n\n\
            1. Lists every TCP socket on PORT (NETLINK_SOCK_DIAG): state, addresses, timer, uid, owning process. \
            A live socket holding it stops the run (exit 3) without disturbing it. If only TIME_WAIT sockets \
            hold it, two harmless bind() probes (SO_REUSEADDR, SO_REUSEPORT) say which option a new server needs.\n\
            2. Reproduces the restart problem on PORT: a server that closes first leaves TIME_WAIT, and a \
            new bind() without SO_REUSEADDR fails.\n\
            3. Runs the bind-rule matrix (SO_REUSEADDR / SO_REUSEPORT on the old and the new socket, TIME_WAIT \
            vs LISTEN holders, wildcard vs specific address, SO_LINGER 0, client-closes-first, std vs socket2), \
            each trial on its own fresh ephemeral port, and compares every measured outcome with what Linux \
            documents. A disagreement is shown as a mismatch and the exit code is 1.\n\n\
            TIME_WAIT sockets sockdoc creates belong to the kernel and expire on their own, 60 s \
            (TCP_TIMEWAIT_LEN) after the close plus up to a few seconds of timer-wheel rounding; --wait \
            measures it.",
        after_long_help = "Examples:\n  \
            sockdoc reuse-test              # ephemeral port, IPv4 loopback\n  \
            sockdoc reuse-test 8080         # who holds 8080, then reproduce on 8080\n  \
            sockdoc reuse-test --addr ::1   # the same rules over IPv6\n  \
            sockdoc reuse-test --wait       # also measure how long TIME_WAIT really lasts (60 s + rounding)\n  \
            sockdoc reuse-test --json | jq '.trials[] | select(.matches | not)'"
    )]
    ReuseTest(ReuseTestArgs),

    /// The 40 ms Nagle/delayed-ACK stall and "sticky packets", measured and attributed
    #[command(
        long_about = "Reproduces the two small-write problems on this kernel and attributes them.\n\n\
            1. Request/response: the client sends a header and a body as two send() calls, the server \
            replies; with Nagle on, the body waits for the delayed ACK of the header (~40 ms) whenever the \
            server is in pingpong mode: from round 2 on with the default net.ipv4.tcp_pingpong_thresh of 1; \
            with a threshold N, rounds 1 to N are fast and then every Nth round stalls. Every round is \
            judged against that prediction.\n\
            2. Burst: many small writes back to back; counts the segments the sender really sent \
            (TCP_INFO tcpi_data_segs_out), its congestion window before and after, and the reads the \
            receiver needed, then shows that a 4-byte big-endian length prefix recovers every message.\n\
            3. Attribution: TcpExtDelayedACKs and TcpExtTCPAutoCorking deltas, net.ipv4.tcp_autocorking, \
            and the --cork / --quickack variants say which mechanism merged or stalled, and the fix.",
        after_long_help = "Examples:\n  \
            sockdoc nagle                       # Nagle on and off, side by side\n  \
            sockdoc nagle --nodelay off         # just the stall\n  \
            sockdoc nagle --nodelay off --warmup 0 --rounds 5   # round 1 fast, rounds 2-5 stall\n  \
            sockdoc nagle --cork --quickack     # add the TCP_CORK and TCP_QUICKACK variants\n  \
            sockdoc nagle --nodelay on --max-p99 5ms   # CI: fail when p99 exceeds 5 ms\n  \
            sockdoc nagle --port 9000           # fixed port, to follow with tcpdump -i lo port 9000"
    )]
    Nagle(NagleArgs),

    /// TCP sysctl advice for this kernel, backed by live counters; lints sysctl config files
    #[command(
        long_about = "Judges the TIME_WAIT, port, backlog and Nagle sysctls against the running kernel \
            and its live counters, calls out the folklore (tcp_fin_timeout does not shorten TIME_WAIT, \
            tcp_tw_recycle is gone, lowering tcp_max_tw_buckets skips TIME_WAIT's protection), and lints \
            the files `sysctl --system` reads. It never writes to /proc/sys.\n\n\
            Exit codes: 0 nothing at `warn` (with --check: nothing at `advise` or `warn`); 1 a \
            `warn` finding or config problem (with --check: any `advise` or `warn`); 2 bad usage, \
            including a --root that does not exist; 3 nothing to judge: a --root (or a /proc) \
            without proc/sys/net.",
        after_long_help = "Examples:\n  \
            sockdoc sysctl-advice                     # advice for a host that is both client and server\n  \
            sockdoc sysctl-advice --role client       # outbound-heavy: ports and tw_reuse\n  \
            sockdoc sysctl-advice --format conf       # a ready-to-drop /etc/sysctl.d/ snippet\n  \
            sockdoc sysctl-advice --check             # CI: exit 1 on any advise or warn finding\n  \
            sockdoc sysctl-advice --root tests/fixtures/sysctl/old-kernel"
    )]
    SysctlAdvice(SysctlAdviceArgs),

    /// List TCP and UDP sockets with states, timers and owners (ss-grade, explained)
    #[command(
        long_about = "Lists TCP and UDP sockets, IPv4 and IPv6, through NETLINK_SOCK_DIAG (falling back to \
            /proc/net with a note): state, addresses, queues, the pending timer with the time left \
            (TIME_WAIT included), uid (\"-\" where the kernel reports none: TIME_WAIT and SYN_RECV request \
            sockets, inet_twsk_diag_fill() and inet_req_diag_fill() in net/ipv4/inet_diag.c) and the \
            owning process where /proc shows it. Rows are printed as they are read, so hundreds of thousands of sockets stream with flat memory.\n\n\
            --summary counts sockets by state; counts the TIME_WAIT sockets that hold an ephemeral \
            port (local port inside ip_local_port_range: normally a connection this host opened and \
            closed first) per (local address, remote address, remote port) — the unit ports run out in — \
            against the range minus ip_local_reserved_ports, judged as sysctl-advice judges it; \
            lists listeners whose accept queue is filling or full (it holds backlog + 1); and counts \
            CLOSE_WAIT sockets per process against the process's open-files limit, flagging a \
            process that leaves them unclosed.",
        after_long_help = "Examples:\n  \
            sockdoc sockets                          # every TCP and UDP socket\n  \
            sockdoc sockets -t --state time-wait     # TIME_WAIT with the time left\n  \
            sockdoc sockets --listening              # listeners and their processes\n  \
            sockdoc sockets --port 8080 --info       # one port, with rtt, cwnd, retransmits\n  \
            sockdoc sockets --summary                # states, TIME_WAIT, queues, CLOSE_WAIT"
    )]
    Sockets(SocketsArgs),

    /// Open a socket, set options, and read back what the kernel really applied
    #[command(
        long_about = "Opens a socket, applies each --set option, reads every option back from the kernel \
            and shows requested against applied, with the reason when they differ (SO_RCVBUF doubled \
            and capped by net.core.rmem_max, options that are not sticky such as TCP_QUICKACK).\n\n\
            --defaults shows what a plain socket(2), a socket2 Socket and std's TcpListener / \
            TcpStream leave set, measured from real sockets.",
        after_long_help = "Examples:\n  \
            sockdoc sockopt --set rcvbuf=256K --set nodelay=on\n  \
            sockdoc sockopt --listen --set reuseaddr=on --set reuseport=on\n  \
            sockdoc sockopt --connect --set linger=0s --set recv-timeout=2s\n  \
            sockdoc sockopt --udp -6 --set rcvbuf=8M\n  \
            sockdoc sockopt --defaults"
    )]
    Sockopt(SockoptArgs),

    /// Listen backlog overflow: a listener that never accepts, and clients that pile up
    #[command(after_long_help = "Examples:\n  \
        sockdoc backlog                          # backlog 8, 16 clients\n  \
        sockdoc backlog --backlog 2 --clients 5 --json")]
    Backlog(BacklogArgs),

    /// UDP keeps message boundaries, and truncates a datagram larger than the read buffer
    #[command(after_long_help = "Examples:\n  \
        sockdoc udp                              # a 2000-byte datagram into a 1024-byte buffer\n  \
        sockdoc udp --size 9000 --bufsize 512")]
    Udp(UdpArgs),

    /// send() writes less than asked: partial sends, EAGAIN, and the send-all loop
    #[command(
        name = "partial-send",
        after_long_help = "Examples:\n  \
        sockdoc partial-send\n  \
        sockdoc partial-send --bytes 4M --sndbuf 8K"
    )]
    PartialSend(PartialSendArgs),

    /// The peer closes: recv() returns 0, ECONNRESET after an RST, EPIPE on a later write
    #[command(
        name = "peer-close",
        after_long_help = "Examples:\n  \
        sockdoc peer-close\n  \
        sockdoc peer-close --json"
    )]
    PeerClose(ScenarioArgs),

    /// Blocking, non-blocking and timed socket calls: SO_RCVTIMEO, EAGAIN, connect timeouts
    #[command(after_long_help = "Examples:\n  \
        sockdoc timeouts\n  \
        sockdoc timeouts --recv-timeout 50ms --connect-timeout 100ms")]
    Timeouts(TimeoutsArgs),
}

#[derive(Debug, Args)]
pub struct ReuseTestArgs {
    /// Port to inspect and reproduce on; 0 or omitted picks a free ephemeral port
    #[arg(value_name = "PORT", default_value_t = 0)]
    pub port: u16,

    /// Local address to bind, IPv4 or IPv6 (e.g. ::1)
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub addr: IpAddr,

    /// Follow the reproduced TIME_WAIT socket until the kernel drops it and report its real
    /// lifetime next to net.ipv4.tcp_fin_timeout (takes about a minute)
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NodelayMode {
    /// TCP_NODELAY set: Nagle's algorithm off
    On,
    /// TCP_NODELAY clear: Nagle's algorithm on (the kernel default)
    Off,
    /// Both, side by side
    Both,
}

/// The largest `--rounds`, `--warmup` or `--messages`: enough for any percentile, small
/// enough that Nagle's 40 ms stalls cannot turn a run into an hour.
pub const MAX_COUNT: u32 = 10_000;

/// The largest `--size`: a "small write" experiment stops making sense past one loopback MSS.
pub const MAX_WRITE_SIZE: u32 = 65_536;

#[derive(Debug, Args)]
pub struct NagleArgs {
    /// Which Nagle settings to measure
    #[arg(long, value_enum, default_value_t = NodelayMode::Both, value_name = "MODE")]
    pub nodelay: NodelayMode,

    /// Request/response rounds run first and left out of the percentiles (still judged round by
    /// round). With Nagle on and the default net.ipv4.tcp_pingpong_thresh of 1 only round 1 is
    /// fast: the server ACKs requests at once until it has sent that many replies
    /// (tcp_event_data_sent(), net/ipv4/tcp_output.c)
    #[arg(long, allow_negative_numbers = true, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_COUNT)), value_name = "N")]
    pub warmup: u32,

    /// Measured request/response rounds per mode
    #[arg(long, allow_negative_numbers = true, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_COUNT)), value_name = "N")]
    pub rounds: u32,

    /// Writes in the burst experiment
    #[arg(long, allow_negative_numbers = true, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_COUNT)), value_name = "N")]
    pub messages: u32,

    /// Bytes per write in the burst experiment, 1 to 64K (K = 1024)
    #[arg(long, allow_hyphen_values = true, default_value = "8", value_parser = parse_write_size, value_name = "BYTES")]
    pub size: u32,

    /// Also run each mode with TCP_CORK (writes held until uncorked, or 200 ms)
    #[arg(long)]
    pub cork: bool,

    /// Also run each mode with TCP_QUICKACK re-armed after every read on the receiver
    #[arg(long)]
    pub quickack: bool,

    /// Listener port, so an outside capture can follow the run; 0 picks an ephemeral port
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub port: u16,

    /// Loopback address for both ends: 127.0.0.0/8 or ::1
    #[arg(long, default_value = "127.0.0.1", value_parser = parse_loopback, value_name = "ADDR")]
    pub addr: IpAddr,

    /// Exit 1 when any measured round-trip p99 exceeds this (a CI assertion), e.g. 5ms; 1us
    /// to 10m
    #[arg(long, allow_hyphen_values = true, value_parser = parse_p99_limit, value_name = "DURATION")]
    pub max_p99: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Mostly accepts connections: somaxconn, SYN backlog, accept-queue overflows
    Server,
    /// Mostly opens connections: ephemeral ports, tcp_tw_reuse
    Client,
    /// Both (the default)
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdviceFormat {
    /// A table of findings, then the config lint
    Table,
    /// A ready-to-drop /etc/sysctl.d/ snippet, one comment per line
    Conf,
}

#[derive(Debug, Args)]
pub struct SysctlAdviceArgs {
    /// What this host mostly does; suggested values differ
    #[arg(long, value_enum, default_value_t = Role::Both, value_name = "ROLE")]
    pub role: Role,

    /// Output format when --json is not given
    #[arg(long, value_enum, default_value_t = AdviceFormat::Table, value_name = "FORMAT")]
    pub format: AdviceFormat,

    /// Exit 1 when any finding is at `advise` or `warn` (a CI smoke check)
    #[arg(long)]
    pub check: bool,
}

/// A socket state filter for `sockets --state`: the kernel's state names (any case, `_` or
/// `-`) and the groups ss users know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateFilter {
    #[value(alias = "ESTABLISHED")]
    Established,
    #[value(alias = "syn_sent")]
    SynSent,
    #[value(alias = "syn_recv")]
    SynRecv,
    #[value(alias = "fin_wait1", alias = "fin-wait-1")]
    FinWait1,
    #[value(alias = "fin_wait2", alias = "fin-wait-2")]
    FinWait2,
    #[value(alias = "time_wait")]
    TimeWait,
    /// Unconnected UDP, and TCP sockets bound but not listening
    Close,
    #[value(alias = "close_wait")]
    CloseWait,
    #[value(alias = "last_ack")]
    LastAck,
    Listen,
    Closing,
    #[value(alias = "new_syn_recv")]
    NewSynRecv,
    /// Every state except LISTEN and CLOSE (what `ss state connected` means)
    Connected,
    /// Connected, minus SYN_SENT and SYN_RECV
    Synchronized,
    /// Every state
    All,
}

#[derive(Debug, Args)]
pub struct SocketsArgs {
    /// Only these states: kernel names (TIME_WAIT, time-wait…) or connected, synchronized,
    /// all; repeat or separate with commas
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        value_delimiter = ',',
        value_name = "STATE"
    )]
    pub state: Vec<StateFilter>,

    /// Only sockets whose local or remote port is PORT
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// Only listening sockets (TCP LISTEN, unconnected UDP); cannot be combined with --state
    #[arg(short, long, conflicts_with = "state")]
    pub listening: bool,

    /// TCP only
    #[arg(short, long)]
    pub tcp: bool,

    /// UDP only
    #[arg(short, long)]
    pub udp: bool,

    /// IPv4 only
    #[arg(short = '4', long = "ipv4")]
    pub ipv4: bool,

    /// IPv6 only
    #[arg(short = '6', long = "ipv6", conflicts_with = "ipv4")]
    pub ipv6: bool,

    /// Show each TCP socket's tcp_info: rtt, cwnd, retransmits, delivery rate
    #[arg(short, long)]
    pub info: bool,

    /// Skip the owning-process lookup (it reads every /proc/PID/fd; processes of other users
    /// show only to root)
    #[arg(long)]
    pub no_processes: bool,

    /// Counts by state, TIME_WAIT per destination against the port budget, filling accept
    /// queues and CLOSE_WAIT per process, instead of the list
    #[arg(short, long)]
    pub summary: bool,
}

#[derive(Debug, Args)]
pub struct SockoptArgs {
    /// A TCP socket (the default)
    #[arg(long, conflicts_with = "udp")]
    pub tcp: bool,

    /// A UDP socket
    #[arg(long)]
    pub udp: bool,

    /// An IPv6 socket (default IPv4)
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,

    /// Bind to loopback (ephemeral port) and listen before reading back
    #[arg(long, conflicts_with = "connect")]
    pub listen: bool,

    /// Connect before reading back: to ADDR, or without ADDR to a loopback listener sockdoc
    /// opens itself
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "self")]
    pub connect: Option<String>,

    /// OPTION=VALUE to set before bind/connect, repeatable, e.g. rcvbuf=256K, nodelay=on,
    /// linger=0s, recv-timeout=2s; --help lists every option and its values
    #[arg(long = "set", value_name = "OPTION=VALUE", long_help = crate::commands::sockopt::set_help(), value_parser = crate::commands::sockopt::parse_set)]
    pub set: Vec<crate::commands::sockopt::Request>,

    /// What socket(2), socket2 and std leave set, side by side, measured from real sockets
    #[arg(long, conflicts_with_all = ["set", "listen", "connect", "udp"])]
    pub defaults: bool,
}

/// What every scenario command takes.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Loopback address for both ends: 127.0.0.0/8 or ::1
    #[arg(long, default_value = "127.0.0.1", value_parser = parse_loopback, value_name = "ADDR")]
    pub addr: IpAddr,
}

/// The largest listen backlog or client count `backlog` accepts: enough to show the
/// mechanism, small enough to stay far from file-descriptor limits.
pub const MAX_BACKLOG_CLIENTS: u32 = 1024;

#[derive(Debug, Args)]
pub struct BacklogArgs {
    /// The listen() backlog
    #[arg(long, allow_negative_numbers = true, default_value_t = 8, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_BACKLOG_CLIENTS)), value_name = "N")]
    pub backlog: u32,

    /// Clients that try to connect
    #[arg(long, allow_negative_numbers = true, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BACKLOG_CLIENTS)), value_name = "N")]
    pub clients: u32,

    #[command(flatten)]
    pub scenario: ScenarioArgs,
}

/// The largest UDP payload over IPv4: 65535 - 20 (IP header) - 8 (UDP header).
pub const MAX_UDP_PAYLOAD: u32 = 65_507;

#[derive(Debug, Args)]
pub struct UdpArgs {
    /// Size of the datagram that gets truncated, 1 to 65507 bytes (K = 1024)
    #[arg(long, allow_hyphen_values = true, default_value = "2000", value_parser = parse_udp_size, value_name = "BYTES")]
    pub size: u32,

    /// Size of the receiver's read buffer, 1 to 65507 bytes (K = 1024)
    #[arg(long, allow_hyphen_values = true, default_value = "1024", value_parser = parse_udp_size, value_name = "BYTES")]
    pub bufsize: u32,

    #[command(flatten)]
    pub scenario: ScenarioArgs,
}

/// The most `partial-send --bytes` accepts (64 MiB): plenty to overflow any socket buffer.
pub const MAX_PARTIAL_SEND: u64 = 64 << 20;

#[derive(Debug, Args)]
pub struct PartialSendArgs {
    /// Bytes to send, e.g. 1M, 256K; 1 to 64M (K = 1024, M = 1024 K)
    #[arg(long, allow_hyphen_values = true, default_value = "1M", value_parser = parse_partial_send_bytes, value_name = "BYTES")]
    pub bytes: u64,

    /// SO_SNDBUF to ask for on the sender, e.g. 4K; 1 to 1G. The kernel caps the request at
    /// net.core.wmem_max, then doubles it
    #[arg(long, allow_hyphen_values = true, default_value = "4K", value_parser = parse_sndbuf, value_name = "BYTES")]
    pub sndbuf: u64,

    #[command(flatten)]
    pub scenario: ScenarioArgs,
}

#[derive(Debug, Args)]
pub struct TimeoutsArgs {
    /// SO_RCVTIMEO for the blocking recv(); 1ms to 10m
    #[arg(long, allow_hyphen_values = true, default_value = "200ms", value_parser = parse_timeout, value_name = "DURATION")]
    pub recv_timeout: Duration,

    /// Timeout for the connect() that gets no answer; 1ms to 10m
    #[arg(long, allow_hyphen_values = true, default_value = "300ms", value_parser = parse_timeout, value_name = "DURATION")]
    pub connect_timeout: Duration,

    #[command(flatten)]
    pub scenario: ScenarioArgs,
}

/// An address on the loopback interface (127.0.0.0/8 or ::1): the experiments that open
/// listeners and exchange traffic never do so where the network could reach them.
pub fn parse_loopback(text: &str) -> Result<IpAddr, String> {
    let addr: IpAddr = text
        .parse()
        .map_err(|_| format!("'{text}' is not an IP address; write e.g. 127.0.0.1 or ::1"))?;
    if addr.is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "{addr} is not a loopback address: this experiment stays on 127.0.0.0/8 or ::1"
        ))
    }
}

/// The size grammar every byte-count flag shares (and `sockopt --set rcvbuf=…`): a whole
/// number with an optional binary suffix, any case: K = 1024 bytes, M = 1024 K, G = 1024 M
/// (`K`, `KB` and `KiB` all mean 1024, as socket buffer sizes are usually written); `B` or no
/// suffix means bytes. 4096, 64K, 1M, 2MiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let number = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (digits, shift) = match number.char_indices().last() {
        Some((i, 'k')) => (&number[..i], 10),
        Some((i, 'm')) => (&number[..i], 20),
        Some((i, 'g')) => (&number[..i], 30),
        _ => (number, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{text}' is not a size; write a whole number of bytes with an optional K, M or G \
             (K = 1024), e.g. 4096, 64K or 1M"
        ));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|value| value.checked_mul(1 << shift))
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// A size for a flag that accepts `min..=max` bytes.
pub fn parse_size_in(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let value = parse_size(text)?;
    if (min..=max).contains(&value) {
        return Ok(value);
    }
    let text = text.trim();
    let spelled_out = if text == value.to_string() {
        String::new()
    } else {
        format!("; {text} is {value} bytes")
    };
    Err(format!(
        "must be from {} to {} bytes{spelled_out}",
        show_size(min),
        show_size(max)
    ))
}

/// A byte count with its suffixed form where one is exact: `65536 (64K)`, `65507`.
pub fn show_size(bytes: u64) -> String {
    [(30, 'G'), (20, 'M'), (10, 'K')]
        .into_iter()
        .find(|(shift, _)| bytes >= 1 << shift && bytes.is_multiple_of(1 << shift))
        .map_or_else(
            || bytes.to_string(),
            |(shift, suffix)| format!("{bytes} ({}{suffix})", bytes >> shift),
        )
}

fn parse_write_size(text: &str) -> Result<u32, String> {
    parse_size_in(text, 1, MAX_WRITE_SIZE.into()).map(|v| v as u32)
}

fn parse_udp_size(text: &str) -> Result<u32, String> {
    parse_size_in(text, 1, MAX_UDP_PAYLOAD.into()).map(|v| v as u32)
}

fn parse_partial_send_bytes(text: &str) -> Result<u64, String> {
    parse_size_in(text, 1, MAX_PARTIAL_SEND)
}

/// The largest `partial-send --sndbuf` (1G): far above any net.core.wmem_max, which caps it.
pub const MAX_SNDBUF_REQUEST: u64 = 1 << 30;

fn parse_sndbuf(text: &str) -> Result<u64, String> {
    parse_size_in(text, 1, MAX_SNDBUF_REQUEST)
}

/// A humantime duration (500ms, 2s, 1m30s) inside `range`. clap's message around it names
/// the flag and the value; this part says which bound was crossed and why.
pub fn parse_duration_in(text: &str, range: DurationRange) -> Result<Duration, String> {
    let value = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; write a duration such as 500ms, 2s or 1m"))?;
    let show = |d: Duration| humantime::format_duration(d).to_string();
    if value < range.min {
        return Err(format!(
            "{} is below the minimum of {}: {}",
            show(value),
            show(range.min),
            range.why_min
        ));
    }
    if value > range.max {
        return Err(format!(
            "{} is above the maximum of {} (did you mean ms?)",
            show(value),
            show(range.max)
        ));
    }
    Ok(value)
}

/// A socket timeout: `--timeout`, `--recv-timeout`, `--connect-timeout`.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_duration_in(text, SOCKET_TIMEOUT)
}

fn parse_p99_limit(text: &str) -> Result<Duration, String> {
    parse_duration_in(text, P99_LIMIT)
}

impl Command {
    /// The subcommand's name as typed (`reuse-test`), derived like clap's.
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn every_command_name_is_the_one_clap_parses() {
        for sub in Cli::command().get_subcommands() {
            let cli = Cli::try_parse_from(["sockdoc", sub.get_name()])
                .unwrap_or_else(|e| panic!("{}: {e}", sub.get_name()));
            assert_eq!(cli.command.name(), sub.get_name());
        }
    }
}
