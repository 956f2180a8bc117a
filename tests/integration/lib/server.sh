# SPDX-License-Identifier: Apache-2.0
# server.sh — harness for berth-server integration tests (sourced, not run by ctest).
#
# Makes a test CA with a server certificate (127.0.0.1/localhost) and client
# certificates, writes a config with ephemeral loopback ports, starts berth-server, waits
# for its ports file (no sleeps), and stops it on exit. ddi/mgmt wrap curl and leave the
# HTTP status in $CODE and the body in $BODY.

set -euo pipefail

: "${BERTH_BUILD:?BERTH_BUILD must point at the build directory}"
SERVER_BIN="${BERTH_SERVER_BIN:-$BERTH_BUILD/server-stub/berth-server}"
[ -x "$SERVER_BIN" ] || { echo "berth-server not built at $SERVER_BIN" >&2; exit 77; }
for tool in curl openssl jq; do
        command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 77; }
done

mkdir -p "${BERTH_TEST_TMP:-/tmp}"
T="$(mktemp -d "${BERTH_TEST_TMP:-/tmp}/server-test.XXXXXX")"
SRV_PID=""
SRV_STATE="$T/state"
SRV_CONF="$T/server.conf"
SRV_LOG="$T/server.log"

srv_cleanup() {
        SRV_IN_CLEANUP=1
        srv_stop || true
        if [ "${KEEP_TMP:-0}" != 1 ]; then rm -rf "$T"; fi
}
trap srv_cleanup EXIT

fail() {
        echo "FAIL: $*" >&2
        if [ -f "$SRV_LOG" ]; then echo "--- server log (tail) ---" >&2; tail -n 30 "$SRV_LOG" >&2; fi
        exit 1
}
pass() { echo "ok - $*"; }

# wait_until TIMEOUT_SECONDS COMMAND...: polls COMMAND (every 50 ms) until it succeeds.
wait_until() {
        local limit=$(( $1 * 20 )) i=0
        shift
        until "$@"; do
                i=$((i + 1))
                [ "$i" -lt "$limit" ] || return 1
                sleep 0.05
        done
}

srv_make_pki() {
        local d="$T/pki"
        mkdir -p "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=berth test CA" \
                -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
                -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$d/server.ext"
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
                -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
        CA="$d/ca.crt"
}

# srv_client_cert NAME: a client certificate with CN=NAME signed by the test CA.
srv_client_cert() {
        local d="$T/pki"
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
                -keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\n' > "$d/client.ext"
        openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
                -extfile "$d/client.ext" -out "$d/$1.crt" 2>/dev/null
}

# srv_config [EXTRA INI LINES...]: writes the server config (sections may be repeated).
srv_config() {
        [ -n "${CA:-}" ] || srv_make_pki
        mkdir -p "$T/trust"
        cat > "$SRV_CONF" <<CONF
[server]
state_dir = $SRV_STATE
trust_dir = ${SRV_TRUST:-$T/trust}
ports_file = $T/ports
[ddi]
listen = 127.0.0.1:0
cert = $T/pki/server.crt
key = $T/pki/server.key
polling_sleep = 00:00:30
threads = 2
[mgmt]
listen = 127.0.0.1:0
[rollout]
tick_ms = 100
CONF
        for line in "$@"; do printf '%s\n' "$line" >> "$SRV_CONF"; done
}

srv_start() {
        rm -f "$T/ports"
        # A small ASan quarantine keeps RSS measurements meaningful in sanitizer builds.
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4" \
                "$SERVER_BIN" -c "$SRV_CONF" serve >> "$SRV_LOG" 2>&1 &
        SRV_PID=$!
        wait_until 20 test -s "$T/ports" || fail "berth-server did not start"
        DDI_PORT=$(sed -n 's/^ddi=//p' "$T/ports")
        MGMT_PORT=$(sed -n 's/^mgmt=//p' "$T/ports")
        DDI="https://127.0.0.1:$DDI_PORT/default/controller/v1"
        MGMT="http://127.0.0.1:$MGMT_PORT"
        ADMIN_TOKEN=$(cat "$SRV_STATE/admin.token")
        export BERTH_SERVER_URL="$MGMT" BERTH_SERVER_TOKEN="$ADMIN_TOKEN"
}

# srv_stop: SIGTERM and wait; a non-zero exit (crash, sanitizer report) fails the test.
srv_stop() {
        if [ -n "$SRV_PID" ]; then
                local rc=0
                kill -TERM "$SRV_PID" 2>/dev/null || true
                wait "$SRV_PID" 2>/dev/null || rc=$?
                SRV_PID=""
                if [ "$rc" != 0 ] && [ -z "${SRV_IN_CLEANUP:-}" ]; then
                        fail "berth-server exited with status $rc"
                fi
        fi
}

srv_alive() { [ -n "$SRV_PID" ] && kill -0 "$SRV_PID" 2>/dev/null; }

