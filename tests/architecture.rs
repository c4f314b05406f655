//! The house's shape, checked on the source (ARCHITECTURE.md says it in prose):
//! - layers import one way: `cli` and `lib.rs` on top, then `commands`, then `sys`; `report`
//!   renders the commands' report types and touches nothing that reads the kernel; `units`
//!   and `exit` are leaves;
//! - no cycle between the modules of `sys`;
//! - no source file over 600 lines before its tests.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// The longest a file may be before its `#[cfg(test)]` module.
const MAX_LINES: usize = 600;

/// Every .rs file under src/, by its path relative to src/, with the code before its tests.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(Path::new(SRC), &mut files);
    files
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).unwrap();
            let relative = path
                .strip_prefix(SRC)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (relative, without_tests(&text))
        })
        .collect()
}

/// The file without its `#[cfg(test)] mod tests { … }` block, wherever the block stands:
/// the block ends at the first `}` in column 0 after it.
fn without_tests(text: &str) -> String {
    let Some(start) = text.find("\n#[cfg(test)]\nmod tests {") else {
        return text.to_owned();
    };
    let end = text[start + 1..]
        .find("\n}\n")
        .map_or(text.len(), |at| start + 1 + at + 3);
    format!("{}{}", &text[..=start], &text[end..])
}

/// The top-level modules a file names through `crate::…` (for `crate::sys::x`, `sys::x`).
fn crate_paths(code: &str) -> BTreeSet<String> {
    let path = Regex::new(r"crate::([A-Za-z_]+)(?:::([A-Za-z_]+))?").unwrap();
    let mut paths: BTreeSet<String> = path
        .captures_iter(code)
        .map(|c| match (&c[1], c.get(2)) {
            ("sys" | "commands", Some(child)) => format!("{}::{}", &c[1], child.as_str()),
            (top, _) => top.to_owned(),
        })
        .collect();
    // `use crate::{report, sys::fs}`: the first name of each item.
    let grouped = Regex::new(r"crate::\{([^;]*)\}").unwrap();
    let item = Regex::new(r"(?:^|[{,])\s*([A-Za-z_]+)(?:::([A-Za-z_]+))?").unwrap();
    for group in grouped.captures_iter(code) {
        for c in item.captures_iter(&group[1]) {
            paths.insert(match (&c[1], c.get(2)) {
                ("sys" | "commands", Some(child)) => format!("{}::{}", &c[1], child.as_str()),
                (top, _) => top.to_owned(),
            });
        }
    }
    paths
}

