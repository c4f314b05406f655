//! Sysctl knobs, their live evidence and the files `sysctl --system` reads, all under a
//! root ("/" normally, a fixture tree with `--root`). Nothing here writes.
//!
//! Kernel interfaces: /proc/sys (proc(5), sysctl(8)), /proc/net/sockstat (`proc_net(5)`),
//! /proc/self/ns/net (namespaces(7)). Config files: sysctl.d(5) and sysctl(8) `--system`.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsString;
use std::fs::{self};
use std::io;
use std::path::{Component, Path, PathBuf};

use super::error::{SysError, os_text};
use super::fs::{CONFIG_LIMIT, Root, VALUE_LIMIT, read_regular};

// ---------------------------------------------------------------------------------------
// Knobs
// ---------------------------------------------------------------------------------------

/// What reading one knob gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Knob {
    /// The kernel text, trimmed, runs of whitespace folded to one space.
    Value(String),
    /// No such file: the kernel (or this network namespace) has no such knob.
    Absent,
    /// The file exists but could not be read (permission, a write-only knob).
    Unreadable(String),
}

impl Knob {
    pub fn value(&self) -> Option<&str> {
        match self {
            Self::Value(v) => Some(v),
            Self::Absent | Self::Unreadable(_) => None,
        }
    }
}

/// Reads a dotted knob such as `net.ipv4.tcp_tw_reuse` from `root/proc/sys` (proc(5),
/// sysctl(8)): the one reader of /proc/sys. Read-only by design. A key that could leave
/// /proc/sys (an empty part, a `/`) is unreadable, never followed.
pub fn read_knob(root: &Root, key: &str) -> Knob {
    if key
        .split('.')
        .any(|part| part.is_empty() || part.contains('/'))
    {
        return Knob::Unreadable(format!(
            "{key:?} is not a sysctl key (expected dot-separated names such as \
             net.ipv4.tcp_fin_timeout)"
        ));
    }
    read_knob_path(root, &key.replace('.', "/"))
}

/// The value of a knob as a number (`net.core.somaxconn` → 4096); `None` when it is absent,
/// unreadable or not a single number.
pub fn read_number(root: &Root, key: &str) -> Option<u64> {
    read_knob(root, key).value()?.parse().ok()
}

/// Reads a knob named by its path under /proc/sys (`net/ipv4/conf/eth0.100/forwarding`),
/// the form a config key takes once normalized. The path was checked by [`parse_line`]
/// to stay inside /proc/sys.
pub fn read_knob_path(root: &Root, path: &str) -> Knob {
    match root.read(Path::new("proc/sys").join(path), VALUE_LIMIT) {
        Ok(bytes) => Knob::Value(fold(&String::from_utf8_lossy(&bytes))),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Knob::Absent,
        // A directory (`net.ipv4 = 1`) is not a knob either.
        Err(error) => Knob::Unreadable(os_text(&error)),
    }
}

/// What is wrong with `--root DIR`, if anything: it must be an existing directory.
pub fn root_problem(root: &Root) -> Option<String> {
    match fs::metadata(root.path()) {
        Ok(meta) if meta.is_dir() => None,
        Ok(_) => Some("not a directory".into()),
        Err(error) => Some(os_text(&error)),
    }
}

/// Whether `root/proc/sys` exists: without it no config value can be checked.
pub fn proc_sys_present(root: &Root) -> bool {
    root.join("proc/sys").is_dir()
}

/// Whether `root/proc/sys/net` exists at all: without it every knob reads as absent, and
/// "absent" would be a lie about the kernel.
pub fn proc_sys_net_present(root: &Root) -> bool {
    root.join("proc/sys/net").is_dir()
}

/// Trimmed, with runs of whitespace folded to one space: how sysctl(8) shows a value.
pub fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------
// /proc/net/sockstat
// ---------------------------------------------------------------------------------------

/// The TCP line of /proc/net/sockstat: `TCP: inuse 3 orphan 0 tw 12 alloc 5 mem 1`.
/// `tw` counts every TIME_WAIT socket of the namespace, IPv4 and IPv6, both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sockstat {
    pub inuse: u64,
    pub orphan: u64,
    pub time_wait: u64,
    pub alloc: u64,
}

pub fn read_sockstat(root: &Root) -> Result<Sockstat, SysError> {
    let path = root.join("proc/net/sockstat");
    let bytes = read_regular(&path, VALUE_LIMIT).map_err(|error| SysError::Read {
        path: path.clone(),
        error,
    })?;
    parse_sockstat(&String::from_utf8_lossy(&bytes)).map_err(|detail| SysError::Parse {
        what: path.display().to_string(),
        detail,
    })
}

pub fn parse_sockstat(text: &str) -> Result<Sockstat, String> {
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("TCP:"))
        .ok_or("no \"TCP:\" line")?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut fields = BTreeMap::new();
    for pair in words.chunks(2) {
        let [name, value] = pair else {
            return Err(format!("{:?} has no value", pair[0]));
        };
        let value: u64 = value
            .parse()
            .map_err(|_| format!("TCP {name} = {value:?} is not a number"))?;
        fields.insert(*name, value);
    }
    let field = |name: &str| {
        fields
            .get(name)
            .copied()
            .ok_or_else(|| format!("the TCP line has no {name:?} field"))
    };
    Ok(Sockstat {
        inuse: field("inuse")?,
        orphan: field("orphan")?,
        time_wait: field("tw")?,
        alloc: field("alloc")?,
    })
}

// ---------------------------------------------------------------------------------------
// The network namespace
// ---------------------------------------------------------------------------------------

/// The inode the initial network namespace has on kernels that give it a fixed one
/// (`PROC_NET_INIT_INO`, include/linux/proc_ns.h). Dynamic namespace inodes start at
/// 0xF0000000 (`PROC_DYNAMIC_FIRST`), so a namespace with this inode is the initial one.
pub const PROC_NET_INIT_INO: u64 = 0xEFFF_FFF9;

