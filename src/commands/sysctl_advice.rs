//! `sockdoc sysctl-advice`: the TIME_WAIT, port, backlog and Nagle sysctls judged against
//! the running kernel (features detected by the presence of their files, never by version)
//! and its live counters, the folklore called out, and a lint of the files
//! `sysctl --system` reads. Read-only: nothing here writes under /proc/sys.
//!
//! Every judgement cites Documentation/networking/ip-sysctl.rst
//! (<https://docs.kernel.org/networking/ip-sysctl.html>) or the kernel source it rests on.

pub mod era;
mod values;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;

use self::era::{Era, Has, KernelEra, SOMAXCONN_4096, TW_REUSE_LOOPBACK};
use super::{Context, VERSION};
use crate::cli::{AdviceFormat, Role, SysctlAdviceArgs};
use crate::exit::{Exit, UsageError};
use crate::ports::{
    self, ADVISE_PERCENT, Destination, PortPressure, PortRange, PortSettings, ReservedPorts,
    TimeWaitTally,
};
use crate::sys::TCP_TIMEWAIT_LEN;
use crate::sys::diag::{self, Query, Source};
use crate::sys::error::os_text;
use crate::sys::fs::{self, Root};
use crate::sys::procfs;
use crate::sys::record::TcpState;
use crate::sys::sysctl::{self, ConfigFile, FileStatus, Knob, Line, Netns, Sockstat};
use crate::units::count;

/// The kernel's default ephemeral range: ip-sysctl.rst, ip_local_port_range.
pub const PORT_RANGE_DEFAULT: (u16, u16) = (32768, 60999);

/// The range suggested to outbound-heavy hosts: wide, starting above the well-known and
/// most registered service ports, with different parity (start even, end odd).
pub const CLIENT_PORT_RANGE: (u16, u16) = (10240, 65535);

/// `tcp_tw_reuse_delay` default in ms (ip-sysctl.rst); kernels without the knob compare
/// whole seconds instead (`tcp_twsk_unique()`, net/ipv4/tcp_ipv4.c: up to 1 s, or 1 to 2 s
/// in 4.18 and before; `reuse_after_text` says which).
pub const TW_REUSE_DELAY_DEFAULT_MS: u64 = 1000;

/// `tcp_fin_timeout` default in seconds (`TCP_FIN_TIMEOUT`, include/net/tcp.h; ip-sysctl.rst).
pub const FIN_TIMEOUT_DEFAULT_S: i64 = 60;

/// Linux's TCP timestamp clock ticks every millisecond (`TCP_TS_HZ`, include/net/tcp.h).
const LINUX_TS_TICK_MS: u64 = 1;

