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
    /// Current sending MSS (`tcpi_snd_mss`).
    pub snd_mss: Option<u32>,
    /// Congestion window in segments (`tcpi_snd_cwnd`).
    pub snd_cwnd: Option<u32>,
}

macro_rules! field {
    ($info:expr, $len:expr, $name:ident) => {{
        let end = offset_of!(libc::tcp_info, $name) + size_of_val(&$info.$name);
        ($len >= end).then_some($info.$name)
    }};
}

/// Reads TCP_INFO from a connected TCP socket.
pub fn tcp_info(socket: &impl AsFd) -> Result<TcpInfo, SysError> {
    let (info, len) = raw_tcp_info(socket).map_err(|error| SysError::GetOption {
        option: "TCP_INFO",
        error,
    })?;
    Ok(TcpInfo {
        data_segs_out: field!(info, len, tcpi_data_segs_out),
        segs_out: field!(info, len, tcpi_segs_out),
        rtt_us: field!(info, len, tcpi_rtt),
        snd_mss: field!(info, len, tcpi_snd_mss),
        snd_cwnd: field!(info, len, tcpi_snd_cwnd),
    })
}

/// The raw struct and the number of bytes the kernel filled.
#[allow(unsafe_code)]
fn raw_tcp_info(socket: &impl AsFd) -> io::Result<(libc::tcp_info, usize)> {
    // SAFETY: `tcp_info` is a plain C struct of integers, for which all-zero bytes are a
    // valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(size_of::<libc::tcp_info>())
        .expect("tcp_info is a few hundred bytes");
    // SAFETY: the fd is open for the borrow's lifetime; `info` is writable for `len` bytes
    // and `len` is a valid socklen_t; the kernel writes at most `len` bytes and stores the
    // length it wrote back into `len`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((info, len as usize))
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
    fn a_listener_has_no_connection_info_but_no_error_either() {
        // TCP_INFO on a listening socket succeeds with zeroed counters.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(tcp_info(&listener).unwrap().data_segs_out, Some(0));
    }
}
