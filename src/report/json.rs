//! `--json`: exactly one pretty-printed JSON document on stdout.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::VERSION;
use crate::exit::Exit;

/// Writes `report` inside the envelope every document shares: `command`, `sockdoc_version`
/// and the exit code it earned, so a CI consumer reads what ran and how it ended first.
pub fn render(
    command: &str,
    report: &impl Serialize,
    exit: Exit,
    out: &mut (impl Write + ?Sized),
) -> io::Result<()> {
    let document = envelope(command, serde_json::to_value(report)?, exit);
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}

/// `command`, `sockdoc_version` and `exit_code` first, then the report's own fields.
fn envelope(command: &str, report: Value, exit: Exit) -> Value {
    let mut document = Map::new();
    document.insert("command".into(), command.into());
    document.insert("sockdoc_version".into(), VERSION.into());
    document.insert("exit_code".into(), exit.code().into());
    match report {
        Value::Object(fields) => document.extend(
            fields
                .into_iter()
                .filter(|(key, _)| !matches!(key.as_str(), "command" | "sockdoc_version")),
        ),
        other => {
            document.insert("report".into(), other);
        }
    }
    Value::Object(document)
}

/// The document printed when a command fails under `--json`, so a CI consumer still
/// parses one JSON document and can read why.
pub fn error_document(command: &str, error: &str, exit: Exit) -> String {
    let document = serde_json::json!({
        "command": command,
        "sockdoc_version": VERSION,
        "error": error,
        "exit_code": exit.code(),
    });
    serde_json::to_string_pretty(&document).expect("a json! value always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_comes_first_and_is_filled_here() {
        let report = serde_json::json!({"figure": 3, "command": "stale"});
        let document = envelope("x", report, Exit::Finding);
        let keys: Vec<&str> = document
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["command", "sockdoc_version", "exit_code", "figure"]);
        assert_eq!(document["exit_code"], 1);
        assert_eq!(document["command"], "x");
        assert_eq!(document["sockdoc_version"], VERSION);
    }
}
