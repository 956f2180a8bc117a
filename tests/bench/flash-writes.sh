#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# flash-writes.sh — benchmark: bytes written to storage when an image goes into
# containerd, by `ctr images import` (OCI archive), `berth import --containerd` (signed
# bundle; berth unpacks the layers itself), `berth import --keep-layers` (the compressed
# layers stay, as a mirror needs them) and `berth import` on a gateway that serves site
# peers ([peers] listen: the layers stay for peers.keep_for), and the agent updating from
# berth-server (it unpacks each layer into containerd as it downloads it:
# agent/daemon/update_stream.c).
#
# Counted: write_bytes − cancelled_write_bytes of /proc/PID/io, for the client (read
# by its parent shell after it was reaped, which adds a child's counts to its own) and
# for containerd (before/after; its applier and content store run in-process). That is
# what the kernel sends, or will send, to the block device: page-cache writes, sqlite,
# fsyncs — not bytes merely read. Each run gets a fresh containerd with an empty root.
#
# Two imports per run: v1 (busybox base + random layers, SIZE in all) into an empty
# containerd, then v2 (the same layers plus a small one) on top: a new image should
# cost its unpacked size once, and a bundle that shares layers only its new ones.
# Prints each tool's bytes, the ratio to the unpacked size (the bytes of the
# snapshots' files), and berth/ctr.
#
# Usage: tests/bench/flash-writes.sh   (env: SIZE=200M LAYERS=4 RUNS=1,
#        BERTH=path/to/berth, default build/agent/berth; BERTH_BUILD=build dir, for
#        berth-server)
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd)"
SIZE=${SIZE:-200M}
LAYERS=${LAYERS:-4}
RUNS=${RUNS:-1}
: "${BERTH:=$BERTH_SRC/build/agent/berth}"
B=$BERTH
[ -x "$B" ] || t_fail "berth binary not found at $B (build first or set BERTH)"
W=$(t_tmpdir)
REF=berth.example/flash:1
REF2=berth.example/flash:2

t_log "building a $SIZE image (busybox + $LAYERS random gzip layers) and v2 (+ one small layer)"
t_make_image -o "$W/v1.tar" --ref "$REF" --random-layers "$LAYERS" --random-size "$SIZE" --seed flash
echo "v2" >"$W/v2.txt"
t_make_image -o "$W/v2.tar" --ref "$REF2" --random-layers "$LAYERS" --random-size "$SIZE" --seed flash \
        --file "$W/v2.txt:/etc/v2.txt"
