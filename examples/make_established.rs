//! Holds N ESTABLISHED sockets on loopback, for `scripts/bench.sh sockets`, spread over
//! several processes (so finding owners walks more than one /proc/PID/fd, and no process needs
//! more than 18,000 descriptors): each worker holds both ends of up to 9,000 connections.
//! Everything stays until stdin closes (or a signal ends the processes).
//!
//!     cargo run --release --example make_established -- 100000   # 50,000 connections
//!     cargo run --release --example make_established -- 10000 --per-worker 50   # 100 processes
//!
//! Run it inside a private network namespace with a wide `ip_local_port_range` (bench.sh
//! does); it sends nothing beyond 127.0.0.1. It prints `ready` once every connection is
//! established.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};

/// Connections per worker: two descriptors each, under a 20,000 open-files limit.
const PER_WORKER: usize = 9_000;

/// Server ports per worker, so no (client port, server port) pair needs reusing.
const DESTINATIONS: usize = 8;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let sockets: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    if args.get(2).map(String::as_str) == Some("--worker") {
        return worker(sockets / 2);
    }
    let per_worker = match args.get(2).map(String::as_str) {
        Some("--per-worker") => args
            .get(3)
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(PER_WORKER)
            .min(PER_WORKER),
        _ => PER_WORKER,
    };
    let mut connections = sockets / 2;
    let mut workers = Vec::new();
    while connections > 0 {
        let share = connections.min(per_worker);
        connections -= share;
        let mut child = Command::new(std::env::current_exe()?)
            .args([(share * 2).to_string(), "--worker".into()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        assert!(line.starts_with("ready"), "worker: {line}");
        workers.push(child);
    }
    println!("ready: {} sockets in {} processes", sockets, workers.len());
    std::io::stdout().flush()?;
    let mut rest = String::new();
    while std::io::stdin().read_line(&mut rest)? > 0 {}
    for mut child in workers {
        drop(child.stdin.take());
        child.wait()?;
    }
    Ok(())
}

fn worker(connections: usize) -> std::io::Result<()> {
    let listeners: Vec<TcpListener> = (0..DESTINATIONS)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let mut held = Vec::with_capacity(connections * 2);
    for i in 0..connections {
        let listener = &listeners[i % DESTINATIONS];
        held.push(TcpStream::connect(listener.local_addr()?)?);
        held.push(listener.accept()?.0);
    }
    println!("ready");
    std::io::stdout().flush()?;
    let mut rest = String::new();
    while std::io::stdin().read_line(&mut rest)? > 0 {}
    Ok(())
}
