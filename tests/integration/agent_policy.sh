#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_policy.sh — the agent, driven by berth-server over HTTPS, holds every deployment
# against its own [policy] (issue 14, item 2):
#   * a signed bundle whose spec asks for user 0 and SYS_ADMIN is refused after the head
#     (manifest + signatures) and before any blob: the proxy forwards no artifact byte
#     beyond the head's first request, the action fails and its feedback carries the
#     sentence naming workload, field and policy key; nothing is stored (a positive
#     control first: a bundle within the policy is fetched whole and installed);
#   * the same bundle passed to `berth import` goes through the agent's control socket
#     and is refused with the same sentence;
#   * an agent whose agent.conf [policy] allows root and SYS_ADMIN installs it: the
#     agent reads its own configured policy, not only the defaults;
#   * an agent with a misspelt [policy] key does not start, naming the key.
source "$(dirname "$0")/../lib/harness.sh"

AGENT_PROXY=1 agent_env_setup
t_make_image -o "$T_ROOT/img1.tar" --random-layers 2 --random-size 2M --seed policy-1
t_make_image -o "$T_ROOT/img2.tar" --random-layers 2 --random-size 2M --seed policy-2
spec() { # VERSION USER CAPS -> spec file
        cat >"$T_ROOT/wl$1.json" <<EOF
[{"name": "poller", "image": "registry.local/test/app:$1", "user": "$2", "network": "host",
  "capabilities": {"add": $3}, "resources": {"memory": "16M", "cpu": "100m"}}]
EOF
}
spec 1 1000:1000 '[]'
spec 2 0:0 '["SYS_ADMIN"]'
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img1.tar" -- --workloads "$T_ROOT/wl1.json"
t_bundle "$T_ROOT/app-2.berth" --name app --version 2 --image "$T_ROOT/img2.tar" -- --workloads "$T_ROOT/wl2.json"
srv_upload "$T_ROOT/app-1.berth"
B1=$BUNDLE_ID
srv_upload "$T_ROOT/app-2.berth"
B2=$BUNDLE_ID
SIZE2=$(stat -c %s "$T_ROOT/app-2.berth")
# The first blob's offset in app-2: every artifact byte the agent may fetch before the
# policy check lies below it (the head), or within the first 4 KiB request, or within
# the 4 KiB of slack a second head request asks beyond the manifest.
HEAD2=$("$BERTH" bundle inspect --json "$T_ROOT/app-2.berth" | jq '.layout | map(.offset) | min')
LIMIT=$((HEAD2 > 4096 ? HEAD2 + 4096 : 4096))
SENTENCE="bundle app version 2 is outside this gateway's policy (a signature says who built it, agent.conf [policy] what may run here): workload poller: user 0 is not allowed by [policy] users = 1000-65534"
failed() { [ "$(target_action_status "$1")" = failure ]; }

# ---- within the policy: fetched whole, installed (the byte counter's positive control) ------
agent_add gw-def
agent_start gw-def
rollout_create "$(jq -cn --argjson b "$B1" '{name: "ok", bundleId: $b, filter: {controllerId: "gw-def"}}')"
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 60 || t_fail "v1 (within the policy) did not finish: $(rollout_json "$ROLLOUT_ID")"
agent_has gw-def app 1 || t_fail "v1 not stored"
bytes1=$(proxy_bytes)
[ "$bytes1" -ge $((2 * 1024 * 1024)) ] || t_fail "v1 moved only $bytes1 artifact bytes through the proxy"
t_pass "within the policy: v1 fetched ($bytes1 artifact bytes) and installed"

# ---- outside the policy: refused after the head, before any blob ---------------------------
rollout_create "$(jq -cn --argjson b "$B2" '{name: "greedy", bundleId: $b, filter: {controllerId: "gw-def"}}')"
t_wait_for 'failed gw-def' 30 || t_fail "the server did not get a failure for v2: $(action_json gw-def)"
grep -qF "$SENTENCE" <<<"$(action_json gw-def)" || t_fail "the failure feedback lacks the sentence: $(action_json gw-def)"
grep -qF "capabilities.add CAP_SYS_ADMIN is not allowed by [policy] capabilities = (none)" <<<"$(action_json gw-def)" ||
        t_fail "the feedback does not name the capability: $(action_json gw-def)"
grep -qF "$SENTENCE" "${AGENT_DIR[gw-def]}/agent.log" || t_fail "the agent's log lacks the sentence"
bytes2=$(($(proxy_bytes) - bytes1))
[ "$bytes2" -gt 0 ] || t_fail "the agent did not even fetch v2's head"
[ "$bytes2" -le "$LIMIT" ] || t_fail "v2 moved $bytes2 artifact bytes (head ends at $HEAD2 of $SIZE2): blobs were fetched"
agent_has gw-def app 2 && t_fail "v2 was stored"
[ "$(agent_status gw-def | jq '[.bundles[] | select(.version == 2)] | length')" = 0 ] || t_fail "v2 is listed"
kill -0 "${AGENT_PID[gw-def]}" || t_fail "the agent died"
t_pass "outside the policy: refused after $bytes2 head bytes of $SIZE2, before any blob; the server has the sentence"

# ---- the same bundle through the agent's control socket ------------------------------------
if out=$("$BERTH" import --config "${AGENT_DIR[gw-def]}/agent.conf" "$T_ROOT/app-2.berth" 2>&1); then
        t_fail "berth import through the agent accepted v2: $out"
fi
case $out in *"$SENTENCE"*) ;; *) t_fail "berth import through the agent: no sentence: $out" ;; esac
case $out in *"through the agent"* | *"berth: error"*) ;; *) t_fail "unexpected import output: $out" ;; esac
agent_has gw-def app 2 && t_fail "v2 was stored through the control socket"
t_pass "berth import through the agent: refused with the same sentence, nothing stored"

# ---- an agent whose [policy] allows it ----------------------------------------------------
agent_add gw-root "[policy]" "users = 0-65534" "groups = 0-65534" "capabilities = SYS_ADMIN"
agent_start gw-root
rollout_create "$(jq -cn --argjson b "$B2" '{name: "root", bundleId: $b, filter: {controllerId: "gw-root"}}')"
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 60 || t_fail "gw-root did not install v2: $(action_json gw-root)"
agent_has gw-root app 2 || t_fail "gw-root did not store v2"
t_pass "an agent whose [policy] allows root and SYS_ADMIN installs v2"

# ---- a misspelt key stops the agent at start ----------------------------------------------
agent_add gw-typo "[policy]" "user = 0"
if out=$(timeout 20 "$BERTH" agent --config "${AGENT_DIR[gw-typo]}/agent.conf" 2>&1); then
        t_fail "an agent with a misspelt policy key ran: $out"
fi
case $out in *"config policy.user: unknown policy key"*) ;; *) t_fail "no sentence for the misspelt key: $out" ;; esac
t_pass "a misspelt [policy] key stops the agent at start"
agent_stop gw-def
agent_stop gw-root
