//! The arguments of the lessons that experiment in throwaway namespaces or on this process's
//! own limits (`prove`, `close-wait`, `ports`, `keepalive`).

use clap::{Args, ValueEnum};

use super::ScenarioArgs;

/// A knob `prove` can settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProveKnob {
    /// net.core.somaxconn 128 vs 4096: the accept queue limit
    Somaxconn,
    /// net.ipv4.tcp_max_tw_buckets 0 vs 131072: TIME_WAIT skipped, and what that costs
    #[value(name = "tcp_max_tw_buckets", alias = "tcp-max-tw-buckets")]
    TcpMaxTwBuckets,
    /// net.ipv4.tcp_fin_timeout 60 vs 5: TIME_WAIT stays 60 s, FIN_WAIT2 follows
    #[value(name = "tcp_fin_timeout", alias = "tcp-fin-timeout")]
    TcpFinTimeout,
    /// net.ipv4.tcp_tw_reuse 0 vs 1 with ten ephemeral ports: EADDRNOTAVAIL or reuse
    #[value(name = "tcp_tw_reuse", alias = "tcp-tw-reuse")]
    TcpTwReuse,
    /// net.ipv4.ip_local_port_range 10 vs 40 ports: connections to one destination
    #[value(name = "ip_local_port_range", alias = "ip-local-port-range")]
    IpLocalPortRange,
    /// net.ipv4.tcp_autocorking 0 vs 1: small writes with TCP_NODELAY, merged or not
    #[value(name = "tcp_autocorking", alias = "tcp-autocorking")]
    TcpAutocorking,
}

#[derive(Debug, Args)]
pub struct ProveArgs {
    /// The knobs to prove (default: all); e.g. tcp_fin_timeout tcp_tw_reuse
    #[arg(value_enum, value_name = "KNOB")]
    pub knobs: Vec<ProveKnob>,
}

/// The most clients `close-wait` leaks: enough to see the pile-up, far below any
/// descriptor limit.
pub const MAX_CLOSE_WAIT_CLIENTS: u32 = 256;

#[derive(Debug, Args)]
pub struct CloseWaitArgs {
    /// Clients that connect and close, 1 to 256: the leaky server keeps each socket
    #[arg(long, allow_negative_numbers = true, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_CLOSE_WAIT_CLIENTS)), value_name = "N")]
    pub clients: u32,

    #[command(flatten)]
    pub scenario: ScenarioArgs,
}

/// The most ports `ports --ports` puts in its range: each case holds up to twice that many
/// connections (four descriptors each) at once, and 1000 keeps the run well under a second.
pub const MAX_LAB_PORTS: u32 = 1000;

#[derive(Debug, Args)]
pub struct PortsArgs {
    /// Ephemeral ports in the throwaway namespace's ip_local_port_range (40000 up), 2 to 1000
    #[arg(long, allow_negative_numbers = true, default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=i64::from(MAX_LAB_PORTS)), value_name = "N")]
    pub ports: u32,
}

/// A case `keepalive` runs, each on a fresh connection across the forgetful middlebox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeepaliveCase {
    /// No keepalive: idle past the middlebox timeout, then write
    NoKeepalive,
    /// SO_KEEPALIVE with TCP_KEEPIDLE 1 s (below the middlebox timeout), intvl 1 s, cnt 3
    Keepalive,
    /// SO_KEEPALIVE with TCP_KEEPIDLE 3 s (past the middlebox timeout), intvl 1 s, cnt 2
    KeepaliveTooLate,
    /// TCP_USER_TIMEOUT 2 s without keepalive: idle, then write
    UserTimeout,
}

#[derive(Debug, Args)]
pub struct KeepaliveArgs {
    /// The cases to run (default: all, in parallel, about 6 s); e.g. no-keepalive keepalive
    #[arg(value_enum, value_name = "CASE")]
    pub cases: Vec<KeepaliveCase>,
}