/// The counters of /proc/net/netstat the advice cites, in the order they are shown.
const COUNTERS: &[&str] = &[
    "TcpExt.ListenOverflows",
    "TcpExt.ListenDrops",
    "TcpExt.TCPReqQFullDrop",
    "TcpExt.TCPReqQFullDoCookies",
    "TcpExt.SyncookiesSent",
    "TcpExt.SyncookiesFailed",
    "TcpExt.EmbryonicRsts",
    "TcpExt.TCPTimeWaitOverflow",
    "TcpExt.TWRecycled",
    "TcpExt.PAWSPassive",
    "TcpExt.TCPAutoCorking",
];

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct SysctlReport {
    pub command: &'static str,
    pub sockdoc_version: &'static str,
    /// `server`, `client` or `both`: the advice differs.
    pub role: &'static str,
    /// Where every file was read from: "/" or the `--root` directory.
    pub root: String,
    /// The network namespace the values belong to, e.g. `net:[4026531833]`, or `unknown`.
    pub netns: String,
    /// Whether that is the initial namespace; null when it cannot be told.
    pub netns_initial: Option<bool>,
    pub netns_basis: String,
    /// Which side of each changed default this kernel is on, told from the knobs present.
    pub kernel: KernelEra,
    pub findings: Vec<Finding>,
    pub evidence: Evidence,
    /// Every config file `sysctl --system` would consider, in the order it applies them.
    pub config_files: Vec<ConfigFileEntry>,
    /// Problems found in those files, each with file:line.
    pub config: Vec<ConfigProblem>,
    pub summary: Summary,
    /// How `--format conf` says to apply its snippet, and what the tools do with the
    /// snippet's '-'-prefixed lines.
    pub conf: ConfAdvice,
    /// Whether `--check` was given (it changes the exit code, not the advice).
    pub check: bool,
    pub notes: Vec<String>,
    pub elapsed_us: u64,
    /// `--format`: how the non-JSON renderer prints this report.
    #[serde(skip)]
    pub format: AdviceFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A sound value; nothing to do.
    Ok,
    /// Worth knowing; no change needed for this role.
    Info,
    /// A change is suggested.
    Advise,
    /// Harmful or broken: act on it.
    Warn,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Info => "info",
            Self::Advise => "advise",
            Self::Warn => "warn",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub key: &'static str,
    /// The kernel's text with whitespace folded (`32768 60999`); null when the knob does
    /// not exist here (or could not be read; the reason says which).
    pub current: Option<String>,
    /// The value to set; null when nothing should be set (see `remove_override`).
    pub suggested: Option<String>,
    /// The fix is to delete the override (the config line, or whatever sets the value) so
    /// the kernel's own default applies: sysctl.d has no way to unset a key.
    pub remove_override: bool,
    /// The kernel's default for this knob on this kernel, where sockdoc can tell it (some
    /// defaults changed between releases, some depend on the hash table size); null
    /// otherwise.
    pub kernel_default: Option<String>,
    pub level: Level,
    /// The reason in a few words, for the table.
    pub why: String,
    pub reason: String,
    /// Live numbers backing the finding (counters, socket counts, the port budget).
    pub evidence: Option<String>,
    /// The folklore about this knob, and why it is wrong.
    pub myth: Option<&'static str>,
    /// The kernel document section (or source) the advice rests on.
    pub source: &'static str,
    /// The config line that sets this key last, in `sysctl --system` order; null when no
    /// file sets it.
    pub configured: Option<ConfigRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigRef {
    pub file: String,
    pub line: usize,
    /// The value, capped like every value sockdoc echoes (see [`echo`]).
    pub value: String,
    /// The whole value's length in bytes: more than `value` shows when it was capped.
    pub value_bytes: usize,
    /// Whether the kernel shows this value now (as the kernel reads it: `1024 65535 1` is
    /// applied when the kernel shows `1024 65535`).
    pub applied: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    /// TIME_WAIT sockets now, in total (/proc/net/sockstat `tw`): all directions and
    /// families, so it includes connections this host accepted and closed first, which hold
    /// no ephemeral port. Never used to judge port pressure.
    pub time_wait: Option<u64>,
    /// TIME_WAIT sockets holding ephemeral ports, per destination, from the live socket
    /// table: the figure the port budget is spent on. Null under a fixture `--root` (no live
    /// sockets) or when the table cannot be read; a note says which.
    pub outgoing_time_wait: Option<OutgoingTimeWait>,
    /// Orphaned sockets now (/proc/net/sockstat `orphan`).
    pub orphans: Option<u64>,
    pub port_budget: Option<PortBudget>,
    /// The port-budget verdict, the same object as `sockets --summary`'s
    /// `summary.port_pressure`; null when `outgoing_time_wait` is.
    pub port_pressure: Option<PortPressure>,
    /// `net.ipv4.tcp_ehash_entries`, whose half is the default `tcp_max_tw_buckets`.
    pub tcp_ehash_entries: Option<i64>,
    /// The cited counters of /proc/net/netstat, cumulative since boot (or since the
    /// network namespace was created).
    pub counters: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PortBudget {
    pub low: u16,
    pub high: u16,
    pub ports: u32,
    /// Ports of `ip_local_reserved_ports` inside the range.
    pub reserved_in_range: u32,
    pub usable: u32,
    /// usable ÷ 60 s: new connections per second to one destination (source IP,
    /// destination IP, destination port) when this host closes first and no reuse applies,
    /// to two decimals (rounded down: a rate that can be sustained).
    pub new_connections_per_s: f64,
    /// The same per minute: usable × 60 s ÷ 60 s TIME_WAIT, exact.
    pub new_connections_per_min: u32,
    /// `tcp_tw_reuse_delay` while `tcp_tw_reuse` is on; null where the knob is absent (those
    /// kernels count whole seconds instead, see `ports::reuse_after_text`).
    pub tw_reuse_delay_ms: Option<u64>,
}

/// TIME_WAIT sockets whose local port lies in `ip_local_port_range`: connections this host
/// opened and closed first, each still holding its ephemeral port, tallied per destination
/// (source IP, destination IP, destination port) by [`TimeWaitTally`], which says why.
#[derive(Debug, Clone, Serialize)]
pub struct OutgoingTimeWait {
    /// All of them, whatever the destination.
    pub in_range: u64,
    /// The destination holding the most.
    pub busiest: Option<Destination>,
    /// The busiest destination with neither end on loopback: the one `tcp_tw_reuse = 2`
    /// (loopback only, the default) does not help.
    pub busiest_non_loopback: Option<Destination>,
    /// Where the sockets were listed from: `sock-diag` or `proc-net`.
    pub source: Source,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigFileEntry {
    pub file: String,
    /// `read`, `masked` (a symlink to /dev/null), `shadowed` (a same-named file in an
    /// earlier directory wins), `same-file` (a symlink to a file read later), `needs-root`
    /// (permission denied to a user other than root; `sysctl --system` runs as root and
    /// applies it) or `unreadable`.
    pub status: &'static str,
    pub detail: Option<String>,
    /// Assignments read from it.
    pub assignments: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigProblem {
    pub file: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    /// The value, capped like every value sockdoc echoes (see [`echo`]).
    pub value: Option<String>,
    /// The whole value's length in bytes: more than `value` shows when it was capped.
    pub value_bytes: Option<usize>,
    /// The kernel's value of the key, when it has one (capped too).
    pub live: Option<String>,
    pub level: Level,
    /// What is wrong, as a stable name: `invalid-value` (the kernel refuses the write),
    /// `partly-read` (the kernel takes part of it), `not-applied`, `differs-in-netns`,
    /// `overridden`, `no-such-key`, `absent-ignored` (no such key, leading '-'),
    /// `inline-comment`, `reuse-2-meaning`, `glob`, `not-compared`, `malformed`,
    /// `needs-root` or `unreadable`.
    pub kind: &'static str,
    pub problem: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub ok: usize,
    pub info: usize,
    pub advise: usize,
    pub warn: usize,
    pub config_problems: usize,
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

pub fn run(args: &SysctlAdviceArgs, ctx: &Context) -> anyhow::Result<(SysctlReport, Exit)> {
    let started = Instant::now();
    let root = &ctx.root;
    check_root(root)?;
    let mut notes = Vec::new();

    let live = Live::read(root, &mut notes);
    let netns = sysctl::network_namespace(root);
    let budget = live.port_budget();
    // Read before judging: whether a file sets a knob changes the fix (delete the line).
    let (files, dir_notes) = sysctl::config_files(root);
    notes.extend(dir_notes);
    let judge = Judge {
        live: &live,
        role: args.role,
        budget,
        files: &files,
    };
    let mut findings = judge.findings();

    notes.extend(needs_root_note(&files));
    let reading = values::Context {
        era: &live.era,
        unprivileged_start: unprivileged_start(&live, &files),
    };
    let config = lint(root, &files, &netns, &reading);
    for f in &mut findings {
        f.configured = configured(&files, f.key, f.current.as_deref(), &reading);
    }
    let conf = ConfAdvice::new(&findings);
    // Judged on the whole text above; shown capped from here on.
    for f in &mut findings {
        f.current = f.current.as_deref().map(echo);
    }
    let config_files = files.iter().map(file_entry).collect();

    let summary = Summary::new(&findings, &config);
    let worst = findings
        .iter()
        .map(|f| f.level)
        .chain(config.iter().map(|c| c.level))
        .max()
        .unwrap_or(Level::Ok);
    let threshold = if args.check {
        Level::Advise
    } else {
        Level::Warn
    };
    let exit = if worst >= threshold {
        Exit::Finding
    } else {
        Exit::Clean
    };

    if netns.initial == Some(false) {
        notes.push(
            "These values belong to a private network namespace: most of these knobs are per \
             namespace, so the host (and other containers) may differ. Set them with the \
             container runtime (docker run --sysctl, Kubernetes securityContext.sysctls)."
                .into(),
        );
    }
    notes.push(
        "Counters are cumulative since boot (or since the network namespace was created).".into(),
    );
    notes.push(
        "Exit code: 1 when a finding or config problem is at warn; with --check, at advise \
         or warn; otherwise 0. Config problems with keys outside net.* (kernel.pid_max, \
         fs.protected_*) are listed at info and never fail --check: sockdoc judges the network \
         sysctls. Malformed lines and unreadable files keep their level."
            .into(),
    );

    let report = SysctlReport {
        command: "sysctl-advice",
        sockdoc_version: VERSION,
        role: role_name(args.role),
        root: root.display().to_string(),
        netns: netns.id.clone().unwrap_or_else(|| "unknown".into()),
        netns_initial: netns.initial,
        netns_basis: netns.basis,
        kernel: live.era.report(),
        findings,
        evidence: live.evidence(budget),
        config_files,
        config,
        summary,
        conf,
        check: args.check,
        notes,
        elapsed_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        format: args.format,
    };
    Ok((report, exit))
}

impl Summary {
    fn new(findings: &[Finding], config: &[ConfigProblem]) -> Self {
        let mut summary = Self {
            config_problems: config.len(),
            ..Self::default()
        };
        for f in findings {
            match f.level {
                Level::Ok => summary.ok += 1,
                Level::Info => summary.info += 1,
                Level::Advise => summary.advise += 1,
                Level::Warn => summary.warn += 1,
            }
        }
        summary
    }
}

/// The files a user other than root may not read: what they set is not known here.
fn needs_root_note(files: &[ConfigFile]) -> Option<String> {
    let hidden: Vec<&str> = files
        .iter()
        .filter(|f| matches!(f.status, FileStatus::NeedsRoot(_)))
        .map(|f| f.path.as_str())
        .collect();
    (!hidden.is_empty()).then(|| {
        format!(
            "Not checked without root: {}. `sysctl --system` runs as root and applies them, so \
             what they set is not known here; run sockdoc as root to check them.",
            hidden.join(", ")
        )
    })
}

/// A root that is not a directory is a usage error (exit 2); one without proc/sys/net
/// cannot be judged at all (exit 3): passing it would let a typo in CI pass.
fn check_root(root: &Root) -> anyhow::Result<()> {
    if let Some(problem) = sysctl::root_problem(root) {
        return Err(UsageError(format!(
            "--root {}: {problem}; give an existing directory that stands for / (it holds \
             proc/ and etc/)",
            root.display()
        ))
        .into());
    }
    if sysctl::proc_sys_net_present(root) {
        return Ok(());
    }
    let missing = if sysctl::proc_sys_present(root) {
        "proc/sys/net"
    } else {
        "proc/sys"
    };
    anyhow::bail!(
        "--root {}: there is no {missing} under it, so no network sysctl can be read and \
         nothing can be judged; point --root at a tree that holds proc/sys/net (a mounted \
         /proc, or a fixture) besides etc/",
        root.display()
    )
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Server => "server",
        Role::Client => "client",
        Role::Both => "both",
    }
}

// ---------------------------------------------------------------------------------------
// What the kernel shows
// ---------------------------------------------------------------------------------------

/// Every knob judged, plus `tcp_ehash_entries` (evidence for `tcp_max_tw_buckets`).
const KNOBS: &[&str] = &[
    "net.ipv4.tcp_tw_recycle",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_tw_reuse_delay",
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_max_tw_buckets",
    "net.ipv4.tcp_ehash_entries",
    "net.ipv4.tcp_rfc1337",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.ip_autobind_reuse",
    "net.ipv4.ip_unprivileged_port_start",
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_abort_on_overflow",
    "net.ipv4.tcp_autocorking",
];

/// The kernel's side, read once. `check_root` made sure `root/proc/sys/net` exists, so a
/// missing knob is missing from the kernel (or the namespace), not from the tree.
struct Live {
    knobs: HashMap<&'static str, Knob>,
    sockstat: Option<Sockstat>,
    /// The port knobs, parsed, or why they could not be.
    ports: Result<PortSettings, String>,
    /// TIME_WAIT per destination on ephemeral ports, or why it was not measured.
    outgoing: Result<OutgoingTimeWait, String>,
    /// The verdict on the busiest destination; `None` when `outgoing` is an error.
    pressure: Option<PortPressure>,
    counters: Option<BTreeMap<String, u64>>,
    /// Which side of each changed default the kernel is on (era.rs).
    era: Era,
}

impl Live {
    fn read(root: &Root, notes: &mut Vec<String>) -> Self {
        let knobs: HashMap<&'static str, Knob> = KNOBS
            .iter()
            .map(|&key| (key, sysctl::read_knob(root, key)))
            .collect();
        let sockstat = sysctl::read_sockstat(root)
            .map_err(|e| notes.push(format!("TIME_WAIT count unavailable: {e}")))
            .ok();
        let [range, reserved, reuse, timestamps] =
            ports::KNOBS.map(|key| knobs.get(key).and_then(Knob::value));
        let ports = PortSettings::from_knobs(range, reserved, reuse, timestamps);
        let tally = measure_outgoing(root, ports.as_ref());
        let pressure = match (&ports, &tally) {
            (Ok(settings), Ok((tally, _))) => Some(ports::judge(settings, tally)),
            _ => None,
        };
        let outgoing = tally.map(|(tally, source)| OutgoingTimeWait::new(&tally, source));
        if let Err(why) = &outgoing {
            notes.push(format!(
                "TIME_WAIT per destination not measured: {why}. No port-pressure advice is \
                 given without it; the TIME_WAIT count shown is the total from \
                 /proc/net/sockstat, which includes connections this host accepted (they hold \
                 no ephemeral port)."
            ));
        }
        let counters = read_counters(root)
            .map_err(|e| notes.push(format!("counters unavailable: {e}")))
            .ok();
        // Unreadable counts as present: the file is there.
        let era = Era::detect(|key| sysctl::read_knob(root, key) != Knob::Absent);
        Self {
            knobs,
            sockstat,
            ports,
            outgoing,
            pressure,
            counters,
            era,
        }
    }

    fn knob(&self, key: &str) -> &Knob {
        self.knobs.get(key).unwrap_or(&Knob::Absent)
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.knob(key).value()
    }

    fn number(&self, key: &str) -> Option<i64> {
        self.value(key)?.parse().ok()
    }

    /// What `tcp_tw_reuse` covers on this kernel, for a sentence: " (loopback only)" for 2
    /// where the kernel is known to read it so (4.18+), a hedge where its knobs do not tell,
    /// nothing for global reuse.
    fn reuse_scope_text(&self) -> &'static str {
        match (
            self.value("net.ipv4.tcp_tw_reuse"),
            self.era.has(&TW_REUSE_LOOPBACK),
        ) {
            (Some("2"), Has::Yes(_)) => " (loopback only)",
            (Some("2"), Has::Unknown) => {
                " (2: loopback only since Linux 4.18, every destination before; this kernel's \
                 knobs do not tell which)"
            }
            _ => "",
        }
    }

    /// Whether `tcp_tw_reuse` is on for some traffic.
    fn reuse_on(&self) -> bool {
        matches!(self.value("net.ipv4.tcp_tw_reuse"), Some("1" | "2"))
    }

    /// When TIME_WAIT lets a port go to a new outgoing connection, on this kernel.
    fn reuse_after_text(&self) -> String {
        let delay = self
            .number(ports::REUSE_DELAY_KNOB)
            .and_then(|d| u64::try_from(d).ok());
        let proven_old = matches!(self.era.has(&TW_REUSE_LOOPBACK), Has::No(_));
        ports::reuse_after_text(delay, proven_old)
    }

    fn counter(&self, name: &str) -> Option<u64> {
        self.counters.as_ref()?.get(name).copied()
    }

    fn time_wait(&self) -> Option<u64> {
        self.sockstat.map(|s| s.time_wait)
    }

    /// The ephemeral-port budget, when the range and the reserved list parse.
    fn port_budget(&self) -> Option<PortBudget> {
        let ports::Budget {
            low,
            high,
            ports,
            reserved_in_range,
            usable,
        } = self.ports.as_ref().ok()?.budget();
        // The knob's value, never a default: kernels without it have no such delay.
        let delay = self
            .number(ports::REUSE_DELAY_KNOB)
            .and_then(|d| u64::try_from(d).ok())
            .filter(|_| self.reuse_on());
        Some(PortBudget {
            low,
            high,
            ports,
            reserved_in_range,
            usable,
            new_connections_per_s: (f64::from(usable) * 100.0 / TIMEWAIT_S).floor() / 100.0,
            new_connections_per_min: (u64::from(usable) * 60 / TCP_TIMEWAIT_LEN.as_secs()) as u32,
            tw_reuse_delay_ms: delay,
        })
    }

    fn evidence(&self, budget: Option<PortBudget>) -> Evidence {
        let counters = COUNTERS
            .iter()
            .filter_map(|&name| self.counter(name).map(|v| (name.to_string(), v)))
            .collect();
        Evidence {
            time_wait: self.time_wait(),
            outgoing_time_wait: self.outgoing.as_ref().ok().cloned(),
            orphans: self.sockstat.map(|s| s.orphan),
            port_budget: budget,
            port_pressure: self.pressure.clone(),
            tcp_ehash_entries: self.number("net.ipv4.tcp_ehash_entries"),
            counters,
        }
    }
}

/// The sustainable rate of new connections to one destination, readable at any size:
/// "470 new connections/s", "1.5 new connections/s", "10 new connections/min" (a rate
/// below one a second reads per minute rather than as 0).
fn rate_text(b: &PortBudget, what: &str) -> String {
    let per_s = b.new_connections_per_s;
    if per_s >= 10.0 {
        format!("{}{what}/s", per_s.floor())
    } else if per_s >= 1.0 {
        format!("{:.1}{what}/s", (per_s * 10.0).floor() / 10.0)
    } else {
        format!("{}{what}/min", b.new_connections_per_min)
    }
}

/// TIME_WAIT's length in seconds, as a float for rates.
const TIMEWAIT_S: f64 = TCP_TIMEWAIT_LEN.as_secs() as f64;

/// The counters, from /proc/net/netstat and /proc/net/snmp when both are regular files: a
/// FIFO there (in a fixture tree) would block the reader.
fn read_counters(root: &Root) -> Result<BTreeMap<String, u64>, String> {
    for name in ["netstat", "snmp"] {
        let path = root.join("proc/net").join(name);
        fs::regular_or_absent(&path)
            .map_err(|error| format!("reading {}: {}", path.display(), os_text(&error)))?;
    }
    procfs::read_netstat(root).map_err(|error| error.to_string())
}

/// Lists the live TIME_WAIT sockets and tallies those holding an ephemeral port, per
/// destination. Only the live system has sockets: under any other `--root` the tally is
/// not made, and the advice that needs it is not given.
fn measure_outgoing(
    root: &Root,
    settings: Result<&PortSettings, &String>,
) -> Result<(TimeWaitTally, Source), String> {
    if !root.is_live() {
        return Err(format!(
            "--root {} is not the live system, so there are no sockets to list",
            root.display()
        ));
    }
    let settings = settings.map_err(Clone::clone)?;
    let query = Query {
        states: TcpState::TimeWait.mask(),
        ..Query::tcp()
    };
    let mut tally = TimeWaitTally::new(settings.range);
    let listing = diag::for_each(&query, |r| {
        tally.add(r.local, r.remote);
    })
    .map_err(|error| format!("the TIME_WAIT sockets could not be listed: {error}"))?;
    Ok((tally, listing.source))
}

impl OutgoingTimeWait {
    fn new(tally: &TimeWaitTally, source: Source) -> Self {
        Self {
            in_range: tally.in_range(),
            busiest: tally.busiest(|_| true),
            // tcp_tw_reuse = 2 counts a connection as loopback when either end is
            // (tcp_twsk_unique(), net/ipv4/tcp_ipv4.c).
            busiest_non_loopback: tally.busiest(|d| !d.is_loopback()),
            source,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The judgements
// ---------------------------------------------------------------------------------------

const MYTH_TW_RECYCLE: &str = "\"Set tcp_tw_recycle = 1 to get rid of TIME_WAIT\": it was removed in Linux 4.12 \
     because it silently dropped connections from clients behind NAT; on current kernels a \
     config line that sets it only makes `sysctl -p` fail.";
const MYTH_TW_REUSE_INBOUND: &str = "\"tcp_tw_reuse fixes TIME_WAIT on my server\": it only lets an outgoing connect() \
     take a port held by TIME_WAIT; accepted connections and bind() are untouched. A server \
     that cannot rebind after a restart needs SO_REUSEADDR (see `sockdoc reuse-test`).";
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
const MYTH_STICKY: &str = "\"Merged messages (sticky packets) mean Nagle\": TCP is a byte stream; autocorking \
     (even with TCP_NODELAY) and a receiver that reads late merge writes too. Frame your \
     messages, e.g. with a length prefix (see `sockdoc nagle`).";

struct Judge<'a> {
    live: &'a Live,
    role: Role,
    budget: Option<PortBudget>,
    /// The config files, in the order `sysctl --system` applies them.
    files: &'a [ConfigFile],
}

/// The start of a finding: the key, its current value and its source. The judgement
/// fills in the rest.
fn finding(key: &'static str, current: Option<&str>, source: &'static str) -> Finding {
    Finding {
        key,
        current: current.map(str::to_string),
        suggested: None,
        remove_override: false,
        kernel_default: None,
        level: Level::Ok,
        why: String::new(),
        reason: String::new(),
        evidence: None,
        myth: None,
        source,
        configured: None,
    }
}

impl Finding {
    fn set(mut self, level: Level, why: impl Into<String>, reason: impl Into<String>) -> Self {
        self.level = level;
        self.why = why.into();
        self.reason = reason.into();
        self
    }

    fn remove_override(mut self) -> Self {
        self.remove_override = true;
        self
    }

    fn suggest(mut self, value: impl Into<String>) -> Self {
        self.suggested = Some(value.into());
        self
    }

    fn kernel_default(mut self, value: Option<i64>) -> Self {
        self.kernel_default = value.map(|v| v.to_string());
        self
    }

    fn evidence(mut self, evidence: Option<String>) -> Self {
        self.evidence = evidence.filter(|e| !e.is_empty());
        self
    }

    fn myth(mut self, myth: &'static str) -> Self {
        self.myth = Some(myth);
        self
    }
}

// Every judgement has the signature of the table in `findings`; only the ones for newer
// knobs (tcp_tw_reuse_delay, ip_autobind_reuse) return None, where the kernel lacks them.
#[allow(clippy::unnecessary_wraps)]
impl Judge<'_> {
    fn findings(&self) -> Vec<Finding> {
        let judgements: [fn(&Self) -> Option<Finding>; 16] = [
            Self::tw_recycle,
            Self::tw_reuse,
            Self::tw_reuse_delay,
            Self::timestamps,
            Self::fin_timeout,
            Self::max_tw_buckets,
            Self::rfc1337,
            Self::port_range,
            Self::reserved_ports,
            Self::autobind_reuse,
            Self::unprivileged_port_start,
            Self::somaxconn,
            Self::max_syn_backlog,
            Self::syncookies,
            Self::abort_on_overflow,
            Self::autocorking,
        ];
        judgements.iter().filter_map(|judge| judge(self)).collect()
    }

    fn serves(&self) -> bool {
        matches!(self.role, Role::Server | Role::Both)
    }

    fn connects(&self) -> bool {
        matches!(self.role, Role::Client | Role::Both)
    }

    /// The value of `key` when it reads as one of the integers the judgement expects,
    /// or the finding that says why it cannot be judged.
    fn read(&self, key: &'static str, source: &'static str) -> Result<(i64, String), Box<Finding>> {
        let text = self.present(key, source)?;
        match text.parse::<i64>() {
            Ok(value) => Ok((value, text)),
            Err(_) => Err(Box::new(unexpected(key, &text, "an integer", source))),
        }
    }

    /// The text of `key`, or the finding for a knob that is absent or unreadable.
    fn present(&self, key: &'static str, source: &'static str) -> Result<String, Box<Finding>> {
        match self.live.knob(key) {
            Knob::Value(text) => Ok(text.clone()),
            knob => Err(Box::new(unavailable(key, knob, source))),
        }
    }

    fn counters(&self, names: &[&str]) -> Option<String> {
        let parts: Vec<String> = names
            .iter()
            .filter_map(|&name| {
                let short = name.rsplit('.').next().unwrap_or(name);
                self.live.counter(name).map(|v| format!("{short} = {v}"))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// The total, labelled as such: it is not the figure ports run out on.
    fn time_wait_text(&self) -> Option<String> {
        self.live
            .time_wait()
            .map(|tw| format!("TIME_WAIT sockets now, in total (all directions): {tw}"))
    }

    /// The TIME_WAIT sockets holding ephemeral ports, per destination, or that they were
    /// not measured.
    fn outgoing_text(&self) -> String {
        let Ok(o) = &self.live.outgoing else {
            return "TIME_WAIT per destination: not measured (see the notes)".into();
        };
        let mut text = format!(
            "TIME_WAIT with a local port in the ephemeral range: {}",
            o.in_range
        );
        if let Some(d) = &o.busiest {
            let _ = write!(
                text,
                ", at most {} to one destination ({} → {})",
                d.time_wait, d.source_ip, d.destination
            );
            let same =
                |n: &Destination| (n.source_ip, n.destination) == (d.source_ip, d.destination);
            match &o.busiest_non_loopback {
                Some(n) if !same(n) => {
                    let _ = write!(
                        text,
                        ", off loopback at most {} ({} → {})",
                        n.time_wait, n.source_ip, n.destination
                    );
                }
                Some(_) => {}
                None => text.push_str(", none off loopback"),
            }
        }
        text
    }

    /// The shared verdict ([`ports::judge`]) when it advises on a destination: its TIME_WAIT
    /// sockets hold [`ports::ADVISE_PERCENT`] of the usable ports or more, among the
    /// destinations `tcp_tw_reuse` does not already cover. Only a measured per-destination
    /// count counts: the sockstat total includes inbound connections, which hold no port.
    fn pressure(&self) -> Option<&PortPressure> {
        self.live
            .pressure
            .as_ref()
            .filter(|p| p.level == ports::Level::Advise && p.busiest.is_some())
    }

    fn budget_text(&self) -> Option<String> {
        let b = self.budget?;
        let mut text = format!(
            "port budget: {} ports ({}–{}) − {} reserved = {} usable ÷ {} s TIME_WAIT ≈ {} \
             to one destination (source IP, destination IP, port) when this host closes first",
            b.ports,
            b.low,
            b.high,
            b.reserved_in_range,
            b.usable,
            TCP_TIMEWAIT_LEN.as_secs(),
            rate_text(&b, " new connections")
        );
        if self.live.reuse_on() {
            let _ = write!(
                text,
                "; with tcp_tw_reuse{} a port is reusable {}",
                self.live.reuse_scope_text(),
                self.live.reuse_after_text()
            );
        }
        Some(text)
    }

    /// "28232 ports, ≈470/s per dest" (or "10 ports, ≈10/min per dest") for the table.
    fn budget_summary(&self, size: u32) -> String {
        match self.budget {
            Some(b) => format!("{}, ≈{} per dest", count(size, "port"), rate_text(&b, "")),
            None => count(size, "port"),
        }
    }

    fn join(parts: &[Option<String>]) -> Option<String> {
        let parts: Vec<&str> = parts.iter().flatten().map(String::as_str).collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    // -- TIME_WAIT ---------------------------------------------------------------------

    fn tw_recycle(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.tcp_tw_recycle";
        const SOURCE: &str = "commit 4396e46187ca (removed in Linux 4.12); tcp(7)";
        let knob = self.live.knob(KEY);
        let f = match knob {
            // Absent among its siblings (tcp_timestamps has been there since 2.2): removed.
            Knob::Absent if self.live.knob("net.ipv4.tcp_timestamps") != &Knob::Absent => {
                finding(KEY, None, SOURCE).set(
                    Level::Ok,
                    "removed in 4.12",
                    "Removed from this kernel (Linux 4.12): nothing to set. Delete it from sysctl \
                 files; a leftover line makes `sysctl -p` fail.",
                )
            }
            Knob::Value(v) if v == "0" => finding(KEY, Some(v), SOURCE).set(
                Level::Ok,
                "off; keep it off",
                "Off on this pre-4.12 kernel; keep it off.",
            ),
            Knob::Value(v) if v == "1" => finding(KEY, Some(v), SOURCE)
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
                .evidence(self.counters(&["TcpExt.PAWSPassive"])),
            Knob::Value(v) => unexpected(KEY, v, "0 or 1", SOURCE),
            other => unavailable(KEY, other, SOURCE),
        };
        Some(f.myth(MYTH_TW_RECYCLE))
    }

    fn reuse_after_text(&self) -> String {
        self.live.reuse_after_text()
    }

    /// Why 2 is not offered here: the kernel predates loopback-only reuse, or its knobs do
    /// not tell.
    fn reuse_era_text(has: Has) -> String {
        let side = match has {
            Has::No(_) => format!("this kernel predates it ({})", has.evidence()),
            Has::Yes(_) | Has::Unknown => {
                "this kernel's knobs do not tell whether it has it".to_string()
            }
        };
        format!(
            "2 (loopback only) arrived in Linux 4.18 with commit 79e9fed46038, and {side}; \
             before it the knob is a switch: any non-zero value reuses ports for every \
             destination, and the default is 0"
        )
    }

    fn tw_reuse(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.tcp_tw_reuse";
        const SOURCE: &str = "ip-sysctl.rst: tcp_tw_reuse; tcp_twsk_unique() in \
                              net/ipv4/tcp_ipv4.c; commit 79e9fed46038 (value 2, Linux 4.18)";
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(f.myth(MYTH_TW_REUSE_INBOUND)),
        };
        let era = self.live.era.has(&TW_REUSE_LOOPBACK);
        let f = finding(KEY, Some(&text), SOURCE)
            .kernel_default(self.live.era.default_of(&TW_REUSE_LOOPBACK));
        let judged = match era {
            Has::Yes(_) => self.tw_reuse_with_loopback(value, f),
            Has::No(_) | Has::Unknown => self.tw_reuse_before_loopback(value, f, era),
        };
        let Some(mut f) = judged else {
            return Some(unexpected(KEY, &text, "0, 1 or 2", SOURCE).myth(MYTH_TW_REUSE_INBOUND));
        };
        if value != 0 && self.live.value("net.ipv4.tcp_timestamps") == Some("0") {
            f.reason
                .push_str(" It has no effect while net.ipv4.tcp_timestamps = 0.");
            f.level = f.level.max(Level::Info);
        }
        let evidence = Self::join(&[
            self.counters(&["TcpExt.TWRecycled"]),
            self.time_wait_text(),
            self.connects().then(|| self.outgoing_text()),
            self.connects().then(|| self.budget_text()).flatten(),
        ]);
        Some(f.evidence(evidence).myth(MYTH_TW_REUSE_INBOUND))
    }

    /// Linux 4.18 and later: 0 off, 1 global, 2 loopback only (the default).
    fn tw_reuse_with_loopback(&self, value: i64, f: Finding) -> Option<Finding> {
        let after = self.reuse_after_text();
        let global = format!(
            "1 lets every outgoing connect() take a port held by TIME_WAIT {after}, guarded by \
             TCP timestamps (PAWS)"
        );
        let pressure = self.pressure().map(|p| {
            format!(
                "Loopback only (the default). {} Setting {global}.",
                p.reason
            )
        });
        Some(match (value, self.role) {
            (1 | 2, Role::Server) => f.set(
                Level::Ok,
                "no effect on accepted conns",
                "Affects only outgoing connect(), not the connections a server accepts.",
            ),
            (0, Role::Server) => f
                .set(
                    Level::Info,
                    "off; no effect on accepted conns",
                    "Off. It affects only outgoing connect(), not the connections a server \
                     accepts; 2 (the default) helps loopback clients such as health checks.",
                )
                .suggest("2"),
            (1, _) => f.set(
                Level::Ok,
                "global reuse for connect()",
                format!(
                    "Global reuse: an outgoing connect() may take a port held by TIME_WAIT \
                     {after}, guarded by TCP timestamps (PAWS)."
                ),
            ),
            (0 | 2, Role::Client) => f
                .set(
                    Level::Advise,
                    "clients need global reuse",
                    format!(
                        "{}. An outbound-heavy host runs out of ports to one destination while \
                         they sit in TIME_WAIT; {global}.",
                        if value == 0 {
                            "Off"
                        } else {
                            "Loopback only (the default)"
                        }
                    ),
                )
                .suggest("1"),
            (0, _) => f
                .set(
                    Level::Advise,
                    "off: loopback waits out TIME_WAIT",
                    "Off: even loopback connections wait out TIME_WAIT for a port. 2 (the \
                     kernel default) reuses TIME_WAIT ports for loopback connections only; 1 \
                     for all outgoing connections.",
                )
                .suggest("2"),
            (2, _) if pressure.is_some() => f
                .set(
                    Level::Advise,
                    "ports fill up with TIME_WAIT",
                    pressure.unwrap_or_default(),
                )
                .suggest("1"),
            (2, _) => f.set(
                Level::Ok,
                "loopback-only reuse (default)",
                "Loopback only (the default). Set 1 if outgoing connect() fails with \
                 EADDRNOTAVAIL (ports exhausted).",
            ),
            _ => return None,
        })
    }

    /// Before Linux 4.18, or a kernel whose knobs do not tell: 2 is never suggested, since
    /// such a kernel may read it as global reuse. 1 means global reuse on every kernel.
    fn tw_reuse_before_loopback(&self, value: i64, f: Finding, era: Has) -> Option<Finding> {
        let predates = matches!(era, Has::No(_));
        let after = self.reuse_after_text();
        let era_text = Self::reuse_era_text(era);
        let global = format!(
            "1 lets every outgoing connect() take a port held by TIME_WAIT {after}, guarded by \
             TCP timestamps (PAWS)"
        );
        Some(match (value, self.role) {
            (0, Role::Server) => f.set(
                Level::Ok,
                "off; no effect on accepted conns",
                format!(
                    "Off. It affects only outgoing connect(), not the connections a server \
                     accepts. Not 2: {era_text}."
                ),
            ),
            (0, Role::Client) => f
                .set(
                    Level::Advise,
                    "clients need global reuse",
                    format!(
                        "Off. An outbound-heavy host runs out of ports to one destination \
                         while they sit in TIME_WAIT; {global}. (Not 2: {era_text}.)"
                    ),
                )
                .suggest("1"),
            (0, _) => f.set(
                Level::Info,
                if predates {
                    "off (this kernel's default)"
                } else {
                    "off; 2 not offered here"
                },
                format!(
                    "Off{}. Set 1 if outgoing connect() fails with EADDRNOTAVAIL (ports \
                     exhausted): {global}. Not 2: {era_text}.",
                    if predates {
                        ", this kernel's default"
                    } else {
                        ""
                    }
                ),
            ),
            (1, Role::Server) => f.set(
                Level::Ok,
                "no effect on accepted conns",
                "Affects only outgoing connect(), not the connections a server accepts.",
            ),
            (1, _) => f.set(
                Level::Ok,
                "global reuse for connect()",
                format!(
                    "Global reuse: an outgoing connect() may take a port held by TIME_WAIT \
                     {after}, guarded by TCP timestamps (PAWS)."
                ),
            ),
            // A kernel before 4.18 reads every non-zero value as global reuse.
            (_, Role::Server) if predates => f.set(
                Level::Ok,
                "no effect on accepted conns",
                format!(
                    "Affects only outgoing connect(), not the connections a server accepts. \
                     On this kernel {value} means global reuse, as 1 does: {era_text}."
                ),
            ),
            (_, _) if predates => f
                .set(
                    Level::Info,
                    format!("{value} means global reuse here"),
                    format!(
                        "Not loopback only: {era_text}. So every outgoing connect() may take \
                         a port held by TIME_WAIT {after}. Write 1, which says so on every \
                         kernel, or 0 if global reuse is not wanted."
                    ),
                )
                .suggest("1"),
            (2, _) => self.tw_reuse_two_undated(f, &era_text),
            _ => return None,
        })
    }

    /// `tcp_tw_reuse = 2` on a kernel whose knobs do not date it against 4.18: loopback only
    /// or global reuse. 1 is suggested where reuse is wanted: every kernel reads it alike.
    fn tw_reuse_two_undated(&self, f: Finding, era_text: &str) -> Finding {
        let after = self.reuse_after_text();
        let global = format!(
            "1 lets every outgoing connect() take a port held by TIME_WAIT {after}, guarded by \
             TCP timestamps (PAWS)"
        );
        match self.role {
            Role::Server => f.set(
                Level::Ok,
                "no effect on accepted conns",
                format!(
                    "Affects only outgoing connect(), not the connections a server accepts. \
                     Whether 2 means loopback only or global reuse here is unknown: {era_text}."
                ),
            ),
            Role::Client => f
                .set(
                    Level::Advise,
                    "clients need global reuse",
                    format!(
                        "2 is loopback only on Linux 4.18 and later, global reuse before: \
                         {era_text}. An outbound-heavy host runs out of ports to one \
                         destination while they sit in TIME_WAIT; {global}, on every kernel."
                    ),
                )
                .suggest("1"),
            Role::Both if self.pressure().is_some() => f
                .set(
                    Level::Advise,
                    "ports fill up with TIME_WAIT",
                    format!(
                        "TIME_WAIT sockets of connections to one destination hold half the \
                         usable ports or more, and 2 may be loopback only ({era_text}); {global}."
                    ),
                )
                .suggest("1"),
            Role::Both => f.set(
                Level::Info,
                "2: loopback only if 4.18+",
                format!(
                    "Loopback only if this kernel is Linux 4.18 or later, global reuse (as 1) \
                     before: {era_text}. Set 1 if outgoing connect() fails with EADDRNOTAVAIL \
                     (ports exhausted)."
                ),
            ),
        }
    }

    fn tw_reuse_delay(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.tcp_tw_reuse_delay";
        const SOURCE: &str = "ip-sysctl.rst: tcp_tw_reuse_delay";
        // New in 6.14: judged only where the kernel has it.
        if self.live.knob(KEY) == &Knob::Absent {
            return None;
        }
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(*f),
        };
        let f = finding(KEY, Some(&text), SOURCE);
        let reuse_off = self.live.value("net.ipv4.tcp_tw_reuse") == Some("0");
        let mut f = match value.cmp(&(TW_REUSE_DELAY_DEFAULT_MS as i64)) {
            std::cmp::Ordering::Equal => f.set(
                Level::Ok,
                "default 1000 ms",
                "The default: a TIME_WAIT port may be reused 1000 ms after it entered \
                 TIME_WAIT, when tcp_tw_reuse allows.",
            ),
            std::cmp::Ordering::Less => f.set(
                Level::Info,
                "below 1000 ms: PAWS risk",
                format!(
                    "Below the default 1000 ms: safe only if every peer's TCP timestamp clock \
                     ticks at least every {value} ms, so PAWS can tell old segments from new \
                     (Linux ticks every {LINUX_TS_TICK_MS} ms; RFC 7323 allows up to 1 s)."
                ),
            ),
            std::cmp::Ordering::Greater => f.set(
                Level::Info,
                "slower reuse than the default",
                "Above the default 1000 ms: ports stay blocked longer before reuse.",
            ),
        };
        if reuse_off {
            f.reason.push_str(" No effect while tcp_tw_reuse = 0.");
        }
        Some(f)
    }

    fn timestamps(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.tcp_timestamps";
        const SOURCE: &str = "ip-sysctl.rst: tcp_timestamps";
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(*f),
        };
        let f = finding(KEY, Some(&text), SOURCE);
        let reuse = self.live.value("net.ipv4.tcp_tw_reuse");
        Some(match value {
            1 => f.set(
                Level::Ok,
                "on (default)",
                "On, with a random offset per connection (the default). tcp_tw_reuse and PAWS \
                 depend on it.",
            ),
            2 => f
                .set(
                    Level::Info,
                    "on, no random offsets",
                    "On without random offsets: every connection's timestamps expose the same \
                     clock. 1 (the default) randomizes them per connection.",
                )
                .suggest("1"),
            0 if matches!(reuse, Some("1" | "2")) => f
                .set(
                    Level::Warn,
                    "off: tcp_tw_reuse cannot work",
                    format!(
                        "Off: tcp_tw_reuse (= {}) can never reuse a port without timestamps, \
                         and PAWS and timestamp RTT measurement are off.",
                        reuse.unwrap_or_default()
                    ),
                )
                .suggest("1"),
            0 => f
                .set(
                    Level::Advise,
                    "off: no PAWS, no tw_reuse",
                    "Off: PAWS (protection against old duplicate segments) and timestamp RTT \
                     measurement are off, and tcp_tw_reuse cannot work.",
                )
                .suggest("1"),
            _ => unexpected(KEY, &text, "0, 1 or 2", SOURCE),
        })
    }

    fn fin_timeout(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.tcp_fin_timeout";
        const SOURCE: &str = "ip-sysctl.rst: tcp_fin_timeout; TCP_TIMEWAIT_LEN in \
                              include/net/tcp.h; tcp_timewait_state_process() in \
                              net/ipv4/tcp_minisocks.c";
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(f.myth(MYTH_FIN_TIMEOUT)),
        };
        let f = finding(KEY, Some(&text), SOURCE);
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
        let evidence = Self::join(&[
            self.live
                .sockstat
                .map(|s| format!("orphaned sockets now: {}", s.orphan)),
            self.time_wait_text(),
        ]);
        Some(f.evidence(evidence).myth(MYTH_FIN_TIMEOUT))
    }

    fn max_tw_buckets(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.tcp_max_tw_buckets";
        const SOURCE: &str = "ip-sysctl.rst: tcp_max_tw_buckets, tcp_ehash_entries; \
                              tcp_set_hashinfo() in net/ipv4/tcp_ipv4.c";
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(f.myth(MYTH_TW_BUCKETS)),
        };
        // The kernel's default is half the established hash table (tcp_set_hashinfo();
        // tcp_sk_init() before it); a namespace sharing the initial one shows its size
        // negated. Measured here: 262144 entries, default 131072.
        let ehash = self.live.number("net.ipv4.tcp_ehash_entries");
        let default = ehash.map(|e| e.abs() / 2).filter(|&d| d > 0);
        let f = finding(KEY, Some(&text), SOURCE).kernel_default(default);
        let overflow = self.live.counter("TcpExt.TCPTimeWaitOverflow").unwrap_or(0);
        let tw = self.live.time_wait();
        let near_limit = tw.is_some_and(|tw| tw.saturating_mul(10) >= value.max(0) as u64 * 8);
        let raised = |at_least: i64| value.saturating_mul(2).max(at_least).to_string();
        // An integer knob: the kernel's reading does not depend on the port knobs.
        let reading = values::Context {
            era: &self.live.era,
            unprivileged_start: None,
        };
        let set_by = configured(self.files, KEY, Some(&text), &reading);
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
                        Self::removal_text(KEY, set_by.as_ref(), Some(d))
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
                        Self::removal_text(KEY, Some(c), None)
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
        let evidence = Self::join(&[
            tw.map(|tw| format!("TIME_WAIT sockets now, in total: {tw} of at most {value}")),
            self.counters(&["TcpExt.TCPTimeWaitOverflow"]),
            ehash.map(|e| format!("tcp_ehash_entries = {e}")),
        ]);
        Some(f.evidence(evidence).myth(MYTH_TW_BUCKETS))
    }

    /// How to remove an override: delete the config line (sysctl.d cannot unset a key), or
    /// whatever else sets it, and how to get the default back now when it is known.
    fn removal_text(key: &str, set_by: Option<&ConfigRef>, default: Option<i64>) -> String {
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

    fn rfc1337(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.tcp_rfc1337";
        const SOURCE: &str =
            "ip-sysctl.rst: tcp_rfc1337; tcp_timewait_state_process() in net/ipv4/tcp_minisocks.c";
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(*f),
        };
        let f = finding(KEY, Some(&text), SOURCE);
        Some(match value {
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
            _ => unexpected(KEY, &text, "0 or 1", SOURCE),
        })
    }

    // -- Ports -------------------------------------------------------------------------

    fn port_range(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.ip_local_port_range";
        const SOURCE: &str = "ip-sysctl.rst: ip_local_port_range";
        let text = match self.present(KEY, SOURCE) {
            Ok(text) => text,
            Err(f) => return Some(*f),
        };
        let Ok(PortRange { low, high }) = text.parse() else {
            return Some(unexpected(KEY, &text, "two ports, low then high", SOURCE));
        };
        let f = finding(KEY, Some(&text), SOURCE);
        let size = u32::from(high - low) + 1;
        let ports = count(size, "port");
        let default_size = u32::from(PORT_RANGE_DEFAULT.1 - PORT_RANGE_DEFAULT.0) + 1;
        let client_size = u32::from(CLIENT_PORT_RANGE.1 - CLIENT_PORT_RANGE.0) + 1;
        let pressure = self.pressure().is_some();
        let range = |(a, b): (u16, u16)| format!("{a} {b}");
        let same_parity = low % 2 == high % 2;
        // Shrink by one, as the kernel's own default did (61000 → 60999).
        let parity_fix = if high > low + 1 {
            (low, high - 1)
        } else {
            (low, high.saturating_add(1))
        };
        let client_short = self.role == Role::Client && size < client_size;
        let mut f = if client_short && (size < default_size || pressure) {
            let why = if pressure {
                format!("and TIME_WAIT sockets to one destination hold {ADVISE_PERCENT}% or more")
            } else {
                "fewer than the default".to_string()
            };
            f.set(
                Level::Advise,
                "too few ports for a client",
                format!(
                    "{ports}, {why}: an outbound-heavy host can open at most usable ports ÷ 60 s \
                     new connections per second to one destination. Widen it, after listing \
                     your services' listening ports in ip_local_reserved_ports."
                ),
            )
            .suggest(range(CLIENT_PORT_RANGE))
        } else if size < default_size {
            f.set(
                Level::Advise,
                "narrower than the default",
                format!(
                    "Only {ports}, fewer than the default {default_size}: outgoing connect() \
                     fails with EADDRNOTAVAIL once they are all in use or in TIME_WAIT."
                ),
            )
            .suggest(range(PORT_RANGE_DEFAULT))
        } else if pressure {
            let reuse_on = self.live.value("net.ipv4.tcp_tw_reuse") == Some("1");
            f.set(
                Level::Info,
                "TIME_WAIT fills the range",
                format!(
                    "TIME_WAIT sockets of connections to one destination hold {ADVISE_PERCENT}% \
                     of the usable ports or more. If connect() to it fails with EADDRNOTAVAIL, \
                     spread connections over more destination ports or source addresses{}.",
                    if reuse_on {
                        ""
                    } else {
                        ", or set tcp_tw_reuse = 1"
                    }
                ),
            )
        } else if self.connects() {
            f.set(
                Level::Ok,
                self.budget_summary(size),
                format!(
                    "{ports}. If connect() fails with EADDRNOTAVAIL, widen it (e.g. {}) after \
                     reserving your listening ports.",
                    range(CLIENT_PORT_RANGE)
                ),
            )
        } else {
            f.set(
                Level::Ok,
                self.budget_summary(size),
                format!("{ports} for outgoing connections."),
            )
        };
        if same_parity {
            f.reason.push_str(
                " Both ends have the same parity: the kernel prefers different parity, since \
                 connect() takes ports of the start's parity first and bind(0) the other's.",
            );
            if f.suggested.is_none() {
                f.level = f.level.max(Level::Info);
                f.why = "same parity at both ends".into();
                f.suggested = Some(range(parity_fix));
            }
        }
        let evidence = Self::join(&[
            self.budget_text(),
            Some(self.outgoing_text()),
            self.time_wait_text(),
        ]);
        Some(f.evidence(evidence))
    }

    fn reserved_ports(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.ip_local_reserved_ports";
        const SOURCE: &str = "ip-sysctl.rst: ip_local_reserved_ports";
        let text = match self.present(KEY, SOURCE) {
            Ok(text) => text,
            Err(f) => return Some(*f),
        };
        let f = finding(KEY, Some(&text), SOURCE);
        let reserved = match ReservedPorts::parse(&text) {
            Ok(reserved) => reserved,
            Err(why) => {
                return Some(unexpected(
                    KEY,
                    &text,
                    &format!("port ranges ({why})"),
                    SOURCE,
                ));
            }
        };
        let total = reserved.count();
        let Some(b) = self.budget else {
            return Some(f.set(
                Level::Ok,
                format!("{total} reserved"),
                format!("{} reserved.", count(total, "port")),
            ));
        };
        Some(if total == 0 {
            f.set(
                Level::Ok,
                "none reserved (default)",
                "None reserved (the default). List your services' listening ports here before \
                 widening ip_local_port_range, so connect() never takes them.",
            )
        } else if b.reserved_in_range * 2 >= b.ports {
            f.set(
                Level::Advise,
                "most of the range reserved",
                format!(
                    "{} of the {} ephemeral ports {} reserved, leaving {} for connect() and \
                     bind(0). Reserve only ports your services listen on.",
                    b.reserved_in_range,
                    b.ports,
                    if b.reserved_in_range == 1 {
                        "is"
                    } else {
                        "are"
                    },
                    b.usable
                ),
            )
        } else {
            f.set(
                Level::Ok,
                format!("{total} reserved"),
                format!(
                    "{} reserved ({} inside the ephemeral range): connect() and bind(0) skip \
                     {}.",
                    count(total, "port"),
                    b.reserved_in_range,
                    if total == 1 { "it" } else { "them" }
                ),
            )
        })
    }

    fn autobind_reuse(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.ip_autobind_reuse";
        const SOURCE: &str = "ip-sysctl.rst: ip_autobind_reuse";
        if self.live.knob(KEY) == &Knob::Absent {
            return None;
        }
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(*f),
        };
        let f = finding(KEY, Some(&text), SOURCE);
        Some(match value {
            0 => f.set(
                Level::Ok,
                "off (default)",
                "The default: bind(0) never picks a port already bound, even when every socket \
                 on it has SO_REUSEADDR. Clients that bind() before connect() should set \
                 IP_BIND_ADDRESS_NO_PORT instead.",
            ),
            1 => f.set(
                Level::Info,
                "on: for experts only",
                "On: bind(0) may hand out a port other SO_REUSEADDR sockets hold, which can \
                 break applications; ip-sysctl prefers IP_BIND_ADDRESS_NO_PORT and reserves \
                 this for experts.",
            ),
            _ => unexpected(KEY, &text, "0 or 1", SOURCE),
        })
    }

    fn unprivileged_port_start(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.ip_unprivileged_port_start";
        const SOURCE: &str = "ip-sysctl.rst: ip_unprivileged_port_start";
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(*f),
        };
        let f = finding(KEY, Some(&text), SOURCE);
        Some(if value == 1024 {
            f.set(
                Level::Ok,
                "default 1024",
                "The default: ports below 1024 need root or CAP_NET_BIND_SERVICE (bind() \
                 fails with EACCES otherwise).",
            )
        } else {
            f.set(
                Level::Info,
                format!("privileged below {value}"),
                format!(
                    "Ports below {value} need root or CAP_NET_BIND_SERVICE (default 1024; 0, \
                     common in rootless containers, lets anyone bind any port)."
                ),
            )
        })
    }

    // -- Backlog -----------------------------------------------------------------------

    fn somaxconn(&self) -> Option<Finding> {
        const KEY: &str = "net.core.somaxconn";
        const SOURCE: &str =
            "ip-sysctl.rst: somaxconn; commit 19f92a030ca6 (default 4096 since Linux 5.4)";
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(*f),
        };
        let era = self.live.era.has(&SOMAXCONN_4096);
        let default = self.live.era.default_of(&SOMAXCONN_4096);
        let f = finding(KEY, Some(&text), SOURCE).kernel_default(default);
        let overflows = self.live.counter("TcpExt.ListenOverflows").unwrap_or(0);
        let today = SOMAXCONN_4096.default_since;
        let old = SOMAXCONN_4096.default_before;
        let overflowed = if overflows > 0 {
            " It has overflowed (ListenOverflows)."
        } else {
            ""
        };
        // Where the value stands against this kernel's default, or what it may be.
        let versus = |value: i64| match era {
            Has::Yes(_) if value < today => format!("below the default {today}"),
            Has::Yes(_) => format!("the default is {today}"),
            Has::No(_) => {
                let side = match value.cmp(&old) {
                    std::cmp::Ordering::Less => "below",
                    std::cmp::Ordering::Equal => "that is",
                    std::cmp::Ordering::Greater => "above",
                };
                format!(
                    "{side} this kernel's default {old} (Linux 5.4 raised it to {today}; {})",
                    era.evidence()
                )
            }
            Has::Unknown => format!(
                "{}the default is {today} since Linux 5.4 and {old} before, and this kernel's \
                 knobs do not tell which applies",
                if value < old {
                    "below either default: "
                } else {
                    ""
                }
            ),
        };
        let f = if !self.serves() {
            f.set(
                if value < default.unwrap_or(today) {
                    Level::Info
                } else {
                    Level::Ok
                },
                "matters for servers only",
                "Caps every listen() backlog; it matters for hosts that accept connections.",
            )
        } else if value < today {
            // Below this kernel's default, or below every kernel's: worth acting on. At the
            // old default, only overflows make it so.
            let low = value < default.unwrap_or(old);
            let level = if low || overflows > 0 {
                Level::Advise
            } else {
                Level::Info
            };
            f.set(
                level,
                format!("accept queue capped at {value}"),
                format!(
                    "Caps every listen() backlog: a listener's accept queue is min(backlog, \
                     somaxconn) = at most {value}; {}. A burst of connections larger \
                     than that overflows it, and clients retry their SYN after a second or \
                     more.{overflowed} Kernels before 5.4 accept {today} too.",
                    versus(value)
                ),
            )
            .suggest(today.to_string())
        } else if overflows > 0 {
            f.set(
                Level::Info,
                "overflows: check app backlog",
                format!(
                    "Accept queues overflowed {} though somaxconn is {value}: the \
                     application's listen() backlog or a slow accept() loop is the limit \
                     (`ss -ltn` shows each listener's backlog as Send-Q).",
                    count(overflows, "time")
                ),
            )
        } else {
            f.set(
                Level::Ok,
                if matches!(era, Has::Yes(_)) {
                    format!("default {today} or more")
                } else {
                    format!("{today} or more")
                },
                "Caps every listen() backlog: a listener's accept queue is min(backlog, \
                 somaxconn). No overflow seen.",
            )
        };
        let evidence = self.counters(&["TcpExt.ListenOverflows", "TcpExt.ListenDrops"]);
        Some(f.evidence(evidence))
    }

    fn max_syn_backlog(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.tcp_max_syn_backlog";
        const SOURCE: &str =
            "ip-sysctl.rst: tcp_max_syn_backlog; tcp_conn_request() in net/ipv4/tcp_input.c";
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(*f),
        };
        let f = finding(KEY, Some(&text), SOURCE);
        let cookies_off = self.live.value("net.ipv4.tcp_syncookies") == Some("0");
        let somaxconn = self.live.number("net.core.somaxconn");
        let f = if !self.serves() {
            f.set(
                Level::Ok,
                "matters for servers only",
                "Limits half-open connections per listener; it matters for hosts that accept \
                 connections.",
            )
        } else if !cookies_off {
            f.set(
                Level::Ok,
                "unused while syncookies on",
                "With syncookies on, a listener's SYN queue is bounded by its accept backlog \
                 (min(backlog, somaxconn)) and overflow falls back to cookies; this limit \
                 applies only when tcp_syncookies = 0.",
            )
        } else if let Some(s) = somaxconn.filter(|&s| value < s) {
            f.set(
                Level::Advise,
                "below somaxconn, no cookies",
                format!(
                    "With tcp_syncookies = 0, SYNs from new peers are dropped once a listener \
                     has 3/4 of {value} half-open connections; keep it at least somaxconn \
                     ({s})."
                ),
            )
            .suggest(s.to_string())
        } else {
            f.set(
                Level::Ok,
                "at least somaxconn",
                "With tcp_syncookies = 0 this bounds half-open connections per listener; it is \
                 at least somaxconn.",
            )
        };
        let evidence = self.counters(&["TcpExt.TCPReqQFullDrop", "TcpExt.ListenDrops"]);
        Some(f.evidence(evidence))
    }

    fn syncookies(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.tcp_syncookies";
        const SOURCE: &str = "ip-sysctl.rst: tcp_syncookies";
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(*f),
        };
        let f = finding(KEY, Some(&text), SOURCE);
        let sent = self.live.counter("TcpExt.SyncookiesSent").unwrap_or(0);
        let f = match value {
            1 if sent > 0 && self.serves() => f.set(
                Level::Info,
                "cookies sent: queue overflowed",
                format!(
                    "Cookies were sent {}: a listener's SYN queue overflowed. If that was real \
                     load rather than a flood, raise the listen() backlog and somaxconn; cookies \
                     are a fallback and must not carry legal load.",
                    count(sent, "time")
                ),
            ),
            1 => f.set(
                Level::Ok,
                "on overflow only (default)",
                "Cookies only when a listener's SYN queue overflows (the default): a fallback \
                 against SYN floods.",
            ),
            0 => f
                .set(
                    if self.serves() {
                        Level::Advise
                    } else {
                        Level::Info
                    },
                    "off: SYN floods drop clients",
                    "Off: a SYN flood fills the listeners' SYN queues and real clients are \
                     dropped. 1 (the default) sends cookies only on overflow.",
                )
                .suggest("1"),
            2 => f
                .set(
                    Level::Advise,
                    "always on: for testing only",
                    "Cookies for every connection, meant for testing: connections made with \
                     cookies can lose TCP extensions. 1 (the default) uses them only on \
                     overflow.",
                )
                .suggest("1"),
            _ => unexpected(KEY, &text, "0, 1 or 2", SOURCE),
        };
        let evidence = self.counters(&[
            "TcpExt.SyncookiesSent",
            "TcpExt.SyncookiesFailed",
            "TcpExt.TCPReqQFullDoCookies",
            "TcpExt.TCPReqQFullDrop",
        ]);
        Some(f.evidence(evidence))
    }

    /// Measured in private namespaces (listener backlog 4, TCP_DEFER_ACCEPT holding three
    /// requests in SYN_RECV while five completed connections filled the queue): with 1 the
    /// three got RST (EmbryonicRsts +3), with 0 they waited and the server retransmitted its
    /// SYN-ACK; a new SYN was dropped with either value, no RST.
    fn abort_on_overflow(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.tcp_abort_on_overflow";
        const SOURCE: &str = "tcp_conn_request() in net/ipv4/tcp_input.c; tcp_check_req() in \
                              net/ipv4/tcp_minisocks.c; ip-sysctl.rst: tcp_abort_on_overflow";
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(*f),
        };
        let f = finding(KEY, Some(&text), SOURCE);
        let scope = "A new SYN to a listener whose accept queue is full is dropped whatever this \
                     knob says (tcp_conn_request(), net/ipv4/tcp_input.c; counted in \
                     ListenOverflows), and its client retries the SYN. The knob is read only in \
                     tcp_check_req() (net/ipv4/tcp_minisocks.c), for a connection already in \
                     SYN_RECV whose final ACK finds the queue full";
        let f = match value {
            0 => f.set(
                Level::Ok,
                "default: no RST on overflow",
                format!(
                    "The default. {scope}: at 0 that ACK is dropped and the server retransmits \
                     its SYN-ACK (up to tcp_synack_retries times), so the connection can still \
                     complete if accept() makes room before those retries run out."
                ),
            ),
            1 => f
                .set(
                    if self.serves() {
                        Level::Advise
                    } else {
                        Level::Info
                    },
                    "RST to SYN_RECV on overflow",
                    format!(
                        "On. {scope}: at 1 that client gets an RST (ECONNRESET, counted as \
                         EmbryonicRsts) instead of a chance to complete once accept() makes room. It \
                         does not turn a full queue into fast failures for new clients; \
                         ip-sysctl.rst advises it only if the daemon cannot be made to accept \
                         faster."
                    ),
                )
                .suggest("0"),
            _ => unexpected(KEY, &text, "0 or 1", SOURCE),
        };
        let evidence = self.counters(&["TcpExt.ListenOverflows", "TcpExt.EmbryonicRsts"]);
        Some(f.evidence(evidence))
    }

    // -- Nagle -------------------------------------------------------------------------

    fn autocorking(&self) -> Option<Finding> {
        const KEY: &str = "net.ipv4.tcp_autocorking";
        const SOURCE: &str = "ip-sysctl.rst: tcp_autocorking";
        let (value, text) = match self.read(KEY, SOURCE) {
            Ok(read) => read,
            Err(f) => return Some(f.myth(MYTH_STICKY)),
        };
        let f = finding(KEY, Some(&text), SOURCE);
        let f = match value {
            1 => f.set(
                Level::Ok,
                "on (default)",
                "The default: small writes are merged while an earlier packet of the flow still \
                 waits in the qdisc or device queue, even with TCP_NODELAY.",
            ),
            0 => f.set(
                Level::Info,
                "off: more small packets",
                "Off: small writes are not merged behind queued packets; more packets on the \
                 wire. Readers must still frame messages: TCP is a byte stream.",
            ),
            _ => unexpected(KEY, &text, "0 or 1", SOURCE),
        };
        let evidence = self.counters(&["TcpExt.TCPAutoCorking"]);
        Some(f.evidence(evidence).myth(MYTH_STICKY))
    }
}

