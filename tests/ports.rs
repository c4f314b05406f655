//! One port budget, not two: `sockets --summary` and `sysctl-advice` judge the same TIME_WAIT
//! population with the same module (src/ports.rs), so they report the same usable ports, the
//! same busiest destination and count, the same percent and the same level.

mod common;

use common::{in_private_netns, ipv6_loopback_available, run_json, skip_unless_root};
use serde_json::Value;

/// The fields that depend only on the knobs agree on any host, whatever its traffic.
#[test]
fn both_commands_read_the_same_budget_from_the_same_knobs() {
    let (sockets, _) = run_json(&["sockets", "--summary", "--tcp", "--state", "time-wait"]);
    let (advice, _) = run_json(&["sysctl-advice"]);
    let from_sockets = &sockets["summary"]["port_pressure"];
    let from_advice = &advice["evidence"]["port_pressure"];
    for key in [
        "low",
        "high",
        "ports",
        "reserved_in_range",
        "usable",
        "judged",
        "advise_at_percent",
        "source",
    ] {
        assert_eq!(
            from_sockets[key], from_advice[key],
            "{key}: sockets {from_sockets:#} vs sysctl-advice {from_advice:#}"
        );
    }
    assert_eq!(from_sockets["advise_at_percent"], 50);
    assert_eq!(
        sockets["summary"]["port_budget"], from_sockets["usable"],
        "the summary's port_budget is the verdict's usable count"
    );
    assert_eq!(
        advice["evidence"]["port_budget"]["usable"],
        from_advice["usable"]
    );
}

/// Makes the population inside the namespace and says what it made, as JSON on stdout:
/// six server-side TIME_WAIT (the server closes first; the client uses port 20001, outside
/// the range, toward six listeners), six client-side to 127.0.0.1:9000, and five
/// client-side to 10.99.0.1:9000, two of them through a dual-stack IPv6 socket
/// (::ffff:10.99.0.1) when this kernel has IPv6. It waits, bounded, until the kernel lists
/// all seventeen in TIME_WAIT.
const MAKE_POPULATION: &str = r#"
import json, socket, time

def listener(addr):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen(16)
    return s

main = listener(("0.0.0.0", 9000))

def client_closes_first(family, dest):
    c = socket.socket(family)
    c.connect(dest)
    s, _ = main.accept()
    c.close()
    assert s.recv(1) == b""
    s.close()

def server_closes_first(port):
    srv = listener(("10.99.0.1", port))
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("10.99.0.1", 20001))
    c.connect(("10.99.0.1", port))
    s, _ = srv.accept()
    s.close()
    assert c.recv(1) == b""
    c.close()
    srv.close()

for port in range(9001, 9007):
    server_closes_first(port)
for _ in range(6):
    client_closes_first(socket.AF_INET, ("127.0.0.1", 9000))
for _ in range(3):
    client_closes_first(socket.AF_INET, ("10.99.0.1", 9000))
try:
    socket.socket(socket.AF_INET6).close()
    mapped = 2
except OSError:
    mapped = 0
for _ in range(mapped):
    client_closes_first(socket.AF_INET6, ("::ffff:10.99.0.1", 9000))
for _ in range(2 - mapped):
    client_closes_first(socket.AF_INET, ("10.99.0.1", 9000))

def time_wait():
    count = 0
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                count += sum(1 for line in list(f)[1:] if line.split()[3] == "06")
        except FileNotFoundError:
            pass
    return count

deadline = time.monotonic() + 5
while time_wait() < 17 and time.monotonic() < deadline:
    time.sleep(0.01)
print(json.dumps({"mapped": mapped, "time_wait": time_wait()}))
"#;

