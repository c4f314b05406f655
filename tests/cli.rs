//! The command line: parsing tables, usage errors (exit 2, naming the flag and the value),
//! help text snapshots.

mod common;

use std::time::Duration;

use clap::{CommandFactory, Parser};
use predicates::prelude::*;
use sockdoc::cli::{Cli, Command};
use sockdoc::commands::args::{NodelayMode, Role, StateFilter};
use sockdoc::report::{ColorWhen, Format};

use common::sockdoc;

#[test]
fn clap_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn parses_reuse_test_arguments() {
    let cases: &[(&[&str], u16, &str, bool)] = &[
        (&["sockdoc", "reuse-test"], 0, "127.0.0.1", false),
        (&["sockdoc", "reuse-test", "8080"], 8080, "127.0.0.1", false),
        (
            &["sockdoc", "reuse-test", "0", "--addr", "::1"],
            0,
            "::1",
            false,
        ),
        (
            &["sockdoc", "reuse-test", "--wait", "65535"],
            65535,
            "127.0.0.1",
            true,
        ),
    ];
    for (argv, port, addr, wait) in cases {
        let cli = Cli::try_parse_from(*argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        let Command::ReuseTest(args) = cli.command else {
            panic!("{argv:?} parsed as another command");
        };
        assert_eq!(args.port, *port, "{argv:?}");
        assert_eq!(args.addr.to_string(), *addr, "{argv:?}");
        assert_eq!(args.wait, *wait, "{argv:?}");
    }
}

#[test]
fn global_flags_work_before_and_after_the_command() {
    for argv in [
        [
            "sockdoc",
            "--json",
            "--timeout",
            "500ms",
            "--color",
            "never",
            "reuse-test",
        ],
        [
            "sockdoc",
            "reuse-test",
            "--json",
            "--timeout",
            "500ms",
            "--color",
            "never",
        ],
    ] {
        let cli = Cli::try_parse_from(argv).unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.timeout, Duration::from_millis(500));
        assert_eq!(cli.global.color, ColorWhen::Never);
    }
    let defaults = Cli::try_parse_from(["sockdoc", "reuse-test"]).unwrap();
    assert!(!defaults.global.json);
    assert_eq!(defaults.global.timeout, Duration::from_secs(2));
    assert_eq!(defaults.global.color, ColorWhen::Auto);
}

#[test]
fn rejects_bad_values_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["sockdoc", "reuse-test", "70000"], "70000"),
        (&["sockdoc", "reuse-test", "http"], "http"),
        (&["sockdoc", "reuse-test", "-1"], "-1"),
        (&["sockdoc", "reuse-test", "--addr", "localhost"], "--addr"),
        (
            &["sockdoc", "reuse-test", "--timeout", "0s"],
            "below the minimum of 1ms",
        ),
        (&["sockdoc", "reuse-test", "--timeout", "fast"], "--timeout"),
        (
            &["sockdoc", "reuse-test", "--timeout", "2h"],
            "above the maximum of 10m",
        ),
        (
            &["sockdoc", "reuse-test", "--color", "sometimes"],
            "sometimes",
        ),
    ];
    for (argv, needle) in cases {
        let err = Cli::try_parse_from(*argv).expect_err(&format!("{argv:?} must be rejected"));
        let text = err.to_string();
        assert!(text.contains(needle), "{argv:?}: {text}");
        assert_eq!(err.exit_code(), 2, "{argv:?}");
    }
}

