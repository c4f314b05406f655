//! The knobs sockdoc reads by name, as one enum: a key is spelt once, here, and a typo in
//! a use is a compile error rather than a knob that silently reads as absent.
//!
//! `sysctl-advice` reads every key of this enum (its registry judges most of them; the
//! rest are evidence or date the kernel), so adding a variant adds a read.

use serde::{Serialize, Serializer};

/// A sysctl key in the dotted form sysctl(8) prints (`net.ipv4.tcp_tw_reuse`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumString,
    strum::Display,
)]
#[strum(const_into_str)]
pub enum Key {
    #[strum(serialize = "net.ipv4.tcp_tw_recycle")]
    TcpTwRecycle,
    #[strum(serialize = "net.ipv4.tcp_tw_reuse")]
    TcpTwReuse,
    #[strum(serialize = "net.ipv4.tcp_tw_reuse_delay")]
    TcpTwReuseDelay,
    #[strum(serialize = "net.ipv4.tcp_timestamps")]
    TcpTimestamps,
    #[strum(serialize = "net.ipv4.tcp_fin_timeout")]
    TcpFinTimeout,
    #[strum(serialize = "net.ipv4.tcp_max_tw_buckets")]
    TcpMaxTwBuckets,
    #[strum(serialize = "net.ipv4.tcp_ehash_entries")]
    TcpEhashEntries,
    #[strum(serialize = "net.ipv4.tcp_rfc1337")]
    TcpRfc1337,
    #[strum(serialize = "net.ipv4.ip_local_port_range")]
    IpLocalPortRange,
    #[strum(serialize = "net.ipv4.ip_local_reserved_ports")]
    IpLocalReservedPorts,
    #[strum(serialize = "net.ipv4.ip_autobind_reuse")]
    IpAutobindReuse,
    #[strum(serialize = "net.ipv4.ip_unprivileged_port_start")]
    IpUnprivilegedPortStart,
    #[strum(serialize = "net.core.somaxconn")]
    Somaxconn,
    #[strum(serialize = "net.ipv4.tcp_max_syn_backlog")]
    TcpMaxSynBacklog,
    #[strum(serialize = "net.ipv4.tcp_syncookies")]
    TcpSyncookies,
    #[strum(serialize = "net.ipv4.tcp_abort_on_overflow")]
    TcpAbortOnOverflow,
    #[strum(serialize = "net.ipv4.tcp_autocorking")]
    TcpAutocorking,
    #[strum(serialize = "net.ipv4.ip_forward_update_priority")]
    IpForwardUpdatePriority,
    #[strum(serialize = "net.ipv4.tcp_mtu_probe_floor")]
    TcpMtuProbeFloor,
}

impl Key {
    /// The dotted name, `net.ipv4.tcp_tw_reuse`; usable in constants.
    pub const fn name(self) -> &'static str {
        self.into_str()
    }

    /// The file under /proc/sys, `net/ipv4/tcp_tw_reuse`: how a config line names it.
    pub fn path(self) -> String {
        self.name().replace('.', "/")
    }

    /// The last component, `tcp_tw_reuse`, for a sentence or a table.
    pub fn short(self) -> &'static str {
        let name = self.name();
        name.rsplit('.').next().unwrap_or(name)
    }
}

/// A key serializes as its dotted name, the text the report has always carried.
impl Serialize for Key {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;

    #[test]
    fn names_round_trip_and_are_sysctl_keys() {
        for key in Key::iter() {
            assert_eq!(key.name().parse::<Key>(), Ok(key));
            assert_eq!(key.to_string(), key.name());
            assert!(key.name().starts_with("net."), "{key}");
            assert!(
                super::super::conf::parse_line(&format!("{key} = 1")).is_some_and(|line| {
                    matches!(line, super::super::Line::Assignment(a) if a.path == key.path())
                }),
                "{key}"
            );
        }
        assert_eq!(Key::TcpTwReuse.short(), "tcp_tw_reuse");
    }
}
