//! What Linux documents for a request, and the row that compares it with what the kernel
//! applied. Rules take typed inputs — the requested and applied `Value`s, the stage, the
//! limits and the sysctl values read once before the socket was made — and never read the
//! system themselves.

use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::time::Duration;

use super::request::Request;
use super::show::{bytes, duration_us, error_text, show, show_duration, unit};
use super::{Limits, OptionRow, Stage, Status};
use crate::sys::SysError;
use crate::sys::fs::Root;
use crate::sys::sockopt::{self as opts, BUFFER_CLAMP, BUFFER_DOUBLING, Opt, Value};
use crate::sys::sysctl;

/// The sysctl values the refusal hints quote (the catalogue's `Refusal::sysctl` keys), read
/// once, up front, through `--root`.
pub(super) struct Knobs(Vec<(&'static str, String)>);

impl Knobs {
    pub(super) fn read(root: &Root) -> Self {
        let mut knobs: Vec<(&'static str, String)> = Vec::new();
        let keys = Opt::ALL
            .into_iter()
            .flat_map(|opt| opt.info().refusals)
            .filter_map(|refusal| refusal.sysctl);
        for key in keys {
            if knobs.iter().all(|(k, _)| *k != key) {
                let value = sysctl::read_knob(root, key)
                    .value()
                    .map_or_else(|| "unreadable".into(), str::to_owned);
                knobs.push((key, value));
            }
        }
        Self(knobs)
    }

    fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map_or("unreadable", |(_, value)| value.as_str())
    }
}

/// What the explanations depend on.
pub(super) struct Env<'a> {
    pub limits: &'a Limits,
    pub knobs: &'a Knobs,
    pub stage: Stage,
    pub ipv6: bool,
    pub udp: bool,
}

/// What the kernel should report after a request, by the documented rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expect {
    Exactly(Value),
    /// TCP_MAXSEG once connected: the MSS in use, never above the request.
    AtMost(i64),
    /// TCP_QUICKACK: any value, the kernel changes it on its own.
    Anything,
}

/// The documented outcome of a request, with the rule that explains a difference (and
/// caveats worth knowing even when there is none).
pub(super) struct Expectation {
    pub expect: Expect,
    /// Why the applied value may differ from the request.
    rule: Option<String>,
    /// Something to know even when the value is exactly as requested.
    caveat: Option<String>,
    /// The kernel always transforms this value (SO_RCVBUF doubling), so even an applied
    /// value equal to the request went through the rule.
    transforms: bool,
}

impl Expectation {
    fn exactly(value: Value) -> Self {
        Self {
            expect: Expect::Exactly(value),
            rule: None,
            caveat: None,
            transforms: false,
        }
    }

    fn with_caveat(self, caveat: impl Into<String>) -> Self {
        Self {
            caveat: Some(caveat.into()),
            ..self
        }
    }
}

