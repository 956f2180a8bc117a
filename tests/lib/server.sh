# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# tests/lib/server.sh — berth-server over HTTPS with a test CA, and curl as its DDI and
# management client (sourced by harness.sh, not by tests). Functions only. The server's
# files live in the test's scratch root: pki/, state/, server.conf, server.log, ports.
#
#   srv_pki / srv_client_cert NAME       test CA ($CA), server and client certificates
#   srv_config [INI LINES...]            the server config (ephemeral loopback ports)
#   srv_start / srv_stop / srv_kill / srv_alive
#   srv_req URL METHOD AUTH [BODY] [curl args...]   -> $CODE, $BODY
#   ddi METHOD CID SUFFIX TOKEN [BODY] [curl args...] / mgmt METHOD PATH [BODY] [curl args...]
#   expect_code CODE WHAT / feedback EXECUTION FINISHED [DETAIL] / action_of CID TOKEN
#   srv_upload FILE / srv_upload_bundle NAME VERSION [--raw SIZE]   -> $BUNDLE_ID
#   rollout_create JSON / rollout_json ID / rollout_is ID STATE
#   target_action_status CID / action_json CID

SERVER_BIN=${BERTH_SERVER_BIN:-${BERTH_BUILD:-}/server-stub/berth-server}
SRV_PID=""
SRV_STATE=$T_ROOT/state
SRV_CONF=$T_ROOT/server.conf
SRV_LOG=$T_ROOT/server.log
SRV_STARTED_ONCE=0

_srv_need() {
        [ -x "$SERVER_BIN" ] || t_skip "berth-server not built at $SERVER_BIN"
        local tool
        for tool in curl openssl jq; do
                command -v "$tool" >/dev/null || t_skip "$tool not installed (scripts/deps.sh)"
        done
}

# srv_pki: a test CA ($CA = pki/ca.crt) and a server certificate for 127.0.0.1 and
# localhost, once per test.
srv_pki() {
        [ -z "${CA:-}" ] || return 0
        local d=$T_ROOT/pki
        mkdir -p "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=berth test CA" \
                -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
                -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
        # T_SRV_SAN: more names for it ("IP:10.99.0.1"), for a server in a network namespace
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost%s\n' "${T_SRV_SAN:+,$T_SRV_SAN}" >"$d/server.ext"
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
                -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
        CA=$d/ca.crt
}

# srv_client_cert NAME: pki/NAME.{crt,key}, a client certificate with CN=NAME signed by
# the test CA.
srv_client_cert() {
        local d=$T_ROOT/pki
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
                -keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
        openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
                -extfile "$d/client.ext" -out "$d/$1.crt" 2>/dev/null
}

# srv_config [EXTRA INI LINES...]: writes the server config (sections may be repeated).
# The server trusts the test key (t_keys): bundles made by t_bundle are accepted.
srv_config() {
        srv_pki
        t_keys
        cat >"$SRV_CONF" <<CONF
[server]
state_dir = $SRV_STATE
trust_dir = $T_TRUST
ports_file = $T_ROOT/ports
[ddi]
listen = 127.0.0.1:0
cert = $T_ROOT/pki/server.crt
key = $T_ROOT/pki/server.key
polling_sleep = 00:00:30
threads = 2
[mgmt]
listen = 127.0.0.1:0
[rollout]
tick_ms = 100
CONF
        local line
        for line in "$@"; do printf '%s\n' "$line" >>"$SRV_CONF"; done
}

# srv_start: starts berth-server with $SRV_CONF, waits for its ports file, sets DDI_PORT,
# MGMT_PORT, DDI (the DDI base URL), MGMT, ADMIN_TOKEN (exported with the URL as
# BERTH_SERVER_URL/BERTH_SERVER_TOKEN for the CLI). Stopped at exit.
srv_start() {
        _srv_need
        rm -f "$T_ROOT/ports"
        # A small ASan quarantine keeps RSS measurements meaningful in sanitizer builds.
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4" \
                "$SERVER_BIN" -c "$SRV_CONF" serve >>"$SRV_LOG" 2>&1 &
        SRV_PID=$!
        if [ "$SRV_STARTED_ONCE" = 0 ]; then
                SRV_STARTED_ONCE=1
                t_defer srv_stop
                t_show_log "$SRV_LOG" "berth-server log"
        fi
        t_wait_for "test -s '$T_ROOT/ports'" 20 || t_fail "berth-server did not start"
        DDI_PORT=$(sed -n 's/^ddi=//p' "$T_ROOT/ports")
        MGMT_PORT=$(sed -n 's/^mgmt=//p' "$T_ROOT/ports")
        DDI="https://127.0.0.1:$DDI_PORT/default/controller/v1"
        MGMT="http://127.0.0.1:$MGMT_PORT"
        ADMIN_TOKEN=$(cat "$SRV_STATE/admin.token")
        export BERTH_SERVER_URL="$MGMT" BERTH_SERVER_TOKEN="$ADMIN_TOKEN"
}

# srv_stop: SIGTERM and wait; a non-zero exit (crash, sanitizer report) fails the test
# (except during the cleanup at exit).
srv_stop() {
        [ -n "$SRV_PID" ] || return 0
        local rc=0
        kill -TERM "$SRV_PID" 2>/dev/null || true
        wait "$SRV_PID" 2>/dev/null || rc=$?
        SRV_PID=""
        if [ "$rc" != 0 ] && [ "$T_IN_CLEANUP" = 0 ]; then
                t_fail "berth-server exited with status $rc"
        fi
}