/// Which network namespace the values come from: most knobs sockdoc judges are per
/// namespace (a container sees its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netns {
    /// `net:[4026531833]`, or `None` when `root/proc/self/ns/net` cannot be read.
    pub id: Option<String>,
    /// Whether it is the initial namespace, when that can be told.
    pub initial: Option<bool>,
    /// How `initial` was decided, or why it could not be.
    pub basis: String,
}

pub fn network_namespace(root: &Root) -> Netns {
    let own = fs::read_link(root.join("proc/self/ns/net"));
    let id = match own {
        Ok(target) => target.to_string_lossy().into_owned(),
        Err(error) => {
            return Netns {
                id: None,
                initial: None,
                basis: format!("{}/proc/self/ns/net: {}", shown(root), os_text(&error)),
            };
        }
    };
    if namespace_inode(&id) == Some(PROC_NET_INIT_INO) {
        return Netns {
            id: Some(id),
            initial: Some(true),
            basis: "the fixed inode of the initial network namespace (PROC_NET_INIT_INO)".into(),
        };
    }
    let (initial, basis) = match fs::read_link(root.join("proc/1/ns/net")) {
        Ok(pid1) if pid1.to_string_lossy() == id => (
            Some(true),
            "the same as PID 1's (the initial namespace, unless PID 1 is a container's init)"
                .to_string(),
        ),
        Ok(pid1) => (
            Some(false),
            format!(
                "differs from PID 1's {}: a private namespace (container, unshare, ip netns)",
                pid1.to_string_lossy()
            ),
        ),
        Err(error) => (
            None,
            format!(
                "cannot tell whether it is the initial namespace: {}/proc/1/ns/net: {}",
                shown(root),
                os_text(&error)
            ),
        ),
    };
    Netns {
        id: Some(id),
        initial,
        basis,
    }
}

/// `net:[4026531833]` → 4026531833.
fn namespace_inode(link: &str) -> Option<u64> {
    link.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

fn shown(root: &Root) -> String {
    let text = root.display().to_string();
    text.trim_end_matches('/').to_string()
}

// ---------------------------------------------------------------------------------------
// The files `sysctl --system` reads
// ---------------------------------------------------------------------------------------

/// The sysctl.d directories, highest priority first (sysctl.d(5)): a file masks a file of
/// the same name in any later directory. /lib/sysctl.d is read by procps `sysctl --system`
/// and by systemd on split-/usr systems.
pub const SYSCTL_D_DIRS: [&str; 5] = [
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
];

/// Read after every sysctl.d file by procps `sysctl --system`, so it wins over them.
pub const SYSCTL_CONF: &str = "/etc/sysctl.conf";

/// How far a chain of symlinks is followed before it counts as a loop (the kernel's
/// limit is 40; config files are never that deep).
const MAX_SYMLINKS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// Read; its lines are in `lines`.
    Read,
    /// A symlink to /dev/null: it masks same-named files in later directories.
    Masked,
    /// Not read: a same-named file in an earlier directory takes its place.
    Shadowed { by: String },
    /// The same file as one read earlier through a symlink; its lines are listed there.
    SameAs { file: String },
    /// Could not be read (permission, a dangling symlink, a symlink loop).
    Unreadable(String),
    /// Permission denied to a process that is not root. `sysctl --system` runs as root
    /// and reads it, so its settings are applied; they are just not visible from here.
    NeedsRoot(String),
}

/// One config file, named as the host sees it (`/etc/sysctl.d/99-x.conf`), in the order
/// `sysctl --system` applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: String,
    pub status: FileStatus,
    /// `(line number, line)` for every line that is not blank or a comment.
    pub lines: Vec<(usize, Line)>,
}

/// Lists the config files under `root` in the order `sysctl --system` applies them: the
/// `*.conf` files of [`SYSCTL_D_DIRS`] sorted by file name (a name in an earlier
/// directory masks the same name in later ones), then [`SYSCTL_CONF`]. Masked and
/// shadowed files are listed too, so the report can say why a file was not read.
/// Directory read errors come back as notes.
pub fn config_files(root: &Root) -> (Vec<ConfigFile>, Vec<String>) {
    let mut notes = Vec::new();
    let mut chosen: BTreeMap<OsString, String> = BTreeMap::new();
    let mut shadowed: Vec<(OsString, String)> = Vec::new();
    // On merged-/usr systems /lib is /usr/lib: one directory, listed once.
    let mut seen_dirs = BTreeSet::new();
    for dir in SYSCTL_D_DIRS {
        let real = match resolve(root, dir) {
            Resolved::File(real, canonical) if seen_dirs.insert(canonical.clone()) => real,
            Resolved::File(..) | Resolved::DevNull => continue,
            Resolved::Broken(why) if why.ends_with("does not exist") => continue,
            Resolved::Broken(why) => {
                notes.push(format!("{dir} could not be listed: {why}"));
                continue;
            }
            Resolved::Denied(why) => {
                notes.push(unlisted(dir, &why));
                continue;
            }
        };
        let entries = match fs::read_dir(&real) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                notes.push(unlisted(dir, &os_text(&error)));
                continue;
            }
            Err(error) => {
                notes.push(format!("{dir} could not be listed: {}", os_text(&error)));
                continue;
            }
        };
        let mut names: Vec<OsString> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.file_name())
            .filter(is_conf_name)
            .collect();
        names.sort();
        for name in names {
            let path = format!("{dir}/{}", name.to_string_lossy());
            if real.join(&name).is_dir() {
                continue;
            }
            match chosen.entry(name) {
                Entry::Occupied(first) => shadowed.push((first.key().clone(), path)),
                Entry::Vacant(slot) => {
                    slot.insert(path);
                }
            }
        }
    }

    let mut files = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (name, path) in &chosen {
        let file = load(root, path);
        if let Some(real) = &file.1 {
            seen.entry(real.clone()).or_insert(files.len());
        }
        files.push(file.0);
        for (other_name, other) in &shadowed {
            if other_name == name {
                files.push(ConfigFile {
                    path: other.clone(),
                    status: FileStatus::Shadowed { by: path.clone() },
                    lines: Vec::new(),
                });
            }
        }
    }
    if fs::symlink_metadata(inside(root, SYSCTL_CONF)).is_ok() {
        let (file, real) = load(root, SYSCTL_CONF);
        // Debian links /etc/sysctl.d/99-sysctl.conf to ../sysctl.conf: one file read
        // twice. Its lines are judged once, at the later position, where they win.
        if let Some(&earlier) = real.as_ref().and_then(|real| seen.get(real)) {
            let first = &mut files[earlier];
            first.lines.clear();
            first.status = FileStatus::SameAs {
                file: SYSCTL_CONF.to_string(),
            };
        }
        files.push(file);
    }
    (files, notes)
}

