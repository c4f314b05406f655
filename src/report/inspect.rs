//! Rendering for `inspect`: what was examined, a summary per process and per listener, the
//! findings (table, then each with evidence, mechanism, fix and the lesson), what could not
//! be judged, and (`--sockets`) every socket.

use std::io::{self, Write};

use comfy_table::Cell;

use super::Style;
use super::table::{level_cell, level_mark, new_table, paint};
use super::text;
use crate::commands::inspect::{InspectReport, Options, SocketView};
use crate::units::{count, human, human_size};

pub fn render(report: &InspectReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let width = usize::from(style.width);
    let title = paint(style, anstyle::Style::new().bold(), "sockdoc inspect");
    text::wrap_to(
        out,
        width,
        "",
        "  ",
        &format!("{title} {}", target_text(report)),
    )?;
    text::wrap_to(out, width, "", "  ", &scope_line(report))?;
    if let Some(why) = &report.fallback_reason {
        text::wrap_to(out, width, "", "  ", why)?;
    }

    processes(report, style, out)?;
    listeners(report, style, out)?;
    if report.list_sockets && !report.sockets.is_empty() {
        writeln!(out)?;
        text::heading(out, style, "Sockets")?;
        sockets_table(report, style, out)?;
    }

    findings(report, style, out)?;
    not_judged(report, style, out)?;
    for note in &report.notes {
        writeln!(out)?;
        text::wrap_to(out, width, "Note: ", "  ", note)?;
    }
    Ok(())
}

fn processes(report: &InspectReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let width = usize::from(style.width);
    if !report.processes.is_empty() {
        writeln!(out)?;
        text::heading(out, style, "Processes")?;
        let mut table = new_table(
            style,
            &[
                "pid",
                "process",
                "sockets",
                "states",
                "fds / limit",
                "options",
            ],
        );
        for p in &report.processes {
            let states: Vec<String> = p
                .by_state
                .iter()
                .map(|(state, n)| format!("{n} {state}"))
                .collect();
            let fds = match (p.fds, p.fd_limit) {
                (Some(fds), Some(limit)) => format!("{fds} / {limit}"),
                (Some(fds), None) => fds.to_string(),
                _ => "?".to_owned(),
            };
            let options = match (&p.options_unknown_reason, p.options_read) {
                _ if p.sockets == 0 => "-".to_owned(),
                (None, _) => "read".to_owned(),
                (Some(_), 0) => "unknown (below)".to_owned(),
                (Some(_), n) => format!("{n} read, some unknown"),
            };
            table.add_row(vec![
                Cell::new(p.pid),
                Cell::new(&p.process),
                Cell::new(p.sockets),
                Cell::new(states.join(", ")),
                Cell::new(fds),
                Cell::new(options),
            ]);
        }
        writeln!(out, "{table}")?;
        for p in &report.processes {
            if let Some(reason) = &p.options_unknown_reason
                && p.options_read == 0
            {
                let line = format!("Options of {} (pid {}) unknown: {reason}", p.process, p.pid);
                text::wrap_to(out, width, "  ", "    ", &line)?;
            }
        }
    }

    Ok(())
}

fn listeners(report: &InspectReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    if !report.listeners.is_empty() {
        writeln!(out)?;
        text::heading(out, style, "Listeners")?;
        let mut table = new_table(
            style,
            &[
                "local",
                "process",
                "backlog",
                "queued",
                "SO_REUSEADDR",
                "SO_REUSEPORT",
            ],
        );
        for l in &report.listeners {
            let who = match (&l.process, l.pid) {
                (Some(name), Some(pid)) => format!("{name} ({pid})"),
                _ => "?".to_owned(),
            };
            table.add_row(vec![
                Cell::new(l.local),
                Cell::new(who),
                Cell::new(l.backlog.map_or("?".to_owned(), |b| b.to_string())),
                Cell::new(l.queued),
                Cell::new(flag(l.reuseaddr)),
                Cell::new(flag(l.reuseport)),
            ]);
        }
        writeln!(out, "{table}")?;
    }

    Ok(())
}

fn findings(report: &InspectReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let width = usize::from(style.width);
    writeln!(out)?;
    let s = &report.summary;
    text::heading(
        out,
        style,
        &format!(
            "Findings: {} warn, {} advise, {} info",
            s.warn, s.advise, s.info
        ),
    )?;
    if report.findings.is_empty() {
        text::wrap_to(out, width, "  ", "  ", "Nothing found.")?;
    } else {
        let mut table = new_table(style, &["severity", "finding", "where", "sockets"]);
        for f in &report.findings {
            let place = match (&f.process, f.pid, &f.local) {
                (Some(name), Some(pid), Some(local)) => format!("{name} ({pid}) {local}"),
                (Some(name), Some(pid), None) => format!("{name} ({pid})"),
                (_, _, Some(local)) => local.clone(),
                _ => "namespace".to_owned(),
            };
            table.add_row(vec![
                level_cell(style, f.severity),
                Cell::new(f.id.name()),
                Cell::new(place),
                Cell::new(f.sockets),
            ]);
        }
        writeln!(out, "{table}")?;
        for f in &report.findings {
            writeln!(out)?;
            let first = format!("{} {} ", level_mark(style, f.severity), f.id.name());
            text::wrap_to(out, width, &first, "    ", &f.evidence)?;
            text::wrap_to(out, width, "  Why: ", "    ", &f.mechanism)?;
            text::wrap_to(out, width, "  Fix: ", "    ", &f.fix)?;
            if let Some(command) = &f.reproduce {
                text::wrap_to(out, width, "  Reproduce: ", "    ", command)?;
            }
        }
    }

    Ok(())
}

