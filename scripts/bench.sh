#!/usr/bin/env bash
# Benchmarks with public tools; figures go into the README with this command.
#
#   scripts/bench.sh            # everything
#   scripts/bench.sh reuse      # only the reuse-test timing
#   scripts/bench.sh nagle      # sockdoc vs sockperf round trips, and the default nagle run
#   scripts/bench.sh sockets    # 100k ESTABLISHED, 180k TIME_WAIT, scaling 1k-200k: sockdoc vs ss (root: private netns)
#   scripts/bench.sh inspect    # inspect vs ss -tanpie, 10k ESTABLISHED in 100 processes (root: private netns)
#   scripts/bench.sh check      # the whole check with defaults (target: < 1 s wall)
#   scripts/bench.sh prove      # every proof in throwaway namespaces (target: < 15 s)
#
# Needs hyperfine, sockperf, jq and GNU time (installed from Debian's packages when missing, as root).
set -euo pipefail
cd "$(dirname "$0")/.."

need() {
    local tool=$1 package=$2
    command -v "$tool" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing $package (Debian package) for $tool" >&2
        apt-get update -qq >/dev/null && apt-get install -y -qq "$package" >/dev/null
    else
        echo "bench.sh needs $tool: install the $package package" >&2
        exit 3
    fi
}

cargo build --release --quiet
bin=target/release/sockdoc
what=${1:-all}
echo "sockdoc $($bin --version | cut -d' ' -f2) on Linux $(uname -r), $(nproc) cores"

if [ "$what" = all ] || [ "$what" = reuse ]; then
    need hyperfine hyperfine
    echo
    echo "== reuse-test: the whole matrix on loopback, without --wait (target: < 100 ms) =="
    # Each run leaves ~16 TIME_WAIT sockets that expire after 60 s; 30 runs stay far from
    # any port-range or tw_buckets limit.
    hyperfine --shell=none --warmup 3 --runs 30 --export-json target/bench-reuse.json \
        "$bin reuse-test" "$bin reuse-test --addr ::1" "$bin --version"
    echo
    echo "== sysctl-advice and the scenarios: one run each =="
    hyperfine --shell=none --warmup 3 --runs 20 --export-json target/bench-commands.json \
        "$bin sysctl-advice" "$bin sockopt --defaults" "$bin udp" "$bin peer-close" \
        "$bin partial-send" "$bin backlog"
fi

if [ "$what" = all ] || [ "$what" = nagle ]; then
    need hyperfine hyperfine
    need sockperf sockperf
    need jq jq
    echo
    echo "== nagle: TCP_NODELAY round trip, sockdoc vs sockperf ping-pong on the same loopback =="
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 47123)
    sockperf server --tcp -i 127.0.0.1 -p "$port" >/dev/null 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null' EXIT
    sleep 0.5
    # 37 bytes: the size of sockdoc's request (4-byte header + 33-byte body).
    sockperf_p50=$(sockperf ping-pong --tcp -i 127.0.0.1 -p "$port" -t 5 -m 37 --full-rtt 2>&1 |
        awk '/percentile 50.000/ {print $NF}')
    kill $server 2>/dev/null || true
    trap - EXIT
    report=$($bin nagle --nodelay on --cork --rounds 10000 --messages 10 --json)
    two_writes=$(jq '.modes[] | select(.cork == false) | .rtt_p50_us' <<<"$report")
    one_segment=$(jq '.modes[] | select(.cork == true) | .rtt_p50_us' <<<"$report")
    echo "sockperf ping-pong (one 37-byte message each way), RTT p50: ${sockperf_p50} µs"
    echo "sockdoc TCP_NODELAY, header + body as two writes, RTT p50: ${two_writes} µs" \
        "($(awk -v a="$two_writes" -v b="$sockperf_p50" 'BEGIN {printf "%.2f", a / b}')× sockperf)"
    echo "sockdoc TCP_NODELAY + CORK, one segment each way,  RTT p50: ${one_segment} µs" \
        "($(awk -v a="$one_segment" -v b="$sockperf_p50" 'BEGIN {printf "%.2f", a / b}')× sockperf)"
    echo
    echo "== nagle: the default run (1 warm-up, then 20 rounds with Nagle on and 100 with TCP_NODELAY; target < 10 s) =="
    hyperfine --shell=none --runs 3 "$bin nagle"
