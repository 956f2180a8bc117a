#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# containerd-import.sh — benchmark: `berth import --containerd` of a signed bundle vs
# `ctr images import` of the same OCI archive, both unpacking into the same
# snapshotter of a private containerd. berth also verifies the signature and every
# digest and keeps its own store. Runs are interleaved (ctr, berth, ctr, berth, ...),
# each against a freshly started containerd with an empty root, and each berth run
# with an empty state dir. Prints every run (wall time, and CPU time of the client plus
# containerd, which shows the work done independently of machine load), the medians
# and the ratio berth/ctr of the median wall times.
#
# Usage: tests/bench/containerd-import.sh   (env: RUNS=3 SIZE=200M LAYERS=4 (random,
#        plus the busybox base = 5) SNAPSHOTTER=overlayfs COMPRESSION=gzip,
#        BERTH=path/to/berth, default build/agent/berth)
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd)"
RUNS=${RUNS:-3}
SIZE=${SIZE:-200M}
LAYERS=${LAYERS:-4}
SNAPSHOTTER=${SNAPSHOTTER:-overlayfs}
COMPRESSION=${COMPRESSION:-gzip}
: "${BERTH:=$BERTH_SRC/build/agent/berth}"
B=$BERTH
[ -x "$B" ] || t_fail "berth binary not found at $B (build first or set BERTH)"
REF=berth.example/bench:1.0
W=$(t_tmpdir)

t_log "building a $SIZE image: busybox base + $LAYERS random layers ($COMPRESSION)"
t_make_image -o "$W/img.tar" --ref "$REF" --compression "$COMPRESSION" --random-layers "$LAYERS" \
        --random-size "$SIZE" --seed bench
t_keys
t_bundle "$W/bench.berth" --name bench --version 1 --image "$W/img.tar" --ref "$REF"
DIGEST=$(tar -xOf "$W/img.tar" index.json | jq -r '.manifests[0].digest')
t_log "archive $(du -h "$W/img.tar" | cut -f1), bundle $(du -h "$W/bench.berth" | cut -f1)"
# Same starting point for both: the input files in the page cache.
cat "$W/img.tar" "$W/bench.berth" >/dev/null

now() { date +%s.%N; }
TCK=$(getconf CLK_TCK)
# CPU seconds (user+sys) containerd has used so far.
ctrd_cpu() { awk -v t="$TCK" '{printf "%.2f", ($14 + $15) / t}' "/proc/$T_CTRD_PID/stat"; }
# Runs a command under /usr/bin/time; CPU seconds of it land in $W/cpu.
timed() { /usr/bin/time -f '%U %S' -o "$W/cpu.raw" "$@" && awk '{printf "%.2f", $1 + $2}' "$W/cpu.raw" >"$W/cpu"; }
# fresh_containerd: a new containerd with an empty root for every timed run.
fresh_containerd() {
        t_containerd_stop
        local d
        d=$(t_tmpdir)
        t_containerd_start "$d" 2>/dev/null
}
check_image() {
        local line
        line=$(ctr -a "$T_CTRD_SOCK" -n "$T_CTRD_NS" images ls | awk -v r="$REF" '$1 == r')
        t_assert_contains "$line" "$DIGEST" "$1 imported the image"
        [ -n "$(ctr -a "$T_CTRD_SOCK" -n "$T_CTRD_NS" snapshots --snapshotter "$SNAPSHOTTER" ls | awk 'NR > 1')" ] ||
                t_fail "$1 did not unpack into $SNAPSHOTTER"
}

ctr_times=()
berth_times=()
ctr_cpu=()
berth_cpu=()
for i in $(seq 1 "$RUNS"); do
        fresh_containerd
        c0=$(ctrd_cpu)
        s=$(now)
        timed ctr -a "$T_CTRD_SOCK" -n "$T_CTRD_NS" images import --snapshotter "$SNAPSHOTTER" "$W/img.tar" >/dev/null
        e=$(now)
        check_image ctr
        ctr_times+=("$(echo "$e - $s" | bc)")
        ctr_cpu+=("$(echo "$(cat "$W/cpu") + $(ctrd_cpu) - $c0" | bc)")

        fresh_containerd
        st=$(t_tmpdir)
        c0=$(ctrd_cpu)
        s=$(now)
        timed "$B" import --state-dir "$st" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" --namespace "$T_CTRD_NS" \
                --snapshotter "$SNAPSHOTTER" "$W/bench.berth" >/dev/null
        e=$(now)
        check_image berth
        berth_times+=("$(echo "$e - $s" | bc)")
        berth_cpu+=("$(echo "$(cat "$W/cpu") + $(ctrd_cpu) - $c0" | bc)")
        printf 'run %d: ctr %.2f s (CPU %.2f s), berth %.2f s (CPU %.2f s)  (load %s)\n' "$i" "${ctr_times[-1]}" \
                "${ctr_cpu[-1]}" "${berth_times[-1]}" "${berth_cpu[-1]}" "$(cut -d' ' -f1 /proc/loadavg)"
done
t_containerd_stop

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
mc=$(median "${ctr_times[@]}")
mb=$(median "${berth_times[@]}")
printf 'image: %s, %s layers incl. base, %s, snapshotter %s, %d runs each\n' "$SIZE" "$((LAYERS + 1))" \
        "$COMPRESSION" "$SNAPSHOTTER" "$RUNS"
printf 'median ctr images import: %.2f s  (CPU, client + containerd: %.2f s)\n' "$mc" "$(median "${ctr_cpu[@]}")"
printf 'median berth import:      %.2f s  (CPU, client + containerd: %.2f s)\n' "$mb" "$(median "${berth_cpu[@]}")"
printf 'ratio berth/ctr: %.2f (goal <= 0.8)\n' "$(echo "scale=4; $mb / $mc" | bc)"
