//! Holding what the lab child measured against what Linux documents, in the parent.

use std::time::Duration;

use super::{
    AT_ONCE, CaseFigures, EARLY, IDLE, KeepaliveDetails, LATE, MIDDLEBOX_TIMEOUT_S, OBSERVE,
    Outcome, PAYLOAD, RULESET, TIMER_SLACK, USER_TIMEOUT,
};
use crate::commands::args::KeepaliveCase;
use crate::commands::scenario::{Check, Scenario, ScenarioReport};
use crate::exit::Exit;
use crate::units::human;

/// TCP_RTO_MIN (HZ/5) and TCP_RTO_MAX (120*HZ), include/net/tcp.h, in ms.
const TCP_RTO_MIN_MS: u64 = 200;
const TCP_RTO_MAX_MS: u64 = 120_000;

/// tcp_model_timeout(sk, boundary, TCP_RTO_MIN), net/ipv4/tcp_timer.c: how long
/// retransmits_timed_out() lets `boundary` exponentially backed-off retransmissions run
/// (doubling from TCP_RTO_MIN up to TCP_RTO_MAX, then linear).
pub fn model_timeout_ms(boundary: u64) -> u64 {
    let linear_backoff_thresh = u64::from((TCP_RTO_MAX_MS / TCP_RTO_MIN_MS).ilog2());
    if boundary <= linear_backoff_thresh {
        ((2 << boundary) - 1) * TCP_RTO_MIN_MS
    } else {
        ((2 << linear_backoff_thresh) - 1) * TCP_RTO_MIN_MS
            + (boundary - linear_backoff_thresh) * TCP_RTO_MAX_MS
    }
}

const MECHANISM: &str = "A stateful middlebox keeps one entry per flow and forgets it after an idle \
    timeout; here it is nftables in the lab namespace (`ct state invalid drop` on input) with \
    net.netfilter.nf_conntrack_tcp_timeout_established = 2 and nf_conntrack_tcp_loose = 0. Each \
    valid packet refreshes the entry (nf_conntrack_tcp_packet() → nf_ct_refresh_acct(), \
    net/netfilter/nf_conntrack_proto_tcp.c). Once it is gone, the flow's next segment is no SYN, \
    and with tcp_loose = 0 tcp_new() refuses to pick the connection up, so conntrack marks the \
    segment invalid and the rule drops it. Nobody tells either end: write() still succeeds (the \
    data goes into the send buffer), and the segment is retransmitted with exponential backoff \
    (tcp_retransmit_timer(), net/ipv4/tcp_timer.c) until tcp_write_timeout() → \
    retransmits_timed_out() gives up after tcp_retries2 backed-off retransmissions \
    (tcp_model_timeout(): about 15 minutes for the default 15). Keepalive \
    (tcp_keepalive_timer(), same file) sends a probe after TCP_KEEPIDLE of silence and every \
    TCP_KEEPINTVL after that; a probe that passes the middlebox before it forgets refreshes the \
    entry, so the flow stays alive; when icsk_probes_out reaches TCP_KEEPCNT unanswered, \
    the timer sends an RST and tcp_write_err() closes the socket, reporting ETIMEDOUT (or an \
    earlier soft error such as EHOSTUNREACH) — after idle + intvl × cnt. \
    TCP_USER_TIMEOUT bounds how long data may go unacknowledged while it is retransmitted: \
    retransmits_timed_out() compares it with the time since retrans_stamp, which \
    tcp_retransmit_skb() (net/ipv4/tcp_output.c) sets at the first retransmission, one RTO \
    after the write, and tcp_clamp_rto_to_user_timeout() arms the retransmission timer for no \
    longer than the time left, so the write fails with ETIMEDOUT between the user timeout and \
    the user timeout plus one RTO after it was written.";

