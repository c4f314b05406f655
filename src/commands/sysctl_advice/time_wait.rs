//! TIME_WAIT: the knobs people reach for to get rid of it (`tcp_tw_recycle`,
//! `tcp_fin_timeout`, `tcp_max_tw_buckets`) and the one that guards it (`tcp_rfc1337`).
//! `tcp_tw_reuse` and its timestamps are in tw_reuse.rs.

use super::judge::Judge;
use super::knobs::KnobSpec;
use super::lint::configured;
use super::live::Counter;
use super::values::{self, Grammar};
use super::{ConfigRef, Finding, Level};
use crate::sys::sysctl::{Key, Knob};
use crate::units::count;

/// `tcp_fin_timeout` default in seconds (`TCP_FIN_TIMEOUT`, include/net/tcp.h; ip-sysctl.rst).
pub const FIN_TIMEOUT_DEFAULT_S: i64 = 60;

const MYTH_TW_RECYCLE: &str = "\"Set tcp_tw_recycle = 1 to get rid of TIME_WAIT\": it was removed in Linux 4.12 \
     because it silently dropped connections from clients behind NAT; on current kernels a \
     config line that sets it only makes `sysctl -p` fail.";
const MYTH_FIN_TIMEOUT: &str = "\"Lower tcp_fin_timeout to shorten TIME_WAIT\": it bounds orphaned FIN_WAIT_2 \
     only; TIME_WAIT's 60 s is TCP_TIMEWAIT_LEN, a constant in include/net/tcp.h, not a \
     sysctl (measure it: `sockdoc reuse-test --wait`).";
const MYTH_TW_BUCKETS: &str = "\"Lower tcp_max_tw_buckets to cut TIME_WAIT\": past the limit a closing \
     connection skips TIME_WAIT altogether (counted as TCPTimeWaitOverflow; inet_twsk_alloc() \
     and tcp_time_wait()), losing its protection against old duplicate segments. ip-sysctl.rst: \
     the limit exists only against simple DoS attacks and must not be lowered.";
/// Why `tcp_max_tw_buckets`' default cannot be told on a kernel without
/// `tcp_ehash_entries` (dated by era.rs); the boot message is pr_info() in tcp_init().
const UNKNOWN_TW_DEFAULT: &str = "the kernel's default is half the established hash table \
     (tcp_set_hashinfo()), whose size this kernel does not show (tcp_ehash_entries arrived in \
     Linux 6.1; the boot log line \"TCP: Hash tables configured (established N ...)\" gives N)";
/// How long TIME_WAIT lasts, with what re-arms and ends it, as the kernel source has it.
/// Measured: a bare ACK sent to a TIME_WAIT socket 54 s from its end put it back to 59 s
/// (`ss -tano`, tcp_rfc1337 = 1 so the peer's RST did not end it first).
const TIME_WAIT_LIFETIME: &str = "TIME_WAIT lasts 60 s (TCP_TIMEWAIT_LEN, include/net/tcp.h), \
     re-armed to 60 s when a segment carrying an ACK reaches it, such as the peer's \
     retransmitted FIN (inet_twsk_reschedule() in tcp_timewait_state_process(), \
     net/ipv4/tcp_minisocks.c); an RST with the expected sequence number (unless \
     tcp_rfc1337 = 1), tcp_tw_reuse or a new SYN that reuses the connection ends it early";

/// The TIME_WAIT knobs.
pub const KNOBS: &[KnobSpec] = &[
    KnobSpec {
        key: Key::TcpTwRecycle,
        source: "commit 4396e46187ca (removed in Linux 4.12); tcp(7)",
        myth: Some(MYTH_TW_RECYCLE),
        newer: false,
        grammar: Grammar::Int,
        judge: tw_recycle,
    },
    KnobSpec {
        key: Key::TcpFinTimeout,
        source: "ip-sysctl.rst: tcp_fin_timeout; TCP_TIMEWAIT_LEN in \
                  include/net/tcp.h; tcp_timewait_state_process() in \
                  net/ipv4/tcp_minisocks.c",
        myth: Some(MYTH_FIN_TIMEOUT),
        newer: false,
        grammar: Grammar::Int,
        judge: fin_timeout,
    },
    KnobSpec {
        key: Key::TcpMaxTwBuckets,
        source: "ip-sysctl.rst: tcp_max_tw_buckets, tcp_ehash_entries; \
                  tcp_set_hashinfo() in net/ipv4/tcp_ipv4.c",
        myth: Some(MYTH_TW_BUCKETS),
        newer: false,
        grammar: Grammar::Int,
        judge: max_tw_buckets,
    },
    KnobSpec {
        key: Key::TcpRfc1337,
        source: "ip-sysctl.rst: tcp_rfc1337; tcp_timewait_state_process() in net/ipv4/tcp_minisocks.c",
        myth: None,
        newer: false,
        grammar: Grammar::Int,
        judge: rfc1337,
    },
];

