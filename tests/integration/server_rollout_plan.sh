#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# server_rollout_plan.sh — `berth-server rollout plan ID`: what a created rollout will
# download, checked against what the agents then really download.
#   * gw-a runs app 1 (3 random layers and a files layer); app 2 changes only the files
#     layer (config and image manifest change too): the plan of a rollout of
#     app 2 to gw-a and gw-b gives gw-a fewer bytes (only what it lacks) and gw-b about
#     every blob of the bundle;
#   * started, each agent's success feedback ("N bytes downloaded") is within 2 % + 8 KiB
#     (the head) of its planned bytes, and the artifact bytes the counting proxy forwarded
#     are within 2 % + 16 KiB (two heads) of the planned total;
#   * a third rollout of app 2 to gw-a is planned as refused: "not newer";
#   * agentless targets: blobs of the bundles in the "bundles" attribute count as held,
#     and a "budget_left_mib" smaller than the bytes needed is a refusal;
#   * a two-platform bundle: gw-a (reports "platform" linux/amd64) is planned its own
#     share plus the image documents, less what it holds, and then downloads that; an
#     agentless amd64 target the whole amd64 share; an arm64 target the arm64
#     share, a riscv64 one refuses naming its platform, one that mirrors every platform
#     ("mirror_platforms": "all") the whole bundle.
source "$(dirname "$0")/../lib/harness.sh"

AGENT_PROXY=1 agent_env_setup
echo one >"$T_ROOT/data-v1"
echo two >"$T_ROOT/data-v2"
t_make_image -o "$T_ROOT/img1.tar" --random-layers 3 --random-size 1M --seed plan --file "$T_ROOT/data-v1:/data/v"
t_make_image -o "$T_ROOT/img2.tar" --random-layers 3 --random-size 1M --seed plan --file "$T_ROOT/data-v2:/data/v"
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img1.tar"
t_bundle "$T_ROOT/app-2.berth" --name app --version 2 --image "$T_ROOT/img2.tar"
blobs() { tar -xOf "$1" manifest.json | jq -r '.blobs[] | "\(.digest) \(.size)"' | sort; }
v2_blobs=$(blobs "$T_ROOT/app-2.berth" | awk '{s += $2} END {print s}')
v2_new=$(comm -13 <(blobs "$T_ROOT/app-1.berth") <(blobs "$T_ROOT/app-2.berth") | awk '{s += $2} END {print s + 0}')
echo "app 2: $v2_blobs bytes of blobs, $v2_new of them not in app 1"

agent_add gw-a
agent_add gw-b
agent_start gw-a
agent_start gw-b

srv_upload "$T_ROOT/app-1.berth"
rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" '{name: "v1-a", bundleId: $b, filter: {controllerId: "gw-a"}}')"
t_wait_for 'agent_has gw-a app 1' 60 || t_fail "app 1 not installed on gw-a"
t_wait_for 'rollout_is "$ROLLOUT_ID" finished' 30 || t_fail "rollout of app 1 did not finish"

# The plan: the CLI prints what GET /api/v1/rollouts/{id}/plan answers.
plan() {
        "$SERVER_BIN" rollout plan "$@" ||
                t_fail "rollout plan $*: exit $?"
}
entry() { echo "$1" | jq -r --arg c "$2" '.groups[].entries[] | select(.controllerId == $c) | '"$3"; }

srv_upload "$T_ROOT/app-2.berth"
V2=$BUNDLE_ID
mgmt POST /api/v1/rollouts "$(jq -cn --argjson b "$V2" '{name: "v2-all", bundleId: $b, filter: {controllerId: "gw-?"}}')"
expect_code 201 "create the rollout of app 2"
RID=$(echo "$BODY" | jq -r .id)
P=$(plan "$RID" --rate 8000000)
echo "$P" | jq -c .
pa=$(entry "$P" gw-a .bytes)
pb=$(entry "$P" gw-b .bytes)
t_assert_eq "$(echo "$P" | jq -c '[.rollout, .bundle.name, .bundle.version, .rateBitsPerSecond, (.groups | length), .groups[0].targets, .groups[0].refusing]')" \
        "[$RID,\"app\",2,8000000,1,2,0]" "the plan's rollout, bundle, rate and group"
