//! A real loopback connection to close one side first, and a bounded wait on a socket's
//! state as sock_diag reports it.

use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use socket2::Socket;

use super::Context;
use super::explain::explain_bind_error;
use crate::sys::SysError;
use crate::sys::diag;
use crate::sys::record::{Proto, SocketRecord, TcpState};
use crate::sys::socket::{self as sock, RecvEnd, ReuseFlags};

/// How often state changes are polled: loopback transitions take microseconds.
pub(super) const STATE_POLL: Duration = Duration::from_micros(200);

pub(super) const PING: &[u8] = b"ping";
pub(super) const PONG: &[u8] = b"pong";

/// A listener plus one connected client and its accepted server side, with a few bytes
/// exchanged so the connection is a real one.
pub(super) struct ConnectedPair {
    pub(super) listener: Socket,
    pub(super) client: TcpStream,
    pub(super) server: TcpStream,
    pub(super) client_local: SocketAddr,
    pub(super) server_local: SocketAddr,
}

impl ConnectedPair {
    pub(super) fn open(
        bind_to: SocketAddr,
        flags: ReuseFlags,
        ctx: &Context,
    ) -> anyhow::Result<Self> {
        let listener = sock::listener(bind_to, flags, ctx.timeout)
            .map_err(|e| explain_bind_error(&ctx.root, e, bind_to))?;
        Self::from_listener(listener, ctx.timeout)
    }

    pub(super) fn from_listener(listener: Socket, timeout: Duration) -> anyhow::Result<Self> {
        let listen_addr = sock::local_addr(&listener)?;
        let mut client = sock::connect(listen_addr, timeout)?;
        let mut server = sock::accept(&listener, timeout)?;
        sock::send_all(&mut client, PING, "sending the client's request", timeout)?;
        let mut buf = [0_u8; 4];
        sock::recv_exact(
            &mut server,
            &mut buf,
            "reading the client's request",
            timeout,
        )?;
        sock::send_all(&mut server, PONG, "sending the server's reply", timeout)?;
        sock::recv_exact(&mut client, &mut buf, "reading the server's reply", timeout)?;
        Ok(Self {
            client_local: sock::local_addr(&client)?,
            server_local: sock::local_addr(&server)?,
            listener,
            client,
            server,
        })
    }

    pub(super) fn port(&self) -> u16 {
        self.server_local.port()
    }

    /// Orderly close, `first` side first: it sends FIN, the other side reads the end of
    /// stream and closes too, then the listener closes. The side that closed first goes
    /// FIN_WAIT → TIME_WAIT; returns its record once there, or None if the kernel dropped it.
    pub(super) fn close(
        self,
        first: Side,
        timeout: Duration,
    ) -> anyhow::Result<Option<SocketRecord>> {
        let Self {
            listener,
            client,
            server,
            client_local,
            server_local,
        } = self;
        let (closer, mut other, closer_local, other_local) = match first {
            Side::Server => (server, client, server_local, client_local),
            Side::Client => (client, server, client_local, server_local),
        };
        drop(closer);
        expect_end_of_stream(&mut other, timeout)?;
        drop(other);
        drop(listener);
        wait_for_state(closer_local, other_local, Some(TcpState::TimeWait), timeout)
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Side {
    Server,
    Client,
}

pub(super) fn expect_end_of_stream(
    stream: &mut TcpStream,
    timeout: Duration,
) -> anyhow::Result<()> {
    match sock::recv_once(stream, "waiting for the peer's FIN", timeout)? {
        RecvEnd::EndOfStream => Ok(()),
        other => anyhow::bail!("expected the peer's FIN (end of stream) but read {other:?}"),
    }
}

/// Polls one connection until it reaches `want` (or, with `None`, until it is gone).
/// Returns the record in the wanted state, or None once the socket no longer exists.
pub(super) fn wait_for_state(
    local: SocketAddr,
    remote: SocketAddr,
    want: Option<TcpState>,
    timeout: Duration,
) -> anyhow::Result<Option<SocketRecord>> {
    let deadline = Instant::now() + timeout;
    loop {
        let record = diag::lookup(Proto::Tcp, local, remote)
            .with_context(|| format!("looking up {local} ↔ {remote}"))?;
        let current = match record {
            None => return Ok(None),
            Some(r) if Some(r.state) == want => return Ok(Some(r)),
            Some(r) => r.state,
        };
        if Instant::now() >= deadline {
            let goal = want.map_or_else(|| "close".to_string(), |s| format!("enter {s}"));
            return Err(SysError::Timeout {
                step: format!("waiting for {local} ↔ {remote} to {goal} (still {current})"),
                timeout,
            }
            .into());
        }
        thread::sleep(STATE_POLL);
    }
}
