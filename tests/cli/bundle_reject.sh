#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bundle_reject.sh — berth must refuse every malformed, tampered, untrusted, expired or
# downgraded bundle with one clear error line, and a refused import must leave the state
# dir (store and DB) byte for byte as it was. Bundles are written by tests/cli/mkbundle.py,
# an independent implementation of agent/bundle/README.md; its defect-free output is
# checked first (the positive control that gives the negative cases their meaning).
# Also: co-signatures, the threshold, idempotent re-import, reproducible `bundle create`
# and preservation of unknown manifest fields.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=reject_lib.bash
source "$(dirname "$0")/reject_lib.bash"

# ---- keys, trust dirs, images ------------------------------------------------------------

"$BERTH" keygen -o "$W/keys" --name alice >/dev/null
"$BERTH" keygen -o "$W/keys" --name bob >/dev/null
"$BERTH" keygen -o "$W/keys" --name mallory >/dev/null
mkdir -p "$W/trust1" "$W/trust2" "$W/trust-bob"
cp "$W/keys/alice.pub" "$W/trust1/"
cp "$W/keys/alice.pub" "$W/keys/bob.pub" "$W/trust2/"
echo 2 >"$W/trust2/threshold"
cp "$W/keys/bob.pub" "$W/trust-bob/"
T1=$W/trust1

# A: what the node already runs. B: another busybox image (blobs A lacks, so refused
# imports really stage). Each defect is tried on a tiny synthetic image (the whole file
# fits in one of berth's reads) and on L (several MiB: defects beyond the first
# buffer).
t_make_image -q -o "$W/a.tar" --ref berth.example/a:1.0
t_make_image -q -o "$W/b.tar" --ref berth.example/b:1.0 --compression zstd
t_make_image -q -o "$W/l.tar" --ref berth.example/l:1.0 --compression none --random-layers 2 --random-size 3M --seed rej

# The node's state: demo version 1 built by berth itself.
S=$W/state
"$BERTH" bundle create -k "$W/keys/alice.key" --name demo --version 1 --image berth.example/a:1.0="$W/a.tar" \
        -o "$W/a1.berth" >/dev/null
expect_imported "$S" "$T1" "$W/a1.berth" >/dev/null

# ---- positive controls -----------------------------------------------------------------

IMG_B=(--image berth.example/b:1.0="$W/b.tar")
IMG_L=(--image berth.example/l:1.0="$W/l.tar")
IMG_T=(--tiny-image berth.example/tiny:1.0)
gen -k "$W/keys/alice.key" "${IMG_B[@]}" --version 2 -o "$W/good-b.berth"
gen -k "$W/keys/alice.key" "${IMG_L[@]}" --version 2 -o "$W/good-l.berth"
gen -k "$W/keys/alice.key" "${IMG_T[@]}" --version 2 -o "$W/good-t.berth"
gen -k "$W/keys/alice.key" "${IMG_T[@]}" "${IMG_B[@]}" --version 2 -o "$W/good-tb.berth"
for g in good-b good-l good-t good-tb; do
        out=$("$BERTH" bundle verify --trust "$T1" "$W/$g.berth") || t_fail "positive control $g: verify failed"
        t_assert_contains "$out" "OK demo version 2" "positive control $g verify"
        rm -rf "$W/ctl" && cp -a "$S" "$W/ctl"
        out=$(expect_imported "$W/ctl" "$T1" "$W/$g.berth")
        t_assert_contains "$out" "imported demo version 2" "positive control $g import"
        "$BERTH" status --state-dir "$W/ctl" | grep "demo version 2" >/dev/null || t_fail "positive control $g: status"
