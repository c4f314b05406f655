//! The kernel's side, read once: every [`Key`], /proc/net/sockstat, the counters of
//! /proc/net/netstat, and (live only) the TIME_WAIT sockets per destination.

use std::collections::{BTreeMap, HashMap};

use strum::IntoEnumIterator;

use super::era::{Era, Has, TW_REUSE_LOOPBACK};
use super::{Evidence, OutgoingTimeWait, PortBudget};
use crate::sys::diag::{self, Query, Source};
use crate::sys::fs::Root;
use crate::sys::ports::{self, PortPressure, PortSettings, TimeWaitTally};
use crate::sys::procfs;
use crate::sys::record::TcpState;
use crate::sys::sysctl::{self, Key, Knob, Sockstat};

/// The counters of /proc/net/netstat the advice cites: a judgement names one by variant,
/// so a misspelt counter is a compile error, not a figure that silently never shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter)]
pub enum Counter {
    #[strum(serialize = "TcpExt.ListenOverflows")]
    ListenOverflows,
    #[strum(serialize = "TcpExt.ListenDrops")]
    ListenDrops,
    #[strum(serialize = "TcpExt.TCPReqQFullDrop")]
    ReqQFullDrop,
    #[strum(serialize = "TcpExt.TCPReqQFullDoCookies")]
    ReqQFullDoCookies,
    #[strum(serialize = "TcpExt.SyncookiesSent")]
    SyncookiesSent,
    #[strum(serialize = "TcpExt.SyncookiesFailed")]
    SyncookiesFailed,
    #[strum(serialize = "TcpExt.EmbryonicRsts")]
    EmbryonicRsts,
    #[strum(serialize = "TcpExt.TCPTimeWaitOverflow")]
    TimeWaitOverflow,
    #[strum(serialize = "TcpExt.TWRecycled")]
    TwRecycled,
    #[strum(serialize = "TcpExt.PAWSPassive")]
    PawsPassive,
    #[strum(serialize = "TcpExt.TCPAutoCorking")]
    AutoCorking,
}

impl Counter {
    /// `TcpExt.TWRecycled`, as /proc/net/netstat names it.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// `TWRecycled`, for a sentence.
    pub fn short(self) -> &'static str {
        let name = self.name();
        name.rsplit('.').next().unwrap_or(name)
    }
}

/// The kernel's side, read once. `check_root` made sure `root/proc/sys/net` exists, so a
/// missing knob is missing from the kernel (or the namespace), not from the tree.
pub struct Live {
    /// Every [`Key`], read once.
    knobs: HashMap<Key, Knob>,
    pub sockstat: Option<Sockstat>,
    /// The port knobs, parsed, or why they could not be.
    ports: Result<PortSettings, String>,
    /// TIME_WAIT per destination on ephemeral ports, or why it was not measured.
    pub outgoing: Result<OutgoingTimeWait, String>,
    /// The verdict on the busiest destination; `None` when `outgoing` is an error.
    pub pressure: Option<PortPressure>,
    counters: Option<BTreeMap<String, u64>>,
    /// Which side of each changed default the kernel is on (era.rs).
    pub era: Era,
}

