#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# gateway_stack.sh — the example gateway telemetry stack (scripts/make-gateway-stack.sh) run
# by berth on a real containerd + runc, with a PLC simulator (scripts/plc-sim.sh) and an
# "upstream" mosquitto (the cloud side) on loopback, both started here, outside berth:
#   - v1 is imported and activated from one berth config file (containerd address and
#     namespace, state, trust and data dirs); broker and poller run non-root, read-only,
#     with their memory and CPU limits (cgroup files), the broker's volume is its user's;
#   - readings the poller published locally arrive on the upstream broker via the bridge;
#   - WAN down (upstream stopped): readings queue in the broker; upstream back: the queued
#     readings arrive first, in order, the first QUEUE of the outage (max_queued_messages,
#     plus one per reconnect attempt that a reading went out on: mosquitto counts the bound
#     above the messages in flight), and the newer ones were dropped as mosquitto documents;
#     live readings follow;
#   - v2 (--broken: its poller never publishes, its heartbeat probe fails) is imported
#     with --activate and rolled back by itself; v1 runs again and its readings keep
#     arriving upstream; no v2 reading ever reached the upstream;
#   - v3 (--site-config) takes gateway id and broker port from a file on the gateway (a
#     read-only volume): it commits and its readings arrive upstream under the new id; a
#     second agent (own state, namespace, data dir and site file) runs the same bundle
#     next to it and both gateways' readings arrive.
# shellcheck disable=SC2016 # t_wait_for conditions are expanded when evaluated
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc, cgroups)"
[ -d /sys/fs/cgroup/memory ] || t_skip "needs cgroup v1 memory controller (this test reads v1 files)"
for b in mosquitto mosquitto_sub mosquitto_pub busybox jq; do
        command -v "$b" >/dev/null || t_skip "$b not installed (scripts/deps.sh)"
done
B=${BERTH:?BERTH must point at the berth binary}
trap 't_fail "unexpected failure of: $BASH_COMMAND"' ERR
W=$(t_tmpdir)
T0=$(date +%s)
QUEUE=8           # the bridge's max_queued_messages
INTERVAL=0.2      # poll interval (s)
UP_PORT=$(t_free_port)
BROKER_PORT=$(t_free_port)
PLC_PORT=$(t_free_port)
NAME=gateway-stack

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- the PLC simulator and the upstream ("cloud") broker --------------------------------
plc_start() {
        "$BERTH_SRC/scripts/plc-sim.sh" -p "$PLC_PORT" -d "$W/plc" >>"$W/plc.log" 2>&1 &
        echo $! >"$W/plc.pid"
        t_wait_for "curl -sf http://127.0.0.1:$PLC_PORT/cgi-bin/registers" 10 ||
                t_fail "the PLC simulator did not answer: $(cat "$W/plc.log")"
}
plc_stop() {
        local p
        p=$(cat "$W/plc.pid")
        kill -TERM "$p"
        t_wait_for "! kill -0 $p" 10 || t_fail "the PLC simulator did not stop"
        wait "$p" 2>/dev/null || true
}
plc_start
t_defer 'kill $(cat '"$W"'/plc.pid)'

up_start() {
        "$BERTH_SRC/scripts/mqtt-upstream.sh" -p "$UP_PORT" -d "$W/up" 2>>"$W/up.log" &
        echo $! >"$W/up.pid"
        t_wait_for "port_open $UP_PORT" 10 || t_fail "the upstream broker did not start: $(tail -5 "$W/up.log")"
}
up_stop() {
        local p
        p=$(cat "$W/up.pid")
        kill -TERM "$p"
        t_wait_for "! kill -0 $p" 10 || t_fail "the upstream broker did not stop"
        wait "$p" 2>/dev/null || true
}
up_start
t_defer 'kill $(cat '"$W"'/up.pid)'
# The cloud's consumer: a persistent session (QoS 1), so readings the bridge delivers while
# it is reconnecting after an upstream restart are kept for it.
mosquitto_sub -h 127.0.0.1 -p "$UP_PORT" -c -i cloud-consumer -q 1 -t 'site/#' >"$W/cloud.out" 2>"$W/cloud.err" &
CSUB=$!
t_defer "kill $CSUB"

# ---- build the stack and the bundles ----------------------------------------------------
t_keys
common=(--upstream "127.0.0.1:$UP_PORT" --broker-port "$BROKER_PORT" --fast --soak 3s
        --plc-url "http://127.0.0.1:$PLC_PORT/cgi-bin/registers" --interval "$INTERVAL" --queue "$QUEUE"
        -k "$T_KEY" -q)
