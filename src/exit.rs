//! Exit codes, as the design doc defines them. Every command returns one; nothing calls
//! `process::exit` from deep inside.

use std::fmt;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: the command ran and found nothing that needs action.
    Clean,
    /// 1: it ran and found something that needs action (a mismatch with documented kernel
    /// behaviour, a failed check, a limit exceeded).
    Finding,
    /// 2: bad usage; the message names the flag and the value.
    Usage,
    /// 3: the experiment could not run as asked (port held, permission, feature missing).
    CannotRun,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Self::Clean => 0,
            Self::Finding => 1,
            Self::Usage => 2,
            Self::CannotRun => 3,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

/// A usage problem found after parsing (clap handles the rest): exit 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit code for an error that stopped a command: usage errors are 2, anything else
/// means the experiment could not run as asked (3).
pub fn for_error(error: &anyhow::Error) -> Exit {
    if error.downcast_ref::<UsageError>().is_some() {
        Exit::Usage
    } else {
        Exit::CannotRun
    }
}
