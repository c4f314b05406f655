//! `--set OPTION=VALUE`: the clap value parser (a malformed value is a usage error naming
//! `--set`, exit 2), the generated `--set` help, and the checks that need the other flags
//! (the option exists on this kind of socket, each option is given once).
//!
//! What each option takes comes from the option catalogue (`sys::sockopt::Opt::info`): its
//! kind, the largest value its C type carries, and the words that describe it.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::exit::UsageError;
use crate::sys::sockopt::{Applies, C_INT_MAX, Kind, Opt, SocketKind, Value};

/// One parsed `--set OPTION=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub opt: Opt,
    pub value: Value,
    /// As typed, for messages.
    pub text: String,
}

/// Parses one `--set` value (clap's value parser for `SockoptArgs::set`). Names are
/// sockdoc's (`rcvbuf`) or the kernel's (`SO_RCVBUF`), in any case, with `-` or `_`. The
/// error says what was expected; clap puts the flag and the value in front of it.
pub fn parse_set(text: &str) -> Result<Request, String> {
    let Some((name, raw)) = text.split_once('=') else {
        return Err(format!(
            "expected OPTION=VALUE, e.g. rcvbuf=256K; options: {}",
            option_names()
        ));
    };
    let opt = lookup(name).ok_or_else(|| {
        format!(
            "unknown option {:?}; options: {} (kernel names such as SO_RCVBUF work too)",
            name.trim(),
            option_names()
        )
    })?;
    let value = parse_value(opt, raw.trim())
        .ok_or_else(|| format!("{} takes {}", opt.name(), opt.info().takes))?;
    Ok(Request {
        opt,
        value,
        text: text.to_string(),
    })
}

/// The option called `name`: sockdoc's name or the kernel's, case-insensitive.
pub fn lookup(name: &str) -> Option<Opt> {
    let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
    let kernel = |k: &str| k.to_ascii_lowercase().replace('_', "-");
    Opt::ALL.into_iter().find(|opt| {
        let info = opt.info();
        opt.name() == wanted
            || kernel(info.kernel) == wanted
            || info.kernel_v6.is_some_and(|k| kernel(k) == wanted)
    })
}

/// Every option name, comma-separated, for usage messages.
pub fn option_names() -> String {
    Opt::ALL.map(Opt::name).join(", ")
}

/// The long help of `--set`: every option with its kernel name and the values it takes,
/// generated from the option catalogue so the help lists exactly what `parse_set` accepts.
pub fn set_help() -> String {
    let mut help = String::from(
        "OPTION=VALUE to set before bind/connect, repeatable. OPTION is sockdoc's name or the \
         kernel's (rcvbuf or SO_RCVBUF, any case, - or _):\n",
    );
    for opt in Opt::ALL {
        let info = opt.info();
        let only = match info.applies {
            Applies::Any => "",
            Applies::Tcp => " (TCP)",
            Applies::Udp => " (UDP)",
            Applies::Ipv6 => " (-6)",
        };
        let _ = write!(
            help,
            "\n  {:<18} {:<16} {}{only}",
            opt.name(),
            info.kernel,
            info.form
        );
    }
    help.push_str(
        "\n\nSizes take K, M, G (K = 1024); durations are humantime (500ms, 2s, 1m). Each \
         row of the report says what the kernel applied and why it differs.",
    );
    help
}

/// How the help shows what `opt` takes, and an example `parse_set` accepts.
pub fn value_form(opt: Opt) -> (String, &'static str) {
    let info = opt.info();
    (info.form.to_string(), info.example)
}

/// `n` is within the catalogue's `max` (`u64::MAX`: no limit beyond what parses).
fn within(n: u128, max: u64) -> bool {
    max == u64::MAX || n <= u128::from(max)
}

