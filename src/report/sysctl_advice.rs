//! Rendering for `sysctl-advice`: the findings table with evidence, myths and the config
//! lint, or (`--format conf`) a ready-to-drop /etc/sysctl.d/ snippet.

use std::fmt::Write as _;
use std::io::{self, Write};

use comfy_table::Cell;

use super::Style;
use super::table::{level_cell, level_colour, level_mark, new_table, paint};
use super::text;
use crate::commands::sysctl_advice::era::Bound;
use crate::commands::sysctl_advice::{
    ConfAdvice, ConfigProblem, Finding, Level, SNIPPET_NAME, SysctlReport,
};

pub fn render(report: &SysctlReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    table(report, style, out)
}

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

fn table(report: &SysctlReport, style: Style, out: &mut impl Write) -> io::Result<()> {
    let width = usize::from(style.width);
    let title = paint(style, anstyle::Style::new().bold(), "sockdoc sysctl-advice");
    let first = format!(
        "{title} for role {}, network namespace {}",
        report.role,
        netns_text(report)
    );
    text::wrap_to(out, width, "", "  ", &first)?;
    if report.root != "/" {
        text::wrap_to(
            out,
            width,
            "",
            "  ",
            &format!("Read from --root {}", report.root),
        )?;
    }
    text::wrap_to(out, width, "", "  ", &summary_line(report, style))?;
    text::wrap_to(out, width, "", "  ", &kernel_line(report))?;

    let mut table = new_table(style, &["key", "current", "suggested", "level", "why"]);
    for f in &report.findings {
        table.add_row(vec![
            Cell::new(short_key(f.key.name())),
            Cell::new(f.current.as_deref().map_or("(absent)", shown_value)),
            Cell::new(suggested_text(f)),
            level_cell(style, f.level),
            Cell::new(&f.why),
        ]);
    }
    writeln!(out, "{table}")?;
    wrap_into(
        out,
        "keys are under net.ipv4 unless written in full; ip-sysctl.rst is the kernel's \
         Documentation/networking/ip-sysctl.rst",
        "  ",
        width,
    )?;

    writeln!(out)?;
    text::heading(out, style, "Why, with the live evidence")?;
    for f in &report.findings {
        let first = format!("{} ", level_mark(style, f.level));
        let line = format!(
            "{} = {} [{}]",
            f.key,
            f.current.as_deref().map_or("(absent)", shown_value),
            f.source
        );
        text::wrap_to(out, width, &first, "    ", &line)?;
        let mut text = f.reason.clone();
        if let Some(s) = &f.suggested
            && f.suggested != f.current
        {
            let _ = write!(text, " Suggested: {s}.");
        }
        wrap_into(out, &text, "    ", width)?;
        if let Some(e) = &f.evidence {
            wrap_into(out, &format!("evidence: {e}"), "    ", width)?;
        }
        if let Some(c) = &f.configured {
            let set = format!("set in {}:{} to {}", c.file, c.line, shown_value(&c.value));
            let text = match (&f.current, c.applied) {
                (_, true) => set,
                (None, false) => format!("{set}, but the kernel has no such key"),
                (Some(current), false) => format!(
                    "{set}, but the kernel has {} (see the config problems)",
                    shown_value(current)
                ),
            };
            wrap_into(out, &text, "    ", width)?;
        }
        if let Some(m) = f.myth {
            wrap_into(out, &format!("myth: {m}"), "    ", width)?;
        }
        if let Some(command) = &f.prove {
            wrap_into(out, &format!("measure it here: {command}"), "    ", width)?;
        }
    }

    write_config(report, style, width, out)?;

    if report.findings.iter().any(has_change) {
        writeln!(out)?;
        text::labelled(
            out,
            style,
            "Next:",
            &format!(
                "sockdoc sysctl-advice --role {} --format conf   (a sysctl.d snippet of the \
                 suggested values)",
                report.role
            ),
        )?;
    }
    for note in &report.notes {
        wrap_into(out, &format!("Note: {note}"), "", width)?;
    }
    Ok(())
}

