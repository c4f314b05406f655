//! The `sockets --summary` tables: counts by state, TIME_WAIT per destination against the
//! port budget, filling accept queues and CLOSE_WAIT owners.

use std::io::{self, Write};
use std::time::Duration;

use comfy_table::Cell;

use super::super::Style;
use super::super::table::new_table;
use super::super::text;
use crate::commands::sockets::Summary;
use crate::sys::ports::Level;
use crate::units::{count, human};

pub(super) fn write_summary(
    out: &mut dyn Write,
    style: Style,
    summary: &Summary,
) -> io::Result<()> {
    text::heading(out, style, "Sockets by state")?;
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
            "TIME_WAIT holding ephemeral ports, per destination: {} of {} TIME_WAIT; {} per \
             destination (ip_local_port_range {range}, {} reserved in it)",
            p.time_wait_in_range,
            summary.time_wait,
            count(p.budget.usable, "usable port"),
            p.budget.reserved_in_range
        ),
        (None, Some(usable)) => format!(
            "TIME_WAIT holding ephemeral ports, per destination: {} per destination \
             (ip_local_port_range {range})",
            count(usable, "usable port")
        ),
        (None, None) => format!(
            "TIME_WAIT: {} in all; port budget unknown (ip_local_port_range {range})",
            summary.time_wait
        ),
    };
    writeln!(out)?;
    text::heading(out, style, &heading_text)?;
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
        text::wrap(out, style, "  ", "  ", &p.reason)?;
    }

    write_accept_queues(out, style, summary)?;
    write_close_wait(out, style, summary)?;
    if summary.findings.is_empty() {
        writeln!(out, "\nNothing needs action.")?;
    }
    for finding in &summary.findings {
        writeln!(out)?;
        text::labelled(out, style, "Finding:", finding)?;
    }
    Ok(())
}

/// Listeners whose accept queue holds connections, against what it can hold.
fn write_accept_queues(out: &mut dyn Write, style: Style, summary: &Summary) -> io::Result<()> {
    writeln!(out)?;
    text::heading(
        out,
        style,
        "Listeners with connections waiting for accept()",
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
    Ok(())
}

/// CLOSE_WAIT sockets per process, with the process's descriptors against its limit.
fn write_close_wait(out: &mut dyn Write, style: Style, summary: &Summary) -> io::Result<()> {
    writeln!(out)?;
    text::heading(out, style, "CLOSE_WAIT per process")?;
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
