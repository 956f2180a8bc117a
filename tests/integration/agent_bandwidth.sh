#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_bandwidth.sh — download.bandwidth caps the agent's download rate: a 6 MiB
# bundle fetched with a 1 MiB/s cap must take 6 s ± 10 % (rate within 10 % of the cap,
# measured by the agent from the first blob request to the last byte, and checked
# against the wall clock of the whole update).
source "$(dirname "$0")/../lib/harness.sh"

agent_env_setup
t_make_image -o "$T_ROOT/img.tar" --random-layers 1 --random-size 6M --seed bw
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar"
srv_upload "$T_ROOT/app-1.berth"
CAP=1048576
agent_add gw-bw "[download]" "bandwidth = 1M"
agent_start gw-bw
t0=$(date +%s.%N)
rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" '{name: "bw", bundleId: $b, filter: {controllerId: "gw-bw"}}')"
t_wait_for 'agent_has gw-bw app 1' 60 || t_fail "app 1 not installed"
t1=$(date +%s.%N)
line=$(grep -m1 "stored and preloaded" "${AGENT_DIR[gw-bw]}/agent.log")
echo "$line"
rate=$(echo "$line" | sed -n 's/.*(\([0-9]*\) KiB\/s).*/\1/p')
bytes=$(echo "$line" | sed -n 's/.*: \([0-9]*\) bytes downloaded.*/\1/p')
[ -n "$rate" ] && [ -n "$bytes" ] || t_fail "no rate in the log"
lo=$(( CAP / 1024 * 90 / 100 )) hi=$(( CAP / 1024 * 110 / 100 ))
# The 6 MiB blob alone (one request; the whole-update figure also holds the start-up
# of every other request).
blob_rate=$(grep -m1 "agent: blob sha256:" "${AGENT_DIR[gw-bw]}/agent.log" | sed -n 's/.*(\([0-9]*\) KiB\/s).*/\1/p')
echo "update average $rate KiB/s for $bytes bytes; largest blob $blob_rate KiB/s; allowed $lo-$hi KiB/s"
[ -n "$blob_rate" ] || t_fail "no per-blob rate in the log"
[ "$blob_rate" -ge "$lo" ] && [ "$blob_rate" -le "$hi" ] || t_fail "blob rate $blob_rate KiB/s is not within 10% of the cap"
[ "$rate" -le "$hi" ] || t_fail "average rate $rate KiB/s exceeds the cap by more than 10%"
# The wall clock agrees: the whole update cannot have been faster than the cap allows.
wall=$(echo "$t1 - $t0" | bc)
min=$(echo "$bytes / $CAP * 0.9" | bc -l)
echo "wall clock ${wall}s, minimum at the cap ${min}s"
[ "$(echo "$wall >= $min" | bc)" = 1 ] || t_fail "finished in ${wall}s, faster than the cap allows"
t_pass "bandwidth cap 1 MiB/s held: $blob_rate KiB/s on the large blob, $rate KiB/s overall"
agent_stop gw-bw
