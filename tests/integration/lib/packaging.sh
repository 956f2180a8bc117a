# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# tests/integration/lib/packaging.sh — helpers shared by the packaging_*.sh tests (sourced
# after tests/lib/harness.sh): a signing key with its trust dir, and small signed bundles.
#
#   pk_keys DIR            -> DIR/keys/pk.key, DIR/trust/pk.pub
#   pk_bundle DIR NAME VERSION OUT   (needs pk_keys DIR first)
#   pk_tamper IN OUT       -> a copy of IN with one byte flipped in the middle

pk_keys() {
        "$BERTH" keygen -o "$1/keys" --name pk >/dev/null
        mkdir -p "$1/trust"
        cp "$1/keys/pk.pub" "$1/trust/"
}

pk_bundle() {
        local dir=$1 name=$2 version=$3 out=$4
        [ -f "$dir/img.tar" ] || t_make_image -o "$dir/img.tar" --ref "berth.example/$name:$version"
        "$BERTH" bundle create -k "$dir/keys/pk.key" --name "$name" --version "$version" \
                --image "berth.example/$name:$version=$dir/img.tar" -o "$out" >/dev/null
}

pk_tamper() {
        local size
        cp "$1" "$2"
        size=$(stat -c %s "$2")
        printf 'X' | dd of="$2" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
        cmp -s "$1" "$2" && t_fail "pk_tamper: $2 is unchanged"
        return 0
}
