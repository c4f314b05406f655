//! Readers for /proc: the socket tables (/proc/net/tcp, the `sock_diag` fallback), socket
//! owners (/proc/PID/fd), sysctls (/proc/sys) and protocol counters (/proc/net/netstat,
//! /proc/net/snmp). Every path is under `root`, "/" normally, a fixture tree with `--root`.
//! Nothing here writes.
//!
//! Kernel interface: proc(5) <https://man7.org/linux/man-pages/man5/proc.5.html>,
//! `proc_net(5)` <https://man7.org/linux/man-pages/man5/proc_net.5.html> and
//! <https://docs.kernel.org/networking/proc_net_tcp.html>.

use std::collections::BTreeMap;
use std::fs::{self};
use std::io::{self, BufRead, BufReader};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::Path;
use std::time::Duration;

use nix::unistd::{SysconfVar, sysconf};

use super::error::SysError;
mod owners;

pub use owners::{
    FdSocket, Holder, Owner, OwnerScan, ProcessSockets, pids_named, process_sockets,
    scan_socket_owners_for, socket_owners, socket_owners_for,
};

use super::fs::{COUNTERS_LIMIT, Root, VALUE_LIMIT};
use super::record::{Proto, SocketRecord, TcpState, Timer};

/// Parses the text of /proc/net/{tcp,udp}{,6}, timers included (the `procfs` crate drops the
/// `tr tm->when retrnsmt` columns, which is why this is hand-rolled).
///
/// Format (`net/ipv4/tcp_ipv4.c` `get_tcp4_sock`, `proc_net(5)`): addresses are 32-bit words
/// printed as hex integers in host byte order, ports hex, `tm->when` in clock ticks
/// (`USER_HZ`). IPv6 link-local addresses come without a scope id: the file omits the interface.
/// A malformed line is a `SysError::Parse` naming the line.
pub fn parse_proc_net(
    text: &str,
    proto: Proto,
    family_v6: bool,
    mut visit: impl FnMut(SocketRecord),
) -> Result<(), SysError> {
    let hz = user_hz();
    let name = format!("/proc/net/{}", file_name(proto, family_v6));
    for (index, line) in text.lines().enumerate() {
        if let Some(record) = parse_line(line, proto, family_v6, hz)
            .map_err(|detail| line_error(&name, index, detail))?
        {
            visit(record);
        }
    }
    Ok(())
}

/// Reads `root/proc/net/{tcp,udp}{,6}` line by line (format in `parse_proc_net`). The IPv6
/// file is missing when IPv6 is disabled; that lists nothing rather than failing.
pub fn read_proc_net(
    root: &Root,
    proto: Proto,
    ipv6: bool,
    mut visit: impl FnMut(SocketRecord),
) -> Result<(), SysError> {
    let relative = Path::new("proc/net").join(file_name(proto, ipv6));
    let path = root.join(&relative);
    let read_error = |error| SysError::Read {
        path: path.clone(),
        error,
    };
    let file = match root.open(&relative) {
        Err(error) if ipv6 && error.kind() == io::ErrorKind::NotFound => return Ok(()),
        opened => opened.map_err(read_error)?,
    };
    let hz = user_hz();
    let name = path.display().to_string();
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    for index in 0.. {
        line.clear();
        if reader.read_line(&mut line).map_err(read_error)? == 0 {
            break;
        }
        if let Some(record) =
            parse_line(&line, proto, ipv6, hz).map_err(|detail| line_error(&name, index, detail))?
        {
            visit(record);
        }
    }
    Ok(())
}

/// How many descriptors process `pid` has open: the entries of `root/proc/PID/fd`. `None`
/// when the directory cannot be read (another user's process without root, or it exited).
pub fn open_fds(root: &Root, pid: u32) -> Option<u64> {
    let entries = fs::read_dir(root.join("proc").join(pid.to_string()).join("fd")).ok()?;
    Some(entries.count() as u64)
}

/// The soft RLIMIT_NOFILE of process `pid`, from the "Max open files" line of
/// `root/proc/PID/limits` (proc(5); world-readable). `None` when unreadable, or "unlimited".
/// A new descriptor fails with EMFILE once every number below it is taken (`alloc_fd()`,
/// fs/file.c, called with `rlimit(RLIMIT_NOFILE)` as its end).
pub fn open_files_limit(root: &Root, pid: u32) -> Option<u64> {
    let text = root
        .read_text(
            Path::new("proc").join(pid.to_string()).join("limits"),
            VALUE_LIMIT,
        )
        .ok()?;
    parse_open_files_limit(&text)
}

