//! `sockdoc prove`: every sysctl proof, both trials in throwaway namespaces, as root and as an
//! unprivileged user (a user namespace), and the host's own values untouched.

mod common;

use serde_json::Value;

use common::{run_json, skip, skip_unless_root};

/// The knobs the proofs set, read from the host (the test's own namespace).
fn host_values() -> Vec<(String, Vec<u8>)> {
    [
        "net/core/somaxconn",
        "net/ipv4/tcp_max_tw_buckets",
        "net/ipv4/tcp_fin_timeout",
        "net/ipv4/tcp_tw_reuse",
        "net/ipv4/ip_local_port_range",
    ]
    .iter()
    .map(|key| {
        let path = format!("/proc/sys/{key}");
        (path.clone(), std::fs::read(&path).unwrap())
    })
    .collect()
}

fn assert_every_proof_as_documented(report: &Value) {
    let proofs = report["proofs"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"));
    let knobs: Vec<&str> = proofs.iter().map(|p| p["knob"].as_str().unwrap()).collect();
    assert_eq!(
        knobs,
        [
            "net.core.somaxconn",
            "net.ipv4.tcp_max_tw_buckets",
            "net.ipv4.tcp_fin_timeout",
            "net.ipv4.tcp_tw_reuse",
            "net.ipv4.ip_local_port_range",
            "net.ipv4.tcp_autocorking"
        ]
    );
    for proof in proofs {
        assert_eq!(proof["matches"], true, "{proof:#}");
    }
    let figures = |knob: &str, trial: &str| {
        proofs.iter().find(|p| p["knob"] == knob).unwrap()[trial]["figures"].clone()
    };
    // The two outcomes differ as the kernel documents.
    assert_eq!(figures("net.core.somaxconn", "before")["queued"], 129);
    assert_eq!(figures("net.core.somaxconn", "after")["queued"], 160);
    assert_eq!(
        figures("net.ipv4.tcp_max_tw_buckets", "before")["time_wait"],
        0
    );
    assert_eq!(
        figures("net.ipv4.tcp_max_tw_buckets", "before")["time_wait_overflow"],
        20
    );
    assert_eq!(
        figures("net.ipv4.tcp_max_tw_buckets", "after")["time_wait"],
        20
    );
    let fin = |trial| {
        figures("net.ipv4.tcp_fin_timeout", trial)["fin_wait2_timer_ms"]
            .as_u64()
            .unwrap()
    };
    assert!(
        fin("before") > 50_000 && fin("after") <= 5_000,
        "{report:#}"
    );
    for trial in ["before", "after"] {
        let time_wait = figures("net.ipv4.tcp_fin_timeout", trial)["time_wait_timer_ms"]
            .as_u64()
            .unwrap();
        assert!(time_wait > 50_000, "TIME_WAIT stays 60 s: {time_wait}");
    }
    assert!(figures("net.ipv4.tcp_tw_reuse", "before")["reuse_after_ms"].is_null());
    assert!(
        figures("net.ipv4.tcp_tw_reuse", "after")["reuse_after_ms"]
            .as_u64()
            .unwrap()
            >= 900
    );
    assert_eq!(
        figures("net.ipv4.ip_local_port_range", "before")["connections"],
        10
    );
    assert_eq!(
        figures("net.ipv4.ip_local_port_range", "after")["connections"],
        40
    );
}

#[test]
fn every_proof_comes_out_as_documented_and_the_host_is_untouched() {
    let before = host_values();
    let Some((report, output)) = common::lab_json(&["prove"]) else {
        return;
    };
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let expected = if common::is_root() {
        "network-namespace"
    } else {
        "user-namespace"
    };
    assert_eq!(report["isolation"], expected);
    assert_every_proof_as_documented(&report);
    assert_eq!(
        host_values(),
        before,
        "the host's sysctls are byte-identical"
    );
}

#[test]
fn an_unprivileged_user_proves_in_a_user_namespace() {
    if skip_unless_root("running sockdoc as nobody") {
        return;
    }
    let before = host_values();
    let Some((report, output)) = common::lab_json_as_nobody(&["prove"]) else {
        return;
    };
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["isolation"], "user-namespace");
    assert_every_proof_as_documented(&report);
    assert_eq!(host_values(), before);
}

#[test]
fn one_knob_at_a_time_and_an_unknown_one_is_a_usage_error() {
    let (report, output) = run_json(&["prove", "tcp_fin_timeout"]);
    if output.status.code() == Some(3) {
        skip(format_args!(
            "SKIP (no throwaway namespace here): {}",
            report["error"]
        ));
        return;
    }
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["proofs"].as_array().unwrap().len(), 1);
    let output = common::sockdoc()
        .args(["prove", "tcp_fin_timout"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("tcp_fin_timout"));
}

#[test]
fn sysctl_advice_names_the_proof_of_each_knob_that_has_one() {
    let (report, _) = run_json(&["sysctl-advice"]);
    let prove = |key: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == key)
            .map(|f| f["prove"].clone())
    };
    assert_eq!(
        prove("net.ipv4.tcp_fin_timeout"),
        Some(Value::from("sockdoc prove tcp_fin_timeout"))
    );
    assert_eq!(
        prove("net.core.somaxconn"),
        Some(Value::from("sockdoc prove somaxconn"))
    );
    // Every named proof is a command line that parses.
    for finding in report["findings"].as_array().unwrap() {
        if let Some(command) = finding["prove"].as_str() {
            let words: Vec<&str> = command.split(' ').collect();
            assert!(
                <sockdoc::cli::Cli as clap::Parser>::try_parse_from(&words).is_ok(),
                "{command}"
            );
        }
    }
}

#[test]
fn where_user_namespaces_are_forbidden_an_unprivileged_run_is_exit_3_naming_the_setting() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if skip_unless_root("a parent user namespace whose user.max_user_namespaces is 0") {
        return;
    }
    // A user namespace of our own (uids 0–65535 mapped as on the host once we write its
    // maps), inside which user.max_user_namespaces is set to 0 — that namespace's own limit,
    // not the host's — and sockdoc then runs as nobody: its unshare(CLONE_NEWUSER) is refused.
    // The shell execs itself again once the maps are written: the exec before that ran with
    // an unmapped uid, which left it no capabilities in the namespace; as uid 0 there, the new
    // exec gets them (capabilities(7)).
    let script = "read go; exec sh -c 'echo 0 > /proc/sys/user/max_user_namespaces && \
                  exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$0\" --json prove \
                  somaxconn' \"$0\"";
    let mut child = Command::new("unshare")
        .args(["--user", "sh", "-c", script])
        .arg(assert_cmd::cargo::cargo_bin!("sockdoc"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare runs");
    // unshare(1) without --fork execs sh in place: the child's pid is in the new namespace
    // once unshare(2) has run (bounded wait).
    let pid = child.id();
    let ours = std::fs::read_link("/proc/self/ns/user").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::fs::read_link(format!("/proc/{pid}/ns/user"))
        .ok()
        .as_ref()
        == Some(&ours)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "unshare --user did not happen"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    for map in ["uid_map", "gid_map"] {
        std::fs::write(format!("/proc/{pid}/{map}"), "0 0 65536").unwrap();
    }
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("unshare(CLONE_NEWUSER | CLONE_NEWNET) failed"),
        "{error}"
    );
    assert!(error.contains("user.max_user_namespaces = 0"), "{error}");
    assert!(error.contains("Run sockdoc as root"), "{error}");
}
