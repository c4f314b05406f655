//! Experiment 1: request/response. The client writes a header and a body with two send()
//! calls and reads the reply; the receiver's pingpong count predicts which rounds wait for
//! its delayed ACK.

use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use socket2::Socket;

use super::connection::{both_ends, connect_pair};
use super::report::PerRound;
use super::{Mode, READ_BUF, STALL_THRESHOLD};
use crate::commands::args::NagleArgs;
use crate::sys::fs::Root;
use crate::sys::socket as sock;
use crate::sys::sysctl::{self, Knob};

/// net.ipv4.tcp_pingpong_thresh's default (`tcp_sk_init()`, net/ipv4/tcp_ipv4.c), and the
/// fixed threshold of kernels without the knob: `tcp_event_data_sent()` there enters pingpong
/// mode on the first reply (`inet_csk_enter_pingpong_mode()`, TCP_PINGPONG_THRESH 1 in
/// include/net/inet_connection_sock.h), which counts the same as a threshold of 1.
const DEFAULT_PINGPONG_THRESH: u32 = 1;

/// The thresholds a kernel without the knob may have: 1 (the rule above) or 3, the fixed
/// TCP_PINGPONG_THRESH from commit 4a41f453bedf (2019) until its revert 4d8f24eeedc5 (2022).
/// Without the knob the rounds are judged against whichever of these they fit.
pub(super) const PINGPONG_THRESH_WITHOUT_KNOB: [u32; 2] = [DEFAULT_PINGPONG_THRESH, 3];

/// The pingpong count is a u8 that stops at U8_MAX (`inet_csk_inc_pingpong_cnt()`).
const PINGPONG_COUNT_MAX: u32 = 255;

/// The request: a small header (the body's length, as a real protocol would send it) and
/// a small body, written with two send() calls; the reply is one small write.
const BODY: &[u8] = b"GET /status HTTP-ish request body";
const REPLY: &[u8] = b"200 OK, small reply";

/// How rounds are judged when the threshold cannot be read.
const WITHOUT_KNOB: &str = "the rounds are judged against a fixed TCP_PINGPONG_THRESH \
     (include/net/inet_connection_sock.h) of 1, or 3 on kernels carrying commit 4a41f453bedf \
     (2019, reverted by 4d8f24eeedc5 in 2022), whichever they fit; each mode reports the one \
     used as pingpong_thresh.";

/// net.ipv4.tcp_pingpong_thresh of this network namespace, or None (with a note saying what
/// the prediction assumes instead) where the kernel has no such knob or it reads oddly.
pub(super) fn read_pingpong_thresh(root: &Root, notes: &mut Vec<String>) -> Option<u32> {
    match sysctl::read_knob(root, "net.ipv4.tcp_pingpong_thresh") {
        Knob::Value(text) => {
            if let Ok(value) = text.parse() {
                return Some(value);
            }
            notes.push(format!(
                "net.ipv4.tcp_pingpong_thresh reads {text:?}, not a number: {WITHOUT_KNOB}"
            ));
        }
        Knob::Absent => notes.push(format!(
            "net.ipv4.tcp_pingpong_thresh does not exist on this kernel (it came with commit \
             562b1fdf061b, 2023): {WITHOUT_KNOB}"
        )),
        Knob::Unreadable(why) => notes.push(format!(
            "net.ipv4.tcp_pingpong_thresh is unreadable ({why}): {WITHOUT_KNOB}"
        )),
    }
    None
}

/// Which rounds of a request/response connection the receiver leaves waiting for its
/// delayed ACK, from its pingpong count (see the module comment for the kernel functions):
/// a request arriving while the count is below `pingpong_thresh` is ACKed at once; at the
/// threshold its ACK waits for the delayed-ACK timer, which resets the count to 0. Every
/// reply, sent within the ACK timeout of its request, adds one.
///
/// With the default threshold of 1 only round 1 is fast; with a threshold N rounds 1..=N are
/// fast and then every Nth round stalls.
fn predicted_stalls(mode: Mode, pingpong_thresh: u32, rounds: usize) -> Vec<bool> {
    if !mode.expects_stall() {
        return vec![false; rounds];
    }
    let mut count = 0;
    (0..rounds)
        .map(|_| {
            let stalls = count >= pingpong_thresh;
            if stalls {
                count = 0;
            }
            count = (count + 1).min(PINGPONG_COUNT_MAX);
            stalls
        })
        .collect()
}

/// The rounds judged against the first threshold they fit, else against the first one (the
/// misfit is then reported as unexpected rounds).
pub(super) fn judge_rounds(mode: Mode, rtts: &[Duration], thresholds: &[u32]) -> (u32, PerRound) {
    let judged: Vec<(u32, PerRound)> = thresholds
        .iter()
        .map(|&t| (t, per_round(rtts, &predicted_stalls(mode, t, rtts.len()))))
        .collect();
    judged
        .iter()
        .find(|(_, rounds)| rounds.unexpected.is_empty())
        .unwrap_or(&judged[0])
        .clone()
}

/// Sorts the rounds (numbered from 1) into fast and stalled, against the prediction.
fn per_round(rtts: &[Duration], predicted: &[bool]) -> PerRound {
    let mut rounds = PerRound::default();
    for (number, (&rtt, &expected)) in (1..).zip(rtts.iter().zip(predicted)) {
        let stalled = rtt >= STALL_THRESHOLD;
        if stalled {
            rounds.stalled.push(number);
        } else {
            rounds.fast.push(number);
        }
        if expected {
            rounds.expected_stalled.push(number);
        }
        if stalled != expected {
            rounds.unexpected.push(number);
        }
    }
    rounds.first_stalled = rounds.stalled.first().copied();
    rounds
}

