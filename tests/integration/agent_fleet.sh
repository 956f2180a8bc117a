#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_fleet.sh — a fleet of 21 real `berth agent` processes (separate state dirs, store
# backend) against an HTTPS berth-server on loopback:
#   1. rollout of app 1 through 3 groups (10/50/100 %) → every agent installs it, the
#      rollout finishes, every target reported success;
#   2. rollout of app 2 whose group-2 agents reject the bundle (their clock is past its
#      expiry: BERTH_NOW) → the rollout pauses at the error threshold, group 1 has app 2,
#      group 3 received nothing (no action, no bundle), failures carry the reason.
# Also checks the agents stay light (RSS) and stop cleanly on SIGTERM.
source "$(dirname "$0")/../lib/harness.sh"

N=${AGENT_FLEET_SIZE:-21}
START=$(date +%s)
agent_env_setup

t_make_image -o "$T_ROOT/img1.tar" --random-layers 2 --random-size 256K --seed fleet1
t_make_image -o "$T_ROOT/img2.tar" --random-layers 2 --random-size 256K --seed fleet2
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img1.tar"
srv_upload "$T_ROOT/app-1.berth"
B1=$BUNDLE_ID
# app 2 expires in 2 days; group-2 agents will live 3 days in the future.
t_bundle "$T_ROOT/app-2.berth" --name app --version 2 --image "$T_ROOT/img2.tar" -- --expires 2d
srv_upload "$T_ROOT/app-2.berth"
B2=$BUNDLE_ID

CIDS=()
for i in $(seq -w 1 "$N"); do CIDS+=("fleet-$i"); done

# The server's deterministic groups: sorted by sha256(controllerId), cut at ceil(pct).
mapfile -t SORTED < <(for c in "${CIDS[@]}"; do printf '%s %s\n' "$(printf '%s' "$c" | sha256sum | cut -c1-64)" "$c"; done |
        sort | awk '{print $2}')
cut1=$(( (N * 10 + 99) / 100 ))
cut2=$(( (N * 50 + 99) / 100 ))
G1=("${SORTED[@]:0:cut1}")
G2=("${SORTED[@]:cut1:cut2-cut1}")
G3=("${SORTED[@]:cut2}")
echo "groups: ${#G1[@]} / ${#G2[@]} / ${#G3[@]}"

for c in "${CIDS[@]}"; do agent_add "$c"; done
for c in "${CIDS[@]}"; do agent_start "$c"; done
t_pass "$N agents started"

# ---- rollout 1: everyone ----------------------------------------------------------
rollout_create "$(jq -cn --argjson b "$B1" '{name: "app-1", bundleId: $b, filter: {controllerId: "fleet-*"},
        groups: [10, 50, 100], successThreshold: 100, errorThreshold: 20}')"
R1=$ROLLOUT_ID
t_wait_for 'rollout_is "$R1" finished' 180 || t_fail "rollout 1 did not finish: $(rollout_json "$R1")"
for c in "${CIDS[@]}"; do agent_has "$c" app 1 || t_fail "$c lacks app 1"; done
ok=$(rollout_json "$R1" | jq '.totals.success')
[ "$ok" = "$N" ] || t_fail "rollout 1: $ok of $N succeeded"
t_pass "rollout 1 finished through 3 groups: $N/$N agents installed app 1"

# Idle footprint. RSS is mostly shared library pages (libcrypto, gnutls via libcurl…)
# shared by all agents; what each agent costs on its own is its private dirty memory.
if ! ldd "$BERTH" 2>/dev/null | grep libasan >/dev/null; then  # no -q: SIGPIPE + pipefail
        max=0 maxrss=0
        for c in "${CIDS[@]}"; do
                priv=$(awk '/^Private_Dirty/{print $2}' "/proc/${AGENT_PID[$c]}/smaps_rollup")
                rss=$(awk '/^Rss/{print $2}' "/proc/${AGENT_PID[$c]}/smaps_rollup")
                [ "$priv" -gt "$max" ] && max=$priv
                [ "$rss" -gt "$maxrss" ] && maxrss=$rss
        done
        echo "idle agents: max private dirty $max KiB, max RSS $maxrss KiB (shared libraries included)"
        [ "$max" -lt 6144 ] || t_fail "an idle agent holds $max KiB of private memory"
        t_pass "idle agents stay light ($max KiB private each)"
fi

# ---- rollout 2: group 2 rejects ----------------------------------------------------
FUTURE=$(( $(date +%s) + 3 * 86400 ))
for c in "${G2[@]}"; do
        agent_stop "$c"
        agent_start "$c" BERTH_NOW="$FUTURE"
done
rollout_create "$(jq -cn --argjson b "$B2" '{name: "app-2", bundleId: $b, filter: {controllerId: "fleet-*"},
        groups: [10, 50, 100], successThreshold: 100, errorThreshold: 20}')"
R2=$ROLLOUT_ID
t_wait_for 'rollout_is "$R2" paused' 180 || t_fail "rollout 2 did not pause: $(rollout_json "$R2")"
PAUSED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
st=$(rollout_json "$R2")
echo "$st" | jq -c '{state, reason, currentGroup, groups: [.groups[] | {group, success, failure, notStarted}]}'
[ "$(echo "$st" | jq .currentGroup)" = 2 ] || t_fail "rollout 2 paused in the wrong group: $st"
[ "$(echo "$st" | jq '.groups[1].failure')" -ge 1 ] || t_fail "no failures recorded in group 2: $st"
for c in "${G1[@]}"; do t_wait_for 'agent_has "$c" app 2' 30 || t_fail "group 1 agent $c lacks app 2"; done
for c in "${G2[@]}"; do ! agent_has "$c" app 2 || t_fail "group 2 agent $c installed the expired app 2"; done
# The failure reason reached the server (from a group-2 target that reported already).
found=""
for c in "${G2[@]}"; do
        [ "$(target_action_status "$c")" = failure ] || continue
        mgmt GET "/api/v1/targets/$c"
        aid=$(echo "$BODY" | jq -r '.currentAction.id')
        mgmt GET "/api/v1/actions/$aid"
        echo "$BODY" | grep -q "expired" || t_fail "the failure feedback does not say 'expired': $BODY"
        found=$c
        break
done
[ -n "$found" ] || t_fail "no group-2 target reported a failure"
# Group 3: give the agents a few polls, then nothing must have arrived.
for c in "${G3[@]}"; do
        polled_since() { [ "$(agent_status "$1" | jq -r '.agent.lastPoll')" \> "$2" ]; }
        t_wait_for 'polled_since "$c" "$PAUSED_AT"' 10 || t_fail "$c did not poll after the pause"
done
for c in "${G3[@]}"; do
        ! agent_has "$c" app 2 || t_fail "group 3 agent $c received app 2 although the rollout paused"
        mgmt GET "/api/v1/targets/$c"
        rid=$(echo "$BODY" | jq -r '.currentAction.rolloutId // empty')
        [ "$rid" != "$R2" ] || t_fail "group 3 agent $c got an action of the paused rollout: $BODY"
done
t_pass "rollout 2 paused at group 2's failures (expired bundle refused); group 3 received nothing"

for c in "${CIDS[@]}"; do agent_stop "$c"; done
t_pass "all agents stopped cleanly on SIGTERM ($(( $(date +%s) - START )) s)"
