#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server: artifact downloads — single byte ranges (closed, open-ended, suffix),
# unsatisfiable or malformed ranges → 416, ETag / If-Range, HEAD, resume with curl -C -,
# and a 256 MiB artifact served without the server reading it into memory.
source "$(dirname "$0")/../lib/harness.sh"

# Raw artifacts keep this test independent of bundle building (test-only switch).
srv_config "[bundles]" "insecure_skip_verify = true"
srv_start
srv_upload_bundle blob 1 --raw 1000003
SIZE=$(stat -c %s "$BUNDLE_FILE")
TOK=token-of-the-range-target
mgmt POST /api/v1/targets "{\"controllerId\":\"r-1\",\"token\":\"$TOK\"}"
RID=$("$SERVER_BIN" rollout create --name r --bundle "$BUNDLE_ID" | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null
AID=$(action_of r-1 "$TOK")
ddi GET r-1 "/deploymentBase/$AID" "$TOK"
URL=$(echo "$BODY" | jq -r '.deployment.chunks[0].artifacts[0]._links.download.href')
SHA=$(sha256sum "$BUNDLE_FILE" | cut -d' ' -f1)

# get RANGE [extra curl args]: sets CODE, HDRS (file) and OUT (file)
get() {
        local range=$1
        shift
        local args=(-sS --cacert "$CA" -H "Authorization: TargetToken $TOK" -D "$T_ROOT/hdrs" -o "$T_ROOT/out" -w '%{http_code}')
        [ -n "$range" ] && args+=(-H "Range: $range")
        CODE=$(curl "${args[@]}" "$@" "$URL")
}
hdr() { grep -i "^$1:" "$T_ROOT/hdrs" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
slice() { tail -c +$(($1 + 1)) "$BUNDLE_FILE" | head -c "$2"; }

get ""
[ "$CODE" = 200 ] && cmp -s "$T_ROOT/out" "$BUNDLE_FILE" || t_fail "full download ($CODE)"
[ "$(hdr ETag)" = "\"$SHA\"" ] || t_fail "ETag: $(hdr ETag)"
[ "$(hdr Accept-Ranges)" = bytes ] || t_fail "Accept-Ranges"
t_pass "full download with strong ETag"

get "bytes=0-99"
[ "$CODE" = 206 ] && [ "$(hdr Content-Range)" = "bytes 0-99/$SIZE" ] && cmp -s "$T_ROOT/out" <(slice 0 100) ||
        t_fail "bytes=0-99: $CODE $(hdr Content-Range)"
get "bytes=500000-"
[ "$CODE" = 206 ] && [ "$(hdr Content-Range)" = "bytes 500000-$((SIZE - 1))/$SIZE" ] &&
        cmp -s "$T_ROOT/out" <(slice 500000 $((SIZE - 500000))) || t_fail "open-ended: $CODE $(hdr Content-Range)"
get "bytes=-777"
[ "$CODE" = 206 ] && [ "$(hdr Content-Range)" = "bytes $((SIZE - 777))-$((SIZE - 1))/$SIZE" ] &&
        cmp -s "$T_ROOT/out" <(slice $((SIZE - 777)) 777) || t_fail "suffix: $CODE $(hdr Content-Range)"
get "bytes=10-99999999"
[ "$CODE" = 206 ] && [ "$(hdr Content-Range)" = "bytes 10-$((SIZE - 1))/$SIZE" ] || t_fail "clipped end: $CODE"
get "bytes=$((SIZE - 1))-$((SIZE - 1))"
[ "$CODE" = 206 ] && [ "$(stat -c %s "$T_ROOT/out")" = 1 ] || t_fail "last byte: $CODE"
t_pass "single ranges (closed, open-ended, suffix, clipped, last byte)"

for bad in "bytes=$SIZE-" "bytes=$((SIZE + 10))-$((SIZE + 20))" "bytes=abc" "bytes=5-2" "bytes=-0" "bytes=1-2x"; do
        get "$bad"
        [ "$CODE" = 416 ] || t_fail "$bad: expected 416, got $CODE"
        [ "$(hdr Content-Range)" = "bytes */$SIZE" ] || t_fail "$bad: Content-Range $(hdr Content-Range)"
done
t_pass "unsatisfiable and malformed ranges → 416"

get "bytes=0-9,20-29"
[ "$CODE" = 200 ] && cmp -s "$T_ROOT/out" "$BUNDLE_FILE" || t_fail "multi-range should get the whole file: $CODE"
get "bytes=100-199" -H "If-Range: \"$SHA\""
[ "$CODE" = 206 ] || t_fail "If-Range with current ETag: $CODE"
get "bytes=100-199" -H 'If-Range: "0000"'
[ "$CODE" = 200 ] && cmp -s "$T_ROOT/out" "$BUNDLE_FILE" || t_fail "If-Range with stale ETag: $CODE"
get "" -I
[ "$CODE" = 200 ] && [ "$(hdr Content-Length)" = "$SIZE" ] || t_fail "HEAD: $CODE $(hdr Content-Length)"
t_pass "multi-range, If-Range, HEAD"

head -c 123456 "$BUNDLE_FILE" > "$T_ROOT/partial"
curl -sS --cacert "$CA" -H "Authorization: TargetToken $TOK" -C - -o "$T_ROOT/partial" "$URL" || t_fail "resume"
cmp -s "$T_ROOT/partial" "$BUNDLE_FILE" || t_fail "resumed download differs"
t_pass "resume with curl -C -"

# A large artifact streams from disk: the server's RSS must not grow by its size.
srv_upload_bundle big 1 --raw $((256 << 20))
RID=$("$SERVER_BIN" rollout create --name big --bundle "$BUNDLE_ID" | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null
AID=$(action_of r-1 "$TOK")
ddi GET r-1 "/deploymentBase/$AID" "$TOK"
URL=$(echo "$BODY" | jq -r '.deployment.chunks[0].artifacts[0]._links.download.href')
rss() { awk '/^VmRSS/ {print $2}' "/proc/$SRV_PID/status"; }
before=$(rss)
curl -sS --cacert "$CA" -H "Authorization: TargetToken $TOK" --limit-rate 200M -o "$T_ROOT/big.out" "$URL" &
dl=$!
peak=$before
while kill -0 "$dl" 2>/dev/null; do
        now=$(rss)
        [ "$now" -gt "$peak" ] && peak=$now
        sleep 0.05
done
wait "$dl" || t_fail "large download"
cmp -s "$T_ROOT/big.out" "$BUNDLE_FILE" || t_fail "large download differs"
growth=$(( (peak - before) / 1024 ))
[ "$growth" -lt 64 ] || t_fail "server RSS grew by $growth MiB while serving a 256 MiB artifact"
rm -f "$T_ROOT/big.out"
t_pass "256 MiB artifact streamed (RSS growth $growth MiB)"

srv_stop
t_pass "server shut down cleanly"
