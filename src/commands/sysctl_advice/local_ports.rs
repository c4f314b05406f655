//! The local ports: the ephemeral range and the port budget it gives, the reserved ports,
//! `ip_autobind_reuse` and the privileged-port boundary.

use super::judge::Judge;
use super::knobs::KnobSpec;
use super::values::{BOOLEAN, Grammar};
use super::{Finding, Level};
use crate::commands::args::Role;
use crate::sys::ports::{ADVISE_PERCENT, PortRange, ReservedPorts};
use crate::sys::sysctl::Key;
use crate::units::count;

/// The kernel's default ephemeral range: ip-sysctl.rst, ip_local_port_range.
pub const PORT_RANGE_DEFAULT: (u16, u16) = (32768, 60999);

/// The range suggested to outbound-heavy hosts: wide, starting above the well-known and
/// most registered service ports, with different parity (start even, end odd).
pub const CLIENT_PORT_RANGE: (u16, u16) = (10240, 65535);

/// The local-port knobs.
pub const KNOBS: &[KnobSpec] = &[
    KnobSpec {
        key: Key::IpLocalPortRange,
        source: "ip-sysctl.rst: ip_local_port_range",
        myth: None,
        newer: false,
        grammar: Grammar::PortRange,
        judge: port_range,
    },
    KnobSpec {
        key: Key::IpLocalReservedPorts,
        source: "ip-sysctl.rst: ip_local_reserved_ports",
        myth: None,
        newer: false,
        grammar: Grammar::PortList,
        judge: reserved_ports,
    },
    KnobSpec {
        key: Key::IpAutobindReuse,
        source: "ip-sysctl.rst: ip_autobind_reuse",
        myth: None,
        newer: true,
        grammar: BOOLEAN,
        judge: autobind_reuse,
    },
    KnobSpec {
        key: Key::IpUnprivilegedPortStart,
        source: "ip-sysctl.rst: ip_unprivileged_port_start",
        myth: None,
        newer: false,
        grammar: Grammar::Bounded {
            min: 0,
            max: 65535,
            source: "ip_privileged_port_min and _max in ipv4_privileged_ports(), \
                     net/ipv4/sysctl_net_ipv4.c",
        },
        judge: unprivileged_port_start,
    },
];

fn port_range(j: &Judge, spec: &KnobSpec) -> Finding {
    let text = match j.present(spec) {
        Ok(text) => text,
        Err(f) => return *f,
    };
    let Ok(PortRange { low, high }) = text.parse() else {
        return spec.unexpected(&text, "two ports, low then high");
    };
    let f = spec.finding(Some(&text));
    let size = u32::from(high - low) + 1;
    let ports = count(size, "port");
    let default_size = u32::from(PORT_RANGE_DEFAULT.1 - PORT_RANGE_DEFAULT.0) + 1;
    let client_size = u32::from(CLIENT_PORT_RANGE.1 - CLIENT_PORT_RANGE.0) + 1;
    let pressure = j.pressure().is_some();
    let range = |(a, b): (u16, u16)| format!("{a} {b}");
    let same_parity = low % 2 == high % 2;
    // Shrink by one, as the kernel's own default did (61000 → 60999).
    let parity_fix = if high > low + 1 {
        (low, high - 1)
    } else {
        (low, high.saturating_add(1))
    };
    let client_short = j.role == Role::Client && size < client_size;
    let mut f = if client_short && (size < default_size || pressure) {
        let why = if pressure {
            format!("and TIME_WAIT sockets to one destination hold {ADVISE_PERCENT}% or more")
        } else {
            "fewer than the default".to_string()
        };
        f.set(
            Level::Advise,
            "too few ports for a client",
            format!(
                "{ports}, {why}: an outbound-heavy host can open at most usable ports ÷ 60 s \
                 new connections per second to one destination. Widen it, after listing \
                 your services' listening ports in ip_local_reserved_ports."
            ),
        )
        .suggest(range(CLIENT_PORT_RANGE))
    } else if size < default_size {
        f.set(
            Level::Advise,
            "narrower than the default",
            format!(
                "Only {ports}, fewer than the default {default_size}: outgoing connect() \
                 fails with EADDRNOTAVAIL once they are all in use or in TIME_WAIT."
            ),
        )
        .suggest(range(PORT_RANGE_DEFAULT))
    } else if pressure {
        let reuse_on = j.live.value(Key::TcpTwReuse) == Some("1");
        f.set(
            Level::Info,
            "TIME_WAIT fills the range",
            format!(
                "TIME_WAIT sockets of connections to one destination hold {ADVISE_PERCENT}% \
                 of the usable ports or more. If connect() to it fails with EADDRNOTAVAIL, \
                 spread connections over more destination ports or source addresses{}.",
                if reuse_on {
                    ""
                } else {
                    ", or set tcp_tw_reuse = 1"
                }
            ),
        )
    } else if j.connects() {
        f.set(
            Level::Ok,
            j.budget_summary(size),
            format!(
                "{ports}. If connect() fails with EADDRNOTAVAIL, widen it (e.g. {}) after \
                 reserving your listening ports.",
                range(CLIENT_PORT_RANGE)
            ),
        )
    } else {
        f.set(
            Level::Ok,
            j.budget_summary(size),
            format!("{ports} for outgoing connections."),
        )
    };
    if same_parity {
        f.reason.push_str(
            " Both ends have the same parity: the kernel prefers different parity, since \
             connect() takes ports of the start's parity first and bind(0) the other's.",
        );
        if f.suggested.is_none() {
            f.level = f.level.max(Level::Info);
            f.why = "same parity at both ends".into();
            f.suggested = Some(range(parity_fix));
        }
    }
    let evidence = Judge::join(&[j.budget_text(), Some(j.outgoing_text()), j.time_wait_text()]);
    f.evidence(evidence)
}