const FIX: &str = "Turn SO_KEEPALIVE on for every long-lived connection that may sit idle, with \
    TCP_KEEPIDLE below the shortest idle timeout of any NAT, firewall or load balancer on the \
    path (the kernel default, net.ipv4.tcp_keepalive_time = 7200 s, is longer than most), and \
    TCP_KEEPINTVL × TCP_KEEPCNT as short as the detection time you need; set TCP_USER_TIMEOUT \
    too, so a write into a dead connection fails in bounded time instead of after \
    tcp_retries2. To find connections at risk: `sockdoc inspect` reports idle established \
    connections without keepalive (finding idle-no-keepalive).";

pub fn judge(
    mut s: Scenario,
    cases: &[KeepaliveCase],
    outcome: Outcome,
    host_timeout: Option<u64>,
) -> (ScenarioReport, Exit) {
    let mut by_case = cases.iter().copied().zip(outcome.cases);
    let mut details = KeepaliveDetails {
        isolation: outcome.isolation,
        conntrack_timeout_established_s: outcome.conntrack_timeout_established_s,
        conntrack_tcp_loose: outcome.conntrack_tcp_loose,
        retries2_gives_up_after_ms: outcome.tcp_retries2.map(model_timeout_ms),
        no_keepalive: None,
        keepalive: None,
        keepalive_too_late: None,
        user_timeout: None,
    };
    s.check(Check::equal(
        "the middlebox's idle timeout (nf_conntrack_tcp_timeout_established) reads back as set",
        details
            .conntrack_timeout_established_s
            .map_or("unreadable".to_owned(), |v| format!("{v} s")),
        &format!("{MIDDLEBOX_TIMEOUT_S} s"),
    ));
    let mut verdicts = Vec::new();
    for (case, figures) in by_case.by_ref() {
        match case {
            KeepaliveCase::NoKeepalive => {
                verdicts.push(no_keepalive(&mut s, &figures));
                details.no_keepalive = Some(figures);
            }
            KeepaliveCase::Keepalive => {
                verdicts.push(keepalive(&mut s, &figures));
                details.keepalive = Some(figures);
            }
            KeepaliveCase::KeepaliveTooLate => {
                verdicts.push(too_late(&mut s, &figures));
                details.keepalive_too_late = Some(figures);
            }
            KeepaliveCase::UserTimeout => {
                verdicts.push(user_timeout(&mut s, &figures));
                details.user_timeout = Some(figures);
            }
        }
    }
    s.note(format!(
        "The middlebox was this nftables ruleset, loaded with nft -f - inside the throwaway \
         namespace (which died with it), over loopback: {}",
        RULESET.split_whitespace().collect::<Vec<_>>().join(" ")
    ));
    if let Some(host) = host_timeout {
        s.note(format!(
            "For scale: this host's own namespace keeps an idle established flow for \
             {host} s (net.netfilter.nf_conntrack_tcp_timeout_established); NAT gateways and \
             firewalls elsewhere often keep far less."
        ));
    }
    s.note(
        "Cases ran side by side, each on its own connection and server port (5000 up); times \
         allow a timer-wheel margin (kernel/time/timer.c) of 750 ms.",
    );
    let verdict = verdicts.join(" ");
    s.finish(&details, MECHANISM, verdict, FIX)
}

fn tracked_check(s: &mut Scenario, f: &CaseFigures, name: &str, expected: bool) {
    if let Some(tracked) = f.flow_tracked_before_write {
        let text = |t: bool| if t { "tracked" } else { "forgotten" };
        s.check(Check::equal(name, text(tracked), text(expected)));
    } else {
        s.note(format!(
            "{name}: not checked (the lab's /proc/net/nf_conntrack could not be read: \
             inside a user namespace, as an unprivileged user, the kernel refuses it)"
        ));
    }
}

fn ms(ms: Option<u64>) -> String {
    ms.map_or("never".to_owned(), |ms| human(Duration::from_millis(ms)))
}

fn us(us: Option<u64>) -> String {
    us.map_or("never".to_owned(), |us| human(Duration::from_micros(us)))
}

fn or_none<T: ToString>(value: Option<&T>) -> String {
    value.map_or("none".to_owned(), ToString::to_string)
}