/// A knob that is absent or unreadable: shown, not judged.
fn unavailable(key: &'static str, knob: &Knob, source: &'static str) -> Finding {
    let (why, reason) = match knob {
        Knob::Unreadable(error) => (
            "not judged: unreadable",
            format!("Not judged: the knob could not be read ({error})."),
        ),
        _ => (
            "absent here",
            "Not on this kernel, or not visible in this network namespace (older kernels keep \
             some knobs in the initial namespace only)."
                .to_string(),
        ),
    };
    finding(key, None, source).set(Level::Info, why, reason)
}

/// A knob whose text is not what the kernel documents: shown, not judged.
fn unexpected(key: &'static str, text: &str, expected: &str, source: &'static str) -> Finding {
    finding(key, Some(text), source).set(
        Level::Info,
        "unexpected value",
        format!(
            "Not judged: {} is not {expected}, which the kernel documents.",
            echo_quoted(text)
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Echoed values
// ---------------------------------------------------------------------------------------

/// The most characters of a value sockdoc echoes: a config value can be up to 1 MiB
/// ([`sysctl::CONFIG_LIMIT`]) and a kernel value up to 256 KiB, and a report that repeats
/// one in full is unreadable. Longer values are cut here, with their size, in every
/// format (JSON too: the file:line or knob the report names holds the whole text, and
/// `value_bytes` gives its length).
pub const ECHO_LIMIT_CHARS: usize = 80;

/// `text` as sockdoc shows it: whole up to [`ECHO_LIMIT_CHARS`] characters, otherwise
/// its first [`ECHO_LIMIT_CHARS`] followed by `… (N bytes)`.
pub fn echo(text: &str) -> String {
    match text.char_indices().nth(ECHO_LIMIT_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
    }
}

/// [`echo`] in quotes, for a value inside a sentence.
fn echo_quoted(text: &str) -> String {
    format!("{:?}", echo(text))
}

// ---------------------------------------------------------------------------------------
// The config lint
// ---------------------------------------------------------------------------------------

fn file_entry(file: &ConfigFile) -> ConfigFileEntry {
    let (status, detail) = match &file.status {
        FileStatus::Read => ("read", None),
        FileStatus::Masked => (
            "masked",
            Some(
                "a symlink to /dev/null: same-named files in later directories are not read".into(),
            ),
        ),
        FileStatus::Shadowed { by } => ("shadowed", Some(format!("{by} is read instead"))),
        FileStatus::SameAs { file } => (
            "same-file",
            Some(format!("a symlink to {file}, judged there (read last)")),
        ),
        FileStatus::NeedsRoot(why) => (
            "needs-root",
            Some(format!("not checked: needs root ({why})")),
        ),
        FileStatus::Unreadable(why) => ("unreadable", Some(why.clone())),
    };
    ConfigFileEntry {
        file: file.path.clone(),
        status,
        detail,
        assignments: file
            .lines
            .iter()
            .filter(|(_, line)| matches!(line, Line::Assignment(_)))
            .count(),
    }
}

/// `ip_local_port_range` is checked against `ip_unprivileged_port_start` as the kernel
/// has it, unless a config line sets that knob too: then the order of the writes decides.
fn unprivileged_start(live: &Live, files: &[ConfigFile]) -> Option<i128> {
    const PATH: &str = "net/ipv4/ip_unprivileged_port_start";
    let configured = files.iter().any(|file| {
        file.lines
            .iter()
            .any(|(_, line)| matches!(line, Line::Assignment(a) if a.path == PATH))
    });
    if configured {
        return None;
    }
    live.number("net.ipv4.ip_unprivileged_port_start")
        .map(i128::from)
}

/// Judges every line of the files in the order `sysctl --system` applies them. Only the
/// effective (last) assignment of a key is compared with the live value; earlier ones
/// are reported when a later line overrides them with a different value. A value the
/// kernel refuses is reported on every line: procps-ng's `sysctl --system` writes every
/// line in order, overridden or not.
fn lint(
    root: &Root,
    files: &[ConfigFile],
    netns: &Netns,
    reading: &values::Context,
) -> Vec<ConfigProblem> {
    let mut last = HashMap::new();
    for (index, file) in files.iter().enumerate() {
        for (number, line) in &file.lines {
            if let Line::Assignment(a) = line
                && !a.glob
            {
                last.insert(a.path.as_str(), (index, *number));
            }
        }
    }
    let mut lint = Lint {
        root,
        files,
        netns,
        reading,
        last,
        live: HashMap::new(),
    };
    let mut problems = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let whole_file = |level, kind, problem| ConfigProblem {
            file: file.path.clone(),
            line: None,
            key: None,
            value: None,
            value_bytes: None,
            live: None,
            level,
            kind,
            problem,
        };
        match &file.status {
            FileStatus::Unreadable(why) => problems.push(whole_file(
                Level::Advise,
                "unreadable",
                format!("cannot be read, so its settings are not applied: {why}"),
            )),
            FileStatus::NeedsRoot(why) => problems.push(whole_file(
                Level::Info,
                "needs-root",
                format!(
                    "not checked: needs root ({why}). `sysctl --system` runs as root and \
                     applies it; run sockdoc as root to check it"
                ),
            )),
            _ => {}
        }
        for (number, line) in &file.lines {
            let found = match line {
                Line::Malformed(why) => Some(ConfigProblem {
                    line: Some(*number),
                    ..whole_file(
                        Level::Advise,
                        "malformed",
                        format!("malformed, skipped: {why}"),
                    )
                }),
                Line::Assignment(a) => lint
                    .assignment(index, *number, a)
                    .map(|problem| in_scope(problem, a)),
            };
            problems.extend(found);
        }
    }
    problems
}

/// sockdoc judges the network sysctls: a problem with a key outside `net.` (a distribution's
/// kernel.pid_max or fs.protected_* that a container cannot apply) is still listed, at info,
/// so it never fails `--check`. Malformed lines and unreadable files name no key and keep
/// their level: they may hold network settings.
fn in_scope(mut problem: ConfigProblem, a: &sysctl::Assignment) -> ConfigProblem {
    if !a.path.starts_with("net/") {
        problem.level = problem.level.min(Level::Info);
    }
    problem
}

/// What the tools that apply config files do with a line whose key the kernel lacks,
/// measured with procps-ng 4.0.2 and systemd 252 (Debian 12) inside `unshare --net`, and
/// read in their sources: procps-ng's `WriteSetting()` (src/sysctl.c) stat()s the key
/// before it looks at the '-' and fails unless errors are ignored, which `--system` and
/// `-e` do; systemd's `sysctl_write_or_warn()` (src/sysctl/sysctl.c) skips the key
/// silently with the '-', and with a log line but no failure without it.
const SYSCTL_P_ABSENT: &str = "`sysctl -p FILE` (procps-ng) prints \"cannot stat\" for it and \
     exits 1, '-' prefix or not";

struct Lint<'a> {
    root: &'a Root,
    files: &'a [ConfigFile],
    netns: &'a Netns,
    reading: &'a values::Context<'a>,
    /// Where each knob (by /proc/sys path) is assigned last: (file index, line).
    last: HashMap<&'a str, (usize, usize)>,
    /// Live values, read once per knob.
    live: HashMap<&'a str, Knob>,
}

/// One config line, for building its problem.
struct Site<'s> {
    file: &'s str,
    line: usize,
    a: &'s sysctl::Assignment,
}

