#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_containerd.sh — `berth agent` with update.backends = containerd against a real
# containerd (private socket/root, CRI off): a server deployment ends with the image
# present and unpacked in containerd (`ctr run` runs it, no pull), berth's store keeps
# the layers (containerd.keep_layers defaults to true for the agent, so the next delta
# can reuse them), and the server sees success.
source "$(dirname "$0")/../lib/harness.sh"
[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc, mounts)"
CTRD_DIR=$(t_tmpdir)
t_containerd_start "$CTRD_DIR"

agent_env_setup
t_make_image -o "$T_ROOT/img.tar" --cmd 'echo hello from the agent deployment'
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar"
srv_upload "$T_ROOT/app-1.berth"
REF=registry.local/test/app:1
DIGEST=$(tar -xOf "$T_ROOT/img.tar" index.json | jq -r '.manifests[0].digest')
agent_add gw-ctrd "[update]" "backends = containerd" "[containerd]" "address = $T_CTRD_SOCK" \
        "namespace = $T_CTRD_NS" "snapshotter = overlayfs"
agent_start gw-ctrd
rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" '{name: "ctrd", bundleId: $b, filter: {controllerId: "gw-ctrd"}}')"
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 60 || t_fail "rollout did not finish: $(tail -5 "${AGENT_DIR[gw-ctrd]}/agent.log")"
line=$(t_ctr images ls | awk -v r="$REF" '$1 == r')
echo "$line" | grep -q "$DIGEST" || t_fail "containerd lacks $REF@$DIGEST: $(t_ctr images ls)"
out=$(t_ctr run --rm --snapshotter overlayfs "$REF" agent-ctrd-1)
echo "$out" | grep -q "hello from the agent deployment" || t_fail "ctr run: $out"
layers=$(tar -xOf "$T_ROOT/app-1.berth" manifest.json | jq -r '.blobs[] | select(.mediaType | test("layer")) | .digest')
for l in $layers; do
        [ -f "${AGENT_DIR[gw-ctrd]}/state/store/blobs/sha256/${l#sha256:}" ] || t_fail "layer $l not kept in berth's store"
done
t_pass "deployment preloaded into containerd (ctr run works, no pull); layers kept for deltas"
agent_stop gw-ctrd
