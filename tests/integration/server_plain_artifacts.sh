#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# berth-server drives a third-party OS updater: an operator uploads a plain artifact (a
# real SWUpdate .swu built here: sw-description in libconfig syntax, CMS-signed, a raw
# file for a temp dir, in a cpio archive) with a software module name, version and type,
# checked against its announced sha256 and size; a rollout deploys it; Debian's swupdate
# (suricatta, hawkBit mode) verifies the server with the test CA, downloads it over
# HTTPS, installs the file and, after its "reboot", reports success.
source "$(dirname "$0")/../lib/harness.sh"
for tool in swupdate cpio; do
        command -v "$tool" >/dev/null || { echo "$tool not installed (scripts/deps.sh)" >&2; exit 77; }
done

srv_config "[ddi]" "polling_sleep = 00:00:01"
srv_start

# The .swu: sw-description signed (CMS) by a release key the test CA certified for code
# signing; one raw file, installed into $T_ROOT/installed.
P=$T_ROOT/pki
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=berth test release" \
        -keyout "$P/release.key" -out "$P/release.csr" 2>/dev/null
printf 'extendedKeyUsage=codeSigning\nkeyUsage=digitalSignature\n' > "$P/release.ext"
openssl x509 -req -in "$P/release.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
        -extfile "$P/release.ext" -out "$P/release.crt" 2>/dev/null
W=$T_ROOT/swu-build
mkdir -p "$W" "$T_ROOT/installed"
head -c 100000 /dev/urandom > "$W/rootfs.img"
cat > "$W/sw-description" <<SW
software =
{
        version = "2.0.0";
        description = "berth-server plain artifact test";
        hardware-compatibility: [ "1.0" ];
        files: (
                {
                        filename = "rootfs.img";
                        path = "$T_ROOT/installed/rootfs.img";
                        sha256 = "$(sha256sum "$W/rootfs.img" | cut -d' ' -f1)";
                }
        );
}
SW
openssl cms -sign -in "$W/sw-description" -out "$W/sw-description.sig" -signer "$P/release.crt" \
        -inkey "$P/release.key" -outform DER -nosmimecap -binary
(cd "$W" && printf 'sw-description\nsw-description.sig\nrootfs.img\n' | cpio -o -H crc --quiet) > "$T_ROOT/gw-os-2.0.0.swu"
SWU=$T_ROOT/gw-os-2.0.0.swu
SHA=$(sha256sum "$SWU" | cut -d' ' -f1)
SIZE=$(stat -c %s "$SWU")

# upload QUERY: POSTs the .swu to /api/v1/artifacts?QUERY.
upload() { mgmt POST "/api/v1/artifacts?$1" "" --data-binary @"$SWU" -H 'Content-Type: application/octet-stream'; }
Q="name=gw-os&version=2.0.0&type=os&filename=gw-os-2.0.0.swu"
upload "$Q&sha256=$(printf '%064d' 0)&size=$SIZE"
expect_code 422 "an upload whose sha256 differs"
echo "$BODY" | jq -e --arg h "$SHA" '.message | test("sha256 is " + $h)' >/dev/null || t_fail "422 message: $BODY"
upload "$Q&sha256=$SHA&size=$((SIZE + 1))"
expect_code 422 "an upload whose size differs"
upload "name=gw-os&version=2.0.0&type=OS!&filename=x.swu&sha256=$SHA&size=$SIZE"
expect_code 400 "a bad module type"
upload "$Q&sha256=$SHA"
expect_code 400 "no size"
[ -z "$(ls "$SRV_STATE/spool")" ] && [ -z "$(ls "$SRV_STATE/artifacts")" ] || t_fail "a refused upload was kept"
upload "$Q&sha256=$SHA&size=$SIZE"
expect_code 201 "the artifact"
echo "$BODY" | jq -e --arg h "$SHA" '.kind == "plain" and .name == "gw-os" and .version == "2.0.0" and .type == "os"
        and .filename == "gw-os-2.0.0.swu" and .hashes.sha256 == $h and (.hashes.sha1 | length) == 40
        and (.hashes.md5 | length) == 32' >/dev/null || t_fail "artifact: $BODY"