impl Site<'_> {
    fn problem(
        &self,
        level: Level,
        kind: &'static str,
        live: Option<&str>,
        problem: String,
    ) -> ConfigProblem {
        ConfigProblem {
            file: self.file.to_string(),
            line: Some(self.line),
            key: Some(self.a.key.clone()),
            value: Some(echo(&self.a.value)),
            value_bytes: Some(self.a.value.len()),
            live: live.map(echo),
            level,
            kind,
            problem,
        }
    }

    /// A key the kernel lacks: what each tool does with the line (see [`SYSCTL_P_ABSENT`]).
    fn absent(&self) -> ConfigProblem {
        let removed = removed_in(&self.a.path);
        if self.a.ignore_errors {
            self.problem(
                Level::Info,
                "absent-ignored",
                None,
                format!(
                    "no such key on this kernel{removed}: systemd-sysctl skips it silently \
                     because of the leading '-', and `sysctl --system` skips any key the kernel \
                     lacks; but {SYSCTL_P_ABSENT}"
                ),
            )
        } else {
            self.problem(
                Level::Warn,
                "no-such-key",
                None,
                format!(
                    "no such key on this kernel{removed}: {SYSCTL_P_ABSENT}; `sysctl --system` \
                     skips it, and systemd-sysctl logs it and goes on. Delete the line"
                ),
            )
        }
    }

    /// A value the kernel refuses, and what each tool then does (measured with procps-ng
    /// 4.0.2 and systemd 252: both exit 1 on EINVAL; systemd-sysctl writes only a key's
    /// last assignment and is silent about it with a leading '-').
    fn invalid(&self, why: &str, effective: bool, live: Option<&str>) -> ConfigProblem {
        let systemd = if !effective {
            "systemd-sysctl writes only a key's last assignment, so it skips this one"
        } else if self.a.ignore_errors {
            "systemd-sysctl skips it silently because of the leading '-'"
        } else {
            "so does systemd-sysctl"
        };
        self.problem(
            Level::Warn,
            "invalid-value",
            live,
            format!(
                "invalid value: {why}. The kernel refuses the write (EINVAL), so this line is \
                 never applied, and `sysctl -p` and `sysctl --system` (procps-ng, which write \
                 every line) report it and exit 1; {systemd}. Fix or delete the line"
            ),
        )
    }
}

