//! `sockdoc keepalive`: an idle connection across a middlebox that forgets idle flows is
//! silently dead. In a throwaway network namespace (`sys::sandbox`), loopback traffic is
//! conntracked and nftables drops `ct state invalid` on input, with
//! nf_conntrack_tcp_timeout_established = 2 s and nf_conntrack_tcp_loose = 0: once a flow has
//! been idle for 2 s its entry is gone and its next segment is dropped, as a NAT gateway or a
//! stateful firewall drops it. Four cases, each a fresh connection, run side by side: no
//! keepalive (the write is accepted and retransmitted into the void), keepalive probing
//! before the middlebox forgets (the write is delivered), keepalive probing too late (the
//! kernel declares the connection dead after idle + intvl × cnt) and TCP_USER_TIMEOUT (the
//! unacknowledged write fails after the user timeout).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use socket2::{Domain, Socket, TcpKeepalive, Type};

use super::Context;
use super::args::{KeepaliveArgs, KeepaliveCase};
use super::scenario::{CallEnd, Details, Measured, MeasuredRow as Row, Scenario, ScenarioReport};
use crate::exit::Exit;
use crate::sys::fs::Root;
use crate::sys::sandbox::{self, Isolation};
use crate::sys::sockopt::{accept_bounded, connect_bounded};
use crate::sys::sysctl::read_number;
use crate::sys::tcp_info::tcp_info;
use crate::units::{human, micros, millis};

/// The middlebox: nftables in the lab namespace drops every packet conntrack calls invalid
/// on its way in. Input only, so the sender's transmission succeeds and the segment is lost
/// on the way, as across a real middlebox.
const RULESET: &str = "table inet sockdoc_keepalive {\n\
    \tchain input {\n\
    \t\ttype filter hook input priority 0; policy accept;\n\
    \t\tct state invalid drop\n\
    \t}\n\
    }\n";

/// How long the middlebox keeps an idle established flow
/// (net.netfilter.nf_conntrack_tcp_timeout_established, in seconds).
const MIDDLEBOX_TIMEOUT_S: u64 = 2;
const TIMEOUT_KNOB: &str = "net.netfilter.nf_conntrack_tcp_timeout_established";
const LOOSE_KNOB: &str = "net.netfilter.nf_conntrack_tcp_loose";

/// How long each connection sits idle: past the middlebox's timeout.
const IDLE: Duration = Duration::from_secs(3);
/// How long the peer's read waits for the write after the idle.
const OBSERVE: Duration = Duration::from_secs(3);
/// The keepalive that probes in time: idle 1 s, then every 1 s, 3 probes.
const EARLY: (u64, u64, u32) = (1, 1, 3);
/// The keepalive that probes too late: idle 3 s (past the middlebox timeout), intvl 1 s, 2.
const LATE: (u64, u64, u32) = (3, 1, 2);
/// TCP_USER_TIMEOUT for the last case.
const USER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a failing connection is waited for beyond its expected death.
const DEATH_MARGIN: Duration = Duration::from_secs(3);

/// A timer may fire late: each keepalive and retransmission timer sits in a timer-wheel
/// bucket (kernel/time/timer.c) up to one bucket's width past its expiry — 64 jiffies for
/// 1–3 s at HZ 1000, 256 ms for 3 s at HZ 250 — plus the time for the woken thread to run.
/// Not a kernel rule: a margin above those widths.
const TIMER_SLACK: Duration = Duration::from_millis(750);
/// A write into the send buffer, or a read of data already there, is "at once" within this.
const AT_ONCE: Duration = Duration::from_millis(100);
/// What the write after the idle sends.
const PAYLOAD: &[u8] = b"still there?";
/// The servers' first port (one port per case; the namespace is new, so nothing else is
/// there).
const FIRST_PORT: u16 = 5000;
/// What the lab child may take beyond --timeout: the longest case (idle, then the user
/// timeout or the late keepalive plus the margin) and the setup.
const LESSON_TIME: Duration = Duration::from_secs(12);

const ALL: [KeepaliveCase; 4] = [
    KeepaliveCase::NoKeepalive,
    KeepaliveCase::Keepalive,
    KeepaliveCase::KeepaliveTooLate,
    KeepaliveCase::UserTimeout,
];

/// What the parent sends the lab child.
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    parent_netns: u64,
    cases: Vec<KeepaliveCase>,
    timeout_ms: u64,
}

/// What the lab child prints.
#[derive(Debug, Serialize, Deserialize)]
struct Outcome {
    isolation: Isolation,
    /// The middlebox's knobs, read back inside the namespace.
    conntrack_timeout_established_s: Option<u64>,
    conntrack_tcp_loose: Option<u64>,
    /// net.ipv4.tcp_retries2 inside the namespace.
    tcp_retries2: Option<u64>,
    cases: Vec<CaseFigures>,
}

