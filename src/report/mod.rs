//! Rendering only: reports arrive as plain data and leave as a table or one JSON document.
//! Nothing here touches a socket.

pub mod check;
pub mod checks;
pub mod generated;
pub mod inspect;
pub mod json;
pub mod nagle;
pub mod prove;
pub mod reuse_test;
pub mod scenario;
pub mod sockets;
pub mod sockopt;
pub mod sysctl_advice;
pub mod table;
pub mod text;

use std::io::{self, IsTerminal, Write};

use crate::commands::sockets::Sink;
use crate::commands::{Output, Report};
use crate::exit::Exit;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// Colour when stdout is a terminal and NO_COLOR is not set
    Auto,
    /// Always colour, even into a pipe
    Always,
    /// Never colour
    Never,
}

/// `--format`: how a report leaves sockdoc. Every command has `table` and `json`; the others
/// belong to the commands whose reports are checks (`lib.rs` says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Format {
    /// Tables and prose for a person (the default)
    Table,
    /// Exactly one JSON document (the same as --json)
    Json,
    /// JUnit XML: one <testsuite> per group, one <testcase> per check (GitLab, Jenkins)
    Junit,
    /// GitHub Actions workflow annotations, and a Markdown summary into $GITHUB_STEP_SUMMARY
    Github,
    /// Prometheus text format for node_exporter's textfile collector
    Prometheus,
    /// A ready-to-drop /etc/sysctl.d/ snippet (sysctl-advice)
    Conf,
}

impl Format {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// How output looks, decided once from the terminal, `--color`, NO_COLOR and COLUMNS.
/// Colour and width are independent: `--color never` or NO_COLOR change only the colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    /// stdout is a terminal: progress bars may be drawn.
    pub interactive: bool,
    /// Columns every line of the human output fits in (tables, wrapped prose, `sockets` rows).
    pub width: u16,
}

/// Width used when stdout is not a terminal and COLUMNS is unset, so piped output is
/// stable from one run to the next.
pub const PIPE_WIDTH: u16 = 100;

/// The narrowest width sockdoc lays out for; a smaller COLUMNS or terminal is treated as
/// this: `nagle`'s table of ten columns needs 41 for its borders and one character each.
pub const MIN_WIDTH: u16 = 50;

impl Style {
    pub fn decide(when: ColorWhen, stdout_is_terminal: bool, no_color: bool, width: u16) -> Self {
        let color = match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => stdout_is_terminal && !no_color,
        };
        Self {
            color,
            interactive: stdout_is_terminal,
            width,
        }
    }

    /// Plain text at a fixed width: for snapshots and pipes.
    pub fn plain(width: u16) -> Self {
        Self {
            color: false,
            interactive: false,
            width,
        }
    }
}

/// The output width: COLUMNS when it holds a positive number (as GNU `ls -C` honours it,
/// also into a pipe: a user who sets it means it), else the terminal's width when stdout is one, else [`PIPE_WIDTH`];
/// never below [`MIN_WIDTH`].
pub fn output_width(columns: Option<&str>, terminal_columns: Option<u16>) -> u16 {
    let from_env = columns
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|&c| c > 0);
    // A pseudo-terminal nobody sized reports 0 columns: that is no width at all.
    let from_terminal = terminal_columns.filter(|&c| c > 0);
    from_env
        .or(from_terminal)
        .unwrap_or(PIPE_WIDTH)
        .max(MIN_WIDTH)
}

/// The width of the terminal behind `stdout` (TIOCGWINSZ), if it is one.
pub fn terminal_columns(stdout: impl std::os::fd::AsFd) -> Option<u16> {
    terminal_size::terminal_size_of(stdout).map(|(terminal_size::Width(w), _)| w)
}

/// An error line for stderr, wrapped to the terminal's width when stderr is a terminal; a log
/// or a pipe keeps one line per error, for grep.
pub fn error_text(message: &str) -> String {
    let stderr = io::stderr();
    if !stderr.is_terminal() {
        return message.to_owned();
    }
    let columns = std::env::var("COLUMNS").ok();
    let width = output_width(columns.as_deref(), terminal_columns(&stderr));
    text::wrapped(usize::from(width), "", "  ", message).join("\n")
}

/// The one place output is written: a whole report, or the rows a command streams, as a
/// table or one JSON document (with `command`, `sockdoc_version` and `exit_code` added here
/// for every command). Also writes the error document when a command fails under `--json`.
pub struct Writer<'a> {
    command: &'static str,
    format: Format,
    style: Style,
    state: State<'a>,
}

