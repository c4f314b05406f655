//! What close-wait measured, and how each figure reads in the Measured section: the rows
//! sit beside the fields they show, so a new field cannot compile without one. One struct
//! per phase, flattened, so the JSON keys stay one level deep.

use serde::Serialize;

use crate::commands::scenario::Measured::{self, Count, Millis, Text};
use crate::commands::scenario::{Details, MeasuredRow as Row};

#[derive(Serialize)]
pub(super) struct CloseWaitDetails {
    pub(super) clients: u32,
    #[serde(flatten)]
    pub(super) leak: LeakFigures,
    #[serde(flatten)]
    pub(super) limit: LimitFigures,
    #[serde(flatten)]
    pub(super) fixed: FixedFigures,
}

/// Phase 1, the leaky server (sock_diag, /proc/self/fd).
#[derive(Serialize)]
pub(super) struct LeakFigures {
    /// The server's sockets in CLOSE_WAIT.
    pub(super) close_wait: u32,
    /// Of those, how many had a timer (idiag_timer not 0).
    pub(super) close_wait_with_timer: u32,
    /// The clients' closed sides in FIN_WAIT2 meanwhile.
    pub(super) client_fin_wait2: u32,
    /// The timers sock_diag reports on them, each kind once ("timewait", …; "none").
    pub(super) client_fin_wait2_timers: Vec<String>,
    /// The longest time left on their timers.
    pub(super) client_fin_wait2_timer_max_ms: Option<u64>,
    /// net.ipv4.tcp_fin_timeout, in seconds.
    pub(super) tcp_fin_timeout: Option<u64>,
    /// Open descriptors with the listener open, before any client.
    pub(super) baseline_fds: Option<u64>,
    /// Open descriptors once the server had read every client's FIN.
    pub(super) leaky_fds: Option<u64>,
}

/// Phase 2, accept() at the descriptor limit.
#[derive(Serialize)]
pub(super) struct LimitFigures {
    /// The listener's accept queue with one more client connected, before accept().
    pub(super) accept_queue_before: u32,
    /// The soft RLIMIT_NOFILE, lowered and then restored.
    pub(super) open_files_limit: u64,
    /// The soft limit during the accept(): the lowest free descriptor number.
    pub(super) lowered_limit: u64,
    /// How that accept() ended: "accepted" or the errno's name.
    pub(super) accept_at_limit: String,
    /// poll() POLLIN on the listener right after that accept().
    pub(super) listener_readable_after_emfile: bool,
    pub(super) accept_queue_after_emfile: u32,
    pub(super) accept_after_restore: String,
}

/// Phase 3, the server that closes on end of stream.
#[derive(Serialize)]
pub(super) struct FixedFigures {
    /// Its sockets still in CLOSE_WAIT and LAST_ACK once settled.
    #[serde(rename = "fixed_close_wait")]
    pub(super) close_wait: u32,
    #[serde(rename = "fixed_last_ack")]
    pub(super) last_ack: u32,
    /// The clients' sides in TIME_WAIT after it closed.
    #[serde(rename = "fixed_client_time_wait")]
    pub(super) client_time_wait: u32,
    #[serde(rename = "fixed_fds_before")]
    pub(super) fds_before: Option<u64>,
    #[serde(rename = "fixed_fds")]
    pub(super) fds: Option<u64>,
}

fn number(n: u32) -> Measured {
    Count(u64::from(n))
}

fn maybe(n: Option<u64>) -> Measured {
    Measured::or_unavailable(n, Count)
}

impl Details for CloseWaitDetails {
    fn measured(&self) -> Vec<Row> {
        let Self {
            clients,
            leak,
            limit,
            fixed,
        } = self;
        let mut rows = vec![Row::new(
            "clients",
            "clients that connect and close",
            number(*clients),
        )];
        rows.extend(leak.rows());
        rows.extend(limit.rows());
        rows.extend(fixed.rows());
        rows
    }
}

impl LeakFigures {
    fn rows(&self) -> Vec<Row> {
        let Self {
            close_wait,
            close_wait_with_timer,
            client_fin_wait2,
            client_fin_wait2_timers,
            client_fin_wait2_timer_max_ms,
            tcp_fin_timeout,
            baseline_fds,
            leaky_fds,
        } = self;
        vec![
            Row::new(
                "close_wait",
                "leaky server: sockets in CLOSE_WAIT",
                number(*close_wait),
            ),
            Row::new(
                "close_wait_with_timer",
                "leaky server: CLOSE_WAIT sockets with a timer",
                number(*close_wait_with_timer),
            ),
            Row::new(
                "client_fin_wait2",
                "clients' sides in FIN_WAIT2",
                number(*client_fin_wait2),
            ),
            Row::new(
                "client_fin_wait2_timers",
                "their timer (sock_diag)",
                Measured::texts(client_fin_wait2_timers),
            ),
            Row::new(
                "client_fin_wait2_timer_max_ms",
                "their longest timer left",
                Measured::or_unavailable(*client_fin_wait2_timer_max_ms, Millis),
            ),
            Row::new(
                "tcp_fin_timeout",
                "net.ipv4.tcp_fin_timeout (s)",
                maybe(*tcp_fin_timeout),
            ),
            Row::new(
                "baseline_fds",
                "open descriptors before the clients",
                maybe(*baseline_fds),
            ),
            Row::new(
                "leaky_fds",
                "open descriptors after them (leaky)",
                maybe(*leaky_fds),
            ),
        ]
    }
}

impl LimitFigures {
    fn rows(&self) -> Vec<Row> {
        let Self {
            accept_queue_before,
            open_files_limit,
            lowered_limit,
            accept_at_limit,
            listener_readable_after_emfile,
            accept_queue_after_emfile,
            accept_after_restore,
        } = self;
        vec![
            Row::new(
                "accept_queue_before",
                "accept queue with one more client",
                number(*accept_queue_before),
            ),
            Row::new(
                "open_files_limit",
                "soft RLIMIT_NOFILE (restored)",
                Count(*open_files_limit),
            ),
            Row::new(
                "lowered_limit",
                "soft RLIMIT_NOFILE lowered to",
                Count(*lowered_limit),
            ),
            Row::new(
                "accept_at_limit",
                "accept() at the limit",
                Text(accept_at_limit.clone()),
            ),
            Row::new(
                "listener_readable_after_emfile",
                "listener readable after it (poll)",
                Text(
                    if *listener_readable_after_emfile {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_owned(),
                ),
            ),
            Row::new(
                "accept_queue_after_emfile",
                "accept queue after that accept()",
                number(*accept_queue_after_emfile),
            ),
            Row::new(
                "accept_after_restore",
                "accept() with the limit restored",
                Text(accept_after_restore.clone()),
            ),
        ]
    }
}

impl FixedFigures {
    fn rows(&self) -> Vec<Row> {
        let Self {
            close_wait,
            last_ack,
            client_time_wait,
            fds_before,
            fds,
        } = self;
        vec![
            Row::new(
                "fixed_close_wait",
                "fixed server: sockets in CLOSE_WAIT",
                number(*close_wait),
            ),
            Row::new(
                "fixed_last_ack",
                "fixed server: sockets in LAST_ACK",
                number(*last_ack),
            ),
            Row::new(
                "fixed_client_time_wait",
                "fixed server: clients' sides in TIME_WAIT",
                number(*client_time_wait),
            ),
            Row::new(
                "fixed_fds_before",
                "fixed server: open descriptors before",
                maybe(*fds_before),
            ),
            Row::new(
                "fixed_fds",
                "fixed server: open descriptors after",
                maybe(*fds),
            ),
        ]
    }
}
