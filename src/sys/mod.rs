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
