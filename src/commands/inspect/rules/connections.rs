//! Connections and processes: CLOSE_WAIT leaks, descriptors, the options that shape traffic
//! (Nagle, linger, keepalive, user timeout), queues that do not move, loss, and ports.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{
    Exam, IDLE_NOTICE, MIDDLEBOX_IDLE, RETRANS_MIN, RETRANS_WARN_SHARE, SLOW_READER_FILL, Verdicts,
    backing_off, finding, group_finding, grouped, idle_for, small_writes,
};
use crate::commands::inspect::{FindingId, SocketView};
use crate::commands::severity::Level;
use crate::commands::sockets::summary::{
    CLOSE_WAIT_IDLE, CLOSE_WAIT_LEAK, FD_LIMIT_WARN_PERCENT, is_leak,
};
use crate::sys::ports;
use crate::sys::record::{Proto, TcpState, Timer};
use crate::units::{count, human, human_size, millis};

// ---------------------------------------------------------------------------------------
// CLOSE_WAIT and descriptors
// ---------------------------------------------------------------------------------------

pub(super) fn close_wait(exam: &Exam, v: &mut Verdicts) {
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
        let (fds, limit) = (
            process.and_then(|p| p.fds),
            process.and_then(|p| p.fd_limit),
        );
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
            example.map_or("An unknown process".to_owned(), SocketView::process_text),
            count(total, "TCP socket"),
            human(CLOSE_WAIT_IDLE),
            human(Duration::from_millis(longest)),
        );
        f.mechanism = format!(
            "The peer closed (its FIN moved the socket to CLOSE_WAIT: tcp_fin(), \
             net/ipv4/tcp_input.c, which arms no timer) and the program never called close() (or \
             shutdown()). Without keepalive or a write the socket stays in CLOSE_WAIT, and even \
             when an RST later ends it, its descriptor stays held until close(). Each \
             holds a descriptor; {CLOSE_WAIT_LEAK} idle at once (or any near {FD_LIMIT_WARN_PERCENT}% \
             of the descriptor limit) is a leak, and when the descriptors run out accept() and \
             socket() fail with EMFILE (alloc_fd(), fs/file.c)."
        );
        f.fix = "Close the socket when read()/recv() returns 0 (end of stream) and on every \
                 error path; a connection pool should drop connections whose server closed them."
            .into();
        f.reproduce = Some("sockdoc close-wait".to_owned());
        v.findings.push(f);
    }
}

pub(super) fn fd_pressure(exam: &Exam, v: &mut Verdicts) {
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
            .into();
        f.fix = "Find what holds the descriptors (CLOSE_WAIT sockets are the usual leak), and \
                 raise the limit (LimitNOFILE= in the systemd unit, ulimit -n) for a server \
                 that really holds that many connections."
            .into();
        v.findings.push(f);
    }
}

pub(super) fn per_process_options(exam: &Exam, v: &mut Verdicts) {
    nagle(exam, v);
    linger(exam, v);
    keepalive(exam, v);
    user_timeout(exam, v);
}

fn established(s: &SocketView) -> bool {
    s.proto == Proto::Tcp && s.state == TcpState::Established
}

fn nagle(exam: &Exam, v: &mut Verdicts) {
    for g in grouped(exam, true, nagle_detail) {
        let mut f = group_finding(FindingId::NagleSmallWrites, Level::Advise, &g);
        f.evidence = g.evidence(
            "has",
            "connection",
            "with TCP_NODELAY off that carry traffic both ways in small segments",
        );
        f.mechanism = "With Nagle's algorithm on, a small segment waits while an earlier small \
                       (sub-MSS) segment is unacknowledged (Minshall's variant: tcp_nagle_check(), \
                       tcp_minshall_check(), net/ipv4/tcp_output.c); the peer, in interactive \
                       (pingpong) mode, delays its ACK at least ~40 ms (TCP_DELACK_MIN) and up to \
                       200 ms (TCP_DELACK_MAX) on longer paths (tcp_send_delayed_ack(), \
                       net/ipv4/tcp_output.c). A request written in two pieces (header, then \
                       body) then stalls that long per round trip; one write per request does \
                       not."
            .into();
        f.fix = "Write each message with one write()/writev(), or set TCP_NODELAY on the socket \
                 (stream.set_nodelay(true)) for request/response traffic."
            .into();
        f.reproduce = Some("sockdoc nagle".to_owned());
        v.findings.push(f);
    }
}

