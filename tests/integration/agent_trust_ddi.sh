#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_trust_ddi.sh — the agent daemon keeps its trust root current over DDI (issue 18):
#   - the server is given root version 2 through POST /api/v1/trust/roots; the agent, which
#     never sees a bundle, follows the poll's trustRoots link, checks the chain and keeps
#     STATE/trust/2.json; `berth status` (through the agent, JSON and text) names version 2;
#   - version 3 expires a few seconds after it is published: once expired, the agent's
#     status says so in one line and a rollout signed by a current release key is refused
#     (the freeze rule of bundle/rootstore.h), while polling goes on.
# Not covered here: a forged chain served to the agent (the server refuses forged roots
# and tests/lib/ddiproxy.py cannot rewrite bodies); rootchain's unit tests cover refusal.
source "$(dirname "$0")/../lib/harness.sh"

agent_env_setup
"$BERTH" keygen -o "$T_ROOT/keys" --name root1 >/dev/null
"$BERTH" keygen -o "$T_ROOT/keys" --name rel2 >/dev/null
"$BERTH" trust rotate --from "$T_ROOT/trust" -o "$T_ROOT/v2.json" --remove-root-key test --add-root-key "$T_ROOT/keys/root1.pub" \
        --remove-release-key test --add-release-key "$T_ROOT/keys/rel2.pub" -k "$T_ROOT/keys/test.key" -k "$T_ROOT/keys/root1.key" \
        >/dev/null || t_fail "rotate v2"

agent_add gw
agent_start gw
root_via_agent() { agent_status gw 2>/dev/null | jq -r '.trust.root.version // empty'; }
t_wait_for '[ "$(root_via_agent)" = 1 ]' 20 || t_fail "status through the agent has no trust root: $(agent_status gw)"

mgmt POST /api/v1/trust/roots "$(cat "$T_ROOT/v2.json")"
[ "$(jq -r .version <<<"$BODY")" = 2 ] || t_fail "the server did not take root version 2: $BODY"
t_wait_for '[ -f "${AGENT_DIR[gw]}/state/trust/2.json" ]' 20 || t_fail "the agent did not fetch root version 2 from the poll link"
[ "$(root_via_agent)" = 2 ] || t_fail "status --json through the agent does not show version 2: $(agent_status gw)"
text=$("$BERTH" status --config "${AGENT_DIR[gw]}/agent.conf")
t_assert_contains "$text" "trust:   root version 2"
cmp -s "${AGENT_DIR[gw]}/state/trust/2.json" "$T_ROOT/v2.json" || t_fail "STATE/trust/2.json differs from the root posted"
t_pass "root version 2 reaches the agent through the poll's trustRoots link; status shows it"

# ---- an expired root freezes updates --------------------------------------------------------
exp=$(date -u -d "@$(($(date +%s) + 8))" +%Y-%m-%dT%H:%M:%SZ)
"$BERTH" trust rotate --from "$T_ROOT/v2.json" -o "$T_ROOT/v3.json" --expires "$exp" -k "$T_ROOT/keys/root1.key" >/dev/null ||
        t_fail "rotate v3"
mgmt POST /api/v1/trust/roots "$(cat "$T_ROOT/v3.json")"
[ "$(jq -r .version <<<"$BODY")" = 3 ] || t_fail "the server did not take root version 3: $BODY"
# Uploaded while version 3 is still valid (the server verifies uploads against its root).
t_make_image -o "$T_ROOT/img.tar" --random-layers 1 --random-size 64K --seed trustddi
"$BERTH" bundle create -k "$T_ROOT/keys/rel2.key" --name app --version 1 --image "registry.local/test/app:1=$T_ROOT/img.tar" \
        -o "$T_ROOT/app-1.berth" >/dev/null || t_fail "bundle create"
srv_upload "$T_ROOT/app-1.berth"
t_wait_for '[ -f "${AGENT_DIR[gw]}/state/trust/3.json" ]' 20 || t_fail "the agent did not fetch root version 3"
expired() { [ "$(agent_status gw 2>/dev/null | jq -r .trust.root.expired)" = true ]; }
t_wait_for expired 20 || t_fail "status never reported root version 3 as expired"
text=$("$BERTH" status --config "${AGENT_DIR[gw]}/agent.conf")
t_assert_contains "$text" "root version 3, expires $exp (EXPIRED: every bundle is refused until a newer root arrives)"
rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" '{name: "frozen", bundleId: $b, groups: [100]}')"
failed() { [ "$(target_action_status gw)" = failure ]; }
t_wait_for failed 30 || t_fail "the agent did not refuse a bundle under an expired root"
agent_has gw app 1 && t_fail "the agent installed a bundle under an expired root"
polls() { agent_status gw | jq -r .agent.lastPoll; }
p1=$(polls)
t_wait_for '[ "$(polls)" != "$p1" ]' 10 || t_fail "polling stopped after the refusal"
t_pass "an expired root: status says so in one line, the rollout is refused, polling goes on"
agent_stop gw
