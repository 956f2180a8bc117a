#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# registry-push.sh — pushing a ~200 MiB, 5-layer image into a local docker-registry:
# `berth import --registry` versus `skopeo copy --preserve-digests oci-archive:…`.
#
# Same image as the containerd benchmark (busybox base + 4 random layers, 200 MiB,
# gzip). Runs are interleaved (the order alternates); every run starts a fresh
# registry on a new port (skopeo's blob-info cache, kept by root in /var/lib, then
# knows no repository to mount from) and berth starts with an empty state directory,
# so neither tool can skip or mount a blob. berth's time is a whole import (signature check,
# streaming verification into its store, then the push); "re-import" imports the
# installed bundle again into another fresh repository (verify the file + push,
# nothing stored), for reference.
# Prints per-run seconds, medians and the ratio berth/skopeo (goal: <= 0.8).
#
#   BERTH=build/agent/berth tests/bench/registry-push.sh [RUNS]   (default 3)
source "$(dirname "$0")/../lib/harness.sh"
: "${BERTH:=$BERTH_SRC/build/agent/berth}"
[ -x "$BERTH" ] || t_fail "build berth first (or set BERTH)"
command -v skopeo >/dev/null || t_skip "skopeo not installed (scripts/deps.sh)"
RUNS=${1:-${BENCH_RUNS:-3}}
[ "$RUNS" -ge 3 ] || t_fail "need at least 3 runs for a median"

W=$(t_tmpdir)
t_log "building the image (4 random layers, 200 MiB) and the bundle"
t_make_image -o "$W/img.tar" --ref registry.local/bench/app:1 --random-layers 4 --random-size 200M --seed bench
t_keys
t_bundle "$W/b.berth" --name bench --version 1 --image "$W/img.tar" --ref registry.local/bench/app:1

now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.3f\n", ns / 1e9 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

run_skopeo() { # i
        local home t0
        home=$(mktemp -d "$W/skopeo-home.XXXXXX")
        t0=$(now)
        HOME=$home XDG_DATA_HOME=$home/data XDG_CONFIG_HOME=$home/config \
                skopeo copy -q --preserve-digests --dest-tls-verify=false \
                "oci-archive:$W/img.tar" "docker://$T_REGISTRY/bench/skopeo-$1:1"
        secs $(($(now) - t0)) >>"$W/skopeo.times"
        rm -rf "$home"
}

run_berth() { # i
        local state=$W/state-$1 t0
        printf '[registry]\nurl = http://%s\nprefix = berth-%s\n' "$T_REGISTRY" "$1" >"$W/berth-$1.conf"
        t0=$(now)
        "$BERTH" -q import --state-dir "$state" --trust "$T_TRUST" --config "$W/berth-$1.conf" "$W/b.berth" >/dev/null
        secs $(($(now) - t0)) >>"$W/berth.times"
        # Re-import: the bundle is installed; forget the mount hints so every blob goes up again.
        rm -rf "$state/registry"
        printf '[registry]\nurl = http://%s\nprefix = push-%s\n' "$T_REGISTRY" "$1" >"$W/push-$1.conf"
        t0=$(now)
        "$BERTH" -q import --state-dir "$state" --trust "$T_TRUST" --config "$W/push-$1.conf" "$W/b.berth" >/dev/null
        secs $(($(now) - t0)) >>"$W/push.times"
        rm -rf "$state"
}

for i in $(seq "$RUNS"); do
        t_registry_start "$W/reg-$i" >/dev/null 2>&1
        if [ $((i % 2)) = 1 ]; then run_skopeo "$i"; run_berth "$i"; else run_berth "$i"; run_skopeo "$i"; fi
        t_log "run $i: skopeo $(tail -n1 "$W/skopeo.times") s, berth import $(tail -n1 "$W/berth.times") s, berth re-import $(tail -n1 "$W/push.times") s"
        # Sanity: both pushed the same manifest.
        d1=$(skopeo inspect --tls-verify=false "docker://$T_REGISTRY/bench/skopeo-$i:1" | jq -r .Digest)
        d2=$(skopeo inspect --tls-verify=false "docker://$T_REGISTRY/berth-$i/bench/app:1" | jq -r .Digest)
        t_assert_eq "$d2" "$d1" "berth and skopeo pushed the same manifest"
        t_registry_stop
        rm -rf "$W/reg-$i"
done

ms=$(median <"$W/skopeo.times")
mb=$(median <"$W/berth.times")
mp=$(median <"$W/push.times")
echo "registry-push: runs=$RUNS image=200MiB/5 layers, load average: $(cut -d" " -f1-3 /proc/loadavg)"
echo "  skopeo copy --preserve-digests (median): $ms s   [$(tr '\n' ' ' <"$W/skopeo.times")]"
echo "  berth import --registry        (median): $mb s   [$(tr '\n' ' ' <"$W/berth.times")]"
echo "  berth re-import (verify + push)(median): $mp s   [$(tr '\n' ' ' <"$W/push.times")]"
awk -v b="$mb" -v s="$ms" -v p="$mp" 'BEGIN { printf "  ratio berth/skopeo: %.2f (whole import), %.2f (re-import: verify + push); goal <= 0.8\n", b / s, p / s }'
