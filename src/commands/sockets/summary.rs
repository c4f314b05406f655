//! `sockets --summary`: counts by state, TIME_WAIT per destination against the
//! ephemeral-port budget (judged by [`crate::sys::ports`], as `sysctl-advice` judges it), accept
//! queues that are filling, and CLOSE_WAIT sockets piling up in a process (a descriptor
//! leak). Fed one socket at a time by `sockets::run`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use super::proto_name;
use crate::sys::diag::Source;
use crate::sys::fs::Root;
use crate::sys::ports::{self, PortPressure, PortSettings, TimeWaitTally};
use crate::sys::procfs::{self, Owner};
use crate::sys::record::{Proto, SocketRecord, TcpState};
use crate::sys::sysctl;
use crate::units::{count, human, millis};

/// An accept queue this full drops or delays new connections at the next burst.
pub(crate) const ACCEPT_QUEUE_WARN: f64 = 0.8;

/// How long a CLOSE_WAIT socket must have heard nothing from its peer to count as left
/// behind. The peer's FIN moved it to CLOSE_WAIT and is the last thing the peer sends unless
/// the program still writes (the peer's ACKs then arrive), so the time since the last ACK
/// (`tcpi_last_ack_recv`) is a lower bound on the time since the FIN. A program that closes
/// on end of stream leaves CLOSE_WAIT within one turn of its loop; a second is far past that,
/// and it keeps out sockets whose program is still answering a half-closed request.
pub(crate) const CLOSE_WAIT_IDLE: Duration = Duration::from_secs(1);

/// Idle CLOSE_WAIT sockets one process may hold before sockdoc calls it a leak: 10. CLOSE_WAIT
/// has no timer (`tcp_fin()`, net/ipv4/tcp_input.c, only changes the state), so a snapshot
/// cannot date a socket beyond `CLOSE_WAIT_IDLE`; one or two can be a slow request or a pooled
/// connection the server closed, ten idle at once in one process is a pattern. Without
/// tcp_info (/proc/net), every CLOSE_WAIT socket counts.
pub(crate) const CLOSE_WAIT_LEAK: u64 = 10;

/// The share of its open-files limit (soft RLIMIT_NOFILE) at which a process with any idle
/// CLOSE_WAIT socket is flagged whatever their number: 80 %, where the next burst of
/// connections can take the rest and accept() fails with EMFILE.
pub(crate) const FD_LIMIT_WARN_PERCENT: u64 = 80;

/// How many processes the CLOSE_WAIT table lists.
const TOP_CLOSE_WAIT: usize = 10;

