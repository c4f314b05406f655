//! `sockdoc partial-send`: a non-blocking sender with a small SO_SNDBUF, toward a receiver
//! that is not reading. send() accepts only what fits in the socket buffers and returns
//! that count (send(2): "the number of bytes sent"), then fails with EAGAIN; a program that
//! ignores the count loses the rest. A send-all loop (wait for POLLOUT, send the remainder)
//! delivers every byte once the receiver reads, proven by a checksum.

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use serde::Serialize;

use super::Context;
use super::scenario::{
    Check, Checksum, Details, Measured, MeasuredRow as Row, Scenario, ScenarioReport,
};
use crate::commands::args::PartialSendArgs;
use crate::exit::Exit;
use crate::sys::socket::{self as sock, ReuseFlags};
use crate::sys::sockopt::{BUFFER_CLAMP, BUFFER_DOUBLING};
use crate::sys::{SysError, sysctl};
use crate::units::count;

/// The receiver's SO_RCVBUF: small, so the path fills quickly.
const RECEIVER_RCVBUF: usize = 4096;

/// Bound on send() calls before EAGAIN: the buffers hold kilobytes, so this is never reached
/// unless the kernel keeps accepting forever.
const MAX_CALLS: u32 = 100_000;

/// What partial-send measured: the buffers, the filling until EAGAIN, the send-all loop,
/// and what the receiver got.
#[derive(Debug, Serialize)]
struct PartialSendDetails {
    bytes: usize,
    sndbuf_requested: u64,
    sndbuf_applied: usize,
    wmem_max: Option<u64>,
    receiver_rcvbuf_requested: usize,
    first_send_bytes: usize,
    accepted_before_eagain: usize,
    send_calls_before_eagain: u32,
    send_all_calls: u32,
    send_all_partial_sends: u32,
    send_all_eagains: u32,
    received_bytes: usize,
    checksum_sent: Checksum,
    checksum_received: Checksum,
}

impl Details for PartialSendDetails {
    fn measured(&self) -> Vec<Row> {
        let Self {
            bytes,
            sndbuf_requested,
            sndbuf_applied,
            wmem_max,
            receiver_rcvbuf_requested,
            first_send_bytes,
            accepted_before_eagain,
            send_calls_before_eagain,
            send_all_calls,
            send_all_partial_sends,
            send_all_eagains,
            received_bytes,
            checksum_sent,
            checksum_received,
        } = self;
        let size = |n: &usize| Measured::bytes(*n);
        let calls = |n: &u32| Measured::Count(u64::from(*n));
        vec![
            Row::new("bytes", "bytes to send", size(bytes)),
            Row::new(
                "sndbuf_requested",
                "SO_SNDBUF requested",
                Measured::Bytes(*sndbuf_requested),
            ),
            Row::new(
                "sndbuf_applied",
                "SO_SNDBUF read back",
                size(sndbuf_applied),
            ),
            Row::new(
                "wmem_max",
                "net.core.wmem_max",
                Measured::or_unavailable(*wmem_max, Measured::KnobBytes),
            ),
            Row::new(
                "receiver_rcvbuf_requested",
                "receiver's SO_RCVBUF requested",
                size(receiver_rcvbuf_requested),
            ),
            Row::new(
                "first_send_bytes",
                "first send() accepted",
                size(first_send_bytes),
            ),
            Row::new(
                "accepted_before_eagain",
                "accepted before EAGAIN",
                size(accepted_before_eagain),
            ),
            Row::new(
                "send_calls_before_eagain",
                "send() calls before EAGAIN",
                calls(send_calls_before_eagain),
            ),
            Row::new(
                "send_all_calls",
                "send-all loop: send() calls",
                calls(send_all_calls),
            ),
            Row::new(
                "send_all_partial_sends",
                "send-all loop: short sends",
                calls(send_all_partial_sends),
            ),
            Row::new(
                "send_all_eagains",
                "send-all loop: EAGAINs",
                calls(send_all_eagains),
            ),
            Row::new(
                "received_bytes",
                "the receiver read in all",
                size(received_bytes),
            ),
            Row::new(
                "checksum_sent",
                "FNV-1a checksum of the bytes sent",
                Measured::text(checksum_sent),
            ),
            Row::new(
                "checksum_received",
                "FNV-1a checksum of the bytes received",
                Measured::text(checksum_received),
            ),
        ]
    }
}

