//! Values as the report writes them: the display strings beside the integer figures
//! (`_us`, `_bytes`). Rules compare typed `Value`s; these turn the outcome into text at the
//! end, when a row is built.

use std::fmt;
use std::time::Duration;

use super::Unit;
use crate::sys::SysError;
use crate::sys::error::os_text;
use crate::sys::sockopt::{Kind, Opt, Value};
use crate::units::micros;

/// What an option's values measure, as the report names it.
pub(super) fn unit(kind: Kind) -> Unit {
    match kind {
        Kind::Bool => Unit::Bool,
        Kind::Bytes => Unit::Bytes,
        Kind::Timeout | Kind::Linger | Kind::Seconds => Unit::Duration,
        Kind::Count => Unit::Count,
        Kind::Text => Unit::Text,
    }
}

/// A value of `opt` as reports show it: `on`/`off`, bytes, humantime durations, and `none`
/// for a timeout that is not set (`off` for the other durations).
pub struct Shown<'a>(pub Opt, pub &'a Value);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Shown(opt, value) = *self;
        match value {
            Value::Bool(on) => f.write_str(if *on { "on" } else { "off" }),
            Value::Bytes(n) => write!(f, "{n}"),
            Value::Count(n) => write!(f, "{n}"),
            Value::Text(text) => f.write_str(text),
            Value::Duration(Some(d)) => write!(f, "{}", ShownDuration(*d)),
            Value::Duration(None) => f.write_str(match opt {
                Opt::RecvTimeout | Opt::SendTimeout => "none",
                _ => "off",
            }),
        }
    }
}

/// `show(opt, value)` is `Shown(opt, value).to_string()`.
pub fn show(opt: Opt, value: &Value) -> String {
    Shown(opt, value).to_string()
}

/// A duration in humantime (`1s 500ms`), and `0s` for zero.
pub(super) struct ShownDuration(pub Duration);

impl fmt::Display for ShownDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            f.write_str("0s")
        } else {
            write!(f, "{}", humantime::format_duration(self.0))
        }
    }
}

pub(super) fn show_duration(d: Duration) -> String {
    ShownDuration(d).to_string()
}

/// A duration value in microseconds (`None` for none / off and other kinds).
pub(super) fn duration_us(value: &Value) -> Option<u64> {
    match value {
        Value::Duration(Some(d)) => Some(micros(*d)),
        _ => None,
    }
}

/// A buffer size in bytes (`None` for other kinds).
pub(super) fn bytes(value: &Value) -> Option<u64> {
    match value {
        Value::Bytes(n) => Some(*n),
        _ => None,
    }
}

/// A SysError's text without the "setting X on the socket" prefix the row already implies.
pub(super) fn error_text(error: &SysError) -> String {
    match error {
        SysError::SetOption { error, .. } | SysError::GetOption { error, .. } => os_text(error),
        other => other.to_string(),
    }
}
