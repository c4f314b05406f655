//! What backlog measured, and how each figure reads in the Measured section: the rows sit
//! beside the fields they show, so a new field cannot compile without one.

use serde::Serialize;

use super::{SynSchedule, TCP_RTO_MAX_MS, syn_schedule};
use crate::commands::scenario::Measured::{self, Count, KnobMillis, Millis};
use crate::commands::scenario::{Details, MeasuredRow as Row};

/// What backlog measured: the queue and what each client's socket saw, the counters'
/// rise, the knobs, and the SYN retry schedule computed from them.
#[derive(Serialize)]
pub(super) struct BacklogDetails {
    pub(super) backlog: u32,
    pub(super) somaxconn: Option<u32>,
    pub(super) effective_backlog: u32,
    pub(super) clients: u32,
    pub(super) accept_queue: u32,
    pub(super) accept_queue_limit: u32,
    pub(super) completed: u32,
    pub(super) waiting_in_syn_sent: u32,
    pub(super) clients_reset: u32,
    pub(super) other: u32,
    pub(super) listen_overflows: Option<u64>,
    pub(super) listen_drops: Option<u64>,
    /// Each knob under its sysctl's name (net.ipv4.tcp_…).
    #[serde(flatten)]
    pub(super) knobs: Knobs,
    pub(super) syn_retry_schedule_ms: Option<Vec<u64>>,
    pub(super) connect_gives_up_after_ms: Option<u64>,
}

impl Details for BacklogDetails {
    fn measured(&self) -> Vec<Row> {
        let Self {
            backlog,
            somaxconn,
            effective_backlog,
            clients,
            accept_queue,
            accept_queue_limit,
            completed,
            waiting_in_syn_sent,
            clients_reset,
            other,
            listen_overflows,
            listen_drops,
            knobs,
            syn_retry_schedule_ms,
            connect_gives_up_after_ms,
        } = self;
        let number = |n: &u32| Count(u64::from(*n));
        let maybe = |n: &Option<u64>| Measured::or_unavailable(*n, Count);
        let mut rows = vec![
            Row::new("backlog", "listen() backlog", number(backlog)),
            Row::new("somaxconn", "net.core.somaxconn", knob(*somaxconn)),
            Row::new(
                "effective_backlog",
                "effective backlog: min(backlog, somaxconn)",
                number(effective_backlog),
            ),
            Row::new("clients", "clients connecting", number(clients)),
            Row::new(
                "accept_queue",
                "connections in the accept queue",
                number(accept_queue),
            ),
            Row::new(
                "accept_queue_limit",
                "accept queue limit (listener's Send-Q)",
                number(accept_queue_limit),
            ),
            Row::new("completed", "clients connected", number(completed)),
            Row::new(
                "waiting_in_syn_sent",
                "clients waiting in SYN_SENT",
                number(waiting_in_syn_sent),
            ),
            Row::new(
                "clients_reset",
                "clients reset (ECONNRESET or ECONNREFUSED)",
                number(clients_reset),
            ),
            Row::new("other", "clients in another state", number(other)),
            Row::new(
                "listen_overflows",
                "TcpExtListenOverflows rise",
                maybe(listen_overflows),
            ),
            Row::new(
                "listen_drops",
                "TcpExtListenDrops rise",
                maybe(listen_drops),
            ),
        ];
        rows.extend(knobs.measured());
        rows.push(Row::new(
            "syn_retry_schedule_ms",
            "SYN resent, time since connect()",
            Measured::or_unavailable(syn_retry_schedule_ms.as_deref(), |ms| {
                Measured::list(ms, Millis)
            }),
        ));
        rows.push(Row::new(
            "connect_gives_up_after_ms",
            "connect() gives up after",
            Measured::or_unavailable(*connect_gives_up_after_ms, Millis),
        ));
        rows
    }
}

/// A sysctl's raw value, or unavailable where this kernel has no such knob.
fn knob(value: Option<u32>) -> Measured {
    Measured::or_unavailable(value, |n| Count(u64::from(n)))
}

