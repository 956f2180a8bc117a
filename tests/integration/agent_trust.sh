#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_trust.sh — trust roots over DDI, through the running agent's download path:
#   - gw-new already has root version 2, which revoked the release key `test`; the server
#     (still on its trust directory, version 1) accepts a bundle signed by `test` and
#     rolls it out: the agent refuses it at the head check, explains it to the server,
#     stores nothing;
#   - the next release is signed by the new key `rel2` and carries root version 2: the
#     server learns version 2 from the upload, gw-new installs it, and gw-old (version 1,
#     never rotated) catches up to version 2 from the head of the same download.
# This is the path the download shares with USB imports (import_head_verify); roots from
# the poll's trustRoots link and the status through the agent: agent_trust_ddi.sh.
source "$(dirname "$0")/../lib/harness.sh"

agent_env_setup
t_make_image -o "$T_ROOT/img.tar" --random-layers 1 --random-size 1M --seed trust
"$BERTH" keygen -o "$T_ROOT/keys" --name root1 >/dev/null
"$BERTH" keygen -o "$T_ROOT/keys" --name rel2 >/dev/null
# v2: root key root1, release key rel2; `test` (the trust dir's key) left out. Signed by
# test (version 1's root key) and root1 (its own).
"$BERTH" trust rotate --from "$T_ROOT/trust" -o "$T_ROOT/v2.json" --remove-root-key test --add-root-key "$T_ROOT/keys/root1.pub" \
        --remove-release-key test --add-release-key "$T_ROOT/keys/rel2.pub" -k "$T_ROOT/keys/test.key" -k "$T_ROOT/keys/root1.key" \
        >/dev/null || t_fail "rotate"
node_root() { "$BERTH" trust show --json --trust "$T_ROOT/trust" --state-dir "${AGENT_DIR[$1]}/state" | jq -r .version; }

agent_add gw-new
agent_add gw-old
"$BERTH" trust install --trust "$T_ROOT/trust" --state-dir "${AGENT_DIR[gw-new]}/state" "$T_ROOT/v2.json" >/dev/null ||
        t_fail "install v2 on gw-new"
[ "$(node_root gw-new)" = 2 ] && [ "$(node_root gw-old)" = 1 ] || t_fail "setup: roots"
agent_start gw-new
agent_start gw-old

# ---- a revoked key's new bundle, over DDI ------------------------------------------------
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar"
srv_upload "$T_ROOT/app-1.berth"
rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" '{name: "revoked", bundleId: $b, filter: {controllerId: "gw-new"}}')"
failed() { [ "$(target_action_status gw-new)" = failure ]; }
t_wait_for 'failed' 30 || t_fail "gw-new did not refuse the revoked key's bundle"
mgmt GET "/api/v1/actions/$(curl -s -H "Authorization: Bearer $ADMIN_TOKEN" "$MGMT/api/v1/targets/gw-new" |
        jq -r .currentAction.id)"
case $BODY in *"0 valid signature(s) from keys in trust root version 2"*) ;;
*) t_fail "the failure feedback does not name the root: $BODY" ;; esac
agent_has gw-new app 1 && t_fail "gw-new stored the revoked key's bundle"
[ -z "$(ls -A "${AGENT_DIR[gw-new]}/state/store/blobs/sha256" 2>/dev/null)" ] || t_fail "gw-new stored blobs"
t_pass "revoked key: refused at the head check over DDI, explained to the server, nothing stored"

# ---- the next release carries the root; the server and a node behind catch up -----------
"$BERTH" bundle create -k "$T_ROOT/keys/rel2.key" --name app --version 2 --image "registry.local/test/app:2=$T_ROOT/img.tar" \
        --roots "$T_ROOT/v2.json" -o "$T_ROOT/app-2.berth" >/dev/null || t_fail "bundle create v2"
srv_upload "$T_ROOT/app-2.berth"
mgmt GET /api/v1/trust
[ "$(jq -r .version <<<"$BODY")" = 2 ] || t_fail "the server did not learn version 2 from the upload: $BODY"
rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" '{name: "rotated", bundleId: $b, groups: [100]}')"
t_wait_for 'agent_has gw-new app 2' 60 || t_fail "gw-new did not install the new key's bundle"
t_wait_for 'agent_has gw-old app 2' 60 || t_fail "gw-old did not install the bundle that carries its next root"
[ "$(node_root gw-old)" = 2 ] || t_fail "gw-old did not keep root version 2"
[ -f "${AGENT_DIR[gw-old]}/state/trust/2.json" ] || t_fail "gw-old: STATE/trust/2.json missing"
t_pass "the new key's release installs; gw-old catches up from the bundle head it downloads"
agent_stop gw-new
agent_stop gw-old