pub(super) fn expectation(opt: Opt, requested: &Value, env: &Env) -> Expectation {
    match (opt, requested) {
        (Opt::RcvBuf, Value::Bytes(size)) => buffer_expectation(
            *size,
            env.limits.rmem_max,
            env.limits.rcvbuf_min,
            "net.core.rmem_max",
            "SO_RCVBUFFORCE",
            "SOCK_MIN_RCVBUF",
        ),
        (Opt::SndBuf, Value::Bytes(size)) => buffer_expectation(
            *size,
            env.limits.wmem_max,
            env.limits.sndbuf_min,
            "net.core.wmem_max",
            "SO_SNDBUFFORCE",
            "SOCK_MIN_SNDBUF",
        ),
        (Opt::RecvTimeout | Opt::SendTimeout, Value::Duration(timeout)) => {
            timeout_expectation(opt, *timeout, env.limits)
        }
        (Opt::Linger, Value::Duration(Some(linger))) => {
            let expectation = whole_seconds(
                *linger,
                "SO_LINGER counts whole seconds (struct linger's l_linger is an int, socket(7))",
            );
            if linger.as_secs() == 0 {
                expectation.with_caveat(
                    "linger 0: close() aborts with RST instead of FIN (TcpExtTCPAbortOnData), \
                     skips TIME_WAIT and drops unsent data; the peer sees ECONNRESET. close() \
                     with unread received data sends RST even without linger \
                     (TcpExtTCPAbortOnClose), and shutdown() ignores linger and sends FIN \
                     (__tcp_close(), tcp_shutdown(), net/ipv4/tcp.c)",
                )
            } else {
                expectation
            }
        }
        (Opt::KeepIdle | Opt::KeepInterval, Value::Duration(Some(time))) => whole_seconds(
            *time,
            &format!(
                "{} counts whole seconds (tcp(7))",
                opt.kernel_name(env.ipv6)
            ),
        ),
        (Opt::UserTimeout, Value::Duration(timeout)) => user_timeout_expectation(*timeout),
        (Opt::KeepAlive, Value::Bool(true)) => {
            Expectation::exactly(Value::Bool(true)).with_caveat(if env.udp {
                "UDP accepts SO_KEEPALIVE and ignores it: only TCP sends keepalive probes"
            } else {
                "probes start only after keepalive-idle (TCP_KEEPIDLE) of silence, 2 hours \
                 unless set (net.ipv4.tcp_keepalive_time)"
            })
        }
        (Opt::QuickAck, _) => Expectation {
            expect: Expect::Anything,
            ..Expectation::exactly(requested.clone())
        }
        .with_caveat(format!(
            "TCP_QUICKACK is not permanent (tcp(7)): the read shows the current mode, which the \
             kernel leaves and re-enters on its own as ACKs are sent and data arrives{}; set it \
             again after each read if you need it",
            match env.stage {
                Stage::Connected => ", and a new connection starts in quick-ACK mode",
                Stage::Listening => ", and listen() starts over in quick-ACK mode",
                Stage::Unbound | Stage::Bound => "",
            }
        )),
        (Opt::MaxSeg, Value::Count(mss)) if env.stage == Stage::Connected => Expectation {
            expect: Expect::AtMost(*mss),
            rule: Some(
                "once connected TCP_MAXSEG reads the MSS in use (tcp(7)): at most the value \
                 set, less TCP options (12 bytes of timestamps), the peer's MSS and half the \
                 largest window it offered"
                    .into(),
            ),
            ..Expectation::exactly(requested.clone())
        },
        (Opt::Cloexec, Value::Bool(false)) => Expectation::exactly(Value::Bool(false)).with_caveat(
            "without FD_CLOEXEC the socket stays open in every program this process exec()s",
        ),
        _ => Expectation::exactly(requested.clone()),
    }
}

/// Options the kernel keeps in whole seconds: sockdoc sends the seconds, the rest is lost.
fn whole_seconds(requested: Duration, rule: &str) -> Expectation {
    let whole = Duration::from_secs(requested.as_secs());
    Expectation {
        rule: (whole != requested).then(|| {
            format!(
                "{rule}: {} was sent as {}",
                show_duration(requested),
                show_duration(whole)
            )
        }),
        ..Expectation::exactly(Value::Duration(Some(whole)))
    }
}

/// TCP_USER_TIMEOUT: whole milliseconds; 0 restores the default (tcp(7)).
fn user_timeout_expectation(timeout: Option<Duration>) -> Expectation {
    let millis = timeout.map_or(0, |t| t.as_millis());
    let kept = Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX));
    let expectation = Expectation {
        rule: timeout.filter(|t| *t != kept).map(|t| {
            format!(
                "TCP_USER_TIMEOUT counts whole milliseconds (tcp(7)): {} was sent as {}",
                show_duration(t),
                if kept.is_zero() {
                    "0, which means the system default".to_string()
                } else {
                    show_duration(kept)
                }
            )
        }),
        ..Expectation::exactly(Value::Duration((!kept.is_zero()).then_some(kept)))
    };
    if kept.is_zero() {
        expectation.with_caveat(
            "0 restores the system default: give up after net.ipv4.tcp_retries2 retransmissions \
             (tcp(7))",
        )
    } else {
        expectation
    }
}

/// SO_RCVBUF / SO_SNDBUF: capped by the sysctl, clamped to INT_MAX / 2, doubled, raised to
/// the floor (`__sock_set_rcvbuf`, `SO_SNDBUF` in net/core/sock.c).
fn buffer_expectation(
    size: u64,
    cap: Option<u64>,
    floor: u64,
    cap_name: &str,
    force_name: &str,
    floor_name: &str,
) -> Expectation {
    let capped = cap.map_or(size, |cap| size.min(cap));
    let doubled = capped.min(BUFFER_CLAMP) * BUFFER_DOUBLING;
    let applied = doubled.max(floor);
    let doubling = format!(
        "doubled by the kernel for its bookkeeping overhead (socket(7)): 2 × {capped} = {doubled}"
    );
    let mut rule = match cap {
        Some(cap) if size > cap => format!(
            "capped at {cap_name} = {cap} (raise it, or use {force_name} with CAP_NET_ADMIN), \
             then {doubling}"
        ),
        _ => doubling,
    };
    if applied > doubled {
        let _ = write!(
            rule,
            ", then raised to the kernel's minimum {floor_name} = {floor} bytes (measured)"
        );
    }
    if let Some(cap) = cap.filter(|cap| size <= *cap) {
        let _ = write!(rule, "; the {cap_name} cap ({cap}) did not apply");
    }
    Expectation {
        expect: Expect::Exactly(Value::Bytes(applied)),
        rule: Some(rule),
        caveat: None,
        transforms: true,
    }
}

