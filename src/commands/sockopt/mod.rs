//! `sockdoc sockopt`: open a socket, apply the requested options, read every option back
//! from the kernel and explain each difference between what was asked and what the kernel
//! applied; or, with `--defaults`, show what socket(2), socket2 and std leave set.
//!
//! Each difference is checked against what Linux documents (socket(7), tcp(7), ip(7),
//! net/core/sock.c), computed from live inputs: net.core.rmem_max / wmem_max read from
//! /proc/sys, the buffer floors and the jiffy measured on probe sockets. A difference the
//! rules explain is `adjusted` (exit 0); one they do not is a `mismatch` (exit 1); an option
//! the kernel refused is `refused` (exit 3: the socket could not be set up as asked).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use serde::Serialize;
use socket2::Socket;

use super::{Context, VERSION};
use crate::cli::{self, SockoptArgs};
use crate::exit::{Exit, UsageError};
use crate::sys::SysError;
use crate::sys::error::os_text;
use crate::sys::fs::Root;
use crate::sys::socket::{self as sock, ReuseFlags};
use crate::sys::sockopt::{
    self as opts, Applies, BUFFER_CLAMP, BUFFER_DOUBLING, C_INT_MAX, Kind, MAX_TCP_KEEPCNT,
    MAX_TCP_KEEPIDLE, MAX_TCP_WINDOW, Opt, SocketKind, TCP_CA_NAME_MAX, TCP_MIN_MSS, Value,
};
use crate::sys::sysctl;
use crate::units::micros;

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct SockoptReport {
    pub command: &'static str,
    pub sockdoc_version: &'static str,
    /// `set` (apply and read back) or `defaults` (the side-by-side table).
    pub mode: ReportMode,
    /// The socket whose options are listed (set mode); null with --defaults.
    pub socket: Option<SocketInfo>,
    /// The kernel limits the explanations rest on, read or measured during this run.
    pub limits: Limits,
    /// Every option that exists on the socket, requested or not, as read back.
    pub options: Vec<OptionRow>,
    /// With --defaults: each option on each kind of socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defaults: Option<Vec<DefaultsRow>>,
    /// Requested options whose applied value Linux does not explain, or --defaults facts
    /// that did not hold (each also in a row's note).
    pub mismatches: u32,
    /// Requested options the kernel refused.
    pub refused: u32,
    pub verdict: String,
    pub notes: Vec<String>,
    pub elapsed_us: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportMode {
    Set,
    Defaults,
}

#[derive(Debug, Serialize)]
pub struct SocketInfo {
    /// `tcp` or `udp`.
    pub proto: &'static str,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    pub stage: Stage,
    pub local: Option<String>,
    pub peer: Option<String>,
    /// The peer is a loopback socket sockdoc opened for this run (`--connect` without ADDR).
    pub peer_is_sockdoc: bool,
}

/// How far the socket got before its options were read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Created, options set, nothing else.
    Unbound,
    /// Bound to loopback (UDP `--listen`: UDP has no listen(2)).
    Bound,
    Listening,
    Connected,
}

#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// net.core.rmem_max: the cap on SO_RCVBUF requests; null when unreadable.
    pub rmem_max: Option<u64>,
    /// net.core.wmem_max: the cap on SO_SNDBUF requests; null when unreadable.
    pub wmem_max: Option<u64>,
    /// SOCK_MIN_RCVBUF, measured (a request of 0 reads back as the floor).
    pub rcvbuf_min: u64,
    /// SOCK_MIN_SNDBUF, measured.
    pub sndbuf_min: u64,
    /// One jiffy, the unit SO_RCVTIMEO / SO_SNDTIMEO are kept in, measured.
    pub jiffy_us: u64,
    /// The kernel's timer frequency (CONFIG_HZ) that jiffy implies.
    pub hz: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OptionRow {
    /// sockdoc's name, as typed after `--set`.
    pub name: &'static str,
    /// The kernel's name (SO_RCVBUF, TCP_NODELAY, …).
    pub kernel: &'static str,
    /// The man page that documents it, e.g. `socket(7)`.
    pub man: &'static str,
    pub unit: Unit,
    /// What `--set` asked for, in canonical form; null when not requested.
    pub requested: Option<String>,
    /// What the kernel reports now.
    pub applied: String,
    /// `requested` and `applied` in microseconds for durations (null otherwise, or for
    /// "none" / "off").
    pub requested_us: Option<u64>,
    pub applied_us: Option<u64>,
    /// `requested` and `applied` in bytes for buffer sizes (null otherwise).
    pub requested_bytes: Option<u64>,
    pub applied_bytes: Option<u64>,
    pub status: Status,
    /// Why applied differs from requested, or what to know about the option; null when
    /// there is nothing to say.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Bool,
    Bytes,
    Duration,
    Count,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not requested: the value the socket has by default at this stage.
    Default,
    /// Applied exactly as requested.
    AsRequested,
    /// Applied differently, as Linux documents (the note says which rule).
    Adjusted,
    /// The kernel refused the setsockopt (the note has the errno and the accepted range).
    Refused,
    /// Applied differently from what Linux documents.
    Mismatch,
    /// The kernel would not report it.
    Unreadable,
}

#[derive(Debug, Clone, Serialize)]
pub struct DefaultsRow {
    pub name: &'static str,
    pub kernel: &'static str,
    /// A bare socket(2), no flags.
    pub socket: String,
    /// socket2 `Socket::new` (unbound).
    pub socket2: String,
    /// `std::net::TcpListener::bind` on loopback (listening).
    pub std_listener: String,
    /// `std::net::TcpStream::connect_timeout` to that listener (connected).
    pub std_stream: String,
    /// The stream the std listener accepted (inherits from the listener).
    pub std_accepted: String,
    /// What the values measure.
    pub unit: Unit,
    /// For byte and duration options, each column as an integer with the unit in the key,
    /// beside its display string: `socket_bytes` … `std_accepted_bytes`, or `socket_us` …
    /// `std_accepted_us` (null for none, off or unreadable). Absent for other options.
    #[serde(flatten)]
    pub figures: serde_json::Map<String, serde_json::Value>,
    /// Why the columns differ; null when they agree.
    pub note: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Parsing --set
// ---------------------------------------------------------------------------------------

/// One parsed `--set OPTION=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub opt: Opt,
    pub value: Value,
    /// As typed, for messages.
    pub text: String,
}

/// Parses one `--set` value. Names are sockdoc's (`rcvbuf`) or the kernel's (`SO_RCVBUF`),
/// in any case, with `-` or `_`.
pub fn parse_set(text: &str) -> Result<Request, UsageError> {
    let Some((name, raw)) = text.split_once('=') else {
        return Err(UsageError(format!(
            "--set {text}: expected OPTION=VALUE, e.g. rcvbuf=256K; options: {}",
            option_names()
        )));
    };
    let opt = lookup(name).ok_or_else(|| {
        UsageError(format!(
            "--set {text}: unknown option {:?}; options: {} (kernel names such as SO_RCVBUF \
             work too)",
            name.trim(),
            option_names()
        ))
    })?;
    let value = parse_value(opt, raw.trim())
        .map_err(|expected| UsageError(format!("--set {text}: {} takes {expected}", opt.name())))?;
    Ok(Request {
        opt,
        value,
        text: text.to_string(),
    })
}

