#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The one test command: installs dependencies, builds berth twice (a -Werror build and
# an ASan+UBSan build) and runs the whole suite under both; then runs each fuzz target
# briefly. Every stage runs even when an earlier one failed. Per build it prints the
# failed tests and the 10 slowest; the last line is "N passed, N failed" over both
# builds and the fuzz targets (a build that does not compile counts as one failure).
# Exit status is non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

bash scripts/deps.sh

jobs=$(nproc)
PASSED=0
FAILED=0
T_START=$SECONDS
TIMES=()

# summarize JUNIT LABEL: prints the build's counts, failures and 10 slowest tests, and
# "P F" (passed, failed) on its last line for the caller.
summarize() {
  python3 - "$1" "$2" <<'PY'
import sys
import xml.etree.ElementTree as ET
junit, label = sys.argv[1], sys.argv[2]
cases = ET.parse(junit).getroot().iter("testcase")
passed, failed, skipped = [], [], []
for c in cases:
    name, t, status = c.get("name"), float(c.get("time") or 0), c.get("status")
    if c.find("skipped") is not None or status in ("notrun", "disabled"):
        skipped.append((name, t))
    elif c.find("failure") is not None or c.find("error") is not None or status == "fail":
        failed.append((name, t))
    else:
        passed.append((name, t))
print(f"== {label}: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
for n, _ in failed:
    print(f"   FAILED  {n}")
for n, _ in skipped:
    print(f"   skipped {n}")
print(f"== {label}: the 10 slowest tests")
for n, t in sorted(passed + failed + skipped, key=lambda x: -x[1])[:10]:
    print(f"   {t:8.1f} s  {n}")
print(len(passed), len(failed))
PY
}

# run_suite LABEL BUILD_DIR CMAKE_ARGS...: configure, build, ctest; adds to the totals.
run_suite() {
  local label=$1 dir=$2 t0=$SECONDS out p f
  shift 2
  echo "== build + tests ($label)"
  if ! cmake -S "$SRC" -B "$dir" -DBERTH_WERROR=ON "$@" >/dev/null || ! cmake --build "$dir" -j"$jobs"; then
    echo "== $label: the build failed; its tests did not run"
    FAILED=$((FAILED + 1))
    TIMES+=("$label $((SECONDS - t0)) s (build failed)")
    return 0
  fi
  rm -f "$dir/ctest-junit.xml"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --output-junit ctest-junit.xml) || true
  if [ ! -s "$dir/ctest-junit.xml" ]; then
    echo "== $label: ctest wrote no results"
    FAILED=$((FAILED + 1))
    return 0
  fi
  out=$(summarize "$dir/ctest-junit.xml" "$label")
  printf '%s\n' "$out" | sed '$d'
  read -r p f <<<"$(printf '%s\n' "$out" | tail -n 1)"
  PASSED=$((PASSED + p))
  FAILED=$((FAILED + f))
  TIMES+=("$label $((SECONDS - t0)) s")
}

run_suite "-Werror" build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite "ASan + UBSan" build/asan -DCMAKE_BUILD_TYPE=Debug -DBERTH_SANITIZE=ON -DBERTH_FAULT_POINTS=ON

if ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
  echo "== fuzz (libFuzzer, brief)"
  t0=$SECONDS
  if CC=clang cmake -S "$SRC" -B build/fuzz -DBERTH_WERROR=ON -DBERTH_FUZZ=ON -DBERTH_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null && cmake --build build/fuzz -j"$jobs"; then
    # run.sh ends with "fuzz: P passed, F failed" (one per target).
    bash tests/fuzz/run.sh build/fuzz "${BERTH_FUZZ_SECONDS:-20}" | tee build/fuzz/run.out || true
    if read -r _ p _ f _ < <(grep '^fuzz: [0-9]* passed, [0-9]* failed$' build/fuzz/run.out | tail -n 1); then
      PASSED=$((PASSED + p))
      FAILED=$((FAILED + f))
    else
      echo "== fuzz: run.sh printed no result"
      FAILED=$((FAILED + 1))
    fi
  else
    echo "== fuzz: the build failed"
    FAILED=$((FAILED + 1))
  fi
  TIMES+=("fuzz $((SECONDS - t0)) s")
fi

times=$(printf '%s, ' "${TIMES[@]}")
echo "== time: ${times}total $((SECONDS - T_START)) s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
