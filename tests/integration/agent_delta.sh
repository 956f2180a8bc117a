#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_delta.sh — delta downloads by HTTP Range, counted on the server side.
#
# A counting HTTPS proxy (tests/lib/ddiproxy.py) sits in front of berth-server; the
# server's links point at it, so every artifact byte the agent receives is counted.
# Version 1 = 5 layers (busybox base + 3 random layers + a files layer); version 2
# changes only the files layer (so 4 of 5 layers are shared; config and manifest change
# too). The agent must fetch ≤ 1.02 × the bytes of the blobs that changed (head
# included), and end with the right digests.
source "$(dirname "$0")/../lib/harness.sh"

AGENT_PROXY=1 agent_env_setup
head -c 1500000 /dev/urandom > "$T_ROOT/data-v1"
head -c 1500000 /dev/urandom > "$T_ROOT/data-v2"
t_make_image -o "$T_ROOT/img1.tar" --random-layers 3 --random-size 3M --seed delta --file "$T_ROOT/data-v1:/data/blob"
t_make_image -o "$T_ROOT/img2.tar" --random-layers 3 --random-size 3M --seed delta --file "$T_ROOT/data-v2:/data/blob"
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img1.tar"
t_bundle "$T_ROOT/app-2.berth" --name app --version 2 --image "$T_ROOT/img2.tar"

blobs() { tar -xOf "$1" manifest.json | jq -r '.blobs[] | "\(.digest) \(.size)"' | sort; }
layers() { tar -xOf "$1" manifest.json | jq '[.blobs[] | select(.mediaType | test("layer"))] | length'; }
[ "$(layers "$T_ROOT/app-1.berth")" = 5 ] || t_fail "version 1 should have 5 layers, has $(layers "$T_ROOT/app-1.berth")"
shared=$(comm -12 <(blobs "$T_ROOT/app-1.berth") <(blobs "$T_ROOT/app-2.berth") | wc -l)
changed=$(comm -13 <(blobs "$T_ROOT/app-1.berth") <(blobs "$T_ROOT/app-2.berth") | awk '{s += $2} END {print s + 0}')
shared_layers=$(comm -12 <(tar -xOf "$T_ROOT/app-1.berth" manifest.json | jq -r '.blobs[] | select(.mediaType | test("layer")) | .digest' | sort) \
        <(tar -xOf "$T_ROOT/app-2.berth" manifest.json | jq -r '.blobs[] | select(.mediaType | test("layer")) | .digest' | sort) | wc -l)
[ "$shared_layers" = 4 ] || t_fail "versions should share 4 of 5 layers, share $shared_layers"
comm -13 <(blobs "$T_ROOT/app-1.berth") <(blobs "$T_ROOT/app-2.berth")
echo "v2: $shared blobs shared with v1, $changed bytes in changed blobs, v2 file $(stat -c %s "$T_ROOT/app-2.berth") bytes"

agent_add gw-delta
agent_start gw-delta

srv_upload "$T_ROOT/app-1.berth"
rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" '{name: "v1", bundleId: $b, filter: {controllerId: "gw-delta"}}')"
t_wait_for 'agent_has gw-delta app 1' 60 || t_fail "app 1 not installed"
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 30 || t_fail "rollout 1 did not finish"
b1=$(proxy_bytes)
v1_blobs=$(blobs "$T_ROOT/app-1.berth" | awk '{s += $2} END {print s}')
echo "version 1: $b1 artifact bytes served for $v1_blobs bytes of blobs"
grep ARTIFACT "$T_ROOT/proxy.log" | grep app-1
# The head, the blobs, and the tar headers between adjacent blobs (≤ 1 KiB each: one
# request carries a run of them).
n1=$(blobs "$T_ROOT/app-1.berth" | wc -l)
[ "$b1" -le $(( v1_blobs + 8192 + 1024 * n1 )) ] || t_fail "first install fetched $b1 bytes for $v1_blobs bytes of blobs"
reqs=$(grep -c "^ARTIFACT .*app-1" "$T_ROOT/proxy.log")
[ "$reqs" -le 3 ] || t_fail "first install made $reqs artifact requests for $n1 adjacent blobs (head + 1 expected)"
# The success feedback says how many requests the update took: the proxy's count.
said=$(action_json gw-delta | jq -r '[.. | .details? // empty] | flatten | map(select(test("^installed"))) | .[0] // ""')
t_assert_contains "$said" "in $reqs HTTP request(s)" "the success feedback's request count"
t_pass "version 1: $reqs requests for $n1 blobs (head + one span), and the feedback says so: $said"

srv_upload "$T_ROOT/app-2.berth"
rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" '{name: "v2", bundleId: $b, filter: {controllerId: "gw-delta"}}')"
t_wait_for 'agent_has gw-delta app 2' 60 || t_fail "app 2 not installed"
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 30 || t_fail "rollout 2 did not finish"
b2=$(( $(proxy_bytes) - b1 ))
limit=$(( changed * 102 / 100 ))
echo "version 2: $b2 artifact bytes served; changed blobs $changed bytes; limit $limit"
grep ARTIFACT "$T_ROOT/proxy.log" | grep app-2
[ "$b2" -le "$limit" ] || t_fail "delta fetched $b2 bytes, more than 1.02 × $changed"
[ "$b2" -ge "$changed" ] || t_fail "delta fetched $b2 bytes, fewer than the $changed changed bytes?"
t_pass "delta: $b2 bytes for $changed changed bytes ($(( b2 * 1000 / changed )) ‰)"

# Every stored blob hashes to its name.
for f in "${AGENT_DIR[gw-delta]}"/state/store/blobs/sha256/*; do
        [ "$(sha256sum < "$f" | cut -c1-64)" = "$(basename "$f")" ] || t_fail "blob $f is corrupt"
done
t_pass "every stored blob matches its digest"
agent_stop gw-delta
