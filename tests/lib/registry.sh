# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# tests/lib/registry.sh — helpers for the registry-mirror tests (source after harness.sh).
#
#   rt_bundle DIR NAME REF [make-oci-image args...]  signed bundle NAME version 1 with one
#       image; keys are shared by all bundles of the test. Exports RT_BUNDLE (file),
#       RT_TRUST (dir), RT_DIGEST (the image's manifest digest)
#   rt_proxy_start UPSTREAM LOG [regproxy args...]  tests/lib/regproxy.py in front of a
#       registry; exports RT_PROXY=127.0.0.1:PORT; stopped at exit
#   rt_requests LOG REGEX   number of logged requests matching an extended regex

rt_bundle() {
        local dir=$1 name=$2 ref=$3
        shift 3
        mkdir -p "$dir"
        t_make_image -o "$dir/img.tar" --ref "$ref" "$@"
        if [ ! -f "$T_ROOT/keys/test.key" ]; then
                "$BERTH" keygen -o "$T_ROOT/keys" --name test >/dev/null
                mkdir -p "$T_ROOT/trust"
                cp "$T_ROOT/keys/test.pub" "$T_ROOT/trust/"
        fi
        "$BERTH" bundle create -k "$T_ROOT/keys/test.key" --name "$name" --version 1 \
                --image "$ref=$dir/img.tar" -o "$dir/b.berth" >/dev/null
        RT_BUNDLE=$dir/b.berth
        RT_TRUST=$T_ROOT/trust
        RT_DIGEST=$("$BERTH" bundle inspect --json "$RT_BUNDLE" | jq -r '.manifest.images[0].digest')
        export RT_BUNDLE RT_TRUST RT_DIGEST
}

rt_proxy_start() {
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
        RT_PROXY=127.0.0.1:$(cat "$portfile")
        export RT_PROXY
}

rt_requests() {
        grep -cE "$2" "$1" || true
}

# rt_registry_start DIR YAML: like t_registry_start, with YAML appended to the registry
# config at top level (auth:, or an http: block must then be given whole — see callers:
# they pass "auth:" sections, and TLS via RT_REGISTRY_TLS="cert key").
# Exports RT_REGISTRY=127.0.0.1:PORT and RT_REGISTRY_PID; stopped at exit.
rt_registry_start() {
        local dir=$1 extra=$2 port tls="" scheme=http curlopt=()
        command -v docker-registry >/dev/null || t_skip "docker-registry not installed (scripts/deps.sh)"
        mkdir -p "$dir/data"
        if [ -n "${RT_REGISTRY_TLS:-}" ]; then
                tls=$(printf '  tls:\n    certificate: %s\n    key: %s\n' ${RT_REGISTRY_TLS})
                scheme=https
                curlopt=(-k)
        fi
        for _ in 1 2 3 4 5; do
                port=$(t_free_port)
                cat >"$dir/config.yml" <<CONF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
$tls
$extra
CONF
                docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
                RT_REGISTRY_PID=$!
                RT_REGISTRY=127.0.0.1:$port
                if t_wait_for "! kill -0 $RT_REGISTRY_PID || curl -sS ${curlopt[*]} -o /dev/null $scheme://$RT_REGISTRY/v2/" 20 &&
                        kill -0 "$RT_REGISTRY_PID" 2>/dev/null; then
                        t_defer "kill $RT_REGISTRY_PID; wait $RT_REGISTRY_PID"
                        export RT_REGISTRY RT_REGISTRY_PID
                        return 0
                fi
                kill -KILL "$RT_REGISTRY_PID" 2>/dev/null || true
                wait "$RT_REGISTRY_PID" 2>/dev/null || true
                grep -q "address already in use" "$dir/registry.log" || break
        done
        tail -n 20 "$dir/registry.log" >&2 || true
        t_fail "docker-registry did not start (log above)"
}
