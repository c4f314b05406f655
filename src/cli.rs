//! The command line: the global flags and one subcommand per command, each carrying the
//! arguments its command defines in `commands::args`. The top layer: it may use any module
//! below it, and nothing imports from it.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::commands::args::{
    BacklogArgs, CheckArgs, InspectArgs, NagleArgs, PartialSendArgs, PortsArgs, ProveArgs,
    ReuseTestArgs, ScenarioArgs, SocketsArgs, SockoptArgs, SysctlAdviceArgs, TimeoutsArgs, UdpArgs,
    parse_timeout,
};
use crate::report::{ColorWhen, Format};

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
        3 could not run as asked (port held by a live socket, permission, feature missing).\n\n\
        Output width: COLUMNS when set, else the terminal's width, else 100 columns when piped; \
        --color and NO_COLOR change colour only.",
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
    /// Print exactly one JSON document on stdout instead of tables (--format json)
    #[arg(long, global = true)]
    pub json: bool,

    /// Output format: table, json, junit, github, prometheus (check, inspect, sysctl-advice),
    /// conf (sysctl-advice)
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        hide_possible_values = true
    )]
    pub format: Option<Format>,

    /// Write the output to FILE instead of stdout, atomically (a temporary file in the same
    /// directory, renamed over FILE once complete: a reader never sees a partial file)
    #[arg(long, global = true, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,

    /// When to colour the output: auto (a terminal, and NO_COLOR unset), always, never
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub color: ColorWhen,

    /// Upper bound for every blocking socket operation (connect, accept, read, write, waits
    /// for a state change), e.g. 500ms, 2s; 1ms to 10m
    #[arg(long, global = true, allow_hyphen_values = true, default_value = "2s", value_parser = parse_timeout, value_name = "DURATION")]
    pub timeout: Duration,

    /// Read /proc and /etc under DIR instead of / (a saved tree, fixtures): sysctl-advice
    /// only, since every other command measures the live kernel
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: std::path::PathBuf,

    /// Run in another network namespace: a name `ip netns list` shows, or a path such as
    /// /proc/PID/ns/net (a container's). Sockets, /proc/net and /proc/sys/net are then that
    /// namespace's; needs root
    #[arg(long, global = true, value_name = "NAME|PATH")]
    pub netns: Option<String>,
}

