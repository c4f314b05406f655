//! `sockdoc prove`: the experiment behind each piece of sysctl advice and each myth, run twice
//! in throwaway network namespaces (`sys::sandbox`) — the value people set against the value
//! sockdoc suggests — and reported side by side. The host's /proc/sys is never written.

mod experiments;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Context;
use super::args::{ProveArgs, ProveKnob};
use crate::exit::Exit;
use crate::sys::sandbox::{self, Isolation};
use crate::units::micros;
use experiments::{Experiment, Figures};

/// What the parent sends the lab child.
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    parent_netns: u64,
    knobs: Vec<(String, String)>,
    experiment: Experiment,
    timeout_ms: u64,
}

/// What the lab child prints.
#[derive(Debug, Serialize, Deserialize)]
struct Outcome {
    isolation: Isolation,
    figures: Figures,
}

/// The lab child's part for `prove`: enter the namespace, set the knobs, run the experiment.
pub fn child(request: serde_json::Value) -> Result<serde_json::Value, String> {
    let request: Request =
        serde_json::from_value(request).map_err(|e| format!("a malformed lab request: {e}"))?;
    let isolation =
        sandbox::enter(&request.knobs, request.parent_netns).map_err(|e| e.to_string())?;
    let timeout = Duration::from_millis(request.timeout_ms);
    let figures = experiments::run(&request.experiment, timeout)?;
    serde_json::to_value(Outcome { isolation, figures }).map_err(|e| e.to_string())
}

