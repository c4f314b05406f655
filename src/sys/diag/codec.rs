//! The hand-written `NETLINK_SOCK_DIAG` wire format (`include/uapi/linux/inet_diag.h`,
//! netlink(7)): requests built as bytes, replies decoded as bytes. Pure functions over
//! buffers: every length is checked, and malformed input is a `SysError::Parse`, never a
//! panic (the proptests in `diag` feed it arbitrary bytes).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use nix::errno::Errno;

use super::ParseStatus;
use crate::sys::error::SysError;
use crate::sys::record::{DiagFlags, MemInfo, Proto, Shutdown, SocketRecord, TcpState, Timer};
use crate::sys::tcp_info::TcpInfo;

/// `INET_DIAG_INFO` (`include/uapi/linux/inet_diag.h`): the attribute carrying tcp_info.
pub(super) const INET_DIAG_INFO: u16 = 2;
/// `INET_DIAG_SHUTDOWN`: the socket's shutdown bits, the first attribute
/// `inet_diag_msg_attrs_fill()` adds for every full socket (TCP and UDP) and never added for
/// TIME_WAIT or request sockets.
pub(super) const INET_DIAG_SHUTDOWN: u16 = 8;
/// `INET_DIAG_SKMEMINFO`: the socket's memory accounting, sent when requested.
pub(super) const INET_DIAG_SKMEMINFO: u16 = 7;
/// `INET_DIAG_SKV6ONLY`: the IPV6_V6ONLY flag, sent with every AF_INET6 socket.
pub(super) const INET_DIAG_SKV6ONLY: u16 = 11;
/// `INET_DIAG_SOCKOPT`: `struct inet_diag_sockopt`, sent with every full socket since 5.10.
pub(super) const INET_DIAG_SOCKOPT: u16 = 22;
/// The request's `idiag_ext` bit asking for `INET_DIAG_INFO`: bit (type - 1).
pub(super) const INET_DIAG_INFO_EXT: u8 = 1 << (INET_DIAG_INFO - 1);
/// The request's `idiag_ext` bit asking for `INET_DIAG_SKMEMINFO`.
pub(super) const INET_DIAG_SKMEMINFO_EXT: u8 = 1 << (INET_DIAG_SKMEMINFO - 1);

/// Parses one datagram of netlink messages (netlink(7)) from `NETLINK_SOCK_DIAG`, passing each
/// `inet_diag_msg` to `visit` as a socket of `proto` (the message does not carry it).
///
/// A pure function over bytes: every length is checked, and malformed or truncated input
/// is a `SysError::Parse`, never a panic. `NLMSG_ERROR` becomes `SysError::Diag` with the
/// kernel's errno.
pub fn parse_messages(
    buf: &[u8],
    proto: Proto,
    mut visit: impl FnMut(SocketRecord),
) -> Result<ParseStatus, SysError> {
    let mut rest = buf;
    while !rest.is_empty() {
        let header = rest.first_chunk::<NLMSG_HDRLEN>().ok_or_else(|| {
            parse_error(format!(
                "{} bytes left, short of a message header",
                rest.len()
            ))
        })?;
        let len = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = u16::from_ne_bytes([header[4], header[5]]);
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(parse_error(format!(
                "message length {len} outside the {} bytes left",
                rest.len()
            )));
        }
        let payload = &rest[NLMSG_HDRLEN..len];
        match i32::from(kind) {
            libc::NLMSG_DONE => {
                // A dump that failed part-way ends with its negative errno here.
                return match payload.first_chunk::<4>().map(|e| i32::from_ne_bytes(*e)) {
                    Some(errno) if errno < 0 => Err(kernel_error(errno)),
                    _ => Ok(ParseStatus::Done),
                };
            }
            libc::NLMSG_ERROR => {
                let errno = payload
                    .first_chunk::<4>()
                    .map(|e| i32::from_ne_bytes(*e))
                    .ok_or_else(|| parse_error("NLMSG_ERROR without an error code".to_owned()))?;
                // Error code 0 is an acknowledgement.
                return if errno == 0 {
                    Ok(ParseStatus::Done)
                } else {
                    Err(kernel_error(errno))
                };
            }
            SOCK_DIAG_BY_FAMILY => visit(parse_inet_diag_msg(payload, proto)?),
            // NLMSG_NOOP and anything newer carry no socket.
            _ => {}
        }
        // Messages start on 4-byte boundaries (NLMSG_ALIGN); the last one may lack padding.
        rest = rest.get(nlmsg_align(len)..).unwrap_or_default();
    }
    Ok(ParseStatus::Continue)
}