/// What one case measured, on its own connection.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CaseFigures {
    pub server_port: u16,
    /// The client's options, read back from the socket.
    pub so_keepalive: bool,
    pub keepidle_s: Option<u64>,
    pub keepintvl_s: Option<u64>,
    pub keepcnt: Option<u32>,
    pub user_timeout_ms: Option<u64>,
    /// How long the connection sat idle before the write (null: the case does not write).
    pub idle_ms: Option<u64>,
    /// Whether the middlebox still had an entry for the flow just before the write
    /// (/proc/net/nf_conntrack; null when it could not be read or the case does not write).
    pub flow_tracked_before_write: Option<bool>,
    /// The write after the idle: its result and how long it took.
    pub write_result: Option<String>,
    pub write_returned_us: Option<u64>,
    /// The peer's read after that write (SO_RCVTIMEO 3 s): its result and wait.
    pub peer_read: Option<String>,
    pub peer_waited_us: Option<u64>,
    pub delivered: bool,
    /// The client's tcp_info at the end of the case.
    pub unacked: Option<u32>,
    pub total_retrans: Option<u32>,
    pub backoff: Option<u8>,
    pub rto_us: Option<u32>,
    /// How the client's own blocking read ended (the cases that wait for the kernel to
    /// declare the connection dead), and when, counted from the connection's last activity:
    /// the handshake for the late keepalive, the write for the user timeout.
    pub client_read: Option<String>,
    pub failed_after_ms: Option<u64>,
    /// When the kernel should declare it dead, by the documented rule (null: never soon).
    pub expected_death_ms: Option<u64>,
}

