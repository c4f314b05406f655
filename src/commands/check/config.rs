//! `sockdoc.toml`: a project's expectations for `check` — thresholds, required listener
//! options, sysctl values, skips. Unknown keys and bad values are errors naming the file, the
//! line and the key (exit 2), never silently ignored.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::exit::UsageError;

/// The file `check` reads when `--config` is not given, from the working directory.
pub const DEFAULT_FILE: &str = "sockdoc.toml";

/// The largest config file read: a project's expectations fit in a few kilobytes.
const CONFIG_LIMIT: u64 = 1 << 20;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `info`, `advise`, `warn` or `never`; `--fail-on` wins.
    pub fail_on: Option<Spanned<String>>,
    #[serde(default)]
    pub skip: Vec<String>,
    #[serde(default)]
    pub only: Vec<String>,
    #[serde(default)]
    pub nagle: NagleConfig,
    #[serde(default)]
    pub ports: PortsConfig,
    /// `"net.core.somaxconn" = ">= 4096"`: an operator (>=, <=, >, <, ==, !=) and a value, or
    /// a value alone (==).
    #[serde(default)]
    pub sysctl: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub listener: Vec<ListenerConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NagleConfig {
    /// The TCP_NODELAY round trip's p99 must stay at or below this (e.g. "5ms").
    pub max_p99: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortsConfig {
    /// The share of the ephemeral ports one destination's TIME_WAIT may hold (0–1).
    pub max_used_ratio: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub port: u16,
    pub reuseaddr: Option<bool>,
    pub reuseport: Option<bool>,
    pub min_backlog: Option<u32>,
}

/// A loaded config and where it came from.
#[derive(Debug, Default)]
pub struct Loaded {
    pub config: Config,
    pub path: Option<PathBuf>,
    /// Parsed values, checked.
    pub max_p99: Option<Duration>,
    pub sysctl: Vec<Expectation>,
}

/// One sysctl expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub key: String,
    pub op: Op,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ge,
    Le,
    Gt,
    Lt,
    Eq,
    Ne,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Ge => ">=",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Lt => "<",
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }

    /// Whether `actual` satisfies it: numerically when both sides are integers, else as
    /// text with whitespace folded (`32768 60999`), where only == and != mean anything.
    pub fn holds(self, actual: &str, wanted: &str) -> bool {
        let fold = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        match (actual.trim().parse::<i64>(), wanted.trim().parse::<i64>()) {
            (Ok(a), Ok(w)) => match self {
                Self::Ge => a >= w,
                Self::Le => a <= w,
                Self::Gt => a > w,
                Self::Lt => a < w,
                Self::Eq => a == w,
                Self::Ne => a != w,
            },
            _ => match self {
                Self::Ne => fold(actual) != fold(wanted),
                _ => fold(actual) == fold(wanted),
            },
        }
    }
}

/// Reads `explicit`, or `./sockdoc.toml` when it exists; nothing when neither.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Loaded> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_FILE).is_file() => PathBuf::from(DEFAULT_FILE),
        None => return Ok(Loaded::default()),
    };
    let text = crate::sys::fs::read_regular(&path, CONFIG_LIMIT)
        .map_err(|error| {
            UsageError(format!(
                "--config {}: {} (give a readable TOML file; `sockdoc check --print-config` \
                 prints a template)",
                path.display(),
                crate::sys::error::os_text(&error)
            ))
        })
        .and_then(|bytes| {
            String::from_utf8(bytes)
                .map_err(|_| UsageError(format!("{}: not UTF-8 text", path.display())))
        })?;
    let loaded = parse(&text, &path)?;
    Ok(loaded)
}

/// Parses and checks a config's text; errors name `path`, the line and the key.
pub fn parse(text: &str, path: &Path) -> Result<Loaded, UsageError> {
    let at = |span: Option<Range<usize>>| -> String {
        match span {
            Some(span) => format!("{}:{}", path.display(), line_of(text, span.start)),
            None => path.display().to_string(),
        }
    };
    let config: Config = toml::from_str(text).map_err(|error| {
        UsageError(format!(
            "{}: {} (`sockdoc check --print-config` prints every key)",
            at(error.span()),
            error.message().trim()
        ))
    })?;
    if let Some(fail_on) = &config.fail_on
        && crate::commands::args::FailOn::named(fail_on.get_ref()).is_none()
    {
        return Err(UsageError(format!(
            "{}: fail_on = {:?}: expected \"info\", \"advise\", \"warn\" or \"never\"",
            at(Some(fail_on.span())),
            fail_on.get_ref()
        )));
    }
    let max_p99 = match &config.nagle.max_p99 {
        Some(value) => Some(
            crate::units::parse_duration_in(value.get_ref(), crate::commands::args::P99_LIMIT)
                .map_err(|why| {
                    UsageError(format!(
                        "{}: nagle.max_p99 = {:?}: {why}",
                        at(Some(value.span())),
                        value.get_ref()
                    ))
                })?,
        ),
        None => None,
    };
    if let Some(ratio) = &config.ports.max_used_ratio
        && !(0.0..=1.0).contains(ratio.get_ref())
    {
        return Err(UsageError(format!(
            "{}: ports.max_used_ratio = {}: a share between 0 and 1 (0.5 = half the ports)",
            at(Some(ratio.span())),
            ratio.get_ref()
        )));
    }
    let mut sysctl = Vec::new();
    for (key, wanted) in &config.sysctl {
        let expectation = expectation(key, wanted.get_ref()).ok_or_else(|| {
            UsageError(format!(
                "{}: sysctl.\"{key}\" = {:?}: write an operator and a value, e.g. \">= 4096\" \
                 (>=, <=, >, <, ==, !=), or a value alone",
                at(Some(wanted.span())),
                wanted.get_ref()
            ))
        })?;
        if !key.starts_with("net.") && !key.starts_with("kernel.") {
            return Err(UsageError(format!(
                "{}: sysctl.\"{key}\": a sysctl name such as net.core.somaxconn",
                at(Some(wanted.span()))
            )));
        }
        sysctl.push(expectation);
    }
    Ok(Loaded {
        config,
        path: Some(path.to_path_buf()),
        max_p99,
        sysctl,
    })
}

