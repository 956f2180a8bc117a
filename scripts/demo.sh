#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# demo.sh — the whole story on one machine, as an operator would see it: a rollout server
# over HTTPS, three gateways (berth agents) on one real containerd, the example telemetry
# stack rolled out in groups and publishing, then a broken release that the first group
# rolls back by itself while the rollout pauses at its error threshold. Everything lives
# in a temporary directory, on loopback ports and private sockets, and is stopped and
# removed at the end, also on failure or Ctrl-C (--keep / DEMO_KEEP=1 keeps the directory).
# Exits non-zero as soon as a step does not do what it says.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
PROG=demo.sh

usage() {
        cat <<EOF
Usage: bash scripts/demo.sh [--fast] [--no-deps] [--build-dir DIR] [--keep]

Installs the dependencies (scripts/deps.sh, apt-get), builds berth into build/demo and
runs the demo as root: berth-server, one containerd, a PLC simulator, an upstream MQTT
broker and three gateways, all on loopback and in a temporary directory.

  --fast           shortened timings (poll interval, soak, probes): for CI
  --no-deps        do not run scripts/deps.sh
  --build-dir DIR  use the binaries already built in DIR (DIR/agent/berth,
                   DIR/server-stub/berth-server) instead of building
  --keep           keep the working directory (logs, state, bundles) at the end
                   (same as DEMO_KEEP=1)
EOF
}

FAST=0 DEPS=1 BUILD='' KEEP=${DEMO_KEEP:-0}
while [ $# -gt 0 ]; do
        case $1 in
        --fast) FAST=1; shift ;;
        --no-deps) DEPS=0; shift ;;
        --build-dir) BUILD=${2:?--build-dir needs a directory}; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "$PROG: unknown argument '$1' (see --help)" >&2; exit 2 ;;
        esac
done

# ---- presentation ---------------------------------------------------------------------
if [ -t 1 ]; then B=$'\033[1m' R=$'\033[31m' N=$'\033[0m'; else B='' R='' N=''; fi
T_START=$SECONDS
step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
# say TEXT: what happens next and why, for the operator.
say() { printf '%s\n' "$*" | fold -s -w 92; }
# show CMD...: the command an operator would type (not run).
show() { printf '$ %s\n' "$*"; }
# run CMD...: show it (arguments quoted where a shell needs it), then run it.
run() {
        local a line=''
        for a in "$@"; do
                [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]] || a="'$a'"
                line+=${line:+ }$a
        done
        show "$line"
        "$@"
}
ok() { printf '  ok: %s\n' "$*"; }
die() {
        printf '\n%sdemo FAILED: %s%s\n' "$R" "$*" "$N" >&2
        if [ -n "${W:-}" ] && [ -d "$W" ]; then
                local f
                for f in "$W"/server/server.log "$W"/gw-*/agent.log; do
                        [ -f "$f" ] || continue
                        printf -- '--- %s (last lines) ---\n' "${f#"$W"/}" >&2
                        tail -n 8 "$f" >&2
                done
                [ "$KEEP" = 1 ] || echo "(run with --keep to keep $W for inspection)" >&2
        fi
        exit 1
}
# wait_for WHAT TIMEOUT_S COND: polls the shell condition COND until it holds; dies
# naming WHAT when it does not within TIMEOUT_S seconds.
wait_for() {
        t_wait_for "$3" "$2" || die "$1 did not happen within $2 s"
}

[ "$(id -u)" = 0 ] || die "the demo needs root (it runs containerd, runc and cgroups): sudo bash scripts/demo.sh"

if [ "$FAST" = 1 ]; then
        INTERVAL=0.5 SOAK=3s STACK_TIMING=(--fast) POLL_SLEEP=00:00:01 POLL_MAX=2 TMO=240 TM_INTERVAL=2
else
        INTERVAL=2 SOAK=30s STACK_TIMING=() POLL_SLEEP=00:00:05 POLL_MAX=5 TMO=600 TM_INTERVAL=10
fi

step "Installing dependencies and building berth"
if [ "$DEPS" = 1 ]; then
        say "Debian packages: compilers and libraries, containerd + runc, mosquitto, openssl, jq."
        run bash "$SRC/scripts/deps.sh"
