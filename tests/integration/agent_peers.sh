#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_peers.sh — gateways of one site fetch an update's blobs from each other ([peers];
# agent/peers/README.md), on loopback, through the counting proxy in front of the server:
#   * gw-a installs app 1 over the WAN (every blob through the proxy) and serves its store;
#   * its peer server takes a request signed with the site key once, and refuses the same
#     request replayed (the signature is made here by Python's hmac, not by berth);
#   * gw-b (its list starts with a dead peer), gw-c (starts with a lying peer that serves
#     every blob with its first byte flipped), gw-x (starts with one that lies and hangs
#     up halfway) and gw-d (another site's key) install app 1 together: gw-b, gw-c and
#     gw-x get every blob from gw-a and nothing but the head over the WAN; gw-c threw the
#     liar's bytes away, stored only verified blobs and avoids it; gw-x did not resume the
#     cutter's bytes from gw-a (so it did not blame gw-a);
#     gw-d was refused (gw-a logs it) and fetched over the WAN; the feedback, gw-a's
#     metrics, gw-b's telemetry and the proxy's byte count say so;
#   * a key file others can read: the agent runs, without peers, and says why;
#   * four gateways that list each other install app 2 together: the WAN carries its
#     blobs once (≤ 1.1× and the heads), the peers three times.
# shellcheck disable=SC2016 # t_wait_for conditions are expanded when evaluated
# (On loopback, with discovery off: multicast would leave for the host's network.
# agent_peers_lan.sh runs discovery in network namespaces.)
source "$(dirname "$0")/../lib/harness.sh"

command -v python3 >/dev/null || t_skip "python3 not installed (scripts/deps.sh)"
AGENT_PROXY=1 agent_env_setup

sitekey() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1" && chmod 600 "$1"; }
sitekey "$T_ROOT/site.key"
sitekey "$T_ROOT/other.key"
t_make_image -o "$T_ROOT/img1.tar" --random-layers 3 --random-size 1M --seed peers
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img1.tar"
BLOBS=$(tar -xOf "$T_ROOT/app-1.berth" manifest.json | jq '[.blobs[].size] | add')
NBLOBS=$(tar -xOf "$T_ROOT/app-1.berth" manifest.json | jq '.blobs | length')

PA=$(t_free_port)
PB=$(t_free_port)
MA=$(t_free_port)
DEAD=$(t_free_port) # nobody listens there
agent_add gw-a "[peers]" "discovery = false" "key_file = $T_ROOT/site.key" "listen = 127.0.0.1:$PA" "max_connections = 16" \
        "[metrics]" "listen = 127.0.0.1:$MA"
agent_start gw-a
t_assert_contains "$(cat "${AGENT_DIR[gw-a]}/agent.log")" "serving verified blobs to site peers on 127.0.0.1:$PA" \
        "gw-a serves its store"

srv_upload "$T_ROOT/app-1.berth"
V1=$BUNDLE_ID
w0=$(proxy_bytes)
rollout_create "$(jq -cn --argjson b "$V1" '{name: "a", bundleId: $b, filter: {controllerId: "gw-a"}}')"
t_wait_for 'agent_has gw-a app 1' 60 || t_fail "app 1 not installed on gw-a"
wan_a=$(($(proxy_bytes) - w0))
[ "$wan_a" -ge "$BLOBS" ] || t_fail "gw-a fetched $wan_a bytes over the WAN, the bundle's blobs are $BLOBS"
t_pass "gw-a installed app 1 over the WAN ($wan_a bytes through the proxy, $BLOBS of blobs)"

# The wire protocol, from an independent implementation: signed once, refused replayed.
LAYER=$(tar -xOf "$T_ROOT/app-1.berth" manifest.json | jq -r '.blobs[-1].digest')
AUTH=$(python3 - "$T_ROOT/site.key" "/v2/blobs/$LAYER" <<'PY'
import hashlib, hmac, os, sys, time
key = bytes.fromhex(open(sys.argv[1]).read().strip())
t, n = str(int(time.time())), os.urandom(16).hex()
msg = "berth-peer v1\nGET\n%s\n\n%s\n%s" % (sys.argv[2], t, n)
print("Berth-Peer v=1, t=%s, n=%s, mac=%s" % (t, n, hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()))
PY
)
get() { curl -s -o "$T_ROOT/got" -w '%{http_code}' -H "Authorization: $1" "http://127.0.0.1:$PA/v2/blobs/$LAYER"; }
t_assert_eq "$(get "$AUTH")" 200 "a request signed with the site key gets the blob"
t_assert_eq "sha256:$(sha256sum <"$T_ROOT/got" | cut -d' ' -f1)" "$LAYER" "the blob's bytes"
t_assert_eq "$(get "$AUTH")" 401 "the same request replayed is refused"
t_assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PA/v2/blobs/$LAYER")" 401 \
        "a request without the site key is refused"
