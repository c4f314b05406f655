//! Bind errors that stop the run, explained: why, and what to do.

use std::net::{IpAddr, SocketAddr};

use nix::errno::Errno;

use crate::sys::SysError;
use crate::sys::fs::Root;
use crate::sys::sysctl;

/// Turns bind errors that stop the run into messages that say why and what to do.
pub(super) fn explain_bind_error(
    root: &Root,
    error: SysError,
    target: SocketAddr,
) -> anyhow::Error {
    let hint = match error.errno() {
        Some(Errno::EACCES) => {
            let start = sysctl::read_knob(root, "net.ipv4.ip_unprivileged_port_start")
                .value()
                .map_or_else(|| "1024".into(), str::to_owned);
            format!(
                "port {} is privileged here (below net.ipv4.ip_unprivileged_port_start = {start}). \
                 Run as root, grant the capability (sudo setcap cap_net_bind_service=+ep \"$(command -v sockdoc)\"), \
                 lower net.ipv4.ip_unprivileged_port_start, or pick a port at or above {start}",
                target.port()
            )
        }
        Some(Errno::EADDRINUSE) => format!(
            "another socket holds {target} although the listing showed none that conflicts: \
             most likely one that is bound but not listening (a bind() before connect(), or a \
             server between bind() and listen()), which sock_diag lists only since Linux 6.8 \
             (commit 91051f003948) and /proc/net/tcp never lists. On Linux 6.8 or later, \
             `ss -tanp state bound-inactive 'sport = :{}'` names its owner (with an ss that \
             knows that state); otherwise look for a program that binds this port without \
             listening",
            target.port()
        ),
        Some(Errno::EINVAL) if matches!(target.ip(), IpAddr::V6(v6) if v6.is_unicast_link_local()) => {
            "IPv6 link-local addresses (fe80::/10) are bound per interface and --addr carries no \
             interface; use ::1 or a global address of this host"
                .to_string()
        }
        // EADDRNOTAVAIL (not a local address, IPv6 off) and EAFNOSUPPORT come explained
        // from the shared diagnosis (`sys::diagnose`).
        _ => return error.into(),
    };
    anyhow::Error::new(error).context(hint)
}