fn expectation(key: &str, text: &str) -> Option<Expectation> {
    let text = text.trim();
    let ops = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];
    let (op, value) = ops
        .iter()
        .find_map(|(symbol, op)| text.strip_prefix(symbol).map(|rest| (*op, rest.trim())))
        .unwrap_or((Op::Eq, text));
    (!value.is_empty()).then(|| Expectation {
        key: key.to_owned(),
        op,
        value: value.to_owned(),
    })
}

/// The 1-based line of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// `check --print-config`: every key, commented out, with what it does.
pub const TEMPLATE: &str = r#"# sockdoc.toml: what `sockdoc check` expects of this project's hosts.
# Found as ./sockdoc.toml, or given with --config FILE. Unknown keys are errors.

# The least severe finding that fails the run (exit 1): info, advise, warn, never.
# --fail-on wins over it.
# fail_on = "warn"

# Checks to leave out, or the only ones to run: a group (kernel, sysctl, inspect, config),
# an id (kernel.bind.std-listener-restart), or an id prefix ending at a dot (kernel.bind).
# skip = ["kernel.nagle"]
# only = ["sysctl", "inspect"]

[nagle]
# The TCP_NODELAY round trip on loopback must stay at or below this (p99).
# max_p99 = "5ms"

[ports]
# The share of the ephemeral ports the TIME_WAIT sockets toward one destination may hold.
# max_used_ratio = 0.5

[sysctl]
# An operator (>=, <=, >, <, ==, !=) and a value, or a value alone (==), per knob of the
# namespace sockdoc runs in.
# "net.core.somaxconn" = ">= 4096"
# "net.ipv4.tcp_tw_reuse" = "2"

# Listeners this host must have, and what they must have set.
# [[listener]]
# port = 8080
# reuseaddr = true
# min_backlog = 1024
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Loaded, String> {
        parse(text, Path::new("sockdoc.toml")).map_err(|e| e.0)
    }

    #[test]
    fn the_template_parses_with_every_example_switched_on() {
        assert!(parsed(TEMPLATE).is_ok());
        let mut on = String::new();
        for line in TEMPLATE.lines() {
            let line = match line.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") || rest.starts_with('[') => rest,
                _ => line,
            };
            on.push_str(line);
            on.push('\n');
        }
        let loaded = parsed(&on).unwrap_or_else(|e| panic!("{e}\n{on}"));
        assert_eq!(loaded.max_p99, Some(Duration::from_millis(5)));
        assert_eq!(loaded.sysctl.len(), 2);
        assert_eq!(loaded.config.listener[0].min_backlog, Some(1024));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_line_and_the_key() {
        let typo = parsed("fail_on = \"warn\"\n\n[nagle]\nmax_p999 = \"5ms\"\n").unwrap_err();
        assert!(typo.starts_with("sockdoc.toml:4:"), "{typo}");
        assert!(typo.contains("max_p999"), "{typo}");
        let bad = parsed("[nagle]\nmax_p99 = \"fast\"\n").unwrap_err();
        assert!(
            bad.starts_with("sockdoc.toml:2:") && bad.contains("nagle.max_p99"),
            "{bad}"
        );
        let op = parsed("[sysctl]\n\"net.core.somaxconn\" = \">=\"\n").unwrap_err();
        assert!(op.starts_with("sockdoc.toml:2:"), "{op}");
        let level = parsed("fail_on = \"sometimes\"\n").unwrap_err();
        assert!(level.starts_with("sockdoc.toml:1:"), "{level}");
    }

    #[test]
    fn operators_compare_numbers_and_fold_text() {
        assert!(Op::Ge.holds("4096", "4096") && !Op::Ge.holds("128", "4096"));
        assert!(Op::Eq.holds("32768\t60999", "32768 60999"));
        assert!(Op::Ne.holds("1", "2"));
        let e = expectation("k", ">= 10").unwrap();
        assert_eq!((e.op, e.value.as_str()), (Op::Ge, "10"));
        assert_eq!(expectation("k", "2").unwrap().op, Op::Eq);
    }
}
