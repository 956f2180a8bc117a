#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# import_kill.sh — `berth import` killed with SIGKILL at chosen points (mid-blob, after
# several complete blobs, before the end-of-archive check) leaves no partial or
# unverified blob in the store and no bundle in the DB, and the next import succeeds.
# A state dir on a small tmpfs: refused up front with "MiB are free", and when the disk
# fills up during the import, refused with "disk full"; nothing is left behind either way.
#
# The kill points are made exact, not raced: berth reads the bundle from a FIFO fed by a
# helper that stops at a chosen byte offset, so berth blocks in read() right there; the
# test polls the staging dir (bounded) until the expected partial/complete staged files
# are there, then kills.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

: "${BERTH:?BERTH must point at the berth binary}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
command -v sqlite3 >/dev/null || t_skip "sqlite3 is not installed (scripts/deps.sh)"
W=$(t_tmpdir)

"$BERTH" keygen -o "$W/keys" --name k >/dev/null
mkdir -p "$W/trust" && cp "$W/keys/k.pub" "$W/trust/"
t_make_image -q -o "$W/img.tar" --ref berth.example/big:1.0 --random-layers 4 --random-size 64M --compression none \
        --seed kill
"$BERTH" bundle create -k "$W/keys/k.key" --name big --version 1 --image berth.example/big:1.0="$W/img.tar" \
        -o "$W/big.berth" >/dev/null
BUNDLE=$W/big.berth

# Layout of the bundle as "name size data_offset" lines (entries in file order).
"$PY" - "$BUNDLE" >"$W/layout" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[1], "r:") as t:
    for m in t.getmembers():
        print(m.name, m.size, m.offset_data)
