#!/usr/bin/env bash
# Benchmarks with public tools; figures go into the README with this command.
#
#   scripts/bench.sh            # everything
#   scripts/bench.sh reuse      # only the reuse-test timing
#
# Needs hyperfine (installed from Debian's packages when missing and run as root).
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
fi
