#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server and request framing that a proxy in front could read differently: differing
# Content-Length headers, Content-Length with Transfer-Encoding (the bytes after the body
# must never run as a second request), a header name with white space and an unknown
# Transfer-Encoding are refused before any handler runs. An oversized body gets its 413
# even when the client writes all 16 MiB of it before reading (the server drains it).
source "$(dirname "$0")/../lib/harness.sh"
command -v python3 >/dev/null || { echo "missing python3" >&2; exit 77; }

srv_config "[mgmt]" "max_bundle_size = 8000000"
srv_start
srv_upload_bundle app 1
TOK=framing-token-0123456789
mgmt POST /api/v1/targets "{\"controllerId\":\"gw-1\",\"token\":\"$TOK\"}"
expect_code 201 "register"
RID=$("$SERVER_BIN" rollout create --name r --bundle "$BUNDLE_ID" | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null
AID=$(action_of gw-1 "$TOK")
[ -n "$AID" ] || t_fail "no deployment for gw-1"
FB="/default/controller/v1/gw-1/deploymentBase/$AID/feedback"

# raw PORT TLS(0|1) FILE...: sends each FILE's bytes on a connection of its own, all of
# them before reading, then prints one line per FILE: the status code of every response
# until the server closed, space separated, or "send-failed" (reset or broken pipe).
raw() {
        python3 - "$CA" "$@" <<'PY'
import socket, ssl, sys
ca, port, tls, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4:]
for path in paths:
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    if tls:
        s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="127.0.0.1")
    try:
        s.sendall(open(path, "rb").read())
    except OSError as e:
        print("send-failed")
        continue
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ssl.SSLError, OSError):
            break
        if not chunk:
            break
        data += chunk
    s.close()
    print(" ".join(l.split(b" ")[1].decode() for l in data.split(b"\r\n") if l.startswith(b"HTTP/1.1 ")))
PY
}

# request FILE METHOD PATH BODY HEADER...: writes a raw request (CRLF line ends).
request() {
        local f=$1 m=$2 p=$3 body=$4
        shift 4
        {
                printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nAuthorization: TargetToken %s\r\n' "$m" "$p" "$DDI_PORT" "$TOK"
                for h in "$@"; do printf '%s\r\n' "$h"; done
                printf '\r\n%s' "$body"
        } > "$f"
}
feedback_count() {
        mgmt GET "/api/v1/actions/$AID"
        echo "$BODY" | jq '.feedback | length'
}
untouched() {
        mgmt GET "/api/v1/actions/$AID"
        echo "$BODY" | jq -e '.status == "scheduled" and (.feedback | length) == 0' >/dev/null ||
                t_fail "$1 changed the action: $BODY"
}

# The smuggled request: a second feedback that would close the action if it ever ran.
CLOSE='{"status":{"execution":"closed","result":{"finished":"success"}}}'
SMUGGLED=$(printf 'POST %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nAuthorization: TargetToken %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
        "$FB" "$DDI_PORT" "$TOK" "${#CLOSE}" "$CLOSE")
request "$T_ROOT/te-cl" POST "$FB" $'0\r\n\r\n'"$SMUGGLED" "Content-Type: application/json" \
        "Content-Length: 5" "Transfer-Encoding: chunked"
codes=$(raw "$DDI_PORT" 1 "$T_ROOT/te-cl")
[ "$codes" = 400 ] || t_fail "Content-Length + Transfer-Encoding: expected one 400, got '$codes'"
untouched "the bytes after a Content-Length + Transfer-Encoding body"
t_pass "Content-Length with Transfer-Encoding → one 400, the bytes after it never run"

PROCEED='{"status":{"execution":"proceeding","result":{"finished":"none"}}}'
request "$T_ROOT/cl-cl" POST "$FB" "$PROCEED$SMUGGLED" "Content-Type: application/json" \
        "Content-Length: ${#PROCEED}" "Content-Length: $(( ${#PROCEED} + ${#SMUGGLED} ))"
request "$T_ROOT/sp" POST "$FB" "$PROCEED" "Content-Type: application/json" "Content-Length : ${#PROCEED}"
request "$T_ROOT/gz" POST "$FB" "$PROCEED" "Content-Type: application/json" "Transfer-Encoding: gzip"
mapfile -t codes < <(raw "$DDI_PORT" 1 "$T_ROOT/cl-cl" "$T_ROOT/sp" "$T_ROOT/gz")
[ "${codes[0]}" = 400 ] || t_fail "differing Content-Length headers: expected one 400, got '${codes[0]}'"
[ "${codes[1]}" = 400 ] || t_fail "white space before the colon: expected 400, got '${codes[1]}'"
[ "${codes[2]}" = 501 ] || t_fail "Transfer-Encoding gzip: expected 501, got '${codes[2]}'"
untouched "a request with differing Content-Length headers, a bad header name or an unknown coding"
t_pass "differing Content-Length headers or a header name with white space → 400, an unknown coding → 501"

# Equal duplicates are harmless and accepted; the action really takes feedback.
request "$T_ROOT/same" POST "$FB" "$PROCEED" "Content-Type: application/json" \
        "Content-Length: ${#PROCEED}" "Content-Length: ${#PROCEED}" "Connection: close"
codes=$(raw "$DDI_PORT" 1 "$T_ROOT/same")
[ "$codes" = 200 ] || t_fail "equal Content-Length headers: expected 200, got '$codes'"
[ "$(feedback_count)" = 1 ] || t_fail "feedback not stored: $BODY"
t_pass "equal duplicate Content-Length headers → 200"

# 16 MiB to a 64 KiB DDI limit, written in full before the answer is read.
request "$T_ROOT/big" POST "$FB" "" "Content-Type: application/json" "Content-Length: $((16 << 20))"
head -c $((16 << 20)) /dev/zero >> "$T_ROOT/big"
codes=$(raw "$DDI_PORT" 1 "$T_ROOT/big")
[ "$codes" = 413 ] || t_fail "16 MiB body written in full: expected 413, got '$codes'"
t_pass "a 16 MiB DDI body written in full reads its 413"

# The same for the management listener: over max_bundle_size, and without a token.
upload() {
        printf 'POST /api/v1/bundles HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nAuthorization: Bearer %s\r\n' "$MGMT_PORT" "$1"
        printf 'Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n' $((16 << 20))
        head -c $((16 << 20)) /dev/zero
}
upload "$ADMIN_TOKEN" > "$T_ROOT/upload"
upload wrong-token-0123456789 > "$T_ROOT/upload-401"
mapfile -t codes < <(raw "$MGMT_PORT" 0 "$T_ROOT/upload" "$T_ROOT/upload-401")
[ "${codes[0]}" = 413 ] || t_fail "16 MiB upload written in full: expected 413, got '${codes[0]}'"
[ "${codes[1]}" = 401 ] || t_fail "16 MiB upload with a wrong token: expected 401, got '${codes[1]}'"
[ -z "$(ls "$SRV_STATE/spool")" ] || t_fail "a refused upload left a spool file"
t_pass "a 16 MiB upload written in full reads its 413 (or 401 without a valid token)"

srv_alive || t_fail "server died"
srv_stop
t_pass "server shut down cleanly"
