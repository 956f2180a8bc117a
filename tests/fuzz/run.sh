#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh BUILD_DIR SECONDS — runs every libFuzzer target built in BUILD_DIR (cmake
# -DBERTH_FUZZ=ON, clang) for SECONDS each, starting from the checked-in seeds in
# tests/fuzz/corpus/<target>/ plus, when BUILD_DIR has a berth binary, a bundle freshly
# made by `berth bundle create` from the seed OCI archive. Fails if any target crashes,
# leaks, trips a sanitizer or an assertion; the crashing input is kept and its path
# printed. New corpus entries go to a scratch dir, never into the source tree. The last
# line is "fuzz: P passed, F failed" (one per target), which scripts/test.sh adds up.
set -euo pipefail
BUILD=${1:?usage: run.sh BUILD_DIR SECONDS}
SECS=${2:-20}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SEEDS=$SRC/tests/fuzz/corpus
BUILD=$(cd "$BUILD" && pwd)
OUT=${BERTH_FUZZ_OUT:-$BUILD/fuzz-out}
rm -rf "$OUT/corpus"
mkdir -p "$OUT/corpus" "$OUT/crashes"

shopt -s nullglob
targets=("$BUILD"/tests/fuzz_* "$BUILD"/server-stub/fuzz_server_*)
((${#targets[@]})) || { echo "fuzz: no fuzz_* binaries in $BUILD/tests (configure with -DBERTH_FUZZ=ON)" >&2; exit 1; }

# A seed written by berth's own writer (the checked-in ones come from tests/cli/mkbundle.py).
if [ -x "$BUILD/agent/berth" ]; then
        k=$OUT/keys
        rm -rf "$k"
        if "$BUILD/agent/berth" keygen -o "$k" --name fuzz >/dev/null 2>&1 &&
                "$BUILD/agent/berth" bundle create -k "$k/fuzz.key" --name fuzz-seed --version 1 \
                        --created 2024-01-01T00:00:00Z --expires 2030-01-01T00:00:00Z \
                        --image berth.example/tiny:1.0="$SEEDS/oci_index/tiny-oci.tar" \
                        -o "$OUT/fresh.berth" >/dev/null 2>&1; then
                mkdir -p "$OUT/extra/reader" "$OUT/extra/manifest" "$OUT/extra/signatures"
                cp "$OUT/fresh.berth" "$OUT/extra/reader/"
                tar -xOf "$OUT/fresh.berth" manifest.json >"$OUT/extra/manifest/fresh.json"
                tar -xOf "$OUT/fresh.berth" signatures.json >"$OUT/extra/signatures/fresh.json"
        else
                echo "fuzz: could not make a fresh seed bundle with $BUILD/agent/berth; using checked-in seeds" >&2
        fi
fi

fail=0
npass=0
nfail=0
for bin in "${targets[@]}"; do
        name=$(basename "$bin")
        kind=${name#fuzz_}
        work=$OUT/corpus/$kind
        mkdir -p "$work"
        dirs=("$work")
        [ -d "$SEEDS/$kind" ] && dirs+=("$SEEDS/$kind")
        [ -d "$OUT/extra/$kind" ] && dirs+=("$OUT/extra/$kind")
        dict=()
        case $kind in manifest | reader) dict=(-dict="$SRC/tests/fuzz/manifest.dict") ;; trust_root) dict=(-dict="$SRC/tests/fuzz/trust_root.dict") ;; workload_spec) dict=(-dict="$SRC/tests/fuzz/workload_spec.dict") ;; server_telemetry) dict=(-dict="$SRC/tests/fuzz/server_telemetry.dict") ;; esac
        echo "== $name: ${SECS}s"
        if ! "$bin" -max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
                -artifact_prefix="$OUT/crashes/$name-" "${dict[@]}" "${dirs[@]}" >"$OUT/$name.log" 2>&1; then
                echo "fuzz: $name FAILED; last lines of $OUT/$name.log:" >&2
                tail -40 "$OUT/$name.log" >&2
                for c in "$OUT/crashes/$name-"*; do echo "fuzz: crashing input: $c" >&2; done
                fail=1
                nfail=$((nfail + 1))
        else
                npass=$((npass + 1))
                grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$OUT/$name.log" | tr '\n' ' '
                echo
        fi
done
echo "fuzz: $npass passed, $nfail failed"
exit "$fail"