# _req URL METHOD AUTH-HEADER [BODY] [extra curl args...]
_req() {
        local url=$1 method=$2 auth=$3 body=${4-}
        shift 4 || shift $#
        local args=(-sS -o "$T/body" -w '%{http_code}' -X "$method" --cacert "$CA")
        [ -n "$auth" ] && args+=(-H "Authorization: $auth")
        [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
        # A server that answers before reading the whole body (413) may close while
        # curl still sends: curl then fails after printing the status it got. Keep it.
        CODE=$(curl "${args[@]}" "$@" "$url") || { [ -n "$CODE" ] && [ "$CODE" != 000 ]; } || CODE=000
        BODY=$(cat "$T/body" 2>/dev/null || true)
}

# ddi METHOD CONTROLLER_ID PATH-SUFFIX TOKEN [BODY] [curl args...]
ddi() {
        local m=$1 cid=$2 suffix=$3 tok=$4 body=${5-}
        shift 5 || shift $#
        _req "$DDI/$cid$suffix" "$m" "${tok:+TargetToken $tok}" "$body" "$@"
}

# mgmt METHOD PATH [BODY] [curl args...]
mgmt() {
        local m=$1 path=$2 body=${3-}
        shift 3 || shift $#
        _req "$MGMT$path" "$m" "Bearer $ADMIN_TOKEN" "$body" "$@"
}

expect_code() {
        [ "$CODE" = "$1" ] || fail "$2: expected HTTP $1, got $CODE: $BODY"
}

# A DDI feedback body: feedback EXECUTION FINISHED [DETAIL]
feedback() {
        jq -cn --arg e "$1" --arg f "$2" --arg d "${3:-}" \
                '{status: {execution: $e, result: {finished: $f, progress: {cnt: 1, of: 1}}, details: [$d]}}'
}

# make_bundle NAME VERSION OUT: a signed .berth when the berth CLI can make one, else
# a plain file uploaded in insecure mode (sets BUNDLE_UPLOAD_ARGS accordingly).
BERTH_BIN="${BERTH:-$BERTH_BUILD/agent/berth}"
can_sign_bundles() {
        [ -x "$BERTH_BIN" ] && "$BERTH_BIN" keygen --help >/dev/null 2>&1 && \
                "$BERTH_BIN" bundle create --help >/dev/null 2>&1
}

# upload_test_bundle NAME VERSION: uploads a bundle and sets BUNDLE_ID and BUNDLE_FILE.
# Signed with the berth CLI when it can (the server verifies it against $T/trust);
# otherwise a random file through bundles.insecure_skip_verify (needs that config line).
upload_test_bundle() {
        local name=$1 version=$2
        BUNDLE_FILE="$T/$name-$version.berth"
        if [ "${SRV_SIGNED:-0}" = 1 ]; then
                make_signed_bundle "$name" "$version" "$BUNDLE_FILE"
                mgmt POST /api/v1/bundles "" --data-binary @"$BUNDLE_FILE" -H 'Content-Type: application/octet-stream'
        else
                head -c "${BUNDLE_SIZE:-300000}" /dev/urandom > "$BUNDLE_FILE"
                mgmt POST "/api/v1/bundles?name=$name&version=$version" "" --data-binary @"$BUNDLE_FILE" \
                        -H 'Content-Type: application/octet-stream'
        fi
        expect_code 201 "upload bundle $name $version"
        BUNDLE_ID=$(echo "$BODY" | jq -r .id)
}

# bundle_setup: signing key + trust dir when the berth CLI can sign; sets BUNDLE_CONF
# (config lines for srv_config) and SRV_SIGNED.
bundle_setup() {
        if can_sign_bundles; then
                SRV_SIGNED=1
                "$BERTH_BIN" keygen -o "$T/keys" --name test >/dev/null
                mkdir -p "$T/trust"
                cp "$T/keys/test.pub" "$T/trust/"
                BUNDLE_CONF=("[bundles]")
        else
                SRV_SIGNED=0
                BUNDLE_CONF=("[bundles]" "insecure_skip_verify = true")
        fi
}

make_signed_bundle() {
        local name=$1 version=$2 out=$3
        local img="$T/img.tar"
        if [ ! -f "$img" ]; then
                bash "$BERTH_SRC/scripts/make-oci-image.sh" -o "$img" >/dev/null 2>&1 || \
                        fail "cannot build a test OCI image with scripts/make-oci-image.sh"
        fi
        "$BERTH_BIN" bundle create -k "$T/keys/test.key" --name "$name" --version "$version" \
                --image "registry.local/test/app:$version=$img" -o "$out" >/dev/null || fail "berth bundle create failed"
}

# action_of CID TOKEN: polls once and prints the deploymentBase action id (or nothing).
action_of() {
        ddi GET "$1" "" "$2"
        [ "$CODE" = 200 ] || return 0
        echo "$BODY" | jq -r '._links.deploymentBase.href // empty' | sed 's,.*/deploymentBase/,,;s,?.*,,'
}
