//! `sockdoc ports`: client-side ephemeral-port exhaustion, measured in a throwaway network
//! namespace (`sys::sandbox`) whose ip_local_port_range holds only `--ports` ports. connect()
//! to one destination runs out after that many connections (EADDRNOTAVAIL), a second
//! destination gets as many again; bind(ip, 0) before connect() runs out after that many in
//! all (EADDRINUSE from bind()), because each bind pins its port for every destination; and
//! the fixes — IP_BIND_ADDRESS_NO_PORT, IP_LOCAL_PORT_RANGE (Linux 6.3+), and what
//! SO_REUSEADDR on the client does and does not do (alone, and with ip_autobind_reuse = 1 in a
//! second namespace) — measured the same way. The host's
//! /proc/sys is never written.

mod lab;

use std::ops::RangeInclusive;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Context;
use super::args::PortsArgs;
use super::scenario::{Check, Details, Measured, MeasuredRow as Row, Scenario, ScenarioReport};
use crate::exit::Exit;
use crate::sys::sandbox::{self, Isolation};
use lab::{Case, Plan, Servers};

/// The first port of the range the lab sets; the range is FIRST_PORT ..= FIRST_PORT + N - 1.
const FIRST_PORT: u16 = 40_000;

/// What the parent sends the lab child.
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    parent_netns: u64,
    knobs: Vec<(String, String)>,
    ports: u32,
    timeout_ms: u64,
    /// The second run: net.ipv4.ip_autobind_reuse = 1, only the SO_REUSEADDR case.
    autobind_reuse: bool,
}

/// What the second lab child prints.
#[derive(Debug, Serialize, Deserialize)]
struct AutobindOutcome {
    reuseaddr_autobind_reuse: Case,
}

/// What the lab child prints.
#[derive(Debug, Serialize, Deserialize)]
struct Outcome {
    isolation: Isolation,
    /// ip_local_port_range read back inside the namespace.
    range: String,
    figures: Figures,
}

#[derive(Debug, Serialize, Deserialize)]
struct Figures {
    one_destination: Case,
    second_destination: Case,
    bind_before_connect: Case,
    bind_address_no_port: Case,
    reuseaddr_bind: Case,
    /// Null when the kernel refused IP_LOCAL_PORT_RANGE (`local_port_range_refused`).
    local_port_range: Option<Case>,
    local_port_range_refused: Option<String>,
}

/// The lab child's part: enter the namespace, set the range, run every case.
pub fn child(request: serde_json::Value) -> Result<serde_json::Value, String> {
    let request: Request =
        serde_json::from_value(request).map_err(|e| format!("a malformed lab request: {e}"))?;
    let isolation =
        sandbox::enter(&request.knobs, request.parent_netns).map_err(|e| e.to_string())?;
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .map_err(|e| format!("reading ip_local_port_range back: {e}"))?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // Up to 2 × ports connections are held at once, two descriptors each.
    let needed = u64::from(request.ports) * 4 + 64;
    let limit = crate::sys::client_ports::raise_open_files()
        .map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    if limit < needed {
        return Err(format!(
            "--ports {} holds up to {needed} descriptors at once, but the open-files limit \
             (RLIMIT_NOFILE, hard) is {limit}: use fewer ports or raise `ulimit -Hn`",
            request.ports
        ));
    }
    let timeout = Duration::from_millis(request.timeout_ms);
    let n = request.ports;
    let servers = Servers::start()?;
    let one = [0];
    let both = [0, 1];
    let bind = Plan {
        bind: true,
        ..Plan::default()
    };
    if request.autobind_reuse {
        let reuseaddr = Plan {
            reuseaddr: true,
            ..bind
        };
        let reuseaddr_autobind_reuse = lab::exhaust(&servers, &both, reuseaddr, 2 * n, timeout)?;
        return serde_json::to_value(AutobindOutcome {
            reuseaddr_autobind_reuse,
        })
        .map_err(|e| e.to_string());
    }
    let (sub_low, sub_high) = sub_range(n);
    let refused = lab::local_port_range_refusal(sub_low, sub_high)?;
    // The first destination's connections stay open while the second is tried.
    let (one_destination, first) = lab::fill(&servers, &one, Plan::default(), n, timeout)?;
    let (second_destination, second) = lab::fill(&servers, &[1], Plan::default(), n, timeout)?;
    first.release()?;
    second.release()?;
    let figures = Figures {
        one_destination,
        second_destination,
        bind_before_connect: lab::exhaust(&servers, &both, bind, n, timeout)?,
        bind_address_no_port: lab::exhaust(
            &servers,
            &both,
            Plan {
                no_port: true,
                ..bind
            },
            2 * n,
            timeout,
        )?,
        reuseaddr_bind: lab::exhaust(
            &servers,
            &both,
            Plan {
                reuseaddr: true,
                ..bind
            },
            n,
            timeout,
        )?,
        local_port_range: match refused {
            Some(_) => None,
            None => Some(lab::exhaust(
                &servers,
                &one,
                Plan {
                    local_range: Some((sub_low, sub_high)),
                    ..Plan::default()
                },
                n,
                timeout,
            )?),
        },
        local_port_range_refused: refused,
    };
    serde_json::to_value(Outcome {
        isolation,
        range,
        figures,
    })
    .map_err(|e| e.to_string())
}

