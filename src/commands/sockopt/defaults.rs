//! `sockopt --defaults`: every option read from a bare socket(2), a socket2 socket, a std
//! listener, a std stream connected to it and the stream it accepted, side by side, checked
//! against what the catalogue says each of them leaves set (`OptInfo::made_by`).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::show::{bytes, duration_us, error_text, show, unit};
use super::{Context, DefaultsRow, Limits, ReportMode, SockoptReport, Unit};
use crate::exit::Exit;
use crate::sys::socket as sock;
use crate::sys::sockopt::{self as opts, Opt, SocketKind, Value};
use crate::units::micros;

/// The --defaults columns, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Socket,
    Socket2,
    StdListener,
    StdStream,
    StdAccepted,
}

impl Column {
    const ALL: [Column; 5] = [
        Column::Socket,
        Column::Socket2,
        Column::StdListener,
        Column::StdStream,
        Column::StdAccepted,
    ];

    /// The JSON key of the column, and the prefix of its figure keys.
    fn key(self) -> &'static str {
        match self {
            Column::Socket => "socket",
            Column::Socket2 => "socket2",
            Column::StdListener => "std_listener",
            Column::StdStream => "std_stream",
            Column::StdAccepted => "std_accepted",
        }
    }

    /// How the notes name the column.
    fn label(self) -> &'static str {
        match self {
            Column::Socket => "socket(2)",
            Column::Socket2 => "socket2",
            Column::StdListener => "std listener",
            Column::StdStream => "std stream",
            Column::StdAccepted => "std accepted",
        }
    }
}

/// One option read from one socket: the value, or why it could not be read.
type Reading = Result<Value, String>;

/// One option read from every column's socket, in `Column::ALL` order.
type Readings = [Reading; 5];

pub(super) fn run(
    ipv6: bool,
    ctx: &Context,
    limits: Limits,
    mut notes: Vec<String>,
    started: Instant,
) -> anyhow::Result<(SockoptReport, Exit)> {
    let kind = SocketKind { udp: false, ipv6 };
    let options: Vec<Opt> = Opt::ALL
        .into_iter()
        .filter(|o| o.applies_to(kind))
        .collect();
    let (readings, listen_addr) = measure(kind, &options, ctx.timeout)?;

    let mut findings = Vec::new();
    let rows: Vec<DefaultsRow> = options
        .iter()
        .zip(&readings)
        .map(|(&opt, readings)| {
            let finding = check_documented(opt, readings, kind.ipv6);
            let why = differences(opt, readings);
            let note = match (&finding, why) {
                (Some(finding), Some(why)) => Some(format!("{finding}. {why}")),
                (Some(text), None) => Some(text.clone()),
                (None, why) => why,
            };
            findings.extend(finding);
            row(opt, readings, kind.ipv6, note)
        })
        .collect();

    notes.push(format!(
        "Columns: socket(2) = a bare socket() with no flags; socket2 = Socket::new (unbound); \
         std listener = TcpListener::bind({listen_addr}) (listening); std stream = \
         TcpStream::connect_timeout to it (connected); std accepted = the stream the listener \
         accepted. All {}.",
        kind.label()
    ));
    let verdict = if findings.is_empty() {
        "As documented: socket2 adds only FD_CLOEXEC (SOCK_CLOEXEC) to a bare socket(2), and \
         std's TcpListener::bind sets SO_REUSEADDR, which the sockets it accepts inherit."
            .to_string()
    } else {
        findings.join(" ")
    };
    let mismatches = u32::try_from(findings.len()).unwrap_or(u32::MAX);
    let report = SockoptReport {
        mode: ReportMode::Defaults,
        socket: None,
        limits,
        options: Vec::new(),
        defaults: Some(rows),
        mismatches,
        refused: 0,
        verdict,
        notes,
        elapsed_us: micros(started.elapsed()),
    };
    let exit = if mismatches > 0 {
        Exit::Finding
    } else {
        Exit::Clean
    };
    Ok((report, exit))
}

