//! The verdict and the fix of a run that reached the matrix, from what it measured.

use std::time::Duration;

use super::report::{PortStatus, Reproduction, TimeWaitProbe, Trial, WaitResult};
use super::survey::PortSurvey;
use super::trials::FIX_REUSEADDR;
use crate::sys::record::TcpState;
use crate::sys::{TCP_TIMEWAIT_LEN, TIMEWAIT_WHEEL_ROUNDING_MAX};
use crate::units::human;

pub(super) fn verdict(
    survey: &PortSurvey,
    probe: Option<&TimeWaitProbe>,
    port: u16,
    repro: &Reproduction,
    trials: &[Trial],
    wait: Option<&WaitResult>,
) -> (String, String) {
    let mut parts = Vec::new();
    let mut fix = FIX_REUSEADDR.to_string();
    match (survey.status, probe) {
        (PortStatus::TimeWaitOnly, Some(p)) => {
            let (sentence, probe_fix) = time_wait_verdict(port, p);
            parts.push(sentence);
            fix = probe_fix.unwrap_or(fix);
        }
        (PortStatus::OtherAddress, _) => parts
            .push("Sockets use this port on other addresses only; they do not conflict.".into()),
        _ => {}
    }
    if repro.reproduced {
        parts.push(format!(
            "Reproduced on port {}: after the server closed first, its TIME_WAIT socket made \
             bind() without SO_REUSEADDR fail with EADDRINUSE, and bind() with SO_REUSEADDR \
             succeed: its listener had set SO_REUSEADDR, and Linux lets SO_REUSEADDR bind over \
             TIME_WAIT only when both the old and the new socket set it (inet_bind_conflict(), \
             net/ipv4/inet_connection_sock.c).",
            repro.port
        ));
    } else {
        parts.push(format!(
            "Not reproduced on port {}: the server side ended in {}, bind() without \
             SO_REUSEADDR gave {} and with it gave {}.",
            repro.port,
            repro
                .server_state
                .map_or("no socket at all", TcpState::name),
            repro.bind_without_reuseaddr,
            repro.bind_with_reuseaddr
        ));
    }
    let mismatched: Vec<&str> = trials
        .iter()
        .filter(|t| !t.matches)
        .map(|t| t.name)
        .collect();
    if mismatched.is_empty() {
        parts.push(format!(
            "All {} bind-rule trials matched documented Linux behaviour.",
            trials.len()
        ));
    } else {
        parts.push(format!(
            "{} of {} trials disagreed with documented Linux behaviour: {}.",
            mismatched.len(),
            trials.len(),
            mismatched.join("; ")
        ));
    }
    if let Some(w) = wait {
        let fin = w
            .tcp_fin_timeout_s
            .map_or_else(|| "unreadable".into(), |s| format!("{s} s"));
        parts.push(format!(
            "TIME_WAIT lasted {} (net.ipv4.tcp_fin_timeout = {fin}, which governs orphaned \
             FIN_WAIT2, not TIME_WAIT).",
            human(Duration::from_millis(w.lifetime_ms)),
        ));
    }
    (parts.join(" "), fix)
}

/// What the bind() probes say about a port held only by TIME_WAIT sockets, and the fix when
/// it is not the usual one.
pub(super) fn time_wait_verdict(port: u16, p: &TimeWaitProbe) -> (String, Option<String>) {
    let until_expiry = p.longest_expires_ms.map_or_else(
        || {
            format!(
                "until they expire (TCP_TIMEWAIT_LEN = {})",
                human(TCP_TIMEWAIT_LEN)
            )
        },
        |ms| {
            format!(
                "until they expire: {} left on the longest timer, plus up to {} of timer-wheel \
                 rounding",
                human(Duration::from_millis(ms)),
                human(TIMEWAIT_WHEEL_ROUNDING_MAX)
            )
        },
    );
    let probes = format!("bind() probes: {}", p.outcomes());
    match (p.old_had_reuseaddr, p.old_had_reuseport) {
        (true, also_port) => (
            format!(
                "Port {port} was held only by TIME_WAIT sockets, the classic restart case; they \
                 were made with SO_REUSEADDR, so a server that sets SO_REUSEADDR can bind now{} \
                 ({probes}).",
                if also_port {
                    " (SO_REUSEPORT works too: they carry it as well)"
                } else {
                    ""
                }
            ),
            None,
        ),
        (false, true) => (
            format!(
                "Port {port} was held only by TIME_WAIT sockets whose program set SO_REUSEPORT \
                 but not SO_REUSEADDR ({probes}). A new server that sets SO_REUSEPORT can bind \
                 now, whatever its uid: a TIME_WAIT socket with SO_REUSEPORT does not conflict \
                 with a new SO_REUSEPORT socket, and its uid is not checked (inet_bind_conflict(), \
                 net/ipv4/inet_connection_sock.c). One that sets only SO_REUSEADDR fails with \
                 EADDRINUSE {until_expiry}."
            ),
            Some(
                "Now: set SO_REUSEPORT on the new server's listening socket before bind(), as the \
                 old one did. For good: also set SO_REUSEADDR in every version of the server. \
                 SO_REUSEPORT alone also lets a second live listener of the same uid share the \
                 port, so a forgotten old instance would silently take part of the connections."
                    .to_string(),
            ),
        ),
        (false, false) => (
            format!(
                "Port {port} was held only by TIME_WAIT sockets, the classic restart case, and the \
                 program that made them set neither SO_REUSEADDR nor SO_REUSEPORT ({probes}): no \
                 new server can bind it {until_expiry}."
            ),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::reuse_test::report::{BindOutcome, ReuseOption};

    fn probe(reuseaddr: bool, reuseport: bool) -> TimeWaitProbe {
        let outcome = |ok| {
            if ok {
                BindOutcome::Ok
            } else {
                BindOutcome::ADDR_IN_USE
            }
        };
        TimeWaitProbe {
            bind_with_reuseaddr: outcome(reuseaddr),
            bind_with_reuseport: outcome(reuseport),
            old_had_reuseaddr: reuseaddr,
            old_had_reuseport: reuseport,
            binds_now_with: [
                (reuseaddr, ReuseOption::ReuseAddr),
                (reuseport, ReuseOption::ReusePort),
            ]
            .into_iter()
            .filter_map(|(ok, option)| ok.then_some(option))
            .collect(),
            longest_expires_ms: Some(42_000),
        }
    }

    // The wording of each probe result; tests/reuse_test.rs checks the probe's fields on
    // real TIME_WAIT sockets.
    #[test]
    fn each_probe_result_has_its_own_verdict() {
        let (neither, fix) = time_wait_verdict(9000, &probe(false, false));
        assert!(
            neither.contains("neither SO_REUSEADDR nor SO_REUSEPORT"),
            "{neither}"
        );
        assert!(neither.contains("SO_REUSEADDR → EADDRINUSE, SO_REUSEPORT → EADDRINUSE"));
        assert!(fix.is_none(), "the usual fix");
        let (classic, fix) = time_wait_verdict(9000, &probe(true, false));
        assert!(classic.contains("classic restart case"), "{classic}");
        assert!(classic.contains("can bind now"), "{classic}");
        assert!(fix.is_none());
        let (port_only, fix) = time_wait_verdict(9000, &probe(false, true));
        assert!(
            port_only.contains("SO_REUSEPORT but not SO_REUSEADDR"),
            "{port_only}"
        );
        assert!(fix.unwrap().contains("set SO_REUSEPORT on the new server"));
    }
}
