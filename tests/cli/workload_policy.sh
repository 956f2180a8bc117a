#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# workload_policy.sh — the gateway's own policy ([policy] in agent.conf, issue 14 item 2)
# on the CLI paths:
#   - a signed bundle whose spec asks for root, SYS_ADMIN, /dev/mem with mknod, a bind of
#     /, a writable rootfs, new privileges and LD_PRELOAD is a valid bundle ('bundle
#     verify' passes), but 'bundle verify --policy FILE' with the default policy refuses
#     it naming every workload, field and key, and passes with a policy that allows all;
#   - 'berth import' refuses it with the same sentence and stores nothing (state dir
#     byte for byte as it was); with a config whose [policy] allows it, it is imported;
#   - a malformed or misspelt [policy] key stops verify and import before any file is
#     read, naming the key;
#   - the example gateway stack (scripts/make-gateway-stack.sh) fits the default policy.
# shellcheck source=../lib/harness.sh
source "$(dirname "$0")/../lib/harness.sh"

B=${BERTH:?BERTH must point at the berth binary}
W=$(t_tmpdir)
REF=berth.test/policy:1
t_make_image -o "$W/img.tar" --ref "$REF"
"$B" keygen -o "$W/keys" --name k1 >/dev/null
mkdir -p "$W/trust" && cp "$W/keys/k1.pub" "$W/trust/"
mk() { # VERSION SPEC-FILE
        "$B" bundle create -k "$W/keys/k1.key" --name gw --version "$1" --image "$REF=$W/img.tar" \
                --workloads "$2" -o "$W/gw$1.berth" >/dev/null
}

cat >"$W/good.json" <<EOF
[{"name": "poller", "image": "$REF", "user": "1000:1000", "network": "host",
  "resources": {"memory": "16M", "cpu": "100m"}}]
EOF
cat >"$W/greedy.json" <<EOF
[{"name": "poller", "image": "$REF", "user": "0:0", "readOnlyRootfs": false, "noNewPrivileges": false,
  "capabilities": {"add": ["SYS_ADMIN"]}, "devices": [{"path": "/dev/mem", "permissions": "rwm"}],
  "binds": [{"source": "/", "path": "/host"}], "env": {"LD_PRELOAD": "/host/tmp/x.so"},
  "resources": {"memory": "16M", "cpu": "100m"}}]
EOF
mk 1 "$W/good.json"
mk 2 "$W/greedy.json"
: >"$W/defaults.conf" # no [policy]: the defaults
cat >"$W/lenient.conf" <<EOF
state_dir = $W/ignored
[policy]
users = 0-65534
groups = 0-65534
capabilities = SYS_ADMIN
devices = /dev/mem:rwm
binds = /
writable_rootfs = true
new_privileges = true
env_refused = none
EOF

# ---- bundle verify --policy ---------------------------------------------------------------
out=$("$B" bundle verify --trust "$W/trust" "$W/gw2.berth") || t_fail "verify without --policy refuses a valid bundle"
t_assert_contains "$out" "OK gw version 2" "a signature is not a policy: the bundle itself is valid"
t_expect_fail "$B" bundle verify --trust "$W/trust" --policy "$W/defaults.conf" "$W/gw2.berth"
for v in "workload poller: user 0 is not allowed by [policy] users = 1000-65534" \
        "workload poller: group 0 (user \"0:0\") is not allowed by [policy] groups = 1000-65534" \
        "workload poller: capabilities.add CAP_SYS_ADMIN is not allowed by [policy] capabilities = (none)" \
        "workload poller: device /dev/mem with permissions \"rwm\" is not allowed by [policy] devices = (none)" \
        "workload poller: read-only bind of host path / is not allowed by [policy] binds = (none)" \
        "workload poller: readOnlyRootfs false is not allowed by [policy] writable_rootfs = false" \
        "workload poller: noNewPrivileges false is not allowed by [policy] new_privileges = false" \
        "workload poller: env LD_PRELOAD is not allowed by [policy] env_refused = LD_*, GCONV_PATH, GLIBC_TUNABLES"; do
        t_assert_contains "$T_ERR" "$v" "verify --policy names the violation"
done
t_assert_contains "$T_ERR" "gw version 2 is outside the policy of $W/defaults.conf: 8 violation(s) above" \
        "verify says whose policy"