#[derive(Debug, Serialize)]
pub struct ProveReport {
    /// How the throwaway namespaces were made (null when none could be).
    pub isolation: Option<Isolation>,
    pub proofs: Vec<Proof>,
    pub summary: ProveSummary,
    pub notes: Vec<String>,
    pub elapsed_us: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct ProveSummary {
    pub proofs: u64,
    pub as_documented: u64,
    pub mismatches: u64,
    pub could_not_run: u64,
}

#[derive(Debug, Serialize)]
pub struct Proof {
    pub knob: &'static str,
    /// What is being settled, as a question.
    pub question: &'static str,
    pub before: Trial,
    pub after: Trial,
    /// What Linux documents for the two, in a sentence.
    pub expected: String,
    /// Both trials came out as documented; null when one could not run.
    pub matches: Option<bool>,
    pub conclusion: String,
    pub source: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Trial {
    /// The knobs set inside its namespace.
    pub knobs: BTreeMap<String, String>,
    pub figures: Option<Figures>,
    /// What it showed, in a line.
    pub measured: String,
    /// Why it could not run.
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// One proof: the knob, the two settings and the experiment.
struct Plan {
    knob: ProveKnob,
    before: Vec<(&'static str, &'static str)>,
    after: Vec<(&'static str, &'static str)>,
    experiment: Experiment,
}

/// The narrow ephemeral range the port proofs use: ten ports make exhaustion quick.
const NARROW_RANGE: &str = "40000 40009";
const NARROW_PORTS: u32 = 10;
const WIDER_RANGE: &str = "40000 40039";
const WIDER_PORTS: u32 = 40;
/// Clients for the accept-queue proof: more than the small queue holds (129), fewer than the
/// suggested limit.
const QUEUE_CLIENTS: u32 = 160;
/// Connections the server closes first in the TIME_WAIT proof.
const CLOSES: u32 = 20;
/// The autocorking burst: small writes back to back, as in `sockdoc nagle`'s burst.
const BURST_WRITES: u32 = 100;
const BURST_SIZE: u32 = 8;

fn plans(knobs: &[ProveKnob]) -> Vec<Plan> {
    let all = [
        ProveKnob::Somaxconn,
        ProveKnob::TcpMaxTwBuckets,
        ProveKnob::TcpFinTimeout,
        ProveKnob::TcpTwReuse,
        ProveKnob::IpLocalPortRange,
        ProveKnob::TcpAutocorking,
    ];
    let wanted: Vec<ProveKnob> = if knobs.is_empty() {
        all.to_vec()
    } else {
        knobs.to_vec()
    };
    wanted
        .into_iter()
        .map(|knob| match knob {
            ProveKnob::Somaxconn => Plan {
                knob,
                before: vec![("net.core.somaxconn", "128")],
                after: vec![("net.core.somaxconn", "4096")],
                experiment: Experiment::AcceptQueue {
                    clients: QUEUE_CLIENTS,
                },
            },
            ProveKnob::TcpMaxTwBuckets => Plan {
                knob,
                before: vec![("net.ipv4.tcp_max_tw_buckets", "0")],
                after: vec![("net.ipv4.tcp_max_tw_buckets", "131072")],
                experiment: Experiment::TimeWait {
                    connections: CLOSES,
                },
            },
            ProveKnob::TcpFinTimeout => Plan {
                knob,
                before: vec![("net.ipv4.tcp_fin_timeout", "60")],
                after: vec![("net.ipv4.tcp_fin_timeout", "5")],
                experiment: Experiment::FinTimeout,
            },
            ProveKnob::TcpTwReuse => Plan {
                knob,
                before: vec![
                    ("net.ipv4.ip_local_port_range", NARROW_RANGE),
                    ("net.ipv4.tcp_tw_reuse", "0"),
                ],
                after: vec![
                    ("net.ipv4.ip_local_port_range", NARROW_RANGE),
                    ("net.ipv4.tcp_tw_reuse", "1"),
                ],
                experiment: Experiment::TwReuse {
                    connections: NARROW_PORTS,
                },
            },
            ProveKnob::TcpAutocorking => Plan {
                knob,
                before: vec![("net.ipv4.tcp_autocorking", "0")],
                after: vec![("net.ipv4.tcp_autocorking", "1")],
                experiment: Experiment::Burst {
                    writes: BURST_WRITES,
                    size: BURST_SIZE,
                },
            },
            ProveKnob::IpLocalPortRange => Plan {
                knob,
                before: vec![("net.ipv4.ip_local_port_range", NARROW_RANGE)],
                after: vec![("net.ipv4.ip_local_port_range", WIDER_RANGE)],
                experiment: Experiment::PortRange {
                    limit: WIDER_PORTS + 10,
                },
            },
        })
        .collect()
}

pub fn run(args: &ProveArgs, ctx: &Context) -> anyhow::Result<(ProveReport, Exit)> {
    let started = Instant::now();
    let parent_netns = sandbox::netns_inode()?;
    let mut isolation = None;
    let mut proofs = Vec::new();
    // The TIME_WAIT-waiting proofs need a few seconds; the lab child gets --timeout plus
    // that for each trial.
    let budget = ctx.timeout + Duration::from_secs(5);
    for plan in plans(&args.knobs) {
        let mut trial = |knobs: &[(&str, &str)]| -> Trial {
            let began = Instant::now();
            let request = Request {
                parent_netns,
                knobs: knobs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                experiment: plan.experiment.clone(),
                timeout_ms: crate::units::millis(ctx.timeout),
            };
            let json = super::lab::request("prove", &request);
            let result = sandbox::run(&json, budget)
                .map_err(|e| e.to_string())
                .and_then(|out| {
                    serde_json::from_str::<Outcome>(&out)
                        .map_err(|e| format!("the lab child's answer did not parse ({e}): {out}"))
                });
            let knobs: BTreeMap<String, String> = knobs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            match result {
                Ok(outcome) => {
                    isolation = Some(outcome.isolation);
                    Trial {
                        knobs,
                        measured: String::new(),
                        figures: Some(outcome.figures),
                        error: None,
                        elapsed_ms: crate::units::millis(began.elapsed()),
                    }
                }
                Err(error) => Trial {
                    knobs,
                    measured: "could not run".to_owned(),
                    figures: None,
                    error: Some(error),
                    elapsed_ms: crate::units::millis(began.elapsed()),
                },
            }
        };
        let before = trial(&plan.before);
        let after = trial(&plan.after);
        proofs.push(judge::proof(plan.knob, before, after));
    }
    let count = |f: &dyn Fn(&Proof) -> bool| proofs.iter().filter(|p| f(p)).count() as u64;
    let summary = ProveSummary {
        proofs: proofs.len() as u64,
        as_documented: count(&|p| p.matches == Some(true)),
        mismatches: count(&|p| p.matches == Some(false)),
        could_not_run: count(&|p| p.matches.is_none()),
    };
    if summary.could_not_run == summary.proofs
        && let Some(error) = proofs
            .iter()
            .find_map(|p| p.before.error.clone().or_else(|| p.after.error.clone()))
    {
        anyhow::bail!("{error}");
    }
    let exit = if summary.mismatches > 0 {
        Exit::Finding
    } else if summary.could_not_run > 0 {
        Exit::CannotRun
    } else {
        Exit::Clean
    };
    let report = ProveReport {
        isolation,
        proofs,
        summary,
        notes: vec![
            "Every trial ran in a network namespace of its own that died with it; the host's \
             /proc/sys was not written."
                .to_owned(),
        ],
        elapsed_us: micros(started.elapsed()),
    };
    Ok((report, exit))
}

mod judge;

/// `sockdoc prove KNOB` for a sysctl key with an experiment here, e.g.
/// `net.ipv4.tcp_fin_timeout` → `sockdoc prove tcp_fin_timeout`.
pub fn command_for(key: &str) -> Option<String> {
    use clap::ValueEnum;
    ProveKnob::value_variants()
        .iter()
        .find(|knob| judge::knob_name(**knob) == key)
        .and_then(ValueEnum::to_possible_value)
        .map(|value| format!("sockdoc prove {}", value.get_name()))
}
