//! `sockdoc backlog`: a listener that never calls accept(), and more clients than its
//! queue holds. Linux completes handshakes into the accept queue until it holds the
//! effective backlog + 1 connections (`sk_acceptq_is_full` is `>`), where the effective
//! backlog is min(listen() backlog, net.core.somaxconn); after that `tcp_conn_request()`
//! drops new SYNs (TcpExtListenOverflows / ListenDrops) whatever tcp_abort_on_overflow says,
//! and those clients wait in SYN_SENT, retrying on the schedule their knobs give.

mod details;

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::Context;
use super::scenario::{Check, Scenario, ScenarioReport};
use crate::commands::args::BacklogArgs;
use crate::exit::Exit;
use crate::sys::SysError;
use crate::sys::diag;
use crate::sys::diagnose::Op;
use crate::sys::fs::Root;
use crate::sys::procfs;
use crate::sys::record::{Proto, TcpState};
use crate::sys::socket as sock;
use crate::sys::sysctl;
use crate::units::count;
use details::{BacklogDetails, Knobs};

/// How often the accept queue is read while the handshakes complete (microseconds each on
/// loopback).
const QUEUE_POLL: Duration = Duration::from_millis(2);

/// Once the queue holds what it should, it is watched this much longer, so a queue that
/// would grow past that is seen doing it.
const OVERSHOOT_LOOK: Duration = Duration::from_millis(20);

/// Measured in the run (the accept queue, SYN_SENT, ListenOverflows), with the function that
/// does it.
const MECHANISM: &str = "Nobody called accept(), so completed connections piled up in the \
     accept queue. Once it held the effective backlog + 1, Linux dropped further SYNs instead of \
     refusing them (tcp_conn_request() in net/ipv4/tcp_input.c): the clients see no error, only a \
     connect() that takes seconds.";

const FIX: &str = "Call accept() promptly (a dedicated accept loop, never blocked by request \
     work); raise the listen() backlog and net.core.somaxconn together, since the smaller one \
     wins; watch TcpExtListenOverflows.";

const SYNCOOKIES_NOTE: &str = "net.ipv4.tcp_syncookies answers SYNs with cookies when the SYN \
     queue is full (or always, at 2); it does not make room in a full accept queue: \
     tcp_conn_request() (net/ipv4/tcp_input.c) takes the cookie decision first and still drops \
     the SYN when sk_acceptq_is_full().";

