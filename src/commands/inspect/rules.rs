//! The rules `inspect` judges live sockets by. Each is the mechanism one of sockdoc's lessons
//! reproduces; each finding carries its evidence (the figures read), the mechanism (with the
//! kernel function that implements it), the fix, and the lesson that shows it on this kernel.
//! A rule that needs the options of a socket whose options could not be read says "not
//! judged" rather than guessing.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::gather::Knobs;
use super::{Counters, Finding, FindingId, NotJudged, ProcessView, SocketView};
use crate::commands::severity::Level;
use crate::commands::sockets::summary::{
    ACCEPT_QUEUE_WARN, CLOSE_WAIT_IDLE, CLOSE_WAIT_LEAK, FD_LIMIT_WARN_PERCENT, is_leak,
};
use crate::sys::ports::{self, PortSettings, TimeWaitTally};
use crate::sys::record::{Proto, SocketRecord, TcpState, Timer};
use crate::units::{count, human, human_size, millis};

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
/// a connection is losing packets: on a healthy path (loopback, a LAN) the share is 0, and
/// above 1 % TCP's throughput drops visibly (each loss halves the window of Reno/CUBIC).
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
}

#[derive(Default)]
struct Verdicts {
    findings: Vec<Finding>,
    not_judged: Vec<NotJudged>,
}