#[test]
fn usage_errors_exit_2_with_the_value_named() {
    sockdoc()
        .args(["reuse-test", "70000"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("70000"));
    sockdoc()
        .args(["reuse-test", "--addr", "224.0.0.1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--addr 224.0.0.1"));
}

#[test]
fn usage_errors_under_json_still_print_one_document() {
    let output = sockdoc()
        .args(["--json", "reuse-test", "70000"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one document");
    assert_eq!(report["command"], "reuse-test");
    assert_eq!(report["exit_code"], 2);
    assert!(report["error"].as_str().unwrap().contains("70000"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("70000"));
    // Without --json nothing goes to stdout.
    let output = sockdoc().args(["reuse-test", "70000"]).output().unwrap();
    assert!(output.stdout.is_empty());
}

#[test]
fn no_arguments_prints_help_and_fails_as_usage() {
    sockdoc()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Usage: sockdoc"));
}

#[test]
fn every_duration_flag_has_a_stated_minimum_and_maximum() {
    // (arguments before the value, the flag, the smallest accepted, the largest accepted)
    let flags: &[(&[&str], &str, &str, &str)] = &[
        (&["sockdoc", "udp"], "--timeout", "1ms", "10m"),
        (&["sockdoc", "timeouts"], "--recv-timeout", "1ms", "10m"),
        (&["sockdoc", "timeouts"], "--connect-timeout", "1ms", "10m"),
        (&["sockdoc", "nagle"], "--max-p99", "1us", "10m"),
    ];
    for (prefix, flag, min, max) in flags {
        let parse = |value: &str| {
            let mut argv = prefix.to_vec();
            argv.extend([*flag, value]);
            Cli::try_parse_from(argv)
        };
        for value in [*min, *max] {
            parse(value).unwrap_or_else(|e| panic!("{flag} {value} must be accepted: {e}"));
        }
        let min_d = humantime::parse_duration(min).unwrap();
        let max_d = humantime::parse_duration(max).unwrap();
        let below = humantime::format_duration(min_d.checked_sub(Duration::from_nanos(1)).unwrap())
            .to_string();
        let above = humantime::format_duration(max_d + Duration::from_nanos(1)).to_string();
        for (value, needle) in [
            (below.as_str(), format!("below the minimum of {min}")),
            ("0s", format!("below the minimum of {min}")),
            (above.as_str(), format!("above the maximum of {max}")),
        ] {
            let err = parse(value).expect_err(&format!("{flag} {value} must be rejected"));
            let text = err.to_string();
            assert_eq!(err.exit_code(), 2, "{flag} {value}");
            assert!(text.contains(flag), "{flag} {value}: {text}");
            assert!(text.contains(value), "{flag} {value}: {text}");
            assert!(text.contains(&needle), "{flag} {value}: {text}");
        }
    }
}

#[test]
fn a_sub_millisecond_timeout_is_a_usage_error_naming_the_flag() {
    // socket2 turned 999ns into SO_RCVTIMEO {0, 0}, which the kernel reads as "no timeout":
    // a peer that never answered blocked sockdoc forever. Now it never reaches a socket.
    for args in [
        &["--timeout", "999ns", "reuse-test"][..],
        &["udp", "--timeout", "999us"],
        &["timeouts", "--recv-timeout", "500us"],
    ] {
        let output = sockdoc().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(args[args.len() - 2]), "{args:?}: {stderr}");
        assert!(stderr.contains("minimum of 1ms"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn the_smallest_accepted_timeout_reaches_the_kernel_as_a_real_timeout() {
    // The path every --timeout takes (sys::socket sets SO_RCVTIMEO through socket2): at the
    // minimum the kernel holds a timeout (one jiffy or more, rounded up in
    // sock_set_timeout) and a recv() with nothing to read gives up; 999ns would have read
    // back as no timeout at all.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sock = socket2::SockRef::from(&socket);
    sock.set_read_timeout(Some(Duration::from_nanos(999)))
        .unwrap();
    assert_eq!(
        sock.read_timeout().unwrap(),
        None,
        "999ns reads back as no timeout"
    );
    sock.set_read_timeout(Some(sockdoc::commands::args::MIN_TIMEOUT))
        .unwrap();
    let held = sock.read_timeout().unwrap().expect("a timeout is set");
    assert!(held >= sockdoc::commands::args::MIN_TIMEOUT, "{held:?}");
    let started = std::time::Instant::now();
    let error = socket.recv(&mut [0; 8]).expect_err("nothing was sent");
    assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock, "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn one_size_grammar_for_every_byte_flag() {
    let nagle = |size: &str| match Cli::try_parse_from(["sockdoc", "nagle", "--size", size]) {
        Ok(Cli {
            command: Command::Nagle(args),
            ..
        }) => Ok(args.size),
        Ok(_) => unreachable!(),
        Err(e) => Err(e),
    };
    let partial =
        |flag: &str, size: &str| match Cli::try_parse_from(["sockdoc", "partial-send", flag, size])
        {
            Ok(Cli {
                command: Command::PartialSend(args),
                ..
            }) => Ok((args.bytes, args.sndbuf)),
            Ok(_) => unreachable!(),
            Err(e) => Err(e),
        };
    let udp = |flag: &str, size: &str| match Cli::try_parse_from(["sockdoc", "udp", flag, size]) {
        Ok(Cli {
            command: Command::Udp(args),
            ..
        }) => Ok((args.size, args.bufsize)),
        Ok(_) => unreachable!(),
        Err(e) => Err(e),
    };
    // K = 1024, any case, with or without B / iB, everywhere.
    for text in ["1K", "1k", "1KB", "1KiB", "1024", "1024B"] {
        assert_eq!(nagle(text).unwrap(), 1024, "nagle --size {text}");
        assert_eq!(partial("--bytes", text).unwrap().0, 1024, "--bytes {text}");
        assert_eq!(
            partial("--sndbuf", text).unwrap().1,
            1024,
            "--sndbuf {text}"
        );
        assert_eq!(udp("--size", text).unwrap().0, 1024, "udp --size {text}");
        assert_eq!(udp("--bufsize", text).unwrap().1, 1024, "--bufsize {text}");
        assert_eq!(
            sockdoc::commands::sockopt::parse_size(text),
            Some(1024),
            "--set rcvbuf={text}"
        );
    }
    assert_eq!(nagle("64K").unwrap(), 65_536);
    assert_eq!(partial("--bytes", "1M").unwrap().0, 1 << 20);
    assert_eq!(partial("--sndbuf", "1G").unwrap().1, 1 << 30);
    // Zero, overflow, garbage and out-of-range sizes are usage errors naming the flag.
    let rejected: &[(&str, &str, &str)] = &[
        ("nagle", "--size", "0"),
        ("nagle", "--size", "65537"),
        ("nagle", "--size", "1M"),
        ("nagle", "--size", "-1"),
        ("nagle", "--size", "1.5K"),
        ("udp", "--size", "64K"),
        ("udp", "--bufsize", "0"),
        ("partial-send", "--bytes", "0"),
        ("partial-send", "--bytes", "65M"),
        ("partial-send", "--bytes", "99999999999999999999K"),
        ("partial-send", "--bytes", "18014398509481984K"),
        ("partial-send", "--sndbuf", "2G"),
        ("partial-send", "--sndbuf", "K"),
    ];
    for (command, flag, value) in rejected {
        let err = Cli::try_parse_from(["sockdoc", command, flag, value])
            .expect_err(&format!("{command} {flag} {value} must be rejected"));
        let text = err.to_string();
        assert_eq!(err.exit_code(), 2, "{command} {flag} {value}");
        assert!(
            text.contains(flag) && text.contains(value),
            "{command} {flag} {value}: {text}"
        );
    }
}

#[test]
fn sockets_state_and_listening_together_are_a_usage_error() {
    let output = sockdoc()
        .args(["sockets", "--state", "established", "--listening"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--state") && stderr.contains("--listening"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn sockopt_help_lists_every_set_option_with_a_value_that_parses() {
    use sockdoc::commands::sockopt::{parse_set, value_form};
    use sockdoc::sys::sockopt::Opt;

    let output = sockdoc().args(["sockopt", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for opt in Opt::ALL {
        let (form, example) = value_form(opt);
        let line = help
            .lines()
            .find(|line| line.split_whitespace().next() == Some(opt.name()))
            .unwrap_or_else(|| panic!("--help has no line for {}:\n{help}", opt.name()));
        assert!(line.contains(opt.kernel_name(false)), "{line}");
        assert!(line.contains(&form), "{line}");
        let request = parse_set(&format!("{}={example}", opt.name()))
            .unwrap_or_else(|e| panic!("the help's example for {} fails: {e}", opt.name()));
        assert_eq!(request.opt, opt);
    }
}

#[test]
fn help_snapshots() {
    let mut cmd = Cli::command().term_width(100);
    cmd.build();
    insta::assert_snapshot!("help_top", cmd.render_long_help().to_string());
    for sub in cmd.get_subcommands_mut().filter(|s| s.get_name() != "help") {
        let name = sub.get_name().replace('-', "_");
        insta::assert_snapshot!(format!("help_{name}"), sub.render_long_help().to_string());
    }
}

#[test]
fn json_version_and_help_are_one_document_each() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["--json", "--version"], "version", "version"),
        (&["-V", "--json"], "version", "version"),
        (&["--json", "help"], "help", "help"),
        (&["--json", "--help"], "help", "help"),
        (&["--json", "help", "nagle"], "nagle", "help"),
        (&["nagle", "--json", "-h"], "nagle", "help"),
        (&["sockopt", "--help", "--json"], "sockopt", "help"),
    ];
    for (args, command, field) in cases {
        let output = sockdoc().args(*args).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let document: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e})"));
        assert_eq!(document["command"], *command, "{args:?}");
        assert_eq!(document["sockdoc_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(document["exit_code"], 0, "{args:?}");
        let text = document[*field].as_str().expect("the text is a string");
        if args.contains(&"-V") {
            assert_eq!(text, concat!("sockdoc ", env!("CARGO_PKG_VERSION")));
        } else if *field == "version" {
            // The long form, whole: `--version` prints more than its first line.
            let first = concat!("sockdoc ", env!("CARGO_PKG_VERSION"), "\ngit revision: ");
            assert!(text.starts_with(first), "{text}");
            assert!(text.contains("\nrunning kernel: "), "{text}");
        } else {
            assert!(text.contains("Usage: sockdoc"), "{args:?}: {text}");
            assert!(!text.contains('\u{1b}'), "{args:?}: escape codes in {text}");
        }
    }
    // sockopt's help carries the generated --set list into the document too.
    let output = sockdoc()
        .args(["--json", "sockopt", "--help"])
        .output()
        .unwrap();
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(document["help"].as_str().unwrap().contains("SO_RCVTIMEO"));
    // Without --json, -V stays one plain line.
    let output = sockdoc().arg("-V").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        concat!("sockdoc ", env!("CARGO_PKG_VERSION"), "\n")
    );
}

/// What `git` says about this checkout: the short revision, with `-dirty` when the files
/// the binary is built from differ from HEAD; `unknown` when this is no checkout. `None`
/// when git does not run here.
fn expected_git_revision() -> Option<String> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let top = String::from_utf8_lossy(&top.stdout).trim().to_owned();
    let own =
        !top.is_empty() && std::fs::canonicalize(&top).ok() == std::fs::canonicalize(dir).ok();
    if !own {
        return Some("unknown".to_owned());
    }
    let head = git(&["rev-parse", "--short", "HEAD"])?;
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let sources = ["src", "build.rs", "Cargo.toml", "Cargo.lock"];
    let mut diff = vec!["diff", "--quiet", "HEAD", "--"];
    diff.extend(sources);
    let dirty = git(&diff)?.status.code() == Some(1);
    Some(if dirty { format!("{head}-dirty") } else { head })
}

#[test]
fn long_version_names_the_git_revision_and_the_running_kernel() {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap()
        .trim()
        .to_owned();
    let output = sockdoc().arg("--version").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], concat!("sockdoc ", env!("CARGO_PKG_VERSION")));
    assert_eq!(lines[2], format!("running kernel: {kernel}"));
    if let Ok(uname) = std::process::Command::new("uname").arg("-r").output() {
        assert_eq!(String::from_utf8_lossy(&uname.stdout).trim(), kernel);
    }
    let revision = lines[1]
        .strip_prefix("git revision: ")
        .unwrap_or_else(|| panic!("{text}"));
    let shape = regex::Regex::new(r"^([0-9a-f]{7,}(-dirty)?|unknown)$").unwrap();
    assert!(shape.is_match(revision), "{revision}");
    match expected_git_revision() {
        Some(expected) => assert_eq!(revision, expected, "built from another state?"),
        None => common::skip(format_args!(
            "SKIP (git is not installed): the revision in --version is not compared"
        )),
    }
    // The JSON document carries both figures as fields too.
    let (document, _) = common::run_json(&["--version"]);
    assert_eq!(document["kernel"], kernel.as_str());
    let expected = (revision != "unknown").then_some(revision);
    assert_eq!(document["git_revision"].as_str(), expected);
    assert_eq!(document["version"], text.trim());
}

#[test]
fn the_long_version_is_built_at_run_time_and_the_short_one_is_not() {
    let render = |flag: &str| {
        let error = sockdoc::command()
            .try_get_matches_from(["sockdoc", flag])
            .expect_err("a version flag stops parsing");
        assert_eq!(error.kind(), clap::error::ErrorKind::DisplayVersion);
        error.render().to_string()
    };
    assert_eq!(render("-V"), format!("sockdoc {}\n", sockdoc::VERSION));
    let long = render("--version");
    let first = format!("sockdoc {}\ngit revision: ", sockdoc::VERSION);
    assert!(long.starts_with(&first), "{long}");
    assert_eq!(
        sockdoc::long_version(None),
        format!(
            "{}\ngit revision: {}\nrunning kernel: unknown",
            sockdoc::VERSION,
            sockdoc::GIT_REVISION
        )
    );
    assert!(sockdoc::long_version(Some("6.1.0-test")).ends_with("\nrunning kernel: 6.1.0-test"));
}

#[test]
fn exit_3_full_reports_carry_exit_code() {
    // A refused option: IP_TTL 0 is EINVAL (do_ip_setsockopt takes 1..=255), the full set
    // report comes back with exit 3.
    let (report, output) = common::run_json(&["sockopt", "--set", "ttl=0"]);
    assert_eq!(output.status.code(), Some(3), "{report}");
    assert_eq!(report["exit_code"], 3);
    assert_eq!(report["mode"], "set");
    assert_eq!(report["refused"], 1);
    // A port held by a live listener: the survey report comes back with exit 3.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let (report, output) = common::run_json(&["reuse-test", &port]);
    assert_eq!(output.status.code(), Some(3), "{report}");
    assert_eq!(report["command"], "reuse-test");
    assert_eq!(report["exit_code"], 3);
    assert!(report["sockdoc_version"].is_string());
    drop(holder);
}

#[test]
fn sockopt_defaults_json_has_integer_figures_beside_the_display_strings() {
    let (report, output) = common::run_json(&["sockopt", "--defaults"]);
    assert!(output.status.code().is_some_and(|c| c < 2), "{report}");
    let rows = report["defaults"].as_array().expect("defaults rows");
    let columns = [
        "socket",
        "socket2",
        "std_listener",
        "std_stream",
        "std_accepted",
    ];
    let mut seen = (0, 0);
    for row in rows {
        let name = row["name"].as_str().unwrap();
        for column in columns {
            let display = row[column].as_str().unwrap();
            match row["unit"].as_str().unwrap() {
                "bytes" => {
                    seen.0 += 1;
                    let figure = &row[format!("{column}_bytes")];
                    assert_eq!(
                        figure.as_u64(),
                        display.parse::<u64>().ok(),
                        "{name} {column}: {display} vs {figure}"
                    );
                    assert!(row.get(format!("{column}_us")).is_none(), "{name}");
                }
                "duration" => {
                    seen.1 += 1;
                    let figure = row
                        .get(format!("{column}_us"))
                        .unwrap_or_else(|| panic!("{name} has no {column}_us"));
                    let expected = humantime::parse_duration(display)
                        .ok()
                        .map(|d| u64::try_from(d.as_micros()).unwrap());
                    assert_eq!(figure.as_u64(), expected, "{name} {column}: {display}");
                    assert_eq!(
                        figure.is_null(),
                        matches!(display, "none" | "off") || display.starts_with("unreadable"),
                        "{name} {column}: {display}"
                    );
                }
                _ => {
                    assert!(row.get(format!("{column}_bytes")).is_none(), "{name}");
                    assert!(row.get(format!("{column}_us")).is_none(), "{name}");
                }
            }
        }
    }
    // rcvbuf and sndbuf; linger, the two timeouts and TCP's keepalive and user timeouts.
    assert_eq!(seen.0, 2 * columns.len(), "byte rows");
    assert!(seen.1 >= 3 * columns.len(), "duration rows");
}

#[test]
fn every_json_document_carries_its_exit_code() {
    // One quick run of each report shape: full reports, scenarios and the streamed listing.
    let runs: &[&[&str]] = &[
        &["sysctl-advice"],
        &["sockopt", "--defaults"],
        &["udp"],
        &["peer-close"],
        &["sockets", "--listening"],
        &["reuse-test"],
        &["inspect", "--for", "0"],
        &["check", "--only", "sysctl"],
    ];
    for args in runs {
        let (report, output) = common::run_json(args);
        let code = output.status.code().expect("exited");
        assert_eq!(report["command"], args[0], "{args:?}");
        assert!(report["sockdoc_version"].is_string(), "{args:?}");
        assert_eq!(report["exit_code"], code, "{args:?}: {report}");
    }
}

/// Parses `argv` as a whole command line and hands back the command it names.
fn command_of(argv: &[&str]) -> Command {
    let mut line = vec!["sockdoc"];
    line.extend_from_slice(argv);
    Cli::try_parse_from(&line)
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
        .command
}

#[test]
fn parses_nagle_arguments() {
    let Command::Nagle(d) = command_of(&["nagle"]) else {
        panic!("nagle")
    };
    assert_eq!(
        (d.nodelay, d.warmup, d.rounds, d.messages, d.size),
        (NodelayMode::Both, 1, None, 100, 8)
    );
    assert!(!d.cork && !d.quickack && d.max_p99.is_none());
    assert_eq!((d.rounds_for(true), d.rounds_for(false)), (20, 100));
    assert_eq!((d.port, d.addr.to_string().as_str()), (0, "127.0.0.1"));
    let Command::Nagle(a) = command_of(&[
        "nagle",
        "--nodelay",
        "off",
        "--warmup",
        "0",
        "--rounds",
        "5",
        "--messages",
        "7",
        "--size",
        "1K",
        "--cork",
        "--quickack",
        "--port",
        "9000",
        "--addr",
        "::1",
        "--max-p99",
        "5ms",
    ]) else {
        panic!("nagle")
    };
    assert_eq!(
        (a.nodelay, a.warmup, a.rounds, a.messages, a.size),
        (NodelayMode::Off, 0, Some(5), 7, 1024)
    );
    assert!(a.cork && a.quickack);
    assert_eq!((a.port, a.addr.to_string().as_str()), (9000, "::1"));
    assert_eq!(a.max_p99, Some(Duration::from_millis(5)));
}

#[test]
fn parses_sysctl_advice_arguments() {
    let Command::SysctlAdvice(d) = command_of(&["sysctl-advice"]) else {
        panic!("sysctl-advice")
    };
    assert_eq!((d.role, d.check), (Role::Both, false));
    // --format is global now; `sysctl-advice --format conf` reads as before.
    let cli = Cli::try_parse_from([
        "sockdoc",
        "sysctl-advice",
        "--role",
        "server",
        "--format",
        "conf",
        "--check",
    ])
    .unwrap();
    let Command::SysctlAdvice(a) = &cli.command else {
        panic!("sysctl-advice")
    };
    assert_eq!((a.role, a.check), (Role::Server, true));
    assert_eq!(cli.global.format, Some(Format::Conf));
}

#[test]
fn a_format_the_command_does_not_write_is_a_usage_error_naming_its_formats() {
    let output = sockdoc()
        .args(["nagle", "--format", "junit"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--format junit") && stderr.contains("table, json"),
        "{stderr}"
    );
    let output = sockdoc()
        .args(["sysctl-advice", "--json", "--format", "conf"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "--json and --format conf disagree"
    );
}

#[test]
fn parses_sockets_arguments() {
    let Command::Sockets(d) = command_of(&["sockets"]) else {
        panic!("sockets")
    };
    assert!(d.state.is_empty() && d.port.is_none());
    assert!(!(d.listening || d.tcp || d.udp || d.info || d.no_processes || d.summary));
    let Command::Sockets(a) = command_of(&[
        "sockets",
        "-t",
        "--state",
        "TIME_WAIT",
        "--state",
        "established",
        "--port",
        "8080",
        "--info",
        "--no-processes",
        "--summary",
    ]) else {
        panic!("sockets")
    };
    assert_eq!(a.state, [StateFilter::TimeWait, StateFilter::Established]);
    assert_eq!(a.port, Some(8080));
    assert!(a.tcp && !a.udp && a.info && a.no_processes && a.summary);
}

#[test]
fn parses_inspect_arguments() {
    use sockdoc::commands::args::FailOn;
    let Command::Inspect(d) = command_of(&["inspect"]) else {
        panic!("inspect")
    };
    assert!(d.targets.port.is_none() && !d.targets.names_processes() && !d.sockets);
    assert_eq!(d.sample_for, Duration::from_secs(1));
    assert_eq!(d.fail_on, FailOn::Warn);
    let Command::Inspect(a) = command_of(&[
        "inspect",
        "--pid",
        "12",
        "--pid",
        "34",
        "--process",
        "nginx",
        "--port",
        "8080",
        "--for",
        "250ms",
        "--fail-on",
        "advise",
        "--sockets",
    ]) else {
        panic!("inspect")
    };
    assert_eq!(a.targets.pid, [12, 34]);
    assert_eq!(a.targets.process, ["nginx"]);
    assert_eq!(a.targets.port, Some(8080));
    assert_eq!(a.sample_for, Duration::from_millis(250));
    assert_eq!(a.fail_on, FailOn::Advise);
    assert!(a.sockets);
    for zero in ["0", "0s", "0ms"] {
        let Command::Inspect(z) = command_of(&["inspect", "--for", zero]) else {
            panic!("inspect")
        };
        assert_eq!(z.sample_for, Duration::ZERO, "--for {zero}");
    }
}

#[test]
fn parses_check_arguments() {
    use sockdoc::commands::args::FailOn;
    let Command::Check(d) = command_of(&["check"]) else {
        panic!("check")
    };
    assert!(d.fail_on.is_none() && d.skip.is_empty() && d.only.is_empty());
    assert!(d.config.is_none() && !d.print_config && d.targets.port.is_none());
    assert_eq!(d.sample_for, Duration::ZERO);
    assert_eq!(d.role, Role::Both);
    let Command::Check(a) = command_of(&[
        "check",
        "--fail-on",
        "advise",
        "--skip",
        "kernel.nagle,inspect",
        "--only",
        "sysctl",
        "--config",
        "x.toml",
        "--role",
        "client",
        "--pid",
        "7",
        "--for",
        "1s",
    ]) else {
        panic!("check")
    };
    assert_eq!(a.fail_on, Some(FailOn::Advise));
    assert_eq!(a.skip, ["kernel.nagle", "inspect"]);
    assert_eq!(a.only, ["sysctl"]);
    assert_eq!(a.config.as_deref(), Some(std::path::Path::new("x.toml")));
    assert_eq!((a.role, a.targets.pid.as_slice()), (Role::Client, &[7][..]));
    assert_eq!(a.sample_for, Duration::from_secs(1));
}

#[test]
fn parses_prove_arguments() {
    use sockdoc::commands::args::ProveKnob;
    let Command::Prove(d) = command_of(&["prove"]) else {
        panic!("prove")
    };
    assert!(d.knobs.is_empty(), "no knob: all of them");
    let Command::Prove(a) = command_of(&["prove", "tcp_fin_timeout", "tcp-tw-reuse"]) else {
        panic!("prove")
    };
    assert_eq!(a.knobs, [ProveKnob::TcpFinTimeout, ProveKnob::TcpTwReuse]);
}

#[test]
fn parses_ports_arguments() {
    let Command::Ports(d) = command_of(&["ports"]) else {
        panic!("ports")
    };
    assert_eq!(d.ports, 10, "ten ephemeral ports by default");
    let Command::Ports(a) = command_of(&["ports", "--ports", "1000"]) else {
        panic!("ports")
    };
    assert_eq!(a.ports, 1000);
}

#[test]
fn parses_sockopt_arguments() {
    let Command::Sockopt(d) = command_of(&["sockopt"]) else {
        panic!("sockopt")
    };
    assert!(d.set.is_empty() && d.connect.is_none() && !d.defaults && !d.listen);
    let Command::Sockopt(a) = command_of(&[
        "sockopt",
        "--set",
        "rcvbuf=256K",
        "--set",
        "SO_REUSEADDR=1",
        "--listen",
    ]) else {
        panic!("sockopt")
    };
    let names: Vec<&str> = a.set.iter().map(|r| r.opt.name()).collect();
    assert_eq!(names, ["rcvbuf", "reuseaddr"]);
    assert_eq!(a.set[0].text, "rcvbuf=256K");
    assert!(a.listen);
}

#[test]
fn parses_the_lesson_arguments() {
    let Command::Backlog(b) = command_of(&["backlog", "--backlog", "0", "--clients", "3"]) else {
        panic!("backlog")
    };
    assert_eq!((b.backlog, b.clients), (0, 3));
    assert_eq!(b.scenario.addr.to_string(), "127.0.0.1");
    let Command::Backlog(b) = command_of(&["backlog"]) else {
        panic!("backlog")
    };
    assert_eq!((b.backlog, b.clients), (8, 16));

    let Command::Udp(u) = command_of(&["udp", "--size", "4K", "--bufsize", "100"]) else {
        panic!("udp")
    };
    assert_eq!((u.size, u.bufsize), (4096, 100));
    let Command::Udp(u) = command_of(&["udp", "--addr", "::1"]) else {
        panic!("udp")
    };
    assert_eq!((u.size, u.bufsize), (2000, 1024));
    assert_eq!(u.scenario.addr.to_string(), "::1");

    let Command::PartialSend(p) = command_of(&["partial-send"]) else {
        panic!("partial-send")
    };
    assert_eq!((p.bytes, p.sndbuf), (1 << 20, 4096));
    let Command::PartialSend(p) = command_of(&["partial-send", "--bytes", "2M", "--sndbuf", "8K"])
    else {
        panic!("partial-send")
    };
    assert_eq!((p.bytes, p.sndbuf), (2 << 20, 8192));

    assert!(matches!(command_of(&["peer-close"]), Command::PeerClose(_)));

    let Command::CloseWait(close_wait) = command_of(&["close-wait"]) else {
        panic!("close-wait")
    };
    assert_eq!(
        (close_wait.clients, close_wait.scenario.addr.to_string()),
        (8, "127.0.0.1".into())
    );
    let Command::CloseWait(close_wait) =
        command_of(&["close-wait", "--clients", "256", "--addr", "::1"])
    else {
        panic!("close-wait")
    };
    assert_eq!(
        (close_wait.clients, close_wait.scenario.addr.to_string()),
        (256, "::1".into())
    );

    let ms = Duration::from_millis;
    let Command::Timeouts(t) = command_of(&["timeouts"]) else {
        panic!("timeouts")
    };
    assert_eq!((t.recv_timeout, t.connect_timeout), (ms(200), ms(300)));
    let Command::Timeouts(t) = command_of(&[
        "timeouts",
        "--recv-timeout",
        "1s",
        "--connect-timeout",
        "50ms",
    ]) else {
        panic!("timeouts")
    };
    assert_eq!((t.recv_timeout, t.connect_timeout), (ms(1000), ms(50)));
}

#[test]
fn parses_completions_and_man_arguments() {
    use clap_complete::Shell;
    for (name, shell) in [
        ("bash", Shell::Bash),
        ("zsh", Shell::Zsh),
        ("fish", Shell::Fish),
        ("elvish", Shell::Elvish),
        ("powershell", Shell::PowerShell),
    ] {
        let Command::Completions(c) = command_of(&["completions", name]) else {
            panic!("completions {name}")
        };
        assert_eq!(c.shell, shell);
    }
    let Command::Man(m) = command_of(&["man"]) else {
        panic!("man")
    };
    assert_eq!(m.command, None);
    // Every command has a page, `man` and `completions` too; `help` has none.
    let cli = Cli::command();
    let names: Vec<&str> = cli
        .get_subcommands()
        .map(clap::Command::get_name)
        .filter(|name| *name != "help")
        .collect();
    assert!(names.contains(&"man") && names.contains(&"completions"));
    for name in names {
        let Command::Man(m) = command_of(&["man", name]) else {
            panic!("man {name}")
        };
        assert_eq!(m.command.as_deref(), Some(name));
    }
    assert!(Cli::try_parse_from(["sockdoc", "man", "help"]).is_err());
}

#[test]
fn parses_keepalive_arguments() {
    use sockdoc::commands::args::KeepaliveCase;
    let Command::Keepalive(d) = command_of(&["keepalive"]) else {
        panic!("keepalive")
    };
    assert!(d.cases.is_empty(), "no case: all of them");
    let Command::Keepalive(a) = command_of(&["keepalive", "user-timeout", "keepalive-too-late"])
    else {
        panic!("keepalive")
    };
    assert_eq!(
        a.cases,
        [KeepaliveCase::UserTimeout, KeepaliveCase::KeepaliveTooLate]
    );
}
