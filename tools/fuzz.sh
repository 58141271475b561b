#!/usr/bin/env bash
# tools/fuzz.sh TARGET SECONDS - a real fuzzing campaign on one target with
# clang's libFuzzer (ASan + UBSan), starting from the committed corpus and
# dictionary. New inputs go to tests/fuzz/findings/TARGET/ (not committed); copy
# the interesting ones (and every crash, once fixed) into tests/fuzz/corpus/TARGET/.
# The last lines of the run (executions, coverage) are appended to
# tests/fuzz/CAMPAIGNS.md.
set -euo pipefail
source "$(dirname "$0")/../deploy/lib.sh"
[ $# -eq 2 ] || tdm_die "usage: tools/fuzz.sh TARGET SECONDS (targets: $(ls "$TDM_ROOT"/tests/fuzz/fuzz_*.c | sed 's/.*fuzz_\(.*\)\.c/\1/' | tr '\n' ' '))"
TARGET=$1 SECONDS_TO_RUN=$2
tdm_install_packages build test
BUILD=$TDM_ROOT/build/fuzz
CC=clang cmake -S "$TDM_ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DTANDEM_SANITIZE=ON \
  -DTANDEM_FUZZ=ON -DTANDEM_WERROR=OFF >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target "fuzz_$TARGET" >/dev/null
CORPUS=$TDM_ROOT/tests/fuzz/corpus/$TARGET
FINDINGS=$TDM_ROOT/tests/fuzz/findings/$TARGET
mkdir -p "$FINDINGS"
DICT=()
[ -f "$TDM_ROOT/tests/fuzz/$TARGET.dict" ] && DICT=(-dict="$TDM_ROOT/tests/fuzz/$TARGET.dict")
LOG=$(mktemp)
set +e
"$BUILD/bin/fuzz_$TARGET" "$FINDINGS" "$CORPUS" "${DICT[@]}" -max_total_time="$SECONDS_TO_RUN" \
  -print_final_stats=1 -artifact_prefix="$FINDINGS/" -timeout=10 -rss_limit_mb=2048 2>&1 | tee "$LOG" | tail -5
rc=${PIPESTATUS[0]}
set -e
{
  echo "## $TARGET, $(date -u +%Y-%m-%dT%H:%MZ), ${SECONDS_TO_RUN}s, exit $rc"
  echo '```'
  grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|.*ERROR)' "$LOG" | tail -5
  grep -oE 'cov: [0-9]+ ft: [0-9]+' "$LOG" | tail -1
  echo '```'
} >>"$TDM_ROOT/tests/fuzz/CAMPAIGNS.md"
rm -f "$LOG"
exit $rc
