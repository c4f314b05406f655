//! Step 1: who holds the port. The sockets on it (sock_diag, or /proc/net as a fallback),
//! their owners from /proc/PID/fd, and, when /proc names nobody, what hides the owner.

use std::collections::HashSet;
use std::net::IpAddr;

use anyhow::Context as _;

use super::report::{Occupant, OwnerSearch, PortStatus};
use crate::sys::diag::{self, Query, Source};
use crate::sys::fs::Root;
use crate::sys::procfs;
use crate::sys::record::{Proto, TcpState};
use crate::units::millis;

pub(super) struct PortSurvey {
    pub(super) status: PortStatus,
    pub(super) occupants: Vec<Occupant>,
    pub(super) source: Source,
    pub(super) note: Option<String>,
    /// Processes whose descriptors the owner search could not read.
    pub(super) unreadable: u64,
}

impl PortSurvey {
    pub(super) fn empty() -> Self {
        Self {
            status: PortStatus::Free,
            occupants: Vec::new(),
            source: Source::SockDiag,
            note: None,
            unreadable: 0,
        }
    }
}

/// Every TCP socket on `port`, with its owner from the /proc under `root`.
pub(super) fn survey_port(root: &Root, addr: IpAddr, port: u16) -> anyhow::Result<PortSurvey> {
    let query = Query {
        local_port: Some(port),
        ..Query::tcp()
    };
    let (records, listing) = diag::list(&query).context("listing the sockets on the port")?;
    let inodes: HashSet<u64> = records
        .iter()
        .map(|r| r.inode)
        .filter(|&i| i != 0)
        .collect();
    let scan = procfs::scan_socket_owners_for(root, &inodes);
    let owners = scan.owners;
    let occupants: Vec<Occupant> = records
        .iter()
        .map(|r| {
            let owner = owners.get(&r.inode);
            Occupant {
                state: r.state,
                local: r.local.to_string(),
                remote: r.remote.to_string(),
                uid: r.uid,
                pid: owner.map(|o| o.pid),
                process: owner.map(|o| o.process.to_string()),
                expires_ms: r.expires.map(millis),
                conflicts: overlaps(addr, r.local.ip(), r.v6only),
                inode: r.inode,
            }
        })
        .collect();
    let conflicting = || occupants.iter().filter(|o| o.conflicts);
    let status = if occupants.is_empty() {
        PortStatus::Free
    } else if conflicting().any(|o| o.state != TcpState::TimeWait) {
        PortStatus::Held
    } else if conflicting().next().is_some() {
        PortStatus::TimeWaitOnly
    } else {
        PortStatus::OtherAddress
    };
    Ok(PortSurvey {
        status,
        occupants,
        source: listing.source,
        note: listing.fallback_reason,
        unreadable: scan.unreadable,
    })
}

