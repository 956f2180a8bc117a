#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# trust_rotation.sh — trust roots from the command line, the way an operator and a USB
# stick use them: a fleet on a plain trust directory moves to separate root keys and
# rotates three times (root key, root threshold 2, a release key revoked), all made and
# co-signed offline with `berth trust`. Checked: the chain verifies; a node several
# versions behind catches up from one bundle; a revoked key's new bundle is refused and
# its installed version is reported, not stopped; a skipped version, a replayed older
# root, a root signed only by its new keys and a root short of its own threshold are
# refused and change nothing; an expired root refuses every bundle until a newer root
# arrives by hand; an explicit root.json anchor behaves like the trust directory; bundles
# with roots written by the independent generator (mkbundle.py) are accepted too.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

: "${BERTH:?BERTH must point at the berth binary}"
B=$BERTH
W=$(t_tmpdir)
IMG=berth.example/tiny:1.0=$BERTH_SRC/tests/fuzz/corpus/oci_index/tiny-oci.tar
cd "$W"

for k in old r1 r2 r3 a b; do "$B" keygen -o keys --name $k >/dev/null; done
mkdir -p trust && cp keys/old.pub trust/
id_of() { "$B" trust show --json "$1" | jq -r ".roles.$2.keys[].keyid" | sort | tr '\n' ' '; }

