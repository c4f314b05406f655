//! Who holds each socket: the `socket:[INODE]` links in `/proc/PID/fd` (proc(5)), as `ss -p`
//! reads them. The walk is the cost of finding owners (one readlink per open descriptor on the
//! host), so it reads each link relative to its process's fd directory (readlinkat(2): the
//! kernel resolves one name instead of the whole /proc/PID/fd/N path) and spreads the
//! processes over the CPUs when it must visit all of them.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{OFlag, readlinkat};
use nix::sys::stat::Mode;

use crate::sys::fs::{Root, read_regular};

/// The process holding a socket open: the one with the lowest pid, and the others that hold
/// the same socket (a descriptor inherited across fork or passed over a Unix socket: nginx's
/// master and its workers share their listeners, and `ss -p` names them all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// `/proc/PID/comm`: the executable name, at most 15 bytes. Shared by every socket of
    /// the process (a host may hold 100,000 sockets in a handful of processes).
    pub process: Arc<str>,
    /// The other holders, in pid order. Complete when the walk visited every process
    /// (`socket_owners`); a walk for some inodes stops once each has a holder, so it may
    /// miss later ones.
    pub others: Vec<Holder>,
}

/// Another process holding the same socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub process: Arc<str>,
}

/// Maps socket inodes to the process holding them, from the `socket:[INODE]` links in
/// `root/proc/*/fd` (proc(5)), as `ss -p` does.
///
/// Never fails: processes we may not inspect (other users' without root) and processes that
/// exit mid-scan are skipped, so their sockets are simply unowned. A socket shared across
/// fork is the lowest pid's, with the others in `Owner::others`.
pub fn socket_owners(root: &Root) -> HashMap<u64, Owner> {
    scan_owners::<RandomState>(root, None).owners
}

/// `socket_owners` for just these inodes, stopping as soon as all are found.
pub fn socket_owners_for<S: BuildHasher>(
    root: &Root,
    inodes: &HashSet<u64, S>,
) -> HashMap<u64, Owner> {
    scan_socket_owners_for(root, inodes).owners
}

/// What a walk through `/proc/*/fd` found, and how much of it this process could not see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerScan {
    pub owners: HashMap<u64, Owner>,
    /// Processes whose descriptors could not be read (EACCES on `/proc/PID/fd` or on one of
    /// its links): the kernel shows a process's descriptors only to a reader that passes the
    /// ptrace read check (`proc_fd_access_allowed()`, fs/proc: `ptrace_may_access(task,
    /// PTRACE_MODE_READ_FSCREDS)`), so an owner among them stays unknown.
    pub unreadable: u64,
}

/// `socket_owners_for`, with the count of processes it could not look into. The count is
/// complete whenever some inode stays unowned: the walk stops early only once all are found.
pub fn scan_socket_owners_for<S: BuildHasher>(root: &Root, inodes: &HashSet<u64, S>) -> OwnerScan {
    if inodes.is_empty() {
        return OwnerScan::default();
    }
    scan_owners(root, Some(inodes))
}

/// `/proc/PID/comm` holds at most TASK_COMM_LEN (16) bytes with its newline.
const COMM_LIMIT: u64 = 64;

/// Threads for a whole-host walk: the work is readlink system calls, which scale with CPUs;
/// more threads than this gain nothing measurable on a small host.
const MAX_THREADS: usize = 8;

/// What one process's descriptors showed.
struct Process {
    pid: u32,
    /// The sockets among its descriptors (those wanted, when only some are).
    sockets: Vec<FdSocket>,
    /// Its fd directory or one of its links was refused (EACCES).
    refused: bool,
}

/// A descriptor of a process that is a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdSocket {
    pub fd: i32,
    pub inode: u64,
}

/// One process's sockets, as its `/proc/PID/fd` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSockets {
    pub pid: u32,
    pub process: Arc<str>,
    /// In descriptor order; a socket dup()ed within the process appears once per descriptor.
    pub sockets: Vec<FdSocket>,
    /// Why the descriptors could not be listed (another user's process without ptrace read
    /// access: `proc_fd_access_allowed()`, fs/proc); `sockets` is then empty.
    pub refused: bool,
}

/// The sockets of every process (`pids` = `None`) or of the given ones, in pid order, on
/// up to `MAX_THREADS` threads. A process that exits during the walk is left out.
pub fn process_sockets(root: &Root, pids: Option<&[u32]>) -> Vec<ProcessSockets> {
    let proc = root.join("proc");
    let all;
    let pids = if let Some(pids) = pids {
        pids
    } else {
        all = list_pids(&proc);
        &all
    };
    walk_all(&proc, pids)
        .into_iter()
        .filter_map(|mut process| {
            let name = comm(&proc, process.pid)?;
            process.sockets.sort_unstable_by_key(|s| s.fd);
            Some(ProcessSockets {
                pid: process.pid,
                process: name,
                sockets: process.sockets,
                refused: process.refused,
            })
        })
        .collect()
}

/// The pids of the processes whose name (`/proc/PID/comm`, at most 15 bytes) is `name`, or
/// whose command line starts with a program named `name` (`/proc/PID/cmdline`, for names
/// longer than comm holds), in pid order.
pub fn pids_named(root: &Root, name: &str) -> Vec<u32> {
    let proc = root.join("proc");
    list_pids(&proc)
        .into_iter()
        .filter(|&pid| {
            comm(&proc, pid).is_some_and(|comm| &*comm == name)
                || read_regular(&proc.join(pid.to_string()).join("cmdline"), CMDLINE_LIMIT)
                    .ok()
                    .and_then(|line| {
                        let argv0 = line.split(|&b| b == 0).next()?.to_vec();
                        let argv0 = String::from_utf8(argv0).ok()?;
                        Some(Path::new(&argv0).file_name()? == name)
                    })
                    .unwrap_or(false)
        })
        .collect()
}

