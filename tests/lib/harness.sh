# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# tests/lib/harness.sh — shared helpers for berth's shell tests (cli/, integration/, bench/).
# Source it first: it sets `set -euo pipefail`, a per-test scratch root and an EXIT trap that
# runs registered cleanups in reverse order (LIFO), so services stop before their dirs go.
# It starts real peers (private containerd, Debian's docker-registry) on private sockets,
# 127.0.0.1 ports and temp dirs only. Exit 77 means "skip" to ctest.
#
# API (see each function for details):
#   t_log MSG | t_fail MSG | t_skip MSG
#   t_assert_eq A B MSG | t_assert_contains HAYSTACK NEEDLE MSG | t_assert_file FILE MSG
#   t_expect_fail CMD...        -> asserts non-zero exit; sets T_RC, T_OUT, T_ERR
#   t_wait_for 'COND' TIMEOUT_S -> polls an eval'd condition; returns 1 on timeout
#   t_tmpdir                    -> prints a fresh dir (safe inside $(...)), gone at exit
#   t_defer 'CMD'               -> pushes a cleanup command (must run in the main shell)
#   t_free_port                 -> prints a free TCP port on 127.0.0.1
#   t_make_image ARGS...        -> runs scripts/make-oci-image.sh
#   t_containerd_start DIR / t_containerd_stop / t_ctr ARGS...
#       exports T_CTRD_SOCK T_CTRD_DIR T_CTRD_NS T_CTRD_PID
#   t_registry_start DIR / t_registry_stop   exports T_REGISTRY=127.0.0.1:PORT

set -euo pipefail

T_HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${BERTH_SRC:=$(cd "$T_HARNESS_DIR/../.." && pwd)}"
export BERTH_SRC
T_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)

# ---- output and assertions -----------------------------------------------------------

t_log() { printf '[%s] %s\n' "$T_NAME" "$*" >&2; }

# t_fail MSG: print where and why, then exit 1 (the EXIT trap cleans up).
t_fail() {
        local where
        where=$(caller 0 2>/dev/null | awk '{print $3 ":" $1}')
        printf '[%s] FAIL (%s): %s\n' "$T_NAME" "${where:-?}" "$*" >&2
        exit 1
}

# t_skip MSG: exit 77, which ctest reports as "skipped".
t_skip() {
        printf '[%s] SKIP: %s\n' "$T_NAME" "$*" >&2
        exit 77
}

t_assert_eq() {
        [ "$1" == "$2" ] || t_fail "${3:-values differ}: expected '$2', got '$1'"
}

t_assert_contains() {
        case "$1" in
        *"$2"*) ;;
        *) t_fail "${3:-missing text}: '$2' not found in: $(printf '%s' "$1" | head -c 2000)" ;;
        esac
}

t_assert_file() {
        [ -f "$1" ] || t_fail "${2:-file missing}: $1"
}

# t_expect_fail CMD...: the command must exit non-zero. Its exit code, stdout and stderr
# are left in T_RC, T_OUT, T_ERR for further assertions.
t_expect_fail() {
        local out err
        out=$(mktemp "$T_ROOT/out.XXXXXX")
        err=$(mktemp "$T_ROOT/err.XXXXXX")
        # shellcheck disable=SC2034 # T_OUT/T_ERR/T_RC are results for the caller
        T_RC=0
        "$@" >"$out" 2>"$err" || T_RC=$?
        T_OUT=$(cat "$out")
        # shellcheck disable=SC2034
        T_ERR=$(cat "$err")
        rm -f "$out" "$err"
        if [ "$T_RC" = 0 ]; then
                t_fail "expected failure but succeeded: $* (stdout: ${T_OUT:0:500})"
        fi
        return 0
}

# t_wait_for 'COND' TIMEOUT_S: evaluates COND (a shell string) every 50 ms until it
# succeeds (return 0) or TIMEOUT_S seconds passed (return 1). Polls; never a blind sleep.
t_wait_for() {
        local cond=$1 timeout=${2:-10} deadline
        deadline=$(($(date +%s%N) + timeout * 1000000000))
        while :; do
                if eval "$cond" >/dev/null 2>&1; then
                        return 0
                fi
                if [ "$(date +%s%N)" -ge "$deadline" ]; then
                        return 1
                fi
                sleep 0.05
        done
}

# ---- scratch dirs and cleanup stack --------------------------------------------------

T_CLEANUPS=()

# t_defer 'CMD': run CMD (eval'd) at exit, after everything deferred later. Call it in the
# test's main shell, not inside $(...), or the registration is lost with the subshell.
t_defer() {
        T_CLEANUPS+=("$1")
}

