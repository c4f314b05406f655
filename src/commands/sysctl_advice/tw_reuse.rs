//! `tcp_tw_reuse`: when an outgoing connect() may take a port TIME_WAIT holds, what 2
//! means on this kernel (loopback only since 4.18, era.rs), `tcp_tw_reuse_delay`, and the
//! timestamps reuse depends on.

use super::era::{Has, TW_REUSE_LOOPBACK};
use super::judge::Judge;
use super::knobs::KnobSpec;
use super::live::Counter;
use super::values::Grammar;
use super::{Finding, Level};
use crate::commands::args::Role;
use crate::sys::sysctl::Key;

/// `tcp_tw_reuse_delay` default in ms (ip-sysctl.rst); kernels without the knob compare
/// whole seconds instead (`tcp_twsk_unique()`, net/ipv4/tcp_ipv4.c: up to 1 s, or 1 to 2 s
/// in 4.18 and before; `reuse_after_text` says which).
pub const TW_REUSE_DELAY_DEFAULT_MS: u64 = 1000;

/// Linux's TCP timestamp clock ticks every millisecond (`TCP_TS_HZ`, include/net/tcp.h).
const LINUX_TS_TICK_MS: u64 = 1;

const MYTH_TW_REUSE_INBOUND: &str = "\"tcp_tw_reuse fixes TIME_WAIT on my server\": it only lets an outgoing connect() \
     take a port held by TIME_WAIT; accepted connections and bind() are untouched. A server \
     that cannot rebind after a restart needs SO_REUSEADDR (see `sockdoc reuse-test`).";

/// `tcp_tw_reuse`, its delay, and the timestamps it needs.
pub const KNOBS: &[KnobSpec] = &[
    KnobSpec {
        key: Key::TcpTwReuse,
        source: "ip-sysctl.rst: tcp_tw_reuse; tcp_twsk_unique() in \
                  net/ipv4/tcp_ipv4.c; commit 79e9fed46038 (value 2, Linux 4.18)",
        myth: Some(MYTH_TW_REUSE_INBOUND),
        newer: false,
        grammar: Grammar::TwReuse,
        judge: tw_reuse,
    },
    KnobSpec {
        key: Key::TcpTwReuseDelay,
        source: "ip-sysctl.rst: tcp_tw_reuse_delay",
        myth: None,
        newer: true,
        grammar: Grammar::Bounded {
            min: 1,
            max: 60_000,
            source: "proc_douintvec_minmax() with SYSCTL_ONE and tcp_tw_reuse_delay_max = \
                     TCP_PAWS_MSL * MSEC_PER_SEC, net/ipv4/sysctl_net_ipv4.c",
        },
        judge: tw_reuse_delay,
    },
    KnobSpec {
        key: Key::TcpTimestamps,
        source: "ip-sysctl.rst: tcp_timestamps",
        myth: None,
        newer: false,
        grammar: Grammar::Int,
        judge: timestamps,
    },
];

/// What 1 does, for a sentence that offers it.
fn global_text(j: &Judge) -> String {
    format!(
        "1 lets every outgoing connect() take a port held by TIME_WAIT {}, guarded by TCP \
         timestamps (PAWS)",
        j.live.reuse_after_text()
    )
}

/// Why 2 is not offered here: the kernel predates loopback-only reuse, or its knobs do
/// not tell.
fn reuse_era_text(has: Has) -> String {
    let side = match has {
        Has::No(_) => format!("this kernel predates it ({})", has.evidence()),
        Has::Yes(_) | Has::Unknown => {
            "this kernel's knobs do not tell whether it has it".to_string()
        }
    };
    format!(
        "2 (loopback only) arrived in Linux 4.18 with commit 79e9fed46038, and {side}; \
         before it the knob is a switch: any non-zero value reuses ports for every \
         destination, and the default is 0"
    )
}

fn tw_reuse(j: &Judge, spec: &KnobSpec) -> Finding {
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    let era = j.live.era.has(&TW_REUSE_LOOPBACK);
    let f = spec
        .finding(Some(&text))
        .kernel_default(j.live.era.default_of(&TW_REUSE_LOOPBACK));
    let judged = match era {
        Has::Yes(_) => tw_reuse_with_loopback(j, value, f),
        Has::No(_) | Has::Unknown => tw_reuse_before_loopback(j, value, f, era),
    };
    let Some(mut f) = judged else {
        return spec.unexpected(&text, "0, 1 or 2");
    };
    if value != 0 && j.live.value(Key::TcpTimestamps) == Some("0") {
        f.reason
            .push_str(" It has no effect while net.ipv4.tcp_timestamps = 0.");
        f.level = f.level.max(Level::Info);
    }
    let evidence = Judge::join(&[
        j.counters(&[Counter::TwRecycled]),
        j.time_wait_text(),
        j.connects().then(|| j.outgoing_text()),
        j.connects().then(|| j.budget_text()).flatten(),
    ]);
    f.evidence(evidence)
}