#[test]
fn the_same_time_wait_population_gets_the_same_verdict_from_both_commands() {
    if skip_unless_root("netns with a 10-port range, 3 reserved, and 17 TIME_WAIT sockets") {
        return;
    }
    if common::skip_unless_installed("python3", "the shared port-budget verdict") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let script = format!(
        "ip addr add 10.99.0.1/32 dev lo\n\
         echo '40000 40009' > /proc/sys/net/ipv4/ip_local_port_range\n\
         echo '40002-40003,40003-40004,50000' > /proc/sys/net/ipv4/ip_local_reserved_ports\n\
         python3 -c '{}' > '{dir}/made.json'\n\
         set +e\n\
         \"$SOCKDOC\" sockets --summary --tcp --json > '{dir}/sockets.json'\n\
         \"$SOCKDOC\" sysctl-advice --json > '{dir}/advice.json'\n\
         true",
        MAKE_POPULATION.replace('\'', "'\\''"),
        dir = out.path().display()
    );
    let output = in_private_netns(&script);
    assert!(
        output.status.success(),
        "the namespace script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |name: &str| -> Value {
        let path = out.path().join(name);
        serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let made = read("made.json");
    assert_eq!(made["time_wait"], 17, "the population is in place: {made}");
    if ipv6_loopback_available() {
        assert_eq!(made["mapped"], 2, "IPv4-mapped TIME_WAIT made: {made}");
    } else {
        common::skip(format_args!(
            "SKIP (no IPv6): the IPv4-mapped part of this test"
        ));
    }
    let sockets = read("sockets.json");
    let advice = read("advice.json");
    let from_sockets = &sockets["summary"]["port_pressure"];
    let from_advice = &advice["evidence"]["port_pressure"];

    // One verdict: the whole object is the same, reason included.
    assert_eq!(from_sockets, from_advice);

    // And it is the right one. Ten ports, 40002-40004 reserved (the overlap counted once).
    assert_eq!(from_sockets["ports"], 10);
    assert_eq!(from_sockets["reserved_in_range"], 3);
    assert_eq!(from_sockets["usable"], 7);
    // Eleven client-side TIME_WAIT hold ephemeral ports; the six server-side ones keep
    // their listening ports (9001-9006) and are left out.
    assert_eq!(from_sockets["time_wait_in_range"], 11);
    assert_eq!(sockets["summary"]["time_wait"], 17);
    // tcp_tw_reuse = 2 (the default) lets loopback reuse its TIME_WAIT ports, so the six to
    // 127.0.0.1:9000 are not the pressure: the five to 10.99.0.1:9000 are, the IPv4-mapped
    // ones folded in.
    assert_eq!(from_sockets["judged"], "off-loopback");
    let busiest = &from_sockets["busiest"];
    assert_eq!(busiest["destination"], "10.99.0.1:9000", "{made}");
    assert_eq!(busiest["source_ip"], "10.99.0.1");
    assert_eq!(busiest["time_wait"], 5);
    assert_eq!(from_sockets["used_percent"], 71.4);
    assert_eq!(from_sockets["level"], "advise");

    the_rest_of_each_report_agrees(&sockets, &advice);
}

/// Beyond the shared verdict, each report's own figures say the same.
fn the_rest_of_each_report_agrees(sockets: &Value, advice: &Value) {
    let from_sockets = &sockets["summary"]["port_pressure"];
    let busiest = &from_sockets["busiest"];
    assert_eq!(sockets["exit_code"], 1, "a finding: {sockets:#}");
    assert_eq!(sockets["summary"]["port_budget"], 7);
    let destinations = sockets["summary"]["time_wait_destinations"]
        .as_array()
        .unwrap();
    let listed: Vec<(&str, u64, u64)> = destinations
        .iter()
        .map(|d| {
            (
                d["remote"].as_str().unwrap(),
                d["remote_port"].as_u64().unwrap(),
                d["time_wait"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("127.0.0.1", 9000, 6), ("10.99.0.1", 9000, 5)],
        "client-side only, mapped folded: {destinations:#?}"
    );
    let outgoing = &advice["evidence"]["outgoing_time_wait"];
    assert_eq!(outgoing["in_range"], 11);
    assert_eq!(outgoing["busiest"]["destination"], "127.0.0.1:9000");
    assert_eq!(outgoing["busiest_non_loopback"], *busiest);
    assert_eq!(advice["evidence"]["port_budget"]["usable"], 7);
    let reuse = advice["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "net.ipv4.tcp_tw_reuse")
        .unwrap();
    assert_eq!(reuse["level"], "advise", "{reuse:#}");
    assert_eq!(reuse["suggested"], "1");
    let reason = from_sockets["reason"].as_str().unwrap();
    assert!(
        reuse["reason"].as_str().unwrap().contains(reason),
        "{reuse:#}"
    );
    assert!(
        sockets["summary"]["findings"][0]
            .as_str()
            .unwrap()
            .starts_with(reason),
        "{sockets:#}"
    );
}
