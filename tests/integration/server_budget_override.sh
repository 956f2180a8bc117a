#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server and the agents' data budgets: a rollout with budgetOverride (the CLI's
# --budget-override) gives its targets a deploymentBase whose chunk carries hawkBit's
# chunk metadata berth.budget = override; a rollout without it has no metadata key at
# all; a non-boolean budgetOverride is refused with 400 naming the field; the rollout and
# action JSON of the management API show the flag, and it survives a restart.
source "$(dirname "$0")/../lib/harness.sh"

srv_config
srv_start
srv_upload_bundle app 1
tok() { echo "tok-$1-0123456789"; }
mgmt POST /api/v1/targets "$(jq -cn '[("gw-1", "gw-2") | {controllerId: ., token: ("tok-" + . + "-0123456789")}]')"
expect_code 201 "register"

# rollout_for CID [ARGS...]: creates (CLI, with ARGS) and starts a rollout for CID only;
# leaves its JSON in $T_ROOT/r-CID.json and prints its id.
rollout_for() {
        local cid=$1
        shift
        "$SERVER_BIN" rollout create --name "r-$cid" "$@" --bundle "$BUNDLE_ID" --filter "controllerId=$cid" \
                >"$T_ROOT/r-$cid.json" || t_fail "rollout create for $cid failed"
        local id
        id=$(jq -r .id "$T_ROOT/r-$cid.json")
        "$SERVER_BIN" rollout start "$id" >/dev/null || t_fail "rollout start $id failed"
        echo "$id"
}
# deployment CID: the chunks of CID's current deploymentBase, also left in $BODY.
deployment() {
        local aid
        aid=$(action_of "$1" "$(tok "$1")")
        [ -n "$aid" ] || t_fail "$1 has no deploymentBase link: $BODY"
        ddi GET "$1" "/deploymentBase/$aid" "$(tok "$1")"
        expect_code 200 "deploymentBase of $1"
}
OVERRIDE='[{"key": "berth.budget", "value": "override"}]'

# (a) --budget-override (before the other options: it takes no value).
R1=$(rollout_for gw-1 --budget-override)
jq -e '.budgetOverride == true' "$T_ROOT/r-gw-1.json" >/dev/null || t_fail "created rollout: $(cat "$T_ROOT/r-gw-1.json")"
deployment gw-1
echo "$BODY" | jq -e --argjson m "$OVERRIDE" '(.deployment.chunks | length) == 1
        and .deployment.chunks[0].metadata == $m and .deployment.chunks[0].part == "bApp"' >/dev/null ||
        t_fail "deploymentBase of a budget-override rollout: $BODY"
A1=$(echo "$BODY" | jq -r .id)
mgmt GET "/api/v1/actions/$A1"
echo "$BODY" | jq -e '.budgetOverride == true' >/dev/null || t_fail "action show: $BODY"
t_pass "budgetOverride: the chunk's metadata is exactly berth.budget = override; the action shows it"

# (b) Without the flag: no metadata key in the chunk, as before.
R2=$(rollout_for gw-2)
jq -e '.budgetOverride == false' "$T_ROOT/r-gw-2.json" >/dev/null || t_fail "created rollout: $(cat "$T_ROOT/r-gw-2.json")"
deployment gw-2
echo "$BODY" | jq -e '(.deployment.chunks | length) == 1 and (.deployment.chunks[0] | has("metadata") | not)' \
        >/dev/null || t_fail "deploymentBase without budgetOverride has metadata: $BODY"
A2=$(echo "$BODY" | jq -r .id)
mgmt GET "/api/v1/actions/$A2"
echo "$BODY" | jq -e '.budgetOverride == false' >/dev/null || t_fail "action show: $BODY"
t_pass "without budgetOverride: no metadata key in the chunk"

# (c) Not a boolean: refused, naming the field; nothing is created.
for bad in '"yes"' 1 null '"true"'; do
        mgmt POST /api/v1/rollouts "{\"name\":\"bad\",\"bundleId\":$BUNDLE_ID,\"budgetOverride\":$bad}"
        expect_code 400 "budgetOverride: $bad"
        echo "$BODY" | jq -e '.message | test("budgetOverride") and test("true or false")' >/dev/null ||
                t_fail "the error for budgetOverride: $bad does not name the field: $BODY"
done
mgmt GET /api/v1/rollouts
echo "$BODY" | jq -e 'length == 2' >/dev/null || t_fail "a refused rollout was stored: $BODY"
t_expect_fail "$SERVER_BIN" rollout create --name dangling --bundle "$BUNDLE_ID" --filter
[ "$T_RC" = 2 ] || t_fail "an option without its value: exit $T_RC, not the usage error 2"
t_pass "budgetOverride \"yes\" (and 1, null, \"true\") gets 400 naming the field"

# (d) The rollout JSON of the management API (one rollout and the list), also after a
# restart (stored, not remembered).
check_rollouts() {
        mgmt GET "/api/v1/rollouts/$R1"
        echo "$BODY" | jq -e '.budgetOverride == true' >/dev/null || t_fail "rollout $R1: $BODY"
        mgmt GET "/api/v1/rollouts/$R2"
        echo "$BODY" | jq -e '.budgetOverride == false' >/dev/null || t_fail "rollout $R2: $BODY"
        mgmt GET /api/v1/rollouts
        echo "$BODY" | jq -e --argjson a "$R1" --argjson b "$R2" \
                'map({(.id | tostring): .budgetOverride}) | add | .[$a | tostring] == true and .[$b | tostring] == false' \
                >/dev/null || t_fail "rollout list: $BODY"
}
check_rollouts
mgmt POST /api/v1/rollouts "{\"name\":\"api\",\"bundleId\":$BUNDLE_ID,\"budgetOverride\":true}"
expect_code 201 "budgetOverride: true through the API"
echo "$BODY" | jq -e '.budgetOverride == true' >/dev/null || t_fail "created through the API: $BODY"
R3=$(echo "$BODY" | jq -r .id)
t_pass "the management API shows budgetOverride true and false"

srv_stop
srv_start
check_rollouts
mgmt GET "/api/v1/rollouts/$R3"
echo "$BODY" | jq -e '.budgetOverride == true' >/dev/null || t_fail "rollout $R3 after the restart: $BODY"
deployment gw-1
echo "$BODY" | jq -e --argjson m "$OVERRIDE" '.deployment.chunks[0].metadata == $m' >/dev/null ||
        t_fail "deploymentBase after the restart: $BODY"
t_pass "kept across a restart"

srv_stop
t_pass "server shut down cleanly"
