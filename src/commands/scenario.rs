//! The report shape the lesson scenarios share (backlog, udp, partial-send, peer-close,
//! timeouts, close-wait): what was measured, scenario-specific figures, checks of each measurement
//! against what Linux documents, the mechanism, the verdict and the fix.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::exit::Exit;
use crate::sys::error::errno_name;
use crate::units::{count, micros};

#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    /// Which lesson this is, for the table's title; the JSON envelope adds `command` itself.
    #[serde(skip)]
    pub command: &'static str,
    pub address: String,
    /// The scenario's own measured figures (`_us` / `_ms` / `_bytes` in the key's name):
    /// its typed details struct, serialized once by `Scenario::finish`, so the keys are that
    /// struct's field names.
    #[serde(flatten)]
    pub details: Map<String, Value>,
    /// The same figures as the "Measured" section shows them, from the same struct
    /// (`Details::measured`): a label and a value typed by its unit. JSON has `details`.
    #[serde(skip)]
    pub measured: Vec<MeasuredRow>,
    pub checks: Vec<Check>,
    pub mechanism: String,
    pub verdict: String,
    pub fix: String,
    pub notes: Vec<String>,
    pub elapsed_us: u64,
}

/// A scenario's typed details struct: its fields are the report's JSON keys (serde), and
/// `measured` gives the human row of each. Each implementation destructures `Self` without
/// `..`, so a field added later does not compile until it has a row (or is named as shown by
/// another row's `twin`): a figure cannot lose its label or unit silently.
pub trait Details: Serialize {
    /// One row per field, in the order the fields serialize.
    fn measured(&self) -> Vec<MeasuredRow>;
}

/// One line of the "Measured" section.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredRow {
    /// The JSON key of the figure this row shows (tests hold the rows against the keys).
    pub key: &'static str,
    /// The key of the figure's typed form, shown in words by this row (peer-close's
    /// `…_results` beside its text `…_reads`), if it has one.
    pub twin: Option<&'static str>,
    pub label: &'static str,
    pub value: Measured,
}

impl MeasuredRow {
    pub fn new(key: &'static str, label: &'static str, value: Measured) -> Self {
        Self {
            key,
            twin: None,
            label,
            value,
        }
    }

    /// This row also stands for `twin`, the typed form of its figure.
    #[must_use]
    pub fn with_twin(self, twin: &'static str) -> Self {
        Self {
            twin: Some(twin),
            ..self
        }
    }
}

/// A measured figure, typed by how it reads: the renderer shows each kind one way.
#[derive(Debug, Clone, PartialEq)]
pub enum Measured {
    /// A duration in microseconds (a `_us` key).
    Micros(u64),
    /// A duration in milliseconds (a `_ms` key).
    Millis(u64),
    /// A size in bytes.
    Bytes(u64),
    /// A plain number: a count, a level, a sysctl's raw value.
    Count(u64),
    /// A sysctl in milliseconds: its raw value as `sysctl` prints it, the duration beside it.
    KnobMillis(u64),
    /// A sysctl in bytes: its raw value, the size beside it.
    KnobBytes(u64),
    /// A frequency, per second.
    Hertz(u64),
    Percent(f64),
    /// A result or a name, shown as its text (the same text JSON has).
    Text(String),
    /// Several figures of one kind, in order.
    List(Vec<Measured>),
    /// A figure this host could not give (null in JSON).
    Unavailable,
}

impl Measured {
    /// `value` in the kind `kind` gives, or `Unavailable` when there is none.
    pub fn or_unavailable<T>(value: Option<T>, kind: impl FnOnce(T) -> Self) -> Self {
        value.map_or(Self::Unavailable, kind)
    }

    /// Each item in the kind `kind` gives.
    pub fn list<T: Copy>(items: &[T], kind: impl Fn(T) -> Self) -> Self {
        Self::List(items.iter().map(|&item| kind(item)).collect())
    }

    /// Each item as its text.
    pub fn texts(items: &[impl fmt::Display]) -> Self {
        Self::List(items.iter().map(Self::text).collect())
    }

    /// A figure as its text.
    pub fn text(value: impl fmt::Display) -> Self {
        Self::Text(value.to_string())
    }

