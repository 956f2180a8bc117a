#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_plain_links.sh — the target token never travels in clear text:
#   * berth-server's links point at a plain http:// address (ddi.public_url), while the
#     agent talks to it over https: the agent does not follow them with its token; the
#     plain listener there receives no request, and the status says why;
#   * server.url = http://… without server.insecure: the agent says so once at start,
#     loudly, and sends nothing.
source "$(dirname "$0")/../lib/harness.sh"

# A plain HTTP listener that records every request (and whether it carried credentials).
python3 - "$T_ROOT/plain.port" "$T_ROOT/plain.log" <<'PY' &
import http.server, os, sys
port_file, log = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def _any(self):
        with open(log, "a") as f:
            f.write("REQ %s %s auth=%s\n" % (self.command, self.path, "yes" if self.headers.get("Authorization") else "no"))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_POST = do_PUT = do_HEAD = _any
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
PY
PLAIN=$!
t_defer "kill $PLAIN 2>/dev/null || true"
t_wait_for 'test -s "$T_ROOT/plain.port"' 20 || t_fail "the plain listener did not start"
PPORT=$(cat "$T_ROOT/plain.port")
: >"$T_ROOT/plain.log"

agent_env_setup "[ddi]" "public_url = http://127.0.0.1:$PPORT"
t_make_image -o "$T_ROOT/img.tar" --random-layers 1 --random-size 64K --seed plain
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img.tar"
srv_upload "$T_ROOT/app-1.berth"
B1=$BUNDLE_ID

# ---- https server, http:// links --------------------------------------------------------
agent_add gw
agent_start gw
rollout_create "$(jq -cn --argjson b "$B1" '{name: "r", bundleId: $b, filter: {controllerId: "gw"}}')"
err=
refused() {
        err=$(agent_status gw | jq -r '.agent.lastError // ""')
        [[ $err == *"refusing to send credentials over plain HTTP"* ]]
}
t_wait_for refused 30 || t_fail "the agent did not refuse the http:// link: lastError '$err'"
t_assert_contains "$err" "http://127.0.0.1:$PPORT/" "the refusal names the link"
[ ! -s "$T_ROOT/plain.log" ] || t_fail "the plain listener was contacted: $(cat "$T_ROOT/plain.log")"
agent_has gw app 1 && t_fail "the agent installed a bundle through a link it must not follow"
agent_stop gw
t_pass "http:// links from an https server are not followed: '$err'"

# ---- server.url = http:// without server.insecure --------------------------------------------
agent_add gw2
sed -i "s|^url = .*|url = http://127.0.0.1:$PPORT|" "${AGENT_DIR[gw2]}/agent.conf"
agent_start gw2
LOG2=${AGENT_DIR[gw2]}/agent.log
t_wait_for '[ -n "$(agent_status gw2 | jq -r ".agent.lastError // empty")" ]' 30 ||
        t_fail "the agent with an http:// server.url shows no error"
n=$(grep -c "server.url is plain http://: the token would travel in clear text, so no request is sent" "$LOG2" || true)
t_assert_eq "$n" 1 "the plain-http warning at start (count)"
[ ! -s "$T_ROOT/plain.log" ] || t_fail "the agent sent a request over plain http: $(cat "$T_ROOT/plain.log")"
agent_stop gw2
t_pass "server.url = http:// without server.insecure: said once at start, nothing sent"
