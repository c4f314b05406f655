//! `sockdoc sockopt` end to end: real sockets on loopback, every option set and read back,
//! expectations computed from the live sysctls and the limits sockdoc measured, never from
//! this host's values.

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use serde_json::Value;

use common::{
    in_private_netns, ipv6_loopback_available, json_of, run_json, skip_unless_root, sockdoc,
};
use sockdoc::commands::sockopt::{
    DefaultsRow, Family, Limits, OptionRow, ReportMode, SocketInfo, SockoptReport, Stage, Status,
    Unit,
};
use sockdoc::report::{self, Format, Style};
use sockdoc::sys::record::Proto;

const ROW_KEYS: &[&str] = &[
    "name",
    "kernel",
    "man",
    "unit",
    "requested",
    "applied",
    "requested_us",
    "applied_us",
    "requested_bytes",
    "applied_bytes",
    "status",
    "note",
];

/// Runs `sockdoc sockopt ARGS --json`, asserting the exit code.
fn sockopt(args: &[&str], code: i32) -> Value {
    let mut full = vec!["sockopt"];
    full.extend_from_slice(args);
    let (report, output) = run_json(&full);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{args:?}: {report:#}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    report
}

fn row<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {report:#}"))
}

fn applied(report: &Value, name: &str) -> String {
    row(report, name)["applied"].as_str().unwrap().to_string()
}

fn number(value: &Value) -> u64 {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("{value} is not a number"))
}