/// Linux 4.18 and later: 0 off, 1 global, 2 loopback only (the default).
fn tw_reuse_with_loopback(j: &Judge, value: i64, f: Finding) -> Option<Finding> {
    let after = j.live.reuse_after_text();
    let global = global_text(j);
    let pressure = j.pressure().map(|p| {
        format!(
            "Loopback only (the default). {} Setting {global}.",
            p.reason
        )
    });
    Some(match (value, j.role) {
        (1 | 2, Role::Server) => f.set(
            Level::Ok,
            "no effect on accepted conns",
            "Affects only outgoing connect(), not the connections a server accepts.",
        ),
        (0, Role::Server) => f
            .set(
                Level::Info,
                "off; no effect on accepted conns",
                "Off. It affects only outgoing connect(), not the connections a server \
                 accepts; 2 (the default) helps loopback clients such as health checks.",
            )
            .suggest("2"),
        (1, _) => f.set(
            Level::Ok,
            "global reuse for connect()",
            format!(
                "Global reuse: an outgoing connect() may take a port held by TIME_WAIT \
                 {after}, guarded by TCP timestamps (PAWS)."
            ),
        ),
        (0 | 2, Role::Client) => f
            .set(
                Level::Advise,
                "clients need global reuse",
                format!(
                    "{}. An outbound-heavy host runs out of ports to one destination while \
                     they sit in TIME_WAIT; {global}.",
                    if value == 0 {
                        "Off"
                    } else {
                        "Loopback only (the default)"
                    }
                ),
            )
            .suggest("1"),
        (0, _) => f
            .set(
                Level::Advise,
                "off: loopback waits out TIME_WAIT",
                "Off: even loopback connections wait out TIME_WAIT for a port. 2 (the \
                 kernel default) reuses TIME_WAIT ports for loopback connections only; 1 \
                 for all outgoing connections.",
            )
            .suggest("2"),
        (2, _) if pressure.is_some() => f
            .set(
                Level::Advise,
                "ports fill up with TIME_WAIT",
                pressure.unwrap_or_default(),
            )
            .suggest("1"),
        (2, _) => f.set(
            Level::Ok,
            "loopback-only reuse (default)",
            "Loopback only (the default). Set 1 if outgoing connect() fails with \
             EADDRNOTAVAIL (ports exhausted).",
        ),
        _ => return None,
    })
}

/// Before Linux 4.18, or a kernel whose knobs do not tell: 2 is never suggested, since
/// such a kernel may read it as global reuse. 1 means global reuse on every kernel.
fn tw_reuse_before_loopback(j: &Judge, value: i64, f: Finding, era: Has) -> Option<Finding> {
    let predates = matches!(era, Has::No(_));
    let after = j.live.reuse_after_text();
    let era_text = reuse_era_text(era);
    let global = global_text(j);
    Some(match (value, j.role) {
        (0, Role::Server) => f.set(
            Level::Ok,
            "off; no effect on accepted conns",
            format!(
                "Off. It affects only outgoing connect(), not the connections a server \
                 accepts. Not 2: {era_text}."
            ),
        ),
        (0, Role::Client) => f
            .set(
                Level::Advise,
                "clients need global reuse",
                format!(
                    "Off. An outbound-heavy host runs out of ports to one destination \
                     while they sit in TIME_WAIT; {global}. (Not 2: {era_text}.)"
                ),
            )
            .suggest("1"),
        (0, _) => f.set(
            Level::Info,
            if predates {
                "off (this kernel's default)"
            } else {
                "off; 2 not offered here"
            },
            format!(
                "Off{}. Set 1 if outgoing connect() fails with EADDRNOTAVAIL (ports \
                 exhausted): {global}. Not 2: {era_text}.",
                if predates {
                    ", this kernel's default"
                } else {
                    ""
                }
            ),
        ),
        (1, Role::Server) => f.set(
            Level::Ok,
            "no effect on accepted conns",
            "Affects only outgoing connect(), not the connections a server accepts.",
        ),
        (1, _) => f.set(
            Level::Ok,
            "global reuse for connect()",
            format!(
                "Global reuse: an outgoing connect() may take a port held by TIME_WAIT \
                 {after}, guarded by TCP timestamps (PAWS)."
            ),
        ),
        // A kernel before 4.18 reads every non-zero value as global reuse.
        (_, Role::Server) if predates => f.set(
            Level::Ok,
            "no effect on accepted conns",
            format!(
                "Affects only outgoing connect(), not the connections a server accepts. \
                 On this kernel {value} means global reuse, as 1 does: {era_text}."
            ),
        ),
        (_, _) if predates => f
            .set(
                Level::Info,
                format!("{value} means global reuse here"),
                format!(
                    "Not loopback only: {era_text}. So every outgoing connect() may take \
                     a port held by TIME_WAIT {after}. Write 1, which says so on every \
                     kernel, or 0 if global reuse is not wanted."
                ),
            )
            .suggest("1"),
        (2, _) => tw_reuse_two_undated(j, f, &era_text),
        _ => return None,
    })
}

