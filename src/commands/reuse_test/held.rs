//! The report on a port a live socket holds: nothing is run, the holder and its owner are
//! named, or the port is found to have changed hands before its owner was searched.

use std::time::Instant;

use super::race::{Partial, changed_hands_report, occupant_changes};
use super::report::{Occupant, OwnerSearch, PortChange, PortStatus, ReuseReport, Step};
use super::survey::{PortSurvey, search_owner, survey_port, uid_text};
use crate::commands::args::ReuseTestArgs;
use crate::sys::fs::Root;
use crate::sys::record::TcpState;

/// and the socket turns out to be gone by then, it is not said to hold the port: the port
/// changed hands between the survey and the search, and a fresh survey says how it is now.
pub(super) fn held_or_changed(
    args: &ReuseTestArgs,
    root: &Root,
    survey: PortSurvey,
    started: Instant,
) -> anyhow::Result<ReuseReport> {
    let holder = survey.holder();
    let owner_search = holder
        .pid
        .is_none()
        .then(|| search_owner(root, holder, survey.unreadable));
    if owner_search
        .as_ref()
        .is_some_and(|search| search.still_there == Some(false))
    {
        let fresh = survey_port(root, args.addr, args.port)?;
        let change = holder_left(holder, &survey, &fresh);
        let mut report = changed_hands_report(args, fresh, Partial::default(), change, started);
        report.owner_search = owner_search;
        return Ok(report);
    }
    Ok(held_report(args, survey, owner_search, started))
}

/// What changed when the holder the survey found had gone before its owner was searched.
pub(super) fn holder_left(holder: &Occupant, first: &PortSurvey, fresh: &PortSurvey) -> PortChange {
    let (appeared, departed) = occupant_changes(&first.occupants, &fresh.occupants, &[]);
    PortChange {
        step: Step::OwnerSearch,
        first_outcome: held_by(holder),
        second_outcome: match fresh.status {
            PortStatus::Held => held_by(fresh.holder()),
            PortStatus::Free => "free".into(),
            PortStatus::TimeWaitOnly => "held only by TIME_WAIT sockets".into(),
            PortStatus::OtherAddress => "used only on other addresses".into(),
        },
        appeared,
        departed,
    }
}

/// "held by a live LISTEN socket on 127.0.0.1:8080".
pub(super) fn held_by(holder: &Occupant) -> String {
    let peer = if holder.state == TcpState::Listen {
        String::new()
    } else {
        format!(" ↔ {}", holder.remote)
    };
    format!(
        "held by a live {} socket on {}{peer}",
        holder.state, holder.local
    )
}

