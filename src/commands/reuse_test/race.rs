//! The race: the port can change hands between the survey and a later step. Every step
//! whose outcome the survey does not explain looks again before it blames anyone.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::errno::Errno;
use socket2::Socket;

use super::Context;
use super::attempt::try_bind_listen;
use super::explain::explain_bind_error;
use super::probe::probe_time_wait;
use super::report::{
    BindOutcome, Occupant, PortChange, Reproduction, ReuseReport, Step, TimeWaitProbe,
};
use super::reproduce::{TimeWaitSocket, reproduce};
use super::survey::{PortSurvey, survey_port};
use crate::commands::args::ReuseTestArgs;
use crate::sys::fs::Root;
use crate::sys::record::TcpState;
use crate::sys::socket::{self as sock, ReuseFlags};

/// after a fresh survey, before the first survey is trusted to explain it. A socket that
/// holds the port only for a moment (another program's bind() probe, another sockdoc run's
/// listener) lives microseconds to milliseconds; the same outcome on every repeat, with no
/// new socket listed, is the old sockets' doing.
pub(super) const RECHECKS: usize = 2;

/// The pause before each repeat, so it does not fall into the same moment as the first try.
pub(super) const RECHECK_GAP: Duration = Duration::from_millis(2);

/// Tries `step` again after a fresh survey, up to `RECHECKS` times, and returns what changed
/// the first time anything did; `None` when every repeat agreed with the first outcome and
/// no new socket appeared, so the first survey explains the outcome. `own` names sockdoc's
/// own sockets on the port (local, remote), which are not newcomers.
pub(super) fn recheck(
    root: &Root,
    target: SocketAddr,
    step: Step,
    first: &PortSurvey,
    first_outcome: &str,
    own: &[(String, String)],
    mut again: impl FnMut() -> anyhow::Result<String>,
) -> anyhow::Result<Option<PortChange>> {
    for _ in 0..RECHECKS {
        thread::sleep(RECHECK_GAP);
        let second = survey_port(root, target.ip(), target.port())?;
        let outcome = again()?;
        let change = port_change(
            step,
            (&first.occupants, first_outcome),
            (&second.occupants, &outcome),
            own,
        );
        if change.is_some() {
            return Ok(change);
        }
    }
    Ok(None)
}

/// Compares two looks at the port, each a survey and the outcome of the same step. The port
/// changed hands when a socket overlapping `--addr` appeared that is not sockdoc's own (it
/// may have caused the outcome), or when the outcome itself changed (a socket held the port
/// for a moment, or one the first survey listed has gone). Sockets that left while the
/// outcome stayed the same change nothing: those that remain still explain it.
pub(super) fn port_change(
    step: Step,
    (first, first_outcome): (&[Occupant], &str),
    (second, second_outcome): (&[Occupant], &str),
    own: &[(String, String)],
) -> Option<PortChange> {
    let (appeared, departed) = occupant_changes(first, second, own);
    (!appeared.is_empty() || first_outcome != second_outcome).then(|| PortChange {
        step,
        first_outcome: first_outcome.to_string(),
        second_outcome: second_outcome.to_string(),
        appeared,
        departed,
    })
}

/// The sockets overlapping `--addr` that the second survey lists and the first does not
/// (sockdoc's own, `own`, left out), and those the first lists and the second does not.
pub(super) fn occupant_changes(
    first: &[Occupant],
    second: &[Occupant],
    own: &[(String, String)],
) -> (Vec<Occupant>, Vec<Occupant>) {
    let key = |o: &Occupant| (o.state, o.local.clone(), o.remote.clone());
    let before: HashSet<_> = first.iter().filter(|o| o.conflicts).map(key).collect();
    let after: HashSet<_> = second.iter().filter(|o| o.conflicts).map(key).collect();
    let appeared = second
        .iter()
        .filter(|o| o.conflicts && !before.contains(&key(o)))
        .filter(|o| !own.iter().any(|(l, r)| *l == o.local && *r == o.remote))
        .cloned()
        .collect();
    let departed = first
        .iter()
        .filter(|o| o.conflicts && !after.contains(&key(o)))
        .cloned()
        .collect();
    (appeared, departed)
}

/// The bind() probes over a TIME_WAIT-only port, or what changed when a refusal that would
/// blame the old sockets did not hold up on a second look.
pub(super) fn checked_probe(
    root: &Root,
    target: SocketAddr,
    survey: &PortSurvey,
) -> anyhow::Result<Result<TimeWaitProbe, PortChange>> {
    let (addr, port) = (target.ip(), target.port());
    let probe = probe_time_wait(root, addr, port, survey)?;
    if probe.blames() {
        let again = || Ok(probe_time_wait(root, addr, port, survey)?.outcomes());
        let first = probe.outcomes();
        let step = Step::TimeWaitProbe;
        if let Some(change) = recheck(root, target, step, survey, &first, &[], again)? {
            return Ok(Err(change));
        }
    }
    Ok(Ok(probe))
}

