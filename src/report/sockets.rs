//! Streaming renderers for `sockets`: each row is written as it arrives (fixed-width
//! columns, or one JSON object per line inside the document), so a listing of hundreds of
//! thousands of sockets needs no more memory than one.

use std::io::{self, Write};
use std::time::Duration;

use comfy_table::Cell;

use super::table::{heading, new_table, paint};
use super::{Format, Style};
use crate::commands::VERSION;
use crate::commands::sockets::{Footer, InfoRow, Sink, SocketRow, Summary};
use crate::exit::Exit;
use crate::ports::Level;
use crate::sys::diag::{Proto, Source};
use crate::units::human;

pub fn sink<'a>(format: Format, style: Style, out: &'a mut dyn Write) -> Box<dyn Sink + 'a> {
    match format {
        Format::Table => Box::new(TableSink {
            out,
            style,
            header_written: false,
        }),
        Format::Json => Box::new(JsonSink { out, rows: 0 }),
    }
}

/// Column widths: an IPv4 endpoint takes at most 21 characters; longer IPv6 endpoints
/// push the row out rather than truncate an address.
const ADDR_WIDTH: usize = 23;

struct TableSink<'a> {
    out: &'a mut dyn Write,
    style: Style,
    header_written: bool,
}

impl TableSink<'_> {
    fn header(&mut self) -> io::Result<()> {
        self.header_written = true;
        let header = format!(
            "{:<5} {:<12} {:>7} {:>7} {:<ADDR_WIDTH$} {:<ADDR_WIDTH$} {:<16} {:>6} process",
            "proto", "state", "recv-q", "send-q", "local", "remote", "timer", "uid"
        );
        writeln!(
            self.out,
            "{}",
            paint(self.style, anstyle::Style::new().bold(), &header)
        )
    }
}

impl Sink for TableSink<'_> {
    fn socket(&mut self, row: &SocketRow<'_>) -> io::Result<()> {
        if !self.header_written {
            self.header()?;
        }
        let proto = match row.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        let timer = match (row.timer, row.expires_ms) {
            (Some(name), Some(ms)) => format!("{name} {}", human(Duration::from_millis(ms))),
            (Some(name), None) => name.to_string(),
            _ => "-".to_string(),
        };
        write!(
            self.out,
            "{proto:<5} {:<12} {:>7} {:>7} {:<ADDR_WIDTH$} {:<ADDR_WIDTH$} {timer:<16} {:>6} ",
            row.state.name(),
            row.recv_q,
            row.send_q,
            row.local,
            row.remote,
            // No owner reported (TIME_WAIT, a request socket): "-", not a 0 that reads as root.
            row.uid
                .map_or_else(|| "-".to_string(), |uid| uid.to_string())
        )?;
        match (row.process, row.pid) {
            (Some(process), Some(pid)) => write!(self.out, "{process}/{pid}")?,
            _ => write!(self.out, "-")?,
        }
        if let Some(info) = &row.info {
            write!(self.out, "  {}", info_text(info))?;
        }
        writeln!(self.out)
    }

    fn finish(&mut self, footer: &Footer) -> io::Result<()> {
        if let Some(summary) = &footer.summary {
            write_summary(self.out, self.style, summary)?;
        } else {
            let source = match footer.source {
                Source::SockDiag => "NETLINK_SOCK_DIAG",
                Source::ProcNet => "/proc/net",
            };
            writeln!(self.out, "{} sockets (from {source})", footer.count)?;
        }
        for note in &footer.notes {
            writeln!(self.out, "Note: {note}")?;
        }
        Ok(())
    }

    fn fail(&mut self, _error: &str, _exit: Exit) -> io::Result<()> {
        // The rows printed so far stay; the error itself goes to stderr.
        Ok(())
    }
}