impl Live {
    pub fn read(root: &Root, notes: &mut Vec<String>) -> Self {
        let knobs: HashMap<Key, Knob> = Key::iter()
            .map(|key| (key, sysctl::read_knob(root, key.name())))
            .collect();
        let sockstat = sysctl::read_sockstat(root)
            .map_err(|e| notes.push(format!("TIME_WAIT count unavailable: {e}")))
            .ok();
        let [range, reserved, reuse, timestamps] =
            ports::KEYS.map(|key| knobs.get(&key).and_then(Knob::value));
        let ports = PortSettings::from_knobs(range, reserved, reuse, timestamps);
        let tally = measure_outgoing(root, ports.as_ref());
        let pressure = match (&ports, &tally) {
            (Ok(settings), Ok((tally, _))) => Some(ports::judge(settings, tally)),
            _ => None,
        };
        let outgoing = tally.map(|(tally, source)| OutgoingTimeWait::new(&tally, source));
        if let Err(why) = &outgoing {
            notes.push(format!(
                "TIME_WAIT per destination not measured: {why}. No port-pressure advice is \
                 given without it; the TIME_WAIT count shown is the total from \
                 /proc/net/sockstat, which includes connections this host accepted (they hold \
                 no ephemeral port)."
            ));
        }
        let counters = read_counters(root)
            .map_err(|e| notes.push(format!("counters unavailable: {e}")))
            .ok();
        // Unreadable counts as present: the file is there.
        let era = Era::detect(|key| knobs.get(&key).is_some_and(|k| k != &Knob::Absent));
        Self {
            knobs,
            sockstat,
            ports,
            outgoing,
            pressure,
            counters,
            era,
        }
    }

    pub fn knob(&self, key: Key) -> &Knob {
        self.knobs.get(&key).unwrap_or(&Knob::Absent)
    }

    pub fn value(&self, key: Key) -> Option<&str> {
        self.knob(key).value()
    }

    pub fn number(&self, key: Key) -> Option<i64> {
        self.value(key)?.parse().ok()
    }

    /// What `tcp_tw_reuse` covers on this kernel, for a sentence: " (loopback only)" for 2
    /// where the kernel is known to read it so (4.18+), a hedge where its knobs do not tell,
    /// nothing for global reuse.
    pub fn reuse_scope_text(&self) -> &'static str {
        match (
            self.value(Key::TcpTwReuse),
            self.era.has(&TW_REUSE_LOOPBACK),
        ) {
            (Some("2"), Has::Yes(_)) => " (loopback only)",
            (Some("2"), Has::Unknown) => {
                " (2: loopback only since Linux 4.18, every destination before; this kernel's \
                 knobs do not tell which)"
            }
            _ => "",
        }
    }

    /// Whether `tcp_tw_reuse` is on for some traffic.
    pub fn reuse_on(&self) -> bool {
        matches!(self.value(Key::TcpTwReuse), Some("1" | "2"))
    }

    /// When TIME_WAIT lets a port go to a new outgoing connection, on this kernel.
    pub fn reuse_after_text(&self) -> String {
        let delay = self
            .number(Key::TcpTwReuseDelay)
            .and_then(|d| u64::try_from(d).ok());
        let proven_old = matches!(self.era.has(&TW_REUSE_LOOPBACK), Has::No(_));
        ports::reuse_after_text(delay, proven_old)
    }

    pub fn counter(&self, counter: Counter) -> Option<u64> {
        self.counters.as_ref()?.get(counter.name()).copied()
    }

    pub fn time_wait(&self) -> Option<u64> {
        self.sockstat.map(|s| s.time_wait)
    }

    /// The ephemeral-port budget, when the range and the reserved list parse.
    pub fn port_budget(&self) -> Option<PortBudget> {
        let budget = self.ports.as_ref().ok()?.budget();
        // The knob's value, never a default: kernels without it have no such delay.
        let delay = self
            .number(Key::TcpTwReuseDelay)
            .and_then(|d| u64::try_from(d).ok())
            .filter(|_| self.reuse_on());
        Some(PortBudget {
            low: budget.low,
            high: budget.high,
            ports: budget.ports,
            reserved_in_range: budget.reserved_in_range,
            usable: budget.usable,
            new_connections_per_s: budget.new_connections_per_s(),
            new_connections_per_min: budget.new_connections_per_min(),
            tw_reuse_delay_ms: delay,
        })
    }

    pub fn evidence(&self, budget: Option<PortBudget>) -> Evidence {
        let counters = Counter::iter()
            .filter_map(|c| self.counter(c).map(|v| (c.name().to_string(), v)))
            .collect();
        Evidence {
            time_wait: self.time_wait(),
            outgoing_time_wait: self.outgoing.as_ref().ok().cloned(),
            orphans: self.sockstat.map(|s| s.orphan),
            port_budget: budget,
            port_pressure: self.pressure.clone(),
            tcp_ehash_entries: self.number(Key::TcpEhashEntries),
            counters,
        }
    }
}

