use std::process::ExitCode;

fn main() -> ExitCode {
    // A lab child (sockdoc re-run by `prove` inside a throwaway namespace): not a command line.
    let args: Vec<std::ffi::OsString> = std::env::args_os().take(3).collect();
    if args.len() == 3 && args[1] == sockdoc::sys::sandbox::CHILD_ARG {
        return sockdoc::commands::lab::child(&args[2].to_string_lossy());
    }
    // sockdoc's own parse: `--version` names the running kernel, known only now.
    match sockdoc::parse() {
        Ok(cli) => sockdoc::run(&cli).into(),
        // clap prints usage errors itself (exit 2) and --help / --version (exit 0); under
        // --json each of them is one JSON document on stdout instead (the error also on
        // stderr).
        Err(error) => sockdoc::usage_error(&error).into(),
    }
}
