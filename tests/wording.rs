//! What sockdoc says in words. Every figure a lesson scenario measures reads as a label and
//! a unit in its human "Measured" section, never as its JSON key: each scenario runs once on
//! loopback for its real keys and rows, so a key added later without its row (or a row whose
//! unit is not the one its key names) fails here. And a count of one takes the singular
//! ("1 byte", "1 port").

mod common;

use serde_json::{Map, Value};

use common::run_json;
use sockdoc::cli::{Cli, Command};
use sockdoc::commands::scenario::{Measured, ScenarioReport};
use sockdoc::commands::{Context, Output, Report};
use sockdoc::commands::{backlog, partial_send, peer_close, timeouts, udp};
use sockdoc::exit::Exit;
use sockdoc::report::scenario::measured_rows;
use sockdoc::report::{self, Format, Style};
use sockdoc::sys::fs::Root;

use clap::Parser as _;

const SCENARIOS: [&str; 5] = ["backlog", "udp", "partial-send", "peer-close", "timeouts"];

/// The unit suffixes of the JSON contract.
const SUFFIXES: [&str; 4] = ["_us", "_ms", "_bytes", "_percent"];

/// The keys every scenario document has (the report's own fields and the envelope's
/// `command`, `sockdoc_version` and `exit_code`), taken from the struct itself so the details
/// are what is left.
fn shared_keys() -> Vec<String> {
    let empty = ScenarioReport {
        command: "udp",
        address: "127.0.0.1".into(),
        details: Map::new(),
        measured: Vec::new(),
        checks: Vec::new(),
        mechanism: String::new(),
        verdict: String::new(),
        fix: String::new(),
        notes: Vec::new(),
        elapsed_us: 0,
    };
    let Value::Object(shared) = serde_json::to_value(empty).unwrap() else {
        unreachable!("a report serializes to an object")
    };
    let mut keys: Vec<String> = shared.keys().cloned().collect();
    keys.extend(["command", "sockdoc_version", "exit_code"].map(String::from));
    keys
}

/// The keys of the scenario's measured figures, as its `--json` document gives them.
fn real_keys(command: &str) -> Vec<String> {
    let (document, output) = run_json(&[command]);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{command} did not run: {document:#}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let Value::Object(document) = document else {
        panic!("{command}: not an object")
    };
    let shared = shared_keys();
    let keys: Vec<String> = document
        .keys()
        .filter(|key| !shared.contains(key))
        .cloned()
        .collect();
    assert!(!keys.is_empty(), "{command} measured nothing");
    keys
}

/// The scenario's typed report, run in-process with its default arguments.
fn run_scenario(command: &str) -> ScenarioReport {
    let cli = Cli::try_parse_from(["sockdoc", command]).unwrap();
    let ctx = Context {
        timeout: cli.global.timeout,
        show_progress: false,
        root: Root::at(&cli.global.root),
        netns: None,
        every_row: false,
    };
    let result = match &cli.command {
        Command::Backlog(args) => backlog::run(args, &ctx),
        Command::Udp(args) => udp::run(args, &ctx),
        Command::PartialSend(args) => partial_send::run(args, &ctx),
        Command::PeerClose(args) => peer_close::run(args, &ctx),
        Command::Timeouts(args) => timeouts::run(args, &ctx),
        _ => unreachable!("{command} is no scenario"),
    };
    let (report, exit) = result.unwrap_or_else(|e| panic!("{command} did not run: {e:#}"));
    assert!(matches!(exit, Exit::Clean | Exit::Finding), "{command}");
    report
}

