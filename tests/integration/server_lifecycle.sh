#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server: a full DDI deployment lifecycle over HTTPS — register, configData,
# rollout, poll, deploymentBase, artifact download (hash checked), progress feedback,
# success, installedBase, and the stored feedback history.
source "$(dirname "$0")/../lib/harness.sh"

srv_config
srv_start

srv_upload_bundle gw 2
TOK=0123456789abcdef-dev1
mgmt POST /api/v1/targets "{\"controllerId\":\"dev-1\",\"token\":\"$TOK\",\"attributes\":{\"hw\":\"rev2\"}}"
expect_code 201 "register target"

# First poll: nothing to do, but the server asks for configData.
ddi GET dev-1 "" "$TOK"
expect_code 200 "base poll"
[ "$(echo "$BODY" | jq -r .config.polling.sleep)" = 00:00:30 ] || t_fail "polling sleep: $BODY"
echo "$BODY" | jq -e '._links.configData.href | endswith("/dev-1/configData")' >/dev/null || t_fail "configData link: $BODY"
echo "$BODY" | jq -e '._links.deploymentBase == null' >/dev/null || t_fail "unexpected deployment: $BODY"
ddi PUT dev-1 /configData "$TOK" '{"mode":"merge","data":{"site":"plant-a","serial":"42"}}'
expect_code 200 "configData"
ddi GET dev-1 "" "$TOK"
echo "$BODY" | jq -e '._links.configData == null' >/dev/null || t_fail "configData still requested: $BODY"
t_pass "poll and configData"

"$SERVER_BIN" rollout create --name r1 --bundle "$BUNDLE_ID" --filter site=plant-* --type soft > "$T_ROOT/r.json"
RID=$(jq -r .id "$T_ROOT/r.json")
[ "$(jq -r .totals.targets "$T_ROOT/r.json")" = 1 ] || t_fail "filter did not select dev-1: $(cat "$T_ROOT/r.json")"
"$SERVER_BIN" rollout start "$RID" >/dev/null

AID=$(action_of dev-1 "$TOK")
[ -n "$AID" ] || t_fail "no deploymentBase after start: $BODY"
ddi GET dev-1 "/deploymentBase/$AID" "$TOK"
expect_code 200 "deploymentBase"
echo "$BODY" | jq -e --arg id "$AID" '.id == $id and .deployment.download == "attempt" and .deployment.update == "attempt"' \
        >/dev/null || t_fail "deployment types: $BODY"
ART=$(echo "$BODY" | jq -c '.deployment.chunks[0].artifacts[0]')
SHA=$(sha256sum "$BUNDLE_FILE" | cut -d' ' -f1)
SHA1=$(sha1sum "$BUNDLE_FILE" | cut -d' ' -f1)
MD5=$(md5sum "$BUNDLE_FILE" | cut -d' ' -f1)
echo "$ART" | jq -e --arg s "$SHA" --arg s1 "$SHA1" --arg m "$MD5" --argjson n "$(stat -c %s "$BUNDLE_FILE")" \
        '.hashes.sha256 == $s and .hashes.sha1 == $s1 and .hashes.md5 == $m and .size == $n and .filename == "gw-2.berth"' \
        >/dev/null || t_fail "artifact metadata: $ART"
URL=$(echo "$ART" | jq -r ._links.download.href)
curl -sSf --cacert "$CA" -H "Authorization: TargetToken $TOK" -o "$T_ROOT/dl.berth" "$URL" || t_fail "download $URL"
cmp -s "$T_ROOT/dl.berth" "$BUNDLE_FILE" || t_fail "downloaded artifact differs"
t_pass "deploymentBase and artifact download"

ddi POST dev-1 "/deploymentBase/$AID/feedback" "$TOK" \
        '{"status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":1,"of":3}},"details":["fetching"]}}'
expect_code 200 "progress feedback"
mgmt GET /api/v1/targets/dev-1
[ "$(echo "$BODY" | jq -r .currentAction.status)" = running ] || t_fail "action not running: $BODY"
ddi POST dev-1 "/deploymentBase/$AID/feedback" "$TOK" "$(feedback closed success 'switched to gw 2')"
expect_code 200 "final feedback"
ddi POST dev-1 "/deploymentBase/$AID/feedback" "$TOK" "$(feedback closed success again)"
expect_code 410 "feedback on a closed action"
ddi GET dev-1 "/deploymentBase/$AID?actionHistory=5" "$TOK"
echo "$BODY" | jq -e '.actionHistory.status == "success" and (.actionHistory.messages | length) == 2
        and (.actionHistory.messages[0] | test("closed/success switched to gw 2$"))
        and (.actionHistory.messages[1] | test("proceeding/none fetching$"))' >/dev/null || t_fail "actionHistory: $BODY"
