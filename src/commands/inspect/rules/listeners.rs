//! Listeners: will the program restart (SO_REUSEADDR), and is its accept queue big enough
//! and keeping up.

use super::{Exam, Verdicts, finding, not_judged};
use crate::commands::inspect::{Finding, FindingId, SocketView};
use crate::commands::severity::Level;
use crate::commands::sockets::summary::ACCEPT_QUEUE_WARN;
use crate::sys::record::{Proto, TcpState};
use crate::units::{count, human};

// ---------------------------------------------------------------------------------------
// Listeners: restart, accept queue
// ---------------------------------------------------------------------------------------

pub(super) fn judge(exam: &Exam, v: &mut Verdicts) {
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
        let share = u64::from(s.recv_q) as f64 / capacity as f64;
        let full = s.recv_q > backlog;
        if full || share >= ACCEPT_QUEUE_WARN || (overflowed.is_some() && s.recv_q > 0) {
            blamed_overflow = true;
            v.findings
                .push(overflowing(s, backlog, capacity, full, share, overflowed));
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
        f.mechanism = OVERFLOW_MECHANISM.into();
        f.fix = OVERFLOW_FIX.into();
        f.reproduce = Some("sockdoc backlog".to_owned());
        v.findings.push(f);
    }
}

const OVERFLOW_MECHANISM: &str = "A listener's accept queue holds its backlog + 1 \
     connections (sk_acceptq_is_full(), include/net/sock.h: sk_ack_backlog > \
     sk_max_ack_backlog). When it is full, new SYNs are dropped (tcp_conn_request(), \
     net/ipv4/tcp_input.c) and so are handshakes' final ACKs (tcp_v4_syn_recv_sock(), \
     net/ipv4/tcp_ipv4.c), each counted in TcpExt.ListenOverflows: clients either wait in \
     SYN_SENT and resend the SYN after a second or more (tcp_syn_retries, \
     tcp_syn_linear_timeouts; `sockdoc backlog` prints this kernel's schedule), or see \
     connect() succeed and then wait for the server's retransmitted SYN-ACK before their \
     first request is served.";

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
        "Connections this server closes first — including those the kernel closes when the \
         process exits — normally wait in TIME_WAIT on port {port} for 60 s (TCP_TIMEWAIT_LEN, \
         include/net/tcp.h; not those reset because of unread data, SO_LINGER 0 or a full \
         tcp_max_tw_buckets), and inherit the listener's SO_REUSEADDR (off). A restarted \
         server's bind() to port {port} fails with EADDRINUSE while any of them exists: a \
         TIME_WAIT socket yields its port only when it and the new socket both carry \
         SO_REUSEADDR, or both SO_REUSEPORT (inet_bind_conflict(), \
         net/ipv4/inet_connection_sock.c) — so even a fixed new version is blocked by this \
         one's connections."
    );
    f.fix = "Set SO_REUSEADDR on the listening socket before bind() (Rust std's \
             TcpListener::bind, Go, Python's socketserver with allow_reuse_address and nginx \
             already do; a raw socket2 or libc socket does not)."
        .into();
    f.reproduce = Some(format!("sockdoc reuse-test {port}"));
    v.findings.push(f);
}

/// Libraries whose default backlog is exactly `backlog`, from their source (read):
/// rust-lang/rust library/std/src/sys/net/connection/socket/mod.rs (TcpListener::bind: 128
/// on Linux), tokio-rs/mio src/net/tcp/listener.rs (128 since mio 1.2.0, commit a87e41ec;
/// -1, shown as somaxconn, in 1.1.x; 1024 before 1.1), CPython Modules/socketmodule.c sock_listen (min(SOMAXCONN, 128)), CPython
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
         a second or more (in SYN_SENT, or connected but unserved).",
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
    share: f64,
    overflowed: Option<u64>,
) -> Finding {
    let mut f = finding(FindingId::AcceptQueueOverflow, Level::Warn, Some(s));
    let state = if full {
        format!("full: {} waiting, the most it holds", s.recv_q)
    } else {
        format!(
            "{:.0}% full: {} of {capacity}",
            share * 100.0,
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
    f.mechanism = OVERFLOW_MECHANISM.into();
    f.fix = OVERFLOW_FIX.into();
    f.reproduce = Some("sockdoc backlog".to_owned());
    f
}