/// The option called `name`: sockdoc's name or the kernel's, case-insensitive.
pub fn lookup(name: &str) -> Option<Opt> {
    let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
    Opt::ALL.into_iter().find(|opt| {
        let info = opt.info();
        let kernel = |k: &str| k.to_ascii_lowercase().replace('_', "-");
        info.name == wanted
            || kernel(info.kernel) == wanted
            || info.kernel_v6.is_some_and(|k| kernel(k) == wanted)
    })
}

/// Every option name, comma-separated, for usage messages.
pub fn option_names() -> String {
    Opt::ALL.map(Opt::name).join(", ")
}

/// The long help of `--set`: every option with its kernel name and the values it takes,
/// generated from the option table so the help lists exactly what `parse_set` accepts.
pub fn set_help() -> String {
    let mut help = String::from(
        "OPTION=VALUE to set before bind/connect, repeatable. OPTION is sockdoc's name or the \
         kernel's (rcvbuf or SO_RCVBUF, any case, - or _):\n",
    );
    for opt in Opt::ALL {
        let info = opt.info();
        let kernel = info.kernel;
        let only = match info.applies {
            Applies::Any => "",
            Applies::Tcp => " (TCP)",
            Applies::Udp => " (UDP)",
            Applies::Ipv6 => " (-6)",
        };
        let (form, _) = value_form(opt);
        let _ = write!(help, "\n  {:<18} {kernel:<16} {form}{only}", info.name);
    }
    help.push_str(
        "\n\nSizes take K, M, G (K = 1024); durations are humantime (500ms, 2s, 1m). Each \
         row of the report says what the kernel applied and why it differs.",
    );
    help
}

/// What `parse_value` accepts for `opt`, for the help, and an example it accepts.
pub fn value_form(opt: Opt) -> (String, &'static str) {
    match (opt, opt.info().kind) {
        (_, Kind::Bool) => ("on|off".into(), "on"),
        (_, Kind::Bytes) => ("size: 256K, 8M (at most 2G - 1)".into(), "256K"),
        (Opt::UserTimeout, Kind::Timeout) => {
            ("duration in ms: 30s, 500ms; off = default".into(), "30s")
        }
        (_, Kind::Timeout) => ("duration: 2s, 500ms; none = no timeout".into(), "2s"),
        (_, Kind::Linger) => ("off, or whole seconds: 0s = close with RST".into(), "0s"),
        (_, Kind::Seconds) => (format!("whole seconds: 1s to {MAX_TCP_KEEPIDLE}s"), "60s"),
        // do_ip_setsockopt (net/ipv4/ip_sockglue.c) takes 1..=255, do_ipv6_setsockopt
        // (net/ipv6/ipv6_sockglue.c) 0..=255; 0 still parses, to show the refusal.
        (Opt::Ttl, Kind::Count) => (
            "hops: 1 to 255; -6: IPV6_UNICAST_HOPS, 0 to 255".into(),
            "64",
        ),
        (Opt::MaxSeg, Kind::Count) => (format!("bytes: {TCP_MIN_MSS} to {MAX_TCP_WINDOW}"), "1400"),
        (Opt::KeepCount, Kind::Count) => (format!("probes: 1 to {MAX_TCP_KEEPCNT}"), "5"),
        (_, Kind::Count) => ("a whole number".into(), "1"),
        (_, Kind::Text) => ("name: see tcp_available_congestion_control".into(), "reno"),
    }
}