_t_on_exit() {
        local rc=$? i
        set +e
        for ((i = ${#T_CLEANUPS[@]} - 1; i >= 0; i--)); do
                eval "${T_CLEANUPS[i]}" >/dev/null 2>&1 </dev/null
        done
        T_CLEANUPS=()
        if [ -n "${T_ROOT:-}" ] && [ -d "$T_ROOT" ]; then
                if [ "${T_KEEP:-0}" = 1 ] && [ "$rc" != 0 ]; then
                        printf '[%s] keeping %s (T_KEEP=1)\n' "$T_NAME" "$T_ROOT" >&2
                else
                        _t_umount_under "$T_ROOT"
                        rm -rf "$T_ROOT"
                fi
        fi
        exit "$rc"
}

# Unmounts anything still mounted below DIR (deepest first), so rm -rf cannot reach
# into a leftover overlay or bind mount.
_t_umount_under() {
        local m
        [ -r /proc/self/mountinfo ] || return 0
        awk -v d="$1/" '{ gsub(/\\040/, " ", $5); if (index($5, d) == 1) print $5 }' \
                /proc/self/mountinfo | sort -r | while read -r m; do
                umount -l "$m" 2>/dev/null || true
        done
}

mkdir -p "${BERTH_TEST_TMP:-/tmp}"
T_ROOT=$(mktemp -d "${BERTH_TEST_TMP:-/tmp}/berth-$T_NAME.XXXXXX")
export T_ROOT
trap _t_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# t_tmpdir: prints a new empty directory under this test's scratch root (under
# $BERTH_TEST_TMP or /tmp). The whole root is removed at exit, so `d=$(t_tmpdir)` is safe.
t_tmpdir() {
        mktemp -d "$T_ROOT/tmp.XXXXXX"
}

# t_free_port: prints a TCP port on 127.0.0.1 that was free a moment ago (the kernel picks
# it). Callers that bind later must still retry on EADDRINUSE; t_registry_start does.
t_free_port() {
        python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

t_make_image() {
        "$BERTH_SRC/scripts/make-oci-image.sh" -q "$@"
}

# Kills processes (by pid) whose command line contains ARG as a whole argument.
# Used to reap containerd shims of *our* private containerd (their -address is unique).
_t_kill_by_arg() {
        local arg=$1 p cmd
        for p in /proc/[0-9]*; do
                cmd=$(tr '\0' '\n' <"$p/cmdline" 2>/dev/null) || continue
                if printf '%s\n' "$cmd" | grep -qxF -- "$arg"; then
                        kill -9 "${p#/proc/}" 2>/dev/null || true
                fi
        done
}

# ---- containerd ----------------------------------------------------------------------

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
        # unix socket paths are limited to 107 bytes; fall back to a short dir in /tmp.
        sockdir=$dir
        if [ ${#dir} -gt 80 ]; then
                sockdir=$(mktemp -d /tmp/bctrd.XXXXXX)
                t_defer "rm -rf '$sockdir'"
        fi
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

# ---- registry ------------------------------------------------------------------------

# t_registry_start DIR: starts Debian's docker-registry (distribution v2) on a free
# 127.0.0.1 port with filesystem storage in DIR/data (deletes enabled).
# Exports T_REGISTRY=127.0.0.1:PORT and T_REGISTRY_PID. Stopped automatically at exit.
t_registry_start() {
        local dir=$1 port
        command -v docker-registry >/dev/null || t_skip "docker-registry not installed (scripts/deps.sh)"
        command -v curl >/dev/null || t_skip "curl not installed (scripts/deps.sh)"
        mkdir -p "$dir/data"
        dir=$(cd "$dir" && pwd)
        for _ in 1 2 3 4 5; do
                port=$(t_free_port)
                cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
EOF
                docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
                T_REGISTRY_PID=$!
                T_REGISTRY=127.0.0.1:$port
                export T_REGISTRY T_REGISTRY_PID
                if t_wait_for "! kill -0 $T_REGISTRY_PID || curl -fsS -o /dev/null http://$T_REGISTRY/v2/" 20 &&
                        kill -0 "$T_REGISTRY_PID" 2>/dev/null &&
                        curl -fsS -o /dev/null "http://$T_REGISTRY/v2/"; then
                        t_defer "t_registry_stop"
                        t_log "docker-registry $T_REGISTRY_PID on $T_REGISTRY"
                        return 0
                fi
                kill -KILL "$T_REGISTRY_PID" 2>/dev/null || true
                wait "$T_REGISTRY_PID" 2>/dev/null || true
                grep -q "address already in use" "$dir/registry.log" || break
        done
        tail -n 20 "$dir/registry.log" >&2 || true
        T_REGISTRY_PID=
        t_fail "docker-registry did not start (log above)"
}

t_registry_stop() {
        [ -n "${T_REGISTRY_PID:-}" ] || return 0
        kill -TERM "$T_REGISTRY_PID" 2>/dev/null || true
        t_wait_for "! kill -0 $T_REGISTRY_PID" 10 || kill -KILL "$T_REGISTRY_PID" 2>/dev/null || true
        wait "$T_REGISTRY_PID" 2>/dev/null || true
        T_REGISTRY_PID=
}
