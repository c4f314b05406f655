//! Renderer snapshots: fixed reports in, exact text and JSON out. No sockets here; the
//! loopback tests cover what the reports contain.

use sockdoc::commands::Report;
use sockdoc::commands::reuse_test::{
    Api, FlagReadback, HolderState, Occupant, PortStatus, Reproduction, ReuseReport, TimeWaitEntry,
    TimeWaitProbe, Trial, WaitResult,
};
use sockdoc::exit::Exit;
use sockdoc::report::{self, Format, Style};
use sockdoc::sys::diag::{Source, TcpState};

fn trial(name: &'static str, outcome: &str, expected: &str, port: u16) -> Trial {
    Trial {
        name,
        port,
        holder: HolderState::TimeWait,
        old_api: Api::Socket2,
        new_api: Api::Std,
        old_address: format!("127.0.0.1:{port}"),
        new_address: format!("127.0.0.1:{port}"),
        old_reuseaddr: false,
        new_reuseaddr: true,
        old_reuseport: false,
        new_reuseport: false,
        matches: outcome == expected,
        outcome: outcome.into(),
        failed_step: (outcome != "ok").then_some("bind"),
        expected: expected.into(),
        rule: "Linux needs SO_REUSEADDR on both sockets.",
        fix: "Set SO_REUSEADDR in the old server too.",
        evidence: vec![format!(
            "server side 127.0.0.1:{port} in TIME_WAIT, expires in 59s"
        )],
        source: "inet_bind_conflict(), net/ipv4/inet_connection_sock.c",
    }
}

fn sample() -> ReuseReport {
    ReuseReport {
        command: "reuse-test",
        sockdoc_version: "0.0.0-test",
        address: "127.0.0.1".into(),
        port: 40001,
        requested_port: Some(8080),
        listing_source: Source::SockDiag,
        listing_note: None,
        occupants: vec![Occupant {
            state: TcpState::TimeWait,
            local: "127.0.0.1:8080".into(),
            remote: "127.0.0.1:51000".into(),
            uid: None,
            pid: None,
            process: None,
            expires_ms: Some(42_300),
            conflicts: true,
            inode: 0,
        }],
        port_status: PortStatus::TimeWaitOnly,
        time_wait_probe: Some(TimeWaitProbe {
            bind_with_reuseaddr: "EADDRINUSE".into(),
            bind_with_reuseport: "ok".into(),
            old_had_reuseaddr: false,
            old_had_reuseport: true,
            binds_now_with: vec!["SO_REUSEPORT"],
            longest_expires_ms: Some(42_300),
        }),
        reproduction: Some(Reproduction {
            port: 40001,
            server: "127.0.0.1:40001".into(),
            client: "127.0.0.1:50002".into(),
            server_state: Some(TcpState::TimeWait),
            expires_ms: Some(59_900),
            bind_without_reuseaddr: "EADDRINUSE".into(),
            bind_with_reuseaddr: "ok".into(),
            reproduced: true,
        }),
        time_wait: vec![TimeWaitEntry {
            local: "127.0.0.1:40001".into(),
            remote: "127.0.0.1:50002".into(),
            expires_ms: 59_900,
        }],
        trials: vec![
            trial(
                "TIME_WAIT, REUSEADDR on new only",
                "EADDRINUSE",
                "EADDRINUSE",
                40010,
            ),
            trial(
                "a trial the kernel disagreed with",
                "ok",
                "EADDRINUSE",
                40011,
            ),
        ],
        std_listener_defaults: Some(FlagReadback {
            reuseaddr: true,
            reuseport: false,
        }),
        wait: Some(WaitResult {
            local: "127.0.0.1:40001".into(),
            remote: "127.0.0.1:50002".into(),
            lifetime_ms: 60_420,
            expected_ms: 60_000,
            expected_min_ms: 59_000,
            expected_max_ms: 66_370,
            timer_rounding_max_ms: 5_120,
            matches: true,
            tcp_fin_timeout_s: Some(30),
        }),
        port_changed_during_run: false,
        port_change: None,
        owner_search: None,
        verdict: "The verdict sentence.".into(),
        fix: "The fix sentence.".into(),
        notes: vec!["A note.".into()],
        elapsed_us: 2_500,
    }
}

fn render(format: Format, style: Style) -> String {
    let mut out = Vec::new();
    report::render(
        &Report::ReuseTest(Box::new(sample())),
        Exit::Clean,
        format,
        style,
        &mut out,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn reuse_test_table() {
    insta::assert_snapshot!(render(Format::Table, Style::plain(100)));
}

#[test]
fn reuse_test_table_fits_a_narrow_terminal() {
    let text = render(Format::Table, Style::plain(60));
    for line in text.lines().filter(|l| l.starts_with(['┌', '│', '└', '╞'])) {
        assert!(line.chars().count() <= 60, "too wide: {line}");
    }
}

#[test]
fn reuse_test_colour_only_when_asked() {
    assert!(!render(Format::Table, Style::plain(100)).contains('\u{1b}'));
    let coloured = Style {
        color: true,
        ..Style::plain(100)
    };
    assert!(render(Format::Table, coloured).contains('\u{1b}'));
}

#[test]
fn reuse_test_json() {
    let text = render(Format::Json, Style::plain(100));
    let value: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
    insta::assert_json_snapshot!(value);
}
