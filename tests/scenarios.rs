//! The lesson scenarios on loopback: each asserts the mechanism it shows, the JSON shape,
//! and that it finishes within its bound.

mod common;

use serde_json::Value;

use common::{in_private_netns, json_of, run_json, skip_unless_root, sockdoc};

fn assert_scenario_shape(report: &Value, command: &str) {
    assert_eq!(report["command"], command);
    assert_eq!(report["sockdoc_version"], env!("CARGO_PKG_VERSION"));
    for key in [
        "address",
        "checks",
        "mechanism",
        "verdict",
        "fix",
        "notes",
        "elapsed_us",
    ] {
        assert!(
            report.get(key).is_some(),
            "{command} lacks {key}: {report:#}"
        );
    }
    for check in report["checks"].as_array().unwrap() {
        assert_eq!(check["matches"], true, "{command}: {check:#}");
    }
}

fn elapsed_ms(report: &Value) -> u64 {
    report["elapsed_us"].as_u64().unwrap() / 1000
}

#[test]
fn backlog_fills_the_accept_queue_and_leaves_the_rest_in_syn_sent() {
    let (report, output) = run_json(&["backlog", "--backlog", "2", "--clients", "6"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_scenario_shape(&report, "backlog");
    assert_eq!(report["effective_backlog"], 2);
    assert_eq!(report["accept_queue"], 3, "backlog + 1 connections queue");
    assert_eq!(report["completed"], 3);
    assert_eq!(report["waiting_in_syn_sent"], 3);
    assert_eq!(
        report["clients_reset"], 0,
        "a full queue drops SYNs, it sends no RST"
    );
    assert!(elapsed_ms(&report) < 2_000, "bounded: {report:#}");
    // The retry schedule is computed from this host's knobs: increasing times, and the
    // give-up after the last retry.
    let schedule: Vec<u64> = report["syn_retry_schedule_ms"]
        .as_array()
        .expect("tcp_syn_retries is readable")
        .iter()
        .map(|ms| ms.as_u64().unwrap())
        .collect();
    assert!(!schedule.is_empty(), "{report:#}");
    assert_eq!(schedule[0], 1_000, "TCP_TIMEOUT_INIT");
    assert!(
        schedule.windows(2).all(|pair| pair[0] < pair[1]),
        "{schedule:?}"
    );
    let gives_up = report["connect_gives_up_after_ms"].as_u64().unwrap();
    assert!(gives_up > *schedule.last().unwrap(), "{report:#}");
}

/// `backlog` in a private namespace with `knobs` written first (sh lines).
fn backlog_in_netns(knobs: &str, args: &str) -> (Value, std::process::Output) {
    let output = in_private_netns(&format!("{knobs}\n\"$SOCKDOC\" backlog {args} --json"));
    (json_of(&output), output)
}

#[test]
fn tcp_abort_on_overflow_changes_nothing_for_syns_to_a_full_queue() {
    if skip_unless_root("netns with net.ipv4.tcp_abort_on_overflow=0 and =1") {
        return;
    }
    // tcp_conn_request() drops a SYN to a full accept queue before anything reads the knob,
    // so both runs must show the same figures and no reset client.
    let mut figures = Vec::new();
    for knob in [0, 1] {
        let (report, output) = backlog_in_netns(
            &format!("echo {knob} > /proc/sys/net/ipv4/tcp_abort_on_overflow"),
            "--backlog 8 --clients 16",
        );
        assert_eq!(output.status.code(), Some(0), "knob {knob}: {report:#}");
        assert_scenario_shape(&report, "backlog");
        assert_eq!(report["tcp_abort_on_overflow"], knob);
        assert_eq!(report["accept_queue"], 9, "knob {knob}: {report:#}");
        assert_eq!(report["waiting_in_syn_sent"], 7, "knob {knob}: {report:#}");
        assert_eq!(report["clients_reset"], 0, "knob {knob}: {report:#}");
        assert_eq!(report["other"], 0, "knob {knob}: {report:#}");
        // The namespace's own counters: one overflow per dropped first SYN, none retried yet.
        assert_eq!(report["listen_overflows"], 7, "knob {knob}: {report:#}");
        assert_eq!(report["listen_drops"], 7, "knob {knob}: {report:#}");
        figures.push(
            [
                "accept_queue",
                "completed",
                "waiting_in_syn_sent",
                "clients_reset",
            ]
            .map(|key| report[key].clone()),
        );
    }
    assert_eq!(
        figures[0], figures[1],
        "the knob changed what the clients saw"
    );
}

#[test]
fn the_syn_retry_schedule_follows_this_kernels_knobs() {
    if skip_unless_root("netns with tcp_syn_retries=2, tcp_syn_linear_timeouts=1") {
        return;
    }
    if !std::path::Path::new("/proc/sys/net/ipv4/tcp_syn_linear_timeouts").exists() {
        common::skip(format_args!(
            "SKIP (kernel before 6.5, no tcp_syn_linear_timeouts): the linear schedule"
        ));
        return;
    }
    // Measured with tcpdump in such a namespace (a SYN to a full queue): retries at +1.0,
    // +2.0, +4.1 s, ETIMEDOUT at 8.1 s.
    let (report, output) = backlog_in_netns(
        "echo 2 > /proc/sys/net/ipv4/tcp_syn_retries\n\
         echo 1 > /proc/sys/net/ipv4/tcp_syn_linear_timeouts",
        "--backlog 1 --clients 3",
    );
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["tcp_syn_retries"], 2);
    assert_eq!(report["tcp_syn_linear_timeouts"], 1);
    assert_eq!(
        report["syn_retry_schedule_ms"],
        serde_json::json!([1_000, 2_000, 4_000])
    );
    assert_eq!(report["connect_gives_up_after_ms"], 8_000);

    // No linear retries: every retry doubles, as before 6.5; the budget is
    // tcp_model_timeout(3) = 15 s.
    let (report, _) = backlog_in_netns(
        "echo 3 > /proc/sys/net/ipv4/tcp_syn_retries\n\
         echo 0 > /proc/sys/net/ipv4/tcp_syn_linear_timeouts",
        "--backlog 1 --clients 3",
    );
    assert_eq!(
        report["syn_retry_schedule_ms"],
        serde_json::json!([1_000, 3_000, 7_000])
    );
    assert_eq!(report["connect_gives_up_after_ms"], 15_000);
}

#[test]
fn backlog_is_capped_by_somaxconn_in_a_private_namespace() {
    if skip_unless_root("netns with net.core.somaxconn=4") {
        return;
    }
    let output = in_private_netns(
        "echo 4 > /proc/sys/net/core/somaxconn\n\"$SOCKDOC\" backlog --backlog 64 --clients 8 --json",
    );
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["somaxconn"], 4);
    assert_eq!(report["effective_backlog"], 4);
    assert_eq!(report["accept_queue"], 5);
    assert_eq!(report["waiting_in_syn_sent"], 3);
}