/// The sub-range IP_LOCAL_PORT_RANGE restricts a socket to: the lower half of the range (at
/// least one port).
fn sub_range(n: u32) -> (u16, u16) {
    let half = u16::try_from((n / 2).max(1)).unwrap_or(u16::MAX - FIRST_PORT);
    (FIRST_PORT, FIRST_PORT + (half - 1))
}

/// What `ports` measured: the report's JSON keys, one Measured row each.
#[derive(Debug, Serialize)]
struct PortsDetails {
    isolation: Isolation,
    /// net.ipv4.ip_local_port_range inside the namespace, as read back there.
    ip_local_port_range: String,
    range_ports: u32,
    destinations: Vec<String>,
    one_destination: Case,
    second_destination: Case,
    bind_before_connect: Case,
    bind_address_no_port: Case,
    reuseaddr_bind: Case,
    /// The same in a second namespace with net.ipv4.ip_autobind_reuse = 1.
    reuseaddr_autobind_reuse: Case,
    /// The sub-range IP_LOCAL_PORT_RANGE asked for, and what it gave (null: the kernel
    /// refused the option, `local_port_range_refused` says with what).
    local_port_range_subrange: String,
    local_port_range: Option<Case>,
    local_port_range_refused: Option<String>,
}

impl Details for PortsDetails {
    fn measured(&self) -> Vec<Row> {
        let Self {
            isolation,
            ip_local_port_range,
            range_ports,
            destinations,
            one_destination,
            second_destination,
            bind_before_connect,
            bind_address_no_port,
            reuseaddr_bind,
            reuseaddr_autobind_reuse,
            local_port_range_subrange,
            local_port_range,
            local_port_range_refused,
        } = self;
        vec![
            Row::new(
                "isolation",
                "throwaway namespace",
                Measured::text(isolation_name(*isolation)),
            ),
            Row::new(
                "ip_local_port_range",
                "ip_local_port_range in it",
                Measured::text(ip_local_port_range),
            ),
            Row::new(
                "range_ports",
                "ephemeral ports",
                Measured::Count(u64::from(*range_ports)),
            ),
            Row::new(
                "destinations",
                "destinations",
                Measured::texts(destinations),
            ),
            Row::new(
                "one_destination",
                "connect() to one destination",
                Measured::text(one_destination),
            ),
            Row::new(
                "second_destination",
                "then to a second one",
                Measured::text(second_destination),
            ),
            Row::new(
                "bind_before_connect",
                "bind(ip, 0), connect() to both",
                Measured::text(bind_before_connect),
            ),
            Row::new(
                "bind_address_no_port",
                "with IP_BIND_ADDRESS_NO_PORT",
                Measured::text(bind_address_no_port),
            ),
            Row::new(
                "reuseaddr_bind",
                "with SO_REUSEADDR",
                Measured::text(reuseaddr_bind),
            ),
            Row::new(
                "reuseaddr_autobind_reuse",
                "and ip_autobind_reuse = 1",
                Measured::text(reuseaddr_autobind_reuse),
            ),
            Row::new(
                "local_port_range_subrange",
                "IP_LOCAL_PORT_RANGE asked",
                Measured::text(local_port_range_subrange),
            ),
            Row::new(
                "local_port_range",
                "connect() with it",
                match (local_port_range, local_port_range_refused) {
                    (Some(case), _) => Measured::text(case),
                    (None, Some(errno)) => Measured::text(format!("not on this kernel ({errno})")),
                    (None, None) => Measured::Unavailable,
                },
            )
            .with_twin("local_port_range_refused"),
        ]
    }
}

