#!/usr/bin/env bash
# Installs the public tools the root-only tests drive inside their private network
# namespaces (nft rules that drop packets on lo, tc qdiscs, strace fault injection, ss,
# procps sysctl, setpriv), the validators the output-format and contrib tests run (promtool,
# the node exporter's textfile collector, PyYAML, junitparser), and the shells and formatters
# that check the generated completion scripts and man pages (zsh, fish, groff, man). Tests
# whose tool is missing print a SKIP line instead of failing, so this is what makes them run.
# It changes nothing when every tool is present, and only installs: it never touches the
# host's network settings and starts no service. systemd-analyze (the contrib unit-file test)
# stays optional: it comes with systemd, which this script does not install.
set -euo pipefail

# command → Debian package
declare -A needed=(
    [nft]=nftables
    [ip]=iproute2
    [tc]=iproute2
    [ss]=iproute2
    [sysctl]=procps
    [setpriv]=util-linux
    [unshare]=util-linux
    [strace]=strace
    [python3]=python3
    [zsh]=zsh
    [fish]=fish
    [groff]=groff-base
    [man]=man-db
)
# Python module → Debian package. Checked with /usr/bin/python3, the interpreter Debian's
# python3-* packages install for (a python3 earlier on PATH, from pyenv or a virtualenv, does
# not see them; the tests use /usr/bin/python3 too).
declare -A python_modules=(
    [yaml]=python3-yaml
    [junitparser]=python3-junitparser
)
# command → Debian package and the path of that command inside it. These packages are
# servers: installing them adds a system user, and where systemd or sysvinit runs services,
# enables and starts Prometheus on :9090 and the node exporter on :9100. The tests need only the
# binaries (promtool check metrics; the exporter's textfile collector on a private port), so
# those alone are unpacked from the verified .deb into /usr/local/bin, with no maintainer script.
declare -A binary_only=(
    [promtool]=prometheus:usr/bin/promtool
    [prometheus-node-exporter]=prometheus-node-exporter:usr/bin/prometheus-node-exporter
)

missing=()
for cmd in "${!needed[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${needed[$cmd]}")
done
for module in "${!python_modules[@]}"; do
    /usr/bin/python3 -c "import $module" >/dev/null 2>&1 || missing+=("${python_modules[$module]}")
done
unpack=()
for cmd in "${!binary_only[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || unpack+=("$cmd")
done
if [ ${#missing[@]} -eq 0 ] && [ ${#unpack[@]} -eq 0 ]; then
    exit 0
fi
packages=""
if [ ${#missing[@]} -gt 0 ]; then
    packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
fi
wanted=$(echo "$packages ${unpack[*]}" | xargs)
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-tools: missing $wanted (needs root and apt-get); the tests that use them will SKIP" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Everything below runs in a function whose failure (no network, a mirror down) is reported
# and leaves the tests to SKIP what they cannot run: the test command goes on either way.
# (`set -e` does not apply inside a function called as an `if` condition, hence the explicit
# `|| return 1`.)
install_missing() {
    apt-get update -qq || return 1
    if [ -n "$packages" ]; then
        echo "install-test-tools: installing ${packages% }"
        # shellcheck disable=SC2086 # one word per package
        apt-get install -y -qq --no-install-recommends $packages >/dev/null || return 1
    fi
    if [ ${#unpack[@]} -gt 0 ]; then
        echo "install-test-tools: unpacking ${unpack[*]} into /usr/local/bin"
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        # apt downloads as the unprivileged _apt user where it exists.
        chown _apt "$work" 2>/dev/null || true
        for cmd in "${unpack[@]}"; do
            package=${binary_only[$cmd]%%:*}
            path=${binary_only[$cmd]#*:}
            (cd "$work" && apt-get download -qq "$package") || return 1
            dpkg-deb --fsys-tarfile "$work/${package}"_*.deb | tar -xO "./$path" >"$work/$cmd" ||
                return 1
            install -m 0755 "$work/$cmd" "/usr/local/bin/$cmd" || return 1
        done
    fi
}
if ! (install_missing); then
    echo "install-test-tools: could not install $wanted; the tests that use them will SKIP" >&2
fi
