#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server: hostile input and restarts — malformed JSON, wrong types, oversized
# bodies (with and without Content-Length) get a 4xx with a message and leave the server
# serving; a restart mid-rollout (clean and kill -9) loses no state.
source "$(dirname "$0")/../lib/harness.sh"

srv_config
srv_start
srv_upload_bundle app 1
N=20
jq -n --argjson n "$N" '[range(0; $n) | ("d-" + tostring) | {controllerId: ., token: ("tok-" + . + "-0123456789")}]' \
        > "$T_ROOT/targets.json"
mgmt POST /api/v1/targets "$(cat "$T_ROOT/targets.json")"
expect_code 201 "register"
tok() { echo "tok-$1-0123456789"; }
RID=$("$SERVER_BIN" rollout create --name r --bundle "$BUNDLE_ID" --groups 50,100 --success 90 --error 50 | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null
mgmt GET "/api/v1/targets?limit=100"
mapfile -t g1 < <(echo "$BODY" | jq -r '.[] | select(.currentAction.group == 1) | .controllerId')
[ "${#g1[@]}" = 10 ] || t_fail "group 1 size ${#g1[@]}"
C=${g1[0]}
AID=$(action_of "$C" "$(tok "$C")")

expect_4xx_msg() {
        case "$CODE" in 4??) ;; *) t_fail "$1: expected 4xx, got $CODE: $BODY" ;; esac
        echo "$BODY" | jq -e '.message | length > 0' >/dev/null || t_fail "$1: no message in $BODY"
}
ddi POST "$C" "/deploymentBase/$AID/feedback" "$(tok "$C")" '{"status": {"execution": "closed",'
expect_4xx_msg "truncated JSON"
echo "$BODY" | jq -e '.message | test("not valid JSON")' >/dev/null || t_fail "message: $BODY"
ddi POST "$C" "/deploymentBase/$AID/feedback" "$(tok "$C")" '{"status":{"execution":"exploded","result":{"finished":"success"}}}'
expect_4xx_msg "unknown execution"
ddi POST "$C" "/deploymentBase/$AID/feedback" "$(tok "$C")" '{"status":{"execution":"closed","result":{"finished":"success","progress":{"cnt":"x"}}}}'
expect_4xx_msg "bad progress"
ddi POST "$C" "/deploymentBase/$AID/feedback" "$(tok "$C")" '{"status":{"execution":"closed","result":{"finished":"success"},"details":[1,2]}}'
expect_4xx_msg "bad details"
ddi POST "$C" "/deploymentBase/$AID/feedback" "$(tok "$C")" '[1,2,3]'
expect_4xx_msg "array instead of object"
ddi PUT "$C" /configData "$(tok "$C")" '{"data":{"a":1}}'
expect_4xx_msg "non-string attribute"
ddi PUT "$C" /configData "$(tok "$C")" "{\"data\":{\"a\":\"b\"},\"data\":{}}"
expect_4xx_msg "duplicate keys"
ddi GET "$C" "/deploymentBase/abc" "$(tok "$C")"
expect_4xx_msg "non-numeric action id"
ddi GET "bad%20id" "" "$(tok "$C")"
expect_4xx_msg "invalid controllerId"
srv_req "https://127.0.0.1:$DDI_PORT/other-tenant/controller/v1/$C" GET "TargetToken $(tok "$C")"
expect_4xx_msg "wrong tenant"
mgmt POST /api/v1/rollouts '{"name": 5}'
expect_4xx_msg "mgmt: bad rollout"
mgmt POST /api/v1/rollouts '{"name":"x","bundleId":1,"groups":[50,20,100]}'
expect_4xx_msg "mgmt: falling groups"
mgmt POST /api/v1/targets 'not json'
expect_4xx_msg "mgmt: malformed JSON"
t_pass "malformed and ill-typed bodies → 4xx with a message"

head -c 70000 /dev/zero | tr '\0' 'a' > "$T_ROOT/big.json"
ddi POST "$C" "/deploymentBase/$AID/feedback" "$(tok "$C")" "" --data-binary @"$T_ROOT/big.json" -H 'Content-Type: application/json'
[ "$CODE" = 413 ] || t_fail "oversized body with Content-Length: $CODE"
echo "$BODY" | jq -e '.message | test("exceeds")' >/dev/null || t_fail "413 message: $BODY"
ddi POST "$C" "/deploymentBase/$AID/feedback" "$(tok "$C")" "" --data-binary @"$T_ROOT/big.json" \
        -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked'
[ "$CODE" = 413 ] || t_fail "oversized chunked body: $CODE"
# Far over the limit: answered before the body is read. With Expect: 100-continue the
# client waits for that answer and never sends the body.
head -c $((3 * 1024 * 1024)) /dev/zero | tr '\0' 'a' > "$T_ROOT/huge.json"
ddi POST "$C" "/deploymentBase/$AID/feedback" "$(tok "$C")" "" --data-binary @"$T_ROOT/huge.json" \
        -H 'Content-Type: application/json' -H 'Expect: 100-continue' --expect100-timeout 10