t_assert_eq "$(grep -c 'is not allowed by \[policy\]' <<<"$T_ERR")" 8 "one line per violation"
out=$("$B" bundle verify --trust "$W/trust" --policy "$W/lenient.conf" "$W/gw2.berth") ||
        t_fail "verify --policy refuses a bundle the policy allows"
t_assert_contains "$out" "OK 1 workload(s) within the policy of $W/lenient.conf" "verify --policy accepts"
out=$("$B" bundle verify --trust "$W/trust" --policy "$W/defaults.conf" "$W/gw1.berth") ||
        t_fail "verify --policy refuses a spec within the defaults"
t_assert_contains "$out" "within the policy" "the default policy accepts a non-root, host-network spec"

printf '[policy]\nuser = 0\n' >"$W/typo.conf"
t_expect_fail "$B" bundle verify --trust "$W/trust" --policy "$W/typo.conf" "$W/gw1.berth"
t_assert_contains "$T_ERR" "config policy.user: unknown policy key" "a misspelt key is refused"
printf '[policy]\nusers = root\n' >"$W/bad.conf"
t_expect_fail "$B" bundle verify --trust "$W/trust" --policy "$W/bad.conf" "$W/gw1.berth"
t_assert_contains "$T_ERR" "config policy.users = 'root': expected uid ranges" "a malformed value is refused"
t_expect_fail "$B" bundle verify --trust "$W/trust" --policy "$W/missing.conf" "$W/gw1.berth"
t_assert_contains "$T_ERR" "missing.conf" "a missing policy file is an error, not the defaults"

# ---- berth import ------------------------------------------------------------------------
S=$W/state
I=(--state-dir "$S" --trust "$W/trust" --no-agent)
"$B" import --config "$W/defaults.conf" "${I[@]}" "$W/gw1.berth" >/dev/null || t_fail "v1 is refused"
snapshot() { (cd "$S" && find . -type f ! -name '*-wal' ! -name '*-shm' -exec sha256sum {} + | sort); }
before=$(snapshot)
blobs_before=$(find "$S" -path '*store*' -type f | wc -l)
t_expect_fail "$B" import --config "$W/defaults.conf" "${I[@]}" "$W/gw2.berth"
t_assert_contains "$T_ERR" "bundle gw version 2 is outside this gateway's policy (a signature says who built it, agent.conf [policy] what may run here): workload poller: user 0 is not allowed by [policy] users = 1000-65534; workload poller: group 0" \
        "import refuses with the sentence"
t_assert_contains "$T_ERR" "; and 2 more" "import counts what does not fit in one sentence"
t_assert_eq "$(snapshot)" "$before" "a refused import leaves the state dir as it was"
t_assert_eq "$(find "$S" -path '*store*' -type f | wc -l)" "$blobs_before" "no blob was stored"
t_assert_eq "$(sqlite3 "$S/berth.db" "select count(*) from bundles where version = 2")" 0 \
        "v2 is not recorded"
t_expect_fail "$B" import --config "$W/typo.conf" "${I[@]}" "$W/gw2.berth"
t_assert_contains "$T_ERR" "config policy.user: unknown policy key" "import refuses a misspelt policy key"
out=$("$B" import --config "$W/lenient.conf" "${I[@]}" "$W/gw2.berth") || t_fail "a lenient policy refuses v2"
t_assert_contains "$out" "imported gw version 2" "with [policy] allowing it, v2 is imported"

# ---- the example stack fits the defaults ---------------------------------------------------
if [ -x /usr/sbin/mosquitto ] && [ -x /usr/bin/mosquitto_pub ]; then
        BERTH=$B "$BERTH_SRC/scripts/make-gateway-stack.sh" -o "$W/stack" --site-config -k "$W/keys/k1.key" -q >/dev/null
        out=$("$B" bundle verify --trust "$W/trust" --policy "$W/defaults.conf" "$W/stack/gateway-stack-1.berth") ||
                t_fail "the example gateway stack is outside the default policy"
        t_assert_contains "$out" "OK 2 workload(s) within the policy" "the example stack fits the defaults"
else
        t_log "mosquitto not installed: example-stack check skipped (scripts/deps.sh)"
fi
t_log "PASS"
