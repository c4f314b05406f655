//! `sockdoc backlog`: a listener that never calls accept(), and more clients than its
//! queue holds. Linux completes handshakes into the accept queue until it holds the
//! effective backlog + 1 connections (`sk_acceptq_is_full` is `>`), where the effective
//! backlog is min(listen() backlog, net.core.somaxconn); after that it drops new SYNs
//! (TcpExtListenOverflows / ListenDrops), and those clients wait in SYN_SENT, retrying.

use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::Context;
use super::scenario::{Check, Scenario, ScenarioReport};
use crate::cli::BacklogArgs;
use crate::exit::Exit;
use crate::sys::diag::{self, Proto, TcpState};
use crate::sys::procfs;
use crate::sys::socket as sock;

/// Handshakes on loopback finish in microseconds; the queue is read again until it stops
/// changing or this much time has passed (further capped by --timeout).
const SETTLE: Duration = Duration::from_millis(300);

pub fn run(args: &BacklogArgs, ctx: &Context) -> anyhow::Result<(ScenarioReport, Exit)> {
    let mut s = Scenario::start("backlog", args.scenario.addr);
    let root = Path::new("/");
    let sysctl =
        |key: &str| -> Option<u32> { procfs::read_sysctl(root, key).ok().flatten()?.parse().ok() };
    let somaxconn = sysctl("net.core.somaxconn");
    let effective = somaxconn.map_or(args.backlog, |max| args.backlog.min(max));
    let capacity = effective + 1;
    let expected_completed = args.clients.min(capacity);

    // One descriptor per client, the listener, and a margin for stdio and sock_diag.
    let needed = u64::from(args.clients) + 16;
    if let Err(limit) = sock::ensure_open_files(needed) {
        anyhow::bail!(
            "--clients {} needs about {needed} open files but this process may open only \
             {limit} (ulimit -n): lower --clients or raise the limit",
            args.clients
        );
    }
    let listener = sock::listener_with_backlog(
        s.ephemeral(),
        i32::try_from(args.backlog).expect("--backlog is at most 1024"),
    )?;
    let listen_addr = sock::local_addr(&listener)?;
    let counters_before = procfs::read_netstat(root).ok();
    let clients = (0..args.clients)
        .map(|_| sock::connect_nonblocking(listen_addr))
        .collect::<Result<Vec<_>, _>>()
        .context("starting the clients' connects")?;

    let queued = wait_for_queue(listen_addr, expected_completed, SETTLE.min(ctx.timeout))?;
    let (completed, syn_sent, other) = classify(&clients, listen_addr)?;
    let counters_after = procfs::read_netstat(root).ok();
    let delta = |key: &str| -> Option<u64> {
        let before = counters_before.as_ref()?.get(key)?;
        Some(counters_after.as_ref()?.get(key)?.saturating_sub(*before))
    };
    let overflows = delta("TcpExt.ListenOverflows");
    let drops = delta("TcpExt.ListenDrops");
    drop(clients);
    drop(listener);

    s.detail("backlog", args.backlog);
    s.detail("somaxconn", somaxconn);
    s.detail("effective_backlog", effective);
    s.detail("clients", args.clients);
    s.detail("accept_queue", queued.queued);
    s.detail("accept_queue_limit", queued.limit);
    s.detail("completed", completed);
    s.detail("waiting_in_syn_sent", syn_sent);
    s.detail("other", other);
    s.detail("listen_overflows", overflows);
    s.detail("listen_drops", drops);
    s.detail(
        "tcp_abort_on_overflow",
        sysctl("net.ipv4.tcp_abort_on_overflow"),
    );
    s.detail("tcp_syncookies", sysctl("net.ipv4.tcp_syncookies"));

    s.check(Check::new(
        "accept queue holds min(backlog, somaxconn) + 1",
        format!("{} queued", queued.queued),
        format!("{expected_completed} queued"),
        queued.queued == expected_completed,
    ));
    let expected_waiting = args.clients - expected_completed;
    s.check(Check::new(
        "clients beyond the queue wait in SYN_SENT",
        format!("{completed} completed, {syn_sent} in SYN_SENT, {other} other"),
        format!("{expected_completed} completed, {expected_waiting} in SYN_SENT"),
        completed == expected_completed && syn_sent == expected_waiting,
    ));
    if expected_waiting > 0 {
        s.check(Check::new(
            "the kernel counts the dropped SYNs",
            overflows.map_or_else(|| "unavailable".into(), |n| format!("ListenOverflows +{n}")),
            "ListenOverflows +1 or more",
            overflows.is_none_or(|n| n > 0),
        ));
    }
    if overflows.is_none() {
        s.note("/proc/net/netstat is unreadable here: ListenOverflows and ListenDrops are unavailable.");
    }
    explain_knobs(&mut s, sysctl("net.ipv4.tcp_abort_on_overflow"));
    let verdict = format!(
        "The listener with backlog {} (effective {effective}{}) took {} of {} clients into its \
         accept queue and stopped; the other {syn_sent} sat in SYN_SENT with their SYNs dropped{}.",
        args.backlog,
        somaxconn.map_or_else(String::new, |m| format!(", somaxconn {m}")),
        queued.queued,
        args.clients,
        overflows.map_or_else(String::new, |n| format!(" (ListenOverflows +{n})"))
    );
    Ok(s.finish(
        "Nobody called accept(), so completed connections piled up in the accept queue. Once it \
         held the effective backlog + 1, Linux dropped further SYNs instead of refusing them: the \
         clients see no error, only a connect() that takes seconds.",
        verdict,
        "Call accept() promptly (a dedicated accept loop, never blocked by request work); raise \
         the listen() backlog and net.core.somaxconn together, since the smaller one wins; watch \
         TcpExtListenOverflows.",
    ))
}