fn parse_value(opt: Opt, raw: &str) -> Result<Value, String> {
    let kind = opt.info().kind;
    match kind {
        Kind::Bool => parse_bool(raw)
            .map(Value::Bool)
            .ok_or_else(|| "on or off (also true/false, yes/no, 1/0)".to_string()),
        Kind::Bytes => parse_size(raw).map(Value::Bytes).ok_or_else(|| {
            format!("a size in bytes such as 65536, 256K or 8M (at most {C_INT_MAX}, a C int)")
        }),
        Kind::Timeout => {
            let expected = || {
                if opt == Opt::UserTimeout {
                    "a duration such as 30s or 500ms (whole milliseconds), or off".to_string()
                } else {
                    "a duration such as 2s or 500ms, or none (0s also means no timeout)".to_string()
                }
            };
            if matches!(raw.to_ascii_lowercase().as_str(), "none" | "off") {
                return Ok(Value::Duration(None));
            }
            let duration = humantime::parse_duration(raw).map_err(|_| expected())?;
            if opt == Opt::UserTimeout && duration.as_millis() > u128::from(u32::MAX) {
                return Err(expected());
            }
            Ok(Value::Duration(Some(duration)))
        }
        Kind::Linger => {
            let expected = || {
                format!(
                    "off, or a duration in whole seconds such as 0s (close with RST) or 5s \
                     (at most {C_INT_MAX}s)"
                )
            };
            if raw.eq_ignore_ascii_case("off") {
                return Ok(Value::Duration(None));
            }
            let duration = humantime::parse_duration(raw).map_err(|_| expected())?;
            if duration.as_secs() > C_INT_MAX {
                return Err(expected());
            }
            Ok(Value::Duration(Some(duration)))
        }
        Kind::Seconds => {
            let expected = || {
                format!("a duration in whole seconds such as 60s or 2m (1s..{MAX_TCP_KEEPIDLE}s)")
            };
            let duration = humantime::parse_duration(raw).map_err(|_| expected())?;
            if duration.as_secs() > C_INT_MAX {
                return Err(expected());
            }
            Ok(Value::Duration(Some(duration)))
        }
        Kind::Count => {
            let (max, expected) = match opt {
                Opt::Ttl => (255, "a hop count from 0 to 255, e.g. 64".to_string()),
                Opt::MaxSeg => (
                    C_INT_MAX,
                    format!("a segment size in bytes, {TCP_MIN_MSS}..{MAX_TCP_WINDOW}, e.g. 1400"),
                ),
                Opt::KeepCount => (
                    C_INT_MAX,
                    format!("a number of probes, 1..{MAX_TCP_KEEPCNT}, e.g. 5"),
                ),
                _ => (C_INT_MAX, "a whole number".to_string()),
            };
            raw.parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .and_then(|n| i64::try_from(n).ok())
                .map(Value::Count)
                .ok_or(expected)
        }
        Kind::Text => {
            let valid = !raw.is_empty()
                && raw.len() < TCP_CA_NAME_MAX
                && raw.bytes().all(|b| b.is_ascii_graphic());
            if valid {
                Ok(Value::Text(raw.to_string()))
            } else {
                Err(format!(
                    "a congestion-control algorithm name of at most {} characters, such as \
                     cubic or bbr (see net.ipv4.tcp_available_congestion_control)",
                    TCP_CA_NAME_MAX - 1
                ))
            }
        }
    }
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// `65536`, `64K`, `8M`, `1G` (K = 1024; `KB`, `KiB` and lowercase accepted), at most a
/// C int.
pub fn parse_size(raw: &str) -> Option<u64> {
    // The one size grammar every flag shares (cli::parse_size), capped at a C int.
    cli::parse_size(raw).ok().filter(|size| *size <= C_INT_MAX)
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

/// Where `--connect` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A loopback socket sockdoc opens.
    Itself,
    Addr(SocketAddr),
}

pub fn run(args: &SockoptArgs, ctx: &Context) -> anyhow::Result<(SockoptReport, Exit)> {
    let started = Instant::now();
    if args.defaults {
        return run_defaults(args, ctx, started);
    }
    let (kind, target) = socket_kind(args)?;
    let requests = parse_requests(&args.set, kind)?;

    let mut notes = Vec::new();
    if kind.ipv6 && !args.ipv6 {
        notes.push("An IPv6 socket, because the --connect address is IPv6.".into());
    }
    let limits = measure_limits(kind, &mut notes).map_err(|e| family_hint(e, kind))?;

    let socket = opts::new_socket(kind)?;
    let set_results: Vec<_> = requests
        .iter()
        .map(|request| opts::set(&socket, request.opt, &request.value, kind.ipv6))
        .collect();
    // The peer sockdoc opens lives until the options have been read.
    let (stage, own_peer) = advance(&socket, kind, args.listen, target, ctx, &mut notes)?;
    let socket_info = SocketInfo {
        proto: if kind.udp { "udp" } else { "tcp" },
        family: if kind.ipv6 { "ipv6" } else { "ipv4" },
        stage,
        local: (stage != Stage::Unbound)
            .then(|| sock::local_addr(&socket).map(|a| a.to_string()))
            .transpose()?,
        peer: (stage == Stage::Connected)
            .then(|| peer_addr(&socket))
            .transpose()?,
        peer_is_sockdoc: own_peer.is_some(),
    };

    let env = Env {
        limits: &limits,
        stage,
        ipv6: kind.ipv6,
        udp: kind.udp,
    };
    let rows: Vec<OptionRow> = Opt::ALL
        .into_iter()
        .filter(|o| o.applies_to(kind))
        .map(|opt| {
            let requested = requests
                .iter()
                .position(|r| r.opt == opt)
                .map(|i| (&requests[i], &set_results[i]));
            option_row(&socket, opt, requested, &env)
        })
        .collect();
    // The socket first, then sockdoc's peer: the peer's listener aborts the connection it
    // never accepted (RST), so nothing is left in TIME_WAIT. A real server at ADDR closes
    // gracefully instead, and this side keeps TIME_WAIT for TCP_TIMEWAIT_LEN (60 s).
    drop(socket);
    drop(own_peer);
    notes.extend(closing_note(target, kind, &requests));

    let mismatches = count(&rows, Status::Mismatch);
    let refused = count(&rows, Status::Refused);
    let verdict = set_verdict(requests.len(), mismatches, refused, &rows);
    notes.push(format!(
        "Made with socket2's Socket::new ({}), which passes SOCK_CLOEXEC and sets no option; \
         each --set is applied before bind/connect. Exit codes: 1 when an applied value differs \
         from what Linux documents, 3 when the kernel refused a requested option.",
        kind.label()
    ));
    let exit = if refused > 0 {
        Exit::CannotRun
    } else if mismatches > 0 {
        Exit::Finding
    } else {
        Exit::Clean
    };
    let report = SockoptReport {
        command: "sockopt",
        sockdoc_version: VERSION,
        mode: ReportMode::Set,
        socket: Some(socket_info),
        limits,
        options: rows,
        defaults: None,
        mismatches,
        refused,
        verdict,
        notes,
        elapsed_us: micros(started.elapsed()),
    };
    Ok((report, exit))
}

/// TCP or UDP from the flags; IPv6 with -6 or when the --connect address is IPv6.
fn socket_kind(args: &SockoptArgs) -> Result<(SocketKind, Option<Target>), UsageError> {
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

/// Takes the socket as far as asked: bound and listening on loopback, connected, or left
/// as it is. Returns the stage reached and the peer sockdoc opened, if any.
fn advance(
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

/// What closing a connection to a real server left behind.
fn closing_note(target: Option<Target>, kind: SocketKind, requests: &[Request]) -> Option<String> {
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

fn count(rows: &[OptionRow], status: Status) -> u32 {
    rows.iter().filter(|r| r.status == status).count() as u32
}

fn set_verdict(requested: usize, mismatches: u32, refused: u32, rows: &[OptionRow]) -> String {
    if requested == 0 {
        return "No --set given: these are the options a fresh socket has at this stage.".into();
    }
    let adjusted = count(rows, Status::Adjusted);
    let names = |status| {
        rows.iter()
            .filter(|r| r.status == status)
            .map(|r| r.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut verdict = String::new();
    if refused > 0 {
        let _ = write!(
            verdict,
            "The kernel refused {} (see why): the socket is not set up as asked. ",
            names(Status::Refused)
        );
    }
    if mismatches > 0 {
        let _ = write!(
            verdict,
            "{} applied differently from what Linux documents. ",
            names(Status::Mismatch)
        );
    }
    if refused == 0 && mismatches == 0 {
        let _ = match requested {
            1 => write!(verdict, "The requested option applied as Linux documents"),
            2 => write!(verdict, "Both requested options applied as Linux documents"),
            n => write!(
                verdict,
                "All {n} requested options applied as Linux documents"
            ),
        };
        if adjusted > 0 {
            let _ = write!(
                verdict,
                "; the kernel adjusted {} (see why)",
                names(Status::Adjusted)
            );
        }
        verdict.push('.');
    }
    verdict.trim_end().to_string()
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

/// Parses every `--set`, then checks each option exists on this kind of socket and is
/// given once.
fn parse_requests(texts: &[String], kind: SocketKind) -> Result<Vec<Request>, UsageError> {
    let mut requests: Vec<Request> = Vec::new();
    let mut seen = HashSet::new();
    for text in texts {
        let request = parse_set(text)?;
        if !seen.insert(request.opt) {
            let first = requests
                .iter()
                .find(|r| r.opt == request.opt)
                .map_or("", |r| r.text.as_str());
            return Err(UsageError(format!(
                "--set {text}: {} is already set by --set {first}; give each option once",
                request.opt.name()
            )));
        }
        check_applies(&request, kind)?;
        requests.push(request);
    }
    Ok(requests)
}

fn check_applies(request: &Request, kind: SocketKind) -> Result<(), UsageError> {
    let opt = request.opt;
    if opt.applies_to(kind) {
        return Ok(());
    }
    let kernel = opt.kernel_name(kind.ipv6);
    let why = match opt.info().applies {
        opts::Applies::Tcp => format!(
            "{kernel} is a TCP option and this is a UDP socket (--udp): the kernel answers \
             ENOPROTOOPT; drop --udp, or use one of"
        ),
        opts::Applies::Udp => {
            format!("{kernel} is for datagram sockets (socket(7)); add --udp, or use one of")
        }
        opts::Applies::Ipv6 => {
            format!("{kernel} exists on IPv6 sockets only (ipv6(7)); add -6, or use one of")
        }
        opts::Applies::Any => unreachable!("applies to every socket"),
    };
    let valid: Vec<_> = Opt::ALL
        .into_iter()
        .filter(|o| o.applies_to(kind))
        .map(Opt::name)
        .collect();
    Err(UsageError(format!(
        "--set {}: {why} the options of a {} socket: {}",
        request.text,
        kind.label(),
        valid.join(", ")
    )))
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

fn peer_addr(socket: &Socket) -> Result<String, SysError> {
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

/// The first socket of a run fails with EAFNOSUPPORT when the kernel has no IPv6 (booted
/// with ipv6.disable=1, or built without it): say so, and what to do.
fn family_hint(error: anyhow::Error, kind: SocketKind) -> anyhow::Error {
    let no_family = error
        .downcast_ref::<SysError>()
        .and_then(SysError::errno)
        .is_some_and(|errno| errno == nix::errno::Errno::EAFNOSUPPORT);
    if no_family && kind.ipv6 {
        error.context(
            "this kernel has no IPv6 sockets; run without -6 (and without an IPv6 --connect \
             address)",
        )
    } else {
        error
    }
}

/// Reads the sysctl caps and measures the floors and the jiffy on probe sockets.
fn measure_limits(kind: SocketKind, notes: &mut Vec<String>) -> anyhow::Result<Limits> {
    let root = &Root::live();
    let mut read_cap = |key: &str| -> Option<u64> {
        let value = sysctl::read_knob(root, key)
            .value()
            .map(str::to_owned)
            .and_then(|v| v.parse().ok());
        if value.is_none() {
            notes.push(format!(
                "{key} is unreadable here: buffer sizes are explained without its cap."
            ));
        }
        value
    };
    let rmem_max = read_cap("net.core.rmem_max");
    let wmem_max = read_cap("net.core.wmem_max");
    let (rcvbuf_min, sndbuf_min) = opts::measure_buffer_floors(kind)?;
    let jiffy = opts::measure_jiffy(kind)?;
    let jiffy_us = micros(jiffy).max(1);
    Ok(Limits {
        rmem_max,
        wmem_max,
        rcvbuf_min,
        sndbuf_min,
        jiffy_us,
        hz: (1_000_000 + jiffy_us / 2) / jiffy_us,
    })
}

// ---------------------------------------------------------------------------------------
// What Linux documents for a request, and the row
// ---------------------------------------------------------------------------------------

/// What the explanations depend on.
struct Env<'a> {
    limits: &'a Limits,
    stage: Stage,
    ipv6: bool,
    udp: bool,
}

/// What the kernel should report after a request, by the documented rules.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Exactly(Value),
    /// TCP_MAXSEG once connected: the MSS in use, never above the request.
    AtMost(i64),
    /// TCP_QUICKACK: any value, the kernel changes it on its own.
    Anything,
}

/// The documented outcome of a request, with the rule that explains a difference (and
/// caveats worth knowing even when there is none).
struct Expectation {
    expect: Expect,
    /// Why the applied value may differ from the request.
    rule: Option<String>,
    /// Something to know even when the value is exactly as requested.
    caveat: Option<String>,
    /// The kernel always transforms this value (SO_RCVBUF doubling), so even an applied
    /// value equal to the request went through the rule.
    transforms: bool,
}

impl Expectation {
    fn exactly(value: Value) -> Self {
        Self {
            expect: Expect::Exactly(value),
            rule: None,
            caveat: None,
            transforms: false,
        }
    }

    fn with_caveat(self, caveat: impl Into<String>) -> Self {
        Self {
            caveat: Some(caveat.into()),
            ..self
        }
    }
}

fn expectation(opt: Opt, requested: &Value, env: &Env) -> Expectation {
    match (opt, requested) {
        (Opt::RcvBuf, Value::Bytes(size)) => buffer_expectation(
            *size,
            env.limits.rmem_max,
            env.limits.rcvbuf_min,
            "net.core.rmem_max",
            "SO_RCVBUFFORCE",
            "SOCK_MIN_RCVBUF",
        ),
        (Opt::SndBuf, Value::Bytes(size)) => buffer_expectation(
            *size,
            env.limits.wmem_max,
            env.limits.sndbuf_min,
            "net.core.wmem_max",
            "SO_SNDBUFFORCE",
            "SOCK_MIN_SNDBUF",
        ),
        (Opt::RecvTimeout | Opt::SendTimeout, Value::Duration(timeout)) => {
            timeout_expectation(opt, *timeout, env.limits)
        }
        (Opt::Linger, Value::Duration(Some(linger))) => {
            let expectation = whole_seconds(
                *linger,
                "SO_LINGER counts whole seconds (struct linger's l_linger is an int, socket(7))",
            );
            if linger.as_secs() == 0 {
                expectation.with_caveat(
                    "linger 0: close() aborts with RST instead of FIN (TcpExtTCPAbortOnData), \
                     skips TIME_WAIT and drops unsent data; the peer sees ECONNRESET. close() \
                     with unread received data sends RST even without linger \
                     (TcpExtTCPAbortOnClose), and shutdown() ignores linger and sends FIN \
                     (__tcp_close(), tcp_shutdown(), net/ipv4/tcp.c)",
                )
            } else {
                expectation
            }
        }
        (Opt::KeepIdle | Opt::KeepInterval, Value::Duration(Some(time))) => whole_seconds(
            *time,
            &format!(
                "{} counts whole seconds (tcp(7))",
                opt.kernel_name(env.ipv6)
            ),
        ),
        (Opt::UserTimeout, Value::Duration(timeout)) => user_timeout_expectation(*timeout),
        (Opt::KeepAlive, Value::Bool(true)) => {
            Expectation::exactly(Value::Bool(true)).with_caveat(if env.udp {
                "UDP accepts SO_KEEPALIVE and ignores it: only TCP sends keepalive probes"
            } else {
                "probes start only after keepalive-idle (TCP_KEEPIDLE) of silence, 2 hours \
                 unless set (net.ipv4.tcp_keepalive_time)"
            })
        }
        (Opt::QuickAck, _) => Expectation {
            expect: Expect::Anything,
            ..Expectation::exactly(requested.clone())
        }
        .with_caveat(format!(
            "TCP_QUICKACK is not permanent (tcp(7)): the read shows the current mode, which the \
             kernel leaves and re-enters on its own as ACKs are sent and data arrives{}; set it \
             again after each read if you need it",
            match env.stage {
                Stage::Connected => ", and a new connection starts in quick-ACK mode",
                Stage::Listening => ", and listen() starts over in quick-ACK mode",
                Stage::Unbound | Stage::Bound => "",
            }
        )),
        (Opt::MaxSeg, Value::Count(mss)) if env.stage == Stage::Connected => Expectation {
            expect: Expect::AtMost(*mss),
            rule: Some(
                "once connected TCP_MAXSEG reads the MSS in use (tcp(7)): at most the value \
                 set, less TCP options (12 bytes of timestamps), the peer's MSS and half the \
                 largest window it offered"
                    .into(),
            ),
            ..Expectation::exactly(requested.clone())
        },
        (Opt::Cloexec, Value::Bool(false)) => Expectation::exactly(Value::Bool(false)).with_caveat(
            "without FD_CLOEXEC the socket stays open in every program this process exec()s",
        ),
        _ => Expectation::exactly(requested.clone()),
    }
}

/// Options the kernel keeps in whole seconds: sockdoc sends the seconds, the rest is lost.
fn whole_seconds(requested: Duration, rule: &str) -> Expectation {
    let whole = Duration::from_secs(requested.as_secs());
    Expectation {
        rule: (whole != requested).then(|| {
            format!(
                "{rule}: {} was sent as {}",
                show_duration(requested),
                show_duration(whole)
            )
        }),
        ..Expectation::exactly(Value::Duration(Some(whole)))
    }
}

/// TCP_USER_TIMEOUT: whole milliseconds; 0 restores the default (tcp(7)).
fn user_timeout_expectation(timeout: Option<Duration>) -> Expectation {
    let millis = timeout.map_or(0, |t| t.as_millis());
    let kept = Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX));
    let expectation = Expectation {
        rule: timeout.filter(|t| *t != kept).map(|t| {
            format!(
                "TCP_USER_TIMEOUT counts whole milliseconds (tcp(7)): {} was sent as {}",
                show_duration(t),
                if kept.is_zero() {
                    "0, which means the system default".to_string()
                } else {
                    show_duration(kept)
                }
            )
        }),
        ..Expectation::exactly(Value::Duration((!kept.is_zero()).then_some(kept)))
    };
    if kept.is_zero() {
        expectation.with_caveat(
            "0 restores the system default: give up after net.ipv4.tcp_retries2 retransmissions \
             (tcp(7))",
        )
    } else {
        expectation
    }
}

/// SO_RCVBUF / SO_SNDBUF: capped by the sysctl, clamped to INT_MAX / 2, doubled, raised to
/// the floor (`__sock_set_rcvbuf`, `SO_SNDBUF` in net/core/sock.c).
fn buffer_expectation(
    size: u64,
    cap: Option<u64>,
    floor: u64,
    cap_name: &str,
    force_name: &str,
    floor_name: &str,
) -> Expectation {
    let capped = cap.map_or(size, |cap| size.min(cap));
    let doubled = capped.min(BUFFER_CLAMP) * BUFFER_DOUBLING;
    let applied = doubled.max(floor);
    let doubling = format!(
        "doubled by the kernel for its bookkeeping overhead (socket(7)): 2 × {capped} = {doubled}"
    );
    let mut rule = match cap {
        Some(cap) if size > cap => format!(
            "capped at {cap_name} = {cap} (raise it, or use {force_name} with CAP_NET_ADMIN), \
             then {doubling}"
        ),
        _ => doubling,
    };
    if applied > doubled {
        let _ = write!(
            rule,
            ", then raised to the kernel's minimum {floor_name} = {floor} bytes (measured)"
        );
    }
    if let Some(cap) = cap.filter(|cap| size <= *cap) {
        let _ = write!(rule, "; the {cap_name} cap ({cap}) did not apply");
    }
    Expectation {
        expect: Expect::Exactly(Value::Bytes(applied)),
        rule: Some(rule),
        caveat: None,
        transforms: true,
    }
}

/// SO_RCVTIMEO / SO_SNDTIMEO: a timeval, stored in jiffies rounded up, read back as a
/// timeval; zero means no timeout (`sock_set_timeout` / `sock_get_timeout`,
/// net/core/sock.c).
fn timeout_expectation(opt: Opt, timeout: Option<Duration>, limits: &Limits) -> Expectation {
    let Some(timeout) = timeout.filter(|t| !t.is_zero()) else {
        return Expectation {
            expect: Expect::Exactly(Value::Duration(None)),
            rule: None,
            caveat: Some(
                "0 or none means no timeout: calls block until they finish (socket(7))".into(),
            ),
            transforms: false,
        };
    };
    // The timeval socket2 sends: whole seconds and microseconds.
    let secs = u128::from(timeout.as_secs());
    let usec = u128::from(timeout.subsec_micros());
    if secs == 0 && usec == 0 {
        return Expectation {
            expect: Expect::Exactly(Value::Duration(None)),
            rule: Some(format!(
                "a timeval carries microseconds: {} became 0, which means no timeout",
                show_duration(timeout)
            )),
            caveat: None,
            transforms: false,
        };
    }
    let hz = u128::from(limits.hz.max(1));
    let usec_per_jiffy = 1_000_000 / hz;
    // MAX_SCHEDULE_TIMEOUT is LONG_MAX jiffies: anything that long means "forever".
    let forever = secs >= i64::MAX as u128 / hz - 1;
    let expected = if forever {
        None
    } else {
        let jiffies = secs * hz + usec.div_ceil(usec_per_jiffy);
        let read_usec = (jiffies % hz) * 1_000_000 / hz;
        Some(Duration::from_secs((jiffies / hz) as u64) + Duration::from_micros(read_usec as u64))
    };
    let rule = if forever {
        format!(
            "longer than the kernel can count in jiffies: {} stores it as no timeout",
            opt.kernel_name(false)
        )
    } else {
        format!(
            "{} is kept in jiffies, rounded up: {} → {} (HZ = {} on this kernel, measured: 1 \
             jiffy = {})",
            opt.kernel_name(false),
            show_duration(timeout),
            expected.map_or_else(|| "none".into(), show_duration),
            limits.hz,
            show_duration(Duration::from_micros(limits.jiffy_us))
        )
    };
    Expectation {
        expect: Expect::Exactly(Value::Duration(expected)),
        rule: Some(rule),
        caveat: None,
        transforms: false,
    }
}

/// A hint for a refused request: what the kernel accepts.
fn refusal_hint(opt: Opt, errno: Option<i32>, ipv6: bool) -> Option<String> {
    let root = &Root::live();
    let sysctl = |key: &str| {
        sysctl::read_knob(root, key)
            .value()
            .map_or_else(|| "unreadable".into(), str::to_owned)
    };
    match (opt, errno) {
        (Opt::MaxSeg, Some(libc::EINVAL)) => Some(format!(
            "TCP_MAXSEG accepts 0 or {TCP_MIN_MSS}..{MAX_TCP_WINDOW} (TCP_MIN_MSS..MAX_TCP_WINDOW)"
        )),
        (Opt::KeepIdle | Opt::KeepInterval, Some(libc::EINVAL)) => {
            Some(format!("it accepts 1..{MAX_TCP_KEEPIDLE} whole seconds"))
        }
        (Opt::KeepCount, Some(libc::EINVAL)) => {
            Some(format!("TCP_KEEPCNT accepts 1..{MAX_TCP_KEEPCNT} probes"))
        }
        (Opt::Ttl, Some(libc::EINVAL)) if !ipv6 => Some("IP_TTL accepts 1..255 (ip(7))".into()),
        (Opt::UserTimeout, Some(libc::EINVAL)) => {
            Some("TCP_USER_TIMEOUT takes milliseconds that fit a C int (about 24.8 days)".into())
        }
        (Opt::Congestion, Some(libc::ENOENT)) => Some(format!(
            "no such algorithm: net.ipv4.tcp_available_congestion_control = {} (a module may \
             need loading)",
            sysctl("net.ipv4.tcp_available_congestion_control")
        )),
        (Opt::Congestion, Some(libc::EPERM)) => Some(format!(
            "without CAP_NET_ADMIN only net.ipv4.tcp_allowed_congestion_control = {} may be set",
            sysctl("net.ipv4.tcp_allowed_congestion_control")
        )),
        _ => None,
    }
}

/// One option's row: read back, compared with the request and the documented rules.
fn option_row(
    socket: &impl AsFd,
    opt: Opt,
    requested: Option<(&Request, &Result<(), SysError>)>,
    env: &Env,
) -> OptionRow {
    let info = opt.info();
    let applied = opts::get(socket, opt, env.ipv6);
    let mut row = OptionRow {
        name: info.name,
        kernel: opt.kernel_name(env.ipv6),
        man: info.man,
        unit: unit(info.kind),
        requested: requested.map(|(r, _)| show(opt, &r.value)),
        applied: match &applied {
            Ok(value) => show(opt, value),
            Err(error) => format!("unreadable: {}", error_text(error)),
        },
        requested_us: requested.and_then(|(r, _)| duration_us(&r.value)),
        applied_us: applied.as_ref().ok().and_then(duration_us),
        requested_bytes: requested.and_then(|(r, _)| bytes(&r.value)),
        applied_bytes: applied.as_ref().ok().and_then(bytes),
        status: Status::Default,
        note: None,
    };
    let Ok(applied) = applied else {
        row.status = Status::Unreadable;
        return row;
    };
    let Some((request, set_result)) = requested else {
        return row;
    };
    if let Err(error) = set_result {
        row.status = Status::Refused;
        let errno = error.errno().map(|e| e as i32);
        let mut note = format!("the kernel refused it: {}", error_text(error));
        if let Some(hint) = refusal_hint(opt, errno, env.ipv6) {
            let _ = write!(note, "; {hint}");
        }
        let _ = write!(note, "; it stays {}", row.applied);
        row.note = Some(note);
        return row;
    }
    let Expectation {
        expect,
        rule,
        caveat,
        transforms,
    } = expectation(opt, &request.value, env);
    let explained = match &expect {
        Expect::Exactly(value) => *value == applied,
        Expect::AtMost(max) => matches!(applied, Value::Count(n) if n <= *max),
        Expect::Anything => true,
    };
    let same = !transforms && same_value(opt, &request.value, &applied);
    row.status = match (explained, same) {
        (true, true) => Status::AsRequested,
        (true, false) => Status::Adjusted,
        (false, _) => Status::Mismatch,
    };
    row.note = match row.status {
        Status::AsRequested => caveat,
        Status::Adjusted => Some(join_notes(rule, caveat)),
        _ => {
            let expected = match &expect {
                Expect::Exactly(value) => show(opt, value),
                Expect::AtMost(max) => format!("at most {max}"),
                Expect::Anything => unreachable!("anything is explained"),
            };
            let mut note = format!(
                "MISMATCH: Linux documents {expected} here, the kernel reports {}",
                row.applied
            );
            if let Some(rule) = rule {
                let _ = write!(note, " ({rule})");
            }
            Some(note)
        }
    };
    row
}

fn join_notes(rule: Option<String>, caveat: Option<String>) -> String {
    match (rule, caveat) {
        (Some(rule), Some(caveat)) => format!("{rule}. {caveat}"),
        (Some(text), None) | (None, Some(text)) => text,
        (None, None) => "the kernel adjusted the value".into(),
    }
}

/// Whether the kernel's value is the request itself (0 and "none" are the same timeout).
fn same_value(opt: Opt, requested: &Value, applied: &Value) -> bool {
    let zero_is_none = matches!(opt, Opt::RecvTimeout | Opt::SendTimeout | Opt::UserTimeout);
    match (requested, applied) {
        (Value::Duration(Some(d)), Value::Duration(None)) if zero_is_none => d.is_zero(),
        _ => requested == applied,
    }
}

fn unit(kind: Kind) -> Unit {
    match kind {
        Kind::Bool => Unit::Bool,
        Kind::Bytes => Unit::Bytes,
        Kind::Timeout | Kind::Linger | Kind::Seconds => Unit::Duration,
        Kind::Count => Unit::Count,
        Kind::Text => Unit::Text,
    }
}

/// A value as reports show it: `on`/`off`, bytes, humantime durations, `none`.
pub fn show(opt: Opt, value: &Value) -> String {
    match value {
        Value::Bool(on) => if *on { "on" } else { "off" }.into(),
        Value::Bytes(n) => n.to_string(),
        Value::Count(n) => n.to_string(),
        Value::Text(text) => text.clone(),
        Value::Duration(Some(d)) => show_duration(*d),
        Value::Duration(None) => match opt {
            Opt::RecvTimeout | Opt::SendTimeout => "none".into(),
            _ => "off".into(),
        },
    }
}

fn show_duration(d: Duration) -> String {
    if d.is_zero() {
        "0s".into()
    } else {
        humantime::format_duration(d).to_string()
    }
}

fn duration_us(value: &Value) -> Option<u64> {
    match value {
        Value::Duration(Some(d)) => Some(micros(*d)),
        _ => None,
    }
}

fn bytes(value: &Value) -> Option<u64> {
    match value {
        Value::Bytes(n) => Some(*n),
        _ => None,
    }
}

/// A SysError's text without the "setting X on the socket" prefix the row already implies.
fn error_text(error: &SysError) -> String {
    match error {
        SysError::SetOption { error, .. } | SysError::GetOption { error, .. } => os_text(error),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// --defaults
// ---------------------------------------------------------------------------------------

fn run_defaults(
    args: &SockoptArgs,
    ctx: &Context,
    started: Instant,
) -> anyhow::Result<(SockoptReport, Exit)> {
    let kind = SocketKind {
        udp: false,
        ipv6: args.ipv6,
    };
    let mut notes = Vec::new();
    let limits = measure_limits(kind, &mut notes).map_err(|e| family_hint(e, kind))?;
    let options: Vec<Opt> = Opt::ALL
        .into_iter()
        .filter(|o| o.applies_to(kind))
        .collect();
    let (columns, listen_addr) = measure_defaults(kind, &options, ctx.timeout)?;

    let mut rows: Vec<DefaultsRow> = options
        .iter()
        .enumerate()
        .map(|(i, &opt)| {
            let text = |column: usize| reading_text(opt, &columns[column][i]);
            let mut row = DefaultsRow {
                name: opt.name(),
                kernel: opt.kernel_name(kind.ipv6),
                socket: text(0),
                socket2: text(1),
                std_listener: text(2),
                std_stream: text(3),
                std_accepted: text(4),
                unit: unit(opt.info().kind),
                figures: figures(opt, columns.each_ref().map(|column| &column[i])),
                note: None,
            };
            row.note = defaults_note(opt, &row);
            row
        })
        .collect();
    let findings = check_documented_defaults(&mut rows);

    notes.push(format!(
        "Columns: socket(2) = a bare socket() with no flags; socket2 = Socket::new (unbound); \
         std listener = TcpListener::bind({listen_addr}) (listening); std stream = \
         TcpStream::connect_timeout to it (connected); std accepted = the stream the listener \
         accepted. All {}.",
        kind.label()
    ));
    let verdict = if findings.is_empty() {
        "As documented: socket2 adds only FD_CLOEXEC (SOCK_CLOEXEC) to a bare socket(2), and \
         std's TcpListener::bind sets SO_REUSEADDR, which the sockets it accepts inherit."
            .to_string()
    } else {
        findings.join(" ")
    };
    let mismatches = findings.len() as u32;
    let report = SockoptReport {
        command: "sockopt",
        sockdoc_version: VERSION,
        mode: ReportMode::Defaults,
        socket: None,
        limits,
        options: Vec::new(),
        defaults: Some(rows),
        mismatches,
        refused: 0,
        verdict,
        notes,
        elapsed_us: micros(started.elapsed()),
    };
    let exit = if mismatches > 0 {
        Exit::Finding
    } else {
        Exit::Clean
    };
    Ok((report, exit))
}

/// The --defaults column names, in column order, as the JSON figure keys spell them.
const DEFAULTS_COLUMNS: [&str; 5] = [
    "socket",
    "socket2",
    "std_listener",
    "std_stream",
    "std_accepted",
];

/// One option read from one socket: the value, or why it could not be read.
type Reading = Result<Value, String>;

fn reading_text(opt: Opt, reading: &Reading) -> String {
    match reading {
        Ok(value) => show(opt, value),
        Err(error) => format!("unreadable: {error}"),
    }
}

/// The integer figures of one --defaults row (see `DefaultsRow::figures`).
fn figures(opt: Opt, readings: [&Reading; 5]) -> serde_json::Map<String, serde_json::Value> {
    let (suffix, integer): (&str, fn(&Value) -> Option<u64>) = match unit(opt.info().kind) {
        Unit::Bytes => ("bytes", bytes),
        Unit::Duration => ("us", duration_us),
        _ => return serde_json::Map::new(),
    };
    DEFAULTS_COLUMNS
        .iter()
        .zip(readings)
        .map(|(column, reading)| {
            let figure = reading.as_ref().ok().and_then(integer);
            (format!("{column}_{suffix}"), figure.into())
        })
        .collect()
}

/// Reads `options` from a bare socket(2), a socket2 socket, a std listener, a std stream
/// connected to it and the stream it accepted, in that column order; each socket is read
/// before anything else touches it. Returns the columns and the listener's address.
fn measure_defaults(
    kind: SocketKind,
    options: &[Opt],
    timeout: Duration,
) -> anyhow::Result<([Vec<Reading>; 5], SocketAddr)> {
    let loopback = if kind.ipv6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    let read_all = |socket: &dyn AsFd| -> Vec<Reading> {
        options
            .iter()
            .map(|&opt| opts::get(&socket.as_fd(), opt, kind.ipv6).map_err(|e| error_text(&e)))
            .collect()
    };
    let plain = opts::plain_socket(kind)?;
    let socket2 = opts::new_socket(kind)?;
    let listener = opts::std_listener_as_is(SocketAddr::new(loopback, 0))?;
    let listen_addr = sock::local_addr(&listener)?;
    let plain_values = read_all(&plain);
    let socket2_values = read_all(&socket2);
    let listener_values = read_all(&listener);
    let stream = opts::std_stream_as_is(listen_addr, timeout)?;
    let stream_values = read_all(&stream);
    let accepted = opts::accept_bounded(
        &listener,
        timeout,
        "accepting the std stream's connection on the std listener",
    )?;
    let accepted_values = read_all(&accepted);
    // Everything is read: the accepted side resets the connection (SO_LINGER 0) so that
    // neither end is left in TIME_WAIT.
    opts::set(
        &accepted,
        Opt::Linger,
        &Value::Duration(Some(Duration::ZERO)),
        kind.ipv6,
    )?;
    Ok((
        [
            plain_values,
            socket2_values,
            listener_values,
            stream_values,
            accepted_values,
        ],
        listen_addr,
    ))
}

/// What sockdoc's design documents (design doc, "Kernel facts"): socket2 adds SOCK_CLOEXEC
/// and nothing else; std's TcpListener::bind sets SO_REUSEADDR. Each row that disagrees gets
/// a MISMATCH note; the findings are returned.
fn check_documented_defaults(rows: &mut [DefaultsRow]) -> Vec<String> {
    let mut findings = Vec::new();
    for row in rows {
        let text = if row.name == "reuseaddr" && row.std_listener != "on" {
            "MISMATCH: std's TcpListener::bind is documented to set SO_REUSEADDR on Unix, but \
             the listener reads it off"
                .to_string()
        } else {
            let socket2_as_documented = match row.name {
                "cloexec" => row.socket2 == "on",
                name if DEPENDS_ON_STAGE.contains(&name) => true,
                _ => row.socket2 == row.socket,
            };
            if socket2_as_documented {
                continue;
            }
            format!(
                "MISMATCH: socket2's Socket::new is documented to set nothing but SOCK_CLOEXEC, \
                 yet {} reads {} on it and {} on a bare socket(2)",
                row.kernel, row.socket2, row.socket
            )
        };
        row.note = Some(match row.note.take() {
            Some(note) => format!("{text}. {note}"),
            None => text.clone(),
        });
        findings.push(text);
    }
    findings
}

/// Options whose value changes with the socket's stage (listening, connected), so columns
/// may differ for that reason alone.
const DEPENDS_ON_STAGE: &[&str] = &["rcvbuf", "sndbuf", "mss", "quickack"];

/// Why the columns of one --defaults row differ, from the measured values.
fn defaults_note(opt: Opt, row: &DefaultsRow) -> Option<String> {
    let columns = [
        ("socket(2)", &row.socket),
        ("socket2", &row.socket2),
        ("std listener", &row.std_listener),
        ("std stream", &row.std_stream),
        ("std accepted", &row.std_accepted),
    ];
    let mut values: Vec<&String> = Vec::new();
    for (_, value) in columns {
        if !values.contains(&value) {
            values.push(value);
        }
    }
    if values.len() < 2 {
        return None;
    }
    let groups: Vec<String> = values
        .iter()
        .map(|value| {
            let who: Vec<&str> = columns
                .iter()
                .filter(|(_, v)| v == value)
                .map(|(name, _)| *name)
                .collect();
            format!("{value}: {}", who.join(", "))
        })
        .collect();
    let why = match opt {
        Opt::ReuseAddr => {
            "std's TcpListener::bind sets SO_REUSEADDR before bind on Unix so a restarted \
             server can bind over TIME_WAIT; accepted sockets inherit it from the listener; \
             socket2 and socket(2) leave it off"
        }
        Opt::Cloexec => {
            "socket2 and std pass SOCK_CLOEXEC (and accept4 SOCK_CLOEXEC); a bare socket(2) \
             leaves the fd open across exec()"
        }
        Opt::RcvBuf | Opt::SndBuf => {
            "TCP sizes a socket's buffers from net.ipv4.tcp_rmem / tcp_wmem and grows them \
             once connected (autotuning), unless SO_RCVBUF / SO_SNDBUF locked them"
        }
        Opt::MaxSeg => {
            "before connect TCP_MAXSEG reads the default MSS (536, TCP_MSS_DEFAULT); once \
             connected it reads the MSS in use: the route's MTU less headers and TCP options, \
             and at most half the largest window the peer offered (tcp_bound_to_half_wnd)"
        }
        Opt::QuickAck => {
            "TCP_QUICKACK reads the current quick-ACK mode, which the kernel switches on its \
             own (tcp(7))"
        }
        _ => "",
    };
    let mut note = groups.join("; ");
    if !why.is_empty() {
        let _ = write!(note, ". {why}");
    }
    Some(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            rmem_max: Some(212_992),
            wmem_max: Some(212_992),
            rcvbuf_min: 2304,
            sndbuf_min: 4608,
            jiffy_us: 4000,
            hz: 250,
        }
    }

    fn expect(opt: Opt, value: &Value, stage: Stage) -> Expect {
        let limits = limits();
        let env = Env {
            limits: &limits,
            stage,
            ipv6: false,
            udp: false,
        };
        expectation(opt, value, &env).expect
    }

    #[test]
    fn sizes_take_binary_suffixes_up_to_a_c_int() {
        assert_eq!(parse_size("65536"), Some(65_536));
        assert_eq!(parse_size("256K"), Some(262_144));
        assert_eq!(parse_size("256k"), Some(262_144));
        assert_eq!(parse_size("8M"), Some(8 << 20));
        assert_eq!(parse_size("1KiB"), Some(1024));
        assert_eq!(parse_size("1kb"), Some(1024));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("2G"), None, "over INT_MAX");
        assert_eq!(parse_size("K"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("1.5M"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn names_match_sockdoc_and_kernel_spellings() {
        assert_eq!(lookup("rcvbuf"), Some(Opt::RcvBuf));
        assert_eq!(lookup("SO_RCVBUF"), Some(Opt::RcvBuf));
        assert_eq!(lookup("recv_timeout"), Some(Opt::RecvTimeout));
        assert_eq!(lookup("ipv6_unicast_hops"), Some(Opt::Ttl));
        assert_eq!(lookup("tcp_nodelay"), Some(Opt::NoDelay));
        assert_eq!(lookup("nagle"), None);
    }

    #[test]
    fn usage_errors_name_the_value_and_the_choices() {
        let err = parse_set("nagle=on").unwrap_err().0;
        assert!(
            err.contains("--set nagle=on") && err.contains("rcvbuf, sndbuf"),
            "{err}"
        );
        let err = parse_set("rcvbuf=lots").unwrap_err().0;
        assert!(
            err.contains("--set rcvbuf=lots") && err.contains("256K"),
            "{err}"
        );
        let err = parse_set("nodelay").unwrap_err().0;
        assert!(err.contains("OPTION=VALUE"), "{err}");
        let err = parse_set("nodelay=maybe").unwrap_err().0;
        assert!(err.contains("on or off"), "{err}");
        let err = parse_set("ttl=256").unwrap_err().0;
        assert!(err.contains("0 to 255"), "{err}");
    }

    #[test]
    fn values_parse_to_their_kinds() {
        let value = |text: &str| parse_set(text).unwrap().value;
        assert_eq!(value("nodelay=TRUE"), Value::Bool(true));
        assert_eq!(value("reuseaddr=0"), Value::Bool(false));
        assert_eq!(value("linger=off"), Value::Duration(None));
        assert_eq!(value("linger=0s"), Value::Duration(Some(Duration::ZERO)));
        assert_eq!(
            value("recv-timeout=2s"),
            Value::Duration(Some(Duration::from_secs(2)))
        );
        assert_eq!(value("send-timeout=none"), Value::Duration(None));
        assert_eq!(value("congestion=cubic"), Value::Text("cubic".into()));
        assert_eq!(value("mss=1400"), Value::Count(1400));
    }

    #[test]
    fn buffers_are_capped_then_doubled_then_floored() {
        let bytes = |n| Value::Bytes(n);
        assert_eq!(
            expect(Opt::RcvBuf, &bytes(65_536), Stage::Unbound),
            Expect::Exactly(bytes(131_072))
        );
        assert_eq!(
            expect(Opt::RcvBuf, &bytes(1 << 20), Stage::Unbound),
            Expect::Exactly(bytes(2 * 212_992))
        );
        assert_eq!(
            expect(Opt::RcvBuf, &bytes(1), Stage::Unbound),
            Expect::Exactly(bytes(2304))
        );
        assert_eq!(
            expect(Opt::SndBuf, &bytes(1000), Stage::Unbound),
            Expect::Exactly(bytes(4608))
        );
    }

    #[test]
    fn timeouts_round_up_to_jiffies() {
        let timeout = |d: Option<Duration>| Value::Duration(d);
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(
            expect(Opt::RecvTimeout, &timeout(ms(1)), Stage::Unbound),
            Expect::Exactly(timeout(ms(4)))
        );
        assert_eq!(
            expect(Opt::RecvTimeout, &timeout(ms(2000)), Stage::Unbound),
            Expect::Exactly(timeout(ms(2000)))
        );
        assert_eq!(
            expect(Opt::SendTimeout, &timeout(ms(1001)), Stage::Unbound),
            Expect::Exactly(timeout(ms(1004)))
        );
        assert_eq!(
            expect(
                Opt::RecvTimeout,
                &timeout(Some(Duration::ZERO)),
                Stage::Unbound
            ),
            Expect::Exactly(timeout(None))
        );
        assert_eq!(
            expect(
                Opt::RecvTimeout,
                &timeout(Some(Duration::from_nanos(500))),
                Stage::Unbound
            ),
            Expect::Exactly(timeout(None)),
            "a timeval has no nanoseconds"
        );
    }

    #[test]
    fn linger_keeps_whole_seconds_and_mss_shrinks_once_connected() {
        assert_eq!(
            expect(
                Opt::Linger,
                &Value::Duration(Some(Duration::from_millis(1500))),
                Stage::Unbound
            ),
            Expect::Exactly(Value::Duration(Some(Duration::from_secs(1))))
        );
        assert_eq!(
            expect(Opt::MaxSeg, &Value::Count(1000), Stage::Connected),
            Expect::AtMost(1000)
        );
        assert_eq!(
            expect(Opt::MaxSeg, &Value::Count(1000), Stage::Listening),
            Expect::Exactly(Value::Count(1000))
        );
    }

    #[test]
    fn a_value_no_rule_explains_is_a_mismatch() {
        let kind = SocketKind {
            udp: false,
            ipv6: false,
        };
        let socket = opts::new_socket(kind).unwrap();
        let limits = limits();
        let env = Env {
            limits: &limits,
            stage: Stage::Unbound,
            ipv6: false,
            udp: false,
        };
        // The request is never applied, as if the kernel had ignored it: the socket still
        // reads TCP_NODELAY off, which no documented rule explains.
        let request = parse_set("nodelay=on").unwrap();
        let row = option_row(&socket, Opt::NoDelay, Some((&request, &Ok(()))), &env);
        assert_eq!(row.status, Status::Mismatch);
        assert!(row.note.unwrap().contains("Linux documents on"));

        // Applied for real, it matches.
        opts::set(&socket, Opt::NoDelay, &Value::Bool(true), false).unwrap();
        let row = option_row(&socket, Opt::NoDelay, Some((&request, &Ok(()))), &env);
        assert_eq!(row.status, Status::AsRequested);
        assert_eq!(row.note, None);
    }

    #[test]
    fn a_kernel_without_ipv6_gets_a_hint() {
        let error = || {
            anyhow::Error::from(SysError::Socket {
                what: "TCP/IPv6",
                error: std::io::Error::from_raw_os_error(libc::EAFNOSUPPORT),
            })
        };
        let v6 = SocketKind {
            udp: false,
            ipv6: true,
        };
        let text = format!("{:#}", family_hint(error(), v6));
        assert!(
            text.starts_with("this kernel has no IPv6") && text.contains("EAFNOSUPPORT"),
            "{text}"
        );
        let v4 = SocketKind { ipv6: false, ..v6 };
        assert!(!format!("{:#}", family_hint(error(), v4)).contains("no IPv6"));
    }

    #[test]
    fn a_refused_request_keeps_the_errno_and_the_accepted_range() {
        let socket = opts::new_socket(SocketKind {
            udp: false,
            ipv6: false,
        })
        .unwrap();
        let limits = limits();
        let env = Env {
            limits: &limits,
            stage: Stage::Unbound,
            ipv6: false,
            udp: false,
        };
        let request = parse_set("mss=10").unwrap();
        let result = opts::set(&socket, request.opt, &request.value, false);
        let row = option_row(&socket, Opt::MaxSeg, Some((&request, &result)), &env);
        assert_eq!(row.status, Status::Refused);
        let note = row.note.unwrap();
        assert!(note.contains("EINVAL") && note.contains("88"), "{note}");
    }
}
