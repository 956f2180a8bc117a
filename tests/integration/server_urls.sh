#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server and what it reads from URLs: a name with an escaped NUL ("NAME%00.txt") or
# control byte never names another resource (400), while ordinary escapes still work.
set -euo pipefail
source "$(dirname "$0")/lib/server.sh"

srv_config "[bundles]" "insecure_skip_verify = true"
srv_start
SRV_SIGNED=0 upload_test_bundle app 1
TOK=urls-token-0123456789
mgmt POST /api/v1/targets "{\"controllerId\":\"gw-1\",\"token\":\"$TOK\"}"
expect_code 201 "register"
RID=$("$SERVER_BIN" rollout create --name r --bundle "$BUNDLE_ID" | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null
AID=$(action_of gw-1 "$TOK")
[ -n "$AID" ] || fail "no deployment for gw-1"
ART="/softwaremodules/$BUNDLE_ID/artifacts"

ddi GET gw-1 "$ART/app-1.berth" "$TOK"
expect_code 200 "the artifact by its name"
ddi GET gw-1 "$ART/app%2D1.berth" "$TOK"
expect_code 200 "the artifact by its name with an escaped '-'"
for bad in "app-1.berth%00.txt" "app-1.berth%00" "app-1%0a.berth" "app-1.berth%7f"; do
        ddi GET gw-1 "$ART/$bad" "$TOK"
        expect_code 400 "artifact name $bad"
        echo "$BODY" | jq -e '.errorCode == "request.badUri"' >/dev/null || fail "answer to $bad: $BODY"
done
ddi GET gw-1 "/deploymentBase/$AID?actionHistory=5%00" "$TOK"
expect_code 400 "a query value with an escaped NUL"
pass "an escaped NUL or control byte in a path or query → 400, never another name"

srv_stop
pass "server shut down cleanly"
