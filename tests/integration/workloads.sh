#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# workloads.sh — bundles with workloads run by berth through a real containerd + runc:
#   - v1 (three workloads: web on the host network with an http probe, a sidecar with no
#     network and a tcp probe — probed inside its network namespace —, a worker with an
#     exec probe that depends on both) is activated and committed; the cgroup limits
#     (memory.limit_in_bytes, cpu.cfs_quota_us), user, capabilities (CapEff/CapBnd),
#     no_new_privs, read-only rootfs with a writable tmpfs, a read-only bind, a listed
#     device (present, allowed by the device cgroup) and an unlisted one (absent), the
#     network namespace, the volume directory and the log file are checked on the
#     running tasks;
#   - v2, whose web probe gets 404, is rolled back by itself: v1 runs and serves again,
#     nothing of v2 runs, the evidence names the 404;
#   - v3 is activated and berth is SIGKILLed while probing; rerunning the activation adopts
#     the running tasks (same pids, not restarted) and commits; v2 is garbage-collected;
#   - berth rollback returns to v1 (the previous committed version);
#   - a workload that allocates past its memory limit is OOM-killed and restarted by
#     'berth supervise' per its policy (restarts, exit 137, oomKilled) — woken by
#     containerd's task event, not by a periodic round —, the other bundle's tasks
#     untouched; the logs of a chatty workload stay size-bounded and are rotated
#     (log_max_bytes, log_keep).
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc, cgroups)"
[ -d /sys/fs/cgroup/memory ] || t_skip "needs cgroup v1 memory controller (this test reads v1 files)"
B=${BERTH:?BERTH must point at the berth binary}
W=$(t_tmpdir)
REF=berth.test/gw:1
REF2=berth.test/gw:2
PORT=$(t_free_port)

mkdir -p "$W/www"
echo "v-ok" >"$W/www/ok.html"
t_make_image -o "$W/img.tar" --ref "$REF" --file "$W/www:/www"
# v2 runs a different image (own config and manifest): garbage-collected after v3 commits.
t_make_image -o "$W/img2.tar" --ref "$REF2" --file "$W/www:/www" --label version=2
t_keys

# spec VERSION PROBE_PATH SOAK -> the workloads file for that version
spec() {
        local REF=$REF
        [ "$1" != 2 ] || REF=$REF2
        cat <<EOF
{"soak": "$3", "workloads": [
 {"name": "worker", "image": "$REF", "dependsOn": ["web", "sidecar"],
  "command": ["/bin/sh", "-c", "echo worker $1 started; exec sleep 100000"],
  "network": "none", "tmpfs": [{"path": "/tmp", "size": "1M"}],
  "volumes": [{"name": "data", "path": "/data"}], "binds": [{"source": "$W/www", "path": "/srv"}],
  "devices": [{"path": "/dev/kmsg", "permissions": "r"}],
  "resources": {"memory": "16M", "cpu": "100m"}, "stop": {"grace": "300ms"},
  "restart": {"policy": "always", "backoff": "200ms"},
  "probe": {"exec": {"command": ["/bin/sh", "-c", "test -d /data && test -w /tmp"]}, "initialDelay": "300ms", "period": "300ms", "timeout": "2s"}},
 {"name": "web", "image": "$REF", "user": "1000:1000",
  "command": ["/bin/busybox", "httpd", "-f", "-p", "$PORT", "-h", "/www"],
  "network": "host", "capabilities": {"add": ["NET_BIND_SERVICE"]},
  "resources": {"memory": "48M", "cpu": 0.25}, "stop": {"signal": "SIGTERM", "grace": "1s"},
  "probe": {"http": {"port": $PORT, "path": "$2", "status": 200}, "initialDelay": "300ms", "period": "200ms", "failureThreshold": 3}},
 {"name": "sidecar", "image": "$REF",
  "command": ["/bin/busybox", "httpd", "-f", "-p", "8081", "-h", "/www"],
  "network": "none", "resources": {"memory": "16M", "cpu": "100m"}, "stop": {"grace": "1s"},
  "probe": {"tcp": {"port": 8081}, "initialDelay": "300ms", "period": "200ms"}}
]}
EOF
}
mk() { # mk VERSION PROBE_PATH SOAK
        spec "$1" "$2" "$3" >"$W/wl$1.json"
        local img=(--image "$W/img.tar" --ref "$REF")
        [ "$1" != 2 ] || img=(--image "$W/img2.tar" --ref "$REF2")
        t_bundle "$W/demo$1.berth" --name demo --version "$1" "${img[@]}" -- --workloads "$W/wl$1.json"
}
mk 1 /ok.html 2s
mk 2 /missing.html 10s
mk 3 /ok.html 6s

