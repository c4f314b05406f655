//! What `inspect` reads: the namespace's sockets from sock_diag (tcp_info and memory
//! included), its protocol counters, which process holds each socket (/proc/PID/fd), and —
//! where ptrace access allows — each held socket's options through a pidfd_getfd duplicate.
//! Nothing here judges.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sys::diag::{self, Listing, Query};
use crate::sys::fs::Root;
use crate::sys::pidfd::{self, Unreadable};
use crate::sys::procfs::{self, ProcessSockets};
use crate::sys::record::{Proto, SocketRecord, TcpState};
use crate::sys::sockopt::{Opt, SocketKind, Value};
use crate::sys::{SysError, sysctl};

use super::Options;

/// One reading of the namespace: its protocol counters, and how the sockets (every TCP and
/// UDP socket, on one port when the target is a port) were listed; the sockets themselves go
/// to the visitor as they are parsed.
pub(super) struct Snapshot {
    pub counters: BTreeMap<String, u64>,
    pub listing: Listing,
    pub taken: Instant,
}

pub(super) fn snapshot(
    root: &Root,
    port: Option<u16>,
    mut visit: impl FnMut(SocketRecord),
) -> Result<Snapshot, SysError> {
    let mut listing = None;
    for proto in [Proto::Tcp, Proto::Udp] {
        let query = Query {
            local_port: port,
            with_info: true,
            with_memory: true,
            ..Query::all(proto)
        };
        let found = diag::for_each(&query, &mut visit)?;
        listing.get_or_insert(found);
    }
    let counters = procfs::read_netstat(root)?;
    Ok(Snapshot {
        counters,
        listing: listing.expect("two listings were taken"),
        taken: Instant::now(),
    })
}

/// The first snapshot's figures for one socket, to turn the second's into changes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Before {
    pub total_retrans: Option<u32>,
    pub data_segs_out: Option<u32>,
    pub bytes_acked: Option<u64>,
    pub bytes_received: Option<u64>,
    pub drops: Option<u32>,
    pub recv_q: u32,
    pub send_q: u32,
    pub state: TcpState,
}

impl Before {
    pub fn of(r: &SocketRecord) -> Self {
        let info = r.info.unwrap_or_default();
        Self {
            total_retrans: info.total_retrans,
            data_segs_out: info.data_segs_out,
            bytes_acked: info.bytes_acked,
            bytes_received: info.bytes_received,
            drops: r.memory.and_then(|m| m.drops),
            recv_q: r.recv_q,
            send_q: r.send_q,
            state: r.state,
        }
    }
}

/// A descriptor holding a socket: which process, which number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hold {
    pub pid: u32,
    pub process: Arc<str>,
    pub fd: i32,
}

/// Every holder of every socket inode the walked processes hold, lowest pid (then lowest
/// descriptor) first.
pub(super) fn holders(processes: &[ProcessSockets]) -> HashMap<u64, Vec<Hold>> {
    let mut map: HashMap<u64, Vec<Hold>> = HashMap::new();
    for process in processes {
        for socket in &process.sockets {
            // A socket dup()ed within one process is one holder, at its lowest descriptor
            // (the list is in descriptor order).
            let holds = map.entry(socket.inode).or_default();
            if holds.iter().any(|h| h.pid == process.pid) {
                continue;
            }
            holds.push(Hold {
                pid: process.pid,
                process: Arc::clone(&process.process),
                fd: socket.fd,
            });
        }
    }
    map
}

/// Reads options of other processes' sockets, one pidfd per process, remembering a process
/// that refused so its other sockets are not asked again.
#[derive(Default)]
pub(super) struct OptionReader {
    opened: HashMap<u32, Result<pidfd::Process, Arc<str>>>,
    /// Duplicates taken and closed: each is dropped before the next is made.
    pub duplicated: u64,
}

/// The options `inspect` judges on a TCP socket; a UDP socket gets those that apply to it.
const TCP_OPTIONS: [Opt; 13] = pidfd::READABLE_TCP;

