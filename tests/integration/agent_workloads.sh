#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_workloads.sh — `berth agent` with a containerd backend embeds the workload engine:
#   - a rollout of v1 (a busybox httpd workload with an http probe) ends with the agent
#     reporting success, the workload running and serving;
#   - while the agent runs, `berth activate` refuses (workloads.lock is held);
#   - a rollout of v2, whose probe gets 404, is rolled back by the engine: the agent reports
#     the action as failed with the probe evidence ("rolled back to version 1: …") in the
#     feedback details, and v1 runs and serves again;
#   - after the rollback the metrics endpoint (promtool-clean) shows the workload running
#     and healthy on version 1, its probe results and the failed update, and `berth
#     status` through the agent's socket lists the running workload;
#   - with the agent running, `berth rollback` and `berth activate` go through its control
#     socket: back to v1 and forward to v3 again, each followed to its commit, reported in
#     the agent's telemetry as switches made on the gateway;
#   - the agent is SIGKILLed while v3 is being probed (action in `switching`); restarted,
#     the engine adopts the running v3 task and resumes the update, and the agent reports
#     success once it commits.
source "$(dirname "$0")/../lib/harness.sh"
[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc, mounts)"
CTRD_DIR=$(t_tmpdir)
t_containerd_start "$CTRD_DIR"

agent_env_setup
PORT=$(t_free_port)
mkdir -p "$T_ROOT/www"
echo "v-ok" > "$T_ROOT/www/ok.html"
t_make_image -o "$T_ROOT/img.tar" --file "$T_ROOT/www:/www"
# wl PROBE_PATH SOAK → workloads file
wl() {
        cat <<JSON
{"soak": "$2", "workloads": [
 {"name": "web", "image": "REF", "command": ["/bin/busybox", "httpd", "-f", "-p", "$PORT", "-h", "/www"],
  "network": "host", "stop": {"grace": "1s"}, "resources": {"memory": "32M", "cpu": "250m"},
  "probe": {"http": {"port": $PORT, "path": "$1", "status": 200}, "initialDelay": "200ms", "period": "200ms", "failureThreshold": 3}}
]}
JSON
}
wl /ok.html 1s | sed "s|REF|registry.local/test/app:1|" > "$T_ROOT/wl1.json"
wl /missing.html 5s | sed "s|REF|registry.local/test/app:2|" > "$T_ROOT/wl2.json"
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar" -- --workloads "$T_ROOT/wl1.json"
srv_upload "$T_ROOT/app-1.berth"
B1=$BUNDLE_ID
t_bundle "$T_ROOT/app-2.berth" --name app --version 2 --image "$T_ROOT/img.tar" -- --workloads "$T_ROOT/wl2.json"
srv_upload "$T_ROOT/app-2.berth"
B2=$BUNDLE_ID
wl /ok.html 4s | sed "s|REF|registry.local/test/app:3|" > "$T_ROOT/wl3.json"
t_bundle "$T_ROOT/app-3.berth" --name app --version 3 --image "$T_ROOT/img.tar" -- --workloads "$T_ROOT/wl3.json"
srv_upload "$T_ROOT/app-3.berth"
B3=$BUNDLE_ID

agent_add gw-wl "[update]" "backends = containerd" "[containerd]" "address = $T_CTRD_SOCK" \
        "namespace = $T_CTRD_NS" "snapshotter = overlayfs" "[workloads]" "data_dir = $T_ROOT/data" \
        "[metrics]" "listen = 127.0.0.1:0"