/// The note for a directory this process may not list: not checked, rather than missing.
fn unlisted(dir: &str, why: &str) -> String {
    if running_as_root() {
        format!("{dir} could not be listed: {why}")
    } else {
        format!(
            "{dir} not checked: needs root ({why}). `sysctl --system` runs as root and applies \
             the files in it; run sockdoc as root to check them."
        )
    }
}

/// systemd and procps read `*.conf` and skip hidden files.
fn is_conf_name(name: &OsString) -> bool {
    let name = name.to_string_lossy();
    !name.starts_with('.') && name.ends_with(".conf") && name.len() > ".conf".len()
}

/// Reads one file, following symlinks inside `root`; also returns its symlink-free path, so
/// a file reached twice is judged once.
fn load(root: &Root, path: &str) -> (ConfigFile, Option<String>) {
    let file = |status, lines| ConfigFile {
        path: path.to_string(),
        status,
        lines,
    };
    match resolve(root, path) {
        Resolved::DevNull => (file(FileStatus::Masked, Vec::new()), None),
        Resolved::Broken(why) => (file(FileStatus::Unreadable(why), Vec::new()), None),
        Resolved::Denied(why) => (file(denied(why), Vec::new()), None),
        Resolved::File(real, canonical) => match read_regular(&real, CONFIG_LIMIT) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let lines = text
                    .lines()
                    .enumerate()
                    .filter_map(|(i, line)| parse_line(line).map(|parsed| (i + 1, parsed)))
                    .collect();
                (file(FileStatus::Read, lines), Some(canonical))
            }
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                (file(denied(os_text(&error)), Vec::new()), None)
            }
            Err(error) => (
                file(FileStatus::Unreadable(os_text(&error)), Vec::new()),
                None,
            ),
        },
    }
}

/// A permission error: for root it is a real problem (an LSM, a root-squashed mount); for
/// anyone else it only means the file is root's, as sysctl.d files may be.
fn denied(why: String) -> FileStatus {
    if running_as_root() {
        FileStatus::Unreadable(why)
    } else {
        FileStatus::NeedsRoot(why)
    }
}

/// Whether sockdoc runs with uid 0, as `sysctl --system` does when it applies the files.
pub fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

enum Resolved {
    /// The real file (or directory) under the root, and its symlink-free host path.
    File(PathBuf, String),
    /// A symlink (chain) to /dev/null.
    DevNull,
    Broken(String),
    /// A component could not be looked up: permission denied.
    Denied(String),
}

/// Follows symlinks the way the host would, one path component at a time, but inside
/// `root`: an absolute target restarts at the root and `..` never climbs above it, so a
/// fixture tree can never make sockdoc read outside it.
fn resolve(root: &Root, host_path: &str) -> Resolved {
    let mut done: Vec<OsString> = Vec::new();
    let mut todo: VecDeque<OsString> = components(host_path).collect();
    let mut hops = 0;
    while let Some(part) = todo.pop_front() {
        // /dev/null is the host's, never the fixture's (which has no /dev).
        let whole: Vec<OsString> = done
            .iter()
            .chain([&part])
            .chain(todo.iter())
            .cloned()
            .collect();
        if host_text(&whole) == "/dev/null" {
            return Resolved::DevNull;
        }
        if part == ".." {
            done.pop();
            continue;
        }
        done.push(part);
        let host = host_text(&done);
        let real = inside(root, &host);
        match fs::symlink_metadata(&real) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Resolved::Broken(format!(
                        "more than {MAX_SYMLINKS} levels of symlinks"
                    ));
                }
                let target = match fs::read_link(&real) {
                    Ok(target) => target.to_string_lossy().into_owned(),
                    Err(error) => return Resolved::Broken(os_text(&error)),
                };
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                for (i, part) in components(&target).enumerate() {
                    todo.insert(i, part);
                }
            }
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Resolved::Broken(format!("{host} does not exist"));
            }
            Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
                return Resolved::Denied(os_text(&error));
            }
            Err(error) => return Resolved::Broken(os_text(&error)),
        }
    }
    let host = host_text(&done);
    Resolved::File(inside(root, &host), host)
}

/// The names and `..` of a path; `.` and the root drop out.
fn components(path: &str) -> impl Iterator<Item = OsString> + '_ {
    Path::new(path).components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

fn host_text(parts: &[OsString]) -> String {
    let mut text = String::new();
    for part in parts {
        text.push('/');
        text.push_str(&part.to_string_lossy());
    }
    if text.is_empty() { "/".into() } else { text }
}

/// A host path (`/etc/sysctl.conf`) under the root.
fn inside(root: &Root, host_path: &str) -> PathBuf {
    root.join(host_path.trim_start_matches('/'))
}

