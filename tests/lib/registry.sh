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
