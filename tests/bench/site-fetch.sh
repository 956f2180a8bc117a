#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# site-fetch.sh — one WAN download per site: a plant of GATEWAYS berth agents on a LAN
# bridge, berth-server behind a WAN link shaped with tc tbf, all in network namespaces
# this script makes (nothing leaves them). In the same run:
#   alone    one gateway installs a bundle by itself: its time is the yardstick;
#   peers    every gateway installs another bundle of the same size at once, [peers] on
#            (a site key, no list: they find each other on the LAN by multicast): one
#            fetches over the WAN, the others follow it;
#   no peers the same with a third bundle and [peers] off: what a user gets without it
#            (every gateway pulls every byte over the WAN).
# It prints, for peers and no peers, the WAN bytes over the bundle's blob bytes (goal
# ≤ 1.1 with peers) and the time until the last gateway is done over one gateway's time
# alone (goal ≤ 1.3 with peers). WAN bytes are the kernel's count on the server's end
# of the WAN link (TLS, TCP/IP headers and every poll included).
#
#   BERTH_BUILD=build tests/bench/site-fetch.sh   [env: GATEWAYS (6), WAN (20mbit), SIZE (16M)]
HERE="$(cd "$(dirname "$0")" && pwd)"
GATEWAYS=${GATEWAYS:-6}
SITE_WAN=${WAN:-20mbit}
# shellcheck source=../lib/site.sh
source "$HERE/../lib/site.sh"
site_enter "$GATEWAYS" "$0" "$@"

export BERTH_BUILD="${BERTH_BUILD:-$HERE/../../build}"
export BERTH=${BERTH:-$BERTH_BUILD/agent/berth}
# shellcheck source=../lib/harness.sh
source "$HERE/../lib/harness.sh"
command -v jq >/dev/null || t_skip "jq not installed"

SIZE=${SIZE:-16M}
site_server
site_key
for b in solo app plain; do
        t_make_image -q -o "$T_ROOT/$b.tar" --random-layers 4 --random-size "$SIZE" --seed "site-$b"
        t_bundle "$T_ROOT/$b.berth" --name "$b" --version 1 --image "$T_ROOT/$b.tar"
        srv_upload "$T_ROOT/$b.berth"
        eval "B_$b=$BUNDLE_ID"
done
BLOBS=$(tar -xOf "$T_ROOT/app.berth" manifest.json | jq '[.blobs[].size] | add')
gw() { site_gw "$@"; }
wan_bytes() { site_wan_bytes; }

# run BUNDLE_ID BUNDLE_NAME GLOB NAME...: rolls the bundle out to the agents matching GLOB
# at once; sets SECS (until the last one has it installed) and WANB (WAN bytes meanwhile).
run() {
        local bundle=$1 bname=$2 glob=$3 name w0 t0
        shift 3
        w0=$(wan_bytes)
        t0=$(date +%s.%N)
        rollout_create "$(jq -cn --argjson b "$bundle" --arg n "$bname-$glob" --arg f "$glob" \
                '{name: $n, bundleId: $b, filter: {controllerId: $f}}')"
        for name in "$@"; do
                t_wait_for "agent_has $name $bname 1" 900 || t_fail "$name did not install $bname"
        done
        SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
        WANB=$(($(wan_bytes) - w0))
}

# ---- alone --------------------------------------------------------------------------------------
gw solo1 1
run "$B_solo" solo "solo1" solo1
ALONE=$SECS
ALONE_WAN=$WANB
agent_stop solo1
t_log "alone: $ALONE s, $ALONE_WAN WAN bytes for $BLOBS bytes of blobs"

# ---- peers: every gateway at once, [peers] on ------------------------------------------------------
PEERS=()
for n in $(seq 1 "$GATEWAYS"); do PEERS+=("p$n"); done
for n in $(seq 1 "$GATEWAYS"); do
        # zero configuration: the gateways find each other on the LAN (multicast)
        mapfile -t conf < <(site_peers_conf "$n" "$GATEWAYS")
        gw "p$n" "$n" "${conf[@]}"
done
run "$B_app" app "p*" "${PEERS[@]}"
P_SECS=$SECS
P_WAN=$WANB
from_peers=0
for g in "${PEERS[@]}"; do
        said=$(action_json "$g" | jq -r '[.. | .details? // empty] | flatten | map(select(test("^installed app 1"))) | .[0] // ""')
        from_peers=$((from_peers + $(echo "$said" | sed -n 's/.* (\([0-9]*\) from site peers.*/\1/p' | grep . || echo 0)))
        agent_stop "$g"
done
t_log "peers: $P_SECS s, $P_WAN WAN bytes, $from_peers bytes from peers"

# ---- no peers: the same without [peers] --------------------------------------------------------------
NP=()
for n in $(seq 1 "$GATEWAYS"); do NP+=("n$n"); gw "n$n" "$n"; done
run "$B_plain" plain "n*" "${NP[@]}"
N_SECS=$SECS
N_WAN=$WANB
for g in "${NP[@]}"; do agent_stop "$g"; done
t_log "no peers: $N_SECS s, $N_WAN WAN bytes"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf 'site of %d gateways, WAN %s, bundle %d bytes of blobs (4 layers + config), one gateway alone: %s s\n' \
        "$GATEWAYS" "${WAN:-20mbit}" "$BLOBS" "$ALONE"
printf '  %-22s WAN bytes / bundle %6s   last done / alone %6s   (%s s, %d WAN bytes, %d from peers)\n' \
        "berth with [peers]:" "$(ratio "$P_WAN" "$BLOBS")" "$(ratio "$P_SECS" "$ALONE")" "$P_SECS" "$P_WAN" "$from_peers"
printf '  %-22s WAN bytes / bundle %6s   last done / alone %6s   (%s s, %d WAN bytes)\n' \
        "berth without peers:" "$(ratio "$N_WAN" "$BLOBS")" "$(ratio "$N_SECS" "$ALONE")" "$N_SECS" "$N_WAN"
printf '  peers vs none: WAN bytes %s, time %s   (goals: WAN/bundle <= 1.1, last/alone <= 1.3)\n' \
        "$(ratio "$P_WAN" "$N_WAN")" "$(ratio "$P_SECS" "$N_SECS")"
