//! sockdoc: a doctor for Linux sockets. `cli` parses, `commands` run experiments and return
//! reports, `sys` is the only code that touches the kernel, `report` renders.

pub mod cli;
pub mod commands;
pub mod exit;
pub mod ports;
pub mod report;
pub mod sys;
pub mod units;

use std::io::{self, BufWriter, IsTerminal, Write};

use clap::CommandFactory;
use cli::{Cli, Command};
use exit::Exit;
use report::{Format, Style};

/// Runs the command, prints its report (or the error, once) and returns the exit code.
pub fn run(cli: &Cli) -> Exit {
    let stdout = io::stdout();
    let width = report::output_width(
        std::env::var("COLUMNS").ok().as_deref(),
        report::terminal_columns(&stdout),
    );
    let style = Style::decide(
        cli.global.color,
        stdout.is_terminal(),
        no_color_env(),
        width,
    );
    let format = if cli.global.json {
        Format::Json
    } else {
        Format::Table
    };
    let mut out = BufWriter::new(stdout.lock());
    let (result, error_written) = match &cli.command {
        // `sockets` renders each row as it reads it, so it writes while it runs; a failure
        // part-way is closed off inside the document it already started.
        Command::Sockets(args) => {
            let context = commands::context(cli, &style);
            let mut sink = report::sockets::sink(format, style, &mut out);
            let result = commands::sockets::run(args, &context, &mut *sink);
            let error_written = match &result {
                Err(error) if format == Format::Json && !is_broken_pipe(error) => sink
                    .fail(&format!("{error:#}"), exit::for_error(error))
                    .is_ok(),
                _ => false,
            };
            (result.map(|exit| (None, exit)), error_written)
        }
        _ => (
            commands::run(cli, &style).map(|outcome| (Some(outcome.report), outcome.exit)),
            false,
        ),
    };
    let result = result.and_then(|(report, exit)| {
        let written = report
            .map_or(Ok(()), |report| {
                report::render(&report, exit, format, style, &mut out)
            })
            .and_then(|()| out.flush());
        match written {
            // A closed pipe (`sockdoc … | head`) is the reader's choice: the command still
            // earned its exit code.
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(exit),
            other => other.map(|()| exit).map_err(anyhow::Error::from),
        }
    });
    match result {
        Ok(exit) => exit,
        Err(error) if is_broken_pipe(&error) => Exit::Clean,
        Err(error) => {
            let exit = exit::for_error(&error);
            eprintln!("sockdoc: error: {error:#}");
            if format == Format::Json && !error_written {
                // Keep the promise of one JSON document on stdout, even on failure.
                let document =
                    report::json::error_document(cli.command.name(), &format!("{error:#}"), exit);
                let _ = writeln!(out, "{document}");
            }
            let _ = out.flush();
            exit
        }
    }
}

/// Reports a command line clap refused. Under `--json` the message also goes into one
/// JSON document on stdout, as every failure's does.
pub fn usage_error(error: &clap::Error) -> Exit {
    let wants_json = std::env::args().any(|arg| arg == "--json");
    if !error.use_stderr() || !wants_json {
        // --help and --version print and exit 0; other errors exit 2.
        error.exit();
    }
    let _ = error.print();
    let command = std::env::args()
        .skip(1)
        .find_map(|arg| {
            Cli::command()
                .get_subcommands()
                .find(|sub| sub.get_name() == arg)
                .map(|sub| sub.get_name().to_string())
        })
        .unwrap_or_default();
    let message = error.render().to_string();
    let document = report::json::error_document(&command, message.trim(), Exit::Usage);
    println!("{document}");
    Exit::Usage
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