fn parse_open_files_limit(limits: &str) -> Option<u64> {
    // `Max open files            1024                 524288               files`
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The `hidepid=` option of the proc filesystem mounted at `root/proc`, read from
/// `root/proc/self/mountinfo` (proc(5)): `invisible` (or 2) hides other users' processes from
/// readers without ptrace access, `noaccess` (or 1) shows their directories but not their
/// contents (`has_pid_permissions()`, fs/proc/base.c). `None` when unset or unreadable.
pub fn proc_hidepid(root: &Root) -> Option<String> {
    let text = root.read_text("proc/self/mountinfo", VALUE_LIMIT).ok()?;
    parse_hidepid(&text)
}

fn parse_hidepid(mountinfo: &str) -> Option<String> {
    // `22 27 0:21 / /proc rw,relatime shared:12 - proc proc rw,hidepid=invisible`: the mount
    // point is field 5, and the super options follow the " - fstype source" separator.
    mountinfo.lines().rev().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        let mut fs = fs.split_whitespace();
        let on_proc = mount.split_whitespace().nth(4) == Some("/proc");
        if !on_proc || fs.next() != Some("proc") {
            return None;
        }
        fs.nth(1)?
            .split(',')
            .find_map(|option| option.strip_prefix("hidepid="))
            .map(str::to_string)
    })
}

/// PROC_PID_INIT_INO (include/linux/proc_ns.h): the inode number of the initial (host's) PID
/// namespace, as `/proc/self/ns/pid` names it (`pid:[4026531836]`).
const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;

/// Whether this process runs in the initial PID namespace, from the link
/// `root/proc/self/ns/pid`; `None` when it cannot be read. Outside it (a container), processes
/// of the parent namespaces have no entry in this /proc.
pub fn in_initial_pid_namespace(root: &Root) -> Option<bool> {
    let link = fs::read_link(root.join("proc/self/ns/pid")).ok()?;
    let inode: u64 = link
        .to_str()?
        .strip_prefix("pid:[")?
        .strip_suffix(']')?
        .parse()
        .ok()?;
    Some(inode == PROC_PID_INIT_INO)
}

/// The protocol counters of `root/proc/net/netstat` and `root/proc/net/snmp` (`proc_net(5)`),
/// keyed `Group.Name`, e.g. `TcpExt.DelayedACKs`, `TcpExt.ListenOverflows`, `Tcp.RetransSegs`.
///
/// Both files hold pairs of lines, a header of names and a line of values, each starting with
/// the group (`TcpExt:`). Negative values are left out: the only one is `Tcp.MaxConn`, -1 for
/// "no limit" (RFC 2012), which is not a counter.
pub fn read_netstat(root: &Root) -> Result<BTreeMap<String, u64>, SysError> {
    let mut counters = BTreeMap::new();
    for name in ["netstat", "snmp"] {
        let path = Path::new("proc/net").join(name);
        let text = root
            .read_text(&path, COUNTERS_LIMIT)
            .map_err(|error| SysError::Read {
                path: root.join(&path),
                error,
            })?;
        parse_counters(&text, &mut counters).map_err(|detail| SysError::Parse {
            what: path.display().to_string(),
            detail,
        })?;
    }
    Ok(counters)
}

/// The tick rate of `tm->when`. Linux fixes `USER_HZ` at 100 on every architecture it ships,
/// but sysconf(3) is the documented way to ask.
const DEFAULT_USER_HZ: u64 = 100;

fn user_hz() -> u64 {
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(hz)) if hz > 0 => hz as u64,
        _ => DEFAULT_USER_HZ,
    }
}

fn file_name(proto: Proto, ipv6: bool) -> &'static str {
    match (proto, ipv6) {
        (Proto::Tcp, false) => "tcp",
        (Proto::Tcp, true) => "tcp6",
        (Proto::Udp, false) => "udp",
        (Proto::Udp, true) => "udp6",
    }
}

fn line_error(name: &str, index: usize, detail: String) -> SysError {
    SysError::Parse {
        what: format!("{name} line {}", index + 1),
        detail,
    }
}

