//! A check: one question with a stable id, answered pass, fail (at a severity) or skipped.
//! `check` runs many; `inspect` and `sysctl-advice` findings become checks too, so every
//! check-shaped format (JUnit, GitHub annotations, Prometheus) renders all three the same way.

use serde::Serialize;

use crate::commands::severity::Level;

/// Where a check comes from; `--skip`/`--only` take these names as well as ids.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Group {
    /// Does this kernel behave as documented (the lessons' experiments)?
    Kernel,
    /// The TCP sysctls, judged for the role (sysctl-advice).
    Sysctl,
    /// The live sockets of the host or the targets (inspect).
    Inspect,
    /// A project's own expectations (sockdoc.toml).
    Config,
}

impl Group {
    pub const ALL: [Group; 4] = [Self::Kernel, Self::Sysctl, Self::Inspect, Self::Config];

    pub fn name(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Could not run (the reason says why): neither a pass nor a failure.
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable: `kernel.bind.<trial>`, `sysctl.<knob>`, `inspect.<finding>`, `config.<…>`.
    pub id: String,
    pub group: Group,
    /// What it is about when the id alone does not say (a process, a listener, a file).
    pub subject: Option<String>,
    pub status: Status,
    /// `ok` for a pass; the finding's severity for a failure.
    pub severity: Level,
    /// The question, in a line.
    pub title: String,
    pub evidence: String,
    pub fix: Option<String>,
    /// A file and line the finding points at (a sysctl.d line), for annotations.
    pub file: Option<String>,
    pub line: Option<usize>,
    /// Why a skipped check could not run.
    pub skipped_reason: Option<String>,
    /// Wall time of the experiment behind it, when it had its own.
    pub time_ms: Option<u64>,
}

impl Check {
    pub fn new(id: impl Into<String>, group: Group, title: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            group,
            subject: None,
            status: Status::Pass,
            severity: Level::Ok,
            title: title.into(),
            evidence: String::new(),
            fix: None,
            file: None,
            line: None,
            skipped_reason: None,
            time_ms: None,
        }
    }

    /// A failure at `severity` (a pass when it is `Ok`).
    #[must_use]
    pub fn judged(mut self, severity: Level) -> Self {
        self.severity = severity;
        self.status = if severity == Level::Ok {
            Status::Pass
        } else {
            Status::Fail
        };
        self
    }

    #[must_use]
    pub fn skipped(mut self, reason: impl Into<String>) -> Self {
        self.status = Status::Skipped;
        self.severity = Level::Ok;
        self.skipped_reason = Some(reason.into());
        self
    }

    #[must_use]
    pub fn evidence(mut self, text: impl Into<String>) -> Self {
        self.evidence = text.into();
        self
    }

    #[must_use]
    pub fn fix(mut self, text: impl Into<String>) -> Self {
        self.fix = Some(text.into());
        self
    }

    #[must_use]
    pub fn subject(mut self, text: impl Into<String>) -> Self {
        self.subject = Some(text.into());
        self
    }

    /// Fails at or above `threshold` (None: never).
    pub fn fails_at(&self, threshold: Option<Level>) -> bool {
        self.status == Status::Fail && threshold.is_some_and(|t| self.severity >= t)
    }

    /// Whether `--skip`/`--only` PATTERN names this check: its group, its id, or a prefix of
    /// the id ending at a dot (`kernel.bind` names every bind trial).
    pub fn named_by(&self, pattern: &str) -> bool {
        self.group.name() == pattern
            || self.id == pattern
            || self
                .id
                .strip_prefix(pattern)
                .is_some_and(|rest| rest.starts_with('.'))
    }
}

/// Live figures for dashboards (the Prometheus gauges), with bounded label sets.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    pub time_wait_sockets: Option<u64>,
    /// The destinations whose TIME_WAIT holds the most ephemeral ports: share of the budget.
    pub port_budget_used_ratio: Vec<LabelledRatio>,
    /// Listeners' accept queues: connections waiting ÷ capacity (backlog + 1).
    pub accept_queue_fill_ratio: Vec<LabelledRatio>,
    /// CLOSE_WAIT sockets per process (`name/pid`).
    pub close_wait_sockets: Vec<LabelledCount>,
    /// The measured Nagle/delayed-ACK stall (p50 of the stalled rounds), seconds.
    pub nagle_stall_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabelledRatio {
    pub label: String,
    pub ratio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LabelledCount {
    pub label: String,
    pub count: u64,
}

/// How many series each labelled gauge may carry: a host with 10,000 destinations must not
/// make 10,000 series.
pub const TOP_SERIES: usize = 10;
