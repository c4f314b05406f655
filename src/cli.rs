//! Command-line types (clap derive) and nothing else: no crate-internal imports, so the
//! whole interface reads in one file.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The longest `--timeout` accepted; anything longer is almost certainly a typo (`5m` for `5ms`).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Parser)]
#[command(
    name = "sockdoc",
    version,
    about = "A doctor for Linux sockets: reproduce the problem on this kernel, name the mechanism, give the fix",
    long_about = "A doctor for Linux sockets.\n\n\
        sockdoc reproduces socket problems with real sockets on this machine's kernel, \
        attributes them to the mechanism that caused them, with evidence, and gives the fix.\n\n\
        Exit codes: 0 ran and found nothing that needs action; 1 found something that needs \
        action (or the kernel disagreed with its documented behaviour); 2 bad usage; \
        3 could not run as asked (port held by a live socket, permission, feature missing).",
    arg_required_else_help = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print exactly one JSON document on stdout instead of tables
    #[arg(long, global = true)]
    pub json: bool,

    /// When to colour the output: auto (a terminal, and NO_COLOR unset), always, never
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,

    /// Upper bound for every blocking socket operation (connect, accept, read, write, waits
    /// for a state change), e.g. 500ms, 2s
    #[arg(long, global = true, default_value = "2s", value_parser = parse_timeout, value_name = "DURATION")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// Colour when stdout is a terminal and NO_COLOR is not set
    Auto,
    /// Always colour, even into a pipe
    Always,
    /// Never colour
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Who holds a port, why bind() fails with "Address already in use", and the fix
    #[command(
        long_about = "Who holds PORT, why bind() fails with \"Address already in use\" (EADDRINUSE), and the fix.\n\n\
            1. Lists every TCP socket on PORT (NETLINK_SOCK_DIAG): state, addresses, timer, uid, owning process. \
            A live socket holding it stops the run (exit 3) without disturbing it.\n\
            2. Reproduces the restart problem on PORT: a server that closes first leaves TIME_WAIT, and a \
            new bind() without SO_REUSEADDR fails.\n\
            3. Runs the bind-rule matrix (SO_REUSEADDR / SO_REUSEPORT on the old and the new socket, TIME_WAIT \
            vs LISTEN holders, wildcard vs specific address, SO_LINGER 0, client-closes-first, std vs socket2), \
            each trial on its own fresh ephemeral port, and compares every measured outcome with what Linux \
            documents. A disagreement is shown as a mismatch and the exit code is 1.\n\n\
            TIME_WAIT sockets sockdoc creates belong to the kernel and expire on their own after 60 s.",
        after_long_help = "Examples:\n  \
            sockdoc reuse-test              # ephemeral port, IPv4 loopback\n  \
            sockdoc reuse-test 8080         # who holds 8080, then reproduce on 8080\n  \
            sockdoc reuse-test --addr ::1   # the same rules over IPv6\n  \
            sockdoc reuse-test --wait       # also measure how long TIME_WAIT really lasts (~60 s)\n  \
            sockdoc reuse-test --json | jq '.trials[] | select(.matches | not)'"
    )]
    ReuseTest(ReuseTestArgs),
}

#[derive(Debug, Args)]
pub struct ReuseTestArgs {
    /// Port to inspect and reproduce on; 0 or omitted picks a free ephemeral port
    #[arg(value_name = "PORT", default_value_t = 0)]
    pub port: u16,

    /// Local address to bind, IPv4 or IPv6 (e.g. ::1)
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub addr: IpAddr,

    /// Follow the reproduced TIME_WAIT socket until the kernel drops it and report its real
    /// lifetime next to net.ipv4.tcp_fin_timeout (takes about a minute)
    #[arg(long)]
    pub wait: bool,
}

/// Parses a humantime duration for `--timeout`, rejecting zero (it would make every
/// blocking step fail at once) and values over [`MAX_TIMEOUT`].
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let value = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; write a duration such as 500ms, 2s or 1m"))?;
    if value.is_zero() {
        return Err("must be greater than zero, e.g. 500ms or 2s".into());
    }
    if value > MAX_TIMEOUT {
        return Err(format!(
            "at most {} is accepted (did you mean ms?)",
            humantime::format_duration(MAX_TIMEOUT)
        ));
    }
    Ok(value)
}

impl Command {
    /// The subcommand's name as typed, for reports and error documents.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ReuseTest(_) => "reuse-test",
        }
    }
}
