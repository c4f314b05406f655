//! The arguments of every command (clap derive), their limits and the value parsers that
//! enforce them: the interface of `commands`, assembled into the command line by `cli`. Each
//! limit says why it is what it is; every byte count goes through [`units::parse_size`] and
//! every duration through [`units::parse_duration_in`], so all flags share one grammar and
//! one kind of error message.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::severity::Level;

use crate::units::{DurationRange, parse_duration_in, parse_size_in};

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

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// One command's page (sockdoc-COMMAND.1) instead of the top page (sockdoc.1)
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
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

/// `nagle`'s measured rounds per mode without `--rounds`.
pub const DEFAULT_ROUNDS: u32 = 100;

/// The same for a mode where every round is expected to stall (Nagle on, no cork or
/// quick-ACK): enough for a p50 and a p90 of the stall.
pub const DEFAULT_STALLING_ROUNDS: u32 = 20;

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

    /// Measured request/response rounds per mode [default: 100; 20 where Nagle's algorithm
    /// is on, since each of those rounds stalls the same delayed-ACK wait (~40 ms) and more of
    /// them add seconds, not information]
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_COUNT)), value_name = "N")]
    pub rounds: Option<u32>,

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

impl NagleArgs {
    /// The measured rounds of a mode: `--rounds`, or its default for a mode that stalls or
    /// not.
    pub fn rounds_for(&self, expects_stall: bool) -> u32 {
        self.rounds.unwrap_or(if expects_stall {
            DEFAULT_STALLING_ROUNDS
        } else {
            DEFAULT_ROUNDS
        })
    }
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

#[derive(Debug, Args)]
pub struct SysctlAdviceArgs {
    /// What this host mostly does; suggested values differ
    #[arg(long, value_enum, default_value_t = Role::Both, value_name = "ROLE")]
    pub role: Role,

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
    /// all; repeat or separate with commas. Without it every state is listed except TCP
    /// sockets bound but not listening, which cost the kernel a second walk: `close` or `all`
    /// lists them
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

/// A socket timeout: `--timeout`, `--recv-timeout`, `--connect-timeout`.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_duration_in(text, SOCKET_TIMEOUT)
}

fn parse_p99_limit(text: &str) -> Result<Duration, String> {
    parse_duration_in(text, P99_LIMIT)
}

/// `--fail-on` (inspect, check, `fail_on` in sockdoc.toml): the least severe finding that
/// makes the exit code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum FailOn {
    /// Any finding, info included
    Info,
    /// `advise` or `warn`
    Advise,
    /// `warn` only (the default)
    Warn,
    /// Never: exit 0 whatever is found (3 still means sockdoc could not look)
    Never,
}

impl FailOn {
    /// The least severe level that fails; `None` for never.
    pub fn threshold(self) -> Option<Level> {
        match self {
            Self::Info => Some(Level::Info),
            Self::Advise => Some(Level::Advise),
            Self::Warn => Some(Level::Warn),
            Self::Never => None,
        }
    }

    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The value its name (`info`, `advise`, `warn`, `never`) stands for.
    pub fn named(name: &str) -> Option<Self> {
        <Self as ValueEnum>::from_str(name, false).ok()
    }
}

/// The longest `--for`: a sampling window longer than this is a monitoring job, not an
/// examination (and almost certainly a typo, `1h` for `1s`).
pub const MAX_SAMPLE_WINDOW: Duration = Duration::from_secs(3600);

/// What `inspect` examines (and `check` inspects): nothing given means the whole host or
/// network namespace.
#[derive(Debug, Clone, Default, Args)]
pub struct Targets {
    /// Sockets on this local port and the processes behind them
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Sockets of this process; repeatable
    #[arg(long, value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pub pid: Vec<u32>,

    /// Sockets of every process with this name (/proc/PID/comm, or the program in its
    /// command line); repeatable
    #[arg(long, value_name = "NAME")]
    pub process: Vec<String>,
}

impl Targets {
    /// Processes were named (`--pid`, `--process`).
    pub fn names_processes(&self) -> bool {
        !self.pid.is_empty() || !self.process.is_empty()
    }
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub targets: Targets,

    /// Sample twice, this long apart, to turn counters into rates (retransmits, accept-queue
    /// overflows, bytes) and see what changes; 0 takes one snapshot
    #[arg(long = "for", allow_hyphen_values = true, default_value = "1s", value_parser = parse_sample_window, value_name = "DURATION")]
    pub sample_for: Duration,

    /// Exit 1 when a finding is at this level or above
    #[arg(long, value_enum, default_value_t = FailOn::Warn, value_name = "LEVEL")]
    pub fail_on: FailOn,

    /// Also list every socket examined (JSON always has them)
    #[arg(long)]
    pub sockets: bool,
}

fn parse_sample_window(text: &str) -> Result<Duration, String> {
    let zero = text.trim() == "0" || humantime::parse_duration(text).is_ok_and(|d| d.is_zero());
    if zero {
        return Ok(Duration::ZERO);
    }
    parse_duration_in(
        text,
        DurationRange {
            min: MIN_TIMEOUT,
            max: MAX_SAMPLE_WINDOW,
            why_min: "the two samples are taken whole milliseconds apart; 0 takes one snapshot",
        },
    )
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Exit 1 when a check fails at this level or above [default: warn, or fail_on in the
    /// config]
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,

    /// Leave out a check: a group (kernel, sysctl, inspect, config), an id, or an id prefix
    /// ending at a dot (kernel.bind); repeat or separate with commas
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub skip: Vec<String>,

    /// Run only these (same names as --skip); repeat or separate with commas
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub only: Vec<String>,

    /// The project's expectations [default: ./sockdoc.toml when it exists]
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    /// Print a commented sockdoc.toml template and exit
    #[arg(long)]
    pub print_config: bool,

    /// What this host mostly does, for the sysctl checks
    #[arg(long, value_enum, default_value_t = Role::Both, value_name = "ROLE")]
    pub role: Role,

    /// The sockets to inspect (default: the whole host)
    #[command(flatten)]
    pub targets: Targets,

    /// Sample the inspected sockets twice, this long apart (rates need it); 0 takes one
    /// snapshot, which keeps the whole check under a second
    #[arg(long = "for", allow_hyphen_values = true, default_value = "0", value_parser = parse_sample_window, value_name = "DURATION")]
    pub sample_for: Duration,
}

mod lab;
pub use lab::*;
