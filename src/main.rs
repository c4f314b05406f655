use std::process::ExitCode;

fn main() -> ExitCode {
    // sockdoc's own parse: `--version` names the running kernel, known only now.
    match sockdoc::parse() {
        Ok(cli) => sockdoc::run(&cli).into(),
        // clap prints usage errors itself (exit 2) and --help / --version (exit 0); under
        // --json each of them is one JSON document on stdout instead (the error also on
        // stderr).
        Err(error) => sockdoc::usage_error(&error).into(),
    }
}
