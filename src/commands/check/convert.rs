//! Other commands' reports as checks: the lessons' measurements against documented behaviour
//! (group `kernel`), sysctl-advice's findings (`sysctl`), inspect's findings (`inspect`), and
//! inspect's live figures as metrics.

use super::model::{Check, Group, LabelledCount, LabelledRatio, Metrics, Status, TOP_SERIES};
use crate::commands::inspect::InspectReport;
use crate::commands::nagle::NagleReport;
use crate::commands::reuse_test::ReuseReport;
use crate::commands::scenario::ScenarioReport;
use crate::commands::severity::Level;
use crate::commands::sysctl_advice::SysctlReport;

/// A kernel that disagrees with its documented behaviour: everything built on the
/// documentation (sockdoc's advice included) is wrong on this host.
const MISMATCH: Level = Level::Warn;

/// `SO_REUSEADDR on both, TIME_WAIT holder` → `so-reuseaddr-on-both-time-wait-holder`.
pub fn slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

pub fn from_reuse(report: &ReuseReport) -> Vec<Check> {
    report
        .trials
        .iter()
        .map(|t| {
            let check = Check::new(
                format!("kernel.bind.{}", slug(t.name)),
                Group::Kernel,
                format!("bind() rule: {}", t.name),
            )
            .evidence(format!(
                "expected {:?}, measured {:?} ({})",
                t.expected, t.outcome, t.rule
            ))
            .fix(t.fix);
            check.judged(if t.matches { Level::Ok } else { MISMATCH })
        })
        .collect()
}

pub fn from_scenario(report: &ScenarioReport) -> Vec<Check> {
    report
        .checks
        .iter()
        .map(|c| {
            Check::new(
                format!("kernel.{}.{}", report.command, slug(&c.name)),
                Group::Kernel,
                format!("{}: {}", report.command, c.name),
            )
            .evidence(format!("expected {}, measured {}", c.expected, c.measured))
            .fix(report.fix.clone())
            .judged(if c.matches { Level::Ok } else { MISMATCH })
        })
        .collect()
}

pub fn from_nagle(report: &NagleReport) -> Vec<Check> {
    report
        .modes
        .iter()
        .map(|m| {
            let name = if m.nodelay { "nodelay" } else { "nagle" };
            let expectation = if m.expected_stall {
                "every round after the warm-up stalls on the delayed ACK"
            } else {
                "no round stalls"
            };
            Check::new(
                format!("kernel.nagle.{name}"),
                Group::Kernel,
                format!(
                    "Nagle {}: {expectation}",
                    if m.nodelay { "off" } else { "on" }
                ),
            )
            .evidence(format!(
                "{} of {} rounds stalled; RTT p50 {} µs, p99 {} µs",
                m.stalled_rounds, m.rounds, m.rtt_p50_us, m.rtt_p99_us
            ))
            .fix(report.fix.clone())
            .judged(if m.matches { Level::Ok } else { MISMATCH })
        })
        .collect()
}

/// The measured stall: p50 of the rounds that stalled with Nagle on.
pub fn nagle_stall_seconds(report: &NagleReport) -> Option<f64> {
    report
        .modes
        .iter()
        .find(|m| !m.nodelay && !m.cork)
        .and_then(|m| m.stall_p50_us)
        .map(|us| us as f64 / 1e6)
}

pub fn from_sysctl(report: &SysctlReport) -> Vec<Check> {
    let findings = report.findings.iter().map(|f| {
        let mut check = Check::new(
            format!("sysctl.{}", f.key.name()),
            Group::Sysctl,
            format!("{} for this role", f.key.name()),
        )
        .evidence(match &f.current {
            Some(current) => format!("{} = {current}: {}", f.key.name(), f.reason),
            None => format!("{}: {}", f.key.name(), f.reason),
        })
        .judged(f.level);
        if let Some(suggested) = &f.suggested {
            check = check.fix(format!("{} = {suggested}", f.key.name()));
        } else if f.remove_override {
            check = check.fix("remove the override so the kernel's default applies");
        }
        if let Some(configured) = &f.configured {
            check.file = Some(configured.file.clone());
            check.line = Some(configured.line);
        }
        check
    });
    let config = report.config.iter().map(|p| {
        let mut check = Check::new(
            format!("sysctl.config.{}", <&str>::from(p.kind)),
            Group::Sysctl,
            "sysctl config files are read as intended",
        )
        .subject(match p.line {
            Some(line) => format!("{}:{line}", p.file),
            None => p.file.clone(),
        })
        .evidence(p.problem.clone())
        .judged(p.level);
        check.file = Some(p.file.clone());
        check.line = p.line;
        check
    });
    findings.chain(config).collect()
}

