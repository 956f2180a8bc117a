#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_artifact_hash.sh — the deployment's sha256 of the artifact is checked, although
# the agent downloads only the blobs it lacks (fetch/rebuild.c rebuilds the artifact's
# bytes from the head and the store):
#   * berth-server's hash matches, for a first install and for a delta (v2 shares layers
#     with v1, so most of its bytes were never downloaded): the agent says so and installs;
#   * a deployment whose sha256 is not the artifact's (the proxy rewrites it): the action
#     fails naming both hashes, and nothing is installed.
source "$(dirname "$0")/../lib/harness.sh"

AGENT_PROXY=1 agent_env_setup
echo one >"$T_ROOT/data-v1"
echo two >"$T_ROOT/data-v2"
t_make_image -o "$T_ROOT/img1.tar" --random-layers 3 --random-size 192K --seed hash --file "$T_ROOT/data-v1:/data/v"
t_make_image -o "$T_ROOT/img2.tar" --random-layers 3 --random-size 192K --seed hash --file "$T_ROOT/data-v2:/data/v"
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img1.tar"
t_bundle "$T_ROOT/app-2.berth" --name app --version 2 --image "$T_ROOT/img2.tar"
t_bundle "$T_ROOT/app-3.berth" --name app --version 3 --image "$T_ROOT/img2.tar"
agent_add gw
agent_start gw
LOG=${AGENT_DIR[gw]}/agent.log

for v in 1 2; do
        srv_upload "$T_ROOT/app-$v.berth"
        rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" --arg n "r$v" '{name: $n, bundleId: $b, filter: {controllerId: "gw"}}')"
        t_wait_for "agent_has gw app $v" 60 || t_fail "app $v not installed: $(tail -3 "$LOG")"
        t_wait_for '[ "$(target_action_status gw)" = success ]' 30 || t_fail "app $v: the action did not succeed"
        want=$(sha256sum "$T_ROOT/app-$v.berth" | cut -c1-64)
        grep -q "app $v: the artifact's sha256 $want matches the deployment" "$LOG" ||
                t_fail "app $v: the agent did not check the artifact's sha256 $want: $(grep sha256 "$LOG" | tail -2)"
done
fetched=$(grep -o "installed app 2: [0-9]* bytes downloaded" "$LOG" | grep -o "[0-9]* bytes")
t_pass "the deployment's sha256 checked for v1 and for the delta v2 ($fetched of $(stat -c %s "$T_ROOT/app-2.berth") downloaded)"

WRONG=0000000000000000000000000000000000000000000000000000000000000000
echo "sha256 $WRONG" >"$T_ROOT/proxy.control"
srv_upload "$T_ROOT/app-3.berth"
rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" '{name: "r3", bundleId: $b, filter: {controllerId: "gw"}}')"
t_wait_for '[ "$(target_action_status gw)" = failure ]' 60 || t_fail "the action with a wrong sha256 did not fail: $(target_action_status gw)"
want=$(sha256sum "$T_ROOT/app-3.berth" | cut -c1-64)
said=$(action_json gw | jq -r '[.. | .details? // empty] | flatten | join(" ")')
t_assert_contains "$said" "the deployment names the artifact's sha256 $WRONG, but the bytes downloaded and verified here hash to $want"
agent_has gw app 3 && t_fail "app 3 was installed although its sha256 did not match"
t_assert_eq "$(agent_status gw | jq -r '[.bundles[] | select(.name == "app")] | max_by(.version) | .version')" 2 \
        "the newest installed version"
agent_stop gw
t_pass "a wrong deployment sha256 fails the action naming both hashes; nothing installed"
