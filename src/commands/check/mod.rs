//! `sockdoc check`: one run for CI and fleets. The kernel self-test (the lessons' experiments
//! against documented behaviour), sysctl-advice's findings and inspect's findings for the
//! host or the targets, plus a project's own expectations (`sockdoc.toml`), each as a check
//! with a stable id, a severity and the fix. Exit 1 when a check fails at `--fail-on` or above.

pub mod config;
pub mod convert;
mod kernel;
pub mod model;

use std::time::Instant;

use serde::Serialize;

use super::args::{CheckArgs, FailOn, InspectArgs, SysctlAdviceArgs};
use super::severity::Level;
use super::{Context, inspect, sysctl_advice};
use crate::exit::{Exit, UsageError};
use crate::sys::sysctl;
use crate::units::micros;
use model::{Check, Group, Metrics, Status};

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub checks: Vec<Check>,
    pub metrics: Metrics,
    pub summary: CheckSummary,
    /// The least severe failure that makes the exit code 1; `never` for none.
    pub fail_on: &'static str,
    /// The config file read, if any.
    pub config: Option<String>,
    pub groups: Vec<Group>,
    pub notes: Vec<String>,
    pub elapsed_us: u64,
    /// `--print-config`: the template, and nothing was checked.
    pub template: Option<&'static str>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckSummary {
    pub checks: u64,
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub info: u64,
    pub advise: u64,
    pub warn: u64,
    /// Failures at or above `fail_on`.
    pub failing: u64,
}

pub fn run(args: &CheckArgs, ctx: &Context) -> anyhow::Result<(CheckReport, Exit)> {
    let started = Instant::now();
    if args.print_config {
        return Ok((template_report(), Exit::Clean));
    }
    let loaded = config::load(args.config.as_deref())?;
    let fail_on = threshold(args.fail_on, &loaded);
    let skip: Vec<String> = args
        .skip
        .iter()
        .chain(&loaded.config.skip)
        .cloned()
        .collect();
    let only: Vec<String> = args
        .only
        .iter()
        .chain(&loaded.config.only)
        .cloned()
        .collect();
    for pattern in skip.iter().chain(&only) {
        let group = pattern.split('.').next().unwrap_or_default();
        if !Group::ALL.iter().any(|g| g.name() == group) {
            return Err(UsageError(format!(
                "--skip/--only {pattern:?}: names no check; a name starts with a group: \
                 kernel, sysctl, inspect or config (e.g. kernel.bind)"
            ))
            .into());
        }
    }
    let wanted = |group: Group| {
        let named = |p: &String| p.split('.').next() == Some(group.name());
        !skip.iter().any(|p| p == group.name()) && (only.is_empty() || only.iter().any(named))
    };
    let mut notes = Vec::new();
    let mut metrics = Metrics::default();
    let mut checks = Vec::new();
    let mut groups = Vec::new();
    if wanted(Group::Kernel) || (wanted(Group::Config) && loaded.max_p99.is_some()) {
        groups.push(Group::Kernel);
        checks.extend(kernel::run(ctx, loaded.max_p99, &mut metrics));
    }
    if wanted(Group::Sysctl) {
        groups.push(Group::Sysctl);
        checks.extend(sysctl_checks(args, ctx));
    }
    if wanted(Group::Config) && !loaded.sysctl.is_empty() {
        checks.extend(expectations(&loaded, ctx));
    }
    let listeners_wanted = wanted(Group::Config) && !loaded.config.listener.is_empty();
    if wanted(Group::Inspect) || listeners_wanted || loaded.config.ports.max_used_ratio.is_some() {
        groups.push(Group::Inspect);
        checks.extend(inspect_checks(
            args,
            ctx,
            &loaded,
            &mut metrics,
            &mut notes,
        )?);
    }
    if wanted(Group::Config) {
        groups.push(Group::Config);
    }
    checks.retain(|c| {
        !skip.iter().any(|p| c.named_by(p))
            && (only.is_empty() || only.iter().any(|p| c.named_by(p)))
    });
    let summary = summarize(&checks, fail_on);
    let exit = if summary.failing > 0 {
        Exit::Finding
    } else if checks.is_empty() && !groups.is_empty() {
        notes.push("No check ran: every one was skipped or none matched --only.".to_owned());
        Exit::Clean
    } else {
        Exit::Clean
    };
    let report = CheckReport {
        checks,
        metrics,
        summary,
        fail_on: fail_on.map_or("never", Level::name),
        config: loaded.path.map(|p| p.display().to_string()),
        groups,
        notes,
        elapsed_us: micros(started.elapsed()),
        template: None,
    };
    Ok((report, exit))
}

