//! `sockdoc nagle`: the write-write-read stall (Nagle's algorithm meets the peer's delayed
//! ACK) and "sticky packets" (writes merged on the way), each measured on loopback and
//! attributed from evidence: which rounds stalled, segments actually sent and the sender's
//! congestion window (TCP_INFO), the receiver's reads, and the kernel's DelayedACKs /
//! TCPAutoCorking counters.
//!
//! Mechanisms, as net/ipv4/tcp_output.c, tcp_input.c, tcp_timer.c and tcp.c implement them:
//! - Nagle is Minshall's variant (`tcp_nagle_check()`, `tcp_minshall_check()`): a segment
//!   smaller than the MSS waits while an earlier *small* segment is unacknowledged.
//! - The receiver ACKs a small segment at once unless it is in pingpong mode
//!   (`tcp_in_quickack_mode()`, `__tcp_cleanup_rbuf()`); in pingpong mode the ACK waits for
//!   the delayed-ACK timer, at least TCP_DELACK_MIN (40 ms).
//! - Every reply sent within the receiver's ACK timeout (ato) of a request counts towards
//!   pingpong mode (`tcp_event_data_sent()` → `inet_csk_inc_pingpong_cnt()`); at
//!   net.ipv4.tcp_pingpong_thresh replies it is in pingpong mode
//!   (`inet_csk_in_pingpong_mode()`). The delayed-ACK timer, firing in pingpong mode, resets
//!   the count (`tcp_delack_timer_handler()` → `inet_csk_exit_pingpong_mode()`).
//! - Autocorking (`tcp_autocorking`) merges small writes while earlier packets still wait in
//!   the queue, even with TCP_NODELAY.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use socket2::Socket;

use super::{Context, VERSION};
use crate::cli::{NagleArgs, NodelayMode};
use crate::exit::{Exit, UsageError};
use crate::sys::error::NO_ANSWER_CAUSES;
use crate::sys::fs::Root;
use crate::sys::socket::{self as sock, ReuseFlags};
use crate::sys::sysctl::{self, Knob};
use crate::sys::{SysError, procfs, tcp_info};
use crate::units::{count, human, micros};

/// TCP_DELACK_MIN (include/net/tcp.h): the shortest delayed ACK, HZ/25 = 40 ms.
pub const TCP_DELACK_MIN: Duration = Duration::from_millis(40);

/// TCP_DELACK_MAX (include/net/tcp.h): the longest a delayed ACK is held, HZ/5 = 200 ms.
pub const TCP_DELACK_MAX: Duration = Duration::from_millis(200);

/// A round that takes half the minimum delayed ACK or more was waiting for one: no loopback
/// round trip comes near it otherwise.
const STALL_THRESHOLD: Duration = Duration::from_millis(20);

/// net.ipv4.tcp_pingpong_thresh's default (`tcp_sk_init()`, net/ipv4/tcp_ipv4.c), and the
/// fixed threshold of kernels without the knob: `tcp_event_data_sent()` there enters pingpong
/// mode on the first reply (`inet_csk_enter_pingpong_mode()`, TCP_PINGPONG_THRESH 1 in
/// include/net/inet_connection_sock.h), which counts the same as a threshold of 1.
const DEFAULT_PINGPONG_THRESH: u32 = 1;

/// The thresholds a kernel without the knob may have: 1 (the rule above) or 3, the fixed
/// TCP_PINGPONG_THRESH from commit 4a41f453bedf (2019) until its revert 4d8f24eeedc5 (2022).
/// Without the knob the rounds are judged against whichever of these they fit.
const PINGPONG_THRESH_WITHOUT_KNOB: [u32; 2] = [DEFAULT_PINGPONG_THRESH, 3];

/// The pingpong count is a u8 that stops at U8_MAX (`inet_csk_inc_pingpong_cnt()`).
const PINGPONG_COUNT_MAX: u32 = 255;

/// The request: a small header (the body's length, as a real protocol would send it) and
/// a small body, written with two send() calls; the reply is one small write.
const BODY: &[u8] = b"GET /status HTTP-ish request body";
const REPLY: &[u8] = b"200 OK, small reply";

/// The receiver's read size: large, so one recv() takes whatever has arrived.
const READ_BUF: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct NagleReport {
    pub command: &'static str,
    pub sockdoc_version: &'static str,
    pub address: String,
    pub port: u16,
    /// net.ipv4.tcp_autocorking as the kernel shows it; null when absent.
    pub tcp_autocorking: Option<String>,
    /// net.ipv4.tcp_pingpong_thresh of this network namespace: the replies after which the
    /// receiver delays its ACKs. Null where the kernel has no such knob; the prediction then
    /// uses 1, which is how those kernels count.
    pub tcp_pingpong_thresh: Option<u32>,
    pub modes: Vec<ModeReport>,
    /// Which mechanism stalled the exchange and which merged the writes, with evidence.
    pub attribution: String,
    pub verdict: String,
    pub fix: String,
    /// `--max-p99` in microseconds, when given.
    pub max_p99_us: Option<u64>,
    pub notes: Vec<String>,
    pub elapsed_us: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    pub nodelay: bool,
    pub cork: bool,
    pub quickack: bool,
    pub rtt_p50_us: u64,
    pub rtt_p90_us: u64,
    pub rtt_p99_us: u64,
    pub rtt_max_us: u64,
    pub rtt_min_us: u64,
    pub rounds: u32,
    pub warmup: u32,
    /// Warm-up rounds faster than the stall threshold (20 ms).
    pub warmup_fast_rounds: u32,
    /// Measured rounds (warm-up left out) of 20 ms or more.
    pub stalled_rounds: u32,
    /// Whether the median measured round stalled (≥ 20 ms).
    pub stalled: bool,
    /// The median of the stalled rounds, warm-up included: the size of one stall. Null when
    /// no round stalled.
    pub stall_p50_us: Option<u64>,
    /// Whether this mode can stall at all: Nagle on, and neither CORK nor QUICKACK in play.
    pub expected_stall: bool,
    /// The receiver's pingpong threshold the rounds were judged against: the live
    /// net.ipv4.tcp_pingpong_thresh, or on a kernel without it the fixed value (1 or 3) the
    /// rounds fit.
    pub pingpong_thresh: u32,
    /// Every round, fast or stalled, against the kernel's mechanism.
    pub per_round: PerRound,
    /// Every round behaved as predicted (`per_round.unexpected` is empty).
    pub matches: bool,
    pub burst: Burst,
    /// Counter deltas over the whole mode (both experiments).
    pub counters: Counters,
    pub rr_counters: Counters,
    pub burst_counters: Counters,
    pub attribution: String,
}