/// The reproduction's listener on `target`. The survey said the port takes a listener with
/// SO_REUSEADDR; when it does not, the port is looked at again before the refusal is
/// explained (an error) or put down to a change of hands.
pub(super) fn repro_listener(
    target: SocketAddr,
    survey: &PortSurvey,
    ctx: &Context,
) -> anyhow::Result<Result<Socket, PortChange>> {
    let root = &ctx.root;
    let error = match sock::listener(target, ReuseFlags::ADDR, ctx.timeout) {
        Ok(listener) => return Ok(Ok(listener)),
        Err(error) => error,
    };
    if error.errno() == Some(Errno::EADDRINUSE) && target.port() != 0 {
        let again = || {
            Ok(try_bind_listen(root, target, ReuseFlags::ADDR)?
                .outcome
                .to_string())
        };
        let first = BindOutcome::ADDR_IN_USE.to_string();
        if let Some(change) = recheck(root, target, Step::Listen, survey, &first, &[], again)? {
            return Ok(Err(change));
        }
    }
    Err(explain_bind_error(root, error, target)
        .context(format!("reproducing TIME_WAIT on {target}")))
}

/// A reproduction cut short because the port changed hands, with what it had measured.
pub(super) type Interrupted = (Option<Reproduction>, PortChange);

/// Step 2 on `target`, each of its refusals checked against a second look at the port.
pub(super) fn reproduce_checked(
    target: SocketAddr,
    survey: &PortSurvey,
    ctx: &Context,
) -> anyhow::Result<Result<(Reproduction, Option<TimeWaitSocket>), Interrupted>> {
    let listener = match repro_listener(target, survey, ctx)? {
        Ok(listener) => listener,
        Err(change) => return Ok(Err((None, change))),
    };
    let (reproduction, followed) = reproduce(listener, target.ip(), ctx)
        .with_context(|| format!("reproducing TIME_WAIT on {target}"))?;
    Ok(
        match checked_rebind(&ctx.root, target, survey, &reproduction)? {
            Some(change) => Err((Some(reproduction), change)),
            None => Ok((reproduction, followed)),
        },
    )
}

/// On the user's port, the reproduction's bind() with SO_REUSEADDR should pass its own
/// TIME_WAIT socket; when it does not, another socket may have arrived there meanwhile.
pub(super) fn checked_rebind(
    root: &Root,
    target: SocketAddr,
    survey: &PortSurvey,
    reproduction: &Reproduction,
) -> anyhow::Result<Option<PortChange>> {
    if target.port() == 0
        || reproduction.server_state != Some(TcpState::TimeWait)
        || reproduction.bind_with_reuseaddr == BindOutcome::Ok
    {
        return Ok(None);
    }
    let own = [(reproduction.server.clone(), reproduction.client.clone())];
    let again = || {
        Ok(try_bind_listen(root, target, ReuseFlags::ADDR)?
            .outcome
            .to_string())
    };
    let first = reproduction.bind_with_reuseaddr.to_string();
    recheck(root, target, Step::Rebind, survey, &first, &own, again)
}

/// What a run had measured when the port changed hands.
#[derive(Default)]
pub(super) struct Partial {
    pub(super) probe: Option<TimeWaitProbe>,
    pub(super) reproduction: Option<Reproduction>,
}

pub(super) fn changed_hands_report(
    args: &ReuseTestArgs,
    survey: PortSurvey,
    partial: Partial,
    change: PortChange,
    started: Instant,
) -> ReuseReport {
    let verdict = changed_hands_verdict(args.port, &change);
    ReuseReport {
        time_wait_probe: partial.probe,
        reproduction: partial.reproduction,
        port_changed_during_run: true,
        port_change: Some(change),
        ..ReuseReport::stopped(
            args,
            survey,
            (
                verdict,
                "Run sockdoc again when nothing else binds the port, or without PORT to \
                 reproduce on an ephemeral port of its own."
                    .to_string(),
            ),
            "sockdoc stopped when the port changed hands: the bind-rule matrix did not run.",
            started,
        )
    }
}

