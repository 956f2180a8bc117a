# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# tests/lib/containerd.sh — a private containerd for tests (sourced by harness.sh, not by
# tests). Functions only.
#
#   t_containerd_start DIR / t_containerd_stop / t_ctr ARGS...
#       exports T_CTRD_SOCK T_CTRD_DIR T_CTRD_NS T_CTRD_PID

# t_containerd_start DIR: starts a private containerd (plain process, CRI disabled,
# runc runtime, overlayfs + native snapshotters) with root/state/sockets under DIR.
# Exports T_CTRD_SOCK (grpc unix socket), T_CTRD_DIR, T_CTRD_PID and T_CTRD_NS (a
# namespace unique to this test run: runc state lives in /run/containerd/runc/<ns> and
# cgroups in /<ns>/<id> for *every* containerd, so use T_CTRD_NS to avoid clashing with
# tests running in parallel). Exits 77 if containerd cannot run on this machine.
# Stopped automatically at exit (or call t_containerd_stop).
t_containerd_start() {
        local dir=$1 sockdir i
        command -v containerd >/dev/null || t_skip "containerd not installed (scripts/deps.sh)"
        command -v ctr >/dev/null || t_skip "ctr not installed (scripts/deps.sh)"
        command -v runc >/dev/null || t_skip "runc not installed (scripts/deps.sh)"
        mkdir -p "$dir"
        dir=$(cd "$dir" && pwd)
        # unix socket paths are limited to 107 bytes: the socket goes into T_SHORT.
        sockdir=$(mktemp -d "$T_SHORT/ctrd.XXXXXX")
        T_CTRD_DIR=$dir
        T_CTRD_SOCK=$sockdir/containerd.sock
        T_CTRD_NS=berth-test-$$-$RANDOM
        cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$T_CTRD_SOCK"

[ttrpc]
  address = "$T_CTRD_SOCK.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
EOF
        containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
        T_CTRD_PID=$!
        export T_CTRD_DIR T_CTRD_SOCK T_CTRD_NS T_CTRD_PID
        t_defer "t_containerd_stop"
        t_show_log "$dir/containerd.log" "containerd log"
        # shellcheck disable=SC2016 # evaluated later by t_wait_for
        if ! t_wait_for 'ctr -a "$T_CTRD_SOCK" version' 30; then
                tail -n 20 "$dir/containerd.log" >&2 || true
                kill -0 "$T_CTRD_PID" 2>/dev/null || t_skip "containerd exited at start (log above)"
                t_skip "containerd did not answer on $T_CTRD_SOCK within 30 s (log above)"
        fi
        for i in overlayfs native; do
                if ! ctr -a "$T_CTRD_SOCK" plugins ls 2>/dev/null |
                        grep -qE "io\.containerd\.snapshotter\.v1 +$i .* ok"; then
                        t_log "warning: snapshotter $i not available (is $dir on overlayfs/tmpfs?)"
                fi
        done
        t_log "containerd $T_CTRD_PID on $T_CTRD_SOCK, namespace $T_CTRD_NS"
}

# t_ctr ARGS...: ctr against the private containerd, in the test's namespace.
t_ctr() {
        ctr -a "$T_CTRD_SOCK" -n "$T_CTRD_NS" "$@"
}

# t_containerd_stop: kills remaining tasks of every namespace, stops containerd (TERM,
# then KILL after 10 s), reaps its shims and unmounts leftovers. Idempotent.
t_containerd_stop() {
        [ -n "${T_CTRD_PID:-}" ] || return 0
        local ns id
        if kill -0 "$T_CTRD_PID" 2>/dev/null; then
                for ns in $(ctr -a "$T_CTRD_SOCK" namespaces ls -q 2>/dev/null); do
                        for id in $(ctr -a "$T_CTRD_SOCK" -n "$ns" tasks ls -q 2>/dev/null); do
                                ctr -a "$T_CTRD_SOCK" -n "$ns" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
                                t_wait_for "ctr -a '$T_CTRD_SOCK' -n '$ns' tasks delete '$id'" 10 || true
                        done
                        for id in $(ctr -a "$T_CTRD_SOCK" -n "$ns" containers ls -q 2>/dev/null); do
                                ctr -a "$T_CTRD_SOCK" -n "$ns" containers delete "$id" >/dev/null 2>&1 || true
                        done
                done
                kill -TERM "$T_CTRD_PID" 2>/dev/null || true
                t_wait_for "! kill -0 $T_CTRD_PID" 10 || kill -KILL "$T_CTRD_PID" 2>/dev/null || true
        fi
        wait "$T_CTRD_PID" 2>/dev/null || true
        _t_kill_by_arg "$T_CTRD_SOCK"
        _t_umount_under "$T_CTRD_DIR"
        # runc/cgroup leftovers are keyed by namespace, outside DIR; rmdir only removes
        # them when empty, i.e. when no task of this namespace is left anywhere.
        rmdir /sys/fs/cgroup/*/"$T_CTRD_NS" /sys/fs/cgroup/"$T_CTRD_NS" \
                /run/containerd/runc/"$T_CTRD_NS" 2>/dev/null || true
        T_CTRD_PID=
}

