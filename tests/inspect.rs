//! `inspect` against real patients: child processes (examples/patient.rs) whose sockets carry
//! one known configuration each. Every planted problem must be found, and nothing else; the
//! clean patient must show nothing.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use common::{run_json, skip_unless_root, sockdoc_as_nobody};

/// A running patient: killed and reaped on drop.
struct Patient {
    child: Child,
    port: u16,
}

/// The patient, built once per test run with the cargo running the tests (`cargo test`
/// compiles examples only under a hashed name, and not at all for `--test inspect`).
fn patient_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let sockdoc = PathBuf::from(assert_cmd::cargo::cargo_bin!("sockdoc"));
            let profile_dir = sockdoc.parent().unwrap();
            let mut build = Command::new(env!("CARGO"));
            build.args(["build", "--quiet", "--example", "patient"]);
            if profile_dir.ends_with("release") {
                build.arg("--release");
            }
            let status = build.status().expect("cargo runs");
            assert!(status.success(), "cargo build --example patient failed");
            profile_dir.join("examples").join("patient")
        })
        .clone()
}

impl Patient {
    fn start(mode: &str) -> Self {
        Self::spawn(Command::new(patient_binary()).arg(mode))
    }

    /// The patient run through `wrapper` (setpriv, unshare …): `wrapper` ends with the
    /// program to run, and the mode is added.
    fn wrapped(wrapper: &[&str], mode: &str) -> Self {
        let mut command = Command::new(wrapper[0]);
        command.args(&wrapper[1..]).arg(patient_binary()).arg(mode);
        Self::spawn(&mut command)
    }

    fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the patient starts (built by cargo test as an example)");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the patient said {line:?}"));
        Self { child, port }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Patient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ids(report: &Value) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"))
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

/// inspect --pid on a patient, sampled `window` apart.
fn inspect_pid(patient: &Patient, window: &str) -> (Value, Option<i32>) {
    let (report, output) = run_json(&["inspect", "--pid", &patient.pid(), "--for", window]);
    (report, output.status.code())
}

#[test]
fn each_patient_shows_exactly_its_planted_findings() {
    // (mode, expected ids, exit code with the default --fail-on warn)
    let cases: [(&str, &[&str], i32); 10] = [
        ("clean-listener", &[], 0),
        ("raw-listener", &["listener-no-reuseaddr"], 1),
        ("std-listener", &["accept-queue-small"], 0),
        ("backlog-128", &["accept-queue-small"], 0),
        ("nagle-client", &["nagle-small-writes"], 0),
        ("linger-zero", &["linger-zero"], 0),
        ("stuck", &["stuck-sender", "slow-reader"], 1),
        (
            "full-queue",
            &["accept-queue-small", "accept-queue-overflow"],
            1,
        ),
        ("bound-idle", &["bind-pins-port"], 0),
        ("udp-flood", &["slow-reader"], 1),
    ];
    for (mode, expected, exit) in cases {
        let patient = Patient::start(mode);
        let (report, code) = inspect_pid(&patient, "200ms");
        assert_eq!(ids(&report), set(expected), "{mode}: {report:#}");
        assert_eq!(code, Some(exit), "{mode}: {report:#}");
        assert_eq!(report["command"], "inspect");
        assert_eq!(report["exit_code"], exit);
        assert_eq!(report["not_judged"], Value::Array(vec![]), "{mode}");
        // Every socket of the patient is its own, with its options read.
        for socket in report["sockets"].as_array().unwrap() {
            assert_eq!(socket["pid"].as_u64(), Some(u64::from(patient.child.id())));
            assert!(socket["options_unknown_reason"].is_null(), "{socket:#}");
            assert!(socket["options"]["reuseaddr"].is_boolean(), "{socket:#}");
        }
    }
}

#[test]
fn findings_carry_evidence_mechanism_fix_and_the_lesson() {
    let patient = Patient::start("raw-listener");
    let (report, _) = inspect_pid(&patient, "0");
    let finding = &report["findings"][0];
    assert_eq!(finding["id"], "listener-no-reuseaddr");
    assert_eq!(finding["severity"], "warn");
    assert_eq!(finding["pid"].as_u64(), Some(u64::from(patient.child.id())));
    assert_eq!(finding["process"], "patient");
    assert_eq!(finding["local"], format!("127.0.0.1:{}", patient.port));
    assert_eq!(
        finding["reproduce"],
        format!("sockdoc reuse-test {}", patient.port)
    );
    for key in ["evidence", "mechanism", "fix"] {
        assert!(!finding[key].as_str().unwrap().is_empty(), "{key}");
    }
    let listener = &report["listeners"][0];
    assert_eq!(listener["reuseaddr"], false);
    assert_eq!(listener["reuseport"], false);
    let process = &report["processes"][0];
    assert!(process["fds"].as_u64().unwrap() >= 1);
    assert!(process["fd_limit"].as_u64().unwrap() >= 1);
    assert_eq!(report["sampled_for_ms"], 0);
}

