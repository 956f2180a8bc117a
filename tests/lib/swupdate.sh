# SPDX-License-Identifier: Apache-2.0
# swupdate.sh — runs Debian's swupdate (suricatta, hawkBit mode) for berth-server tests;
# sourced by harness.sh. swu_start puts swupdate and every process it forks into a
# process group of their own (bash job control: the job's group id is its pid, for sure;
# `setsid` forks, and leaves another group id, when its caller already leads a group), and
# swu_stop ends that group within a bound: SIGTERM, 10 s for the whole group to go, then
# SIGKILL. A teardown that waited for swupdate without a bound could hang for ever.

SWU_PID=""
SWU_DEFERRED=0

# swu_start LOG SWUPDATE-ARGS...: starts swupdate in $T_ROOT/swu (its cwd and TMPDIR);
# stopped at exit.
swu_start() {
        local log=$1
        shift
        mkdir -p "$T_ROOT/swu"
        if [ "$SWU_DEFERRED" = 0 ]; then SWU_DEFERRED=1; t_defer swu_stop; fi
        set -m
        (cd "$T_ROOT/swu" && TMPDIR="$T_ROOT/swu" exec swupdate "$@") > "$log" 2>&1 &
        SWU_PID=$!
        set +m
}

# swu_stop: stops swupdate's process group; a no-op when it is not running.
swu_stop() {
        [ -n "$SWU_PID" ] || return 0
        kill -TERM -- "-$SWU_PID" 2>/dev/null || true
        local i=0
        while kill -0 -- "-$SWU_PID" 2>/dev/null && [ "$i" -lt 100 ]; do
                sleep 0.1
                i=$((i + 1))
        done
        if kill -KILL -- "-$SWU_PID" 2>/dev/null; then
                echo "note: swupdate (group $SWU_PID) was still running 10 s after SIGTERM; killed" >&2
        fi
        wait "$SWU_PID" 2>/dev/null || true
        SWU_PID=""
}
