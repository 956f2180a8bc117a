#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Secrets at rest: a token file that others can read (or its group write) is refused with a
# sentence, by berth-server (ddi.gateway_token_file, mgmt.admin_token_file) and by the
# agent (server.token_file), as signing keys with that mode are; 0600 and 0640 pass. The
# CLI reads the admin token from --token-file FILE or stdin; --token TOKEN is refused.
# Target tokens are stored keyed (HMAC-SHA256 under STATE/token.key); old bare sha256
# hashes are re-keyed on first use; a lost key is refused with a way out.
source "$(dirname "$0")/../lib/harness.sh"

# serve_fails WHAT: berth-server must exit non-zero at start; its output is in $OUT.
serve_fails() {
        local rc=0
        OUT=$(timeout 20 "$SERVER_BIN" -c "$SRV_CONF" serve 2>&1) || rc=$?
        [ "$rc" != 0 ] && [ "$rc" != 124 ] || t_fail "$1: berth-server started (exit $rc): $OUT"
}

printf 'gateway-token-0123456789\n' > "$T_ROOT/gateway.token"
printf 'admin-token-0123456789\n' > "$T_ROOT/admin.token"
for f in gateway admin; do
        chmod 644 "$T_ROOT/$f.token"
        if [ $f = gateway ]; then srv_config "[ddi]" "gateway_token_file = $T_ROOT/$f.token"
        else srv_config "[mgmt]" "admin_token_file = $T_ROOT/$f.token"; fi
        serve_fails "a $f token file of mode 0644"
        case "$OUT" in *"$T_ROOT/$f.token"*"readable by others"*"(mode 0644); chmod 600 it"*) ;;
        *) t_fail "no clear sentence for a readable $f token file: $OUT" ;; esac
        chmod 620 "$T_ROOT/$f.token"
        serve_fails "a $f token file its group may write"
        case "$OUT" in *"(mode 0620)"*) ;; *) t_fail "no sentence for mode 0620: $OUT" ;; esac
done
t_pass "berth-server refuses token files of mode 0644 or 0620, naming file, mode and fix"

chmod 640 "$T_ROOT/gateway.token"
chmod 600 "$T_ROOT/admin.token"
srv_config "[ddi]" "gateway_token_file = $T_ROOT/gateway.token" "[mgmt]" "admin_token_file = $T_ROOT/admin.token"
mkdir -p "$SRV_STATE"
install -m 600 "$T_ROOT/admin.token" "$SRV_STATE/admin.token" # where the harness reads the admin token
srv_start
curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer admin-token-0123456789" "$MGMT/api/v1/health" \
        | grep -qx 200 || t_fail "the admin token from a 0600 file is not used"
ddi GET gw-1 "" "" "" -H "Authorization: GatewayToken gateway-token-0123456789"
[ "$CODE" = 404 ] || t_fail "the gateway token from a 0640 file is not used (expected 404 target.unknown): $CODE $BODY"
t_pass "token files of mode 0600 and 0640 are read"

# The CLI takes the admin token from a file or stdin, never from the command line.
cli() { env -u BERTH_SERVER_TOKEN "$SERVER_BIN" -c "$SRV_CONF" "$@"; }
rc=0
OUT=$(cli --token admin-token-0123456789 bundle list 2>&1) || rc=$?
[ "$rc" = 2 ] || t_fail "--token TOKEN: expected exit 2, got $rc: $OUT"
case "$OUT" in *"--token is gone"*"--token-file FILE"*"--token-file -"*BERTH_SERVER_TOKEN*) ;;
*) t_fail "no migration sentence for --token: $OUT" ;; esac
OUT=$(cli --token-file "$T_ROOT/admin.token" bundle list 2>&1) || t_fail "--token-file FILE: $OUT"
[ "$(echo "$OUT" | jq length)" = 0 ] || t_fail "bundle list with --token-file: $OUT"
OUT=$(cli --token-file - bundle list < "$T_ROOT/admin.token" 2>&1) || t_fail "--token-file -: $OUT"
[ "$(echo "$OUT" | jq length)" = 0 ] || t_fail "bundle list with --token-file -: $OUT"
rc=0
OUT=$(echo wrong-token-0123456789 | cli --token-file - bundle list 2>&1) || rc=$?
[ "$rc" = 1 ] && [[ "$OUT" == *"HTTP 401"* ]] || t_fail "a wrong token from stdin was not the one sent ($rc): $OUT"
chmod 644 "$T_ROOT/admin.token"
rc=0
OUT=$(cli --token-file "$T_ROOT/admin.token" bundle list 2>&1) || rc=$?
[ "$rc" = 1 ] && [[ "$OUT" == *"(mode 0644); chmod 600 it"* ]] || t_fail "--token-file of mode 0644 ($rc): $OUT"
t_pass "the CLI reads the admin token from --token-file FILE or - (stdin); --token is refused with a sentence"
srv_stop

