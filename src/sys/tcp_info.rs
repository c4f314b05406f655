//! TCP_INFO (tcp(7), <https://man7.org/linux/man-pages/man7/tcp.7.html>): the kernel's
//! per-connection counters. No crate wraps it (socket2, nix, rustix, std), so this is the
//! one `getsockopt` sockdoc makes through libc directly.
//!
//! The kernel fills as much of `struct tcp_info` as it knows and reports that length;
//! fields past it are unknown to this kernel and come back as `None`, never as zero.

use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsFd, AsRawFd};

use super::SysError;

/// The TCP_INFO fields sockdoc reports, each `None` when this kernel's struct is too short
/// to hold it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// Segments sent that carried data (`tcpi_data_segs_out`, Linux 4.6+).
    pub data_segs_out: Option<u32>,
    /// All segments sent, ACKs included (`tcpi_segs_out`, Linux 4.2+).
    pub segs_out: Option<u32>,
    /// Smoothed round-trip time in microseconds (`tcpi_rtt`).
    pub rtt_us: Option<u32>,
    /// Round-trip time variation in microseconds (`tcpi_rttvar`).
    pub rttvar_us: Option<u32>,
    /// Current sending MSS (`tcpi_snd_mss`).
    pub snd_mss: Option<u32>,
    /// Congestion window in segments (`tcpi_snd_cwnd`).
    pub snd_cwnd: Option<u32>,
    /// Retransmitted segments over the connection's life (`tcpi_total_retrans`).
    pub total_retrans: Option<u32>,
    /// The most recent delivery rate in bytes per second (`tcpi_delivery_rate`, Linux 4.9+).
    pub delivery_rate: Option<u64>,
    /// Milliseconds since the last ACK arrived (`tcpi_last_ack_recv`: `tcp_get_info()`,
    /// net/ipv4/tcp.c, reports now − `rcv_tstamp`, which `tcp_ack()` in net/ipv4/tcp_input.c
    /// stamps on every ACK it accepts).
    pub last_ack_recv_ms: Option<u32>,
    /// Milliseconds since data last arrived (`tcpi_last_data_recv`: now − `icsk_ack.lrcvtime`).
    pub last_data_recv_ms: Option<u32>,
    /// Milliseconds since data was last sent (`tcpi_last_data_sent`: now − `lsndtime`).
    pub last_data_sent_ms: Option<u32>,
    /// Retransmission timeout in microseconds (`tcpi_rto`).
    pub rto_us: Option<u32>,
    /// Unanswered zero-window or keepalive probes (`tcpi_probes`: `icsk_probes_out`).
    pub probes: Option<u8>,
    /// Exponential backoff of the retransmission timer (`tcpi_backoff`).
    pub backoff: Option<u8>,
    /// Segments sent and not yet acknowledged (`tcpi_unacked`).
    pub unacked: Option<u32>,
    /// Bytes the peer acknowledged (`tcpi_bytes_acked`, Linux 4.1+).
    pub bytes_acked: Option<u64>,
    /// Bytes received in order (`tcpi_bytes_received`, Linux 4.1+).
    pub bytes_received: Option<u64>,
    /// Segments received that carried data (`tcpi_data_segs_in`, Linux 4.6+).
    pub data_segs_in: Option<u32>,
    /// The peer's advertised receive window in bytes (`tcpi_snd_wnd`, Linux 5.19+).
    pub snd_wnd: Option<u32>,
}

