#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_control.sh — the control socket and systemd integration of `berth agent`:
#   * sd_notify against a real NOTIFY_SOCKET (a datagram socket this test listens on):
#     READY=1 once the socket listens, STATUS= lines, WATCHDOG=1 from the event loop
#     (WATCHDOG_USEC set), STOPPING=1 on SIGTERM, exit status 0;
#   * `berth status` and `berth import` go through the running agent (one writer);
#     the import is reported to the server through installedBase;
#   * a non-root caller is refused: by the socket's permissions, and — with the socket
#     opened up — by the daemon's SO_PEERCRED check; members of control.group are let in,
#     and a caller can only import files it may read itself;
#   * without an agent, status and import work directly, as before.
source "$(dirname "$0")/../lib/harness.sh"

agent_env_setup
t_make_image -o "$T_ROOT/img.tar" --random-layers 1 --random-size 64K --seed ctl
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar"
t_bundle "$T_ROOT/app-2.berth" --name app --version 2 --image "$T_ROOT/img.tar"
t_bundle "$T_ROOT/tool-1.berth" --name tool --version 1 --image "$T_ROOT/img.tar"

# ---- notify socket -------------------------------------------------------------------
NS="$SOCK_DIR/notify"
python3 - "$NS" "$T_ROOT/notify.log" <<'PY' &
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "a", buffering=1) as f:
    while True:
        data = s.recv(4096).decode(errors="replace")
        for line in data.split("\n"):
            if line:
                f.write(line + "\n")
PY
NOTIFY_PID=$!
t_defer "kill $NOTIFY_PID"
t_wait_for 'test -S "$NS"' 10 || t_fail "notify listener did not start"

agent_add gw-ctl
agent_start gw-ctl NOTIFY_SOCKET="$NS" WATCHDOG_USEC=400000
t_wait_for "grep -q '^READY=1' '$T_ROOT/notify.log'" 10 || t_fail "no READY=1"
t_wait_for "grep -q '^STATUS=polling' '$T_ROOT/notify.log'" 10 || t_fail "no STATUS=polling: $(cat "$T_ROOT/notify.log")"
t_wait_for "[ \$(grep -c '^WATCHDOG=1' '$T_ROOT/notify.log') -ge 3 ]" 10 || t_fail "no periodic WATCHDOG=1"
t_pass "sd_notify: READY=1, STATUS=polling, WATCHDOG=1 every $((400 / 2)) ms or so"

# ---- status and import through the agent ------------------------------------------------
CONF=${AGENT_DIR[gw-ctl]}/agent.conf
st=$("$BERTH" status --json --config "$CONF")
echo "$st" | jq -e '.agent.pid' >/dev/null || t_fail "status did not come from the agent: $st"
out=$("$BERTH" import --config "$CONF" "$T_ROOT/app-1.berth")
echo "$out" | grep -q "through the agent" || t_fail "import did not go through the agent: $out"
agent_has gw-ctl app 1 || t_fail "app 1 not imported"
grep -q "agent:   running" <<<"$("$BERTH" status --config "$CONF")" || t_fail "text status lacks the agent line"
# The server learns about the USB/CLI import through installedBase.
reported() {
        mgmt GET /api/v1/targets/gw-ctl
        echo "$BODY" | jq -e '.reported.name == "app" and (.reported.version | tostring) == "1"' >/dev/null
}
t_wait_for reported 20 || t_fail "installedBase not reported: $BODY"
grep -q '^STATUS=importing' "$T_ROOT/notify.log" || t_fail "no STATUS line for the import"
t_pass "status and import go through the agent; the import was reported via installedBase"

