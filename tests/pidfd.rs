//! Reading another program's socket options through pidfd_getfd: the values its program set,
//! read from a duplicate that is closed at once (the program's port is free when it exits).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use sockdoc::sys::pidfd::{ForeignSocket, Process};
use sockdoc::sys::sockopt::{Opt, Value};

#[test]
fn another_programs_options_read_as_it_set_them() {
    if common::skip_unless_installed("python3", "a program with planted socket options") {
        return;
    }
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import socket, struct, sys\n\
             bare = socket.socket(); bare.bind(('127.0.0.1', 0)); bare.listen(128)\n\
             tuned = socket.socket()\n\
             tuned.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             tuned.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n\
             tuned.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\n\
             tuned.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)\n\
             tuned.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)\n\
             tuned.bind(('127.0.0.1', 0)); tuned.listen(8)\n\
             print(bare.fileno(), tuned.fileno(), bare.getsockname()[1], flush=True)\n\
             sys.stdin.read()",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let numbers: Vec<i32> = line
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let (bare_fd, tuned_fd, bare_port) = (numbers[0], numbers[1], numbers[2]);

    let program = Process::open(child.id()).unwrap();
    let bare = program.socket(bare_fd).unwrap();
    let tuned = program.socket(tuned_fd).unwrap();
    let read = |socket: &ForeignSocket, opt| socket.get(opt, false).unwrap();
    assert_eq!(read(&bare, Opt::ReuseAddr), Value::Bool(false));
    assert_eq!(read(&bare, Opt::NoDelay), Value::Bool(false));
    assert_eq!(read(&bare, Opt::Linger), Value::Duration(None));
    assert_eq!(read(&tuned, Opt::ReuseAddr), Value::Bool(true));
    assert_eq!(read(&tuned, Opt::NoDelay), Value::Bool(true));
    assert_eq!(
        read(&tuned, Opt::Linger),
        Value::Duration(Some(Duration::ZERO))
    );
    assert_eq!(read(&tuned, Opt::KeepAlive), Value::Bool(true));
    assert_eq!(
        read(&tuned, Opt::KeepIdle),
        Value::Duration(Some(Duration::from_secs(30)))
    );
    drop((bare, tuned));

    // With the duplicates closed, the program's exit frees its port at once.
    drop(child.stdin.take());
    child.wait().unwrap();
    assert!(std::net::TcpListener::bind(("127.0.0.1", u16::try_from(bare_port).unwrap())).is_ok());
}