# Target tokens are stored as HMAC-SHA256 under STATE/token.key (created 0600); a hash
# from before the key (bare sha256) is re-keyed at the target's first successful poll.
srv_config
srv_start
TOKM=migrate-token-0123456789
mgmt POST /api/v1/targets "{\"controllerId\":\"gw-m\",\"token\":\"$TOKM\"}"
expect_code 201 "register gw-m"
[ "$(stat -c %a "$SRV_STATE/token.key")" = 600 ] || t_fail "token.key mode $(stat -c %a "$SRV_STATE/token.key")"
stored() { sqlite3 "$SRV_STATE/server.db" "SELECT token_hash FROM targets WHERE controller_id='gw-m'"; }
LEGACY=$(printf '%s' "$TOKM" | sha256sum | cut -d' ' -f1)
case "$(stored)" in h1:*) ;; *) t_fail "token hash is not keyed: $(stored)" ;; esac
[ "$(stored)" != "$LEGACY" ] && [ "$(stored)" != "h1:$LEGACY" ] || t_fail "the stored hash is the bare sha256"
srv_stop
sqlite3 "$SRV_STATE/server.db" "UPDATE targets SET token_hash='$LEGACY' WHERE controller_id='gw-m'"
srv_start
ddi GET gw-m "" "$TOKM"
expect_code 200 "poll with a token stored as a bare sha256"
case "$(stored)" in h1:*) ;; *) t_fail "the legacy hash was not re-keyed: $(stored)" ;; esac
ddi GET gw-m "" "$TOKM"
expect_code 200 "poll after re-keying"
ddi GET gw-m "" "wrong-token-0123456789"
expect_code 401 "a wrong token"
t_pass "tokens are stored keyed; a bare sha256 from an old database is re-keyed on first use"

# Without the key the keyed hashes are useless: refused, unless a new key is asked for.
srv_stop
rm "$SRV_STATE/token.key"
serve_fails "token.key missing with keyed hashes"
case "$OUT" in *"token.key is missing, but the tokens of 1 targets are hashed with it"*"server.new_token_key=true"*) ;;
*) t_fail "no clear sentence for a missing token key: $OUT" ;; esac
srv_config "[server]" "new_token_key = true"
srv_start
ddi GET gw-m "" "$TOKM"
expect_code 401 "a token hashed under the lost key"
mgmt POST /api/v1/targets "{\"controllerId\":\"gw-m\",\"token\":\"$TOKM\"}"
expect_code 201 "re-issue gw-m's token"
ddi GET gw-m "" "$TOKM"
expect_code 200 "poll with the re-issued token"
srv_stop
t_pass "a lost token key stops the server with a sentence; new_token_key=true and re-issuing recover"

# The agent's server.token_file: refused at start, before any poll.
BERTH_BIN=$BERTH
[ -x "$BERTH_BIN" ] || { echo "berth not built" >&2; exit 77; }
printf 'target-token-0123456789\n' > "$T_ROOT/target.token"
chmod 644 "$T_ROOT/target.token"
mkdir -p "$T_ROOT/agent"
cat > "$T_ROOT/agent/agent.conf" <<CONF
state_dir = $T_ROOT/agent/state
[server]
url = https://127.0.0.1:9
controller_id = gw-1
token_file = $T_ROOT/target.token
CONF
rc=0
OUT=$(timeout 20 "$BERTH_BIN" agent --config "$T_ROOT/agent/agent.conf" 2>&1) || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || t_fail "the agent started with a token file of mode 0644 (exit $rc): $OUT"
case "$OUT" in *"server.token_file $T_ROOT/target.token is readable by others"*"(mode 0644); chmod 600 it"*) ;;
*) t_fail "no clear sentence from the agent: $OUT" ;; esac
t_pass "the agent refuses a server.token_file of mode 0644"