# ---- non-root callers -----------------------------------------------------------------
SOCK="$SOCK_DIR/gw-ctl.sock"
EMPTY=$(mktemp /tmp/bempty.XXXXXX)   # a config file user nobody can read (the test's dirs are 0700)
t_defer "rm -f '$EMPTY'"
chmod 0644 "$EMPTY"
chmod 0644 "$T_ROOT/app-2.berth"
t_out=$(runuser -u nobody -- "$BERTH" status --socket "$SOCK" --config "$EMPTY" 2>&1) && t_fail "nobody got a status: $t_out"
echo "$t_out" | grep -qi "permission denied" || t_fail "unclear refusal: $t_out"
# Open the socket file to everyone: the daemon's own SO_PEERCRED check must refuse.
chmod 0755 "$SOCK_DIR"
chmod 0666 "$SOCK"
t_out=$(runuser -u nobody -- "$BERTH" status --socket "$SOCK" --config "$EMPTY" 2>&1) && t_fail "nobody got a status: $t_out"
echo "$t_out" | grep -q "accepts root" || t_fail "the daemon did not refuse by credentials: $t_out"
t_out=$(runuser -u nobody -- "$BERTH" import --socket "$SOCK" --config "$EMPTY" "$T_ROOT/app-2.berth" 2>&1) &&
        t_fail "nobody imported: $t_out"
agent_has gw-ctl app 2 && t_fail "app 2 was imported for nobody"
grep -q "caller uid 65534" "${AGENT_DIR[gw-ctl]}/agent.log" || t_fail "the refusal was not logged"
t_pass "non-root callers refused (socket permissions, then SO_PEERCRED)"

# control.group lets a group in — as a primary or a supplementary group (SO_PEERGROUPS).
agent_stop gw-ctl
printf '[control]\ngroup = users\n' >> "$CONF"
agent_start gw-ctl
[ "$(stat -c '%a %G' "$SOCK")" = "660 users" ] || t_fail "socket mode/group: $(stat -c '%a %G' "$SOCK")"
as_member() { setpriv --reuid=65534 --regid=65534 --groups="$(getent group users | cut -d: -f3)" -- "$@"; }
as_stranger() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
as_member "$BERTH" status --json --socket "$SOCK" --config "$EMPTY" | jq -e .agent.pid >/dev/null ||
        t_fail "a member of control.group (supplementary) was refused"
as_stranger "$BERTH" status --json --socket "$SOCK" --config "$EMPTY" >/dev/null 2>&1 && t_fail "a non-member got in"
setpriv --reuid=65534 --regid="$(getent group users | cut -d: -f3)" --clear-groups -- \
        "$BERTH" status --json --socket "$SOCK" --config "$EMPTY" | jq -e .agent.pid >/dev/null ||
        t_fail "a member of control.group (primary) was refused"
# … but imports only what the caller may read.
chmod 0600 "$T_ROOT/tool-1.berth"
t_out=$(as_member "$BERTH" import --socket "$SOCK" --config "$EMPTY" "$T_ROOT/tool-1.berth" 2>&1) &&
        t_fail "a group member imported a file it cannot read"
echo "$t_out" | grep -q "cannot open bundle" || t_fail "unclear: $t_out"
agent_has gw-ctl tool 1 && t_fail "tool 1 imported although the caller cannot read it"
t_pass "control.group members may talk to the agent; files are opened with the caller's rights"

# SIGHUP (systemctl reload) does not stop the agent; it says what a reload does.
kill -HUP "${AGENT_PID[gw-ctl]}"
t_wait_for 'grep -q "SIGHUP: configuration changes need a restart" "${AGENT_DIR[gw-ctl]}/agent.log"' 10 || t_fail "no SIGHUP note"
kill -0 "${AGENT_PID[gw-ctl]}" || t_fail "SIGHUP stopped the agent"
t_pass "SIGHUP: agent keeps running and polls"

# ---- clean stop, then direct mode ------------------------------------------------------
kill -TERM "${AGENT_PID[gw-ctl]}"
rc=0
wait "${AGENT_PID[gw-ctl]}" || rc=$?
AGENT_PID[gw-ctl]=""
[ "$rc" = 0 ] || t_fail "agent exit status $rc on SIGTERM"
grep -q '^STOPPING=1' "$T_ROOT/notify.log" || t_fail "no STOPPING=1"
[ ! -e "$SOCK" ] || t_fail "socket left behind"
out=$("$BERTH" import --config "$CONF" "$T_ROOT/app-2.berth")
echo "$out" | grep -q "through the agent" && t_fail "import claims an agent that is not running"
agent_has gw-ctl app 2 || t_fail "direct import failed: $out"
"$BERTH" status --json --config "$CONF" | jq -e '.agent == null' >/dev/null || t_fail "status claims an agent"
t_pass "SIGTERM: STOPPING=1, exit 0, socket removed; without the agent status/import work directly"
