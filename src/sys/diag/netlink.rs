//! The `NETLINK_SOCK_DIAG` socket itself: open, send a request, receive one datagram,
//! bounded by a fixed receive timeout.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto,
    setsockopt, socket, sockopt,
};
use nix::sys::time::{TimeVal, TimeValLike};

use super::codec::{diag_error, parse_error};
use crate::sys::error::SysError;

/// The kernel sizes each dump datagram to the reader's largest recent receive buffer, capped
/// near 32 KiB (`net/netlink/af_netlink.c`, `max_recvmsg_len`), so 32 KiB takes any reply whole
/// and lets the kernel pack as many sockets per datagram as it will.
pub(super) const RECV_BUF_LEN: usize = 32 * 1024;
/// `SO_RCVTIMEO` on the netlink socket: the kernel answers in microseconds, but a dump must
/// never hang the tool.
pub(super) const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// A `NETLINK_SOCK_DIAG` socket with its reusable receive buffer.
pub(super) struct DiagSocket {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl DiagSocket {
    pub(super) fn open() -> Result<Self, SysError> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkSockDiag,
        )
        .map_err(diag_error)?;
        setsockopt(
            &fd,
            sockopt::ReceiveTimeout,
            &TimeVal::seconds(RECV_TIMEOUT.as_secs() as i64),
        )
        .map_err(|errno| SysError::SetOption {
            option: "SO_RCVTIMEO on the NETLINK_SOCK_DIAG socket",
            error: errno.into(),
        })?;
        Ok(Self {
            fd,
            buf: vec![0; RECV_BUF_LEN],
        })
    }

    pub(super) fn send(&self, request: &[u8]) -> Result<(), SysError> {
        // Port id 0 is the kernel.
        sendto(
            self.fd.as_raw_fd(),
            request,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )
        .map(drop)
        .map_err(diag_error)
    }

    /// One datagram. `MSG_TRUNC` makes recv report the datagram's full length, so a reply
    /// larger than the buffer is an error rather than silently cut sockets.
    pub(super) fn receive(&mut self) -> Result<&[u8], SysError> {
        loop {
            match recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::MSG_TRUNC) {
                Ok(len) if len > self.buf.len() => {
                    return Err(parse_error(format!(
                        "a {len}-byte reply overflowed the {}-byte buffer",
                        self.buf.len()
                    )));
                }
                Ok(len) => return Ok(&self.buf[..len]),
                Err(Errno::EINTR) => {}
                // SO_RCVTIMEO expired. Not `SysError::Timeout`, whose text points at --timeout,
                // which does not govern this fixed bound.
                Err(Errno::EAGAIN) => return Err(diag_error(Errno::ETIMEDOUT)),
                Err(errno) => return Err(diag_error(errno)),
            }
        }
    }
}
