//! Durations as JSON integers (the unit in the key: `_us`, `_ms`) and as text a person
//! reads, and counts with their noun. One place, so every command rounds the same way.

use std::fmt::Display;
use std::time::Duration;

pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A duration as a person reads it: 850µs, 40.2ms, 59.9s; humantime beyond ten minutes.
pub fn human(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{}µs", d.as_micros())
    } else if d < Duration::from_secs(1) {
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    } else if d < Duration::from_secs(600) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

/// A count with its noun, singular for exactly one: "1 connection", "0 connections".
/// `noun` is the singular and takes an "s" otherwise.
pub fn count<N: Display + PartialEq + From<u8> + Copy>(n: N, noun: &str) -> String {
    if n == N::from(1) {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_takes_the_singular() {
        assert_eq!(count(1u32, "connection"), "1 connection");
        assert_eq!(count(0u64, "connection"), "0 connections");
        assert_eq!(count(2usize, "byte"), "2 bytes");
    }

    #[test]
    fn human_durations_round_for_reading() {
        assert_eq!(human(Duration::from_millis(58_437)), "58.4s");
        assert_eq!(human(Duration::from_micros(1_234_567)), "1.2s");
        assert_eq!(human(Duration::from_micros(40_123)), "40.1ms");
        assert_eq!(human(Duration::from_micros(35)), "35µs");
        assert_eq!(human(Duration::from_secs(3_600)), "1h");
    }

    #[test]
    fn integers_saturate_instead_of_wrapping() {
        assert_eq!(micros(Duration::from_millis(3)), 3_000);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
