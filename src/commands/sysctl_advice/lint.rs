//! The config lint: every line of the files `sysctl --system` applies, in its order,
//! judged against the kernel (file:line for each problem), and which line sets a judged
//! knob last.

use std::collections::HashMap;

use super::era::{Has, TW_REUSE_LOOPBACK};
use super::live::Live;
use super::values;
use super::{
    ConfigFileEntry, ConfigProblem, ConfigRef, FileState, Level, ProblemKind, echo, echo_quoted,
};
use crate::sys::fs::Root;
use crate::sys::sysctl::{self, ConfigFile, FileStatus, Key, Knob, Line, Netns};

pub(super) fn file_entry(file: &ConfigFile) -> ConfigFileEntry {
    let (status, detail) = match &file.status {
        FileStatus::Read => (FileState::Read, None),
        FileStatus::Masked => (
            FileState::Masked,
            Some(
                "a symlink to /dev/null: same-named files in later directories are not read".into(),
            ),
        ),
        FileStatus::Shadowed { by } => (FileState::Shadowed, Some(format!("{by} is read instead"))),
        FileStatus::SameAs { file } => (
            FileState::SameFile,
            Some(format!("a symlink to {file}, judged there (read last)")),
        ),
        FileStatus::NeedsRoot(why) => (
            FileState::NeedsRoot,
            Some(format!("not checked: needs root ({why})")),
        ),
        FileStatus::Unreadable(why) => (FileState::Unreadable, Some(why.clone())),
    };
    ConfigFileEntry {
        file: file.path.clone(),
        status,
        detail,
        assignments: file
            .lines
            .iter()
            .filter(|(_, line)| matches!(line, Line::Assignment(_)))
            .count(),
    }
}

/// `ip_local_port_range` is checked against `ip_unprivileged_port_start` as the kernel
/// has it, unless a config line sets that knob too: then the order of the writes decides.
pub(super) fn unprivileged_start(live: &Live, files: &[ConfigFile]) -> Option<i128> {
    let path = Key::IpUnprivilegedPortStart.path();
    let configured = files.iter().any(|file| {
        file.lines
            .iter()
            .any(|(_, line)| matches!(line, Line::Assignment(a) if a.path == path))
    });
    if configured {
        return None;
    }
    live.number(Key::IpUnprivilegedPortStart).map(i128::from)
}

/// Judges every line of the files in the order `sysctl --system` applies them. Only the
/// effective (last) assignment of a key is compared with the live value; earlier ones
/// are reported when a later line overrides them with a different value. A value the
/// kernel refuses is reported on every line: procps-ng's `sysctl --system` writes every
/// line in order, overridden or not.
pub(super) fn lint(
    root: &Root,
    files: &[ConfigFile],
    netns: &Netns,
    reading: &values::Context,
) -> Vec<ConfigProblem> {
    let mut last = HashMap::new();
    for (index, file) in files.iter().enumerate() {
        for (number, line) in &file.lines {
            if let Line::Assignment(a) = line
                && !a.glob
            {
                last.insert(a.path.as_str(), (index, *number));
            }
        }
    }
    let mut lint = Lint {
        root,
        files,
        netns,
        reading,
        last,
        live: HashMap::new(),
    };
    let mut problems = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let whole_file = |level, kind, problem| ConfigProblem {
            file: file.path.clone(),
            line: None,
            key: None,
            value: None,
            value_bytes: None,
            live: None,
            level,
            kind,
            problem,
        };
        match &file.status {
            FileStatus::Unreadable(why) => problems.push(whole_file(
                Level::Advise,
                ProblemKind::Unreadable,
                format!("cannot be read, so its settings are not applied: {why}"),
            )),
            FileStatus::NeedsRoot(why) => problems.push(whole_file(
                Level::Info,
                ProblemKind::NeedsRoot,
                format!(
                    "not checked: needs root ({why}). `sysctl --system` runs as root and \
                     applies it; run sockdoc as root to check it"
                ),
            )),
            _ => {}
        }
        for (number, line) in &file.lines {
            let found = match line {
                Line::Malformed(why) => Some(ConfigProblem {
                    line: Some(*number),
                    ..whole_file(
                        Level::Advise,
                        ProblemKind::Malformed,
                        format!("malformed, skipped: {why}"),
                    )
                }),
                Line::Assignment(a) => lint
                    .assignment(index, *number, a)
                    .map(|problem| in_scope(problem, a)),
            };
            problems.extend(found);
        }
    }
    problems
}

