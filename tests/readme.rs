//! The README's usage block must be the binary's own help text, not a hand-edited copy.

mod common;

use std::fmt::Write as _;

use clap::CommandFactory;
use sockdoc::cli::Cli;

use common::sockdoc;

fn help_of(args: &[&str]) -> String {
    let output = sockdoc().args(args).arg("-h").output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn readme_usage_block_is_the_current_help() {
    let mut expected = String::from("```text\n$ sockdoc -h\n");
    expected.push_str(&help_of(&[]));
    for sub in Cli::command().get_subcommands() {
        let name = sub.get_name();
        write!(expected, "\n$ sockdoc {name} -h\n").unwrap();
        expected.push_str(&help_of(&[name]));
    }
    expected.push_str("```\n");

    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("<!-- help:start -->\n").expect("start marker") + 20;
    let end = readme.find("<!-- help:end -->").expect("end marker");
    assert_eq!(
        &readme[start..end],
        expected,
        "README usage block is stale: run scripts/update-readme-help.sh"
    );
}

/// The README's test command is what CI runs: the last command of .ci/run.
#[test]
fn ci_runs_the_readme_test_command() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    let readme_command = readme
        .lines()
        .find(|line| line.ends_with("# run the whole test suite"))
        .and_then(|line| line.split('#').next())
        .map(str::trim)
        .expect("the README's quick start names the test command");
    let ci_command = ci
        .lines()
        .rfind(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .unwrap()
        .trim();
    assert_eq!(ci_command, readme_command);
}
