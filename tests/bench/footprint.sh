#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# footprint.sh — benchmark: berth's memory footprint.
#   1. peak RSS (/usr/bin/time %M) of 'berth import' of a ~1 GiB bundle (busybox + 4
#      incompressible layers), store only and with the containerd preload;
#   2. idle RSS of the workload engine supervising three workloads: 'berth supervise'
#      (the engine alone, in the foreground), then 'berth agent' adopting the same
#      workloads with telemetry (a sample every second, queued: its server is down) and
#      the metrics endpoint (scraped once) on; VmRSS, RssAnon and PSS are read after
#      IDLE s.
# Goals (issue 7): idle ≤ 5 MiB, import peak ≤ 16 MiB.
#
# Usage: tests/bench/footprint.sh   (env: SIZE=1G, IDLE=5, BERTH=path/to/berth)
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc)"
[ -x /usr/bin/time ] || t_skip "needs /usr/bin/time (package time)"
SIZE=${SIZE:-1G}
IDLE=${IDLE:-5}
: "${BERTH:=$BERTH_SRC/build/agent/berth}"
B=$BERTH
[ -x "$B" ] || t_fail "berth binary not found at $B (build first or set BERTH)"
W=$(t_tmpdir)
REF=berth.bench/big:1
SREF=berth.bench/small:1

t_log "building a $SIZE bundle"
t_make_image -o "$W/big.tar" --ref "$REF" --compression none --random-layers 4 --random-size "$SIZE" --seed fp
t_make_image -o "$W/small.tar" --ref "$SREF"
t_keys
t_bundle "$W/big.berth" --name big --version 1 --image "$W/big.tar" --ref "$REF"
rm -f "$W/big.tar"
t_log "bundle: $(du -h "$W/big.berth" | cut -f1)"

t_containerd_start "$(t_tmpdir)"
kib() { awk '{printf "%.1f MiB", $1 / 1024}' <<<"$1"; }

/usr/bin/time -f %M -o "$W/rss1" "$B" import --state-dir "$W/s1" --trust "$T_TRUST" "$W/big.berth" >/dev/null
printf 'import peak RSS (store only, %s): %s\n' "$SIZE" "$(kib "$(cat "$W/rss1")")"
/usr/bin/time -f %M -o "$W/rss2" "$B" import --state-dir "$W/s2" --trust "$T_TRUST" \
        --containerd "$T_CTRD_SOCK" --namespace "$T_CTRD_NS" "$W/big.berth" >/dev/null
printf 'import peak RSS (containerd preload, %s): %s\n' "$SIZE" "$(kib "$(cat "$W/rss2")")"

# Three workloads, then the engine idling.
cat >"$W/wl.json" <<EOF
{"soak": "1s", "workloads": [
 {"name": "a", "image": "$SREF", "command": ["/bin/sh", "-c", "exec sleep 100000"], "resources": {"memory": "16M", "cpu": "100m"}, "stop": {"grace": "200ms"}},
 {"name": "b", "image": "$SREF", "command": ["/bin/busybox", "httpd", "-f", "-p", "7000"], "resources": {"memory": "16M", "cpu": "100m"}, "stop": {"grace": "200ms"},
  "probe": {"tcp": {"port": 7000}, "period": "10s"}},
 {"name": "c", "image": "$SREF", "command": ["/bin/sh", "-c", "exec sleep 100000"], "resources": {"memory": "16M", "cpu": "100m"}, "stop": {"grace": "200ms"}}
]}
EOF
t_bundle "$W/three.berth" --name three --version 1 --image "$W/small.tar" --ref "$SREF" -- --workloads "$W/wl.json"
O=(--state-dir "$W/s3" --containerd "$T_CTRD_SOCK" --namespace "$T_CTRD_NS")
"$B" import "${O[@]}" --trust "$T_TRUST" "$W/three.berth" >/dev/null
"$B" activate "${O[@]}" --data-dir "$W/data" three 1 >/dev/null || t_fail "activating three workloads failed"
"$B" supervise "${O[@]}" --data-dir "$W/data" >/dev/null 2>&1 &
SUP=$!
t_defer "kill $SUP 2>/dev/null || true"
t_wait_for "[ \$(ctr -a '$T_CTRD_SOCK' -n '$T_CTRD_NS' tasks ls | grep -c RUNNING) = 3 ]" 20 || t_fail "3 tasks not running"
# Let the engine reach its steady state (adoption done, a few supervision rounds).
t_wait_for "grep -q '^VmRSS' /proc/$SUP/status" 5 || t_fail "berth supervise is not running"
# shellcheck disable=SC2034 # read by the t_wait_for condition below
start=$SECONDS
t_wait_for "[ \$((SECONDS - start)) -ge $IDLE ]" $((IDLE + 5))
rss=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$SUP/status")
hwm=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$SUP/status")
anon=$(awk '$1 == "RssAnon:" {print $2}' "/proc/$SUP/status")
pss=$(awk '$1 == "Pss:" {print $2}' "/proc/$SUP/smaps_rollup")
printf 'engine idle RSS, 3 workloads (berth supervise): %s (peak %s; anonymous %s, PSS %s)\n' \
        "$(kib "$rss")" "$(kib "$hwm")" "$(kib "$anon")" "$(kib "$pss")"
kill -TERM "$SUP"
wait "$SUP" || true

# The agent: same state and workloads, a server that does not answer (telemetry queues),
# samples every second, the metrics endpoint on.
cat >"$W/agent.conf" <<EOF
state_dir = $W/s3
trust_dir = $T_TRUST
[server]
url = http://127.0.0.1:9
retry_min = 1
retry_max = 2
[update]
backends = containerd
[containerd]
address = $T_CTRD_SOCK
namespace = $T_CTRD_NS
[workloads]
data_dir = $W/data
[control]
socket = $W/agent.sock
[telemetry]
interval = 1
[metrics]
listen = 127.0.0.1:0
EOF
"$B" agent --config "$W/agent.conf" >"$W/agent.log" 2>&1 &
AG=$!
t_defer "kill $AG 2>/dev/null || true"
t_wait_for "grep -q 'Prometheus metrics on' '$W/agent.log'" 20 || t_fail "the agent did not start: $(tail -3 "$W/agent.log")"
start=$SECONDS
t_wait_for "[ \$((SECONDS - start)) -ge $IDLE ]" $((IDLE + 5))
URL=$(grep -o "http://127.0.0.1:[0-9]*/metrics" "$W/agent.log" | head -1)
q=$(curl -sf "$URL" | awk '$1 == "berth_telemetry_queue_records" {print $2}')
[ "${q:-0}" -ge "$IDLE" ] || t_fail "the agent queued no telemetry (${q:-no answer})"
rss=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$AG/status")
hwm=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$AG/status")
anon=$(awk '$1 == "RssAnon:" {print $2}' "/proc/$AG/status")
pss=$(awk '$1 == "Pss:" {print $2}' "/proc/$AG/smaps_rollup")
printf 'agent idle RSS, 3 workloads, telemetry (%s records queued) and metrics on: %s (peak %s; anonymous %s, PSS %s)\n' \
        "$q" "$(kib "$rss")" "$(kib "$hwm")" "$(kib "$anon")" "$(kib "$pss")"
kill -TERM "$AG"
wait "$AG" || t_fail "the agent did not stop cleanly"
