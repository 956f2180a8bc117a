#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# idle-bytes.sh — the WAN bytes per day of an idle gateway: berth's agent at its default
# settings (a poll every 5 minutes over HTTPS, telemetry on, a sample every 5 minutes)
# next to what a user would otherwise run, a plain DDI poller (curl every 5 minutes: a
# fresh TLS connection and the full JSON answer each time), in the same run.
#
# The day is simulated 100 times faster, and that is the only change: polls and samples
# every 3 s, and berth-server closes idle connections after 1 s (ddi.idle_timeout), so
# every poll opens a connection again, as it would after 5 idle minutes. Each side runs
# for POLLS polls; its bytes per poll × 288 are its bytes per day.
#
# Bytes are counted by the kernel: the whole bench runs in a network namespace of its own
# where only berth-server and the client under test talk, over loopback with a 1500-byte
# MTU; the loopback's tx_bytes counts every packet once with its IP and TCP headers (and a
# 14-byte link header). The agent's own count (berth status: wan) is printed beside it.
#
#   BERTH_BUILD=build tests/bench/idle-bytes.sh          [env: POLLS (20)]
HERE="$(cd "$(dirname "$0")" && pwd)"
if [ "${BERTH_IDLE_INNER:-0}" != 1 ]; then
        [ "$(id -u)" = 0 ] || { echo "idle-bytes.sh: needs root (a network namespace)"; exit 77; }
        NS=berth-idle-$$
        ip netns add "$NS" || exit 1
        trap 'ip netns del "$NS" 2>/dev/null' EXIT
        ip -n "$NS" link set lo mtu 1500 up
        BERTH_IDLE_INNER=1 ip netns exec "$NS" bash "$0" "$@"
        exit $?
fi

export BERTH_BUILD="${BERTH_BUILD:-$HERE/../../build}"
export BERTH=${BERTH:-$BERTH_BUILD/agent/berth}
# shellcheck source=../lib/harness.sh
source "$HERE/../lib/harness.sh"

POLLS=${POLLS:-20}
PERIOD=3

lo_bytes() { cat /sys/class/net/lo/statistics/tx_bytes; }

agent_env_setup "[ddi]" "idle_timeout = 1" "polling_sleep = 00:00:0$PERIOD"
agent_add gw "[server]" "poll_min = $PERIOD" "poll_max = $PERIOD" "poll_jitter = 0" \
        "[telemetry]" "interval = $PERIOD"
agent_add curl-gw
TOKEN=${AGENT_TOKEN[curl-gw]}
URL="https://127.0.0.1:$DDI_PORT/default/controller/v1/curl-gw"

# ---- berth --------------------------------------------------------------------------------------
# measure NAME: runs agent NAME idle for POLLS periods; sets LO (kernel), OWN (its count), SECS.
measure() {
        local name=$1 s0 s1 b0 b1 n0 n1 start
        agent_start "$name"
        # The first exchanges (attributes, the first samples) are not idle traffic: start
        # counting once a poll has been answered 304 (nothing new since the last one).
        t_wait_for '[ "$(agent_status '"$name"' | jq -r ".agent.pollsNotModified + 0")" -gt 0 ]' 30 ||
                t_fail "agent $name does not poll"
        s0=$(agent_status "$name" | jq -r '.wan.sinceStart | .rx + .tx')
        n0=$(agent_status "$name" | jq -r '.agent.pollsNotModified + 0')
        b0=$(lo_bytes)
        start=$(date +%s.%N)
        sleep $((POLLS * PERIOD))
        b1=$(lo_bytes)
        SECS=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
        s1=$(agent_status "$name" | jq -r '.wan.sinceStart | .rx + .tx')
        n1=$(agent_status "$name" | jq -r '.agent.pollsNotModified + 0')
        agent_stop "$name"
        [ $((n1 - n0)) -gt 0 ] || t_fail "agent $name made no poll answered 304 in the idle phase"
        LO=$((b1 - b0 - STATUS_BYTES))
        OWN=$((s1 - s0))
}
# per_day BYTES SECS: BYTES over SECS of simulated time, as bytes per day at the defaults
# (the phase ran SECS / PERIOD periods; a day has 288).
per_day() { awk -v b="$1" -v s="$2" -v p="$PERIOD" 'BEGIN {printf "%.0f", b / (s / p) * 288}'; }
# berth status talks to the agent over a unix socket: no loopback bytes.
STATUS_BYTES=0
agent_add quiet "[server]" "poll_min = $PERIOD" "poll_max = $PERIOD" "poll_jitter = 0" "[telemetry]" "enabled = false"
measure quiet
quiet_day=$(per_day "$LO" "$SECS")
measure gw
berth_lo=$LO
berth_own=$OWN
berth_day=$(per_day "$LO" "$SECS")

# ---- curl, a plain DDI poller -------------------------------------------------------------------
b0=$(lo_bytes)
for _ in $(seq "$POLLS"); do
        curl -fsS --cacert "$CA" -H "Authorization: TargetToken $TOKEN" -H 'Accept: application/hal+json' \
                "$URL" >/dev/null || t_fail "curl poll failed"
        sleep "$PERIOD"
done
curl_lo=$(($(lo_bytes) - b0))
curl_day=$((curl_lo / POLLS * 288))

printf 'idle gateway, one day at the defaults (5-minute polls, telemetry on), counted on the wire\n'
line() {
        printf '  %-31s %7d bytes/poll  %6.2f MiB/day  %6.1f MiB/30 days\n' "$1" $(($2 / 288)) \
                "$(awk -v d="$2" 'BEGIN {print d / 1048576}')" "$(awk -v d="$2" 'BEGIN {print d * 30 / 1048576}')"
}
line "plain DDI poller (curl):" "$curl_day"
line "berth, polls only:" "$quiet_day"
line "berth, polls + telemetry:" "$berth_day"
printf '  berth polls / curl: %.2f; with telemetry: %.2f   (berth counted %d bytes itself, the kernel %d: %.3f)\n' \
        "$(awk -v a="$quiet_day" -v b="$curl_day" 'BEGIN {print a / b}')" \
        "$(awk -v a="$berth_day" -v b="$curl_day" 'BEGIN {print a / b}')" "$berth_own" "$berth_lo" \
        "$(awk -v a="$berth_own" -v b="$berth_lo" 'BEGIN {print a / b}')"
