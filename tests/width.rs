//! The human output fits the terminal: every command runs with stdout on a real
//! pseudo-terminal (openpty), colour on as a user would see it, and no line may be wider
//! than the width after its ANSI escapes are stripped, counted in display columns.

mod common;

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::pty::{Winsize, openpty};
use unicode_width::UnicodeWidthStr;

/// Quick variants of every command, as the issue lists them.
const COMMANDS: &[&[&str]] = &[
    &["reuse-test"],
    &["nagle", "--rounds", "3", "--warmup", "1"],
    &["sysctl-advice"],
    &["sockets"],
    &["sockets", "--info"],
    &["sockets", "--summary"],
    &["sockopt", "--defaults"],
    &["backlog"],
    &["udp"],
    &["partial-send"],
    &["peer-close"],
    &["close-wait"],
    &["timeouts"],
    &["inspect", "--for", "0", "--sockets"],
    &["check", "--only", "kernel.bind,sysctl"],
    &["prove", "somaxconn"],
    &["ports"],
];

/// A generous bound for one quick command; a hang fails the test instead of stalling it.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Runs sockdoc with stdout on a pseudo-terminal `columns` wide and returns what it
/// printed there, carriage returns and ANSI escapes removed.
fn run_in_pty(args: &[&str], columns: u16, env: &[(&str, &str)]) -> String {
    strip_ansi(&pty_output(args, columns, env))
}

/// What the terminal received (escapes included, carriage returns removed).
fn pty_output(args: &[&str], columns: u16, env: &[(&str, &str)]) -> String {
    let size = Winsize {
        ws_row: 50,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(&size, None).expect("openpty");
    let mut child = {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin!("sockdoc"));
        command
            .args(args)
            .env_remove("COLUMNS")
            .env_remove("NO_COLOR")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(pty.slave))
            .stderr(Stdio::piped());
        command.spawn().expect("sockdoc starts")
        // `command`, which holds the parent's copy of the slave, is dropped here, so the
        // master reads end of file once the child exits.
    };
    let reader = std::thread::spawn(move || {
        let mut master = File::from(pty.master);
        let mut bytes = Vec::new();
        let mut buf = [0_u8; 4096];
        loop {
            match master.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Linux answers EIO on the master once the last slave is closed.
                Err(_) => break,
            }
        }
        bytes
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for sockdoc") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("sockdoc {args:?} did not finish in {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr piped")
        .read_to_string(&mut stderr)
        .unwrap();
    let bytes = reader.join().expect("pty reader");
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "sockdoc {args:?} exited {status}: {stderr}"
    );
    String::from_utf8_lossy(&bytes).replace('\r', "")
}

/// Removes CSI escape sequences (`ESC [ … final byte`), the only ones sockdoc prints.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn too_wide(text: &str, columns: usize) -> Vec<String> {
    text.lines()
        .filter(|line| line.width() > columns)
        .map(|line| format!("{:>3}: {line}", line.width()))
        .collect()
}

fn widest_table_line(text: &str) -> usize {
    text.lines()
        .filter(|line| line.starts_with(['┌', '│', '╞', '└']))
        .map(UnicodeWidthStr::width)
        .max()
        .unwrap_or(0)
}

/// Sockets this test owns, so `sockets` has rows to lay out: a listener, both ends of a
/// connection, and the same over IPv6 where the host has it (longer addresses).
fn some_sockets() -> Vec<Box<dyn std::any::Any>> {
    let mut held: Vec<Box<dyn std::any::Any>> = Vec::new();
    let mut addrs = vec!["127.0.0.1:0"];
    if common::ipv6_loopback_available() {
        addrs.push("[::1]:0");
    }
    for addr in addrs {
        let listener = TcpListener::bind(addr).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        held.extend([
            Box::new(listener) as Box<dyn std::any::Any>,
            Box::new(client),
            Box::new(server),
        ]);
    }
    held
}

