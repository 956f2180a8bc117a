#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_lifecycle.sh — action types, maintenance windows and cancel:
#   * downloadonly: the bundle is fetched, stored and preloaded; the action closes with
#     success ("download only") and nothing is switched;
#   * the server's maintenance window is closed: the agent stages the update
#     (state "staged", feedback "downloaded"), does not switch, and keeps the action
#     open; a cancel from the server is confirmed and the action ends "canceled";
#   * the local window (update.maintenance_window) is closed: staged and waiting; the
#     state survives a restart, and once the window allows it the agent switches and
#     reports success.
source "$(dirname "$0")/../lib/harness.sh"

agent_env_setup
t_make_image -o "$T_ROOT/img.tar" --random-layers 1 --random-size 128K --seed life
for v in 1 2 3; do
        t_bundle "$T_ROOT/app-$v.berth" --name app --version $v --image "$T_ROOT/img.tar"
        srv_upload "$T_ROOT/app-$v.berth"
        eval "B$v=$BUNDLE_ID"
done
update_state() { agent_status "$1" | jq -r '.update.state // "none"'; }
state_is() { [ "$(update_state "$1")" = "$2" ]; }

# ---- download only -----------------------------------------------------------------------
agent_add gw-life
agent_start gw-life
rollout_create "$(jq -cn --argjson b "$B1" '{name: "dl", bundleId: $b, filter: {controllerId: "gw-life"}, actionType: "downloadonly"}')"
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 30 || t_fail "download-only rollout did not finish: $(rollout_json "$ROLLOUT_ID")"
agent_has gw-life app 1 || t_fail "app 1 not stored"
grep -q "download only" <<<"$(action_json gw-life)" || t_fail "no download-only feedback"
t_pass "downloadonly: stored and preloaded, closed with success, not switched"

# ---- server window closed, then cancel ---------------------------------------------------
h=$(( ($(date -u +%-H) + 12) % 24 ))
win=$(printf '%02d:00-%02d:30' "$h" "$h")
rollout_create "$(jq -cn --argjson b "$B2" --arg w "$win" '{name: "win", bundleId: $b, filter: {controllerId: "gw-life"}, maintenanceWindow: $w}')"
R_WIN=$ROLLOUT_ID
t_wait_for 'state_is gw-life staged' 30 || t_fail "app 2 not staged: $(agent_status gw-life | jq -c .update)"
agent_has gw-life app 2 || t_fail "app 2 not stored while staged"
grep -q "waiting for the server's maintenance window" <<<"$(agent_status gw-life | jq -r .agent.status)" || t_fail "status does not say why it waits"
grep -q "waiting for the server's maintenance window" <<<"$(action_json gw-life)" || t_fail "no 'waiting' feedback"
[ "$(target_action_status gw-life)" = running ] || t_fail "the action should stay open"
# stays staged over several polls (each poll re-reads the deployment)
polled_after() { [ "$(agent_status gw-life | jq -r .agent.lastPoll)" \> "$1" ]; }
t_staged=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t_wait_for 'polled_after "$t_staged"' 10 || t_fail "no poll after staging"
state_is gw-life staged || t_fail "the agent switched outside the window"
mgmt GET /api/v1/targets/gw-life
aid=$(echo "$BODY" | jq -r .currentAction.id)
mgmt POST "/api/v1/actions/$aid/cancel"
[ "$CODE" = 200 ] || t_fail "cancel: $CODE $BODY"
canceled() { [ "$(target_action_status gw-life)" = canceled ] || [ "$(target_action_status gw-life)" = none ]; }
t_wait_for canceled 30 || t_fail "cancel not confirmed: $(target_action_status gw-life)"
mgmt GET "/api/v1/actions/$aid"
[ "$(echo "$BODY" | jq -r .status)" = canceled ] || t_fail "action not canceled: $BODY"
state_is gw-life none || t_fail "the agent still holds the canceled action"
grep -q "canceled app 2" "${AGENT_DIR[gw-life]}/agent.log" || t_fail "no cancel in the agent log"
t_pass "server window closed: staged and waiting; cancelAction confirmed, action canceled"

# ---- local window closed; restart; window opens ------------------------------------------
agent_stop gw-life
h=$(( ($(date -u +%-H) + 12) % 24 ))
printf '[update]\nmaintenance_window = %02d:00-%02d:30\n' "$h" "$h" >> "${AGENT_DIR[gw-life]}/agent.conf"
agent_start gw-life
rollout_create "$(jq -cn --argjson b "$B3" '{name: "local", bundleId: $b, filter: {controllerId: "gw-life"}}')"
t_wait_for 'state_is gw-life staged' 30 || t_fail "app 3 not staged"
grep -q "local maintenance window" <<<"$(agent_status gw-life | jq -r .agent.status)" || t_fail "status does not name the local window"
agent_stop gw-life
sed -i '/^maintenance_window/d' "${AGENT_DIR[gw-life]}/agent.conf"
agent_start gw-life
grep -q "resuming app 3 (action .*) in state staged" "${AGENT_DIR[gw-life]}/agent.log" || t_fail "staged state not resumed"
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 30 || t_fail "app 3 not installed after the window opened"
grep -q "installed app 3" <<<"$(action_json gw-life)" || t_fail "no success feedback for app 3"
t_pass "local window closed: staged across a restart, switched once allowed"
agent_stop gw-life