fn reserved_ports(j: &Judge, spec: &KnobSpec) -> Finding {
    let text = match j.present(spec) {
        Ok(text) => text,
        Err(f) => return *f,
    };
    let f = spec.finding(Some(&text));
    let reserved = match ReservedPorts::parse(&text) {
        Ok(reserved) => reserved,
        Err(why) => {
            return spec.unexpected(&text, &format!("port ranges ({why})"));
        }
    };
    let total = reserved.count();
    let Some(b) = j.budget else {
        return f.set(
            Level::Ok,
            format!("{total} reserved"),
            format!("{} reserved.", count(total, "port")),
        );
    };
    if total == 0 {
        f.set(
            Level::Ok,
            "none reserved (default)",
            "None reserved (the default). List your services' listening ports here before \
             widening ip_local_port_range, so connect() never takes them.",
        )
    } else if b.reserved_in_range * 2 >= b.ports {
        f.set(
            Level::Advise,
            "most of the range reserved",
            format!(
                "{} of the {} ephemeral ports {} reserved, leaving {} for connect() and \
                 bind(0). Reserve only ports your services listen on.",
                b.reserved_in_range,
                b.ports,
                if b.reserved_in_range == 1 {
                    "is"
                } else {
                    "are"
                },
                b.usable
            ),
        )
    } else {
        f.set(
            Level::Ok,
            format!("{total} reserved"),
            format!(
                "{} reserved ({} inside the ephemeral range): connect() and bind(0) skip \
                 {}.",
                count(total, "port"),
                b.reserved_in_range,
                if total == 1 { "it" } else { "them" }
            ),
        )
    }
}

fn autobind_reuse(j: &Judge, spec: &KnobSpec) -> Finding {
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    let f = spec.finding(Some(&text));
    match value {
        0 => f.set(
            Level::Ok,
            "off (default)",
            "The default: bind(0) never picks a port already bound, even when every socket \
             on it has SO_REUSEADDR. Clients that bind() before connect() should set \
             IP_BIND_ADDRESS_NO_PORT instead.",
        ),
        1 => f.set(
            Level::Info,
            "on: for experts only",
            "On: bind(0) may hand out a port other SO_REUSEADDR sockets hold, which can \
             break applications; ip-sysctl prefers IP_BIND_ADDRESS_NO_PORT and reserves \
             this for experts.",
        ),
        _ => spec.unexpected(&text, "0 or 1"),
    }
}

fn unprivileged_port_start(j: &Judge, spec: &KnobSpec) -> Finding {
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    let f = spec.finding(Some(&text));
    if value == 1024 {
        f.set(
            Level::Ok,
            "default 1024",
            "The default: ports below 1024 need root or CAP_NET_BIND_SERVICE (bind() \
             fails with EACCES otherwise).",
        )
    } else {
        f.set(
            Level::Info,
            format!("privileged below {value}"),
            format!(
                "Ports below {value} need root or CAP_NET_BIND_SERVICE (default 1024; 0, \
                 common in rootless containers, lets anyone bind any port)."
            ),
        )
    }
}
