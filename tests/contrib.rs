//! The deployment files under contrib/ and the README's CI snippets: the systemd units pass
//! `systemd-analyze verify`, the DaemonSet and the snippets are valid YAML with the fields that
//! make them work, the DaemonSet's loop outlives every exit status of `sockdoc check`, and every
//! `sockdoc check` they run uses only the flags the command has.
//!
//! YAML is parsed by PyYAML (Debian's python3-yaml, which scripts/install-test-tools.sh
//! installs) rather than a YAML crate in the dependencies, and without kubectl (no API server
//! here); a missing tool prints a SKIP line.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{skip, skip_unless_installed, skip_unless_python_module, system_python3};

const SERVICE: &str = "contrib/systemd/sockdoc-check.service";
const TIMER: &str = "contrib/systemd/sockdoc-check.timer";
const DAEMONSET: &str = "contrib/kubernetes/sockdoc-daemonset.yaml";
/// Debian's prometheus-node-exporter reads textfiles here (the default built into its binary).
const TEXTFILE_DIR: &str = "/var/lib/prometheus/node-exporter";

fn path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The `Key=value` settings of a unit file, comments left out, in file order.
fn settings(unit: &str) -> Vec<(&str, &str)> {
    unit.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(['#', ';', '[']))
        .filter_map(|line| line.split_once('='))
        .collect()
}

fn setting<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    settings(unit)
        .into_iter()
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .collect()
}

/// Every YAML document of `text`, as JSON, through PyYAML's safe loader.
fn yaml_documents(text: &str, what: &str) -> Vec<Value> {
    let mut child = Command::new(system_python3())
        .args([
            "-c",
            "import json, sys, yaml; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout, default=str)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{what} is not valid YAML:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("PyYAML's output is JSON")
}

/// The `sockdoc check` flags: global --format and --output, --fail-on, --config.
fn assert_check_flags(line: &str, source: &str) {
    use clap::Parser;
    let Some(start) = line.find("sockdoc check") else {
        return;
    };
    // The command's words, up to where the prose or the shell takes over.
    let mut argv = vec!["sockdoc".to_owned(), "check".to_owned()];
    let mut words = line[start + "sockdoc check".len()..]
        .split_whitespace()
        .map(|word| word.trim_end_matches(['`', '\'', '"', ')', ',']));
    while let Some(word) = words.next() {
        if !word.starts_with('-') || word == "\\" {
            break; // `&&`, `;`, `#`, `…`, prose
        }
        argv.push(word.to_owned());
        if !word.contains('=') && !matches!(word, "--print-config" | "--json") {
            match words.next() {
                Some(value) => argv.push(value.to_owned()),
                None => panic!("{source}: `{line}`: {word} needs a value"),
            }
        }
    }
    // The real parser, not a copy of its rules.
    if let Err(error) = sockdoc::cli::Cli::try_parse_from(&argv) {
        panic!("{source}: `{line}`: {}", error.render());
    }
}

/// The README's "In CI and fleets" section, checked to come right before "## Contracts".
fn readme_ci_section() -> String {
    let readme = read("README.md");
    let start = readme
        .find("\n## In CI and fleets\n")
        .expect("README has a section \"## In CI and fleets\"");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").expect("a section follows") + 4;
    assert!(
        rest[end..].starts_with("## Contracts\n"),
        "\"## In CI and fleets\" comes right before \"## Contracts\""
    );
    rest[..end].to_owned()
}

/// The ```yaml blocks of a Markdown text.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```yaml") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```yaml block");
    blocks
}

fn strings_under<'a>(value: &'a Value, key: &str, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == key {
                    match v {
                        Value::String(s) => found.push(s),
                        Value::Array(items) => found.extend(items.iter().filter_map(Value::as_str)),
                        _ => {}
                    }
                }
                strings_under(v, key, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| strings_under(v, key, found)),
        _ => {}
    }
}