impl<'a> Lint<'a> {
    /// The problem with one assignment, if any.
    fn assignment(
        &mut self,
        index: usize,
        number: usize,
        a: &'a sysctl::Assignment,
    ) -> Option<ConfigProblem> {
        let site = Site {
            file: &self.files[index].path,
            line: number,
            a,
        };
        if a.glob {
            return Some(site.problem(
                Level::Info,
                "glob",
                None,
                "a glob (systemd 249 and later): not checked against the knobs it matches".into(),
            ));
        }
        let root = self.root;
        let knob = self
            .live
            .entry(a.path.as_str())
            .or_insert_with(|| sysctl::read_knob_path(root, &a.path))
            .clone();
        let winner = self.last.get(a.path.as_str()).copied();
        let effective = winner == Some((index, number));
        if knob == Knob::Absent {
            return Some(site.absent());
        }
        let taken = match values::read(&a.path, &a.value, self.reading) {
            values::Reading::Rejected(why) => {
                return Some(site.invalid(&why, effective, knob.value()));
            }
            values::Reading::Takes(taken) => Some(taken),
            values::Reading::Unknown => None,
        };
        let Knob::Value(current) = &knob else {
            let why = match &knob {
                Knob::Unreadable(why) => why.as_str(),
                _ => "",
            };
            return effective.then(|| {
                site.problem(
                    Level::Info,
                    "not-compared",
                    None,
                    format!("cannot compare with the live value: {why}"),
                )
            });
        };
        if a.value.contains('#') {
            return Some(
                site.problem(
                    Level::Advise,
                    "inline-comment",
                    Some(current),
                    "a '#' inside the value: comments must be on their own line, so the kernel is \
                 given the comment too"
                        .into(),
                ),
            );
        }
        if !effective {
            return self.overridden(&site, taken.as_ref(), winner?, current);
        }
        if a.path == "net/ipv4/tcp_tw_reuse" && a.value.trim().parse::<i64>() == Ok(2) {
            return self.reuse_two(current, |level, live, problem| {
                site.problem(level, "reuse-2-meaning", live, problem)
            });
        }
        let shown = match &taken {
            Some(taken) => taken.shown_in(current),
            None => same_value(&a.value, current),
        };
        if !shown {
            return Some(not_applied(
                a,
                current,
                self.netns,
                taken.as_ref(),
                |level, kind, problem| site.problem(level, kind, Some(current), problem),
            ));
        }
        let note = taken.and_then(|t| t.note)?;
        Some(site.problem(
            Level::Advise,
            "partly-read",
            Some(current),
            format!("{note}. Write only what the kernel reads, so the file says what it does"),
        ))
    }