# srv_kill: SIGKILL (a crash) and reap.
srv_kill() {
        [ -n "$SRV_PID" ] || return 0
        kill -KILL "$SRV_PID" 2>/dev/null || true
        wait "$SRV_PID" 2>/dev/null || true
        SRV_PID=""
}

srv_alive() { [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; }

# srv_req URL METHOD AUTH-HEADER [BODY] [extra curl args...]: one request; the status is
# left in $CODE (000 when there was no answer), the body in $BODY.
srv_req() {
        local url=$1 method=$2 auth=$3 body=${4-}
        shift 4 || shift $#
        local args=(-sS -o "$T_ROOT/body" -w '%{http_code}' -X "$method" --cacert "$CA")
        [ -n "$auth" ] && args+=(-H "Authorization: $auth")
        [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
        # A server that answers before reading the whole body (413) may close while
        # curl still sends: curl then fails after printing the status it got. Keep it.
        CODE=$(curl "${args[@]}" "$@" "$url") || { [ -n "$CODE" ] && [ "$CODE" != 000 ]; } || CODE=000
        BODY=$(cat "$T_ROOT/body" 2>/dev/null || true)
}

# ddi METHOD CONTROLLER_ID PATH-SUFFIX TOKEN [BODY] [curl args...]
ddi() {
        local m=$1 cid=$2 suffix=$3 tok=$4 body=${5-}
        shift 5 || shift $#
        srv_req "$DDI/$cid$suffix" "$m" "${tok:+TargetToken $tok}" "$body" "$@"
}

# mgmt METHOD PATH [BODY] [curl args...]
mgmt() {
        local m=$1 path=$2 body=${3-}
        shift 3 || shift $#
        srv_req "$MGMT$path" "$m" "Bearer $ADMIN_TOKEN" "$body" "$@"
}

expect_code() {
        [ "$CODE" = "$1" ] || t_fail "$2: expected HTTP $1, got $CODE: $BODY"
}

# feedback EXECUTION FINISHED [DETAIL]: a DDI feedback body.
feedback() {
        jq -cn --arg e "$1" --arg f "$2" --arg d "${3:-}" \
                '{status: {execution: $e, result: {finished: $f, progress: {cnt: 1, of: 1}}, details: [$d]}}'
}

# action_of CID TOKEN: polls once and prints the deploymentBase action id (or nothing).
action_of() {
        ddi GET "$1" "" "$2"
        [ "$CODE" = 200 ] || return 0
        echo "$BODY" | jq -r '._links.deploymentBase.href // empty' | sed 's,.*/deploymentBase/,,;s,?.*,,'
}

# srv_upload FILE: uploads a bundle file; sets BUNDLE_ID.
srv_upload() {
        mgmt POST /api/v1/bundles "" --data-binary @"$1" -H 'Content-Type: application/octet-stream'
        expect_code 201 "upload $1"
        BUNDLE_ID=$(echo "$BODY" | jq -r .id)
}

# srv_upload_bundle NAME VERSION [--raw SIZE]: makes and uploads a bundle; sets
# BUNDLE_FILE and BUNDLE_ID. Signed by t_bundle; with --raw, SIZE random bytes uploaded
# as NAME/VERSION (the server must run with bundles.insecure_skip_verify = true).
srv_upload_bundle() {
        local name=$1 version=$2
        BUNDLE_FILE=$T_ROOT/$name-$version.berth
        if [ "${3:-}" = --raw ]; then
                head -c "$4" /dev/urandom >"$BUNDLE_FILE"
                mgmt POST "/api/v1/bundles?name=$name&version=$version" "" --data-binary @"$BUNDLE_FILE" \
                        -H 'Content-Type: application/octet-stream'
                expect_code 201 "upload raw artifact $name $version"
                # shellcheck disable=SC2034 # for the caller
                BUNDLE_ID=$(echo "$BODY" | jq -r .id)
        else
                t_bundle "$BUNDLE_FILE" --name "$name" --version "$version"
                srv_upload "$BUNDLE_FILE"
        fi
}

# rollout_create JSON: creates and starts a rollout; sets ROLLOUT_ID.
rollout_create() {
        mgmt POST /api/v1/rollouts "$1"
        [ "$CODE" = 201 ] || [ "$CODE" = 200 ] || t_fail "create rollout: $CODE $BODY"
        ROLLOUT_ID=$(echo "$BODY" | jq -r .id)
        mgmt POST "/api/v1/rollouts/$ROLLOUT_ID/start"
        [ "$CODE" = 200 ] || t_fail "start rollout: $CODE $BODY"
}

rollout_json() {
        mgmt GET "/api/v1/rollouts/$1"
        echo "$BODY"
}

# rollout_is ID STATE: the rollout's state is STATE.
rollout_is() { [ "$(rollout_json "$1" | jq -r .state)" = "$2" ]; }

# target_action_status CID: status of the target's current action (or "none")
target_action_status() {
        mgmt GET "/api/v1/targets/$1"
        echo "$BODY" | jq -r '.currentAction.status // "none"'
}

# action_json CID: the target's current action (with its feedback), also left in $BODY.
action_json() {
        mgmt GET "/api/v1/targets/$1"
        mgmt GET "/api/v1/actions/$(echo "$BODY" | jq -r .currentAction.id)"
        echo "$BODY"
}
