#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_poll.sh — the agent's polls are cheap and say what went wrong (issue 15):
#   * berth-server sends an ETag with the controller base: the agent asks again with
#     If-None-Match and takes 304 as "the same base" (no body over the WAN); a new
#     rollout changes the base, and the agent still follows it and installs;
#   * 503 with Retry-After: 4: the next poll comes no sooner than 4 s later, although
#     the agent's own backoff (server.retry_min/max 1-2 s) would come back at once;
#   * 401: `berth status` says the server refused the credentials (what lastError says),
#     not "server unreachable".
source "$(dirname "$0")/../lib/harness.sh"

AGENT_PROXY=1 agent_env_setup
t_make_image -o "$T_ROOT/img.tar" --random-layers 1 --random-size 64K --seed poll-1
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar"
srv_upload "$T_ROOT/app-1.berth"
B1=$BUNDLE_ID
PLOG=$T_ROOT/proxy.log
agent_add gw
agent_start gw

# ---- ETag / If-None-Match ----------------------------------------------------------------------
base_answers() { grep -cE "^DDI GET /[^ ]*/controller/v1/gw(\?[^ ]*)? status=$1 " "$PLOG" || true; }
t_wait_for '[ "$(base_answers 304)" -ge 2 ]' 30 || t_fail "no poll was answered 304: $(grep '^DDI' "$PLOG" | tail -5)"
nm=$(agent_status gw | jq -r .agent.pollsNotModified)
[ "$nm" -ge 2 ] || t_fail "the agent counts $nm not-modified polls"
[ "$(base_answers 200)" -ge 1 ] || t_fail "no full base answer before the 304s"
rollout_create "$(jq -cn --argjson b "$B1" '{name: "r1", bundleId: $b, filter: {controllerId: "gw"}}')"
t_wait_for 'agent_has gw app 1' 30 || t_fail "the agent did not follow a new deployment after 304 polls"
t_wait_for '[ "$(target_action_status gw)" = success ]' 30 || t_fail "the action did not succeed"
t_pass "polls carry If-None-Match and 304 keeps the base ($nm so far); a new rollout still installs"

# ---- Retry-After -------------------------------------------------------------------------------
injected() { grep -c "^DDI GET .* status=503 " "$PLOG" || true; }
echo "status 503 retry-after 4" >"$T_ROOT/proxy.control"
t_wait_for '[ "$(injected)" -ge 2 ]' 30 || t_fail "the agent did not poll twice while the server answered 503"
echo normal >"$T_ROOT/proxy.control"
gap=$(grep "^DDI GET .* status=503 " "$PLOG" | head -n 2 | sed 's/.* t=//' | awk 'NR == 1 {a = $1} NR == 2 {print $1 - a}')
awk -v g="$gap" 'BEGIN {exit !(g >= 4)}' || t_fail "the poll after 503 + Retry-After: 4 came after $gap s"
t_wait_for '[ "$(agent_status gw | jq -r .agent.pollFailures)" = 0 ]' 30 || t_fail "polling did not recover"
t_pass "503 with Retry-After: 4: the next poll came $gap s later"

# ---- 401 in the status -------------------------------------------------------------------------
echo "status 401" >"$T_ROOT/proxy.control"
refused() { grep -q "refused our credentials" <<<"$(agent_status gw | jq -r .agent.status)"; }
t_wait_for refused 30 || t_fail "status under 401: $(agent_status gw | jq -c .agent)"
text=$("$BERTH" status --config "${AGENT_DIR[gw]}/agent.conf")
t_assert_contains "$text" "the server refused our credentials (HTTP 401)"
! grep -q "unreachable" <<<"$text" || t_fail "status still says unreachable: $text"
echo normal >"$T_ROOT/proxy.control"
t_pass "401: the status names the refused credentials"
agent_stop gw
