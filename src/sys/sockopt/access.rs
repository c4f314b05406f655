//! Set and get: one function pair for every option in the catalogue. socket2 does most of
//! the work; nix covers what socket2 cannot do without side effects (socket2's
//! `set_tcp_keepalive` also turns SO_KEEPALIVE on) and the fd flags.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::socket as nixsock;
use socket2::SockRef;

use super::{C_INT_MAX, Opt, Value};
use crate::sys::SysError;

/// Sets `opt` to `value` on `socket` (an IPv6 socket when `ipv6`). The value's shape must
/// match the option's `Kind`; sockdoc's parser guarantees it.
pub fn set(socket: &impl AsFd, opt: Opt, value: &Value, ipv6: bool) -> Result<(), SysError> {
    let sock = SockRef::from(socket);
    let result = match (opt, value) {
        (Opt::ReuseAddr, Value::Bool(on)) => sock.set_reuse_address(*on),
        (Opt::ReusePort, Value::Bool(on)) => sock.set_reuse_port(*on),
        (Opt::RcvBuf, Value::Bytes(size)) => sock.set_recv_buffer_size(c_int_size(*size)),
        (Opt::SndBuf, Value::Bytes(size)) => sock.set_send_buffer_size(c_int_size(*size)),
        (Opt::KeepAlive, Value::Bool(on)) => sock.set_keepalive(*on),
        // socket2 sends whole seconds (struct linger's l_linger is an int).
        (Opt::Linger, Value::Duration(linger)) => sock.set_linger(*linger),
        // A timeval: whole seconds plus microseconds; zero means "no timeout".
        (Opt::RecvTimeout, Value::Duration(timeout)) => sock.set_read_timeout(*timeout),
        (Opt::SendTimeout, Value::Duration(timeout)) => sock.set_write_timeout(*timeout),
        (Opt::Broadcast, Value::Bool(on)) => sock.set_broadcast(*on),
        (Opt::Nonblocking, Value::Bool(on)) => sock.set_nonblocking(*on),
        (Opt::Cloexec, Value::Bool(on)) => {
            let flags = if *on {
                FdFlag::FD_CLOEXEC
            } else {
                FdFlag::empty()
            };
            fcntl(socket.as_fd(), FcntlArg::F_SETFD(flags))
                .map(drop)
                .map_err(Into::into)
        }
        (Opt::Ttl, Value::Count(ttl)) => {
            let ttl = u32::try_from(*ttl).unwrap_or(u32::MAX);
            if ipv6 {
                sock.set_unicast_hops_v6(ttl)
            } else {
                sock.set_ttl_v4(ttl)
            }
        }
        (Opt::V6Only, Value::Bool(on)) => sock.set_only_v6(*on),
        (Opt::NoDelay, Value::Bool(on)) => sock.set_tcp_nodelay(*on),
        (Opt::Cork, Value::Bool(on)) => sock.set_tcp_cork(*on),
        (Opt::QuickAck, Value::Bool(on)) => sock.set_tcp_quickack(*on),
        (Opt::MaxSeg, Value::Count(mss)) => {
            sock.set_tcp_mss(u32::try_from(*mss).unwrap_or(u32::MAX))
        }
        (Opt::Congestion, Value::Text(name)) => sock.set_tcp_congestion(name.as_bytes()),
        // Milliseconds as an unsigned int; 0 restores the default (tcp(7)).
        (Opt::UserTimeout, Value::Duration(timeout)) => sock.set_tcp_user_timeout(*timeout),
        (Opt::KeepIdle, Value::Duration(idle)) => {
            nix_set(socket, nixsock::sockopt::TcpKeepIdle, seconds(*idle))
        }
        (Opt::KeepInterval, Value::Duration(interval)) => nix_set(
            socket,
            nixsock::sockopt::TcpKeepInterval,
            seconds(*interval),
        ),
        (Opt::KeepCount, Value::Count(count)) => nix_set(
            socket,
            nixsock::sockopt::TcpKeepCount,
            u32::try_from(*count).unwrap_or(u32::MAX),
        ),
        (opt, value) => unreachable!("{} takes no {value:?}", opt.name()),
    };
    result.map_err(|error| SysError::SetOption {
        option: opt.kernel_name(ipv6),
        error,
    })
}

