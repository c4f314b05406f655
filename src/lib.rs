//! sockdoc: a doctor for Linux sockets. `cli` parses, `commands` run experiments and return
//! reports, `sys` is the only code that touches the kernel, `report` renders.

pub mod cli;
pub mod commands;
pub mod exit;
pub mod report;
pub mod sys;
pub mod units;

use std::io::{self, BufWriter, IsTerminal, Write};
use std::os::fd::AsFd;

use clap::CommandFactory;
use cli::{Cli, Command};
use commands::{Context, Output, Report};
use exit::Exit;
use report::{Format, Style};
use sys::fs::Root;

/// The output buffer: a listing of 100,000 sockets is ~10 MB, written 64 KiB a write().
const OUTPUT_BUFFER: usize = 64 << 10;

/// stdout as a plain file (a duplicate of descriptor 1), so the buffer above goes out whole:
/// `io::stdout()` is line-buffered and would cut it at the last newline of every 8 KiB. If
/// the descriptor cannot be duplicated (no descriptors left), stdout itself.
fn output_file(stdout: &io::Stdout) -> Box<dyn Write> {
    match stdout.as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(std::fs::File::from(fd)),
        Err(_) => Box::new(io::stdout()),
    }
}

/// sockdoc's version, in every JSON document.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git revision sockdoc was built from (`55c4333`, `55c4333-dirty` with uncommitted
/// changes to its sources), or `unknown` when it was not built from a checkout (build.rs).
pub const GIT_REVISION: &str = env!("SOCKDOC_GIT_REVISION");

/// The running kernel's release (`uname -r`), if /proc says it.
pub fn kernel_release() -> Option<String> {
    sys::sysctl::read_knob(&Root::live(), "kernel.osrelease")
        .value()
        .map(str::to_owned)
}

/// `--version`'s long form, after "sockdoc ": the version, the git revision and the running
/// kernel, which a bug report needs. `-V` stays `sockdoc 0.1.0`.
pub fn long_version(kernel: Option<&str>) -> String {
    format!(
        "{VERSION}\ngit revision: {GIT_REVISION}\nrunning kernel: {}",
        kernel.unwrap_or("unknown")
    )
}

/// The command line as the binary parses it: the clap definition with `--version`'s long
/// form, which names the running kernel and so can only be built at run time.
pub fn command() -> clap::Command {
    Cli::command().long_version(long_version(kernel_release().as_deref()))
}

/// Parses the process's arguments with [`command`].
pub fn parse() -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let mut matches = command().try_get_matches()?;
    Cli::from_arg_matches_mut(&mut matches).map_err(|error| error.format(&mut command()))
}

/// Runs the command, prints its report (or the error, once) and returns the exit code.
pub fn run(cli: &Cli) -> Exit {
    let stdout = io::stdout();
    let to_file = cli.global.output.is_some();
    // A file gets the pipe's layout: no colour, COLUMNS or 100 columns.
    let terminal = stdout.is_terminal() && !to_file;
    let width = report::output_width(
        std::env::var("COLUMNS").ok().as_deref(),
        if to_file {
            None
        } else {
            report::terminal_columns(&stdout)
        },
    );
    let style = Style::decide(cli.global.color, terminal, no_color_env(), width);
    let chosen = output_format(cli);
    let format = chosen.as_ref().copied().unwrap_or(if cli.global.json {
        Format::Json
    } else {
        Format::Table
    });
    let context = context(cli, style.interactive);
    let mut destination = match Destination::open(cli.global.output.as_deref(), &stdout) {
        Ok(destination) => destination,
        Err(error) => {
            let exit = exit::for_error(&error);
            eprintln!(
                "{}",
                report::error_text(&format!("sockdoc: error: {error:#}"))
            );
            return exit;
        }
    };
    let mut buffer = BufWriter::with_capacity(OUTPUT_BUFFER, destination.writer());
    let mut writer = report::Writer::new(cli.command.name(), format, style, &mut buffer);
    // First, from the main thread: every thread started later starts in the namespace.
    let result = chosen
        .map(|_| ())
        .and_then(|()| {
            cli.global
                .netns
                .as_deref()
                .map_or(Ok(()), sys::netns::enter)
                .map_err(anyhow::Error::from)
        })
        .and_then(|()| dispatch(&cli.command, &context, &mut writer));
    let exit = match result {
        Ok(exit) => exit,
        // A closed pipe (`sockdoc … | head`) is the reader's choice, not a failure.
        Err(error) if is_broken_pipe(&error) => Exit::Clean,
        Err(error) => {
            let exit = exit::for_error(&error);
            eprintln!(
                "{}",
                report::error_text(&format!("sockdoc: error: {error:#}"))
            );
            // Keep the promise of one JSON document on stdout, even on failure.
            let _ = writer.fail(&format!("{error:#}"), exit);
            exit
        }
    };
    drop(writer);
    let flushed = buffer.flush();
    drop(buffer);
    let exit = match flushed {
        // The command still earned its exit code when the reader closed the pipe.
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("sockdoc: error: writing the output: {error}");
            exit.max(Exit::CannotRun)
        }
        _ => exit,
    };
    // A report (findings or not) replaces the file; a run that failed leaves it as it was.
    match destination.finish(exit <= Exit::Finding) {
        Ok(()) => exit,
        Err(error) => {
            eprintln!("sockdoc: error: writing the output: {error:#}");
            exit.max(Exit::CannotRun)
        }
    }
}