pub fn run(args: &PartialSendArgs, ctx: &Context) -> anyhow::Result<(ScenarioReport, Exit)> {
    let mut s = Scenario::start("partial-send", args.scenario.addr);
    let timeout = ctx.timeout;
    let total = usize::try_from(args.bytes).expect("--bytes is at most 64M");
    let data: Vec<u8> = (0..total).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut sent_sum = Checksum::default();
    sent_sum.update(&data);

    // Read live, in this network namespace: the cap SO_SNDBUF requests meet.
    let wmem_max = sysctl::read_number(&ctx.root, "net.core.wmem_max");
    let (mut client, server) = small_buffer_pair(&s, args.sndbuf, timeout)?;
    let sndbuf_applied = sock::send_buffer(&client)?;
    sock::set_nonblocking(&client, true)?;

    // 1. Nobody reads: send() takes what fits, then EAGAIN.
    let filled = fill_until_eagain(&mut client, &data)?;
    let Filled {
        first,
        accepted,
        calls,
        eagain,
    } = filled;

    // 2. The receiver reads; a send-all loop delivers the rest.
    let (received, received_sum, loop_stats) = deliver(client, server, &data, accepted, timeout)?;

    let details = PartialSendDetails {
        bytes: total,
        sndbuf_requested: args.sndbuf,
        sndbuf_applied,
        wmem_max,
        receiver_rcvbuf_requested: RECEIVER_RCVBUF,
        first_send_bytes: first,
        accepted_before_eagain: accepted,
        send_calls_before_eagain: calls,
        send_all_calls: loop_stats.calls,
        send_all_partial_sends: loop_stats.partial,
        send_all_eagains: loop_stats.eagain,
        received_bytes: received,
        checksum_sent: sent_sum,
        checksum_received: received_sum,
    };

    let all_fit = first == total;
    if all_fit {
        // Nothing was short, so there is nothing to hold against the documented behaviour.
        s.note(format!(
            "Not demonstrated: {} fit in the socket buffers at once, so no send() came back \
             short. Use a larger --bytes or a smaller --sndbuf.",
            all_bytes(total)
        ));
    } else {
        s.check(Check::new(
            "send() returns fewer bytes than asked when the buffers fill",
            format!("{first} of {}", count(total, "byte")),
            "fewer than asked",
            true,
        ));
        s.check(Check::new(
            "a non-blocking send() then fails with EAGAIN",
            if eagain {
                format!(
                    "EAGAIN after {} in {}",
                    count(accepted, "byte"),
                    count(calls, "call")
                )
            } else {
                format!(
                    "no EAGAIN after {} ({} accepted)",
                    count(calls, "call"),
                    count(accepted, "byte")
                )
            },
            "EAGAIN",
            eagain,
        ));
    }
    let delivered = received == total && received_sum == sent_sum;
    s.check(Check::new(
        "a send-all loop delivers every byte, in order",
        format!(
            "{received} of {}, checksum {}",
            count(total, "byte"),
            if received_sum == sent_sum {
                "equal"
            } else {
                "DIFFERENT"
            }
        ),
        format!("{total} of {}, checksum equal", count(total, "byte")),
        delivered,
    ));
    let sndbuf = sndbuf_story(args.sndbuf, sndbuf_applied as u64, wmem_max);
    let verdict = verdict(&filled, total, &sndbuf, received, delivered, &loop_stats);
    Ok(s.finish(
        &details,
        "send() copies into the socket's send buffer only what fits (SO_SNDBUF, and the peer's \
         window) and returns that count; a non-blocking socket then says EAGAIN instead of \
         waiting. Bytes the program does not resend are lost.",
        verdict,
        "Always check send()'s return value and loop until every byte is written (Rust: \
         write_all; C: a send-all loop); on non-blocking sockets wait for POLLOUT (or EPOLLOUT) \
         on EAGAIN before sending the rest.",
    ))
}

/// Runs the send-all loop from byte `sent` while a reader drains the other end; returns what
/// the reader got, its checksum, and the loop's counts.
fn deliver(
    mut client: TcpStream,
    mut server: TcpStream,
    data: &[u8],
    sent: usize,
    timeout: Duration,
) -> anyhow::Result<(usize, Checksum, LoopStats)> {
    thread::scope(|scope| {
        let reader = scope.spawn(move || read_all(&mut server, timeout));
        let stats = send_all(&mut client, data, sent, timeout);
        // End of stream for the reader, whatever happened.
        drop(client);
        let read = reader.join().expect("the reader thread does not panic");
        let stats = stats?;
        let (received, sum) = read?;
        Ok((received, sum, stats))
    })
}