BERTH=$B "$BERTH_SRC/scripts/make-gateway-stack.sh" -o "$W/v1" --version 1 "${common[@]}" >/dev/null
BERTH=$B "$BERTH_SRC/scripts/make-gateway-stack.sh" -o "$W/v2" --version 2 --broken "${common[@]}" >/dev/null
BERTH=$B "$BERTH_SRC/scripts/make-gateway-stack.sh" -o "$W/v3" --version 3 --site-config "${common[@]}" >/dev/null
t_assert_file "$W/v1/$NAME-1.berth"
t_assert_file "$W/v2/$NAME-2.berth"
t_log "stack built and signed in $(($(date +%s) - T0)) s"

t_containerd_start "$(t_tmpdir)"
NS=$T_CTRD_NS
cat >"$W/berth.conf" <<EOF
state_dir = $W/state
trust_dir = $T_TRUST

[containerd]
address = $T_CTRD_SOCK
namespace = $NS

[workloads]
data_dir = $W/data
EOF
C=(--config "$W/berth.conf")
running() { t_ctr tasks ls | awk 'NR > 1 && $3 == "RUNNING" {print $1}' | sort | tr '\n' ' '; }
pid_of() { t_ctr tasks ls | awk -v n="$1" '$1 == n && $3 == "RUNNING" {print $2}'; }
# readings FILE: the JSON readings in FILE (one per line), only complete lines
readings() { jq -c 'select(.seq != null)' "$1" 2>/dev/null || true; }
last_seq() { readings "$1" | tail -n 1 | jq -r '.seq // 0'; }
max_seq() { readings "$1" | jq -s 'map(.seq) | max // 0'; }

# ---- v1: import + activate, hardening and limits ------------------------------------------
out=$("$B" import "${C[@]}" --activate "$W/v1/$NAME-1.berth" 2>&1) || t_fail "import --activate of v1 failed: $out"
t_assert_contains "$out" "$NAME: version 1 committed (was 0)" "v1 is activated and committed"
t_assert_eq "$(running)" "$NAME-v1-broker $NAME-v1-poller " "broker and poller of v1 run"
BROKER=$(pid_of "$NAME-v1-broker")
POLLER=$(pid_of "$NAME-v1-poller")
status_field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
t_assert_eq "$(status_field "$BROKER" Uid)" 1883 "the broker runs as 1883"
t_assert_eq "$(status_field "$POLLER" Uid)" 1000 "the poller runs as 1000"
t_assert_eq "$(status_field "$BROKER" CapEff)" 0000000000000000 "the broker has no capabilities"
t_assert_eq "$(status_field "$POLLER" NoNewPrivs)" 1 "the poller runs with no_new_privs"
t_assert_contains "$(tr '\0' ' ' <"/proc/$BROKER/cmdline")" "/usr/sbin/mosquitto -c /run/mosquitto/mosquitto.conf" \
        "the broker is Debian's mosquitto with the generated config"
cg_mem() { cat "/sys/fs/cgroup/memory/$NS/$1/memory.limit_in_bytes"; }
cg_cpu() { cat "/sys/fs/cgroup/cpu,cpuacct/$NS/$1/cpu.cfs_quota_us" 2>/dev/null ||
        cat "/sys/fs/cgroup/cpu/$NS/$1/cpu.cfs_quota_us"; }
t_assert_eq "$(cg_mem "$NAME-v1-broker")" $((32 * 1024 * 1024)) "broker memory limit 32M (cgroup)"
t_assert_eq "$(cg_mem "$NAME-v1-poller")" $((16 * 1024 * 1024)) "poller memory limit 16M (cgroup)"
t_assert_eq "$(cg_cpu "$NAME-v1-broker")" 25000 "broker CPU quota 250m (cgroup)"
t_assert_eq "$(cg_cpu "$NAME-v1-poller")" 10000 "poller CPU quota 100m (cgroup)"
for wl in broker poller; do
        if t_ctr tasks exec --exec-id "ro-$wl" "$NAME-v1-$wl" /bin/sh -c 'echo x > /rootfs-write' 2>"$W/ro.err"; then
                t_fail "the $wl's rootfs is writable"
        fi
        t_assert_contains "$(cat "$W/ro.err")" "Read-only file system" "the $wl's rootfs is read-only"
