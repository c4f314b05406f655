//! Renderer snapshots of every command from a real run on loopback: the table a user sees,
//! with what varies from run to run redacted (every number becomes `N`, every duration unit
//! `<t>`, runs of spaces and rule characters one). What stays is the layout's words, headings,
//! labels and verdict sentences in order — a renderer change shows up as a snapshot diff.
//! Measured values are asserted by the command's own tests; the fixed-sample snapshots in
//! tests/render.rs pin exact widths.
//!
//! The kernel decides which knobs exist, so these snapshots are of Linux 6.18 (the CI
//! kernel); on another kernel a line for a knob it lacks is a diff to review, not a bug.

mod common;

use std::net::TcpListener;

use common::sockdoc;

/// Runs sockdoc as a pipe at a width that wraps nothing, and redacts what varies.
fn redacted_run(args: &[&str]) -> (String, Option<i32>) {
    let output = sockdoc()
        .args(args)
        .env("COLUMNS", "250")
        .env("NO_COLOR", "1")
        .output()
        .expect("sockdoc runs");
    let text = String::from_utf8(output.stdout).expect("UTF-8 output");
    (redact(&text), output.status.code())
}

fn redact(text: &str) -> String {
    let numbers = regex::Regex::new(r"[0-9]+(\.[0-9]+)?").unwrap();
    let units = regex::Regex::new(r"\bN ?(ns|µs|us|ms|s|m|h)\b").unwrap();
    let rules = regex::Regex::new(r"[─━┄┈═]{2,}").unwrap();
    let spaces = regex::Regex::new(r" {2,}").unwrap();
    let text = numbers.replace_all(text, "N");
    let text = units.replace_all(&text, "N<t>");
    let text = rules.replace_all(&text, "─");
    spaces.replace_all(&text, " ").into_owned()
}

macro_rules! live_snapshot {
    ($name:ident, $expected_exit:expr, [$($arg:expr),* $(,)?]) => {
        #[test]
        fn $name() {
            let (text, code) = redacted_run(&[$($arg),*]);
            assert_eq!(code, Some($expected_exit), "{text}");
            insta::assert_snapshot!(text);
        }
    };
}

live_snapshot!(backlog_table, 0, ["backlog"]);
live_snapshot!(udp_table, 0, ["udp"]);
live_snapshot!(partial_send_table, 0, ["partial-send"]);
live_snapshot!(peer_close_table, 0, ["peer-close"]);
live_snapshot!(close_wait_table, 0, ["close-wait"]);
live_snapshot!(timeouts_table, 0, ["timeouts"]);

/// nagle's tables are pinned; its attribution is prose whose sentences follow what was
/// measured (whether autocorking fired, whether the window merged writes — both vary with
/// the load of the machine), so only its sections are checked to be there.
#[test]
fn nagle_table() {
    let (text, code) = redacted_run(&["nagle", "--rounds", "4"]);
    assert_eq!(code, Some(0), "{text}");
    let (tables, prose) = text.split_at(text.find("Attribution").expect("an Attribution section"));
    for section in ["Nagle on:", "TCP_NODELAY:", "Verdict:", "Fix:"] {
        assert!(prose.contains(section), "{section} missing:\n{prose}");
    }
    insta::assert_snapshot!(tables);
}
live_snapshot!(reuse_test_table, 0, ["reuse-test"]);
live_snapshot!(sockopt_table, 0, ["sockopt"]);
live_snapshot!(sockopt_defaults_table, 0, ["sockopt", "--defaults"]);
live_snapshot!(
    sysctl_advice_fixture_table,
    1,
    [
        "sysctl-advice",
        "--root",
        "tests/fixtures/sysctl/old-kernel"
    ]
);

#[test]
fn sockets_listing_table() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let (text, code) = redacted_run(&["sockets", "--tcp", "--port", &port]);
    assert_eq!(code, Some(0), "{text}");
    // The owner is this test binary, whose name carries cargo's hash.
    let owner = regex::Regex::new(r"live_render-\S*/").unwrap();
    insta::assert_snapshot!(owner.replace_all(&text, "live_render/"));
}

#[test]
fn inspect_port_table() {
    // std's listener: SO_REUSEADDR on, backlog 128 (below somaxconn): one advise finding.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let (text, code) = redacted_run(&["inspect", "--port", &port, "--for", "0"]);
    assert_eq!(code, Some(0), "{text}");
    // The owner is this test binary: its name (15 bytes of comm) carries part of cargo's hash.
    let owner = regex::Regex::new(r"live_render[^\s(,]*").unwrap();
    // Prose wraps before the figures are redacted, so where it wraps varies with the pid and
    // the port: join each paragraph's continuation lines.
    let continued = regex::Regex::new(r"\n (?:(?:Why|Fix|Reproduce):)?").unwrap();
    let text = continued.replace_all(&text, |c: &regex::Captures| {
        if c[0].len() > 2 {
            c[0].to_owned()
        } else {
            " ".to_owned()
        }
    });
    insta::assert_snapshot!(owner.replace_all(&text, "live_render"));
}

#[test]
fn sockets_summary_table() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let (text, code) = redacted_run(&["sockets", "--tcp", "--summary", "--port", &port]);
    assert_eq!(code, Some(0), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn redaction_keeps_words_and_drops_figures() {
    assert_eq!(
        redact("took 9 of 16   clients in 1.5ms ──── ok; SYNs --root"),
        "took N of N clients in N<t> ─ ok; SYNs --root"
    );
}

/// `ports` needs a throwaway namespace: as root a network namespace, otherwise a user
/// namespace, which some hosts forbid (exit 3, skipped there).
#[test]
fn ports_table() {
    let (text, code) = redacted_run(&["ports"]);
    if code == Some(3) && !common::is_root() {
        common::skip(format_args!(
            "SKIP (unprivileged user namespaces are not allowed here): ports"
        ));
        return;
    }
    assert_eq!(code, Some(0), "{text}");
    insta::assert_snapshot!(text);
}

/// keepalive's middlebox needs nft, and root for its conntrack table to be readable (the
/// "flow forgotten" words are part of the table).
#[test]
fn keepalive_table() {
    if common::skip_unless_root("the keepalive table's conntrack figures")
        || common::skip_unless_installed("nft", "the keepalive lesson's middlebox")
    {
        return;
    }
    let (text, code) = redacted_run(&["keepalive"]);
    assert_eq!(code, Some(0), "{text}");
    // The prose after the table carries figures of varying width, so where it wraps varies
    // from run to run: the snapshot ends at the table, and the prose sections are checked to
    // be there.
    let (table, prose) = text.split_at(text.find("Mechanism:").expect("a Mechanism section"));
    for heading in ["Verdict:", "Fix:", "Note:"] {
        assert!(prose.contains(heading), "{heading} missing:\n{prose}");
    }
    insta::assert_snapshot!(table);
}