fn tw_recycle(j: &Judge, spec: &KnobSpec) -> Finding {
    match j.live.knob(spec.key) {
        // Absent among its siblings (tcp_timestamps has been there since 2.2): removed.
        Knob::Absent if j.live.knob(Key::TcpTimestamps) != &Knob::Absent => spec.finding(None).set(
            Level::Ok,
            "removed in 4.12",
            "Removed from this kernel (Linux 4.12): nothing to set. Delete it from sysctl \
             files; a leftover line makes `sysctl -p` fail.",
        ),
        Knob::Value(v) if v == "0" => spec.finding(Some(v)).set(
            Level::Ok,
            "off; keep it off",
            "Off on this pre-4.12 kernel; keep it off.",
        ),
        Knob::Value(v) if v == "1" => spec
            .finding(Some(v))
            .set(
                Level::Warn,
                "drops SYNs from NAT clients",
                "On: connections from clients behind NAT, and from clients whose kernel \
                 randomises TCP timestamp offsets per connection (Linux 4.10, commit \
                 95a22caee396; later narrowed to per host pair by 28ee1b746f49), are \
                 dropped at the SYN when their timestamps go backwards, counted as \
                 PAWSPassive. It was removed in 4.12 for this; turn it off.",
            )
            .suggest("0")
            .evidence(j.counters(&[Counter::PawsPassive])),
        Knob::Value(v) => spec.unexpected(v, "0 or 1"),
        other => spec.unavailable(other),
    }
}

fn fin_timeout(j: &Judge, spec: &KnobSpec) -> Finding {
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    let f = spec.finding(Some(&text));
    let f = match value.cmp(&FIN_TIMEOUT_DEFAULT_S) {
        std::cmp::Ordering::Equal => f.set(
            Level::Ok,
            "FIN_WAIT_2, not TIME_WAIT",
            format!(
                "How long an orphaned connection may sit in FIN_WAIT_2 (default 60 s). It \
                 does not govern TIME_WAIT: {TIME_WAIT_LIFETIME}."
            ),
        ),
        std::cmp::Ordering::Less => f.set(
            Level::Info,
            "lowered; TIME_WAIT stays 60 s",
            format!(
                "Lowered to {value} s: orphaned FIN_WAIT_2 sockets are dropped sooner. It \
                 does not shorten TIME_WAIT, so if that was the goal, this is not the fix: \
                 {TIME_WAIT_LIFETIME}."
            ),
        ),
        std::cmp::Ordering::Greater => f.set(
            Level::Info,
            "raised; TIME_WAIT stays 60 s",
            format!(
                "Raised to {value} s: orphaned FIN_WAIT_2 sockets linger longer. TIME_WAIT \
                 does not follow it: {TIME_WAIT_LIFETIME}."
            ),
        ),
    };
    let evidence = Judge::join(&[
        j.live
            .sockstat
            .map(|s| format!("orphaned sockets now: {}", s.orphan)),
        j.time_wait_text(),
    ]);
    f.evidence(evidence)
}

