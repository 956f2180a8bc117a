#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server and trust roots: a server on a plain trust directory learns root version 2
# from an uploaded bundle (signed by a key only version 2 trusts), refuses the revoked
# key's upload, takes version 3 through the management API (a forged version 4 is
# refused), keeps its roots across a restart, links them from the base poll and hands
# an agent exactly the roots it lacks (trustRoots?after=N), which the agent accepts by
# the rotation rule on its own.
source "$(dirname "$0")/../lib/harness.sh"
B=$BERTH
IMG=berth.example/tiny:1.0=$BERTH_SRC/tests/fuzz/corpus/oci_index/tiny-oci.tar

cd "$T_ROOT"
for k in old r1 r2 a; do "$B" keygen -o keys --name $k >/dev/null; done
srv_config
rm -f trust/*.pub # the harness's test key: this server trusts only `old`
cp keys/old.pub trust/
"$B" trust rotate --from trust -o v2.json --remove-root-key old --add-root-key keys/r1.pub \
        --remove-release-key old --add-release-key keys/a.pub -k keys/old.key -k keys/r1.key >/dev/null
"$B" trust rotate --from v2.json -o v3.json --expires 2099-01-01T00:00:00Z -k keys/r1.key >/dev/null
"$B" trust rotate --from v3.json -o v4-forged.json --remove-root-key r1 --add-root-key keys/r2.pub -k keys/r2.key \
        >/dev/null
# bundle FILE VERSION KEY [args]: the tiny image, signed by KEY.
bundle() {
        local f=$1 v=$2 k=$3
        shift 3
        "$B" bundle create -k "keys/$k.key" --name app --version "$v" --image "$IMG" "$@" -o "$f" >/dev/null
}
upload() { mgmt POST /api/v1/bundles "" --data-binary @"$1" -H 'Content-Type: application/octet-stream'; }
srv_start

mgmt GET /api/v1/trust
expect_code 200 "trust"
[ "$(jq -r '.version, .implicit' <<<"$BODY" | tr '\n' ' ')" = "1 true " ] || t_fail "a trust dir is version 1: $BODY"
TOK=token-of-the-trust-target
mgmt POST /api/v1/targets "{\"controllerId\":\"t-1\",\"token\":\"$TOK\"}"
ddi GET t-1 "" "$TOK"
expect_code 200 "base poll"
[ "$(jq -r '._links.trustRoots // "none"' <<<"$BODY")" = none ] || t_fail "a trust dir has no roots to link: $BODY"
t_pass "a trust directory is root version 1; nothing to hand on"

bundle a1.berth 1 a
upload a1.berth
expect_code 422 "a's bundle before the root that trusts a"
bundle a1r.berth 1 a --roots v2.json
upload a1r.berth
expect_code 201 "a's bundle carrying root version 2"
mgmt GET /api/v1/trust
[ "$(jq -r .version <<<"$BODY")" = 2 ] || t_fail "the upload did not advance the server: $BODY"
[ -f "$SRV_STATE/trust/2.json" ] || t_fail "root version 2 is not kept in STATE/trust"
bundle old2.berth 2 old
upload old2.berth
expect_code 422 "the revoked key's upload"
case $BODY in *"trust root version 2"*) ;; *) t_fail "the refusal does not name the root: $BODY" ;; esac
t_pass "uploads: a new key arrives with its root; the revoked key is refused"

mgmt POST /api/v1/trust/roots "$(cat v3.json)"
expect_code 200 "POST root version 3"
[ "$(jq -c '[.previousVersion, .version, .accepted]' <<<"$BODY")" = "[2,3,1]" ] || t_fail "v3: $BODY"
mgmt POST /api/v1/trust/roots "$(cat v3.json)"
expect_code 200 "POST root version 3 again"
[ "$(jq -r .accepted <<<"$BODY")" = 0 ] || t_fail "a replayed root was accepted: $BODY"
mgmt POST /api/v1/trust/roots "$(cat v4-forged.json)"
expect_code 422 "a root signed only by its new key"
case $BODY in *"signed by 0 root key(s) of trust root version 3"*) ;; *) t_fail "forged v4: $BODY" ;; esac
mgmt POST /api/v1/trust/roots '{"roots": []}'
expect_code 422 "an empty chain"
t_pass "management API: a root by the rotation rule; replayed, forged and empty ones refused"

srv_stop
srv_start
mgmt GET /api/v1/trust
[ "$(jq -r .version <<<"$BODY")" = 3 ] || t_fail "the server forgot its roots over a restart: $BODY"
ddi GET t-1 "" "$TOK"
LINK=$(jq -r '._links.trustRoots.href' <<<"$BODY")
case $LINK in "$DDI/t-1/trustRoots?version=3") ;; *) t_fail "base poll link: $LINK" ;; esac
ddi GET t-1 "/trustRoots?after=1" "$TOK"
expect_code 200 "trustRoots after 1"
[ "$(jq -c '[.version, (.roots | length)]' <<<"$BODY")" = "[3,2]" ] || t_fail "after=1: $BODY"
printf '%s' "$BODY" >from-server.json # saved as the agent receives it
ddi GET t-1 "/trustRoots?after=2" "$TOK"
[ "$(jq -r '.roots | length' <<<"$BODY")" = 1 ] || t_fail "after=2: $BODY"
ddi GET t-1 "/trustRoots?after=3" "$TOK"
[ "$(jq -c .roots <<<"$BODY")" = "[]" ] || t_fail "after=3: $BODY"
ddi GET t-1 "/trustRoots?after=x" "$TOK"
expect_code 400 "a malformed after"
ddi GET t-1 "/trustRoots" ""
expect_code 401 "trustRoots without credentials"
t_pass "roots survive a restart; the poll links them; an agent gets exactly what it lacks"

# What the agent will do with the answer: walk it from its own root (a trust dir here).
mkdir -p node
cp -r trust node/trust
out=$("$B" trust install --trust node/trust --state-dir node/state from-server.json) || t_fail "agent install: $out"
case $out in *"version 1 → 3"*) ;; *) t_fail "agent install: $out" ;; esac
bundle a2.berth 2 a
"$B" import --no-agent --state-dir node/state --trust node/trust a2.berth >/dev/null || t_fail "agent import under v3"
t_pass "the roots from the server take an agent from version 1 to 3"
