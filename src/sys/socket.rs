//! TCP socket wrappers over socket2 and std, each with the step and address in its error.
//! Every blocking call here is bounded by a timeout (SO_RCVTIMEO / SO_SNDTIMEO, or
//! `connect_timeout`), so no experiment can hang.
//!
//! Options used, from socket(7) <https://man7.org/linux/man-pages/man7/socket.7.html> and
//! tcp(7) <https://man7.org/linux/man-pages/man7/tcp.7.html>.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::SysError;
use super::diagnose::Op;

/// The listen(2) backlog for sockdoc's own listeners: experiments open at most a few
/// connections at a time.
const BACKLOG: i32 = 16;

/// The address-reuse options of a socket, as requested or as read back from the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReuseFlags {
    /// SO_REUSEADDR: bind over TIME_WAIT (and non-listening) sockets that set it too.
    pub reuse_address: bool,
    /// SO_REUSEPORT: share an address with other sockets that set it (same effective uid).
    pub reuse_port: bool,
}

impl ReuseFlags {
    pub const NONE: Self = Self {
        reuse_address: false,
        reuse_port: false,
    };
    pub const ADDR: Self = Self {
        reuse_address: true,
        reuse_port: false,
    };
    pub const PORT: Self = Self {
        reuse_address: false,
        reuse_port: true,
    };
}

/// A new, unbound TCP socket for `addr`'s family with `flags` set, as a raw socket2
/// socket (which, unlike std, sets no option by itself).
pub fn tcp_socket(addr: SocketAddr, flags: ReuseFlags) -> Result<Socket, SysError> {
    let what = if addr.is_ipv6() {
        "TCP/IPv6"
    } else {
        "TCP/IPv4"
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|error| SysError::Socket { what, error }.diagnosed())?;
    if flags.reuse_address {
        socket
            .set_reuse_address(true)
            .map_err(|error| SysError::SetOption {
                option: "SO_REUSEADDR",
                error,
            })?;
    }
    if flags.reuse_port {
        socket
            .set_reuse_port(true)
            .map_err(|error| SysError::SetOption {
                option: "SO_REUSEPORT",
                error,
            })?;
    }
    Ok(socket)
}

/// SO_REUSEADDR and SO_REUSEPORT as the kernel holds them for this socket.
pub fn reuse_flags(socket: &impl AsFd) -> Result<ReuseFlags, SysError> {
    let socket = SockRef::from(socket);
    Ok(ReuseFlags {
        reuse_address: socket
            .reuse_address()
            .map_err(|error| SysError::GetOption {
                option: "SO_REUSEADDR",
                error,
            })?,
        reuse_port: socket.reuse_port().map_err(|error| SysError::GetOption {
            option: "SO_REUSEPORT",
            error,
        })?,
    })
}

pub fn bind(socket: &Socket, addr: SocketAddr) -> Result<(), SysError> {
    socket
        .bind(&addr.into())
        .map_err(|error| SysError::Bind { addr, error }.diagnosed())
}

pub fn listen(socket: &Socket, addr: SocketAddr) -> Result<(), SysError> {
    socket
        .listen(BACKLOG)
        .map_err(|error| SysError::Listen { addr, error }.diagnosed())
}

/// The address the kernel actually bound (resolves port 0 to the chosen port).
pub fn local_addr(socket: &impl AsFd) -> Result<SocketAddr, SysError> {
    SockRef::from(socket)
        .local_addr()
        .map_err(|error| SysError::GetOption {
            option: "the local address (getsockname)",
            error,
        })?
        .as_socket()
        .ok_or_else(|| SysError::Parse {
            what: "getsockname".into(),
            detail: "the kernel returned a non-IP address".into(),
        })
}