done
t_assert_eq "$(stat -c %u:%g "$W/data/broker/data")" 1883:1883 "the broker's volume belongs to its user"

# ---- readings flow: poller → local broker → bridge → upstream ------------------------------
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -i local-observer -t 'site/#' >"$W/local.out" 2>"$W/local.err" &
LSUB=$!
t_defer "kill $LSUB"
t_wait_for '[ "$(readings "$W/cloud.out" | wc -l)" -ge 5 ]' 30 ||
        t_fail "no readings upstream: $(tail -3 "$W/cloud.out") / broker log: $(tail -5 "$W/state/logs/$NAME-v1-broker.log")"
r=$(readings "$W/cloud.out" | head -n 1)
t_assert_eq "$(jq -r '.gateway + " " + .version' <<<"$r")" "gw1 1" "a reading names gateway and version"
jq -e '.temperature_c and .pressure_kpa and (.cycles > 0)' <<<"$r" >/dev/null ||
        t_fail "a reading does not carry the PLC registers: $r"
t_assert_contains "$(cat "$W/up.log")" "New bridge connected from 127.0.0.1" "the gateway's bridge connected upstream"
t_assert_contains "$(cat "$W/up.log")" "as gw1-bridge" "the bridge uses the gateway's client id"
seqs=$(readings "$W/cloud.out" | jq -r .seq | tr '\n' ' ')
t_assert_eq "$(readings "$W/cloud.out" | jq -s '[.[].seq] == ([.[].seq] | sort) and ([.[].seq] | length) == ([.[].seq] | unique | length)')" \
        true "readings arrive in order, once ($seqs)"
st=$("$B" status "${C[@]}")
t_assert_contains "$st" "$NAME: running version 1" "berth status shows v1 running"
t_log "v1 running and forwarding after $(($(date +%s) - T0)) s"

# ---- WAN down: store; WAN back: forward, in order, within the bound -------------------------
# A clean cut: the PLC pauses (the poller publishes nothing while it cannot read), every
# reading published so far reaches the upstream, then the WAN drops. So nothing is in
# flight at the cut and the bridge's queue starts right after reading L.
cannot_read() { grep -c "cannot read" "$W/state/logs/$NAME-v1-poller.log" || true; }
c0=$(cannot_read)
plc_stop
t_wait_for '[ "$(cannot_read)" -gt '"$c0"' ]' 10 || t_fail "the poller did not notice the PLC pause"
t_wait_for '[ "$(max_seq "$W/local.out")" -gt 0 ] && [ "$(last_seq "$W/cloud.out")" = "$(max_seq "$W/local.out")" ]' 30 ||
        t_fail "the readings published before the cut did not all reach the upstream"
L=$(last_seq "$W/cloud.out")
# The PLC stays paused until the bridge has noticed the cut (it logs its next connection
# attempt): a reading published before that would go out on the dead connection and be
# held as an unacknowledged QoS 1 message, on top of the queue's bound.
bridge_tries() { grep -c "Connecting bridge" "$W/state/logs/$NAME-v1-broker.log" || true; }
b0=$(bridge_tries)
up_stop
t_wait_for '[ "$(bridge_tries)" -gt '"$b0"' ]' 20 ||
        t_fail "the bridge did not notice that the upstream went away: $(tail -5 "$W/state/logs/$NAME-v1-broker.log")"
plc_start
t_log "upstream stopped after reading $L"
# More readings than the queue holds are published locally while the WAN is down.
t_wait_for '[ "$(max_seq "$W/local.out")" -ge $((L + QUEUE + 6)) ]' 30 ||
        t_fail "the poller did not keep publishing locally while the WAN was down (last $(max_seq "$W/local.out"))"
t_wait_for 'grep -q "Outgoing messages are being dropped for client gw1-bridge" "$W/state/logs/$NAME-v1-broker.log"' 10 ||
        t_fail "the broker did not report dropping beyond its queue: $(tail -5 "$W/state/logs/$NAME-v1-broker.log")"
D=$(max_seq "$W/local.out")
TRIES=$(($(bridge_tries) - b0))
up_start
t_log "upstream back; the poller was at reading $D; the bridge tried $TRIES time(s) while the WAN was down"
t_wait_for '[ "$(last_seq "$W/cloud.out")" -ge $((D + 5)) ]' 30 ||
        t_fail "live readings did not resume upstream: $(tail -3 "$W/cloud.out")"