else
        say "(--no-deps: scripts/deps.sh skipped)"
fi
if [ -z "$BUILD" ]; then
        BUILD=$SRC/build/demo
        show "cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTH_TESTS=OFF"
        cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTH_TESTS=OFF >/dev/null
        show "cmake --build build/demo -j$(nproc)"
        cmake --build "$BUILD" -j"$(nproc)" >/dev/null
else
        BUILD=$(cd "$BUILD" && pwd)
        say "(--build-dir: using the binaries in $BUILD)"
fi
for b in "$BUILD/agent/berth" "$BUILD/server-stub/berth-server"; do
        [ -x "$b" ] || die "$b is missing: build first (cmake -S . -B build && cmake --build build) or drop --build-dir"
done
for b in containerd ctr runc mosquitto mosquitto_sub busybox openssl jq curl; do
        command -v "$b" >/dev/null || die "$b is not installed: run scripts/deps.sh (or drop --no-deps)"
done
# berth and berth-server as an operator would type them.
export PATH=$BUILD/agent:$BUILD/server-stub:$PATH
export BERTH=$BUILD/agent/berth

# The test harness brings the private containerd, polling and the cleanup stack (LIFO).
# shellcheck source=../tests/lib/harness.sh
source "$SRC/tests/lib/harness.sh"
trap 'die "unexpected failure of: $BASH_COMMAND"' ERR
trap 'printf "\ndemo: interrupted; stopping everything and cleaning up\n" >&2; exit 130' INT
W=$(mktemp -d "${TMPDIR:-/tmp}/berth-demo.XXXXXX")
if [ "$KEEP" = 1 ]; then
        t_defer "echo 'demo: kept $W' >&2"
else
        t_defer "_t_umount_under '$W'; rm -rf '$W'"
fi
cd "$W"
say "Working directory: $W (everything below is relative to it)."
GWS=(gw-1 gw-2 gw-3)

