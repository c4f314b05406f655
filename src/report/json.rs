//! `--json`: exactly one pretty-printed JSON document on stdout.

use std::io::{self, Write};

use serde::Serialize;
#[cfg(test)]
use serde_json::Value;

use crate::VERSION;
use crate::exit::Exit;

/// Writes `report` inside the envelope every document shares: `command`, `sockdoc_version`
/// and the exit code it earned, so a CI consumer reads what ran and how it ended first.
/// Serialized straight to the writer (no intermediate `Value` tree: 10,000 sockets of
/// `inspect` took 230 ms that way, most of the run).
pub fn render(
    command: &str,
    report: &impl Serialize,
    exit: Exit,
    out: &mut (impl Write + ?Sized),
) -> io::Result<()> {
    let document = Envelope {
        command,
        sockdoc_version: VERSION,
        exit_code: exit.code(),
        report,
    };
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}

/// `command`, `sockdoc_version` and `exit_code` first, then the report's own fields (no
/// report type has fields of those names).
#[derive(Serialize)]
struct Envelope<'a, R> {
    command: &'a str,
    sockdoc_version: &'static str,
    exit_code: u8,
    #[serde(flatten)]
    report: &'a R,
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
        #[derive(Serialize)]
        struct Report {
            figure: u32,
        }
        let mut out = Vec::new();
        render("x", &Report { figure: 3 }, Exit::Finding, &mut out).unwrap();
        let document: Value = serde_json::from_slice(&out).unwrap();
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
