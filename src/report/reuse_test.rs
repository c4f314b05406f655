//! The human report of `reuse-test`: the verdict first in one line, then the evidence step
//! by step, then the verdict and the fix in full where the eye lands.

use std::io::{self, Write};
use std::time::Duration;

use comfy_table::{Cell, CellAlignment};

use super::Style;
use super::table::{good_bad, mark_cell, new_table, paint};
use super::text;
use crate::commands::reuse_test::{Api, HolderState, PortStatus, ReuseOption, ReuseReport, Trial};
use crate::units::human;

pub fn render(report: &ReuseReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let port_text = match report.requested_port {
        Some(port) => format!("port {port}"),
        None => format!("ephemeral port {}", report.port),
    };
    let title = paint(style, anstyle::Style::new().bold(), "sockdoc reuse-test");
    text::wrap(
        out,
        style,
        "",
        "  ",
        &format!("{title} on {}, {port_text}", report.address),
    )?;
    text::wrap(out, style, "", "", &summary_line(report, style))?;

    write_occupants(report, style, out)?;
    write_reproduction(report, style, out)?;
    write_matrix(report, style, out)?;
    write_wait(report, style, out)?;
    writeln!(out)?;
    text::labelled(out, style, "Verdict:", &report.verdict)?;
    text::labelled(out, style, "Fix:", &report.fix)?;
    text::notes(out, style, &report.notes)
}

/// Step 1: the sockets found on the requested port.
fn write_occupants(report: &ReuseReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    if let Some(port) = report.requested_port {
        let status = port_status_text(report.port_status);
        writeln!(out)?;
        text::heading(out, style, &format!("Who holds port {port}: {status}"))?;
        if report.occupants.is_empty() {
            text::wrap(
                out,
                style,
                "  ",
                "    ",
                &format!("nobody: no TCP socket uses port {port}"),
            )?;
        } else {
            let mut table = new_table(
                style,
                &[
                    "state",
                    "local",
                    "remote",
                    "timer",
                    "uid",
                    "pid",
                    "process",
                    "conflicts",
                ],
            );
            for o in &report.occupants {
                table.add_row(vec![
                    Cell::new(o.state),
                    Cell::new(&o.local),
                    Cell::new(&o.remote),
                    Cell::new(
                        o.expires_ms
                            .map_or_else(|| "-".into(), |ms| human(Duration::from_millis(ms))),
                    ),
                    // The kernel reports no owner for TIME_WAIT: "-", not a 0 that reads as root.
                    Cell::new(o.uid.map_or_else(|| "-".into(), |u| u.to_string())),
                    Cell::new(o.pid.map_or_else(|| "-".into(), |p| p.to_string())),
                    Cell::new(o.process.as_deref().unwrap_or("-")),
                    Cell::new(if o.conflicts { "yes" } else { "no" }),
                ]);
            }
            writeln!(out, "{table}")?;
        }
        if let Some(probe) = &report.time_wait_probe {
            for (option, outcome, had) in [
                (
                    ReuseOption::ReuseAddr,
                    probe.bind_with_reuseaddr,
                    probe.old_had_reuseaddr,
                ),
                (
                    ReuseOption::ReusePort,
                    probe.bind_with_reuseport,
                    probe.old_had_reuseport,
                ),
            ] {
                text::wrap(
                    out,
                    style,
                    "  ",
                    "    ",
                    &format!(
                        "bind() probe with {option}: {} → the old sockets {} {option}",
                        good_bad(style, had, &format!("{outcome:<10}")),
                        if had { "had" } else { "lacked" }
                    ),
                )?;
            }
        }
    }
    Ok(())
}

/// Step 2: TIME_WAIT → EADDRINUSE reproduced.
fn write_reproduction(report: &ReuseReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    if let Some(repro) = &report.reproduction {
        writeln!(out)?;
        text::heading(out, style, &format!("Reproduction on port {}", repro.port))?;
        let server_end = match (repro.server_state, repro.expires_ms) {
            (Some(state), Some(ms)) => {
                format!("{state} (expires in {})", human(Duration::from_millis(ms)))
            }
            (Some(state), None) => state.to_string(),
            (None, _) => "gone (no TIME_WAIT)".into(),
        };
        text::wrap(
            out,
            style,
            "  ",
            "    ",
            &format!(
                "server {} closed first, client {} second → server side {server_end}",
                repro.server, repro.client
            ),
        )?;
        text::wrap(
            out,
            style,
            "  ",
            "    ",
            &format!(
                "new bind() without SO_REUSEADDR → {} the error a restarting server hits",
                good_bad(
                    style,
                    false,
                    &format!("{:<11}", repro.bind_without_reuseaddr)
                )
            ),
        )?;
        text::wrap(
            out,
            style,
            "  ",
            "    ",
            &format!(
                "new bind() with SO_REUSEADDR    → {} the fix",
                good_bad(style, true, &format!("{:<11}", repro.bind_with_reuseaddr))
            ),
        )?;
        for tw in &report.time_wait {
            text::wrap(
                out,
                style,
                "  ",
                "    ",
                &format!(
                    "TIME_WAIT {} ↔ {}, expires in {}",
                    tw.local,
                    tw.remote,
                    human(Duration::from_millis(tw.expires_ms))
                ),
            )?;
        }
    }
    Ok(())
}

