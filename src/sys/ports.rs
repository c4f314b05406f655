//! The ephemeral-port budget: the one place that judges it, for every command that does
//! (`sockets --summary`, `sysctl-advice`, and the EADDRNOTAVAIL diagnosis in
//! `sys::diagnose`), so the same host gets the same numbers and the same verdict everywhere.
//! Pure logic over the kernel's rules: callers read the knobs and list the sockets and hand
//! the text and the addresses here. It sits in `sys` because it models how this kernel spends
//! ports, and so that `sys::diagnose` needs nothing above `sys`.
//!
//! How connect() spends ports (net/ipv4/inet_hashtables.c, read at torvalds/linux
//! 00c1d298d486): `__inet_hash_connect()` walks the ports of `inet_sk_get_local_port_range()`
//! — `ip_local_port_range`, which a socket's IP_LOCAL_PORT_RANGE option may narrow but never
//! widen (net/ipv4/inet_connection_sock.c) — skips those `inet_is_local_reserved_port()`
//! names (`ip_local_reserved_ports`) and those a bind() holds, and takes a port other
//! connections already use when `__inet_check_established()` finds no socket with the same
//! (local address, local port, remote address, remote port). A TIME_WAIT socket with that
//! tuple gives it up only through `tcp_twsk_unique()` (net/ipv4/tcp_ipv4.c), that is
//! `tcp_tw_reuse`. So one port serves every destination at once, and a destination — (local
//! address, remote address, remote port) — runs out when its own TIME_WAIT sockets hold every
//! usable port. A dual-stack socket's connect() to `::ffff:a.b.c.d` runs `tcp_v4_connect()`
//! (`tcp_v6_connect()`, net/ipv6/tcp_ipv6.c): its TIME_WAIT spends the IPv4 destination's
//! ports, so mapped addresses are folded into IPv4 ones.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::Serialize;

use super::TCP_TIMEWAIT_LEN;
use crate::sys::sysctl::{Key, parse_port_ranges};

/// The share of a destination's usable ephemeral ports its TIME_WAIT sockets may hold
/// before sockdoc advises: 50 %. Each of them is a connection this host closed first within
/// the last TCP_TIMEWAIT_LEN (60 s); at half the ports, twice as many closes to that
/// destination within 60 s — a burst, retries after an outage — take every port, and the
/// next connect() to it fails with EADDRNOTAVAIL (`__inet_hash_connect()`). Below half there
/// is at least that much headroom. There is one level, not a second "warn" nearer 100 %: a
/// snapshot cannot tell a steady load from a passing burst, exhaustion announces itself as
/// EADDRNOTAVAIL, and the remedy is the same; the percent says how near it is.
pub const ADVISE_PERCENT: u64 = 50;

/// The first line of every verdict's source, for readers of the JSON.
const SOURCE: &str = "__inet_hash_connect(), __inet_check_established() in \
                      net/ipv4/inet_hashtables.c; tcp_twsk_unique() in net/ipv4/tcp_ipv4.c";

// ---------------------------------------------------------------------------------------
// The range and the reserved ports
// ---------------------------------------------------------------------------------------

/// `net.ipv4.ip_local_port_range`: the ports connect() (and bind() to port 0) pick from,
/// both ends included (`high++` in `__inet_hash_connect()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    /// How many ports: both ends count.
    pub fn ports(self) -> u32 {
        u32::from(self.high - self.low) + 1
    }

    pub fn contains(self, port: u16) -> bool {
        (self.low..=self.high).contains(&port)
    }
}

/// Why a text is not a port range, worded for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError(String);

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RangeError {}

impl FromStr for PortRange {
    type Err = RangeError;

    /// `32768 60999` (the kernel separates them with a tab) → 32768..=60999.
    fn from_str(text: &str) -> Result<Self, RangeError> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [low, high] = parts[..] else {
            return Err(RangeError(format!(
                "{text:?} is not two ports, low then high (e.g. \"32768 60999\")"
            )));
        };
        let port = |t: &str| {
            t.parse::<u16>()
                .map_err(|_| RangeError(format!("{t:?} in {text:?} is not a port (0–65535)")))
        };
        let (low, high) = (port(low)?, port(high)?);
        if low > high {
            return Err(RangeError(format!(
                "{text:?} runs backwards: the low port {low} is above the high port {high}"
            )));
        }
        Ok(Self { low, high })
    }
}