/// How many TIME_WAIT destinations the summary lists.
const TOP_DESTINATIONS: usize = 10;

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Sockets per protocol and state, e.g. `{"tcp": {"TIME_WAIT": 3}}`.
    pub by_state: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    /// Every TIME_WAIT socket listed, both directions.
    pub time_wait: u64,
    /// `net.ipv4.ip_local_port_range` as the kernel shows it.
    pub port_range: Option<String>,
    /// Ephemeral ports one (local address, remote address, remote port) can use: the range
    /// minus the ports of `ip_local_reserved_ports` inside it, each counted once.
    pub port_budget: Option<u64>,
    /// The busiest destinations of the TIME_WAIT sockets holding an ephemeral port (local
    /// port inside the range: connections this host opened and closed first), IPv4-mapped
    /// addresses folded into IPv4.
    pub time_wait_destinations: Vec<Destination>,
    /// The port-budget verdict, the same object as `sysctl-advice`'s
    /// `evidence.port_pressure`; null when the range could not be read or no TCP TIME_WAIT
    /// socket was part of the listing (`--udp`, a `--state` without time-wait).
    pub port_pressure: Option<PortPressure>,
    pub accept_queues: Vec<AcceptQueue>,
    /// TCP sockets in CLOSE_WAIT per owning process, most first (at most 10 processes).
    pub close_wait: Vec<CloseWaitOwner>,
    /// Sentences about what needs action; empty when nothing does.
    pub findings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Destination {
    pub local: IpAddr,
    pub remote: IpAddr,
    pub remote_port: u16,
    pub time_wait: u64,
    /// Share of the port budget these TIME_WAIT sockets hold, 0–100.
    pub budget_used_percent: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct AcceptQueue {
    pub local: SocketAddr,
    /// Connections waiting for accept() (a listener's recv_q: `sk_ack_backlog`).
    pub queued: u32,
    /// The effective backlog, min(listen() backlog, somaxconn): `sk_max_ack_backlog`, which
    /// sock_diag reports as a listener's send_q (`tcp_diag_get_info()`, net/ipv4/tcp_diag.c).
    /// Null from /proc/net/tcp, which prints 0 there (`get_tcp4_sock()`).
    pub backlog: Option<u32>,
    /// How many connections the queue holds: backlog + 1, since `sk_acceptq_is_full()`
    /// (include/net/sock.h) is `sk_ack_backlog > sk_max_ack_backlog`.
    pub capacity: Option<u32>,
    /// queued ÷ capacity, in percent.
    pub fill_percent: Option<f64>,
    /// queued > backlog: the queue is full and new SYNs are dropped.
    pub full: Option<bool>,
    pub pid: Option<u32>,
    pub process: Option<String>,
    /// The listener's inode, whose owner `finish` looks up.
    #[serde(skip)]
    inode: u64,
}

/// One process's sockets in CLOSE_WAIT: the peer closed, the program did not.
#[derive(Debug, Clone, Serialize)]
pub struct CloseWaitOwner {
    /// Null when /proc did not name the owner (another user's process without root, or
    /// `--no-processes`).
    pub pid: Option<u32>,
    pub process: Option<String>,
    /// Its TCP sockets in CLOSE_WAIT.
    pub close_wait: u64,
    /// Of those, how many heard nothing from the peer (no ACK, `tcpi_last_ack_recv`) for at
    /// least `idle_threshold_ms`; null without tcp_info (/proc/net).
    pub idle: Option<u64>,
    pub idle_threshold_ms: u64,
    /// The longest such silence: a lower bound on how long that socket has been in CLOSE_WAIT.
    pub longest_idle_ms: Option<u64>,
    /// Descriptors the process has open (entries of /proc/PID/fd); null when unreadable.
    pub open_fds: Option<u64>,
    /// Its soft RLIMIT_NOFILE ("Max open files" in /proc/PID/limits); null when unreadable.
    pub fd_limit: Option<u64>,
    /// open_fds ÷ fd_limit, in percent.
    pub fd_used_percent: Option<f64>,
    /// Whether this is a finding: at least `leak_at` idle sockets (all of them without
    /// tcp_info), or any idle one while the process uses 80 % of its fd limit or more.
    pub leak: bool,
    pub leak_at: u64,
}

/// Folds sockets into a summary as they stream past: memory grows with the number of
/// distinct destinations and listeners, not with the number of sockets.
pub(super) struct SummaryBuilder {
    by_state: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    time_wait: u64,
    port_range: Option<String>,
    /// The port knobs and the TIME_WAIT tally, or why the budget cannot be judged.
    ports: Result<(PortSettings, TimeWaitTally), String>,
    /// Whether TCP TIME_WAIT sockets are part of the listing, so the tally means something.
    judges_ports: bool,
    /// `tcp_tw_reuse_delay`, where this kernel has it.
    tw_reuse_delay_ms: Option<u64>,
    accept_queues: Vec<AcceptQueue>,
    /// Every TCP CLOSE_WAIT socket: its inode and how long its peer has been silent (from
    /// tcp_info), grouped by owner once the owners are known.
    close_wait: Vec<(u64, Option<u32>)>,
}

/// CLOSE_WAIT sockets of one owner, as they stream past.
#[derive(Debug, Default)]
struct CloseWaitTally {
    process: Option<String>,
    count: u64,
    /// Sockets with tcp_info, and how many of them were idle for `CLOSE_WAIT_IDLE`.
    dated: u64,
    idle: u64,
    longest_idle_ms: u64,
}

impl SummaryBuilder {
    /// Reads the port knobs before the listing: the range decides which TIME_WAIT sockets
    /// are kept as they stream past.
    pub(super) fn new(root: &Root, judges_ports: bool) -> Self {
        let [range, reserved, reuse, timestamps] =
            ports::KNOBS.map(|key| sysctl::read_knob(root, key));
        let ports = PortSettings::from_knobs(
            range.value(),
            reserved.value(),
            reuse.value(),
            timestamps.value(),
        )
        .map(|settings| {
            let tally = TimeWaitTally::new(settings.range);
            (settings, tally)
        });
        Self {
            by_state: BTreeMap::new(),
            time_wait: 0,
            port_range: range.value().map(str::to_string),
            ports,
            judges_ports,
            tw_reuse_delay_ms: sysctl::read_knob(root, ports::REUSE_DELAY_KNOB)
                .value()
                .and_then(|v| v.parse().ok()),
            accept_queues: Vec::new(),
            close_wait: Vec::new(),
        }
    }

    /// Counts `sockets` more of `proto` in `state`, counted without being listed; a state
    /// with none is left out, as the listing leaves it out.
    pub(super) fn add_count(&mut self, proto: Proto, state: TcpState, sockets: u64) {
        if sockets == 0 {
            return;
        }
        *self
            .by_state
            .entry(proto_name(proto))
            .or_default()
            .entry(state.name())
            .or_default() += sockets;
    }

    pub(super) fn add(&mut self, record: &SocketRecord) {
        *self
            .by_state
            .entry(proto_name(record.proto))
            .or_default()
            .entry(record.state.name())
            .or_default() += 1;
        if record.state == TcpState::TimeWait {
            self.time_wait += 1;
            if let Ok((_, tally)) = &mut self.ports {
                tally.add(record.local, record.remote);
            }
        }
        if record.proto == Proto::Tcp && record.state == TcpState::Listen && record.recv_q > 0 {
            self.accept_queues.push(AcceptQueue {
                local: record.local,
                queued: record.recv_q,
                // Completed from send_q in finish(), once the source is known.
                backlog: Some(record.send_q),
                capacity: None,
                fill_percent: None,
                full: None,
                pid: None,
                process: None,
                inode: record.inode,
            });
        }
        if record.proto == Proto::Tcp && record.state == TcpState::CloseWait {
            let silent = record.info.and_then(|i| i.last_ack_recv_ms);
            self.close_wait.push((record.inode, silent));
        }
    }

    /// The owners of the sockets the summary names (listeners with a queue, CLOSE_WAIT
    /// sockets): a walk through /proc/PID/fd that stops once it has found them all, so a host
    /// with neither pays nothing.
    fn owners(&self, root: &Root) -> HashMap<u64, Owner> {
        let inodes: HashSet<u64> = self
            .accept_queues
            .iter()
            .map(|q| q.inode)
            .chain(self.close_wait.iter().map(|&(inode, _)| inode))
            .filter(|&inode| inode != 0)
            .collect();
        procfs::socket_owners_for(root, &inodes)
    }

    /// The CLOSE_WAIT sockets per owner pid (None: owner unknown).
    fn close_wait_tallies(
        &self,
        owners: &HashMap<u64, Owner>,
    ) -> HashMap<Option<u32>, CloseWaitTally> {
        let mut tallies: HashMap<Option<u32>, CloseWaitTally> = HashMap::new();
        for &(inode, silent) in &self.close_wait {
            let owner = owners.get(&inode);
            let tally = tallies.entry(owner.map(|o| o.pid)).or_default();
            if tally.process.is_none() {
                tally.process = owner.map(|o| o.process.to_string());
            }
            tally.count += 1;
            if let Some(silent) = silent {
                tally.dated += 1;
                tally.idle += u64::from(u64::from(silent) >= millis(CLOSE_WAIT_IDLE));
                tally.longest_idle_ms = tally.longest_idle_ms.max(u64::from(silent));
            }
        }
        tallies
    }

    /// The summary, and a note when the port budget could not be judged.
    /// `find_owners`: name the processes behind listeners and CLOSE_WAIT sockets (not with
    /// `--no-processes`).
    pub(super) fn finish(
        self,
        source: Source,
        root: &Root,
        find_owners: bool,
    ) -> (Summary, Option<String>) {
        let owners = if find_owners {
            self.owners(root)
        } else {
            HashMap::new()
        };
        let close_wait_tallies = self.close_wait_tallies(&owners);
        let (port_budget, time_wait_destinations, port_pressure, note) = match &self.ports {
            Ok((settings, tally)) => {
                let usable = settings.budget().usable;
                let destinations = tally
                    .top(TOP_DESTINATIONS)
                    .into_iter()
                    .map(|d| Destination {
                        local: d.source_ip,
                        remote: d.destination.ip(),
                        remote_port: d.destination.port(),
                        time_wait: d.time_wait,
                        budget_used_percent: ports::percent(d.time_wait, u64::from(usable)),
                    })
                    .collect();
                let pressure = self.judges_ports.then(|| ports::judge(settings, tally));
                (Some(u64::from(usable)), destinations, pressure, None)
            }
            Err(why) => (
                None,
                Vec::new(),
                None,
                Some(format!("The ephemeral-port budget is not judged: {why}.")),
            ),
        };
        let settings_reuse = self
            .ports
            .as_ref()
            .ok()
            .and_then(|(s, _)| s.tw_reuse.clone());
        let mut accept_queues = self.accept_queues;
        for q in &mut accept_queues {
            complete_accept_queue(q, source);
            if let Some(owner) = owners.get(&q.inode) {
                q.pid = Some(owner.pid);
                q.process = Some(owner.process.to_string());
            }
        }
        accept_queues.sort_by(|a, b| {
            let fill = |q: &AcceptQueue| q.fill_percent.unwrap_or(0.0);
            fill(b).total_cmp(&fill(a))
        });
        let close_wait = close_wait_owners(close_wait_tallies, root);

        let mut findings = Vec::new();
        if let Some(p) = port_pressure
            .as_ref()
            .filter(|p| p.level == ports::Level::Advise)
        {
            let remedy = if p.busiest.is_none() {
                " Reserve only the ports your services listen on."
            } else if settings_reuse.as_deref() == Some("1") {
                " Reuse connections (keep-alive, pooling), let the server close first (its \
                 TIME_WAIT keeps the listening port), or widen net.ipv4.ip_local_port_range."
            } else {
                &format!(
                    " Reuse connections (keep-alive, pooling), let the server close first (its \
                     TIME_WAIT keeps the listening port), or widen \
                     net.ipv4.ip_local_port_range; net.ipv4.tcp_tw_reuse = 1 lets connect() \
                     take a TIME_WAIT socket's port {} when the connection used TCP \
                     timestamps (see `sockdoc sysctl-advice`).",
                    ports::reuse_after_text(self.tw_reuse_delay_ms, false)
                )
            };
            findings.push(format!("{}{remedy}", p.reason));
        }
        findings.extend(accept_queues.iter().filter_map(accept_queue_finding));
        findings.extend(close_wait.iter().filter(|o| o.leak).map(close_wait_finding));
        let summary = Summary {
            by_state: self.by_state,
            time_wait: self.time_wait,
            port_range: self.port_range,
            port_budget,
            time_wait_destinations,
            port_pressure,
            accept_queues,
            close_wait,
            findings,
        };
        (summary, note)
    }
}

/// Fills in capacity and fill from the backlog sock_diag reported; /proc/net/tcp reports no
/// backlog for listeners, so from there both stay unknown.
fn complete_accept_queue(q: &mut AcceptQueue, source: Source) {
    if source == Source::ProcNet {
        q.backlog = None;
        return;
    }
    let Some(backlog) = q.backlog else { return };
    let capacity = backlog.saturating_add(1);
    q.capacity = Some(capacity);
    q.fill_percent = ports::percent(u64::from(q.queued), u64::from(capacity));
    q.full = Some(q.queued > backlog);
}

/// A full or nearly full accept queue, in a sentence; `None` below `ACCEPT_QUEUE_WARN`.
fn accept_queue_finding(q: &AcceptQueue) -> Option<String> {
    let (Some(backlog), Some(capacity), Some(fill)) = (q.backlog, q.capacity, q.fill_percent)
    else {
        return None;
    };
    let limit = format!(
        "backlog {backlog} + 1: sk_acceptq_is_full() in include/net/sock.h is sk_ack_backlog > \
         sk_max_ack_backlog"
    );
    let remedy = "Call accept() promptly (a dedicated accept loop, never blocked by request \
                  work), or raise the listen() backlog and net.core.somaxconn together: the \
                  smaller one wins.";
    let waiting = format!(
        "{} for accept()",
        match q.queued {
            1 => "1 connection waits".to_string(),
            n => format!("{n} connections wait"),
        }
    );
    if q.full == Some(true) {
        Some(format!(
            "The accept queue of {} is full: {waiting}, the most it holds ({limit}). New SYNs are dropped (tcp_conn_request(), net/ipv4/tcp_input.c, \
             counted in TcpExtListenOverflows and ListenDrops) and their clients wait in \
             SYN_SENT, retrying, until accept() makes room. {remedy}",
            q.local
        ))
    } else if fill >= ACCEPT_QUEUE_WARN * 100.0 {
        Some(format!(
            "The accept queue of {} is {fill:.0}% full: {waiting}, of the {capacity} it \
             holds ({limit}); a burst fills it, and then new SYNs are dropped \
             (TcpExtListenOverflows). {remedy}",
            q.local
        ))
    } else {
        None
    }
}

/// Each owner's CLOSE_WAIT tally, with its descriptors against its limit, judged; most
/// sockets first, at most `TOP_CLOSE_WAIT`.
fn close_wait_owners(
    tallies: HashMap<Option<u32>, CloseWaitTally>,
    root: &Root,
) -> Vec<CloseWaitOwner> {
    let mut owners: Vec<CloseWaitOwner> = tallies
        .into_iter()
        .map(|(pid, tally)| {
            let open_fds = pid.and_then(|pid| procfs::open_fds(root, pid));
            let fd_limit = pid.and_then(|pid| procfs::open_files_limit(root, pid));
            let idle = (tally.dated == tally.count).then_some(tally.idle);
            let fd_used_percent = open_fds
                .zip(fd_limit)
                .and_then(|(fds, limit)| ports::percent(fds, limit));
            CloseWaitOwner {
                leak: is_leak(tally.count, idle, open_fds, fd_limit),
                pid,
                process: tally.process,
                close_wait: tally.count,
                idle,
                idle_threshold_ms: millis(CLOSE_WAIT_IDLE),
                longest_idle_ms: (tally.dated > 0).then_some(tally.longest_idle_ms),
                open_fds,
                fd_limit,
                fd_used_percent,
                leak_at: CLOSE_WAIT_LEAK,
            }
        })
        .collect();
    owners.sort_by(|a, b| b.close_wait.cmp(&a.close_wait).then(a.pid.cmp(&b.pid)));
    owners.truncate(TOP_CLOSE_WAIT);
    owners
}

/// The leak rule: `CLOSE_WAIT_LEAK` idle sockets (every socket when none could be dated), or
/// any idle one in a process at `FD_LIMIT_WARN_PERCENT` of its open-files limit.
pub(crate) fn is_leak(
    count: u64,
    idle: Option<u64>,
    open_fds: Option<u64>,
    fd_limit: Option<u64>,
) -> bool {
    let left_behind = idle.unwrap_or(count);
    let near_limit = open_fds
        .zip(fd_limit)
        .is_some_and(|(fds, limit)| fds.saturating_mul(100) >= FD_LIMIT_WARN_PERCENT * limit);
    left_behind >= CLOSE_WAIT_LEAK || (left_behind > 0 && near_limit)
}

/// A process leaking CLOSE_WAIT sockets, in a sentence: the count, the mechanism, the limit
/// it runs into, and the fix.
fn close_wait_finding(o: &CloseWaitOwner) -> String {
    let who = match (&o.process, o.pid) {
        (Some(process), Some(pid)) => format!("{process} (pid {pid}) holds"),
        _ => "Processes this run did not name (/proc/PID/fd unreadable to it, or --no-processes) \
              hold"
            .to_string(),
    };
    let idle = match (o.idle, o.longest_idle_ms) {
        (Some(idle), Some(longest)) => format!(
            ", {idle} of them with no ACK from the peer for at least {} (the longest for \
             {})",
            human(CLOSE_WAIT_IDLE),
            human(Duration::from_millis(longest))
        ),
        _ => " (how long each has waited is unknown: /proc/net/tcp has no tcp_info)".to_string(),
    };
    let fds = match (o.open_fds, o.fd_limit, o.fd_used_percent) {
        (Some(fds), Some(limit), Some(used)) => format!(
            " It has {} open of its limit of {limit} ({used:.1}%, soft \
             RLIMIT_NOFILE); when none is left, accept() and socket() fail with EMFILE \
             (alloc_fd(), fs/file.c).",
            count(fds, "descriptor")
        ),
        _ => " Each holds a descriptor until then; when the process runs out (RLIMIT_NOFILE), \
              accept() and socket() fail with EMFILE (alloc_fd(), fs/file.c)."
            .to_string(),
    };
    format!(
        "{who} {} in CLOSE_WAIT{idle}: their peers closed (the FIN moved \
         them to CLOSE_WAIT: tcp_fin(), net/ipv4/tcp_input.c, which sets no timer) and the \
         program never called close(), which is what moves a socket on (tcp_close_state(), \
         net/ipv4/tcp.c) — a descriptor leak.{fds} Close the socket when read() or recv() \
         returns 0 (end of stream) and on every error path; a connection pool should drop \
         connections whose server has closed them.",
        count(o.close_wait, "TCP socket")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leak_is_ten_idle_sockets_or_any_near_the_fd_limit() {
        // Ten idle CLOSE_WAIT sockets, whatever the limit.
        assert!(is_leak(10, Some(10), Some(30), Some(1_000_000)));
        assert!(!is_leak(10, Some(9), Some(30), Some(1_000_000)));
        // Freshly closed ones are not counted: a busy server has them for a moment.
        assert!(!is_leak(500, Some(0), Some(600), Some(1024)));
        // Without tcp_info every one counts.
        assert!(is_leak(10, None, None, None));
        assert!(!is_leak(9, None, None, None));
        // One idle socket in a process at 80 % of its limit.
        assert!(is_leak(1, Some(1), Some(820), Some(1024)));
        assert!(!is_leak(1, Some(1), Some(810), Some(1024)));
        assert!(!is_leak(3, Some(0), Some(1024), Some(1024)));
    }

    #[test]
    fn one_close_wait_socket_is_counted_in_the_singular() {
        let owner = CloseWaitOwner {
            pid: Some(42),
            process: Some("server".into()),
            close_wait: 1,
            idle: None,
            idle_threshold_ms: 0,
            longest_idle_ms: None,
            open_fds: Some(1000),
            fd_limit: Some(1024),
            fd_used_percent: Some(97.7),
            leak: true,
            leak_at: CLOSE_WAIT_LEAK,
        };
        let finding = close_wait_finding(&owner);
        assert!(
            finding.starts_with("server (pid 42) holds 1 TCP socket in CLOSE_WAIT"),
            "{finding}"
        );
    }

    fn queue(queued: u32, send_q: u32) -> AcceptQueue {
        AcceptQueue {
            local: "127.0.0.1:8080".parse().unwrap(),
            queued,
            backlog: Some(send_q),
            capacity: None,
            fill_percent: None,
            full: None,
            pid: None,
            process: None,
            inode: 0,
        }
    }

    #[test]
    fn the_accept_queue_holds_its_backlog_plus_one() {
        let judged = |queued, send_q, source| {
            let mut q = queue(queued, send_q);
            complete_accept_queue(&mut q, source);
            q
        };
        // listen(0): one connection fills it.
        let q = judged(1, 0, Source::SockDiag);
        assert_eq!(
            (q.capacity, q.fill_percent, q.full),
            (Some(1), Some(100.0), Some(true))
        );
        let finding = accept_queue_finding(&q).unwrap();
        assert!(
            finding.contains("is full: 1 connection waits for accept(),"),
            "{finding}"
        );
        // listen(1) with two queued: full, not 200 %.
        let q = judged(2, 1, Source::SockDiag);
        assert_eq!(
            (q.capacity, q.fill_percent, q.full),
            (Some(2), Some(100.0), Some(true))
        );
        // 4 of 5: filling, a finding, not full.
        let q = judged(4, 4, Source::SockDiag);
        assert_eq!((q.fill_percent, q.full), (Some(80.0), Some(false)));
        let finding = accept_queue_finding(&q).unwrap();
        assert!(
            finding.contains("80% full: 4 connections wait for accept(), of the 5"),
            "{finding}"
        );
        // 1 of 129: nothing to say.
        assert!(accept_queue_finding(&judged(1, 128, Source::SockDiag)).is_none());
        // /proc/net/tcp's 0 is not a backlog.
        let q = judged(1, 0, Source::ProcNet);
        assert_eq!((q.backlog, q.capacity, q.full), (None, None, None));
        assert!(accept_queue_finding(&q).is_none());
    }
}
