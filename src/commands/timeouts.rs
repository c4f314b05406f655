//! `sockdoc timeouts`: how long socket calls wait. A blocking recv() with SO_RCVTIMEO gives
//! up with EAGAIN after the set time (socket(7)); a non-blocking recv() says EAGAIN at once;
//! a connect() to a port whose listener has a full accept queue gets no answer (its SYN is
//! dropped) and only a timeout ends the wait. Loopback only.

use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Context;
use super::scenario::Measured::{self, Micros, Millis};
use super::scenario::{CallEnd, Check, Details, MeasuredRow as Row, Scenario, ScenarioReport};
use crate::commands::args::TimeoutsArgs;
use crate::exit::Exit;
use crate::sys::SysError;
use crate::sys::diagnose::Op;
use crate::sys::socket::{self as sock, ReuseFlags};
use crate::units::{human, micros, millis};

/// Time for the thread a timer woke to get a CPU and return to sockdoc. Not a kernel rule:
/// a margin for a busy host, on top of the windows below.
const WAKEUP_SLACK: Duration = Duration::from_millis(50);

/// A non-blocking call that returns within this is "at once".
const AT_ONCE: Duration = Duration::from_millis(5);

// The timer wheel, kernel/time/timer.c. A blocking recv() sleeps in schedule_timeout()
// (kernel/time/sleep_timeout.c; kernel/time/timer.c in older trees) through sk_wait_data()
// and wait_woken() (kernel/sched/wait.c); schedule_timeout() arms a wheel timer for
// `jiffies + timeo`.

/// LVL_CLK_SHIFT: each level of the wheel is 2^3 = 8 times coarser than the one below.
const LVL_CLK_SHIFT: u32 = 3;
/// LVL_SIZE = 1 << LVL_BITS: buckets per level.
const LVL_SIZE: u64 = 64;

/// LVL_START(n) = (LVL_SIZE - 1) << ((n - 1) * LVL_CLK_SHIFT): the first delta, in jiffies,
/// that calc_wheel_index() puts on level n (n >= 1).
fn lvl_start(level: u32) -> u64 {
    (LVL_SIZE - 1) << ((level - 1) * LVL_CLK_SHIFT)
}

/// LVL_GRAN(n) = 1 << (n * LVL_CLK_SHIFT): the width of a level-n bucket in jiffies.
fn lvl_gran(level: u32) -> u64 {
    1 << (level * LVL_CLK_SHIFT)
}

/// LVL_DEPTH: 9 levels when HZ > 100, 8 otherwise.
fn lvl_depth(hz: u64) -> u32 {
    if hz > 100 { 9 } else { 8 }
}

/// The level calc_wheel_index() picks for a timer `delta` jiffies away: 0 below
/// LVL_START(1), level n from LVL_START(n) up to LVL_START(n + 1). (A delta past the last
/// level's range is clamped to it; sockdoc's timeouts, at most 10 minutes, stay far below:
/// the last level ends 12 days or more away at HZ = 100, 250, 300 and 1000.)
fn wheel_level(delta: u64, hz: u64) -> u32 {
    let last = lvl_depth(hz) - 1;
    (1..=last)
        .take_while(|&n| delta >= lvl_start(n))
        .last()
        .unwrap_or(0)
}

/// HZ from the jiffy the kernel reports in µs (USEC_PER_SEC / HZ, an integer division, so
/// the largest HZ with that quotient).
fn hz_from_jiffy(jiffy: Duration) -> u64 {
    let usec = jiffy.as_micros().max(1) as u64;
    1_000_000 / usec
}

/// When a blocking recv() with SO_RCVTIMEO `timeout` may end, on a kernel with this HZ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecvWindow {
    hz: u64,
    /// SO_RCVTIMEO in jiffies, as sock_set_timeout() stores it.
    timeo_jiffies: u64,
    level: u32,
    granularity_jiffies: u64,
    /// Never before this: the timer does not fire early.
    earliest: Duration,
    /// The end of the timer's bucket, without the wake-up margin.
    latest: Duration,
}