/// `net.ipv4.ip_local_reserved_ports` as a set: sorted, overlapping and adjacent ranges
/// merged. The kernel keeps a bitmap (`proc_do_large_bitmap()`) and prints it merged
/// (`40002-40003,40003-40004` reads back as `40002-40004`), but a config file or a fixture
/// may list a port twice; counted here, it counts once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReservedPorts {
    ranges: Vec<(u16, u16)>,
}

impl ReservedPorts {
    /// Merges `ranges` (each `low <= high`, in any order, overlapping or not).
    pub fn from_ranges(ranges: &[(u16, u16)]) -> Self {
        let mut sorted: Vec<(u16, u16)> = ranges.iter().copied().filter(|(a, b)| a <= b).collect();
        sorted.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(sorted.len());
        for (a, b) in sorted {
            match merged.last_mut() {
                Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Self { ranges: merged }
    }

    /// The kernel's text (`8080,9000-9010`; empty for none).
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_port_ranges(text).map(|ranges| Self::from_ranges(&ranges))
    }

    /// Every reserved port, inside the ephemeral range or not.
    pub fn count(&self) -> u32 {
        self.ranges.iter().map(|&(a, b)| u32::from(b - a) + 1).sum()
    }

    /// The reserved ports inside `range`: the ones connect() skips.
    pub fn count_in(&self, range: PortRange) -> u32 {
        self.ranges
            .iter()
            .filter(|&&(a, b)| b >= range.low && a <= range.high)
            .map(|&(a, b)| u32::from(b.min(range.high) - a.max(range.low)) + 1)
            .sum()
    }

    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|&(a, b)| (a..=b).contains(&port))
    }
}

/// The ports one destination can use: the range minus the reserved ports inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budget {
    pub low: u16,
    pub high: u16,
    /// Ports in the range, both ends included.
    pub ports: u32,
    /// Ports of `ip_local_reserved_ports` inside the range, each counted once.
    pub reserved_in_range: u32,
    /// ports − reserved_in_range.
    pub usable: u32,
}

impl Budget {
    pub fn new(range: PortRange, reserved: &ReservedPorts) -> Self {
        let ports = range.ports();
        let reserved_in_range = reserved.count_in(range);
        Self {
            low: range.low,
            high: range.high,
            ports,
            reserved_in_range,
            usable: ports - reserved_in_range,
        }
    }

    /// New connections per second one destination sustains when each leaves its port in
    /// TIME_WAIT for TCP_TIMEWAIT_LEN: usable ÷ 60 s, rounded down to hundredths.
    pub fn new_connections_per_s(&self) -> f64 {
        let timewait_s = TCP_TIMEWAIT_LEN.as_secs_f64();
        (f64::from(self.usable) * 100.0 / timewait_s).floor() / 100.0
    }

    /// The same per minute, exact: usable × 60 s ÷ TCP_TIMEWAIT_LEN.
    pub fn new_connections_per_min(&self) -> u32 {
        let per_min = u64::from(self.usable) * 60 / TCP_TIMEWAIT_LEN.as_secs();
        u32::try_from(per_min).unwrap_or(u32::MAX)
    }
}

// ---------------------------------------------------------------------------------------
// Which destinations tcp_tw_reuse already covers
// ---------------------------------------------------------------------------------------

/// The destinations whose TIME_WAIT counts against the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Judged {
    /// Every destination.
    All,
    /// Destinations with neither end on loopback: for loopback ones `tcp_tw_reuse` (1, or 2
    /// the default) lets connect() take a TIME_WAIT port, since both ends are this kernel and
    /// it uses TCP timestamps.
    OffLoopback,
}

impl Judged {
    /// From `tcp_tw_reuse` and `tcp_timestamps` as the kernel shows them. `tcp_twsk_unique()`
    /// reuses a TIME_WAIT port only when it recorded the peer's timestamp
    /// (`tw_ts_recent_stamp`), which needs `tcp_timestamps` on; with 2 only when either end is
    /// loopback. Off loopback the peer's timestamps cannot be seen from here, so with 1 those
    /// destinations are still judged.
    pub fn from_knobs(tw_reuse: Option<&str>, timestamps: Option<&str>) -> Self {
        let timestamps_on = timestamps.is_some_and(|t| t != "0");
        match tw_reuse {
            Some("1" | "2") if timestamps_on => Self::OffLoopback,
            _ => Self::All,
        }
    }

