#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# demo.sh — the README's main command runs in CI: scripts/demo.sh --fast (same steps as
# without the flag, shortened timings) with this build's binaries. Asserts its exit status,
# the lines that carry its claims (rollout 1 finished through two groups; rollout 2 paused
# at its error threshold in group 1; the canary rolled back by itself with the probe's
# evidence; the other gateways untouched; release 1 readings from every gateway; the
# rollback in the canary's telemetry on the server and its metrics; agents and server
# stopped cleanly) and that it left nothing behind: no working directory, no
# process, no cgroup of its containerd namespaces. Then once more, interrupted by a
# Ctrl-C (SIGINT to its process group) while the stack runs: it must clean up as well.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc, cgroups)"
for b in containerd ctr runc mosquitto mosquitto_sub busybox openssl jq curl; do
        command -v "$b" >/dev/null || t_skip "$b not installed (scripts/deps.sh)"
done
: "${BERTH_BUILD:?BERTH_BUILD must point at the build directory}"

OUT=$T_ROOT/demo.out
T0=$(date +%s)
rc=0
bash "$BERTH_SRC/scripts/demo.sh" --fast --no-deps --build-dir "$BERTH_BUILD" >"$OUT" 2>&1 </dev/null || rc=$?
cat "$OUT"
[ "$rc" != 77 ] || t_skip "the demo could not start containerd here (output above)"
[ "$rc" = 0 ] || t_fail "scripts/demo.sh --fast exited with status $rc (output above)"
out=$(cat "$OUT")
t_log "demo finished in $(($(date +%s) - T0)) s"

t_assert_contains "$out" "the server refuses it (2 signatures required)" "a single-signed bundle is refused"
t_assert_contains "$out" "2 required; sign it with release keys of that root" "the server's refusal names the threshold"
t_assert_contains "$out" "OK gateway-stack version 1: 2 of 2 required signature(s) valid" "release 1 is co-signed"
t_assert_contains "$out" "root keys (2 of 2 needed):" "the release keys live in a trust root with its own root keys"
t_assert_contains "$out" "ok: rollout 1 finished: all three gateways run release 1 (group 1 was gw-" \
        "release 1 is rolled out to all three gateways"
canary=$(sed -n 's/.*(group 1 was \(gw-[0-9]\)).*/\1/p' "$OUT")
t_assert_contains "$out" "group 1 (33 %, 1 gateway): $canary success" "group 1 is one gateway"
t_assert_contains "$out" "group 2 (100 %, 2 gateways): not started" "group 2 waits for group 1"
for gw in gw-1 gw-2 gw-3; do
        t_assert_contains "$out" "$gw v1 #" "$gw's broker delivers release 1 readings"
        t_assert_contains "$out" "site/$gw/poller/reading" "$gw's readings reach the cloud broker"
done
t_assert_contains "$out" "paused — error threshold crossed in group 1: 1 of 1 targets failed (limit 0%)" \
        "rollout 2 pauses at its error threshold"
t_assert_contains "$out" "failure: rolled back to version 1: workload poller of version 2" \
        "the canary reports the rollback with the probe's evidence"
t_assert_contains "$out" "rolled_back — workload poller of version 2" "the canary's status shows the rollback"
n=$(grep -c "polled after the pause, last action from rollout 1, release 2 never downloaded" "$OUT" || true)
t_assert_eq "$n" 2 "both other gateways polled after the pause and were not touched"
t_assert_contains "$out" "all of release 1; published after the pause: from all three gateways, $canary included" \
        "release 1 readings keep flowing, from the canary too"
t_assert_contains "$out" "$canary: installed gateway-stack 1, last action" "the server sees the canary back on release 1"
t_assert_contains "$out" "agent: update gateway-stack 2 failed: rolled back to version 1" \
        "the canary's telemetry on the server carries the rollback event"
t_assert_contains "$out" "records received, 0 dropped on the gateway" "the server shows each gateway's telemetry"
grep -qE "^    berth_workload_healthy\{bundle=\"gateway-stack\",workload=\"poller\"\} 1$" "$OUT" ||
        t_fail "the canary's metrics do not show its poller healthy again"
t_assert_contains "$out" "ok: agents and server stopped cleanly" "agents and server exit 0 on SIGTERM"
t_assert_contains "$out" "Demo finished in" "the demo reaches its end"

# assert_clean OUTPUT_FILE: the demo that wrote OUTPUT_FILE left nothing behind: no
# working directory, no process naming it, no cgroup or runc state of its namespaces.
assert_clean() {
        local w ns1 ns gw p cmd
        w=$(sed -n 's/^Working directory: \([^ ]*\) .*/\1/p' "$1")
        [ -n "$w" ] || t_fail "the demo did not name its working directory"
        [ ! -e "$w" ] || t_fail "the demo left its working directory $w"
        for p in /proc/[0-9]*; do
                cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
                case $cmd in *"$w"*) t_fail "a process of the demo is still running: ${p#/proc/} $cmd" ;; esac
        done
        ns1=$(sed -n 's/^ *namespace = //p' "$1")
        [ -n "$ns1" ] || t_fail "the demo did not show gw-1's containerd namespace"
        for gw in gw-1 gw-2 gw-3; do
                ns=${ns1%-gw-1}-$gw
                for p in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/"$ns" /run/containerd/runc/"$ns"; do
                        [ ! -e "$p" ] || t_fail "the demo left $p behind"
                done
        done
}
assert_clean "$OUT"
t_log "the demo's claims hold and it cleaned up after itself"

# ---- Ctrl-C while the stack runs: the terminal's SIGINT reaches the whole process group
# (containerd too, which then cannot stop its tasks); the demo must still clean up.
OUT2=$T_ROOT/demo-int.out
# As from a terminal: its own process group, SIGINT not ignored (bash ignores SIGINT in
# the commands it starts with & when job control is off, and that would be inherited).
python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp(sys.argv[1], sys.argv[1:])' bash "$BERTH_SRC/scripts/demo.sh" --fast --no-deps --build-dir "$BERTH_BUILD" \
        >"$OUT2" 2>&1 </dev/null &
pid=$!
t_defer "kill -INT -- -$pid"
if ! t_wait_for "grep -q 'ok: rollout 1 finished' '$OUT2'" 300; then
        cat "$OUT2"
        t_fail "the second demo run did not get to a running stack (output above)"
fi
kill -INT -- -"$pid"
t_wait_for "! kill -0 $pid" 60 || t_fail "the demo did not exit within 60 s of Ctrl-C"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 130 ] || { cat "$OUT2"; t_fail "the interrupted demo exited with $rc, not 130 (output above)"; }
t_assert_contains "$(cat "$OUT2")" "demo: interrupted; stopping everything and cleaning up" "the demo says it was interrupted"
assert_clean "$OUT2"
t_log "PASS: an interrupted demo cleaned up too"
