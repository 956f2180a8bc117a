#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# registry_push.sh — `berth import --registry` against a real docker-registry: the
# pushed manifest digest and every blob are byte-identical to the bundle's, large
# blobs go up in chunks, a second push uploads nothing, a second repository gets its
# blobs by cross-repository mount, and `berth mirror config` writes the K3s and
# containerd files.
source "$(dirname "$0")/../lib/harness.sh"
command -v skopeo >/dev/null || t_skip "skopeo not installed (scripts/deps.sh)"

W=$(t_tmpdir)
mkdir -p "$W/b"
t_make_image -o "$W/b/img.tar" --ref registry.local/gw/broker:2.0 --random-layers 2 --random-size 3M
t_bundle "$W/b/b.berth" --name gw --image "$W/b/img.tar" --ref registry.local/gw/broker:2.0
t_registry_start "$W/reg"
t_regproxy_start "$T_REGISTRY" "$W/proxy.log"

# Small chunks so the 1.5 MiB layers take the chunked (PATCH) path.
cat >"$W/agent.conf" <<CONF
[registry]
url = http://$T_REGPROXY
chunk_size = 524288
monolithic_max = 524288
CONF

t_log "first import pushes everything"
"$BERTH" import --state-dir "$W/state" --trust "$T_TRUST" --config "$W/agent.conf" "$T_BUNDLE" >"$W/out1"
t_assert_contains "$(cat "$W/out1")" "registry mirror: 4 blob(s) uploaded" "import summary"
[ "$(t_regproxy_count "$W/proxy.log" '^PATCH .* -> 202$')" -ge 6 ] || t_fail "large layers were not sent in chunks"
t_assert_eq "$(t_regproxy_count "$W/proxy.log" '^PUT /v2/gw/broker/manifests/2.0 ')" 1 "tag written once"

t_log "skopeo sees the bundle's manifest digest"
got=$(skopeo inspect --tls-verify=false "docker://$T_REGISTRY/gw/broker:2.0" | jq -r .Digest)
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "manifest digest on the mirror"
raw=$(skopeo inspect --raw --tls-verify=false "docker://$T_REGISTRY/gw/broker:2.0" | sha256sum | cut -d' ' -f1)
t_assert_eq "sha256:$raw" "$T_BUNDLE_DIGEST" "manifest bytes unchanged"

t_log "skopeo pulls back blobs identical to the bundle's"
skopeo copy -q --preserve-digests --src-tls-verify=false "docker://$T_REGISTRY/gw/broker:2.0" "oci:$W/back" 
n=0
for f in "$W/back/blobs/sha256/"*; do
        cmp -s "$f" "$W/state/store/blobs/sha256/$(basename "$f")" || t_fail "blob $(basename "$f") differs"
        n=$((n + 1))
done
t_assert_eq "$n" 5 "blobs pulled back (config, 3 layers, manifest)"

t_log "second push uploads nothing"
before=$(wc -l <"$W/proxy.log")
"$BERTH" import --state-dir "$W/state" --trust "$T_TRUST" --config "$W/agent.conf" "$T_BUNDLE" >"$W/out2"
tail -n +"$((before + 1))" "$W/proxy.log" >"$W/second.log"
t_assert_eq "$(t_regproxy_count "$W/second.log" '^(PUT|PATCH|POST) ')" 0 "uploading requests on the second push"
t_assert_eq "$(t_regproxy_count "$W/second.log" '.')" 1 "requests on the second push (one HEAD of the tag)"
t_assert_contains "$(cat "$W/out2")" "0 blob(s) uploaded" "second summary"

t_log "a second repository gets its blobs by cross-repository mount"
first_digest=$T_BUNDLE_DIGEST
mkdir -p "$W/c"
t_make_image -o "$W/c/img.tar" --ref registry.local/gw/broker-copy:1 --random-layers 2 --random-size 3M
t_bundle "$W/c/b.berth" --name gw2 --image "$W/c/img.tar" --ref registry.local/gw/broker-copy:1
t_assert_eq "$T_BUNDLE_DIGEST" "$first_digest" "same image content under another name"
before=$(wc -l <"$W/proxy.log")
"$BERTH" import --state-dir "$W/state" --trust "$T_TRUST" --config "$W/agent.conf" "$T_BUNDLE" >"$W/out3"
tail -n +"$((before + 1))" "$W/proxy.log" >"$W/third.log"
t_assert_eq "$(t_regproxy_count "$W/third.log" '^POST /v2/gw/broker-copy/blobs/uploads/\?mount=sha256:[0-9a-f]+&from=gw/broker - -> 201$')" 4 \
        "blobs mounted from gw/broker"