pub(super) fn judge(exam: &Exam) -> (Vec<Finding>, Vec<NotJudged>) {
    let mut v = Verdicts::default();
    listeners(exam, &mut v);
    close_wait(exam, &mut v);
    per_process_options(exam, &mut v);
    stuck_and_slow(exam, &mut v);
    retransmits(exam, &mut v);
    bound_ports(exam, &mut v);
    fd_pressure(exam, &mut v);
    if exam.host {
        port_budget(exam, &mut v);
    }
    (v.findings, v.not_judged)
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
// Listeners: restart, accept queue
// ---------------------------------------------------------------------------------------

fn listeners(exam: &Exam, v: &mut Verdicts) {
    let somaxconn = exam.knobs.somaxconn;
    let overflowed = exam.counters.listen_overflows.filter(|&n| n > 0);
    let mut blamed_overflow = false;
    for s in exam.sockets {
        if s.proto != Proto::Tcp || s.state != TcpState::Listen {
            continue;
        }
        restart(exam, s, v);
        let Some(backlog) = s.backlog else { continue };
        if let Some(max) = somaxconn
            && u64::from(backlog) < max
        {
            v.findings.push(small_backlog(s, backlog, max));
        }
        let capacity = u64::from(backlog) + 1;
        let fill = u64::from(s.recv_q) as f64 / capacity as f64;
        let full = s.recv_q > backlog;
        if full || fill >= ACCEPT_QUEUE_WARN || (overflowed.is_some() && s.recv_q > 0) {
            blamed_overflow = true;
            v.findings
                .push(overflowing(s, backlog, capacity, full, fill, overflowed));
        }
    }
    if let Some(n) = overflowed
        && !blamed_overflow
        && exam.host
    {
        let mut f = finding(FindingId::AcceptQueueOverflow, Level::Warn, None);
        f.sockets = 0;
        f.evidence = format!(
            "TcpExt.ListenOverflows rose by {n} during the {} window, but no listener's queue \
             was full at the samples: a burst filled one in between.",
            human(exam.window.unwrap_or_default())
        );
        f.mechanism = OVERFLOW_MECHANISM.to_owned();
        f.fix = OVERFLOW_FIX.to_owned();
        f.reproduce = Some("sockdoc backlog".to_owned());
        v.findings.push(f);
    }
}

const OVERFLOW_MECHANISM: &str = "A listener's accept queue holds its backlog + 1 \
     connections (sk_acceptq_is_full(), include/net/sock.h: sk_ack_backlog > \
     sk_max_ack_backlog). When it is full, tcp_conn_request() (net/ipv4/tcp_input.c) drops \
     new SYNs and counts TcpExt.ListenOverflows; their clients wait in SYN_SENT and retry \
     after 1 s, 2 s, 4 s… (tcp_syn_retries): a connect() that takes seconds.";

const OVERFLOW_FIX: &str = "Call accept() promptly (a dedicated accept loop never blocked by \
     request work, or more acceptors), and raise the listen() backlog and net.core.somaxconn \
     together: the kernel uses the smaller (__sys_listen_socket(), net/socket.c).";

fn restart(exam: &Exam, s: &SocketView, v: &mut Verdicts) {
    let (Some(reuseaddr), Some(reuseport)) = (s.options.reuseaddr, s.options.reuseport) else {
        not_judged(v, FindingId::ListenerNoReuseaddr, s);
        return;
    };
    if reuseaddr || reuseport {
        return;
    }
    let port = s.local.port();
    let mut f = finding(FindingId::ListenerNoReuseaddr, Level::Warn, Some(s));
    f.evidence = format!(
        "The listener on {}, held by {}, has SO_REUSEADDR off and SO_REUSEPORT off; {} on \
         port {port} now.",
        s.local,
        s.holder_text(),
        count(exam.tally.time_wait_on(port), "TIME_WAIT socket"),
    );
    f.mechanism = format!(
        "Every connection this server closes first — including those the kernel closes when the \
         process exits — waits in TIME_WAIT on port {port} for 60 s (TCP_TIMEWAIT_LEN, \
         include/net/tcp.h), and inherits the listener's SO_REUSEADDR (off). A restarted \
         server's bind() to port {port} fails with EADDRINUSE while any of them exists: a \
         TIME_WAIT socket yields its port only when it and the new socket both carry \
         SO_REUSEADDR (inet_bind_conflict(), net/ipv4/inet_connection_sock.c) — so even a fixed \
         new version is blocked by this one's connections."
    );
    f.fix = "Set SO_REUSEADDR on the listening socket before bind() (Rust std's \
             TcpListener::bind, Go, Python's socketserver with allow_reuse_address and nginx \
             already do; a raw socket2 or libc socket does not)."
        .to_owned();
    f.reproduce = Some(format!("sockdoc reuse-test {port}"));
    v.findings.push(f);
}

/// Libraries whose default backlog is exactly `backlog`, from their source (read):
/// rust-lang/rust library/std/src/sys/net/connection/socket/mod.rs (TcpListener::bind: 128
/// on Linux), tokio-rs/mio src/net/tcp/listener.rs (128 since mio 1.2.0, commit a87e41ec;
/// 1024 before 1.1), CPython Modules/socketmodule.c sock_listen (min(SOMAXCONN, 128)), CPython
/// Lib/asyncio/base_events.py create_server (100), Node lib/net.js (511), nginx
/// src/os/unix/ngx_linux_config.h NGX_LISTEN_BACKLOG (511), OpenJDK ServerSocket (50),
/// CPython Lib/socketserver.py TCPServer.request_queue_size (5).
fn usual_culprits(backlog: u32) -> Option<&'static str> {
    Some(match backlog {
        128 => {
            "Rust std's TcpListener::bind, mio 1.2+ (tokio 1.51+) TcpListener::bind and \
             Python's socket.listen() all call listen(128)"
        }
        1024 => "mio before 1.1 (tokio 1.50 and older) calls listen(1024)",
        511 => "nginx (NGX_LISTEN_BACKLOG on Linux) and Node.js (server.listen) use 511",
        100 => "Python asyncio's create_server uses backlog=100",
        50 => "Java's ServerSocket uses 50",
        5 => "Python socketserver's TCPServer uses request_queue_size = 5",
        _ => return None,
    })
}

fn small_backlog(s: &SocketView, backlog: u32, somaxconn: u64) -> Finding {
    let mut f = finding(FindingId::AcceptQueueSmall, Level::Advise, Some(s));
    let culprit = usual_culprits(backlog)
        .map(|who| format!(" The usual source of exactly {backlog}: {who}."))
        .unwrap_or_default();
    f.evidence = format!(
        "The listener on {}, held by {}, has backlog {backlog}; net.core.somaxconn is \
         {somaxconn}; {} waiting for accept() now.{culprit}",
        s.local,
        s.holder_text(),
        count(s.recv_q, "connection"),
    );
    f.mechanism = format!(
        "listen(fd, {backlog}) caps this accept queue at {} connections (sk_acceptq_is_full(), \
         include/net/sock.h), below the {somaxconn} the host allows (the kernel keeps \
         min(backlog, somaxconn): __sys_listen_socket(), net/socket.c). A burst larger than \
         that while accept() lags is dropped (TcpExt.ListenOverflows) and those clients wait \
         a second or more in SYN_SENT.",
        u64::from(backlog) + 1
    );
    f.fix = format!(
        "Pass a larger backlog to listen() (socket2's Socket::listen(n), tokio's \
         TcpSocket::listen(n)) — up to somaxconn ({somaxconn}) — and keep accept() prompt."
    );
    f.reproduce = Some("sockdoc backlog".to_owned());
    f
}