impl TcpInfo {
    /// Decodes the prefix of `struct tcp_info` the kernel gave: through getsockopt, or as
    /// the INET_DIAG_INFO attribute of a sock_diag reply. Fields beyond `bytes` are `None`.
    pub fn parse(bytes: &[u8]) -> Self {
        macro_rules! field {
            ($name:ident, $ty:ty) => {{
                let at = offset_of!(libc::tcp_info, $name);
                bytes
                    .get(at..at + size_of::<$ty>())
                    .and_then(|b| b.try_into().ok())
                    .map(<$ty>::from_ne_bytes)
            }};
        }
        Self {
            data_segs_out: field!(tcpi_data_segs_out, u32),
            segs_out: field!(tcpi_segs_out, u32),
            rtt_us: field!(tcpi_rtt, u32),
            rttvar_us: field!(tcpi_rttvar, u32),
            snd_mss: field!(tcpi_snd_mss, u32),
            snd_cwnd: field!(tcpi_snd_cwnd, u32),
            total_retrans: field!(tcpi_total_retrans, u32),
            delivery_rate: field!(tcpi_delivery_rate, u64),
            last_ack_recv_ms: field!(tcpi_last_ack_recv, u32),
            last_data_recv_ms: field!(tcpi_last_data_recv, u32),
            last_data_sent_ms: field!(tcpi_last_data_sent, u32),
            rto_us: field!(tcpi_rto, u32),
            probes: field!(tcpi_probes, u8),
            backoff: field!(tcpi_backoff, u8),
            unacked: field!(tcpi_unacked, u32),
            bytes_acked: field!(tcpi_bytes_acked, u64),
            bytes_received: field!(tcpi_bytes_received, u64),
            data_segs_in: field!(tcpi_data_segs_in, u32),
            snd_wnd: field!(tcpi_snd_wnd, u32),
        }
    }
}

/// The size of `struct tcp_info` as libc knows it: a newer kernel's longer struct is cut
/// to this; an older kernel's shorter one comes back with its own length.
const TCP_INFO_LEN: usize = size_of::<libc::tcp_info>();

/// Reads TCP_INFO from a connected TCP socket.
pub fn tcp_info(socket: &impl AsFd) -> Result<TcpInfo, SysError> {
    let mut bytes = [0_u8; TCP_INFO_LEN];
    let len = raw_tcp_info(socket, &mut bytes).map_err(|error| SysError::GetOption {
        option: "TCP_INFO",
        error,
    })?;
    Ok(TcpInfo::parse(&bytes[..len]))
}

/// getsockopt(TCP_INFO) into `buf`; returns the number of bytes the kernel filled.
#[allow(unsafe_code)]
fn raw_tcp_info(socket: &impl AsFd, buf: &mut [u8; TCP_INFO_LEN]) -> io::Result<usize> {
    let mut len = libc::socklen_t::try_from(buf.len()).expect("tcp_info is a few hundred bytes");
    // SAFETY: the fd is open for the borrow's lifetime; `buf` is writable for `len` bytes
    // and `len` is a valid socklen_t; the kernel writes at most `len` bytes and stores the
    // length it wrote back into `len`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            buf.as_mut_ptr().cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((len as usize).min(buf.len()))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn counts_data_segments_on_a_real_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let before = tcp_info(&client).unwrap();
        client.write_all(b"one").unwrap();
        let mut buf = [0; 3];
        server.read_exact(&mut buf).unwrap();
        let after = tcp_info(&client).unwrap();
        let (Some(b), Some(a)) = (before.data_segs_out, after.data_segs_out) else {
            panic!("this kernel reports tcpi_data_segs_out: {after:?}");
        };
        assert_eq!(
            a - b,
            1,
            "one write on an idle connection is one data segment"
        );
        assert!(after.snd_mss.unwrap() > 0);
    }

    #[test]
    fn a_short_struct_leaves_later_fields_unavailable() {
        let full = [7_u8; TCP_INFO_LEN];
        let cut = offset_of!(libc::tcp_info, tcpi_data_segs_out);
        let info = TcpInfo::parse(&full[..cut]);
        assert_eq!(info.data_segs_out, None, "not zero: unavailable");
        assert_eq!(info.delivery_rate, None);
        assert!(info.rtt_us.is_some(), "fields before the cut are read");
        assert_eq!(TcpInfo::parse(&[]), TcpInfo::default());
    }

    #[test]
    fn a_listener_has_no_connection_info_but_no_error_either() {
        // TCP_INFO on a listening socket succeeds with zeroed counters.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(tcp_info(&listener).unwrap().data_segs_out, Some(0));
    }
}
