# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# reject_lib.bash — helpers shared by the CLI refusal tests (bundle_reject.sh,
# bundle_header_strict.sh). Source after tests/lib/harness.sh. Not a test itself (ctest
# picks up *.sh only).
: "${BERTH:?BERTH must point at the berth binary}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
"$PY" -c 'import nacl.signing' 2>/dev/null || t_skip "python3-nacl is not installed (scripts/deps.sh)"
command -v sqlite3 >/dev/null || t_skip "sqlite3 is not installed (scripts/deps.sh)"
GEN="$BERTH_SRC/tests/cli/mkbundle.py"
# shellcheck disable=SC2034 # used by the sourcing test
W=$(t_tmpdir)
NCASES=0

# ---- helpers -------------------------------------------------------------------------

gen() { "$PY" "$GEN" "$@" || t_fail "mkbundle.py $* failed"; }

# State snapshot: logical DB dump, the DB file itself, every path under store/ and the
# hash of every stored blob. Two equal snapshots mean nothing visible changed.
snapshot() { # STATE_DIR
        (
                cd "$1" || exit 1
                sqlite3 berth.db .dump
                sha256sum berth.db
                find . -path ./lock -prune -o -print | LC_ALL=C sort
                find store/blobs -type f -exec sha256sum {} + | LC_ALL=C sort
        )
}

staging_empty() { # STATE_DIR
        local left
        left=$(find "$1/store/staging" -mindepth 1 2>/dev/null | head -5)
        [ -z "$left" ] || t_fail "staging dir not empty after refused import: $left"
}

# T_ERR must be exactly one line, "berth: error: ...", containing PHRASE.
one_error() { # WHAT PHRASE
        local n
        n=$(printf '%s\n' "$T_ERR" | grep -c . || true)
        [ "$n" = 1 ] || t_fail "$1: expected exactly one line on stderr, got $n: $T_ERR"
        case "$T_ERR" in
        "berth: error: "*) ;;
        *) t_fail "$1: stderr is not a 'berth: error:' line: $T_ERR" ;;
        esac
        t_assert_contains "$T_ERR" "$2" "$1: error names the problem"
}

# expect_refused NAME FILE PHRASE TRUST STATE [env...]: verify and import both fail with
# one error line containing PHRASE; the import leaves STATE unchanged.
expect_refused() {
        local name=$1 f=$2 phrase=$3 trust=$4 state=$5 before after
        shift 5
        t_expect_fail env "$@" "$BERTH" bundle verify --trust "$trust" "$f"
        one_error "$name (verify)" "$phrase"
        # The state is asserted unchanged after every case, so its snapshot is cached.
        if [ "${SNAP_DIR:-}" != "$state" ]; then
                SNAP=$(snapshot "$state")
                SNAP_DIR=$state
        fi
        before=$SNAP
        t_expect_fail env "$@" "$BERTH" import --state-dir "$state" --trust "$trust" "$f"
        one_error "$name (import)" "$phrase"
        after=$(snapshot "$state")
        [ "$before" == "$after" ] || t_fail "$name: refused import changed the state dir:
$(diff <(echo "$before") <(echo "$after") | head -20)"
        staging_empty "$state"
        NCASES=$((NCASES + 1))
}

expect_imported() { # STATE TRUST FILE → prints berth's stdout
        "$BERTH" import --state-dir "$1" --trust "$2" "$3" || t_fail "import of $3 into $1 failed"
}

