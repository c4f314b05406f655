//! `sockdoc inspect`: the examination of a running program, container or host. Reads the
//! live sockets (sock_diag: state, queues, timers, tcp_info, memory), who holds them
//! (/proc/PID/fd), their options where ptrace access allows (pidfd_getfd, read only), samples
//! twice to see what changes, and judges them with the rules the lessons prove
//! (`rules`). Each finding names its evidence, the mechanism, the fix and the lesson that
//! reproduces it.

mod examine;
mod gather;
mod rules;
mod view;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde::Serialize;

use super::Context;
use super::args::{FailOn, InspectArgs};
use super::severity::Level;
use crate::exit::{Exit, UsageError};
use crate::sys::diag::Source;
use crate::sys::netns::{self, NetnsId};
use crate::sys::procfs::{self, ProcessSockets};
use crate::units::micros;

use examine::Examiner;
pub use view::{During, ListenerView, ProcessView, SocketView, TcpView};
use view::{listener_views, process_views};

/// What was examined.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// `host` (every socket of the namespace), `port`, or `process`.
    pub kind: &'static str,
    pub port: Option<u16>,
    /// The processes asked for, by `--pid` and `--process`.
    pub pids: Vec<u32>,
    pub process_names: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct InspectReport {
    pub target: Target,
    /// The network namespace examined, `net:[INODE]`.
    pub netns: Option<String>,
    /// The namespace file sockdoc entered to see the target's sockets (its own namespace
    /// differed), or null.
    pub netns_entered: Option<String>,
    /// How far apart the two samples were; 0 for one snapshot (`--for 0`).
    pub sampled_for_ms: u64,
    pub source: Source,
    pub fallback_reason: Option<String>,
    /// net.core.somaxconn of the examined namespace.
    pub somaxconn: Option<u64>,
    /// The destinations whose TIME_WAIT sockets hold the most ephemeral ports (whole-host
    /// inspections; at most 10).
    pub port_budget: Vec<PortUse>,
    pub processes: Vec<ProcessView>,
    pub listeners: Vec<ListenerView>,
    pub sockets: Vec<SocketView>,
    pub findings: Vec<Finding>,
    /// Rules that needed what could not be read (the options, without ptrace access).
    pub not_judged: Vec<NotJudged>,
    /// Namespace-wide protocol counters' change during the window (null with `--for 0`).
    pub counters: Counters,
    pub summary: Summary,
    /// `--fail-on`.
    pub fail_on: &'static str,
    pub notes: Vec<String>,
    pub elapsed_us: u64,
    /// `--sockets`: the table lists every socket examined.
    #[serde(skip)]
    pub list_sockets: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub sockets: u64,
    pub processes: u64,
    /// TIME_WAIT sockets seen (they have no owner and are not listed one by one).
    pub time_wait: u64,
    pub info: u64,
    pub advise: u64,
    pub warn: u64,
    pub not_judged: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    /// TcpExt.ListenOverflows: SYNs or handshakes dropped on a full accept queue.
    pub listen_overflows: Option<u64>,
    pub listen_drops: Option<u64>,
    /// Tcp.RetransSegs and Tcp.OutSegs: segments retransmitted and sent.
    pub retrans_segs: Option<u64>,
    pub out_segs: Option<u64>,
    /// Udp.RcvbufErrors: datagrams dropped on a full receive buffer.
    pub udp_rcvbuf_errors: Option<u64>,
}

/// TIME_WAIT toward one destination, against the ephemeral-port budget.
#[derive(Debug, Clone, Serialize)]
pub struct PortUse {
    pub destination: String,
    pub source_ip: String,
    pub time_wait: u64,
    /// time_wait ÷ the usable ephemeral ports.
    pub used_ratio: f64,
}

/// A finding's stable id: CI and fleet tooling key on these; never rename one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum FindingId {
    ListenerNoReuseaddr,
    AcceptQueueSmall,
    AcceptQueueOverflow,
    CloseWaitLeak,
    NagleSmallWrites,
    LingerZero,
    IdleNoKeepalive,
    NoUserTimeout,
    StuckSender,
    SlowReader,
    Retransmits,
    PortBudget,
    BindPinsPort,
    FdsNearLimit,
}

