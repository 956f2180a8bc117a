#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_consent.sh — hawkBit's consent flow on the gateway (issue 15), against berth-server:
#   * a rollout that needs confirmation: the agent shows the waiting action in `berth
#     status` and fetches nothing; `berth confirm` of another id is refused; `berth deny
#     --reason` reaches the server as a denial naming the local user and the reason, and
#     the action keeps waiting; `berth confirm` then lets it install;
#   * an agent with update.auto_confirm = true turns the server's auto-confirm on itself,
#     and its rollout installs with no one answering on the gateway;
#   * update.auto_confirm = false turns off an auto-confirm an operator had turned on;
#     unset (the default) leaves it on, across a restart and several polls.
source "$(dirname "$0")/../lib/harness.sh"

agent_env_setup
t_make_image -o "$T_ROOT/img.tar" --random-layers 1 --random-size 64K --seed consent
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar"
srv_upload "$T_ROOT/app-1.berth"
B1=$BUNDLE_ID
agent_add gw
agent_add gw-auto "[update]" "auto_confirm = true"
agent_add gw-off "[update]" "auto_confirm = false"
agent_start gw
agent_start gw-auto
CONF=${AGENT_DIR[gw]}/agent.conf

# ---- confirm and deny on the gateway ---------------------------------------------------------
rollout_create "$(jq -cn --argjson b "$B1" '{name: "c", bundleId: $b, filter: {controllerId: "gw"}, confirmationRequired: true}')"
waiting_id() { agent_status gw | jq -r '.consent.waiting.id // empty'; }
t_wait_for '[ -n "$(waiting_id)" ]' 30 || t_fail "the agent does not show the waiting action: $(agent_status gw | jq -c .consent)"
AID=$(waiting_id)
text=$("$BERTH" status --config "$CONF")
t_assert_contains "$text" "consent: action $AID (app 1) waits for confirmation: 'berth confirm $AID'"
agent_has gw app 1 && t_fail "the agent fetched a bundle that waits for confirmation"
rc=0
out=$("$BERTH" confirm --config "$CONF" 999999 2>&1) || rc=$?
t_assert_eq "$rc" 1 "confirming an action that does not wait fails"
t_assert_contains "$out" "action 999999 does not wait for confirmation; action $AID (app 1) does"
"$BERTH" deny --config "$CONF" "$AID" >/dev/null 2>&1 && t_fail "deny without --reason was accepted"
"$BERTH" deny --config "$CONF" --reason "line 3 is running a batch" "$AID" >/dev/null || t_fail "berth deny"
denied() { action_json gw | jq -e '.confirmation == "denied"' >/dev/null; }
t_wait_for denied 20 || t_fail "the server did not record the denial: $(action_json gw)"
t_assert_contains "$(action_json gw | jq -c '.feedback[-1]')" "denied on the gateway by uid 0 (root): line 3 is running a batch"
t_wait_for '[ "$(agent_status gw | jq -r .consent.waiting.denied)" = true ]' 20 ||
        t_fail "status does not show the denied action still waiting: $(agent_status gw | jq -c .consent)"
agent_has gw app 1 && t_fail "the agent installed a denied action"
t_pass "waiting action shown, nothing fetched; a wrong id refused; the denial reached the server with who and why"

"$BERTH" confirm --config "$CONF" "$AID" >/dev/null || t_fail "berth confirm"
t_wait_for 'agent_has gw app 1' 30 || t_fail "app 1 not installed after the confirmation"
t_wait_for '[ "$(target_action_status gw)" = success ]' 30 || t_fail "the action did not succeed"
action_json gw | jq -e '[.feedback[] | select(.execution == "confirmation" and .finished == "confirmed")] | length == 1' \
        >/dev/null || t_fail "no confirmation in the action's history: $(action_json gw)"
t_assert_contains "$(action_json gw | jq -c '.feedback')" "confirmed on the gateway by uid 0 (root)"
t_wait_for '[ -z "$(waiting_id)" ]' 20 || t_fail "status still shows a waiting action"
t_pass "berth confirm: the update proceeded and installed"

# ---- update.auto_confirm ---------------------------------------------------------------------
auto_on() { mgmt GET /api/v1/targets/gw-auto; jq -e '.autoConfirm.active == true' <<<"$BODY" >/dev/null; }
t_wait_for auto_on 30 || t_fail "the agent did not turn the server's auto-confirm on: $BODY"
rollout_create "$(jq -cn --argjson b "$B1" '{name: "a", bundleId: $b, filter: {controllerId: "gw-auto"}, confirmationRequired: true}')"
t_wait_for 'agent_has gw-auto app 1' 30 || t_fail "auto_confirm: app 1 not installed"
t_wait_for '[ "$(target_action_status gw-auto)" = success ]' 30 || t_fail "auto_confirm: the action did not succeed"
t_pass "update.auto_confirm: the server's auto-confirm was turned on by the agent; the rollout installed unattended"

# ---- false turns it off; unset leaves the operator's choice ----------------------------------
auto_of() { mgmt GET "/api/v1/targets/$1"; jq -r '.autoConfirm.active' <<<"$BODY"; }
for t in gw-off gw; do
        ddi POST "$t" /confirmationBase/activateAutoConfirm "${AGENT_TOKEN[$t]}" '{"initiator":"operator","remark":"night"}'
        [ "$CODE" = 200 ] || t_fail "activateAutoConfirm for $t: $CODE $BODY"
done
agent_start gw-off
t_wait_for '[ "$(auto_of gw-off)" = false ]' 30 || t_fail "update.auto_confirm = false did not turn the server's auto-confirm off"
grep -q "turning the server's auto-confirm off (update.auto_confirm)" "${AGENT_DIR[gw-off]}/agent.log" ||
        t_fail "gw-off did not say it turned auto-confirm off"
agent_stop gw
agent_start gw
# The check runs at the first poll after a start; three polls and an empty outbox later,
# anything it would have sent has been sent.
polled() { [ "$(agent_status gw | jq -r '.agent.pollsNotModified + (if .agent.lastPoll then 1 else 0 end)')" -ge 3 ] &&
        [ "$(agent_status gw | jq -r .agent.outbox)" = 0 ]; }
t_wait_for polled 30 || t_fail "gw did not poll after its restart: $(agent_status gw | jq -c .agent)"
t_assert_eq "$(auto_of gw)" true "the operator's auto-confirm with update.auto_confirm unset"
grep -q "turning the server's auto-confirm" "${AGENT_DIR[gw]}/agent.log" && t_fail "gw (unset) changed the server's auto-confirm"
t_pass "update.auto_confirm = false turned the operator's auto-confirm off; unset left it on"
agent_stop gw
agent_stop gw-auto
agent_stop gw-off