/// Each client's state from its own side: (ESTABLISHED, SYN_SENT, anything else).
fn classify(
    clients: &[socket2::Socket],
    listen_addr: SocketAddr,
) -> anyhow::Result<(u32, u32, u32)> {
    let (mut completed, mut syn_sent, mut other) = (0, 0, 0);
    for client in clients {
        let local = sock::local_addr(client)?;
        match diag::lookup(Proto::Tcp, local, listen_addr)?.map(|r| r.state) {
            Some(TcpState::Established) => completed += 1,
            Some(TcpState::SynSent) => syn_sent += 1,
            _ => other += 1,
        }
    }
    Ok((completed, syn_sent, other))
}

/// What the two knobs users reach for would change here.
fn explain_knobs(s: &mut Scenario, abort_on_overflow: Option<u32>) {
    s.note(match abort_on_overflow {
        Some(1) => {
            "net.ipv4.tcp_abort_on_overflow = 1: a handshake that completes into a full \
                    queue is answered with RST, so those clients fail fast with ECONNRESET."
        }
        _ => {
            "net.ipv4.tcp_abort_on_overflow = 0: the kernel drops the SYN or the final ACK, so \
              waiting clients retry (after 1 s, 3 s, …) and connect() hangs rather than fails; \
              a short burst then recovers by itself."
        }
    });
    s.note(
        "net.ipv4.tcp_syncookies only helps when the SYN queue overflows (a SYN flood); it does \
         not make room in a full accept queue.",
    );
}

struct Queue {
    queued: u32,
    limit: u32,
}

/// Reads the listener's accept queue (its recv_q; send_q is the limit) until it reaches
/// `expected` or stops changing within `settle`.
fn wait_for_queue(
    listen_addr: SocketAddr,
    expected: u32,
    settle: Duration,
) -> anyhow::Result<Queue> {
    let deadline = Instant::now() + settle;
    let unspecified = diag::listener_peer(listen_addr);
    loop {
        let record = diag::lookup(Proto::Tcp, listen_addr, unspecified)?
            .context("the listener vanished from sock_diag")?;
        let queue = Queue {
            queued: record.recv_q,
            limit: record.send_q,
        };
        if queue.queued >= expected || Instant::now() >= deadline {
            // A little longer, so a queue that would grow past `expected` is seen doing it.
            thread::sleep(Duration::from_millis(20));
            let record = diag::lookup(Proto::Tcp, listen_addr, unspecified)?
                .context("the listener vanished from sock_diag")?;
            return Ok(Queue {
                queued: record.recv_q,
                limit: record.send_q,
            });
        }
        thread::sleep(Duration::from_millis(1));
    }
}