/// Reads `opt` back from the kernel.
pub fn get(socket: &impl AsFd, opt: Opt, ipv6: bool) -> Result<Value, SysError> {
    let sock = SockRef::from(socket);
    let result = match opt {
        Opt::ReuseAddr => sock.reuse_address().map(Value::Bool),
        Opt::ReusePort => sock.reuse_port().map(Value::Bool),
        Opt::RcvBuf => sock.recv_buffer_size().map(|n| Value::Bytes(n as u64)),
        Opt::SndBuf => sock.send_buffer_size().map(|n| Value::Bytes(n as u64)),
        Opt::KeepAlive => sock.keepalive().map(Value::Bool),
        Opt::Linger => sock.linger().map(Value::Duration),
        Opt::RecvTimeout => sock.read_timeout().map(Value::Duration),
        Opt::SendTimeout => sock.write_timeout().map(Value::Duration),
        Opt::Broadcast => sock.broadcast().map(Value::Bool),
        Opt::Nonblocking => sock.nonblocking().map(Value::Bool),
        Opt::Cloexec => fcntl(socket.as_fd(), FcntlArg::F_GETFD)
            .map(|flags| {
                Value::Bool(FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC))
            })
            .map_err(Into::into),
        Opt::Ttl => if ipv6 {
            sock.unicast_hops_v6()
        } else {
            sock.ttl_v4()
        }
        .map(|ttl| Value::Count(i64::from(ttl))),
        Opt::V6Only => sock.only_v6().map(Value::Bool),
        Opt::NoDelay => sock.tcp_nodelay().map(Value::Bool),
        Opt::Cork => sock.tcp_cork().map(Value::Bool),
        Opt::QuickAck => sock.tcp_quickack().map(Value::Bool),
        Opt::MaxSeg => sock.tcp_mss().map(|mss| Value::Count(i64::from(mss))),
        Opt::Congestion => sock.tcp_congestion().map(|name| {
            // Padded with NULs up to TCP_CA_NAME_MAX.
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            Value::Text(String::from_utf8_lossy(&name[..end]).into_owned())
        }),
        Opt::UserTimeout => sock.tcp_user_timeout().map(Value::Duration),
        Opt::KeepIdle => sock.tcp_keepalive_time().map(|d| Value::Duration(Some(d))),
        Opt::KeepInterval => sock
            .tcp_keepalive_interval()
            .map(|d| Value::Duration(Some(d))),
        Opt::KeepCount => sock
            .tcp_keepalive_retries()
            .map(|n| Value::Count(i64::from(n))),
    };
    result.map_err(|error| SysError::GetOption {
        option: opt.kernel_name(ipv6),
        error,
    })
}

fn nix_set<O: nixsock::SetSockOpt<Val = u32>>(
    socket: &impl AsFd,
    opt: O,
    value: u32,
) -> std::io::Result<()> {
    nixsock::setsockopt(socket, opt, &value).map_err(Into::into)
}

/// Whole seconds, as TCP_KEEPIDLE / TCP_KEEPINTVL take them.
fn seconds(duration: Option<Duration>) -> u32 {
    duration.map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// Buffer sizes are C ints; the parser keeps requests at or below `C_INT_MAX`.
fn c_int_size(size: u64) -> usize {
    usize::try_from(size.min(C_INT_MAX)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::sockopt::{SocketKind, new_socket};

    const TCP4: SocketKind = SocketKind {
        udp: false,
        ipv6: false,
    };
    const UDP4: SocketKind = SocketKind {
        udp: true,
        ipv6: false,
    };

    #[test]
    fn every_option_reads_back_on_a_fresh_socket_of_its_kind() {
        for kind in [TCP4, UDP4] {
            let socket = new_socket(kind).unwrap();
            for opt in Opt::ALL.into_iter().filter(|o| o.applies_to(kind)) {
                get(&socket, opt, false)
                    .unwrap_or_else(|e| panic!("{} on {}: {e}", opt.name(), kind.label()));
            }
        }
    }

    #[test]
    fn tcp_options_are_refused_on_udp_with_an_errno() {
        let udp = new_socket(UDP4).unwrap();
        let error = set(&udp, Opt::NoDelay, &Value::Bool(true), false).unwrap_err();
        assert!(error.errno().is_some(), "{error}");
        assert!(error.to_string().contains("TCP_NODELAY"), "{error}");
    }
}