fn isolation_name(isolation: Isolation) -> &'static str {
    match isolation {
        Isolation::NetworkNamespace => "network namespace",
        Isolation::UserNamespace => "user namespace (unprivileged)",
    }
}

/// What a scan of `n` ports yields: all of them when `n` is even; when it is odd, the scans
/// in `__inet_hash_connect()` and `inet_csk_find_open_port()` round the count they walk down
/// to an even number (`remaining &= ~1U`), so one port may be missed.
fn full(n: u32) -> RangeInclusive<u32> {
    if n.is_multiple_of(2) {
        n..=n
    } else {
        n - 1..=n
    }
}

fn count_text(range: &RangeInclusive<u32>) -> String {
    if range.start() == range.end() {
        range.start().to_string()
    } else {
        format!("{} or {}", range.start(), range.end())
    }
}

/// A case ended as documented: a count in `expected`, then `call` failed with `errno`.
fn ended(case: &Case, expected: &RangeInclusive<u32>, call: lab::Call, errno: &str) -> bool {
    expected.contains(&case.connections)
        && case.failed_call == Some(call)
        && case.errno.as_deref() == Some(errno)
}

pub fn run(args: &PortsArgs, ctx: &Context) -> anyhow::Result<(ScenarioReport, Exit)> {
    let n = args.ports;
    let range = format!("{FIRST_PORT} {}", u32::from(FIRST_PORT) + n - 1);
    let request = Request {
        parent_netns: sandbox::netns_inode()?,
        knobs: vec![
            ("net.ipv4.ip_local_port_range".to_owned(), range.clone()),
            ("net.ipv4.tcp_tw_reuse".to_owned(), "0".to_owned()),
        ],
        ports: n,
        timeout_ms: crate::units::millis(ctx.timeout),
        autobind_reuse: false,
    };
    let mut s = Scenario::start("ports", lab::DESTINATIONS[0].ip());
    // Every case holds up to 2 × ports connections, each made within --timeout; loopback
    // makes them in microseconds, the budget only bounds a stuck child.
    let budget = ctx.timeout * 2 + Duration::from_secs(10);
    let outcome: Outcome = lab_run(&request, budget)?;
    // SO_REUSEADDR once more, in a namespace of its own where bind() may relax its conflict
    // test (inet_csk_find_open_port()).
    let mut knobs = request.knobs.clone();
    knobs.push(("net.ipv4.ip_autobind_reuse".to_owned(), "1".to_owned()));
    let autobind: AutobindOutcome = lab_run(
        &Request {
            knobs,
            autobind_reuse: true,
            ..request
        },
        budget,
    )?;
    let f = outcome.figures;
    let (sub_low, sub_high) = sub_range(n);
    check_cases(&mut s, &f, n, &outcome.range, &range);
    check_autobind_reuse(&mut s, &autobind.reuseaddr_autobind_reuse, n);
    if n % 2 == 1 {
        s.note(format!(
            "{n} is odd: the walks in __inet_hash_connect() and inet_csk_find_open_port() count \
             an even number of ports (remaining &= ~1U), so one port of the range may go unused \
             by a scan; the checks allow {} or {n}.",
            n - 1
        ));
    }
    s.note(format!(
        "Every connection was held open (ESTABLISHED) until its case ended, then aborted with \
         SO_LINGER 0 so no TIME_WAIT carried into the next case. Ports held in TIME_WAIT, and \
         tcp_tw_reuse (0 here), are `sockdoc prove tcp_tw_reuse`'s lesson. The namespace \
         ({}) died with the experiment; the host's /proc/sys was not written.",
        isolation_name(outcome.isolation)
    ));
    let verdict = format!(
        "With {n} ephemeral ports, connect() made {} connections to one destination before \
         EADDRNOTAVAIL and {} more to a second one: the limit is per destination. \
         bind(ip, 0) before connect() made {} in all across two destinations before bind() \
         failed with {}: every bind takes a port away from every destination. \
         IP_BIND_ADDRESS_NO_PORT brought back a range per destination ({} connections); \
         SO_REUSEADDR did not ({} in all), and with net.ipv4.ip_autobind_reuse = 1 as well \
         bind() stopped failing, but connect() then failed ({}) after {} connections.",
        f.one_destination.connections,
        f.second_destination.connections,
        f.bind_before_connect.connections,
        f.bind_before_connect.errno.as_deref().unwrap_or("no error"),
        joined(&f.bind_address_no_port.per_destination),
        f.reuseaddr_bind.connections,
        autobind
            .reuseaddr_autobind_reuse
            .errno
            .as_deref()
            .unwrap_or("no error"),
        autobind.reuseaddr_autobind_reuse.connections,
    );
    let details = PortsDetails {
        isolation: outcome.isolation,
        ip_local_port_range: outcome.range,
        range_ports: n,
        destinations: lab::DESTINATIONS.iter().map(ToString::to_string).collect(),
        one_destination: f.one_destination,
        second_destination: f.second_destination,
        bind_before_connect: f.bind_before_connect,
        bind_address_no_port: f.bind_address_no_port,
        reuseaddr_bind: f.reuseaddr_bind,
        reuseaddr_autobind_reuse: autobind.reuseaddr_autobind_reuse,
        local_port_range_subrange: format!("{sub_low} {sub_high}"),
        local_port_range: f.local_port_range,
        local_port_range_refused: f.local_port_range_refused,
    };
    Ok(s.finish(&details, MECHANISM, verdict, FIX))
}