fn overflowing(
    s: &SocketView,
    backlog: u32,
    capacity: u64,
    full: bool,
    fill: f64,
    overflowed: Option<u64>,
) -> Finding {
    let mut f = finding(FindingId::AcceptQueueOverflow, Level::Warn, Some(s));
    let state = if full {
        format!("full: {} waiting, the most it holds", s.recv_q)
    } else {
        format!(
            "{:.0}% full: {} of {capacity}",
            fill * 100.0,
            count(s.recv_q, "connection")
        )
    };
    let counter = overflowed
        .map(|n| format!(" TcpExt.ListenOverflows rose by {n} during the window."))
        .unwrap_or_default();
    f.evidence = format!(
        "The accept queue of {}, held by {} with backlog {backlog}, is {state}.{counter}",
        s.local,
        s.holder_text()
    );
    f.mechanism = OVERFLOW_MECHANISM.to_owned();
    f.fix = OVERFLOW_FIX.to_owned();
    f.reproduce = Some("sockdoc backlog".to_owned());
    f
}

// ---------------------------------------------------------------------------------------
// CLOSE_WAIT and descriptors
// ---------------------------------------------------------------------------------------

fn close_wait(exam: &Exam, v: &mut Verdicts) {
    // Per holder: (count, idle count, longest idle).
    let mut per: BTreeMap<Option<u32>, (u64, u64, u64, Option<&SocketView>)> = BTreeMap::new();
    for s in exam.sockets {
        if s.proto != Proto::Tcp || s.state != TcpState::CloseWait {
            continue;
        }
        let silent = s.tcp.and_then(|t| t.last_ack_recv_ms).map(u64::from);
        let entry = per.entry(s.pid).or_insert((0, 0, 0, Some(s)));
        entry.0 += 1;
        if let Some(silent) = silent {
            entry.1 += u64::from(silent >= millis(CLOSE_WAIT_IDLE));
            entry.2 = entry.2.max(silent);
        }
    }
    for (pid, (total, idle, longest, example)) in per {
        let process = pid.and_then(|pid| exam.processes.iter().find(|p| p.pid == pid));
        let (fds, limit) = (process.and_then(|p| p.fds), process.and_then(|p| p.fd_limit));
        if !is_leak(total, Some(idle), fds, limit) {
            continue;
        }
        let mut f = finding(FindingId::CloseWaitLeak, Level::Warn, example);
        f.local = None;
        f.sockets = total;
        let fd_text = match (fds, limit) {
            (Some(fds), Some(limit)) => format!(
                " It has {} open of its limit of {limit} (soft RLIMIT_NOFILE).",
                count(fds, "descriptor")
            ),
            _ => String::new(),
        };
        f.evidence = format!(
            "{} holds {} in CLOSE_WAIT, {idle} of them with nothing from the peer for at least \
             {} (the longest for {}).{fd_text}",
            example.map_or("An unknown process".to_owned(), |s| s.holder_text()),
            count(total, "TCP socket"),
            human(CLOSE_WAIT_IDLE),
            human(Duration::from_millis(longest)),
        );
        f.mechanism = format!(
            "The peer closed (its FIN moved the socket to CLOSE_WAIT: tcp_fin(), \
             net/ipv4/tcp_input.c, which sets no timer) and the program never called close(), \
             the only thing that moves the socket on (tcp_close_state(), net/ipv4/tcp.c). Each \
             holds a descriptor; {CLOSE_WAIT_LEAK} idle at once (or any near {FD_LIMIT_WARN_PERCENT}% \
             of the descriptor limit) is a leak, and when the descriptors run out accept() and \
             socket() fail with EMFILE (alloc_fd(), fs/file.c)."
        );
        f.fix = "Close the socket when read()/recv() returns 0 (end of stream) and on every \
                 error path; a connection pool should drop connections whose server closed them."
            .to_owned();
        f.reproduce = Some("sockdoc peer-close".to_owned());
        v.findings.push(f);
    }
}

