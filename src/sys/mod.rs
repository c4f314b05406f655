//! The only code that touches the kernel: sockets, sock_diag, /proc.

#[cfg(not(target_os = "linux"))]
compile_error!("sockdoc reads Linux kernel state (sock_diag, /proc); it builds on Linux only");

pub mod client_ports;
pub mod diag;
pub mod diagnose;
pub mod error;
pub mod fs;
pub mod netns;
pub mod pidfd;
pub mod ports;
pub mod procfs;
pub mod record;
pub mod sandbox;
pub mod socket;
pub mod sockopt;
pub mod sysctl;
pub mod tcp_info;

pub use error::SysError;

use std::time::Duration;

/// TCP_TIMEWAIT_LEN (include/net/tcp.h): the TIME_WAIT timer, hard-coded to 60 s; no sysctl
/// changes it (tcp_fin_timeout bounds orphaned FIN_WAIT2 instead). It is the lifetime of a
/// quiet TIME_WAIT socket, not a fixed one: `tcp_timewait_state_process()`
/// (net/ipv4/tcp_minisocks.c) re-arms a full 60 s for each non-RST segment carrying an ACK
/// from the peer (a retransmitted FIN, a stray ACK) and ends it early on an in-window RST (unless
/// tcp_rfc1337 = 1) or on a SYN that reopens the connection; `tcp_twsk_unique()`
/// (net/ipv4/tcp_ipv4.c) lets a new connect() take over a client-side one under
/// tcp_tw_reuse; and the timer wheel fires it late (`TIMEWAIT_WHEEL_ROUNDING_MAX`).
pub const TCP_TIMEWAIT_LEN: Duration = Duration::from_secs(60);

/// How late the timer wheel can fire a 60 s timer. It never fires early: `calc_index()`
/// (kernel/time/timer.c) rounds the expiry up to the end of its bucket, and a bucket at
/// level n spans LVL_GRAN(n) = 8^n jiffies. 60 s lands on level 3 (512 jiffies) at HZ=100,
/// 250 and 300, and on level 4 (4096 jiffies) at HZ=1000 (LVL_START(n) = 63 << 3(n-1)), so
/// TIME_WAIT ends up to 5.12 s (HZ=100), 4.096 s (HZ=1000), 2.048 s (HZ=250) or 1.71 s
/// (HZ=300) after TCP_TIMEWAIT_LEN. This is the largest, for a kernel of any HZ.
pub const TIMEWAIT_WHEEL_ROUNDING_MAX: Duration = Duration::from_millis(5120);
