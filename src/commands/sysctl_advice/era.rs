//! What the kernel's defaults and meanings are, told from the knobs it has.
//!
//! Some defaults changed under the same knob name: `tcp_tw_reuse = 2` means "loopback only"
//! since Linux 4.18 and "global reuse" (like 1) before, and `somaxconn` defaults to 4096
//! since 5.4 and to 128 before. sockdoc never guesses a version from `uname`; a distribution
//! kernel carries backports its version number does not tell (RHEL 8's "4.18" has 5.x
//! knobs such as `tcp_min_snd_mss`). Instead, knobs whose arrival or removal is dated in the kernel's
//! history prove a bound, and a change is judged known only when a bound proves it. Where
//! no knob here proves either side, the answer is "unknown" and the advice says so.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::sys::sysctl::Key;

/// A mainline release, e.g. 4.18.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    pub major: u8,
    pub minor: u8,
}

const fn release(major: u8, minor: u8) -> Release {
    Release { major, minor }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for Release {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What a knob's presence proves about the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dates {
    /// Present only in this release and later.
    Since(Release),
    /// Present only before this release (it was removed in it).
    Before(Release),
}

/// A knob whose presence dates the kernel. Only presence counts: a knob can be absent for
/// other reasons (a network namespace that does not show it, a fixture tree).
#[derive(Debug)]
pub struct Marker {
    pub knob: Key,
    pub dates: Dates,
    /// Where the date comes from, as checked against kernel trees of the releases around it.
    pub source: &'static str,
}

/// Per-network-namespace knobs with a dated arrival or removal, each always built in (no
/// Kconfig option hides them). Checked by reading net/ipv4/sysctl_net_ipv4.c of the
/// releases on both sides.
pub const MARKERS: &[Marker] = &[
    Marker {
        knob: Key::TcpTwRecycle,
        dates: Dates::Before(release(4, 12)),
        source: "removed in Linux 4.12 by commit 4396e46187ca (\"tcp: remove tcp_tw_recycle\")",
    },
    Marker {
        knob: Key::IpForwardUpdatePriority,
        dates: Dates::Since(release(4, 19)),
        source: "added for Linux 4.19 (\"net: ipv4: Control SKB reprioritization after \
                 forwarding\", 2018-08-01); absent from 4.18",
    },
    Marker {
        knob: Key::TcpMtuProbeFloor,
        dates: Dates::Since(release(5, 4)),
        source: "added for Linux 5.4 (\"tcp: add new tcp_mtu_probe_floor sysctl\", \
                 2019-08-09); absent from 5.3",
    },
    Marker {
        knob: Key::TcpEhashEntries,
        dates: Dates::Since(release(6, 1)),
        source: "added for Linux 6.1 by commit d1e5e6408b30 (\"tcp: Introduce optional \
                 per-netns ehash\", 2022-09-20); absent from 6.0",
    },
    Marker {
        knob: Key::TcpTwReuseDelay,
        dates: Dates::Since(release(6, 14)),
        source: "added for Linux 6.14 by commit ca6a6f93867a (\"tcp: Add sysctl to configure \
                 TIME-WAIT reuse delay\", 2024-12-11)",
    },
];

/// A default (and meaning) that changed under the same knob name.
#[derive(Debug)]
pub struct Change {
    pub knob: Key,
    /// The new behaviour in a few words, for the table.
    pub label: &'static str,
    pub what: &'static str,
    pub since: Release,
    pub default_before: i64,
    pub default_since: i64,
    pub source: &'static str,
}

/// `tcp_tw_reuse = 2`: reuse for loopback connections only, and the new default. Before it
/// the knob was a boolean read as `reuse != 0` in tcp_twsk_unique() (net/ipv4/tcp_ipv4.c),
/// so 2 meant global reuse, and the default was 0.
pub const TW_REUSE_LOOPBACK: Change = Change {
    knob: Key::TcpTwReuse,
    label: "tcp_tw_reuse = 2 is loopback only",
    what: "tcp_tw_reuse = 2 means loopback-only reuse and is the default; before, any \
           non-zero value means reuse for every destination and the default is 0",
    since: release(4, 18),
    default_before: 0,
    default_since: 2,
    source: "commit 79e9fed46038 (\"net-tcp: extend tcp_tw_reuse sysctl to enable loopback \
             only optimization\", Linux 4.18)",
};

/// `SOMAXCONN` (include/linux/socket.h), the default of `net.core.somaxconn`.
pub const SOMAXCONN_4096: Change = Change {
    knob: Key::Somaxconn,
    label: "somaxconn defaults to 4096",
    what: "somaxconn defaults to 4096; before, to 128",
    since: release(5, 4),
    default_before: 128,
    default_since: 4096,
    source: "commit 19f92a030ca6 (\"net: increase SOMAXCONN to 4096\", Linux 5.4); \
             ip-sysctl.rst: somaxconn",
};

/// Every change the advice depends on.
pub const CHANGES: &[&Change] = &[&TW_REUSE_LOOPBACK, &SOMAXCONN_4096];

/// Whether the kernel has a change, and the marker that proves it.
#[derive(Debug, Clone, Copy)]
pub enum Has {
    Yes(&'static Marker),
    No(&'static Marker),
    Unknown,
}

impl Has {
    pub fn name(self) -> &'static str {
        match self {
            Self::Yes(_) => "yes",
            Self::No(_) => "no",
            Self::Unknown => "unknown",
        }
    }

    /// "tcp_tw_recycle is present (removed in Linux 4.12 ...)", or why nothing is known.
    pub fn evidence(self) -> String {
        match self {
            Self::Yes(m) | Self::No(m) => format!("{} is present: {}", m.knob.short(), m.source),
            Self::Unknown => "no knob here dates the kernel on either side of the change".into(),
        }
    }
}

/// The bounds the knobs present prove.
#[derive(Debug, Clone, Default)]
pub struct Era {
    /// The present markers, in table order.
    pub present: Vec<&'static Marker>,
}

impl Era {
    /// Dates the kernel by which of the markers `present` reports.
    pub fn detect(present: impl Fn(Key) -> bool) -> Self {
        Self {
            present: MARKERS.iter().filter(|m| present(m.knob)).collect(),
        }
    }

    /// Whether the kernel has `change`. Contradicting markers (a fixture, or a vendor
    /// kernel that kept a removed knob) prove nothing.
    pub fn has(&self, change: &Change) -> Has {
        let newer = self
            .present
            .iter()
            .filter(|m| matches!(m.dates, Dates::Since(r) if r >= change.since))
            .max_by(|a, b| since(a).cmp(&since(b)));
        let older = self
            .present
            .iter()
            .filter(|m| matches!(m.dates, Dates::Before(r) if r <= change.since))
            .min_by(|a, b| before(a).cmp(&before(b)));
        match (newer, older) {
            (Some(m), None) => Has::Yes(m),
            (None, Some(m)) => Has::No(m),
            _ => Has::Unknown,
        }
    }

    /// The knob's default on this kernel, when the markers tell which side of `change` it
    /// is on.
    pub fn default_of(&self, change: &Change) -> Option<i64> {
        match self.has(change) {
            Has::Yes(_) => Some(change.default_since),
            Has::No(_) => Some(change.default_before),
            Has::Unknown => None,
        }
    }

    /// The report section: the markers found and what they tell about each change.
    pub fn report(&self) -> KernelEra {
        KernelEra {
            markers: self
                .present
                .iter()
                .map(|m| MarkerSeen {
                    knob: m.knob,
                    bound: match m.dates {
                        Dates::Since(_) => Bound::Since,
                        Dates::Before(_) => Bound::Before,
                    },
                    proves: match m.dates {
                        Dates::Since(r) => format!("added in Linux {r}"),
                        Dates::Before(r) => format!("removed in Linux {r}"),
                    },
                    source: m.source,
                })
                .collect(),
            changes: CHANGES
                .iter()
                .map(|&c| {
                    let has = self.has(c);
                    ChangeSeen {
                        knob: c.knob,
                        label: c.label,
                        what: c.what,
                        since: c.since,
                        here: has.name(),
                        default_here: self.default_of(c),
                        evidence: has.evidence(),
                        source: c.source,
                    }
                })
                .collect(),
        }
    }
}

fn since(m: &Marker) -> Option<Release> {
    match m.dates {
        Dates::Since(r) => Some(r),
        Dates::Before(_) => None,
    }
}

fn before(m: &Marker) -> Option<Release> {
    match m.dates {
        Dates::Before(r) => Some(r),
        Dates::Since(_) => None,
    }
}

/// What the report shows about the kernel's era.
#[derive(Debug, Clone, Serialize)]
pub struct KernelEra {
    /// The dating knobs present here; absent ones prove nothing and are not listed.
    pub markers: Vec<MarkerSeen>,
    /// Each default that changed under the same name, and which side this kernel is on.
    pub changes: Vec<ChangeSeen>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MarkerSeen {
    pub knob: Key,
    /// Which side of its release the knob puts the kernel.
    pub bound: Bound,
    pub proves: String,
    pub source: &'static str,
}

/// A marker's side: the kernel has what a release added, or keeps what it removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    Since,
    Before,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeSeen {
    pub knob: Key,
    pub label: &'static str,
    pub what: &'static str,
    pub since: Release,
    /// `yes`, `no` or `unknown`.
    pub here: &'static str,
    /// The knob's default on this kernel; null when the markers do not tell.
    pub default_here: Option<i64>,
    pub evidence: String,
    pub source: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn era(knobs: &[Key]) -> Era {
        Era::detect(|k| knobs.contains(&k))
    }

    #[test]
    fn markers_prove_one_side_or_nothing() {
        // A 4.x kernel that still has tcp_tw_recycle: before both changes.
        let old = era(&[Key::TcpTwRecycle]);
        assert!(matches!(old.has(&TW_REUSE_LOOPBACK), Has::No(_)));
        assert_eq!(old.default_of(&TW_REUSE_LOOPBACK), Some(0));
        assert_eq!(old.default_of(&SOMAXCONN_4096), Some(128));

        // 4.19 or later, and nothing proves 5.4: value 2 yes, somaxconn unknown.
        let mid = era(&[Key::IpForwardUpdatePriority]);
        assert!(matches!(mid.has(&TW_REUSE_LOOPBACK), Has::Yes(_)));
        assert!(matches!(mid.has(&SOMAXCONN_4096), Has::Unknown));
        assert_eq!(mid.default_of(&SOMAXCONN_4096), None);

        // tcp_ehash_entries (6.1+) proves both.
        let new = era(&[Key::TcpEhashEntries, Key::TcpTwReuseDelay]);
        assert_eq!(new.default_of(&TW_REUSE_LOOPBACK), Some(2));
        assert_eq!(new.default_of(&SOMAXCONN_4096), Some(4096));
        match new.has(&SOMAXCONN_4096) {
            Has::Yes(m) => assert_eq!(m.knob, Key::TcpTwReuseDelay, "the newest"),
            other => panic!("{other:?}"),
        }

        // Nothing present: nothing known, never a guess.
        let none = era(&[]);
        assert!(matches!(none.has(&TW_REUSE_LOOPBACK), Has::Unknown));
        // Contradicting markers prove nothing either.
        let odd = era(&[Key::TcpTwRecycle, Key::TcpEhashEntries]);
        assert!(matches!(odd.has(&SOMAXCONN_4096), Has::Unknown));
    }

    #[test]
    fn the_report_names_the_markers_and_the_side() {
        let r = era(&[Key::TcpTwRecycle]).report();
        assert_eq!(r.markers.len(), 1);
        assert_eq!(r.markers[0].bound, Bound::Before);
        let reuse = &r.changes[0];
        assert_eq!((reuse.here, reuse.default_here), ("no", Some(0)));
        assert_eq!(reuse.since.to_string(), "4.18");
        assert!(reuse.evidence.starts_with("tcp_tw_recycle is present"));
    }
}
