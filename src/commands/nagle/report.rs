//! The report `nagle` returns: per mode, the request/response rounds judged against the
//! pingpong prediction, the burst's segments and reads, and the kernel counters.

use serde::Serialize;

use super::Mode;

#[derive(Debug, Serialize)]
pub struct NagleReport {
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
    pub(super) fn mode(&self) -> Mode {
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
    /// Of those, retransmissions (TCP_INFO tcpi_total_retrans delta): a tail loss probe
    /// resends the last segment when its ACK is slow, even on loopback, and counts in
    /// `data_segments` too. Null when this kernel does not report it.
    pub retransmitted_segments: Option<u64>,
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
