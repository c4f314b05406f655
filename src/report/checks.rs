//! The check-shaped formats — JUnit XML, GitHub Actions annotations, the Prometheus textfile —
//! for every report made of checks: `check`'s own, and inspect's and sysctl-advice's findings
//! seen as checks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::commands::Report;
use crate::commands::args::FailOn;
use crate::commands::check::convert;
use crate::commands::check::model::{Check, Group, Metrics, Status};
use crate::commands::severity::Level;
use crate::{GIT_REVISION, VERSION};

/// A report's checks, the threshold they are judged at, and its live figures.
pub struct CheckSet {
    pub checks: Vec<Check>,
    pub fail_on: Option<Level>,
    pub metrics: Metrics,
}

/// The checks of `report`, or `None` for a report that is not made of checks (`lib.rs`
/// refuses those formats for such commands first).
pub fn of(report: &Report) -> Option<CheckSet> {
    let warn = Some(Level::Warn);
    Some(match report {
        Report::Check(r) => CheckSet {
            checks: r.checks.clone(),
            fail_on: level_named(r.fail_on),
            metrics: r.metrics.clone(),
        },
        Report::Inspect(r) => {
            let mut metrics = Metrics::default();
            convert::metrics_from_inspect(r, &mut metrics);
            CheckSet {
                checks: convert::from_inspect(r),
                fail_on: level_named(r.fail_on),
                metrics,
            }
        }
        Report::SysctlAdvice(r) => CheckSet {
            checks: convert::from_sysctl(r),
            fail_on: if r.check { Some(Level::Advise) } else { warn },
            metrics: Metrics::default(),
        },
        _ => return None,
    })
}

/// The threshold a report names (`fail_on`); `warn` when it names none sockdoc knows.
fn level_named(name: &str) -> Option<Level> {
    FailOn::named(name).unwrap_or(FailOn::Warn).threshold()
}

// ---------------------------------------------------------------------------------------
// JUnit
// ---------------------------------------------------------------------------------------

/// One `<testsuite>` per group, one `<testcase>` per check (classname = group, name = id
/// and subject); `<failure>` for a check failing at the threshold, `<skipped>` for one that
/// could not run; a failure below the threshold passes, its finding in `<system-out>`.
pub fn junit(set: &CheckSet, command: &str, out: &mut impl Write) -> io::Result<()> {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total = set.checks.len();
    let failures = set
        .checks
        .iter()
        .filter(|c| c.fails_at(set.fail_on))
        .count();
    let skipped = set
        .checks
        .iter()
        .filter(|c| c.status == Status::Skipped)
        .count();
    let seconds = |checks: &[&Check]| {
        checks.iter().map(|c| c.time_ms.unwrap_or(0)).sum::<u64>() as f64 / 1000.0
    };
    let all: Vec<&Check> = set.checks.iter().collect();
    let _ = writeln!(
        xml,
        "<testsuites name=\"sockdoc {}\" tests=\"{total}\" failures=\"{failures}\" errors=\"0\" \
         skipped=\"{skipped}\" time=\"{:.3}\">",
        escape(command),
        seconds(&all)
    );
    for group in Group::ALL {
        let cases: Vec<&Check> = set.checks.iter().filter(|c| c.group == group).collect();
        if cases.is_empty() {
            continue;
        }
        let failures = cases.iter().filter(|c| c.fails_at(set.fail_on)).count();
        let skipped = cases.iter().filter(|c| c.status == Status::Skipped).count();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" \
             skipped=\"{skipped}\" time=\"{:.3}\">",
            group.name(),
            cases.len(),
            seconds(&cases)
        );
        for c in cases {
            let name = match &c.subject {
                Some(subject) => format!("{} {subject}", c.id),
                None => c.id.clone(),
            };
            let _ = write!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                group.name(),
                escape(&name),
                c.time_ms.unwrap_or(0) as f64 / 1000.0
            );
            if c.fails_at(set.fail_on) {
                let message = format!("[{}] {}", c.severity.name(), c.title);
                let body = detail(c);
                let _ = write!(
                    xml,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                    escape(&message),
                    c.severity.name(),
                    escape(&body)
                );
            } else if c.status == Status::Skipped {
                let reason = c.skipped_reason.as_deref().unwrap_or("could not run");
                let _ = write!(
                    xml,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                    escape(reason)
                );
            } else if c.status == Status::Fail {
                // Below the threshold: a pass that still says what it found.
                let _ = write!(
                    xml,
                    ">\n      <system-out>{}</system-out>\n    </testcase>\n",
                    escape(&format!("[{}] {}", c.severity.name(), detail(c)))
                );
            } else {
                xml.push_str("/>\n");
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    out.write_all(xml.as_bytes())
}

/// Evidence and fix, as a failure's text.
fn detail(c: &Check) -> String {
    let mut text = c.evidence.clone();
    if let Some(fix) = &c.fix {
        let _ = write!(text, "\nFix: {fix}");
    }
    if let (Some(file), Some(line)) = (&c.file, c.line) {
        let _ = write!(text, "\nAt: {file}:{line}");
    }
    text
}

/// XML text and attribute escaping: markup characters as entities, a line feed as `&#10;` (so
/// an attribute keeps it), tab and carriage return as spaces, the other C0 control characters
/// (which XML 1.0 forbids) dropped.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\n' => escaped.push_str("&#10;"),
            '\t' | '\r' => escaped.push(' '),
            c if u32::from(c) < 0x20 => {}
            c => escaped.push(c),
        }
    }
    escaped
}

