//! `sockdoc sysctl-advice` end to end: fixture roots (tests/fixtures/sysctl/*) through the
//! binary, the live kernel, and (as root) a private network namespace with its own knobs.

mod common;

use std::path::Path;

use predicates::prelude::*;
use serde_json::Value;

use sockdoc::sys::sysctl::{Line, parse_line};

use common::{in_private_netns, json_of, run_json, skip_unless_root, sockdoc};

const FINDING_KEYS: &[&str] = &[
    "key",
    "current",
    "suggested",
    "level",
    "reason",
    "evidence",
    "source",
];
const CONFIG_KEYS: &[&str] = &["file", "line", "key", "value", "problem", "level"];

/// A fixture root, relative to the package, as a user would type it.
fn fixture(name: &str) -> String {
    format!("tests/fixtures/sysctl/{name}")
}

/// Runs `sysctl-advice --root FIXTURE ARGS --json` from the package directory.
fn advice(name: &str, args: &[&str]) -> (Value, i32) {
    let root = fixture(name);
    let mut all = vec!["sysctl-advice", "--root", root.as_str()];
    all.extend_from_slice(args);
    let (report, output) = run_json(&all);
    (report, output.status.code().expect("exited"))
}

/// The text output of `sysctl-advice --root FIXTURE ARGS`, with the version redacted.
fn text(name: &str, args: &[&str]) -> (String, i32) {
    let output = sockdoc()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["sysctl-advice", "--root", &fixture(name)])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    (
        stdout.replace(env!("CARGO_PKG_VERSION"), "[version]"),
        output.status.code().unwrap(),
    )
}

fn finding<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .unwrap_or_else(|| panic!("no finding for {key}: {report:#}"))
}

fn has_finding(report: &Value, key: &str) -> bool {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["key"] == key)
}

/// (level, suggested) of a finding, for compact assertions.
fn judged(report: &Value, key: &str) -> (String, Option<String>) {
    let f = finding(report, key);
    (
        f["level"].as_str().unwrap().to_string(),
        f["suggested"].as_str().map(str::to_string),
    )
}

fn levels(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["level"].as_str().unwrap().to_string())
        .collect()
}

fn advise(value: &str) -> (String, Option<String>) {
    ("advise".into(), Some(value.into()))
}

fn level(name: &str) -> (String, Option<String>) {
    (name.into(), None)
}

