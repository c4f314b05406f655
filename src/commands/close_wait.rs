//! `sockdoc close-wait`: a server that never closes after the peer's FIN. Each such
//! connection stays in CLOSE_WAIT (`tcp_fin()`, net/ipv4/tcp_input.c, changes the state and
//! arms no timer) and keeps its descriptor, so they pile up until accept() fails with
//! EMFILE at RLIMIT_NOFILE (`alloc_fd()`, fs/file.c). The fix — treat recv() == 0 as
//! "closed" and close — is measured as the pile-up not forming.

mod details;

use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::Context;
use super::scenario::{CallEnd, Check, Scenario, ScenarioReport};
use crate::commands::args::CloseWaitArgs;
use crate::commands::sockets::summary::{CLOSE_WAIT_IDLE, CLOSE_WAIT_LEAK, FD_LIMIT_WARN_PERCENT};
use crate::exit::Exit;
use crate::sys::diag::{self, Query};
use crate::sys::procfs;
use crate::sys::record::{Proto, SocketRecord, TcpState};
use crate::sys::socket::{self as sock, LoweredFileLimit, RecvEnd, ReuseFlags};
use crate::sys::sysctl;
use crate::units::{count, human};
use details::{CloseWaitDetails, FixedFigures, LeakFigures, LimitFigures};

/// How often sock_diag is read while waiting for the kernel to finish a step (microseconds
/// each on loopback).
const POLL: Duration = Duration::from_millis(2);

const MECHANISM: &str = "The peer's FIN moved each server socket to CLOSE_WAIT (tcp_fin() in \
     net/ipv4/tcp_input.c), which arms no timer: without keepalive or a write, it stays there until \
     the program calls close() (or shutdown()), and whatever ends the connection, its descriptor \
     stays held until close(). Each one keeps its file descriptor; once the lowest free \
     descriptor number reaches RLIMIT_NOFILE, every accept() fails with EMFILE (alloc_fd() in \
     fs/file.c) while new clients complete their handshakes and wait in the accept queue.";

const FIX: &str = "Treat recv() == 0 (read() == 0, EOF) as \"the peer closed\": leave the read \
     loop and close() the socket (or shutdown(SHUT_WR) first if a reply is still owed). Make every \
     error path close too (RAII, defer, try-with-resources). In production, `sockdoc inspect --pid \
     PID` names a process holding idle CLOSE_WAIT sockets (finding close-wait-leak) and `sockdoc \
     sockets --summary` lists the processes with the most.";

pub fn run(args: &CloseWaitArgs, ctx: &Context) -> anyhow::Result<(ScenarioReport, Exit)> {
    let mut s = Scenario::start("close-wait", args.scenario.addr);
    let clients = args.clients;
    // The leaked sockets, the waiting client and its accepted socket, stdio, sock_diag.
    make_room_for(clients)?;
    let fin_timeout_s = sysctl::read_number(&ctx.root, "net.ipv4.tcp_fin_timeout");

    // 1. The leaky server: reads end of stream and keeps the socket.
    let listener = sock::listener(s.ephemeral(), ReuseFlags::NONE, ctx.timeout)?;
    let (leak, leaked) = leaky_server(&listener, clients, fin_timeout_s, ctx)?;
    // 2. At the descriptor limit, with the leaked sockets still open.
    let limit = at_the_limit(&listener, ctx.timeout)?;
    // Closing the leaked sockets ends the leak; the clients' sides are freed by it too.
    drop(leaked);
    drop(listener);
    // 3. The fixed server: closes when recv() returns 0.
    let listener = sock::listener(s.ephemeral(), ReuseFlags::NONE, ctx.timeout)?;
    let fixed = fixed_server(&listener, clients, ctx)?;
    drop(listener);

    check_leak(&mut s, clients, &leak);
    check_limit(&mut s, &limit);
    check_fixed(&mut s, clients, &fixed);
    s.note(fin_wait2_note(fin_timeout_s));
    s.note(
        "accept() at the limit: the handshake had already completed (the listener's Recv-Q \
         counted the connection), so the client saw its connect() succeed; the failed accept() left \
         the connection queued and poll() still reported the listener readable (measured: \
         listener_readable_after_emfile), so a level-triggered event loop that retries accept() on \
         EMFILE spins until a descriptor is freed.",
    );
    s.note(format!(
        "In production: `sockdoc inspect --pid PID` reports the finding close-wait-leak for a \
         process holding {CLOSE_WAIT_LEAK} or more CLOSE_WAIT sockets idle for at least {} (or \
         any, once its descriptors pass {FD_LIMIT_WARN_PERCENT}% of its limit); `sockdoc \
         sockets --summary` lists the processes holding the most; `ss -tanp state close-wait` \
         shows the same sockets.",
        human(CLOSE_WAIT_IDLE)
    ));
    let verdict = format!(
        "The server that kept its sockets after recv() returned 0 held {} in CLOSE_WAIT and {} \
         more; with its descriptor limit reached, accept() failed with {} while the next client \
         waited in the accept queue. Closing on recv() == 0 left {} in CLOSE_WAIT.",
        count(leak.close_wait, "socket"),
        leak.baseline_fds.zip(leak.leaky_fds).map_or_else(
            || "its descriptors".to_owned(),
            |(before, after)| count(after.saturating_sub(before), "open descriptor")
        ),
        limit.accept_at_limit,
        fixed.close_wait,
    );
    let details = CloseWaitDetails {
        clients,
        leak,
        limit,
        fixed,
    };
    Ok(s.finish(&details, MECHANISM, verdict, FIX))
}

