//! The listen backlog: the accept queue (`somaxconn`), the SYN queue
//! (`tcp_max_syn_backlog`, `tcp_syncookies`) and what happens when the accept queue is full
//! (`tcp_abort_on_overflow`).

use super::era::{Has, SOMAXCONN_4096};
use super::judge::Judge;
use super::knobs::KnobSpec;
use super::live::Counter;
use super::values::Grammar;
use super::{Finding, Level};
use crate::sys::sysctl::Key;
use crate::units::count;

/// The backlog knobs.
pub const KNOBS: &[KnobSpec] = &[
    KnobSpec {
        key: Key::Somaxconn,
        source: "ip-sysctl.rst: somaxconn; commit 19f92a030ca6 (default 4096 since Linux 5.4)",
        myth: None,
        newer: false,
        grammar: Grammar::Int,
        judge: somaxconn,
    },
    KnobSpec {
        key: Key::TcpMaxSynBacklog,
        source: "ip-sysctl.rst: tcp_max_syn_backlog; tcp_conn_request() in net/ipv4/tcp_input.c",
        myth: None,
        newer: false,
        grammar: Grammar::Int,
        judge: max_syn_backlog,
    },
    KnobSpec {
        key: Key::TcpSyncookies,
        source: "ip-sysctl.rst: tcp_syncookies",
        myth: None,
        newer: false,
        grammar: Grammar::Int,
        judge: syncookies,
    },
    KnobSpec {
        key: Key::TcpAbortOnOverflow,
        source: "tcp_conn_request() in net/ipv4/tcp_input.c; tcp_check_req() in \
                  net/ipv4/tcp_minisocks.c; ip-sysctl.rst: tcp_abort_on_overflow",
        myth: None,
        newer: false,
        grammar: Grammar::Int,
        judge: abort_on_overflow,
    },
];

fn somaxconn(j: &Judge, spec: &KnobSpec) -> Finding {
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    let era = j.live.era.has(&SOMAXCONN_4096);
    let default = j.live.era.default_of(&SOMAXCONN_4096);
    let f = spec.finding(Some(&text)).kernel_default(default);
    let overflows = j.live.counter(Counter::ListenOverflows).unwrap_or(0);
    let today = SOMAXCONN_4096.default_since;
    let old = SOMAXCONN_4096.default_before;
    let overflowed = if overflows > 0 {
        " It has overflowed (ListenOverflows)."
    } else {
        ""
    };
    // Where the value stands against this kernel's default, or what it may be.
    let versus = |value: i64| match era {
        Has::Yes(_) if value < today => format!("below the default {today}"),
        Has::Yes(_) => format!("the default is {today}"),
        Has::No(_) => {
            let side = match value.cmp(&old) {
                std::cmp::Ordering::Less => "below",
                std::cmp::Ordering::Equal => "that is",
                std::cmp::Ordering::Greater => "above",
            };
            format!(
                "{side} this kernel's default {old} (Linux 5.4 raised it to {today}; {})",
                era.evidence()
            )
        }
        Has::Unknown => format!(
            "{}the default is {today} since Linux 5.4 and {old} before, and this kernel's \
             knobs do not tell which applies",
            if value < old {
                "below either default: "
            } else {
                ""
            }
        ),
    };
    let f = if !j.serves() {
        f.set(
            if value < default.unwrap_or(today) {
                Level::Info
            } else {
                Level::Ok
            },
            "matters for servers only",
            "Caps every listen() backlog; it matters for hosts that accept connections.",
        )
    } else if value < today {
        // Below this kernel's default, or below every kernel's: worth acting on. At the
        // old default, only overflows make it so.
        let low = value < default.unwrap_or(old);
        let level = if low || overflows > 0 {
            Level::Advise
        } else {
            Level::Info
        };
        f.set(
            level,
            format!("accept queue capped at {value}"),
            format!(
                "Caps every listen() backlog: a listener's accept queue is min(backlog, \
                 somaxconn) = at most {value}; {}. A burst of connections larger \
                 than that overflows it, and clients retry their SYN after a second or \
                 more.{overflowed} Kernels before 5.4 accept {today} too.",
                versus(value)
            ),
        )
        .suggest(today.to_string())
    } else if overflows > 0 {
        f.set(
            Level::Info,
            "overflows: check app backlog",
            format!(
                "Accept queues overflowed {} though somaxconn is {value}: the \
                 application's listen() backlog or a slow accept() loop is the limit \
                 (`ss -ltn` shows each listener's backlog as Send-Q).",
                count(overflows, "time")
            ),
        )
    } else {
        f.set(
            Level::Ok,
            if matches!(era, Has::Yes(_)) {
                format!("default {today} or more")
            } else {
                format!("{today} or more")
            },
            "Caps every listen() backlog: a listener's accept queue is min(backlog, \
             somaxconn). No overflow seen.",
        )
    };
    let evidence = j.counters(&[Counter::ListenOverflows, Counter::ListenDrops]);
    f.evidence(evidence)
}