enum State<'a> {
    /// Nothing written yet.
    Idle(&'a mut dyn Write),
    /// A command is streaming its rows.
    Streaming(Box<dyn Sink + 'a>),
    /// A whole report went out.
    Done,
}

impl<'a> Writer<'a> {
    pub fn new(
        command: &'static str,
        format: Format,
        style: Style,
        out: &'a mut dyn Write,
    ) -> Self {
        Self {
            command,
            format,
            style,
            state: State::Idle(out),
        }
    }

    /// Under `--json`, ends the document with the error: inside the one a stream started,
    /// or as a document of its own. Tables leave the error to stderr.
    pub fn fail(&mut self, error: &str, exit: Exit) -> io::Result<()> {
        if self.format != Format::Json {
            return Ok(());
        }
        match &mut self.state {
            State::Idle(out) => {
                writeln!(out, "{}", json::error_document(self.command, error, exit))
            }
            State::Streaming(sink) => sink.fail(error, exit),
            State::Done => Ok(()),
        }
    }
}

impl Output for Writer<'_> {
    fn report(&mut self, report: &Report, exit: Exit) -> io::Result<()> {
        let State::Idle(mut out) = std::mem::replace(&mut self.state, State::Done) else {
            unreachable!("a command hands over one report, and only when it did not stream");
        };
        let out = &mut out;
        match self.format {
            Format::Json => json::render(self.command, report, exit, out),
            Format::Table => match report {
                Report::Generated(r) => generated::render(r, out),
                Report::ReuseTest(r) => reuse_test::render(r, self.style, out),
                Report::Nagle(r) => nagle::render(r, self.style, out),
                Report::SysctlAdvice(r) => sysctl_advice::render(r, self.style, out),
                Report::Sockopt(r) => sockopt::render(r, self.style, out),
                Report::Scenario(r) => scenario::render(r, self.style, out),
                Report::Inspect(r) => inspect::render(r, self.style, out),
                Report::Check(r) => check::render(r, self.style, out),
                Report::Prove(r) => prove::render(r, self.style, out),
            },
            Format::Conf => match report {
                Report::SysctlAdvice(r) => sysctl_advice::conf(r, out),
                _ => Err(unsupported(self.command, self.format)),
            },
            Format::Junit | Format::Github | Format::Prometheus => {
                let Some(set) = checks::of(report) else {
                    return Err(unsupported(self.command, self.format));
                };
                match self.format {
                    Format::Junit => checks::junit(&set, self.command, out),
                    Format::Prometheus => checks::prometheus(&set, out),
                    _ => {
                        checks::github(&set, out)?;
                        append_step_summary(&checks::github_summary(&set, self.command))
                    }
                }
            }
        }
    }

    fn stream(&mut self) -> &mut dyn Sink {
        self.state = match std::mem::replace(&mut self.state, State::Done) {
            State::Idle(out) => State::Streaming(sockets::sink(self.format, self.style, out)),
            other => other,
        };
        match &mut self.state {
            State::Streaming(sink) => &mut **sink,
            _ => unreachable!("a command streams only before it hands over a report"),
        }
    }
}

/// A format a command does not have: `lib.rs` refuses it before the command runs, so this
/// is only a guard.
fn unsupported(command: &str, format: Format) -> io::Error {
    io::Error::other(format!("{command} has no --format {}", format.name()))
}

/// GitHub Actions shows the Markdown appended to the file `$GITHUB_STEP_SUMMARY` names on the
/// run's summary page; outside Actions it is unset and nothing is written.
fn append_step_summary(markdown: &str) -> io::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    writeln!(file, "{markdown}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_flag_terminal_and_no_color() {
        let auto = |tty, no_color| Style::decide(ColorWhen::Auto, tty, no_color, 80).color;
        assert!(auto(true, false));
        assert!(!auto(true, true), "NO_COLOR turns auto colour off");
        assert!(!auto(false, false), "no colour into a pipe");
        assert!(Style::decide(ColorWhen::Always, false, true, 80).color);
        assert!(!Style::decide(ColorWhen::Never, true, false, 80).color);
    }

    #[test]
    fn colour_settings_never_change_the_width() {
        for when in [ColorWhen::Auto, ColorWhen::Always, ColorWhen::Never] {
            for tty in [true, false] {
                for no_color in [true, false] {
                    let style = Style::decide(when, tty, no_color, 80);
                    assert_eq!(style.width, 80, "{when:?} tty={tty} NO_COLOR={no_color}");
                }
            }
        }
    }

    #[test]
    fn width_is_columns_then_terminal_then_the_pipe_default() {
        assert_eq!(output_width(Some("80"), Some(200)), 80, "COLUMNS wins");
        assert_eq!(
            output_width(Some("132"), None),
            132,
            "COLUMNS also into a pipe"
        );
        assert_eq!(output_width(None, Some(120)), 120);
        assert_eq!(output_width(None, None), PIPE_WIDTH);
        assert_eq!(
            output_width(Some("wide"), Some(90)),
            90,
            "invalid COLUMNS ignored"
        );
        assert_eq!(output_width(Some("0"), None), PIPE_WIDTH);
        assert_eq!(output_width(Some(""), None), PIPE_WIDTH);
        assert_eq!(output_width(None, Some(0)), PIPE_WIDTH, "an unsized pty");
        assert_eq!(output_width(Some("12"), None), MIN_WIDTH);
    }
}
