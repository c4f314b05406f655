//! One examined socket as the report carries it: the kernel's record, who holds it, its
//! options, and what changed during the sampling window.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;

use super::Options;
use super::gather::{Before, Hold};
use crate::sys::netns;
use crate::sys::procfs::{self, ProcessSockets};
use crate::sys::record::{DiagFlags, MemInfo, Proto, Shutdown, SocketRecord, TcpState, Timer};
use crate::units::millis;

#[derive(Debug, Clone, Serialize)]
pub struct SocketView {
    /// The holder with the lowest pid (its descriptor `fd`); null when none was found.
    pub pid: Option<u32>,
    pub process: Option<Arc<str>>,
    pub fd: Option<i32>,
    /// Other processes holding the same socket (inherited across fork, or passed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_holders: Vec<OtherHolder>,
    pub proto: Proto,
    pub state: TcpState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Bytes not yet read / not yet acknowledged; for a listener, connections waiting for
    /// accept() (recv_q) and its backlog (send_q).
    pub recv_q: u32,
    pub send_q: u32,
    /// A listener's backlog (sk_max_ack_backlog, reported as idiag_wqueue).
    pub backlog: Option<u32>,
    pub timer: Option<Timer>,
    pub timer_left_ms: Option<u64>,
    pub tcp: Option<TcpView>,
    pub memory: Option<MemInfo>,
    pub flags: Option<DiagFlags>,
    pub shutdown: Option<Shutdown>,
    pub v6only: Option<bool>,
    pub options: Options,
    /// Why `options` are null: the privilege or ptrace policy that refused, or no holder.
    pub options_unknown_reason: Option<Arc<str>>,
    /// What changed between the two samples; null with one snapshot or for a new socket.
    pub during: Option<During>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OtherHolder {
    pub pid: u32,
    pub process: Arc<str>,
    pub fd: i32,
}

/// tcp_info as sock_diag reports it (INET_DIAG_INFO); null fields are ones this kernel's
/// struct is too short to hold.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct TcpView {
    pub rtt_us: Option<u32>,
    pub rto_us: Option<u32>,
    pub snd_cwnd: Option<u32>,
    pub snd_mss: Option<u32>,
    pub total_retrans: Option<u32>,
    pub bytes_acked: Option<u64>,
    pub bytes_received: Option<u64>,
    pub data_segs_out: Option<u32>,
    pub data_segs_in: Option<u32>,
    pub last_data_recv_ms: Option<u32>,
    pub last_data_sent_ms: Option<u32>,
    pub last_ack_recv_ms: Option<u32>,
    pub probes: Option<u8>,
    pub backoff: Option<u8>,
    pub unacked: Option<u32>,
    pub snd_wnd_bytes: Option<u32>,
}

/// Changes during the sampling window.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct During {
    pub retransmits: Option<u32>,
    pub data_segs_out: Option<u32>,
    pub bytes_acked: Option<u64>,
    pub bytes_received: Option<u64>,
    /// Datagrams or packets dropped on receive (sk_drops).
    pub drops: Option<u32>,
    /// The queues at the first sample.
    pub recv_q_before: u32,
    pub send_q_before: u32,
    /// The state was the same at both samples.
    pub same_state: bool,
}

impl During {
    pub(super) fn between(before: &Before, after: &SocketRecord) -> Self {
        let info = after.info.unwrap_or_default();
        let d32 = |a: Option<u32>, b: Option<u32>| Some(a?.wrapping_sub(b?));
        let d64 = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
        Self {
            retransmits: d32(info.total_retrans, before.total_retrans),
            data_segs_out: d32(info.data_segs_out, before.data_segs_out),
            bytes_acked: d64(info.bytes_acked, before.bytes_acked),
            bytes_received: d64(info.bytes_received, before.bytes_received),
            drops: d32(after.memory.and_then(|m| m.drops), before.drops),
            recv_q_before: before.recv_q,
            send_q_before: before.send_q,
            same_state: before.state == after.state,
        }
    }
}

impl SocketView {
    pub(super) fn new(record: &SocketRecord, holds: &[Hold]) -> Self {
        let first = holds.first();
        let listening = record.proto == Proto::Tcp && record.state == TcpState::Listen;
        Self {
            pid: first.map(|h| h.pid),
            process: first.map(|h| Arc::clone(&h.process)),
            fd: first.map(|h| h.fd),
            other_holders: holds
                .iter()
                .skip(1)
                .map(|h| OtherHolder {
                    pid: h.pid,
                    process: Arc::clone(&h.process),
                    fd: h.fd,
                })
                .collect(),
            proto: record.proto,
            state: record.state,
            local: record.local,
            remote: record.remote,
            recv_q: record.recv_q,
            send_q: record.send_q,
            // Only sock_diag reports it (INET_DIAG_SHUTDOWN marks its full sockets); /proc/net
            // shows 0 there.
            backlog: (listening && record.shutdown.is_some()).then_some(record.send_q),
            timer: record.timer,
            timer_left_ms: record.expires.map(millis),
            tcp: (record.state != TcpState::Listen)
                .then_some(record.info)
                .flatten()
                .map(|i| TcpView {
                    rtt_us: i.rtt_us,
                    rto_us: i.rto_us,
                    snd_cwnd: i.snd_cwnd,
                    snd_mss: i.snd_mss,
                    total_retrans: i.total_retrans,
                    bytes_acked: i.bytes_acked,
                    bytes_received: i.bytes_received,
                    data_segs_out: i.data_segs_out,
                    data_segs_in: i.data_segs_in,
                    last_data_recv_ms: i.last_data_recv_ms,
                    last_data_sent_ms: i.last_data_sent_ms,
                    last_ack_recv_ms: i.last_ack_recv_ms,
                    probes: i.probes,
                    backoff: i.backoff,
                    unacked: i.unacked,
                    snd_wnd_bytes: i.snd_wnd,
                }),
            memory: record.memory,
            flags: record.flags,
            shutdown: record.shutdown,
            v6only: record.v6only,
            options: Options::default(),
            options_unknown_reason: None,
            during: None,
        }
    }