/// A raw socket2 listener with `flags` on `addr` (port 0 = ephemeral), bounded accept.
pub fn listener(
    addr: SocketAddr,
    flags: ReuseFlags,
    timeout: Duration,
) -> Result<Socket, SysError> {
    let socket = tcp_socket(addr, flags)?;
    bind(&socket, addr)?;
    listen(&socket, addr)?;
    // accept(2) honours SO_RCVTIMEO on Linux, which bounds the wait for a client.
    set_timeouts(&socket, timeout)?;
    Ok(socket)
}

/// A listener made the way `std::net::TcpListener::bind` makes it (std sets SO_REUSEADDR
/// itself on Unix), with a bounded accept.
pub fn std_listener(addr: SocketAddr, timeout: Duration) -> Result<TcpListener, SysError> {
    let listener =
        TcpListener::bind(addr).map_err(|error| SysError::Bind { addr, error }.diagnosed())?;
    set_timeouts(&listener, timeout)?;
    Ok(listener)
}

/// Connects to `addr`, a listener this process opened and still holds, with a bounded
/// handshake; reads and writes are bounded too. A refusal is diagnosed as coming from a rule
/// on this host ([`Op::ConnectOwn`]): use another call for somebody else's listener.
pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, SysError> {
    connect_socket(tcp_socket(addr, ReuseFlags::NONE)?, addr, timeout)
}

/// Accepts one connection on a listener whose SO_RCVTIMEO bounds the wait.
pub fn accept(listener: &impl AsFd, timeout: Duration) -> Result<TcpStream, SysError> {
    let (socket, _) = SockRef::from(listener).accept().map_err(|error| {
        SysError::io_step("accepting the test client's connection", error, timeout)
    })?;
    let stream = TcpStream::from(socket);
    set_timeouts(&stream, timeout)?;
    Ok(stream)
}

fn set_timeouts(socket: &impl AsFd, timeout: Duration) -> Result<(), SysError> {
    let socket = SockRef::from(socket);
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|error| SysError::SetOption {
            option: "SO_RCVTIMEO",
            error,
        })?;
    socket
        .set_write_timeout(Some(timeout))
        .map_err(|error| SysError::SetOption {
            option: "SO_SNDTIMEO",
            error,
        })
}

/// Writes all of `data`; `step` names the write in a timeout message.
pub fn send_all(
    stream: &mut impl Write,
    data: &[u8],
    step: &str,
    timeout: Duration,
) -> Result<(), SysError> {
    stream
        .write_all(data)
        .map_err(|error| SysError::io_step(step, error, timeout))
}

/// Reads exactly `buf.len()` bytes from a socket (or a buffered reader over one). A peer
/// that closes first is a `PeerClosed` that says how many bytes came, not std's "failed to
/// fill whole buffer".
pub fn recv_exact(
    stream: &mut impl Read,
    buf: &mut [u8],
    step: &str,
    timeout: Duration,
) -> Result<(), SysError> {
    let mut received = 0;
    while received < buf.len() {
        match stream.read(&mut buf[received..]) {
            Ok(0) => {
                return Err(SysError::PeerClosed {
                    step: step.into(),
                    received,
                    expected: buf.len(),
                });
            }
            Ok(n) => received += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(SysError::io_step(step, error, timeout)),
        }
    }
    Ok(())
}

/// Waits up to `timeout` for an error or a hang-up on `socket` (POLLERR / POLLHUP, which
/// poll(2) reports whatever events were asked for): what a peer's RST leaves on a
/// connection, also one whose peer already sent FIN and so always reads as readable.
/// Returns false when the time ran out with neither.
pub fn wait_for_error(socket: &impl AsFd, timeout: Duration) -> Result<bool, SysError> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let limit = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::empty())];
    let ready = poll(&mut fds, limit).map_err(|errno| SysError::Io {
        step: "waiting for an error on the socket (poll)".into(),
        error: errno.into(),
    })?;
    Ok(ready > 0)
}