t_assert_eq "$(t_regproxy_count "$W/third.log" '^PATCH ')" 0 "nothing uploaded for the copy"
got=$(skopeo inspect --tls-verify=false "docker://$T_REGISTRY/gw/broker-copy:1" | jq -r .Digest)
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "second repository's digest"

t_log "an index with Docker media types keeps its bytes and media type"
mkdir -p "$W/d"
t_make_image -o "$W/d/img.tar" --ref registry.local/gw/multi:1 --index --docker-media-types
t_bundle "$W/d/b.berth" --name gw3 --image "$W/d/img.tar" --ref registry.local/gw/multi:1
"$BERTH" import --state-dir "$W/state" --trust "$T_TRUST" --config "$W/agent.conf" "$T_BUNDLE" >/dev/null
raw=$(skopeo inspect --raw --tls-verify=false "docker://$T_REGISTRY/gw/multi:1" | sha256sum | cut -d' ' -f1)
t_assert_eq "sha256:$raw" "$T_BUNDLE_DIGEST" "index bytes unchanged"
ct=$(curl -fsSI -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
        "http://$T_REGISTRY/v2/gw/multi/manifests/1" | tr -d '\r' | awk -F': ' 'tolower($1) == "content-type" {print $2}')
t_assert_eq "$ct" "application/vnd.docker.distribution.manifest.list.v2+json" "index media type"

t_log "berth mirror push fills a new, empty mirror from the installed bundles"
MIRROR=$T_REGISTRY
t_registry_start "$W/reg2"
NEW_MIRROR=$T_REGISTRY T_REGISTRY=$MIRROR
"$BERTH" mirror push --state-dir "$W/state" --registry "http://$NEW_MIRROR" --config "$W/agent.conf" >"$W/out4"
t_assert_contains "$(cat "$W/out4")" "gw3 1: 1 image(s)" "each installed bundle is pushed"
for pair in "gw/broker:2.0 $first_digest" "gw/broker-copy:1 $first_digest" "gw/multi:1 $T_BUNDLE_DIGEST"; do
        set -- $pair
        raw=$(skopeo inspect --raw --tls-verify=false "docker://$NEW_MIRROR/$1" | sha256sum | cut -d' ' -f1)
        t_assert_eq "sha256:$raw" "$2" "$1 on the new mirror"
done

t_log "mirror config for K3s and containerd"
"$BERTH" mirror config --k3s --output "$W/k3s/registries.yaml" --containerd "$W/certs.d" \
        --registry "http://$T_REGISTRY" --upstream registry.local --upstream docker.io --config "$W/agent.conf"
t_assert_contains "$(cat "$W/k3s/registries.yaml")" "\"registry.local\":
    endpoint:
      - \"http://$T_REGISTRY\"" "registries.yaml mirror entry"
t_assert_contains "$(cat "$W/certs.d/registry.local/hosts.toml")" "[host.\"http://$T_REGISTRY\"]" "hosts.toml host"
t_assert_contains "$(cat "$W/certs.d/docker.io/hosts.toml")" 'server = "https://registry-1.docker.io"' "docker.io upstream"
# Without --upstream: the registries named by the installed bundles' images.
"$BERTH" mirror config --containerd "$W/certs-auto" --registry "http://$T_REGISTRY" --state-dir "$W/state" \
        --config "$W/agent.conf" 2>/dev/null
t_assert_eq "$(ls "$W/certs-auto")" "registry.local" "upstreams from the installed bundles"
t_expect_fail "$BERTH" mirror config --k3s --output "$W/x.yaml" --registry "http://$T_REGISTRY" --upstream ../etc
t_assert_contains "$T_ERR" "upstream '../etc'" "bad upstream is named"
t_log "ok"
