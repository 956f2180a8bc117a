#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark: `berth bundle verify` of a ~1 GiB bundle against `openssl dgst -sha256`
# over the same file (page cache warm for both), interleaved, median of RUNS each.
# Prints throughput of both, the ratio berth/openssl (goal ≥ 0.9) and berth's peak
# RSS (goal ≤ 16 MiB, independent of bundle size).
#
#   tests/bench/verify.sh [BUILD_DIR]      (env: SIZE=1G RUNS=5 BENCH_TMP=/var/tmp)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
BERTH=$BUILD/agent/berth
SIZE=${SIZE:-1G}
RUNS=${RUNS:-5}
[ -x "$BERTH" ] || { echo "build berth first: cmake -S . -B build && cmake --build build" >&2; exit 1; }
WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/berth-bench-verify.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "preparing a $SIZE bundle in $WORK ..."
bash "$SRC/scripts/make-oci-image.sh" -q -o "$WORK/img.tar" --compression none \
  --random-layers 8 --random-size "$SIZE" --seed bench
"$BERTH" -q keygen -o "$WORK/keys" --name bench >/dev/null
mkdir "$WORK/trust" && cp "$WORK/keys/bench.pub" "$WORK/trust/"
"$BERTH" bundle create -k "$WORK/keys/bench.key" --name bench --version 1 \
  --image "bench.local/img:1=$WORK/img.tar" -o "$WORK/b.berth" >/dev/null
rm -f "$WORK/img.tar"
bytes=$(stat -c %s "$WORK/b.berth")
cat "$WORK/b.berth" >/dev/null # warm the page cache for both tools

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# /usr/bin/time: wall seconds, CPU seconds (user+sys) and peak RSS of each run.
measure() { /usr/bin/time -f '%e %U %S %M' -o "$WORK/t" "$@" >/dev/null; cat "$WORK/t"; }
: >"$WORK/ssl"; : >"$WORK/berth"
for i in $(seq "$RUNS"); do
  measure openssl dgst -sha256 "$WORK/b.berth" >>"$WORK/ssl"
  measure "$BERTH" bundle verify --trust "$WORK/trust" "$WORK/b.berth" >>"$WORK/berth"
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
