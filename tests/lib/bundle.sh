# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# tests/lib/bundle.sh — the harness's signed bundles (sourced by harness.sh, not by tests):
# one signing key per test, one bundle maker, one tamperer. Functions only.
#
#   t_keys                 -> the test key T_KEY (test.key) and its trust dir T_TRUST
#   t_bundle OUT [--name N] [--version V] [--image TAR] [--ref REF] [--key KEY]
#            [-- berth-bundle-create args...]
#                          -> a signed bundle; sets T_BUNDLE and T_BUNDLE_DIGEST
#   t_tamper IN OUT        -> a copy of IN with one byte flipped in the middle

T_KEY=$T_ROOT/keys/test.key
T_TRUST=$T_ROOT/trust

# t_keys: makes the test's signing key and a trust dir holding its public key, once.
t_keys() {
        [ -f "$T_KEY" ] && return 0
        : "${BERTH:?BERTH must point at the berth binary}"
        "$BERTH" keygen -o "$T_ROOT/keys" --name test >/dev/null || t_fail "berth keygen failed"
        mkdir -p "$T_TRUST"
        cp "$T_ROOT/keys/test.pub" "$T_TRUST/"
}

# t_bundle OUT [options] [-- args for `berth bundle create`]: a bundle of one image,
# signed with the test key (t_keys) unless --key names another.
#   --name NAME     bundle name (default app)
#   --version V     bundle version (default 1)
#   --image TAR     the OCI archive (default: scripts/make-oci-image.sh's default image,
#                   made once per test)
#   --ref REF       the image's reference in the bundle (default registry.local/test/NAME:V)
#   --key KEY       signing key
# Sets T_BUNDLE=OUT and T_BUNDLE_DIGEST (the image's manifest digest in the bundle).
t_bundle() {
        local out=$1 name=app version=1 image="" ref="" key=""
        shift
        while [ $# -gt 0 ]; do
                case $1 in
                --name) name=$2 ;;
                --version) version=$2 ;;
                --image) image=$2 ;;
                --ref) ref=$2 ;;
                --key) key=$2 ;;
                --) shift; break ;;
                *) t_fail "t_bundle: unknown option '$1'" ;;
                esac
                shift 2
        done
        [ -n "$ref" ] || ref=registry.local/test/$name:$version
        if [ -z "$key" ]; then
                t_keys
                key=$T_KEY
        fi
        if [ -z "$image" ]; then
                image=$T_ROOT/bundle-default-img.tar
                [ -f "$image" ] || t_make_image -o "$image"
        fi
        "$BERTH" bundle create -k "$key" --name "$name" --version "$version" --image "$ref=$image" \
                -o "$out" "$@" >/dev/null || t_fail "berth bundle create $name $version failed"
        # shellcheck disable=SC2034 # results for the caller
        T_BUNDLE=$out
        # shellcheck disable=SC2034
        T_BUNDLE_DIGEST=$("$BERTH" bundle inspect --json "$out" | jq -r '.manifest.images[0].digest')
}

# t_tamper IN OUT: OUT is IN with the byte in the middle replaced (signature no longer
# matches; the file is otherwise well-formed).
t_tamper() {
        local size
        cp "$1" "$2"
        size=$(stat -c %s "$2")
        printf 'X' | dd of="$2" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
        cmp -s "$1" "$2" && t_fail "t_tamper: $2 is unchanged"
        return 0
}
