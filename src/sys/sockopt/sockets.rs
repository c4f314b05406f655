//! Making the sockets whose options are read back, taking them as far as connected without
//! changing any option on the way, and measuring the kernel constants userspace cannot ask for.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::socket::{self as nixsock, AddressFamily, SockFlag, SockProtocol, SockType};
use socket2::{SockRef, Socket};

use super::{Opt, SocketKind, Value, get, set};
use crate::sys::SysError;

/// A socket made by socket2's `Socket::new`, which passes SOCK_CLOEXEC and sets nothing else.
pub fn new_socket(kind: SocketKind) -> Result<Socket, SysError> {
    let (ty, protocol) = kind.type_and_protocol();
    Socket::new(kind.domain(), ty, Some(protocol)).map_err(|error| {
        SysError::Socket {
            what: kind.label(),
            error,
        }
        .diagnosed()
    })
}

/// A socket made by a bare socket(2) with no flags at all, as C code makes it (through nix,
/// which adds nothing).
pub fn plain_socket(kind: SocketKind) -> Result<OwnedFd, SysError> {
    let family = if kind.ipv6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    let (ty, protocol) = if kind.udp {
        (SockType::Datagram, SockProtocol::Udp)
    } else {
        (SockType::Stream, SockProtocol::Tcp)
    };
    nixsock::socket(family, ty, SockFlag::empty(), protocol).map_err(|errno| {
        SysError::Socket {
            what: kind.label(),
            error: errno.into(),
        }
        .diagnosed()
    })
}

/// Connects `socket` to `addr` within `timeout`, leaving its O_NONBLOCK flag as it was.
/// socket2's `connect_timeout` (a non-blocking connect(2) and a poll(2)) hands the socket
/// back in blocking mode, and O_NONBLOCK is one of the options read back, so it is put back
/// the way the caller set it. Nothing else about the socket changes.
pub fn connect_bounded(
    socket: &Socket,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(), SysError> {
    let was_nonblocking = socket.nonblocking().map_err(|error| SysError::GetOption {
        option: "O_NONBLOCK",
        error,
    })?;
    let connected = socket
        .connect_timeout(&addr.into(), timeout)
        .map_err(|error| connect_error(addr, timeout, error));
    let restored = socket
        .set_nonblocking(was_nonblocking)
        .map_err(|error| SysError::SetOption {
            option: "O_NONBLOCK",
            error,
        });
    connected.and(restored)
}

/// How often a bounded accept looks again: loopback handshakes finish within microseconds,
/// so the first look almost always finds the connection.
const ACCEPT_RETRY: Duration = Duration::from_millis(1);

/// Accepts one connection within `timeout` without setting SO_RCVTIMEO on the listener
/// (accepted sockets inherit it, and it is one of the options read back): the listener is
/// made non-blocking, which accept(2) does not pass on to the new socket.
pub fn accept_bounded(
    listener: &impl AsFd,
    timeout: Duration,
    step: &str,
) -> Result<Socket, SysError> {
    let listener = SockRef::from(listener);
    listener
        .set_nonblocking(true)
        .map_err(|error| SysError::SetOption {
            option: "O_NONBLOCK",
            error,
        })?;
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((socket, _)) => return Ok(socket),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(SysError::Timeout {
                        step: step.into(),
                        timeout,
                    });
                }
                thread::sleep(ACCEPT_RETRY);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                return Err(SysError::Io {
                    step: step.into(),
                    error,
                });
            }
        }
    }
}

/// `std::net::TcpListener::bind`, exactly as an application calls it (std sets SO_REUSEADDR
/// itself on Unix). Unlike `socket::std_listener`, nothing is added for sockdoc's own use,
/// because this listener's options are what gets read back.
pub fn std_listener_as_is(addr: SocketAddr) -> Result<TcpListener, SysError> {
    TcpListener::bind(addr).map_err(|error| SysError::Bind { addr, error }.diagnosed())
}

/// `std::net::TcpStream::connect_timeout`, exactly as an application calls it (std leaves
/// the stream blocking, with no timeouts set).
pub fn std_stream_as_is(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, SysError> {
    TcpStream::connect_timeout(&addr, timeout).map_err(|error| connect_error(addr, timeout, error))
}

/// A bounded connect's failure: the timeout it ran out of, or the errno with its diagnosis.
fn connect_error(addr: SocketAddr, timeout: Duration, error: io::Error) -> SysError {
    if error.kind() == io::ErrorKind::TimedOut {
        SysError::Timeout {
            step: format!("connecting to {addr}"),
            timeout,
        }
    } else {
        SysError::Connect { addr, error }.diagnosed()
    }
}
// ---------------------------------------------------------------------------------------
// Measured kernel constants
// ---------------------------------------------------------------------------------------

/// `SOCK_MIN_RCVBUF` and `SOCK_MIN_SNDBUF` (include/net/sock.h): the floors a buffer request
/// is raised to. They are built from `sizeof(struct sk_buff)`, which depends on the kernel
/// build (2304 and 4608 bytes on a typical x86-64 kernel), so they are measured: a request of
/// 0 reads back as the floor.
pub fn measure_buffer_floors(kind: SocketKind) -> Result<(u64, u64), SysError> {
    let probe = new_socket(kind)?;
    set(&probe, Opt::RcvBuf, &Value::Bytes(0), kind.ipv6)?;
    set(&probe, Opt::SndBuf, &Value::Bytes(0), kind.ipv6)?;
    let read = |opt| match get(&probe, opt, kind.ipv6)? {
        Value::Bytes(n) => Ok(n),
        other => unreachable!("a buffer size reads as bytes, not {other:?}"),
    };
    Ok((read(Opt::RcvBuf)?, read(Opt::SndBuf)?))
}

/// One jiffy (1/HZ s): SO_RCVTIMEO and SO_SNDTIMEO are stored in jiffies, rounded up
/// (`sock_set_timeout` in net/core/sock.c), and HZ is a build option userspace cannot ask
/// for, so it is measured: a 1 µs timeout reads back as one jiffy.
pub fn measure_jiffy(kind: SocketKind) -> Result<Duration, SysError> {
    let probe = new_socket(kind)?;
    set(
        &probe,
        Opt::RecvTimeout,
        &Value::Duration(Some(Duration::from_micros(1))),
        kind.ipv6,
    )?;
    match get(&probe, Opt::RecvTimeout, kind.ipv6)? {
        Value::Duration(Some(jiffy)) => Ok(jiffy),
        other => Err(SysError::Parse {
            what: "the SO_RCVTIMEO probe".into(),
            detail: format!("a 1µs timeout read back as {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP4: SocketKind = SocketKind {
        udp: false,
        ipv6: false,
    };

    #[test]
    fn a_plain_socket_lacks_cloexec_and_socket2_sets_it() {
        let plain = plain_socket(TCP4).unwrap();
        assert_eq!(
            get(&plain, Opt::Cloexec, false).unwrap(),
            Value::Bool(false)
        );
        let socket2 = new_socket(TCP4).unwrap();
        assert_eq!(
            get(&socket2, Opt::Cloexec, false).unwrap(),
            Value::Bool(true)
        );
    }

    #[test]
    fn floors_and_jiffy_are_plausible() {
        let (rcv, snd) = measure_buffer_floors(TCP4).unwrap();
        assert!(rcv >= 2048 && snd >= rcv, "floors {rcv} {snd}");
        let jiffy = measure_jiffy(TCP4).unwrap();
        // CONFIG_HZ is 100..=1000 on every Linux build.
        assert!(jiffy >= Duration::from_millis(1) && jiffy <= Duration::from_millis(10));
    }
}
