//! The kernel counters around each experiment, and the words that attribute what was
//! measured to a mechanism: per mode, for the whole run, and the verdict.

use std::collections::BTreeMap;
use std::time::Duration;

use super::report::{Burst, Counters, ModeReport};
use super::{Mode, TCP_DELACK_MIN};
use crate::sys::fs::Root;
use crate::sys::procfs;
use crate::units::{count, human};

pub(super) fn read_counters(root: &Root) -> Option<BTreeMap<String, u64>> {
    procfs::read_netstat(root).ok()
}

pub(super) fn delta(
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

pub(super) fn attribute_mode(mode: Mode, m: &ModeReport, control_segments: Option<u64>) -> String {
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

pub(super) fn attribute_all(modes: &[ModeReport], autocorking: Option<&str>) -> String {
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

pub(super) fn verdict(modes: &[ModeReport]) -> (String, String) {
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
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_numbers_read_as_ranges() {
        assert_eq!(round_ranges(&[]), "none");
        assert_eq!(round_ranges(&[1]), "1");
        assert_eq!(round_ranges(&[2, 3, 4, 5]), "2-5");
        assert_eq!(round_ranges(&[1, 2, 3, 5, 7, 8]), "1-3, 5, 7-8");
    }
}