impl RecvWindow {
    fn new(timeout: Duration, hz: u64) -> Self {
        // What std passes to setsockopt: whole seconds and microseconds, 1 µs at least.
        let (secs, usecs) = match (timeout.as_secs(), u64::from(timeout.subsec_micros())) {
            (0, 0) => (0, 1),
            other => other,
        };
        // sock_set_timeout(), net/core/sock.c: tv_sec * HZ + DIV_ROUND_UP(tv_usec, USEC_PER_SEC / HZ).
        let usec_per_jiffy = (1_000_000 / hz).max(1);
        let timeo_jiffies = secs * hz + usecs.div_ceil(usec_per_jiffy);
        let level = wheel_level(timeo_jiffies, hz);
        let granularity_jiffies = lvl_gran(level);
        let jiffies = |n: u64| Duration::from_nanos(n * 1_000_000_000 / hz);
        Self {
            hz,
            timeo_jiffies,
            level,
            granularity_jiffies,
            earliest: Duration::new(secs, (usecs * 1_000) as u32),
            // calc_index() rounds the expiry up to the end of its bucket, at most one
            // granularity past `jiffies + timeo`; the call starts inside the current jiffy.
            latest: jiffies(timeo_jiffies + granularity_jiffies),
        }
    }

    fn granularity(&self) -> Duration {
        Duration::from_nanos(self.granularity_jiffies * 1_000_000_000 / self.hz)
    }
}

/// fs/select.c, `do_poll()` → `select_estimate_accuracy()` → `__estimate_accuracy()`: the
/// slack poll(2) grants its hrtimer, 0.1 % of the
/// timeout (0.5 % for a niced task; sockdoc does not read its nice value, so it allows
/// that), at most MAX_SLACK = 100 ms.
fn poll_slack(timeout: Duration) -> Duration {
    const MAX_SLACK: Duration = Duration::from_millis(100);
    (timeout / 200).min(MAX_SLACK)
}

/// When connect() with a timeout may give up. socket2 waits in poll(2), which takes whole
/// milliseconds: it passes the time left rounded down, so the wait can end up to 1 ms before
/// the timeout and never earlier; the hrtimer fires at most `poll_slack()` late.
fn connect_window(timeout: Duration) -> (Duration, Duration) {
    (
        timeout.saturating_sub(Duration::from_millis(1)),
        timeout + poll_slack(timeout),
    )
}

/// What timeouts measured, in the order it ran: the blocking recv(), the non-blocking one,
/// and the connect() nobody answers.
#[derive(Debug, Serialize)]
struct TimeoutsDetails {
    #[serde(flatten)]
    blocking: BlockingRecvDetails,
    nonblocking_recv_waited_us: u64,
    nonblocking_recv_result: CallEnd,
    connect_timeout_ms: u64,
    connect_expected_min_us: u64,
    connect_expected_max_us: u64,
    connect_waited_us: u64,
    connect_result: ConnectEnd,
    connect_target: SocketAddr,
}

/// The blocking recv() with SO_RCVTIMEO: this kernel's tick, the window the timer wheel
/// allows, and the wait.
#[derive(Debug, Serialize)]
struct BlockingRecvDetails {
    hz: u64,
    jiffy_us: u64,
    recv_timeout_ms: u64,
    recv_timeout_in_kernel_us: u64,
    recv_timer_wheel_level: u32,
    recv_timer_granularity_us: u64,
    recv_expected_min_us: u64,
    recv_expected_max_us: u64,
    blocking_recv_waited_us: u64,
    blocking_recv_result: CallEnd,
}

/// The blocking recv()'s rows, then the rest in the order they ran.
impl Details for TimeoutsDetails {
    fn measured(&self) -> Vec<Row> {
        let Self {
            blocking,
            nonblocking_recv_waited_us,
            nonblocking_recv_result,
            connect_timeout_ms,
            connect_expected_min_us,
            connect_expected_max_us,
            connect_waited_us,
            connect_result,
            connect_target,
        } = self;
        let mut rows = blocking.measured();
        rows.extend([
            Row::new(
                "nonblocking_recv_waited_us",
                "non-blocking recv() waited",
                Micros(*nonblocking_recv_waited_us),
            ),
            Row::new(
                "nonblocking_recv_result",
                "non-blocking recv() result",
                Measured::text(nonblocking_recv_result),
            ),
            Row::new(
                "connect_timeout_ms",
                "connect() timeout",
                Millis(*connect_timeout_ms),
            ),
            Row::new(
                "connect_expected_min_us",
                "connect() expected to wait at least",
                Micros(*connect_expected_min_us),
            ),
            Row::new(
                "connect_expected_max_us",
                "connect() expected to wait at most",
                Micros(*connect_expected_max_us),
            ),
            Row::new(
                "connect_waited_us",
                "connect() waited",
                Micros(*connect_waited_us),
            ),
            Row::new(
                "connect_result",
                "connect() result",
                Measured::text(connect_result),
            ),
            Row::new(
                "connect_target",
                "connect() target",
                Measured::text(connect_target),
            ),
        ]);
        rows
    }
}

