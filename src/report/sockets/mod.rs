//! Streaming renderers for `sockets`: each row is written as it arrives (fixed-width
//! columns, or one JSON object per line inside the document), so a listing of hundreds of
//! thousands of sockets needs no more memory than one.

use std::io::{self, Write};
use std::time::Duration;

mod summary;

use summary::write_summary;

use super::table::paint;
use super::text::{self, display_width};
use super::{Format, Style};
use crate::VERSION;
use crate::commands::sockets::{Footer, InfoRow, Sink, SocketRow};
use crate::exit::Exit;
use crate::sys::diag::Source;
use crate::sys::record::Proto;
use crate::units::{count, human};

pub fn sink<'a>(format: Format, style: Style, out: &'a mut dyn Write) -> Box<dyn Sink + 'a> {
    // `lib.rs` lets `sockets` have only these two formats.
    match format {
        Format::Json => Box::new(JsonSink { out, rows: 0 }),
        _ => Box::new(TableSink {
            out,
            style,
            header_written: false,
        }),
    }
}

struct TableSink<'a> {
    out: &'a mut dyn Write,
    style: Style,
    header_written: bool,
}

/// The listing's columns in order, with the width each is padded to. An IPv4 endpoint
/// takes at most 21 characters; a longer IPv6 one pushes the rest of its row along (onto
/// a continuation line if the row would pass the width) rather than lose characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Proto,
    State,
    RecvQ,
    SendQ,
    Local,
    Remote,
    Timer,
    Uid,
}

impl Column {
    const ALL: [Self; 8] = [
        Self::Proto,
        Self::State,
        Self::RecvQ,
        Self::SendQ,
        Self::Local,
        Self::Remote,
        Self::Timer,
        Self::Uid,
    ];

    /// Dropped first to last while the row does not fit: the timer (--json keeps it), the
    /// uid (the process column usually names the owner), the protocol (the state and the
    /// filters usually tell it). State, queues, addresses and process always stay.
    const DROP_ORDER: [Self; 3] = [Self::Timer, Self::Uid, Self::Proto];

    fn width(self) -> usize {
        match self {
            // "proto"; a uid up to 99999 (a larger one pushes its row along).
            Self::Proto | Self::Uid => 5,
            // "ESTABLISHED"; NEW_SYN_RECV and BOUND_INACTIVE push their rows along.
            Self::State => 11,
            Self::RecvQ | Self::SendQ => 6,
            Self::Local | Self::Remote => 21,
            // "retransmit 204.0ms"; a keepalive of hours pushes its row along.
            Self::Timer => 18,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Proto => "proto",
            Self::State => "state",
            Self::RecvQ => "recv-q",
            Self::SendQ => "send-q",
            Self::Local => "local",
            Self::Remote => "remote",
            Self::Timer => "timer",
            Self::Uid => "uid",
        }
    }

    fn right_aligned(self) -> bool {
        matches!(self, Self::RecvQ | Self::SendQ | Self::Uid)
    }
}

/// The least room the process column (`name/pid`, the name cut with `…` when longer) is
/// given before a column is dropped for it.
const MIN_PROCESS: usize = 10;

/// Continuation lines of a row start this far in, so they read as part of the row above.
const CONTINUATION: &str = "  ";

/// The columns shown at `width`: all of them when they fit with the process column,
/// else without the ones [`Column::DROP_ORDER`] names first. Decided once, before the
/// first row, so rows stream.
fn layout(width: usize) -> Vec<Column> {
    let needed = |columns: &[Column]| -> usize {
        columns.iter().map(|c| c.width() + 1).sum::<usize>() + MIN_PROCESS
    };
    let mut columns = Column::ALL.to_vec();
    for drop in Column::DROP_ORDER {
        if needed(&columns) <= width {
            break;
        }
        columns.retain(|&c| c != drop);
    }
    columns
}

/// The width at which every column shows.
fn full_width() -> usize {
    Column::ALL.iter().map(|c| c.width() + 1).sum::<usize>() + MIN_PROCESS
}

/// One row laid out to the width: padded cells, then the process, then free text (the
/// tcp_info), moving to a continuation line whatever would pass the edge.
struct RowText {
    width: usize,
    lines: Vec<String>,
    line: String,
    /// `display_width(line)`, kept as cells are pushed: measuring the line again for every
    /// cell cost 15 % of a 100,000-row listing.
    used: usize,
}

impl RowText {
    fn new(width: usize) -> Self {
        Self {
            width,
            lines: Vec::new(),
            line: String::new(),
            used: 0,
        }
    }

    fn used(&self) -> usize {
        self.used
    }

    /// Room left on the current line for a cell after its separating space.
    fn room(&self) -> usize {
        if self.line.is_empty() {
            self.width
        } else {
            self.width.saturating_sub(self.used() + 1)
        }
    }

    fn break_line(&mut self) {
        let line = std::mem::replace(&mut self.line, CONTINUATION.to_string());
        self.used = CONTINUATION.len();
        self.lines.push(line);
    }

    fn is_fresh_continuation(&self) -> bool {
        self.line == CONTINUATION
    }

    fn push(&mut self, cell: &str) {
        self.push_padded(cell, display_width(cell), 0, false);
    }

    /// Pushes `text` (`width` columns) padded with `pad` spaces, before it when
    /// `right_aligned`, without building the padded cell first.
    fn push_padded(&mut self, text: &str, width: usize, pad: usize, right_aligned: bool) {
        if width + pad > self.room() && !self.is_fresh_continuation() && !self.line.is_empty() {
            self.break_line();
        }
        if !self.line.is_empty() && !self.is_fresh_continuation() {
            self.line.push(' ');
            self.used += 1;
        }
        let spaces = |line: &mut String| line.extend(std::iter::repeat_n(' ', pad));
        if right_aligned {
            spaces(&mut self.line);
        }
        self.line.push_str(text);
        if !right_aligned {
            spaces(&mut self.line);
        }
        self.used += width + pad;
    }