fn linger(exam: &Exam, v: &mut Verdicts) {
    for g in grouped(exam, true, linger_detail) {
        let mut f = group_finding(FindingId::LingerZero, Level::Advise, &g);
        f.evidence = g.evidence("has", "socket", "with SO_LINGER {on, 0 s}");
        f.mechanism = "close() of such a socket aborts the connection: __tcp_close() \
                       (net/ipv4/tcp.c) calls tcp_disconnect(), which sends a RST instead of a \
                       FIN and discards unsent data; the peer's next read or write fails with \
                       ECONNRESET. Accepted sockets inherit it from their listener \
                       (sk_clone_lock() copies the flag)."
            .into();
        f.fix = "Drop SO_LINGER 0 unless an abortive close is the intent; to shed TIME_WAIT, let \
                 the client close first instead."
            .into();
        f.reproduce = Some("sockdoc peer-close".to_owned());
        v.findings.push(f);
    }
}

fn keepalive(exam: &Exam, v: &mut Verdicts) {
    let default_idle = exam.knobs.keepalive_time_s;
    for g in grouped(exam, true, |s| keepalive_detail(s, default_idle)) {
        let mut f = group_finding(FindingId::IdleNoKeepalive, Level::Advise, &g);
        let what = format!(
            "idle for over {} whose keepalive would not probe within {}",
            human(IDLE_NOTICE),
            human(MIDDLEBOX_IDLE)
        );
        f.evidence = g.evidence("has", "connection", &what);
        f.mechanism = "NAT gateways and load balancers forget a flow that is idle longer than \
                       their timeout (AWS NLB and NAT gateway 350 s, Azure 4 min) without telling \
                       either end; the next segment is then dropped (or answered with a reset), \
                       and a write is retransmitted until tcp_retries2 gives up (≥ 924.6 s, \
                       ip-sysctl.rst). Keepalive probes sent \
                       before the timeout keep the flow alive, or detect it is gone."
            .into();
        f.fix = "Enable SO_KEEPALIVE with TCP_KEEPIDLE below the shortest middlebox timeout on \
                 the path (e.g. 60 s), TCP_KEEPINTVL 10 s and TCP_KEEPCNT 3; net.ipv4.\
                 tcp_keepalive_time (default 7200 s) applies only to sockets that do not set \
                 their own."
            .into();
        v.findings.push(f);
    }
}

fn user_timeout(exam: &Exam, v: &mut Verdicts) {
    for g in grouped(exam, true, user_timeout_detail) {
        let mut f = group_finding(FindingId::NoUserTimeout, Level::Advise, &g);
        f.evidence = g.evidence(
            "has",
            "connection",
            "retransmitting unacknowledged data without TCP_USER_TIMEOUT",
        );
        f.mechanism = "Without TCP_USER_TIMEOUT the kernel keeps retransmitting until \
                       tcp_retries2 (default 15) is used up: at least 924.6 s \
                       (tcp_write_timeout(), net/ipv4/tcp_timer.c; ip-sysctl.rst); the program's \
                       writes keep succeeding until the send buffer fills, then block (or return \
                       EAGAIN)."
            .into();
        f.fix = "Set TCP_USER_TIMEOUT (e.g. 30 s) on connections that must fail fast, together \
                 with keepalive for idle ones."
            .into();
        v.findings.push(f);
    }
}

// ---------------------------------------------------------------------------------------
// Queues: stuck senders and slow readers
// ---------------------------------------------------------------------------------------

