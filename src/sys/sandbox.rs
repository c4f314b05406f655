//! A throwaway network namespace for one experiment. sockdoc re-runs itself as a child
//! (`sockdoc __lab REQUEST`) that moves into a new network namespace — as root with
//! CLONE_NEWNET, otherwise inside a new user namespace too (CLONE_NEWUSER | CLONE_NEWNET,
//! where the kernel lets unprivileged users create one) — brings `lo` up, writes the knobs
//! there, runs the experiment and prints its result as JSON. The namespace dies with the
//! child; the host's /proc/sys is never written (the child refuses to write a knob until it
//! has checked that it is in a namespace of its own, and only `net.*` keys, which are per
//! namespace, are accepted).

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};

use super::error::{SysError, os_text};

/// The hidden first argument that makes sockdoc run as a lab child.
pub const CHILD_ARG: &str = "__lab";

/// How a child's namespace was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Root: a new network namespace.
    NetworkNamespace,
    /// Unprivileged: a new user namespace (uid 0 inside, mapped to the caller) owning a new
    /// network namespace.
    UserNamespace,
}

/// Runs `sockdoc __lab request` and returns what it printed on stdout, bounded by `timeout`
/// (the child is killed then). A child that fails prints its error as its output and exits
/// 3; that text comes back as the error.
pub fn run(request: &str, timeout: Duration) -> Result<String, SysError> {
    let exe = std::env::current_exe().map_err(|error| {
        lab_error(format!(
            "finding sockdoc's own binary to run the experiment: {}",
            os_text(&error)
        ))
    })?;
    let mut child = Command::new(exe)
        .arg(CHILD_ARG)
        .arg(request)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| lab_error(format!("starting the lab child: {}", os_text(&error))))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(lab_error(format!(
                    "the experiment did not finish within --timeout {} (killed)",
                    humantime::format_duration(timeout)
                )));
            }
            Err(error) => return Err(lab_error(os_text(&error))),
        }
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    if status.success() {
        Ok(out)
    } else {
        let why = if out.trim().is_empty() { err } else { out };
        Err(lab_error(why.trim().to_owned()))
    }
}

fn lab_error(detail: String) -> SysError {
    SysError::Lab { detail }
}

/// In the child, first thing: a network namespace of its own (and a user namespace when not
/// root), `lo` up, then each knob written. `parent_netns` is the namespace the parent runs
/// in (inode of /proc/self/ns/net): the knobs are written only when this process's differs.
pub fn enter(knobs: &[(String, String)], parent_netns: u64) -> Result<Isolation, SysError> {
    let isolation = if nix::unistd::geteuid().is_root() {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|errno| refused(errno, false))?;
        Isolation::NetworkNamespace
    } else {
        let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
        unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET)
            .map_err(|errno| refused(errno, true))?;
        // uid 0 inside, mapped to the caller outside (user_namespaces(7)); setgroups must be
        // denied before an unprivileged process may write gid_map.
        write_proc("/proc/self/setgroups", "deny")?;
        write_proc("/proc/self/uid_map", &format!("0 {uid} 1"))?;
        write_proc("/proc/self/gid_map", &format!("0 {gid} 1"))?;
        Isolation::UserNamespace
    };
    ensure_own_namespace(parent_netns)?;
    loopback_up()?;
    set_knobs(knobs, parent_netns)?;
    Ok(isolation)
}

/// In the child, after `enter`: writes more knobs, once it has checked again that it is not
/// in the parent's namespace. For knobs that exist only once something else in the namespace
/// has loaded their module (nf_conntrack's, after an nftables `ct` rule).
pub fn set_knobs(knobs: &[(String, String)], parent_netns: u64) -> Result<(), SysError> {
    ensure_own_namespace(parent_netns)?;
    for (key, value) in knobs {
        write_knob(key, value)?;
    }
    Ok(())
}