fn template_report() -> CheckReport {
    CheckReport {
        checks: Vec::new(),
        metrics: Metrics::default(),
        summary: CheckSummary::default(),
        fail_on: "warn",
        config: None,
        groups: Vec::new(),
        notes: Vec::new(),
        elapsed_us: 0,
        template: Some(config::TEMPLATE),
    }
}

/// `--fail-on`, else the config's `fail_on`, else warn; `None` for never.
fn threshold(flag: Option<FailOn>, loaded: &config::Loaded) -> Option<Level> {
    let from_config = || {
        let name = loaded.config.fail_on.as_ref()?;
        FailOn::named(name.get_ref())
    };
    flag.or_else(from_config)
        .unwrap_or(FailOn::Warn)
        .threshold()
}

fn summarize(checks: &[Check], fail_on: Option<Level>) -> CheckSummary {
    let at = |level: Level| {
        checks
            .iter()
            .filter(|c| c.status == Status::Fail && c.severity == level)
            .count() as u64
    };
    CheckSummary {
        checks: checks.len() as u64,
        passed: convert::count(checks, Status::Pass),
        failed: convert::count(checks, Status::Fail),
        skipped: convert::count(checks, Status::Skipped),
        info: at(Level::Info),
        advise: at(Level::Advise),
        warn: at(Level::Warn),
        failing: checks.iter().filter(|c| c.fails_at(fail_on)).count() as u64,
    }
}

fn sysctl_checks(args: &CheckArgs, ctx: &Context) -> Vec<Check> {
    let advice = SysctlAdviceArgs {
        role: args.role,
        check: false,
    };
    match sysctl_advice::run(&advice, ctx) {
        Ok((report, _)) => convert::from_sysctl(&report),
        Err(error) => vec![
            Check::new("sysctl", Group::Sysctl, "the TCP sysctls").skipped(format!("{error:#}")),
        ],
    }
}

/// The config's sysctl expectations, against the namespace's values.
fn expectations(loaded: &config::Loaded, ctx: &Context) -> Vec<Check> {
    loaded
        .sysctl
        .iter()
        .map(|e| {
            let check = Check::new(
                format!("config.sysctl.{}", e.key),
                Group::Config,
                format!("{} {} {}", e.key, e.op.symbol(), e.value),
            )
            .fix(format!(
                "set {} {} {} in /etc/sysctl.d/ (sockdoc sysctl-advice explains the knob)",
                e.key,
                e.op.symbol(),
                e.value
            ));
            let knob = sysctl::read_knob(&ctx.root, &e.key);
            match knob.value() {
                Some(actual) => check
                    .evidence(format!("{} = {}", e.key, sysctl::fold(actual)))
                    .judged(if e.op.holds(actual, &e.value) {
                        Level::Ok
                    } else {
                        Level::Warn
                    }),
                None => check
                    .evidence(format!(
                        "{} does not exist on this kernel (or cannot be read)",
                        e.key
                    ))
                    .judged(Level::Warn),
            }
        })
        .collect()
}