ART=$(echo "$BODY" | jq -r .id)
upload "$Q&sha256=$SHA&size=$SIZE"
expect_code 409 "the same module type, name and version again"
t_pass "plain artifacts: checked against the announced sha256 and size, refused ones kept nowhere, no duplicates"

TOK=swupdate-token-0123456789
mgmt POST /api/v1/targets "{\"controllerId\":\"gw-7-os\",\"token\":\"$TOK\",\"attributes\":{\"client\":\"swupdate\"}}"
expect_code 201 "register"
RID=$("$SERVER_BIN" rollout create --name os-2.0.0 --bundle "$ART" --filter client=swupdate | jq -r .id)
"$SERVER_BIN" rollout start "$RID" >/dev/null
AID=$(action_of gw-7-os "$TOK")
ddi GET gw-7-os "/deploymentBase/$AID" "$TOK"
expect_code 200 "deploymentBase"
echo "$BODY" | jq -e --arg h "$SHA" --argjson s "$SIZE" '.deployment.chunks | length == 1 and .[0].part == "os"
        and .[0].name == "gw-os" and .[0].version == "2.0.0" and (.[0].artifacts | length == 1)
        and .[0].artifacts[0].filename == "gw-os-2.0.0.swu" and .[0].artifacts[0].size == $s
        and .[0].artifacts[0].hashes.sha256 == $h
        and (.[0].artifacts[0]._links.download.href | endswith("/artifacts/gw-os-2.0.0.swu"))' >/dev/null ||
        t_fail "deploymentBase of a plain artifact: $BODY"
t_pass "the deployment names module type, name and version, the real filename and hashes"

# swupdate verifies the server with the test CA (cafile), the .swu with the release
# certificate's CA (-k, code signing), and the hardware revision.
cat > "$T_ROOT/swupdate.cfg" <<CFG
globals :
{
        loglevel = 6;
};
suricatta :
{
        cafile = "$CA";
};
CFG
SURICATTA="-t default -u https://127.0.0.1:$DDI_PORT -i gw-7-os -k $TOK -p 1"
swu_start "$T_ROOT/swupdate.log" -v -f "$T_ROOT/swupdate.cfg" -k "$CA" --cert-purpose codeSigning -H gw7:1.0 -u "$SURICATTA"
installed() {
        cmp -s "$T_ROOT/installed/rootfs.img" "$W/rootfs.img" || return 1
        mgmt GET "/api/v1/actions/$AID"
        echo "$BODY" | jq -e '[.feedback[].details[]] | any(test("All Chunks Installed"))' >/dev/null
}
t_wait_for 'installed' 60 || { tail -20 "$T_ROOT/swupdate.log" >&2; t_fail "swupdate did not install the artifact: $BODY"; }
t_pass "swupdate downloaded the .swu over HTTPS, verified it and installed its file"

# Its "reboot": swupdate keeps the update state of the 'none' bootloader in memory, so it
# is restarted with the state a booted, tested system has (-c 2) and reports success.
swu_stop
swu_start "$T_ROOT/swupdate-2.log" -v -f "$T_ROOT/swupdate.cfg" -k "$CA" --cert-purpose codeSigning -H gw7:1.0 \
        -u "$SURICATTA -c 2"
succeeded() {
        mgmt GET "/api/v1/actions/$AID"
        echo "$BODY" | jq -e '.status == "success"' >/dev/null
}
t_wait_for 'succeeded' 60 || { tail -20 "$T_ROOT/swupdate-2.log" >&2; t_fail "no success reported: $BODY"; }
finished() { "$SERVER_BIN" rollout status "$RID" | jq -e '.state == "finished"' >/dev/null; }
t_wait_for 'finished' 10 || t_fail "the rollout did not finish: $("$SERVER_BIN" rollout status "$RID")"
mgmt GET /api/v1/targets/gw-7-os
echo "$BODY" | jq -e --argjson a "$ART" '.installed == {bundleId: $a, name: "gw-os", type: "os", version: "2.0.0"}' >/dev/null ||
        t_fail "target show: $BODY"
t_pass "after its restart swupdate reported success; the rollout finished"

swu_stop
srv_stop
t_pass "server shut down cleanly"