/// A write after the idle goes into the send buffer at once, whatever happens to it later.
fn write_at_once_check(s: &mut Scenario, f: &CaseFigures, case: &str) {
    s.check(Check::new(
        format!("{case}: the write after the idle returns at once (into the send buffer)"),
        format!(
            "{} in {}",
            or_none(f.write_result.as_ref()),
            us(f.write_returned_us)
        ),
        format!("{} bytes accepted within {}", PAYLOAD.len(), human(AT_ONCE)),
        accepted_at_once(f),
    ));
}

fn accepted_at_once(f: &CaseFigures) -> bool {
    f.write_result.as_deref() == Some(&format!("{} bytes accepted", PAYLOAD.len()))
        && f.write_returned_us
            .is_some_and(|us| Duration::from_micros(us) <= AT_ONCE)
}

fn no_keepalive(s: &mut Scenario, f: &CaseFigures) -> String {
    tracked_check(
        s,
        f,
        "no keepalive: after 3 s idle the middlebox has forgotten the flow",
        false,
    );
    write_at_once_check(s, f, "no keepalive");
    s.check(Check::new(
        "no keepalive: the peer never receives it",
        format!(
            "peer read {} after {}",
            or_none(f.peer_read.as_ref()),
            us(f.peer_waited_us)
        ),
        format!("EAGAIN after its {} SO_RCVTIMEO", human(OBSERVE)),
        !f.delivered && f.peer_read.as_deref() == Some("EAGAIN"),
    ));
    let retransmitting = f.unacked.is_some_and(|n| n >= 1)
        && f.total_retrans.is_some_and(|n| n >= 2)
        && f.backoff.is_some_and(|n| n >= 2);
    s.check(Check::new(
        "no keepalive: the data stays unacknowledged and is retransmitted with backoff",
        format!(
            "unacked {}, retransmitted {}, backoff {}",
            or_none(f.unacked.as_ref()),
            or_none(f.total_retrans.as_ref()),
            or_none(f.backoff.as_ref())
        ),
        format!(
            "unacked ≥ 1, retransmitted ≥ 2, backoff ≥ 2 within {}",
            human(OBSERVE)
        ),
        retransmitting,
    ));
    format!(
        "Without keepalive the connection sat idle past the middlebox's timeout and died \
         silently: the write was accepted in {}, the peer got nothing in {} and the sender was \
         still retransmitting ({} retransmissions, RTO now {}).",
        us(f.write_returned_us),
        us(f.peer_waited_us),
        or_none(f.total_retrans.as_ref()),
        us(f.rto_us.map(u64::from)),
    )
}

fn keepalive(s: &mut Scenario, f: &CaseFigures) -> String {
    let (idle, intvl, cnt) = EARLY;
    s.check(Check::equal(
        "keepalive in time: the options read back as set",
        options(f),
        &format!("SO_KEEPALIVE on, idle {idle} s, intvl {intvl} s, cnt {cnt}"),
    ));
    tracked_check(
        s,
        f,
        "keepalive in time: the probes keep the middlebox's entry alive through 3 s idle",
        true,
    );
    let delivered_at_once = f.delivered
        && f.peer_waited_us
            .is_some_and(|us| Duration::from_micros(us) <= AT_ONCE)
        && f.total_retrans == Some(0);
    s.check(Check::new(
        "keepalive in time: the write after the idle is delivered at once",
        format!(
            "peer read {} after {}, retransmitted {}",
            or_none(f.peer_read.as_ref()),
            us(f.peer_waited_us),
            or_none(f.total_retrans.as_ref())
        ),
        format!(
            "{} bytes within {}, no retransmission",
            PAYLOAD.len(),
            human(AT_ONCE)
        ),
        delivered_at_once,
    ));
    format!(
        "With keepalive probing every {intvl} s from {idle} s of idle (below the middlebox's \
         {MIDDLEBOX_TIMEOUT_S} s) the flow stayed known and the write after {} idle reached \
         the peer in {}.",
        human(IDLE),
        us(f.peer_waited_us)
    )
}

