#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# rollback.sh — benchmark: automatic rollback time. Version 1 (an HTTP server on the
# host network that exits cleanly on SIGTERM, plus a worker that depends on it) runs
# committed; versions 2..RUNS+1 answer their probe path with 404. Each 'berth activate'
# of a bad version switches, reaches the failure threshold (3 failed probes, 200 ms
# apart), rolls back, and reports the time from the moment the threshold was reached
# to the moment every workload of version 1 passed its probe again (the engine's own
# monotonic clock). The script also checks from outside that version 1 serves again.
# Prints every run and the median as `rollback N.NN s` (goal ≤ 2 s).
#
# Usage: tests/bench/rollback.sh   (env: RUNS=5, BERTH=path/to/berth, default build/agent/berth)
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc)"
RUNS=${RUNS:-5}
: "${BERTH:=$BERTH_SRC/build/agent/berth}"
B=$BERTH
[ -x "$B" ] || t_fail "berth binary not found at $B (build first or set BERTH)"
W=$(t_tmpdir)
REF=berth.bench/rollback:1
PORT=$(t_free_port)
mkdir -p "$W/www"
echo "v-ok" >"$W/www/ok.html"
t_make_image -o "$W/img.tar" --ref "$REF" --file "$W/www:/www"
t_keys

mk() { # mk VERSION PROBE_PATH
        cat >"$W/wl$1.json" <<EOF
{"soak": "10s", "workloads": [
 {"name": "web", "image": "$REF", "network": "host",
  "command": ["/bin/sh", "-c", "trap 'exit 0' TERM; /bin/busybox httpd -f -p $PORT -h /www & wait"],
  "resources": {"memory": "32M", "cpu": 0.5}, "stop": {"grace": "5s"},
  "probe": {"http": {"port": $PORT, "path": "$2"}, "period": "200ms", "timeout": "500ms", "failureThreshold": 3}},
 {"name": "worker", "image": "$REF", "dependsOn": ["web"], "network": "none",
  "command": ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
  "resources": {"memory": "16M", "cpu": "100m"}, "stop": {"grace": "5s"},
  "probe": {"exec": {"command": ["/bin/true"]}, "period": "200ms"}}
]}
EOF
        t_bundle "$W/rb$1.berth" --name rb --version "$1" --image "$W/img.tar" --ref "$REF" -- --workloads "$W/wl$1.json"
}

t_containerd_start "$(t_tmpdir)"
O=(--state-dir "$W/state" --containerd "$T_CTRD_SOCK" --namespace "$T_CTRD_NS" --data-dir "$W/data")
mk 1 /ok.html
"$B" import "${O[@]:0:6}" --trust "$T_TRUST" "$W/rb1.berth" >/dev/null
"$B" activate "${O[@]}" rb 1 >/dev/null || t_fail "activating v1 failed"

times=()
for i in $(seq 1 "$RUNS"); do
        v=$((i + 1))
        mk "$v" /missing.html
        "$B" import "${O[@]:0:6}" --trust "$T_TRUST" "$W/rb$v.berth" >/dev/null
        out=$("$B" activate "${O[@]}" rb "$v") && t_fail "bad version $v committed: $out"
        t=$(sed -n 's/^rollback: previous version 1 healthy again \([0-9.]*\) s after.*/\1/p' <<<"$out")
        [ -n "$t" ] || t_fail "run $i: no rollback time reported: $out"
        [ "$(curl -s -m 2 "http://127.0.0.1:$PORT/ok.html")" = v-ok ] || t_fail "run $i: v1 does not serve"
        printf 'run %d: rollback %s s\n' "$i" "$t"
        times+=("$t")
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
printf 'rollback %.2f s\n' "$median"