done
# A bundle also signed by a key this node does not know is fine (co-signature for
# another fleet); k-of-n with both trusted keys is fine.
gen -k "$W/keys/alice.key" -k "$W/keys/mallory.key" "${IMG_B[@]}" --version 2 -o "$W/cosig.berth"
"$BERTH" bundle verify --trust "$T1" "$W/cosig.berth" >/dev/null || t_fail "unknown co-signer made the bundle fail"
gen -k "$W/keys/alice.key" -k "$W/keys/bob.key" "${IMG_B[@]}" --version 2 -o "$W/two.berth"
"$BERTH" bundle verify --trust "$W/trust2" "$W/two.berth" >/dev/null || t_fail "2-of-2 signed bundle failed threshold 2"
# berth bundle sign adds bob's co-signature to a generator-made bundle.
"$BERTH" bundle sign -k "$W/keys/bob.key" "$W/good-b.berth" -o "$W/good-b-2.berth" >/dev/null ||
        t_fail "bundle sign failed"
"$BERTH" bundle verify --trust "$W/trust2" "$W/good-b-2.berth" >/dev/null || t_fail "co-signed bundle failed threshold 2"
t_log "positive controls pass"

# ---- generator defects -------------------------------------------------------------------
# defect | phrase berth's error must contain
DEFECT_CASES=(
        "unsigned|carries no signature"
        "flip-manifest|does not match the manifest"
        "flip-signature|does not match the manifest"
        "sig-not-base64|not 64 bytes of base64"
        "sig-dup-key|signed twice"
        "sig-bad-json|signatures: not valid JSON"
        "sig-too-many|more than 32 signatures"
        "sig-too-big|over the limit of 65536"
        "flip-keyid|unknown signer key id(s)"
        "manifest-bad-json|manifest: not valid JSON"
        "manifest-dup-key|duplicate object key"
        "manifest-not-object|top level must be a JSON object"
        "manifest-missing-created|missing field \"created\""
        "manifest-missing-blobs|\"blobs\" must be an array"
        "manifest-bad-digest|is not sha256:<64 lowercase hex>"
        "manifest-short-digest|is not sha256:<64 lowercase hex>"
        "manifest-image-unlisted|which is not among the blobs"
        "manifest-image-size|disagrees with blob"
        "manifest-blob-too-big|exceeds the limit"
        "manifest-total-too-big|blobs total more than the limit"
        "manifest-too-many-blobs|4097 blobs exceed the limit of 4096"
        "manifest-schema-2|schemaVersion must be 1"
        "manifest-bad-media-type|mediaType 'application/json' is not"
        "manifest-bad-name|name 'demo/evil' is invalid"
        "manifest-version-0|version must be an integer"
        "manifest-version-string|version must be an integer"
        "manifest-bad-time|is not an RFC 3339 UTC time"
        "manifest-expires-before-created|expires must be later than created"
        "manifest-no-images|at least one image"
        "manifest-dup-blob|is listed twice"
        "manifest-too-big|over the limit of 4194304"
        "manifest-blob-size-lie|bytes in the archive but"
        "missing-signatures|expected 'signatures.json'"
        "swap-head|expected 'manifest.json'"
        "missing-last-blob|is missing"
        "missing-middle-blob|is out of order"
        "extra-entry|unexpected extra entry 'README.txt'"
        "extra-unlisted-blob|unexpected extra entry 'blobs/sha256/"
        "duplicate-blob|appears twice"
        "swap-blobs|is out of order"
        "absolute-path|absolute or '..' path"
        "dotdot-path|absolute or '..' path"
        "symlink|link, directory or device"
        "hardlink|link, directory or device"
        "chardev|link, directory or device"
        "directory|link, directory or device"
        "fifo|link, directory or device"
        "blob-longer|bytes in the archive but"
        "pax-header|pax/GNU extensions are not allowed"
        "gnu-longname|pax/GNU extensions are not allowed"
        "mode-0755|non-canonical metadata"
        "uid-1000|non-canonical metadata"
        "mtime-nonzero|non-canonical metadata"
        "roots-empty|'roots.json' is empty"
        "roots-after-blob|entry 'roots.json'"
        "roots-twice|entry 'roots.json'"
        "roots-bad-json|the trust roots are not valid JSON"
        "roots-too-big|over the limit of 1048576"
        "roots-bad-root|the trust roots it carries were refused"
        "flip-blob|is corrupt"
        "flip-blob-first|is corrupt"
        "flip-header-name|damaged"
        "flip-header-rechecksum|is not listed in the manifest"
        "flip-manifest-header|not a .berth bundle"
        "flip-padding|should be zero padding"
        "flip-head-padding|should be zero padding"
        "flip-trailer|should be zero padding"
        "flip-trailer-last|should be zero padding"
        "truncate-mid-blob|truncated"
        "truncate-head|truncated"
        "truncate-trailer|end-of-archive blocks are missing"
        "truncate-all-trailer|end-of-archive blocks are missing"
        "trailing-garbage|after the end of the archive"
        "trailing-zeros|after the end of the archive"
        "gzip|not a .berth bundle"
        "random|not a .berth bundle"
        "text|not a .berth bundle"
        "empty|the file is empty"
)

