#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_telemetry.sh — telemetry store-and-forward between `berth agent` and an HTTPS
# berth-server, with samples at a fixed rate (telemetry.interval = 0.05 s: 20 records/s,
# so 30 s of outage stand for 600 samples, 50 hours at the default 5-minute interval):
#   * while the server is up, records arrive in order, the agent's start event first;
#   * sending yields to an update: while the agent downloads a bundle (bandwidth
#     capped), the server receives no telemetry, although samples keep being queued;
#     the update's events ("staged", "installed") arrive afterwards;
#   * the server is stopped for long enough to overflow the queue several times: the
#     queue never holds more than telemetry.max_records (checked throughout), the agent
#     keeps running, and the oldest records are the ones dropped;
#   * once the server is back, the queue drains; the server holds every record in
#     strictly increasing order with exactly one gap, right after the last record sent
#     before the outage, whose size equals the dropped count the agent reports
#     (tm.dropped), and the agent's metrics endpoint agrees.
source "$(dirname "$0")/../lib/harness.sh"

AGENT_PROXY=1 agent_env_setup
MAX=200
t_make_image -o "$T_ROOT/img.tar" --random-layers 2 --random-size 512K --seed telemetry
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar"
srv_upload "$T_ROOT/app-1.berth"
B1=$BUNDLE_ID

agent_add gw-tm "[telemetry]" "interval = 0.05" "max_records = $MAX" "[download]" "bandwidth = 256k" \
        "[metrics]" "listen = 127.0.0.1:0"
agent_start gw-tm
LOG=${AGENT_DIR[gw-tm]}/agent.log

tm() { mgmt GET "/api/v1/targets/gw-tm/telemetry?after=${1:-0}&limit=${2:-1000}"; echo "$BODY"; }
last_seq() { tm 0 1 | jq -r '.lastSeq // 0'; }
queued() { agent_status gw-tm | jq -r .telemetry.queued; }
# all_records FILE: every record the server holds, paged by seq
all_records() {
        local after=0 out=$1 page
        : > "$out"
        while :; do
                page=$(tm "$after" 1000)
                echo "$page" | jq -c '.records[]' >> "$out"
                [ "$(echo "$page" | jq '.records | length')" -gt 0 ] || break
                after=$(echo "$page" | jq '.records[-1].seq')
        done
}

# ---- up: in order, start event first -------------------------------------------------------
seq_at_least() { [ "$(last_seq)" -ge "$1" ]; }
t_wait_for 'seq_at_least 40' 30 || t_fail "the server did not receive telemetry: $(tm 0 5)"
first=$(tm 0 1 | jq -c '.records[0]')
[ "$(echo "$first" | jq -r .seq)" = 1 ] || t_fail "the first record is not seq 1: $first"
echo "$first" | jq -r .text | grep -q "^agent started" || t_fail "the first record is not the start event: $first"
tm 0 1000 | jq -e '[.records[].seq] as $s | $s == ($s | sort) and ($s | length) == ($s | unique | length)' >/dev/null ||
        t_fail "records out of order or duplicated"
t_pass "server up: $(last_seq) records arrived in order, starting with '$(echo "$first" | jq -r .text | cut -c1-40)'"

# ---- updates first -----------------------------------------------------------------------------
rollout_create "$(jq -cn --argjson b "$B1" '{name: "tm", bundleId: $b, filter: {controllerId: "gw-tm"}}')"
fetching() { [ "$(agent_status gw-tm | jq -r '.update.state // "none"')" = fetching ]; }
# A batch already on its way when the download began may still land: wait until none is.
settled() { fetching && [ "$(agent_status gw-tm | jq -r .telemetry.inFlight)" = false ]; }
t_wait_for settled 30 || t_fail "the agent did not start downloading"
held=$(last_seq)
checks=0
# The server's count is read first, then the agent asked whether it still downloads: a
# count read while the download ran (it never resumes) must not have moved.
while :; do
        seen=$(last_seq)
        fetching || break
        [ "$seen" = "$held" ] || t_fail "telemetry reached the server during the download ($held → $seen)"
        checks=$((checks + 1))
done
[ "$checks" -ge 3 ] || t_fail "the download was too short to observe ($checks checks)"
succeeded() { [ "$(target_action_status gw-tm)" = success ]; }
t_wait_for succeeded 60 || t_fail "the update did not succeed: $(target_action_status gw-tm)"
installed_event() { tm "$held" 1000 | jq -e '[.records[] | select(.kind == "event" and (.text | test("^installed app 1: ")))] | length == 1' >/dev/null; }
t_wait_for installed_event 30 || t_fail "no 'installed' event after the update: $(tm "$held" 1000 | jq -c '[.records[] | select(.kind == "event")]')"
t_pass "updates first: no telemetry left the agent during $checks checks of the download; the update's events followed"