#[test]
fn a_default_kernel_needs_nothing() {
    let (report, code) = advice("default", &[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        levels(&report).iter().all(|l| l == "ok"),
        "every default is sound: {report:#}"
    );
    assert_eq!(report["config"], Value::Array(vec![]));
    let recycle = finding(&report, "net.ipv4.tcp_tw_recycle");
    assert!(recycle["current"].is_null(), "removed in 4.12: {recycle}");
    assert!(recycle["myth"].as_str().unwrap().contains("NAT"));
    assert_eq!(
        finding(&report, "net.ipv4.ip_local_port_range")["current"],
        "32768 60999",
        "tabs folded to one space"
    );
    assert_eq!(
        finding(&report, "net.ipv4.tcp_tw_reuse_delay")["current"],
        "1000"
    );
    assert_eq!(
        finding(&report, "net.ipv4.ip_local_reserved_ports")["current"],
        ""
    );
    // The myths are called out where a user might reach for them.
    for key in [
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_max_tw_buckets",
        "net.ipv4.tcp_tw_reuse",
    ] {
        assert!(finding(&report, key)["myth"].is_string(), "{key}");
    }
    assert!(
        finding(&report, "net.ipv4.tcp_fin_timeout")["myth"]
            .as_str()
            .unwrap()
            .contains("60 s")
    );
    // Evidence travels with the finding it supports.
    let reuse = finding(&report, "net.ipv4.tcp_tw_reuse")["evidence"]
        .as_str()
        .unwrap();
    assert!(reuse.contains("TIME_WAIT sockets now: 12"), "{reuse}");
    assert!(reuse.contains("≈ 470 new connections/s"), "{reuse}");
    assert_eq!(report["evidence"]["port_budget"]["usable"], 28232);
    assert_eq!(
        report["evidence"]["port_budget"]["new_connections_per_s"],
        470
    );
    assert_eq!(report["evidence"]["time_wait"], 12);
    assert_eq!(report["netns"], "net:[4026531833]");
    assert_eq!(report["netns_initial"], true);

    let (_, code) = advice("default", &["--check"]);
    assert_eq!(code, 0, "--check passes on kernel defaults");
}

#[test]
fn an_old_kernel_with_tw_recycle_is_a_warning() {
    let (report, code) = advice("old-kernel", &[]);
    assert_eq!(code, 1, "a warn finding exits 1 even without --check");
    assert_eq!(
        judged(&report, "net.ipv4.tcp_tw_recycle"),
        ("warn".into(), Some("0".into()))
    );
    let recycle = finding(&report, "net.ipv4.tcp_tw_recycle");
    assert_eq!(recycle["current"], "1");
    assert_eq!(recycle["evidence"], "PAWSPassive = 1342");
    assert_eq!(recycle["configured"]["file"], "/etc/sysctl.conf");
    assert_eq!(recycle["configured"]["line"], 2);
    assert!(
        !has_finding(&report, "net.ipv4.tcp_tw_reuse_delay"),
        "judged only where the kernel has it"
    );
    assert_eq!(judged(&report, "net.ipv4.tcp_tw_reuse"), advise("2"));
    let buckets = finding(&report, "net.ipv4.tcp_max_tw_buckets");
    assert_eq!(
        judged(&report, "net.ipv4.tcp_max_tw_buckets"),
        advise("10000")
    );
    assert!(
        buckets["evidence"]
            .as_str()
            .unwrap()
            .contains("TCPTimeWaitOverflow = 2210")
    );
    assert_eq!(judged(&report, "net.core.somaxconn"), advise("4096"));
    assert_eq!(
        finding(&report, "net.core.somaxconn")["evidence"],
        "ListenOverflows = 17, ListenDrops = 17"
    );
    // 32768 61000: both even, the old default the kernel itself changed to 60999.
    assert_eq!(
        judged(&report, "net.ipv4.ip_local_port_range"),
        ("info".into(), Some("32768 60999".into()))
    );
    assert!(
        finding(&report, "net.ipv4.ip_local_port_range")["reason"]
            .as_str()
            .unwrap()
            .contains("parity")
    );
    assert_eq!(judged(&report, "net.ipv4.tcp_fin_timeout"), level("info"));
    assert_eq!(report["config"], Value::Array(vec![]), "every line applied");
    assert_eq!(report["netns_initial"], true, "the same namespace as PID 1");
}

#[test]
fn the_role_changes_the_advice() {
    let (client, code) = advice("default", &["--role", "client"]);
    assert_eq!(client["role"], "client");
    assert_eq!(code, 0, "advise alone does not fail without --check");
    assert_eq!(judged(&client, "net.ipv4.tcp_tw_reuse"), advise("1"));
    let (_, code) = advice("default", &["--role", "client", "--check"]);
    assert_eq!(code, 1);

    let (server, _) = advice("default", &["--role", "server"]);
    assert_eq!(judged(&server, "net.ipv4.tcp_tw_reuse"), level("ok"));
    assert!(
        finding(&server, "net.ipv4.tcp_tw_reuse")["reason"]
            .as_str()
            .unwrap()
            .contains("not the connections a server accepts")
    );

    let (server, _) = advice("old-kernel", &["--role", "server"]);
    assert_eq!(
        judged(&server, "net.ipv4.tcp_tw_reuse"),
        ("info".into(), Some("2".into()))
    );
    assert_eq!(judged(&server, "net.core.somaxconn"), advise("4096"));
    let (client, _) = advice("old-kernel", &["--role", "client"]);
    assert_eq!(judged(&client, "net.core.somaxconn"), level("info"));
    assert_eq!(judged(&client, "net.ipv4.tcp_tw_reuse"), advise("1"));
}

#[test]
fn check_fails_on_advise_and_warn_only() {
    for (name, plain, checked) in [
        ("default", 0, 0),
        ("tuned", 0, 0),
        ("old-kernel", 1, 1),
        ("lint", 1, 1),
        ("broken", 0, 1),
    ] {
        assert_eq!(advice(name, &[]).1, plain, "{name}");
        assert_eq!(advice(name, &["--check"]).1, checked, "{name} --check");
    }
    let (report, _) = advice("tuned", &["--check"]);
    assert_eq!(report["check"], true);
    assert!(
        report["notes"]
            .to_string()
            .contains("with --check, at advise or warn")
    );
}

#[test]
fn a_tuned_host_in_a_container_is_judged_per_namespace() {
    let (report, _) = advice("tuned", &[]);
    assert_eq!(report["netns"], "net:[4026532301]");
    assert_eq!(report["netns_initial"], false, "differs from PID 1's");
    assert!(
        report["notes"]
            .to_string()
            .contains("private network namespace")
    );
    let levels = levels(&report);
    assert!(
        levels.iter().all(|l| l == "ok" || l == "info"),
        "{report:#}"
    );
    assert_eq!(judged(&report, "net.ipv4.tcp_tw_reuse"), level("ok"));
    assert_eq!(judged(&report, "net.ipv4.tcp_fin_timeout"), level("info"));
    assert_eq!(
        judged(&report, "net.ipv4.ip_local_reserved_ports"),
        level("ok")
    );
    assert!(
        finding(&report, "net.ipv4.ip_local_reserved_ports")["reason"]
            .as_str()
            .unwrap()
            .starts_with("22 ports reserved (10 inside the ephemeral range)")
    );
    assert_eq!(report["evidence"]["port_budget"]["usable"], 55296 - 10);
    // The namespace shares the initial hash table (negative entries); the default is half.
    assert_eq!(report["evidence"]["tcp_ehash_entries"], -524_288);
    // Files apply to the initial namespace, so a difference here is not "not applied".
    let config = report["config"].as_array().unwrap();
    assert_eq!(config.len(), 1, "{config:#?}");
    assert_eq!(config[0]["key"], "net.ipv4.tcp_keepalive_time");
    assert_eq!(config[0]["line"], 10);
    assert_eq!(config[0]["level"], "info");
    assert!(
        config[0]["problem"]
            .as_str()
            .unwrap()
            .contains("this network namespace")
    );
    // `net/core/somaxconn` in the file is the same knob.
    assert_eq!(
        finding(&report, "net.core.somaxconn")["configured"]["line"],
        5
    );
}

#[test]
fn the_config_lint_names_file_and_line() {
    let (report, code) = advice("lint", &[]);
    assert_eq!(code, 1, "a dead key is a warn");
    let problems: Vec<(String, u64, String, String)> = report["config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            for key in CONFIG_KEYS {
                assert!(p.get(*key).is_some(), "config entry lacks {key}: {p}");
            }
            (
                p["file"].as_str().unwrap().to_string(),
                p["line"].as_u64().unwrap(),
                p["level"].as_str().unwrap().to_string(),
                p["problem"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: &[(&str, u64, &str, &str)] = &[
        (
            "/usr/lib/sysctl.d/10-legacy.conf",
            2,
            "warn",
            "no such key on this kernel (tcp_tw_recycle was removed in Linux 4.12)",
        ),
        (
            "/usr/lib/sysctl.d/10-legacy.conf",
            3,
            "info",
            "ignored because of the leading '-'",
        ),
        (
            "/etc/sysctl.d/60-tuning.conf",
            2,
            "advise",
            "not applied: the kernel has \"4096\"",
        ),
        (
            "/etc/sysctl.d/60-tuning.conf",
            3,
            "advise",
            "not applied: the kernel has \"60\"",
        ),
        (
            "/etc/sysctl.d/60-tuning.conf",
            4,
            "info",
            "overridden by /etc/sysctl.conf:2, which sets \"2\"",
        ),
        ("/etc/sysctl.d/60-tuning.conf", 5, "advise", "malformed"),
        ("/etc/sysctl.d/60-tuning.conf", 6, "info", "a glob"),
        (
            "/etc/sysctl.d/60-tuning.conf",
            8,
            "advise",
            "a '#' inside the value",
        ),
    ];
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    for (got, want) in problems.iter().zip(expected) {
        assert_eq!(
            (got.0.as_str(), got.1, got.2.as_str()),
            (want.0, want.1, want.2)
        );
        assert!(got.3.contains(want.3), "{}:{}: {}", got.0, got.1, got.3);
    }
    // Not reported: 10-legacy.conf:4 sets the same 30 as the line that wins; the reserved
    // ports are applied, only written in another order; the masked and shadowed files
    // (tcp_syncookies = 0, tcp_timestamps = 0) are never read.
    let files: Vec<(&str, &str)> = report["config_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["file"].as_str().unwrap(), f["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        files,
        vec![
            ("/usr/lib/sysctl.d/10-legacy.conf", "read"),
            ("/etc/sysctl.d/50-masked.conf", "masked"),
            ("/usr/lib/sysctl.d/50-masked.conf", "shadowed"),
            ("/etc/sysctl.d/60-tuning.conf", "read"),
            ("/run/sysctl.d/60-tuning.conf", "shadowed"),
            ("/etc/sysctl.conf", "read"),
        ]
    );
    let fin = finding(&report, "net.ipv4.tcp_fin_timeout");
    assert_eq!(fin["configured"]["file"], "/etc/sysctl.d/60-tuning.conf");
    assert_eq!(fin["configured"]["line"], 3);
    assert_eq!(fin["configured"]["value"], "30");
    assert_eq!(report["summary"]["config_problems"], 8);
}

#[test]
fn malformed_and_missing_files_are_notes_not_panics() {
    let (report, code) = advice("broken", &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["netns"], "unknown");
    assert!(report["netns_initial"].is_null());
    assert!(report["evidence"]["time_wait"].is_null());
    let notes = report["notes"].to_string();
    assert!(notes.contains("TIME_WAIT count unavailable"), "{notes}");
    assert!(notes.contains("counters unavailable"), "{notes}");
    for (key, current) in [
        ("net.ipv4.tcp_tw_reuse", "3"),
        ("net.ipv4.tcp_timestamps", ""),
        ("net.ipv4.ip_local_port_range", "40000"),
        ("net.ipv4.ip_local_reserved_ports", "http"),
        ("net.ipv4.tcp_syncookies", "yes"),
    ] {
        let f = finding(&report, key);
        assert_eq!(f["current"], current, "{key}");
        assert_eq!(f["level"], "info", "{key}");
        assert!(
            f["reason"].as_str().unwrap().starts_with("Not judged"),
            "{f}"
        );
    }
    let somaxconn = finding(&report, "net.core.somaxconn");
    assert!(somaxconn["current"].is_null());
    assert_eq!(somaxconn["level"], "info");
    let config: Vec<(String, Value, String)> = report["config"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["file"].as_str().unwrap().to_string(),
                p["line"].clone(),
                p["problem"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(config.len(), 5, "{config:#?}");
    for (line, (file, got, problem)) in (1..=4).zip(&config) {
        assert_eq!(file, "/etc/sysctl.d/50-bad.conf");
        assert_eq!(got, &Value::from(line));
        assert!(problem.starts_with("malformed"), "{problem}");
    }
    assert_eq!(config[4].0, "/etc/sysctl.d/60-gone.conf");
    assert!(config[4].1.is_null());
    assert!(config[4].2.contains("/etc/nowhere.conf does not exist"));

    // A root with nothing in it at all.
    let empty = tempfile::tempdir().unwrap();
    let (report, output) = run_json(&["sysctl-advice", "--root", empty.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert!(report["notes"].to_string().contains("has no proc/sys/net"));
    assert!(
        levels(&report).iter().all(|l| l == "info"),
        "nothing is claimed about a kernel that cannot be seen: {report:#}"
    );
    assert_eq!(report["config_files"], Value::Array(vec![]));

    // Only /etc (an unpacked image, say): syntax is checked, values are not judged.
    std::fs::create_dir(empty.path().join("etc")).unwrap();
    std::fs::write(
        empty.path().join("etc/sysctl.conf"),
        "net.ipv4.tcp_tw_recycle = 1\nnot an assignment\n",
    )
    .unwrap();
    let (report, output) = run_json(&["sysctl-advice", "--root", empty.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let config = report["config"].as_array().unwrap();
    assert_eq!(config.len(), 1, "{config:#?}");
    assert_eq!(config[0]["line"], 2);
    assert!(report["notes"].to_string().contains("syntax only"));
}

#[test]
fn the_json_document_keeps_the_contract() {
    let (report, _) = advice("lint", &["--role", "server"]);
    assert_eq!(report["command"], "sysctl-advice");
    assert_eq!(report["sockdoc_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["role"], "server");
    assert!(report["netns"].is_string());
    for f in report["findings"].as_array().unwrap() {
        for key in FINDING_KEYS {
            assert!(f.get(*key).is_some(), "finding lacks {key}: {f}");
        }
        assert!(
            ["ok", "info", "advise", "warn"].contains(&f["level"].as_str().unwrap()),
            "{f}"
        );
        assert!(f["current"].is_string() || f["current"].is_null());
        assert!(f["suggested"].is_string() || f["suggested"].is_null());
        assert!(!f["source"].as_str().unwrap().is_empty());
        assert!(!f["why"].as_str().unwrap().is_empty());
    }
    assert!(report["findings"].as_array().unwrap().len() >= 15);
    assert!(report["elapsed_us"].is_u64());
    assert!(report.get("format").is_none(), "--format is not data");
}

#[test]
fn the_conf_snippet_sets_only_suggested_changes() {
    let (snippet, code) = text("old-kernel", &["--format", "conf"]);
    assert_eq!(code, 1, "the format does not change the exit code");
    let settings: Vec<(String, String)> = snippet
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| match parse_line(line) {
            Some(Line::Assignment(a)) => (
                if a.ignore_errors {
                    format!("-{}", a.key)
                } else {
                    a.key
                },
                a.value,
            ),
            other => panic!("{line:?} is not a sysctl.d assignment: {other:?}"),
        })
        .collect();
    let expected = [
        ("-net.ipv4.tcp_tw_recycle", "0"),
        ("net.ipv4.tcp_tw_reuse", "2"),
        ("net.ipv4.tcp_max_tw_buckets", "10000"),
        ("net.ipv4.ip_local_port_range", "32768 60999"),
        ("net.core.somaxconn", "4096"),
    ];
    assert_eq!(
        settings,
        expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    );
    assert!(snippet.contains("sudo sysctl --system"));
    assert!(snippet.contains("sudo sysctl -p /etc/sysctl.d/99-sockdoc.conf"));
    assert!(
        snippet
            .contains("# Warning: /etc/sysctl.conf:2 sets it to 1 and is applied after this file")
    );
    assert!(
        snippet.lines().all(|line| line.chars().count() <= 100),
        "{snippet}"
    );

    let (snippet, code) = text("default", &["--format", "conf"]);
    assert_eq!(code, 0);
    assert!(snippet.contains("# Nothing to change"), "{snippet}");
    assert!(
        snippet.lines().all(|line| line.starts_with('#')),
        "{snippet}"
    );

    let (snippet, _) = text("lint", &["--format", "conf"]);
    assert!(
        snippet.contains("# Fix in the existing files:"),
        "{snippet}"
    );
    assert!(
        snippet.contains("/usr/lib/sysctl.d/10-legacy.conf:2"),
        "{snippet}"
    );
}

#[test]
fn a_missing_root_is_a_usage_error() {
    sockdoc()
        .args(["sysctl-advice", "--root", "/nonexistent/sockdoc-root"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "--root /nonexistent/sockdoc-root: No such file or directory",
        ));
    let (document, output) = run_json(&["sysctl-advice", "--root", "Cargo.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        document["error"]
            .as_str()
            .unwrap()
            .contains("--root Cargo.toml: not a directory")
    );
}

#[test]
fn table_snapshot_old_kernel() {
    let (table, _) = text("old-kernel", &[]);
    insta::assert_snapshot!("table_old_kernel", table);
}

#[test]
fn table_snapshot_config_lint() {
    let (table, _) = text("lint", &[]);
    insta::assert_snapshot!("table_lint", table);
}

#[test]
fn conf_snapshot_old_kernel() {
    let (snippet, _) = text("old-kernel", &["--format", "conf"]);
    insta::assert_snapshot!("conf_old_kernel", snippet);
}

#[test]
fn this_kernel_is_judged_without_error() {
    let (report, output) = run_json(&["sysctl-advice"]);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report["netns"].as_str().unwrap().starts_with("net:["));
    // Every knob this kernel has is read with its real value.
    for f in report["findings"].as_array().unwrap() {
        let key = f["key"].as_str().unwrap();
        let file = Path::new("/proc/sys").join(key.replace('.', "/"));
        match std::fs::read_to_string(&file) {
            Ok(value) => assert_eq!(
                f["current"].as_str(),
                Some(
                    value
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .as_str()
                ),
                "{key}"
            ),
            Err(_) => assert!(f["current"].is_null(), "{key}"),
        }
    }
}

fn host_values() -> Vec<String> {
    [
        "net/ipv4/tcp_tw_reuse",
        "net/ipv4/ip_local_port_range",
        "net/core/somaxconn",
    ]
    .iter()
    .map(|knob| std::fs::read_to_string(Path::new("/proc/sys").join(knob)).unwrap())
    .collect()
}

#[test]
fn knobs_set_in_a_private_namespace_are_judged_there() {
    if skip_unless_root("netns with tcp_tw_reuse=0, a 10-port range and somaxconn=128") {
        return;
    }
    let before = host_values();
    let output = in_private_netns(
        "echo 0 > /proc/sys/net/ipv4/tcp_tw_reuse\n\
         echo '40000 40009' > /proc/sys/net/ipv4/ip_local_port_range\n\
         echo 128 > /proc/sys/net/core/somaxconn\n\
         \"$SOCKDOC\" sysctl-advice --json --check",
    );
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(host_values(), before, "the host's own values are untouched");

    let reuse = finding(&report, "net.ipv4.tcp_tw_reuse");
    assert_eq!(reuse["current"], "0");
    assert_eq!(judged(&report, "net.ipv4.tcp_tw_reuse"), advise("2"));
    let range = finding(&report, "net.ipv4.ip_local_port_range");
    assert_eq!(range["current"], "40000 40009");
    assert_eq!(
        judged(&report, "net.ipv4.ip_local_port_range"),
        advise("32768 60999")
    );
    assert!(
        range["evidence"]
            .as_str()
            .unwrap()
            .contains("10 ports (40000–40009) − 0 reserved = 10 usable"),
        "{range}"
    );
    assert_eq!(
        report["evidence"]["port_budget"]["new_connections_per_s"],
        0
    );
    assert_eq!(finding(&report, "net.core.somaxconn")["current"], "128");
    assert_eq!(judged(&report, "net.core.somaxconn"), advise("4096"));

    // The values came from the new namespace, not the host's.
    let host_netns = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(report["netns"], host_netns.to_string_lossy().as_ref());
    assert_ne!(report["netns_initial"], true, "{report:#}");
}
