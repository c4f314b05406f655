//! The human report of `sockopt`: the socket, the kernel limits the explanations rest on,
//! every option requested against applied with the reason for each difference; or, with
//! `--defaults`, the side-by-side table of what each way of making a socket leaves set.

use std::io::{self, Write};
use std::time::Duration;

use comfy_table::{Cell, Color};

use super::Style;
use super::table::{good_bad, new_table, paint};
use super::text;
use crate::commands::sockopt::{
    DefaultsRow, Family, Limits, OptionRow, ReportMode, SocketInfo, SockoptReport, Stage, Status,
};
use crate::sys::record::Proto;
use crate::units::{human, show_size};

pub fn render(report: &SockoptReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let title = paint(style, anstyle::Style::new().bold(), "sockdoc sockopt");
    let first = match (&report.mode, &report.socket) {
        (ReportMode::Set, Some(socket)) => format!("{title}: {}", describe_socket(socket)),
        _ => format!(
            "{title} --defaults: what each way of making a TCP socket leaves set, read back \
             from real sockets"
        ),
    };
    text::wrap(out, style, "", "  ", &first)?;
    text::wrap(out, style, "", "  ", &describe_limits(&report.limits))?;
    if let Some(defaults) = &report.defaults {
        write_defaults(defaults, style, out)?;
    } else {
        write_options(&report.options, style, out)?;
    }
    let good = report.mismatches == 0 && report.refused == 0;
    writeln!(out)?;
    text::labelled(
        out,
        style,
        "Verdict:",
        &if good {
            report.verdict.clone()
        } else {
            good_bad(style, false, &report.verdict)
        },
    )?;
    text::notes(out, style, &report.notes)
}

fn describe_socket(socket: &SocketInfo) -> String {
    let proto = match socket.proto {
        Proto::Tcp => "TCP",
        Proto::Udp => "UDP",
    };
    let family = match socket.family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    };
    let kind = format!("{proto}/{family}");
    let local = socket.local.as_deref().unwrap_or("?");
    match socket.stage {
        Stage::Unbound => format!("a new {kind} socket (unbound)"),
        Stage::Bound => format!("a {kind} socket bound to {local}"),
        Stage::Listening => format!("a {kind} socket listening on {local}"),
        Stage::Connected => format!(
            "a {kind} socket connected {local} → {}{}",
            socket.peer.as_deref().unwrap_or("?"),
            if socket.peer_is_sockdoc {
                " (a loopback listener sockdoc opened)"
            } else {
                ""
            }
        ),
    }
}

fn describe_limits(limits: &Limits) -> String {
    let cap = |value: Option<u64>| value.map_or_else(|| "unreadable".into(), |v| v.to_string());
    format!(
        "Kernel limits: net.core.rmem_max {}, net.core.wmem_max {} (read live); buffer floors \
         {} / {} bytes, HZ {} (1 jiffy = {}), measured",
        cap(limits.rmem_max),
        cap(limits.wmem_max),
        limits.rcvbuf_min,
        limits.sndbuf_min,
        limits.hz,
        human(Duration::from_micros(limits.jiffy_us))
    )
}

fn write_options(rows: &[OptionRow], style: Style, out: &mut impl Write) -> io::Result<()> {
    let mut table = new_table(style, &["option", "kernel", "requested", "applied", ""]);
    for row in rows {
        let requested = row
            .requested
            .as_deref()
            .map_or_else(|| "-".to_string(), |r| with_size(r, row.requested_bytes));
        table.add_row(vec![
            Cell::new(row.name),
            Cell::new(row.kernel),
            Cell::new(requested),
            Cell::new(with_size(&row.applied, row.applied_bytes)),
            status_cell(style, row.status),
        ]);
    }
    writeln!(out, "{table}")?;
    text::wrap(
        out,
        style,
        "  ",
        "  ",
        "✓ as requested; adjusted: changed the way Linux documents; -: not requested (the \
         socket's value at this stage)",
    )?;
    let notes: Vec<_> = rows
        .iter()
        .filter_map(|r| r.note.as_ref().map(|n| (r.name, n)))
        .collect();
    if !notes.is_empty() {
        writeln!(out)?;
        text::heading(out, style, "Why")?;
        for (name, note) in notes {
            text::wrap(out, style, &format!("  {name}: "), "    ", note)?;
        }
    }
    Ok(())
}

fn status_cell(style: Style, status: Status) -> Cell {
    let (text, colour) = match status {
        Status::Default => ("", None),
        Status::AsRequested => ("✓", Some(Color::Green)),
        Status::Adjusted => ("adjusted", Some(Color::Yellow)),
        Status::Refused => ("✗ REFUSED", Some(Color::Red)),
        Status::Mismatch => ("✗ MISMATCH", Some(Color::Red)),
        Status::Unreadable => ("unreadable", Some(Color::Red)),
    };
    let cell = Cell::new(text);
    match colour {
        Some(colour) if style.color => cell.fg(colour),
        _ => cell,
    }
}

/// `262144` → `262144 (256K)`: a size in bytes (the row's `_bytes` figure, `None` for
/// other units), with the binary unit when it is exact.
fn with_size(text: &str, bytes: Option<u64>) -> String {
    bytes.map_or_else(|| text.to_string(), show_size)
}

fn write_defaults(rows: &[DefaultsRow], style: Style, out: &mut impl Write) -> io::Result<()> {
    let mut table = new_table(
        style,
        &[
            "option",
            "kernel",
            "socket(2)",
            "socket2",
            "std\nlistener",
            "std\nstream",
            "std\naccepted",
        ],
    );
    for row in rows {
        let cells = [
            &row.socket,
            &row.socket2,
            &row.std_listener,
            &row.std_stream,
            &row.std_accepted,
        ];
        let differs = cells.iter().any(|c| *c != cells[0]);
        let mut line = vec![Cell::new(row.name), Cell::new(row.kernel)];
        line.extend(cells.iter().map(|value| {
            let cell = Cell::new(value);
            if differs && style.color && *value != cells[0] {
                cell.fg(Color::Yellow)
            } else {
                cell
            }
        }));
        table.add_row(line);
    }
    writeln!(out, "{table}")?;
    let notes: Vec<_> = rows
        .iter()
        .filter_map(|r| r.note.as_ref().map(|n| (r.name, n)))
        .collect();
    if !notes.is_empty() {
        writeln!(out)?;
        text::heading(out, style, "Where they differ")?;
        for (name, note) in notes {
            text::wrap(out, style, &format!("  {name}: "), "    ", note)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_show_their_binary_unit_when_exact() {
        assert_eq!(with_size("262144", Some(262_144)), "262144 (256K)");
        assert_eq!(with_size("8388608", Some(8_388_608)), "8388608 (8M)");
        assert_eq!(with_size("2304", Some(2304)), "2304");
        assert_eq!(with_size("212992", Some(212_992)), "212992 (208K)");
        assert_eq!(with_size("1024", None), "1024", "a count is not a size");
        assert_eq!(with_size("none", None), "none");
    }
}