    /// A line a later one overrides: reported when the later one sets something else.
    fn overridden(
        &self,
        site: &Site,
        taken: Option<&values::Taken>,
        (winner_index, winner_line): (usize, usize),
        current: &str,
    ) -> Option<ConfigProblem> {
        let a = site.a;
        let value = self.value_at(winner_index, winner_line)?;
        let winner_path = &self.files[winner_index].path;
        let winner_taken = match values::read(&a.path, value, self.reading) {
            values::Reading::Takes(taken) => Some(taken),
            values::Reading::Rejected(_) => {
                // Measured (procps-ng 4.0.2, systemd 252): `sysctl --system` writes this
                // line, then fails on the later one; systemd-sysctl writes only the later.
                return Some(site.problem(
                    Level::Info,
                    "overridden",
                    Some(current),
                    format!(
                        "overridden by {winner_path}:{winner_line}, whose value the kernel \
                         refuses (see there): after procps-ng's `sysctl --system` this line's \
                         value stays; systemd-sysctl writes only that last one, so the kernel \
                         keeps its own"
                    ),
                ));
            }
            values::Reading::Unknown => None,
        };
        let same = match (taken, &winner_taken) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => same_value(&a.value, value),
        };
        (!same).then(|| {
            site.problem(
                Level::Info,
                "overridden",
                Some(current),
                format!(
                    "overridden by {winner_path}:{winner_line}, which sets {}",
                    echo_quoted(value)
                ),
            )
        })
    }

    /// `tcp_tw_reuse = 2` in a file: loopback only since Linux 4.18, global reuse before.
    fn reuse_two(
        &self,
        current: &str,
        at: impl Fn(Level, Option<&str>, String) -> ConfigProblem,
    ) -> Option<ConfigProblem> {
        let has = self.reading.era.has(&TW_REUSE_LOOPBACK);
        let (level, side) = match has {
            Has::Yes(_) => return None,
            Has::No(_) => (
                Level::Advise,
                format!(
                    "this kernel predates it ({}), so it reads 2 as global reuse, like 1",
                    has.evidence()
                ),
            ),
            Has::Unknown => (
                Level::Info,
                "this kernel's knobs do not tell which it is, so 2 may mean global reuse, like \
                 1"
                .to_string(),
            ),
        };
        Some(at(
            level,
            Some(current),
            format!(
                "2 means loopback-only reuse since Linux 4.18 (commit 79e9fed46038), and {side}. \
                 Write 1 if global reuse is meant, 0 if not"
            ),
        ))
    }

    fn value_at(&self, index: usize, number: usize) -> Option<&'a str> {
        self.files[index]
            .lines
            .iter()
            .find_map(|(n, line)| match line {
                Line::Assignment(a) if *n == number => Some(a.value.as_str()),
                _ => None,
            })
    }
}

