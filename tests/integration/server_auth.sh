#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server: DDI and management authentication — target tokens, gateway token,
# client certificates (optional and required), auto-registration on/off, and isolation:
# a target can never read or act on another target's actions or artifacts, and a wrong
# token looks exactly like an unknown target.
set -euo pipefail
source "$(dirname "$0")/lib/server.sh"

bundle_setup
srv_make_pki
srv_client_cert dev-a
srv_client_cert dev-b
GW=gateway-token-0123456789
base_conf=("${BUNDLE_CONF[@]}" "[ddi]" "gateway_token = $GW" "client_ca = $CA")
srv_config "${base_conf[@]}"
srv_start
upload_test_bundle app 1
TA=token-of-dev-a-0123456789
TB=token-of-dev-b-0123456789
mgmt POST /api/v1/targets "[{\"controllerId\":\"dev-a\",\"token\":\"$TA\"},{\"controllerId\":\"dev-b\",\"token\":\"$TB\"}]"
expect_code 201 "register"

# Wrong token and unknown target: same status, same body.
ddi GET dev-a "" wrong-token-0123456789
expect_code 401 "wrong token"
wrong_body=$BODY
ddi GET no-such-target "" "$TA"
expect_code 401 "unknown target"
[ "$BODY" = "$wrong_body" ] || fail "401 bodies differ: '$wrong_body' vs '$BODY'"
ddi GET dev-a "" ""
expect_code 401 "no credentials"
_req "$DDI/dev-a" GET "Bearer $ADMIN_TOKEN"
expect_code 401 "admin token on the DDI API"
ddi GET dev-a "" "$TB"
expect_code 401 "dev-b's token for dev-a"
ddi GET dev-a "" "$TA"
expect_code 200 "right token"
pass "target tokens"

RID=$("$SERVER_BIN" rollout create --name r --bundle "$BUNDLE_ID" --filter controllerId=dev-a | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null
AID=$(action_of dev-a "$TA")
[ -n "$AID" ] || fail "dev-a has no action"
ddi GET dev-a "/deploymentBase/$AID" "$TA"
expect_code 200 "own action"
URL=$(echo "$BODY" | jq -r '.deployment.chunks[0].artifacts[0]._links.download.href')
ddi GET dev-b "/deploymentBase/$AID" "$TB"
expect_code 404 "dev-b reads dev-a's action"
ddi POST dev-b "/deploymentBase/$AID/feedback" "$TB" "$(feedback closed failure hijack)"
expect_code 404 "dev-b reports on dev-a's action"
ddi GET dev-b "/cancelAction/$AID" "$TB"
expect_code 404 "dev-b reads dev-a's action as cancelAction"
ddi GET dev-b "/installedBase/$AID" "$TB"
expect_code 404 "dev-b reads dev-a's action as installedBase"
mgmt GET "/api/v1/actions/$AID"
echo "$BODY" | jq -e '.status == "scheduled" and (.feedback | length) == 0' >/dev/null || fail "dev-a's action was touched: $BODY"
B_URL=${URL/\/dev-a\//\/dev-b\/}
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: TargetToken $TB" "$B_URL")
[ "$code" = 404 ] || fail "dev-b downloads an artifact it was never assigned: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: TargetToken $TB" "$URL")
[ "$code" = 401 ] || fail "dev-b's token on dev-a's artifact URL: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: TargetToken $TA" "$URL")
[ "$code" = 200 ] || fail "dev-a downloads its artifact: $code"
pass "isolation between targets"

_req "$DDI/dev-a" GET "GatewayToken $GW"
expect_code 200 "gateway token"
_req "$DDI/dev-a" GET "GatewayToken wrong-gateway-0123456789"
expect_code 401 "wrong gateway token"
_req "$DDI/dev-new" GET "GatewayToken $GW"
expect_code 404 "unknown target with auto-registration off"
_req "$DDI/dev-new" GET "TargetToken $TA"
expect_code 401 "unknown target with a token"
pass "gateway token, auto-registration off"

_req "$DDI/dev-a" GET "" "" --cert "$T/pki/dev-a.crt" --key "$T/pki/dev-a.key"
expect_code 200 "client certificate naming the target"
_req "$DDI/dev-b" GET "" "" --cert "$T/pki/dev-a.crt" --key "$T/pki/dev-a.key"
expect_code 401 "dev-a's certificate for dev-b"
pass "client certificates"

mgmt GET /api/v1/targets
expect_code 200 "mgmt with admin token"
_req "$MGMT/api/v1/targets" GET ""
expect_code 401 "mgmt without token"
_req "$MGMT/api/v1/targets" GET "Bearer $TA"
expect_code 401 "mgmt with a target token"
head -c 1000000 /dev/urandom > "$T/junk.berth"
_req "$MGMT/api/v1/bundles" POST "" "" --data-binary @"$T/junk.berth" -H 'Content-Type: application/octet-stream'
expect_code 401 "upload without token"
[ -z "$(ls "$SRV_STATE/spool")" ] || fail "an unauthenticated upload was spooled"
pass "management token"

srv_stop
srv_config "${base_conf[@]}" "auto_register = true"
srv_start
_req "$DDI/dev-new" GET "GatewayToken $GW"
expect_code 200 "auto-registration with gateway token"
_req "$DDI/dev-c" GET "" "" --cert "$T/pki/dev-a.crt" --key "$T/pki/dev-a.key"
expect_code 401 "certificate for another name does not register"
mgmt GET /api/v1/targets/dev-new
expect_code 200 "dev-new registered"
mgmt GET /api/v1/targets/dev-c
expect_code 404 "dev-c not registered"
pass "auto-registration on"

# A second CA the server does not trust.
mkdir -p "$T/evil"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=evil CA" \
        -keyout "$T/evil/ca.key" -out "$T/evil/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=dev-b" \
        -keyout "$T/evil/dev-b.key" -out "$T/evil/dev-b.csr" 2>/dev/null
openssl x509 -req -in "$T/evil/dev-b.csr" -CA "$T/evil/ca.crt" -CAkey "$T/evil/ca.key" -CAcreateserial -days 2 \
        -out "$T/evil/dev-b.crt" 2>/dev/null

srv_stop
srv_config "${base_conf[@]}" "require_client_cert = true"
srv_start
ddi GET dev-b "" "$TB"
expect_code 401 "token without the required client certificate"
echo "$BODY" | jq -e '.message | test("certificate")' >/dev/null || fail "message: $BODY"
ddi GET dev-b "" "$TB" "" --cert "$T/evil/dev-b.crt" --key "$T/evil/dev-b.key"
expect_code 401 "certificate from an untrusted CA"
ddi GET dev-b "" "$TB" "" --cert "$T/pki/dev-b.crt" --key "$T/pki/dev-b.key"
expect_code 200 "token with client certificate"
ddi GET dev-b "" "" "" --cert "$T/pki/dev-b.crt" --key "$T/pki/dev-b.key"
expect_code 200 "certificate alone"
pass "client certificate required"

srv_stop
pass "server shut down cleanly"
