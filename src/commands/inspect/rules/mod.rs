//! The rules `inspect` judges live sockets by. Each is the mechanism one of sockdoc's lessons
//! reproduces; each finding carries its evidence (the figures read), the mechanism (with the
//! kernel function that implements it), the fix, and the lesson that shows it on this kernel.
//! A rule that needs the options of a socket whose options could not be read says "not
//! judged" rather than guessing.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

mod connections;
mod listeners;

use super::gather::Knobs;
use super::{Counters, Finding, FindingId, NotJudged, ProcessView, SocketView};
use crate::commands::severity::Level;
use crate::sys::ports::{PortSettings, TimeWaitTally};
use crate::sys::record::{Proto, SocketRecord, TcpState, Timer};

/// The idle timeout of common middleboxes that forget idle flows without telling either end:
/// 350 s for AWS's Network Load Balancer (TCP, default) and NAT gateway (fixed); Azure's load
/// balancer and NAT gateway default to 240 s, GCP Cloud NAT to 1200 s. A connection whose first
/// keepalive probe comes later than this dies silently behind such a box.
const MIDDLEBOX_IDLE: Duration = Duration::from_secs(350);

/// How long a connection must have carried no data either way before `idle-no-keepalive`
/// judges it: a minute of silence shows a connection that sits idle (a pooled or long-lived
/// one); shorter gaps are a busy connection between requests.
const IDLE_NOTICE: Duration = Duration::from_secs(60);

/// Data segments a connection must have sent before its average segment size says anything
/// about how the program writes.
const NAGLE_MIN_SEGMENTS: u32 = 20;

/// Bytes per data segment below this share of the MSS mean the program writes small pieces.
const SMALL_SEGMENT_SHARE: f64 = 0.5;

/// Retransmitted segments, as a share of the data segments sent during the window, at which
/// a connection is losing packets: on a healthy path (loopback, a LAN) it stays near 0 (a
/// few are spurious: tail-loss probes, reordering), and
/// above 1 % throughput drops visibly: each loss cuts the congestion window (CUBIC to
/// 717/1024, `beta` in net/ipv4/tcp_cubic.c; Reno to half).
const RETRANS_WARN_SHARE: f64 = 0.01;

/// Retransmissions during the window below which one connection's share is noise.
const RETRANS_MIN: u32 = 3;

/// A receive buffer this full (bytes held against the effective sk_rcvbuf) leaves the sender
/// almost no window: the reader is not keeping up.
const SLOW_READER_FILL: f64 = 0.9;

/// The TIME_WAIT tally for `port-budget`, and TIME_WAIT per local port for
/// `listener-no-reuseaddr`'s evidence.
pub(super) struct PortTally {
    settings: Option<PortSettings>,
    tally: Option<TimeWaitTally>,
    by_local_port: HashMap<u16, u64>,
}

impl PortTally {
    pub fn new(knobs: &Knobs) -> Self {
        let settings = PortSettings::from_knobs(
            knobs.port_range.as_deref(),
            knobs.reserved_ports.as_deref(),
            knobs.tw_reuse.as_deref(),
            knobs.timestamps.as_deref(),
        )
        .ok();
        Self {
            tally: settings.as_ref().map(|s| TimeWaitTally::new(s.range)),
            settings,
            by_local_port: HashMap::new(),
        }
    }

    pub fn add(&mut self, record: &SocketRecord) {
        *self.by_local_port.entry(record.local.port()).or_default() += 1;
        if let Some(tally) = &mut self.tally {
            tally.add(record.local, record.remote);
        }
    }

    /// The `limit` destinations whose TIME_WAIT holds the most ephemeral ports, with the
    /// share of the budget each holds.
    pub fn top(&self, limit: usize) -> Vec<super::PortUse> {
        let (Some(settings), Some(tally)) = (&self.settings, &self.tally) else {
            return Vec::new();
        };
        let usable = f64::from(settings.budget().usable.max(1));
        tally
            .top(limit)
            .into_iter()
            .map(|d| super::PortUse {
                destination: d.destination.to_string(),
                source_ip: d.source_ip.to_string(),
                time_wait: d.time_wait,
                used_ratio: d.time_wait as f64 / usable,
            })
            .collect()
    }

