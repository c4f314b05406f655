//! `sockdoc reuse-test [PORT]`: who holds a port, the TIME_WAIT → EADDRINUSE restart
//! problem reproduced, and the Linux bind-conflict rules measured one trial at a time.
//!
//! The rules come from `inet_bind_conflict()` (net/ipv4/inet_connection_sock.c; socket(7)
//! states only the listener and wildcard cases): a new socket may share a port with an
//! existing one when both set SO_REUSEADDR and the existing one is not listening, or when
//! both set SO_REUSEPORT (TIME_WAIT, or the same effective uid). Nothing here assumes those
//! rules hold: every trial measures the outcome and compares it with them.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::errno::Errno;
use serde::Serialize;
use socket2::Socket;

use super::{Context, VERSION};
use crate::cli::ReuseTestArgs;
use crate::exit::Exit;
use crate::sys::diag::{self, Listing, Query, Source};
use crate::sys::error::errno_name;
use crate::sys::fs::Root;
use crate::sys::procfs;
use crate::sys::record::{Proto, SocketRecord, TcpState};
use crate::sys::socket::{self as sock, RecvEnd, ReuseFlags};
use crate::sys::sysctl;
use crate::sys::{SysError, TCP_TIMEWAIT_LEN, TIMEWAIT_WHEEL_ROUNDING_MAX};
use crate::units::{human, micros, millis};

/// How often state changes are polled: loopback transitions take microseconds.
const STATE_POLL: Duration = Duration::from_micros(200);

/// How often `--wait` looks at the TIME_WAIT socket.
const WAIT_POLL: Duration = Duration::from_millis(250);

/// How far sockdoc's own observation may shift a measured lifetime: the TIME_WAIT socket is
/// seen a moment after the kernel armed its timer, and its end is noticed at a later poll.
const OBSERVATION_SLACK: Duration = Duration::from_secs(1);

/// The lifetimes `--wait` accepts as the kernel's rule: a quiet TIME_WAIT socket lives
/// TCP_TIMEWAIT_LEN, never less (the timer wheel does not fire early), and at most
/// `TIMEWAIT_WHEEL_ROUNDING_MAX` more (the wheel rounds the expiry up to its bucket), seen
/// through one `WAIT_POLL` and the observation slack.
const TIMEWAIT_LIFETIME_WINDOW: (Duration, Duration) = (
    TCP_TIMEWAIT_LEN.saturating_sub(OBSERVATION_SLACK),
    TCP_TIMEWAIT_LEN
        .saturating_add(TIMEWAIT_WHEEL_ROUNDING_MAX)
        .saturating_add(WAIT_POLL)
        .saturating_add(OBSERVATION_SLACK),
);

/// How many times a step whose outcome the survey does not explain is tried again, each
/// after a fresh survey, before the first survey is trusted to explain it. A socket that
/// holds the port only for a moment (another program's bind() probe, another sockdoc run's
/// listener) lives microseconds to milliseconds; the same outcome on every repeat, with no
/// new socket listed, is the old sockets' doing.
const RECHECKS: usize = 2;

/// The pause before each repeat, so it does not fall into the same moment as the first try.
const RECHECK_GAP: Duration = Duration::from_millis(2);

const PING: &[u8] = b"ping";
const PONG: &[u8] = b"pong";

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct ReuseReport {
    pub command: &'static str,
    pub sockdoc_version: &'static str,
    pub address: String,
    /// The port the reproduction ran on.
    pub port: u16,
    /// The PORT the user asked about; null when sockdoc picked an ephemeral port.
    pub requested_port: Option<u16>,
    /// Where the socket listing came from (`sock-diag`, or `proc-net` as a fallback).
    pub listing_source: Source,
    pub listing_note: Option<String>,
    /// Every TCP socket on the requested port before sockdoc touched it.
    pub occupants: Vec<Occupant>,
    /// `free`, `time-wait-only`, `held` (a live socket conflicts), or `other-address`
    /// (sockets on the port, none overlapping `--addr`).
    pub port_status: PortStatus,
    /// When only TIME_WAIT sockets held the port: which options they were made with and so
    /// which a new server needs, measured by bind() probes.
    pub time_wait_probe: Option<TimeWaitProbe>,
    pub reproduction: Option<Reproduction>,
    /// TIME_WAIT sockets on the reproduction port after the reproduction.
    pub time_wait: Vec<TimeWaitEntry>,
    pub trials: Vec<Trial>,
    /// What `std::net::TcpListener::bind` leaves set, read back from a real listener.
    pub std_listener_defaults: Option<FlagReadback>,
    pub wait: Option<WaitResult>,
    /// Whether the sockets on the port changed between sockdoc's survey and a step that
    /// depends on it (another program, or another sockdoc run, took or left the port): then
    /// neither the old sockets nor the kernel are judged, and the exit code is 3.
    pub port_changed_during_run: bool,
    /// What the second look found; null unless the port changed hands.
    pub port_change: Option<PortChange>,
    /// Why /proc named no process for the socket holding the port; null unless it named none.
    pub owner_search: Option<OwnerSearch>,
    pub verdict: String,
    pub fix: String,
    pub notes: Vec<String>,
    pub elapsed_us: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortStatus {
    Free,
    TimeWaitOnly,
    Held,
    OtherAddress,
}

#[derive(Debug, Clone, Serialize)]
pub struct Occupant {
    pub state: TcpState,
    pub local: String,
    pub remote: String,
    /// The owner; null for TIME_WAIT (and request) sockets, whose kernel-reported 0 does
    /// not mean root (`SocketRecord::uid`).
    pub uid: Option<u32>,
    pub pid: Option<u32>,
    pub process: Option<String>,
    pub expires_ms: Option<u64>,
    /// Whether this socket's address overlaps `--addr` (same address, or either is a wildcard).
    pub conflicts: bool,
    /// The socket's inode; 0 when no file holds it: TIME_WAIT and request sockets, and
    /// orphans (a socket its program closed while the kernel still finishes the connection:
    /// `sock_i_ino()`, net/core/sock.c, reads 0 once `sk_socket` is gone).
    pub inode: u64,
}

/// The step whose outcome the first survey of the port did not explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The two bind() probes over a port held only by TIME_WAIT sockets.
    TimeWaitProbe,
    /// The reproduction's listener: bind() and listen() with SO_REUSEADDR.
    Listen,
    /// The reproduction's bind() and listen() with SO_REUSEADDR over its own TIME_WAIT.
    Rebind,
    /// The search of /proc for the owner of the live socket the survey found holding the port.
    OwnerSearch,
}

impl Step {
    fn describe(self) -> &'static str {
        match self {
            Self::TimeWaitProbe => "the bind() probes over the TIME_WAIT sockets",
            Self::Listen => "the reproduction's listener (bind() and listen() with SO_REUSEADDR)",
            Self::Rebind => {
                "the reproduction's bind() with SO_REUSEADDR over its own TIME_WAIT socket"
            }
            Self::OwnerSearch => "the search for the owner of the socket holding the port",
        }
    }
}

/// The port changed hands between the survey and a step that depends on it.
#[derive(Debug, Clone, Serialize)]
pub struct PortChange {
    pub step: Step,
    /// What the step gave the first time.
    pub first_outcome: String,
    /// What it gave when tried again after a fresh survey.
    pub second_outcome: String,
    /// Sockets overlapping `--addr` that the fresh survey found and the first did not
    /// (sockdoc's own left out).
    pub appeared: Vec<Occupant>,
    /// Sockets overlapping `--addr` that the first survey found and the fresh one did not.
    pub departed: Vec<Occupant>,
}

/// Why /proc named no process for a socket that holds the port.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerSearch {
    /// Whether sockdoc ran with effective uid 0.
    pub as_root: bool,
    /// Processes whose descriptors this run could not read: the owner may be one of them.
    pub unreadable_processes: u64,
    /// The `hidepid=` option of the /proc mount, when set.
    pub hidepid: Option<String>,
    /// Whether sockdoc runs in the host's (initial) PID namespace; null when unknown.
    pub initial_pid_namespace: Option<bool>,
    /// Whether the socket was still there as listed after the search (the same inode, not
    /// yet TIME_WAIT); null when not looked up (a bound-only socket cannot be looked up by its
    /// addresses). When it was not, the port changed hands and nothing is said to hold it.
    pub still_there: Option<bool>,
    /// What hides the owner, as a sentence.
    pub reason: String,
}

