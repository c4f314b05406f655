//! `sockdoc sockets`: TCP and UDP sockets from NETLINK_SOCK_DIAG (or /proc/net), streamed
//! row by row to a renderer so memory stays flat however many sockets there are, or folded
//! into a summary: counts by state, TIME_WAIT per destination against the ephemeral-port
//! budget (judged by [`crate::sys::ports`], as `sysctl-advice` judges it), accept queues that
//! are filling, and CLOSE_WAIT sockets piling up in a process (a descriptor leak).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;

use anyhow::Context as _;
use serde::Serialize;

pub(crate) mod summary;

use summary::SummaryBuilder;
pub use summary::{AcceptQueue, CloseWaitOwner, Destination, Summary};

use super::Context;
use crate::commands::args::{SocketsArgs, StateFilter};
use crate::exit::Exit;
use crate::sys::diag::{self, Query, Source};
use crate::sys::fs::Root;
use crate::sys::procfs::{self, Owner};
use crate::sys::record::{Proto, SocketRecord, TcpState, Timer};
use crate::sys::sysctl;

/// One socket as rendered: the contract's fields, and tcp_info when asked for.
#[derive(Debug, Serialize)]
pub struct SocketRow<'a> {
    pub proto: Proto,
    pub state: TcpState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub recv_q: u32,
    pub send_q: u32,
    pub timer: Option<&'static str>,
    pub expires_ms: Option<u64>,
    /// The owner; null where the kernel reports none (TIME_WAIT, and request sockets in
    /// sock_diag), whose uid field holds a 0 that does not mean root (`SocketRecord::uid`).
    pub uid: Option<u32>,
    pub inode: u64,
    pub pid: Option<u32>,
    pub process: Option<&'a str>,
    /// The other processes holding the same socket (fork, fd passing), in pid order; left
    /// out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_holders: Vec<HolderRow<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<InfoRow>,
}

/// Another process holding a listed socket.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct HolderRow<'a> {
    pub pid: u32,
    pub process: &'a str,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct InfoRow {
    pub rtt_us: Option<u32>,
    pub rttvar_us: Option<u32>,
    pub cwnd: Option<u32>,
    pub mss: Option<u32>,
    pub retransmits: Option<u32>,
    /// Bytes per second.
    pub delivery_rate: Option<u64>,
}

/// What comes after the rows: where they came from, how many, and the summary.
#[derive(Debug, Serialize)]
pub struct Footer {
    pub count: u64,
    pub source: Source,
    pub notes: Vec<String>,
    pub summary: Option<Summary>,
    /// The contract's exit code: 1 when the summary has findings, else 0.
    pub exit_code: u8,
}

/// Where each listed socket goes: into the summary, or to the sink as a row.
struct Rows<'a> {
    summary: Option<SummaryBuilder>,
    sink: &'a mut dyn Sink,
    /// The first write that failed; the listing stops adding rows after it.
    write_error: Option<io::Error>,
}

impl Rows<'_> {
    fn add(&mut self, record: &SocketRecord, owner: Option<&Owner>) {
        if self.write_error.is_some() {
            return;
        }
        match &mut self.summary {
            Some(builder) => builder.add(record),
            None => {
                if let Err(error) = self.sink.socket(&row(record, owner)) {
                    self.write_error = Some(error);
                }
            }
        }
    }
}

/// The owners of the listed sockets. Finding them walks every /proc/PID/fd, the largest
/// cost of a listing, so the walk starts only at the first socket that has an inode (a
/// TIME_WAIT-only listing never pays for it) and runs on its own threads while the kernel's
/// dump goes on; the sockets listed meanwhile wait for it, in order.
struct Owners {
    root: Root,
    state: Walk,
    waiting: Vec<SocketRecord>,
}

enum Walk {
    /// `--no-processes`.
    Off,
    NotStarted,
    Running(std::thread::JoinHandle<HashMap<u64, Owner>>),
    Done(HashMap<u64, Owner>),
}

impl Owners {
    fn new(root: &Root, wanted: bool) -> Self {
        Self {
            root: root.clone(),
            state: if wanted { Walk::NotStarted } else { Walk::Off },
            waiting: Vec::new(),
        }
    }

