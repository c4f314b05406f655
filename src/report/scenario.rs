//! The human report shared by the lesson scenarios: the measured figures, each check
//! against what Linux documents, then the mechanism, the verdict and the fix.

use std::io::{self, Write};

use comfy_table::Cell;
use serde_json::Value;

use super::Style;
use super::table::{heading, mark_cell, new_table, paint};
use crate::commands::scenario::ScenarioReport;

pub fn render(report: &ScenarioReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{} on {}",
        paint(
            style,
            anstyle::Style::new().bold(),
            &format!("sockdoc {}", report.command)
        ),
        report.address
    )?;
    writeln!(out, "\n{}", heading(style, "Measured"))?;
    for (key, value) in &report.details {
        writeln!(out, "  {}: {}", key.replace('_', " "), value_text(value))?;
    }
    writeln!(
        out,
        "\n{}",
        heading(style, "Checks against documented Linux behaviour")
    )?;
    let mut table = new_table(style, &["check", "measured", "Linux documents", ""]);
    for check in &report.checks {
        table.add_row(vec![
            Cell::new(&check.name),
            Cell::new(&check.measured),
            Cell::new(&check.expected),
            mark_cell(style, check.matches),
        ]);
    }
    writeln!(out, "{table}")?;
    writeln!(
        out,
        "\n{} {}",
        heading(style, "Mechanism:"),
        report.mechanism
    )?;
    writeln!(out, "{} {}", heading(style, "Verdict:"), report.verdict)?;
    writeln!(out, "{} {}", heading(style, "Fix:"), report.fix)?;
    for note in &report.notes {
        writeln!(out, "Note: {note}")?;
    }
    Ok(())
}

/// Strings without quotes, null as "unavailable", the rest as JSON.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "unavailable".into(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}