[ "$CODE" = 413 ] || t_fail "far oversized body with Content-Length: $CODE"
echo "$BODY" | jq -e '.message | test("3145728 bytes exceeds")' >/dev/null || t_fail "413 message: $BODY"
t_pass "oversized bodies → 413 (with a length: answered before the body; chunked: after it)"

srv_alive || t_fail "server died"
ddi GET "$C" "" "$(tok "$C")"
expect_code 200 "poll after hostile input"
mgmt GET "/api/v1/actions/$AID"
echo "$BODY" | jq -e '.status == "scheduled" and (.feedback | length) == 0' >/dev/null || t_fail "action changed: $BODY"
t_pass "server unaffected"

report() {
        local c=$1 t aid
        t=$(tok "$c")
        aid=$(action_of "$c" "$t")
        [ -n "$aid" ] || t_fail "$c has no deployment"
        ddi POST "$c" "/deploymentBase/$aid/feedback" "$t" "$(feedback closed "$2" "$2")"
        expect_code 200 "report $c"
}
snapshot() { "$SERVER_BIN" rollout status "$RID" | jq -c '{state, currentGroup, groups, totals}'; }
for c in "${g1[@]:0:4}"; do report "$c" success; done
report "${g1[4]}" failure
before=$(snapshot)
srv_stop
srv_start
[ "$(snapshot)" = "$before" ] || t_fail "state changed across a clean restart: $before vs $(snapshot)"
t_pass "clean restart keeps the rollout"

report "${g1[5]}" success
before=$(snapshot)
srv_kill
srv_start
[ "$(snapshot)" = "$before" ] || t_fail "state changed across kill -9: $before vs $(snapshot)"
mgmt GET "/api/v1/targets/${g1[5]}"
echo "$BODY" | jq -e '.installed.name == "app" and .currentAction.status == "success"' >/dev/null ||
        t_fail "acknowledged feedback lost after kill -9: $BODY"
t_pass "kill -9 restart keeps every acknowledged feedback"

# The restarted engine keeps driving the rollout: 9/10 succeeded (≥ 90 %) → group 2 starts.
group2_started() { "$SERVER_BIN" rollout status "$RID" | jq -e '.currentGroup == 2 and .groups[1].notStarted == 0' >/dev/null; }
for c in "${g1[@]:6:3}"; do report "$c" success; done
"$SERVER_BIN" rollout status "$RID" | jq -e '.currentGroup == 1' >/dev/null || t_fail "group 2 started at 8/10"
report "${g1[9]}" success
t_wait_for group2_started 10 || t_fail "group 2 did not start after the restart: $("$SERVER_BIN" rollout status "$RID")"
t_pass "restarted engine advances the rollout"

# A crash in the middle of an upload leaves nothing behind after the restart.
head -c 50000000 /dev/zero > "$T_ROOT/slow.berth"
curl -s -o /dev/null --limit-rate 2M -H "Authorization: Bearer $ADMIN_TOKEN" --data-binary @"$T_ROOT/slow.berth" \
        "$MGMT/api/v1/bundles" &
up=$!
spooling() { [ -n "$(ls "$SRV_STATE/spool")" ]; }
t_wait_for spooling 10 || t_fail "upload never reached the spool"
srv_kill
wait "$up" 2>/dev/null || true
srv_start
[ -z "$(ls "$SRV_STATE/spool")" ] || t_fail "spool not cleaned after a crash during upload"
mgmt GET /api/v1/bundles
[ "$(echo "$BODY" | jq length)" = 1 ] || t_fail "interrupted upload became a bundle: $BODY"
t_pass "crash during upload: nothing kept"

# Bundle uploads are bounded too: over mgmt.max_bundle_size → 413, nothing kept.
srv_stop
srv_config "[mgmt]" "max_bundle_size = 100000"
srv_start
head -c 200000 /dev/urandom > "$T_ROOT/huge.berth"
mgmt POST /api/v1/bundles "" --data-binary @"$T_ROOT/huge.berth" -H 'Content-Type: application/octet-stream'
[ "$CODE" = 413 ] || t_fail "oversized upload with Content-Length: $CODE $BODY"
mgmt POST /api/v1/bundles "" --data-binary @"$T_ROOT/huge.berth" -H 'Content-Type: application/octet-stream' \
        -H 'Transfer-Encoding: chunked'
[ "$CODE" = 413 ] || t_fail "oversized chunked upload: $CODE $BODY"
echo "$BODY" | jq -e '.message | test("exceeds")' >/dev/null || t_fail "413 message: $BODY"
[ -z "$(ls "$SRV_STATE/spool")" ] || t_fail "oversized upload left a spool file"
mgmt GET /api/v1/bundles
[ "$(echo "$BODY" | jq length)" = 1 ] || t_fail "bundle list changed: $BODY"
t_pass "oversized uploads → 413, nothing stored"

srv_stop
t_pass "server shut down cleanly"
