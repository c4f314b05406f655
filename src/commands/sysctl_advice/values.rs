//! What the kernel does with a value a config line writes to one of the knobs sockdoc
//! judges: refuses it (EINVAL, so the line is never applied and the tools that apply it
//! report an error), takes part of it, or takes it whole. The handlers and bounds are
//! those of the knobs' table entries (net/ipv4/sysctl_net_ipv4.c,
//! net/core/sysctl_net_core.c) and the parsers in kernel/sysctl.c; each was confirmed by
//! writing the value inside a private network namespace (Linux 6.18). Any other key is
//! compared as text.

use super::era::{Era, Has, TW_REUSE_LOOPBACK};
use super::knobs;
use crate::sys::ports::ReservedPorts;
use crate::sys::sysctl::{kernel_numbers, kernel_port_list};

/// What every 32-bit integer handler refuses: below `INT_MIN` (`do_proc_dointvec_conv()`)
/// or above `UINT_MAX` (`do_proc_douintvec_conv()`). Between the two, which values a knob
/// takes depends on its type (int, unsigned, u8), which changed between releases for
/// several of these knobs, so nothing is claimed there.
const ANY_32_BIT: (i128, i128) = (i32::MIN as i128, u32::MAX as i128);

/// `ip_local_port_range_min` / `_max` in net/ipv4/sysctl_net_ipv4.c.
const PORT_BOUNDS: (i128, i128) = (1, 65535);

/// How the kernel reads one knob: each judged knob's entry in the registry (knobs.rs)
/// names its grammar.
#[derive(Debug, Clone, Copy)]
pub enum Grammar {
    /// One integer; only what no 32-bit handler takes is judged.
    Int,
    /// One integer within these bounds on every kernel that has the knob.
    Bounded {
        min: i128,
        max: i128,
        source: &'static str,
    },
    /// `tcp_tw_reuse`: bounded to 0..=2 on kernels with loopback-only reuse.
    TwReuse,
    /// `ip_local_port_range`: two ports, low first (`ipv4_local_port_range()`).
    PortRange,
    /// `ip_local_reserved_ports`: a port list (`proc_do_large_bitmap()`).
    PortList,
}

/// A 0-or-1 switch.
pub const BOOLEAN: Grammar = Grammar::Bounded {
    min: 0,
    max: 1,
    source: "SYSCTL_ZERO and SYSCTL_ONE in its table entry, net/ipv4/sysctl_net_ipv4.c",
};

fn grammar(path: &str) -> Option<Grammar> {
    knobs::by_path(path).map(|spec| spec.grammar)
}

/// What the kernel's reading depends on besides the value.
pub struct Context<'a> {
    pub era: &'a Era,
    /// `ip_unprivileged_port_start` as the kernel has it, when no config line sets it (if
    /// one does, the order the lines are applied in decides, and nothing is claimed).
    pub unprivileged_start: Option<i128>,
}

/// The kernel's reading of one config value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// The write is refused: why, with its source.
    Rejected(String),
    /// The write is taken.
    Takes(Taken),
    /// Not a knob whose handler sockdoc knows: compared as text.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    expect: Expect,
    /// What the kernel does that the line does not say (numbers it ignores, an end of the
    /// range it keeps), when anything.
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// The knob's first numbers, as the kernel then shows them.
    Numbers(Vec<i128>),
    Ports(ReservedPorts),
}

impl Taken {
    /// Whether the kernel's `live` text is what this value sets.
    pub fn shown_in(&self, live: &str) -> bool {
        match &self.expect {
            Expect::Numbers(numbers) => {
                let fields: Vec<&str> = live.split_whitespace().collect();
                numbers.len() <= fields.len()
                    && numbers
                        .iter()
                        .zip(&fields)
                        .all(|(n, f)| f.parse::<i128>() == Ok(*n))
            }
            Expect::Ports(ports) => ReservedPorts::parse(live).is_ok_and(|live| live == *ports),
        }
    }
}

/// How the kernel reads `value` written to the knob at `path` (under /proc/sys).
pub fn read(path: &str, value: &str, ctx: &Context) -> Reading {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some(grammar) = grammar(path) else {
        return Reading::Unknown;
    };
    let grammar = match grammar {
        Grammar::TwReuse if matches!(ctx.era.has(&TW_REUSE_LOOPBACK), Has::Yes(_)) => {
            Grammar::Bounded {
                min: 0,
                max: 2,
                source: "SYSCTL_ZERO and SYSCTL_TWO in its table entry on kernels with \
                         loopback-only reuse (commit 79e9fed46038), net/ipv4/sysctl_net_ipv4.c",
            }
        }
        Grammar::TwReuse => Grammar::Int,
        other => other,
    };
    let result = match grammar {
        Grammar::Int => one(value, ANY_32_BIT, |v| {
            format!("{v} does not fit the 32-bit integer the kernel stores {name} in")
        }),
        Grammar::Bounded { min, max, source } => one(value, (min, max), |v| {
            format!("{v} is outside {min} to {max}, the values {name} takes ({source})")
        }),
        Grammar::TwReuse => unreachable!("resolved above"),
        Grammar::PortRange => port_range(value, ctx),
        Grammar::PortList => kernel_port_list(value)
            .map(|ranges| Taken {
                expect: Expect::Ports(ReservedPorts::from_ranges(&ranges)),
                note: None,
            })
            .map_err(|why| format!("{why} (proc_do_large_bitmap(), kernel/sysctl.c)")),
    };
    match result {
        Ok(taken) => Reading::Takes(taken),
        Err(why) => Reading::Rejected(why),
    }
}

