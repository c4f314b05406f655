//! Shared helpers for the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

/// The sockdoc binary under test, with a generous default timeout and no colour.
pub fn sockdoc() -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("sockdoc");
    cmd.env("NO_COLOR", "1")
        .timeout(std::time::Duration::from_secs(60));
    cmd
}

/// Runs sockdoc with `args`, asserting stdout is exactly one JSON document.
pub fn run_json(args: &[&str]) -> (Value, Output) {
    let output = sockdoc()
        .args(args)
        .arg("--json")
        .output()
        .expect("sockdoc runs");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (json, output)
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Prints the SKIP line the house style asks for and returns true when not root.
pub fn skip_unless_root(what: &str) -> bool {
    if is_root() {
        false
    } else {
        skip(format_args!("SKIP (needs root): {what}"));
        true
    }
}

/// sockdoc run as nobody (uid and gid 65534, no groups, no inheritable capabilities) through
/// setpriv: for the paths an unprivileged user meets. Needs root to switch users.
pub fn sockdoc_as_nobody() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new("setpriv");
    command
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(assert_cmd::cargo::cargo_bin!("sockdoc"))
        .env("NO_COLOR", "1");
    command
}

/// A lab command (one that experiments in a throwaway namespace) run as the current user;
/// `None`, after a SKIP line, where it exits 3 because unprivileged user namespaces are
/// refused here.
pub fn lab_json(args: &[&str]) -> Option<(Value, Output)> {
    let (report, output) = run_json(args);
    if output.status.code() == Some(3) && !is_root() {
        skip(format_args!(
            "SKIP (unprivileged user namespaces are not allowed here): {}",
            report["error"]
        ));
        return None;
    }
    Some((report, output))
}

/// A lab command run as nobody (needs root to switch); `None`, after a SKIP line, where the
/// kernel refuses unprivileged user namespaces — whose error must then name the way out.
pub fn lab_json_as_nobody(args: &[&str]) -> Option<(Value, Output)> {
    let output = sockdoc_as_nobody()
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    if output.status.code() == Some(3) {
        let error = report["error"].as_str().unwrap();
        assert!(error.contains("Run sockdoc as root"), "{error}");
        skip(format_args!(
            "SKIP (unprivileged user namespaces are not allowed here): {error}"
        ));
        return None;
    }
    Some((report, output))
}

/// Prints a SKIP line where the person running `cargo test` sees it: the harness captures
/// `println!`/`eprintln!` of a passing test, but not writes to the stderr handle itself.
pub fn skip(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Prints a SKIP line and returns true when `tool` does not run here (`tool --version`).
pub fn skip_unless_installed(tool: &str, what: &str) -> bool {
    let runs = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok();
    if !runs {
        skip(format_args!("SKIP ({tool} is not installed): {what}"));
    }
    !runs
}

/// Whether this host can bind ::1 (IPv6 may be disabled).
pub fn ipv6_loopback_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// Runs `script` (sh) as root in a private network namespace that dies with it, with lo
/// up and `$SOCKDOC` naming the binary under test. Knobs written under /proc/sys/net in
/// the script change only that namespace, never the host.
pub fn in_private_netns(script: &str) -> Output {
    let exe = assert_cmd::cargo::cargo_bin!("sockdoc");
    std::process::Command::new("unshare")
        .args(["--net", "sh", "-ec"])
        .arg(format!("ip link set lo up\n{script}"))
        .env("SOCKDOC", exe)
        .env("NO_COLOR", "1")
        .output()
        .expect("unshare runs")
}

/// stdout as one JSON document, or a panic that shows stderr.
pub fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The Python that Debian's python3-* packages install modules for: /usr/bin/python3 when it
/// exists (a python3 earlier on PATH, from pyenv or a virtualenv, does not see them), else
/// whatever `python3` is. scripts/install-test-tools.sh checks modules with the same one.
pub fn system_python3() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Whether `system_python3()` can `import module` (e.g. "yaml" from python3-yaml,
/// "junitparser" from python3-junitparser).
pub fn python_module_available(module: &str) -> bool {
    std::process::Command::new(system_python3())
        .args(["-c", &format!("import {module}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Prints a SKIP line and returns true when `module` does not import in `system_python3()`.
pub fn skip_unless_python_module(module: &str, what: &str) -> bool {
    let available = python_module_available(module);
    if !available {
        skip(format_args!(
            "SKIP (python module {module} is not installed): {what}"
        ));
    }
    !available
}