# bundle NAME VERSION KEY [--roots PATH...]: a bundle of the tiny image signed by KEY.
bundle() {
        local f=$1 v=$2 k=$3
        shift 3
        "$B" bundle create -k "keys/$k.key" --name app --version "$v" --image "$IMG" "$@" -o "$f" >/dev/null ||
                t_fail "bundle create $f failed"
}
# node_version STATE [TRUST]: the root version the node trusts now.
node_version() { "$B" trust show --json --trust "${2:-trust}" --state-dir "$1" | jq -r .version; }
# roots_snapshot STATE: names, sizes and hashes of everything the node keeps about roots.
roots_snapshot() {
        (cd "$1" && find . -path './trust*' -type f -printf '%p %s\n' | sort && cat trust/*.json 2>/dev/null | sha256sum)
}

# ---- making the chain offline ------------------------------------------------------------

# The trust directory written out as an explicit version 1 (what the node already reads).
out=$("$B" trust init --from-dir trust -o v1.json -k keys/old.key)
t_assert_contains "$out" "trust root version 1" "init --from-dir"
t_assert_eq "$(id_of v1.json root)" "$(id_of v1.json release)" "a trust directory's keys hold both roles"
# v2: separate root key r1, release key a; old leaves both roles. Signed by old (the root
# key of version 1) and r1 (its own).
"$B" trust rotate --from trust -o v2.json --remove-root-key old --add-root-key keys/r1.pub \
        --remove-release-key keys/old.pub --add-release-key keys/a.pub >/dev/null
"$B" trust sign -k keys/old.key -k keys/r1.key v2.json >/dev/null
# v3: root keys r2 + r3 with threshold 2 (a threshold change), release keys a and b.
"$B" trust rotate --from v2.json -o v3.json --remove-root-key r1 --add-root-key keys/r2.pub \
        --add-root-key keys/r3.pub --root-threshold 2 --add-release-key keys/b.pub -k keys/r1.key >/dev/null
"$B" trust sign -k keys/r2.key v3.json >/dev/null
cp v3.json v3-one-own.json # signed by r1 and r2 only: 1 of its own 2
"$B" trust sign -k keys/r3.key v3.json >/dev/null
# v4: release key a revoked; signed by r2 + r3 (2 of v3's root keys, 2 of its own).
"$B" trust rotate --from v3.json -o v4.json --remove-release-key a -k keys/r2.key -k keys/r3.key >/dev/null
out=$("$B" trust verify --trust trust v2.json v3.json v4.json) || t_fail "the chain does not verify: $out"
t_assert_contains "$out" "trust root version 4 (v4.json): valid after trust root version 3" "chain verify"
t_assert_contains "$out" "OK: trust root version 4" "chain verify"
"$B" trust verify v1.json v2.json v3.json v4.json >/dev/null || t_fail "the chain from the explicit v1 does not verify"
t_assert_eq "$("$B" trust show --json v4.json | jq -r '[.roles.release.keys[].name] | join(",")')" b \
        "v4 keeps only release key b"
"$B" trust show v4.json | grep -q "root keys (2 of 2 needed)" || t_fail "show: root threshold 2"

# Roots that must not verify (offline, nothing written anywhere).
"$B" trust rotate --from trust -o v2-new-only.json --remove-root-key old --add-root-key keys/r1.pub \
        -k keys/r1.key >/dev/null
t_expect_fail "$B" trust verify --trust trust v2-new-only.json
t_assert_contains "$T_ERR" "signed by 0 root key(s) of trust, 1 required" "a root signed only by its new keys"
t_expect_fail "$B" trust verify --trust trust v2.json v3-one-own.json
t_assert_contains "$T_ERR" "signed by 1 of its own root keys, 2 required" "a root short of its own threshold"
t_expect_fail "$B" trust verify --trust trust v3.json
t_assert_contains "$T_ERR" "version 2 is missing" "a skipped version"
t_log "chain of three rotations made and checked offline"

# ---- a node several versions behind catches up from one bundle ---------------------------

S=state-a
bundle app1.berth 1 old
"$B" import --no-agent --state-dir $S --trust trust app1.berth >/dev/null || t_fail "import under the trust dir"
t_assert_eq "$(node_version $S)" 1 "before: the trust directory"
bundle app2.berth 2 b --roots v2.json --roots v3.json --roots v4.json
out=$("$B" bundle verify --trust trust --state-dir $S app2.berth) || t_fail "bundle verify with roots"
t_assert_contains "$out" "trust root: version 4" "verify walks the carried chain"
[ ! -d $S/trust ] || t_fail "bundle verify wrote trust roots"
out=$("$B" import --no-agent --source usb --state-dir $S --trust trust app2.berth) || t_fail "catch-up import failed"
t_assert_contains "$out" "imported app version 2" "catch-up import"
t_assert_eq "$(node_version $S)" 4 "after one bundle: version 4"
t_assert_eq "$(cd $S/trust && ls ./*.json | sort | tr '\n' ' ')" "./2.json ./3.json ./4.json " "every root kept"
status=$("$B" status --no-agent --state-dir $S --trust trust)
t_assert_contains "$status" "trust:   root version 4, expires" "status: root version"
t_assert_contains "$status" "$("$B" trust show --json v4.json | jq -r '.roles.release.keys[0].keyid')" "status: key ids"
# app version 1 was signed by old, revoked since: reported, and still installed.
t_assert_contains "$status" "app version 1: signed by keys this root does not trust" "status: revoked signer"
t_assert_contains "$status" "keeps running" "status: the decision"
"$B" status --no-agent --json --state-dir $S --trust trust | jq -e '.trust.untrusted == [{"name": "app",
        "version": 1, "validSignatures": 0, "threshold": 1}] and .trust.root.version == 4' >/dev/null ||
        t_fail "status --json: trust"
"$B" status --no-agent --state-dir $S --trust trust | grep -q "app version 1 " ||
        t_fail "version 1 is no longer installed"

# ---- revocation: a revoked key's new bundle ---------------------------------------------

bundle app3-a.berth 3 a
before=$(roots_snapshot $S)
t_expect_fail "$B" import --no-agent --source usb --state-dir $S --trust trust app3-a.berth
t_assert_contains "$T_ERR" "0 valid signature(s) from keys in trust root version 4, 1 required" "revoked key refused"
t_expect_fail "$B" bundle verify --trust trust --state-dir $S app3-a.berth
# Even carrying the chain that once trusted it.
bundle app3-a2.berth 3 a --roots v2.json --roots v3.json
t_expect_fail "$B" import --no-agent --state-dir $S --trust trust app3-a2.berth
t_assert_contains "$T_ERR" "trust root version 4" "an old chain does not bring a back"
t_assert_eq "$(roots_snapshot $S)" "$before" "refused bundles changed the node's roots"
bundle app3-b.berth 3 b
"$B" import --no-agent --state-dir $S --trust trust app3-b.berth >/dev/null || t_fail "b's bundle refused"

# ---- replayed, skipped and forged roots by hand -----------------------------------------

before=$(roots_snapshot $S)
out=$("$B" trust install --state-dir $S --trust trust v2.json v3.json) || t_fail "replaying old roots must be a no-op"
t_assert_contains "$out" "already at version 4" "replayed older roots"
t_assert_eq "$(roots_snapshot $S)" "$before" "a replayed root changed the node"
S2=state-b
t_expect_fail "$B" trust install --state-dir $S2 --trust trust v3.json v4.json
t_assert_contains "$T_ERR" "version 2 is missing" "skipped version by hand"
[ ! -e $S2/trust ] || t_fail "a refused install left files"
t_expect_fail "$B" trust install --state-dir $S2 --trust trust v2-new-only.json
t_assert_contains "$T_ERR" "signed by 0 root key(s)" "forged root by hand"
# bundle create checks a chain link by link from its first root, which it cannot tell
# from a forgery (v2-new-only is signed by its own root key): the node can.
bundle forged.berth 1 r1 --roots v2-new-only.json
t_expect_fail "$B" import --no-agent --state-dir $S2 --trust trust forged.berth
t_assert_contains "$T_ERR" "the trust roots it carries were refused" "forged root in a bundle"
[ ! -e $S2/trust ] || t_fail "a refused root left files"
t_assert_eq "$(node_version $S2)" 1 "after refusals: still version 1"

# ---- an expired root, and its recovery --------------------------------------------------

"$B" trust rotate --from v4.json -o v5.json --expires 2030-01-01T00:00:00Z -k keys/r2.key -k keys/r3.key >/dev/null
"$B" trust install --state-dir $S --trust trust v5.json >/dev/null || t_fail "install v5"
bundle app4.berth 4 b --expires 2099-01-01T00:00:00Z
export BERTH_NOW=2031-01-01T00:00:00Z
t_expect_fail "$B" import --no-agent --state-dir $S --trust trust app4.berth
t_assert_contains "$T_ERR" "trust root version 5 expired at 2030-01-01T00:00:00Z: no bundle is accepted" "freeze"
"$B" status --no-agent --state-dir $S --trust trust | grep -q "EXPIRED" || t_fail "status: expired root not shown"
t_expect_fail "$B" trust verify --trust trust --state-dir $S v5.json
t_assert_contains "$T_ERR" "expired at 2030-01-01T00:00:00Z" "verify names an expired newest root"
# The root key holders sign v6 with a later expiry; the node gets it by hand.
"$B" trust rotate --from v5.json -o v6.json --expires 2099-01-01T00:00:00Z -k keys/r2.key -k keys/r3.key >/dev/null
out=$("$B" trust install --state-dir $S --trust trust v6.json) || t_fail "recovery install failed"
t_assert_contains "$out" "version 5 → 6" "recovery"
out=$("$B" import --no-agent --state-dir $S --trust trust app4.berth) || t_fail "import after recovery"
t_assert_contains "$out" "imported app version 4" "import after recovery"
unset BERTH_NOW

# ---- an explicit root.json anchor; generator-written bundles with roots -------------------

mkdir -p trust-explicit && cp v1.json trust-explicit/root.json
S3=state-c
bundle app5.berth 5 b --roots v2.json --roots v3.json --roots v4.json
"$B" import --no-agent --state-dir $S3 --trust trust-explicit app5.berth >/dev/null || t_fail "explicit anchor: import"
t_assert_eq "$(node_version $S3 trust-explicit)" 4 "explicit anchor walks the same chain"
if /usr/bin/python3 -c 'import nacl.signing' 2>/dev/null; then
        mkdir -p chain && cp v2.json v3.json v4.json chain/
        "$B" bundle sign --roots chain app1.berth -o app1-roots.berth >/dev/null
        tar -xOf app1-roots.berth roots.json >chain.json
        /usr/bin/python3 "$BERTH_SRC/tests/cli/mkbundle.py" -k keys/b.key --tiny-image berth.example/gen:1 \
                --name gen --version 1 --roots chain.json -o gen.berth
        /usr/bin/python3 "$BERTH_SRC/tests/cli/mkbundle.py" --check-layout app1-roots.berth ||
                t_fail "a bundle with roots written by berth breaks the layout rules"
        S4=state-d
        out=$("$B" import --no-agent --state-dir $S4 --trust trust gen.berth) || t_fail "generator bundle with roots"
        t_assert_contains "$out" "imported gen version 1" "generator bundle with roots"
        t_assert_eq "$(node_version $S4)" 4 "generator bundle advanced the node"
else
        t_log "python3-nacl missing: generator cases skipped"
fi
t_log "ok: 3 rotations, catch-up, revocation, replay, skip, forgery, expiry and recovery, explicit anchor"