    fn cell(&mut self, column: Column, text: &str) {
        let width = display_width(text);
        let pad = column.width().saturating_sub(width);
        self.push_padded(text, width, pad, column.right_aligned());
    }

    /// `name/pid`, the name shortened with `…` to the room left; on a line of its own
    /// when even that does not fit.
    fn process(&mut self, name: &str, pid: Option<&str>) {
        let whole = match pid {
            Some(pid) => format!("{name}/{pid}"),
            None => name.to_string(),
        };
        if display_width(&whole) <= self.room() {
            return self.push(&whole);
        }
        let suffix = pid.map_or_else(String::new, |pid| format!("/{pid}"));
        let room = if self.room() >= MIN_PROCESS {
            self.room()
        } else {
            self.width - CONTINUATION.len()
        };
        let keep = room.saturating_sub(display_width(&suffix) + 1);
        let short: String = name.chars().take(keep.max(1)).collect();
        self.push(&format!("{short}…{suffix}"));
    }

    /// Free text after the row: on the same line when it fits there whole, else on
    /// continuation lines, wrapped at its spaces.
    fn trailer(&mut self, text: &str) {
        if display_width(text) <= self.room() {
            return self.push(text);
        }
        self.break_line();
        let mut lines = super::text::wrapped(self.width, CONTINUATION, CONTINUATION, text);
        self.line = lines.pop().unwrap_or_default();
        self.used = display_width(&self.line);
        self.lines.extend(lines);
    }

    fn finish(mut self) -> Vec<String> {
        if !self.line.trim().is_empty() {
            self.lines.push(self.line);
        }
        self.lines
    }
}

impl TableSink<'_> {
    fn width(&self) -> usize {
        usize::from(self.style.width)
    }

    fn header(&mut self) -> io::Result<()> {
        self.header_written = true;
        let mut text = RowText::new(self.width());
        for column in layout(self.width()) {
            text.cell(column, column.name());
        }
        text.push("process");
        for line in text.finish() {
            writeln!(
                self.out,
                "{}",
                paint(self.style, anstyle::Style::new().bold(), line.trim_end())
            )?;
        }
        Ok(())
    }
}

impl Sink for TableSink<'_> {
    fn socket(&mut self, row: &SocketRow<'_>) -> io::Result<()> {
        if !self.header_written {
            self.header()?;
        }
        let mut text = RowText::new(self.width());
        for column in layout(self.width()) {
            let cell = match column {
                Column::Proto => match row.proto {
                    Proto::Tcp => "tcp".to_string(),
                    Proto::Udp => "udp".to_string(),
                },
                Column::State => row.state.name().to_string(),
                Column::RecvQ => row.recv_q.to_string(),
                Column::SendQ => row.send_q.to_string(),
                Column::Local => row.local.to_string(),
                Column::Remote => row.remote.to_string(),
                Column::Timer => match (row.timer, row.expires_ms) {
                    (Some(name), Some(ms)) => {
                        format!("{name} {}", human(Duration::from_millis(ms)))
                    }
                    (Some(name), None) => name.to_string(),
                    _ => "-".to_string(),
                },
                // No owner reported (TIME_WAIT, a request socket): "-", not a 0 that reads
                // as root.
                Column::Uid => row
                    .uid
                    .map_or_else(|| "-".to_string(), |uid| uid.to_string()),
            };
            text.cell(column, &cell);
        }
        match (row.process, row.pid) {
            // Other holders (fork, fd passing) as a count: `nginx/812 +2`; --json names them.
            (Some(process), Some(pid)) if !row.other_holders.is_empty() => text.process(
                process,
                Some(&format!("{pid} +{}", row.other_holders.len())),
            ),
            (Some(process), Some(pid)) => text.process(process, Some(&pid.to_string())),
            _ => text.push("-"),
        }
        if let Some(info) = &row.info {
            text.trailer(&info_text(info));
        }
        for line in text.finish() {
            writeln!(self.out, "{}", line.trim_end())?;
        }
        Ok(())
    }

    fn finish(&mut self, footer: &Footer) -> io::Result<()> {
        if let Some(summary) = &footer.summary {
            write_summary(self.out, self.style, summary)?;
        } else {
            let source = match footer.source {
                Source::SockDiag => "NETLINK_SOCK_DIAG",
                Source::ProcNet => "/proc/net",
            };
            writeln!(
                self.out,
                "{} (from {source})",
                count(footer.count, "socket")
            )?;
        }
        let shown = layout(self.width());
        let hidden: Vec<&str> = Column::ALL
            .iter()
            .filter(|c| !shown.contains(c))
            .map(|c| c.name())
            .collect();
        if self.header_written && !hidden.is_empty() {
            let what = match hidden.as_slice() {
                [one] => format!("{one} column is"),
                [rest @ .., last] => format!("{} and {last} columns are", rest.join(", ")),
                [] => unreachable!("checked non-empty above"),
            };
            text::wrap(
                self.out,
                self.style,
                "Note: ",
                "  ",
                &format!(
                    "the {what} hidden to fit {} columns: COLUMNS={} or wider shows every \
                     column, and --json every field.",
                    self.width(),
                    full_width()
                ),
            )?;
        }
        text::notes(self.out, self.style, &footer.notes)
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
