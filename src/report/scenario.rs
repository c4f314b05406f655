//! The human report shared by the lesson scenarios: the measured figures, each check
//! against what Linux documents, then the mechanism, the verdict and the fix.

use std::io::{self, Write};
use std::time::Duration;

use comfy_table::Cell;
use serde_json::Value;

use super::Style;
use super::table::{mark_cell, new_table, paint};
use super::text::{self, display_width, human_size};
use crate::commands::scenario::ScenarioReport;
use crate::units::human;

pub fn render(report: &ScenarioReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let title = paint(
        style,
        anstyle::Style::new().bold(),
        &format!("sockdoc {}", report.command),
    );
    text::wrap(
        out,
        style,
        "",
        "  ",
        &format!("{title} on {}", report.address),
    )?;
    writeln!(out)?;
    text::heading(out, style, "Measured")?;
    write_measured(report, style, out)?;
    writeln!(out)?;
    text::heading(out, style, "Checks against documented Linux behaviour")?;
    let mut table = new_table(style, &["check", "measured", "Linux documents", ""]);
    for check in &report.checks {
        table.add_row(vec![
            Cell::new(&check.name),
            Cell::new(&check.measured),
            Cell::new(&check.expected),
            mark_cell(style, check.matches),
        ]);
    }
    writeln!(out, "{table}")?;
    writeln!(out)?;
    text::labelled(out, style, "Mechanism:", &report.mechanism)?;
    text::labelled(out, style, "Verdict:", &report.verdict)?;
    text::labelled(out, style, "Fix:", &report.fix)?;
    text::notes(out, style, &report.notes)
}

/// The "Measured" section as (label, value) rows, in the report's order: each figure's human
/// label and its value in human units. Typed twins (`shown_by`) are left out: their text
/// figure's row already says it.
pub fn measured_rows(report: &ScenarioReport) -> Vec<(String, String)> {
    report
        .details
        .iter()
        .filter(|(key, _)| shown_by(key).is_none())
        .map(|(key, value)| (label(key), value_text(key, value)))
        .collect()
}

/// Figures that are the typed form of another (peer-close's `…_results`: each call's return
/// value, kind and errno, beside the text "0 (end of stream)"), with the key whose row shows
/// them in words.
const TYPED_TWINS: &[(&str, &str)] = &[
    ("orderly_close_read_results", "orderly_close_reads"),
    ("abortive_close_read_result", "abortive_close_read"),
    (
        "write_after_close_eof_read_result",
        "write_after_close_eof_read",
    ),
    ("writes_after_close_results", "writes_after_close"),
];

/// The key whose row in the Measured section shows `key`, when `key` is a typed twin.
pub fn shown_by(key: &str) -> Option<&'static str> {
    TYPED_TWINS
        .iter()
        .find(|(twin, _)| *twin == key)
        .map(|(_, text)| *text)
}

/// One line per figure, `label  value`, values aligned in a column and wrapped under it.
fn write_measured(report: &ScenarioReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let rows = measured_rows(report);
    let width = usize::from(style.width);
    let label_width = rows
        .iter()
        .map(|(label, _)| display_width(label))
        .max()
        .unwrap_or(0);
    // Values need room of their own; on a narrow terminal they follow the label instead.
    let aligned = label_width + 4 + MIN_VALUE_ROOM <= width;
    for (label, value) in rows {
        if aligned {
            let pad = label_width - display_width(&label);
            let first = format!("  {label}{}  ", " ".repeat(pad));
            text::wrap(out, style, &first, &" ".repeat(label_width + 4), &value)?;
        } else if display_width(&label) + 4 + MIN_INLINE_VALUE <= width {
            text::wrap(out, style, &format!("  {label}: "), "      ", &value)?;
        } else {
            // Too narrow even for that: the label, then its value under it.
            text::wrap(out, style, "  ", "    ", &format!("{label}:"))?;
            text::wrap(out, style, "      ", "      ", &value)?;
        }
    }
    Ok(())
}

/// The narrowest value column worth aligning to.
const MIN_VALUE_ROOM: usize = 24;

/// The least room after `label: ` for a value to follow on the same line.
const MIN_INLINE_VALUE: usize = 8;

/// How a figure is shown: the unit its JSON key names, or one the label table gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// Whatever the key's suffix says (`_us`, `_ms`, `_bytes`, `_percent`), else as is.
    FromKey,
    Bytes,
    /// A sysctl's raw value, as `sysctl` prints it (with the duration beside an `_ms` one).
    Knob,
    /// A sysctl in bytes: its raw value, with the size beside it.
    KnobBytes,
    /// A frequency, per second.
    Hertz,
}

