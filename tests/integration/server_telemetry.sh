#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server: agent telemetry over DDI configData (tm.* keys, wire format v1) on a real
# HTTPS server — batches in order, a resend, a gap, a new queue id, telemetry beside a
# normal attribute, invalid batches (400, nothing stored), the management API answer
# (records, newest per source, dropped, gaps), the telemetry.keep bound, persistence
# across a restart, the `target telemetry` subcommand, and configData without tm.* keys
# working exactly as before.
source "$(dirname "$0")/../lib/harness.sh"

srv_config "[telemetry]" "keep = 40"
srv_start

TOK=0123456789abcdef-gw1
mgmt POST /api/v1/targets "[{\"controllerId\":\"gw-1\",\"token\":\"$TOK\",\"attributes\":{\"hw\":\"rev2\"}},
        {\"controllerId\":\"gw-2\",\"token\":\"0123456789abcdef-gw2\"}]"
expect_code 201 "register targets"
QA=00000000000000aa
QB=0123456789abcdef

# tm_data QUEUE FIRST LAST DROPPED PENDING: the tm.* keys of a batch. Odd seqs come from
# source "agent", even ones from "broker"; every fifth record is a sample.
tm_data() {
        jq -cn --arg q "$1" --argjson f "$2" --argjson l "$3" --arg d "$4" --arg p "$5" '
                {"tm.v": "1", "tm.queue": $q, "tm.first": ($f | tostring), "tm.last": ($l | tostring),
                 "tm.dropped": $d, "tm.pending": $p}
                + ([range($f; $l + 1)] | map({
                        key: ("tm.r" + ((. - $f) | tostring | if length < 2 then "0" + . else . end)),
                        value: "\(.) \(1700000000 + .) \(if . % 5 == 0 then "sample" else "event" end) \(if . % 2 == 0 then "broker" else "agent" end) record \(.)"
                   }) | from_entries)'
}
# put DATA-JSON [MODE]: PUT configData for gw-1.
put() { ddi PUT gw-1 /configData "$TOK" "{\"mode\":\"${2:-merge}\",\"data\":$1}"; }
# tel [QUERY]: GET the telemetry of gw-1 into $BODY.
tel() {
        mgmt GET "/api/v1/targets/gw-1/telemetry${1:-}"
        expect_code 200 "telemetry of gw-1"
}
seqs() { echo "$BODY" | jq -c '[.records[].seq]'; }
attrs() {
        mgmt GET /api/v1/targets/gw-1
        echo "$BODY" | jq -c .attributes
}

# 1. configData without tm.* keys behaves as before: merge, replace, remove, and the
#    configData link disappears once the target sent its attributes.
ddi GET gw-1 "" "$TOK"
echo "$BODY" | jq -e '._links.configData.href' >/dev/null || t_fail "configData not requested: $BODY"
put '{"site":"plant-a"}'
expect_code 200 "plain configData"
[ "$(attrs)" = '{"hw":"rev2","site":"plant-a"}' ] || t_fail "merged attributes: $(attrs)"
ddi GET gw-1 "" "$TOK"
echo "$BODY" | jq -e '._links.configData == null' >/dev/null || t_fail "configData still requested: $BODY"
put '{"x":"1"}' replace
expect_code 200 "configData replace"
[ "$(attrs)" = '{"x":"1"}' ] || t_fail "replaced attributes: $(attrs)"
put '{"x":""}' remove
expect_code 200 "configData remove"
[ "$(attrs)" = '{}' ] || t_fail "removed attributes: $(attrs)"
put '{"hw":"rev2","site":"plant-a"}'
expect_code 200 "configData restore"
put '{"a":1}'
expect_code 400 "non-string attribute"
tel
echo "$BODY" | jq -e '.controllerId == "gw-1" and .queue == null and .lastSeq == 0 and .dropped == 0 and .pending == 0
        and .gaps == 0 and .updated == null and .latest == {} and .records == []' >/dev/null ||
        t_fail "no telemetry yet: $BODY"
mgmt GET /api/v1/targets/gw-1
echo "$BODY" | jq -e 'has("telemetry") and .telemetry == null' >/dev/null || t_fail "target summary before telemetry: $BODY"
t_pass "configData without telemetry unchanged; empty telemetry answer"

# 2. Batches in order, a resend, telemetry beside a normal attribute, a gap.
put "$(tm_data $QA 1 3 0 5)"
expect_code 200 "batch 1-3"
tel
[ "$(seqs)" = "[1,2,3]" ] || t_fail "records after batch 1-3: $BODY"
echo "$BODY" | jq -e --arg q $QA '.queue == $q and .lastSeq == 3 and .pending == 5 and .gaps == 0 and .updated > 0' \
        >/dev/null || t_fail "summary after batch 1-3: $BODY"
put "$(tm_data $QA 1 3 0 9)"
expect_code 200 "resend of batch 1-3"
tel
[ "$(seqs)" = "[1,2,3]" ] && echo "$BODY" | jq -e '.pending == 5' >/dev/null || t_fail "resend changed something: $BODY"
put "$(tm_data $QA 4 6 0 3 | jq -c '. + {"fw": "7"}')"
expect_code 200 "batch 4-6 with an attribute"
[ "$(attrs)" = '{"fw":"7","hw":"rev2","site":"plant-a"}' ] || t_fail "attributes beside telemetry: $(attrs)"
put "$(tm_data $QA 9 10 2 0)"
expect_code 200 "batch 9-10 after a gap"
tel
[ "$(seqs)" = "[1,2,3,4,5,6,9,10]" ] || t_fail "records after the gap: $BODY"
echo "$BODY" | jq -e '.lastSeq == 10 and .dropped == 2 and .gaps == 2 and .pending == 0' >/dev/null ||
        t_fail "summary after the gap: $BODY"
echo "$BODY" | jq -e '.records[0] == {seq: 1, ts: 1700000001, kind: "event", source: "agent", text: "record 1",
        received: .records[0].received} and .records[0].received > 0' >/dev/null || t_fail "record shape: $BODY"