    /// Hands `record` on with its owner, now or once the walk is done.
    fn offer(&mut self, record: SocketRecord, rows: &mut Rows<'_>) {
        match &self.state {
            Walk::Off => rows.add(&record, None),
            Walk::NotStarted if record.inode == 0 => rows.add(&record, None),
            Walk::NotStarted => {
                let root = self.root.clone();
                self.state =
                    Walk::Running(std::thread::spawn(move || procfs::socket_owners(&root)));
                self.waiting.push(record);
            }
            Walk::Running(_) => self.waiting.push(record),
            // No socket has inode 0, so a TIME_WAIT or request socket finds no owner.
            Walk::Done(owners) => rows.add(&record, owners.get(&record.inode)),
        }
    }

    /// Waits for a running walk and hands on the sockets that waited for it.
    fn settle(&mut self, rows: &mut Rows<'_>) {
        self.state = match std::mem::replace(&mut self.state, Walk::Off) {
            // A walk that panicked found no owners; the rows still go out.
            Walk::Running(walk) => Walk::Done(walk.join().unwrap_or_default()),
            other => other,
        };
        for record in std::mem::take(&mut self.waiting) {
            self.offer(record, rows);
        }
    }
}

/// Where rows go: a renderer that writes each one as it arrives.
pub trait Sink {
    fn socket(&mut self, row: &SocketRow<'_>) -> io::Result<()>;
    fn finish(&mut self, footer: &Footer) -> io::Result<()>;
    /// The listing failed after the sink may have started writing: end what it started,
    /// carrying the error (JSON), or leave the error to stderr (tables).
    fn fail(&mut self, error: &str, exit: Exit) -> io::Result<()>;
}

pub fn run(args: &SocketsArgs, ctx: &Context, sink: &mut dyn Sink) -> anyhow::Result<Exit> {
    let states = state_mask(&args.state, args.listening);
    let protos = protocols(args);
    let root = &ctx.root;
    let judges_ports =
        protos.contains(&Proto::Tcp) && states(Proto::Tcp) & TcpState::TimeWait.mask() != 0;
    let mut out = Rows {
        summary: args
            .summary
            .then(|| SummaryBuilder::new(root, judges_ports)),
        sink,
        write_error: None,
    };
    // The summary names owners itself, for the few sockets it reports.
    let mut owners = Owners::new(root, !args.no_processes && !args.summary);
    let established = counted_established(args, root, states(Proto::Tcp));
    // For the count of ESTABLISHED: the full TCP sockets listed in the other states. sock_diag
    // reports a uid only for full sockets (`SocketRecord::uid`); /proc also prints one for a
    // SYN_RECV request (the listener's), which has no inode, so those are set aside.
    let (mut full_sockets_listed, mut uid_without_inode_syn_recv) = (0_u64, 0_u64);
    let mut count = 0_u64;
    let mut source = Source::SockDiag;
    let mut notes = Vec::new();
    for (proto, states, with_info) in requests(args, &states, established.is_some()) {
        let query = Query {
            ipv4: !args.ipv6,
            ipv6: !args.ipv4,
            states,
            with_info,
            ..Query::all(proto)
        };
        let listing = diag::for_each(&query, |record| {
            if out.write_error.is_some() || !port_matches(&record, args.port) {
                return;
            }
            count += 1;
            if proto == Proto::Tcp && record.uid.is_some() {
                full_sockets_listed += 1;
                uid_without_inode_syn_recv +=
                    u64::from(record.state == TcpState::SynRecv && record.inode == 0);
            }
            owners.offer(record, &mut out);
        })
        .with_context(|| format!("listing {} sockets", proto_name(proto)))?;
        owners.settle(&mut out);
        let write_error = out.write_error.take();
        if let Some(error) = write_error {
            // The reader closed the pipe (`| head`): it has what it wanted.
            if error.kind() == io::ErrorKind::BrokenPipe {
                return Ok(Exit::Clean);
            }
            return Err(error.into());
        }
        if listing.source == Source::ProcNet {
            source = Source::ProcNet;
        }
        if let Some(reason) = listing.fallback_reason {
            notes.push(reason);
        }
    }
    if args.info && source == Source::ProcNet {
        notes.push("/proc/net has no tcp_info: --info needs NETLINK_SOCK_DIAG.".into());
    }
    if !args.no_processes && !nix::unistd::geteuid().is_root() {
        notes.push(
            "Processes of other users are not visible to this user; run as root to see every owner."
                .into(),
        );
    }
    if let (Some(in_use), Some(builder)) = (established, &mut out.summary) {
        // Every full TCP socket the kernel hashes, less those listed in the other states.
        if source == Source::ProcNet {
            full_sockets_listed -= uid_without_inode_syn_recv;
        }
        let connections = in_use.saturating_sub(full_sockets_listed);
        builder.add_count(Proto::Tcp, TcpState::Established, connections);
        count += connections;
        notes.push(
            "ESTABLISHED is counted, not listed: the TCP sockets in use (/proc/net/sockstat, \
             sockstat6) less the full sockets listed in the other states; on a busy host it \
             can differ by the connections opened or closed during the run."
                .into(),
        );
    }
    let sink = out.sink;
    let summary = out.summary.map(|builder| {
        let (summary, note) = builder.finish(source, root, !args.no_processes);
        notes.extend(note);
        summary
    });
    let exit = if summary.as_ref().is_some_and(|s| !s.findings.is_empty()) {
        Exit::Finding
    } else {
        Exit::Clean
    };
    match sink.finish(&Footer {
        count,
        source,
        notes,
        summary,
        exit_code: exit.code(),
    }) {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(exit),
    }
}

/// The idiag_states mask for each protocol. UDP sockets are CLOSE (unconnected) or
/// ESTABLISHED (connected) to the kernel; "listening" UDP means unconnected, as in ss.
/// `--listening` never comes with `--state`: clap rejects the pair as a usage error, since
/// either reading of it (the union, or an intersection that is empty for most states) would
/// surprise someone.
/// What `--summary` counts of ESTABLISHED without listing them: the TCP sockets in use, read
/// from sockstat, when the summary covers every ESTABLISHED socket of the families asked (no
/// `--port`). A dump of 100,000 connections costs the kernel ~100 ms; one that skips them, a
/// walk that emits nothing for them. `None`: list them.
fn counted_established(args: &SocketsArgs, root: &Root, tcp_states: u32) -> Option<u64> {
    let wanted = args.summary
        && args.port.is_none()
        && protocols(args).contains(&Proto::Tcp)
        && tcp_states & TcpState::Established.mask() != 0;
    wanted
        .then(|| sysctl::tcp_sockets_in_use(root, !args.ipv6, !args.ipv4).ok())
        .flatten()
}

/// The dumps to ask the kernel for: (protocol, states, with tcp_info). The summary dates
/// CLOSE_WAIT sockets with tcp_info. With ESTABLISHED counted, one request skips them and
/// takes tcp_info for the few full sockets left (listeners, closing connections): every
/// request is another walk of the whole connection table. With them listed, tcp_info for all
/// of them would cost more than that walk, so CLOSE_WAIT comes in a request of its own.
fn requests(
    args: &SocketsArgs,
    states: &impl Fn(Proto) -> u32,
    established_counted: bool,
) -> Vec<(Proto, u32, bool)> {
    let mut requests = Vec::new();
    for &proto in protocols(args) {
        let mask = states(proto);
        if !args.summary || proto == Proto::Udp {
            requests.push((proto, mask, args.info));
        } else if established_counted {
            requests.push((proto, mask & !TcpState::Established.mask(), true));
        } else {
            let close_wait = mask & TcpState::CloseWait.mask();
            if close_wait != 0 {
                requests.push((proto, close_wait, true));
            }
            if mask & !close_wait != 0 {
                requests.push((proto, mask & !close_wait, false));
            }
        }
    }
    requests
}

/// `--tcp`, `--udp`, or both (neither flag).
fn protocols(args: &SocketsArgs) -> &'static [Proto] {
    match (args.tcp, args.udp) {
        (true, false) => &[Proto::Tcp],
        (false, true) => &[Proto::Udp],
        _ => &[Proto::Tcp, Proto::Udp],
    }
}

