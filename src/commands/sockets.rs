//! `sockdoc sockets`: TCP and UDP sockets from NETLINK_SOCK_DIAG (or /proc/net), streamed
//! row by row to a renderer so memory stays flat however many sockets there are, or folded
//! into a summary: counts by state, TIME_WAIT per destination against the ephemeral-port
//! budget (judged by [`crate::ports`], as `sysctl-advice` judges it), and accept queues that
//! are filling.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use super::Context;
use crate::cli::{SocketsArgs, StateFilter};
use crate::exit::Exit;
use crate::ports::{self, PortPressure, PortSettings, TimeWaitTally};
use crate::sys::diag::{self, Proto, Query, SocketRecord, Source, TcpState, Timer};
use crate::sys::procfs::{self, Owner};
use crate::sys::sysctl;

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
    /// The contract's exit code: 1 when the summary has findings, else 0.
    pub exit_code: u8,
}

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
    let root = Path::new("/");
    let judges_ports =
        protos.contains(&Proto::Tcp) && states(Proto::Tcp) & TcpState::TimeWait.mask() != 0;
    let mut summary = args
        .summary
        .then(|| SummaryBuilder::new(root, judges_ports));
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
    let summary = summary.map(|builder| {
        let (summary, note) = builder.finish();
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
struct SummaryBuilder {
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
}

impl SummaryBuilder {
    /// Reads the port knobs before the listing: the range decides which TIME_WAIT sockets
    /// are kept as they stream past.
    fn new(root: &Path, judges_ports: bool) -> Self {
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
        }
    }

    fn add(&mut self, record: &SocketRecord, owner: Option<&Owner>) {
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
                backlog: record.send_q,
                fill_percent: ports::percent(u64::from(record.recv_q), u64::from(record.send_q))
                    .unwrap_or(0.0),
                pid: owner.map(|o| o.pid),
                process: owner.map(|o| o.process.clone()),
            });
        }
    }

    /// The summary, and a note when the port budget could not be judged.
    fn finish(self) -> (Summary, Option<String>) {
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
        accept_queues.sort_by(|a, b| b.fill_percent.total_cmp(&a.fill_percent));

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
        let summary = Summary {
            by_state: self.by_state,
            time_wait: self.time_wait,
            port_range: self.port_range,
            port_budget,
            time_wait_destinations,
            port_pressure,
            accept_queues,
            findings,
        };
        (summary, note)
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
        assert_eq!(state_mask(&[], false)(Proto::Tcp), Query::ALL_STATES);
    }
}
