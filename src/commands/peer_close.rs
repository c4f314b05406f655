//! `sockdoc peer-close`: what a program sees when the other end goes away. An orderly
//! close (FIN) makes recv() return 0 — and keep returning 0, so a loop that does not check
//! spins forever; an abortive close (SO_LINGER 0 → RST) makes recv() fail with ECONNRESET;
//! writing after the peer closed is answered with RST and then fails with EPIPE (tcp(7),
//! send(2)).

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::Context;
use super::scenario::{Check, Scenario, ScenarioReport};
use crate::cli::ScenarioArgs;
use crate::exit::Exit;
use crate::sys::SysError;
use crate::sys::error::errno_name;
use crate::sys::socket::{self as sock, RecvEnd, ReuseFlags};
use crate::units::count;

/// How often recv() is called after the FIN, to show that 0 repeats.
const REPEATED_READS: usize = 3;

/// Writes after the peer closed, until one fails: the first is accepted (the kernel does
/// not yet know), the peer answers with RST, the next one fails.
const MAX_WRITES: usize = 3;

/// What the writes after the close send.
const PROBE: &[u8] = b"are you there?";

pub fn run(args: &ScenarioArgs, ctx: &Context) -> anyhow::Result<(ScenarioReport, Exit)> {
    let mut s = Scenario::start("peer-close", args.addr);
    let timeout = ctx.timeout;
    let listener = sock::listener(s.ephemeral(), ReuseFlags::NONE, timeout)?;
    let listen_addr = sock::local_addr(&listener)?;
    let pair = |step: &str| -> anyhow::Result<(TcpStream, TcpStream)> {
        let client = sock::connect(listen_addr, timeout)?;
        let server =
            sock::accept(&listener, timeout).map_err(|e| anyhow::anyhow!("{step}: {e}"))?;
        Ok((client, server))
    };

    // 1. Orderly close: recv() returns 0, again and again.
    let (mut client, server) = pair("orderly close")?;
    drop(server);
    let mut reads = Vec::new();
    for _ in 0..REPEATED_READS {
        reads.push(describe(&sock::recv_once(
            &mut client,
            "reading after the peer's FIN",
            timeout,
        )?));
    }
    drop(client);
    s.detail("orderly_close_reads", &reads);
    s.check(Check::new(
        "after an orderly close every recv() returns 0",
        reads.join(", "),
        ["0 (end of stream)"; REPEATED_READS].join(", "),
        reads.iter().all(|r| r == "0 (end of stream)"),
    ));

    // 2. Abortive close: SO_LINGER {on, 0} sends RST; recv() fails with ECONNRESET.
    let (mut client, server) = pair("abortive close")?;
    sock::set_linger_zero(&server)?;
    drop(server);
    let after_rst = describe(&sock::recv_once(
        &mut client,
        "reading after the peer's RST",
        timeout,
    )?);
    drop(client);
    s.detail("abortive_close_read", &after_rst);
    s.check(Check::equal(
        "after an abortive close (SO_LINGER 0) recv() fails",
        after_rst.clone(),
        "ECONNRESET",
    ));

    // 3. Writing after the peer closed: accepted once, then the RST makes it fail.
    let (mut client, server) = pair("write after close")?;
    drop(server);
    // The FIN has arrived once recv() sees it, so the writes below race nothing.
    let eof = describe(&sock::recv_once(
        &mut client,
        "reading the peer's FIN",
        timeout,
    )?);
    let writes = write_until_refused(&mut client, timeout)?;
    drop(client);
    let last = writes.last().cloned().unwrap_or_default();
    s.detail("write_after_close_eof_read", &eof);
    s.detail("writes_after_close", &writes);
    s.check(Check::new(
        "writing after the peer closed fails once its RST is back",
        writes.join(", "),
        "accepted, then EPIPE (or ECONNRESET)",
        writes.first().is_some_and(|w| w.ends_with("accepted"))
            && (last == "EPIPE" || last == "ECONNRESET"),
    ));
    s.note(
        "Rust ignores SIGPIPE (std sets it to SIG_IGN before main) and std writes with \
         MSG_NOSIGNAL, so the failed write is an EPIPE error here. A C program that does neither \
         is killed by SIGPIPE at that write: use send(…, MSG_NOSIGNAL) or ignore SIGPIPE.",
    );

    let verdict = format!(
        "After the peer's FIN, recv() returned 0 on each of {REPEATED_READS} calls; after its RST \
         (SO_LINGER 0), recv() failed with {after_rst}; writing after it closed gave: {}.",
        writes.join(", then ")
    );
    Ok(s.finish(
        "An orderly close sends FIN: the reader sees end of stream (0) forever after. An abortive \
         close sends RST: pending and later calls fail with ECONNRESET. A write to a closed peer \
         is accepted locally, the peer answers RST, and the next write fails with EPIPE.",
        verdict,
        "Treat recv() == 0 as \"peer closed\" and leave the read loop; handle ECONNRESET and EPIPE \
         as a closed connection, not a crash; in C, send with MSG_NOSIGNAL or ignore SIGPIPE.",
    ))
}

/// Writes to a connection whose peer closed until a write fails, waiting after each accepted
/// write for the RST the closed peer answers it with; returns each write's outcome.
fn write_until_refused(client: &mut TcpStream, timeout: Duration) -> anyhow::Result<Vec<String>> {
    let mut writes = Vec::new();
    for attempt in 1..=MAX_WRITES {
        let outcome = match client.write(PROBE) {
            Ok(n) => format!("{} accepted", count(n, "byte")),
            Err(e) if e.kind() == ErrorKind::WouldBlock => "EAGAIN".into(),
            Err(e) => errno_name(&e).unwrap_or_else(|| e.to_string()),
        };
        let failed = !outcome.ends_with("accepted");
        writes.push(outcome);
        if failed {
            break;
        }
        // The closed peer answers the data with RST. Until it lands the socket reads as
        // "end of stream", so wait for the error it leaves (POLLERR), bounded by --timeout.
        if !sock::wait_for_error(&client, timeout)? {
            return Err(SysError::Timeout {
                step: format!(
                    "waiting for the peer's RST after write {attempt} to the connection it \
                     closed (the {}-byte write was accepted; a closed socket answers data with \
                     RST: tcp_rcv_state_process(), net/ipv4/tcp_input.c, TCPAbortOnData)",
                    PROBE.len()
                ),
                timeout,
            }
            .diagnosed()
            .into());
        }
    }
    Ok(writes)
}

fn describe(end: &RecvEnd) -> String {
    match end {
        RecvEnd::EndOfStream => "0 (end of stream)".into(),
        RecvEnd::Data(n) => count(*n, "byte"),
        RecvEnd::Error(e) => errno_name(e).unwrap_or_else(|| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_byte_read_is_singular() {
        assert_eq!(describe(&RecvEnd::Data(1)), "1 byte");
        assert_eq!(describe(&RecvEnd::Data(14)), "14 bytes");
        assert_eq!(describe(&RecvEnd::EndOfStream), "0 (end of stream)");
    }
}