// ---------------------------------------------------------------------------------------
// One line of a config file
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Assignment(Assignment),
    /// Not `key = value`; the text says what is wrong.
    Malformed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The key in dotted form, as sysctl(8) prints it (`net.ipv4.tcp_tw_reuse`).
    pub key: String,
    /// The file under /proc/sys it names (`net/ipv4/tcp_tw_reuse`): the identity of the
    /// knob, whichever separator the line used.
    pub path: String,
    pub value: String,
    /// A leading `-`: a failure to set it is ignored (sysctl.d(5)).
    pub ignore_errors: bool,
    /// The key is a glob (`net.ipv4.conf.*.rp_filter`, systemd 249 and later).
    pub glob: bool,
}

/// Parses one line of a sysctl.d file (sysctl.d(5)): `key = value` or `key=value`; blank
/// lines and lines starting with `#` or `;` are skipped (`None`). A key may use `/` or `.`
/// as separator: when the first separator is a dot, dots and slashes swap meaning, so
/// `net.ipv4.conf.eth0/100.forwarding` is the file `net/ipv4/conf/eth0.100/forwarding`.
pub fn parse_line(text: &str) -> Option<Line> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') || text.starts_with(';') {
        return None;
    }
    let Some((key, value)) = text.split_once('=') else {
        return Some(Line::Malformed(
            "not an assignment: expected `key = value`".into(),
        ));
    };
    let (key, value) = (key.trim(), value.trim());
    let (key, ignore_errors) = match key.strip_prefix('-') {
        Some(rest) => (rest.trim_start(), true),
        None => (key, false),
    };
    if key.is_empty() {
        return Some(Line::Malformed("no key before `=`".into()));
    }
    if key.contains(char::is_whitespace) {
        return Some(Line::Malformed(format!(
            "the key {key:?} contains whitespace"
        )));
    }
    let path = key_path(key);
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Some(Line::Malformed(format!(
            "the key {key:?} has an empty or relative component"
        )));
    }
    Some(Line::Assignment(Assignment {
        key: dotted(&path),
        glob: path.contains(['*', '?', '[']),
        path,
        value: value.to_string(),
        ignore_errors,
    }))
}

/// The /proc/sys path a key names (sysctl.d(5) separator rules).
fn key_path(key: &str) -> String {
    let key = key.trim_matches('/');
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'.' => key
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                other => other,
            })
            .collect(),
        _ => key.to_string(),
    }
}

/// The dotted form of a /proc/sys path, as sysctl(8) prints it.
fn dotted(path: &str) -> String {
    path.chars()
        .map(|c| match c {
            '/' => '.',
            '.' => '/',
            other => other,
        })
        .collect()
}

/// Parses `ip_local_reserved_ports` text, `8080,9000-9010`, into inclusive ranges.
/// Empty text is no ranges.
pub fn parse_port_ranges(text: &str) -> Result<Vec<(u16, u16)>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|part| {
            let part = part.trim();
            let (low, high) = part.split_once('-').unwrap_or((part, part));
            let number = |t: &str| {
                t.trim()
                    .parse::<u16>()
                    .map_err(|_| format!("{part:?} is not a port or a range of ports"))
            };
            let (low, high) = (number(low)?, number(high)?);
            if low > high {
                return Err(format!("{part:?} runs backwards"));
            }
            Ok((low, high))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// How the kernel reads a value written to a knob
// ---------------------------------------------------------------------------------------

/// The longest number the kernel's integer parser takes, sign and `0x` included:
/// `proc_get_long()` (kernel/sysctl.c) copies at most `TMPBUFLEN - 1` = 21 bytes and
/// refuses a number that fills them, since it cannot tell where such a number ends.
pub const KERNEL_NUMBER_MAX_CHARS: usize = 20;

/// What the kernel's integer handlers read from a written value: `proc_dointvec()`,
/// `proc_douintvec()`, `proc_dou8vec_minmax()` and their variants (kernel/sysctl.c) skip
/// whitespace, read up to as many numbers as the knob holds, and never look at what
/// follows (`__do_proc_dointvec()` returns a short write, `do_proc_douintvec_w()` none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelNumbers {
    /// The numbers read, at most the `count` asked for; fewer when the text has fewer.
    pub values: Vec<i128>,
    /// What follows the last number read, trimmed: text the kernel ignores.
    pub ignored: String,
}

/// Reads `text` (a config value, as sysctl(8) and systemd-sysctl write it, with a newline
/// after it) the way the kernel's integer handlers do, up to `count` numbers, or says why
/// the kernel refuses it (EINVAL). Each number: an optional `-`, then digits in base 10,
/// 16 after `0x`, or 8 after a leading `0` (`_parse_integer_fixup_radix()`), at most
/// [`KERNEL_NUMBER_MAX_CHARS`] characters and 64 bits, ended by a space, tab or newline
/// (`proc_get_long()`). No number at all is refused too (`__do_proc_dointvec()`).
/// Whether each number fits the knob's type and bounds is the caller's to judge.
pub fn kernel_numbers(text: &str, count: usize) -> Result<KernelNumbers, String> {
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut values = Vec::new();
    while values.len() < count {
        while at < bytes.len() && is_c_space(bytes[at]) {
            at += 1;
        }
        if at == bytes.len() {
            break;
        }
        let (value, used) = kernel_number(&bytes[at..], b" \t\n")?;
        values.push(value);
        at += used;
    }
    if values.is_empty() {
        return Err("it holds no number, and the kernel refuses a write without one".into());
    }
    Ok(KernelNumbers {
        values,
        ignored: text[at..].trim().to_string(),
    })
}