/// One jiffy, the unit the kernel keeps SO_RCVTIMEO in, read from the kernel itself: a
/// 1 µs timeout is rounded up to one jiffy (`sock_set_timeout()`, net/core/sock.c:
/// `DIV_ROUND_UP(tv_usec, USEC_PER_SEC / HZ)`) and read back as that jiffy in µs
/// (`sock_get_timeout()`: `(timeo % HZ) * USEC_PER_SEC / HZ`). Leaves SO_RCVTIMEO at that
/// jiffy: set the timeout you need afterwards.
pub fn jiffy(socket: &impl AsFd) -> Result<Duration, SysError> {
    SockRef::from(socket)
        .set_read_timeout(Some(Duration::from_micros(1)))
        .map_err(|error| SysError::SetOption {
            option: "SO_RCVTIMEO",
            error,
        })?;
    read_timeout(socket)
}

/// SO_RCVTIMEO as the kernel holds it (whole jiffies); zero when unset.
pub fn read_timeout(socket: &impl AsFd) -> Result<Duration, SysError> {
    SockRef::from(socket)
        .read_timeout()
        .map(Option::unwrap_or_default)
        .map_err(|error| SysError::GetOption {
            option: "SO_RCVTIMEO",
            error,
        })
}

/// What one `recv()` saw after the peer closed: an orderly FIN (end of stream), data, or
/// an error such as ECONNRESET after an RST.
#[derive(Debug)]
pub enum RecvEnd {
    EndOfStream,
    Data(usize),
    Error(std::io::Error),
}

/// One bounded `recv()`, returning what happened instead of failing, because the
/// experiments measure exactly that (EOF vs ECONNRESET). Only a timeout is an error.
pub fn recv_once(
    stream: &mut TcpStream,
    step: &str,
    timeout: Duration,
) -> Result<RecvEnd, SysError> {
    let mut buf = [0_u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => Ok(RecvEnd::EndOfStream),
        Ok(n) => Ok(RecvEnd::Data(n)),
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(SysError::Timeout {
                step: step.into(),
                timeout,
            }
            .diagnosed())
        }
        Err(error) => Ok(RecvEnd::Error(error)),
    }
}

/// SO_LINGER {on, 0 s}: close() then aborts the connection (`__tcp_close()`, net/ipv4/tcp.c:
/// `tcp_disconnect()` sends RST and discards unsent data, counted as TCPAbortOnData), so this
/// side skips TIME_WAIT and the peer's next call fails with ECONNRESET. Two caveats from the
/// same function: close() with unread received data sends RST whatever SO_LINGER says
/// (TCPAbortOnClose), and shutdown() ignores SO_LINGER (`tcp_shutdown()` sends FIN).
pub fn set_linger_zero(stream: &TcpStream) -> Result<(), SysError> {
    SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .map_err(|error| SysError::SetOption {
            option: "SO_LINGER",
            error,
        })
}

/// TCP_NODELAY: send small segments at once instead of holding them while earlier data is
/// unacknowledged (Nagle's algorithm, RFC 896).
pub fn set_nodelay(socket: &impl AsFd, on: bool) -> Result<(), SysError> {
    SockRef::from(socket)
        .set_tcp_nodelay(on)
        .map_err(|error| SysError::SetOption {
            option: "TCP_NODELAY",
            error,
        })
}

/// TCP_CORK: hold partial segments until uncorked (or for at most 200 ms, tcp(7));
/// clearing it flushes what is held.
pub fn set_cork(socket: &impl AsFd, on: bool) -> Result<(), SysError> {
    SockRef::from(socket)
        .set_tcp_cork(on)
        .map_err(|error| SysError::SetOption {
            option: "TCP_CORK",
            error,
        })
}

/// TCP_QUICKACK: ACK at once instead of delaying. Not sticky (tcp(7)): the kernel leaves
/// quick-ACK mode again on its own, so callers re-arm it after every read.
pub fn set_quickack(socket: &impl AsFd) -> Result<(), SysError> {
    SockRef::from(socket)
        .set_tcp_quickack(true)
        .map_err(|error| SysError::SetOption {
            option: "TCP_QUICKACK",
            error,
        })
}

