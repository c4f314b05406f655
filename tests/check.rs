//! `sockdoc check`: one run of every check, its selection and config, and each machine format
//! read back by the consumer it is written for (promtool and node_exporter for the
//! Prometheus textfile, a JUnit reader for JUnit, the workflow-command grammar for GitHub).

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{run_json, skip, skip_unless_installed, sockdoc};

fn ids(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A config file in a fresh directory, which the directory keeps alive.
fn config(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sockdoc.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path.to_string_lossy().into_owned())
}

#[test]
fn one_run_checks_the_kernel_the_sysctls_and_the_live_sockets() {
    let (report, output) = run_json(&["check"]);
    let code = output.status.code();
    assert!(matches!(code, Some(0 | 1)), "{report:#}");
    assert_eq!(report["command"], "check");
    assert_eq!(report["exit_code"], code.unwrap());
    let groups: BTreeSet<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["group"].as_str().unwrap())
        .collect();
    for group in ["kernel", "sysctl"] {
        assert!(groups.contains(group), "{group}: {groups:?}");
    }
    // This kernel behaves as documented: every self-test measurement agrees (the lessons'
    // own tests say the same).
    for check in report["checks"].as_array().unwrap() {
        if check["group"] == "kernel" {
            assert_eq!(check["status"], "pass", "{check:#}");
        }
    }
    let ids = ids(&report);
    assert!(
        ids.iter().any(|id| id.starts_with("kernel.bind.")),
        "{ids:?}"
    );
    assert!(ids.iter().any(|id| id == "kernel.nagle.nagle"), "{ids:?}");
    assert!(
        ids.iter().any(|id| id.starts_with("sysctl.net.")),
        "{ids:?}"
    );
    let s = &report["summary"];
    let total = s["passed"].as_u64().unwrap()
        + s["failed"].as_u64().unwrap()
        + s["skipped"].as_u64().unwrap();
    assert_eq!(total, s["checks"].as_u64().unwrap());
    assert_eq!(total as usize, ids.len());
    // The measured stall is a figure for dashboards.
    let stall = report["metrics"]["nagle_stall_seconds"].as_f64().unwrap();
    assert!((0.005..1.0).contains(&stall), "{stall}");
    // Exit 1 exactly when a check fails at warn (the default threshold) or above.
    let failing = s["failing"].as_u64().unwrap();
    assert_eq!(code == Some(1), failing > 0, "{report:#}");
}

#[test]
fn skip_and_only_pick_checks_by_group_id_or_prefix() {
    let (only, _) = run_json(&["check", "--only", "kernel.bind"]);
    let picked = ids(&only);
    assert!(!picked.is_empty());
    assert!(
        picked.iter().all(|id| id.starts_with("kernel.bind.")),
        "{picked:?}"
    );
    let (skipped, _) = run_json(&["check", "--skip", "kernel,inspect"]);
    let left = ids(&skipped);
    assert!(left.iter().all(|id| id.starts_with("sysctl.")), "{left:?}");
    let (bad, output) = run_json(&["check", "--only", "kernal"]);
    assert_eq!(output.status.code(), Some(2), "{bad:#}");
    assert!(bad["error"].as_str().unwrap().contains("kernal"));
}

