//! `sockdoc nagle` end to end on loopback. These assert kernel physics with wide margins
//! (a 40 ms delayed ACK against tens of microseconds), not exact figures.

mod common;

use serde_json::Value;

use common::{
    in_private_netns, ipv6_loopback_available, json_of, run_json, skip_unless_root, sockdoc,
};

const MODE_KEYS: &[&str] = &[
    "nodelay",
    "cork",
    "quickack",
    "rtt_p50_us",
    "rtt_p90_us",
    "rtt_p99_us",
    "rtt_max_us",
    "rounds",
    "warmup",
    "warmup_fast_rounds",
    "stalled_rounds",
    "stall_p50_us",
    "per_round",
    "matches",
    "burst",
    "counters",
];
const BURST_KEYS: &[&str] = &[
    "writes",
    "write_size",
    "data_segments",
    "retransmitted_segments",
    "sender_cwnd_before",
    "sender_cwnd_after",
    "reads",
    "max_read",
    "boundaries_lost",
    "framed_recovered",
];

fn mode(report: &Value, nodelay: bool, cork: bool, quickack: bool) -> &Value {
    report["modes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["nodelay"] == nodelay && m["cork"] == cork && m["quickack"] == quickack)
        .unwrap_or_else(|| panic!("no mode nodelay={nodelay} cork={cork} quickack={quickack}"))
}

fn us(value: &Value) -> u64 {
    value.as_u64().expect("a whole number of microseconds")
}

fn numbers(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("a list of round numbers: {value}"))
        .iter()
        .map(|n| n.as_u64().expect("a round number"))
        .collect()
}

/// This namespace's net.ipv4.tcp_pingpong_thresh; None when the kernel has no such knob
/// (it then counts as 1).
fn host_pingpong_thresh() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_pingpong_thresh")
        .ok()
        .map(|text| text.trim().parse().expect("a number"))
}

/// The round-by-round assertions below hold for the default threshold of 1.
fn skip_unless_default_pingpong_thresh() -> bool {
    let thresh = host_pingpong_thresh();
    if thresh.unwrap_or(1) == 1 {
        false
    } else {
        common::skip(format_args!(
            "SKIP (net.ipv4.tcp_pingpong_thresh is {thresh:?} here, not 1)"
        ));
        true
    }
}

