#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_platform.sh — one platform per gateway. A bundle whose image is an index for
# linux/amd64 (this host) and linux/arm64, each with its own random layer over a shared
# base, is deployed through the counting proxy:
#   * the agent fetches the index and the manifests first, then only its platform's
#     config and layers: it costs ≤ 1.02 × the bytes of the same image built for amd64
#     alone (measured on a second agent, same run); the arm64 layer is not in its store;
#     the feedback says how many blobs of other platforms it did not need;
#   * with the containerd backend the image is valid for this platform: `ctr run` runs it
#     (no pull) although the arm64 manifest's blobs are absent;
#   * a bundle whose index has an arm64 manifest only fails on this gateway, saying which
#     image has no manifest for linux/amd64, after fetching only its index and manifest;
#   * `berth import` of the two-platform bundle from a file (a USB stick) stores only the
#     amd64 blobs and preloads a runnable image into containerd; the arm64-only bundle is
#     refused with the same sentence and nothing stored.
source "$(dirname "$0")/../lib/harness.sh"
[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc, mounts)"
[ "$(uname -m)" = x86_64 ] || t_skip "the test builds its other platform as arm64: run it on amd64"
t_containerd_start "$(t_tmpdir)"
AGENT_PROXY=1 agent_env_setup

t_make_image -o "$T_ROOT/amd64.tar" --arch amd64 --random-layers 1 --random-size 1M --seed plat-amd \
        --cmd 'echo hello from amd64'
t_make_image -o "$T_ROOT/arm64.tar" --arch arm64 --random-layers 1 --random-size 3M --seed plat-arm \
        --cmd 'echo hello from arm64'
bash "$BERTH_SRC/scripts/merge-oci-platforms.sh" -o "$T_ROOT/multi.tar" "$T_ROOT/amd64.tar" "$T_ROOT/arm64.tar"
bash "$BERTH_SRC/scripts/merge-oci-platforms.sh" -o "$T_ROOT/armidx.tar" "$T_ROOT/arm64.tar"
t_bundle "$T_ROOT/solo-1.berth" --name solo --version 1 --image "$T_ROOT/amd64.tar"
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/multi.tar"
t_bundle "$T_ROOT/arm-1.berth" --name arm --version 1 --image "$T_ROOT/armidx.tar"
for b in solo app arm; do
        srv_upload "$T_ROOT/$b-1.berth"
        eval "B_$b=$BUNDLE_ID"
done
ARM_LAYER=$(tar -xOf "$T_ROOT/arm64.tar" index.json | jq -r '.manifests[0].digest')
ARM_LAYER=$(tar -xOf "$T_ROOT/arm64.tar" "blobs/sha256/${ARM_LAYER#sha256:}" | jq -r '.layers[-1].digest')
deploy() { rollout_create "$(jq -cn --argjson b "$1" --arg n "$2" --arg t "$3" '{name: $n, bundleId: $b, filter: {controllerId: $t}}')"; }
status_is() { [ "$(target_action_status "$1")" = "$2" ]; }

# ---- the same image for amd64 alone: what this platform costs -------------------------------
agent_add gw-solo
agent_start gw-solo
b0=$(proxy_bytes)
deploy "$B_solo" solo gw-solo
t_wait_for 'status_is gw-solo success' 60 || t_fail "the amd64-only bundle did not install: $(target_action_status gw-solo)"
solo=$(( $(proxy_bytes) - b0 ))
agent_stop gw-solo

# ---- the two-platform bundle --------------------------------------------------------------------------
agent_add gw-multi
agent_start gw-multi
b0=$(proxy_bytes)
deploy "$B_app" multi gw-multi
t_wait_for 'status_is gw-multi success' 60 || t_fail "the two-platform bundle did not install: $(tail -5 "${AGENT_DIR[gw-multi]}/agent.log")"
multi=$(( $(proxy_bytes) - b0 ))
echo "amd64 alone: $solo artifact bytes; two-platform bundle: $multi; bundle files $(stat -c %s "$T_ROOT/solo-1.berth") and $(stat -c %s "$T_ROOT/app-1.berth")"
[ "$(( multi * 100 ))" -le "$(( solo * 102 ))" ] || t_fail "the two-platform bundle cost $multi bytes, more than 1.02 × $solo"
[ -e "${AGENT_DIR[gw-multi]}/state/store/blobs/sha256/${ARM_LAYER#sha256:}" ] && t_fail "the arm64 layer was stored"
said=$(action_json gw-multi | jq -r '[.. | .details? // empty] | flatten | map(select(test("^installed"))) | .[0] // ""')
t_assert_contains "$said" "of other platforms not needed" "the success feedback"
t_pass "two platforms: $multi bytes for $solo of amd64 alone ($(( multi * 1000 / solo )) ‰); arm64 layer not fetched; $said"
agent_stop gw-multi

