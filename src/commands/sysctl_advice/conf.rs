//! How `--format conf` says to apply its snippet: the commands, and what the tools do with
//! the snippet's '-'-prefixed lines. Computed here so the JSON carries the choice.

use serde::Serialize;

use super::Finding;
use crate::sys::sysctl::Key;

/// The knob a snippet sets with a leading '-': Linux 4.12 removed it, and the snippet may
/// outlive the kernel it was written for.
const REMOVED_KEY: Key = Key::TcpTwRecycle;

/// What the '-' before [`REMOVED_KEY`] does, tool by tool (see [`super::lint::SYSCTL_P_ABSENT`] for
/// the measurements and sources).
const OPTIONAL_KEY_NOTE: &str = "tcp_tw_recycle is gone from Linux 4.12 on. There systemd-sysctl \
     skips this line silently because of the leading '-' (sysctl_write_or_warn() in systemd's \
     src/sysctl/sysctl.c; measured with systemd 252), and procps-ng's `sysctl --system` skips a \
     key the kernel lacks with or without it; but `sysctl -p FILE` ignores the '-', prints \
     \"cannot stat\" and exits 1 unless given -e (WriteSetting() in procps-ng's src/sysctl.c; \
     measured with procps-ng 4.0.2). Delete this line once the kernel is 4.12 or later.";

/// How `--format conf` tells the user to apply the snippet: computed here so the JSON
/// carries the choice, printed by the renderer.
#[derive(Debug, Clone, Serialize)]
pub struct ConfAdvice {
    /// The commands, in the order offered, each with why, once the snippet is installed
    /// as /etc/sysctl.d/99-sockdoc.conf.
    pub apply: Vec<ApplyCommand>,
    /// Keys the snippet writes with a leading '-' (knobs newer kernels lack).
    pub optional_keys: Vec<Key>,
    /// What the tools do with such a line; null when the snippet has none.
    pub optional_note: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyCommand {
    pub command: String,
    pub comment: &'static str,
}

/// The file name the snippet suggests: sysctl.d files apply in file-name order and later
/// ones win, so it sorts after the usual distribution files.
pub const SNIPPET_NAME: &str = "99-sockdoc.conf";

impl ConfAdvice {
    pub(super) fn new(findings: &[Finding]) -> Self {
        let file = format!("/etc/sysctl.d/{SNIPPET_NAME}");
        let optional_keys: Vec<Key> = findings
            .iter()
            .filter(|f| f.key == REMOVED_KEY && f.suggested.is_some() && f.suggested != f.current)
            .map(|f| f.key)
            .collect();
        // `sysctl -p` would fail on a kernel without an optional key, '-' or not: -e
        // makes it skip keys the kernel lacks, as `--system` does.
        let this_file = if optional_keys.is_empty() {
            ApplyCommand {
                command: format!("sudo sysctl -p {file}"),
                comment: "this file only, now",
            }
        } else {
            ApplyCommand {
                command: format!("sudo sysctl -e -p {file}"),
                comment: "this file only; -e: skip absent keys",
            }
        };
        Self {
            apply: vec![
                this_file,
                ApplyCommand {
                    command: "sudo sysctl --system".into(),
                    comment: "or every file, in boot order",
                },
            ],
            optional_note: (!optional_keys.is_empty()).then_some(OPTIONAL_KEY_NOTE),
            optional_keys,
        }
    }
}