/// Two bind() probes over a port held only by TIME_WAIT sockets, one with SO_REUSEADDR
/// alone, one with SO_REUSEPORT alone. Each probe socket is closed at once and never listens.
#[derive(Debug, Clone, Serialize)]
pub struct TimeWaitProbe {
    /// bind() with SO_REUSEADDR on: `ok`, or the errno name.
    pub bind_with_reuseaddr: String,
    /// bind() with SO_REUSEPORT on: `ok`, or the errno name.
    pub bind_with_reuseport: String,
    /// Whether the old sockets had SO_REUSEADDR (derived from the first probe: SO_REUSEADDR
    /// binds over TIME_WAIT only when the TIME_WAIT socket has it too).
    pub old_had_reuseaddr: bool,
    /// Whether they had SO_REUSEPORT (derived from the second probe: SO_REUSEPORT binds
    /// over TIME_WAIT only when the TIME_WAIT socket has it too, whatever uid made it).
    pub old_had_reuseport: bool,
    /// The options a new server can bind the port with now, as measured: `SO_REUSEADDR`,
    /// `SO_REUSEPORT`, both, or none.
    pub binds_now_with: Vec<&'static str>,
    /// The longest time any of them still has on its timer.
    pub longest_expires_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reproduction {
    pub port: u16,
    pub server: String,
    pub client: String,
    /// The server side's state after it closed first (TIME_WAIT expected).
    pub server_state: Option<TcpState>,
    pub expires_ms: Option<u64>,
    /// bind() of a new socket without SO_REUSEADDR: the error users hit.
    pub bind_without_reuseaddr: String,
    /// bind() of a new socket with SO_REUSEADDR: the fix.
    pub bind_with_reuseaddr: String,
    /// Whether the run reproduced EADDRINUSE and the fix cured it.
    pub reproduced: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimeWaitEntry {
    pub local: String,
    pub remote: String,
    pub expires_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HolderState {
    TimeWait,
    Listen,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// A raw socket2 socket: sets no option by itself.
    Socket2,
    /// `std::net::TcpListener::bind`: sets SO_REUSEADDR itself on Unix.
    Std,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub name: &'static str,
    pub port: u16,
    /// What held the port when the new socket tried to bind, as measured by sock_diag.
    pub holder: HolderState,
    pub old_api: Api,
    pub new_api: Api,
    pub old_address: String,
    pub new_address: String,
    /// Option values read back from the kernel, not the values requested.
    pub old_reuseaddr: bool,
    pub new_reuseaddr: bool,
    pub old_reuseport: bool,
    pub new_reuseport: bool,
    /// `ok`, or the errno name of the failed step.
    pub outcome: String,
    /// `bind` or `listen` when the outcome is an error.
    pub failed_step: Option<&'static str>,
    pub expected: String,
    pub matches: bool,
    pub rule: &'static str,
    pub fix: &'static str,
    /// What was measured besides the outcome (peer errors, where TIME_WAIT went).
    pub evidence: Vec<String>,
    /// The man page or kernel selftest that documents the expectation.
    pub source: &'static str,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct FlagReadback {
    pub reuseaddr: bool,
    pub reuseport: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitResult {
    pub local: String,
    pub remote: String,
    /// From the moment sockdoc saw TIME_WAIT to the moment the kernel dropped it.
    pub lifetime_ms: u64,
    /// TCP_TIMEWAIT_LEN.
    pub expected_ms: u64,
    /// The range `matches` accepts: TCP_TIMEWAIT_LEN, never less, plus up to
    /// `timer_rounding_max_ms` of timer-wheel rounding, widened by sockdoc's polling.
    pub expected_min_ms: u64,
    pub expected_max_ms: u64,
    /// How late the timer wheel may fire a 60 s timer on a kernel of any HZ
    /// (`calc_index()`, kernel/time/timer.c).
    pub timer_rounding_max_ms: u64,
    pub matches: bool,
    /// net.ipv4.tcp_fin_timeout (seconds), which governs orphaned FIN_WAIT2, not TIME_WAIT.
    pub tcp_fin_timeout_s: Option<u64>,
}

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
        survey = survey_port(addr, port)?;
        if survey.status == PortStatus::Held {
            return Ok((held_or_changed(args, survey, started)?, Exit::CannotRun));
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
        (PortStatus::TimeWaitOnly, Some(port)) => match checked_probe(addr, port, &survey)? {
            Ok(probe) => Some(probe),
            // The probe's outcome is in the change; as a probe it is not believed.
            Err(change) => return changed(survey, Partial::default(), change),
        },
        _ => None,
    };
    let repro_port = reproduction_port(probe.as_ref(), requested_port, &mut notes);

    // 2. Reproduce TIME_WAIT → EADDRINUSE.
    let target = SocketAddr::new(addr, repro_port);
    let (reproduction, followed) = match reproduce_checked(target, &survey, ctx.timeout)? {
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
    let trials = trial_specs(addr)
        .iter()
        .map(|spec| run_trial(spec, addr, std_defaults, ctx.timeout))
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
        command: "reuse-test",
        sockdoc_version: VERSION,
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

// ---------------------------------------------------------------------------------------
// Step 1: who holds the port
// ---------------------------------------------------------------------------------------

struct PortSurvey {
    status: PortStatus,
    occupants: Vec<Occupant>,
    source: Source,
    note: Option<String>,
    /// Processes whose descriptors the owner search could not read.
    unreadable: u64,
}

impl PortSurvey {
    fn empty() -> Self {
        Self {
            status: PortStatus::Free,
            occupants: Vec::new(),
            source: Source::SockDiag,
            note: None,
            unreadable: 0,
        }
    }
}

fn survey_port(addr: IpAddr, port: u16) -> anyhow::Result<PortSurvey> {
    let query = Query {
        local_port: Some(port),
        ..Query::tcp()
    };
    let (records, listing) = diag::list(&query).context("listing the sockets on the port")?;
    let inodes: HashSet<u64> = records
        .iter()
        .map(|r| r.inode)
        .filter(|&i| i != 0)
        .collect();
    let scan = procfs::scan_socket_owners_for(&Root::live(), &inodes);
    let owners = scan.owners;
    let occupants: Vec<Occupant> = records
        .iter()
        .map(|r| {
            let owner = owners.get(&r.inode);
            Occupant {
                state: r.state,
                local: r.local.to_string(),
                remote: r.remote.to_string(),
                uid: r.uid,
                pid: owner.map(|o| o.pid),
                process: owner.map(|o| o.process.clone()),
                expires_ms: r.expires.map(millis),
                conflicts: overlaps(addr, r.local.ip(), r.v6only),
                inode: r.inode,
            }
        })
        .collect();
    let conflicting = || occupants.iter().filter(|o| o.conflicts);
    let status = if occupants.is_empty() {
        PortStatus::Free
    } else if conflicting().any(|o| o.state != TcpState::TimeWait) {
        PortStatus::Held
    } else if conflicting().next().is_some() {
        PortStatus::TimeWaitOnly
    } else {
        PortStatus::OtherAddress
    };
    Ok(PortSurvey {
        status,
        occupants,
        source: listing.source,
        note: listing.fallback_reason,
        unreadable: scan.unreadable,
    })
}

// ---------------------------------------------------------------------------------------
// The race: the port can change hands between the survey and a later step
// ---------------------------------------------------------------------------------------

/// Tries `step` again after a fresh survey, up to `RECHECKS` times, and returns what changed
/// the first time anything did; `None` when every repeat agreed with the first outcome and
/// no new socket appeared, so the first survey explains the outcome. `own` names sockdoc's
/// own sockets on the port (local, remote), which are not newcomers.
fn recheck(
    addr: IpAddr,
    port: u16,
    step: Step,
    first: &PortSurvey,
    first_outcome: &str,
    own: &[(String, String)],
    mut again: impl FnMut() -> anyhow::Result<String>,
) -> anyhow::Result<Option<PortChange>> {
    for _ in 0..RECHECKS {
        thread::sleep(RECHECK_GAP);
        let second = survey_port(addr, port)?;
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
fn port_change(
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
fn occupant_changes(
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
fn checked_probe(
    addr: IpAddr,
    port: u16,
    survey: &PortSurvey,
) -> anyhow::Result<Result<TimeWaitProbe, PortChange>> {
    let probe = probe_time_wait(addr, port, survey)?;
    if probe.blames() {
        let again = || Ok(probe_time_wait(addr, port, survey)?.outcomes());
        let first = probe.outcomes();
        if let Some(change) = recheck(addr, port, Step::TimeWaitProbe, survey, &first, &[], again)?
        {
            return Ok(Err(change));
        }
    }
    Ok(Ok(probe))
}

/// The reproduction's listener on `target`. The survey said the port takes a listener with
/// SO_REUSEADDR; when it does not, the port is looked at again before the refusal is
/// explained (an error) or put down to a change of hands.
fn repro_listener(
    target: SocketAddr,
    survey: &PortSurvey,
    timeout: Duration,
) -> anyhow::Result<Result<Socket, PortChange>> {
    let error = match sock::listener(target, ReuseFlags::ADDR, timeout) {
        Ok(listener) => return Ok(Ok(listener)),
        Err(error) => error,
    };
    if error.errno() == Some(Errno::EADDRINUSE) && target.port() != 0 {
        let again = || Ok(try_bind_listen(target, ReuseFlags::ADDR)?.outcome);
        let (addr, port) = (target.ip(), target.port());
        if let Some(change) = recheck(addr, port, Step::Listen, survey, "EADDRINUSE", &[], again)? {
            return Ok(Err(change));
        }
    }
    Err(explain_bind_error(error, target).context(format!("reproducing TIME_WAIT on {target}")))
}

/// A reproduction cut short because the port changed hands, with what it had measured.
type Interrupted = (Option<Reproduction>, PortChange);

/// Step 2 on `target`, each of its refusals checked against a second look at the port.
fn reproduce_checked(
    target: SocketAddr,
    survey: &PortSurvey,
    timeout: Duration,
) -> anyhow::Result<Result<(Reproduction, Option<TimeWaitSocket>), Interrupted>> {
    let listener = match repro_listener(target, survey, timeout)? {
        Ok(listener) => listener,
        Err(change) => return Ok(Err((None, change))),
    };
    let (reproduction, followed) = reproduce(listener, target.ip(), timeout)
        .with_context(|| format!("reproducing TIME_WAIT on {target}"))?;
    Ok(match checked_rebind(target, survey, &reproduction)? {
        Some(change) => Err((Some(reproduction), change)),
        None => Ok((reproduction, followed)),
    })
}

/// On the user's port, the reproduction's bind() with SO_REUSEADDR should pass its own
/// TIME_WAIT socket; when it does not, another socket may have arrived there meanwhile.
fn checked_rebind(
    target: SocketAddr,
    survey: &PortSurvey,
    reproduction: &Reproduction,
) -> anyhow::Result<Option<PortChange>> {
    if target.port() == 0
        || reproduction.server_state != Some(TcpState::TimeWait)
        || reproduction.bind_with_reuseaddr == "ok"
    {
        return Ok(None);
    }
    let own = [(reproduction.server.clone(), reproduction.client.clone())];
    let again = || Ok(try_bind_listen(target, ReuseFlags::ADDR)?.outcome);
    let first = &reproduction.bind_with_reuseaddr;
    let (addr, port) = (target.ip(), target.port());
    recheck(addr, port, Step::Rebind, survey, first, &own, again)
}

/// What a run had measured when the port changed hands.
#[derive(Default)]
struct Partial {
    probe: Option<TimeWaitProbe>,
    reproduction: Option<Reproduction>,
}

fn changed_hands_report(
    args: &ReuseTestArgs,
    survey: PortSurvey,
    partial: Partial,
    change: PortChange,
    started: Instant,
) -> ReuseReport {
    let verdict = changed_hands_verdict(args.port, &change);
    ReuseReport {
        command: "reuse-test",
        sockdoc_version: VERSION,
        address: args.addr.to_string(),
        port: args.port,
        requested_port: Some(args.port),
        listing_source: survey.source,
        listing_note: survey.note.clone(),
        occupants: survey.occupants,
        port_status: survey.status,
        time_wait_probe: partial.probe,
        reproduction: partial.reproduction,
        time_wait: Vec::new(),
        trials: Vec::new(),
        std_listener_defaults: None,
        wait: None,
        port_changed_during_run: true,
        port_change: Some(change),
        owner_search: None,
        verdict,
        fix: "Run sockdoc again when nothing else binds the port, or without PORT to reproduce \
              on an ephemeral port of its own."
            .to_string(),
        notes: vec![
            "sockdoc stopped when the port changed hands: the bind-rule matrix did not run.".into(),
        ],
        elapsed_us: micros(started.elapsed()),
    }
}

/// The verdict when the port changed hands: what was seen, and why nothing is judged.
fn changed_hands_verdict(port: u16, change: &PortChange) -> String {
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

/// Whether a socket bound to `theirs` conflicts with a bind to `ours` on the same port:
/// the same address, or either side a wildcard. An IPv6 wildcard covers IPv4 too unless
/// the socket set IPV6_V6ONLY; sock_diag says which (INET_DIAG_SKV6ONLY), /proc does not,
/// and then the cautious answer is that it does. An IPv4-mapped address (`::ffff:a.b.c.d`),
/// on either side, is its IPv4 twin: `ipv6_rcv_saddr_equal()`
/// (net/ipv4/inet_connection_sock.c) treats a mapped address and an IPv4 socket's address
/// ("if both are mapped, treat as IPv4") by their IPv4 addresses alone.
fn overlaps(ours: IpAddr, theirs: IpAddr, their_v6only: Option<bool>) -> bool {
    match (ours.to_canonical(), theirs.to_canonical()) {
        (IpAddr::V4(_), IpAddr::V6(t)) if t.is_unspecified() => their_v6only != Some(true),
        (IpAddr::V6(_), IpAddr::V6(t)) if t.is_unspecified() => true,
        (IpAddr::V4(o), IpAddr::V4(t)) => o.is_unspecified() || t.is_unspecified() || o == t,
        (IpAddr::V6(o), IpAddr::V6(t)) => o.is_unspecified() || o == t,
        (IpAddr::V6(o), IpAddr::V4(_)) => o.is_unspecified(),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

/// Finds out which options the TIME_WAIT sockets on the port carry, and so which a new
/// server needs, with two bind() probes. `inet_bind_conflict()`
/// (net/ipv4/inet_connection_sock.c) lets a new socket share a port with a TIME_WAIT socket
/// when both have SO_REUSEADDR, or when both have SO_REUSEPORT, the uid unchecked for
/// TIME_WAIT; so SO_REUSEADDR alone binds only if they all carry SO_REUSEADDR, and
/// SO_REUSEPORT alone only if they all carry SO_REUSEPORT. A probe socket is closed at once
/// and never listens, so nothing is disturbed.
fn probe_time_wait(addr: IpAddr, port: u16, survey: &PortSurvey) -> anyhow::Result<TimeWaitProbe> {
    let target = SocketAddr::new(addr, port);
    let with_reuseaddr = probe_bind(target, ReuseFlags::ADDR)?;
    let with_reuseport = probe_bind(target, ReuseFlags::PORT)?;
    let binds_now_with = [
        (&with_reuseaddr, "SO_REUSEADDR"),
        (&with_reuseport, "SO_REUSEPORT"),
    ]
    .into_iter()
    .filter_map(|(outcome, option)| (outcome == "ok").then_some(option))
    .collect();
    Ok(TimeWaitProbe {
        old_had_reuseaddr: with_reuseaddr == "ok",
        old_had_reuseport: with_reuseport == "ok",
        bind_with_reuseaddr: with_reuseaddr,
        bind_with_reuseport: with_reuseport,
        binds_now_with,
        longest_expires_ms: survey
            .occupants
            .iter()
            .filter(|o| o.conflicts)
            .filter_map(|o| o.expires_ms)
            .max(),
    })
}

impl TimeWaitProbe {
    /// Whether the probes blame the old sockets: SO_REUSEADDR refused means they lacked the
    /// flag every restart needs (a refused SO_REUSEPORT alone blames nobody). Such a refusal
    /// is checked again before it is believed.
    fn blames(&self) -> bool {
        self.bind_with_reuseaddr != "ok"
    }

    /// The two outcomes in one line, as the verdict quotes them.
    fn outcomes(&self) -> String {
        format!(
            "SO_REUSEADDR → {}, SO_REUSEPORT → {}",
            self.bind_with_reuseaddr, self.bind_with_reuseport
        )
    }
}

/// A fresh socket with `flags` tries bind() alone on `target`: `ok` or `EADDRINUSE`. The
/// socket is closed before returning, never having listened.
fn probe_bind(target: SocketAddr, flags: ReuseFlags) -> anyhow::Result<String> {
    let socket = sock::tcp_socket(target, flags)?;
    match sock::bind(&socket, target) {
        Ok(()) => Ok("ok".to_string()),
        Err(err) if err.errno() == Some(Errno::EADDRINUSE) => Ok("EADDRINUSE".to_string()),
        Err(err) => Err(explain_bind_error(err, target)),
    }
}

/// "uid 1000", or what to say when the kernel reported no owner.
fn uid_text(uid: Option<u32>) -> String {
    uid.map_or_else(
        || "an owner the kernel does not report".into(),
        |u| format!("uid {u}"),
    )
}

/// Gathers what could hide the owner of `holder` from /proc, and says which of it applies.
fn search_owner(holder: &Occupant, unreadable: u64) -> OwnerSearch {
    let root = &Root::live();
    // A bound-only socket is in no lookup table but the bind hash, so only listeners and
    // connections can be looked up again by their addresses.
    let still_there = match (holder.state, holder.local.parse(), holder.remote.parse()) {
        (TcpState::Close, _, _) | (_, Err(_), _) | (_, _, Err(_)) => None,
        // The same socket, still live: the same inode (a socket accepted or closed since
        // the listing has another), and not TIME_WAIT, which no longer holds the port.
        (_, Ok(local), Ok(remote)) => diag::lookup(Proto::Tcp, local, remote).ok().map(|found| {
            found.is_some_and(|r| r.inode == holder.inode && r.state != TcpState::TimeWait)
        }),
    };
    let facts = OwnerFacts {
        as_root: nix::unistd::geteuid().is_root(),
        orphan: holder.inode == 0,
        unreadable,
        hidepid: procfs::proc_hidepid(root),
        initial_pid_namespace: procfs::in_initial_pid_namespace(root),
        still_there,
    };
    OwnerSearch {
        reason: owner_hidden_reason(&facts, &uid_text(holder.uid)),
        as_root: facts.as_root,
        unreadable_processes: facts.unreadable,
        hidepid: facts.hidepid,
        initial_pid_namespace: facts.initial_pid_namespace,
        still_there: facts.still_there,
    }
}

/// What is known about a socket whose owner /proc did not name.
struct OwnerFacts {
    as_root: bool,
    /// No file holds the socket (inode 0).
    orphan: bool,
    unreadable: u64,
    hidepid: Option<String>,
    initial_pid_namespace: Option<bool>,
    still_there: Option<bool>,
}

/// Who owns a socket that /proc did not attribute, as the verdict names it after "owned
/// by", with only the causes the run's measurements leave open. "Run as root" is offered
/// only to a user who is not root and could not read some process's descriptors.
fn owner_hidden_reason(f: &OwnerFacts, uid: &str) -> String {
    if f.still_there == Some(false) {
        return format!(
            "a process ({uid}) that closed the socket right after the listing, before /proc \
             was searched for its owner"
        );
    }
    if f.orphan {
        return format!(
            "no process ({uid}): its program closed it and the kernel is finishing the \
             connection on its own (an orphan socket has no file, so no /proc/PID/fd names it)"
        );
    }
    let processes = |n: u64| {
        if n == 1 {
            "the one process".to_string()
        } else {
            format!("one of the {n} processes")
        }
    };
    let mut causes = Vec::new();
    if f.unreadable > 0 && !f.as_root {
        causes.push(format!(
            "to {} whose descriptors this user may not read (/proc shows them to their owner \
             and to root: run as root to see it)",
            processes(f.unreadable)
        ));
    } else if f.unreadable > 0 {
        causes.push(format!(
            "to {} whose descriptors the kernel refused to show even to root (the ptrace read \
             check that guards /proc/PID/fd, ptrace_may_access() in proc_fd_access_allowed(), \
             said no)",
            processes(f.unreadable)
        ));
    }
    if let Some(hidepid) = &f.hidepid {
        causes.push(format!(
            "to a process hidden by hidepid={hidepid} on /proc, which hides other users' \
             processes from a reader without ptrace access (has_pid_permissions(), \
             fs/proc/base.c)"
        ));
    }
    if f.initial_pid_namespace == Some(false) {
        causes.push(
            "to a process outside sockdoc's PID namespace (sockdoc runs in one other than the \
             host's, as in a container, and its /proc lists only that namespace's processes)"
                .into(),
        );
    }
    causes.push(
        "to no process at all: a socket whose only descriptor travels in a Unix-socket message \
         not yet received (SCM_RIGHTS), or one the kernel opened, is in no /proc/PID/fd"
            .into(),
    );
    format!(
        "nobody /proc names ({uid}): the socket belongs {}",
        causes.join(", or ")
    )
}

impl PortSurvey {
    /// The live socket that holds a `Held` port, a listener first.
    fn holder(&self) -> &Occupant {
        self.occupants
            .iter()
            .filter(|o| o.conflicts && o.state != TcpState::TimeWait)
            .min_by_key(|o| o.state != TcpState::Listen)
            .expect("a held port has a live conflicting occupant")
    }
}

/// The report on a port the survey found held by a live socket. When /proc names no owner
/// and the socket turns out to be gone by then, it is not said to hold the port: the port
/// changed hands between the survey and the search, and a fresh survey says how it is now.
fn held_or_changed(
    args: &ReuseTestArgs,
    survey: PortSurvey,
    started: Instant,
) -> anyhow::Result<ReuseReport> {
    let holder = survey.holder();
    let owner_search = holder
        .pid
        .is_none()
        .then(|| search_owner(holder, survey.unreadable));
    if owner_search
        .as_ref()
        .is_some_and(|search| search.still_there == Some(false))
    {
        let fresh = survey_port(args.addr, args.port)?;
        let change = holder_left(holder, &survey, &fresh);
        let mut report = changed_hands_report(args, fresh, Partial::default(), change, started);
        report.owner_search = owner_search;
        return Ok(report);
    }
    Ok(held_report(args, survey, owner_search, started))
}

/// What changed when the holder the survey found had gone before its owner was searched.
fn holder_left(holder: &Occupant, first: &PortSurvey, fresh: &PortSurvey) -> PortChange {
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
fn held_by(holder: &Occupant) -> String {
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

fn held_report(
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
        command: "reuse-test",
        sockdoc_version: VERSION,
        address: args.addr.to_string(),
        port: args.port,
        requested_port: Some(args.port),
        listing_source: survey.source,
        listing_note: survey.note.clone(),
        occupants: survey.occupants,
        port_status: survey.status,
        time_wait_probe: None,
        reproduction: None,
        time_wait: Vec::new(),
        trials: Vec::new(),
        std_listener_defaults: None,
        wait: None,
        port_changed_during_run: false,
        port_change: None,
        owner_search,
        verdict,
        fix,
        notes: vec![
            "sockdoc did not touch the port: no experiment ran while a live socket holds it."
                .into(),
        ],
        elapsed_us: micros(started.elapsed()),
    }
}

// ---------------------------------------------------------------------------------------
// Step 2: reproduce
// ---------------------------------------------------------------------------------------

/// The server side of a closed connection, to look up again later.
struct TimeWaitSocket {
    local: SocketAddr,
    remote: SocketAddr,
    seen_at: Instant,
}

/// Runs the reproduction on `listener`, made with SO_REUSEADDR so that the TIME_WAIT socket
/// it leaves on the user's port does not block their own server (if it sets the flag too).
fn reproduce(
    listener: Socket,
    addr: IpAddr,
    timeout: Duration,
) -> anyhow::Result<(Reproduction, Option<TimeWaitSocket>)> {
    let pair = ConnectedPair::from_listener(listener, timeout)?;
    let port = pair.port();
    let server_addr = pair.server_local;
    let client_addr = pair.client_local;
    let server_state = pair.close(Side::Server, timeout)?;
    let tw_seen = Instant::now();
    let expires = server_state.as_ref().and_then(|r| r.expires);
    let state = server_state.map(|r| r.state);

    let target = SocketAddr::new(addr, port);
    let without = try_bind_listen(target, ReuseFlags::NONE)?.outcome;
    let with = try_bind_listen(target, ReuseFlags::ADDR)?.outcome;
    let followed = (state == Some(TcpState::TimeWait)).then_some(TimeWaitSocket {
        local: server_addr,
        remote: client_addr,
        seen_at: tw_seen,
    });
    Ok((
        Reproduction {
            port,
            server: server_addr.to_string(),
            client: client_addr.to_string(),
            server_state: state,
            expires_ms: expires.map(millis),
            reproduced: state == Some(TcpState::TimeWait)
                && without == "EADDRINUSE"
                && with == "ok",
            bind_without_reuseaddr: without,
            bind_with_reuseaddr: with,
        },
        followed,
    ))
}

fn time_wait_on(addr: IpAddr, port: u16) -> anyhow::Result<(Vec<TimeWaitEntry>, Listing)> {
    let query = Query {
        states: TcpState::TimeWait.mask(),
        local_port: Some(port),
        ..Query::tcp()
    };
    let (records, listing) = diag::list(&query).context("listing TIME_WAIT sockets")?;
    let entries = records
        .into_iter()
        .filter(|r| overlaps(addr, r.local.ip(), r.v6only))
        .map(|r| TimeWaitEntry {
            local: r.local.to_string(),
            remote: r.remote.to_string(),
            expires_ms: r.expires.map_or(0, millis),
        })
        .collect();
    Ok((entries, listing))
}

/// A listener plus one connected client and its accepted server side, with a few bytes
/// exchanged so the connection is a real one.
struct ConnectedPair {
    listener: Socket,
    client: TcpStream,
    server: TcpStream,
    client_local: SocketAddr,
    server_local: SocketAddr,
}

impl ConnectedPair {
    fn open(bind_to: SocketAddr, flags: ReuseFlags, timeout: Duration) -> anyhow::Result<Self> {
        let listener =
            sock::listener(bind_to, flags, timeout).map_err(|e| explain_bind_error(e, bind_to))?;
        Self::from_listener(listener, timeout)
    }

    fn from_listener(listener: Socket, timeout: Duration) -> anyhow::Result<Self> {
        let listen_addr = sock::local_addr(&listener)?;
        let mut client = sock::connect(listen_addr, timeout)?;
        let mut server = sock::accept(&listener, timeout)?;
        sock::send_all(&mut client, PING, "sending the client's request", timeout)?;
        let mut buf = [0_u8; 4];
        sock::recv_exact(
            &mut server,
            &mut buf,
            "reading the client's request",
            timeout,
        )?;
        sock::send_all(&mut server, PONG, "sending the server's reply", timeout)?;
        sock::recv_exact(&mut client, &mut buf, "reading the server's reply", timeout)?;
        Ok(Self {
            client_local: sock::local_addr(&client)?,
            server_local: sock::local_addr(&server)?,
            listener,
            client,
            server,
        })
    }

    fn port(&self) -> u16 {
        self.server_local.port()
    }

    /// Orderly close, `first` side first: it sends FIN, the other side reads the end of
    /// stream and closes too, then the listener closes. The side that closed first goes
    /// FIN_WAIT → TIME_WAIT; returns its record once there, or None if the kernel dropped it.
    fn close(self, first: Side, timeout: Duration) -> anyhow::Result<Option<SocketRecord>> {
        let Self {
            listener,
            client,
            server,
            client_local,
            server_local,
        } = self;
        let (closer, mut other, closer_local, other_local) = match first {
            Side::Server => (server, client, server_local, client_local),
            Side::Client => (client, server, client_local, server_local),
        };
        drop(closer);
        expect_end_of_stream(&mut other, timeout)?;
        drop(other);
        drop(listener);
        wait_for_state(closer_local, other_local, Some(TcpState::TimeWait), timeout)
    }
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Server,
    Client,
}

fn expect_end_of_stream(stream: &mut TcpStream, timeout: Duration) -> anyhow::Result<()> {
    match sock::recv_once(stream, "waiting for the peer's FIN", timeout)? {
        RecvEnd::EndOfStream => Ok(()),
        other => anyhow::bail!("expected the peer's FIN (end of stream) but read {other:?}"),
    }
}

/// Polls one connection until it reaches `want` (or, with `None`, until it is gone).
/// Returns the record in the wanted state, or None once the socket no longer exists.
fn wait_for_state(
    local: SocketAddr,
    remote: SocketAddr,
    want: Option<TcpState>,
    timeout: Duration,
) -> anyhow::Result<Option<SocketRecord>> {
    let deadline = Instant::now() + timeout;
    loop {
        let record = diag::lookup(Proto::Tcp, local, remote)
            .with_context(|| format!("looking up {local} ↔ {remote}"))?;
        let current = match record {
            None => return Ok(None),
            Some(r) if Some(r.state) == want => return Ok(Some(r)),
            Some(r) => r.state,
        };
        if Instant::now() >= deadline {
            let goal = want.map_or_else(|| "close".to_string(), |s| format!("enter {s}"));
            return Err(SysError::Timeout {
                step: format!("waiting for {local} ↔ {remote} to {goal} (still {current})"),
                timeout,
            }
            .into());
        }
        thread::sleep(STATE_POLL);
    }
}

// ---------------------------------------------------------------------------------------
// Step 3: the matrix
// ---------------------------------------------------------------------------------------

/// What exists on the port before the new socket tries it.
#[derive(Debug, Clone, Copy)]
enum HolderSpec {
    /// A server (made through `api` with `flags` on its listener) that closed first.
    TimeWait { flags: ReuseFlags, api: Api },
    /// A live listener with `flags`, on the wildcard address when `wildcard`.
    Listen { flags: ReuseFlags, wildcard: bool },
    /// The client closed first, so TIME_WAIT lands on the client's port.
    ClientClosesFirst,
    /// The server closed with SO_LINGER {on, 0 s}: an RST, no TIME_WAIT.
    LingerZero,
}

#[derive(Debug, Clone, Copy)]
struct NewSocket {
    flags: ReuseFlags,
    api: Api,
}

struct TrialSpec {
    name: &'static str,
    holder: HolderSpec,
    new: NewSocket,
    /// `None` = bind and listen succeed; `Some(errno)` = they fail with it.
    expected: Option<Errno>,
    rule: &'static str,
    fix: &'static str,
    source: &'static str,
}

const FIX_REUSEADDR: &str = "Set SO_REUSEADDR on the listening socket before bind(), in every version of the server \
     (socket2: set_reuse_address(true); C: setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, …)).";

// One table of every trial reads better than the same data split across functions.
#[allow(clippy::too_many_lines)]
fn trial_specs(addr: IpAddr) -> Vec<TrialSpec> {
    let socket2 = |flags| NewSocket {
        flags,
        api: Api::Socket2,
    };
    let tw = |flags| HolderSpec::TimeWait {
        flags,
        api: Api::Socket2,
    };
    let wildcard_name = if addr.is_ipv6() {
        "listener on [::] vs bind to a specific address"
    } else {
        "listener on 0.0.0.0 vs bind to a specific address"
    };
    vec![
        TrialSpec {
            name: "TIME_WAIT, REUSEADDR on neither",
            holder: tw(ReuseFlags::NONE),
            new: socket2(ReuseFlags::NONE),
            expected: Some(Errno::EADDRINUSE),
            rule: "A TIME_WAIT socket keeps its port against a bind() without SO_REUSEADDR until it expires: TCP_TIMEWAIT_LEN = 60 s plus timer-wheel rounding, re-armed by the peer's segments, ended early by a SYN that reopens the connection or (with tcp_rfc1337 = 0, the default) an RST.",
            fix: FIX_REUSEADDR,
            source: "tools/testing/selftests/net/bind_timewait.c; TCP_TIMEWAIT_LEN, include/net/tcp.h; tcp_timewait_state_process(), net/ipv4/tcp_minisocks.c; calc_index(), kernel/time/timer.c",
        },
        TrialSpec {
            name: "TIME_WAIT, REUSEADDR on new only",
            holder: tw(ReuseFlags::NONE),
            new: socket2(ReuseFlags::ADDR),
            expected: Some(Errno::EADDRINUSE),
            rule: "Linux needs SO_REUSEADDR on both sockets: the TIME_WAIT socket inherited 'off' from the old listener, so the new socket's flag is not enough.",
            fix: "Set SO_REUSEADDR in the old server too: its TIME_WAIT sockets inherit the flag from its listener.",
            source: "inet_bind_conflict(), net/ipv4/inet_connection_sock.c (sk->sk_reuse && sk2->sk_reuse && sk2->sk_state != TCP_LISTEN)",
        },
        TrialSpec {
            name: "TIME_WAIT, REUSEADDR on old only",
            holder: tw(ReuseFlags::ADDR),
            new: socket2(ReuseFlags::NONE),
            expected: Some(Errno::EADDRINUSE),
            rule: "The new socket did not set SO_REUSEADDR, so the TIME_WAIT socket's flag does not help.",
            fix: FIX_REUSEADDR,
            source: "inet_bind_conflict(), net/ipv4/inet_connection_sock.c (sk->sk_reuse && sk2->sk_reuse && sk2->sk_state != TCP_LISTEN)",
        },
        TrialSpec {
            name: "TIME_WAIT, REUSEADDR on both",
            holder: tw(ReuseFlags::ADDR),
            new: socket2(ReuseFlags::ADDR),
            expected: None,
            rule: "With SO_REUSEADDR on both and the old socket not listening, bind() may share the port with TIME_WAIT.",
            fix: "Nothing to fix: this is the pattern every server should use.",
            source: "inet_bind_conflict(), net/ipv4/inet_connection_sock.c (sk->sk_reuse && sk2->sk_reuse && sk2->sk_state != TCP_LISTEN)",
        },
        TrialSpec {
            name: "TIME_WAIT, REUSEPORT on both",
            holder: tw(ReuseFlags::PORT),
            new: socket2(ReuseFlags::PORT),
            expected: None,
            rule: "With SO_REUSEPORT on both, a TIME_WAIT socket never conflicts (its uid is not checked).",
            fix: "Works, but SO_REUSEADDR is the flag meant for restarts; SO_REUSEPORT also lets live listeners share the port.",
            source: "inet_bind_conflict(), net/ipv4/inet_connection_sock.c",
        },
        TrialSpec {
            name: "live LISTEN, REUSEADDR on both",
            holder: HolderSpec::Listen {
                flags: ReuseFlags::ADDR,
                wildcard: false,
            },
            new: socket2(ReuseFlags::ADDR),
            expected: Some(Errno::EADDRINUSE),
            rule: "A listening socket conflicts with any new bind() on its address, whatever SO_REUSEADDR says.",
            fix: "Stop the old server before starting the new one, or use another port.",
            source: "socket(7) SO_REUSEADDR",
        },
        TrialSpec {
            name: "live LISTEN, REUSEPORT on both",
            holder: HolderSpec::Listen {
                flags: ReuseFlags::PORT,
                wildcard: false,
            },
            new: socket2(ReuseFlags::PORT),
            expected: None,
            rule: "SO_REUSEPORT on both (same effective uid) lets a second listener join: the kernel spreads new connections over both.",
            fix: "Use this only to run several workers on one port, not to restart a server.",
            source: "socket(7) SO_REUSEPORT",
        },
        TrialSpec {
            name: wildcard_name,
            holder: HolderSpec::Listen {
                flags: ReuseFlags::NONE,
                wildcard: true,
            },
            new: socket2(ReuseFlags::NONE),
            expected: Some(Errno::EADDRINUSE),
            rule: "A listener on the wildcard address holds the port on every local address, so a specific-address bind() overlaps it.",
            fix: "Bind both to distinct specific addresses, or stop the wildcard listener.",
            source: "socket(7) SO_REUSEADDR; selftests/net/reuseaddr_conflict.c",
        },
        TrialSpec {
            name: "wildcard listener, REUSEADDR on both",
            holder: HolderSpec::Listen {
                flags: ReuseFlags::ADDR,
                wildcard: true,
            },
            new: socket2(ReuseFlags::ADDR),
            expected: Some(Errno::EADDRINUSE),
            rule: "SO_REUSEADDR does not relax the conflict with a live wildcard listener.",
            fix: "Bind both to distinct specific addresses, or stop the wildcard listener.",
            source: "socket(7) SO_REUSEADDR",
        },
        TrialSpec {
            name: "client closed first",
            holder: HolderSpec::ClientClosesFirst,
            new: socket2(ReuseFlags::NONE),
            expected: None,
            rule: "Only the side that closes first enters TIME_WAIT; when the client closes first, the server's port is free at once.",
            fix: "Design protocols so clients close first; servers then never accumulate TIME_WAIT.",
            source: "RFC 9293 §3.3.2; Bernat, Coping with TIME-WAIT",
        },
        TrialSpec {
            name: "server closed with SO_LINGER 0",
            holder: HolderSpec::LingerZero,
            new: socket2(ReuseFlags::NONE),
            expected: None,
            rule: "SO_LINGER {on, 0 s} makes close() abort the connection with RST (TcpExtTCPAbortOnData): no TIME_WAIT, the peer gets ECONNRESET and unsent data is lost. close() with unread received data sends RST even without it (TcpExtTCPAbortOnClose), and shutdown() ignores it and sends FIN.",
            fix: "Prefer SO_REUSEADDR; use SO_LINGER 0 only where losing data and resetting the peer is acceptable.",
            source: "__tcp_close() and tcp_shutdown(), net/ipv4/tcp.c",
        },
        TrialSpec {
            name: "std TcpListener restart (std → std)",
            holder: HolderSpec::TimeWait {
                flags: ReuseFlags::NONE,
                api: Api::Std,
            },
            new: NewSocket {
                flags: ReuseFlags::NONE,
                api: Api::Std,
            },
            expected: None,
            rule: "std::net::TcpListener::bind sets SO_REUSEADDR itself on Unix, so a std server restarts over its own TIME_WAIT.",
            fix: "Nothing to fix for std; tokio and mio's TcpListener::bind do the same.",
            source: "rust-lang/rust library/std sys/net (setsockopt SO_REUSEADDR)",
        },
        TrialSpec {
            name: "socket2 old, std new",
            holder: tw(ReuseFlags::NONE),
            new: NewSocket {
                flags: ReuseFlags::NONE,
                api: Api::Std,
            },
            expected: Some(Errno::EADDRINUSE),
            rule: "The old server was a raw socket2 socket, which sets nothing: its TIME_WAIT lacks SO_REUSEADDR, so even std's bind fails.",
            fix: "socket2 mirrors the raw syscalls: call set_reuse_address(true) before bind().",
            source: "socket2 src/socket.rs (no default options); rust-lang/socket2#489",
        },
        TrialSpec {
            name: "std old, socket2 new",
            holder: HolderSpec::TimeWait {
                flags: ReuseFlags::NONE,
                api: Api::Std,
            },
            new: socket2(ReuseFlags::NONE),
            expected: Some(Errno::EADDRINUSE),
            rule: "The old std listener set SO_REUSEADDR, but the new raw socket2 socket did not.",
            fix: "socket2 mirrors the raw syscalls: call set_reuse_address(true) before bind().",
            source: "socket2 src/socket.rs (no default options)",
        },
    ]
}

/// The holder a trial built, kept alive until the new socket has tried the port.
struct Holder {
    port: u16,
    state: HolderState,
    old_api: Api,
    old_address: SocketAddr,
    old_flags: ReuseFlags,
    /// A live listener, for LISTEN holders.
    _listener: Option<Socket>,
    evidence: Vec<String>,
    /// Whether the holder behaved as documented (its own part of `matches`).
    as_documented: bool,
}

impl Holder {
    /// A raw socket2 server on `server_local` whose closed connection should leave nothing
    /// on its port (client closed first, or SO_LINGER 0); `as_documented` says whether it did.
    fn left_nothing(
        server_local: SocketAddr,
        old_flags: ReuseFlags,
        evidence: Vec<String>,
        as_documented: bool,
    ) -> Self {
        Self {
            port: server_local.port(),
            state: HolderState::None,
            old_api: Api::Socket2,
            old_address: server_local,
            old_flags,
            _listener: None,
            evidence,
            as_documented,
        }
    }
}

fn run_trial(
    spec: &TrialSpec,
    addr: IpAddr,
    std_defaults: ReuseFlags,
    timeout: Duration,
) -> anyhow::Result<Trial> {
    let holder = build_holder(spec.holder, addr, timeout)
        .with_context(|| format!("preparing trial \"{}\"", spec.name))?;
    let target = SocketAddr::new(addr, holder.port);
    let attempt = match spec.new.api {
        Api::Socket2 => try_bind_listen(target, spec.new.flags)?,
        Api::Std => try_std_listener(target, std_defaults, timeout)?,
    };
    let expected = spec
        .expected
        .map_or_else(|| "ok".to_string(), |e| format!("{e:?}"));
    let mut evidence = holder.evidence;
    let expected_holder = match spec.holder {
        HolderSpec::TimeWait { .. } => HolderState::TimeWait,
        HolderSpec::Listen { .. } => HolderState::Listen,
        HolderSpec::ClientClosesFirst | HolderSpec::LingerZero => HolderState::None,
    };
    if holder.state != expected_holder {
        evidence.push(format!(
            "expected the port to be held by {expected_holder:?} but sock_diag found {:?}",
            holder.state
        ));
    }
    Ok(Trial {
        name: spec.name,
        port: holder.port,
        holder: holder.state,
        old_api: holder.old_api,
        new_api: spec.new.api,
        old_address: holder.old_address.to_string(),
        new_address: target.to_string(),
        old_reuseaddr: holder.old_flags.reuse_address,
        new_reuseaddr: attempt.flags.reuse_address,
        old_reuseport: holder.old_flags.reuse_port,
        new_reuseport: attempt.flags.reuse_port,
        matches: attempt.outcome == expected
            && holder.as_documented
            && holder.state == expected_holder,
        outcome: attempt.outcome,
        failed_step: attempt.failed_step,
        expected,
        rule: spec.rule,
        fix: spec.fix,
        evidence,
        source: spec.source,
    })
}

fn build_holder(spec: HolderSpec, addr: IpAddr, timeout: Duration) -> anyhow::Result<Holder> {
    match spec {
        HolderSpec::TimeWait { flags, api } => time_wait_holder(addr, flags, api, timeout),
        HolderSpec::Listen { flags, wildcard } => listen_holder(addr, flags, wildcard, timeout),
        HolderSpec::ClientClosesFirst => client_closes_first_holder(addr, timeout),
        HolderSpec::LingerZero => linger_zero_holder(addr, timeout),
    }
}

/// A server made through `api` with `flags` that closes first, leaving TIME_WAIT.
fn time_wait_holder(
    addr: IpAddr,
    flags: ReuseFlags,
    api: Api,
    timeout: Duration,
) -> anyhow::Result<Holder> {
    let ephemeral = SocketAddr::new(addr, 0);
    let listener = match api {
        Api::Socket2 => sock::listener(ephemeral, flags, timeout)?,
        Api::Std => Socket::from(sock::std_listener(ephemeral, timeout)?),
    };
    let pair = ConnectedPair::from_listener(listener, timeout)?;
    // The accepted socket inherited the listener's options; it is the one that becomes
    // TIME_WAIT, so its read-back is the "old socket" of the rule.
    let old_flags = sock::reuse_flags(&pair.server)?;
    let old_address = pair.server_local;
    let (state, evidence) = match pair.close(Side::Server, timeout)? {
        Some(r) => (
            HolderState::TimeWait,
            format!(
                "server side {} ↔ {} in TIME_WAIT, expires in {}",
                r.local,
                r.remote,
                human(r.expires.unwrap_or_default())
            ),
        ),
        None => (
            HolderState::None,
            "the kernel dropped the closed connection at once instead of keeping TIME_WAIT \
             (net.ipv4.tcp_max_tw_buckets reached?)"
                .to_string(),
        ),
    };
    Ok(Holder {
        port: old_address.port(),
        state,
        old_api: api,
        old_address,
        old_flags,
        _listener: None,
        evidence: vec![evidence],
        as_documented: true,
    })
}

/// A live listener with `flags`, on the wildcard address when `wildcard`.
fn listen_holder(
    addr: IpAddr,
    flags: ReuseFlags,
    wildcard: bool,
    timeout: Duration,
) -> anyhow::Result<Holder> {
    let bind_to = SocketAddr::new(
        if wildcard {
            unspecified_like(addr)
        } else {
            addr
        },
        0,
    );
    let listener = sock::listener(bind_to, flags, timeout)?;
    let old_address = sock::local_addr(&listener)?;
    let old_flags = sock::reuse_flags(&listener)?;
    let listed = wait_for_state(
        old_address,
        diag::listener_peer(old_address),
        Some(TcpState::Listen),
        timeout,
    )?;
    Ok(Holder {
        port: old_address.port(),
        state: if listed.is_some() {
            HolderState::Listen
        } else {
            HolderState::None
        },
        old_api: Api::Socket2,
        old_address,
        old_flags,
        _listener: Some(listener),
        evidence: Vec::new(),
        as_documented: true,
    })
}

/// The client closes first, so TIME_WAIT lands on the client's port and the server's
/// port is left free.
fn client_closes_first_holder(addr: IpAddr, timeout: Duration) -> anyhow::Result<Holder> {
    let pair = ConnectedPair::open(SocketAddr::new(addr, 0), ReuseFlags::NONE, timeout)?;
    let old_flags = sock::reuse_flags(&pair.server)?;
    let (client_local, server_local) = (pair.client_local, pair.server_local);
    let client_tw = pair.close(Side::Client, timeout)?;
    let server_left = wait_for_state(server_local, client_local, None, timeout)?;
    let evidence = match &client_tw {
        Some(r) => format!(
            "TIME_WAIT went to the client's side {} ↔ {} (expires in {}); the server's port {} has none",
            r.local,
            r.remote,
            human(r.expires.unwrap_or_default()),
            server_local.port()
        ),
        None => "no TIME_WAIT appeared on the client's side".into(),
    };
    Ok(Holder::left_nothing(
        server_local,
        old_flags,
        vec![evidence],
        client_tw.is_some() && server_left.is_none(),
    ))
}

/// The server closes with SO_LINGER {on, 0 s}: an RST instead of a FIN, so no TIME_WAIT
/// anywhere, and the client's next read fails with ECONNRESET.
fn linger_zero_holder(addr: IpAddr, timeout: Duration) -> anyhow::Result<Holder> {
    let pair = ConnectedPair::open(SocketAddr::new(addr, 0), ReuseFlags::NONE, timeout)?;
    let old_flags = sock::reuse_flags(&pair.server)?;
    let ConnectedPair {
        listener,
        mut client,
        server,
        client_local,
        server_local,
    } = pair;
    sock::set_linger_zero(&server)?;
    drop(server);
    let peer = sock::recv_once(
        &mut client,
        "reading at the client after the server's RST",
        timeout,
    )?;
    let peer_error = match &peer {
        RecvEnd::Error(e) => errno_name(e).unwrap_or_else(|| e.to_string()),
        RecvEnd::EndOfStream => "end of stream (FIN, not RST)".into(),
        RecvEnd::Data(n) => format!("{n} bytes of data"),
    };
    drop(client);
    drop(listener);
    let server_side = wait_for_state(server_local, client_local, None, timeout)?;
    let client_side = wait_for_state(client_local, server_local, None, timeout)?;
    let evidence = vec![
        format!("the client's recv() after the server's close: {peer_error}"),
        format!(
            "TIME_WAIT on the server's port {}: {}",
            server_local.port(),
            if server_side.is_none() {
                "none"
            } else {
                "present"
            }
        ),
    ];
    Ok(Holder::left_nothing(
        server_local,
        old_flags,
        evidence,
        peer_error == "ECONNRESET" && server_side.is_none() && client_side.is_none(),
    ))
}

fn unspecified_like(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The result of a new socket trying bind() + listen() on a port.
struct Attempt {
    outcome: String,
    failed_step: Option<&'static str>,
    flags: ReuseFlags,
}

/// A fresh raw socket with `flags` tries bind() then listen() on `target`; a refusal is
/// the measured outcome, not an error. The socket is closed before returning.
fn try_bind_listen(target: SocketAddr, flags: ReuseFlags) -> anyhow::Result<Attempt> {
    let socket = sock::tcp_socket(target, flags)?;
    let flags = sock::reuse_flags(&socket)?;
    let (outcome, failed_step) = match sock::bind(&socket, target) {
        Err(e) => (refusal(e, target)?, Some("bind")),
        Ok(()) => match sock::listen(&socket, target) {
            Err(e) => (refusal(e, target)?, Some("listen")),
            Ok(()) => ("ok".to_string(), None),
        },
    };
    Ok(Attempt {
        outcome,
        failed_step,
        flags,
    })
}

/// `std::net::TcpListener::bind` on `target`. std does socket, setsockopt, bind and listen
/// in one call, so a failed attempt reports the options std is measured to set.
fn try_std_listener(
    target: SocketAddr,
    std_defaults: ReuseFlags,
    timeout: Duration,
) -> anyhow::Result<Attempt> {
    match sock::std_listener(target, timeout) {
        Ok(listener) => Ok(Attempt {
            outcome: "ok".into(),
            failed_step: None,
            flags: sock::reuse_flags(&listener)?,
        }),
        Err(e) => Ok(Attempt {
            outcome: refusal(e, target)?,
            failed_step: Some("bind"),
            flags: std_defaults,
        }),
    }
}

/// The errno name of a bind/listen refusal. Only EADDRINUSE is an outcome of the bind rules;
/// any other error (EMFILE, EACCES, a missing address) says why the trial could not run and
/// passes through, never to be held against the documented rule as a mismatch.
fn refusal(error: SysError, target: SocketAddr) -> anyhow::Result<String> {
    match error.errno() {
        Some(Errno::EADDRINUSE) => Ok("EADDRINUSE".into()),
        _ => Err(explain_bind_error(error, target)),
    }
}

fn std_listener_defaults(addr: IpAddr, timeout: Duration) -> anyhow::Result<ReuseFlags> {
    let listener = sock::std_listener(SocketAddr::new(addr, 0), timeout)?;
    Ok(sock::reuse_flags(&listener)?)
}

// ---------------------------------------------------------------------------------------
// Step 4: --wait
// ---------------------------------------------------------------------------------------

/// `--wait` on the reproduction's TIME_WAIT socket, or a note that none appeared.
fn follow_if_any(
    followed: Option<&TimeWaitSocket>,
    ctx: &Context,
    notes: &mut Vec<String>,
) -> anyhow::Result<Option<WaitResult>> {
    if let Some(tw) = followed {
        return follow_time_wait(tw, ctx).map(Some);
    }
    notes.push("--wait: no TIME_WAIT socket appeared, so there was nothing to follow.".into());
    Ok(None)
}

fn follow_time_wait(tw: &TimeWaitSocket, ctx: &Context) -> anyhow::Result<WaitResult> {
    let limit = TIMEWAIT_LIFETIME_WINDOW.1 + Duration::from_secs(20);
    let bar = if ctx.show_progress {
        indicatif::ProgressBar::new(millis(TCP_TIMEWAIT_LEN))
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("TIME_WAIT {wide_bar} {msg}")
            .expect("the progress template is valid"),
    );
    let lifetime = loop {
        let lived = tw.seen_at.elapsed();
        match diag::lookup(Proto::Tcp, tw.local, tw.remote)
            .context("following the TIME_WAIT socket")?
        {
            Some(record) if record.state == TcpState::TimeWait => {
                let left = record.expires.unwrap_or_default();
                bar.set_position(millis(lived));
                bar.set_message(format!("{} left", human(left)));
            }
            _ => break lived,
        }
        if lived > limit {
            bar.finish_and_clear();
            anyhow::bail!(
                "following TIME_WAIT on {}: still there after {}, far past TCP_TIMEWAIT_LEN ({}) \
                 plus timer rounding; segments from the peer re-arm its timer",
                tw.local,
                human(lived),
                human(TCP_TIMEWAIT_LEN)
            );
        }
        thread::sleep(WAIT_POLL);
    };
    bar.finish_and_clear();
    let fin_timeout = sysctl::read_knob(&ctx.root, "net.ipv4.tcp_fin_timeout")
        .value()
        .map(str::to_owned)
        .and_then(|v| v.parse().ok());
    Ok(WaitResult {
        local: tw.local.to_string(),
        remote: tw.remote.to_string(),
        lifetime_ms: millis(lifetime),
        expected_ms: millis(TCP_TIMEWAIT_LEN),
        expected_min_ms: millis(TIMEWAIT_LIFETIME_WINDOW.0),
        expected_max_ms: millis(TIMEWAIT_LIFETIME_WINDOW.1),
        timer_rounding_max_ms: millis(TIMEWAIT_WHEEL_ROUNDING_MAX),
        matches: (TIMEWAIT_LIFETIME_WINDOW.0..=TIMEWAIT_LIFETIME_WINDOW.1).contains(&lifetime),
        tcp_fin_timeout_s: fin_timeout,
    })
}

// ---------------------------------------------------------------------------------------
// Verdict and errors
// ---------------------------------------------------------------------------------------

fn verdict(
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
fn time_wait_verdict(port: u16, p: &TimeWaitProbe) -> (String, Option<String>) {
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

/// Turns bind errors that stop the run into messages that say why and what to do.
fn explain_bind_error(error: SysError, target: SocketAddr) -> anyhow::Error {
    let root = &Root::live();
    let hint = match error.errno() {
        Some(Errno::EACCES) => {
            let start = sysctl::read_knob(root, "net.ipv4.ip_unprivileged_port_start")
                .value()
                .map_or_else(|| "1024".into(), str::to_owned);
            format!(
                "port {} is privileged here (below net.ipv4.ip_unprivileged_port_start = {start}). \
                 Run as root, grant the capability (sudo setcap cap_net_bind_service=+ep \"$(command -v sockdoc)\"), \
                 lower net.ipv4.ip_unprivileged_port_start, or pick a port at or above {start}",
                target.port()
            )
        }
        Some(Errno::EADDRINUSE) => format!(
            "another socket holds {target} although the listing showed none that conflicts: \
             most likely one that is bound but not listening (a bind() before connect(), or a \
             server between bind() and listen()), which sock_diag lists only since Linux 6.8 \
             (commit 91051f003948) and /proc/net/tcp never lists. On Linux 6.8 or later, \
             `ss -tanp state bound-inactive 'sport = :{}'` names its owner (with an ss that \
             knows that state); otherwise look for a program that binds this port without \
             listening",
            target.port()
        ),
        Some(Errno::EINVAL) if matches!(target.ip(), IpAddr::V6(v6) if v6.is_unicast_link_local()) => {
            "IPv6 link-local addresses (fe80::/10) are bound per interface and --addr carries no \
             interface; use ::1 or a global address of this host"
                .to_string()
        }
        // EADDRNOTAVAIL (not a local address, IPv6 off) and EAFNOSUPPORT come explained
        // from the shared diagnosis (`sys::error::diagnose`).
        _ => return error.into(),
    };
    anyhow::Error::new(error).context(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_for(port: u16) -> ReuseTestArgs {
        use clap::Parser as _;
        let cli =
            crate::cli::Cli::try_parse_from(["sockdoc", "reuse-test", &port.to_string()]).unwrap();
        match cli.command {
            crate::cli::Command::ReuseTest(args) => args,
            _ => unreachable!("parsed reuse-test"),
        }
    }

    /// A survey of a port this test holds with a listener, with the owner unnamed, as when
    /// the /proc scan finds no descriptor for the listed socket.
    fn unnamed_holder() -> (std::net::TcpListener, ReuseTestArgs, PortSurvey) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let args = args_for(listener.local_addr().unwrap().port());
        let mut survey = survey_port(args.addr, args.port).unwrap();
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
        let report = held_or_changed(&args, survey, Instant::now()).unwrap();
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
        let report = held_or_changed(&args, survey, Instant::now()).unwrap();
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

    #[test]
    fn the_lifetime_window_is_the_timer_plus_wheel_rounding() {
        let (low, high) = TIMEWAIT_LIFETIME_WINDOW;
        // Never early: below TCP_TIMEWAIT_LEN only by sockdoc's own observation slack.
        assert_eq!(low + OBSERVATION_SLACK, TCP_TIMEWAIT_LEN);
        // Late by at most the coarsest bucket (HZ=100, level 3: 512 jiffies of 10 ms), then
        // seen at the next poll.
        assert_eq!(
            high,
            TCP_TIMEWAIT_LEN + Duration::from_millis(512 * 10) + WAIT_POLL + OBSERVATION_SLACK
        );
        // Lifetimes measured on a HZ=250 kernel (bucket 2.048 s): 60.5–62.0 s.
        for ms in [60_500, 61_336, 62_000, 62_048] {
            assert!((low..=high).contains(&Duration::from_millis(ms)), "{ms} ms");
        }
    }

    #[test]
    fn wildcards_overlap_everything_in_their_family() {
        let lo4: IpAddr = "127.0.0.1".parse().unwrap();
        let any4: IpAddr = "0.0.0.0".parse().unwrap();
        let lo6: IpAddr = "::1".parse().unwrap();
        let any6: IpAddr = "::".parse().unwrap();
        let other4: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(overlaps(lo4, any4, None));
        assert!(overlaps(any4, lo4, None));
        assert!(overlaps(lo4, lo4, None));
        assert!(!overlaps(lo4, other4, None));
        assert!(
            overlaps(lo4, any6, Some(false)),
            "a dual-stack [::] listener covers IPv4 too"
        );
        assert!(
            overlaps(lo4, any6, None),
            "unknown V6ONLY: assume dual-stack"
        );
        assert!(
            !overlaps(lo4, any6, Some(true)),
            "IPV6_V6ONLY keeps [::] off IPv4"
        );
        assert!(overlaps(lo6, any6, Some(true)));
        assert!(!overlaps(lo6, lo4, None));
        assert!(overlaps(
            lo4,
            "::ffff:127.0.0.1".parse().unwrap(),
            Some(false)
        ));
    }

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

    fn facts() -> OwnerFacts {
        OwnerFacts {
            as_root: true,
            orphan: false,
            unreadable: 0,
            hidepid: None,
            initial_pid_namespace: Some(true),
            still_there: Some(true),
        }
    }

    #[test]
    fn root_is_never_told_to_run_as_root() {
        let reason = |f: &OwnerFacts| owner_hidden_reason(f, "uid 0");
        // Root, everything readable: no process holds it.
        let all_read = reason(&facts());
        assert!(all_read.contains("no process at all"), "{all_read}");
        assert!(!all_read.contains("run as root"), "{all_read}");
        assert!(!all_read.contains("hidepid"), "{all_read}");
        assert!(!all_read.contains("PID namespace"), "{all_read}");
        // Root, but some process refused, /proc mounted with hidepid, inside a container.
        let hidden = reason(&OwnerFacts {
            unreadable: 3,
            hidepid: Some("invisible".into()),
            initial_pid_namespace: Some(false),
            ..facts()
        });
        for part in [
            "one of the 3 processes",
            "even to root",
            "hidepid=invisible",
            "outside sockdoc's PID namespace",
            "no process at all",
        ] {
            assert!(hidden.contains(part), "{part}: {hidden}");
        }
        assert!(!hidden.contains("run as root"), "{hidden}");
        // Not root and some process unreadable: root would see it.
        let user = reason(&OwnerFacts {
            as_root: false,
            unreadable: 1,
            ..facts()
        });
        assert!(user.contains("run as root to see it"), "{user}");
        assert!(user.contains("the one process"), "{user}");
        // Not root but nothing unreadable: root would not help.
        let nothing = reason(&OwnerFacts {
            as_root: false,
            ..facts()
        });
        assert!(!nothing.contains("run as root"), "{nothing}");
        // An orphan, and a socket gone by the time /proc was searched.
        let orphan = reason(&OwnerFacts {
            orphan: true,
            ..facts()
        });
        assert!(orphan.starts_with("no process (uid 0)"), "{orphan}");
        let gone = reason(&OwnerFacts {
            still_there: Some(false),
            ..facts()
        });
        assert!(
            gone.contains("closed the socket right after the listing"),
            "{gone}"
        );
    }

    #[test]
    fn a_mapped_address_is_its_ipv4_twin() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let lo4: IpAddr = "127.0.0.1".parse().unwrap();
        // An IPv4 listener on 127.0.0.1 or 0.0.0.0 holds ::ffff:127.0.0.1 too.
        assert!(overlaps(mapped, lo4, None));
        assert!(overlaps(mapped, "0.0.0.0".parse().unwrap(), None));
        assert!(!overlaps(mapped, "127.0.0.2".parse().unwrap(), None));
        // A dual-stack [::] covers it; an IPV6_V6ONLY one does not.
        assert!(overlaps(mapped, "::".parse().unwrap(), Some(false)));
        assert!(!overlaps(mapped, "::".parse().unwrap(), Some(true)));
        // ::1 is IPv6 loopback, not 127.0.0.1.
        assert!(!overlaps(mapped, "::1".parse().unwrap(), None));
        assert!(overlaps(mapped, mapped, None));
    }
}
