//! `sockdoc sockets`: TCP and UDP sockets from NETLINK_SOCK_DIAG (or /proc/net), streamed
//! row by row to a renderer so memory stays flat however many sockets there are, or folded
//! into a summary: counts by state, TIME_WAIT per destination against the ephemeral-port
//! budget, and accept queues that are filling.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use super::Context;
use crate::cli::{SocketsArgs, StateFilter};
use crate::exit::Exit;
use crate::sys::diag::{self, Proto, Query, SocketRecord, Source, TcpState, Timer};
use crate::sys::procfs::{self, Owner};

/// A destination whose TIME_WAIT count reaches this share of the port budget is close to
/// running out of ephemeral ports: connect() will soon fail with EADDRNOTAVAIL.
const PORT_BUDGET_WARN: f64 = 0.8;

/// An accept queue this full drops or delays new connections at the next burst.
const ACCEPT_QUEUE_WARN: f64 = 0.8;

/// How many TIME_WAIT destinations the summary lists.
const TOP_DESTINATIONS: usize = 10;

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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<InfoRow>,
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
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Sockets per protocol and state, e.g. `{"tcp": {"TIME_WAIT": 3}}`.
    pub by_state: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    pub time_wait: u64,
    /// `net.ipv4.ip_local_port_range` as the kernel shows it.
    pub port_range: Option<String>,
    /// Ephemeral ports one (local address, remote address, remote port) can use: the range
    /// minus `ip_local_reserved_ports`.
    pub port_budget: Option<u64>,
    pub time_wait_destinations: Vec<Destination>,
    pub accept_queues: Vec<AcceptQueue>,
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
    /// Connections waiting for accept() (a listener's recv_q).
    pub queued: u32,
    /// The effective backlog, min(listen() backlog, somaxconn) (a listener's send_q).
    pub backlog: u32,
    pub fill_percent: f64,
    pub pid: Option<u32>,
    pub process: Option<String>,
}

/// Where rows go: a renderer that writes each one as it arrives.
pub trait Sink {
    fn socket(&mut self, row: &SocketRow<'_>) -> io::Result<()>;
    fn finish(&mut self, footer: &Footer) -> io::Result<()>;
    /// The listing failed after the sink may have started writing: end what it started,
    /// carrying the error (JSON), or leave the error to stderr (tables).
    fn fail(&mut self, error: &str, exit: Exit) -> io::Result<()>;
}

pub fn run(args: &SocketsArgs, _ctx: &Context, sink: &mut dyn Sink) -> anyhow::Result<Exit> {
    let states = state_mask(&args.state, args.listening);
    let protos: &[Proto] = match (args.tcp, args.udp) {
        (true, false) => &[Proto::Tcp],
        (false, true) => &[Proto::Udp],
        _ => &[Proto::Tcp, Proto::Udp],
    };
    // Built on the first socket that has an owner to find: a TIME_WAIT-only listing (inode
    // 0 throughout) never pays for the walk through every /proc/PID/fd.
    let mut owners: Option<HashMap<u64, Owner>> = None;
    let mut summary = args.summary.then(SummaryBuilder::default);
    let mut count = 0_u64;
    let mut source = Source::SockDiag;
    let mut notes = Vec::new();
    let mut write_error = None;
    for &proto in protos {
        let query = Query {
            ipv4: !args.ipv6,
            ipv6: !args.ipv4,
            states: states(proto),
            with_info: args.info,
            ..Query::all(proto)
        };
        let listing = diag::for_each(&query, |record| {
            if write_error.is_some() || !port_matches(&record, args.port) {
                return;
            }
            count += 1;
            let owner = if record.inode == 0 || args.no_processes {
                None
            } else {
                owners
                    .get_or_insert_with(|| procfs::socket_owners(Path::new("/")))
                    .get(&record.inode)
            };
            match &mut summary {
                Some(builder) => builder.add(&record, owner),
                None => {
                    if let Err(error) = sink.socket(&row(&record, owner)) {
                        write_error = Some(error);
                    }
                }
            }
        })
        .with_context(|| format!("listing {} sockets", proto_name(proto)))?;
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
    let summary = summary.map(|builder| builder.finish(Path::new("/")));
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
    }) {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(exit),
    }
}

/// The idiag_states mask for each protocol. UDP sockets are CLOSE (unconnected) or
/// ESTABLISHED (connected) to the kernel; "listening" UDP means unconnected, as in ss.
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
            return Query::ALL_STATES;
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

fn proto_name(proto: Proto) -> &'static str {
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
        process: owner.map(|o| o.process.as_str()),
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

/// Folds sockets into a summary as they stream past: memory grows with the number of
/// distinct destinations and listeners, not with the number of sockets.
#[derive(Default)]
struct SummaryBuilder {
    by_state: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    time_wait: u64,
    destinations: HashMap<(IpAddr, IpAddr, u16), u64>,
    accept_queues: Vec<AcceptQueue>,
}