fn info_text(info: &InfoRow) -> String {
    let mut parts = Vec::new();
    if let (Some(rtt), Some(var)) = (info.rtt_us, info.rttvar_us) {
        parts.push(format!(
            "rtt={}/{}",
            human(Duration::from_micros(u64::from(rtt))),
            human(Duration::from_micros(u64::from(var)))
        ));
    }
    if let Some(cwnd) = info.cwnd {
        parts.push(format!("cwnd={cwnd}"));
    }
    if let Some(mss) = info.mss {
        parts.push(format!("mss={mss}"));
    }
    if let Some(retrans) = info.retransmits {
        parts.push(format!("retrans={retrans}"));
    }
    if let Some(rate) = info.delivery_rate {
        parts.push(format!("delivery={}", bits_per_second(rate)));
    }
    parts.join(" ")
}

/// A byte rate as bits per second with a unit, as network people read it.
fn bits_per_second(bytes_per_second: u64) -> String {
    let bits = bytes_per_second as f64 * 8.0;
    match bits {
        b if b >= 1e9 => format!("{:.1}Gbps", b / 1e9),
        b if b >= 1e6 => format!("{:.1}Mbps", b / 1e6),
        b if b >= 1e3 => format!("{:.1}kbps", b / 1e3),
        b => format!("{b:.0}bps"),
    }
}

fn write_summary(out: &mut dyn Write, style: Style, summary: &Summary) -> io::Result<()> {
    writeln!(out, "{}", heading(style, "Sockets by state"))?;
    if summary.by_state.is_empty() {
        writeln!(out, "  none matched")?;
    } else {
        let mut table = new_table(style, &["proto", "state", "count"]);
        for (proto, states) in &summary.by_state {
            for (state, count) in states {
                table.add_row(vec![Cell::new(proto), Cell::new(state), Cell::new(count)]);
            }
        }
        writeln!(out, "{table}")?;
    }

    let range = summary.port_range.as_deref().unwrap_or("unknown");
    let heading_text = match (&summary.port_pressure, summary.port_budget) {
        (Some(p), _) => format!(
            "TIME_WAIT holding ephemeral ports, per destination: {} of {} TIME_WAIT; {} usable \
             ports per destination (ip_local_port_range {range}, {} reserved in it)",
            p.time_wait_in_range, summary.time_wait, p.budget.usable, p.budget.reserved_in_range
        ),
        (None, Some(usable)) => format!(
            "TIME_WAIT holding ephemeral ports, per destination: {usable} usable ports per \
             destination (ip_local_port_range {range})"
        ),
        (None, None) => format!(
            "TIME_WAIT: {} in all; port budget unknown (ip_local_port_range {range})",
            summary.time_wait
        ),
    };
    writeln!(out, "\n{}", heading(style, &heading_text))?;
    if summary.time_wait_destinations.is_empty() {
        writeln!(out, "  none")?;
    } else {
        let mut table = new_table(
            style,
            &[
                "local address",
                "remote address",
                "remote port",
                "TIME_WAIT",
                "budget used",
            ],
        );
        for d in &summary.time_wait_destinations {
            table.add_row(vec![
                Cell::new(d.local),
                Cell::new(d.remote),
                Cell::new(d.remote_port),
                Cell::new(d.time_wait),
                Cell::new(
                    d.budget_used_percent
                        .map_or_else(|| "-".into(), |p| format!("{p:.1}%")),
                ),
            ]);
        }
        writeln!(out, "{table}")?;
    }
    // An advised verdict is printed with the findings; a sound one says why here.
    if let Some(p) = summary
        .port_pressure
        .as_ref()
        .filter(|p| p.level == Level::Ok)
    {
        writeln!(out, "  {}", p.reason)?;
    }

    writeln!(
        out,
        "\n{}",
        heading(style, "Listeners with connections waiting for accept()")
    )?;
    if summary.accept_queues.is_empty() {
        writeln!(out, "  none: every accept queue is empty")?;
    } else {
        let mut table = new_table(style, &["listener", "queued", "backlog", "full", "process"]);
        for q in &summary.accept_queues {
            let process = match (&q.process, q.pid) {
                (Some(name), Some(pid)) => format!("{name}/{pid}"),
                _ => "-".into(),
            };
            table.add_row(vec![
                Cell::new(q.local),
                Cell::new(q.queued),
                Cell::new(q.backlog.map_or_else(|| "-".into(), |b| b.to_string())),
                Cell::new(
                    q.fill_percent
                        .map_or_else(|| "-".into(), |f| format!("{f:.0}%")),
                ),
                Cell::new(process),
            ]);
        }
        writeln!(out, "{table}")?;
    }
    write_close_wait(out, style, summary)?;
    if summary.findings.is_empty() {
        writeln!(out, "\nNothing needs action.")?;
    }
    for finding in &summary.findings {
        writeln!(out, "\n{} {finding}", heading(style, "Finding:"))?;
    }
    Ok(())
}