    /// A size counted in `usize`, as bytes.
    pub fn bytes(n: usize) -> Self {
        Self::Bytes(n as u64)
    }
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
    checks: Vec<Check>,
    notes: Vec<String>,
}

impl Scenario {
    pub fn start(command: &'static str, address: IpAddr) -> Self {
        Self {
            command,
            address,
            started: Instant::now(),
            checks: Vec::new(),
            notes: Vec::new(),
        }
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
    /// documented behaviour. `details` is the scenario's own typed struct of measured
    /// figures (snake_case fields, the unit in the name); its fields become the report's keys
    /// and its `measured` rows the human section.
    pub fn finish(
        self,
        details: &impl Details,
        mechanism: &str,
        verdict: String,
        fix: &str,
    ) -> (ScenarioReport, Exit) {
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
        let measured = details.measured();
        let details = details_map(details);
        debug_assert_eq!(
            uncovered_keys(&details, &measured),
            Vec::<String>::new(),
            "{}: every detail has exactly one row, in order",
            self.command
        );
        let report = ScenarioReport {
            command: self.command,
            address: self.address.to_string(),
            details,
            measured,
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

/// A details struct as the report's key/value figures. The one place a scenario's typed
/// details become JSON values.
fn details_map(details: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(details).expect("scenario details are plain data") {
        Value::Object(map) => map,
        other => panic!("scenario details serialize to a struct's fields, not {other}"),
    }
}

/// How `rows` fail to show `details`: a key with no row, a row or twin with no key, or rows
/// out of the keys' order. Empty when every key has exactly one row (or is a row's twin).
pub fn uncovered_keys(details: &Map<String, Value>, rows: &[MeasuredRow]) -> Vec<String> {
    let twins: Vec<&str> = rows.iter().filter_map(|row| row.twin).collect();
    let shown: Vec<&str> = details
        .keys()
        .map(String::as_str)
        .filter(|key| !twins.contains(key))
        .collect();
    let rows_keys: Vec<&str> = rows.iter().map(|row| row.key).collect();
    let mut problems = Vec::new();
    if shown != rows_keys {
        problems.push(format!("keys {shown:?} but rows {rows_keys:?}"));
    }
    for twin in twins {
        if !details.contains_key(twin) {
            problems.push(format!("twin {twin} is no key"));
        }
    }
    problems
}

/// How one recv() or write() of a lesson ended. It serializes as the text the reports have
/// always shown ("0 (end of stream)", "14 bytes", "14 bytes accepted", "EAGAIN",
/// "ECONNRESET"); `CallResult::from` gives its return value and kind as fields, for readers
/// that should not parse that text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnd {
    /// recv() returned this many bytes.
    Received(usize),
    /// write() accepted this many bytes.
    Accepted(usize),
    /// recv() returned 0: the peer sent FIN.
    EndOfStream,
    /// EAGAIN (EWOULDBLOCK): a non-blocking call with nothing to do, or a timeout that ran out.
    WouldBlock,
    /// Any other error: its errno, and the errno's name (the error's text where it has none).
    Failed { errno: Option<i32>, name: String },
}

impl CallEnd {
    pub fn from_error(error: &io::Error) -> Self {
        if error.kind() == io::ErrorKind::WouldBlock {
            return Self::WouldBlock;
        }
        Self::Failed {
            errno: error.raw_os_error(),
            name: errno_name(error).unwrap_or_else(|| error.to_string()),
        }
    }

    /// Whether the call failed with this errno (`libc::EPIPE`).
    pub fn failed_with(&self, code: i32) -> bool {
        matches!(self, Self::Failed { errno: Some(errno), .. } if *errno == code)
    }
}

impl fmt::Display for CallEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Received(n) => f.write_str(&count(*n, "byte")),
            Self::Accepted(n) => write!(f, "{} accepted", count(*n, "byte")),
            Self::EndOfStream => f.write_str("0 (end of stream)"),
            Self::WouldBlock => f.write_str("EAGAIN"),
            Self::Failed { name, .. } => f.write_str(name),
        }
    }
}