# reap_namespace NS: the last resort for one agent's containerd namespace, run after
# containerd's own stop. A Ctrl-C reaches containerd too, and a containerd that is gone
# cannot kill its tasks: whatever still runs in the namespace's cgroups is killed here,
# then its empty cgroups and runc state are removed.
reap_namespace() {
        local ns=$1 d
        # shellcheck disable=SC2016 # expanded by t_wait_for
        for d in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns"; do
                [ -d "$d" ] || continue
                cat "$d"/*/cgroup.procs 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
                t_wait_for '[ -z "$(cat '"$d"'/*/cgroup.procs 2>/dev/null)" ]' 10 || true
                rmdir "$d"/*/ "$d" 2>/dev/null || true
        done
        rm -rf "/run/containerd/runc/$ns"
}

# ---- release keys, TLS, server --------------------------------------------------------
step "Release engineering: a trust root — two offline root keys, two release keys, a release needs both"
say "A single stolen build key must not be able to ship an update: servers and gateways require
two release signatures. Which keys those are is itself signed, by two root keys kept
offline: a leaked release key is revoked over the air by a new version of this trust root."
run berth keygen -o keys --name root-a
run berth keygen -o keys --name root-b
run berth keygen -o keys --name release
run berth keygen -o keys --name qa
mkdir -p trust
run berth trust init -o trust/root.json --root-key keys/root-a.pub --root-key keys/root-b.pub --root-threshold 2 \
        --release-key keys/release.pub --release-key keys/qa.pub --release-threshold 2 --expires 365d \
        -k keys/root-a.key -k keys/root-b.key
run berth trust show trust/root.json

step "A test certificate authority and a TLS certificate for the rollout server"
say "Gateways only talk HTTPS to the server and check its certificate against this CA."
mkdir -p pki
run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=berth demo CA" \
        -keyout pki/ca.key -out pki/ca.crt 2>/dev/null
run openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
        -keyout pki/server.key -out pki/server.csr 2>/dev/null
show "echo subjectAltName=IP:127.0.0.1,DNS:localhost > pki/server.ext"
echo subjectAltName=IP:127.0.0.1,DNS:localhost >pki/server.ext
run openssl x509 -req -in pki/server.csr -CA pki/ca.crt -CAkey pki/ca.key -CAcreateserial -days 2 \
        -extfile pki/server.ext -out pki/server.crt 2>/dev/null

step "Starting the rollout server (berth-server): devices over HTTPS, operators on loopback"
mkdir -p server
cat >server/server.conf <<EOF
[server]
state_dir = $W/server/state
trust_dir = $W/trust
ports_file = $W/server/ports
[ddi]
listen = 127.0.0.1:0
cert = $W/pki/server.crt
key = $W/pki/server.key
polling_sleep = $POLL_SLEEP
threads = 2
[mgmt]
listen = 127.0.0.1:0
[rollout]
tick_ms = 200
EOF
run cat server/server.conf
show "berth-server -c server/server.conf serve &"
berth-server -c server/server.conf serve >>server/server.log 2>&1 &
SRV_PID=$!
t_defer "kill -TERM $SRV_PID; t_wait_for '! kill -0 $SRV_PID' 10 || kill -KILL $SRV_PID"
wait_for "berth-server writing its ports file (server/server.log)" 20 "test -s server/ports"
DDI_PORT=$(sed -n 's/^ddi=//p' server/ports)
MGMT_PORT=$(sed -n 's/^mgmt=//p' server/ports)
export BERTH_SERVER_URL=http://127.0.0.1:$MGMT_PORT
BERTH_SERVER_TOKEN=$(cat server/state/admin.token)
export BERTH_SERVER_TOKEN
show "export BERTH_SERVER_URL=$BERTH_SERVER_URL BERTH_SERVER_TOKEN=\$(cat server/state/admin.token)"
ok "device API https://127.0.0.1:$DDI_PORT (hawkBit DDI), management API $BERTH_SERVER_URL"

# ---- the plant: containerd, PLC, cloud broker ------------------------------------------
step "The plant: one containerd, a PLC simulator and the upstream (cloud) MQTT broker"
say "The three gateways share one containerd (each agent in its own namespace) and one PLC;
their brokers bridge the readings to a broker that stands for the cloud."
show "containerd --config containerd/config.toml &     (private root, state and socket; runc)"
# (the harness's early look at the snapshotters is left out: each agent's switch needs
# overlayfs and fails loudly without it)
t_containerd_start "$W/containerd" 2> >(grep --line-buffered -v 'warning: snapshotter' >&2)
CTRD=$T_CTRD_SOCK
PLC_PORT=$(t_free_port)
UP_PORT=$(t_free_port)
show "scripts/plc-sim.sh -p $PLC_PORT &"
"$SRC/scripts/plc-sim.sh" -p "$PLC_PORT" -d plc >plc.log 2>&1 &
t_defer "kill $!"
wait_for "the PLC simulator answering on port $PLC_PORT" 10 "curl -sf http://127.0.0.1:$PLC_PORT/cgi-bin/registers"
show "scripts/mqtt-upstream.sh -p $UP_PORT -d cloud &"
"$SRC/scripts/mqtt-upstream.sh" -p "$UP_PORT" -d cloud 2>cloud-broker.log &
t_defer "kill $!"
wait_for "the cloud broker listening on port $UP_PORT" 10 "mosquitto_sub -p $UP_PORT -t x -C 1 -W 1 -E"
# The cloud's consumer records every reading that arrives, from here to the end.
mosquitto_sub -h 127.0.0.1 -p "$UP_PORT" -c -i cloud-consumer -q 1 -t 'site/#' >cloud.jsonl 2>cloud-sub.log &
t_defer "kill $!"
ok "PLC http://127.0.0.1:$PLC_PORT/cgi-bin/registers, cloud broker 127.0.0.1:$UP_PORT (recorded in cloud.jsonl)"

# ---- three gateways ---------------------------------------------------------------------
step "Three gateways: registered on the server, each with its own berth agent"
say "Each gateway gets its own token, state directory, containerd namespace, control socket
and a site file (gateway id, broker port) that the signed stack reads at start: one bundle,
many gateways."
declare -A PORT NS AGENT_PID
for gw in "${GWS[@]}"; do
        mkdir -p "$gw"
        show "berth-server target add $gw"
        out=$(berth-server target add "$gw") || die "registering $gw on the server failed: $out"
        tok=$(jq -r ".[0].token" <<<"$out")
        if [ -z "$tok" ] || [ "$tok" = null ]; then die "the server gave no token for $gw: $out"; fi
        PORT[$gw]=$(t_free_port)
        NS[$gw]=$T_CTRD_NS-$gw
        for wl in broker poller; do
                mkdir -p "$gw/data/$wl/site"
                printf 'GATEWAY_ID=%s\nBROKER_PORT=%s\n' "$gw" "${PORT[$gw]}" >"$gw/data/$wl/site/site.env"
        done
        cat >"$gw/agent.conf" <<EOF
state_dir = $W/$gw/state
trust_dir = $W/trust
[server]
url = https://127.0.0.1:$DDI_PORT
controller_id = $gw
token = $tok
ca_file = $W/pki/ca.crt
poll_min = 1
poll_max = $POLL_MAX
retry_min = 1
retry_max = $POLL_MAX
[update]
backends = containerd
[containerd]
address = $CTRD
namespace = ${NS[$gw]}
snapshotter = overlayfs
[workloads]
data_dir = $W/$gw/data
[control]
socket = $W/$gw/berth.sock
[telemetry]
interval = $TM_INTERVAL
[metrics]
listen = 127.0.0.1:0
EOF
        # containerd first (it kills the namespace's tasks), then what is left of them.
        t_defer "t_containerd_stop; reap_namespace ${NS[$gw]}"
done
say "gw-1's agent configuration (the others differ in names, ports and token):"
sed 's/^token = .*/token = (from berth-server target add)/' gw-1/agent.conf | sed 's/^/    /'
say "gw-1's site file, provisioned on the gateway, not part of the signed bundle:"
sed 's/^/    /' gw-1/data/broker/site/site.env
for gw in "${GWS[@]}"; do
        show "berth agent --config $gw/agent.conf &"
        berth agent --config "$gw/agent.conf" >>"$gw/agent.log" 2>&1 &
        AGENT_PID[$gw]=$!
        t_defer "kill -TERM ${AGENT_PID[$gw]}; t_wait_for '! kill -0 ${AGENT_PID[$gw]}' 10 || kill -KILL ${AGENT_PID[$gw]}"
