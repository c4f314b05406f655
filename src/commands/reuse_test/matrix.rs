//! Step 3: running the trials of the table (`trials.rs`), each on its own ephemeral port,
//! and comparing every measured outcome with the documented one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use socket2::Socket;

use super::Context;
use super::attempt::{try_bind_listen, try_std_listener};
use super::connection::{ConnectedPair, Side, wait_for_state};
use super::report::{Api, HolderState, Trial};
use super::trials::{HolderSpec, TrialSpec};
use crate::sys::diag;
use crate::sys::error::errno_name;
use crate::sys::record::TcpState;
use crate::sys::socket::{self as sock, RecvEnd, ReuseFlags};
use crate::units::human;

/// The holder a trial built, kept alive until the new socket has tried the port.
pub(super) struct Holder {
    port: u16,
    state: HolderState,
    old_api: Api,
    old_address: SocketAddr,
    old_flags: ReuseFlags,
    /// A live listener, for LISTEN holders.
    _listener: Option<Socket>,
    evidence: Vec<String>,
    /// Whether the holder behaved as documented (its own part of `matches`).
    as_documented: bool,
}

impl Holder {
    /// A raw socket2 server on `server_local` whose closed connection should leave nothing
    /// on its port (client closed first, or SO_LINGER 0); `as_documented` says whether it did.
    fn left_nothing(
        server_local: SocketAddr,
        old_flags: ReuseFlags,
        evidence: Vec<String>,
        as_documented: bool,
    ) -> Self {
        Self {
            port: server_local.port(),
            state: HolderState::None,
            old_api: Api::Socket2,
            old_address: server_local,
            old_flags,
            _listener: None,
            evidence,
            as_documented,
        }
    }
}

pub(super) fn run_trial(
    spec: &TrialSpec,
    addr: IpAddr,
    std_defaults: ReuseFlags,
    ctx: &Context,
) -> anyhow::Result<Trial> {
    let name = spec.name(addr);
    let holder = build_holder(spec.holder, addr, ctx)
        .with_context(|| format!("preparing trial \"{name}\""))?;
    let target = SocketAddr::new(addr, holder.port);
    let attempt = match spec.new.api {
        Api::Socket2 => try_bind_listen(&ctx.root, target, spec.new.flags)?,
        Api::Std => try_std_listener(&ctx.root, target, std_defaults, ctx.timeout)?,
    };
    let expected = spec.expected;
    let mut evidence = holder.evidence;
    let expected_holder = spec.holder.expected_state();
    if holder.state != expected_holder {
        evidence.push(format!(
            "expected the port to be held by {expected_holder:?} but sock_diag found {:?}",
            holder.state
        ));
    }
    Ok(Trial {
        name,
        port: holder.port,
        holder: holder.state,
        old_api: holder.old_api,
        new_api: spec.new.api,
        old_address: holder.old_address.to_string(),
        new_address: target.to_string(),
        old_reuseaddr: holder.old_flags.reuse_address,
        new_reuseaddr: attempt.flags.reuse_address,
        old_reuseport: holder.old_flags.reuse_port,
        new_reuseport: attempt.flags.reuse_port,
        matches: attempt.outcome == expected
            && holder.as_documented
            && holder.state == expected_holder,
        outcome: attempt.outcome,
        failed_step: attempt.failed_step,
        expected,
        rule: spec.rule,
        fix: spec.fix,
        evidence,
        source: spec.source,
    })
}

pub(super) fn build_holder(
    spec: HolderSpec,
    addr: IpAddr,
    ctx: &Context,
) -> anyhow::Result<Holder> {
    let timeout = ctx.timeout;
    match spec {
        HolderSpec::TimeWait { flags, api } => time_wait_holder(addr, flags, api, timeout),
        HolderSpec::Listen { flags, wildcard } => listen_holder(addr, flags, wildcard, timeout),
        HolderSpec::ClientClosesFirst => client_closes_first_holder(addr, ctx),
        HolderSpec::LingerZero => linger_zero_holder(addr, ctx),
    }
}

/// A server made through `api` with `flags` that closes first, leaving TIME_WAIT.
pub(super) fn time_wait_holder(
    addr: IpAddr,
    flags: ReuseFlags,
    api: Api,
    timeout: Duration,
) -> anyhow::Result<Holder> {
    let ephemeral = SocketAddr::new(addr, 0);
    let listener = match api {
        Api::Socket2 => sock::listener(ephemeral, flags, timeout)?,
        Api::Std => Socket::from(sock::std_listener(ephemeral, timeout)?),
    };
    let pair = ConnectedPair::from_listener(listener, timeout)?;
    // The accepted socket inherited the listener's options; it is the one that becomes
    // TIME_WAIT, so its read-back is the "old socket" of the rule.
    let old_flags = sock::reuse_flags(&pair.server)?;
    let old_address = pair.server_local;
    let (state, evidence) = match pair.close(Side::Server, timeout)? {
        Some(r) => (
            HolderState::TimeWait,
            format!(
                "server side {} ↔ {} in TIME_WAIT, expires in {}",
                r.local,
                r.remote,
                human(r.expires.unwrap_or_default())
            ),
        ),
        None => (
            HolderState::None,
            "the kernel dropped the closed connection at once instead of keeping TIME_WAIT \
             (net.ipv4.tcp_max_tw_buckets reached?)"
                .to_string(),
        ),
    };
    Ok(Holder {
        port: old_address.port(),
        state,
        old_api: api,
        old_address,
        old_flags,
        _listener: None,
        evidence: vec![evidence],
        as_documented: true,
    })
}