/// sockdoc judges the network sysctls: a problem with a key outside `net.` (a distribution's
/// kernel.pid_max or fs.protected_* that a container cannot apply) is still listed, at info,
/// so it never fails `--check`. Malformed lines and unreadable files name no key and keep
/// their level: they may hold network settings.
fn in_scope(mut problem: ConfigProblem, a: &sysctl::Assignment) -> ConfigProblem {
    if !a.path.starts_with("net/") {
        problem.level = problem.level.min(Level::Info);
    }
    problem
}

/// What the tools that apply config files do with a line whose key the kernel lacks,
/// measured with procps-ng 4.0.2 and systemd 252 (Debian 12) inside `unshare --net`, and
/// read in their sources: procps-ng's `WriteSetting()` (src/sysctl.c) stat()s the key
/// before it looks at the '-' and fails unless errors are ignored, which `--system` and
/// `-e` do; systemd's `sysctl_write_or_warn()` (src/sysctl/sysctl.c) skips the key
/// silently with the '-', and with a log line but no failure without it.
pub(super) const SYSCTL_P_ABSENT: &str = "`sysctl -p FILE` (procps-ng) prints \"cannot stat\" for it and \
     exits 1, '-' prefix or not";

struct Lint<'a> {
    root: &'a Root,
    files: &'a [ConfigFile],
    netns: &'a Netns,
    reading: &'a values::Context<'a>,
    /// Where each knob (by /proc/sys path) is assigned last: (file index, line).
    last: HashMap<&'a str, (usize, usize)>,
    /// Live values, read once per knob.
    live: HashMap<&'a str, Knob>,
}

/// One config line, for building its problem.
struct Site<'s> {
    file: &'s str,
    line: usize,
    a: &'s sysctl::Assignment,
}

impl Site<'_> {
    fn problem(
        &self,
        level: Level,
        kind: ProblemKind,
        live: Option<&str>,
        problem: String,
    ) -> ConfigProblem {
        ConfigProblem {
            file: self.file.to_string(),
            line: Some(self.line),
            key: Some(self.a.key.clone()),
            value: Some(echo(&self.a.value)),
            value_bytes: Some(self.a.value.len()),
            live: live.map(echo),
            level,
            kind,
            problem,
        }
    }

    /// A key the kernel lacks: what each tool does with the line (see [`SYSCTL_P_ABSENT`]).
    fn absent(&self) -> ConfigProblem {
        let removed = removed_in(&self.a.path);
        if self.a.ignore_errors {
            self.problem(
                Level::Info,
                ProblemKind::AbsentIgnored,
                None,
                format!(
                    "no such key on this kernel{removed}: systemd-sysctl skips it silently \
                     because of the leading '-', and `sysctl --system` skips any key the kernel \
                     lacks; but {SYSCTL_P_ABSENT}"
                ),
            )
        } else {
            self.problem(
                Level::Warn,
                ProblemKind::NoSuchKey,
                None,
                format!(
                    "no such key on this kernel{removed}: {SYSCTL_P_ABSENT}; `sysctl --system` \
                     skips it, and systemd-sysctl logs it and goes on. Delete the line"
                ),
            )
        }
    }

    /// A value the kernel refuses, and what each tool then does (measured with procps-ng
    /// 4.0.2 and systemd 252: both exit 1 on EINVAL; systemd-sysctl writes only a key's
    /// last assignment and is silent about it with a leading '-').
    fn invalid(&self, why: &str, effective: bool, live: Option<&str>) -> ConfigProblem {
        let systemd = if !effective {
            "systemd-sysctl writes only a key's last assignment, so it skips this one"
        } else if self.a.ignore_errors {
            "systemd-sysctl skips it silently because of the leading '-'"
        } else {
            "so does systemd-sysctl"
        };
        self.problem(
            Level::Warn,
            ProblemKind::InvalidValue,
            live,
            format!(
                "invalid value: {why}. The kernel refuses the write (EINVAL), so this line is \
                 never applied, and `sysctl -p` and `sysctl --system` (procps-ng, which write \
                 every line) report it and exit 1; {systemd}. Fix or delete the line"
            ),
        )
    }
}

