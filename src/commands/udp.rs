//! `sockdoc udp`: UDP keeps message boundaries (N sends → N receives, never merged or
//! split), and a datagram larger than the read buffer is cut: with MSG_TRUNC recv() reports
//! the real length, and the rest of that datagram is gone (udp(7), recv(2)). TCP, on the same
//! writes, hands the reader a byte stream.

use std::net::UdpSocket;
use std::time::Duration;

use serde::Serialize;

use super::Context;
use super::scenario::{Check, Details, Measured, MeasuredRow as Row, Scenario, ScenarioReport};
use crate::commands::args::UdpArgs;
use crate::exit::Exit;
use crate::sys::SysError;
use crate::sys::diagnose::Op;
use crate::sys::socket::{self as sock, ReuseFlags};
use crate::units::count;

/// The message sizes of the boundary experiment: small, odd, one byte, and larger.
const SIZES: [usize; 5] = [8, 100, 1, 33, 512];

/// The largest datagram a read buffer is sized for when nothing should be cut.
const WHOLE_DATAGRAM: usize = 64 * 1024;

/// What udp measured: the boundary experiment's sizes, then the truncated datagram.
#[derive(Debug, Serialize)]
struct UdpDetails {
    udp_sent_sizes: [usize; SIZES.len()],
    udp_received_sizes: Vec<usize>,
    /// The contrast, not a check: TCP promises no boundaries, so merging them is allowed,
    /// not required — how many reads it takes is whatever the stream happened to hold.
    tcp_read_sizes: Vec<usize>,
    datagram_bytes: usize,
    buffer_bytes: usize,
    reported_length: usize,
    bytes_received: usize,
    bytes_lost: usize,
}

impl Details for UdpDetails {
    fn measured(&self) -> Vec<Row> {
        let Self {
            udp_sent_sizes,
            udp_received_sizes,
            tcp_read_sizes,
            datagram_bytes,
            buffer_bytes,
            reported_length,
            bytes_received,
            bytes_lost,
        } = self;
        let sizes = |sizes: &[usize]| Measured::list(sizes, Measured::bytes);
        let bytes = |n: &usize| Measured::bytes(*n);
        vec![
            Row::new(
                "udp_sent_sizes",
                "UDP datagrams sent",
                sizes(udp_sent_sizes),
            ),
            Row::new(
                "udp_received_sizes",
                "UDP datagrams received",
                sizes(udp_received_sizes),
            ),
            Row::new(
                "tcp_read_sizes",
                "TCP reads of the same writes",
                sizes(tcp_read_sizes),
            ),
            Row::new("datagram_bytes", "datagram sent", bytes(datagram_bytes)),
            Row::new("buffer_bytes", "read buffer", bytes(buffer_bytes)),
            Row::new(
                "reported_length",
                "length MSG_TRUNC reported",
                bytes(reported_length),
            ),
            Row::new(
                "bytes_received",
                "copied into the buffer",
                bytes(bytes_received),
            ),
            Row::new("bytes_lost", "lost", bytes(bytes_lost)),
        ]
    }
}