impl ModeReport {
    fn mode(&self) -> Mode {
        Mode {
            nodelay: self.nodelay,
            cork: self.cork,
            quickack: self.quickack,
        }
    }
}

/// The rounds of one mode, numbered from 1 in the order they ran, warm-up rounds first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PerRound {
    /// Rounds faster than 20 ms.
    pub fast: Vec<u32>,
    /// Rounds of 20 ms or more: the body waited for a delayed ACK.
    pub stalled: Vec<u32>,
    /// The first stalled round; null when none stalled.
    pub first_stalled: Option<u32>,
    /// The rounds the receiver's pingpong count predicts to stall (none for a mode that
    /// cannot stall).
    pub expected_stalled: Vec<u32>,
    /// Rounds where the measurement and the prediction disagree.
    pub unexpected: Vec<u32>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
#[allow(non_snake_case)] // the kernel's counter names, as nstat prints them
pub struct Counters {
    pub DelayedACKs: Option<u64>,
    pub TCPAutoCorking: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Burst {
    pub writes: u32,
    pub write_size: u32,
    /// Data segments the sender really sent (TCP_INFO tcpi_data_segs_out delta); null when
    /// this kernel does not report it.
    pub data_segments: Option<u64>,
    /// The sender's congestion window in segments (TCP_INFO tcpi_snd_cwnd) before the first
    /// write: a new connection may have only this many segments unacknowledged.
    pub sender_cwnd_before: Option<u32>,
    /// The same once the reader had every byte: slow start grows it as ACKs return.
    pub sender_cwnd_after: Option<u32>,
    /// recv() calls the receiver needed for all the bytes.
    pub reads: u32,
    pub max_read: u32,
    /// Write boundaries that did not coincide with a read boundary.
    pub boundaries_lost: u32,
    /// Messages decoded byte-exact from the same kind of stream with a 4-byte big-endian
    /// length prefix.
    pub framed_recovered: u32,
    pub framed_reads: u32,
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

/// One combination of options to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mode {
    nodelay: bool,
    cork: bool,
    quickack: bool,
}

impl Mode {
    fn label(self) -> String {
        let mut label = if self.nodelay {
            "TCP_NODELAY".to_string()
        } else {
            "Nagle on".to_string()
        };
        if self.cork {
            label.push_str(" + TCP_CORK");
        }
        if self.quickack {
            label.push_str(" + TCP_QUICKACK");
        }
        label
    }