/// The report's row: each reading as text, with the integer figures beside it.
fn row(opt: Opt, readings: &Readings, ipv6: bool, note: Option<String>) -> DefaultsRow {
    let text = |column: Column| reading_text(opt, &readings[column as usize]);
    DefaultsRow {
        name: opt.name(),
        kernel: opt.kernel_name(ipv6),
        socket: text(Column::Socket),
        socket2: text(Column::Socket2),
        std_listener: text(Column::StdListener),
        std_stream: text(Column::StdStream),
        std_accepted: text(Column::StdAccepted),
        unit: unit(opt.info().kind),
        figures: figures(opt, readings),
        note,
    }
}

fn reading_text(opt: Opt, reading: &Reading) -> String {
    match reading {
        Ok(value) => show(opt, value),
        Err(error) => format!("unreadable: {error}"),
    }
}

/// The integer figures of one --defaults row (see `DefaultsRow::figures`).
fn figures(opt: Opt, readings: &Readings) -> serde_json::Map<String, serde_json::Value> {
    let (suffix, integer): (&str, fn(&Value) -> Option<u64>) = match unit(opt.info().kind) {
        Unit::Bytes => ("bytes", bytes),
        Unit::Duration => ("us", duration_us),
        _ => return serde_json::Map::new(),
    };
    Column::ALL
        .iter()
        .zip(readings)
        .map(|(column, reading)| {
            let figure = reading.as_ref().ok().and_then(integer);
            (format!("{}_{suffix}", column.key()), figure.into())
        })
        .collect()
}

/// Reads `options` from a bare socket(2), a socket2 socket, a std listener, a std stream
/// connected to it and the stream it accepted; each socket is read before anything else
/// touches it. Returns each option's readings, in `options` order, and the listener's
/// address.
fn measure(
    kind: SocketKind,
    options: &[Opt],
    timeout: Duration,
) -> anyhow::Result<(Vec<Readings>, SocketAddr)> {
    let loopback = if kind.ipv6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    let read_all = |socket: &dyn AsFd| -> Vec<Reading> {
        options
            .iter()
            .map(|&opt| opts::get(&socket.as_fd(), opt, kind.ipv6).map_err(|e| error_text(&e)))
            .collect()
    };
    let plain = opts::plain_socket(kind)?;
    let socket2 = opts::new_socket(kind)?;
    let listener = opts::std_listener_as_is(SocketAddr::new(loopback, 0))?;
    let listen_addr = sock::local_addr(&listener)?;
    let plain_values = read_all(&plain);
    let socket2_values = read_all(&socket2);
    let listener_values = read_all(&listener);
    let stream = opts::std_stream_as_is(listen_addr, timeout)?;
    let stream_values = read_all(&stream);
    let accepted = opts::accept_bounded(
        &listener,
        timeout,
        "accepting the std stream's connection on the std listener",
    )?;
    let accepted_values = read_all(&accepted);
    // Everything is read: the accepted side resets the connection (SO_LINGER 0) so that
    // neither end is left in TIME_WAIT.
    opts::set(
        &accepted,
        Opt::Linger,
        &Value::Duration(Some(Duration::ZERO)),
        kind.ipv6,
    )?;
    let mut columns = [
        plain_values,
        socket2_values,
        listener_values,
        stream_values,
        accepted_values,
    ]
    .map(Vec::into_iter);
    let per_option = options
        .iter()
        .map(|_| {
            columns
                .each_mut()
                .map(|column| column.next().expect("one reading per option"))
        })
        .collect();
    Ok((per_option, listen_addr))
}

