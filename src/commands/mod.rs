//! One module per command. Each runs its experiment and returns a `Serialize` report and
//! an exit code; none prints.

pub mod backlog;
pub mod nagle;
pub mod partial_send;
pub mod peer_close;
pub mod reuse_test;
pub mod scenario;
pub mod sockets;
pub mod sockopt;
pub mod sysctl_advice;
pub mod timeouts;
pub mod udp;

use std::io;
use std::time::Duration;

use serde::Serialize;

use crate::cli::{Cli, Command};
use crate::exit::{Exit, UsageError};
use crate::sys::fs::Root;
use crate::sys::sysctl;

/// What every command gets besides its own arguments.
#[derive(Debug, Clone)]
pub struct Context {
    /// Bound for every blocking socket step (`--timeout`).
    pub timeout: Duration,
    /// Draw progress bars for long waits (only on a terminal, never with --json).
    pub show_progress: bool,
    /// Where /proc and /etc are read (`--root`): every file read goes through it.
    pub root: Root,
}

/// Where a command's results go. `report` implements it (tables, JSON); commands only
/// hand over data, so a command that streams its rows is no special case.
pub trait Output {
    /// Writes a finished report with the exit code it earned.
    fn report(&mut self, report: &Report, exit: Exit) -> io::Result<()>;
    /// The sink a command writes its rows to as it reads them (`sockets`).
    fn stream(&mut self) -> &mut dyn sockets::Sink;
}

/// A whole report, one variant per report type (the lessons share `Scenario`).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Report {
    ReuseTest(Box<reuse_test::ReuseReport>),
    Nagle(Box<nagle::NagleReport>),
    SysctlAdvice(Box<sysctl_advice::SysctlReport>),
    Sockopt(Box<sockopt::SockoptReport>),
    Scenario(Box<scenario::ScenarioReport>),
}

pub use crate::VERSION;

/// The context every command gets, from the global flags; progress bars only where the
/// caller says stdout is an interactive terminal.
pub fn context(cli: &Cli, interactive: bool) -> Context {
    Context {
        timeout: cli.global.timeout,
        show_progress: interactive && !cli.global.json,
        root: Root::at(&cli.global.root),
    }
}

/// Runs `command`, hands its report (or its rows) to `out` and returns the exit code it
/// earned.
pub fn run(command: &Command, ctx: &Context, out: &mut dyn Output) -> anyhow::Result<Exit> {
    check_root(&ctx.root)?;
    let (report, exit) = match command {
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
    };
    out.report(&report, exit)?;
    Ok(exit)
}

fn boxed<R>((report, exit): (R, Exit), variant: fn(Box<R>) -> Report) -> (Report, Exit) {
    (variant(Box::new(report)), exit)
}

/// `--root DIR` must be an existing directory for every command: a typo would otherwise
/// read as a kernel without any of the knobs sockdoc looks for.
fn check_root(root: &Root) -> anyhow::Result<()> {
    match sysctl::root_problem(root) {
        None => Ok(()),
        Some(problem) => Err(UsageError(format!(
            "--root {}: {problem}; give an existing directory that stands for / (it holds \
             proc/ and etc/)",
            root.display()
        ))
        .into()),
    }
}