#[derive(Debug, Subcommand, strum::IntoStaticStr, strum::VariantNames)]
#[strum(serialize_all = "kebab-case")]
pub enum Command {
    /// Who holds a port, why bind() fails with "Address already in use", and the fix
    #[command(
        long_about = "Who holds PORT, why bind() fails with \"Address already in use\" (EADDRINUSE), and the fix.\n\n\
            1. Lists every TCP socket on PORT (NETLINK_SOCK_DIAG): state, addresses, timer, uid, owning process. \
            A live socket holding it stops the run (exit 3) without disturbing it. If only TIME_WAIT sockets \
            hold it, two harmless bind() probes (SO_REUSEADDR, SO_REUSEPORT) say which option a new server needs.\n\
            2. Reproduces the restart problem on PORT: a server that closes first leaves TIME_WAIT, and a \
            new bind() without SO_REUSEADDR fails.\n\
            3. Runs the bind-rule matrix (SO_REUSEADDR / SO_REUSEPORT on the old and the new socket, TIME_WAIT \
            vs LISTEN holders, wildcard vs specific address, SO_LINGER 0, client-closes-first, std vs socket2), \
            each trial on its own fresh ephemeral port, and compares every measured outcome with what Linux \
            documents. A disagreement is shown as a mismatch and the exit code is 1.\n\n\
            TIME_WAIT sockets sockdoc creates belong to the kernel and expire on their own, 60 s \
            (TCP_TIMEWAIT_LEN) after the close plus up to a few seconds of timer-wheel rounding; --wait \
            measures it.",
        after_long_help = "Examples:\n  \
            sockdoc reuse-test              # ephemeral port, IPv4 loopback\n  \
            sockdoc reuse-test 8080         # who holds 8080, then reproduce on 8080\n  \
            sockdoc reuse-test --addr ::1   # the same rules over IPv6\n  \
            sockdoc reuse-test --wait       # also measure how long TIME_WAIT really lasts (60 s + rounding)\n  \
            sockdoc reuse-test --json | jq '.trials[] | select(.matches | not)'"
    )]
    ReuseTest(ReuseTestArgs),

    /// The 40 ms Nagle/delayed-ACK stall and "sticky packets", measured and attributed
    #[command(
        long_about = "Reproduces the two small-write problems on this kernel and attributes them.\n\n\
            1. Request/response: the client sends a header and a body as two send() calls, the server \
            replies; with Nagle on, the body waits for the delayed ACK of the header (~40 ms) whenever the \
            server is in pingpong mode: from round 2 on with the default net.ipv4.tcp_pingpong_thresh of 1; \
            with a threshold N, rounds 1 to N are fast and then every Nth round stalls. Every round is \
            judged against that prediction.\n\
            2. Burst: many small writes back to back; counts the segments the sender really sent \
            (TCP_INFO tcpi_data_segs_out), its congestion window before and after, and the reads the \
            receiver needed, then shows that a 4-byte big-endian length prefix recovers every message.\n\
            3. Attribution: TcpExtDelayedACKs and TcpExtTCPAutoCorking deltas, net.ipv4.tcp_autocorking, \
            and the --cork / --quickack variants say which mechanism merged or stalled, and the fix.",
        after_long_help = "Examples:\n  \
            sockdoc nagle                       # Nagle on and off, side by side\n  \
            sockdoc nagle --nodelay off         # just the stall\n  \
            sockdoc nagle --nodelay off --warmup 0 --rounds 5   # round 1 fast, rounds 2-5 stall\n  \
            sockdoc nagle --cork --quickack     # add the TCP_CORK and TCP_QUICKACK variants\n  \
            sockdoc nagle --nodelay on --max-p99 5ms   # CI: fail when p99 exceeds 5 ms\n  \
            sockdoc nagle --port 9000           # fixed port, to follow with tcpdump -i lo port 9000"
    )]
    Nagle(NagleArgs),

    /// TCP sysctl advice for this kernel, backed by live counters; lints sysctl config files
    #[command(
        long_about = "Judges the TIME_WAIT, port, backlog and Nagle sysctls against the running kernel \
            and its live counters, calls out the folklore (tcp_fin_timeout does not shorten TIME_WAIT, \
            tcp_tw_recycle is gone, lowering tcp_max_tw_buckets skips TIME_WAIT's protection), and lints \
            the files `sysctl --system` reads. It never writes to /proc/sys.\n\n\
            Exit codes: 0 nothing at `warn` (with --check: nothing at `advise` or `warn`); 1 a \
            `warn` finding or config problem (with --check: any `advise` or `warn`); 2 bad usage, \
            including a --root that does not exist; 3 nothing to judge: a --root (or a /proc) \
            without proc/sys/net.",
        after_long_help = "Examples:\n  \
            sockdoc sysctl-advice                     # advice for a host that is both client and server\n  \
            sockdoc sysctl-advice --role client       # outbound-heavy: ports and tw_reuse\n  \
            sockdoc sysctl-advice --format conf       # a ready-to-drop /etc/sysctl.d/ snippet\n  \
            sockdoc sysctl-advice --check             # CI: exit 1 on any advise or warn finding\n  \
            sockdoc sysctl-advice --root tests/fixtures/sysctl/old-kernel"
    )]
    SysctlAdvice(SysctlAdviceArgs),

    /// List TCP and UDP sockets with states, timers and owners (ss-grade, explained)
    #[command(
        long_about = "Lists TCP and UDP sockets, IPv4 and IPv6, through NETLINK_SOCK_DIAG (falling back to \
            /proc/net with a note): state, addresses, queues, the pending timer with the time left \
            (TIME_WAIT included), uid (\"-\" where the kernel reports none: TIME_WAIT and SYN_RECV request \
            sockets, inet_twsk_diag_fill() and inet_req_diag_fill() in net/ipv4/inet_diag.c) and the \
            owning process where /proc shows it. Rows are printed as they are read, so hundreds of thousands of sockets stream with flat memory.\n\n\
            --summary counts sockets by state; counts the TIME_WAIT sockets that hold an ephemeral \
            port (local port inside ip_local_port_range: normally a connection this host opened and \
            closed first) per (local address, remote address, remote port) — the unit ports run out in — \
            against the range minus ip_local_reserved_ports, judged as sysctl-advice judges it; \
            lists listeners whose accept queue is filling or full (it holds backlog + 1); and counts \
            CLOSE_WAIT sockets per process against the process's open-files limit, flagging a \
            process that leaves them unclosed.",
        after_long_help = "Examples:\n  \
            sockdoc sockets                          # every TCP and UDP socket\n  \
            sockdoc sockets -t --state time-wait     # TIME_WAIT with the time left\n  \
            sockdoc sockets --listening              # listeners and their processes\n  \
            sockdoc sockets --port 8080 --info       # one port, with rtt, cwnd, retransmits\n  \
            sockdoc sockets --summary                # states, TIME_WAIT, queues, CLOSE_WAIT\n  \
            sudo sockdoc --netns /proc/PID/ns/net sockets  # a container's sockets"
    )]
    Sockets(SocketsArgs),

    /// Examine a running program's, container's or host's sockets: findings with evidence and fix
    #[command(
        long_about = "Examines live sockets — of one process (--pid, --process), one port (--port) or \
            the whole host or network namespace — and judges them with the rules sockdoc's lessons \
            prove: a listener that cannot restart (no SO_REUSEADDR), an accept queue too small or \
            overflowing, CLOSE_WAIT leaks, small writes with Nagle on, SO_LINGER 0, idle connections \
            without keepalive, senders stuck on a zero window, receive queues nobody reads, \
            retransmissions, ephemeral-port pressure and ports pinned by bind().\n\n\
            What it reads: sock_diag (state, queues, timers, tcp_info, memory; no privilege needed), \
            /proc/PID/fd (who holds each socket; other users' processes need root), and — with ptrace \
            access to the process (root, CAP_SYS_PTRACE with CAP_DAC_READ_SEARCH, or your own process where \
            kernel.yama.ptrace_scope allows) — each socket's options, through a pidfd_getfd(2) \
            duplicate that is only read and closed at once. Options it cannot read are `unknown` with \
            the reason, and the rules that need them say \"not judged\".\n\n\
            --for samples twice (default 1 s apart) to turn counters into rates. A process in another \
            network namespace (a container's) is examined from inside it: sockdoc enters it first \
            (root needed).\n\n\
            Exit codes: 0 no finding at --fail-on (default warn) or above; 1 such a finding; 2 bad \
            usage; 3 the target does not exist or cannot be seen.",
        after_long_help = "Examples:\n  \
            sockdoc inspect                       # the whole host (or namespace)\n  \
            sockdoc inspect --port 8080           # whoever is on port 8080\n  \
            sudo sockdoc inspect --pid 1234       # one process, options included\n  \
            sudo sockdoc inspect --process nginx  # every nginx process\n  \
            sockdoc inspect --for 10s --fail-on advise   # CI: longer sample, stricter\n  \
            sockdoc inspect --json | jq '.findings[] | {id, severity, evidence}'"
    )]
    Inspect(InspectArgs),

    /// One run for CI and fleets: kernel self-test, sysctl and live-socket checks, with severities
    #[command(
        long_about = "Runs, in one process, every check sockdoc has: the kernel self-test (the bind-rule \
            matrix and the lessons' experiments, each measurement against what Linux documents, and a \
            short Nagle stall measurement), sysctl-advice's findings for --role, and inspect's findings \
            for the host or the targets (--port, --pid, --process; --netns for a container) — plus a \
            project's own expectations from ./sockdoc.toml or --config FILE (thresholds, required \
            listener options, sysctl values). Each check has a stable id (kernel.bind.…, sysctl.…, \
            inspect.…, config.…), a severity (info, advise, warn) and the fix.\n\n\
            --format junit | github | prometheus writes what CI systems and node_exporter's textfile \
            collector read; --output FILE writes it atomically.\n\n\
            Exit codes: 0 no check failed at --fail-on (default warn) or above; 1 one did; 2 bad usage \
            or a bad config (file, line and key named); 3 could not run.",
        after_long_help = "Examples:\n  \
            sockdoc check                                   # everything, for this host\n  \
            sockdoc check --format junit --output sockdoc.xml   # CI: a JUnit report\n  \
            sockdoc check --format github                   # CI: GitHub Actions annotations\n  \
            sockdoc check --format prometheus --output /var/lib/prometheus/node-exporter/sockdoc.prom\n  \
            sockdoc check --only sysctl --fail-on advise    # just the sysctls, stricter\n  \
            sockdoc check --skip kernel.nagle --port 8080   # no Nagle timing; inspect port 8080\n  \
            sockdoc check --print-config > sockdoc.toml     # a template of the project's expectations"
    )]
    Check(CheckArgs),

    /// Prove each sysctl suggestion and myth: both values, measured, in throwaway namespaces
    #[command(
        long_about = "Runs the experiment behind each piece of sysctl advice twice — the value people set \
            and the value sockdoc suggests — each in a network namespace of its own that dies with it, \
            and reports the two side by side against what Linux documents: somaxconn caps the accept \
            queue; lowering tcp_max_tw_buckets skips TIME_WAIT (TCPTimeWaitOverflow); tcp_fin_timeout \
            leaves TIME_WAIT at 60 s and changes only an orphaned FIN_WAIT2; tcp_tw_reuse turns \
            EADDRNOTAVAIL into reuse after a second; ip_local_port_range bounds the connections to one \
            destination. The host's /proc/sys is never written.\n\n\
            As root the namespaces are plain network namespaces; otherwise each is owned by a new user \
            namespace, where the kernel allows unprivileged ones (if it does not, exit 3 says which \
            setting forbids it).\n\n\
            Exit codes: 0 every proof came out as documented; 1 one did not (a kernel mismatch); 2 bad \
            usage; 3 a trial could not run.",
        after_long_help = "Examples:\n  \
            sockdoc prove                       # every knob, about 5 s\n  \
            sockdoc prove tcp_fin_timeout       # the TIME_WAIT myth, settled\n  \
            sockdoc prove tcp_tw_reuse ip_local_port_range --json"
    )]
    Prove(ProveArgs),

    /// Open a socket, set options, and read back what the kernel really applied
    #[command(
        long_about = "Opens a socket, applies each --set option, reads every option back from the kernel \
            and shows requested against applied, with the reason when they differ (SO_RCVBUF doubled \
            and capped by net.core.rmem_max, options that are not sticky such as TCP_QUICKACK).\n\n\
            --defaults shows what a plain socket(2), a socket2 Socket and std's TcpListener / \
            TcpStream leave set, measured from real sockets.",
        after_long_help = "Examples:\n  \
            sockdoc sockopt --set rcvbuf=256K --set nodelay=on\n  \
            sockdoc sockopt --listen --set reuseaddr=on --set reuseport=on\n  \
            sockdoc sockopt --connect --set linger=0s --set recv-timeout=2s\n  \
            sockdoc sockopt --udp -6 --set rcvbuf=8M\n  \
            sockdoc sockopt --defaults"
    )]
    Sockopt(SockoptArgs),

    /// Listen backlog overflow: a listener that never accepts, and clients that pile up
    #[command(after_long_help = "Examples:\n  \
        sockdoc backlog                          # backlog 8, 16 clients\n  \
        sockdoc backlog --backlog 2 --clients 5 --json")]
    Backlog(BacklogArgs),

    /// UDP keeps message boundaries, and truncates a datagram larger than the read buffer
    #[command(after_long_help = "Examples:\n  \
        sockdoc udp                              # a 2000-byte datagram into a 1024-byte buffer\n  \
        sockdoc udp --size 9000 --bufsize 512")]
    Udp(UdpArgs),

    /// send() writes less than asked: partial sends, EAGAIN, and the send-all loop
    #[command(
        name = "partial-send",
        after_long_help = "Examples:\n  \
        sockdoc partial-send\n  \
        sockdoc partial-send --bytes 4M --sndbuf 8K"
    )]
    PartialSend(PartialSendArgs),

    /// The peer closes: recv() returns 0, ECONNRESET after an RST, EPIPE on a later write
    #[command(
        name = "peer-close",
        after_long_help = "Examples:\n  \
        sockdoc peer-close\n  \
        sockdoc peer-close --json"
    )]
    PeerClose(ScenarioArgs),

    /// Blocking, non-blocking and timed socket calls: SO_RCVTIMEO, EAGAIN, connect timeouts
    #[command(after_long_help = "Examples:\n  \
        sockdoc timeouts\n  \
        sockdoc timeouts --recv-timeout 50ms --connect-timeout 100ms")]
    Timeouts(TimeoutsArgs),

    /// Print the shell completion script for bash, zsh, fish, elvish or powershell
    #[command(
        long_about = "Print the shell completion script for SHELL on stdout, generated from \
            sockdoc's own command line, so it completes exactly the commands, flags and values \
            this binary accepts. Install it where your shell looks (README, Install).",
        after_long_help = "Examples:\n  \
        sockdoc completions bash > ~/.local/share/bash-completion/completions/sockdoc\n  \
        sockdoc completions zsh > ~/.zfunc/_sockdoc      # a directory in $fpath\n  \
        sockdoc completions fish > ~/.config/fish/completions/sockdoc.fish"
    )]
    Completions(crate::commands::args::CompletionsArgs),

    /// Print the man page (roff): sockdoc.1, or sockdoc-COMMAND.1 for one command
    #[command(
        long_about = "Print a man page (roff) on stdout, generated from sockdoc's own command \
            line. Without COMMAND it is the top page, sockdoc.1: the global flags and the list \
            of commands, each pointing to its own page; with COMMAND it is that command's page, \
            sockdoc-COMMAND.1, with all of its flags.",
        after_long_help = "Examples:\n  \
        sockdoc man | man -l -                    # read the top page\n  \
        sockdoc man nagle | man -l -              # one command's page\n  \
        sockdoc man > /usr/local/share/man/man1/sockdoc.1",
        mut_arg("command", |arg| arg.value_parser(
            clap::builder::PossibleValuesParser::new(
                <Command as strum::VariantNames>::VARIANTS.iter().copied(),
            )
        ))
    )]
    Man(crate::commands::args::ManArgs),

    /// A server that never closes after the peer's FIN: CLOSE_WAIT piles up, then EMFILE
    #[command(
        name = "close-wait",
        long_about = "A server that never closes after the peer's FIN. Clients connect and \
            close; the leaky server reads recv() == 0 and keeps the socket: sock_diag shows them \
            in CLOSE_WAIT (no timer ends it) and the open descriptors grow by one each. With \
            this process's soft RLIMIT_NOFILE lowered to its next descriptor (then restored), \
            accept() fails with EMFILE while one more client waits in the accept queue. The fix, \
            closing on recv() == 0, is then measured: no CLOSE_WAIT, descriptors back to where \
            they were. In production, `sockdoc inspect --pid PID` finds the leak.",
        after_long_help = "Examples:\n  \
        sockdoc close-wait                       # 8 clients\n  \
        sockdoc close-wait --clients 100 --json"
    )]
    CloseWait(crate::commands::args::CloseWaitArgs),

    /// Ephemeral-port exhaustion on the client: EADDRNOTAVAIL, bind-before-connect, the fixes
    #[command(
        long_about = "Runs out of client ports on purpose, in a throwaway network namespace whose \
            net.ipv4.ip_local_port_range holds only --ports ports, and measures each way of \
            spending them, every connection held open: connect() to one destination makes as many \
            connections as the range has ports, then fails with EADDRNOTAVAIL; a second destination \
            gets as many again (the limit is per 4-tuple); bind(ip, 0) before connect() runs out \
            after that many in all, whatever the destinations, with EADDRINUSE from bind(); \
            IP_BIND_ADDRESS_NO_PORT brings back a full range per destination; IP_LOCAL_PORT_RANGE \
            (Linux 6.3+, detected) holds a socket to a sub-range; SO_REUSEADDR on the client shares \
            no port, unless net.ipv4.ip_autobind_reuse is 1 (measured in a second namespace), when \
            bind() shares ports and connect() fails instead. Each is checked against what Linux documents. The host's /proc/sys is never \
            written.\n\n\
            As root the namespace is a plain network namespace; otherwise it is owned by a new user \
            namespace, where the kernel allows unprivileged ones (if it does not, exit 3 says which \
            setting forbids it). Ports held in TIME_WAIT are `sockdoc prove tcp_tw_reuse`'s lesson.\n\n\
            Exit codes: 0 every case came out as documented; 1 one did not (a kernel mismatch); 2 \
            bad usage; 3 the experiment could not run.",
        after_long_help = "Examples:\n  \
            sockdoc ports                       # ten ephemeral ports, every case\n  \
            sockdoc ports --ports 100           # a bigger range, the same lesson\n  \
            sockdoc ports --json | jq '.checks[] | select(.matches | not)'"
    )]
    Ports(PortsArgs),

    /// A middlebox forgets an idle flow: silent death; keepalive and TCP_USER_TIMEOUT
    #[command(
        long_about = "Shows, measured, what happens to an idle TCP connection when a stateful \
            middlebox on the path (a NAT gateway, a firewall, a load balancer) forgets the flow. \
            In a throwaway network namespace, loopback traffic is conntracked and nftables drops \
            `ct state invalid` on input, with nf_conntrack_tcp_timeout_established = 2 s and \
            nf_conntrack_tcp_loose = 0. Four cases run side by side, each on a fresh connection: \
            no keepalive (after 3 s idle the write is accepted, never delivered, and retransmitted \
            with backoff); keepalive probing from 1 s (the probes keep the flow known, the write \
            is delivered at once); keepalive probing from 3 s (too late: the kernel declares the \
            connection dead, ETIMEDOUT, after idle + intvl × cnt); TCP_USER_TIMEOUT 2 s (the \
            unacknowledged write fails after 2 s). The host's rules and /proc/sys are never \
            touched. Takes about 6 s.\n\n\
            Needs nft (nftables) and conntrack in the kernel. As root the namespace is a plain \
            network namespace; otherwise it is owned by a new user namespace, where the kernel \
            allows unprivileged ones.\n\n\
            Exit codes: 0 every case came out as documented; 1 one did not (a kernel mismatch); \
            2 bad usage; 3 could not run (no nft, no namespace).",
        after_long_help = "Examples:\n  \
            sudo sockdoc keepalive                          # all four cases, about 6 s\n  \
            sudo sockdoc keepalive no-keepalive keepalive   # the silent death and the fix\n  \
            sudo sockdoc keepalive user-timeout --json"
    )]
    Keepalive(crate::commands::args::KeepaliveArgs),
}

impl Command {
    /// The subcommand's name as typed (`reuse-test`), derived like clap's.
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn every_command_name_is_the_one_clap_parses() {
        for sub in Cli::command().get_subcommands() {
            let mut argv = vec!["sockdoc".to_owned(), sub.get_name().to_owned()];
            // A required positional (completions' SHELL) gets its first possible value.
            for arg in sub.get_positionals().filter(|arg| arg.is_required_set()) {
                argv.push(arg.get_possible_values()[0].get_name().to_owned());
            }
            let cli =
                Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{}: {e}", sub.get_name()));
            assert_eq!(cli.command.name(), sub.get_name());
        }
    }
}