/// A sysctl as this test reads it itself, independently of sockdoc.
fn sysctl(key: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{}", key.replace('.', "/")))
        .ok()
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// What Linux documents for SO_RCVBUF / SO_SNDBUF: capped, doubled, floored.
fn doubled(request: u64, cap: u64, floor: u64) -> u64 {
    (request.min(cap).min(i32::MAX as u64 / 2) * 2).max(floor)
}

// ---------------------------------------------------------------------------------------
// Buffers: doubled, capped, floored
// ---------------------------------------------------------------------------------------

#[test]
fn rcvbuf_and_sndbuf_read_back_doubled_under_the_live_caps() {
    let rmem_max: u64 = sysctl("net.core.rmem_max").unwrap().parse().unwrap();
    let wmem_max: u64 = sysctl("net.core.wmem_max").unwrap().parse().unwrap();
    let report = sockopt(&["--set", "rcvbuf=64K", "--set", "sndbuf=256K"], 0);
    let limits = &report["limits"];
    assert_eq!(number(&limits["rmem_max"]), rmem_max);
    assert_eq!(number(&limits["wmem_max"]), wmem_max);
    let rcv_floor = number(&limits["rcvbuf_min"]);
    let snd_floor = number(&limits["sndbuf_min"]);
    assert!(rcv_floor >= 2048 && snd_floor >= rcv_floor, "{limits}");

    let rcvbuf = row(&report, "rcvbuf");
    assert_eq!(rcvbuf["requested"], "65536");
    assert_eq!(
        number(&rcvbuf["applied"]),
        doubled(65_536, rmem_max, rcv_floor)
    );
    assert_eq!(rcvbuf["status"], "adjusted");
    let note = rcvbuf["note"].as_str().unwrap();
    assert!(note.contains("doubled"), "{note}");
    if rmem_max >= 65_536 {
        assert_eq!(number(&rcvbuf["applied"]), 131_072);
        assert!(note.contains("did not apply"), "{note}");
    }
    let sndbuf = row(&report, "sndbuf");
    assert_eq!(
        number(&sndbuf["applied"]),
        doubled(262_144, wmem_max, snd_floor)
    );
}

#[test]
fn set_mode_gives_sizes_and_durations_as_integers_with_the_unit_in_the_key() {
    let rmem_max: u64 = sysctl("net.core.rmem_max").unwrap().parse().unwrap();
    let report = sockopt(
        &[
            "--set",
            "rcvbuf=256K",
            "--set",
            "recv-timeout=1s",
            "--set",
            "ttl=9",
        ],
        0,
    );
    let floor = number(&report["limits"]["rcvbuf_min"]);
    let rcvbuf = row(&report, "rcvbuf");
    assert_eq!(rcvbuf["requested_bytes"], 262_144);
    assert_eq!(
        rcvbuf["applied_bytes"],
        doubled(262_144, rmem_max, floor),
        "{rcvbuf}"
    );
    assert_eq!(number(&rcvbuf["applied"]), number(&rcvbuf["applied_bytes"]));
    assert_eq!(rcvbuf["requested_us"], Value::Null);
    assert_eq!(rcvbuf["applied_us"], Value::Null);
    // Not requested, still a size: the default read back, as an integer.
    let sndbuf = row(&report, "sndbuf");
    assert_eq!(sndbuf["requested_bytes"], Value::Null);
    assert_eq!(number(&sndbuf["applied_bytes"]), number(&sndbuf["applied"]));
    let timeout = row(&report, "recv-timeout");
    assert_eq!(timeout["requested_us"], 1_000_000);
    assert_eq!(timeout["requested_bytes"], Value::Null);
    assert_eq!(timeout["applied_bytes"], Value::Null);
    // Neither a size nor a duration: null in both.
    let ttl = row(&report, "ttl");
    for key in [
        "requested_bytes",
        "applied_bytes",
        "requested_us",
        "applied_us",
    ] {
        assert_eq!(ttl[key], Value::Null, "ttl {key}");
    }
}

#[test]
fn a_buffer_above_rmem_max_is_capped_and_the_note_names_the_cap() {
    let rmem_max: u64 = sysctl("net.core.rmem_max").unwrap().parse().unwrap();
    let request = rmem_max + 4096;
    if request > i32::MAX as u64 {
        common::skip(format_args!(
            "SKIP: net.core.rmem_max {rmem_max} leaves no room above it for a C int"
        ));
        return;
    }
    let set = format!("rcvbuf={request}");
    let report = sockopt(&["--udp", "--set", &set], 0);
    let rcvbuf = row(&report, "rcvbuf");
    assert_eq!(number(&rcvbuf["applied"]), 2 * rmem_max);
    assert_eq!(rcvbuf["status"], "adjusted");
    let note = rcvbuf["note"].as_str().unwrap();
    assert!(
        note.contains("capped at net.core.rmem_max") && note.contains(&rmem_max.to_string()),
        "{note}"
    );
}

#[test]
fn a_tiny_buffer_is_raised_to_the_measured_floor() {
    let report = sockopt(&["--set", "rcvbuf=1", "--set", "sndbuf=1"], 0);
    let limits = &report["limits"];
    assert_eq!(
        number(&row(&report, "rcvbuf")["applied"]),
        number(&limits["rcvbuf_min"])
    );
    assert_eq!(
        number(&row(&report, "sndbuf")["applied"]),
        number(&limits["sndbuf_min"])
    );
    let note = row(&report, "rcvbuf")["note"].as_str().unwrap().to_string();
    assert!(note.contains("SOCK_MIN_RCVBUF"), "{note}");
}

// ---------------------------------------------------------------------------------------
// Every other option, on a connected TCP socket
// ---------------------------------------------------------------------------------------

#[test]
fn every_tcp_option_reads_back_after_connect() {
    // A congestion control this user may set: the allowed list needs no privilege.
    let allowed = sysctl("net.ipv4.tcp_allowed_congestion_control").unwrap_or_default();
    let congestion = allowed.split(' ').next().unwrap_or("reno").to_string();
    let congestion_set = format!("congestion={congestion}");
    let report = sockopt(
        &[
            "--connect",
            "--set",
            "reuseaddr=on",
            "--set",
            "reuseport=true",
            "--set",
            "keepalive=1",
            "--set",
            "linger=3s",
            "--set",
            "recv-timeout=2s",
            "--set",
            "send-timeout=1ms",
            "--set",
            "nonblocking=on",
            "--set",
            "cloexec=off",
            "--set",
            "ttl=7",
            "--set",
            "nodelay=on",
            "--set",
            "cork=on",
            "--set",
            "quickack=on",
            "--set",
            "mss=1000",
            "--set",
            &congestion_set,
            "--set",
            "user-timeout=30s",
            "--set",
            "keepalive-idle=60s",
            "--set",
            "keepalive-interval=10s",
            "--set",
            "keepalive-count=4",
        ],
        0,
    );
    assert_eq!(report["socket"]["stage"], "connected");
    for (name, value) in [
        ("reuseaddr", "on"),
        ("reuseport", "on"),
        ("keepalive", "on"),
        ("linger", "3s"),
        ("recv-timeout", "2s"),
        ("nonblocking", "on"),
        ("cloexec", "off"),
        ("ttl", "7"),
        ("nodelay", "on"),
        ("cork", "on"),
        ("congestion", congestion.as_str()),
        ("user-timeout", "30s"),
        ("keepalive-idle", "1m"),
        ("keepalive-interval", "10s"),
        ("keepalive-count", "4"),
    ] {
        assert_eq!(
            applied(&report, name),
            value,
            "{name}: {}",
            row(&report, name)
        );
        assert_eq!(row(&report, name)["status"], "as_requested", "{name}");
    }
    // A 1 ms send timeout rounds up to whole jiffies.
    let jiffy = number(&report["limits"]["jiffy_us"]);
    let send = row(&report, "send-timeout");
    assert_eq!(number(&send["requested_us"]), 1000);
    assert_eq!(
        number(&send["applied_us"]),
        1000_u64.div_ceil(jiffy) * jiffy
    );
    assert_eq!(
        number(&row(&report, "recv-timeout")["applied_us"]),
        2_000_000
    );
    // Once connected, TCP_MAXSEG is the MSS in use: never above the request.
    let mss = row(&report, "mss");
    assert!(
        number(&mss["applied"]) <= 1000 && number(&mss["applied"]) >= 88,
        "{mss}"
    );
    // QUICKACK is not sticky: any read is explained, and the note says why.
    let quickack = row(&report, "quickack");
    assert!(
        quickack["note"].as_str().unwrap().contains("not permanent"),
        "{quickack}"
    );
    assert_eq!(report["mismatches"], 0);
    assert_eq!(report["refused"], 0);
}

#[test]
fn options_read_back_exactly_on_a_listening_socket() {
    let report = sockopt(
        &[
            "--listen",
            "--set",
            "mss=1200",
            "--set",
            "linger=0s",
            "--set",
            "recv-timeout=none",
            "--set",
            "SO_REUSEADDR=on",
        ],
        0,
    );
    assert_eq!(report["socket"]["stage"], "listening");
    let local: SocketAddr = report["socket"]["local"].as_str().unwrap().parse().unwrap();
    assert!(local.ip().is_loopback() && local.port() > 0, "{local}");
    assert_eq!(applied(&report, "mss"), "1200");
    assert_eq!(applied(&report, "linger"), "0s");
    assert!(
        row(&report, "linger")["note"]
            .as_str()
            .unwrap()
            .contains("RST"),
        "linger 0 explains the reset"
    );
    assert_eq!(applied(&report, "recv-timeout"), "none");
    assert_eq!(applied(&report, "reuseaddr"), "on");
}

#[test]
fn sub_unit_values_are_truncated_with_a_note() {
    let report = sockopt(
        &[
            "--set",
            "linger=1500ms",
            "--set",
            "recv-timeout=1ms",
            "--set",
            "keepalive-idle=90500ms",
        ],
        0,
    );
    assert_eq!(applied(&report, "linger"), "1s");
    assert!(
        row(&report, "linger")["note"]
            .as_str()
            .unwrap()
            .contains("whole seconds")
    );
    assert_eq!(applied(&report, "keepalive-idle"), "1m 30s");
    let jiffy = number(&report["limits"]["jiffy_us"]);
    let recv = row(&report, "recv-timeout");
    assert_eq!(
        number(&recv["applied_us"]),
        1000_u64.div_ceil(jiffy) * jiffy
    );
    if jiffy > 1000 {
        assert_eq!(recv["status"], "adjusted");
        assert!(recv["note"].as_str().unwrap().contains("jiffies"), "{recv}");
    }
}

#[test]
fn udp_lists_only_udp_options_and_sets_broadcast_and_ttl() {
    let report = sockopt(
        &[
            "--udp",
            "--connect",
            "--set",
            "broadcast=on",
            "--set",
            "ttl=3",
            "--set",
            "keepalive=on",
        ],
        0,
    );
    assert_eq!(report["socket"]["proto"], "udp");
    assert_eq!(report["socket"]["stage"], "connected");
    assert_eq!(report["socket"]["peer_is_sockdoc"], true);
    assert_eq!(applied(&report, "broadcast"), "on");
    assert_eq!(applied(&report, "ttl"), "3");
    assert!(
        row(&report, "keepalive")["note"]
            .as_str()
            .unwrap()
            .contains("UDP")
    );
    let names: Vec<&str> = report["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for tcp_only in ["nodelay", "cork", "quickack", "mss", "congestion"] {
        assert!(!names.contains(&tcp_only), "{tcp_only} listed for UDP");
    }
}

#[test]
fn ipv6_sets_v6only_and_hop_limit() {
    if !ipv6_loopback_available() {
        common::skip(format_args!("SKIP: no IPv6 loopback on this host"));
        return;
    }
    let report = sockopt(
        &["-6", "--listen", "--set", "v6only=on", "--set", "ttl=9"],
        0,
    );
    assert_eq!(report["socket"]["family"], "ipv6");
    assert_eq!(applied(&report, "v6only"), "on");
    assert_eq!(row(&report, "ttl")["kernel"], "IPV6_UNICAST_HOPS");
    assert_eq!(applied(&report, "ttl"), "9");
    assert!(
        report["socket"]["local"]
            .as_str()
            .unwrap()
            .starts_with("[::1]")
    );
}

// ---------------------------------------------------------------------------------------
// --connect
// ---------------------------------------------------------------------------------------

#[test]
fn connect_without_addr_uses_a_loopback_listener_of_sockdocs_own() {
    let report = sockopt(&["--connect", "--set", "nodelay=on"], 0);
    let socket = &report["socket"];
    assert_eq!(socket["stage"], "connected");
    assert_eq!(socket["peer_is_sockdoc"], true);
    let peer: SocketAddr = socket["peer"].as_str().unwrap().parse().unwrap();
    let local: SocketAddr = socket["local"].as_str().unwrap().parse().unwrap();
    assert!(peer.ip().is_loopback() && local.ip().is_loopback());
    assert_ne!(peer, local);
}

#[test]
fn connect_to_an_explicit_addr_and_a_refused_one() {
    let server = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let report = sockopt(&["--connect", &addr], 0);
    assert_eq!(report["socket"]["peer"], addr.as_str());
    assert_eq!(report["socket"]["peer_is_sockdoc"], false);

    // A port that is bound but not listening refuses connections, and stays ours.
    let holder = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    holder
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    let closed = holder
        .local_addr()
        .unwrap()
        .as_socket()
        .unwrap()
        .to_string();
    let output = sockdoc()
        .args(["sockopt", "--connect", &closed])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&closed) && stderr.contains("ECONNREFUSED"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------
// Refusals and usage errors
// ---------------------------------------------------------------------------------------

#[test]
fn a_value_the_kernel_refuses_is_reported_with_exit_3() {
    let report = sockopt(&["--set", "mss=10", "--set", "nodelay=on"], 3);
    let mss = row(&report, "mss");
    assert_eq!(mss["status"], "refused");
    let note = mss["note"].as_str().unwrap();
    assert!(note.contains("EINVAL") && note.contains("88"), "{note}");
    assert_eq!(report["refused"], 1);
    assert_eq!(
        applied(&report, "nodelay"),
        "on",
        "the other options still apply"
    );
}

fn usage_error(args: &[&str]) -> String {
    let mut full = vec!["sockopt"];
    full.extend_from_slice(args);
    let output = sockdoc().args(&full).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn unknown_names_are_usage_errors_that_list_the_valid_names() {
    let stderr = usage_error(&["--set", "nagle=off"]);
    assert!(
        stderr.contains("'nagle=off' for '--set") && stderr.contains("unknown option \"nagle\""),
        "{stderr}"
    );
    for name in [
        "reuseaddr",
        "rcvbuf",
        "recv-timeout",
        "nodelay",
        "keepalive-count",
    ] {
        assert!(stderr.contains(name), "{name} missing: {stderr}");
    }
    let stderr = usage_error(&["--set", "rcvbuf"]);
    assert!(stderr.contains("OPTION=VALUE"), "{stderr}");
}

#[test]
fn malformed_values_are_usage_errors_that_show_the_expected_form() {
    for (set, expected) in [
        ("rcvbuf=lots", "256K"),
        ("rcvbuf=4G", "C int"),
        ("nodelay=maybe", "on or off"),
        ("recv-timeout=soon", "2s"),
        ("linger=forever", "off"),
        ("ttl=300", "0 to 255"),
        ("mss=-5", "segment size"),
        ("congestion=", "congestion-control"),
    ] {
        let stderr = usage_error(&["--set", set]);
        // clap's usage error: the value, the flag, then what the option takes.
        let option = set.split('=').next().unwrap();
        assert!(
            stderr.contains(&format!("'{set}' for '--set"))
                && stderr.contains(&format!("{option} takes"))
                && stderr.contains(expected),
            "{set}: {stderr}"
        );
    }
}

#[test]
fn options_that_do_not_exist_on_the_socket_are_usage_errors() {
    let stderr = usage_error(&["--udp", "--set", "nodelay=on"]);
    assert!(
        stderr.contains("TCP_NODELAY is a TCP option") && stderr.contains("rcvbuf"),
        "{stderr}"
    );
    let stderr = usage_error(&["--set", "v6only=on"]);
    assert!(stderr.contains("-6"), "{stderr}");
    let stderr = usage_error(&["--set", "broadcast=on"]);
    assert!(stderr.contains("--udp"), "{stderr}");
    let stderr = usage_error(&["--set", "rcvbuf=1K", "--set", "SO_RCVBUF=2K"]);
    assert!(stderr.contains("once"), "{stderr}");
    let stderr = usage_error(&["--connect", "localhost"]);
    assert!(stderr.contains("--connect localhost"), "{stderr}");
}

#[test]
fn usage_errors_under_json_are_one_document() {
    let (report, output) = run_json(&["sockopt", "--set", "bogus=1"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(report["command"], "sockopt");
    assert_eq!(report["exit_code"], 2);
    assert!(report["error"].as_str().unwrap().contains("bogus"));
}

#[test]
fn a_saved_tree_is_refused_rather_than_mixed_with_live_sockets() {
    // sockopt explains a live socket with this kernel's caps: a --root tree would pair it
    // with another host's values, so it is a usage error naming --root (exit 2).
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("proc/sys/net/core/rmem_max");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, "65536\n").unwrap();
    let report = sockopt(&["--root", root.path().to_str().unwrap()], 2);
    let error = report["error"].as_str().unwrap();
    assert!(
        error.starts_with("--root ") && error.contains("sockopt measures this kernel"),
        "{error}"
    );
    // The live root is the default and reads the live caps.
    let live = sockopt(&["--root", "/"], 0);
    assert!(live["limits"]["rmem_max"].as_u64().unwrap() > 0, "{live:#}");
}

// ---------------------------------------------------------------------------------------
// --defaults
// ---------------------------------------------------------------------------------------

#[test]
fn defaults_show_std_sets_reuseaddr_and_socket2_only_cloexec() {
    let report = sockopt(&["--defaults"], 0);
    assert_eq!(report["mode"], "defaults");
    let rows = report["defaults"].as_array().unwrap();
    let get = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no defaults row {name}"))
    };
    for r in rows {
        for column in [
            "socket",
            "socket2",
            "std_listener",
            "std_stream",
            "std_accepted",
        ] {
            assert!(r[column].is_string(), "{column} in {r}");
        }
    }
    let reuseaddr = get("reuseaddr");
    assert_eq!(reuseaddr["std_listener"], "on");
    assert_eq!(reuseaddr["socket2"], "off");
    assert_eq!(reuseaddr["socket"], "off");
    assert_eq!(
        reuseaddr["std_accepted"], "on",
        "inherited from the listener"
    );
    assert!(reuseaddr["note"].as_str().unwrap().contains("std"));
    let cloexec = get("cloexec");
    assert_eq!(cloexec["socket"], "off");
    assert_eq!(cloexec["socket2"], "on");
    // socket2 sets nothing else: apart from FD_CLOEXEC its column equals socket(2)'s.
    for r in rows.iter().filter(|r| r["name"] != "cloexec") {
        assert_eq!(r["socket"], r["socket2"], "{r}");
    }
    assert_eq!(report["mismatches"], 0);
}

#[test]
fn defaults_table_shows_every_column() {
    let output = sockdoc().args(["sockopt", "--defaults"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "socket(2)",
        "socket2",
        "listener",
        "accepted",
        "SO_REUSEADDR",
        "Verdict",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------
// JSON and table shape
// ---------------------------------------------------------------------------------------

#[test]
fn json_has_the_contract_fields() {
    let report = sockopt(&["--set", "nodelay=on"], 0);
    assert_eq!(report["command"], "sockopt");
    assert_eq!(report["sockdoc_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["mode"], "set");
    let options = report["options"].as_array().unwrap();
    assert!(options.len() >= 12, "every option is read back");
    for r in options {
        for key in ROW_KEYS {
            assert!(r.get(*key).is_some(), "row lacks {key}: {r}");
        }
        assert!(r["applied"].is_string());
    }
    let nodelay = row(&report, "nodelay");
    assert_eq!(nodelay["requested"], "on");
    assert_eq!(nodelay["note"], Value::Null);
    assert_eq!(row(&report, "rcvbuf")["requested"], Value::Null);
    assert_eq!(row(&report, "rcvbuf")["status"], "default");
    for key in [
        "rmem_max",
        "wmem_max",
        "rcvbuf_min",
        "sndbuf_min",
        "jiffy_us",
        "hz",
    ] {
        assert!(report["limits"].get(key).is_some(), "limits lack {key}");
    }
    assert!(report["verdict"].is_string());
}

fn sample() -> SockoptReport {
    let row =
        |name, kernel, unit, requested: Option<&str>, applied: &str, status, note: Option<&str>| {
            // Byte rows carry their integer figures, as real reports do.
            let figure = |text: &str| (unit == Unit::Bytes).then(|| text.parse().unwrap());
            OptionRow {
                name,
                kernel,
                man: "socket(7)",
                unit,
                requested: requested.map(str::to_string),
                applied: applied.into(),
                requested_us: None,
                applied_us: None,
                requested_bytes: requested.and_then(figure),
                applied_bytes: figure(applied),
                status,
                note: note.map(str::to_string),
            }
        };
    SockoptReport {
        mode: ReportMode::Set,
        socket: Some(SocketInfo {
            proto: Proto::Tcp,
            family: Family::Ipv4,
            stage: Stage::Connected,
            local: Some("127.0.0.1:40000".into()),
            peer: Some("127.0.0.1:40001".into()),
            peer_is_sockdoc: true,
        }),
        limits: Limits {
            rmem_max: Some(212_992),
            wmem_max: Some(212_992),
            rcvbuf_min: 2304,
            sndbuf_min: 4608,
            jiffy_us: 4000,
            hz: 250,
        },
        options: vec![
            row(
                "reuseaddr",
                "SO_REUSEADDR",
                Unit::Bool,
                None,
                "off",
                Status::Default,
                None,
            ),
            row(
                "rcvbuf",
                "SO_RCVBUF",
                Unit::Bytes,
                Some("262144"),
                "425984",
                Status::Adjusted,
                Some("capped at net.core.rmem_max = 212992, then doubled"),
            ),
            row(
                "nodelay",
                "TCP_NODELAY",
                Unit::Bool,
                Some("on"),
                "on",
                Status::AsRequested,
                None,
            ),
            row(
                "cork",
                "TCP_CORK",
                Unit::Bool,
                Some("on"),
                "off",
                Status::Mismatch,
                Some("MISMATCH: Linux documents on here, the kernel reports off"),
            ),
            row(
                "mss",
                "TCP_MAXSEG",
                Unit::Count,
                Some("10"),
                "536",
                Status::Refused,
                Some("the kernel refused it: Invalid argument (EINVAL)"),
            ),
        ],
        defaults: None,
        mismatches: 1,
        refused: 1,
        verdict: "The kernel refused mss. cork applied differently from what Linux documents."
            .into(),
        notes: vec!["A note.".into()],
        elapsed_us: 1234,
    }
}

fn render(report: SockoptReport) -> String {
    let mut out = Vec::new();
    sockdoc::commands::Output::report(
        &mut report::Writer::new("sockopt", Format::Table, Style::plain(100), &mut out),
        &sockdoc::commands::Report::Sockopt(Box::new(report)),
        sockdoc::exit::Exit::Finding,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn table_rendering_is_stable() {
    insta::assert_snapshot!("table", render(sample()));
}

#[test]
fn defaults_rendering_is_stable() {
    let mut report = sample();
    report.mode = ReportMode::Defaults;
    report.socket = None;
    report.options = Vec::new();
    report.mismatches = 0;
    report.refused = 0;
    report.verdict = "As documented.".into();
    let column = |values: [&str; 5], name, kernel, note: Option<&str>| DefaultsRow {
        unit: if name == "ttl" {
            Unit::Count
        } else {
            Unit::Bool
        },
        name,
        kernel,
        socket: values[0].into(),
        socket2: values[1].into(),
        std_listener: values[2].into(),
        std_stream: values[3].into(),
        std_accepted: values[4].into(),
        figures: serde_json::Map::new(),
        note: note.map(str::to_string),
    };
    report.defaults = Some(vec![
        column(
            ["off", "off", "on", "off", "on"],
            "reuseaddr",
            "SO_REUSEADDR",
            Some("off: socket(2), socket2, std stream; on: std listener, std accepted"),
        ),
        column(
            ["off", "on", "on", "on", "on"],
            "cloexec",
            "FD_CLOEXEC",
            Some("SOCK_CLOEXEC"),
        ),
        column(["64", "64", "64", "64", "64"], "ttl", "IP_TTL", None),
    ]);
    insta::assert_snapshot!("defaults_table", render(report));
}

// ---------------------------------------------------------------------------------------
// Privileged: inside a private network namespace only
// ---------------------------------------------------------------------------------------

#[test]
fn a_lowered_rmem_max_caps_rcvbuf_in_a_private_netns() {
    if skip_unless_root("lowering net.core.rmem_max in a private network namespace") {
        return;
    }
    // net.core.rmem_max is visible in a child namespace since Linux 6.x but read-only
    // there (only the initial namespace may change it); on such kernels there is nothing
    // this test may change, so it says so and stops. The host's value is never touched.
    let output = in_private_netns(
        "if [ -w /proc/sys/net/core/rmem_max ]; then\n\
           echo 65536 > /proc/sys/net/core/rmem_max\n\
           \"$SOCKDOC\" sockopt --json --set rcvbuf=1M || true\n\
         else echo NOT-WRITABLE; fi",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    if stdout.trim() == "NOT-WRITABLE" {
        common::skip(format_args!(
            "SKIP: net.core.rmem_max is not writable per network namespace on this kernel \
             (absent or read-only there)"
        ));
        return;
    }
    let report = json_of(&output);
    let rcvbuf = row(&report, "rcvbuf");
    assert_eq!(number(&rcvbuf["applied"]), 131_072);
    assert!(rcvbuf["note"].as_str().unwrap().contains("65536"));
}

#[test]
fn ipv6_disabled_in_a_private_netns_is_exit_3_with_the_reason() {
    if skip_unless_root("disabling IPv6 on lo in a private network namespace") {
        return;
    }
    if !ipv6_loopback_available() {
        common::skip(format_args!("SKIP: no IPv6 on this host"));
        return;
    }
    let output = in_private_netns(
        "echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6\n\
         \"$SOCKDOC\" sockopt -6 --listen",
    );
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[::1]") && stderr.contains("EADDRNOTAVAIL"),
        "{stderr}"
    );
}
