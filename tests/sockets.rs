//! `sockdoc sockets` on real loopback sockets: each known socket is found with the right
//! state, addresses, timer and owner; the listing agrees with `ss`; the summary counts
//! TIME_WAIT per destination, sees filling and full accept queues, and CLOSE_WAIT leaks.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use socket2::{Domain, Socket, Type};

use common::{in_private_netns, json_of, run_json, skip_unless_root, sockdoc};
use sockdoc::sys::diag;
use sockdoc::sys::record::{Proto, TcpState};

/// A listener, one established pair, and one server-side TIME_WAIT on a second port.
struct Known {
    listener: TcpListener,
    _client: TcpStream,
    _server: TcpStream,
    time_wait_port: u16,
}

fn known_sockets() -> Known {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();

    let closing = TcpListener::bind("127.0.0.1:0").unwrap();
    let time_wait_port = closing.local_addr().unwrap().port();
    let mut peer = TcpStream::connect(closing.local_addr().unwrap()).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (mut first, _) = closing.accept().unwrap();
    first.write_all(b"bye").unwrap();
    drop(first); // the server closes first: TIME_WAIT on its port
    let mut buf = Vec::new();
    peer.read_to_end(&mut buf).unwrap();
    drop(peer);
    drop(closing);
    Known {
        listener,
        _client: client,
        _server: server,
        time_wait_port,
    }
}