impl<'a> Lint<'a> {
    /// The problem with one assignment, if any.
    fn assignment(
        &mut self,
        index: usize,
        number: usize,
        a: &'a sysctl::Assignment,
    ) -> Option<ConfigProblem> {
        let site = Site {
            file: &self.files[index].path,
            line: number,
            a,
        };
        if a.glob {
            return Some(site.problem(
                Level::Info,
                ProblemKind::Glob,
                None,
                "a glob (systemd 249 and later): not checked against the knobs it matches".into(),
            ));
        }
        let root = self.root;
        let knob = self
            .live
            .entry(a.path.as_str())
            .or_insert_with(|| sysctl::read_knob_path(root, &a.path))
            .clone();
        let winner = self.last.get(a.path.as_str()).copied();
        let effective = winner == Some((index, number));
        if knob == Knob::Absent {
            return Some(site.absent());
        }
        let taken = match values::read(&a.path, &a.value, self.reading) {
            values::Reading::Rejected(why) => {
                return Some(site.invalid(&why, effective, knob.value()));
            }
            values::Reading::Takes(taken) => Some(taken),
            values::Reading::Unknown => None,
        };
        let Knob::Value(current) = &knob else {
            let why = match &knob {
                Knob::Unreadable(why) => why.as_str(),
                _ => "",
            };
            return effective.then(|| {
                site.problem(
                    Level::Info,
                    ProblemKind::NotCompared,
                    None,
                    format!("cannot compare with the live value: {why}"),
                )
            });
        };
        if a.value.contains('#') {
            return Some(
                site.problem(
                    Level::Advise,
                    ProblemKind::InlineComment,
                    Some(current),
                    "a '#' inside the value: comments must be on their own line, so the kernel is \
                 given the comment too"
                        .into(),
                ),
            );
        }
        if !effective {
            return self.overridden(&site, taken.as_ref(), winner?, current);
        }
        if a.path == Key::TcpTwReuse.path() && a.value.trim().parse::<i64>() == Ok(2) {
            return self.reuse_two(current, |level, live, problem| {
                site.problem(level, ProblemKind::Reuse2Meaning, live, problem)
            });
        }
        let shown = match &taken {
            Some(taken) => taken.shown_in(current),
            None => same_value(&a.value, current),
        };
        if !shown {
            return Some(not_applied(
                a,
                current,
                self.netns,
                taken.as_ref(),
                |level, kind, problem| site.problem(level, kind, Some(current), problem),
            ));
        }
        let note = taken.and_then(|t| t.note)?;
        Some(site.problem(
            Level::Advise,
            ProblemKind::PartlyRead,
            Some(current),
            format!("{note}. Write only what the kernel reads, so the file says what it does"),
        ))
    }

    /// A line a later one overrides: reported when the later one sets something else.
    fn overridden(
        &self,
        site: &Site,
        taken: Option<&values::Taken>,
        (winner_index, winner_line): (usize, usize),
        current: &str,
    ) -> Option<ConfigProblem> {
        let a = site.a;
        let value = self.value_at(winner_index, winner_line)?;
        let winner_path = &self.files[winner_index].path;
        let winner_taken = match values::read(&a.path, value, self.reading) {
            values::Reading::Takes(taken) => Some(taken),
            values::Reading::Rejected(_) => {
                // Measured (procps-ng 4.0.2, systemd 252): `sysctl --system` writes this
                // line, then fails on the later one; systemd-sysctl writes only the later.
                return Some(site.problem(
                    Level::Info,
                    ProblemKind::Overridden,
                    Some(current),
                    format!(
                        "overridden by {winner_path}:{winner_line}, whose value the kernel \
                         refuses (see there): after procps-ng's `sysctl --system` this line's \
                         value stays; systemd-sysctl writes only that last one, so the kernel \
                         keeps its own"
                    ),
                ));
            }
            values::Reading::Unknown => None,
        };
        let same = match (taken, &winner_taken) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => same_value(&a.value, value),
        };
        (!same).then(|| {
            site.problem(
                Level::Info,
                ProblemKind::Overridden,
                Some(current),
                format!(
                    "overridden by {winner_path}:{winner_line}, which sets {}",
                    echo_quoted(value)
                ),
            )
        })
    }

    /// `tcp_tw_reuse = 2` in a file: loopback only since Linux 4.18, global reuse before.
    fn reuse_two(
        &self,
        current: &str,
        at: impl Fn(Level, Option<&str>, String) -> ConfigProblem,
    ) -> Option<ConfigProblem> {
        let has = self.reading.era.has(&TW_REUSE_LOOPBACK);
        let (level, side) = match has {
            Has::Yes(_) => return None,
            Has::No(_) => (
                Level::Advise,
                format!(
                    "this kernel predates it ({}), so it reads 2 as global reuse, like 1",
                    has.evidence()
                ),
            ),
            Has::Unknown => (
                Level::Info,
                "this kernel's knobs do not tell which it is, so 2 may mean global reuse, like \
                 1"
                .to_string(),
            ),
        };
        Some(at(
            level,
            Some(current),
            format!(
                "2 means loopback-only reuse since Linux 4.18 (commit 79e9fed46038), and {side}. \
                 Write 1 if global reuse is meant, 0 if not"
            ),
        ))
    }

    fn value_at(&self, index: usize, number: usize) -> Option<&'a str> {
        self.files[index]
            .lines
            .iter()
            .find_map(|(n, line)| match line {
                Line::Assignment(a) if *n == number => Some(a.value.as_str()),
                _ => None,
            })
    }
}

