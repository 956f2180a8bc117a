#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server: DDI and management authentication — target tokens, gateway token,
# client certificates (optional and required), auto-registration on/off, and isolation:
# a target can never read or act on another target's actions or artifacts, and a wrong
# token looks exactly like an unknown target.
source "$(dirname "$0")/../lib/harness.sh"

srv_pki
srv_client_cert dev-a
srv_client_cert dev-b
GW=gateway-token-0123456789
base_conf=("[ddi]" "gateway_token = $GW" "client_ca = $CA")
srv_config "${base_conf[@]}"
srv_start
srv_upload_bundle app 1
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
[ "$BODY" = "$wrong_body" ] || t_fail "401 bodies differ: '$wrong_body' vs '$BODY'"
ddi GET dev-a "" ""
expect_code 401 "no credentials"
srv_req "$DDI/dev-a" GET "Bearer $ADMIN_TOKEN"
expect_code 401 "admin token on the DDI API"
ddi GET dev-a "" "$TB"
expect_code 401 "dev-b's token for dev-a"
ddi GET dev-a "" "$TA"
expect_code 200 "right token"
t_pass "target tokens"

RID=$("$SERVER_BIN" rollout create --name r --bundle "$BUNDLE_ID" --filter controllerId=dev-a | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null
AID=$(action_of dev-a "$TA")
[ -n "$AID" ] || t_fail "dev-a has no action"
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
echo "$BODY" | jq -e '.status == "scheduled" and (.feedback | length) == 0' >/dev/null || t_fail "dev-a's action was touched: $BODY"
B_URL=${URL/\/dev-a\//\/dev-b\/}
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: TargetToken $TB" "$B_URL")
[ "$code" = 404 ] || t_fail "dev-b downloads an artifact it was never assigned: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: TargetToken $TB" "$URL")
[ "$code" = 401 ] || t_fail "dev-b's token on dev-a's artifact URL: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: TargetToken $TA" "$URL")
[ "$code" = 200 ] || t_fail "dev-a downloads its artifact: $code"
t_pass "isolation between targets"

srv_req "$DDI/dev-a" GET "GatewayToken $GW"
expect_code 200 "gateway token"
srv_req "$DDI/dev-a" GET "GatewayToken wrong-gateway-0123456789"
expect_code 401 "wrong gateway token"
srv_req "$DDI/dev-new" GET "GatewayToken $GW"
expect_code 404 "unknown target with auto-registration off"
srv_req "$DDI/dev-new" GET "TargetToken $TA"
expect_code 401 "unknown target with a token"
t_pass "gateway token, auto-registration off"

srv_req "$DDI/dev-a" GET "" "" --cert "$T_ROOT/pki/dev-a.crt" --key "$T_ROOT/pki/dev-a.key"
expect_code 200 "client certificate naming the target"
srv_req "$DDI/dev-b" GET "" "" --cert "$T_ROOT/pki/dev-a.crt" --key "$T_ROOT/pki/dev-a.key"
expect_code 401 "dev-a's certificate for dev-b"
t_pass "client certificates"

mgmt GET /api/v1/targets
expect_code 200 "mgmt with admin token"
srv_req "$MGMT/api/v1/targets" GET ""
expect_code 401 "mgmt without token"
srv_req "$MGMT/api/v1/targets" GET "Bearer $TA"
expect_code 401 "mgmt with a target token"
head -c 1000000 /dev/urandom > "$T_ROOT/junk.berth"
srv_req "$MGMT/api/v1/bundles" POST "" "" --data-binary @"$T_ROOT/junk.berth" -H 'Content-Type: application/octet-stream'
expect_code 401 "upload without token"
[ -z "$(ls "$SRV_STATE/spool")" ] || t_fail "an unauthenticated upload was spooled"
t_pass "management token"

srv_stop
srv_config "${base_conf[@]}" "auto_register = true"
srv_start
srv_req "$DDI/dev-new" GET "GatewayToken $GW"
expect_code 200 "auto-registration with gateway token"
srv_req "$DDI/dev-c" GET "" "" --cert "$T_ROOT/pki/dev-a.crt" --key "$T_ROOT/pki/dev-a.key"
expect_code 401 "certificate for another name does not register"
mgmt GET /api/v1/targets/dev-new
expect_code 200 "dev-new registered"
mgmt GET /api/v1/targets/dev-c
expect_code 404 "dev-c not registered"
t_pass "auto-registration on"

# A second CA the server does not trust.
mkdir -p "$T_ROOT/evil"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=evil CA" \
        -keyout "$T_ROOT/evil/ca.key" -out "$T_ROOT/evil/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=dev-b" \
        -keyout "$T_ROOT/evil/dev-b.key" -out "$T_ROOT/evil/dev-b.csr" 2>/dev/null
openssl x509 -req -in "$T_ROOT/evil/dev-b.csr" -CA "$T_ROOT/evil/ca.crt" -CAkey "$T_ROOT/evil/ca.key" -CAcreateserial -days 2 \
        -out "$T_ROOT/evil/dev-b.crt" 2>/dev/null

srv_stop
srv_config "${base_conf[@]}" "require_client_cert = true"
srv_start
ddi GET dev-b "" "$TB"
expect_code 401 "token without the required client certificate"
echo "$BODY" | jq -e '.message | test("certificate")' >/dev/null || t_fail "message: $BODY"
ddi GET dev-b "" "$TB" "" --cert "$T_ROOT/evil/dev-b.crt" --key "$T_ROOT/evil/dev-b.key"
expect_code 401 "certificate from an untrusted CA"
ddi GET dev-b "" "$TB" "" --cert "$T_ROOT/pki/dev-b.crt" --key "$T_ROOT/pki/dev-b.key"
expect_code 200 "token with client certificate"
ddi GET dev-b "" "" "" --cert "$T_ROOT/pki/dev-b.crt" --key "$T_ROOT/pki/dev-b.key"
expect_code 200 "certificate alone"
t_pass "client certificate required"

srv_stop
t_pass "server shut down cleanly"