/// Enough of `/proc/PID/cmdline` to hold a program path.
const CMDLINE_LIMIT: u64 = 4096;

/// The numeric entries of `/proc`, ascending.
fn list_pids(proc: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir(proc)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// `/proc/PID/comm` without its newline; `None` once the process has exited.
fn comm(proc: &Path, pid: u32) -> Option<Arc<str>> {
    let comm = read_regular(&proc.join(pid.to_string()).join("comm"), COMM_LIMIT).ok()?;
    Some(String::from_utf8_lossy(&comm).trim_end_matches('\n').into())
}

fn scan_owners<S: BuildHasher>(root: &Root, wanted: Option<&HashSet<u64, S>>) -> OwnerScan {
    let proc = root.join("proc");
    // Ascending, so the first holder found is the lowest pid and an early stop keeps it.
    let pids = list_pids(&proc);
    let processes = match wanted {
        // A few inodes: in pid order, stopping once all are found (usually early).
        Some(wanted) => walk_until_found(&proc, &pids, wanted),
        None => walk_all(&proc, &pids),
    };
    let mut scan = OwnerScan::default();
    for process in processes {
        scan.unreadable += u64::from(process.refused);
        let mut inodes: Vec<u64> = process.sockets.iter().map(|s| s.inode).collect();
        // A descriptor dup()ed within one process is one holder.
        inodes.sort_unstable();
        inodes.dedup();
        if inodes.is_empty() {
            continue;
        }
        // A process that exited since its fds were listed has no comm left; skip it.
        let Some(name) = comm(&proc, process.pid) else {
            continue;
        };
        for inode in inodes {
            match scan.owners.entry(inode) {
                Entry::Occupied(mut first) => first.get_mut().others.push(Holder {
                    pid: process.pid,
                    process: Arc::clone(&name),
                }),
                Entry::Vacant(slot) => {
                    slot.insert(Owner {
                        pid: process.pid,
                        process: Arc::clone(&name),
                        others: Vec::new(),
                    });
                }
            }
        }
    }
    scan
}

fn walk_until_found<S: BuildHasher>(
    proc: &Path,
    pids: &[u32],
    wanted: &HashSet<u64, S>,
) -> Vec<Process> {
    let mut found = HashSet::new();
    let mut processes = Vec::new();
    for &pid in pids {
        let mut process = read_process(proc, pid);
        process.sockets.retain(|s| wanted.contains(&s.inode));
        found.extend(process.sockets.iter().map(|s| s.inode));
        processes.push(process);
        if found.len() == wanted.len() {
            break;
        }
    }
    processes
}

/// Every process, on up to `MAX_THREADS` threads taking the next pid as they finish one;
/// returned in pid order.
fn walk_all(proc: &Path, pids: &[u32]) -> Vec<Process> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_THREADS)
        .min(pids.len().max(1));
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(pids.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut mine = Vec::new();
                while let Some(&pid) = pids.get(next.fetch_add(1, Ordering::Relaxed)) {
                    mine.push(read_process(proc, pid));
                }
                done.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(mine);
            });
        }
    });
    let mut processes = done
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    processes.sort_unstable_by_key(|p| p.pid);
    processes
}

/// The socket inodes among the descriptors of `pid`.
fn read_process(proc: &Path, pid: u32) -> Process {
    let fd_dir: PathBuf = proc.join(pid.to_string()).join("fd");
    let mut process = Process {
        pid,
        sockets: Vec::new(),
        refused: false,
    };
    let mut dir = match Dir::open(
        &fd_dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(dir) => dir,
        Err(errno) => {
            process.refused = denied(errno);
            return process;
        }
    };
    // A second handle on the directory, for readlinkat while `dir` is being iterated.
    let Ok(dir_fd) = dir.as_fd().try_clone_to_owned() else {
        return process;
    };
    for entry in dir.iter() {
        let Ok(entry) = entry else {
            break;
        };
        let name = entry.file_name();
        if name.to_bytes().first() == Some(&b'.') {
            continue;
        }
        match readlinkat(&dir_fd, name) {
            Ok(target) => {
                let fd = name.to_str().ok().and_then(|n| n.parse().ok());
                if let (Some(fd), Some(inode)) = (fd, socket_inode(target.as_bytes())) {
                    process.sockets.push(FdSocket { fd, inode });
                }
            }
            Err(errno) => process.refused |= denied(errno),
        }
    }
    process
}

fn denied(errno: Errno) -> bool {
    matches!(errno, Errno::EACCES | Errno::EPERM)
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &[u8]) -> Option<u64> {
    std::str::from_utf8(link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?)
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links_parse_and_others_do_not() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(
            socket_inode(b"socket:[18446744073709551615]"),
            Some(u64::MAX)
        );
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"socket:[123"), None);
    }

    #[test]
    fn the_parallel_walk_finds_what_the_pid_ordered_walk_finds() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let root = Root::live();
        let all = socket_owners(&root);
        let mine: HashSet<u64> = all
            .iter()
            .filter(|(_, owner)| owner.pid == std::process::id())
            .map(|(inode, _)| *inode)
            .collect();
        assert!(!mine.is_empty(), "this test's listener has an owner");
        let targeted = socket_owners_for(&root, &mine);
        for inode in &mine {
            assert_eq!(targeted[inode], all[inode]);
        }
        drop(listener);
    }
}