pub(super) fn stuck_and_slow(exam: &Exam, v: &mut Verdicts) {
    let sampled = exam.window.is_some();
    for g in grouped(exam, false, |s| stuck_detail(s, sampled)) {
        let mut f = group_finding(FindingId::StuckSender, Level::Warn, &g);
        let what = if sampled {
            "whose peer advertises a zero receive window and acknowledged nothing during the window"
        } else {
            "whose peer advertises a zero receive window"
        };
        f.evidence = g.evidence("has", "connection", what);
        f.mechanism = "The peer's program is not reading: its receive buffer is full, so it \
                       advertises a zero window and this side can only send zero-window probes \
                       (tcp_probe_timer(), net/ipv4/tcp_timer.c; idiag_timer 4). This program's \
                       writes fill its send buffer and then block (or return EAGAIN)."
            .into();
        f.fix = "Fix the reader on the other end; on this side, bound the wait (a write \
                 deadline, TCP_USER_TIMEOUT) and stop writing to a peer that does not read."
            .into();
        f.reproduce = Some("sockdoc partial-send".to_owned());
        v.findings.push(f);
    }
    for g in grouped(exam, false, |s| slow_reader(s, sampled)) {
        let mut f = group_finding(FindingId::SlowReader, Level::Warn, &g);
        f.evidence = g.evidence("has", "socket", "whose receive queue is not being read");
        f.mechanism = "Data waits in the receive buffer until the program reads it. For TCP the \
                       advertised window shrinks as the buffer fills (tcp_select_window(), \
                       net/ipv4/tcp_output.c) until the sender stalls; for UDP each datagram \
                       that does not fit is dropped (sk_drops, Udp.RcvbufErrors)."
            .into();
        f.fix = "Read faster or on more threads; a larger SO_RCVBUF only absorbs bursts.".into();
        f.reproduce = Some("sockdoc udp".to_owned());
        v.findings.push(f);
    }
}

pub(super) fn slow_reader(s: &SocketView, sampled: bool) -> Option<String> {
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

pub(super) fn retransmits(exam: &Exam, v: &mut Verdicts) {
    let Some(window) = exam.window else { return };
    for g in grouped(exam, false, retransmits_detail) {
        let mut f = group_finding(FindingId::Retransmits, Level::Warn, &g);
        let what = format!("retransmitting during the {} window", human(window));
        f.evidence = g.evidence("has", "connection", &what);
        f.mechanism = "Most retransmitted segments were lost (or their ACKs were); some are \
                       spurious (tail-loss probes, reordering, a premature timeout). The sender \
                       notices a loss late — from duplicate or selective ACKs, or only when the retransmission \
                       timeout fires (tcp_retransmit_timer(), net/ipv4/tcp_timer.c) — and its \
                       congestion control cuts the window (CUBIC to 70 %, Reno to half), so \
                       throughput falls and each loss adds at least a round trip of latency."
            .into();
        f.fix = "Find the lossy hop (interface errors, a full queue, a policer, Wi-Fi); `ss -ti` \
                 and `nstat -az TcpRetransSegs` confirm the rate."
            .into();
        v.findings.push(f);
    }
}

pub(super) fn bound_ports(exam: &Exam, v: &mut Verdicts) {
    for g in grouped(exam, false, bound_detail) {
        let mut f = group_finding(FindingId::BindPinsPort, Level::Advise, &g);
        f.evidence = g.evidence(
            "holds",
            "TCP socket",
            "bound to a port but neither listening nor connected",
        );
        f.mechanism = "bind() took the port for this socket alone, for every destination: \
                       until it is closed no other socket can take it (unless both set SO_REUSEADDR or \
                       SO_REUSEPORT), and connect() skips it. A \
                       client that binds before connect() (to choose its source address) pins \
                       one ephemeral port per connection instead of sharing ports across \
                       destinations, and runs out of ports (EADDRINUSE) far sooner."
            .into();
        f.fix = "Before bind(ip, 0) on a client, set IP_BIND_ADDRESS_NO_PORT so the port is \
                 chosen at connect() time per destination; close sockets that were bound and \
                 never used."
            .into();
        f.reproduce = Some("sockdoc reuse-test".to_owned());
        v.findings.push(f);
    }
}

pub(super) fn port_budget(exam: &Exam, v: &mut Verdicts) {
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
    f.evidence.clone_from(&pressure.reason);
    f.mechanism = "A connection this host closes first keeps its ephemeral port in TIME_WAIT \
                   for 60 s (TCP_TIMEWAIT_LEN); connect() to the same destination cannot reuse \
                   it meanwhile (unless tcp_tw_reuse allows), so new connections per minute to \
                   one destination are capped by the ephemeral range."
        .into();
    f.fix = "Reuse connections (keep-alive pools), widen net.ipv4.ip_local_port_range, or \
             spread over more destination addresses; `sockdoc sysctl-advice --role client` \
             judges the knobs."
        .into();
    f.reproduce = Some("sockdoc sockets --summary".to_owned());
    v.findings.push(f);
}

// The per-socket verdicts: `Some(detail)` when the socket shows the problem.

pub(super) fn nagle_detail(s: &SocketView) -> Option<String> {
    if !established(s) || s.options.nodelay != Some(false) || s.options.cork == Some(true) {
        return None;
    }
    let (average, mss) = small_writes(s)?;
    Some(format!(
        "e.g. {} → {}: {average} bytes per data segment on average against an MSS of {mss}",
        s.local, s.remote
    ))
}

pub(super) fn linger_detail(s: &SocketView) -> Option<String> {
    (s.proto == Proto::Tcp && s.options.linger_on == Some(true) && s.options.linger_s == Some(0))
        .then(|| format!("e.g. {} ({})", s.local, s.state))
}

pub(super) fn keepalive_detail(s: &SocketView, default_idle: Option<u64>) -> Option<String> {
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
        None => format!(
            "e.g. {} → {} idle for {}, keepalive off",
            s.local,
            s.remote,
            human(idle)
        ),
        Some(after) => format!(
            "e.g. {} → {} idle for {}, first keepalive probe after {after} s",
            s.local,
            s.remote,
            human(idle)
        ),
    })
}

