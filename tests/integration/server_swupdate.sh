#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server driven by a real third-party DDI client: SWUpdate's suricatta (hawkBit
# mode) polls over HTTPS with a target token, reads the deploymentBase, reports
# progress, refuses the artifact (a .berth is not a .swu image) and reports the failure
# with its details, which berth-server stores and which pauses the rollout.
source "$(dirname "$0")/../lib/harness.sh"
command -v swupdate >/dev/null || { echo "swupdate not installed (scripts/deps.sh)" >&2; exit 77; }

srv_config "[ddi]" "polling_sleep = 00:00:01"
srv_start
srv_upload_bundle gw 5
TOK=swupdate-token-0123456789
mgmt POST /api/v1/targets "{\"controllerId\":\"swu-1\",\"token\":\"$TOK\"}"
expect_code 201 "register"
RID=$("$SERVER_BIN" rollout create --name r --bundle "$BUNDLE_ID" | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null

# This Debian build of SWUpdate insists on a CMS verification certificate; any will do
# since the image is refused before it is verified.
swu_start "$T_ROOT/swupdate.log" -v -k "$CA" -u "-t default -u https://127.0.0.1:$DDI_PORT -i swu-1 -k $TOK -x -p 1"

finished() {
        mgmt GET /api/v1/actions/1
        echo "$BODY" | jq -e '.status == "failure"' >/dev/null
}
t_wait_for finished 60 || { tail -20 "$T_ROOT/swupdate.log" >&2; t_fail "swupdate did not report a result: $BODY"; }
echo "$BODY" | jq -e '.lastExecution == "closed" and (.feedback | length) >= 2
        and .feedback[0].execution == "proceeding"
        and .feedback[-1].finished == "failure" and (.feedback[-1].details | length) >= 1' >/dev/null ||
        t_fail "feedback from swupdate: $BODY"
grep -q "deploymentBase/1" "$T_ROOT/swupdate.log" || t_fail "swupdate never read the deploymentBase"
t_pass "SWUpdate suricatta: poll, deploymentBase, progress and failure feedback"

paused() { "$SERVER_BIN" rollout status "$RID" | jq -e '.state == "paused"' >/dev/null; }
t_wait_for paused 10 || t_fail "the failure did not pause the rollout (errorThreshold 0)"
t_pass "the reported failure paused the rollout"

swu_stop
srv_stop
t_pass "server shut down cleanly"
