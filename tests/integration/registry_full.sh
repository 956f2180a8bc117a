#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# registry_full.sh — a mirror that runs out of storage: the push fails with a message
# naming the registry, repository and blob and saying what to do, the exit status is
# non-zero, the bundle stays imported, and once the registry has space again the same
# import completes the push. The registry's storage is a 3 MiB tmpfs (needs root and
# permission to mount; skipped otherwise), grown afterwards with a remount.
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
t_log "ok"
