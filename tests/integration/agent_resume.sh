#!/usr/bin/env bash
# agent_resume.sh — downloads survive broken links and agent crashes.
#
#  1. cut: the counting proxy cuts the first two large artifact responses mid-body; the
#     agent resumes each blob at the byte where it broke, so the total fetched equals
#     the blob bytes plus the head — not one byte twice;
#  2. kill: an agent with a bandwidth cap is SIGKILLed in the middle of a blob (after at
#     least one blob completed); restarted, it resumes from its journal: completed
#     blobs are not fetched again, at most one journal chunk (64 KiB here) is;
#  3. stall: the proxy stops sending mid-body without closing; the agent's stall timeout
#     (download.stall_timeout = 2 s) fires and the download resumes.
# All end with the right digests (every stored blob hashes to its name).
source "$(dirname "$0")/lib/agent.sh"

AGENT_PROXY=1 PROXY_ARGS="--cut-after 700000 --cuts 2" agent_env_setup
make_image "$T/img.tar" --random-layers 3 --random-size 3M --seed resume
make_bundle app 1 "$T/img.tar" "$T/app-1.berth"
upload "$T/app-1.berth"
BUNDLE1=$BUNDLE_ID
blob_bytes=$(tar -xOf "$T/app-1.berth" manifest.json | jq '[.blobs[].size] | add')
rollout_is() { [ "$(rollout_json "$1" | jq -r .state)" = "$2" ]; }
check_digests() {
        local f
        for f in "${AGENT_DIR[$1]}"/state/store/blobs/sha256/*; do
                [ "$(sha256sum < "$f" | cut -c1-64)" = "$(basename "$f")" ] || fail "$1: blob $f is corrupt"
        done
        [ -z "$(ls -A "${AGENT_DIR[$1]}/state/store/partial")" ] || fail "$1: partial downloads left behind"
}

# ---- 1. connection cut twice ----------------------------------------------------------
agent_add gw-cut
agent_start gw-cut
rollout_create "$(jq -cn --argjson b "$BUNDLE1" '{name: "cut", bundleId: $b, filter: {controllerId: "gw-cut"}}')"
wait_until 90 agent_has gw-cut app 1 || fail "gw-cut did not install app 1"
wait_until 30 rollout_is "$ROLLOUT_ID" finished || fail "rollout for gw-cut did not finish"
cuts=$(grep -c 'cut=1' "$T/proxy.log" || true)
[ "$cuts" = 2 ] || fail "expected 2 cut transfers, the proxy logged $cuts"
got=$(proxy_bytes)
echo "gw-cut: $got bytes fetched for $blob_bytes bytes of blobs (2 cuts)"
grep ARTIFACT "$T/proxy.log"
[ "$got" -le $(( blob_bytes + 4096 )) ] || fail "after 2 cuts the agent fetched $got bytes (> blobs + head)"
check_digests gw-cut
pass "cut connections: resumed at the break, no byte fetched twice, digests right"

# ---- 2. agent killed mid-blob ---------------------------------------------------------
before=$(proxy_bytes)
agent_add gw-kill "[download]" "bandwidth = 1M" "chunk_size = 64k"
agent_start gw-kill
rollout_create "$(jq -cn --argjson b "$BUNDLE1" '{name: "kill", bundleId: $b, filter: {controllerId: "gw-kill"}}')"
# Wait until one random layer (1 MiB) is complete and the next one is underway.
progressed() {
        local s
        s=$(agent_status gw-kill) || return 1
        [ "$(echo "$s" | jq '.update.bytesDone // 0')" -ge 1600000 ]
}
wait_until 60 progressed || fail "gw-kill made no progress"
agent_kill gw-kill
done_at_kill=$(( $(proxy_bytes) - before ))
partial=$(ls "${AGENT_DIR[gw-kill]}/state/store/partial" | wc -l)
echo "gw-kill killed after $done_at_kill bytes ($partial partial file(s))"
[ "$partial" -ge 1 ] || fail "no partial download to resume"
agent_start gw-kill
wait_until 90 agent_has gw-kill app 1 || fail "gw-kill did not finish after the restart"
wait_until 30 rollout_is "$ROLLOUT_ID" finished || fail "rollout for gw-kill did not finish"
got=$(( $(proxy_bytes) - before ))
echo "gw-kill: $got bytes fetched for $blob_bytes bytes of blobs (killed once)"
grep "resuming" "${AGENT_DIR[gw-kill]}/agent.log" || fail "gw-kill did not say it resumed"
[ "$got" -le $(( blob_bytes + 4096 + 65536 )) ] || fail "after the kill the agent fetched $got bytes (> blobs + head + one chunk)"
check_digests gw-kill
pass "killed mid-download: resumed from the journal, completed blobs not fetched again, digests right"

# ---- 3. stalled link --------------------------------------------------------------------
kill -TERM "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
python3 "$BERTH_SRC/tests/lib/ddiproxy.py" --upstream-file "$T/upstream" --ca "$CA" --cert "$T/pki/server.crt" \
        --key "$T/pki/server.key" --port-file "$T/proxy2.port" --log "$T/proxy.log" --stall-after 500000 --cuts 1 \
        >> "$T/proxy.err" 2>&1 &
PROXY_PID=$!
wait_until 20 test -s "$T/proxy2.port" || fail "proxy restart"
P2=$(cat "$T/proxy2.port")
# The server's links still name the old proxy port: restart the server with the new one.
sed -i "s|^public_url = .*|public_url = https://127.0.0.1:$P2|" "$SRV_CONF"
srv_stop
sed -i "s|^listen = 127.0.0.1:0|listen = 127.0.0.1:0|" "$SRV_CONF"
srv_start
echo "127.0.0.1:$DDI_PORT" > "$T/upstream"
AGENT_SERVER_URL="https://127.0.0.1:$P2"
agent_add gw-stall "[download]" "stall_timeout = 2"
agent_start gw-stall
rollout_create "$(jq -cn --argjson b "$BUNDLE1" '{name: "stall", bundleId: $b, filter: {controllerId: "gw-stall"}}')"
wait_until 90 agent_has gw-stall app 1 || fail "gw-stall did not finish"
grep -q "interrupted" "${AGENT_DIR[gw-stall]}/agent.log" || fail "gw-stall never noticed the stall"
grep "interrupted" "${AGENT_DIR[gw-stall]}/agent.log" | head -2
check_digests gw-stall
pass "stalled link: timed out after download.stall_timeout, resumed, digests right"
for a in gw-cut gw-kill gw-stall; do agent_stop "$a"; done