/// One bounded `recv()` into `buf`: the number of bytes read, 0 at the end of the stream.
pub fn recv_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    step: &str,
    timeout: Duration,
) -> Result<usize, SysError> {
    stream
        .read(buf)
        .map_err(|error| SysError::io_step(step, error, timeout))
}

/// Starts a non-blocking connect to `addr` and returns at once (EINPROGRESS is the
/// expected answer): the handshake goes on in the kernel, observable through sock_diag.
pub fn connect_nonblocking(addr: SocketAddr) -> Result<Socket, SysError> {
    let socket = tcp_socket(addr, ReuseFlags::NONE)?;
    socket
        .set_nonblocking(true)
        .map_err(|error| SysError::SetOption {
            option: "O_NONBLOCK",
            error,
        })?;
    match socket.connect(&addr.into()) {
        Ok(()) => Ok(socket),
        Err(error) if error.raw_os_error() == Some(libc::EINPROGRESS) => Ok(socket),
        Err(error) => Err(SysError::Connect { addr, error }.diagnosed()),
    }
}

/// SO_ERROR (socket(7)): the error a non-blocking connect ended with, such as ECONNREFUSED or
/// ECONNRESET when the peer answered with RST; `None` while it is pending or fine. Reading
/// it clears it.
pub fn take_error(socket: &impl AsFd) -> Result<Option<std::io::Error>, SysError> {
    SockRef::from(socket)
        .take_error()
        .map_err(|error| SysError::GetOption {
            option: "SO_ERROR",
            error,
        })
}

/// A listener with an explicit listen(2) backlog, for experiments on the accept queue.
pub fn listener_with_backlog(addr: SocketAddr, backlog: i32) -> Result<Socket, SysError> {
    let socket = tcp_socket(addr, ReuseFlags::NONE)?;
    bind(&socket, addr)?;
    socket
        .listen(backlog)
        .map_err(|error| SysError::Listen { addr, error }.diagnosed())?;
    Ok(socket)
}

/// SO_SNDBUF as requested; the kernel doubles it for bookkeeping overhead (socket(7)).
pub fn set_send_buffer(socket: &impl AsFd, bytes: usize) -> Result<(), SysError> {
    SockRef::from(socket)
        .set_send_buffer_size(bytes)
        .map_err(|error| SysError::SetOption {
            option: "SO_SNDBUF",
            error,
        })
}

/// SO_RCVBUF as requested; the kernel doubles it for bookkeeping overhead (socket(7)).
pub fn set_recv_buffer(socket: &impl AsFd, bytes: usize) -> Result<(), SysError> {
    SockRef::from(socket)
        .set_recv_buffer_size(bytes)
        .map_err(|error| SysError::SetOption {
            option: "SO_RCVBUF",
            error,
        })
}

/// SO_SNDBUF as the kernel holds it (the doubled value).
pub fn send_buffer(socket: &impl AsFd) -> Result<usize, SysError> {
    SockRef::from(socket)
        .send_buffer_size()
        .map_err(|error| SysError::GetOption {
            option: "SO_SNDBUF",
            error,
        })
}

pub fn set_nonblocking(socket: &impl AsFd, on: bool) -> Result<(), SysError> {
    SockRef::from(socket)
        .set_nonblocking(on)
        .map_err(|error| SysError::SetOption {
            option: "O_NONBLOCK",
            error,
        })
}

/// Waits until `socket` is writable, for at most `timeout`; false when the time ran out.
pub fn wait_writable(socket: &impl AsFd, timeout: Duration) -> Result<bool, SysError> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    // --timeout is at most 10 minutes, well inside poll's i32 milliseconds.
    let limit = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLOUT)];
    let ready = poll(&mut fds, limit).map_err(|errno| SysError::Io {
        step: "waiting for room in the send buffer (poll)".into(),
        error: errno.into(),
    })?;
    Ok(ready > 0)
}

