#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# registry_https.sh — an https mirror with a private CA (made here with openssl): the
# push fails with a clear TLS message without the CA, succeeds with --registry-ca,
# and `berth mirror config` points K3s and containerd at that CA.
source "$(dirname "$0")/../lib/harness.sh"
command -v openssl >/dev/null || t_skip "openssl not installed (scripts/deps.sh)"
command -v skopeo >/dev/null || t_skip "skopeo not installed (scripts/deps.sh)"

W=$(t_tmpdir)
P=$W/pki
mkdir -p "$P"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=berth test CA" \
        -keyout "$P/ca.key" -out "$P/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$P/srv.key" -out "$P/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$P/ext"
openssl x509 -req -in "$P/srv.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
        -extfile "$P/ext" -out "$P/srv.crt" 2>/dev/null

mkdir -p "$W/b"

t_make_image -o "$W/b/img.tar" --ref registry.local/gw/broker:2.0 --random-layers 1 --random-size 1M

t_bundle "$W/b/b.berth" --name gw --image "$W/b/img.tar" --ref registry.local/gw/broker:2.0
t_registry_start "$W/reg" --tls "$P/srv.crt" "$P/srv.key"

t_expect_fail "$BERTH" import --state-dir "$W/s" --trust "$T_TRUST" --registry "https://$T_REGISTRY" "$T_BUNDLE"
t_assert_contains "$T_ERR" "TLS with registry https://$T_REGISTRY failed" "untrusted certificate is reported"
t_assert_contains "$T_ERR" "--registry-ca" "message says what to do"

"$BERTH" import --state-dir "$W/s" --trust "$T_TRUST" --registry "https://$T_REGISTRY" \
        --registry-ca "$P/ca.crt" "$T_BUNDLE" >/dev/null
mkdir -p "$W/certs"
cp "$P/ca.crt" "$W/certs/ca.crt"
got=$(skopeo inspect --cert-dir "$W/certs" "docker://$T_REGISTRY/gw/broker:2.0" | jq -r .Digest)
t_assert_eq "$got" "$T_BUNDLE_DIGEST" "digest on the https mirror (verified by skopeo with the CA)"

: >"$W/empty.conf"
"$BERTH" mirror config --k3s --output "$W/registries.yaml" --containerd "$W/certs.d" --config "$W/empty.conf" \
        --registry "https://$T_REGISTRY" --registry-ca "$P/ca.crt" --upstream registry.local 2>/dev/null
t_assert_contains "$(cat "$W/registries.yaml")" "ca_file: \"$(realpath "$P/ca.crt")\"" "K3s CA"
t_assert_contains "$(cat "$W/certs.d/registry.local/hosts.toml")" "ca = \"$(realpath "$P/ca.crt")\"" "containerd CA"
t_log "ok"
