//! Step 2: TIME_WAIT → EADDRINUSE reproduced: a server closes first, and a new bind()
//! without SO_REUSEADDR fails where one with it succeeds.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use anyhow::Context as _;
use socket2::Socket;

use super::Context;
use super::attempt::try_bind_listen;
use super::connection::{ConnectedPair, Side};
use super::report::{BindOutcome, Reproduction, TimeWaitEntry};
use super::survey::overlaps;
use crate::sys::diag::{self, Listing, Query};
use crate::sys::record::TcpState;
use crate::sys::socket::ReuseFlags;
use crate::units::millis;

/// The server side of a closed connection, to look up again later.
pub(super) struct TimeWaitSocket {
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) seen_at: Instant,
}

/// Runs the reproduction on `listener`, made with SO_REUSEADDR so that the TIME_WAIT socket
/// it leaves on the user's port does not block their own server (if it sets the flag too).
pub(super) fn reproduce(
    listener: Socket,
    addr: IpAddr,
    ctx: &Context,
) -> anyhow::Result<(Reproduction, Option<TimeWaitSocket>)> {
    let timeout = ctx.timeout;
    let pair = ConnectedPair::from_listener(listener, timeout)?;
    let port = pair.port();
    let server_addr = pair.server_local;
    let client_addr = pair.client_local;
    let server_state = pair.close(Side::Server, timeout)?;
    let tw_seen = Instant::now();
    let expires = server_state.as_ref().and_then(|r| r.expires);
    let state = server_state.map(|r| r.state);

    let target = SocketAddr::new(addr, port);
    let without = try_bind_listen(&ctx.root, target, ReuseFlags::NONE)?.outcome;
    let with = try_bind_listen(&ctx.root, target, ReuseFlags::ADDR)?.outcome;
    let followed = (state == Some(TcpState::TimeWait)).then_some(TimeWaitSocket {
        local: server_addr,
        remote: client_addr,
        seen_at: tw_seen,
    });
    Ok((
        Reproduction {
            port,
            server: server_addr.to_string(),
            client: client_addr.to_string(),
            server_state: state,
            expires_ms: expires.map(millis),
            reproduced: state == Some(TcpState::TimeWait)
                && without == BindOutcome::ADDR_IN_USE
                && with == BindOutcome::Ok,
            bind_without_reuseaddr: without,
            bind_with_reuseaddr: with,
        },
        followed,
    ))
}

pub(super) fn time_wait_on(
    addr: IpAddr,
    port: u16,
) -> anyhow::Result<(Vec<TimeWaitEntry>, Listing)> {
    let query = Query {
        states: TcpState::TimeWait.mask(),
        local_port: Some(port),
        ..Query::tcp()
    };
    let (records, listing) = diag::list(&query).context("listing TIME_WAIT sockets")?;
    let entries = records
        .into_iter()
        .filter(|r| overlaps(addr, r.local.ip(), r.v6only))
        .map(|r| TimeWaitEntry {
            local: r.local.to_string(),
            remote: r.remote.to_string(),
            expires_ms: r.expires.map_or(0, millis),
        })
        .collect();
    Ok((entries, listing))
}