pub fn run(args: &UdpArgs, ctx: &Context) -> anyhow::Result<(ScenarioReport, Exit)> {
    let mut s = Scenario::start("udp", args.scenario.addr);
    let receiver = sock::udp_socket(s.ephemeral(), ctx.timeout)?;
    let sender = sock::udp_socket(s.ephemeral(), ctx.timeout)?;
    let to = receiver.local_addr().map_err(|error| SysError::GetOption {
        option: "the receiver's address",
        error,
    })?;

    // 1. Boundaries: every send() is one datagram, every recv() returns exactly one.
    for (i, &size) in SIZES.iter().enumerate() {
        send(&sender, &message(i, size), to)?;
    }
    let mut buf = vec![0_u8; WHOLE_DATAGRAM];
    let mut received_sizes = Vec::new();
    for _ in SIZES {
        let (len, _) = sock::recv_datagram(&receiver, &mut buf, ctx.timeout)?;
        received_sizes.push(len);
    }
    s.check(Check::new(
        "UDP: one recv() per send(), same sizes",
        format!(
            "{}: {received_sizes:?}",
            count(received_sizes.len(), "recv() call")
        ),
        format!("{}: {SIZES:?}", count(SIZES.len(), "recv() call")),
        received_sizes == SIZES,
    ));

    // The same writes over TCP, read after they all arrived: one byte stream.
    let tcp_reads = tcp_reads(&s, ctx.timeout)?;

    // 2. Truncation: a datagram larger than the read buffer is cut, and the rest is gone.
    let size = args.size as usize;
    let bufsize = args.bufsize as usize;
    send(&sender, &message(9, size), to)?;
    send(&sender, b"next", to)?;
    let mut small = vec![0_u8; bufsize];
    let (reported, copied) = sock::recv_datagram(&receiver, &mut small, ctx.timeout)?;
    let intact = small[..copied] == message(9, size)[..copied];
    let (after, _) = sock::recv_datagram(&receiver, &mut buf, ctx.timeout)?;
    let next_is_marker = &buf[..after] == b"next";
    s.check(Check::new(
        "MSG_TRUNC reports the datagram's real length",
        format!("{} reported, {copied} received", count(reported, "byte")),
        format!(
            "{} reported, {} received",
            count(size, "byte"),
            size.min(bufsize)
        ),
        reported == size && copied == size.min(bufsize) && intact,
    ));
    s.check(Check::new(
        "the next recv() gets the next datagram, not the cut-off rest",
        if next_is_marker {
            "the next datagram".to_string()
        } else {
            count(after, "other byte")
        },
        "the next datagram",
        next_is_marker,
    ));
    s.note(
        "A full SO_RCVBUF is another, silent, loss: the kernel drops whole datagrams and counts \
         them in Udp RcvbufErrors (/proc/net/snmp).",
    );

    let details = UdpDetails {
        udp_sent_sizes: SIZES,
        udp_received_sizes: received_sizes,
        tcp_read_sizes: tcp_reads,
        datagram_bytes: size,
        buffer_bytes: bufsize,
        reported_length: reported,
        bytes_received: copied,
        bytes_lost: reported.saturating_sub(copied),
    };
    let verdict = verdict(&details);
    Ok(s.finish(
        &details,
        "UDP is a message protocol: each send() is one datagram and each recv() takes one whole \
         datagram — or, into a smaller buffer, its head, with the rest dropped. TCP is a byte \
         stream with no boundaries at all.",
        verdict,
        "Size UDP read buffers for the largest datagram (65,507 bytes for IPv4) or check MSG_TRUNC \
         (recv with MSG_TRUNC returns the real length); over TCP, frame messages yourself (a \
         length prefix).",
    ))
}

/// One sentence from the measured figures: the boundaries, then what the cut took.
fn verdict(d: &UdpDetails) -> String {
    let (size, bufsize) = (d.datagram_bytes, d.buffer_bytes);
    let boundaries = format!(
        "{} arrived as {} of the same sizes, while TCP delivered the same writes in {}.",
        count(d.udp_sent_sizes.len(), "send"),
        count(d.udp_received_sizes.len(), "datagram"),
        count(d.tcp_read_sizes.len(), "read"),
    );
    if size > bufsize {
        let discarded = match d.bytes_lost {
            1 => "the other byte was discarded".to_string(),
            n => format!("the other {n} bytes were discarded"),
        };
        format!(
            "{boundaries} The {size}-byte datagram read into a {bufsize}-byte buffer kept {}; \
             recv() with MSG_TRUNC reported {}, and {discarded}.",
            count(d.bytes_received, "byte"),
            d.reported_length,
        )
    } else {
        format!(
            "{boundaries} The {size}-byte datagram fit the {bufsize}-byte buffer, so nothing was \
             cut (use --size larger than --bufsize to see truncation)."
        )
    }
}

fn send(sender: &UdpSocket, datagram: &[u8], to: std::net::SocketAddr) -> Result<(), SysError> {
    sender.send_to(datagram, to).map(drop).map_err(|error| {
        SysError::Io {
            step: format!("sending a {}-byte datagram to {to}", datagram.len()),
            error,
        }
        .diagnosed_as(Op::Send(to))
    })
}

fn message(index: usize, size: usize) -> Vec<u8> {
    (0..size).map(|i| (index * 31 + i) as u8).collect()
}

/// The SIZES writes over one TCP connection, read once they have all arrived.
fn tcp_reads(s: &Scenario, timeout: Duration) -> anyhow::Result<Vec<usize>> {
    let listener = sock::listener(s.ephemeral(), ReuseFlags::NONE, timeout)?;
    let mut client = sock::connect(sock::local_addr(&listener)?, timeout)?;
    let mut server = sock::accept(&listener, timeout)?;
    let total: usize = SIZES.iter().sum();
    for (i, &size) in SIZES.iter().enumerate() {
        sock::send_all(&mut client, &message(i, size), "writing over TCP", timeout)?;
    }
    // Closing the write side marks the end, so the reader knows when it has everything.
    drop(client);
    let mut reads = Vec::new();
    let mut buf = vec![0_u8; WHOLE_DATAGRAM];
    let mut got = 0;
    while got < total {
        let n = sock::recv_some(&mut server, &mut buf, "reading over TCP", timeout)?;
        if n == 0 {
            break;
        }
        got += n;
        reads.push(n);
    }
    anyhow::ensure!(got == total, "TCP delivered {got} of {total} bytes");
    Ok(reads)
}