impl OptionReader {
    /// The options of descriptor `fd` of `pid`, or why they cannot be read.
    pub fn read(&mut self, pid: u32, fd: i32, record: &SocketRecord) -> Result<Options, Arc<str>> {
        let process = self
            .opened
            .entry(pid)
            .or_insert_with(|| pidfd::Process::open(pid).map_err(|why| Arc::from(why.to_string())));
        let process = match process {
            Ok(process) => process,
            Err(why) => return Err(Arc::clone(why)),
        };
        let duplicate = match process.socket(fd) {
            Ok(duplicate) => duplicate,
            Err(why) => {
                let text: Arc<str> = why.to_string().into();
                // Every other socket of this process would be refused the same way.
                if matches!(why, Unreadable::Denied(_) | Unreadable::Gone) {
                    self.opened.insert(pid, Err(Arc::clone(&text)));
                }
                return Err(text);
            }
        };
        self.duplicated += 1;
        let kind = SocketKind {
            udp: record.proto == Proto::Udp,
            ipv6: record.local.is_ipv6(),
        };
        let mut options = Options::default();
        for opt in TCP_OPTIONS.into_iter().filter(|opt| opt.applies_to(kind)) {
            if let Ok(value) = duplicate.get(opt, kind.ipv6) {
                options.set(opt, &value);
            }
        }
        // `duplicate` closes here, before the next socket is duplicated.
        Ok(options)
    }
}

impl Options {
    fn set(&mut self, opt: Opt, value: &Value) {
        let flag = match value {
            Value::Bool(on) => Some(*on),
            _ => None,
        };
        let seconds = |value: &Value| match value {
            Value::Duration(Some(d)) => Some(d.as_secs()),
            _ => None,
        };
        match opt {
            Opt::ReuseAddr => self.reuseaddr = flag,
            Opt::ReusePort => self.reuseport = flag,
            Opt::NoDelay => self.nodelay = flag,
            Opt::Cork => self.cork = flag,
            Opt::KeepAlive => self.keepalive = flag,
            Opt::Nonblocking => self.nonblocking = flag,
            Opt::Linger => {
                if let Value::Duration(linger) = value {
                    self.linger_on = Some(linger.is_some());
                    self.linger_s = linger.map(|d| d.as_secs());
                }
            }
            Opt::KeepIdle => self.keepalive_idle_s = seconds(value),
            Opt::KeepInterval => self.keepalive_interval_s = seconds(value),
            Opt::KeepCount => {
                if let Value::Count(n) = value {
                    self.keepalive_count = u32::try_from(*n).ok();
                }
            }
            Opt::UserTimeout => {
                if let Value::Duration(timeout) = value {
                    self.user_timeout_ms = Some(timeout.map_or(0, crate::units::millis));
                }
            }
            Opt::RcvBuf => {
                if let Value::Bytes(n) = value {
                    self.rcvbuf_bytes = Some(*n);
                }
            }
            Opt::SndBuf => {
                if let Value::Bytes(n) = value {
                    self.sndbuf_bytes = Some(*n);
                }
            }
            _ => {}
        }
    }
}

/// The namespace's settings the rules compare against.
#[derive(Debug, Clone, Default)]
pub(super) struct Knobs {
    pub somaxconn: Option<u64>,
    pub keepalive_time_s: Option<u64>,
    pub port_range: Option<String>,
    pub reserved_ports: Option<String>,
    pub tw_reuse: Option<String>,
    pub timestamps: Option<String>,
}

pub(super) fn knobs(root: &Root) -> Knobs {
    let text = |key: &str| sysctl::read_knob(root, key).value().map(str::to_owned);
    Knobs {
        somaxconn: sysctl::read_number(root, "net.core.somaxconn"),
        keepalive_time_s: sysctl::read_number(root, "net.ipv4.tcp_keepalive_time"),
        port_range: text("net.ipv4.ip_local_port_range"),
        reserved_ports: text("net.ipv4.ip_local_reserved_ports"),
        tw_reuse: text("net.ipv4.tcp_tw_reuse"),
        timestamps: text("net.ipv4.tcp_timestamps"),
    }
}

/// A counter's change between two snapshots; `None` when either lacks it.
pub(super) fn counter_delta(before: &Snapshot, after: &Snapshot, key: &str) -> Option<u64> {
    Some(
        after
            .counters
            .get(key)?
            .saturating_sub(*before.counters.get(key)?),
    )
}

/// How long apart the snapshots really were.
pub(super) fn window(before: &Snapshot, after: &Snapshot) -> Duration {
    after.taken.saturating_duration_since(before.taken)
}