/// Phase 1: `clients` connect and close; the server reads each end of stream and keeps the
/// socket. Returns the figures and the kept sockets, which must stay open for phase 2.
fn leaky_server(
    listener: &socket2::Socket,
    clients: u32,
    fin_timeout_s: Option<u64>,
    ctx: &Context,
) -> anyhow::Result<(LeakFigures, Vec<TcpStream>)> {
    let fds = || procfs::open_fds(&ctx.root, std::process::id());
    let listen_addr = sock::local_addr(listener)?;
    let baseline_fds = fds();
    let mut leaked = Vec::new();
    let mut client_addrs = Vec::new();
    for _ in 0..clients {
        let (client_addr, server) = one_connection(listener, listen_addr, ctx.timeout)?;
        client_addrs.push(client_addr);
        leaked.push(server);
    }
    let leaky_fds = fds();
    let close_wait = server_sides(listen_addr, TcpState::CloseWait)?;
    let sides = settled_client_sides(&client_addrs, listen_addr, ctx.timeout)?;
    let fin_wait2: Vec<&SocketRecord> = sides
        .iter()
        .flatten()
        .filter(|r| r.state == TcpState::FinWait2)
        .collect();
    let figures = LeakFigures {
        close_wait: close_wait.len() as u32,
        close_wait_with_timer: close_wait.iter().filter(|r| r.timer.is_some()).count() as u32,
        client_fin_wait2: fin_wait2.len() as u32,
        client_fin_wait2_timers: timer_kinds(&fin_wait2),
        client_fin_wait2_timer_max_ms: fin_wait2
            .iter()
            .filter_map(|r| r.expires)
            .max()
            .map(|d| d.as_millis() as u64),
        tcp_fin_timeout: fin_timeout_s,
        baseline_fds,
        leaky_fds,
    };
    Ok((figures, leaked))
}

/// Phase 2: one more client completes its handshake; accept() runs with the soft
/// RLIMIT_NOFILE lowered to the lowest free descriptor, then again once it is restored.
fn at_the_limit(listener: &socket2::Socket, timeout: Duration) -> anyhow::Result<LimitFigures> {
    let listen_addr = sock::local_addr(listener)?;
    let waiting = sock::connect(listen_addr, timeout)?;
    let accept_queue_before = wait_for_queue(listen_addr, 1, timeout)?;
    let lowered_limit = sock::lowest_free_fd(listener)?;
    let guard = LoweredFileLimit::lower_to(lowered_limit)?;
    let accept_at_limit = outcome(sock::try_accept(listener));
    // What an event loop would see next: poll() still says the listener is readable.
    let readable_at_limit = sock::readable_now(listener);
    let open_files_limit = guard.restores();
    drop(guard);
    let listener_readable_after_emfile = readable_at_limit?;
    let accept_queue_after_emfile = listener_queue(listen_addr)?;
    let accept_after_restore = outcome(sock::try_accept(listener));
    drop(waiting);
    Ok(LimitFigures {
        accept_queue_before,
        open_files_limit,
        lowered_limit,
        accept_at_limit,
        listener_readable_after_emfile,
        accept_queue_after_emfile,
        accept_after_restore,
    })
}

