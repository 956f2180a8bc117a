#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark: `berth bundle verify` of a ~1 GiB bundle against `openssl dgst -sha256`
# over the same file (page cache warm for both), interleaved, median of RUNS each.
# Prints throughput of both, the ratio berth/openssl (goal ≥ 0.9) and berth's peak
# RSS (goal ≤ 16 MiB, independent of bundle size).
#
#   tests/bench/verify.sh [BUILD_DIR]      (env: SIZE=1G RUNS=5 BENCH_TMP=/var/tmp)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
export BERTH=$BUILD/agent/berth
export BERTH_TEST_TMP=${BENCH_TMP:-/var/tmp}
# shellcheck source=../lib/harness.sh
source "$SRC/tests/lib/harness.sh"
SIZE=${SIZE:-1G}
RUNS=${RUNS:-5}
[ -x "$BERTH" ] || t_fail "build berth first: cmake -S . -B build && cmake --build build"
WORK=$(t_tmpdir)

echo "preparing a $SIZE bundle in $WORK ..."
t_make_image -o "$WORK/img.tar" --compression none --random-layers 8 --random-size "$SIZE" --seed bench
t_bundle "$WORK/b.berth" --name bench --version 1 --image "$WORK/img.tar" --ref bench.local/img:1
rm -f "$WORK/img.tar"
bytes=$(stat -c %s "$WORK/b.berth")
cat "$WORK/b.berth" >/dev/null # warm the page cache for both tools

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# /usr/bin/time: wall seconds, CPU seconds (user+sys) and peak RSS of each run.
measure() { /usr/bin/time -f '%e %U %S %M' -o "$WORK/t" "$@" >/dev/null; cat "$WORK/t"; }
: >"$WORK/ssl"; : >"$WORK/berth"
for i in $(seq "$RUNS"); do
  measure openssl dgst -sha256 "$WORK/b.berth" >>"$WORK/ssl"
  measure "$BERTH" bundle verify --trust "$T_TRUST" "$WORK/b.berth" >>"$WORK/berth"
done
wall() { awk '{print $1}' "$1" | median; }
cpu() { awk '{print $2 + $3}' "$1" | median; }
ws=$(wall "$WORK/ssl"); wb=$(wall "$WORK/berth"); cs=$(cpu "$WORK/ssl"); cb=$(cpu "$WORK/berth")
peak=$(awk '{print $4}' "$WORK/berth" | sort -n | tail -1)
mib=$(echo "$bytes / 1048576" | bc -l)
printf 'bundle:        %.0f MiB, %d runs each, interleaved\n' "$mib" "$RUNS"
printf 'openssl dgst:  %.0f MiB/s (median wall %.3f s, cpu %.3f s)\n' "$(echo "$mib / $ws" | bc -l)" "$ws" "$cs"
printf 'berth verify:  %.0f MiB/s (median wall %.3f s, cpu %.3f s)\n' "$(echo "$mib / $wb" | bc -l)" "$wb" "$cb"
printf 'ratio berth/openssl throughput: %.2f wall, %.2f cpu (goal >= 0.90)\n' "$(echo "$ws / $wb" | bc -l)" "$(echo "$cs / $cb" | bc -l)"
printf 'berth peak RSS: %.1f MiB (goal <= 16 MiB)\n' "$(echo "$peak / 1024" | bc -l)"