fn state_mask(filters: &[StateFilter], listening: bool) -> impl Fn(Proto) -> u32 {
    let mut mask = 0_u32;
    for filter in filters {
        mask |= filter_mask(*filter);
    }
    if listening {
        mask |= TcpState::Listen.mask();
    }
    let explicit = mask != 0;
    move |proto| {
        if !explicit {
            // Bound-only TCP sockets cost the dump a walk of the whole bind hash (bhash2),
            // which the kernel makes only when the request carries the BOUND_INACTIVE bit
            // (`inet_diag_dump_icsk()`, net/ipv4/inet_diag.c); they are listed when a filter
            // names them.
            return Query::ALL_STATES & !TcpState::BoundInactive.mask();
        }
        // A UDP socket "listens" when it is unconnected.
        if proto == Proto::Udp && listening {
            mask | TcpState::Close.mask()
        } else {
            mask
        }
    }
}

fn filter_mask(filter: StateFilter) -> u32 {
    let one = |state: TcpState| state.mask();
    let connected = Query::ALL_STATES
        & !one(TcpState::Listen)
        & !one(TcpState::Close)
        & !one(TcpState::BoundInactive);
    match filter {
        StateFilter::Established => one(TcpState::Established),
        StateFilter::SynSent => one(TcpState::SynSent),
        StateFilter::SynRecv => one(TcpState::SynRecv),
        StateFilter::FinWait1 => one(TcpState::FinWait1),
        StateFilter::FinWait2 => one(TcpState::FinWait2),
        StateFilter::TimeWait => one(TcpState::TimeWait),
        // Bound-only TCP sockets are dumped for the BOUND_INACTIVE bit and reported as CLOSE.
        StateFilter::Close => one(TcpState::Close) | one(TcpState::BoundInactive),
        StateFilter::CloseWait => one(TcpState::CloseWait),
        StateFilter::LastAck => one(TcpState::LastAck),
        StateFilter::Listen => one(TcpState::Listen),
        StateFilter::Closing => one(TcpState::Closing),
        StateFilter::NewSynRecv => one(TcpState::NewSynRecv),
        StateFilter::Connected => connected,
        StateFilter::Synchronized => connected & !one(TcpState::SynSent) & !one(TcpState::SynRecv),
        StateFilter::All => Query::ALL_STATES,
    }
}