/// Phase 3: the same clients against a server that closes on end of stream.
fn fixed_server(
    listener: &socket2::Socket,
    clients: u32,
    ctx: &Context,
) -> anyhow::Result<FixedFigures> {
    let fds = || procfs::open_fds(&ctx.root, std::process::id());
    let listen_addr = sock::local_addr(listener)?;
    let fixed_fds_before = fds();
    let mut client_addrs = Vec::new();
    for _ in 0..clients {
        let (client_addr, server) = one_connection(listener, listen_addr, ctx.timeout)?;
        drop(server);
        client_addrs.push(client_addr);
    }
    let fixed_fds = fds();
    let (fixed_close_wait, fixed_last_ack) = wait_until_closed(listen_addr, ctx.timeout)?;
    let time_wait = client_sides(&client_addrs, listen_addr)?
        .iter()
        .flatten()
        .filter(|r| r.state == TcpState::TimeWait)
        .count();
    Ok(FixedFigures {
        close_wait: fixed_close_wait,
        last_ack: fixed_last_ack,
        client_time_wait: time_wait as u32,
        fds_before: fixed_fds_before,
        fds: fixed_fds,
    })
}

fn check_leak(s: &mut Scenario, clients: u32, leak: &LeakFigures) {
    let n = clients;
    s.check(Check::new(
        "a socket whose program never closes stays in CLOSE_WAIT",
        format!("{} in CLOSE_WAIT", leak.close_wait),
        format!("{n} in CLOSE_WAIT"),
        leak.close_wait == n,
    ));
    s.check(Check::new(
        "CLOSE_WAIT has no timer (tcp_fin() arms none)",
        format!("{} with a timer", leak.close_wait_with_timer),
        "0 with a timer",
        leak.close_wait_with_timer == 0,
    ));
    let bound_ms = leak.tcp_fin_timeout.map(|s| s.max(1) * 1000);
    let left_ms = leak.client_fin_wait2_timer_max_ms;
    s.check(Check::new(
        "the clients' closed sides wait in FIN_WAIT2, on a timer of at most tcp_fin_timeout",
        format!(
            "{} in FIN_WAIT2{}",
            leak.client_fin_wait2,
            left_ms.map_or_else(String::new, |ms| format!(", {ms} ms left at most"))
        ),
        format!(
            "{n} in FIN_WAIT2{}",
            bound_ms.map_or_else(String::new, |ms| format!(", at most {ms} ms left"))
        ),
        leak.client_fin_wait2 == n
            && bound_ms
                .zip(left_ms)
                .is_none_or(|(bound, left)| left <= bound),
    ));
    if let Some((before, after)) = leak.baseline_fds.zip(leak.leaky_fds) {
        s.check(Check::new(
            "every socket left in CLOSE_WAIT holds a descriptor",
            format!("{} more open descriptors", after.saturating_sub(before)),
            format!("{n} more open descriptors"),
            after == before + u64::from(n),
        ));
    } else {
        s.note("/proc/self/fd is unreadable here: the descriptor counts are unavailable.");
    }
}

fn check_limit(s: &mut Scenario, limit: &LimitFigures) {
    s.check(Check::new(
        "accept() fails with EMFILE at RLIMIT_NOFILE",
        limit.accept_at_limit.clone(),
        "EMFILE",
        limit.accept_at_limit == "EMFILE",
    ));
    s.check(Check::new(
        "the client that accept() could not take waits in the accept queue",
        format!(
            "{} queued before, {} after EMFILE; accept() with the limit restored: {}",
            limit.accept_queue_before, limit.accept_queue_after_emfile, limit.accept_after_restore
        ),
        "1 queued before, 1 after EMFILE; accept() with the limit restored: accepted",
        limit.accept_queue_before == 1
            && limit.accept_queue_after_emfile == 1
            && limit.accept_after_restore == ACCEPTED,
    ));
}

