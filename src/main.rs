use std::process::ExitCode;

use clap::Parser;

use sockdoc::cli::Cli;

fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(cli) => sockdoc::run(&cli).into(),
        // clap prints usage errors itself (exit 2) and --help / --version (exit 0); under
        // --json each of them is one JSON document on stdout instead (the error also on
        // stderr).
        Err(error) => sockdoc::usage_error(&error).into(),
    }
}
