#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_peers_lan.sh — site peers on a real (namespaced) plant network: four gateways on a
# LAN bridge with a site key and no peer list, berth-server behind a 20 Mbit/s WAN link
# (tests/lib/site.sh; every address inside namespaces made here):
#   * a staged rollout: the canary g1 fetches app 1 over the WAN; g2..g4, next, find it
#     by multicast and take ≥ 95 % of their bytes from peers;
#   * app 2 to all four at once, and the gateway fetching it over the WAN killed in the
#     middle: the others still install it (from another source), store only blobs that
#     verify, and the killed one installs it after its restart;
#   * an offline site: g1 imports app 3 from a USB stick; g5 (no agent, no peer list) and
#     g2 (through its agent) take it with `berth import --from-peers`, finding g1 by
#     multicast, past a lying peer on the LAN, the WAN unused; a request without the
#     site key and a replayed one are refused on the plant network.
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../lib/site.sh
source "$HERE/../lib/site.sh"
site_enter 5 "$0" "$@"
# shellcheck source=../lib/harness.sh
source "$HERE/../lib/harness.sh"
# shellcheck disable=SC2016 # t_wait_for conditions are expanded when evaluated

site_server
site_key
t_make_image -o "$T_ROOT/img1.tar" --random-layers 3 --random-size 2M --seed lan-1
t_bundle "$T_ROOT/app-1.berth" --name app --version 1 --image "$T_ROOT/img1.tar"
t_make_image -o "$T_ROOT/img2.tar" --random-layers 3 --random-size 8M --seed lan-2
t_bundle "$T_ROOT/app-2.berth" --name app --version 2 --image "$T_ROOT/img2.tar"
blobs() { tar -xOf "$1" manifest.json | jq '[.blobs[].size] | add'; }
B1=$(blobs "$T_ROOT/app-1.berth")
for n in 1 2 3 4; do
        mapfile -t conf < <(site_peers_conf "$n" 4)
        site_gw "g$n" "$n" "${conf[@]}"
done
srv_upload "$T_ROOT/app-1.berth"
V1=$BUNDLE_ID
srv_upload "$T_ROOT/app-2.berth"
V2=$BUNDLE_ID

said() { action_json "$1" | jq -r --arg v "$2" '[.. | .details? // empty] | flatten | map(select(test("^installed app " + $v))) | .[0] // ""'; }
num() { echo "$1" | sed -n "s/$2/\\1/p" | head -1; }

# ---- staged: the canary over the WAN, the next group from peers ----------------------------------
w0=$(site_wan_bytes)
rollout_create "$(jq -cn --argjson b "$V1" '{name: "canary", bundleId: $b, filter: {controllerId: "g1"}}')"
t_wait_for 'agent_has g1 app 1' 60 || t_fail "the canary did not install app 1"
wan=$(($(site_wan_bytes) - w0))
[ "$wan" -ge "$B1" ] || t_fail "the canary moved $wan bytes over the WAN, app 1 has $B1"
rollout_create "$(jq -cn --argjson b "$V1" '{name: "rest", bundleId: $b, filter: {controllerId: "g[234]"}}')"
t_wait_for 'agent_has g2 app 1 && agent_has g3 app 1 && agent_has g4 app 1' 90 || t_fail "g2..g4 did not install app 1"
for g in g2 g3 g4; do
        s=$(said "$g" 1)
        total=$(num "$s" '.*: \([0-9]*\) bytes downloaded.*')
        peers=$(num "$s" '.* (\([0-9]*\) from site peers.*')
        [ -n "$total" ] && [ -n "$peers" ] || t_fail "$g: no peer bytes in its feedback: $s"
        [ $((peers * 100)) -ge $((total * 95)) ] || t_fail "$g took $peers of $total bytes from peers (< 95 %)"
        t_assert_contains "$(cat "${AGENT_DIR[$g]}/agent.log")" "found site peer" "$g found its peers on the LAN"
done
t_pass "staged: the canary over the WAN ($wan bytes), g2..g4 from peers (≥ 95 % each), found by multicast"

# ---- together, and the WAN fetcher killed mid-transfer ------------------------------------------------
rollout_create "$(jq -cn --argjson b "$V2" '{name: "two", bundleId: $b, filter: {controllerId: "g?"}}')"
# The one that fetches over the WAN (it has a blob from the server and is not done), killed.
wan_fetcher() {
        local g
        for g in g1 g2 g3 g4; do
                agent_status "$g" | jq -e '.update | select(. != null) | .bytesFromServer > 0 and .bytesDone < .bytesTotal
                        and .bundle == "app" and .version == 2' >/dev/null && { echo "$g"; return 0; }
        done
        return 1
}
t_wait_for 'wan_fetcher >/dev/null' 60 || t_fail "no gateway fetched app 2 over the WAN"
K=$(wan_fetcher)
agent_kill "$K"
t_log "$K, fetching app 2 over the WAN, killed mid-download"
REST=()
for g in g1 g2 g3 g4; do [ "$g" = "$K" ] || REST+=("$g"); done
t_wait_for 'agent_has ${REST[0]} app 2 && agent_has ${REST[1]} app 2 && agent_has ${REST[2]} app 2' 180 ||
        t_fail "${REST[*]} did not install app 2 after the peer fetching it died"