/// The last assignment of `key` in the files, in the order they are applied, and whether
/// the kernel's `current` value matches it.
pub(super) fn configured(
    files: &[ConfigFile],
    key: Key,
    current: Option<&str>,
    reading: &values::Context,
) -> Option<ConfigRef> {
    let path = key.path();
    let path = path.as_str();
    files
        .iter()
        .flat_map(|file| {
            file.lines
                .iter()
                .filter_map(move |(number, line)| match line {
                    Line::Assignment(a) if a.path == path => Some((file, *number, a)),
                    _ => None,
                })
        })
        .last()
        .map(|(file, line, a)| ConfigRef {
            file: file.path.clone(),
            line,
            value: echo(&a.value),
            value_bytes: a.value.len(),
            // The kernel's own reading where sockdoc knows the handler (`1 # x` sets 1,
            // `1#x` is refused); otherwise the text before an inline comment, which is its
            // own config problem.
            applied: current.is_some_and(|c| match values::read(path, &a.value, reading) {
                values::Reading::Takes(taken) => taken.shown_in(c),
                values::Reading::Rejected(_) => false,
                values::Reading::Unknown => {
                    same_value(a.value.split('#').next().unwrap_or_default(), c)
                }
            }),
        })
}

fn not_applied(
    a: &sysctl::Assignment,
    current: &str,
    netns: &Netns,
    taken: Option<&values::Taken>,
    at: impl Fn(Level, ProblemKind, String) -> ConfigProblem,
) -> ConfigProblem {
    let current = echo_quoted(current);
    if a.path.starts_with("net/") && netns.initial == Some(false) {
        at(
            Level::Info,
            ProblemKind::DiffersInNetns,
            format!(
                "differs from this network namespace's value {current}; the files are applied \
                 to the initial namespace at boot, not to this one"
            ),
        )
    } else {
        let note = taken
            .and_then(|t| t.note.as_deref())
            .map(|note| format!(" (as written, {note})"))
            .unwrap_or_default();
        at(
            Level::Advise,
            ProblemKind::NotApplied,
            format!(
                "not applied: the kernel has {current}{note}. Run `sudo sysctl --system`, or \
                 find what sets it back (a later tool, a container runtime)"
            ),
        )
    }
}

fn removed_in(path: &str) -> &'static str {
    if path == Key::TcpTwRecycle.path() {
        " (tcp_tw_recycle was removed in Linux 4.12)"
    } else {
        ""
    }
}

/// Whether a configured value is what the kernel shows, for keys whose handler sockdoc
/// does not know (the others go through [`values::read`]): whitespace folded, numbers
/// compared as the kernel reads them (`010` is octal 8, `0x10` is 16: `proc_get_long()`).
fn same_value(configured: &str, live: &str) -> bool {
    let a: Vec<&str> = configured.split_whitespace().collect();
    let b: Vec<&str> = live.split_whitespace().collect();
    let number = |text: &str| {
        sysctl::kernel_numbers(text, 1)
            .ok()
            .filter(|n| n.ignored.is_empty())
            .map(|n| n.values[0])
    };
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || matches!((number(x), number(y)), (Some(p), Some(q)) if p == q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_compare_as_the_kernel_reads_them() {
        assert!(same_value("4096   131072\t6291456", "4096 131072 6291456"));
        assert!(same_value("01", "1"));
        // proc_get_long() reads a leading 0 as octal and 0x as hex (measured: 010 → 8).
        assert!(same_value("010", "8"));
        assert!(!same_value("010", "10"));
        assert!(same_value("0x10", "16"));
        assert!(!same_value("1", "2"));
        assert!(!same_value("1 2", "1"));
        assert!(same_value("bbr", "bbr"));
        assert!(same_value("", ""));
    }
}
