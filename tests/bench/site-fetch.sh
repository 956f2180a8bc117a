#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# site-fetch.sh — one WAN download per site: a plant of GATEWAYS berth agents on a LAN
# bridge, berth-server behind a WAN link shaped with tc tbf, all in network namespaces
# this script makes (nothing leaves them). In the same run:
#   alone    one gateway installs a bundle by itself: its time is the yardstick;
#   peers    every gateway installs another bundle of the same size at once, [peers] on
#            (each lists the others): one fetches over the WAN, the others follow it;
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
PFX=bsf$$
if [ "${BERTH_SITE_INNER:-0}" != 1 ]; then
        [ "$(id -u)" = 0 ] || { echo "site-fetch.sh: needs root (network namespaces)"; exit 77; }
        cleanup() {
                local n
                for n in s l $(seq 1 "$GATEWAYS"); do ip netns del "$PFX-$n" 2>/dev/null; done
        }
        trap cleanup EXIT
        set -e
        for n in s l $(seq 1 "$GATEWAYS"); do ip netns add "$PFX-$n"; ip -n "$PFX-$n" link set lo up; done
        # the LAN: a bridge in its own namespace
        ip -n "$PFX-l" link add br0 type bridge
        ip -n "$PFX-l" link set br0 up
        # the WAN: the server's link to the site, shaped on the server's side (downlink)
        ip link add "$PFX-s0" netns "$PFX-s" type veth peer name "$PFX-w" netns "$PFX-l"
        ip -n "$PFX-s" link set "$PFX-s0" name wan0
        ip -n "$PFX-s" addr add 10.99.0.1/24 dev wan0
        ip -n "$PFX-s" link set wan0 up
        ip -n "$PFX-l" link set "$PFX-w" master br0 up
        ip netns exec "$PFX-s" tc qdisc add dev wan0 root tbf rate "${WAN:-20mbit}" burst 32kbit latency 400ms
        for n in $(seq 1 "$GATEWAYS"); do
                ip link add "$PFX-g$n" netns "$PFX-$n" type veth peer name "$PFX-p$n" netns "$PFX-l"
                ip -n "$PFX-$n" link set "$PFX-g$n" name lan0
                ip -n "$PFX-$n" addr add "10.99.0.$((10 + n))/24" dev lan0
                ip -n "$PFX-$n" link set lan0 up
                ip -n "$PFX-l" link set "$PFX-p$n" master br0 up
        done
        set +e
        BERTH_SITE_INNER=1 BERTH_SITE_PFX=$PFX ip netns exec "$PFX-s" bash "$0" "$@"
        exit $?
fi
PFX=$BERTH_SITE_PFX

export BERTH_BUILD="${BERTH_BUILD:-$HERE/../../build}"
export BERTH=${BERTH:-$BERTH_BUILD/agent/berth}
# shellcheck source=../lib/harness.sh
source "$HERE/../lib/harness.sh"
command -v jq >/dev/null || t_skip "jq not installed"

SIZE=${SIZE:-16M}
DDI_FIXED=7443
export T_SRV_SAN="IP:10.99.0.1"
srv_config "[ddi]" "listen = 10.99.0.1:$DDI_FIXED" "public_url = https://10.99.0.1:$DDI_FIXED" \
        "polling_sleep = 00:00:02"
srv_start
AGENT_SERVER_URL="https://10.99.0.1:$DDI_FIXED"
wan_bytes() { cat /sys/class/net/wan0/statistics/tx_bytes; }

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T_ROOT/site.key"
chmod 600 "$T_ROOT/site.key"
for b in solo app plain; do
        t_make_image -q -o "$T_ROOT/$b.tar" --random-layers 4 --random-size "$SIZE" --seed "site-$b"
        t_bundle "$T_ROOT/$b.berth" --name "$b" --version 1 --image "$T_ROOT/$b.tar"
        srv_upload "$T_ROOT/$b.berth"
        eval "B_$b=$BUNDLE_ID"
done
BLOBS=$(tar -xOf "$T_ROOT/app.berth" manifest.json | jq '[.blobs[].size] | add')

# gw NAME N [config lines]: an agent in gateway namespace N.
gw() {
        local name=$1 n=$2
        shift 2
        agent_add "$name" "[server]" "poll_min = 1" "poll_max = 2" "$@"
        rm -f "$SOCK_DIR/$name.sock"
        ip netns exec "$PFX-$n" "$BERTH" agent --config "${AGENT_DIR[$name]}/agent.conf" \
                >>"${AGENT_DIR[$name]}/agent.log" 2>&1 &
        AGENT_PID[$name]=$!
        t_wait_for "test -S '$SOCK_DIR/$name.sock'" 20 || t_fail "agent $name did not start"
}
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
        list=""
        for o in $(seq 1 "$GATEWAYS"); do [ "$o" = "$n" ] || list+="${list:+, }10.99.0.$((10 + o)):7379"; done
        gw "p$n" "$n" "[peers]" "key_file = $T_ROOT/site.key" "listen = 10.99.0.$((10 + n)):7379" "peers = $list" \
                "max_connections = $((GATEWAYS + 2))"
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