/// A connection whose sender asked for `sndbuf` bytes of SO_SNDBUF and whose receiver has a
/// small SO_RCVBUF (set on the listener, so the accepted socket inherits it before the
/// handshake fixes the window scale).
fn small_buffer_pair(
    s: &Scenario,
    sndbuf: u64,
    timeout: Duration,
) -> Result<(TcpStream, TcpStream), SysError> {
    let bind_to = s.ephemeral();
    let listener = sock::tcp_socket(bind_to, ReuseFlags::NONE)?;
    sock::set_recv_buffer(&listener, RECEIVER_RCVBUF)?;
    sock::bind(&listener, bind_to)?;
    sock::listen(&listener, bind_to)?;
    let listen_addr = sock::local_addr(&listener)?;
    let sender = sock::tcp_socket(listen_addr, ReuseFlags::NONE)?;
    sock::set_send_buffer(&sender, usize::try_from(sndbuf).unwrap_or(usize::MAX))?;
    let client = sock::connect_socket(sender, listen_addr, timeout)?;
    let server = sock::accept(&listener, timeout)?;
    Ok((client, server))
}

/// One non-blocking send(): Some(bytes), or None for EAGAIN.
fn write(client: &mut TcpStream, data: &[u8]) -> Result<Option<usize>, SysError> {
    match client.write(data) {
        Ok(n) => Ok(Some(n)),
        Err(error) if error.kind() == ErrorKind::WouldBlock => Ok(None),
        Err(error) => Err(SysError::Io {
            step: "sending to the receiver".into(),
            error,
        }),
    }
}

/// The verdict, from what was measured: how the buffers filled, and what the loop delivered.
fn verdict(
    filled: &Filled,
    total: usize,
    sndbuf: &str,
    received: usize,
    delivered: bool,
    loop_stats: &LoopStats,
) -> String {
    let filling = if filled.first == total {
        format!("the first send() took {}", all_bytes(total))
    } else {
        format!(
            "the first send() of {} took {}, and {} took {} in all, the last {}",
            count(total, "byte"),
            filled.first,
            count(filled.calls, "call"),
            count(filled.accepted, "byte"),
            if filled.eagain {
                "failing with EAGAIN"
            } else {
                "still accepting (the call limit ended the loop)"
            }
        )
    };
    let delivery = if delivered {
        format!(
            "delivered {} ({}, {}), checksum equal",
            all_bytes(received),
            count(loop_stats.partial, "partial send"),
            count(loop_stats.eagain, "EAGAIN")
        )
    } else {
        format!(
            "delivered {received} of {}, checksum different",
            count(total, "byte")
        )
    };
    format!(
        "With {sndbuf} and nobody reading, {filling}. Once the receiver read, a loop that waited \
         for POLLOUT and resent the remainder {delivery}."
    )
}

/// "all 4096 bytes", or "the 1 byte" when there is only one.
fn all_bytes(n: usize) -> String {
    if n == 1 {
        "the 1 byte".into()
    } else {
        format!("all {n} bytes")
    }
}

/// What became of the SO_SNDBUF request, from the measured value and the live
/// net.core.wmem_max. The rule (SO_SNDBUF in `sk_setsockopt`, net/core/sock.c): the request
/// is capped at net.core.wmem_max and at INT_MAX / 2, doubled, then raised to
/// SOCK_MIN_SNDBUF. Each case is stated only when the measured value matches it.
fn sndbuf_story(requested: u64, applied: u64, wmem_max: Option<u64>) -> String {
    let capped = wmem_max
        .map_or(requested, |cap| requested.min(cap))
        .min(BUFFER_CLAMP);
    let doubled = capped * BUFFER_DOUBLING;
    match wmem_max {
        Some(cap) if requested > cap && applied == doubled => format!(
            "SO_SNDBUF {applied} (asked {requested}, more than net.core.wmem_max = {cap}: the \
             kernel capped the request at {cap}, then doubled it; raise net.core.wmem_max, or \
             use SO_SNDBUFFORCE with CAP_NET_ADMIN, for a larger buffer)"
        ),
        _ if requested > BUFFER_CLAMP && applied == doubled => format!(
            "SO_SNDBUF {applied} (asked {requested}: the kernel clamps a request to INT_MAX / 2 \
             = {BUFFER_CLAMP} so that doubling it still fits an int, then doubled it)"
        ),
        _ if applied == doubled => format!(
            "SO_SNDBUF {applied} (asked {requested}, doubled by the kernel{})",
            wmem_max.map_or_else(String::new, |cap| format!(
                "; net.core.wmem_max = {cap} did not limit it"
            ))
        ),
        _ if applied > doubled => format!(
            "SO_SNDBUF {applied} (asked {requested}; doubled, {doubled} is below the kernel's \
             minimum send buffer, SOCK_MIN_SNDBUF, so it was raised to that)"
        ),
        _ => format!(
            "SO_SNDBUF {applied} (asked {requested}; net.core.wmem_max {})",
            wmem_max.map_or_else(|| "unreadable".to_string(), |cap| format!("= {cap}"))
        ),
    }
}

