//! sockdoc: a doctor for Linux sockets. `cli` parses, `commands` run experiments and return
//! reports, `sys` is the only code that touches the kernel, `report` renders.

pub mod cli;
pub mod commands;
pub mod exit;
pub mod report;
pub mod sys;

use std::io::{self, IsTerminal, Write};

use cli::Cli;
use exit::Exit;
use report::{Format, Style};

/// Runs the command, prints its report (or the error, once) and returns the exit code.
pub fn run(cli: &Cli) -> Exit {
    let stdout = io::stdout();
    let style = Style::decide(cli.global.color, stdout.is_terminal(), no_color_env());
    let format = if cli.global.json {
        Format::Json
    } else {
        Format::Table
    };
    match commands::run(cli, &style) {
        Ok(outcome) => {
            let mut out = stdout.lock();
            let written =
                report::render(&outcome.report, format, style, &mut out).and_then(|()| out.flush());
            match written {
                // A closed pipe (`sockdoc … | head`) is the reader's choice, not an error.
                Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
                    eprintln!("sockdoc: error: writing the report: {error}");
                    Exit::CannotRun
                }
                _ => outcome.exit,
            }
        }
        Err(error) => {
            let exit = exit::for_error(&error);
            eprintln!("sockdoc: error: {error:#}");
            if format == Format::Json {
                // Keep the promise of one JSON document on stdout, even on failure.
                let document = report::json::error_document(cli.command.name(), &error, exit);
                let _ = writeln!(stdout.lock(), "{document}");
            }
            exit
        }
    }
}

/// NO_COLOR (https://no-color.org): any non-empty value turns colour off.
fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}