#[test]
fn a_close_wait_leak_is_counted_per_process_with_its_age() {
    let patient = Patient::start("close-wait");
    // The leak rule wants sockets idle for a second: sample across one.
    let (report, code) = inspect_pid(&patient, "1100ms");
    assert_eq!(ids(&report), set(&["close-wait-leak"]), "{report:#}");
    assert_eq!(code, Some(1));
    let finding = &report["findings"][0];
    assert_eq!(finding["sockets"], 10);
    let process = &report["processes"][0];
    assert_eq!(process["by_state"]["CLOSE_WAIT"], 10);
    assert!(report["sampled_for_ms"].as_u64().unwrap() >= 1100);
}

#[test]
fn fail_on_picks_the_level_that_fails() {
    let patient = Patient::start("backlog-128");
    let pid = patient.pid();
    let code = |level: &str| {
        let (report, output) =
            run_json(&["inspect", "--pid", &pid, "--for", "0", "--fail-on", level]);
        assert_eq!(report["fail_on"], level);
        output.status.code()
    };
    assert_eq!(code("warn"), Some(0), "advise is below warn");
    assert_eq!(code("advise"), Some(1));
    assert_eq!(code("info"), Some(1));
    assert_eq!(code("never"), Some(0));
}

#[test]
fn a_port_target_finds_the_processes_behind_it() {
    let patient = Patient::start("raw-listener");
    let port = patient.port.to_string();
    let (report, output) = run_json(&["inspect", "--port", &port, "--for", "0"]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(report["target"]["kind"], "port");
    assert_eq!(ids(&report), set(&["listener-no-reuseaddr"]));
    let pids: Vec<u64> = report["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids, [u64::from(patient.child.id())]);
}

#[test]
fn a_missing_target_is_could_not_run() {
    // pid_max is at most 4194304 (PID_MAX_LIMIT).
    let (report, output) = run_json(&["inspect", "--pid", "4194305"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(report["error"].as_str().unwrap().contains("--pid 4194305"));
    let (report, output) = run_json(&["inspect", "--process", "sockdoc-no-such-program"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(report["error"].as_str().unwrap().contains("--process"));
}

#[test]
fn bad_windows_are_usage_errors() {
    for bad in ["-1s", "2h", "soon", "1us"] {
        let (report, output) = run_json(&["inspect", "--for", bad]);
        assert_eq!(output.status.code(), Some(2), "--for {bad}: {report:#}");
        assert!(report["error"].as_str().unwrap().contains("--for"), "{bad}");
    }
}

#[test]
fn the_duplicates_are_closed_so_the_port_is_free_once_the_patient_exits() {
    let patient = Patient::start("clean-listener");
    let port = patient.port;
    let (report, _) = inspect_pid(&patient, "0");
    assert!(report["processes"][0]["options_read"].as_u64().unwrap() >= 1);
    drop(patient);
    // Had sockdoc kept a duplicate, the listening socket would outlive its program. sockdoc
    // has exited too, so this shows the duplicates died with their reads.
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
}

#[test]
fn without_ptrace_access_options_are_unknown_with_the_reason() {
    if skip_unless_root("running sockdoc as nobody against a root-owned patient") {
        return;
    }
    let patient = Patient::start("raw-listener");
    let port = patient.port.to_string();
    let output = sockdoc_as_nobody()
        .args(["--json", "inspect", "--port", &port, "--for", "0"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    // sock_diag still shows the listener; its options and holder are unknown, and the rule
    // that needs them says so instead of guessing.
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(ids(&report), set(&[]));
    let socket = &report["sockets"][0];
    assert_eq!(socket["state"], "LISTEN");
    assert!(socket["options"]["reuseaddr"].is_null());
    let reason = socket["options_unknown_reason"].as_str().unwrap();
    assert!(reason.contains("CAP_SYS_PTRACE"), "{reason}");
    let not_judged = &report["not_judged"][0];
    assert_eq!(not_judged["id"], "listener-no-reuseaddr");
    assert_eq!(not_judged["reason"], reason);
    // The backlog needs no privilege: it is judged.
    let small = sockdoc_as_nobody()
        .args([
            "--json",
            "inspect",
            "--port",
            &port,
            "--for",
            "0",
            "--fail-on",
            "advise",
        ])
        .output()
        .unwrap();
    assert_eq!(
        small.status.code(),
        Some(0),
        "backlog = somaxconn is not small"
    );

    // --pid needs the descriptors: exit 3 naming the way out.
    let output = sockdoc_as_nobody()
        .args(["--json", "inspect", "--pid", &patient.pid(), "--for", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("ptrace") && error.contains("--port"),
        "{error}"
    );
}

#[test]
fn a_process_in_another_namespace_is_examined_inside_it() {
    if skip_unless_root("entering the patient's network namespace") {
        return;
    }
    let patient = Patient::wrapped(
        &[
            "unshare",
            "--net",
            "sh",
            "-ec",
            "ip link set lo up; exec \"$0\" \"$@\"",
        ],
        "raw-listener",
    );
    let (report, output) = run_json(&["inspect", "--pid", &patient.pid(), "--for", "0"]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(ids(&report), set(&["listener-no-reuseaddr"]));
    let theirs = std::fs::read_link(format!("/proc/{}/ns/net", patient.pid())).unwrap();
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(theirs, ours, "the patient runs in a namespace of its own");
    assert_eq!(report["netns"], theirs.to_string_lossy().as_ref());
    let entered = report["netns_entered"].as_str().unwrap();
    assert!(
        entered.starts_with(&format!("/proc/{}/ns/net", patient.pid())),
        "{entered}"
    );
    assert_eq!(
        report["processes"][0]["netns"],
        theirs.to_string_lossy().as_ref()
    );
}

#[test]
fn loss_during_the_window_is_a_retransmits_finding() {
    if skip_unless_root("a private namespace whose nftables drop one packet in twenty")
        || common::skip_unless_installed("nft", "dropping packets inside the namespace")
    {
        return;
    }
    // Inside the patient's own namespace, one TCP packet in twenty is dropped on input (a drop
    // on output fails the send with EPERM, and the segment was never sent); sockdoc enters
    // the namespace and sees the busy connection retransmit. An MTU of 1500 splits each
    // write into a dozen segments, so losses are repaired by fast retransmit (counted at
    // once) rather than by a 200 ms timeout that may fall outside the window.
    let patient = Patient::wrapped(
        &[
            "unshare",
            "--net",
            "sh",
            "-ec",
            "ip link set lo up mtu 1500\n\
             nft add table inet lossy\n\
             nft add chain inet lossy in '{ type filter hook input priority 0; }'\n\
             nft add rule inet lossy in meta l4proto tcp numgen random mod 20 == 0 drop\n\
             exec \"$0\" \"$@\"",
        ],
        "chatty",
    );
    // Two seconds: a retransmission that is itself lost backs the timer off to 400 ms, 800 ms…
    let (report, output) = run_json(&["inspect", "--pid", &patient.pid(), "--for", "2s"]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert!(ids(&report).contains("retransmits"), "{report:#}");
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "retransmits")
        .unwrap();
    assert_eq!(finding["severity"], "warn");
    // The namespace's own counter agrees that segments were retransmitted.
    assert!(
        report["counters"]["retrans_segs"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    let client = report["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["during"]["retransmits"].as_u64().unwrap_or(0) > 0)
        .unwrap_or_else(|| panic!("a socket retransmitted: {report:#}"));
    assert_eq!(client["state"], "ESTABLISHED");
}

#[test]
fn check_holds_a_listener_to_the_projects_expectations() {
    // The project expects SO_REUSEADDR and a backlog of at least 1024 on its port.
    let expect = |port: u16| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sockdoc.toml");
        std::fs::write(
            &path,
            format!("[[listener]]\nport = {port}\nreuseaddr = true\nmin_backlog = 1024\n"),
        )
        .unwrap();
        let config = path.to_string_lossy().into_owned();
        let (report, output) = run_json(&[
            "check",
            "--config",
            &config,
            "--only",
            "config",
            "--port",
            &port.to_string(),
        ]);
        drop(dir);
        let check = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == format!("config.listener.{port}"))
            .unwrap_or_else(|| panic!("{report:#}"))
            .clone();
        (check, output.status.code())
    };
    let raw = Patient::start("raw-listener");
    let (check, code) = expect(raw.port);
    assert_eq!(
        (check["status"].as_str(), code),
        (Some("fail"), Some(1)),
        "{check:#}"
    );
    assert!(
        check["evidence"]
            .as_str()
            .unwrap()
            .contains("SO_REUSEADDR is off"),
        "{check:#}"
    );
    let small = Patient::start("backlog-128");
    let (check, _) = expect(small.port);
    assert!(
        check["evidence"]
            .as_str()
            .unwrap()
            .contains("backlog is 128"),
        "{check:#}"
    );
    let clean = Patient::start("clean-listener");
    let (check, code) = expect(clean.port);
    assert_eq!(
        (check["status"].as_str(), code),
        (Some("pass"), Some(0)),
        "{check:#}"
    );
    drop(clean);
    // Nothing listening is a failure too: a port this test had and let go.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone_port = gone.local_addr().unwrap().port();
    drop(gone);
    let (check, _) = expect(gone_port);
    assert_eq!(check["status"], "fail");
}
