//! `completions` and `man`: what they print is generated from the clap definition, so it
//! cannot drift from the flags; these tests keep it reviewable and usable. The bash script
//! and two man pages are snapshots (a new or renamed flag is a diff to review), and every
//! script and page is handed to the program that reads it: bash, zsh and fish load the
//! completion scripts and complete real words, groff and man format every page without a
//! warning. A missing tool prints `SKIP (… is not installed)`.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use clap::CommandFactory;
use sockdoc::cli::Cli;

use common::{skip_unless_installed, sockdoc};

/// sockdoc's stdout for `args`, which must succeed.
fn printed(args: &[&str]) -> String {
    let output = sockdoc().args(args).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stderr.is_empty(), "{args:?}: stderr is for errors");
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// `text` in a file `name` of a fresh directory (kept alive by the returned guard).
fn written(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn succeeded(what: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "{what}: {}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every command a man page is printed for: clap's, without `help`.
fn command_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .filter(|name| name != "help")
        .collect()
}

#[test]
fn the_bash_completion_and_man_pages_are_snapshots() {
    insta::assert_snapshot!("completion_bash", printed(&["completions", "bash"]));
    insta::assert_snapshot!("man_sockdoc_1", printed(&["man"]));
    insta::assert_snapshot!("man_sockdoc_reuse_test_1", printed(&["man", "reuse-test"]));
}

#[test]
fn bash_loads_the_completion_and_completes_commands_flags_and_values() {
    if skip_unless_installed("bash", "the bash completion script") {
        return;
    }
    let (_dir, script) = written("sockdoc", &printed(&["completions", "bash"]));
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    succeeded("bash -n", &syntax);
    // As bash calls a completion function: the words so far, the one under the cursor.
    let probe = r#"
        source "$1"
        complete -p sockdoc
        for line in "sockdoc na" "sockdoc nagle --nod" "sockdoc completions z" "sockdoc man peer"; do
            read -ra COMP_WORDS <<<"$line"
            COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
            COMP_LINE=$line COMP_POINT=${#line}
            COMPREPLY=()
            _sockdoc sockdoc "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
            echo "$line => ${COMPREPLY[*]}"
        done
    "#;
    let output = Command::new("bash")
        .args(["-c", probe, "probe"])
        .arg(&script)
        .output()
        .unwrap();
    let completed = succeeded("bash completion", &output);
    for expected in [
        "complete -o bashdefault -o default -o nosort -F _sockdoc sockdoc",
        "sockdoc na => nagle",
        "sockdoc nagle --nod => --nodelay",
        "sockdoc completions z => zsh",
        "sockdoc man peer => peer-close",
    ] {
        assert!(
            completed.lines().any(|line| line == expected),
            "no line {expected:?} in:\n{completed}"
        );
    }
}

#[test]
fn zsh_parses_the_completion() {
    if skip_unless_installed("zsh", "the zsh completion script") {
        return;
    }
    let text = printed(&["completions", "zsh"]);
    assert!(text.starts_with("#compdef sockdoc\n"), "{}", &text[..40]);
    let (_dir, script) = written("_sockdoc", &text);
    let output = Command::new("zsh").arg("-n").arg(&script).output().unwrap();
    succeeded("zsh -n", &output);
}

#[test]
fn fish_loads_the_completion_and_completes_commands_and_flags() {
    if skip_unless_installed("fish", "the fish completion script") {
        return;
    }
    let (_dir, script) = written("sockdoc.fish", &printed(&["completions", "fish"]));
    let syntax = Command::new("fish")
        .arg("--no-execute")
        .arg(&script)
        .output()
        .unwrap();
    succeeded("fish --no-execute", &syntax);
    let output = Command::new("fish")
        .args(["--no-config", "-c"])
        .arg("source $argv[1]; complete -C 'sockdoc na'; complete -C 'sockdoc nagle --nod'")
        .arg(&script)
        .output()
        .unwrap();
    let completed = succeeded("fish completion", &output);
    // One candidate a line, a tab before its description.
    let words: Vec<&str> = completed
        .lines()
        .map(|line| line.split('\t').next().unwrap())
        .collect();
    assert_eq!(words, ["nagle", "--nodelay"], "{completed}");
}

#[test]
fn groff_formats_every_man_page_without_a_warning() {
    if skip_unless_installed("groff", "formatting the man pages") {
        return;
    }
    let mut pages = vec![(String::from("sockdoc"), printed(&["man"]))];
    for name in command_names() {
        let page = printed(&["man", &name]);
        pages.push((format!("sockdoc-{name}"), page));
    }
    for (title, page) in pages {
        assert!(page.is_ascii(), "{title}: non-ASCII left unescaped");
        assert!(
            page.lines()
                .any(|line| line.starts_with(&format!(".TH {title} 1 "))),
            "{title}: no .TH line"
        );
        let (_dir, file) = written(&format!("{title}.1"), &page);
        // -ww: every warning; -z: format, print nothing.
        let output = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&file)
            .output()
            .unwrap();
        succeeded(&format!("groff {title}.1"), &output);
        assert!(
            output.stderr.is_empty(),
            "{title}.1: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn man_reads_the_top_page_and_it_names_every_command_page() {
    if skip_unless_installed("man", "reading the man page") {
        return;
    }
    let (_dir, file) = written("sockdoc.1", &printed(&["man"]));
    let output = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    let text = succeeded("man -l sockdoc.1", &output);
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for heading in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SUBCOMMANDS"] {
        assert!(
            text.lines().any(|line| line == heading),
            "{heading}:\n{text}"
        );
    }
    for name in command_names() {
        assert!(
            text.contains(&format!("sockdoc-{name}(1)")),
            "{name}:\n{text}"
        );
    }
    assert!(
        !text.contains("sockdoc-help"),
        "no page is shipped for help"
    );
}

#[test]
fn a_command_page_has_its_examples_unfilled_in_their_own_section() {
    let page = printed(&["man", "nagle"]);
    let examples = page
        .split_once(".SH EXAMPLES\n.nf\n")
        .map(|(_, rest)| rest)
        .expect("an EXAMPLES section");
    let first = examples.lines().next().unwrap();
    assert!(first.starts_with("sockdoc nagle "), "{first}");
    assert!(!page.contains(".SH EXTRA"), "the examples left EXTRA");
    assert_eq!(page.lines().last(), Some(".fi"), "{page}");
}

#[test]
fn json_carries_the_generated_text_in_one_document() {
    for (args, kind, file_name) in [
        (&["completions", "bash"][..], "completion", "sockdoc.bash"),
        (&["completions", "zsh"], "completion", "_sockdoc"),
        (&["completions", "fish"], "completion", "sockdoc.fish"),
        (&["man"], "man-page", "sockdoc.1"),
        (&["man", "peer-close"], "man-page", "sockdoc-peer-close.1"),
    ] {
        let (document, output) = common::run_json(args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert_eq!(document["command"], args[0], "{args:?}");
        assert_eq!(document["exit_code"], 0, "{args:?}");
        assert_eq!(document["kind"], kind, "{args:?}");
        assert_eq!(document["file_name"], file_name, "{args:?}");
        assert_eq!(document["text"], printed(args), "{args:?}");
    }
}

#[test]
fn flags_that_read_the_kernel_are_ignored_by_generators() {
    // Nothing is read, so a --root that is no directory is no error (as --timeout is none).
    for args in [
        &["completions", "bash", "--root", "/nonexistent/sockdoc-root"][..],
        &["man", "--root", "/nonexistent/sockdoc-root"],
    ] {
        let output = sockdoc().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(!output.stdout.is_empty(), "{args:?}");
    }
}