/// `SOCK_DIAG_BY_FAMILY` (`include/uapi/linux/sock_diag.h`); libc does not define it.
pub(super) const SOCK_DIAG_BY_FAMILY: i32 = 20;
/// `sizeof(struct nlmsghdr)`.
pub(super) const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct inet_diag_req_v2)`: family, protocol, ext, pad, states, 48-byte sockid.
pub(super) const INET_DIAG_REQ_V2_LEN: usize = 56;
pub(super) const REQUEST_LEN: usize = NLMSG_HDRLEN + INET_DIAG_REQ_V2_LEN;
/// `sizeof(struct inet_diag_msg)`: 4 bytes, 48-byte sockid, expires, rqueue, wqueue, uid, inode.
pub(super) const INET_DIAG_MSG_LEN: usize = 72;
/// `INET_DIAG_NOCOOKIE` (`include/uapi/linux/inet_diag.h`): "match any socket with this tuple".
pub(super) const INET_DIAG_NOCOOKIE: u32 = u32::MAX;
/// `struct inet_diag_sockid`, in host types: `src` is the local end, except in a UDP
/// exact lookup (see `lookup`).
pub(super) struct SockId {
    pub(super) sport: u16,
    pub(super) dport: u16,
    pub(super) src: [u8; 16],
    pub(super) dst: [u8; 16],
    pub(super) ifindex: u32,
    pub(super) cookie: [u32; 2],
}

/// A `SOCK_DIAG_BY_FAMILY` request: `nlmsghdr` then `inet_diag_req_v2`, with no extension
/// requested; a caller that wants tcp_info sets `idiag_ext` (byte 18) to
/// [`INET_DIAG_INFO_EXT`].
pub(super) fn request(
    family: u8,
    proto: Proto,
    states: u32,
    flags: u16,
    id: &SockId,
) -> [u8; REQUEST_LEN] {
    let mut msg = [0; REQUEST_LEN];
    let protocol = match proto {
        Proto::Tcp => libc::IPPROTO_TCP,
        Proto::Udp => libc::IPPROTO_UDP,
    };
    msg[0..4].copy_from_slice(&(REQUEST_LEN as u32).to_ne_bytes());
    msg[4..6].copy_from_slice(&(SOCK_DIAG_BY_FAMILY as u16).to_ne_bytes());
    msg[6..8].copy_from_slice(&flags.to_ne_bytes());
    msg[8..12].copy_from_slice(&1u32.to_ne_bytes()); // sequence number; port id stays 0
    msg[16] = family;
    msg[17] = protocol as u8;
    msg[20..24].copy_from_slice(&states.to_ne_bytes());
    msg[24..26].copy_from_slice(&id.sport.to_be_bytes());
    msg[26..28].copy_from_slice(&id.dport.to_be_bytes());
    msg[28..44].copy_from_slice(&id.src);
    msg[44..60].copy_from_slice(&id.dst);
    msg[60..64].copy_from_slice(&id.ifindex.to_ne_bytes());
    msg[64..68].copy_from_slice(&id.cookie[0].to_ne_bytes());
    msg[68..72].copy_from_slice(&id.cookie[1].to_ne_bytes());
    msg
}

/// Decodes `struct inet_diag_msg` and, when present, its INET_DIAG_INFO attribute; other
/// attributes are skipped.
pub(super) fn parse_inet_diag_msg(payload: &[u8], proto: Proto) -> Result<SocketRecord, SysError> {
    let msg = payload.first_chunk::<INET_DIAG_MSG_LEN>().ok_or_else(|| {
        parse_error(format!(
            "a {}-byte inet_diag_msg, expected at least {INET_DIAG_MSG_LEN}",
            payload.len()
        ))
    })?;
    let u32_at = |at: usize| u32::from_ne_bytes([msg[at], msg[at + 1], msg[at + 2], msg[at + 3]]);
    let port_at = |at: usize| u16::from_be_bytes([msg[at], msg[at + 1]]);
    let addr_at = |at: usize| -> [u8; 16] { std::array::from_fn(|i| msg[at + i]) };
    let [family, state, timer, retransmits] = [msg[0], msg[1], msg[2], msg[3]];
    let ifindex = u32_at(40);
    let endpoint = |addr: [u8; 16], port: u16| match i32::from(family) {
        libc::AF_INET => Ok(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]),
            port,
        ))),
        libc::AF_INET6 => {
            let ip = Ipv6Addr::from(addr);
            // The interface index only scopes link-local addresses.
            let scope = if ip.is_unicast_link_local() {
                ifindex
            } else {
                0
            };
            Ok(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, scope)))
        }
        _ => Err(parse_error(format!("address family {family}"))),
    };
    let timer = Timer::from_kernel(timer);
    let attributes = Attributes::parse(&payload[INET_DIAG_MSG_LEN..]);
    Ok(SocketRecord {
        proto,
        state: TcpState::from_kernel(state)
            .ok_or_else(|| parse_error(format!("socket state {state}")))?,
        local: endpoint(addr_at(8), port_at(4))?,
        remote: endpoint(addr_at(24), port_at(6))?,
        recv_q: u32_at(56),
        send_q: u32_at(60),
        timer,
        expires: timer.map(|_| Duration::from_millis(u64::from(u32_at(52)))),
        retransmits,
        uid: attributes.full_socket.then(|| u32_at(64)),
        inode: u64::from(u32_at(68)),
        info: attributes.info,
        v6only: attributes.v6only,
        shutdown: attributes.shutdown,
        memory: attributes.memory,
        flags: attributes.flags,
    })
}

/// The attributes sockdoc reads from the `struct rtattr` list (u16 length, u16 type,
/// payload, aligned to 4) that follows an `inet_diag_msg`. A malformed list ends the walk
/// rather than failing the listing: the socket itself was decoded.
#[derive(Default)]
pub(super) struct Attributes {
    info: Option<TcpInfo>,
    v6only: Option<bool>,
    /// INET_DIAG_SHUTDOWN was present: a full socket, whose idiag_uid is its owner.
    full_socket: bool,
    shutdown: Option<Shutdown>,
    memory: Option<MemInfo>,
    flags: Option<DiagFlags>,
}

impl Attributes {
    fn parse(mut attrs: &[u8]) -> Self {
        let mut found = Self::default();
        while let Some(header) = attrs.first_chunk::<4>() {
            let len = usize::from(u16::from_ne_bytes([header[0], header[1]]));
            let kind = u16::from_ne_bytes([header[2], header[3]]);
            if len < 4 || len > attrs.len() {
                break;
            }
            let payload = &attrs[4..len];
            match kind {
                INET_DIAG_INFO => found.info = Some(TcpInfo::parse(payload)),
                INET_DIAG_SKV6ONLY => found.v6only = payload.first().map(|&b| b != 0),
                INET_DIAG_SHUTDOWN => {
                    found.full_socket = true;
                    found.shutdown = payload.first().map(|&bits| Shutdown::from_kernel(bits));
                }
                INET_DIAG_SKMEMINFO => found.memory = parse_meminfo(payload),
                INET_DIAG_SOCKOPT => found.flags = parse_sockopt(payload),
                _ => {}
            }
            let Some(rest) = attrs.get(nlmsg_align(len)..) else {
                break;
            };
            attrs = rest;
        }
        found
    }
}

/// The `SK_MEMINFO_*` u32 array in its kernel order: RMEM_ALLOC, RCVBUF, WMEM_ALLOC, SNDBUF,
/// FWD_ALLOC, WMEM_QUEUED, OPTMEM, BACKLOG, DROPS (include/uapi/linux/sock_diag.h).
fn parse_meminfo(payload: &[u8]) -> Option<MemInfo> {
    let at = |i: usize| {
        payload
            .get(i * 4..i * 4 + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    Some(MemInfo {
        rmem_alloc: at(0)?,
        rcvbuf: at(1)?,
        wmem_alloc: at(2)?,
        sndbuf: at(3)?,
        wmem_queued: at(5)?,
        drops: at(8),
    })
}

/// `struct inet_diag_sockopt`: two bytes of one-bit fields, the first named field in the
/// lowest bit on little-endian (x86-64, arm64) and in the highest on big-endian, as C
/// bitfields are laid out there. Byte 0: recverr, is_icsk, freebind, hdrincl, mc_loop,
/// transparent, mc_all, nodefrag; byte 1: bind_address_no_port, recverr_rfc4884,
/// defer_connect.
fn parse_sockopt(payload: &[u8]) -> Option<DiagFlags> {
    let [first, second] = *payload.first_chunk::<2>()?;
    let bit = |byte: u8, index: u8| {
        let shift = if cfg!(target_endian = "little") {
            index
        } else {
            7 - index
        };
        byte >> shift & 1 != 0
    };
    Some(DiagFlags {
        freebind: bit(first, 2),
        transparent: bit(first, 5),
        bind_address_no_port: bit(second, 0),
    })
}

pub(super) fn ip_bytes(addr: SocketAddr) -> [u8; 16] {
    match addr {
        SocketAddr::V4(v4) => {
            let mut bytes = [0; 16];
            bytes[..4].copy_from_slice(&v4.ip().octets());
            bytes
        }
        SocketAddr::V6(v6) => v6.ip().octets(),
    }
}

pub(super) fn nlmsg_align(len: usize) -> usize {
    (len + 3) & !3
}

pub(super) fn diag_error(errno: Errno) -> SysError {
    SysError::Diag {
        error: errno.into(),
    }
}

pub(super) fn kernel_error(negative_errno: i32) -> SysError {
    SysError::Diag {
        error: io::Error::from_raw_os_error(negative_errno.unsigned_abs() as i32),
    }
}

pub(super) fn parse_error(detail: String) -> SysError {
    SysError::Parse {
        what: "a NETLINK_SOCK_DIAG reply".to_owned(),
        detail,
    }
}
