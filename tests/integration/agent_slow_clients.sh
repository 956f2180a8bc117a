#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_slow_clients.sh — no local client can stall the agent's event loop:
#   * a control-socket client that sends its request one byte per second is closed at the
#     5 s request deadline (the agent says so), and `berth status` from another client is
#     answered promptly the whole time;
#   * 20 idle control-socket connections (more than the 16 served at once) and 12 idle
#     metrics connections (more than 8) do not lock out `berth status` or a scrape: the
#     oldest idle connection makes room.
# Before the agent read its clients on the event loop, the trickling client froze it for
# its whole request (SO_RCVTIMEO counts per recv) and idle connections took turns.
source "$(dirname "$0")/../lib/harness.sh"

PEER="$BERTH_SRC/tests/lib/slowpeer.py"
agent_env_setup
agent_add gw-s "[metrics]" "listen = 127.0.0.1:0"
agent_start gw-s
LOG=${AGENT_DIR[gw-s]}/agent.log
SOCK=$SOCK_DIR/gw-s.sock
t_wait_for 'grep -q "Prometheus metrics on http://127.0.0.1:" "$LOG"' 20 || t_fail "no metrics endpoint in the log"
URL=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$LOG" | head -1)

# Milliseconds `berth status` takes through the agent (fails if it does not answer).
status_ms() {
        local t0 t1
        t0=$(date +%s%N)
        agent_status gw-s | jq -e '.agent.pid' >/dev/null || t_fail "berth status did not answer through the agent"
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000000))
}
base=$(status_ms)
# A generous bound: the answer itself takes $base ms here; a stalled loop takes seconds.
limit=$((base + 1500))

# ---- a client trickling its request -----------------------------------------------------
python3 "$PEER" trickle "$SOCK" "$T_ROOT/trickle.log" &
TP=$!
t_defer "kill $TP 2>/dev/null || true"
worst=0
while kill -0 "$TP" 2>/dev/null; do
        ms=$(status_ms)
        [ "$ms" -gt "$worst" ] && worst=$ms
done
wait "$TP" || true
read -r what t sent < "$T_ROOT/trickle.log" || t_fail "the trickling client wrote nothing"
t_assert_eq "$what" closed "the trickling client was not closed by the agent: $(cat "$T_ROOT/trickle.log")"
secs=${t#t=}
python3 -c "import sys; t=float(sys.argv[1]); sys.exit(0 if 4.5 <= t <= 8 else 1)" "$secs" ||
        t_fail "the trickling client was closed after $secs s, not at the 5 s deadline"
grep -q "control socket: closed a connection that did not send a complete request within 5 s" "$LOG" ||
        t_fail "the agent did not say why it closed the client"
[ "$worst" -le "$limit" ] || t_fail "berth status took $worst ms while a client trickled (alone: $base ms)"
t_pass "trickling client closed after $secs s (${sent#sent=} bytes); berth status meanwhile ≤ $worst ms (alone $base ms)"

# ---- idle connections ------------------------------------------------------------------------
python3 "$PEER" idle "unix:$SOCK" 20 "$T_ROOT/idle-ctl.ready" &
IP1=$!
t_defer "kill $IP1 2>/dev/null || true"
hp=${URL#http://}
hp=${hp%/metrics}
python3 "$PEER" idle "tcp:$hp" 12 "$T_ROOT/idle-m.ready" &
IP2=$!
t_defer "kill $IP2 2>/dev/null || true"
t_wait_for 'test -f "$T_ROOT/idle-ctl.ready" && test -f "$T_ROOT/idle-m.ready"' 20 || t_fail "idle clients did not connect"
ms=$(status_ms)
[ "$ms" -le "$limit" ] || t_fail "berth status took $ms ms with 20 idle control connections (alone: $base ms)"
t0=$(date +%s%N)
curl -fsS --max-time 3 "$URL" -o "$T_ROOT/metrics.txt" || t_fail "no scrape with 12 idle metrics connections"
mms=$((($(date +%s%N) - t0) / 1000000))
grep -q '^berth_polls_total' "$T_ROOT/metrics.txt" || t_fail "the scrape has no berth_polls_total: $(head -5 "$T_ROOT/metrics.txt")"
grep -q "control socket: 16 connections open; closed the oldest idle one" "$LOG" ||
        t_fail "the agent did not say it closed an idle control connection"
kill "$IP1" "$IP2"
agent_stop gw-s
t_pass "20 idle control and 12 idle metrics connections: berth status in $ms ms, a scrape in $mms ms"