# ---- containerd gets a valid amd64 image -------------------------------------------------------------
agent_add gw-ctrd "[update]" "backends = containerd" "[containerd]" "address = $T_CTRD_SOCK" \
        "namespace = $T_CTRD_NS" "snapshotter = overlayfs"
agent_start gw-ctrd
deploy "$B_app" ctrd gw-ctrd
t_wait_for 'status_is gw-ctrd success' 90 || t_fail "containerd preload of the two-platform bundle failed: $(tail -5 "${AGENT_DIR[gw-ctrd]}/agent.log")"
out=$(t_ctr run --rm --snapshotter overlayfs registry.local/test/app:1 agent-platform-1)
t_assert_contains "$out" "hello from amd64" "ctr run of the two-platform image"
grep -qx "$ARM_LAYER" <<<"$(t_ctr content ls | awk '{print $1}')" && t_fail "containerd holds the arm64 layer"
t_pass "containerd: the two-platform image runs as amd64 (no pull), without the arm64 blobs"
agent_stop gw-ctrd

# ---- arm64 only: refused ---------------------------------------------------------------------------------
agent_start gw-multi
b0=$(proxy_bytes)
deploy "$B_arm" arm gw-multi
t_wait_for 'status_is gw-multi failure' 60 ||
        t_fail "the arm64-only bundle did not fail: $(target_action_status gw-multi)"
got=$(( $(proxy_bytes) - b0 ))
why=$(action_json gw-multi | jq -r '[.. | .details? // empty] | flatten | join(" | ")')
t_assert_contains "$why" "cannot run on this gateway: image registry.local/test/arm:1 has no manifest for linux/amd64" \
        "the failure feedback"
[ "$got" -lt 1048576 ] || t_fail "the refused bundle cost $got bytes: more than its index and manifest"
t_pass "arm64 only: failed after $got bytes, saying why"
agent_stop gw-multi

# ---- berth import from a file (USB) --------------------------------------------------------------------
ST=$T_ROOT/usb-state
NS=$T_CTRD_NS-usb
out=$("$BERTH" import --no-agent --state-dir "$ST" --trust "$T_TRUST" --containerd "$T_CTRD_SOCK" --namespace "$NS" \
        "$T_ROOT/app-1.berth" 2>&1) || t_fail "berth import of the two-platform bundle failed: $out"
t_assert_contains "$out" "3 of other platforms not stored" "berth import's summary"
[ -e "$ST/store/blobs/sha256/${ARM_LAYER#sha256:}" ] && t_fail "berth import stored the arm64 layer"
stored=$(find "$ST/store/blobs/sha256" -type f | wc -l)
out=$(ctr -a "$T_CTRD_SOCK" -n "$NS" run --rm --snapshotter overlayfs registry.local/test/app:1 agent-platform-usb)
t_assert_contains "$out" "hello from amd64" "ctr run after berth import"
if out=$("$BERTH" import --no-agent --state-dir "$ST" --trust "$T_TRUST" "$T_ROOT/arm-1.berth" 2>&1); then
        t_fail "berth import of the arm64-only bundle succeeded: $out"
fi
t_assert_contains "$out" "cannot run on this gateway (nothing was changed): image registry.local/test/arm:1 has no manifest for linux/amd64" \
        "berth import's refusal"
t_assert_eq "$(find "$ST/store/blobs/sha256" -type f | wc -l)" "$stored" "blobs in the store after the refusal"
t_pass "berth import: $stored blobs stored (no arm64), the image runs from containerd; the arm64-only bundle refused"