/// One integer within `bounds`; text after it is ignored by the kernel, and said so.
fn one(
    value: &str,
    bounds: (i128, i128),
    outside: impl Fn(i128) -> String,
) -> Result<Taken, String> {
    let read = kernel_numbers(value, 1).map_err(|why| parse_error(&why))?;
    let v = read.values[0];
    if v < bounds.0 || v > bounds.1 {
        return Err(outside(v));
    }
    let note = (!read.ignored.is_empty()).then(|| {
        format!(
            "the kernel reads one number, {v}, and ignores the rest ({})",
            super::echo_quoted(&read.ignored)
        )
    });
    Ok(Taken {
        expect: Expect::Numbers(vec![v]),
        note,
    })
}

/// `ip_local_port_range`: two ports (a third field is never read), the low end not above
/// the high end nor below `ip_unprivileged_port_start` (`ipv4_local_port_range()`, which
/// has checked the latter since that knob arrived, commit 4548b683b781).
fn port_range(value: &str, ctx: &Context) -> Result<Taken, String> {
    let read = kernel_numbers(value, 2).map_err(|why| parse_error(&why))?;
    for &port in &read.values {
        if port < PORT_BOUNDS.0 || port > PORT_BOUNDS.1 {
            return Err(format!(
                "{port} is not a port the range may hold (1 to 65535: ip_local_port_range_min \
                 and _max, net/ipv4/sysctl_net_ipv4.c)"
            ));
        }
    }
    let low = read.values[0];
    if let [_, high] = read.values[..]
        && high < low
    {
        return Err(format!(
            "the low end {low} is above the high end {high}, which ipv4_local_port_range() \
             refuses (net/ipv4/sysctl_net_ipv4.c)"
        ));
    }
    if let Some(start) = ctx.unprivileged_start
        && low < start
    {
        return Err(format!(
            "the low end {low} is below ip_unprivileged_port_start ({start}), which \
             ipv4_local_port_range() refuses (net/ipv4/sysctl_net_ipv4.c)"
        ));
    }
    let note = if read.values.len() == 1 {
        Some(format!(
            "only one number: the kernel sets the low end to {low} and keeps the high end it \
             has (the second of the two numbers the knob holds)"
        ))
    } else if read.ignored.is_empty() {
        None
    } else {
        Some(format!(
            "the kernel reads two numbers, {low} {}, and ignores the rest ({}): a third field \
             means nothing to ip_local_port_range",
            read.values[1],
            super::echo_quoted(&read.ignored)
        ))
    };
    Ok(Taken {
        expect: Expect::Numbers(read.values),
        note,
    })
}