fn max_syn_backlog(j: &Judge, spec: &KnobSpec) -> Finding {
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    let f = spec.finding(Some(&text));
    let cookies_off = j.live.value(Key::TcpSyncookies) == Some("0");
    let somaxconn = j.live.number(Key::Somaxconn);
    let f = if !j.serves() {
        f.set(
            Level::Ok,
            "matters for servers only",
            "Limits half-open connections per listener; it matters for hosts that accept \
             connections.",
        )
    } else if !cookies_off {
        f.set(
            Level::Ok,
            "unused while syncookies on",
            "With syncookies on, a listener's SYN queue is bounded by its accept backlog \
             (min(backlog, somaxconn)) and overflow falls back to cookies; this limit \
             applies only when tcp_syncookies = 0.",
        )
    } else if let Some(s) = somaxconn.filter(|&s| value < s) {
        f.set(
            Level::Advise,
            "below somaxconn, no cookies",
            format!(
                "With tcp_syncookies = 0, SYNs from new peers are dropped once a listener \
                 has 3/4 of {value} half-open connections; keep it at least somaxconn \
                 ({s})."
            ),
        )
        .suggest(s.to_string())
    } else {
        f.set(
            Level::Ok,
            "at least somaxconn",
            "With tcp_syncookies = 0 this bounds half-open connections per listener; it is \
             at least somaxconn.",
        )
    };
    let evidence = j.counters(&[Counter::ReqQFullDrop, Counter::ListenDrops]);
    f.evidence(evidence)
}

fn syncookies(j: &Judge, spec: &KnobSpec) -> Finding {
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    let f = spec.finding(Some(&text));
    let sent = j.live.counter(Counter::SyncookiesSent).unwrap_or(0);
    let f = match value {
        1 if sent > 0 && j.serves() => f.set(
            Level::Info,
            "cookies sent: queue overflowed",
            format!(
                "Cookies were sent {}: a listener's SYN queue overflowed. If that was real \
                 load rather than a flood, raise the listen() backlog and somaxconn; cookies \
                 are a fallback and must not carry legal load.",
                count(sent, "time")
            ),
        ),
        1 => f.set(
            Level::Ok,
            "on overflow only (default)",
            "Cookies only when a listener's SYN queue overflows (the default): a fallback \
             against SYN floods.",
        ),
        0 => f
            .set(
                if j.serves() {
                    Level::Advise
                } else {
                    Level::Info
                },
                "off: SYN floods drop clients",
                "Off: a SYN flood fills the listeners' SYN queues and real clients are \
                 dropped. 1 (the default) sends cookies only on overflow.",
            )
            .suggest("1"),
        2 => f
            .set(
                Level::Advise,
                "always on: for testing only",
                "Cookies for every connection, meant for testing: connections made with \
                 cookies can lose TCP extensions. 1 (the default) uses them only on \
                 overflow.",
            )
            .suggest("1"),
        _ => spec.unexpected(&text, "0, 1 or 2"),
    };
    let evidence = j.counters(&[
        Counter::SyncookiesSent,
        Counter::SyncookiesFailed,
        Counter::ReqQFullDoCookies,
        Counter::ReqQFullDrop,
    ]);
    f.evidence(evidence)
}

/// Measured in private namespaces (listener backlog 4, TCP_DEFER_ACCEPT holding three
/// requests in SYN_RECV while five completed connections filled the queue): with 1 the
/// three got RST (EmbryonicRsts +3), with 0 they waited and the server retransmitted its
/// SYN-ACK; a new SYN was dropped with either value, no RST.
fn abort_on_overflow(j: &Judge, spec: &KnobSpec) -> Finding {
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    let f = spec.finding(Some(&text));
    let scope = "A new SYN to a listener whose accept queue is full is dropped whatever this \
                 knob says (tcp_conn_request(), net/ipv4/tcp_input.c; counted in \
                 ListenOverflows), and its client retries the SYN. The knob is read only in \
                 tcp_check_req() (net/ipv4/tcp_minisocks.c), for a connection already in \
                 SYN_RECV whose final ACK finds the queue full";
    let f = match value {
        0 => f.set(
            Level::Ok,
            "default: no RST on overflow",
            format!(
                "The default. {scope}: at 0 that ACK is dropped and the server retransmits \
                 its SYN-ACK (up to tcp_synack_retries times), so the connection can still \
                 complete if accept() makes room before those retries run out."
            ),
        ),
        1 => f
            .set(
                if j.serves() {
                    Level::Advise
                } else {
                    Level::Info
                },
                "RST to SYN_RECV on overflow",
                format!(
                    "On. {scope}: at 1 that client gets an RST (ECONNRESET, counted as \
                     EmbryonicRsts) instead of a chance to complete once accept() makes room. It \
                     does not turn a full queue into fast failures for new clients; \
                     ip-sysctl.rst advises it only if the daemon cannot be made to accept \
                     faster."
                ),
            )
            .suggest("0"),
        _ => spec.unexpected(&text, "0 or 1"),
    };
    let evidence = j.counters(&[Counter::ListenOverflows, Counter::EmbryonicRsts]);
    f.evidence(evidence)
}
