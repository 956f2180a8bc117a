#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_peers_lan.sh — site peers on a real (namespaced) plant network: four gateways on a
# LAN bridge with a site key and no peer list, berth-server behind a 20 Mbit/s WAN link
# (tests/lib/site.sh; every address inside namespaces made here):
#   * a staged rollout: the canary g1 fetches app 1 over the WAN; g2..g4, next, find it
#     by multicast and take ≥ 95 % of their bytes from peers;
#   * app 2 to all four at once, and the gateway fetching it over the WAN killed in the
#     middle: the others still install it (from another source), store only blobs that
#     verify, and the killed one installs it after its restart.
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../lib/site.sh
source "$HERE/../lib/site.sh"
site_enter 4 "$0" "$@"
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
for g in g1 g2 g3 g4; do agent_stop "$g"; done