    fn keeps(self, d: &Destination) -> bool {
        match self {
            Self::All => true,
            Self::OffLoopback => !d.is_loopback(),
        }
    }
}

/// Everything the verdict depends on, parsed from the kernel's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSettings {
    pub range: PortRange,
    pub reserved: ReservedPorts,
    pub judged: Judged,
    /// `tcp_tw_reuse` as the kernel shows it, for the advice that follows the verdict.
    pub tw_reuse: Option<String>,
}

/// The four knobs the verdict reads, in the order [`PortSettings::from_knobs`] takes them.
pub const KEYS: [Key; 4] = [
    Key::IpLocalPortRange,
    Key::IpLocalReservedPorts,
    Key::TcpTwReuse,
    Key::TcpTimestamps,
];

/// [`KEYS`] by name, for [`sysctl::read_knob`](crate::sys::sysctl::read_knob).
pub const KNOBS: [&str; 4] = [
    KEYS[0].name(),
    KEYS[1].name(),
    KEYS[2].name(),
    KEYS[3].name(),
];

/// `tcp_tw_reuse_delay` (Linux 6.14+, commit ca6a6f93867a): how old a TIME_WAIT socket must
/// be before `tcp_tw_reuse` lets a new connect() take its port.
pub const REUSE_DELAY_KNOB: &str = Key::TcpTwReuseDelay.name();

/// When `tcp_tw_reuse` lets a TIME_WAIT port go to a new outgoing connection, on this kernel:
/// after `tcp_tw_reuse_delay` where the knob exists, else by whole seconds since the last
/// timestamp received (`tcp_twsk_unique()`, net/ipv4/tcp_ipv4.c: `time_after32(
/// ktime_get_seconds(), tw_ts_recent_stamp)`, and `get_seconds() - tw_ts_recent_stamp > 1` in
/// 4.18 and before). `before_4_19` is true when the kernel is known to be that old.
pub fn reuse_after_text(tw_reuse_delay_ms: Option<u64>, before_4_19: bool) -> String {
    match (tw_reuse_delay_ms, before_4_19) {
        (Some(ms), _) => format!("once it is {ms} ms old (tcp_tw_reuse_delay)"),
        (None, true) => "once the seconds clock is two seconds past the last timestamp it \
                         received (1 to 2 s; tcp_twsk_unique(), this kernel has no \
                         tcp_tw_reuse_delay)"
            .into(),
        (None, false) => "once the seconds clock has moved past the second of the last \
                          timestamp it received (within 1 s; 1 to 2 s on kernels up to 4.18: \
                          tcp_twsk_unique(), as this kernel has no tcp_tw_reuse_delay)"
            .into(),
    }
}

impl PortSettings {
    /// `None` for a knob that is absent or unreadable: without a range there is no budget;
    /// without reserved ports (the knob is older than any kernel sockdoc supports, so only a
    /// fixture lacks it) none are reserved. A reserved list that does not parse is an error,
    /// not an empty list: the budget would be overstated.
    pub fn from_knobs(
        range: Option<&str>,
        reserved: Option<&str>,
        tw_reuse: Option<&str>,
        timestamps: Option<&str>,
    ) -> Result<Self, String> {
        let text = range.ok_or("net.ipv4.ip_local_port_range could not be read")?;
        let range = text
            .parse::<PortRange>()
            .map_err(|e| format!("net.ipv4.ip_local_port_range: {e}"))?;
        let reserved = ReservedPorts::parse(reserved.unwrap_or(""))
            .map_err(|e| format!("net.ipv4.ip_local_reserved_ports: {e}"))?;
        Ok(Self {
            range,
            reserved,
            judged: Judged::from_knobs(tw_reuse, timestamps),
            tw_reuse: tw_reuse.map(str::to_string),
        })
    }

    pub fn budget(&self) -> Budget {
        Budget::new(self.range, &self.reserved)
    }
}

