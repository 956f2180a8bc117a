#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server: a staged rollout over 120 registered targets. Groups (1,10,50,100 %)
# are assigned deterministically by sha256(controllerId), advance on the success
# threshold (75 %), the rollout pauses itself past the error threshold (20 %), and
# pause / resume / cancel (with DDI cancelAction round trips) work.
source "$(dirname "$0")/../lib/harness.sh"

srv_config
srv_start
srv_upload_bundle fleet 7

N=120
tok() { echo "tok-$1-0123456789abcdef"; }
jq -n --argjson n "$N" '[range(0; $n) | ("t-" + (. | tostring | ("000" + .)[-3:]))
        | {controllerId: ., token: ("tok-" + . + "-0123456789abcdef"), attributes: {fleet: "test"}}]' > "$T_ROOT/targets.json"
mgmt POST /api/v1/targets "$(cat "$T_ROOT/targets.json")"
expect_code 201 "register $N targets"

"$SERVER_BIN" rollout create --name big --bundle "$BUNDLE_ID" --groups 1,10,50,100 --success 75 --error 20 \
        --filter fleet=test > "$T_ROOT/r.json"
RID=$(jq -r .id "$T_ROOT/r.json")
jq -e '[.groups[].targets] == [2, 10, 48, 60]' "$T_ROOT/r.json" >/dev/null || t_fail "group sizes: $(jq -c '[.groups[].targets]' "$T_ROOT/r.json")"

status() { "$SERVER_BIN" rollout status "$RID"; }
# targets_in STATE GROUP: targets whose current action is this rollout's, in GROUP and STATE
targets_in() {
        mgmt GET "/api/v1/targets?limit=1000"
        echo "$BODY" | jq -r --argjson r "$RID" --arg s "$1" --argjson g "$2" \
                '.[] | select(.currentAction.rolloutId == $r and .currentAction.status == $s
                        and .currentAction.group == $g) | .controllerId'
}
# report CID closed success|failure: the DDI client side of one deployment
report() {
        local cid=$1 result=$2 t
        t=$(tok "$cid")
        local aid
        aid=$(action_of "$cid" "$t")
        [ -n "$aid" ] || t_fail "$cid has no deploymentBase link: $BODY"
        ddi GET "$cid" "/deploymentBase/$aid" "$t"
        expect_code 200 "deploymentBase of $cid"
        ddi POST "$cid" "/deploymentBase/$aid/feedback" "$t" "$(feedback proceeding none downloading)"
        expect_code 200 "progress of $cid"
        ddi POST "$cid" "/deploymentBase/$aid/feedback" "$t" "$(feedback closed "$result" "$result on $cid")"
        expect_code 200 "result of $cid"
}
group_started() { status | jq -e --argjson g "$1" '.currentGroup == $g and .groups[$g - 1].notStarted == 0' >/dev/null; }
state_is() { status | jq -e --arg s "$1" '.state == $s' >/dev/null; }

"$SERVER_BIN" rollout start "$RID" >/dev/null
mapfile -t g1 < <(targets_in scheduled 1)
[ "${#g1[@]}" = 2 ] || t_fail "group 1 should hold 2 targets, has ${#g1[@]}"
# Deterministic assignment: the two smallest sha256(controllerId) of the fleet.
mapfile -t expect < <(for i in $(seq 0 $((N - 1))); do c=$(printf 't-%03d' "$i"); \
        printf '%s %s\n' "$(printf %s "$c" | sha256sum | cut -d' ' -f1)" "$c"; done | sort | head -2 | cut -d' ' -f2)
[ "$(printf '%s\n' "${g1[@]}" | sort)" = "$(printf '%s\n' "${expect[@]}" | sort)" ] ||
        t_fail "group 1 is ${g1[*]}, expected ${expect[*]}"
# A target outside the started group has nothing to do.
outside=$(jq -r '.[].controllerId' "$T_ROOT/targets.json" | grep -vxF -e "${g1[0]}" -e "${g1[1]}" | head -1)
[ -z "$(action_of "$outside" "$(tok "$outside")")" ] || t_fail "$outside got a deployment before its group"
t_pass "deterministic group 1"

for c in "${g1[@]}"; do report "$c" success; done
t_wait_for 'group_started 2' 10 || t_fail "group 2 did not start: $(status | jq -c .)"
t_pass "group 2 started after group 1 succeeded"

