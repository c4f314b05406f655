//! sockdoc: a doctor for Linux sockets. `cli` parses, `commands` run experiments and return
//! reports, `sys` is the only code that touches the kernel, `report` renders.

pub mod cli;
pub mod commands;
pub mod exit;
pub mod report;
pub mod sys;

use std::io::{self, BufWriter, IsTerminal, Write};

use cli::{Cli, Command};
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
    let mut out = BufWriter::new(stdout.lock());
    let result = match &cli.command {
        // `sockets` renders each row as it reads it, so it writes while it runs.
        Command::Sockets(args) => {
            let context = commands::context(cli, &style);
            let mut sink = report::sockets::sink(format, style, &mut out);
            commands::sockets::run(args, &context, &mut *sink).map(|exit| (None, exit))
        }
        _ => commands::run(cli, &style).map(|outcome| (Some(outcome.report), outcome.exit)),
    };
    let result = result.and_then(|(report, exit)| {
        if let Some(report) = report {
            report::render(&report, format, style, &mut out)?;
        }
        out.flush()?;
        Ok(exit)
    });
    match result {
        Ok(exit) => exit,
        // A closed pipe (`sockdoc … | head`) is the reader's choice, not an error.
        Err(error) if is_broken_pipe(&error) => Exit::Clean,
        Err(error) => {
            let exit = exit::for_error(&error);
            eprintln!("sockdoc: error: {error:#}");
            if format == Format::Json {
                // Keep the promise of one JSON document on stdout, even on failure.
                let document = report::json::error_document(cli.command.name(), &error, exit);
                let _ = writeln!(out, "{document}").and_then(|()| out.flush());
            }
            exit
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// NO_COLOR (https://no-color.org): any non-empty value turns colour off.
fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}