// ---------------------------------------------------------------------------------------
// TIME_WAIT per destination
// ---------------------------------------------------------------------------------------

/// TIME_WAIT sockets to one destination that hold an ephemeral port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// The local address, IPv4-mapped ones as IPv4.
    pub source_ip: IpAddr,
    pub destination: SocketAddr,
    pub time_wait: u64,
}

impl Destination {
    /// `tcp_twsk_unique()` calls a connection loopback when either end is (127/8, ::1, or
    /// their IPv4-mapped forms); a socket bound to `lo` counts too, which sock_diag's address
    /// pair does not show.
    pub fn is_loopback(&self) -> bool {
        self.source_ip.is_loopback() || self.destination.ip().is_loopback()
    }

    /// Most TIME_WAIT first; ties by address, lowest first, so reports are stable.
    fn rank(&self, other: &Self) -> Ordering {
        other
            .time_wait
            .cmp(&self.time_wait)
            .then_with(|| self.source_ip.cmp(&other.source_ip))
            .then_with(|| self.destination.cmp(&other.destination))
    }
}

/// Counts TIME_WAIT sockets per (local IP, remote IP, remote port), keeping only those whose
/// local port lies in the ephemeral range.
///
/// That filter is what "this host closed a connection it opened" looks like from outside.
/// connect() takes its port from the range (`inet_sk_get_local_port_range()`), so the
/// client side's TIME_WAIT is always in it. The server side's TIME_WAIT keeps the listening
/// port, which the kernel never hands to connect() (its bind bucket has `fastreuse >= 0`, so
/// `__inet_hash_connect()` skips it): it spends no ephemeral port, and a service on a port
/// outside the range is left out. A service listening inside the range (bound to port 0) is
/// counted, but its TIME_WAIT sockets spread one per client port — one per "destination" —
/// so they never make the busiest.
///
/// What the tally cannot see: the TIME_WAIT of a socket that called bind() before connect()
/// (port 0, without IP_BIND_ADDRESS_NO_PORT) keeps a bind bucket with `fastreuse >= 0`, so
/// connect() skips that port for every destination, not just its own (measured: with a
/// two-port range, one such TIME_WAIT leaves one port for a plain connect() elsewhere).
/// sock_diag does not say how a socket got its port.
#[derive(Debug, Clone)]
pub struct TimeWaitTally {
    range: PortRange,
    in_range: u64,
    per_destination: HashMap<(IpAddr, SocketAddr), u64>,
}

impl TimeWaitTally {
    pub fn new(range: PortRange) -> Self {
        Self {
            range,
            in_range: 0,
            per_destination: HashMap::new(),
        }
    }

    /// Counts one TIME_WAIT socket, if it holds an ephemeral port; says whether it did.
    pub fn add(&mut self, local: SocketAddr, remote: SocketAddr) -> bool {
        if !self.range.contains(local.port()) {
            return false;
        }
        self.in_range += 1;
        let remote = SocketAddr::new(remote.ip().to_canonical(), remote.port());
        *self
            .per_destination
            .entry((local.ip().to_canonical(), remote))
            .or_default() += 1;
        true
    }

    /// TIME_WAIT sockets holding an ephemeral port, whatever the destination.
    pub fn in_range(&self) -> u64 {
        self.in_range
    }

    fn destinations(&self) -> impl Iterator<Item = Destination> + '_ {
        self.per_destination
            .iter()
            .map(|(&(source_ip, destination), &time_wait)| Destination {
                source_ip,
                destination,
                time_wait,
            })
    }

    /// The destination holding the most, among those `keep` accepts.
    pub fn busiest(&self, keep: impl Fn(&Destination) -> bool) -> Option<Destination> {
        self.destinations()
            .filter(|d| keep(d))
            .min_by(Destination::rank)
    }

    /// The `limit` busiest destinations, most first.
    pub fn top(&self, limit: usize) -> Vec<Destination> {
        let mut all: Vec<Destination> = self.destinations().collect();
        // Only the first `limit` are kept: partition around the limit, then sort those
        // (tens of thousands of destinations are not sorted to keep ten).
        if limit > 0 && all.len() > limit {
            all.select_nth_unstable_by(limit - 1, Destination::rank);
            all.truncate(limit);
        }
        all.sort_by(Destination::rank);
        all.truncate(limit);
        all
    }
}