/// One socket line; `None` for the header and blank lines. Columns: `sl local_address
/// rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`.
fn parse_line(
    line: &str,
    proto: Proto,
    ipv6: bool,
    hz: u64,
) -> Result<Option<SocketRecord>, String> {
    let mut columns = line.split_ascii_whitespace();
    match columns.next() {
        None | Some("sl") => return Ok(None),
        Some(_) => {}
    }
    let mut next = |name: &str| columns.next().ok_or_else(|| format!("no {name} column"));
    let local = parse_endpoint(next("local_address")?, ipv6)?;
    let remote = parse_endpoint(next("rem_address")?, ipv6)?;
    let state = next("st")?;
    let state =
        TcpState::from_kernel(hex(state)?).ok_or_else(|| format!("unknown state {state}"))?;
    let (send_q, recv_q) = pair(next("tx_queue:rx_queue")?)?;
    let (timer, when) = pair(next("tr:tm->when")?)?;
    let retransmits: u32 = hex(next("retrnsmt")?)?;
    let uid = decimal(next("uid")?)?;
    next("timeout")?;
    let inode = decimal(next("inode")?)?;
    let timer = Timer::from_kernel(hex(timer)?);
    Ok(Some(SocketRecord {
        proto,
        state,
        local,
        remote,
        recv_q: hex(recv_q)?,
        send_q: hex(send_q)?,
        timer,
        expires: match timer {
            Some(_) => Some(ticks(hex(when)?, hz)),
            None => None,
        },
        retransmits: u8::try_from(retransmits).unwrap_or(u8::MAX),
        // `get_timewait4_sock()` / `get_timewait6_sock()` (net/ipv4/tcp_ipv4.c,
        // net/ipv6/tcp_ipv6.c) print 0 for the uid of every TIME_WAIT socket, whose timer column
        // is 3 and only theirs: not root, just not reported. A request socket's line carries
        // its listener's uid (`get_openreq4()`), a real one.
        uid: (timer != Some(Timer::TimeWait)).then_some(uid),
        inode,
        info: None,
        v6only: None,
        shutdown: None,
        memory: None,
        flags: None,
    }))
}

/// `0100007F:0016`: the address as 32-bit words in host byte order, then the port.
fn parse_endpoint(text: &str, ipv6: bool) -> Result<SocketAddr, String> {
    let (addr, port) = pair(text)?;
    let port = hex(port)?;
    let word = |i: usize| -> Result<[u8; 4], String> {
        let digits = addr
            .get(i * 8..i * 8 + 8)
            .ok_or_else(|| format!("address {addr:?} is too short"))?;
        Ok(hex::<u32>(digits)?.to_ne_bytes())
    };
    let words = if ipv6 { 4 } else { 1 };
    if addr.len() != words * 8 {
        return Err(format!("address {addr:?} is not {} hex digits", words * 8));
    }
    if ipv6 {
        let mut octets = [0; 16];
        for i in 0..4 {
            octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
        }
        Ok(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(octets),
            port,
            0,
            0,
        )))
    } else {
        Ok(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(word(0)?),
            port,
        )))
    }
}

fn pair(text: &str) -> Result<(&str, &str), String> {
    text.split_once(':')
        .ok_or_else(|| format!("{text:?} is not a colon-separated pair"))
}

fn hex<T: TryFrom<u64>>(text: &str) -> Result<T, String> {
    u64::from_str_radix(text, 16)
        .ok()
        .and_then(|value| T::try_from(value).ok())
        .ok_or_else(|| format!("{text:?} is not a hex number in range"))
}

fn decimal<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a decimal number in range"))
}

fn ticks(count: u64, hz: u64) -> Duration {
    let nanos = u128::from(count % hz) * 1_000_000_000 / u128::from(hz);
    Duration::from_secs(count / hz) + Duration::from_nanos(nanos as u64)
}

