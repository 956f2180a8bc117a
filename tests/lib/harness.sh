# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# tests/lib/harness.sh — the one entry point of berth's shell tests (cli/, integration/,
# bench/; scripts/demo.sh too). Source it first: it sets `set -euo pipefail`, a per-test
# scratch root and an EXIT trap that runs registered cleanups in reverse order (LIFO), so
# services stop before their dirs go; then it sources its role files (bundle, containerd,
# registry, server, agent), which define functions only. Peers run on private sockets,
# 127.0.0.1 ports and temp dirs only. Exit 77 means "skip" to ctest.
#
# Core API (tests/lib/README.md lists every role's functions):
#   t_log MSG | t_pass MSG | t_fail MSG | t_skip MSG
#   t_assert_eq A B MSG | t_assert_contains HAYSTACK NEEDLE MSG | t_assert_file FILE MSG
#   t_expect_fail CMD...        -> asserts non-zero exit; sets T_RC, T_OUT, T_ERR
#   t_wait_for 'COND' TIMEOUT_S -> polls an eval'd condition; returns 1 on timeout
#   t_defer 'CMD'               -> pushes a cleanup command (must run in the main shell)
#   t_show_log FILE [LABEL]     -> on failure, the tail of FILE is printed at exit
#   t_tmpdir                    -> prints a fresh dir (safe inside $(...)), gone at exit
#   t_free_port                 -> prints a free TCP port on 127.0.0.1
#   t_make_image ARGS...        -> runs scripts/make-oci-image.sh
# Variables: T_ROOT (scratch root), T_SHORT (a short dir in /tmp for unix sockets),
# BERTH_SRC, and from ctest BERTH (the berth binary) and BERTH_BUILD (the build dir).
#
# Under pipefail, `producer | grep -q X` fails at random: grep exits at the first match
# and the producer dies of SIGPIPE if it was still writing. Match on captured output:
# `grep -q X <<<"$(producer)"`.

set -euo pipefail

T_HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${BERTH_SRC:=$(cd "$T_HARNESS_DIR/../.." && pwd)}"
export BERTH_SRC
T_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)

# ---- output and assertions -----------------------------------------------------------

t_log() { printf '[%s] %s\n' "$T_NAME" "$*" >&2; }

# t_pass MSG: one line on stdout for a part of the test that passed.
t_pass() { printf 'ok - %s\n' "$*"; }

# Messages that must get out even of a t_wait_for condition, whose output is discarded:
# there the test's stderr is fd 9 (only for the time of the condition, so no process the
# test starts keeps ctest's pipe open).
_t_say() {
        if [ "${_T_IN_WAIT:-0}" = 1 ]; then
                printf '%s\n' "$*" >&9
        else
                printf '%s\n' "$*" >&2
        fi
}

# t_fail MSG: print where and why, then exit 1 (the EXIT trap cleans up and prints the
# logs registered with t_show_log).
t_fail() {
        local where
        where=$(caller 0 2>/dev/null | awk '{print $3 ":" $1}')
        _t_say "[$T_NAME] FAIL (${where:-?}): $*"
        exit 1
}

# t_skip MSG: exit 77, which ctest reports as "skipped".
t_skip() {
        _t_say "[$T_NAME] SKIP: $*"
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

# t_wait_for 'COND' TIMEOUT_S: evaluates COND (a shell string, in the caller's shell, so
# it sees the caller's functions and variables) every 50 ms until it succeeds (return
# 0) or TIMEOUT_S seconds passed (return 1). Its output is discarded. Polls; never a
# blind sleep. The only wait of the harness.
t_wait_for() {
        local _tw_cond=$1 _tw_deadline _T_IN_WAIT=1
        _tw_deadline=$(($(date +%s%N) + ${2:-10} * 1000000000))
        while :; do
                if eval "$_tw_cond" 9>&2 >/dev/null 2>&1; then
                        return 0
                fi
                if [ "$(date +%s%N)" -ge "$_tw_deadline" ]; then
                        return 1
                fi
                sleep 0.05
        done
}

# ---- scratch dirs, cleanup stack, logs shown on failure ------------------------------

T_CLEANUPS=()
T_LOGS=()
T_IN_CLEANUP=0

# t_defer 'CMD': run CMD (eval'd) at exit, after everything deferred later. Call it in the
# test's main shell, not inside $(...), or the registration is lost with the subshell.
t_defer() {
        T_CLEANUPS+=("$1")
}

# t_show_log FILE [LABEL]: if the test fails, the last 30 lines of FILE are printed at
# exit (after the cleanups, so a service's last words are in). Main shell only.
t_show_log() {
        T_LOGS+=("$1"$'\t'"${2:-$1}")
}

_t_on_exit() {
        local rc=$? i entry
        set +e
        # An exit from inside a t_wait_for condition: stderr is still /dev/null there.
        [ "${_T_IN_WAIT:-0}" = 0 ] || exec 2>&9
        # shellcheck disable=SC2034 # read by the roles' stop functions
        T_IN_CLEANUP=1
        for ((i = ${#T_CLEANUPS[@]} - 1; i >= 0; i--)); do
                eval "${T_CLEANUPS[i]}" >/dev/null 2>&1 </dev/null
        done
        T_CLEANUPS=()
        if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
                for entry in "${T_LOGS[@]}"; do
                        [ -s "${entry%%$'\t'*}" ] || continue
                        printf -- '--- %s (last 30 lines) ---\n' "${entry#*$'\t'}" >&2
                        tail -n 30 "${entry%%$'\t'*}" >&2
                done
        fi
        if [ -n "${T_ROOT:-}" ] && [ -d "$T_ROOT" ]; then
                if [ "${T_KEEP:-0}" = 1 ] && [ "$rc" != 0 ]; then
                        printf '[%s] keeping %s (T_KEEP=1)\n' "$T_NAME" "$T_ROOT" >&2
                else
                        _t_umount_under "$T_ROOT"
                        rm -rf "$T_ROOT"
                fi
        fi
        [ -z "${T_SHORT:-}" ] || rm -rf "$T_SHORT"
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
# unix socket paths are limited to 107 bytes and build trees are deep: sockets go here.
T_SHORT=$(mktemp -d /tmp/bt.XXXXXX)
export T_ROOT T_SHORT
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

# t_make_image ARGS...: an OCI image archive by scripts/make-oci-image.sh (its --help
# lists the options: -o OUT, --ref, --random-layers, --file, --compression, ...).
t_make_image() {
        "$BERTH_SRC/scripts/make-oci-image.sh" -q "$@" || t_fail "make-oci-image.sh $* failed"
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

# ---- roles ---------------------------------------------------------------------------
# shellcheck source=bundle.sh
source "$T_HARNESS_DIR/bundle.sh"
# shellcheck source=containerd.sh
source "$T_HARNESS_DIR/containerd.sh"
# shellcheck source=registry.sh
source "$T_HARNESS_DIR/registry.sh"
# shellcheck source=server.sh
source "$T_HARNESS_DIR/server.sh"
# shellcheck source=agent.sh
source "$T_HARNESS_DIR/agent.sh"
# shellcheck source=swupdate.sh
source "$T_HARNESS_DIR/swupdate.sh"