fn too_late(s: &mut Scenario, f: &CaseFigures) -> String {
    let (idle, intvl, cnt) = LATE;
    s.check(Check::equal(
        "keepalive too late: the options read back as set",
        options(f),
        &format!("SO_KEEPALIVE on, idle {idle} s, intvl {intvl} s, cnt {cnt}"),
    ));
    let expected = Duration::from_millis(f.expected_death_ms.unwrap_or_default());
    let in_window = f.failed_after_ms.is_some_and(|ms| {
        let d = Duration::from_millis(ms);
        d + Duration::from_millis(10) >= expected && d <= expected + TIMER_SLACK
    });
    s.check(Check::new(
        "keepalive too late: the probes go unanswered and the kernel declares the connection \
         dead (ETIMEDOUT) after idle + intvl × cnt",
        format!(
            "{} after {}",
            or_none(f.client_read.as_ref()),
            ms(f.failed_after_ms)
        ),
        format!(
            "ETIMEDOUT after {} to {}",
            human(expected),
            human(expected + TIMER_SLACK)
        ),
        f.client_read.as_deref() == Some("ETIMEDOUT") && in_window,
    ));
    format!(
        "With the first probe after {idle} s (past the middlebox's timeout) the probes were \
         dropped and the kernel declared the connection dead after {} ({} s + {intvl} s × \
         {cnt}): bounded, but the flow was lost.",
        ms(f.failed_after_ms),
        idle
    )
}

fn user_timeout(s: &mut Scenario, f: &CaseFigures) -> String {
    s.check(Check::equal(
        "user timeout: TCP_USER_TIMEOUT reads back as set",
        ms(f.user_timeout_ms),
        &human(USER_TIMEOUT),
    ));
    write_at_once_check(s, f, "user timeout");
    // The clock starts at the first retransmission, one RTO after the write: the RTO before
    // any backoff is at least TCP_RTO_MIN, and on loopback about that.
    let latest = USER_TIMEOUT + Duration::from_millis(TCP_RTO_MIN_MS) + TIMER_SLACK;
    let in_window = f.failed_after_ms.is_some_and(|ms| {
        let d = Duration::from_millis(ms);
        d + Duration::from_millis(10) >= USER_TIMEOUT && d <= latest
    });
    s.check(Check::new(
        "user timeout: the unacknowledged write fails the connection with ETIMEDOUT after the \
         user timeout",
        format!(
            "{} after {}",
            or_none(f.client_read.as_ref()),
            ms(f.failed_after_ms)
        ),
        format!(
            "ETIMEDOUT after {} to {}",
            human(USER_TIMEOUT),
            human(latest)
        ),
        f.client_read.as_deref() == Some("ETIMEDOUT") && in_window,
    ));
    format!(
        "With TCP_USER_TIMEOUT {} and no keepalive, the write into the dead flow was accepted \
         and the connection failed with {} {} later.",
        human(USER_TIMEOUT),
        or_none(f.client_read.as_ref()),
        ms(f.failed_after_ms)
    )
}

fn options(f: &CaseFigures) -> String {
    if !f.so_keepalive {
        return "SO_KEEPALIVE off".to_owned();
    }
    format!(
        "SO_KEEPALIVE on, idle {} s, intvl {} s, cnt {}",
        or_none(f.keepidle_s.as_ref()),
        or_none(f.keepintvl_s.as_ref()),
        or_none(f.keepcnt.as_ref())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retries2_model_matches_tcp_model_timeout() {
        // linear_backoff_thresh = ilog2(120000 / 200) = 9: doubling until then, then 120 s each.
        assert_eq!(model_timeout_ms(0), 200);
        assert_eq!(model_timeout_ms(3), 3_000);
        assert_eq!(model_timeout_ms(9), 204_600);
        assert_eq!(
            model_timeout_ms(15),
            924_600,
            "the default: about 15.4 minutes"
        );
    }
}
