#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_resume.sh — downloads survive broken links and agent crashes.
#
#  1. cut: the counting proxy cuts the first two large artifact responses mid-body; the
#     agent resumes at the byte where it broke, so the total fetched is the artifact up
#     to the end of its last blob (the head, the blobs and the tar headers between them,
#     which one request per run of adjacent blobs carries) — not one byte twice;
#  2. kill: an agent with a bandwidth cap is SIGKILLed in the middle of a blob (after at
#     least one blob completed); restarted, it resumes from its journal: completed
#     blobs are not fetched again, at most one journal chunk (64 KiB here) is;
#  3. stall: the proxy stops sending mid-body without closing; the agent's stall timeout
#     (download.stall_timeout = 2 s) fires and the download resumes.
# All end with the right digests (every stored blob hashes to its name).
source "$(dirname "$0")/../lib/harness.sh"

AGENT_PROXY=1 PROXY_ARGS="--cut-after 700000 --cuts 2" agent_env_setup
t_make_image -o "$T_ROOT/img.tar" --random-layers 3 --random-size 3M --seed resume
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar"
srv_upload "$T_ROOT/app-1.berth"
BUNDLE1=$BUNDLE_ID
blob_bytes=$(tar -xOf "$T_ROOT/app-1.berth" manifest.json | jq '[.blobs[].size] | add')
check_digests() {
        local f
        for f in "${AGENT_DIR[$1]}"/state/store/blobs/sha256/*; do
                [ "$(sha256sum < "$f" | cut -c1-64)" = "$(basename "$f")" ] || t_fail "$1: blob $f is corrupt"
        done
        [ -z "$(ls -A "${AGENT_DIR[$1]}/state/store/partial")" ] || t_fail "$1: partial downloads left behind"
}

# ---- 1. connection cut twice ----------------------------------------------------------
agent_add gw-cut
agent_start gw-cut
rollout_create "$(jq -cn --argjson b "$BUNDLE1" '{name: "cut", bundleId: $b, filter: {controllerId: "gw-cut"}}')"
t_wait_for 'agent_has gw-cut app 1' 90 || t_fail "gw-cut did not install app 1"
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 30 || t_fail "rollout for gw-cut did not finish"
cuts=$(grep -c 'cut=1' "$T_ROOT/proxy.log" || true)
[ "$cuts" = 2 ] || t_fail "expected 2 cut transfers, the proxy logged $cuts"
got=$(proxy_bytes)
echo "gw-cut: $got bytes fetched for $blob_bytes bytes of blobs (2 cuts)"
grep ARTIFACT "$T_ROOT/proxy.log"
# The artifact up to the end of its last blob.
span_end=$(python3 -c 'import sys, tarfile
t = tarfile.open(sys.argv[1]); print(max(m.offset_data + m.size for m in t.getmembers() if m.name.startswith("blobs/")))' \
        "$T_ROOT/app-1.berth")
[ "$got" -le "$span_end" ] || t_fail "after 2 cuts the agent fetched $got bytes (> the $span_end bytes up to the last blob)"
check_digests gw-cut
t_pass "cut connections: resumed at the break, no byte fetched twice, digests right"

# The proxy counts what it wrote into the socket, which after an interruption includes
# bytes still in kernel buffers that never reached the agent. So for a kill or a stop
# the test uses what the agent had: at the interruption, the partial file's size S and
# its journaled length G, and the blobs already in the store. Afterwards the proxy log
# must show the interrupted blob asked for again from exactly G (so S − G bytes were
# fetched twice: ≤ one chunk after a kill, 0 after a clean stop), and every blob that
# was complete at the interruption asked for exactly once.
data_offset() {         # DIGEST → offset of its data in app-1.berth
        python3 -c 'import sys, tarfile
t = tarfile.open(sys.argv[1]); print(t.getmember("blobs/sha256/" + sys.argv[2][7:]).offset_data)' "$T_ROOT/app-1.berth" "$1"
}
blob_size() { tar -xOf "$T_ROOT/app-1.berth" manifest.json | jq -r --arg d "$1" '.blobs[] | select(.digest == $d) | .size'; }
interrupted_state() {   # NAME → PART_SIZE, PART_GOOD, PART_DIGEST, DONE_BLOBS
        local dir=${AGENT_DIR[$1]}/state f
        f=$(ls -S "$dir/store/partial"/*.part 2>/dev/null | head -1)
        [ -n "$f" ] || t_fail "$1: no partial download to resume"
        PART_SIZE=$(stat -c %s "$f")
        PART_DIGEST=sha256:$(basename "$f" .part)
        PART_GOOD=$(sqlite3 "$dir/berth.db" "SELECT good_bytes FROM agent_downloads WHERE digest='$PART_DIGEST'")
        PART_GOOD=${PART_GOOD:-0}
        DONE_BLOBS=$(ls "$dir/store/blobs/sha256" | sed 's/^/sha256:/')
}
ranges() {              # NAME → START-END of each artifact request
        grep "/$1/" "$T_ROOT/proxy.log" | grep -o 'range=bytes=[0-9]*-[0-9]*' | sed 's/range=bytes=//' || true
}
starting_at() {         # NAME START END → requests that start at START and reach END
        ranges "$1" | awk -F- -v s="$2" -v e="$3" '$1 == s && $2 >= e' | wc -l
}
covering() {            # NAME START END → requests whose range holds START..END
        ranges "$1" | awk -F- -v s="$2" -v e="$3" '$1 <= s && $2 >= e' | wc -l
}
check_ranges() {        # NAME MAX_REFETCH
        local name=$1 max=$2 off size d n
        off=$(data_offset "$PART_DIGEST")
        size=$(blob_size "$PART_DIGEST")
        n=$(starting_at "$name" $(( off + PART_GOOD )) $(( off + size - 1 )))
        [ "$n" -ge 1 ] || t_fail "$name: blob $PART_DIGEST was not asked for from its journaled length $PART_GOOD: $(grep "/$name/" "$T_ROOT/proxy.log")"
        for d in $DONE_BLOBS; do
                off=$(data_offset "$d")
                size=$(blob_size "$d")
                n=$(covering "$name" "$off" $(( off + size - 1 )))
                [ "$n" = 1 ] || t_fail "$name: blob $d, complete at the interruption, was asked for $n times"
        done
        local refetch=$(( PART_SIZE - PART_GOOD ))
        echo "$name: interrupted blob had $PART_SIZE bytes on disk, $PART_GOOD journaled, resumed from $PART_GOOD;" \
                "$refetch bytes fetched twice; $(echo "$DONE_BLOBS" | grep -c .) complete blob(s) not asked for again"
        [ "$refetch" -le "$max" ] || t_fail "$name: $refetch bytes fetched twice (limit $max)"
}

# ---- 2. agent killed mid-blob ---------------------------------------------------------
agent_add gw-kill "[download]" "bandwidth = 512k" "chunk_size = 64k"
agent_start gw-kill
rollout_create "$(jq -cn --argjson b "$BUNDLE1" '{name: "kill", bundleId: $b, filter: {controllerId: "gw-kill"}}')"
# Interrupt in the middle of a blob, after at least one blob is complete.
progressed() {
        local dir=${AGENT_DIR[$1]}/state f
        f=$(ls "$dir/store/partial"/*.part 2>/dev/null | head -1)
        [ -n "$f" ] && [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" -ge 200000 ] && [ "$(ls "$dir/store/blobs/sha256" | wc -l)" -ge 1 ]
}
t_wait_for 'progressed gw-kill' 60 || t_fail "gw-kill made no progress"
agent_kill gw-kill
interrupted_state gw-kill
agent_start gw-kill
t_wait_for 'agent_has gw-kill app 1' 90 || t_fail "gw-kill did not finish after the restart"
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 30 || t_fail "rollout for gw-kill did not finish"
grep "resuming" "${AGENT_DIR[gw-kill]}/agent.log" || t_fail "gw-kill did not say it resumed"
check_ranges gw-kill 65536
check_digests gw-kill
t_pass "killed mid-download: resumed from the journal (≤ one chunk again), completed blobs not fetched again, digests right"

# ---- 2b. agent stopped (SIGTERM) mid-blob: the journal is written at stop ----------------
agent_add gw-term "[download]" "bandwidth = 512k" "chunk_size = 512k"
agent_start gw-term
rollout_create "$(jq -cn --argjson b "$BUNDLE1" '{name: "term", bundleId: $b, filter: {controllerId: "gw-term"}}')"
t_wait_for 'progressed gw-term' 60 || t_fail "gw-term made no progress"
agent_stop gw-term
interrupted_state gw-term
agent_start gw-term
t_wait_for 'agent_has gw-term app 1' 90 || t_fail "gw-term did not finish after the restart"
check_ranges gw-term 0
check_digests gw-term
t_pass "stopped mid-download: clean exit, journal written, resumed at the exact byte"

# ---- 3. stalled link --------------------------------------------------------------------
agent_proxy_stop
agent_proxy_start --stall-after 500000 --cuts 1
# The server's links still name the old proxy port: restart the server with the new one.
sed -i "s|^public_url = .*|public_url = https://127.0.0.1:$PROXY_PORT|" "$SRV_CONF"
srv_stop
srv_start
echo "127.0.0.1:$DDI_PORT" > "$T_ROOT/upstream"
AGENT_SERVER_URL="https://127.0.0.1:$PROXY_PORT"
agent_add gw-stall "[download]" "stall_timeout = 2"
agent_start gw-stall
rollout_create "$(jq -cn --argjson b "$BUNDLE1" '{name: "stall", bundleId: $b, filter: {controllerId: "gw-stall"}}')"
t_wait_for 'agent_has gw-stall app 1' 90 || t_fail "gw-stall did not finish"
grep -q "interrupted" "${AGENT_DIR[gw-stall]}/agent.log" || t_fail "gw-stall never noticed the stall"
grep "interrupted" "${AGENT_DIR[gw-stall]}/agent.log" | head -2
check_digests gw-stall
t_pass "stalled link: timed out after download.stall_timeout, resumed, digests right"
for a in gw-cut gw-kill gw-term gw-stall; do agent_stop "$a"; done