fn not_judged(report: &InspectReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let width = usize::from(style.width);
    if !report.not_judged.is_empty() {
        writeln!(out)?;
        text::heading(out, style, "Not judged")?;
        for n in &report.not_judged {
            let who = match (&n.process, n.pid) {
                (Some(name), Some(pid)) => format!("{name} (pid {pid})"),
                _ => "sockets without a known holder".to_owned(),
            };
            let line = format!(
                "{}: {} of {who}: {}",
                n.id.name(),
                count(n.sockets, "socket"),
                n.reason
            );
            text::wrap_to(out, width, "  ", "    ", &line)?;
        }
    }
    Ok(())
}

fn target_text(report: &InspectReport) -> String {
    let t = &report.target;
    let mut parts = Vec::new();
    if !t.pids.is_empty() {
        let pids: Vec<String> = t.pids.iter().map(u32::to_string).collect();
        parts.push(format!(
            "{} {}",
            if t.pids.len() == 1 {
                "process"
            } else {
                "processes"
            },
            pids.join(", ")
        ));
    }
    if let Some(port) = t.port {
        parts.push(format!("port {port}"));
    }
    if parts.is_empty() {
        parts.push("every socket".to_owned());
    }
    parts.join(", ")
}

fn scope_line(report: &InspectReport) -> String {
    let netns = report.netns.as_deref().unwrap_or("an unknown namespace");
    let entered = report
        .netns_entered
        .as_ref()
        .map(|path| format!(" (entered {path})"))
        .unwrap_or_default();
    let sampled = match report.sampled_for_ms {
        0 => "one snapshot".to_owned(),
        ms => format!(
            "sampled twice, {} apart",
            human(std::time::Duration::from_millis(ms))
        ),
    };
    format!(
        "Network namespace {netns}{entered}; {} in {}, {}, {sampled}; somaxconn {}",
        count(report.summary.sockets, "socket"),
        count(report.summary.processes, "process"),
        count(report.summary.time_wait, "TIME_WAIT socket"),
        report
            .somaxconn
            .map_or("unknown".to_owned(), |n| n.to_string())
    )
}

fn flag(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "on",
        Some(false) => "off",
        None => "unknown",
    }
}

fn sockets_table(report: &InspectReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let mut table = new_table(
        style,
        &[
            "pid/fd", "state", "local", "remote", "recv-q", "send-q", "options",
        ],
    );
    for s in &report.sockets {
        // A listener's queues are connections waiting for accept() and its backlog.
        let (recv_q, send_q) = match s.backlog {
            Some(backlog) => (format!("{} queued", s.recv_q), format!("backlog {backlog}")),
            None => (
                human_size(u64::from(s.recv_q)),
                human_size(u64::from(s.send_q)),
            ),
        };
        table.add_row(vec![
            Cell::new(holder(s)),
            Cell::new(s.state),
            Cell::new(s.local),
            Cell::new(s.remote),
            Cell::new(recv_q),
            Cell::new(send_q),
            Cell::new(options_text(s)),
        ]);
    }
    writeln!(out, "{table}")
}

fn holder(s: &SocketView) -> String {
    match (s.pid, s.fd) {
        (Some(pid), Some(fd)) if s.other_holders.is_empty() => format!("{pid}/{fd}"),
        (Some(pid), Some(fd)) => format!("{pid}/{fd} +{}", s.other_holders.len()),
        _ => "-".to_owned(),
    }
}

/// The options that are on, ss-style: `reuseaddr nodelay linger=0s keepalive=60s`.
fn options_text(s: &SocketView) -> String {
    if s.options_unknown_reason.is_some() {
        return "unknown".to_owned();
    }
    let o: &Options = &s.options;
    let mut on = Vec::new();
    for (value, name) in [
        (o.reuseaddr, "reuseaddr"),
        (o.reuseport, "reuseport"),
        (o.nodelay, "nodelay"),
        (o.cork, "cork"),
        (o.nonblocking, "nonblock"),
        (o.bind_address_no_port, "bind-no-port"),
    ] {
        if value == Some(true) {
            on.push(name.to_owned());
        }
    }
    if o.linger_on == Some(true) {
        on.push(format!("linger={}s", o.linger_s.unwrap_or(0)));
    }
    if o.keepalive == Some(true) {
        on.push(match o.keepalive_idle_s {
            Some(idle) => format!("keepalive={idle}s"),
            None => "keepalive".to_owned(),
        });
    }
    if let Some(ms) = o.user_timeout_ms.filter(|&ms| ms > 0) {
        on.push(format!("user-timeout={ms}ms"));
    }
    if on.is_empty() {
        "-".to_owned()
    } else {
        on.join(" ")
    }
}
