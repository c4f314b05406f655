//! Every figure a lesson scenario measures reads as a label and a unit in its human
//! "Measured" section, never as its JSON key. Each scenario runs once on loopback for its
//! real keys, which are then rendered: a key added later without a label fails here.

mod common;

use serde_json::{Map, Value};

use common::run_json;
use sockdoc::commands::Report;
use sockdoc::commands::scenario::ScenarioReport;
use sockdoc::exit::Exit;
use sockdoc::report::scenario::measured_rows;
use sockdoc::report::{self, Format, Style};

const SCENARIOS: [&str; 5] = ["backlog", "udp", "partial-send", "peer-close", "timeouts"];

/// The unit suffixes of the JSON contract.
const SUFFIXES: [&str; 4] = ["_us", "_ms", "_bytes", "_percent"];

fn report(command: &'static str, details: Map<String, Value>) -> ScenarioReport {
    ScenarioReport {
        command,
        sockdoc_version: "0.0.0-test",
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

/// The keys every scenario document has (the report's own fields and the contract's
/// `exit_code`), taken from the struct itself so the details are what is left.
fn shared_keys() -> Vec<String> {
    let Value::Object(shared) = serde_json::to_value(report("udp", Map::new())).unwrap() else {
        unreachable!("a report serializes to an object")
    };
    let mut keys: Vec<String> = shared.keys().cloned().collect();
    keys.push("exit_code".into());
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
        let details = real_details(command);
        let keys: Vec<String> = details.keys().cloned().collect();
        let values: Vec<Value> = details.values().cloned().collect();
        let report = report(command, details);
        let rows = measured_rows(&report);
        assert_eq!(rows.len(), keys.len(), "{command}: one row per figure");
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
        report::render(
            &Report::Scenario(Box::new(report)),
            Exit::Clean,
            Format::Table,
            Style::plain(200),
            &mut out,
        )
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
