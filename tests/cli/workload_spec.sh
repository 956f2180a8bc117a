#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# workload_spec.sh — workload specs in bundles: 'berth bundle create --workloads' embeds a
# valid spec file (array or {"soak", "workloads"} form) and refuses an invalid one with a
# message naming the field; a *signed* bundle with an invalid spec (written by the
# independent tests/cli/mkbundle.py) is refused by 'berth bundle verify' and by
# 'berth import', which then leaves the state dir untouched.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

B=${BERTH:?BERTH must point at the berth binary}
W=$(t_tmpdir)
REF=berth.test/spec:1
t_make_image -o "$W/img.tar" --ref "$REF"
"$B" keygen -o "$W/keys" --name k1 >/dev/null
mkdir -p "$W/trust" && cp "$W/keys/k1.pub" "$W/trust/"
create() { "$B" bundle create -k "$W/keys/k1.key" --name spec --version 1 --image "$REF=$W/img.tar" \
        --workloads "$1" -o "$W/out.berth"; }

good='{"name": "app", "image": "'$REF'", "resources": {"memory": "32M", "cpu": 0.5},
       "probe": {"tcp": {"port": 8080}, "period": "1s"}}'
echo "{\"soak\": \"45s\", \"workloads\": [$good]}" >"$W/good.json"
create "$W/good.json" >/dev/null || t_fail "a valid spec file is refused"
m=$("$B" bundle inspect --json "$W/out.berth")
t_assert_eq "$(jq -r '.manifest.workloads[0].name' <<<"$m")" app "the workload is embedded in the manifest"
t_assert_eq "$(jq -r '.manifest.update.soak' <<<"$m")" 45s "the soak time is embedded"
out=$("$B" bundle verify --trust "$W/trust" "$W/out.berth") || t_fail "verify refuses a valid spec"
t_assert_contains "$out" "OK spec version 1" "verify accepts"
echo "[$good]" >"$W/array.json"
create "$W/array.json" >/dev/null || t_fail "the plain array form is refused"

check_refused() { # FILE CONTENT EXPECTED
        printf '%s\n' "$2" >"$W/$1.json"
        t_expect_fail create "$W/$1.json"
        t_assert_contains "$T_ERR" "$3" "create refuses $1"
        [ ! -e "$W/$1.berth" ] || t_fail "$1: an output was written"
}
check_refused nomem '[{"name": "app", "image": "'$REF'", "resources": {"cpu": 1}}]' \
        "workloads[0].resources.memory: required"
check_refused nores '[{"name": "app", "image": "'$REF'"}]' "workloads[0].resources: required"
check_refused badimg '[{"name": "app", "image": "other:1", "resources": {"memory": "32M", "cpu": 1}}]' \
        "workloads[0].image: 'other:1' is not one of the bundle's images"
check_refused typo "[$good, {\"name\": \"b\", \"image\": \"$REF\", \"readonlyRootFS\": false, \"resources\": {\"memory\": \"32M\", \"cpu\": 1}}]" \
        "workloads[1].readonlyRootFS: unknown field"
check_refused cycle '[{"name": "a", "image": "'$REF'", "dependsOn": ["b"], "resources": {"memory": "8M", "cpu": 1}},
 {"name": "b", "image": "'$REF'", "dependsOn": ["a"], "resources": {"memory": "8M", "cpu": 1}}]' "dependency cycle"
check_refused dup "[$good, $good]" "workloads[1].name: 'app' is used by workloads[0] too"
check_refused probe '[{"name": "app", "image": "'$REF'", "resources": {"memory": "8M", "cpu": 1}, "probe": {"http": {"path": "/"}}}]' \
        "workloads[0].probe.http.port: required"
check_refused json '[{"name": ' "cannot read workloads"

# A signed bundle whose spec is invalid: verify and import refuse it, state untouched.
/usr/bin/python3 "$BERTH_SRC/tests/cli/mkbundle.py" -k "$W/keys/k1.key" --name spec --version 2 --image "$REF=$W/img.tar" \
        --extra-field 'workloads=[{"name": "app", "image": "'$REF'", "resources": {"cpu": 1}}]' \
        -o "$W/bad.berth" >/dev/null
t_expect_fail "$B" bundle verify --trust "$W/trust" "$W/bad.berth"
t_assert_contains "$T_ERR" "workloads[0].resources.memory: required" "verify refuses the signed invalid spec"
mkdir -p "$W/state"
"$B" import --state-dir "$W/state" --trust "$W/trust" "$W/out.berth" >/dev/null
before=$(cd "$W/state" && find . -type f ! -name '*-wal' ! -name '*-shm' -exec sha256sum {} + | sort)
t_expect_fail "$B" import --state-dir "$W/state" --trust "$W/trust" "$W/bad.berth"
t_assert_contains "$T_ERR" "invalid workload spec: workloads[0].resources.memory: required" "import refuses it"
after=$(cd "$W/state" && find . -type f ! -name '*-wal' ! -name '*-shm' -exec sha256sum {} + | sort)
t_assert_eq "$after" "$before" "a refused import leaves the state dir as it was"
t_log "PASS"
