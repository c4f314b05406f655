//! Each proof's two trials against what Linux documents for them.

use super::experiments::Figures;
use super::{Proof, Trial};
use crate::commands::args::ProveKnob;

/// The kernel's TIME_WAIT length (TCP_TIMEWAIT_LEN, include/net/tcp.h): 60 s, the timer of a
/// fresh TIME_WAIT socket read a moment after it was created lies just below it.
const TIME_WAIT_MS: std::ops::RangeInclusive<u64> = 50_000..=60_000;

/// When `tcp_tw_reuse` lets connect() take a TIME_WAIT's port (tcp_twsk_unique(),
/// net/ipv4/tcp_ipv4.c): once the TIME_WAIT socket has existed longer than
/// tcp_tw_reuse_delay (1000 ms by default, per namespace; measured from tw_entry_stamp). Kernels
/// without that knob reused it once the seconds clock passed the last timestamp's second (0–1
/// s later), so there any time up to 2.5 s is as documented. The upper margin allows for the
/// 20 ms retry step and a loaded machine.
fn reuse_window(delay_ms: Option<u64>) -> std::ops::RangeInclusive<u64> {
    match delay_ms {
        Some(delay) => delay.saturating_sub(100)..=delay + 1_500,
        None => 0..=2_500,
    }
}

