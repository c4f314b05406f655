//! What sockdoc says in words. Every figure a lesson scenario measures reads as a label and
//! a unit in its human "Measured" section, never as its JSON key: each scenario runs once on
//! loopback for its real keys, which are then rendered, so a key added later without a label
//! fails here. And a count of one takes the singular ("1 byte", "1 port").

mod common;

use serde_json::{Map, Value};

use common::run_json;
use sockdoc::commands::scenario::ScenarioReport;
use sockdoc::commands::{Output, Report};
use sockdoc::exit::Exit;
use sockdoc::report::scenario::{measured_rows, shown_by};
use sockdoc::report::{self, Format, Style};

const SCENARIOS: [&str; 5] = ["backlog", "udp", "partial-send", "peer-close", "timeouts"];

/// The unit suffixes of the JSON contract.
const SUFFIXES: [&str; 4] = ["_us", "_ms", "_bytes", "_percent"];

fn report(command: &'static str, details: Map<String, Value>) -> ScenarioReport {
    ScenarioReport {
        command,
        address: "127.0.0.1".into(),
        details,
        checks: Vec::new(),
        mechanism: String::new(),
        verdict: String::new(),
        fix: String::new(),
        notes: Vec::new(),
        elapsed_us: 0,
    }
}

/// The keys every scenario document has (the report's own fields and the envelope's
/// `command`, `sockdoc_version` and `exit_code`), taken from the struct itself so the details
/// are what is left.
fn shared_keys() -> Vec<String> {
    let Value::Object(shared) = serde_json::to_value(report("udp", Map::new())).unwrap() else {
        unreachable!("a report serializes to an object")
    };
    let mut keys: Vec<String> = shared.keys().cloned().collect();
    keys.extend(["command", "sockdoc_version", "exit_code"].map(String::from));
    keys
}

/// The scenario's measured figures, as its `--json` document gives them.
fn real_details(command: &str) -> Map<String, Value> {
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
    let details: Map<String, Value> = document
        .into_iter()
        .filter(|(key, _)| !shared.contains(key))
        .collect();
    assert!(!details.is_empty(), "{command} measured nothing");
    details
}

fn is_bare_integer(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn every_measured_key_of_every_scenario_has_a_label_and_a_unit() {
    let mut unlabelled = Vec::new();
    for command in SCENARIOS {
        let mut details = real_details(command);
        // A typed twin is shown by its text figure's row, which must be there.
        let all_keys: Vec<String> = details.keys().cloned().collect();
        for key in &all_keys {
            if let Some(text) = shown_by(key) {
                assert!(
                    all_keys.iter().any(|k| k == text),
                    "{command}: {key} is shown by {text}, which is missing"
                );
            }
        }
        let report_details = details.clone();
        details.retain(|key, _| shown_by(key).is_none());
        let keys: Vec<String> = details.keys().cloned().collect();
        let values: Vec<Value> = details.values().cloned().collect();
        let report = report(command, report_details);
        let rows = measured_rows(&report);
        assert_eq!(
            rows.len(),
            keys.len(),
            "{command}: one row per figure that is not a typed twin"
        );
        for ((key, value), (label, shown)) in keys.iter().zip(&values).zip(&rows) {
            let bare = SUFFIXES
                .iter()
                .find_map(|suffix| key.strip_suffix(suffix))
                .unwrap_or(key);
            if *label == key.replace('_', " ") || *label == bare.replace('_', " ") {
                unlabelled.push(format!("{command}: {key} shown as {label:?}"));
            }
            // A key that names its unit shows that unit, not the bare integer.
            if value.is_u64() && bare != key && is_bare_integer(shown) {
                unlabelled.push(format!("{command}: {key} shown without its unit: {shown}"));
            }
        }

        let mut out = Vec::new();
        report::Writer::new("wording", Format::Table, Style::plain(200), &mut out)
            .report(&Report::Scenario(Box::new(report)), Exit::Clean)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        for (label, _) in &rows {
            assert!(
                text.contains(label.as_str()),
                "{label:?} not shown:\n{text}"
            );
        }
    }
    assert!(
        unlabelled.is_empty(),
        "figures without a human label or unit (add them to LABELS in \
         src/report/scenario.rs):\n{}",
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