t_containerd_start "$(t_tmpdir)"
NS=$T_CTRD_NS
ST=$W/state
O=(--state-dir "$ST" --containerd "$T_CTRD_SOCK" --namespace "$NS" --data-dir "$W/data")
IO=(--state-dir "$ST" --containerd "$T_CTRD_SOCK" --namespace "$NS")
# This gateway's policy lets the demo bundle have what it tests: a read-only bind of
# $W/www, /dev/kmsg for reading and NET_BIND_SERVICE (the defaults allow none of them).
printf '[policy]\nbinds = %s\ndevices = /dev/kmsg:r\ncapabilities = NET_BIND_SERVICE\n' "$W/www" >"$W/policy.conf"
pid_of() { t_ctr tasks ls | awk -v n="$1" '$1 == n && $3 == "RUNNING" {print $2}'; }
running() { t_ctr tasks ls | awk 'NR > 1 && $3 == "RUNNING" {print $1}' | sort | tr '\n' ' '; }
serves_ok() { [ "$(curl -s -m 2 "http://127.0.0.1:$PORT/ok.html" 2>/dev/null)" = "v-ok" ]; }

# ---- v1: start, limits, hardening -------------------------------------------------------
out=$("$B" import --config "$W/policy.conf" "${IO[@]}" --trust "$T_TRUST" "$W/demo1.berth")
out=$("$B" activate "${O[@]}" demo 1) || t_fail "activating v1 failed: $out"
t_assert_contains "$out" "version 1 committed" "v1 commits"
t_assert_eq "$(running)" "demo-v1-sidecar demo-v1-web demo-v1-worker " "the three v1 tasks run"
serves_ok || t_fail "v1 web does not serve /ok.html"

cg_mem() { cat "/sys/fs/cgroup/memory/$NS/$1/memory.limit_in_bytes"; }
cg_cpu() { cat "/sys/fs/cgroup/cpu,cpuacct/$NS/$1/cpu.cfs_quota_us" 2>/dev/null ||
        cat "/sys/fs/cgroup/cpu/$NS/$1/cpu.cfs_quota_us"; }
t_assert_eq "$(cg_mem demo-v1-web)" $((48 * 1024 * 1024)) "web memory limit (cgroup)"
t_assert_eq "$(cg_mem demo-v1-worker)" $((16 * 1024 * 1024)) "worker memory limit (cgroup)"
t_assert_eq "$(cg_cpu demo-v1-web)" 25000 "web CPU quota 0.25 × 100 ms (cgroup)"
t_assert_eq "$(cg_cpu demo-v1-worker)" 10000 "worker CPU quota 100m (cgroup)"

status_field() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
WEB=$(pid_of demo-v1-web)
WORKER=$(pid_of demo-v1-worker)
t_assert_eq "$(status_field "$WEB" Uid)" 1000 "web runs as the spec's user 1000"
t_assert_eq "$(status_field "$WORKER" Uid)" 65534 "worker runs as nobody by default (non-root)"
t_assert_eq "$(status_field "$WEB" CapEff)" 0000000000000400 "web: only CAP_NET_BIND_SERVICE effective"
t_assert_eq "$(status_field "$WEB" CapBnd)" 0000000000000400 "web: bounding set is only NET_BIND_SERVICE"
t_assert_eq "$(status_field "$WORKER" CapEff)" 0000000000000000 "worker: no capabilities"
t_assert_eq "$(status_field "$WORKER" CapBnd)" 0000000000000000 "worker: empty bounding set"
t_assert_eq "$(status_field "$WORKER" NoNewPrivs)" 1 "worker: no_new_privs"
if t_ctr tasks exec --exec-id ro-check demo-v1-worker /bin/sh -c 'echo x > /rootfs-write' 2>"$W/ro.err"; then
        t_fail "the worker's rootfs is writable"
fi
t_assert_contains "$(cat "$W/ro.err")" "Read-only file system" "rootfs is read-only"
t_ctr tasks exec --exec-id tmp-check demo-v1-worker /bin/sh -c 'echo x > /tmp/ok' ||
        t_fail "the worker's tmpfs /tmp is not writable"
t_assert_eq "$(t_ctr tasks exec --exec-id bind-read demo-v1-worker cat /srv/ok.html)" v-ok "read-only bind is readable"
if t_ctr tasks exec --exec-id bind-write demo-v1-worker /bin/sh -c 'echo x > /srv/x' 2>/dev/null; then
        t_fail "the bind mount is writable"
fi
t_ctr tasks exec --exec-id dev-listed demo-v1-worker test -c /dev/kmsg || t_fail "the listed device is missing"
if t_ctr tasks exec --exec-id dev-other demo-v1-worker test -e /dev/loop-control; then
        t_fail "an unlisted device is present"
fi
t_assert_contains "$(cat "/sys/fs/cgroup/devices/$NS/demo-v1-worker/devices.list")" "c 1:11 r" \
        "device cgroup allows the listed device (read only)"
[ "$(readlink "/proc/$WORKER/ns/net")" != "$(readlink /proc/self/ns/net)" ] || t_fail "network none shares the host netns"
[ "$(readlink "/proc/$WEB/ns/net")" = "$(readlink /proc/self/ns/net)" ] || t_fail "network host is not the host netns"
t_assert_eq "$(stat -c %u "$W/data/worker/data")" 65534 "the volume directory belongs to the workload's user"
t_assert_contains "$(cat "$ST/logs/demo-v1-worker.log")" "worker 1 started" "stdout goes to the workload's log file"
st=$("$B" status "${IO[@]}")
t_assert_contains "$st" "demo: running version 1" "status: running version"
t_assert_contains "$st" "sidecar" "status lists the workloads"
t_assert_contains "$st" "healthy  (tcp: tcp 127.0.0.1:8081: connected)" "tcp probe in the container's netns"

# ---- v2: failing probe → automatic rollback ---------------------------------------------
"$B" import --config "$W/policy.conf" "${IO[@]}" --trust "$T_TRUST" "$W/demo2.berth" >/dev/null
if out=$("$B" activate "${O[@]}" demo 2); then t_fail "v2 (404 probe) committed: $out"; fi
t_assert_contains "$out" "version 2 ROLLED BACK to 1" "v2 is rolled back"
t_assert_contains "$out" "status 404 (expected 200)" "the evidence names the probe result"
t_assert_contains "$out" "healthy again" "the previous version passed its probes again"
t_assert_eq "$(running)" "demo-v1-sidecar demo-v1-web demo-v1-worker " "only v1 runs after the rollback"
serves_ok || t_fail "v1 does not serve again after the rollback"
t_assert_contains "$("$B" status "${IO[@]}")" "rolled_back" "status shows the last update's outcome"

# ---- v3: berth killed mid-probe, rerun adopts and commits --------------------------------
"$B" import --config "$W/policy.conf" "${IO[@]}" --trust "$T_TRUST" "$W/demo3.berth" >/dev/null
"$B" activate "${O[@]}" demo 3 >"$W/act3.out" 2>&1 &
ACT=$!
t_defer "kill -9 $ACT 2>/dev/null || true"
probing() { sqlite3 "$ST/berth.db" "SELECT state FROM workload_updates ORDER BY id DESC LIMIT 1" 2>/dev/null |
        grep -qx probing; }
t_wait_for probing 30 || t_fail "v3 never reached probing: $(cat "$W/act3.out")"
kill -9 "$ACT"
wait "$ACT" 2>/dev/null || true
P3=$(pid_of demo-v3-web)
[ -n "$P3" ] || t_fail "v3 web not running after berth was killed"
out=$("$B" activate "${O[@]}" demo 3) || t_fail "resuming v3 failed: $out"
t_assert_contains "$out" "version 3 committed (was 1)" "the resumed activation commits v3"
t_assert_eq "$(pid_of demo-v3-web)" "$P3" "v3 web was adopted, not restarted"
t_assert_eq "$(running)" "demo-v3-sidecar demo-v3-web demo-v3-worker " "only v3 runs"
cts=" $(t_ctr containers ls -q | tr '\n' ' ')"
case "$cts" in *" demo-v2-"*) t_fail "v2's containers were not garbage-collected: $cts" ;; esac
t_assert_contains "$cts" " demo-v1-web " "v1 (N-1) containers are kept for rollback"
st=$("$B" status "${IO[@]}")
case "$st" in *"demo version 2 "*) t_fail "v2 still recorded after the commit of v3: $st" ;; esac
t_assert_contains "$st" "demo version 1 " "v1 (N-1) is kept"
t_assert_contains "$st" "store:   2 blob(s)" "v2's manifest and config left berth's store"
imgs=" $(t_ctr images ls -q | tr '\n' ' ')"
case "$imgs" in *" $REF2 "*) t_fail "v2's image is still in containerd: $imgs" ;; esac
t_assert_contains "$imgs" " $REF " "the image of v1/v3 stays in containerd"

