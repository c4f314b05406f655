//! `partial-send`: the SO_SNDBUF explanation names the net.core.wmem_max cap it met.

mod common;

#[test]
fn a_sndbuf_above_wmem_max_is_explained_by_the_cap() {
    // Read live, as sockdoc does, in this network namespace.
    let wmem_max: u64 = std::fs::read_to_string("/proc/sys/net/core/wmem_max")
        .expect("net.core.wmem_max is readable")
        .trim()
        .parse()
        .unwrap();
    let (report, output) = common::run_json(&["partial-send", "--sndbuf", "1G", "--bytes", "64K"]);
    assert_eq!(output.status.code(), Some(0), "{report}");
    let details = &report; // scenario details sit at the top level
    assert_eq!(details["wmem_max"], wmem_max, "{report}");
    assert_eq!(details["sndbuf_requested"], 1_u64 << 30);
    let verdict = report["verdict"].as_str().unwrap();
    if wmem_max >= 1 << 30 {
        common::skip(format_args!(
            "SKIP: net.core.wmem_max = {wmem_max} does not cap a 1G request here"
        ));
        return;
    }
    // The kernel capped the request at wmem_max, then doubled it (SO_SNDBUF in
    // sk_setsockopt, net/core/sock.c): measured, and the verdict says so with the value.
    assert_eq!(details["sndbuf_applied"], 2 * wmem_max, "{report}");
    assert!(
        verdict.contains(&format!("more than net.core.wmem_max = {wmem_max}")),
        "{verdict}"
    );
    assert!(
        verdict.contains(&format!("capped the request at {wmem_max}")),
        "{verdict}"
    );
}