/// A UDP socket bound to `addr` (port 0 = ephemeral), with bounded receives.
pub fn udp_socket(addr: SocketAddr, timeout: Duration) -> Result<std::net::UdpSocket, SysError> {
    let socket = std::net::UdpSocket::bind(addr)
        .map_err(|error| SysError::Bind { addr, error }.diagnosed())?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|error| SysError::SetOption {
            option: "SO_RCVTIMEO",
            error,
        })?;
    Ok(socket)
}

/// One datagram into `buf` with MSG_TRUNC (udp(7)): returns the datagram's real length,
/// which exceeds `buf.len()` when the kernel cut it, and the bytes copied.
pub fn recv_datagram(
    socket: &std::net::UdpSocket,
    buf: &mut [u8],
    timeout: Duration,
) -> Result<(usize, usize), SysError> {
    use nix::sys::socket::{MsgFlags, recv};
    use std::os::fd::AsRawFd;
    let len = recv(socket.as_raw_fd(), buf, MsgFlags::MSG_TRUNC)
        .map_err(|errno| SysError::io_step("receiving a datagram", errno.into(), timeout))?;
    Ok((len, len.min(buf.len())))
}

/// Connects an already configured socket (options that must precede connect, such as
/// SO_SNDBUF) to `addr`, a listener this process opened and still holds, with a bounded
/// handshake; reads and writes are bounded too.
pub fn connect_socket(
    socket: Socket,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream, SysError> {
    socket
        .connect_timeout(&addr.into(), timeout)
        .map_err(|error| {
            if error.kind() == std::io::ErrorKind::TimedOut {
                SysError::Timeout {
                    step: format!("connecting to {addr} (the TCP handshake)"),
                    timeout,
                }
                .diagnosed()
            } else {
                SysError::Connect { addr, error }.diagnosed_as(Op::ConnectOwn(addr))
            }
        })?;
    let stream = TcpStream::from(socket);
    set_timeouts(&stream, timeout)?;
    Ok(stream)
}

/// Makes room for `needed` open file descriptors in this process: raises the soft
/// RLIMIT_NOFILE toward the hard limit when it is lower (setrlimit(2); the change is this
/// process's own and ends with it). Returns the limit in force when it stays too low.
pub fn ensure_open_files(needed: u64) -> Result<(), u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(());
    };
    if soft >= needed {
        return Ok(());
    }
    let raised = needed.min(hard);
    if raised > soft && setrlimit(Resource::RLIMIT_NOFILE, raised, hard).is_ok() && raised >= needed
    {
        return Ok(());
    }
    Err(soft.max(raised.min(hard)))
}

/// The lowest descriptor number this process has free: the one the next socket(),
/// accept() or open() takes, since `alloc_fd()` (fs/file.c) hands out the lowest free
/// number. Found by duplicating `socket` with F_DUPFD_CLOEXEC from 0 and closing the copy.
pub fn lowest_free_fd(socket: &impl AsFd) -> Result<u64, SysError> {
    use nix::fcntl::{FcntlArg, fcntl};
    let step = |errno: nix::errno::Errno| SysError::Io {
        step: "finding the lowest free descriptor (fcntl F_DUPFD_CLOEXEC)".into(),
        error: std::io::Error::from(errno),
    };
    let copy = fcntl(socket.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(0)).map_err(step)?;
    nix::unistd::close(copy).map_err(step)?;
    Ok(u64::try_from(copy).unwrap_or_default())
}

/// This process's soft RLIMIT_NOFILE lowered to `soft` for as long as the guard lives; the
/// old soft limit comes back on drop. The hard limit is never touched.
pub struct LoweredFileLimit {
    soft: u64,
    hard: u64,
}