    fn time_wait_on(&self, port: u16) -> u64 {
        self.by_local_port.get(&port).copied().unwrap_or(0)
    }
}

/// Everything the rules look at.
pub(super) struct Exam<'a> {
    pub sockets: &'a [SocketView],
    pub processes: &'a [ProcessView],
    pub knobs: &'a Knobs,
    pub counters: &'a Counters,
    /// The time between the two samples; `None` for one snapshot.
    pub window: Option<Duration>,
    pub tally: &'a PortTally,
    /// The whole namespace was examined (namespace-wide findings apply).
    pub host: bool,
    /// Option rules that could not judge sockets (counted as they were examined).
    pub not_judged: &'a [NotJudged],
}

#[derive(Default)]
struct Verdicts {
    findings: Vec<Finding>,
    not_judged: Vec<NotJudged>,
}

pub(super) fn judge(exam: &Exam) -> (Vec<Finding>, Vec<NotJudged>) {
    let mut v = Verdicts::default();
    listeners::judge(exam, &mut v);
    connections::close_wait(exam, &mut v);
    connections::per_process_options(exam, &mut v);
    connections::stuck_and_slow(exam, &mut v);
    connections::retransmits(exam, &mut v);
    connections::bound_ports(exam, &mut v);
    connections::fd_pressure(exam, &mut v);
    if exam.host {
        connections::port_budget(exam, &mut v);
    }
    let mut not_judged = v.not_judged;
    not_judged.extend(exam.not_judged.iter().cloned());
    (v.findings, merged(not_judged))
}

/// One "not judged" line per rule, holder and reason, however many sockets it covers.
fn merged(entries: Vec<NotJudged>) -> Vec<NotJudged> {
    let mut merged: Vec<NotJudged> = Vec::new();
    for entry in entries {
        match merged
            .iter_mut()
            .find(|m| m.id == entry.id && m.pid == entry.pid && m.reason == entry.reason)
        {
            Some(same) => same.sockets += entry.sockets,
            None => merged.push(entry),
        }
    }
    merged
}

fn finding(id: FindingId, severity: Level, about: Option<&SocketView>) -> Finding {
    Finding {
        id,
        severity,
        pid: about.and_then(|s| s.pid),
        process: about.and_then(|s| s.process.clone()),
        local: about.map(|s| s.local.to_string()),
        sockets: 1,
        evidence: String::new(),
        mechanism: String::new(),
        fix: String::new(),
        reproduce: None,
    }
}

// ---------------------------------------------------------------------------------------
// Options: Nagle, linger, keepalive, user timeout
// ---------------------------------------------------------------------------------------

/// Groups a per-socket verdict by holder: one finding per process and rule.
struct Group<'a> {
    example: &'a SocketView,
    sockets: u64,
    detail: String,
}

fn grouped<'a>(
    exam: &'a Exam,
    needs_options: bool,
    mut judge: impl FnMut(&'a SocketView) -> Option<String>,
) -> Vec<Group<'a>> {
    let mut groups: BTreeMap<Option<u32>, Group> = BTreeMap::new();
    for s in exam.sockets {
        // Counted as "not judged" when it was examined (`NotJudgedTally`).
        if needs_options && s.options_unknown_reason.is_some() {
            continue;
        }
        if let Some(detail) = judge(s) {
            let group = groups.entry(s.pid).or_insert(Group {
                example: s,
                sockets: 0,
                detail,
            });
            group.sockets += 1;
        }
    }
    groups.into_values().collect()
}

/// The rules that need a socket's options, counted per holder for sockets whose options
/// could not be read, as each socket is examined (most such sockets are not kept).
#[derive(Default)]
pub(super) struct NotJudgedTally {
    entries: Vec<NotJudged>,
}