/// Step 3: the bind-rule matrix and the rule each trial measured.
fn write_matrix(report: &ReuseReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    if !report.trials.is_empty() {
        writeln!(out)?;
        text::heading(
            out,
            style,
            "Bind-rule matrix (each trial on a fresh ephemeral port; options read back from the \
             kernel)",
        )?;
        let mut table = new_table(
            style,
            &[
                "#",
                "trial",
                "holder",
                "old socket",
                "new socket",
                "measured",
                "expected",
                "",
            ],
        );
        for (i, t) in report.trials.iter().enumerate() {
            table.add_row(vec![
                Cell::new(i + 1).set_alignment(CellAlignment::Right),
                Cell::new(t.name),
                Cell::new(holder_text(t.holder)),
                Cell::new(options_text(t.old_api, t.old_reuseaddr, t.old_reuseport)),
                Cell::new(options_text(t.new_api, t.new_reuseaddr, t.new_reuseport)),
                Cell::new(t.outcome),
                Cell::new(t.expected),
                mark_cell(style, t.matches),
            ]);
        }
        writeln!(out, "{table}")?;
        text::wrap(
            out,
            style,
            "  ",
            "  ",
            "old/new socket: options read back from each socket; - = none, std = made by \
             std::net::TcpListener::bind",
        )?;
        writeln!(out)?;
        text::heading(out, style, "Rules measured")?;
        for (i, t) in report.trials.iter().enumerate() {
            write_trial_rule(out, style, i + 1, t, &report.fix)?;
        }
        if let Some(d) = &report.std_listener_defaults {
            text::wrap(
                out,
                style,
                "  ",
                "  ",
                &format!(
                    "std::net::TcpListener::bind left SO_REUSEADDR {} and SO_REUSEPORT {} (read \
                     back); a raw socket2 socket sets neither.",
                    on_off(d.reuseaddr),
                    on_off(d.reuseport)
                ),
            )?;
        }
    }
    Ok(())
}

/// Step 4: the TIME_WAIT lifetime from --wait.
fn write_wait(report: &ReuseReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    if let Some(wait) = &report.wait {
        writeln!(out)?;
        text::heading(out, style, "TIME_WAIT lifetime (--wait)")?;
        let lived = format!(
            "{} ↔ {}: lived {} (Linux: TCP_TIMEWAIT_LEN = {}, fired up to {} late by \
             timer-wheel rounding) {}",
            wait.local,
            wait.remote,
            human(Duration::from_millis(wait.lifetime_ms)),
            human(Duration::from_millis(wait.expected_ms)),
            human(Duration::from_millis(wait.timer_rounding_max_ms)),
            good_bad(
                style,
                wait.matches,
                if wait.matches { "✓" } else { "✗ MISMATCH" }
            )
        );
        text::wrap(out, style, "  ", "    ", &lived)?;
        text::wrap(
            out,
            style,
            "  ",
            "    ",
            &format!(
                "net.ipv4.tcp_fin_timeout = {}: it bounds orphaned FIN_WAIT2, not TIME_WAIT",
                wait.tcp_fin_timeout_s
                    .map_or_else(|| "unreadable".into(), |s| format!("{s} s"))
            ),
        )?;
    }
    Ok(())
}

fn write_trial_rule(
    out: &mut impl Write,
    style: Style,
    number: usize,
    t: &Trial,
    main_fix: &str,
) -> io::Result<()> {
    const INDENT: &str = "      ";
    text::wrap(
        out,
        style,
        &format!("  {number:>2}. "),
        INDENT,
        &format!("{} [{}]", t.rule, t.source),
    )?;
    for e in &t.evidence {
        text::wrap(out, style, INDENT, "        ", &format!("measured: {e}"))?;
    }
    if let Some(step) = t.failed_step {
        text::wrap(
            out,
            style,
            INDENT,
            "        ",
            &format!("measured: {} from {step}() on {}", t.outcome, t.new_address),
        )?;
    }
    // The common fix is printed once at the end; only a trial-specific one is shown here.
    if t.fix != main_fix {
        text::wrap(out, style, INDENT, "        ", &format!("fix: {}", t.fix))?;
    }
    Ok(())
}

/// The first thing a reader sees: reproduced or not, and how many rules matched.
fn summary_line(report: &ReuseReport, style: Style) -> String {
    let matched = report.trials.iter().filter(|t| t.matches).count();
    let total = report.trials.len();
    let reproduced = report.reproduction.as_ref().is_some_and(|r| r.reproduced);
    let repro = match &report.reproduction {
        Some(r) if r.reproduced => format!(
            "Reproduced TIME_WAIT → EADDRINUSE on port {}, cured by SO_REUSEADDR",
            r.port
        ),
        Some(r) => format!(
            "Could not reproduce TIME_WAIT → EADDRINUSE on port {}",
            r.port
        ),
        None if report.port_changed_during_run => format!(
            "Port {} changed hands during the run: nothing was judged",
            report.port
        ),
        None => format!(
            "Port {} is held by a live socket: nothing was run",
            report.port
        ),
    };
    let trials = if total == 0 {
        String::new()
    } else {
        format!("; {matched}/{total} bind rules match this kernel")
    };
    good_bad(
        style,
        reproduced && matched == total,
        &format!("{repro}{trials}"),
    )
}

fn holder_text(holder: HolderState) -> &'static str {
    match holder {
        HolderState::TimeWait => "TIME_WAIT",
        HolderState::Listen => "LISTEN",
        HolderState::None => "none",
    }
}

fn options_text(api: Api, reuseaddr: bool, reuseport: bool) -> String {
    let flags: Vec<&str> = [(reuseaddr, "REUSEADDR"), (reuseport, "REUSEPORT")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    let flags = if flags.is_empty() {
        "-".to_string()
    } else {
        flags.join("+")
    };
    match api {
        Api::Socket2 => flags,
        Api::Std => format!("std {flags}"),
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn port_status_text(status: PortStatus) -> &'static str {
    match status {
        PortStatus::Free => "free",
        PortStatus::TimeWaitOnly => "TIME_WAIT only",
        PortStatus::Held => "held by a live socket",
        PortStatus::OtherAddress => "used on other addresses only",
    }
}