done
# lastPoll: epoch seconds of the target's last poll (0: never)
last_poll() { berth-server target show "$1" 2>/dev/null | jq -r '.lastPoll // 0'; }
polled() { [ "$(last_poll "$1")" -gt 0 ]; }
for gw in "${GWS[@]}"; do
        wait_for "$gw's agent checking in with the server ($gw/agent.log)" 60 "polled $gw"
done
ok "all three agents poll the server; nothing installed yet"

# ---- release v1 ------------------------------------------------------------------------
STACK=(--site-config --upstream "127.0.0.1:$UP_PORT" --plc-url "http://127.0.0.1:$PLC_PORT/cgi-bin/registers"
        --interval "$INTERVAL" --soak "$SOAK" "${STACK_TIMING[@]}" -k keys/release.key)
step "Release 1: build the gateway stack bundle, sign it with both keys, upload it"
say "The stack: an MQTT broker (mosquitto) bridged to the cloud, and a poller that reads the PLC
every $INTERVAL s and publishes to the broker. Both images are built from Debian packages, no
network. A new version must stay healthy for $SOAK before a gateway commits it."
show "scripts/make-gateway-stack.sh -o v1 --version 1 ${STACK[*]}"
"$SRC/scripts/make-gateway-stack.sh" -o v1 --version 1 "${STACK[@]}" | sed 's/^/    /'
cp v1/gateway-stack-1.berth v1/one-signature.berth
say "With the release key alone the server refuses it (2 signatures required):"
show "berth-server bundle upload v1/one-signature.berth"
if out=$(berth-server bundle upload v1/one-signature.berth 2>&1); then
        die "the server accepted a bundle with one signature of two: $out"
fi
printf '%s\n' "$out" | sed 's/^/    /'
say "QA co-signs; now it verifies and uploads:"
run berth bundle sign -k keys/qa.key v1/gateway-stack-1.berth -o v1/gateway-stack-1.berth
run berth bundle verify --trust trust v1/gateway-stack-1.berth
show "berth-server bundle upload v1/gateway-stack-1.berth"
out=$(berth-server bundle upload v1/gateway-stack-1.berth) || die "uploading release 1 failed: $out"
BUNDLE1=$(jq -r .id <<<"$out")
jq -r '"  bundle \(.id): \(.name) version \(.version), \(.size) bytes, sha256 \(.hashes.sha256[0:16])…"' <<<"$out"