    /// Only Nagle can hold the body for the header's ACK: TCP_NODELAY sends it at once, CORK
    /// sends header and body as one segment, QUICKACK on the server takes the ACK delay away.
    fn expects_stall(self) -> bool {
        !self.nodelay && !self.cork && !self.quickack
    }
}

fn modes(args: &NagleArgs) -> Vec<Mode> {
    let nodelays: &[bool] = match args.nodelay {
        NodelayMode::Off => &[false],
        NodelayMode::On => &[true],
        NodelayMode::Both => &[false, true],
    };
    let mut modes = Vec::new();
    for &nodelay in nodelays {
        let base = Mode {
            nodelay,
            cork: false,
            quickack: false,
        };
        modes.push(base);
        if args.cork {
            modes.push(Mode { cork: true, ..base });
        }
        if args.quickack {
            modes.push(Mode {
                quickack: true,
                ..base
            });
        }
    }
    modes
}

/// A Nagle-on round waits for the peer's delayed ACK: a --timeout shorter than the longest
/// one would call a healthy host's stall a dropped packet.
fn validate_timeout(args: &NagleArgs, timeout: Duration) -> anyhow::Result<()> {
    if modes(args).iter().any(|m| m.expects_stall()) && timeout < TCP_DELACK_MAX {
        return Err(UsageError(format!(
            "--timeout {} is shorter than the stall nagle measures: with Nagle on, a round waits \
             for the peer's delayed ACK, which the kernel may hold up to TCP_DELACK_MAX = \
             {} (include/net/tcp.h). Use --timeout {} or more, or --nodelay on",
            human(timeout),
            human(TCP_DELACK_MAX),
            human(TCP_DELACK_MAX)
        ))
        .into());
    }
    Ok(())
}

pub fn run(args: &NagleArgs, ctx: &Context) -> anyhow::Result<(NagleReport, Exit)> {
    let started = Instant::now();
    validate_timeout(args, ctx.timeout)?;
    let root = &ctx.root;
    let bind_to = SocketAddr::new(args.addr, args.port);
    // SO_REUSEADDR so a pinned --port can be reused right after a previous run.
    let listener = sock::listener(bind_to, ReuseFlags::ADDR, ctx.timeout).map_err(|error| {
        let hint = if error.errno() == Some(nix::errno::Errno::EADDRINUSE) {
            format!(
                "--port {} is in use by another socket (see `sockdoc reuse-test {}`); pick \
                 another port or leave --port out for an ephemeral one",
                args.port, args.port
            )
        } else {
            format!("starting the test server on {bind_to}")
        };
        anyhow::Error::new(error).context(hint)
    })?;
    let listen_addr = sock::local_addr(&listener)?;
    let mut notes = Vec::new();
    let counters_readable = procfs::read_netstat(root).is_ok();
    if !counters_readable {
        notes.push(
            "/proc/net/netstat is unreadable here: DelayedACKs and TCPAutoCorking are \
             reported as unavailable."
                .into(),
        );
    }

    let pingpong_thresh = read_pingpong_thresh(root, &mut notes);
    let mut reports = Vec::new();
    let thresholds: &[u32] = match &pingpong_thresh {
        Some(live) => std::slice::from_ref(live),
        None => &PINGPONG_THRESH_WITHOUT_KNOB,
    };
    for mode in modes(args) {
        let report = run_mode(mode, args, thresholds, &listener, listen_addr, ctx)
            .with_context(|| format!("measuring with {}", mode.label()))?;
        reports.push(report);
    }
    // The plain TCP_NODELAY burst is the control that tells Nagle's share of the merging.
    let control = reports
        .iter()
        .find(|m| m.nodelay && !m.cork && !m.quickack)
        .and_then(|m| m.burst.data_segments);
    for report in &mut reports {
        report.attribution = attribute_mode(report.mode(), report, control);
    }
    drop(listener);

    if reports.iter().any(|m| m.burst.data_segments.is_none()) {
        notes.push(
            "This kernel's TCP_INFO has no tcpi_data_segs_out (Linux < 4.6): segments sent \
             are unavailable, so merging cannot be pinned on the sender."
                .into(),
        );
    }
    notes.push(
        "The framing uses a 4-byte big-endian unsigned length (u32::to_be_bytes, Python \
         struct '!I'). The common struct.pack('i', n) header is native-endian and signed: \
         it breaks between hosts of different byte order and for lengths of 2 GiB or more."
            .into(),
    );
    notes.push(
        "DelayedACKs and TCPAutoCorking count for the whole network namespace: other traffic \
         during the run adds to them."
            .into(),
    );

    let autocorking = sysctl::read_knob(root, "net.ipv4.tcp_autocorking")
        .value()
        .map(str::to_owned);
    let attribution = attribute_all(&reports, autocorking.as_deref());
    let (verdict, fix) = verdict(&reports);
    let max_p99_us = args.max_p99.map(micros);
    let over_limit = max_p99_us.is_some_and(|max| reports.iter().any(|m| m.rtt_p99_us > max));
    let mismatch = reports
        .iter()
        .any(|m| !m.matches || m.burst.framed_recovered != m.burst.writes);
    let report = NagleReport {
        command: "nagle",
        sockdoc_version: VERSION,
        address: args.addr.to_string(),
        port: listen_addr.port(),
        tcp_autocorking: autocorking,
        tcp_pingpong_thresh: pingpong_thresh,
        modes: reports,
        attribution,
        verdict,
        fix,
        max_p99_us,
        notes,
        elapsed_us: micros(started.elapsed()),
    };
    let exit = if over_limit || mismatch {
        Exit::Finding
    } else {
        Exit::Clean
    };
    Ok((report, exit))
}

fn run_mode(
    mode: Mode,
    args: &NagleArgs,
    thresholds: &[u32],
    listener: &Socket,
    listen_addr: SocketAddr,
    ctx: &Context,
) -> anyhow::Result<ModeReport> {
    let (root, timeout) = (&ctx.root, ctx.timeout);
    let before = read_counters(root);
    let mut rtts = request_response(mode, args, listener, listen_addr, timeout)?;
    let (pingpong_thresh, per_round) = judge_rounds(mode, &rtts, thresholds);
    let mut stall_times: Vec<Duration> = rtts
        .iter()
        .copied()
        .filter(|&d| d >= STALL_THRESHOLD)
        .collect();
    stall_times.sort_unstable();
    let stall_p50_us = (!stall_times.is_empty()).then(|| micros(percentile(&stall_times, 50)));
    let warmup_fast_rounds = rtts
        .drain(..args.warmup as usize)
        .filter(|&d| d < STALL_THRESHOLD)
        .count() as u32;
    let middle = read_counters(root);
    let burst = burst(mode, args, listener, listen_addr, timeout)?;
    // The burst's counters alone: the framed run below writes the same way and would blur
    // which experiment the kernel merged.
    let after_burst = read_counters(root);
    let framed = framed(mode, args, listener, listen_addr, timeout)?;
    let after = read_counters(root);

    let mut sorted = rtts.clone();
    sorted.sort_unstable();
    let p50 = percentile(&sorted, 50);
    let stalled = p50 >= STALL_THRESHOLD;
    let rr_counters = delta(before.as_ref(), middle.as_ref());
    let burst_counters = delta(middle.as_ref(), after_burst.as_ref());
    let burst = Burst {
        framed_recovered: framed.recovered,
        framed_reads: framed.reads,
        ..burst
    };
    Ok(ModeReport {
        nodelay: mode.nodelay,
        cork: mode.cork,
        quickack: mode.quickack,
        rtt_p50_us: micros(p50),
        rtt_p90_us: micros(percentile(&sorted, 90)),
        rtt_p99_us: micros(percentile(&sorted, 99)),
        rtt_max_us: micros(*sorted.last().expect("--rounds is at least 1")),
        rtt_min_us: micros(sorted[0]),
        rounds: args.rounds,
        warmup: args.warmup,
        warmup_fast_rounds,
        pingpong_thresh,
        stalled_rounds: sorted.iter().filter(|&&d| d >= STALL_THRESHOLD).count() as u32,
        stalled,
        stall_p50_us,
        expected_stall: mode.expects_stall(),
        matches: per_round.unexpected.is_empty(),
        per_round,
        burst,
        counters: delta(before.as_ref(), after.as_ref()),
        rr_counters,
        burst_counters,
        // Written once every mode has run: the attribution compares with the control.
        attribution: String::new(),
    })
}

/// How rounds are judged when the threshold cannot be read.
const WITHOUT_KNOB: &str = "the rounds are judged against a fixed TCP_PINGPONG_THRESH \
     (include/net/inet_connection_sock.h) of 1, or 3 on kernels carrying commit 4a41f453bedf \
     (2019, reverted by 4d8f24eeedc5 in 2022), whichever they fit; each mode reports the one \
     used as pingpong_thresh.";

/// net.ipv4.tcp_pingpong_thresh of this network namespace, or None (with a note saying what
/// the prediction assumes instead) where the kernel has no such knob or it reads oddly.
fn read_pingpong_thresh(root: &Root, notes: &mut Vec<String>) -> Option<u32> {
    match sysctl::read_knob(root, "net.ipv4.tcp_pingpong_thresh") {
        Knob::Value(text) => {
            if let Ok(value) = text.parse() {
                return Some(value);
            }
            notes.push(format!(
                "net.ipv4.tcp_pingpong_thresh reads {text:?}, not a number: {WITHOUT_KNOB}"
            ));
        }
        Knob::Absent => notes.push(format!(
            "net.ipv4.tcp_pingpong_thresh does not exist on this kernel (it came with commit \
             562b1fdf061b, 2023): {WITHOUT_KNOB}"
        )),
        Knob::Unreadable(why) => notes.push(format!(
            "net.ipv4.tcp_pingpong_thresh is unreadable ({why}): {WITHOUT_KNOB}"
        )),
    }
    None
}

/// Which rounds of a request/response connection the receiver leaves waiting for its
/// delayed ACK, from its pingpong count (see the module comment for the kernel functions):
/// a request arriving while the count is below `pingpong_thresh` is ACKed at once; at the
/// threshold its ACK waits for the delayed-ACK timer, which resets the count to 0. Every
/// reply, sent within the ACK timeout of its request, adds one.
///
/// With the default threshold of 1 only round 1 is fast; with a threshold N rounds 1..=N are
/// fast and then every Nth round stalls.
fn predicted_stalls(mode: Mode, pingpong_thresh: u32, rounds: usize) -> Vec<bool> {
    if !mode.expects_stall() {
        return vec![false; rounds];
    }
    let mut count = 0;
    (0..rounds)
        .map(|_| {
            let stalls = count >= pingpong_thresh;
            if stalls {
                count = 0;
            }
            count = (count + 1).min(PINGPONG_COUNT_MAX);
            stalls
        })
        .collect()
}

/// The rounds judged against the first threshold they fit, else against the first one (the
/// misfit is then reported as unexpected rounds).
fn judge_rounds(mode: Mode, rtts: &[Duration], thresholds: &[u32]) -> (u32, PerRound) {
    let judged: Vec<(u32, PerRound)> = thresholds
        .iter()
        .map(|&t| (t, per_round(rtts, &predicted_stalls(mode, t, rtts.len()))))
        .collect();
    judged
        .iter()
        .find(|(_, rounds)| rounds.unexpected.is_empty())
        .unwrap_or(&judged[0])
        .clone()
}

/// Sorts the rounds (numbered from 1) into fast and stalled, against the prediction.
fn per_round(rtts: &[Duration], predicted: &[bool]) -> PerRound {
    let mut rounds = PerRound::default();
    for (number, (&rtt, &expected)) in (1..).zip(rtts.iter().zip(predicted)) {
        let stalled = rtt >= STALL_THRESHOLD;
        if stalled {
            rounds.stalled.push(number);
        } else {
            rounds.fast.push(number);
        }
        if expected {
            rounds.expected_stalled.push(number);
        }
        if stalled != expected {
            rounds.unexpected.push(number);
        }
    }
    rounds.first_stalled = rounds.stalled.first().copied();
    rounds
}

/// A fresh connection to the test server, with the mode's options on both ends.
fn connect_pair(
    mode: Mode,
    listener: &Socket,
    listen_addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<(TcpStream, TcpStream)> {
    let client = sock::connect(listen_addr, timeout)?;
    let client_addr = sock::local_addr(&client)?;
    // With a pinned --port, someone else (a capture tool's probe, a stray client) may be
    // in the accept queue first: measure only our own client.
    let server = loop {
        let accepted = sock::accept(listener, timeout)?;
        if accepted.peer_addr().ok() == Some(client_addr) {
            break accepted;
        }
    };
    sock::set_nodelay(&client, mode.nodelay)?;
    sock::set_nodelay(&server, mode.nodelay)?;
    Ok((client, server))
}

// ---------------------------------------------------------------------------------------
// Experiment 1: request/response
// ---------------------------------------------------------------------------------------

/// Runs warm-up and measured write-write-read rounds; returns every round trip, warm-up
/// rounds first.
fn request_response(
    mode: Mode,
    args: &NagleArgs,
    listener: &Socket,
    listen_addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let (mut client, mut server) = connect_pair(mode, listener, listen_addr, timeout)?;
    let total = args.warmup + args.rounds;
    thread::scope(|scope| {
        let serving = scope.spawn(move || serve_requests(&mut server, mode, total, timeout));
        let measured = (0..total)
            .map(|round| {
                let step = |what: &str| format!("{what} (round {}, {})", round + 1, mode.label());
                let started = Instant::now();
                send_request(&mut client, mode, &step, timeout)?;
                let mut reply = [0_u8; REPLY.len()];
                sock::recv_exact(&mut client, &mut reply, &step("reading the reply"), timeout)?;
                Ok(started.elapsed())
            })
            .collect::<anyhow::Result<Vec<_>>>();
        // Closing the client ends the server's loop even when a round failed.
        drop(client);
        let server_result = serving.join().expect("the server thread does not panic");
        let (rtts, ()) = both_ends(measured, server_result)?;
        Ok(rtts)
    })
}

/// The client's and the server's results of one experiment as one, the root cause first
/// when both failed. The server's socket closes when its thread ends, so a client that read
/// end-of-stream only learnt that the server had given up: the server's error is the cause.
/// When both timed out, neither end heard the other.
fn both_ends<T, U>(client: anyhow::Result<T>, server: anyhow::Result<U>) -> anyhow::Result<(T, U)> {
    match (client, server) {
        (Ok(client), Ok(server)) => Ok((client, server)),
        (Err(error), Ok(_)) | (Ok(_), Err(error)) => Err(error),
        (Err(client), Err(server)) => Err(root_cause(&client, &server)),
    }
}

fn root_cause(client: &anyhow::Error, server: &anyhow::Error) -> anyhow::Error {
    let client_sys = client
        .downcast_ref::<SysError>()
        .map(SysError::undiagnosed_ref);
    let server_sys = server
        .downcast_ref::<SysError>()
        .map(SysError::undiagnosed_ref);
    if let Some(closed) = client_sys.and_then(|e| closed_by_peer(e, "the server")) {
        return anyhow::anyhow!("{closed}, because the server's side had failed first: {server:#}");
    }
    if server_sys
        .and_then(|e| closed_by_peer(e, "the client"))
        .is_some()
    {
        // The server saw the client go away: the client's own failure is the cause.
        return anyhow::anyhow!("{client:#}");
    }
    if let (
        Some(SysError::Timeout { step, timeout }),
        Some(SysError::Timeout {
            step: server_step, ..
        }),
    ) = (client_sys, server_sys)
    {
        return anyhow::anyhow!(
            "{step}: no answer within {}, and the server heard nothing either ({server_step}): \
             {NO_ANSWER_CAUSES}",
            humantime::format_duration(*timeout)
        );
    }
    anyhow::anyhow!("{client:#}; the server's side failed too: {server:#}")
}

/// "reading the reply (round 3): the server closed the connection after 0 of 2 bytes" when
/// `error` says `peer`, the other end, went away (end of stream, EPIPE, ECONNRESET).
fn closed_by_peer(error: &SysError, peer: &str) -> Option<String> {
    match error {
        SysError::PeerClosed {
            step,
            received,
            expected,
        } => Some(format!(
            "{step}: {peer} closed the connection after {received} of {expected} bytes"
        )),
        SysError::Io { step, error }
            if matches!(error.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)) =>
        {
            Some(format!(
                "{step}: {peer} closed the connection ({})",
                crate::sys::error::os_text(error)
            ))
        }
        _ => None,
    }
}

/// The client's two writes: the header (the body's length) and then the body.
fn send_request(
    client: &mut TcpStream,
    mode: Mode,
    step: &dyn Fn(&str) -> String,
    timeout: Duration,
) -> anyhow::Result<()> {
    let header = u32::try_from(BODY.len())
        .expect("the body is small")
        .to_be_bytes();
    if mode.cork {
        sock::set_cork(client, true)?;
    }
    sock::send_all(client, &header, &step("sending the header"), timeout)?;
    sock::send_all(client, BODY, &step("sending the body"), timeout)?;
    if mode.cork {
        // Uncorking flushes header and body together, as one segment.
        sock::set_cork(client, false)?;
    }
    Ok(())
}

fn serve_requests(
    server: &mut TcpStream,
    mode: Mode,
    rounds: u32,
    timeout: Duration,
) -> anyhow::Result<()> {
    // Buffered like a real server: header and body that arrive together cost one recv().
    let stream: &TcpStream = server;
    let mut reader = BufReader::with_capacity(READ_BUF, stream);
    let mut writer = stream;
    for round in 1..=rounds {
        let step = |what: &str| format!("{what} (round {round}, {})", mode.label());
        let mut header = [0_u8; 4];
        sock::recv_exact(
            &mut reader,
            &mut header,
            &step("server reading the header"),
            timeout,
        )?;
        if mode.quickack {
            sock::set_quickack(stream)?;
        }
        let length = u32::from_be_bytes(header) as usize;
        anyhow::ensure!(
            length == BODY.len(),
            "the server read a {length}-byte request header; sockdoc's client sends {}",
            BODY.len()
        );
        let mut body = [0_u8; BODY.len()];
        sock::recv_exact(
            &mut reader,
            &mut body,
            &step("server reading the body"),
            timeout,
        )?;
        if mode.quickack {
            sock::set_quickack(stream)?;
        }
        sock::send_all(
            &mut writer,
            REPLY,
            &step("server sending the reply"),
            timeout,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Experiment 2: burst coalescing and framing
// ---------------------------------------------------------------------------------------

/// `messages` writes of `size` bytes back to back while a reader drains the other end.
fn burst(
    mode: Mode,
    args: &NagleArgs,
    listener: &Socket,
    listen_addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<Burst> {
    let (mut client, mut server) = connect_pair(mode, listener, listen_addr, timeout)?;
    let message = vec![b'm'; args.size as usize];
    let total = args.messages as usize * message.len();
    let info_before = tcp_info::tcp_info(&client)?;
    let reads = thread::scope(|scope| {
        let reading = scope.spawn(move || read_sizes(&mut server, total, timeout));
        let written = write_messages(
            &mut client,
            mode,
            args.messages,
            |_| message.clone(),
            timeout,
        );
        let reads = reading.join().expect("the reader thread does not panic");
        both_ends(written, reads).map(|((), reads)| reads)
    })?;
    // Every byte has arrived, so every segment that carried one has been sent.
    let info_after = tcp_info::tcp_info(&client)?;
    let boundaries_lost = boundaries_lost(args.messages, args.size, &reads);
    Ok(Burst {
        writes: args.messages,
        write_size: args.size,
        data_segments: info_before
            .data_segs_out
            .zip(info_after.data_segs_out)
            .map(|(b, a)| u64::from(a.wrapping_sub(b))),
        sender_cwnd_before: info_before.snd_cwnd,
        sender_cwnd_after: info_after.snd_cwnd,
        reads: reads.len() as u32,
        max_read: reads.iter().copied().max().unwrap_or(0) as u32,
        boundaries_lost,
        framed_recovered: 0,
        framed_reads: 0,
    })
}

struct Framed {
    recovered: u32,
    reads: u32,
}

/// The same burst with each message framed by a 4-byte big-endian length, decoded on the
/// other end and compared byte for byte.
fn framed(
    mode: Mode,
    args: &NagleArgs,
    listener: &Socket,
    listen_addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<Framed> {
    let (mut client, mut server) = connect_pair(mode, listener, listen_addr, timeout)?;
    let size = args.size as usize;
    let total = args.messages as usize * (size + 4);
    thread::scope(|scope| {
        let decoding = scope.spawn(move || -> anyhow::Result<Framed> {
            let mut decoder = FrameDecoder::default();
            let mut recovered = 0_u32;
            let mut reads = 0_u32;
            let mut received = 0;
            let mut buf = vec![0_u8; READ_BUF];
            while received < total {
                let n =
                    sock::recv_some(&mut server, &mut buf, "reading the framed stream", timeout)?;
                anyhow::ensure!(
                    n > 0,
                    "the framed stream ended after {received} of {total} bytes"
                );
                received += n;
                reads += 1;
                decoder.push(&buf[..n]);
                while let Some(frame) = decoder.next_frame() {
                    if frame == payload(recovered, size) {
                        recovered += 1;
                    }
                }
            }
            Ok(Framed { recovered, reads })
        });
        let written = write_messages(
            &mut client,
            mode,
            args.messages,
            |i| frame(&payload(i, size)),
            timeout,
        );
        let framed = decoding.join().expect("the decoder thread does not panic");
        both_ends(written, framed).map(|((), framed)| framed)
    })
}

/// Writes `count` messages, one send() each, corked around the whole burst in CORK mode.
fn write_messages(
    client: &mut TcpStream,
    mode: Mode,
    count: u32,
    message: impl Fn(u32) -> Vec<u8>,
    timeout: Duration,
) -> anyhow::Result<()> {
    if mode.cork {
        sock::set_cork(client, true)?;
    }
    for i in 0..count {
        sock::send_all(
            client,
            &message(i),
            &format!("writing message {}", i + 1),
            timeout,
        )?;
    }
    if mode.cork {
        sock::set_cork(client, false)?;
    }
    Ok(())
}

/// Reads until `total` bytes arrived; returns the size of every recv().
fn read_sizes(
    server: &mut TcpStream,
    total: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<usize>> {
    let mut sizes = Vec::new();
    let mut received = 0;
    let mut buf = vec![0_u8; READ_BUF];
    while received < total {
        let n = sock::recv_some(server, &mut buf, "reading the burst", timeout)?;
        anyhow::ensure!(n > 0, "the burst ended after {received} of {total} bytes");
        received += n;
        sizes.push(n);
    }
    Ok(sizes)
}

/// Write boundaries (after every `size` bytes) that no read ended on.
fn boundaries_lost(writes: u32, size: u32, reads: &[usize]) -> u32 {
    let mut read_ends = reads.iter().scan(0_u64, |end, &n| {
        *end += n as u64;
        Some(*end)
    });
    let mut next_read_end = read_ends.next();
    let mut lost = 0;
    for i in 1..=u64::from(writes) {
        let boundary = i * u64::from(size);
        while next_read_end.is_some_and(|end| end < boundary) {
            next_read_end = read_ends.next();
        }
        if next_read_end != Some(boundary) {
            lost += 1;
        }
    }
    lost
}

/// Message `index` of `size` bytes: distinct per index, so a swapped or torn message
/// fails the comparison.
fn payload(index: u32, size: usize) -> Vec<u8> {
    let seed = index.to_be_bytes();
    (0..size).map(|i| seed[i % 4] ^ (i as u8)).collect()
}

/// A length-prefixed frame: 4-byte big-endian unsigned length, then the payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("frames are smaller than 4 GiB");
    let mut framed = Vec::with_capacity(payload.len() + 4);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(payload);
    framed
}

/// Reassembles length-prefixed frames from a byte stream cut at arbitrary points.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    pending: Vec<u8>,
}

impl FrameDecoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next complete frame's payload, or None until more bytes arrive.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        let header: [u8; 4] = self.pending.get(..4)?.try_into().ok()?;
        let len = u32::from_be_bytes(header) as usize;
        let frame = self.pending.get(4..4 + len)?.to_vec();
        self.pending.drain(..4 + len);
        Some(frame)
    }
}

// ---------------------------------------------------------------------------------------
// Counters, attribution, verdict
// ---------------------------------------------------------------------------------------

fn read_counters(root: &Root) -> Option<BTreeMap<String, u64>> {
    procfs::read_netstat(root).ok()
}

fn delta(
    before: Option<&BTreeMap<String, u64>>,
    after: Option<&BTreeMap<String, u64>>,
) -> Counters {
    let get = |key: &str| {
        let (b, a) = (before?.get(key)?, after?.get(key)?);
        Some(a.saturating_sub(*b))
    };
    Counters {
        DelayedACKs: get("TcpExt.DelayedACKs"),
        TCPAutoCorking: get("TcpExt.TCPAutoCorking"),
    }
}

fn attribute_mode(mode: Mode, m: &ModeReport, control_segments: Option<u64>) -> String {
    format!(
        "{} {}",
        attribute_stall(mode, m, m.pingpong_thresh),
        attribute_burst(mode, m, control_segments)
    )
}

fn attribute_stall(mode: Mode, m: &ModeReport, pingpong_thresh: u32) -> String {
    let p50 = human(Duration::from_micros(m.rtt_p50_us));
    let delacks = count_text(m.rr_counters.DelayedACKs, "delayed ACKs");
    let rounds = &m.per_round;
    let total = m.rounds + m.warmup;
    if !mode.expects_stall() {
        return if !rounds.stalled.is_empty() {
            format!(
                "Stall not expected here: {} of {total} took 20 ms or more ({delacks}); \
                 something other than Nagle delayed the exchange.",
                rounds_text(&rounds.stalled)
            )
        } else if mode.cork {
            format!("No stall: TCP_CORK sent header and body as one segment (p50 {p50}).")
        } else if mode.quickack && !mode.nodelay {
            format!(
                "No stall: TCP_QUICKACK made the server ACK the header at once, releasing the \
                 body Nagle held (p50 {p50})."
            )
        } else {
            format!("No stall: TCP_NODELAY sent the body at once (p50 {p50}).")
        };
    }
    let stall = if rounds.stalled.is_empty() {
        format!(
            "No round stalled although Nagle was on: the server ACKed every header at once \
             ({delacks})."
        )
    } else {
        let stall_size = m
            .stall_p50_us
            .map(|us| format!(", median stall {}", human(Duration::from_micros(us))))
            .unwrap_or_default();
        let unconfirmed = if m.rr_counters.DelayedACKs.is_some_and(|n| n > 0) {
            String::new()
        } else {
            "; the DelayedACKs counter did not confirm the delayed ACK here".to_string()
        };
        format!(
            "Stall: the body, a small segment, waited while the header, an earlier small \
             segment, was unacknowledged (Linux's Nagle is Minshall's variant: \
             tcp_nagle_check(), tcp_minshall_check() in net/ipv4/tcp_output.c), and the \
             server delayed that ACK: {} of {total} took 20 ms or more{stall_size} \
             ({delacks}){unconfirmed}.",
            rounds_text(&rounds.stalled)
        )
    };
    let replies = if pingpong_thresh == 1 {
        "reply"
    } else {
        "replies"
    };
    let fast = if rounds.fast.is_empty() {
        "No round was fast.".to_string()
    } else {
        format!("Fast: {}.", rounds_text(&rounds.fast))
    };
    let prediction = if rounds.unexpected.is_empty() {
        "Every round went as the receiver's pingpong count predicts".to_string()
    } else {
        format!(
            "The receiver's pingpong count predicts stalls in {} only, so {} went against \
             it",
            rounds_text(&rounds.expected_stalled),
            rounds_text(&rounds.unexpected)
        )
    };
    format!(
        "{stall} {fast} {prediction}: the server ACKs a request at once until it has sent \
         net.ipv4.tcp_pingpong_thresh = {pingpong_thresh} {replies} within its ACK timeout \
         (tcp_event_data_sent() counts them); from then on it is in pingpong mode \
         (inet_csk_in_pingpong_mode()), where tcp_in_quickack_mode() is false and \
         __tcp_cleanup_rbuf() does not ACK a small segment the reader drained, so the ACK \
         waits for the delayed-ACK timer, which resets the count when it fires \
         (tcp_delack_timer_handler())."
    )
}

/// "round 1", "rounds 2-116", "no round".
fn rounds_text(numbers: &[u32]) -> String {
    match numbers {
        [] => "no round".to_string(),
        [one] => format!("round {one}"),
        _ => format!("rounds {}", round_ranges(numbers)),
    }
}

/// Round numbers as ranges: "1", "2-116", "1-3, 5".
pub fn round_ranges(numbers: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut rest = numbers.iter().copied().peekable();
    while let Some(first) = rest.next() {
        let mut last = first;
        while rest.peek() == Some(&(last + 1)) {
            last += 1;
            rest.next();
        }
        parts.push(if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        });
    }
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

fn attribute_burst(mode: Mode, m: &ModeReport, control_segments: Option<u64>) -> String {
    let b = &m.burst;
    let autocork = count_text(m.burst_counters.TCPAutoCorking, "autocorked writes");
    let Some(segments) = b.data_segments else {
        return format!(
            "Burst: {} arrived in {}; segments sent are unavailable on this kernel.",
            count(b.writes, "write"),
            count(b.reads, "read")
        );
    };
    let sender = if segments >= u64::from(b.writes) {
        if b.writes == 1 {
            "the sender sent its one write as one segment".to_owned()
        } else {
            format!(
                "the sender kept all {} writes as separate segments",
                b.writes
            )
        }
    } else if mode.cork {
        format!(
            "TCP_CORK merged {} into {}",
            count(b.writes, "write"),
            count(segments, "segment")
        )
    } else if mode.nodelay {
        let cause = if m.burst_counters.TCPAutoCorking.is_some_and(|n| n > 0) {
            format!("autocorking merged them ({autocork})")
        } else {
            format!(
                "the writes queued behind a full congestion window ({}) and merged in the \
                 send queue; autocorking did not fire ({autocork})",
                cwnd_text(b)
            )
        };
        format!(
            "{} left as {} although TCP_NODELAY was on: {cause}",
            count(b.writes, "write"),
            count(segments, "segment")
        )
    } else {
        // Nagle's own share is what merged beyond the TCP_NODELAY control.
        let share = match control_segments {
            Some(control) if control > segments => format!(
                "; the TCP_NODELAY control sent {control}, so Nagle accounts for the merging \
                 beyond that"
            ),
            Some(control) => {
                format!("; the TCP_NODELAY control sent {control} too, so Nagle added nothing here")
            }
            None => String::new(),
        };
        format!(
            "with Nagle on, {} left as {}: a small segment waits while \
             an earlier small segment is unacknowledged (tcp_minshall_check()), so the writes \
             made meanwhile left together ({autocork}; {}){share}",
            count(b.writes, "write"),
            count(segments, "segment"),
            cwnd_text(b)
        )
    };
    let receiver = if u64::from(b.reads) < segments.min(u64::from(b.writes)) {
        format!(
            "; the reader then took them in {} (segments queued before it read)",
            count(b.reads, "read")
        )
    } else {
        format!("; the reader needed {}", count(b.reads, "read"))
    };
    format!(
        "Burst: {sender}{receiver}, so {} of {} message boundaries were lost; framing \
         recovered {}/{} messages.",
        b.boundaries_lost, b.writes, b.framed_recovered, b.writes
    )
}

/// The sender's congestion window around the burst, as measured.
fn cwnd_text(b: &Burst) -> String {
    let show =
        |cwnd: Option<u32>| cwnd.map_or_else(|| "unavailable".to_string(), |c| c.to_string());
    format!(
        "sender cwnd {} segments before the burst, {} after it",
        show(b.sender_cwnd_before),
        show(b.sender_cwnd_after)
    )
}

fn attribute_all(modes: &[ModeReport], autocorking: Option<&str>) -> String {
    let mut parts: Vec<String> = modes
        .iter()
        .map(|m| format!("[{}] {}", m.mode().label(), m.attribution))
        .collect();
    parts.push(match autocorking {
        Some("1") => "net.ipv4.tcp_autocorking = 1: small writes are merged while earlier \
                      packets are still queued, with or without TCP_NODELAY."
            .into(),
        Some(value) => format!("net.ipv4.tcp_autocorking = {value}: autocorking is off."),
        None => "net.ipv4.tcp_autocorking does not exist on this kernel.".into(),
    });
    parts.join(" ")
}

fn verdict(modes: &[ModeReport]) -> (String, String) {
    let fast: Vec<&ModeReport> = modes.iter().filter(|m| !m.stalled).collect();
    let mut parts = Vec::new();
    if let Some(s) = modes
        .iter()
        .find(|m| m.mode().expects_stall() && !m.per_round.stalled.is_empty())
    {
        // Only the fast rounds the mechanism predicted get its reason; the others are
        // named as mismatches elsewhere.
        let predicted_fast: Vec<u32> = s
            .per_round
            .fast
            .iter()
            .copied()
            .filter(|r| !s.per_round.unexpected.contains(r))
            .collect();
        let fast = if predicted_fast.is_empty() {
            String::new()
        } else {
            format!(
                "; {} did not: the receiver's pingpong count was below its threshold ({}; the \
                 count starts at 0 and each delayed ACK resets it)",
                rounds_text(&predicted_fast),
                s.pingpong_thresh
            )
        };
        parts.push(format!(
            "With Nagle on, {} of {} write-write-read rounds waited for the peer's delayed ACK \
             (median stall {}; TCP_DELACK_MIN is {}){fast}.",
            s.per_round.stalled.len(),
            s.rounds + s.warmup,
            human(Duration::from_micros(s.stall_p50_us.unwrap_or_default())),
            human(TCP_DELACK_MIN)
        ));
    }
    if let Some(f) = fast.iter().find(|m| m.nodelay) {
        parts.push(format!(
            "With TCP_NODELAY the same exchange took p50 {}.",
            human(Duration::from_micros(f.rtt_p50_us))
        ));
    }
    let lost = modes.iter().filter(|m| m.burst.boundaries_lost > 0).count();
    let all_framed = modes
        .iter()
        .all(|m| m.burst.framed_recovered == m.burst.writes);
    parts.push(format!(
        "Message boundaries were lost in {lost} of {} modes, because TCP is a byte stream; \
         length-prefix framing recovered {} messages.",
        modes.len(),
        if all_framed {
            "every one of the"
        } else {
            "NOT all"
        }
    ));
    let mismatched: Vec<String> = modes
        .iter()
        .filter(|m| !m.matches)
        .map(|m| {
            format!(
                "{} ({})",
                m.mode().label(),
                rounds_text(&m.per_round.unexpected)
            )
        })
        .collect();
    if !mismatched.is_empty() {
        parts.push(format!(
            "This kernel disagreed with the predicted rounds in: {}.",
            mismatched.join(", ")
        ));
    }
    (
        parts.join(" "),
        "For the stall: set TCP_NODELAY, or send each request with one write (build it in a \
         buffer, or writev); TCP_QUICKACK on the receiver only hides it. For lost boundaries: \
         frame every message (a 4-byte big-endian length prefix) and read until a whole frame \
         has arrived; never rely on recv() returning one message."
            .into(),
    )
}

fn count_text(value: Option<u64>, what: &str) -> String {
    value.map_or_else(|| format!("{what} unavailable"), |n| format!("+{n} {what}"))
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn timeout(step: &str) -> anyhow::Error {
        SysError::Timeout {
            step: step.into(),
            timeout: Duration::from_millis(200),
        }
        .into()
    }

    #[test]
    fn a_server_that_gave_up_is_the_cause_of_the_clients_short_read() {
        let client: anyhow::Error = SysError::PeerClosed {
            step: "reading the reply (round 3, Nagle on)".into(),
            received: 0,
            expected: 2,
        }
        .into();
        let server = timeout("server reading the body (round 3, Nagle on)");
        let error = both_ends::<(), ()>(Err(client), Err(server)).unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.starts_with(
                "reading the reply (round 3, Nagle on): the server closed the connection after 0 \
                 of 2 bytes, because the server's side had failed first: server reading the body \
                 (round 3, Nagle on): no answer within 200ms"
            ),
            "{text}"
        );
    }

    #[test]
    fn two_timeouts_say_neither_end_heard_the_other() {
        let error = both_ends::<(), ()>(
            Err(timeout("reading the reply (round 1, Nagle on)")),
            Err(timeout("server reading the header (round 1, Nagle on)")),
        )
        .unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.starts_with(
                "reading the reply (round 1, Nagle on): no answer within 200ms, and the server \
                 heard nothing either (server reading the header (round 1, Nagle on))"
            ),
            "{text}"
        );
        assert_eq!(text.matches("nft list ruleset").count(), 1, "{text}");
    }

    #[test]
    fn a_client_that_failed_first_is_the_cause_of_the_servers_short_read() {
        let server: anyhow::Error = SysError::PeerClosed {
            step: "server reading the header (round 2, Nagle on)".into(),
            received: 0,
            expected: 4,
        }
        .into();
        let client = timeout("reading the reply (round 2, Nagle on)");
        let error = both_ends::<(), ()>(Err(client), Err(server)).unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.starts_with("reading the reply (round 2, Nagle on): no answer"),
            "{text}"
        );
    }

