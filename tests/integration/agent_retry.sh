#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_retry.sh — a download that keeps failing the same way backs off and says why:
#   * the blobs' Range requests are answered with a short 200 (the artifact's first 1000
#     bytes, whatever range was asked; a proxy that ignores Range and cuts): the agent comes back
#     no sooner than its backoff allows (server.retry_min/max = 1-2 s, equal jitter:
#     every gap ≥ 0.5 s), not in a busy loop (1,708 requests in 10 s at 76% CPU before),
#     logs the reason and shows the retry in its status;
#   * once the artifact is served properly, the same action completes and the blobs
#     verify.
source "$(dirname "$0")/../lib/harness.sh"

AGENT_PROXY=1 agent_env_setup
t_make_image -o "$T_ROOT/img.tar" --random-layers 2 --random-size 256K --seed retry
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar"
srv_upload "$T_ROOT/app-1.berth"
B1=$BUNDLE_ID
PLOG=$T_ROOT/proxy.log
# The head (a request from byte 0) is served; every blob request gets a short 200.
echo "short200 1000" >"$T_ROOT/proxy.control"
agent_add gw
agent_start gw
LOG=${AGENT_DIR[gw]}/agent.log

shorts() { grep -c "^ARTIFACT .* short200=1" "$PLOG" || true; }
rollout_create "$(jq -cn --argjson b "$B1" '{name: "r", bundleId: $b, filter: {controllerId: "gw"}}')"
t_wait_for '[ "$(shorts)" -ge 6 ]' 60 || t_fail "the agent did not retry the short answers: $(grep ARTIFACT "$PLOG" | tail -5)"
# The gaps between consecutive requests: backoff with equal jitter never waits less than
# half of server.retry_min (1 s); a busy loop comes back within milliseconds.
gaps=$(grep "^ARTIFACT .* short200=1" "$PLOG" | head -n 6 | sed 's/.* t=//' |
        awk 'NR > 1 {printf "%.2f ", $1 - p} {p = $1}')
min=$(tr ' ' '\n' <<<"$gaps" | grep . | sort -g | head -1)
awk -v m="$min" 'BEGIN {exit !(m >= 0.45)}' || t_fail "artifact requests came back after $min s (gaps: $gaps): no backoff"
grep -q "download interrupted (.*); retrying in [0-9.]* s" "$LOG" || t_fail "the agent did not say why it retries"
why=$(grep -m1 -o "download interrupted (.*); retrying in" "$LOG")
st=
retrying() { st=$(agent_status gw | jq -r .agent.status); [[ $st == *"retry in"* ]]; }
t_wait_for retrying 10 || t_fail "the status does not show the retry: '$st'"
t_pass "short 200s: retried after $gaps s, status '$st'; log: $why"

echo normal >"$T_ROOT/proxy.control"
t_wait_for "agent_has gw app 1" 60 || t_fail "the download did not complete once the artifact was served: $(agent_status gw | jq -c .agent,.update) $(grep -v "^DDI GET /default/controller/v1/gw " "$PLOG" | tail -8)"
t_wait_for '[ "$(target_action_status gw)" = success ]' 30 || t_fail "the action did not succeed"
agent_stop gw
t_pass "served properly again: the same action completed, blobs verified"
