//! Errors from the kernel-facing layer. Each carries the step that failed and the
//! address involved, so the user reads "binding 127.0.0.1:8080: Address already in use
//! (EADDRINUSE)" rather than a bare os error.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use nix::errno::Errno;

#[derive(Debug, thiserror::Error)]
pub enum SysError {
    #[error("creating a {what} socket: {}", os_text(.error))]
    Socket {
        what: &'static str,
        error: io::Error,
    },

    #[error("setting {option} on the socket: {}", os_text(.error))]
    SetOption {
        option: &'static str,
        error: io::Error,
    },

    #[error("reading {option} from the socket: {}", os_text(.error))]
    GetOption {
        option: &'static str,
        error: io::Error,
    },

    #[error("binding {addr}: {}", os_text(.error))]
    Bind { addr: SocketAddr, error: io::Error },

    #[error("listening on {addr}: {}", os_text(.error))]
    Listen { addr: SocketAddr, error: io::Error },

    #[error("connecting to {addr}: {}", os_text(.error))]
    Connect { addr: SocketAddr, error: io::Error },

    #[error("{step}: {}", os_text(.error))]
    Io { step: String, error: io::Error },

    #[error("{step}: no answer within {} (raise --timeout if the host is slow)", humantime::format_duration(*.timeout))]
    Timeout { step: String, timeout: Duration },

    #[error("querying NETLINK_SOCK_DIAG: {}", os_text(.error))]
    Diag { error: io::Error },

    #[error("reading {}: {}", .path.display(), os_text(.error))]
    Read { path: PathBuf, error: io::Error },

    #[error("parsing {what}: {detail}")]
    Parse { what: String, detail: String },
}

impl SysError {
    /// The errno behind the error, when there is one: commands branch on it
    /// (EADDRINUSE is a measured outcome, EACCES a reason to stop).
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Self::Socket { error, .. }
            | Self::SetOption { error, .. }
            | Self::GetOption { error, .. }
            | Self::Bind { error, .. }
            | Self::Listen { error, .. }
            | Self::Connect { error, .. }
            | Self::Io { error, .. }
            | Self::Diag { error }
            | Self::Read { error, .. } => error.raw_os_error().map(Errno::from_raw),
            Self::Timeout { .. } | Self::Parse { .. } => None,
        }
    }

    /// Wraps an I/O error from a blocking step, turning the SO_RCVTIMEO/SO_SNDTIMEO
    /// expiry (EAGAIN) into a `Timeout` that names the step.
    pub fn io_step(step: impl Into<String>, error: io::Error, timeout: Duration) -> Self {
        let step = step.into();
        if matches!(
            error.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            Self::Timeout { step, timeout }
        } else {
            Self::Io { step, error }
        }
    }
}

/// The errno name as in errno(3), e.g. `EADDRINUSE`; `None` for errors without an errno.
pub fn errno_name(error: &io::Error) -> Option<String> {
    let errno = Errno::from_raw(error.raw_os_error()?);
    // nix's Debug prints the symbolic name; UnknownErrno means the kernel sent a code nix
    // does not know, which we show as a number instead.
    (errno != Errno::UnknownErrno).then(|| format!("{errno:?}"))
}

/// "Address already in use (EADDRINUSE)": the kernel's text and the errno name, so users
/// can search for either.
pub fn os_text(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => {
            let name = errno_name(error).unwrap_or_else(|| format!("errno {code}"));
            format!("{} ({name})", Errno::from_raw(code).desc())
        }
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_text_shows_kernel_text_and_errno_name() {
        let error = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(os_text(&error), "Address already in use (EADDRINUSE)");
        assert_eq!(errno_name(&error).as_deref(), Some("EADDRINUSE"));
    }

    #[test]
    fn would_block_becomes_a_named_timeout() {
        let error = io::Error::from_raw_os_error(libc::EAGAIN);
        let err = SysError::io_step("accepting the client", error, Duration::from_millis(250));
        assert_eq!(
            err.to_string(),
            "accepting the client: no answer within 250ms (raise --timeout if the host is slow)"
        );
    }
}