impl NotJudgedTally {
    pub fn add(&mut self, s: &SocketView) {
        let Some(reason) = &s.options_unknown_reason else {
            return;
        };
        for id in [
            FindingId::NagleSmallWrites,
            FindingId::LingerZero,
            FindingId::IdleNoKeepalive,
            FindingId::NoUserTimeout,
        ] {
            if !judge_without_options(id, s) {
                continue;
            }
            match self
                .entries
                .iter_mut()
                .find(|e| e.id == id && e.pid == s.pid && *e.reason == **reason)
            {
                Some(entry) => entry.sockets += 1,
                None => self.entries.push(NotJudged {
                    id,
                    pid: s.pid,
                    process: s.process.clone(),
                    sockets: 1,
                    reason: reason.to_string(),
                }),
            }
        }
    }

    pub fn into_entries(self) -> Vec<NotJudged> {
        self.entries
    }
}

/// Whether any rule could use this socket. The examination keeps only these (unless the
/// output lists every socket), so its memory does not grow with the sockets nothing is wrong
/// with.
pub(super) fn relevant(s: &SocketView, knobs: &Knobs, sampled: bool) -> bool {
    use connections as c;
    let tcp = s.proto == Proto::Tcp;
    (tcp && matches!(s.state, TcpState::Listen | TcpState::CloseWait))
        || c::bound_detail(s).is_some()
        || c::stuck_detail(s, sampled).is_some()
        || c::slow_reader(s, sampled).is_some()
        || c::retransmits_detail(s).is_some()
        || (s.options_unknown_reason.is_none()
            && (c::nagle_detail(s).is_some()
                || c::linger_detail(s).is_some()
                || c::keepalive_detail(s, knobs.keepalive_time_s).is_some()
                || c::user_timeout_detail(s).is_some()))
}

/// Whether a socket whose options are unknown is one the rule would have looked at.
fn judge_without_options(id: FindingId, s: &SocketView) -> bool {
    let established = s.proto == Proto::Tcp && s.state == TcpState::Established;
    match id {
        FindingId::NagleSmallWrites => established && small_writes(s).is_some(),
        FindingId::LingerZero => s.proto == Proto::Tcp && s.pid.is_some(),
        FindingId::IdleNoKeepalive => established && idle_for(s).is_some(),
        FindingId::NoUserTimeout => established && backing_off(s),
        _ => false,
    }
}

fn not_judged(v: &mut Verdicts, id: FindingId, s: &SocketView) {
    v.not_judged.push(NotJudged {
        id,
        pid: s.pid,
        process: s.process.clone(),
        sockets: 1,
        reason: s
            .options_unknown_reason
            .as_deref()
            .unwrap_or("the options could not be read")
            .to_owned(),
    });
}

/// Average bytes per data segment when far below the MSS, on a connection that sent enough
/// to tell.
fn small_writes(s: &SocketView) -> Option<(u64, u32)> {
    let t = s.tcp?;
    let (segs, acked, mss) = (t.data_segs_out?, t.bytes_acked?, t.snd_mss?);
    let received = t.bytes_received? > 0;
    if segs < NAGLE_MIN_SEGMENTS || !received || mss == 0 {
        return None;
    }
    let average = acked / u64::from(segs);
    ((average as f64) < f64::from(mss) * SMALL_SEGMENT_SHARE).then_some((average, mss))
}

fn idle_for(s: &SocketView) -> Option<Duration> {
    let t = s.tcp?;
    let idle = t.last_data_recv_ms?.min(t.last_data_sent_ms?);
    let idle = Duration::from_millis(u64::from(idle));
    (idle >= IDLE_NOTICE).then_some(idle)
}

fn backing_off(s: &SocketView) -> bool {
    s.send_q > 0 && s.timer == Some(Timer::Retransmit) && s.tcp.and_then(|t| t.backoff) > Some(0)
}

impl Group<'_> {
    /// "nginx (pid 12) has 3 connections WHAT (e.g. …)": the evidence of a per-socket rule,
    /// one finding per process.
    fn evidence(&self, verb: &str, noun: &str, what: &str) -> String {
        format!(
            "{} {verb} {} {what} ({}).",
            self.example.process_text(),
            crate::units::count(self.sockets, noun),
            self.detail
        )
    }
}

fn group_finding(id: FindingId, severity: Level, g: &Group) -> Finding {
    let mut f = finding(id, severity, Some(g.example));
    f.local = None;
    f.sockets = g.sockets;
    f
}
