//! The report of `reuse-test`: what the run measured, typed to the renderer. Field names and
//! serialized values are the JSON contract (`--json`); see the README for its use with jq.

use std::fmt;
use std::time::Instant;

use nix::errno::Errno;
use serde::{Serialize, Serializer};

use super::survey::PortSurvey;
use crate::commands::args::ReuseTestArgs;
use crate::sys::diag::Source;
use crate::sys::record::TcpState;
use crate::units::micros;

#[derive(Debug, Serialize)]
pub struct ReuseReport {
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
    pub(super) fn describe(self) -> &'static str {
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

impl ReuseReport {
    /// The report of a run that stopped after surveying PORT (a live holder, or the port
    /// changing hands): no reproduction, no trials, one note saying why.
    pub(super) fn stopped(
        args: &ReuseTestArgs,
        survey: PortSurvey,
        (verdict, fix): (String, String),
        note: &str,
        started: Instant,
    ) -> Self {
        Self {
            address: args.addr.to_string(),
            port: args.port,
            requested_port: Some(args.port),
            listing_source: survey.source,
            listing_note: survey.note,
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
            owner_search: None,
            verdict,
            fix,
            notes: vec![note.to_owned()],
            elapsed_us: micros(started.elapsed()),
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
    pub bind_with_reuseaddr: BindOutcome,
    /// bind() with SO_REUSEPORT on: `ok`, or the errno name.
    pub bind_with_reuseport: BindOutcome,
    /// Whether the old sockets had SO_REUSEADDR (derived from the first probe: SO_REUSEADDR
    /// binds over TIME_WAIT only when the TIME_WAIT socket has it too).
    pub old_had_reuseaddr: bool,
    /// Whether they had SO_REUSEPORT (derived from the second probe: SO_REUSEPORT binds
    /// over TIME_WAIT only when the TIME_WAIT socket has it too, whatever uid made it).
    pub old_had_reuseport: bool,
    /// The options a new server can bind the port with now, as measured: `SO_REUSEADDR`,
    /// `SO_REUSEPORT`, both, or none.
    pub binds_now_with: Vec<ReuseOption>,
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
    pub bind_without_reuseaddr: BindOutcome,
    /// bind() of a new socket with SO_REUSEADDR: the fix.
    pub bind_with_reuseaddr: BindOutcome,
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
    pub outcome: BindOutcome,
    /// `bind` or `listen` when the outcome is an error.
    pub failed_step: Option<BindStep>,
    /// What Linux documents for the trial, in the same terms as `outcome`.
    pub expected: BindOutcome,
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

/// What a new socket's bind() (and listen()) measured: it succeeded, or the kernel refused
/// it. Written `ok` or as the errno name (`EADDRINUSE`), in the JSON and in the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindOutcome {
    Ok,
    Refused(Errno),
}

impl BindOutcome {
    /// The refusal the bind rules are about.
    pub const ADDR_IN_USE: Self = Self::Refused(Errno::EADDRINUSE);
}

impl fmt::Display for BindOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so the tables can align the outcome with `{:<11}`.
        match self {
            Self::Ok => f.pad("ok"),
            // nix's Debug prints the symbolic name (EADDRINUSE).
            Self::Refused(errno) => f.pad(&format!("{errno:?}")),
        }
    }
}

impl Serialize for BindOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The call that refused a new socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
#[serde(into = "&'static str")]
pub enum BindStep {
    Bind,
    Listen,
}

/// A socket option that lets a new socket share a port, by its C name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, strum::IntoStaticStr)]
#[serde(into = "&'static str")]
pub enum ReuseOption {
    #[strum(serialize = "SO_REUSEADDR")]
    ReuseAddr,
    #[strum(serialize = "SO_REUSEPORT")]
    ReusePort,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(value: impl Serialize) -> String {
        serde_json::to_string(&value).unwrap()
    }

    #[test]
    fn typed_outcomes_keep_their_json_text() {
        assert_eq!(json(BindOutcome::Ok), r#""ok""#);
        assert_eq!(json(BindOutcome::ADDR_IN_USE), r#""EADDRINUSE""#);
        assert_eq!(json(BindStep::Bind), r#""bind""#);
        assert_eq!(json(BindStep::Listen), r#""listen""#);
        assert_eq!(json(ReuseOption::ReuseAddr), r#""SO_REUSEADDR""#);
        assert_eq!(json(ReuseOption::ReusePort), r#""SO_REUSEPORT""#);
        // The tables print the same text, padded where asked.
        assert_eq!(format!("{:<11}|", BindOutcome::Ok), "ok         |");
        assert_eq!(BindOutcome::ADDR_IN_USE.to_string(), "EADDRINUSE");
        assert_eq!(BindStep::Listen.to_string(), "listen");
        assert_eq!(ReuseOption::ReusePort.to_string(), "SO_REUSEPORT");
    }
}
