#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server under idle connections: one client address holding many silent connections
# to the management or the DDI listener never delays another client's request (connection
# limit per address), and the server closes silent connections after request_timeout,
# while a connection that sent a request keeps the longer idle timeout (keep-alive).
source "$(dirname "$0")/../lib/harness.sh"
command -v python3 >/dev/null || { echo "missing python3" >&2; exit 77; }

srv_config "[ddi]" "max_connections = 40" "max_connections_per_address = 10" "request_timeout = 2" \
        "[mgmt]" "request_timeout = 2"
srv_start
TOK=limits-token-0123456789
mgmt POST /api/v1/targets "{\"controllerId\":\"gw-1\",\"token\":\"$TOK\"}"
expect_code 201 "register"

# hold PORT N OUT: opens N silent TCP connections from 127.0.0.2 and keeps them; OUT gets
# "open K" lines (connections the server has not closed) until the holder is killed.
HOLDERS=()
hold() {
        python3 - "$1" "$2" "$3" <<'PY' &
import os, select, socket, sys
port, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(n):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", port))
        socks.append(s)
    except OSError:
        s.close()
while True:
    for s in select.select(socks, [], [], 0.05)[0]:
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            socks.remove(s)
            s.close()
    with open(out + ".tmp", "w") as f:
        f.write("open %d\n" % len(socks))
    os.replace(out + ".tmp", out)
PY
        HOLDERS+=($!)
}
stop_holders() {
        for p in "${HOLDERS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
        HOLDERS=()
}
t_defer stop_holders
holder_open() { sed -n 's/^open //p' "$1" 2>/dev/null; }
holder_ready() { [ -n "$(holder_open "$1")" ]; }

# timed CMD...: runs CMD, leaves the wall time in milliseconds in $MS; returns CMD's status.
timed() {
        local t0 rc=0
        t0=$(date +%s%N)
        "$@" || rc=$?
        MS=$(( ($(date +%s%N) - t0) / 1000000 ))
        return "$rc"
}

# Management API: 100 silent connections from 127.0.0.2 (more than mgmt.max_connections).
hold "$MGMT_PORT" 100 "$T_ROOT/mgmt-hold"
t_wait_for 'holder_ready "$T_ROOT/mgmt-hold"' 10 || t_fail "the holder did not connect"
timed mgmt GET /api/v1/health "" --max-time 5
expect_code 200 "management request beside 100 idle connections"
[ "$MS" -lt 2000 ] || t_fail "a management request took $MS ms beside 100 idle connections of another address"
t_pass "management API answers in $MS ms beside 100 idle connections from another address"

# DDI: 60 silent connections from 127.0.0.2 (more than ddi.max_connections = 40).
hold "$DDI_PORT" 60 "$T_ROOT/ddi-hold"
t_wait_for 'holder_ready "$T_ROOT/ddi-hold"' 10 || t_fail "the holder did not connect"
timed ddi GET gw-1 "" "$TOK" "" --max-time 5
expect_code 200 "poll beside 60 idle connections"
[ "$MS" -lt 2000 ] || t_fail "a poll took $MS ms beside 60 idle connections of another address"
t_pass "DDI poll answers in $MS ms beside 60 idle connections from another address"

# No address holds more than its share, and silent connections go after request_timeout.
[ "$(holder_open "$T_ROOT/mgmt-hold")" -le 16 ] || t_fail "mgmt kept $(holder_open "$T_ROOT/mgmt-hold") connections of one address"
[ "$(holder_open "$T_ROOT/ddi-hold")" -le 10 ] || t_fail "DDI kept $(holder_open "$T_ROOT/ddi-hold") connections of one address"
all_closed() { [ "$(holder_open "$T_ROOT/mgmt-hold")" = 0 ] && [ "$(holder_open "$T_ROOT/ddi-hold")" = 0 ]; }
timed t_wait_for all_closed 6 || t_fail "silent connections still open after request_timeout: mgmt" \
        "$(holder_open "$T_ROOT/mgmt-hold"), DDI $(holder_open "$T_ROOT/ddi-hold")"
t_pass "silent connections: at most the per-address limit kept, all closed within request_timeout ($MS ms)"
stop_holders

# A connection that sent a request keeps idle_timeout: a second request after more than
# request_timeout of silence is answered on the same connection.
python3 - "$MGMT_PORT" "$ADMIN_TOKEN" <<'PY' || t_fail "keep-alive after a request did not survive request_timeout"
import socket, sys, time
port, tok = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
req = ("GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n" % tok).encode()
def ask():
    s.sendall(req)
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection closed: %r" % data)
        data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data
ask()
time.sleep(3)  # longer than request_timeout (2 s), shorter than idle_timeout (60 s)
ask()
PY
t_pass "a connection that sent a request keeps the idle timeout"

srv_stop
t_pass "server shut down cleanly"