fn fd_pressure(exam: &Exam, v: &mut Verdicts) {
    for p in exam.processes {
        let (Some(fds), Some(limit)) = (p.fds, p.fd_limit) else {
            continue;
        };
        if limit == 0 || fds.saturating_mul(100) < FD_LIMIT_WARN_PERCENT * limit {
            continue;
        }
        let mut f = finding(FindingId::FdsNearLimit, Level::Warn, None);
        f.pid = Some(p.pid);
        f.process = Some(Arc::clone(&p.process));
        f.sockets = p.sockets;
        f.evidence = format!(
            "{} (pid {}) has {} open of its limit of {limit} (soft RLIMIT_NOFILE), {} of them \
             sockets.",
            p.process,
            p.pid,
            count(fds, "descriptor"),
            p.sockets
        );
        f.mechanism = "A new descriptor takes the lowest free number below the limit; when none \
                       is left, accept(), socket() and open() fail with EMFILE (alloc_fd(), \
                       fs/file.c), and a server stops taking connections while the kernel keeps \
                       completing handshakes into its accept queue."
            .to_owned();
        f.fix = "Find what holds the descriptors (CLOSE_WAIT sockets are the usual leak), and \
                 raise the limit (LimitNOFILE= in the systemd unit, ulimit -n) for a server \
                 that really holds that many connections."
            .to_owned();
        v.findings.push(f);
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
    v: &mut Verdicts,
    id: FindingId,
    needs_options: bool,
    mut judge: impl FnMut(&'a SocketView) -> Option<String>,
) -> Vec<Group<'a>> {
    let mut groups: BTreeMap<Option<u32>, Group> = BTreeMap::new();
    let mut unknown: BTreeMap<Option<u32>, (u64, &SocketView)> = BTreeMap::new();
    for s in exam.sockets {
        if needs_options && s.options_unknown_reason.is_some() {
            if judge_without_options(id, s) {
                unknown.entry(s.pid).or_insert((0, s)).0 += 1;
            }
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
    for (_, (sockets, s)) in unknown {
        v.not_judged.push(NotJudged {
            id,
            pid: s.pid,
            process: s.process.clone(),
            sockets,
            reason: s.options_unknown_reason.clone().unwrap_or_default(),
        });
    }
    groups.into_values().collect()
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
            .clone()
            .unwrap_or_else(|| "the options could not be read".to_owned()),
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

fn per_process_options(exam: &Exam, v: &mut Verdicts) {
    let established = |s: &SocketView| s.proto == Proto::Tcp && s.state == TcpState::Established;
    for g in grouped(exam, v, FindingId::NagleSmallWrites, true, |s| {
        if !established(s) || s.options.nodelay != Some(false) || s.options.cork == Some(true) {
            return None;
        }
        let (average, mss) = small_writes(s)?;
        Some(format!(
            "e.g. {} → {}: {average} bytes per data segment on average against an MSS of {mss}",
            s.local, s.remote
        ))
    }) {
        let mut f = group_finding(FindingId::NagleSmallWrites, Level::Advise, &g);
        f.evidence = format!(
            "{} has {} with TCP_NODELAY off that carry traffic both ways in small segments ({}).",
            g.example.holder_text(),
            count(g.sockets, "connection"),
            g.detail
        );
        f.mechanism = "With Nagle's algorithm on, a small segment waits while an earlier one is \
                       unacknowledged (tcp_nagle_check(), net/ipv4/tcp_output.c); the peer, in \
                       interactive (pingpong) mode, delays its ACK up to ~40 ms. A request \
                       written in two pieces (header, then body) then stalls ~40 ms per round \
                       trip; one write per request does not."
            .to_owned();
        f.fix = "Write each message with one write()/writev(), or set TCP_NODELAY on the socket \
                 (stream.set_nodelay(true)) for request/response traffic."
            .to_owned();
        f.reproduce = Some("sockdoc nagle".to_owned());
        v.findings.push(f);
    }
    for g in grouped(exam, v, FindingId::LingerZero, true, |s| {
        (s.proto == Proto::Tcp && s.options.linger_on == Some(true) && s.options.linger_s == Some(0))
            .then(|| format!("e.g. {} ({})", s.local, s.state))
    }) {
        let mut f = group_finding(FindingId::LingerZero, Level::Advise, &g);
        f.evidence = format!(
            "{} has {} with SO_LINGER {{on, 0 s}} ({}).",
            g.example.holder_text(),
            count(g.sockets, "socket"),
            g.detail
        );
        f.mechanism = "close() of such a socket aborts the connection: __tcp_close() \
                       (net/ipv4/tcp.c) calls tcp_disconnect(), which sends a RST instead of a \
                       FIN and discards unsent data; the peer's next read or write fails with \
                       ECONNRESET. Accepted sockets inherit it from their listener \
                       (sk_clone_lock() copies the flag)."
            .to_owned();
        f.fix = "Drop SO_LINGER 0 unless an abortive close is the intent; to shed TIME_WAIT, let \
                 the client close first instead."
            .to_owned();
        f.reproduce = Some("sockdoc peer-close".to_owned());
        v.findings.push(f);
    }
    let default_idle = exam.knobs.keepalive_time_s;
    for g in grouped(exam, v, FindingId::IdleNoKeepalive, true, |s| {
        if !established(s) {
            return None;
        }
        let idle = idle_for(s)?;
        let probe_after = match s.options.keepalive {
            Some(false) => None,
            Some(true) => Some(s.options.keepalive_idle_s.or(default_idle)?),
            None => return None,
        };
        let late = probe_after.is_none_or(|after| after > MIDDLEBOX_IDLE.as_secs());
        late.then(|| match probe_after {
            None => format!("e.g. {} → {} idle for {}, keepalive off", s.local, s.remote, human(idle)),
            Some(after) => format!(
                "e.g. {} → {} idle for {}, first keepalive probe after {after} s",
                s.local,
                s.remote,
                human(idle)
            ),
        })
    }) {
        let mut f = group_finding(FindingId::IdleNoKeepalive, Level::Advise, &g);
        f.evidence = format!(
            "{} has {} idle for over {} whose keepalive would not probe within {} ({}).",
            g.example.holder_text(),
            count(g.sockets, "connection"),
            human(IDLE_NOTICE),
            human(MIDDLEBOX_IDLE),
            g.detail
        );
        f.mechanism = "NAT gateways and load balancers forget a flow that is idle longer than \
                       their timeout (AWS NLB and NAT gateway 350 s, Azure 4 min) without telling \
                       either end; the next write is then retransmitted into the void until \
                       tcp_retries2 gives up (≥ 924.6 s, ip-sysctl.rst). Keepalive probes sent \
                       before the timeout keep the flow alive, or detect it is gone."
            .to_owned();
        f.fix = "Enable SO_KEEPALIVE with TCP_KEEPIDLE below the shortest middlebox timeout on \
                 the path (e.g. 60 s), TCP_KEEPINTVL 10 s and TCP_KEEPCNT 3; net.ipv4.\
                 tcp_keepalive_time (default 7200 s) applies only to sockets that do not set \
                 their own."
            .to_owned();
        v.findings.push(f);
    }
    for g in grouped(exam, v, FindingId::NoUserTimeout, true, |s| {
        (established(s) && backing_off(s) && s.options.user_timeout_ms == Some(0)).then(|| {
            format!(
                "e.g. {} → {}: {} unacknowledged, retransmission backoff {}",
                s.local,
                s.remote,
                human_size(u64::from(s.send_q)),
                s.tcp.and_then(|t| t.backoff).unwrap_or(0)
            )
        })
    }) {
        let mut f = group_finding(FindingId::NoUserTimeout, Level::Advise, &g);
        f.evidence = format!(
            "{} has {} retransmitting unacknowledged data without TCP_USER_TIMEOUT ({}).",
            g.example.holder_text(),
            count(g.sockets, "connection"),
            g.detail
        );
        f.mechanism = "Without TCP_USER_TIMEOUT the kernel keeps retransmitting until \
                       tcp_retries2 (default 15) is used up: at least 924.6 s \
                       (tcp_write_timeout(), net/ipv4/tcp_timer.c; ip-sysctl.rst), and the \
                       program's writes succeed into the buffer all that time."
            .to_owned();
        f.fix = "Set TCP_USER_TIMEOUT (e.g. 30 s) on connections that must fail fast, together \
                 with keepalive for idle ones."
            .to_owned();
        v.findings.push(f);
    }
}

fn group_finding(id: FindingId, severity: Level, g: &Group) -> Finding {
    let mut f = finding(id, severity, Some(g.example));
    f.local = None;
    f.sockets = g.sockets;
    f
}

// ---------------------------------------------------------------------------------------
// Queues: stuck senders and slow readers
// ---------------------------------------------------------------------------------------

fn stuck_and_slow(exam: &Exam, v: &mut Verdicts) {
    let sampled = exam.window.is_some();
    for g in grouped(exam, v, FindingId::StuckSender, false, |s| {
        if s.proto != Proto::Tcp || s.send_q == 0 {
            return None;
        }
        let zero_window = s.timer == Some(Timer::ZeroWindowProbe)
            || s.tcp.and_then(|t| t.snd_wnd_bytes) == Some(0);
        // During the window: nothing acknowledged while data waited.
        let stalled = s
            .during
            .is_some_and(|d| d.send_q_before > 0 && d.bytes_acked == Some(0));
        (zero_window && (!sampled || stalled)).then(|| {
            format!(
                "e.g. {} → {}: {} waiting to be sent, the peer's window 0, {} zero-window \
                 probes unanswered by data",
                s.local,
                s.remote,
                human_size(u64::from(s.send_q)),
                s.tcp.and_then(|t| t.probes).unwrap_or(0)
            )
        })
    }) {
        let mut f = group_finding(FindingId::StuckSender, Level::Warn, &g);
        f.evidence = format!(
            "{} has {} whose peer advertises a zero receive window{} ({}).",
            g.example.holder_text(),
            count(g.sockets, "connection"),
            if sampled {
                " and acknowledged nothing during the window"
            } else {
                ""
            },
            g.detail
        );
        f.mechanism = "The peer's program is not reading: its receive buffer is full, so it \
                       advertises a zero window and this side can only send zero-window probes \
                       (tcp_probe_timer(), net/ipv4/tcp_timer.c; idiag_timer 4). This program's \
                       writes fill its send buffer and then block (or return EAGAIN)."
            .to_owned();
        f.fix = "Fix the reader on the other end; on this side, bound the wait (a write \
                 deadline, TCP_USER_TIMEOUT) and stop writing to a peer that does not read."
            .to_owned();
        f.reproduce = Some("sockdoc partial-send".to_owned());
        v.findings.push(f);
    }
    for g in grouped(exam, v, FindingId::SlowReader, false, |s| slow_reader(s, sampled)) {
        let mut f = group_finding(FindingId::SlowReader, Level::Warn, &g);
        f.evidence = format!(
            "{} has {} whose receive queue is not being read ({}).",
            g.example.holder_text(),
            count(g.sockets, "socket"),
            g.detail
        );
        f.mechanism = "Data waits in the receive buffer until the program reads it. For TCP the \
                       advertised window shrinks as the buffer fills (tcp_select_window(), \
                       net/ipv4/tcp_output.c) until the sender stalls; for UDP each datagram \
                       that does not fit is dropped (sk_drops, Udp.RcvbufErrors)."
            .to_owned();
        f.fix = "Read faster or on more threads; a larger SO_RCVBUF only absorbs bursts."
            .to_owned();
        f.reproduce = Some("sockdoc udp".to_owned());
        v.findings.push(f);
    }
}

fn slow_reader(s: &SocketView, sampled: bool) -> Option<String> {
    if s.state == TcpState::Listen {
        return None;
    }
    let memory = s.memory?;
    if s.proto == Proto::Udp {
        let dropped = s.during.and_then(|d| d.drops).filter(|&n| n > 0)?;
        return Some(format!(
            "e.g. {}: {dropped} datagrams dropped during the window, {} queued",
            s.local,
            human_size(u64::from(s.recv_q))
        ));
    }
    if s.recv_q == 0 || memory.rcvbuf == 0 {
        return None;
    }
    let fill = f64::from(memory.rmem_alloc) / f64::from(memory.rcvbuf);
    // Sampled: the queue was there at both samples and nothing was delivered in between.
    let unread = s
        .during
        .is_some_and(|d| d.recv_q_before > 0 && s.recv_q >= d.recv_q_before);
    (fill >= SLOW_READER_FILL && (!sampled || unread)).then(|| {
        format!(
            "e.g. {} ← {}: {} unread, the buffer {:.0}% of its {}",
            s.local,
            s.remote,
            human_size(u64::from(s.recv_q)),
            fill * 100.0,
            human_size(u64::from(memory.rcvbuf))
        )
    })
}

// ---------------------------------------------------------------------------------------
// Loss, ports
// ---------------------------------------------------------------------------------------

fn retransmits(exam: &Exam, v: &mut Verdicts) {
    let Some(window) = exam.window else { return };
    for g in grouped(exam, v, FindingId::Retransmits, false, |s| {
        let d = s.during?;
        let (retrans, segs) = (d.retransmits?, d.data_segs_out?);
        if retrans < RETRANS_MIN || segs == 0 {
            return None;
        }
        let share = f64::from(retrans) / f64::from(segs);
        (share >= RETRANS_WARN_SHARE).then(|| {
            format!(
                "e.g. {} → {}: {retrans} of {segs} data segments retransmitted ({:.1}%)",
                s.local,
                s.remote,
                share * 100.0
            )
        })
    }) {
        let mut f = group_finding(FindingId::Retransmits, Level::Warn, &g);
        f.evidence = format!(
            "{} has {} retransmitting during the {} window ({}).",
            g.example.holder_text(),
            count(g.sockets, "connection"),
            human(window),
            g.detail
        );
        f.mechanism = "A retransmitted segment was lost (or its ACK was): the sender waits for \
                       three duplicate ACKs or the retransmission timeout, and CUBIC/Reno halve \
                       the congestion window on each loss, so throughput falls and latency grows \
                       by at least one round trip per loss."
            .to_owned();
        f.fix = "Find the lossy hop (interface errors, a full queue, a policer, Wi-Fi); `ss -ti` \
                 and `nstat -az TcpRetransSegs` confirm the rate."
            .to_owned();
        v.findings.push(f);
    }
}

fn bound_ports(exam: &Exam, v: &mut Verdicts) {
    for g in grouped(exam, v, FindingId::BindPinsPort, false, |s| {
        (s.proto == Proto::Tcp
            && s.state == TcpState::Close
            && s.local.port() != 0
            && s.pid.is_some())
        .then(|| format!("e.g. {}", s.local))
    }) {
        let mut f = group_finding(FindingId::BindPinsPort, Level::Advise, &g);
        f.evidence = format!(
            "{} holds {} bound to a port but neither listening nor connected ({}).",
            g.example.holder_text(),
            count(g.sockets, "TCP socket"),
            g.detail
        );
        f.mechanism = "bind() took the port for this socket alone, for every destination: \
                       until it is closed no other socket can bind it, and connect() skips it. A \
                       client that binds before connect() (to choose its source address) pins \
                       one ephemeral port per connection instead of sharing ports across \
                       destinations, and runs out of ports (EADDRINUSE) far sooner."
            .to_owned();
        f.fix = "Before bind(ip, 0) on a client, set IP_BIND_ADDRESS_NO_PORT so the port is \
                 chosen at connect() time per destination; close sockets that were bound and \
                 never used."
            .to_owned();
        f.reproduce = Some("sockdoc reuse-test".to_owned());
        v.findings.push(f);
    }
}

fn port_budget(exam: &Exam, v: &mut Verdicts) {
    let (Some(settings), Some(tally)) = (&exam.tally.settings, &exam.tally.tally) else {
        return;
    };
    let pressure = ports::judge(settings, tally);
    if pressure.level != ports::Level::Advise {
        return;
    }
    let mut f = finding(FindingId::PortBudget, Level::Advise, None);
    f.sockets = pressure.busiest.as_ref().map_or(0, |d| d.time_wait);
    f.local = pressure
        .busiest
        .as_ref()
        .map(|d| SocketAddr::new(d.source_ip, 0).ip().to_string());
    f.evidence = pressure.reason.clone();
    f.mechanism = "A connection this host closes first keeps its ephemeral port in TIME_WAIT \
                   for 60 s (TCP_TIMEWAIT_LEN); connect() to the same destination cannot reuse \
                   it meanwhile (unless tcp_tw_reuse allows), so new connections per minute to \
                   one destination are capped by the ephemeral range."
        .to_owned();
    f.fix = "Reuse connections (keep-alive pools), widen net.ipv4.ip_local_port_range, or \
             spread over more destination addresses; `sockdoc sysctl-advice --role client` \
             judges the knobs."
        .to_owned();
    f.reproduce = Some("sockdoc sockets --summary".to_owned());
    v.findings.push(f);
}