impl Details for BlockingRecvDetails {
    fn measured(&self) -> Vec<Row> {
        let Self {
            hz,
            jiffy_us,
            recv_timeout_ms,
            recv_timeout_in_kernel_us,
            recv_timer_wheel_level,
            recv_timer_granularity_us,
            recv_expected_min_us,
            recv_expected_max_us,
            blocking_recv_waited_us,
            blocking_recv_result,
        } = self;
        vec![
            Row::new("hz", "kernel tick rate (HZ)", Measured::Hertz(*hz)),
            Row::new("jiffy_us", "one jiffy (1/HZ)", Micros(*jiffy_us)),
            Row::new(
                "recv_timeout_ms",
                "SO_RCVTIMEO set",
                Millis(*recv_timeout_ms),
            ),
            Row::new(
                "recv_timeout_in_kernel_us",
                "SO_RCVTIMEO read back (whole jiffies)",
                Micros(*recv_timeout_in_kernel_us),
            ),
            Row::new(
                "recv_timer_wheel_level",
                "recv() timer: timer wheel level",
                Measured::Count(u64::from(*recv_timer_wheel_level)),
            ),
            Row::new(
                "recv_timer_granularity_us",
                "recv() timer: that level's granularity",
                Micros(*recv_timer_granularity_us),
            ),
            Row::new(
                "recv_expected_min_us",
                "blocking recv() expected to wait at least",
                Micros(*recv_expected_min_us),
            ),
            Row::new(
                "recv_expected_max_us",
                "blocking recv() expected to wait at most",
                Micros(*recv_expected_max_us),
            ),
            Row::new(
                "blocking_recv_waited_us",
                "blocking recv() waited",
                Micros(*blocking_recv_waited_us),
            ),
            Row::new(
                "blocking_recv_result",
                "blocking recv() result",
                Measured::text(blocking_recv_result),
            ),
        ]
    }
}

/// How the connect() to the full listener ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
enum ConnectEnd {
    #[serde(rename = "connected")]
    #[strum(serialize = "connected")]
    Connected,
    #[serde(rename = "timed out")]
    #[strum(serialize = "timed out")]
    TimedOut,
}