impl Serialize for CallEnd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A `CallEnd` as fields: what the call returned and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallResult {
    /// The call's return value, as C sees it: the byte count, 0 at end of stream, -1 on error.
    pub returned: i64,
    pub kind: CallKind,
    /// The errno's name when the call failed (EAGAIN for a would-block), else null.
    pub errno: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum CallKind {
    Received,
    Accepted,
    EndOfStream,
    Error,
}

impl From<&CallEnd> for CallResult {
    fn from(end: &CallEnd) -> Self {
        let bytes = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let (returned, kind) = match end {
            CallEnd::Received(n) => (bytes(*n), CallKind::Received),
            CallEnd::Accepted(n) => (bytes(*n), CallKind::Accepted),
            CallEnd::EndOfStream => (0, CallKind::EndOfStream),
            CallEnd::WouldBlock | CallEnd::Failed { .. } => (-1, CallKind::Error),
        };
        let errno = match end {
            CallEnd::WouldBlock => Some("EAGAIN".to_owned()),
            CallEnd::Failed { name, .. } => Some(name.clone()),
            _ => None,
        };
        Self {
            returned,
            kind,
            errno,
        }
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

/// As 16 hex digits, the way the reports show a checksum.
impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
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
        let (report, exit) = s.finish(&Details { datagram_bytes: 3 }, "m", "v".into(), "f");
        assert_eq!(exit, Exit::Finding);
        assert!(report.verdict.contains("boundaries"));
        assert_eq!(
            report.details["datagram_bytes"], 3,
            "the struct's fields are the keys"
        );
        assert_eq!(
            report.measured,
            [MeasuredRow::new(
                "datagram_bytes",
                "datagram sent",
                Measured::Bytes(3)
            )],
            "and its rows the Measured section"
        );
    }

    #[derive(Serialize)]
    struct Details {
        datagram_bytes: u32,
    }

    impl super::Details for Details {
        fn measured(&self) -> Vec<MeasuredRow> {
            let Self { datagram_bytes } = self;
            vec![MeasuredRow::new(
                "datagram_bytes",
                "datagram sent",
                Measured::Bytes(u64::from(*datagram_bytes)),
            )]
        }
    }

    #[test]
    fn rows_must_show_every_key_once_in_order() {
        let details = details_map(&serde_json::json!({"a_us": 1, "b": 2, "b_result": {}}));
        let row = |key| MeasuredRow::new(key, "label", Measured::Count(0));
        assert!(
            uncovered_keys(&details, &[row("a_us"), row("b").with_twin("b_result")]).is_empty()
        );
        assert_eq!(
            uncovered_keys(&details, &[row("a_us"), row("b")]).len(),
            1,
            "a key without a row"
        );
        assert_eq!(
            uncovered_keys(&details, &[row("b").with_twin("b_result"), row("a_us")]).len(),
            1,
            "order"
        );
        assert_eq!(
            uncovered_keys(&details, &[row("a_us"), row("b").with_twin("c")]).len(),
            2,
            "no such twin"
        );
    }

    #[test]
    fn a_call_end_serializes_as_its_text_and_types_as_fields() {
        let ends = [
            CallEnd::EndOfStream,
            CallEnd::Received(1),
            CallEnd::Accepted(14),
            CallEnd::WouldBlock,
            CallEnd::from_error(&io::Error::from_raw_os_error(libc::ECONNRESET)),
        ];
        let texts: Vec<Value> = ends
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        assert_eq!(
            texts,
            [
                "0 (end of stream)",
                "1 byte",
                "14 bytes accepted",
                "EAGAIN",
                "ECONNRESET"
            ]
        );
        let typed: Vec<(i64, CallKind, Option<String>)> = ends
            .iter()
            .map(|e| {
                let r = CallResult::from(e);
                (r.returned, r.kind, r.errno)
            })
            .collect();
        assert_eq!(
            typed,
            [
                (0, CallKind::EndOfStream, None),
                (1, CallKind::Received, None),
                (14, CallKind::Accepted, None),
                (-1, CallKind::Error, Some("EAGAIN".into())),
                (-1, CallKind::Error, Some("ECONNRESET".into())),
            ]
        );
        assert!(ends[4].failed_with(libc::ECONNRESET));
        for kind in [CallKind::EndOfStream, CallKind::Error] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.to_string());
        }
    }

    #[test]
    fn a_checksum_reads_as_16_hex_digits() {
        let sum = Checksum::default();
        assert_eq!(serde_json::to_value(sum).unwrap(), "cbf29ce484222325");
    }
}
