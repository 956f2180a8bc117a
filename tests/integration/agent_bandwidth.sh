#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_bandwidth.sh — download.bandwidth caps the agent's download rate: a 6 MiB
# bundle fetched with a 1 MiB/s cap must take 6 s ± 10 % (rate within 10 % of the cap,
# measured by the agent from the first blob request to the last byte, and checked
# against the wall clock of the whole update).
source "$(dirname "$0")/lib/agent.sh"

agent_env_setup
make_image "$T/img.tar" --random-layers 1 --random-size 6M --seed bw
make_bundle app 1 "$T/img.tar" "$T/app-1.berth"
upload "$T/app-1.berth"
CAP=1048576
agent_add gw-bw "[download]" "bandwidth = 1M"
agent_start gw-bw
t0=$(date +%s.%N)
rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" '{name: "bw", bundleId: $b, filter: {controllerId: "gw-bw"}}')"
wait_until 60 agent_has gw-bw app 1 || fail "app 1 not installed"
t1=$(date +%s.%N)
line=$(grep -m1 "stored and preloaded" "${AGENT_DIR[gw-bw]}/agent.log")
echo "$line"
rate=$(echo "$line" | sed -n 's/.*(\([0-9]*\) KiB\/s).*/\1/p')
bytes=$(echo "$line" | sed -n 's/.*: \([0-9]*\) bytes downloaded.*/\1/p')
[ -n "$rate" ] && [ -n "$bytes" ] || fail "no rate in the log"
lo=$(( CAP / 1024 * 90 / 100 )) hi=$(( CAP / 1024 * 110 / 100 ))
# The 6 MiB blob alone (one request; the whole-update figure also holds the start-up
# of every other request).
blob_rate=$(grep -m1 "agent: blob sha256:" "${AGENT_DIR[gw-bw]}/agent.log" | sed -n 's/.*(\([0-9]*\) KiB\/s).*/\1/p')
echo "update average $rate KiB/s for $bytes bytes; largest blob $blob_rate KiB/s; allowed $lo-$hi KiB/s"
[ -n "$blob_rate" ] || fail "no per-blob rate in the log"
[ "$blob_rate" -ge "$lo" ] && [ "$blob_rate" -le "$hi" ] || fail "blob rate $blob_rate KiB/s is not within 10% of the cap"
[ "$rate" -le "$hi" ] || fail "average rate $rate KiB/s exceeds the cap by more than 10%"
# The wall clock agrees: the whole update cannot have been faster than the cap allows.
wall=$(echo "$t1 - $t0" | bc)
min=$(echo "$bytes / $CAP * 0.9" | bc -l)
echo "wall clock ${wall}s, minimum at the cap ${min}s"
[ "$(echo "$wall >= $min" | bc)" = 1 ] || fail "finished in ${wall}s, faster than the cap allows"
pass "bandwidth cap 1 MiB/s held: $blob_rate KiB/s on the large blob, $rate KiB/s overall"
agent_stop gw-bw
