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
    "burst",
    "counters",
];
const BURST_KEYS: &[&str] = &[
    "writes",
    "write_size",
    "data_segments",
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
        println!("SKIP (no IPv6 loopback on this host): nagle --addr ::1");
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
