# SPDX-License-Identifier: Apache-2.0
# site.sh — a plant in network namespaces, for the site peer tests and the site-fetch
# benchmark: GATEWAYS gateway namespaces on a LAN bridge (10.99.0.11, .12, …, interface
# lan0), and berth-server's namespace behind the WAN link (10.99.0.1, interface wan0,
# shaped with tc tbf at $SITE_WAN). Every address is inside namespaces made here; they
# are removed at exit.
#
# A script calls site_enter first (before sourcing harness.sh): the first time it builds
# the namespaces and runs the script again inside the server's namespace (where the
# harness, berth-server and the test's own requests live); the second time it returns.
# Then site_server starts berth-server reachable from the LAN, site_gw starts an agent
# in a gateway namespace, site_wan_bytes counts what the server sent over the WAN link.
# shellcheck shell=bash

SITE_WAN=${SITE_WAN:-20mbit}

# site_enter GATEWAYS SCRIPT ARGS...: see above. Exits with the inner run's status.
site_enter() {
        local n=$1 script=$2
        shift 2
        [ "${BERTH_SITE_INNER:-0}" = 1 ] && return 0
        [ "$(id -u)" = 0 ] || { echo "$(basename "$script"): needs root (network namespaces)"; exit 77; }
        command -v ip >/dev/null && command -v tc >/dev/null || { echo "needs ip and tc (iproute2)"; exit 77; }
        local pfx=bs$$ i rc
        SITE_CLEAN="$pfx $n"
        # shellcheck disable=SC2064 # expanded now, on purpose
        trap "site_cleanup $pfx $n" EXIT
        set -e
        for i in s l $(seq 1 "$n"); do ip netns add "$pfx-$i"; ip -n "$pfx-$i" link set lo up; done
        ip -n "$pfx-l" link add br0 type bridge
        ip -n "$pfx-l" link set br0 up
        ip link add "$pfx-s0" netns "$pfx-s" type veth peer name "$pfx-w" netns "$pfx-l"
        ip -n "$pfx-s" link set "$pfx-s0" name wan0
        ip -n "$pfx-s" addr add 10.99.0.1/24 dev wan0
        ip -n "$pfx-s" link set wan0 up
        ip -n "$pfx-l" link set "$pfx-w" master br0 up
        ip netns exec "$pfx-s" tc qdisc add dev wan0 root tbf rate "$SITE_WAN" burst 32kbit latency 400ms
        for i in $(seq 1 "$n"); do
                ip link add "$pfx-g$i" netns "$pfx-$i" type veth peer name "$pfx-p$i" netns "$pfx-l"
                ip -n "$pfx-$i" link set "$pfx-g$i" name lan0
                ip -n "$pfx-$i" addr add "10.99.0.$((10 + i))/24" dev lan0
                ip -n "$pfx-$i" link set lan0 up
                # multicast (peer discovery) leaves by the LAN
                ip -n "$pfx-$i" route add 224.0.0.0/4 dev lan0
                ip -n "$pfx-l" link set "$pfx-p$i" master br0 up
        done
        set +e
        BERTH_SITE_INNER=1 BERTH_SITE_PFX=$pfx ip netns exec "$pfx-s" bash "$script" "$@"
        rc=$?
        exit "$rc"
}

site_cleanup() {
        local i
        for i in s l $(seq 1 "$2"); do ip netns del "$1-$i" 2>/dev/null; done
        return 0
}

# site_server [EXTRA SERVER CONFIG LINES...]: berth-server on 10.99.0.1:7443 (DDI) and its
# loopback (management); agents added after this reach it over the WAN link.
site_server() {
        export T_SRV_SAN="IP:10.99.0.1"
        srv_config "[ddi]" "listen = 10.99.0.1:7443" "public_url = https://10.99.0.1:7443" \
                "polling_sleep = 00:00:02" "$@"
        srv_start
        AGENT_SERVER_URL="https://10.99.0.1:7443"
}

site_wan_bytes() { cat /sys/class/net/wan0/statistics/tx_bytes; }

# site_gw NAME N [CONFIG LINES...]: adds agent NAME (agent_add) and starts it in gateway
# namespace N (10.99.0.(10+N)), polling every 1-2 s.
site_gw() {
        local name=$1 n=$2
        shift 2
        agent_add "$name" "[server]" "poll_min = 1" "poll_max = 2" "$@"
        site_gw_start "$name" "$n"
}

# site_gw_start NAME N: (re)starts an added agent in gateway namespace N.
site_gw_start() {
        local name=$1 n=$2
        SITE_NS[$name]=$n
        rm -f "$SOCK_DIR/$name.sock"
        ip netns exec "$BERTH_SITE_PFX-$n" "$BERTH" agent --config "${AGENT_DIR[$name]}/agent.conf" \
                >>"${AGENT_DIR[$name]}/agent.log" 2>&1 &
        AGENT_PID[$name]=$!
        t_wait_for "test -S '$SOCK_DIR/$name.sock'" 20 || t_fail "agent $name did not start: $(tail -3 "${AGENT_DIR[$name]}/agent.log")"
}
declare -A SITE_NS

# site_peers_conf N GATEWAYS [more lines]: the [peers] lines of gateway N with discovery on
# the LAN (no list): a site key, serving on its LAN address.
site_peers_conf() {
        printf '%s\n' "[peers]" "key_file = $T_ROOT/site.key" "listen = 10.99.0.$((10 + $1)):7379" \
                "interface = lan0" "max_connections = $(($2 + 2))"
}

site_key() {
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T_ROOT/site.key"
        chmod 600 "$T_ROOT/site.key"
}
