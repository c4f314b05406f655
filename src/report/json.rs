//! `--json`: exactly one pretty-printed JSON document on stdout.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::commands::VERSION;
use crate::exit::Exit;

/// Writes `report` with the exit code it earned beside `command` and `sockdoc_version`, so
/// every document a CI consumer reads says how the run ended.
pub fn render(report: &impl Serialize, exit: Exit, out: &mut impl Write) -> io::Result<()> {
    let document = with_exit_code(serde_json::to_value(report)?, exit);
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}

/// `exit_code` placed right after the document's identity fields (`command`,
/// `sockdoc_version`), ahead of the figures.
fn with_exit_code(report: Value, exit: Exit) -> Value {
    let Value::Object(fields) = report else {
        return report;
    };
    let mut document = Map::with_capacity(fields.len() + 1);
    let mut rest = Vec::with_capacity(fields.len());
    for (key, value) in fields {
        if key == "command" || key == "sockdoc_version" {
            document.insert(key, value);
        } else {
            rest.push((key, value));
        }
    }
    document.insert("exit_code".into(), exit.code().into());
    document.extend(rest);
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
    fn exit_code_follows_the_identity_fields() {
        let report = serde_json::json!({"command": "x", "sockdoc_version": "1", "figure": 3});
        let document = with_exit_code(report, Exit::Finding);
        let keys: Vec<&str> = document
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["command", "sockdoc_version", "exit_code", "figure"]);
        assert_eq!(document["exit_code"], 1);
    }
}
