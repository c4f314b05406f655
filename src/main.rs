use std::process::ExitCode;

use clap::Parser;

use sockdoc::cli::Cli;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2, or 0 for --help / --version.
    let cli = Cli::parse();
    sockdoc::run(&cli).into()
}
