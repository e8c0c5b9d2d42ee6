#!/usr/bin/env bash
# Compile-time cost of staticbus's macros: how long a crate of N events and N handlers takes to
# build with #[derive(StaticEvent)], #[handler] and #[plugin], against the same code written out
# by hand (a trait with a table of function pointers per event), and how many LLVM functions
# each one hands to codegen. See benches/compile_time/README.md.
#
#   benches/compile_time/run.sh                    # N = 200 events, 5 runs of each build
#   EVENTS=20 RUNS=2 benches/compile_time/run.sh   # a quick check
#
# EVENTS (default 200), RUNS (default 5), OUT (default target/compile_time, relative to the
# repository root): everything this script writes, generated crates and their target dir, is
# under OUT. Only the leaf crates are timed: their dependencies are built once beforehand.
# INSTRUCTIONS=1 also counts the instructions rustc executes for each clean leaf build, under
# valgrind's callgrind: one run each, the same on any quiet or busy machine of a CPU kind.
set -euo pipefail
cd "$(dirname "$0")/../.."

events="${EVENTS:-200}"
runs="${RUNS:-5}"
out="${OUT:-target/compile_time}"
case "$runs" in
    '' | *[!0-9]* | 0) echo "RUNS must be a positive integer, not '$runs'" >&2; exit 2 ;;
esac
instructions="${INSTRUCTIONS:-0}"
case "$instructions" in
    0 | 1) ;;
    *) echo "INSTRUCTIONS must be 0 or 1, not '$instructions'" >&2; exit 2 ;;
esac
if [ "$instructions" = 1 ] && ! command -v valgrind >/dev/null; then
    echo "INSTRUCTIONS=1 needs valgrind (apt-get install valgrind)" >&2
    exit 2
fi

cargo run --quiet --release -p staticbus-benches --bin compile_time_generate -- \
    --events "$events" --out "$out"
out="$(cd "$out" && pwd)"
manifest="$out/Cargo.toml"
# The leaves' own target dir, whatever CARGO_TARGET_DIR says, so that the .ll files are where
# this script looks and nothing lands outside OUT.
export CARGO_TARGET_DIR="$out/target"
crates=(staticbus_leaf handwritten_leaf)
log="$out/build.log"
results="$out/results.txt"
: >"$results"

# `cargo "$@"` in the environment of $cargo_env, its output kept in $log and shown only if it
# fails. The timed builds set CARGO_INCREMENTAL themselves; the untimed ones like them.
cargo_env=(env CARGO_INCREMENTAL=0)
quiet_cargo() {
    if ! "${cargo_env[@]}" cargo "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "failed: cargo $*" >&2
        exit 1
    fi
}

# One timed build of one leaf: `$prepare` (which touches or edits its lib.rs), then
# `cargo build -p $crate "$@"`; its wall time in ms goes to $ms. A build that compiled anything
# besides the leaf (staticbus itself, after an edit of runtime/ or a change of
# CARGO_INCREMENTAL, which local crates honour) is not counted but repeated.
measure() {
    local prepare=$1 crate=$2 start end others attempt
    shift 2
    for attempt in 1 2 3 4 5; do
        "$prepare" "$crate" "$attempt"
        start=$(date +%s%N)
        quiet_cargo build --manifest-path "$manifest" -p "$crate" "$@"
        end=$(date +%s%N)
        ms=$(((end - start) / 1000000))
        others=$(grep -E '^ *Compiling ' "$log" | grep -vE "Compiling $crate v" || true)
        if [ -z "$others" ] && grep -qE "^ *Compiling $crate v" "$log"; then
            return
        fi
        echo "  (not counted, $ms ms, attempt $attempt: cargo compiled" \
            "$(echo "${others:-nothing}" | awk '{ print $2 }' | paste -sd, -); repeating)" >&2
    done
    echo "$crate: five builds in a row compiled more than the leaf, or nothing" >&2
    exit 1
}
touch_lib() { touch "$out/$1/src/lib.rs"; }
# run and median helpers, over the "key value" lines of $results

