#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# packaging_journal.sh — structured journal logging (agent/base/log.c) against a real
# systemd-journald, started by this test in a private mount namespace (its own tmpfs on
# /run/systemd and /run/log, its own journald.conf), so nothing on the host is touched:
#   1. JOURNAL_STREAM names stderr but no journal socket exists → plain "<N>berth: …" lines
#      on stderr, the command's result unchanged;
#   2. with journald running, `berth import` records go to the journal with MESSAGE,
#      PRIORITY, CODE_FILE/LINE/FUNC, ERRNO, SYSLOG_IDENTIFIER and the BERTH_* fields, and
#      stderr stays empty;
#   3. without JOURNAL_STREAM, the same run prints plain stderr lines.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

[ "$(id -u)" = 0 ] || t_skip "needs root for a private mount namespace"
JOURNALD=/lib/systemd/systemd-journald
[ -x "$JOURNALD" ] || t_skip "systemd-journald not installed (package systemd)"
command -v journalctl >/dev/null || t_skip "journalctl not installed"
unshare -m --propagation private true 2>/dev/null || t_skip "cannot create a mount namespace here"

W=$(t_tmpdir)
t_bundle "$W/good.berth" --name jt --version 1
t_tamper "$W/good.berth" "$W/bad.berth"

# The inner script runs inside the namespace. $1 = mode (nosocket | journald), $2 = W.
cat >"$W/inner.sh" <<'INNER'
set -euo pipefail
mode=$1 W=$2
mount -t tmpfs tmpfs /run/systemd 2>/dev/null || { mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd; }
mkdir -p /run/log && mount -t tmpfs tmpfs /run/log
jpid=
trap '[ -n "$jpid" ] && kill "$jpid" 2>/dev/null && wait "$jpid" 2>/dev/null; true' EXIT
if [ "$mode" = journald ]; then
        printf '[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\nForwardToKMsg=no\nForwardToConsole=no\nForwardToWall=no\nRateLimitBurst=0\n' >"$W/journald.conf"
        mount --bind "$W/journald.conf" /etc/systemd/journald.conf
        /lib/systemd/systemd-journald 2>"$W/journald.err" &
        jpid=$!
        for _ in $(seq 1 200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
        [ -S /run/systemd/journal/socket ] || { echo "journald did not start" >&2; exit 3; }
fi
# berth's stderr is a file that JOURNAL_STREAM names, as systemd does for a service.
run() { # run NAME ARGS...: stdout → W/NAME.out, stderr → W/NAME.err, exit code → W/NAME.rc
        local name=$1
        shift
        : >"$W/$name.err"
        export JOURNAL_STREAM
        JOURNAL_STREAM=$(stat -c '%d:%i' "$W/$name.err")
        rc=0
        "$@" >"$W/$name.out" 2>>"$W/$name.err" || rc=$?
        echo "$rc" >"$W/$name.rc"
}
run "$mode-good" "$BERTH" import --state-dir "$W/state-$mode" --trust "$TRUST" "$W/good.berth"
run "$mode-bad" "$BERTH" import --state-dir "$W/state-$mode" --trust "$TRUST" "$W/bad.berth"
if [ "$mode" = journald ]; then
        # journalctl --sync asks journald to write everything it has received.
        journalctl --sync 2>/dev/null || true
        for _ in $(seq 1 100); do
                journalctl -D /run/log/journal -o json --no-pager SYSLOG_IDENTIFIER=berth >"$W/journal.json" 2>/dev/null || true
                [ "$(grep -c . "$W/journal.json")" -ge 2 ] && break
                sleep 0.05
        done
fi
INNER

# 1. The journal socket does not exist: records fall back to stderr with priorities.
env BERTH="$BERTH" TRUST="$T_TRUST" unshare -m --propagation private bash "$W/inner.sh" nosocket "$W"
t_assert_eq "$(cat "$W/nosocket-good.rc")" 0 "import with an unusable journal"
t_assert_contains "$(cat "$W/nosocket-good.out")" "imported jt version 1" "stdout result"
t_assert_eq "$(cat "$W/nosocket-bad.rc")" 1 "tampered bundle refused"
t_assert_contains "$(cat "$W/nosocket-bad.err")" "<3>berth: error: " "fallback line with priority"
t_assert_contains "$(cat "$W/nosocket-bad.err")" "bad.berth" "fallback line names the file"
t_log "no journal socket: clean fallback to stderr"

# 2. A real journald.
env BERTH="$BERTH" TRUST="$T_TRUST" unshare -m --propagation private bash "$W/inner.sh" journald "$W" ||
        t_fail "journald run failed: $(cat "$W/journald.err" 2>/dev/null)"
t_assert_eq "$(cat "$W/journald-good.rc")" 0 "import under journald"
t_assert_eq "$(cat "$W/journald-bad.rc")" 1 "tampered bundle refused under journald"
t_assert_eq "$(cat "$W/journald-good.err")$(cat "$W/journald-bad.err")" "" "nothing on stderr under journald"
J=$W/journal.json
[ -s "$J" ] || t_fail "no berth records in the journal"
ok=$(jq -c 'select(.MESSAGE | startswith("imported jt version 1"))' "$J")
[ -n "$ok" ] || t_fail "no 'imported' record: $(cat "$J")"
t_assert_eq "$(jq -r .BERTH_BUNDLE <<<"$ok")" jt "BERTH_BUNDLE"
t_assert_eq "$(jq -r .BERTH_VERSION <<<"$ok")" 1 "BERTH_VERSION"
t_assert_eq "$(jq -r .BERTH_BUNDLE_FILE <<<"$ok")" "$W/good.berth" "BERTH_BUNDLE_FILE"
t_assert_eq "$(jq -r .PRIORITY <<<"$ok")" 5 "PRIORITY of the result"
t_assert_contains "$(jq -r .CODE_FILE <<<"$ok")" "cmd_import.c" "CODE_FILE"
t_assert_eq "$(jq -r .CODE_FUNC <<<"$ok")" cmd_import "CODE_FUNC"
[[ "$(jq -r .CODE_LINE <<<"$ok")" =~ ^[0-9]+$ ]] || t_fail "CODE_LINE: $ok"
t_assert_eq "$(jq -r ._TRANSPORT <<<"$ok")" journal "native journal protocol"
bad=$(jq -c 'select(.PRIORITY == "3")' "$J")
[ -n "$bad" ] || t_fail "no error record: $(cat "$J")"
t_assert_contains "$(jq -r .MESSAGE <<<"$bad")" "bad.berth" "error names the file"
t_assert_eq "$(jq -r .BERTH_BUNDLE_FILE <<<"$bad")" "$W/bad.berth" "error record's BERTH_BUNDLE_FILE"
[[ "$(jq -r .ERRNO <<<"$bad")" =~ ^[0-9]+$ ]] || t_fail "ERRNO on the error record: $bad"
t_assert_eq "$(jq -r .BERTH_BUNDLE <<<"$bad")" null "no bundle name for a refused file"
t_log "journald: structured records with BERTH_* fields"

# 3. No JOURNAL_STREAM: plain lines as always.
t_expect_fail env -u JOURNAL_STREAM "$BERTH" import --state-dir "$W/state-plain" --trust "$T_TRUST" "$W/bad.berth"
t_assert_contains "$T_ERR" "berth: error: " "plain stderr line"
case "$T_ERR" in "<"*) t_fail "priority prefix without a journal stream: $T_ERR" ;; esac