/// In the child, after `enter`: loads an nftables ruleset with `nft -f -`, which inherits
/// the child's network namespace, once it has checked that this is not the parent's. A
/// missing `nft` binary is said so, plainly.
pub fn nft(ruleset: &str, parent_netns: u64) -> Result<(), SysError> {
    use std::io::Write;
    ensure_own_namespace(parent_netns)?;
    let spawned = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(lab_error(
                "nft (nftables) is not installed: this lesson needs it inside its throwaway \
                 namespace (Debian/Ubuntu: apt-get install nftables)"
                    .to_owned(),
            ));
        }
        Err(error) => {
            return Err(lab_error(format!("starting nft: {}", os_text(&error))));
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(ruleset.as_bytes()).map_err(|error| {
            lab_error(format!("writing the ruleset to nft: {}", os_text(&error)))
        })?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| lab_error(format!("waiting for nft: {}", os_text(&error))))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(lab_error(format!(
            "nft -f - refused the lab's ruleset inside the throwaway namespace ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

fn ensure_own_namespace(parent_netns: u64) -> Result<(), SysError> {
    if netns_inode()? == parent_netns {
        return Err(lab_error(
            "the lab child is still in sockdoc's own network namespace: refusing to change \
             anything"
                .to_owned(),
        ));
    }
    Ok(())
}

/// The inode of this thread's network namespace.
pub fn netns_inode() -> Result<u64, SysError> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| m.ino())
        .map_err(|error| lab_error(format!("/proc/thread-self/ns/net: {}", os_text(&error))))
}

/// Why a namespace could not be made, and what to do.
fn refused(errno: Errno, unprivileged: bool) -> SysError {
    if !unprivileged {
        return lab_error(format!(
            "unshare(CLONE_NEWNET) failed: {} (a container without CAP_SYS_ADMIN, or a seccomp \
             profile that forbids unshare)",
            os_text(&io::Error::from(errno))
        ));
    }
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned())
    };
    let mut causes = Vec::new();
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        causes.push(
            "kernel.apparmor_restrict_unprivileged_userns = 1 (Ubuntu 23.10 and later) forbids \
             unprivileged user namespaces to programs without an AppArmor profile that allows \
             them"
                .to_owned(),
        );
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        causes
            .push("kernel.unprivileged_userns_clone = 0 (Debian's switch) forbids them".to_owned());
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        causes.push("user.max_user_namespaces = 0 allows none".to_owned());
    }
    let cause = if causes.is_empty() {
        "the kernel refused it (a container's seccomp profile, or a limit on user namespaces)"
            .to_owned()
    } else {
        causes.join("; ")
    };
    lab_error(format!(
        "an unprivileged user cannot create the throwaway network namespace here: \
         unshare(CLONE_NEWUSER | CLONE_NEWNET) failed with {}: {cause}. Run sockdoc as root \
         (sudo), which needs no user namespace.",
        os_text(&io::Error::from(errno))
    ))
}

fn write_proc(path: &str, text: &str) -> Result<(), SysError> {
    std::fs::write(path, text)
        .map_err(|error| lab_error(format!("writing {text:?} to {path}: {}", os_text(&error))))
}

/// Writes a knob inside the namespace: only `net.*` keys, which each network namespace has
/// its own copy of (a host-wide knob would change the host).
fn write_knob(key: &str, value: &str) -> Result<(), SysError> {
    if !key.starts_with("net.") || key.contains("..") || key.contains('/') {
        return Err(lab_error(format!(
            "{key}: only per-namespace net.* knobs are set in the lab"
        )));
    }
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, value).map_err(|error| {
        lab_error(format!(
            "setting {key} = {value} inside the throwaway namespace: {} (this kernel may not \
             make it writable per namespace)",
            os_text(&error)
        ))
    })
}

/// `ip link set lo up`: SIOCSIFFLAGS with IFF_UP on `lo` (netdevice(7)).
#[allow(unsafe_code)]
fn loopback_up() -> Result<(), SysError> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").or_else(|_| {
        // No IPv4 address exists yet in a fresh namespace, but binding the wildcard works;
        // fall back to a raw datagram socket of either family.
        std::net::UdpSocket::bind("[::]:0")
    });
    let socket = socket
        .map_err(|error| lab_error(format!("a socket for SIOCSIFFLAGS: {}", os_text(&error))))?;
    // SAFETY: ifreq is plain data; zeroed is a valid value for it.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: the socket is open for the call; `request` is a valid, writable ifreq whose
    // name is NUL-terminated; SIOCGIFFLAGS fills ifru_flags.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &raw mut request) } != 0 {
        return Err(lab_error(format!(
            "reading lo's flags: {}",
            os_text(&io::Error::last_os_error())
        )));
    }
    // SAFETY: ifru_flags is the union member SIOCGIFFLAGS just filled.
    unsafe {
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
    }
    // SAFETY: as above; SIOCSIFFLAGS reads the name and the flags.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &raw const request) } != 0 {
        return Err(lab_error(format!(
            "bringing lo up: {}",
            os_text(&io::Error::last_os_error())
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_user_namespace_says_what_to_do() {
        // The kernel's answers where unprivileged user namespaces are forbidden or exhausted
        // (user_namespaces(7): EPERM, ENOSPC); the message names the call and the way out,
        // plus whichever of the host's switches is set.
        for errno in [Errno::EPERM, Errno::ENOSPC] {
            let text = refused(errno, true).to_string();
            assert!(
                text.contains("unshare(CLONE_NEWUSER | CLONE_NEWNET) failed"),
                "{text}"
            );
            assert!(text.contains("Run sockdoc as root"), "{text}");
        }
        let root = refused(Errno::EPERM, false).to_string();
        assert!(root.contains("unshare(CLONE_NEWNET) failed"), "{root}");
    }

    #[test]
    fn only_per_namespace_knobs_are_written() {
        for key in [
            "kernel.pid_max",
            "vm.swappiness",
            "net/../kernel.x",
            "net.core..x",
        ] {
            let error = write_knob(key, "1").unwrap_err().to_string();
            assert!(
                error.contains("only per-namespace net.* knobs"),
                "{key}: {error}"
            );
        }
    }
}
