#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# poll-load.sh — DDI poll throughput of berth-server: 10,000 registered targets, all with
# an open deployment (so each poll returns a deploymentBase link), polled over TLS
# keep-alive by wrk with many connections. Prints "N polls/s" and the p99 latency.
#
#   BERTH_BUILD=build tests/bench/poll-load.sh   [env: TARGETS CONNECTIONS DURATION THREADS]
HERE="$(cd "$(dirname "$0")" && pwd)"
export BERTH_BUILD="${BERTH_BUILD:-$HERE/../../build}"
export BERTH=${BERTH:-$BERTH_BUILD/agent/berth}
# shellcheck source=../lib/harness.sh
source "$HERE/../lib/harness.sh"
command -v wrk >/dev/null || t_skip "wrk is not installed (scripts/deps.sh)"

TARGETS=${TARGETS:-10000}
CONNECTIONS=${CONNECTIONS:-200}
DURATION=${DURATION:-15s}
THREADS=${THREADS:-2}

srv_config "[bundles]" "insecure_skip_verify = true" "[ddi]" "threads = $THREADS" "polling_sleep = 00:05:00"
srv_start
srv_upload_bundle bench 1 --raw 4096
jq -n --argjson n "$TARGETS" '[range(0; $n) | ("b-" + ("0000" + tostring)[-5:])
        | {controllerId: ., token: ("tok-" + . + "-0123456789abcdef")}]' > "$T_ROOT/targets.json"
mgmt POST /api/v1/targets "" --data-binary @"$T_ROOT/targets.json" -H 'Content-Type: application/json'
expect_code 201 "register $TARGETS targets"
RID=$("$SERVER_BIN" rollout create --name bench --bundle "$BUNDLE_ID" | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null
ddi GET b-00042 "" tok-b-00042-0123456789abcdef
echo "$BODY" | jq -e '._links.deploymentBase' >/dev/null || t_fail "bench target has no deployment: $BODY"

echo "berth-server poll load: $TARGETS targets, $CONNECTIONS TLS keep-alive connections, $DURATION, server threads $THREADS, $(nproc) CPUs"
BENCH_TARGETS=$TARGETS wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$HERE/poll-load.lua" \
        "https://127.0.0.1:$DDI_PORT/" > "$T_ROOT/wrk.out" 2>&1 || { cat "$T_ROOT/wrk.out"; t_fail "wrk failed"; }
cat "$T_ROOT/wrk.out"
rps=$(awk '/^Requests\/sec:/ {print $2}' "$T_ROOT/wrk.out")
p99=$(awk '$1 == "99%" {print $2}' "$T_ROOT/wrk.out")
non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$T_ROOT/wrk.out")
[ -z "$non2xx" ] || t_fail "$non2xx polls were not answered with 200"
printf '%.0f polls/s\np99 latency %s\n' "$rps" "$p99"
