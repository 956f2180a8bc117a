#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_update_crash.sh — the agent is killed (SIGKILL, through BERTH_FAULT) at every state
# boundary of a server-driven update with containerd and a workload: after the verified
# head is stored, in the store import's thread (before the import), after `staged`,
# after `switching`, after the engine's own `staged` row (the stuck node of the first
# kill -9 sweep), at each step of the engine's switch
# and probe, after the engine's commit and just before the final state and feedback are
# written. Restarted, it must finish the same action: success (the crash never counts
# against the release), exactly one version's task running, one final feedback, and an
# outcome that names every byte downloaded for the action, also by the killed process.
# One agent takes the chain v1 → v12. Needs -DBERTH_FAULT_POINTS=ON (scripts/test.sh's
# ASan build); skipped otherwise.
source "$(dirname "$0")/../lib/harness.sh"
[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc, mounts)"
grep -q "update.after_staged" "$BERTH" || t_skip "berth was not built with -DBERTH_FAULT_POINTS=ON"
t_containerd_start "$(t_tmpdir)"
agent_env_setup

PORT=$(t_free_port)
mkdir -p "$T_ROOT/www"
echo "v-ok" >"$T_ROOT/www/ok.html"
LAYER=$((256 * 1024))
# release V: its own random layer (so each version downloads new bytes), one web task.
release() {
        local v=$1
        t_make_image -o "$T_ROOT/img-$v.tar" --file "$T_ROOT/www:/www" --random-layers 1 --random-size "$LAYER" \
                --seed "crash-$v"
        cat >"$T_ROOT/wl-$v.json" <<JSON
{"soak": "1s", "workloads": [
 {"name": "web", "image": "registry.local/test/app:$v", "network": "host",
  "command": ["/bin/busybox", "httpd", "-f", "-p", "$PORT", "-h", "/www"],
  "stop": {"grace": "500ms"}, "resources": {"memory": "32M", "cpu": "250m"},
  "probe": {"http": {"port": $PORT, "path": "/ok.html"}, "initialDelay": "200ms", "period": "200ms",
            "failureThreshold": 5}}
]}
JSON
        t_bundle "$T_ROOT/app-$v.berth" --name app --version "$v" --image "$T_ROOT/img-$v.tar" \
                -- --workloads "$T_ROOT/wl-$v.json"
        srv_upload "$T_ROOT/app-$v.berth"
        rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" --arg n "v$v" '{name: $n, bundleId: $b, filter: {controllerId: "gw"}}')"
}

agent_add gw "[update]" "backends = containerd" "[containerd]" "address = $T_CTRD_SOCK" \
        "namespace = $T_CTRD_NS" "snapshotter = overlayfs" "[workloads]" "data_dir = $T_ROOT/data"
LOG=${AGENT_DIR[gw]}/agent.log
running() { t_ctr tasks ls | awk 'NR > 1 && $3 == "RUNNING" {print $1}' | sort | tr '\n' ' '; }
is_status() { [ "$(target_action_status gw)" = "$1" ]; }
dead() { ! kill -0 "${AGENT_PID[gw]}" 2>/dev/null; }

# check V: the action for V succeeded once, V alone runs, the outcome counts V's bytes.
check() {
        local v=$1 body closed detail bytes
        body=$(action_json gw)
        closed=$(jq '[.feedback[] | select(.execution == "closed")] | length' <<<"$body")
        t_assert_eq "$closed" 1 "v$v: one closing feedback"
        t_assert_eq "$(jq -r '[.feedback[] | select(.execution == "closed")][0].finished' <<<"$body")" success \
                "v$v: the closing feedback is a success"
        detail=$(jq -r '[.feedback[] | select(.execution == "closed")][0].details[0]' <<<"$body")
        t_assert_contains "$detail" "installed app $v" "v$v: the outcome names the version"
        bytes=$(sed -n 's/.*: \([0-9]*\) bytes downloaded.*/\1/p' <<<"$detail")
        [ "${bytes:-0}" -ge "$LAYER" ] || t_fail "v$v: the outcome counts $bytes bytes, less than its new layer: $detail"
        t_assert_eq "$(running)" "app-v$v-web " "v$v: exactly its task runs"
}

release 1
agent_start gw
t_wait_for 'is_status success' 60 || t_fail "v1 did not succeed: $(tail -5 "$LOG")"
check 1
t_pass "v1 installed without a fault"

v=1
for point in update.after_head update.commit_thread update.after_staged update.after_switching update.after_engine_staged \
        switch.after_persist \
        switch.after_stop_old switch.after_start_new probe.after_persist commit.after update.before_final; do
        v=$((v + 1))
        agent_stop gw
        agent_start gw BERTH_FAULT="$point"
        release "$v"
        t_wait_for dead 60 || t_fail "v$v: the agent did not reach $point: $(tail -5 "$LOG")"
        rc=0
        wait "${AGENT_PID[gw]}" || rc=$?
        AGENT_PID[gw]=""
        t_assert_eq "$rc" 137 "v$v: the agent was killed at $point"
        agent_start gw
        t_wait_for 'is_status success' 60 ||
                t_fail "v$v: no success after a kill at $point (server: $(target_action_status gw)): $(tail -8 "$LOG")"
        check "$v"
        t_pass "killed at $point: v$v resumed and committed, one feedback, every byte counted"
done
agent_stop gw
