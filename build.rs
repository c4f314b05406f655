//! Records the git revision sockdoc is built from, for `sockdoc --version`: `git rev-parse
//! --short HEAD`, with `-dirty` when the files the binary is built from differ from that
//! commit. "unknown" without git, or outside a checkout of this crate (a crates.io download,
//! a copy vendored inside another repository, whose HEAD says nothing about sockdoc).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files the binary is built from: an uncommitted change to one of them marks the build
/// `-dirty`, and a change to one reruns this script (a README edit does neither).
const SOURCES: &[&str] = &["src", "build.rs", "Cargo.toml", "Cargo.lock"];

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let checkout = is_own_checkout(&dir);
    let revision = checkout
        .then(|| revision(&dir))
        .flatten()
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo::rustc-env=SOCKDOC_GIT_REVISION={revision}");
    for source in SOURCES {
        println!("cargo::rerun-if-changed={source}");
    }
    if checkout {
        // A commit, a checkout or a ref update: HEAD (this worktree's own), the branch it
        // names, and packed-refs when the branch lives there.
        for path in git_files(&dir) {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    }
}

/// `git -C dir args…`'s output, trimmed, when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Whether `dir` is the top of a git work tree (a worktree counts): not a crate unpacked
/// somewhere inside another repository.
fn is_own_checkout(dir: &Path) -> bool {
    git(dir, &["rev-parse", "--show-toplevel"])
        .and_then(|top| std::fs::canonicalize(top).ok())
        .is_some_and(|top| std::fs::canonicalize(dir).is_ok_and(|dir| dir == top))
}

/// `55c4333`, or `55c4333-dirty` when a file in [`SOURCES`] differs from HEAD (staged or
/// not).
fn revision(dir: &Path) -> Option<String> {
    let short = git(dir, &["rev-parse", "--short", "HEAD"])?;
    let diff = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["diff", "--quiet", "HEAD", "--"])
        .args(SOURCES)
        .status()
        .ok()?;
    // 1: differences; 0: none; anything else is an error that says neither.
    match diff.code() {
        Some(0) => Some(short),
        Some(1) => Some(format!("{short}-dirty")),
        _ => None,
    }
}

/// The files whose change means HEAD moved: this worktree's HEAD, the ref it points to, and
/// packed-refs; only those that exist (a missing one would rerun the script every build).
fn git_files(dir: &Path) -> Vec<PathBuf> {
    let mut names = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        names.push(branch);
    }
    names
        .iter()
        .filter_map(|name| git(dir, &["rev-parse", "--git-path", name]))
        .map(|path| dir.join(path))
        .filter(|path| path.exists())
        .collect()
}