/// Each case against what the kernel source says it does.
fn check_cases(s: &mut Scenario, f: &Figures, n: u32, measured_range: &str, range: &str) {
    use lab::Call::{Bind, Connect};
    let whole = full(n);
    let (sub_low, sub_high) = sub_range(n);
    let sub_ports = u32::from(sub_high - sub_low) + 1;
    s.check(Check::new(
        "the lab's range is the one asked for",
        measured_range.to_owned(),
        range.to_owned(),
        measured_range == range,
    ));
    s.check(Check::new(
        "connect() to one destination: one port each, then EADDRNOTAVAIL",
        f.one_destination.to_string(),
        format!(
            "{} connections, then connect() failed: EADDRNOTAVAIL",
            count_text(&whole)
        ),
        ended(&f.one_destination, &whole, Connect, "EADDRNOTAVAIL"),
    ));
    s.check(Check::new(
        "a second destination gets the range again (another 4-tuple)",
        f.second_destination.to_string(),
        format!(
            "{} more connections while the first {} stay open, then EADDRNOTAVAIL",
            count_text(&whole),
            f.one_destination.connections
        ),
        ended(&f.second_destination, &whole, Connect, "EADDRNOTAVAIL"),
    ));
    s.check(Check::new(
        "bind(ip, 0) before connect(): each bind pins its port for every destination",
        f.bind_before_connect.to_string(),
        format!(
            "{} connections in all, shared by the two destinations, then bind() failed: \
             EADDRINUSE",
            count_text(&whole)
        ),
        ended(&f.bind_before_connect, &whole, Bind, "EADDRINUSE"),
    ));
    let per_destination = f
        .bind_address_no_port
        .per_destination
        .iter()
        .all(|count| whole.contains(count));
    s.check(Check::new(
        "IP_BIND_ADDRESS_NO_PORT: connect() picks the port per destination",
        f.bind_address_no_port.to_string(),
        format!(
            "{} connections per destination, then connect() failed: EADDRNOTAVAIL",
            count_text(&whole)
        ),
        per_destination
            && f.bind_address_no_port.failed_call == Some(Connect)
            && f.bind_address_no_port.errno.as_deref() == Some("EADDRNOTAVAIL"),
    ));
    s.check(Check::new(
        "SO_REUSEADDR on the client does not let bind(ip, 0) share a port",
        f.reuseaddr_bind.to_string(),
        format!(
            "{} connections in all, then bind() failed: EADDRINUSE (ip_autobind_reuse is 0)",
            count_text(&whole)
        ),
        ended(&f.reuseaddr_bind, &whole, Bind, "EADDRINUSE"),
    ));
    match (&f.local_port_range, &f.local_port_range_refused) {
        (Some(case), _) => {
            let inside = case.lowest_port.is_some_and(|p| p >= sub_low)
                && case.highest_port.is_some_and(|p| p <= sub_high);
            s.check(Check::new(
                "IP_LOCAL_PORT_RANGE: the socket's ports come from its sub-range",
                case.to_string(),
                format!(
                    "{sub_ports} connections on ports {sub_low}-{sub_high}, then connect() \
                     failed: EADDRNOTAVAIL"
                ),
                inside && ended(case, &(sub_ports..=sub_ports), Connect, "EADDRNOTAVAIL"),
            ));
        }
        (None, refused) => s.note(format!(
            "IP_LOCAL_PORT_RANGE is not on this kernel (setsockopt answered {}): ip(7) dates it \
             \"since Linux 6.3\"; nothing was measured for it.",
            refused.as_deref().unwrap_or("an error")
        )),
    }
}

