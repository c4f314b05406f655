//! `sockdoc reuse-test [PORT]`: who holds a port, the TIME_WAIT → EADDRINUSE restart
//! problem reproduced, and the Linux bind-conflict rules measured one trial at a time.
//!
//! The rules come from `inet_bind_conflict()` (net/ipv4/inet_connection_sock.c; socket(7)
//! states only the listener and wildcard cases): a new socket may share a port with an
//! existing one when both set SO_REUSEADDR and the existing one is not listening, or when
//! both set SO_REUSEPORT (TIME_WAIT, or the same effective uid). Nothing here assumes those
//! rules hold: every trial measures the outcome and compares it with them.

mod attempt;
mod connection;
mod explain;
mod held;
mod matrix;
mod probe;
mod race;
mod report;
mod reproduce;
mod survey;
mod trials;
mod verdict;
mod wait;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::Context;
use crate::commands::args::ReuseTestArgs;
use crate::exit::Exit;
use crate::sys::{TCP_TIMEWAIT_LEN, TIMEWAIT_WHEEL_ROUNDING_MAX};
use crate::units::{human, micros};

use held::held_or_changed;
use matrix::{run_trial, std_listener_defaults};
use race::{Partial, changed_hands_report, checked_probe, reproduce_checked};
pub use report::{
    Api, BindOutcome, BindStep, FlagReadback, HolderState, Occupant, OwnerSearch, PortChange,
    PortStatus, Reproduction, ReuseOption, ReuseReport, Step, TimeWaitEntry, TimeWaitProbe, Trial,
    WaitResult,
};
use reproduce::time_wait_on;
use survey::{PortSurvey, survey_port};
use trials::TRIALS;
use verdict::verdict;
use wait::follow_if_any;

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

pub fn run(args: &ReuseTestArgs, ctx: &Context) -> anyhow::Result<(ReuseReport, Exit)> {
    let started = Instant::now();
    let addr = args.addr;
    check_address(addr)?;
    let requested_port = (args.port != 0).then_some(args.port);
    let mut notes = Vec::new();

    // 1. Who holds the port now, before touching it.
    let mut survey = PortSurvey::empty();
    if let Some(port) = requested_port {
        survey = survey_port(&ctx.root, addr, port)?;
        if survey.status == PortStatus::Held {
            let report = held_or_changed(args, &ctx.root, survey, started)?;
            return Ok((report, Exit::CannotRun));
        }
    }
    // Every step that depends on the survey looks again before it blames anyone: another
    // program may have taken the port since. If it did, the run ends here.
    let changed = |survey, partial, change| {
        let report = changed_hands_report(args, survey, partial, change, started);
        Ok((report, Exit::CannotRun))
    };

    // Which options the TIME_WAIT sockets on the port carry, if only they hold it.
    let probe = match (survey.status, requested_port) {
        (PortStatus::TimeWaitOnly, Some(port)) => {
            match checked_probe(&ctx.root, SocketAddr::new(addr, port), &survey)? {
                Ok(probe) => Some(probe),
                // The probe's outcome is in the change; as a probe it is not believed.
                Err(change) => return changed(survey, Partial::default(), change),
            }
        }
        _ => None,
    };
    let repro_port = reproduction_port(probe.as_ref(), requested_port, &mut notes);

    // 2. Reproduce TIME_WAIT → EADDRINUSE.
    let target = SocketAddr::new(addr, repro_port);
    let (reproduction, followed) = match reproduce_checked(target, &survey, ctx)? {
        Ok(done) => done,
        Err((reproduction, change)) => {
            let partial = Partial {
                probe,
                reproduction,
            };
            return changed(survey, partial, change);
        }
    };
    let (time_wait, listing) = time_wait_on(addr, reproduction.port)?;
    if requested_port.is_none() {
        survey.source = listing.source;
        survey.note = listing.fallback_reason;
    }

    // 3. The bind-rule matrix, each trial on its own ephemeral port.
    let std_defaults = std_listener_defaults(addr, ctx.timeout)?;
    let trials = TRIALS
        .iter()
        .map(|spec| run_trial(spec, addr, std_defaults, ctx))
        .collect::<anyhow::Result<Vec<_>>>()?;

    // 4. --wait: follow the reproduction's TIME_WAIT socket to its end.
    let wait = if args.wait {
        follow_if_any(followed.as_ref(), ctx, &mut notes)?
    } else {
        None
    };

    notes.push(leftovers_note(reproduction.port));
    if let Some(note) = &survey.note {
        notes.push(note.clone());
    }

    let mismatches = trials.iter().filter(|t| !t.matches).count();
    let wait_mismatch = wait.as_ref().is_some_and(|w| !w.matches);
    let (verdict, fix) = verdict(
        &survey,
        probe.as_ref(),
        requested_port.unwrap_or(reproduction.port),
        &reproduction,
        &trials,
        wait.as_ref(),
    );
    let finding = mismatches > 0
        || wait_mismatch
        || !reproduction.reproduced
        || probe.as_ref().is_some_and(|p| !p.old_had_reuseaddr);
    let report = ReuseReport {
        address: addr.to_string(),
        port: reproduction.port,
        requested_port,
        listing_source: survey.source,
        listing_note: survey.note.clone(),
        occupants: survey.occupants,
        port_status: survey.status,
        time_wait_probe: probe,
        reproduction: Some(reproduction),
        time_wait,
        trials,
        std_listener_defaults: Some(FlagReadback {
            reuseaddr: std_defaults.reuse_address,
            reuseport: std_defaults.reuse_port,
        }),
        wait,
        port_changed_during_run: false,
        port_change: None,
        owner_search: None,
        verdict,
        fix,
        notes,
        elapsed_us: micros(started.elapsed()),
    };
    Ok((report, if finding { Exit::Finding } else { Exit::Clean }))
}