#[test]
fn udp_keeps_boundaries_and_truncation_reports_the_real_length() {
    let (report, output) = run_json(&["udp", "--size", "3000", "--bufsize", "1000"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_scenario_shape(&report, "udp");
    assert_eq!(report["udp_received_sizes"], report["udp_sent_sizes"]);
    assert!(report["tcp_read_sizes"].as_array().unwrap().len() < 5);
    let reported = report["reported_length"].as_u64().unwrap();
    let received = report["bytes_received"].as_u64().unwrap();
    assert_eq!(reported, 3000);
    assert_eq!(received, 1000);
    assert!(
        reported > received,
        "the truncated length exceeds what arrived"
    );
    assert_eq!(report["bytes_lost"], 2000);
}

#[test]
fn udp_without_truncation_says_so() {
    let (report, output) = run_json(&["udp", "--size", "100", "--bufsize", "1000"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["bytes_lost"], 0);
    assert!(
        report["verdict"]
            .as_str()
            .unwrap()
            .contains("nothing was cut")
    );
}

#[test]
fn partial_send_shows_short_writes_and_send_all_delivers_every_byte() {
    let (report, output) = run_json(&["partial-send", "--bytes", "2M", "--sndbuf", "4K"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_scenario_shape(&report, "partial-send");
    let total = report["bytes"].as_u64().unwrap();
    assert_eq!(total, 2 << 20);
    assert!(report["first_send_bytes"].as_u64().unwrap() < total);
    assert!(report["send_all_eagains"].as_u64().unwrap() > 0);
    assert_eq!(report["received_bytes"], total);
    assert_eq!(report["checksum_sent"], report["checksum_received"]);
    // SO_SNDBUF reads back doubled.
    assert_eq!(report["sndbuf_applied"], 8192);
}

#[test]
fn peer_close_shows_zero_reads_reset_and_epipe() {
    let (report, output) = run_json(&["peer-close"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_scenario_shape(&report, "peer-close");
    // The typed results: what each call returned and how it ended.
    let reads = report["orderly_close_read_results"].as_array().unwrap();
    assert_eq!(reads.len(), 3, "{report:#}");
    for read in reads {
        assert_eq!(read["returned"], 0, "{read}");
        assert_eq!(read["kind"], "end_of_stream", "{read}");
        assert_eq!(read["errno"], Value::Null, "{read}");
    }
    let reset = &report["abortive_close_read_result"];
    assert_eq!(reset["returned"], -1, "{reset}");
    assert_eq!(reset["kind"], "error", "{reset}");
    assert_eq!(reset["errno"], "ECONNRESET", "{reset}");
    assert_eq!(
        report["write_after_close_eof_read_result"]["kind"],
        "end_of_stream"
    );
    let writes = report["writes_after_close_results"].as_array().unwrap();
    assert_eq!(writes[0]["kind"], "accepted", "{report:#}");
    assert_eq!(
        writes[0]["returned"], 14,
        "the probe's 14 bytes: {report:#}"
    );
    let last = writes.last().unwrap();
    assert_eq!(
        (&last["kind"], &last["returned"], &last["errno"]),
        (&"error".into(), &(-1).into(), &"EPIPE".into()),
        "{report:#}"
    );
    // The text figures stay, one per typed result, as the report always showed them.
    assert_eq!(
        report["orderly_close_reads"],
        serde_json::json!([
            "0 (end of stream)",
            "0 (end of stream)",
            "0 (end of stream)"
        ])
    );
    assert_eq!(report["abortive_close_read"], "ECONNRESET");
    assert_eq!(
        report["writes_after_close"].as_array().unwrap().len(),
        writes.len()
    );
    assert!(report["notes"].to_string().contains("SIGPIPE"));
}

#[test]
fn timeouts_are_measured_against_the_requested_time() {
    let (report, output) = run_json(&[
        "timeouts",
        "--recv-timeout",
        "80ms",
        "--connect-timeout",
        "120ms",
    ]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_scenario_shape(&report, "timeouts");
    let blocking = report["blocking_recv_waited_us"].as_u64().unwrap();
    assert!((79_000..200_000).contains(&blocking), "{blocking} µs");
    // The window comes from the timer wheel: never early, at most one bucket (plus the
    // wake-up margin) late, and the measured wait lies inside it.
    let (min, max) = (
        report["recv_expected_min_us"].as_u64().unwrap(),
        report["recv_expected_max_us"].as_u64().unwrap(),
    );
    assert_eq!(min, 80_000, "{report:#}");
    assert!(min <= blocking && blocking <= max, "{report:#}");
    // HZ comes from the jiffy the kernel reports (USEC_PER_SEC / HZ), and SO_RCVTIMEO
    // reads back rounded up to whole jiffies.
    let jiffy = report["jiffy_us"].as_u64().unwrap();
    assert_eq!(report["hz"].as_u64().unwrap(), 1_000_000 / jiffy);
    let in_kernel = report["recv_timeout_in_kernel_us"].as_u64().unwrap();
    assert!((80_000..80_000 + jiffy).contains(&in_kernel), "{report:#}");
    assert!(report["nonblocking_recv_waited_us"].as_u64().unwrap() < 5_000);
    let connect = report["connect_waited_us"].as_u64().unwrap();
    assert!((119_000..300_000).contains(&connect), "{connect} µs");
    let (min, max) = (
        report["connect_expected_min_us"].as_u64().unwrap(),
        report["connect_expected_max_us"].as_u64().unwrap(),
    );
    assert!(min <= connect && connect <= max, "{report:#}");
    assert_eq!(report["connect_result"], "timed out");
    assert!(elapsed_ms(&report) < 2_000);
}

#[test]
fn the_scenarios_work_over_ipv6_too() {
    if !common::ipv6_loopback_available() {
        common::skip(format_args!(
            "SKIP (no IPv6 loopback on this host): scenarios over ::1"
        ));
        return;
    }
    for command in ["udp", "peer-close", "close-wait"] {
        let (report, output) = run_json(&[command, "--addr", "::1"]);
        assert_eq!(output.status.code(), Some(0), "{command}: {report:#}");
        assert_eq!(report["address"], "::1");
    }
}

#[test]
fn close_wait_piles_up_hits_emfile_and_the_fix_clears_it() {
    let (report, output) = run_json(&["close-wait", "--clients", "5"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_scenario_shape(&report, "close-wait");
    assert_eq!(report["clients"], 5);
    // The leaky server: every socket in CLOSE_WAIT, none with a timer, one descriptor each.
    assert_eq!(report["close_wait"], 5, "{report:#}");
    assert_eq!(report["close_wait_with_timer"], 0, "{report:#}");
    assert_eq!(report["client_fin_wait2"], 5, "{report:#}");
    assert!(
        report["client_fin_wait2_timers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t != "none"),
        "an orphaned FIN_WAIT2 side always has a timer: {report:#}"
    );
    let fin_timeout_ms = report["tcp_fin_timeout"].as_u64().unwrap() * 1000;
    let left = report["client_fin_wait2_timer_max_ms"].as_u64().unwrap();
    assert!(left > 0 && left <= fin_timeout_ms, "{report:#}");
    let baseline = report["baseline_fds"].as_u64().unwrap();
    assert_eq!(
        report["leaky_fds"].as_u64().unwrap(),
        baseline + 5,
        "{report:#}"
    );
    // At the limit: EMFILE, the client still queued, accepted once the limit is back.
    assert_eq!(report["accept_queue_before"], 1, "{report:#}");
    assert_eq!(report["accept_at_limit"], "EMFILE", "{report:#}");
    assert_eq!(report["listener_readable_after_emfile"], true, "{report:#}");
    assert_eq!(report["accept_queue_after_emfile"], 1, "{report:#}");
    // Taking a descriptor at or above the lowered limit proves the limit came back.
    assert_eq!(report["accept_after_restore"], "accepted", "{report:#}");
    let limit = report["open_files_limit"].as_u64().unwrap();
    assert!(
        report["lowered_limit"].as_u64().unwrap() < limit,
        "{report:#}"
    );
    // The fix: nothing left in CLOSE_WAIT or LAST_ACK, descriptors back where they were.
    assert_eq!(report["fixed_close_wait"], 0, "{report:#}");
    assert_eq!(report["fixed_last_ack"], 0, "{report:#}");
    assert_eq!(report["fixed_client_time_wait"], 5, "{report:#}");
    assert_eq!(
        report["fixed_fds"], report["fixed_fds_before"],
        "{report:#}"
    );
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["matches"] == true),
        "{report:#}"
    );
}

#[test]
fn out_of_range_values_are_usage_errors_naming_the_flag() {
    for args in [
        &["backlog", "--clients", "0"][..],
        &["backlog", "--backlog", "100000"],
        &["udp", "--size", "70000"],
        &["udp", "--bufsize", "0"],
        &["partial-send", "--bytes", "0"],
        &["partial-send", "--bytes", "1G"],
        &["partial-send", "--sndbuf", "lots"],
        &["timeouts", "--recv-timeout", "0s"],
    ] {
        let output = sockdoc().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(args[1]), "{args:?}: {stderr}");
    }
}

#[test]
fn the_table_shows_checks_and_the_fix() {
    let output = sockdoc().args(["peer-close"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "Measured",
        "Checks against documented Linux behaviour",
        "ECONNRESET",
        "Fix:",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
}

#[test]
fn every_scenario_runs_unprivileged() {
    if !common::is_root() {
        // Already unprivileged: the other tests cover it.
        return;
    }
    for command in ["backlog", "udp", "partial-send", "peer-close", "timeouts"] {
        let output = common::sockdoc_as_nobody()
            .args([command, "--json"])
            .output()
            .expect("setpriv runs");
        let report = json_of(&output);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{command} as nobody: {report:#}"
        );
    }
}

#[test]
fn backlog_makes_room_for_its_clients_or_says_why_not() {
    let exe = assert_cmd::cargo::cargo_bin!("sockdoc");
    let run = |limits: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{limits}; exec \"$0\" backlog --clients 200 --json"
            ))
            .arg(exe)
            .output()
            .expect("sh runs")
    };
    // A soft limit below what 200 clients need is raised within the hard limit.
    let output = run("ulimit -Sn 64");
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["clients"], 200);
    // A hard limit below it cannot be: the run stops and names the flag and the limit.
    let output = run("ulimit -n 64");
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(3), "{report:#}");
    let error = report["error"].as_str().unwrap();
    assert!(
        error.contains("--clients 200") && error.contains("ulimit -n"),
        "{error}"
    );
}
