//! One module per command. Each runs its experiment and returns a `Serialize` report and
//! an exit code; none prints.

pub mod args;
pub mod backlog;
pub mod check;
pub mod close_wait;
pub mod generate;
pub mod inspect;
pub mod keepalive;
pub mod lab;
pub mod nagle;
pub mod partial_send;
pub mod peer_close;
pub mod ports;
pub mod prove;
pub mod reuse_test;
pub mod scenario;
pub mod severity;
pub mod sockets;
pub mod sockopt;
pub mod sysctl_advice;
pub mod timeouts;
pub mod udp;

use std::io;
use std::time::Duration;

use serde::Serialize;

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
    /// `--netns`, when given: the namespace sockdoc already entered (a command must not
    /// move to another one on its own).
    pub netns: Option<String>,
    /// The output shows every row (`--json`): a command that would otherwise keep only the
    /// rows its table needs keeps them all.
    pub every_row: bool,
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
    /// `completions`, `man`: generated text, printed as it is.
    Generated(Box<generate::GeneratedText>),
    ReuseTest(Box<reuse_test::ReuseReport>),
    Nagle(Box<nagle::NagleReport>),
    SysctlAdvice(Box<sysctl_advice::SysctlReport>),
    Sockopt(Box<sockopt::SockoptReport>),
    Scenario(Box<scenario::ScenarioReport>),
    Inspect(Box<inspect::InspectReport>),
    Check(Box<check::CheckReport>),
    Prove(Box<prove::ProveReport>),
}

/// A command's report, boxed into its `Report` variant.
pub fn boxed<R>((report, exit): (R, Exit), variant: fn(Box<R>) -> Report) -> (Report, Exit) {
    (variant(Box::new(report)), exit)
}

/// `--root DIR` must be an existing directory: a typo would otherwise read as a kernel
/// without any of the knobs sockdoc looks for. Only a command that judges files alone
/// (`reads_saved_tree`: sysctl-advice) takes one other than the live `/`: every other command
/// measures this kernel's sockets, and pairing them with knobs and counters from a saved
/// tree would report figures that belong to no host.
pub fn check_root(command: &str, root: &Root, reads_saved_tree: bool) -> anyhow::Result<()> {
    if let Some(problem) = sysctl::root_problem(root) {
        return Err(UsageError(format!(
            "--root {}: {problem}; give an existing directory that stands for / (it holds \
             proc/ and etc/)",
            root.display()
        ))
        .into());
    }
    if reads_saved_tree || root.is_live() {
        return Ok(());
    }
    Err(UsageError(format!(
        "--root {}: {command} measures this kernel's sockets, so it reads the live /; only \
         sysctl-advice judges a saved tree (drop --root, or run sysctl-advice --root)",
        root.display()
    ))
    .into())
}