#[test]
fn the_units_say_what_the_check_needs() {
    let service = read(SERVICE);
    let timer = read(TIMER);
    let expect = |unit: &str, key: &str, value: &str| {
        assert_eq!(
            setting(unit, key),
            [value],
            "{key}= in {SERVICE} or {TIMER}"
        );
    };
    expect(&service, "Type", "oneshot");
    expect(
        &service,
        "ExecStart",
        &format!("/usr/bin/sockdoc check --format prometheus --output {TEXTFILE_DIR}/sockdoc.prom"),
    );
    // Exit 1 is findings, not a failed run.
    expect(&service, "SuccessExitStatus", "1");
    expect(
        &service,
        "CapabilityBoundingSet",
        "CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
    );
    expect(&service, "NoNewPrivileges", "yes");
    expect(&service, "ProtectSystem", "strict");
    expect(&service, "ReadWritePaths", TEXTFILE_DIR);
    expect(&service, "ProtectHome", "yes");
    expect(&service, "PrivateTmp", "yes");
    // Each of these would hide the host's sockets or processes from the check; User= would
    // give up the root that owns the textfile directory.
    for blinding in [
        "PrivateNetwork",
        "PrivateUsers",
        "ProtectProc",
        "ProcSubset",
        "User",
    ] {
        assert!(
            setting(&service, blinding).is_empty(),
            "{SERVICE} must not set {blinding}="
        );
    }
    expect(&timer, "OnCalendar", "minutely");
    expect(&timer, "AccuracySec", "1s");
    expect(&timer, "Persistent", "true");
    expect(&timer, "WantedBy", "timers.target");
}

/// Runs `systemd-analyze ARGS` in `dir`; None (after a SKIP line) when it cannot run here.
fn systemd_analyze(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("systemd-analyze runs")
}