    #[test]
    fn boundaries_count_only_write_ends_no_read_ended_on() {
        assert_eq!(boundaries_lost(4, 2, &[2, 2, 2, 2]), 0);
        assert_eq!(boundaries_lost(4, 2, &[8]), 3);
        assert_eq!(
            boundaries_lost(4, 2, &[3, 5]),
            3,
            "a torn first message loses it too"
        );
        assert_eq!(boundaries_lost(3, 2, &[4, 2]), 1);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99), Duration::from_millis(99));
        assert_eq!(percentile(&samples[..1], 99), Duration::from_millis(1));
    }

    fn pattern(thresh: u32, rounds: usize) -> String {
        let nagle = Mode {
            nodelay: false,
            cork: false,
            quickack: false,
        };
        predicted_stalls(nagle, thresh, rounds)
            .iter()
            .map(|&stall| if stall { 'S' } else { '.' })
            .collect()
    }

    #[test]
    fn the_pingpong_count_predicts_which_rounds_stall() {
        // Measured on Linux 6.18 in private namespaces with each threshold (40 rounds).
        assert_eq!(pattern(1, 8), ".SSSSSSS");
        assert_eq!(pattern(2, 9), "..S.S.S.S");
        assert_eq!(pattern(3, 10), "...S..S..S");
        assert_eq!(pattern(5, 12), ".....S....S.");
        let nodelay = Mode {
            nodelay: true,
            cork: false,
            quickack: false,
        };
        assert_eq!(predicted_stalls(nodelay, 1, 3), [false; 3]);
    }

    #[test]
    fn rounds_are_judged_one_by_one() {
        let ms = Duration::from_millis;
        let rounds = per_round(&[ms(0), ms(44), ms(0), ms(44)], &[false, true, true, true]);
        assert_eq!(rounds.fast, [1, 3]);
        assert_eq!(rounds.stalled, [2, 4]);
        assert_eq!(rounds.first_stalled, Some(2));
        assert_eq!(rounds.expected_stalled, [2, 3, 4]);
        assert_eq!(rounds.unexpected, [3]);
    }

    #[test]
    fn round_numbers_read_as_ranges() {
        assert_eq!(round_ranges(&[]), "none");
        assert_eq!(round_ranges(&[1]), "1");
        assert_eq!(round_ranges(&[2, 3, 4, 5]), "2-5");
        assert_eq!(round_ranges(&[1, 2, 3, 5, 7, 8]), "1-3, 5, 7-8");
    }

    #[test]
    fn payloads_differ_per_index() {
        assert_ne!(payload(1, 8), payload(2, 8));
        assert_eq!(payload(7, 3).len(), 3);
    }

    proptest! {
        #[test]
        fn framing_survives_any_cut_of_the_stream(
            sizes in proptest::collection::vec(0_usize..300, 1..40),
            cuts in proptest::collection::vec(1_usize..500, 1..80),
        ) {
            let stream: Vec<u8> = sizes
                .iter()
                .enumerate()
                .flat_map(|(i, &n)| frame(&payload(i as u32, n)))
                .collect();
            let mut decoder = FrameDecoder::default();
            let mut frames = Vec::new();
            let mut rest = &stream[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
                decoder.push(chunk);
                while let Some(f) = decoder.next_frame() {
                    frames.push(f);
                }
                rest = tail;
            }
            prop_assert_eq!(frames.len(), sizes.len());
            for (i, f) in frames.iter().enumerate() {
                prop_assert_eq!(f, &payload(i as u32, sizes[i]));
            }
        }
    }

    #[test]
    fn without_the_knob_rounds_are_judged_against_the_threshold_they_fit() {
        let nagle = Mode {
            nodelay: false,
            cork: false,
            quickack: false,
        };
        let (fast, slow) = (Duration::from_micros(50), Duration::from_millis(44));
        // A 5.4 kernel (threshold 3): rounds 1-3 fast, then every third round stalls.
        let rtts = [fast, fast, fast, slow, fast, fast, slow];
        let (thresh, rounds) = judge_rounds(nagle, &rtts, &PINGPONG_THRESH_WITHOUT_KNOB);
        assert_eq!(thresh, 3);
        assert!(rounds.unexpected.is_empty());
        // Fitting neither reports the misfit against the first threshold.
        let (thresh, rounds) = judge_rounds(nagle, &[slow, slow], &PINGPONG_THRESH_WITHOUT_KNOB);
        assert_eq!(thresh, 1);
        assert_eq!(rounds.unexpected, [1]);
    }
}
