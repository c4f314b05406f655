//! Rendering for `check`: the counts, a table of every check that did not pass, then each
//! failure with its evidence and fix.

use std::io::{self, Write};

use comfy_table::Cell;

use super::Style;
use super::table::{level_cell, level_mark, new_table, paint};
use super::text;
use crate::commands::check::CheckReport;
use crate::commands::check::model::Status;
use crate::units::human;

pub fn render(report: &CheckReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    if let Some(template) = report.template {
        return out.write_all(template.as_bytes());
    }
    let width = usize::from(style.width);
    let s = &report.summary;
    let title = paint(style, anstyle::Style::new().bold(), "sockdoc check");
    let groups: Vec<&str> = report.groups.iter().map(|g| g.name()).collect();
    let config = report.config.as_deref().map_or_else(
        || "no config file".to_owned(),
        |path| format!("config {path}"),
    );
    text::wrap_to(
        out,
        width,
        "",
        "  ",
        &format!(
            "{title}: {} checks ({}), {config}, in {}",
            s.checks,
            groups.join(", "),
            human(std::time::Duration::from_micros(report.elapsed_us))
        ),
    )?;
    text::wrap_to(
        out,
        width,
        "",
        "  ",
        &format!(
            "{} passed, {} failed ({} warn, {} advise, {} info), {} skipped; {} at or above \
             --fail-on {}",
            s.passed, s.failed, s.warn, s.advise, s.info, s.skipped, s.failing, report.fail_on
        ),
    )?;
    let shown: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .collect();
    if !shown.is_empty() {
        writeln!(out)?;
        let mut table = new_table(style, &["result", "check", "where", "evidence"]);
        for c in &shown {
            let result = match c.status {
                Status::Skipped => Cell::new("skipped"),
                _ => level_cell(style, c.severity),
            };
            let evidence = match c.status {
                Status::Skipped => c.skipped_reason.clone().unwrap_or_default(),
                _ => c.evidence.clone(),
            };
            table.add_row(vec![
                result,
                Cell::new(&c.id),
                Cell::new(c.subject.as_deref().unwrap_or("")),
                Cell::new(evidence),
            ]);
        }
        writeln!(out, "{table}")?;
    }
    for c in shown.iter().filter(|c| c.status == Status::Fail) {
        let Some(fix) = &c.fix else { continue };
        writeln!(out)?;
        let first = format!("{} {} ", level_mark(style, c.severity), c.id);
        text::wrap_to(out, width, &first, "    ", &c.title)?;
        text::wrap_to(out, width, "  Fix: ", "    ", fix)?;
    }
    for note in &report.notes {
        writeln!(out)?;
        text::wrap_to(out, width, "Note: ", "  ", note)?;
    }
    Ok(())
}
