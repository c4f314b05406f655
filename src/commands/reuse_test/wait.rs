//! Step 4, `--wait`: follow the reproduction's TIME_WAIT socket until the kernel drops it
//! and compare its lifetime with TCP_TIMEWAIT_LEN.

use std::thread;
use std::time::Duration;

use anyhow::Context as _;

use super::Context;
use super::report::WaitResult;
use super::reproduce::TimeWaitSocket;
use crate::sys::diag;
use crate::sys::record::{Proto, TcpState};
use crate::sys::sysctl;
use crate::sys::{TCP_TIMEWAIT_LEN, TIMEWAIT_WHEEL_ROUNDING_MAX};
use crate::units::{human, millis};

/// How often `--wait` looks at the TIME_WAIT socket.
pub(super) const WAIT_POLL: Duration = Duration::from_millis(250);

/// How far sockdoc's own observation may shift a measured lifetime: the TIME_WAIT socket is
/// seen a moment after the kernel armed its timer, and its end is noticed at a later poll.
pub(super) const OBSERVATION_SLACK: Duration = Duration::from_secs(1);

/// The lifetimes `--wait` accepts as the kernel's rule: a quiet TIME_WAIT socket lives
/// TCP_TIMEWAIT_LEN, never less (the timer wheel does not fire early), and at most
/// `TIMEWAIT_WHEEL_ROUNDING_MAX` more (the wheel rounds the expiry up to its bucket), seen
/// through one `WAIT_POLL` and the observation slack.
pub(super) const TIMEWAIT_LIFETIME_WINDOW: (Duration, Duration) = (
    TCP_TIMEWAIT_LEN.saturating_sub(OBSERVATION_SLACK),
    TCP_TIMEWAIT_LEN
        .saturating_add(TIMEWAIT_WHEEL_ROUNDING_MAX)
        .saturating_add(WAIT_POLL)
        .saturating_add(OBSERVATION_SLACK),
);

/// `--wait` on the reproduction's TIME_WAIT socket, or a note that none appeared.
pub(super) fn follow_if_any(
    followed: Option<&TimeWaitSocket>,
    ctx: &Context,
    notes: &mut Vec<String>,
) -> anyhow::Result<Option<WaitResult>> {
    if let Some(tw) = followed {
        return follow_time_wait(tw, ctx).map(Some);
    }
    notes.push("--wait: no TIME_WAIT socket appeared, so there was nothing to follow.".into());
    Ok(None)
}

pub(super) fn follow_time_wait(tw: &TimeWaitSocket, ctx: &Context) -> anyhow::Result<WaitResult> {
    let limit = TIMEWAIT_LIFETIME_WINDOW.1 + Duration::from_secs(20);
    let bar = if ctx.show_progress {
        indicatif::ProgressBar::new(millis(TCP_TIMEWAIT_LEN))
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("TIME_WAIT {wide_bar} {msg}")
            .expect("the progress template is valid"),
    );
    let lifetime = loop {
        let lived = tw.seen_at.elapsed();
        match diag::lookup(Proto::Tcp, tw.local, tw.remote)
            .context("following the TIME_WAIT socket")?
        {
            Some(record) if record.state == TcpState::TimeWait => {
                let left = record.expires.unwrap_or_default();
                bar.set_position(millis(lived));
                bar.set_message(format!("{} left", human(left)));
            }
            _ => break lived,
        }
        if lived > limit {
            bar.finish_and_clear();
            anyhow::bail!(
                "following TIME_WAIT on {}: still there after {}, far past TCP_TIMEWAIT_LEN ({}) \
                 plus timer rounding; segments from the peer re-arm its timer",
                tw.local,
                human(lived),
                human(TCP_TIMEWAIT_LEN)
            );
        }
        thread::sleep(WAIT_POLL);
    };
    bar.finish_and_clear();
    let fin_timeout = sysctl::read_knob(&ctx.root, "net.ipv4.tcp_fin_timeout")
        .value()
        .map(str::to_owned)
        .and_then(|v| v.parse().ok());
    Ok(WaitResult {
        local: tw.local.to_string(),
        remote: tw.remote.to_string(),
        lifetime_ms: millis(lifetime),
        expected_ms: millis(TCP_TIMEWAIT_LEN),
        expected_min_ms: millis(TIMEWAIT_LIFETIME_WINDOW.0),
        expected_max_ms: millis(TIMEWAIT_LIFETIME_WINDOW.1),
        timer_rounding_max_ms: millis(TIMEWAIT_WHEEL_ROUNDING_MAX),
        matches: (TIMEWAIT_LIFETIME_WINDOW.0..=TIMEWAIT_LIFETIME_WINDOW.1).contains(&lifetime),
        tcp_fin_timeout_s: fin_timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifetime_window_is_the_timer_plus_wheel_rounding() {
        let (low, high) = TIMEWAIT_LIFETIME_WINDOW;
        // Never early: below TCP_TIMEWAIT_LEN only by sockdoc's own observation slack.
        assert_eq!(low + OBSERVATION_SLACK, TCP_TIMEWAIT_LEN);
        // Late by at most the coarsest bucket (HZ=100, level 3: 512 jiffies of 10 ms), then
        // seen at the next poll.
        assert_eq!(
            high,
            TCP_TIMEWAIT_LEN + Duration::from_millis(512 * 10) + WAIT_POLL + OBSERVATION_SLACK
        );
        // Lifetimes measured on a HZ=250 kernel (bucket 2.048 s): 60.5–62.0 s.
        for ms in [60_500, 61_336, 62_000, 62_048] {
            assert!((low..=high).contains(&Duration::from_millis(ms)), "{ms} ms");
        }
    }
}