/// SO_RCVTIMEO / SO_SNDTIMEO: a timeval, stored in jiffies rounded up, read back as a
/// timeval; zero means no timeout (`sock_set_timeout` / `sock_get_timeout`,
/// net/core/sock.c).
fn timeout_expectation(opt: Opt, timeout: Option<Duration>, limits: &Limits) -> Expectation {
    let Some(timeout) = timeout.filter(|t| !t.is_zero()) else {
        return Expectation {
            expect: Expect::Exactly(Value::Duration(None)),
            rule: None,
            caveat: Some(
                "0 or none means no timeout: calls block until they finish (socket(7))".into(),
            ),
            transforms: false,
        };
    };
    // The timeval socket2 sends: whole seconds and microseconds.
    let secs = u128::from(timeout.as_secs());
    let usec = u128::from(timeout.subsec_micros());
    if secs == 0 && usec == 0 {
        return Expectation {
            expect: Expect::Exactly(Value::Duration(None)),
            rule: Some(format!(
                "a timeval carries microseconds: {} became 0, which means no timeout",
                show_duration(timeout)
            )),
            caveat: None,
            transforms: false,
        };
    }
    let hz = u128::from(limits.hz.max(1));
    let usec_per_jiffy = 1_000_000 / hz;
    // MAX_SCHEDULE_TIMEOUT is LONG_MAX jiffies: anything that long means "forever".
    let forever = secs >= i64::MAX as u128 / hz - 1;
    let expected = if forever {
        None
    } else {
        let jiffies = secs * hz + usec.div_ceil(usec_per_jiffy);
        let read_usec = (jiffies % hz) * 1_000_000 / hz;
        Some(Duration::from_secs((jiffies / hz) as u64) + Duration::from_micros(read_usec as u64))
    };
    let rule = if forever {
        format!(
            "longer than the kernel can count in jiffies: {} stores it as no timeout",
            opt.kernel_name(false)
        )
    } else {
        format!(
            "{} is kept in jiffies, rounded up: {} → {} (HZ = {} on this kernel, measured: 1 \
             jiffy = {})",
            opt.kernel_name(false),
            show_duration(timeout),
            expected.map_or_else(|| "none".into(), show_duration),
            limits.hz,
            show_duration(Duration::from_micros(limits.jiffy_us))
        )
    };
    Expectation {
        expect: Expect::Exactly(Value::Duration(expected)),
        rule: Some(rule),
        caveat: None,
        transforms: false,
    }
}

/// A hint for a refused request: what the kernel accepts (the catalogue's refusals), with
/// the sysctl it quotes.
fn refusal_hint(opt: Opt, errno: Option<i32>, env: &Env) -> Option<String> {
    let refusal = opt.refusal(errno?, env.ipv6)?;
    Some(match refusal.sysctl {
        Some(key) => refusal.hint.replace("{}", env.knobs.get(key)),
        None => refusal.hint.to_string(),
    })
}

