//! `sockdoc timeouts`: how long socket calls wait. A blocking recv() with SO_RCVTIMEO gives
//! up with EAGAIN after the set time (socket(7)); a non-blocking recv() says EAGAIN at once;
//! a connect() to a port whose listener has a full accept queue gets no answer (its SYN is
//! dropped) and only a timeout ends the wait. Loopback only.

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

use super::Context;
use super::scenario::{Check, Scenario, ScenarioReport};
use crate::cli::TimeoutsArgs;
use crate::exit::Exit;
use crate::sys::SysError;
use crate::sys::error::errno_name;
use crate::sys::socket::{self as sock, ReuseFlags};
use crate::units::{human, micros, millis};

/// The kernel converts SO_RCVTIMEO to jiffies and the scheduler adds wake-up latency: a
/// wait this much past the timeout still counts as "after the set time".
const LATE_SLACK: Duration = Duration::from_millis(50);

/// poll(2) counts its timeout in whole milliseconds and the kernel's timers in jiffies, so
/// a wait may end this much before the requested time and still be the timeout firing.
const EARLY_SLACK: Duration = Duration::from_millis(5);

/// A non-blocking call that returns within this is "at once".
const AT_ONCE: Duration = Duration::from_millis(5);

pub fn run(args: &TimeoutsArgs, ctx: &Context) -> anyhow::Result<(ScenarioReport, Exit)> {
    let mut s = Scenario::start("timeouts", args.scenario.addr);
    let listener = sock::listener(s.ephemeral(), ReuseFlags::NONE, ctx.timeout)?;
    let listen_addr = sock::local_addr(&listener)?;
    let mut client = sock::connect(listen_addr, ctx.timeout)?;
    let _server = sock::accept(&listener, ctx.timeout)?;

    // 1. Blocking recv() with SO_RCVTIMEO: nothing arrives, so it waits that long.
    client
        .set_read_timeout(Some(args.recv_timeout))
        .map_err(|error| SysError::SetOption {
            option: "SO_RCVTIMEO",
            error,
        })?;
    let (outcome, waited) = timed_read(&mut client);
    let blocking = format!("{outcome} after {}", human(waited));
    s.detail("recv_timeout_ms", millis(args.recv_timeout));
    s.detail("blocking_recv_waited_us", micros(waited));
    s.detail("blocking_recv_result", &outcome);
    s.check(Check::new(
        "a blocking recv() with SO_RCVTIMEO fails with EAGAIN after the set time",
        format!("{outcome} after {}", human(waited)),
        format!("EAGAIN after {}", human(args.recv_timeout)),
        outcome == "EAGAIN"
            && waited + EARLY_SLACK >= args.recv_timeout
            && waited <= args.recv_timeout + LATE_SLACK,
    ));

    // 2. Non-blocking recv(): EAGAIN at once.
    sock::set_nonblocking(&client, true)?;
    let (outcome, waited) = timed_read(&mut client);
    let nonblocking = format!("{outcome} after {}", human(waited));
    s.detail("nonblocking_recv_waited_us", micros(waited));
    s.detail("nonblocking_recv_result", &outcome);
    s.check(Check::new(
        "a non-blocking recv() with nothing to read fails with EAGAIN at once",
        format!("{outcome} after {}", human(waited)),
        format!("EAGAIN within {}", human(AT_ONCE)),
        outcome == "EAGAIN" && waited <= AT_ONCE,
    ));
    drop(client);

    // 3. connect() to a listener whose accept queue is full: the SYN is dropped, no answer.
    let full = sock::listener_with_backlog(s.ephemeral(), 0)?;
    let full_addr = sock::local_addr(&full)?;
    // Backlog 0 holds one connection; this one fills the queue.
    let _filler = sock::connect(full_addr, ctx.timeout)?;
    let started = Instant::now();
    let attempt = sock::connect(full_addr, args.connect_timeout);
    let waited = started.elapsed();
    let outcome = match &attempt {
        Ok(_) => "connected".to_string(),
        Err(SysError::Timeout { .. }) => "timed out".to_string(),
        Err(SysError::Connect { error, .. }) => {
            errno_name(error).unwrap_or_else(|| error.to_string())
        }
        Err(other) => other.to_string(),
    };
    s.detail("connect_timeout_ms", millis(args.connect_timeout));
    s.detail("connect_waited_us", micros(waited));
    s.detail("connect_result", &outcome);
    s.detail("connect_target", full_addr.to_string());
    s.check(Check::new(
        "connect() to a port that never answers the handshake ends only by its timeout",
        format!("{outcome} after {}", human(waited)),
        format!("timed out after {}", human(args.connect_timeout)),
        outcome == "timed out"
            && waited + EARLY_SLACK >= args.connect_timeout
            && waited <= args.connect_timeout + LATE_SLACK,
    ));
    s.note(
        "Without a timeout that connect() would wait for the kernel's SYN retries: \
         net.ipv4.tcp_syn_retries (default 6) stretches it to about 2 minutes.",
    );
    s.note(format!(
        "The unanswered target was {full_addr}, a sockdoc listener with backlog 0 and its one \
         queue slot taken; no other address was contacted."
    ));

    let connecting = format!("{outcome} after {}", human(waited));
    let verdict = format!(
        "A blocking recv() with SO_RCVTIMEO {} gave {blocking}; a non-blocking recv() gave \
         {nonblocking}; connect() with a {} timeout to a port that never answered gave \
         {connecting}.",
        human(args.recv_timeout),
        human(args.connect_timeout),
    );
    Ok(s.finish(
        "A blocking call waits until data (or an error) arrives; SO_RCVTIMEO / SO_SNDTIMEO bound \
         that wait and report EAGAIN when it runs out. A non-blocking call never waits: EAGAIN \
         means \"not now\", to be retried when poll says ready. connect() waits for the handshake, \
         which a dropped SYN stretches to the kernel's retry schedule.",
        verdict,
        "Give every blocking socket call a deadline (SO_RCVTIMEO/SO_SNDTIMEO, connect with a \
         timeout, or poll with a timeout), and treat EAGAIN as \"try later\", not as an error.",
    ))
}

/// One read with nothing to read: its errno name (or what happened) and how long it took.
fn timed_read(stream: &mut std::net::TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut buf = [0_u8; 16];
    let outcome = match stream.read(&mut buf) {
        Ok(0) => "0 (end of stream)".to_string(),
        Ok(n) => format!("{n} bytes"),
        Err(e) if e.kind() == ErrorKind::WouldBlock => "EAGAIN".to_string(),
        Err(e) => errno_name(&e).unwrap_or_else(|| e.to_string()),
    };
    (outcome, started.elapsed())
}
