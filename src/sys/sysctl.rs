//! Sysctl knobs, their live evidence and the files `sysctl --system` reads, all under a
//! root ("/" normally, a fixture tree with `--root`). Nothing here writes.
//!
//! Kernel interfaces: /proc/sys (proc(5), sysctl(8)), /proc/net/sockstat (`proc_net(5)`),
//! /proc/self/ns/net (namespaces(7)). Config files: sysctl.d(5) and sysctl(8) `--system`.

mod conf;
mod key;

use std::collections::BTreeMap;
use std::fs::{self};
use std::io;
use std::path::Path;

use super::error::{SysError, os_text};
use super::fs::{Root, VALUE_LIMIT, read_regular};

pub use self::conf::{
    Assignment, ConfigFile, FileStatus, Line, SYSCTL_CONF, SYSCTL_D_DIRS, config_files, parse_line,
    running_as_root,
};
pub use self::key::Key;

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

/// TCP sockets in use (`inuse` of the `TCP:` line of /proc/net/sockstat and the `TCP6:` line
/// of /proc/net/sockstat6) for the families asked: the full sockets in the kernel's hash
/// tables, counted by `sock_prot_inuse_add()` as they are hashed and unhashed — a connection
/// by `inet_ehash_nolisten()` (net/ipv4/inet_hashtables.c). The socket a TIME_WAIT socket
/// replaces is uncounted then (`inet_twsk_hashdance_schedule()`,
/// net/ipv4/inet_timewait_sock.c), and a SYN_RECV request, hashed by `inet_ehash_insert()`
/// alone, is never counted. The counters are exact at the moment they are read; a root test
/// checks the count against the listing (tests/sockets.rs).
pub fn tcp_sockets_in_use(root: &Root, ipv4: bool, ipv6: bool) -> Result<u64, SysError> {
    let mut total = 0;
    for (wanted, file, prefix) in [
        (ipv4, "proc/net/sockstat", "TCP:"),
        (ipv6, "proc/net/sockstat6", "TCP6:"),
    ] {
        if !wanted {
            continue;
        }
        let path = root.join(file);
        let text = root
            .read_text(file, VALUE_LIMIT)
            .map_err(|error| SysError::Read {
                path: path.clone(),
                error,
            })?;
        total += in_use(&text, prefix).ok_or_else(|| SysError::Parse {
            what: path.display().to_string(),
            detail: format!("no \"{prefix} inuse N\" line"),
        })?;
    }
    Ok(total)
}

/// `inuse` of the line starting with `prefix`: `TCP6: inuse 3` → 3.
fn in_use(text: &str, prefix: &str) -> Option<u64> {
    let line = text.lines().find_map(|line| line.strip_prefix(prefix))?;
    let mut words = line.split_whitespace();
    while let Some(name) = words.next() {
        let value = words.next()?;
        if name == "inuse" {
            return value.parse().ok();
        }
    }
    None
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