/// One option's row: read back, compared with the request and the documented rules.
pub(super) fn option_row(
    socket: &impl AsFd,
    opt: Opt,
    requested: Option<(&Request, &Result<(), SysError>)>,
    env: &Env,
) -> OptionRow {
    let info = opt.info();
    let applied = opts::get(socket, opt, env.ipv6);
    let mut row = OptionRow {
        name: opt.name(),
        kernel: opt.kernel_name(env.ipv6),
        man: info.man,
        unit: unit(info.kind),
        requested: requested.map(|(r, _)| show(opt, &r.value)),
        applied: match &applied {
            Ok(value) => show(opt, value),
            Err(error) => format!("unreadable: {}", error_text(error)),
        },
        requested_us: requested.and_then(|(r, _)| duration_us(&r.value)),
        applied_us: applied.as_ref().ok().and_then(duration_us),
        requested_bytes: requested.and_then(|(r, _)| bytes(&r.value)),
        applied_bytes: applied.as_ref().ok().and_then(bytes),
        status: Status::Default,
        note: None,
    };
    let Ok(applied) = applied else {
        row.status = Status::Unreadable;
        return row;
    };
    let Some((request, set_result)) = requested else {
        return row;
    };
    if let Err(error) = set_result {
        row.status = Status::Refused;
        let errno = error.errno().map(|e| e as i32);
        let mut note = format!("the kernel refused it: {}", error_text(error));
        if let Some(hint) = refusal_hint(opt, errno, env) {
            let _ = write!(note, "; {hint}");
        }
        let _ = write!(note, "; it stays {}", row.applied);
        row.note = Some(note);
        return row;
    }
    let Expectation {
        expect,
        rule,
        caveat,
        transforms,
    } = expectation(opt, &request.value, env);
    let explained = match &expect {
        Expect::Exactly(value) => *value == applied,
        Expect::AtMost(max) => matches!(applied, Value::Count(n) if n <= *max),
        Expect::Anything => true,
    };
    let same = !transforms && same_value(opt, &request.value, &applied);
    row.status = match (explained, same) {
        (true, true) => Status::AsRequested,
        (true, false) => Status::Adjusted,
        (false, _) => Status::Mismatch,
    };
    row.note = match row.status {
        Status::AsRequested => caveat,
        Status::Adjusted => Some(join_notes(rule, caveat)),
        _ => {
            let expected = match &expect {
                Expect::Exactly(value) => show(opt, value),
                Expect::AtMost(max) => format!("at most {max}"),
                Expect::Anything => unreachable!("anything is explained"),
            };
            let mut note = format!(
                "MISMATCH: Linux documents {expected} here, the kernel reports {}",
                row.applied
            );
            if let Some(rule) = rule {
                let _ = write!(note, " ({rule})");
            }
            Some(note)
        }
    };
    row
}

fn join_notes(rule: Option<String>, caveat: Option<String>) -> String {
    match (rule, caveat) {
        (Some(rule), Some(caveat)) => format!("{rule}. {caveat}"),
        (Some(text), None) | (None, Some(text)) => text,
        (None, None) => "the kernel adjusted the value".into(),
    }
}

/// Whether the kernel's value is the request itself (0 and "none" are the same timeout).
fn same_value(opt: Opt, requested: &Value, applied: &Value) -> bool {
    let zero_is_none = matches!(opt, Opt::RecvTimeout | Opt::SendTimeout | Opt::UserTimeout);
    match (requested, applied) {
        (Value::Duration(Some(d)), Value::Duration(None)) if zero_is_none => d.is_zero(),
        _ => requested == applied,
    }
}

#[cfg(test)]
mod tests {
    use super::super::request::parse_set;
    use super::*;
    use crate::sys::sockopt::SocketKind;

    #[test]
    fn the_knobs_a_hint_quotes_are_read_through_the_root() {
        let root = tempfile::tempdir().unwrap();
        let knob = root
            .path()
            .join("proc/sys/net/ipv4/tcp_available_congestion_control");
        std::fs::create_dir_all(knob.parent().unwrap()).unwrap();
        std::fs::write(&knob, "sockdoc-fake\n").unwrap();
        let knobs = Knobs::read(&Root::at(root.path()));
        assert_eq!(
            knobs.get("net.ipv4.tcp_available_congestion_control"),
            "sockdoc-fake"
        );
    }

    fn knobs() -> Knobs {
        Knobs(vec![(
            "net.ipv4.tcp_available_congestion_control",
            "reno cubic".into(),
        )])
    }

    fn limits() -> Limits {
        Limits {
            rmem_max: Some(212_992),
            wmem_max: Some(212_992),
            rcvbuf_min: 2304,
            sndbuf_min: 4608,
            jiffy_us: 4000,
            hz: 250,
        }
    }

    /// Runs `test` with the sample limits and knobs, on a TCP socket at `stage`.
    fn with_env<R>(stage: Stage, ipv6: bool, test: impl FnOnce(&Env) -> R) -> R {
        let (limits, knobs) = (limits(), knobs());
        test(&Env {
            limits: &limits,
            knobs: &knobs,
            stage,
            ipv6,
            udp: false,
        })
    }

    const TCP4: SocketKind = SocketKind {
        udp: false,
        ipv6: false,
    };

    fn expect(opt: Opt, value: &Value, stage: Stage) -> Expect {
        with_env(stage, false, |env| expectation(opt, value, env).expect)
    }

    #[test]
    fn buffers_are_capped_then_doubled_then_floored() {
        let bytes = |n| Value::Bytes(n);
        assert_eq!(
            expect(Opt::RcvBuf, &bytes(65_536), Stage::Unbound),
            Expect::Exactly(bytes(131_072))
        );
        assert_eq!(
            expect(Opt::RcvBuf, &bytes(1 << 20), Stage::Unbound),
            Expect::Exactly(bytes(2 * 212_992))
        );
        assert_eq!(
            expect(Opt::RcvBuf, &bytes(1), Stage::Unbound),
            Expect::Exactly(bytes(2304))
        );
        assert_eq!(
            expect(Opt::SndBuf, &bytes(1000), Stage::Unbound),
            Expect::Exactly(bytes(4608))
        );
    }