t_pass "feedback"

ddi GET dev-1 "" "$TOK"
echo "$BODY" | jq -e '._links.deploymentBase == null' >/dev/null || t_fail "deployment still offered: $BODY"
echo "$BODY" | jq -e --arg id "$AID" '._links.installedBase.href | endswith("/installedBase/" + $id)' >/dev/null ||
        t_fail "installedBase link: $BODY"
ddi GET dev-1 "/installedBase/$AID" "$TOK"
expect_code 200 "installedBase/{id}"
echo "$BODY" | jq -e '.deployment.chunks[0].name == "gw" and .deployment.chunks[0].version == "2"' >/dev/null ||
        t_fail "installedBase body: $BODY"
ddi GET dev-1 /installedBase "$TOK"
expect_code 200 "installedBase"
echo "$BODY" | jq -e '.name == "gw" and .version == 2' >/dev/null || t_fail "installedBase: $BODY"
ddi PUT dev-1 /installedBase "$TOK" '{"name":"gw","version":"3"}'
expect_code 200 "installedBase PUT"
t_pass "installedBase"

mgmt GET "/api/v1/actions/$AID"
echo "$BODY" | jq -e '.status == "success" and (.feedback | length) == 2 and .feedback[0].progress.cnt == 1
        and .feedback[0].details[0] == "fetching" and .feedback[1].execution == "closed"' >/dev/null ||
        t_fail "action history: $BODY"
mgmt GET /api/v1/targets/dev-1
echo "$BODY" | jq -e '.installed.name == "gw" and .installed.version == 2 and .reported.version == "3"
        and .attributes.site == "plant-a" and .lastPoll > 0' >/dev/null || t_fail "target view: $BODY"
t_wait_for '"$SERVER_BIN" rollout status "$RID" | jq -e ".state == \"finished\""' 10 ||
        t_fail "rollout did not finish"
t_pass "history, target view, rollout finished"

# Uploading the same name+version twice is refused; a tampered bundle never becomes deployable.
mgmt POST "/api/v1/bundles?name=gw&version=2" "" --data-binary @"$BUNDLE_FILE" -H 'Content-Type: application/octet-stream'
expect_code 409 "duplicate upload"
t_tamper "$BUNDLE_FILE" "$T_ROOT/bad.berth"
mgmt POST /api/v1/bundles "" --data-binary @"$T_ROOT/bad.berth" -H 'Content-Type: application/octet-stream'
expect_code 422 "tampered bundle"
echo "$BODY" | jq -e '.message | test("rejected")' >/dev/null || t_fail "rejection message: $BODY"
mgmt GET /api/v1/bundles
[ "$(echo "$BODY" | jq length)" = 1 ] || t_fail "tampered bundle was recorded: $BODY"
[ "$(ls "$SRV_STATE/artifacts" | wc -l)" = 1 ] || t_fail "tampered bundle left in artifacts"
[ -z "$(ls "$SRV_STATE/spool")" ] || t_fail "spool not cleaned"
t_pass "tampered bundle rejected"

# Cancelling a rollout sends targets that already switched back to their previous bundle.
PREV_ID=$BUNDLE_ID
srv_upload_bundle gw 3
# dev-2 never reports, so r2 stays running after dev-1 switched.
mgmt POST /api/v1/targets '{"controllerId":"dev-2","token":"0123456789abcdef-dev2"}'
expect_code 201 "register dev-2"
RID2=$("$SERVER_BIN" rollout create --name r2 --bundle "$BUNDLE_ID" --filter 'controllerId=dev-[12]' | jq -r .id)
"$SERVER_BIN" rollout start "$RID2" >/dev/null
AID=$(action_of dev-1 "$TOK")
[ -n "$AID" ] || t_fail "no deployment for r2"
ddi POST dev-1 "/deploymentBase/$AID/feedback" "$TOK" "$(feedback closed success 'gw 3')"
expect_code 200 "r2 feedback"
"$SERVER_BIN" rollout cancel "$RID2" >/dev/null
mgmt GET /api/v1/targets/dev-1
if [ "$(echo "$BODY" | jq -r .installed.version)" = 3 ] && "$SERVER_BIN" rollout status "$RID2" | jq -e '.state == "canceled"' >/dev/null; then
        RB=$(action_of dev-1 "$TOK")
        [ -n "$RB" ] || t_fail "no rollback deployment after cancel: $BODY"
        ddi GET dev-1 "/deploymentBase/$RB" "$TOK"
        echo "$BODY" | jq -e '.deployment.chunks[0].version == "2" and .deployment.download == "forced"' >/dev/null ||
                t_fail "rollback deploys the wrong bundle: $BODY"
        t_pass "cancel rolls back targets that switched"