# ---- outage ---------------------------------------------------------------------------------------
drained() { [ "$(queued)" -lt 32 ]; }
t_wait_for drained 30 || t_fail "the queue did not drain before the outage: $(queued)"
# The outage starts with the proxy answering 503 to every DDI request; once the agent
# has seen two failed polls no batch can be in flight (it sends only after a good
# poll), so the server's last seq is exactly what the agent had delivered, and the
# server's dropped count is what the agent had dropped when it built that last batch.
# Records may already be dropped while the polls fail (3 records per sample fill the
# queue in about 3 s): they are the oldest after that batch, so they belong to the
# outage's gap, and the agent's own count read now would miss them. Then the server
# goes down for real.
echo "status 503" > "$T_ROOT/proxy.control"
failing() { [ "$(agent_status gw-tm | jq .agent.pollFailures)" -ge 2 ]; }
t_wait_for failing 20 || t_fail "the agent did not notice the outage"
state=$(tm 0 1)
sent_before=$(echo "$state" | jq -r '.lastSeq // 0')
before=$(echo "$state" | jq -r '.dropped // 0')
srv_stop
: > "$T_ROOT/proxy.control"
max_seen=0
overflowed() {
        local q d
        q=$(queued)
        [ "$q" -le "$MAX" ] || t_fail "the queue holds $q records, more than max_records = $MAX"
        [ "$q" -le "$max_seen" ] || max_seen=$q
        d=$(agent_status gw-tm | jq .telemetry.dropped)
        [ "$((d - before))" -ge $((2 * MAX)) ]
}
t0=$SECONDS
t_wait_for overflowed 90 || t_fail "the queue did not overflow twice during the outage (dropped $(agent_status gw-tm | jq .telemetry.dropped))"
[ "$max_seen" = "$MAX" ] || t_fail "the queue never reached its bound ($max_seen)"
dropped=$(agent_status gw-tm | jq .telemetry.dropped)
t_pass "outage of $((SECONDS - t0)) s: the queue stayed at ≤ $MAX records, $((dropped - before)) oldest dropped, agent alive"

# ---- back ------------------------------------------------------------------------------------------------
srv_start
echo "127.0.0.1:$DDI_PORT" > "$T_ROOT/upstream"
t_wait_for drained 60 || t_fail "the queue did not drain after the outage: $(queued)"
all_records "$T_ROOT/records"
grep -q "^server reachable again after" <<<"$(jq -r .text "$T_ROOT/records")" || t_fail "no 'server reachable again' event"
jq -s -e '[.[].seq] as $s | $s == ($s | sort) and ($s | length) == ($s | unique | length)' "$T_ROOT/records" >/dev/null ||
        t_fail "records out of order or duplicated after the outage"
# the outage left one gap, right after the last record the server had, as large as
# what the agent dropped meanwhile; all gaps together are the agent's dropped count
gaps=$(jq -s -c '[.[].seq] as $s | [range(1; $s | length) | select($s[.] != $s[. - 1] + 1) | {after: $s[. - 1], missing: ($s[.] - $s[. - 1] - 1)}]' "$T_ROOT/records")
agent_dropped=$(agent_status gw-tm | jq .telemetry.dropped)
outage_gap=$(echo "$gaps" | jq --argjson a "$sent_before" '[.[] | select(.after == $a)][0].missing // 0')
[ "$outage_gap" = "$((agent_dropped - before))" ] ||
        t_fail "the outage gap after seq $sent_before is $outage_gap records, the agent dropped $((agent_dropped - before)): $gaps"
missing=$(echo "$gaps" | jq 'map(.missing) | add // 0')
[ "$missing" = "$agent_dropped" ] || t_fail "the gaps ($missing records: $gaps) are not the agent's dropped count ($agent_dropped)"
summary=$(tm 0 1)
[ "$(echo "$summary" | jq .dropped)" = "$agent_dropped" ] || t_fail "the server's reported dropped count differs: $summary"
[ "$(echo "$summary" | jq .gaps)" = "$missing" ] || t_fail "the server's gap count differs: $summary"
# the oldest went first: the records after the gap are the newest of the outage, newer than all before it
gap_after=$sent_before
ts_before=$(jq -s --argjson a "$gap_after" '[.[] | select(.seq == $a)][0].ts' "$T_ROOT/records")
ts_after=$(jq -s --argjson a "$gap_after" '[.[] | select(.seq > $a)][0].ts' "$T_ROOT/records")
[ "$ts_after" -ge "$ts_before" ] || t_fail "records after the gap are older than before it"
URL=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$LOG" | head -1)
grep -qx "berth_telemetry_dropped_total $agent_dropped" <<<"$(curl -sf "$URL")" || t_fail "metrics disagree on the dropped count"
t_pass "server back: queue drained, $(wc -l < "$T_ROOT/records") records in order, the outage's gap of $outage_gap = what the agent dropped meanwhile (server: dropped $(echo "$summary" | jq .dropped), gaps $(echo "$summary" | jq .gaps))"
agent_stop gw-tm