# Every defect the generator knows must be in the table (so none is silently untested).
# (header-* defects are in bundle_header_strict.sh.)
for d in $("$PY" "$GEN" --list-defects | cut -f1 | grep -v '^header-'); do
        printf "%s\n" "${DEFECT_CASES[@]}" | grep "^$d|" >/dev/null || t_fail "generator defect '$d' has no case here"
done

gen -k "$W/keys/alice.key" "${IMG_T[@]}" --version 2 --all-defects "$W/cases"
gen -k "$W/keys/alice.key" "${IMG_L[@]}" --version 2 --all-defects "$W/cases-large"
for c in "${DEFECT_CASES[@]}"; do
        d=${c%%|*}
        phrase=${c#*|}
        expect_refused "$d" "$W/cases/$d.berth" "$phrase" "$T1" "$S"
        case $d in gzip | random | text | empty) continue ;; esac # same file either way
        expect_refused "$d-large" "$W/cases-large/$d.berth" "$phrase" "$T1" "$S"
done

# A valid tar whose numbers are encoded differently (Python's tarfile: "0000644\0")
# is still not the canonical header, which is a pure function of name and size.
gen -k "$W/keys/alice.key" "${IMG_T[@]}" --version 2 --header-style python -o "$W/cases/python-headers.berth"
expect_refused python-headers "$W/cases/python-headers.berth" "is non-canonical" "$T1" "$S"

# ---- trust -------------------------------------------------------------------------------

gen -k "$W/keys/mallory.key" "${IMG_B[@]}" --version 2 -o "$W/cases/untrusted.berth"
expect_refused untrusted-key "$W/cases/untrusted.berth" "unknown signer key id(s): " "$T1" "$S"
t_assert_contains "$T_ERR" "0 valid signature(s)" "untrusted key: count"
gen -k "$W/keys/alice.key" "${IMG_B[@]}" --version 2 -o "$W/cases/one-of-two.berth"
expect_refused too-few-signatures "$W/cases/one-of-two.berth" "1 valid signature(s)" "$W/trust2" "$S"
t_assert_contains "$T_ERR" "2 required" "threshold named"
# Signed by bob only, trusted by alice only (bob is known elsewhere, not here).
gen -k "$W/keys/bob.key" "${IMG_B[@]}" --version 2 -o "$W/cases/wrong-key.berth"
expect_refused wrong-key "$W/cases/wrong-key.berth" "0 valid signature(s)" "$T1" "$S"
# The trust dir holds bob; a valid bob signature plus a corrupt alice signature is fine
# there (alice is unknown), but not where alice is trusted.
gen -k "$W/keys/alice.key" "${IMG_B[@]}" --version 2 --defect flip-signature -o "$W/cases/badalice.berth"
"$BERTH" bundle sign -k "$W/keys/bob.key" "$W/cases/badalice.berth" -o "$W/cases/badalice-bob.berth" >/dev/null
"$BERTH" bundle verify --trust "$W/trust-bob" "$W/cases/badalice-bob.berth" >/dev/null ||
        t_fail "a bad signature by an untrusted key must be ignored"
expect_refused bad-trusted-sig-with-good-other "$W/cases/badalice-bob.berth" "does not match the manifest" "$W/trust2" "$S"