# ---- manual rollback -------------------------------------------------------------------
out=$("$B" rollback "${O[@]}" demo) || t_fail "berth rollback failed: $out"
t_assert_contains "$out" "version 1 committed (was 3)" "rollback returns to v1"
t_assert_eq "$(running)" "demo-v1-sidecar demo-v1-web demo-v1-worker " "v1 runs after berth rollback"
serves_ok || t_fail "v1 does not serve after berth rollback"

# ---- OOM → restart per policy ----------------------------------------------------------
cat >"$W/oom.json" <<EOF
{"soak": "1s", "workloads": [
 {"name": "hog", "image": "$REF", "network": "none",
  "command": ["/bin/sh", "-c", "echo hog started; while [ ! -f /data/go ]; do sleep 0.1; done; rm -f /data/go; head -c 200m /dev/zero | tail > /dev/null"],
  "volumes": [{"name": "data", "path": "/data"}],
  "resources": {"memory": "16M", "cpu": 0.5}, "restart": {"policy": "on-failure", "backoff": "200ms"}},
 {"name": "chatty", "image": "$REF", "network": "none",
  "command": ["/bin/sh", "-c", "while :; do echo \$(seq 1 40); sleep 0.01; done"],
  "resources": {"memory": "16M", "cpu": "100m"}, "stop": {"grace": "200ms"}}
]}
EOF
t_bundle "$W/hogs.berth" --name hogs --version 1 --image "$W/img.tar" --ref "$REF" -- --workloads "$W/oom.json"
# Its own state dir (same containerd namespace): that engine supervises only hogs, whose
# workload has no probe, so nothing but the task event can wake it.
ST=$W/state-hogs
O=(--state-dir "$ST" --containerd "$T_CTRD_SOCK" --namespace "$NS" --data-dir "$W/data")
# The USB path: import and activate in one command (data dir from the config file).
printf '[workloads]\ndata_dir = %s\n' "$W/data" >"$W/hogs.conf"
out=$("$B" import --config "$W/hogs.conf" "${O[@]:0:6}" --trust "$T_TRUST" --activate "$W/hogs.berth") ||
        t_fail "import --activate of hogs failed: $out"
