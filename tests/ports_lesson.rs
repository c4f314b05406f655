//! `sockdoc ports`: client-side ephemeral-port exhaustion in a throwaway namespace with a
//! small ip_local_port_range, as root (a network namespace) and as an unprivileged user (a
//! user namespace), asserting the JSON figures: counts per case, the failing call and its
//! errno, and each check's verdict. The host's ip_local_port_range is left as it was.

mod common;

use serde_json::Value;

use common::skip_unless_root;

const HOST_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The figures every run must show for a range of `n` ports (`n` even: every port is
/// reachable by the kernel's walks).
fn assert_lesson(report: &Value, n: u64) {
    let case = |key: &str| report[key].clone();
    let ended = |key: &str, connections: u64, call: &str, errno: &str| {
        let c = case(key);
        assert_eq!(c["connections"], connections, "{key}: {c:#}");
        assert_eq!(c["failed_call"], call, "{key}: {c:#}");
        assert_eq!(c["errno"], errno, "{key}: {c:#}");
    };
    assert_eq!(report["range_ports"], n);
    assert_eq!(
        report["ip_local_port_range"],
        format!("40000 {}", 40000 + n - 1)
    );
    // One destination: the whole range, then EADDRNOTAVAIL from connect().
    ended("one_destination", n, "connect", "EADDRNOTAVAIL");
    assert_eq!(case("one_destination")["ports_used"], n);
    // A second destination, the first's connections still open: the whole range again.
    ended("second_destination", n, "connect", "EADDRNOTAVAIL");
    // bind(ip, 0) before connect(), two destinations in turn: the range in all, half each,
    // then bind() itself fails.
    ended("bind_before_connect", n, "bind", "EADDRINUSE");
    assert_eq!(
        case("bind_before_connect")["per_destination"],
        serde_json::json!([n / 2, n / 2])
    );
    // IP_BIND_ADDRESS_NO_PORT: a range per destination, and connect() is what fails.
    ended("bind_address_no_port", 2 * n, "connect", "EADDRNOTAVAIL");
    assert_eq!(
        case("bind_address_no_port")["per_destination"],
        serde_json::json!([n, n])
    );
    // SO_REUSEADDR on the client shares nothing (ip_autobind_reuse 0).
    ended("reuseaddr_bind", n, "bind", "EADDRINUSE");
    // With net.ipv4.ip_autobind_reuse = 1 (a second namespace) bind() shares ports and
    // connect() refuses the first 4-tuple already in use: between n and 2n connections.
    let autobind = case("reuseaddr_autobind_reuse");
    let connections = autobind["connections"].as_u64().unwrap();
    assert!((n..=2 * n).contains(&connections), "{autobind:#}");
    assert_eq!(autobind["failed_call"], "connect", "{autobind:#}");
    assert_eq!(autobind["errno"], "EADDRNOTAVAIL", "{autobind:#}");
    assert_eq!(autobind["ports_used"], n, "{autobind:#}");
    // IP_LOCAL_PORT_RANGE: the lower half, where the kernel has it (6.3+).
    match report["local_port_range"].as_object() {
        Some(_) => {
            ended("local_port_range", n / 2, "connect", "EADDRNOTAVAIL");
            assert_eq!(case("local_port_range")["lowest_port"], 40000);
            assert_eq!(case("local_port_range")["highest_port"], 40000 + n / 2 - 1);
        }
        None => assert_eq!(report["local_port_range_refused"], "ENOPROTOOPT"),
    }
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 7, "{report:#}");
    for check in checks {
        assert_eq!(check["matches"], true, "{check:#}");
    }
}

#[test]
fn the_range_runs_out_per_destination_and_bind_pins_ports_for_all() {
    let host = std::fs::read(HOST_RANGE).unwrap();
    let Some((report, output)) = common::lab_json(&["ports"]) else {
        return;
    };
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["command"], "ports");
    let expected = if common::is_root() {
        "network-namespace"
    } else {
        "user-namespace"
    };
    assert_eq!(report["isolation"], expected);
    assert_lesson(&report, 10);
    assert_eq!(std::fs::read(HOST_RANGE).unwrap(), host, "the host's range");
}

#[test]
fn a_larger_range_scales_every_case() {
    let Some((report, output)) = common::lab_json(&["ports", "--ports", "64"]) else {
        return;
    };
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_lesson(&report, 64);
}

#[test]
fn an_odd_range_may_lose_one_port_to_the_even_walk() {
    // Three ports: the walks count remaining &= ~1U = 2 ports, so connect() gets 2.
    let Some((report, output)) = common::lab_json(&["ports", "--ports", "3"]) else {
        return;
    };
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let connections = report["one_destination"]["connections"].as_u64().unwrap();
    assert!((2..=3).contains(&connections), "{report:#}");
    let notes = report["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("remaining &= ~1U")),
        "{notes:?}"
    );
}

#[test]
fn an_unprivileged_user_runs_it_in_a_user_namespace() {
    if skip_unless_root("running sockdoc as nobody") {
        return;
    }
    let host = std::fs::read(HOST_RANGE).unwrap();
    let Some((report, output)) = common::lab_json_as_nobody(&["ports", "--ports", "1000"]) else {
        return;
    };
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["isolation"], "user-namespace");
    // 1000 ports hold 2000 connections at once, past nobody's soft open-files limit of 1024:
    // the child raises it to the hard limit.
    assert_lesson(&report, 1000);
    assert_eq!(std::fs::read(HOST_RANGE).unwrap(), host, "the host's range");
}