/// What sockdoc's design documents (design doc, "Kernel facts"), from the catalogue: std's
/// TcpListener::bind sets SO_REUSEADDR; socket2 adds SOCK_CLOEXEC and nothing else, so
/// apart from that and the options whose value depends on the stage its column equals
/// socket(2)'s. Returns the finding when the readings disagree.
fn check_documented(opt: Opt, readings: &Readings, ipv6: bool) -> Option<String> {
    let info = opt.info();
    let read = |column: Column| &readings[column as usize];
    if let Some(on) = info.made_by.std_listener
        && *read(Column::StdListener) != Ok(Value::Bool(on))
    {
        return Some(format!(
            "MISMATCH: std's TcpListener::bind is documented to set {} on Unix, but the \
             listener reads it {}",
            opt.kernel_name(ipv6),
            reading_text(opt, read(Column::StdListener))
        ));
    }
    let socket2_as_documented = match info.made_by.socket2 {
        Some(on) => *read(Column::Socket2) == Ok(Value::Bool(on)),
        None => info.depends_on_stage || read(Column::Socket2) == read(Column::Socket),
    };
    (!socket2_as_documented).then(|| {
        format!(
            "MISMATCH: socket2's Socket::new is documented to set nothing but SOCK_CLOEXEC, \
             yet {} reads {} on it and {} on a bare socket(2)",
            opt.kernel_name(ipv6),
            reading_text(opt, read(Column::Socket2)),
            reading_text(opt, read(Column::Socket))
        )
    })
}

/// Which columns read which value, and why they differ (the catalogue's `made_by.why`);
/// `None` when every column reads the same.
fn differences(opt: Opt, readings: &Readings) -> Option<String> {
    let mut values: Vec<&Reading> = Vec::new();
    for reading in readings {
        if !values.contains(&reading) {
            values.push(reading);
        }
    }
    if values.len() < 2 {
        return None;
    }
    let groups: Vec<String> = values
        .iter()
        .map(|value| {
            let who: Vec<&str> = Column::ALL
                .iter()
                .zip(readings)
                .filter(|(_, reading)| reading == value)
                .map(|(column, _)| column.label())
                .collect();
            format!("{}: {}", reading_text(opt, value), who.join(", "))
        })
        .collect();
    let mut note = groups.join("; ");
    if let Some(why) = opt.info().made_by.why {
        let _ = write!(note, ". {why}");
    }
    Some(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings(values: [Value; 5]) -> Readings {
        values.map(Ok)
    }

    #[test]
    fn the_documented_defaults_hold_or_are_findings() {
        let (on, off) = (Value::Bool(true), Value::Bool(false));
        let reuse = readings([
            off.clone(),
            off.clone(),
            on.clone(),
            off.clone(),
            on.clone(),
        ]);
        assert_eq!(check_documented(Opt::ReuseAddr, &reuse, false), None);
        let not_set = readings([
            off.clone(),
            off.clone(),
            off.clone(),
            off.clone(),
            off.clone(),
        ]);
        let finding = check_documented(Opt::ReuseAddr, &not_set, false).unwrap();
        assert!(finding.contains("reads it off"), "{finding}");

        let cloexec = readings([off.clone(), on.clone(), on.clone(), on.clone(), on.clone()]);
        assert_eq!(check_documented(Opt::Cloexec, &cloexec, false), None);
        let finding = check_documented(Opt::NoDelay, &cloexec, false).unwrap();
        assert!(
            finding.contains("TCP_NODELAY reads on on it and off"),
            "{finding}"
        );
        // The MSS differs with the stage alone: not a finding.
        let mss = readings([536, 536, 536, 32_768, 32_768].map(Value::Count));
        assert_eq!(check_documented(Opt::MaxSeg, &mss, false), None);
        let socket2_differs = readings([536, 1000, 536, 536, 536].map(Value::Count));
        assert_eq!(check_documented(Opt::MaxSeg, &socket2_differs, false), None);
    }

    #[test]
    fn differences_group_the_columns_and_say_why() {
        let (on, off) = (Value::Bool(true), Value::Bool(false));
        let reuse = readings([
            off.clone(),
            off.clone(),
            on.clone(),
            off.clone(),
            on.clone(),
        ]);
        let note = differences(Opt::ReuseAddr, &reuse).unwrap();
        assert!(
            note.starts_with(
                "off: socket(2), socket2, std stream; on: std listener, std accepted. std's"
            ),
            "{note}"
        );
        let same = readings([off.clone(), off.clone(), off.clone(), off.clone(), off]);
        assert_eq!(differences(Opt::ReuseAddr, &same), None);
    }
}
