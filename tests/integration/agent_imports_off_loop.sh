#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_imports_off_loop.sh — the store imports run off the agent's event loop: the one
# that ends a download (the artifact read back for its sha256, the import and its
# preload: seconds to minutes on a gateway's flash) and the one a USB stick or `berth
# import` hands to the running agent. The test holds each thread at its first step
# (BERTH_FAULT_PAUSE) and checks:
#   * while it is held, the agent goes on polling and answers its metrics endpoint and
#     its control socket; released, the action is installed;
#   * a cancel from the server while it is held ends the action at once; the held
#     import, released, still stores the bundle and only logs its result; the next
#     deployment installs;
#   * `berth import` through the agent, held: polls and `berth status` go on, a second
#     import is refused as busy with a clear message, and the first one, released,
#     answers its client with the result.
# Without the threads, the loop would stop at the pause: no poll, no answer.
# Needs -DBERTH_FAULT_POINTS=ON (scripts/test.sh's ASan build); skipped otherwise.
source "$(dirname "$0")/../lib/harness.sh"
grep -q "update.commit_thread" "$BERTH" || t_skip "berth was not built with -DBERTH_FAULT_POINTS=ON"

agent_env_setup
t_make_image -o "$T_ROOT/img.tar" --random-layers 1 --random-size 256K --seed commit-thread
for v in 1 2 3 4 5; do
        t_bundle "$T_ROOT/app-$v.berth" --name app --version $v --image "$T_ROOT/img.tar"
        srv_upload "$T_ROOT/app-$v.berth"
        eval "B$v=$BUNDLE_ID"
done

GO=$T_ROOT/go
GO2=$T_ROOT/go2
agent_add gw-ct "[metrics]" "listen = 127.0.0.1:0"
agent_start gw-ct BERTH_FAULT_PAUSE="update.commit_thread:$GO"
LOG=${AGENT_DIR[gw-ct]}/agent.log
# A failing test releases whatever it holds, so the agent can be stopped at the end
# (a held thread would keep it; a loop held by a regression would ignore SIGTERM).
t_defer "touch '$GO' '$GO2'"
t_wait_for "grep -q 'metrics on http://' '$LOG'" 20 || t_fail "no metrics endpoint: $(tail -3 "$LOG")"
URL=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$LOG" | head -1)
polls_ok() { curl -sf -m 2 "$URL" | sed -n 's/^berth_polls_total{result="ok"} \([0-9]*\).*/\1/p'; }
importing() { agent_status gw-ct | jq -r .agent.status | grep -q "importing into the store"; }
more_polls() { local n; n=$(polls_ok); [ -n "$n" ] && [ "$n" -ge $(($1 + 2)) ]; }
deploy() { rollout_create "$(jq -cn --argjson b "$1" --arg n "$2" '{name: $n, bundleId: $b, filter: {controllerId: "gw-ct"}}')"; }
succeeded() { [ "$(target_action_status gw-ct)" = success ]; }

# ---- held import: the loop goes on, then the action is installed --------------------------
deploy "$B1" v1
t_wait_for importing 30 || t_fail "app 1 never reached the store import: $(agent_status gw-ct | jq -c .agent)"
p0=$(polls_ok)
[ -n "$p0" ] || t_fail "the metrics endpoint did not answer while the import was held"
t_wait_for "more_polls $p0" 20 || t_fail "the agent stopped polling while the import was held ($p0 → $(polls_ok))"
importing || t_fail "the import ended although it was held"
[ "$(target_action_status gw-ct)" = running ] || t_fail "the action ended while its import was held: $(target_action_status gw-ct)"
touch "$GO"
t_wait_for succeeded 30 || t_fail "app 1 did not install once released: $(target_action_status gw-ct): $(tail -5 "$LOG")"
grep -q "app 1 stored and preloaded" "$LOG" || t_fail "no 'stored and preloaded' for app 1"
t_pass "import held: $(( $(polls_ok) - p0 )) polls, metrics and status answered meanwhile; released, app 1 installed"

# ---- cancel while held ---------------------------------------------------------------------
rm -f "$GO"
deploy "$B2" v2
t_wait_for importing 30 || t_fail "app 2 never reached the store import"
mgmt GET /api/v1/targets/gw-ct
aid=$(echo "$BODY" | jq -r .currentAction.id)
mgmt POST "/api/v1/actions/$aid/cancel"
[ "$CODE" = 200 ] || t_fail "cancel: $CODE $BODY"
canceled() { mgmt GET "/api/v1/actions/$aid"; [ "$(echo "$BODY" | jq -r .status)" = canceled ]; }
t_wait_for canceled 30 || t_fail "the cancel was not confirmed while the import was held: $BODY"
grep -q "canceled app 2 in state fetching" "$LOG" || t_fail "the agent did not log the cancel"
touch "$GO"
t_wait_for "grep -q 'the store import of action $aid ended after the action did: stored and preloaded' '$LOG'" 30 ||
        t_fail "the held import's end was not logged: $(tail -5 "$LOG")"
agent_has gw-ct app 2 || t_fail "the released import did not store app 2"
deploy "$B3" v3
t_wait_for succeeded 30 || t_fail "app 3 did not install after the canceled one: $(tail -5 "$LOG")"
t_pass "cancel while held: confirmed at once; released, the import stored app 2 and only logged it; app 3 installed"

# ---- `berth import` through the agent, held ------------------------------------------------
agent_stop gw-ct
agent_start gw-ct BERTH_FAULT_PAUSE="control.import_thread:$GO2"
t_wait_for "[ \$(grep -c 'metrics on http://' '$LOG') -ge 2 ]" 20 || t_fail "no metrics endpoint after the restart"
URL=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$LOG" | tail -1)
CONF=${AGENT_DIR[gw-ct]}/agent.conf
"$BERTH" import --config "$CONF" "$T_ROOT/app-4.berth" >"$T_ROOT/import.out" 2>&1 &
IMPORT_PID=$!
t_defer "kill $IMPORT_PID 2>/dev/null || true"
importing_usb() { agent_status gw-ct | jq -r .agent.status | grep -q "^importing .*app-4.berth"; }
t_wait_for importing_usb 30 || t_fail "the agent never started importing app 4: $(agent_status gw-ct | jq -c .agent)"
p0=$(polls_ok)
[ -n "$p0" ] || t_fail "the metrics endpoint did not answer while the import was held"
t_wait_for "more_polls $p0" 20 || t_fail "the agent stopped polling while the import was held ($p0 → $(polls_ok))"
if out=$("$BERTH" import --config "$CONF" "$T_ROOT/app-5.berth" 2>&1); then
        t_fail "a second import while one runs succeeded: $out"
fi
grep -q "is importing .*app-4.berth for another client; run this import again when that one has finished" <<<"$out" ||
        t_fail "unclear refusal of the second import: $out"
kill -0 "$IMPORT_PID" 2>/dev/null || t_fail "the held import's client ended early: $(cat "$T_ROOT/import.out")"
touch "$GO2"
rc=0
wait "$IMPORT_PID" || rc=$?
t_assert_eq "$rc" 0 "berth import exit status ($(cat "$T_ROOT/import.out"))"
grep -q "through the agent" "$T_ROOT/import.out" || t_fail "the import did not answer through the agent: $(cat "$T_ROOT/import.out")"
agent_has gw-ct app 4 || t_fail "app 4 not imported"
agent_has gw-ct app 5 && t_fail "the refused import stored app 5"
t_pass "berth import held: polls and status went on, a second import was refused as busy; released, app 4 was imported"
agent_stop gw-ct
