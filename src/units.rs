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

/// A byte count as people read it: `512 B`, `2000 B`, `8 KiB`, `1 MiB`; a larger count that
/// is no whole number of its unit keeps the exact figure beside the rounded one:
/// `2.5 MiB (2626560 B)`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [(u32, &str); 3] = [(30, "GiB"), (20, "MiB"), (10, "KiB")];
    /// Below this, an inexact count reads best as plain bytes.
    const PLAIN_BELOW: u64 = 10 << 10;
    for (shift, unit) in UNITS {
        let size = 1u64 << shift;
        if bytes >= size && (bytes.is_multiple_of(size) || bytes >= PLAIN_BELOW) {
            return if bytes.is_multiple_of(size) {
                format!("{} {unit}", bytes >> shift)
            } else {
                format!("{:.1} {unit} ({bytes} B)", bytes as f64 / size as f64)
            };
        }
    }
    format!("{bytes} B")
}

// ---------------------------------------------------------------------------------------
// The one grammar for sizes and durations on the command line
// ---------------------------------------------------------------------------------------

/// One duration flag's accepted range, and why its minimum is what it is (for the message).
#[derive(Debug, Clone, Copy)]
pub struct DurationRange {
    pub min: Duration,
    pub max: Duration,
    pub why_min: &'static str,
}

/// The size grammar every byte-count flag shares (and `sockopt --set rcvbuf=…`): a whole
/// number with an optional binary suffix, any case: K = 1024 bytes, M = 1024 K, G = 1024 M
/// (`K`, `KB` and `KiB` all mean 1024, as socket buffer sizes are usually written); `B` or no
/// suffix means bytes. 4096, 64K, 1M, 2MiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let number = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (digits, shift) = match number.char_indices().last() {
        Some((i, 'k')) => (&number[..i], 10),
        Some((i, 'm')) => (&number[..i], 20),
        Some((i, 'g')) => (&number[..i], 30),
        _ => (number, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{text}' is not a size; write a whole number of bytes with an optional K, M or G \
             (K = 1024), e.g. 4096, 64K or 1M"
        ));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|value| value.checked_mul(1 << shift))
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// A size for a flag that accepts `min..=max` bytes.
pub fn parse_size_in(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let value = parse_size(text)?;
    if (min..=max).contains(&value) {
        return Ok(value);
    }
    let text = text.trim();
    let spelled_out = if text == value.to_string() {
        String::new()
    } else {
        format!("; {text} is {value} bytes")
    };
    Err(format!(
        "must be from {} to {} bytes{spelled_out}",
        show_size(min),
        show_size(max)
    ))
}

/// A byte count with its suffixed form where one is exact: `65536 (64K)`, `65507`.
pub fn show_size(bytes: u64) -> String {
    [(30, 'G'), (20, 'M'), (10, 'K')]
        .into_iter()
        .find(|(shift, _)| bytes >= 1 << shift && bytes.is_multiple_of(1 << shift))
        .map_or_else(
            || bytes.to_string(),
            |(shift, suffix)| format!("{bytes} ({}{suffix})", bytes >> shift),
        )
}

/// A humantime duration (500ms, 2s, 1m30s) inside `range`. clap's message around it names
/// the flag and the value; this part says which bound was crossed and why.
pub fn parse_duration_in(text: &str, range: DurationRange) -> Result<Duration, String> {
    let value = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; write a duration such as 500ms, 2s or 1m"))?;
    let show = |d: Duration| humantime::format_duration(d).to_string();
    if value < range.min {
        return Err(format!(
            "{} is below the minimum of {}: {}",
            show(value),
            show(range.min),
            range.why_min
        ));
    }
    if value > range.max {
        return Err(format!(
            "{} is above the maximum of {} (did you mean ms?)",
            show(value),
            show(range.max)
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units_and_keep_inexact_bytes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(976), "976 B");
        assert_eq!(human_size(1024), "1 KiB");
        assert_eq!(human_size(2000), "2000 B");
        assert_eq!(human_size(6144), "6 KiB");
        assert_eq!(human_size(20_000), "19.5 KiB (20000 B)");
        assert_eq!(human_size(1_048_576), "1 MiB");
        assert_eq!(human_size(2_626_560), "2.5 MiB (2626560 B)");
        assert_eq!(human_size(3 << 30), "3 GiB");
    }

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
