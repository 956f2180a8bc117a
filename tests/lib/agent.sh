# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# tests/lib/agent.sh — `berth agent` processes against the test's berth-server (server.sh),
# optionally through tests/lib/ddiproxy.py (sourced by harness.sh, not by tests).
# Functions only. Agents poll every 1-2 s (server.poll_min/max) and retry after 1-2 s.
#
#   agent_env_setup [SERVER CONFIG LINES...]   test CA, test key, (ddiproxy in front when
#                       AGENT_PROXY=1, its args in PROXY_ARGS), server started;
#                       sets AGENT_SERVER_URL
#   agent_proxy_start [ddiproxy args...] / agent_proxy_stop / proxy_bytes
#   agent_add NAME [CONF LINES...]     registers target NAME (token) and writes its config
#   agent_start NAME [ENV=VALUE...]    starts `berth agent` for NAME, waits for its socket
#   agent_stop NAME                    SIGTERM, waits, fails the test on a non-zero exit
#   agent_kill NAME                    SIGKILL (a crash)
#   agent_status NAME                  `berth status --json` through the agent's socket
#   agent_has NAME BUNDLE VERSION      the agent's store holds that bundle version
# Each agent's files: $T_ROOT/agents/NAME/ (agent.conf, agent.log, state/); its control
# socket: $SOCK_DIR/NAME.sock. Agents still running at exit are stopped; the logs of
# all agents are printed when the test fails.

AGENTS=()
declare -A AGENT_PID=() AGENT_DIR=() AGENT_TOKEN=()
PROXY_PID=""
SOCK_DIR=$T_SHORT

# agent_env_setup [SERVER CONFIG LINES...]: PKI, key, trust, (proxy), server.
agent_env_setup() {
        : "${BERTH:?BERTH must point at the berth binary}"
        srv_pki
        t_keys
        local extra=("$@")
        if [ "${AGENT_PROXY:-0}" = 1 ]; then
                : >"$T_ROOT/upstream"
                # shellcheck disable=SC2086 # PROXY_ARGS is a word list
                agent_proxy_start ${PROXY_ARGS:-}
                extra+=("[ddi]" "public_url = https://127.0.0.1:$PROXY_PORT")
        fi
        srv_config "${extra[@]}"
        srv_start
        if [ -n "$PROXY_PID" ]; then
                echo "127.0.0.1:$DDI_PORT" >"$T_ROOT/upstream"
                AGENT_SERVER_URL="https://127.0.0.1:$PROXY_PORT"
        else
                AGENT_SERVER_URL="https://127.0.0.1:$DDI_PORT"
        fi
}

# agent_proxy_start [ddiproxy args...]: tests/lib/ddiproxy.py with the test CA's server
# certificate, forwarding to the address in $T_ROOT/upstream, logging to proxy.log
# (appended), controlled by writing into proxy.control. Sets PROXY_PID, PROXY_PORT.
agent_proxy_start() {
        command -v python3 >/dev/null || t_skip "python3 not installed (scripts/deps.sh)"
        [ -n "$PROXY_PID" ] || t_defer agent_proxy_stop
        rm -f "$T_ROOT/proxy.port"
        python3 "$T_HARNESS_DIR/ddiproxy.py" --upstream-file "$T_ROOT/upstream" --ca "$CA" \
                --cert "$T_ROOT/pki/server.crt" --key "$T_ROOT/pki/server.key" --port-file "$T_ROOT/proxy.port" \
                --log "$T_ROOT/proxy.log" --control "$T_ROOT/proxy.control" "$@" >>"$T_ROOT/proxy.err" 2>&1 &
        PROXY_PID=$!
        t_wait_for "test -s '$T_ROOT/proxy.port'" 20 || t_fail "ddiproxy did not start: $(cat "$T_ROOT/proxy.err")"
        PROXY_PORT=$(cat "$T_ROOT/proxy.port")
}

agent_proxy_stop() {
        [ -n "$PROXY_PID" ] || return 0
        kill -TERM "$PROXY_PID" 2>/dev/null || true
        wait "$PROXY_PID" 2>/dev/null || true
        PROXY_PID=""
}

# proxy_bytes: artifact body bytes the proxy forwarded so far.
proxy_bytes() {
        awk '/^ARTIFACT /{for (i = 1; i <= NF; i++) if ($i ~ /^bytes=/) { sub("bytes=", "", $i); s += $i }} END {print s + 0}' \
                "$T_ROOT/proxy.log" 2>/dev/null || echo 0
}

# agent_add NAME [CONF LINES...]: target registered with a token; config written.
agent_add() {
        local name=$1
        shift
        local dir="$T_ROOT/agents/$name"
        mkdir -p "$dir"
        local tok
        tok=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
        mgmt POST /api/v1/targets "$(jq -cn --arg c "$name" --arg t "$tok" '{controllerId: $c, token: $t}')"
        [ "$CODE" = 200 ] || [ "$CODE" = 201 ] || t_fail "register $name: $CODE $BODY"
        AGENT_DIR[$name]=$dir
        # shellcheck disable=SC2034 # for the caller
        AGENT_TOKEN[$name]=$tok
        AGENTS+=("$name")
        t_defer "_agent_reap $name"
        t_show_log "$dir/agent.log" "agent $name log"
        cat >"$dir/agent.conf" <<CONF
state_dir = $dir/state
trust_dir = $T_TRUST
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
        for line in "$@"; do printf '%s\n' "$line" >>"$dir/agent.conf"; done
}

# agent_start NAME [ENV=VALUE...]
agent_start() {
        local name=$1
        shift
        local dir=${AGENT_DIR[$name]}
        rm -f "$SOCK_DIR/$name.sock"
        env "$@" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1" \
                "$BERTH" agent --config "$dir/agent.conf" >>"$dir/agent.log" 2>&1 &
        AGENT_PID[$name]=$!
        t_wait_for "test -S '$SOCK_DIR/$name.sock'" 20 ||
                t_fail "agent $name did not start: $(tail -5 "$dir/agent.log")"
}

agent_stop() {
        local name=$1 rc=0
        [ -n "${AGENT_PID[$name]:-}" ] || return 0
        kill -TERM "${AGENT_PID[$name]}" 2>/dev/null || true
        wait "${AGENT_PID[$name]}" 2>/dev/null || rc=$?
        AGENT_PID[$name]=""
        [ "$rc" = 0 ] || t_fail "agent $name exited with status $rc: $(tail -5 "${AGENT_DIR[$name]}/agent.log")"
}

agent_kill() {
        local name=$1
        [ -n "${AGENT_PID[$name]:-}" ] || return 0
        kill -KILL "${AGENT_PID[$name]}" 2>/dev/null || true
        wait "${AGENT_PID[$name]}" 2>/dev/null || true
        AGENT_PID[$name]=""
}

# The cleanup at exit: SIGTERM and reap, whatever the exit status.
_agent_reap() {
        local name=$1
        [ -n "${AGENT_PID[$name]:-}" ] || return 0
        kill -TERM "${AGENT_PID[$name]}" 2>/dev/null || true
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
