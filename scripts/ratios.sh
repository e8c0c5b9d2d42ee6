#!/usr/bin/env bash
# Runs the criterion `dispatch` bench several times and prints, per variant, the median of its
# point estimates (and the spread), then the ratios the README states, three ways: of the
# medians, paired within each run, and of the fastest runs. A shared VM is noisy from one
# minute to the next; several runs, and the instruction counts, are what a claim rests on.
#
#   scripts/ratios.sh               # 5 runs of every variant, 3 s each
#   RUNS=3 SECS=6 scripts/ratios.sh 'static_dispatch'
#
# Prints the CPU it ran on. Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

filter="${1:-}"
runs="${RUNS:-5}"
secs="${SECS:-3}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

cargo bench -q -p staticbus-benches --bench dispatch --no-run >/dev/null 2>&1
for run in $(seq 1 "$runs"); do
    # shellcheck disable=SC2086
    cargo bench -q -p staticbus-benches --bench dispatch -- $filter \
        --warm-up-time 1 --measurement-time "$secs" 2>/dev/null |
        awk -v run="$run" '
            /^(static|dynamic)_dispatch\// { name = $1 }
            /time:/ && name != "" && !/%/ {
                # the middle value of `time: [low mid high]`, in ns
                v = $4; u = $5
                if (u == "ps") v /= 1000; else if (u == "µs" || u == "us") v *= 1000;
                else if (u == "ms") v *= 1000000; else if (u == "s") v *= 1000000000;
                print run, name, v; name = ""
            }' >>"$out"
done

echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores; $runs runs of ${secs} s"
python3 - "$out" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    run, name, value = line.split()
    runs[name].append(float(value))
med = {n: statistics.median(v) for n, v in runs.items()}
print(f"{'variant':56} {'median ns/iter':>14} {'min':>10} {'max':>10}")
for name, values in runs.items():
    print(f"{name:56} {med[name]:14.3f} {min(values):10.3f} {max(values):10.3f}")
# Three estimates of each ratio: of the medians; the median of the ratios within each run
# (paired: the two variants ran seconds apart, under the same load); of the fastest runs
# (the least disturbed). On a quiet machine they agree; where they do not, the machine is
# noisy and a claim should rest on the instruction counts (scripts/instructions.sh).
by_run = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    run, name, value = line.split()
    by_run[run][name] = float(value)
def ratio(a, b, what):
    if a in med and b in med:
        paired = [r[a] / r[b] for r in by_run.values() if a in r and b in r]
        print(f"{what:64} {med[a] / med[b]:6.2f} {statistics.median(paired):6.2f} "
              f"{min(runs[a]) / min(runs[b]):6.2f}")
s, d = "static_dispatch/", "dynamic_dispatch/"
print()
print(f"{'ratio':64} {'median':>6} {'paired':>6} {'min':>6}")
ratio(s + "emit_1_free_fn", s + "direct_call", "emit 1 free fn / direct call (target <= 1.3)")
ratio(s + "emit_1_plugin_method", s + "direct_call", "emit 1 plugin method / direct call (target <= 1.5)")
ratio(s + "emit_1_free_fn", s + "direct_call_emit_harness", "emit 1 free fn / direct call in emit's harness")
ratio(s + "emit_1_plugin_method", s + "direct_call_emit_harness", "emit 1 plugin method / direct call in emit's harness")
ratio(s + "typeid_hashmap", s + "emit_1_free_fn", "TypeId map / emit 1 free fn (target >= 5)")
ratio(s + "publish_1_free_fn", s + "emit_1_free_fn", "publish / emit, 1 sync handler (target <= 2)")
ratio(d + "channel_tokio_broadcast", d + "channel_staticbus", "channel: broadcast time / staticbus time (target >= 1)")
ratio(d + "channel_typed_tokio_broadcast", d + "channel_typed_staticbus", "typed channel: broadcast time / staticbus time (target >= 1)")
ratio(d + "publish_1_async_timeout", d + "publish_1_async", "publish to 1 async handler: with a timeout / without (target ~1)")
ratio(d + "publish_1_async_retry", d + "publish_1_async", "publish to 1 async handler: with a retry policy / without (~1)")
if d + "push_1_glob_cached" in med:
    print(f"{'push to 1 glob subscriber, events/s (target >= 20M)':64} {1e3 / med[d + 'push_1_glob_cached']:6.1f}M")
if d + "push_8_glob_cached" in med:
    print(f"{'push to 8 glob subscribers, events/s':64} {1e3 / med[d + 'push_8_glob_cached']:6.1f}M")
EOF
