//! The registry: every knob `sysctl-advice` judges, one [`KnobSpec`] each, kept in the
//! file of its concern (TIME_WAIT, `tcp_tw_reuse`, local ports, backlog, Nagle). A new knob
//! is a [`Key`] variant and one entry in one of those tables.
//!
//! Keys are [`Key`] variants, so a judgement cannot name a knob the advice does not read:
//! every variant is read once ([`Live`](super::live::Live)), and the few that are read but
//! not judged are listed in the tests' `READ_ONLY`, which a test checks.

use strum::IntoEnumIterator;

use super::judge::{Judge, finding};
use super::values::Grammar;
use super::{Finding, FindingState, Level, backlog, local_ports, nagle, time_wait, tw_reuse};
use crate::sys::sysctl::{Key, Knob};

/// One judged knob.
pub struct KnobSpec {
    pub key: Key,
    /// The kernel document section (or source) the advice rests on.
    pub source: &'static str,
    /// The folklore about this knob, shown with every finding for it.
    pub myth: Option<&'static str>,
    /// Judged only where the kernel has it: a knob newer than the kernels sockdoc supports
    /// gets no finding when absent (others are reported as absent).
    pub newer: bool,
    /// How the kernel reads a value written to it, for the config lint (values.rs).
    pub grammar: Grammar,
    /// The judgement, given the knob's kernel side; it returns the finding whatever the
    /// knob reads (absent, unreadable and unexpected values included).
    pub judge: fn(&Judge, &'static KnobSpec) -> Finding,
}

/// The per-concern tables. The findings come out in [`Key`] order, whatever the order here.
const TABLES: [&[KnobSpec]; 5] = [
    time_wait::KNOBS,
    tw_reuse::KNOBS,
    local_ports::KNOBS,
    backlog::KNOBS,
    nagle::KNOBS,
];

/// Every spec, in [`Key`] order.
pub fn all() -> impl Iterator<Item = &'static KnobSpec> {
    Key::iter().filter_map(spec)
}

/// The spec of `key`, if it is judged.
pub fn spec(key: Key) -> Option<&'static KnobSpec> {
    TABLES.iter().flat_map(|t| t.iter()).find(|s| s.key == key)
}

/// The judged knob a config line names by its /proc/sys path (`net/ipv4/tcp_tw_reuse`).
pub fn by_path(path: &str) -> Option<&'static KnobSpec> {
    all().find(|s| s.key.path() == path)
}

impl KnobSpec {
    /// The finding for this knob, or none for a newer knob the kernel lacks.
    pub fn judged(&'static self, judge: &Judge) -> Option<Finding> {
        if self.newer && judge.live.knob(self.key) == &Knob::Absent {
            return None;
        }
        let mut f = (self.judge)(judge, self);
        f.myth = self.myth;
        Some(f)
    }

    /// The start of a finding: the key, its current value and its source. The judgement
    /// fills in the rest.
    pub fn finding(&self, current: Option<&str>) -> Finding {
        finding(self.key, current, self.source)
    }

    /// A knob that is absent or unreadable: shown, not judged.
    pub fn unavailable(&self, knob: &Knob) -> Finding {
        let (state, why, reason) = match knob {
            Knob::Unreadable(error) => (
                FindingState::Unreadable,
                "not judged: unreadable",
                format!("Not judged: the knob could not be read ({error})."),
            ),
            _ => (
                FindingState::Absent,
                "absent here",
                "Not on this kernel, or not visible in this network namespace (older kernels \
                 keep some knobs in the initial namespace only)."
                    .to_string(),
            ),
        };
        Finding {
            state,
            ..self.finding(None).set(Level::Info, why, reason)
        }
    }

    /// A knob whose text is not what the kernel documents: shown, not judged.
    pub fn unexpected(&self, text: &str, expected: &str) -> Finding {
        let f = self.finding(Some(text)).set(
            Level::Info,
            "unexpected value",
            format!(
                "Not judged: {} is not {expected}, which the kernel documents.",
                super::echo_quoted(text)
            ),
        );
        Finding {
            state: FindingState::UnexpectedValue,
            ..f
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::sys::ports;

    /// Keys read as evidence or to date the kernel, never judged.
    const READ_ONLY: &[Key] = &[
        // Half of it is tcp_max_tw_buckets' default (time_wait.rs).
        Key::TcpEhashEntries,
        // Era markers (era.rs): only their presence counts.
        Key::IpForwardUpdatePriority,
        Key::TcpMtuProbeFloor,
    ];

    #[test]
    fn every_key_is_judged_once_or_read_only() {
        let mut judged = BTreeSet::new();
        for spec in TABLES.iter().flat_map(|t| t.iter()) {
            assert!(judged.insert(spec.key), "{} judged twice", spec.key);
            assert!(
                !READ_ONLY.contains(&spec.key),
                "{} judged and read-only",
                spec.key
            );
        }
        for key in Key::iter() {
            assert!(
                judged.contains(&key) || READ_ONLY.contains(&key),
                "{key} is read but neither judged nor listed in READ_ONLY"
            );
        }
        assert_eq!(all().count(), judged.len());
    }

    #[test]
    fn the_knobs_other_modules_read_are_keys() {
        for name in ports::KNOBS.iter().chain([&ports::REUSE_DELAY_KNOB]) {
            assert!(name.parse::<Key>().is_ok(), "{name}");
        }
        for marker in super::super::era::MARKERS {
            assert!(READ_ONLY.contains(&marker.knob) || spec(marker.knob).is_some());
        }
    }

    #[test]
    fn config_paths_find_their_spec() {
        let spec = by_path("net/core/somaxconn").unwrap();
        assert_eq!(spec.key, Key::Somaxconn);
        assert!(by_path("net/ipv4/tcp_ehash_entries").is_none(), "read-only");
        assert!(by_path("kernel/pid_max").is_none());
    }
}
