//! What every judgement shares: the kernel's side ([`Live`]), the role, the port budget and
//! the config files, with the sentences several judgements quote (the TIME_WAIT figures,
//! the port budget) and the builder a finding is made with.

use std::fmt::Write as _;

use super::knobs::{self, KnobSpec};
use super::live::{Counter, Live, rate_text};
use super::{ConfigFile, Finding, FindingState, Level, PortBudget};
use crate::commands::args::Role;
use crate::sys::TCP_TIMEWAIT_LEN;
use crate::sys::ports::{self, Destination, PortPressure};
use crate::sys::sysctl::{Key, Knob};
use crate::units::count;

pub struct Judge<'a> {
    pub live: &'a Live,
    pub role: Role,
    pub budget: Option<PortBudget>,
    /// The config files, in the order `sysctl --system` applies them.
    pub files: &'a [ConfigFile],
}

/// The start of a finding: the key, its current value and its source. The judgement
/// fills in the rest.
pub fn finding(key: Key, current: Option<&str>, source: &'static str) -> Finding {
    Finding {
        key,
        current: current.map(str::to_string),
        suggested: None,
        remove_override: false,
        kernel_default: None,
        level: Level::Ok,
        why: String::new(),
        reason: String::new(),
        evidence: None,
        myth: None,
        prove: crate::commands::prove::command_for(key.name()),
        source,
        configured: None,
        state: FindingState::Judged,
    }
}

impl Finding {
    pub(super) fn set(
        mut self,
        level: Level,
        why: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        self.level = level;
        self.why = why.into();
        self.reason = reason.into();
        self
    }

    pub(super) fn remove_override(mut self) -> Self {
        self.remove_override = true;
        self
    }

    pub(super) fn suggest(mut self, value: impl Into<String>) -> Self {
        self.suggested = Some(value.into());
        self
    }

    pub(super) fn kernel_default(mut self, value: Option<i64>) -> Self {
        self.kernel_default = value.map(|v| v.to_string());
        self
    }

    pub(super) fn evidence(mut self, evidence: Option<String>) -> Self {
        self.evidence = evidence.filter(|e| !e.is_empty());
        self
    }
}

impl Judge<'_> {
    /// Every judged knob's finding, in [`Key`] order.
    pub(super) fn findings(&self) -> Vec<Finding> {
        knobs::all().filter_map(|spec| spec.judged(self)).collect()
    }

    pub fn serves(&self) -> bool {
        matches!(self.role, Role::Server | Role::Both)
    }

    pub fn connects(&self) -> bool {
        matches!(self.role, Role::Client | Role::Both)
    }

    /// The value of `key` when it reads as one of the integers the judgement expects,
    /// or the finding that says why it cannot be judged.
    pub fn read(&self, spec: &KnobSpec) -> Result<(i64, String), Box<Finding>> {
        let text = self.present(spec)?;
        match text.parse::<i64>() {
            Ok(value) => Ok((value, text)),
            Err(_) => Err(Box::new(spec.unexpected(&text, "an integer"))),
        }
    }

    /// The text of `key`, or the finding for a knob that is absent or unreadable.
    pub fn present(&self, spec: &KnobSpec) -> Result<String, Box<Finding>> {
        match self.live.knob(spec.key) {
            Knob::Value(text) => Ok(text.clone()),
            knob => Err(Box::new(spec.unavailable(knob))),
        }
    }

    pub fn counters(&self, counters: &[Counter]) -> Option<String> {
        let parts: Vec<String> = counters
            .iter()
            .filter_map(|&c| self.live.counter(c).map(|v| format!("{} = {v}", c.short())))
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// The total, labelled as such: it is not the figure ports run out on.
    pub fn time_wait_text(&self) -> Option<String> {
        self.live
            .time_wait()
            .map(|tw| format!("TIME_WAIT sockets now, in total (all directions): {tw}"))
    }

    /// The TIME_WAIT sockets holding ephemeral ports, per destination, or that they were
    /// not measured.
    pub fn outgoing_text(&self) -> String {
        let Ok(o) = &self.live.outgoing else {
            return "TIME_WAIT per destination: not measured (see the notes)".into();
        };
        let mut text = format!(
            "TIME_WAIT with a local port in the ephemeral range: {}",
            o.in_range
        );
        if let Some(d) = &o.busiest {
            let _ = write!(
                text,
                ", at most {} to one destination ({} → {})",
                d.time_wait, d.source_ip, d.destination
            );
            let same =
                |n: &Destination| (n.source_ip, n.destination) == (d.source_ip, d.destination);
            match &o.busiest_non_loopback {
                Some(n) if !same(n) => {
                    let _ = write!(
                        text,
                        ", off loopback at most {} ({} → {})",
                        n.time_wait, n.source_ip, n.destination
                    );
                }
                Some(_) => {}
                None => text.push_str(", none off loopback"),
            }
        }
        text
    }

    /// The shared verdict ([`ports::judge`]) when it advises on a destination: its TIME_WAIT
    /// sockets hold [`ports::ADVISE_PERCENT`] of the usable ports or more, among the
    /// destinations `tcp_tw_reuse` does not already cover. Only a measured per-destination
    /// count counts: the sockstat total includes inbound connections, which hold no port.
    pub fn pressure(&self) -> Option<&PortPressure> {
        self.live
            .pressure
            .as_ref()
            .filter(|p| p.level == ports::Level::Advise && p.busiest.is_some())
    }

    pub fn budget_text(&self) -> Option<String> {
        let b = self.budget?;
        let mut text = format!(
            "port budget: {} ports ({}–{}) − {} reserved = {} usable ÷ {} s TIME_WAIT ≈ {} \
             to one destination (source IP, destination IP, port) when this host closes first",
            b.ports,
            b.low,
            b.high,
            b.reserved_in_range,
            b.usable,
            TCP_TIMEWAIT_LEN.as_secs(),
            rate_text(&b, " new connections")
        );
        if self.live.reuse_on() {
            let _ = write!(
                text,
                "; with tcp_tw_reuse{} a port is reusable {}",
                self.live.reuse_scope_text(),
                self.live.reuse_after_text()
            );
        }
        Some(text)
    }

    /// "28232 ports, ≈470/s per dest" (or "10 ports, ≈10/min per dest") for the table.
    pub fn budget_summary(&self, size: u32) -> String {
        match self.budget {
            Some(b) => format!("{}, ≈{} per dest", count(size, "port"), rate_text(&b, "")),
            None => count(size, "port"),
        }
    }

    pub fn join(parts: &[Option<String>]) -> Option<String> {
        let parts: Vec<&str> = parts.iter().flatten().map(String::as_str).collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}
