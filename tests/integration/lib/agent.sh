# SPDX-License-Identifier: Apache-2.0
# agent.sh — harness for `berth agent` integration tests (sourced, not run by ctest).
#
# Builds on server.sh (test CA, HTTPS berth-server on loopback, mgmt helpers). Adds:
#   agent_env_setup [SERVER CONFIG LINES...]   signing key + trust, optional ddiproxy in
#                       front (AGENT_PROXY=1, proxy args in PROXY_ARGS), server started
#   agent_add NAME [CONF LINES...]     registers target NAME (token) and writes its config
#   agent_start NAME [ENV=VALUE...]    starts `berth agent` for NAME, waits for its socket
#   agent_stop NAME                    SIGTERM, waits, fails the test on a non-zero exit
#   agent_kill NAME                    SIGKILL (a crash)
#   agent_status NAME                  `berth status --json` through the agent's socket
#   make_image OUT [make-oci-image args]  / make_bundle NAME VERSION IMAGE OUT [bundle args]
#   upload FILE                        uploads a bundle, sets BUNDLE_ID
#   rollout_create JSON / rollout_status ID / action_status CID
#   wait_until TIMEOUT CMD...          (server.sh) polls, never sleeps blindly
# Agents poll every 1-2 s (server.poll_min/max) and retry after 1-2 s.

# shellcheck source=server.sh
source "$(dirname "${BASH_SOURCE[0]}")/server.sh"
: "${BERTH:?BERTH must point at the berth binary}"

AGENTS=()
declare -A AGENT_PID AGENT_DIR AGENT_TOKEN
PROXY_PID=""
# unix socket paths are limited to 107 bytes: agents' sockets live in a short dir.
SOCK_DIR=$(mktemp -d /tmp/bagent.XXXXXX)

agent_cleanup() {
        local rc=$?
        local n
        for n in "${AGENTS[@]}"; do
                if [ -n "${AGENT_PID[$n]:-}" ]; then
                        kill -TERM "${AGENT_PID[$n]}" 2>/dev/null || true
                        wait "${AGENT_PID[$n]}" 2>/dev/null || true
                fi
        done
        if [ -n "$PROXY_PID" ]; then
                kill -TERM "$PROXY_PID" 2>/dev/null || true
                wait "$PROXY_PID" 2>/dev/null || true
        fi
        rm -rf "$SOCK_DIR"
        if [ "$rc" != 0 ] && [ "${KEEP_TMP:-0}" != 1 ]; then
                for n in "${AGENTS[@]}"; do
                        echo "--- agent $n log (tail) ---" >&2
                        tail -n 15 "${AGENT_DIR[$n]}/agent.log" >&2 2>/dev/null || true
                done
        fi
        srv_cleanup
        exit "$rc"
}
trap agent_cleanup EXIT

# agent_env_setup [SERVER CONFIG LINES...]: key, trust, (proxy), server.
agent_env_setup() {
        bundle_setup
        [ "$SRV_SIGNED" = 1 ] || { echo "berth cannot sign bundles" >&2; exit 77; }
        srv_make_pki
        local extra=("$@")
        if [ "${AGENT_PROXY:-0}" = 1 ]; then
                : > "$T/upstream"
                python3 "$BERTH_SRC/tests/lib/ddiproxy.py" --upstream-file "$T/upstream" --ca "$CA" \
                        --cert "$T/pki/server.crt" --key "$T/pki/server.key" --port-file "$T/proxy.port" \
                        --log "$T/proxy.log" --control "$T/proxy.control" ${PROXY_ARGS:-} >> "$T/proxy.err" 2>&1 &
                PROXY_PID=$!
                wait_until 20 test -s "$T/proxy.port" || fail "ddiproxy did not start"
                PROXY_PORT=$(cat "$T/proxy.port")
                extra+=("[ddi]" "public_url = https://127.0.0.1:$PROXY_PORT")
        fi
        srv_config "${BUNDLE_CONF[@]}" "${extra[@]}"
        srv_start
        if [ -n "$PROXY_PID" ]; then
                echo "127.0.0.1:$DDI_PORT" > "$T/upstream"
                AGENT_SERVER_URL="https://127.0.0.1:$PROXY_PORT"
        else
                AGENT_SERVER_URL="https://127.0.0.1:$DDI_PORT"
        fi
}

# proxy_bytes: artifact body bytes the proxy forwarded so far.
proxy_bytes() {
        awk '/^ARTIFACT /{for (i = 1; i <= NF; i++) if ($i ~ /^bytes=/) { sub("bytes=", "", $i); s += $i }} END {print s + 0}' \
                "$T/proxy.log" 2>/dev/null || echo 0
}

