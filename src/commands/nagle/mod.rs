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

mod attribution;
mod burst;
mod connection;
mod report;
mod rounds;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use socket2::Socket;

use super::Context;
use crate::commands::args::{NagleArgs, NodelayMode};
use crate::exit::{Exit, UsageError};
use crate::sys::procfs;
use crate::sys::socket::{self as sock, ReuseFlags};
use crate::sys::sysctl;
use crate::units::{human, micros};

pub use attribution::round_ranges;
pub use burst::{FrameDecoder, frame};
pub use report::{Burst, Counters, ModeReport, NagleReport, PerRound};

/// TCP_DELACK_MIN (include/net/tcp.h): the shortest delayed ACK, HZ/25 = 40 ms.
pub const TCP_DELACK_MIN: Duration = Duration::from_millis(40);

/// TCP_DELACK_MAX (include/net/tcp.h): the longest a delayed ACK is held, HZ/5 = 200 ms.
pub const TCP_DELACK_MAX: Duration = Duration::from_millis(200);

/// A round that takes half the minimum delayed ACK or more was waiting for one: no loopback
/// round trip comes near it otherwise.
const STALL_THRESHOLD: Duration = Duration::from_millis(20);

/// The receiver's read size: large, so one recv() takes whatever has arrived.
const READ_BUF: usize = 64 * 1024;

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

    let pingpong_thresh = rounds::read_pingpong_thresh(root, &mut notes);
    let mut reports = Vec::new();
    let thresholds: &[u32] = match &pingpong_thresh {
        Some(live) => std::slice::from_ref(live),
        None => &rounds::PINGPONG_THRESH_WITHOUT_KNOB,
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
        report.attribution = attribution::attribute_mode(report.mode(), report, control);
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
    let attribution = attribution::attribute_all(&reports, autocorking.as_deref());
    let (verdict, fix) = attribution::verdict(&reports);
    let max_p99_us = args.max_p99.map(micros);
    let over_limit = max_p99_us.is_some_and(|max| reports.iter().any(|m| m.rtt_p99_us > max));
    let mismatch = reports
        .iter()
        .any(|m| !m.matches || m.burst.framed_recovered != m.burst.writes);
    let report = NagleReport {
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
    let before = attribution::read_counters(root);
    let mut rtts = rounds::request_response(mode, args, listener, listen_addr, timeout)?;
    let (pingpong_thresh, per_round) = rounds::judge_rounds(mode, &rtts, thresholds);
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
    let middle = attribution::read_counters(root);
    let burst = burst::burst(mode, args, listener, listen_addr, timeout)?;
    // The burst's counters alone: the framed run below writes the same way and would blur
    // which experiment the kernel merged.
    let after_burst = attribution::read_counters(root);
    let framed = burst::framed(mode, args, listener, listen_addr, timeout)?;
    let after = attribution::read_counters(root);

    let mut sorted = rtts.clone();
    sorted.sort_unstable();
    let p50 = percentile(&sorted, 50);
    let stalled = p50 >= STALL_THRESHOLD;
    let rr_counters = attribution::delta(before.as_ref(), middle.as_ref());
    let burst_counters = attribution::delta(middle.as_ref(), after_burst.as_ref());
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
        rounds: args.rounds_for(mode.expects_stall()),
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
        counters: attribution::delta(before.as_ref(), after.as_ref()),
        rr_counters,
        burst_counters,
        // Written once every mode has run: the attribution compares with the control.
        attribution: String::new(),
    })
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 99), Duration::from_millis(99));
        assert_eq!(percentile(&samples[..1], 99), Duration::from_millis(1));
    }
}