# The same key under two names counts once.
mkdir -p "$W/trust-dup"
cp "$W/keys/alice.pub" "$W/trust-dup/alice.pub"
sed 's/ alice$/ alice-copy/' "$W/keys/alice.pub" >"$W/trust-dup/alice-copy.pub"
cp "$W/keys/bob.pub" "$W/trust-dup/"
echo 2 >"$W/trust-dup/threshold"
expect_refused same-key-twice-in-trust "$W/cases/one-of-two.berth" "1 valid signature(s)" "$W/trust-dup" "$S"

# Not a file at all.
mkdir -p "$W/cases/a-directory.berth"
expect_refused directory-not-file "$W/cases/a-directory.berth" "is a directory" "$T1" "$S"
expect_refused missing-file "$W/cases/no-such.berth" "cannot open bundle" "$T1" "$S"

# ---- expiry --------------------------------------------------------------------------------

gen -k "$W/keys/alice.key" "${IMG_B[@]}" --version 2 -o "$W/cases/expires-2098.berth"
expect_refused expired-by-clock "$W/cases/expires-2098.berth" "expired at 2098-01-01T00:00:00Z" "$T1" "$S" \
        BERTH_NOW=2099-01-01T00:00:00Z
gen -k "$W/keys/alice.key" "${IMG_B[@]}" --version 2 --created 2020-01-01T00:00:00Z \
        --expires 2021-01-01T00:00:00Z -o "$W/cases/expired.berth"
expect_refused expired "$W/cases/expired.berth" "expired at 2021-01-01T00:00:00Z" "$T1" "$S"
# One second before expiry it is still good.
BERTH_NOW=2097-12-31T23:59:59Z "$BERTH" bundle verify --trust "$T1" "$W/cases/expires-2098.berth" >/dev/null ||
        t_fail "bundle refused before its expiry"

# ---- versions: upgrade, downgrade, same version, same bundle -------------------------------

V=$W/vstate
cp -a "$S" "$V"
gen -k "$W/keys/alice.key" "${IMG_B[@]}" --version 3 -o "$W/v3.berth"
gen -k "$W/keys/alice.key" "${IMG_B[@]}" --version 2 -o "$W/v2.berth"
gen -k "$W/keys/alice.key" "${IMG_B[@]}" --version 3 --extra-field 'note="other build"' -o "$W/v3b.berth"
out=$(expect_imported "$V" "$T1" "$W/v3.berth")
t_assert_contains "$out" "imported demo version 3" "upgrade 1 -> 3"
# verify knows nothing of the node; only import refuses these.
"$BERTH" bundle verify --trust "$T1" "$W/v2.berth" >/dev/null || t_fail "v2 must verify"
before=$(snapshot "$V")
t_expect_fail "$BERTH" import --state-dir "$V" --trust "$T1" "$W/v2.berth"
one_error downgrade "downgrades are refused"
t_expect_fail "$BERTH" import --state-dir "$V" --trust "$T1" "$W/a1.berth"
one_error downgrade-to-1 "downgrades are refused"
t_expect_fail "$BERTH" import --state-dir "$V" --trust "$T1" "$W/v3b.berth"
one_error same-version-other-content "already installed with different content"
[ "$before" == "$(snapshot "$V")" ] || t_fail "refused downgrade/same-version import changed the state"
staging_empty "$V"
# The same bundle again: success, nothing changes.
out=$(expect_imported "$V" "$T1" "$W/v3.berth")
t_assert_contains "$out" "already installed" "re-import says it is a no-op"
[ "$before" == "$(snapshot "$V")" ] || t_fail "re-importing the same bundle changed the state"
NCASES=$((NCASES + 4))
"$BERTH" status --state-dir "$V" | grep "demo version 3" >/dev/null || t_fail "status does not show version 3"
# The installed bundle's manifest and signatures in a damaged file: still refused (a
# re-import must read and check the whole file like any import).
for c in "flip-blob|is corrupt" "trailing-garbage|after the end of the archive" "truncate-mid-blob|truncated"; do
        d=${c%%|*}
        gen -k "$W/keys/alice.key" "${IMG_B[@]}" --version 3 --defect "$d" -o "$W/v3-$d.berth"
        expect_refused "installed-then-$d" "$W/v3-$d.berth" "${c#*|}" "$T1" "$V"
