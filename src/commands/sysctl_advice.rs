//! `sockdoc sysctl-advice`: the TIME_WAIT, port, backlog and Nagle sysctls judged against
//! the running kernel (features detected by the presence of their files, never by version)
//! and its live counters, the folklore called out, and a lint of the files
//! `sysctl --system` reads. Read-only: nothing here writes under /proc/sys.
//!
//! Every judgement cites Documentation/networking/ip-sysctl.rst
//! (<https://docs.kernel.org/networking/ip-sysctl.html>) or the kernel source it rests on.
//!
//! Layout: this file holds the report and the run; knobs.rs the registry of judged knobs,
//! whose judgements live one file per concern (time_wait.rs, tw_reuse.rs, local_ports.rs,
//! backlog.rs, nagle.rs) on the shared judge.rs; live.rs reads the kernel's side; era.rs
//! dates it; lint.rs and values.rs judge the config files; conf.rs the snippet's advice.

mod backlog;
mod conf;
pub mod era;
mod judge;
mod knobs;
mod lint;
mod live;
mod local_ports;
mod nagle;
mod time_wait;
mod tw_reuse;
mod values;

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

pub use self::conf::{ApplyCommand, ConfAdvice, SNIPPET_NAME};
use self::era::KernelEra;
use self::judge::Judge;
use self::live::Live;
use super::Context;
use crate::commands::args::{Role, SysctlAdviceArgs};
use crate::exit::Exit;
use crate::sys::diag::Source;
use crate::sys::fs::Root;
use crate::sys::ports::{Destination, PortPressure};
use crate::sys::sysctl::{self, ConfigFile, FileStatus, Key};

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct SysctlReport {
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
}

pub use super::severity::Level;

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub key: Key,
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
    /// The command that measures this advice on this kernel in a throwaway namespace
    /// (`sockdoc prove KNOB`), for the knobs that have an experiment.
    pub prove: Option<String>,
    /// The kernel document section (or source) the advice rests on.
    pub source: &'static str,
    /// The config line that sets this key last, in `sysctl --system` order; null when no
    /// file sets it.
    pub configured: Option<ConfigRef>,
    /// Whether the value was judged, or why not, as a stable name.
    pub state: FindingState,
}

/// Whether a finding judges the knob's value, or why it cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingState {
    /// The value (or the knob's absence, for a removed knob) was judged.
    Judged,
    /// Not on this kernel, or not visible in this network namespace.
    Absent,
    /// The knob exists but could not be read.
    Unreadable,
    /// The text is not what the kernel documents for the knob.
    UnexpectedValue,
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
    pub status: FileState,
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
    /// What is wrong, as a stable name.
    pub kind: ProblemKind,
    pub problem: String,
}

/// What `sysctl --system` does with a config file, as a stable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum FileState {
    Read,
    /// A symlink to /dev/null.
    Masked,
    /// A same-named file in an earlier directory wins.
    Shadowed,
    /// A symlink to a file read later.
    SameFile,
    /// Permission denied to a user other than root; `sysctl --system` runs as root and
    /// applies it.
    NeedsRoot,
    Unreadable,
}

/// What is wrong with a config line (or file), as a stable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ProblemKind {
    /// The kernel refuses the write.
    InvalidValue,
    /// The kernel takes part of it.
    PartlyRead,
    NotApplied,
    DiffersInNetns,
    Overridden,
    NoSuchKey,
    /// No such key, with a leading '-'.
    AbsentIgnored,
    InlineComment,
    #[serde(rename = "reuse-2-meaning")]
    #[strum(serialize = "reuse-2-meaning")]
    Reuse2Meaning,
    Glob,
    NotCompared,
    Malformed,
    NeedsRoot,
    Unreadable,
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
        unprivileged_start: lint::unprivileged_start(&live, &files),
    };
    let config = lint::lint(root, &files, &netns, &reading);
    for f in &mut findings {
        f.configured = lint::configured(&files, f.key, f.current.as_deref(), &reading);
    }
    let conf = ConfAdvice::new(&findings);
    // Judged on the whole text above; shown capped from here on.
    for f in &mut findings {
        f.current = f.current.as_deref().map(echo);
    }
    let config_files = files.iter().map(lint::file_entry).collect();

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

/// A root without proc/sys/net cannot be judged at all (exit 3): passing it would let a
/// typo in CI pass. (One that is not a directory was refused before the command ran.)
fn check_root(root: &Root) -> anyhow::Result<()> {
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
pub(super) fn echo_quoted(text: &str) -> String {
    format!("{:?}", echo(text))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