t_pass "the peer server: signed request 200, replay 401, unsigned 401"

python3 "$BERTH_SRC/tests/lib/liarpeer.py" "${AGENT_DIR[gw-a]}/state/store" "$T_ROOT/liar.port" 2>"$T_ROOT/liar.log" &
LIAR_PID=$!
t_defer "kill $LIAR_PID"
t_wait_for "test -s '$T_ROOT/liar.port'" 10 || t_fail "the lying peer did not start: $(cat "$T_ROOT/liar.log")"
LIAR=$(cat "$T_ROOT/liar.port")
python3 "$BERTH_SRC/tests/lib/liarpeer.py" "${AGENT_DIR[gw-a]}/state/store" "$T_ROOT/cutter.port" cut 2>"$T_ROOT/cutter.log" &
CUTTER_PID=$!
t_defer "kill $CUTTER_PID"
t_wait_for "test -s '$T_ROOT/cutter.port'" 10 || t_fail "the cutting liar did not start: $(cat "$T_ROOT/cutter.log")"
CUTTER=$(cat "$T_ROOT/cutter.port")

agent_add gw-b "[peers]" "discovery = false" "key_file = $T_ROOT/site.key" "listen = 127.0.0.1:$PB" \
        "peers = 127.0.0.1:$DEAD, 127.0.0.1:$PA"
agent_add gw-c "[peers]" "discovery = false" "key_file = $T_ROOT/site.key" "peers = 127.0.0.1:$LIAR, 127.0.0.1:$PA"
agent_add gw-d "[peers]" "discovery = false" "key_file = $T_ROOT/other.key" "peers = 127.0.0.1:$PA"
agent_add gw-x "[peers]" "discovery = false" "key_file = $T_ROOT/site.key" "peers = 127.0.0.1:$CUTTER, 127.0.0.1:$PA"
for g in gw-b gw-c gw-d gw-x; do agent_start "$g"; done
w0=$(proxy_bytes)
rollout_create "$(jq -cn --argjson b "$V1" '{name: "bcd", bundleId: $b, filter: {controllerId: "gw-[bcdx]"}}')"
t_wait_for 'agent_has gw-b app 1 && agent_has gw-c app 1 && agent_has gw-d app 1 && agent_has gw-x app 1' 90 ||
        t_fail "app 1 not installed on gw-b, gw-c, gw-d and gw-x"
wan=$(($(proxy_bytes) - w0))

said() { action_json "$1" | jq -r '[.. | .details? // empty] | flatten | map(select(test("^installed app 1"))) | .[0] // ""'; }
peer_bytes() { said "$1" | sed -n 's/.* (\([0-9]*\) from site peers, \([0-9]*\) over the WAN).*/\1 \2/p'; }
for g in gw-b gw-c gw-x; do
        read -r from_peers over_wan <<<"$(peer_bytes "$g")"
        [ -n "$from_peers" ] || t_fail "$g: its feedback does not count bytes from site peers: $(said "$g")"
        t_assert_eq "$over_wan" 0 "$g fetched no blob bytes over the WAN"
        [ "$from_peers" -ge "$BLOBS" ] || t_fail "$g: $from_peers bytes from peers, the blobs are $BLOBS"
done
read -r from_peers_b _ <<<"$(peer_bytes gw-b)"
t_assert_eq "$from_peers_b" "$BLOBS" "gw-b got exactly the blobs from gw-a"
# telemetry carries the same split
staged_event() {
        mgmt GET "/api/v1/targets/gw-b/telemetry?after=0&limit=1000"
        echo "$BODY" | jq -r '.records[] | select(.kind == "event") | .text' | grep '^update app 1 staged'
}
t_wait_for 'staged_event | grep -q "$BLOBS from site peers, 0 over the WAN"' 30 ||
        t_fail "gw-b's telemetry does not say where app 1 came from: $(staged_event)"
t_assert_contains "$(cat "${AGENT_DIR[gw-b]}/agent.log")" "site peer 127.0.0.1:$DEAD" "gw-b noticed the dead peer"
t_assert_contains "$(cat "${AGENT_DIR[gw-c]}/agent.log")" \
        "site peer 127.0.0.1:$LIAR served blob" "gw-c caught the liar"