fn inspect_checks(
    args: &CheckArgs,
    ctx: &Context,
    loaded: &config::Loaded,
    metrics: &mut Metrics,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<Check>> {
    let inspect_args = InspectArgs {
        targets: args.targets.clone(),
        sample_for: args.sample_for,
        fail_on: FailOn::Never,
        sockets: false,
    };
    // Only findings are needed here, not every socket.
    let quiet = Context {
        every_row: false,
        ..ctx.clone()
    };
    let (report, _) = match inspect::run(&inspect_args, &quiet) {
        Ok(found) => found,
        // A target that does not exist is the user's to fix: say so, as inspect does.
        Err(error) if args.targets.names_processes() => return Err(error),
        Err(error) => {
            return Ok(vec![
                Check::new("inspect", Group::Inspect, "the live sockets")
                    .skipped(format!("{error:#}")),
            ]);
        }
    };
    notes.extend(report.notes.iter().cloned());
    convert::metrics_from_inspect(&report, metrics);
    let mut checks = convert::from_inspect(&report);
    checks.extend(listener_expectations(loaded, &report));
    if let Some(limit) = &loaded.config.ports.max_used_ratio {
        let limit = *limit.get_ref();
        let busiest = report.port_budget.first();
        let check = Check::new(
            "config.ports.max-used-ratio",
            Group::Config,
            format!(
                "no destination's TIME_WAIT holds over {:.0}% of the ephemeral ports",
                limit * 100.0
            ),
        )
        .fix("reuse connections, widen net.ipv4.ip_local_port_range, or spread destinations");
        checks.push(match busiest {
            Some(d) => check
                .evidence(format!(
                    "{} TIME_WAIT sockets toward {} hold {:.1}% of the ports",
                    d.time_wait,
                    d.destination,
                    d.used_ratio * 100.0
                ))
                .judged(if d.used_ratio <= limit {
                    Level::Ok
                } else {
                    Level::Warn
                }),
            None => check.evidence("no TIME_WAIT socket holds an ephemeral port"),
        });
    }
    Ok(checks)
}

/// `[[listener]]` requirements against the listeners inspect found.
fn listener_expectations(loaded: &config::Loaded, report: &inspect::InspectReport) -> Vec<Check> {
    loaded
        .config
        .listener
        .iter()
        .map(|want| {
            let id = format!("config.listener.{}", want.port);
            let title = format!("a listener on port {} as the project expects", want.port);
            let found: Vec<&inspect::ListenerView> = report
                .listeners
                .iter()
                .filter(|l| l.local.port() == want.port)
                .collect();
            let check = Check::new(id, Group::Config, title);
            let Some(listener) = found.first() else {
                return check
                    .evidence(format!("nothing listens on port {}", want.port))
                    .judged(Level::Warn);
            };
            let mut wrong = Vec::new();
            let mut unknown = Vec::new();
            for (name, wanted, actual) in [
                ("SO_REUSEADDR", want.reuseaddr, listener.reuseaddr),
                ("SO_REUSEPORT", want.reuseport, listener.reuseport),
            ] {
                match (wanted, actual) {
                    (Some(w), Some(a)) if w != a => {
                        wrong.push(format!("{name} is {} (expected {})", on_off(a), on_off(w)));
                    }
                    (Some(_), None) => unknown.push(name),
                    _ => {}
                }
            }
            if let (Some(min), Some(backlog)) = (want.min_backlog, listener.backlog)
                && backlog < min
            {
                wrong.push(format!("backlog is {backlog} (expected at least {min})"));
            }
            let subject = format!("{} {}", listener.local, who(listener));
            if !wrong.is_empty() {
                check
                    .subject(subject)
                    .evidence(wrong.join("; "))
                    .fix("set the options before bind()/listen() in the program")
                    .judged(Level::Warn)
            } else if !unknown.is_empty() {
                check.subject(subject).skipped(format!(
                    "{} could not be read: sockdoc needs ptrace access to the process (root)",
                    unknown.join(", ")
                ))
            } else {
                check
                    .subject(subject)
                    .evidence("as expected")
                    .judged(Level::Ok)
            }
        })
        .collect()
}

fn on_off(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}

fn who(listener: &inspect::ListenerView) -> String {
    match (&listener.process, listener.pid) {
        (Some(name), Some(pid)) => format!("{name}/{pid}"),
        _ => "an unknown process".to_owned(),
    }
}