/// Runs warm-up and measured write-write-read rounds; returns every round trip, warm-up
/// rounds first.
pub(super) fn request_response(
    mode: Mode,
    args: &NagleArgs,
    listener: &Socket,
    listen_addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<Vec<Duration>> {
    let (mut client, mut server) = connect_pair(mode, listener, listen_addr, timeout)?;
    let total = args.warmup + args.rounds_for(mode.expects_stall());
    thread::scope(|scope| {
        let serving = scope.spawn(move || serve_requests(&mut server, mode, total, timeout));
        let measured = (0..total)
            .map(|round| {
                let step = |what: &str| format!("{what} (round {}, {})", round + 1, mode.label());
                let started = Instant::now();
                send_request(&mut client, mode, &step, timeout)?;
                let mut reply = [0_u8; REPLY.len()];
                sock::recv_exact(&mut client, &mut reply, &step("reading the reply"), timeout)?;
                Ok(started.elapsed())
            })
            .collect::<anyhow::Result<Vec<_>>>();
        // Closing the client ends the server's loop even when a round failed.
        drop(client);
        let server_result = serving.join().expect("the server thread does not panic");
        let (rtts, ()) = both_ends(measured, server_result)?;
        Ok(rtts)
    })
}

/// The client's two writes: the header (the body's length) and then the body.
fn send_request(
    client: &mut TcpStream,
    mode: Mode,
    step: &dyn Fn(&str) -> String,
    timeout: Duration,
) -> anyhow::Result<()> {
    let header = u32::try_from(BODY.len())
        .expect("the body is small")
        .to_be_bytes();
    if mode.cork {
        sock::set_cork(client, true)?;
    }
    sock::send_all(client, &header, &step("sending the header"), timeout)?;
    sock::send_all(client, BODY, &step("sending the body"), timeout)?;
    if mode.cork {
        // Uncorking flushes header and body together, as one segment.
        sock::set_cork(client, false)?;
    }
    Ok(())
}

fn serve_requests(
    server: &mut TcpStream,
    mode: Mode,
    rounds: u32,
    timeout: Duration,
) -> anyhow::Result<()> {
    // Buffered like a real server: header and body that arrive together cost one recv().
    let stream: &TcpStream = server;
    let mut reader = BufReader::with_capacity(READ_BUF, stream);
    let mut writer = stream;
    for round in 1..=rounds {
        let step = |what: &str| format!("{what} (round {round}, {})", mode.label());
        let mut header = [0_u8; 4];
        sock::recv_exact(
            &mut reader,
            &mut header,
            &step("server reading the header"),
            timeout,
        )?;
        if mode.quickack {
            sock::set_quickack(stream)?;
        }
        let length = u32::from_be_bytes(header) as usize;
        anyhow::ensure!(
            length == BODY.len(),
            "the server read a {length}-byte request header; sockdoc's client sends {}",
            BODY.len()
        );
        let mut body = [0_u8; BODY.len()];
        sock::recv_exact(
            &mut reader,
            &mut body,
            &step("server reading the body"),
            timeout,
        )?;
        if mode.quickack {
            sock::set_quickack(stream)?;
        }
        sock::send_all(
            &mut writer,
            REPLY,
            &step("server sending the reply"),
            timeout,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(thresh: u32, rounds: usize) -> String {
        let nagle = Mode {
            nodelay: false,
            cork: false,
            quickack: false,
        };
        predicted_stalls(nagle, thresh, rounds)
            .iter()
            .map(|&stall| if stall { 'S' } else { '.' })
            .collect()
    }

    #[test]
    fn the_pingpong_count_predicts_which_rounds_stall() {
        // Measured on Linux 6.18 in private namespaces with each threshold (40 rounds).
        assert_eq!(pattern(1, 8), ".SSSSSSS");
        assert_eq!(pattern(2, 9), "..S.S.S.S");
        assert_eq!(pattern(3, 10), "...S..S..S");
        assert_eq!(pattern(5, 12), ".....S....S.");
        let nodelay = Mode {
            nodelay: true,
            cork: false,
            quickack: false,
        };
        assert_eq!(predicted_stalls(nodelay, 1, 3), [false; 3]);
    }

    #[test]
    fn rounds_are_judged_one_by_one() {
        let ms = Duration::from_millis;
        let rounds = per_round(&[ms(0), ms(44), ms(0), ms(44)], &[false, true, true, true]);
        assert_eq!(rounds.fast, [1, 3]);
        assert_eq!(rounds.stalled, [2, 4]);
        assert_eq!(rounds.first_stalled, Some(2));
        assert_eq!(rounds.expected_stalled, [2, 3, 4]);
        assert_eq!(rounds.unexpected, [3]);
    }

    #[test]
    fn without_the_knob_rounds_are_judged_against_the_threshold_they_fit() {
        let nagle = Mode {
            nodelay: false,
            cork: false,
            quickack: false,
        };
        let (fast, slow) = (Duration::from_micros(50), Duration::from_millis(44));
        // A 5.4 kernel (threshold 3): rounds 1-3 fast, then every third round stalls.
        let rtts = [fast, fast, fast, slow, fast, fast, slow];
        let (thresh, rounds) = judge_rounds(nagle, &rtts, &PINGPONG_THRESH_WITHOUT_KNOB);
        assert_eq!(thresh, 3);
        assert!(rounds.unexpected.is_empty());
        // Fitting neither reports the misfit against the first threshold.
        let (thresh, rounds) = judge_rounds(nagle, &[slow, slow], &PINGPONG_THRESH_WITHOUT_KNOB);
        assert_eq!(thresh, 1);
        assert_eq!(rounds.unexpected, [1]);
    }
}