/// The verdict when the port changed hands: what was seen, and why nothing is judged.
pub(super) fn changed_hands_verdict(port: u16, change: &PortChange) -> String {
    if change.step == Step::OwnerSearch {
        return format!(
            "Port {port} changed hands during the run: the survey found it {}, but that socket \
             had closed or changed by the time sockdoc searched /proc for its owner moments \
             later, and a fresh survey found the port {}. Another program (or another sockdoc \
             run) opened and closed it between the two looks, so this run names no holder and \
             draws no conclusion about the port.",
            change.first_outcome, change.second_outcome
        );
    }
    let describe = |o: &Occupant| {
        let owner = match (&o.process, o.pid) {
            (Some(process), Some(pid)) => format!(" of {process} (pid {pid})"),
            _ => String::new(),
        };
        format!("{} {} ↔ {}{owner}", o.state, o.local, o.remote)
    };
    let mut seen = Vec::new();
    if !change.appeared.is_empty() {
        // Live sockets first (they name a process), then at most three in all.
        let mut appeared: Vec<&Occupant> = change.appeared.iter().collect();
        appeared.sort_by_key(|o| o.state == TcpState::TimeWait);
        let mut list: Vec<String> = appeared.iter().take(3).map(|o| describe(o)).collect();
        if appeared.len() > 3 {
            list.push(format!("{} more", appeared.len() - 3));
        }
        seen.push(format!("found new sockets on it: {}", list.join("; ")));
    }
    if !change.departed.is_empty() {
        seen.push(format!(
            "found {} of the first survey's sockets gone",
            change.departed.len()
        ));
    }
    if change.first_outcome != change.second_outcome {
        seen.push(format!("tried it again and got {}", change.second_outcome));
    }
    if change.appeared.is_empty() && change.first_outcome != change.second_outcome {
        seen.push(
            "so a socket that no listing caught held the port for a moment (a bind() probe, \
             a short-lived listener)"
                .into(),
        );
    }
    format!(
        "Port {port} changed hands during the run: {} gave {}, which the sockets listed at the \
         start do not explain; a second look {}. Another program (or another sockdoc run) used \
         the port between sockdoc's survey and this step, so this run draws no conclusion \
         about the options of the sockets that held it, nor about the kernel.",
        change.step.describe(),
        change.first_outcome,
        seen.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occupant(state: TcpState, local: &str, remote: &str) -> Occupant {
        Occupant {
            state,
            local: local.into(),
            remote: remote.into(),
            uid: None,
            pid: None,
            process: None,
            expires_ms: None,
            conflicts: true,
            inode: 0,
        }
    }

    #[test]
    fn the_port_changed_hands_only_when_a_socket_arrived_or_the_outcome_moved() {
        let tw = |remote: &str| occupant(TcpState::TimeWait, "127.0.0.1:9000", remote);
        let old = [tw("127.0.0.1:50000"), tw("127.0.0.1:50001")];
        let probes = "SO_REUSEADDR → EADDRINUSE, SO_REUSEPORT → EADDRINUSE";
        let step = Step::TimeWaitProbe;

        // The same sockets, the same refusal: the old sockets explain it (no blame withheld).
        assert!(port_change(step, (&old, probes), (&old, probes), &[]).is_none());
        // One TIME_WAIT expired meanwhile, the rest still refuse: still explained.
        assert!(port_change(step, (&old, probes), (&old[..1], probes), &[]).is_none());

        // Another program's listener arrived: whatever the second outcome, the port changed.
        let mut now = old.to_vec();
        let mut listener = occupant(TcpState::Listen, "127.0.0.1:9000", "0.0.0.0:0");
        listener.pid = Some(4242);
        listener.process = Some("sockdoc".into());
        now.push(listener);
        let change = port_change(step, (&old, probes), (&now, probes), &[]).unwrap();
        assert_eq!(change.appeared.len(), 1);
        assert_eq!(change.appeared[0].state, TcpState::Listen);
        assert!(change.departed.is_empty());
        let verdict = changed_hands_verdict(9000, &change);
        assert!(
            verdict.contains("changed hands during the run"),
            "{verdict}"
        );
        assert!(verdict.contains("sockdoc (pid 4242)"), "{verdict}");
        assert!(!verdict.contains("did not set"), "no blame: {verdict}");

        // Nothing new listed, but the repeat binds: something held the port for a moment.
        let ok = "SO_REUSEADDR → ok, SO_REUSEPORT → EADDRINUSE";
        let change = port_change(step, (&old, probes), (&old, ok), &[]).unwrap();
        assert!(change.appeared.is_empty());
        assert_eq!(change.second_outcome, ok);
        assert!(changed_hands_verdict(9000, &change).contains("held the port for a moment"));

        // sockdoc's own TIME_WAIT is not a newcomer; a stranger's is.
        let own = [("127.0.0.1:9000".to_string(), "127.0.0.1:50002".to_string())];
        let mut later = old.to_vec();
        later.push(tw("127.0.0.1:50002"));
        let rebind = Step::Rebind;
        assert!(port_change(rebind, (&old, "EADDRINUSE"), (&later, "EADDRINUSE"), &own).is_none());
        later.push(tw("127.0.0.1:50003"));
        let change =
            port_change(rebind, (&old, "EADDRINUSE"), (&later, "EADDRINUSE"), &own).unwrap();
        assert_eq!(change.appeared.len(), 1);
        assert_eq!(change.appeared[0].remote, "127.0.0.1:50003");

        // Sockets on other addresses do not count.
        let mut elsewhere = occupant(TcpState::Listen, "127.0.0.2:9000", "0.0.0.0:0");
        elsewhere.conflicts = false;
        let with_other = [old[0].clone(), old[1].clone(), elsewhere];
        assert!(port_change(step, (&old, probes), (&with_other, probes), &[]).is_none());
    }
}
