#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# workloads_crash.sh — berth is killed (SIGKILL, through BERTH_FAULT) at every named fault
# point of the workload update state machine, then restarted; it must converge to either
# the new version committed (a good update) or the old version running (a bad update
# whose probe fails) — never a mix of both sets — with the DB passing
# PRAGMA integrity_check and every blob in the store matching its digest.
# Needs a build with -DBERTH_FAULT_POINTS=ON (scripts/test.sh's ASan build); skipped
# otherwise. Resumption goes through 'berth activate' (the CLI path) for the update
# points and 'berth supervise' (the engine as the daemon runs it) for the rollback points.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root (containerd, runc)"
B=${BERTH:?BERTH must point at the berth binary}
W=$(t_tmpdir)
REF=berth.test/crash:1
mkdir -p "$W/www"
echo "v-ok" >"$W/www/ok.html"
t_make_image -o "$W/img.tar" --ref "$REF" --file "$W/www:/www"
t_keys
t_containerd_start "$(t_tmpdir)"

# mk NAME VERSION PORT PROBE_PATH
mk() {
        cat >"$W/$1-$2.json" <<EOF
{"soak": "1s", "workloads": [
 {"name": "web", "image": "$REF", "network": "host",
  "command": ["/bin/busybox", "httpd", "-f", "-p", "$3", "-h", "/www"],
  "resources": {"memory": "32M", "cpu": 0.5}, "stop": {"grace": "500ms"},
  "probe": {"http": {"port": $3, "path": "$4"}, "initialDelay": "300ms", "period": "100ms", "failureThreshold": 3}},
 {"name": "worker", "image": "$REF", "dependsOn": ["web"], "network": "none",
  "command": ["/bin/sh", "-c", "exec sleep 100000"],
  "resources": {"memory": "16M", "cpu": "100m"}, "stop": {"grace": "200ms"}}
]}
EOF
        t_bundle "$W/$1-$2.berth" --name "$1" --version "$2" --image "$W/img.tar" --ref "$REF" \
                -- --workloads "$W/$1-$2.json"
}

check_store() { # every blob's name is its sha256
        local f
        for f in "$1"/store/blobs/sha256/*; do
                [ -e "$f" ] || continue
                [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || t_fail "store blob $f is corrupt"
        done
}

i=0
for point in switch.after_persist switch.after_stop_old switch.after_start_new probe.after_persist \
        commit.before commit.after rollback.after_persist rollback.after_stop_new; do
        i=$((i + 1))
        NS=$T_CTRD_NS-$i
        ST=$W/state-$i
        PORT=$(t_free_port)
        O=(--state-dir "$ST" --containerd "$T_CTRD_SOCK" --namespace "$NS" --data-dir "$W/data-$i")
        case $point in
        rollback.*) good=false; path2=/missing.html ;;
        *) good=true; path2=/ok.html ;;
        esac
        mk "app$i" 1 "$PORT" /ok.html
        mk "app$i" 2 "$PORT" "$path2"
        for v in 1 2; do
                "$B" import "${O[@]:0:6}" --trust "$T_TRUST" "$W/app$i-$v.berth" >/dev/null
        done
        out=$("$B" activate "${O[@]}" "app$i" 1 2>&1) || t_fail "$point: activating v1 failed: $out"

        rc=0
        BERTH_FAULT=$point "$B" activate "${O[@]}" "app$i" 2 >"$W/fault-$i.out" 2>&1 || rc=$?
        if [ "$rc" != 137 ]; then
                [ $i = 1 ] && t_skip "berth was not built with -DBERTH_FAULT_POINTS=ON (rc $rc at $point)"
                t_fail "$point: berth was not killed at the fault point (rc $rc): $(cat "$W/fault-$i.out")"
        fi
        state=$(sqlite3 "$ST/berth.db" "SELECT state FROM workload_updates ORDER BY id DESC LIMIT 1")
        t_log "$point: killed in state $state; restarting"

        # Restart: the same activation again (CLI), or the engine alone (daemon path).
        rc=0
        case $point in
        rollback.*) "$B" supervise "${O[@]}" 4 >"$W/resume-$i.out" 2>&1 || rc=$? ;;
        *) "$B" activate "${O[@]}" "app$i" 2 >"$W/resume-$i.out" 2>&1 || rc=$? ;;
        esac

        final=$(sqlite3 "$ST/berth.db" "SELECT to_version || ' ' || state FROM workload_updates ORDER BY id DESC LIMIT 1")
        running=$(ctr -a "$T_CTRD_SOCK" -n "$NS" tasks ls | awk 'NR > 1 && $3 == "RUNNING" {print $1}' | sort | tr '\n' ' ')
        if $good; then
                t_assert_eq "$rc" 0 "$point: the resumed activation succeeds ($(cat "$W/resume-$i.out"))"
                t_assert_eq "$final" "2 committed" "$point: converges to v2 committed"
                t_assert_eq "$running" "app$i-v2-web app$i-v2-worker " "$point: only v2 runs"
                t_assert_eq "$(sqlite3 "$ST/berth.db" "SELECT version FROM workload_current")" 2 "$point: current = 2"
        else
                t_assert_eq "$rc" 0 "$point: berth supervise ran ($(cat "$W/resume-$i.out"))"
                t_assert_eq "$final" "2 rolled_back" "$point: converges to v2 rolled back"
                t_assert_eq "$running" "app$i-v1-web app$i-v1-worker " "$point: only v1 runs"
                t_assert_eq "$(sqlite3 "$ST/berth.db" "SELECT version FROM workload_current")" 1 "$point: current = 1"
        fi
        t_assert_eq "$(sqlite3 "$ST/berth.db" "PRAGMA integrity_check")" ok "$point: database intact"
        check_store "$ST"
        "$B" status --state-dir "$ST" >/dev/null || t_fail "$point: berth status fails"
        t_wait_for "[ \"\$(curl -s -m 1 http://127.0.0.1:$PORT/ok.html)\" = v-ok ]" 10 ||
                t_fail "$point: the running version does not serve"
        # Stop this round's tasks (keeps the machine quiet for the next round).
        for id in $(ctr -a "$T_CTRD_SOCK" -n "$NS" tasks ls -q); do
                ctr -a "$T_CTRD_SOCK" -n "$NS" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
        done
done
t_log "PASS ($i fault points)"