fn write_config(
    report: &SysctlReport,
    style: Style,
    width: usize,
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(out)?;
    text::heading(
        out,
        style,
        "Config files, in the order `sysctl --system` applies them (later lines win)",
    )?;
    if report.config_files.is_empty() {
        text::wrap_to(
            out,
            width,
            "  ",
            "    ",
            "none under /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, \
             /usr/lib/sysctl.d, /lib/sysctl.d or /etc/sysctl.conf",
        )?;
    }
    let name_width = report
        .config_files
        .iter()
        .map(|f| f.file.chars().count())
        .max()
        .unwrap_or(0);
    for file in &report.config_files {
        let detail = match (&file.detail, file.assignments) {
            (Some(detail), _) => format!("{}: {detail}", file.status),
            (None, 1) => format!("{}, 1 assignment", file.status),
            (None, n) => format!("{}, {n} assignments", file.status),
        };
        // Details line up after the longest name while that leaves them room; a long path
        // puts its detail on the next line instead of past the edge.
        let name = format!("  {:<name_width$}  ", file.file);
        if text::display_width(&name) + MIN_DETAIL_ROOM <= width {
            let rest = " ".repeat(text::display_width(&name));
            text::wrap_to(out, width, &name, &rest, &detail)?;
        } else {
            text::wrap_to(out, width, "  ", "    ", &file.file)?;
            text::wrap_to(out, width, "    ", "    ", &detail)?;
        }
    }
    if report.config.is_empty() {
        if !report.config_files.is_empty() {
            writeln!(out, "  no problems found")?;
        }
        return Ok(());
    }
    writeln!(out)?;
    text::heading(out, style, "Config problems")?;
    for p in &report.config {
        let assignment = match (&p.key, &p.value) {
            (Some(key), Some(value)) => format!("  {key} = {}", shown_value(value)),
            _ => String::new(),
        };
        let first = format!("{} ", level_mark(style, p.level));
        text::wrap_to(
            out,
            width,
            &first,
            "    ",
            &format!("{}{assignment}", location(p)),
        )?;
        wrap_into(out, &p.problem, "    ", width)?;
    }
    Ok(())
}

/// The narrowest column a config file's detail is lined up in.
const MIN_DETAIL_ROOM: usize = 24;

/// Which kernel era the advice assumed, and why: "Kernel: tcp_tw_recycle present (older
/// than Linux 4.12); tcp_tw_reuse = 2 is loopback only (Linux 4.18+): no, default 0; ...".
/// Only the strongest marker each way is named; the JSON lists them all.
fn kernel_line(report: &SysctlReport) -> String {
    let markers = &report.kernel.markers;
    let newest = markers.iter().rev().find(|m| m.bound == Bound::Since);
    let oldest = markers.iter().find(|m| m.bound == Bound::Before);
    let dated: Vec<String> = [oldest, newest]
        .into_iter()
        .flatten()
        .map(|m| format!("{} present ({})", short_key(m.knob.name()), m.proves))
        .collect();
    let dated = if dated.is_empty() {
        "no knob here dates it".to_string()
    } else {
        dated.join(", ")
    };
    let changes: Vec<String> = report
        .kernel
        .changes
        .iter()
        .map(|c| {
            let default = c
                .default_here
                .map_or_else(|| "default unknown".to_string(), |d| format!("default {d}"));
            format!("{} (Linux {}+): {}, {default}", c.label, c.since, c.here)
        })
        .collect();
    format!("Kernel: {dated}; {}", changes.join("; "))
}

/// The suggested column: the value to set, "remove override", or "-".
fn suggested_text(f: &Finding) -> &str {
    if f.remove_override {
        "remove override"
    } else {
        f.suggested.as_deref().map_or("-", shown_value)
    }
}

/// Writes `text` word-wrapped to `width` columns, every line starting with `indent`.
fn wrap_into(out: &mut impl Write, text: &str, indent: &str, width: usize) -> io::Result<()> {
    super::text::wrap_to(out, width, indent, indent, text)
}

/// An empty value reads as `""` rather than as nothing.
fn shown_value(text: &str) -> &str {
    if text.is_empty() { "\"\"" } else { text }
}

/// `net.ipv4.tcp_tw_reuse` → `tcp_tw_reuse`; other keys stay whole.
fn short_key(key: &str) -> &str {
    key.strip_prefix("net.ipv4.").unwrap_or(key)
}

fn location(p: &ConfigProblem) -> String {
    match p.line {
        Some(line) => format!("{}:{line}", p.file),
        None => p.file.clone(),
    }
}

fn netns_text(report: &SysctlReport) -> String {
    match report.netns_initial {
        Some(true) => format!("{} (the initial one)", report.netns),
        Some(false) => format!(
            "{} (a private one: values may differ from the host)",
            report.netns
        ),
        None => format!("{} (initial or not: unknown)", report.netns),
    }
}

fn summary_line(report: &SysctlReport, style: Style) -> String {
    let s = &report.summary;
    let text = format!(
        "{} ok, {} info, {} advise, {} warn; {} config problem{}",
        s.ok,
        s.info,
        s.advise,
        s.warn,
        s.config_problems,
        if s.config_problems == 1 { "" } else { "s" }
    );
    let worst = report
        .findings
        .iter()
        .map(|f| f.level)
        .chain(report.config.iter().map(|c| c.level))
        .max()
        .unwrap_or(Level::Ok);
    paint(
        style,
        anstyle::Style::new()
            .fg_color(Some(level_colour(worst).into()))
            .bold(),
        &text,
    )
}

// ---------------------------------------------------------------------------------------
// --format conf
// ---------------------------------------------------------------------------------------

