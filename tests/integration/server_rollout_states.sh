#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server: what the management API says about an action agrees with itself (`action
# show` and `target show` give the same group, numbered from 1).
set -euo pipefail
source "$(dirname "$0")/lib/server.sh"

srv_config "[bundles]" "insecure_skip_verify = true"
srv_start
SRV_SIGNED=0 upload_test_bundle app 1
tok() { echo "tok-$1-0123456789"; }
mgmt POST /api/v1/targets "$(jq -cn '[("solo", "pair-a", "pair-b") | {controllerId: ., token: ("tok-" + . + "-0123456789")}]')"
expect_code 201 "register"

R1=$("$SERVER_BIN" rollout create --name solo --bundle "$BUNDLE_ID" --filter controllerId=solo | jq -r .id)
"$SERVER_BIN" rollout start "$R1" >/dev/null
AID=$(action_of solo "$(tok solo)")
mgmt GET "/api/v1/actions/$AID"
[ "$(echo "$BODY" | jq .group)" = 1 ] || fail "action show: group $(echo "$BODY" | jq .group), expected 1: $BODY"
mgmt GET /api/v1/targets/solo
[ "$(echo "$BODY" | jq .currentAction.group)" = 1 ] || fail "target show: $BODY"
pass "action show and target show both say group 1"

srv_stop
pass "server shut down cleanly"
