//! The socket options a client uses to spend its ephemeral ports differently:
//! IP_BIND_ADDRESS_NO_PORT (bind an address, leave the port to connect()) and
//! IP_LOCAL_PORT_RANGE (Linux 6.3 and later, per ip(7): a per-socket sub-range of
//! ip_local_port_range), plus the open-files limit an experiment holding many sockets needs.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::socket::{setsockopt, sockopt};

/// IP_LOCAL_PORT_RANGE (include/uapi/linux/in.h): 51 at IPPROTO_IP. The libc crate does not
/// define it yet.
pub const IP_LOCAL_PORT_RANGE: libc::c_int = 51;

/// IP_BIND_ADDRESS_NO_PORT: a later bind(addr, 0) records the address only, and connect()
/// picks the port (`__inet_bind()` in net/ipv4/af_inet.c skips `get_port` for it).
pub fn set_bind_address_no_port(socket: &impl AsFd, on: bool) -> io::Result<()> {
    setsockopt(socket, sockopt::IpBindAddressNoPort, &on).map_err(io::Error::from)
}

/// IP_LOCAL_PORT_RANGE: this socket's ephemeral ports come from `low..=high` (clamped into
/// the namespace's ip_local_port_range by `inet_sk_get_local_port_range()`). The value is a
/// u32, low in the lower 16 bits, high in the upper (`do_ip_setsockopt()`,
/// net/ipv4/ip_sockglue.c). A kernel without it answers ENOPROTOOPT.
#[allow(unsafe_code)]
pub fn set_local_port_range(socket: &impl AsFd, low: u16, high: u16) -> io::Result<()> {
    let value: u32 = (u32::from(high) << 16) | u32::from(low);
    // SAFETY: the descriptor is open for the call (borrowed); optval points to a live u32
    // and optlen is its size, which is what IP_LOCAL_PORT_RANGE reads.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            libc::IPPROTO_IP,
            IP_LOCAL_PORT_RANGE,
            (&raw const value).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (allowed without privilege) and
/// returns the soft limit now in force.
pub fn raise_open_files() -> io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(io::Error::from)?;
        return Ok(hard);
    }
    Ok(soft)
}