/// A finding whose suggested value differs from the current one, or whose override is to
/// be removed.
fn has_change(f: &Finding) -> bool {
    f.remove_override || (f.suggested.is_some() && f.suggested != f.current)
}

/// A sysctl.d snippet: only the keys with a suggested change, each under a comment that
/// says why; config lines to fix are listed as comments, never as settings.
pub fn conf(report: &SysctlReport, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "# /etc/sysctl.d/{SNIPPET_NAME}: written by sockdoc {} sysctl-advice --role {}",
        crate::VERSION,
        report.role
    )?;
    comment(
        out,
        &format!("Values read in network namespace {}.", netns_text(report)),
    )?;
    if report.netns_initial == Some(false) {
        comment(
            out,
            "Most of these knobs are per network namespace: for a container, set them with its \
             runtime (docker run --sysctl, Kubernetes securityContext.sysctls) instead.",
        )?;
    }
    let changes: Vec<&Finding> = report.findings.iter().filter(|f| has_change(f)).collect();
    if changes.is_empty() {
        writeln!(
            out,
            "# Nothing to change: every judged sysctl is sound for role {}.",
            report.role
        )?;
    } else {
        writeln!(out, "# Install and apply:")?;
        writeln!(
            out,
            "#   sockdoc sysctl-advice --role {} --format conf | sudo tee /etc/sysctl.d/{SNIPPET_NAME}",
            report.role
        )?;
        let width = report.conf.apply.iter().map(|c| c.command.len()).max();
        for step in &report.conf.apply {
            let width = width.unwrap_or_default();
            writeln!(out, "#   {:<width$}   # {}", step.command, step.comment)?;
        }
        for f in changes {
            writeln!(out)?;
            conf_setting(f, &report.conf, out)?;
        }
    }
    let to_fix: Vec<&ConfigProblem> = report
        .config
        .iter()
        .filter(|p| p.level >= Level::Advise)
        .collect();
    if !to_fix.is_empty() {
        writeln!(out)?;
        writeln!(out, "# Fix in the existing files:")?;
        for p in to_fix {
            let what = match (&p.key, &p.value) {
                (Some(key), Some(value)) => format!("{key} = {}: ", shown_value(value)),
                _ => String::new(),
            };
            comment(out, &format!("  {}: {what}{}", location(p), p.problem))?;
        }
    }
    Ok(())
}

/// One suggested setting under the comments that explain it. An override to remove is
/// comments only: sysctl.d has no way to unset a key, and writing the default as a number
/// would be one more override, stale once the kernel's default changes (tcp_max_tw_buckets
/// follows the hash table, which follows memory).
fn conf_setting(f: &Finding, conf: &ConfAdvice, out: &mut impl Write) -> io::Result<()> {
    if f.remove_override {
        comment(
            out,
            &format!(
                "{}: {} → remove the override ({}). {} [{}]",
                f.key,
                f.current.as_deref().map_or("absent", shown_value),
                f.level.name(),
                f.reason,
                f.source
            ),
        )?;
        return comment(
            out,
            &format!(
                "No line for {} here: the fix is deleting the override named above, not \
                 another value.",
                f.key
            ),
        );
    }
    comment(
        out,
        &format!(
            "{}: {} → {} ({}). {} [{}]",
            f.key,
            f.current.as_deref().map_or("absent", shown_value),
            f.suggested.as_deref().map_or("", shown_value),
            f.level.name(),
            f.reason,
            f.source
        ),
    )?;
    if let Some(c) = &f.configured {
        let value = shown_value(&c.value);
        let text = if applied_after(&c.file) {
            format!(
                "Warning: {}:{} sets it to {value} and is applied after this file, so this line \
                 has no effect until that one is changed or deleted.",
                c.file, c.line
            )
        } else {
            format!("Overrides {}:{}, which sets it to {value}.", c.file, c.line)
        };
        comment(out, &text)?;
    }
    let prefix = if conf.optional_keys.contains(&f.key) {
        if let Some(note) = conf.optional_note {
            comment(out, note)?;
        }
        "-"
    } else {
        ""
    };
    writeln!(
        out,
        "{prefix}{} = {}",
        f.key,
        f.suggested.as_deref().unwrap_or_default()
    )
}

/// `text` as `# ` comment lines, wrapped to the pipe width whatever the terminal: the
/// snippet is a file, and the same command should write the same file.
fn comment(out: &mut impl Write, text: &str) -> io::Result<()> {
    wrap_into(out, text, "# ", usize::from(super::PIPE_WIDTH))
}

/// Whether `file` is applied after the snippet: /etc/sysctl.conf always is (procps reads
/// it last), sysctl.d files when their name sorts after the snippet's.
fn applied_after(file: &str) -> bool {
    let name = file.rsplit('/').next().unwrap_or(file);
    file == "/etc/sysctl.conf" || name > SNIPPET_NAME
}