pub(super) fn proof(knob: ProveKnob, mut before: Trial, mut after: Trial) -> Proof {
    let (question, expected, source, check): (&'static str, String, &'static str, Check) =
        match knob {
            ProveKnob::Somaxconn => (
                "Does net.core.somaxconn cap a listener's accept queue?",
                format!(
                    "listen(fd, {}) keeps min(backlog, somaxconn): 128 with somaxconn 128, \
                     whose queue then holds 129 of {QUEUE} clients; 4096 with somaxconn 4096, \
                     which holds all {QUEUE}",
                    super::experiments::LISTEN_BACKLOG
                ),
                "__sys_listen_socket() in net/socket.c (backlog capped at somaxconn); \
                 sk_acceptq_is_full() in include/net/sock.h (sk_ack_backlog > sk_max_ack_backlog)",
                Check::Somaxconn,
            ),
            ProveKnob::TcpMaxTwBuckets => (
                "Does lowering net.ipv4.tcp_max_tw_buckets get rid of TIME_WAIT — and what does it cost?",
                format!(
                    "at 0 no TIME_WAIT socket is created and TCPTimeWaitOverflow counts each of \
                     the {CLOSES} closes: the connections close at once, without TIME_WAIT's \
                     protection; at 131072 all {CLOSES} wait in TIME_WAIT"
                ),
                "inet_twsk_alloc() in net/ipv4/inet_timewait_sock.c returns NULL past \
                 tcp_max_tw_buckets; tcp_time_wait() in net/ipv4/tcp_minisocks.c then counts \
                 LINUX_MIB_TCPTIMEWAITOVERFLOW and closes the socket",
                Check::TwBuckets,
            ),
            ProveKnob::TcpFinTimeout => (
                "Does net.ipv4.tcp_fin_timeout shorten TIME_WAIT?",
                "no: TIME_WAIT's timer starts at 60 s with either value; only an orphaned \
                 FIN_WAIT2's timer follows tcp_fin_timeout (60 s, then 5 s)"
                    .to_owned(),
                "tcp_close() in net/ipv4/tcp.c hands an orphaned FIN_WAIT2 to tcp_time_wait() \
                 for tcp_fin_time(); TIME_WAIT lasts TCP_TIMEWAIT_LEN (include/net/tcp.h)",
                Check::FinTimeout,
            ),
            ProveKnob::TcpTwReuse => (
                "Does net.ipv4.tcp_tw_reuse let a client reuse ports held in TIME_WAIT?",
                format!(
                    "with {NARROW} ephemeral ports all in TIME_WAIT toward one destination: at 0 \
                     connect() fails with EADDRNOTAVAIL for as long as they last; at 1 it \
                     succeeds once the TIME_WAIT is older than tcp_tw_reuse_delay (1 s), counted \
                     in TWRecycled"
                ),
                "tcp_twsk_unique() in net/ipv4/tcp_ipv4.c (the reuse test, with \
                 tcp_tw_reuse_delay); __inet_hash_connect() in net/ipv4/inet_hashtables.c",
                Check::TwReuse,
            ),
            ProveKnob::TcpAutocorking => (
                "Does net.ipv4.tcp_autocorking merge small TCP_NODELAY writes?",
                format!(
                    "{BURST} writes of {SIZE} bytes with TCP_NODELAY over a loopback slowed by a \
                     token-bucket qdisc (autocorking holds a write only while an earlier packet \
                     of the socket still sits below TCP): at 0 nothing is autocorked \
                     (TCPAutoCorking +0); at 1 writes are held and sent together, and \
                     TCPAutoCorking rises (once per throttled spell, not per write)"
                ),
                "tcp_should_autocork() and tcp_push() in net/ipv4/tcp.c (LINUX_MIB_TCPAUTOCORKING \
                 counted when TSQ_THROTTLED is newly set); ip-sysctl.rst: tcp_autocorking",
                Check::Autocorking,
            ),
            ProveKnob::IpLocalPortRange => (
                "Does net.ipv4.ip_local_port_range bound the connections to one destination?",
                format!(
                    "connect() to one destination takes one port of the range each: {NARROW} \
                     connections with a {NARROW}-port range, {WIDER} with {WIDER} ports, then \
                     EADDRNOTAVAIL"
                ),
                "__inet_hash_connect() in net/ipv4/inet_hashtables.c picks the source port in \
                 ip_local_port_range and returns -EADDRNOTAVAIL when none is free",
                Check::PortRange,
            ),
        };
    before.measured = describe(check, before.figures.as_ref(), before.error.as_deref());
    after.measured = describe(check, after.figures.as_ref(), after.error.as_deref());
    let matches = match (&before.figures, &after.figures) {
        (Some(b), Some(a)) => Some(holds(check, b, a)),
        _ => None,
    };
    let conclusion = match matches {
        Some(true) => format!("As documented: {expected}."),
        Some(false) => format!(
            "MISMATCH: this kernel did not behave as documented ({expected}); measured {} \
             before and {} after.",
            before.measured, after.measured
        ),
        None => "Could not run both trials: see their errors.".to_owned(),
    };
    Proof {
        knob: knob_name(knob),
        question,
        before,
        after,
        expected,
        matches,
        conclusion,
        source,
    }
}

const QUEUE: u32 = super::QUEUE_CLIENTS;
const CLOSES: u32 = super::CLOSES;
const NARROW: u32 = super::NARROW_PORTS;
const WIDER: u32 = super::WIDER_PORTS;
const BURST: u32 = super::BURST_WRITES;
const SIZE: u32 = super::BURST_SIZE;

#[derive(Clone, Copy)]
enum Check {
    Somaxconn,
    TwBuckets,
    FinTimeout,
    TwReuse,
    PortRange,
    Autocorking,
}

pub(super) fn knob_name(knob: ProveKnob) -> &'static str {
    match knob {
        ProveKnob::Somaxconn => "net.core.somaxconn",
        ProveKnob::TcpMaxTwBuckets => "net.ipv4.tcp_max_tw_buckets",
        ProveKnob::TcpFinTimeout => "net.ipv4.tcp_fin_timeout",
        ProveKnob::TcpTwReuse => "net.ipv4.tcp_tw_reuse",
        ProveKnob::IpLocalPortRange => "net.ipv4.ip_local_port_range",
        ProveKnob::TcpAutocorking => "net.ipv4.tcp_autocorking",
    }
}