done

# ---- unknown manifest fields survive; stored manifest bytes equal the bundle's ---------------

U=$W/ustate
gen -k "$W/keys/alice.key" "${IMG_B[@]}" --name future --version 7 \
        --extra-field 'x-future={"nested":[1,2,{"k":"v"}],"u":"\u00e9"}' --extra-field 'workloads=[]' \
        -o "$W/future.berth"
expect_imported "$U" "$T1" "$W/future.berth" >/dev/null
want=$(tar -xOf "$W/future.berth" manifest.json | sha256sum | cut -c1-64)
got=$(sqlite3 "$U/berth.db" "SELECT hex(manifest) FROM bundles WHERE name='future'" | xxd -r -p | sha256sum | cut -c1-64)
t_assert_eq "$got" "$want" "manifest bytes stored in the DB equal the bundle's"
sqlite3 "$U/berth.db" "SELECT manifest FROM bundles WHERE name='future'" | grep '"x-future"' >/dev/null ||
        t_fail "unknown field x-future is not in the stored manifest"
want=$(tar -xOf "$W/future.berth" signatures.json | sha256sum | cut -c1-64)
got=$(sqlite3 "$U/berth.db" "SELECT hex(signatures) FROM bundles WHERE name='future'" | xxd -r -p | sha256sum | cut -c1-64)
t_assert_eq "$got" "$want" "signature bytes stored in the DB equal the bundle's"
# and every stored blob is named by its digest
for f in "$U"/store/blobs/sha256/*; do
        t_assert_eq "$(sha256sum <"$f" | cut -c1-64)" "$(basename "$f")" "stored blob digest"
done

# ---- berth bundle create is reproducible ----------------------------------------------------

for i in 1 2; do
        SOURCE_DATE_EPOCH=1700000000 "$BERTH" bundle create -k "$W/keys/alice.key" -k "$W/keys/bob.key" \
                --name repro --version 5 --image berth.example/a:1.0="$W/a.tar" --image berth.example/b:1.0="$W/b.tar" \
                -o "$W/repro$i.berth" >/dev/null || t_fail "bundle create $i"
done
cmp "$W/repro1.berth" "$W/repro2.berth" || t_fail "same inputs and SOURCE_DATE_EPOCH gave different bundles"
t_assert_eq "$("$BERTH" bundle inspect --json "$W/repro1.berth" | jq -r .manifest.created)" "2023-11-14T22:13:20Z" \
        "created comes from SOURCE_DATE_EPOCH"
SOURCE_DATE_EPOCH=1700000001 "$BERTH" bundle create -k "$W/keys/alice.key" --name repro --version 5 \
        --image berth.example/a:1.0="$W/a.tar" -o "$W/repro3.berth" >/dev/null
cmp -s "$W/repro1.berth" "$W/repro3.berth" && t_fail "a different SOURCE_DATE_EPOCH gave the same bundle"
# berth's own output (create, sign) obeys the README's layout, checked by the independent
# implementation: offsets, canonical headers, zero padding, blob order and digests, sorted
# signatures, exactly two zero blocks at the end. The generator's output too.
for f in repro1 a1 good-b-2 good-b good-l; do
        "$PY" "$GEN" --check-layout "$W/$f.berth" || t_fail "$f.berth does not follow the documented layout"
done
# And with tar itself: every entry a 0644 root-owned regular file.
tar -tvf "$W/repro1.berth" | awk '$1 != "-rw-r--r--" || $2 != "0/0" { bad = 1 } END { exit bad }' ||
        t_fail "berth bundle create wrote non-canonical entries"
t_assert_eq "$(tail -c 1024 "$W/repro1.berth" | tr -d '\0' | wc -c)" 0 "trailer is two zero blocks"

t_log "ok: $NCASES refusal cases, positive controls, re-import, unknown fields, reproducibility"
