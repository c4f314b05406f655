//! The kernel self-test: does this kernel behave as Linux documents? The lessons' own
//! experiments, run quickly (short timeouts, few rounds), each measurement a check.

use std::time::Instant;

use clap::{Args, Parser};

use super::convert;
use super::model::{Check, Group, Metrics};
use crate::commands::args::{
    BacklogArgs, CloseWaitArgs, NagleArgs, PartialSendArgs, ReuseTestArgs, ScenarioArgs,
    TimeoutsArgs, UdpArgs,
};
use crate::commands::severity::Level;
use crate::commands::{
    Context, backlog, close_wait, nagle, partial_send, peer_close, reuse_test, timeouts, udp,
};
use crate::units::{human, millis};

/// A lesson's arguments parsed from words, so the self-test runs with the same defaults and
/// checks as the command line does.
#[derive(Parser)]
#[command(no_binary_name = true)]
struct Words<T: Args> {
    #[command(flatten)]
    args: T,
}

fn args<T: Args>(words: &[&str]) -> T {
    Words::<T>::try_parse_from(words)
        .expect("the self-test's own arguments parse")
        .args
}

/// Runs the experiments; one that cannot run becomes a skipped check naming why.
pub fn run(
    ctx: &Context,
    max_p99: Option<std::time::Duration>,
    metrics: &mut Metrics,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut lesson = |name: &str, run: &mut dyn FnMut() -> anyhow::Result<Vec<Check>>| {
        let started = Instant::now();
        let found = run();
        let took = millis(started.elapsed());
        match found {
            Ok(mut found) => {
                // The checks of one experiment share its wall time, so a JUnit suite's
                // cases add up to the experiments' total.
                let share = took / (found.len() as u64).max(1);
                for check in &mut found {
                    check.time_ms = Some(share);
                }
                checks.extend(found);
            }
            Err(error) => {
                let mut check = Check::new(
                    format!("kernel.{name}"),
                    Group::Kernel,
                    format!("the {name} experiment"),
                )
                .skipped(format!("{error:#}"));
                check.time_ms = Some(took);
                checks.push(check);
            }
        }
    };
    lesson("bind", &mut || {
        let (report, _) = reuse_test::run(&args::<ReuseTestArgs>(&[]), ctx)?;
        Ok(convert::from_reuse(&report))
    });
    lesson("backlog", &mut || {
        let (report, _) = backlog::run(&args::<BacklogArgs>(&[]), ctx)?;
        Ok(convert::from_scenario(&report))
    });
    lesson("udp", &mut || {
        let (report, _) = udp::run(&args::<UdpArgs>(&[]), ctx)?;
        Ok(convert::from_scenario(&report))
    });
    lesson("partial-send", &mut || {
        let (report, _) = partial_send::run(&args::<PartialSendArgs>(&[]), ctx)?;
        Ok(convert::from_scenario(&report))
    });
    lesson("peer-close", &mut || {
        let (report, _) = peer_close::run(&args::<ScenarioArgs>(&[]), ctx)?;
        Ok(convert::from_scenario(&report))
    });
    lesson("timeouts", &mut || {
        // Short waits: the self-test checks the mechanism, not long timers.
        let words = ["--recv-timeout", "50ms", "--connect-timeout", "100ms"];
        let (report, _) = timeouts::run(&args::<TimeoutsArgs>(&words), ctx)?;
        Ok(convert::from_scenario(&report))
    });
    lesson("close-wait", &mut || {
        // Its own soft RLIMIT_NOFILE is lowered for one accept() and restored at once; the
        // self-test runs its experiments one after another, so nothing else opens a file then.
        let (report, _) = close_wait::run(&args::<CloseWaitArgs>(&[]), ctx)?;
        Ok(convert::from_scenario(&report))
    });
    let mut stall = None;
    lesson("nagle", &mut || {
        // One warm-up round and three measured: enough for the stall to show (each stalled
        // round costs a delayed-ACK timeout, ~40 ms) and for TCP_NODELAY's to be absent.
        let words = ["--warmup", "1", "--rounds", "3", "--messages", "20"];
        let (report, _) = nagle::run(&args::<NagleArgs>(&words), ctx)?;
        stall = convert::nagle_stall_seconds(&report);
        let mut found = convert::from_nagle(&report);
        if let Some(limit) = max_p99 {
            let p99 = report
                .modes
                .iter()
                .find(|m| m.nodelay && !m.cork)
                .map(|m| m.rtt_p99_us);
            let check = Check::new(
                "config.nagle.max-p99",
                Group::Config,
                format!("TCP_NODELAY round trip p99 at most {}", human(limit)),
            );
            found.push(match p99 {
                Some(us) => check
                    .evidence(format!("p99 {us} µs on loopback (limit {})", human(limit)))
                    .judged(if u128::from(us) <= limit.as_micros() {
                        Level::Ok
                    } else {
                        Level::Warn
                    }),
                None => check.skipped("the TCP_NODELAY mode did not run"),
            });
        }
        Ok(found)
    });
    metrics.nagle_stall_seconds = stall;
    checks
}