    #[test]
    fn timeouts_round_up_to_jiffies() {
        let timeout = |d: Option<Duration>| Value::Duration(d);
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(
            expect(Opt::RecvTimeout, &timeout(ms(1)), Stage::Unbound),
            Expect::Exactly(timeout(ms(4)))
        );
        assert_eq!(
            expect(Opt::RecvTimeout, &timeout(ms(2000)), Stage::Unbound),
            Expect::Exactly(timeout(ms(2000)))
        );
        assert_eq!(
            expect(Opt::SendTimeout, &timeout(ms(1001)), Stage::Unbound),
            Expect::Exactly(timeout(ms(1004)))
        );
        assert_eq!(
            expect(
                Opt::RecvTimeout,
                &timeout(Some(Duration::ZERO)),
                Stage::Unbound
            ),
            Expect::Exactly(timeout(None))
        );
        assert_eq!(
            expect(
                Opt::RecvTimeout,
                &timeout(Some(Duration::from_nanos(500))),
                Stage::Unbound
            ),
            Expect::Exactly(timeout(None)),
            "a timeval has no nanoseconds"
        );
    }

    #[test]
    fn linger_keeps_whole_seconds_and_mss_shrinks_once_connected() {
        assert_eq!(
            expect(
                Opt::Linger,
                &Value::Duration(Some(Duration::from_millis(1500))),
                Stage::Unbound
            ),
            Expect::Exactly(Value::Duration(Some(Duration::from_secs(1))))
        );
        assert_eq!(
            expect(Opt::MaxSeg, &Value::Count(1000), Stage::Connected),
            Expect::AtMost(1000)
        );
        assert_eq!(
            expect(Opt::MaxSeg, &Value::Count(1000), Stage::Listening),
            Expect::Exactly(Value::Count(1000))
        );
    }

    #[test]
    fn a_value_no_rule_explains_is_a_mismatch() {
        let socket = opts::new_socket(TCP4).unwrap();
        // The request is never applied, as if the kernel had ignored it: the socket still
        // reads TCP_NODELAY off, which no documented rule explains.
        let request = parse_set("nodelay=on").unwrap();
        let row = |env: &Env| option_row(&socket, Opt::NoDelay, Some((&request, &Ok(()))), env);
        let unapplied = with_env(Stage::Unbound, false, row);
        assert_eq!(unapplied.status, Status::Mismatch);
        assert!(unapplied.note.unwrap().contains("Linux documents on"));

        // Applied for real, it matches.
        opts::set(&socket, Opt::NoDelay, &Value::Bool(true), false).unwrap();
        let applied = with_env(Stage::Unbound, false, row);
        assert_eq!(applied.status, Status::AsRequested);
        assert_eq!(applied.note, None);
    }

    #[test]
    fn a_refused_request_keeps_the_errno_and_the_accepted_range() {
        let socket = opts::new_socket(TCP4).unwrap();
        let request = parse_set("mss=10").unwrap();
        let result = opts::set(&socket, request.opt, &request.value, false);
        let row = with_env(Stage::Unbound, false, |env| {
            option_row(&socket, Opt::MaxSeg, Some((&request, &result)), env)
        });
        assert_eq!(row.status, Status::Refused);
        let note = row.note.unwrap();
        assert!(note.contains("EINVAL") && note.contains("88"), "{note}");
    }

    #[test]
    fn a_refusal_hint_quotes_the_sysctl_read_up_front() {
        let hint = |opt, errno, ipv6| {
            with_env(Stage::Unbound, ipv6, |env| {
                refusal_hint(opt, Some(errno), env)
            })
        };
        assert_eq!(
            hint(Opt::Congestion, libc::ENOENT, false).unwrap(),
            "no such algorithm: net.ipv4.tcp_available_congestion_control = reno cubic (a \
             module may need loading)"
        );
        let eperm = hint(Opt::Congestion, libc::EPERM, false).unwrap();
        assert!(eperm.ends_with("= unreadable may be set"), "{eperm}");
        assert_eq!(
            hint(Opt::Ttl, libc::EINVAL, false).unwrap(),
            "IP_TTL accepts 1..255 (ip(7))"
        );
        assert_eq!(hint(Opt::Ttl, libc::EINVAL, true), None);
        assert_eq!(hint(Opt::NoDelay, libc::EINVAL, true), None);
    }
}
