#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bundle_platforms.sh — `berth bundle inspect` tells, for each platform a bundle's images
# carry, the blobs and bytes a gateway of that platform needs: a two-platform image
# (linux/amd64 and linux/arm64 with their own layers over a shared base, merged by
# scripts/merge-oci-platforms.sh) lists both, each needing its manifest, config and
# layers plus the index, and nothing of the other; a single-platform bundle lists its
# one platform at the whole bundle's bytes; a second image that lacks arm64 marks that
# platform as not covering every image. Text and --json agree.
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