t_assert_contains "$out" "hogs: version 1 committed (was 0)" "import --activate switches and commits"
WEB=$(pid_of demo-v1-web)
CHATTY=$(pid_of hogs-v1-chatty)
[ -n "$CHATTY" ] || t_fail "chatty is not running"
# A periodic round only every 10 min: the restart below can only come from the
# containerd event (/tasks/exit) that wakes the engine.
printf '[workloads]\nsupervise_ms = 60000\nlog_max_bytes = 16384\nlog_keep = 2\n' >"$W/slow.conf"
"$B" supervise --config "$W/slow.conf" "${O[@]}" 60 >"$W/sup.json" 2>"$W/sup.err" &
SUP=$!
t_defer "kill $SUP 2>/dev/null || true"
touch "$W/data/hog/data/go"
restarted() { [ "$(grep -c 'hog started' "$ST/logs/hogs-v1-hog.log")" -ge 2 ]; }
t_wait_for restarted 20 || t_fail "the OOM-killed hog was not restarted: $(cat "$W/sup.err")"
# Size-bounded, rotated logs: chatty writes ~10 KiB/s; the engine keeps .1 and .2.
CL=$ST/logs/hogs-v1-chatty.log
t_wait_for "[ -s '$CL.2' ]" 30 || t_fail "chatty's log was not rotated twice: $(ls -l "$ST/logs")"
[ ! -e "$CL.3" ] || t_fail "more rotated logs than log_keep = 2"
for f in "$CL" "$CL.1" "$CL.2"; do
        [ "$(stat -c %s "$f")" -lt 65536 ] || t_fail "$f exceeds its bound: $(stat -c %s "$f") bytes"
done
t_assert_contains "$(head -c 200 "$CL.1")" "1 2 3 4 5" "a rotated log holds the workload's output"
t_assert_eq "$(pid_of hogs-v1-chatty)" "$CHATTY" "berth supervise adopted the running task (not restarted)"
kill -TERM "$SUP"
t_wait_for "! kill -0 $SUP" 15 || t_fail "berth supervise did not stop on SIGTERM"
wait "$SUP" || t_fail "berth supervise failed: $(cat "$W/sup.err")"
hog=$(jq -c '.[] | select(.bundle == "hogs") | .workloads[] | select(.name == "hog")' "$W/sup.json")
t_assert_eq "$(jq -r .restarts <<<"$hog")" 1 "hog restarted once"
t_assert_eq "$(jq -r .oomKilled <<<"$hog")" true "the exit was an OOM kill"
t_assert_eq "$(jq -r .lastExit <<<"$hog")" 137 "exit status 137 (SIGKILL by the OOM killer)"
t_assert_eq "$(jq -r .state <<<"$hog")" running "hog runs again"
t_assert_eq "$(pid_of demo-v1-web)" "$WEB" "the other bundle's workloads were not touched"
t_log "PASS"