t_assert_contains "$(cat "${AGENT_DIR[gw-c]}/agent.log")" "do not match its digest" "gw-c says why"
for d in "${AGENT_DIR[gw-c]}"/state/store/blobs/sha256/* "${AGENT_DIR[gw-x]}"/state/store/blobs/sha256/*; do
        t_assert_eq "$(sha256sum <"$d" | cut -d' ' -f1)" "$(basename "$d")" "gw-c and gw-x stored only verified blobs"
done
# gw-x: the cutter lied, then hung up. Its bytes were not resumed from gw-a (which would
# then have been blamed for them).
t_assert_contains "$(cat "${AGENT_DIR[gw-x]}/agent.log")" "site peer 127.0.0.1:$CUTTER could not deliver" \
        "gw-x noticed the peer that hung up"
if grep -q "site peer 127.0.0.1:$PA served blob" "${AGENT_DIR[gw-x]}/agent.log"; then
        t_fail "gw-x blamed gw-a for the cutter's bytes: $(grep 'site peer' "${AGENT_DIR[gw-x]}/agent.log")"
fi
t_assert_eq "$(said gw-d | grep -c 'site peers')" 0 "gw-d got nothing from peers: $(said gw-d)"
t_assert_contains "$(cat "${AGENT_DIR[gw-d]}/agent.log")" "refuses this gateway's site key" "gw-d was refused"
# gw-a logs refusals (at most one line per 10 s) and counts each one.
t_assert_contains "$(cat "${AGENT_DIR[gw-a]}/agent.log")" "refused: the request's nonce was used already" \
        "gw-a logged the replay"
metric() { curl -s "http://127.0.0.1:$MA/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
unauth=$(metric 'berth_peer_requests_total{answer="unauthorized"}')
[ "${unauth:-0}" -ge 3 ] || t_fail "gw-a counted ${unauth:-no} unauthorized peer requests (a replay, an unsigned one, gw-d's)"
served=$(metric berth_peer_served_bytes_total)
[ "${served:-0}" -ge $((2 * BLOBS)) ] || t_fail "gw-a served ${served:-no} bytes; gw-b and gw-c needed $BLOBS each"
# The WAN carried gw-d's blobs and four heads (4 KiB each, 16 KiB allowed), nothing more.
[ "$wan" -ge "$BLOBS" ] && [ "$wan" -le $((BLOBS + 4 * 16384)) ] ||
        t_fail "the WAN carried $wan bytes for gw-b, gw-c, gw-d and gw-x; gw-d's blobs are $BLOBS"
t_pass "gw-b, gw-c from gw-a (WAN 0 blob bytes), gw-d over the WAN: $wan bytes through the proxy for $NBLOBS blobs of $BLOBS bytes"
# A [peers] that cannot work (a key file others can read) costs the peers, not the agent.
chmod 644 "$T_ROOT/other.key"
agent_add gw-y "[peers]" "discovery = false" "key_file = $T_ROOT/other.key" "peers = 127.0.0.1:$PA"
agent_start gw-y
t_assert_contains "$(cat "${AGENT_DIR[gw-y]}/agent.log")" "site peers are off: the site key $T_ROOT/other.key can be read by group or others (mode 644); chmod 600 it" \
        "a key file with the wrong mode: peers off, said once"
t_assert_contains "$(agent_status gw-y | jq -r .agent.status)" "polling" "the agent runs without peers"

# An offline site: gw-a imports app 3 from a USB stick (through its agent); the other
# gateways take it from the site's peers, verified as a download, the WAN unused. gw-z
# has no agent and no server at all; gw-b imports through its running agent.
t_make_image -o "$T_ROOT/img3.tar" --random-layers 2 --random-size 1M --seed peers-3
t_bundle "$T_ROOT/app-3.berth" --name app --version 3 --image "$T_ROOT/img3.tar"
BLOBS3=$(tar -xOf "$T_ROOT/app-3.berth" manifest.json | jq '[.blobs[].size] | add')
"$BERTH" import --config "${AGENT_DIR[gw-a]}/agent.conf" --source usb "$T_ROOT/app-3.berth" >/dev/null ||
        t_fail "gw-a: the USB import of app 3 failed"
mkdir -p "$T_ROOT/gw-z"
cat >"$T_ROOT/gw-z/agent.conf" <<CONF
state_dir = $T_ROOT/gw-z/state
trust_dir = $T_TRUST
[control]
socket = $T_ROOT/gw-z/none.sock
[peers]
discovery = false
key_file = $T_ROOT/site.key
peers = 127.0.0.1:$LIAR, 127.0.0.1:$PA
CONF
AGENT_DIR[gw-z]=$T_ROOT/gw-z
w0=$(proxy_bytes)
out=$("$BERTH" import --from-peers --config "$T_ROOT/gw-z/agent.conf" app 3 2>&1) || t_fail "gw-z: import --from-peers failed: $out"
echo "$out"
agent_has gw-z app 3 || t_fail "gw-z: app 3 not installed after import --from-peers"
t_assert_contains "$out" "from site peers: gw-a (127.0.0.1:$PA)" "gw-z names the peer that served app 3"
t_assert_contains "$out" "site peer 127.0.0.1:$LIAR served blob" "gw-z caught the lying peer"
for d in "$T_ROOT"/gw-z/state/store/blobs/sha256/*; do
        t_assert_eq "$(sha256sum <"$d" | cut -d' ' -f1)" "$(basename "$d")" "gw-z stored only verified blobs"
done
out=$("$BERTH" import --from-peers --config "${AGENT_DIR[gw-b]}/agent.conf" app 3 2>&1) ||
        t_fail "gw-b: import --from-peers failed: $out"
t_assert_contains "$out" "(through the agent)" "gw-b's import went through its agent"
agent_has gw-b app 3 || t_fail "gw-b: app 3 not installed after import --from-peers"
t_assert_eq "$(($(proxy_bytes) - w0))" 0 "WAN bytes while two gateways imported app 3 from peers"
out=$("$BERTH" import --from-peers --config "$T_ROOT/gw-z/agent.conf" app 9 2>&1) && t_fail "app 9 from peers: $out"
t_assert_contains "$out" "none of the 2 site peer(s) found has app 9" "a version no peer has"
t_pass "offline site: gw-a from the USB stick, gw-z and gw-b from it ($BLOBS3 bytes of blobs each), the WAN unused"

for g in gw-a gw-b gw-c gw-d gw-x gw-y; do agent_stop "$g"; done

# Four gateways that list each other start app 2 (new layers) together: one of them
# fetches each blob over the WAN, the others follow its download as it arrives.
t_make_image -o "$T_ROOT/img2.tar" --random-layers 3 --random-size 2M --seed peers-2
t_bundle "$T_ROOT/app-2.berth" --name app --version 2 --image "$T_ROOT/img2.tar"
BLOBS2=$(tar -xOf "$T_ROOT/app-2.berth" manifest.json | jq '[.blobs[].size] | add')
declare -A PORT
for g in gw-e gw-f gw-g gw-h; do PORT[$g]=$(t_free_port); done
for g in gw-e gw-f gw-g gw-h; do
        list=""
        for o in gw-e gw-f gw-g gw-h; do [ "$o" = "$g" ] || list+="${list:+, }127.0.0.1:${PORT[$o]}"; done
        # The WAN at 1 MiB/s, so the others start while the first one is still downloading.
        # (max_connections: on loopback every gateway has the same address.)
        agent_add "$g" "[peers]" "discovery = false" "key_file = $T_ROOT/site.key" "listen = 127.0.0.1:${PORT[$g]}" "peers = $list" \
                "max_connections = 16" "[download]" "bandwidth = 1M"
        agent_start "$g"
done
srv_upload "$T_ROOT/app-2.berth"
w0=$(proxy_bytes)
rollout_create "$(jq -cn --argjson b "$BUNDLE_ID" '{name: "together", bundleId: $b, filter: {controllerId: "gw-[efgh]"}}')"
t_wait_for 'agent_has gw-e app 2 && agent_has gw-f app 2 && agent_has gw-g app 2 && agent_has gw-h app 2' 120 ||
        t_fail "app 2 not installed on gw-e..gw-h"
wan=$(($(proxy_bytes) - w0))
peers_total=0
for g in gw-e gw-f gw-g gw-h; do
        installed=$(action_json "$g" | jq -r '[.. | .details? // empty] | flatten | map(select(test("^installed app 2"))) | .[0] // ""')
        p=$(echo "$installed" | sed -n 's/.* (\([0-9]*\) from site peers.*/\1/p')
        echo "$g: $installed"
        peers_total=$((peers_total + ${p:-0}))
