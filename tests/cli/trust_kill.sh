#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# trust_kill.sh — berth killed with SIGKILL while it writes trust roots never leaves half a
# root or a gap, and never goes back: after every kill the node opens, its current root is
# one of the chain's versions, every root file it keeps is whole and the files form a
# valid chain from the trust directory; the next run finishes the walk.
#
# 1. At each named fault point of the root store (builds with -DBERTH_FAULT_POINTS=ON,
#    e.g. the ASan build; skipped otherwise): half of a root written to its temp file,
#    before the rename, before the directory fsync, between two roots of a chain — by
#    `berth trust install` and by `berth import` of a bundle carrying the chain.
# 2. In any build: `berth trust install` of a 29-root chain killed at 20 moments spread
#    over the time one run takes (measured first). The moment of a kill is the variable
#    here, not a stand-in for synchronisation: only the invariants are asserted; how many
#    kills landed mid-walk is logged.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

: "${BERTH:?BERTH must point at the berth binary}"
B=$BERTH
W=$(t_tmpdir)
cd "$W"
IMG=berth.example/tiny:1.0=$BERTH_SRC/tests/fuzz/corpus/oci_index/tiny-oci.tar
N=30

"$B" keygen -o keys --name old >/dev/null
"$B" keygen -o keys --name r >/dev/null
"$B" keygen -o keys --name rel >/dev/null
mkdir -p trust chain && cp keys/old.pub trust/
"$B" trust rotate --from trust -o chain/2.json --remove-root-key old --add-root-key keys/r.pub \
        --remove-release-key old --add-release-key keys/rel.pub -k keys/old.key -k keys/r.key >/dev/null
for ((v = 3; v <= N; v++)); do
        "$B" trust rotate --from chain/$((v - 1)).json -o chain/$v.json -k keys/r.key >/dev/null ||
                t_fail "making root $v"
done
"$B" bundle create -k keys/rel.key --name app --version 1 --image "$IMG" --roots chain/2.json --roots chain/3.json \
        --roots chain/4.json -o app.berth >/dev/null

# check STATE WHAT: the invariants after a kill; prints the node's version.
check() {
        local s=$1 what=$2 v files expect
        v=$("$B" trust show --json --trust trust --state-dir "$s" 2>"$W/show.err" | jq -r .version) ||
                t_fail "$what: the node cannot open its trust root: $(cat "$W/show.err")"
        files=$(cd "$s/trust" 2>/dev/null && ls -- *.json 2>/dev/null | sort -n | tr '\n' ' ' || true)
        expect=""
        for ((i = 2; i <= v; i++)); do expect+="$i.json "; done
        [ "$v" = 1 ] && expect=""
        t_assert_eq "$files" "$expect" "$what: the kept roots are 2..$v without a gap"
        if [ -n "$files" ]; then
                "$B" trust verify --trust trust "$s/trust" >/dev/null 2>"$W/verify.err" ||
                        t_fail "$what: the kept roots are not a valid chain: $(cat "$W/verify.err")"
        fi
        echo "$v"
}

# ---- 1. named fault points ----------------------------------------------------------------

run_fault() { # POINT STATE CMD... → T_RC
        local point=$1 s=$2
        shift 2
        T_RC=0
        BERTH_FAULT=$point "$@" >"$W/fault.out" 2>&1 || T_RC=$?
}
FAULTS=1
declare -A WANT=([trust.root.half_written]=1 [trust.root.before_rename]=1 [trust.root.before_dir_sync]=2
        [trust.root.accepted]=2)
for point in trust.root.half_written trust.root.before_rename trust.root.before_dir_sync trust.root.accepted; do
        for via in install import; do
                S=$W/fault-$point-$via
                if [ $via = install ]; then
                        run_fault "$point" "$S" "$B" trust install --trust trust --state-dir "$S" chain
                else
                        run_fault "$point" "$S" "$B" import --no-agent --trust trust --state-dir "$S" app.berth
                fi
                if [ "$T_RC" != 137 ]; then
                        [ "$T_RC" = 0 ] && FAULTS=0 && break 2
                        t_fail "$point ($via): berth was not killed (rc $T_RC): $(cat "$W/fault.out")"
                fi
                v=$(check "$S" "$point ($via)")
                t_assert_eq "$v" "${WANT[$point]}" "$point ($via): the node's root after the kill"
                case $point in
                trust.root.half_written | trust.root.before_rename)
                        ls "$S"/trust/2.json.tmp.* >/dev/null 2>&1 ||
                                t_fail "$point: no temp file was left to ignore"
                        ;;
                esac
                # The next run finishes: all roots, the temp file gone, and the bundle in.
                if [ $via = install ]; then
                        "$B" trust install --trust trust --state-dir "$S" chain >/dev/null || t_fail "$point: rerun"
                        t_assert_eq "$(check "$S" "$point rerun")" $N "$point ($via): rerun reaches version $N"
                else
                        "$B" import --no-agent --trust trust --state-dir "$S" app.berth >/dev/null ||
                                t_fail "$point: reimport"
                        t_assert_eq "$(check "$S" "$point reimport")" 4 "$point ($via): reimport reaches version 4"
                        "$B" status --no-agent --state-dir "$S" --trust trust | grep -q "app version 1" ||
                                t_fail "$point: the bundle is not installed after the reimport"
                fi
                [ -z "$(ls "$S"/trust/*.tmp.* 2>/dev/null)" ] || t_fail "$point ($via): temp files left after the rerun"
        done
done
if [ "$FAULTS" = 1 ]; then
        t_log "fault points: 4 points × (install, import) — never half a root, the rerun finishes"
else
        t_log "berth was built without -DBERTH_FAULT_POINTS: fault point cases skipped"
fi

# ---- 2. kills at moments spread over one run ----------------------------------------------

start=$(date +%s%N)
"$B" trust install --trust trust --state-dir "$W/timing" chain >/dev/null
span=$((($(date +%s%N) - start) / 1000)) # µs
mid=0
for ((i = 0; i < 20; i++)); do
        S=$W/random-$i
        "$B" trust install --trust trust --state-dir "$S" chain >/dev/null 2>&1 &
        pid=$!
        sleep "$(printf '0.%06d' $((span * i / 20)))"
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        v=$(check "$S" "kill $i")
        if ((v > 1 && v < N)); then mid=$((mid + 1)); fi
        "$B" trust install --trust trust --state-dir "$S" chain >/dev/null || t_fail "kill $i: rerun failed"
        t_assert_eq "$(check "$S" "kill $i rerun")" $N "kill $i: the rerun finishes the walk"
done
t_log "ok: 20 kills over a ${span} µs walk of $((N - 1)) roots, $mid of them mid-walk; never half a root"