pub(super) fn user_timeout_detail(s: &SocketView) -> Option<String> {
    (established(s) && backing_off(s) && s.options.user_timeout_ms == Some(0)).then(|| {
        format!(
            "e.g. {} → {}: {} unacknowledged, retransmission backoff {}",
            s.local,
            s.remote,
            human_size(u64::from(s.send_q)),
            s.tcp.and_then(|t| t.backoff).unwrap_or(0)
        )
    })
}

pub(super) fn stuck_detail(s: &SocketView, sampled: bool) -> Option<String> {
    // Only a synchronized connection has a window to wait on (a SYN_SENT socket's send
    // queue is its SYN, and it has no window yet).
    let can_send = matches!(s.state, TcpState::Established | TcpState::CloseWait);
    if s.proto != Proto::Tcp || !can_send || s.send_q == 0 {
        return None;
    }
    let zero_window =
        s.timer == Some(Timer::ZeroWindowProbe) || s.tcp.and_then(|t| t.snd_wnd_bytes) == Some(0);
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
}

pub(super) fn retransmits_detail(s: &SocketView) -> Option<String> {
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
}

pub(super) fn bound_detail(s: &SocketView) -> Option<String> {
    (s.proto == Proto::Tcp && s.state == TcpState::Close && s.local.port() != 0 && s.pid.is_some())
        .then(|| format!("e.g. {}", s.local))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::{Exam, NotJudgedTally, PortTally, judge};
    use crate::commands::inspect::gather::{Hold, Knobs};
    use crate::commands::inspect::{Counters, FindingId, Options, SocketView};
    use crate::sys::record::{Proto, SocketRecord, TcpState, Timer};
    use crate::sys::tcp_info::TcpInfo;

    /// An established connection idle for `idle` both ways, held by pid 7, with `options`.
    /// The rules are judged on records as sock_diag gives them; only the clock cannot be
    /// planted in a test (a connection idle for minutes), so these build the record.
    fn connection(idle: Duration, options: Options) -> SocketView {
        let idle_ms = u32::try_from(idle.as_millis()).unwrap();
        let record = SocketRecord {
            proto: Proto::Tcp,
            state: TcpState::Established,
            local: "10.0.0.1:40000".parse().unwrap(),
            remote: "10.0.0.2:443".parse().unwrap(),
            recv_q: 0,
            send_q: 0,
            timer: None,
            expires: None,
            retransmits: 0,
            uid: Some(1000),
            inode: 42,
            info: Some(TcpInfo {
                last_data_recv_ms: Some(idle_ms),
                last_data_sent_ms: Some(idle_ms),
                ..TcpInfo::default()
            }),
            v6only: None,
            shutdown: None,
            memory: None,
            flags: None,
        };
        let hold = Hold {
            pid: 7,
            process: Arc::from("client"),
            fd: 9,
        };
        let mut view = SocketView::new(&record, &[hold]);
        view.options = options;
        view
    }

    fn ids(sockets: &[SocketView]) -> Vec<FindingId> {
        let knobs = Knobs {
            keepalive_time_s: Some(7200),
            ..Knobs::default()
        };
        let exam = Exam {
            sockets,
            processes: &[],
            knobs: &knobs,
            counters: &Counters::default(),
            window: None,
            tally: &PortTally::new(&knobs),
            host: false,
            not_judged: &[],
        };
        judge(&exam).0.into_iter().map(|f| f.id).collect()
    }

    fn keepalive(on: bool, idle_s: Option<u64>) -> Options {
        Options {
            keepalive: Some(on),
            keepalive_idle_s: idle_s,
            ..Options::default()
        }
    }

    #[test]
    fn an_idle_connection_needs_a_keepalive_before_the_middlebox_forgets_it() {
        let ten_minutes = Duration::from_secs(600);
        let flagged = [FindingId::IdleNoKeepalive];
        assert_eq!(
            ids(&[connection(ten_minutes, keepalive(false, None))]),
            flagged
        );
        // On, but with the kernel's 2-hour default (tcp_keepalive_time 7200).
        assert_eq!(
            ids(&[connection(ten_minutes, keepalive(true, None))]),
            flagged
        );
        assert_eq!(
            ids(&[connection(ten_minutes, keepalive(true, Some(60)))]),
            []
        );
        // Busy connections are not judged idle.
        let busy = Duration::from_secs(5);
        assert_eq!(ids(&[connection(busy, keepalive(false, None))]), []);
    }

    #[test]
    fn unknown_options_are_not_judged_rather_than_guessed() {
        let mut view = connection(Duration::from_secs(600), Options::default());
        view.options_unknown_reason = Some("needs ptrace".into());
        let knobs = Knobs::default();
        let mut tally = NotJudgedTally::default();
        tally.add(&view);
        let not_judged = tally.into_entries();
        let sockets = [view];
        let exam = Exam {
            sockets: &sockets,
            processes: &[],
            knobs: &knobs,
            counters: &Counters::default(),
            window: None,
            tally: &PortTally::new(&knobs),
            host: false,
            not_judged: &not_judged,
        };
        let (findings, not_judged) = judge(&exam);
        assert!(findings.is_empty());
        // Both rules that would have looked at this connection say why they could not.
        let ids: Vec<FindingId> = not_judged.iter().map(|n| n.id).collect();
        assert_eq!(ids, [FindingId::LingerZero, FindingId::IdleNoKeepalive]);
        assert!(not_judged.iter().all(|n| n.reason == "needs ptrace"));
    }

    #[test]
    fn retransmitting_without_a_user_timeout_is_flagged() {
        let mut view = connection(
            Duration::from_secs(1),
            Options {
                user_timeout_ms: Some(0),
                ..Options::default()
            },
        );
        view.send_q = 4096;
        view.timer = Some(Timer::Retransmit);
        view.tcp.as_mut().unwrap().backoff = Some(3);
        assert_eq!(ids(&[view.clone()]), [FindingId::NoUserTimeout]);
        view.options.user_timeout_ms = Some(30_000);
        assert_eq!(ids(&[view]), []);
    }
}