t_assert_eq "$(echo "$P" | jq -r '.bundle.bytes')" "$v2_blobs" "the bundle's blob bytes"
t_assert_eq "$(echo "$P" | jq -r '.totalBytes')" "$((pa + pb))" "the total"
[ "$pa" -lt "$pb" ] || t_fail "gw-a (holds app 1) should need fewer bytes than gw-b: $pa vs $pb"
# gw-a lacks only what app 1 does not have; ignoring its blobs would give it gw-b's bytes.
[ "$pa" -le $((v2_new + 8192)) ] || t_fail "gw-a is planned $pa bytes; only $v2_new bytes are new in app 2"
if [ "$pb" -lt "$v2_blobs" ] || [ "$pb" -gt $((v2_blobs + 8192)) ]; then
        t_fail "gw-b is planned $pb bytes; app 2 has $v2_blobs bytes of blobs"
fi
secs=$(echo "$P" | jq -r .seconds)
want=$(awk -v b="$((pa + pb))" 'BEGIN {printf "%.3f", b * 8 / 8000000}')
[ "$(awk -v a="$secs" -v w="$want" 'BEGIN {print (a - w < 0.002 && w - a < 0.002)}')" = 1 ] ||
        t_fail "seconds $secs, expected $want"
t_pass "plan before start: gw-a $pa bytes (holds app 1), gw-b $pb bytes of $v2_blobs; $secs s at 8 Mbit/s"

mgmt GET /api/v1/rollouts/9999/plan
expect_code 404 "the plan of a rollout that does not exist"
mgmt GET "/api/v1/rollouts/$RID/plan?rate=fast"
expect_code 400 "a plan with a rate that is not a number"
mgmt GET "/api/v1/rollouts/$RID/plan"
t_assert_eq "$(echo "$BODY" | jq -r .rateBitsPerSecond)" 20000000 "the default rate"
t_pass "404 for an unknown rollout, 400 for a bad rate, 20 Mbit/s by default"

wan0=$(proxy_bytes)
mgmt POST "/api/v1/rollouts/$RID/start"
expect_code 200 "start the rollout of app 2"
t_wait_for 'agent_has gw-a app 2 && agent_has gw-b app 2' 90 || t_fail "app 2 not installed on both"
t_wait_for 'rollout_is "$RID" finished' 30 || t_fail "rollout of app 2 did not finish"
declare -A REAL
for c in gw-a gw-b; do
        said=$(action_json "$c" | jq -r '[.. | .details? // empty] | flatten | map(select(test("^installed app 2"))) | .[0] // ""')
        real=$(echo "$said" | grep -o '[0-9]* bytes downloaded' | grep -o '^[0-9]*')
        [ -n "$real" ] || t_fail "$c: no download figure in its feedback: $said"
        planned=$(entry "$P" "$c" .bytes)
        diff=$((planned > real ? planned - real : real - planned))
        echo "$c: planned $planned, real $real"
        [ "$diff" -le $((real / 50 + 8192)) ] || t_fail "$c: planned $planned bytes, really downloaded $real"
        REAL[$c]=$real
done
t_pass "plan vs feedback (blob bytes): gw-a planned $pa, downloaded ${REAL[gw-a]}; gw-b planned $pb, downloaded ${REAL[gw-b]}"
# The feedback counts blob bytes; the proxy sees every artifact byte (heads included).
wan=$(( $(proxy_bytes) - wan0 ))
total=$((pa + pb))
diff=$((total > wan ? total - wan : wan - total))
echo "WAN: planned $total, the proxy forwarded $wan"
[ "$diff" -le $((wan / 50 + 16384)) ] || t_fail "planned $total WAN bytes, the proxy forwarded $wan"
t_pass "plan vs WAN: $total bytes planned, $wan artifact bytes through the proxy"

