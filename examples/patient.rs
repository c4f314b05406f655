//! A patient for `sockdoc inspect`'s tests: a process whose sockets carry one known
//! configuration. It sets them up, prints `ready PORT` (the port of its listener) on stdout,
//! and holds them until stdin closes (or 120 s pass, so a lost parent leaves nothing behind).
//!
//! cargo run --example patient -- MODE
//!
//! Modes: clean-listener (SO_REUSEADDR, backlog = somaxconn: nothing to find),
//! raw-listener (no SO_REUSEADDR), std-listener (std's TcpListener: SO_REUSEADDR, backlog 128),
//! backlog-128, close-wait (ten accepted connections the peer closed, never closed here),
//! nagle-client (small writes both ways with Nagle on), linger-zero (a connection with
//! SO_LINGER 0), stuck (a server that never reads and a client that filled its window),
//! full-queue (backlog 2, nobody accepts, six clients), bound-idle (a socket bound and never
//! used), udp-flood (a UDP receiver that never reads, flooded), chatty (a client streaming
//! 16 KiB writes to a server that reads them).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// The sockets (and streams) a mode keeps open until the patient exits.
type Held = Vec<Box<dyn std::any::Any>>;

/// How long the patient waits for its parent at most.
const LIFETIME: Duration = Duration::from_secs(120);

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let mut keep: Held = Vec::new();
    let listener = match mode.as_str() {
        "raw-listener" => listener(false, somaxconn()),
        "std-listener" => {
            let std = TcpListener::bind("127.0.0.1:0").unwrap();
            Socket::from(std)
        }
        "backlog-128" => listener(true, 128),
        "full-queue" => listener(true, 2),
        _ => listener(true, somaxconn()),
    };
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    match mode.as_str() {
        "clean-listener" | "raw-listener" | "std-listener" | "backlog-128" => {}
        "full-queue" => full_queue(addr, &mut keep),
        "bound-idle" => bound_idle(&mut keep),
        "chatty" => chatty(&listener, addr, &mut keep),
        "udp-flood" => udp_flood(&mut keep),
        "close-wait" => close_wait(&listener, addr, &mut keep),
        "nagle-client" => nagle_client(&listener, addr, &mut keep),
        "linger-zero" => linger_zero(&listener, addr, &mut keep),
        "stuck" => stuck(&listener, addr, &mut keep),
        other => panic!("unknown mode {other:?}"),
    }
    println!("ready {}", addr.port());
    std::io::stdout().flush().unwrap();
    wait_for_parent();
    drop(keep);
    drop(listener);
}

fn listener(reuseaddr: bool, backlog: i32) -> Socket {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_reuse_address(reuseaddr).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.listen(backlog).unwrap();
    socket
}

fn somaxconn() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

/// Returns when stdin reaches its end (the parent closed it or died), or after `LIFETIME`.
fn wait_for_parent() {
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read(&mut [0; 1]);
        let _ = done.send(());
    });
    let _ = wait.recv_timeout(LIFETIME);
}

fn full_queue(addr: SocketAddr, keep: &mut Held) {
    // Nobody accepts: the queue takes backlog + 1, later clients wait in SYN_SENT.
    for _ in 0..6 {
        let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        client.set_nonblocking(true).unwrap();
        let _ = client.connect(&addr.into()); // EINPROGRESS
        keep.push(Box::new(client));
    }
    std::thread::sleep(Duration::from_millis(100));
}

fn bound_idle(keep: &mut Held) {
    // bind() without listen() or connect(): the port is taken, and nothing uses it.
    let bound = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    bound
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    keep.push(Box::new(bound));
}

fn chatty(listener: &Socket, addr: SocketAddr, keep: &mut Held) {
    // A client that sends 16 KiB every 2 ms to a server that reads them all (8 MB/s): a
    // busy connection, for loss to show on.
    let mut client = TcpStream::connect(addr).unwrap();
    let mut server = TcpStream::from(listener.accept().unwrap().0);
    std::thread::spawn(move || {
        let mut sink = vec![0_u8; 65536];
        while server.read(&mut sink).is_ok_and(|n| n > 0) {}
    });
    let writer = client.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut writer = writer;
        let piece = vec![1_u8; 16 * 1024];
        while writer.write_all(&piece).is_ok() {
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    client.flush().unwrap();
    keep.push(Box::new(client));
}

fn udp_flood(keep: &mut Held) {
    // A receiver that never reads, with a small buffer, and a sender that keeps
    // sending: the datagrams that do not fit are dropped, all the time.
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let receiver = Socket::from(receiver);
    receiver.set_recv_buffer_size(4096).unwrap();
    let target = receiver.local_addr().unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    std::thread::spawn(move || {
        let datagram = [0_u8; 1000];
        let target = target.as_socket().unwrap();
        loop {
            let _ = sender.send_to(&datagram, target);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    keep.push(Box::new(receiver));
}

fn close_wait(listener: &Socket, addr: SocketAddr, keep: &mut Held) {
    for _ in 0..10 {
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        drop(client); // the peer closes; `server` is never closed
        keep.push(Box::new(server));
    }
}

fn nagle_client(listener: &Socket, addr: SocketAddr, keep: &mut Held) {
    let mut client = TcpStream::connect(addr).unwrap();
    let mut server = TcpStream::from(listener.accept().unwrap().0);
    server.set_nodelay(true).unwrap();
    // One small write, one small answer, 40 times: small segments both ways, and no
    // stall (nothing is unacknowledged when the next piece is written).
    let mut buf = [0; 8];
    for _ in 0..40 {
        client.write_all(b"request!").unwrap();
        server.read_exact(&mut buf).unwrap();
        server.write_all(b"answer!!").unwrap();
        client.read_exact(&mut buf).unwrap();
    }
    keep.push(Box::new(client));
    keep.push(Box::new(server));
}

fn linger_zero(listener: &Socket, addr: SocketAddr, keep: &mut Held) {
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    client.set_linger(Some(Duration::ZERO)).unwrap();
    client.connect(&addr.into()).unwrap();
    let (server, _) = listener.accept().unwrap();
    keep.push(Box::new(client));
    keep.push(Box::new(server));
}

fn stuck(listener: &Socket, addr: SocketAddr, keep: &mut Held) {
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    client.connect(&addr.into()).unwrap();
    client.set_nonblocking(true).unwrap();
    let (server, _) = listener.accept().unwrap();
    // Write until the kernel takes no more: the server never reads, so its window
    // closes and the rest waits in the client's send queue.
    let chunk = vec![0_u8; 65536];
    let mut client = TcpStream::from(client);
    let mut stalled = 0;
    while stalled < 50 {
        // A full send buffer refuses the write (EAGAIN): count those in a row.
        if client.write(&chunk).is_ok_and(|n| n > 0) {
            stalled = 0;
        } else {
            stalled += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    keep.push(Box::new(client));
    keep.push(Box::new(server));
}
