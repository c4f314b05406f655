//! The only code that touches the kernel: sockets, sock_diag, /proc.

#[cfg(not(target_os = "linux"))]
compile_error!("sockdoc reads Linux kernel state (sock_diag, /proc); it builds on Linux only");

pub mod diag;
pub mod error;
pub mod procfs;
pub mod socket;
pub mod sockopt;
pub mod sysctl;
pub mod tcp_info;

pub use error::SysError;

use std::time::Duration;

/// TCP_TIMEWAIT_LEN: how long Linux keeps a TIME_WAIT socket, hard-coded to 60 s
/// (include/net/tcp.h); no sysctl changes it (tcp_fin_timeout bounds FIN_WAIT2 instead).
pub const TCP_TIMEWAIT_LEN: Duration = Duration::from_secs(60);