/// The lab child's part for `keepalive`: enter the namespace, build the middlebox, run the
/// cases side by side.
pub fn child(request: serde_json::Value) -> Result<serde_json::Value, String> {
    let request: Request =
        serde_json::from_value(request).map_err(|e| format!("a malformed lab request: {e}"))?;
    let text = |e: crate::sys::SysError| e.to_string();
    let isolation = sandbox::enter(&[], request.parent_netns).map_err(text)?;
    // The ct rule loads nf_conntrack where it is a module, and only then do its knobs exist.
    sandbox::nft(RULESET, request.parent_netns).map_err(text)?;
    let knobs = [
        (TIMEOUT_KNOB.to_owned(), MIDDLEBOX_TIMEOUT_S.to_string()),
        (LOOSE_KNOB.to_owned(), "0".to_owned()),
    ];
    sandbox::set_knobs(&knobs, request.parent_netns).map_err(text)?;
    let root = Root::live();
    let timeout = Duration::from_millis(request.timeout_ms);
    let cases = std::thread::scope(|scope| {
        let handles: Vec<_> = request
            .cases
            .iter()
            .enumerate()
            .map(|(i, &case)| {
                let port = FIRST_PORT + i as u16;
                scope.spawn(move || run_case(case, port, timeout))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a case panicked".to_owned()))
            })
            .collect::<Result<Vec<_>, String>>()
    })?;
    let outcome = Outcome {
        isolation,
        conntrack_timeout_established_s: read_number(&root, TIMEOUT_KNOB),
        conntrack_tcp_loose: read_number(&root, LOOSE_KNOB),
        tcp_retries2: read_number(&root, "net.ipv4.tcp_retries2"),
        cases,
    };
    serde_json::to_value(outcome).map_err(|e| e.to_string())
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// One case on its own listener and connection.
fn run_case(case: KeepaliveCase, port: u16, timeout: Duration) -> Result<CaseFigures, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(text)?;
    listener.set_reuse_address(true).map_err(text)?;
    listener.bind(&addr.into()).map_err(text)?;
    listener.listen(8).map_err(text)?;
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).map_err(text)?;
    let keepalive = |(idle, intvl, cnt): (u64, u64, u32)| {
        TcpKeepalive::new()
            .with_time(Duration::from_secs(idle))
            .with_interval(Duration::from_secs(intvl))
            .with_retries(cnt)
    };
    match case {
        KeepaliveCase::NoKeepalive => {}
        KeepaliveCase::Keepalive => client.set_tcp_keepalive(&keepalive(EARLY)).map_err(text)?,
        KeepaliveCase::KeepaliveTooLate => {
            client.set_tcp_keepalive(&keepalive(LATE)).map_err(text)?;
        }
        KeepaliveCase::UserTimeout => {
            client
                .set_tcp_user_timeout(Some(USER_TIMEOUT))
                .map_err(text)?;
        }
    }
    connect_bounded(&client, addr, timeout).map_err(text)?;
    let connected = Instant::now();
    let server: TcpStream = accept_bounded(&listener, timeout, "accepting the lesson's connection")
        .map_err(text)?
        .into();
    let keepalive_on = client.keepalive().map_err(text)?;
    let mut figures = CaseFigures {
        server_port: port,
        so_keepalive: keepalive_on,
        keepidle_s: keepalive_on
            .then(|| client.tcp_keepalive_time().ok().map(|d| d.as_secs()))
            .flatten(),
        keepintvl_s: keepalive_on
            .then(|| client.tcp_keepalive_interval().ok().map(|d| d.as_secs()))
            .flatten(),
        keepcnt: keepalive_on
            .then(|| client.tcp_keepalive_retries().ok())
            .flatten(),
        user_timeout_ms: client.tcp_user_timeout().map_err(text)?.map(millis),
        ..CaseFigures::default()
    };
    let mut client: TcpStream = client.into();
    if case == KeepaliveCase::KeepaliveTooLate {
        // No write: the keepalive timer alone must find the connection dead.
        let (idle, intvl, cnt) = LATE;
        let expected = Duration::from_secs(idle + intvl * u64::from(cnt));
        figures.expected_death_ms = Some(millis(expected));
        let (end, _) = read_once(&mut client, expected + DEATH_MARGIN)?;
        figures.client_read = Some(end.to_string());
        figures.failed_after_ms = Some(millis(connected.elapsed()));
        note_tcp_info(&client, &mut figures);
        return Ok(figures);
    }
    std::thread::sleep(IDLE.saturating_sub(connected.elapsed()));
    figures.idle_ms = Some(millis(connected.elapsed()));
    figures.flow_tracked_before_write = flow_tracked(port);
    let began = Instant::now();
    let written = client.write(PAYLOAD);
    figures.write_returned_us = Some(micros(began.elapsed()));
    figures.write_result = Some(match &written {
        Ok(n) => CallEnd::Accepted(*n).to_string(),
        Err(error) => CallEnd::from_error(error).to_string(),
    });
    if case == KeepaliveCase::UserTimeout {
        figures.expected_death_ms = Some(millis(USER_TIMEOUT));
        let (end, _) = read_once(&mut client, USER_TIMEOUT + DEATH_MARGIN)?;
        figures.client_read = Some(end.to_string());
        figures.failed_after_ms = Some(millis(began.elapsed()));
        note_tcp_info(&client, &mut figures);
        return Ok(figures);
    }
    let mut server = server;
    let (end, waited) = read_once(&mut server, OBSERVE)?;
    figures.delivered = matches!(end, CallEnd::Received(n) if n > 0);
    figures.peer_read = Some(end.to_string());
    figures.peer_waited_us = Some(micros(waited));
    note_tcp_info(&client, &mut figures);
    Ok(figures)
}

/// One blocking read with SO_RCVTIMEO `wait`: how it ended and how long it took.
fn read_once(stream: &mut TcpStream, wait: Duration) -> Result<(CallEnd, Duration), String> {
    stream.set_read_timeout(Some(wait)).map_err(text)?;
    let mut buf = [0u8; 64];
    let began = Instant::now();
    let end = match stream.read(&mut buf) {
        Ok(0) => CallEnd::EndOfStream,
        Ok(n) => CallEnd::Received(n),
        Err(error) => CallEnd::from_error(&error),
    };
    Ok((end, began.elapsed()))
}

fn note_tcp_info(client: &TcpStream, figures: &mut CaseFigures) {
    if let Ok(info) = tcp_info(client) {
        figures.unacked = info.unacked;
        figures.total_retrans = info.total_retrans;
        figures.backoff = info.backoff;
        figures.rto_us = info.rto_us;
    }
}

/// Whether conntrack has an entry whose original direction goes to `port`
/// (/proc/net/nf_conntrack, this namespace's table); None when it cannot be read.
fn flow_tracked(port: u16) -> Option<bool> {
    let table = Root::live()
        .read_text("proc/net/nf_conntrack", 1 << 20)
        .ok()?;
    let needle = format!(" dport={port} ");
    Some(
        table
            .lines()
            .any(|line| line.contains(" tcp ") && line.contains(&needle)),
    )
}

mod judge;

