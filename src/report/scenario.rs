//! The human report shared by the lesson scenarios: the measured figures, each check
//! against what Linux documents, then the mechanism, the verdict and the fix.

use std::io::{self, Write};
use std::time::Duration;

use comfy_table::Cell;

use super::Style;
use super::table::{mark_cell, new_table, paint};
use super::text::{self, display_width, human_size};
use crate::commands::scenario::{Measured, ScenarioReport};
use crate::units::human;

pub fn render(report: &ScenarioReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let title = paint(
        style,
        anstyle::Style::new().bold(),
        &format!("sockdoc {}", report.command),
    );
    text::wrap(
        out,
        style,
        "",
        "  ",
        &format!("{title} on {}", report.address),
    )?;
    writeln!(out)?;
    text::heading(out, style, "Measured")?;
    write_measured(report, style, out)?;
    writeln!(out)?;
    text::heading(out, style, "Checks against documented Linux behaviour")?;
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
    writeln!(out)?;
    text::labelled(out, style, "Mechanism:", &report.mechanism)?;
    text::labelled(out, style, "Verdict:", &report.verdict)?;
    text::labelled(out, style, "Fix:", &report.fix)?;
    text::notes(out, style, &report.notes)
}

/// The "Measured" section as (label, value) rows, in the report's order: each figure's human
/// label and its value in human units. A typed twin (peer-close's `…_results`) has no row of
/// its own: its text figure's row says it.
pub fn measured_rows(report: &ScenarioReport) -> Vec<(&'static str, String)> {
    report
        .measured
        .iter()
        .map(|row| (row.label, value_text(&row.value)))
        .collect()
}

/// One line per figure, `label  value`, values aligned in a column and wrapped under it.
fn write_measured(report: &ScenarioReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let rows = measured_rows(report);
    let width = usize::from(style.width);
    let label_width = rows
        .iter()
        .map(|(label, _)| display_width(label))
        .max()
        .unwrap_or(0);
    // Values need room of their own; on a narrow terminal they follow the label instead.
    let aligned = label_width + 4 + MIN_VALUE_ROOM <= width;
    for (label, value) in rows {
        if aligned {
            let pad = label_width - display_width(label);
            let first = format!("  {label}{}  ", " ".repeat(pad));
            text::wrap(out, style, &first, &" ".repeat(label_width + 4), &value)?;
        } else if display_width(label) + 4 + MIN_INLINE_VALUE <= width {
            text::wrap(out, style, &format!("  {label}: "), "      ", &value)?;
        } else {
            // Too narrow even for that: the label, then its value under it.
            text::wrap(out, style, "  ", "    ", &format!("{label}:"))?;
            text::wrap(out, style, "      ", "      ", &value)?;
        }
    }
    Ok(())
}

/// The narrowest value column worth aligning to.
const MIN_VALUE_ROOM: usize = 24;

/// The least room after `label: ` for a value to follow on the same line.
const MIN_INLINE_VALUE: usize = 8;

/// A figure in human units; lists comma-separated.
pub fn value_text(value: &Measured) -> String {
    match value {
        Measured::Micros(us) => human(Duration::from_micros(*us)),
        Measured::Millis(ms) => human(Duration::from_millis(*ms)),
        Measured::Bytes(bytes) => human_size(*bytes),
        Measured::Count(n) => n.to_string(),
        Measured::KnobMillis(ms) => format!("{ms} ({})", human(Duration::from_millis(*ms))),
        Measured::KnobBytes(bytes) => format!("{bytes} ({})", human_size(*bytes)),
        Measured::Hertz(hz) => format!("{hz} Hz"),
        Measured::Percent(percent) => format!("{percent}%"),
        Measured::Text(text) => text.clone(),
        Measured::List(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        Measured::Unavailable => "unavailable".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_in_their_units() {
        assert_eq!(value_text(&Measured::Micros(201_266)), "201.3ms");
        assert_eq!(
            value_text(&Measured::KnobMillis(120_000)),
            "120000 (120.0s)"
        );
        assert_eq!(
            value_text(&Measured::list(&[1000, 2000, 67_000], Measured::Millis)),
            "1.0s, 2.0s, 67.0s"
        );
        assert_eq!(value_text(&Measured::Bytes(1_048_576)), "1 MiB");
        assert_eq!(
            value_text(&Measured::list(&[8, 512], Measured::Bytes)),
            "8 B, 512 B"
        );
        assert_eq!(value_text(&Measured::Unavailable), "unavailable");
        assert_eq!(value_text(&Measured::Millis(1500)), "1.5s");
        assert_eq!(value_text(&Measured::Percent(90.0)), "90%");
        assert_eq!(value_text(&Measured::Bytes(65_536)), "64 KiB");
        assert_eq!(value_text(&Measured::Count(3)), "3");
        assert_eq!(value_text(&Measured::Hertz(250)), "250 Hz");
        assert_eq!(
            value_text(&Measured::KnobBytes(4_194_304)),
            "4194304 (4 MiB)"
        );
        assert_eq!(value_text(&Measured::text("EAGAIN")), "EAGAIN");
    }
}
