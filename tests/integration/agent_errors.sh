#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_errors.sh — what goes wrong between agent and server is explained, retried
# with backoff, and loses nothing:
#   wrong CA, wrong token            → a clear sentence in the log, polls keep failing
#                                      (with backoff) and nothing is installed
#   malformed DDI JSON, HTTP 503     → a clear sentence, retried; the agent recovers
#   server unreachable for feedback  → the install finishes, feedback waits in the
#                                      outbox (SQLite) and reaches the server in order
#   disk too small                   → the action fails with "not enough disk space",
#                                      store and database untouched, agent keeps running
source "$(dirname "$0")/../lib/harness.sh"

AGENT_PROXY=1 agent_env_setup
t_make_image -o "$T_ROOT/img.tar" --random-layers 2 --random-size 2M --seed errors
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar"
srv_upload "$T_ROOT/app-1.berth"
B1=$BUNDLE_ID
log_of() { cat "${AGENT_DIR[$1]}/agent.log"; }
failures_of() { agent_status "$1" | jq '.agent.pollFailures'; }
failed_at_least() { [ "$(failures_of "$1")" -ge "$2" ]; }

# ---- wrong CA ------------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=other CA" \
        -keyout "$T_ROOT/other.key" -out "$T_ROOT/other.crt" 2>/dev/null
agent_add gw-ca
sed -i "s|^ca_file = .*|ca_file = $T_ROOT/other.crt|" "${AGENT_DIR[gw-ca]}/agent.conf"
agent_start gw-ca
t_wait_for 'failed_at_least gw-ca 3' 20 || t_fail "gw-ca did not keep retrying"
grep -q "certificate is not trusted: check the CA file" <<<"$(log_of gw-ca)" || t_fail "no clear CA error: $(log_of gw-ca)"
t_pass "wrong CA: $(log_of gw-ca | grep -m1 'not trusted' | cut -c1-160)…"

# ---- wrong token -----------------------------------------------------------------------
agent_add gw-tok
sed -i "s|^token = .*|token = not-the-right-token|" "${AGENT_DIR[gw-tok]}/agent.conf"
agent_start gw-tok
t_wait_for 'failed_at_least gw-tok 3' 20 || t_fail "gw-tok did not keep retrying"
grep -q "refused our credentials (HTTP 401)" <<<"$(log_of gw-tok)" || t_fail "no clear token error: $(log_of gw-tok)"
t_pass "wrong token: explained and retried"

# ---- garbage and 5xx, then recovery ------------------------------------------------------
agent_add gw-err "[download]" "bandwidth = 1M"
agent_start gw-err
t_wait_for '[ "$(agent_status gw-err | jq -r .agent.lastPoll)" != null ]' 20 ||
        t_fail "gw-err never polled"
echo garbage > "$T_ROOT/proxy.control"
t_wait_for 'failed_at_least gw-err 2' 20 || t_fail "gw-err did not notice the garbage"
grep -q "not valid JSON" <<<"$(log_of gw-err)" || t_fail "no clear malformed-JSON error: $(log_of gw-err)"
echo "status 503" > "$T_ROOT/proxy.control"
t_wait_for "grep -q 'server error HTTP 503' '${AGENT_DIR[gw-err]}/agent.log'" 20 || t_fail "no clear 503 error"
: > "$T_ROOT/proxy.control"
t_wait_for "grep -q 'answers again' '${AGENT_DIR[gw-err]}/agent.log'" 20 || t_fail "gw-err did not recover"
[ "$(failures_of gw-err)" = 0 ] || t_fail "failures not reset after recovery"
t_pass "malformed JSON and HTTP 503: explained, retried with backoff, recovered"

# ---- feedback survives a server outage -----------------------------------------------
rollout_create "$(jq -cn --argjson b "$B1" '{name: "outage", bundleId: $b, filter: {controllerId: "gw-err"}}')"
downloading() { [ "$(agent_status gw-err | jq '.update.bytesDone // 0')" -gt 0 ]; }
t_wait_for downloading 30 || t_fail "gw-err did not start downloading"
echo "status 503" > "$T_ROOT/proxy.control"      # DDI and feedback fail; artifacts still flow
t_wait_for 'agent_has gw-err app 1' 60 || t_fail "gw-err did not finish while the server was away"
queued() { [ "$(agent_status gw-err | jq '.agent.outbox')" -ge 1 ]; }
t_wait_for queued 10 || t_fail "no feedback waiting in the outbox"
[ "$(target_action_status gw-err)" != success ] || t_fail "the server saw success although feedback could not be sent"
# Across a restart too: the outbox is in SQLite.
agent_stop gw-err
agent_start gw-err
: > "$T_ROOT/proxy.control"
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 30 || t_fail "queued feedback did not reach the server"
mgmt GET "/api/v1/targets/gw-err"
aid=$(echo "$BODY" | jq -r .currentAction.id)
mgmt GET "/api/v1/actions/$aid"
echo "$BODY" | jq -c '[.. | .details? // empty] | flatten | map(.[0:60])' | head -c 600; echo
echo "$BODY" | grep -q "installed app 1" || t_fail "the final feedback is missing: $BODY"
outbox_empty() { [ "$(agent_status gw-err | jq '.agent.outbox')" = 0 ]; }
t_wait_for outbox_empty 20 || t_fail "outbox not emptied after the server came back"
t_pass "server outage: install finished, feedback queued in SQLite (across a restart), delivered in order"

# ---- disk too small -------------------------------------------------------------------
mnt="$T_ROOT/small"
mkdir -p "$mnt"
mount -t tmpfs -o size=3m tmpfs "$mnt" 2>/dev/null || t_skip "cannot mount a tmpfs here: the disk test did not run"
umount_small() { umount "$mnt" 2>/dev/null || true; }
t_defer umount_small
agent_add gw-small "[download]" "space_margin = 0"
sed -i "s|^state_dir = .*|state_dir = $mnt/state|" "${AGENT_DIR[gw-small]}/agent.conf"
agent_start gw-small
rollout_create "$(jq -cn --argjson b "$B1" '{name: "small", bundleId: $b, filter: {controllerId: "gw-small"}}')"
t_wait_for "grep -q 'not enough disk space' '${AGENT_DIR[gw-small]}/agent.log'" 30 || t_fail "no disk-space error"
failed() { [ "$(target_action_status gw-small)" = failure ]; }
t_wait_for failed 20 || t_fail "the server did not get the failure"
mgmt GET "/api/v1/actions/$(curl -s -H "Authorization: Bearer $ADMIN_TOKEN" "$MGMT/api/v1/targets/gw-small" | jq -r .currentAction.id)"
echo "$BODY" | grep -q "not enough disk space" || t_fail "the failure feedback does not explain: $BODY"
kill -0 "${AGENT_PID[gw-small]}" || t_fail "gw-small died"
[ "$(agent_status gw-small | jq '.bundles | length')" = 0 ] || t_fail "something was installed on the small disk"
[ -z "$(ls -A "$mnt/state/store/blobs/sha256")" ] || t_fail "blobs were stored on the small disk"
t_pass "disk too small: refused before downloading, explained to the server, nothing stored"
for a in gw-ca gw-tok gw-err gw-small; do agent_stop "$a"; done
umount_small