/// Reads an `ip_local_reserved_ports` value the way `proc_do_large_bitmap()`
/// (kernel/sysctl.c) does: ports or `low-high` ranges below 65536, separated by commas
/// alone (a space is refused), numbers as [`kernel_numbers`] reads them; empty clears the
/// list. Returns the ranges or why the kernel refuses the write.
pub fn kernel_port_list(text: &str) -> Result<Vec<(u16, u16)>, String> {
    const BITS: i128 = 1 << 16;
    // sysctl(8) and systemd-sysctl end the value with a newline; the kernel skips
    // newlines between entries and allows one as a terminator.
    let written = format!("{text}\n");
    let bytes = written.as_bytes();
    let mut at = 0;
    let mut ranges = Vec::new();
    let skip_newlines = |at: &mut usize| {
        while *at < bytes.len() && bytes[*at] == b'\n' {
            *at += 1;
        }
    };
    skip_newlines(&mut at);
    while at < bytes.len() {
        let (low, used) = kernel_number(&bytes[at..], b"-,\n")?;
        at += used;
        let port = |value: i128| {
            if (0..BITS).contains(&value) {
                Ok(value as u16)
            } else {
                Err(format!("{value} is not a port (0 to 65535)"))
            }
        };
        let low = port(low)?;
        let terminator = bytes.get(at).copied();
        at += usize::from(terminator.is_some());
        let high = if terminator == Some(b'-') {
            let (high, used) = kernel_number(&bytes[at..], b",\n\0")?;
            at += used;
            at += usize::from(at < bytes.len());
            let high = port(high)?;
            if high < low {
                return Err(format!("the range {low}-{high} runs backwards"));
            }
            high
        } else {
            low
        };
        ranges.push((low, high));
        skip_newlines(&mut at);
    }
    Ok(ranges)
}

/// One number at the start of `bytes` as `proc_get_long()` reads it, and the bytes it
/// used; what follows it must be one of `terminators` (or the end).
fn kernel_number(bytes: &[u8], terminators: &[u8]) -> Result<(i128, usize), String> {
    let shown = |end: usize| String::from_utf8_lossy(&bytes[..end.min(bytes.len())]).into_owned();
    let word_end = bytes
        .iter()
        .position(|b| is_c_space(*b) || terminators.contains(b))
        .unwrap_or(bytes.len())
        .max(1);
    match bytes.first() {
        None | Some(b'\n' | b'\0') => {
            return Err("a number is missing where the kernel expects one".into());
        }
        Some(b) if is_c_space(*b) => {
            return Err("a space where the kernel expects a digit (it allows none there)".into());
        }
        Some(b) if terminators.contains(b) => {
            return Err(format!(
                "{:?} where the kernel expects a digit",
                char::from(*b)
            ));
        }
        Some(_) => {}
    }
    let negative = bytes.first() == Some(&b'-') && bytes.len() > 1;
    let mut at = usize::from(negative);
    if !bytes.get(at).is_some_and(u8::is_ascii_digit) {
        return Err(format!(
            "{:?} is not a number (the kernel reads digits, with an optional '-')",
            shown(word_end)
        ));
    }
    let radix = match (bytes.get(at), bytes.get(at + 1), bytes.get(at + 2)) {
        (Some(b'0'), Some(b'x' | b'X'), Some(d)) if d.is_ascii_hexdigit() => {
            at += 2;
            16
        }
        (Some(b'0'), ..) => 8,
        _ => 10,
    };
    let mut value: u64 = 0;
    let mut overflow = false;
    while let Some(digit) = bytes.get(at).and_then(|b| char::from(*b).to_digit(radix)) {
        match value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(digit)))
        {
            Some(v) => value = v,
            None => overflow = true,
        }
        at += 1;
    }
    if at > KERNEL_NUMBER_MAX_CHARS {
        return Err(format!(
            "a number of {at} characters: the kernel reads at most {KERNEL_NUMBER_MAX_CHARS}"
        ));
    }
    if overflow {
        return Err(format!("{} does not fit in 64 bits", shown(at)));
    }
    if let Some(next) = bytes.get(at)
        && !terminators.contains(next)
    {
        return Err(format!(
            "{:?} is not a number: {:?} follows the digits",
            shown(word_end),
            char::from(*next)
        ));
    }
    let value = i128::from(value);
    Ok((if negative { -value } else { value }, at))
}