// ---------------------------------------------------------------------------------------
// The verdict
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Advise,
}

/// The port-budget verdict, the same object in `sockets --summary` (`summary.port_pressure`)
/// and `sysctl-advice` (`evidence.port_pressure`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortPressure {
    #[serde(flatten)]
    pub budget: Budget,
    /// TIME_WAIT sockets holding an ephemeral port, every destination.
    pub time_wait_in_range: u64,
    /// `all`, or `off-loopback` when tcp_tw_reuse already frees loopback ports.
    pub judged: Judged,
    /// The judged destination holding the most; null when none holds any.
    pub busiest: Option<Destination>,
    /// busiest.time_wait ÷ usable, in percent to one decimal; null when nothing is usable.
    pub used_percent: Option<f64>,
    pub advise_at_percent: u64,
    pub level: Level,
    /// The verdict in a sentence, the same wording in every command.
    pub reason: String,
    pub source: &'static str,
}

/// `part` of `whole` in percent, to one decimal; `None` when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// `65.5` → "65.5", `50.0` → "50": a percent as a person writes it.
fn percent_text(p: f64) -> String {
    let text = format!("{p:.1}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_string)
}

/// Judges the busiest destination against the budget.
pub fn judge(settings: &PortSettings, tally: &TimeWaitTally) -> PortPressure {
    let budget = settings.budget();
    let judged = settings.judged;
    let busiest = tally.busiest(|d| judged.keeps(d));
    let used = busiest.as_ref().map_or(0, |d| d.time_wait);
    let used_percent = percent(used, u64::from(budget.usable));
    let pressing =
        busiest.is_some() && used.saturating_mul(100) >= ADVISE_PERCENT * u64::from(budget.usable);
    let level = if budget.usable == 0 || pressing {
        Level::Advise
    } else {
        Level::Ok
    };
    let mut reason = match &busiest {
        _ if budget.usable == 0 => format!(
            "Every port of ip_local_port_range ({}–{}) is reserved in ip_local_reserved_ports: \
             connect() without a bound port fails with EADDRNOTAVAIL.",
            budget.low, budget.high
        ),
        Some(d) if pressing => {
            let held = format!(
                "TIME_WAIT sockets of connections this host closed to {} from {} hold {} of the \
                 {} usable ephemeral ports ({}%)",
                d.destination,
                d.source_ip,
                d.time_wait,
                budget.usable,
                percent_text(used_percent.unwrap_or(0.0)),
            );
            let timewait = TCP_TIMEWAIT_LEN.as_secs();
            if d.time_wait >= u64::from(budget.usable) {
                format!(
                    "{held}: every one is taken, so connect() to that destination fails with \
                     EADDRNOTAVAIL until one of them ends, {timewait} s (TCP_TIMEWAIT_LEN) after \
                     its close, unless tcp_tw_reuse lets it take one sooner."
                )
            } else {
                format!(
                    "{held}, at or above the {ADVISE_PERCENT}% at which sockdoc advises: each \
                     keeps its port for {timewait} s (TCP_TIMEWAIT_LEN) after the close, so twice \
                     as many closes to that destination within that time would take every \
                     port, and connect() to it would fail with EADDRNOTAVAIL."
                )
            }
        }
        Some(d) => format!(
            "The busiest destination, {} from {}, holds {} of the {} usable ephemeral ports in \
             TIME_WAIT ({}%), below the {ADVISE_PERCENT}% at which sockdoc advises.",
            d.destination,
            d.source_ip,
            d.time_wait,
            budget.usable,
            percent_text(used_percent.unwrap_or(0.0))
        ),
        None if judged == Judged::OffLoopback && tally.in_range() > 0 => {
            "No TIME_WAIT socket off loopback holds an ephemeral port.".to_string()
        }
        None => "No TIME_WAIT socket holds an ephemeral port.".to_string(),
    };
    if judged == Judged::OffLoopback && budget.usable > 0 {
        reason.push_str(
            " Loopback destinations are left out: with tcp_tw_reuse on and TCP timestamps, \
             connect() may take their TIME_WAIT ports.",
        );
    }
    PortPressure {
        budget,
        time_wait_in_range: tally.in_range(),
        judged,
        busiest,
        used_percent,
        advise_at_percent: ADVISE_PERCENT,
        level,
        reason,
        source: SOURCE,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_top_destinations_are_those_a_full_sort_ranks_first() {
        let mut tally = TimeWaitTally::new("1024 65535".parse().unwrap());
        // 300 destinations with counts that repeat, so ties are broken by address.
        for i in 0..3000_u16 {
            let destination = i % 300;
            let ip = [10, 0, u8::try_from(destination / 200).unwrap(), 1];
            let remote = SocketAddr::from((ip, 80 + destination % 200));
            let local = SocketAddr::from(([127, 0, 0, 1], 20_000 + i));
            for _ in 0..=(destination % 7) {
                tally.add(local, remote);
            }
        }
        let mut everything: Vec<Destination> = tally.destinations().collect();
        everything.sort_by(Destination::rank);
        for limit in [0, 1, 10, 299, 300, 301] {
            let expected: Vec<Destination> = everything.iter().take(limit).cloned().collect();
            assert_eq!(tally.top(limit), expected, "top {limit}");
        }
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn range(low: u16, high: u16) -> PortRange {
        PortRange { low, high }
    }

    #[test]
    fn ranges_parse_with_a_reason_when_they_do_not() {
        assert_eq!("32768\t60999".parse(), Ok(range(32768, 60999)));
        assert_eq!(" 40000 40000 ".parse(), Ok(range(40000, 40000)));
        let error = |text: &str| text.parse::<PortRange>().unwrap_err().to_string();
        assert_eq!(
            error("60999 32768"),
            "\"60999 32768\" runs backwards: the low port 60999 is above the high port 32768"
        );
        assert!(error("40000").contains("is not two ports, low then high"));
        assert!(error("1 2 3").contains("is not two ports"));
        assert_eq!(
            error("1 70000"),
            "\"70000\" in \"1 70000\" is not a port (0–65535)"
        );
        assert!(error("a b").contains("\"a\""));
    }

    #[test]
    fn reserved_ports_are_counted_once_and_clipped() {
        let r = |ranges: &[(u16, u16)]| ReservedPorts::from_ranges(ranges);
        let eph = range(32768, 60999);
        assert_eq!(r(&[]).count_in(eph), 0);
        assert_eq!(r(&[(8080, 8080)]).count_in(eph), 0);
        assert_eq!(r(&[(40000, 40009)]).count_in(eph), 10);
        assert_eq!(r(&[(40000, 40009), (40005, 40019)]).count_in(eph), 20);
        assert_eq!(r(&[(30000, 32777)]).count_in(eph), 10);
        assert_eq!(r(&[(40000, 40009), (40002, 40003)]).count(), 10);
        assert_eq!(r(&[(0, u16::MAX)]).count(), 65536);
        // Adjacent ranges merge, as the kernel prints them.
        assert_eq!(r(&[(5, 6), (1, 4)]), r(&[(1, 6)]));
        assert_eq!(
            ReservedPorts::parse("40002-40003,40003-40004,50000").unwrap(),
            r(&[(40002, 40004), (50000, 50000)])
        );
        assert!(ReservedPorts::parse("9010-9000").is_err());
    }

    #[test]
    fn the_budget_is_the_range_minus_the_reserved_ports_inside_it() {
        let settings = PortSettings::from_knobs(
            Some("40000 40009"),
            Some("40002-40003,40003-40004,50000"),
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            settings.budget(),
            Budget {
                low: 40000,
                high: 40009,
                ports: 10,
                reserved_in_range: 3,
                usable: 7
            }
        );
        assert!(PortSettings::from_knobs(None, None, None, None).is_err());
        let bad = PortSettings::from_knobs(Some("5 1"), None, None, None).unwrap_err();
        assert!(bad.starts_with("net.ipv4.ip_local_port_range: "), "{bad}");
        assert!(PortSettings::from_knobs(Some("1 2"), Some("x"), None, None).is_err());
    }

    #[test]
    fn tcp_tw_reuse_covers_loopback_only_with_timestamps() {
        use Judged::{All, OffLoopback};
        assert_eq!(Judged::from_knobs(Some("2"), Some("1")), OffLoopback);
        assert_eq!(Judged::from_knobs(Some("1"), Some("2")), OffLoopback);
        assert_eq!(Judged::from_knobs(Some("2"), Some("0")), All);
        assert_eq!(Judged::from_knobs(Some("0"), Some("1")), All);
        assert_eq!(Judged::from_knobs(None, Some("1")), All);
    }

    #[test]
    fn time_wait_is_tallied_per_destination_on_ephemeral_ports_only() {
        let mut tally = TimeWaitTally::new(range(32768, 60999));
        // Outgoing: 3 to one web server, 2 to another port of it, 1 on loopback.
        for port in [40000, 40001, 40002] {
            assert!(tally.add(addr(&format!("10.0.0.1:{port}")), addr("10.0.0.2:443")));
        }
        for port in [40003, 40004] {
            tally.add(addr(&format!("10.0.0.1:{port}")), addr("10.0.0.2:80"));
        }
        tally.add(addr("127.0.0.1:40005"), addr("127.0.0.1:8080"));
        // The same destination seen through a dual-stack socket.
        tally.add(
            addr("[::ffff:10.0.0.1]:40006"),
            addr("[::ffff:10.0.0.2]:443"),
        );
        // Inbound to a service on port 443: the local port is not ephemeral.
        for port in [50000, 50001, 50002, 50003, 50004] {
            assert!(!tally.add(addr("10.0.0.1:443"), addr(&format!("10.0.0.9:{port}"))));
        }
        // Inbound to a service bound to port 0 (inside the range): one per client port.
        for port in [51000, 51001] {
            tally.add(addr("10.0.0.1:45000"), addr(&format!("10.0.0.9:{port}")));
        }
        assert_eq!(tally.in_range(), 9);
        let busiest = tally.busiest(|_| true).unwrap();
        assert_eq!(
            busiest,
            Destination {
                source_ip: "10.0.0.1".parse().unwrap(),
                destination: addr("10.0.0.2:443"),
                time_wait: 4
            }
        );
        let top = tally.top(2);
        assert_eq!(top[0], busiest);
        assert_eq!(
            (top[1].destination, top[1].time_wait),
            (addr("10.0.0.2:80"), 2)
        );

        // Either end on loopback counts as loopback.
        let mut tally = TimeWaitTally::new(range(32768, 60999));
        tally.add(addr("127.0.0.1:40000"), addr("127.0.0.1:8080"));
        tally.add(addr("10.0.0.1:40001"), addr("127.0.0.1:8080"));
        tally.add(addr("[::1]:40002"), addr("[::1]:8080"));
        tally.add(
            addr("[::ffff:127.0.0.1]:40003"),
            addr("[::ffff:127.0.0.1]:8080"),
        );
        assert_eq!(tally.in_range(), 4);
        assert!(tally.busiest(|d| !d.is_loopback()).is_none());

        // Ties go to the lowest address, whatever the hash order.
        let mut tally = TimeWaitTally::new(range(32768, 60999));
        tally.add(addr("10.0.0.1:40000"), addr("10.0.0.3:80"));
        tally.add(addr("10.0.0.1:40001"), addr("10.0.0.2:80"));
        assert_eq!(
            tally.busiest(|_| true).unwrap().destination,
            addr("10.0.0.2:80")
        );
    }

    fn settings(reserved: &str, reuse: &str) -> PortSettings {
        PortSettings::from_knobs(Some("40000 40009"), Some(reserved), Some(reuse), Some("1"))
            .unwrap()
    }

    fn closed(tally: &mut TimeWaitTally, n: u16, to: &str) {
        let to = addr(to);
        for i in 0..n {
            let local = SocketAddr::new(to.ip(), 40000 + i);
            tally.add(local, to);
        }
    }

    #[test]
    fn half_the_usable_ports_is_where_sockdoc_advises() {
        let mut tally = TimeWaitTally::new(range(40000, 40009));
        closed(&mut tally, 4, "10.0.0.2:443");
        let p = judge(&settings("", "2"), &tally);
        assert_eq!((p.level, p.used_percent), (Level::Ok, Some(40.0)));
        assert!(p.reason.contains("below the 50%"), "{}", p.reason);

        tally.add(addr("10.0.0.2:40008"), addr("10.0.0.2:443"));
        let p = judge(&settings("", "2"), &tally);
        assert_eq!((p.level, p.used_percent), (Level::Advise, Some(50.0)));
        assert!(
            p.reason.contains(
                "closed to 10.0.0.2:443 from 10.0.0.2 hold 5 of the 10 usable ephemeral ports \
                 (50%), at or above the 50%"
            ),
            "{}",
            p.reason
        );

        // Reserving ports shrinks the budget the same count is judged against.
        let mut tally = TimeWaitTally::new(range(40000, 40009));
        closed(&mut tally, 4, "10.0.0.2:443");
        let p = judge(&settings("40002-40005,40004-40007", "2"), &tally);
        assert_eq!(p.budget.usable, 4);
        assert_eq!((p.level, p.used_percent), (Level::Advise, Some(100.0)));
    }

    #[test]
    fn loopback_is_left_out_while_tcp_tw_reuse_covers_it() {
        let mut tally = TimeWaitTally::new(range(40000, 40009));
        closed(&mut tally, 9, "127.0.0.1:8080");
        let p = judge(&settings("", "2"), &tally);
        assert_eq!(
            (p.judged, p.level, &p.busiest),
            (Judged::OffLoopback, Level::Ok, &None)
        );
        assert_eq!(p.time_wait_in_range, 9);
        assert!(
            p.reason.starts_with("No TIME_WAIT socket off loopback"),
            "{}",
            p.reason
        );
        let p = judge(&settings("", "0"), &tally);
        assert_eq!((p.judged, p.level), (Judged::All, Level::Advise));
        assert_eq!(p.busiest.unwrap().time_wait, 9);
    }

    #[test]
    fn a_fully_reserved_range_is_advised_on_without_dividing_by_zero() {
        let p = judge(
            &settings("40000-40009", "0"),
            &TimeWaitTally::new(range(40000, 40009)),
        );
        assert_eq!(
            (p.budget.usable, p.level, p.used_percent),
            (0, Level::Advise, None)
        );
        assert!(p.reason.contains("EADDRNOTAVAIL"), "{}", p.reason);
    }

    fn naive_count(ranges: &[(u16, u16)], within: PortRange) -> u32 {
        (u32::from(within.low)..=u32::from(within.high))
            .filter(|&p| {
                ranges
                    .iter()
                    .any(|&(a, b)| (u32::from(a)..=u32::from(b)).contains(&p))
            })
            .count() as u32
    }

    fn ranges_strategy() -> impl Strategy<Value = Vec<(u16, u16)>> {
        // A narrow port space so that overlaps and adjacency are common.
        proptest::collection::vec((0u16..400, 0u16..60), 0..12)
            .prop_map(|v| v.into_iter().map(|(a, len)| (a, a + len)).collect())
    }

    proptest! {
        #[test]
        fn the_union_counts_each_port_once(
            ranges in ranges_strategy(),
            low in 0u16..460,
            len in 0u16..100,
        ) {
            let within = range(low, low + len);
            let reserved = ReservedPorts::from_ranges(&ranges);
            prop_assert_eq!(reserved.count_in(within), naive_count(&ranges, within));
            prop_assert_eq!(reserved.count(), naive_count(&ranges, range(0, u16::MAX)));
            // Merged: sorted, disjoint and not adjacent.
            for pair in reserved.ranges.windows(2) {
                prop_assert!(u32::from(pair[0].1) + 1 < u32::from(pair[1].0));
            }
            for port in 0u16..500 {
                let listed = ranges.iter().any(|&(a, b)| (a..=b).contains(&port));
                prop_assert_eq!(reserved.contains(port), listed);
            }
        }

        #[test]
        fn the_kernel_text_round_trips_through_the_union(ranges in ranges_strategy()) {
            let text: Vec<String> = ranges.iter().map(|(a, b)| format!("{a}-{b}")).collect();
            let parsed = ReservedPorts::parse(&text.join(",")).unwrap();
            prop_assert_eq!(parsed, ReservedPorts::from_ranges(&ranges));
        }
    }
}