# rollout_summary JSON: one line per group, with the gateways the server put in it and,
# while their action is open, what their agent says it is doing (AGENTS_JSON).
TARGETS_JSON='[]' AGENTS_JSON='{}'
rollout_summary() {
        jq -r --argjson t "$TARGETS_JSON" --argjson a "$AGENTS_JSON" '
          . as $r
          | "  rollout \($r.id) (\($r.name)): \($r.state)\(if $r.reason != "" then " — " + $r.reason else "" end)",
            ($r.groups[] | . as $g
             | [$t[] | select(.currentAction.rolloutId == $r.id and .currentAction.group == $g.group)
                     | "\(.controllerId) \(.currentAction.status)" +
                       (if (.currentAction.status | IN("scheduled", "running")) and ($a[.controllerId] // "") != ""
                        then " (agent: \($a[.controllerId]))" else "" end)] as $m
             | "    group \($g.group) (\($g.percent) %, \($g.targets) gateway\(if $g.targets == 1 then "" else "s" end)): " +
               (if ($m | length) > 0 then ($m | join(", ")) else "not started" end))' <<<"$1"
}
# start_rollout NAME BUNDLE_ID: creates and starts the demo's rollout of a bundle to every
# gateway: group 1 = 33 % (one of three), group 2 = the rest; group 2 starts when all of
# group 1 succeeded; the first failure pauses it. Sets ROLLOUT.
start_rollout() {
        # shellcheck disable=SC2054 # 33,100 is one argument
        local args=(--name "$1" --bundle "$2" --groups 33,100 --success 100 --error 0 --filter 'controllerId=gw-*')
        local out
        show "berth-server rollout create ${args[*]:0:11} '${args[11]}'"
        out=$(berth-server rollout create "${args[@]}") || die "creating the rollout $1 failed: $out"
        ROLLOUT=$(jq -r .id <<<"$out")
        show "berth-server rollout start $ROLLOUT"
        berth-server rollout start "$ROLLOUT" >/dev/null || die "starting rollout $ROLLOUT failed"
}
# agent_activity: {"gw-1": "what its agent is doing", …} from each agent's control socket.
agent_activity() {
        local gw
        for gw in "${GWS[@]}"; do
                berth status --json --config "$gw/agent.conf" 2>/dev/null |
                        jq -c --arg g "$gw" '{($g): (.agent.status // "")}' || true
        done | jq -cs 'add // {}'
}
# watch_rollout ID STATE: prints the rollout's groups whenever they change, until it
# reaches STATE; dies if it ends in another state or takes longer than $TMO s.
watch_rollout() {
        local id=$1 want=$2 st last='' line state deadline=$((SECONDS + TMO)) t0=$SECONDS
        while :; do
                st=$(berth-server rollout status "$id" 2>/dev/null) || st=''
                TARGETS_JSON=$(berth-server target list 2>/dev/null) || TARGETS_JSON='[]'
                AGENTS_JSON=$(agent_activity)
                if [ -n "$st" ]; then
                        line=$(rollout_summary "$st")
                        if [ "$line" != "$last" ]; then
                                printf '  [%3d s]\n%s\n' $((SECONDS - t0)) "$line"
                                last=$line
                        fi
                        state=$(jq -r .state <<<"$st")
                        [ "$state" != "$want" ] || return 0
                        case $state in
                        finished | paused | canceled)
                                die "rollout $id ended '$state' where it should be '$want': $(jq -r .reason <<<"$st")" ;;
                        esac
                fi
                [ "$SECONDS" -lt "$deadline" ] || die "rollout $id did not reach '$want' within $TMO s (now: ${state:-?})"
                sleep 0.5
        done
}