/// C's isspace(): what `proc_skip_spaces()` skips.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use proptest::prelude::*;

    use super::*;

    fn assignment(text: &str) -> Assignment {
        match parse_line(text) {
            Some(Line::Assignment(a)) => a,
            other => panic!("{text:?} → {other:?}"),
        }
    }

    #[test]
    fn lines_parse_like_sysctl_d() {
        let a = assignment("  net.ipv4.tcp_tw_reuse = 1  ");
        assert_eq!(
            (a.key.as_str(), a.path.as_str(), a.value.as_str()),
            ("net.ipv4.tcp_tw_reuse", "net/ipv4/tcp_tw_reuse", "1")
        );
        assert!(!a.ignore_errors && !a.glob);
        let a = assignment("net.ipv4.ip_local_port_range=1024\t65535");
        assert_eq!(a.value, "1024\t65535");
        let a = assignment("-net.ipv4.tcp_tw_recycle = 0");
        assert!(a.ignore_errors);
        assert_eq!(a.key, "net.ipv4.tcp_tw_recycle");
        let a = assignment("net/ipv4/tcp_fin_timeout = 30");
        assert_eq!(a.key, "net.ipv4.tcp_fin_timeout");
        assert_eq!(a.path, "net/ipv4/tcp_fin_timeout");
        // The separator rule: the first separator decides.
        let a = assignment("net.ipv4.conf.eth0/100.forwarding = 1");
        assert_eq!(a.path, "net/ipv4/conf/eth0.100/forwarding");
        assert_eq!(a.key, "net.ipv4.conf.eth0/100.forwarding");
        let a = assignment("net/ipv4/conf/eth0.100/forwarding = 1");
        assert_eq!(a.path, "net/ipv4/conf/eth0.100/forwarding");
        assert!(assignment("net.ipv4.conf.*.rp_filter = 2").glob);
        assert_eq!(assignment("net.ipv4.ip_local_reserved_ports =").value, "");
        for skipped in ["", "   ", "# comment", "; comment", "  #x = 1"] {
            assert_eq!(parse_line(skipped), None, "{skipped:?}");
        }
    }

    #[test]
    fn malformed_lines_say_why() {
        for (text, why) in [
            ("net.ipv4.tcp_tw_reuse 1", "not an assignment"),
            ("= 1", "no key"),
            ("- = 1", "no key"),
            ("net ipv4 = 1", "whitespace"),
            ("net..ipv4 = 1", "empty or relative"),
            ("net/../../etc/passwd = 1", "empty or relative"),
        ] {
            match parse_line(text) {
                Some(Line::Malformed(detail)) => assert!(detail.contains(why), "{text}: {detail}"),
                other => panic!("{text:?} → {other:?}"),
            }
        }
    }

    #[test]
    fn sockstat_gives_the_time_wait_count() {
        let text =
            "sockets: used 290\nTCP: inuse 27 orphan 1 tw 118 alloc 31 mem 9\nUDP: inuse 5 mem 2\n";
        assert_eq!(
            parse_sockstat(text).unwrap(),
            Sockstat {
                inuse: 27,
                orphan: 1,
                time_wait: 118,
                alloc: 31
            }
        );
        assert!(parse_sockstat("sockets: used 1\n").is_err());
        assert!(parse_sockstat("TCP: inuse x orphan 0 tw 0 alloc 0\n").is_err());
        assert!(parse_sockstat("TCP: inuse 1 orphan\n").is_err());
        assert!(parse_sockstat("TCP: inuse 1 orphan 0 alloc 0\n").is_err());
    }

    #[test]
    fn reserved_ports_parse_as_ranges() {
        assert_eq!(parse_port_ranges("").unwrap(), vec![]);
        assert_eq!(
            parse_port_ranges("8080,9000-9010").unwrap(),
            vec![(8080, 8080), (9000, 9010)]
        );
        assert!(parse_port_ranges("9010-9000").is_err());
        assert!(parse_port_ranges("http").is_err());
        assert!(parse_port_ranges("70000").is_err());
    }

    #[test]
    fn files_are_listed_in_systemd_order_with_masks_and_duplicates() {
        let root = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let file = inside(&Root::at(root.path()), path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, text).unwrap();
        };
        write("/usr/lib/sysctl.d/10-a.conf", "a.b = 1\n");
        write("/usr/lib/sysctl.d/50-masked.conf", "a.c = 1\n");
        write("/usr/lib/sysctl.d/60-shadowed.conf", "a.d = 1\n");
        write("/run/sysctl.d/60-shadowed.conf", "a.d = 2\n");
        write("/etc/sysctl.d/README", "not a conf file\n");
        write("/etc/sysctl.d/.hidden.conf", "a.e = 1\n");
        write("/etc/sysctl.conf", "# top\nkernel.x = 1\n");
        fs::create_dir_all(inside(&Root::at(root.path()), "/etc/sysctl.d/dir.conf")).unwrap();
        symlink(
            "/dev/null",
            inside(&Root::at(root.path()), "/etc/sysctl.d/50-masked.conf"),
        )
        .unwrap();
        symlink(
            "../sysctl.conf",
            inside(&Root::at(root.path()), "/etc/sysctl.d/99-sysctl.conf"),
        )
        .unwrap();
        symlink(
            "/nowhere.conf",
            inside(&Root::at(root.path()), "/etc/sysctl.d/70-dangling.conf"),
        )
        .unwrap();

        let (files, notes) = config_files(&Root::at(root.path()));
        assert!(notes.is_empty(), "{notes:?}");
        let listed: Vec<(&str, &FileStatus)> =
            files.iter().map(|f| (f.path.as_str(), &f.status)).collect();
        assert_eq!(
            listed,
            vec![
                ("/usr/lib/sysctl.d/10-a.conf", &FileStatus::Read),
                ("/etc/sysctl.d/50-masked.conf", &FileStatus::Masked),
                (
                    "/usr/lib/sysctl.d/50-masked.conf",
                    &FileStatus::Shadowed {
                        by: "/etc/sysctl.d/50-masked.conf".into()
                    }
                ),
                ("/run/sysctl.d/60-shadowed.conf", &FileStatus::Read),
                (
                    "/usr/lib/sysctl.d/60-shadowed.conf",
                    &FileStatus::Shadowed {
                        by: "/run/sysctl.d/60-shadowed.conf".into()
                    }
                ),
                (
                    "/etc/sysctl.d/70-dangling.conf",
                    &FileStatus::Unreadable("/nowhere.conf does not exist".into())
                ),
                (
                    "/etc/sysctl.d/99-sysctl.conf",
                    &FileStatus::SameAs {
                        file: "/etc/sysctl.conf".into()
                    }
                ),
                ("/etc/sysctl.conf", &FileStatus::Read),
            ]
        );
        assert_eq!(files[3].lines.len(), 1);
        // The twice-reached file's lines are judged once, at its last position.
        assert!(files[6].lines.is_empty());
        assert_eq!(files[7].lines.len(), 1);
        assert_eq!(files[7].lines[0].0, 2);
    }

    #[test]
    fn symlinks_never_leave_the_root() {
        let root = tempfile::tempdir().unwrap();
        let dir = inside(&Root::at(root.path()), "/etc/sysctl.d");
        fs::create_dir_all(&dir).unwrap();
        symlink("../../../../../../etc/passwd", dir.join("10-up.conf")).unwrap();
        symlink("20-loop.conf", dir.join("20-loop.conf")).unwrap();
        let (files, _) = config_files(&Root::at(root.path()));
        let why = |i: usize| match &files[i].status {
            FileStatus::Unreadable(why) => why.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(why(0), "/etc/passwd does not exist");
        assert_eq!(why(1), "more than 16 levels of symlinks");
    }

    #[test]
    fn fifos_devices_and_huge_files_are_unreadable_not_a_hang() {
        let root = tempfile::tempdir().unwrap();
        let dir = inside(&Root::at(root.path()), "/etc/sysctl.d");
        fs::create_dir_all(&dir).unwrap();
        nix::unistd::mkfifo(&dir.join("50-fifo.conf"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        // Read before the limit was checked, this would be a megabyte and a byte of lines.
        let mut big = "net.ipv4.tcp_tw_reuse = 1\n".repeat(40_000);
        big.push_str(&"#".repeat((1 << 20) - big.len() + 1));
        fs::write(dir.join("60-big.conf"), &big).unwrap();
        fs::write(dir.join("70-limit.conf"), &big[..1 << 20]).unwrap();
        fs::write(
            inside(&Root::at(root.path()), "/etc/sysctl.conf"),
            "a.b = 1\n",
        )
        .unwrap();
        let (files, notes) = config_files(&Root::at(root.path()));
        assert!(notes.is_empty(), "{notes:?}");
        let statuses: Vec<(&str, &FileStatus)> =
            files.iter().map(|f| (f.path.as_str(), &f.status)).collect();
        assert_eq!(
            statuses,
            vec![
                (
                    "/etc/sysctl.d/50-fifo.conf",
                    &FileStatus::Unreadable("not a regular file (a FIFO)".into())
                ),
                (
                    "/etc/sysctl.d/60-big.conf",
                    &FileStatus::Unreadable("larger than 1 MiB".into())
                ),
                ("/etc/sysctl.d/70-limit.conf", &FileStatus::Read),
                ("/etc/sysctl.conf", &FileStatus::Read),
            ]
        );
        assert_eq!(files[2].lines.len(), 40_000, "exactly 1 MiB is read");

        // A device node inside the tree (root only: mknod needs CAP_MKNOD).
        let zero = inside(&Root::at(root.path()), "/dev/zero");
        fs::create_dir_all(zero.parent().unwrap()).unwrap();
        let made = nix::sys::stat::mknod(
            &zero,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::S_IRUSR,
            nix::sys::stat::makedev(1, 5),
        );
        if made.is_ok() {
            symlink("/dev/zero", dir.join("80-zero.conf")).unwrap();
            let (files, _) = config_files(&Root::at(root.path()));
            let zero = files.iter().find(|f| f.path.ends_with("80-zero.conf"));
            assert_eq!(
                zero.map(|f| &f.status),
                Some(&FileStatus::Unreadable(
                    "not a regular file (a character device)".into()
                ))
            );
        } else {
            println!("SKIP (needs root): a /dev/zero node inside a fixture tree");
        }
    }

    #[test]
    fn sysctls_are_read_folded_and_never_escape_proc_sys() {
        let root = tempfile::tempdir().unwrap();
        let ipv4 = root.path().join("proc/sys/net/ipv4");
        fs::create_dir_all(&ipv4).unwrap();
        fs::write(ipv4.join("tcp_rmem"), "4096\t131072\t6291456\n").unwrap();
        let read = |key| read_knob(&Root::at(root.path()), key);
        assert_eq!(
            read("net.ipv4.tcp_rmem"),
            Knob::Value("4096 131072 6291456".into())
        );
        assert_eq!(read("net.ipv4.tcp_tw_recycle"), Knob::Absent);
        assert!(matches!(read("net.ipv4"), Knob::Unreadable(_)));
        for bad in ["net..ipv4", "net/../../etc", ".net", ""] {
            assert!(
                matches!(read(bad), Knob::Unreadable(why) if why.contains("not a sysctl key")),
                "{bad}"
            );
        }
        let live = read_number(&Root::live(), "net.ipv4.tcp_fin_timeout");
        assert!(live.is_some_and(|n| n > 0), "{live:?}");
    }

    #[test]
    fn sysctls_refuse_fifos_devices_and_oversized_files() {
        let root = tempfile::tempdir().unwrap();
        let ipv4 = root.path().join("proc/sys/net/ipv4");
        fs::create_dir_all(&ipv4).unwrap();
        nix::unistd::mkfifo(&ipv4.join("tcp_tw_reuse"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        fs::write(ipv4.join("tcp_rmem"), vec![b'1'; 300 << 10]).unwrap();
        std::os::unix::fs::symlink("/dev/zero", ipv4.join("tcp_wmem")).unwrap();
        let error = |key| match read_knob(&Root::at(root.path()), key) {
            Knob::Unreadable(why) => why,
            other => panic!("{key}: {other:?}"),
        };
        // Returns at once rather than waiting for a writer that never comes.
        assert!(
            error("net.ipv4.tcp_tw_reuse").ends_with("not a regular file (a FIFO)"),
            "{}",
            error("net.ipv4.tcp_tw_reuse")
        );
        assert!(error("net.ipv4.tcp_rmem").ends_with("larger than 256 KiB"));
        assert!(error("net.ipv4.tcp_wmem").ends_with("not a regular file (a character device)"));
        assert!(error("net.ipv4").ends_with("not a regular file (a directory)"));
    }

    #[test]
    fn a_merged_usr_lists_each_directory_once_and_absolute_links_stay_inside() {
        let root = tempfile::tempdir().unwrap();
        let usr = inside(&Root::at(root.path()), "/usr/lib/sysctl.d");
        fs::create_dir_all(&usr).unwrap();
        fs::write(usr.join("10-a.conf"), "a.b = 1\n").unwrap();
        symlink("usr/lib", root.path().join("lib")).unwrap();
        // An absolute link inside the tree means the tree's /usr, not the host's.
        fs::create_dir_all(root.path().join("etc")).unwrap();
        symlink("/usr/lib/sysctl.d", root.path().join("etc/sysctl.d")).unwrap();
        let (files, notes) = config_files(&Root::at(root.path()));
        assert!(notes.is_empty(), "{notes:?}");
        let listed: Vec<(&str, &FileStatus)> =
            files.iter().map(|f| (f.path.as_str(), &f.status)).collect();
        assert_eq!(listed, vec![("/etc/sysctl.d/10-a.conf", &FileStatus::Read)]);
    }

    #[test]
    fn a_root_without_proc_has_an_unknown_namespace() {
        let root = tempfile::tempdir().unwrap();
        let netns = network_namespace(&Root::at(root.path()));
        assert_eq!((netns.id, netns.initial), (None, None));
        assert!(netns.basis.contains("proc/self/ns/net"), "{}", netns.basis);
        let ns = root.path().join("proc/self/ns");
        fs::create_dir_all(&ns).unwrap();
        symlink("net:[4026531833]", ns.join("net")).unwrap();
        let netns = network_namespace(&Root::at(root.path()));
        assert_eq!(netns.id.as_deref(), Some("net:[4026531833]"));
        assert_eq!(netns.initial, Some(true));
    }

    #[test]
    fn this_process_has_a_namespace() {
        let netns = network_namespace(&Root::live());
        let id = netns.id.expect("/proc/self/ns/net is readable");
        assert!(namespace_inode(&id).is_some(), "{id}");
    }

    #[test]
    fn knobs_distinguish_absent_from_unreadable() {
        let root = tempfile::tempdir().unwrap();
        let ipv4 = root.path().join("proc/sys/net/ipv4");
        fs::create_dir_all(&ipv4).unwrap();
        fs::write(ipv4.join("ip_local_port_range"), "32768\t60999\n").unwrap();
        assert_eq!(
            read_knob(&Root::at(root.path()), "net.ipv4.ip_local_port_range"),
            Knob::Value("32768 60999".into())
        );
        assert_eq!(
            read_knob(&Root::at(root.path()), "net.ipv4.tcp_tw_recycle"),
            Knob::Absent
        );
        assert_eq!(
            read_knob_path(&Root::at(root.path()), "net/ipv4/ip_local_port_range"),
            Knob::Value("32768 60999".into())
        );
        assert!(matches!(
            read_knob_path(&Root::at(root.path()), "net/ipv4"),
            Knob::Unreadable(_)
        ));
        assert!(proc_sys_net_present(&Root::at(root.path())));
        assert!(!proc_sys_net_present(&Root::at(
            root.path().join("nowhere")
        )));
    }

    // Each case was written to a knob inside `unshare --net` (Linux 6.18); the comment
    // says what the kernel did.
    #[test]
    fn numbers_are_read_as_the_kernel_reads_them() {
        let read = |text: &str, count| kernel_numbers(text, count);
        let values = |text: &str, count| read(text, count).unwrap().values;
        assert_eq!(values("  7 ", 1), [7]);
        assert_eq!(values("-5", 1), [-5]);
        // 010 → 8, 0x10 → 16, 0X1f → 31.
        assert_eq!(values("010", 1), [8]);
        assert_eq!(values("0x10", 1), [16]);
        assert_eq!(values("0X1f", 1), [31]);
        assert_eq!(values("0", 1), [0]);
        // `1024 65535 1` to the two-number range: 11 of 13 bytes taken.
        let r = read("1024 65535 1", 2).unwrap();
        assert_eq!((r.values, r.ignored.as_str()), (vec![1024, 65535], "1"));
        // `5	6` and `1 x` to one number: 5 and 1.
        assert_eq!(read("5	6", 1).unwrap().ignored, "6");
        assert_eq!(read("1 x", 1).unwrap().ignored, "x");
        assert_eq!(values("1025", 2), [1025]);
        // Refused (EINVAL) each: nothing, a sign without digits, `+`, a letter right
        // after the digits, a digit outside octal, `0x` without a hex digit, a comma,
        // 21 characters, 20 digits past 64 bits.
        for (text, why) in [
            ("", "no number"),
            ("   ", "no number"),
            ("-", "not a number"),
            ("+5", "not a number"),
            ("1x", "not a number"),
            ("09", "not a number"),
            ("0x", "not a number"),
            ("1024,65535", "not a number"),
            ("123456789012345678901", "21 characters"),
            ("99999999999999999999", "64 bits"),
        ] {
            let error = read(text, 2).unwrap_err();
            assert!(error.contains(why), "{text:?}: {error}");
        }
        assert_eq!(values("18446744073709551615", 1), [i128::from(u64::MAX)]);
    }

    #[test]
    fn port_lists_are_read_as_the_kernel_reads_them() {
        assert_eq!(kernel_port_list("").unwrap(), []);
        assert_eq!(
            kernel_port_list("8080,9000-9010").unwrap(),
            [(8080, 8080), (9000, 9010)]
        );
        // A trailing comma and hex are taken (measured: `1,2,3,` → `1-3`, `0x1F90` → 8080).
        assert_eq!(
            kernel_port_list("1,2,3,").unwrap(),
            [(1, 1), (2, 2), (3, 3)]
        );
        assert_eq!(kernel_port_list("0x1F90").unwrap(), [(8080, 8080)]);
        assert_eq!(kernel_port_list("65535").unwrap(), [(65535, 65535)]);
        // Refused (EINVAL) each.
        for text in [
            "8080, 9000",
            "8080 ,9000",
            "8080,,9000",
            "9000-",
            "-5",
            "65536",
            "9000-8000",
            "http",
        ] {
            assert!(kernel_port_list(text).is_err(), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_lines_never_panic_and_keys_stay_inside(text in "\\PC*") {
            if let Some(Line::Assignment(a)) = parse_line(&text) {
                prop_assert!(!a.path.split('/').any(|p| p.is_empty() || p == ".."));
            }
            let _ = parse_sockstat(&text);
            let _ = parse_port_ranges(&text);
            let _ = kernel_numbers(&text, 2);
            let _ = kernel_port_list(&text);
        }
    }
}
