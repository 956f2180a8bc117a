#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# poll-load.sh — DDI poll throughput of berth-server: 10,000 registered targets, all with
# an open deployment (so each poll returns a deploymentBase link), polled over TLS
# keep-alive by wrk with many connections. Prints "N polls/s" and the p99 latency.
#
#   BERTH_BUILD=build tests/bench/poll-load.sh   [env: TARGETS CONNECTIONS DURATION THREADS]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
export BERTH_BUILD="${BERTH_BUILD:-$HERE/../../build}"
export BERTH_SRC="${BERTH_SRC:-$HERE/../..}"
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/deps.sh)" >&2; exit 77; }
source "$HERE/../integration/lib/server.sh"

TARGETS=${TARGETS:-10000}
CONNECTIONS=${CONNECTIONS:-200}
DURATION=${DURATION:-15s}
THREADS=${THREADS:-2}

srv_config "[bundles]" "insecure_skip_verify = true" "[ddi]" "threads = $THREADS" "polling_sleep = 00:05:00"
srv_start
BUNDLE_SIZE=4096 upload_test_bundle bench 1
jq -n --argjson n "$TARGETS" '[range(0; $n) | ("b-" + ("0000" + tostring)[-5:])
        | {controllerId: ., token: ("tok-" + . + "-0123456789abcdef")}]' > "$T/targets.json"
mgmt POST /api/v1/targets "" --data-binary @"$T/targets.json" -H 'Content-Type: application/json'
expect_code 201 "register $TARGETS targets"
RID=$("$SERVER_BIN" rollout create --name bench --bundle "$BUNDLE_ID" | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null
ddi GET b-00042 "" tok-b-00042-0123456789abcdef
echo "$BODY" | jq -e '._links.deploymentBase' >/dev/null || fail "bench target has no deployment: $BODY"

echo "berth-server poll load: $TARGETS targets, $CONNECTIONS TLS keep-alive connections, $DURATION, server threads $THREADS, $(nproc) CPUs"
BENCH_TARGETS=$TARGETS wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$HERE/poll-load.lua" \
        "https://127.0.0.1:$DDI_PORT/" > "$T/wrk.out" 2>&1 || { cat "$T/wrk.out"; fail "wrk failed"; }
cat "$T/wrk.out"
rps=$(awk '/^Requests\/sec:/ {print $2}' "$T/wrk.out")
p99=$(awk '$1 == "99%" {print $2}' "$T/wrk.out")
non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$T/wrk.out")
[ -z "$non2xx" ] || fail "$non2xx polls were not answered with 200"
printf '%.0f polls/s\np99 latency %s\n' "$rps" "$p99"