impl SummaryBuilder {
    fn add(&mut self, record: &SocketRecord, owner: Option<&Owner>) {
        *self
            .by_state
            .entry(proto_name(record.proto))
            .or_default()
            .entry(record.state.name())
            .or_default() += 1;
        if record.state == TcpState::TimeWait {
            self.time_wait += 1;
            *self
                .destinations
                .entry((record.local.ip(), record.remote.ip(), record.remote.port()))
                .or_default() += 1;
        }
        if record.proto == Proto::Tcp && record.state == TcpState::Listen && record.recv_q > 0 {
            self.accept_queues.push(AcceptQueue {
                local: record.local,
                queued: record.recv_q,
                backlog: record.send_q,
                fill_percent: percent(u64::from(record.recv_q), u64::from(record.send_q)),
                pid: owner.map(|o| o.pid),
                process: owner.map(|o| o.process.clone()),
            });
        }
    }

    fn finish(self, root: &Path) -> Summary {
        let port_range = procfs::read_sysctl(root, "net.ipv4.ip_local_port_range")
            .ok()
            .flatten();
        let reserved = procfs::read_sysctl(root, "net.ipv4.ip_local_reserved_ports")
            .ok()
            .flatten();
        let port_budget = port_range
            .as_deref()
            .and_then(|range| port_budget(range, reserved.as_deref().unwrap_or("")));
        let mut destinations: Vec<Destination> = self
            .destinations
            .into_iter()
            .map(|((local, remote, remote_port), time_wait)| Destination {
                local,
                remote,
                remote_port,
                time_wait,
                budget_used_percent: port_budget.map(|b| percent(time_wait, b)),
            })
            .collect();
        destinations.sort_by(|a, b| b.time_wait.cmp(&a.time_wait).then(a.remote.cmp(&b.remote)));
        destinations.truncate(TOP_DESTINATIONS);
        let mut accept_queues = self.accept_queues;
        accept_queues.sort_by(|a, b| b.fill_percent.total_cmp(&a.fill_percent));

        let mut findings = Vec::new();
        for d in &destinations {
            if d.budget_used_percent
                .is_some_and(|p| p >= PORT_BUDGET_WARN * 100.0)
            {
                findings.push(format!(
                    "{} TIME_WAIT sockets from {} to {}:{} hold {:.0}% of the {} ephemeral ports: \
                     new connections there will soon fail with EADDRNOTAVAIL. Reuse connections \
                     (keep-alive, pooling), let the server close first, or widen \
                     net.ipv4.ip_local_port_range; net.ipv4.tcp_tw_reuse=1 helps outgoing \
                     connections with TCP timestamps.",
                    d.time_wait,
                    d.local,
                    d.remote,
                    d.remote_port,
                    d.budget_used_percent.unwrap_or(0.0),
                    port_budget.unwrap_or(0)
                ));
            }
        }
        for q in &accept_queues {
            if q.fill_percent >= ACCEPT_QUEUE_WARN * 100.0 {
                findings.push(format!(
                    "The accept queue of {} holds {} of {} connections: the application is not \
                     calling accept() fast enough, and once full the kernel drops new handshakes \
                     (ListenOverflows). Accept faster, or raise the listen() backlog and \
                     net.core.somaxconn.",
                    q.local, q.queued, q.backlog
                ));
            }
        }
        Summary {
            by_state: self.by_state,
            time_wait: self.time_wait,
            port_range,
            port_budget,
            time_wait_destinations: destinations,
            accept_queues,
            findings,
        }
    }
}

/// Ports in `ip_local_port_range` ("32768 60999") minus the reserved ones inside it
/// ("8080,9000-9010").
fn port_budget(range: &str, reserved: &str) -> Option<u64> {
    let mut bounds = range.split_whitespace().map(str::parse::<u32>);
    let (low, high) = (bounds.next()?.ok()?, bounds.next()?.ok()?);
    if low > high {
        return None;
    }
    let mut reserved_inside = 0_u64;
    for item in reserved.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (a, b) = item.split_once('-').unwrap_or((item, item));
        let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) else {
            continue;
        };
        let (a, b) = (a.max(low), b.min(high));
        if a <= b {
            reserved_inside += u64::from(b - a + 1);
        }
    }
    Some(u64::from(high - low + 1).saturating_sub(reserved_inside))
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_budget_subtracts_reserved_ports_inside_the_range() {
        assert_eq!(port_budget("32768 60999", ""), Some(28_232));
        assert_eq!(
            port_budget("40000 40009", "40000,40005-40006,50000"),
            Some(7)
        );
        assert_eq!(port_budget("40000\t40009", "1-65535"), Some(0));
        assert_eq!(port_budget("garbage", ""), None);
        assert_eq!(port_budget("5 1", ""), None);
    }

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
        assert_eq!(state_mask(&[], false)(Proto::Tcp), Query::ALL_STATES);
    }
}