echo "$BODY" | jq -e '(.latest | keys) == ["agent", "broker"]
        and .latest.agent == {seq: 9, ts: 1700000009, kind: "event", text: "record 9"}
        and .latest.broker == {seq: 10, ts: 1700000010, kind: "sample", text: "record 10"}' >/dev/null ||
        t_fail "latest per source: $BODY"
tel "?after=3&limit=2"
[ "$(seqs)" = "[4,5]" ] || t_fail "after=3&limit=2: $BODY"
echo "$BODY" | jq -e '.lastSeq == 10 and (.latest | length) == 2' >/dev/null || t_fail "paged answer lost the summary: $BODY"
for q in "?limit=0" "?after=x" "?after=-1" "?limit=5x"; do
        mgmt GET "/api/v1/targets/gw-1/telemetry$q"
        expect_code 400 "telemetry query $q"
done
mgmt GET /api/v1/targets/nope/telemetry
expect_code 404 "telemetry of an unknown target"
mgmt GET /api/v1/targets/gw-1
echo "$BODY" | jq -e '.telemetry.lastSeq == 10 and .telemetry.dropped == 2 and .telemetry.pending == 0
        and .telemetry.gaps == 2 and .telemetry.updated > 0' >/dev/null || t_fail "target summary: $BODY"
echo "$BODY" | jq -e '.attributes | keys | map(select(startswith("tm."))) == []' >/dev/null ||
        t_fail "tm.* keys stored as attributes: $BODY"
mgmt GET /api/v1/targets/gw-2/telemetry
expect_code 200 "telemetry of gw-2"
echo "$BODY" | jq -e '.controllerId == "gw-2" and .lastSeq == 0 and .records == []' >/dev/null ||
        t_fail "gw-2 sees gw-1's telemetry: $BODY"
# Telemetry alone does not answer the server's request for attributes.
ddi PUT gw-2 /configData 0123456789abcdef-gw2 "{\"data\":$(tm_data $QB 1 1 0 0)}"
expect_code 200 "telemetry-only configData of gw-2"
ddi GET gw-2 "" 0123456789abcdef-gw2
echo "$BODY" | jq -e '._links.configData.href' >/dev/null || t_fail "telemetry alone ended the attribute request: $BODY"
mgmt GET /api/v1/targets/gw-2/telemetry
echo "$BODY" | jq -e '.lastSeq == 1 and .records[0].text == "record 1"' >/dev/null || t_fail "gw-2 telemetry: $BODY"
mgmt GET /api/v1/targets/gw-1/telemetry
echo "$BODY" | jq -e '.lastSeq == 10' >/dev/null || t_fail "gw-2's telemetry changed gw-1's: $BODY"
t_pass "batches, resend, attribute beside telemetry, gap, latest per source, paging"

