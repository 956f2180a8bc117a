#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_budget.sh — the data budget ([budget], daemon/budget.c), against berth-server
# behind the counting proxy:
#   * the agent counts what it exchanges with the server on the wire: at least the
#     artifact bytes the proxy served, and the polls' and handshakes' bytes on top;
#     berth status, metrics and telemetry show it; the count survives a restart;
#   * an update that does not fit what is left fails before its download, with a sentence
#     naming what it needs, what is left, the date enough is left again, and what to do;
#     nothing of it is installed and its blobs are not fetched;
#   * budget.per_update refuses an update larger than the cap;
#   * a rollout with budgetOverride gets the same bundle past the budget;
#   * past the budget's low mark, telemetry samples four times less often.
source "$(dirname "$0")/../lib/harness.sh"

AGENT_PROXY=1 agent_env_setup
t_make_image -o "$T_ROOT/img1.tar" --random-layers 3 --random-size 192K --seed budget1
t_make_image -o "$T_ROOT/img2.tar" --random-layers 4 --random-size 2M --seed budget2
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img1.tar"
t_bundle "$T_ROOT/app-2.berth" --name app --version 2 --image "$T_ROOT/img2.tar"
t_bundle "$T_ROOT/app-3.berth" --name app --version 3 --image "$T_ROOT/img2.tar"
agent_add gw "[budget]" "limit = 3M" "[metrics]" "listen = 127.0.0.1:0" "[telemetry]" "interval = 0.2"
agent_add gw-cap "[budget]" "per_update = 100k"
agent_start gw
agent_start gw-cap
LOG=${AGENT_DIR[gw]}/agent.log
t_wait_for 'grep -q "Prometheus metrics on http://127.0.0.1:" "$LOG"' 20 || t_fail "no metrics endpoint in the log"
URL=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$LOG" | head -1)
details() { action_json "$1" | jq -r '[.. | .details? // empty] | flatten | join(" ")'; }
wan_samples() {
        mgmt GET "/api/v1/targets/gw/telemetry?after=0&limit=1000"
        echo "$BODY" | jq '[.records[]? | select(.source == "wan" and (.text | test("^used=[0-9]+ left=[0-9]+ limit=3145728 low=[01]$")))] | length'
}

# ---- counting -----------------------------------------------------------------------------
srv_upload "$T_ROOT/app-1.berth"
B1=$BUNDLE_ID
rollout_create "$(jq -cn --argjson b "$B1" '{name: "r1", bundleId: $b, filter: {controllerId: "gw"}}')"
t_wait_for "agent_has gw app 1" 60 || t_fail "app 1 not installed: $(tail -3 "$LOG")"
t_wait_for '[ "$(target_action_status gw)" = success ]' 30 || t_fail "app 1: the action did not succeed"
art=$(proxy_bytes)
used=$(agent_status gw | jq -r .wan.used)
[ "$used" -ge "$art" ] || t_fail "the agent counted $used WAN bytes, less than the $art artifact bytes the proxy served"
[ "$used" -le $((art * 5 / 4 + 262144)) ] ||
        t_fail "the agent counted $used WAN bytes for $art artifact bytes and some polls: far too many"
m_rx=$(curl -fsS "$URL" | awk '/^berth_wan_bytes_total\{direction="rx"\}/ {print $2}')
[ "${m_rx%.*}" -ge "$art" ] || t_fail "metrics berth_wan_bytes_total{direction=rx} = $m_rx, below $art"
# (grep -q on a pipe fails at random under pipefail: the producer may still be writing)
grep -q '^berth_budget_limit_bytes 3145728$' <<<"$(curl -fsS "$URL")" || t_fail "metrics: no berth_budget_limit_bytes 3145728"
t_wait_for '[ "$(wan_samples)" -gt 0 ]' 30 ||
        t_fail "no wan sample (used, left, limit) reached the server's telemetry"
