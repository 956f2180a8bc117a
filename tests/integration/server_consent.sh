#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server and consent (hawkBit's confirmationBase): a rollout with
# confirmationRequired links its action from the poll as confirmationBase, not
# deploymentBase, until the target confirms it; a denial keeps it waiting; the
# management API shows the state; auto-confirm (activateAutoConfirm with initiator and
# remark, deactivateAutoConfirm) confirms waiting and new actions, and says who did it.
source "$(dirname "$0")/../lib/harness.sh"

srv_config "[bundles]" "insecure_skip_verify = true"
srv_start
srv_upload_bundle app 1 --raw 300000
tok() { echo "tok-$1-0123456789"; }
mgmt POST /api/v1/targets "$(jq -cn '[("gw-1", "gw-2", "gw-3") | {controllerId: ., token: ("tok-" + . + "-0123456789")}]')"
expect_code 201 "register"

# rollout_for CID: a started rollout that asks CID for confirmation; prints its id.
rollout_for() {
        mgmt POST /api/v1/rollouts "{\"name\":\"r-$1\",\"bundleId\":$BUNDLE_ID,\"filter\":{\"controllerId\":\"$1\"},\"confirmationRequired\":true}"
        expect_code 201 "create the rollout for $1"
        echo "$BODY" | jq -e '.confirmationRequired == true' >/dev/null || t_fail "rollout: $BODY"
        local id
        id=$(echo "$BODY" | jq -r .id)
        "$SERVER_BIN" rollout start "$id" >/dev/null
        echo "$id"
}
# link CID REL: polls CID and prints the action id of its REL link (or nothing).
link() {
        ddi GET "$1" "" "$(tok "$1")" "" -D "$T_ROOT/headers"
        expect_code 200 "poll $1"
        echo "$BODY" | jq -r "._links.$2.href // empty" | sed "s,.*/$2/,,;s,?.*,,"
}
etag() { sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$T_ROOT/headers"; }
action() { mgmt GET "/api/v1/actions/$1"; echo "$BODY"; }

R1=$(rollout_for gw-1)
AID=$(link gw-1 confirmationBase)
[ -n "$AID" ] || t_fail "no confirmationBase link for a waiting action: $BODY"
[ -z "$(echo "$BODY" | jq -r '._links.deploymentBase // empty')" ] || t_fail "deploymentBase before confirmation: $BODY"
E_WAIT=$(etag)
ddi GET gw-1 /confirmationBase "$(tok gw-1)"
expect_code 200 "confirmationBase"
echo "$BODY" | jq -e --arg a "$AID" '.autoConfirm.active == false and (._links.activateAutoConfirm.href | endswith("/confirmationBase/activateAutoConfirm"))
        and (._links.confirmationBase.href | test("/confirmationBase/" + $a + "[?]"))' >/dev/null || t_fail "confirmationBase: $BODY"
ddi GET gw-1 "/confirmationBase/$AID" "$(tok gw-1)"
expect_code 200 "confirmationBase/$AID"
echo "$BODY" | jq -e --arg a "$AID" '.id == $a and .confirmation.download == "forced" and .confirmation.update == "forced"
        and (.confirmation.chunks[0].artifacts[0]._links.download.href | test("/softwaremodules/"))' >/dev/null ||
        t_fail "confirmationBase/$AID: $BODY"
ddi GET gw-1 "/deploymentBase/$AID" "$(tok gw-1)"
expect_code 404 "deploymentBase of a waiting action"
ddi POST gw-1 "/deploymentBase/$AID/feedback" "$(tok gw-1)" "$(feedback proceeding none)"
expect_code 404 "deployment feedback for a waiting action"
action "$AID" | jq -e '.confirmation == "waiting" and .status == "scheduled"' >/dev/null || t_fail "action show: $BODY"
mgmt GET /api/v1/targets/gw-1
echo "$BODY" | jq -e '.currentAction.confirmation == "waiting" and .autoConfirm.active == false' >/dev/null ||
        t_fail "target show: $BODY"
"$SERVER_BIN" rollout status "$R1" | jq -e '.groups[0].waitingForConfirmation == 1 and .totals.waitingForConfirmation == 1' \
        >/dev/null || t_fail "rollout status: $("$SERVER_BIN" rollout status "$R1")"
t_pass "a rollout with confirmationRequired: the poll links confirmationBase, no deployment yet, the state is shown"

ddi POST gw-1 "/confirmationBase/$AID/feedback" "$(tok gw-1)" '{"confirmation":"maybe"}'
expect_code 400 "confirmation 'maybe'"
ddi POST gw-1 "/confirmationBase/$AID/feedback" "$(tok gw-1)" \
        '{"confirmation":"denied","code":7,"details":["the line is running"]}'
expect_code 200 "deny"
action "$AID" | jq -e '.confirmation == "denied" and .feedback[-1].execution == "confirmation"
        and .feedback[-1].finished == "denied" and .feedback[-1].code == 7
        and .feedback[-1].details == ["the line is running"]' >/dev/null || t_fail "after the denial: $BODY"
[ "$(link gw-1 confirmationBase)" = "$AID" ] || t_fail "a denied action no longer waits: $BODY"
ddi POST gw-1 "/confirmationBase/$AID/feedback" "$(tok gw-1)" '{"confirmation":"confirmed","details":["shift change"]}'
expect_code 200 "confirm"
[ "$(link gw-1 deploymentBase)" = "$AID" ] || t_fail "no deploymentBase after the confirmation: $BODY"
[ "$(etag)" != "$E_WAIT" ] || t_fail "the poll's ETag did not change with the confirmation"
ddi GET gw-1 "/deploymentBase/$AID" "$(tok gw-1)"
expect_code 200 "deploymentBase after the confirmation"
ddi GET gw-1 "/confirmationBase/$AID" "$(tok gw-1)"
expect_code 404 "confirmationBase of a confirmed action"
ddi POST gw-1 "/confirmationBase/$AID/feedback" "$(tok gw-1)" '{"confirmation":"confirmed"}'
expect_code 404 "a second confirmation"
action "$AID" | jq -e '.confirmation == "confirmed" and .feedback[-1].finished == "confirmed"' >/dev/null ||
        t_fail "after the confirmation: $BODY"
"$SERVER_BIN" rollout status "$R1" | jq -e '.totals.waitingForConfirmation == 0' >/dev/null || t_fail "rollout still waits"
t_pass "denied: it keeps waiting (recorded with code and details); confirmed: deploymentBase appears"

# Auto-confirm: on with initiator and remark; a new action is confirmed at once.
ddi POST gw-2 /confirmationBase/activateAutoConfirm "$(tok gw-2)" '{"initiator":"night shift","remark":"unattended line"}'
expect_code 200 "activateAutoConfirm"
ddi POST gw-2 /confirmationBase/activateAutoConfirm "$(tok gw-2)" ''
expect_code 409 "activateAutoConfirm twice"
ddi GET gw-2 /confirmationBase "$(tok gw-2)"
echo "$BODY" | jq -e '.autoConfirm.active and .autoConfirm.initiator == "night shift" and .autoConfirm.remark == "unattended line"
        and .autoConfirm.activatedAt > 0 and ._links.deactivateAutoConfirm' >/dev/null || t_fail "auto-confirm state: $BODY"
mgmt GET /api/v1/targets/gw-2
echo "$BODY" | jq -e '.autoConfirm.active and .autoConfirm.initiator == "night shift"' >/dev/null || t_fail "target show: $BODY"
rollout_for gw-2 >/dev/null
A2=$(link gw-2 deploymentBase)
[ -n "$A2" ] || t_fail "an auto-confirmed action is not deployed: $BODY"
action "$A2" | jq -e '.confirmation == "confirmed" and (.feedback[0].details[0] | test("automatically.*night shift.*unattended line"))' \
        >/dev/null || t_fail "auto-confirmed action: $BODY"
ddi PUT gw-2 /confirmationBase/deactivateAutoConfirm "$(tok gw-2)" ''
expect_code 200 "deactivateAutoConfirm (PUT)"
ddi GET gw-2 /confirmationBase "$(tok gw-2)"
echo "$BODY" | jq -e '.autoConfirm.active == false and ._links.activateAutoConfirm' >/dev/null || t_fail "after deactivate: $BODY"
t_pass "auto-confirm: initiator and remark kept and shown; a new action goes ahead at once; off again"

# Turning auto-confirm on releases the action that waits.
rollout_for gw-3 >/dev/null
A3=$(link gw-3 confirmationBase)
[ -n "$A3" ] || t_fail "gw-3 does not wait: $BODY"
ddi PUT gw-3 /confirmationBase/activateAutoConfirm "$(tok gw-3)" '{"initiator":"operator"}'
expect_code 200 "activateAutoConfirm (PUT)"
[ "$(link gw-3 deploymentBase)" = "$A3" ] || t_fail "auto-confirm did not release the waiting action: $BODY"
t_pass "auto-confirm confirms the action that was waiting"

srv_stop
t_pass "server shut down cleanly"