/// The last assignment of `key` in the files, in the order they are applied, and whether
/// the kernel's `current` value matches it.
fn configured(
    files: &[ConfigFile],
    key: &str,
    current: Option<&str>,
    reading: &values::Context,
) -> Option<ConfigRef> {
    let path = key.replace('.', "/");
    let path = path.as_str();
    files
        .iter()
        .flat_map(|file| {
            file.lines
                .iter()
                .filter_map(move |(number, line)| match line {
                    Line::Assignment(a) if a.path == path => Some((file, *number, a)),
                    _ => None,
                })
        })
        .last()
        .map(|(file, line, a)| ConfigRef {
            file: file.path.clone(),
            line,
            value: echo(&a.value),
            value_bytes: a.value.len(),
            // The kernel's own reading where sockdoc knows the handler (`1 # x` sets 1,
            // `1#x` is refused); otherwise the text before an inline comment, which is its
            // own config problem.
            applied: current.is_some_and(|c| match values::read(path, &a.value, reading) {
                values::Reading::Takes(taken) => taken.shown_in(c),
                values::Reading::Rejected(_) => false,
                values::Reading::Unknown => {
                    same_value(a.value.split('#').next().unwrap_or_default(), c)
                }
            }),
        })
}

fn not_applied(
    a: &sysctl::Assignment,
    current: &str,
    netns: &Netns,
    taken: Option<&values::Taken>,
    at: impl Fn(Level, &'static str, String) -> ConfigProblem,
) -> ConfigProblem {
    let current = echo_quoted(current);
    if a.path.starts_with("net/") && netns.initial == Some(false) {
        at(
            Level::Info,
            "differs-in-netns",
            format!(
                "differs from this network namespace's value {current}; the files are applied \
                 to the initial namespace at boot, not to this one"
            ),
        )
    } else {
        let note = taken
            .and_then(|t| t.note.as_deref())
            .map(|note| format!(" (as written, {note})"))
            .unwrap_or_default();
        at(
            Level::Advise,
            "not-applied",
            format!(
                "not applied: the kernel has {current}{note}. Run `sudo sysctl --system`, or \
                 find what sets it back (a later tool, a container runtime)"
            ),
        )
    }
}

fn removed_in(path: &str) -> &'static str {
    if path == "net/ipv4/tcp_tw_recycle" {
        " (tcp_tw_recycle was removed in Linux 4.12)"
    } else {
        ""
    }
}