/// `tcp_tw_reuse = 2` on a kernel whose knobs do not date it against 4.18: loopback only
/// or global reuse. 1 is suggested where reuse is wanted: every kernel reads it alike.
fn tw_reuse_two_undated(j: &Judge, f: Finding, era_text: &str) -> Finding {
    let global = global_text(j);
    match j.role {
        Role::Server => f.set(
            Level::Ok,
            "no effect on accepted conns",
            format!(
                "Affects only outgoing connect(), not the connections a server accepts. \
                 Whether 2 means loopback only or global reuse here is unknown: {era_text}."
            ),
        ),
        Role::Client => f
            .set(
                Level::Advise,
                "clients need global reuse",
                format!(
                    "2 is loopback only on Linux 4.18 and later, global reuse before: \
                     {era_text}. An outbound-heavy host runs out of ports to one \
                     destination while they sit in TIME_WAIT; {global}, on every kernel."
                ),
            )
            .suggest("1"),
        Role::Both if j.pressure().is_some() => f
            .set(
                Level::Advise,
                "ports fill up with TIME_WAIT",
                format!(
                    "TIME_WAIT sockets of connections to one destination hold half the \
                     usable ports or more, and 2 may be loopback only ({era_text}); {global}."
                ),
            )
            .suggest("1"),
        Role::Both => f.set(
            Level::Info,
            "2: loopback only if 4.18+",
            format!(
                "Loopback only if this kernel is Linux 4.18 or later, global reuse (as 1) \
                 before: {era_text}. Set 1 if outgoing connect() fails with EADDRNOTAVAIL \
                 (ports exhausted)."
            ),
        ),
    }
}

fn tw_reuse_delay(j: &Judge, spec: &KnobSpec) -> Finding {
    // New in 6.14: judged only where the kernel has it.
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    let f = spec.finding(Some(&text));
    let reuse_off = j.live.value(Key::TcpTwReuse) == Some("0");
    let mut f = match value.cmp(&(TW_REUSE_DELAY_DEFAULT_MS as i64)) {
        std::cmp::Ordering::Equal => f.set(
            Level::Ok,
            "default 1000 ms",
            "The default: a TIME_WAIT port may be reused 1000 ms after it entered \
             TIME_WAIT, when tcp_tw_reuse allows.",
        ),
        std::cmp::Ordering::Less => f.set(
            Level::Info,
            "below 1000 ms: PAWS risk",
            format!(
                "Below the default 1000 ms: safe only if every peer's TCP timestamp clock \
                 ticks at least every {value} ms, so PAWS can tell old segments from new \
                 (Linux ticks every {LINUX_TS_TICK_MS} ms; RFC 7323 allows up to 1 s)."
            ),
        ),
        std::cmp::Ordering::Greater => f.set(
            Level::Info,
            "slower reuse than the default",
            "Above the default 1000 ms: ports stay blocked longer before reuse.",
        ),
    };
    if reuse_off {
        f.reason.push_str(" No effect while tcp_tw_reuse = 0.");
    }
    f
}

fn timestamps(j: &Judge, spec: &KnobSpec) -> Finding {
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    let f = spec.finding(Some(&text));
    let reuse = j.live.value(Key::TcpTwReuse);
    match value {
        1 => f.set(
            Level::Ok,
            "on (default)",
            "On, with a random offset per connection (the default). tcp_tw_reuse and PAWS \
             depend on it.",
        ),
        2 => f
            .set(
                Level::Info,
                "on, no random offsets",
                "On without random offsets: every connection's timestamps expose the same \
                 clock. 1 (the default) randomizes them per connection.",
            )
            .suggest("1"),
        0 if matches!(reuse, Some("1" | "2")) => f
            .set(
                Level::Warn,
                "off: tcp_tw_reuse cannot work",
                format!(
                    "Off: tcp_tw_reuse (= {}) can never reuse a port without timestamps, \
                     and PAWS and timestamp RTT measurement are off.",
                    reuse.unwrap_or_default()
                ),
            )
            .suggest("1"),
        0 => f
            .set(
                Level::Advise,
                "off: no PAWS, no tw_reuse",
                "Off: PAWS (protection against old duplicate segments) and timestamp RTT \
                 measurement are off, and tcp_tw_reuse cannot work.",
            )
            .suggest("1"),
        _ => spec.unexpected(&text, "0, 1 or 2"),
    }
}