pub fn run(args: &TimeoutsArgs, ctx: &Context) -> anyhow::Result<(ScenarioReport, Exit)> {
    let mut s = Scenario::start("timeouts", args.scenario.addr);
    let listener = sock::listener(s.ephemeral(), ReuseFlags::NONE, ctx.timeout)?;
    let listen_addr = sock::local_addr(&listener)?;
    let mut client = sock::connect(listen_addr, ctx.timeout)?;
    let _server = sock::accept(&listener, ctx.timeout)?;

    // 1. Blocking recv() with SO_RCVTIMEO: nothing arrives, so it waits that long.
    let (blocking_details, blocking) = blocking_recv(&mut s, &mut client, args.recv_timeout)?;

    // 2. Non-blocking recv(): EAGAIN at once.
    sock::set_nonblocking(&client, true)?;
    let (outcome, waited) =
        timed_read(&mut client, "the non-blocking recv() with nothing to read")?;
    let nonblocking = format!("{outcome} after {}", human(waited));
    s.check(Check::new(
        "a non-blocking recv() with nothing to read fails with EAGAIN at once",
        format!("{outcome} after {}", human(waited)),
        format!("EAGAIN within {}", human(AT_ONCE)),
        outcome == CallEnd::WouldBlock && waited <= AT_ONCE,
    ));
    let (nonblocking_recv_waited_us, nonblocking_recv_result) = (micros(waited), outcome);
    drop(client);

    // 3. connect() to a listener whose accept queue is full: the SYN is dropped, no answer.
    let full = sock::listener_with_backlog(s.ephemeral(), 0)?;
    let full_addr = sock::local_addr(&full)?;
    // Backlog 0 holds one connection; this one fills the queue.
    let _filler = sock::connect(full_addr, ctx.timeout)?;
    let started = Instant::now();
    let attempt = sock::connect(full_addr, args.connect_timeout);
    let waited = started.elapsed();
    let outcome = match attempt {
        Ok(_) => ConnectEnd::Connected,
        Err(error) if matches!(error.undiagnosed_ref(), SysError::Timeout { .. }) => {
            ConnectEnd::TimedOut
        }
        // Any other error (the fd limit, a firewall's reset or EPERM) says nothing about how
        // long connect() waits: the step could not run, which is no verdict on the kernel.
        Err(error) => return Err(error.into()),
    };
    let (connect_min, connect_slack_max) = connect_window(args.connect_timeout);
    let connect_max = connect_slack_max + WAKEUP_SLACK;
    s.check(Check::new(
        "connect() to a port that never answers the handshake ends only by its timeout",
        format!("{outcome} after {}", human(waited)),
        format!(
            "timed out after {} to {}",
            human(connect_min),
            human(connect_max)
        ),
        outcome == ConnectEnd::TimedOut && waited >= connect_min && waited <= connect_max,
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
    let details = TimeoutsDetails {
        blocking: blocking_details,
        nonblocking_recv_waited_us,
        nonblocking_recv_result,
        connect_timeout_ms: millis(args.connect_timeout),
        connect_expected_min_us: micros(connect_min),
        connect_expected_max_us: micros(connect_max),
        connect_waited_us: micros(waited),
        connect_result: outcome,
        connect_target: full_addr,
    };
    Ok(s.finish(
        &details,
        "A blocking call waits until data (or an error) arrives; SO_RCVTIMEO / SO_SNDTIMEO bound \
         that wait and report EAGAIN when it runs out. A non-blocking call never waits: EAGAIN \
         means \"not now\", to be retried when poll says ready. connect() waits for the handshake, \
         which a dropped SYN stretches to the kernel's retry schedule.",
        verdict,
        "Give every blocking socket call a deadline (SO_RCVTIMEO/SO_SNDTIMEO, connect with a \
         timeout, or poll with a timeout), and treat EAGAIN as \"try later\", not as an error.",
    ))
}

/// Step 1: a blocking recv() with SO_RCVTIMEO `recv_timeout` and nothing to read, held
/// against the window the timer wheel allows; returns its figures and what happened, for the
/// verdict.
fn blocking_recv(
    s: &mut Scenario,
    client: &mut std::net::TcpStream,
    recv_timeout: Duration,
) -> anyhow::Result<(BlockingRecvDetails, String)> {
    let jiffy = sock::jiffy(client)?;
    let hz = hz_from_jiffy(jiffy);
    client
        .set_read_timeout(Some(recv_timeout))
        .map_err(|error| SysError::SetOption {
            option: "SO_RCVTIMEO",
            error,
        })?;
    let in_kernel = sock::read_timeout(client)?;
    let window = RecvWindow::new(recv_timeout, hz);
    let recv_max = window.latest + WAKEUP_SLACK;
    let (outcome, waited) = timed_read(client, "the blocking recv() with nothing to read")?;
    let blocking = format!("{outcome} after {}", human(waited));
    let whole_jiffies = Duration::from_nanos(window.timeo_jiffies * 1_000_000_000 / hz);
    s.check(Check::new(
        "SO_RCVTIMEO is kept in whole jiffies, rounded up",
        human(in_kernel),
        format!(
            "{} ({} at HZ={hz})",
            human(whole_jiffies),
            jiffies(window.timeo_jiffies)
        ),
        micros(in_kernel) == micros(whole_jiffies),
    ));
    s.check(Check::new(
        "a blocking recv() with SO_RCVTIMEO fails with EAGAIN after the set time",
        blocking.clone(),
        format!(
            "EAGAIN after {} to {}",
            human(window.earliest),
            human(recv_max)
        ),
        outcome == CallEnd::WouldBlock && waited >= window.earliest && waited <= recv_max,
    ));
    s.note(recv_window_note(&window, jiffy, WAKEUP_SLACK));
    let details = BlockingRecvDetails {
        hz,
        jiffy_us: micros(jiffy),
        recv_timeout_ms: millis(recv_timeout),
        recv_timeout_in_kernel_us: micros(in_kernel),
        recv_timer_wheel_level: window.level,
        recv_timer_granularity_us: micros(window.granularity()),
        recv_expected_min_us: micros(window.earliest),
        recv_expected_max_us: micros(recv_max),
        blocking_recv_waited_us: micros(waited),
        blocking_recv_result: outcome,
    };
    Ok((details, blocking))
}

/// "1 jiffy", "250 jiffies".
fn jiffies(n: u64) -> String {
    if n == 1 {
        "1 jiffy".to_owned()
    } else {
        format!("{n} jiffies")
    }
}

/// Where the recv() window comes from, with this run's figures.
fn recv_window_note(window: &RecvWindow, jiffy: Duration, wakeup: Duration) -> String {
    let late = if window.level == 0 {
        "level 0, whose buckets are one jiffy wide".to_owned()
    } else {
        format!(
            "level {}, whose buckets are 8^{} = {} jiffies wide",
            window.level, window.level, window.granularity_jiffies
        )
    };
    format!(
        "The kernel keeps SO_RCVTIMEO in jiffies: HZ = {} here (a 1µs SO_RCVTIMEO reads back as \
         one jiffy, {}), and sock_set_timeout() (net/core/sock.c) rounds the timeout up to {}. \
         The blocked recv() sleeps in schedule_timeout() on a timer-wheel timer, which \
         never fires early and fires up to one bucket late: calc_wheel_index() \
         (kernel/time/timer.c) puts a timer {} away on {late}, and calc_index() rounds \
         its expiry up to the end of that bucket, so this wait may run up to {} late. Each \
         level is 8 times coarser than the one below (LVL_CLK_SHIFT = 3) and starts at \
         LVL_START(n) = 63 * 8^(n-1) jiffies, so any wait past level 0 can end up to 8/63 \
         (12.7 %) late. sockdoc allows {} more for the woken thread to get a CPU.",
        window.hz,
        human(jiffy),
        jiffies(window.timeo_jiffies),
        jiffies(window.timeo_jiffies),
        human(window.granularity()),
        human(wakeup),
    )
}

/// One read with nothing to read: what it returned (EAGAIN is the expected end) and how long
/// it took. Any other error is not the timer's doing (the connection was reset or aborted
/// from outside) and ends the run.
fn timed_read(
    stream: &mut std::net::TcpStream,
    step: &str,
) -> Result<(CallEnd, Duration), SysError> {
    let started = Instant::now();
    let mut buf = [0_u8; 16];
    let outcome = match stream.read(&mut buf) {
        Ok(0) => CallEnd::EndOfStream,
        Ok(n) => CallEnd::Received(n),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => CallEnd::WouldBlock,
        Err(error) => {
            return Err(SysError::Io {
                step: step.into(),
                error,
            }
            .diagnosed_as(Op::Other));
        }
    };
    Ok((outcome, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blocking_recv_reads_as_labels_and_units() {
        let details = BlockingRecvDetails {
            hz: 250,
            jiffy_us: 4000,
            recv_timeout_ms: 200,
            recv_timeout_in_kernel_us: 200_000,
            recv_timer_wheel_level: 0,
            recv_timer_granularity_us: 4000,
            recv_expected_min_us: 200_000,
            recv_expected_max_us: 254_000,
            blocking_recv_waited_us: 201_266,
            blocking_recv_result: CallEnd::WouldBlock,
        };
        let rows = details.measured();
        let waited = rows
            .iter()
            .find(|row| row.key == "blocking_recv_waited_us")
            .unwrap();
        assert_eq!(waited.label, "blocking recv() waited");
        assert_eq!(waited.value, Micros(201_266));
        assert_eq!(rows[0].value, Measured::Hertz(250));
        assert_eq!(rows[9].value, Measured::text("EAGAIN"));
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn connect_ends_serialize_as_their_text() {
        for end in [ConnectEnd::Connected, ConnectEnd::TimedOut] {
            assert_eq!(serde_json::to_value(end).unwrap(), end.to_string());
        }
        assert_eq!(ConnectEnd::TimedOut.to_string(), "timed out");
    }

    #[test]
    fn hz_comes_back_from_the_jiffy_in_microseconds() {
        // sock_get_timeout() reports one jiffy as USEC_PER_SEC / HZ, an integer division.
        for (usec, hz) in [
            (10_000, 100),
            (4_000, 250),
            (3_333, 300),
            (1_000, 1_000),
            (976, 1_024),
        ] {
            assert_eq!(hz_from_jiffy(Duration::from_micros(usec)), hz, "{usec} µs");
        }
    }

    #[test]
    fn levels_start_where_calc_wheel_index_moves_up() {
        // LVL_START(1) = 63, LVL_START(2) = 504, LVL_START(3) = 4032, LVL_START(4) = 32256.
        assert_eq!(wheel_level(62, 250), 0);
        assert_eq!(wheel_level(63, 250), 1);
        assert_eq!(wheel_level(503, 250), 1);
        assert_eq!(wheel_level(504, 250), 2);
        assert_eq!(wheel_level(4_031, 250), 2);
        assert_eq!(wheel_level(4_032, 250), 3);
        assert_eq!(wheel_level(32_256, 1_000), 4);
        // LVL_DEPTH is 8 at HZ=100, so level 7 is the last; 9 (level 8) above.
        assert_eq!(wheel_level(u64::MAX / 2, 100), 7);
        assert_eq!(wheel_level(u64::MAX / 2, 1_000), 8);
    }

    #[test]
    fn the_windows_match_the_granularity_table_in_timer_c() {
        // The table at the top of kernel/time/timer.c: at HZ=250 level 2 has 256 ms
        // granularity; at HZ=1000 level 3 has 512 ms; at HZ=100 level 2 has 640 ms.
        let w = RecvWindow::new(ms(10_000), 250);
        assert_eq!((w.timeo_jiffies, w.level), (2_500, 2));
        assert_eq!(w.granularity(), ms(256));
        assert_eq!(w.earliest, ms(10_000));
        assert_eq!(w.latest, ms(10_256));
        let w = RecvWindow::new(ms(10_000), 1_000);
        assert_eq!(
            (w.level, w.granularity(), w.latest),
            (3, ms(512), ms(10_512))
        );
        let w = RecvWindow::new(ms(10_000), 100);
        assert_eq!(
            (w.level, w.granularity(), w.latest),
            (2, ms(640), ms(10_640))
        );
    }

    #[test]
    fn short_timeouts_stay_on_the_jiffy_level() {
        // 200 ms at HZ=250 is 50 jiffies, level 0: at most one jiffy late.
        let w = RecvWindow::new(ms(200), 250);
        assert_eq!((w.timeo_jiffies, w.level, w.latest), (50, 0, ms(204)));
        // 201 ms at HZ=300 rounds up: DIV_ROUND_UP(201000, 3333) = 61 jiffies.
        let w = RecvWindow::new(ms(201), 300);
        assert_eq!(w.timeo_jiffies, 61);
        // Under a microsecond std still asks for 1 µs: one jiffy.
        assert_eq!(
            RecvWindow::new(Duration::from_nanos(10), 250).timeo_jiffies,
            1
        );
    }

    #[test]
    fn a_long_wait_is_never_more_than_an_eighth_late_past_level_0() {
        // The measurement: 10 s waited 10.2 s at HZ=250, inside the window; the
        // fixed 50 ms margin called it a mismatch.
        for hz in [100, 250, 300, 1_000] {
            for secs in [1, 3, 10, 17, 30, 600] {
                let w = RecvWindow::new(Duration::from_secs(secs), hz);
                let late = w.latest.saturating_sub(w.earliest);
                let bound =
                    w.earliest.mul_f64(8.0 / 63.0) + Duration::from_nanos(1_000_000_000 / hz);
                assert!(late <= bound, "HZ={hz} {secs}s: {late:?} > {bound:?}");
            }
        }
    }

    #[test]
    fn connect_ends_within_a_millisecond_early_and_the_poll_slack_late() {
        assert_eq!(
            connect_window(ms(300)),
            (ms(299), ms(301) + Duration::from_micros(500))
        );
        // The slack stops growing at MAX_SLACK.
        assert_eq!(connect_window(ms(600_000)).1, ms(600_100));
    }
}
