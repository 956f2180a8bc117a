#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server and cheaper polls: the root poll carries an ETag and answers 304 (no body)
# to a matching If-None-Match; the ETag changes whenever anything the target should see
# changes (the request for attributes, a new action, a cancel, the polling time). A 503
# (the database busy) carries Retry-After.
source "$(dirname "$0")/../lib/harness.sh"
command -v python3 >/dev/null || { echo "missing python3" >&2; exit 77; }

srv_config "[bundles]" "insecure_skip_verify = true"
srv_start
srv_upload_bundle app 1 --raw 300000
TOK=cache-token-0123456789
mgmt POST /api/v1/targets "{\"controllerId\":\"gw-1\",\"token\":\"$TOK\"}"
expect_code 201 "register"

# poll [IF-NONE-MATCH]: polls gw-1; sets CODE, BODY and ETAG (from the answer's header).
poll() {
        rm -f "$T_ROOT/body" # curl writes no file for an answer without a body
        ddi GET gw-1 "" "$TOK" "" -D "$T_ROOT/headers" ${1:+-H "If-None-Match: $1"}
        ETAG=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$T_ROOT/headers")
        [ -n "$ETAG" ] || t_fail "poll answer without ETag: $(cat "$T_ROOT/headers")"
}
# changed WHAT OLD-ETAG: polls with OLD-ETAG; the answer must be a new 200 body.
changed() {
        poll "$2"
        expect_code 200 "poll after $1 with the previous ETag"
        [ "$ETAG" != "$2" ] || t_fail "the ETag did not change after $1"
}

poll
expect_code 200 "first poll"
E1=$ETAG
echo "$BODY" | jq -e '._links.configData' >/dev/null || t_fail "no configData request: $BODY"
poll "$E1"
expect_code 304 "poll with the current ETag"
[ -z "$BODY" ] || t_fail "a 304 with a body: $BODY"
[ "$ETAG" = "$E1" ] || t_fail "the 304 has another ETag: $ETAG vs $E1"
for inm in "W/$E1" "\"0123\", $E1" "*"; do
        poll "$inm"
        expect_code 304 "If-None-Match: $inm"
done
poll '"0123"'
expect_code 200 "If-None-Match with another tag"
t_pass "poll: ETag, 304 to a matching If-None-Match (also weak, in a list, *), 200 otherwise"

ddi PUT gw-1 /configData "$TOK" '{"data":{"site":"a"}}'
expect_code 200 "configData"
changed "the attributes came (no configData link)" "$E1"
E2=$ETAG
RID=$("$SERVER_BIN" rollout create --name r --bundle "$BUNDLE_ID" | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null
changed "a new action" "$E2"
E3=$ETAG
AID=$(echo "$BODY" | jq -r '._links.deploymentBase.href' | sed 's,.*/deploymentBase/,,;s,?.*,,')
poll "$E3"
expect_code 304 "poll with an unchanged deployment"
mgmt POST "/api/v1/actions/$AID/cancel"
expect_code 200 "cancel"
changed "a cancel" "$E3"
E4=$ETAG
echo "$BODY" | jq -e '._links.cancelAction' >/dev/null || t_fail "no cancelAction link: $BODY"
srv_stop
srv_config "[bundles]" "insecure_skip_verify = true" "[ddi]" "polling_sleep = 00:01:00"
srv_start
changed "a new polling time" "$E4"
t_pass "the ETag changes with the request for attributes, a new action, a cancel and the polling time"

# The database held by another writer: the feedback cannot be stored (busy after 5 s).
python3 - "$SRV_STATE/server.db" "$T_ROOT/locked" <<'PY' &
import sqlite3, sys, time, os
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
db.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(12)
PY
LOCKER=$!
t_wait_for 'test -e "$T_ROOT/locked"' 10 || t_fail "could not lock the database"
ddi POST gw-1 "/cancelAction/$AID/feedback" "$TOK" "$(feedback canceled success)" -D "$T_ROOT/headers"
kill "$LOCKER" 2>/dev/null || true
wait "$LOCKER" 2>/dev/null || true
expect_code 503 "feedback while the database is locked"
grep -qi '^Retry-After: 10' "$T_ROOT/headers" || t_fail "503 without Retry-After: $(cat "$T_ROOT/headers")"
t_pass "a 503 carries Retry-After"

srv_stop
t_pass "server shut down cleanly"
