//! Every subcommand run with invalid values: exit 2, the message names the flag, and under
//! `--json` stdout is exactly one JSON document with `exit_code` 2. Nothing panics. Each case
//! is refused before any socket opens, so the whole table runs in well under a second.

mod common;

use common::sockdoc;

/// (arguments, what stderr must name: the flag, or for a positional its value name)
const CASES: &[(&[&str], &str)] = &[
    // completions and man
    (&["completions"], "<SHELL>"),
    (&["completions", "tcsh"], "<SHELL>"),
    (&["completions", "bash", "zsh"], "zsh"),
    (&["man", "nagel"], "[COMMAND]"),
    (&["man", "help"], "[COMMAND]"),
    // global flags, on any command
    (&["reuse-test", "--timeout", "999ns"], "--timeout"),
    (&["reuse-test", "--timeout", "0"], "--timeout"),
    (&["reuse-test", "--timeout", "11m"], "--timeout"),
    (&["reuse-test", "--timeout", "soon"], "--timeout"),
    (&["reuse-test", "--timeout", "-1s"], "--timeout"),
    (&["reuse-test", "--color", "purple"], "--color"),
    (&["reuse-test", "--no-such-flag"], "--no-such-flag"),
    // --root is global: every command refuses a root that is not a directory (after parsing)
    (&["nagle", "--root", "/nonexistent/sockdoc-root"], "--root"),
    (
        &["sockets", "--root", "/nonexistent/sockdoc-root"],
        "--root",
    ),
    (&["backlog", "--root", "/etc/hostname"], "--root"),
    // a saved tree is for sysctl-advice; a live experiment refuses one instead of ignoring it
    (&["udp", "--root", "/tmp"], "--root"),
    (
        &["sockets", "--root", "tests/fixtures/sysctl/default"],
        "--root",
    ),
    // reuse-test
    (&["reuse-test", "70000"], "PORT"),
    (&["reuse-test", "-1"], "PORT"),
    (&["reuse-test", "--addr", "localhost"], "--addr"),
    // nagle
    (&["nagle", "--nodelay", "maybe"], "--nodelay"),
    (&["nagle", "--warmup", "-1"], "--warmup"),
    (&["nagle", "--rounds", "0"], "--rounds"),
    (&["nagle", "--messages", "10001"], "--messages"),
    (&["nagle", "--size", "0"], "--size"),
    (&["nagle", "--size", "1M"], "--size"),
    (&["nagle", "--size", "1.5K"], "--size"),
    (&["nagle", "--port", "65536"], "--port"),
    (&["nagle", "--addr", "192.0.2.1"], "--addr"),
    (&["nagle", "--max-p99", "0s"], "--max-p99"),
    (&["nagle", "--max-p99", "500ns"], "--max-p99"),
    (&["nagle", "--max-p99", "-5ms"], "--max-p99"),
    // shorter than the delayed-ACK stall nagle measures (refused after parsing, exit 2)
    (&["nagle", "--timeout", "30ms"], "--timeout"),
    // sysctl-advice (a missing --root is refused after parsing, still exit 2)
    (&["sysctl-advice", "--role", "router"], "--role"),
    (&["sysctl-advice", "--format", "yaml"], "--format"),
    (
        &["sysctl-advice", "--root", "/nonexistent/sockdoc-root"],
        "--root",
    ),
    // sockets
    (&["sockets", "--state", "half-open"], "--state"),
    (&["sockets", "--port", "http"], "--port"),
    (&["sockets", "-4", "-6"], "--ipv4"),
    (
        &["sockets", "--state", "established", "--listening"],
        "--listening",
    ),
    // sockopt (bad --set values are refused after parsing, still exit 2)
    (&["sockopt", "--set", "rcvbuf"], "--set"),
    (&["sockopt", "--set", "bogus=1"], "--set"),
    (&["sockopt", "--set", "rcvbuf=lots"], "--set"),
    (&["sockopt", "--set", "rcvbuf=4G"], "--set"),
    (&["sockopt", "--set", "ttl=256"], "--set"),
    (&["sockopt", "--set", "nodelay=on", "--udp"], "--set"),
    (&["sockopt", "--tcp", "--udp"], "--udp"),
    (&["sockopt", "--listen", "--connect"], "--connect"),
    (
        &["sockopt", "--defaults", "--set", "nodelay=on"],
        "--defaults",
    ),
    (&["sockopt", "--connect", "not-an-address"], "--connect"),
    // backlog
    (&["backlog", "--backlog", "-1"], "--backlog"),
    (&["backlog", "--clients", "0"], "--clients"),
    (&["backlog", "--clients", "1025"], "--clients"),
    (&["backlog", "--addr", "8.8.8.8"], "--addr"),
    // udp
    (&["udp", "--size", "0"], "--size"),
    (&["udp", "--size", "65508"], "--size"),
    (&["udp", "--bufsize", "big"], "--bufsize"),
    // partial-send
    (&["partial-send", "--bytes", "0"], "--bytes"),
    (&["partial-send", "--bytes", "65M"], "--bytes"),
    (
        &["partial-send", "--bytes", "99999999999999999999"],
        "--bytes",
    ),
    (&["partial-send", "--sndbuf", "2G"], "--sndbuf"),
    (&["partial-send", "--sndbuf", "-4K"], "--sndbuf"),
    // peer-close
    (&["peer-close", "--addr", "10.0.0.1"], "--addr"),
    (&["peer-close", "--addr", "::2"], "--addr"),
    // close-wait
    (&["close-wait", "--clients", "0"], "--clients"),
    (&["close-wait", "--clients", "257"], "--clients"),
    (&["close-wait", "--addr", "192.0.2.1"], "--addr"),
    // check
    (&["check", "--fail-on", "sometimes"], "--fail-on"),
    (&["check", "--for", "2h"], "--for"),
    (&["check", "--port", "0"], "--port"),
    (&["check", "--only", "kernal"], "--skip/--only"),
    (
        &["check", "--config", "/nonexistent/sockdoc.toml"],
        "--config",
    ),
    (&["check", "--format", "conf"], "--format conf"),
    // prove
    (&["prove", "tcp_fin_timout"], "tcp_fin_timout"),
    // ports
    (&["ports", "--ports", "1"], "--ports"),
    (&["ports", "--ports", "1001"], "--ports"),
    // keepalive
    (&["keepalive", "no-keep-alive"], "no-keep-alive"),
    // inspect
    (&["inspect", "--for", "1h1s"], "--for"),
    (&["inspect", "--pid", "0"], "--pid"),
    (&["inspect", "--port", "0"], "--port"),
    (&["inspect", "--fail-on", "sometimes"], "--fail-on"),
    (&["inspect", "--process", ""], "--process"),
    // timeouts
    (&["timeouts", "--recv-timeout", "999us"], "--recv-timeout"),
    (&["timeouts", "--recv-timeout", "1h"], "--recv-timeout"),
    (
        &["timeouts", "--connect-timeout", "0s"],
        "--connect-timeout",
    ),
];

