#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_ddi_semantics.sh — the agent follows hawkBit's deployment semantics (issue 15):
#   * download-only: the action ends with exactly one `downloaded`/`success` feedback and
#     no `closed` one (hawkBit has closed the action by then and would answer 410); the
#     server's action is a success;
#   * `download: skip`: the action is accepted and waits; not one artifact byte is
#     fetched until a later poll allows the download, then it installs;
#   * a deployment without a .berth artifact (a plain .swu for another updater) fails at
#     once with a sentence naming what it carries, and is not asked about again;
#   * progress: killed in the middle of a capped download and restarted, every progress
#     report of the action has the same total (the bytes it lacked at the start) and a
#     count that never goes back.
source "$(dirname "$0")/../lib/harness.sh"

AGENT_PROXY=1 agent_env_setup
t_make_image -o "$T_ROOT/img1.tar" --random-layers 1 --random-size 128K --seed sem-1
t_make_image -o "$T_ROOT/img2.tar" --random-layers 1 --random-size 128K --seed sem-2
t_make_image -o "$T_ROOT/img3.tar" --random-layers 2 --random-size 1536K --seed sem-3
for v in 1 2 3; do
        t_bundle "$T_ROOT/app-$v.berth" --name app --version $v --image "$T_ROOT/img$v.tar"
        srv_upload "$T_ROOT/app-$v.berth"
        eval "B$v=$BUNDLE_ID"
done
LOG=$T_ROOT/agents/gw/agent.log
agent_add gw "[download]" "bandwidth = 1M"
agent_start gw

# ---- download only -------------------------------------------------------------------------
rollout_create "$(jq -cn --argjson b "$B1" '{name: "dl", bundleId: $b, filter: {controllerId: "gw"}, actionType: "downloadonly"}')"
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 30 || t_fail "download-only rollout did not finish: $(rollout_json "$ROLLOUT_ID")"
body=$(action_json gw)
t_assert_eq "$(jq -r .status <<<"$body")" success "the download-only action is a success on the server"
t_assert_eq "$(jq '[.feedback[] | select(.execution == "downloaded" and .finished == "success")] | length' <<<"$body")" 1 \
        "one downloaded/success feedback"
t_assert_eq "$(jq '[.feedback[] | select(.execution == "closed")] | length' <<<"$body")" 0 "no closed feedback"
agent_has gw app 1 || t_fail "app 1 not stored"
! grep -q "HTTP 410" "$LOG" || t_fail "the server refused a second feedback: $(grep 'HTTP 410' "$LOG")"
t_pass "download-only: one downloaded/success feedback, nothing else, action closed as success"

# ---- download: skip ---------------------------------------------------------------------------
echo "download skip" >"$T_ROOT/proxy.control"
before=$(proxy_bytes)
rollout_create "$(jq -cn --argjson b "$B2" '{name: "skip", bundleId: $b, filter: {controllerId: "gw"}}')"
waits() { grep -q "waiting for the server to allow the download" <<<"$(agent_status gw | jq -r .agent.status)"; }
t_wait_for waits 30 || t_fail "the agent does not wait on download: skip: $(agent_status gw | jq -c .agent)"
told() { grep -q "waiting for the server to allow the download" <<<"$(action_json gw)"; }
t_wait_for told 10 || t_fail "no 'waiting' feedback: $(action_json gw)"
t_assert_eq "$(proxy_bytes)" "$before" "no artifact byte fetched while the server says download: skip"
echo normal >"$T_ROOT/proxy.control"
t_wait_for 'agent_has gw app 2' 30 || t_fail "app 2 not installed after the download was allowed"
t_wait_for '[ "$(target_action_status gw)" = success ]' 30 || t_fail "the action did not succeed"
t_pass "download: skip — accepted, nothing fetched; installed once a poll allowed the download"

# ---- no .berth artifact ------------------------------------------------------------------------
head -c 4096 /dev/urandom >"$T_ROOT/os.swu"
sum=$(sha256sum "$T_ROOT/os.swu" | cut -d' ' -f1)
mgmt POST "/api/v1/artifacts?name=os&version=1.0&type=os&filename=os.swu&sha256=$sum&size=4096" "" \
        --data-binary @"$T_ROOT/os.swu" -H 'Content-Type: application/octet-stream'
expect_code 201 "upload a plain artifact"
rollout_create "$(jq -cn --argjson b "$(jq .id <<<"$BODY")" '{name: "swu", bundleId: $b, filter: {controllerId: "gw"}}')"
t_wait_for '[ "$(target_action_status gw)" = failure ]' 30 || t_fail "the .swu deployment did not fail: $(action_json gw)"
detail=$(action_json gw | jq -r '[.feedback[] | select(.execution == "closed")][0].details[0]')
t_assert_contains "$detail" "carries no .berth artifact (it has: os.swu)" "the failure names what the deployment carries"
t_assert_eq "$(action_json gw | jq '[.feedback[] | select(.execution == "closed")] | length')" 1 "one closing feedback"
t_pass "no .berth artifact: failed at once, '$detail'"

# ---- progress over a kill ----------------------------------------------------------------------
rollout_create "$(jq -cn --argjson b "$B3" '{name: "progress", bundleId: $b, filter: {controllerId: "gw"}}')"
halfway() { [ "$(agent_status gw | jq '.update.bytesDone // 0')" -gt 1048576 ]; }
t_wait_for halfway 30 || t_fail "the download did not get going"
agent_kill gw
agent_start gw
t_wait_for '[ "$(target_action_status gw)" = success ]' 60 || t_fail "v3 did not succeed after the kill"
body=$(action_json gw)
prog=$(jq -c '[.feedback[] | select(.progress != null and .execution == "proceeding" and .progress.of > 1) | .progress]' <<<"$body")
[ "$(jq length <<<"$prog")" -ge 2 ] || t_fail "too few progress reports to judge: $prog"
t_assert_eq "$(jq '[.[].of] | unique | length' <<<"$prog")" 1 "one progress total over the kill: $prog"
t_assert_eq "$(jq '[range(1; length) as $i | select(.[$i].cnt < .[$i - 1].cnt)] | length' <<<"$prog")" 0 \
        "progress never goes back: $prog"
t_pass "progress over a kill: total $(jq '.[0].of' <<<"$prog") throughout, count never decreasing"
agent_stop gw
