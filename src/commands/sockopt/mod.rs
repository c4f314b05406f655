//! `sockdoc sockopt`: open a socket, apply the requested options, read every option back
//! from the kernel and explain each difference between what was asked and what the kernel
//! applied; or, with `--defaults`, show what socket(2), socket2 and std leave set.
//!
//! Each difference is checked against what Linux documents (socket(7), tcp(7), ip(7),
//! net/core/sock.c), computed from live inputs: net.core.rmem_max / wmem_max read from
//! /proc/sys, the buffer floors and the jiffy measured on probe sockets. A difference the
//! rules explain is `adjusted` (exit 0); one they do not is a `mismatch` (exit 1); an option
//! the kernel refused is `refused` (exit 3: the socket could not be set up as asked).

mod defaults;
mod request;
mod rules;
mod show;
mod stage;

use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;

pub use request::{Request, lookup, option_names, parse_set, parse_size, set_help, value_form};
pub use show::{Shown, show};

use super::Context;
use crate::commands::args::SockoptArgs;
use crate::exit::Exit;
use crate::sys::SysError;
use crate::sys::fs::Root;
use crate::sys::record::Proto;
use crate::sys::socket as sock;
use crate::sys::sockopt::{self as opts, Opt, SocketKind};
use crate::sys::sysctl;
use crate::units::micros;
use rules::{Env, Knobs, option_row};
use stage::{advance, closing_note, peer_addr, socket_kind};

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct SockoptReport {
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
    pub proto: Proto,
    /// `ipv4` or `ipv6`.
    pub family: Family,
    pub stage: Stage,
    pub local: Option<String>,
    pub peer: Option<String>,
    /// The peer is a loopback socket sockdoc opened for this run (`--connect` without ADDR).
    pub peer_is_sockdoc: bool,
}

/// The address family of the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
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
// The run
// ---------------------------------------------------------------------------------------

pub fn run(args: &SockoptArgs, ctx: &Context) -> anyhow::Result<(SockoptReport, Exit)> {
    let started = Instant::now();
    if args.defaults {
        let kind = SocketKind {
            udp: false,
            ipv6: args.ipv6,
        };
        let mut notes = Vec::new();
        let limits =
            measure_limits(&ctx.root, kind, &mut notes).map_err(|e| family_hint(e, kind))?;
        return defaults::run(args.ipv6, ctx, limits, notes, started);
    }
    let (kind, target) = socket_kind(args)?;
    let requests = &args.set;
    request::check_requests(requests, kind)?;

    let mut notes = Vec::new();
    if kind.ipv6 && !args.ipv6 {
        notes.push("An IPv6 socket, because the --connect address is IPv6.".into());
    }
    let limits = measure_limits(&ctx.root, kind, &mut notes).map_err(|e| family_hint(e, kind))?;
    // Read before the socket is made, so the rules below only compare values.
    let knobs = Knobs::read(&ctx.root);

    let socket = opts::new_socket(kind)?;
    let set_results: Vec<_> = requests
        .iter()
        .map(|request| opts::set(&socket, request.opt, &request.value, kind.ipv6))
        .collect();
    // The peer sockdoc opens lives until the options have been read.
    let (stage, own_peer) = advance(&socket, kind, args.listen, target, ctx, &mut notes)?;
    let socket_info = SocketInfo {
        proto: if kind.udp { Proto::Udp } else { Proto::Tcp },
        family: if kind.ipv6 {
            Family::Ipv6
        } else {
            Family::Ipv4
        },
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
        knobs: &knobs,
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
    notes.extend(closing_note(target, kind, requests));

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
fn measure_limits(
    root: &Root,
    kind: SocketKind,
    notes: &mut Vec<String>,
) -> anyhow::Result<Limits> {
    let mut read_cap = |key: &str| -> Option<u64> {
        let value = sysctl::read_number(root, key);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The caps come from the root the command was given, never from this host directly.
    #[test]
    fn the_buffer_caps_are_read_through_the_root() {
        let root = tempfile::tempdir().unwrap();
        let cap = root.path().join("proc/sys/net/core/rmem_max");
        std::fs::create_dir_all(cap.parent().unwrap()).unwrap();
        std::fs::write(&cap, "65536\n").unwrap();
        let kind = SocketKind {
            udp: false,
            ipv6: false,
        };
        let mut notes = Vec::new();
        let limits = measure_limits(&Root::at(root.path()), kind, &mut notes).unwrap();
        assert_eq!(limits.rmem_max, Some(65_536));
        assert_eq!(limits.wmem_max, None, "absent from the root");
        assert!(
            notes[0].starts_with("net.core.wmem_max is unreadable here"),
            "{notes:?}"
        );
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
}