impl LoweredFileLimit {
    /// Lowers the soft limit to `soft` (never above the current one): every descriptor
    /// number at or above it is then refused with EMFILE (`alloc_fd()`, fs/file.c, gets
    /// `rlimit(RLIMIT_NOFILE)` as its end from `get_unused_fd_flags()`).
    pub fn lower_to(soft: u64) -> Result<Self, SysError> {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let step = |errno: nix::errno::Errno| SysError::Io {
            step: "lowering this process's soft RLIMIT_NOFILE".into(),
            error: std::io::Error::from(errno),
        };
        let (old, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(step)?;
        setrlimit(Resource::RLIMIT_NOFILE, soft.min(old), hard).map_err(step)?;
        Ok(Self { soft: old, hard })
    }

    /// The soft limit the guard puts back.
    pub fn restores(&self) -> u64 {
        self.soft
    }
}

impl Drop for LoweredFileLimit {
    fn drop(&mut self) {
        use nix::sys::resource::{Resource, setrlimit};
        // Raising the soft limit back up to its old value, below the unchanged hard limit,
        // is always permitted (setrlimit(2)).
        let _ = setrlimit(Resource::RLIMIT_NOFILE, self.soft, self.hard);
    }
}

/// Whether `socket` is readable right now (poll(2) POLLIN, no wait): for a listener, that
/// accept() has a connection to take. poll() opens no descriptor, so it works at the limit.
pub fn readable_now(socket: &impl AsFd) -> Result<bool, SysError> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
    let ready = poll(&mut fds, PollTimeout::ZERO).map_err(|errno| SysError::Io {
        step: "asking whether the socket is readable (poll)".into(),
        error: errno.into(),
    })?;
    Ok(ready > 0)
}

/// One accept() whose failure is the result, not an error: the lessons measure its errno
/// (EMFILE at the descriptor limit). The listener's SO_RCVTIMEO bounds a wait.
pub fn try_accept(listener: &impl AsFd) -> std::io::Result<TcpStream> {
    SockRef::from(listener)
        .accept()
        .map(|(socket, _)| TcpStream::from(socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (TcpStream, TcpStream) {
        let timeout = Duration::from_secs(2);
        let listener = listener("127.0.0.1:0".parse().unwrap(), ReuseFlags::NONE, timeout).unwrap();
        let client = connect(local_addr(&listener).unwrap(), timeout).unwrap();
        let server = accept(&listener, timeout).unwrap();
        (client, server)
    }

    #[test]
    fn a_short_read_says_how_many_bytes_came() {
        let (mut client, mut server) = pair();
        server.write_all(b"abc").unwrap();
        drop(server);
        let mut buf = [0_u8; 5];
        let error =
            recv_exact(&mut client, &mut buf, "reading", Duration::from_secs(2)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "reading: the peer closed the connection after 3 of 5 bytes"
        );
    }

    #[test]
    fn the_rst_after_a_write_to_a_closed_peer_is_seen_as_an_error() {
        let (mut client, server) = pair();
        drop(server);
        let mut buf = [0_u8; 1];
        assert_eq!(client.read(&mut buf).unwrap(), 0, "the FIN");
        // Nothing yet: a connection whose peer sent FIN reads as "end of stream" forever.
        assert!(!wait_for_error(&client, Duration::from_millis(20)).unwrap());
        client.write_all(b"x").unwrap();
        assert!(wait_for_error(&client, Duration::from_secs(2)).unwrap());
    }

    #[test]
    fn a_microsecond_timeout_reads_back_as_one_jiffy() {
        let socket = tcp_socket("127.0.0.1:0".parse().unwrap(), ReuseFlags::NONE).unwrap();
        let jiffy = jiffy(&socket).unwrap();
        assert!(
            jiffy > Duration::ZERO && jiffy < Duration::from_secs(1),
            "{jiffy:?}"
        );
        // Two microseconds round up to the same jiffy.
        SockRef::from(&socket)
            .set_read_timeout(Some(Duration::from_micros(2)))
            .unwrap();
        assert_eq!(read_timeout(&socket).unwrap(), jiffy);
    }
}
