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
source "$(dirname "$0")/lib/agent.sh"
trap 'rc=$?; ( exit $rc ) || true; ( agent_cleanup ) ; t_containerd_stop >/dev/null 2>&1; _t_umount_under "$T_ROOT"; rm -rf "$T_ROOT"; exit $rc' EXIT

agent_env_setup
PORT=$(t_free_port)
mkdir -p "$T/www"
echo "v-ok" > "$T/www/ok.html"
make_image "$T/img.tar" --file "$T/www:/www"
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
wl /ok.html 1s | sed "s|REF|registry.local/test/app:1|" > "$T/wl1.json"
wl /missing.html 5s | sed "s|REF|registry.local/test/app:2|" > "$T/wl2.json"
make_bundle app 1 "$T/img.tar" "$T/app-1.berth" --workloads "$T/wl1.json"
upload "$T/app-1.berth"
B1=$BUNDLE_ID
make_bundle app 2 "$T/img.tar" "$T/app-2.berth" --workloads "$T/wl2.json"
upload "$T/app-2.berth"
B2=$BUNDLE_ID
wl /ok.html 4s | sed "s|REF|registry.local/test/app:3|" > "$T/wl3.json"
make_bundle app 3 "$T/img.tar" "$T/app-3.berth" --workloads "$T/wl3.json"
upload "$T/app-3.berth"
B3=$BUNDLE_ID

agent_add gw-wl "[update]" "backends = containerd" "[containerd]" "address = $T_CTRD_SOCK" \
        "namespace = $T_CTRD_NS" "snapshotter = overlayfs" "[workloads]" "data_dir = $T/data" \
        "[metrics]" "listen = 127.0.0.1:0"