fi

if [ "$what" = all ] || [ "$what" = sockets ]; then
    need hyperfine hyperfine
    need /usr/bin/time time
    need ss iproute2
    need jq jq
    echo
    if [ "$(id -u)" -ne 0 ]; then
        echo "== sockets: SKIPPED (needs root for a private network namespace) =="
    else
        cargo build --release --quiet --example make_time_wait --example make_established
        # Every population lives in a namespace that dies with its shell: the knobs below
        # change only that namespace, and its sockets vanish with it.
        population() { # KIND COUNT COMMANDS...: runs the commands with the population held
            local kind=$1 count=$2
            shift 2
            unshare --net bash -euo pipefail -c '
                kind=$1; count=$2; shift 2
                ip link set lo up
                echo "1024 65535" > /proc/sys/net/ipv4/ip_local_port_range
                echo 262144 > /proc/sys/net/ipv4/tcp_max_tw_buckets
                if [ "$kind" = established ]; then
                    coproc holder { target/release/examples/make_established "$count"; }
                    read -r ready <&"${holder[0]}"
                else
                    target/release/examples/make_time_wait "$count" 2>/dev/null
                fi
                "$@"
                if [ "$kind" = established ]; then
                    exec {holder[1]}>&-
                    wait
                fi
            ' population "$kind" "$count" "$@"
        }
        ratio() { # FILE: mean of each command over the first (ss -tan), from hyperfine's JSON
            jq -r '.results[0].mean as $ss | .results[] |
                "\(.command | sub("^.*/sockdoc"; "sockdoc")): \(.mean * 1000 | . * 10 | round / 10) ms ± \(.stddev * 1000 | . * 10 | round / 10), \(.mean / $ss * 100 | round / 100)× ss -tan"' "$1"
        }
        rss() { # COMMAND...: peak RSS in KiB
            /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1
        }
        export -f ratio rss
        export bin

        echo "== sockets: 100,000 ESTABLISHED in 6 processes (targets: default <= 1.5x ss -tan and <= 0.2x ss -tanp, --no-processes <= 0.75x ss -tan, --summary <= 30 ms) =="
        population established 100000 bash -c '
            hyperfine -N --style basic --warmup 1 --runs 10 --export-json target/bench-established.json \
                "ss -tan" "$bin sockets --tcp" "$bin sockets --tcp --no-processes" \
                "$bin sockets --tcp --summary" "$bin sockets --tcp --json" >/dev/null
            ratio target/bench-established.json
            hyperfine -N --style basic --runs 3 --export-json target/bench-established-p.json \
                "ss -tanp" "$bin sockets --tcp" >/dev/null
            jq -r ".results[1].mean / .results[0].mean * 100 | round / 100 | \"sockdoc sockets (owners) / ss -tanp: \\(.)×\"" target/bench-established-p.json
            for cmd in "ss -tan" "$bin sockets --tcp" "$bin sockets --tcp --no-processes" "$bin sockets --tcp --summary"; do
                echo "peak RSS $(rss $cmd) KiB: ${cmd/#*\/sockdoc/sockdoc}"
            done'

        echo
        echo "== sockets: 180,000 TIME_WAIT (target: default <= 1.0x ss -tan) =="
        population time_wait 180000 bash -c '
            hyperfine -N --style basic --warmup 1 --runs 10 --export-json target/bench-time-wait.json \
                "ss -tan" "$bin sockets --tcp" "$bin sockets --tcp --no-processes" \
                "$bin sockets --tcp --summary" >/dev/null
            ratio target/bench-time-wait.json
            for cmd in "ss -tan" "$bin sockets --tcp" "$bin sockets --tcp --summary"; do
                echo "peak RSS $(rss $cmd) KiB: ${cmd/#*\/sockdoc/sockdoc}"
            done'

        echo
        echo "== sockets: scaling, N ESTABLISHED in N/18,000 processes (ms, mean of 5) =="
        echo "sockets  ss -tan  sockdoc  sockdoc --no-processes  sockdoc --summary"
        for n in 1000 10000 50000 200000; do
            population established "$n" bash -c '
                hyperfine -N --style basic --warmup 1 --runs 5 --export-json target/bench-scale.json \
                    "ss -tan" "$bin sockets --tcp" "$bin sockets --tcp --no-processes" \
                    "$bin sockets --tcp --summary" >/dev/null
                jq -r --arg n "$1" "[\$n] + [.results[].mean * 1000 | . * 10 | round / 10 | tostring] | join(\"  \")" target/bench-scale.json
            ' scale "$n"
        done
    fi