/// The sustainable rate of new connections to one destination, readable at any size:
/// "470 new connections/s", "1.5 new connections/s", "10 new connections/min" (a rate
/// below one a second reads per minute rather than as 0).
pub fn rate_text(b: &PortBudget, what: &str) -> String {
    let per_s = b.new_connections_per_s;
    if per_s >= 10.0 {
        format!("{}{what}/s", per_s.floor())
    } else if per_s >= 1.0 {
        format!("{:.1}{what}/s", (per_s * 10.0).floor() / 10.0)
    } else {
        format!("{}{what}/min", b.new_connections_per_min)
    }
}

/// The counters of /proc/net/netstat and /proc/net/snmp; `procfs::read_netstat` refuses a
/// FIFO or a device there (a fixture tree) and bounds what it reads.
fn read_counters(root: &Root) -> Result<BTreeMap<String, u64>, String> {
    procfs::read_netstat(root).map_err(|error| error.to_string())
}

/// Lists the live TIME_WAIT sockets and tallies those holding an ephemeral port, per
/// destination. Only the live system has sockets: under any other `--root` the tally is
/// not made, and the advice that needs it is not given.
fn measure_outgoing(
    root: &Root,
    settings: Result<&PortSettings, &String>,
) -> Result<(TimeWaitTally, Source), String> {
    if !root.is_live() {
        return Err(format!(
            "--root {} is not the live system, so there are no sockets to list",
            root.display()
        ));
    }
    let settings = settings.map_err(Clone::clone)?;
    let query = Query {
        states: TcpState::TimeWait.mask(),
        ..Query::tcp()
    };
    let mut tally = TimeWaitTally::new(settings.range);
    let listing = diag::for_each(&query, |r| {
        tally.add(r.local, r.remote);
    })
    .map_err(|error| format!("the TIME_WAIT sockets could not be listed: {error}"))?;
    Ok((tally, listing.source))
}

impl OutgoingTimeWait {
    fn new(tally: &TimeWaitTally, source: Source) -> Self {
        Self {
            in_range: tally.in_range(),
            busiest: tally.busiest(|_| true),
            // tcp_tw_reuse = 2 counts a connection as loopback when either end is
            // (tcp_twsk_unique(), net/ipv4/tcp_ipv4.c).
            busiest_non_loopback: tally.busiest(|d| !d.is_loopback()),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(usable: u32) -> PortBudget {
        let range = format!("1024 {}", 1024 + usable - 1);
        Live {
            knobs: HashMap::from([(Key::IpLocalPortRange, Knob::Value(range.clone()))]),
            sockstat: None,
            ports: PortSettings::from_knobs(Some(&range), None, None, None),
            outgoing: Err(String::new()),
            pressure: None,
            counters: None,
            era: Era::default(),
        }
        .port_budget()
        .unwrap()
    }

    #[test]
    fn rates_stay_meaningful_for_small_ranges() {
        let text = |usable| rate_text(&budget(usable), " new connections");
        assert_eq!(text(28232), "470 new connections/s");
        assert_eq!(text(600), "10 new connections/s");
        assert_eq!(text(599), "9.9 new connections/s");
        assert_eq!(text(90), "1.5 new connections/s");
        assert_eq!(text(60), "1.0 new connections/s");
        assert_eq!(text(59), "59 new connections/min");
        assert_eq!(text(10), "10 new connections/min");
        assert_eq!(text(1), "1 new connections/min");
        let b = budget(10);
        assert!((b.new_connections_per_s - 0.16).abs() < 1e-9, "{b:?}");
        assert_eq!(b.new_connections_per_min, 10);
    }
}