/// With ip_autobind_reuse = 1, inet_csk_find_open_port() retries with `relax` once every
/// port is bound, and inet_bind_conflict() then lets two SO_REUSEADDR sockets share a port:
/// bind() no longer fails. connect() on such a port checks only its 4-tuple
/// (`__inet_hash_connect()` with a port calls check_established, and
/// `__inet_check_established()` answers -EADDRNOTAVAIL for a 4-tuple in use), so it fails as
/// soon as bind() hands out a port already connected to that destination: somewhere between
/// the range and twice the range.
fn check_autobind_reuse(s: &mut Scenario, case: &Case, n: u32) {
    let least = *full(n).start();
    s.check(Check::new(
        "SO_REUSEADDR with ip_autobind_reuse = 1: bind() shares ports, connect() refuses a \
         4-tuple in use",
        case.to_string(),
        format!(
            "between {least} and {} connections, then connect() (not bind()) failed: \
             EADDRNOTAVAIL",
            2 * n
        ),
        ended(case, &(least..=2 * n), lab::Call::Connect, "EADDRNOTAVAIL"),
    ));
}

/// Runs one lab child and parses its answer.
fn lab_run<T: serde::de::DeserializeOwned>(
    request: &Request,
    budget: Duration,
) -> anyhow::Result<T> {
    let out = sandbox::run(&super::lab::request("ports", request), budget)?;
    serde_json::from_str(&out)
        .map_err(|e| anyhow::anyhow!("the lab child's answer did not parse ({e}): {out}"))
}

fn joined(counts: &[u32]) -> String {
    counts
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" + ")
}

const MECHANISM: &str = "connect() on an unbound socket picks its source port in \
    __inet_hash_connect() (net/ipv4/inet_hashtables.c, from inet_hash_connect()): it walks \
    ip_local_port_range — or the socket's IP_LOCAL_PORT_RANGE, clamped into it by \
    inet_sk_get_local_port_range() (net/ipv4/inet_connection_sock.c) — and takes a port whose \
    bind bucket was made by connect() (fastreuse -1) when check_established finds the \
    4-tuple unused, so a port is shared by every destination; none left: -EADDRNOTAVAIL. \
    bind(ip, 0) instead calls inet_csk_get_port(), whose inet_csk_find_open_port() wants a \
    port no other socket is bound to on that address (inet_csk_bind_conflict(), \
    inet_bind_conflict()) — and __inet_hash_connect() skips every port bind() took \
    (fastreuse >= 0) — so each bind pins its port for all destinations, and the walk ends \
    in -EADDRINUSE. SO_REUSEADDR on both sockets only makes that walk try the lower half of \
    the range first; without relax, inet_bind_conflict() still calls two reuse sockets on \
    one address a conflict, and relax is tried only when net.ipv4.ip_autobind_reuse is 1 — \
    then bind() hands out ports already in use, and connect() on a bound port only checks \
    its 4-tuple: __inet_check_established() answers -EADDRNOTAVAIL for one in use. \
    IP_BIND_ADDRESS_NO_PORT makes __inet_bind() (net/ipv4/af_inet.c) skip get_port for \
    port 0, so connect() picks the port per 4-tuple as if unbound.";

const FIX: &str = "Do not bind() a client socket to pick its source address; if you must, set \
    IP_BIND_ADDRESS_NO_PORT first (Linux 4.2+) so the port is chosen at connect(), per \
    destination. Spread connections over more destinations (addresses or ports) or keep them \
    alive and reuse them (a pool); widen net.ipv4.ip_local_port_range. To split the range \
    between programs, give each socket IP_LOCAL_PORT_RANGE (Linux 6.3+) instead of binding \
    ports yourself. SO_REUSEADDR on a client is not a fix: bind(ip, 0) shares a port only once \
    net.ipv4.ip_autobind_reuse = 1 relaxes the conflict test, and then only the 4-tuple check \
    at connect() keeps two such sockets apart.";
