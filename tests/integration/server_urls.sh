#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server and what it reads from URLs and writes into them: a name with an escaped
# NUL ("NAME%00.txt") or control byte never names another resource (400), while ordinary
# escapes still work; without ddi.public_url the Host header goes into _links only when it
# names this server (its address, localhost on loopback, ddi.allowed_hosts), else 421.
source "$(dirname "$0")/../lib/harness.sh"

srv_config "[bundles]" "insecure_skip_verify = true"
srv_start
srv_upload_bundle app 1 --raw 300000
TOK=urls-token-0123456789
mgmt POST /api/v1/targets "{\"controllerId\":\"gw-1\",\"token\":\"$TOK\"}"
expect_code 201 "register"
RID=$("$SERVER_BIN" rollout create --name r --bundle "$BUNDLE_ID" | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null
AID=$(action_of gw-1 "$TOK")
[ -n "$AID" ] || t_fail "no deployment for gw-1"
ART="/softwaremodules/$BUNDLE_ID/artifacts"

ddi GET gw-1 "$ART/app-1.berth" "$TOK"
expect_code 200 "the artifact by its name"
ddi GET gw-1 "$ART/app%2D1.berth" "$TOK"
expect_code 200 "the artifact by its name with an escaped '-'"
for bad in "app-1.berth%00.txt" "app-1.berth%00" "app-1%0a.berth" "app-1.berth%7f"; do
        ddi GET gw-1 "$ART/$bad" "$TOK"
        expect_code 400 "artifact name $bad"
        echo "$BODY" | jq -e '.errorCode == "request.badUri"' >/dev/null || t_fail "answer to $bad: $BODY"
done
ddi GET gw-1 "/deploymentBase/$AID?actionHistory=5%00" "$TOK"
expect_code 400 "a query value with an escaped NUL"
t_pass "an escaped NUL or control byte in a path or query → 400, never another name"

# link_host [HOST]: polls gw-1 (with that Host header) and prints the scheme and host of
# its deploymentBase link.
link_host() {
        ddi GET gw-1 "" "$TOK" "" ${1:+-H "Host: $1"}
        echo "$BODY" | jq -r '._links.deploymentBase.href // empty' | sed -E 's,^(https?://[^/]*)/.*,\1,'
}
[ "$(link_host)" = "https://127.0.0.1:$DDI_PORT" ] || t_fail "links for the address the client used: $BODY"
[ "$(link_host "localhost:$DDI_PORT")" = "https://localhost:$DDI_PORT" ] || t_fail "links for localhost: $BODY"
for h in evil.example.com "evil.example.com:$DDI_PORT" "127.0.0.2:$DDI_PORT" "a@evil.example.com" "127.0.0.1:x"; do
        link_host "$h" > /dev/null
        expect_code 421 "Host $h"
        echo "$BODY" | jq -e '.errorCode == "request.misdirected" and (.message | test("ddi.public_url"))' >/dev/null ||
                t_fail "answer to Host $h: $BODY"
done
t_pass "without public_url: links for the server's own address and localhost; any other Host → 421"

srv_stop
srv_config "[bundles]" "insecure_skip_verify = true" "[ddi]" "allowed_hosts = rollout.example.com, gw.example.net"
srv_start
[ "$(link_host rollout.example.com:8443)" = "https://rollout.example.com:8443" ] || t_fail "allowed host: $BODY"
[ "$(link_host GW.example.net)" = "https://GW.example.net" ] || t_fail "allowed host without port: $BODY"
link_host evil.example.com > /dev/null
expect_code 421 "a Host outside ddi.allowed_hosts"
t_pass "ddi.allowed_hosts: those names go into links, others → 421"

srv_stop
srv_config "[bundles]" "insecure_skip_verify = true" "[ddi]" "public_url = https://rollout.example.com:9443/"
srv_start
[ "$(link_host evil.example.com)" = "https://rollout.example.com:9443" ] || t_fail "links from public_url: $BODY"
t_pass "with public_url every link is built from it, whatever the Host"

srv_stop
t_pass "server shut down cleanly"