// ---------------------------------------------------------------------------------------
// GitHub Actions
// ---------------------------------------------------------------------------------------

/// `::error` for a failure at the threshold, `::warning` for one below it at advise,
/// `::notice` for info; with the file and line when the finding has them
/// (docs.github.com: "Workflow commands for GitHub Actions"). Passing checks print nothing.
pub fn github(set: &CheckSet, out: &mut impl Write) -> io::Result<()> {
    for c in set.checks.iter().filter(|c| c.status == Status::Fail) {
        let kind = if c.fails_at(set.fail_on) {
            "error"
        } else if c.severity >= Level::Advise {
            "warning"
        } else {
            "notice"
        };
        let mut properties = Vec::new();
        if let Some(file) = &c.file {
            properties.push(format!("file={}", property(file)));
            if let Some(line) = c.line {
                properties.push(format!("line={line}"));
            }
        }
        properties.push(format!("title={}", property(&format!("sockdoc {}", c.id))));
        let mut text = format!("[{}] {}", c.severity.name(), c.title);
        if let Some(subject) = &c.subject {
            let _ = write!(text, " ({subject})");
        }
        let _ = write!(text, ": {}", detail(c));
        writeln!(out, "::{kind} {}::{}", properties.join(","), message(&text))?;
    }
    let s = summary_counts(set);
    writeln!(
        out,
        "sockdoc: {} checks, {} passed, {} failed ({} at or above the threshold), {} skipped",
        s.0, s.1, s.2, s.3, s.4
    )
}

/// A workflow command's message: %, CR and LF escaped.
fn message(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value: also `:` and `,`.
fn property(text: &str) -> String {
    message(text).replace(':', "%3A").replace(',', "%2C")
}

/// (checks, passed, failed, failing at threshold, skipped).
fn summary_counts(set: &CheckSet) -> (usize, usize, usize, usize, usize) {
    let by = |status| set.checks.iter().filter(|c| c.status == status).count();
    let failing = set
        .checks
        .iter()
        .filter(|c| c.fails_at(set.fail_on))
        .count();
    (
        set.checks.len(),
        by(Status::Pass),
        by(Status::Fail),
        failing,
        by(Status::Skipped),
    )
}

/// The Markdown summary for `$GITHUB_STEP_SUMMARY`: counts, then a table of what failed.
pub fn github_summary(set: &CheckSet, command: &str) -> String {
    let (total, passed, failed, failing, skipped) = summary_counts(set);
    let mut md = format!(
        "### sockdoc {command}\n\n{total} checks: {passed} passed, {failed} failed ({failing} at \
         or above the threshold), {skipped} skipped.\n\n"
    );
    let failures: Vec<&Check> = set
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .collect();
    if !failures.is_empty() {
        md.push_str("| severity | check | where | evidence |\n|---|---|---|---|\n");
        for c in failures {
            let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | {} |",
                c.severity.name(),
                c.id,
                cell(c.subject.as_deref().unwrap_or("")),
                cell(&c.evidence)
            );
        }
    }
    md
}

