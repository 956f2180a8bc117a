#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_metrics.sh — the agent's Prometheus endpoint (metrics.listen):
#   * off by default: no listening socket without the key;
#   * a non-loopback address is refused at start with a sentence naming the key;
#   * after a rollout, GET /metrics parses with `promtool check metrics` and its values
#     say what happened: polls, bytes downloaded (= the bundle's blob bytes), blobs
#     verified (= its blob count), the finished update, an idle update state, the
#     telemetry queue; other paths get 404, other methods 405.
source "$(dirname "$0")/lib/agent.sh"
command -v promtool >/dev/null || { echo "promtool missing (Debian package prometheus)" >&2; exit 77; }

agent_env_setup
make_image "$T/img.tar" --random-layers 2 --random-size 256K --seed metrics
make_bundle app 1 "$T/img.tar" "$T/app-1.berth"
upload "$T/app-1.berth"
B1=$BUNDLE_ID

# ---- off by default ------------------------------------------------------------------
agent_add gw-off
agent_start gw-off
grep -q "Prometheus metrics" "${AGENT_DIR[gw-off]}/agent.log" && fail "metrics endpoint started without metrics.listen"
ss -Hltnp | grep -q "pid=${AGENT_PID[gw-off]}," && fail "the agent listens on TCP without metrics.listen: $(ss -Hltnp)"
agent_stop gw-off
pass "off by default: no TCP socket"

# ---- loopback only -----------------------------------------------------------------------
agent_add gw-wide "[metrics]" "listen = 0.0.0.0:9464"
if "$BERTH" agent --config "${AGENT_DIR[gw-wide]}/agent.conf" > "$T/wide.log" 2>&1; then
        fail "the agent started with metrics.listen = 0.0.0.0:9464"
fi
grep -q "metrics.listen = '0.0.0.0:9464': the metrics endpoint listens on loopback only" "$T/wide.log" ||
        fail "no clear error for a non-loopback address: $(cat "$T/wide.log")"
pass "non-loopback address refused: $(grep -m1 -o "metrics.listen.*loopback only" "$T/wide.log")"

# ---- after an update ------------------------------------------------------------------------
agent_add gw-m "[metrics]" "listen = 127.0.0.1:0" "[telemetry]" "interval = 0.2"
agent_start gw-m
LOG=${AGENT_DIR[gw-m]}/agent.log
wait_until 20 grep -q "Prometheus metrics on http://127.0.0.1:" "$LOG" || fail "no metrics endpoint in the log"
URL=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$LOG" | head -1)
rollout_create "$(jq -cn --argjson b "$B1" '{name: "m", bundleId: $b, filter: {controllerId: "gw-m"}}')"
finished() { [ "$(rollout_json "$ROLLOUT_ID" | jq -r .state)" = finished ]; }
wait_until 60 finished || fail "rollout did not finish: $(rollout_json "$ROLLOUT_ID")"
idle() { [ "$(agent_status gw-m | jq -r '.update.state // "none"')" = none ]; }
wait_until 20 idle || fail "the agent still holds the action"

curl -sf -o "$T/metrics.txt" -D "$T/metrics.hdr" "$URL" || fail "GET $URL failed"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/metrics.hdr" || fail "wrong content type: $(cat "$T/metrics.hdr")"
promtool check metrics < "$T/metrics.txt" > "$T/promtool.out" 2>&1 || fail "promtool: $(cat "$T/promtool.out")"
val() { awk -v k="$1" '$1 == k {print $2}' "$T/metrics.txt"; }

blobs=$("$BERTH" bundle inspect --json "$T/app-1.berth" | jq '.layout | length')
bytes=$("$BERTH" bundle inspect --json "$T/app-1.berth" | jq '[.layout[].size] | add')
[ "$(val 'berth_blobs_total{result="verified"}')" = "$blobs" ] || fail "blobs verified $(val 'berth_blobs_total{result="verified"}') != $blobs"
[ "$(val 'berth_blobs_total{result="corrupt"}')" = 0 ] || fail "corrupt blobs counted"
[ "$(val berth_download_bytes_total)" = "$bytes" ] || fail "bytes downloaded $(val berth_download_bytes_total) != $bytes"
[ "$(val 'berth_updates_total{result="installed"}')" = 1 ] || fail "installed updates != 1"
[ "$(val 'berth_update_state{state="idle"}')" = 1 ] || fail "update state not idle"
[ "$(val 'berth_update_state{state="fetching"}')" = 0 ] || fail "update state fetching while idle"
[ "$(val 'berth_polls_total{result="ok"}')" -ge 1 ] || fail "no successful polls counted"
[ "$(val berth_last_poll_success_timestamp_seconds)" -ge "$(( $(date +%s) - 60 ))" ] || fail "last poll timestamp stale"
for m in berth_telemetry_queue_records berth_telemetry_dropped_total berth_telemetry_sent_total \
        berth_outbox_requests berth_workload_restarts_total berth_workload_probes_total; do
        grep -q "^# TYPE $m " "$T/metrics.txt" || fail "metric family $m missing"
done
pass "GET /metrics: promtool accepts it; $blobs blobs verified, $bytes bytes downloaded, 1 update installed, state idle"

code=$(curl -s -o /dev/null -w '%{http_code}' "${URL%/metrics}/other")
[ "$code" = 404 ] || fail "GET /other: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL")
[ "$code" = 405 ] || fail "POST /metrics: $code"
# a client that sends half a request and stalls does not block the next scrape
exec 7<>/dev/tcp/127.0.0.1/"$(echo "$URL" | sed 's|.*:\([0-9]*\)/metrics|\1|')"
printf 'GET /metr' >&7
curl -sf -m 5 -o /dev/null "$URL" || fail "a stalled client blocked the endpoint"
exec 7>&-
pass "404 for other paths, 405 for other methods, a stalled client does not block scrapes"
agent_stop gw-m
