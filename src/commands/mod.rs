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

use std::time::Duration;

use serde::Serialize;

use crate::cli::{Cli, Command};
use crate::exit::Exit;
use crate::sys::fs::Root;

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

/// The report a command produced and the exit code it earned.
pub struct Outcome {
    pub report: Report,
    pub exit: Exit,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Report {
    ReuseTest(Box<reuse_test::ReuseReport>),
    Nagle(Box<nagle::NagleReport>),
    SysctlAdvice(Box<sysctl_advice::SysctlReport>),
    Sockopt(Box<sockopt::SockoptReport>),
    Scenario(Box<scenario::ScenarioReport>),
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The context every command gets, from the global flags; progress bars only where the
/// caller says stdout is an interactive terminal.
pub fn context(cli: &Cli, interactive: bool) -> Context {
    Context {
        timeout: cli.global.timeout,
        show_progress: interactive && !cli.global.json,
        root: Root::at(&cli.global.root),
    }
}

/// Runs a command that returns a whole report (every command but `sockets`, which streams
/// its rows to a sink as it reads them: see `sockets::run`).
pub fn run(cli: &Cli, context: &Context) -> anyhow::Result<Outcome> {
    let context = context.clone();
    match &cli.command {
        Command::ReuseTest(args) => {
            let (report, exit) = reuse_test::run(args, &context)?;
            Ok(Outcome {
                report: Report::ReuseTest(Box::new(report)),
                exit,
            })
        }
        Command::Nagle(args) => {
            let (report, exit) = nagle::run(args, &context)?;
            Ok(Outcome {
                report: Report::Nagle(Box::new(report)),
                exit,
            })
        }
        // Its rows stream to a sink as they are read: `sockdoc::run` calls `sockets::run`.
        Command::Sockets(_) => {
            anyhow::bail!("sockets streams its rows; run it through sockdoc::run")
        }
        Command::Backlog(args) => Ok(scenario(backlog::run(args, &context)?)),
        Command::Udp(args) => Ok(scenario(udp::run(args, &context)?)),
        Command::PartialSend(args) => Ok(scenario(partial_send::run(args, &context)?)),
        Command::PeerClose(args) => Ok(scenario(peer_close::run(args, &context)?)),
        Command::Timeouts(args) => Ok(scenario(timeouts::run(args, &context)?)),
        Command::Sockopt(args) => {
            let (report, exit) = sockopt::run(args, &context)?;
            Ok(Outcome {
                report: Report::Sockopt(Box::new(report)),
                exit,
            })
        }
        Command::SysctlAdvice(args) => {
            let (report, exit) = sysctl_advice::run(args, &context)?;
            Ok(Outcome {
                report: Report::SysctlAdvice(Box::new(report)),
                exit,
            })
        }
    }
}

fn scenario((report, exit): (scenario::ScenarioReport, Exit)) -> Outcome {
    Outcome {
        report: Report::Scenario(Box::new(report)),
        exit,
    }
}