step "Rollout of release 1 in two groups: one gateway first, then the rest"
say "The server sorts the gateways by a hash of their id and cuts the list at 33 % and 100 %:
group 1 is a single gateway (the canary). Group 2 starts when all of group 1 succeeded,
i.e. its gateway committed the new version after the soak time."
start_rollout stack-v1 "$BUNDLE1"
R1=$ROLLOUT
show "berth-server rollout status $R1     (every 0.5 s; a line per change)"
watch_rollout "$R1" finished
CANARY=$(berth-server target list | jq -r --argjson r "$R1" \
        '.[] | select(.currentAction.rolloutId == $r and .currentAction.group == 1) | .controllerId')
[ -n "$CANARY" ] || die "the server names no gateway in group 1 of rollout $R1"
ok "rollout $R1 finished: all three gateways run release 1 (group 1 was $CANARY)"

# ---- the stack runs and publishes -------------------------------------------------------
step "Release 1 is running on every gateway and publishing"
say "Each agent ran the workloads on containerd (non-root, read-only, memory/CPU limits) and
committed them after the soak. The stack's status on each gateway:"
for gw in "${GWS[@]}"; do
        show "berth status --no-agent --config $gw/agent.conf   (workloads part)"
        st=$(berth status --no-agent --config "$gw/agent.conf") || die "berth status failed for $gw"
        sed -n '/^workloads:/,$p' <<<"$st" | sed 's/^/    /'
        grep -q "gateway-stack: running version 1" <<<"$st" || die "$gw does not run release 1: $st"
done
say "Subscribing to each gateway's own broker shows the poller's readings (gateway, version,
sequence number, PLC values):"
reading() { jq -r '"    \(.gateway) v\(.version) #\(.seq): \(.temperature_c) °C, \(.pressure_kpa) kPa, pump \(.pump_running), cycle \(.cycles)"'; }
for gw in "${GWS[@]}"; do
        show "mosquitto_sub -p ${PORT[$gw]} -t 'site/#' -C 2 -W 30"
        out=$(mosquitto_sub -h 127.0.0.1 -p "${PORT[$gw]}" -t 'site/#' -C 2 -W 30) || true
        printf '%s\n' "$out" | grep '^{' | reading
        [ "$(jq -r 'select(.gateway == "'"$gw"'" and .version == "1") | .seq' <<<"$out" 2>/dev/null | wc -l)" = 2 ] ||
                die "$gw's broker (port ${PORT[$gw]}) did not deliver 2 readings of release 1 within 30 s: $out"
done
say "And the cloud receives them from all three gateways through the brokers' bridges:"
# from_all VERSION SINCE: the cloud got readings of VERSION published after SINCE (epoch
# seconds, the poller's clock) from every gateway.
from_all() {
        [ "$(jq -r --arg v "$1" --argjson t "$2" 'select(.version == $v and .ts > $t) | .gateway' cloud.jsonl \
                2>/dev/null | sort -u | tr '\n' ' ')" = "gw-1 gw-2 gw-3 " ]
}
wait_for "readings of release 1 from all three gateways arriving at the cloud broker" 60 "from_all 1 0"
show "mosquitto_sub -p $UP_PORT -t 'site/#' -v -C 6 -W 30"
mosquitto_sub -h 127.0.0.1 -p "$UP_PORT" -t 'site/#' -v -C 6 -W 30 | while read -r topic msg; do
        printf '    %-26s%s\n' "$topic" "$(reading <<<"$msg" | sed 's/^ *//')"
done || die "the cloud broker did not deliver 6 readings within 30 s"
ok "the cloud has received $(wc -l <cloud.jsonl) readings so far"

# ---- release v2: broken -------------------------------------------------------------------
step "Release 2: a bad release (a typo in the poller's broker address)"
say "Its poller publishes to 127.0.0.2, where nothing listens: it never delivers a reading, and
its health probe (a reading published recently) fails. It is signed and valid, so only the
gateway can find out that it is broken."
show "scripts/make-gateway-stack.sh -o v2 --version 2 --broken ${STACK[*]}"
"$SRC/scripts/make-gateway-stack.sh" -o v2 --version 2 --broken "${STACK[@]}" | sed 's/^/    /'
run berth bundle sign -k keys/qa.key v2/gateway-stack-2.berth -o v2/gateway-stack-2.berth
show "berth-server bundle upload v2/gateway-stack-2.berth"
out=$(berth-server bundle upload v2/gateway-stack-2.berth) || die "uploading release 2 failed: $out"
BUNDLE2=$(jq -r .id <<<"$out")
jq -r '"  bundle \(.id): \(.name) version \(.version), \(.size) bytes"' <<<"$out"

