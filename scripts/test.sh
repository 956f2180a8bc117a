#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The one test command: installs dependencies, builds berth twice (a -Werror build and
# an ASan+UBSan build) and runs the whole suite under both; then runs each fuzz target
# briefly. Exit status is non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

bash scripts/deps.sh

jobs=$(nproc)
run_suite() { # build-dir, extra cmake args...
  local dir=$1; shift
  cmake -S "$SRC" -B "$dir" -DBERTH_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs")
}

echo "== build + tests (-Werror)"
run_suite build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo

echo "== build + tests (ASan + UBSan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DBERTH_SANITIZE=ON -DBERTH_FAULT_POINTS=ON

if ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
  echo "== fuzz (libFuzzer, brief)"
  CC=clang cmake -S "$SRC" -B build/fuzz -DBERTH_WERROR=ON -DBERTH_FUZZ=ON -DBERTH_SANITIZE=ON \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build/fuzz -j"$jobs"
  bash tests/fuzz/run.sh build/fuzz "${BERTH_FUZZ_SECONDS:-20}"
fi
echo "== all tests passed"