#[test]
fn a_config_expectation_that_fails_is_exit_1_naming_the_check() {
    let (_dir, path) = config("[sysctl]\n\"net.core.somaxconn\" = \"< 1\"\n");
    let (report, output) = run_json(&["check", "--config", &path, "--only", "config"]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let check = &report["checks"][0];
    assert_eq!(check["id"], "config.sysctl.net.core.somaxconn");
    assert_eq!(check["status"], "fail");
    assert_eq!(check["severity"], "warn");
    assert!(
        check["evidence"]
            .as_str()
            .unwrap()
            .starts_with("net.core.somaxconn = ")
    );
    assert_eq!(report["config"], path.as_str());
    // The same expectation met passes.
    let (_dir, path) = config("[sysctl]\n\"net.core.somaxconn\" = \">= 1\"\n");
    let (report, output) = run_json(&["check", "--config", &path, "--only", "config"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["checks"][0]["status"], "pass");
}

#[test]
fn a_typo_in_the_config_is_exit_2_naming_file_line_and_key() {
    let (_dir, path) = config("fail_on = \"warn\"\n\n[ports]\nmax_used_ration = 0.5\n");
    let output = sockdoc()
        .args(["check", "--config", &path, "--only", "config"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{path}:4")), "{stderr}");
    assert!(stderr.contains("max_used_ration"), "{stderr}");
    let missing = sockdoc()
        .args(["check", "--config", "/nonexistent/sockdoc.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn the_printed_template_is_a_config_check_reads() {
    let output = sockdoc()
        .args(["check", "--print-config"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let template = String::from_utf8(output.stdout).unwrap();
    assert!(template.contains("[[listener]]") && template.contains("max_p99"));
    let (_dir, path) = config(&template);
    let (report, output) = run_json(&["check", "--config", &path, "--only", "config"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
}

#[test]
fn the_default_config_is_sockdoc_toml_in_the_working_directory() {
    let (dir, _) = config("[sysctl]\n\"net.core.somaxconn\" = \"< 1\"\n");
    let output = sockdoc()
        .current_dir(dir.path())
        .args(["check", "--only", "config", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["config"], "sockdoc.toml");
}

/// A JUnit document read by `junitparser` (the Python library CI tools use to read JUnit),
/// when the test setup could install it.
fn junit_reader_verdict(xml: &Path) -> Option<String> {
    let script = r"
import sys, junitparser
x = junitparser.JUnitXml.fromfile(sys.argv[1])
for suite in x:
    for case in suite:
        r = [type(e).__name__ for e in case.result]
        print(suite.name, case.classname, case.name, ','.join(r) or 'passed')
";
    // Debian's python3-junitparser lives in /usr/bin/python3's path; a python3 earlier on
    // PATH (pyenv, a venv) may not see it.
    for python in ["/usr/bin/python3", "python3"] {
        let Ok(output) = Command::new(python).args(["-c", script]).arg(xml).output() else {
            continue;
        };
        if output.status.success() {
            return Some(String::from_utf8(output.stdout).unwrap());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("No module named 'junitparser'"),
            "junitparser rejected the document: {stderr}"
        );
    }
    None
}

#[test]
fn junit_is_read_by_a_junit_consumer_with_failures_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (_cfg, path) = config(
        "[sysctl]\n\"net.core.somaxconn\" = \"< 1\"\n\"net.ipv4.tcp_fin_timeout\" = \">= 1\"\n",
    );
    let xml = dir.path().join("sockdoc.xml");
    let output = sockdoc()
        .args(["check", "--config", &path, "--only", "config,kernel.bind"])
        .args(["--format", "junit", "--output"])
        .arg(&xml)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty(), "--output leaves stdout empty");
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(text.starts_with("<?xml"), "{text}");
    let Some(cases) = junit_reader_verdict(&xml) else {
        skip(format_args!(
            "SKIP (python3-junitparser is not installed): reading the JUnit file with a JUnit consumer"
        ));
        return;
    };
    let lines: Vec<&str> = cases.lines().collect();
    assert!(
        lines.contains(&"config config config.sysctl.net.core.somaxconn Failure"),
        "{cases}"
    );
    assert!(
        lines.contains(&"config config config.sysctl.net.ipv4.tcp_fin_timeout passed"),
        "{cases}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("kernel kernel kernel.bind.") && l.ends_with("passed")),
        "{cases}"
    );
}

#[test]
fn github_annotations_and_the_step_summary() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let (_cfg, path) = config("[sysctl]\n\"net.core.somaxconn\" = \"< 1\"\n");
    let output = sockdoc()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args([
            "check", "--config", &path, "--only", "config", "--format", "github",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let error = stdout
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("{stdout}"));
    // `::error title=…::message`: properties are comma-separated key=value, the message has
    // no raw newline (docs.github.com, workflow commands).
    let (properties, message) = error["::error ".len()..].split_once("::").unwrap();
    assert!(
        properties.contains("title=sockdoc config.sysctl.net.core.somaxconn"),
        "{error}"
    );
    assert!(message.contains("net.core.somaxconn"), "{error}");
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.starts_with("### sockdoc check"), "{markdown}");
    assert!(
        markdown.contains("`config.sysctl.net.core.somaxconn`"),
        "{markdown}"
    );
}

#[test]
fn the_prometheus_textfile_passes_promtool() {
    if skip_unless_installed("promtool", "checking the textfile with promtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sockdoc.prom");
    let output = sockdoc()
        .args([
            "check",
            "--skip",
            "kernel.bind,kernel.backlog,kernel.timeouts",
            "--format",
            "prometheus",
            "--output",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(matches!(output.status.code(), Some(0 | 1)));
    let text = std::fs::read_to_string(&file).unwrap();
    let lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    for family in [
        "sockdoc_check_status{",
        "sockdoc_time_wait_sockets ",
        "sockdoc_nagle_stall_seconds ",
        "sockdoc_build_info{",
        "sockdoc_last_run_timestamp_seconds ",
    ] {
        assert!(text.contains(family), "{family}: {text}");
    }
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(
        mode & 0o777,
        0o644,
        "readable by a collector running as another user"
    );
}

/// The exporter's own loopback address: no other test listens on it, so a port freed here
/// and then probed while the exporter starts cannot be another test's listener (connecting
/// to one would leave a TIME_WAIT on its port).
const EXPORTER_IP: &str = "127.73.0.1";

/// A port free on `EXPORTER_IP`.
fn free_port() -> u16 {
    std::net::TcpListener::bind((EXPORTER_IP, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET /metrics from the exporter, retried for up to 5 s while it starts.
fn scrape(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(mut stream) = TcpStream::connect((EXPORTER_IP, port)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            write!(
                stream,
                "GET /metrics HTTP/1.0\r\nHost: {EXPORTER_IP}\r\n\r\n"
            )
            .unwrap();
            let mut body = String::new();
            if stream.read_to_string(&mut body).is_ok() && body.contains("\r\n\r\n") {
                return body;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node_exporter did not answer on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn node_exporter_scrapes_the_textfile_without_errors() {
    if skip_unless_installed(
        "prometheus-node-exporter",
        "scraping the textfile with node_exporter",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let output = sockdoc()
        .args([
            "check",
            "--only",
            "sysctl,kernel.udp",
            "--format",
            "prometheus",
            "--output",
        ])
        .arg(dir.path().join("sockdoc.prom"))
        .output()
        .unwrap();
    assert!(matches!(output.status.code(), Some(0 | 1)));
    let port = free_port();
    let mut exporter = Command::new("prometheus-node-exporter")
        .arg(format!("--web.listen-address={EXPORTER_IP}:{port}"))
        .arg("--collector.disable-defaults")
        .arg("--collector.textfile")
        .arg(format!(
            "--collector.textfile.directory={}",
            dir.path().display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let body = scrape(port);
    let _ = exporter.kill();
    let _ = exporter.wait();
    assert!(body.contains("\nnode_textfile_scrape_error 0"), "{body}");
    assert!(body.contains("sockdoc_check_status{"), "{body}");
    assert!(body.contains("sockdoc_build_info{"), "{body}");
}

#[test]
fn a_reader_never_sees_a_partial_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sockdoc.prom");
    let (_cfg, path) = config("[sysctl]\n\"net.core.somaxconn\" = \">= 1\"\n");
    let write = || {
        let output = sockdoc()
            .args([
                "check",
                "--config",
                &path,
                "--only",
                "config",
                "--format",
                "prometheus",
                "--output",
            ])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
    };
    write();
    let done = std::sync::atomic::AtomicBool::new(false);
    let reads = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut reads = 0_u32;
            // Bounded: until the writer is done, at most 100,000 reads.
            while !done.load(std::sync::atomic::Ordering::Relaxed) && reads < 100_000 {
                let text = std::fs::read_to_string(&file).unwrap();
                assert!(
                    text.starts_with("# HELP")
                        && text.ends_with('\n')
                        && text.contains("sockdoc_last_run_timestamp_seconds "),
                    "a partial file: {text:?}"
                );
                reads += 1;
            }
            reads
        });
        for _ in 0..20 {
            write();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(reads > 0);
    // Nothing is left behind but the file itself.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["sockdoc.prom"], "no temporary file left");
}

#[test]
fn a_failed_run_leaves_the_previous_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sockdoc.prom");
    std::fs::write(&file, "previous\n").unwrap();
    let output = sockdoc()
        .args([
            "check",
            "--config",
            "/nonexistent.toml",
            "--format",
            "prometheus",
            "--output",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "previous\n");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "the temporary file was removed: {names:?}");
}

#[test]
fn inspect_and_sysctl_advice_write_the_check_formats_too() {
    let (report, _) = run_json(&["inspect", "--for", "0"]);
    assert!(report["findings"].is_array());
    for args in [
        &["inspect", "--for", "0", "--format", "junit"][..],
        &["sysctl-advice", "--format", "junit"],
        &["sysctl-advice", "--format", "prometheus"],
    ] {
        let output = sockdoc().args(args).output().unwrap();
        assert!(matches!(output.status.code(), Some(0 | 1)), "{args:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        let expected = if args.contains(&"junit") {
            "<testsuites"
        } else {
            "# HELP sockdoc_check_status"
        };
        assert!(text.contains(expected), "{args:?}: {text}");
    }
}