agent_start gw-wl
LOG=${AGENT_DIR[gw-wl]}/agent.log
running() { t_ctr tasks ls | awk 'NR > 1 && $3 == "RUNNING" {print $1}' | sort | tr '\n' ' '; }
serves_ok() { [ "$(curl -s -m 2 "http://127.0.0.1:$PORT/ok.html" 2>/dev/null)" = "v-ok" ]; }
action_json() {
        mgmt GET "/api/v1/targets/$1"
        mgmt GET "/api/v1/actions/$(echo "$BODY" | jq -r .currentAction.id)"
        echo "$BODY"
}

# ---- v1 -------------------------------------------------------------------------------
t0=$SECONDS
rollout_create "$(jq -cn --argjson b "$B1" '{name: "wl1", bundleId: $b, filter: {controllerId: "gw-wl"}}')"
is_status() { [ "$(target_action_status gw-wl)" = "$1" ]; }
wait_until 40 is_status success || fail "v1 did not succeed (server: $(target_action_status gw-wl)): $(tail -5 "$LOG")"
t_assert_eq "$(running)" "app-v1-web " "the v1 workload runs after the agent reported success"
serves_ok || fail "v1 web does not serve /ok.html"
action_json gw-wl | grep -q "installed app 1" || fail "the success feedback is missing: $BODY"
pass "v1 rolled out through the agent: committed by the workload engine, success reported ($((SECONDS - t0)) s)"

out=$("$BERTH" activate --state-dir "${AGENT_DIR[gw-wl]}/state" --containerd "$T_CTRD_SOCK" \
        --namespace "$T_CTRD_NS" app 1 2>&1) && fail "berth activate ran while the agent holds the lock: $out"
t_assert_contains "$out" "workloads.lock" "berth activate refuses while the agent runs"
pass "berth activate refuses while the agent holds workloads.lock"

# ---- v2: probe fails → rolled back, failure with evidence ----------------------------
t0=$SECONDS
rollout_create "$(jq -cn --argjson b "$B2" '{name: "wl2", bundleId: $b, filter: {controllerId: "gw-wl"}}')"
wait_until 40 is_status failure || fail "v2 was not reported as failed (server: $(target_action_status gw-wl)): $(tail -5 "$LOG")"
body=$(action_json gw-wl)
t_assert_contains "$body" "rolled back to version 1" "the failure names the rollback"
t_assert_contains "$body" "status 404" "the failure carries the probe evidence"
wait_until 20 serves_ok || fail "v1 does not serve again after the rollback"
t_assert_eq "$(running)" "app-v1-web " "only the v1 workload runs after the rollback"
pass "v2 rolled back by the engine; failure with evidence reported; v1 serves again ($((SECONDS - t0)) s)"

URL=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$LOG" | tail -1)
curl -sf -o "$T/metrics.txt" "$URL" || fail "GET $URL failed"
promtool check metrics < "$T/metrics.txt" > "$T/promtool.out" 2>&1 || fail "promtool: $(cat "$T/promtool.out")"
val() { awk -v k="$1" '$1 == k {print $2}' "$T/metrics.txt"; }
L='bundle="app",workload="web"'
t_assert_eq "$(val "berth_bundle_version{bundle=\"app\"}")" 1 "metrics: app runs version 1"
t_assert_eq "$(val "berth_workload_running{$L}")" 1 "metrics: web running"
healthy() { curl -sf "$URL" | grep -qx "berth_workload_healthy{$L} 1"; }
wait_until 10 healthy || fail "metrics: web not healthy: $(curl -sf "$URL" | grep healthy)"
[ "$(val "berth_workload_probes_total{$L,result=\"ok\"}")" -ge 1 ] || fail "metrics: no passed probes counted"
t_assert_eq "$(val 'berth_updates_total{result="failed"}')" 1 "metrics: one failed (rolled back) update"
st=$("$BERTH" status --config "${AGENT_DIR[gw-wl]}/agent.conf")
t_assert_contains "$st" "app: running version 1" "berth status (through the agent) shows the workloads"
pass "metrics after the rollback: promtool-clean; web running and healthy on v1; the failed update counted"

# ---- v3: agent killed in `switching` (engine probing), restarted → resumes, success --
t0=$SECONDS
rollout_create "$(jq -cn --argjson b "$B3" '{name: "wl3", bundleId: $b, filter: {controllerId: "gw-wl"}}')"
v3_runs() { [ "$(running)" = "app-v3-web " ]; }
wait_until 30 v3_runs || fail "v3 did not start: $(running) $(tail -5 "$LOG")"
[ "$(target_action_status gw-wl)" != success ] || fail "v3 reported success before its 4 s soak ended"
pid=$(t_ctr tasks ls | awk '$1 == "app-v3-web" {print $2}')
agent_kill gw-wl
agent_start gw-wl
wait_until 30 is_status success || fail "v3 did not succeed after the restart (server: $(target_action_status gw-wl)): $(tail -5 "$LOG")"
t_assert_eq "$(t_ctr tasks ls | awk '$1 == "app-v3-web" {print $2}')" "$pid" "the restarted agent adopted the v3 task (same pid)"
serves_ok || fail "v3 web does not serve /ok.html"
action_json gw-wl | grep -q "installed app 3" || fail "the success feedback is missing: $BODY"
pass "agent killed while switching to v3: resumed after restart, committed, success reported ($((SECONDS - t0)) s)"

# ---- local rollback and activation through the running agent ----------------------------
CONF=${AGENT_DIR[gw-wl]}/agent.conf
out=$("$BERTH" rollback --config "$CONF" app 2>&1) || t_fail "berth rollback through the agent failed: $out"
t_assert_contains "$out" "app: version 1 committed (was 3)" "berth rollback returns to v1 through the agent"
t_assert_eq "$(running)" "app-v1-web " "v1 runs after the local rollback"
serves_ok || fail "v1 web does not serve after the local rollback"
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
wait_until 30 has_local_events || fail "the local switches are missing from the telemetry: $(local_events)"
pass "berth rollback / activate through the running agent: v3 → v1 → v3, committed, reported in telemetry"
agent_stop gw-wl