pub(super) fn held_report(
    args: &ReuseTestArgs,
    survey: PortSurvey,
    owner_search: Option<OwnerSearch>,
    started: Instant,
) -> ReuseReport {
    let holder = survey.holder();
    let who = match (&holder.process, holder.pid, &owner_search) {
        (Some(process), Some(pid), _) => {
            format!("{process} (pid {pid}, {})", uid_text(holder.uid))
        }
        (_, _, Some(search)) => search.reason.clone(),
        _ => format!("an unknown process ({})", uid_text(holder.uid)),
    };
    // The rules below are `inet_bind_conflict()` (net/ipv4/inet_connection_sock.c): SO_REUSEADDR
    // on both sockets relaxes the conflict only when the old one is not listening; SO_REUSEPORT
    // on both relaxes it in every state when both sockets belong to the same uid.
    let same_uid = holder
        .uid
        .map_or_else(|| "the same uid".into(), |u| format!("the same uid ({u})"));
    let (verdict, fix) = if holder.state == TcpState::Listen {
        (
            format!(
                "Port {} is held by a live LISTEN socket on {} owned by {who}. A new bind() on \
                 {} fails with EADDRINUSE unless both sockets set SO_REUSEPORT and the new one \
                 belongs to {same_uid}; SO_REUSEADDR never relaxes the conflict with a listener \
                 (socket(7) SO_REUSEADDR and SO_REUSEPORT; inet_bind_conflict(), \
                 net/ipv4/inet_connection_sock.c).",
                args.port, holder.local, args.addr
            ),
            "Stop that process or choose another port. SO_REUSEPORT on both sockets (same \
             effective uid) would let a second listener join, but then the two share incoming \
             connections, which is rarely what a restart wants."
                .to_string(),
        )
    } else if holder.state == TcpState::Close {
        (
            format!(
                "Port {} is held by a socket on {} owned by {who} that is bound but neither \
                 listening nor connected (a bind() before connect(), or a server between bind() \
                 and listen()). A new bind() succeeds only if both sockets set SO_REUSEADDR, or \
                 both set SO_REUSEPORT and the new one belongs to {same_uid} \
                 (inet_bind_conflict(), net/ipv4/inet_connection_sock.c).",
                args.port, holder.local
            ),
            "Close that socket (or stop that process), or set SO_REUSEADDR on both sockets before \
             bind(); a client that binds before connecting should use IP_BIND_ADDRESS_NO_PORT or \
             let connect() pick the port."
                .to_string(),
        )
    } else {
        (
            format!(
                "Port {} is held by a live {} socket on {} owned by {who} (no listener: probably \
                 connections an old server accepted). A new bind() succeeds only if SO_REUSEADDR \
                 was set on the old socket and is set on the new one, or SO_REUSEPORT on both \
                 with the new one belonging to {same_uid} (inet_bind_conflict(), \
                 net/ipv4/inet_connection_sock.c).",
                args.port, holder.state, holder.local
            ),
            "Close those connections (or stop that process), or set SO_REUSEADDR on the \
             listening socket before bind() in both the old and the new server."
                .to_string(),
        )
    };
    ReuseReport {
        owner_search,
        ..ReuseReport::stopped(
            args,
            survey,
            (verdict, fix),
            "sockdoc did not touch the port: no experiment ran while a live socket holds it.",
            started,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_for(port: u16) -> ReuseTestArgs {
        use clap::Parser;
        /// The arguments alone, parsed with their defaults as the command line would.
        #[derive(Parser)]
        struct Line {
            #[command(flatten)]
            args: ReuseTestArgs,
        }
        Line::try_parse_from(["reuse-test", &port.to_string()])
            .unwrap()
            .args
    }

    /// A survey of a port this test holds with a listener, with the owner unnamed, as when
    /// the /proc scan finds no descriptor for the listed socket.
    fn unnamed_holder() -> (std::net::TcpListener, ReuseTestArgs, PortSurvey) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let args = args_for(listener.local_addr().unwrap().port());
        let mut survey = survey_port(&Root::live(), args.addr, args.port).unwrap();
        assert_eq!(survey.status, PortStatus::Held);
        for occupant in &mut survey.occupants {
            occupant.pid = None;
            occupant.process = None;
        }
        (listener, args, survey)
    }

    #[test]
    fn a_holder_that_stays_holds_the_port() {
        let (_listener, args, survey) = unnamed_holder();
        let report = held_or_changed(&args, &Root::live(), survey, Instant::now()).unwrap();
        assert_eq!(report.port_status, PortStatus::Held);
        assert!(!report.port_changed_during_run);
        assert_eq!(report.owner_search.unwrap().still_there, Some(true));
    }

    #[test]
    fn a_holder_gone_before_its_owner_search_is_a_change_of_hands() {
        // The socket closes between the listing and the search for its owner, as a parallel
        // run's listener does: the report must not say it holds the port.
        let (listener, args, survey) = unnamed_holder();
        let listed = listener.local_addr().unwrap().to_string();
        drop(listener);
        let report = held_or_changed(&args, &Root::live(), survey, Instant::now()).unwrap();
        assert!(report.port_changed_during_run, "{}", report.verdict);
        assert_eq!(report.owner_search.unwrap().still_there, Some(false));
        let change = report.port_change.unwrap();
        assert_eq!(change.step, Step::OwnerSearch);
        assert_eq!(
            change.first_outcome,
            format!("held by a live LISTEN socket on {listed}")
        );
        assert!(
            change.departed.iter().any(|o| o.local == listed),
            "{change:?}"
        );
        assert!(report.verdict.contains("changed hands during the run"));
        assert!(!report.verdict.contains("owned by"), "{}", report.verdict);
    }
}
