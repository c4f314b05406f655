//! The two bind() probes over a port held only by TIME_WAIT sockets: which options the old
//! sockets carry, and so which a new server needs.

use std::net::{IpAddr, SocketAddr};

use super::attempt::probe_bind;
use super::report::{BindOutcome, ReuseOption, TimeWaitProbe};
use super::survey::PortSurvey;
use crate::sys::fs::Root;
use crate::sys::socket::ReuseFlags;

/// Finds out which options the TIME_WAIT sockets on the port carry, and so which a new
/// server needs, with two bind() probes. `inet_bind_conflict()`
/// (net/ipv4/inet_connection_sock.c) lets a new socket share a port with a TIME_WAIT socket
/// when both have SO_REUSEADDR, or when both have SO_REUSEPORT, the uid unchecked for
/// TIME_WAIT; so SO_REUSEADDR alone binds only if they all carry SO_REUSEADDR, and
/// SO_REUSEPORT alone only if they all carry SO_REUSEPORT. A probe socket is closed at once
/// and never listens, so nothing is disturbed.
pub(super) fn probe_time_wait(
    root: &Root,
    addr: IpAddr,
    port: u16,
    survey: &PortSurvey,
) -> anyhow::Result<TimeWaitProbe> {
    let target = SocketAddr::new(addr, port);
    let with_reuseaddr = probe_bind(root, target, ReuseFlags::ADDR)?;
    let with_reuseport = probe_bind(root, target, ReuseFlags::PORT)?;
    let binds_now_with = [
        (with_reuseaddr, ReuseOption::ReuseAddr),
        (with_reuseport, ReuseOption::ReusePort),
    ]
    .into_iter()
    .filter_map(|(outcome, option)| (outcome == BindOutcome::Ok).then_some(option))
    .collect();
    Ok(TimeWaitProbe {
        old_had_reuseaddr: with_reuseaddr == BindOutcome::Ok,
        old_had_reuseport: with_reuseport == BindOutcome::Ok,
        bind_with_reuseaddr: with_reuseaddr,
        bind_with_reuseport: with_reuseport,
        binds_now_with,
        longest_expires_ms: survey
            .occupants
            .iter()
            .filter(|o| o.conflicts)
            .filter_map(|o| o.expires_ms)
            .max(),
    })
}

impl TimeWaitProbe {
    /// Whether the probes blame the old sockets: SO_REUSEADDR refused means they lacked the
    /// flag every restart needs (a refused SO_REUSEPORT alone blames nobody). Such a refusal
    /// is checked again before it is believed.
    pub(super) fn blames(&self) -> bool {
        self.bind_with_reuseaddr != BindOutcome::Ok
    }

    /// The two outcomes in one line, as the verdict quotes them.
    pub(super) fn outcomes(&self) -> String {
        format!(
            "SO_REUSEADDR → {}, SO_REUSEPORT → {}",
            self.bind_with_reuseaddr, self.bind_with_reuseport
        )
    }
}