/// `--format`, or `--json`; a format the command does not have is a usage error naming the
/// ones it has.
fn output_format(cli: &Cli) -> anyhow::Result<Format> {
    let format = match (cli.global.format, cli.global.json) {
        (Some(format), true) if format != Format::Json => {
            return Err(exit::UsageError(format!(
                "--json and --format {} disagree: --json means --format json; give one",
                format.name()
            ))
            .into());
        }
        (Some(format), _) => format,
        (None, true) => Format::Json,
        (None, false) => Format::Table,
    };
    let has = formats(&cli.command);
    if has.contains(&format) {
        Ok(format)
    } else {
        let names: Vec<&str> = has.iter().map(|f| f.name()).collect();
        Err(exit::UsageError(format!(
            "--format {}: sockdoc {} writes {}",
            format.name(),
            cli.command.name(),
            names.join(", ")
        ))
        .into())
    }
}

/// The formats each command writes: every one has a table and JSON; the reports made of
/// checks also go to JUnit, GitHub annotations and Prometheus; sysctl-advice also writes a
/// sysctl.d snippet.
fn formats(command: &Command) -> &'static [Format] {
    use Format::{Conf, Github, Json, Junit, Prometheus, Table};
    match command {
        Command::Check(_) | Command::Inspect(_) => &[Table, Json, Junit, Github, Prometheus],
        Command::SysctlAdvice(_) => &[Table, Json, Conf, Junit, Github, Prometheus],
        _ => &[Table, Json],
    }
}

/// Where the output goes: stdout, or (`--output FILE`) a temporary file in FILE's directory
/// that replaces FILE by rename(2) once complete, so a reader (node_exporter's textfile
/// collector) never sees a partial file.
enum Destination {
    Stdout(Option<Box<dyn Write>>),
    File {
        temp: tempfile::NamedTempFile,
        path: std::path::PathBuf,
    },
}