/// The TCP sockets with `addr` at either end. `--port` matches the port number in any
/// address and family, and tests run in parallel on one kernel, so rows are narrowed to the
/// exact address this test owns.
fn sockets_at(addr: SocketAddr) -> Vec<Value> {
    let (report, output) = run_json(&["sockets", "--tcp", "--port", &addr.port().to_string()]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["command"], "sockets");
    let addr = addr.to_string();
    report["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["local"] == addr || s["remote"] == addr)
        .cloned()
        .collect()
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits in-process, on the kernel's own table, until `probe` holds (bounded): the tests then
/// run sockdoc once, so a sockdoc that answers wrong fails instead of being asked again.
fn wait_for_kernel(
    what: &str,
    mut probe: impl FnMut(&[sockdoc::sys::record::SocketRecord]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (records, _) = diag::list(&diag::Query::tcp()).unwrap();
        if probe(&records) {
            return;
        }
        assert!(Instant::now() < deadline, "the kernel never showed {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The TIME_WAIT socket on local `port`, once the kernel lists it.
fn time_wait_on(port: u16) -> Value {
    let local = loopback(port);
    wait_for_kernel("a TIME_WAIT socket", |records| {
        records
            .iter()
            .any(|r| r.state == TcpState::TimeWait && r.local == local)
    });
    sockets_at(local)
        .into_iter()
        .find(|s| s["state"] == "TIME_WAIT" && s["local"] == local.to_string())
        .unwrap_or_else(|| panic!("sockdoc did not list the TIME_WAIT socket on {local}"))
}

#[test]
fn finds_a_listener_a_connection_and_time_wait_with_owner_and_timer() {
    let known = known_sockets();
    let port = known.listener.local_addr().unwrap().port();
    let rows = sockets_at(loopback(port));
    let me = std::process::id();
    let listen = rows
        .iter()
        .find(|s| s["state"] == "LISTEN")
        .expect("listener");
    assert_eq!(listen["local"], format!("127.0.0.1:{port}"));
    assert_eq!(listen["remote"], "0.0.0.0:0");
    assert_eq!(listen["pid"], me);
    assert_eq!(listen["uid"], nix::unistd::geteuid().as_raw());
    assert!(listen["inode"].as_u64().unwrap() > 0);
    let established: Vec<&Value> = rows
        .iter()
        .filter(|s| s["state"] == "ESTABLISHED")
        .collect();
    assert_eq!(established.len(), 2, "both ends of the pair: {rows:#?}");
    for end in established {
        assert_eq!(end["pid"], me);
        assert_eq!(end["proto"], "tcp");
    }

    let tw = time_wait_on(known.time_wait_port);
    assert_eq!(tw["local"], format!("127.0.0.1:{}", known.time_wait_port));
    assert_eq!(tw["timer"], "timewait");
    let expires = tw["expires_ms"].as_u64().unwrap();
    assert!((40_000..=60_000).contains(&expires), "expires_ms {expires}");
    assert!(tw["pid"].is_null(), "no process owns TIME_WAIT");
    assert_eq!(tw["inode"], 0);
    // inet_twsk_diag_fill() reports uid 0 for every TIME_WAIT socket: unknown, not root.
    assert!(tw["uid"].is_null(), "{tw}");
}

#[test]
fn the_table_shows_no_uid_for_time_wait() {
    let known = known_sockets();
    let port = known.time_wait_port;
    time_wait_on(port);
    let output = sockdoc()
        .args([
            "sockets",
            "--tcp",
            "--state",
            "time-wait",
            "--port",
            &port.to_string(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let local = format!("127.0.0.1:{port} ");
    let row = text
        .lines()
        .find(|l| l.contains("TIME_WAIT") && l.contains(&local))
        .unwrap_or_else(|| panic!("no TIME_WAIT row for {port}: {text}"));
    // uid and process columns, the last two: "-" and "-", never a 0 that reads as root.
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns[columns.len() - 2..], ["-", "-"], "{row}");
}

#[test]
fn info_shows_tcp_info_for_connections() {
    let known = known_sockets();
    let port = known.listener.local_addr().unwrap().port();
    let (report, _) = run_json(&["sockets", "--tcp", "--info", "--port", &port.to_string()]);
    let rows = report["sockets"].as_array().unwrap();
    let established = rows.iter().find(|s| s["state"] == "ESTABLISHED").unwrap();
    let info = &established["info"];
    assert!(info["cwnd"].as_u64().unwrap() > 0, "{established}");
    assert!(info["mss"].as_u64().unwrap() > 0, "{established}");
    assert!(info.get("rtt_us").is_some());
    let listen = rows.iter().find(|s| s["state"] == "LISTEN").unwrap();
    assert!(
        listen.get("info").is_none(),
        "a listener has no connection info"
    );
}

#[test]
fn state_and_family_filters() {
    let known = known_sockets();
    let ours = known.listener.local_addr().unwrap();
    let port = ours.port().to_string();
    let rows_of = |args: &[&str]| -> Vec<Value> {
        let (report, output) = run_json(args);
        assert_eq!(output.status.code(), Some(0), "{report:#}");
        report["sockets"].as_array().unwrap().clone()
    };
    let involves_ours =
        |s: &&Value| s["local"] == ours.to_string() || s["remote"] == ours.to_string();

    let listening = rows_of(&["sockets", "--port", &port, "--state", "LISTEN"]);
    assert!(
        listening.iter().all(|s| s["state"] == "LISTEN"),
        "{listening:#?}"
    );
    assert!(listening.iter().any(|s| s["local"] == ours.to_string()));

    let connected = rows_of(&["sockets", "--port", &port, "--state", "connected"]);
    assert!(
        connected
            .iter()
            .all(|s| s["state"] != "LISTEN" && s["state"] != "CLOSE")
    );
    assert_eq!(
        connected.iter().filter(involves_ours).count(),
        2,
        "{connected:#?}"
    );

    let v6 = rows_of(&["sockets", "--port", &port, "-6"]);
    assert!(
        v6.iter()
            .all(|s| s["local"].as_str().unwrap().starts_with('[')),
        "{v6:#?}"
    );
    assert_eq!(v6.iter().filter(involves_ours).count(), 0);

    let udp = rows_of(&["sockets", "--port", &port, "--listening", "--udp"]);
    assert!(
        udp.iter()
            .all(|s| s["proto"] == "udp" && s["state"] == "CLOSE"),
        "{udp:#?}"
    );

    let output = sockdoc()
        .args(["sockets", "--state", "waiting"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("time-wait") && stderr.contains("--state"),
        "{stderr}"
    );
}

#[test]
fn the_table_lists_rows_and_the_owner() {
    let known = known_sockets();
    let port = known.listener.local_addr().unwrap().port();
    let output = sockdoc()
        .args(["sockets", "--port", &port.to_string()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains(&format!("/{}", std::process::id())), "{text}");
    assert!(text.contains(" sockets (from "), "{text}");
}

/// (state, local, remote) of the TCP sockets with `addr` at either end, as `ss` prints them.
fn ss_view(addr: SocketAddr) -> Option<BTreeSet<(String, String, String)>> {
    let port = addr.port();
    let output = Command::new("ss")
        .args(["-tanH", &format!("( sport = :{port} or dport = :{port} )")])
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let addr = addr.to_string();
    Some(
        text.lines()
            .filter_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let state = match *cols.first()? {
                    "ESTAB" => "ESTABLISHED",
                    "TIME-WAIT" => "TIME_WAIT",
                    other => other,
                };
                Some((state.to_string(), cols[3].to_string(), cols[4].to_string()))
            })
            .filter(|(_, local, remote)| *local == addr || *remote == addr)
            .collect(),
    )
}

#[test]
fn agrees_with_ss() {
    let known = known_sockets();
    let ours = known.listener.local_addr().unwrap();
    let Some(ss) = ss_view(ours) else {
        common::skip(format_args!(
            "SKIP (ss is not installed): comparison with ss"
        ));
        return;
    };
    let listed: BTreeSet<(String, String, String)> = sockets_at(ours)
        .iter()
        .map(|s| {
            let remote = s["remote"]
                .as_str()
                .unwrap()
                .replace("0.0.0.0:0", "0.0.0.0:*");
            (
                s["state"].as_str().unwrap().to_string(),
                s["local"].as_str().unwrap().to_string(),
                remote,
            )
        })
        .collect();
    // A TIME_WAIT toward this port number is an earlier test's connection to a listener that
    // had the same port (it can end between the two views): the comparison is of this test's
    // listener and pair.
    let ours_only = |set: BTreeSet<(String, String, String)>| -> BTreeSet<_> {
        set.into_iter()
            .filter(|(state, _, _)| state != "TIME_WAIT")
            .collect()
    };
    let (listed, ss) = (ours_only(listed), ours_only(ss));
    assert_eq!(listed, ss);
    assert_eq!(
        listed.len(),
        3,
        "the listener and both ends of the pair: {listed:?}"
    );
}

#[test]
fn summary_counts_time_wait_per_destination_and_filling_queues() {
    // Client-side TIME_WAIT toward one destination: the unit ports run out in.
    // A destination address of its own in 127/8 (all of it reaches lo): a TIME_WAIT that
    // an earlier test left toward the same port number on 127.0.0.1 is not counted here.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let ip = std::net::Ipv4Addr::new(
        127,
        1 + (std::process::id() % 250) as u8,
        (nanos >> 10) as u8,
        1 + (nanos % 250) as u8,
    );
    let target = TcpListener::bind((ip, 0)).unwrap();
    let port = target.local_addr().unwrap().port();
    for _ in 0..5 {
        let client = TcpStream::connect((ip, port)).unwrap();
        let (mut server, _) = target.accept().unwrap();
        drop(client); // the client closes first
        let mut buf = Vec::new();
        server.read_to_end(&mut buf).unwrap();
    }
    // A listener with backlog 4 that never accepts, and 4 waiting connections.
    let queue = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    queue
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    queue.listen(4).unwrap();
    let queue_addr = queue.local_addr().unwrap().as_socket().unwrap();
    let waiting: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(queue_addr).unwrap())
        .collect();

    let destination = SocketAddr::from((ip, port));
    wait_for_kernel("five TIME_WAIT sockets toward the target", |records| {
        records
            .iter()
            .filter(|r| r.state == TcpState::TimeWait && r.remote == destination)
            .count()
            == 5
    });
    // --port keeps other tests' TIME_WAIT out of the top-10 destinations.
    let (report, output) =
        run_json(&["sockets", "--tcp", "--summary", "--port", &port.to_string()]);
    let summary = &report["summary"];
    assert!(report.get("sockets").is_none(), "--summary omits the list");
    let dest = summary["time_wait_destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["remote_port"] == port && d["remote"] == ip.to_string())
        .unwrap_or_else(|| panic!("destination {ip}:{port} listed: {summary:#}"));
    assert_eq!(dest["time_wait"], 5);
    assert!(summary["port_budget"].as_u64().unwrap() > 0);
    assert!(summary["by_state"]["tcp"]["TIME_WAIT"].as_u64().unwrap() >= 5);

    assert_eq!(
        output.status.code(),
        Some(0),
        "nothing needs action on :{port}"
    );

    let (report, output) = run_json(&[
        "sockets",
        "--tcp",
        "--summary",
        "--port",
        &queue_addr.port().to_string(),
    ]);
    let summary = &report["summary"];
    let q = summary["accept_queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["local"] == queue_addr.to_string())
        .unwrap_or_else(|| panic!("queue listed: {summary:#}"));
    assert_eq!(q["queued"], 4);
    assert_eq!(q["backlog"], 4);
    // The queue holds backlog + 1 (sk_acceptq_is_full() is `>`): 4 of 5 is not yet full.
    assert_eq!(q["capacity"], 5);
    assert_eq!(q["fill_percent"], 80.0);
    assert_eq!(q["full"], false);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a nearly full accept queue is a finding"
    );
    assert!(summary["findings"].to_string().contains("accept()"));
    drop(waiting);
}

#[test]
fn a_nearly_exhausted_port_budget_is_a_finding() {
    if skip_unless_root("netns with a 10-port ip_local_port_range") {
        return;
    }
    if Command::new("python3").arg("--version").output().is_err() {
        common::skip(format_args!(
            "SKIP (python3 is not installed): port-budget finding in a netns"
        ));
        return;
    }
    // Ten ephemeral ports, nine left in TIME_WAIT toward one destination: 90% used. With
    // tcp_tw_reuse = 0 loopback gets no reuse, so its TIME_WAIT counts; with the default 2
    // connect() may take those ports, and loopback is left out of the verdict.
    let script = |reuse: u8| {
        format!(
            r#"echo "40000 40009" > /proc/sys/net/ipv4/ip_local_port_range
echo {reuse} > /proc/sys/net/ipv4/tcp_tw_reuse
python3 - <<'PY'
import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 9000)); srv.listen(16)
for _ in range(9):
    c = socket.create_connection(("127.0.0.1", 9000)); s, _ = srv.accept()
    c.close(); s.recv(1); s.close()
PY
"$SOCKDOC" sockets --summary --tcp --json"#
        )
    };
    let output = in_private_netns(&script(0));
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let summary = &report["summary"];
    assert_eq!(summary["port_budget"], 10);
    let dest = &summary["time_wait_destinations"][0];
    assert_eq!(dest["remote_port"], 9000);
    assert_eq!(dest["time_wait"], 9);
    assert_eq!(dest["budget_used_percent"], 90.0);
    let pressure = &summary["port_pressure"];
    assert_eq!(pressure["level"], "advise", "{pressure:#}");
    assert_eq!(pressure["judged"], "all");
    assert_eq!(pressure["busiest"]["time_wait"], 9);
    assert_eq!(pressure["used_percent"], 90.0);
    assert!(summary["findings"].to_string().contains("EADDRNOTAVAIL"));

    let output = in_private_netns(&script(2));
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let pressure = &report["summary"]["port_pressure"];
    assert_eq!(pressure["judged"], "off-loopback", "{pressure:#}");
    assert_eq!(pressure["level"], "ok");
    assert!(pressure["busiest"].is_null());
    assert_eq!(pressure["time_wait_in_range"], 9);
    assert_eq!(report["summary"]["findings"], serde_json::json!([]));
}

#[test]
fn without_sock_diag_the_listing_comes_from_proc_and_says_so() {
    let known = known_sockets();
    let port = known.listener.local_addr().unwrap().port();
    let output = sockdoc()
        .env("SOCKDOC_NO_SOCK_DIAG", "1")
        .args(["sockets", "--tcp", "--json", "--port", &port.to_string()])
        .output()
        .unwrap();
    let report = json_of(&output);
    assert_eq!(report["source"], "proc-net");
    assert!(report["notes"].to_string().contains("/proc/net/tcp"));
    let rows = report["sockets"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|s| s["state"] == "LISTEN" && s["pid"] == std::process::id())
    );

    // /proc/net/tcp prints uid 0 for TIME_WAIT too (get_timewait4_sock): unknown, not root.
    time_wait_on(known.time_wait_port);
    let output = sockdoc()
        .env("SOCKDOC_NO_SOCK_DIAG", "1")
        .args([
            "sockets",
            "--tcp",
            "--json",
            "--state",
            "time-wait",
            "--port",
            &known.time_wait_port.to_string(),
        ])
        .output()
        .unwrap();
    let report = json_of(&output);
    let local = loopback(known.time_wait_port).to_string();
    let tw = report["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["local"] == local)
        .unwrap_or_else(|| panic!("TIME_WAIT listed from /proc: {report:#}"));
    assert_eq!(tw["state"], "TIME_WAIT");
    assert!(tw["uid"].is_null(), "{tw}");
}

/// The sockets of one run of `sockdoc sockets --tcp --json` printed between markers.
fn section(stdout: &str, name: &str) -> Value {
    let start = format!("=== {name}\n");
    let text = stdout
        .split(&start)
        .nth(1)
        .and_then(|rest| rest.split("=== ").next())
        .unwrap_or_else(|| panic!("no {name} section in {stdout}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"))
}

fn row_of<'a>(report: &'a Value, state: &str, port: u16) -> &'a Value {
    let local = loopback(port).to_string();
    report["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == state && s["local"] == local)
        .unwrap_or_else(|| panic!("no {state} on {local}: {report:#}"))
}

#[test]
fn time_wait_and_request_sockets_report_no_uid() {
    if skip_unless_root("netns whose loopback drops SYN-ACKs, sockets owned by uid 65534") {
        return;
    }
    if Command::new("python3").arg("--version").output().is_err() {
        common::skip(format_args!(
            "SKIP (python3 is not installed): request sockets in a netns"
        ));
        return;
    }
    // Every segment from port 9000 goes to a class whose queue holds nothing: the listener's
    // SYN-ACK is dropped, so the connection stays a SYN_RECV request socket. A process of
    // uid 65534 owns the listener (9000) and a server-side TIME_WAIT (9001).
    let output = in_private_netns(
        r#"tc qdisc add dev lo root handle 1: htb default 10 2>/dev/null  && tc class add dev lo parent 1: classid 1:10 htb rate 1gbit 2>/dev/null  && tc class add dev lo parent 1: classid 1:20 htb rate 1gbit 2>/dev/null  && tc qdisc add dev lo parent 1:20 handle 20: pfifo limit 0  && tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip sport 9000 0xffff flowid 1:20  || { echo NO_TC; exit 0; }
python3 - <<'PY' &
import os, socket, time
os.setgroups([]); os.setgid(65534); os.setuid(65534)  # the sockets below belong to 65534
srv = socket.socket(); srv.bind(("127.0.0.1", 9000)); srv.listen(4)
c = socket.socket(); c.setblocking(False); c.connect_ex(("127.0.0.1", 9000))
tw = socket.socket(); tw.bind(("127.0.0.1", 9001)); tw.listen(1)
peer = socket.socket(); peer.connect(("127.0.0.1", 9001)); s, _ = tw.accept()
s.close(); peer.recv(1); peer.close(); tw.close()  # the server closes first
open("/tmp/sockdoc-uid-ready", "w").close()
time.sleep(5)
PY
owner=$!
i=0; while [ ! -e /tmp/sockdoc-uid-ready ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
rm -f /tmp/sockdoc-uid-ready
echo "=== diag"; "$SOCKDOC" sockets --tcp --json
echo "=== proc"; SOCKDOC_NO_SOCK_DIAG=1 "$SOCKDOC" sockets --tcp --json
kill $owner"#,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    if stdout.starts_with("NO_TC") {
        common::skip(format_args!(
            "SKIP (no htb/u32 in this kernel): request sockets in a netns"
        ));
        return;
    }
    let diag = section(&stdout, "diag");
    let proc = section(&stdout, "proc");
    for report in [&diag, &proc] {
        assert_eq!(row_of(report, "LISTEN", 9000)["uid"], 65534, "{report:#}");
        assert!(row_of(report, "TIME_WAIT", 9001)["uid"].is_null());
    }
    assert_eq!(diag["source"], "sock-diag");
    // inet_req_diag_fill() reports uid 0 for a request socket; /proc prints its listener's.
    assert!(row_of(&diag, "SYN_RECV", 9000)["uid"].is_null(), "{diag:#}");
    assert_eq!(row_of(&proc, "SYN_RECV", 9000)["uid"], 65534, "{proc:#}");
}

#[test]
fn a_listing_that_fails_part_way_still_ends_one_json_document() {
    if Command::new("strace").arg("-V").output().is_err() {
        common::skip(format_args!(
            "SKIP (strace is not installed): fault injection into the netlink dump"
        ));
        return;
    }
    let _listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // The second netlink receive fails with EIO, after the first delivered rows.
    let output = Command::new("strace")
        .args([
            "-f",
            "-o",
            "/dev/null",
            "-e",
            "inject=recvfrom:error=EIO:when=2",
        ])
        .arg(assert_cmd::cargo::cargo_bin!("sockdoc"))
        .args(["--json", "sockets", "--tcp"])
        .output()
        .unwrap();
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(3), "{report:#}");
    assert_eq!(report["exit_code"], 3);
    assert!(
        report["error"].as_str().unwrap().contains("EIO"),
        "{report:#}"
    );
}

/// A listener with `backlog` that never accepts, and `clients` non-blocking connects to it,
/// once its accept queue holds `expect` connections (the rest wait in SYN_SENT).
fn unaccepted(backlog: i32, clients: usize, expect: u32) -> (Socket, SocketAddr, Vec<Socket>) {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener.bind(&loopback(0).into()).unwrap();
    listener.listen(backlog).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let connecting: Vec<Socket> = (0..clients)
        .map(|_| {
            let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            client.set_nonblocking(true).unwrap();
            let _in_progress = client.connect(&addr.into());
            client
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let queued = diag::lookup(Proto::Tcp, addr, diag::listener_peer(addr))
            .unwrap()
            .map_or(0, |r| r.recv_q);
        if queued >= expect {
            break;
        }
        assert!(Instant::now() < deadline, "{queued} queued on {addr}");
        std::thread::sleep(Duration::from_millis(1));
    }
    (listener, addr, connecting)
}

fn accept_queue_of(report: &Value, addr: SocketAddr) -> Value {
    report["summary"]["accept_queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["local"] == addr.to_string())
        .unwrap_or_else(|| panic!("{addr} listed: {report:#}"))
        .clone()
}

#[test]
fn full_accept_queues_of_listen_0_and_listen_1_are_findings() {
    // listen(0) holds one connection and listen(1) two: the queue is full at backlog + 1,
    // and the further clients stay in SYN_SENT.
    for backlog in [0_u32, 1] {
        let capacity = backlog + 1;
        let (_listener, addr, _clients) = unaccepted(backlog as i32, 3, capacity);
        let port = addr.port().to_string();
        let (report, output) = run_json(&["sockets", "--tcp", "--summary", "--port", &port]);
        let q = accept_queue_of(&report, addr);
        assert_eq!(q["queued"], capacity, "{q}");
        assert_eq!(q["backlog"], backlog, "{q}");
        assert_eq!(q["capacity"], capacity, "{q}");
        assert_eq!(q["fill_percent"], 100.0, "{q}");
        assert_eq!(q["full"], true, "{q}");
        assert_eq!(q["pid"], std::process::id());
        assert_eq!(output.status.code(), Some(1), "{report:#}");
        let findings = report["summary"]["findings"].to_string();
        assert!(findings.contains(&format!("{addr} is full")), "{findings}");
        assert!(report["summary"]["by_state"]["tcp"]["SYN_SENT"].as_u64() >= Some(1));

        // /proc/net/tcp prints no backlog for a listener: nothing is made up from its 0.
        let output = sockdoc()
            .env("SOCKDOC_NO_SOCK_DIAG", "1")
            .args(["sockets", "--tcp", "--summary", "--port", &port, "--json"])
            .output()
            .unwrap();
        let report = json_of(&output);
        let q = accept_queue_of(&report, addr);
        assert_eq!(q["queued"], capacity, "{q}");
        assert!(q["backlog"].is_null() && q["full"].is_null(), "{q}");
        assert!(q["fill_percent"].is_null(), "{q}");
        assert_eq!(output.status.code(), Some(0), "{report:#}");
    }
}

#[test]
fn close_wait_left_by_a_program_that_never_closes_is_a_leak() {
    // This process plays the leaking server: it accepts, the clients close, and it never
    // closes its side, so each accepted socket sits in CLOSE_WAIT holding a descriptor.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut leaked = Vec::new();
    for _ in 0..12 {
        let client = TcpStream::connect(addr).unwrap();
        let (server, peer) = listener.accept().unwrap();
        drop(client);
        leaked.push((server, peer));
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    for (_, peer) in &leaked {
        while diag::lookup(Proto::Tcp, addr, *peer)
            .unwrap()
            .is_none_or(|r| r.state != TcpState::CloseWait)
        {
            assert!(Instant::now() < deadline, "no CLOSE_WAIT for {peer}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // The summary counts a CLOSE_WAIT socket as left behind after 1 s without an ACK.
    std::thread::sleep(Duration::from_millis(1100));

    let port = addr.port().to_string();
    let (report, output) = run_json(&["sockets", "--tcp", "--summary", "--port", &port]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let summary = &report["summary"];
    let ours = summary["close_wait"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["pid"] == std::process::id())
        .unwrap_or_else(|| panic!("this process is listed: {summary:#}"));
    assert_eq!(ours["close_wait"], 12, "{ours}");
    assert_eq!(ours["idle"], 12, "{ours}");
    assert!(ours["longest_idle_ms"].as_u64().unwrap() >= 1000, "{ours}");
    assert!(ours["open_fds"].as_u64().unwrap() >= 13, "{ours}");
    let (soft, _) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    assert_eq!(ours["fd_limit"], soft, "{ours}");
    assert_eq!(ours["leak"], true, "{ours}");
    assert_eq!(ours["leak_at"], 10);
    let findings = summary["findings"].to_string();
    assert!(
        findings.contains(&format!(
            "(pid {}) holds 12 TCP sockets in CLOSE_WAIT",
            std::process::id()
        )),
        "{findings}"
    );
    assert!(findings.contains("returns 0"), "{findings}");

    // Closing them is the fix: the finding goes away.
    drop(leaked);
    wait_for_kernel("the CLOSE_WAIT sockets gone", |records| {
        !records
            .iter()
            .any(|r| r.state == TcpState::CloseWait && r.local == addr)
    });
    let (report, output) = run_json(&["sockets", "--tcp", "--summary", "--port", &port]);
    assert!(
        report["summary"]["close_wait"]
            .as_array()
            .unwrap()
            .is_empty(),
        "CLOSE_WAIT still reported: {report:#}"
    );
    assert_eq!(output.status.code(), Some(0), "{report:#}");
}

#[test]
fn bound_only_sockets_are_listed_when_a_filter_names_them() {
    let bound = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    bound
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let port = bound
        .local_addr()
        .unwrap()
        .as_socket()
        .unwrap()
        .port()
        .to_string();
    let (default, _) = run_json(&["sockets", "--tcp", "--port", &port]);
    assert_eq!(default["count"], 0, "not requested by default: {default:#}");
    let (named, _) = run_json(&["sockets", "--tcp", "--state", "close", "--port", &port]);
    // sock_diag lists bound-only sockets since Linux 6.8 (BOUND_INACTIVE).
    let rows = named["sockets"].as_array().unwrap();
    if rows.is_empty() {
        common::skip(format_args!(
            "SKIP (kernel before 6.8 lists no bound-only sockets): --state close"
        ));
        return;
    }
    assert_eq!(rows.len(), 1, "{named:#}");
    assert_eq!(rows[0]["state"], "CLOSE");
    let (all, _) = run_json(&["sockets", "--tcp", "--state", "all", "--port", &port]);
    assert_eq!(all["count"], 1, "{all:#}");
}

/// A population in a private namespace (quiet: only this test's sockets), summarised the
/// fast way (ESTABLISHED counted from sockstat, not dumped) and listed row by row: the
/// counts by state must be the same.
#[test]
fn the_summary_counts_what_the_listing_lists() {
    if skip_unless_root("a quiet private namespace to compare the summary with the listing") {
        return;
    }
    if common::skip_unless_installed("python3", "the population for the summary comparison") {
        return;
    }
    let script = r#"python3 - <<'PY'
import socket, subprocess, os, json, time
sockdoc = os.environ["SOCKDOC"]
listeners = [socket.socket() for _ in range(5)]
for l in listeners:
    l.bind(("127.0.0.1", 0)); l.listen(64)
held = []
for i in range(40):                       # 40 connections: 80 ESTABLISHED, 10 never accepted
    l = listeners[i % 3]
    c = socket.create_connection(l.getsockname()); held.append(c)
    if i < 30:
        s, _ = l.accept(); held.append(s)
for _ in range(5):                        # 5 CLOSE_WAIT (and 5 FIN_WAIT2 on the other end)
    l = listeners[3]                      # (its own listener: accept() takes the oldest)
    c = socket.create_connection(l.getsockname()); s, _ = l.accept()
    c.close(); held.append(s)
for _ in range(7):                        # 7 TIME_WAIT
    l = listeners[4]
    c = socket.create_connection(l.getsockname()); s, _ = l.accept()
    c.settimeout(5); s.close(); c.recv(1); c.close()
time.sleep(0.2)
summary = subprocess.run([sockdoc, "sockets", "--tcp", "--summary", "--json"], capture_output=True, timeout=20)
listing = subprocess.run([sockdoc, "sockets", "--tcp", "--json"], capture_output=True, timeout=20)
print(json.dumps({"summary": json.loads(summary.stdout), "listing": json.loads(listing.stdout)}))
PY"#;
    let output = in_private_netns(script);
    let both = json_of(&output);
    let summary = &both["summary"];
    let mut listed = std::collections::BTreeMap::<String, u64>::new();
    for row in both["listing"]["sockets"].as_array().unwrap() {
        *listed
            .entry(row["state"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let counted: std::collections::BTreeMap<String, u64> =
        serde_json::from_value(summary["summary"]["by_state"]["tcp"].clone()).unwrap();
    assert_eq!(counted, listed, "{summary:#}");
    assert_eq!(counted["ESTABLISHED"], 80);
    assert_eq!(counted["CLOSE_WAIT"], 5);
    assert_eq!(counted["TIME_WAIT"], 7);
    assert_eq!(summary["count"], both["listing"]["count"]);
    assert!(
        summary["notes"]
            .to_string()
            .contains("ESTABLISHED is counted"),
        "the summary says how it counted: {summary:#}"
    );
}

/// The owner walk runs beside the kernel's dump and the rows listed meanwhile wait for it:
/// the listing with owners must be the listing without them, row for row, plus an owner for
/// every socket the population's two processes hold.
#[test]
fn owners_found_beside_the_dump_name_every_socket_and_change_no_row() {
    if skip_unless_root("a quiet private namespace for the owner walk") {
        return;
    }
    if common::skip_unless_installed("python3", "the population for the owner walk") {
        return;
    }
    let script = r#"python3 - <<'PY'
import socket, subprocess, os, json
sockdoc = os.environ["SOCKDOC"]
listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(256)
held = []
for _ in range(200):                      # 400 ESTABLISHED
    c = socket.create_connection(listener.getsockname()); s, _ = listener.accept()
    held += [c, s]
child = os.fork()
if child == 0:                            # the child holds them too, plus 100 of its own
    mine = []
    for _ in range(50):
        c = socket.create_connection(listener.getsockname()); s, _ = listener.accept()
        mine += [c, s]
    os.write(1, b""); os.close(1)
    import time; time.sleep(30); os._exit(0)
import time; time.sleep(0.5)
run = lambda *extra: json.loads(subprocess.run([sockdoc, "sockets", "--tcp", "--json", *extra], capture_output=True, timeout=20).stdout)
print(json.dumps({"owners": run(), "plain": run("--no-processes"), "pids": [os.getpid(), child]}))
os.kill(child, 9)
PY"#;
    let output = in_private_netns(script);
    let both = json_of(&output);
    let strip = |rows: &Value| -> BTreeSet<String> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut r = r.clone();
                for owner_field in ["pid", "process", "other_holders"] {
                    r.as_object_mut().unwrap().remove(owner_field);
                }
                r.to_string()
            })
            .collect()
    };
    let with = &both["owners"]["sockets"];
    assert_eq!(strip(with), strip(&both["plain"]["sockets"]));
    assert_eq!(
        with.as_array().unwrap().len(),
        1 + 400 + 100,
        "{:#}",
        both["owners"]
    );
    let pids = both["pids"].as_array().unwrap();
    for row in with.as_array().unwrap() {
        assert!(pids.contains(&row["pid"]), "no owner found: {row}");
    }
    // The 400 the child inherited are the parent's with the child beside it; its own 100 are
    // the child's alone.
    let shared = with
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["other_holders"][0]["pid"] == pids[1])
        .count();
    assert_eq!(
        shared,
        1 + 400,
        "the listener and the 400 inherited sockets"
    );
}

/// A listener shared across fork (nginx's master and workers) names every holder, as `ss -p`
/// does: the lowest pid as the owner, the others beside it.
#[test]
fn a_socket_shared_across_fork_names_every_holder() {
    if common::skip_unless_installed("python3", "a listener shared by two processes") {
        return;
    }
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import os, socket, sys\n\
             s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(5)\n\
             pid = os.fork()\n\
             if pid == 0:\n    sys.stdin.read(); os._exit(0)\n\
             print(s.getsockname()[1], pid, flush=True)\n\
             sys.stdin.read(); os.waitpid(pid, 0)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let mut words = line.split_whitespace();
    let port: u16 = words.next().unwrap().parse().unwrap();
    let forked: u32 = words.next().unwrap().parse().unwrap();
    let rows = sockets_at(loopback(port));
    drop(child.stdin.take());
    let _ = child.wait();
    let listener = rows
        .iter()
        .find(|r| r["state"] == "LISTEN")
        .unwrap_or_else(|| panic!("{rows:#?}"));
    // The lowest pid is named first and the other holder beside it; pids wrap (pid_max), so
    // the forked child may have the lower one.
    let (first, second) = if child.id() < forked {
        (child.id(), forked)
    } else {
        (forked, child.id())
    };
    assert_eq!(
        listener["pid"], first,
        "the lowest pid owns it: {listener:#}"
    );
    let others = listener["other_holders"].as_array().unwrap();
    assert_eq!(others.len(), 1, "{listener:#}");
    assert_eq!(others[0]["pid"], second);
    assert_eq!(others[0]["process"], "python3");
}