/// Phase 1: what non-blocking sends accepted before the first EAGAIN.
#[derive(Debug, Clone, Copy)]
struct Filled {
    /// What the very first send() took.
    first: usize,
    accepted: usize,
    calls: u32,
    eagain: bool,
}

fn fill_until_eagain(client: &mut TcpStream, data: &[u8]) -> Result<Filled, SysError> {
    let mut filled = Filled {
        first: 0,
        accepted: 0,
        calls: 0,
        eagain: false,
    };
    while filled.accepted < data.len() && filled.calls < MAX_CALLS {
        filled.calls += 1;
        let Some(n) = write(client, &data[filled.accepted..])? else {
            filled.eagain = true;
            break;
        };
        if filled.calls == 1 {
            filled.first = n;
        }
        filled.accepted += n;
    }
    Ok(filled)
}

#[derive(Debug, Default)]
struct LoopStats {
    calls: u32,
    partial: u32,
    eagain: u32,
}

/// The send-all loop: send the remainder, and on EAGAIN wait (bounded) for room.
fn send_all(
    client: &mut TcpStream,
    data: &[u8],
    mut sent: usize,
    timeout: Duration,
) -> anyhow::Result<LoopStats> {
    let mut stats = LoopStats::default();
    while sent < data.len() {
        stats.calls += 1;
        if let Some(n) = write(client, &data[sent..])? {
            if n < data.len() - sent {
                stats.partial += 1;
            }
            sent += n;
            continue;
        }
        stats.eagain += 1;
        if !sock::wait_writable(client, timeout)? {
            return Err(SysError::Timeout {
                step: format!(
                    "waiting for the receiver to make room ({sent} of {} sent)",
                    count(data.len(), "byte")
                ),
                timeout,
            }
            .into());
        }
    }
    Ok(stats)
}

/// Reads to the end of the stream; returns the byte count and checksum.
fn read_all(server: &mut TcpStream, timeout: Duration) -> anyhow::Result<(usize, Checksum)> {
    let mut sum = Checksum::default();
    let mut received = 0;
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let n = sock::recv_some(server, &mut buf, "reading at the receiver", timeout)?;
        if n == 0 {
            return Ok((received, sum));
        }
        sum.update(&buf[..n]);
        received += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sndbuf_story_names_the_rule_that_applied() {
        let capped = sndbuf_story(1 << 30, 2 * 212_992, Some(212_992));
        assert!(
            capped.contains("more than net.core.wmem_max = 212992"),
            "{capped}"
        );
        assert!(capped.contains("capped the request at 212992"), "{capped}");
        let doubled = sndbuf_story(4096, 8192, Some(212_992));
        assert!(doubled.contains("doubled by the kernel"), "{doubled}");
        assert!(doubled.contains("212992 did not limit it"), "{doubled}");
        let floored = sndbuf_story(1, 4608, Some(212_992));
        assert!(floored.contains("SOCK_MIN_SNDBUF"), "{floored}");
        let clamped = sndbuf_story(1 << 30, 2 * BUFFER_CLAMP, Some(u64::from(u32::MAX)));
        assert!(clamped.contains("INT_MAX / 2"), "{clamped}");
        // A measured value no rule explains is reported as measured, not explained away.
        let odd = sndbuf_story(1 << 30, 12_345, None);
        assert!(odd.contains("net.core.wmem_max unreadable"), "{odd}");
    }

    #[test]
    fn counts_of_one_read_in_the_singular() {
        let one_call = Filled {
            first: 6144,
            accepted: 6144,
            calls: 1,
            eagain: true,
        };
        let once = LoopStats {
            calls: 2,
            partial: 1,
            eagain: 1,
        };
        let text = verdict(&one_call, 8192, "SO_SNDBUF 4096", 8192, true, &once);
        assert!(text.contains("and 1 call took 6144 bytes in all"), "{text}");
        assert!(
            text.contains("delivered all 8192 bytes (1 partial send, 1 EAGAIN)"),
            "{text}"
        );
        let whole = Filled {
            first: 1,
            accepted: 1,
            calls: 1,
            eagain: false,
        };
        let none = LoopStats {
            calls: 0,
            partial: 0,
            eagain: 0,
        };
        let text = verdict(&whole, 1, "SO_SNDBUF 4096", 1, true, &none);
        assert!(text.contains("the first send() took the 1 byte."), "{text}");
        assert!(
            text.contains("delivered the 1 byte (0 partial sends, 0 EAGAINs)"),
            "{text}"
        );
    }
}