/// The label and unit of every scenario key. A key missing here is shown with its
/// underscores as spaces and its unit suffix dropped, a fallback the tests forbid
/// (tests/render.rs runs every scenario and checks each of its keys is here).
const LABELS: &[(&str, &str, Unit)] = &[
    // backlog
    ("backlog", "listen() backlog", Unit::FromKey),
    ("somaxconn", "net.core.somaxconn", Unit::Knob),
    (
        "effective_backlog",
        "effective backlog: min(backlog, somaxconn)",
        Unit::FromKey,
    ),
    ("clients", "clients connecting", Unit::FromKey),
    (
        "accept_queue",
        "connections in the accept queue",
        Unit::FromKey,
    ),
    (
        "accept_queue_limit",
        "accept queue limit (listener's Send-Q)",
        Unit::FromKey,
    ),
    ("completed", "clients connected", Unit::FromKey),
    (
        "waiting_in_syn_sent",
        "clients waiting in SYN_SENT",
        Unit::FromKey,
    ),
    (
        "clients_reset",
        "clients reset (ECONNRESET or ECONNREFUSED)",
        Unit::FromKey,
    ),
    ("other", "clients in another state", Unit::FromKey),
    (
        "listen_overflows",
        "TcpExtListenOverflows rise",
        Unit::FromKey,
    ),
    ("listen_drops", "TcpExtListenDrops rise", Unit::FromKey),
    (
        "tcp_abort_on_overflow",
        "net.ipv4.tcp_abort_on_overflow",
        Unit::Knob,
    ),
    (
        "tcp_synack_retries",
        "net.ipv4.tcp_synack_retries",
        Unit::Knob,
    ),
    ("tcp_syncookies", "net.ipv4.tcp_syncookies", Unit::Knob),
    ("tcp_syn_retries", "net.ipv4.tcp_syn_retries", Unit::Knob),
    (
        "tcp_syn_linear_timeouts",
        "net.ipv4.tcp_syn_linear_timeouts",
        Unit::Knob,
    ),
    ("tcp_rto_max_ms", "net.ipv4.tcp_rto_max_ms", Unit::Knob),
    (
        "syn_retry_schedule_ms",
        "SYN resent, time since connect()",
        Unit::FromKey,
    ),
    (
        "connect_gives_up_after_ms",
        "connect() gives up after",
        Unit::FromKey,
    ),
    // udp
    ("udp_sent_sizes", "UDP datagrams sent", Unit::Bytes),
    ("udp_received_sizes", "UDP datagrams received", Unit::Bytes),
    (
        "tcp_read_sizes",
        "TCP reads of the same writes",
        Unit::Bytes,
    ),
    ("datagram_bytes", "datagram sent", Unit::FromKey),
    ("buffer_bytes", "read buffer", Unit::FromKey),
    ("reported_length", "length MSG_TRUNC reported", Unit::Bytes),
    ("bytes_received", "copied into the buffer", Unit::Bytes),
    ("bytes_lost", "lost", Unit::Bytes),
    // partial-send
    ("bytes", "bytes to send", Unit::Bytes),
    ("sndbuf_requested", "SO_SNDBUF requested", Unit::Bytes),
    ("sndbuf_applied", "SO_SNDBUF read back", Unit::Bytes),
    ("wmem_max", "net.core.wmem_max", Unit::KnobBytes),
    (
        "receiver_rcvbuf_requested",
        "receiver's SO_RCVBUF requested",
        Unit::Bytes,
    ),
    ("first_send_bytes", "first send() accepted", Unit::FromKey),
    (
        "accepted_before_eagain",
        "accepted before EAGAIN",
        Unit::Bytes,
    ),
    (
        "send_calls_before_eagain",
        "send() calls before EAGAIN",
        Unit::FromKey,
    ),
    (
        "send_all_calls",
        "send-all loop: send() calls",
        Unit::FromKey,
    ),
    (
        "send_all_partial_sends",
        "send-all loop: short sends",
        Unit::FromKey,
    ),
    ("send_all_eagains", "send-all loop: EAGAINs", Unit::FromKey),
    ("received_bytes", "the receiver read in all", Unit::FromKey),
    (
        "checksum_sent",
        "FNV-1a checksum of the bytes sent",
        Unit::FromKey,
    ),
    (
        "checksum_received",
        "FNV-1a checksum of the bytes received",
        Unit::FromKey,
    ),
    // peer-close
    ("orderly_close_reads", "recv() after a FIN", Unit::FromKey),
    ("abortive_close_read", "recv() after an RST", Unit::FromKey),
    (
        "write_after_close_eof_read",
        "recv() before writing",
        Unit::FromKey,
    ),
    (
        "writes_after_close",
        "write() after the peer closed",
        Unit::FromKey,
    ),
    // timeouts
    ("hz", "kernel tick rate (HZ)", Unit::Hertz),
    ("jiffy_us", "one jiffy (1/HZ)", Unit::FromKey),
    ("recv_timeout_ms", "SO_RCVTIMEO set", Unit::FromKey),
    (
        "recv_timeout_in_kernel_us",
        "SO_RCVTIMEO read back (whole jiffies)",
        Unit::FromKey,
    ),
    (
        "recv_timer_wheel_level",
        "recv() timer: timer wheel level",
        Unit::FromKey,
    ),
    (
        "recv_timer_granularity_us",
        "recv() timer: that level's granularity",
        Unit::FromKey,
    ),
    (
        "recv_expected_min_us",
        "blocking recv() expected to wait at least",
        Unit::FromKey,
    ),
    (
        "recv_expected_max_us",
        "blocking recv() expected to wait at most",
        Unit::FromKey,
    ),
    (
        "blocking_recv_waited_us",
        "blocking recv() waited",
        Unit::FromKey,
    ),
    (
        "blocking_recv_result",
        "blocking recv() result",
        Unit::FromKey,
    ),
    (
        "nonblocking_recv_waited_us",
        "non-blocking recv() waited",
        Unit::FromKey,
    ),
    (
        "nonblocking_recv_result",
        "non-blocking recv() result",
        Unit::FromKey,
    ),
    ("connect_timeout_ms", "connect() timeout", Unit::FromKey),
    (
        "connect_expected_min_us",
        "connect() expected to wait at least",
        Unit::FromKey,
    ),
    (
        "connect_expected_max_us",
        "connect() expected to wait at most",
        Unit::FromKey,
    ),
    ("connect_waited_us", "connect() waited", Unit::FromKey),
    ("connect_result", "connect() result", Unit::FromKey),
    ("connect_target", "connect() target", Unit::FromKey),
];

