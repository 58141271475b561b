#!/bin/bash
# ab_plan.sh BASE_BIN NEW_BIN [people...] - tandem-matching-bench-plan of two builds on the
# same data in the same minutes (each case new then base), with process CPU (user), wall,
# peak RSS and the load average before and after each run. On a shared machine the CPU
# column and the ratio within a pair are the figures to compare.
#
#   tools/bench/matching/ab_plan.sh /tmp/base/build/bin/tandem-matching-bench-plan \
#       build/release/bin/tandem-matching-bench-plan
#
# Cases: the 10,000-person programme of bench_run.py (dense), and 12,000 people in issue
# 23's proportions (BENCH_SHAPE=national) on the priced path (forced) and the dense one.
set -eu
base=$1
new=$2
run() { # label binary people env...
    local label=$1 bin=$2 n=$3
    shift 3
    echo "== $label $n $* load: $(cut -d' ' -f1-3 /proc/loadavg) at $(date -u +%H:%M:%S)"
    env "$@" /usr/bin/time -f '%U user %S sys %e wall %M KB' "$bin" "$n" 2 2>&1 |
        grep -E 'prepare|engine|pairs |user'
    echo "   load after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
for c in "10000 X=1" "12000 BENCH_SHAPE=national BENCH_DENSE_MAX_CELLS=1" \
    "12000 BENCH_SHAPE=national"; do
    set -- $c
    run new "$new" "$@"
    run base "$base" "$@"
done
