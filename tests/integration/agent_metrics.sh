#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_metrics.sh — the agent's Prometheus endpoint (metrics.listen):
#   * off by default: no listening socket without the key;
#   * a non-loopback address is refused at start with a sentence naming the key;
#   * after a rollout, GET /metrics parses with `promtool check metrics` and its values
#     say what happened: polls, bytes downloaded (= the bundle's blob bytes), blobs
#     verified (= its blob count), the finished update, an idle update state, the
#     telemetry queue; other paths get 404, other methods 405.
source "$(dirname "$0")/../lib/harness.sh"
command -v promtool >/dev/null || { echo "promtool missing (Debian package prometheus)" >&2; exit 77; }

agent_env_setup
t_make_image -o "$T_ROOT/img.tar" --random-layers 2 --random-size 256K --seed metrics
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar"
srv_upload "$T_ROOT/app-1.berth"
B1=$BUNDLE_ID

# ---- off by default ------------------------------------------------------------------
agent_add gw-off
agent_start gw-off
grep -q "Prometheus metrics" "${AGENT_DIR[gw-off]}/agent.log" && t_fail "metrics endpoint started without metrics.listen"
grep -q "pid=${AGENT_PID[gw-off]}," <<<"$(ss -Hltnp)" && t_fail "the agent listens on TCP without metrics.listen: $(ss -Hltnp)"
agent_stop gw-off
t_pass "off by default: no TCP socket"

# ---- loopback only -----------------------------------------------------------------------
agent_add gw-wide "[metrics]" "listen = 0.0.0.0:9464"
if "$BERTH" agent --config "${AGENT_DIR[gw-wide]}/agent.conf" > "$T_ROOT/wide.log" 2>&1; then
        t_fail "the agent started with metrics.listen = 0.0.0.0:9464"
fi
grep -q "metrics.listen = '0.0.0.0:9464': the metrics endpoint listens on loopback only" "$T_ROOT/wide.log" ||
        t_fail "no clear error for a non-loopback address: $(cat "$T_ROOT/wide.log")"
t_pass "non-loopback address refused: $(grep -m1 -o "metrics.listen.*loopback only" "$T_ROOT/wide.log")"

# ---- after an update ------------------------------------------------------------------------
agent_add gw-m "[metrics]" "listen = 127.0.0.1:0" "[telemetry]" "interval = 0.2"
agent_start gw-m
LOG=${AGENT_DIR[gw-m]}/agent.log
t_wait_for 'grep -q "Prometheus metrics on http://127.0.0.1:" "$LOG"' 20 || t_fail "no metrics endpoint in the log"
URL=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$LOG" | head -1)
rollout_create "$(jq -cn --argjson b "$B1" '{name: "m", bundleId: $b, filter: {controllerId: "gw-m"}}')"
finished() { [ "$(rollout_json "$ROLLOUT_ID" | jq -r .state)" = finished ]; }
t_wait_for finished 60 || t_fail "rollout did not finish: $(rollout_json "$ROLLOUT_ID")"
idle() { [ "$(agent_status gw-m | jq -r '.update.state // "none"')" = none ]; }
t_wait_for idle 20 || t_fail "the agent still holds the action"

curl -sf -o "$T_ROOT/metrics.txt" -D "$T_ROOT/metrics.hdr" "$URL" || t_fail "GET $URL failed"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$T_ROOT/metrics.hdr" || t_fail "wrong content type: $(cat "$T_ROOT/metrics.hdr")"
promtool check metrics < "$T_ROOT/metrics.txt" > "$T_ROOT/promtool.out" 2>&1 || t_fail "promtool: $(cat "$T_ROOT/promtool.out")"
val() { awk -v k="$1" '$1 == k {print $2}' "$T_ROOT/metrics.txt"; }

blobs=$("$BERTH" bundle inspect --json "$T_ROOT/app-1.berth" | jq '.layout | length')
bytes=$("$BERTH" bundle inspect --json "$T_ROOT/app-1.berth" | jq '[.layout[].size] | add')
[ "$(val 'berth_blobs_total{result="verified"}')" = "$blobs" ] || t_fail "blobs verified $(val 'berth_blobs_total{result="verified"}') != $blobs"
[ "$(val 'berth_blobs_total{result="corrupt"}')" = 0 ] || t_fail "corrupt blobs counted"
[ "$(val berth_download_bytes_total)" = "$bytes" ] || t_fail "bytes downloaded $(val berth_download_bytes_total) != $bytes"
[ "$(val 'berth_updates_total{result="installed"}')" = 1 ] || t_fail "installed updates != 1"
[ "$(val 'berth_update_state{state="idle"}')" = 1 ] || t_fail "update state not idle"
[ "$(val 'berth_update_state{state="fetching"}')" = 0 ] || t_fail "update state fetching while idle"
[ "$(val 'berth_polls_total{result="ok"}')" -ge 1 ] || t_fail "no successful polls counted"
[ "$(val berth_last_poll_success_timestamp_seconds)" -ge "$(( $(date +%s) - 60 ))" ] || t_fail "last poll timestamp stale"
for m in berth_telemetry_queue_records berth_telemetry_dropped_total berth_telemetry_sent_total \
        berth_outbox_requests berth_workload_restarts_total berth_workload_probes_total; do
        grep -q "^# TYPE $m " "$T_ROOT/metrics.txt" || t_fail "metric family $m missing"
done
t_pass "GET /metrics: promtool accepts it; $blobs blobs verified, $bytes bytes downloaded, 1 update installed, state idle"

code=$(curl -s -o /dev/null -w '%{http_code}' "${URL%/metrics}/other")
[ "$code" = 404 ] || t_fail "GET /other: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL")
[ "$code" = 405 ] || t_fail "POST /metrics: $code"
# a client that sends half a request and stalls does not block the next scrape
exec 7<>/dev/tcp/127.0.0.1/"$(echo "$URL" | sed 's|.*:\([0-9]*\)/metrics|\1|')"
printf 'GET /metr' >&7
curl -sf -m 5 -o /dev/null "$URL" || t_fail "a stalled client blocked the endpoint"
exec 7>&-
t_pass "404 for other paths, 405 for other methods, a stalled client does not block scrapes"
agent_stop gw-m