median() {
    awk -v key="$1" '$1 == key { v[n++] = $2 }
        END {
            if (n == 0) { print "nan"; exit }
            # insertion sort: n is small
            for (i = 1; i < n; i++) { x = v[i]; for (j = i - 1; j >= 0 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
            if (n % 2) m = v[(n - 1) / 2]; else m = (v[n / 2 - 1] + v[n / 2]) / 2
            printf "%.0f\n", m
        }' "$results"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.2f\n", a / b }'; }

echo "cpu:    $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "rustc:  $(rustc --version)"
echo "events: $events, runs: $runs, out: $out"

echo
echo "== warm-up: both leaves and their dependencies, debug and release"
for crate in "${crates[@]}"; do
    for flags in "" --release; do
        # shellcheck disable=SC2086 # $flags is one flag or none
        quiet_cargo build --manifest-path "$manifest" -p "$crate" $flags
        # Cargo replays a fresh crate's warnings too, so this sees them on every run.
        if grep -q "^warning: \`$crate\`" "$log"; then
            echo "WARNING: the generated $crate warns (${flags:-debug}):"
            cat "$log"
        fi
    done
done

echo
echo "== clean build of the leaf only (CARGO_INCREMENTAL=0, lib.rs touched), ms"
for profile in debug release; do
    flags=()
    [ "$profile" = release ] && flags=(--release)
    for run in $(seq 1 "$runs"); do
        line="$profile run $run:"
        for crate in "${crates[@]}"; do
            measure touch_lib "$crate" "${flags[@]}"
            echo "clean_${profile}_$crate $ms" >>"$results"
            line="$line $crate $ms"
        done
        echo "$line"
    done
done

echo
echo "== incremental debug build after editing one handler body (free_0, or on_0 if N = 1), ms"
# The edit changes the constant of one handler's body, the same in both crates, to a new
# value each build; the pristine files are put back at the end, however the script exits.
pristine="$out/pristine"
mkdir -p "$pristine"
if [ "$events" -ge 2 ]; then
    from='e\.a ^ 0,'
    to='e.a ^ NEW,'
else
    from='e\.a + 0,'
    to='e.a + NEW,'
fi
for crate in "${crates[@]}"; do
    cp "$out/$crate/src/lib.rs" "$pristine/$crate.rs"
    grep -q "$from" "$pristine/$crate.rs" || {
        echo "no handler body matching '$from' in $crate" >&2
        exit 1
    }
done
restore() {
    for crate in "${crates[@]}"; do
        if [ -f "$pristine/$crate.rs" ] && ! cmp -s "$pristine/$crate.rs" "$out/$crate/src/lib.rs"; then
            cp "$pristine/$crate.rs" "$out/$crate/src/lib.rs"
        fi
    done
}
trap restore EXIT
# `e.a ^ 0` becomes `e.a ^ 1001` in run 1, and so on (`^ 101001` if run 1 is repeated).
edit_lib() {
    local value=$((run + 1000 + ($2 - 1) * 100000))
    sed "s/$from/${to/NEW/$value}/" "$pristine/$1.rs" >"$out/$1/src/lib.rs"
}
cargo_env=(env -u CARGO_INCREMENTAL)
for crate in "${crates[@]}"; do
    # The incremental cache of the pristine source (the clean runs above wrote none).
    touch_lib "$crate"
    quiet_cargo build --manifest-path "$manifest" -p "$crate"
done
for run in $(seq 1 "$runs"); do
    line="incremental run $run:"
    for crate in "${crates[@]}"; do
        measure edit_lib "$crate"
        echo "incremental_$crate $ms" >>"$results"
        line="$line $crate $ms"
    done
    echo "$line"
done
restore
cargo_env=(env CARGO_INCREMENTAL=0)

echo
echo "== LLVM functions of the leaf (lines starting with 'define ' in its .ll)"
for profile in release debug; do
    flags=()
    [ "$profile" = release ] && flags=(--release)
    for crate in "${crates[@]}"; do
        rm -f "$out/target/$profile/deps/$crate"-*.ll
        # `link` too, so the rlib is still there for the next build.
        quiet_cargo rustc --manifest-path "$manifest" -p "$crate" "${flags[@]}" \
            -- --emit=llvm-ir,link
        # One file: rustc makes one codegen unit when asked for LLVM IR. Were there several
        # (`<crate>-<hash>.<cgu>.rcgu.ll`), they would all be this build's, the old ones gone.
        lls=("$out/target/$profile/deps/$crate"-*.ll)
        if [ ! -f "${lls[0]}" ]; then
            echo "no .ll file for $crate in $out/target/$profile/deps" >&2
            exit 1
        fi
        count=$(cat "${lls[@]}" | grep -c '^define ' || true)
        echo "llvm_${profile}_$crate $count" >>"$results"
        echo "$profile $crate: $count functions (${lls[*]})"
    done
done

if [ "$instructions" = 1 ]; then
    echo
    echo "== instructions rustc executes for a clean build of the leaf (callgrind, one run)"
    # rustc runs under callgrind for the leaf only (a RUSTC_WRAPPER that passes every other
    # crate straight through); the proc-macro crate runs inside it and is counted, as are
    # LLVM's threads.
    wrapper="$out/callgrind-rustc.sh"
    cat >"$wrapper" <<'EOF'
#!/usr/bin/env bash
rustc=$1
shift
if [[ " $* " == *" --crate-name $CALLGRIND_CRATE "* ]]; then
    exec valgrind --tool=callgrind --callgrind-out-file="$CALLGRIND_OUT" "$rustc" "$@" \
        2>>"$CALLGRIND_OUT.log"
fi
exec "$rustc" "$@"
EOF
    chmod +x "$wrapper"
    for profile in debug release; do
        flags=()
        [ "$profile" = release ] && flags=(--release)
        for crate in "${crates[@]}"; do
            cg="$out/$crate.$profile.callgrind"
            rm -f "$cg" "$cg.log"
            touch_lib "$crate"
            RUSTC_WRAPPER="$wrapper" CALLGRIND_CRATE="$crate" CALLGRIND_OUT="$cg" \
                quiet_cargo build --manifest-path "$manifest" -p "$crate" "${flags[@]}"
            ir=$(awk '/^(totals|summary):/ { print $2; exit }' "$cg" 2>/dev/null || true)
            if [ -z "$ir" ]; then
                echo "no callgrind count for $crate ($profile): see $cg.log" >&2
                exit 1
            fi
            echo "instructions_${profile}_$crate $((ir / 1000000))" >>"$results"
            echo "$profile $crate: $((ir / 1000000)) M instructions"
        done
    done
fi

row() { # label key unit
    local s h
    s=$(median "${2}_staticbus_leaf")
    h=$(median "${2}_handwritten_leaf")
    echo "| $1 | $s$3 | $h$3 | $(ratio "$s" "$h") |"
}
per_event() {
    local s h
    s=$(median "llvm_${1}_staticbus_leaf")
    h=$(median "llvm_${1}_handwritten_leaf")
    awk -v s="$s" -v h="$h" -v n="$events" -v p="$1" \
        'BEGIN { printf "%s: %d - %d functions, generated functions per event: %.2f\n", p, s, h, (s - h) / n }'
}

echo
echo "== medians of $runs runs, $events events"
for profile in debug release; do
    s=$(median "clean_${profile}_staticbus_leaf")
    h=$(median "clean_${profile}_handwritten_leaf")
    echo "$profile clean: staticbus $s ms, hand-written $h ms, ratio $(ratio "$s" "$h")"
done
s=$(median incremental_staticbus_leaf)
h=$(median incremental_handwritten_leaf)
echo "incremental debug: staticbus $s ms, hand-written $h ms, ratio $(ratio "$s" "$h")"
per_event release
per_event debug

echo
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); $(rustc --version); EVENTS=$events RUNS=$runs"
echo
echo "| build | staticbus | hand-written | ratio |"
echo "|---|---:|---:|---:|"
row "debug clean (wall, median)" clean_debug " ms"
row "release clean (wall, median)" clean_release " ms"
row "incremental debug (one handler edited)" incremental " ms"
row "LLVM functions (release)" llvm_release ""
row "LLVM functions (debug)" llvm_debug ""
if [ "$instructions" = 1 ]; then
    row "rustc instructions, debug clean" instructions_debug " M"
    row "rustc instructions, release clean" instructions_release " M"
fi