agent_stop gw
agent_start gw
t_wait_for '[ "$(grep -c "Prometheus metrics on http://127.0.0.1:" "$LOG")" = 2 ]' 20 || t_fail "no metrics endpoint after the restart"
URL=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$LOG" | tail -1)
after=$(agent_status gw | jq -r .wan.used)
[ "$after" -ge "$used" ] || t_fail "after a restart the agent counts $after WAN bytes, fewer than the $used before"
t_pass "$used WAN bytes counted for $art artifact bytes (ratio $(awk -v u="$used" -v a="$art" 'BEGIN {printf "%.3f", u / a}')), kept over a restart"

# ---- refusal --------------------------------------------------------------------------------
srv_upload "$T_ROOT/app-2.berth"
B2=$BUNDLE_ID
before=$(proxy_bytes)
rollout_create "$(jq -cn --argjson b "$B2" '{name: "r2", bundleId: $b, filter: {controllerId: "gw"}}')"
t_wait_for '[ "$(target_action_status gw)" = failure ]' 60 || t_fail "app 2 was not refused: $(target_action_status gw)"
said=$(details gw)
t_assert_contains "$said" "app 2 needs "
t_assert_contains "$said" " MiB from the WAN, but the data budget leaves "
t_assert_contains "$said" "(3.0 MiB per 30 days) until "
day=$(grep -o "per 30 days) until [0-9-]*" <<<"$said" | grep -o "[0-9-]*$")
[ "$day" = "$(date -u -d '+30 days' +%F)" ] || [ "$day" = "$(date -u -d '+31 days' +%F)" ] ||
        t_fail "the refusal names $day, not the day today's usage leaves the 30-day window"
t_assert_contains "$said" "raise budget.limit, roll out a smaller bundle, or have the server let this deployment past the budget"
agent_has gw app 2 && t_fail "app 2 was installed although it did not fit the budget"
fetched=$(($(proxy_bytes) - before))
[ "$fetched" -lt 65536 ] || t_fail "the refused update still fetched $fetched artifact bytes"
t_pass "refused before its download (${fetched} bytes of its head fetched): $(grep -o 'app 2 needs.*until [0-9-]*' <<<"$said")"

rollout_create "$(jq -cn --argjson b "$B1" '{name: "cap", bundleId: $b, filter: {controllerId: "gw-cap"}}')"
t_wait_for '[ "$(target_action_status gw-cap)" = failure ]' 60 || t_fail "gw-cap: app 1 not refused by per_update"
t_assert_contains "$(details gw-cap)" "more than budget.per_update (100 KiB) allows; raise budget.per_update"
agent_has gw-cap app 1 && t_fail "gw-cap installed app 1 past budget.per_update"
t_pass "budget.per_update refuses a larger update"

# ---- override -------------------------------------------------------------------------------
srv_upload "$T_ROOT/app-3.berth"
rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" '{name: "r3", bundleId: $b, budgetOverride: true, filter: {controllerId: "gw"}}')"
t_wait_for "agent_has gw app 3" 60 || t_fail "app 3 not installed with budgetOverride: $(tail -3 "$LOG")"
grep -q "app 3: the server lets this deployment past the data budget" "$LOG" ||
        t_fail "the agent did not say the server let app 3 past the budget"
t_pass "budgetOverride: app 3 installed past the budget"

# ---- low budget: telemetry samples less often ------------------------------------------------
t_assert_eq "$(agent_status gw | jq -r .wan.low)" true "wan.low past the budget"
interval() { curl -fsS "$URL" | awk '$1 == "berth_telemetry_sample_interval_seconds" {print $2 + 0}'; }
t_wait_for '[ "$(interval)" = 0.8 ]' 10 ||
        t_fail "telemetry samples every $(interval) s past the budget, not 0.8"
agent_stop gw
agent_stop gw-cap
t_pass "past the budget telemetry samples every 0.8 s instead of 0.2 s"