agent_start gw-wl
LOG=${AGENT_DIR[gw-wl]}/agent.log
running() { t_ctr tasks ls | awk 'NR > 1 && $3 == "RUNNING" {print $1}' | sort | tr '\n' ' '; }
serves_ok() { [ "$(curl -s -m 2 "http://127.0.0.1:$PORT/ok.html" 2>/dev/null)" = "v-ok" ]; }

# ---- v1 -------------------------------------------------------------------------------
t0=$SECONDS
rollout_create "$(jq -cn --argjson b "$B1" '{name: "wl1", bundleId: $b, filter: {controllerId: "gw-wl"}}')"
is_status() { [ "$(target_action_status gw-wl)" = "$1" ]; }
t_wait_for 'is_status success' 40 || t_fail "v1 did not succeed (server: $(target_action_status gw-wl)): $(tail -5 "$LOG")"
t_assert_eq "$(running)" "app-v1-web " "the v1 workload runs after the agent reported success"
serves_ok || t_fail "v1 web does not serve /ok.html"
grep -q "installed app 1" <<<"$(action_json gw-wl)" || t_fail "the success feedback is missing: $BODY"
t_pass "v1 rolled out through the agent: committed by the workload engine, success reported ($((SECONDS - t0)) s)"

out=$("$BERTH" activate --state-dir "${AGENT_DIR[gw-wl]}/state" --containerd "$T_CTRD_SOCK" \
        --namespace "$T_CTRD_NS" app 1 2>&1) && t_fail "berth activate ran while the agent holds the lock: $out"
t_assert_contains "$out" "workloads.lock" "berth activate refuses while the agent runs"
t_pass "berth activate refuses while the agent holds workloads.lock"

# ---- v2: probe fails → rolled back, failure with evidence ----------------------------
t0=$SECONDS
rollout_create "$(jq -cn --argjson b "$B2" '{name: "wl2", bundleId: $b, filter: {controllerId: "gw-wl"}}')"
t_wait_for 'is_status failure' 40 || t_fail "v2 was not reported as failed (server: $(target_action_status gw-wl)): $(tail -5 "$LOG")"
body=$(action_json gw-wl)
t_assert_contains "$body" "rolled back to version 1" "the failure names the rollback"
t_assert_contains "$body" "status 404" "the failure carries the probe evidence"
t_wait_for serves_ok 20 || t_fail "v1 does not serve again after the rollback"
t_assert_eq "$(running)" "app-v1-web " "only the v1 workload runs after the rollback"
t_pass "v2 rolled back by the engine; failure with evidence reported; v1 serves again ($((SECONDS - t0)) s)"

URL=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$LOG" | tail -1)
curl -sf -o "$T_ROOT/metrics.txt" "$URL" || t_fail "GET $URL failed"
promtool check metrics < "$T_ROOT/metrics.txt" > "$T_ROOT/promtool.out" 2>&1 || t_fail "promtool: $(cat "$T_ROOT/promtool.out")"
val() { awk -v k="$1" '$1 == k {print $2}' "$T_ROOT/metrics.txt"; }
L='bundle="app",workload="web"'
t_assert_eq "$(val "berth_bundle_version{bundle=\"app\"}")" 1 "metrics: app runs version 1"
t_assert_eq "$(val "berth_workload_running{$L}")" 1 "metrics: web running"
healthy() { grep -qx "berth_workload_healthy{$L} 1" <<<"$(curl -sf "$URL")"; }
t_wait_for healthy 10 || t_fail "metrics: web not healthy: $(curl -sf "$URL" | grep healthy)"
[ "$(val "berth_workload_probes_total{$L,result=\"ok\"}")" -ge 1 ] || t_fail "metrics: no passed probes counted"
t_assert_eq "$(val 'berth_updates_total{result="failed"}')" 1 "metrics: one failed (rolled back) update"
st=$("$BERTH" status --config "${AGENT_DIR[gw-wl]}/agent.conf")
t_assert_contains "$st" "app: running version 1" "berth status (through the agent) shows the workloads"
t_pass "metrics after the rollback: promtool-clean; web running and healthy on v1; the failed update counted"

# ---- v3: agent killed in `switching` (engine probing), restarted → resumes, success --
t0=$SECONDS
rollout_create "$(jq -cn --argjson b "$B3" '{name: "wl3", bundleId: $b, filter: {controllerId: "gw-wl"}}')"
v3_runs() { [ "$(running)" = "app-v3-web " ]; }
t_wait_for v3_runs 30 || t_fail "v3 did not start: $(running) $(tail -5 "$LOG")"
[ "$(target_action_status gw-wl)" != success ] || t_fail "v3 reported success before its 4 s soak ended"
pid=$(t_ctr tasks ls | awk '$1 == "app-v3-web" {print $2}')
agent_kill gw-wl
agent_start gw-wl
t_wait_for 'is_status success' 30 || t_fail "v3 did not succeed after the restart (server: $(target_action_status gw-wl)): $(tail -5 "$LOG")"
t_assert_eq "$(t_ctr tasks ls | awk '$1 == "app-v3-web" {print $2}')" "$pid" "the restarted agent adopted the v3 task (same pid)"
serves_ok || t_fail "v3 web does not serve /ok.html"
grep -q "installed app 3" <<<"$(action_json gw-wl)" || t_fail "the success feedback is missing: $BODY"
t_pass "agent killed while switching to v3: resumed after restart, committed, success reported ($((SECONDS - t0)) s)"

# ---- local rollback and activation through the running agent ----------------------------
CONF=${AGENT_DIR[gw-wl]}/agent.conf
out=$("$BERTH" rollback --config "$CONF" app 2>&1) || t_fail "berth rollback through the agent failed: $out"
t_assert_contains "$out" "app: version 1 committed (was 3)" "berth rollback returns to v1 through the agent"
t_assert_eq "$(running)" "app-v1-web " "v1 runs after the local rollback"
serves_ok || t_fail "v1 web does not serve after the local rollback"
out=$("$BERTH" activate --config "$CONF" app 1 2>&1) || t_fail "activating the running version failed: $out"
t_assert_contains "$out" "already the running version" "activating the running version is a no-op"
out=$("$BERTH" activate --config "$CONF" app 3 2>&1) || t_fail "berth activate through the agent failed: $out"
t_assert_contains "$out" "app: version 3 committed (was 1)" "berth activate switches to v3 through the agent"
t_assert_eq "$(running)" "app-v3-web " "v3 runs after the local activation"
local_events() {
        mgmt GET "/api/v1/targets/gw-wl/telemetry?limit=1000"
        echo "$BODY" | jq -r '.records[] | select(.kind == "event") | .text'
}
has_local_events() {
        local ev
        ev=$(local_events)
        grep -q "^local rollback of app requested on the gateway" <<<"$ev" &&
                grep -q "^app rollback 3 -> 1 on the gateway: committed" <<<"$ev" &&
                grep -q "^app update 1 -> 3 on the gateway: committed" <<<"$ev"
}
t_wait_for has_local_events 30 || t_fail "the local switches are missing from the telemetry: $(local_events)"
t_pass "berth rollback / activate through the running agent: v3 → v1 → v3, committed, reported in telemetry"
agent_stop gw-wl