#[test]
fn layers_import_one_way() {
    let mut wrong = Vec::new();
    for (file, code) in sources() {
        let layer = file.split('/').next().unwrap().trim_end_matches(".rs");
        let forbidden: &[&str] = match layer {
            "sys" => &["cli", "commands", "report", "run", "VERSION"],
            "commands" => &["cli", "report", "run"],
            // A renderer gets report types; it never reads the kernel or the command line.
            "report" => &[
                "cli",
                "run",
                "sys::socket",
                "sys::sockopt",
                "sys::procfs",
                "sys::sysctl",
                "sys::fs",
                "sys::diagnose",
            ],
            "units" | "exit" => &["cli", "commands", "report", "sys", "run"],
            _ => &[],
        };
        for path in crate_paths(&code) {
            if forbidden
                .iter()
                .any(|f| path == *f || path.starts_with(&format!("{f}::")))
            {
                wrong.push(format!("{file} uses crate::{path}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

/// The `sys` module a file belongs to: `sys/diag/codec.rs` → `diag`.
fn sys_module(file: &str) -> Option<String> {
    let rest = file.strip_prefix("sys/")?;
    let first = rest.split('/').next()?.trim_end_matches(".rs");
    (first != "mod").then(|| first.to_owned())
}

/// The other `sys` modules a file of `module` uses: `crate::sys::x`, and `super::x` from a
/// file directly in sys/ (`super::super::x` from one a level down).
fn sys_uses(file: &str, module: &str, code: &str) -> BTreeSet<String> {
    // `super` in sys/x.rs and sys/x/mod.rs is sys; in sys/x/y.rs it is sys::x.
    let depth = file.matches('/').count() - usize::from(file.ends_with("/mod.rs"));
    let up = if depth == 1 { "super" } else { "super::super" };
    let direct = Regex::new(&format!(r"(?:crate::sys|\b{up})::([a-z_]+)")).unwrap();
    let grouped = Regex::new(&format!(r"(?:crate::sys|\b{up})::\{{([^;]*)\}}")).unwrap();
    let mut used: BTreeSet<String> = direct
        .captures_iter(code)
        .map(|c| c[1].to_owned())
        .collect();
    // The first name of each item: `{fs::Root, record::{A, B}, sysctl}`.
    let items = Regex::new(r"(?:^|[{,])\s*([a-z_]+)").unwrap();
    for group in grouped.captures_iter(code) {
        used.extend(items.captures_iter(&group[1]).map(|c| c[1].to_owned()));
    }
    used.retain(|m| m != module && m != "self" && m != "super");
    used
}

/// Depth-first search for a back edge from `node`, returning the cycle it closes.
fn visit(
    node: &str,
    edges: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|n| n == node) {
        let mut cycle = path[at..].to_vec();
        cycle.push(node.to_owned());
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node.to_owned());
    for next in edges.get(node).into_iter().flatten() {
        if let Some(cycle) = visit(next, edges, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(node.to_owned());
    None
}

#[test]
fn sys_modules_form_no_cycle() {
    let sources = sources();
    let modules: BTreeSet<String> = sources.keys().filter_map(|f| sys_module(f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, code) in &sources {
        let Some(module) = sys_module(file) else {
            continue;
        };
        let uses = sys_uses(file, &module, code);
        edges
            .entry(module)
            .or_default()
            .extend(uses.into_iter().filter(|m| modules.contains(m)));
    }
    let mut done = BTreeSet::new();
    for module in &modules {
        if let Some(cycle) = visit(module, &edges, &mut Vec::new(), &mut done) {
            panic!("sys modules import each other: {}", cycle.join(" → "));
        }
    }
    // The check sees the edges it must: diag reads /proc through procfs.
    assert!(edges["diag"].contains("procfs"), "{edges:?}");
    assert!(edges["diagnose"].contains("ports"), "{edges:?}");
}

#[test]
fn no_file_outgrows_a_room() {
    let long: Vec<String> = sources()
        .into_iter()
        .map(|(file, code)| (file, code.lines().count()))
        .filter(|&(_, lines)| lines > MAX_LINES)
        .map(|(file, lines)| format!("{file}: {lines} lines before its tests"))
        .collect();
    assert!(
        long.is_empty(),
        "split these (see ARCHITECTURE.md):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checks_see_real_imports() {
    assert_eq!(
        crate_paths("use crate::sys::diag::{self, Query};\nuse crate::units::count;"),
        BTreeSet::from(["sys::diag".to_owned(), "units".to_owned()])
    );
    assert_eq!(
        crate_paths("use crate::{report, sys::fs::Root};\nlet v = crate::VERSION;"),
        BTreeSet::from([
            "report".to_owned(),
            "sys::fs".to_owned(),
            "VERSION".to_owned()
        ])
    );
    assert_eq!(
        without_tests("a\n#[cfg(test)]\nmod tests {\n    x\n}\nb\n"),
        "a\nb\n"
    );
    assert_eq!(
        sys_uses(
            "sys/diag/codec.rs",
            "diag",
            "use super::super::{fs::Root, record::{A, B}};\nuse crate::sys::error::SysError;"
        ),
        BTreeSet::from(["error".to_owned(), "fs".to_owned(), "record".to_owned()])
    );
}
