//! The human report of `nagle`: the request/response latencies, the burst's segments and
//! reads, the attribution per mode, the verdict and the fix.

use std::io::{self, Write};
use std::time::Duration;

use comfy_table::{Cell, CellAlignment};

use super::Style;
use super::table::{good_bad, mark_cell, new_table, paint};
use super::text;
use crate::commands::nagle::{ModeReport, NagleReport, round_ranges};
use crate::units::{count, human};

pub fn render(report: &NagleReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let autocorking = report
        .tcp_autocorking
        .as_deref()
        .map_or_else(|| "absent".to_string(), str::to_string);
    let title = paint(style, anstyle::Style::new().bold(), "sockdoc nagle");
    text::wrap(
        out,
        style,
        "",
        "  ",
        &format!(
            "{title} on {}, port {} (net.ipv4.tcp_autocorking = {autocorking})",
            report.address, report.port
        ),
    )?;
    let Some(first) = report.modes.first() else {
        return Ok(());
    };
    write_request_response(report, first, style, out)?;
    write_burst(report, first, style, out)?;
    writeln!(out)?;
    text::heading(out, style, "Attribution")?;
    for m in &report.modes {
        text::wrap(
            out,
            style,
            &format!("  {}: ", mode_label(m)),
            "    ",
            &m.attribution,
        )?;
    }
    writeln!(out)?;
    text::labelled(out, style, "Verdict:", &report.verdict)?;
    text::labelled(out, style, "Fix:", &report.fix)?;
    text::notes(out, style, &report.notes)
}

fn mode_label(m: &ModeReport) -> String {
    let mut label = String::from(if m.nodelay { "TCP_NODELAY" } else { "Nagle on" });
    if m.cork {
        label.push_str(" + CORK");
    }
    if m.quickack {
        label.push_str(" + QUICKACK");
    }
    label
}

/// Round ranges cut to the first three, for a table cell.
fn short_ranges(numbers: &[u32]) -> String {
    let all = round_ranges(numbers);
    let parts: Vec<&str> = all.split(", ").collect();
    if parts.len() > 3 {
        format!("{}, …", parts[..3].join(", "))
    } else {
        all
    }
}

fn counter(value: Option<u64>) -> String {
    value.map_or_else(|| "unavailable".into(), |n| n.to_string())
}

/// Experiment 1: the write-write-read latencies per mode, and the --max-p99 verdicts.
fn write_request_response(
    report: &NagleReport,
    first: &ModeReport,
    style: Style,
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(out)?;
    // Modes that stall run fewer rounds by default: name each count once.
    let mut rounds: Vec<u32> = report.modes.iter().map(|m| m.rounds).collect();
    rounds.sort_unstable();
    rounds.dedup();
    let rounds = match rounds.as_slice() {
        [one] => count(*one, "round"),
        several => format!(
            "{} rounds per mode",
            several
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    };
    text::heading(
        out,
        style,
        &format!(
            "Request/response: header and body as two send() calls, then the reply ({rounds} \
             after {})",
            count(first.warmup, "warm-up")
        ),
    )?;
    let mut table = new_table(
        style,
        &[
            "mode",
            "p50",
            "p90",
            "p99",
            "max",
            "stalled",
            "fast",
            "DelayedACKs",
            "predicted",
            "",
        ],
    );
    for m in &report.modes {
        let us = |v: u64| human(Duration::from_micros(v));
        table.add_row(vec![
            Cell::new(mode_label(m)),
            Cell::new(us(m.rtt_p50_us)).set_alignment(CellAlignment::Right),
            Cell::new(us(m.rtt_p90_us)).set_alignment(CellAlignment::Right),
            Cell::new(us(m.rtt_p99_us)).set_alignment(CellAlignment::Right),
            Cell::new(us(m.rtt_max_us)).set_alignment(CellAlignment::Right),
            Cell::new(format!("{}/{}", m.stalled_rounds, m.rounds)),
            Cell::new(short_ranges(&m.per_round.fast)),
            Cell::new(counter(m.rr_counters.DelayedACKs)),
            Cell::new(short_ranges(&m.per_round.expected_stalled)),
            mark_cell(style, m.matches),
        ]);
    }
    writeln!(out, "{table}")?;
    let thresh = report
        .tcp_pingpong_thresh
        .map_or_else(|| "absent, counted as 1".to_string(), |n| n.to_string());
    text::wrap(
        out,
        style,
        "  ",
        "  ",
        &format!(
            "stalled: measured rounds ≥ 20 ms; fast: rounds under 20 ms and predicted: rounds \
             the receiver's pingpong count (net.ipv4.tcp_pingpong_thresh = {thresh}) predicts to \
             stall, numbered from 1, warm-up first; DelayedACKs: the kernel counter's rise over \
             all rounds"
        ),
    )?;
    if let Some(max) = report.max_p99_us {
        for m in &report.modes {
            let over = m.rtt_p99_us > max;
            text::wrap(
                out,
                style,
                "  ",
                "    ",
                &format!(
                    "--max-p99 {}: {} p99 {} {}",
                    human(Duration::from_micros(max)),
                    mode_label(m),
                    human(Duration::from_micros(m.rtt_p99_us)),
                    good_bad(style, !over, if over { "EXCEEDED" } else { "ok" })
                ),
            )?;
        }
    }
    Ok(())
}

/// Experiment 2: segments sent, reads needed, boundaries lost and recovered by framing.
fn write_burst(
    report: &NagleReport,
    first: &ModeReport,
    style: Style,
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(out)?;
    text::heading(
        out,
        style,
        &format!(
            "Burst: {} of {} back to back",
            count(first.burst.writes, "write"),
            count(first.burst.write_size, "byte")
        ),
    )?;
    let mut table = new_table(
        style,
        &[
            "mode",
            "segments sent",
            "cwnd",
            "recv() calls",
            "largest read",
            "boundaries lost",
            "framed: recovered",
            "TCPAutoCorking",
        ],
    );
    for m in &report.modes {
        let b = &m.burst;
        table.add_row(vec![
            Cell::new(mode_label(m)),
            Cell::new(counter(b.data_segments)),
            Cell::new(format!(
                "{}→{}",
                counter(b.sender_cwnd_before.map(u64::from)),
                counter(b.sender_cwnd_after.map(u64::from))
            )),
            Cell::new(b.reads),
            Cell::new(format!("{} B", b.max_read)),
            Cell::new(format!("{}/{}", b.boundaries_lost, b.writes)),
            Cell::new(format!("{}/{}", b.framed_recovered, b.writes)),
            Cell::new(counter(m.burst_counters.TCPAutoCorking)),
        ]);
    }
    writeln!(out, "{table}")?;
    text::wrap(
        out,
        style,
        "  ",
        "  ",
        "segments sent: TCP_INFO tcpi_data_segs_out on the sender; cwnd: its tcpi_snd_cwnd \
         before the first write → once the reader had every byte; framed: the same stream with a \
         4-byte big-endian length prefix",
    )
}
