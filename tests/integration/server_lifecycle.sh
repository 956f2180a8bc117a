#!/usr/bin/env bash
# berth-server: a full DDI deployment lifecycle over HTTPS — register, configData,
# rollout, poll, deploymentBase, artifact download (hash checked), progress feedback,
# success, installedBase, and the stored feedback history.
set -euo pipefail
source "$(dirname "$0")/lib/server.sh"

mapfile -t extra < <(bundle_config_lines)
srv_config "${extra[@]}"
srv_start

upload_test_bundle gw 2
TOK=0123456789abcdef-dev1
mgmt POST /api/v1/targets "{\"controllerId\":\"dev-1\",\"token\":\"$TOK\",\"attributes\":{\"hw\":\"rev2\"}}"
expect_code 201 "register target"

# First poll: nothing to do, but the server asks for configData.
ddi GET dev-1 "" "$TOK"
expect_code 200 "base poll"
[ "$(echo "$BODY" | jq -r .config.polling.sleep)" = 00:00:30 ] || fail "polling sleep: $BODY"
echo "$BODY" | jq -e '._links.configData.href | endswith("/dev-1/configData")' >/dev/null || fail "configData link: $BODY"
echo "$BODY" | jq -e '._links.deploymentBase == null' >/dev/null || fail "unexpected deployment: $BODY"
ddi PUT dev-1 /configData "$TOK" '{"mode":"merge","data":{"site":"plant-a","serial":"42"}}'
expect_code 200 "configData"
ddi GET dev-1 "" "$TOK"
echo "$BODY" | jq -e '._links.configData == null' >/dev/null || fail "configData still requested: $BODY"
pass "poll and configData"

"$SERVER_BIN" rollout create --name r1 --bundle "$BUNDLE_ID" --filter site=plant-* --type soft > "$T/r.json"
RID=$(jq -r .id "$T/r.json")
[ "$(jq -r .totals.targets "$T/r.json")" = 1 ] || fail "filter did not select dev-1: $(cat "$T/r.json")"
"$SERVER_BIN" rollout start "$RID" >/dev/null

AID=$(action_of dev-1 "$TOK")
[ -n "$AID" ] || fail "no deploymentBase after start: $BODY"
ddi GET dev-1 "/deploymentBase/$AID" "$TOK"
expect_code 200 "deploymentBase"
echo "$BODY" | jq -e --arg id "$AID" '.id == $id and .deployment.download == "attempt" and .deployment.update == "attempt"' \
        >/dev/null || fail "deployment types: $BODY"
ART=$(echo "$BODY" | jq -c '.deployment.chunks[0].artifacts[0]')
SHA=$(sha256sum "$BUNDLE_FILE" | cut -d' ' -f1)
SHA1=$(sha1sum "$BUNDLE_FILE" | cut -d' ' -f1)
MD5=$(md5sum "$BUNDLE_FILE" | cut -d' ' -f1)
echo "$ART" | jq -e --arg s "$SHA" --arg s1 "$SHA1" --arg m "$MD5" --argjson n "$(stat -c %s "$BUNDLE_FILE")" \
        '.hashes.sha256 == $s and .hashes.sha1 == $s1 and .hashes.md5 == $m and .size == $n and .filename == "gw-2.berth"' \
        >/dev/null || fail "artifact metadata: $ART"
URL=$(echo "$ART" | jq -r ._links.download.href)
curl -sSf --cacert "$CA" -H "Authorization: TargetToken $TOK" -o "$T/dl.berth" "$URL" || fail "download $URL"
cmp -s "$T/dl.berth" "$BUNDLE_FILE" || fail "downloaded artifact differs"
pass "deploymentBase and artifact download"

ddi POST dev-1 "/deploymentBase/$AID/feedback" "$TOK" \
        '{"status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":1,"of":3}},"details":["fetching"]}}'
expect_code 200 "progress feedback"
mgmt GET /api/v1/targets/dev-1
[ "$(echo "$BODY" | jq -r .currentAction.status)" = running ] || fail "action not running: $BODY"
ddi POST dev-1 "/deploymentBase/$AID/feedback" "$TOK" "$(feedback closed success 'switched to gw 2')"
expect_code 200 "final feedback"
ddi POST dev-1 "/deploymentBase/$AID/feedback" "$TOK" "$(feedback closed success again)"
expect_code 410 "feedback on a closed action"
pass "feedback"

ddi GET dev-1 "" "$TOK"
echo "$BODY" | jq -e '._links.deploymentBase == null' >/dev/null || fail "deployment still offered: $BODY"
echo "$BODY" | jq -e --arg id "$AID" '._links.installedBase.href | endswith("/installedBase/" + $id)' >/dev/null ||
        fail "installedBase link: $BODY"
ddi GET dev-1 "/installedBase/$AID" "$TOK"
expect_code 200 "installedBase/{id}"
echo "$BODY" | jq -e '.deployment.chunks[0].name == "gw" and .deployment.chunks[0].version == "2"' >/dev/null ||
        fail "installedBase body: $BODY"
ddi GET dev-1 /installedBase "$TOK"
expect_code 200 "installedBase"
echo "$BODY" | jq -e '.name == "gw" and .version == 2' >/dev/null || fail "installedBase: $BODY"
ddi PUT dev-1 /installedBase "$TOK" '{"name":"gw","version":"3"}'
expect_code 200 "installedBase PUT"
pass "installedBase"

mgmt GET "/api/v1/actions/$AID"
echo "$BODY" | jq -e '.status == "success" and (.feedback | length) == 2 and .feedback[0].progress.cnt == 1
        and .feedback[0].details[0] == "fetching" and .feedback[1].execution == "closed"' >/dev/null ||
        fail "action history: $BODY"
mgmt GET /api/v1/targets/dev-1
echo "$BODY" | jq -e '.installed.name == "gw" and .installed.version == 2 and .reported.version == "3"
        and .attributes.site == "plant-a" and .lastPoll > 0' >/dev/null || fail "target view: $BODY"
wait_until 10 bash -c '"$0" rollout status "$1" | jq -e ".state == \"finished\"" >/dev/null' "$SERVER_BIN" "$RID" ||
        fail "rollout did not finish"
pass "history, target view, rollout finished"
