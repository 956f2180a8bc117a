#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# registry_auth.sh — credentials and an unreachable registry. A docker-registry with
# htpasswd (basic) auth refuses a wrong password with a clear message and accepts the
# right one (from registry.password_file); the distribution token flow (emulated by
# regproxy in front of a real registry) gets scoped tokens, including the source
# repository's scope for a cross-repository mount; a registry that is down gives a
# clear message, a non-zero exit, and a rerun after it starts completes the push.
source "$(dirname "$0")/../lib/harness.sh"
command -v skopeo >/dev/null || t_skip "skopeo not installed (scripts/deps.sh)"
command -v htpasswd >/dev/null || t_skip "htpasswd not installed (apache2-utils, scripts/deps.sh)"

W=$(t_tmpdir)
mkdir -p "$W/b"
t_make_image -o "$W/b/img.tar" --ref registry.local/gw/broker:2.0 --random-layers 1 --random-size 1M
t_bundle "$W/b/b.berth" --name gw --image "$W/b/img.tar" --ref registry.local/gw/broker:2.0

t_log "basic auth (htpasswd)"
mkdir -p "$W/auth"
htpasswd -Bbn alice 's3cret pass' >"$W/auth/htpasswd"
t_registry_start "$W/reg" --htpasswd "$W/auth/htpasswd"
AUTH_REG=$T_REGISTRY
printf 'wrong\n' >"$W/badpw"
printf 's3cret pass\n' >"$W/goodpw"
t_expect_fail "$BERTH" import --state-dir "$W/s1" --trust "$T_TRUST" --registry "http://$AUTH_REG" "$T_BUNDLE"
t_assert_contains "$T_ERR" "registry http://$AUTH_REG denied access (HTTP 401" "anonymous push refused"
t_assert_contains "$T_ERR" "registry.username" "message says what to set"
printf '[registry]\nusername = alice\npassword_file = %s\n' "$W/badpw" >"$W/bad.conf"
t_expect_fail "$BERTH" import --state-dir "$W/s1" --trust "$T_TRUST" --config "$W/bad.conf" \
        --registry "http://$AUTH_REG" "$T_BUNDLE"
t_assert_contains "$T_ERR" "denied access (HTTP 401" "wrong password refused"
t_assert_contains "$T_ERR" "repository gw/broker" "message names the repository"
printf '[registry]\nusername = alice\npassword_file = %s\n' "$W/goodpw" >"$W/good.conf"
"$BERTH" import --state-dir "$W/s1" --trust "$T_TRUST" --config "$W/good.conf" \
        --registry "http://$AUTH_REG" "$T_BUNDLE" >/dev/null
got=$(skopeo inspect --tls-verify=false --creds 'alice:s3cret pass' "docker://$AUTH_REG/gw/broker:2.0" | jq -r .Digest)
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "digest pushed with basic auth"

t_log "bearer token flow"
t_registry_start "$W/open"
t_regproxy_start "$T_REGISTRY" "$W/tok.log" --bearer bob:t0ken
t_expect_fail "$BERTH" import --state-dir "$W/s2" --trust "$T_TRUST" --registry "http://$T_REGPROXY" "$T_BUNDLE"
t_assert_contains "$T_ERR" "requires credentials" "anonymous token request refused"
printf '[registry]\nusername = bob\npassword = nope\n' >"$W/tbad.conf"
t_expect_fail "$BERTH" import --state-dir "$W/s2" --trust "$T_TRUST" --config "$W/tbad.conf" \
        --registry "http://$T_REGPROXY" "$T_BUNDLE"
t_assert_contains "$T_ERR" "refused the credentials" "wrong token credentials"
printf '[registry]\nusername = bob\npassword = t0ken\n' >"$W/tgood.conf"
"$BERTH" import --state-dir "$W/s2" --trust "$T_TRUST" --config "$W/tgood.conf" \
        --registry "http://$T_REGPROXY" "$T_BUNDLE" >/dev/null
grep -q '^GET /token scopes=repository:gw/broker:pull,push -> 200$' "$W/tok.log" || t_fail "no scoped token fetched"
mkdir -p "$W/c"
t_make_image -o "$W/c/img.tar" --ref registry.local/gw/copy:1 --random-layers 1 --random-size 1M
t_bundle "$W/c/b.berth" --name gw2 --image "$W/c/img.tar" --ref registry.local/gw/copy:1
"$BERTH" import --state-dir "$W/s2" --trust "$T_TRUST" --config "$W/tgood.conf" \
        --registry "http://$T_REGPROXY" "$T_BUNDLE" >/dev/null
grep -q '^GET /token scopes=repository:gw/broker:pull,repository:gw/copy:pull,push -> 200$' "$W/tok.log" ||
        t_fail "no token with the mount source's scope"
grep -qE '^POST /v2/gw/copy/blobs/uploads/\?mount=.*&from=gw/broker - -> 201$' "$W/tok.log" || t_fail "no mount"
got=$(skopeo inspect --tls-verify=false "docker://$T_REGISTRY/gw/copy:1" | jq -r .Digest)
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "digest pushed with a token"

t_log "registry down"
port=$(t_free_port)
t_expect_fail "$BERTH" import --state-dir "$W/s3" --trust "$T_TRUST" --registry "http://127.0.0.1:$port" "$T_BUNDLE"
t_assert_eq "$T_RC" 1 "exit status"
t_assert_contains "$T_ERR" "registry http://127.0.0.1:$port is not reachable" "message names the registry"
t_assert_contains "$T_ERR" "repository gw/copy" "message names the repository"
t_assert_contains "$T_ERR" "import again" "message says what to do"
grep -q gw2 <<<"$("$BERTH" status --state-dir "$W/s3" 2>/dev/null)" || t_fail "the bundle was not kept after the failed push"
"$BERTH" import --state-dir "$W/s3" --trust "$T_TRUST" --registry "http://$T_REGISTRY" "$T_BUNDLE" >/dev/null
got=$(skopeo inspect --tls-verify=false "docker://$T_REGISTRY/gw/copy:1" | jq -r .Digest)
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "rerun after the outage"
t_log "ok"