done
# Once over the WAN (and four heads), three times from peers.
[ "$wan" -le $((BLOBS2 * 11 / 10 + 4 * 16384)) ] ||
        t_fail "four gateways that start together moved $wan bytes over the WAN for app 2's $BLOBS2 bytes of blobs"
[ "$peers_total" -ge $((BLOBS2 * 3)) ] || t_fail "the four got $peers_total bytes from peers; expected 3 x $BLOBS2"
# They followed a download in progress: some found blobs being fetched or wanted by a peer.
logs=$(cat "${AGENT_DIR[gw-e]}/agent.log" "${AGENT_DIR[gw-f]}/agent.log" "${AGENT_DIR[gw-g]}/agent.log" "${AGENT_DIR[gw-h]}/agent.log")
t_log "what they found: $(grep -o 'of [0-9]* missing blob(s), site peers hold.*' <<<"$logs" | tr '\n' ';')"
grep -qE "site peers hold [0-9]+, are fetching [1-9]|want [1-9][0-9]* more" <<<"$logs" ||
        t_fail "no gateway found app 2's blobs still downloading on a peer: $(grep 'site peers hold' <<<"$logs")"
t_pass "four gateways together: $wan bytes over the WAN for $BLOBS2 bytes of blobs ($((wan * 100 / BLOBS2)) %), $peers_total from peers"
for g in gw-e gw-f gw-g gw-h; do agent_stop "$g"; done