mgmt POST /api/v1/rollouts "$(jq -cn --argjson b "$V2" '{name: "v2-again", bundleId: $b, filter: {controllerId: "gw-a"}}')"
expect_code 201 "create a second rollout of app 2 to gw-a"
P=$(plan "$(echo "$BODY" | jq -r .id)")
t_assert_eq "$(entry "$P" gw-a .refuses)" "not newer: runs app 2" "gw-a's refusal"
t_assert_eq "$(echo "$P" | jq -c '[.groups[0].refusing, .groups[0].bytes, .totalBytes]')" "[1,0,0]" \
        "a refusing target counts no bytes"
t_pass "a target that already runs app 2 is planned as refusing: $(entry "$P" gw-a .refuses)"

# Targets the server knows only by their attributes (no agent): the blobs of the bundles
# an agent reports ("bundles": "app=1") count as held, and a data budget that is too
# small is a refusal.
mgmt POST /api/v1/targets "$(jq -cn '[
        {controllerId: "gw-c", attributes: {bundles: "other=4,app=1"}},
        {controllerId: "gw-d", attributes: {budget_left_mib: "1", budget_limit_mib: "50"}}]')"
[ "$CODE" = 200 ] || [ "$CODE" = 201 ] || t_fail "register gw-c, gw-d: $CODE $BODY"
mgmt POST /api/v1/rollouts "$(jq -cn --argjson b "$V2" '{name: "v2-cd", bundleId: $b, filter: {controllerId: "gw-[cd]"}}')"
expect_code 201 "create a rollout of app 2 to gw-c and gw-d"
P=$(plan "$(echo "$BODY" | jq -r .id)")
t_assert_eq "$(entry "$P" gw-c .bytes)" "$pa" "gw-c (reports app 1) needs what gw-a needed"
t_assert_eq "$(entry "$P" gw-c '.refuses // "none"')" none "gw-c's refusal"
t_assert_eq "$(entry "$P" gw-d .refuses)" "budget: needs 2 MiB, 1 MiB left" "gw-d's refusal"
t_assert_eq "$(echo "$P" | jq -c '[.groups[0].targets, .groups[0].refusing, .totalBytes]')" "[2,1,$pa]" \
        "gw-d counts no bytes"
t_pass "held blobs from the reported bundles attribute (gw-c: $pa bytes); budget refusal: $(entry "$P" gw-d .refuses)"

# A two-platform image (amd64 and arm64, their own layers): an agent fetches every image
# document but only its own platform's config and layers, and reports its "platform"; the
# plan counts the same. An arm64 target gets the arm64 share, a riscv64 one refuses, one
# that mirrors every platform (a registry backend) needs them all.
t_make_image -o "$T_ROOT/amd64.tar" --arch amd64 --random-layers 1 --random-size 1M --seed plan-amd
t_make_image -o "$T_ROOT/arm64.tar" --arch arm64 --random-layers 1 --random-size 3M --seed plan-arm
bash "$BERTH_SRC/scripts/merge-oci-platforms.sh" -o "$T_ROOT/multi.tar" "$T_ROOT/amd64.tar" "$T_ROOT/arm64.tar"
t_bundle "$T_ROOT/app-3.berth" --name app --version 3 --image "$T_ROOT/multi.tar"
INSP=$("$BERTH" bundle inspect --json "$T_ROOT/app-3.berth")
share() { echo "$INSP" | jq -r --arg p "$1" '.platforms[] | select(.platform == $p) | .bytes'; }
all3=$(echo "$INSP" | jq '[.manifest.blobs[].size] | add')
docs3=$(echo "$INSP" | jq '[.manifest.blobs[] | select(.mediaType | test("manifest|index")) | .size] | add')
amd=$(share linux/amd64)
arm=$(share linux/arm64/v8)
echo "app 3: $all3 bytes of blobs; linux/amd64 $amd, linux/arm64/v8 $arm; image documents $docs3"
srv_upload "$T_ROOT/app-3.berth"
V3=$BUNDLE_ID
reported_platform() {
        mgmt GET /api/v1/targets
        echo "$BODY" | jq -r --arg c "$1" '.[] | select(.controllerId == $c) | .attributes.platform // ""'
}
t_wait_for '[ "$(reported_platform gw-a)" = linux/amd64 ]' 30 ||
        t_fail "gw-a did not report its platform: $(reported_platform gw-a)"
