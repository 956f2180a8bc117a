#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# example_image.sh — checks scripts/make-oci-image.sh end to end: archives are
# byte-reproducible, well-formed (digests, diff_ids, annotations), readable by skopeo, and
# a real private containerd imports and runs them (gzip, zstd, none, --index,
# --docker-media-types, random layers, --file/--script with --user).
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

command -v skopeo >/dev/null || t_skip "skopeo not installed (scripts/deps.sh)"
W=$(t_tmpdir)
EXPECT="hello from berth example image"

# Checks the archive's structure without any third-party tool: every blob's name is its
# sha256, index.json carries both name annotations, diff_ids match the uncompressed layers.
check_structure() {
        local tar=$1 ref=$2 x f top mt cfg i n layer dec
        x=$(t_tmpdir)
        tar -xf "$tar" -C "$x"
        t_assert_eq "$(jq -c . "$x/oci-layout")" '{"imageLayoutVersion":"1.0.0"}' "$tar oci-layout"
        for f in "$x"/blobs/sha256/*; do
                t_assert_eq "$(sha256sum <"$f" | cut -c1-64)" "$(basename "$f")" "$tar blob digest"
        done
        t_assert_eq "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$x/index.json")" "$ref" "$tar ref.name"
        t_assert_eq "$(jq -r '.manifests[0].annotations["io.containerd.image.name"]' "$x/index.json")" "$ref" "$tar containerd name"
        top=$(jq -r '.manifests[0].digest' "$x/index.json" | cut -d: -f2)
        mt=$(jq -r '.manifests[0].mediaType' "$x/index.json")
        t_assert_eq "$(stat -c %s "$x/blobs/sha256/$top")" "$(jq -r '.manifests[0].size' "$x/index.json")" "$tar top size"
        case "$mt" in
        *index* | *list*)
                t_assert_eq "$(jq -r '.manifests[0].platform.os' "$x/blobs/sha256/$top")" linux "$tar index platform"
                top=$(jq -r '.manifests[0].digest' "$x/blobs/sha256/$top" | cut -d: -f2) ;;
        esac
        cfg=$(jq -r '.config.digest' "$x/blobs/sha256/$top" | cut -d: -f2)
        t_assert_eq "$(jq -r .os "$x/blobs/sha256/$cfg")" linux "$tar config os"
        n=$(jq '.layers | length' "$x/blobs/sha256/$top")
        t_assert_eq "$(jq '.rootfs.diff_ids | length' "$x/blobs/sha256/$cfg")" "$n" "$tar diff_id count"
        for ((i = 0; i < n; i++)); do
                layer=$(jq -r ".layers[$i].digest" "$x/blobs/sha256/$top" | cut -d: -f2)
                case "$(jq -r ".layers[$i].mediaType" "$x/blobs/sha256/$top")" in
                *gzip) dec="gzip -dc" ;;
                *zstd) dec="zstd -dcq" ;;
                *) dec="cat" ;;
                esac
                t_assert_eq "sha256:$($dec <"$x/blobs/sha256/$layer" | sha256sum | cut -c1-64)" \
                        "$(jq -r ".rootfs.diff_ids[$i]" "$x/blobs/sha256/$cfg")" "$tar diff_id $i"
        done
        rm -rf "$x"
}

# 1. reproducibility
t_make_image -o "$W/a.tar" --ref berth.example/busybox:1.0
t_make_image -o "$W/b.tar" --ref berth.example/busybox:1.0
cmp -s "$W/a.tar" "$W/b.tar" || t_fail "same options gave different archives"
t_make_image -o "$W/c.tar" --ref berth.example/busybox:1.0 --mtime 1
cmp -s "$W/a.tar" "$W/c.tar" && t_fail "--mtime did not change the archive"

# 2. bad options are refused with a message
t_expect_fail "$BERTH_SRC/scripts/make-oci-image.sh" --ref x
t_assert_contains "$T_ERR" "--output" "missing -o"
t_expect_fail "$BERTH_SRC/scripts/make-oci-image.sh" -o "$W/z.tar" --docker-media-types --compression zstd
t_assert_contains "$T_ERR" "zstd" "docker+zstd"
grep -q -- "--random-layers" <<<"$("$BERTH_SRC/scripts/make-oci-image.sh" --help)" || t_fail "--help lacks options"

# 3. the variants, structurally and with skopeo
declare -A OPTS=(
        [gzip]="--compression gzip"
        [zstd]="--compression zstd"
        [none]="--compression none"
        [index]="--index"
        [docker]="--docker-media-types"
        [dockerindex]="--docker-media-types --index --compression none"
        [random]="--random-layers 3 --random-size 3M --seed 42 --compression zstd"
)
VARIANTS=(gzip zstd none index docker dockerindex random)
for v in "${VARIANTS[@]}"; do
        # shellcheck disable=SC2086
        t_make_image -o "$W/$v.tar" --ref "berth.example/$v:1.0" ${OPTS[$v]}
        check_structure "$W/$v.tar" "berth.example/$v:1.0"
        skopeo inspect "oci-archive:$W/$v.tar" >"$W/$v.inspect" || t_fail "skopeo inspect $v"
        t_assert_eq "$(jq -r .Os "$W/$v.inspect")" linux "skopeo os ($v)"
        skopeo copy -q "oci-archive:$W/$v.tar" "oci:$W/oci-$v" || t_fail "skopeo copy $v"
done
t_assert_eq "$(jq '.Layers | length' "$W/random.inspect")" 4 "random layer count"

# 4. files, scripts, user, env
# shellcheck disable=SC2016 # expanded inside the container
printf '#!/bin/sh\necho "uid=$(id -u) gid=$(id -g) greet=$GREET $(cat /etc/berth/msg)"\n' >"$W/run.sh"
echo "file-ok" >"$W/msg"
t_make_image -o "$W/files.tar" --ref berth.example/files:1.0 --script "$W/run.sh:/usr/local/bin/run.sh" \
        --file "$W/msg:/etc/berth/msg" --user 1000:1000 --env GREET=hi --cmd /usr/local/bin/run.sh
VARIANTS+=(files)

# 5. containerd imports and runs every variant
t_containerd_start "$(t_tmpdir)"
for v in "${VARIANTS[@]}"; do
        t_ctr images import "$W/$v.tar" >/dev/null || t_fail "ctr images import $v"
        out=$(timeout 60 ctr -a "$T_CTRD_SOCK" -n "$T_CTRD_NS" run --rm "berth.example/$v:1.0" "c-$v" 2>&1) ||
                t_fail "ctr run $v: $out"
        if [ "$v" = files ]; then
                t_assert_eq "$out" "uid=1000 gid=1000 greet=hi file-ok" "files image output"
        else
                t_assert_eq "$out" "$EXPECT" "output of $v image"
        fi
done
t_log "ok: ${VARIANTS[*]}"