impl FindingId {
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// What the rule asks, as a check's title.
    pub fn title(self) -> &'static str {
        match self {
            Self::ListenerNoReuseaddr => {
                "a listener can be restarted (SO_REUSEADDR or SO_REUSEPORT)"
            }
            Self::AcceptQueueSmall => "a listener's backlog is not below net.core.somaxconn",
            Self::AcceptQueueOverflow => "accept queues are not full or overflowing",
            Self::CloseWaitLeak => "no process leaks CLOSE_WAIT sockets",
            Self::FdsNearLimit => "no process is near its open-files limit",
            Self::NagleSmallWrites => "small writes both ways are not delayed by Nagle",
            Self::LingerZero => "close() does not reset connections (SO_LINGER 0)",
            Self::IdleNoKeepalive => "idle connections probe before middleboxes forget them",
            Self::NoUserTimeout => "retransmitting connections give up in bounded time",
            Self::StuckSender => "no sender is stuck on a zero window",
            Self::SlowReader => "receive queues are being read",
            Self::Retransmits => "connections are not losing packets",
            Self::PortBudget => "TIME_WAIT leaves ephemeral ports for new connections",
            Self::BindPinsPort => "no port is pinned by a bound, unused socket",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: FindingId,
    pub severity: Level,
    pub pid: Option<u32>,
    pub process: Option<Arc<str>>,
    /// The listener or socket concerned, when one is.
    pub local: Option<String>,
    /// How many sockets the finding covers.
    pub sockets: u64,
    pub evidence: String,
    pub mechanism: String,
    pub fix: String,
    /// The sockdoc command that reproduces the mechanism on this kernel.
    pub reproduce: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotJudged {
    pub id: FindingId,
    pub pid: Option<u32>,
    pub process: Option<Arc<str>>,
    pub sockets: u64,
    pub reason: String,
}

/// The socket options `inspect` reads from a duplicate; null where unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Options {
    pub reuseaddr: Option<bool>,
    pub reuseport: Option<bool>,
    pub nodelay: Option<bool>,
    pub cork: Option<bool>,
    /// SO_LINGER: on or off, and its time (0 = close sends RST).
    pub linger_on: Option<bool>,
    pub linger_s: Option<u64>,
    pub keepalive: Option<bool>,
    pub keepalive_idle_s: Option<u64>,
    pub keepalive_interval_s: Option<u64>,
    pub keepalive_count: Option<u32>,
    /// TCP_USER_TIMEOUT; 0 = the retransmission give-up follows tcp_retries2.
    pub user_timeout_ms: Option<u64>,
    pub rcvbuf_bytes: Option<u64>,
    pub sndbuf_bytes: Option<u64>,
    /// O_NONBLOCK of the open file (shared by every descriptor of it).
    pub nonblocking: Option<bool>,
    /// IP_BIND_ADDRESS_NO_PORT, from sock_diag (INET_DIAG_SOCKOPT, 5.10+): no privilege needed.
    pub bind_address_no_port: Option<bool>,
}

pub fn run(args: &InspectArgs, ctx: &Context) -> anyhow::Result<(InspectReport, Exit)> {
    let started = Instant::now();
    let mut notes = Vec::new();
    let pids = target_pids(args, ctx)?;
    let target = target_of(args, &pids);
    let netns_entered = if ctx.netns.is_some() {
        None
    } else {
        enter_target_netns(&pids, &mut notes)?
    };
    let here = netns::current().ok();

    let knobs = gather::knobs(&ctx.root);
    let (before, first) = first_sample(args, ctx)?;
    // Who holds what, then the last sample streamed through the examination: one socket at
    // a time, however many there are.
    let walked = walk(ctx, &pids)?;
    let mut examiner = Examiner::new(args, ctx, &walked, &knobs, &before);
    let port = args.targets.port;
    let last = gather::snapshot(&ctx.root, port, |record| examiner.visit(&record))
        .context("reading the sockets")?;
    let window = first.as_ref().map(|first| gather::window(first, &last));
    let Examiner {
        sockets,
        examined,
        per_process,
        not_judged,
        time_wait,
        tally,
        ..
    } = examiner;
    let not_judged = not_judged.into_entries();
    let processes = process_views(&walked, &per_process, &pids, &ctx.root);
    let listeners = listener_views(&sockets);
    let counters = match &first {
        Some(first) => counters(first, &last),
        None => Counters::default(),
    };
    if first.is_none() {
        notes.push(
            "One snapshot (--for 0): retransmission rates, accept-queue overflows and queues \
             that do not drain need two samples and were not judged."
                .to_owned(),
        );
    }
    let exam = rules::Exam {
        sockets: &sockets,
        processes: &processes,
        knobs: &knobs,
        counters: &counters,
        window,
        tally: &tally,
        host: target.kind == "host",
        not_judged: &not_judged,
    };
    let (mut findings, not_judged) = rules::judge(&exam);
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
    let summary = Summary {
        sockets: examined,
        processes: processes.len() as u64,
        time_wait,
        not_judged: not_judged.len() as u64,
        ..Summary::counted(&findings)
    };
    let exit = exit_for(&findings, args.fail_on);
    let port_budget = if target.kind == "host" {
        tally.top(10)
    } else {
        Vec::new()
    };
    let report = InspectReport {
        target,
        netns: here.map(|id| id.to_string()),
        netns_entered,
        sampled_for_ms: window.map_or(0, crate::units::millis),
        source: last.listing.source,
        fallback_reason: last.listing.fallback_reason.clone(),
        somaxconn: knobs.somaxconn,
        port_budget,
        processes,
        listeners,
        sockets,
        findings,
        not_judged,
        counters,
        summary,
        fail_on: args.fail_on.name(),
        notes,
        elapsed_us: micros(started.elapsed()),
        list_sockets: args.sockets,
    };
    Ok((report, exit))
}

/// Who holds what: only the targets' descriptors, or every process's. A target whose
/// descriptors cannot be read cannot be examined (exit 3, naming the way out).
fn walk(ctx: &Context, pids: &[u32]) -> anyhow::Result<Vec<ProcessSockets>> {
    let walked = procfs::process_sockets(&ctx.root, (!pids.is_empty()).then_some(pids));
    for pid in pids {
        match walked.iter().find(|p| p.pid == *pid) {
            None => bail!("process {pid} exited before its descriptors could be read"),
            Some(p) if p.refused => bail!(
                "the descriptors of process {pid} ({}) cannot be read: another user's \
                 /proc/{pid}/fd needs root (or both CAP_DAC_READ_SEARCH, for the directory's \
                 0500 mode, and CAP_SYS_PTRACE, for the ptrace read check on its links). \
                 Without it, `sockdoc inspect --port PORT` still judges its sockets from \
                 sock_diag, which needs no privilege.",
                p.process
            ),
            Some(_) => {}
        }
    }
    Ok(walked)
}

/// The first sample, when `--for` asks for two: only what the second is compared with, by
/// inode; then the wait.
fn first_sample(
    args: &InspectArgs,
    ctx: &Context,
) -> anyhow::Result<(HashMap<u64, gather::Before>, Option<gather::Snapshot>)> {
    let mut before = HashMap::new();
    if args.sample_for.is_zero() {
        return Ok((before, None));
    }
    let first = gather::snapshot(&ctx.root, args.targets.port, |record| {
        if record.inode != 0 {
            before.insert(record.inode, gather::Before::of(&record));
        }
    })
    .context("reading the sockets")?;
    std::thread::sleep(args.sample_for);
    Ok((before, Some(first)))
}

fn target_of(args: &InspectArgs, pids: &[u32]) -> Target {
    Target {
        kind: match (args.targets.port, pids.is_empty()) {
            (_, false) => "process",
            (Some(_), true) => "port",
            (None, true) => "host",
        },
        port: args.targets.port,
        pids: pids.to_vec(),
        process_names: args.targets.process.clone(),
    }
}

impl Summary {
    /// The findings counted by severity; the other figures left at 0.
    fn counted(findings: &[Finding]) -> Self {
        let count = |level: Level| findings.iter().filter(|f| f.severity == level).count() as u64;
        Self {
            info: count(Level::Info),
            advise: count(Level::Advise),
            warn: count(Level::Warn),
            ..Self::default()
        }
    }
}

/// The pids `--pid` and `--process` name; an error (exit 3) for one that does not exist.
fn target_pids(args: &InspectArgs, ctx: &Context) -> anyhow::Result<Vec<u32>> {
    let mut pids = Vec::new();
    for &pid in &args.targets.pid {
        if !ctx.root.join("proc").join(pid.to_string()).exists() {
            bail!("--pid {pid}: no such process (nothing at /proc/{pid})");
        }
        pids.push(pid);
    }
    for name in &args.targets.process {
        if name.is_empty() {
            return Err(UsageError("--process needs a process name".to_owned()).into());
        }
        let found = procfs::pids_named(&ctx.root, name);
        if found.is_empty() {
            bail!(
                "--process {name}: no process has that name (/proc/PID/comm or the program in \
                 /proc/PID/cmdline); `pgrep -l {name}` lists near matches"
            );
        }
        pids.extend(found);
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// Enters the targets' network namespace when it is not sockdoc's: a container's process
/// seen from the host. Targets in two different namespaces cannot be examined in one run.
fn enter_target_netns(pids: &[u32], notes: &mut Vec<String>) -> anyhow::Result<Option<String>> {
    let Ok(here) = netns::current() else {
        return Ok(None);
    };
    let mut theirs: BTreeMap<u32, NetnsId> = BTreeMap::new();
    for &pid in pids {
        match netns::of_process(pid) {
            Ok(id) => {
                theirs.insert(pid, id);
            }
            Err(error) => notes.push(format!(
                "The network namespace of process {pid} could not be read (/proc/{pid}/ns/net: \
                 {error}); it is assumed to be sockdoc's own. If its sockets are missing, run \
                 as root or pass --netns /proc/{pid}/ns/net."
            )),
        }
    }
    let others: HashMap<NetnsId, u32> = theirs
        .iter()
        .filter(|(_, id)| **id != here)
        .map(|(pid, id)| (*id, *pid))
        .collect();
    match others.len() {
        0 => Ok(None),
        1 if others.len() == theirs.len() => {
            let (id, pid) = others.into_iter().next().expect("one namespace");
            let path = format!("/proc/{pid}/ns/net");
            netns::enter(&path)?;
            Ok(Some(format!("{path} ({id})")))
        }
        _ => {
            let spread: Vec<String> = theirs
                .iter()
                .map(|(pid, id)| format!("pid {pid} in {id}"))
                .collect();
            bail!(
                "the processes live in different network namespaces ({}; sockdoc is in \
                 {here}): inspect them one at a time",
                spread.join(", ")
            )
        }
    }
}

fn counters(first: &gather::Snapshot, second: &gather::Snapshot) -> Counters {
    let delta = |key| gather::counter_delta(first, second, key);
    Counters {
        listen_overflows: delta("TcpExt.ListenOverflows"),
        listen_drops: delta("TcpExt.ListenDrops"),
        retrans_segs: delta("Tcp.RetransSegs"),
        out_segs: delta("Tcp.OutSegs"),
        udp_rcvbuf_errors: delta("Udp.RcvbufErrors"),
    }
}

fn exit_for(findings: &[Finding], fail_on: FailOn) -> Exit {
    let failing = fail_on
        .threshold()
        .is_some_and(|threshold| findings.iter().any(|f| f.severity >= threshold));
    if failing { Exit::Finding } else { Exit::Clean }
}