else
        t_fail "r2 not canceled or dev-1 not on gw 3: $BODY"
fi

# TLS session resumption: a reconnecting client resumes with the ticket it was given.
req=$'GET /default/controller/v1/dev-1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: TargetToken '"$TOK"$'\r\nConnection: close\r\n\r\n'
printf '%s' "$req" | openssl s_client -connect "127.0.0.1:$DDI_PORT" -CAfile "$CA" -ign_eof -sess_out "$T_ROOT/tls.sess" \
        > "$T_ROOT/s1.out" 2>&1 || t_fail "openssl s_client"
grep -q '^New, TLS' "$T_ROOT/s1.out" && grep -q 'HTTP/1.1 200' "$T_ROOT/s1.out" || t_fail "first TLS connection: $(head -c 400 "$T_ROOT/s1.out")"
printf '%s' "$req" | openssl s_client -connect "127.0.0.1:$DDI_PORT" -CAfile "$CA" -ign_eof -sess_in "$T_ROOT/tls.sess" \
        > "$T_ROOT/s2.out" 2>&1 || t_fail "openssl s_client (resume)"
grep -q '^Reused, TLS' "$T_ROOT/s2.out" && grep -q 'HTTP/1.1 200' "$T_ROOT/s2.out" || t_fail "TLS session not resumed"
t_pass "TLS session resumption"


# Maintenance windows (daily, UTC): outside the window the update part is "skip".
hhmm() { date -u -d "@$(( $(date +%s) + $1 ))" +%H:%M; }
mgmt POST /api/v1/targets '[{"controllerId":"mw-open","token":"0123456789abcdef-mwo","attributes":{"mw":"open"}},
        {"controllerId":"mw-closed","token":"0123456789abcdef-mwc","attributes":{"mw":"closed"}}]'
expect_code 201 "register mw targets"
# open: everything but [now+1h, now+2h); closed: only [now+1h, now+2h)
R_OPEN=$("$SERVER_BIN" rollout create --name mwo --bundle "$BUNDLE_ID" --filter mw=open \
        --window "$(hhmm 7200)-$(hhmm 3600)" | jq -r .id)
R_CLOSED=$("$SERVER_BIN" rollout create --name mwc --bundle "$BUNDLE_ID" --filter mw=closed \
        --window "$(hhmm 3600)-$(hhmm 7200)" | jq -r .id)
"$SERVER_BIN" rollout start "$R_OPEN" >/dev/null
"$SERVER_BIN" rollout start "$R_CLOSED" >/dev/null
A=$(action_of mw-open 0123456789abcdef-mwo)
ddi GET mw-open "/deploymentBase/$A" 0123456789abcdef-mwo
echo "$BODY" | jq -e '.deployment.maintenanceWindow == "available" and .deployment.update == "forced"' >/dev/null ||
        t_fail "open window: $BODY"
A=$(action_of mw-closed 0123456789abcdef-mwc)
ddi GET mw-closed "/deploymentBase/$A" 0123456789abcdef-mwc
echo "$BODY" | jq -e '.deployment.maintenanceWindow == "unavailable" and .deployment.update == "skip"
        and .deployment.download == "forced"' >/dev/null || t_fail "closed window: $BODY"
"$SERVER_BIN" rollout create --name bad --bundle "$BUNDLE_ID" --window 25:00-01:00 >/dev/null 2>&1 &&
        t_fail "invalid maintenance window accepted"
t_pass "maintenance window"

# Cancelling one action from the management API.
"$SERVER_BIN" action cancel "$A" > "$T_ROOT/a.json"
jq -e '.status == "canceling"' "$T_ROOT/a.json" >/dev/null || t_fail "action cancel: $(cat "$T_ROOT/a.json")"
ddi GET mw-closed "" 0123456789abcdef-mwc
echo "$BODY" | jq -e --arg a "$A" '._links.cancelAction.href | endswith("/cancelAction/" + $a)' >/dev/null ||
        t_fail "no cancelAction after action cancel: $BODY"
"$SERVER_BIN" action cancel "$A" >/dev/null 2>&1 && t_fail "cancelling a canceling action must fail"
t_pass "single action cancel"

srv_stop
t_pass "server shut down cleanly"
