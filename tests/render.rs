//! Renderer snapshots: fixed reports in, exact text and JSON out. No sockets here; the
//! loopback tests cover what the reports contain.

use std::net::SocketAddr;

use sockdoc::commands::reuse_test::{
    Api, BindOutcome, BindStep, FlagReadback, HolderState, Occupant, PortStatus, Reproduction,
    ReuseOption, ReuseReport, TimeWaitEntry, TimeWaitProbe, Trial, WaitResult,
};
use sockdoc::commands::scenario::{Check, Measured, MeasuredRow, ScenarioReport, uncovered_keys};
use sockdoc::commands::sockets::{Footer, HolderRow, InfoRow, SocketRow};
use sockdoc::commands::{Output, Report};
use sockdoc::exit::Exit;
use sockdoc::report::{self, Format, Style};
use sockdoc::sys::diag::Source;
use sockdoc::sys::record::{Proto, TcpState};
use unicode_width::UnicodeWidthStr;

fn trial(name: &'static str, outcome: BindOutcome, expected: BindOutcome, port: u16) -> Trial {
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
        outcome,
        failed_step: (outcome != BindOutcome::Ok).then_some(BindStep::Bind),
        expected,
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
            bind_with_reuseaddr: BindOutcome::ADDR_IN_USE,
            bind_with_reuseport: BindOutcome::Ok,
            old_had_reuseaddr: false,
            old_had_reuseport: true,
            binds_now_with: vec![ReuseOption::ReusePort],
            longest_expires_ms: Some(42_300),
        }),
        reproduction: Some(Reproduction {
            port: 40001,
            server: "127.0.0.1:40001".into(),
            client: "127.0.0.1:50002".into(),
            server_state: Some(TcpState::TimeWait),
            expires_ms: Some(59_900),
            bind_without_reuseaddr: BindOutcome::ADDR_IN_USE,
            bind_with_reuseaddr: BindOutcome::Ok,
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
                BindOutcome::ADDR_IN_USE,
                BindOutcome::ADDR_IN_USE,
                40010,
            ),
            trial(
                "a trial the kernel disagreed with",
                BindOutcome::Ok,
                BindOutcome::ADDR_IN_USE,
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
    report::Writer::new("reuse-test", format, style, &mut out)
        .report(&Report::ReuseTest(Box::new(sample())), Exit::Clean)
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn reuse_test_table() {
    insta::assert_snapshot!(render(Format::Table, Style::plain(100)));
}

#[test]
fn reuse_test_table_fits_a_narrow_terminal() {
    // Tables, and the prose around them: verdicts, rules, legends.
    let text = render(Format::Table, Style::plain(60));
    assert_fits(&text, 60);
}

#[test]
fn reuse_test_colour_does_not_change_the_layout() {
    let plain = render(Format::Table, Style::plain(60));
    let coloured = render(
        Format::Table,
        Style {
            color: true,
            ..Style::plain(60)
        },
    );
    assert_eq!(strip_ansi(&coloured), plain);
}

/// Every line within `width` display columns.
fn assert_fits(text: &str, width: usize) {
    for line in text.lines() {
        assert!(
            UnicodeWidthStr::width(line) <= width,
            "wider than {width}: {line}\n{text}"
        );
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars
                .by_ref()
                .find(|c| ('\u{40}'..='\u{7e}').contains(c) && *c != '[');
        } else {
            out.push(c);
        }
    }
    out
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
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
    // The envelope fills in the running version: the only field not from the sample.
    assert_eq!(value["sockdoc_version"], sockdoc::VERSION);
    value["sockdoc_version"] = "[version]".into();
    insta::assert_json_snapshot!(value);
}

/// A lesson report with figures in every unit the scenarios use.
fn scenario() -> ScenarioReport {
    let details = serde_json::json!({
        "recv_timeout_ms": 200,
        "blocking_recv_waited_us": 201_266,
        "blocking_recv_result": "EAGAIN",
        "somaxconn": 4096,
        "wmem_max": 4_194_304,
        "hz": 250,
        "tcp_abort_on_overflow": 0,
        "tcp_rto_max_ms": 120_000,
        "syn_retry_schedule_ms": [1000, 3000, 7000, 15_000, 31_000, 63_000],
        "listen_drops": null,
        "bytes": 1_048_576,
        "first_send_bytes": 2_626_560,
        "udp_sent_sizes": [8, 100, 512],
        "queue_fill_percent": 90,
        "some_new_figure_us": 1500
    });
    let serde_json::Value::Object(details) = details else {
        unreachable!()
    };
    ScenarioReport {
        command: "timeouts",
        address: "127.0.0.1".into(),
        details,
        measured: measured_sample(),
        checks: vec![Check::new(
            "a blocking recv() with SO_RCVTIMEO fails with EAGAIN after the set time",
            "EAGAIN after 201.3ms",
            "EAGAIN after 200.0ms",
            true,
        )],
        mechanism: "The mechanism, a sentence long enough to need wrapping on any terminal \
                    narrower than its own length, which is well over eighty columns."
            .into(),
        verdict: "The verdict.".into(),
        fix: "The fix.".into(),
        notes: vec![
            "A note that is also long enough to wrap once it meets a terminal of \
                     sixty columns."
                .into(),
        ],
        elapsed_us: 1,
    }
}

/// The sample's figures as the Measured section gets them: each key's label and its value
/// typed by its unit (the last two stand for figures a new scenario might add).
fn measured_sample() -> Vec<MeasuredRow> {
    use Measured::{Bytes, Count, Hertz, KnobBytes, KnobMillis, Micros, Millis};
    vec![
        MeasuredRow::new("recv_timeout_ms", "SO_RCVTIMEO set", Millis(200)),
        MeasuredRow::new(
            "blocking_recv_waited_us",
            "blocking recv() waited",
            Micros(201_266),
        ),
        MeasuredRow::new(
            "blocking_recv_result",
            "blocking recv() result",
            Measured::text("EAGAIN"),
        ),
        MeasuredRow::new("somaxconn", "net.core.somaxconn", Count(4096)),
        MeasuredRow::new("wmem_max", "net.core.wmem_max", KnobBytes(4_194_304)),
        MeasuredRow::new("hz", "kernel tick rate (HZ)", Hertz(250)),
        MeasuredRow::new(
            "tcp_abort_on_overflow",
            "net.ipv4.tcp_abort_on_overflow",
            Count(0),
        ),
        MeasuredRow::new(
            "tcp_rto_max_ms",
            "net.ipv4.tcp_rto_max_ms",
            KnobMillis(120_000),
        ),
        MeasuredRow::new(
            "syn_retry_schedule_ms",
            "SYN resent, time since connect()",
            Measured::list(&[1000, 3000, 7000, 15_000, 31_000, 63_000], Millis),
        ),
        MeasuredRow::new(
            "listen_drops",
            "TcpExtListenDrops rise",
            Measured::Unavailable,
        ),
        MeasuredRow::new("bytes", "bytes to send", Bytes(1_048_576)),
        MeasuredRow::new(
            "first_send_bytes",
            "first send() accepted",
            Bytes(2_626_560),
        ),
        MeasuredRow::new(
            "udp_sent_sizes",
            "UDP datagrams sent",
            Measured::list(&[8, 100, 512], Bytes),
        ),
        MeasuredRow::new("queue_fill_percent", "queue fill", Measured::Percent(90.0)),
        MeasuredRow::new("some_new_figure_us", "some new figure", Micros(1500)),
    ]
}

#[test]
fn the_scenario_sample_has_one_row_per_key() {
    let report = scenario();
    assert_eq!(
        uncovered_keys(&report.details, &report.measured),
        Vec::<String>::new()
    );
}

fn render_scenario(style: Style) -> String {
    let mut out = Vec::new();
    report::Writer::new("test", Format::Table, style, &mut out)
        .report(&Report::Scenario(Box::new(scenario())), Exit::Clean)
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn scenario_table() {
    insta::assert_snapshot!(render_scenario(Style::plain(80)));
}

#[test]
fn scenario_measured_shows_labels_and_units_not_keys() {
    let text = render_scenario(Style::plain(60));
    assert_fits(&text, 60);
    for raw in [
        "_us",
        "recv timeout ms",
        "waited us",
        "201266",
        "1048576",
        "wmem max",
        "hz ",
    ] {
        assert!(
            !text.contains(raw),
            "raw key or figure {raw:?} shown:\n{text}"
        );
    }
    for human in [
        "blocking recv() waited",
        "201.3ms",
        "net.ipv4.tcp_abort_on_overflow",
        "1 MiB",
        "2.5 MiB (2626560 B)",
        "some new figure  ",
        "1.5ms",
        "90%",
        "net.core.wmem_max",
        "4194304 (4 MiB)",
        "kernel tick rate (HZ)",
        "250 Hz",
    ] {
        assert!(text.contains(human), "{human:?} missing:\n{text}");
    }
}

#[test]
fn scenario_json_keeps_the_integer_keys() {
    let mut out = Vec::new();
    report::Writer::new("test", Format::Json, Style::plain(80), &mut out)
        .report(&Report::Scenario(Box::new(scenario())), Exit::Clean)
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["blocking_recv_waited_us"], 201_266);
    assert_eq!(value["tcp_rto_max_ms"], 120_000);
    assert_eq!(value["bytes"], 1_048_576);
}

/// Socket rows streamed through the table sink at `width`.
fn socket_rows(width: u16) -> String {
    let v4 = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let long_v6: SocketAddr = "[fd12:3456:789a:1::1234:5678]:443".parse().unwrap();
    let rows = [
        SocketRow {
            proto: Proto::Tcp,
            state: TcpState::Listen,
            local: v4(8080),
            remote: v4(0),
            recv_q: 0,
            send_q: 4096,
            timer: None,
            expires_ms: None,
            uid: Some(1000),
            inode: 1,
            pid: Some(4_194_303),
            process: Some("a-long-process-name"),
            other_holders: vec![HolderRow {
                pid: 4_194_304,
                process: "a-long-process-name",
            }],
            info: None,
        },
        SocketRow {
            proto: Proto::Tcp,
            state: TcpState::TimeWait,
            local: v4(8080),
            remote: v4(51_000),
            recv_q: 0,
            send_q: 0,
            timer: Some("timewait"),
            expires_ms: Some(59_900),
            uid: None,
            inode: 0,
            pid: None,
            process: None,
            other_holders: Vec::new(),
            info: None,
        },
        SocketRow {
            proto: Proto::Tcp,
            state: TcpState::Established,
            local: long_v6,
            remote: "[fd12:3456:789a:1::9abc:def0]:51000".parse().unwrap(),
            recv_q: 0,
            send_q: 0,
            timer: Some("keepalive"),
            expires_ms: Some(7_199_000),
            uid: Some(33),
            inode: 2,
            pid: Some(77),
            process: Some("nginx"),
            other_holders: Vec::new(),
            info: Some(InfoRow {
                rtt_us: Some(1234),
                rttvar_us: Some(600),
                cwnd: Some(10),
                mss: Some(1448),
                retransmits: Some(0),
                delivery_rate: Some(125_000_000),
            }),
        },
    ];
    let mut out = Vec::new();
    {
        let mut sink = report::sockets::sink(Format::Table, Style::plain(width), &mut out);
        for row in &rows {
            sink.socket(row).unwrap();
        }
        sink.finish(&Footer {
            count: 3,
            source: Source::SockDiag,
            notes: vec![],
            summary: None,
            exit_code: 0,
        })
        .unwrap();
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn socket_rows_fit_every_width_and_say_what_they_hide() {
    for width in [50, 60, 80, 100, 111, 160] {
        let text = socket_rows(width);
        assert_fits(&text, usize::from(width));
        // The owner's pid is never cut, whatever happens to its name.
        assert!(text.contains("/4194303"), "{width}: {text}");
        assert!(text.contains("/77"), "{width}: {text}");
        assert_eq!(text.contains(" hidden"), width < 111, "{width}: {text}");
    }
    // One line per IPv4 socket at the pipe width, uid and process last, as scripts read it.
    let text = socket_rows(100);
    let time_wait = text.lines().find(|l| l.contains("TIME_WAIT")).unwrap();
    assert!(time_wait.ends_with(" - -"), "{time_wait}");
}

#[test]
fn socket_rows_snapshot() {
    insta::assert_snapshot!(format!(
        "{}\n{}\n{}",
        socket_rows(80),
        socket_rows(100),
        socket_rows(160)
    ));
}

#[test]
fn a_single_socket_is_counted_in_the_singular() {
    let footer = |count| {
        let mut out = Vec::new();
        let mut sink = report::sockets::sink(Format::Table, Style::plain(100), &mut out);
        sink.finish(&Footer {
            count,
            source: Source::SockDiag,
            notes: vec![],
            summary: None,
            exit_code: 0,
        })
        .unwrap();
        drop(sink);
        String::from_utf8(out).unwrap()
    };
    let one = footer(1);
    assert!(
        one.lines()
            .any(|l| l == "1 socket (from NETLINK_SOCK_DIAG)"),
        "{one}"
    );
    let two = footer(2);
    assert!(
        two.lines()
            .any(|l| l == "2 sockets (from NETLINK_SOCK_DIAG)"),
        "{two}"
    );
}
