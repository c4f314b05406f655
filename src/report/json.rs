//! `--json`: exactly one pretty-printed JSON document on stdout.

use std::io::{self, Write};

use serde::Serialize;

use crate::commands::VERSION;
use crate::exit::Exit;

pub fn render(report: &impl Serialize, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
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