/// Whether a socket bound to `theirs` conflicts with a bind to `ours` on the same port:
/// the same address, or either side a wildcard. An IPv6 wildcard covers IPv4 too unless
/// the socket set IPV6_V6ONLY; sock_diag says which (INET_DIAG_SKV6ONLY), /proc does not,
/// and then the cautious answer is that it does. An IPv4-mapped address (`::ffff:a.b.c.d`),
/// on either side, is its IPv4 twin: `ipv6_rcv_saddr_equal()`
/// (net/ipv4/inet_connection_sock.c) treats a mapped address and an IPv4 socket's address
/// ("if both are mapped, treat as IPv4") by their IPv4 addresses alone.
pub(super) fn overlaps(ours: IpAddr, theirs: IpAddr, their_v6only: Option<bool>) -> bool {
    match (ours.to_canonical(), theirs.to_canonical()) {
        (IpAddr::V4(_), IpAddr::V6(t)) if t.is_unspecified() => their_v6only != Some(true),
        (IpAddr::V6(_), IpAddr::V6(t)) if t.is_unspecified() => true,
        (IpAddr::V4(o), IpAddr::V4(t)) => o.is_unspecified() || t.is_unspecified() || o == t,
        (IpAddr::V6(o), IpAddr::V6(t)) => o.is_unspecified() || o == t,
        (IpAddr::V6(o), IpAddr::V4(_)) => o.is_unspecified(),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

/// "uid 1000", or what to say when the kernel reported no owner.
pub(super) fn uid_text(uid: Option<u32>) -> String {
    uid.map_or_else(
        || "an owner the kernel does not report".into(),
        |u| format!("uid {u}"),
    )
}

/// Gathers what could hide the owner of `holder` from /proc, and says which of it applies.
pub(super) fn search_owner(root: &Root, holder: &Occupant, unreadable: u64) -> OwnerSearch {
    // A bound-only socket is in no lookup table but the bind hash, so only listeners and
    // connections can be looked up again by their addresses.
    let still_there = match (holder.state, holder.local.parse(), holder.remote.parse()) {
        (TcpState::Close, _, _) | (_, Err(_), _) | (_, _, Err(_)) => None,
        // The same socket, still live: the same inode (a socket accepted or closed since
        // the listing has another), and not TIME_WAIT, which no longer holds the port.
        (_, Ok(local), Ok(remote)) => diag::lookup(Proto::Tcp, local, remote).ok().map(|found| {
            found.is_some_and(|r| r.inode == holder.inode && r.state != TcpState::TimeWait)
        }),
    };
    let facts = OwnerFacts {
        as_root: nix::unistd::geteuid().is_root(),
        orphan: holder.inode == 0,
        unreadable,
        hidepid: procfs::proc_hidepid(root),
        initial_pid_namespace: procfs::in_initial_pid_namespace(root),
        still_there,
    };
    OwnerSearch {
        reason: owner_hidden_reason(&facts, &uid_text(holder.uid)),
        as_root: facts.as_root,
        unreadable_processes: facts.unreadable,
        hidepid: facts.hidepid,
        initial_pid_namespace: facts.initial_pid_namespace,
        still_there: facts.still_there,
    }
}

/// What is known about a socket whose owner /proc did not name.
pub(super) struct OwnerFacts {
    pub(super) as_root: bool,
    /// No file holds the socket (inode 0).
    pub(super) orphan: bool,
    pub(super) unreadable: u64,
    pub(super) hidepid: Option<String>,
    pub(super) initial_pid_namespace: Option<bool>,
    pub(super) still_there: Option<bool>,
}

/// Who owns a socket that /proc did not attribute, as the verdict names it after "owned
/// by", with only the causes the run's measurements leave open. "Run as root" is offered
/// only to a user who is not root and could not read some process's descriptors.
pub(super) fn owner_hidden_reason(f: &OwnerFacts, uid: &str) -> String {
    if f.still_there == Some(false) {
        return format!(
            "a process ({uid}) that closed the socket right after the listing, before /proc \
             was searched for its owner"
        );
    }
    if f.orphan {
        return format!(
            "no process ({uid}): its program closed it and the kernel is finishing the \
             connection on its own (an orphan socket has no file, so no /proc/PID/fd names it)"
        );
    }
    let processes = |n: u64| {
        if n == 1 {
            "the one process".to_string()
        } else {
            format!("one of the {n} processes")
        }
    };
    let mut causes = Vec::new();
    if f.unreadable > 0 && !f.as_root {
        causes.push(format!(
            "to {} whose descriptors this user may not read (/proc shows them to their owner \
             and to root: run as root to see it)",
            processes(f.unreadable)
        ));
    } else if f.unreadable > 0 {
        causes.push(format!(
            "to {} whose descriptors the kernel refused to show even to root (the ptrace read \
             check that guards /proc/PID/fd, ptrace_may_access() in proc_fd_access_allowed(), \
             said no)",
            processes(f.unreadable)
        ));
    }
    if let Some(hidepid) = &f.hidepid {
        causes.push(format!(
            "to a process hidden by hidepid={hidepid} on /proc, which hides other users' \
             processes from a reader without ptrace access (has_pid_permissions(), \
             fs/proc/base.c)"
        ));
    }
    if f.initial_pid_namespace == Some(false) {
        causes.push(
            "to a process outside sockdoc's PID namespace (sockdoc runs in one other than the \
             host's, as in a container, and its /proc lists only that namespace's processes)"
                .into(),
        );
    }
    causes.push(
        "to no process at all: a socket whose only descriptor travels in a Unix-socket message \
         not yet received (SCM_RIGHTS), or one the kernel opened, is in no /proc/PID/fd"
            .into(),
    );
    format!(
        "nobody /proc names ({uid}): the socket belongs {}",
        causes.join(", or ")
    )
}

impl PortSurvey {
    /// The live socket that holds a `Held` port, a listener first.
    pub(super) fn holder(&self) -> &Occupant {
        self.occupants
            .iter()
            .filter(|o| o.conflicts && o.state != TcpState::TimeWait)
            .min_by_key(|o| o.state != TcpState::Listen)
            .expect("a held port has a live conflicting occupant")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_overlap_everything_in_their_family() {
        let lo4: IpAddr = "127.0.0.1".parse().unwrap();
        let any4: IpAddr = "0.0.0.0".parse().unwrap();
        let lo6: IpAddr = "::1".parse().unwrap();
        let any6: IpAddr = "::".parse().unwrap();
        let other4: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(overlaps(lo4, any4, None));
        assert!(overlaps(any4, lo4, None));
        assert!(overlaps(lo4, lo4, None));
        assert!(!overlaps(lo4, other4, None));
        assert!(
            overlaps(lo4, any6, Some(false)),
            "a dual-stack [::] listener covers IPv4 too"
        );
        assert!(
            overlaps(lo4, any6, None),
            "unknown V6ONLY: assume dual-stack"
        );
        assert!(
            !overlaps(lo4, any6, Some(true)),
            "IPV6_V6ONLY keeps [::] off IPv4"
        );
        assert!(overlaps(lo6, any6, Some(true)));
        assert!(!overlaps(lo6, lo4, None));
        assert!(overlaps(
            lo4,
            "::ffff:127.0.0.1".parse().unwrap(),
            Some(false)
        ));
    }

    fn facts() -> OwnerFacts {
        OwnerFacts {
            as_root: true,
            orphan: false,
            unreadable: 0,
            hidepid: None,
            initial_pid_namespace: Some(true),
            still_there: Some(true),
        }
    }

    #[test]
    fn root_is_never_told_to_run_as_root() {
        let reason = |f: &OwnerFacts| owner_hidden_reason(f, "uid 0");
        // Root, everything readable: no process holds it.
        let all_read = reason(&facts());
        assert!(all_read.contains("no process at all"), "{all_read}");
        assert!(!all_read.contains("run as root"), "{all_read}");
        assert!(!all_read.contains("hidepid"), "{all_read}");
        assert!(!all_read.contains("PID namespace"), "{all_read}");
        // Root, but some process refused, /proc mounted with hidepid, inside a container.
        let hidden = reason(&OwnerFacts {
            unreadable: 3,
            hidepid: Some("invisible".into()),
            initial_pid_namespace: Some(false),
            ..facts()
        });
        for part in [
            "one of the 3 processes",
            "even to root",
            "hidepid=invisible",
            "outside sockdoc's PID namespace",
            "no process at all",
        ] {
            assert!(hidden.contains(part), "{part}: {hidden}");
        }
        assert!(!hidden.contains("run as root"), "{hidden}");
        // Not root and some process unreadable: root would see it.
        let user = reason(&OwnerFacts {
            as_root: false,
            unreadable: 1,
            ..facts()
        });
        assert!(user.contains("run as root to see it"), "{user}");
        assert!(user.contains("the one process"), "{user}");
        // Not root but nothing unreadable: root would not help.
        let nothing = reason(&OwnerFacts {
            as_root: false,
            ..facts()
        });
        assert!(!nothing.contains("run as root"), "{nothing}");
        // An orphan, and a socket gone by the time /proc was searched.
        let orphan = reason(&OwnerFacts {
            orphan: true,
            ..facts()
        });
        assert!(orphan.starts_with("no process (uid 0)"), "{orphan}");
        let gone = reason(&OwnerFacts {
            still_there: Some(false),
            ..facts()
        });
        assert!(
            gone.contains("closed the socket right after the listing"),
            "{gone}"
        );
    }

    #[test]
    fn a_mapped_address_is_its_ipv4_twin() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let lo4: IpAddr = "127.0.0.1".parse().unwrap();
        // An IPv4 listener on 127.0.0.1 or 0.0.0.0 holds ::ffff:127.0.0.1 too.
        assert!(overlaps(mapped, lo4, None));
        assert!(overlaps(mapped, "0.0.0.0".parse().unwrap(), None));
        assert!(!overlaps(mapped, "127.0.0.2".parse().unwrap(), None));
        // A dual-stack [::] covers it; an IPV6_V6ONLY one does not.
        assert!(overlaps(mapped, "::".parse().unwrap(), Some(false)));
        assert!(!overlaps(mapped, "::".parse().unwrap(), Some(true)));
        // ::1 is IPv6 loopback, not 127.0.0.1.
        assert!(!overlaps(mapped, "::1".parse().unwrap(), None));
        assert!(overlaps(mapped, mapped, None));
    }
}