# 3. Invalid batches: 400 configData.invalid naming the key; nothing of the request stored.
tel
before=$BODY
bad() { # bad WHAT KEY DATA-JSON [MODE]
        put "$3" "${4:-merge}"
        expect_code 400 "$1"
        echo "$BODY" | jq -e --arg k "$2" '.errorCode == "configData.invalid" and (.message | contains($k))' >/dev/null ||
                t_fail "$1: message does not name $2: $BODY"
}
b=$(tm_data $QA 11 12 2 0)
bad "missing record" tm.r01 "$(echo "$b" | jq -c 'del(."tm.r01") + {"evil": "1"}')"
bad "wrong version" tm.v "$(echo "$b" | jq -c '."tm.v" = "2"')"
bad "no version" "needs tm.v" "$(echo "$b" | jq -c 'del(."tm.v")')"
bad "bad queue id" tm.queue "$(echo "$b" | jq -c '."tm.queue" = "0123456789ABCDEF"')"
bad "seq mismatch" tm.r01 "$(echo "$b" | jq -c '."tm.r01" = "13 1700000000 event agent x"')"
bad "bad kind" tm.r00 "$(echo "$b" | jq -c '."tm.r00" = "11 1700000000 metric agent x"')"
bad "bad source" tm.r00 "$(echo "$b" | jq -c '."tm.r00" = "11 1700000000 event a/b x"')"
bad "control character" tm.r00 "$(echo "$b" | jq -c '."tm.r00" = "11 1700000000 event agent a\u0007b"')"
bad "unknown tm key" tm.extra "$(echo "$b" | jq -c '. + {"tm.extra": "1"}')"
bad "record beyond tm.last" tm.r02 "$(echo "$b" | jq -c '. + {"tm.r02": "13 1700000000 event agent x"}')"
bad "too many records" tm.last "$(tm_data $QA 11 43 2 0)"
bad "telemetry in replace mode" tm.v "$b" replace
tel
[ "$BODY" = "$before" ] || t_fail "an invalid batch changed the telemetry: $BODY"
[ "$(attrs)" = '{"fw":"7","hw":"rev2","site":"plant-a"}' ] || t_fail "an invalid batch changed the attributes: $(attrs)"
t_pass "invalid batches refused naming the key, nothing stored"

# 4. A new queue id (agent state wiped) starts a new sequence space.
put "$(tm_data $QB 1 2 0 0)"
expect_code 200 "new queue"
tel
[ "$(seqs)" = "[1,2]" ] || t_fail "records of the new queue: $BODY"
echo "$BODY" | jq -e --arg q $QB '.queue == $q and .lastSeq == 2 and .gaps == 0 and .dropped == 0
        and .latest.agent.seq == 1 and .latest.broker.seq == 2' >/dev/null || t_fail "summary of the new queue: $BODY"
t_pass "new queue id resets the sequence space"

# 5. telemetry.keep = 40: only the newest 40 records stay.
put "$(tm_data $QB 3 34 0 32)"
expect_code 200 "batch 3-34"
put "$(tm_data $QB 35 66 0 0)"
expect_code 200 "batch 35-66"
tel
echo "$BODY" | jq -e '(.records | length) == 40 and .records[0].seq == 27 and .records[-1].seq == 66 and .lastSeq == 66' \
        >/dev/null || t_fail "keep bound: $(seqs)"
t_pass "telemetry.keep bounds the stored records"

# 6. Stored across a restart: a resend is still recognised as one.
srv_stop
srv_start
put "$(tm_data $QB 35 66 0 0)"
expect_code 200 "resend after restart"
tel
echo "$BODY" | jq -e '(.records | length) == 40 and .lastSeq == 66 and .gaps == 0' >/dev/null ||
        t_fail "after restart: $BODY"
t_pass "telemetry survives a restart"

# 7. The subcommand.
"$SERVER_BIN" target telemetry gw-1 --after 60 --limit 3 > "$T_ROOT/tm.json" || t_fail "target telemetry subcommand"
jq -e '[.records[].seq] == [61, 62, 63] and .lastSeq == 66 and .controllerId == "gw-1"' "$T_ROOT/tm.json" >/dev/null ||
        t_fail "subcommand output: $(cat "$T_ROOT/tm.json")"
"$SERVER_BIN" target telemetry gw-1 > "$T_ROOT/tm.json" || t_fail "target telemetry subcommand (defaults)"
jq -e '(.records | length) == 40' "$T_ROOT/tm.json" >/dev/null || t_fail "subcommand defaults: $(cat "$T_ROOT/tm.json")"
if "$SERVER_BIN" target telemetry nope > /dev/null 2>&1; then t_fail "subcommand on an unknown target succeeded"; fi
"$SERVER_BIN" target show gw-1 | jq -e '.telemetry.lastSeq == 66' >/dev/null || t_fail "target show summary"
t_pass "berth-server target telemetry"
