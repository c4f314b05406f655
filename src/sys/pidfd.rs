//! Reading the options of another process's socket: pidfd_open(2) names the process,
//! pidfd_getfd(2) gives sockdoc a duplicate of one of its descriptors — the same open file,
//! so the same socket — and getsockopt(2) on the duplicate reads that socket's options.
//!
//! Read-only by construction: a [`ForeignSocket`] exposes getters only (a setsockopt on it
//! would change the production socket), and it is closed when dropped, at once (a duplicate
//! held open keeps the socket — and its port — alive after its program closes it).
//!
//! pidfd_getfd needs ptrace access to the target (`PTRACE_MODE_ATTACH_REALCREDS`,
//! kernel/pid.c `__pidfd_fget()`): root, CAP_SYS_PTRACE, or the same user where
//! kernel.yama.ptrace_scope allows it. Since Linux 5.6.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::sockopt::{self as opts, Opt, Value};

/// Why another process's socket could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// The process is gone.
    Gone,
    /// Not allowed: the reason names the privilege or the ptrace policy.
    Denied(String),
    /// The descriptor was closed (or is no longer a socket) before it could be duplicated.
    Closed,
    /// pidfd_open or pidfd_getfd is missing (a kernel before 5.6) or failed otherwise.
    Unavailable(String),
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gone => f.write_str("the process exited"),
            Self::Denied(why) | Self::Unavailable(why) => f.write_str(why),
            Self::Closed => f.write_str("the descriptor was closed before it could be read"),
        }
    }
}

/// A process, held by a pidfd so its pid cannot be reused while sockdoc reads it.
pub struct Process {
    pid: u32,
    pidfd: OwnedFd,
}

/// A duplicate of another process's socket descriptor: read its options, then drop it.
pub struct ForeignSocket {
    fd: OwnedFd,
}

impl Process {
    pub fn open(pid: u32) -> Result<Self, Unreadable> {
        let raw = pidfd_open(pid).map_err(|error| match error.raw_os_error() {
            Some(libc::ESRCH) => Unreadable::Gone,
            Some(libc::ENOSYS) => {
                Unreadable::Unavailable("pidfd_open(2) needs Linux 5.3 or newer".into())
            }
            _ => Unreadable::Unavailable(format!("pidfd_open({pid}): {error}")),
        })?;
        Ok(Self { pid, pidfd: raw })
    }

    /// A duplicate of descriptor `fd` of this process.
    pub fn socket(&self, fd: RawFd) -> Result<ForeignSocket, Unreadable> {
        match pidfd_getfd(self.pidfd.as_fd(), fd) {
            Ok(fd) => Ok(ForeignSocket { fd }),
            Err(error) => Err(match error.raw_os_error() {
                Some(libc::EPERM) => Unreadable::Denied(denied_reason(self.pid)),
                Some(libc::EBADF) => Unreadable::Closed,
                Some(libc::ESRCH) => Unreadable::Gone,
                Some(libc::ENOSYS) => {
                    Unreadable::Unavailable("pidfd_getfd(2) needs Linux 5.6 or newer".into())
                }
                _ => Unreadable::Unavailable(format!("pidfd_getfd({}, {fd}): {error}", self.pid)),
            }),
        }
    }
}

impl ForeignSocket {
    /// Reads one option of the socket (getsockopt, or fcntl for O_NONBLOCK, which the
    /// duplicate shares with the original as part of the open file).
    pub fn get(&self, opt: Opt, ipv6: bool) -> Result<Value, super::SysError> {
        opts::get(&self.fd.as_fd(), opt, ipv6)
    }
}

impl AsFd for ForeignSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The options of another program's socket that say how it will behave: what `inspect`
/// judges. Per-descriptor flags (FD_CLOEXEC) are left out: the duplicate has its own.
pub const READABLE_TCP: [Opt; 13] = [
    Opt::ReuseAddr,
    Opt::ReusePort,
    Opt::NoDelay,
    Opt::Cork,
    Opt::Linger,
    Opt::KeepAlive,
    Opt::KeepIdle,
    Opt::KeepInterval,
    Opt::KeepCount,
    Opt::UserTimeout,
    Opt::RcvBuf,
    Opt::SndBuf,
    Opt::Nonblocking,
];

