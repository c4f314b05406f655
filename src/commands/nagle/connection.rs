//! The test connections of both experiments, and which end's failure to report when both
//! ends of one failed.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use socket2::Socket;

use super::Mode;
use crate::sys::SysError;
use crate::sys::error::NO_ANSWER_CAUSES;
use crate::sys::socket as sock;

/// A fresh connection to the test server, with the mode's options on both ends.
pub(super) fn connect_pair(
    mode: Mode,
    listener: &Socket,
    listen_addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<(TcpStream, TcpStream)> {
    let client = sock::connect(listen_addr, timeout)?;
    let client_addr = sock::local_addr(&client)?;
    // With a pinned --port, someone else (a capture tool's probe, a stray client) may be
    // in the accept queue first: measure only our own client.
    let server = loop {
        let accepted = sock::accept(listener, timeout)?;
        if accepted.peer_addr().ok() == Some(client_addr) {
            break accepted;
        }
    };
    sock::set_nodelay(&client, mode.nodelay)?;
    sock::set_nodelay(&server, mode.nodelay)?;
    Ok((client, server))
}

/// The client's and the server's results of one experiment as one, the root cause first
/// when both failed. The server's socket closes when its thread ends, so a client that read
/// end-of-stream only learnt that the server had given up: the server's error is the cause.
/// When both timed out, neither end heard the other.
pub(super) fn both_ends<T, U>(
    client: anyhow::Result<T>,
    server: anyhow::Result<U>,
) -> anyhow::Result<(T, U)> {
    match (client, server) {
        (Ok(client), Ok(server)) => Ok((client, server)),
        (Err(error), Ok(_)) | (Ok(_), Err(error)) => Err(error),
        (Err(client), Err(server)) => Err(root_cause(&client, &server)),
    }
}

fn root_cause(client: &anyhow::Error, server: &anyhow::Error) -> anyhow::Error {
    let client_sys = client
        .downcast_ref::<SysError>()
        .map(SysError::undiagnosed_ref);
    let server_sys = server
        .downcast_ref::<SysError>()
        .map(SysError::undiagnosed_ref);
    if let Some(closed) = client_sys.and_then(|e| closed_by_peer(e, "the server")) {
        return anyhow::anyhow!("{closed}, because the server's side had failed first: {server:#}");
    }
    if server_sys
        .and_then(|e| closed_by_peer(e, "the client"))
        .is_some()
    {
        // The server saw the client go away: the client's own failure is the cause.
        return anyhow::anyhow!("{client:#}");
    }
    if let (
        Some(SysError::Timeout { step, timeout }),
        Some(SysError::Timeout {
            step: server_step, ..
        }),
    ) = (client_sys, server_sys)
    {
        return anyhow::anyhow!(
            "{step}: no answer within {}, and the server heard nothing either ({server_step}): \
             {NO_ANSWER_CAUSES}",
            humantime::format_duration(*timeout)
        );
    }
    anyhow::anyhow!("{client:#}; the server's side failed too: {server:#}")
}

/// "reading the reply (round 3): the server closed the connection after 0 of 2 bytes" when
/// `error` says `peer`, the other end, went away (end of stream, EPIPE, ECONNRESET).
fn closed_by_peer(error: &SysError, peer: &str) -> Option<String> {
    match error {
        SysError::PeerClosed {
            step,
            received,
            expected,
        } => Some(format!(
            "{step}: {peer} closed the connection after {received} of {expected} bytes"
        )),
        SysError::Io { step, error }
            if matches!(error.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)) =>
        {
            Some(format!(
                "{step}: {peer} closed the connection ({})",
                crate::sys::error::os_text(error)
            ))
        }
        _ => None,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(step: &str) -> anyhow::Error {
        SysError::Timeout {
            step: step.into(),
            timeout: Duration::from_millis(200),
        }
        .into()
    }

    #[test]
    fn a_server_that_gave_up_is_the_cause_of_the_clients_short_read() {
        let client: anyhow::Error = SysError::PeerClosed {
            step: "reading the reply (round 3, Nagle on)".into(),
            received: 0,
            expected: 2,
        }
        .into();
        let server = timeout("server reading the body (round 3, Nagle on)");
        let error = both_ends::<(), ()>(Err(client), Err(server)).unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.starts_with(
                "reading the reply (round 3, Nagle on): the server closed the connection after 0 \
                 of 2 bytes, because the server's side had failed first: server reading the body \
                 (round 3, Nagle on): no answer within 200ms"
            ),
            "{text}"
        );
    }

    #[test]
    fn two_timeouts_say_neither_end_heard_the_other() {
        let error = both_ends::<(), ()>(
            Err(timeout("reading the reply (round 1, Nagle on)")),
            Err(timeout("server reading the header (round 1, Nagle on)")),
        )
        .unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.starts_with(
                "reading the reply (round 1, Nagle on): no answer within 200ms, and the server \
                 heard nothing either (server reading the header (round 1, Nagle on))"
            ),
            "{text}"
        );
        assert_eq!(text.matches("nft list ruleset").count(), 1, "{text}");
    }

    #[test]
    fn a_client_that_failed_first_is_the_cause_of_the_servers_short_read() {
        let server: anyhow::Error = SysError::PeerClosed {
            step: "server reading the header (round 2, Nagle on)".into(),
            received: 0,
            expected: 4,
        }
        .into();
        let client = timeout("reading the reply (round 2, Nagle on)");
        let error = both_ends::<(), ()>(Err(client), Err(server)).unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.starts_with("reading the reply (round 2, Nagle on): no answer"),
            "{text}"
        );
    }
}
