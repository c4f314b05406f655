//! The report shape the lesson scenarios share (backlog, udp, partial-send, peer-close,
//! timeouts): what was measured, scenario-specific figures, checks of each measurement
//! against what Linux documents, the mechanism, the verdict and the fix.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};

use super::VERSION;
use crate::exit::Exit;
use crate::units::micros;

#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    pub command: &'static str,
    pub sockdoc_version: &'static str,
    pub address: String,
    /// The scenario's own measured figures (`_us` / `_ms` / `_bytes` in the key's name).
    #[serde(flatten)]
    pub details: Map<String, Value>,
    pub checks: Vec<Check>,
    pub mechanism: String,
    pub verdict: String,
    pub fix: String,
    pub notes: Vec<String>,
    pub elapsed_us: u64,
}

/// One measurement held against the documented behaviour.
#[derive(Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub measured: String,
    pub expected: String,
    pub matches: bool,
}

impl Check {
    pub fn new(
        name: impl Into<String>,
        measured: impl Into<String>,
        expected: impl Into<String>,
        matches: bool,
    ) -> Self {
        Self {
            name: name.into(),
            measured: measured.into(),
            expected: expected.into(),
            matches,
        }
    }

    /// A check that passes when the measured text equals the expected text.
    pub fn equal(name: impl Into<String>, measured: impl Into<String>, expected: &str) -> Self {
        let measured = measured.into();
        let matches = measured == expected;
        Self::new(name, measured, expected, matches)
    }
}

/// Collects a scenario's results as it runs.
pub struct Scenario {
    command: &'static str,
    address: IpAddr,
    started: Instant,
    details: Map<String, Value>,
    checks: Vec<Check>,
    notes: Vec<String>,
}

impl Scenario {
    pub fn start(command: &'static str, address: IpAddr) -> Self {
        Self {
            command,
            address,
            started: Instant::now(),
            details: Map::new(),
            checks: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Records a measured figure under `key` (snake_case, unit in the name).
    pub fn detail(&mut self, key: &str, value: impl Serialize) {
        let value = serde_json::to_value(value).expect("scenario details are plain data");
        self.details.insert(key.to_string(), value);
    }

    pub fn check(&mut self, check: Check) {
        self.checks.push(check);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// An ephemeral loopback address of the scenario's family.
    pub fn ephemeral(&self) -> SocketAddr {
        SocketAddr::new(self.address, 0)
    }

    /// The finished report and its exit code: 1 when any check disagreed with Linux's
    /// documented behaviour.
    pub fn finish(self, mechanism: &str, verdict: String, fix: &str) -> (ScenarioReport, Exit) {
        let all_match = self.checks.iter().all(|c| c.matches);
        let verdict = if all_match {
            verdict
        } else {
            let failed: Vec<&str> = self
                .checks
                .iter()
                .filter(|c| !c.matches)
                .map(|c| c.name.as_str())
                .collect();
            format!(
                "This kernel disagreed with the documented behaviour in: {}. {verdict}",
                failed.join("; ")
            )
        };
        let report = ScenarioReport {
            command: self.command,
            sockdoc_version: VERSION,
            address: self.address.to_string(),
            details: self.details,
            checks: self.checks,
            mechanism: mechanism.to_string(),
            verdict,
            fix: fix.to_string(),
            notes: self.notes,
            elapsed_us: micros(self.started.elapsed()),
        };
        let exit = if all_match {
            Exit::Clean
        } else {
            Exit::Finding
        };
        (report, exit)
    }
}

/// FNV-1a over a byte stream, to prove a transfer arrived intact and in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksum(u64);

impl Default for Checksum {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Checksum {
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    pub fn value(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_sees_order_and_content() {
        let mut a = Checksum::default();
        a.update(b"ab");
        let mut b = Checksum::default();
        b.update(b"a");
        b.update(b"b");
        assert_eq!(a, b, "chunking does not matter");
        let mut c = Checksum::default();
        c.update(b"ba");
        assert_ne!(a, c, "order does");
    }

    #[test]
    fn a_failed_check_is_named_in_the_verdict_and_exits_1() {
        let mut s = Scenario::start("udp", "127.0.0.1".parse().unwrap());
        s.check(Check::equal("boundaries", "merged", "kept"));
        let (report, exit) = s.finish("m", "v".into(), "f");
        assert_eq!(exit, Exit::Finding);
        assert!(report.verdict.contains("boundaries"));
    }
}
