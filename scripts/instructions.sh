#!/usr/bin/env bash
# Instructions per event for each dispatch mechanism, counted by callgrind (deterministic, unlike
# the few-nanosecond timings of `cargo bench`): (Ir(N) - Ir(0)) / N with N = 1_000_000, the
# difference cancelling start-up, system build and checks.
#
#   scripts/instructions.sh                      # direct, emit_free, emit_plugin
#   scripts/instructions.sh direct emit_8 typeid # any mechanism of callgrind_driver
#
# Honours CARGO_TARGET_DIR (default: the workspace's target/) and ITERATIONS.
set -euo pipefail
cd "$(dirname "$0")/.."

iterations="${ITERATIONS:-1000000}"
mechanisms=("$@")
if [ "${#mechanisms[@]}" -eq 0 ]; then
    mechanisms=(direct emit_free emit_plugin)
fi

command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

cargo build --release --quiet -p staticbus-benches --bin callgrind_driver
driver="${CARGO_TARGET_DIR:-target}/release/callgrind_driver"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Total instructions (Ir) of one run, from the `totals:` (or `summary:`) line of the out file.
instructions() {
    local file="$out/$1.$2.callgrind"
    if ! valgrind --tool=callgrind --callgrind-out-file="$file" "$driver" "$1" "$2" 2>"$out/log"; then
        cat "$out/log" >&2
        echo "callgrind run failed: $driver $1 $2" >&2
        exit 1
    fi
    awk '/^(totals|summary):/ { print $2; exit }' "$file"
}

printf '| mechanism | instructions/event | vs direct |\n|---|---:|---:|\n'
direct_per_event=""
for mechanism in "${mechanisms[@]}"; do
    base="$(instructions "$mechanism" 0)"
    full="$(instructions "$mechanism" "$iterations")"
    per_event="$(awk -v a="$full" -v b="$base" -v n="$iterations" 'BEGIN { printf "%.2f", (a - b) / n }')"
    if [ "$mechanism" = direct ]; then
        direct_per_event="$per_event"
    fi
    ratio="-"
    if [ -n "$direct_per_event" ]; then
        ratio="$(awk -v a="$per_event" -v d="$direct_per_event" 'BEGIN { printf "%.2fx", a / d }')"
    fi
    printf '| %s | %s | %s |\n' "$mechanism" "$per_event" "$ratio"
done

echo
echo "Ir per event, N = $iterations; includes the driver's loop and black_box (about 5 of the direct count)."
