//! The command line: parsing tables, usage errors (exit 2, naming the flag and the value),
//! help text snapshots.

mod common;

use std::time::Duration;

use clap::{CommandFactory, Parser};
use predicates::prelude::*;
use sockdoc::cli::{Cli, ColorWhen, Command};

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
            "greater than zero",
        ),
        (&["sockdoc", "reuse-test", "--timeout", "fast"], "--timeout"),
        (&["sockdoc", "reuse-test", "--timeout", "2h"], "at most"),
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
fn every_json_document_carries_its_exit_code() {
    // One quick run of each report shape: full reports, scenarios and the streamed listing.
    let runs: &[&[&str]] = &[
        &["sysctl-advice"],
        &["sockopt", "--defaults"],
        &["udp"],
        &["peer-close"],
        &["sockets", "--listening"],
        &["reuse-test"],
    ];
    for args in runs {
        let (report, output) = common::run_json(args);
        let code = output.status.code().expect("exited");
        assert_eq!(report["command"], args[0], "{args:?}");
        assert!(report["sockdoc_version"].is_string(), "{args:?}");
        assert_eq!(report["exit_code"], code, "{args:?}: {report}");
    }
}