fn check_fixed(s: &mut Scenario, clients: u32, fixed: &FixedFigures) {
    s.check(Check::new(
        "closing on recv() == 0 leaves no CLOSE_WAIT",
        format!(
            "{} in CLOSE_WAIT, {} in LAST_ACK",
            fixed.close_wait, fixed.last_ack
        ),
        "0 in CLOSE_WAIT, 0 in LAST_ACK",
        fixed.close_wait == 0 && fixed.last_ack == 0,
    ));
    if let Some((before, after)) = fixed.fds_before.zip(fixed.fds) {
        s.check(Check::new(
            "closing on recv() == 0 gives every descriptor back",
            format!("{before} open before, {after} after"),
            format!("{before} open before, {before} after"),
            before == after,
        ));
    }
    s.check(Check::new(
        "the clients' sides end in TIME_WAIT once the server closes",
        format!("{} in TIME_WAIT", fixed.client_time_wait),
        format!("{clients} in TIME_WAIT"),
        fixed.client_time_wait == clients,
    ));
}

/// Each timer kind on `records` once, sorted, "none" for a socket without one.
fn timer_kinds(records: &[&SocketRecord]) -> Vec<String> {
    let kinds: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|r| r.timer.map_or("none", crate::sys::record::Timer::name))
        .collect();
    kinds.into_iter().map(str::to_owned).collect()
}

/// What `outcome` says of an accept() that returned a socket.
const ACCEPTED: &str = "accepted";

/// How an accept() ended: "accepted" (the new socket is closed at once), or its errno.
fn outcome(accepted: std::io::Result<TcpStream>) -> String {
    match accepted {
        Ok(stream) => {
            drop(stream);
            ACCEPTED.to_owned()
        }
        Err(error) => CallEnd::from_error(&error).to_string(),
    }
}

