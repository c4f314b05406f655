//! `sockdoc keepalive`: an idle connection across a middlebox (conntrack + nftables in a
//! throwaway namespace) that forgets idle flows — every case, as root and as an unprivileged
//! user (a user namespace), the host's conntrack knob untouched, and exit 3 without nft.

mod common;

use serde_json::Value;

use common::{run_json, skip, skip_unless_installed, skip_unless_root, sockdoc, sockdoc_as_nobody};

const HOST_TIMEOUT: &str = "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established";

fn number(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

/// The figures every run must show, whoever runs it. `conntrack_readable`: whether the lab's
/// /proc/net/nf_conntrack can be read (as root; not in an unprivileged user namespace).
fn assert_every_case(report: &Value, conntrack_readable: bool) {
    assert_eq!(report["command"], "keepalive");
    assert_eq!(report["exit_code"], 0, "{report:#}");
    for check in report["checks"].as_array().unwrap() {
        assert_eq!(check["matches"], true, "{check:#}");
    }
    assert_eq!(report["conntrack_timeout_established_s"], 2);
    assert_eq!(report["conntrack_tcp_loose"], 0);
    assert_eq!(report["retries2_gives_up_after_ms"], 924_600);
    let tracked = |case: &str, expected: bool| {
        let value = &report[case]["flow_tracked_before_write"];
        if conntrack_readable {
            assert_eq!(value, expected, "{case}: {report:#}");
        } else {
            assert!(value.is_null(), "{case}: {report:#}");
        }
    };

    // No keepalive: forgotten, accepted, never delivered, retransmitted with backoff.
    let none = &report["no_keepalive"];
    assert_eq!(none["so_keepalive"], false);
    assert!(number(&none["idle_ms"]) >= 3_000);
    tracked("no_keepalive", false);
    assert_eq!(none["write_result"], "12 bytes accepted");
    assert!(number(&none["write_returned_us"]) < 100_000, "{none:#}");
    assert_eq!(none["delivered"], false);
    assert_eq!(none["peer_read"], "EAGAIN");
    assert!(number(&none["unacked"]) >= 1, "{none:#}");
    assert!(number(&none["total_retrans"]) >= 2, "{none:#}");
    assert!(number(&none["backoff"]) >= 2, "{none:#}");

    // Keepalive in time: still tracked, delivered at once, nothing retransmitted.
    let early = &report["keepalive"];
    assert_eq!(
        (
            &early["so_keepalive"],
            &early["keepidle_s"],
            &early["keepintvl_s"],
            &early["keepcnt"]
        ),
        (&Value::Bool(true), &1.into(), &1.into(), &3.into())
    );
    tracked("keepalive", true);
    assert_eq!(early["delivered"], true);
    assert_eq!(early["peer_read"], "12 bytes");
    assert!(number(&early["peer_waited_us"]) < 100_000, "{early:#}");
    assert_eq!(early["total_retrans"], 0);

    // Keepalive too late: ETIMEDOUT after idle + intvl × cnt = 5 s, plus the timer margin.
    let late = &report["keepalive_too_late"];
    assert_eq!(
        (&late["keepidle_s"], &late["keepcnt"]),
        (&3.into(), &2.into())
    );
    assert_eq!(late["expected_death_ms"], 5_000);
    assert_eq!(late["client_read"], "ETIMEDOUT");
    let died = number(&late["failed_after_ms"]);
    assert!((4_990..=5_750).contains(&died), "{late:#}");

    // TCP_USER_TIMEOUT 2 s: the write is accepted, the connection fails after 2 s (counted
    // from the first retransmission, one RTO later).
    let user = &report["user_timeout"];
    assert_eq!(user["so_keepalive"], false);
    assert_eq!(user["user_timeout_ms"], 2_000);
    assert_eq!(user["write_result"], "12 bytes accepted");
    assert_eq!(user["client_read"], "ETIMEDOUT");
    let failed = number(&user["failed_after_ms"]);
    assert!((1_990..=2_950).contains(&failed), "{user:#}");
}

#[test]
fn every_case_comes_out_as_documented_and_the_host_is_untouched() {
    if skip_unless_root("nftables inside the lab namespace")
        || skip_unless_installed("nft", "the keepalive lesson's middlebox")
    {
        return;
    }
    let before = std::fs::read(HOST_TIMEOUT).ok();
    let (report, output) = run_json(&["keepalive"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["isolation"], "network-namespace");
    assert_every_case(&report, true);
    assert_eq!(
        std::fs::read(HOST_TIMEOUT).ok(),
        before,
        "the host's conntrack timeout is byte-identical"
    );
}

#[test]
fn an_unprivileged_user_runs_it_in_a_user_namespace() {
    if skip_unless_root("running sockdoc as nobody")
        || skip_unless_installed("nft", "the keepalive lesson's middlebox")
    {
        return;
    }
    let output = sockdoc_as_nobody()
        .args(["--json", "keepalive"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    if output.status.code() == Some(3) {
        let error = report["error"].as_str().unwrap();
        skip(format_args!(
            "SKIP (the lab cannot run unprivileged here): {error}"
        ));
        return;
    }
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["isolation"], "user-namespace");
    assert_every_case(&report, false);
}

#[test]
fn without_nft_it_cannot_run_and_says_so() {
    if skip_unless_root("the lab namespace before nft is looked for") {
        return;
    }
    let output = sockdoc()
        .env("PATH", "/nonexistent")
        .args(["--json", "keepalive", "no-keepalive"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(3), "{report:#}");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("nft (nftables) is not installed"), "{error}");
}