fn parse_counters(text: &str, counters: &mut BTreeMap<String, u64>) -> Result<(), String> {
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    while let Some(header) = lines.next() {
        let values = lines
            .next()
            .ok_or_else(|| format!("header {header:?} has no line of values"))?;
        let (group, names) = header
            .split_once(':')
            .ok_or_else(|| format!("{header:?} does not start with a group"))?;
        let (value_group, values) = values
            .split_once(':')
            .ok_or_else(|| format!("{values:?} does not start with a group"))?;
        if group != value_group {
            return Err(format!("group {value_group:?} follows header {group:?}"));
        }
        let mut names = names.split_ascii_whitespace();
        let mut values = values.split_ascii_whitespace();
        loop {
            match (names.next(), values.next()) {
                (Some(name), Some(value)) => {
                    if let Ok(value) = value.parse::<u64>() {
                        counters.insert(format!("{group}.{name}"), value);
                    } else if value.parse::<i64>().is_err() {
                        return Err(format!("{group}.{name} = {value:?} is not a number"));
                    }
                }
                (None, None) => break,
                _ => return Err(format!("{group}: as many names as values expected")),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::net::TcpListener;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    use proptest::prelude::*;

    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
    }

    fn parse(text: &str, ipv6: bool) -> Result<Vec<SocketRecord>, SysError> {
        let mut records = Vec::new();
        parse_proc_net(text, Proto::Tcp, ipv6, |r| records.push(r))?;
        Ok(records)
    }

    /// A line of /proc/net/tcp at `USER_HZ` 100, as this kernel printed it.
    fn line(text: &str, ipv6: bool) -> SocketRecord {
        parse_line(text, Proto::Tcp, ipv6, 100).unwrap().unwrap()
    }

    #[test]
    fn real_lines_decode_with_their_timers() {
        let time_wait = line(
            "   4: 0100007F:A86D 0100007F:9A58 06 00000000:00000000 03:0000175B 00000000     0        0 0 3 000000002df333c2",
            false,
        );
        assert_eq!(time_wait.state, TcpState::TimeWait);
        assert_eq!(time_wait.local, "127.0.0.1:43117".parse().unwrap());
        assert_eq!(time_wait.remote, "127.0.0.1:39512".parse().unwrap());
        assert_eq!(time_wait.timer, Some(Timer::TimeWait));
        assert_eq!(time_wait.expires, Some(Duration::from_millis(59_790)));
        assert_eq!(time_wait.inode, 0);
        assert_eq!(
            time_wait.uid, None,
            "the 0 of a TIME_WAIT line means unknown"
        );

        let keepalive = line(
            "   6: 0100007F:9A6C 0100007F:A86D 01 00000000:00000000 02:000AFC6B 00000000     0        0 5172 3 00000000c9f60965 20 0 0 10 -1",
            false,
        );
        assert_eq!(keepalive.state, TcpState::Established);
        assert_eq!(keepalive.timer, Some(Timer::KeepAlive));
        assert_eq!(keepalive.expires, Some(Duration::from_millis(7_199_790)));
        assert_eq!(keepalive.inode, 5172);

        let unread = line(
            "   3: 0100007F:A86D 0100007F:9A60 01 00000000:00000064 00:00000000 00000000     0        0 5171 1 00000000a62668a0 20 4 30 10 -1",
            false,
        );
        assert_eq!((unread.recv_q, unread.send_q), (100, 0));
        assert_eq!((unread.timer, unread.expires), (None, None));

        let listen_v6 = line(
            "   0: 00000000000000000000000001000000:C7BF 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5167 1 0000000017ff59fa 100 0 0 10 0",
            true,
        );
        assert_eq!(listen_v6.state, TcpState::Listen);
        assert_eq!(listen_v6.local, "[::1]:51135".parse().unwrap());
        assert_eq!(listen_v6.remote, "[::]:0".parse().unwrap());
        assert_eq!(listen_v6.uid, Some(1000));

        // An IPv4 peer of a dual-stack socket keeps its v4-mapped address.
        let mapped = line(
            "   1: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000100007F:D431 01 00000000:00000000 01:00000014 00000002     0        0 77 1 0",
            true,
        );
        assert_eq!(mapped.local, "[::ffff:127.0.0.1]:80".parse().unwrap());
        assert_eq!(mapped.timer, Some(Timer::Retransmit));
        assert_eq!(mapped.expires, Some(Duration::from_millis(200)));
        assert_eq!(mapped.retransmits, 2);
    }

    #[test]
    fn fixture_tables_are_read_whole() {
        let mut records = Vec::new();
        read_proc_net(&Root::at(fixtures()), Proto::Tcp, false, |r| {
            records.push(r);
        })
        .unwrap();
        assert_eq!(records.len(), 9);
        assert_eq!(
            records
                .iter()
                .filter(|r| r.state == TcpState::TimeWait)
                .count(),
            3
        );
        records.clear();
        read_proc_net(&Root::at(fixtures()), Proto::Tcp, true, |r| records.push(r)).unwrap();
        assert_eq!(records.len(), 3);
        assert!(records.iter().all(|r| r.local.ip() == Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn a_missing_tcp6_lists_nothing_but_a_missing_tcp_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        read_proc_net(&Root::at(root.path()), Proto::Tcp, true, |r| {
            panic!("{r:?}")
        })
        .unwrap();
        let error = read_proc_net(&Root::at(root.path()), Proto::Tcp, false, |_| {}).unwrap_err();
        assert!(matches!(error, SysError::Read { .. }), "{error}");
    }

    #[test]
    fn a_malformed_line_is_named() {
        let text = "  sl  local_address rem_address   st\n   0: 0100007F:0016 00000000:0000 0A 00000000:00000000\n";
        let error = parse(text, false).unwrap_err();
        assert_eq!(
            error.to_string(),
            "parsing /proc/net/tcp line 2: no tr:tm->when column"
        );
        let error = parse("0: 0100007F:0016 00000000:0000 0A 0:0 00:0 0 0 0 0", true).unwrap_err();
        assert!(
            error.to_string().contains("is not 32 hex digits"),
            "{error}"
        );
    }

    #[test]
    fn this_machines_table_lists_a_live_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let inode = nix::sys::stat::fstat(&listener).unwrap().st_ino;
        let mut found = Vec::new();
        read_proc_net(&Root::live(), Proto::Tcp, false, |r| {
            if r.local == addr {
                found.push(r);
            }
        })
        .unwrap();
        let [record] = found.as_slice() else {
            panic!("{found:?}")
        };
        assert_eq!((record.state, record.inode), (TcpState::Listen, inode));

        let owners = socket_owners_for(&Root::live(), &HashSet::from([inode]));
        assert_eq!(owners[&inode].pid, std::process::id());
        assert_eq!(socket_owners(&Root::live())[&inode], owners[&inode]);
    }

    #[test]
    fn owners_skip_what_they_cannot_read_and_prefer_the_lowest_pid() {
        let root = tempfile::tempdir().unwrap();
        let process = |pid: &str, comm: Option<&str>, links: &[(&str, &str)]| {
            let dir = root.path().join("proc").join(pid);
            fs::create_dir_all(dir.join("fd")).unwrap();
            if let Some(comm) = comm {
                fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
            }
            for (fd, target) in links {
                symlink(target, dir.join("fd").join(fd)).unwrap();
            }
        };
        process(
            "12",
            Some("child"),
            &[("3", "socket:[777]"), ("4", "socket:[778]")],
        );
        process(
            "7",
            Some("parent"),
            &[("3", "socket:[777]"), ("1", "/dev/null")],
        );
        process("50", None, &[("5", "socket:[888]")]); // exited: no comm left
        fs::create_dir_all(root.path().join("proc/self")).unwrap();
        fs::create_dir_all(root.path().join("proc/99")).unwrap(); // fd unreadable

        let owners = socket_owners(&Root::at(root.path()));
        let owner = |pid, process: &str| Owner {
            pid,
            process: process.into(),
            others: Vec::new(),
        };
        let shared = || Owner {
            others: vec![Holder {
                pid: 12,
                process: "child".into(),
            }],
            ..owner(7, "parent")
        };
        assert_eq!(
            owners,
            HashMap::from([(777, shared()), (778, owner(12, "child"))])
        );
        let wanted = HashSet::from([777, 999]);
        assert_eq!(
            socket_owners_for(&Root::at(root.path()), &wanted),
            // 999 is never found, so the walk visits every process and sees both holders.
            HashMap::from([(777, shared())])
        );
        assert!(socket_owners(&Root::at(root.path().join("nowhere"))).is_empty());
    }

    #[test]
    fn fd_counts_and_limits_are_read_for_a_live_process() {
        let me = std::process::id();
        let _listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let fds = open_fds(&Root::live(), me).unwrap();
        assert!(fds >= 4, "stdio and the listener: {fds}");
        let limit = open_files_limit(&Root::live(), me).unwrap();
        let (soft, _) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(limit, soft);
        assert_eq!(open_fds(&Root::at("/nowhere"), me), None);
    }

    #[test]
    fn the_open_files_limit_is_the_soft_column() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             96365                96365                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_files_limit(limits), Some(1024));
        assert_eq!(
            parse_open_files_limit("Max open files  unlimited  unlimited  files"),
            None
        );
        assert_eq!(parse_open_files_limit(""), None);
    }

    #[test]
    fn hidepid_is_read_from_the_proc_mount_only() {
        let plain = "22 27 0:21 / /proc rw,relatime shared:12 - proc proc rw\n\
                     30 22 0:30 / /proc/sys/fs/binfmt_misc rw - binfmt_misc x rw\n";
        assert_eq!(parse_hidepid(plain), None);
        let hidden = "22 27 0:21 / /proc rw,relatime - proc proc rw,hidepid=invisible,gid=4\n";
        assert_eq!(parse_hidepid(hidden).as_deref(), Some("invisible"));
        // Another proc mount elsewhere does not count; the last /proc mount wins.
        let elsewhere = "40 27 0:40 / /mnt/proc rw - proc proc rw,hidepid=2\n";
        assert_eq!(parse_hidepid(elsewhere), None);
        let remounted = format!("{plain}50 27 0:50 / /proc rw - proc proc rw,hidepid=1\n");
        assert_eq!(parse_hidepid(&remounted).as_deref(), Some("1"));
    }

    #[test]
    fn the_pid_namespace_is_told_by_its_inode() {
        let root = tempfile::tempdir().unwrap();
        let ns = root.path().join("proc/self/ns");
        fs::create_dir_all(&ns).unwrap();
        symlink("pid:[4026531836]", ns.join("pid")).unwrap();
        assert_eq!(in_initial_pid_namespace(&Root::at(root.path())), Some(true));
        fs::remove_file(ns.join("pid")).unwrap();
        symlink("pid:[4026532300]", ns.join("pid")).unwrap();
        assert_eq!(
            in_initial_pid_namespace(&Root::at(root.path())),
            Some(false)
        );
        assert_eq!(
            in_initial_pid_namespace(&Root::at(root.path().join("x"))),
            None
        );
    }

    #[test]
    fn counters_merge_netstat_and_snmp() {
        let counters = read_netstat(&Root::at(fixtures())).unwrap();
        for key in [
            "TcpExt.DelayedACKs",
            "TcpExt.TCPAutoCorking",
            "TcpExt.ListenOverflows",
            "IpExt.InOctets",
            "Tcp.RetransSegs",
        ] {
            assert!(counters.contains_key(key), "{key}");
        }
        assert_eq!(counters["Ip.Forwarding"], 2);
        assert_eq!(counters["Tcp.RtoMax"], 120_000);
        assert!(!counters.contains_key("Tcp.MaxConn"), "-1 is not a counter");
        assert!(
            read_netstat(&Root::live())
                .unwrap()
                .contains_key("TcpExt.ListenDrops")
        );
    }

    #[test]
    fn malformed_counters_are_errors() {
        let mut counters = BTreeMap::new();
        for text in [
            "Tcp: A B\nTcp: 1\n",
            "Tcp: A\nUdp: 1\n",
            "Tcp: A\n",
            "Tcp: A\nTcp: x\n",
        ] {
            assert!(parse_counters(text, &mut counters).is_err(), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*", ipv6 in any::<bool>()) {
            let _ = parse(&text, ipv6);
            let _ = parse_counters(&text, &mut BTreeMap::new());
        }

        #[test]
        fn every_prefix_of_a_line_parses_or_errors(cut in 0usize..160, ipv6 in any::<bool>()) {
            let line = if ipv6 {
                "   0: 00000000000000000000000001000000:C7BF 00000000000000000000000001000000:B8D8 06 00000000:00000000 03:0000175B 00000000     0        0 0 3 000000002a283de1"
            } else {
                "   4: 0100007F:A86D 0100007F:9A58 06 00000000:00000000 03:0000175B 00000000     0        0 0 3 000000002df333c2"
            };
            let _ = parse(&line[..cut.min(line.len())], ipv6);
        }
    }
}