mgmt POST /api/v1/targets "$(jq -cn '[
        {controllerId: "gw-h", attributes: {platform: "linux/amd64"}},
        {controllerId: "gw-e", attributes: {platform: "linux/arm64/v8"}},
        {controllerId: "gw-f", attributes: {platform: "linux/riscv64"}},
        {controllerId: "gw-g", attributes: {platform: "linux/arm64/v8", mirror_platforms: "all"}}]')"
[ "$CODE" = 200 ] || [ "$CODE" = 201 ] || t_fail "register gw-e, gw-f, gw-g: $CODE $BODY"
mgmt POST /api/v1/rollouts "$(jq -cn --argjson b "$V3" '{name: "v3", bundleId: $b, filter: {controllerId: "gw-[aefgh]"}}')"
expect_code 201 "create a rollout of the two-platform app 3"
R3=$(echo "$BODY" | jq -r .id)
P=$(plan "$R3")
echo "$P" | jq -c '.groups[].entries'
within() { # bytes low high what
        [ "$1" -ge "$2" ] && [ "$1" -le "$3" ] || t_fail "$4: planned $1 bytes, expected $2..$3"
}
# its share, the other platform's manifest, and the head (≤ 8 KiB); gw-a holds app 2's
# base layer, so less
within "$(entry "$P" gw-h .bytes)" "$amd" $((amd + docs3 + 8192)) "gw-h (linux/amd64)"
within "$(entry "$P" gw-a .bytes)" 1 "$(entry "$P" gw-h .bytes)" "gw-a (linux/amd64, holds app 2)"
within "$(entry "$P" gw-e .bytes)" "$arm" $((arm + docs3 + 8192)) "gw-e (linux/arm64/v8)"
within "$(entry "$P" gw-g .bytes)" "$all3" $((all3 + 8192)) "gw-g (mirrors every platform)"
t_assert_contains "$(entry "$P" gw-f .refuses)" "platform: " "gw-f (linux/riscv64) refuses"
t_assert_contains "$(entry "$P" gw-f .refuses)" "linux/riscv64" "the refusal names the platform"
t_assert_eq "$(echo "$P" | jq -c '.groups[0].refusing')" 1 "only gw-f refuses"
pa3=$(entry "$P" gw-a .bytes)
t_pass "two-platform plan: gw-h $(entry "$P" gw-h .bytes) (amd64 share $amd), gw-a $pa3 (holds app 2), gw-e $(entry "$P" gw-e .bytes) (arm64 share $arm), gw-g $(entry "$P" gw-g .bytes) of $all3, gw-f: $(entry "$P" gw-f .refuses)"
# What gw-a then really downloads.
mgmt POST /api/v1/rollouts "$(jq -cn --argjson b "$V3" '{name: "v3-a", bundleId: $b, filter: {controllerId: "gw-a"}}')"
expect_code 201 "create the rollout of app 3 to gw-a"
R3A=$(echo "$BODY" | jq -r .id)
mgmt POST "/api/v1/rollouts/$R3A/start"
expect_code 200 "start the rollout of app 3 to gw-a"
t_wait_for 'agent_has gw-a app 3' 90 || t_fail "app 3 not installed on gw-a"
said=$(action_json gw-a | jq -r '[.. | .details? // empty] | flatten | map(select(test("^installed app 3"))) | .[0] // ""')
real=$(echo "$said" | grep -o '[0-9]* bytes downloaded' | grep -o '^[0-9]*')
[ -n "$real" ] || t_fail "gw-a: no download figure in its feedback for app 3: $said"
diff=$((pa3 > real ? pa3 - real : real - pa3))
[ "$diff" -le $((real / 50 + 8192)) ] || t_fail "gw-a: planned $pa3 bytes of app 3, really downloaded $real"
t_pass "two-platform plan vs feedback: gw-a planned $pa3, downloaded $real"
agent_stop gw-a
agent_stop gw-b