/// Every subcommand clap knows (but `help`) has at least one row above.
#[test]
fn the_table_covers_every_subcommand() {
    use clap::CommandFactory;
    for sub in sockdoc::cli::Cli::command().get_subcommands() {
        let name = sub.get_name();
        assert!(
            CASES.iter().any(|(args, _)| args[0] == name),
            "no bad-input case for {name}"
        );
    }
}

#[test]
fn bad_values_exit_2_naming_the_flag() {
    for (args, flag) in CASES {
        let output = sockdoc().args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?} must name {flag}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            output.stdout.is_empty(),
            "{args:?}: stdout without --json: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

#[test]
fn bad_values_under_json_print_one_document_with_exit_code_2() {
    for (args, flag) in CASES {
        let output = sockdoc().args(*args).arg("--json").output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        // Exactly one document: a second one (or trailing text) fails to parse.
        let document: serde_json::Value =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
                panic!(
                    "{args:?}: stdout is not one JSON document ({e}):\n{}",
                    String::from_utf8_lossy(&output.stdout)
                )
            });
        assert_eq!(document["command"], args[0], "{args:?}: {document}");
        assert_eq!(document["exit_code"], 2, "{args:?}: {document}");
        assert_eq!(document["sockdoc_version"], env!("CARGO_PKG_VERSION"));
        let error = document["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(flag),
            "{args:?}: error must name {flag}: {error}"
        );
    }
}

#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"\xff");
    for json in [false, true] {
        let mut cmd = sockdoc();
        cmd.args(["reuse-test"]).arg(bad);
        if json {
            cmd.arg("--json");
        }
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "json {json}: {stderr}");
        assert!(!stderr.contains("panicked"), "json {json}: {stderr}");
        if json {
            let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(document["exit_code"], 2);
            assert_eq!(document["command"], "reuse-test");
        }
    }
}