fn is_bare_integer(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `value` is in the unit the key's `suffix` names (each item of a list; a figure
/// this host could not give has no unit to show).
fn in_unit(suffix: &str, value: &Measured) -> bool {
    match value {
        Measured::List(items) => items.iter().all(|item| in_unit(suffix, item)),
        Measured::Unavailable => true,
        Measured::Micros(_) => suffix == "_us",
        Measured::Millis(_) | Measured::KnobMillis(_) => suffix == "_ms",
        Measured::Bytes(_) | Measured::KnobBytes(_) => suffix == "_bytes",
        Measured::Percent(_) => suffix == "_percent",
        _ => false,
    }
}

#[test]
fn every_measured_key_of_every_scenario_has_a_label_and_a_unit() {
    let mut unlabelled = Vec::new();
    for command in SCENARIOS {
        let report = run_scenario(command);
        let keys: Vec<String> = report.details.keys().cloned().collect();
        assert_eq!(
            keys,
            real_keys(command),
            "{command}: the JSON document's figures are the details' keys, in order"
        );
        // A typed twin is shown by its text figure's row; every other key has a row of its
        // own, in the keys' order.
        let twins: Vec<&str> = report.measured.iter().filter_map(|row| row.twin).collect();
        for twin in &twins {
            assert!(
                keys.iter().any(|k| k == twin),
                "{command}: a row stands for {twin}, which is no key"
            );
        }
        let shown: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .filter(|key| !twins.contains(key))
            .collect();
        let row_keys: Vec<&str> = report.measured.iter().map(|row| row.key).collect();
        assert_eq!(
            row_keys, shown,
            "{command}: one row per figure that is not a typed twin, in order"
        );
        let rows = measured_rows(&report);
        assert_eq!(rows.len(), report.measured.len());
        for (row, (label, shown)) in report.measured.iter().zip(&rows) {
            let key = row.key;
            let suffix = SUFFIXES.iter().find(|suffix| key.ends_with(**suffix));
            let bare = suffix.map_or(key, |suffix| key.strip_suffix(suffix).unwrap());
            if *label == key.replace('_', " ") || *label == bare.replace('_', " ") {
                unlabelled.push(format!("{command}: {key} shown as {label:?}"));
            }
            // A key that names its unit shows that unit, not the bare integer.
            if let Some(suffix) = suffix
                && (!in_unit(suffix, &row.value) || is_bare_integer(shown))
            {
                unlabelled.push(format!(
                    "{command}: {key} shown without its unit: {shown} ({:?})",
                    row.value
                ));
            }
        }

        let mut out = Vec::new();
        report::Writer::new("wording", Format::Table, Style::plain(200), &mut out)
            .report(&Report::Scenario(Box::new(report)), Exit::Clean)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        for (label, _) in &rows {
            assert!(text.contains(label), "{label:?} not shown:\n{text}");
        }
    }
    assert!(
        unlabelled.is_empty(),
        "figures without a human label or unit (give them a row in their details struct's \
         `Details::measured`):\n{}",
        unlabelled.join("\n")
    );
}

/// Runs `sockdoc ARGS --json`, which must exit 0.
fn clean(args: &[&str]) -> Value {
    let (document, output) = run_json(args);
    assert_eq!(output.status.code(), Some(0), "{args:?}: {document:#}");
    document
}

fn texts(values: &Value) -> Vec<&str> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[test]
fn udp_counts_one_byte_in_the_singular() {
    let one_lost = clean(&["udp", "--size", "1025", "--bufsize", "1024"]);
    assert_eq!(
        one_lost["checks"][1]["measured"],
        "1025 bytes reported, 1024 received"
    );
    let verdict = one_lost["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("kept 1024 bytes;")
            && verdict.ends_with("and the other byte was discarded."),
        "{verdict}"
    );
    let one_byte = clean(&["udp", "--size", "1", "--bufsize", "1024"]);
    assert_eq!(
        one_byte["checks"][1]["measured"],
        "1 byte reported, 1 received"
    );
    assert_eq!(
        one_byte["checks"][1]["expected"],
        "1 byte reported, 1 received"
    );
}

#[test]
fn partial_send_of_one_byte_is_singular() {
    let report = clean(&["partial-send", "--bytes", "1"]);
    assert_eq!(
        report["checks"][0]["measured"],
        "1 of 1 byte, checksum equal"
    );
    let notes = texts(&report["notes"]);
    assert!(
        notes[0].starts_with("Not demonstrated: the 1 byte fit in the socket buffers"),
        "{notes:?}"
    );
    let verdict = report["verdict"].as_str().unwrap();
    assert!(
        verdict.contains("the first send() took the 1 byte.")
            && verdict.contains("delivered the 1 byte (0 partial sends, 0 EAGAINs)"),
        "{verdict}"
    );
}

#[test]
fn backlog_with_one_client_is_singular() {
    let report = clean(&["backlog", "--backlog", "0", "--clients", "1"]);
    let verdict = report["verdict"].as_str().unwrap();
    assert!(verdict.contains("took its one client into"), "{verdict}");
    let notes = texts(&report["notes"]);
    assert!(
        notes[0].contains("(SO_ERROR of the one client)"),
        "{notes:?}"
    );
}

#[test]
fn one_reserved_port_is_singular() {
    let root = tempfile::tempdir().unwrap();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sysctl/default/."
    );
    let copied = std::process::Command::new("cp")
        .args(["-a", fixture])
        .arg(root.path())
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::write(
        root.path()
            .join("proc/sys/net/ipv4/ip_local_reserved_ports"),
        "40000\n",
    )
    .unwrap();
    let (report, _) = run_json(&["sysctl-advice", "--root", root.path().to_str().unwrap()]);
    let reserved = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "net.ipv4.ip_local_reserved_ports")
        .unwrap_or_else(|| panic!("no reserved-ports finding: {report:#}"));
    assert_eq!(
        reserved["reason"],
        "1 port reserved (1 inside the ephemeral range): connect() and bind(0) skip it."
    );
}

#[test]
fn nagle_headings_count_one_round_and_one_write_in_the_singular() {
    let output = common::sockdoc()
        .args(["nagle", "--nodelay", "on", "--rounds", "1", "--warmup", "0"])
        .args(["--messages", "1", "--size", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("then the reply (1 round after 0 warm-ups)")),
        "{text}"
    );
    assert!(
        lines.contains(&"Burst: 1 write of 1 byte back to back"),
        "{text}"
    );
}