# agent_add NAME [CONF LINES...]: target registered with a token; config written.
agent_add() {
        local name=$1
        shift
        local dir="$T/agents/$name"
        mkdir -p "$dir"
        local tok
        tok=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
        mgmt POST /api/v1/targets "$(jq -cn --arg c "$name" --arg t "$tok" '{controllerId: $c, token: $t}')"
        [ "$CODE" = 200 ] || [ "$CODE" = 201 ] || fail "register $name: $CODE $BODY"
        AGENT_DIR[$name]=$dir
        AGENT_TOKEN[$name]=$tok
        AGENTS+=("$name")
        cat > "$dir/agent.conf" <<CONF
state_dir = $dir/state
trust_dir = $T/trust
[server]
url = $AGENT_SERVER_URL
tenant = default
controller_id = $name
token = $tok
ca_file = $CA
poll_min = 1
poll_max = 2
retry_min = 1
retry_max = 2
connect_timeout = 5
[download]
stall_timeout = 5
[control]
socket = $SOCK_DIR/$name.sock
CONF
        local line
        for line in "$@"; do printf '%s\n' "$line" >> "$dir/agent.conf"; done
}

# agent_start NAME [ENV=VALUE...]
agent_start() {
        local name=$1
        shift
        local dir=${AGENT_DIR[$name]}
        rm -f "$SOCK_DIR/$name.sock"
        env "$@" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1" \
                "$BERTH" agent --config "$dir/agent.conf" >> "$dir/agent.log" 2>&1 &
        AGENT_PID[$name]=$!
        wait_until 20 test -S "$SOCK_DIR/$name.sock" || fail "agent $name did not start: $(tail -5 "$dir/agent.log")"
}

agent_stop() {
        local name=$1 rc=0
        [ -n "${AGENT_PID[$name]:-}" ] || return 0
        kill -TERM "${AGENT_PID[$name]}" 2>/dev/null || true
        wait "${AGENT_PID[$name]}" 2>/dev/null || rc=$?
        AGENT_PID[$name]=""
        [ "$rc" = 0 ] || fail "agent $name exited with status $rc: $(tail -5 "${AGENT_DIR[$name]}/agent.log")"
}

agent_kill() {
        local name=$1
        [ -n "${AGENT_PID[$name]:-}" ] || return 0
        kill -KILL "${AGENT_PID[$name]}" 2>/dev/null || true
        wait "${AGENT_PID[$name]}" 2>/dev/null || true
        AGENT_PID[$name]=""
}

agent_status() {
        "$BERTH" status --json --config "${AGENT_DIR[$1]}/agent.conf"
}

# agent_has NAME BUNDLE VERSION: the agent's store holds that bundle version.
agent_has() {
        "$BERTH" status --json --no-agent --state-dir "${AGENT_DIR[$1]}/state" 2>/dev/null |
                jq -e --arg n "$2" --argjson v "$3" '[.bundles[] | select(.name == $n and .version == $v)] | length == 1' \
                >/dev/null
}

make_image() {
        local out=$1
        shift
        bash "$BERTH_SRC/scripts/make-oci-image.sh" -q -o "$out" "$@" || fail "make-oci-image.sh failed"
}

# make_bundle NAME VERSION IMAGE OUT [bundle create args...]
make_bundle() {
        local name=$1 version=$2 img=$3 out=$4
        shift 4
        "$BERTH" bundle create -k "$T/keys/test.key" --name "$name" --version "$version" \
                --image "registry.local/test/$name:$version=$img" -o "$out" "$@" >/dev/null || fail "bundle create failed"
}

upload() {
        mgmt POST /api/v1/bundles "" --data-binary @"$1" -H 'Content-Type: application/octet-stream'
        expect_code 201 "upload $1"
        BUNDLE_ID=$(echo "$BODY" | jq -r .id)
}

# rollout_create JSON → ROLLOUT_ID (started)
rollout_create() {
        mgmt POST /api/v1/rollouts "$1"
        [ "$CODE" = 201 ] || [ "$CODE" = 200 ] || fail "create rollout: $CODE $BODY"
        ROLLOUT_ID=$(echo "$BODY" | jq -r .id)
        mgmt POST "/api/v1/rollouts/$ROLLOUT_ID/start"
        [ "$CODE" = 200 ] || fail "start rollout: $CODE $BODY"
}

rollout_json() {
        mgmt GET "/api/v1/rollouts/$1"
        echo "$BODY"
}

# target_action_status CID: status of the target's current action (or "none")
target_action_status() {
        mgmt GET "/api/v1/targets/$1"
        echo "$BODY" | jq -r '.currentAction.status // "none"'
}
