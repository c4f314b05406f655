//! `sockdoc peer-close`: what a program sees when the other end goes away. An orderly
//! close (FIN) makes recv() return 0 — and keep returning 0, so a loop that does not check
//! spins forever; an abortive close (SO_LINGER 0 → RST) makes recv() fail with ECONNRESET;
//! writing after the peer closed is answered with RST and then fails with EPIPE (tcp(7),
//! send(2)).

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use serde::Serialize;

use super::Context;
use super::scenario::{
    CallEnd, CallResult, Check, Details, Measured, MeasuredRow as Row, Scenario, ScenarioReport,
};
use crate::commands::args::ScenarioArgs;
use crate::exit::Exit;
use crate::sys::SysError;
use crate::sys::socket::{self as sock, RecvEnd, ReuseFlags};

/// How often recv() is called after the FIN, to show that 0 repeats.
const REPEATED_READS: usize = 3;

/// Writes after the peer closed, until one fails: the first is accepted (the kernel does
/// not yet know), the peer answers with RST, the next one fails.
const MAX_WRITES: usize = 3;

/// What the writes after the close send.
const PROBE: &[u8] = b"are you there?";

/// What peer-close measured. Each call's outcome is there twice: as the text the report
/// always had (`orderly_close_reads`: "0 (end of stream)", …) and typed (`…_results`: the
/// return value, the kind, the errno), for readers that should not parse the text.
#[derive(Debug, Serialize)]
struct PeerCloseDetails {
    orderly_close_reads: Vec<CallEnd>,
    abortive_close_read: CallEnd,
    write_after_close_eof_read: CallEnd,
    writes_after_close: Vec<CallEnd>,
    orderly_close_read_results: Vec<CallResult>,
    abortive_close_read_result: CallResult,
    write_after_close_eof_read_result: CallResult,
    writes_after_close_results: Vec<CallResult>,
}

impl PeerCloseDetails {
    fn new(
        orderly_close_reads: Vec<CallEnd>,
        abortive_close_read: CallEnd,
        write_after_close_eof_read: CallEnd,
        writes_after_close: Vec<CallEnd>,
    ) -> Self {
        let typed = |ends: &[CallEnd]| ends.iter().map(CallResult::from).collect();
        Self {
            orderly_close_read_results: typed(&orderly_close_reads),
            abortive_close_read_result: CallResult::from(&abortive_close_read),
            write_after_close_eof_read_result: CallResult::from(&write_after_close_eof_read),
            writes_after_close_results: typed(&writes_after_close),
            orderly_close_reads,
            abortive_close_read,
            write_after_close_eof_read,
            writes_after_close,
        }
    }
}

/// The text of each call is its row; the typed `…_results` are that row's twins.
impl Details for PeerCloseDetails {
    fn measured(&self) -> Vec<Row> {
        let Self {
            orderly_close_reads,
            abortive_close_read,
            write_after_close_eof_read,
            writes_after_close,
            orderly_close_read_results: _,
            abortive_close_read_result: _,
            write_after_close_eof_read_result: _,
            writes_after_close_results: _,
        } = self;
        vec![
            Row::new(
                "orderly_close_reads",
                "recv() after a FIN",
                Measured::texts(orderly_close_reads),
            )
            .with_twin("orderly_close_read_results"),
            Row::new(
                "abortive_close_read",
                "recv() after an RST",
                Measured::text(abortive_close_read),
            )
            .with_twin("abortive_close_read_result"),
            Row::new(
                "write_after_close_eof_read",
                "recv() before writing",
                Measured::text(write_after_close_eof_read),
            )
            .with_twin("write_after_close_eof_read_result"),
            Row::new(
                "writes_after_close",
                "write() after the peer closed",
                Measured::texts(writes_after_close),
            )
            .with_twin("writes_after_close_results"),
        ]
    }
}

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
    s.check(Check::new(
        "after an orderly close every recv() returns 0",
        joined(&reads, ", "),
        joined(&vec![CallEnd::EndOfStream; REPEATED_READS], ", "),
        reads.iter().all(|r| *r == CallEnd::EndOfStream),
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
    s.check(Check::new(
        "after an abortive close (SO_LINGER 0) recv() fails",
        after_rst.to_string(),
        "ECONNRESET",
        after_rst.failed_with(libc::ECONNRESET),
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
    s.check(Check::new(
        "writing after the peer closed fails once its RST is back",
        joined(&writes, ", "),
        "accepted, then EPIPE (or ECONNRESET)",
        matches!(writes.first(), Some(CallEnd::Accepted(_)))
            && writes
                .last()
                .is_some_and(|w| w.failed_with(libc::EPIPE) || w.failed_with(libc::ECONNRESET)),
    ));
    s.note(
        "Rust ignores SIGPIPE (std sets it to SIG_IGN before main) and std writes with \
         MSG_NOSIGNAL, so the failed write is an EPIPE error here. A C program that does neither \
         is killed by SIGPIPE at that write: use send(…, MSG_NOSIGNAL) or ignore SIGPIPE.",
    );

    let verdict = format!(
        "After the peer's FIN, recv() returned 0 on each of {REPEATED_READS} calls; after its RST \
         (SO_LINGER 0), recv() failed with {after_rst}; writing after it closed gave: {}.",
        joined(&writes, ", then ")
    );
    let details = PeerCloseDetails::new(reads, after_rst, eof, writes);
    Ok(s.finish(
        &details,
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
fn write_until_refused(client: &mut TcpStream, timeout: Duration) -> anyhow::Result<Vec<CallEnd>> {
    let mut writes = Vec::new();
    for attempt in 1..=MAX_WRITES {
        let outcome = match client.write(PROBE) {
            Ok(n) => CallEnd::Accepted(n),
            Err(e) => CallEnd::from_error(&e),
        };
        let failed = !matches!(outcome, CallEnd::Accepted(_));
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

fn describe(end: &RecvEnd) -> CallEnd {
    match end {
        RecvEnd::EndOfStream => CallEnd::EndOfStream,
        RecvEnd::Data(n) => CallEnd::Received(*n),
        RecvEnd::Error(e) => CallEnd::from_error(e),
    }
}

/// The outcomes as the check and the verdict list them.
fn joined(ends: &[CallEnd], separator: &str) -> String {
    ends.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_byte_read_is_singular() {
        assert_eq!(describe(&RecvEnd::Data(1)).to_string(), "1 byte");
        assert_eq!(describe(&RecvEnd::Data(14)).to_string(), "14 bytes");
        assert_eq!(
            describe(&RecvEnd::EndOfStream).to_string(),
            "0 (end of stream)"
        );
    }
}