/// A live listener with `flags`, on the wildcard address when `wildcard`.
pub(super) fn listen_holder(
    addr: IpAddr,
    flags: ReuseFlags,
    wildcard: bool,
    timeout: Duration,
) -> anyhow::Result<Holder> {
    let bind_to = SocketAddr::new(
        if wildcard {
            unspecified_like(addr)
        } else {
            addr
        },
        0,
    );
    let listener = sock::listener(bind_to, flags, timeout)?;
    let old_address = sock::local_addr(&listener)?;
    let old_flags = sock::reuse_flags(&listener)?;
    let listed = wait_for_state(
        old_address,
        diag::listener_peer(old_address),
        Some(TcpState::Listen),
        timeout,
    )?;
    Ok(Holder {
        port: old_address.port(),
        state: if listed.is_some() {
            HolderState::Listen
        } else {
            HolderState::None
        },
        old_api: Api::Socket2,
        old_address,
        old_flags,
        _listener: Some(listener),
        evidence: Vec::new(),
        as_documented: true,
    })
}

/// The client closes first, so TIME_WAIT lands on the client's port and the server's
/// port is left free.
pub(super) fn client_closes_first_holder(addr: IpAddr, ctx: &Context) -> anyhow::Result<Holder> {
    let timeout = ctx.timeout;
    let pair = ConnectedPair::open(SocketAddr::new(addr, 0), ReuseFlags::NONE, ctx)?;
    let old_flags = sock::reuse_flags(&pair.server)?;
    let (client_local, server_local) = (pair.client_local, pair.server_local);
    let client_tw = pair.close(Side::Client, timeout)?;
    let server_left = wait_for_state(server_local, client_local, None, timeout)?;
    let evidence = match &client_tw {
        Some(r) => format!(
            "TIME_WAIT went to the client's side {} ↔ {} (expires in {}); the server's port {} has none",
            r.local,
            r.remote,
            human(r.expires.unwrap_or_default()),
            server_local.port()
        ),
        None => "no TIME_WAIT appeared on the client's side".into(),
    };
    Ok(Holder::left_nothing(
        server_local,
        old_flags,
        vec![evidence],
        client_tw.is_some() && server_left.is_none(),
    ))
}

/// The server closes with SO_LINGER {on, 0 s}: an RST instead of a FIN, so no TIME_WAIT
/// anywhere, and the client's next read fails with ECONNRESET.
pub(super) fn linger_zero_holder(addr: IpAddr, ctx: &Context) -> anyhow::Result<Holder> {
    let timeout = ctx.timeout;
    let pair = ConnectedPair::open(SocketAddr::new(addr, 0), ReuseFlags::NONE, ctx)?;
    let old_flags = sock::reuse_flags(&pair.server)?;
    let ConnectedPair {
        listener,
        mut client,
        server,
        client_local,
        server_local,
    } = pair;
    sock::set_linger_zero(&server)?;
    drop(server);
    let peer = sock::recv_once(
        &mut client,
        "reading at the client after the server's RST",
        timeout,
    )?;
    let peer_error = match &peer {
        RecvEnd::Error(e) => errno_name(e).unwrap_or_else(|| e.to_string()),
        RecvEnd::EndOfStream => "end of stream (FIN, not RST)".into(),
        RecvEnd::Data(n) => format!("{n} bytes of data"),
    };
    drop(client);
    drop(listener);
    let server_side = wait_for_state(server_local, client_local, None, timeout)?;
    let client_side = wait_for_state(client_local, server_local, None, timeout)?;
    let evidence = vec![
        format!("the client's recv() after the server's close: {peer_error}"),
        format!(
            "TIME_WAIT on the server's port {}: {}",
            server_local.port(),
            if server_side.is_none() {
                "none"
            } else {
                "present"
            }
        ),
    ];
    Ok(Holder::left_nothing(
        server_local,
        old_flags,
        evidence,
        peer_error == "ECONNRESET" && server_side.is_none() && client_side.is_none(),
    ))
}

pub(super) fn unspecified_like(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

pub(super) fn std_listener_defaults(addr: IpAddr, timeout: Duration) -> anyhow::Result<ReuseFlags> {
    let listener = sock::std_listener(SocketAddr::new(addr, 0), timeout)?;
    Ok(sock::reuse_flags(&listener)?)
}
