#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# registry_resume.sh — an interrupted chunked upload resumes. (1) berth is killed
# (SIGKILL) while a PATCH is in flight: the rerun asks the registry where the
# journalled session stands and continues from that byte, with the same session.
# (2) the registry answers a chunk with 503: a clear message naming registry,
# repository and blob, a non-zero exit, and the rerun completes the push.
source "$(dirname "$0")/../lib/harness.sh"
command -v skopeo >/dev/null || t_skip "skopeo not installed (scripts/deps.sh)"

W=$(t_tmpdir)
mkdir -p "$W/b"
t_make_image -o "$W/b/img.tar" --ref registry.local/gw/broker:2.0 --random-layers 1 --random-size 4M
t_bundle "$W/b/b.berth" --name gw --image "$W/b/img.tar" --ref registry.local/gw/broker:2.0
t_registry_start "$W/reg"
# One blob at a time, so exactly one upload session is open when berth dies.
conf() { # URL
        printf "[registry]\nurl = %s\nchunk_size = 524288\nmonolithic_max = 524288\nparallel = 1\n" "$1" >"$W/agent.conf"
}

t_log "case 1: berth killed during a chunk"
t_regproxy_start "$T_REGISTRY" "$W/stall.log" --fault-patch-after 5 --fault stall
conf "http://$T_REGPROXY"
"$BERTH" import --state-dir "$W/s1" --trust "$T_TRUST" --config "$W/agent.conf" "$T_BUNDLE" >"$W/run1.out" 2>&1 &
pid=$!
t_wait_for "grep -q STALLED '$W/stall.log'" 120 || t_fail "the upload never reached the 6th chunk"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
stalled=$(grep STALLED "$W/stall.log")
session=$(echo "$stalled" | sed -E 's|^PATCH (/v2/gw/broker/blobs/uploads/[0-9a-f-]+)\?.*|\1|')
start=$(echo "$stalled" | awk '{print $3}' | cut -d- -f1)
[ "$start" -gt 0 ] || t_fail "stalled chunk starts at $start"
ls "$W/s1/registry/uploads/"* >/dev/null 2>&1 || t_fail "no upload journal after the kill"

before=$(wc -l <"$W/stall.log")
"$BERTH" import --state-dir "$W/s1" --trust "$T_TRUST" --config "$W/agent.conf" "$T_BUNDLE" >"$W/run2.out"
tail -n +"$((before + 1))" "$W/stall.log" >"$W/rerun.log"
t_assert_contains "$(cat "$W/run2.out")" "1 upload(s) resumed" "rerun summary"
grep -qE "^GET $session\?.* -> 204$" "$W/rerun.log" || t_fail "the rerun did not ask for the session's state"
first_patch=$(grep -m1 '^PATCH ' "$W/rerun.log")
t_assert_contains "$first_patch" "$session?" "rerun continues the same session"
t_assert_eq "$(echo "$first_patch" | awk '{print $3}' | cut -d- -f1)" "$start" "rerun resumes at the interrupted chunk"
t_assert_eq "$(t_regproxy_count "$W/rerun.log" "^PATCH $session\?[^ ]* 0-")" 0 "nothing re-sent from byte 0"
[ ! -e "$W/s1/registry/uploads" ] || [ -z "$(ls "$W/s1/registry/uploads")" ] || t_fail "journal left behind"
got=$(skopeo inspect --tls-verify=false "docker://$T_REGISTRY/gw/broker:2.0" | jq -r .Digest)
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "digest after the resumed push"

t_log "case 2: the registry fails a chunk"
t_regproxy_start "$T_REGISTRY" "$W/fail.log" --fault-patch-after 2 --fault 503
conf "http://$T_REGPROXY"
mkdir -p "$W/c"
t_make_image -o "$W/c/img.tar" --ref registry.local/gw/other:1 --random-layers 1 --random-size 4M --seed other
t_bundle "$W/c/b.berth" --name gw2 --image "$W/c/img.tar" --ref registry.local/gw/other:1
t_expect_fail "$BERTH" import --state-dir "$W/s2" --trust "$T_TRUST" --config "$W/agent.conf" "$T_BUNDLE"
t_assert_contains "$T_ERR" "registry http://$T_REGPROXY" "message names the registry"
t_assert_contains "$T_ERR" "repository gw/other" "message names the repository"
t_assert_contains "$T_ERR" "blob sha256:" "message names the blob"
t_assert_contains "$T_ERR" "HTTP 503" "message gives the registry's answer"
t_assert_contains "$T_ERR" "import again" "message says what to do"
"$BERTH" import --state-dir "$W/s2" --trust "$T_TRUST" --config "$W/agent.conf" "$T_BUNDLE" >"$W/run3.out"
t_assert_contains "$(cat "$W/run3.out")" "1 upload(s) resumed" "rerun after the 503 resumes"
got=$(skopeo inspect --tls-verify=false "docker://$T_REGISTRY/gw/other:1" | jq -r .Digest)
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "digest after the rerun"
t_log "ok"