fi

if [ "$what" = all ] || [ "$what" = inspect ]; then
    need hyperfine hyperfine
    need /usr/bin/time time
    need ss iproute2
    need jq jq
    echo
    if [ "$(id -u)" -ne 0 ]; then
        echo "== inspect: SKIPPED (needs root for a private network namespace) =="
    else
        cargo build --release --quiet --example make_established
        export bin
        echo "== inspect: N ESTABLISHED in N/100 processes, options read through pidfd_getfd (target: <= 1.5x ss -tanpie at 10k) =="
        echo "sockets  processes  ss -tanpie ms  sockdoc inspect --for 0 ms  ratio  --json ms  peak RSS KiB (ss, inspect)"
        for n in 1000 10000 20000; do
            unshare --net bash -euo pipefail -c '
                n=$1
                ip link set lo up
                echo "1024 65535" > /proc/sys/net/ipv4/ip_local_port_range
                coproc holder { target/release/examples/make_established "$n" --per-worker 50; }
                read -r ready <&"${holder[0]}"
                hyperfine -N --style basic --warmup 2 --runs 10 --export-json target/bench-inspect.json \
                    "ss -tanpie" "$bin inspect --for 0" "$bin inspect --for 0 --json" >/dev/null
                ss_rss=$(/usr/bin/time -f %M ss -tanpie 2>&1 >/dev/null | tail -1)
                in_rss=$(/usr/bin/time -f %M "$bin" inspect --for 0 2>&1 >/dev/null | tail -1)
                jq -r --arg n "$n" --arg p "$((n / 100))" --arg rss "$ss_rss, $in_rss" \
                    "[\$n, \$p, (.results[0].mean * 1000 | . * 10 | round / 10 | tostring),
                      (.results[1].mean * 1000 | . * 10 | round / 10 | tostring),
                      ((.results[1].mean / .results[0].mean * 100 | round / 100 | tostring) + \"x\"),
                      (.results[2].mean * 1000 | . * 10 | round / 10 | tostring), \$rss] | join(\"  \")" \
                    target/bench-inspect.json
                exec {holder[1]}>&-
                wait
            ' inspect "$n"
        done
    fi
fi

if [ "$what" = all ] || [ "$what" = check ]; then
    need hyperfine hyperfine
    echo
    echo "== check: kernel self-test + sysctl + inspect of this host, defaults (target: < 1 s) =="
    # Exit 1 (findings on this host) is an answer, not a failure: -i.
    hyperfine -N -i --style basic --warmup 1 --runs 10 --export-json target/bench-check.json \
        "$bin check" "$bin check --only kernel" "$bin check --only sysctl,inspect" >/dev/null
    jq -r '.results[] | "\(.command | sub("^.*/sockdoc"; "sockdoc")): \(.mean * 1000 | . * 10 | round / 10) ms ± \(.stddev * 1000 | . * 10 | round / 10), max \(.max * 1000 | round) ms"' target/bench-check.json
fi

if [ "$what" = all ] || [ "$what" = prove ]; then
    need hyperfine hyperfine
    echo
    echo "== prove: six knobs, two throwaway namespaces each (target: < 15 s) =="
    hyperfine -N --style basic --runs 3 --export-json target/bench-prove.json "$bin prove" >/dev/null
    jq -r '.results[] | "\(.command | sub("^.*/sockdoc"; "sockdoc")): \(.mean * 10 | round / 10) s ± \(.stddev * 100 | round / 100), max \(.max * 10 | round / 10) s"' target/bench-prove.json
fi