pub fn run(args: &BacklogArgs, ctx: &Context) -> anyhow::Result<(ScenarioReport, Exit)> {
    let mut s = Scenario::start("backlog", args.scenario.addr);
    let root = &ctx.root;
    let sysctl = |key: &str| sysctl::read_number(root, key);
    let somaxconn = sysctl("net.core.somaxconn").and_then(|n| u32::try_from(n).ok());
    let effective = somaxconn.map_or(args.backlog, |max| args.backlog.min(max));
    let capacity = effective + 1;
    let expected_completed = args.clients.min(capacity);

    make_room_for(args.clients)?;
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

    let overflows_before = counters_before
        .as_ref()
        .and_then(|c| c.get(LISTEN_OVERFLOWS).copied());
    let queued = wait_for_queue(listen_addr, expected_completed, ctx.timeout, || {
        overflowed_since(root, overflows_before)
    })?;
    let states = classify(&clients, listen_addr)?;
    let counters_after = procfs::read_netstat(root).ok();
    let delta = |key: &str| -> Option<u64> {
        let before = counters_before.as_ref()?.get(key)?;
        Some(counters_after.as_ref()?.get(key)?.saturating_sub(*before))
    };
    let overflows = delta(LISTEN_OVERFLOWS);
    let drops = delta("TcpExt.ListenDrops");
    if let Some(lost) = queued.lost(expected_completed, &states, [overflows, drops], ctx) {
        return Err(lost.into());
    }
    // Closing the listener resets the connections still in its queue, so everything the
    // report says about resets was read above, before this.
    drop(clients);
    drop(listener);

    let knobs = Knobs::read(&sysctl);
    let schedule = knobs.syn_schedule();

    s.check(Check::new(
        "accept queue holds min(backlog, somaxconn) + 1",
        format!("{} queued", queued.queued),
        format!("{expected_completed} queued"),
        queued.queued == expected_completed,
    ));
    let expected_waiting = args.clients - expected_completed;
    s.check(Check::new(
        "clients beyond the queue wait in SYN_SENT",
        format!(
            "{} completed, {} in SYN_SENT, {} reset, {} other",
            states.completed, states.syn_sent, states.reset, states.other
        ),
        format!("{expected_completed} completed, {expected_waiting} in SYN_SENT, 0 reset"),
        states.completed == expected_completed
            && states.syn_sent == expected_waiting
            && states.reset == 0,
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
    s.note(abort_on_overflow_note(&knobs, args.clients, states.reset));
    s.note(syn_schedule_note(&knobs, schedule.as_ref()));
    s.note(SYNCOOKIES_NOTE);
    let verdict = verdict(args, somaxconn, effective, &queued, &states, overflows);
    let details = BacklogDetails {
        backlog: args.backlog,
        somaxconn,
        effective_backlog: effective,
        clients: args.clients,
        accept_queue: queued.queued,
        accept_queue_limit: queued.limit,
        completed: states.completed,
        waiting_in_syn_sent: states.syn_sent,
        clients_reset: states.reset,
        other: states.other,
        listen_overflows: overflows,
        listen_drops: drops,
        syn_retry_schedule_ms: schedule.as_ref().map(|plan| plan.retransmits_ms.clone()),
        connect_gives_up_after_ms: schedule.as_ref().map(|plan| plan.gives_up_after_ms),
        knobs,
    };
    Ok(s.finish(&details, MECHANISM, verdict, FIX))
}

/// One sentence from the measured outcome: whether the queue filled, and what the rest did.
fn verdict(
    args: &BacklogArgs,
    somaxconn: Option<u32>,
    effective: u32,
    queued: &Queue,
    states: &States,
    overflows: Option<u64>,
) -> String {
    let listener = format!(
        "The listener with backlog {} (effective {effective}{})",
        args.backlog,
        somaxconn.map_or_else(String::new, |m| format!(", somaxconn {m}"))
    );
    if states.syn_sent == 0 {
        format!(
            "{listener} took {} into its accept queue: the queue never filled, so no SYN was \
             dropped (raise --clients above {} to see it overflow).",
            if args.clients == 1 {
                "its one client".to_owned()
            } else {
                format!("all {} clients", args.clients)
            },
            effective + 1
        )
    } else {
        format!(
            "{listener} took {} of {} into its accept queue and stopped; the other {} in \
             SYN_SENT with their SYNs dropped{}.",
            queued.queued,
            count(args.clients, "client"),
            if states.syn_sent == 1 {
                "1 sat".to_owned()
            } else {
                format!("{} sat", states.syn_sent)
            },
            overflows.map_or_else(String::new, |n| format!(" (ListenOverflows +{n})"))
        )
    }
}

/// Raises the open-file limit for `clients` sockets, or says why it cannot.
fn make_room_for(clients: u32) -> anyhow::Result<()> {
    // One descriptor per client, the listener, and a margin for stdio and sock_diag.
    let needed = u64::from(clients) + 16;
    if let Err(limit) = sock::ensure_open_files(needed) {
        anyhow::bail!(
            "--clients {clients} needs about {needed} open files but this process may open only \
             {limit} (ulimit -n): lower --clients or raise the limit"
        );
    }
    Ok(())
}

/// Whether the listener has dropped a SYN for a full queue since ListenOverflows read
/// `before`: then the queue will not grow any more.
fn overflowed_since(root: &Root, before: Option<u64>) -> bool {
    let now = procfs::read_netstat(root)
        .ok()
        .and_then(|c| c.get(LISTEN_OVERFLOWS).copied());
    before.zip(now).is_some_and(|(before, now)| now > before)
}

/// Each client as its own socket sees it.
struct States {
    completed: u32,
    syn_sent: u32,
    /// SO_ERROR says ECONNRESET: the listener reset the connection after its handshake
    /// (tcp_abort_on_overflow = 1).
    reset: u32,
    other: u32,
}

fn classify(clients: &[socket2::Socket], listen_addr: SocketAddr) -> anyhow::Result<States> {
    let mut states = States {
        completed: 0,
        syn_sent: 0,
        reset: 0,
        other: 0,
    };
    for client in clients {
        match sock::take_error(client)? {
            Some(error) if error.raw_os_error() == Some(libc::ECONNRESET) => states.reset += 1,
            // Any other error ended the connect itself, and the listener, sockdoc's own and
            // open, answers a SYN it cannot take with silence: a reset in answer to the SYN
            // (ECONNREFUSED) or an EPERM came from a rule on this host, and the fd limit or
            // a full port range is no verdict on the accept queue either.
            Some(error) => {
                return Err(SysError::Connect {
                    addr: listen_addr,
                    error,
                }
                .diagnosed_as(Op::ConnectOwn(listen_addr))
                .into());
            }
            None => {
                let local = sock::local_addr(client)?;
                match diag::lookup(Proto::Tcp, local, listen_addr)?.map(|r| r.state) {
                    Some(TcpState::Established) => states.completed += 1,
                    Some(TcpState::SynSent) => states.syn_sent += 1,
                    _ => states.other += 1,
                }
            }
        }
    }
    Ok(states)
}

/// What tcp_abort_on_overflow did in this run (measured: the clients' SO_ERROR) and where the
/// kernel reads it.
fn abort_on_overflow_note(knobs: &Knobs, clients: u32, reset: u32) -> String {
    let value = knobs
        .tcp_abort_on_overflow
        .map_or_else(|| "unreadable".to_owned(), |v| v.to_string());
    let measured = if reset == 0 {
        let all = if clients == 1 {
            "the one client".to_owned()
        } else {
            format!("all {clients} clients")
        };
        format!(
            "no client was reset in this run (SO_ERROR of {all}); the SYNs that found the queue \
             full went unanswered."
        )
    } else {
        format!(
            "{reset} of {} {} reset (ECONNRESET in SO_ERROR).",
            count(clients, "client"),
            if reset == 1 { "was" } else { "were" }
        )
    };
    let synack_retries = knobs.tcp_synack_retries.map_or_else(
        || "tcp_synack_retries times".to_owned(),
        |n| format!("tcp_synack_retries = {}", count(n, "time")),
    );
    format!(
        "net.ipv4.tcp_abort_on_overflow = {value}: {measured} New SYNs to a full accept queue are \
         dropped whatever the knob says (tcp_conn_request() in net/ipv4/tcp_input.c: \
         sk_acceptq_is_full(), counted in ListenOverflows and ListenDrops). The knob is read \
         only in tcp_check_req() (net/ipv4/tcp_minisocks.c, label listen_overflow), for a \
         handshake already in SYN_RECV whose final ACK arrives after the queue filled, when the \
         client already sees its connect() succeed: at 1 the listener answers that ACK with RST \
         and the client's next read or write fails with ECONNRESET; at 0 it ignores the ACK, \
         keeps the request and resends its SYN-ACK on the request timer (reqsk_timer_handler() \
         in net/ipv4/inet_connection_sock.c, up to {synack_retries}), so a later ACK from \
         the client can still get in once accept() makes room."
    )
}

/// The clients' SYN retry schedule, computed from this kernel's knobs, with its sources.
fn syn_schedule_note(knobs: &Knobs, schedule: Option<&SynSchedule>) -> String {
    let (Some(retries), Some(plan)) = (knobs.tcp_syn_retries, schedule) else {
        return "net.ipv4.tcp_syn_retries is unreadable here, so the clients' SYN retry schedule \
                cannot be computed."
            .to_owned();
    };
    let linear = knobs.tcp_syn_linear_timeouts.map_or_else(
        || {
            "tcp_syn_linear_timeouts is absent (a kernel before 6.5, commit ccce324dabfe), so \
             every retry doubles the initial 1 s RTO (TCP_TIMEOUT_INIT)"
                .to_owned()
        },
        |n| {
            let gone_out = match n {
                1 => "1 retransmission has gone out".to_owned(),
                n => format!("{n} retransmissions have gone out"),
            };
            let first = match n + 1 {
                1 => "the first timeout is 1 s".to_owned(),
                k => format!("the first {k} timeouts are 1 s each"),
            };
            format!(
                "tcp_retransmit_timer() keeps the initial 1 s RTO (TCP_TIMEOUT_INIT) until \
                 tcp_syn_linear_timeouts = {gone_out}, so {first} (commit ccce324dabfe, Linux \
                 6.5; ip-sysctl.rst: tcp_syn_linear_timeouts), and doubles it after"
            )
        },
    );
    let ceiling = knobs.tcp_rto_max_ms.map_or_else(
        || format!("TCP_RTO_MAX, {} s", TCP_RTO_MAX_MS / 1000),
        |ms| format!("tcp_rto_max_ms = {ms}"),
    );
    let budget = if knobs.tcp_syn_linear_timeouts.is_some() {
        "tcp_syn_retries + tcp_syn_linear_timeouts retransmissions"
    } else {
        "tcp_syn_retries retransmissions"
    };
    format!(
        "Clients whose SYN was dropped retransmit it on their own timer: with tcp_syn_retries = \
         {retries} here the SYN goes out again nominally {} s after connect(), and connect() \
         fails with ETIMEDOUT at {} s unless the listener makes room first; a short burst \
         therefore clears by itself at a client's next retry once accept() catches up. Computed \
         from the knobs as net/ipv4/tcp_timer.c does, for a socket without TCP_SYNCNT or \
         TCP_USER_TIMEOUT: {linear}, up to {ceiling}; tcp_write_timeout() gives up after \
         {budget} or once tcp_model_timeout()'s budget for tcp_syn_retries has passed, \
         whichever comes first.",
        seconds_list(&plan.retransmits_ms),
        seconds(plan.gives_up_after_ms),
    )
}

/// TCP_TIMEOUT_INIT (include/net/tcp.h, "RFC6298 2.1 initial RTO value"): the first SYN's
/// retransmission timeout, 1 s.
const TCP_TIMEOUT_INIT_MS: u64 = 1_000;

/// TCP_RTO_MAX (include/net/tcp.h): the RTO ceiling, 120 s, where the kernel has no
/// net.ipv4.tcp_rto_max_ms to change it.
const TCP_RTO_MAX_MS: u64 = 120_000;

/// When a client that never hears back retransmits its SYN, and when it gives up.
#[derive(Debug, PartialEq, Eq)]
struct SynSchedule {
    /// Each retransmitted SYN, in ms after connect() sent the first one.
    retransmits_ms: Vec<u64>,
    /// When connect() fails with ETIMEDOUT, in ms after connect().
    gives_up_after_ms: u64,
}

/// The SYN_SENT retransmission timer of net/ipv4/tcp_timer.c, stepped through: each expiry
/// first asks tcp_write_timeout() whether to give up (`retransmits >= tcp_syn_retries +
/// tcp_syn_linear_timeouts`, or the time since the first SYN reaches tcp_model_timeout() for
/// tcp_syn_retries), otherwise retransmits; tcp_retransmit_timer() then doubles the RTO, up to
/// `rto_max_ms`, once the retransmissions so far exceed tcp_syn_linear_timeouts (0 on kernels
/// without the knob, which double from the first retry). Nominal times: timers fire a little
/// late, so measured times run slightly behind.
fn syn_schedule(syn_retries: u32, linear_timeouts: u32, rto_max_ms: u64) -> SynSchedule {
    let rto_max = rto_max_ms.max(1);
    let max_retransmits = syn_retries.saturating_add(linear_timeouts);
    let budget = model_timeout_ms(syn_retries, TCP_TIMEOUT_INIT_MS, rto_max);
    let mut retransmits_ms = Vec::new();
    let (mut now, mut rto) = (0, TCP_TIMEOUT_INIT_MS.min(rto_max));
    loop {
        now += rto;
        let sent = u32::try_from(retransmits_ms.len()).unwrap_or(u32::MAX);
        if sent >= max_retransmits || (sent > 0 && now >= budget) {
            return SynSchedule {
                retransmits_ms,
                gives_up_after_ms: now,
            };
        }
        retransmits_ms.push(now);
        if sent + 1 > linear_timeouts {
            rto = (rto * 2).min(rto_max);
        }
    }
}

/// tcp_model_timeout() in net/ipv4/tcp_timer.c: how long `boundary` retransmissions would
/// take with exponential backoff from `rto_base`, the RTO capped at `rto_max`.
fn model_timeout_ms(boundary: u32, rto_base: u64, rto_max: u64) -> u64 {
    let threshold = (rto_max / rto_base).max(1).ilog2();
    if boundary <= threshold {
        ((2_u64 << boundary) - 1) * rto_base
    } else {
        ((2_u64 << threshold) - 1) * rto_base + u64::from(boundary - threshold) * rto_max
    }
}

/// 67000 → "67", 1500 → "1.5".
fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        format!("{:.1}", Duration::from_millis(ms).as_secs_f64())
    }
}

