#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server: per-group soak time — the next group starts only after the current group
# met its success threshold AND its soak time passed.
source "$(dirname "$0")/../lib/harness.sh"

srv_config "[bundles]" "insecure_skip_verify = true"
srv_start
srv_upload_bundle soak 1 --raw 300000
mgmt POST /api/v1/targets '[{"controllerId":"s-0","token":"tok-s-0-0123456789"},{"controllerId":"s-1","token":"tok-s-1-0123456789"},
        {"controllerId":"s-2","token":"tok-s-2-0123456789"},{"controllerId":"s-3","token":"tok-s-3-0123456789"}]'
expect_code 201 "register"
"$SERVER_BIN" rollout create --name s --bundle "$BUNDLE_ID" --groups 50,100 --soak 3,0 > "$T_ROOT/r.json"
RID=$(jq -r .id "$T_ROOT/r.json")
jq -e '[.groups[].soakSeconds] == [3, 0] and .soakUntil == null' "$T_ROOT/r.json" >/dev/null || t_fail "soak spec: $(cat "$T_ROOT/r.json")"
"$SERVER_BIN" rollout start "$RID" >/dev/null
status() { "$SERVER_BIN" rollout status "$RID"; }
for c in s-0 s-1 s-2 s-3; do
        aid=$(action_of "$c" "tok-$c-0123456789")
        [ -n "$aid" ] || continue
        ddi POST "$c" "/deploymentBase/$aid/feedback" "tok-$c-0123456789" "$(feedback closed success ok)"
        expect_code 200 "feedback $c"
done
soaking() { status | jq -e '.soakUntil != null' >/dev/null; }
t_wait_for soaking 10 || t_fail "threshold met but no soakUntil: $(status)"
until_ts=$(status | jq -r .soakUntil)
st=$(status)
now=$(date +%s)
if [ "$now" -lt "$until_ts" ]; then
        echo "$st" | jq -e '.currentGroup == 1 and .groups[1].notStarted == 2' >/dev/null ||
                t_fail "group 2 started during the soak (now $now < $until_ts): $st"
fi
started() { status | jq -e '.currentGroup == 2 and .groups[1].notStarted == 0' >/dev/null; }
t_wait_for started 15 || t_fail "group 2 did not start after the soak: $(status)"
[ "$(date +%s)" -ge "$until_ts" ] || t_fail "group 2 started before soakUntil $until_ts"
t_pass "group 2 started only after the 3 s soak"

"$SERVER_BIN" rollout create --name bad --bundle "$BUNDLE_ID" --groups 50,100 --soak 1,2,3 >/dev/null 2>&1 &&
        t_fail "soak list of the wrong length accepted"
t_pass "soak list validated"

srv_stop
t_pass "server shut down cleanly"