step "Rollout of release 2, same groups, error threshold 0 %: the first failure stops it"
say "$CANARY (group 1) installs release 2, probes it, finds the poller unhealthy, rolls back to
release 1 by itself and reports the failure with the probe's evidence. The server then
pauses the rollout: group 2 never starts."
LINES_BEFORE=$(wc -l <cloud.jsonl)
start_rollout stack-v2 "$BUNDLE2"
R2=$ROLLOUT
show "berth-server rollout status $R2"
watch_rollout "$R2" paused
PAUSED_AT=$(date +%s)
st=$(berth-server rollout status "$R2")
[ "$(jq -r .currentGroup <<<"$st")" = 1 ] || die "rollout $R2 paused in group $(jq -r .currentGroup <<<"$st"), not 1"
[ "$(jq -r '.groups[0].failure' <<<"$st")" = 1 ] || die "group 1 of rollout $R2 has no failed gateway: $st"
ok "rollout $R2 paused by itself: $(jq -r .reason <<<"$st")"

step "What happened on $CANARY: release 2 rolled back to release 1 by itself"
say "The gateway's own report to the server carries the probe's evidence; on the gateway,
release 1 runs again and the failed update is recorded."
tgt=$(berth-server target show "$CANARY")
AID=$(jq -r .currentAction.id <<<"$tgt")
[ "$(jq -r .currentAction.rolloutId <<<"$tgt")" = "$R2" ] || die "$CANARY's current action is not from rollout $R2: $tgt"
show "berth-server action show $AID     (the gateway's last report)"
act=$(berth-server action show "$AID")
evidence=$(jq -r '[.. | objects | .details? // empty | .[]?] | map(select(test("rolled back"))) | last // empty' <<<"$act")
[ -n "$evidence" ] || die "$CANARY's failure report does not name the rollback: $act"
printf '    %s: %s\n' "$(jq -r .status <<<"$act")" "$evidence" | fold -s -w 96 | sed '2,$s/^/      /'
show "berth status --no-agent --config $CANARY/agent.conf   (workloads part)"
st=$(berth status --no-agent --config "$CANARY/agent.conf")
sed -n '/^workloads:/,$p' <<<"$st" | sed 's/^/    /'
grep -q "gateway-stack: running version 1" <<<"$st" || die "$CANARY does not run release 1 again: $st"
grep -q "rolled_back" <<<"$st" || die "$CANARY's last update is not shown as rolled back: $st"

step "The other gateways were never touched, and release 1 keeps publishing everywhere"
say "They keep polling the server, but a paused rollout starts no new group: no action, no
download, release 1 keeps running."
OTHERS=()
for gw in "${GWS[@]}"; do [ "$gw" = "$CANARY" ] || OTHERS+=("$gw"); done
polled_since() { [ "$(last_poll "$1")" -gt "$2" ]; }
for gw in "${OTHERS[@]}"; do
        wait_for "$gw polling the server after the pause" 30 "polled_since $gw $PAUSED_AT"
        tgt=$(berth-server target show "$gw")
        [ "$(jq -r .currentAction.rolloutId <<<"$tgt")" = "$R1" ] ||
                die "$gw got an action of the paused rollout $R2: $tgt"
        berth status --json --no-agent --config "$gw/agent.conf" |
                jq -e '[.bundles[] | select(.version == 2)] | length == 0' >/dev/null ||
                die "$gw holds release 2 although the rollout paused before its group"
        ok "$gw: polled after the pause, last action from rollout $R1, release 2 never downloaded"
done
wait_for "readings of release 1 published after the pause arriving at the cloud from all three gateways" 60 \
        "from_all 1 $PAUSED_AT"
[ "$(jq -r 'select(.version == "2")' cloud.jsonl 2>/dev/null | wc -l)" = 0 ] ||
        die "readings of the broken release 2 reached the cloud"
ok "readings since release 2 was rolled out: $(($(wc -l <cloud.jsonl) - LINES_BEFORE)), all of release 1; published after the pause: from all three gateways, $CANARY included"

