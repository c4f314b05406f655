//! `--netns`: every command reads the namespace it names — its sockets, /proc/net and
//! /proc/sys/net — not sockdoc's own. Root-only: entering a namespace needs CAP_SYS_ADMIN.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use common::{json_of, run_json, skip_unless_installed, skip_unless_root};

/// A private namespace held open by a child process, with planted values: somaxconn 77 and
/// one listener on 127.0.0.1:4242. It dies with the child.
struct Planted {
    child: Child,
}

impl Planted {
    fn start() -> Self {
        let mut child = Command::new("unshare")
            .args(["--net", "sh", "-ec"])
            .arg(
                "ip link set lo up\n\
                 echo 77 > /proc/sys/net/core/somaxconn\n\
                 exec python3 -c 'import socket, sys, time\n\
s = socket.socket(); s.bind((\"127.0.0.1\", 4242)); s.listen(5)\n\
print(\"ready\", flush=True)\n\
sys.stdin.read()'",
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare runs");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the namespace holder started");
        Self { child }
    }

    /// The namespace as `--netns` takes it: the holder's /proc/PID/ns/net.
    fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.child.id())
    }
}

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skip() -> bool {
    skip_unless_root("entering another network namespace")
        || skip_unless_installed("python3", "the namespace's planted listener")
}

#[test]
fn sysctl_advice_judges_the_namespace_it_enters() {
    if skip() {
        return;
    }
    let planted = Planted::start();
    let (report, output) = run_json(&["--netns", &planted.path(), "sysctl-advice"]);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{report:#}");
    let somaxconn = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "net.core.somaxconn")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(somaxconn["current"], "77", "{somaxconn:#}");
    // The namespace it names is the holder's, not the test's own.
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    let entered = std::fs::read_link(planted.path()).unwrap();
    assert_eq!(report["netns"], entered.to_string_lossy().as_ref());
    assert_ne!(report["netns"], own.to_string_lossy().as_ref());
    assert_ne!(report["netns_initial"], true, "{report:#}");
}

#[test]
fn sockets_lists_the_namespace_it_enters() {
    if skip() {
        return;
    }
    let planted = Planted::start();
    let (report, output) = run_json(&["--netns", &planted.path(), "sockets", "--tcp"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let rows = report["sockets"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "only the planted listener: {report:#}");
    assert_eq!(rows[0]["state"], "LISTEN");
    assert_eq!(rows[0]["local"], "127.0.0.1:4242");
    // Its owner is found through the host's /proc: the holder's python.
    assert_eq!(rows[0]["process"], "python3", "{:#}", rows[0]);
}

#[test]
fn a_namespace_that_cannot_be_entered_is_exit_3_saying_why() {
    let (missing, output) = run_json(&["--netns", "sockdoc-no-such-netns", "sockets"]);
    assert_eq!(output.status.code(), Some(3), "{missing:#}");
    assert!(
        missing["error"]
            .as_str()
            .unwrap()
            .contains("/run/netns/sockdoc-no-such-netns does not exist"),
        "{missing:#}"
    );
    if skip_unless_root("entering a namespace as nobody") {
        return;
    }
    let output = common::sockdoc_as_nobody()
        .args(["--netns", "/proc/1/ns/net", "sockets", "--json"])
        .output()
        .unwrap();
    let report: Value = json_of(&output);
    assert_eq!(output.status.code(), Some(3), "{report:#}");
    assert!(
        report["error"].as_str().unwrap().contains("needs root"),
        "{report:#}"
    );
}

#[test]
fn check_judges_the_namespace_it_enters() {
    if skip() {
        return;
    }
    let planted = Planted::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sockdoc.toml");
    std::fs::write(&config, "[sysctl]\n\"net.core.somaxconn\" = \">= 4096\"\n").unwrap();
    let (report, output) = run_json(&[
        "--netns",
        &planted.path(),
        "check",
        "--config",
        config.to_str().unwrap(),
        "--only",
        "config,sysctl.net.core.somaxconn,inspect",
    ]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let check = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{id}: {report:#}"))
            .clone()
    };
    // The namespace's own somaxconn (77), not the host's.
    let expectation = check("config.sysctl.net.core.somaxconn");
    assert_eq!(expectation["status"], "fail");
    assert_eq!(expectation["evidence"], "net.core.somaxconn = 77");
    assert!(
        check("sysctl.net.core.somaxconn")["evidence"]
            .as_str()
            .unwrap()
            .contains("77")
    );
    // And its sockets: the planted listener (backlog 5, below its somaxconn of 77).
    let small = check("inspect.accept-queue-small");
    assert!(
        small["subject"]
            .as_str()
            .unwrap()
            .ends_with("127.0.0.1:4242"),
        "{small:#}"
    );
}