    /// `nginx (pid 12)`, or "an unknown process" when no holder was found: for a finding
    /// about several sockets of the process.
    pub fn process_text(&self) -> String {
        match (&self.process, self.pid) {
            (Some(process), Some(pid)) => format!("{process} (pid {pid})"),
            _ => "an unknown process".to_owned(),
        }
    }

    /// `nginx (pid 12, fd 6)`, or "an unknown process" when no holder was found.
    pub fn holder_text(&self) -> String {
        match (&self.process, self.pid) {
            (Some(process), Some(pid)) => match self.fd {
                Some(fd) => format!("{process} (pid {pid}, fd {fd})"),
                None => format!("{process} (pid {pid})"),
            },
            _ => "an unknown process".to_owned(),
        }
    }
}

/// One process holding examined sockets.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessView {
    pub pid: u32,
    pub process: Arc<str>,
    /// Its network namespace, `net:[INODE]`; null when /proc/PID/ns/net is unreadable.
    pub netns: Option<String>,
    /// Open descriptors, and its soft RLIMIT_NOFILE (/proc/PID/limits).
    pub fds: Option<u64>,
    pub fd_limit: Option<u64>,
    pub sockets: u64,
    pub by_state: BTreeMap<&'static str, u64>,
    /// Sockets whose options were read through pidfd_getfd.
    pub options_read: u64,
    /// Why options could not be read (the privilege or ptrace policy), or null.
    pub options_unknown_reason: Option<String>,
    /// /proc/PID/fd could not be listed: its sockets cannot be told apart from others'.
    pub descriptors_unreadable: bool,
}

/// A listening socket, as a per-listener summary.
#[derive(Debug, Clone, Serialize)]
pub struct ListenerView {
    pub pid: Option<u32>,
    pub process: Option<Arc<str>>,
    pub local: SocketAddr,
    /// listen()'s backlog as the kernel keeps it (sk_max_ack_backlog), and the connections
    /// waiting for accept() now.
    pub backlog: Option<u32>,
    pub queued: u32,
    pub reuseaddr: Option<bool>,
    pub reuseport: Option<bool>,
}

/// What one process's examined sockets add up to, counted as they are examined.
#[derive(Debug, Default)]
pub(super) struct ProcessTally {
    sockets: u64,
    by_state: BTreeMap<&'static str, u64>,
    read: u64,
    unknown: Option<Arc<str>>,
}

impl ProcessTally {
    pub fn add(&mut self, s: &SocketView) {
        self.sockets += 1;
        *self.by_state.entry(s.state.name()).or_insert(0) += 1;
        match &s.options_unknown_reason {
            None => self.read += 1,
            Some(reason) => {
                self.unknown.get_or_insert_with(|| Arc::clone(reason));
            }
        }
    }
}

/// The processes holding examined sockets, and every target even without one.
pub(super) fn process_views(
    walked: &[ProcessSockets],
    tallies: &HashMap<u32, ProcessTally>,
    targets: &[u32],
    root: &crate::sys::fs::Root,
) -> Vec<ProcessView> {
    let empty = ProcessTally::default();
    walked
        .iter()
        .filter(|p| targets.contains(&p.pid) || tallies.contains_key(&p.pid))
        .map(|p| {
            let tally = tallies.get(&p.pid).unwrap_or(&empty);
            ProcessView {
                pid: p.pid,
                process: Arc::clone(&p.process),
                netns: netns::of_process(p.pid).ok().map(|id| id.to_string()),
                fds: procfs::open_fds(root, p.pid),
                fd_limit: procfs::open_files_limit(root, p.pid),
                sockets: tally.sockets,
                by_state: tally.by_state.clone(),
                options_read: tally.read,
                options_unknown_reason: tally.unknown.as_deref().map(str::to_owned),
                descriptors_unreadable: p.refused,
            }
        })
        .collect()
}

pub(super) fn listener_views(sockets: &[SocketView]) -> Vec<ListenerView> {
    sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.state == TcpState::Listen)
        .map(|s| ListenerView {
            pid: s.pid,
            process: s.process.clone(),
            local: s.local,
            backlog: s.backlog,
            queued: s.recv_q,
            reuseaddr: s.options.reuseaddr,
            reuseport: s.options.reuseport,
        })
        .collect()
}