// ---------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------

/// The text exposition format (prometheus.io/docs/instrumenting/exposition_formats) for
/// node_exporter's textfile collector: HELP and TYPE for every family, base units, one
/// series per check id (the worst result when a check has several subjects), and labelled
/// gauges cut to a bounded number of series.
pub fn prometheus(set: &CheckSet, out: &mut impl Write) -> io::Result<()> {
    let mut text = String::new();
    family(
        &mut text,
        "sockdoc_check_status",
        "1 when the check failed (severity says how badly), 0 when it passed; skipped checks \
         are left out.",
    );
    let mut worst: BTreeMap<(&str, Group), Level> = BTreeMap::new();
    for c in set.checks.iter().filter(|c| c.status != Status::Skipped) {
        let slot = worst.entry((c.id.as_str(), c.group)).or_insert(Level::Ok);
        if c.status == Status::Fail && c.severity > *slot {
            *slot = c.severity;
        }
    }
    for ((id, group), level) in &worst {
        let _ = writeln!(
            text,
            "sockdoc_check_status{{id=\"{}\",group=\"{}\",severity=\"{}\"}} {}",
            label(id),
            group.name(),
            level.name(),
            u8::from(*level != Level::Ok)
        );
    }
    gauges(&mut text, &set.metrics);
    family(
        &mut text,
        "sockdoc_build_info",
        "The sockdoc that wrote this file.",
    );
    let _ = writeln!(
        text,
        "sockdoc_build_info{{version=\"{}\",revision=\"{}\"}} 1",
        label(VERSION),
        label(GIT_REVISION)
    );
    family(
        &mut text,
        "sockdoc_last_run_timestamp_seconds",
        "When sockdoc wrote this file (Unix time).",
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let _ = writeln!(text, "sockdoc_last_run_timestamp_seconds {now:.3}");
    out.write_all(text.as_bytes())
}

/// The live figures; each labelled family was cut to a bounded number of series upstream.
fn gauges(text: &mut String, m: &Metrics) {
    if let Some(n) = m.time_wait_sockets {
        family(
            text,
            "sockdoc_time_wait_sockets",
            "TIME_WAIT sockets in the examined network namespace.",
        );
        let _ = writeln!(text, "sockdoc_time_wait_sockets {n}");
    }
    if !m.port_budget_used_ratio.is_empty() {
        family(
            text,
            "sockdoc_port_budget_used_ratio",
            "Share of the usable ephemeral ports held by TIME_WAIT toward one destination (the busiest).",
        );
        for r in &m.port_budget_used_ratio {
            let _ = writeln!(
                text,
                "sockdoc_port_budget_used_ratio{{dst=\"{}\"}} {}",
                label(&r.label),
                r.ratio
            );
        }
    }
    if !m.accept_queue_fill_ratio.is_empty() {
        family(
            text,
            "sockdoc_accept_queue_fill_ratio",
            "Connections waiting for accept() divided by the accept queue's capacity (backlog + 1).",
        );
        for r in &m.accept_queue_fill_ratio {
            let _ = writeln!(
                text,
                "sockdoc_accept_queue_fill_ratio{{listener=\"{}\"}} {}",
                label(&r.label),
                r.ratio
            );
        }
    }
    if !m.close_wait_sockets.is_empty() {
        family(
            text,
            "sockdoc_close_wait_sockets",
            "CLOSE_WAIT sockets held by a process (name/pid).",
        );
        for c in &m.close_wait_sockets {
            let _ = writeln!(
                text,
                "sockdoc_close_wait_sockets{{process=\"{}\"}} {}",
                label(&c.label),
                c.count
            );
        }
    }
    if let Some(seconds) = m.nagle_stall_seconds {
        family(
            text,
            "sockdoc_nagle_stall_seconds",
            "Measured Nagle/delayed-ACK stall on loopback (p50 of the stalled rounds).",
        );
        let _ = writeln!(text, "sockdoc_nagle_stall_seconds {seconds}");
    }
}

fn family(text: &mut String, name: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// A label value: backslash, double quote and line feed escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_and_workflow_text_are_escaped() {
        assert_eq!(escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(message("50%\nnext"), "50%25%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(label("x\"y\\z\n"), "x\\\"y\\\\z\\n");
    }
}