mapfile -t g2 < <(targets_in scheduled 2)
[ "${#g2[@]}" = 10 ] || t_fail "group 2 should hold 10 targets, has ${#g2[@]}"
for c in "${g2[@]:0:7}"; do report "$c" success; done
status | jq -e '.currentGroup == 2 and .groups[2].notStarted == 48' >/dev/null || t_fail "group 3 started at 70 %"
report "${g2[7]}" success
t_wait_for 'group_started 3' 10 || t_fail "group 3 did not start at 8/10: $(status | jq -c .)"
t_pass "group 3 started when group 2 reached 8/10 (≥ 75 %)"

mapfile -t g3 < <(targets_in scheduled 3)
[ "${#g3[@]}" = 48 ] || t_fail "group 3 should hold 48 targets, has ${#g3[@]}"
for c in "${g3[@]:0:9}"; do report "$c" failure; done
state_is running || t_fail "paused at 9/48 failures (18.75 % < 20 %)"
report "${g3[9]}" failure
t_wait_for 'state_is paused' 10 || t_fail "rollout did not pause at 10/48 failures: $(status | jq -c .)"
status | jq -e '.reason | test("error threshold")' >/dev/null || t_fail "pause reason: $(status | jq -r .reason)"
status | jq -e '.groups[3].notStarted == 60' >/dev/null || t_fail "group 4 started although paused"
t_pass "paused itself past the error threshold"

"$SERVER_BIN" rollout resume "$RID" >/dev/null
state_is running || t_fail "resume"
for c in "${g3[@]:10:35}"; do report "$c" success; done
status | jq -e '.groups[3].notStarted == 60' >/dev/null || t_fail "group 4 started at 35/48 (< 75 %)"
report "${g3[45]}" success
t_wait_for 'group_started 4' 10 || t_fail "group 4 did not start after resume: $(status | jq -c .)"
t_pass "resumed; group 4 started"

"$SERVER_BIN" rollout pause "$RID" >/dev/null
state_is paused || t_fail "pause"
"$SERVER_BIN" rollout pause "$RID" >/dev/null 2>&1 && t_fail "pausing a paused rollout must fail"
"$SERVER_BIN" rollout resume "$RID" >/dev/null
state_is running || t_fail "resume after pause"
t_pass "operator pause/resume"

mapfile -t g4 < <(targets_in scheduled 4)
[ "${#g4[@]}" = 60 ] || t_fail "group 4 should hold 60 scheduled targets, has ${#g4[@]}"
report "${g4[0]}" success
"$SERVER_BIN" rollout cancel "$RID" >/dev/null
state_is canceled || t_fail "cancel"
status | jq -e '.groups[3].canceling == 59 and .groups[1].canceling == 2' >/dev/null ||
        t_fail "open actions not canceling: $(status | jq -c .groups)"
c=${g4[1]}
t=$(tok "$c")
ddi GET "$c" "" "$t"
href=$(echo "$BODY" | jq -r '._links.cancelAction.href // empty')
[ -n "$href" ] || t_fail "no cancelAction link for $c: $BODY"
aid=${href##*/}
ddi GET "$c" "/cancelAction/$aid" "$t"
expect_code 200 "cancelAction"
echo "$BODY" | jq -e --arg a "$aid" '.id == $a and .cancelAction.stopId == $a' >/dev/null || t_fail "cancelAction body: $BODY"
ddi POST "$c" "/cancelAction/$aid/feedback" "$t" "$(feedback closed success canceled)"
expect_code 200 "cancel feedback"
ddi GET "$c" "" "$t"
echo "$BODY" | jq -e '._links.cancelAction == null and ._links.deploymentBase == null' >/dev/null ||
        t_fail "action still open after cancel confirmation: $BODY"
# A target that rejects the cancellation keeps its update running.
c=${g4[2]}
t=$(tok "$c")
ddi POST "$c" "/cancelAction/$aid/feedback" "$t" "$(feedback closed success x)"
expect_code 404 "cancel feedback for another target's action"
ddi GET "$c" "" "$t"
aid2=$(echo "$BODY" | jq -r '._links.cancelAction.href' | sed 's,.*/,,')
ddi POST "$c" "/cancelAction/$aid2/feedback" "$t" "$(feedback rejected none busy)"
expect_code 200 "reject cancel"
[ -n "$(action_of "$c" "$t")" ] || t_fail "rejected cancel should leave the deployment open: $BODY"
status | jq -e '.groups[3].canceled == 1 and .groups[3].running == 1 and .groups[3].success == 1' >/dev/null ||
        t_fail "counts after cancel: $(status | jq -c .groups[3])"
t_pass "cancel: cancelAction, confirmation, rejection"

srv_stop
t_pass "server shut down cleanly"
