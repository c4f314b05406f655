//! A new socket tries the port: bind() and listen() (raw or through std), or bind() alone
//! as a probe. A refusal by the bind rules (EADDRINUSE) is a measured outcome; any other
//! error says why the step could not run.

use std::net::SocketAddr;
use std::time::Duration;

use nix::errno::Errno;

use super::explain::explain_bind_error;
use super::report::{BindOutcome, BindStep};
use crate::sys::SysError;
use crate::sys::fs::Root;
use crate::sys::socket::{self as sock, ReuseFlags};

/// The result of a new socket trying bind() + listen() on a port.
pub(super) struct Attempt {
    pub(super) outcome: BindOutcome,
    pub(super) failed_step: Option<BindStep>,
    pub(super) flags: ReuseFlags,
}

/// A fresh raw socket with `flags` tries bind() then listen() on `target`; a refusal is
/// the measured outcome, not an error. The socket is closed before returning.
pub(super) fn try_bind_listen(
    root: &Root,
    target: SocketAddr,
    flags: ReuseFlags,
) -> anyhow::Result<Attempt> {
    let socket = sock::tcp_socket(target, flags)?;
    let flags = sock::reuse_flags(&socket)?;
    let (outcome, failed_step) = match sock::bind(&socket, target) {
        Err(e) => (refusal(root, e, target)?, Some(BindStep::Bind)),
        Ok(()) => match sock::listen(&socket, target) {
            Err(e) => (refusal(root, e, target)?, Some(BindStep::Listen)),
            Ok(()) => (BindOutcome::Ok, None),
        },
    };
    Ok(Attempt {
        outcome,
        failed_step,
        flags,
    })
}

/// `std::net::TcpListener::bind` on `target`. std does socket, setsockopt, bind and listen
/// in one call, so a failed attempt reports the options std is measured to set.
pub(super) fn try_std_listener(
    root: &Root,
    target: SocketAddr,
    std_defaults: ReuseFlags,
    timeout: Duration,
) -> anyhow::Result<Attempt> {
    match sock::std_listener(target, timeout) {
        Ok(listener) => Ok(Attempt {
            outcome: BindOutcome::Ok,
            failed_step: None,
            flags: sock::reuse_flags(&listener)?,
        }),
        Err(e) => Ok(Attempt {
            outcome: refusal(root, e, target)?,
            failed_step: Some(BindStep::Bind),
            flags: std_defaults,
        }),
    }
}

/// A bind/listen refusal as an outcome. Only EADDRINUSE is an outcome of the bind rules;
/// any other error (EMFILE, EACCES, a missing address) says why the trial could not run and
/// passes through, never to be held against the documented rule as a mismatch.
pub(super) fn refusal(
    root: &Root,
    error: SysError,
    target: SocketAddr,
) -> anyhow::Result<BindOutcome> {
    match error.errno() {
        Some(Errno::EADDRINUSE) => Ok(BindOutcome::ADDR_IN_USE),
        _ => Err(explain_bind_error(root, error, target)),
    }
}

/// A fresh socket with `flags` tries bind() alone on `target`: `ok` or `EADDRINUSE`. The
/// socket is closed before returning, never having listened.
pub(super) fn probe_bind(
    root: &Root,
    target: SocketAddr,
    flags: ReuseFlags,
) -> anyhow::Result<BindOutcome> {
    let socket = sock::tcp_socket(target, flags)?;
    match sock::bind(&socket, target) {
        Ok(()) => Ok(BindOutcome::Ok),
        Err(err) => refusal(root, err, target),
    }
}
