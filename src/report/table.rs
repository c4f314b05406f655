//! Shared pieces of the human output: sockdoc's table look (comfy-table) and text styling
//! that honours `--color`. Each command's renderer lives in its own module.

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

use super::Style;
use crate::commands::severity::Level;

/// A table with sockdoc's look, honouring colour and width. The width is always set
/// explicitly: comfy-table would otherwise ask the terminal itself and ignore COLUMNS, and
/// its own fallback without a terminal is no width limit at all.
pub(crate) fn new_table(style: Style, header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(Cell::new))
        .set_width(style.width);
    if style.color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

/// Text in a terminal style when colour is on, plain otherwise.
pub(crate) fn paint(style: Style, look: anstyle::Style, text: &str) -> String {
    if style.color {
        format!("{}{text}{}", look.render(), look.render_reset())
    } else {
        text.to_string()
    }
}

pub(crate) fn heading(style: Style, text: &str) -> String {
    paint(style, anstyle::Style::new().bold().underline(), text)
}

pub(crate) fn good_bad(style: Style, good: bool, text: &str) -> String {
    let colour = if good {
        anstyle::AnsiColor::Green
    } else {
        anstyle::AnsiColor::Red
    };
    paint(
        style,
        anstyle::Style::new().fg_color(Some(colour.into())).bold(),
        text,
    )
}

pub(crate) fn mark_cell(style: Style, ok: bool) -> Cell {
    let cell = Cell::new(if ok { "✓" } else { "✗ MISMATCH" });
    if style.color {
        cell.fg(if ok { Color::Green } else { Color::Red })
    } else {
        cell
    }
}

pub(crate) fn level_cell(style: Style, level: Level) -> Cell {
    let cell = Cell::new(level.name());
    if style.color {
        cell.fg(match level {
            Level::Ok => Color::Green,
            Level::Info => Color::Blue,
            Level::Advise => Color::Yellow,
            Level::Warn => Color::Red,
        })
    } else {
        cell
    }
}

pub(crate) fn level_colour(level: Level) -> anstyle::AnsiColor {
    match level {
        Level::Ok => anstyle::AnsiColor::Green,
        Level::Info => anstyle::AnsiColor::Blue,
        Level::Advise => anstyle::AnsiColor::Yellow,
        Level::Warn => anstyle::AnsiColor::Red,
    }
}

/// `[advise]`, coloured by level.
pub(crate) fn level_mark(style: Style, level: Level) -> String {
    paint(
        style,
        anstyle::Style::new()
            .fg_color(Some(level_colour(level).into()))
            .bold(),
        &format!("[{}]", level.name()),
    )
}