/// One client connects, is accepted, and closes; the server reads the end of stream.
/// Returns the client's address and the server's socket, in CLOSE_WAIT.
fn one_connection(
    listener: &socket2::Socket,
    listen_addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<(SocketAddr, TcpStream)> {
    let client = sock::connect(listen_addr, timeout)?;
    let client_addr = sock::local_addr(&client)?;
    let mut server = sock::accept(listener, timeout)?;
    drop(client);
    match sock::recv_once(&mut server, "reading the client's FIN", timeout)? {
        RecvEnd::EndOfStream => Ok((client_addr, server)),
        RecvEnd::Data(n) => anyhow::bail!("the client sent {n} unexpected bytes before its FIN"),
        RecvEnd::Error(e) => Err(anyhow::anyhow!("reading the client's FIN: {e}")),
    }
}

/// The server's sockets on `listen_addr`'s port in `state` (sock_diag).
fn server_sides(listen_addr: SocketAddr, state: TcpState) -> anyhow::Result<Vec<SocketRecord>> {
    let query = Query {
        ipv4: listen_addr.is_ipv4(),
        ipv6: listen_addr.is_ipv6(),
        states: state.mask(),
        local_port: Some(listen_addr.port()),
        ..Query::tcp()
    };
    let (records, _) = diag::list(&query)?;
    Ok(records
        .into_iter()
        .filter(|r| r.local.ip() == listen_addr.ip())
        .collect())
}

/// Each closed client's side as sock_diag still sees it (FIN_WAIT2, TIME_WAIT), or `None`
/// once it is gone.
fn client_sides(
    clients: &[SocketAddr],
    listen_addr: SocketAddr,
) -> anyhow::Result<Vec<Option<SocketRecord>>> {
    clients
        .iter()
        .map(|&client| Ok(diag::lookup(Proto::Tcp, client, listen_addr)?))
        .collect()
}

/// `client_sides`, read until none is left in FIN_WAIT1 (waiting for the server's ACK of
/// its FIN), for at most `timeout`.
fn settled_client_sides(
    clients: &[SocketAddr],
    listen_addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<Vec<Option<SocketRecord>>> {
    let deadline = Instant::now() + timeout;
    loop {
        let sides = client_sides(clients, listen_addr)?;
        let acked = sides
            .iter()
            .flatten()
            .all(|r| r.state != TcpState::FinWait1);
        if acked || Instant::now() >= deadline {
            return Ok(sides);
        }
        thread::sleep(POLL);
    }
}

fn listener_queue(listen_addr: SocketAddr) -> anyhow::Result<u32> {
    let record = diag::lookup(Proto::Tcp, listen_addr, diag::listener_peer(listen_addr))?
        .context("the listener vanished from sock_diag")?;
    Ok(record.recv_q)
}

/// Reads the listener's accept queue until it holds `expected` connections, for at most
/// `timeout`; returns what it holds.
fn wait_for_queue(
    listen_addr: SocketAddr,
    expected: u32,
    timeout: Duration,
) -> anyhow::Result<u32> {
    let deadline = Instant::now() + timeout;
    loop {
        let queued = listener_queue(listen_addr)?;
        if queued >= expected || Instant::now() >= deadline {
            return Ok(queued);
        }
        thread::sleep(POLL);
    }
}

/// Waits until no server socket on the port is left in CLOSE_WAIT or LAST_ACK (the peer's
/// ACK of the server's FIN ends LAST_ACK), for at most `timeout`; returns both counts.
fn wait_until_closed(listen_addr: SocketAddr, timeout: Duration) -> anyhow::Result<(u32, u32)> {
    let deadline = Instant::now() + timeout;
    loop {
        let close_wait = server_sides(listen_addr, TcpState::CloseWait)?.len() as u32;
        let last_ack = server_sides(listen_addr, TcpState::LastAck)?.len() as u32;
        if close_wait + last_ack == 0 || Instant::now() >= deadline {
            return Ok((close_wait, last_ack));
        }
        thread::sleep(POLL);
    }
}

/// Raises the open-file limit for `clients` leaked sockets, or says why it cannot.
fn make_room_for(clients: u32) -> anyhow::Result<()> {
    let needed = u64::from(clients) + 32;
    if let Err(limit) = sock::ensure_open_files(needed) {
        anyhow::bail!(
            "--clients {clients} needs about {needed} open files but this process may open only \
             {limit} (ulimit -n): lower --clients or raise the limit"
        );
    }
    Ok(())
}

/// Where the clients' FIN_WAIT2 timer comes from, with the knob's value on this host.
fn fin_wait2_note(fin_timeout_s: Option<u64>) -> String {
    let knob = fin_timeout_s.map_or_else(
        || "net.ipv4.tcp_fin_timeout (unreadable here)".to_owned(),
        |s| format!("net.ipv4.tcp_fin_timeout = {s} s"),
    );
    format!(
        "The clients closed first, so their sides are orphans waiting for the server's FIN. \
         tcp_rcv_state_process() (net/ipv4/tcp_input.c, case TCP_FIN_WAIT1) gives an orphaned \
         socket that reaches FIN_WAIT2 the time tcp_fin_time() ({knob}): above TCP_TIMEWAIT_LEN \
         (60 s) on its keepalive timer, otherwise usually as a timewait socket in the FIN_WAIT2 \
         substate (tcp_time_wait()), which sock_diag reports as FIN_WAIT2 with the timewait \
         timer (\"their timer\" above). When it runs out the client side is gone (ip-sysctl.rst, \
         tcp_fin_timeout), yet the server's CLOSE_WAIT socket stays: nothing on the server side \
         expires. Once a server closes, its FIN moves the client side to TIME_WAIT \
         (tcp_timewait_state_process(), net/ipv4/tcp_minisocks.c) and its own socket to \
         LAST_ACK, then CLOSED at the client's ACK (tcp_rcv_state_process(), case \
         TCP_LAST_ACK)."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accept_reads_as_accepted_or_its_errno() {
        let refused = outcome(Err(std::io::Error::from_raw_os_error(libc::EMFILE)));
        assert_eq!(refused, "EMFILE");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let accepted = outcome(listener.accept().map(|(stream, _)| stream));
        assert_eq!(accepted, ACCEPTED);
        drop(client);
    }

    #[test]
    fn the_fin_wait2_note_names_the_knob_or_says_it_is_unreadable() {
        assert!(fin_wait2_note(Some(30)).contains("net.ipv4.tcp_fin_timeout = 30 s"));
        assert!(fin_wait2_note(None).contains("unreadable here"));
    }
}