pub fn run(args: &KeepaliveArgs, ctx: &Context) -> anyhow::Result<(ScenarioReport, Exit)> {
    let mut cases: Vec<KeepaliveCase> = Vec::new();
    for case in if args.cases.is_empty() {
        &ALL[..]
    } else {
        &args.cases[..]
    } {
        if !cases.contains(case) {
            cases.push(*case);
        }
    }
    let s = Scenario::start("keepalive", [127, 0, 0, 1].into());
    let request = Request {
        parent_netns: sandbox::netns_inode()?,
        cases: cases.clone(),
        timeout_ms: millis(ctx.timeout),
    };
    let json = super::lab::request("keepalive", &request);
    let out = sandbox::run(&json, ctx.timeout + LESSON_TIME)?;
    let outcome: Outcome = serde_json::from_str(&out)
        .map_err(|e| anyhow::anyhow!("the lab child's answer did not parse ({e}): {out}"))?;
    let host_timeout = read_number(&ctx.root, TIMEOUT_KNOB);
    Ok(judge::judge(s, &cases, outcome, host_timeout))
}

/// The figures of the cases that ran, by case; the rest null.
#[derive(Debug, Serialize)]
struct KeepaliveDetails {
    isolation: Isolation,
    conntrack_timeout_established_s: Option<u64>,
    conntrack_tcp_loose: Option<u64>,
    /// When the connection without keepalive or user timeout gives up on its unacknowledged
    /// write, by tcp_model_timeout() for tcp_retries2 (net/ipv4/tcp_timer.c).
    retries2_gives_up_after_ms: Option<u64>,
    no_keepalive: Option<CaseFigures>,
    keepalive: Option<CaseFigures>,
    keepalive_too_late: Option<CaseFigures>,
    user_timeout: Option<CaseFigures>,
}

impl Details for KeepaliveDetails {
    fn measured(&self) -> Vec<Row> {
        let Self {
            isolation,
            conntrack_timeout_established_s,
            conntrack_tcp_loose,
            retries2_gives_up_after_ms,
            no_keepalive,
            keepalive,
            keepalive_too_late,
            user_timeout,
        } = self;
        let case = |figures: &Option<CaseFigures>| {
            figures
                .as_ref()
                .map_or_else(|| Measured::text("not run"), |f| Measured::text(summary(f)))
        };
        vec![
            Row::new(
                "isolation",
                "lab namespace",
                Measured::text(isolation_text(*isolation)),
            ),
            Row::new(
                "conntrack_timeout_established_s",
                "middlebox forgets an idle flow after (s)",
                Measured::or_unavailable(*conntrack_timeout_established_s, Measured::Count),
            ),
            Row::new(
                "conntrack_tcp_loose",
                "nf_conntrack_tcp_loose",
                Measured::or_unavailable(*conntrack_tcp_loose, Measured::Count),
            ),
            Row::new(
                "retries2_gives_up_after_ms",
                "without keepalive, the write gives up after",
                Measured::or_unavailable(*retries2_gives_up_after_ms, Measured::Millis),
            ),
            Row::new("no_keepalive", "no keepalive", case(no_keepalive)),
            Row::new("keepalive", "keepalive 1 s / 1 s / 3", case(keepalive)),
            Row::new(
                "keepalive_too_late",
                "keepalive 3 s / 1 s / 2",
                case(keepalive_too_late),
            ),
            Row::new("user_timeout", "TCP_USER_TIMEOUT 2 s", case(user_timeout)),
        ]
    }
}

fn isolation_text(isolation: Isolation) -> &'static str {
    match isolation {
        Isolation::NetworkNamespace => "network namespace",
        Isolation::UserNamespace => "user + network namespace",
    }
}

/// A case in a line, for the Measured section.
fn summary(f: &CaseFigures) -> String {
    let mut parts = Vec::new();
    if let (Some(result), Some(us)) = (&f.write_result, f.write_returned_us) {
        let tracked = match f.flow_tracked_before_write {
            Some(true) => "flow still tracked; ",
            Some(false) => "flow forgotten; ",
            None => "",
        };
        parts.push(format!(
            "{tracked}write {result} in {}",
            human(Duration::from_micros(us))
        ));
    }
    if let (Some(read), Some(us)) = (&f.peer_read, f.peer_waited_us) {
        parts.push(format!(
            "peer read {read} after {}",
            human(Duration::from_micros(us))
        ));
    }
    if let (Some(read), Some(ms)) = (&f.client_read, f.failed_after_ms) {
        parts.push(format!(
            "client read {read} after {}",
            human(Duration::from_millis(ms))
        ));
    }
    parts.push(format!(
        "unacked {}, retransmitted {}, backoff {}",
        f.unacked.map_or("?".to_owned(), |n| n.to_string()),
        f.total_retrans.map_or("?".to_owned(), |n| n.to_string()),
        f.backoff.map_or("?".to_owned(), |n| n.to_string()),
    ));
    parts.join("; ")
}