# ---- final status -----------------------------------------------------------------------
step "Status, as the operator sees it"
say "The server: the paused rollout, and every gateway with what it runs."
show "berth-server rollout status $R2"
rollout_summary "$(berth-server rollout status "$R2")"
show "berth-server target list"
berth-server target list | jq -r '.[] | "  \(.controllerId): installed \(.installed.name // "-") \(.installed.version // "-"), last action \(.currentAction.id) (rollout \(.currentAction.rolloutId), \(.currentAction.status)), last poll \(.lastPoll | if . > 0 then todate else "never" end)"'
say "What the gateways reported by themselves: telemetry (events and a sample every
$TM_INTERVAL s), queued on each gateway and forwarded with DDI configData when the server is
reachable, after feedback and never during a download."
has_rollback_event() {
        berth-server target telemetry "$CANARY" --limit 1000 |
                jq -e '[.records[] | select(.kind == "event" and (.text | test("rolled back to version 1")))] | length > 0' \
                        >/dev/null
}
wait_for "$CANARY's telemetry reporting the rollback" 60 has_rollback_event
for gw in "${GWS[@]}"; do
        show "berth-server target telemetry $gw      (summary and the latest record per source)"
        berth-server target telemetry "$gw" --limit 1000 | jq -r '
                "    \(.controllerId): \(.lastSeq) records received, \(.dropped) dropped on the gateway, \(.pending) waiting there",
                (.latest | to_entries[] | "      \(.key) (\(.value.kind), \(.value.ts | todate)): \(.value.text)")' |
                cut -c1-150
done
show "berth-server target telemetry $CANARY      (events only)"
berth-server target telemetry "$CANARY" --limit 1000 |
        jq -r '.records[] | select(.kind == "event") | "    \(.ts | todate) \(.source): \(.text)"' | cut -c1-150
URL=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$CANARY/agent.log" | head -1)
[ -n "$URL" ] || die "$CANARY's agent did not log its metrics endpoint"
say "The same gateway's Prometheus metrics, on loopback (metrics.listen):"
show "curl -s $URL | grep -E '^berth_(workload_healthy|workload_restarts|updates_total|telemetry)'"
curl -sf "$URL" | grep -E '^berth_(workload_healthy|workload_restarts|updates_total|telemetry)' | sed 's/^/    /' ||
        die "$CANARY's metrics endpoint did not answer"
say "Each gateway, from its agent through the control socket: what it does, what it holds, what
runs."
for gw in "${GWS[@]}"; do
        show "berth status --config $gw/agent.conf      (image lines left out)"
        st=$(berth status --config "$gw/agent.conf") || die "berth status through $gw's control socket failed"
        grep -v '^      image' <<<"$st" | sed 's/^/    /'
        grep -q "^agent: *running" <<<"$st" || die "$gw's status did not come from its running agent: $st"
        # An agent whose socket does not report the workloads yet: read them from its state.
        if ! grep -q '^workloads:' <<<"$st"; then
                show "berth status --no-agent --config $gw/agent.conf   (workloads part)"
                berth status --no-agent --config "$gw/agent.conf" | sed -n '/^workloads:/,$p' | sed 's/^/    /'
        fi
done

step "Stopping everything"
say "Agents and server get SIGTERM and must exit cleanly; then containerd stops the stacks and
the working directory is removed."
for gw in "${GWS[@]}"; do
        kill -TERM "${AGENT_PID[$gw]}"
        rc=0
        wait "${AGENT_PID[$gw]}" || rc=$?
        [ "$rc" = 0 ] || die "$gw's agent exited with status $rc on SIGTERM"
done
kill -TERM "$SRV_PID"
rc=0
wait "$SRV_PID" || rc=$?
[ "$rc" = 0 ] || die "berth-server exited with status $rc on SIGTERM"
ok "agents and server stopped cleanly; containerd, the PLC and the brokers stop on exit"

printf '\n%sDemo finished in %d s:%s release 1 rolled out in groups and publishing from three gateways;\n' \
        "$B" $((SECONDS - T_START)) "$N"
printf 'the broken release 2 rolled back by itself on %s, the rollout paused at its error threshold,\n' "$CANARY"
printf 'the other gateways untouched and still publishing release 1.\n'