fn max_tw_buckets(j: &Judge, spec: &KnobSpec) -> Finding {
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    // The kernel's default is half the established hash table (tcp_set_hashinfo();
    // tcp_sk_init() before it); a namespace sharing the initial one shows its size
    // negated. Measured here: 262144 entries, default 131072.
    let ehash = j.live.number(Key::TcpEhashEntries);
    let default = ehash.map(|e| e.abs() / 2).filter(|&d| d > 0);
    let f = spec.finding(Some(&text)).kernel_default(default);
    let overflow = j.live.counter(Counter::TimeWaitOverflow).unwrap_or(0);
    let tw = j.live.time_wait();
    let near_limit = tw.is_some_and(|tw| tw.saturating_mul(10) >= value.max(0) as u64 * 8);
    let raised = |at_least: i64| value.saturating_mul(2).max(at_least).to_string();
    // An integer knob: the kernel's reading does not depend on the port knobs.
    let reading = values::Context {
        era: &j.live.era,
        unprivileged_start: None,
    };
    let set_by = configured(j.files, spec.key, Some(&text), &reading);
    let hit = if overflow > 0 {
        format!(
            "The limit was hit: {} skipped TIME_WAIT (TCPTimeWaitOverflow).",
            count(overflow, "closing connection")
        )
    } else {
        "TIME_WAIT sockets are at 80% of the limit or more; past it, closing connections \
         skip TIME_WAIT."
            .to_string()
    };
    let f = match (default, &set_by) {
        (Some(d), _) if value < d => f
            .set(
                Level::Warn,
                "lowered: remove the override",
                format!(
                    "Lowered below the kernel's default {d} (half of tcp_ehash_entries): \
                     past the limit, closing connections skip TIME_WAIT and lose its \
                     protection. The limit exists only against DoS; never lower it. {}",
                    removal_text(spec.key, set_by.as_ref(), Some(d))
                ),
            )
            .remove_override(),
        (None, Some(c)) if overflow > 0 || near_limit => f
            .set(
                Level::Advise,
                "limit hit: remove the override",
                format!(
                    "{hit} {}:{} sets the limit, and {UNKNOWN_TW_DEFAULT}, so whether \
                     {value} is below the default cannot be told here. Remove the \
                     override, and raise the limit only if it is still hit at the \
                     kernel's default. {}",
                    c.file,
                    c.line,
                    removal_text(spec.key, Some(c), None)
                ),
            )
            .remove_override(),
        _ if overflow > 0 || near_limit => f
            .set(
                Level::Advise,
                if overflow > 0 {
                    "limit hit: TIME_WAIT skipped"
                } else {
                    "near the limit"
                },
                format!("{hit} Raise it; a TIME_WAIT socket costs a few hundred bytes."),
            )
            .suggest(raised(default.unwrap_or(0))),
        (Some(d), _) => f.set(
            Level::Ok,
            "at or above the default",
            format!("At or above the kernel's default ({d}, half of tcp_ehash_entries)."),
        ),
        (None, _) => f.set(
            Level::Ok,
            "no overflow seen",
            format!(
                "No overflow seen (TCPTimeWaitOverflow). The default cannot be told here: \
                 {UNKNOWN_TW_DEFAULT}."
            ),
        ),
    };
    let evidence = Judge::join(&[
        tw.map(|tw| format!("TIME_WAIT sockets now, in total: {tw} of at most {value}")),
        j.counters(&[Counter::TimeWaitOverflow]),
        ehash.map(|e| format!("tcp_ehash_entries = {e}")),
    ]);
    f.evidence(evidence)
}

/// How to remove an override: delete the config line (sysctl.d cannot unset a key), or
/// whatever else sets it, and how to get the default back now when it is known.
fn removal_text(key: Key, set_by: Option<&ConfigRef>, default: Option<i64>) -> String {
    let now = default.map_or(String::new(), |d| {
        format!(", or now with `sudo sysctl -w {key}={d}`")
    });
    match set_by {
        Some(c) => format!(
            "Delete {}:{} (a sysctl.d file cannot unset a key, so a new value would only \
             be another override); the kernel's default applies from the next boot{now}.",
            c.file, c.line
        ),
        None => format!(
            "No sysctl file sets it, so something else does (a tuning tool, a container \
             runtime): remove that; the kernel's default applies from the next boot{now}."
        ),
    }
}

fn rfc1337(j: &Judge, spec: &KnobSpec) -> Finding {
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    let f = spec.finding(Some(&text));
    match value {
        0 => f.set(
            Level::Ok,
            "RST ends TIME_WAIT (default)",
            "The default: an RST with the expected sequence number ends a TIME_WAIT socket early \
             (\"TIME-WAIT assassination\", RFC 1337); 1 makes TIME_WAIT ignore RSTs.",
        ),
        1 => f.set(
            Level::Ok,
            "TIME_WAIT ignores RST",
            "TIME_WAIT sockets ignore RSTs, as RFC 1337 recommends: an RST no longer ends \
             one before its 60 s (tcp_tw_reuse and a new SYN for the same connection \
             still can).",
        ),
        _ => spec.unexpected(&text, "0 or 1"),
    }
}