t_keys
# No workloads: the agent's update of images only soaks 1 s.
echo '{"soak": "1s", "workloads": []}' >"$W/wl.json"
t_bundle "$W/v1.berth" --name flash --version 1 --image "$W/v1.tar" --ref "$REF" -- --workloads "$W/wl.json"
t_bundle "$W/v2.berth" --name flash --version 2 --image "$W/v2.tar" --ref "$REF2" -- --workloads "$W/wl.json"
cat "$W"/*.tar "$W"/*.berth >/dev/null

# io_of PID: bytes PID has caused (or will cause) to be written to storage.
io_of() { awk '$1 == "write_bytes:" {w = $2} $1 == "cancelled_write_bytes:" {c = $2} END {print w - c}' "/proc/$1/io"; }
# client CMD...: runs CMD in a shell that prints its reaped child's write bytes into $W/client.
client() {
        sh -c '"$@" >/dev/null || exit 1; awk '\''$1 == "write_bytes:" {w = $2} $1 == "cancelled_write_bytes:" {c = $2} END {print w - c}'\'' /proc/$$/io' \
                sh "$@" >"$W/client" || t_fail "$* failed"
}
# One import: prints the bytes client + containerd wrote.
measure() {
        sync
        local before after
        before=$(io_of "$T_CTRD_PID")
        client "$@"
        sync
        after=$(io_of "$T_CTRD_PID")
        echo $(($(cat "$W/client") + after - before))
}
unpacked() { du -sb --apparent-size "$CTRD_ROOT/root/io.containerd.snapshotter.v1.overlayfs/snapshots" | cut -f1; }
mib() { awk -v b="$1" 'BEGIN {if (b >= 1048576) printf "%.1f MiB", b / 1048576; else printf "%.1f KiB", b / 1024}'; }

# agent_update GATEWAY VERSION: deploys flash VERSION from berth-server to the running
# agent; prints the bytes the agent and containerd wrote meanwhile (the OTA path: the
# agent downloads the blobs, unpacking the layers as they arrive).
declare -A BUNDLE_IDS
agent_update() {
        local g=$1 v=$2 pid=${AGENT_PID[$1]} a0 c0
        sync
        a0=$(io_of "$pid")
        c0=$(io_of "$T_CTRD_PID")
        rollout_create "$(jq -cn --argjson b "${BUNDLE_IDS[$v]}" --arg n "$g-$v" --arg c "$g" \
                '{name: $n, bundleId: $b, filter: {controllerId: $c}}')"
        t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 300 >&2 || t_fail "the agent did not install flash $v"
        sync
        echo $(($(io_of "$pid") - a0 + $(io_of "$T_CTRD_PID") - c0))
}

declare -A W1 W2
run_tool() {
        local tool=$1
        t_containerd_stop 2>/dev/null || true
        CTRD_ROOT=$(t_tmpdir)
        t_containerd_start "$CTRD_ROOT" 2>/dev/null
        local ns=$T_CTRD_NS st
        st=$(t_tmpdir)
        case $tool in
        ctr)
                W1[$tool]=$(measure ctr -a "$T_CTRD_SOCK" -n "$ns" images import --snapshotter overlayfs "$W/v1.tar")
                U1=$(unpacked)
                W2[$tool]=$(measure ctr -a "$T_CTRD_SOCK" -n "$ns" images import --snapshotter overlayfs "$W/v2.tar")
                ;;
        berth | berth-keep | berth-peers)
                local o=(import --state-dir "$st" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" --namespace "$ns")
                [ "$tool" != berth-keep ] || o+=(--keep-layers)
                [ "$tool" != berth-peers ] || o+=(--config "$W/peers.conf")
                W1[$tool]=$(measure "$B" "${o[@]}" "$W/v1.berth")
                U1=$(unpacked)
                W2[$tool]=$(measure "$B" "${o[@]}" "$W/v2.berth")
                ;;
        berth-agent)
                if [ -z "${AGENT_SERVER_URL:-}" ]; then
                        agent_env_setup
                        for v in 1 2; do srv_upload "$W/v$v.berth"; BUNDLE_IDS[$v]=$BUNDLE_ID; done
                fi
                local g=gw-$run
                agent_add "$g" "[update]" "backends = containerd" "[containerd]" "address = $T_CTRD_SOCK" \
                        "namespace = $ns" "snapshotter = overlayfs"
                agent_start "$g"
                W1[$tool]=$(agent_update "$g" 1)
                U1=$(unpacked)
                W2[$tool]=$(agent_update "$g" 2)
                agent_stop "$g"
                ;;
        esac
        U2=$(($(unpacked) - U1))
        t_assert_contains "$(ctr -a "$T_CTRD_SOCK" -n "$ns" images ls -q)" "$REF2" "$tool imported v2"
}

# A gateway that serves its site's peers keeps the compressed layers (for peers.keep_for;
# dropping them later writes nothing).
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$W/site.key"
chmod 600 "$W/site.key"
printf '[control]\nsocket = %s/none.sock\n[peers]\nkey_file = %s/site.key\nlisten = 127.0.0.1:0\n' "$W" "$W" >"$W/peers.conf"
for run in $(seq "$RUNS"); do
        for tool in ctr berth berth-keep berth-peers berth-agent; do
                run_tool "$tool"
                printf '%-11s v1 %-11s (%.2fx of %s unpacked)   v2 %-11s (its new layer: %s unpacked)\n' "$tool" \
                        "$(mib "${W1[$tool]}")" "$(awk -v a="${W1[$tool]}" -v b="$U1" 'BEGIN {print a / b}')" \
                        "$(mib "$U1")" "$(mib "${W2[$tool]}")" "$(mib "$U2")"
        done
        printf 'run %d: bytes written, berth/ctr: v1 %.2f, v2 %.3f; berth --keep-layers/ctr: v1 %.2f; serving peers/ctr: v1 %.2f\n' "$run" \
                "$(awk -v a="${W1[berth]}" -v b="${W1[ctr]}" 'BEGIN {print a / b}')" \
                "$(awk -v a="${W2[berth]}" -v b="${W2[ctr]}" 'BEGIN {print a / b}')" \
                "$(awk -v a="${W1[berth-keep]}" -v b="${W1[ctr]}" 'BEGIN {print a / b}')" \
                "$(awk -v a="${W1[berth-peers]}" -v b="${W1[ctr]}" 'BEGIN {print a / b}')"
        printf 'run %d: the agent (layers unpacked as they arrive): v1 %.2fx unpacked, agent/ctr %.2f; v2 %s\n' "$run" \
                "$(awk -v a="${W1[berth-agent]}" -v b="$U1" 'BEGIN {print a / b}')" \
                "$(awk -v a="${W1[berth-agent]}" -v b="${W1[ctr]}" 'BEGIN {print a / b}')" "$(mib "${W2[berth-agent]}")"
done
