//! Leaves N server-side TIME_WAIT sockets on loopback, for `scripts/bench.sh sockets`:
//! a listener per destination port, and for each connection the server closes first.
//!
//!     cargo run --release --example make_time_wait -- 50000
//!
//! Run it inside a private network namespace with a wide `ip_local_port_range` and a high
//! `tcp_max_tw_buckets` (bench.sh does); it sends nothing beyond 127.0.0.1.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Server ports to spread the connections over, so no (client port, server port) pair
/// needs reusing before the port range runs out.
const DESTINATIONS: usize = 16;

fn main() -> std::io::Result<()> {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    let listeners: Vec<TcpListener> = (0..DESTINATIONS)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    for i in 0..count {
        let listener = &listeners[i % DESTINATIONS];
        let mut client = TcpStream::connect(listener.local_addr()?)?;
        client.set_read_timeout(Some(Duration::from_secs(2)))?;
        let (server, _) = listener.accept()?;
        drop(server); // the server closes first: its side becomes TIME_WAIT
        let mut rest = Vec::new();
        client.read_to_end(&mut rest)?;
    }
    eprintln!(
        "{count} TIME_WAIT sockets in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