/// The port the reproduction runs on: the user's, or an ephemeral one (0) when nothing was
/// asked or when TIME_WAIT sockets without SO_REUSEADDR block the user's, which a note says.
fn reproduction_port(
    probe: Option<&TimeWaitProbe>,
    requested: Option<u16>,
    notes: &mut Vec<String>,
) -> u16 {
    match (probe, requested) {
        (Some(p), Some(port)) if !p.old_had_reuseaddr => {
            notes.push(format!(
                "Port {port} is blocked by TIME_WAIT sockets made without SO_REUSEADDR, so the \
                 reproduction ran on an ephemeral port instead."
            ));
            0
        }
        (_, port) => port.unwrap_or(0),
    }
}

/// What the run leaves behind, and for how long.
fn leftovers_note(repro_port: u16) -> String {
    format!(
        "TIME_WAIT sockets left by this run belong to the kernel and expire on their own, \
         TCP_TIMEWAIT_LEN ({}) after the close plus up to {} of timer-wheel rounding. The \
         reproduction's, on port {repro_port}, came from a listener with SO_REUSEADDR, so a \
         server that sets it can bind there now; the trials' sit on other ephemeral ports.",
        human(TCP_TIMEWAIT_LEN),
        human(TIMEWAIT_WHEEL_ROUNDING_MAX),
    )
}

/// Refuses addresses no experiment can bind, before any socket is made.
fn check_address(addr: IpAddr) -> anyhow::Result<()> {
    if addr.to_canonical().is_unspecified() {
        return Err(crate::exit::UsageError(format!(
            "--addr {addr}: the experiment binds a specific address (127.0.0.1, ::1 or one of \
             this host's); the survey already counts wildcard sockets as holding every address, \
             and one trial puts a listener on the wildcard"
        ))
        .into());
    }
    if addr.is_multicast() {
        return Err(crate::exit::UsageError(format!(
            "--addr {addr}: a multicast address cannot be bound by a TCP socket; use a local \
             address such as 127.0.0.1 or ::1"
        ))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::reuse_test::report::BindOutcome;

    #[test]
    fn time_wait_without_reuseaddr_moves_the_reproduction_and_says_so() {
        let blocked = TimeWaitProbe {
            bind_with_reuseaddr: BindOutcome::ADDR_IN_USE,
            bind_with_reuseport: BindOutcome::ADDR_IN_USE,
            old_had_reuseaddr: false,
            old_had_reuseport: false,
            binds_now_with: Vec::new(),
            longest_expires_ms: None,
        };
        let mut notes = Vec::new();
        assert_eq!(reproduction_port(Some(&blocked), Some(9000), &mut notes), 0);
        assert!(notes[0].contains("ephemeral port instead"), "{notes:?}");
        let usable = TimeWaitProbe {
            old_had_reuseaddr: true,
            ..blocked
        };
        let mut notes = Vec::new();
        assert_eq!(
            reproduction_port(Some(&usable), Some(9000), &mut notes),
            9000
        );
        assert_eq!(reproduction_port(None, None, &mut notes), 0);
        assert!(notes.is_empty(), "{notes:?}");
    }
}