# The readings after L as the upstream's consumer got them (a QoS 1 resend to it after the
# upstream's restart may arrive twice: consecutive duplicates are folded).
after=$(readings "$W/cloud.out" | jq -r --argjson l "$L" 'select(.seq > $l) | .seq' | uniq | tr '\n' ' ')
read -ra A <<<"$after"
t_log "upstream got after $L: $after"
# What the bridge held for the offline upstream: the readings of the outage (L, D] that
# arrived. mosquitto bounds the queue "above those that are currently in-flight": while a
# reconnect attempt is pending the bridge has a socket, and a reading published in that
# moment goes in flight on the attempt and stays with the session when the attempt fails.
# So the bridge holds the first QUEUE readings of the outage plus at most one per attempt,
# drops the rest, and on reconnect resends the ones in flight first, then the queue in order.
held=() live=0
for s in "${A[@]}"; do
        if [ "$s" -le "$D" ]; then
                [ "$live" = 0 ] || t_fail "a reading of the outage ($s) arrived after a live one: $after"
                held+=("$s")
        else
                live=1
        fi
done
extra=$((${#held[@]} - QUEUE))
[ "$extra" -ge 0 ] && [ "$extra" -le "$TRIES" ] ||
        t_fail "the bridge held ${#held[@]} readings of the outage, not the bound of $QUEUE plus at most one per reconnect attempt ($TRIES): $after"
t_assert_eq "$(printf '%s\n' "${held[@]}" | sort -n | head -n "$QUEUE" | tr '\n' ' ')" \
        "$(seq -s ' ' $((L + 1)) $((L + QUEUE))) " \
        "the first $QUEUE readings of the outage (the bound) all arrive ($after)"
prev=0
for s in "${held[@]:$extra}"; do
        [ "$s" -gt "$prev" ] || t_fail "the queued readings arrived out of order after the outage: $after"
        prev=$s
done
[ "${#held[@]}" -lt $((D - L)) ] ||
        t_fail "no reading of the outage was dropped beyond the bound of $QUEUE: $after"
prev=0
for s in "${A[@]}"; do
        [ "$s" -le "$D" ] && continue
        [ "$s" -gt "$prev" ] || t_fail "live readings upstream out of order after the outage: $after"
        prev=$s
done
t_log "store-and-forward: ${#held[@]} readings of the outage delivered ($QUEUE queued, $extra in flight on a reconnect attempt), $((D - L - ${#held[@]})) dropped at the bound"

# ---- v2 (broken poller) rolls back by itself; v1 keeps publishing ---------------------------
BEFORE=$(wc -l <"$W/cloud.out")
t0=$(date +%s%N)
if out=$("$B" import "${C[@]}" --activate "$W/v2/$NAME-2.berth" 2>&1); then
        t_fail "the broken v2 was committed: $out"
fi
t_log "v2 rolled back in $((($(date +%s%N) - t0) / 1000000)) ms (import, switch, probes, rollback)"
t_assert_contains "$out" "$NAME: version 2 ROLLED BACK to 1" "v2 is rolled back automatically"
t_assert_contains "$out" "workload poller of version 2: exec probe" "the evidence names the poller's probe"
t_assert_contains "$out" "exec /usr/local/bin/poller: exit status 1: no heartbeat yet" \
        "the evidence names the failing check and what it said"
t_assert_contains "$out" "previous version 1 healthy again" "the previous version passed its probes again"
t_assert_eq "$(running)" "$NAME-v1-broker $NAME-v1-poller " "only v1 runs after the rollback"
AFTER=$(wc -l <"$W/cloud.out")
t_wait_for '[ "$(tail -n +$((AFTER + 1)) "$W/cloud.out" | jq -r .version 2>/dev/null | grep -c "^1$")" -ge 3 ]' 30 ||
        t_fail "v1 readings did not resume upstream after the rollback: $(tail -3 "$W/cloud.out")"
t_assert_eq "$(readings "$W/cloud.out" | jq -r .version | sort -u | tr '\n' ' ')" "1 " \
        "no reading of the broken v2 reached the upstream"
t_assert_contains "$(cat "$W/state/logs/$NAME-v2-poller.log")" "publishing reading 1 to 127.0.0.2:$BROKER_PORT failed" \
        "the v2 poller's log shows why"
st=$("$B" status "${C[@]}")
t_assert_contains "$st" "$NAME: running version 1" "status: v1 runs again"
t_assert_contains "$st" "rolled_back" "status: the last update was rolled back"
t_log "berth status after the rollback:"
printf '%s\n' "$st" | sed 's/^/    /' >&2
# The switch stopped the v1 broker, which saved its store on the volume.
t_assert_eq "$(stat -c %u "$W/data/broker/data/mosquitto.db")" 1883 "the broker persisted its store on its volume"
t_log "readings since v2 started: $((AFTER - BEFORE)) during the switch, v1 publishing again"

# ---- v3 with per-gateway settings from the gateway's site file ------------------------------
# One bundle for many gateways: id and broker port come from a file provisioned on the
# gateway (read-only volume 'site'), not from the signed spec.
SITE_PORT=$(t_free_port)
for wl in broker poller; do
        mkdir -p "$W/data/$wl/site"
        printf 'GATEWAY_ID=gw7\nBROKER_PORT=%s\n' "$SITE_PORT" >"$W/data/$wl/site/site.env"
done
AFTER=$(wc -l <"$W/cloud.out")
out=$("$B" import "${C[@]}" --activate "$W/v3/$NAME-3.berth" 2>&1) || t_fail "import --activate of v3 failed: $out"
t_assert_contains "$out" "$NAME: version 3 committed (was 1)" "v3 (site config) commits"
port_open "$SITE_PORT" || t_fail "the v3 broker does not listen on the site file's port $SITE_PORT"
t_wait_for '[ "$(tail -n +$((AFTER + 1)) "$W/cloud.out" | jq -r "select(.version == \"3\") | .gateway" 2>/dev/null | grep -c "^gw7$")" -ge 3 ]' 30 ||
        t_fail "v3 readings of gateway gw7 did not arrive upstream: $(tail -3 "$W/cloud.out")"
t_assert_contains "$(cat "$W/up.log")" "as gw7-bridge" "the v3 bridge uses the site's gateway id"
# A second agent on the same machine (own state, namespace and data dir) runs the same
# signed bundle with its own site file: no clash of ports or client ids.
NS2=$NS-b
SITE_PORT2=$(t_free_port)
for wl in broker poller; do
        mkdir -p "$W/data2/$wl/site"
        printf 'GATEWAY_ID=gw8\nBROKER_PORT=%s\n' "$SITE_PORT2" >"$W/data2/$wl/site/site.env"
done
sed -e "s|^state_dir = .*|state_dir = $W/state2|" -e "s|^namespace = .*|namespace = $NS2|" \
        -e "s|^data_dir = .*|data_dir = $W/data2|" "$W/berth.conf" >"$W/berth2.conf"
# containerd first (it kills the tasks of every namespace), then NS2's empty cgroup dirs.
t_defer "t_containerd_stop; rmdir /sys/fs/cgroup/*/$NS2 /run/containerd/runc/$NS2"
out=$("$B" import --config "$W/berth2.conf" --activate "$W/v3/$NAME-3.berth" 2>&1) ||
        t_fail "the second agent's import --activate of v3 failed: $out"
t_assert_contains "$out" "$NAME: version 3 committed (was 0)" "the second agent commits the same bundle"
AFTER=$(wc -l <"$W/cloud.out")
t_wait_for '[ "$(tail -n +$((AFTER + 1)) "$W/cloud.out" | jq -r .gateway 2>/dev/null | sort -u | tr "\n" " ")" = "gw7 gw8 " ]' 30 ||
        t_fail "readings of both gateways did not arrive upstream: $(tail -4 "$W/cloud.out")"
t_assert_eq "$(ctr -a "$T_CTRD_SOCK" -n "$NS2" tasks ls | awk 'NR > 1 && $3 == "RUNNING" {print $1}' | sort | tr '\n' ' ')" \
        "$NAME-v3-broker $NAME-v3-poller " "the second agent's stack runs in its own namespace"

# The commit of v3 forgot the rolled-back v2; the broker image all versions share stays.
imgs=" $(t_ctr images ls -q | tr '\n' ' ')"
t_assert_contains "$imgs" " berth.example/gw/mosquitto:2 " "the broker image shared by v1..v3 survives the GC of v2"
case "$imgs" in *" berth.example/gw/poller:2 "*) t_fail "v2's poller image is still in containerd: $imgs" ;; esac
t_log "PASS in $(($(date +%s) - T0)) s"
