# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# tests/lib/registry.sh — Debian's docker-registry (distribution v2) and the request-
# logging proxy tests/lib/regproxy.py, for the registry-mirror tests (sourced by
# harness.sh, not by tests). Functions only.
#
#   t_registry_start DIR [--storage DIR] [--tls CERT KEY] [--htpasswd FILE]
#                         -> T_REGISTRY=127.0.0.1:PORT, T_REGISTRY_PID; stopped at exit
#   t_registry_stop [HOST:PORT]   (default: the registry started last)
#   t_regproxy_start UPSTREAM LOG [regproxy args...]  -> T_REGPROXY=127.0.0.1:PORT
#   t_regproxy_count LOG REGEX    -> how many logged requests match an extended regex

declare -A T_REGISTRY_PIDS=()

# t_registry_start DIR [options]: starts docker-registry on a free 127.0.0.1 port, with its
# config and log (DIR/registry.log, shown if the test fails) in DIR and its filesystem
# storage in DIR/data. Deletes are enabled, upload purging is off.
#   --storage DIR      the storage root elsewhere (a small tmpfs; the log stays in DIR)
#   --tls CERT KEY     serve https with this certificate
#   --htpasswd FILE    basic auth (realm berth-test) from an htpasswd file
# Sets T_REGISTRY=127.0.0.1:PORT and T_REGISTRY_PID; several registries may run at once
# (keep T_REGISTRY of the first in a variable of your own before starting the next).
t_registry_start() {
        local dir=$1 storage="" tls="" auth="" scheme=http curlopt=() port pid
        shift
        while [ $# -gt 0 ]; do
                case $1 in
                --storage) storage=$2; shift 2 ;;
                --tls) tls=$(printf '  tls:\n    certificate: %s\n    key: %s' "$2" "$3"); scheme=https; curlopt=(-k)
                        shift 3 ;;
                --htpasswd) auth=$(printf 'auth:\n  htpasswd:\n    realm: berth-test\n    path: %s' "$2"); shift 2 ;;
                *) t_fail "t_registry_start: unknown option '$1'" ;;
                esac
        done
        command -v docker-registry >/dev/null || t_skip "docker-registry not installed (scripts/deps.sh)"
        command -v curl >/dev/null || t_skip "curl not installed (scripts/deps.sh)"
        mkdir -p "$dir"
        dir=$(cd "$dir" && pwd)
        [ -n "$storage" ] || storage=$dir/data
        mkdir -p "$storage"
        for _ in 1 2 3 4 5; do
                port=$(t_free_port)
                cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
$tls
$auth
EOF
                docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
                pid=$!
                if t_wait_for "! kill -0 $pid || curl -sS ${curlopt[*]} -o /dev/null $scheme://127.0.0.1:$port/v2/" 20 &&
                        kill -0 "$pid" 2>/dev/null; then
                        T_REGISTRY=127.0.0.1:$port
                        T_REGISTRY_PID=$pid
                        T_REGISTRY_PIDS[$T_REGISTRY]=$pid
                        export T_REGISTRY T_REGISTRY_PID
                        t_defer "t_registry_stop $T_REGISTRY"
                        t_show_log "$dir/registry.log" "docker-registry $T_REGISTRY log"
                        t_log "docker-registry $pid on $T_REGISTRY"
                        return 0
                fi
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
                grep -q "address already in use" "$dir/registry.log" || break
        done
        tail -n 20 "$dir/registry.log" >&2 || true
        t_fail "docker-registry did not start (log above)"
}

# t_registry_stop [HOST:PORT]: TERM (KILL after 10 s) and reap. Idempotent.
t_registry_stop() {
        local addr=${1:-${T_REGISTRY:-}} pid
        pid=${T_REGISTRY_PIDS[$addr]:-}
        [ -n "$pid" ] || return 0
        kill -TERM "$pid" 2>/dev/null || true
        t_wait_for "! kill -0 $pid" 10 || kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        unset "T_REGISTRY_PIDS[$addr]"
}

# t_regproxy_start UPSTREAM LOG [regproxy args...]: tests/lib/regproxy.py in front of the
# registry at UPSTREAM (HOST:PORT), logging one line per request into LOG (its options:
# --bearer USER:PASS, --fault-patch-after N --fault stall|503). Sets T_REGPROXY.
t_regproxy_start() {
        local upstream=$1 log=$2 portfile pid
        shift 2
        command -v python3 >/dev/null || t_skip "python3 not installed (scripts/deps.sh)"
        portfile=$(mktemp -u "$T_ROOT/proxyport.XXXXXX")
        python3 "$T_HARNESS_DIR/regproxy.py" --upstream "$upstream" --port-file "$portfile" \
                --log "$log" "$@" 2>>"$log.stderr" &
        pid=$!
        t_defer "kill $pid; wait $pid"
        t_wait_for "[ -s '$portfile' ] || ! kill -0 $pid" 20 || t_fail "regproxy did not start"
        [ -s "$portfile" ] || t_fail "regproxy exited: $(cat "$log.stderr")"
        T_REGPROXY=127.0.0.1:$(cat "$portfile")
        export T_REGPROXY
}

# t_regproxy_count LOG REGEX: the number of lines of a regproxy LOG matching REGEX.
t_regproxy_count() {
        grep -cE "$2" "$1" || true
}
