//! Experiment 2: a burst of small writes, read back as the receiver gets them (how many
//! segments and reads, which write boundaries were lost), and the same burst framed with a
//! length prefix and decoded byte-exact.

use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use socket2::Socket;

use super::connection::{both_ends, connect_pair};
use super::report::Burst;
use super::{Mode, READ_BUF};
use crate::commands::args::NagleArgs;
use crate::sys::{socket as sock, tcp_info};

/// `messages` writes of `size` bytes back to back while a reader drains the other end.
pub(super) fn burst(
    mode: Mode,
    args: &NagleArgs,
    listener: &Socket,
    listen_addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<Burst> {
    let (mut client, mut server) = connect_pair(mode, listener, listen_addr, timeout)?;
    let message = vec![b'm'; args.size as usize];
    let total = args.messages as usize * message.len();
    let info_before = tcp_info::tcp_info(&client)?;
    let reads = thread::scope(|scope| {
        let reading = scope.spawn(move || read_sizes(&mut server, total, timeout));
        let written = write_messages(
            &mut client,
            mode,
            args.messages,
            |_| message.clone(),
            timeout,
        );
        let reads = reading.join().expect("the reader thread does not panic");
        both_ends(written, reads).map(|((), reads)| reads)
    })?;
    // Every byte has arrived, so every segment that carried one has been sent.
    let info_after = tcp_info::tcp_info(&client)?;
    let boundaries_lost = boundaries_lost(args.messages, args.size, &reads);
    Ok(Burst {
        writes: args.messages,
        write_size: args.size,
        data_segments: info_before
            .data_segs_out
            .zip(info_after.data_segs_out)
            .map(|(b, a)| u64::from(a.wrapping_sub(b))),
        retransmitted_segments: info_before
            .total_retrans
            .zip(info_after.total_retrans)
            .map(|(b, a)| u64::from(a.wrapping_sub(b))),
        sender_cwnd_before: info_before.snd_cwnd,
        sender_cwnd_after: info_after.snd_cwnd,
        reads: reads.len() as u32,
        max_read: reads.iter().copied().max().unwrap_or(0) as u32,
        boundaries_lost,
        framed_recovered: 0,
        framed_reads: 0,
    })
}

pub(super) struct Framed {
    pub(super) recovered: u32,
    pub(super) reads: u32,
}

/// The same burst with each message framed by a 4-byte big-endian length, decoded on the
/// other end and compared byte for byte.
pub(super) fn framed(
    mode: Mode,
    args: &NagleArgs,
    listener: &Socket,
    listen_addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<Framed> {
    let (mut client, mut server) = connect_pair(mode, listener, listen_addr, timeout)?;
    let size = args.size as usize;
    let total = args.messages as usize * (size + 4);
    thread::scope(|scope| {
        let decoding = scope.spawn(move || -> anyhow::Result<Framed> {
            let mut decoder = FrameDecoder::default();
            let mut recovered = 0_u32;
            let mut reads = 0_u32;
            let mut received = 0;
            let mut buf = vec![0_u8; READ_BUF];
            while received < total {
                let n =
                    sock::recv_some(&mut server, &mut buf, "reading the framed stream", timeout)?;
                anyhow::ensure!(
                    n > 0,
                    "the framed stream ended after {received} of {total} bytes"
                );
                received += n;
                reads += 1;
                decoder.push(&buf[..n]);
                while let Some(frame) = decoder.next_frame() {
                    if frame == payload(recovered, size) {
                        recovered += 1;
                    }
                }
            }
            Ok(Framed { recovered, reads })
        });
        let written = write_messages(
            &mut client,
            mode,
            args.messages,
            |i| frame(&payload(i, size)),
            timeout,
        );
        let framed = decoding.join().expect("the decoder thread does not panic");
        both_ends(written, framed).map(|((), framed)| framed)
    })
}

/// Writes `count` messages, one send() each, corked around the whole burst in CORK mode.
fn write_messages(
    client: &mut TcpStream,
    mode: Mode,
    count: u32,
    message: impl Fn(u32) -> Vec<u8>,
    timeout: Duration,
) -> anyhow::Result<()> {
    if mode.cork {
        sock::set_cork(client, true)?;
    }
    for i in 0..count {
        sock::send_all(
            client,
            &message(i),
            &format!("writing message {}", i + 1),
            timeout,
        )?;
    }
    if mode.cork {
        sock::set_cork(client, false)?;
    }
    Ok(())
}

/// Reads until `total` bytes arrived; returns the size of every recv().
fn read_sizes(
    server: &mut TcpStream,
    total: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<usize>> {
    let mut sizes = Vec::new();
    let mut received = 0;
    let mut buf = vec![0_u8; READ_BUF];
    while received < total {
        let n = sock::recv_some(server, &mut buf, "reading the burst", timeout)?;
        anyhow::ensure!(n > 0, "the burst ended after {received} of {total} bytes");
        received += n;
        sizes.push(n);
    }
    Ok(sizes)
}

/// Write boundaries (after every `size` bytes) that no read ended on.
fn boundaries_lost(writes: u32, size: u32, reads: &[usize]) -> u32 {
    let mut read_ends = reads.iter().scan(0_u64, |end, &n| {
        *end += n as u64;
        Some(*end)
    });
    let mut next_read_end = read_ends.next();
    let mut lost = 0;
    for i in 1..=u64::from(writes) {
        let boundary = i * u64::from(size);
        while next_read_end.is_some_and(|end| end < boundary) {
            next_read_end = read_ends.next();
        }
        if next_read_end != Some(boundary) {
            lost += 1;
        }
    }
    lost
}

/// Message `index` of `size` bytes: distinct per index, so a swapped or torn message
/// fails the comparison.
fn payload(index: u32, size: usize) -> Vec<u8> {
    let seed = index.to_be_bytes();
    (0..size).map(|i| seed[i % 4] ^ (i as u8)).collect()
}

/// A length-prefixed frame: 4-byte big-endian unsigned length, then the payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("frames are smaller than 4 GiB");
    let mut framed = Vec::with_capacity(payload.len() + 4);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(payload);
    framed
}

/// Reassembles length-prefixed frames from a byte stream cut at arbitrary points.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    pending: Vec<u8>,
}

impl FrameDecoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next complete frame's payload, or None until more bytes arrive.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        let header: [u8; 4] = self.pending.get(..4)?.try_into().ok()?;
        let len = u32::from_be_bytes(header) as usize;
        let frame = self.pending.get(4..4 + len)?.to_vec();
        self.pending.drain(..4 + len);
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn boundaries_count_only_write_ends_no_read_ended_on() {
        assert_eq!(boundaries_lost(4, 2, &[2, 2, 2, 2]), 0);
        assert_eq!(boundaries_lost(4, 2, &[8]), 3);
        assert_eq!(
            boundaries_lost(4, 2, &[3, 5]),
            3,
            "a torn first message loses it too"
        );
        assert_eq!(boundaries_lost(3, 2, &[4, 2]), 1);
    }

    #[test]
    fn payloads_differ_per_index() {
        assert_ne!(payload(1, 8), payload(2, 8));
        assert_eq!(payload(7, 3).len(), 3);
    }

    proptest! {
        #[test]
        fn framing_survives_any_cut_of_the_stream(
            sizes in proptest::collection::vec(0_usize..300, 1..40),
            cuts in proptest::collection::vec(1_usize..500, 1..80),
        ) {
            let stream: Vec<u8> = sizes
                .iter()
                .enumerate()
                .flat_map(|(i, &n)| frame(&payload(i as u32, n)))
                .collect();
            let mut decoder = FrameDecoder::default();
            let mut frames = Vec::new();
            let mut rest = &stream[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at((*cut).min(rest.len()));
                decoder.push(chunk);
                while let Some(f) = decoder.next_frame() {
                    frames.push(f);
                }
                rest = tail;
            }
            prop_assert_eq!(frames.len(), sizes.len());
            for (i, f) in frames.iter().enumerate() {
                prop_assert_eq!(f, &payload(i as u32, sizes[i]));
            }
        }
    }
}