/// (before, after) as documented.
fn holds(check: Check, before: &Figures, after: &Figures) -> bool {
    match check {
        Check::Somaxconn => {
            (before.backlog, before.queued) == (Some(128), Some(129))
                && (after.backlog, after.queued) == (Some(4096), Some(QUEUE))
        }
        Check::TwBuckets => {
            (before.time_wait, before.time_wait_overflow) == (Some(0), Some(u64::from(CLOSES)))
                && (after.time_wait, after.time_wait_overflow) == (Some(u64::from(CLOSES)), Some(0))
        }
        Check::FinTimeout => {
            let long = before
                .fin_wait2_timer_ms
                .is_some_and(|ms| TIME_WAIT_MS.contains(&ms));
            let short = after
                .fin_wait2_timer_ms
                .is_some_and(|ms| (1..=5_000).contains(&ms));
            let time_wait = [before, after].iter().all(|f| {
                f.time_wait_timer_ms
                    .is_some_and(|ms| TIME_WAIT_MS.contains(&ms))
            });
            long && short && time_wait
        }
        Check::TwReuse => {
            let never = before.reuse_after_ms.is_none()
                && before
                    .first_error
                    .as_deref()
                    .is_some_and(|e| e.contains("Cannot assign requested address"));
            let window = reuse_window(after.reuse_delay_ms);
            let reused = after.reuse_after_ms.is_some_and(|ms| window.contains(&ms))
                && after.tw_recycled.is_some_and(|n| n >= 1);
            never && reused
        }
        Check::PortRange => before.connections == Some(NARROW) && after.connections == Some(WIDER),
        // Merging can also come from a full congestion window, so the segments alone do not
        // tell autocorking's share; the counter does.
        Check::Autocorking => {
            before.autocorked == Some(0) && after.autocorked.is_some_and(|n| n > 0)
        }
    }
}

fn describe(check: Check, figures: Option<&Figures>, error: Option<&str>) -> String {
    let Some(f) = figures else {
        return format!("could not run: {}", error.unwrap_or("unknown"));
    };
    let n = |v: Option<u64>| v.map_or("?".to_owned(), |v| v.to_string());
    let s = |v: Option<u64>| v.map_or("?".to_owned(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
    match check {
        Check::Somaxconn => format!(
            "backlog kept {}, {} of {QUEUE} clients queued",
            n(f.backlog.map(u64::from)),
            n(f.queued.map(u64::from))
        ),
        Check::TwBuckets => format!(
            "{} TIME_WAIT sockets, TCPTimeWaitOverflow +{}",
            n(f.time_wait),
            n(f.time_wait_overflow)
        ),
        Check::FinTimeout => format!(
            "orphaned FIN_WAIT2 timer {}, TIME_WAIT timer {}",
            s(f.fin_wait2_timer_ms),
            s(f.time_wait_timer_ms)
        ),
        Check::TwReuse => match f.reuse_after_ms {
            Some(ms) => format!(
                "connect() succeeded after {ms} ms ({}), TWRecycled +{}",
                f.first_error.as_deref().unwrap_or("no error before"),
                n(f.tw_recycled)
            ),
            None => format!(
                "connect() failed for 3 s: {}",
                f.first_error.as_deref().unwrap_or("?")
            ),
        },
        Check::Autocorking => format!(
            "{} data segments for {BURST} writes, TCPAutoCorking +{}",
            n(f.data_segments.map(u64::from)),
            n(f.autocorked)
        ),
        // A connection that closes first holds its port in TIME_WAIT for TCP_TIMEWAIT_LEN
        // (60 s), so the range also bounds the sustained rate to one destination.
        Check::PortRange => format!(
            "{} connections, then {} (closing each: at most {:.2} new connections/s to one \
             destination, ports ÷ 60 s of TIME_WAIT)",
            n(f.connections.map(u64::from)),
            f.first_error.as_deref().unwrap_or("no error"),
            f64::from(f.connections.unwrap_or(0)) / 60.0
        ),
    }
}