/// The knobs that decide what a client of a full accept queue goes through; `None` where
/// this kernel has no such knob or it is unreadable. Fields are named as the sysctls.
#[derive(Serialize)]
#[allow(clippy::struct_field_names)] // the sysctls' own names
pub(super) struct Knobs {
    pub(super) tcp_abort_on_overflow: Option<u32>,
    pub(super) tcp_synack_retries: Option<u32>,
    pub(super) tcp_syncookies: Option<u32>,
    pub(super) tcp_syn_retries: Option<u32>,
    /// Absent before Linux 6.5 (commit ccce324dabfe).
    pub(super) tcp_syn_linear_timeouts: Option<u32>,
    /// Absent on kernels whose RTO ceiling is the constant TCP_RTO_MAX.
    pub(super) tcp_rto_max_ms: Option<u64>,
}

/// Each knob's row, labelled with its sysctl's full name.
impl Details for Knobs {
    fn measured(&self) -> Vec<Row> {
        let Self {
            tcp_abort_on_overflow,
            tcp_synack_retries,
            tcp_syncookies,
            tcp_syn_retries,
            tcp_syn_linear_timeouts,
            tcp_rto_max_ms,
        } = self;
        vec![
            Row::new(
                "tcp_abort_on_overflow",
                "net.ipv4.tcp_abort_on_overflow",
                knob(*tcp_abort_on_overflow),
            ),
            Row::new(
                "tcp_synack_retries",
                "net.ipv4.tcp_synack_retries",
                knob(*tcp_synack_retries),
            ),
            Row::new(
                "tcp_syncookies",
                "net.ipv4.tcp_syncookies",
                knob(*tcp_syncookies),
            ),
            Row::new(
                "tcp_syn_retries",
                "net.ipv4.tcp_syn_retries",
                knob(*tcp_syn_retries),
            ),
            Row::new(
                "tcp_syn_linear_timeouts",
                "net.ipv4.tcp_syn_linear_timeouts",
                knob(*tcp_syn_linear_timeouts),
            ),
            Row::new(
                "tcp_rto_max_ms",
                "net.ipv4.tcp_rto_max_ms",
                Measured::or_unavailable(*tcp_rto_max_ms, KnobMillis),
            ),
        ]
    }
}

impl Knobs {
    pub(super) fn read(sysctl: &impl Fn(&str) -> Option<u64>) -> Self {
        let small = |key: &str| sysctl(key).and_then(|n| u32::try_from(n).ok());
        Self {
            tcp_abort_on_overflow: small("net.ipv4.tcp_abort_on_overflow"),
            tcp_synack_retries: small("net.ipv4.tcp_synack_retries"),
            tcp_syncookies: small("net.ipv4.tcp_syncookies"),
            tcp_syn_retries: small("net.ipv4.tcp_syn_retries"),
            tcp_syn_linear_timeouts: small("net.ipv4.tcp_syn_linear_timeouts"),
            tcp_rto_max_ms: sysctl("net.ipv4.tcp_rto_max_ms"),
        }
    }

    /// The clients' schedule on this kernel: no linear knob means none are linear, no
    /// tcp_rto_max_ms means the constant ceiling.
    pub(super) fn syn_schedule(&self) -> Option<SynSchedule> {
        Some(syn_schedule(
            self.tcp_syn_retries?,
            self.tcp_syn_linear_timeouts.unwrap_or(0),
            self.tcp_rto_max_ms.unwrap_or(TCP_RTO_MAX_MS),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_read_under_their_sysctl_names() {
        let knobs = Knobs {
            tcp_abort_on_overflow: Some(0),
            tcp_synack_retries: None,
            tcp_syncookies: Some(1),
            tcp_syn_retries: Some(6),
            tcp_syn_linear_timeouts: None,
            tcp_rto_max_ms: Some(120_000),
        };
        let rows = knobs.measured();
        assert_eq!(rows[0].label, "net.ipv4.tcp_abort_on_overflow");
        assert_eq!(rows[0].value, Count(0));
        assert_eq!(
            rows[1].value,
            Measured::Unavailable,
            "a knob this kernel lacks"
        );
        assert_eq!(rows[5].value, KnobMillis(120_000));
    }
}
