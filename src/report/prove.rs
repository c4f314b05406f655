//! Rendering for `prove`: one row per knob — the two settings and what each measured — then
//! each proof's conclusion and source.

use std::io::{self, Write};

use comfy_table::Cell;

use super::Style;
use super::table::{mark_cell, new_table, paint};
use super::text;
use crate::commands::prove::{ProveReport, Trial};
use crate::units::human;

pub fn render(report: &ProveReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let width = usize::from(style.width);
    let title = paint(style, anstyle::Style::new().bold(), "sockdoc prove");
    let how = match report.isolation {
        Some(crate::sys::sandbox::Isolation::UserNamespace) => {
            "each trial in a throwaway network namespace owned by a new user namespace"
        }
        Some(crate::sys::sandbox::Isolation::NetworkNamespace) => {
            "each trial in a throwaway network namespace"
        }
        None => "no namespace could be made",
    };
    let s = &report.summary;
    text::wrap_to(
        out,
        width,
        "",
        "  ",
        &format!(
            "{title}: {} knobs, {how}; {} as documented, {} mismatched, {} could not run, in {}",
            s.proofs,
            s.as_documented,
            s.mismatches,
            s.could_not_run,
            human(std::time::Duration::from_micros(report.elapsed_us))
        ),
    )?;
    let mut table = new_table(
        style,
        &["knob", "set to", "measured", "set to", "measured", ""],
    );
    for p in &report.proofs {
        table.add_row(vec![
            Cell::new(p.knob),
            Cell::new(values(&p.before, p.knob)),
            Cell::new(&p.before.measured),
            Cell::new(values(&p.after, p.knob)),
            Cell::new(&p.after.measured),
            match p.matches {
                Some(ok) => mark_cell(style, ok),
                None => Cell::new("could not run"),
            },
        ]);
    }
    writeln!(out, "{table}")?;
    for p in &report.proofs {
        writeln!(out)?;
        text::wrap_to(out, width, "", "  ", p.question)?;
        text::wrap_to(out, width, "  ", "  ", &p.conclusion)?;
        text::wrap_to(out, width, "  Source: ", "    ", p.source)?;
        for trial in [&p.before, &p.after] {
            if let Some(error) = &trial.error {
                text::wrap_to(out, width, "  Error: ", "    ", error)?;
            }
        }
    }
    for note in &report.notes {
        writeln!(out)?;
        text::wrap_to(out, width, "Note: ", "  ", note)?;
    }
    Ok(())
}

/// The knob's value in the trial (and any other knob it set, e.g. the port range).
fn values(trial: &Trial, knob: &str) -> String {
    let mut parts: Vec<String> = trial
        .knobs
        .iter()
        .filter(|(k, _)| k.as_str() != knob)
        .map(|(k, v)| format!("{} = {v}", k.rsplit('.').next().unwrap_or(k)))
        .collect();
    if let Some(v) = trial.knobs.get(knob) {
        parts.insert(0, v.clone());
    }
    parts.join(", ")
}