fn has_connection(state: TcpState) -> bool {
    !matches!(
        state,
        TcpState::Listen | TcpState::Close | TcpState::TimeWait
    )
}

fn port_matches(record: &SocketRecord, port: Option<u16>) -> bool {
    port.is_none_or(|p| record.local.port() == p || record.remote.port() == p)
}

pub(super) fn proto_name(proto: Proto) -> &'static str {
    match proto {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    }
}

fn row<'a>(record: &SocketRecord, owner: Option<&'a Owner>) -> SocketRow<'a> {
    SocketRow {
        proto: record.proto,
        state: record.state,
        local: record.local,
        remote: record.remote,
        recv_q: record.recv_q,
        send_q: record.send_q,
        timer: record.timer.map(Timer::name),
        expires_ms: record
            .expires
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        uid: record.uid,
        inode: record.inode,
        pid: owner.map(|o| o.pid),
        process: owner.map(|o| &*o.process),
        other_holders: owner.map_or_else(Vec::new, |o| {
            o.others
                .iter()
                .map(|h| HolderRow {
                    pid: h.pid,
                    process: &h.process,
                })
                .collect()
        }),
        // A listener's or a closed socket's tcp_info holds no connection to speak of.
        info: record
            .info
            .filter(|_| has_connection(record.state))
            .map(|i| InfoRow {
                rtt_us: i.rtt_us,
                rttvar_us: i.rttvar_us,
                cwnd: i.snd_cwnd,
                mss: i.snd_mss,
                retransmits: i.total_retrans,
                delivery_rate: i.delivery_rate,
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_expand_like_ss() {
        let connected = filter_mask(StateFilter::Connected);
        assert_eq!(connected & TcpState::Listen.mask(), 0);
        assert_ne!(connected & TcpState::TimeWait.mask(), 0);
        let synchronized = filter_mask(StateFilter::Synchronized);
        assert_eq!(synchronized & TcpState::SynSent.mask(), 0);
        assert_ne!(synchronized & TcpState::Established.mask(), 0);
        let listening_udp = state_mask(&[], true)(Proto::Udp);
        assert_ne!(listening_udp & TcpState::Close.mask(), 0);
        assert_eq!(
            state_mask(&[], false)(Proto::Tcp),
            Query::ALL_STATES & !TcpState::BoundInactive.mask()
        );
        for named in [StateFilter::Close, StateFilter::All] {
            assert_ne!(
                state_mask(&[named], false)(Proto::Tcp) & TcpState::BoundInactive.mask(),
                0
            );
        }
    }
}