fn parse_error(why: &str) -> String {
    format!("{why} (proc_get_long(), kernel/sysctl.c)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::sysctl::Key;

    fn reading(path: &str, value: &str) -> Reading {
        let era = Era::detect(|key| key == Key::TcpTwReuseDelay);
        read(
            path,
            value,
            &Context {
                era: &era,
                unprivileged_start: Some(1024),
            },
        )
    }

    fn rejected(path: &str, value: &str) -> String {
        match reading(path, value) {
            Reading::Rejected(why) => why,
            other => panic!("{path} = {value:?}: {other:?}"),
        }
    }

    fn taken(path: &str, value: &str) -> Taken {
        match reading(path, value) {
            Reading::Takes(taken) => taken,
            other => panic!("{path} = {value:?}: {other:?}"),
        }
    }

    // Each case was written inside `unshare --net` on Linux 6.18; the comment gives what the
    // kernel did.
    #[test]
    fn values_the_kernel_refuses() {
        const REUSE: &str = "net/ipv4/tcp_tw_reuse";
        const RANGE: &str = "net/ipv4/ip_local_port_range";
        const RESERVED: &str = "net/ipv4/ip_local_reserved_ports";
        // EINVAL: 23 characters.
        assert!(rejected(REUSE, "99999999999999999999999").contains("23 characters"));
        // EINVAL: past 64 bits in 20 characters.
        assert!(rejected(REUSE, "99999999999999999999").contains("64 bits"));
        assert!(rejected(REUSE, "3").contains("outside 0 to 2"));
        assert!(rejected(REUSE, "-1").contains("outside 0 to 2"));
        assert!(rejected(REUSE, "").contains("no number"));
        assert!(rejected(REUSE, "1x").contains("not a number"));
        assert!(rejected(REUSE, "+1").contains("not a number"));
        // Octal: 010 is 8.
        assert!(rejected(REUSE, "010").contains("8 is outside"));
        assert!(rejected("net/ipv4/tcp_max_syn_backlog", "09").contains("not a number"));
        assert!(rejected("net/ipv4/tcp_fin_timeout", "4294967296").contains("32-bit"));
        assert!(rejected(RANGE, "").contains("no number"));
        assert!(rejected(RANGE, "60000 1024").contains("above the high end"));
        assert!(rejected(RANGE, "1024 65536").contains("not a port"));
        assert!(rejected(RANGE, "80 60999").contains("ip_unprivileged_port_start (1024)"));
        assert!(rejected(RANGE, "1024,65535").contains("not a number"));
        assert!(rejected("net/ipv4/tcp_tw_reuse_delay", "0").contains("outside 1 to 60000"));
        assert!(rejected("net/ipv4/tcp_tw_reuse_delay", "60001").contains("outside"));
        assert!(rejected("net/ipv4/ip_autobind_reuse", "2").contains("outside 0 to 1"));
        assert!(rejected("net/ipv4/tcp_autocorking", "2").contains("outside 0 to 1"));
        assert!(rejected(RESERVED, "70000").contains("not a port"));
        assert!(rejected(RESERVED, "9000-8000").contains("backwards"));
        assert!(rejected(RESERVED, "8080, 9000").contains("space"));
        assert!(rejected(RESERVED, "8080 ,9000").contains("not a number"));
        assert!(rejected(RESERVED, "8080,,9000").contains("','"));
        assert!(rejected(RESERVED, "9000-").contains("missing"));
        assert!(rejected(RESERVED, "-5").contains("'-'"));
    }

    #[test]
    fn values_the_kernel_takes() {
        const RESERVED: &str = "net/ipv4/ip_local_reserved_ports";
        // 1024 65535: the write returns 11 of 13 bytes, the "1" is never read.
        let t = taken("net/ipv4/ip_local_port_range", "1024 65535 1");
        assert!(t.shown_in("1024 65535"));
        assert!(
            t.note
                .as_deref()
                .unwrap()
                .contains("ignores the rest (\"1\")")
        );
        // 1025 60999: only the low end changes.
        let t = taken("net/ipv4/ip_local_port_range", "1025");
        assert!(t.shown_in("1025 60999"));
        assert!(t.note.as_deref().unwrap().contains("keeps the high end"));
        assert_eq!(
            taken("net/ipv4/ip_local_port_range", "1024\t65535").note,
            None
        );
        // 1: the second number is ignored.
        let t = taken("net/ipv4/tcp_tw_reuse", "1 2");
        assert!(t.shown_in("1") && !t.shown_in("2"));
        assert!(t.note.is_some());
        // 8 and 16: octal and hex.
        assert!(taken("net/ipv4/tcp_max_syn_backlog", "010").shown_in("8"));
        assert!(taken("net/ipv4/tcp_max_syn_backlog", "0x10").shown_in("16"));
        assert!(taken("net/ipv4/tcp_max_tw_buckets", "-5").shown_in("-5"));
        assert!(taken("net/ipv4/tcp_tw_reuse_delay", "60000").shown_in("60000"));
        // The list: a trailing comma and hex are fine; empty clears it.
        assert!(taken(RESERVED, "1,2,3,").shown_in("1-3"));
        assert!(taken(RESERVED, "0x1F90").shown_in("8080"));
        assert!(taken(RESERVED, "").shown_in(""));
        assert!(taken(RESERVED, "65535").shown_in("65535"));
        assert_eq!(
            reading("net/ipv4/tcp_congestion_control", "bbr"),
            Reading::Unknown
        );
    }

    #[test]
    fn tw_reuse_bounds_need_the_loopback_era() {
        let era = Era::detect(|key| key == Key::TcpTwRecycle);
        let ctx = Context {
            era: &era,
            unprivileged_start: None,
        };
        // Before 4.18 tcp_tw_reuse was a plain proc_dointvec(): 3 was taken.
        assert!(matches!(
            read("net/ipv4/tcp_tw_reuse", "3", &ctx),
            Reading::Takes(_)
        ));
        assert!(matches!(
            read("net/ipv4/ip_local_port_range", "80 60999", &ctx),
            Reading::Takes(_)
        ));
    }
}