pub fn from_inspect(report: &InspectReport) -> Vec<Check> {
    let findings = report.findings.iter().map(|f| {
        let mut check = Check::new(
            format!("inspect.{}", f.id.name()),
            Group::Inspect,
            f.id.title(),
        )
        .evidence(f.evidence.clone())
        .fix(f.fix.clone())
        .judged(f.severity);
        let who = match (&f.process, f.pid) {
            (Some(name), Some(pid)) => Some(format!("{name}/{pid}")),
            _ => None,
        };
        check.subject = match (who, &f.local) {
            (Some(who), Some(local)) => Some(format!("{who} {local}")),
            (Some(who), None) => Some(who),
            (None, local) => local.clone(),
        };
        check
    });
    let not_judged = report.not_judged.iter().map(|n| {
        let check = Check::new(
            format!("inspect.{}", n.id.name()),
            Group::Inspect,
            n.id.title(),
        )
        .skipped(n.reason.clone());
        match (&n.process, n.pid) {
            (Some(name), Some(pid)) => check.subject(format!("{name}/{pid}")),
            _ => check,
        }
    });
    findings.chain(not_judged).collect()
}

/// The live figures of an inspection, each labelled set cut to the `TOP_SERIES` largest.
pub fn metrics_from_inspect(report: &InspectReport, metrics: &mut Metrics) {
    metrics.time_wait_sockets = Some(report.summary.time_wait);
    let mut queues: Vec<LabelledRatio> = report
        .listeners
        .iter()
        .filter_map(|l| {
            let capacity = f64::from(l.backlog?) + 1.0;
            Some(LabelledRatio {
                label: l.local.to_string(),
                ratio: f64::from(l.queued) / capacity,
            })
        })
        .collect();
    queues.sort_by(|a, b| b.ratio.total_cmp(&a.ratio).then(a.label.cmp(&b.label)));
    queues.truncate(TOP_SERIES);
    metrics.accept_queue_fill_ratio = queues;
    let mut close_wait: Vec<LabelledCount> = report
        .processes
        .iter()
        .filter_map(|p| {
            let count = *p.by_state.get("CLOSE_WAIT")?;
            Some(LabelledCount {
                label: format!("{}/{}", p.process, p.pid),
                count,
            })
        })
        .collect();
    close_wait.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
    close_wait.truncate(TOP_SERIES);
    metrics.close_wait_sockets = close_wait;
    metrics.port_budget_used_ratio = report
        .port_budget
        .iter()
        .take(TOP_SERIES)
        .map(|d| LabelledRatio {
            label: d.destination.clone(),
            ratio: d.used_ratio,
        })
        .collect();
}

/// Whether any check failed at or above `threshold`.
pub fn any_fails(checks: &[Check], threshold: Option<Level>) -> bool {
    checks.iter().any(|c| c.fails_at(threshold))
}

/// Checks by status, for summaries.
pub fn count(checks: &[Check], status: Status) -> u64 {
    checks.iter().filter(|c| c.status == status).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        assert_eq!(
            slug("SO_REUSEADDR on both, TIME_WAIT holder"),
            "so-reuseaddr-on-both-time-wait-holder"
        );
        assert_eq!(slug("  recv() returns 0  "), "recv-returns-0");
    }

    #[test]
    fn a_pattern_names_a_group_an_id_or_an_id_prefix_at_a_dot() {
        let check = Check::new("kernel.bind.std-vs-socket2", Group::Kernel, "t");
        for pattern in ["kernel", "kernel.bind", "kernel.bind.std-vs-socket2"] {
            assert!(check.named_by(pattern), "{pattern}");
        }
        for pattern in ["kern", "kernel.bi", "sysctl", "bind"] {
            assert!(!check.named_by(pattern), "{pattern}");
        }
    }
}
