#!/usr/bin/env bash
# Installs the public tools the root-only tests drive inside their private network
# namespaces (nft rules that drop packets on lo, tc qdiscs, strace fault injection, ss,
# procps sysctl, setpriv), and the shells and formatters that check the generated
# completion scripts and man pages (zsh, fish, groff, man). Tests whose tool is missing
# print a SKIP line instead of failing, so this is what makes them run. It changes nothing when every tool is present, and only
# installs packages: it never touches the host's network settings.
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
missing=()
for cmd in "${!needed[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${needed[$cmd]}")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-tools: missing $packages (needs root and apt-get); the tests that use them will SKIP" >&2
    exit 0
fi
echo "install-test-tools: installing $packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $packages >/dev/null
