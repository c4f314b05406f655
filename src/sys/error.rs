//! Errors from the kernel-facing layer. Each carries the step that failed and the
//! address involved, so the user reads "binding 127.0.0.1:8080: Address already in use
//! (EADDRINUSE)" rather than a bare os error; where the errno has a cause on this host that
//! sockdoc can read (a full port range, lo down, IPv6 disabled, the fd limit), [`diagnose`]
//! names it with the figures that show it (`sys::diagnose`, which adds `diagnosed()` to this type:
//! the type itself depends on no reader, so every reader can return it).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use nix::errno::Errno;

/// Why a packet sockdoc sent to itself never got its answer. Every experiment talks to this
/// host, so nothing on a wire can lose it: something on the host dropped it, or the host is
/// too busy to answer in time.
pub const NO_ANSWER_CAUSES: &str = "sockdoc talks only to this host, so something here \
     dropped the packet (a firewall rule: `nft list ruleset`, `iptables -S`; a qdisc on lo: `tc \
     qdisc show dev lo`; lo down: `ip link show lo`) or the host was too busy to answer in time \
     (raise --timeout)";

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

    #[error("{step}: no answer within {}: {NO_ANSWER_CAUSES}", humantime::format_duration(*.timeout))]
    Timeout { step: String, timeout: Duration },

    /// A read that needed more bytes met the end of the stream: Rust's `read_exact` would say
    /// only "failed to fill whole buffer".
    #[error("{step}: the peer closed the connection after {received} of {expected} bytes")]
    PeerClosed {
        step: String,
        received: usize,
        expected: usize,
    },

    /// An error with the cause [`diagnose`] read on this host when it happened.
    #[error("{}", diagnosed_text(.error, .diagnosis))]
    Diagnosed {
        error: Box<SysError>,
        diagnosis: String,
    },

    #[error("querying NETLINK_SOCK_DIAG: {}", os_text(.error))]
    Diag { error: io::Error },

    #[error("reading {}: {}", .path.display(), os_text(.error))]
    Read { path: PathBuf, error: io::Error },

    #[error("parsing {what}: {detail}")]
    Parse { what: String, detail: String },

    /// `--netns` could not be entered.
    #[error("--netns {target}: {detail}")]
    Netns { target: String, detail: String },
    /// The throwaway namespace (`sys::sandbox`) could not be made or its experiment failed.
    #[error("lab: {detail}")]
    Lab { detail: String },
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
            Self::Diagnosed { error, .. } => error.errno(),
            Self::Timeout { .. }
            | Self::PeerClosed { .. }
            | Self::Parse { .. }
            | Self::Netns { .. }
            | Self::Lab { .. } => None,
        }
    }

    /// The error without a diagnosis, for callers that explain the errno their own way.
    #[must_use]
    pub fn undiagnosed(self) -> Self {
        match self {
            Self::Diagnosed { error, .. } => *error,
            other => other,
        }
    }

    /// The error under its diagnosis, if it has one.
    pub fn undiagnosed_ref(&self) -> &Self {
        match self {
            Self::Diagnosed { error, .. } => error,
            other => other,
        }
    }

    /// Wraps an I/O error from a blocking step, turning the SO_RCVTIMEO/SO_SNDTIMEO
    /// expiry (EAGAIN) into a `Timeout` that names the step, diagnosed (lo down, EMFILE).
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
        .diagnosed()
    }
}

/// A diagnosed error as one sentence. A timeout's diagnosis takes the place of the list of
/// possible causes ([`NO_ANSWER_CAUSES`]): it is the one cause read on this host, so it
/// leads, and the user is not sent to raise --timeout for a packet that cannot arrive.
fn diagnosed_text(error: &SysError, diagnosis: &str) -> String {
    match error {
        SysError::Timeout { step, timeout } => format!(
            "{step}: no answer within {}: {diagnosis}",
            humantime::format_duration(*timeout)
        ),
        other => format!("{other}: {diagnosis}"),
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
