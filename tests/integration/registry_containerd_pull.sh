#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# registry_containerd_pull.sh — a private containerd pulls what berth pushed: directly
# from the mirror (`ctr images pull --plain-http`), and by the image's original name
# through the hosts.toml that `berth mirror config --containerd` writes (the upstream
# host does not exist, so only the mirror can have answered). A two-platform image
# (amd64 and arm64 with their own layers) reaches the mirror whole: its index, and both
# platforms, each of which containerd pulls from it.
source "$(dirname "$0")/../lib/harness.sh"

W=$(t_tmpdir)
mkdir -p "$W/b"
t_make_image -o "$W/b/img.tar" --ref registry.local/gw/broker:2.0 --random-layers 1 --random-size 1M
t_bundle "$W/b/b.berth" --name gw --image "$W/b/img.tar" --ref registry.local/gw/broker:2.0
t_registry_start "$W/reg"
"$BERTH" import --state-dir "$W/state" --trust "$T_TRUST" --registry "http://$T_REGISTRY" "$T_BUNDLE" >/dev/null
t_containerd_start "$W/ctrd"

t_log "ctr pulls from the mirror"
t_ctr images pull --plain-http "$T_REGISTRY/gw/broker:2.0" >/dev/null
got=$(t_ctr images ls | awk -v n="$T_REGISTRY/gw/broker:2.0" '$1 == n {print $3}')
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "digest containerd resolved from the mirror"

t_log "ctr pulls registry.local/… through berth's hosts.toml"
: >"$W/empty.conf"
"$BERTH" mirror config --containerd "$W/certs.d" --registry "http://$T_REGISTRY" --upstream registry.local \
        --config "$W/empty.conf" 2>/dev/null
t_ctr images pull --hosts-dir "$W/certs.d" registry.local/gw/broker:2.0 >/dev/null
got=$(t_ctr images ls | awk '$1 == "registry.local/gw/broker:2.0" {print $3}')
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "digest containerd resolved through the mirror config"
grep -q "${T_BUNDLE_DIGEST}" <<<"$(t_ctr content ls)" || t_fail "manifest not in containerd's content store"
t_log "with a repository prefix on the mirror (hosts.toml override_path)"
mkdir -p "$W/c"
t_make_image -o "$W/c/img.tar" --ref registry.local/gw/prefixed:1 --random-layers 1 --random-size 1M --seed p
t_bundle "$W/c/b.berth" --name gw2 --image "$W/c/img.tar" --ref registry.local/gw/prefixed:1
printf '[registry]\nurl = http://%s\nprefix = site1\n' "$T_REGISTRY" >"$W/prefix.conf"
"$BERTH" import --state-dir "$W/state" --trust "$T_TRUST" --config "$W/prefix.conf" "$T_BUNDLE" >/dev/null
curl -fsS -o /dev/null "http://$T_REGISTRY/v2/site1/gw/prefixed/manifests/1" -H 'Accept: application/vnd.oci.image.manifest.v1+json' ||
        t_fail "image not under the prefix"
"$BERTH" mirror config --containerd "$W/certs2" --upstream registry.local --config "$W/prefix.conf" 2>/dev/null
t_ctr images pull --hosts-dir "$W/certs2" registry.local/gw/prefixed:1 >/dev/null
got=$(t_ctr images ls | awk '$1 == "registry.local/gw/prefixed:1" {print $3}')
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "digest resolved through the prefixed mirror"

t_log "a two-platform image: the mirror serves its index and every platform"
mkdir -p "$W/m"
t_make_image -q -o "$W/m/amd64.tar" --arch amd64 --random-layers 1 --random-size 300K --seed mirror-amd
t_make_image -q -o "$W/m/arm64.tar" --arch arm64 --random-layers 1 --random-size 300K --seed mirror-arm
bash "$BERTH_SRC/scripts/merge-oci-platforms.sh" -o "$W/m/multi.tar" "$W/m/amd64.tar" "$W/m/arm64.tar"
t_bundle "$W/m/b.berth" --name multi --image "$W/m/multi.tar" --ref registry.local/gw/multi:1
out=$("$BERTH" import --state-dir "$W/state" --trust "$T_TRUST" --registry "http://$T_REGISTRY" "$T_BUNDLE")
t_assert_contains "$out" "multi" "the two-platform bundle was imported: $out"
idx=$(curl -fsS "http://$T_REGISTRY/v2/gw/multi/manifests/1" -H 'Accept: application/vnd.oci.image.index.v1+json') ||
        t_fail "the mirror does not serve the image index"
t_assert_eq "$(echo "$idx" | jq -c '[.manifests[].platform.architecture]')" '["amd64","arm64"]' "the index lists both platforms"
for arch in amd64 arm64; do
        t_ctr images pull --plain-http --platform "linux/$arch" "$T_REGISTRY/gw/multi:1" >/dev/null ||
                t_fail "containerd cannot pull linux/$arch of the two-platform image from the mirror"
        layer=$(tar -xOf "$W/m/$arch.tar" index.json | jq -r '.manifests[0].digest')
        layer=$(tar -xOf "$W/m/$arch.tar" "blobs/sha256/${layer#sha256:}" | jq -r '.layers[-1].digest')
        grep -q "$layer" <<<"$(t_ctr content ls)" || t_fail "the linux/$arch layer did not reach containerd from the mirror"
done
got=$(t_ctr images ls | awk -v n="$T_REGISTRY/gw/multi:1" '$1 == n {print $3}')
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "containerd resolved the index the bundle carries"
t_log "ok"