/// Whether a configured value is what the kernel shows, for keys whose handler sockdoc
/// does not know (the others go through [`values::read`]): whitespace folded, numbers
/// compared as the kernel reads them (`010` is octal 8, `0x10` is 16: `proc_get_long()`).
fn same_value(configured: &str, live: &str) -> bool {
    let a: Vec<&str> = configured.split_whitespace().collect();
    let b: Vec<&str> = live.split_whitespace().collect();
    let number = |text: &str| {
        sysctl::kernel_numbers(text, 1)
            .ok()
            .filter(|n| n.ignored.is_empty())
            .map(|n| n.values[0])
    };
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || matches!((number(x), number(y)), (Some(p), Some(q)) if p == q))
}

// ---------------------------------------------------------------------------------------
// Applying the conf snippet
// ---------------------------------------------------------------------------------------

/// The knob a snippet sets with a leading '-': Linux 4.12 removed it, and the snippet may
/// outlive the kernel it was written for.
const REMOVED_KEY: &str = "net.ipv4.tcp_tw_recycle";

/// What the '-' before [`REMOVED_KEY`] does, tool by tool (see [`SYSCTL_P_ABSENT`] for
/// the measurements and sources).
const OPTIONAL_KEY_NOTE: &str = "tcp_tw_recycle is gone from Linux 4.12 on. There systemd-sysctl \
     skips this line silently because of the leading '-' (sysctl_write_or_warn() in systemd's \
     src/sysctl/sysctl.c; measured with systemd 252), and procps-ng's `sysctl --system` skips a \
     key the kernel lacks with or without it; but `sysctl -p FILE` ignores the '-', prints \
     \"cannot stat\" and exits 1 unless given -e (WriteSetting() in procps-ng's src/sysctl.c; \
     measured with procps-ng 4.0.2). Delete this line once the kernel is 4.12 or later.";

/// How `--format conf` tells the user to apply the snippet: computed here so the JSON
/// carries the choice, printed by the renderer.
#[derive(Debug, Clone, Serialize)]
pub struct ConfAdvice {
    /// The commands, in the order offered, each with why, once the snippet is installed
    /// as /etc/sysctl.d/99-sockdoc.conf.
    pub apply: Vec<ApplyCommand>,
    /// Keys the snippet writes with a leading '-' (knobs newer kernels lack).
    pub optional_keys: Vec<&'static str>,
    /// What the tools do with such a line; null when the snippet has none.
    pub optional_note: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyCommand {
    pub command: String,
    pub comment: &'static str,
}

impl ConfAdvice {
    fn new(findings: &[Finding]) -> Self {
        let file = format!(
            "/etc/sysctl.d/{}",
            crate::report::sysctl_advice::SNIPPET_NAME
        );
        let optional_keys: Vec<&'static str> = findings
            .iter()
            .filter(|f| f.key == REMOVED_KEY && f.suggested.is_some() && f.suggested != f.current)
            .map(|f| f.key)
            .collect();
        // `sysctl -p` would fail on a kernel without an optional key, '-' or not: -e
        // makes it skip keys the kernel lacks, as `--system` does.
        let this_file = if optional_keys.is_empty() {
            ApplyCommand {
                command: format!("sudo sysctl -p {file}"),
                comment: "this file only, now",
            }
        } else {
            ApplyCommand {
                command: format!("sudo sysctl -e -p {file}"),
                comment: "this file only; -e: skip absent keys",
            }
        };
        Self {
            apply: vec![
                this_file,
                ApplyCommand {
                    command: "sudo sysctl --system".into(),
                    comment: "or every file, in boot order",
                },
            ],
            optional_note: (!optional_keys.is_empty()).then_some(OPTIONAL_KEY_NOTE),
            optional_keys,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_compare_as_the_kernel_reads_them() {
        assert!(same_value("4096   131072\t6291456", "4096 131072 6291456"));
        assert!(same_value("01", "1"));
        // proc_get_long() reads a leading 0 as octal and 0x as hex (measured: 010 → 8).
        assert!(same_value("010", "8"));
        assert!(!same_value("010", "10"));
        assert!(same_value("0x10", "16"));
        assert!(!same_value("1", "2"));
        assert!(!same_value("1 2", "1"));
        assert!(same_value("bbr", "bbr"));
        assert!(same_value("", ""));
    }

    #[test]
    fn long_values_are_cut_with_their_size() {
        assert_eq!(echo("1024 65535"), "1024 65535");
        let exact = "x".repeat(ECHO_LIMIT_CHARS);
        assert_eq!(echo(&exact), exact);
        let long = "é".repeat(ECHO_LIMIT_CHARS + 1);
        assert_eq!(
            echo(&long),
            format!("{}… ({} bytes)", "é".repeat(ECHO_LIMIT_CHARS), long.len())
        );
        assert_eq!(echo_quoted("a\"b"), "\"a\\\"b\"");
    }

    fn budget(usable: u32) -> PortBudget {
        let range = format!("1024 {}", 1024 + usable - 1);
        Live {
            knobs: HashMap::from([("net.ipv4.ip_local_port_range", Knob::Value(range.clone()))]),
            sockstat: None,
            ports: PortSettings::from_knobs(Some(&range), None, None, None),
            outgoing: Err(String::new()),
            pressure: None,
            counters: None,
            era: Era::default(),
        }
        .port_budget()
        .unwrap()
    }

    #[test]
    fn rates_stay_meaningful_for_small_ranges() {
        let text = |usable| rate_text(&budget(usable), " new connections");
        assert_eq!(text(28232), "470 new connections/s");
        assert_eq!(text(600), "10 new connections/s");
        assert_eq!(text(599), "9.9 new connections/s");
        assert_eq!(text(90), "1.5 new connections/s");
        assert_eq!(text(60), "1.0 new connections/s");
        assert_eq!(text(59), "59 new connections/min");
        assert_eq!(text(10), "10 new connections/min");
        assert_eq!(text(1), "1 new connections/min");
        let b = budget(10);
        assert!((b.new_connections_per_s - 0.16).abs() < 1e-9, "{b:?}");
        assert_eq!(b.new_connections_per_min, 10);
    }
}