/// The value of `opt` in `raw`, within what the option's C type carries; `None` when it is
/// not one. Values the kernel then refuses (mss=10, ttl=0) still parse, so the report can
/// show the refusal and what the kernel accepts.
fn parse_value(opt: Opt, raw: &str) -> Option<Value> {
    let info = opt.info();
    let duration = || humantime::parse_duration(raw).ok();
    match info.kind {
        Kind::Bool => parse_bool(raw).map(Value::Bool),
        Kind::Bytes => parse_size(raw)
            .filter(|n| within((*n).into(), info.max))
            .map(Value::Bytes),
        Kind::Timeout => {
            if matches!(raw.to_ascii_lowercase().as_str(), "none" | "off") {
                return Some(Value::Duration(None));
            }
            // The catalogue's bound is in the unit the kernel keeps: milliseconds for
            // TCP_USER_TIMEOUT; SO_RCVTIMEO / SO_SNDTIMEO have none.
            let duration = duration().filter(|d| within(d.as_millis(), info.max))?;
            Some(Value::Duration(Some(duration)))
        }
        Kind::Linger if raw.eq_ignore_ascii_case("off") => Some(Value::Duration(None)),
        Kind::Linger | Kind::Seconds => {
            let duration = duration().filter(|d| within(d.as_secs().into(), info.max))?;
            Some(Value::Duration(Some(duration)))
        }
        Kind::Count => raw
            .parse::<u64>()
            .ok()
            .filter(|n| within((*n).into(), info.max))
            .and_then(|n| i64::try_from(n).ok())
            .map(Value::Count),
        Kind::Text => {
            let valid = !raw.is_empty()
                && within(raw.len() as u128, info.max)
                && raw.bytes().all(|b| b.is_ascii_graphic());
            valid.then(|| Value::Text(raw.to_string()))
        }
    }
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// `65536`, `64K`, `8M`, `1G` (K = 1024; `KB`, `KiB` and lowercase accepted), at most a
/// C int.
pub fn parse_size(raw: &str) -> Option<u64> {
    // The one size grammar every flag shares (cli::parse_size), capped at a C int.
    crate::units::parse_size(raw)
        .ok()
        .filter(|size| *size <= C_INT_MAX)
}

/// Checks that each requested option exists on this kind of socket and is given once.
pub(super) fn check_requests(requests: &[Request], kind: SocketKind) -> Result<(), UsageError> {
    let mut seen = HashSet::new();
    for (i, request) in requests.iter().enumerate() {
        if !seen.insert(request.opt) {
            let first = requests[..i]
                .iter()
                .find(|r| r.opt == request.opt)
                .map_or("", |r| r.text.as_str());
            return Err(UsageError(format!(
                "--set {}: {} is already set by --set {first}; give each option once",
                request.text,
                request.opt.name()
            )));
        }
        check_applies(request, kind)?;
    }
    Ok(())
}

fn check_applies(request: &Request, kind: SocketKind) -> Result<(), UsageError> {
    let opt = request.opt;
    if opt.applies_to(kind) {
        return Ok(());
    }
    let kernel = opt.kernel_name(kind.ipv6);
    let why = match opt.info().applies {
        Applies::Tcp => format!(
            "{kernel} is a TCP option and this is a UDP socket (--udp): the kernel answers \
             ENOPROTOOPT; drop --udp, or use one of"
        ),
        Applies::Udp => {
            format!("{kernel} is for datagram sockets (socket(7)); add --udp, or use one of")
        }
        Applies::Ipv6 => {
            format!("{kernel} exists on IPv6 sockets only (ipv6(7)); add -6, or use one of")
        }
        Applies::Any => unreachable!("applies to every socket"),
    };
    let valid: Vec<_> = Opt::ALL
        .into_iter()
        .filter(|o| o.applies_to(kind))
        .map(Opt::name)
        .collect();
    Err(UsageError(format!(
        "--set {}: {why} the options of a {} socket: {}",
        request.text,
        kind.label(),
        valid.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn sizes_take_binary_suffixes_up_to_a_c_int() {
        assert_eq!(parse_size("65536"), Some(65_536));
        assert_eq!(parse_size("256K"), Some(262_144));
        assert_eq!(parse_size("256k"), Some(262_144));
        assert_eq!(parse_size("8M"), Some(8 << 20));
        assert_eq!(parse_size("1KiB"), Some(1024));
        assert_eq!(parse_size("1kb"), Some(1024));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("2G"), None, "over INT_MAX");
        assert_eq!(parse_size("K"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("1.5M"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn names_match_sockdoc_and_kernel_spellings() {
        assert_eq!(lookup("rcvbuf"), Some(Opt::RcvBuf));
        assert_eq!(lookup("SO_RCVBUF"), Some(Opt::RcvBuf));
        assert_eq!(lookup("recv_timeout"), Some(Opt::RecvTimeout));
        assert_eq!(lookup("ipv6_unicast_hops"), Some(Opt::Ttl));
        assert_eq!(lookup("tcp_nodelay"), Some(Opt::NoDelay));
        assert_eq!(lookup("nagle"), None);
    }

    #[test]
    fn usage_errors_name_the_value_and_the_choices() {
        let err = parse_set("nagle=on").unwrap_err();
        assert!(
            err.contains("\"nagle\"") && err.contains("rcvbuf, sndbuf"),
            "{err}"
        );
        let err = parse_set("rcvbuf=lots").unwrap_err();
        assert!(
            err.starts_with("rcvbuf takes") && err.contains("256K"),
            "{err}"
        );
        let err = parse_set("nodelay").unwrap_err();
        assert!(err.contains("OPTION=VALUE"), "{err}");
        let err = parse_set("nodelay=maybe").unwrap_err();
        assert!(err.contains("on or off"), "{err}");
        let err = parse_set("ttl=256").unwrap_err();
        assert!(err.contains("0 to 255"), "{err}");
    }

    #[test]
    fn values_parse_to_their_kinds() {
        let value = |text: &str| parse_set(text).unwrap().value;
        assert_eq!(value("nodelay=TRUE"), Value::Bool(true));
        assert_eq!(value("reuseaddr=0"), Value::Bool(false));
        assert_eq!(value("linger=off"), Value::Duration(None));
        assert_eq!(value("linger=0s"), Value::Duration(Some(Duration::ZERO)));
        assert_eq!(
            value("recv-timeout=2s"),
            Value::Duration(Some(Duration::from_secs(2)))
        );
        assert_eq!(value("send-timeout=none"), Value::Duration(None));
        assert_eq!(value("user-timeout=off"), Value::Duration(None));
        assert_eq!(value("congestion=cubic"), Value::Text("cubic".into()));
        assert_eq!(value("mss=1400"), Value::Count(1400));
    }

    /// The bounds in the catalogue are what the parser enforces, at the edge.
    #[test]
    fn the_catalogue_bounds_are_the_parser_bounds() {
        let parses = |text: &str| parse_set(text).is_ok();
        assert!(parses("ttl=255") && !parses("ttl=256"));
        assert!(
            parses("ttl=0"),
            "the kernel's refusal is shown, not pre-empted"
        );
        assert!(parses("mss=10") && parses("mss=2147483647") && !parses("mss=2147483648"));
        assert!(parses("rcvbuf=2147483647") && !parses("rcvbuf=2147483648"));
        assert!(parses("linger=2147483647s") && !parses("linger=2147483648s"));
        assert!(parses("keepalive-idle=2147483647s") && !parses("keepalive-idle=2147483648s"));
        assert!(parses("user-timeout=4294967295ms") && !parses("user-timeout=4294967296ms"));
        assert!(
            parses("recv-timeout=100000000000s"),
            "SO_RCVTIMEO has no bound"
        );
        assert!(parses("congestion=abcdefghijklmno") && !parses("congestion=abcdefghijklmnop"));
    }

    #[test]
    fn an_option_is_given_once_and_must_exist_on_the_socket() {
        let tcp4 = SocketKind {
            udp: false,
            ipv6: false,
        };
        let requests = |texts: &[&str]| -> Vec<Request> {
            texts.iter().map(|t| parse_set(t).unwrap()).collect()
        };
        let err = check_requests(&requests(&["rcvbuf=1K", "SO_RCVBUF=2K"]), tcp4)
            .unwrap_err()
            .0;
        assert!(
            err.starts_with("--set SO_RCVBUF=2K: rcvbuf is already set by --set rcvbuf=1K"),
            "{err}"
        );
        let udp4 = SocketKind { udp: true, ..tcp4 };
        let err = check_requests(&requests(&["nodelay=on"]), udp4)
            .unwrap_err()
            .0;
        assert!(err.contains("TCP_NODELAY is a TCP option"), "{err}");
        assert!(check_requests(&requests(&["nodelay=on", "rcvbuf=1K"]), tcp4).is_ok());
    }
}