/// Whether `systemd-analyze verify` works in this environment at all: it must accept a trivial
/// unit (a container without systemd as PID 1 can still run it; some sandboxes cannot).
fn verify_works_here(what: &str) -> bool {
    if skip_unless_installed("systemd-analyze", what) {
        return false;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("trivial.service"),
        "[Service]\nType=oneshot\nExecStart=/bin/true\n",
    )
    .unwrap();
    let probe = systemd_analyze(dir.path(), &["verify", "trivial.service"]);
    if !probe.status.success() || !probe.stderr.is_empty() {
        skip(format_args!(
            "SKIP (systemd-analyze verify does not run here: {}): {what}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
        return false;
    }
    true
}

/// The unit files in a temporary directory, ExecStart pointing at the binary under test:
/// `systemd-analyze verify` fails a unit whose command does not exist or is not executable,
/// and /usr/bin/sockdoc is not installed where the tests run. The built binary is a real,
/// executable sockdoc, so the check stays meaningful (/bin/true would pass it as well).
fn units_in_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let exe = assert_cmd::cargo::cargo_bin!("sockdoc");
    let quoted = format!("\"{}\"", exe.display().to_string().replace('%', "%%"));
    let service = read(SERVICE).replace("/usr/bin/sockdoc", &quoted);
    std::fs::write(dir.path().join("sockdoc-check.service"), service).unwrap();
    std::fs::write(dir.path().join("sockdoc-check.timer"), read(TIMER)).unwrap();
    dir
}

/// The lines systemd-analyze printed about our units: it exits 0 on an unknown key or a value
/// it cannot parse ("ignoring"), so success alone proves little.
fn complaints_about_units(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|line| line.contains("sockdoc-check"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let what = "systemd-analyze verify contrib/systemd/*";
    if !verify_works_here(what) {
        return;
    }
    let dir = units_in_tempdir();
    let output = systemd_analyze(
        dir.path(),
        &["verify", "sockdoc-check.service", "sockdoc-check.timer"],
    );
    let complaints = complaints_about_units(&output.stderr);
    assert!(
        output.status.success() && complaints.is_empty(),
        "systemd-analyze verify:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The same check notices a setting it does not know: the filter above sees such lines.
    let broken = std::fs::read_to_string(dir.path().join("sockdoc-check.service")).unwrap()
        + "NoSuchSetting=yes\n";
    std::fs::write(dir.path().join("sockdoc-check.service"), broken).unwrap();
    let output = systemd_analyze(dir.path(), &["verify", "sockdoc-check.service"]);
    assert!(
        complaints_about_units(&output.stderr)
            .iter()
            .any(|line| line.contains("NoSuchSetting")),
        "systemd-analyze verify did not report an unknown key:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `systemd-analyze security` rates the service's exposure from 0 to 10 (100 at most with
/// --threshold); the unit scores 2.5 on systemd 252. Dropping CapabilityBoundingSet= and
/// SystemCallFilter= takes it to 5.4, past the threshold.
#[test]
fn the_service_stays_hardened() {
    let what = "systemd-analyze security --offline contrib/systemd/sockdoc-check.service";
    if !verify_works_here(what) {
        return;
    }
    let dir = units_in_tempdir();
    let output = systemd_analyze(
        dir.path(),
        &[
            "security",
            "--offline=true",
            "--threshold=30",
            "--no-pager",
            "sockdoc-check.service",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("unrecognized option") {
        // --offline and --threshold came with systemd 250.
        skip(format_args!(
            "SKIP (systemd-analyze security has no --offline/--threshold: {}): {what}",
            stderr.trim()
        ));
        return;
    }
    assert!(
        output.status.success(),
        "exposure above 3.0:\n{}{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
}

fn daemonset() -> Option<Value> {
    if skip_unless_python_module("yaml", "the DaemonSet parses as YAML") {
        return None;
    }
    let documents = yaml_documents(&read(DAEMONSET), DAEMONSET);
    assert_eq!(documents.len(), 1, "{DAEMONSET} holds one object");
    documents.into_iter().next()
}

#[test]
fn the_daemonset_has_what_the_node_check_needs() {
    let Some(ds) = daemonset() else { return };
    assert_eq!(ds["apiVersion"], "apps/v1");
    assert_eq!(ds["kind"], "DaemonSet");
    let template = &ds["spec"]["template"];
    for (key, value) in ds["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            &template["metadata"]["labels"][key], value,
            "the selector matches the pod's labels"
        );
    }
    let pod = &template["spec"];
    assert_eq!(pod["hostNetwork"], true, "the node's sockets");
    assert_eq!(pod["hostPID"], true, "the node's processes");
    assert!(
        pod["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["operator"] == "Exists" && t.get("key").is_none()),
        "tolerates every taint, so it runs on every node"
    );

    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["runAsUser"], 0);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["privileged"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(
        security["capabilities"]["add"],
        serde_json::json!(["DAC_READ_SEARCH", "SYS_PTRACE"])
    );
    assert_eq!(security["appArmorProfile"]["type"], "Unconfined");
    for resource in ["cpu", "memory"] {
        assert!(
            container["resources"]["limits"][resource].is_string(),
            "a {resource} limit"
        );
    }

    let command = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|word| word.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        command.contains("sockdoc check --format prometheus --output /textfile/sockdoc.prom"),
        "{command}"
    );
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/textfile")
        .expect("/textfile is mounted");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the /textfile volume is declared");
    assert_eq!(
        volume["hostPath"]["path"], TEXTFILE_DIR,
        "the same textfile directory as the systemd unit"
    );
}

/// The DaemonSet's shell loop, run with a stub `sockdoc` that exits 1, 3, 2 and then 0: every
/// status is survived (1 silently, 2 and 3 logged), and SIGTERM ends it with status 0 at once.
#[test]
fn the_daemonset_loop_outlives_every_exit_status() {
    let Some(ds) = daemonset() else { return };
    let command = &ds["spec"]["template"]["spec"]["containers"][0]["command"];
    assert_eq!(command[0], "/bin/sh");
    assert_eq!(command[1], "-c");
    let script = command[2].as_str().unwrap();
    assert!(script.contains("sleep 60 &"), "{script}");
    let script = script.replace("sleep 60", "sleep 0.05");

    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    let stub = dir.path().join("sockdoc");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{calls}'\nn=$(wc -l < '{calls}')\n\
             case $n in 1) exit 1;; 2) exit 3;; 3) exit 2;; *) exit 0;; esac\n",
            calls = calls.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("/bin/sh")
        .args(["-c", &script])
        .env("PATH", path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let count = std::fs::read_to_string(&calls).map_or(0, |text| text.lines().count());
        if count >= 5 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the loop ended after {count} runs ({status})");
        }
        assert!(Instant::now() < deadline, "only {count} runs in 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "SIGTERM did not end the loop");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    {
        use std::io::Read as _;
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
    }
    assert_eq!(
        status.code(),
        Some(0),
        "the TERM trap exits 0; stderr:\n{stderr}"
    );
    assert!(stderr.contains("exited with status 3"), "{stderr}");
    assert!(stderr.contains("exited with status 2"), "{stderr}");
    assert!(
        !stderr.contains("status 1"),
        "findings are not an error: {stderr}"
    );
    let first = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        first.lines().next(),
        Some("check --format prometheus --output /textfile/sockdoc.prom")
    );
}

#[test]
fn the_readme_ci_snippets_are_valid_yaml() {
    let section = readme_ci_section();
    let blocks = yaml_blocks(&section);
    assert_eq!(
        blocks.len(),
        2,
        "a GitHub Actions and a GitLab CI snippet (```yaml)"
    );
    if skip_unless_python_module("yaml", "the README's CI snippets parse as YAML") {
        return;
    }
    let junit = "sockdoc check --format junit --output sockdoc-junit.xml";

    let github = yaml_documents(&blocks[0], "the README's GitHub Actions snippet").remove(0);
    let mut runs = Vec::new();
    strings_under(&github["jobs"], "run", &mut runs);
    assert!(runs.contains(&"sockdoc check --format github"), "{runs:?}");
    assert!(runs.contains(&junit), "{runs:?}");
    let mut uploads = Vec::new();
    strings_under(&github["jobs"], "path", &mut uploads);
    assert_eq!(
        uploads,
        ["sockdoc-junit.xml"],
        "the JUnit report is uploaded"
    );

    let gitlab = yaml_documents(&blocks[1], "the README's GitLab CI snippet").remove(0);
    let jobs: Vec<&Value> = gitlab
        .as_object()
        .unwrap()
        .values()
        .filter(|job| job.get("script").is_some())
        .collect();
    assert_eq!(jobs.len(), 1);
    let job = jobs[0];
    assert_eq!(job["artifacts"]["reports"]["junit"], "sockdoc-junit.xml");
    assert_eq!(
        job["artifacts"]["when"], "always",
        "kept when the check fails"
    );
    let mut scripts = Vec::new();
    strings_under(job, "script", &mut scripts);
    assert!(scripts.contains(&junit), "{scripts:?}");
}

/// Every `sockdoc check` the README section, contrib/README.md, the unit and the DaemonSet
/// run uses only the flags of the command being built: --format, --output, --fail-on, --config.
#[test]
fn every_check_command_uses_only_its_flags() {
    let sources = [
        ("README.md", readme_ci_section()),
        ("contrib/README.md", read("contrib/README.md")),
        (SERVICE, read(SERVICE)),
        (DAEMONSET, read(DAEMONSET)),
    ];
    let mut seen = 0;
    for (source, text) in &sources {
        for line in text.lines().filter(|line| line.contains("sockdoc check")) {
            assert_check_flags(line, source);
            seen += 1;
        }
    }
    assert!(seen >= 8, "only {seen} `sockdoc check` lines found");
    // The checker itself refuses what the command does not have.
    for wrong in [
        "sockdoc check --format xml",
        "sockdoc check --fail-on sometimes",
        "sockdoc check --colour never",
        "sockdoc check --output",
    ] {
        assert!(
            std::panic::catch_unwind(|| assert_check_flags(wrong, "self-test")).is_err(),
            "{wrong} was accepted"
        );
    }
}

/// The contrib/ paths the READMEs name exist.
#[test]
fn the_contrib_paths_named_in_the_docs_exist() {
    let re = regex::Regex::new(r"contrib/[A-Za-z0-9_.*/-]*[A-Za-z0-9_/]").unwrap();
    for source in ["README.md", "contrib/README.md"] {
        for found in re.find_iter(&read(source)) {
            let named = found.as_str();
            let exists = if let Some(dir) = named.strip_suffix("/*") {
                path(dir).is_dir()
            } else {
                path(named).exists()
            };
            assert!(exists, "{source} names {named}, which does not exist");
        }
    }
}