fn assert_every_command_fits(columns: u16, pty_columns: u16, env: &[(&str, &str)]) {
    let _sockets = some_sockets();
    let mut failures = Vec::new();
    for args in COMMANDS {
        let text = run_in_pty(args, pty_columns, env);
        assert!(
            text.lines().count() > 2,
            "sockdoc {args:?} printed almost nothing:\n{text}"
        );
        let wide = too_wide(&text, usize::from(columns));
        if !wide.is_empty() {
            failures.push(format!("sockdoc {}:\n{}", args.join(" "), wide.join("\n")));
        }
    }
    assert!(
        failures.is_empty(),
        "lines wider than {columns} columns:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn every_command_fits_columns_80() {
    // The terminal says 200: COLUMNS, as GNU ls honours it, wins.
    assert_every_command_fits(80, 200, &[("COLUMNS", "80")]);
}

#[test]
fn every_command_fits_an_80_column_terminal_without_columns() {
    // No COLUMNS: the width comes from the terminal itself (TIOCGWINSZ).
    assert_every_command_fits(80, 80, &[]);
}

#[test]
fn a_wide_terminal_gets_wide_tables() {
    let _sockets = some_sockets();
    // The commands whose tables hold more than 100 columns of text.
    for args in [
        &["reuse-test"][..],
        &["nagle", "--rounds", "3", "--warmup", "1"],
        &["backlog"],
        &["peer-close"],
        &["timeouts"],
    ] {
        let text = run_in_pty(args, 200, &[("COLUMNS", "200")]);
        assert!(
            too_wide(&text, 200).is_empty(),
            "sockdoc {args:?}: {:?}",
            too_wide(&text, 200)
        );
        let widest = widest_table_line(&text);
        assert!(
            widest > 100,
            "sockdoc {args:?}: the widest table line is {widest} columns at COLUMNS=200, \
             not more than the 100 of a pipe:\n{text}"
        );
    }
    // A `sockets` row shows every column at 200, and one line per socket.
    let text = run_in_pty(&["sockets", "--tcp"], 200, &[("COLUMNS", "200")]);
    let header = text.lines().next().unwrap_or_default();
    for column in ["proto", "timer", "uid", "process"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(!text.contains(" hidden"), "{text}");
}

#[test]
fn turning_colour_off_keeps_the_terminal_width() {
    // Before, `--color never` and NO_COLOR forced tables to 100 columns whatever the
    // terminal: 20 too many for this one, and far too few for a wide one.
    for (columns, env, flag) in [
        (80, &[("NO_COLOR", "1")][..], None),
        (80, &[], Some("--color=never")),
        (160, &[("NO_COLOR", "1")], None),
    ] {
        // peer-close's checks hold more text than 160 columns: its table fills the width.
        let mut args = vec!["peer-close"];
        args.extend(flag);
        let raw = run_in_pty(&args, columns, env);
        let wide = too_wide(&raw, usize::from(columns));
        assert!(wide.is_empty(), "{args:?} {env:?}:\n{}", wide.join("\n"));
        let widest = widest_table_line(&raw);
        assert!(
            widest > usize::from(columns) - 10,
            "{args:?} {env:?}: the table is {widest} columns in a {columns}-column terminal"
        );
    }
}

#[test]
fn colour_is_on_in_a_terminal_and_off_with_no_color() {
    let coloured = pty_output(&["sysctl-advice"], 80, &[]);
    assert!(coloured.contains('\u{1b}'), "no colour in a terminal");
    let plain = pty_output(&["sysctl-advice"], 80, &[("NO_COLOR", "1")]);
    assert!(!plain.contains('\u{1b}'), "colour despite NO_COLOR");
}

/// An error on a terminal wraps to its width; into a pipe or a log it stays one line.
#[test]
fn errors_on_a_terminal_wrap_to_its_width() {
    let size = Winsize {
        ws_row: 50,
        ws_col: 60,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(&size, None).expect("openpty");
    // Refused before any socket opens, with a message far longer than 60 columns.
    let args = ["nagle", "--timeout", "30ms"];
    let status = Command::new(assert_cmd::cargo::cargo_bin!("sockdoc"))
        .args(args)
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(pty.slave))
        .status()
        .expect("sockdoc runs");
    assert_eq!(status.code(), Some(2));
    let mut master = File::from(pty.master);
    let mut bytes = vec![0_u8; 64 * 1024];
    // The child has exited, so everything it wrote is in the master's buffer already.
    let n = master
        .read(&mut bytes)
        .expect("the error reached the terminal");
    let text = strip_ansi(&String::from_utf8_lossy(&bytes[..n]).replace('\r', ""));
    assert!(text.lines().count() > 2, "wrapped: {text}");
    assert!(too_wide(&text, 60).is_empty(), "{text}");

    let piped = common::sockdoc().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
