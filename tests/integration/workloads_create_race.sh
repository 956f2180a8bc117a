#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# workloads_create_race.sh — a berth killed during Tasks.Create leaves containerd busy with
# that create (its state dir <state>/io.containerd.runtime.v2.task/<ns>/<id> exists, no task
# is registered yet), and the restarted berth's own Create gets "mkdir …: file exists".
# The start must wait for that create to settle and go on, not fail (which rolled a healthy
# release back). The leftover is made by hand (the dir containerd's create makes first) and
# taken away once berth says it waits for it: the activation must succeed, with exactly
# one task of the workload running.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc)"
B=${BERTH:?BERTH must point at the berth binary}
W=$(t_tmpdir)
REF=berth.test/race:1
mkdir -p "$W/www"
echo "v-ok" >"$W/www/ok.html"
t_make_image -o "$W/img.tar" --ref "$REF" --file "$W/www:/www"
t_keys
t_containerd_start "$(t_tmpdir)"
cat >"$W/wl.json" <<JSON
{"soak": "0s", "workloads": [
 {"name": "worker", "image": "$REF", "network": "none", "command": ["/bin/sh", "-c", "exec sleep 100000"],
  "resources": {"memory": "16M", "cpu": "100m"}, "stop": {"grace": "200ms"}}
]}
JSON
t_bundle "$W/app-1.berth" --name app --version 1 --image "$W/img.tar" --ref "$REF" -- --workloads "$W/wl.json"
ST=$W/state
O=(--state-dir "$ST" --containerd "$T_CTRD_SOCK" --namespace "$T_CTRD_NS" --data-dir "$W/data")
"$B" import "${O[@]:0:6}" --trust "$T_TRUST" "$W/app-1.berth" >/dev/null

# What the killed berth's create left: containerd's state dir for the task, no task.
STALE=$T_CTRD_DIR/state/io.containerd.runtime.v2.task/$T_CTRD_NS/app-v1-worker
mkdir -p "$STALE"

"$B" activate "${O[@]}" app 1 >"$W/activate.out" 2>&1 &
pid=$!
# berth says when its Create met the leftover and it waits; only then is it undone.
t_wait_for "grep -q 'busy with an interrupted create' '$W/activate.out' || ! kill -0 $pid" 60 ||
        t_fail "berth neither waited nor ended"
grep -q 'busy with an interrupted create' "$W/activate.out" ||
        t_fail "berth did not wait for the interrupted create: $(cat "$W/activate.out")"
rmdir "$STALE" # the interrupted create is undone (containerd removes its dir)
rc=0
wait "$pid" || rc=$?
t_assert_eq "$rc" 0 "the activation succeeds after the interrupted create settled ($(cat "$W/activate.out"))"
tasks=$(ctr -a "$T_CTRD_SOCK" -n "$T_CTRD_NS" tasks ls | awk 'NR > 1 {print $1 " " $3}')
t_assert_eq "$tasks" "app-v1-worker RUNNING" "exactly one task of the workload runs"
t_assert_eq "$(sqlite3 "$ST/berth.db" "SELECT version FROM workload_current WHERE bundle='app'")" 1 \
        "version 1 is current"
t_pass "a start that met an interrupted create waited for it and went on"