/// The unit suffixes of the JSON contract, dropped from labels.
const SUFFIXES: [&str; 4] = ["_us", "_ms", "_bytes", "_percent"];

fn entry(key: &str) -> Option<&'static (&'static str, &'static str, Unit)> {
    LABELS.iter().find(|(k, _, _)| *k == key)
}

fn label(key: &str) -> String {
    if let Some((_, label, _)) = entry(key) {
        return (*label).to_string();
    }
    let bare = SUFFIXES
        .iter()
        .find_map(|suffix| key.strip_suffix(suffix))
        .unwrap_or(key);
    bare.replace('_', " ")
}

/// A figure in human units; null as "unavailable", lists comma-separated.
fn value_text(key: &str, value: &Value) -> String {
    let unit = entry(key).map_or(Unit::FromKey, |(_, _, unit)| *unit);
    match value {
        Value::Null => "unavailable".into(),
        Value::Array(items) => items
            .iter()
            .map(|item| value_text(key, item))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (unit, n.as_u64()) {
            (Unit::Knob, Some(ms)) if key.ends_with("_ms") => {
                format!("{n} ({})", human(Duration::from_millis(ms)))
            }
            (Unit::KnobBytes, Some(bytes)) => format!("{n} ({})", human_size(bytes)),
            (Unit::Bytes, Some(bytes)) => human_size(bytes),
            (Unit::Hertz, _) => format!("{n} Hz"),
            (Unit::FromKey, Some(v)) if key.ends_with("_us") => human(Duration::from_micros(v)),
            (Unit::FromKey, Some(v)) if key.ends_with("_ms") => human(Duration::from_millis(v)),
            (Unit::FromKey, Some(v)) if key.ends_with("_bytes") => human_size(v),
            _ if key.ends_with("_percent") => format!("{n}%"),
            _ => n.to_string(),
        },
        Value::Object(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_read_as_labels_and_units() {
        assert_eq!(label("blocking_recv_waited_us"), "blocking recv() waited");
        assert_eq!(
            value_text("blocking_recv_waited_us", &json!(201_266)),
            "201.3ms"
        );
        assert_eq!(
            label("tcp_abort_on_overflow"),
            "net.ipv4.tcp_abort_on_overflow"
        );
        assert_eq!(
            value_text("tcp_rto_max_ms", &json!(120_000)),
            "120000 (120.0s)"
        );
        assert_eq!(
            value_text("syn_retry_schedule_ms", &json!([1000, 2000, 67_000])),
            "1.0s, 2.0s, 67.0s"
        );
        assert_eq!(value_text("bytes", &json!(1_048_576)), "1 MiB");
        assert_eq!(value_text("udp_sent_sizes", &json!([8, 512])), "8 B, 512 B");
        assert_eq!(value_text("listen_drops", &Value::Null), "unavailable");
    }

    #[test]
    fn unknown_keys_lose_their_suffix_and_keep_its_unit() {
        assert_eq!(label("queue_wait_ms"), "queue wait");
        assert_eq!(value_text("queue_wait_ms", &json!(1500)), "1.5s");
        assert_eq!(label("fill_percent"), "fill");
        assert_eq!(value_text("fill_percent", &json!(90)), "90%");
        assert_eq!(value_text("window_bytes", &json!(65_536)), "64 KiB");
        assert_eq!(value_text("retries", &json!(3)), "3");
    }
}
