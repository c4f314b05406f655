//! Rendering only: reports arrive as plain data and leave as a table or one JSON document.
//! Nothing here touches a socket.

pub mod json;
pub mod nagle;
pub mod reuse_test;
pub mod scenario;
pub mod sockets;
pub mod sockopt;
pub mod sysctl_advice;
pub mod table;

use std::io::{self, Write};

use crate::cli::ColorWhen;
use crate::commands::Report;
use crate::exit::Exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// How output looks, decided once from the terminal, `--color` and NO_COLOR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    /// stdout is a terminal: progress bars may be drawn.
    pub interactive: bool,
    /// Table width in columns; `None` lets comfy-table ask the terminal.
    pub width: Option<u16>,
}

/// Width used when stdout is not a terminal, so piped output is stable.
pub const PIPE_WIDTH: u16 = 100;

impl Style {
    pub fn decide(when: ColorWhen, stdout_is_terminal: bool, no_color: bool) -> Self {
        let color = match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => stdout_is_terminal && !no_color,
        };
        Self {
            color,
            interactive: stdout_is_terminal,
            width: (!stdout_is_terminal).then_some(PIPE_WIDTH),
        }
    }

    /// Plain text at a fixed width: for snapshots and pipes.
    pub fn plain(width: u16) -> Self {
        Self {
            color: false,
            interactive: false,
            width: Some(width),
        }
    }
}

pub fn render(
    report: &Report,
    exit: Exit,
    format: Format,
    style: Style,
    out: &mut impl Write,
) -> io::Result<()> {
    match format {
        Format::Json => json::render(report, exit, out),
        Format::Table => match report {
            Report::ReuseTest(r) => reuse_test::render(r, style, out),
            Report::Nagle(r) => nagle::render(r, style, out),
            Report::SysctlAdvice(r) => sysctl_advice::render(r, style, out),
            Report::Sockopt(r) => sockopt::render(r, style, out),
            Report::Scenario(r) => scenario::render(r, style, out),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_flag_terminal_and_no_color() {
        let auto = |tty, no_color| Style::decide(ColorWhen::Auto, tty, no_color).color;
        assert!(auto(true, false));
        assert!(!auto(true, true), "NO_COLOR turns auto colour off");
        assert!(!auto(false, false), "no colour into a pipe");
        assert!(Style::decide(ColorWhen::Always, false, true).color);
        assert!(!Style::decide(ColorWhen::Never, true, false).color);
    }
}