/// Why pidfd_getfd was refused, from the ptrace policy this host runs.
fn denied_reason(pid: u32) -> String {
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|s| s.trim().parse::<u8>().ok());
    let policy = match scope {
        Some(0) => "kernel.yama.ptrace_scope = 0 lets a process of the same user in".to_owned(),
        Some(1) => "kernel.yama.ptrace_scope = 1 admits only root or CAP_SYS_PTRACE for a \
                    process that is not a descendant"
            .to_owned(),
        Some(2) => "kernel.yama.ptrace_scope = 2 admits only CAP_SYS_PTRACE".to_owned(),
        Some(3) => "kernel.yama.ptrace_scope = 3 forbids it to everyone".to_owned(),
        _ => "ptrace access to it is required".to_owned(),
    };
    format!(
        "reading process {pid}'s socket options needs ptrace access to it (root or \
         CAP_SYS_PTRACE): {policy}"
    )
}

/// pidfd_open(2).
#[allow(unsafe_code)]
fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: pidfd_open takes a pid and a flags word (0) and returns a new descriptor or -1;
    // it reads and writes no memory of this process.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    owned(fd)
}

/// pidfd_getfd(2): a duplicate (close-on-exec) of descriptor `target` of the pidfd's process.
#[allow(unsafe_code)]
fn pidfd_getfd(pidfd: BorrowedFd<'_>, target: RawFd) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    // SAFETY: `pidfd` is an open pidfd borrowed for the call; `target` is a number in the
    // other process's table; the flags word must be 0. The call returns a new descriptor or
    // -1 and touches no memory of this process.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) };
    owned(fd)
}

/// A syscall's new descriptor, owned, or its errno.
#[allow(unsafe_code)]
fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned `fd` as a new descriptor of this process, owned by no
    // one else; OwnedFd closes it exactly once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use socket2::{Domain, Socket, Type};

    use super::*;

    #[test]
    fn a_duplicate_reads_the_options_the_socket_has() {
        // This process stands in for the other program: its own pid and descriptors.
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.set_reuse_address(true).unwrap();
        socket.set_linger(Some(Duration::ZERO)).unwrap();
        socket.set_tcp_nodelay(true).unwrap();
        let me = Process::open(std::process::id()).unwrap();
        let copy = me.socket(socket.as_raw_fd()).unwrap();
        assert_eq!(copy.get(Opt::ReuseAddr, false).unwrap(), Value::Bool(true));
        assert_eq!(copy.get(Opt::ReusePort, false).unwrap(), Value::Bool(false));
        assert_eq!(copy.get(Opt::NoDelay, false).unwrap(), Value::Bool(true));
        assert_eq!(
            copy.get(Opt::Linger, false).unwrap(),
            Value::Duration(Some(Duration::ZERO))
        );
        for opt in READABLE_TCP {
            assert!(copy.get(opt, false).is_ok(), "{opt:?} reads");
        }
    }

    #[test]
    fn the_duplicate_dies_with_its_drop_and_frees_the_port() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let me = Process::open(std::process::id()).unwrap();
        let copy = me.socket(listener.as_raw_fd()).unwrap();
        drop(copy);
        drop(listener);
        // Had the duplicate survived, the listening socket would still hold the port.
        assert!(TcpListener::bind(addr).is_ok());
    }

    #[test]
    fn a_closed_descriptor_and_a_gone_process_say_so() {
        let me = Process::open(std::process::id()).unwrap();
        assert_eq!(me.socket(1_000_000).err(), Some(Unreadable::Closed));
        // pid_max is at most 4194304 (PID_MAX_LIMIT): a larger pid is no process.
        assert_eq!(Process::open(4_194_305).err(), Some(Unreadable::Gone));
    }
}