/// CLOSE_WAIT sockets per process, with the process's descriptors against its limit.
fn write_close_wait(out: &mut dyn Write, style: Style, summary: &Summary) -> io::Result<()> {
    writeln!(out, "\n{}", heading(style, "CLOSE_WAIT per process"))?;
    if summary.close_wait.is_empty() {
        return writeln!(out, "  none");
    }
    let idle = format!(
        "idle ≥ {}",
        human(Duration::from_millis(
            summary.close_wait[0].idle_threshold_ms
        ))
    );
    let mut table = new_table(
        style,
        &[
            "process",
            "CLOSE_WAIT",
            &idle,
            "longest idle",
            "fds / limit",
            "leak",
        ],
    );
    let dash = || "-".to_string();
    for o in &summary.close_wait {
        let process = match (&o.process, o.pid) {
            (Some(name), Some(pid)) => format!("{name}/{pid}"),
            _ => dash(),
        };
        let fds = match (o.open_fds, o.fd_limit) {
            (Some(fds), Some(limit)) => format!("{fds} / {limit}"),
            _ => dash(),
        };
        table.add_row(vec![
            Cell::new(process),
            Cell::new(o.close_wait),
            Cell::new(o.idle.map_or_else(dash, |n| n.to_string())),
            Cell::new(
                o.longest_idle_ms
                    .map_or_else(dash, |ms| human(Duration::from_millis(ms))),
            ),
            Cell::new(fds),
            Cell::new(if o.leak { "yes" } else { "no" }),
        ]);
    }
    writeln!(out, "{table}")
}

/// One JSON document: the header, then `"sockets": [` with one object per line as rows
/// arrive, then the footer's fields. With `--summary` there are no rows and no `sockets`.
struct JsonSink<'a> {
    out: &'a mut dyn Write,
    rows: u64,
}

impl JsonSink<'_> {
    fn open_document(&mut self) -> io::Result<()> {
        write!(
            self.out,
            "{{\"command\":\"sockets\",\"sockdoc_version\":{}",
            serde_json::to_string(VERSION)?
        )
    }
}

impl Sink for JsonSink<'_> {
    fn socket(&mut self, row: &SocketRow<'_>) -> io::Result<()> {
        if self.rows == 0 {
            self.open_document()?;
            writeln!(self.out, ",\"sockets\":[")?;
        } else {
            writeln!(self.out, ",")?;
        }
        self.rows += 1;
        serde_json::to_writer(&mut *self.out, row)?;
        Ok(())
    }

    fn finish(&mut self, footer: &Footer) -> io::Result<()> {
        if self.rows == 0 {
            self.open_document()?;
            if footer.summary.is_none() {
                write!(self.out, ",\"sockets\":[")?;
            }
        }
        if footer.summary.is_none() {
            write!(self.out, "]")?;
        }
        let serde_json::Value::Object(fields) = serde_json::to_value(footer)? else {
            unreachable!("a struct serializes to a JSON object");
        };
        for (key, value) in fields {
            if key == "summary" && value.is_null() {
                continue;
            }
            write!(self.out, ",\n{}:", serde_json::to_string(&key)?)?;
            serde_json::to_writer(&mut *self.out, &value)?;
        }
        writeln!(self.out, "}}")
    }

    fn fail(&mut self, error: &str, exit: Exit) -> io::Result<()> {
        if self.rows == 0 {
            return writeln!(
                self.out,
                "{}",
                super::json::error_document("sockets", error, exit)
            );
        }
        writeln!(
            self.out,
            "],\n\"error\":{},\n\"exit_code\":{}}}",
            serde_json::to_string(error)?,
            exit.code()
        )
    }
}