for g in "${REST[@]}"; do
        for d in "${AGENT_DIR[$g]}"/state/store/blobs/sha256/*; do
                [ "$(sha256sum <"$d" | cut -d' ' -f1)" = "$(basename "$d")" ] || t_fail "$g stored a blob that does not verify: $d"
        done
done
site_gw_start "$K" "${K#g}"
t_wait_for 'agent_has $K app 2' 120 || t_fail "$K did not install app 2 after its restart"
t_pass "app 2 together: the WAN fetcher killed mid-transfer, the others installed verified blobs, it finished after its restart"

# ---- an offline site: one USB stick, the others from its gateway; hostile requests --------------------
t_make_image -o "$T_ROOT/img3.tar" --random-layers 2 --random-size 1M --seed lan-3
t_bundle "$T_ROOT/app-3.berth" --name app --version 3 --image "$T_ROOT/img3.tar"
B3=$(blobs "$T_ROOT/app-3.berth")
"$BERTH" import --config "${AGENT_DIR[g1]}/agent.conf" --source usb "$T_ROOT/app-3.berth" >/dev/null ||
        t_fail "g1: the USB import of app 3 failed"
# A lying peer on the LAN (g5's address): g1's blobs with the first byte flipped.
LIAR_HOST=10.99.0.15 ip netns exec "$BERTH_SITE_PFX-5" python3 "$BERTH_SRC/tests/lib/liarpeer.py" \
        "${AGENT_DIR[g1]}/state/store" "$T_ROOT/liar.port" 2>"$T_ROOT/liar.log" &
t_defer "kill $!"
t_wait_for "test -s '$T_ROOT/liar.port'" 10 || t_fail "the lying peer did not start: $(cat "$T_ROOT/liar.log")"
mkdir -p "$T_ROOT/g5"
cat >"$T_ROOT/g5/agent.conf" <<CONF
state_dir = $T_ROOT/g5/state
trust_dir = $T_TRUST
[control]
socket = $T_ROOT/g5/none.sock
[peers]
key_file = $T_ROOT/site.key
interface = lan0
peers = 10.99.0.15:$(cat "$T_ROOT/liar.port")
CONF
AGENT_DIR[g5]=$T_ROOT/g5
w0=$(site_wan_bytes)
out=$(ip netns exec "$BERTH_SITE_PFX-5" "$BERTH" import --from-peers --config "$T_ROOT/g5/agent.conf" app 3 2>&1) ||
        t_fail "g5: import --from-peers failed: $out"
echo "$out"
agent_has g5 app 3 || t_fail "g5: app 3 not installed"
# (the busybox layer is app 1's too: any gateway may serve that one)
t_assert_contains "$out" "g1 (10.99.0.11:7379)" "g5 found g1 by multicast and took app 3 from it"
t_assert_contains "$out" "site peer 10.99.0.15:" "g5 caught the lying peer"
for d in "$T_ROOT"/g5/state/store/blobs/sha256/*; do
        [ "$(sha256sum <"$d" | cut -d' ' -f1)" = "$(basename "$d")" ] || t_fail "g5 stored a blob that does not verify: $d"
done
out=$(ip netns exec "$BERTH_SITE_PFX-2" "$BERTH" import --from-peers --config "${AGENT_DIR[g2]}/agent.conf" app 3 2>&1) ||
        t_fail "g2: import --from-peers failed: $out"
t_assert_contains "$out" "(through the agent)" "g2's import went through its agent"
agent_has g2 app 3 || t_fail "g2: app 3 not installed"
wan=$(($(site_wan_bytes) - w0))
# The WAN carried only the agents' polls meanwhile, nothing of app 3's blobs.
[ "$wan" -lt $((B3 / 10)) ] || t_fail "the WAN carried $wan bytes while g5 and g2 imported app 3 ($B3 bytes of blobs)"
# Hostile requests from the plant network: no key, another key, a replay.
LAYER3=$(tar -xOf "$T_ROOT/app-3.berth" manifest.json | jq -r '.blobs[-1].digest')
code() { ip netns exec "$BERTH_SITE_PFX-5" curl -s -o /dev/null -w '%{http_code}' "$@" "http://10.99.0.11:7379/v2/blobs/$LAYER3"; }
t_assert_eq "$(code)" 401 "a request without the site key from the LAN"
sign() {
        python3 - "$1" "/v2/blobs/$LAYER3" <<'PY'
import hashlib, hmac, os, sys, time
key = bytes.fromhex(open(sys.argv[1]).read().strip())
t, n = str(int(time.time())), os.urandom(16).hex()
msg = "berth-peer v1\nGET\n%s\n\n%s\n%s" % (sys.argv[2], t, n)
print("Berth-Peer v=1, t=%s, n=%s, mac=%s" % (t, n, hmac.new(key, msg.encode(), hashlib.sha256).hexdigest()))
PY
}
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T_ROOT/other.key"
t_assert_eq "$(code -H "Authorization: $(sign "$T_ROOT/other.key")")" 401 "a request signed with another site's key"
AUTH=$(sign "$T_ROOT/site.key")
t_assert_eq "$(code -H "Authorization: $AUTH")" 200 "a request signed with the site key"
t_assert_eq "$(code -H "Authorization: $AUTH")" 401 "the same request replayed"
t_pass "offline site: g5 and g2 took app 3 from g1 ($B3 bytes of blobs; the WAN $wan bytes of polls), past a liar; no key, another key and a replay refused"
for g in g1 g2 g3 g4; do agent_stop "$g"; done
