#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bundle_platforms.sh — `berth bundle inspect` tells, for each platform a bundle's images
# carry, the blobs and bytes a gateway of that platform needs: a two-platform image
# (linux/amd64 and linux/arm64 with their own layers over a shared base, merged by
# scripts/merge-oci-platforms.sh) lists both, each needing its manifest, config and
# layers plus the index, and nothing of the other; a single-platform bundle lists its
# one platform at the whole bundle's bytes; a second image that lacks arm64 marks that
# platform as not covering every image. Text and --json agree. `bundle create` given the
# two single-platform archives under one REF writes that index itself: the same bytes as
# the merged archive's, one image, deterministic, and one platform twice is refused.
source "$(dirname "$0")/../lib/harness.sh"

W=$T_ROOT
"$BERTH" keygen -o "$W/keys" --name alice >/dev/null
t_make_image -q -o "$W/amd64.tar" --ref berth.example/x:1.0 --arch amd64 --random-layers 1 --random-size 300K --seed amd
t_make_image -q -o "$W/arm64.tar" --ref berth.example/x:1.0 --arch arm64 --random-layers 1 --random-size 700K --seed arm
bash "$BERTH_SRC/scripts/merge-oci-platforms.sh" -o "$W/multi.tar" "$W/amd64.tar" "$W/arm64.tar"
create() { "$BERTH" bundle create -k "$W/keys/alice.key" --name "$1" --version 1 "${@:3}" -o "$W/$2.berth" >/dev/null; }
create x multi --image berth.example/x:1.0="$W/multi.tar"
create x amd64 --image berth.example/x:1.0="$W/amd64.tar"
create x arm64 --image berth.example/x:1.0="$W/arm64.tar"

js() { "$BERTH" bundle inspect --json "$W/$1.berth"; }
bytes_of() { js "$1" | jq -r --arg p "$2" '.platforms[] | select(.platform == $p) | .bytes'; }
blobs_sum() { js "$1" | jq '[.manifest.blobs[].size] | add'; }
index_size() { js multi | jq '.manifest.images[0].size'; }

# each platform of the merged image = that platform's own bundle + the index
t_assert_eq "$(js multi | jq -c '[.platforms[].platform]')" '["linux/amd64","linux/arm64/v8"]' "platforms of the merged image"
t_assert_eq "$(bytes_of multi linux/amd64)" "$(( $(blobs_sum amd64) + $(index_size) ))" "amd64 bytes"
t_assert_eq "$(bytes_of multi linux/arm64/v8)" "$(( $(blobs_sum arm64) + $(index_size) ))" "arm64 bytes"
t_assert_eq "$(js multi | jq '[.platforms[].blobs]' -c)" "[5,5]" "blobs per platform (index, manifest, config, 2 layers)"
[ "$(bytes_of multi linux/amd64)" -lt "$(blobs_sum multi)" ] || t_fail "amd64 needs the whole two-platform bundle"
# single platform: the whole bundle
t_assert_eq "$(js amd64 | jq -c '[.platforms[] | [.platform, .bytes]]')" "[[\"linux/amd64\",$(blobs_sum amd64)]]" \
        "single-platform bundle"
text=$("$BERTH" bundle inspect "$W/multi.berth")
grep -Eq '^  linux/amd64 +5 blob\(s\), ' <<<"$text" || t_fail "text output lacks amd64: $text"
grep -Eq '^  linux/arm64/v8 +5 blob\(s\), ' <<<"$text" || t_fail "text output lacks arm64: $text"
t_pass "two platforms: each needs its own blobs and the index ($(bytes_of multi linux/amd64) and $(bytes_of multi linux/arm64/v8) of $(blobs_sum multi) bytes)"

# a second image with amd64 only: arm64 no longer covers every image
create y two --image berth.example/x:1.0="$W/multi.tar" --image berth.example/y:1.0="$W/amd64.tar"
t_assert_eq "$(js two | jq -c '[.platforms[] | [.platform, .allImages]]')" '[["linux/amd64",true],["linux/arm64/v8",false]]' \
        "platform coverage with a single-platform second image"
"$BERTH" bundle inspect "$W/two.berth" | grep -q "linux/arm64/v8 .*(not every image has it)" ||
        t_fail "the text output does not say arm64 lacks an image"
t_pass "an image without arm64: inspect says that platform does not cover every image"

# the same REF twice, one archive per platform: bundle create writes the index itself
mkdir -p "$W/trust"
cp "$W/keys/alice.pub" "$W/trust/"
two_archives=(--image berth.example/x:1.0="$W/amd64.tar" --image berth.example/x:1.0="$W/arm64.tar")
made() { "$BERTH" bundle create -k "$W/keys/alice.key" --name x --version 1 --created 2026-01-01T00:00:00Z \
        --expires 2027-01-01T00:00:00Z "$@"; }
out=$(made "${two_archives[@]}" -o "$W/pair.berth") || t_fail "bundle create with two archives of one image failed"
t_assert_contains "$out" ", 1 image(s), $(js multi | jq '.manifest.blobs | length') blob(s)," "create counts one image"
"$BERTH" bundle verify --trust "$W/trust" "$W/pair.berth" >/dev/null || t_fail "the two-archive bundle does not verify"
t_assert_eq "$(js pair | jq '.manifest.images | length')" 1 "images in the manifest"
t_assert_eq "$(js pair | jq -c '.manifest.images[0] | [.ref, .mediaType]')" \
        '["berth.example/x:1.0","application/vnd.oci.image.index.v1+json"]' "the image is an index"
t_assert_eq "$(js pair | jq -c '.manifest.images[0]')" "$(js multi | jq -c '.manifest.images[0]')" \
        "the index is merge-oci-platforms.sh's, byte for byte"
t_assert_eq "$(js pair | jq -c '.platforms')" "$(js multi | jq -c '.platforms')" "platforms, blobs and bytes"
blob_set() { js "$1" | jq -c '.manifest.blobs | sort_by(.digest)'; }
t_assert_eq "$(blob_set pair)" "$(blob_set multi)" "the blobs of the merged archive"
made "${two_archives[@]}" -o "$W/pair2.berth" >/dev/null || t_fail "second bundle create failed"
cmp -s "$W/pair.berth" "$W/pair2.berth" || t_fail "two runs with the same arguments give different bundles"
t_pass "one REF, two archives: one image whose index is the merged archive's, verified, deterministic"

# one platform twice: refused, naming both archives and the platform; nothing written
t_expect_fail made --image berth.example/x:1.0="$W/amd64.tar" --image berth.example/x:1.0="$W/amd64.tar" \
        -o "$W/dup.berth"
t_assert_contains "$T_ERR" \
        "image 'berth.example/x:1.0': archives $W/amd64.tar and $W/amd64.tar both hold linux/amd64; give each platform once" \
        "the same archive twice"
t_expect_fail made --image berth.example/x:1.0="$W/multi.tar" --image berth.example/x:1.0="$W/arm64.tar" -o "$W/dup.berth"
t_assert_contains "$T_ERR" "archives $W/multi.tar and $W/arm64.tar both hold linux/arm64/v8; give each platform once" \
        "an index and a single-platform archive of one platform"
if compgen -G "$W/dup.berth*" >/dev/null; then t_fail "a refused bundle left a file: $(ls "$W"/dup.berth*)"; fi
t_pass "one platform twice for one image is refused and writes nothing"
