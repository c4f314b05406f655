//! Nagle's neighbour: `tcp_autocorking`, which merges small writes even with TCP_NODELAY.

use super::judge::Judge;
use super::knobs::KnobSpec;
use super::live::Counter;
use super::values::BOOLEAN;
use super::{Finding, Level};
use crate::sys::sysctl::Key;

const MYTH_STICKY: &str = "\"Merged messages (sticky packets) mean Nagle\": TCP is a byte stream; autocorking \
     (even with TCP_NODELAY) and a receiver that reads late merge writes too. Frame your \
     messages, e.g. with a length prefix (see `sockdoc nagle`).";

/// The Nagle knob.
pub const KNOBS: &[KnobSpec] = &[KnobSpec {
    key: Key::TcpAutocorking,
    source: "ip-sysctl.rst: tcp_autocorking",
    myth: Some(MYTH_STICKY),
    newer: false,
    grammar: BOOLEAN,
    judge: autocorking,
}];

fn autocorking(j: &Judge, spec: &KnobSpec) -> Finding {
    let (value, text) = match j.read(spec) {
        Ok(read) => read,
        Err(f) => return *f,
    };
    let f = spec.finding(Some(&text));
    let f = match value {
        1 => f.set(
            Level::Ok,
            "on (default)",
            "The default: small writes are merged while an earlier packet of the flow still \
             waits in the qdisc or device queue, even with TCP_NODELAY.",
        ),
        0 => f.set(
            Level::Info,
            "off: more small packets",
            "Off: small writes are not merged behind queued packets; more packets on the \
             wire. Readers must still frame messages: TCP is a byte stream.",
        ),
        _ => spec.unexpected(&text, "0 or 1"),
    };
    let evidence = j.counters(&[Counter::AutoCorking]);
    f.evidence(evidence)
}
