#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server: what the management API says about an action agrees with itself (`action
# show` and `target show` give the same group, numbered from 1), and canceled targets
# never hold a rollout: one whose only target was canceled finishes, and a group whose
# targets were canceled lets the next group start.
source "$(dirname "$0")/../lib/harness.sh"

srv_config "[bundles]" "insecure_skip_verify = true"
srv_start
srv_upload_bundle app 1 --raw 300000
tok() { echo "tok-$1-0123456789"; }
mgmt POST /api/v1/targets "$(jq -cn '[("solo", "pair-a", "pair-b") | {controllerId: ., token: ("tok-" + . + "-0123456789")}]')"
expect_code 201 "register"
rstate() { "$SERVER_BIN" rollout status "$1" | jq -r "$2"; }

# cancel_confirmed CID: the operator cancels CID's action; the target confirms it.
cancel_confirmed() {
        local cid=$1 aid
        aid=$(action_of "$cid" "$(tok "$cid")")
        [ -n "$aid" ] || t_fail "$cid has no deployment"
        mgmt POST "/api/v1/actions/$aid/cancel"
        expect_code 200 "cancel action $aid"
        ddi GET "$cid" "" "$(tok "$cid")"
        echo "$BODY" | jq -e "._links.cancelAction.href | endswith(\"/cancelAction/$aid\")" >/dev/null ||
                t_fail "$cid is not asked to cancel: $BODY"
        ddi POST "$cid" "/cancelAction/$aid/feedback" "$(tok "$cid")" "$(feedback canceled success)"
        expect_code 200 "$cid confirms the cancel"
        mgmt GET "/api/v1/actions/$aid"
        echo "$BODY" | jq -e '.status == "canceled"' >/dev/null || t_fail "action $aid not canceled: $BODY"
}

# One target, canceled: the rollout is done.
R1=$("$SERVER_BIN" rollout create --name solo --bundle "$BUNDLE_ID" --filter controllerId=solo | jq -r .id)
"$SERVER_BIN" rollout start "$R1" >/dev/null
AID=$(action_of solo "$(tok solo)")
mgmt GET "/api/v1/actions/$AID"
[ "$(echo "$BODY" | jq .group)" = 1 ] || t_fail "action show: group $(echo "$BODY" | jq .group), expected 1: $BODY"
mgmt GET /api/v1/targets/solo
[ "$(echo "$BODY" | jq .currentAction.group)" = 1 ] || t_fail "target show: $BODY"
t_pass "action show and target show both say group 1"

cancel_confirmed solo
finished() { [ "$(rstate "$R1" .state)" = finished ]; }
t_wait_for 'finished' 10 || t_fail "a rollout whose only target was canceled is $(rstate "$R1" .state), not finished"
[ "$(rstate "$R1" .totals.canceled)" = 1 ] || t_fail "totals: $("$SERVER_BIN" rollout status "$R1")"
t_pass "a rollout whose only target was canceled finishes"

# Two groups of one target each: the first target canceled, the next group starts.
R2=$("$SERVER_BIN" rollout create --name pair --bundle "$BUNDLE_ID" --groups 50,100 --filter 'controllerId=pair-*' | jq -r .id)
"$SERVER_BIN" rollout start "$R2" >/dev/null
mgmt GET "/api/v1/targets?limit=10"
FIRST=$(echo "$BODY" | jq -r ".[] | select(.currentAction.rolloutId == $R2 and .currentAction.group == 1) | .controllerId")
[ -n "$FIRST" ] || t_fail "no target in group 1 of rollout $R2: $BODY"
SECOND=pair-a
[ "$FIRST" = pair-a ] && SECOND=pair-b
cancel_confirmed "$FIRST"
group2() { [ "$(rstate "$R2" .currentGroup)" = 2 ] && [ "$(rstate "$R2" '.groups[1].notStarted')" = 0 ]; }
t_wait_for 'group2' 10 || t_fail "group 2 did not start after group 1's only target was canceled: $("$SERVER_BIN" rollout status "$R2")"
AID=$(action_of "$SECOND" "$(tok "$SECOND")")
[ -n "$AID" ] || t_fail "$SECOND got no deployment"
ddi POST "$SECOND" "/deploymentBase/$AID/feedback" "$(tok "$SECOND")" "$(feedback closed success)"
expect_code 200 "$SECOND reports success"
finished2() { [ "$(rstate "$R2" .state)" = finished ]; }
t_wait_for 'finished2' 10 || t_fail "rollout $R2 is $(rstate "$R2" .state) after its last group succeeded"
t_pass "a group whose targets were canceled lets the next one start; the rollout finishes"

srv_stop
t_pass "server shut down cleanly"