impl Destination {
    fn open(path: Option<&std::path::Path>, stdout: &io::Stdout) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::Stdout(Some(output_file(stdout))));
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => std::path::Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".sockdoc-")
            // Readable by a collector running as another user, as a plain file would be.
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(dir)
            .map_err(|error| {
                let text = format!(
                    "--output {}: cannot create a file in {}: {}",
                    path.display(),
                    dir.display(),
                    sys::error::os_text(&error)
                );
                if error.kind() == io::ErrorKind::NotFound {
                    anyhow::Error::from(exit::UsageError(text))
                } else {
                    anyhow::anyhow!(text)
                }
            })?;
        Ok(Self::File {
            temp,
            path: path.to_path_buf(),
        })
    }

    fn writer(&mut self) -> Box<dyn Write> {
        match self {
            Self::Stdout(out) => out.take().unwrap_or_else(|| Box::new(io::stdout())),
            Self::File { temp, .. } => match temp.as_file().try_clone() {
                Ok(file) => Box::new(file),
                Err(_) => Box::new(io::sink()),
            },
        }
    }

    /// Puts the file in place when `keep`; otherwise the temporary file is removed.
    fn finish(self, keep: bool) -> anyhow::Result<()> {
        match self {
            Self::File { temp, path } if keep => {
                temp.as_file().sync_all()?;
                temp.persist(&path)
                    .map_err(|e| anyhow::anyhow!("--output {}: {}", path.display(), e.error))?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The context every command gets, from the global flags; progress bars only where the
/// caller says stdout is an interactive terminal.
fn context(cli: &Cli, interactive: bool) -> Context {
    Context {
        timeout: cli.global.timeout,
        show_progress: interactive && !cli.global.json,
        root: Root::at(&cli.global.root),
        netns: cli.global.netns.clone(),
        every_row: cli.global.json,
    }
}

/// Runs `command`, hands its report (or its rows) to `out` and returns the exit code it
/// earned.
fn dispatch(command: &Command, ctx: &Context, out: &mut dyn Output) -> anyhow::Result<Exit> {
    use commands::{
        backlog, boxed, check, close_wait, inspect, nagle, partial_send, peer_close, ports, prove,
        reuse_test, sockets, sockopt, sysctl_advice, timeouts, udp,
    };
    let reads_saved_tree = matches!(command, Command::SysctlAdvice(_));
    // completions and man read no file: --root means nothing to them, as --timeout does not.
    if !matches!(command, Command::Completions(_) | Command::Man(_)) {
        commands::check_root(command.name(), &ctx.root, reads_saved_tree)?;
    }
    let (report, exit) = match command {
        // The clap definition comes from here: commands do not import `cli`.
        Command::Completions(args) => boxed(
            commands::generate::completions(args, Cli::command())?,
            Report::Generated,
        ),
        Command::Man(args) => boxed(
            commands::generate::man(args, Cli::command())?,
            Report::Generated,
        ),
        Command::Sockets(args) => return sockets::run(args, ctx, out.stream()),
        Command::ReuseTest(args) => boxed(reuse_test::run(args, ctx)?, Report::ReuseTest),
        Command::Nagle(args) => boxed(nagle::run(args, ctx)?, Report::Nagle),
        Command::Sockopt(args) => boxed(sockopt::run(args, ctx)?, Report::Sockopt),
        Command::SysctlAdvice(args) => boxed(sysctl_advice::run(args, ctx)?, Report::SysctlAdvice),
        Command::Backlog(args) => boxed(backlog::run(args, ctx)?, Report::Scenario),
        Command::Udp(args) => boxed(udp::run(args, ctx)?, Report::Scenario),
        Command::PartialSend(args) => boxed(partial_send::run(args, ctx)?, Report::Scenario),
        Command::PeerClose(args) => boxed(peer_close::run(args, ctx)?, Report::Scenario),
        Command::Timeouts(args) => boxed(timeouts::run(args, ctx)?, Report::Scenario),
        Command::Inspect(args) => boxed(inspect::run(args, ctx)?, Report::Inspect),
        Command::Check(args) => boxed(check::run(args, ctx)?, Report::Check),
        Command::Prove(args) => boxed(prove::run(args, ctx)?, Report::Prove),
        Command::CloseWait(args) => boxed(close_wait::run(args, ctx)?, Report::Scenario),
        Command::Ports(args) => boxed(ports::run(args, ctx)?, Report::Scenario),
        Command::Keepalive(args) => boxed(commands::keepalive::run(args, ctx)?, Report::Scenario),
    };
    out.report(&report, exit)?;
    Ok(exit)
}

/// Reports a command line clap did not turn into a run: a usage error (exit 2), or
/// `--help` / `help` / `--version` (exit 0). Without `--json` clap prints them itself. Under
/// `--json` stdout gets exactly one JSON document either way, as every run's does: an error
/// document, or the help or version text in one; the usage error also goes to stderr.
pub fn usage_error(error: &clap::Error) -> Exit {
    // args_os: an argument that is not UTF-8 is itself a usage error, not a panic.
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    if !args.iter().any(|arg| arg == "--json") {
        error.exit();
    }
    let text = error.render().to_string();
    let command = subcommand_named(&args);
    let document = match error.kind() {
        clap::error::ErrorKind::DisplayHelp => serde_json::json!({
            "command": command.as_deref().unwrap_or("help"),
            "sockdoc_version": VERSION,
            "exit_code": Exit::Clean.code(),
            "help": text,
        }),
        clap::error::ErrorKind::DisplayVersion => serde_json::json!({
            "command": "version",
            "sockdoc_version": VERSION,
            "exit_code": Exit::Clean.code(),
            // What clap prints: one line for -V, the long form for --version.
            "version": text.trim(),
            "git_revision": (GIT_REVISION != "unknown").then_some(GIT_REVISION),
            "kernel": kernel_release(),
        }),
        _ => {
            let _ = error.print();
            let document = report::json::error_document(
                command.as_deref().unwrap_or("sockdoc"),
                text.trim(),
                Exit::Usage,
            );
            print_document(&document);
            return Exit::Usage;
        }
    };
    print_document(
        &serde_json::to_string_pretty(&document).expect("a json! value always serializes"),
    );
    Exit::Clean
}

/// Prints one document on stdout; a reader that closed the pipe (`| head`) is not an error
/// (`println!` would panic there).
fn print_document(document: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{document}").and_then(|()| out.flush());
}

/// The first argument that names a subcommand (not `help`: `sockdoc help nagle` is nagle's
/// help), for the `command` field of a document about a command line that did not run.
fn subcommand_named(args: &[String]) -> Option<String> {
    let cli = Cli::command();
    args.iter()
        .find(|arg| cli.get_subcommands().any(|sub| sub.get_name() == *arg))
        .cloned()
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
