//! The files `sysctl --system` reads (sysctl.d(5), sysctl(8)): which ones, in which order,
//! which are masked or shadowed, and their lines parsed as the tools parse them. Every path
//! stays inside the root, symlinks included. Nothing here writes.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::OsString;
use std::fs::{self};
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::sys::error::os_text;
use crate::sys::fs::{CONFIG_LIMIT, Root, read_regular};

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
#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

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
            {
                use std::io::Write as _;
                // To the stderr handle: libtest captures println! of a passing test.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIP (needs root): a /dev/zero node inside a fixture tree"
                );
            }
        }
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
}
