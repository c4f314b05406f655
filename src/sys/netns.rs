//! `--netns`: run in another network namespace — a container's, or one `ip netns add` made —
//! so sock_diag, /proc/net and /proc/sys/net describe that namespace (network_namespaces(7)).
//! setns(2) moves the calling thread; sockdoc calls it once, first, from its main thread
//! (which /proc/self names), so every thread it starts afterwards starts there too.

use std::fs::File;
use std::io;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sched::{CloneFlags, setns};

use super::error::{SysError, os_text};

/// Where `ip netns add NAME` keeps its namespaces (ip-netns(8)).
const NAMED_NETNS_DIR: &str = "/run/netns";

/// The file `--netns` names: a path as given (`/proc/PID/ns/net`), or a name under
/// /run/netns.
pub fn path_of(target: &str) -> PathBuf {
    if target.contains('/') {
        PathBuf::from(target)
    } else {
        PathBuf::from(NAMED_NETNS_DIR).join(target)
    }
}

const NEEDS_ROOT: &str = "entering another network namespace needs root (CAP_SYS_ADMIN over \
     it, and access to the process's /proc/PID/ns); run sockdoc with sudo";

/// Moves this thread into the network namespace `target` names. Errors say what to do:
/// no such file, not a network namespace, or not permitted — setns needs CAP_SYS_ADMIN over
/// both the namespace's user namespace and the caller's (`netns_install()`,
/// net/core/net_namespace.c), in practice root.
pub fn enter(target: &str) -> Result<(), SysError> {
    let path = path_of(target);
    let file = File::open(&path).map_err(|error| SysError::Netns {
        target: target.to_owned(),
        detail: match error.kind() {
            io::ErrorKind::NotFound => format!(
                "{} does not exist: give a namespace `ip netns list` shows, or a path such as \
                 /proc/PID/ns/net",
                path.display()
            ),
            // Another user's /proc/PID/ns is readable only with ptrace access to that process.
            io::ErrorKind::PermissionDenied => NEEDS_ROOT.to_owned(),
            _ => format!("opening {}: {}", path.display(), os_text(&error)),
        },
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|errno| SysError::Netns {
        target: target.to_owned(),
        detail: match errno {
            Errno::EINVAL => format!(
                "{} is not a network namespace (expected /run/netns/NAME or /proc/PID/ns/net)",
                path.display()
            ),
            Errno::EPERM => NEEDS_ROOT.to_owned(),
            other => os_text(&io::Error::from(other)),
        },
    })
}

/// A network namespace's identity: the inode of its nsfs file (what `net:[INODE]` shows),
/// with the device, as namespaces(7) says two namespaces are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetnsId {
    pub dev: u64,
    pub inode: u64,
}

impl std::fmt::Display for NetnsId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "net:[{}]", self.inode)
    }
}

/// The network namespace of process `pid` (`/proc/PID/ns/net`). Reading another user's
/// needs ptrace read access to it (`proc_ns_get_link` / `ptrace_may_access`, fs/proc/namespaces.c).
pub fn of_process(pid: u32) -> io::Result<NetnsId> {
    id_of(&format!("/proc/{pid}/ns/net"))
}

/// The network namespace this thread is in.
pub fn current() -> io::Result<NetnsId> {
    id_of("/proc/thread-self/ns/net")
}

fn id_of(path: &str) -> io::Result<NetnsId> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok(NetnsId {
        dev: meta.dev(),
        inode: meta.ino(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_live_under_run_netns_and_paths_stay_paths() {
        assert_eq!(path_of("blue"), PathBuf::from("/run/netns/blue"));
        assert_eq!(path_of("/proc/1/ns/net"), PathBuf::from("/proc/1/ns/net"));
    }

    #[test]
    fn a_missing_namespace_and_a_plain_file_are_explained() {
        let missing = enter("sockdoc-no-such-netns").unwrap_err().to_string();
        assert!(
            missing.contains("/run/netns/sockdoc-no-such-netns does not exist"),
            "{missing}"
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        let plain = enter(file.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            plain.contains("is not a network namespace") || plain.contains("needs root"),
            "{plain}"
        );
    }
}