EOF
mapfile -t BLOBS < <(grep '^blobs/' "$W/layout")
((${#BLOBS[@]} >= 5)) || t_fail "expected at least 5 blobs, layout: $(cat "$W/layout")"
bsize() { local a; read -r -a a <<<"${BLOBS[$1]}"; echo "${a[1]}"; }
boff() { local a; read -r -a a <<<"${BLOBS[$1]}"; echo "${a[2]}"; }
bhex() { local a; read -r -a a <<<"${BLOBS[$1]}"; echo "${a[0]#blobs/sha256/}"; }
FILE_SIZE=$(stat -c %s "$BUNDLE")

# Processes this test started and has not reaped yet; killed at exit (only these, by
# pid, and never a pid that was already reaped and could have been reused).
# shellcheck disable=SC2034 # read by the deferred cleanup
declare -A LIVE=()
# shellcheck disable=SC2016 # expanded when the cleanup runs
t_defer 'for p in "${!LIVE[@]}"; do kill -9 "$p"; done'
reaped() { # PID → exit status in REAPED_RC
        REAPED_RC=0
        wait "$1" || REAPED_RC=$?
        unset "LIVE[$1]"
}

# feed FIFO STOP: writes the bundle's first STOP bytes into FIFO, then waits (polling,
# bounded) for $FIFO.go before writing the rest. Sets FEED_PID.
feed() {
        "$PY" - "$BUNDLE" "$1" "$2" <<'EOF' &
import os, sys, time
src, fifo, stop = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src, "rb") as f, open(fifo, "wb", buffering=0) as out:
    def copy(n):
        while n > 0:
            b = f.read(min(n, 1 << 20))
            if not b:
                return
            out.write(b)
            n -= len(b)
    try:
        copy(stop)
    except BrokenPipeError:  # berth was killed while we were still filling the FIFO
        sys.exit(0)
    deadline = time.monotonic() + 120
    while not os.path.exists(fifo + ".go"):
        if time.monotonic() > deadline:
            sys.exit("feeder: nobody said go")
        time.sleep(0.05)
    try:
        copy(1 << 62)
    except BrokenPipeError:  # berth gave up (the disk-full case): expected
        pass
EOF
        FEED_PID=$!
        LIVE[$FEED_PID]=1
}

# Staged files (under store/staging/*/) whose size equals their blob's size / is smaller.
staged_complete() { # STATE
        local n=0 f hex i
        for f in "$1"/store/staging/*/*; do
                [ -f "$f" ] || continue
                hex=$(basename "$f")
                for i in "${!BLOBS[@]}"; do
                        [ "$(bhex "$i")" = "$hex" ] && [ "$(stat -c %s "$f")" = "$(bsize "$i")" ] && n=$((n + 1))
                done
        done
        echo "$n"
}
staged_partial_of() { # STATE INDEX MIN_BYTES: blob INDEX is staged with MIN_BYTES..size-1 bytes
        local hex f s
        hex=$(bhex "$2")
        for f in "$1"/store/staging/*/"$hex"; do
                [ -f "$f" ] || continue
                s=$(stat -c %s "$f")
                [ "$s" -ge "$3" ] && [ "$s" -lt "$(bsize "$2")" ] && return 0
        done
        return 1
}

# The store holds only verified blobs and the DB no bundle.
assert_nothing_visible() { # STATE WHAT
        local f n
        for f in "$1"/store/blobs/sha256/*; do
                [ -e "$f" ] || continue
                t_assert_eq "$(sha256sum <"$f" | cut -c1-64)" "$(basename "$f")" "$2: blob in the store has the wrong content"
        done
        if [ -f "$1/berth.db" ]; then
                n=$(sqlite3 "$1/berth.db" "SELECT count(*) FROM bundles" 2>/dev/null || echo 0)
                t_assert_eq "$n" 0 "$2: bundles in the DB"
        fi
}

# kill_at NAME STOP 'CONDITION': import from a FIFO that stalls at byte STOP, wait for
# CONDITION on the staging dir, SIGKILL berth, check, then re-import the real file.
kill_at() {
        local name=$1 stop=$2 cond=$3 S pid rc out
        S=$W/state-$name
        mkfifo "$W/$name.fifo"
        feed "$W/$name.fifo" "$stop"
        "$BERTH" import --state-dir "$S" --trust "$W/trust" "$W/$name.fifo" >"$W/$name.out" 2>&1 &
        pid=$!
        LIVE[$pid]=1
        t_wait_for "$cond" 60 || t_fail "$name: staging never reached the kill point: $(find "$S/store" -type f -printf '%p %s\n' 2>&1 | head -20)"
        kill -9 "$pid"
        reaped "$pid"
        t_assert_eq "$REAPED_RC" 137 "$name: berth was killed by SIGKILL"
        # The feeder may already have exited on EPIPE when berth died.
        kill "$FEED_PID" 2>/dev/null || true
        reaped "$FEED_PID"
        assert_nothing_visible "$S" "$name"
        # Every kill point is before publishing: nothing at all may be in the store.
        t_assert_eq "$(find "$S/store/blobs" -type f | wc -l)" 0 "$name: blobs published before the bundle was verified"
        t_log "$name: killed with $(find "$S/store/staging" -type f | wc -l) staged file(s), store clean"
        out=$("$BERTH" import --state-dir "$S" --trust "$W/trust" "$BUNDLE") || t_fail "$name: import after kill failed"
        t_assert_contains "$out" "imported big version 1" "$name: re-import"
        "$BERTH" status --state-dir "$S" | grep "big version 1" >/dev/null || t_fail "$name: status lacks the bundle"
        [ -z "$(find "$S/store/staging" -mindepth 1)" ] || t_fail "$name: staging leftovers after re-import"
        for f in "$S"/store/blobs/sha256/*; do
                t_assert_eq "$(sha256sum <"$f" | cut -c1-64)" "$(basename "$f")" "$name: stored blob after re-import"
        done
        t_assert_eq "$(find "$S/store/blobs/sha256" -type f | wc -l)" "${#BLOBS[@]}" "$name: blob count"
}

# The largest blob after the first one (blobs are in digest order): a random layer.
BIG=1
for ((i = 2; i < ${#BLOBS[@]}; i++)); do
        if (($(bsize "$i") > $(bsize "$BIG"))); then BIG=$i; fi
done
(($(bsize "$BIG") >= 8 * 1048576)) || t_fail "no big layer after the first blob: $(cat "$W/layout")"

# 1. mid-blob: stop 3 MiB into the largest blob; wait until ≥ 1 MiB of it is staged.
kill_at mid-blob $(($(boff "$BIG") + 3 * 1048576)) "staged_partial_of \"\$W/state-mid-blob\" $BIG 1048576"

# 2. after several blobs: stop half-way through the last blob; ≥ 2 complete files staged
#    and the last one partial.
LAST=$((${#BLOBS[@]} - 1))
kill_at after-blobs $(($(boff "$LAST") + $(bsize "$LAST") / 2)) \
        "[ \$(staged_complete \"\$W/state-after-blobs\") -ge 2 ] && staged_partial_of \"\$W/state-after-blobs\" $LAST 1"

# 3. every blob staged, end-of-archive blocks not yet read (just before publishing).
kill_at before-commit $((FILE_SIZE - 1024)) "[ \$(staged_complete \"\$W/state-before-commit\") -eq ${#BLOBS[@]} ]"

# 4. The one window no FIFO stall reaches: killed after the blobs were published but
#    before the DB row was written. Constructed: the blobs of a completed import, copied
#    into a fresh state dir with no database. The next import reuses them and records
#    the bundle.
S=$W/state-published
mkdir -p "$S/store/blobs/sha256"
cp -a "$W/state-mid-blob/store/blobs/sha256/." "$S/store/blobs/sha256/"
out=$("$BERTH" import --state-dir "$S" --trust "$W/trust" "$BUNDLE") || t_fail "import over published blobs failed"
t_assert_contains "$out" "0 new blob(s)" "published blobs are reused"
t_assert_contains "$out" "${#BLOBS[@]} already present" "published blobs are reused"
"$BERTH" status --state-dir "$S" | grep "big version 1" >/dev/null || t_fail "status lacks the bundle (published)"

# ---- a stream can be read only once ------------------------------------------------------
# A bundle that arrives through a FIFO (a pipe from a download or a decompressor) must be
# opened exactly once: the CLI once opened it to offer it to the agent and then again to
# import it directly, which lost the stream and hung.
S=$W/state-fifo
mkfifo "$W/stream.fifo"
cat "$BUNDLE" >"$W/stream.fifo" &
CAT_PID=$!
LIVE[$CAT_PID]=1
out=$(timeout 120 "$BERTH" import --state-dir "$S" --trust "$W/trust" "$W/stream.fifo") ||
        t_fail "import from a FIFO failed or hung: $out"
t_assert_contains "$out" "imported big version 1" "import from a FIFO"
reaped "$CAT_PID"
t_assert_eq "$REAPED_RC" 0 "the writer saw its whole stream read"

# ---- full disk -------------------------------------------------------------------------

FULL=$W/small
mkdir -p "$FULL"
if ! mount -t tmpfs -o size=48m,mode=0755 berth-test "$FULL" 2>/dev/null; then
        t_skip "cannot mount a tmpfs (not root?); kill cases passed, full-disk cases skipped"
fi
t_defer "umount -l '$FULL'"

# 4. refused up front: 64 MiB do not fit in 48 MiB.
t_expect_fail "$BERTH" import --state-dir "$FULL/s1" --trust "$W/trust" "$BUNDLE"
t_assert_contains "$T_ERR" "MiB are free" "too-small filesystem named"
t_assert_eq "$(printf '%s\n' "$T_ERR" | grep -c '^berth: error:')" 1 "one error line"
assert_nothing_visible "$FULL/s1" precheck
t_assert_eq "$(find "$FULL/s1/store" -type f | wc -l)" 0 "precheck: files left in the store"

# 5. the disk fills up while blobs stream: remount bigger so the check passes, stall the
#    import mid-blob, fill the filesystem, then let it continue.
umount "$FULL" && mount -t tmpfs -o size=112m,mode=0755 berth-test "$FULL"
S=$FULL/s2
mkfifo "$W/full.fifo"
feed "$W/full.fifo" $(($(boff "$BIG") + 2 * 1048576))
"$BERTH" import --state-dir "$S" --trust "$W/trust" "$W/full.fifo" >"$W/full.out" 2>"$W/full.err" &
pid=$!
# shellcheck disable=SC2034 # read by the deferred cleanup
LIVE[$pid]=1
t_wait_for "staged_partial_of \"$S\" $BIG 1048576" 60 || t_fail "full: import did not start staging"
dd if=/dev/zero of="$FULL/filler" bs=1M 2>/dev/null || true # until ENOSPC
touch "$W/full.fifo.go" 2>/dev/null || t_fail "cannot signal the feeder"
reaped "$pid"
[ "$REAPED_RC" != 0 ] || t_fail "import on a full disk succeeded"
reaped "$FEED_PID"
err=$(cat "$W/full.err")
t_log "disk full: $err"
t_assert_contains "$err" "disk full" "ENOSPC named"
t_assert_eq "$(printf '%s\n' "$err" | grep -c '^berth: error:')" 1 "one error line (disk full)"
assert_nothing_visible "$S" disk-full
t_assert_eq "$(find "$S/store" -type f | wc -l)" 0 "disk full: files left in the store or staging"
rm -f "$FULL/filler"
out=$("$BERTH" import --state-dir "$S" --trust "$W/trust" "$BUNDLE") || t_fail "import after freeing space failed"
t_assert_contains "$out" "imported big version 1" "import after disk full"
t_log "ok: 3 kill points, the publish/DB window, 2 full-disk cases"
