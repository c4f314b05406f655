#!/usr/bin/env bash
# Regenerates the usage block in README.md from the binary's own --help text, so the README
# never drifts from the CLI (tests/readme.rs fails when it has).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/sockdoc
block=$(mktemp)
{
    echo '```text'
    echo '$ sockdoc -h'
    "$bin" -h
    for cmd in $("$bin" -h | awk '/^Commands:/{on=1;next} /^$/{on=0} on && /^  [a-z]/ && $1!="help"{print $1}'); do
        echo
        echo "\$ sockdoc $cmd -h"
        "$bin" "$cmd" -h
    done
    echo '```'
} >"$block"
awk -v block="$block" '
    /<!-- help:start -->/ { print; while ((getline line < block) > 0) print line; skip=1; next }
    /<!-- help:end -->/ { skip=0 }
    !skip { print }
' README.md >README.md.new
mv README.md.new README.md
rm -f "$block"
echo "README.md usage block updated"
