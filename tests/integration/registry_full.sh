#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# registry_full.sh — a mirror that runs out of storage: the push fails with a message
# naming the registry, repository and blob and saying what to do, the exit status is
# non-zero, the bundle stays imported, and once the registry has space again the same
# import completes the push. The registry's storage is a 3 MiB tmpfs (needs root and
# permission to mount; skipped otherwise), grown afterwards with a remount (while the
# registry runs: its filesystem driver keeps no state of the disk, it just writes).
# Then, deterministically, the damage a full disk leaves behind when it strikes a
# registry's write of a repository's link to a blob: docker-registry writes the link in
# place, so the link stays empty and every HEAD of that blob answers 500 from then on
# (which write hits the full disk first varies from run to run, so the first part only
# sometimes leaves it). An import must repair it by uploading the blob again.
source "$(dirname "$0")/../lib/harness.sh"
command -v skopeo >/dev/null || t_skip "skopeo not installed (scripts/deps.sh)"

W=$(t_tmpdir)
mkdir -p "$W/small"
mount -t tmpfs -o size=3m,mode=0700 berth-test "$W/small" 2>/dev/null || t_skip "cannot mount a tmpfs here"
t_defer "umount -l '$W/small'"
mkdir -p "$W/b"
t_make_image -o "$W/b/img.tar" --ref registry.local/gw/broker:2.0 --random-layers 2 --random-size 6M
t_bundle "$W/b/b.berth" --name gw --image "$W/b/img.tar" --ref registry.local/gw/broker:2.0
t_registry_start "$W/reg" --storage "$W/small"

t_expect_fail "$BERTH" import --state-dir "$W/s" --trust "$T_TRUST" --registry "http://$T_REGISTRY" "$T_BUNDLE"
t_assert_eq "$T_RC" 1 "exit status"
# Which write hits the full disk first varies: a blob write is answered with "no space
# left on device" (berth says so), but creating the upload session is answered with a
# bare "500 UNKNOWN" that names no cause (berth says the registry failed and that a full
# disk is one reason). Either way: the registry, repository, blob and what to do.
case $T_ERR in
*"registry http://$T_REGISTRY is out of storage"*)
        t_assert_contains "$T_ERR" "free space on the registry" "what to do" ;;
*"registry http://$T_REGISTRY failed (HTTP 500"*)
        t_assert_contains "$T_ERR" "a full disk there gives this too" "cause hinted" ;;
*) t_fail "cause: neither 'out of storage' nor 'failed (HTTP 500' in: $T_ERR" ;;
esac
t_assert_contains "$T_ERR" "repository gw/broker" "repository named"
t_assert_contains "$T_ERR" "blob sha256:" "blob named"
t_assert_contains "$T_ERR" "rerun to complete the push" "what to do"

mount -o remount,size=64m "$W/small"
"$BERTH" import --state-dir "$W/s" --trust "$T_TRUST" --registry "http://$T_REGISTRY" "$T_BUNDLE" >/dev/null
got=$(skopeo inspect --tls-verify=false "docker://$T_REGISTRY/gw/broker:2.0" | jq -r .Digest)
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "digest after space was freed"

t_log "a link to a blob left empty by a full disk"
# The manifest goes (and its tag with it), so the next import pushes again.
curl -fsS -o /dev/null -X DELETE "http://$T_REGISTRY/v2/gw/broker/manifests/$T_BUNDLE_DIGEST" ||
        t_fail "cannot delete the manifest"
layer=$(tar -xOf "$T_BUNDLE" manifest.json | jq -r '[.blobs[] | select(.mediaType | test("layer"))][0].digest')
link=$W/small/docker/registry/v2/repositories/gw/broker/_layers/sha256/${layer#sha256:}/link
t_assert_file "$link" "the repository's link to layer $layer"
: >"$link"
code=$(curl -s -o /dev/null -w '%{http_code}' -I "http://$T_REGISTRY/v2/gw/broker/blobs/$layer")
t_assert_eq "$code" 500 "docker-registry's answer to a HEAD of a blob whose link is empty"
"$BERTH" import --state-dir "$W/s" --trust "$T_TRUST" --registry "http://$T_REGISTRY" "$T_BUNDLE" >/dev/null ||
        t_fail "the import did not repair the empty link"
got=$(skopeo inspect --tls-verify=false "docker://$T_REGISTRY/gw/broker:2.0" | jq -r .Digest)
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "digest after the empty link was repaired"
t_assert_eq "$(cat "$link")" "$layer" "the link names its blob again"
t_log "ok"