/// "1, 2, 3 and 5".
fn seconds_list(times_ms: &[u64]) -> String {
    let parts: Vec<String> = times_ms.iter().map(|&ms| seconds(ms)).collect();
    match parts.split_last() {
        None => "never".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// `TcpExtListenOverflows` in /proc/net/netstat: SYNs a listener dropped for a full queue.
const LISTEN_OVERFLOWS: &str = "TcpExt.ListenOverflows";

struct Queue {
    queued: u32,
    limit: u32,
    /// The queue reached what it should hold, or the listener started dropping SYNs for a
    /// full queue; false when `timeout` ran out first.
    settled: bool,
}

impl Queue {
    /// When the queue had room and the listener dropped nothing (neither for a full accept
    /// queue, ListenOverflows, nor for any other reason, ListenDrops), yet handshakes did not
    /// complete, a SYN or a SYN-ACK never arrived: the timeout that names the step, for an
    /// exit 3. Not a verdict on the kernel.
    fn lost(
        &self,
        expected: u32,
        states: &States,
        [overflows, drops]: [Option<u64>; 2],
        ctx: &Context,
    ) -> Option<SysError> {
        let lost = !self.settled
            && self.queued < expected
            && states.syn_sent > 0
            && overflows.is_none_or(|n| n == 0)
            && drops.is_none_or(|n| n == 0);
        lost.then(|| {
            let step = format!(
                "waiting for the clients' handshakes ({} of {} completed and {} are still in \
                 SYN_SENT, although the accept queue had room for {} more and the listener dropped \
                 nothing{}: their SYNs or the SYN-ACKs were lost)",
                states.completed,
                states.completed + states.syn_sent + states.reset + states.other,
                states.syn_sent,
                expected - self.queued,
                if overflows.is_some() && drops.is_some() {
                    " (TcpExtListenOverflows +0, TcpExtListenDrops +0)"
                } else {
                    ""
                },
            );
            SysError::Timeout {
                step,
                timeout: ctx.timeout,
            }
            .diagnosed()
        })
    }
}

/// Reads the listener's accept queue (its recv_q; send_q is the limit) until it holds
/// `expected` connections or `overflowed()` says the listener is refusing more, for at most
/// `timeout`.
fn wait_for_queue(
    listen_addr: SocketAddr,
    expected: u32,
    timeout: Duration,
    overflowed: impl Fn() -> bool,
) -> anyhow::Result<Queue> {
    let deadline = Instant::now() + timeout;
    let unspecified = diag::listener_peer(listen_addr);
    let read = || -> anyhow::Result<(u32, u32)> {
        let record = diag::lookup(Proto::Tcp, listen_addr, unspecified)?
            .context("the listener vanished from sock_diag")?;
        Ok((record.recv_q, record.send_q))
    };
    loop {
        let (queued, _) = read()?;
        let settled = queued >= expected || overflowed();
        if settled || Instant::now() >= deadline {
            if settled {
                thread::sleep(OVERSHOOT_LOOK);
            }
            let (queued, limit) = read()?;
            return Ok(Queue {
                queued,
                limit,
                settled,
            });
        }
        thread::sleep(QUEUE_POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule_s(retries: u32, linear: u32) -> (Vec<u64>, u64) {
        let plan = syn_schedule(retries, linear, TCP_RTO_MAX_MS);
        (
            plan.retransmits_ms.iter().map(|ms| ms / 1000).collect(),
            plan.gives_up_after_ms / 1000,
        )
    }

    fn knobs(synack_retries: u32, syn_linear_timeouts: u32) -> Knobs {
        Knobs {
            tcp_abort_on_overflow: Some(0),
            tcp_synack_retries: Some(synack_retries),
            tcp_syncookies: Some(1),
            tcp_syn_retries: Some(6),
            tcp_syn_linear_timeouts: Some(syn_linear_timeouts),
            tcp_rto_max_ms: None,
        }
    }

    #[test]
    fn counts_of_one_read_in_the_singular() {
        let note = abort_on_overflow_note(&knobs(1, 4), 1, 0);
        assert!(note.contains("(SO_ERROR of the one client)"), "{note}");
        assert!(
            note.contains("up to tcp_synack_retries = 1 time)"),
            "{note}"
        );
        let note = abort_on_overflow_note(&knobs(5, 4), 3, 1);
        assert!(note.contains("1 of 3 clients was reset"), "{note}");
        assert!(
            note.contains("up to tcp_synack_retries = 5 times)"),
            "{note}"
        );
        let one_linear = knobs(5, 1);
        let note = syn_schedule_note(&one_linear, one_linear.syn_schedule().as_ref());
        assert!(
            note.contains("= 1 retransmission has gone out, so the first 2 timeouts are 1 s each"),
            "{note}"
        );
        let none_linear = knobs(5, 0);
        let note = syn_schedule_note(&none_linear, none_linear.syn_schedule().as_ref());
        assert!(
            note.contains("= 0 retransmissions have gone out, so the first timeout is 1 s"),
            "{note}"
        );
    }

    #[test]
    fn default_knobs_give_the_linear_then_exponential_schedule() {
        // ip-sysctl.rst, tcp_syn_retries since commit ccce324dabfe: "67seconds (with
        // tcp_syn_linear_timeouts = 4) till the last retransmission ... the final timeout
        // ... after 131seconds". Measured on 6.18 (tcpdump): +1.0 2.0 3.1 4.1 5.1 7.1 11.2
        // 19.4 35.5 69.0 s, ETIMEDOUT at 134.5 s; the timer wheel fires late, never early.
        assert_eq!(
            schedule_s(6, 4),
            (vec![1, 2, 3, 4, 5, 7, 11, 19, 35, 67], 131)
        );
    }

    #[test]
    fn without_linear_timeouts_every_retry_doubles() {
        // Kernels before 6.5, or tcp_syn_linear_timeouts = 0: ip-sysctl.rst's "63seconds till
        // the last retransmission ... after 127seconds".
        assert_eq!(schedule_s(6, 0), (vec![1, 3, 7, 15, 31, 63], 127));
        assert_eq!(schedule_s(3, 0), (vec![1, 3, 7], 15));
    }

    #[test]
    fn the_time_budget_can_end_the_connect_before_the_count_does() {
        // tcp_model_timeout(1) = 3 s and (2) = 7 s, reached before 1 + 4 and 2 + 4
        // retransmissions. Measured in a private netns: ETIMEDOUT at 3.07 s after SYNs at
        // +1.0 and +2.0 s; at 7.13 s after five SYNs one second apart.
        assert_eq!(schedule_s(1, 4), (vec![1, 2], 3));
        assert_eq!(schedule_s(2, 4), (vec![1, 2, 3, 4, 5], 7));
        // And the count first: measured +1.0 2.0 4.1 s, ETIMEDOUT at 8.13 s.
        assert_eq!(schedule_s(2, 1), (vec![1, 2, 4], 8));
    }

    #[test]
    fn the_rto_stops_growing_at_its_ceiling() {
        let plan = syn_schedule(8, 0, 10_000);
        let gaps: Vec<u64> = plan
            .retransmits_ms
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .collect();
        assert_eq!(
            gaps,
            vec![2_000, 4_000, 8_000, 10_000, 10_000, 10_000, 10_000]
        );
        // tcp_model_timeout(8) with a 10 s ceiling: (2^4 - 1) s + (8 - 3) * 10 s = 65 s.
        assert_eq!(model_timeout_ms(8, 1_000, 10_000), 65_000);
    }

    #[test]
    fn model_timeout_matches_the_documented_retries2_budget() {
        // ip-sysctl.rst, tcp_retries2: 15 from TCP_RTO_MIN (200 ms) "yields a hypothetical
        // timeout of 924.6 seconds".
        assert_eq!(model_timeout_ms(15, 200, TCP_RTO_MAX_MS), 924_600);
    }

    #[test]
    fn seconds_read_naturally() {
        assert_eq!(seconds_list(&[1_000, 2_000, 67_000]), "1, 2 and 67");
        assert_eq!(seconds_list(&[1_500]), "1.5");
    }
}