#[test]
fn nagle_stalls_about_40ms_and_nodelay_does_not() {
    let (report, output) = run_json(&["nagle", "--rounds", "20"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["command"], "nagle");
    assert_eq!(report["sockdoc_version"], env!("CARGO_PKG_VERSION"));
    assert!(report["port"].as_u64().unwrap() > 0);
    for m in report["modes"].as_array().unwrap() {
        for key in MODE_KEYS {
            assert!(m.get(*key).is_some(), "mode lacks {key}: {m}");
        }
        for key in BURST_KEYS {
            assert!(m["burst"].get(*key).is_some(), "burst lacks {key}: {m}");
        }
        assert!(m["counters"].get("DelayedACKs").is_some());
        assert!(m["counters"].get("TCPAutoCorking").is_some());
        assert_eq!(m["rounds"], 20);
    }
    let nagle = mode(&report, false, false, false);
    assert!(us(&nagle["rtt_p50_us"]) >= 20_000, "Nagle p50: {nagle}");
    assert!(us(&nagle["rtt_p99_us"]) >= us(&nagle["rtt_p50_us"]));
    let nodelay = mode(&report, true, false, false);
    assert!(
        us(&nodelay["rtt_p50_us"]) < 5_000,
        "TCP_NODELAY p50: {nodelay}"
    );
    assert!(report["attribution"].as_str().unwrap().contains("delayed"));
    assert!(report["verdict"].as_str().unwrap().contains("TCP_NODELAY"));
}

#[test]
fn round_one_is_fast_and_every_later_round_stalls() {
    let (report, output) = run_json(&[
        "nagle",
        "--nodelay",
        "off",
        "--warmup",
        "0",
        "--rounds",
        "5",
    ]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(
        report["tcp_pingpong_thresh"].as_u64(),
        host_pingpong_thresh(),
        "the live knob"
    );
    if skip_unless_default_pingpong_thresh() {
        return;
    }
    let nagle = mode(&report, false, false, false);
    let rounds = &nagle["per_round"];
    assert_eq!(numbers(&rounds["fast"]), [1], "{nagle:#}");
    assert_eq!(numbers(&rounds["stalled"]), [2, 3, 4, 5], "{nagle:#}");
    assert_eq!(rounds["first_stalled"], 2);
    assert_eq!(numbers(&rounds["expected_stalled"]), [2, 3, 4, 5]);
    assert!(numbers(&rounds["unexpected"]).is_empty());
    assert_eq!(nagle["matches"], true);
    assert_eq!(nagle["stalled_rounds"], 4);
    assert!(
        us(&nagle["stall_p50_us"]) >= 40_000,
        "TCP_DELACK_MIN: {nagle:#}"
    );
}

#[test]
fn two_rounds_without_warmup_are_one_fast_and_one_stalled() {
    let (report, output) = run_json(&[
        "nagle",
        "--nodelay",
        "off",
        "--warmup",
        "0",
        "--rounds",
        "2",
    ]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    if skip_unless_default_pingpong_thresh() {
        return;
    }
    let rounds = &mode(&report, false, false, false)["per_round"];
    assert_eq!(numbers(&rounds["fast"]), [1], "{rounds:#}");
    assert_eq!(numbers(&rounds["stalled"]), [2], "{rounds:#}");
}

#[test]
fn warmup_rounds_are_numbered_first_and_judged_too() {
    let (report, output) = run_json(&[
        "nagle",
        "--nodelay",
        "off",
        "--warmup",
        "2",
        "--rounds",
        "2",
    ]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    if skip_unless_default_pingpong_thresh() {
        return;
    }
    let nagle = mode(&report, false, false, false);
    assert_eq!(nagle["warmup_fast_rounds"], 1, "{nagle:#}");
    assert_eq!(
        nagle["stalled_rounds"], 2,
        "measured rounds only: {nagle:#}"
    );
    assert_eq!(numbers(&nagle["per_round"]["stalled"]), [2, 3, 4]);
}

#[test]
fn the_congestion_window_is_reported_around_the_burst() {
    let (report, output) = run_json(&["nagle", "--nodelay", "on", "--rounds", "1"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let burst = &mode(&report, true, false, false)["burst"];
    let before = burst["sender_cwnd_before"].as_u64().expect("tcpi_snd_cwnd");
    let after = burst["sender_cwnd_after"].as_u64().expect("tcpi_snd_cwnd");
    // Slow start on a loss-free loopback only grows the window.
    assert!(before >= 1 && after >= before, "{burst:#}");
}

#[test]
fn framing_recovers_every_message_byte_exact() {
    let (report, output) = run_json(&[
        "nagle",
        "--nodelay",
        "on",
        "--rounds",
        "3",
        "--messages",
        "37",
        "--size",
        "100",
    ]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let burst = &mode(&report, true, false, false)["burst"];
    assert_eq!(burst["writes"], 37);
    assert_eq!(burst["write_size"], 100);
    assert_eq!(burst["framed_recovered"], 37);
    // Every byte arrived: reads never exceed the bytes written.
    assert!(us(&burst["max_read"]) <= 3_700);
    assert!(us(&burst["reads"]) >= 1);
}

#[test]
fn cork_sends_no_more_segments_than_without_it() {
    let (report, output) = run_json(&["nagle", "--nodelay", "on", "--cork", "--rounds", "5"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let plain = &mode(&report, true, false, false)["burst"];
    let corked = &mode(&report, true, true, false)["burst"];
    let segments = |b: &Value| {
        b["data_segments"]
            .as_u64()
            .expect("this kernel has tcpi_data_segs_out")
    };
    assert!(
        segments(corked) <= segments(plain),
        "cork {corked} vs plain {plain}"
    );
    assert!(segments(corked) >= 1);
}

#[test]
fn quickack_and_cork_take_the_stall_away_with_nagle_on() {
    let (report, output) = run_json(&[
        "nagle",
        "--nodelay",
        "off",
        "--cork",
        "--quickack",
        "--rounds",
        "10",
        "--warmup",
        "4",
    ]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert!(us(&mode(&report, false, false, false)["rtt_p50_us"]) >= 20_000);
    assert!(us(&mode(&report, false, true, false)["rtt_p50_us"]) < 20_000);
    assert!(us(&mode(&report, false, false, true)["rtt_p50_us"]) < 20_000);
}

#[test]
fn max_p99_turns_the_run_into_an_assertion() {
    let (report, output) = run_json(&[
        "nagle",
        "--nodelay",
        "on",
        "--rounds",
        "20",
        "--max-p99",
        "1s",
    ]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["max_p99_us"], 1_000_000);

    let (report, output) = run_json(&[
        "nagle",
        "--nodelay",
        "off",
        "--rounds",
        "5",
        "--warmup",
        "2",
        "--max-p99",
        "5ms",
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "Nagle's stall exceeds 5 ms: {report:#}"
    );
}

#[test]
fn a_pinned_port_and_ipv6_are_honoured() {
    // Hold the port with a bound, non-listening SO_REUSEADDR socket for the whole run, so no
    // parallel test can take it; sockdoc's listener sets SO_REUSEADDR and binds beside it.
    let holder = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    holder.set_reuse_address(true).unwrap();
    holder
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let port = holder.local_addr().unwrap().as_socket().unwrap().port();
    let (report, output) = run_json(&[
        "nagle",
        "--nodelay",
        "on",
        "--rounds",
        "3",
        "--port",
        &port.to_string(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["port"], port);
    drop(holder);

    if !ipv6_loopback_available() {
        common::skip(format_args!(
            "SKIP (no IPv6 loopback on this host): nagle --addr ::1"
        ));
        return;
    }
    let (report, output) =
        run_json(&["nagle", "--nodelay", "on", "--rounds", "3", "--addr", "::1"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["address"], "::1");
}

#[test]
fn a_port_held_by_a_listener_is_explained() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let (report, output) = run_json(&["nagle", "--port", &port]);
    assert_eq!(output.status.code(), Some(3));
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("--port {port} is in use")),
        "{error}"
    );
    assert!(error.contains("EADDRINUSE"), "{error}");
}

#[test]
fn only_loopback_addresses_are_accepted() {
    for addr in ["0.0.0.0", "192.0.2.1", "::"] {
        let output = sockdoc().args(["nagle", "--addr", addr]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{addr}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--addr") && stderr.contains("loopback"),
            "{stderr}"
        );
    }
}

#[test]
fn zero_or_absurd_counts_are_usage_errors_naming_the_flag() {
    for (flag, value) in [
        ("--rounds", "0"),
        ("--messages", "0"),
        ("--size", "0"),
        ("--messages", "1000000"),
        ("--size", "100000000"),
        ("--warmup", "-1"),
        ("--max-p99", "0s"),
    ] {
        let output = sockdoc().args(["nagle", flag, value]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
    }
}

#[test]
fn the_table_shows_both_experiments() {
    let output = sockdoc()
        .args(["nagle", "--nodelay", "on", "--rounds", "3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "Request/response",
        "Burst",
        "TCP_NODELAY",
        "Verdict:",
        "Fix:",
        "big-endian",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

#[test]
fn autocorking_off_in_a_private_namespace_is_reported() {
    if skip_unless_root("netns with net.ipv4.tcp_autocorking=0") {
        return;
    }
    let output = in_private_netns(
        "echo 0 > /proc/sys/net/ipv4/tcp_autocorking\n\"$SOCKDOC\" nagle --nodelay on --rounds 3 --json",
    );
    let report: Value = json_of(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["tcp_autocorking"], "0");
    assert!(
        report["attribution"]
            .as_str()
            .unwrap()
            .contains("autocorking is off")
    );
    let burst = &mode(&report, true, false, false)["burst"];
    assert_eq!(
        mode(&report, true, false, false)["burst_counters"]["TCPAutoCorking"],
        0
    );
    assert_eq!(burst["framed_recovered"], 100);
}

#[test]
fn a_stuck_step_is_named() {
    if skip_unless_root("netns whose loopback drops every packet") {
        return;
    }
    let output = in_private_netns(
        "tc qdisc add dev lo root pfifo limit 0\n\"$SOCKDOC\" nagle --timeout 200ms --json",
    );
    assert_eq!(output.status.code(), Some(3));
    let report = json_of(&output);
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("no answer within 200ms"), "{error}");
    assert!(error.contains("connecting to 127.0.0.1:"), "{error}");
}

#[test]
fn a_raised_pingpong_threshold_makes_more_rounds_fast() {
    if skip_unless_root("netns with net.ipv4.tcp_pingpong_thresh=3") {
        return;
    }
    if host_pingpong_thresh().is_none() {
        common::skip(format_args!(
            "SKIP (this kernel has no net.ipv4.tcp_pingpong_thresh)"
        ));
        return;
    }
    let output = in_private_netns(
        "echo 3 > /proc/sys/net/ipv4/tcp_pingpong_thresh\n\
         \"$SOCKDOC\" nagle --nodelay off --warmup 0 --rounds 7 --json",
    );
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["tcp_pingpong_thresh"], 3);
    // Three replies before pingpong mode; each delayed ACK resets the count, and the reply
    // after it counts again, so every third round after that stalls.
    let rounds = &mode(&report, false, false, false)["per_round"];
    assert_eq!(numbers(&rounds["fast"]), [1, 2, 3, 5, 6], "{rounds:#}");
    assert_eq!(numbers(&rounds["stalled"]), [4, 7], "{rounds:#}");
}

#[test]
fn a_larger_initial_window_sends_every_nodelay_write_alone() {
    if skip_unless_root("netns with a 100-segment initcwnd on 127.0.0.1") {
        return;
    }
    // The control for the burst attribution: with TCP_NODELAY the writes merge only while
    // the congestion window is full, so a window as large as the burst leaves them apart.
    let output = in_private_netns(
        "ip route replace local 127.0.0.1 dev lo table local proto kernel scope host \
         src 127.0.0.1 initcwnd 100\n\
         \"$SOCKDOC\" nagle --nodelay on --rounds 1 --messages 100 --json",
    );
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let nodelay = mode(&report, true, false, false);
    let burst = &nodelay["burst"];
    assert_eq!(burst["sender_cwnd_before"], 100, "{burst:#}");
    let autocorked = nodelay["burst_counters"]["TCPAutoCorking"]
        .as_u64()
        .unwrap_or(0);
    // A tail loss probe may resend the last segment when its ACK is slow (TcpExtTCPLossProbes):
    // it counts in data_segments, so the writes' own segments are those minus retransmissions.
    let sent = burst["data_segments"].as_u64().expect("tcpi_data_segs_out");
    let resent = burst["retransmitted_segments"]
        .as_u64()
        .expect("tcpi_total_retrans");
    assert!(
        sent - resent == 100 || autocorked > 0,
        "only autocorking may merge them now: {nodelay:#}"
    );
}

#[test]
fn the_default_run_measures_fewer_rounds_where_every_round_stalls() {
    let (report, output) = run_json(&["nagle"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let nagle_on = mode(&report, false, false, false);
    assert_eq!(nagle_on["rounds"], 20);
    assert_eq!(nagle_on["stalled_rounds"], 20, "{nagle_on:#}");
    let nodelay = mode(&report, true, false, false);
    assert_eq!(nodelay["rounds"], 100);
    assert_eq!(nodelay["stalled_rounds"], 0, "{nodelay:#}");
}
